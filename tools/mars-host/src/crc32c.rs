// SPDX-License-Identifier: GPL-2.0
//! CRC32C for the host: the checksum of every log record, fast enough that encoding a record
//! costs little more than copying it.
//!
//! A record's digest is the CRC32C of 8 chunks of the payload (`mars_core::digest::split8`),
//! so the work is 8 independent CRCs of `len / 8` bytes, not one long one. The
//! implementation is chosen at run time, the best the CPU has (`MARS_HOST_CRC32C` may ask
//! for a lesser one, see [`implementation`]):
//!
//! * **AVX-512 + VPCLMULQDQ** (x86_64 with AVX-512F and VL, AVX2, SSE4.2): carry-less
//!   multiplication folding ("Fast CRC Computation for Generic Polynomials Using
//!   PCLMULQDQ", Gopal et al., Intel 2009; the Linux kernel's
//!   `arch/x86/lib/crc-pclmul-template.S` is the same method) on 512-bit registers. On AMD
//!   Zen 4 a VPCLMULQDQ on a zmm register costs about what one on a ymm register does
//!   (measured: 0.80 against 0.85 ns per instruction, throughput-bound), so this halves the
//!   vector unit's work per byte; the three-way XOR of a fold is one `vpternlogq`. The 8
//!   chunks of one buffer ([`crc32c_split8`] for a reader, [`copy_crc32c_8`] for the
//!   encoder) are done one after the other, each with 4 accumulators over consecutive
//!   64-byte blocks: one stream through memory (two with the copy), which the hardware
//!   prefetchers follow. The encoder's copy is stored by the loads that checksum it, so copy
//!   and checksum are one pass over memory. An accumulator is congruent to the chunk so far,
//!   so the `crc32` instruction over its bytes (from a zero state, the initial value being
//!   folded in already) gives the chunk's CRC: no Barrett reduction.
//! * **AVX2 + VPCLMULQDQ**: the same with 256-bit registers for the chunks of one buffer.
//!   For 8 chunks anywhere ([`crc32c_8`]) the 8 advance together, 32 bytes of each per step,
//!   some with the `crc32` instruction (integer unit) and the others folded (vector unit), so
//!   that both units work at once (with AVX-512: 64 bytes per step, 512-bit accumulators).
//! * **SSE4.2**: the `crc32` instruction, 4 chunks interleaved (one instruction has a latency
//!   of 3 cycles but a throughput of 1 per cycle).
//! * **Portable**: the `crc32c` crate (itself SSE4.2 with 3-way interleaving and a table
//!   shift where present, tables elsewhere).
//!
//! The single-buffer [`crc32c`] folds one buffer with VPCLMULQDQ when it is long enough (with
//! AVX-512 as each chunk above, else 8 streams in 4 256-bit registers), else it is the
//! crate's.
//!
//! On the AMD EPYC (Zen 4) of the development machine, the 8-chunk digest of a 4 KiB record
//! runs at about 1.05 times `memcpy`, encoding a record (copy with checksum) at about 0.76 of
//! `memcpy` and scanning it (parse and verify) at about 0.88 (`scripts/bench-core.sh`;
//! `Documentation/testing.rst` has the figures).
//!
//! The fold constants are computed at compile time from the polynomial (see [`fold_key`]); a
//! test checks that the same generator gives the published constants of CRC32 (IEEE).

/// The CRC32C (Castagnoli) polynomial, without its `x^32` term, bit `i` the coefficient of
/// `x^i` (its bit-reflected form is the familiar `0x82f63b78`).
const POLY: u32 = 0x1edc_6f41;

/// Below this many bytes per chunk the SSE4.2 path is as fast as folding (the folding path
/// needs at least one 32-byte block per chunk, and its reduction costs ~40 cycles).
const FOLD_MIN_CHUNK: usize = 64;
/// How many of the 8 chunks of a record go to the `crc32` instruction, the others being
/// folded with VPCLMULQDQ in the same loop. Measured on AMD Zen 3 (`scripts/bench-core.sh`):
/// an even split is the fastest, 1.2 times folding all 8.
const INTEGER_CHUNKS: usize = 4;
/// The same for [`copy_crc32c_8`], where the vector unit also moves every byte: 2 were 1.06
/// times as fast as 4 there.
const INTEGER_CHUNKS_COPY: usize = 2;
/// [`FOLD_MIN_CHUNK`] of the AVX-512 path (it needs one 64-byte block per chunk).
const FOLD512_MIN_CHUNK: usize = 64;
/// [`INTEGER_CHUNKS`] of the AVX-512 path. Measured on AMD Zen 4 (`scripts/bench-core.sh`,
/// 7 Dec 2026): 1 and 2 are equal within the noise, 3 is 0.9 times as fast, 0 0.9 times.
const INTEGER_CHUNKS_512: usize = 1;
/// Below this many bytes the single-buffer [`crc32c`] leaves the work to the crate.
const FOLD_MIN_LEN: usize = 256;

/// `x^n mod P(x)` for `P = x^32 + poly`, bit `i` of the result the coefficient of `x^i`.
const fn xpow_mod(n: u32, poly: u32) -> u32 {
    let mut rem: u32 = 1;
    let mut i = 0;
    while i < n {
        let carry = rem & 0x8000_0000 != 0;
        rem <<= 1;
        if carry {
            rem ^= poly;
        }
        i += 1;
    }
    rem
}

/// A fold constant of the bit-reflected CRC: `x^n mod P`, reflected over 33 bits (the CRC
/// lives in the upper 32 bits of a reflected 64-bit product, hence the shift). Folding a
/// 128-bit lane forward by `D` bits multiplies its halves by `fold_key(D + 32)` (low) and
/// `fold_key(D - 32)` (high); the result is congruent to the lane modulo `P` once moved
/// `D` bits on, so the CRC of the message is unchanged.
const fn fold_key(n: u32, poly: u32) -> i64 {
    ((xpow_mod(n, poly).reverse_bits() as u64) << 1) as i64
}

/// Fold by 256 bits (a 256-bit accumulator over the next 32 bytes of its chunk).
const K256: (i64, i64) = (fold_key(256 + 32, POLY), fold_key(256 - 32, POLY));
/// Fold by 512 bits (a 512-bit accumulator over the next 64 bytes of its chunk).
const K512: (i64, i64) = (fold_key(512 + 32, POLY), fold_key(512 - 32, POLY));
/// Fold by 2048 bits.
const K2048: (i64, i64) = (fold_key(2048 + 32, POLY), fold_key(2048 - 32, POLY));
/// Fold by 1024 bits (8 lanes in 4 registers over the next 128 bytes of one buffer).
const K1024: (i64, i64) = (fold_key(1024 + 32, POLY), fold_key(1024 - 32, POLY));

