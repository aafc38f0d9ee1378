// SPDX-License-Identifier: GPL-2.0
//! Commands of the original whose kernel side does not exist here yet: marsadm knows them
//! and refuses them with the reason (exit 1, nothing written), instead of "unrecognized
//! subcommand".
//!
//! | commands | why not yet |
//! |----------|-------------|
//! | `set-global-sync-limit-value`, `get-global-sync-limit-value`, `set-sync-limit-value`, `get-sync-limit-value` | the kernel does not limit how many resources sync at once: `defaults-<host>/sync-limit` (written by `create-cluster`) is not read |
//! | `set-connect-pref-list`, `get-connect-pref-list` | the kernel fetches logfiles only from their origin (the designated primary) and has no preference list of peers to fetch from |

use crate::ctx::typed_name;
use crate::fail::Fail;

/// Arguments of the not-yet commands: whatever the original took.
#[derive(clap::Args)]
pub(crate) struct AnyArgs {
    /// The original's arguments (ignored).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The not-yet commands (flattened into marsadm's command list).
#[derive(clap::Subcommand)]
pub(crate) enum NotYetCommand {
    /// Not yet: the kernel does not limit how many resources sync at once
    /// (defaults-<host>/sync-limit is not read).
    #[command(visible_aliases = [
        "get-global-sync-limit-value", "set-sync-limit-value", "get-sync-limit-value",
    ])]
    SetGlobalSyncLimitValue(AnyArgs),
    /// Not yet: the kernel fetches logfiles from their origin only (no preference list).
    #[command(visible_alias = "get-connect-pref-list")]
    SetConnectPrefList(AnyArgs),
}

impl NotYetCommand {
    /// The command's name in messages: the word typed.
    pub(crate) fn name(&self) -> &'static str {
        typed_name(match self {
            NotYetCommand::SetGlobalSyncLimitValue(_) => &[
                "set-global-sync-limit-value",
                "get-global-sync-limit-value",
                "set-sync-limit-value",
                "get-sync-limit-value",
            ],
            NotYetCommand::SetConnectPrefList(_) => {
                &["set-connect-pref-list", "get-connect-pref-list"]
            }
        })
    }
}

/// The refusal.
pub(crate) fn refuse(cmd: &NotYetCommand) -> Fail {
    let why = match cmd {
        NotYetCommand::SetGlobalSyncLimitValue(_) => {
            "the kernel does not limit how many resources sync at once here (defaults-<host>/sync-limit is not read); every resource syncs when its sync switch is on"
        }
        NotYetCommand::SetConnectPrefList(_) => {
            "the kernel fetches logfiles from their origin (the designated primary) only and keeps no preference list of peers"
        }
    };
    Fail::refused("not yet implemented in this MARS").line(why)
}
