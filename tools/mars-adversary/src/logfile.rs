// SPDX-License-Identifier: GPL-2.0
//! `compress-log SRC DST`: re-writes logfile SRC as DST with every record's payload
//! compressed where it pays off, as the original MARS writes logfiles with log compression
//! on, the algorithm cycling LZO, LZ4, zlib from record to record. The compressors are
//! mars-host's (lzokay-native, lz4_flex, miniz_oxide), not the kernel's lib/, so a guest that
//! replays DST shows the kernel reading what an independent writer wrote
//! (tests/qemu/scenarios/logger-crash.sh). Records keep their header and sequence number;
//! their digests cycle CRC32C, CRC32, SHA1, MD5 (the original's algorithms besides plain
//! MD5); the copy ends at SRC's first defect (e.g. a torn last record).

use crate::report::Report;
use mars_core::compress::Compression;
use mars_core::digest::{CrcFlags, DigestAlgo};
use mars_core::log_record::{encode_record, EncodeOptions, OVERHEAD};
use mars_core::log_scan::{scan_record, ScanContext, ScanState};
use mars_host::{HostCompressor, HostDigester};

/// The digests the records get in turn (every algorithm of the format but MD5_OLD).
const DIGESTS: [DigestAlgo; 4] = [
    DigestAlgo::Crc32c,
    DigestAlgo::Crc32,
    DigestAlgo::Sha1,
    DigestAlgo::Md5,
];

/// Re-writes `src` as `dst` (see the module documentation).
pub(crate) fn compress_log(src: &str, dst: &str) -> Result<Report, String> {
    let input = std::fs::read(src).map_err(|e| format!("{src}: {e}"))?;
    let ctx = ScanContext {
        digester: &HostDigester,
        compressor: Some(&HostCompressor),
    };
    let mut state = ScanState::at(0);
    let mut scratch = vec![0u8; mars_core::compress::MAX_DECOMPRESS_LEN];
    let mut out = Vec::with_capacity(input.len());
    let mut counts = [0u64; 3];
    let (mut records, mut plain) = (0u64, 0u64);
    let mut digests = [0u64; 4];
    let mut report = Report::default();
    loop {
        let pos = usize::try_from(state.file_pos).map_err(|_| "offset".to_string())?;
        let window = input.get(pos..).unwrap_or_default();
        let record = match scan_record(window, true, &mut state, &ctx, &mut scratch) {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => {
                report.set("stopped", format!("{}@{}", e.kind.name(), e.offset));
                break;
            }
        };
        let algo = Compression::PREFERENCE[(records % 3) as usize];
        let digest = DIGESTS[(records % 4) as usize];
        let opts = EncodeOptions {
            digests: digest.flag(),
            compression: algo.flag(),
        };
        let start = out.len();
        out.resize(start + record.payload.len() + OVERHEAD, 0);
        let enc = encode_record(
            &record.header,
            record.payload,
            &opts,
            &HostDigester,
            Some(&HostCompressor),
            &mut out[start..],
        )
        .map_err(|e| format!("record at {pos}: {e:?}"))?;
        out.truncate(start + enc.total_len);
        records += 1;
        if let Some(i) = DIGESTS
            .iter()
            .position(|d| enc.crc_flags.contains(d.flag()))
        {
            digests[i] += 1;
        }
        match Compression::select(enc.crc_flags.intersection(CrcFlags::COMPRESS_ANY)) {
            Some(c) => {
                counts[Compression::PREFERENCE
                    .iter()
                    .position(|p| *p == c)
                    .unwrap_or(0)] += 1
            }
            None => plain += 1,
        }
    }
    std::fs::write(dst, &out).map_err(|e| format!("{dst}: {e}"))?;
    Ok(report
        .set("records", records)
        .set("lzo", counts[0])
        .set("lz4", counts[1])
        .set("zlib", counts[2])
        .set("plain", plain)
        .set("crc32c", digests[0])
        .set("crc32", digests[1])
        .set("sha1", digests[2])
        .set("md5", digests[3])
        .set("bytes_in", input.len())
        .set("bytes_out", out.len())
        .take())
}
