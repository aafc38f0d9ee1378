// SPDX-License-Identifier: GPL-2.0
//! `set-connect-pref-list RES [HOSTS]` and `get-connect-pref-list RES`: the original's
//! provisional, deprecated commands ("for internal use at 1&1") for the peers this host
//! prefers to fetch a resource's logfiles from, stored as the original stores them:
//! `resource-<res>/connect-<host>` = the comma-separated list; an empty or missing list
//! deletes the link.
//!
//! What the list does: nothing here. This kernel fetches every logfile from its origin (the
//! host that wrote it), which is the original's first preference too; the original consulted
//! the list only when it fetched from another peer than the origin, which this MARS never
//! does. The commands keep scripts that set the list working, tell that the list is not used,
//! and check the list as the original does (host names that exist in `ips/`).

use crate::ctx::{typed_name, Ctx};
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::tree_value::is_tombstone;

/// Arguments of `set-connect-pref-list`.
#[derive(clap::Args)]
pub(crate) struct SetArgs {
    /// The resource.
    res: String,
    /// Comma-separated host names; empty or missing: delete the list.
    hosts: Option<String>,
}

/// Arguments of `get-connect-pref-list`.
#[derive(clap::Args)]
pub(crate) struct GetArgs {
    /// The resource.
    res: String,
}

/// The connect-pref-list commands (flattened into marsadm's command list).
#[derive(clap::Subcommand)]
pub(crate) enum ConnectPrefCommand {
    /// Deprecated (the original's provisional command): store the peers this host prefers to
    /// fetch logfiles of RES from (resource-<res>/connect-<host>).
    ///
    /// Stored only: this MARS fetches every logfile from its origin (the host that wrote it,
    /// the original's first choice as well) and does not read the list. An empty or missing
    /// HOSTS deletes it.
    SetConnectPrefList(SetArgs),
    /// Deprecated: print what set-connect-pref-list stored (empty when unset).
    GetConnectPrefList(GetArgs),
}

impl ConnectPrefCommand {
    /// The command's name in messages.
    pub(crate) fn name(&self) -> &'static str {
        typed_name(match self {
            ConnectPrefCommand::SetConnectPrefList(_) => &["set-connect-pref-list"],
            ConnectPrefCommand::GetConnectPrefList(_) => &["get-connect-pref-list"],
        })
    }

    /// Whether the command only reads the tree.
    pub(crate) fn only_reads(&self) -> bool {
        matches!(self, ConnectPrefCommand::GetConnectPrefList(_))
    }
}

/// Runs a connect-pref-list command.
pub(crate) fn run(ctx: &Ctx, cmd: &ConnectPrefCommand) -> CmdResult {
    eprintln!(
        "WARNING: This command '{}' is deprecated. Please try to avoid it.",
        cmd.name()
    );
    match cmd {
        ConnectPrefCommand::GetConnectPrefList(args) => {
            let dir = ctx.member_res(&args.res)?;
            let value = ctx
                .tree
                .value(&format!("{dir}/connect-{}", ctx.host))
                .filter(|v| !is_tombstone(v));
            println!("{}", value.unwrap_or_default());
            Ok(())
        }
        ConnectPrefCommand::SetConnectPrefList(args) => set(ctx, args),
    }
}

fn set(ctx: &Ctx, args: &SetArgs) -> CmdResult {
    let list = args.hosts.as_deref().unwrap_or("");
    if !list.is_empty() {
        check_list(ctx, list)?;
    }
    let dir = ctx.member_res(&args.res)?;
    let rel = format!("{dir}/connect-{}", ctx.host);
    let mut batch = Batch::new();
    if list.is_empty() {
        if ctx.tree.value(&rel).is_none_or(|v| is_tombstone(&v)) {
            println!("no connect preference list of '{}' to delete", args.res);
            return Ok(());
        }
        eprintln!("info: as requested, I am deleting '{rel}'");
        batch.delete(&rel);
    } else {
        batch.set_link(&rel, list);
    }
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    eprintln!("NOTE: stored only: this MARS fetches every logfile from its origin and does not read the list");
    Ok(())
}

/// The original's `check_id_list(list, must_exist, abort_reserved)`: allowed characters,
/// valid host names, each known in `ips/`.
fn check_list(ctx: &Ctx, list: &str) -> Result<(), Fail> {
    let allowed = list
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b',');
    let first_ok = list
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !allowed || !first_ok {
        return Err(Fail::refused(format!(
            "comma-separated list '{list}' has disallowed characters"
        )));
    }
    for host in list.split(',') {
        mars_core::names::check_name(host)
            .map_err(|e| Fail::refused(format!("host name '{host}' in '{list}': {e}")))?;
        let known = ctx
            .tree
            .value(&format!("ips/ip-{host}"))
            .is_some_and(|v| !is_tombstone(&v));
        if !known {
            return Err(Fail::refused(format!(
                "host '{host}' does not exist in {}",
                ctx.tree.path("ips").display()
            )));
        }
    }
    Ok(())
}
