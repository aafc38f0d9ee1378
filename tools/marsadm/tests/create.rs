// SPDX-License-Identifier: GPL-2.0
//! `create-cluster` and `create-resource` write exactly the links of the original marsadm,
//! stamped from the kernel's Lamport clock on and strictly increasing in write order; every
//! bad input is refused with exit code 1 and a message, and leaves the tree byte for byte as
//! it was; a failure in the middle of writing is rolled back.

mod common;

use common::*;
use std::collections::BTreeMap;

const ZERO: &str = "00000000000000000000000000000000";

#[test]
fn create_cluster_writes_the_cluster_links() {
    let f = Fixture::new("cluster");
    let run = f.run(&["create-cluster", "--ip=10.0.0.1"]);
    run.ok();
    assert!(
        run.stdout
            .contains(&format!("New cluster UUID is 'alpha_{LAMPORT_TEXT}'")),
        "{}",
        run.stdout
    );
    let snap = f.snapshot();
    let expected: BTreeMap<String, String> = [
        ("actual-alpha/marsadm-version", "2.9"),
        ("uuid", "alpha_2000000000.123456789"),
        ("defaults-alpha/sync-limit", "0"),
        ("defaults-alpha/sync-pref-list", "(none)"),
        ("ips/ip-alpha", "10.0.0.1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(links(&snap), expected);
    let dirs: Vec<&str> = snap
        .iter()
        .filter(|(_, s)| s.kind == 'd')
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        dirs,
        [
            "actual-alpha",
            "defaults",
            "defaults-alpha",
            "ips",
            "todo-global",
            "userspace"
        ]
    );
    assert_stamped_in_order(
        &f,
        LAMPORT,
        &[
            "actual-alpha/marsadm-version",
            "uuid",
            "defaults-alpha/sync-limit",
            "defaults-alpha/sync-pref-list",
            "ips/ip-alpha",
        ],
    );
    assert_eq!(
        f.link("actual-alpha/marsadm-version").1,
        LAMPORT,
        "the first link gets lamport_now itself"
    );
    // An ips link changed: a local round and tell the peers (the original's trigger 2).
    assert_eq!(f.trigger(), "5");
}

#[test]
fn create_cluster_twice_is_refused_and_changes_nothing() {
    let f = Fixture::new("cluster-twice");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let before = f.snapshot();
    f.run(&["create-cluster", "--ip=10.0.0.2"])
        .refused("cluster is already created");
    assert_eq!(f.snapshot(), before);
    // --force passes the ips check, but an existing uuid is never overridden.
    f.run(&["create-cluster", "--ip=10.0.0.2", "--force"])
        .refused("no override is possible");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn create_cluster_rejects_a_bad_address() {
    let f = Fixture::new("cluster-bad-ip");
    let before = f.snapshot();
    f.run(&["create-cluster", "--ip=10.0.0.256"])
        .refused("IP address '10.0.0.256'");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn without_the_module_the_real_time_stamps_the_links_and_marsadm_says_so() {
    let f = Fixture::new("cluster-no-module");
    f.unload();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let run = f.run(&["create-cluster", "--ip=10.0.0.1"]);
    run.ok();
    assert!(
        run.stderr.contains("not loaded") && run.stderr.contains("real time"),
        "{}",
        run.stderr
    );
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (uuid, stamp) = f.link("uuid");
    assert!(
        stamp.0 >= before && stamp.0 <= after,
        "uuid stamped {stamp:?}, not now"
    );
    assert!(uuid.starts_with("alpha_"));
}

/// The links of a fresh resource r0 on host alpha, in the order the original writes them.
fn resource_links(size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("resource-r0/size", size.to_string()),
        ("resource-r0/data-alpha", String::new()),
        ("resource-r0/device-alpha", "r0".into()),
        ("resource-r0/actual-alpha/if-on", "0".into()),
        ("resource-r0/todo-alpha/connect", "1".into()),
        ("resource-r0/todo-alpha/sync", "1".into()),
        ("resource-r0/todo-alpha/allow-replay", "1".into()),
        ("resource-r0/primary", "alpha".into()),
        ("resource-r0/userspace/last-primary", "alpha".into()),
        ("resource-r0/syncstatus-alpha", size.to_string()),
        ("resource-r0/replay-alpha", "log-000000001-alpha,0,0".into()),
        (
            "resource-r0/version-000000000-alpha",
            format!("{ZERO},log-000000000-alpha,0:"),
        ),
        (
            "resource-r0/version-000000001-alpha",
            format!("{ZERO},log-000000001-alpha,0:{ZERO},log-000000000-alpha,0"),
        ),
        ("resource-r0/maxnr", "1".into()),
        ("resource-r0/todo-alpha/attach", "1".into()),
    ]
}

#[test]
fn create_resource_writes_the_resource_links() {
    let f = Fixture::new("resource");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let cluster = f.snapshot();
    let lamport = (LAMPORT.0 + 10, 0);
    f.set_lamport(lamport);
    let run = f.run(&["create-resource", "r0", f.disk_arg()]);
    run.ok();
    assert!(run.stdout.contains("successfully created resource 'r0'"));
    let snap = f.snapshot();
    let mut expected = links(&cluster);
    for (rel, value) in resource_links(DISK_SIZE) {
        let value = if rel.ends_with("data-alpha") {
            f.disk_arg().to_string()
        } else {
            value
        };
        expected.insert(rel.to_string(), value);
    }
    assert_eq!(links(&snap), expected);
    let new_dirs: Vec<&str> = snap
        .iter()
        .filter(|(k, s)| s.kind == 'd' && !cluster.contains_key(*k))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        new_dirs,
        [
            "resource-r0",
            "resource-r0/actual-alpha",
            "resource-r0/defaults",
            "resource-r0/defaults-alpha",
            "resource-r0/local-alpha",
            "resource-r0/todo-alpha",
            "resource-r0/userspace"
        ]
    );
    let log = &snap["resource-r0/log-000000001-alpha"];
    assert_eq!(
        (log.kind, log.value.len()),
        ('f', 0),
        "the first logfile is an empty regular file"
    );
    let order: Vec<&str> = resource_links(0).iter().map(|(rel, _)| *rel).collect();
    assert_stamped_in_order(&f, lamport, &order);
    assert!(
        !snap.keys().any(|k| k.contains(".tmp")),
        "no temporaries are left"
    );
    // The original triggers 2 (primary changed) and then 3 (pull and tell everyone).
    assert_eq!(f.trigger(), "15");
}

#[test]
fn create_resource_can_use_part_of_the_disk_and_another_device_name() {
    let f = Fixture::new("resource-size");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    f.run(&["create-resource", "r0", f.disk_arg(), "data0", "512k"])
        .ok();
    assert_eq!(f.value("resource-r0/size"), "512000");
    assert_eq!(f.value("resource-r0/syncstatus-alpha"), "512000");
    assert_eq!(f.value("resource-r0/device-alpha"), "data0");
    let g = Fixture::new("resource-size-option");
    g.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    g.run(&["create-resource", "r0", g.disk_arg(), "--size=512K"])
        .ok();
    assert_eq!(g.value("resource-r0/size"), (512 * 1024).to_string());
}

#[test]
fn a_reused_resource_directory_starts_beyond_the_old_logfile_numbers() {
    let f = Fixture::new("resource-reuse");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    f.put_link("resource-r0/maxnr", "7", (1_900_000_000, 0));
    f.run(&["create-resource", "r0", f.disk_arg()]).ok();
    assert_eq!(
        f.value("resource-r0/replay-alpha"),
        "log-000100007-alpha,0,0"
    );
    assert_eq!(f.value("resource-r0/skip-check-alpha"), "100007");
    assert_eq!(f.value("resource-r0/maxnr"), "100007");
    assert_eq!(
        f.value("resource-r0/version-000100006-alpha"),
        format!("{ZERO},log-000100006-alpha,0:")
    );
    assert!(f.path("resource-r0/log-000100007-alpha").is_file());
}

/// Runs a refused command and checks the tree is unchanged, byte for byte.
fn refused_unchanged(f: &Fixture, args: &[&str], pattern: &str) {
    let before = f.snapshot();
    f.clear_trigger();
    f.run(args).refused(pattern);
    assert_eq!(f.snapshot(), before, "{args:?} changed the tree");
    assert_eq!(f.trigger(), "", "{args:?} triggered the kernel");
}

#[test]
fn create_resource_refuses_bad_input_and_changes_nothing() {
    let f = Fixture::new("resource-guards");
    refused_unchanged(
        &f,
        &["create-resource", "r0", f.disk_arg()],
        "create-cluster first",
    );
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let small = f.dir.join("small.img");
    std::fs::write(&small, vec![0u8; 65536]).unwrap();
    let disk = f.disk_arg();
    let cases: &[(&[&str], &str)] = &[
        (
            &["create-resource", "r1", "/nonexistent/disk"],
            "does not exist",
        ),
        (
            &["create-resource", "r1", f.dir.to_str().unwrap()],
            "no usable block device",
        ),
        (
            &["create-resource", "r1", small.to_str().unwrap()],
            "too small",
        ),
        (
            &["create-resource", "bad.name", disk],
            "disallowed characters",
        ),
        (&["create-resource", "r 1", disk], "disallowed characters"),
        (&["create-resource", "", disk], "empty"),
        (&["create-resource", &"a".repeat(64), disk], "too long"),
        (&["create-resource", "none", disk], "reserved"),
        (&["create-resource", "localhost", disk], "reserved"),
        (&["create-resource", "(none)", disk], "reserved"),
        (
            &["create-resource", "all", disk],
            "'all' selects every resource",
        ),
        (
            &["create-resource", "r1", disk, "bad.dev"],
            "device name 'bad.dev'",
        ),
        (
            &["create-resource", "r1", disk, "--size=2M"],
            "larger than the device size",
        ),
        (
            &["create-resource", "r1", disk, "--size=5000"],
            "not a multiple of 4K",
        ),
        (
            &["create-resource", "r1", disk, "--size=1x"],
            "bad unit suffix",
        ),
        (
            &["create-resource", "r1", disk, "--size=lots"],
            "must be a number",
        ),
    ];
    for (args, pattern) in cases {
        refused_unchanged(&f, args, pattern);
    }
    f.run(&["create-resource", "r0", disk]).ok();
    refused_unchanged(
        &f,
        &["create-resource", "r0", disk],
        "already member of resource 'r0'",
    );
    refused_unchanged(
        &f,
        &["create-resource", "r1", disk, "r0"],
        "'/dev/mars/r0' already exists at resource 'r0'",
    );
}

#[test]
fn just_above_64_kib_is_enough() {
    let f = Fixture::new("resource-min");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let disk = f.dir.join("min.img");
    std::fs::write(&disk, vec![0u8; 65536 + 4096]).unwrap();
    f.run(&["create-resource", "r0", disk.to_str().unwrap()])
        .ok();
    assert_eq!(f.value("resource-r0/size"), "69632");
}

#[test]
fn remains_of_an_earlier_resource_are_refused() {
    let f = Fixture::new("resource-remains");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    std::fs::create_dir_all(f.path("resource-r0")).unwrap();
    std::fs::write(f.path("resource-r0/log-000000003-alpha"), b"old").unwrap();
    refused_unchanged(&f, &["create-resource", "r0", f.disk_arg()], "old remains");
}

#[test]
fn a_failure_while_writing_is_rolled_back() {
    let f = Fixture::new("resource-rollback");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    // An old resource directory whose `maxnr` is, wrongly, a directory: everything before it
    // in the batch is renamed into place before the rename of maxnr fails.
    f.put_link("resource-r0/size", "4096", (1_900_000_000, 5));
    std::fs::create_dir_all(f.path("resource-r0/maxnr")).unwrap();
    let before = f.snapshot();
    f.clear_trigger();
    f.run(&["create-resource", "r0", f.disk_arg()])
        .refused("cannot replace");
    let after = f.snapshot();
    // Directory mtimes move when entries come and go; everything else is as before.
    let strip = |s: &BTreeMap<String, Snap>| -> BTreeMap<String, Snap> {
        s.iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                if v.kind == 'd' {
                    v.mtime = (0, 0);
                }
                (k.clone(), v)
            })
            .collect()
    };
    assert_eq!(strip(&after), strip(&before));
    assert_eq!(
        f.link("resource-r0/size").1,
        (1_900_000_000, 5),
        "the old value keeps its old stamp"
    );
    assert_eq!(f.trigger(), "");
}

