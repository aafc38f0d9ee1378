// SPDX-License-Identifier: GPL-2.0
//! `set-global-enabled-log-compressions <features>`: the cluster-wide log compression, the
//! link `/mars/defaults/enabled-log-compressions` (the original's command and link; the value
//! is the original's `0x%08x` of the mref flags). Every host's kernel reads it each strategy
//! round and, where `/proc/sys/mars/logger_allow_compress` is 1, compresses the records it
//! logs from then on with the preferred algorithm of the list (LZO > LZ4 > zlib), keeping a
//! record compressed only when that pays off. `actual-<host>/used-log-compression` shows what
//! was used last. The features are the original's names (`COMPRESS_LZO`, `COMPRESS_LZ4`,
//! `COMPRESS_ZLIB`) or numbers, separated by `|`; an empty list switches compression off.
//! Anything else is refused and nothing is written.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::compress::{parse_feature_value, parse_features, FeatureNames, FeatureValue};
use mars_core::digest::CrcFlags;

/// The link of the cluster-wide log compression.
pub(crate) const ENABLED_LOG_COMPRESSIONS: &str = "defaults/enabled-log-compressions";

/// Arguments of `set-global-enabled-log-compressions`.
#[derive(clap::Args, Clone)]
pub(crate) struct FeaturesArgs {
    /// `|`-separated list of COMPRESS_LZO, COMPRESS_LZ4, COMPRESS_ZLIB (or their numbers, e.g.
    /// 0x02000000); empty: no compression.
    features: String,
}

/// `set-global-enabled-log-compressions FEATURES`.
pub(crate) fn set_enabled_log_compressions(ctx: &Ctx, args: &FeaturesArgs) -> CmdResult {
    let flags = parse_features(&args.features, CrcFlags::COMPRESS_ANY)
        .map_err(|e| Fail::refused(format!("features '{}': {e}", args.features)))?;
    if !ctx.tree.is_dir("defaults") {
        return Err(Fail::refused(format!(
            "directory {} does not exist (not a cluster member?)",
            ctx.tree.path("defaults").display()
        )));
    }
    let value = FeatureValue(flags).to_string();
    let current = ctx
        .tree
        .value(ENABLED_LOG_COMPRESSIONS)
        .and_then(|v| parse_feature_value(v.as_bytes(), CrcFlags::COMPRESS_ANY));
    if current == Some(flags) {
        println!(
            "enabled log compressions are already {}",
            FeatureNames(flags)
        );
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.set_link(ENABLED_LOG_COMPRESSIONS, &value);
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!(
        "set {} to {value} ({})",
        ctx.tree.path(ENABLED_LOG_COMPRESSIONS).display(),
        FeatureNames(flags)
    );
    Ok(())
}
