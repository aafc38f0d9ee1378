// SPDX-License-Identifier: GPL-2.0
//! `view` reads one model of the tree and prints it as text or JSON: the resource, its role,
//! the designated primary, the disk and replication state, the replay position, and every
//! switch next to the kernel's indicator, saying "not yet" while the kernel has not followed.
//! The help texts name every command and what it writes.

mod common;

use common::*;
use serde_json::Value;

fn json(f: &Fixture, args: &[&str]) -> Value {
    let run = f.run(args);
    run.ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", run.stdout))
}

#[test]
fn a_fresh_resource_shows_switches_the_kernel_has_not_followed_yet() {
    let f = Fixture::with_resource("view-fresh");
    let v = json(&f, &["view", "--json"]);
    assert_eq!(v["host"], "alpha");
    assert_eq!(v["uuid"], format!("alpha_{LAMPORT_TEXT}"));
    assert_eq!(v["kernel"]["module_loaded"], true);
    assert_eq!(v["kernel"]["alive"], false, "no heartbeat in the fixture");
    let r = &v["resources"][0];
    assert_eq!(v["resources"].as_array().unwrap().len(), 1);
    assert_eq!(r["name"], "r0");
    assert_eq!(r["size"], DISK_SIZE);
    assert_eq!(r["disk"], f.disk_arg());
    assert_eq!(r["device"], "/dev/mars/r0");
    assert_eq!(r["designated_primary"], "alpha");
    assert_eq!(r["role"], "NotYetPrimary");
    assert_eq!(r["disk_state"], "NoAttach");
    assert_eq!(r["repl_state"], "UnResponsive");
    assert_eq!(r["replay"]["logfile"], "log-000000001-alpha");
    assert_eq!(r["replay"]["min_pos"], 0);
    assert_eq!(r["logfiles"][0]["name"], "log-000000001-alpha");
    assert_eq!(r["maxnr"], "1");
    let attach = &r["switches"]["attach"];
    assert_eq!(attach["switch"], true);
    assert!(attach["indicator"].is_null());
    assert_eq!(attach["state"], "switching-on");
    assert_eq!(attach["indicator_key"], "actual-alpha/is-attached");
    assert_eq!(r["switches"]["primary"]["state"], "switching-on");
    assert_eq!(r["switches"]["fetch"]["state"], "on-idle");

    let text = f.run(&["view"]).stdout;
    assert!(
        text.contains("r0 NoAttach UnResponsive NotYetPrimary alpha\n"),
        "{text}"
    );
    assert!(
        text.contains("    attach   on     not yet (actual-alpha/is-attached missing)\n"),
        "{text}"
    );
    assert!(
        text.contains("    primary  on     not yet (actual-alpha/is-primary missing)\n"),
        "{text}"
    );
    assert!(
        text.contains("    replay:  log-000000001-alpha at position 0"),
        "{text}"
    );
    assert!(
        text.contains("WARNING: the kernel has not reported recently"),
        "{text}"
    );
}

#[test]
fn a_running_primary_is_up_to_date_and_replicating() {
    let f = Fixture::with_resource("view-primary");
    let d = "resource-r0/actual-alpha";
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    for name in ["is-attached", "is-primary", "if-on"] {
        f.put_link(&format!("{d}/{name}"), "1", LAMPORT);
    }
    f.put_link(
        &format!("{d}/msg-err-replay-stop"),
        "1.0 2.0 something broke",
        LAMPORT,
    );
    let v = json(&f, &["view", "r0", "--json"]);
    assert_eq!(v["kernel"]["alive"], true);
    assert_eq!(v["kernel"]["heartbeat"], LAMPORT_TEXT);
    let r = &v["resources"][0];
    assert_eq!(r["role"], "Primary");
    assert_eq!(r["disk_state"], "UpToDate");
    assert_eq!(r["repl_state"], "Replicating");
    assert_eq!(r["switches"]["attach"]["state"], "on");
    assert_eq!(r["switches"]["primary"]["state"], "on");
    assert_eq!(r["messages"][0]["key"], "err-replay-stop");

    // Detached by the operator, the kernel still attached: switching off.
    f.put_link("resource-r0/todo-alpha/attach", "0", LAMPORT);
    let r = json(&f, &["view", "all", "--json"])["resources"][0].clone();
    assert_eq!(r["switches"]["attach"]["state"], "switching-off");
    assert_eq!(r["disk_state"], "Detaching");
    assert_eq!(r["repl_state"], "NotStarted");
    let text = f.run(&["view", "r0"]).stdout;
    assert!(
        text.contains("    attach   off    still on (actual-alpha/is-attached = 1)\n"),
        "{text}"
    );
    assert!(
        text.contains("    msg-err-replay-stop: 1.0 2.0 something broke\n"),
        "{text}"
    );
}

