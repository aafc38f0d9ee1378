// SPDX-License-Identifier: GPL-2.0
//! `resize`: grows `size` to the minimum of the members' `actsize-*` (or a given size not
//! above it) on the actual primary, writing `syncstatus-<primary>` first; refuses shrinking,
//! sizes above the minimum, a host that is not the actual primary and a missing module, each
//! without changing the tree.

mod common;

use common::*;

/// A resource r0 of 1 MiB on alpha (primary, as the kernel reports it) and bravo, both disks
/// grown to `alpha` and `bravo` bytes as the kernel published them.
fn grown(tag: &str, alpha: u64, bravo: u64) -> Fixture {
    let f = Fixture::with_resource(tag);
    let d = "resource-r0";
    f.put_link(&format!("{d}/actual-alpha/is-primary"), "1", LAMPORT);
    f.put_link(&format!("{d}/actsize-alpha"), &alpha.to_string(), LAMPORT);
    f.put_link(&format!("{d}/data-bravo"), "/dev/vda", LAMPORT);
    f.put_link(&format!("{d}/actsize-bravo"), &bravo.to_string(), LAMPORT);
    f.put_link(
        &format!("{d}/syncstatus-bravo"),
        &DISK_SIZE.to_string(),
        LAMPORT,
    );
    f
}

#[test]
fn resize_grows_to_the_smallest_member_disk_and_marks_the_primary_synced() {
    let f = grown("resize-min", 4 << 20, 3 << 20);
    f.clear_trigger();
    let start = LAMPORT;
    let run = f.run(&["resize", "r0"]);
    run.ok();
    assert!(
        run.stdout.contains("resized from 1048576 to 3145728"),
        "{}",
        run.stdout
    );
    assert_eq!(f.value("resource-r0/size"), (3u64 << 20).to_string());
    assert_eq!(
        f.value("resource-r0/syncstatus-alpha"),
        (3u64 << 20).to_string()
    );
    // syncstatus of the primary before size: a peer never sees the new size without it.
    assert_stamped_in_order(
        &f,
        start,
        &["resource-r0/syncstatus-alpha", "resource-r0/size"],
    );
    assert_eq!(
        f.value("resource-r0/syncstatus-bravo"),
        DISK_SIZE.to_string(),
        "the secondary's syncstatus is its own: it syncs the new range"
    );
    assert!(!f.trigger().is_empty(), "the kernel was not triggered");
    // Again: nothing to do, nothing written.
    let before = f.snapshot();
    f.run(&["resize", "r0"]).ok();
    assert_eq!(before, f.snapshot());
}

#[test]
fn resize_takes_a_size_up_to_the_minimum() {
    let f = grown("resize-arg", 4 << 20, 4 << 20);
    let before = f.snapshot();
    f.run(&["resize", "r0", "5M"])
        .refused("is higher than the possible size (minimum of all volumes) 4194304");
    f.run(&["resize", "r0", "--force", "5M"])
        .refused("is higher than the possible size");
    f.run(&["resize", "r0", "2x"]).refused("bad unit suffix");
    f.run(&["resize", "r0", "1000"])
        .refused("not a multiple of 4K");
    f.run(&["resize", "r0", "0"])
        .refused("must be numeric and positive");
    assert_eq!(before, f.snapshot(), "a refused resize changed the tree");
    f.run(&["resize", "r0", "2M"]).ok();
    assert_eq!(f.value("resource-r0/size"), (2u64 << 20).to_string());
}

#[test]
fn resize_refuses_shrinking_and_leaves_the_tree_alone() {
    // bravo's disk is smaller than the resource (a shrunk LV): the minimum is below size.
    let f = grown("resize-shrink", 4 << 20, 4 << 20);
    f.run(&["resize", "r0", "2M"]).ok();
    let before = f.snapshot();
    f.run(&["resize", "r0", "1M"])
        .refused("only increases of the size are possible");
    f.run(&["resize", "r0", "--force", "1M"])
        .refused("only increases of the size are possible");
    assert_eq!(before, f.snapshot());
}

#[test]
fn resize_needs_the_actual_primary_the_module_and_actsize_links() {
    let f = grown("resize-guards", 4 << 20, 4 << 20);
    let before = f.snapshot();
    // bravo is a member, but not primary.
    f.run_as("bravo", &["resize", "r0"])
        .refused("only works at the primary side");
    assert_eq!(before, f.snapshot());
    // alpha designated, but the kernel does not run it as primary.
    f.put_link("resource-r0/actual-alpha/is-primary", "0", LAMPORT);
    let before_off = f.snapshot();
    f.run(&["resize", "r0"])
        .refused("only works at the primary side");
    assert_eq!(before_off, f.snapshot());
    f.put_link("resource-r0/actual-alpha/is-primary", "1", LAMPORT);
    // A stray actsize link (no data- link) does not count.
    f.put_link("resource-r0/actsize-charlie", "4096", LAMPORT);
    let run = f.run(&["resize", "r0", "--dry-run"]);
    run.ok();
    assert!(
        run.stderr
            .contains("skipping stray actsize link 'actsize-charlie'"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_file(f.path("resource-r0/actsize-charlie"));
    // A malformed actsize link is refused, not taken as 0.
    f.put_link("resource-r0/actsize-bravo", "lots", LAMPORT);
    f.run(&["resize", "r0"]).refused("not a size in bytes");
    f.put_link(
        "resource-r0/actsize-bravo",
        &(4u64 << 20).to_string(),
        LAMPORT,
    );
    // No actsize at all.
    let _ = std::fs::remove_file(f.path("resource-r0/actsize-alpha"));
    let _ = std::fs::remove_file(f.path("resource-r0/actsize-bravo"));
    f.run(&["resize", "r0"]).refused("has no actsize-* links");
    f.put_link(
        "resource-r0/actsize-alpha",
        &(4u64 << 20).to_string(),
        LAMPORT,
    );
    f.unload();
    f.run(&["resize", "r0"])
        .refused("mars kernel module is not loaded");
    assert_eq!(f.value("resource-r0/size"), DISK_SIZE.to_string());
}
