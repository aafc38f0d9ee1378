// SPDX-License-Identifier: GPL-2.0
//! `join-cluster` writes the preliminary links (stamped 1970+1 s, so that the cluster's values
//! win) and waits for the cluster's uuid; it refuses a host that belongs to a cluster already.
//! `leave-cluster` deletes this host's address link and refuses while the host is member of a
//! resource. `wait-cluster` waits for every peer's heartbeat and names the silent ones.
//! `set-link` writes one link with the Lamport stamp and refuses paths outside the tree.

mod common;

use common::*;

#[test]
fn join_cluster_writes_preliminary_links_and_waits_for_the_uuid() {
    let f = Fixture::new("join");
    let run = f.run(&["join-cluster", "bravo", "10.0.0.2", "--ip=10.0.0.1", "--timeout=1"]);
    assert_eq!(run.code, 3, "no uuid arrives: not confirmed\n{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("the cluster uuid has arrived from bravo"), "{}", run.stderr);
    assert_eq!(f.link("uuid"), ("(any)".to_string(), (1, 0)));
    assert_eq!(f.link("ips/ip-bravo"), ("10.0.0.2".to_string(), (1, 0)));
    assert_eq!(f.link("ips/ip-alpha"), ("10.0.0.1".to_string(), (1, 0)));
    assert_eq!(f.value("defaults-alpha/sync-limit"), "0");
    assert_eq!(f.value("actual-alpha/marsadm-version"), "2.9");
    // Local round, pull from the peers, and tell them (an ips link changed).
    assert_eq!(f.trigger(), "7");
}

#[test]
fn join_cluster_refuses_members_and_itself() {
    let f = Fixture::new("join-refused");
    f.run(&["join-cluster", "alpha", "10.0.0.1"]).refused("is this host");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let before = f.snapshot();
    f.run(&["join-cluster", "bravo", "10.0.0.2"]).refused("already member of the cluster");
    assert_eq!(before, f.snapshot());
    let g = Fixture::new("join-unloaded");
    g.unload();
    g.run(&["join-cluster", "bravo", "10.0.0.2"]).refused("not loaded");
}

#[test]
fn leave_cluster_deletes_the_address_unless_member_of_a_resource() {
    let f = Fixture::with_resource("leave-refused");
    let before = f.snapshot();
    f.run(&["leave-cluster"]).refused("still member of the resource(s) r0");
    assert_eq!(before, f.snapshot());

    let g = Fixture::new("leave");
    g.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    g.set_lamport((2_000_000_100, 0));
    g.run(&["leave-cluster"]).ok();
    assert_eq!(g.link("ips/ip-alpha"), (".deleted".to_string(), (2_000_000_100, 0)));
    assert!(g.value("uuid").starts_with("alpha_"), "the uuid stays");
    g.run(&["leave-cluster"]).refused("no member");
}

#[test]
fn wait_cluster_waits_for_every_peer_heartbeat() {
    let f = Fixture::new("wait");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link("actual-bravo/time", "1900000000.000000000", (1_900_000_000, 0));
    let run = f.run(&["wait-cluster", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("no news within 1 s from: bravo"), "{}", run.stderr);
    assert_eq!(f.trigger(), "11");
    f.put_link("actual-bravo/time", "2000000001.000000000", (2_000_000_001, 0));
    f.run(&["wait-cluster", "--timeout=1"]).ok();
}

#[test]
fn set_link_writes_one_stamped_link() {
    let f = Fixture::new("set-link");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    f.set_lamport((2_000_000_200, 5));
    f.run(&["set-link", "hello", "userspace/greeting"]).ok();
    assert_eq!(f.link("userspace/greeting"), ("hello".to_string(), (2_000_000_200, 5)));
    let before = f.snapshot();
    f.run(&["set-link", "x", "../etc/passwd"]).refused("not a key");
    f.run(&["set-link", "x", "nodir/key"]).refused("does not exist");
    f.run(&["set-link", "x", "userspace/.tmp.1.x"]).refused("not a key");
    assert_eq!(before, f.snapshot());
}
