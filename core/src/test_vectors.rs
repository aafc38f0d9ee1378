// SPDX-License-Identifier: GPL-2.0
//! The checker of the shared test vectors (`core/testdata/digest_vectors.txt`), without
//! allocation, so that the kernel module runs it at load time and userspace runs it in its
//! tests: one checker, two sets of hash functions, one file. When both pass, the kernel and
//! userspace compute the same digests and read and write the same records.
//!
//! The file has one vector per line (`#` starts a comment line, fields are separated by
//! whitespace):
//!
//! ```text
//! digest ALGO LEN MUL ADD DIGEST32 FOLDED16
//! record ALGO COMPRESSION LEN MUL ADD SEQ SEC NSEC POS CODE RECORD
//! ```
//!
//! Every input is the pattern of [`fill_pattern`]. A `digest` line holds the 32-byte MARS
//! digest ([`digest32`]) of the input with `ALGO` and its fold, in hex. A `record` line holds
//! a complete encoded record (hex) of that payload, encoded with only `ALGO` allowed and
//! `COMPRESSION` (`none` or a [`Compression`] name) offered, with the given header fields.
//!
//! [`check`] verifies, for each line:
//!
//! * `digest`: [`digest32`] and [`fold`] of the regenerated input equal the stored values;
//! * `record`: the record scans ([`scan_record`]) to exactly the stored header fields, digest
//!   algorithm, compression and the regenerated payload; and encoding the payload again
//!   ([`encode_record`]) gives the same bytes when uncompressed, or, when compressed (the
//!   bytes depend on the compressor's choices), a record that is compressed and scans back
//!   to the payload.
//!
//! Vectors of an algorithm the digester or compressor does not offer are skipped and counted.

use core::fmt;

use super::compress::{Compression, Compressor, MAX_DECOMPRESS_LEN};
use super::digest::{digest32, fold, CrcFlags, DigestAlgo, Digester, DIGEST_SIZE, FOLDED_SIZE};
use super::log_record::{encode_record, EncodeError, EncodeOptions, RecordHeader};
use super::log_scan::{scan_record, Record, ScanContext, ScanErrorKind, ScanState};

/// Size of each of the three areas [`check`] carves out of its work buffer: enough for the
/// largest record and the largest uncompressed payload.
pub const AREA_LEN: usize = MAX_DECOMPRESS_LEN;
/// Size of the work buffer that lets [`check`] handle every vector the format allows.
pub const WORK_LEN: usize = 3 * AREA_LEN;

/// Writes the vector input pattern into `out`: byte `i` is `(i * mul + add + i / 256) mod 256`.
///
/// The `i / 256` term keeps the pattern from repeating every 256 bytes: with a periodic
/// input, the equal chunks of a MARS digest would cancel each other in the fold.
pub fn fill_pattern(out: &mut [u8], mul: u64, add: u64) {
    let mut i: u64 = 0;
    for byte in out.iter_mut() {
        let [low, ..] = i
            .wrapping_mul(mul)
            .wrapping_add(add)
            .wrapping_add(i >> 8)
            .to_le_bytes();
        *byte = low;
        i = i.wrapping_add(1);
    }
}

/// What [`check`] verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// `digest` lines that agree.
    pub digests: usize,
    /// `record` lines that agree.
    pub records: usize,
    /// Lines skipped because the digester or compressor lacks their algorithm.
    pub skipped: usize,
}

/// Which record was being compared when a record vector failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The record stored in the vector file.
    Stored,
    /// The record encoded again from the regenerated payload.
    Reencoded,
}

impl Stage {
    /// How the stage reads in a message.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Stored => "stored record",
            Stage::Reencoded => "re-encoded record",
        }
    }
}

