// SPDX-License-Identifier: GPL-2.0
//! The transaction log record: its byte layout and the encoder.
//!
//! A logfile is a sequence of records packed back to back at byte granularity. Each record is
//! a 48-byte header, the payload, and a 36-byte trailer, all little-endian, byte-compatible
//! with the original MARS (`kernel/lib_log.{c,h}`, format version 1):
//!
//! ```text
//! header   0  u64  START_MAGIC 0xa8f7e908d9177957
//!          8  u8   format version (1)
//!          9  u8   valid flag (written last; 0 = record not finished)
//!         10  i16  total_len = padded payload length + 84 (offset of the next record)
//!         12  i64  Lamport stamp, seconds
//!         20  i64  Lamport stamp, nanoseconds
//!         28  i64  position on the data device
//!         36  i16  l_len: stored payload length (compressed length if compressed)
//!         38  i16  l_decompress_len: 0, or the uncompressed length
//!         40  u32  spare (0)
//!         44  i16  l_code (0 unknown, 1 new data, 2 pre-image)
//!         46  u16  spare (0)
//! payload 48       l_len bytes; when compressed, zero-padded up to a multiple of 8
//! trailer  0  u64  END_MAGIC 0x74941fb74ab5726d
//!          8  u32  l_crc_old (first 4 bytes of MD5 for MD5_OLD records, else 0)
//!         12  u8   valid copy (1)
//!         13  u8   spare (0)
//!         14  u16  l_crc_flags (see `digest::CrcFlags`)
//!         16  u32  l_seq_nr (first record of a logfile = 1)
//!         20  16B  folded digest of the uncompressed payload (0 for MD5_OLD)
//! ```
//!
//! `Documentation/log-format.rst` describes the format in prose; the scanner is in
//! `log_scan`.

use super::compress::{Compression, Compressor, MAX_DECOMPRESS_LEN};
use super::digest::{
    mars_digest, mars_digest_copy, record_checksum, CrcFlags, DigestAlgo, Digester, DIGEST_SIZE,
    FOLDED_SIZE,
};
use super::lamport::Stamp;

/// First 8 bytes of every record.
pub const START_MAGIC: u64 = 0xa8f7_e908_d917_7957;
/// First 8 bytes of every record trailer.
pub const END_MAGIC: u64 = 0x7494_1fb7_4ab5_726d;
/// The record format version this code reads and writes.
pub const FORMAT_VERSION: u8 = super::version::LOG_FORMAT_VERSION;
/// Size of the record header.
pub const START_OVERHEAD: usize = 48;
/// Size of the record trailer.
pub const END_OVERHEAD: usize = 36;
/// Bytes a record adds to its payload.
pub const OVERHEAD: usize = START_OVERHEAD + END_OVERHEAD;
/// Largest record: `total_len` is a signed 16-bit field.
pub const MAX_RECORD_LEN: usize = i16::MAX as usize;
/// Largest payload that fits into a record.
pub const MAX_PAYLOAD_LEN: usize = MAX_RECORD_LEN - OVERHEAD;
/// Compressed payloads are padded to this alignment.
pub const COMPRESS_PAD: usize = 8;
/// A compressed record's uncompressed length must be a multiple of this (the reader checks).
pub const DECOMPRESS_GRANULE: usize = 512;

/// Byte offsets of the header fields, relative to the record start.
pub mod header_offset {
    /// `START_MAGIC`.
    pub const MAGIC: usize = 0;
    /// Format version.
    pub const VERSION: usize = 8;
    /// Valid flag.
    pub const VALID: usize = 9;
    /// `total_len`.
    pub const TOTAL_LEN: usize = 10;
    /// Stamp seconds.
    pub const STAMP_SEC: usize = 12;
    /// Stamp nanoseconds.
    pub const STAMP_NSEC: usize = 20;
    /// Device position.
    pub const POS: usize = 28;
    /// `l_len`.
    pub const LEN: usize = 36;
    /// `l_decompress_len`.
    pub const DECOMPRESS_LEN: usize = 38;
    /// `l_code`.
    pub const CODE: usize = 44;
}

