// SPDX-License-Identifier: GPL-2.0
//! Network compression of data frames (`LogData` on port 7778, `SyncData` on port 7779), the
//! original's `enabled_net_compressions` (issue 17; `Documentation/protocol.rst`, "Network
//! compression"; decisions in `mars_core::net_pack`).
//!
//! Each strategy round ([`strategy_round`]) reads the cluster-wide setting
//! `defaults/enabled-net-compressions` (marsadm `set-global-enabled-net-compressions`) and
//! publishes `actual-<host>/used-net-compression` (the algorithm of the last frame this host
//! sent compressed, as the original: the mref flag in decimal, 0 for none). Every handshake
//! offers the enabled compressions the whole cluster offers ([`offered`]); a connection keeps
//! what both ends agreed on. A server connection that agreed on a compression gets a
//! [`Packer`] (its own LZ4/LZO work memory, so servers do not take turns on the module's
//! locks; zlib goes through the module's compressor), a client connection an [`Unpacker`]
//! (one buffer of `MAX_DATA_CHUNK` for the decompressed data).

use core::cell::RefCell;
use core::fmt::Write;
use core::sync::atomic::{AtomicU16, Ordering};

use crate::compress;
use crate::kapi::lz4::{self, Lz4Workmem};
use crate::kapi::lzo::{self, LzoWorkmem};
use crate::mars_core::compress::{parse_feature_value, Compression, Compressor, FEATURE_SHIFT};
use crate::mars_core::digest::CrcFlags;
use crate::mars_core::net_pack::{compressions, features, pack, unpack, UnpackError};
use crate::mars_core::text::FixedBuf;
use crate::mars_core::wire::{
    LogData, Message, Packing, SyncData, FEATURE_COMPRESS_ANY, MAX_DATA_CHUNK,
};
use crate::tree::MarsTree;
use kernel::error::code::EINVAL;
use kernel::prelude::*;

use super::log_limit::LogLimit;

/// `defaults/enabled-net-compressions` as the last round read it.
static ENABLED_NET: AtomicU16 = AtomicU16::new(0);
/// The compression of the last frame sent compressed (flag bits; 0: none since load).
static USED_NET: AtomicU16 = AtomicU16::new(0);
/// Complaints about refused compressed frames: at most 5 lines per 10 s.
static REFUSAL_LOG: LogLimit = LogLimit::new("refused compressed frames", 5, 10);

/// The compression feature bits this host offers in a handshake: the cluster's setting,
/// restricted to what every member offers (`crate::digest::usable`).
pub(super) fn offered() -> u64 {
    let enabled = CrcFlags(ENABLED_NET.load(Ordering::Relaxed));
    features(
        enabled
            .intersection(CrcFlags::COMPRESS_ANY)
            .intersection(crate::digest::usable()),
    )
}

/// How long a client connection whose agreed compressions differ from what this host offers
/// now is kept before it reconnects: the other end may not have read a change of the setting
/// yet when the connection was made.
const REAGREE_MS: u64 = 10_000;

/// Whether a client connection should be made anew to agree on compression again: this host
/// offers other compressions now than in its handshake (the setting changed), or the
/// agreement differs from the offer and is older than [`REAGREE_MS`] (the server had not read
/// the setting yet; at most one reconnect per [`REAGREE_MS`] while it stays so).
pub(super) fn outdated(conn: &super::conn::Conn<'_>) -> bool {
    let now = offered();
    if now != conn.offered {
        return true;
    }
    let agreed = conn.features & FEATURE_COMPRESS_ANY;
    agreed != now && super::conn::monotonic_ms().saturating_sub(conn.agreed_ms) > REAGREE_MS
}

/// The compression the server of a connection that agreed `features` sends with, for the
/// log: `lz4`, ..., or `none`.
pub(super) fn agreed_name(features: u64) -> &'static str {
    Compression::select(compressions(features)).map_or("none", Compression::name)
}

/// Compression for one connection: LZ4 and LZO with work memory of its own, zlib through the
/// module's compressor.
struct ConnCompressor {
    lz4: RefCell<Option<Lz4Workmem>>,
    lzo: RefCell<Option<LzoWorkmem>>,
}

impl ConnCompressor {
    /// Work memory for the algorithms of `agreed` that compress here. May sleep.
    fn new(agreed: CrcFlags, compressing: bool) -> Result<Self> {
        let lz4 = if compressing && agreed.contains(CrcFlags::LZ4) {
            Some(Lz4Workmem::new(GFP_KERNEL)?)
        } else {
            None
        };
        let lzo = if compressing && agreed.contains(CrcFlags::LZO) {
            Some(LzoWorkmem::new(GFP_KERNEL)?)
        } else {
            None
        };
        Ok(ConnCompressor {
            lz4: RefCell::new(lz4),
            lzo: RefCell::new(lzo),
        })
    }
}

impl Compressor for ConnCompressor {
    fn available(&self) -> CrcFlags {
        CrcFlags::COMPRESS_ANY
    }

    fn compress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => self.lz4.try_borrow_mut().ok()?.as_mut()?.compress(src, dst),
            Compression::Lzo => self.lzo.try_borrow_mut().ok()?.as_mut()?.compress(src, dst),
            Compression::Zlib => compress::with_module(|c| c.compress(algo, src, dst)).flatten(),
        }
    }

    fn decompress(&self, algo: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
        match algo {
            Compression::Lz4 => lz4::decompress(src, dst),
            Compression::Lzo => lzo::decompress(src, dst),
            Compression::Zlib => compress::with_module(|c| c.decompress(algo, src, dst)).flatten(),
        }
    }
}

