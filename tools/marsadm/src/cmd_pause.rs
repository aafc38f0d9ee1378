// SPDX-License-Identifier: GPL-2.0
//! Pausing and resuming the fetch and the replay of this host: `pause-fetch`, `resume-fetch`
//! (and their old names `disconnect`, `connect`), `pause-replay`, `resume-replay`, each also
//! as `-local`, and the `-global` variants, which we refuse.
//!
//! | command                     | writes                          | waits for                 |
//! |-----------------------------|---------------------------------|---------------------------|
//! | `pause-fetch`, `disconnect` | `todo-<host>/connect` 0         | `actual-<host>/is-copying` 0 |
//! | `resume-fetch`, `connect`   | `todo-<host>/connect` 1         | nothing                   |
//! | `pause-replay`              | `todo-<host>/allow-replay` 0    | `actual-<host>/is-replaying` 0 |
//! | `resume-replay`             | `todo-<host>/allow-replay` 1    | nothing                   |
//!
//! As the original (`fetch_local_res`, `pause_replay_local_res`): the resource must exist and
//! this host be a member (`--force` goes on without); a switch that already has the value is
//! not written again ("... is already activated"). The fetch and the replay are independent:
//! a paused replay keeps fetching, a paused fetch replays what has arrived. Unlike the
//! original, a pause waits (up to `--timeout`, as `pause-sync`) until the kernel stopped.
//!
//! The original's `-global` variants write the switch of every member into its
//! `todo-<member>/` here and let the members pull it. Our kernel takes a host's switches from
//! that host only (`Documentation/tree.rst`, "Ownership"): a switch written here for another
//! host would never reach it, and this host's view of that host would be wrong. So `-global`
//! is refused, changes nothing, and says on which members to run the local command.

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::{typed_name, Ctx};
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};

/// The commands of this module (flattened into marsadm's command list).
#[derive(clap::Subcommand)]
pub(crate) enum PauseCommand {
    /// Stop fetching logfiles from the designated primary here (todo-<host>/connect = 0)
    /// and wait until the kernel stopped (actual-<host>/is-copying = 0).
    ///
    /// The replay goes on with what has arrived. On a primary nothing is fetched anyway.
    #[command(visible_alias = "pause-fetch-local")]
    PauseFetch(ResArgs),
    /// Fetch logfiles from the designated primary here again (todo-<host>/connect = 1).
    #[command(visible_alias = "resume-fetch-local")]
    ResumeFetch(ResArgs),
    /// Same as resume-fetch (the DRBD word).
    #[command(visible_alias = "connect-local")]
    Connect(ResArgs),
    /// Same as pause-fetch (the DRBD word).
    #[command(visible_alias = "disconnect-local")]
    Disconnect(ResArgs),
    /// Stop replaying fetched logfiles here (todo-<host>/allow-replay = 0), freezing this
    /// replica; wait until the kernel stopped (actual-<host>/is-replaying = 0).
    ///
    /// Fetching goes on while /mars has room. Only useful on a secondary.
    #[command(visible_alias = "pause-replay-local")]
    PauseReplay(ResArgs),
    /// Replay fetched logfiles here again (todo-<host>/allow-replay = 1).
    #[command(visible_alias = "resume-replay-local")]
    ResumeReplay(ResArgs),
    /// Refused: the original sets the switch of every member from here; here each member sets
    /// its own switches (run the command without -global on each member).
    #[command(
        name = "pause-fetch-global",
        visible_aliases = [
            "resume-fetch-global", "connect-global", "disconnect-global",
            "pause-replay-global", "resume-replay-global",
            "pause-sync-global", "resume-sync-global",
        ]
    )]
    Global(ResArgs),
}

/// One switch of this module.
struct Switch {
    /// The link in `todo-<host>/`.
    name: &'static str,
    /// The indicator in `actual-<host>/` that is off once the kernel stopped.
    indicator: &'static str,
    /// What the switch does, for the timeout message.
    label: &'static str,
}

const FETCH: Switch = Switch {
    name: "connect",
    indicator: "is-copying",
    label: "fetch",
};
const REPLAY: Switch = Switch {
    name: "allow-replay",
    indicator: "is-replaying",
    label: "replay",
};

