// SPDX-License-Identifier: GPL-2.0
//! `join-cluster` checks the cluster secret against the peer first (a wrong one changes
//! nothing), writes the secret and the preliminary links (stamped 1970+1 s, so that the
//! cluster's values win) and waits for the cluster's uuid, and removes them again when none
//! arrives; it refuses a host that belongs to a cluster already and an address where nothing
//! answers.
//! `leave-cluster` deletes this host's address link and refuses while the host is member of a
//! resource. `wait-cluster` waits for every peer's heartbeat and names the silent ones.
//! `set-link` writes one link with the Lamport stamp and refuses paths outside the tree.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn join_cluster_writes_preliminary_links_and_waits_for_the_uuid() {
    let f = Fixture::new("join");
    // The peer accepts our secret, but its kernel never sends the uuid.
    let (peer, member) = fake_peer(SECRET_HEX, "bravo");
    let secret = secret_file(&f, "secret", SECRET_HEX);
    let before = f.snapshot();
    let run = f.run(&[
        "join-cluster",
        "bravo",
        &peer,
        "--ip=10.0.0.1",
        "--timeout=1",
        "-v",
        &format!("--secret-file={secret}"),
    ]);
    assert!(member.join().unwrap(), "our proof verified");
    // The links were written with the preliminary stamp before the wait ...
    assert!(
        run.stdout.contains("ips/ip-bravo' -> '127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("uuid' -> '(any)'"), "{}", run.stdout);
    // Local round, pull from the peers, and tell them (an ips link changed).
    assert_eq!(f.trigger(), "7");
    // ... and are removed again when no uuid arrives: nothing changed.
    run.refused("no cluster answered from bravo");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn join_cluster_keeps_the_links_once_the_uuid_arrived() {
    let f = Fixture::new("join-ok");
    let (peer, member) = fake_peer(SECRET_HEX, "bravo");
    let secret = secret_file(&f, "secret", SECRET_HEX);
    // The "kernel" merges the cluster's uuid while marsadm waits.
    let root = f.root.clone();
    let merger = std::thread::spawn(move || {
        let uuid = root.join("uuid");
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if std::fs::read_link(&uuid).is_ok_and(|v| v.as_os_str() == "(any)") {
                let tmp = root.join(".tmp.merge.uuid");
                std::os::unix::fs::symlink("bravo_1900000000.000000000", &tmp).unwrap();
                std::fs::rename(&tmp, &uuid).unwrap();
                return;
            }
        }
    });
    let run = f.run(&[
        "join-cluster",
        "bravo",
        &peer,
        "--ip=10.0.0.1",
        "--timeout=10",
        &format!("--secret-file={secret}"),
    ]);
    merger.join().unwrap();
    run.ok();
    assert!(member.join().unwrap());
    // The secret is installed: mode 0600, the canonical format.
    let path = f.root.join(".secret");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{SECRET_HEX}\n")
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(f.value("uuid"), "bravo_1900000000.000000000");
    assert_eq!(f.link("ips/ip-bravo"), (peer.clone(), (1, 0)));
    // Our own address anew, stamped now, so that the cluster learns it.
    assert_eq!(f.link("ips/ip-alpha"), ("10.0.0.1".to_string(), LAMPORT));
    assert_eq!(f.value("defaults-alpha/sync-limit"), "0");
    assert_eq!(f.value("actual-alpha/marsadm-version"), "2.9");
}

#[test]
fn join_cluster_refuses_a_wrong_or_unreachable_address_and_changes_nothing() {
    let f = Fixture::new("join-unreachable");
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let secret = secret_file(&f, "secret", SECRET_HEX);
    let secret_arg = format!("--secret-file={secret}");
    let before = f.snapshot();
    f.run(&[
        "join-cluster",
        "bravo",
        &format!("127.0.0.1:{closed}"),
        "--ip=10.0.0.1",
        &secret_arg,
    ])
    .refused("cannot reach 'bravo'");
    f.run(&[
        "join-cluster",
        "bravo",
        "10.0.0.256",
        "--ip=10.0.0.1",
        &secret_arg,
    ])
    .refused("IP address '10.0.0.256' of 'bravo'");
    f.run(&[
        "join-cluster",
        "bravo",
        "not-an-ip",
        "--ip=10.0.0.1",
        &secret_arg,
    ])
    .refused("IP address 'not-an-ip'");
    f.run(&[
        "join-cluster",
        "bravo",
        "10.0.0.1",
        "--ip=10.0.0.1",
        &secret_arg,
    ])
    .refused("this host's own address");
    f.run(&["join-cluster", "bad.name", "10.0.0.2", &secret_arg])
        .refused("peer host name 'bad.name'");
    // Without a secret, or with one that is no secret.
    f.run(&["join-cluster", "bravo", "10.0.0.2", "--ip=10.0.0.1"])
        .refused("join-cluster needs the cluster secret: --secret-file=FILE");
    let bad = secret_file(&f, "bad", "0102");
    f.run(&[
        "join-cluster",
        "bravo",
        "10.0.0.2",
        "--ip=10.0.0.1",
        &format!("--secret-file={bad}"),
    ])
    .refused("holds no cluster secret");
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.trigger(), "", "no trigger either");
}

