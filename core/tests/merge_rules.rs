// SPDX-License-Identifier: GPL-2.0
//! The merge rules (`mars_core::merge_rules`) against a model `/mars` with symlinks: the
//! attacks a hostile member could mount through its listing, one test each, and properties
//! over random listings: nothing outside `/mars` is touched, no symlink ends up where the
//! layout has a directory, this host's keys never change from a peer, another host's keys
//! change only from that host.

mod merge_model;

use mars_core::lamport::Stamp;
use mars_core::merge::KeepReason;
use mars_core::merge_rules::{decide, Action, Decision, EntryKind, Keep, Local, Received, Refusal};
use mars_core::tree::TreeError;
use merge_model::{apply_checked, context, dir, link, Fs, Node, Resolver};
use proptest::prelude::*;

const ME: &str = "alpha";
const PEER: &str = "bravo";
const THIRD: &str = "charlie";

fn refused(fs: &mut Fs, entry: Received<'_>, resolver: Resolver) -> Option<Refusal> {
    match fs.apply(&context(ME, PEER), &entry, resolver).decision {
        Some(Decision::Refuse(r)) => Some(r),
        _ => None,
    }
}

#[test]
fn symlinked_resource_directory_to_etc_is_refused_and_etc_untouched() {
    for resolver in [Resolver::Confined, Resolver::Following] {
        let mut fs = Fs::standard(ME);
        let before = fs.outside();
        assert_eq!(
            refused(&mut fs, link("resource-x", "/etc", 20), resolver),
            Some(Refusal::LinkAtDirKey)
        );
        fs.apply(
            &context(ME, PEER),
            &link("resource-x/passwd", ".deleted", 30),
            resolver,
        );
        fs.apply(
            &context(ME, PEER),
            &link("resource-x/log-000000001-bravo", ".deleted", 30),
            resolver,
        );
        assert_eq!(fs.outside(), before, "{resolver:?}");
        assert!(!fs.nodes.contains_key("/mars/resource-x"));
    }
}

#[test]
fn a_planted_symlink_at_a_directory_key_is_never_walked_through() {
    // Left by an older version or an operator: the confined lookup refuses to pass it.
    let mut fs = Fs::standard(ME);
    fs.nodes.insert(
        "/mars/resource-x".into(),
        Node::Link("/etc".into(), Stamp::new(5, 0)),
    );
    let before = fs.outside();
    for entry in [
        link("resource-x/log-000000001-bravo", ".deleted", 30),
        link("resource-x/size", "1", 30),
        dir("resource-x/todo-bravo", 30),
    ] {
        let outcome = fs.apply(&context(ME, PEER), &entry, Resolver::Confined);
        assert!(outcome.lookup_refused, "{entry:?}");
    }
    assert_eq!(fs.outside(), before);
    // The following resolver would have reached /etc: the rules still keep a regular file
    // there (no logfile key below a link), which is why both layers exist.
    let outcome = fs.apply(
        &context(ME, PEER),
        &link("resource-x/passwd", ".deleted", 30),
        Resolver::Following,
    );
    assert_eq!(
        outcome.decision,
        Some(Decision::Refuse(Refusal::LocalNotLink))
    );
    assert_eq!(fs.outside(), before);
}

#[test]
fn unknown_top_level_link_cannot_become_a_directory_on_the_way() {
    let mut fs = Fs::standard(ME);
    let before = fs.outside();
    // An unknown key is a link of a newer version: taken ...
    assert_eq!(
        fs.apply(
            &context(ME, PEER),
            &link("foo", "/mars/resource-r", 20),
            Resolver::Following
        )
        .decision,
        Some(Decision::Take(Action::CreateLink))
    );
    // ... but never a directory on the way to another key.
    assert_eq!(
        refused(
            &mut fs,
            link("foo/passwd", ".deleted", 30),
            Resolver::Following
        ),
        Some(Refusal::ParentNotDir)
    );
    assert_eq!(fs.outside(), before);
}

#[test]
fn own_keys_never_change_from_a_peer() {
    let mut fs = Fs::standard(ME);
    for (path, value) in [
        ("resource-r/data-alpha", "/dev/sda"),
        ("resource-r/data-alpha", ".deleted"),
        ("resource-r/device-alpha", ".deleted"),
        ("resource-r/todo-alpha/attach", "0"),
        ("resource-r/replay-alpha", "log-000000002-bravo,0,0"),
        ("ips/ip-alpha", "10.9.9.9"),
        ("actual-alpha/alive", "0"),
    ] {
        let before = fs.clone();
        assert_eq!(
            refused(&mut fs, link(path, value, 100), Resolver::Confined),
            Some(Refusal::OwnKey),
            "{path}"
        );
        assert_eq!(fs, before);
    }
    // Unless older: then nothing is suspicious (every pull relays copies of them).
    assert_eq!(
        fs.apply(
            &context(ME, PEER),
            &link("resource-r/data-alpha", "/dev/sda", 5),
            Resolver::Confined
        )
        .decision,
        Some(Decision::Keep(Keep::Older(KeepReason::LocalNewer)))
    );
}

