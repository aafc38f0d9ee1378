// SPDX-License-Identifier: GPL-2.0
//! The streaming scanner of transaction log records.
//!
//! [`scan_record`] reads the record at the start of a window of a logfile and either returns
//! it, verified, with its payload borrowed from the window (or from a scratch buffer when it
//! was compressed), or classifies why not ([`ScanErrorKind`]). It validates in the order of the
//! original `log_scan()`: start magic, format version, valid flag, total length, end magic,
//! valid copy, sequence number, lengths, decompression, checksum. It never reads outside the
//! window and never panics, whatever the bytes.
//!
//! A window that ends inside a record is "need more data" unless the window reaches the end
//! of the file, in which case the record is a truncated tail (typically the write in flight
//! when the primary crashed, or a logfile still being transferred). A truncated tail is only
//! reported when the record's header is plausible; a header that is itself wrong is reported
//! as what is wrong with it.
//!
//! After a defect, [`find_start_magic`] resynchronises on the next `START_MAGIC` (at any byte
//! offset, records are not aligned), and [`ScanState::skip`] moves the state past the damage.

use super::compress::{Compression, Compressor, MAX_DECOMPRESS_LEN};
use super::digest::{digest32, mars_digest_folded, CrcFlags, DigestAlgo, Digester, FOLDED_SIZE};
use super::log_record::{
    header_offset as h, trailer_offset as t, RecordHeader, DECOMPRESS_GRANULE, END_MAGIC,
    END_OVERHEAD, FORMAT_VERSION, OVERHEAD, START_MAGIC, START_OVERHEAD,
};

/// Where the scanner stands in a logfile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanState {
    /// File offset of the start of the next window (the next record).
    pub file_pos: u64,
    /// Sequence number of the last record read; 0 = unknown (accept any next number).
    pub last_seq_nr: u32,
    /// Records read so far. While 0, garbage followed by a record is reported as a hole.
    pub records: u64,
}

impl ScanState {
    /// A state for scanning from `file_pos` with no sequence expectation.
    pub const fn at(file_pos: u64) -> ScanState {
        ScanState {
            file_pos,
            last_seq_nr: 0,
            records: 0,
        }
    }

    /// Moves past the damage reported by `err`: past the record if its frame was intact (and
    /// the sequence continues from it), else past `resync` bytes found by
    /// [`find_start_magic`] (and the sequence expectation is dropped).
    pub fn skip(&mut self, err: &ScanError, resync: usize) {
        match err.record_len {
            Some(len) => {
                self.file_pos = err.offset.saturating_add(len as u64);
                if let Some(seq) = err.seq_nr {
                    self.last_seq_nr = seq;
                }
            }
            None => {
                self.file_pos = err.offset.saturating_add(resync as u64);
                self.last_seq_nr = 0;
            }
        }
    }
}

/// The services a scan needs: hash functions and, for compressed records, decompression.
#[derive(Clone, Copy)]
pub struct ScanContext<'d> {
    /// Hash functions.
    pub digester: &'d dyn Digester,
    /// Decompression; `None` = compressed records cannot be read (they fail their checksum,
    /// as in the original).
    pub compressor: Option<&'d dyn Compressor>,
}

/// A non-fatal finding about a record that was nevertheless returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanWarning {
    /// The sequence number went backwards (or repeated): tolerated (`MARS_ERR_SCAN_SEQ_BW`).
    SeqBackward {
        /// The number that should have come.
        expected: u32,
        /// The number found.
        found: u32,
    },
}

impl ScanWarning {
    /// Stable short name, used in JSON output.
    pub const fn name(&self) -> &'static str {
        match self {
            ScanWarning::SeqBackward { .. } => "seq-back",
        }
    }

    /// The original's `MARS_ERR_*` number.
    pub const fn mars_errno(&self) -> i32 {
        10011
    }
}

