// SPDX-License-Identifier: GPL-2.0
//! Payload compression of the transaction log, as a pluggable service.
//!
//! The original compresses a record's payload (after the digest was taken over the
//! uncompressed data) with the first usable of LZO > LZ4 > ZLIB, and keeps the result only if
//! its length rounded up to 8 is smaller than the original length. The record then stores the
//! compressed length in `l_len`, the original length in `l_decompress_len`, and the
//! algorithm's bit in `l_crc_flags`. The kernel plugs in lib/lzo, lib/lz4 and lib/zlib,
//! userspace crates and [`lzo1x_decompress`] (a bounds-checked LZO1X decoder), both through
//! [`Compressor`].
//!
//! Also here: the original's feature lists (`COMPRESS_LZ4|...`, [`parse_features`]) and the
//! values of the `/mars/defaults/` links that carry them ([`FeatureValue`],
//! [`parse_feature_value`]).

use super::digest::CrcFlags;

/// Largest uncompressed payload a compressed record may carry (`MARS_MAX_COMPR_SIZE`,
/// 8 pages of 4 KiB).
pub const MAX_DECOMPRESS_LEN: usize = 8 * 4096;

/// The deflate level of zlib compression (the original's `zlib_compress_level` default).
pub const ZLIB_LEVEL: i32 = 3;

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

/// The original's symbolic names of the feature bits (`marsadm --help`, `view-potential-features`),
/// with the bit each names in [`CrcFlags`].
pub const FEATURE_NAMES: [(&str, CrcFlags); 8] = [
    ("CHKSUM_MD5_OLD", CrcFlags::MD5_OLD),
    ("CHKSUM_MD5", CrcFlags::MD5),
    ("CHKSUM_CRC32C", CrcFlags::CRC32C),
    ("CHKSUM_CRC32", CrcFlags::CRC32),
    ("CHKSUM_SHA1", CrcFlags::SHA1),
    ("COMPRESS_LZO", CrcFlags::LZO),
    ("COMPRESS_LZ4", CrcFlags::LZ4),
    ("COMPRESS_ZLIB", CrcFlags::ZLIB),
];

/// The feature values of `/mars/defaults/` links and marsadm's `set-global-*` commands are
/// the original's mref flags: [`CrcFlags`] shifted left by this.
pub const FEATURE_SHIFT: u32 = 16;

/// Why a feature list is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureError<'a> {
    /// A name that is not one of [`FEATURE_NAMES`] nor a number.
    Unknown(&'a str),
    /// A feature of the other family (a digest where compressions are asked, or the reverse).
    WrongKind(&'a str),
    /// A number with bits that are no feature (the number as given).
    UnknownBits(&'a str),
}

impl core::fmt::Display for FeatureError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FeatureError::Unknown(t) => write!(f, "unknown feature name '{t}'"),
            FeatureError::WrongKind(t) => write!(f, "'{t}' is not a feature of this kind"),
            FeatureError::UnknownBits(t) => write!(f, "'{t}' sets bits that are no feature"),
        }
    }
}

/// Parses a feature list as the original's marsadm does (`txt2featuresflags`): names of
/// [`FEATURE_NAMES`] and numbers (`0x` hex, `0` octal, decimal, in the mref flag space, e.g.
/// `0x02000000` for LZ4) separated by `|`, blanks around them ignored; an empty list is no
/// feature. Only features within `kind` (e.g. [`CrcFlags::COMPRESS_ANY`]) are accepted: the
/// original only insists that digest names start with `CHKSUM_`; we refuse every stray bit.
pub fn parse_features(text: &str, kind: CrcFlags) -> Result<CrcFlags, FeatureError<'_>> {
    let mut flags = CrcFlags::NONE;
    for item in text.split('|').map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let bits = match FEATURE_NAMES.iter().find(|(name, _)| *name == item) {
            Some((_, bit)) => *bit,
            None => {
                let value = if let Some(hex) = item.strip_prefix("0x") {
                    u64::from_str_radix(hex, 16)
                } else if let Some(oct) = item.strip_prefix('0').filter(|o| !o.is_empty()) {
                    u64::from_str_radix(oct, 8)
                } else if item.bytes().all(|b| b.is_ascii_digit()) {
                    item.parse::<u64>()
                } else {
                    return Err(FeatureError::Unknown(item));
                };
                let value = value.map_err(|_| FeatureError::Unknown(item))?;
                let low = value & ((1u64 << FEATURE_SHIFT) - 1);
                let high = u16::try_from(value >> FEATURE_SHIFT)
                    .map_err(|_| FeatureError::UnknownBits(item))?;
                let bits = CrcFlags(high);
                if low != 0
                    || !CrcFlags::DIGEST_ANY
                        .union(CrcFlags::COMPRESS_ANY)
                        .contains(bits)
                {
                    return Err(FeatureError::UnknownBits(item));
                }
                bits
            }
        };
        if !kind.contains(bits) {
            return Err(FeatureError::WrongKind(item));
        }
        flags = flags.union(bits);
    }
    Ok(flags)
}

