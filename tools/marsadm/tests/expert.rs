// SPDX-License-Identifier: GPL-2.0
//! The original's low-level and expert commands on this host's tree: `get-link`,
//! `delete-file`, `cat`, `show*`, `err-purge-all`, `link-purge-all`, `create-uuid`,
//! `lowlevel-*`, `fake-sync`, `set-replay`, `wait-resource`, `wait-umount`,
//! `log-delete-one`, and the commands refused as not yet implemented. Each refusal leaves the
//! tree byte for byte as it was.

mod common;

use common::*;

const D: &str = "resource-r0";

/// r0 with alpha (designated primary) and bravo, a secondary in sync replaying alpha's
/// logfile 2; alpha's version links 1 and 2 are there.
fn two_members(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    f.put_link(&format!("{D}/data-bravo"), "/dev/vda", LAMPORT);
    f.put_link(&format!("{D}/device-bravo"), "r0", LAMPORT);
    f.put_link(&format!("{D}/syncstatus-bravo"), "1048576", LAMPORT);
    f.put_link(
        &format!("{D}/replay-bravo"),
        "log-000000002-alpha,4096,0",
        LAMPORT,
    );
    f.put_link(
        &format!("{D}/replay-alpha"),
        "log-000000002-alpha,8192,0",
        LAMPORT,
    );
    f.put_link(&format!("{D}/version-000000002-alpha"), "v2", LAMPORT);
    f.put_link(&format!("{D}/version-000000001-bravo"), "old1", LAMPORT);
    f.put_link(&format!("{D}/todo-bravo/allow-replay"), "0", LAMPORT);
    f.put_link(&format!("{D}/todo-bravo/sync"), "1", LAMPORT);
    f.put_link(&format!("{D}/actual-bravo/is-replaying"), "0", LAMPORT);
    f
}

#[test]
fn get_link_prints_a_value_and_stays_inside_the_tree() {
    let f = Fixture::with_resource("get-link");
    assert_eq!(
        f.run(&["get-link", "resource-r0/size"]).ok().stdout,
        "1048576\n"
    );
    let abs = format!("{}/resource-r0/primary", f.root.display());
    assert_eq!(f.run(&["get-link", &abs]).ok().stdout, "alpha\n");
    f.run(&["get-link", "resource-r0/nothing"])
        .refused("cannot read symlink");
    f.run(&["get-link", "/etc/passwd"]).refused("is not below");
    f.run(&["get-link", "resource-r0/../uuid"])
        .refused("is no path below");
}

#[test]
fn delete_file_tombstones_userspace_keys_and_refuses_others_without_force() {
    let f = Fixture::with_resource("delete-file");
    f.put_link("userspace/note", "x", LAMPORT);
    let before = f.snapshot();
    f.run(&["delete-file", "resource-r0/size"])
        .refused("must be inside");
    f.run(&["delete-file", "userspace/missing"])
        .refused("does not exist");
    f.run(&["delete-file", "userspace/note", "../x"])
        .refused("is no path below");
    f.run(&["delete-file", "--force", "resource-r0"])
        .refused("not a key");
    assert_eq!(
        before,
        f.snapshot(),
        "a refused delete-file changed the tree"
    );
    f.run(&["delete-file", "userspace/note"]).ok();
    assert_eq!(f.value("userspace/note"), ".deleted");
    f.run(&[
        "delete-file",
        "--force",
        "resource-r0/userspace/last-primary",
    ])
    .ok();
    assert_eq!(f.value("resource-r0/userspace/last-primary"), ".deleted");
}

#[test]
fn cat_prints_files_with_readable_times_and_errors() {
    let f = Fixture::with_resource("cat");
    std::fs::write(
        f.path("userspace/status"),
        "since 1700000000.000000001 error=-28\nplain\n",
    )
    .unwrap();
    let run = f.run(&["cat", "userspace/status", "resource-r0/primary"]);
    run.ok();
    assert_eq!(
        run.stdout,
        "since 2023-11-14 22:13:20.000000001 error=-[ENOSPC:No space left on device]\nplain\nalpha\n"
    );
    f.run(&["cat", "userspace/none"]).refused("cannot read");
}

