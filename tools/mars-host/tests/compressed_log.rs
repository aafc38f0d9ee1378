// SPDX-License-Identifier: GPL-2.0
//! Logfiles with compressed records, as the original MARS writes them, replay byte-identically.
//!
//! The writer here is independent of mars-core's encoder: it lays out every record byte by
//! byte from the original's `log_finalize()` (header, payload compressed after the digest was
//! taken over the uncompressed data, zero padding to 8, trailer with the compression bit in
//! `l_crc_flags`), computes the CRC32C digest with the `crc32c` crate, and compresses with
//! lz4_flex, lzokay-native and miniz_oxide. The reader is mars-core's replayer with
//! [`HostCompressor`] (mars-core's own LZO1X decoder, lz4_flex, miniz_oxide): the data device
//! it writes must equal the one the writer meant. Damaged compressed records (a bad
//! decompressed length, a corrupt stream, a reader without the algorithm) are errors at
//! their record, never a panic and never data.

use mars_core::compress::{Compression, Compressor};
use mars_core::digest::CrcFlags;
use mars_core::log_recovery::{ReplayEnd, ReplayStep, Replayer};
use mars_core::log_scan::{LengthField, ScanContext, ScanErrorKind};
use mars_host::{HostCompressor, HostDigester};
use proptest::prelude::*;

/// The original's CRC32C digest of `data`: 8 chunks of `len / 8` (the last takes the rest),
/// each CRC32C little-endian, the 32 bytes XOR-folded to 16.
fn crc32c_folded(data: &[u8]) -> [u8; 16] {
    let chunk = data.len() / 8;
    let mut full = [0u8; 32];
    for i in 0..8 {
        let start = i * chunk;
        let end = if i == 7 { data.len() } else { start + chunk };
        full[i * 4..i * 4 + 4].copy_from_slice(&crc32c::crc32c(&data[start..end]).to_le_bytes());
    }
    let mut folded = [0u8; 16];
    for i in 0..16 {
        folded[i] = full[i] ^ full[i + 16];
    }
    folded
}

/// Compresses `data` with `algo` using libraries independent of the reader where possible.
fn pack(algo: Compression, data: &[u8]) -> Vec<u8> {
    match algo {
        Compression::Lz4 => lz4_flex::block::compress(data),
        Compression::Lzo => lzokay_native::compress(data).unwrap(),
        Compression::Zlib => miniz_oxide::deflate::compress_to_vec_zlib(data, 3),
    }
}

/// One record as the original's `log_finalize()` lays it out. `stored` is the payload as
/// stored (compressed or not), `decompress_len` 0 or the uncompressed length, `flags` the
/// `l_crc_flags`, `crc` the folded digest of the uncompressed payload.
fn raw_record(
    seq: u32,
    pos: i64,
    stored: &[u8],
    decompress_len: i16,
    flags: u16,
    crc: [u8; 16],
) -> Vec<u8> {
    let padded = if decompress_len != 0 {
        stored.len().div_ceil(8) * 8
    } else {
        stored.len()
    };
    let mut r = Vec::new();
    r.extend_from_slice(&0xa8f7_e908_d917_7957u64.to_le_bytes());
    r.push(1); // format version
    r.push(1); // valid flag
    r.extend_from_slice(&((padded + 84) as i16).to_le_bytes());
    r.extend_from_slice(&(1_700_000_000i64 + i64::from(seq)).to_le_bytes());
    r.extend_from_slice(&(i64::from(seq) * 1000).to_le_bytes());
    r.extend_from_slice(&pos.to_le_bytes());
    r.extend_from_slice(&(stored.len() as i16).to_le_bytes());
    r.extend_from_slice(&decompress_len.to_le_bytes());
    r.extend_from_slice(&[0; 4]);
    r.extend_from_slice(&1i16.to_le_bytes()); // CODE_WRITE_NEW
    r.extend_from_slice(&[0; 2]);
    assert_eq!(r.len(), 48);
    r.extend_from_slice(stored);
    r.resize(48 + padded, 0);
    r.extend_from_slice(&0x7494_1fb7_4ab5_726du64.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes()); // l_crc_old
    r.push(1); // valid copy
    r.push(0);
    r.extend_from_slice(&flags.to_le_bytes());
    r.extend_from_slice(&seq.to_le_bytes());
    r.extend_from_slice(&crc);
    assert_eq!(r.len(), padded + 84);
    r
}

/// A record of `data` at `pos`, compressed with `algo` when that pays off after padding (as
/// the original keeps it), else stored plain.
fn record(seq: u32, pos: i64, data: &[u8], algo: Option<Compression>) -> (Vec<u8>, bool) {
    let crc = crc32c_folded(data);
    const CRC32C: u16 = 4;
    if let Some(algo) = algo {
        let packed = pack(algo, data);
        if packed.len().div_ceil(8) * 8 < data.len() {
            let flags = CRC32C | algo.flag().bits();
            let rec = raw_record(seq, pos, &packed, data.len() as i16, flags, crc);
            return (rec, true);
        }
    }
    (raw_record(seq, pos, data, 0, CRC32C, crc), false)
}