/// Which implementation this CPU gets, in increasing order of what it needs: a kind is only
/// ever chosen when the CPU has every feature of it and of the kinds before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse42,
    #[cfg(target_arch = "x86_64")]
    Fold,
    #[cfg(target_arch = "x86_64")]
    Fold512,
}

/// The best kind the CPU supports.
fn detect() -> Kind {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("vpclmulqdq") && has!("sse4.1") && has!("sse4.2") {
            if has!("avx512f") && has!("avx512vl") {
                return Kind::Fold512;
            }
            return Kind::Fold;
        }
        if has!("sse4.2") {
            return Kind::Sse42;
        }
    }
    Kind::Portable
}

/// The kind in use: what the CPU supports, or less when the environment variable
/// `MARS_HOST_CRC32C` names a lesser one (`portable`, `sse4.2`, `avx2`; to measure or test
/// the fallbacks on a CPU that has more). Never more than the CPU supports: the `unsafe`
/// calls below rely on it. Decided once.
fn kind() -> Kind {
    static KIND: std::sync::OnceLock<Kind> = std::sync::OnceLock::new();
    *KIND.get_or_init(|| {
        let detected = detect();
        let wanted = match std::env::var("MARS_HOST_CRC32C").as_deref() {
            Ok("portable") => Kind::Portable,
            #[cfg(target_arch = "x86_64")]
            Ok("sse4.2") => Kind::Sse42,
            #[cfg(target_arch = "x86_64")]
            Ok("avx2") => Kind::Fold,
            _ => detected,
        };
        wanted.min(detected)
    })
}

/// The name of the implementation in use (for benchmarks and reports). The environment
/// variable `MARS_HOST_CRC32C` (`portable`, `sse4.2`, `avx2`) chooses a lesser one than the
/// CPU allows, to measure or test the fallbacks; it never chooses more.
pub fn implementation() -> &'static str {
    match kind() {
        Kind::Portable => "portable",
        #[cfg(target_arch = "x86_64")]
        Kind::Sse42 => "sse4.2",
        #[cfg(target_arch = "x86_64")]
        Kind::Fold => "sse4.2+avx2+vpclmulqdq",
        #[cfg(target_arch = "x86_64")]
        Kind::Fold512 => "sse4.2+avx512+vpclmulqdq",
    }
}

/// CRC32C of `data` (initial value `!0`, final inversion).
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= FOLD_MIN_LEN && kind() == Kind::Fold512 {
        // SAFETY: kind() found every feature one_512 enables; data holds at least
        // FOLD_MIN_LEN >= 64 bytes.
        return unsafe { x86::one_512(data) };
    }
    #[cfg(target_arch = "x86_64")]
    if data.len() >= FOLD_MIN_LEN && kind() == Kind::Fold {
        // SAFETY: kind() found every feature fold_one enables.
        return unsafe { x86::fold_one(data) };
    }
    ::crc32c::crc32c(data)
}