#[test]
fn another_hosts_keys_come_only_from_that_host() {
    let mut fs = Fs::standard(ME);
    let from_third = context(ME, THIRD);
    let entry = link("resource-r/replay-bravo", "log-000000001-alpha,0,0", 20);
    assert_eq!(
        fs.apply(&from_third, &entry, Resolver::Confined).decision,
        Some(Decision::Keep(Keep::Relayed))
    );
    assert!(!fs.nodes.contains_key("/mars/resource-r/replay-bravo"));
    assert_eq!(
        fs.apply(&context(ME, PEER), &entry, Resolver::Confined)
            .decision,
        Some(Decision::Take(Action::CreateLink))
    );
    // A switch of bravo from charlie: relayed, not taken; from bravo: taken.
    let switch = link("resource-r/todo-bravo/attach", "1", 20);
    assert_eq!(
        fs.apply(&from_third, &switch, Resolver::Confined).decision,
        Some(Decision::Keep(Keep::Relayed))
    );
    assert_eq!(
        fs.apply(&context(ME, PEER), &switch, Resolver::Confined)
            .decision,
        Some(Decision::Take(Action::CreateLink))
    );
    assert!(fs.nodes.contains_key("/mars/resource-r/todo-bravo/attach"));
}

#[test]
fn a_new_member_address_comes_from_any_member_a_known_one_only_from_its_host() {
    let mut fs = Fs::standard(ME);
    let from_third = context(ME, THIRD);
    assert_eq!(
        fs.apply(
            &from_third,
            &link("ips/ip-delta", "10.0.0.4", 20),
            Resolver::Confined
        )
        .decision,
        Some(Decision::Take(Action::CreateLink))
    );
    assert_eq!(
        fs.apply(
            &from_third,
            &link("ips/ip-delta", "10.6.6.6", 30),
            Resolver::Confined
        )
        .decision,
        Some(Decision::Keep(Keep::Relayed))
    );
    assert_eq!(
        fs.apply(
            &context(ME, "delta"),
            &link("ips/ip-delta", "10.0.0.5", 30),
            Resolver::Confined
        )
        .decision,
        Some(Decision::Take(Action::ReplaceLink))
    );
    assert_eq!(
        refused(
            &mut fs,
            link("ips/ip-echo", "evil.example", 30),
            Resolver::Confined
        ),
        Some(Refusal::BadValue(TreeError::BadIp))
    );
}

#[test]
fn no_value_from_a_peer_points_outside_mars_and_dev() {
    let mut fs = Fs::standard(ME);
    // A name this version does not know, and the free userspace/ area: any value, but none
    // that leads out of the tree.
    for (path, value) in [
        ("esc", "/etc"),
        ("userspace/x", "/etc/passwd"),
        ("userspace/x", "../../etc"),
        ("userspace/x", "a/../../etc"),
        ("userspace/x", "/mars/../etc"),
        ("resource-r0/unknown-key", "/root"),
    ] {
        assert_eq!(
            refused(&mut fs, link(path, value, 30), Resolver::Confined),
            Some(Refusal::ValueLeavesMars),
            "{path} -> {value}"
        );
    }
    for (path, value) in [
        ("userspace/x", "/mars/resource-r0"),
        ("userspace/y", "EMERGENCY: /mars full: logging stopped"),
        ("userspace/z", "..."),
    ] {
        assert_eq!(
            fs.apply(
                &context(ME, PEER),
                &link(path, value, 30),
                Resolver::Confined
            )
            .decision,
            Some(Decision::Take(Action::CreateLink)),
            "{path} -> {value}"
        );
    }
}

