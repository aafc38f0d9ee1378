// SPDX-License-Identifier: GPL-2.0
//! `set-emergency-limit <res> <percent>` and `get-emergency-limit <res>`: the per-resource
//! emergency limit `todo-<host>/emergency-limit` (Documentation/admin-guide.rst, "Emergency
//! mode"). When the free space of `/mars` (after the emergency thresholds) falls below that
//! percentage of `/mars` (after the thresholds), the resource goes into emergency mode on this
//! host although the host is not yet jammed: as its primary it stops logging. 0 (the default)
//! switches the limit off.

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};

/// Arguments of `set-emergency-limit`.
#[derive(clap::Args, Clone)]
pub(crate) struct SetLimitArgs {
    /// The resource, a comma-separated list of resources, or `all` (every resource this host
    /// is member of).
    res: String,
    /// Percent of /mars, 0 (off) to 100.
    percent: String,
}

impl SetLimitArgs {
    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// These arguments for one resource of the list.
    pub(crate) fn for_res(&self, res: &str) -> SetLimitArgs {
        SetLimitArgs {
            res: res.to_string(),
            ..self.clone()
        }
    }
}

/// `set-emergency-limit RES PERCENT`.
pub(crate) fn set_limit(ctx: &Ctx, args: &SetLimitArgs) -> CmdResult {
    let res = args.res.as_str();
    let Some(percent) = mars_core::emergency::parse_limit(&args.percent) else {
        return Err(Fail::refused(format!(
            "percent argument '{}' is not a whole number from 0 to 100",
            args.percent
        )));
    };
    let dir = ctx.member_res(res)?;
    let rel = format!("{dir}/todo-{}/emergency-limit", ctx.host);
    let value = percent.to_string();
    if ctx.tree.value(&rel).as_deref() == Some(value.as_str()) {
        println!("emergency limit of '{res}' is already {value}%");
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.set_link(&rel, &value);
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    if percent == 0 {
        println!("emergency limit of '{res}' switched off");
    } else {
        println!("emergency limit of '{res}' set to {value}% of /mars");
    }
    Ok(())
}

/// `get-emergency-limit RES`: prints the limit (0 when unset).
pub(crate) fn get_limit(ctx: &Ctx, res: &str) -> CmdResult {
    let dir = ctx.member_res(res)?;
    let value = ctx
        .tree
        .value(&format!("{dir}/todo-{}/emergency-limit", ctx.host));
    let percent = value
        .as_deref()
        .and_then(mars_core::emergency::parse_limit)
        .unwrap_or(0);
    println!("{percent}");
    Ok(())
}
