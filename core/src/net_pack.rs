// SPDX-License-Identifier: GPL-2.0
//! Network compression of data frames (`LogData` on port 7778, `SyncData` on port 7779):
//! what a sender packs and what a receiver accepts.
//!
//! Both ends of a connection offer in their handshake the compressions the cluster enabled
//! for the network (`/mars/defaults/enabled-net-compressions`, marsadm
//! `set-global-enabled-net-compressions`) that every member offers; the agreement is the
//! intersection (`super::wire::negotiate`). The sender compresses a frame's data with the
//! preferred agreed algorithm (the original's order LZO > LZ4 > zlib) and keeps the result
//! only when it pays off ([`pack`]). The receiver ([`unpack`]) refuses an algorithm that was
//! not agreed and decompresses into a buffer of exactly the announced length, which the codec
//! already capped at [`MAX_DATA_CHUNK`]; anything but exactly that many bytes is refused. A
//! refusal closes the connection before anything was written (`Documentation/protocol.rst`,
//! "Network compression").

use super::compress::{Compression, Compressor};
use super::digest::CrcFlags;
use super::wire::{Packing, FEATURE_COMPRESS_ANY, MAX_DATA_CHUNK, PACK_OVERHEAD};

/// Data shorter than this is sent plain: its compression could save only a few bytes.
pub const MIN_PACK_LEN: usize = 512;

/// Why a compressed data section is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnpackError {
    /// The algorithm was not agreed on this connection.
    NotAgreed(Compression),
    /// The announced decompressed length is over the cap or the buffer.
    OverCap(u32),
    /// The bytes do not decompress to exactly the announced length.
    Corrupt(Compression),
}

impl core::fmt::Display for UnpackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UnpackError::NotAgreed(alg) => {
                write!(f, "compressed frame with {} not agreed", alg.name())
            }
            UnpackError::OverCap(len) => {
                write!(f, "compressed frame announces {len} bytes, over the cap")
            }
            UnpackError::Corrupt(alg) => write!(
                f,
                "compressed frame ({}) does not decompress to its announced length",
                alg.name()
            ),
        }
    }
}

/// The compressions in handshake feature bits (the bits are those of [`CrcFlags`]).
pub fn compressions(features: u64) -> CrcFlags {
    let bits = features & FEATURE_COMPRESS_ANY;
    CrcFlags(u16::try_from(bits).unwrap_or(0)).intersection(CrcFlags::COMPRESS_ANY)
}

/// The handshake feature bits of the compressions in `flags`.
pub fn features(flags: CrcFlags) -> u64 {
    u64::from(flags.intersection(CrcFlags::COMPRESS_ANY).bits())
}

/// Compresses `data` into `dst` with the preferred algorithm of `agreed`, if that pays off:
/// the compressed bytes plus [`PACK_OVERHEAD`] must be fewer than `data`. Returns the packing
/// and the compressed length; `None`: send `data` plain (nothing agreed, too short, too long,
/// does not compress, or the compressor failed).
pub fn pack(
    compressor: &dyn Compressor,
    agreed: CrcFlags,
    data: &[u8],
    dst: &mut [u8],
) -> Option<(Packing, usize)> {
    let alg = Compression::select(agreed.intersection(compressor.available()))?;
    if data.len() < MIN_PACK_LEN || data.len() > MAX_DATA_CHUNK {
        return None;
    }
    let len = u32::try_from(data.len()).ok()?;
    // Only a result that pays off is of use: the compressor may stop when it does not fit.
    let room = data.len().checked_sub(PACK_OVERHEAD + 1)?.min(dst.len());
    let packed = compressor.compress(alg, data, dst.get_mut(..room)?)?;
    if packed == 0 || packed.checked_add(PACK_OVERHEAD)? >= data.len() {
        return None;
    }
    Some((Packing::Compressed { alg, len }, packed))
}

