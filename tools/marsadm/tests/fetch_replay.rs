// SPDX-License-Identifier: GPL-2.0
//! Pausing and resuming the fetch and the replay: `pause-fetch`/`resume-fetch` (and the DRBD
//! words `disconnect`/`connect`) write `todo-<host>/connect`, `pause-replay`/`resume-replay`
//! write `todo-<host>/allow-replay`, each only that switch and only when its value changes; a
//! pause waits until the kernel stopped (exit 3 with the switch in place when it does not
//! within `--timeout`). The `-local` names are the same commands; the `-global` ones are
//! refused with the reason, and so is a resource this host is no member of: nothing changes.

mod common;

use common::*;

fn todo(name: &str) -> String {
    format!("resource-r0/todo-alpha/{name}")
}

fn actual(name: &str) -> String {
    format!("resource-r0/actual-alpha/{name}")
}

fn later() -> Stamp {
    (LAMPORT.0 + 100, 0)
}

/// The entries other than directories that differ between two snapshots (a directory's
/// mtime changes with its entries).
fn changed(
    before: &std::collections::BTreeMap<String, Snap>,
    after: &std::collections::BTreeMap<String, Snap>,
) -> Vec<String> {
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .filter(|k| {
            [before.get(*k), after.get(*k)]
                .iter()
                .flatten()
                .all(|s| s.kind != 'd')
        })
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn pause_fetch_writes_only_connect_and_waits_for_the_fetch_to_stop() {
    let f = Fixture::with_resource("pause-fetch");
    f.put_link(&actual("is-copying"), "1", LAMPORT);
    f.set_lamport(later());
    f.clear_trigger();
    let before = f.snapshot();
    let run = f.run(&["pause-fetch", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("successfully started pause-fetch on resource r0"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("is-copying"), "{}", run.stderr);
    assert_eq!(f.link(&todo("connect")), ("0".to_string(), later()));
    assert_eq!(changed(&before, &f.snapshot()), vec![todo("connect")]);
    assert_eq!(f.trigger(), "5", "told here and to the peers");

    // The kernel stopped fetching: confirmed, nothing written again.
    f.put_link(&actual("is-copying"), "0", later());
    let before = f.snapshot();
    let run = f.run(&["pause-fetch-local", "r0"]);
    run.ok();
    assert!(
        run.stdout
            .contains("pause-fetch-local on resource r0 is already activated"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
}

#[test]
fn resume_fetch_and_connect_write_connect_1_without_waiting() {
    let f = Fixture::with_resource("resume-fetch");
    for (pause, resume) in [
        ("pause-fetch", "resume-fetch"),
        ("disconnect", "connect"),
        ("disconnect-local", "connect-local"),
        ("pause-fetch-local", "resume-fetch-local"),
    ] {
        f.run(&[pause, "r0"]).ok();
        assert_eq!(f.value(&todo("connect")), "0", "{pause}");
        let before = f.snapshot();
        let run = f.run(&[resume, "r0"]);
        run.ok();
        assert!(
            run.stdout
                .contains(&format!("successfully started {resume} on resource r0")),
            "the word typed: {}",
            run.stdout
        );
        assert_eq!(f.value(&todo("connect")), "1", "{resume}");
        assert_eq!(changed(&before, &f.snapshot()), vec![todo("connect")]);
    }
    let before = f.snapshot();
    let run = f.run(&["connect", "r0"]);
    run.ok();
    assert!(run
        .stdout
        .contains("connect on resource r0 is already activated"));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn pause_and_resume_replay_write_allow_replay() {
    let f = Fixture::with_resource("pause-replay");
    f.put_link(&actual("is-replaying"), "1", LAMPORT);
    f.set_lamport(later());
    let before = f.snapshot();
    let run = f.run(&["pause-replay", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("is-replaying"), "{}", run.stderr);
    assert_eq!(f.link(&todo("allow-replay")), ("0".to_string(), later()));
    assert_eq!(changed(&before, &f.snapshot()), vec![todo("allow-replay")]);
    assert_eq!(f.value(&todo("connect")), "1", "fetching goes on");

    f.put_link(&actual("is-replaying"), "0", later());
    f.run(&["pause-replay-local", "r0"]).ok();
    let before = f.snapshot();
    let run = f.run(&["resume-replay", "r0"]);
    run.ok();
    assert!(run
        .stdout
        .contains("successfully started resume-replay on resource r0"));
    assert_eq!(f.value(&todo("allow-replay")), "1");
    assert_eq!(changed(&before, &f.snapshot()), vec![todo("allow-replay")]);
    f.run(&["resume-replay-local", "r0"]).ok();
}

#[test]
fn without_the_module_a_pause_takes_effect_at_modprobe() {
    let f = Fixture::with_resource("pause-no-module");
    f.unload();
    let run = f.run(&["pause-replay", "r0"]);
    run.ok();
    assert!(run.stderr.contains("will become effective after modprobe"));
    assert_eq!(f.value(&todo("allow-replay")), "0");
}

#[test]
fn pauses_need_an_existing_resource_this_host_is_member_of() {
    let f = Fixture::with_resource("pause-member");
    let before = f.snapshot();
    for cmd in [
        "pause-fetch",
        "resume-fetch",
        "connect",
        "disconnect",
        "pause-replay",
        "resume-replay",
    ] {
        f.run(&[cmd, "r9"]).refused("resource 'r9' does not exist");
        f.run(&[cmd, "bad.name"]).refused("disallowed characters");
        f.run(&[cmd, "none"]).refused("reserved");
        f.run_as("bravo", &[cmd, "r0"])
            .refused("I have not yet joined to resource 'r0'");
    }
    assert_eq!(f.snapshot(), before);
}

#[test]
fn global_variants_are_refused_and_name_the_members() {
    let f = Fixture::with_resource("pause-global");
    let before = f.snapshot();
    for cmd in [
        "pause-fetch-global",
        "resume-fetch-global",
        "connect-global",
        "disconnect-global",
        "pause-replay-global",
        "resume-replay-global",
        "pause-sync-global",
        "resume-sync-global",
    ] {
        let run = f.run(&[cmd, "r0"]);
        run.refused(&format!("{cmd} is not supported"));
        assert!(
            run.stderr.contains("each member of 'r0': alpha"),
            "{}",
            run.stderr
        );
    }
    f.run(&["pause-fetch-global", "r9"])
        .refused("resource 'r9' does not exist");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn sync_local_names_are_pause_and_resume_sync() {
    let f = Fixture::with_resource("sync-local");
    f.run(&["pause-sync-local", "r0"]).ok();
    assert_eq!(f.value(&todo("sync")), "0");
    f.run(&["resume-sync-local", "r0"]).ok();
    assert_eq!(f.value(&todo("sync")), "1");
}

#[test]
fn help_lists_every_name() {
    let f = Fixture::new("pause-help");
    let run = f.run(&["--help"]);
    run.ok();
    for name in [
        "pause-fetch",
        "pause-fetch-local",
        "resume-fetch",
        "resume-fetch-local",
        "connect",
        "connect-local",
        "disconnect",
        "disconnect-local",
        "pause-replay",
        "pause-replay-local",
        "resume-replay",
        "resume-replay-local",
        "pause-sync-local",
        "resume-sync-local",
        "pause-fetch-global",
        "resume-sync-global",
        "--parallel",
    ] {
        assert!(run.stdout.contains(name), "{name} missing:\n{}", run.stdout);
    }
}
