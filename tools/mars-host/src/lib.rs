// SPDX-License-Identifier: GPL-2.0
//! mars-host: the userspace side of mars-core's pluggable services.
//!
//! mars-core leaves hash functions and compression to its environment. Here they come from
//! crates.io crates and [`crc32c`]: [`HostDigester`] (CRC32C of the 8 chunks of a record in
//! one pass, fused with the encoder's copy; crc32fast, md-5, sha1) and [`HostCompressor`]
//! (lz4_flex for raw LZ4 blocks as the kernel's lib/lz4 reads and writes them, miniz_oxide
//! for zlib, mars-core and lzokay-native for LZO1X). marsadm, the
//! tests, the fuzzers and the benchmark use them; the kernel module has its own.
//!
//! [`HostSha256`] is the SHA-256 of the handshake authentication (`sha2`).
//!
//! [`vectors`] reads and writes `core/testdata/digest_vectors.txt`, the test vectors both
//! sides check against, and [`LogBuilder`] assembles logfiles in memory for tests.

use mars_core::compress::{lzo1x_decompress, Compression, Compressor};
use mars_core::digest::{CrcFlags, Digester};
use mars_core::log_record::{
    encode_record, EncodeError, EncodeOptions, Encoded, RecordHeader, OVERHEAD,
};

pub mod crc32c;
pub mod vectors;

/// SHA-256 from the `sha2` crate, for the handshake's HMAC ([`mars_core::auth`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostSha256;

impl mars_core::auth::Sha256 for HostSha256 {
    fn sha256(&self, data: &[u8]) -> Option<[u8; 32]> {
        use sha2::Digest;
        Some(sha2::Sha256::digest(data).into())
    }
}

/// Every digest of the log format: CRC32C from [`crc32c`], the others from crates.io crates.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostDigester;

impl Digester for HostDigester {
    fn crc32c(&self, data: &[u8]) -> Option<u32> {
        Some(crc32c::crc32c(data))
    }

    fn crc32(&self, data: &[u8]) -> Option<u32> {
        // The kernel's crypto "crc32" is crc32_le(0, data) without final inversion. crc32fast
        // computes !crc32_le(!init, data); init = !0 and a final ! give the kernel's value.
        let mut hasher = crc32fast::Hasher::new_with_initial(!0);
        hasher.update(data);
        Some(!hasher.finalize())
    }

    fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
        use md5::Digest;
        Some(md5::Md5::digest(data).into())
    }

    fn sha1(&self, data: &[u8]) -> Option<[u8; 20]> {
        use sha1::Digest;
        Some(sha1::Sha1::digest(data).into())
    }

    fn crc32c_8(&self, chunks: [&[u8]; 8]) -> Option<[u32; 8]> {
        Some(crc32c::crc32c_8(chunks))
    }

    fn crc32c_split8(&self, data: &[u8]) -> Option<[u32; 8]> {
        crc32c::crc32c_split8(data)
    }

    fn copy_crc32c_8(&self, dst: &mut [u8], src: &[u8]) -> Option<[u32; 8]> {
        crc32c::copy_crc32c_8(dst, src)
    }

    fn available(&self) -> CrcFlags {
        CrcFlags::DIGEST_ANY
    }
}

/// A digester that offers only the algorithms in its mask (to test fallbacks and readers
/// that lack an algorithm).
#[derive(Clone, Copy, Debug)]
pub struct MaskedDigester(pub CrcFlags);

impl Digester for MaskedDigester {
    fn crc32c(&self, data: &[u8]) -> Option<u32> {
        self.0
            .contains(CrcFlags::CRC32C)
            .then(|| HostDigester.crc32c(data))
            .flatten()
    }

    fn crc32(&self, data: &[u8]) -> Option<u32> {
        self.0
            .contains(CrcFlags::CRC32)
            .then(|| HostDigester.crc32(data))
            .flatten()
    }

    fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
        self.0
            .intersects(CrcFlags::MD5.union(CrcFlags::MD5_OLD))
            .then(|| HostDigester.md5(data))
            .flatten()
    }

    fn sha1(&self, data: &[u8]) -> Option<[u8; 20]> {
        self.0
            .contains(CrcFlags::SHA1)
            .then(|| HostDigester.sha1(data))
            .flatten()
    }
}

