// SPDX-License-Identifier: GPL-2.0
//! Payload digests of the transaction log, as the original MARS computes them.
//!
//! The hash functions themselves are not here: the kernel plugs in its crypto/lib routines and
//! userspace its crates, both through [`Digester`]. What lives here is everything MARS adds on
//! top and that both sides must agree on bit for bit:
//!
//! * the flag bits stored in a record's `l_crc_flags` ([`CrcFlags`]);
//! * the preference order CRC32C > CRC32 > MD5 > SHA1, with plain MD5 ("MD5_OLD") as the
//!   fallback that is always possible ([`select_digest`], [`mars_digest`]);
//! * the 32-byte "new" digest: an algorithm whose output is shorter than 32 bytes hashes the
//!   data in `k = ceil(32 / size)` consecutive chunks and concatenates the results
//!   ([`digest32`]);
//! * the XOR fold of those 32 bytes into the 16 bytes a record has room for ([`fold`]).
//!
//! Chunking, exactly as `kernel/mars_generic.c` does it: CRC32C and CRC32 (4 bytes each) use
//! 8 chunks of `len / 8` bytes, the last chunk taking the remainder. MD5 (16 bytes) uses 2
//! chunks of `len / 2` bytes and *fails* when `len` is odd (the original reports
//! "chksum remain" and falls back to the next algorithm). SHA1 (20 bytes) hashes everything
//! once and pads with zeros. MD5_OLD is a plain MD5 padded with zeros.

/// Size of a full MARS digest (`MARS_DIGEST_SIZE`).
pub const DIGEST_SIZE: usize = 32;
/// Size of the digest stored in a log record (`LOG_CHKSUM_SIZE`), see [`fold`].
pub const FOLDED_SIZE: usize = 16;

/// The `l_crc_flags` field of a log record: which digest (and which compression) was used.
///
/// The bit values are the original's `MREF_CHKSUM_*` / `MREF_COMPRESS_*` flags shifted right
/// by 16, which is how they are stored on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CrcFlags(pub u16);

