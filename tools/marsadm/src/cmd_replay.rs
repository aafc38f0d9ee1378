// SPDX-License-Identifier: GPL-2.0
//! Two dangerous expert commands of the original that rewrite where this host stands:
//!
//! * `fake-sync <res>` (`fake_sync_phase1..3`): switches the full sync off
//!   (`todo-<host>/sync` = 0), waits until it stopped (`is-syncing` = 0) and declares the disk
//!   in sync: `syncstatus-<host>` = `size`. Replay may then start on data that were never
//!   copied: only for disks known to be equal (e.g. both freshly zeroed, or restored from
//!   the same backup). The sync switch stays off, as in the original.
//! * `set-replay <res> <nr>` (`set_replay_res`): restarts this host's replay at the start of
//!   the designated primary's logfile `<nr>`: `replay-<host>` = `log-<nr>-<primary>,0,0`, the
//!   primary's version links of `<nr>` and `<nr - 1>` become this host's, and
//!   `skip-check-<host>` = `<nr>`. Only on a secondary whose replay switch is off and whose
//!   replay has stopped; skipping forward (a larger number than the current one) needs
//!   `--force`. Whatever lies between is never applied here: the data are inconsistent
//!   until an `invalidate`, unless the operator knows better.

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::names::HostName;
use mars_core::tree::LogName;
use mars_core::tree_value::ReplayLink;

/// Arguments of `set-replay`.
#[derive(clap::Args, Clone)]
pub(crate) struct SetReplayArgs {
    /// The resource.
    res: String,
    /// The logfile number the replay restarts at (of the designated primary's logfiles).
    nr: String,
}

impl SetReplayArgs {
    /// The resource argument (a list or `all` before expansion).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// The same arguments for one resource of a list.
    pub(crate) fn for_res(&self, res: &str) -> SetReplayArgs {
        SetReplayArgs {
            res: res.to_string(),
            nr: self.nr.clone(),
        }
    }
}

/// `fake-sync RES`.
pub(crate) fn fake_sync(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let host = ctx.host.as_str();
    let size = ctx
        .tree
        .value(&format!("{dir}/size"))
        .filter(|v| v.trim().parse::<u64>().is_ok())
        .ok_or_else(|| Fail::refused(format!("resource '{res}' has no valid size link")))?;
    let rel = format!("{dir}/todo-{host}/sync");
    if ctx.tree.value(&rel).as_deref() != Some("0") {
        let mut batch = Batch::new();
        batch.set_link(&rel, "0");
        batch.add_trigger(trigger::LOCAL);
        ctx.commit(batch)?;
        println!("switched the sync of '{res}' off on '{host}'");
    }
    if !ctx.options.dry_run && !ctx.options.force && ctx.tree.module_loaded() {
        ctx.wait_for(
            &format!("actual-{host}/is-syncing of '{res}' is off"),
            |t| !indicator(t, &dir, host, "is-syncing"),
        )
        .map_err(|f| f.line("the sync switch is off; 'marsadm fake-sync' again continues"))?;
    }
    let mut batch = Batch::new();
    batch.set_link(&format!("{dir}/syncstatus-{host}"), &size);
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!(
        "faked the sync of '{res}' on '{host}': syncstatus-{host} = {size} (the size); the sync switch stays off ('marsadm resume-sync {res}' for later syncs)"
    );
    Ok(())
}

/// `set-replay RES NR`.
pub(crate) fn set_replay(ctx: &Ctx, args: &SetReplayArgs) -> CmdResult {
    let res = args.res.as_str();
    let new_nr = args
        .nr
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            Fail::refused(format!(
                "you must supply a numeric logfile number as third argument (not '{}')",
                args.nr
            ))
        })?;
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    if indicator(tree, &dir, host, "is-primary") || indicator(tree, &dir, host, "if-on") {
        return Err(Fail::refused(format!(
            "operation 'set-replay' is not allowed on the actual primary of '{res}'"
        )));
    }
    let primary = ctx.designated_primary(&dir).ok_or_else(|| {
        Fail::refused("no designated primary defined").line("set-replay takes its logfiles")
    })?;
    if primary == host {
        return Err(Fail::refused(format!(
            "operation 'set-replay' is not allowed on the designated primary of '{res}'"
        )));
    }
    if tree
        .value(&format!("{dir}/todo-{host}/allow-replay"))
        .is_none_or(|v| v.trim() != "0")
    {
        return Err(Fail::refused(format!(
            "Cannot execute set-replay on resource {res}: todo-switch 'replay' must be off"
        ))
        .line(format!("run 'marsadm pause-replay {res}' first")));
    }
    if indicator(tree, &dir, host, "is-replaying") {
        return Err(Fail::refused(format!(
            "the replay of '{res}' still runs here: wait until actual-{host}/is-replaying is 0"
        )));
    }
    let old = tree
        .value(&format!("{dir}/replay-{host}"))
        .ok_or_else(|| Fail::refused(format!("'{dir}/replay-{host}' does not exist")))?;
    let old_nr = ReplayLink::parse(&old)
        .map_err(|e| Fail::refused(format!("old replay link '{old}' is wrong: {e}")))?
        .log
        .nr;
    if new_nr > old_nr && !ctx.options.force {
        return Err(Fail::refused(format!(
            "you try to skip logfile numbers from {old_nr} to {new_nr}, are you sure?"
        ))
        .line("you would need --force if you really know what you are doing."));
    }
    let origin = HostName::parse(&primary)
        .map_err(|e| Fail::refused(format!("primary '{primary}': {e}")))?;
    let replay = ReplayLink {
        log: LogName { nr: new_nr, origin },
        min_pos: 0,
        dirty_len: 0,
    }
    .to_string();
    let mut set = vec![(format!("{dir}/replay-{host}"), replay.clone())];
    let mut delete = Vec::new();
    crate::cmd_sync::fake_version_links(ctx, &dir, &primary, new_nr, &mut set, &mut delete);
    set.push((format!("{dir}/skip-check-{host}"), new_nr.to_string()));
    let mut batch = Batch::new();
    for rel in &delete {
        batch.delete(rel);
    }
    for (rel, value) in &set {
        batch.set_link(rel, value);
    }
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!("creating new replaylink 'replay-{host}' -> '{replay}' -- THIS IS EXTREMELY RISKY -- any inconsistencies are on your own!");
    Ok(())
}
