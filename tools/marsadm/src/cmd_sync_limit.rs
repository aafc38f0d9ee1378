// SPDX-License-Identifier: GPL-2.0
//! `set-global-sync-limit-value N` and `get-global-sync-limit-value` (the old names
//! `set-sync-limit-value` and `get-sync-limit-value` warn that they are deprecated, as the
//! original's do): this host's limit on concurrent full syncs, `defaults-<host>/sync-limit`
//! (0: no limit; `create-cluster` and `join-cluster` write 0). The kernel lets the first N
//! resources in name order that want a full sync run it; the others wait
//! (`actual-<host>/msg-inf-sync-start` says so; `mars_core::sync_limit`).
//!
//! Unlike the original, which writes whatever it is given, a value that is not a decimal
//! number from 0 to 4096 is refused and nothing is written.

use crate::ctx::{typed_name, Ctx};
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::sync_limit::{parse_sync_limit, MAX_SYNC_LIMIT};

/// Arguments of `set-global-sync-limit-value`.
#[derive(clap::Args)]
pub(crate) struct SetArgs {
    /// Full syncs this host runs at once; 0: no limit.
    #[arg(allow_hyphen_values = true)]
    value: String,
}

/// The sync-limit commands (flattened into marsadm's command list).
#[derive(clap::Subcommand)]
pub(crate) enum SyncLimitCommand {
    /// Set the most resources this host syncs at once (defaults-<host>/sync-limit; 0: no
    /// limit, the default).
    ///
    /// VALUE: 0 to 4096. Of the resources that want a full sync, the first VALUE in the order
    /// of their names sync; the others wait (view shows msg-inf-sync-start) and start when
    /// one of those finishes or is paused. A resource earlier in the order that starts to
    /// want a sync takes the slot of a running later one, which goes on from where it stopped
    /// later. set-sync-limit-value is the original's deprecated name.
    #[command(visible_alias = "set-sync-limit-value")]
    SetGlobalSyncLimitValue(SetArgs),
    /// Print this host's sync limit (defaults-<host>/sync-limit; empty when unset).
    /// get-sync-limit-value is the original's deprecated name.
    #[command(visible_alias = "get-sync-limit-value")]
    GetGlobalSyncLimitValue,
}

impl SyncLimitCommand {
    /// The command's name in messages: the word typed.
    pub(crate) fn name(&self) -> &'static str {
        typed_name(match self {
            SyncLimitCommand::SetGlobalSyncLimitValue(_) => {
                &["set-global-sync-limit-value", "set-sync-limit-value"]
            }
            SyncLimitCommand::GetGlobalSyncLimitValue => {
                &["get-global-sync-limit-value", "get-sync-limit-value"]
            }
        })
    }

    /// Whether the command only reads the tree.
    pub(crate) fn only_reads(&self) -> bool {
        matches!(self, SyncLimitCommand::GetGlobalSyncLimitValue)
    }
}

/// Runs a sync-limit command.
pub(crate) fn run(ctx: &Ctx, cmd: &SyncLimitCommand) -> CmdResult {
    let name = cmd.name();
    if !name.contains("-global-") {
        eprintln!("WARNING: The old syntax '{name}' is deprecated - please use the new syntax {{get,set}}-global-*");
    }
    let dir = format!("defaults-{}", ctx.host);
    let rel = format!("{dir}/sync-limit");
    match cmd {
        SyncLimitCommand::GetGlobalSyncLimitValue => {
            if !ctx.tree.is_dir(&dir) {
                return Err(Fail::refused(format!("directory '{dir}' does not exist")));
            }
            println!("{}", ctx.tree.value(&rel).unwrap_or_default());
            Ok(())
        }
        SyncLimitCommand::SetGlobalSyncLimitValue(args) => {
            let Some(limit) = parse_sync_limit(&args.value) else {
                return Err(Fail::refused(format!(
                    "sync limit '{}' is not a whole number from 0 (no limit) to {MAX_SYNC_LIMIT}",
                    args.value
                )));
            };
            if !ctx.tree.is_dir(&dir) {
                return Err(Fail::refused(format!("directory '{dir}' does not exist")));
            }
            let value = limit.to_string();
            if ctx.tree.value(&rel).as_deref() == Some(value.as_str()) {
                println!("sync limit of host '{}' is already {value}", ctx.host);
                return Ok(());
            }
            let mut batch = Batch::new();
            batch.set_link(&rel, &value);
            batch.add_trigger(trigger::LOCAL);
            ctx.commit(batch)?;
            if limit == 0 {
                println!("no sync limit on host '{}'", ctx.host);
            } else {
                println!(
                    "host '{}' syncs at most {limit} resource(s) at once, in the order of their names",
                    ctx.host
                );
            }
            Ok(())
        }
    }
}
