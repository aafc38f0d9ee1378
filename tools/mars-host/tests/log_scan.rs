// SPDX-License-Identifier: GPL-2.0
//! The log record format end to end with real digests: a record written out by hand, byte by
//! byte from the documented layout, scans as expected and equals what the encoder writes;
//! every scanner error class is reached by a concrete damage; and, as properties, arbitrary
//! records round-trip and the scanner finds its way back after arbitrary garbage.

use mars_core::digest::{CrcFlags, DigestAlgo, Digester};
use mars_core::log_record::*;
use mars_core::log_scan::*;
use mars_host::{pattern, HostCompressor, HostDigester, LogBuilder, MaskedDigester};
use proptest::prelude::*;
use std::collections::BTreeSet;

const CTX: ScanContext<'static> = ScanContext {
    digester: &HostDigester,
    compressor: Some(&HostCompressor),
};

fn scan_at(
    bytes: &[u8],
    state: &mut ScanState,
    ctx: &ScanContext<'_>,
) -> Result<Option<(u64, Vec<u8>)>, ScanError> {
    let mut scratch = vec![0u8; 32768];
    let start = usize::try_from(state.file_pos).unwrap();
    let window = bytes.get(start..).unwrap_or_default();
    scan_record(window, true, state, ctx, &mut scratch)
        .map(|r| r.map(|r| (r.offset, r.payload.to_vec())))
}

fn first_error(bytes: &[u8]) -> ScanError {
    first_error_with(bytes, &CTX)
}

fn first_error_with(bytes: &[u8], ctx: &ScanContext<'_>) -> ScanError {
    let mut state = ScanState::at(0);
    loop {
        match scan_at(bytes, &mut state, ctx) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error in {} bytes", bytes.len()),
            Err(e) => return e,
        }
    }
}

/// Three CRC32C records of 100, 200 and 300 bytes.
fn three() -> LogBuilder {
    let mut log = LogBuilder::new();
    for (i, len) in [100usize, 200, 300].into_iter().enumerate() {
        log.push(4096 * i as i64, &pattern(len, 7, i as u64))
            .unwrap();
    }
    log
}