#[test]
fn join_cluster_refuses_members_and_itself() {
    let f = Fixture::new("join-refused");
    let secret = format!("--secret-file={}", secret_file(&f, "secret", SECRET_HEX));
    f.run(&["join-cluster", "alpha", "10.0.0.1", &secret])
        .refused("is this host");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let before = f.snapshot();
    f.run(&["join-cluster", "bravo", "10.0.0.2", &secret])
        .refused("already member of the cluster");
    assert_eq!(before, f.snapshot());
    let g = Fixture::new("join-unloaded");
    g.unload();
    g.run(&["join-cluster", "bravo", "10.0.0.2", &secret])
        .refused("not loaded");
}

#[test]
fn join_cluster_with_a_wrong_secret_changes_nothing() {
    let f = Fixture::new("join-wrong-secret");
    let (peer, member) = fake_peer(SECRET_HEX, "bravo");
    let wrong = SECRET_HEX.replace("20", "21");
    let secret = secret_file(&f, "secret", &wrong);
    let before = f.snapshot();
    let run = f.run(&[
        "join-cluster",
        "bravo",
        &peer,
        "--ip=10.0.0.1",
        &format!("--secret-file={secret}"),
    ]);
    assert!(!member.join().unwrap(), "the peer refused the proof");
    run.refused("wrong cluster secret: bravo refused the proof; nothing changed");
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.trigger(), "", "no trigger either");
}

#[test]
fn join_cluster_refuses_a_peer_that_is_another_host() {
    let f = Fixture::new("join-other-host");
    let (peer, member) = fake_peer(SECRET_HEX, "charlie");
    let secret = secret_file(&f, "secret", SECRET_HEX);
    let before = f.snapshot();
    f.run(&[
        "join-cluster",
        "bravo",
        &peer,
        "--ip=10.0.0.1",
        &format!("--secret-file={secret}"),
    ])
    .refused("is 'charlie', not 'bravo'");
    member.join().unwrap();
    assert_eq!(f.snapshot(), before);
}

#[test]
fn leave_cluster_deletes_the_address_unless_member_of_a_resource() {
    let f = Fixture::with_resource("leave-refused");
    let before = f.snapshot();
    f.run(&["leave-cluster"])
        .refused("still member of the resource(s) r0");
    assert_eq!(before, f.snapshot());

    let g = Fixture::new("leave");
    g.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    g.set_lamport((2_000_000_100, 0));
    g.run(&["leave-cluster"]).ok();
    assert_eq!(
        g.link("ips/ip-alpha"),
        (".deleted".to_string(), (2_000_000_100, 0))
    );
    assert!(g.value("uuid").starts_with("alpha_"), "the uuid stays");
    g.run(&["leave-cluster"]).refused("no member");
}