#[test]
fn logfile_and_version_tombstones_come_from_any_member() {
    let mut fs = Fs::standard(ME);
    // The local logfile of alpha yields to charlie's newer tombstone (log-delete there).
    let tomb = link("resource-r/log-000000001-alpha", ".deleted", 20);
    assert_eq!(
        fs.apply(&context(ME, THIRD), &tomb, Resolver::Confined)
            .decision,
        Some(Decision::Take(Action::DeleteFile))
    );
    assert_eq!(
        fs.nodes.get("/mars/resource-r/log-000000001-alpha"),
        Some(&Node::Link(".deleted".into(), Stamp::new(20, 0)))
    );
    // A logfile key never takes a value.
    assert_eq!(
        refused(
            &mut fs,
            link("resource-r/log-000000002-alpha", "/etc/passwd", 30),
            Resolver::Confined
        ),
        Some(Refusal::LogNotTombstone)
    );
    // Own version links: a tombstone is housekeeping, a value is not.
    fs.nodes.insert(
        "/mars/resource-r/version-000000001-alpha".into(),
        Node::Link("x".into(), Stamp::new(10, 0)),
    );
    let version_tomb = link("resource-r/version-000000001-alpha", ".deleted", 20);
    assert_eq!(
        fs.apply(&context(ME, THIRD), &version_tomb, Resolver::Confined)
            .decision,
        Some(Decision::Take(Action::DeleteLink))
    );
    let digest = "0123456789abcdef0123456789abcdef";
    let value = format!("{digest},log-000000001-alpha,0:");
    assert_eq!(
        refused(
            &mut fs,
            link("resource-r/version-000000001-alpha", &value, 30),
            Resolver::Confined
        ),
        Some(Refusal::OwnKey)
    );
}

#[test]
fn shapes_are_checked() {
    let mut fs = Fs::standard(ME);
    for (entry, want) in [
        (
            link("resource-r/size", "12x", 30),
            Refusal::BadValue(TreeError::BadNumber),
        ),
        (
            link("resource-r/primary", "a\nb", 30),
            Refusal::ControlCharacter,
        ),
        (
            link("resource-r/data-bravo", "../../etc/shadow", 30),
            Refusal::BadValue(TreeError::BadPath),
        ),
        (
            link("resource-r/data-bravo", "/dev/../etc/shadow", 30),
            Refusal::BadValue(TreeError::BadPath),
        ),
        (link("resource-r/..", "1", 30), Refusal::NotMergeable),
        (link("resource-r/.tmp-size", "1", 30), Refusal::NotMergeable),
        (link("local-alpha/x", "1", 30), Refusal::NotMergeable),
        (
            link("resource-r/todo-bravo", "1", 30),
            Refusal::LinkAtDirKey,
        ),
        (link("ips", "/etc", 30), Refusal::LinkAtDirKey),
        (link("userspace", "/etc", 30), Refusal::LinkAtDirKey),
        (dir("resource-r/size", 30), Refusal::DirNotAllowed),
        (dir("ips/ip-bravo", 30), Refusal::DirNotAllowed),
        (
            dir("resource-r/log-000000001-alpha", 30),
            Refusal::DirNotAllowed,
        ),
    ] {
        assert_eq!(
            fs.apply(&context(ME, PEER), &entry, Resolver::Confined)
                .decision,
            Some(Decision::Refuse(want)),
            "{entry:?}"
        );
    }
    // Directories this version does not make from a peer: no refusal.
    for entry in [
        dir("lost+found", 30),
        dir("ips", 30),
        dir("resource-r/newer", 30),
    ] {
        let local = if entry.path == "ips" {
            Local::Dir
        } else {
            Local::Missing
        };
        assert!(
            matches!(decide(&context(ME, PEER), &entry, local), Decision::Keep(_)),
            "{entry:?}"
        );
    }
    assert_eq!(
        decide(
            &context(ME, PEER),
            &dir("resource-r/userspace", 30),
            Local::Missing
        ),
        Decision::Take(Action::MakeDir)
    );
    // A local directory or file where a link is sent stays.
    assert_eq!(
        decide(
            &context(ME, PEER),
            &link("resource-r/size", "5", 99),
            Local::Dir
        ),
        Decision::Refuse(Refusal::LocalNotLink)
    );
    assert_eq!(
        decide(
            &context(ME, PEER),
            &link("resource-r/size", ".deleted", 99),
            Local::File(Stamp::new(1, 0))
        ),
        Decision::Refuse(Refusal::LocalNotLink)
    );
}

#[test]
fn uuid_is_adopted_only_while_joining() {
    let joining = link("uuid", "(any)", 1);
    assert_eq!(
        decide(
            &context(ME, PEER),
            &link("uuid", "bravo_5.0", 5),
            Local::Link(mars_core::merge::Stamped {
                value: joining.value,
                stamp: joining.stamp
            })
        ),
        Decision::Take(Action::ReplaceLink)
    );
    assert_eq!(
        decide(
            &context(ME, PEER),
            &link("uuid", "evil_9.0", 90),
            Local::Link(mars_core::merge::Stamped {
                value: "alpha_1.0",
                stamp: Stamp::new(1, 0)
            })
        ),
        Decision::Keep(Keep::UuidFixed)
    );
}