#[test]
fn hand_made_record_matches_layout() {
    // payload "MARS-rust!" (10 bytes), CRC32C, seq 7, stamp 1700000000.5, pos 0x12345678, code 1
    let payload = b"MARS-rust!";
    let mut digest = [0u8; 32];
    // 10 / 8 = 1: seven 1-byte chunks, the last chunk the remaining 3 bytes.
    for i in 0..8 {
        let piece = if i < 7 {
            &payload[i..i + 1]
        } else {
            &payload[7..]
        };
        digest[i * 4..i * 4 + 4].copy_from_slice(&crc32c::crc32c(piece).to_le_bytes());
    }
    let mut folded = [0u8; 16];
    for i in 0..16 {
        folded[i] = digest[i] ^ digest[i + 16];
    }

    let mut rec: Vec<u8> = Vec::new();
    rec.extend([0x57, 0x79, 0x17, 0xd9, 0x08, 0xe9, 0xf7, 0xa8]); // START_MAGIC, LE
    rec.push(1); // format version
    rec.push(1); // valid flag
    rec.extend([94, 0]); // total_len = 10 + 84
    rec.extend([0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0]); // sec 1700000000 = 0x6553f100
    rec.extend([0x00, 0x65, 0xcd, 0x1d, 0, 0, 0, 0]); // nsec 500000000 = 0x1dcd6500
    rec.extend([0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]); // pos
    rec.extend([10, 0]); // l_len
    rec.extend([0, 0]); // l_decompress_len
    rec.extend([0, 0, 0, 0]); // spare
    rec.extend([1, 0]); // l_code
    rec.extend([0, 0]); // spare
    assert_eq!(rec.len(), 48);
    rec.extend(payload);
    rec.extend([0x6d, 0x72, 0xb5, 0x4a, 0xb7, 0x1f, 0x94, 0x74]); // END_MAGIC, LE
    rec.extend([0, 0, 0, 0]); // l_crc_old
    rec.push(1); // valid copy
    rec.push(0); // spare
    rec.extend([4, 0]); // l_crc_flags = CRC32C
    rec.extend([7, 0, 0, 0]); // l_seq_nr
    rec.extend(folded);
    assert_eq!(rec.len(), 94);

    let header = RecordHeader {
        stamp_sec: 1_700_000_000,
        stamp_nsec: 500_000_000,
        pos: 0x1234_5678,
        code: 1,
        seq_nr: 7,
    };
    let mut out = [0u8; 94];
    let opts = EncodeOptions {
        digests: CrcFlags::DIGEST_ANY,
        compression: CrcFlags::NONE,
    };
    let enc = encode_record(&header, payload, &opts, &HostDigester, None, &mut out).unwrap();
    assert_eq!(enc.total_len, 94);
    assert_eq!(enc.crc_flags, CrcFlags::CRC32C);
    assert_eq!(out.to_vec(), rec);

    let mut state = ScanState {
        file_pos: 1000,
        last_seq_nr: 6,
        records: 3,
    };
    let mut scratch = [0u8; 0];
    let r = scan_record(&rec, true, &mut state, &CTX, &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(r.payload, payload);
    assert_eq!(r.header, header);
    assert_eq!(r.offset, 1000);
    assert_eq!(
        (r.checksum, r.compression, r.warning),
        (DigestAlgo::Crc32c, None, None)
    );
    assert_eq!(
        state,
        ScanState {
            file_pos: 1094,
            last_seq_nr: 7,
            records: 4
        }
    );
    assert_eq!(
        scan_record(&[], true, &mut state, &CTX, &mut scratch),
        Ok(None)
    );
}

#[test]
fn every_digest_round_trips_and_readers_follow_flags() {
    for algo in DigestAlgo::ALL {
        let mut log = LogBuilder::new();
        log.options.digests = algo.flag();
        let enc = log.push(0, &pattern(1000, 3, 1)).unwrap();
        assert_eq!(enc.crc_flags, algo.flag());
        let mut state = ScanState::at(0);
        let mut scratch = [0u8; 0];
        let r = scan_record(&log.bytes, true, &mut state, &CTX, &mut scratch)
            .unwrap()
            .unwrap();
        assert_eq!(r.checksum, algo);
    }
    // MD5 over two halves cannot digest an odd length: the encoder falls back to MD5_OLD.
    let mut log = LogBuilder::new();
    log.options.digests = CrcFlags::MD5;
    assert_eq!(
        log.push(0, &[1, 2, 3]).unwrap().crc_flags,
        CrcFlags::MD5_OLD
    );
}

#[test]
fn compressed_records_round_trip() {
    let mut log = LogBuilder::new();
    log.compress = true;
    log.options.compression = CrcFlags::LZ4;
    let zeros = vec![0u8; 4096];
    let enc = log.push(0, &zeros).unwrap();
    assert_eq!(enc.crc_flags, CrcFlags::CRC32C.union(CrcFlags::LZ4));
    assert!(enc.total_len < 200, "{enc:?}");
    // Not a multiple of 512: never compressed. Incompressible: kept as is.
    assert_eq!(
        log.push(0, &vec![0u8; 1000]).unwrap().crc_flags,
        CrcFlags::CRC32C
    );
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    assert_eq!(log.push(0, &noise).unwrap().crc_flags, CrcFlags::CRC32C);

    let mut state = ScanState::at(0);
    let (_, p) = scan_at(&log.bytes, &mut state, &CTX).unwrap().unwrap();
    assert_eq!(p, zeros);
    assert_eq!(
        scan_at(&log.bytes, &mut state, &CTX)
            .unwrap()
            .unwrap()
            .1
            .len(),
        1000
    );
    assert_eq!(
        scan_at(&log.bytes, &mut state, &CTX).unwrap().unwrap().1,
        noise
    );

    // A reader without LZ4 sees a checksum mismatch, as in the original.
    let no_lz4 = ScanContext {
        digester: &HostDigester,
        compressor: None,
    };
    let e = first_error_with(&log.bytes, &no_lz4);
    assert_eq!((e.offset, e.kind.name()), (0, "checksum"));
    // A scratch buffer too small for the uncompressed payload is a decompression failure.
    let mut small = [0u8; 100];
    let e = scan_record(&log.bytes, true, &mut ScanState::at(0), &CTX, &mut small).unwrap_err();
    assert_eq!(e.kind.name(), "decompress");
}

/// Every class, by a concrete damage, with the offsets it must report.
#[test]
fn every_error_class_is_reached() {
    let log = three();
    let [r1, r2] = [log.offsets[1], log.offsets[2]];
    let mut seen = BTreeSet::new();
    let mut check = |bytes: &[u8], offset: usize, name: &str| {
        let e = first_error(bytes);
        assert_eq!((e.offset, e.kind.name()), (offset as u64, name), "{e:?}");
        assert_eq!(e.kind.is_defect(), name != "need-more");
        assert!(e.kind.mars_errno() > 0);
        seen.insert(name.to_string());
        e
    };

    // truncated: the file ends inside the third record.
    let e = check(&log.bytes[..log.bytes.len() - 10], r2, "truncated");
    assert_eq!(
        e.kind,
        ScanErrorKind::Truncated {
            needed: 300 + OVERHEAD,
            available: 300 + OVERHEAD - 10
        }
    );
    check(&log.bytes[..r2 + 20], r2, "truncated"); // inside the header
    check(&log.bytes[..r2 + 5], r2, "truncated"); // inside the magic

    // hole: garbage before the first record.
    let mut b = vec![0x11, 0x22, 0x33];
    b.extend(&log.bytes);
    let e = check(&b, 0, "hole");
    assert_eq!(e.kind, ScanErrorKind::Hole { len: 3 });

    // bad-magic / zeroed / repeated at a start magic (not the first record: no hole).
    let mut b = log.bytes.clone();
    b[r1 + 2] ^= 0xff;
    check(&b, r1, "bad-magic");
    let mut b = log.bytes.clone();
    b[r1..].fill(0);
    check(&b, r1, "zeroed");
    let mut b = log.bytes.clone();
    b[r1..].fill(0xa5);
    let e = check(&b, r1, "repeated");
    assert_eq!(e.kind, ScanErrorKind::Repeated { byte: 0xa5 });

    // bad-version, invalid
    let mut b = log.bytes.clone();
    b[r1 + 8] = 2;
    check(&b, r1, "bad-version");
    let mut b = log.bytes.clone();
    b[r1 + 9] = 0;
    let e = check(&b, r1, "invalid");
    assert_eq!(e.at, (r1 + 9) as u64);

    // bad-length, in each field
    for (field, value, want) in [
        (10usize, 0i16, LengthField::TotalZero),
        (10, -5, LengthField::TotalNegative),
        (10, 84, LengthField::TotalTooSmall),
        (36, 0, LengthField::PayloadLen),
        (36, 201, LengthField::PayloadLen),
        (38, -512, LengthField::DecompressLen),
        (38, 100, LengthField::DecompressLen),
        (38, 1000, LengthField::DecompressLen),
    ] {
        let mut b = log.bytes.clone();
        b[r1 + field..r1 + field + 2].copy_from_slice(&value.to_le_bytes());
        let e = check(&b, r1, "bad-length");
        assert_eq!(
            e.kind,
            ScanErrorKind::BadLength {
                field: want,
                value: i32::from(value)
            }
        );
    }

    // bad-end-magic, and zero/repeated bytes in its place
    let trailer1 = r1 + 48 + 200;
    let mut b = log.bytes.clone();
    b[trailer1] ^= 1;
    let e = check(&b, r1, "bad-end-magic");
    assert_eq!(e.at, trailer1 as u64);
    let mut b = log.bytes.clone();
    b[trailer1..trailer1 + 8].fill(0);
    check(&b, r1, "zeroed");
    let mut b = log.bytes.clone();
    b[trailer1..trailer1 + 8].fill(0x6b);
    check(&b, r1, "repeated");
    // A total_len that points into the payload finds no end magic there.
    let mut b = log.bytes.clone();
    b[r1 + 10..r1 + 12].copy_from_slice(&150i16.to_le_bytes());
    check(&b, r1, "bad-end-magic");

    // incomplete: valid copy not 1
    let mut b = log.bytes.clone();
    b[trailer1 + 12] = 0;
    check(&b, r1, "incomplete");

    // seq-gap: second record numbered 5
    let mut b = log.bytes.clone();
    b[trailer1 + 16..trailer1 + 20].copy_from_slice(&5u32.to_le_bytes());
    let e = check(&b, r1, "seq-gap");
    assert_eq!(
        e.kind,
        ScanErrorKind::SeqGap {
            expected: 2,
            found: 5
        }
    );
    assert_eq!(e.record_len, Some(200 + OVERHEAD));

    // bad-crc-flags: no digest flag and no crc_old
    let mut b = log.bytes.clone();
    b[trailer1 + 14..trailer1 + 16].copy_from_slice(&0u16.to_le_bytes());
    check(&b, r1, "bad-crc-flags");
    // ...or an algorithm the reader lacks (flags stripped, MD5_OLD path, crc_old 0)
    let only_md5 = MaskedDigester(CrcFlags::MD5_OLD);
    let e = first_error_with(
        &log.bytes,
        &ScanContext {
            digester: &only_md5,
            compressor: None,
        },
    );
    assert_eq!((e.offset, e.kind.name()), (0, "bad-crc-flags"));

    // checksum: one payload bit
    let mut b = log.bytes.clone();
    b[r1 + 48 + 77] ^= 0x10;
    let e = check(&b, r1, "checksum");
    assert_eq!(
        e.kind,
        ScanErrorKind::Checksum {
            algo: DigestAlgo::Crc32c
        }
    );
    // ...and an MD5_OLD record
    let mut md5log = LogBuilder::new();
    md5log.options.digests = CrcFlags::NONE;
    md5log.push(0, &pattern(64, 1, 1)).unwrap();
    md5log.bytes[60] ^= 1;
    let e = first_error(&md5log.bytes);
    assert_eq!(
        e.kind,
        ScanErrorKind::Checksum {
            algo: DigestAlgo::Md5Old
        }
    );

    // decompress: an LZ4 record whose compressed bytes are damaged
    let mut zlog = LogBuilder::new();
    zlog.compress = true;
    zlog.options.compression = CrcFlags::LZ4;
    let enc = zlog.push(0, &vec![7u8; 4096]).unwrap();
    assert!(enc.crc_flags.contains(CrcFlags::LZ4));
    zlog.bytes[48] = 0xff;
    zlog.bytes[49] = 0xff;
    let e = check(&zlog.bytes, 0, "decompress");
    assert_eq!(e.at, 48);

    // need-more: a window that ends inside a record, not at EOF
    let mut state = ScanState::at(0);
    let mut scratch = [0u8; 0];
    let e = scan_record(&log.bytes[..50], false, &mut state, &CTX, &mut scratch).unwrap_err();
    assert_eq!(
        e.kind,
        ScanErrorKind::NeedMore {
            needed: 100 + OVERHEAD
        }
    );
    assert!(!e.kind.is_defect());
    let e = scan_record(&log.bytes[..3], false, &mut state, &CTX, &mut scratch).unwrap_err();
    assert_eq!(
        e.kind,
        ScanErrorKind::NeedMore {
            needed: START_OVERHEAD
        }
    );
    let e = scan_record(&[], false, &mut state, &CTX, &mut scratch).unwrap_err();
    assert_eq!(e.kind.name(), "need-more");
    seen.insert("need-more".into());

    let all: BTreeSet<String> = ScanErrorKind::NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, all);
}