#[test]
fn view_without_module_cluster_or_resource() {
    let f = Fixture::new("view-empty");
    f.unload();
    let text = f.run(&["view"]);
    text.ok();
    assert!(text
        .stdout
        .contains("WARNING: mars kernel module is not loaded"));
    assert!(text.stdout.contains("no cluster uuid found"));
    assert!(text
        .stdout
        .contains("I am not member/guest of any resource"));
    let v = json(&f, &["view", "--json"]);
    assert_eq!(v["kernel"]["module_loaded"], false);
    assert!(v["resources"].as_array().unwrap().is_empty());
    f.run(&["view", "r0"])
        .refused("resource 'r0' does not exist");
}

#[test]
fn view_of_a_secondary_that_went_secondary() {
    let f = Fixture::with_resource("view-secondary");
    f.run(&["secondary", "r0"]).ok();
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    let r = json(&f, &["view", "--json"])["resources"][0].clone();
    assert_eq!(r["designated_primary"], "(none)");
    assert_eq!(r["role"], "Secondary");
    assert_eq!(r["repl_state"], "NoPrimaryDesignated");
    assert_eq!(r["switches"]["primary"]["switch"], false);
    assert_eq!(r["switches"]["primary"]["state"], "off");
}

#[test]
fn help_names_every_command_and_what_it_writes() {
    let f = Fixture::new("help");
    let run = f.run(&["--help"]);
    run.ok();
    for cmd in [
        "create-cluster",
        "join-cluster",
        "leave-cluster",
        "wait-cluster",
        "set-link",
        "create-resource",
        "attach",
        "detach",
        "up",
        "down",
        "primary",
        "secondary",
        "log-rotate",
        "log-delete",
        "leave-resource",
        "delete-resource",
        "log-purge-all",
        "cron",
        "view",
        "log-dump",
    ] {
        assert!(
            run.stdout.contains(&format!("  {cmd} ")),
            "--help lacks {cmd}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("Exit status"), "{}", run.stdout);
    let run = f.run(&["create-resource", "--help"]);
    run.ok();
    for word in [
        "exclusively",
        "64 KiB",
        "todo-<host>/attach = 1 last",
        "--size",
        "[DEVICE_NAME]",
    ] {
        assert!(
            run.stdout.contains(word),
            "create-resource --help lacks {word:?}:\n{}",
            run.stdout
        );
    }
    let run = f.run(&["create-resource"]);
    assert_eq!(run.code, 2, "missing arguments are a usage error");
}

/// r0 with alpha as primary at `log-1-alpha,2000` and bravo a member replaying alpha's
/// logfile 1, up to 1000.
fn two_members(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    let zero = "0".repeat(32);
    let a = "a".repeat(32);
    let b = "b".repeat(32);
    f.put_link("resource-r0/data-bravo", "/dev/vda", LAMPORT);
    f.put_link(
        "resource-r0/version-000000001-alpha",
        &format!("{a},log-000000001-alpha,2000:{zero},log-000000000-alpha,0"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-alpha",
        "log-000000001-alpha,2000,0",
        LAMPORT,
    );
    f.put_link(
        "resource-r0/version-000000001-bravo",
        &format!("{b},log-000000001-alpha,1000:{zero},log-000000000-alpha,0"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000001-alpha,1000,0",
        LAMPORT,
    );
    f
}

#[test]
fn a_secondary_that_is_merely_behind_is_no_split_brain() {
    let f = two_members("view-behind");
    let r = json(&f, &["view", "--json"])["resources"][0].clone();
    assert_eq!(r["split_brain"]["detected"], false, "{r}");
    assert_eq!(r["split_brain"]["suspected"], false, "{r}");
    assert!(r["split_brain"]["pairs"].as_array().unwrap().is_empty());
    let text = f.run(&["view"]).stdout;
    assert!(!text.contains("SPLIT BRAIN"), "{text}");
}

#[test]
fn a_forced_failover_with_writes_on_both_sides_is_reported_as_split_brain() {
    let f = two_members("view-split");
    // bravo was forced to primary at 1000 of alpha's logfile 1 and wrote logfile 2; alpha
    // went on writing logfile 1 up to 2000.
    let b = "b".repeat(32);
    let c = "c".repeat(32);
    f.put_link(
        "resource-r0/version-000000002-bravo",
        &format!("{c},log-000000002-bravo,500:{b},log-000000001-alpha,1000"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000002-bravo,500,0",
        LAMPORT,
    );
    let v = json(&f, &["view", "--json"]);
    let s = &v["resources"][0]["split_brain"];
    assert_eq!(s["detected"], true, "{s}");
    assert_eq!(s["hosts"], serde_json::json!(["alpha", "bravo"]));
    let pair = &s["pairs"][0];
    assert_eq!(pair["verdict"], "split-brain");
    assert_eq!(pair["common_ancestor"], "log-000000001-alpha,1000");
    assert_eq!(pair["diverged"][0]["host"], "alpha");
    assert_eq!(pair["diverged"][0]["since"], "log-000000001-alpha,2000");
    assert_eq!(pair["diverged"][1]["host"], "bravo");
    assert_eq!(pair["diverged"][1]["since"], "log-000000002-bravo,500");
    let text = f.run(&["view", "r0"]).stdout;
    assert!(
        text.contains(
            "SPLIT BRAIN between 'alpha' and 'bravo': common ancestor log-000000001-alpha,1000"
        ),
        "{text}"
    );
    assert!(
        text.contains("marsadm invalidate r0"),
        "the resolution is named: {text}"
    );

    // Both started a logfile 2, and alpha's kernel stopped its replay: both are reported.
    std::fs::write(f.path("resource-r0/log-000000002-alpha"), b"x").unwrap();
    std::fs::write(f.path("resource-r0/log-000000002-bravo"), b"y").unwrap();
    f.put_link(
        "resource-r0/actual-alpha/msg-err-splitbrain-detected",
        "replay stops after log-000000001-alpha",
        LAMPORT,
    );
    let s = json(&f, &["view", "--json"])["resources"][0]["split_brain"].clone();
    assert_eq!(
        s["double_logfiles"],
        serde_json::json!([["log-000000002-alpha", "log-000000002-bravo"]])
    );
    assert_eq!(s["kernel"][0]["host"], "alpha");
    let text = f.run(&["view"]).stdout;
    assert!(
        text.contains("logfiles log-000000002-alpha and log-000000002-bravo have the same number"),
        "{text}"
    );
    assert!(
        text.contains("reported by the kernel of 'alpha': replay stops after"),
        "{text}"
    );
}

#[test]
fn a_history_that_cannot_be_compared_is_suspected_not_detected() {
    let f = two_members("view-unknown");
    // bravo names a logfile 3 whose links are gone: its history cannot be walked back.
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000003-bravo,10,0",
        LAMPORT,
    );
    let s = json(&f, &["view", "--json"])["resources"][0]["split_brain"].clone();
    assert_eq!(s["detected"], false, "{s}");
    assert_eq!(s["suspected"], true, "{s}");
    assert_eq!(s["pairs"][0]["verdict"], "unknown");
    assert!(f
        .run(&["view"])
        .stdout
        .contains("POSSIBLE SPLIT BRAIN between 'alpha' and 'bravo'"));
}

/// The split brain of tests/qemu/scenarios/failover-splitbrain.sh before its resolution:
/// bravo was forced to primary at 1000 of alpha's logfile 1 and writes logfile 2; alpha, the
/// old primary, wrote on up to 2000 and stepped down (its replay link still at its own end).
fn forced_failover(tag: &str) -> Fixture {
    let f = two_members(tag);
    let (b, c) = ("b".repeat(32), "c".repeat(32));
    f.put_link("resource-r0/primary", "bravo", LAMPORT);
    f.put_link(
        "resource-r0/version-000000002-bravo",
        &format!("{c},log-000000002-bravo,500:{b},log-000000001-alpha,1000"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000002-bravo,500,0",
        LAMPORT,
    );
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/syncstatus-bravo",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    for (host, primary) in [("alpha", "0"), ("bravo", "1")] {
        std::fs::create_dir_all(f.path(&format!("actual-{host}"))).unwrap();
        f.put_link(&format!("actual-{host}/alive"), "1", LAMPORT);
        f.put_link(&format!("actual-{host}/time"), LAMPORT_TEXT, LAMPORT);
        let d = format!("resource-r0/actual-{host}");
        for (name, value) in [
            ("is-attached", "1"),
            ("is-replaying", "1"),
            ("is-copying", "1"),
            ("is-primary", primary),
        ] {
            f.put_link(&format!("{d}/{name}"), value, LAMPORT);
        }
        for name in ["attach", "connect", "allow-replay"] {
            f.put_link(&format!("resource-r0/todo-{host}/{name}"), "1", LAMPORT);
        }
    }
    f
}

fn status_line(f: &Fixture, host: &str) -> String {
    let text = f.run_as(host, &["view", "r0"]).ok().stdout.clone();
    text.lines()
        .find(|l| l.starts_with("r0 "))
        .unwrap_or_else(|| panic!("no status line: {text}"))
        .to_string()
}

#[test]
fn the_losing_side_of_a_split_brain_shows_it_in_its_status() {
    let f = forced_failover("view-split-status");
    // alpha, the losing side: not "UpToDate Replaying", and not consistent with the primary.
    assert_eq!(
        status_line(&f, "alpha"),
        "r0 SplitBrain ReplayHalted Secondary bravo"
    );
    let text = f.run_as("alpha", &["view", "r0"]).stdout;
    assert!(text.contains("    consistent: no: split brain\n"), "{text}");
    assert!(
        text.contains("SPLIT BRAIN here: the history of this host forked from the primary's"),
        "{text}"
    );
    let v: Value =
        serde_json::from_str(&f.run_as("alpha", &["view", "r0", "--json"]).ok().stdout).unwrap();
    let r = &v["resources"][0];
    assert_eq!(r["disk_state"], "SplitBrain", "{r}");
    assert_eq!(r["repl_state"], "ReplayHalted", "{r}");
    assert_eq!(r["consistent"], false, "{r}");
    assert_eq!(r["split_brain"]["this_host_forked"], true, "{r}");

    // bravo, the designated primary, sees the split brain but is not the losing side.
    assert_eq!(
        status_line(&f, "bravo"),
        "r0 UpToDate Replicating Primary bravo"
    );
    let v: Value =
        serde_json::from_str(&f.run_as("bravo", &["view", "r0", "--json"]).ok().stdout).unwrap();
    let r = &v["resources"][0];
    assert_eq!(r["split_brain"]["detected"], true, "{r}");
    assert_eq!(r["split_brain"]["this_host_forked"], false, "{r}");
    assert_eq!(r["consistent"], true, "{r}");
    assert!(!f
        .run_as("bravo", &["view", "r0"])
        .stdout
        .contains("SPLIT BRAIN here"));

    // Only the kernel's report (the version links not here yet): the losing side all the same.
    let f = two_members("view-split-kernel");
    f.put_link("resource-r0/primary", "bravo", LAMPORT);
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    f.put_link("resource-r0/actual-alpha/is-attached", "1", LAMPORT);
    f.put_link("resource-r0/todo-alpha/allow-replay", "1", LAMPORT);
    f.put_link("resource-r0/todo-alpha/connect", "1", LAMPORT);
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    assert_eq!(
        status_line(&f, "alpha"),
        "r0 UpToDate Replaying Secondary bravo"
    );
    assert!(
        status_line(&f, "alpha").starts_with("r0 UpToDate "),
        "{}",
        status_line(&f, "alpha")
    );
    f.put_link(
        "resource-r0/actual-alpha/msg-err-splitbrain-detected",
        "1 2 replay stops after log-000000001-alpha: VERSION MISMATCH: check for SPLIT BRAIN",
        LAMPORT,
    );
    assert_eq!(
        status_line(&f, "alpha"),
        "r0 SplitBrain ReplayHalted Secondary bravo"
    );
}

#[test]
fn a_secondary_that_is_merely_behind_stays_up_to_date_replaying() {
    let f = forced_failover("view-behind-status");
    // No fork: bravo's logfile 2 continues alpha's logfile 1 at its end, and alpha replays it.
    let (a, c) = ("a".repeat(32), "c".repeat(32));
    f.put_link(
        "resource-r0/version-000000002-bravo",
        &format!("{c},log-000000002-bravo,500:{a},log-000000001-alpha,2000"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/version-000000001-bravo",
        &format!(
            "{a},log-000000001-alpha,2000:{},log-000000000-alpha,0",
            "0".repeat(32)
        ),
        LAMPORT,
    );
    let v: Value =
        serde_json::from_str(&f.run_as("alpha", &["view", "r0", "--json"]).ok().stdout).unwrap();
    assert_eq!(
        v["resources"][0]["split_brain"]["detected"], false,
        "{}",
        v["resources"][0]
    );
    assert_eq!(
        status_line(&f, "alpha"),
        "r0 UpToDate Replaying Secondary bravo"
    );
}

/// bravo, a member behind alpha: its sync half done, alpha's logfile 1 fetched up to 1500 of
/// the 2000 bytes alpha's version link names, replayed up to 1000.
fn behind(tag: &str) -> Fixture {
    let f = two_members(tag);
    let size: u64 = f.value("resource-r0/size").parse().unwrap();
    f.put_link(
        "resource-r0/syncstatus-bravo",
        &(size / 2).to_string(),
        LAMPORT,
    );
    std::fs::write(f.path("resource-r0/log-000000001-alpha"), vec![0u8; 1500]).unwrap();
    f
}

#[test]
fn view_shows_rates_lag_and_eta_from_the_kernels_indicators_and_says_which_are_missing() {
    let f = behind("view-rates");
    let size: u64 = f.value("resource-r0/size").parse().unwrap();
    let rest = size - size / 2;
    // No rate published yet: the amounts, and which indicator is missing; no ETA invented.
    let text = f.run_as("bravo", &["view", "r0"]).ok().stdout.clone();
    let line = |what: &str, text: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{what} lag: ")))
            .unwrap_or_else(|| panic!("no {what} progress line in:\n{text}"))
            .trim()
            .to_string()
    };
    for what in ["sync", "fetch", "replay"] {
        let l = line(what, &text);
        let indicator = format!(
            "resource-r0/actual-bravo/amount-{}_rate",
            if what == "fetch" { "file" } else { what }
        );
        assert!(l.contains(&indicator), "{l}");
        assert!(l.ends_with("ETA unknown"), "{l}");
    }
    assert!(line("sync", &text).starts_with(&format!("sync lag:    {rest} bytes,")));
    assert!(line("fetch", &text).starts_with("fetch lag:   500 bytes,"));
    assert!(line("replay", &text).starts_with("replay lag:  500 bytes,"));

    // The kernel publishes the sync and replay rates (KiB/s); fetch's stays missing.
    f.put_link("resource-r0/actual-bravo/amount-sync_rate", "64", LAMPORT);
    f.put_link("resource-r0/actual-bravo/amount-replay_rate", "0", LAMPORT);
    let text = f.run_as("bravo", &["view", "r0"]).ok().stdout.clone();
    let eta = rest.div_ceil(64 * 1024);
    let sync = line("sync", &text);
    assert!(sync.contains("rate 64 KiB/s"), "{sync}");
    assert!(eta < 60, "{eta}");
    assert!(sync.ends_with(&format!("ETA {eta}s")), "{sync}");
    let replay = line("replay", &text);
    assert!(
        replay.ends_with("rate 0 KiB/s, ETA unknown (no progress)"),
        "{replay}"
    );
    assert!(line("fetch", &text).contains("amount-file_rate"));
    let run = f.run_as("bravo", &["view", "r0", "--json"]);
    let p: Value = serde_json::from_str(&run.ok().stdout).unwrap();
    let p = &p["resources"][0]["progress"];
    assert_eq!(p["sync"]["rest_bytes"], rest, "{p}");
    assert_eq!(p["sync"]["rate_bytes_per_second"], 64 * 1024, "{p}");
    assert_eq!(p["sync"]["eta_seconds"], eta, "{p}");
    assert_eq!(p["replay"]["rest_bytes"], 500, "{p}");
    assert_eq!(p["replay"]["rate_bytes_per_second"], 0, "{p}");
    assert_eq!(p["replay"]["eta_seconds"], Value::Null, "{p}");
    assert_eq!(p["fetch"]["rest_bytes"], 500, "{p}");
    assert_eq!(p["fetch"]["rate_bytes_per_second"], Value::Null, "{p}");
    assert!(
        p["fetch"]["rate_missing"]
            .as_str()
            .unwrap()
            .contains("amount-file_rate"),
        "{p}"
    );

    // The kernel publishes the fetch rate and its total: the fetch line uses the rate, and
    // one line per member says what it fetched.
    f.put_link("resource-r0/actual-bravo/amount-file_rate", "4", LAMPORT);
    f.put_link(
        "resource-r0/actual-bravo/amount-file_bytes",
        "1500",
        LAMPORT,
    );
    let text = f.run_as("bravo", &["view", "r0"]).ok().stdout.clone();
    assert_eq!(
        line("fetch", &text),
        "fetch lag:   500 bytes, rate 4 KiB/s, ETA 1s",
        "{text}"
    );
    // One line per member: its sync and replay progress, its total fetched and its rates.
    assert!(
        text.contains(&format!(
            "\n    member bravo: sync {} bytes, replay 1:1000, fetched 1500 bytes, logged - bytes; rates (KiB/s) sync 64, fetch 4, replay 0\n",
            size / 2
        )),
        "{text}"
    );
    // alpha (in sync, replayed to 2000) publishes no indicators in this tree: "-".
    assert!(
        text.contains(&format!(
            "\n    member alpha: sync {size} bytes, replay 1:2000, fetched - bytes, logged - bytes; rates (KiB/s) sync -, fetch -, replay -\n"
        )),
        "{text}"
    );
    let run = f.run_as("bravo", &["view", "r0", "--json"]);
    let r: Value = serde_json::from_str(&run.ok().stdout).unwrap();
    let r = &r["resources"][0];
    assert_eq!(r["progress"]["fetch"]["rate_bytes_per_second"], 4096, "{r}");
    assert_eq!(r["progress"]["fetch"]["rate_missing"], Value::Null, "{r}");
    assert_eq!(r["progress"]["fetch"]["eta_seconds"], 1, "{r}");
    let b = &r["peers"]["bravo"];
    assert_eq!(b["fetched_bytes"], 1500, "{r}");
    assert_eq!(b["sync_bytes"], size / 2, "{r}");
    assert_eq!(b["replay_logfile_number"], 1, "{r}");
    assert_eq!(b["replay_position_bytes"], 1000, "{r}");
    assert_eq!(b["rate_bytes_per_second"]["fetch"], 4096, "{r}");
    assert_eq!(b["rate_bytes_per_second"]["sync"], 64 * 1024, "{r}");
    assert_eq!(b["rate_bytes_per_second"]["replay"], 0, "{r}");
    assert_eq!(r["peers"]["alpha"]["fetched_bytes"], Value::Null, "{r}");
    assert_eq!(
        r["peers"]["alpha"]["rate_bytes_per_second"]["fetch"],
        Value::Null,
        "{r}"
    );

    // Synced and caught up: no sync line; fetch and replay done.
    f.put_link("resource-r0/syncstatus-bravo", &size.to_string(), LAMPORT);
    std::fs::write(f.path("resource-r0/log-000000001-alpha"), vec![0u8; 2000]).unwrap();
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000001-alpha,2000,0",
        LAMPORT,
    );
    let text = f.run_as("bravo", &["view", "r0"]).ok().stdout.clone();
    assert!(!text.contains("sync lag:"), "{text}");
    assert!(line("replay", &text).ends_with("done"), "{text}");
    assert!(
        line("fetch", &text).starts_with("fetch lag:   0 bytes,"),
        "{text}"
    );
    // The designated primary shows neither fetch nor replay.
    let text = f.run(&["view", "r0"]).ok().stdout.clone();
    assert!(!text.contains(" lag: "), "{text}");
}
