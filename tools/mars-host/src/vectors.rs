// SPDX-License-Identifier: GPL-2.0
//! The shared test vectors, `core/testdata/digest_vectors.txt`.
//!
//! One vector per line, fields separated by whitespace, `#` starts a comment line:
//!
//! ```text
//! digest ALGO LEN MUL ADD DIGEST32 FOLDED16
//! record ALGO COMPRESSION LEN MUL ADD SEQ SEC NSEC POS CODE RECORD
//! ```
//!
//! The input is always the pattern `byte[i] = (i * MUL + ADD + i / 256) mod 256` of `LEN`
//! bytes.
//! `DIGEST32` is the 32-byte MARS digest of the input with `ALGO` (md5old, md5, crc32c,
//! crc32, sha1), `FOLDED16` its 16-byte fold, both in hex. A `record` line holds a complete
//! encoded record (hex) of that payload, encoded with only `ALGO` allowed and `COMPRESSION`
//! (`none`, `lzo`, `lz4` or `zlib`), with the given sequence number, stamp, device position and code.
//! Uncompressed records must be reproduced byte for byte; compressed ones depend on the
//! compressor's choices and must only scan back to the payload.

use crate::{pattern, HostCompressor, HostDigester};
use mars_core::compress::{Compression, Compressor};
use mars_core::digest::{digest32, fold, DigestAlgo, DIGEST_SIZE, FOLDED_SIZE};
use mars_core::log_record::{encode_record, EncodeOptions, RecordHeader, OVERHEAD};
use std::fmt::Write;

/// Path of the vector file relative to the workspace root.
pub const VECTOR_FILE: &str = "core/testdata/digest_vectors.txt";

/// One line of the vector file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vector {
    /// A digest of a pattern.
    Digest {
        /// Algorithm.
        algo: DigestAlgo,
        /// Input pattern `(len, mul, add)`.
        input: (usize, u64, u64),
        /// Full 32-byte digest.
        digest: [u8; DIGEST_SIZE],
        /// Folded digest.
        folded: [u8; FOLDED_SIZE],
    },
    /// A complete record.
    Record {
        /// Algorithm.
        algo: DigestAlgo,
        /// Compression offered to the encoder.
        compression: Option<Compression>,
        /// Payload pattern `(len, mul, add)`.
        input: (usize, u64, u64),
        /// Header fields.
        header: RecordHeader,
        /// The encoded record.
        bytes: Vec<u8>,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd hex length {}", text.len()));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| format!("bad hex: {e}")))
        .collect()
}

fn num<T: std::str::FromStr>(field: Option<&str>, what: &str) -> Result<T, String> {
    field
        .ok_or(format!("missing {what}"))?
        .parse()
        .map_err(|_| format!("bad {what}"))
}

/// Parses the vector file.
pub fn parse(text: &str) -> Result<Vec<Vector>, String> {
    let mut out = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let ctx = |e: String| format!("line {}: {e}", lineno + 1);
        let mut f = line.split_whitespace();
        let kind = f.next().unwrap_or_default();
        let algo_name: String = num(f.next(), "algorithm").map_err(ctx)?;
        let algo = DigestAlgo::from_name(&algo_name)
            .ok_or_else(|| ctx(format!("unknown algorithm {algo_name}")))?;
        match kind {
            "digest" => {
                let input = (
                    num(f.next(), "len").map_err(ctx)?,
                    num(f.next(), "mul").map_err(ctx)?,
                    num(f.next(), "add").map_err(ctx)?,
                );
                let digest = unhex(f.next().unwrap_or_default()).map_err(ctx)?;
                let folded = unhex(f.next().unwrap_or_default()).map_err(ctx)?;
                out.push(Vector::Digest {
                    algo,
                    input,
                    digest: digest
                        .try_into()
                        .map_err(|_| ctx("digest is not 32 bytes".into()))?,
                    folded: folded
                        .try_into()
                        .map_err(|_| ctx("fold is not 16 bytes".into()))?,
                });
            }
            "record" => {
                let compression = match f.next() {
                    Some("none") => None,
                    other => Some(
                        Compression::PREFERENCE
                            .into_iter()
                            .find(|c| Some(c.name()) == other)
                            .ok_or_else(|| ctx(format!("bad compression {other:?}")))?,
                    ),
                };
                let input = (
                    num(f.next(), "len").map_err(ctx)?,
                    num(f.next(), "mul").map_err(ctx)?,
                    num(f.next(), "add").map_err(ctx)?,
                );
                let seq_nr = num(f.next(), "seq").map_err(ctx)?;
                let stamp_sec = num(f.next(), "sec").map_err(ctx)?;
                let stamp_nsec = num(f.next(), "nsec").map_err(ctx)?;
                let pos = num(f.next(), "pos").map_err(ctx)?;
                let code = num(f.next(), "code").map_err(ctx)?;
                let bytes = unhex(f.next().unwrap_or_default()).map_err(ctx)?;
                let header = RecordHeader {
                    stamp_sec,
                    stamp_nsec,
                    pos,
                    code,
                    seq_nr,
                };
                out.push(Vector::Record {
                    algo,
                    compression,
                    input,
                    header,
                    bytes,
                });
            }
            other => return Err(ctx(format!("unknown vector kind {other}"))),
        }
        if f.next().is_some() {
            return Err(format!("line {}: trailing fields", lineno + 1));
        }
    }
    Ok(out)
}