#[test]
fn backward_sequence_is_a_warning() {
    let mut log = three();
    log.set_next_seq(2);
    log.push(0, b"again").unwrap();
    let mut state = ScanState::at(0);
    let mut scratch = [0u8; 0];
    let mut warnings = Vec::new();
    let mut off = 0;
    while let Some(r) =
        scan_record(&log.bytes[off..], true, &mut state, &CTX, &mut scratch).unwrap()
    {
        off += r.total_len;
        warnings.push(r.warning);
    }
    let w = ScanWarning::SeqBackward {
        expected: 4,
        found: 2,
    };
    assert_eq!(warnings, vec![None, None, None, Some(w)]);
    assert_eq!((w.name(), w.mars_errno()), ("seq-back", 10011));
    assert_eq!(state.last_seq_nr, 2);
}

#[test]
fn skip_and_resync_after_damage() {
    let log = three();
    let mut b = log.bytes.clone();
    b[log.offsets[0] + 60] ^= 1; // checksum defect in record 1: frame intact
    let mut state = ScanState::at(0);
    let e = scan_at(&b, &mut state, &CTX).unwrap_err();
    state.skip(&e, 0);
    assert_eq!(state.file_pos, log.offsets[1] as u64);
    assert_eq!(state.last_seq_nr, 1);
    assert_eq!(
        scan_at(&b, &mut state, &CTX).unwrap().unwrap().0,
        log.offsets[1] as u64
    );

    // Structural damage: resync to the next start magic.
    let mut b = log.bytes.clone();
    b[log.offsets[1] + 10] = 0x7f; // total_len way past EOF
    b[log.offsets[1] + 11] = 0x7f;
    let mut state = ScanState::at(log.offsets[1] as u64);
    state.records = 1;
    let e = scan_at(&b, &mut state, &CTX).unwrap_err();
    assert_eq!(e.kind.name(), "truncated");
    let from = e.offset as usize;
    let next = find_start_magic(&b[from..], 1).unwrap();
    state.skip(&e, next);
    assert_eq!(state.file_pos, log.offsets[2] as u64);
    assert_eq!(state.last_seq_nr, 0);
    assert!(scan_at(&b, &mut state, &CTX).unwrap().is_some());
}

