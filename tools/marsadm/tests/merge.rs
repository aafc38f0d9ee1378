// SPDX-License-Identifier: GPL-2.0
//! `merge-cluster-list`, `merge-cluster-check`, `merge-cluster`, `split-cluster`,
//! `activate-guest`, `deactivate-guest` against tree fixtures and a fake peer that answers
//! the handshake and one `GetEnts` as the kernel does.

mod common;

use common::*;

/// A member of another cluster at a local address: it answers the handshake (holding the
/// secret `hex`, as host `name`) and one `GetEnts` with `entries` (path below /mars, value;
/// an empty value is a directory). Returns `ip:port` and the thread (which returns whether
/// it was asked for the listing).
fn listing_peer(
    hex: &str,
    name: &'static str,
    uuid: &'static str,
    entries: Vec<(String, String)>,
) -> (String, std::thread::JoinHandle<bool>) {
    use mars_core::lamport::Stamp;
    use mars_core::wire::*;
    use std::io::Write;
    let hex = hex.to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let thread = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        if !answer_handshake(&mut s, &hex, name, uuid) {
            return false;
        }
        let Some(request) = read_frame(&mut s) else {
            return false;
        };
        let frame = decode_frame(&request).unwrap();
        let Message::GetEnts(get) = frame.message else {
            panic!("no GetEnts")
        };
        let dirs: Vec<&str> = get.dirs.iter().collect();
        assert_eq!(dirs, ["/mars", "/mars/ips"]);
        // Two batches: the client must follow `more`.
        let paths: Vec<(String, String)> = entries
            .into_iter()
            .map(|(p, v)| (format!("/mars/{p}"), v))
            .collect();
        let half = paths.len() / 2;
        for (i, part) in [&paths[..half], &paths[half..]].into_iter().enumerate() {
            let mut buf = vec![0u8; 65536];
            let mut w = DentsWriter::new(&mut buf).unwrap();
            for (path, value) in part {
                let dent = Dent {
                    kind: if value.is_empty() {
                        DentKind::Dir
                    } else {
                        DentKind::Symlink
                    },
                    path,
                    value,
                    stamp: Stamp::new(7, 0),
                    size: 0,
                };
                w.push(&dent).unwrap();
            }
            let n = w
                .finish(Stamp::new(5, 0), frame.header.tag, i == 0)
                .unwrap();
            s.write_all(&buf[..n]).unwrap();
        }
        true
    });
    (addr, thread)
}

const BRAVO_UUID: &str = "charlie_1900000000.000000000";

/// alpha's cluster (secret SECRET_HEX) with r0.
fn cluster(tag: &str) -> Fixture {
    let f = Fixture::new(tag);
    let secret = secret_file(&f, "secret", SECRET_HEX);
    f.run(&[
        "create-cluster",
        "--ip=10.0.0.1",
        &format!("--secret-file={secret}"),
    ])
    .ok();
    f.run(&["create-resource", "r0", f.disk_arg()]).ok();
    f
}

fn other_cluster(res: &str, uuid: &str) -> Vec<(String, String)> {
    vec![
        ("uuid".into(), uuid.into()),
        ("ips".into(), String::new()),
        ("ips/ip-charlie".into(), "10.0.0.3".into()),
        ("ips/ip-delta".into(), "10.0.0.4".into()),
        (format!("resource-{res}"), String::new()),
        ("defaults".into(), String::new()),
    ]
}

#[test]
fn merge_cluster_list_prints_uuid_addresses_and_resources() {
    let f = cluster("mlist");
    let before = f.snapshot();
    let run = f.run(&["merge-cluster-list"]);
    run.ok();
    let uuid = f.value("uuid");
    let root = f.root.display().to_string();
    assert_eq!(
        run.stdout,
        format!("UUID: {uuid}\nIPs:\n{root}/ips/ip-alpha\nRESOURCEs:\n{root}/resource-r0\n")
    );
    assert_eq!(f.snapshot(), before, "it writes nothing");
}

