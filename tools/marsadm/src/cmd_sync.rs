// SPDX-License-Identifier: GPL-2.0
//! Full sync commands: `invalidate`, `pause-sync`, `resume-sync`.
//!
//! | command       | writes                                                        | waits for |
//! |---------------|---------------------------------------------------------------|-----------|
//! | `pause-sync`  | `todo-<host>/sync` 0                                          | `actual-<host>/is-syncing` 0 |
//! | `resume-sync` | `todo-<host>/sync` 1 (needs a designated primary)             | nothing |
//! | `invalidate`  | `syncstatus-<host>` 0; once the replay stopped, `replay-<host>` = start of the primary's current logfile | `is-replaying` 0 |
//!
//! `invalidate` is for a secondary whose data cannot be trusted (or differs after a split
//! brain): the kernel copies the primary's device again (fast full sync: only blocks that
//! differ) and replays the primary's log from its current logfile. Refused on the designated
//! primary, without a designated primary, or while the primary is in emergency mode.

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::tree_value::ReplayLink;

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
        return Err(Fail::refused(format!("Cannot start the sync of '{res}' because noone is designated as primary.")));
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
    ctx.wait_for(&format!("actual-{host}/is-syncing of '{res}' is off"), |t| !indicator(t, &dir, host, "is-syncing"))
}

/// `invalidate RES`: full sync again from the designated primary.
pub(crate) fn invalidate(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let host = ctx.host.as_str();
    let tree = &ctx.tree;
    let primary = ctx
        .designated_primary(&dir)
        .ok_or_else(|| Fail::refused(format!("resource '{res}' has no designated primary: nothing to sync from")))?;
    if primary == host {
        return Err(Fail::refused(format!("host '{host}' is the designated primary of '{res}': invalidate a secondary"))
            .line("the primary's data are the resource's data"));
    }
    if indicator(tree, &dir, &primary, "has-emergency") && !ctx.options.force {
        return Err(Fail::refused(format!("primary '{primary}' is in emergency mode: it serves no sync now")));
    }
    let replay = tree
        .value(&format!("{dir}/replay-{primary}"))
        .ok_or_else(|| Fail::refused(format!("the replay link of primary '{primary}' is not known here yet")))?;
    let current = ReplayLink::parse(&replay)
        .map_err(|e| Fail::refused(format!("the replay link of primary '{primary}' is malformed: {e}")))?;
    let restart = ReplayLink { log: current.log, min_pos: 0, dirty_len: 0 }.to_string();

    // First the sync status: the kernel stops the replay (and restarts a running sync).
    let mut batch = Batch::new();
    batch.set_link(&format!("{dir}/syncstatus-{host}"), "0");
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!("invalidated '{res}' on '{host}': full sync from '{primary}' follows");
    if !ctx.options.force && !ctx.options.dry_run && ctx.tree.module_loaded() {
        ctx.wait_for(&format!("actual-{host}/is-replaying of '{res}' is off"), |t| {
            !indicator(t, &dir, host, "is-replaying")
        })?;
    }
    // Then the replay restarts at the primary's current logfile (the replay no longer runs and
    // cannot overwrite it).
    let mut batch = Batch::new();
    batch.set_link(&format!("{dir}/replay-{host}"), &restart);
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!("replay of '{res}' restarts at {} once the sync finished", current.log);
    Ok(())
}
