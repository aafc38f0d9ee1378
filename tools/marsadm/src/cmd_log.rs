// SPDX-License-Identifier: GPL-2.0
//! `marsadm log-rotate <res>` and `marsadm log-delete <res>`: logfile housekeeping.
//!
//! `log-rotate` (on the actual primary): when this host's newest logfile `log-<n>-<host>` is
//! not empty, creates the empty `log-<n+1>-<host>` (the kernel's logger switches to it) and
//! sets `maxnr` to at least `n+1`. It does nothing when the newest logfile is empty or
//! `log-<n+1>-<host>` exists, and skips when `--thresh-logfiles` logfiles exist and the newest
//! is smaller than `--thresh-logsize` GB (secondaries not catching up). It refuses when the
//! newest logfile is older than twice `--window` and has no version link (an inconsistent
//! /mars), unless `--force`.
//!
//! `log-delete`: deletes (tombstones) the logfiles every member has replayed: those numbered
//! below the smallest logfile number of all `replay-*` links. Never the newest logfile, and
//! never one modified within twice `--window` unless `--force`. Also deletes version links
//! numbered below that number minus one, unless recent. Refused when a member (`data-<host>`)
//! has no replay link. Each host unlinks its copy when the tombstone arrives (the merge).
//!
//! Both also run from `cron` (`cmd_cron`), where a host that is not the actual primary skips
//! the rotation silently.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{Batch, Entry, MARSADM_FEATURE_VERSION};
use mars_core::tree::LogName;
use mars_core::tree_value::ReplayLink;

/// Arguments of `log-rotate`.
#[derive(clap::Args, Clone)]
pub(crate) struct LogRotateArgs {
    /// The resource, a comma-separated list of resources, or `all` (every resource this host
    /// is member of).
    res: String,
    /// With at least this many logfiles, rotate only once the newest reaches --thresh-logsize.
    #[arg(long, default_value_t = 10, value_name = "NUMBER")]
    thresh_logfiles: usize,
    /// See --thresh-logfiles (in GB, 10^9 bytes).
    #[arg(long, default_value_t = 5, value_name = "GB")]
    thresh_logsize: u64,
}

impl LogRotateArgs {
    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// These arguments for one resource of the list.
    pub(crate) fn for_res(&self, res: &str) -> LogRotateArgs {
        LogRotateArgs {
            res: res.to_string(),
            ..self.clone()
        }
    }
}

/// A logfile in a resource directory.
struct Logfile {
    name: String,
    nr: u32,
    len: u64,
    stamp: mars_core::lamport::Stamp,
}

/// The logfiles of `dir` (of every origin, or of `origin` only), ascending by number.
fn logfiles(ctx: &Ctx, dir: &str, origin: Option<&str>) -> Vec<Logfile> {
    let mut logs: Vec<Logfile> = ctx
        .tree
        .list(dir)
        .into_iter()
        .filter_map(|name| {
            let parsed = LogName::parse(&name).ok()?;
            if origin.is_some_and(|o| parsed.origin.as_str() != o) {
                return None;
            }
            let nr = parsed.nr;
            match ctx.tree.entry(&format!("{dir}/{name}")) {
                Entry::File { len, stamp } => Some(Logfile {
                    name,
                    nr,
                    len,
                    stamp,
                }),
                _ => None,
            }
        })
        .collect();
    logs.sort_by(|a, b| (a.nr, &a.name).cmp(&(b.nr, &b.name)));
    logs
}

/// Whether the logfile at `path` (`len` bytes) holds no record yet: it is empty, or it starts
/// with zeros where its first record's start magic would be (a running logger writes zeros
/// ahead of its records, so the logfile it has just started is zeros only). A logfile that
/// cannot be read counts as holding records (nothing is skipped on a guess).
fn holds_no_record(path: &std::path::Path, len: u64) -> bool {
    use std::io::Read;
    if len == 0 {
        return true;
    }
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == [0u8; 8])
}

