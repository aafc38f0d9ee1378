// SPDX-License-Identifier: GPL-2.0
//! Single-core throughput of the log record path with 4 KiB payloads and CRC32C:
//! encode (copy + digest + header/trailer) and scan (parse + verify), each next to a plain
//! memcpy of the same payload bytes measured in the same run. Run with
//! `scripts/bench-core.sh` (or `cargo bench -p mars-host --bench log_record`).
//! `BENCH_SECONDS` (default 1) sets the time per measurement.

use mars_core::digest::{CrcFlags, DigestAlgo};
use mars_core::log_record::{encode_record, EncodeOptions, RecordHeader, OVERHEAD};
use mars_core::log_scan::{scan_record, ScanContext, ScanState};
use mars_host::{pattern, HostDigester};
use std::hint::black_box;
use std::time::{Duration, Instant};

const PAYLOAD: usize = 4096;
const RECORDS: usize = 256;

/// Runs `f` (one pass over `bytes` payload bytes) repeatedly for about `budget` and returns
/// the rate of the fastest pass in bytes per second. A pass takes well under a millisecond, so
/// on a busy machine most passes run without being preempted: the fastest of many measures the
/// CPU, not the scheduler's share of it, which is what a ratio of two measurements needs.
fn measure(budget: Duration, bytes: usize, mut f: impl FnMut()) -> f64 {
    // Warm up caches and branch predictors.
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut fastest = Duration::MAX;
    while start.elapsed() < budget {
        let pass = Instant::now();
        f();
        fastest = fastest.min(pass.elapsed());
    }
    bytes as f64 / fastest.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let payloads: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| pattern(PAYLOAD, 7 + 2 * i as u64, i as u64))
        .collect();
    let mut log = vec![0u8; RECORDS * (PAYLOAD + OVERHEAD)];
    let opts = EncodeOptions {
        digests: CrcFlags::CRC32C,
        compression: CrcFlags::NONE,
    };
    let total = RECORDS * PAYLOAD;

    let encode = || {
        let mut off = 0;
        for (i, p) in payloads.iter().enumerate() {
            let hdr = RecordHeader {
                stamp_sec: 1,
                stamp_nsec: 2,
                pos: (i * PAYLOAD) as i64,
                code: 1,
                seq_nr: i as u32 + 1,
            };
            let enc = encode_record(
                &hdr,
                black_box(p),
                &opts,
                &HostDigester,
                None,
                &mut log[off..],
            )
            .unwrap();
            off += enc.total_len;
        }
        black_box(&log);
    };
    let mut encode = encode;
    let encode_rate = measure(budget, total, &mut encode);

    let memcpy_rate = {
        let mut dst = vec![0u8; RECORDS * (PAYLOAD + OVERHEAD)];
        measure(budget, total, || {
            let mut off = 48;
            for p in &payloads {
                dst[off..off + PAYLOAD].copy_from_slice(black_box(p));
                off += PAYLOAD + OVERHEAD;
            }
            black_box(&dst);
        })
    };

    // Re-encode once so `log` holds valid records, then scan it.
    encode();
    let ctx = ScanContext {
        digester: &HostDigester,
        compressor: None,
    };
    let mut scratch = [0u8; 0];
    let scan_rate = measure(budget, total, || {
        let mut state = ScanState::at(0);
        let mut off = 0usize;
        let mut n = 0;
        while let Ok(Some(rec)) = scan_record(&log[off..], true, &mut state, &ctx, &mut scratch) {
            black_box(rec.payload);
            off += rec.total_len;
            n += 1;
        }
        assert_eq!(n, RECORDS);
    });

    let crc_rate = measure(budget, total, || {
        for p in &payloads {
            black_box(crc32c::crc32c(black_box(p)));
        }
    });

    let host_crc_rate = measure(budget, total, || {
        for p in &payloads {
            black_box(mars_host::crc32c::crc32c(black_box(p)));
        }
    });

    let digest_rate = measure(budget, total, || {
        for p in &payloads {
            black_box(mars_core::digest::digest32(
                DigestAlgo::Crc32c,
                black_box(p),
                &HostDigester,
            ));
        }
    });

    let mb = |r: f64| r / 1e6;
    println!(
        "log record throughput, one core, {RECORDS} records x {PAYLOAD} B payload, CRC32C ({}), fastest pass of {seconds:.2} s each",
        mars_host::crc32c::implementation()
    );
    println!(
        "  memcpy (payload bytes)      {:>9.0} MB/s",
        mb(memcpy_rate)
    );
    println!("  crc32c alone (crate)        {:>9.0} MB/s", mb(crc_rate));
    println!(
        "  crc32c alone (mars-host)    {:>9.0} MB/s",
        mb(host_crc_rate)
    );
    println!(
        "  MARS digest (8 x crc32c)    {:>9.0} MB/s",
        mb(digest_rate)
    );
    println!(
        "  encode + checksum           {:>9.0} MB/s   ratio to memcpy {:.2}",
        mb(encode_rate),
        encode_rate / memcpy_rate
    );
    println!(
        "  scan + verify               {:>9.0} MB/s   ratio to memcpy {:.2}",
        mb(scan_rate),
        scan_rate / memcpy_rate
    );
}