/// Unpacks the data section `data` of a frame received with `packing` on a connection that
/// agreed `agreed`: plain data are returned as they are; compressed data are decompressed
/// into `dst` and must give exactly the announced length, at most [`MAX_DATA_CHUNK`] and at
/// most `dst.len()`. Nothing is decompressed for a refused frame.
pub fn unpack<'a>(
    compressor: &dyn Compressor,
    agreed: CrcFlags,
    packing: Packing,
    data: &'a [u8],
    dst: &'a mut [u8],
) -> Result<&'a [u8], UnpackError> {
    let (alg, len) = match packing {
        Packing::Plain => return Ok(data),
        Packing::Compressed { alg, len } => (alg, len),
    };
    if !agreed.contains(alg.flag()) {
        return Err(UnpackError::NotAgreed(alg));
    }
    let want = len as usize;
    if want > MAX_DATA_CHUNK {
        return Err(UnpackError::OverCap(len));
    }
    let out = dst.get_mut(..want).ok_or(UnpackError::OverCap(len))?;
    match compressor.decompress(alg, data, out) {
        Some(n) if n == want => Ok(out),
        _ => Err(UnpackError::Corrupt(alg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy run-length "compressor" (pairs of count, byte) standing in for every algorithm
    /// the test makes available; it honours the output bound like the kernel's.
    struct Rle(CrcFlags);

    impl Compressor for Rle {
        fn available(&self) -> CrcFlags {
            self.0
        }
        fn compress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
            if !self.0.contains(algo.flag()) {
                return None;
            }
            let mut n = 0;
            let mut i = 0;
            while i < src.len() {
                let b = src[i];
                let mut run = 1;
                while i + run < src.len() && src[i + run] == b && run < 255 {
                    run += 1;
                }
                *dst.get_mut(n)? = run as u8;
                *dst.get_mut(n + 1)? = b;
                n += 2;
                i += run;
            }
            Some(n)
        }
        fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
            if !self.0.contains(algo.flag()) || !src.len().is_multiple_of(2) {
                return None;
            }
            let mut n = 0;
            for pair in src.chunks(2) {
                for _ in 0..pair[0] {
                    *dst.get_mut(n)? = pair[1];
                    n += 1;
                }
            }
            Some(n)
        }
    }

    #[test]
    fn packs_when_it_pays_and_round_trips() {
        let c = Rle(CrcFlags::COMPRESS_ANY);
        let data = [7u8; 4096];
        let mut packed = [0u8; 4096];
        let (packing, n) = pack(&c, CrcFlags::LZ4, &data, &mut packed).unwrap();
        assert_eq!(
            packing,
            Packing::Compressed {
                alg: Compression::Lz4,
                len: 4096
            }
        );
        assert!(n + PACK_OVERHEAD < data.len());
        let mut out = [0u8; MAX_DATA_CHUNK];
        let plain = unpack(&c, CrcFlags::LZ4, packing, &packed[..n], &mut out).unwrap();
        assert_eq!(plain, &data[..]);
        // The original's order of preference among several agreed.
        let (packing, _) = pack(&c, CrcFlags::COMPRESS_ANY, &data, &mut packed).unwrap();
        assert!(matches!(
            packing,
            Packing::Compressed {
                alg: Compression::Lzo,
                ..
            }
        ));
    }

    #[test]
    fn keeps_plain_when_it_does_not_pay() {
        let c = Rle(CrcFlags::COMPRESS_ANY);
        // Every byte differs from its neighbour: RLE doubles it.
        let data: [u8; 4096] = core::array::from_fn(|i| i as u8);
        let mut packed = [0u8; 8192];
        assert_eq!(pack(&c, CrcFlags::LZ4, &data, &mut packed), None);
        // Nothing agreed, nothing available, too short: plain.
        let same = [0u8; 4096];
        assert_eq!(pack(&c, CrcFlags::NONE, &same, &mut packed), None);
        assert_eq!(
            pack(&Rle(CrcFlags::LZO), CrcFlags::LZ4, &same, &mut packed),
            None
        );
        assert_eq!(
            pack(&c, CrcFlags::LZ4, &same[..MIN_PACK_LEN - 1], &mut packed),
            None
        );
        assert!(pack(&c, CrcFlags::LZ4, &same[..MIN_PACK_LEN], &mut packed).is_some());
        // Just at the edge: 3 runs of 255 + 1 of 35 = 8 bytes; pays only if 8 + 5 < len.
        let edge = [1u8; 800];
        assert!(pack(&c, CrcFlags::LZ4, &edge, &mut packed).is_some());
        let mut tiny = [0u8; 2];
        // A destination too small for the result: plain, no overrun.
        assert_eq!(pack(&c, CrcFlags::LZ4, &edge, &mut tiny), None);
    }

    #[test]
    fn refuses_what_was_not_agreed() {
        let c = Rle(CrcFlags::COMPRESS_ANY);
        let packed = [255u8, 1, 255, 1];
        let mut out = [0u8; 1024];
        let packing = Packing::Compressed {
            alg: Compression::Zlib,
            len: 510,
        };
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, packing, &packed, &mut out),
            Err(UnpackError::NotAgreed(Compression::Zlib))
        );
        assert_eq!(
            unpack(&c, CrcFlags::NONE, packing, &packed, &mut out),
            Err(UnpackError::NotAgreed(Compression::Zlib))
        );
        assert_eq!(
            unpack(&c, CrcFlags::ZLIB, packing, &packed, &mut out).map(<[u8]>::len),
            Ok(510)
        );
        // Plain data pass whatever was agreed.
        assert_eq!(
            unpack(&c, CrcFlags::NONE, Packing::Plain, &packed, &mut out),
            Ok(&packed[..])
        );
    }

    #[test]
    fn bounds_the_decompressed_length() {
        let c = Rle(CrcFlags::COMPRESS_ANY);
        // 510 bytes of 1 in truth.
        let packed = [255u8, 1, 255, 1];
        let mut out = [0u8; 2 * MAX_DATA_CHUNK];
        let with = |len| Packing::Compressed {
            alg: Compression::Lz4,
            len,
        };
        // Announced more than the cap: refused before decompressing, even with room.
        let over = MAX_DATA_CHUNK as u32 + 1;
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, with(over), &packed, &mut out),
            Err(UnpackError::OverCap(over))
        );
        // Announced more than the buffer.
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, with(600), &packed, &mut out[..599]),
            Err(UnpackError::OverCap(600))
        );
        // Announced less than the data give: the decompressor stops at the bound; refused.
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, with(100), &packed, &mut out),
            Err(UnpackError::Corrupt(Compression::Lz4))
        );
        // Announced more than the data give: refused.
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, with(511), &packed, &mut out),
            Err(UnpackError::Corrupt(Compression::Lz4))
        );
        // Malformed input.
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, with(510), &packed[..3], &mut out),
            Err(UnpackError::Corrupt(Compression::Lz4))
        );
        // The bytes past the announced length stay untouched.
        let mut out = [9u8; 1024];
        assert_eq!(
            unpack(&c, CrcFlags::LZ4, with(100), &packed, &mut out),
            Err(UnpackError::Corrupt(Compression::Lz4))
        );
        assert!(out[100..].iter().all(|b| *b == 9));
    }

    #[test]
    fn feature_bits_are_the_flag_bits() {
        assert_eq!(compressions(0x200 | 0x04), CrcFlags::LZ4);
        assert_eq!(compressions(u64::MAX), CrcFlags::COMPRESS_ANY);
        assert_eq!(features(CrcFlags::ZLIB.union(CrcFlags::CRC32C)), 0x400);
        for alg in Compression::PREFERENCE {
            assert_eq!(Packing::feature_bit(alg), u64::from(alg.flag().bits()));
            assert_eq!(Packing::alg_from_code(Packing::alg_code(alg)), Some(alg));
        }
        assert_eq!(Packing::alg_from_code(0), None);
        assert_eq!(Packing::alg_from_code(3), None);
    }
}
