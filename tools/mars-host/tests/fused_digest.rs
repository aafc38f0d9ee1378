// SPDX-License-Identifier: GPL-2.0
//! The host's fast CRC32C paths against the plain ones, on random sizes (0..=64 KiB) at
//! unaligned offsets: the fused copy-and-digest of the encoder (`Digester::copy_crc32c_8`),
//! the one-buffer digest of the scanner (`Digester::crc32c_split8`), and whole records, which
//! must be byte-identical whichever digester wrote them and verify with either.
//!
//! The plain side is [`Plain`]: a digester that provides only `crc32c` (from the `crc32c`
//! crate) and leaves everything else to the trait's defaults (split, copy, then one CRC per
//! chunk), which is also what the kernel module's digester does with its lib crc32c.

use mars_core::digest::{
    digest32, mars_digest, mars_digest_copy, mars_digest_folded, split8, CrcFlags, DigestAlgo,
    Digester,
};
use mars_core::log_record::{
    encode_record, EncodeOptions, RecordHeader, MAX_PAYLOAD_LEN, OVERHEAD, START_OVERHEAD,
};
use mars_core::log_scan::{scan_record, ScanContext, ScanErrorKind, ScanState};
use mars_host::HostDigester;

/// CRC32C from the `crc32c` crate, every other method the trait's default.
struct Plain;

impl Digester for Plain {
    fn crc32c(&self, data: &[u8]) -> Option<u32> {
        Some(crc32c::crc32c(data))
    }
}

/// xorshift64*, so that a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> 56) as u8).collect()
    }
}

/// Lengths worth trying at every run (chunk sizes around the 32- and 64-byte blocks of the
/// folding paths and their thresholds), then random ones, half of them below 4 KiB.
fn lengths(rng: &mut Rng, random: usize, max: usize) -> Vec<usize> {
    let mut lens: Vec<usize> = [
        0, 1, 7, 8, 9, 63, 64, 255, 256, 257, 511, 512, 513, 520, 1023, 1024, 4095, 4096, 4097,
        4104, 8191, 8192, 32684, 65535, 65536,
    ]
    .into_iter()
    .filter(|&l| l <= max)
    .collect();
    for i in 0..random {
        lens.push(if i % 2 == 0 {
            rng.below(4097.min(max + 1))
        } else {
            rng.below(max + 1)
        });
    }
    lens
}

#[test]
fn fused_copy_and_digest_match_the_plain_path_at_random_sizes_and_offsets() {
    let mut rng = Rng(0x6d61_7273_6372_6331);
    let data = rng.bytes(65536 + 64);
    let mut out = vec![0u8; 65536 + 128];
    for len in lengths(&mut rng, 300, 65536) {
        let (src_at, dst_at) = (rng.below(64), rng.below(64));
        let src = &data[src_at..src_at + len];
        let chunks = split8(src).unwrap();
        let want = chunks.map(crc32c::crc32c);
        let what = format!("len {len} src +{src_at} dst +{dst_at}");

        assert_eq!(HostDigester.crc32c_split8(src), Some(want), "{what}");
        assert_eq!(HostDigester.crc32c_8(chunks), Some(want), "{what}");
        assert_eq!(
            digest32(DigestAlgo::Crc32c, src, &HostDigester),
            digest32(DigestAlgo::Crc32c, src, &Plain),
            "{what}"
        );
        assert_eq!(
            mars_digest_folded(CrcFlags::DIGEST_ANY, src, &HostDigester),
            mars_digest(CrcFlags::CRC32C, src, &Plain)
                .map(|(a, d)| (a, mars_core::digest::fold(&d))),
            "{what}"
        );

        out.fill(0xa5);
        let dst = &mut out[dst_at..dst_at + len];
        assert_eq!(HostDigester.copy_crc32c_8(dst, src), Some(want), "{what}");
        assert!(out[dst_at..dst_at + len] == *src, "copy, {what}");
        assert!(out[..dst_at].iter().all(|&b| b == 0xa5), "before, {what}");
        assert!(
            out[dst_at + len..].iter().all(|&b| b == 0xa5),
            "after, {what}"
        );

        out.fill(0);
        let dst = &mut out[dst_at..dst_at + len];
        assert_eq!(
            mars_digest_copy(CrcFlags::DIGEST_ANY, src, dst, &HostDigester),
            mars_digest(CrcFlags::DIGEST_ANY, src, &Plain),
            "{what}"
        );
        assert!(out[dst_at..dst_at + len] == *src, "copy, {what}");
    }
}

#[test]
fn records_are_byte_identical_with_the_plain_digester_and_verify_with_either() {
    let mut rng = Rng(0x7265_636f_7264_7331);
    let data = rng.bytes(MAX_PAYLOAD_LEN + 64);
    let opts = EncodeOptions {
        digests: CrcFlags::DIGEST_ANY,
        compression: CrcFlags::NONE,
    };
    let mut fast = vec![0u8; MAX_PAYLOAD_LEN + OVERHEAD + 64];
    let mut plain = fast.clone();
    for (i, len) in lengths(&mut rng, 150, MAX_PAYLOAD_LEN)
        .into_iter()
        .filter(|&l| l > 0)
        .enumerate()
    {
        let (src_at, out_at) = (rng.below(64), rng.below(64));
        let payload = &data[src_at..src_at + len];
        let header = RecordHeader {
            stamp_sec: 1_700_000_000 + i as i64,
            stamp_nsec: 5,
            pos: (i * 4096) as i64,
            code: 1,
            seq_nr: 1,
        };
        let what = format!("len {len} payload +{src_at} record +{out_at}");
        let a = encode_record(
            &header,
            payload,
            &opts,
            &HostDigester,
            None,
            &mut fast[out_at..],
        )
        .unwrap();
        let b = encode_record(&header, payload, &opts, &Plain, None, &mut plain[out_at..]).unwrap();
        assert_eq!(a, b, "{what}");
        assert_eq!(a.crc_flags, CrcFlags::CRC32C, "{what}");
        let record = &fast[out_at..out_at + a.total_len];
        assert!(
            record == &plain[out_at..out_at + b.total_len],
            "bytes, {what}"
        );

        let mut damaged = record.to_vec();
        damaged[START_OVERHEAD + rng.below(len)] ^= 1 << rng.below(8);
        for digester in [&HostDigester as &dyn Digester, &Plain] {
            let ctx = ScanContext {
                digester,
                compressor: None,
            };
            let mut state = ScanState::at(0);
            let rec = scan_record(record, true, &mut state, &ctx, &mut [])
                .unwrap()
                .unwrap();
            assert_eq!(rec.payload, payload, "{what}");
            assert_eq!(rec.checksum, DigestAlgo::Crc32c, "{what}");
            let mut state = ScanState::at(0);
            let err = scan_record(&damaged, true, &mut state, &ctx, &mut []).unwrap_err();
            assert_eq!(
                err.kind,
                ScanErrorKind::Checksum {
                    algo: DigestAlgo::Crc32c
                },
                "damaged, {what}"
            );
        }
    }
}
