// SPDX-License-Identifier: GPL-2.0
//! `wait-resource <res> <condition>` and `wait-umount <res>`: wait (up to `--timeout`) until
//! a switch or an indicator of this host has a value (the original's `wait_cond`,
//! `wait_umount_res`). For scripts: exit 0 once it holds, 3 when `--timeout` passed first.

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::Tree;
use mars_core::tree_value::NONE_VALUE;

/// Arguments of `wait-resource`.
#[derive(clap::Args, Clone)]
pub(crate) struct WaitResourceArgs {
    /// The resource, a comma-separated list of resources, or `all`.
    res: String,
    /// `[is-|has-|todo-]<what>[-on|-off|-1|-0]`: a switch (attach, fetch/connect, replay,
    /// sync, primary, secondary; default -on) or with is-/has- an indicator (attach(ed),
    /// replay(ing), fetch(ing), copy(ing), sync(ing), primary, secondary, device).
    condition: String,
}

impl WaitResourceArgs {
    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// These arguments for one resource of the list.
    pub(crate) fn for_res(&self, res: &str) -> WaitResourceArgs {
        WaitResourceArgs {
            res: res.to_string(),
            ..self.clone()
        }
    }
}

/// What `wait-resource` waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    /// `todo-<host>/<switch>` is `on`.
    Switch { switch: &'static str, on: bool },
    /// `primary` names this host (`on`) or not.
    Designated { on: bool },
    /// `primary` is `(none)` (`on`) or not.
    NoneDesignated { on: bool },
    /// `actual-<host>/<indicator>` is `on`.
    Indicator { name: &'static str, on: bool },
}

/// Parses a condition (`wait_cond`).
fn parse_condition(text: &str) -> Result<Condition, Fail> {
    let (is_actual, rest) = match text
        .strip_prefix("is-")
        .or_else(|| text.strip_prefix("has-"))
    {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix("todo-").unwrap_or(text)),
    };
    let (what, on) = if let Some(w) = rest
        .strip_suffix("-off")
        .or_else(|| rest.strip_suffix("-0"))
    {
        (w, false)
    } else {
        let w = rest
            .strip_suffix("-on")
            .or_else(|| rest.strip_suffix("-1"))
            .unwrap_or(rest);
        (w, true)
    };
    if is_actual {
        let name = match what {
            "device" => "if-on",
            "attach" | "attached" => "is-attached",
            "replay" | "replaying" => "is-replaying",
            "fetch" | "fetching" | "copy" | "copying" => "is-copying",
            "sync" | "syncing" => "is-syncing",
            "primary" => "is-primary",
            "secondary" => {
                return Ok(Condition::Indicator {
                    name: "is-primary",
                    on: !on,
                })
            }
            _ => {
                return Err(Fail::refused(format!(
                    "actual indicator '{what}' does not exist"
                )))
            }
        };
        return Ok(Condition::Indicator { name, on });
    }
    Ok(match what {
        "attach" | "attached" => Condition::Switch {
            switch: "attach",
            on,
        },
        "fetch" | "connect" => Condition::Switch {
            switch: "connect",
            on,
        },
        "replay" => Condition::Switch {
            switch: "allow-replay",
            on,
        },
        "sync" => Condition::Switch { switch: "sync", on },
        "primary" => Condition::Designated { on },
        "secondary" => Condition::NoneDesignated { on },
        _ => return Err(Fail::refused(format!("button '{what}' does not exist"))),
    })
}

/// Whether `condition` holds for `host` in resource directory `dir`.
fn holds(tree: &Tree, dir: &str, host: &str, condition: &Condition) -> bool {
    match *condition {
        Condition::Switch { switch, on } => {
            let value = tree.value(&format!("{dir}/todo-{host}/{switch}"));
            let is_on = value.is_some_and(|v| v.trim().parse::<i64>().unwrap_or(0) != 0);
            is_on == on
        }
        Condition::Designated { on } => {
            (tree.value(&format!("{dir}/primary")).as_deref() == Some(host)) == on
        }
        Condition::NoneDesignated { on } => {
            let primary = tree.value(&format!("{dir}/primary"));
            (primary.is_none() || primary.as_deref() == Some(NONE_VALUE)) == on
        }
        Condition::Indicator { name, on } => indicator(tree, dir, host, name) == on,
    }
}

/// `wait-resource RES CONDITION`.
pub(crate) fn wait_resource(ctx: &Ctx, args: &WaitResourceArgs) -> CmdResult {
    wait_condition(ctx, &args.res, &args.condition)?;
    println!(
        "OK, '{}' holds for '{}' on '{}'",
        args.condition, args.res, ctx.host
    );
    Ok(())
}

/// Waits (up to `--timeout`) until `condition` holds for `res` on this host, silent when it
/// holds (`wait-resource`; the macros `%wait-resource{}` and `%wait-{is,todo}-<what>-{on,off}{}`).
pub(crate) fn wait_condition(ctx: &Ctx, res: &str, condition: &str) -> CmdResult {
    let parsed = parse_condition(condition)?;
    let dir = ctx.member_res(res)?;
    let host = ctx.host.clone();
    ctx.wait_for(
        &format!("'{condition}' holds for '{res}' on '{host}'"),
        |tree| holds(tree, &dir, &host, &parsed),
    )
}

/// `wait-umount RES`: until `/dev/mars/<name>` is open nowhere on this host
/// (`actual-<host>/open-count` 0 or missing).
pub(crate) fn wait_umount(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    let host = ctx.host.clone();
    let rel = format!("{dir}/actual-{host}/open-count");
    ctx.wait_for(
        &format!("the device of '{}' is not in use on '{host}'", args.res),
        |tree| {
            tree.value(&rel)
                .is_none_or(|v| v.trim().parse::<i64>().unwrap_or(0) == 0)
        },
    )?;
    println!("OK, device for resource '{}' is not in use.", args.res);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_as_the_original() {
        let sw = |switch, on| Condition::Switch { switch, on };
        let ind = |name, on| Condition::Indicator { name, on };
        assert_eq!(parse_condition("attach").unwrap(), sw("attach", true));
        assert_eq!(parse_condition("fetch-off").unwrap(), sw("connect", false));
        assert_eq!(
            parse_condition("todo-replay-0").unwrap(),
            sw("allow-replay", false)
        );
        assert_eq!(parse_condition("sync-on").unwrap(), sw("sync", true));
        assert_eq!(
            parse_condition("primary").unwrap(),
            Condition::Designated { on: true }
        );
        assert_eq!(
            parse_condition("secondary-off").unwrap(),
            Condition::NoneDesignated { on: false }
        );
        assert_eq!(
            parse_condition("is-attached").unwrap(),
            ind("is-attached", true)
        );
        assert_eq!(
            parse_condition("is-copying-off").unwrap(),
            ind("is-copying", false)
        );
        assert_eq!(
            parse_condition("has-device-on").unwrap(),
            ind("if-on", true)
        );
        assert_eq!(
            parse_condition("is-secondary").unwrap(),
            ind("is-primary", false)
        );
        assert!(parse_condition("is-bogus").is_err());
        assert!(parse_condition("bogus").is_err());
        assert!(parse_condition("").is_err());
    }
}
