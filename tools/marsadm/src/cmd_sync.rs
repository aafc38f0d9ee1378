// SPDX-License-Identifier: GPL-2.0
//! Full sync commands: `invalidate`, `pause-sync`, `resume-sync`.
//!
//! | command       | writes                                                        | waits for |
//! |---------------|---------------------------------------------------------------|-----------|
//! | `pause-sync`  | `todo-<host>/sync` 0                                          | `actual-<host>/is-syncing` 0 |
//! | `resume-sync` | `todo-<host>/sync` 1 (needs a designated primary)             | nothing |
//! | `invalidate`  | see below                                                     | every activity off, between its steps |
//!
//! `invalidate` is for a secondary whose data cannot be trusted or must be given up: after a
//! split brain on the side whose writes are discarded, or after emergency mode. It follows the
//! original's `invalidate_res_phase0..9`:
//!
//! 0. Checks, before anything is written: this host is a member and neither the designated
//!    nor the actual primary (`is-primary`, `if-on`: the device is still there); another host
//!    is the designated primary, it is reachable (its heartbeat `actual-<primary>/time` is
//!    recent and `alive` = 1), not in emergency mode, and logging: its replay link names its
//!    own logfile `log-<n>-<primary>` (and that link is here). `--force` skips the reachability and emergency checks (and the waiting).
//! 1. Every switch off: `todo-<host>/{allow-replay,sync,connect,attach}` = 0.
//! 2. Waits until the kernel reports `is-syncing`, `is-copying`, `is-replaying` and
//!    `is-attached` = 0: no sync, fetch or replay thread of the resource runs any more, so
//!    none of them can overwrite what follows (a sync's final `syncstatus`, a replay link).
//! 3. One batch, computed from the tree as it is now (the checks of step 0 again):
//!    `syncstatus-<host>` = 0; this host's version links numbered above *n* deleted; the
//!    left-overs of this host's old history deleted as `log-purge-all` would after this host
//!    gave up its replay link, and this host's own logfiles numbered *n* or higher however
//!    recent (an abandoned branch: after a split brain they have the primary's numbers);
//!    `actual-<host>/msg-err-*` deleted; `replay-<host>` = `log-<n>-<primary>,0,0`;
//!    `version-<n>-<host>` and `version-<n-1>-<host>` = the primary's, or deleted where the
//!    primary has none (`_fake_versionlink`: from now on this host's chain is the primary's,
//!    so the replay continues it and no split brain is seen any more); `skip-check-<host>` =
//!    *n*.
//! 4. Every switch on again (`attach`, `connect`, `allow-replay`, then `sync`, unless no sync
//!    can start): the kernel copies the primary's device (fast full sync, only the blocks
//!    that differ), records `syncpos-<host>` and replays the primary's logfiles from *n* on.
//!
//! A step the kernel does not confirm within `--timeout` ends with exit code 3, the switches
//! off; `invalidate` again (or `up`) continues.

use crate::cmd_member::{parse_version_name, purge_plan};
use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::tree_value::{is_tombstone, ReplayLink};

/// Which sync switch command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncSwitch {
    Pause,
    Resume,
}

/// `pause-sync` / `resume-sync`.
pub(crate) fn switch(ctx: &Ctx, cmd: SyncSwitch, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let host = ctx.host.as_str();
    let on = cmd == SyncSwitch::Resume;
    if on && !ctx.options.force && ctx.designated_primary(&dir).is_none() {
        return Err(Fail::refused(format!(
            "Cannot start the sync of '{res}' because noone is designated as primary."
        )));
    }
    let rel = format!("{dir}/todo-{host}/sync");
    let value = if on { "1" } else { "0" };
    let label = if on { "resume-sync" } else { "pause-sync" };
    if ctx.tree.value(&rel).as_deref() == Some(value) {
        println!("{label} on resource {res} is already activated");
    } else {
        let mut batch = Batch::new();
        batch.set_link(&rel, value);
        batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
        ctx.commit(batch)?;
        println!("successfully started {label} on resource {res}");
    }
    if on || ctx.options.force || ctx.options.dry_run || !ctx.tree.module_loaded() {
        return Ok(());
    }
    ctx.wait_for(
        &format!("actual-{host}/is-syncing of '{res}' is off"),
        |t| !indicator(t, &dir, host, "is-syncing"),
    )
}

/// The switches `invalidate` turns off (in this order) and on again (`sync` last).
const INVALIDATE_SWITCHES: [&str; 4] = ["allow-replay", "sync", "connect", "attach"];
/// The indicators that must be off before the links are rewritten.
const INVALIDATE_QUIET: [&str; 4] = ["is-syncing", "is-copying", "is-replaying", "is-attached"];

/// What `invalidate` rewrites (step 3 of the module documentation).
#[derive(Debug)]
struct InvalidatePlan {
    primary: String,
    /// `log-<n>-<primary>,0,0`.
    replay: String,
    /// *n*.
    nr: u32,
    /// (relative path, value) to set, after the deletions.
    set: Vec<(String, String)>,
    /// Relative paths to delete.
    delete: Vec<String>,
    /// Own logfiles kept although no history needs them (recent).
    recent: Vec<String>,
}

