// SPDX-License-Identifier: GPL-2.0
//! The macro processor of `view`: `view-<macro>` for the original's complex macros (status
//! words and their precedence, checked step by step: each step adds a condition that outranks
//! the one before) and for every primitive macro; `--macro=TEXT`; user macro files with
//! `%let`, `%include`, `%{var}`; values the kernel does not publish are refused, not invented.

mod common;

use common::*;

fn out(f: &Fixture, host: &str, args: &[&str]) -> String {
    let run = f.run_as(host, args);
    run.ok();
    run.stdout.trim_end_matches('\n').to_string()
}

/// r0 with alpha (primary, alive, attached, logging) and bravo, a member replaying alpha's
/// logfile 1 (2000 bytes, of which bravo replayed 1000).
fn two_hosts(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    let d = "resource-r0";
    for h in ["alpha", "bravo"] {
        f.put_link(&format!("actual-{h}/alive"), "1", LAMPORT);
        f.put_link(&format!("actual-{h}/time"), LAMPORT_TEXT, LAMPORT);
    }
    for name in ["is-attached", "is-primary", "if-on"] {
        f.put_link(&format!("{d}/actual-alpha/{name}"), "1", LAMPORT);
    }
    std::fs::write(f.path(&format!("{d}/log-000000001-alpha")), vec![7u8; 2000]).unwrap();
    f.put_link(
        &format!("{d}/version-000000001-alpha"),
        "00000000000000000000000000000000,log-000000001-alpha,2000:",
        LAMPORT,
    );
    f.put_link(
        &format!("{d}/replay-alpha"),
        "log-000000001-alpha,2000,0",
        LAMPORT,
    );
    let disk = f.dir.join("bravo.img");
    std::fs::write(&disk, vec![0u8; DISK_SIZE as usize]).unwrap();
    f.put_link(&format!("{d}/data-bravo"), disk.to_str().unwrap(), LAMPORT);
    f.put_link(&format!("{d}/device-bravo"), "r0", LAMPORT);
    f.put_link(
        &format!("{d}/syncstatus-bravo"),
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    f.put_link(
        &format!("{d}/replay-bravo"),
        "log-000000001-alpha,1000,0",
        LAMPORT,
    );
    for (k, v) in [
        ("attach", "1"),
        ("connect", "1"),
        ("sync", "1"),
        ("allow-replay", "1"),
    ] {
        f.put_link(&format!("{d}/todo-bravo/{k}"), v, LAMPORT);
    }
    f.put_link(&format!("{d}/actual-bravo/is-attached"), "1", LAMPORT);
    f
}

#[test]
fn diskstate_words_in_the_original_precedence() {
    let f = two_hosts("m-disk");
    let d = "resource-r0";
    let state = |host: &str| out(&f, host, &["view-diskstate", "r0"]);
    assert_eq!(state("alpha"), "UpToDate");
    // Replayed 1000 of 2000 bytes: outdated by the replay only.
    assert_eq!(state("bravo"), "OutDated[R]");
    // Less fetched than the log holds: F too.
    std::fs::write(f.path(&format!("{d}/log-000000001-alpha")), vec![7u8; 1500]).unwrap();
    assert_eq!(state("bravo"), "OutDated[FR]");
    // Sync not finished outranks outdated.
    f.put_link(&format!("{d}/syncstatus-bravo"), "4096", LAMPORT);
    assert_eq!(state("bravo"), "InConsistent");
    // Not attached outranks inconsistent.
    f.put_link(&format!("{d}/actual-bravo/is-attached"), "0", LAMPORT);
    assert_eq!(state("bravo"), "NoAttach");
    // Replay link into a logfile shorter than its position: Orphan outranks NoAttach.
    f.put_link(
        &format!("{d}/replay-bravo"),
        "log-000000001-alpha,1800,0",
        LAMPORT,
    );
    assert_eq!(state("bravo"), "Orphan");
    // A negative replay code outranks Orphan.
    f.put_link(&format!("{d}/actual-bravo/replay-code"), "-85", LAMPORT);
    assert!(
        state("bravo").starts_with("IncompleteLog[-85=[ERESTART:"),
        "{}",
        state("bravo")
    );
    f.put_link(&format!("{d}/actual-bravo/replay-code"), "-56", LAMPORT);
    assert!(state("bravo").starts_with("UnInitializedLogRecord[-56="));
    f.put_link(&format!("{d}/actual-bravo/replay-code"), "-5", LAMPORT);
    assert!(state("bravo").starts_with("DefectiveLog[-5=[EIO:"));
    // Switched off outranks the replay code.
    f.put_link(&format!("{d}/todo-bravo/attach"), "0", LAMPORT);
    assert_eq!(state("bravo"), "Detached");
    f.put_link(&format!("{d}/actual-bravo/is-attached"), "1", LAMPORT);
    assert_eq!(state("bravo"), "Detaching");
    // The disk is gone: NotPresent outranks the switch.
    std::fs::remove_file(f.dir.join("bravo.img")).unwrap();
    assert_eq!(state("bravo"), "NotPresent");
    // No data link: NotJoined.
    f.put_link(&format!("{d}/data-bravo"), ".deleted", LAMPORT);
    assert_eq!(state("bravo"), "NotJoined");
    // A disk error is printed in front of everything.
    f.put_link(&format!("{d}/actual-bravo/disk-error"), "-5", LAMPORT);
    assert!(state("bravo").starts_with("DISK_ERROR=-5[EIO:Input/output_error] NotJoined"));
    // The primary: emergency mode of the designated primary outranks UpToDate.
    f.put_link(&format!("{d}/actual-alpha/has-emergency"), "1", LAMPORT);
    assert_eq!(state("alpha"), "EmergencyMode");
    // Dirty replay link of the logging primary: WriteBack.
    f.put_link(
        &format!("{d}/replay-alpha"),
        "log-000000001-alpha,1000,1000",
        LAMPORT,
    );
    assert_eq!(state("alpha"), "WriteBack[1000 B]");
    // Designated, not yet primary: Recovery.
    f.put_link(&format!("{d}/actual-alpha/is-primary"), "0", LAMPORT);
    assert_eq!(state("alpha"), "Recovery[1000 B]");
}

#[test]
fn replstate_words_in_the_original_precedence() {
    let f = two_hosts("m-repl");
    let d = "resource-r0";
    let state = |host: &str| out(&f, host, &["view-replstate", "r0"]);
    assert_eq!(state("alpha"), "Replicating");
    assert_eq!(state("bravo"), "Replaying");
    // The primary's logfile is gone: Orphan.
    std::fs::remove_file(f.path(&format!("{d}/log-000000001-alpha"))).unwrap();
    assert_eq!(state("bravo"), "Orphan");
    f.put_link("actual-alpha/time", "1000.000000000", LAMPORT);
    assert_eq!(state("bravo"), "PrimaryUnreachable");
    f.put_link(&format!("{d}/primary"), "(none)", LAMPORT);
    assert_eq!(state("bravo"), "NoPrimaryDesignated");
    f.put_link(&format!("{d}/todo-bravo/allow-replay"), "0", LAMPORT);
    assert_eq!(state("bravo"), "PausedReplay");
    f.put_link(&format!("{d}/todo-bravo/connect"), "0", LAMPORT);
    assert_eq!(state("bravo"), "PausedFetch");
    f.put_link(&format!("{d}/actual-bravo/is-syncing"), "1", LAMPORT);
    assert_eq!(state("bravo"), "Syncing");
    f.put_link(&format!("{d}/syncstatus-bravo"), "4096", LAMPORT);
    f.put_link(&format!("{d}/todo-bravo/sync"), "0", LAMPORT);
    assert_eq!(state("bravo"), "PausedSync");
    f.put_link(&format!("{d}/todo-bravo/attach"), "0", LAMPORT);
    assert_eq!(state("bravo"), "NotStarted");
    f.put_link(&format!("{d}/data-bravo"), ".deleted", LAMPORT);
    assert_eq!(state("bravo"), "NotJoined");
    f.put_link("actual-bravo/time", "1000.000000000", LAMPORT);
    assert_eq!(state("bravo"), "UnResponsive");
    // The designated primary.
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    f.put_link(&format!("{d}/primary"), "alpha", LAMPORT);
    f.put_link(&format!("{d}/actual-alpha/is-primary"), "0", LAMPORT);
    assert_eq!(state("alpha"), "NotYetPrimary");
    f.put_link(&format!("{d}/actual-alpha/has-emergency"), "1", LAMPORT);
    assert_eq!(state("alpha"), "EmergencyMode");
    f.unload();
    assert_eq!(state("alpha"), "ModuleNotLoaded");
}

#[test]
fn flags_role_primarynode_and_the_1and1_forms() {
    let f = two_hosts("m-flags");
    let d = "resource-r0";
    assert_eq!(out(&f, "alpha", &["view-flags", "r0"]), "DCASFR");
    assert_eq!(out(&f, "bravo", &["view-flags", "r0"]), "dCASFr");
    assert_eq!(out(&f, "alpha", &["view-role", "r0"]), "Primary");
    assert_eq!(out(&f, "bravo", &["view-role", "r0"]), "Secondary");
    assert_eq!(out(&f, "alpha", &["view-todo-role", "r0"]), "Primary");
    assert_eq!(out(&f, "bravo", &["view-primarynode", "r0"]), "alpha");
    assert_eq!(out(&f, "bravo", &["view-primarynode-1and1", "r0"]), "alpha");
    assert_eq!(out(&f, "bravo", &["view-role-1and1", "r0"]), "Secondary");
    assert_eq!(out(&f, "bravo", &["view-flags-1and1", "r0"]), "-SFR-");
    assert_eq!(
        out(&f, "bravo", &["view-diskstate-1and1", "r0"]),
        "Outdated[R]"
    );
    assert_eq!(
        out(&f, "bravo", &["view-replstate-1and1", "r0"]),
        "Replaying"
    );
    assert_eq!(out(&f, "bravo", &["view-outdated-flags", "r0"]), "R");
    // Both primary: the designated one is ForcedPrimary, the other RemainsPrimary.
    f.put_link(&format!("{d}/actual-bravo/is-primary"), "1", LAMPORT);
    assert_eq!(out(&f, "alpha", &["view-role", "r0"]), "ForcedPrimary");
    assert_eq!(out(&f, "bravo", &["view-role", "r0"]), "RemainsPrimary");
    f.put_link(&format!("{d}/actual-alpha/is-primary"), "0", LAMPORT);
    assert_eq!(out(&f, "alpha", &["view-role", "r0"]), "NotYetPrimary");
    f.put_link(&format!("{d}/todo-bravo/sync"), "0", LAMPORT);
    f.put_link(&format!("{d}/syncstatus-bravo"), "0", LAMPORT);
    assert_eq!(out(&f, "bravo", &["view-flags", "r0"]), "dcA-Fr");
    assert_eq!(out(&f, "charlie", &["view-role", "r0"]), "None");
}

#[test]
fn default_and_1and1_status_lines_and_progress() {
    let f = two_hosts("m-default");
    let text = out(&f, "bravo", &["view-default", "r0"]);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("r0 OutDated[R] Replaying dCASFr Secondary alpha ")
    );
    let replaying = lines.next().unwrap_or("");
    assert!(
        replaying.starts_with("     replaying: [=========>:::::::::]  50.25%  (0/1)KiB  logs: [1]"),
        "{text}"
    );
    assert!(
        text.contains("       > fetch: 0 B rate: n/a/s remaining: 00:00:00\n"),
        "{text}"
    );
    assert!(
        text.contains("       > replay: 1000 B rate: n/a/s remaining: --:--:--"),
        "{text}"
    );
    let text = out(&f, "bravo", &["view-1and1", "r0"]);
    assert!(
        text.starts_with("  r0 Outdated[R] Replaying -SFR- Secondary alpha"),
        "{text}"
    );
    let text = out(&f, "alpha", &["view-default", "r0"]);
    assert!(
        text.starts_with("  LocalDevice /dev/mars/r0 [n/a]\n"),
        "{text}"
    );
    f.put_link("resource-r0/actual-alpha/open-count", "0", LAMPORT);
    let text = out(&f, "alpha", &["view-default", "r0"]);
    assert!(
        text.starts_with("  LocalDevice /dev/mars/r0 [Closed]\n"),
        "{text}"
    );
    f.put_link("resource-r0/actual-alpha/open-count", "1", LAMPORT);
    let text = out(&f, "alpha", &["view-default", "r0"]);
    assert!(
        text.starts_with("  LocalDevice /dev/mars/r0 [Opened, n/a IOPS]\n"),
        "{text}"
    );
    // `view-default all`: the global macros too (the fixture's clock is far ahead: time slip).
    let text = out(&f, "alpha", &["view-default", "all"]);
    assert!(
        text.contains("r0 UpToDate Replicating DCASFR Primary alpha"),
        "{text}"
    );
    assert!(text.contains("++++++++++++ Lamport time slip: "), "{text}");
    // Messages of the resource as the original lists them.
    f.put_link(
        "resource-r0/actual-bravo/msg-err-splitbrain-detected",
        "1000000000.000000000 1000000000.000000000 histories forked, error = -5",
        LAMPORT,
    );
    let text = out(
        &f,
        "bravo",
        &["view", "r0", "--macro=%call{resource-errors}"],
    );
    assert_eq!(
        text,
        "ERRORS   LNK  (1):\nerr-splitbrain-detected: 2001-09-09 01:46:40 2001-09-09 01:46:40 histories forked, error = -[EIO:Input/output error]"
    );
}

