// SPDX-License-Identifier: GPL-2.0
//! The cluster-wide feature settings in `/mars/defaults/` (the original's commands and links;
//! each value is the original's `0x%08x` of the mref flags). Every host's kernel reads them
//! each strategy round.
//!
//! * `set-global-enabled-log-compressions <features>`: `defaults/enabled-log-compressions`.
//!   Where `/proc/sys/mars/logger_allow_compress` is 1, the kernel compresses the records it
//!   logs from then on with the preferred algorithm of the list (LZO > LZ4 > zlib), keeping a
//!   record compressed only when that pays off; `actual-<host>/used-log-compression` shows what
//!   was used last. The features are the original's names (`COMPRESS_LZO`, `COMPRESS_LZ4`,
//!   `COMPRESS_ZLIB`) or numbers, separated by `|`; an empty list switches compression off.
//! * `set-global-enabled-net-compressions <features>`: `defaults/enabled-net-compressions`.
//!   Both ends of every new log fetch (port 7778) and sync (port 7779) connection offer the
//!   enabled compressions every member offers and agree on the intersection; the sender
//!   compresses each data frame with the first of LZO > LZ4 > zlib agreed, keeping it
//!   compressed only when that pays off; `actual-<host>/used-net-compression` shows what was
//!   used last. Same features and syntax as for logs.
//! * `set-global-disabled-log-digests <features>`: `defaults/disabled-log-digests`. The log
//!   writer takes the first of CRC32C, CRC32, MD5, SHA1 the whole cluster offers
//!   (`actual-<host>/usable`) that is not in the list; with all of them disabled, plain MD5
//!   (MD5_OLD), as the original. `actual-<host>/used-log-digest` shows what was used last.
//! * `set-global-disabled-net-digests <features>`: `defaults/disabled-net-digests`, the same
//!   for the block digests of fast full sync, negotiated per connection between the two
//!   ends; MD5_OLD cannot be disabled there. `actual-<host>/used-net-digest`.
//!
//! Digest lists take the names `CHKSUM_MD5_OLD`, `CHKSUM_MD5`, `CHKSUM_CRC32C`,
//! `CHKSUM_CRC32`, `CHKSUM_SHA1` only (the original: "Digest names must start with
//! 'CHKSUM_'"); an empty list disables none. Anything else is refused and nothing is written.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::compress::{parse_feature_value, parse_features, FeatureNames, FeatureValue};
use mars_core::digest::CrcFlags;

/// The link of the cluster-wide log compression.
pub(crate) const ENABLED_LOG_COMPRESSIONS: &str = "defaults/enabled-log-compressions";
/// The link of the cluster-wide network compression (log fetch and sync data).
pub(crate) const ENABLED_NET_COMPRESSIONS: &str = "defaults/enabled-net-compressions";
/// The link of the digests disabled for logfiles.
pub(crate) const DISABLED_LOG_DIGESTS: &str = "defaults/disabled-log-digests";
/// The link of the digests disabled for comparisons over the network (fast full sync).
pub(crate) const DISABLED_NET_DIGESTS: &str = "defaults/disabled-net-digests";

/// Arguments of `set-global-enabled-{log,net}-compressions`.
#[derive(clap::Args, Clone)]
pub(crate) struct FeaturesArgs {
    /// `|`-separated list of COMPRESS_LZO, COMPRESS_LZ4, COMPRESS_ZLIB (or their numbers, e.g.
    /// 0x02000000); empty: no compression.
    features: String,
}

/// Arguments of `set-global-disabled-{log,net}-digests`.
#[derive(clap::Args, Clone)]
pub(crate) struct DigestsArgs {
    /// `|`-separated list of CHKSUM_CRC32C, CHKSUM_CRC32, CHKSUM_MD5, CHKSUM_SHA1,
    /// CHKSUM_MD5_OLD; empty: none disabled.
    features: String,
}

