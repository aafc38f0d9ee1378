// SPDX-License-Identifier: GPL-2.0
//! `marsadm cron`: one pass of the regular housekeeping (the original's `cron`, meant to run
//! every few minutes from a timer):
//!
//! 1. Garbage collection of tombstones (`link_purge_global`, `link_purge_res`): a deleted link
//!    is unlinked once every peer has seen the deletion (below), at the top level, one level
//!    below it and in every resource directory (two levels).
//! 2. For every resource this host is a member of: `log-rotate` where this host is the actual
//!    primary (a new logfile when the current one holds data; `--thresh-logfiles`,
//!    `--thresh-logsize`), then `log-delete` (the logfiles every member has replayed).
//!
//! When has every peer seen a tombstone? The peers pull this host's tree every
//! `scan_interval_sec` and at once when notified; each pull and each round advances their
//! Lamport clock, and their heartbeat `actual-<peer>/time` arrives here with it. A tombstone
//! stamped `T` counts as seen when `T` lies more than `--window` seconds before the oldest
//! heartbeat of every other member of the cluster (`ips/ip-<peer>`) known here: each peer has
//! done rounds for `--window` seconds after the deletion and pulled meanwhile. A peer silent
//! for more than `--keep-backup-hours` no longer holds the collection back (it would
//! otherwise keep every tombstone forever). Deleted member addresses (`ips/ip-<host>`) are
//! collected only after `--keep-backup-hours`. `--force` ignores the peers (dangerous: a
//! peer that has not seen the deletion brings the old value back).
//!
//! Collecting too early resurrects: a peer that still has the old value would hand it back,
//! since a missing key takes any value. A collected tombstone that a peer still has is
//! harmless: a tombstone for a key this host does not have is never created.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::Entry;
use mars_core::lamport::Stamp;
use mars_core::tree_value::is_tombstone;

/// Arguments of `cron`.
#[derive(clap::Args)]
pub(crate) struct CronArgs {
    /// Rotate only once the newest logfile reaches --thresh-logsize when at least this many
    /// logfiles exist.
    #[arg(long, default_value_t = 10, value_name = "NUMBER")]
    thresh_logfiles: usize,
    /// See --thresh-logfiles (in GB, 10^9 bytes).
    #[arg(long, default_value_t = 5, value_name = "GB")]
    thresh_logsize: u64,
    /// A peer silent for this long no longer keeps tombstones from being collected.
    #[arg(long, default_value_t = KEEP_BACKUP_HOURS, value_name = "HOURS")]
    keep_backup_hours: u64,
}

/// Hours after which a silent peer no longer keeps tombstones (`--keep-backup-hours`).
pub(crate) const KEEP_BACKUP_HOURS: u64 = 168;

/// The other members of the cluster (`ips/ip-<peer>`, not deleted).
fn peers(ctx: &Ctx) -> Vec<String> {
    ctx.tree
        .list("ips")
        .into_iter()
        .filter_map(|n| n.strip_prefix("ip-").map(str::to_string))
        .filter(|p| *p != ctx.host && ctx.tree.exists(&format!("ips/ip-{p}")))
        .collect()
}