/// What is wrong with a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A field is missing or unreadable; names the field.
    Malformed(&'static str),
    /// The line starts with neither `digest` nor `record`.
    UnknownKind,
    /// The digest algorithm name is unknown.
    UnknownAlgorithm,
    /// The compression name is unknown.
    UnknownCompression,
    /// The input or record does not fit the work buffer.
    TooLarge,
    /// The digester claims the algorithm but computed nothing.
    NotComputed(DigestAlgo),
    /// The 32-byte digest differs.
    Digest(DigestAlgo),
    /// The fold differs.
    Fold(DigestAlgo),
    /// The record does not scan.
    Scan(Stage, ScanErrorKind),
    /// A field of the scanned record differs; names the field.
    Field(Stage, &'static str),
    /// The scanned payload differs from the regenerated input.
    Payload(Stage),
    /// The payload does not encode.
    Encode(EncodeError),
    /// The re-encoded uncompressed record differs from the stored one.
    Reencoded,
    /// The compressor did not compress a payload the stored record has compressed.
    NotCompressed,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Malformed(field) => write!(f, "malformed or missing {field}"),
            FailureKind::UnknownKind => f.write_str("unknown vector kind"),
            FailureKind::UnknownAlgorithm => f.write_str("unknown digest algorithm"),
            FailureKind::UnknownCompression => f.write_str("unknown compression"),
            FailureKind::TooLarge => f.write_str("vector does not fit the work buffer"),
            FailureKind::NotComputed(algo) => write!(f, "{} digest not computed", algo.name()),
            FailureKind::Digest(algo) => write!(f, "{} digest differs", algo.name()),
            FailureKind::Fold(algo) => write!(f, "{} folded digest differs", algo.name()),
            FailureKind::Scan(stage, kind) => {
                write!(f, "{} does not scan: {}", stage.name(), kind.name())
            }
            FailureKind::Field(stage, field) => write!(f, "{}: {field} differs", stage.name()),
            FailureKind::Payload(stage) => {
                write!(f, "{}: payload differs from the input", stage.name())
            }
            FailureKind::Encode(err) => write!(f, "payload does not encode: {err:?}"),
            FailureKind::Reencoded => f.write_str("re-encoded record differs from the stored one"),
            FailureKind::NotCompressed => f.write_str("compressor did not compress the payload"),
        }
    }
}

/// The first vector that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Line number in the vector file, from 1.
    pub line: usize,
    /// What differed.
    pub kind: FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

/// Checks every vector of `text` with `digester` and `compressor` (`None`: records with
/// compression are skipped). `work` holds the regenerated inputs and decoded records; with
/// [`WORK_LEN`] bytes every vector the format allows fits, a shorter buffer fails the vectors
/// that do not fit.
///
/// Returns what was checked, or the first failure.
pub fn check(
    text: &str,
    digester: &dyn Digester,
    compressor: Option<&dyn Compressor>,
    work: &mut [u8],
) -> Result<Checked, Failure> {
    let area = work.len() / 3;
    let (input_area, rest) = work.split_at_mut(area);
    let (record_area, rest) = rest.split_at_mut(area);
    let scratch_area = rest.get_mut(..area).unwrap_or_default();
    let mut areas = Areas {
        input: input_area,
        record: record_area,
        scratch: scratch_area,
    };
    let services = Services {
        digester,
        compressor,
    };

    let mut checked = Checked::default();
    for (index, line) in text.lines().enumerate() {
        let line_nr = index.saturating_add(1);
        let fail = |kind| Failure {
            line: line_nr,
            kind,
        };
        let mut fields = Fields(line.split_whitespace());
        let outcome = match fields.0.next() {
            None => continue,
            Some(first) if first.starts_with('#') => continue,
            Some("digest") => check_digest(&mut fields, &services, &mut areas),
            Some("record") => check_record(&mut fields, &services, &mut areas),
            Some(_) => Err(FailureKind::UnknownKind),
        };
        match outcome.map_err(fail)? {
            Outcome::Digest => checked.digests = checked.digests.saturating_add(1),
            Outcome::Record => checked.records = checked.records.saturating_add(1),
            Outcome::Skipped => checked.skipped = checked.skipped.saturating_add(1),
        }
    }
    Ok(checked)
}

/// The hash functions and compression under test.
struct Services<'s> {
    digester: &'s dyn Digester,
    compressor: Option<&'s dyn Compressor>,
}

/// The three parts of the work buffer.
struct Areas<'w> {
    input: &'w mut [u8],
    record: &'w mut [u8],
    scratch: &'w mut [u8],
}

/// How a line went, when it did not fail.
enum Outcome {
    Digest,
    Record,
    Skipped,
}