/// Step 0: who the primary is, and whether invalidating this host is safe now.
fn invalidate_source(ctx: &Ctx, dir: &str, res: &str) -> Result<String, Fail> {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let primary = ctx.designated_primary(dir).ok_or_else(|| {
        Fail::refused(format!(
            "resource '{res}' has no designated primary: there is nothing to sync from"
        ))
        .line("designate the surviving side first ('marsadm primary' there)")
    })?;
    if primary == host {
        return Err(Fail::refused(format!(
            "host '{host}' is the designated primary of '{res}': invalidate a secondary"
        ))
        .line("the primary's data are the resource's data"));
    }
    if indicator(tree, dir, host, "is-primary") || indicator(tree, dir, host, "if-on") {
        return Err(Fail::refused(format!(
            "host '{host}' still runs '{}' as primary (actual-{host}/is-primary or if-on is 1)",
            ctx.device_name(dir, res)
        ))
        .line("close the device (umount) and wait until this host stepped down ('marsadm view')"));
    }
    if !ctx.options.force {
        let alive = tree
            .link(&format!("actual-{primary}/time"))
            .is_some_and(|t| ctx.is_recent(t.stamp))
            && tree.value(&format!("actual-{primary}/alive")).as_deref() == Some("1");
        if !alive {
            return Err(Fail::refused(format!("primary '{primary}' of '{res}' is not reachable (no recent heartbeat from it)"))
                .line("invalidate needs the primary: its logfile, version links and data are the new start"));
        }
        if indicator(tree, dir, &primary, "has-emergency") {
            return Err(Fail::refused(format!(
                "primary '{primary}' is in emergency mode: it serves no sync now"
            )));
        }
        damaged_log_not_current(ctx, dir, res, &primary)?;
    }
    Ok(primary)
}

/// Refuses while this host's replay stopped at a damaged record of the logfile the primary
/// still writes (`actual-<host>/msg-err-logfile-damaged` names it): the replay after the sync
/// starts at the beginning of that logfile and would stop there again. A `log-rotate` on the
/// primary first makes the sync start from the next logfile.
fn damaged_log_not_current(ctx: &Ctx, dir: &str, res: &str, primary: &str) -> Result<(), Fail> {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let Some(msg) = tree.value(&format!("{dir}/actual-{host}/msg-err-logfile-damaged")) else {
        return Ok(());
    };
    let Some(value) = tree.value(&format!("{dir}/replay-{primary}")) else {
        return Ok(());
    };
    let Ok(current) = ReplayLink::parse(&value) else {
        return Ok(());
    };
    let log = current.log.to_string();
    if is_tombstone(&msg) || !msg.split_whitespace().any(|word| word == log) {
        return Ok(());
    }
    Err(Fail::refused(format!(
        "the replay here stopped at a damaged record of {log}, which primary '{primary}' still writes: a replay after the sync would start in it and stop there again"
    ))
    .line(format!(
        "run 'marsadm log-rotate {res}' on {primary} first; the sync then starts from the next logfile"
    )))
}

/// Step 3: the links to rewrite, from the tree as it is now.
fn invalidate_plan(ctx: &Ctx, dir: &str, res: &str) -> Result<InvalidatePlan, Fail> {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let primary = invalidate_source(ctx, dir, res)?;
    let value = tree
        .value(&format!("{dir}/replay-{primary}"))
        .ok_or_else(|| {
            Fail::refused(format!(
                "the replay link of primary '{primary}' is not known here yet"
            ))
        })?;
    let current = ReplayLink::parse(&value).map_err(|e| {
        Fail::refused(format!(
            "the replay link of primary '{primary}' is malformed: {e}"
        ))
    })?;
    if current.log.origin.as_str() != primary {
        return Err(Fail::refused(format!(
            "primary '{primary}' of '{res}' is not logging yet (its replay link names {})",
            current.log
        ))
        .line("wait until it is primary ('marsadm view' there shows Replicating)"));
    }
    let nr = current.log.nr;

    let plan = purge_plan(ctx, dir, &[host], false, Some(nr))?;
    let mut delete: Vec<String> = plan.delete.iter().map(|n| format!("{dir}/{n}")).collect();
    // Own version links beyond the new start (`invalidate_res_phase3`).
    for name in tree.list(dir) {
        let Some((n, h)) = parse_version_name(&name) else {
            continue;
        };
        if h == host && n > nr && tree.exists(&format!("{dir}/{name}")) {
            delete.push(format!("{dir}/{name}"));
        }
    }
    // Error messages of the old history (`err_purge_res`).
    let actual = format!("{dir}/actual-{host}");
    for name in tree.list(&actual) {
        let rel = format!("{actual}/{name}");
        if name.starts_with("msg-err-") && tree.link(&rel).is_some_and(|l| !is_tombstone(&l.value))
        {
            delete.push(rel);
        }
    }
    let restart = ReplayLink {
        log: current.log,
        min_pos: 0,
        dirty_len: 0,
    }
    .to_string();
    let mut set = vec![
        (format!("{dir}/syncstatus-{host}"), "0".to_string()),
        (format!("{dir}/replay-{host}"), restart.clone()),
    ];
    fake_version_links(ctx, dir, &primary, nr, &mut set, &mut delete);
    set.push((format!("{dir}/skip-check-{host}"), nr.to_string()));
    delete.retain(|d| !set.iter().any(|(rel, _)| rel == d));
    delete.sort();
    delete.dedup();
    Ok(InvalidatePlan {
        primary,
        replay: restart,
        nr,
        set,
        delete,
        recent: plan.recent,
    })
}