/// Encodes the record a `record` vector describes, with the host services.
pub fn encode_vector_record(
    algo: DigestAlgo,
    compression: Option<Compression>,
    input: (usize, u64, u64),
    header: &RecordHeader,
) -> Vec<u8> {
    let payload = pattern(input.0, input.1, input.2);
    let opts = EncodeOptions {
        digests: algo.flag(),
        compression: compression.map_or(Default::default(), |c| c.flag()),
    };
    let mut out = vec![0u8; payload.len() + OVERHEAD];
    let compressor: Option<&dyn Compressor> =
        compression.map(|_| &HostCompressor as &dyn Compressor);
    let enc = encode_record(header, &payload, &opts, &HostDigester, compressor, &mut out)
        .expect("vector encodes");
    out.truncate(enc.total_len);
    out
}

/// Generates the vector file from the host implementations.
pub fn generate() -> String {
    let mut s = String::new();
    s.push_str(
        "# SPDX-License-Identifier: GPL-2.0\n\
         # MARS log digest and record test vectors (generated by mars-host; regenerate with\n\
         # MARS_REGEN_VECTORS=1 cargo test -p mars-host --test vectors). Format: see\n\
         # tools/mars-host/src/vectors.rs and Documentation/log-format.rst.\n\
         # Input of every vector: LEN bytes, byte[i] = (i*MUL + ADD + i/256) mod 256 (integer division).\n\
         #\n\
         # digest ALGO LEN MUL ADD DIGEST32 FOLDED16\n",
    );
    let inputs: [(usize, u64, u64); 9] = [
        (1, 7, 3),
        (3, 7, 3),
        (8, 7, 3),
        (9, 7, 3),
        (31, 7, 3),
        (64, 7, 3),
        (512, 7, 3),
        (4095, 13, 1),
        (4096, 7, 3),
    ];
    for algo in DigestAlgo::ALL {
        for input in inputs {
            let data = pattern(input.0, input.1, input.2);
            // MD5 over two halves does not exist for odd lengths.
            let Some(d) = digest32(algo, &data, &HostDigester) else {
                continue;
            };
            let _ = writeln!(
                s,
                "digest {} {} {} {} {} {}",
                algo.name(),
                input.0,
                input.1,
                input.2,
                hex(&d),
                hex(&fold(&d))
            );
        }
    }
    s.push_str("#\n# record ALGO COMPRESSION LEN MUL ADD SEQ SEC NSEC POS CODE RECORD\n");
    // Digest, compression, the pattern (length, multiplier, addend) and the header.
    type RecordVector = (
        DigestAlgo,
        Option<Compression>,
        (usize, u64, u64),
        RecordHeader,
    );
    let records: [RecordVector; 7] = [
        (
            DigestAlgo::Crc32c,
            None,
            (64, 7, 3),
            RecordHeader {
                stamp_sec: 1_700_000_000,
                stamp_nsec: 123_456_789,
                pos: 4096,
                code: 1,
                seq_nr: 1,
            },
        ),
        (
            DigestAlgo::Md5Old,
            None,
            (33, 7, 3),
            RecordHeader {
                stamp_sec: 1_700_000_001,
                stamp_nsec: 5,
                pos: 1 << 33,
                code: 2,
                seq_nr: 2,
            },
        ),
        (
            DigestAlgo::Crc32,
            None,
            (100, 11, 5),
            RecordHeader {
                stamp_sec: 1_700_000_002,
                stamp_nsec: 999_999_999,
                pos: 512,
                code: 1,
                seq_nr: 3,
            },
        ),
        (
            DigestAlgo::Sha1,
            None,
            (48, 7, 3),
            RecordHeader {
                stamp_sec: 1_700_000_003,
                stamp_nsec: 0,
                pos: 0,
                code: 1,
                seq_nr: 4,
            },
        ),
        (
            DigestAlgo::Crc32c,
            Some(Compression::Lz4),
            (4096, 1, 0),
            RecordHeader {
                stamp_sec: 1_700_000_004,
                stamp_nsec: 42,
                pos: 8192,
                code: 1,
                seq_nr: 5,
            },
        ),
        (
            DigestAlgo::Crc32c,
            Some(Compression::Lzo),
            (4096, 1, 3),
            RecordHeader {
                stamp_sec: 1_700_000_005,
                stamp_nsec: 43,
                pos: 12288,
                code: 1,
                seq_nr: 6,
            },
        ),
        (
            DigestAlgo::Crc32c,
            Some(Compression::Zlib),
            (2048, 1, 5),
            RecordHeader {
                stamp_sec: 1_700_000_006,
                stamp_nsec: 44,
                pos: 16384,
                code: 1,
                seq_nr: 7,
            },
        ),
    ];
    for (algo, compression, input, header) in records {
        let bytes = encode_vector_record(algo, compression, input, &header);
        let _ = writeln!(
            s,
            "record {} {} {} {} {} {} {} {} {} {} {}",
            algo.name(),
            compression.map_or("none", |c| c.name()),
            input.0,
            input.1,
            input.2,
            header.seq_nr,
            header.stamp_sec,
            header.stamp_nsec,
            header.pos,
            header.code,
            hex(&bytes)
        );
    }
    s
}