#[test]
fn cluster_wide_keys_follow_the_lamport_rule_from_any_member() {
    let mut fs = Fs::standard(ME);
    for (peer, sec) in [(PEER, 50), (THIRD, 60)] {
        let outcome = fs.apply(
            &context(ME, peer),
            &link("resource-r/primary", peer, sec),
            Resolver::Confined,
        );
        assert!(matches!(outcome.decision, Some(Decision::Take(_))));
    }
    // A new resource from any member: its directory and the switches of its owner.
    assert_eq!(
        fs.apply(
            &context(ME, PEER),
            &dir("resource-s", 5),
            Resolver::Confined
        )
        .decision,
        Some(Decision::Take(Action::MakeDir))
    );
    assert_eq!(
        fs.apply(
            &context(ME, PEER),
            &link("resource-s/todo-bravo/attach", "1", 5),
            Resolver::Confined
        )
        .decision,
        Some(Decision::Take(Action::CreateLink))
    );
    assert_eq!(
        fs.nodes.get("/mars/resource-s/todo-bravo"),
        Some(&Node::Dir)
    );
    // Files are fetched over the log port.
    let file = Received {
        kind: EntryKind::File,
        path: "resource-r/log-000000003-bravo",
        value: "",
        stamp: Stamp::new(1, 0),
    };
    assert_eq!(
        decide(&context(ME, PEER), &file, Local::Missing),
        Decision::Keep(Keep::File)
    );
}

#[test]
fn systemd_trigger_files_are_each_hosts_own() {
    // The kernel touches its own; a peer's file, link or tombstone (delete-resource) of the
    // same name changes nothing and is no refusal.
    for path in ["resource-r/systemd-trigger", "userspace/systemd-trigger"] {
        for (kind, value) in [
            (EntryKind::File, ""),
            (EntryKind::Symlink, ".deleted"),
            (EntryKind::Symlink, "/mars/uuid"),
        ] {
            let entry = Received {
                kind,
                path,
                value,
                stamp: Stamp::new(100, 0),
            };
            for local in [Local::Missing, Local::File(Stamp::new(1, 0))] {
                assert_eq!(
                    decide(&context(ME, PEER), &entry, local),
                    Decision::Keep(Keep::Trigger),
                    "{path} {kind:?} {value} {local:?}"
                );
            }
        }
    }
}

// Random listings from random peers.

const COMPONENTS: &[&str] = &[
    "resource-r",
    "resource-x",
    "ips",
    "userspace",
    "todo-global",
    "defaults",
    "foo",
    "etc",
    "passwd",
    "..",
    ".",
    ".tmp-x",
    "local-alpha",
    "ip-alpha",
    "ip-bravo",
    "ip-delta",
    "data-alpha",
    "data-bravo",
    "device-alpha",
    "todo-alpha",
    "todo-bravo",
    "attach",
    "actual-alpha",
    "actual-bravo",
    "alive",
    "size",
    "primary",
    "log-000000001-alpha",
    "log-000000002-bravo",
    "version-000000001-alpha",
    "replay-alpha",
    "replay-bravo",
    "defaults-alpha",
    "uuid",
];
const VALUES: &[&str] = &[
    "/etc",
    "/etc/passwd",
    "/dev/sda",
    ".deleted",
    "1",
    "0",
    "10.0.0.9",
    "../etc",
    "a\nb",
    "alpha",
    "bravo",
    "(any)",
    "bravo_3.0",
    "log-000000001-alpha,0,0",
    "",
    "(none)",
    "foo",
];
const PEERS: &[&str] = &[PEER, THIRD, "delta"];

fn entry_strategy() -> impl Strategy<Value = (usize, Vec<usize>, usize, usize, i64)> {
    (
        0..3usize,
        proptest::collection::vec(0..COMPONENTS.len(), 1..4),
        0..VALUES.len(),
        0..PEERS.len(),
        0..100i64,
    )
}

/// Runs a listing against the model and checks every property after every entry.
fn check_listing(
    entries: &[(usize, Vec<usize>, usize, usize, i64)],
    resolver: Resolver,
) -> Result<(), TestCaseError> {
    let mut fs = Fs::standard(ME);
    let outside = fs.outside();
    for (kind, comps, value, peer, sec) in entries {
        let path: Vec<&str> = comps.iter().map(|&c| COMPONENTS[c]).collect();
        let path = path.join("/");
        let peer = PEERS[*peer];
        let entry = Received {
            kind: [EntryKind::Symlink, EntryKind::Dir, EntryKind::File][*kind],
            path: &path,
            value: VALUES[*value],
            stamp: Stamp::new(*sec, 0),
        };
        let checked = apply_checked(&mut fs, ME, peer, &entry, resolver, &outside);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_listings_keep_every_property_confined(
        entries in proptest::collection::vec(entry_strategy(), 1..40)
    ) {
        check_listing(&entries, Resolver::Confined)?;
    }

    #[test]
    fn random_listings_keep_every_property_even_when_following(
        entries in proptest::collection::vec(entry_strategy(), 1..40)
    ) {
        check_listing(&entries, Resolver::Following)?;
    }
}
