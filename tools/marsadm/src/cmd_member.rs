// SPDX-License-Identifier: GPL-2.0
//! Membership of a resource ends: `leave-resource`, `delete-resource`, and the cleanup both
//! share with `log-purge-all`.
//!
//! `marsadm leave-resource <res>` (the original's `leave_res_phase0..4`): this host stops being
//! a member. Refused unless this host is a member, neither the actual nor the designated
//! primary, every switch in `todo-<host>/` is off (`down`) and the kernel reports every
//! activity off (`actual-<host>/is-*` = 0, `open-count` = 0). Then one batch deletes
//! (tombstones, so the peers learn it when they pull):
//!
//! ```text
//! replay- data- device- syncstatus- syncpos- skip-check- verifystatus- actsize-
//! syncfrom- connect-<host>                       the host's keys
//! todo- actual- defaults- local-<host>/*           every link in the host's directories
//! version-N-<host>                                 unless a member still needs it (below)
//! log-N-<host>                                     idem, and not modified recently
//! ```
//!
//! and `systemd-want` = `(none)` when it names this host (a non-member cannot run the unit
//! stack); afterwards this host's fetched copies of other hosts' logfiles are unlinked locally
//! (they are never merged; a tombstone would delete the origin's file everywhere), and the
//! systemd units generated here for the resource are stopped and removed
//! (`cmd_systemd::forget_resource`).
//!
//! `marsadm delete-resource <res>` (dangerous; `delete_res_phase1`): once no host is a member
//! (`data-`, `device-` or `replay-<host>` of any host), tombstones every link and logfile of
//! the resource directory except `maxnr` (a later `create-resource` of the same name then
//! starts beyond the old logfile numbers). Every host then sees a resource without size,
//! members or switches: the kernel runs nothing for it, `view` no longer lists it.
//! `--force` deletes a resource that still has members (their kernels tear it down, except a
//! device that is open).
//!
//! `marsadm log-purge-all <res>` (dangerous; `log_purge_res`): deletes this host's logfiles
//! and version links that no member's history needs any more (left-overs of a split brain,
//! an invalidate or a leave); with `--force` those of other hosts too. What is needed:
//! the version links of a host that has a replay link, up to the logfile number that link
//! names (its history); every logfile such a version link or a replay link names; every logfile numbered above all replay links (the next ones); and the version
//! links of a logfile's origin for every needed logfile. Logfiles modified within twice
//! `--window` are kept unless `--force`, except an own logfile that has the number of another
//! host's needed logfile: the abandoned branch of a split brain, which nobody can replay.

use crate::cmd_switch::{indicator, ResArgs};
use crate::cmd_systemd;
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch, Entry};
use mars_core::tree::LogName;
use mars_core::tree_value::{is_tombstone, ReplayLink, VersionLink, NONE_VALUE};
use std::collections::BTreeSet;

/// The host keys `leave-resource` deletes (`<key>-<host>` in the resource directory).
const HOST_KEYS: [&str; 10] = [
    "replay",
    "data",
    "syncstatus",
    "syncpos",
    "skip-check",
    "verifystatus",
    "device",
    "actsize",
    "syncfrom",
    "connect",
];
/// The host directories `leave-resource` empties (`<dir>-<host>/`).
const HOST_DIRS: [&str; 4] = ["todo", "actual", "defaults", "local"];
/// Switches that are no on/off switch and do not need to be off before leaving.
const NOT_SWITCHES: [&str; 1] = ["emergency-limit"];

/// `version-NNNNNNNNN-<host>`: the number and the host.
pub(crate) fn parse_version_name(name: &str) -> Option<(u32, String)> {
    let rest = name.strip_prefix("version-")?;
    let log = format!("log-{rest}");
    let parsed = LogName::parse(&log).ok()?;
    Some((parsed.nr, parsed.origin.as_str().to_string()))
}

/// Hosts named by a `<prefix>-<host>` link that is not deleted.
fn hosts_with(ctx: &Ctx, dir: &str, prefix: &str) -> BTreeSet<String> {
    ctx.tree
        .list(dir)
        .into_iter()
        .filter_map(|n| n.strip_prefix(&format!("{prefix}-")).map(str::to_string))
        .filter(|h| mars_core::names::check_name(h).is_ok())
        .filter(|h| ctx.tree.exists(&format!("{dir}/{prefix}-{h}")))
        .collect()
}