/// The remaining fields of a line.
struct Fields<'t>(core::str::SplitWhitespace<'t>);

impl<'t> Fields<'t> {
    fn text(&mut self, what: &'static str) -> Result<&'t str, FailureKind> {
        self.0.next().ok_or(FailureKind::Malformed(what))
    }

    fn number<T: core::str::FromStr>(&mut self, what: &'static str) -> Result<T, FailureKind> {
        self.text(what)?
            .parse()
            .map_err(|_| FailureKind::Malformed(what))
    }

    fn algo(&mut self) -> Result<DigestAlgo, FailureKind> {
        DigestAlgo::from_name(self.text("algorithm")?).ok_or(FailureKind::UnknownAlgorithm)
    }

    /// `LEN MUL ADD`: regenerates the input into the front of `area` and returns it.
    fn input<'a>(&mut self, area: &'a mut [u8]) -> Result<&'a [u8], FailureKind> {
        let len: usize = self.number("length")?;
        let mul: u64 = self.number("multiplier")?;
        let add: u64 = self.number("addend")?;
        let input = area.get_mut(..len).ok_or(FailureKind::TooLarge)?;
        fill_pattern(input, mul, add);
        Ok(input)
    }

    /// A hex field decoded into the front of `out`; returns the number of bytes.
    fn hex(&mut self, what: &'static str, out: &mut [u8]) -> Result<usize, FailureKind> {
        let text = self.text(what)?.as_bytes();
        if !text.len().is_multiple_of(2) {
            return Err(FailureKind::Malformed(what));
        }
        let len = text.len() / 2;
        let out = out.get_mut(..len).ok_or(FailureKind::TooLarge)?;
        let mut digits = text.iter().map(|&digit| hex_value(digit));
        for byte in out.iter_mut() {
            let (high, low) = (digits.next().flatten(), digits.next().flatten());
            *byte = high
                .zip(low)
                .map(|(h, l)| (h << 4) | l)
                .ok_or(FailureKind::Malformed(what))?;
        }
        Ok(len)
    }

    /// A hex field of exactly `N` bytes.
    fn hex_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FailureKind> {
        let mut out = [0u8; N];
        let mut wide = [0u8; DIGEST_SIZE];
        let len = self
            .hex(what, &mut wide)
            .map_err(|_| FailureKind::Malformed(what))?;
        let bytes = wide
            .get(..len)
            .filter(|b| b.len() == N)
            .ok_or(FailureKind::Malformed(what))?;
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Fails if a field is left over.
    fn end(&mut self) -> Result<(), FailureKind> {
        match self.0.next() {
            Some(_) => Err(FailureKind::Malformed("end of line (trailing field)")),
            None => Ok(()),
        }
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => digit.checked_sub(b'0'),
        b'a'..=b'f' => digit.checked_sub(b'a' - 10),
        b'A'..=b'F' => digit.checked_sub(b'A' - 10),
        _ => None,
    }
}

/// `digest ALGO LEN MUL ADD DIGEST32 FOLDED16`.
fn check_digest(
    fields: &mut Fields<'_>,
    services: &Services<'_>,
    areas: &mut Areas<'_>,
) -> Result<Outcome, FailureKind> {
    let algo = fields.algo()?;
    let input = fields.input(areas.input)?;
    let expected_digest: [u8; DIGEST_SIZE] = fields.hex_array("digest")?;
    let expected_fold: [u8; FOLDED_SIZE] = fields.hex_array("folded digest")?;
    fields.end()?;
    if !services.digester.available().contains(algo.flag()) {
        return Ok(Outcome::Skipped);
    }
    let digest = digest32(algo, input, services.digester).ok_or(FailureKind::NotComputed(algo))?;
    if digest != expected_digest {
        return Err(FailureKind::Digest(algo));
    }
    if fold(&digest) != expected_fold {
        return Err(FailureKind::Fold(algo));
    }
    Ok(Outcome::Digest)
}

/// What a record vector promises.
struct ExpectedRecord<'a> {
    algo: DigestAlgo,
    compression: Option<Compression>,
    header: RecordHeader,
    payload: &'a [u8],
}

