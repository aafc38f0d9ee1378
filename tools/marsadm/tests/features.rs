// SPDX-License-Identifier: GPL-2.0
//! `set-global-enabled-log-compressions`, `set-global-disabled-log-digests` and
//! `set-global-disabled-net-digests` write their `defaults/` links as the original does
//! (`0x%08x` of the mref flags) and refuse bad feature lists without changing anything.

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

#[test]
fn disabled_digests_as_the_original_writes_them() {
    let f = Fixture::with_resource("digests");
    for (cmd, link) in [
        (
            "set-global-disabled-log-digests",
            "defaults/disabled-log-digests",
        ),
        (
            "set-global-disabled-net-digests",
            "defaults/disabled-net-digests",
        ),
    ] {
        f.run(&[cmd, "CHKSUM_CRC32C"]).ok();
        assert_eq!(f.value(link), "0x00040000");
        f.run(&[cmd, "CHKSUM_CRC32C | CHKSUM_CRC32|CHKSUM_SHA1"])
            .ok();
        assert_eq!(f.value(link), "0x001c0000");
        let run = f.run(&[cmd, "CHKSUM_SHA1|CHKSUM_CRC32|CHKSUM_CRC32C"]);
        assert!(run.ok().stdout.contains("already"), "{}", run.stdout);

        let before = f.snapshot();
        for (bad, why) in [
            ("CHKSUM_CRC64", "unknown feature name 'CHKSUM_CRC64'"),
            ("crc32c", "digest names must start with 'CHKSUM_'"),
            // The original refuses numbers for digests too.
            ("0x00040000", "digest names must start with 'CHKSUM_'"),
            ("CHKSUM_CRC32|COMPRESS_LZ4", "must start with 'CHKSUM_'"),
        ] {
            f.run(&[cmd, bad]).refused(why);
        }
        assert_eq!(before, f.snapshot(), "refused {cmd} changed the tree");

        // Empty: none disabled.
        f.run(&[cmd, ""]).ok();
        assert_eq!(f.value(link), "0x00000000");
    }
    // A trailing '|' is an empty item, as in the original.
    f.run(&["set-global-disabled-log-digests", "CHKSUM_CRC32|"])
        .ok();
    assert_eq!(f.value("defaults/disabled-log-digests"), "0x00080000");
    assert_eq!(
        f.run(&["view-disabled-log-digests", "r0"])
            .ok()
            .stdout
            .trim(),
        "CHKSUM_CRC32"
    );
    // Disabling every digest for logs is allowed (records then carry MD5_OLD) and says so.
    let run = f.run(&[
        "set-global-disabled-log-digests",
        "CHKSUM_CRC32C|CHKSUM_CRC32|CHKSUM_MD5|CHKSUM_SHA1",
    ]);
    assert!(run.ok().stdout.contains("plain MD5"), "{}", run.stdout);
    let run = f.run(&["set-global-disabled-net-digests", "CHKSUM_MD5_OLD"]);
    assert!(
        run.ok().stdout.contains("always stays usable"),
        "{}",
        run.stdout
    );

    // view's primitives read what the kernel published.
    f.put_link("actual-alpha/used-log-digest", "524288", LAMPORT);
    f.put_link("actual-alpha/used-net-digest", "1048576", LAMPORT);
    f.put_link("actual-alpha/usable", "4,5,0x071b0000", LAMPORT);
    f.put_link("actual-alpha/features", "4,5,0x071f0000", LAMPORT);
    for (macro_name, want) in [
        ("view-used-log-digest", "CHKSUM_CRC32"),
        ("view-used-net-digest", "CHKSUM_SHA1"),
        (
            "view-usable-digests",
            "CHKSUM_MD5_OLD|CHKSUM_MD5|CHKSUM_CRC32|CHKSUM_SHA1",
        ),
        (
            "view-implemented-digests",
            "CHKSUM_MD5_OLD|CHKSUM_MD5|CHKSUM_CRC32C|CHKSUM_CRC32|CHKSUM_SHA1",
        ),
    ] {
        assert_eq!(
            f.run(&[macro_name, "r0"]).ok().stdout.trim(),
            want,
            "{macro_name}"
        );
    }
}

#[test]
fn disabled_digests_outside_a_cluster_are_refused() {
    let f = Fixture::new("digests-nocluster");
    let before = f.snapshot();
    for cmd in [
        "set-global-disabled-log-digests",
        "set-global-disabled-net-digests",
    ] {
        let run = f.run(&[cmd, "CHKSUM_CRC32C"]);
        assert_ne!(run.code, 0);
    }
    assert_eq!(before, f.snapshot());
}

#[test]
fn enabled_net_compressions_as_the_original_writes_them() {
    const NET: &str = "defaults/enabled-net-compressions";
    let f = Fixture::with_resource("net-compressions");
    f.run(&["set-global-enabled-net-compressions", "COMPRESS_LZ4"])
        .ok();
    assert_eq!(f.value(NET), "0x02000000");
    // Log compression is another link: untouched.
    assert!(f.snapshot().iter().all(|(k, _)| !k.contains("enabled-log")));
    f.run(&[
        "set-global-enabled-net-compressions",
        "0x01000000|COMPRESS_ZLIB",
    ])
    .ok();
    assert_eq!(f.value(NET), "0x05000000");
    let before = f.snapshot();
    for (bad, why) in [
        ("COMPRESS_LZ5", "unknown feature name 'COMPRESS_LZ5'"),
        ("CHKSUM_MD5", "'CHKSUM_MD5' is not a feature of this kind"),
        ("0x02000001", "'0x02000001' sets bits that are no feature"),
        ("0x80000000", "sets bits that are no feature"),
    ] {
        f.run(&["set-global-enabled-net-compressions", bad])
            .refused(why);
    }
    assert_eq!(before, f.snapshot(), "refused commands changed the tree");
    assert_eq!(
        f.run(&["view-enabled-net-compressions", "r0"])
            .ok()
            .stdout
            .trim(),
        "COMPRESS_LZO|COMPRESS_ZLIB"
    );
    f.put_link("actual-alpha/used-net-compression", "33554432", LAMPORT);
    assert_eq!(
        f.run(&["view-used-net-compression", "r0"])
            .ok()
            .stdout
            .trim(),
        "COMPRESS_LZ4"
    );
    // The header of `view` (the original's default-header macro) shows it.
    f.put_link("actual-alpha/usable", "4,5,0x071b0000", LAMPORT);
    let view = f.run(&["view-default-header", "r0"]).ok().stdout.clone();
    assert!(
        view.contains("used-net-compression=\"COMPRESS_LZ4\""),
        "{view}"
    );
    f.run(&["set-global-enabled-net-compressions", ""]).ok();
    assert_eq!(f.value(NET), "0x00000000");
}
