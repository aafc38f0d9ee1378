// SPDX-License-Identifier: GPL-2.0
//! `invalidate` resolves a split brain on the side whose writes are discarded: after it, the
//! host's history is the primary's (replay link at the start of the primary's logfile, the
//! primary's version links as its own), its abandoned logfiles and links are gone, a full sync
//! is asked for, and `view` no longer reports a split brain, on either host. It switches
//! everything off and waits for the kernel before it rewrites anything, and it refuses
//! (changing nothing) where it would be unsafe.

mod common;

use common::*;
use std::process::Command;

/// The split brain of tests/qemu/scenarios/failover-splitbrain.sh as the tree shows it on
/// alpha: alpha was primary and wrote logfile 1 up to 2000; bravo replayed it up to 1000, was
/// forced to primary and writes logfile 2; alpha also started a logfile 2 of its own. bravo
/// is alive and designated; alpha's kernel stopped its replay at the split.
fn split_brain(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    let zero = "0".repeat(32);
    let (a, b, c) = ("a".repeat(32), "b".repeat(32), "c".repeat(32));
    f.put_link("resource-r0/data-bravo", "/dev/vda", LAMPORT);
    f.put_link("resource-r0/device-bravo", "r0", LAMPORT);
    f.put_link("resource-r0/primary", "bravo", LAMPORT);
    std::fs::write(f.path("resource-r0/log-000000001-alpha"), vec![1u8; 2000]).unwrap();
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
        "resource-r0/version-000000002-bravo",
        &format!("{c},log-000000002-bravo,500:{b},log-000000001-alpha,1000"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000002-bravo,500,0",
        LAMPORT,
    );
    // bravo's logfile 2 as fetched here, and alpha's own logfile 2 (an abandoned branch with
    // the primary's number), modified just now.
    std::fs::write(f.path("resource-r0/log-000000002-bravo"), vec![2u8; 500]).unwrap();
    let own = f.path("resource-r0/log-000000002-alpha");
    std::fs::write(&own, vec![3u8; 300]).unwrap();
    let touched = Command::new("touch")
        .args(["-d", &format!("@{}", stamp_text(LAMPORT))])
        .arg(&own)
        .status()
        .unwrap();
    assert!(touched.success());
    f.put_link(
        "resource-r0/version-000000003-alpha",
        &format!("{a},log-000000003-alpha,10:{a},log-000000002-alpha,300"),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/actual-alpha/msg-err-splitbrain-detected",
        "1 2 replay stops after log-000000001-alpha",
        LAMPORT,
    );
    f.put_link("resource-r0/actual-alpha/is-primary", "0", LAMPORT);
    f.put_link("resource-r0/actual-alpha/if-on", "0", LAMPORT);
    std::fs::create_dir_all(f.path("actual-bravo")).unwrap();
    f.put_link("actual-bravo/alive", "1", LAMPORT);
    f.put_link("actual-bravo/time", LAMPORT_TEXT, LAMPORT);
    f
}

