// SPDX-License-Identifier: GPL-2.0
//! The kernel's [`Digester`]: the hash functions the log format needs, from the kernel's lib/
//! and crypto API. Created at module load (allocating the crypto transforms may sleep); every
//! digest afterwards neither sleeps nor allocates, so the logger may call it in its IO path.
//!
//! | algorithm | backed by |
//! |---|---|
//! | CRC32C | lib `crc32c()` (libcrc32c; initial and final inversion added here) |
//! | CRC32  | lib `crc32_le(0, ..)`, which is what the crypto API's "crc32" computes |
//! | MD5    | crypto API "md5", `crypto_shash_tfm_digest` |
//! | SHA1   | crypto API "sha1", `crypto_shash_tfm_digest` |
//!
//! Digest choice (issue 17, the original's rules, Documentation/tree.rst, "Digest links"):
//! the module's digester is installed at load ([`install`]) for the log writers and fast full
//! sync. Each strategy round ([`strategy_round`]) reads the cluster-wide settings
//! `defaults/disabled-log-digests` and `defaults/disabled-net-digests` (marsadm
//! `set-global-disabled-{log,net}-digests`), computes the digests the whole cluster offers
//! (this host's, ANDed with every other member's `actual-<host>/features`) and publishes
//! `actual-<host>/features`, `usable`, `used-log-digest` and `used-net-digest` as the
//! original writes them.
//!
//! * A log record gets the first of CRC32C, CRC32, MD5, SHA1 that is usable and not disabled
//!   for logs; with none left, plain MD5 (MD5_OLD), as the original ([`log_digest`]).
//! * Fast full sync uses the digest both ends of a connection agreed on in the handshake:
//!   each announces what it offers minus what it has disabled for the network ([`net_features`],
//!   MD5_OLD never disabled), the server answers with the intersection, and the client asks for
//!   the first of CRC32C, CRC32, MD5, SHA1, MD5_OLD in it ([`net_digest`]).

use core::fmt::Write;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU16, Ordering};

use crate::kapi::crc::{crc32_le, crc32c};
use crate::kapi::crypto::Shash;
use crate::mars_core::compress::parse_feature_value;
use crate::mars_core::digest::{
    digest32, log_digests, mars_digest, net_digests, used_value, CrcFlags, DigestAlgo, Digester,
    FeaturesLink, DIGEST_SIZE, FEATURES_VERSION, STRATEGY_VERSION,
};
use crate::mars_core::names::is_valid_host_name;
use crate::mars_core::text::FixedBuf;
use crate::mars_core::wire::DigestAlg;
use crate::tree::MarsTree;
use kernel::c_str;
use kernel::error::code::{EINVAL, ENOENT};
use kernel::prelude::*;

/// Every digest of the log format the running kernel offers.
pub(crate) struct KernelDigester {
    md5: Option<Shash<16>>,
    sha1: Option<Shash<20>>,
}

impl KernelDigester {
    /// Looks up the crypto transforms. An algorithm the kernel lacks is left out (see
    /// [`Digester::available`]), as the original does. May sleep.
    pub(crate) fn new() -> Self {
        KernelDigester {
            md5: lookup(c_str!("md5")),
            sha1: lookup(c_str!("sha1")),
        }
    }
}

/// The transform for `name`, or `None` (with a note in the log) if the kernel lacks it.
fn lookup<const N: usize>(name: &CStr) -> Option<Shash<N>> {
    match Shash::new(name) {
        Ok(shash) => Some(shash),
        Err(err) => {
            pr_info!("digest {} unavailable: {:?}\n", name, err);
            None
        }
    }
}

impl Digester for KernelDigester {
    fn crc32c(&self, data: &[u8]) -> Option<u32> {
        Some(!crc32c(!0, data))
    }

    fn crc32(&self, data: &[u8]) -> Option<u32> {
        Some(crc32_le(0, data))
    }

    fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
        self.md5.as_ref()?.digest(data).ok()
    }

    fn sha1(&self, data: &[u8]) -> Option<[u8; 20]> {
        self.sha1.as_ref()?.digest(data).ok()
    }

    fn available(&self) -> CrcFlags {
        let mut mask = CrcFlags::CRC32C.union(CrcFlags::CRC32);
        if self.md5.is_some() {
            mask = mask.union(CrcFlags::MD5_OLD).union(CrcFlags::MD5);
        }
        if self.sha1.is_some() {
            mask = mask.union(CrcFlags::SHA1);
        }
        mask
    }
}

