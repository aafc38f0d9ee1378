// SPDX-License-Identifier: GPL-2.0
//! Payload compression of the transaction log, as a pluggable service.
//!
//! The original compresses a record's payload (after the digest was taken over the
//! uncompressed data) with the first usable of LZO > LZ4 > ZLIB, and keeps the result only if
//! its length rounded up to 8 is smaller than the original length. The record then stores the
//! compressed length in `l_len`, the original length in `l_decompress_len`, and the
//! algorithm's bit in `l_crc_flags`. The kernel plugs in lib/lz4 (and possibly lzo/zlib),
//! userspace a crate, both through [`Compressor`].

use super::digest::CrcFlags;

/// Largest uncompressed payload a compressed record may carry (`MARS_MAX_COMPR_SIZE`,
/// 8 pages of 4 KiB).
pub const MAX_DECOMPRESS_LEN: usize = 8 * 4096;

/// A compression algorithm of the log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// LZO1X-1.
    Lzo,
    /// LZ4, raw block format (no frame, no size prefix), as the kernel's
    /// `LZ4_compress_fast`/`LZ4_decompress_safe` produce and consume.
    Lz4,
    /// zlib stream (with header), deflate level 3 in the original.
    Zlib,
}

impl Compression {
    /// The algorithms in the original's order of preference.
    pub const PREFERENCE: [Compression; 3] =
        [Compression::Lzo, Compression::Lz4, Compression::Zlib];

    /// The flag bit of this algorithm.
    pub const fn flag(self) -> CrcFlags {
        match self {
            Compression::Lzo => CrcFlags::LZO,
            Compression::Lz4 => CrcFlags::LZ4,
            Compression::Zlib => CrcFlags::ZLIB,
        }
    }

    /// Short lower-case name (`lzo`, `lz4`, `zlib`).
    pub const fn name(self) -> &'static str {
        match self {
            Compression::Lzo => "lzo",
            Compression::Lz4 => "lz4",
            Compression::Zlib => "zlib",
        }
    }

    /// The preferred algorithm among the compression bits of `flags`.
    pub fn select(flags: CrcFlags) -> Option<Compression> {
        Compression::PREFERENCE
            .into_iter()
            .find(|c| flags.contains(c.flag()))
    }
}

/// Compression and decompression, provided by the environment.
///
/// Implementations must never panic and never write outside `dst`.
pub trait Compressor {
    /// The compression bits this implementation provides (`available_compression_mask`).
    fn available(&self) -> CrcFlags;

    /// Compresses `src` into `dst` with `algo`. Returns the compressed length, or `None` if
    /// the algorithm is unavailable or the result does not fit into `dst`.
    fn compress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize>;

    /// Decompresses `src` into `dst` with `algo`. Returns the decompressed length, or `None`
    /// on malformed input, an unavailable algorithm, or output that does not fit into `dst`.
    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference() {
        assert_eq!(
            Compression::select(CrcFlags::COMPRESS_ANY),
            Some(Compression::Lzo)
        );
        assert_eq!(
            Compression::select(CrcFlags::LZ4.union(CrcFlags::ZLIB)),
            Some(Compression::Lz4)
        );
        assert_eq!(Compression::select(CrcFlags::CRC32C), None);
        assert_eq!(Compression::Lz4.name(), "lz4");
    }
}