/// Members and guests of a resource (`get_total_peers`): hosts with a data, device or replay
/// link.
pub(crate) fn total_peers(ctx: &Ctx, dir: &str) -> BTreeSet<String> {
    let mut hosts = hosts_with(ctx, dir, "data");
    hosts.extend(hosts_with(ctx, dir, "device"));
    hosts.extend(hosts_with(ctx, dir, "replay"));
    hosts
}

/// What a purge deletes: version links and logfiles, as names in the resource directory.
#[derive(Debug, Default)]
pub(crate) struct PurgePlan {
    /// Tombstoned.
    pub(crate) delete: Vec<String>,
    /// Logfiles kept because they are recent.
    pub(crate) recent: Vec<String>,
}

/// Plans `log-purge-all` for `dir` as if the hosts in `leaving` had no replay link any more.
/// `foreign`: also delete other hosts' objects (`--force`). `abandon_from` (`invalidate`):
/// this host's logfiles numbered from there on are an abandoned branch: deleted unless a
/// member's history needs them, however recent, and not kept as "next" logfiles.
pub(crate) fn purge_plan(
    ctx: &Ctx,
    dir: &str,
    leaving: &[&str],
    foreign: bool,
    abandon_from: Option<u32>,
) -> Result<PurgePlan, Fail> {
    let tree = &ctx.tree;
    let me = ctx.host.as_str();
    // Hosts with a replay link, and the logfile number it names.
    let mut starts: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    let mut needed_logs: BTreeSet<String> = BTreeSet::new();
    let mut max_start = 0u32;
    for host in hosts_with(ctx, dir, "replay") {
        if leaving.contains(&host.as_str()) {
            continue;
        }
        let value = tree
            .value(&format!("{dir}/replay-{host}"))
            .unwrap_or_default();
        let link = ReplayLink::parse(&value).map_err(|e| {
            Fail::refused(format!(
                "cannot use replay link 'replay-{host}' -> '{value}': {e}"
            ))
        })?;
        max_start = max_start.max(link.log.nr);
        needed_logs.insert(link.log.to_string());
        starts.insert(host, link.log.nr);
    }
    let names = tree.list(dir);
    let mut versions: Vec<(String, bool, String, Option<String>)> = Vec::new();
    for name in &names {
        let Some((nr, host)) = parse_version_name(name) else {
            continue;
        };
        let Some(value) = tree.value(&format!("{dir}/{name}")) else {
            continue;
        };
        let head = VersionLink::parse(&value)
            .ok()
            .map(|v| v.head.log.to_string());
        // A host's history: its version links up to its replay link (links beyond it are
        // left over from an earlier life, e.g. before an invalidate).
        let history = starts.get(&host).is_some_and(|&replay| nr <= replay);
        if history {
            if let Ok(link) = VersionLink::parse(&value) {
                needed_logs.insert(link.head.log.to_string());
                if let Some(prev) = link.prev {
                    needed_logs.insert(prev.log.to_string());
                }
            }
        }
        versions.push((name.clone(), history, host, head));
    }
    let mut plan = PurgePlan::default();
    for (name, history, host, head) in &versions {
        if *history {
            continue;
        }
        // The origin's own link of a logfile some member still needs (the switchover check
        // compares against it).
        let own_needed = head
            .as_deref()
            .is_some_and(|log| needed_logs.contains(log) && log.ends_with(&format!("-{host}")));
        if own_needed {
            continue;
        }
        if host == me || foreign {
            plan.delete.push(name.clone());
        }
    }
    for name in &names {
        let Ok(log) = LogName::parse(name) else {
            continue;
        };
        let Entry::File { stamp, .. } = tree.entry(&format!("{dir}/{name}")) else {
            continue;
        };
        if needed_logs.contains(name) {
            continue;
        }
        // An own logfile with the number of another origin's needed logfile is the other
        // branch of a split brain (a double logfile): nobody can ever replay it.
        let doubled = needed_logs
            .iter()
            .filter_map(|n| LogName::parse(n).ok())
            .any(|n| n.nr == log.nr && n.origin.as_str() != me);
        let abandoned = log.origin.as_str() == me
            && (doubled || abandon_from.is_some_and(|from| log.nr >= from));
        if !abandoned && !starts.is_empty() && log.nr > max_start {
            continue;
        }
        if log.origin.as_str() != me && !foreign {
            continue;
        }
        if !abandoned && ctx.is_recent(stamp) && !ctx.options.force {
            plan.recent.push(name.clone());
            continue;
        }
        plan.delete.push(name.clone());
    }
    Ok(plan)
}

