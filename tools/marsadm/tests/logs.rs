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
    std::fs::write(f.path(&format!("{DIR}/log-{nr:09}-alpha")), vec![7u8; bytes]).unwrap();
}

#[test]
fn log_rotate_starts_the_next_logfile_when_the_current_one_has_data() {
    let f = primary_fixture("rotate");
    // An empty current logfile: nothing to do.
    let before = f.snapshot();
    let run = f.run(&["log-rotate", "r0"]);
    run.ok();
    assert!(run.stdout.contains("an empty logfile 'log-000000001-alpha' already exists"), "{}", run.stdout);
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
}

#[test]
fn log_rotate_is_refused_where_it_would_do_harm() {
    let f = Fixture::with_resource("rotate-refused");
    write_log(&f, 1, 4096);
    let before = f.snapshot();
    f.run(&["log-rotate", "r0"]).refused("I need to be the actual primary");
    assert_eq!(f.snapshot(), before);

    f.put_link(&format!("{DIR}/actual-alpha/is-primary"), "1", LAMPORT);
    std::fs::remove_file(f.path(&format!("{DIR}/version-000000001-alpha"))).unwrap();
    let before = f.snapshot();
    f.run(&["log-rotate", "r0"]).refused("has no corresponding versionlink");
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
        f.put_link(&format!("{DIR}/version-{nr:09}-alpha"), &format!("v{nr}"), LAMPORT);
    }
    f.put_link(&format!("{DIR}/replay-alpha"), &format!("log-{replayed:09}-alpha,100,0"), LAMPORT);
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
    assert_stamped_in_order(&f, t, &deleted.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(f.path(&format!("{DIR}/log-000000003-alpha")).is_file(), "the newest logfile stays");
    assert_eq!(f.value(&format!("{DIR}/version-000000002-alpha")), "v2", "one version link more than logfiles");
    assert_eq!(f.value(&format!("{DIR}/version-000000003-alpha")), "v3");

    // Nothing more is deletable.
    let before = f.snapshot();
    let run = f.run(&["log-delete", "r0"]);
    run.ok();
    assert!(run.stdout.contains("no logfiles are deletable"), "{}", run.stdout);
    assert_eq!(f.snapshot(), before);
}

#[test]
fn log_delete_keeps_what_a_member_still_needs() {
    let f = history("delete-needed", 2);
    // A second member still replays logfile 1.
    f.put_link(&format!("{DIR}/replay-bravo"), "log-000000001-alpha,0,0", LAMPORT);
    let before = f.snapshot();
    f.run(&["log-delete", "r0"]).ok();
    assert_eq!(f.snapshot(), before);
    // Once bravo moved on to logfile 2, logfile 1 goes.
    f.put_link(&format!("{DIR}/replay-bravo"), "log-000000002-alpha,0,0", LAMPORT);
    f.run(&["log-delete", "r0"]).ok();
    assert_eq!(f.value(&format!("{DIR}/log-000000001-alpha")), ".deleted");
    assert!(f.path(&format!("{DIR}/log-000000002-alpha")).is_file());
}

#[test]
fn log_delete_needs_replay_links() {
    let f = history("delete-no-replay", 3);
    std::fs::remove_file(f.path(&format!("{DIR}/replay-alpha"))).unwrap();
    let before = f.snapshot();
    f.run(&["log-delete", "r0"]).refused("cannot find any replay symlinks");
    assert_eq!(f.snapshot(), before);
}