/// The stamp before which a tombstone counts as seen by every peer (`_get_min_time`).
pub(crate) fn seen_before(ctx: &Ctx, now: Stamp, keep_backup_hours: u64) -> Stamp {
    let hours = i64::try_from(keep_backup_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    let window = i64::try_from(ctx.options.window).unwrap_or(i64::MAX);
    let mut min = now;
    if !ctx.options.force {
        for peer in peers(ctx) {
            let heartbeat = ctx
                .tree
                .link(&format!("actual-{peer}/time"))
                .map_or(Stamp::ZERO, |l| l.stamp);
            min = min.min(heartbeat);
        }
        min = min.max(now.add_sec(-hours));
    }
    min.add_sec(-window)
}

/// Unlinks the tombstones stamped before `limit` at `rel` and `depth - 1` levels below;
/// returns how many.
fn purge_dir(ctx: &Ctx, rel: &str, depth: u32, limit: Stamp, skip: &dyn Fn(&str) -> bool) -> usize {
    if depth == 0 {
        return 0;
    }
    let mut count = 0;
    for name in ctx.tree.list(rel) {
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if skip(&child) {
            continue;
        }
        match ctx.tree.entry(&child) {
            Entry::Dir => count += purge_dir(ctx, &child, depth - 1, limit, skip),
            Entry::Link(link) if is_tombstone(&link.value) && link.stamp < limit => {
                count += usize::from(unlink_tombstone(ctx, &child, link.stamp));
            }
            _ => {}
        }
    }
    count
}

/// Unlinks the tombstone at `rel` if it is still the one with `stamp`.
fn unlink_tombstone(ctx: &Ctx, rel: &str, stamp: Stamp) -> bool {
    let path = ctx.tree.path(rel);
    if ctx.options.dry_run {
        println!(
            "DRY_RUN: would unlink '{}' (deleted at {stamp})",
            path.display()
        );
        return true;
    }
    // The merge may have replaced it meanwhile.
    let still =
        matches!(ctx.tree.entry(rel), Entry::Link(l) if is_tombstone(&l.value) && l.stamp == stamp);
    if !still {
        return false;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {
            if ctx.options.verbose {
                println!("removed deleted '{}'", path.display());
            }
            true
        }
        Err(e) => {
            eprintln!("WARNING: cannot unlink '{}': {e}", path.display());
            false
        }
    }
}

/// Collects the tombstones every peer has seen; returns how many.
pub(crate) fn purge_links(ctx: &Ctx, keep_backup_hours: u64) -> Result<usize, Fail> {
    purge(ctx, keep_backup_hours, None)
}

/// As [`purge_links`], at the top of the tree and in the resource directory `dir` only
/// (`link-purge-all`).
pub(crate) fn purge_links_in(ctx: &Ctx, keep_backup_hours: u64, dir: &str) -> Result<usize, Fail> {
    purge(ctx, keep_backup_hours, Some(dir))
}

fn purge(ctx: &Ctx, keep_backup_hours: u64, only: Option<&str>) -> Result<usize, Fail> {
    let (now, _) = ctx.tree.lamport_now()?;
    let limit = seen_before(ctx, now, keep_backup_hours);
    let hours = i64::try_from(keep_backup_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    let ips_limit = now.add_sec(-hours);
    // Resource directories get two levels; addresses their own limit.
    let top_skip = |rel: &str| rel.starts_with("resource-") || rel.starts_with("ips/");
    let mut count = purge_dir(ctx, "", 2, limit, &top_skip);
    count += purge_dir(ctx, "ips", 1, ips_limit, &|_| false);
    for name in ctx.tree.list("") {
        if name.starts_with("resource-")
            && ctx.tree.is_dir(&name)
            && only.is_none_or(|dir| dir == name)
        {
            count += purge_dir(ctx, &name, 2, limit, &|_| false);
        }
    }
    Ok(count)
}

pub(crate) fn cron(ctx: &Ctx, args: &CronArgs) -> CmdResult {
    let host = ctx.host.as_str();
    let purged = purge_links(ctx, args.keep_backup_hours)?;
    println!("collected {purged} deleted link(s) every peer has seen");
    let mut failed = Vec::new();
    for name in ctx.tree.list("") {
        let Some(res) = name.strip_prefix("resource-") else {
            continue;
        };
        if !ctx.tree.is_dir(&name) || !ctx.tree.exists(&format!("{name}/data-{host}")) {
            continue;
        }
        println!("resource '{res}':");
        let result =
            crate::cmd_log::rotate(ctx, res, args.thresh_logfiles, args.thresh_logsize, true)
                .and_then(|()| crate::cmd_log::delete_logs(ctx, res));
        if let Err(fail) = result {
            for line in &fail.lines {
                eprintln!("marsadm cron: {res}: {line}");
            }
            failed.push(res.to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Fail::refused(format!(
            "housekeeping failed for: {}",
            failed.join(", ")
        )))
    }
}