/// Byte offsets of the trailer fields, relative to the trailer start.
pub mod trailer_offset {
    /// `END_MAGIC`.
    pub const MAGIC: usize = 0;
    /// `l_crc_old`.
    pub const CRC_OLD: usize = 8;
    /// Valid copy.
    pub const VALID_COPY: usize = 12;
    /// `l_crc_flags`.
    pub const CRC_FLAGS: usize = 14;
    /// `l_seq_nr`.
    pub const SEQ_NR: usize = 16;
    /// Folded digest.
    pub const CRC: usize = 20;
}

/// `l_code` of a record of unknown meaning.
pub const CODE_UNKNOWN: i16 = 0;
/// `l_code` of a record carrying newly written data.
pub const CODE_WRITE_NEW: i16 = 1;
/// `l_code` of a record carrying the pre-image of overwritten data.
pub const CODE_WRITE_OLD: i16 = 2;

/// The caller-chosen fields of a record.
///
/// The stamp is kept as the raw on-disk pair: a record read from a damaged file may carry any
/// value there, see [`RecordHeader::stamp`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// Lamport stamp, seconds.
    pub stamp_sec: i64,
    /// Lamport stamp, nanoseconds.
    pub stamp_nsec: i64,
    /// Byte position of the payload on the data device.
    pub pos: i64,
    /// `l_code` (see [`CODE_WRITE_NEW`] and friends).
    pub code: i16,
    /// Sequence number within the logfile (first record = 1).
    pub seq_nr: u32,
}

impl RecordHeader {
    /// A header with the given stamp.
    pub fn new(stamp: Stamp, pos: i64, code: i16, seq_nr: u32) -> RecordHeader {
        RecordHeader {
            stamp_sec: stamp.sec,
            stamp_nsec: i64::from(stamp.nsec),
            pos,
            code,
            seq_nr,
        }
    }

    /// The stamp, if the nanoseconds are in range.
    pub fn stamp(&self) -> Option<Stamp> {
        let nsec = u32::try_from(self.stamp_nsec).ok()?;
        (nsec < super::lamport::NSEC_PER_SEC).then_some(Stamp {
            sec: self.stamp_sec,
            nsec,
        })
    }
}

/// What the encoder may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Digest algorithms allowed (`usable_digest_mask & ~disabled_log_digests`); the best one
    /// the digester provides is used, plain MD5 as the last resort.
    pub digests: CrcFlags,
    /// Compression algorithms allowed; empty = never compress.
    pub compression: CrcFlags,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            digests: CrcFlags::DIGEST_ANY,
            compression: CrcFlags::NONE,
        }
    }
}

/// Why a record could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Payloads must not be empty (`l_len > 0`).
    EmptyPayload,
    /// The payload exceeds [`MAX_PAYLOAD_LEN`].
    PayloadTooLarge,
    /// The output buffer is shorter than `payload.len() + OVERHEAD`.
    BufferTooSmall,
    /// The digester provides no usable digest, not even MD5.
    NoDigest,
}

/// What the encoder wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Bytes written (= `total_len`, the offset of the next record).
    pub total_len: usize,
    /// `l_crc_flags` as written (digest and compression bits).
    pub crc_flags: CrcFlags,
    /// Stored payload length (`l_len`).
    pub stored_len: usize,
}

/// Rounds `len` up to a multiple of [`COMPRESS_PAD`].
pub const fn pad_len(len: usize) -> usize {
    len.div_ceil(COMPRESS_PAD).saturating_mul(COMPRESS_PAD)
}

fn put(out: &mut [u8], offset: usize, bytes: &[u8]) -> Result<(), EncodeError> {
    let end = offset
        .checked_add(bytes.len())
        .ok_or(EncodeError::BufferTooSmall)?;
    out.get_mut(offset..end)
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(bytes);
    Ok(())
}