/// A verified record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// File offset of the record.
    pub offset: u64,
    /// Length of the whole record (offset of the next one, relative to this one).
    pub total_len: usize,
    /// Stamp, position, code and sequence number.
    pub header: RecordHeader,
    /// `l_len`: payload length as stored (compressed length if compressed).
    pub stored_len: usize,
    /// `l_decompress_len`: 0, or the uncompressed length.
    pub decompress_len: usize,
    /// `l_crc_flags` as stored.
    pub crc_flags: CrcFlags,
    /// `l_crc_old` as stored.
    pub crc_old: u32,
    /// Folded digest as stored.
    pub crc: [u8; FOLDED_SIZE],
    /// The algorithm whose digest matched.
    pub checksum: DigestAlgo,
    /// The algorithm the payload was decompressed with, if it was compressed.
    pub compression: Option<Compression>,
    /// The payload, uncompressed.
    pub payload: &'a [u8],
    /// A tolerated irregularity.
    pub warning: Option<ScanWarning>,
}

/// Which length field is implausible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthField {
    /// `total_len` is 0 (`MARS_ERR_SCAN_ZERO`).
    TotalZero,
    /// `total_len` is negative (`MARS_ERR_SCAN_NEGATIVE`).
    TotalNegative,
    /// `total_len` leaves no room for a payload (`MARS_ERR_SCAN_ADVANCE`).
    TotalTooSmall,
    /// `l_len` is not within `1..=total_len - 84`.
    PayloadLen,
    /// `l_decompress_len` is negative, not a multiple of 512, not larger than `l_len`, or
    /// larger than 32 KiB (`MARS_ERR_DECOMPR_BADLEN`).
    DecompressLen,
}

impl LengthField {
    /// Stable short name.
    pub const fn name(self) -> &'static str {
        match self {
            LengthField::TotalZero => "total-zero",
            LengthField::TotalNegative => "total-negative",
            LengthField::TotalTooSmall => "total-too-small",
            LengthField::PayloadLen => "payload-len",
            LengthField::DecompressLen => "decompress-len",
        }
    }
}

/// What is wrong at a scan position. Every variant but [`ScanErrorKind::NeedMore`] is a
/// defect of the logfile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanErrorKind {
    /// The window ends inside the record and is not the end of the file: read more.
    NeedMore {
        /// Bytes needed from the record start to get further.
        needed: usize,
    },
    /// The file ends inside a record whose header is plausible: an interrupted write.
    Truncated {
        /// Bytes the record needs from its start.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// Garbage before the first record; a start magic follows `len` bytes later.
    Hole {
        /// Bytes from the scan position to the next start magic.
        len: usize,
    },
    /// No start magic where a record must start.
    BadMagic {
        /// The 8 bytes found (little-endian; missing bytes at the end of file read as 0).
        found: u64,
    },
    /// All-zero bytes where a start or end magic must be (unwritten or zeroed blocks).
    Zeroed,
    /// One byte value repeated where a magic must be (`MARS_ERR_MAGIC_REPEATED`): points at
    /// uninitialised disk data or a broken RAID/driver/DMA path.
    Repeated {
        /// The repeated byte.
        byte: u8,
    },
    /// Unknown format version.
    BadVersion {
        /// The version found.
        found: u8,
    },
    /// The valid flag is 0: the record was reserved but never finished (short write?).
    Invalid,
    /// An implausible length field.
    BadLength {
        /// Which one.
        field: LengthField,
        /// Its value.
        value: i32,
    },
    /// The trailer does not start with the end magic (neither zero nor a repeated byte).
    BadEndMagic {
        /// The 8 bytes found.
        found: u64,
    },
    /// The valid copy in the trailer is not 1.
    Incomplete {
        /// The value found.
        valid_copy: u8,
    },
    /// The sequence number jumps forward (`MARS_ERR_SCAN_SEQ_FW`).
    SeqGap {
        /// The number that should have come.
        expected: u32,
        /// The number found.
        found: u32,
    },
    /// No digest to check against: no usable digest flag and no `l_crc_old`, or an algorithm
    /// this reader does not have (`MARS_ERR_CRC_FLAGS`).
    BadCrcFlags {
        /// `l_crc_flags` as stored.
        flags: u16,
    },
    /// The payload does not decompress to `l_decompress_len` bytes.
    Decompress {
        /// `l_crc_flags` as stored.
        flags: u16,
    },
    /// The digest of the payload does not match (`MARS_ERR_CRC_MISMATCH`).
    Checksum {
        /// The algorithm checked.
        algo: DigestAlgo,
    },
}

