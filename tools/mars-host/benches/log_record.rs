// SPDX-License-Identifier: GPL-2.0
//! Single-core throughput of the log record path with 4 KiB payloads and CRC32C:
//! encode (copy + digest + header/trailer) and scan (parse + verify), each next to a plain
//! memcpy of the same payload bytes measured in the same run. Run with
//! `scripts/bench-core.sh` (or `cargo bench -p mars-host --bench log_record`).
//! `BENCH_SECONDS` (default 1) sets the time per row, `BENCH_RUNS` (default 1) how many times
//! the whole table is measured (with more than one, a last line gives the spread of the two
//! ratios), and `BENCH_ONLY=<row>` (`memcpy`, `crate`, `host`, `digest`, `digest-log`,
//! `encode`, `scan`) runs that row alone, for a profiler (`perf record`); the others then
//! print nothing and there are no ratios.
//!
//! A pass (one row's work on all records) takes well under a millisecond. The rows take turns,
//! one pass each, for the whole run, and each row's figure is its 1st percentile pass time
//! (nearly the fastest pass, but a single glitch of the clock in a virtual machine, which once
//! made one pass last 20 ns, cannot be it): on a busy machine many passes run without being
//! preempted, and whatever else slows the CPU (another thread on the same core) slows every
//! row alike, so the ratios measure the code, not the moment a row happened to run.

use mars_core::digest::{CrcFlags, DigestAlgo};
use mars_core::log_record::{encode_record, EncodeOptions, RecordHeader, OVERHEAD, START_OVERHEAD};
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
    DigestLog,
    Encode,
    Scan,
}

const ROWS: [Row; 7] = [
    Row::Memcpy,
    Row::CrcCrate,
    Row::CrcHost,
    Row::Digest,
    Row::DigestLog,
    Row::Encode,
    Row::Scan,
];

impl Row {
    /// The name `BENCH_ONLY` selects the row by.
    fn name(self) -> &'static str {
        match self {
            Row::Memcpy => "memcpy",
            Row::CrcCrate => "crate",
            Row::CrcHost => "host",
            Row::Digest => "digest",
            Row::DigestLog => "digest-log",
            Row::Encode => "encode",
            Row::Scan => "scan",
        }
    }
}

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
            Row::DigestLog => {
                // The payloads where the scan finds them: unaligned, in the encoder's output.
                let mut off = START_OVERHEAD;
                for _ in 0..RECORDS {
                    black_box(mars_core::digest::digest32(
                        DigestAlgo::Crc32c,
                        black_box(&self.log[off..off + PAYLOAD]),
                        &HostDigester,
                    ));
                    off += PAYLOAD + OVERHEAD;
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

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let seconds: f64 = env("BENCH_SECONDS").unwrap_or(1.0);
    let runs: usize = env::<usize>("BENCH_RUNS").unwrap_or(1).max(1);
    let only: Option<String> = env("BENCH_ONLY");
    if let Some(only) = only
        .as_deref()
        .filter(|o| !ROWS.iter().any(|r| r.name() == *o))
    {
        let names: Vec<&str> = ROWS.iter().map(|r| r.name()).collect();
        eprintln!(
            "BENCH_ONLY={only}: no such row (rows: {})",
            names.join(", ")
        );
        std::process::exit(2);
    }
    let measured = |row: Row| only.as_deref().is_none_or(|only| only == row.name());
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
    let rows = ROWS.into_iter().filter(|&r| measured(r)).count() as u32;
    let mut ratios = Vec::new();
    for _ in 0..runs {
        let mut passes: [Vec<Duration>; ROWS.len()] = Default::default();
        let start = Instant::now();
        let budget = Duration::from_secs_f64(seconds) * rows;
        while start.elapsed() < budget {
            for (row, passes) in ROWS.into_iter().zip(&mut passes) {
                if measured(row) {
                    let pass = Instant::now();
                    bench.pass(row);
                    passes.push(pass.elapsed());
                }
            }
        }
        let typical = passes.map(|mut passes| {
            passes.sort_unstable();
            passes.get(passes.len() / 100).copied()
        });
        let rate =
            |row: Row| typical[row as usize].map(|t| (RECORDS * PAYLOAD) as f64 / t.as_secs_f64());
        println!(
            "log record throughput, one core, {RECORDS} records x {PAYLOAD} B payload, CRC32C ({}), 1st percentile of passes taking turns for {seconds:.2} s per row",
            mars_host::crc32c::implementation()
        );
        let memcpy = rate(Row::Memcpy);
        let line = |label: &str, row: Row, ratio: bool| {
            let r = rate(row)?;
            let ratio = memcpy.filter(|_| ratio).map(|m| r / m);
            match ratio {
                Some(x) => println!(
                    "  {label:<28}{:>9.0} MB/s   ratio to memcpy {x:.2}",
                    r / 1e6
                ),
                None => println!("  {label:<28}{:>9.0} MB/s", r / 1e6),
            }
            ratio
        };
        line("memcpy (payload bytes)", Row::Memcpy, false);
        line("crc32c alone (crate)", Row::CrcCrate, false);
        line("crc32c alone (mars-host)", Row::CrcHost, false);
        line("MARS digest (8 x crc32c)", Row::Digest, false);
        line("MARS digest, in the log", Row::DigestLog, false);
        let encode = line("encode + checksum", Row::Encode, true);
        let scan = line("scan + verify", Row::Scan, true);
        if let (Some(e), Some(s)) = (encode, scan) {
            ratios.push((e, s));
        }
    }
    if ratios.len() > 1 {
        let spread = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let mid = v[v.len() / 2];
            format!("{:.2} / {mid:.2} / {:.2}", v[0], v[v.len() - 1])
        };
        println!(
            "ratios to memcpy over {} runs, min / median / max: encode + checksum {}, scan + verify {}",
            ratios.len(),
            spread(ratios.iter().map(|r| r.0).collect()),
            spread(ratios.iter().map(|r| r.1).collect())
        );
    }
}