/// The module's digester while it is loaded (see [`install`]); null otherwise.
static MODULE_DIGESTER: AtomicPtr<KernelDigester> = AtomicPtr::new(ptr::null_mut());
/// The digests of the module's digester (set by [`install`]).
static AVAILABLE: AtomicU16 = AtomicU16::new(0);
/// The digest and compression bits the whole cluster offers, as the last round computed them
/// (this host's own until the first round).
static USABLE: AtomicU16 = AtomicU16::new(0);
/// `defaults/disabled-log-digests` as the last round read it.
static DISABLED_LOG: AtomicU16 = AtomicU16::new(0);
/// `defaults/disabled-net-digests` as the last round read it.
static DISABLED_NET: AtomicU16 = AtomicU16::new(0);
/// The digest of the last log record (flag bits; 0: none since load).
static USED_LOG: AtomicU16 = AtomicU16::new(0);
/// The digest of the last block digest of fast full sync (flag bits; 0: none since load).
static USED_NET: AtomicU16 = AtomicU16::new(0);
/// Most members whose `features` the usable mask takes into account.
const MAX_PEERS: usize = 1024;

/// Makes `digester` the one the log writers and fast full sync use, until the returned guard
/// is dropped.
///
/// The caller keeps `digester` alive and in place (boxed) for as long as the guard lives, and
/// drops the guard only when no log writer and no sync runs any more (the module's last
/// fields).
pub(crate) fn install(digester: &KBox<KernelDigester>) -> Installed {
    let raw: *const KernelDigester = &**digester;
    let available = digester.available().bits();
    AVAILABLE.store(available, Ordering::Relaxed);
    USABLE.store(available | CrcFlags::COMPRESS_ANY.bits(), Ordering::Relaxed);
    MODULE_DIGESTER.store(raw.cast_mut(), Ordering::Release);
    Installed
}

/// Clears the module's digester when dropped (see [`install`]).
pub(crate) struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        MODULE_DIGESTER.store(ptr::null_mut(), Ordering::Release);
    }
}

/// Calls `f` with the module's digester, or with the plain one (CRC32C, and MD5 through a
/// transform per call) while none is installed.
fn with_digester<R>(f: impl FnOnce(&dyn Digester) -> R) -> R {
    let raw = MODULE_DIGESTER.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was stored by `install` from the boxed digester the module
    // keeps until after every log writer and sync stopped, and is cleared before it goes away;
    // the reference does not leave this call.
    match unsafe { raw.as_ref() } {
        Some(digester) => f(digester),
        None => f(&crate::logger::links::KernelDigester),
    }
}

/// Notes `algo` in `used` (written only when it changes: the log writers call this for every
/// record).
fn note_used(used: &AtomicU16, algo: DigestAlgo) {
    let bits = algo.flag().bits();
    if used.load(Ordering::Relaxed) != bits {
        used.store(bits, Ordering::Relaxed);
    }
}

/// The digest and compression bits the whole cluster offers (the original's
/// `usable_digest_mask | usable_compression_mask`).
pub(crate) fn usable() -> CrcFlags {
    CrcFlags(USABLE.load(Ordering::Relaxed))
}

/// The digests log records may use now (empty: MD5_OLD only).
pub(crate) fn log_allowed() -> CrcFlags {
    log_digests(usable(), CrcFlags(DISABLED_LOG.load(Ordering::Relaxed)))
}

/// The digest of a log record's payload `data`, as the original's `mars_digest(usable &
/// ~disabled_log_digests)`: the first allowed algorithm that suits the data, else MD5_OLD.
/// Neither sleeps nor allocates once the module's digester is installed.
pub(crate) fn log_digest(data: &[u8]) -> Option<(DigestAlgo, [u8; DIGEST_SIZE])> {
    let allowed = log_allowed();
    let result = with_digester(|digester| mars_digest(allowed, data, digester))?;
    note_used(&USED_LOG, result.0);
    Some(result)
}

/// The digests this host offers for comparisons over the network, as handshake feature bits:
/// what it computes minus `defaults/disabled-net-digests` (MD5_OLD is never disabled).
pub(crate) fn net_features() -> u64 {
    let available = CrcFlags(AVAILABLE.load(Ordering::Relaxed));
    let disabled = CrcFlags(DISABLED_NET.load(Ordering::Relaxed));
    u64::from(net_digests(available, disabled).bits())
}

/// The 32-byte block digest of `data` with `alg` (fast full sync), `None` when this host
/// cannot compute it for `data` (MD5 of an odd length).
pub(crate) fn net_digest(alg: DigestAlg, data: &[u8]) -> Option<[u8; DIGEST_SIZE]> {
    let digest = with_digester(|digester| digest32(alg.algo(), data, digester))?;
    note_used(&USED_NET, alg.algo());
    Some(digest)
}