#[test]
fn primitives_report_the_tree_or_refuse() {
    let f = two_hosts("m-prims");
    let b = |args: &[&str]| out(&f, "bravo", args);
    assert_eq!(b(&["view-is-consistent", "r0"]), "1");
    assert_eq!(b(&["view-is-primary", "r0"]), "0");
    assert_eq!(b(&["view-is-primary", "r0", "alpha"]), "1");
    assert_eq!(b(&["view-is-secondary", "r0"]), "1");
    assert_eq!(b(&["view-nr-primary", "r0"]), "1");
    assert_eq!(b(&["view-nr-attach", "r0"]), "2");
    assert_eq!(b(&["view-todo-fetch", "r0"]), "1");
    assert_eq!(b(&["view-get-primary", "r0"]), "alpha");
    assert_eq!(b(&["view-actual-primary", "r0"]), "alpha");
    assert_eq!(b(&["view-is-member", "r0"]), "1");
    assert_eq!(b(&["view-is-guest", "r0"]), "0");
    assert_eq!(b(&["view-is-split-brain", "r0"]), "0");
    assert_eq!(b(&["view-is-alive", "r0"]), "1");
    assert_eq!(b(&["view-resource-peers", "r0"]), "alpha\nbravo");
    assert_eq!(b(&["view-count-resource-peers", "r0"]), "2");
    assert_eq!(b(&["view-sync-size", "r0"]), DISK_SIZE.to_string());
    assert_eq!(b(&["view-sync-reached", "r0"]), "1");
    assert_eq!(b(&["view-sync-percent", "r0"]), "100");
    assert_eq!(b(&["view-replay-pos", "r0"]), "1000");
    assert_eq!(b(&["view-replay-rest", "r0"]), "1000");
    assert_eq!(b(&["view-replay-permille", "r0"]), "500.25");
    assert_eq!(b(&["view-fetch-rest", "r0"]), "0");
    assert_eq!(b(&["view-replay-vector", "r0"]), "1000:2000");
    assert_eq!(b(&["view-summary-vector", "r0"]), "1000:2000:2000");
    assert_eq!(b(&["view-replay-lognr", "r0"]), "1");
    assert_eq!(b(&["view-fetch-lognr", "r0"]), "1");
    assert_eq!(b(&["view-occupied-size", "r0"]), "2000");
    assert_eq!(b(&["view-uuid", "r0"]), format!("alpha_{LAMPORT_TEXT}"));
    assert_eq!(b(&["view-alive-age", "r0"]), "0");
    assert_eq!(
        b(&["view-errno-text", "r0", "-2"]),
        "[ENOENT:No_such_file_or_directory]"
    );
    assert_eq!(b(&["view-work-threshold-reached", "r0"]), "1");
    assert_eq!(b(&["view-work-reached", "r0"]), "0");
    assert_eq!(
        b(&["view-cstate", "r0"]),
        "NYI Please override macro %cstate{}"
    );
    // What the kernel does not publish is refused with the missing indicator, never 0.
    for (name, missing) in [
        (
            "view-replay-rate",
            "resource-r0/actual-bravo/amount-replay_rate",
        ),
        (
            "view-sync-ops-rate",
            "resource-r0/actual-bravo/ops-sync_rate",
        ),
        ("view-device-nrflying", "resource-r0/actual-bravo/if-flying"),
        ("view-usable-features", "actual-bravo/usable"),
        ("view-used-log-digest", "actual-bravo/used-log-digest"),
        (
            "view-replay-remain",
            "resource-r0/actual-bravo/amount-replay_rate",
        ),
    ] {
        f.run_as("bravo", &[name, "r0"]).refused(&format!(
            "not available: the kernel does not publish {missing}"
        ));
    }
    // Published, the rate is used (KiB/s in the tree, bytes/s out).
    f.put_link(
        "resource-r0/actual-bravo/amount-replay_rate",
        "100",
        LAMPORT,
    );
    assert_eq!(b(&["view-replay-rate", "r0"]), "102400");
    assert_eq!(b(&["view-replay-remain", "r0"]), "0.009765625");
    // The fetch rate (`amount-file_rate`, the original's name); `work-*` combine fetch and
    // replay: the larger rate, the sum of the remains.
    f.run_as("bravo", &["view-work-rate", "r0"]).refused(
        "not available: the kernel does not publish resource-r0/actual-bravo/amount-file_rate",
    );
    f.put_link("resource-r0/actual-bravo/amount-file_rate", "50", LAMPORT);
    assert_eq!(b(&["view-fetch-rate", "r0"]), "51200");
    assert_eq!(b(&["view-fetch-remain", "r0"]), "0");
    assert_eq!(b(&["view-work-rate", "r0"]), "102400");
    assert_eq!(b(&["view-work-remain", "r0"]), "0.009765625");
    // The sync rate the kernel measures: remaining time and the syncinfo lines.
    f.put_link("resource-r0/syncstatus-bravo", "0", LAMPORT);
    f.put_link("resource-r0/actual-bravo/amount-sync_rate", "256", LAMPORT);
    assert_eq!(b(&["view-sync-rate", "r0"]), "262144");
    assert_eq!(b(&["view-sync-remain", "r0"]), "4");
    let text = b(&["view-syncinfo", "r0"]);
    assert!(
        text.starts_with("     syncing: [>....................]  0.00%  (0/1)MiB  rate: 256.000 KiB/sec  remaining: 00:00:04 hrs\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "       > sync: 0.000/1.000 MiB rate: 256.000 KiB/sec  remaining: 00:00:04 hrs"
        ),
        "{text}"
    );
}