/// The value of a `/mars/defaults/` feature link, as the original's marsadm writes it:
/// `0x%08x` of the mref flags.
pub struct FeatureValue(pub CrcFlags);

impl core::fmt::Display for FeatureValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "0x{:08x}", u32::from(self.0.bits()) << FEATURE_SHIFT)
    }
}

/// Reads a `/mars/defaults/` feature link value (`0x` and up to 8 hex digits, as the
/// original's kernel reads it with `sscanf("0x%x")`), keeping only bits of `kind`; `None` for
/// anything else (the kernel then keeps the default).
pub fn parse_feature_value(value: &[u8], kind: CrcFlags) -> Option<CrcFlags> {
    let hex = value.strip_prefix(b"0x")?;
    if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let text = core::str::from_utf8(hex).ok()?;
    let bits = u32::from_str_radix(text, 16).ok()?;
    let high = u16::try_from(bits >> FEATURE_SHIFT).ok()?;
    Some(CrcFlags(high).intersection(kind))
}

/// The names of the features in `flags`, `|`-separated (`-` for none), for `view`.
pub struct FeatureNames(pub CrcFlags);

impl core::fmt::Display for FeatureNames {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (name, bit) in FEATURE_NAMES {
            if self.0.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
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

/// Decompresses the LZO1X stream `src` into `dst`, as the kernel's `lzo1x_decompress_safe()`
/// does (the format `lzo1x_1_compress()` writes; the "lzo-rle" variant is not accepted).
///
/// Returns the decompressed length, or `None` on a malformed stream, one that does not end
/// exactly at the end of `src`, or output that does not fit into `dst`. Never panics and never
/// touches memory outside `src` and `dst`, whatever the input: userspace decodes logfiles with
/// it (the kernel uses lib/lzo).
pub fn lzo1x_decompress(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    Lzo {
        src,
        ip: 0,
        dst,
        op: 0,
    }
    .run()
}

/// The state of one [`lzo1x_decompress`].
struct Lzo<'s, 'd> {
    src: &'s [u8],
    ip: usize,
    dst: &'d mut [u8],
    op: usize,
}

/// Largest run of zero bytes in a length extension (`MAX_255_COUNT` of the kernel).
const LZO_MAX_255_COUNT: usize = usize::MAX / 255 - 2;
/// Distance bias of the 3-byte matches after a literal run (`M2_MAX_OFFSET + 1`).
const LZO_M2_BIAS: usize = 0x0800 + 1;

/// The sum of small terms (every term here is at most a few times 2^16); saturating, so
/// never an overflow.
fn sum(terms: &[usize]) -> usize {
    terms.iter().fold(0usize, |acc, t| acc.saturating_add(*t))
}

impl Lzo<'_, '_> {
    fn byte(&mut self) -> Option<usize> {
        let b = *self.src.get(self.ip)?;
        self.ip = self.ip.checked_add(1)?;
        Some(usize::from(b))
    }

    fn le16(&mut self) -> Option<usize> {
        let lo = self.byte()?;
        let hi = self.byte()?;
        Some(lo | (hi << 8))
    }

    /// A length extension: zero bytes count 255 each, then a non-zero byte; `base` added.
    fn extended(&mut self, base: usize) -> Option<usize> {
        let mut zeros = 0usize;
        while *self.src.get(self.ip)? == 0 {
            self.ip = self.ip.checked_add(1)?;
            zeros = zeros.checked_add(1)?;
            if zeros > LZO_MAX_255_COUNT {
                return None;
            }
        }
        let last = self.byte()?;
        zeros.checked_mul(255)?.checked_add(base)?.checked_add(last)
    }

    fn literals(&mut self, n: usize) -> Option<()> {
        let end = self.ip.checked_add(n)?;
        let out_end = self.op.checked_add(n)?;
        self.dst
            .get_mut(self.op..out_end)?
            .copy_from_slice(self.src.get(self.ip..end)?);
        self.ip = end;
        self.op = out_end;
        Some(())
    }

    /// Copies `len` bytes from `distance` bytes back, byte by byte (the ranges may overlap).
    fn copy_match(&mut self, distance: usize, len: usize) -> Option<()> {
        let mut from = self.op.checked_sub(distance)?;
        let out_end = self.op.checked_add(len)?;
        if out_end > self.dst.len() {
            return None;
        }
        while self.op < out_end {
            let b = *self.dst.get(from)?;
            *self.dst.get_mut(self.op)? = b;
            self.op = self.op.checked_add(1)?;
            from = from.checked_add(1)?;
        }
        Some(())
    }