fn i16_len(len: usize) -> Result<i16, EncodeError> {
    i16::try_from(len).map_err(|_| EncodeError::PayloadTooLarge)
}

/// Encodes one complete record of `payload` into the front of `out`.
///
/// The digest is taken over `payload` as given. If `opts.compression` allows an algorithm the
/// compressor provides, the payload is compressed and kept compressed only if the result
/// padded to 8 bytes is shorter. As in the original, only payloads whose length is a multiple
/// of 512 (and at most [`MAX_DECOMPRESS_LEN`]) are compressed, since a reader rejects any
/// other decompressed length. An uncompressed payload is copied into the record by the pass
/// that digests it ([`mars_digest_copy`]). The valid flag is written last.
pub fn encode_record(
    header: &RecordHeader,
    payload: &[u8],
    opts: &EncodeOptions,
    digester: &dyn Digester,
    compressor: Option<&dyn Compressor>,
    out: &mut [u8],
) -> Result<Encoded, EncodeError> {
    let len = payload.len();
    check_payload_len(len)?;
    let area_end = START_OVERHEAD
        .checked_add(len)
        .ok_or(EncodeError::PayloadTooLarge)?;
    if out.len() < area_end.saturating_add(END_OVERHEAD) {
        return Err(EncodeError::BufferTooSmall);
    }
    let area = out
        .get_mut(START_OVERHEAD..area_end)
        .ok_or(EncodeError::BufferTooSmall)?;
    let compressed = compressor.and_then(|c| try_compress(c, opts.compression, payload, area));
    let (algo, digest, stored) = match compressed {
        Some((_, clen)) => {
            let stored = Frame {
                stored_len: clen,
                padded_len: pad_len(clen),
                decompress_len: len,
            };
            if let Some(pad) = area.get_mut(clen..stored.padded_len) {
                pad.fill(0);
            }
            let (algo, digest) =
                mars_digest(opts.digests, payload, digester).ok_or(EncodeError::NoDigest)?;
            (algo, digest, stored)
        }
        None => {
            // Copy and digest in one pass over the payload (where the digester can).
            let (algo, digest) = mars_digest_copy(opts.digests, payload, area, digester)
                .ok_or(EncodeError::NoDigest)?;
            let stored = Frame {
                stored_len: len,
                padded_len: len,
                decompress_len: 0,
            };
            (algo, digest, stored)
        }
    };
    let (crc_old, crc) = record_checksum(algo, &digest);
    let flags = match compressed {
        Some((method, _)) => algo.flag().union(method.flag()),
        None => algo.flag(),
    };
    let total_len = write_frame(out, header, &stored, flags, crc_old, &crc)?;
    Ok(Encoded {
        total_len,
        crc_flags: flags,
        stored_len: stored.stored_len,
    })
}

/// Finishes a record whose uncompressed payload of `payload_len` bytes the caller already
/// placed at `out[START_OVERHEAD..]` (the zero-copy path of the kernel's log writer): computes
/// the digest and writes header and trailer around it, the valid flag last. Never compresses.
pub fn seal_record_in_place(
    header: &RecordHeader,
    payload_len: usize,
    digests: CrcFlags,
    digester: &dyn Digester,
    out: &mut [u8],
) -> Result<Encoded, EncodeError> {
    let payload = out
        .get(payload_area(payload_len, out.len())?)
        .ok_or(EncodeError::BufferTooSmall)?;
    let (algo, digest) = mars_digest(digests, payload, digester).ok_or(EncodeError::NoDigest)?;
    seal_record_digested(header, payload_len, algo, &digest, out)
}

