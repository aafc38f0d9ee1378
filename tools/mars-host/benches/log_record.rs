// SPDX-License-Identifier: GPL-2.0
//! Single-core throughput of the log record path with 4 KiB payloads and CRC32C:
//! encode (copy + digest + header/trailer) and scan (parse + verify), each next to a plain
//! memcpy of the same payload bytes measured in the same run. Run with
//! `scripts/bench-core.sh` (or `cargo bench -p mars-host --bench log_record`).
//! `BENCH_SECONDS` (default 1) sets the time per row.
//!
//! A pass (one row's work on all records) takes well under a millisecond. The rows take turns,
//! one pass each, for the whole run, and each row's figure is its 1st percentile pass time
//! (nearly the fastest pass, but a single glitch of the clock in a virtual machine, which once
//! made one pass last 20 ns, cannot be it): on a busy machine many passes run without being
//! preempted, and whatever else slows the CPU (another thread on the same core) slows every
//! row alike, so the ratios measure the code, not the moment a row happened to run.

use mars_core::digest::{CrcFlags, DigestAlgo};
use mars_core::log_record::{encode_record, EncodeOptions, RecordHeader, OVERHEAD};
use mars_core::log_scan::{scan_record, ScanContext, ScanState};
use mars_host::{pattern, HostDigester};
use std::hint::black_box;
use std::time::{Duration, Instant};

const PAYLOAD: usize = 4096;
const RECORDS: usize = 256;

/// The rows of the table, in the order they are printed.
#[derive(Clone, Copy)]
enum Row {
    Memcpy,
    CrcCrate,
    CrcHost,
    Digest,
    Encode,
    Scan,
}

const ROWS: [Row; 6] = [
    Row::Memcpy,
    Row::CrcCrate,
    Row::CrcHost,
    Row::Digest,
    Row::Encode,
    Row::Scan,
];

/// The records' payloads and the buffers the passes write.
struct Bench {
    payloads: Vec<Vec<u8>>,
    /// The encoder's output, which the scan reads.
    log: Vec<u8>,
    /// memcpy's destination, laid out like `log`.
    copy: Vec<u8>,
}

impl Bench {
    /// One pass of `row` over every record.
    fn pass(&mut self, row: Row) {
        match row {
            Row::Memcpy => {
                let mut off = 48;
                for p in &self.payloads {
                    self.copy[off..off + PAYLOAD].copy_from_slice(black_box(p));
                    off += PAYLOAD + OVERHEAD;
                }
                black_box(&self.copy);
            }
            Row::CrcCrate => {
                for p in &self.payloads {
                    black_box(crc32c::crc32c(black_box(p)));
                }
            }
            Row::CrcHost => {
                for p in &self.payloads {
                    black_box(mars_host::crc32c::crc32c(black_box(p)));
                }
            }
            Row::Digest => {
                for p in &self.payloads {
                    black_box(mars_core::digest::digest32(
                        DigestAlgo::Crc32c,
                        black_box(p),
                        &HostDigester,
                    ));
                }
            }
            Row::Encode => self.encode(),
            Row::Scan => {
                let ctx = ScanContext {
                    digester: &HostDigester,
                    compressor: None,
                };
                let mut scratch = [0u8; 0];
                let mut state = ScanState::at(0);
                let mut off = 0usize;
                let mut n = 0;
                while let Ok(Some(rec)) =
                    scan_record(&self.log[off..], true, &mut state, &ctx, &mut scratch)
                {
                    black_box(rec.payload);
                    off += rec.total_len;
                    n += 1;
                }
                assert_eq!(n, RECORDS);
            }
        }
    }

    fn encode(&mut self) {
        let opts = EncodeOptions {
            digests: CrcFlags::CRC32C,
            compression: CrcFlags::NONE,
        };
        let mut off = 0;
        for (i, p) in self.payloads.iter().enumerate() {
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
                &mut self.log[off..],
            )
            .unwrap();
            off += enc.total_len;
        }
        black_box(&self.log);
    }
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let mut bench = Bench {
        payloads: (0..RECORDS)
            .map(|i| pattern(PAYLOAD, 7 + 2 * i as u64, i as u64))
            .collect(),
        log: vec![0u8; RECORDS * (PAYLOAD + OVERHEAD)],
        copy: vec![0u8; RECORDS * (PAYLOAD + OVERHEAD)],
    };
    // The scan reads what the encoder wrote; a few rounds warm caches and predictors.
    for _ in 0..3 {
        for row in ROWS {
            bench.pass(row);
        }
    }
    let mut passes: [Vec<Duration>; ROWS.len()] = Default::default();
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds) * ROWS.len() as u32;
    while start.elapsed() < budget {
        for (row, passes) in ROWS.into_iter().zip(&mut passes) {
            let pass = Instant::now();
            bench.pass(row);
            passes.push(pass.elapsed());
        }
    }
    let typical = passes.map(|mut passes| {
        passes.sort_unstable();
        passes[passes.len() / 100]
    });
    let rate = |row: Row| (RECORDS * PAYLOAD) as f64 / typical[row as usize].as_secs_f64();
    let mb = |row: Row| rate(row) / 1e6;
    let memcpy = rate(Row::Memcpy);
    println!(
        "log record throughput, one core, {RECORDS} records x {PAYLOAD} B payload, CRC32C ({}), 1st percentile of passes taking turns for {seconds:.2} s per row",
        mars_host::crc32c::implementation()
    );
    println!(
        "  memcpy (payload bytes)      {:>9.0} MB/s",
        mb(Row::Memcpy)
    );
    println!(
        "  crc32c alone (crate)        {:>9.0} MB/s",
        mb(Row::CrcCrate)
    );
    println!(
        "  crc32c alone (mars-host)    {:>9.0} MB/s",
        mb(Row::CrcHost)
    );
    println!(
        "  MARS digest (8 x crc32c)    {:>9.0} MB/s",
        mb(Row::Digest)
    );
    println!(
        "  encode + checksum           {:>9.0} MB/s   ratio to memcpy {:.2}",
        mb(Row::Encode),
        rate(Row::Encode) / memcpy
    );
    println!(
        "  scan + verify               {:>9.0} MB/s   ratio to memcpy {:.2}",
        mb(Row::Scan),
        rate(Row::Scan) / memcpy
    );
}