fn split_brain_json(f: &Fixture, host: &str) -> serde_json::Value {
    let run = f.run_as(host, &["view", "r0", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&run.ok().stdout).unwrap();
    v["resources"][0]["split_brain"].clone()
}

fn is_tombstone(f: &Fixture, rel: &str) -> bool {
    std::fs::symlink_metadata(f.path(rel)).is_ok_and(|m| m.file_type().is_symlink())
        && f.value(rel) == ".deleted"
}

#[test]
fn invalidate_makes_the_primarys_history_this_hosts_own() {
    let f = split_brain("invalidate-split");
    assert_eq!(split_brain_json(&f, "alpha")["detected"], true);
    assert_eq!(split_brain_json(&f, "bravo")["detected"], true);
    assert_eq!(split_brain_json(&f, "alpha")["this_host_forked"], true);
    assert_eq!(
        split_brain_json(&f, "bravo")["this_host_forked"],
        false,
        "bravo is the designated primary"
    );

    let run = f.run(&["invalidate", "r0", "--timeout=1"]);
    run.ok();
    assert!(
        run.stdout.contains("full sync from 'bravo' follows"),
        "{}",
        run.stdout
    );
    // A full sync from the primary, then the replay of its logfile 2 from the start.
    assert_eq!(f.value("resource-r0/syncstatus-alpha"), "0");
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000002-bravo,0,0"
    );
    assert_eq!(f.value("resource-r0/skip-check-alpha"), "2");
    // The primary's chain is this host's chain now.
    for nr in ["000000001", "000000002"] {
        assert_eq!(
            f.value(&format!("resource-r0/version-{nr}-alpha")),
            f.value(&format!("resource-r0/version-{nr}-bravo")),
            "version link {nr}"
        );
    }
    // The abandoned branch is gone: the own version link beyond the start, the own logfile
    // with the primary's number (although recent), the kernel's report of the split.
    assert!(is_tombstone(&f, "resource-r0/version-000000003-alpha"));
    assert!(is_tombstone(&f, "resource-r0/log-000000002-alpha"));
    assert!(is_tombstone(
        &f,
        "resource-r0/actual-alpha/msg-err-splitbrain-detected"
    ));
    // What the primary's history needs stays: alpha's logfile 1 (up to 1000 it is bravo's
    // past too) and bravo's logfile 2.
    assert_eq!(
        std::fs::read(f.path("resource-r0/log-000000001-alpha"))
            .unwrap()
            .len(),
        2000
    );
    assert_eq!(
        std::fs::read(f.path("resource-r0/log-000000002-bravo"))
            .unwrap()
            .len(),
        500
    );
    // Everything is switched on again.
    for switch in ["attach", "connect", "sync", "allow-replay"] {
        assert_eq!(
            f.value(&format!("resource-r0/todo-alpha/{switch}")),
            "1",
            "{switch}"
        );
    }
    // No split brain, seen from either host; nothing left to purge.
    for host in ["alpha", "bravo"] {
        let s = split_brain_json(&f, host);
        assert_eq!(s["detected"], false, "{host}: {s}");
        assert_eq!(s["suspected"], false, "{host}: {s}");
        assert_eq!(s["this_host_forked"], false, "{host}: {s}");
        let text = f.run_as(host, &["view", "r0"]).ok().stdout.clone();
        assert!(!text.contains("SPLIT BRAIN"), "{host}: {text}");
        assert!(
            !text.contains("SplitBrain") && !text.contains("ReplayHalted"),
            "{host}: {text}"
        );
    }
    let purge = f.run(&["log-purge-all", "r0"]);
    assert!(
        purge.ok().stdout.contains("nothing to purge"),
        "{}",
        purge.stdout
    );
}

#[test]
fn invalidate_rewrites_nothing_before_the_kernel_stopped() {
    let f = split_brain("invalidate-wait");
    f.put_link("resource-r0/actual-alpha/is-replaying", "1", LAMPORT);
    let run = f.run(&["invalidate", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is-replaying"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("'marsadm invalidate r0' again continues"),
        "{}",
        run.stderr
    );
    for switch in ["attach", "connect", "sync", "allow-replay"] {
        assert_eq!(
            f.value(&format!("resource-r0/todo-alpha/{switch}")),
            "0",
            "{switch}"
        );
    }
    // The history is untouched while a replay might still write it.
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000001-alpha,2000,0"
    );
    assert_eq!(
        f.value("resource-r0/syncstatus-alpha"),
        DISK_SIZE.to_string()
    );
    assert!(!is_tombstone(&f, "resource-r0/log-000000002-alpha"));
    // The kernel stopped: invalidate again finishes the job.
    f.put_link("resource-r0/actual-alpha/is-replaying", "0", LAMPORT);
    f.run(&["invalidate", "r0", "--timeout=1"]).ok();
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000002-bravo,0,0"
    );
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "1");
}

