// SPDX-License-Identifier: GPL-2.0
//! `set-systemd-unit`, `get-systemd-unit`, `set-systemd-want`, `get-systemd-want`, and what
//! `primary`, `secondary` and `leave-resource` do to the unit stack
//! (Documentation/systemd.rst).
//!
//! The tree keys, all cluster-wide (any member writes them, the newest stamp wins):
//!
//! ```text
//! resource-<res>/systemd-start-unit   the unit started where the stack runs (its top)
//! resource-<res>/systemd-stop-unit    the unit stopped elsewhere (its bottom)
//! resource-<res>/systemd-want         the host where the stack should run, or (none)
//! resource-<res>/systemd-trigger      a regular file, touched when these or primary change
//! resource-<res>/userspace/systemd-status-<start|stop>-<host>   exit code of the last try
//! ```
//!
//! A planned `primary` moves `systemd-want` to this host first and waits until the old
//! primary's stack has closed the device (its kernel reports `open-count` 0), re-stamping
//! `systemd-want` every [`RESTAMP_SECS`] so that a lost trigger is repeated; when that does
//! not happen within `--timeout`, `systemd-want` goes back to the old primary (the stack
//! restarts there, the original's compensation) and the command exits 3. After the device
//! appeared here it touches the trigger and waits until the stack has opened the device here.

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail, EXIT_NOT_CONFIRMED};
use crate::systemd_template::{escape_path, is_marker_word};
use crate::systemd_trigger::{self, configured, touch, unit_links};
use crate::systemd_units::{self, Paths, SUFFIXES};
use crate::tree_io::{Batch, Tree};
use mars_core::names::check_name;
use mars_core::tree_value::{DELETED, NONE_VALUE};
use std::time::{Duration, Instant};

/// How often a waiting `primary` / `secondary` / `set-systemd-want` re-stamps
/// `systemd-want`, so that the kernels touch the trigger files again.
pub(crate) const RESTAMP_SECS: u64 = 10;
/// How often a waiting command touches the local trigger file again.
const RETOUCH_SECS: u64 = 5;

/// Arguments of `set-systemd-unit`.
#[derive(clap::Args)]
pub(crate) struct SetUnitArgs {
    /// The resource.
    pub(crate) res: String,
    /// The unit started where the stack should run (the top of the stack), or a marker word
    /// such as DEFAULT (the unit of the template marked `# DEFAULT_START`). Omitted or empty:
    /// remove the configuration (the stack stops and its units are removed on every host).
    pub(crate) start: Option<String>,
    /// The unit stopped where the stack should not run (the bottom of the stack), or a
    /// marker word (`# <WORD>_STOP`). Default: the `_STOP` template of the start marker word,
    /// else the start unit.
    pub(crate) stop: Option<String>,
}

/// Arguments of `set-systemd-want`.
#[derive(clap::Args)]
pub(crate) struct SetWantArgs {
    /// The resource.
    pub(crate) res: String,
    /// The host where the stack should run, or `(none)` (stopped everywhere).
    pub(crate) host: String,
}

fn rel(dir: &str, name: &str) -> String {
    format!("{dir}/systemd-{name}")
}