/// `record ALGO COMPRESSION LEN MUL ADD SEQ SEC NSEC POS CODE RECORD`.
fn check_record(
    fields: &mut Fields<'_>,
    services: &Services<'_>,
    areas: &mut Areas<'_>,
) -> Result<Outcome, FailureKind> {
    let algo = fields.algo()?;
    let compression = match fields.text("compression")? {
        "none" => None,
        name => Some(
            Compression::PREFERENCE
                .into_iter()
                .find(|c| c.name() == name)
                .ok_or(FailureKind::UnknownCompression)?,
        ),
    };
    let payload = fields.input(areas.input)?;
    let seq_nr = fields.number("sequence number")?;
    let stamp_sec = fields.number("stamp seconds")?;
    let stamp_nsec = fields.number("stamp nanoseconds")?;
    let pos = fields.number("position")?;
    let code = fields.number("code")?;
    let header = RecordHeader {
        stamp_sec,
        stamp_nsec,
        pos,
        code,
        seq_nr,
    };
    let record_len = fields.hex("record", areas.record)?;
    fields.end()?;

    let compressor = match compression {
        None => None,
        Some(method) => match services.compressor {
            Some(c) if c.available().contains(method.flag()) => Some(c),
            _ => return Ok(Outcome::Skipped),
        },
    };
    if !services.digester.available().contains(algo.flag()) {
        return Ok(Outcome::Skipped);
    }
    let expected = ExpectedRecord {
        algo,
        compression,
        header,
        payload,
    };
    let stored = areas
        .record
        .get(..record_len)
        .ok_or(FailureKind::TooLarge)?;
    verify_scan(stored, &expected, Stage::Stored, services, areas.scratch)?;

    // The writing side: the same payload encoded again with the services under test.
    let opts = EncodeOptions {
        digests: algo.flag(),
        compression: compression.map_or(CrcFlags::NONE, |c| c.flag()),
    };
    let encoded = encode_record(
        &header,
        payload,
        &opts,
        services.digester,
        compressor,
        areas.scratch,
    )
    .map_err(FailureKind::Encode)?;
    let reencoded = areas
        .scratch
        .get(..encoded.total_len)
        .ok_or(FailureKind::TooLarge)?;
    match compression {
        None if reencoded != stored => Err(FailureKind::Reencoded),
        None => Ok(Outcome::Record),
        Some(method) if !encoded.crc_flags.contains(method.flag()) => {
            Err(FailureKind::NotCompressed)
        }
        Some(_) => {
            // The stored record is no longer needed: its area is the decompression scratch.
            verify_scan(
                reencoded,
                &expected,
                Stage::Reencoded,
                services,
                areas.record,
            )?;
            Ok(Outcome::Record)
        }
    }
}