    fn run(mut self) -> Option<usize> {
        if self.src.len() < 3 {
            return None;
        }
        // state: literals copied by the last instruction (4 = a long literal run).
        let mut state;
        let first = *self.src.first()?;
        if first > 17 {
            self.ip = 1;
            let t = usize::from(first).saturating_sub(17);
            self.literals(t)?;
            state = if t < 4 { t } else { 4 };
        } else {
            state = 0;
        }
        loop {
            let t = self.byte()?;
            let (distance, len, next);
            if t < 16 {
                if state == 0 {
                    // A literal run of 4 or more bytes.
                    let n = if t == 0 { self.extended(15)? } else { t };
                    self.literals(n.checked_add(3)?)?;
                    state = 4;
                    continue;
                }
                let h = self.byte()?;
                next = t & 3;
                if state != 4 {
                    // 2 bytes from at most 1 KiB back.
                    distance = sum(&[t >> 2, h << 2, 1]);
                    len = 2;
                } else {
                    // 3 bytes from 2..3 KiB back.
                    distance = sum(&[t >> 2, h << 2, LZO_M2_BIAS]);
                    len = 3;
                }
            } else if t >= 64 {
                // M2: 3..8 bytes from at most 2 KiB back.
                let h = self.byte()?;
                next = t & 3;
                distance = sum(&[(t >> 2) & 7, h << 3, 1]);
                len = sum(&[t >> 5, 1]);
            } else if t >= 32 {
                // M3: up to 16 KiB back.
                len = match t & 31 {
                    0 => self.extended(31)?.checked_add(2)?,
                    l => sum(&[l, 2]),
                };
                let d = self.le16()?;
                next = d & 3;
                distance = sum(&[d >> 2, 1]);
            } else {
                // M4: 16..48 KiB back, or the end of the stream.
                len = match t & 7 {
                    0 => self.extended(7)?.checked_add(2)?,
                    l => sum(&[l, 2]),
                };
                let d = self.le16()?;
                next = d & 3;
                let back = sum(&[(t & 8) << 11, d >> 2]);
                if back == 0 {
                    // End marker: it has length 3 and ends the input exactly.
                    return (len == 3 && self.ip == self.src.len()).then_some(self.op);
                }
                distance = back.checked_add(0x4000)?;
            }
            self.copy_match(distance, len)?;
            self.literals(next)?;
            state = next;
        }
    }
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

    #[test]
    fn feature_lists_as_the_original_writes_them() {
        let c = CrcFlags::COMPRESS_ANY;
        assert_eq!(parse_features("COMPRESS_LZ4", c), Ok(CrcFlags::LZ4));
        assert_eq!(
            parse_features(" COMPRESS_LZO | COMPRESS_ZLIB ", c),
            Ok(CrcFlags::LZO.union(CrcFlags::ZLIB))
        );
        assert_eq!(parse_features("0x02000000", c), Ok(CrcFlags::LZ4));
        assert_eq!(parse_features("33554432", c), Ok(CrcFlags::LZ4));
        assert_eq!(parse_features("0200000000", c), Ok(CrcFlags::LZ4));
        assert_eq!(parse_features("", c), Ok(CrcFlags::NONE));
        assert_eq!(parse_features("0", c), Ok(CrcFlags::NONE));
        assert_eq!(
            parse_features("COMPRESS_LZ5", c),
            Err(FeatureError::Unknown("COMPRESS_LZ5"))
        );
        assert_eq!(
            parse_features("CHKSUM_SHA1", c),
            Err(FeatureError::WrongKind("CHKSUM_SHA1"))
        );
        assert_eq!(
            parse_features("0x02000001", c),
            Err(FeatureError::UnknownBits("0x02000001"))
        );
        assert_eq!(
            parse_features("0x80000000", c),
            Err(FeatureError::UnknownBits("0x80000000"))
        );
        assert_eq!(
            parse_features("0x1ffffffffff", c),
            Err(FeatureError::UnknownBits("0x1ffffffffff"))
        );
        assert!(parse_features("0xzz", c).is_err());
        assert!(parse_features("lz4", c).is_err());
        let d = CrcFlags::DIGEST_ANY;
        assert_eq!(
            parse_features("CHKSUM_CRC32C|CHKSUM_MD5", d),
            Ok(CrcFlags::CRC32C.union(CrcFlags::MD5))
        );
        assert!(parse_features("COMPRESS_LZ4", d).is_err());

        let v = std::format!("{}", FeatureValue(CrcFlags::LZ4.union(CrcFlags::LZO)));
        assert_eq!(v, "0x03000000");
        assert_eq!(
            parse_feature_value(v.as_bytes(), c),
            Some(CrcFlags::LZ4.union(CrcFlags::LZO))
        );
        assert_eq!(parse_feature_value(b"0x02000000", d), Some(CrcFlags::NONE));
        assert_eq!(
            parse_feature_value(b"0x00040000", d),
            Some(CrcFlags::CRC32C)
        );
        for bad in [
            &b""[..],
            b"0x",
            b"02000000",
            b"0x123456789",
            b"0x0200000g",
            b"0x-1",
        ] {
            assert_eq!(parse_feature_value(bad, c), None);
        }
        assert_eq!(
            std::format!("{}", FeatureNames(CrcFlags::LZ4.union(CrcFlags::ZLIB))),
            "COMPRESS_LZ4|COMPRESS_ZLIB"
        );
        assert_eq!(std::format!("{}", FeatureNames(CrcFlags::NONE)), "-");
    }
}
