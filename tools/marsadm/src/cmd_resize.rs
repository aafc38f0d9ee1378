// SPDX-License-Identifier: GPL-2.0
//! `resize <res> [size]`: grow a resource online after every member's disk grew (the original's
//! `resize_phase0..2`).
//!
//! The kernel publishes the size of each member's attached data device in
//! `actsize-<host>`; the new size is their minimum (or the size given, which must not exceed
//! it). Only growing is possible: MARS cannot shrink what a filesystem above may use. On the
//! actual primary marsadm writes `syncstatus-<host>` = the new size first (its data are
//! authoritative for the new range), then `size`; the kernel grows `/dev/mars/<name>` at once
//! (udev hears a change uevent), and every secondary, whose `syncstatus` is now below `size`,
//! runs an incremental full sync of the new range from the primary before it replays again.

use crate::cmd_resource::parse_size;
use crate::cmd_switch::indicator;
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::tree_value::is_tombstone;

/// Arguments of `resize`.
#[derive(clap::Args, Clone)]
pub(crate) struct ResizeArgs {
    /// The resource, a comma-separated list of resources, or `all`.
    res: String,
    /// The new size in bytes, or with a unit (k, m, g, t, p: powers of 1000; K, M, G, T, P:
    /// powers of 1024), a multiple of 4096. Default: the minimum of the members' disks
    /// (`actsize-*`).
    size: Option<String>,
}

impl ResizeArgs {
    /// The resource argument (a name, a list or `all`).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// These arguments for one resource of the list.
    pub(crate) fn for_res(&self, res: &str) -> ResizeArgs {
        ResizeArgs {
            res: res.to_string(),
            ..self.clone()
        }
    }
}

/// The minimum of the members' `actsize-*` (`get_possible_size`); links of hosts without a
/// `data-` link are stray and skipped. `None`: no member published its size.
fn possible_size(ctx: &Ctx, dir: &str) -> Result<Option<u64>, Fail> {
    let mut min: Option<u64> = None;
    for name in ctx.tree.list(dir) {
        let Some(peer) = name.strip_prefix("actsize-") else {
            continue;
        };
        let Some(link) = ctx.tree.link(&format!("{dir}/{name}")) else {
            continue;
        };
        if is_tombstone(&link.value) {
            continue;
        }
        if ctx.tree.value(&format!("{dir}/data-{peer}")).is_none() {
            eprintln!(
                "WARNING: skipping stray actsize link '{name}' since 'data-{peer}' does not exist"
            );
            continue;
        }
        let size = link.value.trim().parse::<u64>().map_err(|_| {
            Fail::refused(format!(
                "'{dir}/{name}' holds '{}', not a size in bytes",
                link.value
            ))
        })?;
        min = Some(min.map_or(size, |m| m.min(size)));
    }
    Ok(min)
}

/// The size of `/dev/mars/<name>` in bytes from sysfs (`_get_mars_size`); `None` when the
/// device is not there.
fn device_size(name: &str) -> Option<u64> {
    let path = format!("/sys/class/block/mars!{name}/size");
    let sectors = std::fs::read_to_string(path).ok()?;
    sectors.trim().parse::<u64>().ok()?.checked_mul(512)
}

/// `resize RES [SIZE]`.
pub(crate) fn resize(ctx: &Ctx, args: &ResizeArgs) -> CmdResult {
    let res = args.res.as_str();
    if !ctx.tree.module_loaded() {
        return Err(Fail::refused(
            "mars kernel module is not loaded. This is needed for communication with some other hosts!",
        ));
    }
    let wanted = match args.size.as_deref() {
        Some(arg) => {
            let size = parse_size(arg)?;
            if size == 0 {
                return Err(Fail::refused(format!(
                    "optional size argument '{arg}' must be numeric and positive"
                )));
            }
            Some(size)
        }
        None => None,
    };
    let dir = ctx.member_res(res)?;
    let host = ctx.host.as_str();
    let is_primary =
        indicator(&ctx.tree, &dir, host, "is-primary") || indicator(&ctx.tree, &dir, host, "if-on");
    if !is_primary {
        return Err(
            Fail::refused("Operation 'resize' only works at the primary side")
                .line(format!(
                    "actual-{host}/is-primary is not 1: the kernel does not run '{res}' as primary here"
                )),
        );
    }
    if ctx.designated_primary(&dir).as_deref() != Some(host) {
        eprintln!("WARNING: For operation 'resize', I also must be the designated primary");
    }
    let old = ctx
        .tree
        .value(&format!("{dir}/size"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            Fail::refused(format!(
                "resource '{res}' has no valid size link: cannot resize"
            ))
        })?;
    let possible = possible_size(ctx, &dir)?.ok_or_else(|| {
        Fail::refused(format!("resource '{res}' has no actsize-* links"))
            .line("the kernel publishes actsize-<host> on every member whose disk is attached")
    })?;
    let new = wanted.unwrap_or(possible);
    println!("old size: {old} bytes, possible size (minimum of all members' disks): {possible} bytes, new size: {new} bytes");
    if new > possible {
        // As the original: no override with --force.
        return Err(Fail::refused(format!(
            "new size {new} is higher than the possible size (minimum of all volumes) {possible}"
        ))
        .line("grow the disks of every member first (e.g. lvresize), then wait until each one's actsize-<host> shows it"));
    }
    if new < old {
        return Err(Fail::refused(format!(
            "only increases of the size are possible! (new size {new} < current size {old})"
        ))
        .line("MARS cannot shrink a resource: a filesystem on it may use the whole device"));
    }
    if new == old {
        println!("resource '{res}' has already size {old}: nothing to do");
        return Ok(());
    }
    let mine = ctx
        .tree
        .value(&format!("{dir}/actsize-{host}"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if mine > new {
        eprintln!("WARNING: You are wasting {} bytes locally", mine - new);
    }
    // The primary's data are authoritative for the new range: its syncstatus first, then size
    // (in this order, stamped in this order).
    let mut batch = Batch::new();
    batch.set_link(&format!("{dir}/syncstatus-{host}"), &new.to_string());
    batch.set_link(&format!("{dir}/size"), &new.to_string());
    batch.add_trigger(trigger::LOCAL | trigger::TO_REMOTE);
    ctx.commit(batch)?;
    println!(
        "resource '{res}' resized from {old} to {new} bytes; its secondaries sync the new range"
    );
    if ctx.options.dry_run || ctx.options.force || ctx.tree.testing {
        return Ok(());
    }
    let name = ctx
        .device_name(&dir, res)
        .trim_start_matches("/dev/mars/")
        .to_string();
    let mut last = None;
    ctx.wait_for(&format!("/dev/mars/{name} has {new} bytes"), |_| {
        last = device_size(&name);
        // Some device types round: a change that stops short counts (as the original).
        last.is_some_and(|s| s == new || (s != old && s > old))
    })?;
    if let Some(size) = last.filter(|&s| s != new) {
        eprintln!("WARNING: /dev/mars/{name} has {size} bytes, not {new}: assuming rounding");
    } else {
        println!("Device size is now {new}.");
    }
    Ok(())
}