impl ScanErrorKind {
    /// Every class name, in the order of the variants.
    pub const NAMES: [&'static str; 15] = [
        "need-more",
        "truncated",
        "hole",
        "bad-magic",
        "zeroed",
        "repeated",
        "bad-version",
        "invalid",
        "bad-length",
        "bad-end-magic",
        "incomplete",
        "seq-gap",
        "bad-crc-flags",
        "decompress",
        "checksum",
    ];

    /// Stable short name of the class, used in JSON output and by tests.
    pub const fn name(&self) -> &'static str {
        match self {
            ScanErrorKind::NeedMore { .. } => "need-more",
            ScanErrorKind::Truncated { .. } => "truncated",
            ScanErrorKind::Hole { .. } => "hole",
            ScanErrorKind::BadMagic { .. } => "bad-magic",
            ScanErrorKind::Zeroed => "zeroed",
            ScanErrorKind::Repeated { .. } => "repeated",
            ScanErrorKind::BadVersion { .. } => "bad-version",
            ScanErrorKind::Invalid => "invalid",
            ScanErrorKind::BadLength { .. } => "bad-length",
            ScanErrorKind::BadEndMagic { .. } => "bad-end-magic",
            ScanErrorKind::Incomplete { .. } => "incomplete",
            ScanErrorKind::SeqGap { .. } => "seq-gap",
            ScanErrorKind::BadCrcFlags { .. } => "bad-crc-flags",
            ScanErrorKind::Decompress { .. } => "decompress",
            ScanErrorKind::Checksum { .. } => "checksum",
        }
    }

    /// Whether this is a defect of the file (everything but `NeedMore`).
    pub const fn is_defect(&self) -> bool {
        !matches!(self, ScanErrorKind::NeedMore { .. })
    }

    /// The nearest `MARS_ERR_*` number of the original (`kernel/mars_errno.h`), 0 for
    /// `NeedMore`.
    pub const fn mars_errno(&self) -> i32 {
        match self {
            ScanErrorKind::NeedMore { .. } => 0,
            ScanErrorKind::Truncated { .. } => 10006,
            ScanErrorKind::Hole { .. } => 10002,
            ScanErrorKind::BadMagic { .. } => 10013,
            ScanErrorKind::Zeroed => 10020,
            ScanErrorKind::Repeated { .. } => 10021,
            ScanErrorKind::BadVersion { .. } | ScanErrorKind::Invalid => 10003,
            ScanErrorKind::BadLength { field, .. } => match field {
                LengthField::TotalZero => 10004,
                LengthField::TotalNegative => 10005,
                LengthField::TotalTooSmall => 10007,
                LengthField::PayloadLen => 10012,
                LengthField::DecompressLen => 10152,
            },
            ScanErrorKind::BadEndMagic { .. } => 10020,
            ScanErrorKind::Incomplete { .. } => 10009,
            ScanErrorKind::SeqGap { .. } => 10010,
            ScanErrorKind::BadCrcFlags { .. } => 10100,
            ScanErrorKind::Decompress { .. } => 10150,
            ScanErrorKind::Checksum { .. } => 10101,
        }
    }
}

/// A scan failure, located in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanError {
    /// File offset of the record (the scan position).
    pub offset: u64,
    /// File offset of the offending field.
    pub at: u64,
    /// What is wrong.
    pub kind: ScanErrorKind,
    /// When the record's frame (magics, lengths) is intact, its total length: the next
    /// record starts right after it.
    pub record_len: Option<usize>,
    /// The record's sequence number, when it was read.
    pub seq_nr: Option<u32>,
}

const START_MAGIC_BYTES: [u8; 8] = START_MAGIC.to_le_bytes();

fn read<const N: usize>(buf: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    buf.get(offset..end)?.try_into().ok()
}

fn read_i64(buf: &[u8], offset: usize) -> Option<i64> {
    read(buf, offset).map(i64::from_le_bytes)
}

fn read_i16(buf: &[u8], offset: usize) -> Option<i16> {
    read(buf, offset).map(i16::from_le_bytes)
}