impl PauseCommand {
    /// The command's name in messages: the name or alias typed.
    pub(crate) fn name(&self) -> &'static str {
        typed_name(match self {
            PauseCommand::PauseFetch(_) => &["pause-fetch", "pause-fetch-local"],
            PauseCommand::ResumeFetch(_) => &["resume-fetch", "resume-fetch-local"],
            PauseCommand::Connect(_) => &["connect", "connect-local"],
            PauseCommand::Disconnect(_) => &["disconnect", "disconnect-local"],
            PauseCommand::PauseReplay(_) => &["pause-replay", "pause-replay-local"],
            PauseCommand::ResumeReplay(_) => &["resume-replay", "resume-replay-local"],
            PauseCommand::Global(_) => &[
                "pause-fetch-global",
                "resume-fetch-global",
                "connect-global",
                "disconnect-global",
                "pause-replay-global",
                "resume-replay-global",
                "pause-sync-global",
                "resume-sync-global",
            ],
        })
    }

    /// This command for one resource of its list.
    pub(crate) fn for_res(&self, res: &str) -> PauseCommand {
        let one = ResArgs {
            res: res.to_string(),
        };
        match self {
            PauseCommand::PauseFetch(_) => PauseCommand::PauseFetch(one),
            PauseCommand::ResumeFetch(_) => PauseCommand::ResumeFetch(one),
            PauseCommand::Connect(_) => PauseCommand::Connect(one),
            PauseCommand::Disconnect(_) => PauseCommand::Disconnect(one),
            PauseCommand::PauseReplay(_) => PauseCommand::PauseReplay(one),
            PauseCommand::ResumeReplay(_) => PauseCommand::ResumeReplay(one),
            PauseCommand::Global(_) => PauseCommand::Global(one),
        }
    }

    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        match self {
            PauseCommand::PauseFetch(a)
            | PauseCommand::ResumeFetch(a)
            | PauseCommand::Connect(a)
            | PauseCommand::Disconnect(a)
            | PauseCommand::PauseReplay(a)
            | PauseCommand::ResumeReplay(a)
            | PauseCommand::Global(a) => &a.res,
        }
    }
}

/// Runs the command for one resource `res`.
pub(crate) fn run(ctx: &Ctx, cmd: &PauseCommand, res: &str) -> CmdResult {
    let (switch, on) = match cmd {
        PauseCommand::PauseFetch(_) | PauseCommand::Disconnect(_) => (FETCH, false),
        PauseCommand::ResumeFetch(_) | PauseCommand::Connect(_) => (FETCH, true),
        PauseCommand::PauseReplay(_) => (REPLAY, false),
        PauseCommand::ResumeReplay(_) => (REPLAY, true),
        PauseCommand::Global(_) => return refuse_global(ctx, res, cmd.name()),
    };
    set_switch(ctx, res, &switch, on, cmd.name())
}

/// `-global`: refused, naming the members to run the local command on.
fn refuse_global(ctx: &Ctx, res: &str, command: &str) -> CmdResult {
    let dir = ctx.existing_res(res)?;
    let members: Vec<String> = ctx
        .tree
        .list(&dir)
        .into_iter()
        .filter_map(|n| n.strip_prefix("data-").map(str::to_string))
        .filter(|h| ctx.tree.exists(&format!("{dir}/data-{h}")))
        .collect();
    Err(Fail::refused(format!(
        "{command} is not supported: each member sets its own switches"
    ))
    .line("our kernel takes todo-<host>/ only from <host> itself, so a switch written here for another member would never reach it")
    .line(format!(
        "run the command without -global on each member of '{res}': {}",
        if members.is_empty() { "(none)".to_string() } else { members.join(", ") }
    )))
}

/// Sets `todo-<host>/<switch>` of `res` to `on` unless it has that value (`_switch`), and
/// after a pause waits until the kernel's indicator is off.
fn set_switch(ctx: &Ctx, res: &str, switch: &Switch, on: bool, command: &str) -> CmdResult {
    let dir = ctx.member_res(res)?;
    let host = ctx.host.as_str();
    let rel = format!("{dir}/todo-{host}/{}", switch.name);
    let value = if on { "1" } else { "0" };
    if ctx.tree.value(&rel).as_deref() == Some(value) {
        println!("{command} on resource {res} is already activated");
    } else {
        let mut batch = Batch::new();
        batch.set_link(&rel, value);
        batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
        ctx.commit(batch)?;
        println!("successfully started {command} on resource {res}");
    }
    if on || ctx.options.force || ctx.options.dry_run {
        return Ok(());
    }
    if !ctx.tree.module_loaded() {
        eprintln!(
            "WARNING: Kernel module not loaded: {command} will become effective after modprobe"
        );
        return Ok(());
    }
    ctx.wait_for(
        &format!(
            "actual-{host}/{} of '{res}' is off (the {} stopped)",
            switch.indicator, switch.label
        ),
        |t| !indicator(t, &dir, host, switch.indicator),
    )
}