#[test]
fn a_device_in_use_is_refused() {
    let f = Fixture::new("resource-busy");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let Some(dev) = LoopDevice::new(&f, 1 << 20) else {
        return;
    };
    // Another holder of the device, as a mounted filesystem or device mapper would be.
    use std::os::unix::fs::OpenOptionsExt;
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(&dev.path)
        .unwrap();
    refused_unchanged(&f, &["create-resource", "r0", &dev.path], "exclusive");
    drop(holder);
    let run = f.run(&["create-resource", "r0", &dev.path]);
    run.ok();
    assert!(run.stdout.contains(&format!(
        "block device '{}': determined size = 1048576 bytes",
        dev.path
    )));
    assert_eq!(f.value("resource-r0/data-alpha"), dev.path);
}

#[test]
fn a_too_small_block_device_is_refused() {
    let f = Fixture::new("resource-small-dev");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let Some(dev) = LoopDevice::new(&f, 65536) else {
        return;
    };
    refused_unchanged(&f, &["create-resource", "r0", &dev.path], "too small");
}

#[test]
fn dry_run_tells_and_writes_nothing() {
    let f = Fixture::new("resource-dry");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let before = f.snapshot();
    f.clear_trigger();
    let run = f.run(&["create-resource", "r0", f.disk_arg(), "--dry-run"]);
    run.ok();
    assert!(
        run.stdout.contains("DRY_RUN: would create symlink"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("resource-r0/todo-alpha/attach' -> '1'"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.trigger(), "");
}

#[test]
fn wrong_permissions_of_the_root_are_fixed_only_by_a_change() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("root-mode");
    std::fs::set_permissions(&f.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = f.snapshot();
    let run = f.run(&["attach", "r0"]);
    run.refused("create-cluster first");
    assert!(
        run.stderr.contains("wrong permissions 0755"),
        "{}",
        run.stderr
    );
    assert_eq!(f.snapshot(), before);
    let mode = std::fs::metadata(&f.root).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755, "a refused command does not even fix the mode");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    assert_eq!(
        std::fs::metadata(&f.root).unwrap().permissions().mode() & 0o7777,
        0o700
    );
}
