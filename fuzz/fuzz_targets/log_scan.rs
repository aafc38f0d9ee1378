// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: the transaction log scanner must never panic, never over-read, and keep its
//! promises on any bytes; and encoding any payload must scan back to it.
//!
//! Input layout: byte 0 selects the mode and options, bytes 1..5 the expected sequence
//! number, the rest is either a logfile window (mode 0) or a payload to encode (mode 1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mars_core::digest::CrcFlags;
use mars_core::log_record::{encode_record, EncodeOptions, RecordHeader, OVERHEAD};
use mars_core::log_scan::{find_start_magic, scan_record, ScanContext, ScanErrorKind, ScanState};
use mars_host::{HostCompressor, HostDigester};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((seq, body)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let ctx = ScanContext {
        digester: &HostDigester,
        compressor: Some(&HostCompressor),
    };
    let mut scratch = vec![0u8; 32768];
    if mode & 1 == 0 {
        scan_file(
            body,
            mode & 2 != 0,
            u32::from_le_bytes(*seq),
            &ctx,
            &mut scratch,
        );
    } else {
        round_trip(body, mode, u32::from_le_bytes(*seq), &ctx, &mut scratch);
    }
});

/// Walks `body` like `marsadm log-dump`: every record, every defect, resynchronising.
fn scan_file(body: &[u8], at_eof: bool, last_seq: u32, ctx: &ScanContext<'_>, scratch: &mut [u8]) {
    let mut state = ScanState {
        file_pos: 0,
        last_seq_nr: last_seq,
        records: 0,
    };
    let mut steps = 0;
    while let Some(window) = body.get(state.file_pos as usize..) {
        steps += 1;
        assert!(steps <= body.len() + 1, "no progress");
        let before = state;
        match scan_record(window, at_eof, &mut state, ctx, scratch) {
            Ok(None) => {
                assert!(window.is_empty() && at_eof);
                break;
            }
            Ok(Some(r)) => {
                assert!(r.total_len > OVERHEAD && r.total_len <= window.len());
                assert!(r.stored_len <= r.total_len - OVERHEAD);
                assert!(r.payload.len() == r.stored_len || r.payload.len() == r.decompress_len);
                assert_eq!(state.file_pos, before.file_pos + r.total_len as u64);
                assert_eq!(state.last_seq_nr, r.header.seq_nr);
            }
            Err(e) => {
                assert_eq!(state, before, "state changed on error");
                assert_eq!(e.offset, before.file_pos);
                assert!(e.at >= e.offset && e.at <= e.offset + window.len() as u64);
                if let ScanErrorKind::NeedMore { .. } = e.kind {
                    assert!(!at_eof);
                    break;
                }
                let skip = match (e.record_len, e.kind) {
                    (Some(len), _) => {
                        assert!(len <= window.len());
                        len
                    }
                    (None, ScanErrorKind::Hole { len }) => len,
                    (None, _) => match find_start_magic(window, 1) {
                        Some(n) => n,
                        None => break,
                    },
                };
                assert!(skip > 0);
                state.skip(&e, skip);
            }
        }
    }
}

/// Encodes `body` as a payload with options from `mode` and scans it back.
fn round_trip(body: &[u8], mode: u8, seq: u32, ctx: &ScanContext<'_>, scratch: &mut [u8]) {
    let digests = CrcFlags(u16::from(mode >> 3) & 0x1f);
    let compression = if mode & 2 != 0 {
        CrcFlags::LZ4
    } else {
        CrcFlags::NONE
    };
    let header = RecordHeader {
        stamp_sec: i64::from(seq),
        stamp_nsec: 7,
        pos: -1,
        code: 1,
        seq_nr: seq,
    };
    let mut out = vec![0u8; body.len() + OVERHEAD];
    let opts = EncodeOptions {
        digests,
        compression,
    };
    let Ok(enc) = encode_record(
        &header,
        body,
        &opts,
        &HostDigester,
        Some(&HostCompressor),
        &mut out,
    ) else {
        assert!(body.is_empty() || body.len() > mars_core::log_record::MAX_PAYLOAD_LEN);
        return;
    };
    let mut state = ScanState::at(0);
    let rec = scan_record(&out[..enc.total_len], true, &mut state, ctx, scratch)
        .expect("encoded record scans")
        .expect("a record");
    assert_eq!(rec.payload, body);
    assert_eq!(rec.header, header);
}