/// CRC32C of each of 8 chunks of any lengths.
pub fn crc32c_8(chunks: [&[u8]; 8]) -> [u32; 8] {
    match kind() {
        #[cfg(target_arch = "x86_64")]
        Kind::Fold512 if min_len(&chunks) >= FOLD512_MIN_CHUNK => {
            // SAFETY: kind() found every feature fold_8_512 enables; every chunk holds at
            // least FOLD512_MIN_CHUNK >= 64 bytes; without a copy, no destination is written.
            unsafe {
                x86::fold_8_512::<false, INTEGER_CHUNKS_512>(chunks, [core::ptr::null_mut(); 8])
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kind::Fold | Kind::Fold512 if min_len(&chunks) >= FOLD_MIN_CHUNK => {
            // SAFETY: kind() found every feature fold_8 enables; every chunk holds at least
            // FOLD_MIN_CHUNK >= 32 bytes; without a copy, no destination is written.
            unsafe { x86::fold_8::<false, INTEGER_CHUNKS>(chunks, [core::ptr::null_mut(); 8]) }
        }
        #[cfg(target_arch = "x86_64")]
        Kind::Fold | Kind::Fold512 | Kind::Sse42 => {
            // SAFETY: both kinds include SSE4.2.
            unsafe { x86::sse42_8(chunks) }
        }
        Kind::Portable => chunks.map(::crc32c::crc32c),
    }
}

/// The CRC32C of each of the 8 chunks of `data` that make a record's digest
/// (`mars_core::digest::split8`: `len / 8` bytes each, the last one takes the remainder).
/// `None` only if `split8` refuses `data` (it never does).
pub fn crc32c_split8(data: &[u8]) -> Option<[u32; 8]> {
    #[cfg(target_arch = "x86_64")]
    if kind() == Kind::Fold512 && data.len() / 8 >= FOLD512_MIN_CHUNK {
        // SAFETY: kind() found every feature chunkwise_512 enables; every chunk holds at least
        // 64 bytes; without a copy, the destination is not used.
        return Some(unsafe { x86::chunkwise_512::<false>(data, &mut []) });
    }
    #[cfg(target_arch = "x86_64")]
    if kind() == Kind::Fold && data.len() / 8 >= FOLD_MIN_CHUNK {
        // SAFETY: kind() found every feature chunkwise_256 enables; every chunk holds at least
        // FOLD_MIN_CHUNK >= 32 bytes; without a copy, the destination is not used.
        return Some(unsafe { x86::chunkwise_256::<false>(data, &mut []) });
    }
    mars_core::digest::split8(data).map(crc32c_8)
}

/// Copies `src` into `dst` and returns the CRC32C of each of the 8 chunks of `src` that make a
/// record's digest (`mars_core::digest::split8`: `len / 8` bytes each, the last one takes the
/// remainder), in one pass over memory where the CPU allows. `None` if the lengths differ
/// (then `dst` is left alone).
pub fn copy_crc32c_8(dst: &mut [u8], src: &[u8]) -> Option<[u32; 8]> {
    if dst.len() != src.len() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if kind() == Kind::Fold512 && src.len() / 8 >= FOLD512_MIN_CHUNK {
        // SAFETY: kind() found every feature chunkwise_512 enables; every chunk holds at least
        // 64 bytes; dst has src's length.
        return Some(unsafe { x86::chunkwise_512::<true>(src, dst) });
    }
    #[cfg(target_arch = "x86_64")]
    if kind() == Kind::Fold && src.len() / 8 >= FOLD_MIN_CHUNK {
        // SAFETY: kind() found every feature chunkwise_256 enables; every chunk holds at least
        // FOLD_MIN_CHUNK >= 32 bytes; dst has src's length.
        return Some(unsafe { x86::chunkwise_256::<true>(src, dst) });
    }
    let chunks = mars_core::digest::split8(src)?;
    #[cfg(target_arch = "x86_64")]
    if matches!(kind(), Kind::Fold | Kind::Fold512) && min_len(&chunks) >= FOLD_MIN_CHUNK {
        // Chunk k starts at k * (len / 8) in src, and so in dst.
        let chunk_len = src.len() / 8;
        let base = dst.as_mut_ptr();
        // wrapping_add: the offsets are within dst (7 * chunk_len < len), and the pointers
        // are only dereferenced inside fold_8, within each chunk's length.
        let dsts: [*mut u8; 8] = core::array::from_fn(|k| base.wrapping_add(k * chunk_len));
        // SAFETY: kind() found every feature fold_8 enables; every chunk holds at least 32
        // bytes; dsts[k] is valid for writes of chunks[k].len() bytes because dst has src's
        // length and chunk k lies at the same offset in both; dst is a unique borrow, so it
        // overlaps no chunk of src.
        return Some(unsafe { x86::fold_8::<true, INTEGER_CHUNKS_COPY>(chunks, dsts) });
    }
    dst.copy_from_slice(src);
    Some(crc32c_8(chunks))
}

fn min_len(chunks: &[&[u8]; 8]) -> usize {
    chunks.iter().map(|c| c.len()).min().unwrap_or(0)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The x86_64 kernels. Each is an `unsafe fn` because it needs the CPU features in its
    //! `#[target_feature]` list; the callers above check them with `kind()`.
    use super::{K1024, K2048, K256, K512};
    use std::arch::x86_64::*;

    /// CRC32C of 8 chunks, 4 at a time with the `crc32` instruction.
    ///
    /// # Safety
    /// The CPU supports SSE4.2.
    #[target_feature(enable = "sse4.2")]
    pub(super) unsafe fn sse42_8(chunks: [&[u8]; 8]) -> [u32; 8] {
        let [a, b, c, d, e, f, g, h] = chunks;
        let [c0, c1, c2, c3] = sse42_4([a, b, c, d]);
        let [c4, c5, c6, c7] = sse42_4([e, f, g, h]);
        [c0, c1, c2, c3, c4, c5, c6, c7]
    }

    /// Four streams at a time: enough to cover the instruction's latency, few enough that
    /// states and pointers stay in registers.
    #[target_feature(enable = "sse4.2")]
    fn sse42_4(chunks: [&[u8]; 4]) -> [u32; 4] {
        let common = chunks.iter().map(|c| c.len()).min().unwrap_or(0) / 8 * 8;
        let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or_default());
        let [a, b, c, d] = chunks.map(|x| x.get(..common).unwrap_or_default().chunks_exact(8));
        let (mut s0, mut s1, mut s2, mut s3) = (!0u64, !0u64, !0u64, !0u64);
        // Zipped ChunksExact iterators compile to a loop without bounds checks.
        for (((wa, wb), wc), wd) in a.zip(b).zip(c).zip(d) {
            s0 = _mm_crc32_u64(s0, word(wa));
            s1 = _mm_crc32_u64(s1, word(wb));
            s2 = _mm_crc32_u64(s2, word(wc));
            s3 = _mm_crc32_u64(s3, word(wd));
        }
        let mut out = [0u32; 4];
        for ((o, state), chunk) in out.iter_mut().zip([s0, s1, s2, s3]).zip(chunks) {
            *o = !crc_bytes(state, chunk.get(common..).unwrap_or_default());
        }
        out
    }

    /// CRC32C of 8 chunks, all advanced together 32 bytes at a time: chunks 0..INTEGER with
    /// the `crc32` instruction (integer unit), the others by VPCLMULQDQ folding (vector unit),
    /// in the same loop. With `COPY`, each chunk is also stored to `dst[k]` by the loads that
    /// checksum it.
    ///
    /// # Safety
    /// The CPU supports AVX2, VPCLMULQDQ, SSE4.1 and SSE4.2. Every chunk holds at least 32
    /// bytes. With `COPY`, `dst[k]` is valid for writes of `chunks[k].len()` bytes and
    /// overlaps no chunk; without it, `dst` is not used.
    #[target_feature(enable = "avx2,vpclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn fold_8<const COPY: bool, const INTEGER: usize>(
        chunks: [&[u8]; 8],
        dst: [*mut u8; 8],
    ) -> [u32; 8] {
        const { assert!(INTEGER <= 8) };
        let common = super::min_len(&chunks) / 32 * 32;
        let src = chunks.map(<[u8]>::as_ptr);
        let mut integer = [!0u64; 8];
        let state = &mut integer[..INTEGER];
        // The initial value !0 goes into the first 4 bytes of each folded chunk.
        let init = _mm256_castsi128_si256(_mm_cvtsi32_si128(-1));
        let mut folded = [_mm256_setzero_si256(); 8];
        let acc = &mut folded[..8 - INTEGER];
        for (j, acc) in acc.iter_mut().enumerate() {
            let k = INTEGER + j;
            // SAFETY: 32 <= common <= chunks[k].len() bytes are readable at src[k], and with
            // COPY writable at dst[k] (the caller's promise).
            unsafe {
                let v = _mm256_loadu_si256(src[k].cast());
                if COPY {
                    _mm256_storeu_si256(dst[k].cast(), v);
                }
                *acc = _mm256_xor_si256(v, init);
            }
        }
        let keys = _mm256_set_epi64x(K256.1, K256.0, K256.1, K256.0);
        let mut offset = 0;
        while offset < common {
            for (k, state) in state.iter_mut().enumerate() {
                // SAFETY: offset + 32 <= common <= chunks[k].len(), as above.
                unsafe {
                    let at = src[k].add(offset);
                    if COPY {
                        let v = _mm256_loadu_si256(at.cast());
                        _mm256_storeu_si256(dst[k].add(offset).cast(), v);
                    }
                    for word in 0..4 {
                        let word = at.add(8 * word).cast::<u64>().read_unaligned();
                        *state = _mm_crc32_u64(*state, word);
                    }
                }
            }
            // The first 32 bytes of the folded chunks are in acc already.
            if offset > 0 {
                for (j, acc) in acc.iter_mut().enumerate() {
                    let k = INTEGER + j;
                    // SAFETY: as above.
                    unsafe {
                        let v = _mm256_loadu_si256(src[k].add(offset).cast());
                        if COPY {
                            _mm256_storeu_si256(dst[k].add(offset).cast(), v);
                        }
                        *acc = fold256(*acc, v, keys);
                    }
                }
            }
            offset += 32;
        }
        let mut out = [0u32; 8];
        for (k, (out, chunk)) in out.iter_mut().zip(chunks).enumerate() {
            let rest = chunk.get(common..).unwrap_or_default();
            if COPY && !rest.is_empty() {
                // SAFETY: dst[k] is writable for chunk.len() = common + rest.len() bytes and
                // overlaps no chunk (the caller's promise).
                unsafe {
                    core::ptr::copy_nonoverlapping(rest.as_ptr(), dst[k].add(common), rest.len())
                };
            }
            // A folded chunk's 32 bytes of accumulator are a message with the CRC of the
            // chunk so far (the initial value is in it already): the crc32 instruction
            // reduces them, from a zero state.
            let state = match (state.get(k), acc.get(k.wrapping_sub(INTEGER))) {
                (Some(&state), _) => state,
                (None, Some(&acc)) => crc_block(0, acc),
                (None, None) => 0,
            };
            *out = !crc_bytes(state, rest);
        }
        out
    }

    /// [`fold_8`] with AVX-512: each folded chunk has a 512-bit accumulator and advances 64
    /// bytes per step (one VPCLMULQDQ on a zmm register costs about what one on a ymm
    /// register does on AMD Zen 4, so this halves the vector unit's work per byte), and the
    /// three-way XOR of a fold is one `vpternlogq`. At the end a 512-bit accumulator is folded
    /// into 256 bits and reduced by the `crc32` instruction like [`fold_8`]'s.
    ///
    /// # Safety
    /// The CPU supports AVX-512F, AVX-512VL, AVX2, VPCLMULQDQ, SSE4.1 and SSE4.2. Every chunk
    /// holds at least 64 bytes. With `COPY`, `dst[k]` is valid for writes of
    /// `chunks[k].len()` bytes and overlaps no chunk; without it, `dst` is not used.
    #[target_feature(enable = "avx512f,avx512vl,avx2,vpclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn fold_8_512<const COPY: bool, const INTEGER: usize>(
        chunks: [&[u8]; 8],
        dst: [*mut u8; 8],
    ) -> [u32; 8] {
        const { assert!(INTEGER <= 8) };
        let common = super::min_len(&chunks) / 64 * 64;
        let src = chunks.map(<[u8]>::as_ptr);
        let mut integer = [!0u64; 8];
        let state = &mut integer[..INTEGER];
        // The initial value !0 goes into the first 4 bytes of each folded chunk.
        let init = _mm512_castsi128_si512(_mm_cvtsi32_si128(-1));
        let mut folded = [_mm512_setzero_si512(); 8];
        let acc = &mut folded[..8 - INTEGER];
        for (j, acc) in acc.iter_mut().enumerate() {
            let k = INTEGER + j;
            // SAFETY: 64 <= common <= chunks[k].len() bytes are readable at src[k], and with
            // COPY writable at dst[k] (the caller's promise).
            unsafe {
                let v = _mm512_loadu_si512(src[k].cast());
                if COPY {
                    _mm512_storeu_si512(dst[k].cast(), v);
                }
                *acc = _mm512_xor_si512(v, init);
            }
        }
        let keys = _mm512_set_epi64(
            K512.1, K512.0, K512.1, K512.0, K512.1, K512.0, K512.1, K512.0,
        );
        let mut offset = 0;
        while offset < common {
            for (k, state) in state.iter_mut().enumerate() {
                // SAFETY: offset + 64 <= common <= chunks[k].len(), as above.
                unsafe {
                    let at = src[k].add(offset);
                    if COPY {
                        let v = _mm512_loadu_si512(at.cast());
                        _mm512_storeu_si512(dst[k].add(offset).cast(), v);
                    }
                    for word in 0..8 {
                        let word = at.add(8 * word).cast::<u64>().read_unaligned();
                        *state = _mm_crc32_u64(*state, word);
                    }
                }
            }
            // The first 64 bytes of the folded chunks are in acc already.
            if offset > 0 {
                for (j, acc) in acc.iter_mut().enumerate() {
                    let k = INTEGER + j;
                    // SAFETY: as above.
                    unsafe {
                        let v = _mm512_loadu_si512(src[k].add(offset).cast());
                        if COPY {
                            _mm512_storeu_si512(dst[k].add(offset).cast(), v);
                        }
                        *acc = fold512(*acc, v, keys);
                    }
                }
            }
            offset += 64;
        }
        let keys = _mm256_set_epi64x(K256.1, K256.0, K256.1, K256.0);
        let mut out = [0u32; 8];
        for (k, (out, chunk)) in out.iter_mut().zip(chunks).enumerate() {
            let rest = chunk.get(common..).unwrap_or_default();
            if COPY && !rest.is_empty() {
                // SAFETY: dst[k] is writable for chunk.len() = common + rest.len() bytes and
                // overlaps no chunk (the caller's promise).
                unsafe {
                    core::ptr::copy_nonoverlapping(rest.as_ptr(), dst[k].add(common), rest.len())
                };
            }
            // A folded chunk's 64 bytes of accumulator, its lower half folded onto its upper
            // half, are a message with the CRC of the chunk so far: the crc32 instruction
            // reduces them, from a zero state.
            let state = match (state.get(k), acc.get(k.wrapping_sub(INTEGER))) {
                (Some(&state), _) => state,
                (None, Some(&acc)) => {
                    let low = _mm512_castsi512_si256(acc);
                    let high = _mm512_extracti64x4_epi64::<1>(acc);
                    crc_block(0, fold256(low, high, keys))
                }
                (None, None) => 0,
            };
            *out = !crc_bytes(state, rest);
        }
        out
    }

    /// CRC32C of the 8 chunks of `data` as `mars_core::digest::split8` cuts it (`len / 8`
    /// bytes each, the last one takes the remainder), one chunk after the other, each with 4
    /// accumulators of 512 bits over consecutive 64-byte blocks, folded by 2048 bits per step
    /// and at the end into one another by 512: one stream through memory (two with `COPY`),
    /// which the hardware prefetchers follow, instead of 8 (16) at once. With `COPY`, `dst`
    /// receives a copy of `data`, stored by the loads that checksum it. In
    /// `scripts/bench-core.sh` this was 1.1 times as fast as advancing the 8 chunks together
    /// (as [`fold_8_512`] does) for the digest alone, and 1.28 times for the fused copy. The
    /// copy's stores stay in this function's loop on purpose: calling a per-chunk function
    /// with them let LLVM turn them into a `memcpy` and load every block twice, which halved
    /// the encoder's speed (the bench shows it: `memmove` in `BENCH_ONLY=encode`'s profile).
    ///
    /// # Safety
    /// The CPU supports AVX-512F, AVX-512VL, AVX2, VPCLMULQDQ, SSE4.1 and SSE4.2;
    /// `data.len() / 8 >= 64`. With `COPY`, `dst.len() == data.len()`; without it, `dst` is
    /// not used.
    #[target_feature(enable = "avx512f,avx512vl,avx2,vpclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn chunkwise_512<const COPY: bool>(data: &[u8], dst: &mut [u8]) -> [u32; 8] {
        let to = dst.as_mut_ptr();
        let len = data.len();
        let stride = len / 8;
        let init = _mm512_castsi128_si512(_mm_cvtsi32_si128(-1));
        let k2048 = _mm512_set_epi64(
            K2048.1, K2048.0, K2048.1, K2048.0, K2048.1, K2048.0, K2048.1, K2048.0,
        );
        let k512 = _mm512_set_epi64(
            K512.1, K512.0, K512.1, K512.0, K512.1, K512.0, K512.1, K512.0,
        );
        let k256 = _mm256_set_epi64x(K256.1, K256.0, K256.1, K256.0);
        let mut out = [0u32; 8];
        for (k, out) in out.iter_mut().enumerate() {
            let start = k * stride;
            let end = if k == 7 { len } else { start + stride };
            let chunk = data.get(start..end).unwrap_or_default();
            let groups = chunk.len() / 256 * 256;
            let blocks = chunk.len() / 64 * 64;
            let at = chunk.as_ptr();
            // SAFETY: every offset passed is at most blocks - 64, so the 64 bytes read lie
            // within the chunk, and with COPY the 64 bytes written within dst[start..end]
            // (dst has data's length).
            let load = |offset: usize| unsafe {
                let v = _mm512_loadu_si512(at.add(offset).cast());
                if COPY {
                    _mm512_storeu_si512(to.add(start + offset).cast(), v);
                }
                v
            };
            let mut offset;
            let mut acc;
            if groups > 0 {
                let mut a = [load(0), load(64), load(128), load(192)];
                // The initial value !0 goes into the first 4 bytes of the chunk.
                a[0] = _mm512_xor_si512(a[0], init);
                offset = 256;
                while offset < groups {
                    for (j, a) in a.iter_mut().enumerate() {
                        *a = fold512(*a, load(offset + 64 * j), k2048);
                    }
                    offset += 256;
                }
                acc = fold512(fold512(fold512(a[0], a[1], k512), a[2], k512), a[3], k512);
            } else {
                // 64 <= chunk.len() < 256, so blocks >= 64.
                acc = _mm512_xor_si512(load(0), init);
                offset = 64;
            }
            while offset < blocks {
                acc = fold512(acc, load(offset), k512);
                offset += 64;
            }
            // The accumulator, its lower half folded onto its upper half, is a message with
            // the CRC of the chunk so far.
            let low = _mm512_castsi512_si256(acc);
            let high = _mm512_extracti64x4_epi64::<1>(acc);
            let rest = chunk.get(blocks..).unwrap_or_default();
            if COPY && !rest.is_empty() {
                if let Some(to) = dst.get_mut(start + blocks..end) {
                    to.copy_from_slice(rest);
                }
            }
            *out = !crc_bytes(crc_block(0, fold256(low, high, k256)), rest);
        }
        out
    }

    /// CRC32C of one buffer, as [`chunkwise_512`] computes each chunk (the single-buffer
    /// [`super::crc32c`]): 4 accumulators of 512 bits over consecutive 64-byte blocks, folded
    /// by 2048 bits per step and at the end into one another by 512, the last 0..63 bytes with
    /// the `crc32` instruction.
    ///
    /// # Safety
    /// The CPU supports AVX-512F, AVX-512VL, AVX2, VPCLMULQDQ, SSE4.1 and SSE4.2;
    /// `data.len() >= 64`.
    #[target_feature(enable = "avx512f,avx512vl,avx2,vpclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn one_512(data: &[u8]) -> u32 {
        let init = _mm512_castsi128_si512(_mm_cvtsi32_si128(-1));
        let k2048 = _mm512_set_epi64(
            K2048.1, K2048.0, K2048.1, K2048.0, K2048.1, K2048.0, K2048.1, K2048.0,
        );
        let k512 = _mm512_set_epi64(
            K512.1, K512.0, K512.1, K512.0, K512.1, K512.0, K512.1, K512.0,
        );
        let k256 = _mm256_set_epi64x(K256.1, K256.0, K256.1, K256.0);
        let groups = data.len() / 256 * 256;
        let blocks = data.len() / 64 * 64;
        let at = data.as_ptr();
        // SAFETY: every offset passed is at most blocks - 64, so the 64 bytes read lie within
        // data.
        let load = |offset: usize| unsafe { _mm512_loadu_si512(at.add(offset).cast()) };
        let mut offset;
        let mut acc;
        if groups > 0 {
            let mut a = [load(0), load(64), load(128), load(192)];
            // The initial value !0 goes into the first 4 bytes.
            a[0] = _mm512_xor_si512(a[0], init);
            offset = 256;
            while offset < groups {
                for (j, a) in a.iter_mut().enumerate() {
                    *a = fold512(*a, load(offset + 64 * j), k2048);
                }
                offset += 256;
            }
            acc = fold512(fold512(fold512(a[0], a[1], k512), a[2], k512), a[3], k512);
        } else {
            // 64 <= data.len() < 256, so blocks >= 64.
            acc = _mm512_xor_si512(load(0), init);
            offset = 64;
        }
        while offset < blocks {
            acc = fold512(acc, load(offset), k512);
            offset += 64;
        }
        let rest = data.get(blocks..).unwrap_or_default();
        // The accumulator, its lower half folded onto its upper half, is a message with the
        // CRC of data so far.
        let low = _mm512_castsi512_si256(acc);
        let high = _mm512_extracti64x4_epi64::<1>(acc);
        !crc_bytes(crc_block(0, fold256(low, high, k256)), rest)
    }

    /// Each 128-bit lane of `acc` multiplied forward by the distance of `keys`, plus `next`.
    #[inline]
    #[target_feature(enable = "avx512f,vpclmulqdq")]
    fn fold512(acc: __m512i, next: __m512i, keys: __m512i) -> __m512i {
        let low = _mm512_clmulepi64_epi128::<0x00>(acc, keys);
        let high = _mm512_clmulepi64_epi128::<0x11>(acc, keys);
        _mm512_ternarylogic_epi64::<0x96>(next, low, high)
    }

    /// [`chunkwise_512`] with AVX2 only: 4 accumulators of 256 bits per chunk over
    /// consecutive 32-byte blocks, folded by 1024 bits per step and at the end into one
    /// another by 256. Measured on the AMD Zen 4 of the development machine with the AVX-512
    /// path switched off (`MARS_HOST_CRC32C=avx2 scripts/bench-core.sh`): encode + checksum
    /// 0.59 of `memcpy` against 0.52-0.54 for [`fold_8`] (the 8 chunks together, 2 of them by
    /// the `crc32` instruction), scan + verify the same (0.60). A CPU without AVX-512 may
    /// weigh the two units differently.
    ///
    /// # Safety
    /// The CPU supports AVX2, VPCLMULQDQ, SSE4.1 and SSE4.2; `data.len() / 8 >= 32`. With
    /// `COPY`, `dst.len() == data.len()`; without it, `dst` is not used.
    #[target_feature(enable = "avx2,vpclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn chunkwise_256<const COPY: bool>(data: &[u8], dst: &mut [u8]) -> [u32; 8] {
        let to = dst.as_mut_ptr();
        let len = data.len();
        let stride = len / 8;
        let init = _mm256_castsi128_si256(_mm_cvtsi32_si128(-1));
        let k1024 = _mm256_set_epi64x(K1024.1, K1024.0, K1024.1, K1024.0);
        let k256 = _mm256_set_epi64x(K256.1, K256.0, K256.1, K256.0);
        let mut out = [0u32; 8];
        for (k, out) in out.iter_mut().enumerate() {
            let start = k * stride;
            let end = if k == 7 { len } else { start + stride };
            let chunk = data.get(start..end).unwrap_or_default();
            let groups = chunk.len() / 128 * 128;
            let blocks = chunk.len() / 32 * 32;
            let at = chunk.as_ptr();
            // SAFETY: every offset passed is at most blocks - 32, so the 32 bytes read lie
            // within the chunk, and with COPY the 32 bytes written within dst[start..end]
            // (dst has data's length).
            let load = |offset: usize| unsafe {
                let v = _mm256_loadu_si256(at.add(offset).cast());
                if COPY {
                    _mm256_storeu_si256(to.add(start + offset).cast(), v);
                }
                v
            };
            let mut offset;
            let mut acc;
            if groups > 0 {
                let mut a = [load(0), load(32), load(64), load(96)];
                // The initial value !0 goes into the first 4 bytes of the chunk.
                a[0] = _mm256_xor_si256(a[0], init);
                offset = 128;
                while offset < groups {
                    for (j, a) in a.iter_mut().enumerate() {
                        *a = fold256(*a, load(offset + 32 * j), k1024);
                    }
                    offset += 128;
                }
                acc = fold256(fold256(fold256(a[0], a[1], k256), a[2], k256), a[3], k256);
            } else {
                // 32 <= chunk.len() < 128, so blocks >= 32.
                acc = _mm256_xor_si256(load(0), init);
                offset = 32;
            }
            while offset < blocks {
                acc = fold256(acc, load(offset), k256);
                offset += 32;
            }
            let rest = chunk.get(blocks..).unwrap_or_default();
            if COPY && !rest.is_empty() {
                if let Some(to) = dst.get_mut(start + blocks..end) {
                    to.copy_from_slice(rest);
                }
            }
            // The accumulator is a message with the CRC of the chunk so far.
            *out = !crc_bytes(crc_block(0, acc), rest);
        }
        out
    }

    /// CRC32C of one buffer: 8 streams of 16 bytes in 4 registers, folded 128 bytes at a
    /// time; the last 0..128 bytes with the `crc32` instruction.
    ///
    /// # Safety
    /// The CPU supports AVX2, VPCLMULQDQ, SSE4.1 and SSE4.2.
    #[target_feature(enable = "avx2,vpclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn fold_one(data: &[u8]) -> u32 {
        let mut blocks = data.chunks_exact(128);
        let load = |block: &[u8], at: usize| {
            let bytes: &[u8; 32] = block
                .get(at..at + 32)
                .and_then(|b| b.try_into().ok())
                .unwrap_or(&[0; 32]);
            // SAFETY: bytes is 32 readable bytes; loadu needs no alignment.
            unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
        };
        let Some(first) = blocks.next() else {
            return ::crc32c::crc32c(data);
        };
        let init = _mm256_castsi128_si256(_mm_cvtsi32_si128(-1));
        let mut v = [0, 32, 64, 96].map(|at| load(first, at));
        v[0] = _mm256_xor_si256(v[0], init);
        let keys = _mm256_set_epi64x(K1024.1, K1024.0, K1024.1, K1024.0);
        for block in blocks.by_ref() {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = fold256(*acc, load(block, 32 * i), keys);
            }
        }
        // The 4 registers in increasing offset, each folded into the next by 256 bits; the
        // last one's 32 bytes are a message with the CRC of data so far.
        let keys = _mm256_set_epi64x(K256.1, K256.0, K256.1, K256.0);
        let [v0, v1, v2, v3] = v;
        let last = fold256(fold256(fold256(v0, v1, keys), v2, keys), v3, keys);
        !crc_bytes(crc_block(0, last), blocks.remainder())
    }

    /// Each 128-bit lane of `acc` multiplied forward by the distance of `keys`, plus `next`.
    #[inline]
    #[target_feature(enable = "avx2,vpclmulqdq")]
    fn fold256(acc: __m256i, next: __m256i, keys: __m256i) -> __m256i {
        let low = _mm256_clmulepi64_epi128::<0x00>(acc, keys);
        let high = _mm256_clmulepi64_epi128::<0x11>(acc, keys);
        _mm256_xor_si256(_mm256_xor_si256(next, low), high)
    }

    /// The `crc32` instruction's state after the 32 bytes of `block`, from `state`.
    #[inline]
    #[target_feature(enable = "avx2,sse4.1,sse4.2")]
    fn crc_block(state: u64, block: __m256i) -> u64 {
        let low = _mm256_castsi256_si128(block);
        let high = _mm256_extracti128_si256::<1>(block);
        let mut state = state;
        for word in [
            _mm_cvtsi128_si64(low),
            _mm_extract_epi64::<1>(low),
            _mm_cvtsi128_si64(high),
            _mm_extract_epi64::<1>(high),
        ] {
            state = _mm_crc32_u64(state, word as u64);
        }
        state
    }

    /// The `crc32` instruction's state after `bytes`, from `state`.
    #[target_feature(enable = "sse4.2")]
    fn crc_bytes(state: u64, bytes: &[u8]) -> u32 {
        let mut words = bytes.chunks_exact(8);
        let mut state = state;
        for word in words.by_ref() {
            state = _mm_crc32_u64(
                state,
                u64::from_le_bytes(word.try_into().unwrap_or_default()),
            );
        }
        let mut state = state as u32;
        for &byte in words.remainder() {
            state = _mm_crc32_u8(state, byte);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitwise CRC32C, the reference.
    fn reference(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// xorshift64*, so the test data is random but reproducible.
    fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed >> 12;
                seed ^= seed << 25;
                seed ^= seed >> 27;
                (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn the_generator_gives_the_published_crc32_constants() {
        // CRC32 (IEEE, 0x04c11db7): the constants of the Intel paper, as crc32fast and the
        // Linux kernel use them.
        const IEEE: u32 = 0x04c1_1db7;
        assert_eq!(fold_key(512 + 32, IEEE), 0x1_5444_2bd4);
        assert_eq!(fold_key(512 - 32, IEEE), 0x1_c6e4_1596);
        assert_eq!(fold_key(128 + 32, IEEE), 0x1_7519_97d0);
        assert_eq!(fold_key(128 - 32, IEEE), 0x0_ccaa_009e);
        assert_eq!(fold_key(1024 + 32, IEEE), 0x1_e88e_f372);
        assert_eq!(fold_key(1024 - 32, IEEE), 0x1_4a7f_e880);
        assert_eq!(POLY.reverse_bits(), 0x82f6_3b78);
    }

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(reference(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[]), 0);
    }

    #[test]
    fn single_buffer_matches_the_reference_at_every_length_and_alignment() {
        let data = random_bytes(4096 + 300, 1);
        for start in 0..16 {
            for len in (0..=4096 + 200).filter(|l| *l < 600 || l % 61 == 0 || *l >= 4090) {
                let slice = &data[start..start + len];
                assert_eq!(crc32c(slice), reference(slice), "start {start} len {len}");
            }
        }
    }

    #[test]
    fn eight_chunks_match_the_reference() {
        let data = random_bytes(5000 + 64, 2);
        for start in [0usize, 1, 3, 8, 17, 31] {
            for len in (0..=5000).filter(|l| *l < 1200 || l % 37 == 0 || (4088..=4104).contains(l))
            {
                let src = &data[start..start + len];
                let chunks = mars_core::digest::split8(src).unwrap();
                let want = chunks.map(reference);
                assert_eq!(crc32c_8(chunks), want, "start {start} len {len}");
                let mut dst = vec![0xa5u8; len + 64];
                for dst_start in [0usize, 5] {
                    dst.fill(0xa5);
                    let area = &mut dst[dst_start..dst_start + len];
                    assert_eq!(copy_crc32c_8(area, src), Some(want), "len {len}");
                    assert_eq!(&dst[dst_start..dst_start + len], src, "copy, len {len}");
                    assert!(dst[..dst_start].iter().all(|&b| b == 0xa5));
                    assert!(dst[dst_start + len..].iter().all(|&b| b == 0xa5));
                }
            }
        }
    }

    #[test]
    fn eight_unequal_chunks_match_the_reference() {
        let data = random_bytes(8 * 700, 3);
        let lens = [64usize, 700, 65, 96, 333, 128, 97, 640];
        let mut at = 0;
        let chunks: [&[u8]; 8] = core::array::from_fn(|k| {
            let c = &data[at..at + lens[k]];
            at += lens[k];
            c
        });
        assert_eq!(crc32c_8(chunks), chunks.map(reference));
    }

    #[test]
    fn copy_refuses_different_lengths() {
        let mut dst = [7u8; 10];
        assert_eq!(copy_crc32c_8(&mut dst, &[1; 11]), None);
        assert_eq!(dst, [7; 10]);
    }

    #[test]
    fn every_kernel_this_cpu_has_agrees() {
        let data = random_bytes(4096 + 7, 4);
        let chunks = mars_core::digest::split8(&data).unwrap();
        let want = chunks.map(reference);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("sse4.2") {
                // SAFETY: the CPU has SSE4.2.
                assert_eq!(unsafe { x86::sse42_8(chunks) }, want);
            }
            if matches!(kind(), Kind::Fold | Kind::Fold512) {
                // SAFETY: the CPU has the features; every chunk holds >= 32 bytes; no copy.
                let none = [core::ptr::null_mut(); 8];
                assert_eq!(unsafe { x86::fold_8::<false, 0>(chunks, none) }, want);
                assert_eq!(unsafe { x86::fold_8::<false, 3>(chunks, none) }, want);
                assert_eq!(unsafe { x86::fold_8::<false, 8>(chunks, none) }, want);
            }
            if kind() == Kind::Fold512 {
                let none = [core::ptr::null_mut(); 8];
                // SAFETY: the CPU has the features; every chunk holds >= 64 bytes; no copy.
                unsafe {
                    assert_eq!(x86::fold_8_512::<false, 0>(chunks, none), want);
                    assert_eq!(x86::fold_8_512::<false, 3>(chunks, none), want);
                    assert_eq!(x86::fold_8_512::<false, 8>(chunks, none), want);
                }
                for integer in [0, 3] {
                    let mut dst = vec![0u8; data.len()];
                    let base = dst.as_mut_ptr();
                    let dsts: [*mut u8; 8] =
                        core::array::from_fn(|k| base.wrapping_add(k * (data.len() / 8)));
                    // SAFETY: as above; dsts[k] is writable for chunks[k].len() bytes (chunk k
                    // lies at the same offset in dst as in data) and overlaps no chunk.
                    let got = unsafe {
                        match integer {
                            0 => x86::fold_8_512::<true, 0>(chunks, dsts),
                            _ => x86::fold_8_512::<true, 3>(chunks, dsts),
                        }
                    };
                    assert_eq!(got, want);
                    assert_eq!(dst, data);
                }
                // The chunks of `data`: 4103 bytes, 512 each, the last 519.
                let mut dst = vec![0u8; data.len()];
                // SAFETY: the CPU has the features; every chunk holds >= 64 bytes; dst has
                // data's length.
                unsafe {
                    assert_eq!(x86::chunkwise_512::<false>(&data, &mut []), want);
                    assert_eq!(x86::chunkwise_512::<true>(&data, &mut dst), want);
                }
                assert_eq!(dst, data);
                for len in 0..=600 {
                    let data = &data[3..3 + len];
                    // SAFETY: the CPU has the features.
                    assert_eq!(unsafe { x86::fold_one(data) }, reference(data), "len {len}");
                }
                let mut dst = vec![0u8; data.len()];
                // SAFETY: the CPU has the features; every chunk holds >= 32 bytes; dst has
                // data's length.
                unsafe {
                    assert_eq!(x86::chunkwise_256::<false>(&data, &mut []), want);
                    assert_eq!(x86::chunkwise_256::<true>(&data, &mut dst), want);
                }
                assert_eq!(dst, data);
            }
            if kind() == Kind::Fold512 {
                for len in (64..=1100).chain([4000, 4098]) {
                    let data = &data[5..5 + len];
                    // SAFETY: the CPU has the features; len >= 64.
                    assert_eq!(unsafe { x86::one_512(data) }, reference(data), "len {len}");
                }
            }
        }
        assert_eq!(chunks.map(::crc32c::crc32c), want);
    }
}

/// A harness for tuning the AVX-512 kernels by hand: on `RECS` (default 256) records of 4 KiB,
/// copied into a log-like buffer at a few alignments, the 8 chunks advanced together
/// ([`x86::fold_8_512`], with 0 to 3 of them by the `crc32` instruction) and one after the
/// other ([`x86::chunkwise_512`]), with and without the copy, next to `memcpy`; best of many
/// passes, MB/s. Not a check (no assertion):
/// `cargo test --release -p mars-host --lib timing -- --ignored --nocapture`. It repeats one
/// pass over the same data, which stays warm, and so may misjudge what streams through
/// memory: an earlier version (with a strided kernel for the 8 chunks together, since
/// removed) put the chunkwise fused copy at 0.94 of it, `scripts/bench-core.sh` (the rows
/// taking turns) at 1.28. The bench decides.
#[cfg(all(test, target_arch = "x86_64"))]
mod timing {
    use super::*;
    use std::hint::black_box;
    use std::time::Instant;

    fn best(passes: usize, mut f: impl FnMut()) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..passes {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    }

    #[test]
    #[ignore]
    fn kernels() {
        if kind() != Kind::Fold512 {
            println!("no AVX-512 kernels on this CPU");
            return;
        }
        let recs: usize = std::env::var("RECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
            .max(1);
        let passes = (300 * 256 / recs).max(10);
        let srcs: Vec<Vec<u8>> = (0..recs)
            .map(|r| (0..4096).map(|i| (i * 7 + r) as u8).collect())
            .collect();
        let mut out = vec![0u8; recs * 4180 + 256];
        let mb = |t: f64| (recs * 4096) as f64 / t / 1e6;
        let base = out.as_ptr().align_offset(64);
        // (record stride, payload offset): 4180 and 48 as in a log of 4 KiB records.
        for (stride, off) in [(4160usize, 0usize), (4160, 48), (4180, 48)] {
            let at = |r: usize| base + off + r * stride;
            let t = best(passes, || {
                for (r, s) in srcs.iter().enumerate() {
                    out[at(r)..at(r) + 4096].copy_from_slice(black_box(s));
                }
                black_box(&out);
            });
            println!("stride {stride} +{off}: memcpy {:.0}", mb(t));
            macro_rules! row {
                ($what:expr, $copy:expr, $f:expr) => {{
                    let t = best(passes, || {
                        for (r, s) in srcs.iter().enumerate() {
                            let area = &mut out[at(r)..at(r) + 4096];
                            let (src, dst): (&[u8], &mut [u8]) =
                                if $copy { (s, area) } else { (area, &mut []) };
                            // SAFETY: the CPU has the features (kind()); 512-byte chunks;
                            // with a copy, dst has the source's length.
                            black_box(unsafe { $f(src, dst) });
                        }
                        black_box(&out);
                    });
                    let copy = if $copy {
                        "copy + digest"
                    } else {
                        "digest in place"
                    };
                    println!("stride {stride} +{off}: {copy}, {}: {:.0}", $what, mb(t));
                }};
            }
            macro_rules! together {
                ($copy:expr, $n:expr) => {
                    |src: &[u8], dst: &mut [u8]| {
                        let chunks = mars_core::digest::split8(src).unwrap_or_default();
                        let base = dst.as_mut_ptr();
                        let dsts: [*mut u8; 8] =
                            core::array::from_fn(|k| base.wrapping_add(k * (src.len() / 8)));
                        x86::fold_8_512::<$copy, $n>(chunks, dsts)
                    }
                };
            }
            row!("8 together, 0 crc32", false, together!(false, 0));
            row!("8 together, 1 crc32", false, together!(false, 1));
            row!("8 together, 2 crc32", false, together!(false, 2));
            row!("8 together, 3 crc32", false, together!(false, 3));
            row!("chunkwise", false, x86::chunkwise_512::<false>);
            row!("8 together, 0 crc32", true, together!(true, 0));
            row!("8 together, 2 crc32", true, together!(true, 2));
            row!("chunkwise", true, x86::chunkwise_512::<true>);
            macro_rules! together256 {
                ($copy:expr, $n:expr) => {
                    |src: &[u8], dst: &mut [u8]| {
                        let chunks = mars_core::digest::split8(src).unwrap_or_default();
                        let base = dst.as_mut_ptr();
                        let dsts: [*mut u8; 8] =
                            core::array::from_fn(|k| base.wrapping_add(k * (src.len() / 8)));
                        x86::fold_8::<$copy, $n>(chunks, dsts)
                    }
                };
            }
            row!("AVX2: 8 together, 4 crc32", false, together256!(false, 4));
            row!("AVX2: chunkwise", false, x86::chunkwise_256::<false>);
            row!("AVX2: 8 together, 2 crc32", true, together256!(true, 2));
            row!("AVX2: chunkwise", true, x86::chunkwise_256::<true>);
        }
    }
}