#[test]
fn show_commands_tell_the_state_in_the_original_words() {
    let f = two_members("show");
    let show = f.run(&["show", "r0"]);
    show.ok();
    for line in [
        "ips/ip-alpha=10.0.0.1\n",
        "resource-r0/size=1048576\n",
        "resource-r0/todo-alpha/attach=1\n",
    ] {
        assert!(
            show.stdout.contains(line),
            "show lacks {line:?}:\n{}",
            show.stdout
        );
    }
    assert!(
        !show.stdout.contains("bravo"),
        "another host's links:\n{}",
        show.stdout
    );
    // State words: designated but not yet running; running; a secondary.
    assert_eq!(
        f.run(&["show-state", "r0"]).ok().stdout,
        "becoming_primary\n"
    );
    f.put_link(&format!("{D}/actual-alpha/is-primary"), "1", LAMPORT);
    assert_eq!(f.run(&["mars-state", "r0"]).ok().stdout, "is_primary\n");
    assert_eq!(
        f.run(&["show-state", "r0", "bravo"]).ok().stdout,
        "secondary outdated (log-000000002-alpha,4096,0 instead of log-000000002-alpha,8192,0)\n"
    );
    f.put_link(
        &format!("{D}/replay-bravo"),
        "log-000000002-alpha,8192,0",
        LAMPORT,
    );
    assert_eq!(
        f.run(&["show-state", "r0", "bravo"]).ok().stdout,
        "secondary uptodate\n"
    );
    f.put_link(&format!("{D}/syncstatus-bravo"), "4096", LAMPORT);
    assert_eq!(
        f.run(&["show-state", "r0", "bravo"]).ok().stdout,
        "secondary inconsistent (4096 bytes of 1048576)\n"
    );
    // show-info: the indicators.
    let info = f.run(&["mars-info", "r0"]);
    info.ok();
    assert!(info.stdout.contains("is-primary=1\n"), "{}", info.stdout);
    f.run_as("charlie", &["show-info", "r0"])
        .refused("has published nothing");
    // show-errors: exit 1 with the messages, 0 without.
    assert!(f
        .run(&["show-errors", "r0"])
        .ok()
        .stdout
        .contains("no errors/warnings are reported."));
    f.put_link(
        &format!("{D}/actual-alpha/msg-err-logfile-damaged"),
        "damaged",
        LAMPORT,
    );
    f.put_link("actual-alpha/msg-warn-space", "low", LAMPORT);
    let run = f.run(&["show-errors", "r0"]);
    run.refused("resource r0 has some (old) problems.");
    assert!(
        run.stdout.contains("msg-err-logfile-damaged: damaged"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("actual-alpha/msg-warn-space: low"),
        "{}",
        run.stdout
    );
}

#[test]
fn err_purge_all_deletes_only_this_hosts_error_messages() {
    let f = two_members("err-purge");
    f.put_link(&format!("{D}/actual-alpha/msg-err-a"), "a", LAMPORT);
    f.put_link("actual-alpha/msg-err-b", "b", LAMPORT);
    f.put_link("actual-alpha/msg-warn-c", "c", LAMPORT);
    f.put_link(&format!("{D}/actual-bravo/msg-err-d"), "d", LAMPORT);
    f.run(&["err-purge-all", "r0"]).ok();
    assert_eq!(f.value(&format!("{D}/actual-alpha/msg-err-a")), ".deleted");
    assert_eq!(f.value("actual-alpha/msg-err-b"), ".deleted");
    assert_eq!(f.value("actual-alpha/msg-warn-c"), "c");
    assert_eq!(f.value(&format!("{D}/actual-bravo/msg-err-d")), "d");
    f.run(&["err-purge-all", "r9"]).refused("does not exist");
}

#[test]
fn link_purge_all_collects_old_tombstones_of_the_resource_and_the_top() {
    let f = Fixture::with_resource("link-purge");
    let old = (LAMPORT.0 - 100_000, 0);
    f.put_link(&format!("{D}/userspace/gone"), ".deleted", old);
    f.put_link("userspace/gone", ".deleted", old);
    f.put_link(&format!("{D}/userspace/new"), ".deleted", LAMPORT);
    std::fs::create_dir_all(f.path("resource-r1/userspace")).unwrap();
    f.put_link("resource-r1/userspace/gone", ".deleted", old);
    f.run(&["link-purge-all", "r0"]).ok();
    assert!(!f.path(&format!("{D}/userspace/gone")).exists());
    assert!(std::fs::symlink_metadata(f.path("userspace/gone")).is_err());
    assert_eq!(
        f.value(&format!("{D}/userspace/new")),
        ".deleted",
        "too recent"
    );
    assert_eq!(
        f.value("resource-r1/userspace/gone"),
        ".deleted",
        "another resource"
    );
}

#[test]
fn create_uuid_never_replaces_one() {
    let f = Fixture::with_resource("create-uuid");
    let before = f.snapshot();
    f.run(&["create-uuid"])
        .refused("no override is possible at marsadm level");
    assert_eq!(before, f.snapshot());
    std::fs::remove_file(f.path("uuid")).unwrap();
    f.run(&["create-uuid"]).ok();
    assert_eq!(f.value("uuid"), format!("alpha_{LAMPORT_TEXT}"));
}

#[test]
fn lowlevel_host_commands_change_only_what_this_host_owns() {
    let f = two_members("lowlevel");
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    assert_eq!(
        f.run(&["lowlevel-ls-host-ips"]).ok().stdout,
        "alpha 10.0.0.1\nbravo 10.0.0.2\n"
    );
    let before = f.snapshot();
    f.run(&["lowlevel-set-host-ip", "bravo", "10.0.0.9"])
        .refused("is owned by 'bravo'");
    f.run(&["lowlevel-delete-host", "bravo"])
        .refused("is owned by 'bravo'");
    f.run(&["lowlevel-set-host-ip", "alpha", "300.1.1.1"])
        .refused("address '300.1.1.1'");
    f.run(&["lowlevel-set-host-ip", "charlie"])
        .refused("give the address");
    // This host is still a member of r0: no leaving the cluster.
    f.run(&["lowlevel-delete-host", "alpha"])
        .refused("still member of the resource");
    assert_eq!(before, f.snapshot(), "a refused command changed the tree");
    f.run(&["lowlevel-set-host-ip", "alpha", "10.0.0.7"]).ok();
    assert_eq!(f.value("ips/ip-alpha"), "10.0.0.7");
    // A host not known yet: its first address may come from here.
    f.run(&["lowlevel-set-host-ip", "charlie", "10.0.0.3"]).ok();
    assert_eq!(f.value("ips/ip-charlie"), "10.0.0.3");
}

#[test]
fn fake_sync_declares_the_disk_in_sync_and_leaves_the_sync_off() {
    let f = two_members("fake-sync");
    f.put_link(&format!("{D}/syncstatus-bravo"), "0", LAMPORT);
    f.run_as("bravo", &["fake-sync", "r0"]).ok();
    assert_eq!(f.value(&format!("{D}/syncstatus-bravo")), "1048576");
    assert_eq!(f.value(&format!("{D}/todo-bravo/sync")), "0");
    // Waits for the kernel to stop a running sync: with --timeout 0 it gives up (exit 3)
    // before syncstatus is written.
    let f = two_members("fake-sync-wait");
    f.put_link(&format!("{D}/syncstatus-bravo"), "0", LAMPORT);
    f.put_link(&format!("{D}/actual-bravo/is-syncing"), "1", LAMPORT);
    let run = f.run_as("bravo", &["fake-sync", "r0", "--timeout", "0"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(f.value(&format!("{D}/syncstatus-bravo")), "0");
    f.run_as("charlie", &["fake-sync", "r0"])
        .refused("not yet joined");
}

#[test]
fn set_replay_restarts_the_replay_on_a_paused_secondary_only() {
    let f = two_members("set-replay");
    let before = f.snapshot();
    f.run_as("bravo", &["set-replay", "r0", "x"])
        .refused("numeric logfile number");
    f.run_as("bravo", &["set-replay", "r0", "0"])
        .refused("numeric logfile number");
    f.run_as("bravo", &["set-replay", "r0", "3"])
        .refused("you try to skip logfile numbers from 2 to 3");
    f.run(&["set-replay", "r0", "1"])
        .refused("not allowed on the designated primary");
    assert_eq!(before, f.snapshot());
    f.put_link(&format!("{D}/todo-bravo/allow-replay"), "1", LAMPORT);
    let before = f.snapshot();
    f.run_as("bravo", &["set-replay", "r0", "1"])
        .refused("todo-switch 'replay' must be off");
    assert_eq!(before, f.snapshot());
    f.put_link(&format!("{D}/todo-bravo/allow-replay"), "0", LAMPORT);
    f.put_link(&format!("{D}/actual-bravo/is-replaying"), "1", LAMPORT);
    f.run_as("bravo", &["set-replay", "r0", "1"])
        .refused("still runs here");
    f.put_link(&format!("{D}/actual-bravo/is-replaying"), "0", LAMPORT);
    f.run_as("bravo", &["set-replay", "r0", "2"]).ok();
    assert_eq!(
        f.value(&format!("{D}/replay-bravo")),
        "log-000000002-alpha,0,0"
    );
    assert_eq!(f.value(&format!("{D}/version-000000002-bravo")), "v2");
    assert_eq!(
        f.value(&format!("{D}/version-000000001-bravo")),
        f.value(&format!("{D}/version-000000001-alpha")),
        "the primary's chain becomes this host's"
    );
    assert_eq!(f.value(&format!("{D}/skip-check-bravo")), "2");
    f.run_as("bravo", &["set-replay", "r0", "3", "--force"])
        .ok();
    assert_eq!(
        f.value(&format!("{D}/replay-bravo")),
        "log-000000003-alpha,0,0"
    );
}

#[test]
fn wait_commands_return_once_the_condition_holds_and_time_out_otherwise() {
    let f = two_members("wait");
    f.run(&["wait-resource", "r0", "attach", "--timeout", "0"])
        .ok();
    f.run(&["wait-resource", "r0", "primary"]).ok();
    f.run_as("bravo", &["wait-resource", "r0", "replay-off"])
        .ok();
    f.run_as("bravo", &["wait-resource", "r0", "is-replaying-off"])
        .ok();
    let run = f.run(&["wait-resource", "r0", "is-attached", "--timeout", "0"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    f.put_link(&format!("{D}/actual-alpha/is-attached"), "1", LAMPORT);
    f.run(&["wait-resource", "r0", "is-attached", "--timeout", "0"])
        .ok();
    f.run(&["wait-resource", "r0", "bogus"])
        .refused("button 'bogus' does not exist");
    f.run(&["wait-resource", "r0", "is-bogus"])
        .refused("actual indicator 'bogus' does not exist");
    f.run(&["wait-umount", "r0", "--timeout", "0"]).ok();
    f.put_link(&format!("{D}/actual-alpha/open-count"), "2", LAMPORT);
    let run = f.run(&["wait-umount", "r0", "--timeout", "0"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    f.put_link(&format!("{D}/actual-alpha/open-count"), "0", LAMPORT);
    f.run(&["wait-umount", "r0", "--timeout", "0"]).ok();
}

#[test]
fn log_delete_one_deletes_at_most_one_logfile() {
    let f = Fixture::with_resource("log-delete-one");
    let old = (LAMPORT.0 - 100_000, 0);
    for nr in 1..=4u32 {
        let name = format!("{D}/log-{nr:09}-alpha");
        std::fs::write(f.path(&name), b"x").unwrap();
        let status = std::process::Command::new("touch")
            .args(["-d", "@1999900000"])
            .arg(f.path(&name))
            .status()
            .unwrap();
        assert!(status.success());
        f.put_link(&format!("{D}/version-{nr:09}-alpha"), "v", old);
    }
    f.put_link(&format!("{D}/replay-alpha"), "log-000000004-alpha,0,0", old);
    f.run(&["log-delete-one", "r0"]).ok();
    let gone = |nr: u32| {
        std::fs::read_link(f.path(&format!("{D}/log-{nr:09}-alpha")))
            .is_ok_and(|v| v.as_os_str() == ".deleted")
    };
    let deleted: Vec<u32> = (1..=4).filter(|&nr| gone(nr)).collect();
    assert_eq!(deleted, vec![1], "log-delete-one deleted {deleted:?}");
    f.run(&["log-delete-all-replayed", "r0"]).ok();
    assert!((1..=3).all(gone), "log-delete deletes the rest");
    assert!(f.path(&format!("{D}/log-000000004-alpha")).is_file());
}

#[test]
fn commands_without_kernel_support_say_why() {
    let f = Fixture::with_resource("not-yet");
    let before = f.snapshot();
    f.run(&["set-disabled-digests", "r0", "CHKSUM_MD5"])
        .refused("no kernel reads resource-<res>/defaults/disabled-digests");
    assert_eq!(before, f.snapshot());
    // emergency-limit is set-emergency-limit.
    f.run(&["emergency-limit", "r0", "20"]).ok();
    assert_eq!(f.value(&format!("{D}/todo-alpha/emergency-limit")), "20");
}

/// Every command marsadm(8) marks as implemented is a command here, and every one marked
/// "not yet" is not (yet) known.
#[test]
fn marsadm_8_table_matches_the_commands() {
    let doc = include_str!("../../../Documentation/marsadm.8.rst");
    let start = doc.find("Commands of the original").unwrap();
    let end = start + doc[start..].find("EXIT STATUS").unwrap();
    let f = Fixture::new("table");
    let mut n = 0;
    for line in doc[start..end].lines().filter(|l| l.starts_with("``")) {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap().trim_matches('`');
        let state: Vec<&str> = words.collect();
        let run = f.run(&[cmd, "--help"]);
        if state.first() == Some(&"implemented") {
            assert_eq!(run.code, 0, "{cmd} is marked implemented: {}", run.stderr);
            n += 1;
        } else if state.join(" ").starts_with("not yet (issue ") {
            assert_eq!(run.code, 2, "{cmd} is marked not yet, but is known");
            assert!(
                run.stderr.contains("unrecognized subcommand"),
                "{}",
                run.stderr
            );
        } else {
            assert_eq!(
                run.code,
                0,
                "{cmd} ({}) is answered: {}",
                state.join(" "),
                run.stderr
            );
        }
    }
    assert!(n > 60, "{n} implemented commands");
}

#[test]
fn update_cluster_checks_the_resource_and_waits_for_every_peer() {
    let f = Fixture::with_resource("update-cluster");
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link(
        "actual-bravo/time",
        "1900000000.000000000",
        (1_900_000_000, 0),
    );
    f.run(&["update-cluster", "r9"]).refused("does not exist");
    f.clear_trigger();
    let run = f.run(&["update-cluster", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no news within 1 s from: bravo"),
        "{}",
        run.stderr
    );
    assert_eq!(f.trigger(), "11", "every peer is asked");
    f.put_link(
        "actual-bravo/time",
        "2000000001.000000000",
        (2_000_000_001, 0),
    );
    f.run(&["update-cluster", "--timeout=1"]).ok();
}