impl CrcFlags {
    /// No flag.
    pub const NONE: CrcFlags = CrcFlags(0);
    /// Plain MD5, only its first 4 bytes stored in `l_crc_old` (the format's first digest).
    pub const MD5_OLD: CrcFlags = CrcFlags(1);
    /// MD5 over 2 chunks, folded.
    pub const MD5: CrcFlags = CrcFlags(2);
    /// CRC32C over 8 chunks, folded.
    pub const CRC32C: CrcFlags = CrcFlags(4);
    /// CRC32 (the kernel crypto API's "crc32": seed 0, no final inversion) over 8 chunks.
    pub const CRC32: CrcFlags = CrcFlags(8);
    /// SHA1, zero-padded to 32 bytes, folded.
    pub const SHA1: CrcFlags = CrcFlags(16);
    /// Payload compressed with LZO1X.
    pub const LZO: CrcFlags = CrcFlags(0x100);
    /// Payload compressed with LZ4 (raw block format).
    pub const LZ4: CrcFlags = CrcFlags(0x200);
    /// Payload compressed with zlib.
    pub const ZLIB: CrcFlags = CrcFlags(0x400);
    /// Every digest bit.
    pub const DIGEST_ANY: CrcFlags = CrcFlags(0x1f);
    /// Every compression bit.
    pub const COMPRESS_ANY: CrcFlags = CrcFlags(0x700);

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: CrcFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `self` and `other` share a bit.
    pub const fn intersects(self, other: CrcFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Bits set in either.
    pub const fn union(self, other: CrcFlags) -> CrcFlags {
        CrcFlags(self.0 | other.0)
    }

    /// Bits set in both.
    pub const fn intersection(self, other: CrcFlags) -> CrcFlags {
        CrcFlags(self.0 & other.0)
    }

    /// Bits of `self` not in `other`.
    pub const fn difference(self, other: CrcFlags) -> CrcFlags {
        CrcFlags(self.0 & !other.0)
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One digest algorithm of the log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgo {
    /// Plain MD5; a record stores its first 4 bytes in `l_crc_old`.
    Md5Old,
    /// MD5 over 2 chunks.
    Md5,
    /// CRC32C over 8 chunks.
    Crc32c,
    /// Kernel-crypto CRC32 over 8 chunks.
    Crc32,
    /// SHA1, zero-padded.
    Sha1,
}

impl DigestAlgo {
    /// The "new" algorithms in the original's order of preference (fastest first).
    pub const PREFERENCE: [DigestAlgo; 4] = [
        DigestAlgo::Crc32c,
        DigestAlgo::Crc32,
        DigestAlgo::Md5,
        DigestAlgo::Sha1,
    ];
    /// Every algorithm.
    pub const ALL: [DigestAlgo; 5] = [
        DigestAlgo::Md5Old,
        DigestAlgo::Md5,
        DigestAlgo::Crc32c,
        DigestAlgo::Crc32,
        DigestAlgo::Sha1,
    ];

    /// The flag bit of this algorithm.
    pub const fn flag(self) -> CrcFlags {
        match self {
            DigestAlgo::Md5Old => CrcFlags::MD5_OLD,
            DigestAlgo::Md5 => CrcFlags::MD5,
            DigestAlgo::Crc32c => CrcFlags::CRC32C,
            DigestAlgo::Crc32 => CrcFlags::CRC32,
            DigestAlgo::Sha1 => CrcFlags::SHA1,
        }
    }

    /// Short lower-case name, as used in test vectors, JSON and `/proc` (e.g. `crc32c`).
    pub const fn name(self) -> &'static str {
        match self {
            DigestAlgo::Md5Old => "md5old",
            DigestAlgo::Md5 => "md5",
            DigestAlgo::Crc32c => "crc32c",
            DigestAlgo::Crc32 => "crc32",
            DigestAlgo::Sha1 => "sha1",
        }
    }

    /// The algorithm called `name` (see [`DigestAlgo::name`]).
    pub fn from_name(name: &str) -> Option<DigestAlgo> {
        DigestAlgo::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Size in bytes of one output of the underlying hash function.
    pub const fn output_size(self) -> usize {
        match self {
            DigestAlgo::Md5Old | DigestAlgo::Md5 => 16,
            DigestAlgo::Crc32c | DigestAlgo::Crc32 => 4,
            DigestAlgo::Sha1 => 20,
        }
    }
}

/// The hash functions, provided by the environment (kernel crypto/lib, or userspace crates).
///
/// Each method returns `None` when the implementation does not provide that algorithm.
/// Implementations must be deterministic and must not panic.
pub trait Digester {
    /// CRC32C (Castagnoli) with the usual conventions: initial value `!0`, final inversion
    /// (check value of `"123456789"` is `0xe3069283`). Stored little-endian.
    fn crc32c(&self, _data: &[u8]) -> Option<u32> {
        None
    }

    /// CRC32 as the kernel crypto API's "crc32" computes it: `crc32_le(0, data)`, i.e. the
    /// reflected IEEE polynomial with initial value 0 and *no* final inversion (this is not
    /// zlib's crc32). Stored little-endian.
    fn crc32(&self, _data: &[u8]) -> Option<u32> {
        None
    }

    /// MD5.
    fn md5(&self, _data: &[u8]) -> Option<[u8; 16]> {
        None
    }

    /// SHA1.
    fn sha1(&self, _data: &[u8]) -> Option<[u8; 20]> {
        None
    }

    /// CRC32C of each of the 8 chunks of a [`DigestAlgo::Crc32c`] digest. The default calls
    /// [`Digester::crc32c`] per chunk; an implementation may override it to interleave the
    /// 8 independent computations, which hides the latency of the CPU's CRC instruction.
    fn crc32c_8(&self, chunks: [&[u8]; 8]) -> Option<[u32; 8]> {
        let mut out = [0u32; 8];
        for (o, chunk) in out.iter_mut().zip(chunks) {
            *o = self.crc32c(chunk)?;
        }
        Some(out)
    }

    /// What [`Digester::crc32c_8`] returns for the chunks of `data` ([`split8`]): the 8 CRCs of
    /// a [`DigestAlgo::Crc32c`] digest of `data`. The default splits `data` and calls
    /// [`Digester::crc32c_8`]; an implementation may override it to walk the one buffer in its
    /// own way (the host's: chunk after chunk, each with several wide accumulators). The
    /// reader's check of a record ([`mars_digest_folded`]) and [`digest32`] call it.
    fn crc32c_split8(&self, data: &[u8]) -> Option<[u32; 8]> {
        self.crc32c_8(split8(data)?)
    }

    /// Copies `src` into `dst` and returns what [`Digester::crc32c_8`] returns for the chunks
    /// of `src` ([`split8`]): the encoder's copy of a payload into its record and the payload's
    /// CRC32C digest in one call, so that an implementation may do both in one pass over
    /// memory. `None` when the lengths differ or CRC32C is not provided (`dst` may then hold
    /// anything). The default copies, then calls [`Digester::crc32c_8`].
    fn copy_crc32c_8(&self, dst: &mut [u8], src: &[u8]) -> Option<[u32; 8]> {
        if dst.len() != src.len() {
            return None;
        }
        dst.copy_from_slice(src);
        self.crc32c_8(split8(src)?)
    }

    /// The digest bits this implementation provides (`available_digest_mask`). The default
    /// probes every method once with empty input.
    fn available(&self) -> CrcFlags {
        let mut mask = CrcFlags::NONE;
        if self.md5(&[]).is_some() {
            mask = mask.union(CrcFlags::MD5_OLD).union(CrcFlags::MD5);
        }
        if self.crc32c(&[]).is_some() {
            mask = mask.union(CrcFlags::CRC32C);
        }
        if self.crc32(&[]).is_some() {
            mask = mask.union(CrcFlags::CRC32);
        }
        if self.sha1(&[]).is_some() {
            mask = mask.union(CrcFlags::SHA1);
        }
        mask
    }
}

/// Hashes `data` in `chunks` consecutive pieces of `len / chunks` bytes (the last piece takes
/// the remainder) and writes each `N`-byte result into `out` one after the other.
fn chunked<const N: usize>(
    data: &[u8],
    chunks: usize,
    out: &mut [u8; DIGEST_SIZE],
    mut hash: impl FnMut(&[u8]) -> Option<[u8; N]>,
) -> Option<()> {
    let chunk_len = data.len().checked_div(chunks)?;
    let mut rest = data;
    let mut slots = out.chunks_mut(N);
    for i in 1..=chunks {
        let piece = if i == chunks {
            rest
        } else {
            let (piece, tail) = rest.split_at_checked(chunk_len)?;
            rest = tail;
            piece
        };
        let slot = slots.next()?;
        let value = hash(piece)?;
        slot.copy_from_slice(value.get(..slot.len())?);
    }
    Some(())
}

/// The 8 chunks of a CRC digest: `len / 8` bytes each, the last one takes the remainder.
pub fn split8(data: &[u8]) -> Option<[&[u8]; 8]> {
    let chunk_len = data.len() / 8;
    let mut chunks: [&[u8]; 8] = [&[]; 8];
    let mut rest = data;
    for (i, slot) in chunks.iter_mut().enumerate() {
        if i == 7 {
            *slot = rest;
        } else {
            let (piece, tail) = rest.split_at_checked(chunk_len)?;
            *slot = piece;
            rest = tail;
        }
    }
    Some(chunks)
}

/// The 32-byte MARS digest of `data` with `algo`, or `None` when the digester lacks the
/// algorithm or the algorithm cannot handle `data` (MD5 on an odd length).
pub fn digest32(
    algo: DigestAlgo,
    data: &[u8],
    digester: &dyn Digester,
) -> Option<[u8; DIGEST_SIZE]> {
    let mut out = [0u8; DIGEST_SIZE];
    match algo {
        DigestAlgo::Md5Old => {
            let md5 = digester.md5(data)?;
            out.get_mut(..16)?.copy_from_slice(&md5);
        }
        DigestAlgo::Md5 => {
            // Two chunks of len/2; the original leaves an odd byte over and fails.
            if !data.len().is_multiple_of(2) {
                return None;
            }
            chunked(data, 2, &mut out, |piece| digester.md5(piece))?;
        }
        DigestAlgo::Crc32c => out = crc_digest(digester.crc32c_split8(data)?),
        DigestAlgo::Crc32 => {
            chunked(data, 8, &mut out, |piece| {
                digester.crc32(piece).map(u32::to_le_bytes)
            })?;
        }
        DigestAlgo::Sha1 => {
            let sha1 = digester.sha1(data)?;
            out.get_mut(..20)?.copy_from_slice(&sha1);
        }
    }
    Some(out)
}

/// The 32-byte digest of the 8 chunk CRCs of a [`DigestAlgo::Crc32c`] digest.
fn crc_digest(crcs: [u32; 8]) -> [u8; DIGEST_SIZE] {
    let mut out = [0u8; DIGEST_SIZE];
    for (slot, crc) in out.chunks_exact_mut(4).zip(crcs) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    out
}

/// XOR-folds a 32-byte digest into the 16 bytes a record stores (`fold_crc`).
pub fn fold(digest: &[u8; DIGEST_SIZE]) -> [u8; FOLDED_SIZE] {
    let mut out = [0u8; FOLDED_SIZE];
    let (low, high) = digest.split_at(FOLDED_SIZE);
    for ((o, a), b) in out.iter_mut().zip(low).zip(high) {
        *o = a ^ b;
    }
    out
}

/// [`fold`] of the [`DigestAlgo::Crc32c`] digest whose 8 chunk CRCs are `crcs`, computed from
/// the CRCs without building the 32 bytes first.
pub fn fold_crc32c(crcs: [u32; 8]) -> [u8; FOLDED_SIZE] {
    let [a, b, c, d, e, f, g, h] = crcs;
    let mut out = [0u8; FOLDED_SIZE];
    for (slot, word) in out.chunks_exact_mut(4).zip([a ^ e, b ^ f, c ^ g, d ^ h]) {
        slot.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The algorithm `mars_digest()` would try first for `allowed` (a set of digest flags):
/// the first of [`DigestAlgo::PREFERENCE`] in `allowed`, else MD5_OLD.
pub fn select_digest(allowed: CrcFlags) -> DigestAlgo {
    DigestAlgo::PREFERENCE
        .into_iter()
        .find(|a| allowed.contains(a.flag()))
        .unwrap_or(DigestAlgo::Md5Old)
}

/// Computes the digest of `data` like the original `mars_digest()`: the algorithms in
/// `allowed ∩ digester.available()` are tried in order of preference, one that fails is
/// skipped, and plain MD5 (MD5_OLD) is the last resort regardless of `allowed`.
///
/// Returns the algorithm actually used with its 32-byte digest, or `None` when not even MD5
/// is available.
pub fn mars_digest(
    allowed: CrcFlags,
    data: &[u8],
    digester: &dyn Digester,
) -> Option<(DigestAlgo, [u8; DIGEST_SIZE])> {
    let usable = allowed.intersection(digester.available());
    for algo in DigestAlgo::PREFERENCE {
        if usable.contains(algo.flag()) {
            if let Some(digest) = digest32(algo, data, digester) {
                return Some((algo, digest));
            }
        }
    }
    digest32(DigestAlgo::Md5Old, data, digester).map(|d| (DigestAlgo::Md5Old, d))
}

/// [`mars_digest`] of `data` with its digest folded ([`fold`]): what a reader compares with the
/// 16 bytes a record stores. Same choice of algorithm, same result; when CRC32C is chosen the
/// fold is taken from the 8 chunk CRCs directly ([`fold_crc32c`]).
pub fn mars_digest_folded(
    allowed: CrcFlags,
    data: &[u8],
    digester: &dyn Digester,
) -> Option<(DigestAlgo, [u8; FOLDED_SIZE])> {
    // CRC32C is the first choice of mars_digest whenever it is usable.
    if allowed
        .intersection(digester.available())
        .contains(CrcFlags::CRC32C)
    {
        if let Some(crcs) = digester.crc32c_split8(data) {
            return Some((DigestAlgo::Crc32c, fold_crc32c(crcs)));
        }
    }
    mars_digest(allowed, data, digester).map(|(algo, digest)| (algo, fold(&digest)))
}

/// [`mars_digest`] of `src`, copying `src` into `dst` on the way: the encoder's copy of a
/// payload into its record. When CRC32C is chosen, copy and digest are one call
/// ([`Digester::copy_crc32c_8`]), one pass over memory where the digester can; otherwise the
/// copy comes first. `None` when the lengths differ or not even MD5 is available (`dst` may
/// then hold anything).
pub fn mars_digest_copy(
    allowed: CrcFlags,
    src: &[u8],
    dst: &mut [u8],
    digester: &dyn Digester,
) -> Option<(DigestAlgo, [u8; DIGEST_SIZE])> {
    // CRC32C is the first choice of mars_digest whenever it is usable.
    if allowed
        .intersection(digester.available())
        .contains(CrcFlags::CRC32C)
    {
        if let Some(crcs) = digester.copy_crc32c_8(dst, src) {
            return Some((DigestAlgo::Crc32c, crc_digest(crcs)));
        }
    }
    if dst.len() != src.len() {
        return None;
    }
    dst.copy_from_slice(src);
    mars_digest(allowed, src, digester)
}

/// The checksum fields of a record for `digest` computed with `algo`: `(l_crc_old, crc[16])`.
///
/// MD5_OLD records keep the first 4 digest bytes (read as a little-endian u32) in `l_crc_old`
/// and leave `crc` zero; every other algorithm leaves `l_crc_old` zero and stores the fold.
pub fn record_checksum(algo: DigestAlgo, digest: &[u8; DIGEST_SIZE]) -> (u32, [u8; FOLDED_SIZE]) {
    match algo {
        DigestAlgo::Md5Old => {
            let [a, b, c, d, ..] = *digest;
            (u32::from_le_bytes([a, b, c, d]), [0; FOLDED_SIZE])
        }
        _ => (0, fold(digest)),
    }
}

// ---------------------------------------------------------------------------------------------
// Digest choice (the original's feature masks, ../shared/research/mars.md §8.3)

/// The features version this implementation publishes in `actual-<host>/features` (the
/// original's `OPTIONAL_FEATURES_VERSION`).
pub const FEATURES_VERSION: u32 = 4;
/// The strategy version published next to it (the original's `OPTIONAL_STRATEGY_VERSION`:
/// alive links in `actual-<host>/`, join-cluster).
pub const STRATEGY_VERSION: u32 = 5;
/// Peers announcing a features version below this offer no digest but MD5_OLD (the
/// original's rule).
pub const MIN_DIGEST_FEATURES_VERSION: u32 = 3;
/// Largest version number accepted in a features link (anything larger is garbage).
const MAX_VERSION: u32 = 1_000_000;
/// The feature links carry the original's mref flags: [`CrcFlags`] shifted left by this
/// (the same as `super::compress::FEATURE_SHIFT`).
const SHIFT: u32 = 16;

/// The digests a log record may use: `usable & ~disabled` (the original's
/// `usable_digest_mask & ~disabled_log_digests`). When that is empty, [`mars_digest`] falls
/// back to MD5_OLD, as the original does: every digest can be disabled for logs, yet a record
/// always carries one.
pub fn log_digests(usable: CrcFlags, disabled: CrcFlags) -> CrcFlags {
    usable
        .difference(disabled)
        .intersection(CrcFlags::DIGEST_ANY)
}

/// The digests a comparison over the network (fast full sync) may use on this host:
/// `usable & ~disabled`, where MD5_OLD cannot be disabled (the original's
/// `make_defaults`: "at least one digest must remain usable").
pub fn net_digests(usable: CrcFlags, disabled: CrcFlags) -> CrcFlags {
    usable
        .difference(disabled.difference(CrcFlags::MD5_OLD))
        .intersection(CrcFlags::DIGEST_ANY)
}

/// The value of `actual-<host>/features` (what the host's kernel offers) and of
/// `actual-<host>/usable` (what the whole cluster offers): `<features version>,<strategy
/// version>,0x<mask>` with the mask in the original's mref flags (`0x%08x`), digest and
/// compression bits ORed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeaturesLink {
    /// The features version.
    pub features_version: u32,
    /// The strategy version.
    pub strategy_version: u32,
    /// Digest and compression bits.
    pub mask: CrcFlags,
}

impl core::fmt::Display for FeaturesLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{},{},0x{:08x}",
            self.features_version,
            self.strategy_version,
            u32::from(self.mask.bits()) << SHIFT
        )
    }
}

impl FeaturesLink {
    /// Parses a features or usable link value. Strict: two decimal versions (at most
    /// 1000000) and `0x` with 1 to 8 hex digits, nothing else; bits of the mask that are no
    /// digest or compression of this implementation are dropped (a newer peer's features).
    /// `None` for anything else.
    pub fn parse(value: &[u8]) -> Option<FeaturesLink> {
        let text = core::str::from_utf8(value).ok()?;
        let mut fields = text.split(',');
        let (features, strategy, mask) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            return None;
        }
        let version = |t: &str| -> Option<u32> {
            if t.is_empty() || t.len() > 7 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse::<u32>().ok().filter(|v| *v <= MAX_VERSION)
        };
        let hex = mask.strip_prefix("0x")?;
        if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bits = u32::from_str_radix(hex, 16).ok()?;
        let high = u16::try_from(bits >> SHIFT).ok()?;
        Some(FeaturesLink {
            features_version: version(features)?,
            strategy_version: version(strategy)?,
            mask: CrcFlags(high).intersection(CrcFlags::DIGEST_ANY.union(CrcFlags::COMPRESS_ANY)),
        })
    }