/// The sending side of a connection that agreed on a compression.
pub(super) struct Packer {
    agreed: CrcFlags,
    compressor: ConnCompressor,
    buf: KVVec<u8>,
}

impl Packer {
    /// A packer for the compressions in the agreed feature bits `agreed_features`, `None` when
    /// they name none. May sleep.
    pub(super) fn new(agreed_features: u64) -> Result<Option<KBox<Self>>> {
        let agreed = compressions(agreed_features);
        if agreed.is_empty() {
            return Ok(None);
        }
        Ok(Some(KBox::new(
            Packer {
                agreed,
                compressor: ConnCompressor::new(agreed, true)?,
                buf: KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL)?,
            },
            GFP_KERNEL,
        )?))
    }

    /// `message` with its data compressed, if it is a data frame and that pays off; `None`:
    /// send it as it is.
    pub(super) fn pack<'m>(&'m mut self, message: &Message<'m>) -> Option<Message<'m>> {
        let Packer {
            agreed,
            compressor,
            buf,
        } = self;
        let plain = match message {
            Message::LogData(m) if m.packing == Packing::Plain => m.data,
            Message::SyncData(m) if m.packing == Packing::Plain && !m.zero => m.data,
            _ => return None,
        };
        let (packing, n) = pack(compressor, *agreed, plain, buf.as_mut_slice())?;
        let data = buf.get(..n)?;
        if let Packing::Compressed { alg, .. } = packing {
            let bits = alg.flag().bits();
            if USED_NET.load(Ordering::Relaxed) != bits {
                USED_NET.store(bits, Ordering::Relaxed);
            }
        }
        match message {
            Message::LogData(m) => Some(Message::LogData(LogData {
                packing,
                data,
                ..*m
            })),
            Message::SyncData(m) => Some(Message::SyncData(SyncData {
                packing,
                data,
                ..*m
            })),
            _ => None,
        }
    }
}

/// The receiving side of a connection: decompresses data frames of an agreed compression.
pub(super) struct Unpacker {
    agreed: CrcFlags,
    compressor: ConnCompressor,
    buf: KVVec<u8>,
}

impl Unpacker {
    /// An unpacker for the compressions in the agreed feature bits `agreed_features`, `None`
    /// when they name none. May sleep.
    pub(super) fn new(agreed_features: u64) -> Result<Option<KBox<Self>>> {
        let agreed = compressions(agreed_features);
        if agreed.is_empty() {
            return Ok(None);
        }
        Ok(Some(KBox::new(
            Unpacker {
                agreed,
                compressor: ConnCompressor::new(agreed, false)?,
                buf: KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL)?,
            },
            GFP_KERNEL,
        )?))
    }
}

/// `message` with its data decompressed into `unpacker`'s buffer if it travelled compressed;
/// a compressed frame on a connection without `unpacker` (nothing agreed), with an algorithm
/// not agreed, or whose data do not decompress to exactly the announced length is refused
/// (with a rate-limited line in the kernel log).
pub(super) fn unpack_message<'a>(
    unpacker: Option<&'a mut Unpacker>,
    message: Message<'a>,
) -> core::result::Result<Message<'a>, UnpackError> {
    let (packing, data) = match &message {
        Message::LogData(m) => (m.packing, m.data),
        Message::SyncData(m) => (m.packing, m.data),
        _ => return Ok(message),
    };
    let Packing::Compressed { alg, .. } = packing else {
        return Ok(message);
    };
    let result = match unpacker {
        None => Err(UnpackError::NotAgreed(alg)),
        Some(u) => unpack(&u.compressor, u.agreed, packing, data, u.buf.as_mut_slice()),
    };
    let plain = match result {
        Ok(plain) => plain,
        Err(e) => {
            if REFUSAL_LOG.allow() {
                pr_warn!("net: refusing a frame from a peer: {}\n", e);
            }
            return Err(e);
        }
    };
    Ok(match message {
        Message::LogData(m) => Message::LogData(LogData {
            packing: Packing::Plain,
            data: plain,
            ..m
        }),
        Message::SyncData(m) => Message::SyncData(SyncData {
            packing: Packing::Plain,
            data: plain,
            ..m
        }),
        other => other,
    })
}

/// The strategy's part, once per round: reads `defaults/enabled-net-compressions` (a missing
/// or malformed link means none) and publishes `actual-<host>/used-net-compression`.
pub(crate) fn strategy_round(mars: &MarsTree, host: &[u8]) -> Result {
    let enabled = mars
        .value("defaults/enabled-net-compressions")
        .and_then(|value| parse_feature_value(&value, CrcFlags::COMPRESS_ANY))
        .unwrap_or(CrcFlags::NONE);
    let before = ENABLED_NET.swap(enabled.bits(), Ordering::Relaxed);
    if before != enabled.bits() {
        pr_info!("net compression: enabled {:#06x}\n", enabled.bits());
    }
    let used = u32::from(USED_NET.load(Ordering::Relaxed)) << FEATURE_SHIFT;
    let mut key = FixedBuf::<128>::new();
    write!(
        key,
        "actual-{}/used-net-compression",
        core::str::from_utf8(host).map_err(|_| EINVAL)?
    )
    .map_err(|_| EINVAL)?;
    let mut value = FixedBuf::<16>::new();
    write!(value, "{}", used).map_err(|_| EINVAL)?;
    mars.update(key.as_str(), value.as_bytes())
}