/// Where the payload of `payload_len` bytes lies in a record buffer of `out_len` bytes, once
/// the length is valid and the whole record fits.
fn payload_area(
    payload_len: usize,
    out_len: usize,
) -> Result<core::ops::Range<usize>, EncodeError> {
    check_payload_len(payload_len)?;
    let area_end = START_OVERHEAD
        .checked_add(payload_len)
        .ok_or(EncodeError::PayloadTooLarge)?;
    if out_len < area_end.saturating_add(END_OVERHEAD) {
        return Err(EncodeError::BufferTooSmall);
    }
    Ok(START_OVERHEAD..area_end)
}

/// [`seal_record_in_place`] with the payload's digest computed beforehand (`mars_digest` of
/// exactly the payload at `out[START_OVERHEAD..]`, `algo` being what it chose): the kernel's
/// logger digests a write's data outside the log's batch lock, in the submitter's context.
/// A digest of other data makes a record that fails its check on reading.
pub fn seal_record_digested(
    header: &RecordHeader,
    payload_len: usize,
    algo: DigestAlgo,
    digest: &[u8; DIGEST_SIZE],
    out: &mut [u8],
) -> Result<Encoded, EncodeError> {
    payload_area(payload_len, out.len())?;
    let (crc_old, crc) = record_checksum(algo, digest);
    let frame = Frame {
        stored_len: payload_len,
        padded_len: payload_len,
        decompress_len: 0,
    };
    let total_len = write_frame(out, header, &frame, algo.flag(), crc_old, &crc)?;
    Ok(Encoded {
        total_len,
        crc_flags: algo.flag(),
        stored_len: payload_len,
    })
}

fn check_payload_len(len: usize) -> Result<(), EncodeError> {
    if len == 0 {
        Err(EncodeError::EmptyPayload)
    } else if len > MAX_PAYLOAD_LEN {
        Err(EncodeError::PayloadTooLarge)
    } else {
        Ok(())
    }
}

/// Seals a record whose payload the caller compressed beforehand ([`compress_payload`] of
/// exactly the payload of `decompress_len` bytes that `algo`/`digest` were computed over):
/// copies `compressed` to `out[START_OVERHEAD..]`, pads it with zeros to a multiple of 8 and
/// writes header and trailer around it with `method`'s bit, the valid flag last. The log
/// writer's path when log compression is on; `out` must hold `pad_len(compressed.len()) + 84`
/// bytes.
#[allow(clippy::too_many_arguments)]
pub fn seal_compressed_record(
    header: &RecordHeader,
    compressed: &[u8],
    method: Compression,
    decompress_len: usize,
    algo: DigestAlgo,
    digest: &[u8; DIGEST_SIZE],
    out: &mut [u8],
) -> Result<Encoded, EncodeError> {
    let clen = compressed.len();
    check_payload_len(clen)?;
    let padded = pad_len(clen);
    // What a reader accepts (see `try_compress`).
    if padded >= decompress_len
        || decompress_len > MAX_DECOMPRESS_LEN
        || !decompress_len.is_multiple_of(DECOMPRESS_GRANULE)
    {
        return Err(EncodeError::PayloadTooLarge);
    }
    let area = payload_area(padded, out.len())?;
    let area = out.get_mut(area).ok_or(EncodeError::BufferTooSmall)?;
    let (data, pad) = area.split_at_mut(clen);
    data.copy_from_slice(compressed);
    pad.fill(0);
    let (crc_old, crc) = record_checksum(algo, digest);
    let flags = algo.flag().union(method.flag());
    let frame = Frame {
        stored_len: clen,
        padded_len: padded,
        decompress_len,
    };
    let total_len = write_frame(out, header, &frame, flags, crc_old, &crc)?;
    Ok(Encoded {
        total_len,
        crc_flags: flags,
        stored_len: clen,
    })
}

