// SPDX-License-Identifier: GPL-2.0
//! `marsadm primary <res>` and `marsadm secondary <res>`: the designated primary.
//!
//! `primary` (planned, not forced; this host's part only): refused unless the module is loaded,
//! this host's sync is complete (`syncstatus-<host>` = `size`), `todo-<host>/{attach,connect,
//! allow-replay}` are on and the replay has no error (`replay-code` < 0). Then it writes
//!
//! ```text
//! primary                   <host>
//! userspace/prev-primary    <old last-primary>   (old value and stamp: a rename)
//! userspace/last-primary    <host>
//! ```
//!
//! waits for `/dev/mars/<name>` (`actual-<host>/if-on` = 1) and turns on whatever `up` would.
//! A planned handover is refused (`mars_core::replica::check_handover`) unless every other
//! member is alive and has the device closed; it then only writes the `primary` link. The
//! kernels hand over by themselves (`release_step` on the old primary, `takeover_step` here:
//! every peer acknowledges the new designation in `actual-<host>/primary-ack`, and this host
//! fetches and replays everything the old primary logged before it starts logging), so the
//! wait for the device covers the whole handover and ends with a refusal after `--timeout`.
//!
//! `primary --force` (forced failover, [`primary_forced`]): for when the old primary is gone
//! or unreachable. It checks what the original checks (module loaded, sync finished here,
//! `attach` and `replay` on), warns where the original warns (the old primary is alive, its
//! device is open: a split brain is being made), then switches this host's fetch off
//! (`todo-<host>/connect` = 0, which the original demands the operator did with
//! `pause-fetch`; designated primary + fetch off is the kernel's sign of a forced failover)
//! and, after that is written, sets `primary` as above, without asking the old primary
//! anything. The kernel applies what it has of the old primary's logfiles and starts a
//! fresh logfile with the next number: a new branch of the version chain. Then it waits for
//! the device and does what `up` does.
//!
//! With a unit stack (`systemd-start-unit`/`-stop-unit` set, Documentation/systemd.rst),
//! systemd closes the device: a planned `primary` first checks everything else, then moves
//! `systemd-want` here and waits until the old primary's stack closed the device
//! (`cmd_systemd::move_stack_here`) before it checks again and writes `primary`; `--force`
//! writes `systemd-want` with `primary`; both wait at the end until the stack has opened the
//! device here. `secondary` first sets `systemd-want` = `(none)` and waits likewise.
//!
//! `secondary` writes `primary` = `(none)` stamped one nanosecond after the link it replaces
//! (not with the current time): a concurrent `primary` elsewhere, which is stamped with the
//! current time, wins the merge. It is refused while the device is open on the primary.
//! Then it waits for the device to disappear.

use crate::cmd_switch::{self, indicator, ResArgs, SwitchCmd};
use crate::cmd_systemd;
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::systemd_trigger;
use crate::tree_io::Batch;
use mars_core::replica::{check_handover, HandoverRefusal, PeerFacts};
use mars_core::tree_value::{DELETED, NONE_VALUE};

fn todo_on(ctx: &Ctx, dir: &str, res: &str, name: &str, command_name: &str) -> CmdResult {
    let value = ctx
        .tree
        .value(&format!("{dir}/todo-{}/{name}", ctx.host))
        .unwrap_or_default();
    if value != "1" {
        return Err(Fail::refused(format!(
            "Cannot execute primary on resource {res}: todo-switch '{command_name}' must be on, but actually has value '{value}'."
        ))
        .line(format!("Use '{}' and/or wait until it has really succeeded.", if name == "attach" { "attach" } else { "up" })));
    }
    Ok(())
}

