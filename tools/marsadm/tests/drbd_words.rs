// SPDX-License-Identifier: GPL-2.0
//! The DRBD words are answered as the original answers them: `role`/`state` say who is
//! actually primary and who should be; ignored and senseless words say so and succeed;
//! `verify`, `invalidate-remote` (forbidden) and `cstate`, `dstate`, `status` (not
//! implemented) are refused. None of them writes anything, and all need an existing resource
//! this host is member of.

mod common;

use common::*;

#[test]
fn role_says_who_is_actually_and_who_should_be_primary() {
    let f = Fixture::with_resource("role");
    let run = f.run(&["role", "r0"]);
    run.ok();
    assert_eq!(run.stdout, "I am actually secondary\n");
    f.put_link("resource-r0/actual-alpha/is-primary", "1", LAMPORT);
    let run = f.run(&["state", "r0"]);
    run.ok();
    assert_eq!(run.stdout, "I am actually primary\n");
    let run = f.run(&["role", "r0", "bravo"]);
    run.ok();
    assert_eq!(
        run.stdout,
        "I am actually secondary and alpha should be primary\n"
    );
    f.put_link("resource-r0/primary", "(none)", (LAMPORT.0 + 1, 0));
    let run = f.run(&["role", "r0"]);
    run.ok();
    assert_eq!(
        run.stdout,
        "I am actually primary and (none) should be primary\n"
    );
    f.run(&["role", "r0", "bad.host"])
        .refused("disallowed characters");
}

#[test]
fn ignored_and_senseless_words_succeed_and_change_nothing() {
    let f = Fixture::with_resource("drbd-ignored");
    let before = f.snapshot();
    for word in [
        "syncer",
        "check-resize",
        "get-gi",
        "show-gi",
        "outdate",
        "adjust",
        "hidden-commands",
    ] {
        let run = f.run(&[word, "r0"]);
        run.ok();
        assert_eq!(
            run.stdout,
            format!("ignoring command '{word}' on resource 'r0'\n")
        );
    }
    for word in ["create-md", "dump-md", "dump", "new-current-uuid"] {
        let run = f.run(&[word, "r0"]);
        run.ok();
        assert_eq!(
            run.stdout,
            format!("command '{word}' makes no sense with MARS (ignoring on resource 'r0')\n")
        );
    }
    assert_eq!(f.snapshot(), before);
}

#[test]
fn forbidden_and_unimplemented_words_are_refused() {
    let f = Fixture::with_resource("drbd-refused");
    let before = f.snapshot();
    for word in ["verify", "invalidate-remote"] {
        f.run(&[word, "r0"]).refused(&format!(
            "command '{word}' on resource 'r0' cannot be used with MARS"
        ));
    }
    for word in ["cstate", "dstate", "status"] {
        f.run(&[word, "r0"]).refused(&format!(
            "command '{word}' on resource 'r0' is not yet implemented"
        ));
    }
    assert_eq!(f.snapshot(), before);
}

#[test]
fn drbd_words_need_a_resource_this_host_is_member_of() {
    let f = Fixture::with_resource("drbd-member");
    let before = f.snapshot();
    for word in ["role", "adjust", "dump", "verify", "status"] {
        f.run(&[word, "r9"]).refused("resource 'r9' does not exist");
        f.run(&[word, "bad.name"]).refused("disallowed characters");
        f.run_as("bravo", &[word, "r0"])
            .refused("I have not yet joined to resource 'r0'");
    }
    assert_eq!(f.snapshot(), before);
}

#[test]
fn drbd_words_take_lists() {
    let f = Fixture::with_resource("drbd-list");
    let disk = f.dir.join("r1.img");
    std::fs::write(&disk, vec![0u8; DISK_SIZE as usize]).unwrap();
    f.run(&["create-resource", "r1", disk.to_str().unwrap()])
        .ok();
    let run = f.run(&["adjust", "all"]);
    run.ok();
    assert!(run
        .stdout
        .contains("ignoring command 'adjust' on resource 'r0'"));
    assert!(run
        .stdout
        .contains("ignoring command 'adjust' on resource 'r1'"));
    let run = f.run(&["status", "r0,r1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("2 of 2 resources did not succeed"),
        "{}",
        run.stderr
    );
}