#[test]
fn every_primitive_answers_or_says_why_not() {
    let f = two_hosts("m-every");
    let list = include_str!("../src/macros/primitives.rs");
    let names: Vec<&str> = list
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix("\","))
        .collect();
    assert!(names.len() > 250, "{}", names.len());
    for name in names {
        if name == "sleep" {
            continue;
        }
        // --timeout=0: the macros that wait give up at once.
        let run = f.run_as("bravo", &["--timeout=0", &format!("view-{name}"), "r0"]);
        let waits = name.starts_with("wait") || name == "timeout";
        let ok = run.code == 0
            || (waits
                && (run.stderr.contains("has not confirmed")
                    || run.stderr.contains("Timeout reached")
                    || run.stderr.contains("mars module is not loaded")
                    || run.stderr.contains("does not exist")))
            || run.stderr.contains("not available:")
            || run
                .stderr
                .contains("not implemented in this marsadm's macro processor")
            || run.stderr.contains("read-only")
            || run.stderr.contains("is not beneath /mars")
            || (name.starts_with("syncpos-") && run.stderr.contains("unknown macro"));
        assert!(ok, "view-{name}: {} {}", run.code, run.stderr);
        assert!(
            !run.stderr.contains("panicked"),
            "view-{name}: {}",
            run.stderr
        );
    }
}

