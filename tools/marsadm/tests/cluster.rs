// SPDX-License-Identifier: GPL-2.0
//! `join-cluster` writes the preliminary links (stamped 1970+1 s, so that the cluster's values
//! win) and waits for the cluster's uuid, and removes them again when none arrives; it refuses
//! a host that belongs to a cluster already and an address where nothing answers.
//! `leave-cluster` deletes this host's address link and refuses while the host is member of a
//! resource. `wait-cluster` waits for every peer's heartbeat and names the silent ones.
//! `set-link` writes one link with the Lamport stamp and refuses paths outside the tree.

mod common;

use common::*;

#[test]
fn join_cluster_writes_preliminary_links_and_waits_for_the_uuid() {
    let f = Fixture::new("join");
    // Something listens at the peer's address, but no cluster answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let before = f.snapshot();
    let run = f.run(&[
        "join-cluster",
        "bravo",
        &peer,
        "--ip=10.0.0.1",
        "--timeout=1",
        "-v",
    ]);
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
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
    ]);
    merger.join().unwrap();
    run.ok();
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
    let before = f.snapshot();
    f.run(&[
        "join-cluster",
        "bravo",
        &format!("127.0.0.1:{closed}"),
        "--ip=10.0.0.1",
    ])
    .refused("cannot reach 'bravo'");
    f.run(&["join-cluster", "bravo", "10.0.0.256", "--ip=10.0.0.1"])
        .refused("IP address '10.0.0.256' of 'bravo'");
    f.run(&["join-cluster", "bravo", "not-an-ip", "--ip=10.0.0.1"])
        .refused("IP address 'not-an-ip'");
    f.run(&["join-cluster", "bravo", "10.0.0.1", "--ip=10.0.0.1"])
        .refused("this host's own address");
    f.run(&["join-cluster", "bad.name", "10.0.0.2"])
        .refused("peer host name 'bad.name'");
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.trigger(), "", "no trigger either");
}

#[test]
fn join_cluster_refuses_members_and_itself() {
    let f = Fixture::new("join-refused");
    f.run(&["join-cluster", "alpha", "10.0.0.1"])
        .refused("is this host");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let before = f.snapshot();
    f.run(&["join-cluster", "bravo", "10.0.0.2"])
        .refused("already member of the cluster");
    assert_eq!(before, f.snapshot());
    let g = Fixture::new("join-unloaded");
    g.unload();
    g.run(&["join-cluster", "bravo", "10.0.0.2"])
        .refused("not loaded");
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