/// Arguments of `log-purge-all`.
#[derive(clap::Args)]
pub(crate) struct PurgeArgs {
    /// The resource, a comma-separated list of resources, or `all` (every resource this host
    /// is member of).
    res: String,
}

impl PurgeArgs {
    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// These arguments for one resource of the list.
    pub(crate) fn for_res(&self, res: &str) -> PurgeArgs {
        PurgeArgs {
            res: res.to_string(),
        }
    }
}

pub(crate) fn log_purge_all(ctx: &Ctx, args: &PurgeArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.existing_res(res)?;
    if ctx.options.force {
        eprintln!("WARNING: DANGEROUS OPERATION: log-purge-all --force on resource '{res}' deletes other hosts' objects too");
    }
    if hosts_with(ctx, &dir, "replay").is_empty() {
        println!("resource '{res}' contains no replay link: there is nothing to purge");
        return Ok(());
    }
    let plan = purge_plan(ctx, &dir, &[], ctx.options.force, None)?;
    for name in &plan.recent {
        println!("skipping recent logfile '{name}' (see --window)");
    }
    if plan.delete.is_empty() {
        println!("nothing to purge in '{res}'");
        return Ok(());
    }
    let mut batch = Batch::new();
    for name in &plan.delete {
        batch.delete(&format!("{dir}/{name}"));
    }
    batch.add_trigger(trigger::TO_REMOTE);
    ctx.commit(batch)?;
    for name in &plan.delete {
        println!("deleted '{name}'");
    }
    Ok(())
}

/// Why this host cannot leave now: switches on, activities running.
fn leave_problems(ctx: &Ctx, dir: &str) -> Vec<String> {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let mut problems = Vec::new();
    let todo = format!("{dir}/todo-{host}");
    for name in tree.list(&todo) {
        if name.starts_with("delete") || NOT_SWITCHES.contains(&name.as_str()) {
            continue;
        }
        let on = tree
            .value(&format!("{todo}/{name}"))
            .is_some_and(|v| v.trim().parse::<i64>().unwrap_or(1) != 0);
        if on {
            problems.push(format!("switch 'todo-{host}/{name}' is not off"));
        }
    }
    let actual = format!("{dir}/actual-{host}");
    for name in tree.list(&actual) {
        if !(name.starts_with("is-")
            || name.starts_with("logfile-")
            || name == "if-on"
            || name == "open-count")
        {
            continue;
        }
        if indicator(tree, dir, host, &name) {
            problems.push(format!("running status 'actual-{host}/{name}' is not off"));
        }
    }
    problems
}