fn read_u16(buf: &[u8], offset: usize) -> Option<u16> {
    read(buf, offset).map(u16::from_le_bytes)
}

fn read_u32(buf: &[u8], offset: usize) -> Option<u32> {
    read(buf, offset).map(u32::from_le_bytes)
}

fn read_u8(buf: &[u8], offset: usize) -> Option<u8> {
    buf.get(offset).copied()
}

/// Offset of the first `START_MAGIC` in `window` at or after `from`, at any byte alignment.
pub fn find_start_magic(window: &[u8], from: usize) -> Option<usize> {
    let [first, ..] = START_MAGIC_BYTES;
    let mut pos = from;
    loop {
        let rest = window.get(pos..)?;
        let hit = rest.iter().position(|&b| b == first)?;
        let candidate = pos.checked_add(hit)?;
        if read::<8>(window, candidate)? == START_MAGIC_BYTES {
            return Some(candidate);
        }
        pos = candidate.checked_add(1)?;
    }
}

/// Classifies the bytes found where a magic must be: zero, a repeated byte, or other.
fn classify_bad_magic(found: &[u8], other: u64) -> ScanErrorKind {
    match found.split_first() {
        Some((&first, rest)) if rest.iter().all(|&b| b == first) => {
            if first == 0 {
                ScanErrorKind::Zeroed
            } else {
                ScanErrorKind::Repeated { byte: first }
            }
        }
        _ => ScanErrorKind::BadMagic { found: other },
    }
}

/// Little-endian value of up to 8 bytes, missing ones read as 0.
fn partial_u64(bytes: &[u8]) -> u64 {
    let mut full = [0u8; 8];
    for (dst, src) in full.iter_mut().zip(bytes) {
        *dst = *src;
    }
    u64::from_le_bytes(full)
}

/// Builds errors for the record at `base`.
struct At {
    base: u64,
    record_len: Option<usize>,
    seq_nr: Option<u32>,
}

impl At {
    fn err(&self, rel: usize, kind: ScanErrorKind) -> ScanError {
        ScanError {
            offset: self.base,
            at: self.base.saturating_add(rel as u64),
            kind,
            record_len: self.record_len,
            seq_nr: self.seq_nr,
        }
    }

    /// The window holds `available` bytes but `needed` are required.
    fn short(&self, needed: usize, available: usize, at_eof: bool) -> ScanError {
        let kind = if at_eof {
            ScanErrorKind::Truncated { needed, available }
        } else {
            ScanErrorKind::NeedMore { needed }
        };
        self.err(available, kind)
    }
}

fn bad_length(at: &At, rel: usize, field: LengthField, value: i32) -> ScanError {
    at.err(rel, ScanErrorKind::BadLength { field, value })
}