#[test]
fn glob_and_wait_macros() {
    let f = two_hosts("m-glob");
    // get-glob: the matching paths beneath /mars, sorted, joined by the delimiter.
    assert_eq!(
        out(
            &f,
            "bravo",
            &[
                "view",
                "r0",
                "--macro=%get-glob{/mars/resource-r0/data-*}{}{,}"
            ]
        ),
        "/mars/resource-r0/data-alpha,/mars/resource-r0/data-bravo"
    );
    assert_eq!(
        out(
            &f,
            "bravo",
            &[
                "view",
                "r0",
                "--macro=%foreach-glob{/mars/resource-r0/todo-{alpha,bravo}}{p}{[%{p}]}"
            ]
        ),
        "[/mars/resource-r0/todo-alpha][/mars/resource-r0/todo-bravo]"
    );
    // A deleted key is no match.
    f.put_link("resource-r0/data-bravo", ".deleted", LAMPORT);
    assert_eq!(
        out(
            &f,
            "bravo",
            &[
                "view",
                "r0",
                "--macro=%get-glob{/mars/resource-r0/data-*}{}{,}"
            ]
        ),
        "/mars/resource-r0/data-alpha"
    );
    let disk = f.dir.join("bravo.img");
    f.put_link("resource-r0/data-bravo", disk.to_str().unwrap(), LAMPORT);
    f.run_as(
        "bravo",
        &["view", "r0", "--macro=%get-glob{/etc/pass?d}{}{,}"],
    )
    .refused("not beneath /mars");
    f.run_as(
        "bravo",
        &["view", "r0", "--macro=%get-glob{/mars/../etc}{}{,}"],
    )
    .refused("'..'");
    // The waits: one that holds returns at once, silently.
    f.put_link("resource-r0/todo-bravo/attach", "1", LAMPORT);
    assert_eq!(
        out(
            &f,
            "bravo",
            &[
                "--timeout=5",
                "view",
                "r0",
                "--macro=x%wait-todo-attach-on{}y"
            ]
        ),
        "xy"
    );
    assert_eq!(
        out(
            &f,
            "bravo",
            &[
                "--timeout=5",
                "view",
                "r0",
                "--macro=%wait-resource{todo-attach-on}ok"
            ]
        ),
        "ok"
    );
    // One that does not hold fails after --timeout, naming the condition.
    let start = std::time::Instant::now();
    f.run_as(
        "bravo",
        &[
            "--timeout=1",
            "view",
            "r0",
            "--macro=%wait-todo-attach-off{}",
        ],
    )
    .refused("'todo-attach-off' holds for 'r0'");
    assert!(start.elapsed().as_secs_f64() >= 1.0);
    // timeout: the sleeps of one call use up --timeout, then "Timeout reached.".
    let start = std::time::Instant::now();
    f.run_as(
        "bravo",
        &[
            "--timeout=1",
            "view",
            "r0",
            "--macro=%timeout{5}%timeout{5}",
        ],
    )
    .refused("Timeout reached.");
    let took = start.elapsed().as_secs_f64();
    assert!((1.0..4.0).contains(&took), "{took}");
}