#[test]
fn wait_cluster_waits_for_every_peer_heartbeat() {
    let f = Fixture::new("wait");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link(
        "actual-bravo/time",
        "1900000000.000000000",
        (1_900_000_000, 0),
    );
    let run = f.run(&["wait-cluster", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no news within 1 s from: bravo"),
        "{}",
        run.stderr
    );
    assert_eq!(f.trigger(), "11");
    f.put_link(
        "actual-bravo/time",
        "2000000001.000000000",
        (2_000_000_001, 0),
    );
    f.run(&["wait-cluster", "--timeout=1"]).ok();
}

#[test]
fn wait_cluster_with_a_resource_waits_for_its_members_only() {
    let f = Fixture::with_resource("wait-res");
    // bravo is silent and no member of r0; charlie is a member and heard from.
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link("ips/ip-charlie", "10.0.0.3", (1_900_000_000, 0));
    f.put_link("resource-r0/data-charlie", "/dev/x", (1_900_000_000, 0));
    f.put_link("actual-charlie/time", "1", (2_000_000_001, 0));
    let run = f.run(&["wait-cluster", "r0", "--timeout=1"]);
    run.ok();
    assert!(
        run.stdout.contains("1 peer(s) heard from: charlie"),
        "{}",
        run.stdout
    );
    // The whole cluster (no resource, a list, all): bravo is missing.
    for args in [
        &["wait-cluster"][..],
        &["wait-connect", "all"],
        &["wait-cluster", "r0,r0x"],
    ] {
        let mut a = args.to_vec();
        a.push("--timeout=1");
        let run = f.run(&a);
        if args.len() == 2 && args[1] == "r0,r0x" {
            run.refused("resource 'r0x' does not exist");
            continue;
        }
        assert_eq!(run.code, 3, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("from: bravo"), "{}", run.stderr);
    }
    f.run(&["wait-cluster", "r9", "--timeout=1"])
        .refused("resource 'r9' does not exist");
}

#[test]
fn set_link_writes_one_stamped_link() {
    let f = Fixture::new("set-link");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    f.set_lamport((2_000_000_200, 5));
    f.run(&["set-link", "hello", "userspace/greeting"]).ok();
    assert_eq!(
        f.link("userspace/greeting"),
        ("hello".to_string(), (2_000_000_200, 5))
    );
    let before = f.snapshot();
    f.run(&["set-link", "x", "../etc/passwd"])
        .refused("not a key");
    f.run(&["set-link", "x", "nodir/key"])
        .refused("does not exist");
    f.run(&["set-link", "x", "userspace/.tmp.1.x"])
        .refused("not a key");
    assert_eq!(before, f.snapshot());
}

#[test]
fn create_cluster_makes_a_secret_and_never_replaces_one() {
    let f = Fixture::new("create-secret");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let path = f.root.join(".secret");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 65);
    assert!(mars_core::auth::Secret::parse(text.as_bytes()).is_ok());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A hidden name: the kernel's tree scan never lists or serves it.
    assert!(mars_core::names::is_skipped_by_scan(b".secret"));

    // Given secret; an existing one is never replaced, not even with --force.
    let g = Fixture::new("create-given-secret");
    let secret = secret_file(&g, "secret", &SECRET_HEX.to_uppercase());
    g.run(&[
        "create-cluster",
        "--ip=10.0.0.1",
        &format!("--secret-file={secret}"),
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(g.root.join(".secret")).unwrap(),
        format!("{SECRET_HEX}\n")
    );
    std::fs::remove_file(g.root.join("uuid")).unwrap();
    let before = g.snapshot();
    g.run(&["create-cluster", "--ip=10.0.0.1", "--force"])
        .refused("a cluster secret is installed already");
    assert_eq!(g.snapshot(), before);
}