pub(crate) fn log_rotate(ctx: &Ctx, args: &LogRotateArgs) -> CmdResult {
    rotate(
        ctx,
        &args.res,
        args.thresh_logfiles,
        args.thresh_logsize,
        false,
    )
}

/// `log-rotate`; from `cron` (`cron`: true) a host that is not the actual primary has
/// nothing to do and is not told so.
pub(crate) fn rotate(
    ctx: &Ctx,
    res: &str,
    thresh_logfiles: usize,
    thresh_logsize: u64,
    cron: bool,
) -> CmdResult {
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let is_primary = crate::cmd_switch::indicator(tree, &dir, host, "is-primary")
        || crate::cmd_switch::indicator(tree, &dir, host, "if-on");
    if !is_primary && cron {
        return Ok(());
    }
    if !is_primary && !ctx.options.force {
        return Err(Fail::refused(format!(
            "For operation 'log-rotate' I need to be the actual primary of '{res}'"
        ))
        .line(format!(
            "actual-{host}/is-primary is not 1: the kernel does not run '{res}' as primary here"
        )));
    }
    let mut batch = Batch::new();
    // Reports up- and downgrades of marsadm to the kernel.
    let version = format!("actual-{host}/marsadm-version");
    if tree.is_dir(&format!("actual-{host}"))
        && tree.value(&version).as_deref() != Some(MARSADM_FEATURE_VERSION)
    {
        batch.set_link(&version, MARSADM_FEATURE_VERSION);
    }
    let logs = logfiles(ctx, &dir, Some(host));
    let Some(last) = logs.last() else {
        println!("nothing to log-rotate: no old logfiles for '{host}' exist.");
        return ctx.commit(batch);
    };
    if holds_no_record(&ctx.tree.path(&format!("{dir}/{}", last.name)), last.len) {
        println!(
            "an empty logfile '{}' already exists, nothing to do.",
            last.name
        );
        return ctx.commit(batch);
    }
    if logs.len() > thresh_logfiles && last.len < thresh_logsize.saturating_mul(1_000_000_000) {
        println!(
            "current logfile '{}' is smaller than {} GB and {} logfiles exist, skipping log-rotate.",
            last.name,
            thresh_logsize,
            logs.len()
        );
        return ctx.commit(batch);
    }
    let next_nr = last
        .nr
        .checked_add(1)
        .ok_or_else(|| Fail::refused("logfile numbers are exhausted"))?;
    let origin = mars_core::names::HostName::parse(host)
        .map_err(|e| Fail::refused(format!("host name '{host}': {e}")))?;
    let next = LogName {
        nr: next_nr,
        origin,
    }
    .to_string();
    if tree.exists(&format!("{dir}/{next}")) {
        println!("logfile '{next}' already exists - nothing to do");
        return ctx.commit(batch);
    }
    // Safeguard a defective /mars: an older logfile must have its version link.
    let version_link = format!("{dir}/version-{:09}-{host}", last.nr);
    if !ctx.is_recent(last.stamp) && tree.value(&version_link).is_none() {
        let fail = Fail::refused(format!(
            "logfile '{}' has no corresponding versionlink '{version_link}'",
            last.name
        ))
        .line("do not logrotate on inconsistent /mars filesystem")
        .line("please CHECK and REPAIR your /mars filesystem by hand - is there a readonly mount?");
        if !ctx.options.force {
            return Err(fail);
        }
        eprintln!(
            "WARNING: {} (continuing AT YOUR RISK because you said --force)",
            fail.lines[0]
        );
    }
    batch.create_file(&format!("{dir}/{next}"));
    let maxnr = tree
        .value(&format!("{dir}/maxnr"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    batch.set_link(&format!("{dir}/maxnr"), &maxnr.max(next_nr).to_string());
    ctx.commit(batch)?;
    println!("created new logfile '{next}'");
    Ok(())
}

pub(crate) fn log_delete(ctx: &Ctx, args: &crate::cmd_switch::ResArgs) -> CmdResult {
    delete_logs(ctx, &args.res)
}

/// `log-delete-one`: as `log-delete`, but at most the oldest deletable logfile.
pub(crate) fn log_delete_one(ctx: &Ctx, args: &crate::cmd_switch::ResArgs) -> CmdResult {
    delete_logs_limited(ctx, &args.res, true)
}

/// `log-delete` of one resource.
pub(crate) fn delete_logs(ctx: &Ctx, res: &str) -> CmdResult {
    delete_logs_limited(ctx, res, false)
}

/// `log-delete` of one resource; with `only_one` at most one logfile (and the version links
/// below it).
fn delete_logs_limited(ctx: &Ctx, res: &str, only_one: bool) -> CmdResult {
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    // Race prevention as in the original: the replay links first, then the logfiles.
    let mut min_replayed: Option<u32> = None;
    for name in tree
        .list(&dir)
        .into_iter()
        .filter(|n| n.starts_with("replay-"))
    {
        let Some(value) = tree.value(&format!("{dir}/{name}")) else {
            continue;
        };
        let link = ReplayLink::parse(&value).map_err(|e| {
            Fail::refused(format!("cannot use replay link '{name}' -> '{value}': {e}"))
        })?;
        min_replayed = Some(min_replayed.map_or(link.log.nr, |m| m.min(link.log.nr)));
    }
    let min_replayed = min_replayed
        .ok_or_else(|| Fail::refused(format!("cannot find any replay symlinks in '{res}'")))?;
    // A member without a replay link may still need anything.
    for member in tree
        .list(&dir)
        .iter()
        .filter_map(|n| n.strip_prefix("data-"))
    {
        if tree.exists(&format!("{dir}/data-{member}"))
            && !tree.exists(&format!("{dir}/replay-{member}"))
        {
            return Err(Fail::refused(format!(
                "member '{member}' of '{res}' has no replay link: cannot tell which logfiles it still needs"
            )));
        }
    }
    let logs = logfiles(ctx, &dir, None);
    let Some(newest) = logs.last() else {
        return Err(Fail::refused(format!(
            "cannot find any logfiles in '{res}'"
        )));
    };
    // Logfiles below this number are replayed everywhere.
    let mut first_kept = newest.nr.min(min_replayed);
    let mut batch = Batch::new();
    let mut deleted = Vec::new();
    for log in logs.iter().take(logs.len().saturating_sub(1)) {
        if log.nr >= first_kept {
            break;
        }
        if !ctx.options.force && ctx.is_recent(log.stamp) {
            println!(
                "logfile '{}' is too recent for deletion (see --window)",
                log.name
            );
            break;
        }
        batch.delete(&format!("{dir}/{}", log.name));
        deleted.push(log.name.clone());
        if only_one {
            // The version links up to this logfile's go with it, no further.
            first_kept = log.nr.saturating_add(1);
            break;
        }
    }
    // One more version link than logfiles stays, for the consistency checks.
    let mut versions: Vec<(u32, String)> = tree
        .list(&dir)
        .into_iter()
        .filter_map(|name| {
            let tail = name.strip_prefix("version-")?;
            let nr = tail.split('-').next()?.parse::<u32>().ok()?;
            tree.exists(&format!("{dir}/{name}")).then_some((nr, name))
        })
        .collect();
    versions.sort();
    for (nr, name) in versions {
        if i64::from(nr) >= i64::from(first_kept) - 1 {
            break;
        }
        let rel = format!("{dir}/{name}");
        if tree.link(&rel).is_some_and(|l| ctx.is_recent(l.stamp)) {
            break;
        }
        batch.delete(&rel);
        deleted.push(name);
    }
    if deleted.is_empty() {
        println!(
            "no logfiles are deletable (every member still needs logfile {first_kept} or later)."
        );
        return Ok(());
    }
    ctx.commit(batch)?;
    for name in deleted {
        println!("deleted '{name}'");
    }
    Ok(())
}