/// Compresses `payload` into `dst` with the preferred algorithm of `allowed` that
/// `compressor` provides, as the original's `log_compress()`: only a payload whose length is
/// a multiple of 512 and at most [`MAX_DECOMPRESS_LEN`], and only if the result padded to 8
/// bytes is shorter than the payload. Returns the algorithm and the compressed length in
/// `dst`; `None` = store the payload uncompressed.
pub fn compress_payload(
    compressor: &dyn Compressor,
    allowed: CrcFlags,
    payload: &[u8],
    dst: &mut [u8],
) -> Option<(Compression, usize)> {
    try_compress(compressor, allowed, payload, dst)
}

/// Compresses `payload` into `area` if allowed, possible and worth it.
fn try_compress(
    compressor: &dyn Compressor,
    allowed: CrcFlags,
    payload: &[u8],
    area: &mut [u8],
) -> Option<(Compression, usize)> {
    let len = payload.len();
    if !len.is_multiple_of(DECOMPRESS_GRANULE) || len > MAX_DECOMPRESS_LEN {
        return None;
    }
    let method = Compression::select(allowed.intersection(compressor.available()))?;
    let clen = compressor.compress(method, payload, area)?;
    // Kept only if it pays off after padding, as in log_compress().
    (clen > 0 && pad_len(clen) < len && clen <= area.len()).then_some((method, clen))
}

/// Lengths of the stored payload.
struct Frame {
    stored_len: usize,
    padded_len: usize,
    decompress_len: usize,
}