/// Every compression of the log format: LZ4 (raw block format) from lz4_flex, zlib (a zlib
/// stream, level [`ZLIB_LEVEL`]) from miniz_oxide, LZO1X: decompressed by mars-core's
/// [`lzo1x_decompress`], compressed by lzokay-native (its output is LZO1X, which the
/// kernel's `lzo1x_decompress_safe()` reads).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostCompressor;

/// The deflate level of zlib compression (the original's `zlib_compress_level` default).
pub const ZLIB_LEVEL: u8 = 3;

/// Copies `packed` into the front of `dst` if it fits.
fn copy_out(packed: &[u8], dst: &mut [u8]) -> Option<usize> {
    dst.get_mut(..packed.len())?.copy_from_slice(packed);
    Some(packed.len())
}

/// Inflates the zlib stream `src` into `dst`; the stream must end (with a good Adler-32)
/// within `src` and its output fit into `dst`.
pub fn zlib_decompress(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    let mut state = DecompressorOxide::new();
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    match decompress(&mut state, src, dst, 0, flags) {
        (TINFLStatus::Done, _, written) => Some(written),
        _ => None,
    }
}

impl Compressor for HostCompressor {
    fn available(&self) -> CrcFlags {
        CrcFlags::COMPRESS_ANY
    }

    fn compress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => {
                // lz4_flex wants room for the worst case; the record only has room for less.
                let mut tmp = vec![0u8; lz4_flex::block::get_maximum_output_size(src.len())];
                let n = lz4_flex::block::compress_into(src, &mut tmp).ok()?;
                copy_out(tmp.get(..n)?, dst)
            }
            Compression::Lzo => copy_out(&lzokay_native::compress(src).ok()?, dst),
            Compression::Zlib => copy_out(
                &miniz_oxide::deflate::compress_to_vec_zlib(src, ZLIB_LEVEL),
                dst,
            ),
        }
    }

    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => lz4_flex::block::decompress_into(src, dst).ok(),
            Compression::Lzo => lzo1x_decompress(src, dst),
            Compression::Zlib => zlib_decompress(src, dst),
        }
    }
}

/// The deterministic test pattern: byte `i` is `(i * mul + add + i / 256) mod 256`.
///
/// The `i / 256` term keeps the pattern from repeating every 256 bytes: with a periodic
/// input, the equal chunks of a MARS digest cancel each other in the fold and every vector
/// would read zero.
///
/// The one definition is [`mars_core::test_vectors::fill_pattern`], which the kernel's
/// self-test uses too.
pub fn pattern(len: usize, mul: u64, add: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    mars_core::test_vectors::fill_pattern(&mut out, mul, add);
    out
}

/// Assembles a logfile in memory, record by record, numbering them from 1.
pub struct LogBuilder {
    /// The logfile so far.
    pub bytes: Vec<u8>,
    /// File offset of each record.
    pub offsets: Vec<usize>,
    /// Encoding options for the following records.
    pub options: EncodeOptions,
    /// Whether to offer LZ4 to the encoder.
    pub compress: bool,
    next_seq: u32,
}

impl Default for LogBuilder {
    fn default() -> Self {
        LogBuilder::new()
    }
}

