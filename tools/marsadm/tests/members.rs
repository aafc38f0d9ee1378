// SPDX-License-Identifier: GPL-2.0
//! Membership ends: `leave-resource` is refused on a primary, while switches are on or the
//! kernel still runs something, and for a non-member; otherwise it tombstones exactly this
//! host's links and its logfiles and version links nobody needs, and unlinks its local copies
//! of other hosts' logfiles. `delete-resource` is refused while members are left and then
//! tombstones everything but `maxnr`. Bad input to the membership commands (unknown resource,
//! name clashes, too small device) is refused and changes nothing. `log-purge-all` deletes
//! only left-overs.
//!
//! The tree is shared by both "hosts" (as after the merge): bravo created r0, alpha joined.

mod common;

use common::*;

const DIR: &str = "resource-r0";

/// bravo is the primary of r0 (on the fixture's disk), alpha a secondary on a second disk.
fn two_hosts(tag: &str) -> Fixture {
    let f = Fixture::new(tag);
    f.run_as("bravo", &["create-cluster", "--ip=10.0.0.2"]).ok();
    f.put_link("ips/ip-alpha", "10.0.0.1", LAMPORT);
    f.run_as("bravo", &["create-resource", "r0", f.disk_arg()])
        .ok();
    let disk2 = f.dir.join("disk2.img");
    std::fs::write(&disk2, vec![0u8; DISK_SIZE as usize]).unwrap();
    f.set_lamport(add_ns(LAMPORT, 1000));
    f.run(&["join-resource", "r0", disk2.to_str().unwrap()])
        .ok();
    f.set_lamport((LAMPORT.0 + 100, 0));
    f
}

fn is_tombstone(f: &Fixture, rel: &str) -> bool {
    f.link(rel).0 == ".deleted"
}

/// Every entry that differs between two snapshots.
fn changed(
    a: &std::collections::BTreeMap<String, Snap>,
    b: &std::collections::BTreeMap<String, Snap>,
) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