#[test]
fn merge_cluster_check_finds_common_resources_and_changes_nothing() {
    let f = cluster("mcheck");
    let (addr, peer) = listing_peer(
        SECRET_HEX,
        "charlie",
        BRAVO_UUID,
        other_cluster("r0", BRAVO_UUID),
    );
    let before = f.snapshot();
    let run = f.run(&["merge-cluster-check", "charlie", &addr]);
    run.refused("cannot merge cluster 'charlie' due to 1 conflicts");
    assert!(
        run.stderr.contains("common resource 'r0'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("new peer 'delta' ip='10.0.0.4'"),
        "{}",
        run.stdout
    );
    assert!(peer.join().unwrap(), "the listing was asked for");
    assert_eq!(f.snapshot(), before);

    // Disjoint names: the check passes (exit 0), still nothing written.
    let (addr, peer) = listing_peer(
        SECRET_HEX,
        "charlie",
        BRAVO_UUID,
        other_cluster("r7", BRAVO_UUID),
    );
    let run = f.run(&["merge-cluster-check", "charlie", &addr]);
    run.ok();
    assert!(
        run.stdout.contains("has a different UUID"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("disjoint"), "{}", run.stdout);
    assert!(peer.join().unwrap());
    assert_eq!(f.snapshot(), before);
}

#[test]
fn merge_cluster_check_takes_the_address_from_ip_peer_option() {
    let f = cluster("mcheckip");
    let (addr, peer) = listing_peer(
        SECRET_HEX,
        "charlie",
        BRAVO_UUID,
        other_cluster("r7", BRAVO_UUID),
    );
    let run = f.run(&[
        "merge-cluster-check",
        "charlie",
        &format!("--ip-charlie={addr}"),
    ]);
    run.ok();
    assert!(run.stderr.contains(&format!(
        "Using IP '{addr}' from command line for 'charlie'"
    )));
    assert!(peer.join().unwrap());
}

#[test]
fn merge_cluster_refuses_another_secret_and_another_uuid() {
    let f = cluster("mrefuse");
    let before = f.snapshot();
    let other = "ff".repeat(32);
    let (addr, peer) = listing_peer(
        &other,
        "charlie",
        BRAVO_UUID,
        other_cluster("r7", BRAVO_UUID),
    );
    f.run(&["merge-cluster", "charlie", &addr])
        .refused("holds another cluster secret");
    assert!(!peer.join().unwrap());
    let (addr, peer) = listing_peer(
        SECRET_HEX,
        "charlie",
        BRAVO_UUID,
        other_cluster("r7", BRAVO_UUID),
    );
    f.run(&["merge-cluster", "charlie", &addr])
        .refused("not possible with this kernel");
    assert!(peer.join().unwrap());
    assert_eq!(f.snapshot(), before, "nothing changed");
    f.run(&["merge-cluster", "alpha", "10.0.0.1"])
        .refused("Cannot merge myself");
}

#[test]
fn merge_cluster_with_the_same_uuid_adds_the_unknown_members() {
    let f = cluster("msame");
    let uuid = f.value("uuid");
    let uuid: &'static str = Box::leak(uuid.into_boxed_str());
    let (addr, peer) = listing_peer(SECRET_HEX, "charlie", uuid, other_cluster("r0", uuid));
    f.clear_trigger();
    let run = f.run(&["merge-cluster", "charlie", &addr]);
    run.ok();
    assert!(run.stdout.contains("has the same UUID"), "{}", run.stdout);
    assert!(peer.join().unwrap());
    assert_eq!(f.value("ips/ip-charlie"), "10.0.0.3");
    assert_eq!(f.value("ips/ip-delta"), "10.0.0.4");
    assert_eq!(f.link("ips/ip-delta").1, add_ns(LAMPORT, 1), "stamped now");
    assert!(!f.trigger().is_empty(), "the peers are asked for news");
}

#[test]
fn split_cluster_prints_the_groups_and_refuses_to_split() {
    let f = cluster("split");
    // bravo shares r0 with alpha; charlie is alone with r5.
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link("ips/ip-charlie", "10.0.0.3", (1_900_000_000, 0));
    f.put_link("resource-r0/data-bravo", "/dev/x", (1_900_000_000, 0));
    f.put_link("resource-r5/data-charlie", "/dev/y", (1_900_000_000, 0));
    let before = f.snapshot();
    let run = f.run(&["split-cluster"]);
    run.refused("cannot split the cluster into these 2 groups");
    assert!(
        run.stdout.contains("#1: alpha => alpha,bravo"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("#2: charlie => charlie"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
    // One group: nothing to do.
    f.put_link("resource-r5/data-bravo", "/dev/z", (1_900_000_000, 0));
    let run = f.run(&["split-cluster"]);
    run.ok();
    assert!(
        run.stdout
            .contains("Nothing to do: there are only 1 group(s)"),
        "{}",
        run.stdout
    );
}

#[test]
fn activate_guest_needs_a_known_resource_and_writes_nothing() {
    let f = cluster("guest");
    // No peers: wait-cluster has nobody to wait for.
    let before = f.snapshot();
    let run = f.run(&["activate-guest", "r0"]);
    run.ok();
    f.run(&["activate-guest", "r9"])
        .refused("Could not get resource name 'r9'");
    let mut after = f.snapshot();
    before.keys().for_each(|k| {
        after.remove(k);
    });
    assert!(after.is_empty(), "nothing new in the tree: {after:?}");
}

#[test]
fn deactivate_guest_refuses_a_storage_member_and_deletes_a_guest_link() {
    let f = cluster("deguest");
    let before = f.snapshot();
    f.run(&["deactivate-guest", "r0"])
        .refused("peer 'alpha' is a storage member of resource 'r0'");
    assert_eq!(f.snapshot(), before);
    // bravo is a guest of r0 as the original's activate-guest made it.
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link("resource-r0/device-bravo", "r0", (1_900_000_000, 0));
    f.run_as("bravo", &["deactivate-guest", "r0"]).ok();
    assert_eq!(f.value("resource-r0/device-bravo"), ".deleted");
    let run = f.run_as("bravo", &["deactivate-guest", "r0"]);
    run.ok();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
}

#[test]
fn create_and_join_resource_refuse_a_list() {
    let f = cluster("newlist");
    let before = f.snapshot();
    f.run(&["create-resource", "r1,r2", f.disk_arg()])
        .refused("you must explicitly name a single new resource");
    f.run(&["join-resource", "r1,r2", f.disk_arg()])
        .refused("you must explicitly name a single new resource");
    f.run(&["join-resource", "all", f.disk_arg()])
        .refused("'all'");
    assert_eq!(f.snapshot(), before);
}