#[test]
fn macro_text_files_let_include_and_bad_input() {
    let f = two_hosts("m-files");
    let dir = f.dir.join("macros");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mine.tpl"),
        "/* a comment */%let{who}{%get-primary{}}%{res}: primary %{who} \\\n  %include{diskstate}/%include{is-primary}{alpha}\\n",
    )
    .unwrap();
    std::fs::write(dir.join("cstate.tpl"), "Connected").unwrap();
    let run = |args: &[&str]| {
        let mut c = f.command("bravo", args);
        c.env("MARS_PATH", &dir);
        Run::of(&mut c)
    };
    let r = run(&["view-mine", "r0"]);
    r.ok();
    assert_eq!(r.stdout, "r0: primary alpha OutDated[R]/1\n");
    // A file overrides a built-in macro.
    let r = run(&["view-cstate", "r0"]);
    r.ok();
    assert_eq!(r.stdout, "Connected\n");
    assert!(r.stderr.contains("using macro file"), "{}", r.stderr);
    // --macro before or after the command.
    assert_eq!(
        out(&f, "bravo", &["--macro=%{res}=%replstate{}", "view", "r0"]),
        "r0=Replaying"
    );
    assert_eq!(
        out(&f, "bravo", &["view", "r0", "--macro=%+{%{1}}{1}", "41"]),
        "42"
    );
    // Bad input: a clear error, exit 1.
    f.run_as("bravo", &["view", "r0", "--macro=%nosuch{}"])
        .refused("unknown macro 'nosuch'");
    f.run_as("bravo", &["view", "r0", "--macro=%/{1}{0}"])
        .refused("division by zero");
    f.run_as("bravo", &["view", "r0", "--macro=%while{1}{x}"])
        .refused("steps");
    f.run_as("bravo", &["view-nosuch", "r0"])
        .refused("cannot find macro 'nosuch'");
    f.run_as("bravo", &["view-is-primary", "r9"])
        .refused("does not exist");
    f.run_as("bravo", &["view", "r0", "--macro=%setlink{a}{b}"])
        .refused("read-only");
    // --help names the command form.
    let help = f.run(&["view", "--help"]);
    help.ok();
    for word in [
        "view-<MACRO>",
        "--macro <TEXT>",
        "MARS_PATH",
        "not available",
    ] {
        assert!(
            help.stdout.contains(word),
            "view --help lacks {word}:\n{}",
            help.stdout
        );
    }
    // view --json is unchanged by all this.
    let run = f.run_as("bravo", &["view", "r0", "--json"]);
    run.ok();
    assert!(run.stdout.contains("\"repl_state\""), "{}", run.stdout);
}