/// Payloads of several kinds: text, zeros, a pattern, noise (which does not compress).
fn payload(kind: usize, len: usize, seed: u32) -> Vec<u8> {
    const TEXT: &[u8] = b"MARS replicates block devices over long distances. ";
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|i| match kind % 4 {
            0 => TEXT[i % TEXT.len()],
            1 => 0,
            2 => (i / 7 + seed as usize) as u8,
            _ => {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            }
        })
        .collect()
}

/// Replays `log` onto a device of `dev_len` bytes with mars-core's replayer in windows of
/// `window` bytes; returns the device, how the log ended, and the records applied.
fn replay(
    log: &[u8],
    dev_len: usize,
    window: usize,
    compressor: Option<&dyn Compressor>,
) -> (Vec<u8>, ReplayEnd, u64, Vec<Option<Compression>>) {
    let ctx = ScanContext {
        digester: &HostDigester,
        compressor,
    };
    let mut dev = vec![0u8; dev_len];
    let mut replayer = Replayer::new(0, log.len() as u64);
    let mut scratch = vec![0u8; 32768];
    let mut buf_start = 0usize;
    let mut buf_len = window.min(log.len());
    let mut methods = Vec::new();
    let end = loop {
        let rel = replayer.position() as usize - buf_start;
        let win = &log[buf_start + rel..buf_start + buf_len];
        match replayer.step(win, &ctx, &mut scratch) {
            ReplayStep::Apply(r) => {
                let pos = r.header.pos as usize;
                dev[pos..pos + r.payload.len()].copy_from_slice(r.payload);
                methods.push(r.compression);
            }
            ReplayStep::Skip(_) => {}
            ReplayStep::NeedData { from, min_len } => {
                buf_start = from as usize;
                buf_len = window.max(min_len).min(log.len() - buf_start);
            }
            ReplayStep::End(end) => break end,
        }
    };
    (dev, end, replayer.applied(), methods)
}

/// A log of `n` records mixing every algorithm, uncompressed records and payload kinds, with
/// overlapping writes; returns the log, the device the writer meant, and how many records
/// were stored compressed.
fn mixed_log(n: u32, dev_len: usize) -> (Vec<u8>, Vec<u8>, usize) {
    let mut log = Vec::new();
    let mut dev = vec![0u8; dev_len];
    let mut compressed = 0;
    for seq in 1..=n {
        let algo = [
            Some(Compression::Lz4),
            Some(Compression::Lzo),
            Some(Compression::Zlib),
            None,
        ][seq as usize % 4];
        let len = 512 * (1 + (seq as usize * 5) % 8); // 512 .. 4096
        let data = payload(seq as usize / 4, len, seq);
        let pos = (seq as usize * 1536) % (dev_len - 4096);
        let (rec, packed) = record(seq, pos as i64, &data, algo);
        compressed += usize::from(packed);
        log.extend_from_slice(&rec);
        dev[pos..pos + len].copy_from_slice(&data);
    }
    (log, dev, compressed)
}

#[test]
fn original_compressed_logfile_replays_byte_identically() {
    let (log, want, compressed) = mixed_log(64, 64 * 1024);
    assert!(compressed >= 30, "only {compressed} records compressed");
    for window in [4096usize, 65536, 1 << 20] {
        let (dev, end, applied, methods) = replay(&log, want.len(), window, Some(&HostCompressor));
        assert_eq!(
            end,
            ReplayEnd::Clean {
                end: log.len() as u64
            }
        );
        assert_eq!(applied, 64);
        assert!(dev == want, "window {window}: device differs");
        for algo in Compression::PREFERENCE {
            assert!(methods.contains(&Some(algo)), "{algo:?} not exercised");
        }
        assert!(methods.contains(&None));
    }
}

