// SPDX-License-Identifier: GPL-2.0
//! The operation switches of this host: `attach`, `detach`, `up`, `down`.
//!
//! Each writes switches in `resource-<res>/todo-<host>/` (only those whose value changes) and
//! then waits, up to `--timeout`, for the kernel's indicators in `actual-<host>/` to follow
//! (the 2-edge handshake: the switch is the wish, the indicator the fact):
//!
//! | command  | writes (in this order)                         | waits for                      |
//! |----------|------------------------------------------------|--------------------------------|
//! | `attach` | `attach` 1                                     | `is-attached` 1                |
//! | `detach` | `attach` 0                                     | `is-attached`, `if-on`, `is-replaying`, `is-syncing` 0 |
//! | `up`     | `attach`, `connect`, `sync`, `allow-replay` 1  | `is-attached` 1                |
//! | `down`   | `allow-replay`, `sync`, `connect`, `attach` 0  | as `detach`, and `is-copying` 0 |
//!
//! `detach` and `down` refuse while the device is open (`actual-<host>/open-count`). `up`
//! leaves `sync` alone when no primary is designated or the primary is in emergency mode.
//! Without the module the switches are written and take effect at `modprobe`. `--force` skips
//! the checks and the waiting.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{Batch, Tree};

/// Arguments of the switch commands.
#[derive(clap::Args)]
pub(crate) struct ResArgs {
    /// The resource, a comma-separated list of resources, or `all` (every resource this host
    /// is member of).
    pub(crate) res: String,
}

/// Which switch command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwitchCmd {
    Attach,
    Detach,
    Up,
    Down,
}

/// Collects the switches of one command.
struct Switches<'a> {
    tree: &'a Tree,
    dir: &'a str,
    host: &'a str,
    res: &'a str,
    batch: Batch,
    said: Vec<String>,
}

impl Switches<'_> {
    /// Sets one switch when its value changes (`_switch`); `label` names the operation.
    fn set(&mut self, name: &str, on: bool, label: &str) {
        let rel = format!("{}/todo-{}/{name}", self.dir, self.host);
        let value = if on { "1" } else { "0" };
        if self.tree.value(&rel).as_deref() == Some(value) {
            self.said.push(format!(
                "{label} on resource {} is already activated",
                self.res
            ));
            return;
        }
        self.batch.set_link(&rel, value);
        self.said.push(format!(
            "successfully started {label} on resource {}",
            self.res
        ));
    }
}

/// Whether an indicator of this host is on (`1`); a missing one is off, as in `check_status`.
pub(crate) fn indicator(tree: &Tree, dir: &str, host: &str, name: &str) -> bool {
    tree.value(&format!("{dir}/actual-{host}/{name}"))
        .is_some_and(|v| v.trim().parse::<i64>().unwrap_or(0) != 0)
}

/// Refuses while the device is open (`attach_res_phase0` for detach).
fn check_not_open(ctx: &Ctx, dir: &str, res: &str) -> CmdResult {
    let count = ctx
        .tree
        .value(&format!("{dir}/actual-{}/open-count", ctx.host));
    if count
        .as_deref()
        .is_some_and(|c| c.trim().parse::<i64>().unwrap_or(0) != 0)
    {
        return Err(
            Fail::refused(format!("device '{}' is in use", ctx.device_name(dir, res)))
                .line("umount or close it first"),
        );
    }
    Ok(())
}

/// `check_sync_startable`: a sync needs a designated primary that is not in emergency mode.
fn sync_startable(ctx: &Ctx, dir: &str, res: &str) -> Result<(), String> {
    let primary = ctx.designated_primary(dir).ok_or_else(|| {
        format!("Cannot start the sync of '{res}' because noone is designated as primary.")
    })?;
    if primary != ctx.host && indicator(&ctx.tree, dir, &primary, "has-emergency") {
        return Err(format!(
            "Primary '{primary}' is in emergency mode. Cannot start sync."
        ));
    }
    Ok(())
}

pub(crate) fn run(ctx: &Ctx, cmd: SwitchCmd, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let off = matches!(cmd, SwitchCmd::Detach | SwitchCmd::Down);
    if off && !ctx.options.force {
        check_not_open(ctx, &dir, res)?;
    }
    let mut switches = Switches {
        tree,
        dir: &dir,
        host,
        res,
        batch: Batch::new(),
        said: Vec::new(),
    };
    match cmd {
        SwitchCmd::Attach => switches.set("attach", true, "attach"),
        SwitchCmd::Detach => switches.set("attach", false, "detach"),
        SwitchCmd::Up => {
            switches.set("attach", true, "attach");
            switches.set("connect", true, "resume-fetch-local");
            match sync_startable(ctx, &dir, res) {
                Ok(()) => switches.set("sync", true, "resume-sync-local"),
                Err(why) => eprintln!("WARNING: {why} Leaving the sync switch as it is."),
            }
            switches.set("allow-replay", true, "resume-replay-local");
        }
        SwitchCmd::Down => {
            switches.set("allow-replay", false, "pause-replay-local");
            switches.set("sync", false, "pause-sync-local");
            switches.set("connect", false, "pause-fetch-local");
            switches.set("attach", false, "detach");
        }
    }
    let Switches { batch, said, .. } = switches;
    ctx.commit(batch)?;
    for line in said {
        println!("{line}");
    }
    if ctx.options.force || ctx.options.dry_run {
        return Ok(());
    }
    if !tree.module_loaded() {
        eprintln!(
            "WARNING: Kernel module not loaded: {} will become effective after modprobe",
            label(cmd)
        );
        return Ok(());
    }
    if off {
        // Fetching needs no disk: only `down` stops it.
        let fetch: &[&str] = if cmd == SwitchCmd::Down {
            &["is-copying"]
        } else {
            &[]
        };
        for &name in ["is-attached", "if-on", "is-replaying", "is-syncing"]
            .iter()
            .chain(fetch)
        {
            ctx.wait_for(&format!("actual-{host}/{name} of '{res}' is off"), |t| {
                !indicator(t, &dir, host, name)
            })?;
        }
        println!("resource '{res}' is detached");
    } else {
        ctx.wait_for(
            &format!("actual-{host}/is-attached of '{res}' is on"),
            |t| indicator(t, &dir, host, "is-attached"),
        )?;
        println!("resource '{res}' is attached");
    }
    Ok(())
}

fn label(cmd: SwitchCmd) -> &'static str {
    match cmd {
        SwitchCmd::Attach => "attach",
        SwitchCmd::Detach => "detach",
        SwitchCmd::Up => "up",
        SwitchCmd::Down => "down",
    }
}