pub(crate) fn leave_resource(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.existing_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    ctx.check_mounted("modify any resource info")?;
    let member = tree.exists(&format!("{dir}/data-{host}"));
    let remains = HOST_KEYS
        .iter()
        .any(|k| tree.exists(&format!("{dir}/{k}-{host}")));
    if !member {
        if !remains {
            return Err(Fail::refused(format!(
                "host '{host}' is no member of resource '{res}': nothing to leave"
            )));
        }
        if !ctx.options.force {
            return Err(Fail::refused(format!(
                "host '{host}' is no member of resource '{res}' (no data-{host}), but links of it remain"
            ))
            .line(format!("use 'marsadm leave-resource --force {res}' to remove them")));
        }
    }
    if indicator(tree, &dir, host, "is-primary") || indicator(tree, &dir, host, "if-on") {
        let fail = Fail::refused(format!("operation 'leave-resource' cannot be executed on actual primary '{host}' of '{res}'"))
            .line("hand over first ('marsadm primary' on another member), or 'marsadm secondary' and 'marsadm down'");
        if !ctx.options.force {
            return Err(fail);
        }
        eprintln!(
            "WARNING: {} (continuing, THIS IS RISKY: --force)",
            fail.lines[0]
        );
    }
    if ctx.designated_primary(&dir).as_deref() == Some(host) {
        let fail = Fail::refused(format!("operation 'leave-resource' cannot be executed on designated primary '{host}' of '{res}'"))
            .line("first switch the designated primary ('marsadm primary' on another member, or 'marsadm secondary')");
        if !ctx.options.force {
            return Err(fail);
        }
        eprintln!("WARNING: {} (continuing anyway: --force)", fail.lines[0]);
    }
    let problems = leave_problems(ctx, &dir);
    if !problems.is_empty() {
        if !ctx.options.force {
            let mut fail =
                Fail::refused(format!("host '{host}' is still active in resource '{res}'"));
            for p in &problems {
                fail = fail.line(p.clone());
            }
            return Err(fail.line(format!(
                "run 'marsadm down {res}' first (and close /dev/mars/...)"
            )));
        }
        for p in &problems {
            eprintln!("WARNING: {p} (continuing: --force)");
        }
    }

    let plan = purge_plan(ctx, &dir, &[host], false, None)?;
    let mut batch = Batch::new();
    for key in HOST_KEYS {
        let rel = format!("{dir}/{key}-{host}");
        if tree.exists(&rel) {
            batch.delete(&rel);
        }
    }
    for sub in HOST_DIRS {
        let sub = format!("{dir}/{sub}-{host}");
        for name in tree.list(&sub) {
            let rel = format!("{sub}/{name}");
            if matches!(tree.entry(&rel), Entry::Link(l) if !is_tombstone(&l.value)) {
                batch.delete(&rel);
            }
        }
    }
    for name in &plan.delete {
        batch.delete(&format!("{dir}/{name}"));
    }
    for name in &plan.recent {
        println!(
            "keeping recent logfile '{name}' (see --window; 'marsadm log-purge-all {res}' later)"
        );
    }
    // Copies of other hosts' logfiles fetched here: nobody fetches them from this host.
    let copies: Vec<String> = tree
        .list(&dir)
        .into_iter()
        .filter(|n| LogName::parse(n).is_ok_and(|l| l.origin.as_str() != host))
        .filter(|n| matches!(tree.entry(&format!("{dir}/{n}")), Entry::File { .. }))
        .collect();
    // A host that is no member cannot run the unit stack (Documentation/systemd.rst).
    let want = format!("{dir}/systemd-want");
    let want_changes = tree.value(&want).as_deref() == Some(host);
    if want_changes {
        batch.set_link(&want, NONE_VALUE);
    }
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE_ALL);
    ctx.commit(batch)?;
    if want_changes {
        crate::systemd_trigger::touch(ctx, &dir);
    }
    cmd_systemd::forget_resource(ctx, &dir, res);
    for name in &copies {
        let path = tree.path(&format!("{dir}/{name}"));
        if ctx.options.dry_run {
            println!("DRY_RUN: would unlink the local copy '{}'", path.display());
        } else if let Err(e) = std::fs::remove_file(&path) {
            eprintln!(
                "WARNING: cannot unlink the local copy '{}': {e}",
                path.display()
            );
        } else if ctx.options.verbose {
            println!("unlinked the local copy '{}'", path.display());
        }
    }
    println!(
        "host '{host}' left resource '{res}'; the peers forget it when they pull the deletions"
    );
    Ok(())
}

pub(crate) fn delete_resource(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.existing_res(res)?;
    let tree = &ctx.tree;
    ctx.check_mounted("modify any resource info")?;
    let peers = total_peers(ctx, &dir);
    if !peers.is_empty() {
        let list: Vec<&str> = peers.iter().map(String::as_str).collect();
        let fail = Fail::refused(format!(
            "resource '{res}' is not empty: first remove the hosts '{}' via leave-resource",
            list.join(",")
        ));
        if !ctx.options.force {
            return Err(fail);
        }
        eprintln!(
            "WARNING: BRUTE FORCE resource destruction: '{res}' has {} members ({}): THESE ARE TRASHED right now",
            list.len(),
            list.join(",")
        );
    }
    let mut batch = Batch::new();
    let mut count = 0usize;
    let mut visit = |rel: &str, batch: &mut Batch| match tree.entry(rel) {
        Entry::Link(l) if !is_tombstone(&l.value) => {
            batch.delete(rel);
            count += 1;
        }
        Entry::File { .. } => {
            batch.delete(rel);
            count += 1;
        }
        _ => {}
    };
    for name in tree.list(&dir) {
        let rel = format!("{dir}/{name}");
        // `systemd-trigger` is a local file the path units watch, no key.
        if name == "maxnr" || name == "systemd-trigger" || name.starts_with(".deleted-") {
            continue;
        }
        if tree.is_dir(&rel) {
            for sub in tree.list(&rel) {
                visit(&format!("{rel}/{sub}"), &mut batch);
            }
        } else {
            visit(&rel, &mut batch);
        }
    }
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE_ALL);
    ctx.commit(batch)?;
    println!("deleted resource '{res}' ({count} entries); the peers delete it when they pull the deletions");
    Ok(())
}