#[test]
fn leave_resource_is_refused_while_unsafe_and_changes_nothing() {
    let f = two_hosts("leave-refused");
    let before = f.snapshot();
    // Switches still on (no `down` yet).
    let run = f.run(&["leave-resource", "r0"]);
    run.refused("still active in resource 'r0'");
    assert!(
        run.stderr.contains("switch 'todo-alpha/attach' is not off"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("marsadm down r0"), "{}", run.stderr);
    assert_eq!(f.snapshot(), before);

    f.run(&["down", "r0"]).ok();
    // The kernel still reports an activity.
    f.put_link(&format!("{DIR}/actual-alpha/is-replaying"), "1", LAMPORT);
    let before = f.snapshot();
    let run = f.run(&["leave-resource", "r0"]);
    run.refused("still active");
    assert!(
        run.stderr
            .contains("'actual-alpha/is-replaying' is not off"),
        "{}",
        run.stderr
    );
    assert_eq!(f.snapshot(), before);
    f.put_link(&format!("{DIR}/actual-alpha/is-replaying"), "0", LAMPORT);

    // No leave while primary: designated, or actually running as primary.
    f.put_link(&format!("{DIR}/primary"), "alpha", (LAMPORT.0 + 1, 0));
    let before = f.snapshot();
    f.run(&["leave-resource", "r0"])
        .refused("cannot be executed on designated primary 'alpha'");
    assert_eq!(f.snapshot(), before);
    f.put_link(&format!("{DIR}/primary"), "bravo", (LAMPORT.0 + 2, 0));
    f.put_link(&format!("{DIR}/actual-alpha/is-primary"), "1", LAMPORT);
    let before = f.snapshot();
    f.run(&["leave-resource", "r0"])
        .refused("cannot be executed on actual primary 'alpha'");
    assert_eq!(f.snapshot(), before);

    // Not a member, unknown or deleted resource, bad name.
    f.run_as("charlie", &["leave-resource", "r0"])
        .refused("no member of resource 'r0'");
    f.run(&["leave-resource", "r9"])
        .refused("resource 'r9' does not exist");
    f.run(&["leave-resource", "bad.name"])
        .refused("resource name 'bad.name'");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn leave_resource_deletes_this_hosts_links_and_what_nobody_needs() {
    let f = two_hosts("leave");
    let dir = |n: &str| format!("{DIR}/{n}");
    // History: bravo's chain names logfile 2 of alpha (an earlier handover); alpha has a
    // left-over logfile 3 of its own (split brain) and copies of bravo's logfiles.
    for nr in 1..=4u32 {
        let origin = if nr == 2 { "alpha" } else { "bravo" };
        f.put_link(
            &dir(&format!("version-{nr:09}-bravo")),
            &format!("{:032},log-{nr:09}-{origin},10:", 0),
            LAMPORT,
        );
    }
    f.put_link(&dir("replay-bravo"), "log-000000004-bravo,0,0", LAMPORT);
    std::fs::write(f.path(&dir("log-000000002-alpha")), b"needed").unwrap();
    f.put_link(
        &dir("version-000000002-alpha"),
        &format!("{:032},log-000000002-alpha,6:", 0),
        LAMPORT,
    );
    std::fs::write(f.path(&dir("log-000000003-alpha")), b"leftover").unwrap();
    f.put_link(
        &dir("version-000000003-alpha"),
        &format!("{:032},log-000000003-alpha,8:", 0),
        LAMPORT,
    );
    f.put_link(
        &dir("version-000000001-alpha"),
        &format!("{:032},log-000000001-bravo,0:", 0),
        LAMPORT,
    );
    std::fs::write(f.path(&dir("log-000000004-bravo")), b"copy").unwrap();
    f.put_link(&dir("actual-alpha/msg-err-replay"), "x", LAMPORT);
    f.put_link(&dir("syncpos-alpha"), "log-000000001-bravo,0,0", LAMPORT);
    f.run(&["down", "r0"]).ok();

    let before = f.snapshot();
    let t = (LAMPORT.0 + 200, 0);
    f.set_lamport(t);
    f.clear_trigger();
    f.run(&["leave-resource", "r0"]).ok();
    let after = f.snapshot();

    let mut expected_tombstones = vec![
        dir("replay-alpha"),
        dir("data-alpha"),
        dir("device-alpha"),
        dir("syncstatus-alpha"),
        dir("syncpos-alpha"),
        dir("actual-alpha/msg-err-replay"),
        dir("log-000000003-alpha"),
        dir("version-000000003-alpha"),
        dir("version-000000001-alpha"),
    ];
    for switch in ["attach", "connect", "sync", "allow-replay"] {
        expected_tombstones.push(dir(&format!("todo-alpha/{switch}")));
    }
    for rel in &expected_tombstones {
        assert!(is_tombstone(&f, rel), "{rel} not deleted");
        assert!(f.link(rel).1 >= t, "{rel} stamped before the command");
    }
    // Fetched copies of bravo's logfiles are gone here, without a tombstone (which would
    // delete bravo's own files).
    for copy in ["log-000000001-bravo", "log-000000004-bravo"] {
        assert!(
            !f.path(&dir(copy)).exists() && std::fs::symlink_metadata(f.path(&dir(copy))).is_err(),
            "{copy}"
        );
    }
    // What a remaining member needs stays: alpha's logfile 2 in bravo's history and its
    // version link; all of bravo's links.
    assert_eq!(
        std::fs::read(f.path(&dir("log-000000002-alpha"))).unwrap(),
        b"needed"
    );
    assert!(!is_tombstone(&f, &dir("version-000000002-alpha")));
    let mut expected: Vec<String> = expected_tombstones.clone();
    expected.push(dir("log-000000001-bravo"));
    expected.push(dir("log-000000004-bravo"));
    // The tree root's own entries and the directories' mtimes may change; nothing else.
    let mut diff: Vec<String> = changed(&before, &after)
        .into_iter()
        .filter(|k| after.get(k).is_none_or(|s| s.kind != 'd'))
        .collect();
    diff.sort();
    expected.sort();
    assert_eq!(diff, expected);
    // Tell the peers.
    assert_eq!(f.trigger(), "9");

    // Leaving again: no member any more.
    let before = f.snapshot();
    f.run(&["leave-resource", "r0"])
        .refused("no member of resource 'r0'");
    assert_eq!(f.snapshot(), before);
    // view no longer lists r0 on alpha.
    let view = f.run(&["view"]);
    view.ok();
    assert!(!view.stdout.contains("r0"), "{}", view.stdout);
}

#[test]
fn delete_resource_needs_every_member_gone_then_deletes_everything_but_maxnr() {
    let f = two_hosts("delete");
    let before = f.snapshot();
    f.run(&["delete-resource", "r0"])
        .refused("first remove the hosts 'alpha,bravo' via leave-resource");
    assert_eq!(f.snapshot(), before);

    f.run(&["down", "r0"]).ok();
    f.run(&["leave-resource", "r0"]).ok();
    let before = f.snapshot();
    f.run(&["delete-resource", "r0"])
        .refused("first remove the hosts 'bravo'");
    assert_eq!(f.snapshot(), before);

    f.set_lamport((LAMPORT.0 + 300, 0));
    f.run_as("bravo", &["secondary", "r0", "--timeout=0"]);
    f.run_as("bravo", &["down", "r0"]).ok();
    f.run_as("bravo", &["leave-resource", "r0"]).ok();
    f.set_lamport((LAMPORT.0 + 400, 0));
    f.run(&["delete-resource", "r0"]).ok();
    for (rel, snap) in f.snapshot() {
        if !rel.starts_with(DIR) || snap.kind == 'd' {
            continue;
        }
        if rel == format!("{DIR}/maxnr") {
            assert_eq!(snap.value, b"1");
            continue;
        }
        assert_eq!(
            (snap.kind, snap.value.as_slice()),
            ('l', b".deleted".as_slice()),
            "{rel}"
        );
    }
    // The resource is gone for every command.
    f.run(&["view", "r0"])
        .refused("does not exist (it was deleted)");
    f.run(&["delete-resource", "r0"])
        .refused("does not exist (it was deleted)");
    let disk2 = f.dir.join("disk2.img");
    f.run(&["join-resource", "r0", disk2.to_str().unwrap()])
        .refused("was deleted");
    // A new resource of the same name starts beyond the old logfile numbers.
    f.set_lamport((LAMPORT.0 + 500, 0));
    f.run(&["create-resource", "r0", disk2.to_str().unwrap()])
        .ok();
    assert!(f.path(&format!("{DIR}/log-000100001-alpha")).is_file());
    assert_eq!(f.value(&format!("{DIR}/primary")), "alpha");
}

#[test]
fn bad_membership_input_is_refused_and_changes_nothing() {
    let f = two_hosts("bad-input");
    let small = f.dir.join("small.img");
    std::fs::write(&small, vec![0u8; (DISK_SIZE / 2) as usize]).unwrap();
    let other = f.dir.join("other.img");
    std::fs::write(&other, vec![0u8; DISK_SIZE as usize]).unwrap();
    let before = f.snapshot();
    // Name clashes: the resource exists with members; the device name is taken by r0.
    f.run_as(
        "charlie",
        &["create-resource", "r0", other.to_str().unwrap()],
    )
    .refused("already member of resource 'r0'");
    f.run(&["create-resource", "r1", other.to_str().unwrap(), "r0"])
        .refused("Device name '/dev/mars/r0' already exists");
    // join-resource: unknown resource, already member, too small device.
    f.run_as("charlie", &["join-resource", "r9", other.to_str().unwrap()])
        .refused("resource 'r9' does not exist");
    f.run(&["join-resource", "r0", other.to_str().unwrap()])
        .refused("already member of resource 'r0'");
    f.run_as("charlie", &["join-resource", "r0", small.to_str().unwrap()])
        .refused("less than the resource size");
    // delete-resource of an unknown resource, log-purge-all of one.
    f.run(&["delete-resource", "r9"]).refused("does not exist");
    f.run(&["log-purge-all", "r9"]).refused("does not exist");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn log_purge_all_deletes_only_left_overs_of_this_host() {
    let f = two_hosts("purge");
    let dir = |n: &str| format!("{DIR}/{n}");
    // alpha's replay link is at logfile 1 of bravo; bravo writes logfile 3 (history 1..3).
    for nr in 1..=3u32 {
        f.put_link(
            &dir(&format!("version-{nr:09}-bravo")),
            &format!("{:032},log-{nr:09}-bravo,10:", 0),
            LAMPORT,
        );
    }
    f.put_link(&dir("replay-bravo"), "log-000000003-bravo,0,0", LAMPORT);
    f.put_link(
        &dir("version-000000001-alpha"),
        &format!("{:032},log-000000001-bravo,10:", 0),
        LAMPORT,
    );
    // alpha's left-overs of a failover: logfile 2 of its own and its version link.
    std::fs::write(f.path(&dir("log-000000002-alpha")), b"split").unwrap();
    f.put_link(
        &dir("version-000000002-alpha"),
        &format!("{:032},log-000000002-alpha,5:", 0),
        LAMPORT,
    );
    // A left-over of another host is not ours to delete (without --force).
    std::fs::write(f.path(&dir("log-000000002-charlie")), b"other").unwrap();
    f.run(&["log-purge-all", "r0"]).ok();
    // alpha's replay link is at logfile 1: its version link 2 is no history of it.
    assert!(is_tombstone(&f, &dir("version-000000002-alpha")));
    assert!(is_tombstone(&f, &dir("log-000000002-alpha")));
    assert!(
        !is_tombstone(&f, &dir("version-000000001-alpha")),
        "alpha's history stays"
    );
    assert!(f.path(&dir("log-000000002-charlie")).is_file());
    assert!(
        f.path(&dir("log-000000001-bravo")).is_file(),
        "named by a replay link"
    );
    let before = f.snapshot();
    let run = f.run(&["log-purge-all", "r0"]);
    run.ok();
    assert!(run.stdout.contains("nothing to purge"), "{}", run.stdout);
    assert_eq!(f.snapshot(), before);
    f.run(&["log-purge-all", "r0", "--force"]).ok();
    assert!(is_tombstone(&f, &dir("log-000000002-charlie")));
}
