// SPDX-License-Identifier: GPL-2.0
//! `activate-guest` and `deactivate-guest`.
//!
//! In the original a guest is a host with a `device-<host>` link but no storage
//! (`data-<host>`) in a resource: its kernel then fetches that resource's links more often,
//! and `activate-guest` is "a conditional update-cluster" that makes the resource known here.
//! Our kernel fetches every resource's links from every member at every pull, so there is no
//! guest to mark: `activate-guest` asks every peer for news and waits for them (as
//! `update-cluster`), then succeeds when the resource is known here, and writes nothing. It
//! does not write `device-<host>`: to our kernel and to marsadm that link means membership
//! (the logfiles of the resource are served to its members; `leave-cluster` refuses while a
//! `device-<host>` is left). `deactivate-guest` refuses on a storage member as the original
//! does, and deletes a guest's `device-<host>` left by the original (a tree taken over from
//! it); otherwise it has nothing to do.

use crate::cmd_switch::ResArgs;
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::Batch;
use mars_core::tree_value::is_tombstone;

/// `activate-guest <res>`.
pub(crate) fn activate_guest(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.res_dir(res)?;
    crate::cmd_cluster::wait_cluster(ctx)?;
    if !ctx.tree.is_dir(&dir) || ctx.resource_deleted(&dir) {
        return Err(
            Fail::refused(format!("Could not get resource name '{res}'"))
                .line("no member of the cluster knows it (create-resource first)"),
        );
    }
    println!("resource '{res}' is known here; every host receives the links of every resource, no guest link is needed");
    Ok(())
}

/// `deactivate-guest <res>`.
pub(crate) fn deactivate_guest(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.res_dir(res)?;
    if !ctx.tree.is_dir(&dir) {
        return Err(Fail::refused(format!(
            "resource directory '{}' does not exist.",
            ctx.tree.path(&dir).display()
        )));
    }
    let host = &ctx.host;
    let present = |rel: &str| ctx.tree.value(rel).is_some_and(|v| !is_tombstone(&v));
    if present(&format!("{dir}/data-{host}")) || present(&format!("{dir}/replay-{host}")) {
        return Err(Fail::refused(format!(
            "peer '{host}' is a storage member of resource '{res}'"
        ))
        .line("use leave-resource"));
    }
    let device = format!("{dir}/device-{host}");
    if !present(&device) {
        println!("host '{host}' is no guest of resource '{res}': nothing to do");
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.delete(&device);
    batch.add_trigger(crate::tree_io::trigger::TO_REMOTE_ALL);
    ctx.commit(batch)
}