fn open_count(tree: &Tree, dir: &str, host: &str) -> i64 {
    tree.value(&format!("{dir}/actual-{host}/open-count"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `host` reported recently (this host always counts as alive).
fn alive(ctx: &Ctx, host: &str) -> bool {
    host == ctx.host
        || (ctx
            .tree
            .link(&format!("actual-{host}/time"))
            .is_some_and(|t| ctx.is_recent(t.stamp))
            && ctx.tree.value(&format!("actual-{host}/alive")).as_deref() == Some("1"))
}

/// The members of the resource in `dir`.
fn members(ctx: &Ctx, dir: &str) -> Vec<String> {
    ctx.tree
        .list(dir)
        .into_iter()
        .filter_map(|n| n.strip_prefix("data-").map(str::to_string))
        .filter(|h| ctx.tree.exists(&format!("{dir}/data-{h}")))
        .collect()
}

/// A unit name as systemd accepts it in a link: a known suffix, no `/`, blank or control
/// character, at most 255 bytes.
fn check_unit_name(name: &str) -> CmdResult {
    let suffix_ok = name
        .rsplit_once('.')
        .is_some_and(|(stem, suffix)| !stem.is_empty() && SUFFIXES.contains(&suffix));
    let chars_ok = !name.contains('/')
        && !name.starts_with('-')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if suffix_ok && chars_ok && name.len() <= 255 {
        return Ok(());
    }
    Err(
        Fail::refused(format!("'{name}' is no unit name")).line(format!(
            "a unit name has no '/' or blank and ends in one of .{}",
            SUFFIXES.join(" .")
        )),
    )
}

/// The original's convenience: a resource name written unescaped in a unit name is escaped
/// (`mnt-data-r-0.mount` for resource `r-0` becomes `mnt-data-r\x2d0.mount`).
fn escape_res_in(name: &str, res: &str) -> String {
    match escape_path(res) {
        Ok(escaped) if escaped != res && !name.contains(&escaped) && name.contains(res) => {
            name.replacen(res, &escaped, 1)
        }
        _ => name.to_string(),
    }
}

/// The unit a marker word stands for (`<word>_START` / `_STOP`).
fn marked(ctx: &Ctx, res: &str, marker: &str) -> Result<Option<String>, Fail> {
    let paths = Paths::from_env();
    let templates = systemd_units::load_templates(&paths)?;
    let vars = systemd_trigger::vars(ctx, Some(res), "set-systemd-unit");
    let unit = systemd_units::marked_unit(&templates, &vars, marker)?;
    if let Some(unit) = &unit {
        println!("Marker '{marker}' leads to unit '{unit}'");
    }
    Ok(unit)
}

fn no_marker(marker: &str) -> Fail {
    let dirs: Vec<String> = Paths::from_env()
        .search
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    Fail::refused(format!("no systemd template has the marker '# {marker}'"))
        .line(format!("templates are searched in {}", dirs.join(", ")))
}

/// The start and stop unit of `set-systemd-unit` (the original's `set_systemd_unit_phase1`).
fn resolve_units(
    ctx: &Ctx,
    res: &str,
    start: &str,
    stop: Option<&str>,
) -> Result<(String, String), Fail> {
    let start_unit = if is_marker_word(start) {
        let marker = format!("{start}_START");
        marked(ctx, res, &marker)?.ok_or_else(|| no_marker(&marker))?
    } else {
        escape_res_in(start, res)
    };
    let stop_unit = match stop.filter(|s| !s.is_empty()) {
        Some(word) if is_marker_word(word) => {
            let marker = format!("{word}_STOP");
            marked(ctx, res, &marker)?.ok_or_else(|| no_marker(&marker))?
        }
        Some(unit) => escape_res_in(unit, res),
        None => {
            let derived = if is_marker_word(start) {
                marked(ctx, res, &format!("{start}_STOP"))?
            } else {
                None
            };
            derived.unwrap_or_else(|| {
                println!("No stop unit given: '{start_unit}' is also the stop unit.");
                start_unit.clone()
            })
        }
    };
    check_unit_name(&start_unit)?;
    check_unit_name(&stop_unit)?;
    Ok((start_unit, stop_unit))
}

/// Sets `rel` to `value` in `batch` unless it has that value already.
fn set_if_changed(ctx: &Ctx, batch: &mut Batch, rel: &str, value: &str) {
    if ctx.tree.value(rel).as_deref() != Some(value) {
        batch.set_link(rel, value);
    }
}

/// A failure after the links were written is no refusal: exit 3, and say so.
fn after_commit(fail: Fail) -> Fail {
    let mut fail =
        fail.line("the links are written; the local systemd has not followed (see above)");
    fail.code = EXIT_NOT_CONFIRMED;
    fail
}

pub(crate) fn set_unit(ctx: &Ctx, args: &SetUnitArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let (start_rel, stop_rel, want_rel) = (
        rel(&dir, "start-unit"),
        rel(&dir, "stop-unit"),
        rel(&dir, "want"),
    );
    let mut batch = Batch::new();
    match args.start.as_deref().filter(|s| !s.is_empty()) {
        None => {
            if args.stop.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(Fail::refused("a stop unit needs a start unit"));
            }
            for key in [&start_rel, &stop_rel, &want_rel] {
                if ctx.tree.exists(key) {
                    batch.delete(key);
                }
            }
            if batch.is_empty() {
                println!("resource '{res}' has no systemd units configured");
                return Ok(());
            }
            println!("removing the systemd configuration of '{res}': its stack stops and its units are removed on every member");
        }
        Some(start) => {
            let (start, stop) = resolve_units(ctx, res, start, args.stop.as_deref())?;
            // The templates must work before anything is written.
            let units = if start == stop {
                vec![start.clone()]
            } else {
                vec![start.clone(), stop.clone()]
            };
            systemd_trigger::check_templates(ctx, res, &units, "set-systemd-unit")?;
            set_if_changed(ctx, &mut batch, &start_rel, &start);
            set_if_changed(ctx, &mut batch, &stop_rel, &stop);
            let want = ctx
                .designated_primary(&dir)
                .unwrap_or_else(|| NONE_VALUE.to_string());
            set_if_changed(ctx, &mut batch, &want_rel, &want);
            println!(
                "systemd units of '{res}': start '{start}', stop '{stop}'; wanted on '{want}'"
            );
        }
    }
    ctx.commit(batch)?;
    touch(ctx, &dir);
    if ctx.options.dry_run {
        return Ok(());
    }
    // This host at once; the other members follow when the links arrive there (their kernel
    // touches the trigger files their path units watch).
    systemd_trigger::trigger(ctx, Some(res), false, "set-systemd-unit").map_err(after_commit)
}

pub(crate) fn get_unit(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    match unit_links(ctx, &dir) {
        (Some(start), Some(stop)) => println!("{start} {stop}"),
        (Some(start), None) => {
            eprintln!(
                "WARNING: strange: {} does not exist",
                rel(&dir, "stop-unit")
            );
            println!("{start}");
        }
        (None, Some(stop)) => {
            eprintln!(
                "WARNING: strange: {} does not exist",
                rel(&dir, "start-unit")
            );
            println!("{stop}");
        }
        (None, None) => {
            if ctx.options.verbose {
                eprintln!(
                    "nothing to show: no systemd units are configured for '{}'",
                    args.res
                );
            }
        }
    }
    Ok(())
}

/// Prints `systemd-want`, or nothing when no units are configured (the original's
/// `systemd_present`).
pub(crate) fn get_want(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    if configured(ctx, &dir) {
        println!("{}", ctx.tree.value(&rel(&dir, "want")).unwrap_or_default());
    }
    Ok(())
}

pub(crate) fn set_want(ctx: &Ctx, args: &SetWantArgs) -> CmdResult {
    let res = args.res.as_str();
    let dir = ctx.member_res(res)?;
    let new = args.host.as_str();
    let force = ctx.options.force;
    if new != NONE_VALUE {
        check_name(new).map_err(|e| Fail::refused(format!("host name '{new}': {e}")))?;
        if !ctx.tree.exists(&format!("ips/ip-{new}")) {
            let fail = Fail::refused(format!("the host '{new}' does not exist (no ips/ip-{new})"));
            if !force {
                return Err(fail.line("Refusing to set systemd-want."));
            }
            eprintln!("WARNING: {} (continuing: --force)", fail.lines[0]);
        }
    }
    if !configured(ctx, &dir) {
        let fail = Fail::refused(format!("resource '{res}' has no configured systemd units"))
            .line("First configure the resource with 'marsadm set-systemd-unit'.");
        if !force {
            return Err(fail.line("Refusing to set systemd-want."));
        }
        eprintln!("WARNING: {} (continuing: --force)", fail.lines[0]);
    }
    let want_rel = rel(&dir, "want");
    if ctx.tree.value(&want_rel).as_deref() == Some(new) {
        println!("systemd-want of '{res}' is already '{new}'");
    } else {
        let mut batch = Batch::new();
        batch.set_link(&want_rel, new);
        ctx.commit(batch)?;
        println!("systemd-want of '{res}' set to '{new}'");
    }
    touch(ctx, &dir);
    if force || ctx.options.dry_run {
        if force {
            println!("the effect of systemd-want '{new}' is not checked (--force)");
        }
        return Ok(());
    }
    if new == NONE_VALUE {
        let hosts = members(ctx, &dir);
        return wait_until(
            ctx,
            &dir,
            NONE_VALUE,
            "the stack has closed the device on every reachable member",
            |ctx| {
                hosts
                    .iter()
                    .all(|h| open_count(&ctx.tree, &dir, h) == 0 || !alive(ctx, h))
            },
        );
    }
    if !indicator(&ctx.tree, &dir, new, "if-on") {
        eprintln!(
            "WARNING: device '{}' is not present at '{new}': the stack starts there once it is",
            ctx.device_name(&dir, res)
        );
        return Ok(());
    }
    let what = format!("the stack has opened the device on '{new}'");
    wait_until(ctx, &dir, new, &what, |ctx| {
        open_count(&ctx.tree, &dir, new) > 0
    })
}

/// Waits (`--timeout`) until `done`, touching the local trigger every [`RETOUCH_SECS`] and
/// re-stamping `systemd-want` = `want` every [`RESTAMP_SECS`] (when it still has that value).
fn wait_until(
    ctx: &Ctx,
    dir: &str,
    want: &str,
    what: &str,
    mut done: impl FnMut(&Ctx) -> bool,
) -> CmdResult {
    let start = Instant::now();
    let mut touched = Instant::now();
    let mut stamped = Instant::now();
    let mut told = false;
    let want_rel = rel(dir, "want");
    loop {
        if done(ctx) {
            println!("systemd: {what}");
            return Ok(());
        }
        if ctx.options.timeout >= 0 && start.elapsed().as_secs_f64() >= ctx.options.timeout as f64 {
            return Err(Fail::not_confirmed(format!(
                "systemd has not followed within {} s: waiting until {what}",
                ctx.options.timeout
            ))
            .line("see 'systemctl status' of the units ('marsadm get-systemd-unit') and")
            .line(format!("{dir}/userspace/systemd-status-*")));
        }
        if !told {
            println!("waiting up to {} s until {what}...", ctx.options.timeout);
            told = true;
        }
        if touched.elapsed() >= Duration::from_secs(RETOUCH_SECS) {
            touch(ctx, dir);
            touched = Instant::now();
        }
        if stamped.elapsed() >= Duration::from_secs(RESTAMP_SECS) {
            if ctx.tree.value(&want_rel).as_deref() == Some(want) {
                let mut batch = Batch::new();
                batch.set_link(&want_rel, want);
                ctx.commit(batch)?;
            }
            stamped = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes `systemd-want` = `want` and resets `userspace/systemd-status-stop-<old>` to `0`
/// (the original's `primary_phase0`), then touches the trigger.
fn move_want(ctx: &Ctx, dir: &str, want: &str, old: Option<&str>) -> CmdResult {
    let mut batch = Batch::new();
    set_if_changed(ctx, &mut batch, &rel(dir, "want"), want);
    if let Some(old) = old {
        batch.mkdir(&format!("{dir}/userspace"));
        set_if_changed(
            ctx,
            &mut batch,
            &format!("{dir}/userspace/systemd-status-stop-{old}"),
            "0",
        );
    }
    ctx.commit(batch)?;
    touch(ctx, dir);
    Ok(())
}

/// Waits until the stack on `old` closed the device; fails early when `old` reports that
/// stopping failed.
fn wait_closed(ctx: &Ctx, dir: &str, res: &str, old: &str, want: &str) -> CmdResult {
    let status_rel = format!("{dir}/userspace/systemd-status-stop-{old}");
    let mut failed = None;
    let what = format!(
        "the stack on '{old}' has closed '{}'",
        ctx.device_name(dir, res)
    );
    let result = wait_until(ctx, dir, want, &what, |ctx| {
        let status = ctx
            .tree
            .value(&status_rel)
            .filter(|s| s != "0" && s != DELETED);
        if let Some(status) = status {
            failed = Some(status);
            return true;
        }
        open_count(&ctx.tree, dir, old) == 0
    });
    if let Some(status) = failed {
        return Err(Fail::not_confirmed(format!(
            "systemd on '{old}' could not stop the stack: status {status} ({status_rel})"
        )));
    }
    result
}

/// `primary` (planned) on a resource with a unit stack: `systemd-want` moves here first and
/// the stack of the old primary `old` must close the device (see the module documentation).
pub(crate) fn move_stack_here(ctx: &Ctx, dir: &str, res: &str, old: Option<&str>) -> CmdResult {
    let host = ctx.host.clone();
    let (start, stop) = unit_links(ctx, dir);
    let old_want = ctx.tree.value(&rel(dir, "want"));
    move_want(ctx, dir, &host, old)?;
    println!(
        "IMPORTANT: relying on systemd: '{}' stops on '{}', '{}' starts here",
        stop.as_deref().unwrap_or("-"),
        old.unwrap_or(NONE_VALUE),
        start.as_deref().unwrap_or("-")
    );
    let Some(old) = old else {
        return Ok(());
    };
    if ctx.options.dry_run {
        return Ok(());
    }
    match wait_closed(ctx, dir, res, old, &host) {
        Ok(()) => Ok(()),
        Err(fail) => {
            // The original's compensation: the stack goes back where it was.
            let back = old_want.unwrap_or_else(|| old.to_string());
            let mut batch = Batch::new();
            batch.set_link(&rel(dir, "want"), &back);
            ctx.commit(batch)?;
            touch(ctx, dir);
            Err(fail.line(format!("systemd-want is set back to '{back}': the stack restarts there; nothing else changed")))
        }
    }
}

/// `secondary` on a resource with a unit stack: `systemd-want` = `(none)` and the stack of
/// the old primary must close the device.
pub(crate) fn stop_stack(ctx: &Ctx, dir: &str, res: &str, old: Option<&str>) -> CmdResult {
    move_want(ctx, dir, NONE_VALUE, old)?;
    println!("IMPORTANT: relying on systemd: the stack of '{res}' stops everywhere");
    match old {
        Some(old) if !ctx.options.dry_run && !ctx.options.force => {
            wait_closed(ctx, dir, res, old, NONE_VALUE)
        }
        _ => Ok(()),
    }
}

/// After this host became primary (and `up`): touch the trigger and wait until the stack
/// has opened the device here (the original's `primary_phase5`).
pub(crate) fn wait_stack_here(ctx: &Ctx, dir: &str, res: &str) -> CmdResult {
    if ctx.options.dry_run
        || ctx.tree.value(&rel(dir, "want")).as_deref() != Some(ctx.host.as_str())
    {
        return Ok(());
    }
    touch(ctx, dir);
    let host = ctx.host.clone();
    let what = format!("the stack has opened '{}' here", ctx.device_name(dir, res));
    wait_until(ctx, dir, &host, &what, |ctx| {
        open_count(&ctx.tree, dir, &ctx.host) > 0
    })
}

/// `leave-resource`: the units generated here for `res` are stopped (not `# KEEP_RUNNING`
/// ones) and removed. Problems are warnings: the host has left.
pub(crate) fn forget_resource(ctx: &Ctx, dir: &str, res: &str) {
    if ctx.options.dry_run {
        return;
    }
    let paths = Paths::from_env();
    let ours = systemd_units::scan_generated(&paths)
        .iter()
        .any(|e| e.owner.as_deref() == Some(res));
    if !ours && !configured(ctx, dir) {
        return;
    }
    if let Err(fail) = systemd_trigger::trigger(ctx, Some(res), false, "leave-resource") {
        for line in fail.lines {
            eprintln!("WARNING: systemd: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_are_checked() {
        assert!(check_unit_name("mnt-mars-r0.mount").is_ok());
        assert!(check_unit_name("app-r\\x2d0.service").is_ok());
        assert!(check_unit_name("run-r0.script").is_ok());
        for bad in [
            "r0",
            "a b.service",
            "/etc/x.service",
            ".service",
            "-x.service",
            "x.conf",
        ] {
            assert!(check_unit_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resource_names_in_unit_names_are_escaped() {
        assert_eq!(
            escape_res_in("mnt-data-r-0.mount", "r-0"),
            "mnt-data-r\\x2d0.mount"
        );
        assert_eq!(
            escape_res_in("mnt-data-r\\x2d0.mount", "r-0"),
            "mnt-data-r\\x2d0.mount"
        );
        assert_eq!(
            escape_res_in("mnt-data-r0.mount", "r0"),
            "mnt-data-r0.mount"
        );
    }
}