/// Formats `args` into a fixed buffer.
fn text<const N: usize>(args: core::fmt::Arguments<'_>) -> Result<FixedBuf<N>> {
    let mut buf = FixedBuf::<N>::new();
    buf.write_fmt(args).map_err(|_| EINVAL)?;
    Ok(buf)
}

/// Reads a `defaults/` digest mask (missing or malformed: none disabled).
fn read_mask(mars: &MarsTree, key: &str) -> CrcFlags {
    mars.value(key)
        .and_then(|value| parse_feature_value(&value, CrcFlags::DIGEST_ANY))
        .unwrap_or(CrcFlags::NONE)
}

/// The strategy's part, once per round: reads the disabled digests, computes what the cluster
/// offers from the members' `features` and publishes this host's `features`, `usable`,
/// `used-log-digest` and `used-net-digest`.
pub(crate) fn strategy_round(mars: &MarsTree, host: &[u8]) -> Result {
    let host_text = core::str::from_utf8(host).map_err(|_| EINVAL)?;
    let disabled_log = read_mask(mars, "defaults/disabled-log-digests");
    let disabled_net = read_mask(mars, "defaults/disabled-net-digests");
    let before_log = DISABLED_LOG.swap(disabled_log.bits(), Ordering::Relaxed);
    let before_net = DISABLED_NET.swap(disabled_net.bits(), Ordering::Relaxed);
    if before_log != disabled_log.bits() || before_net != disabled_net.bits() {
        pr_info!(
            "digests: disabled for logs {:#06x}, for the network {:#06x}\n",
            disabled_log.bits(),
            disabled_net.bits()
        );
    }

    // What the cluster offers: ours ANDed with every other member's `features` (a member that
    // has not published any yet does not count; an unreadable one offers MD5_OLD only).
    let own = CrcFlags(AVAILABLE.load(Ordering::Relaxed)).union(CrcFlags::COMPRESS_ANY);
    let mut usable_mask = own;
    let mut features_version = FEATURES_VERSION;
    let mut strategy_version = STRATEGY_VERSION;
    let listing = match mars.read_dir("ips", MAX_PEERS) {
        Ok(listing) => Some(listing),
        Err(e) if e == ENOENT => None,
        Err(e) => return Err(e),
    };
    for entry in listing.iter().flat_map(|l| l.entries.iter()) {
        let Some(peer) = entry.name.strip_prefix(b"ip-") else {
            continue;
        };
        if peer == host || !is_valid_host_name(peer) {
            continue;
        }
        let Ok(peer_text) = core::str::from_utf8(peer) else {
            continue;
        };
        let key = text::<160>(format_args!("actual-{}/features", peer_text))?;
        let Some(value) = mars.value(key.as_str()) else {
            continue;
        };
        usable_mask = usable_mask.intersection(FeaturesLink::peer_mask(&value));
        let (f, s) = FeaturesLink::parse(&value)
            .map_or((0, 0), |l| (l.features_version, l.strategy_version));
        features_version = features_version.min(f);
        strategy_version = strategy_version.min(s);
    }
    let before = USABLE.swap(usable_mask.bits(), Ordering::Relaxed);
    if before != usable_mask.bits() {
        pr_info!(
            "digests: usable in the cluster {:#06x}\n",
            usable_mask.bits()
        );
    }

    let features = FeaturesLink {
        features_version: FEATURES_VERSION,
        strategy_version: STRATEGY_VERSION,
        mask: own,
    };
    let usable_link = FeaturesLink {
        features_version,
        strategy_version,
        mask: usable_mask,
    };
    let flag = |used: &AtomicU16| {
        DigestAlgo::ALL
            .into_iter()
            .find(|a| a.flag().bits() == used.load(Ordering::Relaxed))
    };
    for (name, value) in [
        ("features", text::<48>(format_args!("{}", features))?),
        ("usable", text::<48>(format_args!("{}", usable_link))?),
        (
            "used-log-digest",
            text::<48>(format_args!("{}", used_value(flag(&USED_LOG))))?,
        ),
        (
            "used-net-digest",
            text::<48>(format_args!("{}", used_value(flag(&USED_NET))))?,
        ),
    ] {
        let key = text::<160>(format_args!("actual-{}/{}", host_text, name))?;
        mars.update(key.as_str(), value.as_bytes())?;
    }
    Ok(())
}