/// `set-global-enabled-log-compressions FEATURES`.
pub(crate) fn set_enabled_log_compressions(ctx: &Ctx, args: &FeaturesArgs) -> CmdResult {
    let flags = parse_features(&args.features, CrcFlags::COMPRESS_ANY)
        .map_err(|e| Fail::refused(format!("features '{}': {e}", args.features)))?;
    set_link(
        ctx,
        ENABLED_LOG_COMPRESSIONS,
        CrcFlags::COMPRESS_ANY,
        flags,
        "enabled log compressions",
    )
}

/// `set-global-enabled-net-compressions FEATURES`.
pub(crate) fn set_enabled_net_compressions(ctx: &Ctx, args: &FeaturesArgs) -> CmdResult {
    let flags = parse_features(&args.features, CrcFlags::COMPRESS_ANY)
        .map_err(|e| Fail::refused(format!("features '{}': {e}", args.features)))?;
    set_link(
        ctx,
        ENABLED_NET_COMPRESSIONS,
        CrcFlags::COMPRESS_ANY,
        flags,
        "enabled net compressions",
    )
}

/// `set-global-disabled-log-digests FEATURES`.
pub(crate) fn set_disabled_log_digests(ctx: &Ctx, args: &DigestsArgs) -> CmdResult {
    let flags = parse_digests(&args.features)?;
    if flags.contains(CrcFlags::DIGEST_ANY.difference(CrcFlags::MD5_OLD)) {
        println!(
            "note: every digest is disabled for logfiles: records carry plain MD5 (CHKSUM_MD5_OLD), as the original does"
        );
    }
    set_link(
        ctx,
        DISABLED_LOG_DIGESTS,
        CrcFlags::DIGEST_ANY,
        flags,
        "disabled log digests",
    )
}

/// `set-global-disabled-net-digests FEATURES`.
pub(crate) fn set_disabled_net_digests(ctx: &Ctx, args: &DigestsArgs) -> CmdResult {
    let flags = parse_digests(&args.features)?;
    if flags.contains(CrcFlags::MD5_OLD) {
        println!("note: CHKSUM_MD5_OLD always stays usable for the network, as in the original");
    }
    set_link(
        ctx,
        DISABLED_NET_DIGESTS,
        CrcFlags::DIGEST_ANY,
        flags,
        "disabled net digests",
    )
}

/// A digest list: `CHKSUM_*` names only, as the original's `txt2featuresflags` insists for
/// the digest commands (numbers are refused there too).
fn parse_digests(text: &str) -> Result<CrcFlags, Fail> {
    if let Some(item) = text
        .split('|')
        .map(str::trim)
        .find(|item| !item.is_empty() && !item.starts_with("CHKSUM_"))
    {
        return Err(Fail::refused(format!(
            "features '{text}': digest names must start with 'CHKSUM_' ('{item}')"
        )));
    }
    parse_features(text, CrcFlags::DIGEST_ANY)
        .map_err(|e| Fail::refused(format!("features '{text}': {e}")))
}

/// Writes the feature link `link` (bits of `kind`) as `flags`, unless it already says so.
fn set_link(ctx: &Ctx, link: &str, kind: CrcFlags, flags: CrcFlags, what: &str) -> CmdResult {
    if !ctx.tree.is_dir("defaults") {
        return Err(Fail::refused(format!(
            "directory {} does not exist (not a cluster member?)",
            ctx.tree.path("defaults").display()
        )));
    }
    let value = FeatureValue(flags).to_string();
    let current = ctx
        .tree
        .value(link)
        .and_then(|v| parse_feature_value(v.as_bytes(), kind));
    if current == Some(flags) {
        println!("{what} are already {}", FeatureNames(flags));
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.set_link(link, &value);
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!(
        "set {} to {value} ({})",
        ctx.tree.path(link).display(),
        FeatureNames(flags)
    );
    Ok(())
}
