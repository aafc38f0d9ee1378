// SPDX-License-Identifier: GPL-2.0
//! The operation switches and the designated primary: `attach`, `detach`, `up`, `down`,
//! `primary`, `secondary` write exactly the switches whose value changes, stamped from
//! `lamport_now` on in the original's order, then wait for the kernel's indicators: done when
//! the kernel follows (exit 0), exit 3 with the links in place when it does not follow within
//! `--timeout`. Refusals (device open, not a member, not in sync, ...) change nothing.

mod common;

use common::*;

/// The switches of r0 on alpha.
fn todo(name: &str) -> String {
    format!("resource-r0/todo-alpha/{name}")
}

fn actual(name: &str) -> String {
    format!("resource-r0/actual-alpha/{name}")
}

fn later() -> Stamp {
    (LAMPORT.0 + 100, 0)
}

#[test]
fn attach_when_attached_writes_nothing() {
    let f = Fixture::with_resource("attach-noop");
    f.put_link(&actual("is-attached"), "1", LAMPORT);
    let before = f.snapshot();
    f.clear_trigger();
    let run = f.run(&["attach", "r0"]);
    run.ok();
    assert!(
        run.stdout
            .contains("attach on resource r0 is already activated"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("resource 'r0' is attached"));
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.trigger(), "", "nothing written, nothing triggered");
}

