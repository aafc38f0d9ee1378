// SPDX-License-Identifier: GPL-2.0
//! `log-rotate` starts the next empty logfile only on the actual primary, only when the
//! current one holds data and has its version link; `log-delete` tombstones exactly the
//! logfiles every member has replayed (never the newest) and the version links before them.

mod common;

use common::*;

const DIR: &str = "resource-r0";

/// A resource whose kernel runs it as primary (is-primary = 1).
fn primary_fixture(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    f.put_link(&format!("{DIR}/actual-alpha/is-primary"), "1", LAMPORT);
    f
}

fn write_log(f: &Fixture, nr: u32, bytes: usize) {
    std::fs::write(
        f.path(&format!("{DIR}/log-{nr:09}-alpha")),
        vec![7u8; bytes],
    )
    .unwrap();
}

#[test]
fn log_rotate_starts_the_next_logfile_when_the_current_one_has_data() {
    let f = primary_fixture("rotate");
    // An empty current logfile: nothing to do.
    let before = f.snapshot();
    let run = f.run(&["log-rotate", "r0"]);
    run.ok();
    assert!(
        run.stdout
            .contains("an empty logfile 'log-000000001-alpha' already exists"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);

    write_log(&f, 1, 4096);
    let t = (LAMPORT.0 + 50, 0);
    f.set_lamport(t);
    f.run(&["log-rotate", "r0"]).ok();
    let snap = f.snapshot();
    let new = &snap[&format!("{DIR}/log-000000002-alpha")];
    assert_eq!((new.kind, new.value.len()), ('f', 0));
    assert_eq!(f.link(&format!("{DIR}/maxnr")), ("2".to_string(), t));
    assert_eq!(f.trigger(), "1");
    // The new logfile is empty: a second rotation does nothing.
    let before = f.snapshot();
    f.run(&["log-rotate", "r0"]).ok();
    assert_eq!(f.snapshot(), before);
    // Nor when it holds only the zeros a running logger writes ahead of its records.
    std::fs::write(
        f.path(&format!("{DIR}/log-000000002-alpha")),
        vec![0u8; 1 << 20],
    )
    .unwrap();
    f.put_link(&format!("{DIR}/version-000000002-alpha"), "x", LAMPORT);
    let before = f.snapshot();
    let run = f.run(&["log-rotate", "r0"]);
    run.ok();
    assert!(
        run.stdout
            .contains("an empty logfile 'log-000000002-alpha' already exists"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
    // A record at its start: it rotates.
    let mut bytes = vec![0u8; 1 << 20];
    bytes[0] = 7;
    std::fs::write(f.path(&format!("{DIR}/log-000000002-alpha")), bytes).unwrap();
    f.set_lamport((LAMPORT.0 + 100, 0));
    f.run(&["log-rotate", "r0"]).ok();
    assert!(f
        .snapshot()
        .contains_key(&format!("{DIR}/log-000000003-alpha")));
}

#[test]
fn log_rotate_is_refused_where_it_would_do_harm() {
    let f = Fixture::with_resource("rotate-refused");
    write_log(&f, 1, 4096);
    let before = f.snapshot();
    f.run(&["log-rotate", "r0"])
        .refused("I need to be the actual primary");
    assert_eq!(f.snapshot(), before);

    f.put_link(&format!("{DIR}/actual-alpha/is-primary"), "1", LAMPORT);
    std::fs::remove_file(f.path(&format!("{DIR}/version-000000001-alpha"))).unwrap();
    let before = f.snapshot();
    f.run(&["log-rotate", "r0"])
        .refused("has no corresponding versionlink");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn log_rotate_skips_small_logfiles_when_many_exist() {
    let f = primary_fixture("rotate-thresh");
    write_log(&f, 1, 100);
    write_log(&f, 2, 100);
    f.put_link(&format!("{DIR}/version-000000002-alpha"), "x", LAMPORT);
    let before = f.snapshot();
    let run = f.run(&["log-rotate", "r0", "--thresh-logfiles=1"]);
    run.ok();
    assert!(run.stdout.contains("skipping log-rotate"), "{}", run.stdout);
    assert_eq!(f.snapshot(), before);
    f.run(&["log-rotate", "r0", "--thresh-logfiles=2"]).ok();
    assert!(f.path(&format!("{DIR}/log-000000003-alpha")).is_file());
}

/// Logfiles 1..=3 with data, version links 0..=3, the replay link in logfile `replayed`.
fn history(tag: &str, replayed: u32) -> Fixture {
    let f = primary_fixture(tag);
    for nr in 1..=3 {
        write_log(&f, nr, 512);
        f.put_link(
            &format!("{DIR}/version-{nr:09}-alpha"),
            &format!("v{nr}"),
            LAMPORT,
        );
    }
    f.put_link(
        &format!("{DIR}/replay-alpha"),
        &format!("log-{replayed:09}-alpha,100,0"),
        LAMPORT,
    );
    f
}

#[test]
fn log_delete_removes_what_every_member_has_replayed() {
    let f = history("delete", 3);
    let t = (LAMPORT.0 + 1000, 0);
    f.set_lamport(t);
    f.run(&["log-delete", "r0"]).ok();
    let deleted = [
        format!("{DIR}/log-000000001-alpha"),
        format!("{DIR}/log-000000002-alpha"),
        format!("{DIR}/version-000000000-alpha"),
        format!("{DIR}/version-000000001-alpha"),
    ];
    for rel in &deleted {
        assert_eq!(f.value(rel), ".deleted", "{rel}");
    }
    assert_stamped_in_order(
        &f,
        t,
        &deleted.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(
        f.path(&format!("{DIR}/log-000000003-alpha")).is_file(),
        "the newest logfile stays"
    );
    assert_eq!(
        f.value(&format!("{DIR}/version-000000002-alpha")),
        "v2",
        "one version link more than logfiles"
    );
    assert_eq!(f.value(&format!("{DIR}/version-000000003-alpha")), "v3");

    // Nothing more is deletable.
    let before = f.snapshot();
    let run = f.run(&["log-delete", "r0"]);
    run.ok();
    assert!(
        run.stdout.contains("no logfiles are deletable"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
}

#[test]
fn log_delete_keeps_what_a_member_still_needs() {
    let f = history("delete-needed", 2);
    // A second member still replays logfile 1.
    f.put_link(
        &format!("{DIR}/replay-bravo"),
        "log-000000001-alpha,0,0",
        LAMPORT,
    );
    let before = f.snapshot();
    f.run(&["log-delete", "r0"]).ok();
    assert_eq!(f.snapshot(), before);
    // Once bravo moved on to logfile 2, logfile 1 goes.
    f.put_link(
        &format!("{DIR}/replay-bravo"),
        "log-000000002-alpha,0,0",
        LAMPORT,
    );
    f.run(&["log-delete", "r0"]).ok();
    assert_eq!(f.value(&format!("{DIR}/log-000000001-alpha")), ".deleted");
    assert!(f.path(&format!("{DIR}/log-000000002-alpha")).is_file());
}

#[test]
fn log_delete_needs_replay_links() {
    let f = history("delete-no-replay", 3);
    std::fs::remove_file(f.path(&format!("{DIR}/replay-alpha"))).unwrap();
    let before = f.snapshot();
    f.run(&["log-delete", "r0"])
        .refused("cannot find any replay symlinks");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn log_delete_is_refused_while_a_member_has_no_replay_link() {
    let f = history("delete-member-without-replay", 3);
    // bravo is a member (data link) but its replay link is missing: it may need anything.
    f.put_link(&format!("{DIR}/data-bravo"), "/dev/vda", LAMPORT);
    let before = f.snapshot();
    f.run(&["log-delete", "r0"])
        .refused("member 'bravo' of 'r0' has no replay link");
    f.run(&["log-delete-all", "r0"])
        .refused("member 'bravo' of 'r0' has no replay link");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn cron_rotates_on_the_primary_and_deletes_what_everyone_replayed() {
    let f = history("cron", 3);
    f.put_link(
        &format!("{DIR}/replay-bravo"),
        "log-000000002-alpha,0,0",
        LAMPORT,
    );
    f.put_link(&format!("{DIR}/data-bravo"), "/dev/vda", LAMPORT);
    f.set_lamport((LAMPORT.0 + 1000, 0));
    f.run(&["cron"]).ok();
    // The newest logfile had data: a new one; logfile 1 is replayed everywhere, 2 is not.
    assert!(f.path(&format!("{DIR}/log-000000004-alpha")).is_file());
    assert_eq!(f.value(&format!("{DIR}/log-000000001-alpha")), ".deleted");
    assert!(f.path(&format!("{DIR}/log-000000002-alpha")).is_file());
    // A secondary (not the actual primary) does not rotate, and cron says nothing about it.
    let g = history("cron-secondary", 3);
    g.put_link(
        &format!("{DIR}/actual-alpha/is-primary"),
        "0",
        (LAMPORT.0 + 1, 0),
    );
    let run = g.run(&["cron"]);
    run.ok();
    assert!(!g.path(&format!("{DIR}/log-000000004-alpha")).exists());
    assert!(!run.stderr.contains("primary"), "{}", run.stderr);
}

/// A cluster of alpha (with r0) and bravo whose heartbeat is `heartbeat` seconds before the
/// fixture's Lamport time (None: no heartbeat), and a tombstone deleted 100 s before it.
fn gc_fixture(tag: &str, heartbeat: Option<i64>) -> Fixture {
    let f = Fixture::with_resource(tag);
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    if let Some(ago) = heartbeat {
        f.put_link("actual-bravo/time", "x", (LAMPORT.0 - ago, 0));
    }
    f.put_link(
        &format!("{DIR}/todo-alpha/old"),
        ".deleted",
        (LAMPORT.0 - 100, 0),
    );
    f.put_link("userspace/old", ".deleted", (LAMPORT.0 - 100, 0));
    f
}

fn collected(f: &Fixture) -> bool {
    let gone = |rel: &str| std::fs::symlink_metadata(f.path(rel)).is_err();
    let a = gone(&format!("{DIR}/todo-alpha/old"));
    assert_eq!(
        a,
        gone("userspace/old"),
        "resource and global tombstones alike"
    );
    a
}

#[test]
fn cron_collects_a_tombstone_only_once_every_peer_has_seen_it() {
    // bravo's last heartbeat is older than the deletion plus --window (60 s): not yet.
    let f = gc_fixture("gc-not-yet", Some(100));
    let before = f.snapshot();
    f.run(&["cron"]).ok();
    assert!(!collected(&f));
    assert_eq!(f.snapshot(), before);
    // Still within --window after the deletion: not yet.
    let f = gc_fixture("gc-window", Some(50));
    f.run(&["cron"]).ok();
    assert!(!collected(&f));
    // bravo did rounds for more than --window after the deletion: collected.
    let f = gc_fixture("gc-seen", Some(30));
    f.run(&["cron", "--dry-run"]).ok();
    assert!(!collected(&f), "--dry-run changes nothing");
    let run = f.run(&["cron"]);
    run.ok();
    assert!(
        run.stdout.contains("collected 2 deleted link(s)"),
        "{}",
        run.stdout
    );
    assert!(collected(&f));
    // Live links are never collected.
    assert_eq!(f.value(&format!("{DIR}/todo-alpha/attach")), "1");
    // No heartbeat of bravo at all: kept (until --keep-backup-hours).
    let f = gc_fixture("gc-silent", None);
    f.run(&["cron"]).ok();
    assert!(!collected(&f));
    f.run(&["cron", "--keep-backup-hours=0"]).ok();
    assert!(
        collected(&f),
        "a peer silent for longer than --keep-backup-hours no longer counts"
    );
    // A smaller --window collects earlier.
    let f = gc_fixture("gc-small-window", Some(50));
    f.run(&["cron", "--window=10"]).ok();
    assert!(collected(&f));
}

#[test]
fn deleted_member_addresses_are_collected_only_after_keep_backup_hours() {
    let f = Fixture::with_resource("gc-ips");
    f.put_link("ips/ip-charlie", ".deleted", (LAMPORT.0 - 100, 0));
    f.put_link("ips/ip-delta", ".deleted", (LAMPORT.0 - 169 * 3600, 0));
    f.run(&["cron"]).ok();
    assert_eq!(f.value("ips/ip-charlie"), ".deleted");
    assert!(std::fs::symlink_metadata(f.path("ips/ip-delta")).is_err());
}