/// The primary's version links of logfile `nr` and `nr - 1` become this host's
/// (`_fake_versionlink`): added to `set`. The one of `nr - 1` is what the kernel chains this
/// host's next link to; where the primary has no link (an idle fresh logfile has none yet),
/// the own one goes (added to `delete`), so that the kernel chains to the primary's history,
/// never to this host's old one.
pub(crate) fn fake_version_links(
    ctx: &Ctx,
    dir: &str,
    primary: &str,
    nr: u32,
    set: &mut Vec<(String, String)>,
    delete: &mut Vec<String>,
) {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    for p in [nr.checked_sub(1), Some(nr)]
        .into_iter()
        .flatten()
        .filter(|&p| p > 0)
    {
        let own = format!("{dir}/version-{p:09}-{host}");
        match tree.value(&format!("{dir}/version-{p:09}-{primary}")) {
            Some(value) => set.push((own, value)),
            None if tree.exists(&own) => delete.push(own),
            None => {}
        }
    }
}

/// `invalidate RES`: see the module documentation.
pub(crate) fn invalidate(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let host = ctx.host.as_str();
    ctx.check_mounted("modify any resource info")?;
    // Step 0 with everything step 3 needs, so that a refusal changes nothing.
    invalidate_plan(ctx, &dir, res)?;

    // Step 1: everything off.
    let todo = format!("{dir}/todo-{host}");
    let mut batch = Batch::new();
    for name in INVALIDATE_SWITCHES {
        let rel = format!("{todo}/{name}");
        if ctx.tree.value(&rel).as_deref() != Some("0") {
            batch.set_link(&rel, "0");
        }
    }
    batch.add_trigger(trigger::LOCAL);
    ctx.commit(batch)?;
    println!("switched off attach, fetch, sync and replay of '{res}' on '{host}'");

    // Step 2: the kernel stops everything.
    let wait = !ctx.options.force && !ctx.options.dry_run;
    if wait && !ctx.tree.module_loaded() {
        eprintln!("WARNING: Kernel module not loaded: nothing runs, continuing");
    } else if wait {
        for name in INVALIDATE_QUIET {
            ctx.wait_for(&format!("actual-{host}/{name} of '{res}' is off"), |t| {
                !indicator(t, &dir, host, name)
            })
            .map_err(|f| {
                f.line(format!(
                    "the switches of '{res}' are off; 'marsadm invalidate {res}' again continues"
                ))
            })?;
        }
    }

    // Step 3: the new start, computed from the tree as it is now.
    let plan = invalidate_plan(ctx, &dir, res).map_err(|f| {
        // The switches are written: not "nothing changed".
        let mut f = f.line(format!(
            "the switches of '{res}' are off now ('marsadm up {res}' turns them on again)"
        ));
        f.code = crate::fail::EXIT_NOT_CONFIRMED;
        f
    })?;
    let mut batch = Batch::new();
    for rel in &plan.delete {
        batch.delete(rel);
    }
    for (rel, value) in &plan.set {
        batch.set_link(rel, value);
    }
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch).map_err(|f| {
        let mut f = f.line(format!(
            "the switches of '{res}' are off now ('marsadm up {res}' turns them on again)"
        ));
        f.code = crate::fail::EXIT_NOT_CONFIRMED;
        f
    })?;
    for rel in &plan.delete {
        println!("deleted '{rel}'");
    }
    for name in &plan.recent {
        println!(
            "keeping recent logfile '{name}' (see --window; 'marsadm log-purge-all {res}' later)"
        );
    }
    println!(
        "invalidated '{res}' on '{host}': replay restarts at {} (the start of logfile {} of '{}'), full sync from '{}' follows",
        plan.replay, plan.nr, plan.primary, plan.primary
    );

    // Step 4: everything on again.
    let mut batch = Batch::new();
    for name in ["attach", "connect", "allow-replay"] {
        batch.set_link(&format!("{todo}/{name}"), "1");
    }
    if indicator(&ctx.tree, &dir, &plan.primary, "has-emergency") {
        eprintln!("WARNING: primary '{}' is in emergency mode: leaving the sync switch off ('marsadm resume-sync {res}' later)", plan.primary);
    } else {
        batch.set_link(&format!("{todo}/sync"), "1");
    }
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!("switched on attach, fetch, replay and sync of '{res}' on '{host}'; 'marsadm view {res}' shows the progress");
    Ok(())
}