#[test]
fn reader_without_the_algorithm_stops_at_a_checksum_error() {
    // The original: "a reader that cannot decompress gets a CRC mismatch by construction".
    let data = payload(0, 4096, 1);
    let (rec, packed) = record(1, 0, &data, Some(Compression::Zlib));
    assert!(packed);
    let (_, end, applied, _) = replay(&rec, 8192, 1 << 20, None);
    assert_eq!(applied, 0);
    match end {
        ReplayEnd::Corrupt { end: 0, error } => {
            assert!(
                matches!(error.kind, ScanErrorKind::Checksum { .. }),
                "{error:?}"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// Replays a log whose first record is `first`, followed by a good record; returns the
/// error kind at offset 0.
fn first_record_error(first: &[u8]) -> ScanErrorKind {
    let mut log = first.to_vec();
    let (good, _) = record(2, 4096, &payload(2, 512, 9), None);
    log.extend_from_slice(&good);
    let (_, end, applied, _) = replay(&log, 16384, 1 << 20, Some(&HostCompressor));
    assert_eq!(applied, 0);
    match end {
        ReplayEnd::Corrupt { end: 0, error } => error.kind,
        other => panic!("{other:?}"),
    }
}

#[test]
fn damaged_compressed_records_are_errors() {
    let data = payload(0, 4096, 3);
    let crc = crc32c_folded(&data);
    for algo in Compression::PREFERENCE {
        let packed = pack(algo, &data);
        let flags = 4 | algo.flag().bits();
        let bad_len = |len: i16| first_record_error(&raw_record(1, 0, &packed, len, flags, crc));
        // Decompressed length: not a multiple of 512, not larger than the stored length,
        // negative, larger than 32 KiB (i16 allows 32767).
        for len in [4095i16, 100, -4096, 32767, packed.len() as i16] {
            assert!(
                matches!(
                    bad_len(len),
                    ScanErrorKind::BadLength {
                        field: LengthField::DecompressLen,
                        ..
                    }
                ),
                "{algo:?} {len}"
            );
        }
        // A plausible length that is not what the stream gives.
        assert!(
            matches!(bad_len(3584), ScanErrorKind::Decompress { .. }),
            "{algo:?}"
        );
        assert!(
            matches!(bad_len(8192), ScanErrorKind::Decompress { .. }),
            "{algo:?}"
        );
        // A corrupt stream: decompression fails, or the data fail the checksum.
        let mut broken = packed.clone();
        let mid = broken.len() / 2;
        broken[mid] ^= 0x5a;
        broken[mid + 1] ^= 0xa5;
        let kind = first_record_error(&raw_record(1, 0, &broken, 4096, flags, crc));
        assert!(
            matches!(
                kind,
                ScanErrorKind::Decompress { .. } | ScanErrorKind::Checksum { .. }
            ),
            "{algo:?}: {kind:?}"
        );
        // Garbage in place of the stream.
        let kind = first_record_error(&raw_record(1, 0, &[0xff; 200], 4096, flags, crc));
        assert!(
            matches!(
                kind,
                ScanErrorKind::Decompress { .. } | ScanErrorKind::Checksum { .. }
            ),
            "{algo:?}: {kind:?}"
        );
    }
}

#[test]
fn encoder_compresses_only_when_it_pays_off() {
    // mars-core's encoder offered every algorithm: compressible data is stored compressed
    // with the preferred algorithm (LZO), noise plain; both scan back to the payload.
    use mars_core::log_record::{encode_record, EncodeOptions, RecordHeader};
    let ctx = ScanContext {
        digester: &HostDigester,
        compressor: Some(&HostCompressor),
    };
    for (kind, expect) in [(0usize, Some(Compression::Lzo)), (3, None)] {
        let data = payload(kind, 4096, 5);
        let opts = EncodeOptions {
            digests: CrcFlags::CRC32C,
            compression: CrcFlags::COMPRESS_ANY,
        };
        let header = RecordHeader {
            seq_nr: 1,
            code: 1,
            ..RecordHeader::default()
        };
        let mut out = vec![0u8; 4096 + 84];
        let enc = encode_record(
            &header,
            &data,
            &opts,
            &HostDigester,
            Some(&HostCompressor),
            &mut out,
        )
        .unwrap();
        assert_eq!(Compression::select(enc.crc_flags), expect);
        let mut state = mars_core::log_scan::ScanState::at(0);
        let mut scratch = vec![0u8; 32768];
        let r = mars_core::log_scan::scan_record(
            &out[..enc.total_len],
            true,
            &mut state,
            &ctx,
            &mut scratch,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.payload, &data[..]);
        assert_eq!(r.compression, expect);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The LZO1X decoder reads whatever an independent LZO1X compressor writes.
    #[test]
    fn lzo_decoder_reads_lzokay(kind in 0usize..4, len in 1usize..9000, seed in any::<u32>()) {
        let data = payload(kind, len, seed);
        let packed = lzokay_native::compress(&data).unwrap();
        let mut out = vec![0u8; len];
        prop_assert_eq!(mars_core::compress::lzo1x_decompress(&packed, &mut out), Some(len));
        prop_assert_eq!(&out, &data);
        // One byte short of room fails cleanly.
        let mut short = vec![0u8; len - 1];
        prop_assert_eq!(mars_core::compress::lzo1x_decompress(&packed, &mut short), None);
    }

    /// Arbitrary bytes never panic the LZO1X decoder.
    #[test]
    fn lzo_decoder_survives_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut out = vec![0u8; 4096];
        if let Some(n) = mars_core::compress::lzo1x_decompress(&bytes, &mut out) {
            prop_assert!(n <= out.len());
        }
    }
}