    /// The digest and compression bits a peer with this `features` link contributes to the
    /// cluster's usable mask, as the original counts them: a features version below
    /// [`MIN_DIGEST_FEATURES_VERSION`] or an unreadable link offers nothing but MD5_OLD;
    /// MD5_OLD is always counted as offered.
    pub fn peer_mask(value: &[u8]) -> CrcFlags {
        match FeaturesLink::parse(value) {
            Some(link) if link.features_version >= MIN_DIGEST_FEATURES_VERSION => {
                link.mask.union(CrcFlags::MD5_OLD)
            }
            _ => CrcFlags::MD5_OLD,
        }
    }
}

/// The value of `actual-<host>/used-log-digest` and `used-net-digest`: the original's mref
/// flag of the digest in decimal (`0` when none was used since the module loaded).
pub fn used_value(algo: Option<DigestAlgo>) -> u32 {
    algo.map_or(0, |a| u32::from(a.flag().bits()) << SHIFT)
}

/// The digest a log record gets when `usable` digests are offered by the cluster and
/// `disabled` ones are disabled for logs (before [`mars_digest`] skips one the data does not
/// suit, such as MD5 of an odd length).
pub fn chosen_log_digest(usable: CrcFlags, disabled: CrcFlags) -> DigestAlgo {
    select_digest(log_digests(usable, disabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake digester: "hash" = length and first byte, enough to check the chunking.
    struct Fake;
    impl Digester for Fake {
        fn crc32c(&self, data: &[u8]) -> Option<u32> {
            Some(data.len() as u32 | (u32::from(data.first().copied().unwrap_or(0xee)) << 24))
        }
        fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
            let mut out = [0u8; 16];
            out[0] = data.len() as u8;
            out[15] = 0x55;
            Some(out)
        }
    }

    #[test]
    fn crc_chunking_puts_remainder_in_last_chunk() {
        let data: std::vec::Vec<u8> = (0..19u8).collect();
        let d = digest32(DigestAlgo::Crc32c, &data, &Fake).unwrap();
        // 19 / 8 = 2: seven chunks of 2 bytes starting at 0, 2, ..., 12, the last 5 bytes from 14.
        for i in 0..7 {
            assert_eq!(&d[i * 4..i * 4 + 4], &[2, 0, 0, (2 * i) as u8]);
        }
        assert_eq!(&d[28..32], &[5, 0, 0, 14]);
    }

    #[test]
    fn tiny_inputs_give_empty_chunks() {
        let d = digest32(DigestAlgo::Crc32c, &[9, 9, 9], &Fake).unwrap();
        assert_eq!(&d[0..4], &[0, 0, 0, 0xee]);
        assert_eq!(&d[28..32], &[3, 0, 0, 9]);
    }

    #[test]
    fn md5_odd_length_fails_and_falls_back_to_md5_old() {
        assert!(digest32(DigestAlgo::Md5, &[1, 2, 3], &Fake).is_none());
        let (algo, d) = mars_digest(CrcFlags::MD5, &[1, 2, 3], &Fake).unwrap();
        assert_eq!(algo, DigestAlgo::Md5Old);
        assert_eq!(d[0], 3);
        assert_eq!(&d[16..], &[0; 16]);
        let (algo, d) = mars_digest(CrcFlags::MD5, &[1, 2, 3, 4], &Fake).unwrap();
        assert_eq!(algo, DigestAlgo::Md5);
        assert_eq!((d[0], d[15], d[16], d[31]), (2, 0x55, 2, 0x55));
    }

    #[test]
    fn preference_and_availability() {
        assert_eq!(Fake.available(), CrcFlags(1 | 2 | 4));
        assert_eq!(select_digest(CrcFlags::DIGEST_ANY), DigestAlgo::Crc32c);
        assert_eq!(
            select_digest(CrcFlags::SHA1.union(CrcFlags::MD5)),
            DigestAlgo::Md5
        );
        assert_eq!(select_digest(CrcFlags::NONE), DigestAlgo::Md5Old);
        // CRC32 is not provided by Fake, so CRC32C|CRC32 → CRC32C, CRC32 alone → MD5_OLD.
        assert_eq!(
            mars_digest(CrcFlags::CRC32, &[0; 8], &Fake).unwrap().0,
            DigestAlgo::Md5Old
        );
        assert_eq!(
            mars_digest(CrcFlags::DIGEST_ANY, &[0; 8], &Fake).unwrap().0,
            DigestAlgo::Crc32c
        );
        struct Nothing;
        impl Digester for Nothing {}
        assert!(mars_digest(CrcFlags::DIGEST_ANY, &[0; 8], &Nothing).is_none());
    }

    #[test]
    fn digest_copy_copies_and_digests_like_mars_digest() {
        let src: std::vec::Vec<u8> = (0..19u8).collect();
        for allowed in [CrcFlags::DIGEST_ANY, CrcFlags::MD5, CrcFlags::NONE] {
            let mut dst = [0u8; 19];
            assert_eq!(
                mars_digest_copy(allowed, &src, &mut dst, &Fake),
                mars_digest(allowed, &src, &Fake)
            );
            assert_eq!(&dst[..], &src[..]);
        }
        // Lengths must agree.
        let mut short = [0u8; 18];
        assert!(mars_digest_copy(CrcFlags::CRC32C, &src, &mut short, &Fake).is_none());
        assert!(mars_digest_copy(CrcFlags::MD5, &src, &mut short, &Fake).is_none());
        assert!(Fake.copy_crc32c_8(&mut short, &src).is_none());
    }

    #[test]
    fn folded_digest_is_the_fold_of_mars_digest() {
        /// CRC32C, but "fails" (None) on 7 bytes.
        struct Picky;
        impl Digester for Picky {
            fn crc32c(&self, data: &[u8]) -> Option<u32> {
                (data.len() != 7).then(|| Fake.crc32c(data)).flatten()
            }
            fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
                Fake.md5(data)
            }
        }
        for len in [0usize, 3, 19, 56, 64, 4096] {
            let data: std::vec::Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            for allowed in [
                CrcFlags::DIGEST_ANY,
                CrcFlags::CRC32C,
                CrcFlags::MD5,
                CrcFlags::NONE,
            ] {
                for digester in [&Fake as &dyn Digester, &Picky] {
                    let want = mars_digest(allowed, &data, digester).map(|(a, d)| (a, fold(&d)));
                    assert_eq!(mars_digest_folded(allowed, &data, digester), want, "{len}");
                }
            }
        }
        // 56 bytes = 8 chunks of 7: Picky fails CRC32C, so MD5 is chosen by both.
        let data = [5u8; 56];
        assert_eq!(
            mars_digest_folded(CrcFlags::DIGEST_ANY, &data, &Picky).map(|(a, _)| a),
            Some(DigestAlgo::Md5)
        );
    }

    #[test]
    fn fold_of_crcs_is_the_fold_of_the_digest() {
        let crcs = [
            0x0102_0304,
            0xa0b0_c0d0,
            0xdead_beef,
            7,
            0x1111_2222,
            0x8000_0001,
            0xffff_ffff,
            0x0f0f_0f0f,
        ];
        assert_eq!(fold_crc32c(crcs), fold(&crc_digest(crcs)));
    }

    #[test]
    fn fold_xors_halves() {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = i as u8;
        }
        let f = fold(&d);
        for (i, &folded) in f.iter().enumerate() {
            assert_eq!(folded, (i as u8) ^ (i as u8 + 16));
        }
    }

    #[test]
    fn names_round_trip() {
        for a in DigestAlgo::ALL {
            assert_eq!(DigestAlgo::from_name(a.name()), Some(a));
        }
        assert_eq!(DigestAlgo::from_name("crc64"), None);
    }

    #[test]
    fn log_digest_choice_skips_disabled_ones() {
        let all = CrcFlags::DIGEST_ANY;
        assert_eq!(chosen_log_digest(all, CrcFlags::NONE), DigestAlgo::Crc32c);
        assert_eq!(chosen_log_digest(all, CrcFlags::CRC32C), DigestAlgo::Crc32);
        assert_eq!(
            chosen_log_digest(all, CrcFlags::CRC32C.union(CrcFlags::CRC32)),
            DigestAlgo::Md5
        );
        assert_eq!(
            chosen_log_digest(all, CrcFlags(0x0e)), // MD5, CRC32C, CRC32
            DigestAlgo::Sha1
        );
        // Everything disabled: MD5_OLD, as the original's mars_digest falls back to it.
        assert_eq!(chosen_log_digest(all, all), DigestAlgo::Md5Old);
        assert_eq!(log_digests(all, all), CrcFlags::NONE);
        // A digest the cluster does not offer is not chosen either.
        assert_eq!(
            chosen_log_digest(CrcFlags(0x1b), CrcFlags::NONE), // without CRC32C
            DigestAlgo::Crc32
        );
        // mars_digest follows the mask: with CRC32C disabled a record gets MD5 from Fake
        // (which has no CRC32).
        let (algo, _) =
            mars_digest(log_digests(all, CrcFlags::CRC32C), &[1, 2, 3, 4], &Fake).unwrap();
        assert_eq!(algo, DigestAlgo::Md5);
    }

    #[test]
    fn net_digests_keep_md5_old() {
        let all = CrcFlags::DIGEST_ANY;
        assert_eq!(net_digests(all, all), CrcFlags::MD5_OLD);
        assert_eq!(net_digests(all, CrcFlags::CRC32C), CrcFlags(0x1b));
        assert_eq!(
            net_digests(CrcFlags::CRC32C, CrcFlags::NONE),
            CrcFlags::CRC32C
        );
        // Compression bits never count as digests.
        assert_eq!(
            net_digests(CrcFlags(0x0704), CrcFlags::NONE),
            CrcFlags::CRC32C
        );
    }

    #[test]
    fn features_links_round_trip_and_refuse_garbage() {
        let link = FeaturesLink {
            features_version: FEATURES_VERSION,
            strategy_version: STRATEGY_VERSION,
            mask: CrcFlags(0x071f),
        };
        let text = std::format!("{link}");
        assert_eq!(text, "4,5,0x071f0000");
        assert_eq!(FeaturesLink::parse(text.as_bytes()), Some(link));
        // The original's value of a host without SHA1 and compression.
        assert_eq!(
            FeaturesLink::parse(b"4,5,0x000f0000").map(|l| l.mask),
            Some(CrcFlags(0x0f))
        );
        // Bits of a newer peer are dropped, low bits too.
        assert_eq!(
            FeaturesLink::parse(b"5,6,0x80040001").map(|l| l.mask),
            Some(CrcFlags::CRC32C)
        );
        for bad in [
            &b""[..],
            b"4,5",
            b"4,5,0x",
            b"4,5,071f0000",
            b"4,5,0x071f0000,1",
            b"4,-5,0x1",
            b"4, 5,0x1",
            b"99999999,5,0x1",
            b"4,5,0x1234567890",
            b"4,5,0xzz",
            b"\xff,5,0x1",
        ] {
            assert_eq!(FeaturesLink::parse(bad), None, "{bad:?}");
            assert_eq!(FeaturesLink::peer_mask(bad), CrcFlags::MD5_OLD);
        }
        assert_eq!(
            FeaturesLink::peer_mask(b"4,5,0x00040000"),
            CrcFlags::CRC32C.union(CrcFlags::MD5_OLD)
        );
        // An old peer (features version 2) offers MD5_OLD only.
        assert_eq!(
            FeaturesLink::peer_mask(b"2,2,0x001f0000"),
            CrcFlags::MD5_OLD
        );
    }

    #[test]
    fn used_values_are_the_original_flags_in_decimal() {
        assert_eq!(used_value(None), 0);
        assert_eq!(used_value(Some(DigestAlgo::Md5Old)), 65536);
        assert_eq!(used_value(Some(DigestAlgo::Md5)), 131072);
        assert_eq!(used_value(Some(DigestAlgo::Crc32c)), 262144);
        assert_eq!(used_value(Some(DigestAlgo::Crc32)), 524288);
        assert_eq!(used_value(Some(DigestAlgo::Sha1)), 1048576);
    }

    #[test]
    fn sync_digest_is_agreed_in_the_handshake() {
        use super::super::wire::{accept_welcome, negotiate, DigestAlg, Hello, PortRole, Welcome};
        let all = CrcFlags::DIGEST_ANY;
        let offer = |disabled: CrcFlags| u64::from(net_digests(all, disabled).bits());
        let agree = |client: u64, server: u64| {
            let hello = Hello {
                min_version: 2,
                max_version: 2,
                role: PortRole::Sync,
                features: client,
                cluster_uuid: "alpha_1700000000.000000000",
                host: "bravo",
                client_nonce: [0x11; 32],
            };
            let server_side =
                negotiate(&hello, PortRole::Sync, "alpha_1700000000.000000000", server).unwrap();
            let welcome = Welcome {
                version: server_side.version,
                features: server_side.features,
                cluster_uuid: "alpha_1700000000.000000000",
                host: "alpha",
                proof: [0; 32],
            };
            let client_side = accept_welcome(&welcome, &hello).unwrap();
            // Both ends know the same agreement.
            assert_eq!(client_side.features, server_side.features);
            DigestAlg::preferred(client_side.features)
        };
        assert_eq!(
            agree(offer(CrcFlags::NONE), offer(CrcFlags::NONE)),
            Some(DigestAlg::Crc32c)
        );
        // Either end disabling CRC32C is enough.
        assert_eq!(
            agree(offer(CrcFlags::CRC32C), offer(CrcFlags::NONE)),
            Some(DigestAlg::Crc32)
        );
        assert_eq!(
            agree(offer(CrcFlags::NONE), offer(CrcFlags::CRC32C)),
            Some(DigestAlg::Crc32)
        );
        // Disjoint settings: the first neither disabled.
        assert_eq!(
            agree(
                offer(CrcFlags::CRC32C.union(CrcFlags::MD5)),
                offer(CrcFlags::CRC32)
            ),
            Some(DigestAlg::Sha1)
        );
        // Everything disabled on both ends: MD5_OLD stays.
        assert_eq!(agree(offer(all), offer(all)), Some(DigestAlg::Md5Old));
        // A peer offering garbage bits (and no digest) agrees on nothing.
        assert_eq!(agree(1 << 40, offer(CrcFlags::NONE)), None);
    }
}