impl LogBuilder {
    /// An empty logfile; CRC32C, no compression.
    pub fn new() -> LogBuilder {
        LogBuilder {
            bytes: Vec::new(),
            offsets: Vec::new(),
            options: EncodeOptions {
                digests: CrcFlags::CRC32C,
                compression: CrcFlags::NONE,
            },
            compress: false,
            next_seq: 1,
        }
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Sets the sequence number of the next record.
    pub fn set_next_seq(&mut self, seq: u32) {
        self.next_seq = seq;
    }

    /// Appends a record of `payload` for device position `pos`, stamped `1700000000 + n`
    /// seconds for the n-th record.
    pub fn push(&mut self, pos: i64, payload: &[u8]) -> Result<Encoded, EncodeError> {
        let seq = self.next_seq;
        let header = RecordHeader {
            stamp_sec: 1_700_000_000 + i64::from(seq),
            stamp_nsec: i64::from(seq) * 1000,
            pos,
            code: mars_core::log_record::CODE_WRITE_NEW,
            seq_nr: seq,
        };
        let start = self.bytes.len();
        self.bytes.resize(start + payload.len() + OVERHEAD, 0);
        let compressor: Option<&dyn Compressor> = if self.compress {
            Some(&HostCompressor)
        } else {
            None
        };
        let out = &mut self.bytes[start..];
        let encoded = encode_record(
            &header,
            payload,
            &self.options,
            &HostDigester,
            compressor,
            out,
        );
        match encoded {
            Ok(enc) => {
                self.bytes.truncate(start + enc.total_len);
                self.offsets.push(start);
                self.next_seq = seq.wrapping_add(1);
                Ok(enc)
            }
            Err(e) => {
                self.bytes.truncate(start);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitwise reference CRCs, independent of the crates.
    fn crc_reflected(poly: u32, init: u32, data: &[u8]) -> u32 {
        let mut crc = init;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn interleaved_crc32c_matches_plain() {
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 512, 4095, 4096, 4103, 32683] {
            let data = pattern(len, 13, 5);
            let chunks = mars_core::digest::split8(&data).unwrap();
            assert_eq!(
                crc32c::crc32c_8(chunks),
                chunks.map(::crc32c::crc32c),
                "len {len}"
            );
        }
    }

    #[test]
    fn crc32c_is_the_standard_one() {
        assert_eq!(HostDigester.crc32c(b"123456789"), Some(0xe306_9283));
        let data = pattern(1000, 7, 3);
        assert_eq!(
            HostDigester.crc32c(&data),
            Some(!crc_reflected(0x82f6_3b78, !0, &data))
        );
    }

    #[test]
    fn crc32_is_the_kernel_crypto_one() {
        // crc32_le(0, data), no inversion at either end.
        let data = pattern(1000, 7, 3);
        assert_eq!(
            HostDigester.crc32(&data),
            Some(crc_reflected(0xedb8_8320, 0, &data))
        );
        assert_eq!(HostDigester.crc32(b""), Some(0));
        // For comparison, zlib's crc32 of "123456789" is 0xcbf43926; the kernel's differs.
        assert_ne!(HostDigester.crc32(b"123456789"), Some(0xcbf4_3926));
    }

    #[test]
    fn md5_and_sha1_known_answers() {
        let md5 = HostDigester.md5(b"abc").unwrap();
        assert_eq!(hex(&md5), "900150983cd24fb0d6963f7d28e17f72");
        let sha1 = HostDigester.sha1(b"abc").unwrap();
        assert_eq!(hex(&sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn masked_digester_reports_its_mask() {
        assert_eq!(MaskedDigester(CrcFlags::CRC32).available(), CrcFlags::CRC32);
        assert_eq!(MaskedDigester(CrcFlags::MD5_OLD).available(), CrcFlags(3));
        assert_eq!(HostDigester.available(), CrcFlags::DIGEST_ANY);
    }

    #[test]
    fn every_compression_round_trips() {
        // Compressible text-like data and incompressible noise.
        let text: Vec<u8> = b"replicated block devices over long distances\n"
            .iter()
            .cycle()
            .take(4096)
            .copied()
            .collect();
        let mut noise = vec![0u8; 4096];
        let mut x = 0x1234_5678u32;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        for algo in Compression::PREFERENCE {
            for (data, small) in [(&text, true), (&pattern(4096, 1, 0), true), (&noise, false)] {
                let mut packed = vec![0u8; 8192];
                let n = HostCompressor.compress(algo, data, &mut packed).unwrap();
                if small {
                    assert!(n < 1000, "{algo:?}: {n}");
                }
                let mut out = vec![0u8; 4096];
                assert_eq!(
                    HostCompressor.decompress(algo, &packed[..n], &mut out),
                    Some(4096),
                    "{algo:?}"
                );
                assert_eq!(&out, data, "{algo:?}");
                // Too small a destination, a cut stream and garbage fail gracefully.
                assert!(HostCompressor
                    .decompress(algo, &packed[..n], &mut out[..100])
                    .is_none());
                assert_ne!(
                    HostCompressor.decompress(algo, &packed[..n - 1], &mut out),
                    Some(4096),
                    "{algo:?}"
                );
                assert!(HostCompressor
                    .decompress(algo, &[0xff; 64], &mut out)
                    .is_none());
            }
            // Too small an output area for the compressed result.
            assert!(HostCompressor
                .compress(algo, &noise, &mut [0u8; 100])
                .is_none());
        }
    }

    pub(crate) fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