/// Scans `bytes` as one whole record and compares it with what the vector promises.
fn verify_scan(
    bytes: &[u8],
    expected: &ExpectedRecord<'_>,
    stage: Stage,
    services: &Services<'_>,
    scratch: &mut [u8],
) -> Result<(), FailureKind> {
    let ctx = ScanContext {
        digester: services.digester,
        compressor: services.compressor,
    };
    let mut state = ScanState::at(0);
    let record: Record<'_> = match scan_record(bytes, true, &mut state, &ctx, scratch) {
        Ok(Some(record)) => record,
        Ok(None) => return Err(FailureKind::Malformed("record (empty)")),
        Err(err) => return Err(FailureKind::Scan(stage, err.kind)),
    };
    let field = |name| FailureKind::Field(stage, name);
    let header = &record.header;
    if record.total_len != bytes.len() {
        return Err(field("total length"));
    }
    if header.seq_nr != expected.header.seq_nr {
        return Err(field("sequence number"));
    }
    if (header.stamp_sec, header.stamp_nsec)
        != (expected.header.stamp_sec, expected.header.stamp_nsec)
    {
        return Err(field("stamp"));
    }
    if header.pos != expected.header.pos {
        return Err(field("position"));
    }
    if header.code != expected.header.code {
        return Err(field("code"));
    }
    if record.checksum != expected.algo {
        return Err(field("digest algorithm"));
    }
    if record.compression != expected.compression {
        return Err(field("compression"));
    }
    if record.payload != expected.payload {
        return Err(FailureKind::Payload(stage));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a real hash: enough to exercise the parser and the comparisons.
    struct Xor;
    impl Digester for Xor {
        fn crc32c(&self, data: &[u8]) -> Option<u32> {
            Some(
                data.iter()
                    .fold(0x1234_5678u32, |acc, &b| acc.rotate_left(5) ^ u32::from(b)),
            )
        }
    }

    fn hex(bytes: &[u8]) -> std::string::String {
        bytes.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    #[test]
    fn pattern_does_not_repeat_every_256_bytes() {
        let mut buf = [0u8; 600];
        fill_pattern(&mut buf, 7, 3);
        assert_eq!(&buf[..4], &[3, 10, 17, 24]);
        assert_eq!(buf[256], (256u64 * 7 + 3 + 1) as u8);
        assert_ne!(buf[..256], buf[256..512]);
    }

    #[test]
    fn digest_line_agrees_and_disagrees() {
        let mut input = [0u8; 100];
        fill_pattern(&mut input, 3, 1);
        let d = digest32(DigestAlgo::Crc32c, &input, &Xor).unwrap();
        let good = std::format!(
            "# comment\n\ndigest crc32c 100 3 1 {} {}\n",
            hex(&d),
            hex(&fold(&d))
        );
        let mut work = std::vec![0u8; 3 * 256];
        assert_eq!(
            check(&good, &Xor, None, &mut work),
            Ok(Checked {
                digests: 1,
                records: 0,
                skipped: 0
            })
        );

        let mut bad_digest = d;
        bad_digest[31] ^= 1;
        let bad = std::format!(
            "digest crc32c 100 3 1 {} {}",
            hex(&bad_digest),
            hex(&fold(&d))
        );
        let err = check(&bad, &Xor, None, &mut work).unwrap_err();
        assert_eq!(
            err,
            Failure {
                line: 1,
                kind: FailureKind::Digest(DigestAlgo::Crc32c)
            }
        );
        assert_eq!(std::format!("{err}"), "line 1: crc32c digest differs");

        let skipped = std::format!("digest sha1 100 3 1 {} {}", hex(&d), hex(&fold(&d)));
        assert_eq!(check(&skipped, &Xor, None, &mut work).unwrap().skipped, 1);
        let too_long = std::format!("digest crc32c 300 3 1 {} {}", hex(&d), hex(&fold(&d)));
        assert_eq!(
            check(&too_long, &Xor, None, &mut work).unwrap_err().kind,
            FailureKind::TooLarge
        );
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line_number() {
        let mut work = std::vec![0u8; 3 * 64];
        let cases: [(&str, FailureKind); 7] = [
            ("frobnicate crc32c", FailureKind::UnknownKind),
            ("digest crc64 1 7 3 00 00", FailureKind::UnknownAlgorithm),
            ("digest crc32c 1 7", FailureKind::Malformed("addend")),
            (
                "digest crc32c x 7 3 00 00",
                FailureKind::Malformed("length"),
            ),
            (
                "digest crc32c 1 7 3 0g 00",
                FailureKind::Malformed("digest"),
            ),
            (
                "digest crc32c 1 7 3 00 00",
                FailureKind::Malformed("digest"),
            ),
            (
                "record crc32c zstd 1 7 3 1 1 1 1 1 00",
                FailureKind::UnknownCompression,
            ),
        ];
        for (line, kind) in cases {
            let text = std::format!("# header\n{line}\n");
            assert_eq!(
                check(&text, &Xor, None, &mut work),
                Err(Failure { line: 2, kind }),
                "{line}"
            );
        }
        let zeros = "0".repeat(64);
        let trailing = std::format!("digest crc32c 1 7 3 {zeros} {} extra", &zeros[..32]);
        assert_eq!(
            check(&trailing, &Xor, None, &mut work).unwrap_err().kind,
            FailureKind::Malformed("end of line (trailing field)")
        );
    }

    #[test]
    fn empty_text_checks_nothing() {
        assert_eq!(
            check("# nothing\n", &Xor, None, &mut []),
            Ok(Checked::default())
        );
    }
}
