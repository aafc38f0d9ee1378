// SPDX-License-Identifier: GPL-2.0
//! The DRBD words the original marsadm answers without doing DRBD's work: `role` and `state`
//! (deprecated: who is primary), `cstate`, `dstate`, `status` (refused: not implemented in
//! the original either; `view` shows the states), commands it ignores (`syncer`, `adjust`,
//! ...), ones that make no sense with MARS (`create-md`, `dump`, ...) and ones it forbids
//! (`verify`, `invalidate-remote`). Each takes a resource (a list, `all`) that must exist
//! and have this host as a member, as in the original, and answers with the original's words:
//!
//! | words | answer | exit |
//! |-------|--------|------|
//! | `role`, `state` | `I am actually primary` or `secondary`, and ` and <host> should be primary` when the designated primary is another | 0 |
//! | `syncer`, `check-resize`, `get-gi`, `show-gi`, `outdate`, `adjust`, `hidden-commands` | `ignoring command '<cmd>' on resource '<res>'` | 0 |
//! | `create-md`, `dump-md`, `dump`, `new-current-uuid` | `command '<cmd>' makes no sense with MARS (ignoring on resource '<res>')` | 0 |
//! | `verify`, `invalidate-remote` | `command '<cmd>' on resource '<res>' cannot be used with MARS (...)` | 1 |
//! | `cstate`, `dstate`, `status` | `command '<cmd>' on resource '<res>' is not yet implemented` | 1 |

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::{typed_name, Ctx};
use crate::fail::{CmdResult, Fail};
use mars_core::tree_value::NONE_VALUE;

/// Arguments of `role` and `state`.
#[derive(clap::Args)]
pub(crate) struct RoleArgs {
    /// The resource, a comma-separated list of resources, or `all` (every resource this host
    /// is member of).
    pub(crate) res: String,
    /// Ask about this member instead of this host.
    pub(crate) peer: Option<String>,
}

/// The DRBD words (flattened into marsadm's command list).
#[derive(clap::Subcommand)]
pub(crate) enum DrbdCommand {
    /// Deprecated (use `view`): print whether this host (or PEER) is actually primary
    /// (actual-<host>/is-primary), and the designated primary when it is another host.
    #[command(visible_alias = "state")]
    Role(RoleArgs),
    /// A DRBD word the original ignores; prints so and does nothing.
    #[command(visible_aliases = [
        "check-resize", "get-gi", "show-gi", "outdate", "adjust", "hidden-commands",
    ])]
    Syncer(ResArgs),
    /// A DRBD word that makes no sense with MARS; prints so and does nothing.
    #[command(visible_aliases = ["dump-md", "dump", "new-current-uuid"])]
    CreateMd(ResArgs),
    /// Refused: a DRBD word that cannot be used with MARS (it would act on other hosts).
    #[command(visible_alias = "invalidate-remote")]
    Verify(ResArgs),
    /// Refused: not implemented (nor in the original); `view` shows the connection state.
    #[command(visible_aliases = ["dstate", "status"])]
    Cstate(ResArgs),
}

impl DrbdCommand {
    /// The command's name in messages: the word typed.
    pub(crate) fn name(&self) -> &'static str {
        typed_name(match self {
            DrbdCommand::Role(_) => &["role", "state"],
            DrbdCommand::Syncer(_) => &[
                "syncer",
                "check-resize",
                "get-gi",
                "show-gi",
                "outdate",
                "adjust",
                "hidden-commands",
            ],
            DrbdCommand::CreateMd(_) => &["create-md", "dump-md", "dump", "new-current-uuid"],
            DrbdCommand::Verify(_) => &["verify", "invalidate-remote"],
            DrbdCommand::Cstate(_) => &["cstate", "dstate", "status"],
        })
    }

    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        match self {
            DrbdCommand::Role(a) => &a.res,
            DrbdCommand::Syncer(a)
            | DrbdCommand::CreateMd(a)
            | DrbdCommand::Verify(a)
            | DrbdCommand::Cstate(a) => &a.res,
        }
    }

    /// This command for one resource of its list.
    pub(crate) fn for_res(&self, res: &str) -> DrbdCommand {
        let one = || ResArgs {
            res: res.to_string(),
        };
        match self {
            DrbdCommand::Role(a) => DrbdCommand::Role(RoleArgs {
                res: res.to_string(),
                peer: a.peer.clone(),
            }),
            DrbdCommand::Syncer(_) => DrbdCommand::Syncer(one()),
            DrbdCommand::CreateMd(_) => DrbdCommand::CreateMd(one()),
            DrbdCommand::Verify(_) => DrbdCommand::Verify(one()),
            DrbdCommand::Cstate(_) => DrbdCommand::Cstate(one()),
        }
    }
}

/// Answers the word for one resource.
pub(crate) fn run(ctx: &Ctx, cmd: &DrbdCommand) -> CmdResult {
    let res = cmd.res();
    let dir = ctx.member_res(res)?;
    let name = cmd.name();
    match cmd {
        DrbdCommand::Role(args) => {
            let peer = args.peer.as_deref().unwrap_or(&ctx.host);
            mars_core::names::check_name(peer)
                .map_err(|e| Fail::refused(format!("host name '{peer}': {e}")))?;
            let mut msg = String::from("I am actually ");
            msg.push_str(if indicator(&ctx.tree, &dir, peer, "is-primary") {
                "primary"
            } else {
                "secondary"
            });
            let designated = ctx
                .designated_primary(&dir)
                .unwrap_or_else(|| NONE_VALUE.to_string());
            if designated != peer {
                msg.push_str(&format!(" and {designated} should be primary"));
            }
            println!("{msg}");
            Ok(())
        }
        DrbdCommand::Syncer(_) => {
            println!("ignoring command '{name}' on resource '{res}'");
            Ok(())
        }
        DrbdCommand::CreateMd(_) => {
            println!("command '{name}' makes no sense with MARS (ignoring on resource '{res}')");
            Ok(())
        }
        DrbdCommand::Verify(_) => Err(Fail::refused(format!(
            "command '{name}' on resource '{res}' cannot be used with MARS (might affect too many hosts, lead to undesired consequences)"
        ))),
        DrbdCommand::Cstate(_) => Err(Fail::refused(format!(
            "command '{name}' on resource '{res}' is not yet implemented"
        ))
        .line("'marsadm view' shows the disk and replication states")),
    }
}