#[test]
fn detach_then_attach_waits_for_the_kernel() {
    let f = Fixture::with_resource("detach-attach");
    f.set_lamport(later());
    // No indicators: the kernel has nothing attached, so detach is confirmed at once.
    let run = f.run(&["detach", "r0"]);
    run.ok();
    assert!(run
        .stdout
        .contains("successfully started detach on resource r0"));
    assert_eq!(f.link(&todo("attach")), ("0".to_string(), later()));
    assert_eq!(f.trigger(), "1");

    // attach: the switch is written; the kernel does not answer within the timeout.
    let t = (LAMPORT.0 + 200, 7);
    f.set_lamport(t);
    let run = f.run(&["attach", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("not confirmed within 1 s") && run.stderr.contains("is-attached"),
        "{}",
        run.stderr
    );
    assert_eq!(
        f.link(&todo("attach")),
        ("1".to_string(), t),
        "the switch stays set"
    );

    // The kernel answers: attach is confirmed.
    f.put_link(&actual("is-attached"), "1", t);
    f.run(&["attach", "r0"]).ok();
}

#[test]
fn detach_is_refused_while_the_device_is_open() {
    let f = Fixture::with_resource("detach-open");
    f.put_link(&actual("open-count"), "2", LAMPORT);
    let before = f.snapshot();
    f.run(&["detach", "r0"])
        .refused("device '/dev/mars/r0' is in use");
    f.run(&["down", "r0"]).refused("in use");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn down_and_up_write_their_switches_in_order() {
    let f = Fixture::with_resource("down-up");
    let t1 = (LAMPORT.0 + 100, 999_999_998);
    f.set_lamport(t1);
    f.run(&["down", "r0"]).ok();
    for name in ["allow-replay", "sync", "connect", "attach"] {
        assert_eq!(f.value(&todo(name)), "0", "{name}");
    }
    assert_stamped_in_order(
        &f,
        t1,
        &[
            &todo("allow-replay"),
            &todo("sync"),
            &todo("connect"),
            &todo("attach"),
        ],
    );
    assert_eq!(
        f.link(&todo("attach")).1,
        (LAMPORT.0 + 101, 1),
        "nanoseconds carry into seconds"
    );

    let t2 = (LAMPORT.0 + 200, 0);
    f.set_lamport(t2);
    f.put_link(&actual("is-attached"), "1", t2);
    f.run(&["up", "r0"]).ok();
    for name in ["attach", "connect", "sync", "allow-replay"] {
        assert_eq!(f.value(&todo(name)), "1", "{name}");
    }
    assert_stamped_in_order(
        &f,
        t2,
        &[
            &todo("attach"),
            &todo("connect"),
            &todo("sync"),
            &todo("allow-replay"),
        ],
    );
}

#[test]
fn without_the_module_switches_take_effect_at_modprobe() {
    let f = Fixture::with_resource("switch-no-module");
    f.unload();
    let run = f.run(&["detach", "r0"]);
    run.ok();
    assert!(
        run.stderr.contains("will become effective after modprobe"),
        "{}",
        run.stderr
    );
    assert_eq!(f.value(&todo("attach")), "0");
}

#[test]
fn switches_need_an_existing_resource_this_host_is_member_of() {
    let f = Fixture::with_resource("switch-member");
    let before = f.snapshot();
    f.run(&["attach", "r9"])
        .refused("resource 'r9' does not exist");
    f.run(&["attach", "bad.name"])
        .refused("disallowed characters");
    std::fs::create_dir(f.path("resource-r1")).unwrap();
    let with_r1 = f.snapshot();
    f.run(&["up", "r1"])
        .refused("I have not yet joined to resource 'r1'");
    assert_eq!(f.snapshot(), with_r1);
    std::fs::remove_dir(f.path("resource-r1")).unwrap();
    assert_eq!(f.snapshot(), before);
}

#[test]
fn secondary_stamps_none_just_after_the_old_primary_link() {
    let f = Fixture::with_resource("secondary");
    let (_, old) = f.link("resource-r0/primary");
    f.set_lamport(later());
    f.clear_trigger();
    let run = f.run(&["secondary", "r0"]);
    run.ok();
    assert!(
        run.stdout
            .contains("designated primary changed from 'alpha' to '(none)'"),
        "{}",
        run.stdout
    );
    // Deliberately not stamped with the current time: a concurrent `primary` must win.
    assert_eq!(
        f.link("resource-r0/primary"),
        ("(none)".to_string(), add_ns(old, 1))
    );
    assert_eq!(f.trigger(), "5", "a primary change is told to the peers");
    // Again: nothing to do.
    let before = f.snapshot();
    f.run(&["secondary", "r0"]).ok();
    assert_eq!(f.snapshot(), before);
}

#[test]
fn secondary_is_refused_while_the_primary_device_is_open() {
    let f = Fixture::with_resource("secondary-open");
    f.put_link(&actual("open-count"), "1", LAMPORT);
    let before = f.snapshot();
    f.run(&["secondary", "r0"])
        .refused("is 1 times in use on primary host 'alpha'");
    assert_eq!(f.snapshot(), before);
}

/// A resource that went `secondary` and whose kernel reports the disk attached.
fn secondary_fixture(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    f.run(&["secondary", "r0"]).ok();
    f.put_link(&actual("is-attached"), "1", LAMPORT);
    f
}

#[test]
fn primary_sets_the_designated_primary_and_waits_for_the_device() {
    let f = secondary_fixture("primary");
    let (last, last_stamp) = f.link("resource-r0/userspace/last-primary");
    f.put_link(&actual("if-on"), "1", LAMPORT);
    let t = later();
    f.set_lamport(t);
    let run = f.run(&["primary", "r0"]);
    run.ok();
    assert!(
        run.stdout
            .contains("designated primary changed from '(none)' to 'alpha'"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("device '/dev/mars/r0' is present"));
    assert_eq!(f.link("resource-r0/primary"), ("alpha".to_string(), t));
    assert_eq!(
        f.link("resource-r0/userspace/prev-primary"),
        (last, last_stamp),
        "moved, as `mv` does"
    );
    assert_eq!(
        f.link("resource-r0/userspace/last-primary"),
        ("alpha".to_string(), add_ns(t, 1))
    );
}

#[test]
fn primary_reports_a_device_that_does_not_appear() {
    let f = secondary_fixture("primary-timeout");
    let run = f.run(&["primary", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("device '/dev/mars/r0' appears"),
        "{}",
        run.stderr
    );
    assert_eq!(
        f.value("resource-r0/primary"),
        "alpha",
        "the designated primary is set"
    );
}

#[test]
fn primary_when_already_designated_writes_nothing() {
    let f = Fixture::with_resource("primary-again");
    f.put_link(&actual("is-attached"), "1", LAMPORT);
    f.put_link(&actual("if-on"), "1", LAMPORT);
    let before = f.snapshot();
    let run = f.run(&["primary", "r0"]);
    run.ok();
    assert!(
        run.stdout.contains("already the designated primary"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
}

#[test]
fn primary_is_refused_when_unsafe() {
    let f = secondary_fixture("primary-refused");

    f.put_link("resource-r0/syncstatus-alpha", "4096", LAMPORT);
    let unsynced = f.snapshot();
    f.run(&["primary", "r0"])
        .refused("Sync has not yet finished on host 'alpha'");
    assert_eq!(f.snapshot(), unsynced);
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );

    f.put_link(&todo("allow-replay"), "0", LAMPORT);
    f.run(&["primary", "r0"])
        .refused("todo-switch 'replay' must be on");
    f.put_link(&todo("allow-replay"), "1", LAMPORT);

    f.put_link(&actual("replay-code"), "-5", LAMPORT);
    f.run(&["primary", "r0"])
        .refused("stopped with error code -5");
    std::fs::remove_file(f.path(&actual("replay-code"))).unwrap();

    // A handover from bravo: refused while bravo is silent, and while its device is open.
    f.put_link("resource-r0/userspace/last-primary", "bravo", LAMPORT);
    f.run(&["primary", "r0"])
        .refused("the current primary 'bravo' of 'r0' is not reachable");
    f.put_link("actual-bravo/time", "1", LAMPORT);
    f.put_link("actual-bravo/alive", "1", LAMPORT);
    f.put_link("resource-r0/actual-bravo/open-count", "1", LAMPORT);
    f.run(&["primary", "r0"])
        .refused("in use on the current primary 'bravo'");
    f.put_link("resource-r0/userspace/last-primary", "alpha", LAMPORT);
    // Every other member must be reachable and have the device closed, not only the old
    // primary (mars_core::replica::check_handover).
    f.put_link("resource-r0/data-charlie", "/dev/vdc", LAMPORT);
    let before = f.snapshot();
    f.run(&["primary", "r0"])
        .refused("member 'charlie' of 'r0' is not reachable");
    assert_eq!(f.snapshot(), before);
    f.put_link("actual-charlie/time", "1", LAMPORT);
    f.put_link("actual-charlie/alive", "1", LAMPORT);
    f.put_link("resource-r0/actual-charlie/open-count", "2", LAMPORT);
    let before = f.snapshot();
    f.run(&["primary", "r0"])
        .refused("2 times in use on member 'charlie'");
    assert_eq!(f.snapshot(), before);
    std::fs::remove_file(f.path("resource-r0/data-charlie")).unwrap();

    f.unload();
    f.run(&["primary", "r0"])
        .refused("mars kernel module is not loaded");
    assert_eq!(f.value("resource-r0/primary"), "(none)");
}

/// alpha is a secondary of r0 whose primary bravo went silent (no heartbeat here).
fn failover_fixture(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    f.put_link("resource-r0/primary", "bravo", LAMPORT);
    f.put_link("resource-r0/userspace/last-primary", "bravo", LAMPORT);
    f.put_link(&actual("is-attached"), "1", LAMPORT);
    f.set_lamport(later());
    f
}

#[test]
fn primary_without_force_is_refused_while_the_primary_is_unreachable() {
    let f = failover_fixture("failover-refused");
    let before = f.snapshot();
    let run = f.run(&["primary", "r0"]);
    run.refused("the current primary 'bravo' of 'r0' is not reachable");
    assert!(
        run.stderr.contains("primary --force"),
        "the way out is named: {}",
        run.stderr
    );
    assert_eq!(f.snapshot(), before, "nothing written");
}

#[test]
fn primary_force_pauses_fetch_then_takes_over_without_the_old_primary() {
    let f = failover_fixture("failover");
    f.put_link("resource-r0/actual-bravo/open-count", "1", LAMPORT);
    // The kernel does not follow within the timeout: the links stay as written.
    let run = f.run(&["primary", "r0", "--force", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("designated primary changed from 'bravo' to 'alpha' (forced)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("in use on primary host 'bravo'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("SPLIT BRAIN"), "{}", run.stderr);
    let (connect, connect_stamp) = f.link(&todo("connect"));
    let (primary, primary_stamp) = f.link("resource-r0/primary");
    assert_eq!(
        connect, "0",
        "fetch is off: the kernel's sign of a forced failover"
    );
    assert_eq!(primary, "alpha");
    assert!(connect_stamp <= primary_stamp);
    assert_eq!(f.value("resource-r0/userspace/last-primary"), "alpha");
    assert_eq!(f.value("resource-r0/userspace/prev-primary"), "bravo");
    assert!(
        !f.path("resource-r0/actual-bravo")
            .join("is-primary")
            .exists(),
        "nothing asked of bravo"
    );

    // The device appears: the primary is up (fetch on again, as the original's `up`).
    f.put_link(&actual("if-on"), "1", later());
    let run = f.run(&["primary", "r0", "--force"]);
    run.ok();
    assert!(
        run.stdout.contains("already the designated primary"),
        "{}",
        run.stdout
    );
    assert_eq!(f.value(&todo("connect")), "1");
}

#[test]
fn primary_force_still_checks_this_host() {
    let f = failover_fixture("failover-checks");
    f.put_link(&todo("allow-replay"), "0", LAMPORT);
    let before = links(&f.snapshot());
    f.run(&["primary", "r0", "--force"])
        .refused("todo-switch 'replay' must be on");
    f.put_link(&todo("allow-replay"), "1", LAMPORT);
    f.put_link("resource-r0/syncstatus-alpha", "4096", LAMPORT);
    f.run(&["primary", "r0", "--force"])
        .refused("Sync has not yet finished on host 'alpha'");
    f.put_link(
        "resource-r0/syncstatus-alpha",
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    f.put_link(&todo("allow-replay"), "0", LAMPORT);
    assert_eq!(links(&f.snapshot()), before, "refusals change nothing");
    f.unload();
    f.run(&["primary", "r0", "--force"])
        .refused("mars kernel module is not loaded");
    assert_eq!(f.value("resource-r0/primary"), "bravo");
}
