// SPDX-License-Identifier: GPL-2.0
//! The no-alloc vector checker of mars-core (`test_vectors::check`), the one mars.ko runs at
//! load time with the kernel's crypto, passes with the userspace digests and LZ4 over the same
//! file: both sides compute the same digests and read and write the same records. It also
//! catches a wrong digest, a damaged record and a compressor that does not compress.

use mars_core::compress::{Compression, Compressor};
use mars_core::digest::{CrcFlags, DigestAlgo};
use mars_core::log_scan::ScanErrorKind;
use mars_core::test_vectors::{check, Checked, Failure, FailureKind, Stage, WORK_LEN};
use mars_host::vectors::{parse, Vector, VECTOR_FILE};
use mars_host::{HostCompressor, HostDigester, MaskedDigester};
use std::path::PathBuf;

fn vector_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(VECTOR_FILE);
    std::fs::read_to_string(path).expect("vector file exists")
}

fn run(
    text: &str,
    digester: &dyn mars_core::digest::Digester,
    compressor: Option<&dyn Compressor>,
) -> Result<Checked, Failure> {
    let mut work = vec![0u8; WORK_LEN];
    check(text, digester, compressor, &mut work)
}

/// Line number (from 1) of the first line starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .expect("line exists")
        + 1
}

#[test]
fn host_services_pass_the_core_checker() {
    let text = vector_text();
    let vectors = parse(&text).unwrap();
    let digests = vectors
        .iter()
        .filter(|v| matches!(v, Vector::Digest { .. }))
        .count();
    let records = vectors.len() - digests;
    let checked = run(&text, &HostDigester, Some(&HostCompressor)).unwrap();
    assert_eq!(
        checked,
        Checked {
            digests,
            records,
            skipped: 0
        }
    );
    // tests/qemu/scenarios/digests.sh expects the kernel to report these counts.
    assert_eq!(
        (digests, records),
        (40, 7),
        "update digests.sh when the vector file grows"
    );
}

#[test]
fn missing_algorithms_are_skipped_not_failed() {
    let text = vector_text();
    let checked = run(&text, &MaskedDigester(CrcFlags::CRC32C), None).unwrap();
    // crc32c digest lines, and the uncompressed crc32c record; the compressed ones need a compressor.
    assert_eq!((checked.digests, checked.records), (9, 1));
    assert_eq!(checked.digests + checked.records + checked.skipped, 47);
}

#[test]
fn a_wrong_digest_is_reported_with_its_line() {
    let text = vector_text();
    let line = line_of(&text, "digest sha1 512 ");
    // Flip the last hex digit of the 32-byte digest field.
    let damaged: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 != line {
                return format!("{l}\n");
            }
            let mut f: Vec<String> = l.split_whitespace().map(String::from).collect();
            let d = &mut f[5];
            let last = if d.ends_with('0') { '1' } else { '0' };
            d.pop();
            d.push(last);
            format!("{}\n", f.join(" "))
        })
        .collect();
    let err = run(&damaged, &HostDigester, Some(&HostCompressor)).unwrap_err();
    assert_eq!(
        err,
        Failure {
            line,
            kind: FailureKind::Digest(DigestAlgo::Sha1)
        }
    );
}

#[test]
fn a_damaged_record_is_reported_with_its_line() {
    let text = vector_text();
    let line = line_of(&text, "record crc32 ");
    // Change one payload byte (hex characters 96..98 are the first payload byte).
    let damaged: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 != line {
                return format!("{l}\n");
            }
            let (head, record) = l.rsplit_once(' ').unwrap();
            let mut record = record.to_string();
            let byte = u8::from_str_radix(&record[96..98], 16).unwrap() ^ 0x40;
            record.replace_range(96..98, &format!("{byte:02x}"));
            format!("{head} {record}\n")
        })
        .collect();
    let err = run(&damaged, &HostDigester, Some(&HostCompressor)).unwrap_err();
    let kind = FailureKind::Scan(
        Stage::Stored,
        ScanErrorKind::Checksum {
            algo: DigestAlgo::Crc32,
        },
    );
    assert_eq!(err, Failure { line, kind });
    assert_eq!(
        err.to_string(),
        format!("line {line}: stored record does not scan: checksum")
    );
}

/// Offers LZ4 but never compresses.
struct Lazy;
impl Compressor for Lazy {
    fn available(&self) -> CrcFlags {
        CrcFlags::LZ4
    }
    fn compress(&self, _: Compression, _: &[u8], _: &mut [u8]) -> Option<usize> {
        None
    }
    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        HostCompressor.decompress(algo, src, dst)
    }
}

#[test]
fn a_compressor_that_does_not_compress_fails() {
    let text = vector_text();
    let err = run(&text, &HostDigester, Some(&Lazy)).unwrap_err();
    assert_eq!(
        err,
        Failure {
            line: line_of(&text, "record crc32c lz4 "),
            kind: FailureKind::NotCompressed
        }
    );
}
