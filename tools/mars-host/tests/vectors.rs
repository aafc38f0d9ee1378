// SPDX-License-Identifier: GPL-2.0
//! The shared vector file `core/testdata/digest_vectors.txt` agrees with the host digests and
//! encoder, and every record in it scans back to its payload. The kernel's self-test reads
//! the same file. `MARS_REGEN_VECTORS=1` rewrites it (review the diff: the values must only
//! change when the format changes, which it must not).

use mars_core::digest::{digest32, fold};
use mars_core::log_scan::{scan_record, ScanContext, ScanState};
use mars_host::vectors::{encode_vector_record, generate, parse, Vector, VECTOR_FILE};
use mars_host::{pattern, HostCompressor, HostDigester};
use std::path::PathBuf;

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(VECTOR_FILE)
}

#[test]
fn vector_file_matches_host_implementations() {
    let path = vector_path();
    if std::env::var_os("MARS_REGEN_VECTORS").is_some() {
        std::fs::write(&path, generate()).unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("vector file exists");
    assert_eq!(
        text,
        generate(),
        "vector file differs from what mars-host computes"
    );
    let vectors = parse(&text).unwrap();
    let (mut digests, mut records) = (0, 0);
    for v in &vectors {
        match v {
            Vector::Digest {
                algo,
                input,
                digest,
                folded,
            } => {
                let data = pattern(input.0, input.1, input.2);
                let d = digest32(*algo, &data, &HostDigester).unwrap();
                assert_eq!(&d, digest, "{algo:?} {input:?}");
                assert_eq!(&fold(&d), folded);
                digests += 1;
            }
            Vector::Record {
                algo,
                compression,
                input,
                header,
                bytes,
            } => {
                if compression.is_none() {
                    assert_eq!(
                        &encode_vector_record(*algo, *compression, *input, header),
                        bytes
                    );
                }
                let ctx = ScanContext {
                    digester: &HostDigester,
                    compressor: Some(&HostCompressor),
                };
                let mut scratch = vec![0u8; 32768];
                let mut state = ScanState::at(0);
                let rec = scan_record(bytes, true, &mut state, &ctx, &mut scratch)
                    .unwrap()
                    .unwrap();
                assert_eq!(rec.payload, &pattern(input.0, input.1, input.2)[..]);
                assert_eq!(rec.header, *header);
                assert_eq!(rec.checksum, *algo);
                assert_eq!(rec.compression, *compression);
                records += 1;
            }
        }
    }
    assert!(
        digests >= 40 && records >= 5,
        "{digests} digests, {records} records"
    );
}

#[test]
fn parser_rejects_malformed_lines() {
    assert!(parse("digest crc32c 1 7 3 00").is_err());
    assert!(parse("digest crc64 1 7 3").is_err());
    assert!(parse("frobnicate crc32c").is_err());
    assert!(parse("record crc32c zstd 1 1 1 1 1 1 1 1 00").is_err());
    assert!(parse("# comment only\n\n").unwrap().is_empty());
}