#[test]
fn invalidate_refuses_where_it_is_unsafe_and_changes_nothing() {
    // Name, what makes invalidate unsafe, the reason it must give.
    type Case<'a> = (&'a str, &'a dyn Fn(&Fixture), &'a str);
    let cases: [Case; 7] = [
        (
            "primary-here",
            &|f: &Fixture| f.put_link("resource-r0/actual-alpha/is-primary", "1", LAMPORT),
            "still runs '/dev/mars/r0' as primary",
        ),
        (
            "unreachable",
            &|f: &Fixture| f.put_link("actual-bravo/time", "1999999000.0", (1_999_999_000, 0)),
            "is not reachable",
        ),
        (
            "dead",
            &|f: &Fixture| f.put_link("actual-bravo/alive", "0", LAMPORT),
            "is not reachable",
        ),
        (
            "emergency",
            &|f: &Fixture| f.put_link("resource-r0/actual-bravo/has-emergency", "1", LAMPORT),
            "emergency mode",
        ),
        (
            "not-logging",
            &|f: &Fixture| {
                f.put_link(
                    "resource-r0/replay-bravo",
                    "log-000000001-alpha,1000,0",
                    LAMPORT,
                )
            },
            "is not logging yet",
        ),
        (
            "damaged-current-logfile",
            &|f: &Fixture| {
                f.put_link(
                    "resource-r0/actual-alpha/msg-err-logfile-damaged",
                    "1 2 replay stops: log-000000002-bravo is damaged at byte 300 on its origin too (fetched again); run `marsadm invalidate` on this host",
                    LAMPORT,
                )
            },
            "run 'marsadm log-rotate r0' on bravo first",
        ),
        (
            "no-replay-link",
            &|f: &Fixture| std::fs::remove_file(f.path("resource-r0/replay-bravo")).unwrap(),
            "replay link of primary 'bravo' is not known here yet",
        ),
    ];
    for (tag, spoil, message) in cases {
        let f = split_brain(&format!("invalidate-refused-{tag}"));
        spoil(&f);
        let before = f.snapshot();
        f.run(&["invalidate", "r0", "--timeout=1"]).refused(message);
        assert_eq!(f.snapshot(), before, "{tag}");
    }
    // A damaged record in a logfile the primary no longer writes is no reason to refuse.
    let f = split_brain("invalidate-damaged-old-logfile");
    f.put_link(
        "resource-r0/actual-alpha/msg-err-logfile-damaged",
        "1 2 replay stops: log-000000001-alpha is damaged at byte 300; run `marsadm invalidate` on this host",
        LAMPORT,
    );
    let before = f.snapshot();
    f.run(&["invalidate", "r0", "--dry-run"]).ok();
    assert_eq!(f.snapshot(), before);
    // On the designated primary, and without one.
    let f = split_brain("invalidate-refused-roles");
    let before = f.snapshot();
    f.run_as("bravo", &["invalidate", "r0"])
        .refused("is the designated primary");
    assert_eq!(f.snapshot(), before);
    f.put_link("resource-r0/primary", "(none)", add_ns(LAMPORT, 1));
    let before = f.snapshot();
    f.run(&["invalidate", "r0"])
        .refused("no designated primary");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn invalidate_dry_run_writes_nothing() {
    let f = split_brain("invalidate-dry");
    let before = f.snapshot();
    let run = f.run(&["invalidate", "r0", "--dry-run"]);
    run.ok();
    assert!(
        run.stdout
            .contains("replay-alpha' -> 'log-000000002-bravo,0,0'"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
}

/// The other documented resolution, `leave-resource` + `join-resource` on the losing side: the
/// tree each step leaves behind (the host's keys tombstoned, the other side untouched, then a
/// member again whose history is the primary's).
#[test]
fn leave_and_join_resolve_a_split_brain_too() {
    let f = split_brain("leave-join");
    assert_eq!(
        split_brain_json(&f, "alpha")["this_host_forked"],
        true,
        "alpha is the losing side"
    );
    let before_bravo = f.value("resource-r0/version-000000002-bravo");
    f.run(&["down", "r0", "--timeout=1"]).ok();
    let run = f.run(&["leave-resource", "r0"]);
    run.ok();
    // The abandoned branch goes with the leave, although recent: it is a double logfile.
    assert!(
        is_tombstone(&f, "resource-r0/log-000000002-alpha"),
        "{}",
        run.stdout
    );
    assert!(is_tombstone(&f, "resource-r0/version-000000003-alpha"));
    // The tree after the leave: alpha is no member, its keys are tombstones (they spread to
    // the peers), the split brain is no longer seen from bravo.
    for key in [
        "data-alpha",
        "device-alpha",
        "replay-alpha",
        "syncstatus-alpha",
        "todo-alpha/attach",
        "todo-alpha/connect",
        "todo-alpha/sync",
        "todo-alpha/allow-replay",
        "actual-alpha/msg-err-splitbrain-detected",
    ] {
        assert!(
            is_tombstone(&f, &format!("resource-r0/{key}")),
            "{key} after the leave"
        );
    }
    assert_eq!(
        split_brain_json(&f, "bravo")["detected"],
        false,
        "after the leave"
    );
    // bravo's history is untouched: its links and alpha's logfile 1 (up to 1000 bravo's
    // past). alpha's fetched copy of bravo's logfile 2 is gone here, without a tombstone
    // (one would delete the origin's file everywhere).
    assert_eq!(
        f.value("resource-r0/replay-bravo"),
        "log-000000002-bravo,500,0"
    );
    assert_eq!(f.value("resource-r0/version-000000002-bravo"), before_bravo);
    assert_eq!(f.value("resource-r0/primary"), "bravo");
    assert_eq!(
        std::fs::read(f.path("resource-r0/log-000000001-alpha"))
            .unwrap()
            .len(),
        2000
    );
    let copy = std::fs::symlink_metadata(f.path("resource-r0/log-000000002-bravo"));
    assert!(
        copy.is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound),
        "no copy and no tombstone"
    );

    f.run(&["join-resource", "r0", f.disk_arg()]).ok();
    // The tree after the join: a member again, every switch on, a full sync asked for, the
    // replay at the start of the primary's current logfile.
    assert_eq!(f.value("resource-r0/data-alpha"), f.disk_arg());
    assert_eq!(f.value("resource-r0/device-alpha"), "r0");
    for switch in ["attach", "connect", "sync", "allow-replay"] {
        assert_eq!(
            f.value(&format!("resource-r0/todo-alpha/{switch}")),
            "1",
            "{switch}"
        );
    }
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000002-bravo,0,0"
    );
    assert_eq!(f.value("resource-r0/syncstatus-alpha"), "0");
    // The history starts as the primary's, not from alpha's old link of logfile 1.
    for nr in ["000000001", "000000002"] {
        assert_eq!(
            f.value(&format!("resource-r0/version-{nr}-alpha")),
            f.value(&format!("resource-r0/version-{nr}-bravo")),
            "version link {nr}"
        );
    }
    for host in ["alpha", "bravo"] {
        let s = split_brain_json(&f, host);
        assert_eq!(s["detected"], false, "{host}: {s}");
        assert_eq!(s["suspected"], false, "{host}: {s}");
        assert_eq!(s["this_host_forked"], false, "{host}: {s}");
    }
    // Joined again, alpha is a secondary that has to sync: no longer the losing side.
    let v: serde_json::Value =
        serde_json::from_str(&f.run(&["view", "r0", "--json"]).ok().stdout).unwrap();
    assert_ne!(
        v["resources"][0]["disk_state"], "SplitBrain",
        "{}",
        v["resources"][0]
    );
    assert_ne!(
        v["resources"][0]["repl_state"], "ReplayHalted",
        "{}",
        v["resources"][0]
    );
}