/// The original marsadm's command table (113 names).
const ORIGINAL_COMMANDS: &[&str] = &[
    "create-uuid",
    "create-cluster",
    "join-cluster",
    "merge-cluster",
    "merge-cluster-list",
    "merge-cluster-check",
    "split-cluster",
    "leave-cluster",
    "create-resource",
    "join-resource",
    "leave-resource",
    "delete-resource",
    "set-systemd-unit",
    "get-systemd-unit",
    "set-systemd-want",
    "get-systemd-want",
    "set-connect-pref-list",
    "get-connect-pref-list",
    "set-global-enabled-log-compressions",
    "set-global-enabled-net-compressions",
    "set-global-disabled-log-digests",
    "set-global-disabled-net-digests",
    "set-disabled-digests",
    "log-rotate",
    "log-delete-one",
    "log-delete",
    "log-delete-all",
    "log-delete-all-replayed",
    "cron",
    "log-purge-all",
    "err-purge-all",
    "link-purge-all",
    "fake-sync",
    "set-link",
    "get-link",
    "set-global-sync-limit-value",
    "get-global-sync-limit-value",
    "set-sync-limit-value",
    "get-sync-limit-value",
    "delete-file",
    "set-emergency-limit",
    "get-emergency-limit",
    "emergency-limit",
    "cat",
    "show",
    "show-errors",
    "show-state",
    "mars-state",
    "show-info",
    "mars-info",
    "pause-replay-local",
    "pause-replay-global",
    "pause-replay",
    "resume-replay-local",
    "resume-replay-global",
    "resume-replay",
    "set-replay",
    "wait-umount",
    "wait-cluster",
    "wait-resource",
    "update-cluster",
    "activate-guest",
    "deactivate-guest",
    "attach",
    "detach",
    "resume-fetch-local",
    "resume-fetch-global",
    "resume-fetch",
    "pause-fetch-local",
    "pause-fetch-global",
    "pause-fetch",
    "connect-local",
    "connect-global",
    "connect",
    "disconnect-local",
    "disconnect-global",
    "disconnect",
    "syncer",
    "up",
    "down",
    "primary",
    "secondary",
    "invalidate",
    "invalidate-remote",
    "resize",
    "check-resize",
    "create-md",
    "get-gi",
    "show-gi",
    "dump-md",
    "outdate",
    "adjust",
    "wait-connect",
    "role",
    "state",
    "cstate",
    "dstate",
    "status",
    "dump",
    "verify",
    "pause-sync-local",
    "pause-sync-global",
    "pause-sync",
    "resume-sync-local",
    "resume-sync-global",
    "resume-sync",
    "new-current-uuid",
    "hidden-commands",
    "lowlevel-ls-host-ips",
    "lowlevel-set-host-ip",
    "lowlevel-delete-host",
    "systemd-trigger",
    "systemd-trigger-extern",
];

#[test]
fn marsadm_8_lists_every_command_and_macro_of_the_original() {
    let doc = include_str!("../../../Documentation/marsadm.8.rst");
    let table_rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("``")).collect();
    for cmd in ORIGINAL_COMMANDS {
        let row = format!("``{cmd}``");
        assert!(
            table_rows
                .iter()
                .any(|l| l.split_whitespace().next() == Some(row.as_str())),
            "marsadm.8.rst has no row for the command {cmd}"
        );
    }
    let list = include_str!("../src/macros/primitives.rs");
    let builtin = include_str!("../src/macros/builtin.rs");
    let primitives = list
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix("\","));
    let complex = builtin
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(\"")?.split('"').next())
        .chain(builtin.lines().filter_map(|l| {
            let l = l.trim();
            (l.starts_with('"') && l.ends_with("\",") && !l.contains(' '))
                .then(|| l.trim_matches(|c| c == '"' || c == ','))
        }));
    let mut n = 0;
    for name in primitives.chain(complex) {
        assert!(
            doc.contains(&format!("``{name}``")),
            "marsadm.8.rst does not list the macro {name}"
        );
        n += 1;
    }
    assert!(n > 320, "{n} macro names");
}
