// SPDX-License-Identifier: GPL-2.0
//! Full sync from marsadm's side: `join-resource` asks for a full sync (`syncstatus-<host>`
//! 0), `invalidate` asks for one again and restarts the replay at the primary's current
//! logfile, `pause-sync` / `resume-sync` write `todo-<host>/sync`; refusals change nothing;
//! `view` shows the progress and whether the replica is consistent.

mod common;

use common::*;

/// A cluster with resource r0 whose primary is bravo (writing logfile 3); alpha not joined.
fn bravo_primary(tag: &str) -> Fixture {
    let f = Fixture::new(tag);
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    std::fs::create_dir_all(f.path("resource-r0")).unwrap();
    f.put_link("resource-r0/size", &DISK_SIZE.to_string(), LAMPORT);
    f.put_link("resource-r0/primary", "bravo", LAMPORT);
    f.put_link("resource-r0/data-bravo", "/dev/vdb", LAMPORT);
    f.put_link("resource-r0/device-bravo", "r0", LAMPORT);
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000003-bravo,4096,512",
        LAMPORT,
    );
    f
}

#[test]
fn join_resource_asks_for_a_full_sync() {
    let f = bravo_primary("sync-join");
    let run = f.run(&["join-resource", "r0", f.disk_arg()]);
    run.ok();
    assert!(run.stdout.contains("full sync"), "{}", run.stdout);
    assert_eq!(f.value("resource-r0/syncstatus-alpha"), "0");
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "1");
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000003-bravo,0,0"
    );
    let view = f.run(&["view", "r0"]);
    view.ok();
    assert!(
        view.stdout.contains("sync:    0 of 1048576 bytes (0.0%)"),
        "{}",
        view.stdout
    );
    assert!(
        view.stdout.contains("consistent: no: sync not finished"),
        "{}",
        view.stdout
    );
    // The kernel alive and the disk attached: the disk state says it too.
    std::fs::create_dir_all(f.path("actual-alpha")).unwrap();
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    f.put_link("resource-r0/actual-alpha/is-attached", "1", LAMPORT);
    f.put_link("resource-r0/actual-alpha/is-syncing", "1", LAMPORT);
    let view = f.run(&["view", "r0"]);
    assert!(
        view.ok().stdout.contains("r0 InConsistent Syncing"),
        "{}",
        view.stdout
    );
}

#[test]
fn invalidate_restarts_the_sync_and_the_replay() {
    let f = bravo_primary("sync-invalidate");
    f.run(&["join-resource", "r0", f.disk_arg()]).ok();
    // Synced and replayed meanwhile; the primary moved on to logfile 5.
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    f.put_link(
        "resource-r0/syncpos-alpha",
        "log-000000003-bravo,4096,512",
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-alpha",
        "log-000000004-bravo,100,0",
        LAMPORT,
    );
    f.put_link(
        "resource-r0/replay-bravo",
        "log-000000005-bravo,777,0",
        LAMPORT,
    );
    let view = f.run(&["view", "r0", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&view.ok().stdout).unwrap();
    let r = &json["resources"][0];
    assert_eq!(r["consistent"], true, "{r}");
    assert_eq!(r["sync_percent"], 100.0, "{r}");
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &(DISK_SIZE / 4).to_string(),
        LAMPORT,
    );
    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["view", "r0", "--json"]).ok().stdout).unwrap();
    assert_eq!(json["resources"][0]["consistent"], false);
    assert_eq!(json["resources"][0]["sync_percent"], 25.0);
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );

    // bravo is alive and its version links arrived.
    std::fs::create_dir_all(f.path("actual-bravo")).unwrap();
    f.put_link("actual-bravo/alive", "1", LAMPORT);
    f.put_link("actual-bravo/time", LAMPORT_TEXT, LAMPORT);
    let (v4, v5) = (
        format!("{},log-000000004-bravo,900:", "4".repeat(32)),
        format!("{},log-000000005-bravo,777:", "5".repeat(32)),
    );
    f.put_link("resource-r0/version-000000004-bravo", &v4, LAMPORT);
    f.put_link("resource-r0/version-000000005-bravo", &v5, LAMPORT);
    let run = f.run(&["invalidate", "r0", "--timeout=1"]);
    run.ok();
    assert_eq!(f.value("resource-r0/syncstatus-alpha"), "0");
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000000005-bravo,0,0"
    );
    assert_eq!(f.value("resource-r0/version-000000004-alpha"), v4);
    assert_eq!(f.value("resource-r0/version-000000005-alpha"), v5);
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "1");
}

#[test]
fn invalidate_is_refused_on_the_primary_and_without_one() {
    let f = Fixture::with_resource("sync-invalidate-primary");
    let before = f.snapshot();
    f.run(&["invalidate", "r0"]).refused("designated primary");
    assert_eq!(f.snapshot(), before);
    f.put_link("resource-r0/primary", "(none)", LAMPORT);
    let before = f.snapshot();
    f.run(&["invalidate", "r0"])
        .refused("no designated primary");
    f.run(&["resume-sync", "r0"])
        .refused("noone is designated as primary");
    assert_eq!(f.snapshot(), before);
    f.run(&["invalidate", "r9"]).refused("does not exist");
}

#[test]
fn pause_and_resume_sync_write_the_switch() {
    let f = bravo_primary("sync-pause");
    f.run(&["join-resource", "r0", f.disk_arg()]).ok();
    let run = f.run(&["pause-sync", "r0", "--timeout=1"]);
    run.ok();
    assert!(
        run.stdout.contains("successfully started pause-sync"),
        "{}",
        run.stdout
    );
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "0");
    std::fs::create_dir_all(f.path("actual-alpha")).unwrap();
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    let view = f.run(&["view", "r0"]);
    assert!(view.ok().stdout.contains("PausedSync"), "{}", view.stdout);
    // Still syncing: pause waits for the kernel.
    f.put_link("resource-r0/actual-alpha/is-syncing", "1", LAMPORT);
    let run = f.run(&["pause-sync", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    f.run(&["resume-sync", "r0"]).ok();
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "1");
}