/// Writes header and trailer around the payload area; the valid flag comes last.
fn write_frame(
    out: &mut [u8],
    header: &RecordHeader,
    frame: &Frame,
    flags: CrcFlags,
    crc_old: u32,
    crc: &[u8; FOLDED_SIZE],
) -> Result<usize, EncodeError> {
    use header_offset as h;
    use trailer_offset as t;
    let total_len = frame
        .padded_len
        .checked_add(OVERHEAD)
        .ok_or(EncodeError::PayloadTooLarge)?;
    let trailer = START_OVERHEAD
        .checked_add(frame.padded_len)
        .ok_or(EncodeError::PayloadTooLarge)?;
    if out.len() < total_len {
        return Err(EncodeError::BufferTooSmall);
    }
    put(out, h::MAGIC, &START_MAGIC.to_le_bytes())?;
    put(out, h::VERSION, &[FORMAT_VERSION, 0])?;
    put(out, h::TOTAL_LEN, &i16_len(total_len)?.to_le_bytes())?;
    put(out, h::STAMP_SEC, &header.stamp_sec.to_le_bytes())?;
    put(out, h::STAMP_NSEC, &header.stamp_nsec.to_le_bytes())?;
    put(out, h::POS, &header.pos.to_le_bytes())?;
    put(out, h::LEN, &i16_len(frame.stored_len)?.to_le_bytes())?;
    put(
        out,
        h::DECOMPRESS_LEN,
        &i16_len(frame.decompress_len)?.to_le_bytes(),
    )?;
    put(out, 40, &[0; 4])?;
    put(out, h::CODE, &header.code.to_le_bytes())?;
    put(out, 46, &[0; 2])?;

    let trailer = out
        .get_mut(trailer..total_len)
        .ok_or(EncodeError::BufferTooSmall)?;
    put(trailer, t::MAGIC, &END_MAGIC.to_le_bytes())?;
    put(trailer, t::CRC_OLD, &crc_old.to_le_bytes())?;
    put(trailer, t::VALID_COPY, &[1, 0])?;
    put(trailer, t::CRC_FLAGS, &flags.bits().to_le_bytes())?;
    put(trailer, t::SEQ_NR, &header.seq_nr.to_le_bytes())?;
    put(trailer, t::CRC, crc)?;

    // Last, as in log_finalize(): a reader seeing the flag sees a finished record.
    put(out, h::VALID, &[1])?;
    Ok(total_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Md5Only;
    impl Digester for Md5Only {
        fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
            // Not MD5 at all; just a recognisable function of the data.
            let mut out = [0u8; 16];
            for (i, b) in data.iter().enumerate() {
                out[i % 16] ^= b.wrapping_add(i as u8);
            }
            out[0] ^= 0x80;
            Some(out)
        }
    }

    #[test]
    fn layout_sizes_match_the_original() {
        assert_eq!(START_OVERHEAD, 48);
        assert_eq!(END_OVERHEAD, 36);
        assert_eq!(OVERHEAD, 84);
        assert_eq!(trailer_offset::CRC + FOLDED_SIZE, END_OVERHEAD);
    }

    #[test]
    fn encode_errors() {
        let hdr = RecordHeader::default();
        let mut out = [0u8; 200];
        let opts = EncodeOptions::default();
        assert_eq!(
            encode_record(&hdr, &[], &opts, &Md5Only, None, &mut out),
            Err(EncodeError::EmptyPayload)
        );
        assert_eq!(
            encode_record(&hdr, &[1; 117], &opts, &Md5Only, None, &mut out),
            Err(EncodeError::BufferTooSmall)
        );
        let big = std::vec![0u8; MAX_PAYLOAD_LEN + 1];
        let mut big_out = std::vec![0u8; MAX_PAYLOAD_LEN + 200];
        assert_eq!(
            encode_record(&hdr, &big, &opts, &Md5Only, None, &mut big_out),
            Err(EncodeError::PayloadTooLarge)
        );
        struct Nothing;
        impl Digester for Nothing {}
        assert_eq!(
            encode_record(&hdr, &[1; 16], &opts, &Nothing, None, &mut out),
            Err(EncodeError::NoDigest)
        );
        assert_eq!(
            seal_record_in_place(&hdr, 117, CrcFlags::MD5, &Md5Only, &mut out),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn max_payload_fits() {
        let hdr = RecordHeader::default();
        let big = std::vec![7u8; MAX_PAYLOAD_LEN];
        let mut out = std::vec![0u8; MAX_RECORD_LEN];
        let enc = encode_record(
            &hdr,
            &big,
            &EncodeOptions::default(),
            &Md5Only,
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(enc.total_len, MAX_RECORD_LEN);
    }

    #[test]
    fn md5_old_record_keeps_crc_old_and_zero_crc() {
        let hdr = RecordHeader::new(Stamp { sec: 5, nsec: 6 }, 4096, CODE_WRITE_NEW, 1);
        let payload = [0x42u8; 33];
        let mut out = [0u8; 33 + OVERHEAD];
        let opts = EncodeOptions {
            digests: CrcFlags::NONE,
            compression: CrcFlags::NONE,
        };
        let enc = encode_record(&hdr, &payload, &opts, &Md5Only, None, &mut out).unwrap();
        assert_eq!(enc.crc_flags, DigestAlgo::Md5Old.flag());
        let md5 = Md5Only.md5(&payload).unwrap();
        let trailer = START_OVERHEAD + 33;
        assert_eq!(&out[trailer + 8..trailer + 12], &md5[..4]);
        assert_eq!(&out[trailer + 20..], &[0u8; 16]);
        // Sealing in place gives the same bytes.
        let mut again = [0u8; 33 + OVERHEAD];
        again[START_OVERHEAD..trailer].copy_from_slice(&payload);
        seal_record_in_place(&hdr, 33, CrcFlags::NONE, &Md5Only, &mut again).unwrap();
        assert_eq!(out, again);
        // And so does sealing with the digest computed beforehand.
        let mut digested = [0u8; 33 + OVERHEAD];
        digested[START_OVERHEAD..trailer].copy_from_slice(&payload);
        let (algo, digest) = mars_digest(CrcFlags::NONE, &payload, &Md5Only).unwrap();
        seal_record_digested(&hdr, 33, algo, &digest, &mut digested).unwrap();
        assert_eq!(out, digested);
        // A digest of other data makes a record whose check fails.
        let (algo, digest) = mars_digest(CrcFlags::NONE, &[0x43u8; 33], &Md5Only).unwrap();
        seal_record_digested(&hdr, 33, algo, &digest, &mut digested).unwrap();
        assert_ne!(out, digested);
    }

    /// A "compressor" that halves runs of equal bytes: enough to check the framing.
    struct Halver;
    impl Compressor for Halver {
        fn available(&self) -> CrcFlags {
            CrcFlags::LZ4
        }
        fn compress(&self, _: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
            let n = src.len() / 2;
            dst.get_mut(..n)?.copy_from_slice(src.get(..n)?);
            Some(n)
        }
        fn decompress(&self, _: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
            let n = src.len() * 2;
            let out = dst.get_mut(..n)?;
            out[..src.len()].copy_from_slice(src);
            out[src.len()..].copy_from_slice(src);
            Some(n)
        }
    }

    #[test]
    fn sealing_a_compressed_payload_equals_encoding_it() {
        let hdr = RecordHeader::new(Stamp { sec: 7, nsec: 8 }, 8192, CODE_WRITE_NEW, 3);
        let payload = [0x5au8; 1024];
        let opts = EncodeOptions {
            digests: CrcFlags::MD5,
            compression: CrcFlags::LZ4,
        };
        let mut want = [0u8; 1024 + OVERHEAD];
        let enc = encode_record(&hdr, &payload, &opts, &Md5Only, Some(&Halver), &mut want).unwrap();
        assert!(enc.crc_flags.contains(CrcFlags::LZ4));
        assert_eq!(enc.total_len, 512 + OVERHEAD);

        let mut packed = [0u8; 1024];
        let (method, n) =
            compress_payload(&Halver, CrcFlags::COMPRESS_ANY, &payload, &mut packed).unwrap();
        assert_eq!((method, n), (Compression::Lz4, 512));
        let (algo, digest) = mars_digest(CrcFlags::MD5, &payload, &Md5Only).unwrap();
        let mut got = [0xeeu8; 1024 + OVERHEAD];
        let sealed =
            seal_compressed_record(&hdr, &packed[..n], method, 1024, algo, &digest, &mut got)
                .unwrap();
        assert_eq!(sealed, enc);
        assert_eq!(got[..enc.total_len], want[..enc.total_len]);
        // Lengths a reader would reject are refused.
        for (clen, dlen) in [(512usize, 512usize), (512, 1000), (100, 40960)] {
            assert_eq!(
                seal_compressed_record(
                    &hdr,
                    &packed[..clen],
                    method,
                    dlen,
                    algo,
                    &digest,
                    &mut got
                ),
                Err(EncodeError::PayloadTooLarge)
            );
        }
        assert_eq!(
            seal_compressed_record(
                &hdr,
                &packed[..512],
                method,
                1024,
                algo,
                &digest,
                &mut got[..500]
            ),
            Err(EncodeError::BufferTooSmall)
        );
        // Not worth it, not allowed, or a length the reader rejects: no compression.
        assert!(compress_payload(&Halver, CrcFlags::ZLIB, &payload, &mut packed).is_none());
        assert!(compress_payload(&Halver, CrcFlags::LZ4, &payload[..1000], &mut packed).is_none());
        assert!(compress_payload(&Halver, CrcFlags::LZ4, &payload[..8], &mut packed).is_none());
    }

    #[test]
    fn stamp_helper_rejects_bad_nsec() {
        let mut hdr = RecordHeader::new(
            Stamp {
                sec: 1,
                nsec: 999_999_999,
            },
            0,
            0,
            1,
        );
        assert_eq!(
            hdr.stamp(),
            Some(Stamp {
                sec: 1,
                nsec: 999_999_999
            })
        );
        hdr.stamp_nsec = 1_000_000_000;
        assert_eq!(hdr.stamp(), None);
        hdr.stamp_nsec = -1;
        assert_eq!(hdr.stamp(), None);
    }
}
