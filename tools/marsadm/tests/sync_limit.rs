// SPDX-License-Identifier: GPL-2.0
//! The host's sync limit (`set-global-sync-limit-value`, `get-global-sync-limit-value` and
//! their deprecated old names) in `defaults-<host>/sync-limit`, the stored connect preference
//! list (`set-connect-pref-list`, `get-connect-pref-list`) in `resource-<res>/connect-<host>`,
//! and the refused `set-disabled-digests`. Bad arguments are refused and change nothing.

mod common;

use common::*;

const LIMIT: &str = "defaults-alpha/sync-limit";

#[test]
fn the_sync_limit_is_written_where_the_original_writes_it_and_read_back() {
    let f = Fixture::with_resource("sync-limit");
    assert_eq!(f.value(LIMIT), "0", "create-cluster writes no limit");
    let run = f.run(&["get-global-sync-limit-value"]);
    run.ok();
    assert_eq!(run.stdout, "0\n");
    f.clear_trigger();
    let run = f.run(&["set-global-sync-limit-value", "2"]);
    run.ok();
    assert!(run.stdout.contains("at most 2"), "{}", run.stdout);
    assert!(!run.stderr.contains("deprecated"), "{}", run.stderr);
    assert_eq!(f.value(LIMIT), "2");
    assert_eq!(f.trigger(), "1", "the local kernel is told");
    assert_eq!(f.run(&["get-global-sync-limit-value"]).stdout, "2\n");
    // The original's old names work and warn.
    let run = f.run(&["set-sync-limit-value", "1"]);
    run.ok();
    assert!(run.stderr.contains("deprecated"), "{}", run.stderr);
    assert_eq!(f.value(LIMIT), "1");
    let run = f.run(&["get-sync-limit-value"]);
    run.ok();
    assert_eq!(run.stdout, "1\n");
    assert!(run.stderr.contains("deprecated"), "{}", run.stderr);
    // 0: no limit; the bounds are accepted.
    f.run(&["set-global-sync-limit-value", "4096"]).ok();
    assert_eq!(f.value(LIMIT), "4096");
    f.run(&["set-global-sync-limit-value", "0"]).ok();
    assert_eq!(f.value(LIMIT), "0");
    // The view's hint (the original's default-footer macro) names a limit.
    f.run(&["set-global-sync-limit-value", "3"]).ok();
    let run = f.run(&["view-global-sync-limit-value", "r0"]);
    run.ok();
    assert_eq!(run.stdout.trim(), "3");
}

#[test]
fn bad_sync_limits_are_refused_and_change_nothing() {
    let f = Fixture::with_resource("sync-limit-bad");
    f.run(&["set-global-sync-limit-value", "2"]).ok();
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    let before = f.snapshot();
    for bad in [
        "-1",
        "4097",
        "abc",
        "",
        " ",
        "0x10",
        "1e3",
        "+1",
        "1,2",
        "2 3",
        "99999999999999999999",
    ] {
        f.run(&["set-global-sync-limit-value", bad])
            .refused("is not a whole number from 0 (no limit) to 4096");
        f.run(&["set-sync-limit-value", bad])
            .refused("is not a whole number");
    }
    // Missing argument: usage error.
    assert_eq!(f.run(&["set-global-sync-limit-value"]).code, 2);
    // Acting as another host changes nothing either.
    f.run(&["set-global-sync-limit-value", "1", "--host=bravo"])
        .refused("would change the tree in the name of host 'bravo'");
    assert_eq!(before, f.snapshot());
}

#[test]
fn without_the_defaults_directory_the_sync_limit_is_refused() {
    let f = Fixture::with_resource("sync-limit-nodir");
    std::fs::remove_dir_all(f.path("defaults-alpha")).unwrap();
    let before = f.snapshot();
    f.run(&["set-global-sync-limit-value", "1"])
        .refused("directory 'defaults-alpha' does not exist");
    f.run(&["get-global-sync-limit-value"])
        .refused("directory 'defaults-alpha' does not exist");
    assert_eq!(before, f.snapshot());
}

const PREF: &str = "resource-r0/connect-alpha";

#[test]
fn the_connect_preference_list_is_stored_as_the_original_stores_it() {
    let f = Fixture::with_resource("connect-pref");
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    f.put_link("ips/ip-charlie", "10.0.0.3", LAMPORT);
    let run = f.run(&["get-connect-pref-list", "r0"]);
    run.ok();
    assert_eq!(run.stdout, "\n");
    let run = f.run(&["set-connect-pref-list", "r0", "bravo,charlie"]);
    run.ok();
    assert!(run.stderr.contains("deprecated"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("stored only: this MARS fetches every logfile from its origin"),
        "{}",
        run.stderr
    );
    assert_eq!(f.value(PREF), "bravo,charlie");
    assert_eq!(
        f.run(&["get-connect-pref-list", "r0"]).stdout,
        "bravo,charlie\n"
    );
    // An empty list deletes it.
    let run = f.run(&["set-connect-pref-list", "r0", ""]);
    run.ok();
    assert!(run.stderr.contains("deleting"), "{}", run.stderr);
    assert_eq!(f.value(PREF), ".deleted");
    assert_eq!(f.run(&["get-connect-pref-list", "r0"]).stdout, "\n");
}

#[test]
fn bad_connect_preference_lists_are_refused_and_change_nothing() {
    let f = Fixture::with_resource("connect-pref-bad");
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    f.run(&["set-connect-pref-list", "r0", "bravo"]).ok();
    let before = f.snapshot();
    for (list, why) in [
        ("bravo,zulu", "host 'zulu' does not exist"),
        ("bravo;alpha", "disallowed characters"),
        (",bravo", "disallowed characters"),
        ("../x", "disallowed characters"),
        ("bravo,,alpha", "host name ''"),
    ] {
        f.run(&["set-connect-pref-list", "r0", list]).refused(why);
    }
    f.run(&["set-connect-pref-list", "r9", "bravo"])
        .refused("resource 'r9' does not exist");
    f.run(&["get-connect-pref-list", "r9"])
        .refused("resource 'r9' does not exist");
    assert_eq!(f.run(&["get-connect-pref-list"]).code, 2);
    assert_eq!(before, f.snapshot());
}

#[test]
fn set_disabled_digests_is_refused_with_the_reason() {
    let f = Fixture::with_resource("disabled-digests");
    let before = f.snapshot();
    f.run(&["set-disabled-digests", "r0", "CHKSUM_MD5"])
        .refused("per-resource digests are not implemented");
    assert_eq!(before, f.snapshot());
}