#[test]
fn find_start_magic_any_alignment() {
    let magic = START_MAGIC.to_le_bytes();
    for shift in 0..9 {
        let mut b = vec![0x57u8; shift];
        b.extend(magic);
        assert_eq!(find_start_magic(&b, 0), Some(shift));
        assert_eq!(find_start_magic(&b, shift + 1), None);
        assert_eq!(find_start_magic(&b[..b.len() - 1], 0), None);
    }
    assert_eq!(find_start_magic(&[], 5), None);
}

#[test]
fn digesters_agree_on_available_masks() {
    assert_eq!(HostDigester.available(), CrcFlags::DIGEST_ANY);
}

fn arb_header() -> impl Strategy<Value = RecordHeader> {
    (
        any::<i64>(),
        0i64..1_000_000_000,
        any::<i64>(),
        0i16..3,
        1u32..u32::MAX,
    )
        .prop_map(|(stamp_sec, stamp_nsec, pos, code, seq_nr)| RecordHeader {
            stamp_sec,
            stamp_nsec,
            pos,
            code,
            seq_nr,
        })
}

fn arb_algo() -> impl Strategy<Value = CrcFlags> {
    prop_oneof![
        Just(CrcFlags::NONE),
        Just(CrcFlags::MD5),
        Just(CrcFlags::CRC32C),
        Just(CrcFlags::CRC32),
        Just(CrcFlags::SHA1),
        Just(CrcFlags::DIGEST_ANY)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encode_scan_round_trip(
        header in arb_header(),
        digests in arb_algo(),
        compress in any::<bool>(),
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 1..5000),
            (1usize..9).prop_map(|k| vec![0x33u8; k * 512]),
        ],
    ) {
        let opts = EncodeOptions { digests, compression: if compress { CrcFlags::LZ4 } else { CrcFlags::NONE } };
        let mut out = vec![0u8; payload.len() + OVERHEAD];
        let enc = encode_record(&header, &payload, &opts, &HostDigester, Some(&HostCompressor), &mut out).unwrap();
        prop_assert!(enc.total_len <= payload.len() + OVERHEAD);
        let mut state = ScanState { file_pos: 77, last_seq_nr: header.seq_nr - 1, records: 0 };
        let mut scratch = vec![0u8; 32768];
        let rec = scan_record(&out[..enc.total_len], true, &mut state, &CTX, &mut scratch).unwrap().unwrap();
        prop_assert_eq!(rec.payload, &payload[..]);
        prop_assert_eq!(rec.header, header);
        prop_assert_eq!(rec.warning, None);
        prop_assert_eq!(state.file_pos, 77 + enc.total_len as u64);
        // Every proper prefix is incomplete, never an error and never a record.
        for cut in [0, 1, 7, 8, 47, 48, enc.total_len / 2, enc.total_len - 1] {
            let mut st = ScanState::at(0);
            let r = scan_record(&out[..cut], false, &mut st, &CTX, &mut scratch);
            prop_assert!(matches!(r, Err(ScanError { kind: ScanErrorKind::NeedMore { .. }, .. })), "cut {}: {:?}", cut, r);
        }
    }

    #[test]
    fn resync_after_garbage(
        garbage in prop::collection::vec(any::<u8>(), 1..300),
        lens in prop::collection::vec(1usize..600, 1..6),
        at in any::<prop::sample::Index>(),
    ) {
        // A log with garbage inserted before one of its records: the scan reports a defect
        // at the garbage, and resynchronisation finds every record after it.
        let mut log = LogBuilder::new();
        for (i, len) in lens.iter().enumerate() {
            log.push(i as i64, &pattern(*len, 5, i as u64)).unwrap();
        }
        let victim = at.index(lens.len());
        let cut = log.offsets[victim];
        let mut bytes = log.bytes[..cut].to_vec();
        bytes.extend(&garbage);
        bytes.extend(&log.bytes[cut..]);

        let mut scratch = vec![0u8; 32768];
        let mut state = ScanState::at(0);
        let mut found = Vec::new();
        let mut defects = 0;
        while (state.file_pos as usize) < bytes.len() {
            let window = &bytes[state.file_pos as usize..];
            match scan_record(window, true, &mut state, &CTX, &mut scratch) {
                Ok(Some(r)) => found.push((r.offset, r.header.seq_nr)),
                Ok(None) => break,
                Err(e) => {
                    defects += 1;
                    prop_assert!(e.kind.is_defect());
                    let next = match e.kind {
                        ScanErrorKind::Hole { len } => len,
                        _ => find_start_magic(window, 1).unwrap_or(window.len()),
                    };
                    state.skip(&ScanError { record_len: None, ..e }, next);
                }
            }
        }
        prop_assert!(defects >= 1);
        let shift = garbage.len() as u64;
        let expected: Vec<(u64, u32)> = log.offsets.iter().enumerate()
            .map(|(i, &o)| (o as u64 + if i >= victim { shift } else { 0 }, i as u32 + 1))
            .collect();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn scanner_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        prefix_magic in any::<bool>(),
        at_eof in any::<bool>(),
        last in any::<u32>(),
    ) {
        let mut b = bytes;
        if prefix_magic && b.len() >= 12 {
            b[..8].copy_from_slice(&START_MAGIC.to_le_bytes());
            b[8] = 1;
            b[9] = 1;
        }
        let mut state = ScanState { file_pos: u64::MAX - 3, last_seq_nr: last, records: 0 };
        let mut scratch = vec![0u8; 1000];
        let _ = scan_record(&b, at_eof, &mut state, &CTX, &mut scratch);
        let _ = find_start_magic(&b, 0);
    }
}
