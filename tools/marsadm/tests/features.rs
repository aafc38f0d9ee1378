// SPDX-License-Identifier: GPL-2.0
//! `set-global-enabled-log-compressions` writes `defaults/enabled-log-compressions` as the
//! original does (`0x%08x` of the mref flags) and refuses bad feature lists without changing
//! anything.

mod common;

use common::*;

const LINK: &str = "defaults/enabled-log-compressions";

#[test]
fn enabled_log_compressions_as_the_original_writes_them() {
    let f = Fixture::with_resource("features");
    f.run(&["set-global-enabled-log-compressions", "COMPRESS_LZ4"])
        .ok();
    assert_eq!(f.value(LINK), "0x02000000");
    f.run(&[
        "set-global-enabled-log-compressions",
        "COMPRESS_LZO | COMPRESS_ZLIB",
    ])
    .ok();
    assert_eq!(f.value(LINK), "0x05000000");
    // The original's numeric form.
    f.run(&["set-global-enabled-log-compressions", "0x02000000"])
        .ok();
    assert_eq!(f.value(LINK), "0x02000000");
    let run = f.run(&["set-global-enabled-log-compressions", "COMPRESS_LZ4"]);
    assert!(
        run.ok().stdout.contains("already COMPRESS_LZ4"),
        "{}",
        run.stdout
    );

    let before = f.snapshot();
    for (bad, why) in [
        ("COMPRESS_LZ5", "unknown feature name 'COMPRESS_LZ5'"),
        ("lz4", "unknown feature name 'lz4'"),
        (
            "CHKSUM_CRC32C",
            "'CHKSUM_CRC32C' is not a feature of this kind",
        ),
        (
            "COMPRESS_LZ4|0x02000001",
            "'0x02000001' sets bits that are no feature",
        ),
        ("0x100000000", "sets bits that are no feature"),
    ] {
        f.run(&["set-global-enabled-log-compressions", bad])
            .refused(why);
    }
    assert_eq!(before, f.snapshot(), "refused commands changed the tree");

    // view's primitives read the link and what the kernel published.
    assert_eq!(
        f.run(&["view-enabled-log-compressions", "r0"])
            .ok()
            .stdout
            .trim(),
        "COMPRESS_LZ4"
    );
    f.put_link("actual-alpha/used-log-compression", "33554432", LAMPORT);
    assert_eq!(
        f.run(&["view-used-log-compression", "r0"])
            .ok()
            .stdout
            .trim(),
        "COMPRESS_LZ4"
    );

    // Empty: off.
    f.run(&["set-global-enabled-log-compressions", ""]).ok();
    assert_eq!(f.value(LINK), "0x00000000");
}

#[test]
fn outside_a_cluster_it_is_refused() {
    let f = Fixture::new("features-nocluster");
    let before = f.snapshot();
    let run = f.run(&["set-global-enabled-log-compressions", "COMPRESS_LZ4"]);
    assert_ne!(run.code, 0);
    assert_eq!(before, f.snapshot());
}