#[test]
fn log_purge_all_removes_the_other_branch_of_a_split_brain() {
    let f = split_brain("purge-double");
    // Before any resolution: alpha's own logfile 2 is a double of bravo's needed one.
    let run = f.run(&["log-purge-all", "r0"]);
    run.ok();
    assert!(
        is_tombstone(&f, "resource-r0/log-000000002-alpha"),
        "{}",
        run.stdout
    );
    // What a history needs stays: alpha's logfile 1 (its own and bravo's past).
    assert_eq!(
        std::fs::read(f.path("resource-r0/log-000000001-alpha"))
            .unwrap()
            .len(),
        2000
    );
    assert_eq!(
        std::fs::read(f.path("resource-r0/log-000000002-bravo"))
            .unwrap()
            .len(),
        500
    );
}

#[test]
fn invalidate_chains_to_the_primarys_history_also_without_its_newest_link() {
    // bravo's logfile 2 is fresh and idle: it has no version link yet.
    let f = split_brain("invalidate-fresh");
    std::fs::remove_file(f.path("resource-r0/version-000000002-bravo")).unwrap();
    f.put_link(
        "resource-r0/version-000000002-alpha",
        &format!("{},log-000000002-alpha,300:x", "a".repeat(32)),
        LAMPORT,
    );
    f.run(&["invalidate", "r0", "--timeout=1"]).ok();
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000002-bravo,0,0"
    );
    // The link the kernel chains to is the primary's; alpha's old link of logfile 2 is gone.
    assert_eq!(
        f.value("resource-r0/version-000000001-alpha"),
        f.value("resource-r0/version-000000001-bravo")
    );
    assert!(is_tombstone(&f, "resource-r0/version-000000002-alpha"));
}
