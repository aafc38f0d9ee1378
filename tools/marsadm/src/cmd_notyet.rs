// SPDX-License-Identifier: GPL-2.0
//! Commands of the original that have no kernel side, here or there: marsadm knows them and
//! refuses them with the reason (exit 1, nothing written), instead of "unrecognized
//! subcommand".
//!
//! | commands | why refused |
//! |----------|-------------|
//! | `set-disabled-digests` | per-resource digests: the original hides the command as not yet implemented ("verbose 99 # NYI"), and its kernel never reads the `resource-<res>/defaults/disabled-digests` it would write; nor does this one. The cluster-wide `set-global-disabled-log-digests` / `-net-digests` work |

use crate::ctx::typed_name;
use crate::fail::Fail;

/// Arguments of the refused commands: whatever the original took.
#[derive(clap::Args)]
pub(crate) struct AnyArgs {
    /// The original's arguments (ignored).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The refused commands (flattened into marsadm's command list).
#[derive(clap::Subcommand)]
pub(crate) enum NotYetCommand {
    /// Refused: per-resource digests are not implemented (nor in the original, which hides
    /// the command); use set-global-disabled-log-digests / set-global-disabled-net-digests.
    SetDisabledDigests(AnyArgs),
}

impl NotYetCommand {
    /// The command's name in messages: the word typed.
    pub(crate) fn name(&self) -> &'static str {
        typed_name(match self {
            NotYetCommand::SetDisabledDigests(_) => &["set-disabled-digests"],
        })
    }
}

/// The refusal.
pub(crate) fn refuse(cmd: &NotYetCommand) -> Fail {
    let why = match cmd {
        NotYetCommand::SetDisabledDigests(_) => {
            "per-resource digests are not implemented: the original hides this command as not yet implemented, and no kernel reads resource-<res>/defaults/disabled-digests; use set-global-disabled-log-digests or set-global-disabled-net-digests (the whole cluster)"
        }
    };
    Fail::refused("not implemented in this MARS").line(why)
}