/// `check_sync_finished` for this host.
fn check_sync_finished(ctx: &Ctx, dir: &str, res: &str) -> CmdResult {
    let host = &ctx.host;
    let number = |rel: String| {
        ctx.tree
            .value(&rel)
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let size = number(format!("{dir}/size")).unwrap_or(0);
    let synced = number(format!("{dir}/syncstatus-{host}")).unwrap_or(0);
    if size == 0 || synced < size {
        return Err(Fail::refused(format!(
            "Sync has not yet finished on host '{host}' ({synced} of {size} bytes of '{res}')"
        ))
        .line(format!(
            "Refusing to switch inconsistent host '{host}' to primary"
        ))
        .line("Please wait until sync has finished and all logfiles have been replayed."));
    }
    Ok(())
}

/// The original's `check_sync_finished` for the other secondaries (more than two members):
/// a handover while one of them still syncs restarts its sync from the new primary, so it
/// is refused unless `--ignore-sync` (or `--force`); a member not heard from within twice
/// `--window` does not count.
fn check_others_synced(ctx: &Ctx, dir: &str, res: &str, old: Option<&str>) -> CmdResult {
    let tree = &ctx.tree;
    let members: Vec<String> = tree
        .list(dir)
        .into_iter()
        .filter_map(|n| n.strip_prefix("data-").map(str::to_string))
        .filter(|h| {
            tree.value(&format!("{dir}/data-{h}"))
                .is_some_and(|v| !mars_core::tree_value::is_tombstone(&v))
        })
        .collect();
    if members.len() <= 2 {
        return Ok(());
    }
    let allow = ctx.options.force || ctx.options.ignore_sync;
    if allow {
        println!(
            "Allowing handover in cases of sync: force={} ignore_sync={}",
            u8::from(ctx.options.force),
            u8::from(ctx.options.ignore_sync)
        );
    }
    let number = |rel: String| tree.value(&rel).and_then(|v| v.trim().parse::<u64>().ok());
    let size = number(format!("{dir}/size")).unwrap_or(0);
    for peer in &members {
        if *peer == ctx.host || Some(peer.as_str()) == old {
            continue;
        }
        let alive = tree
            .link(&format!("actual-{peer}/time"))
            .or_else(|| tree.link(&format!("{dir}/actual-{peer}/time")))
            .is_some_and(|l| ctx.is_recent(l.stamp));
        let synced = number(format!("{dir}/syncstatus-{peer}")).unwrap_or(0);
        if synced >= size && size > 0 {
            continue;
        }
        eprintln!("WARNING: Sync has not yet finished on host '{peer}' ({synced} of {size} bytes)");
        eprintln!("WARNING: Changing the primary role during sync is dangerous for data consistency on host '{peer}'!");
        if !allow && alive {
            return Err(Fail::refused(format!(
                "First wait for sync finished on '{peer}' before primary handover of '{res}', or use --ignore-sync"
            ))
            .line("HINT: consider the option --ignore-sync if you are sure that you want to restart the sync"));
        }
    }
    Ok(())
}

fn open_count(ctx: &Ctx, dir: &str, host: &str) -> i64 {
    ctx.tree
        .value(&format!("{dir}/actual-{host}/open-count"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Makes this host the designated primary: `primary`, `userspace/prev-primary` (the old
/// `last-primary`, value and stamp: a rename) and `userspace/last-primary`, in one batch.
/// With `stack` (a forced failover of a resource with a unit stack), `systemd-want` moves
/// here in the same batch.
fn designate(ctx: &Ctx, dir: &str, designated: Option<&str>, how: &str, stack: bool) -> CmdResult {
    let host = ctx.host.as_str();
    let last = ctx.tree.link(&format!("{dir}/userspace/last-primary"));
    let mut batch = Batch::new();
    batch.set_link(&format!("{dir}/primary"), host);
    if stack {
        batch.set_link(&format!("{dir}/systemd-want"), host);
    }
    if let Some(last) = &last {
        batch.set_link_stamped(
            &format!("{dir}/userspace/prev-primary"),
            &last.value,
            last.stamp,
        );
    }
    batch.set_link(&format!("{dir}/userspace/last-primary"), host);
    ctx.commit(batch)?;
    if systemd_trigger::configured(ctx, dir) {
        systemd_trigger::touch(ctx, dir);
    }
    println!(
        "designated primary changed from '{}' to '{host}'{how}",
        designated.unwrap_or(NONE_VALUE)
    );
    Ok(())
}

/// Waits until the kernel shows `/dev/mars/<name>` here (`actual-<host>/if-on` = 1).
fn wait_for_device(ctx: &Ctx, dir: &str, res: &str) -> CmdResult {
    let host = ctx.host.as_str();
    let device = ctx.device_name(dir, res);
    ctx.wait_for(
        &format!("device '{device}' appears (actual-{host}/if-on = 1)"),
        |t| indicator(t, dir, host, "if-on"),
    )?;
    println!("device '{device}' is present");
    Ok(())
}

pub(crate) fn primary(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    if ctx.options.force {
        return primary_forced(ctx, args);
    }
    if !tree.module_loaded() {
        return Err(Fail::refused(
            "cannot switch primary: mars kernel module is not loaded",
        ));
    }
    let designated = ctx.designated_primary(&dir);
    let last = tree.link(&format!("{dir}/userspace/last-primary"));
    let previous = designated
        .clone()
        .or_else(|| last.as_ref().map(|l| l.value.clone()))
        .filter(|p| p != NONE_VALUE);
    println!(
        "Current designated primary: {}",
        designated.as_deref().unwrap_or(NONE_VALUE)
    );
    if designated.as_deref() != Some(host) {
        check_sync_finished(ctx, &dir, res)?;
        check_others_synced(ctx, &dir, res, previous.as_deref())?;
    }
    todo_on(ctx, &dir, res, "attach", "attach")?;
    todo_on(ctx, &dir, res, "connect", "fetch")?;
    todo_on(ctx, &dir, res, "allow-replay", "replay")?;
    let code = tree
        .value(&format!("{dir}/actual-{host}/replay-code"))
        .and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(code) = code.filter(|c| *c < 0) {
        return Err(Fail::refused(format!(
            "Logfile replay / recovery stopped with error code {code}."
        ))
        .line("Won't switch to avoid unnoticed data loss."));
    }

    let stack = systemd_trigger::configured(ctx, &dir);
    if designated.as_deref() == Some(host) {
        println!("host '{host}' is already the designated primary of resource '{res}'");
        if stack {
            cmd_systemd::move_stack_here(ctx, &dir, res, None)?;
        }
    } else {
        let old = previous.as_deref().filter(|p| *p != host);
        if stack {
            // Everything but the old primary's open device must allow the handover before
            // its stack is stopped; systemd there closes the device.
            check_handover_peers(ctx, &dir, res, old, old)?;
            cmd_systemd::move_stack_here(ctx, &dir, res, old)?;
        }
        if !(stack && ctx.options.dry_run) {
            check_handover_peers(ctx, &dir, res, old, None)?;
        }
        designate(ctx, &dir, designated.as_deref(), "", false)?;
    }
    if ctx.options.dry_run {
        return Ok(());
    }
    wait_for_device(ctx, &dir, res)?;
    // The new switch semantics: a primary is up.
    cmd_switch::run(ctx, SwitchCmd::Up, args)?;
    if stack {
        cmd_systemd::wait_stack_here(ctx, &dir, res)?;
    }
    Ok(())
}

/// `primary --force`: see the module documentation.
fn primary_forced(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    if !tree.module_loaded() {
        return Err(Fail::refused(
            "cannot switch primary: mars kernel module is not loaded",
        ));
    }
    let designated = ctx.designated_primary(&dir);
    println!(
        "Current designated primary: {}",
        designated.as_deref().unwrap_or(NONE_VALUE)
    );
    let already = designated.as_deref() == Some(host);
    if !already {
        check_sync_finished(ctx, &dir, res)?;
    }
    todo_on(ctx, &dir, res, "attach", "attach")?;
    todo_on(ctx, &dir, res, "allow-replay", "replay")?;
    let code = tree
        .value(&format!("{dir}/actual-{host}/replay-code"))
        .and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(code) = code.filter(|c| *c < 0) {
        eprintln!(
            "WARNING: Logfile replay / recovery stopped with error code {code}: forced anyway."
        );
    }
    if let Some(old) = designated.as_deref().filter(|o| *o != host) {
        let alive = tree
            .link(&format!("actual-{old}/time"))
            .is_some_and(|t| ctx.is_recent(t.stamp))
            && tree.value(&format!("actual-{old}/alive")).as_deref() == Some("1");
        let count = open_count(ctx, &dir, old);
        if count != 0 {
            eprintln!(
                "WARNING: device '{}' for resource '{res}' is {count} times in use on primary host '{old}'",
                ctx.device_name(&dir, res)
            );
        }
        if alive {
            eprintln!("WARNING: '{old}' is alive: you are forcing a SPLIT BRAIN right now.");
            eprintln!("WARNING: a planned handover ('primary' without --force) would avoid it.");
        } else {
            eprintln!(
                "WARNING: '{old}' is not reachable: its writes since the last transfer here will"
            );
            eprintln!("WARNING: form a SPLIT BRAIN; resolve it later with 'invalidate' on the losing side.");
        }
    }
    // Fetch off first, and committed before `primary`: the kernel must never see this host
    // designated with fetch still on, which is a planned takeover that waits for the old one.
    let connect = format!("{dir}/todo-{host}/connect");
    if !already && tree.value(&connect).as_deref() != Some("0") {
        let mut batch = Batch::new();
        batch.set_link(&connect, "0");
        ctx.commit(batch)?;
        println!("successfully started pause-fetch-local on resource {res} (forced failover)");
    }
    let stack = systemd_trigger::configured(ctx, &dir);
    if already {
        println!("host '{host}' is already the designated primary of resource '{res}'");
        if stack {
            cmd_systemd::move_stack_here(ctx, &dir, res, None)?;
        }
    } else {
        designate(ctx, &dir, designated.as_deref(), " (forced)", stack)?;
    }
    if ctx.options.dry_run {
        return Ok(());
    }
    wait_for_device(ctx, &dir, res)?;
    // As the original: the primary is up (this also turns fetch on again; a logging primary
    // does not fetch, and a later planned handover needs it on).
    cmd_switch::run(ctx, SwitchCmd::Up, args)?;
    if stack {
        cmd_systemd::wait_stack_here(ctx, &dir, res)?;
    }
    Ok(())
}

/// The checks of a planned handover (`mars_core::replica::check_handover`): every other
/// member of the resource must be reachable (a recent heartbeat) and the device closed on each
/// (`open-count`), above all on the current primary `old`. Then the command only writes the
/// `primary` link: the kernels do the rest (`release_step` on the old primary: wait for
/// writeback, write the final version link, stop logging, acknowledge; `takeover_step` here:
/// wait for every peer's acknowledgement of this designation and until everything the old
/// primary logged is fetched and replayed, then start the next logfile).
///
/// `ignore_open`: a host whose open device does not count (the old primary, whose unit stack
/// systemd is about to stop).
fn check_handover_peers(
    ctx: &Ctx,
    dir: &str,
    res: &str,
    old: Option<&str>,
    ignore_open: Option<&str>,
) -> CmdResult {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let mut members: Vec<String> = tree
        .list(dir)
        .into_iter()
        .filter_map(|name| name.strip_prefix("data-").map(str::to_string))
        .filter(|h| {
            h != host
                && tree
                    .value(&format!("{dir}/data-{h}"))
                    .is_some_and(|v| !v.is_empty() && v != DELETED)
        })
        .collect();
    // The old primary is checked also when it is no member (any more).
    if let Some(old) = old.filter(|o| !members.iter().any(|m| m == o)) {
        members.push(old.to_string());
    }
    // The old primary first: its refusal is the one that matters most.
    members.sort_by_key(|h| Some(h.as_str()) != old);
    let facts: Vec<PeerFacts<'_>> = members
        .iter()
        .map(|h| {
            let reachable = tree.link(&format!("actual-{h}/time")).is_some_and(|t| {
                ctx.is_recent(t.stamp)
                    && tree.value(&format!("actual-{h}/alive")).as_deref() == Some("1")
            });
            PeerFacts {
                host: h,
                reachable,
                ack: None,
                device_open: open_count(ctx, dir, h) != 0 && Some(h.as_str()) != ignore_open,
            }
        })
        .collect();
    let role = |peer: &str| {
        if Some(peer) == old {
            format!("the current primary '{peer}'")
        } else {
            format!("member '{peer}'")
        }
    };
    match check_handover(false, &facts) {
        Ok(()) => Ok(()),
        Err((HandoverRefusal::DeviceInUse, Some(peer))) => Err(Fail::refused(format!(
            "device '{}' is {} times in use on {}",
            ctx.device_name(dir, res),
            open_count(ctx, dir, peer),
            role(peer)
        ))
        .line(format!("first umount/close it on host '{peer}'"))),
        Err((HandoverRefusal::PeerUnreachable, Some(peer))) => Err(Fail::refused(format!(
            "{} of '{res}' is not reachable (no recent heartbeat from it)",
            role(peer)
        ))
        .line("a planned handover needs every member; use 'primary --force' only if it is really gone")),
        Err((refusal, _)) => Err(Fail::refused(refusal.message())),
    }
}

pub(crate) fn secondary(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let rel = format!("{dir}/primary");
    let designated = ctx.designated_primary(&dir);
    println!(
        "Current designated primary: {}",
        designated.as_deref().unwrap_or(NONE_VALUE)
    );
    let stack = systemd_trigger::configured(ctx, &dir);
    match (&designated, tree.link(&rel)) {
        (Some(old), Some(link)) => {
            if stack {
                // systemd on the old primary stops the stack and closes the device.
                cmd_systemd::stop_stack(ctx, &dir, res, Some(old))?;
            }
            let count = open_count(ctx, &dir, old);
            if count != 0 && !ctx.options.force && !(stack && ctx.options.dry_run) {
                return Err(Fail::refused(format!(
                    "device '{}' for resource '{res}' is {count} times in use on primary host '{old}'",
                    ctx.device_name(&dir, res)
                ))
                .line(format!("first you must umount/close the device (on host '{old}')")));
            }
            let mut batch = Batch::new();
            // One nanosecond after the old value: a concurrent `primary` (stamped now) wins.
            batch.set_link_stamped(&rel, NONE_VALUE, link.stamp.add_nsec(1));
            ctx.commit(batch)?;
            if stack {
                systemd_trigger::touch(ctx, &dir);
            }
            println!("designated primary changed from '{old}' to '{NONE_VALUE}'");
        }
        _ => {
            println!("resource '{res}' has no designated primary");
            if stack {
                cmd_systemd::stop_stack(ctx, &dir, res, None)?;
            }
        }
    }
    if ctx.options.dry_run || ctx.options.force {
        return Ok(());
    }
    if !tree.module_loaded() {
        eprintln!(
            "WARNING: Kernel module not loaded: the change will become effective after modprobe"
        );
        return Ok(());
    }
    if let Some(old) = designated.as_deref().filter(|o| *o != host) {
        ctx.wait_for(
            &format!("host '{old}' reports actual-{old}/is-primary = 0"),
            |t| {
                t.value(&format!("{dir}/actual-{old}/is-primary"))
                    .as_deref()
                    == Some("0")
            },
        )?;
    }
    let device = ctx.device_name(&dir, res);
    ctx.wait_for(
        &format!("device '{device}' disappears (actual-{host}/if-on = 0)"),
        |t| !indicator(t, &dir, host, "if-on"),
    )?;
    println!("device '{device}' is no longer present");
    Ok(())
}