/// Scans the record at the start of `window`, which starts at file offset
/// `state.file_pos`. `at_eof` tells whether the window extends to the end of the file.
///
/// Returns `Ok(None)` at the clean end of the file (empty window at EOF), `Ok(Some(record))`
/// for a verified record (and advances `state` past it), or the error (and leaves `state`
/// alone). `scratch` receives the payload of compressed records; it needs
/// `l_decompress_len` bytes (at most [`MAX_DECOMPRESS_LEN`]).
pub fn scan_record<'a>(
    window: &'a [u8],
    at_eof: bool,
    state: &mut ScanState,
    ctx: &ScanContext<'_>,
    scratch: &'a mut [u8],
) -> Result<Option<Record<'a>>, ScanError> {
    let mut at = At {
        base: state.file_pos,
        record_len: None,
        seq_nr: None,
    };
    let avail = window.len();
    if avail == 0 {
        return if at_eof {
            Ok(None)
        } else {
            Err(at.short(START_OVERHEAD, 0, false))
        };
    }

    // Start magic, checked on what is there even if the window is short.
    let head = window.get(..avail.min(8)).unwrap_or_default();
    if head != START_MAGIC_BYTES.get(..head.len()).unwrap_or_default() {
        if state.records == 0 {
            if let Some(len) = find_start_magic(window, 1) {
                return Err(at.err(0, ScanErrorKind::Hole { len }));
            }
        }
        return Err(at.err(0, classify_bad_magic(head, partial_u64(head))));
    }
    let Some(header) = window.get(..START_OVERHEAD) else {
        return Err(at.short(START_OVERHEAD, avail, at_eof));
    };

    let version = read_u8(header, h::VERSION).unwrap_or_default();
    if version != FORMAT_VERSION {
        return Err(at.err(h::VERSION, ScanErrorKind::BadVersion { found: version }));
    }
    if read_u8(header, h::VALID).unwrap_or_default() == 0 {
        return Err(at.err(h::VALID, ScanErrorKind::Invalid));
    }
    let total_len_raw = read_i16(header, h::TOTAL_LEN).unwrap_or_default();
    let total_value = i32::from(total_len_raw);
    let total_len = match usize::try_from(total_len_raw) {
        Ok(0) => return Err(bad_length(&at, h::TOTAL_LEN, LengthField::TotalZero, 0)),
        Err(_) => {
            return Err(bad_length(
                &at,
                h::TOTAL_LEN,
                LengthField::TotalNegative,
                total_value,
            ))
        }
        Ok(n) if n <= OVERHEAD => {
            return Err(bad_length(
                &at,
                h::TOTAL_LEN,
                LengthField::TotalTooSmall,
                total_value,
            ))
        }
        Ok(n) => n,
    };
    let Some(record) = window.get(..total_len) else {
        return Err(at.short(total_len, avail, at_eof));
    };

    let rec_header = RecordHeader {
        stamp_sec: read_i64(header, h::STAMP_SEC).unwrap_or_default(),
        stamp_nsec: read_i64(header, h::STAMP_NSEC).unwrap_or_default(),
        pos: read_i64(header, h::POS).unwrap_or_default(),
        code: read_i16(header, h::CODE).unwrap_or_default(),
        seq_nr: 0,
    };
    let stored_raw = read_i16(header, h::LEN).unwrap_or_default();
    let decompress_raw = read_i16(header, h::DECOMPRESS_LEN).unwrap_or_default();
    // total_len > OVERHEAD was checked above.
    let advance = total_len.saturating_sub(OVERHEAD);
    let trailer_start = START_OVERHEAD.saturating_add(advance);

    // End magic.
    let end_bytes: [u8; 8] = read(record, trailer_start).unwrap_or_default();
    let end_magic = u64::from_le_bytes(end_bytes);
    if end_magic != END_MAGIC {
        let kind = match classify_bad_magic(&end_bytes, end_magic) {
            ScanErrorKind::BadMagic { found } => ScanErrorKind::BadEndMagic { found },
            other => other,
        };
        return Err(at.err(trailer_start, kind));
    }
    // The frame is intact from here on: a caller may step over this record.
    at.record_len = Some(total_len);
    let trailer = record.get(trailer_start..).unwrap_or_default();
    if trailer.len() != END_OVERHEAD {
        // Cannot happen: trailer_start + END_OVERHEAD == total_len.
        return Err(at.err(
            trailer_start,
            ScanErrorKind::BadEndMagic { found: end_magic },
        ));
    }
    let crc_old = read_u32(trailer, t::CRC_OLD).unwrap_or_default();
    let valid_copy = read_u8(trailer, t::VALID_COPY).unwrap_or_default();
    if valid_copy != 1 {
        return Err(at.err(
            trailer_start.saturating_add(t::VALID_COPY),
            ScanErrorKind::Incomplete { valid_copy },
        ));
    }
    let crc_flags = CrcFlags(read_u16(trailer, t::CRC_FLAGS).unwrap_or_default());
    let seq_nr = read_u32(trailer, t::SEQ_NR).unwrap_or_default();
    let crc: [u8; FOLDED_SIZE] = read(trailer, t::CRC).unwrap_or_default();
    at.seq_nr = Some(seq_nr);

    // Sequence: 0 on either side means "no expectation".
    let mut warning = None;
    let last = state.last_seq_nr;
    if seq_nr != 0 && last != 0 {
        let expected = last.wrapping_add(1);
        if u64::from(seq_nr) > u64::from(last) + 1 {
            return Err(at.err(
                trailer_start.saturating_add(t::SEQ_NR),
                ScanErrorKind::SeqGap {
                    expected,
                    found: seq_nr,
                },
            ));
        } else if seq_nr != expected {
            warning = Some(ScanWarning::SeqBackward {
                expected,
                found: seq_nr,
            });
        }
    }

    // Lengths. The original trusts l_len; we must not read past the payload area.
    let stored_len = match usize::try_from(stored_raw) {
        Ok(n) if n > 0 && n <= advance => n,
        _ => {
            return Err(bad_length(
                &at,
                h::LEN,
                LengthField::PayloadLen,
                i32::from(stored_raw),
            ))
        }
    };
    let decompress_len = match usize::try_from(decompress_raw) {
        Ok(0) => 0,
        Ok(n)
            if n <= MAX_DECOMPRESS_LEN
                && n > stored_len
                && n.is_multiple_of(DECOMPRESS_GRANULE) =>
        {
            n
        }
        _ => {
            return Err(bad_length(
                &at,
                h::DECOMPRESS_LEN,
                LengthField::DecompressLen,
                i32::from(decompress_raw),
            ))
        }
    };
    let stored_end = START_OVERHEAD.saturating_add(stored_len);
    let stored = record.get(START_OVERHEAD..stored_end).unwrap_or_default();

    // Flags this reader can act on; unknown ones are ignored as in the original.
    let mut available = ctx.digester.available();
    if let Some(c) = ctx.compressor {
        available = available.union(c.available().intersection(CrcFlags::COMPRESS_ANY));
    }
    let mut check_flags = crc_flags.intersection(available);
    if check_flags.is_empty() {
        check_flags = CrcFlags::MD5_OLD;
    }

    // Decompression.
    let mut payload: &'a [u8] = stored;
    let mut compression = None;
    if decompress_len > 0 {
        if let (Some(method), Some(compressor)) = (Compression::select(check_flags), ctx.compressor)
        {
            let fail = at.err(
                START_OVERHEAD,
                ScanErrorKind::Decompress {
                    flags: crc_flags.bits(),
                },
            );
            let dst = scratch.get_mut(..decompress_len).ok_or(fail)?;
            match compressor.decompress(method, stored, dst) {
                Some(n) if n == decompress_len => {}
                _ => return Err(fail),
            }
            payload = dst;
            compression = Some(method);
        }
    }

    // Checksum.
    let new_digests = check_flags.intersection(CrcFlags::DIGEST_ANY.difference(CrcFlags::MD5_OLD));
    let checksum = if !new_digests.is_empty() {
        let computed = mars_digest_folded(new_digests, payload, ctx.digester);
        let algo = computed.map_or(super::digest::select_digest(new_digests), |(a, _)| a);
        match computed {
            Some((_, folded)) if folded == crc => algo,
            _ => return Err(at.err(START_OVERHEAD, ScanErrorKind::Checksum { algo })),
        }
    } else if crc_old != 0 {
        let Some(digest) = digest32(DigestAlgo::Md5Old, payload, ctx.digester) else {
            return Err(at.err(
                trailer_start.saturating_add(t::CRC_FLAGS),
                ScanErrorKind::BadCrcFlags {
                    flags: crc_flags.bits(),
                },
            ));
        };
        let [a, b, c, d, ..] = digest;
        if u32::from_le_bytes([a, b, c, d]) != crc_old {
            return Err(at.err(
                START_OVERHEAD,
                ScanErrorKind::Checksum {
                    algo: DigestAlgo::Md5Old,
                },
            ));
        }
        DigestAlgo::Md5Old
    } else {
        return Err(at.err(
            trailer_start.saturating_add(t::CRC_FLAGS),
            ScanErrorKind::BadCrcFlags {
                flags: crc_flags.bits(),
            },
        ));
    };

    state.file_pos = state.file_pos.saturating_add(total_len as u64);
    state.last_seq_nr = seq_nr;
    state.records = state.records.saturating_add(1);
    Ok(Some(Record {
        offset: at.base,
        total_len,
        header: RecordHeader {
            seq_nr,
            ..rec_header
        },
        stored_len,
        decompress_len,
        crc_flags,
        crc_old,
        crc,
        checksum,
        compression,
        payload,
        warning,
    }))
}
