// SPDX-License-Identifier: GPL-2.0
//! `marsadm systemd-trigger [<res>]` and `systemd-trigger-extern [<res>]`: bring this host's
//! systemd in line with the tree.
//!
//! One run, for one resource (or every resource this host is a member of):
//!
//! 1. under the generation lock (`generate.lock`, which also serialises `daemon-reload`):
//!    load the templates, generate every instance the resources need (watcher, start and stop
//!    unit, what they refer to), write the changed ones as temporaries, stop the instances no
//!    longer generated (not those marked `# KEEP_RUNNING`), rename the temporaries into place,
//!    delete the stale files, `daemon-reload` if a unit changed, start the instances marked
//!    `# ALWAYS_START` (not `# ALWAYS_DISABLED`);
//! 2. under the resource's lock (`resource-<res>.lock`; resources run in parallel threads):
//!    [`decide`] from `systemd-want`, `primary`, this host's device and the unit links
//!    whether to start `systemd-start-unit` or stop `systemd-stop-unit` here, do it, and
//!    report the exit code in `userspace/systemd-status-<start|stop>-<host>` when it changed.
//!
//! Locks wait at most `--timeout`. Inside a unit every start and stop is queued
//! (`--no-block`), see `systemd_ctl`. `--dry-run` says what it would write and do.

use crate::cmd_switch::indicator;
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::systemd_ctl::{self, Op, Systemctl};
use crate::systemd_template::{has_marker, Vars};
use crate::systemd_units::{self, Paths, Plan, ResourceRoots};
use crate::tree_io::Batch;
use mars_core::tree_value::NONE_VALUE;
use std::time::Duration;

/// What the trigger sees of one resource on this host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) host: String,
    /// This host is a member (`data-<host>`).
    pub(crate) member: bool,
    /// `systemd-want` (`None`: missing or deleted).
    pub(crate) want: Option<String>,
    /// The designated primary (`None`: `(none)` or missing).
    pub(crate) primary: Option<String>,
    /// `/dev/mars/<name>` is here (`actual-<host>/if-on`).
    pub(crate) device_here: bool,
    pub(crate) start_unit: Option<String>,
    pub(crate) stop_unit: Option<String>,
}

/// What to do with the unit stack of a resource on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Start(String),
    Stop(String),
    /// Nothing, and why.
    Nothing(String),
}

/// The original's `__systemd_activate_want`: the stack runs where `systemd-want` names this
/// host, the device is here and this host is the designated primary; where `systemd-want`
/// names this host but the device is not here, or names another host or `(none)`, the stop
/// unit is stopped; while this host is wanted but not (yet) the designated primary nothing is
/// done. A host that is no member does nothing (it has no device and no units).
pub(crate) fn decide(facts: &Facts) -> Decision {
    let start = facts.start_unit.clone().or_else(|| facts.stop_unit.clone());
    let stop = facts.stop_unit.clone().or_else(|| facts.start_unit.clone());
    let (Some(start), Some(stop)) = (start, stop) else {
        return Decision::Nothing("no systemd units are configured (set-systemd-unit)".into());
    };
    let Some(want) = facts.want.as_deref() else {
        return Decision::Nothing("systemd-want is not set".into());
    };
    if !facts.member {
        return Decision::Nothing("this host is no member of the resource".into());
    }
    if want != facts.host {
        return Decision::Stop(stop);
    }
    if !facts.device_here {
        return Decision::Stop(stop);
    }
    if facts.primary.as_deref() != Some(facts.host.as_str()) {
        return Decision::Nothing(format!(
            "systemd-want names this host, but the designated primary is '{}'",
            facts.primary.as_deref().unwrap_or(NONE_VALUE)
        ));
    }
    Decision::Start(start)
}

/// `systemd-start-unit` and `systemd-stop-unit` of the resource in `dir`.
pub(crate) fn unit_links(ctx: &Ctx, dir: &str) -> (Option<String>, Option<String>) {
    let get = |name: &str| {
        ctx.tree
            .value(&format!("{dir}/systemd-{name}-unit"))
            .filter(|v| !v.is_empty())
    };
    (get("start"), get("stop"))
}

/// Whether the systemd template engine is configured for the resource in `dir` (the
/// original's `systemd_present`).
pub(crate) fn configured(ctx: &Ctx, dir: &str) -> bool {
    let (start, stop) = unit_links(ctx, dir);
    start.is_some() || stop.is_some()
}

fn facts(ctx: &Ctx, dir: &str) -> Facts {
    let host = ctx.host.clone();
    let (start_unit, stop_unit) = unit_links(ctx, dir);
    Facts {
        member: ctx.tree.exists(&format!("{dir}/data-{host}")),
        want: ctx.tree.value(&format!("{dir}/systemd-want")),
        primary: ctx.designated_primary(dir),
        device_here: indicator(&ctx.tree, dir, &host, "if-on"),
        start_unit,
        stop_unit,
        host,
    }
}

/// The variables of a template instantiated for `res` (or of a plain template).
pub(crate) fn vars(ctx: &Ctx, res: Option<&str>, cmd: &str) -> Vars {
    let mut vars = Vars::new();
    let mut put = |k: &str, v: String| {
        vars.insert(k.to_string(), v);
    };
    put("cmd", cmd.to_string());
    // The running marsadm, for the ExecStart= of the trigger services.
    let me =
        std::env::current_exe().map_or_else(|_| "marsadm".to_string(), |p| p.display().to_string());
    put("marsadm", me);
    put("host", ctx.host.clone());
    put("mars", ctx.tree.root.display().to_string());
    put("timeout", ctx.options.timeout.to_string());
    put("window", ctx.options.window.to_string());
    if let Some(res) = res {
        let dir = format!("resource-{res}");
        put("res", res.to_string());
        put("resdir", ctx.tree.path(&dir).display().to_string());
        put("device", ctx.device_name(&dir, res));
    }
    vars
}

/// The resources this host is a member of.
pub(crate) fn member_resources(ctx: &Ctx) -> Vec<String> {
    ctx.tree
        .list("")
        .into_iter()
        .filter_map(|n| n.strip_prefix("resource-").map(str::to_string))
        .filter(|res| {
            let dir = format!("resource-{res}");
            ctx.tree.is_dir(&dir)
                && !ctx.resource_deleted(&dir)
                && ctx.tree.exists(&format!("{dir}/data-{}", ctx.host))
        })
        .collect()
}

/// Generates in memory what `res` needs with `units` as its start and stop units: a command
/// that is about to write unit links first checks that the templates work.
pub(crate) fn check_templates(ctx: &Ctx, res: &str, units: &[String], cmd: &str) -> CmdResult {
    let templates = systemd_units::load_templates(&Paths::from_env())?;
    let roots = [ResourceRoots {
        res: res.to_string(),
        vars: vars(ctx, Some(res), cmd),
        units: units.to_vec(),
    }];
    systemd_units::generate(&templates, &vars(ctx, None, cmd), &roots).map(|_| ())
}

/// Whether systemd can take units here: the instance directory or its parent exists.
fn systemd_here(paths: &Paths) -> bool {
    paths.unit_dir.is_dir() || paths.unit_dir.parent().is_some_and(|p| p.is_dir())
}

/// Step 1 for `resources` (see the module documentation); `scope` limits what is removed.
fn generate_and_install(
    ctx: &Ctx,
    paths: &Paths,
    ctl: &Systemctl,
    scope: Option<&str>,
    resources: &[String],
    cmd: &str,
) -> CmdResult {
    let templates = systemd_units::load_templates(paths)?;
    let roots: Vec<ResourceRoots> = resources
        .iter()
        .filter(|res| {
            ctx.tree
                .exists(&format!("resource-{res}/data-{}", ctx.host))
        })
        .map(|res| {
            let (start, stop) = unit_links(ctx, &format!("resource-{res}"));
            let mut units: Vec<String> = start.into_iter().chain(stop).collect();
            units.dedup();
            ResourceRoots {
                res: res.clone(),
                vars: vars(ctx, Some(res), cmd),
                units,
            }
        })
        .collect();
    let new = systemd_units::generate(&templates, &vars(ctx, None, cmd), &roots)?;
    let existing = systemd_units::scan_generated(paths);
    let plan = Plan::new(&new, &existing, scope);
    let starts: Vec<&str> = new
        .values()
        .filter(|i| i.owner.is_none() || scope.is_none() || i.owner.as_deref() == scope)
        .filter(|i| i.marker("ALWAYS_START") && !i.marker("ALWAYS_DISABLED"))
        .map(|i| i.name.as_str())
        .collect();
    if ctx.options.dry_run {
        for i in &plan.write {
            let dir = paths.dir_of(&i.name).join(&i.name);
            println!(
                "DRY_RUN: would write '{}' from template '{}'",
                dir.display(),
                i.template.display()
            );
        }
        for e in &plan.remove {
            println!("DRY_RUN: would remove '{}'", e.path.display());
        }
        if plan.needs_reload() {
            println!("DRY_RUN: would run systemctl daemon-reload");
        }
        for name in &starts {
            println!("DRY_RUN: would start '{name}' (# ALWAYS_START)");
        }
        return Ok(());
    }
    let temporaries = systemd_units::write_temporaries(paths, &plan)?;
    let mut problems = Vec::new();
    for stale in &plan.remove {
        if has_marker(&stale.text, "KEEP_RUNNING") {
            println!(
                "systemd: '{}' is no longer generated; it keeps running (# KEEP_RUNNING)",
                stale.name
            );
            continue;
        }
        note(
            &mut problems,
            format!("stop '{}'", stale.name),
            ctl.unit(Op::Stop, &stale.name),
        );
    }
    temporaries.install()?;
    for stale in &plan.remove {
        if let Err(e) = std::fs::remove_file(&stale.path) {
            problems.push(format!("cannot remove '{}': {e}", stale.path.display()));
        }
    }
    if !plan.is_empty() {
        println!(
            "systemd: {} unit file(s) written, {} removed",
            plan.write.len(),
            plan.remove.len()
        );
    }
    if plan.needs_reload() {
        if let Err(e) = ctl.daemon_reload() {
            problems.push(e);
        }
    }
    for name in starts {
        note(
            &mut problems,
            format!("start '{name}'"),
            ctl.unit(Op::Start, name),
        );
    }
    match problems.split_first() {
        None => Ok(()),
        Some((first, rest)) => Err(rest.iter().fold(
            Fail::not_confirmed(format!("systemd: {first}")).line("the unit files are installed"),
            |f, p| f.line(p.clone()),
        )),
    }
}

/// Adds a failed or not runnable systemctl call to `problems`.
fn note(problems: &mut Vec<String>, what: String, result: Result<i32, String>) {
    match result {
        Ok(0) => {}
        Ok(code) => problems.push(format!("{what} exited with {code}")),
        Err(e) => problems.push(e),
    }
}

/// Writes `userspace/systemd-status-<op>-<host>` when the value changes (the original's
/// `report_systemd_status`).
fn report_status(ctx: &Ctx, dir: &str, op: Op, code: i32) -> CmdResult {
    let rel = format!(
        "{dir}/userspace/systemd-status-{}-{}",
        op.as_str(),
        ctx.host
    );
    let value = code.to_string();
    if ctx.tree.value(&rel).as_deref() == Some(value.as_str()) {
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.mkdir(&format!("{dir}/userspace"));
    batch.set_link(&rel, &value);
    ctx.commit(batch)
}

/// Step 2 for one resource.
fn apply(ctx: &Ctx, ctl: &Systemctl, res: &str) -> CmdResult {
    let dir = format!("resource-{res}");
    let facts = facts(ctx, &dir);
    let (op, unit) = match decide(&facts) {
        Decision::Nothing(why) => {
            println!("{res}: nothing to do: {why}");
            return Ok(());
        }
        Decision::Start(unit) => (Op::Start, unit),
        Decision::Stop(unit) => (Op::Stop, unit),
    };
    if ctx.options.dry_run {
        println!(
            "DRY_RUN: would {} '{unit}' for resource '{res}'",
            op.as_str()
        );
        return Ok(());
    }
    let how = if ctl.no_block && !unit.ends_with(".script") {
        " (queued: --no-block)"
    } else {
        ""
    };
    println!("{res}: {} '{unit}'{how}", op.as_str());
    let result = ctl.unit(op, &unit);
    let code = result.as_ref().map_or(255, |c| *c);
    if facts.member {
        report_status(ctx, &dir, op, code)?;
    }
    match result {
        Ok(0) => Ok(()),
        Ok(code) => Err(Fail::not_confirmed(format!(
            "{} of '{unit}' for resource '{res}' exited with {code}",
            op.as_str()
        ))),
        Err(e) => Err(Fail::not_confirmed(e)),
    }
}

fn lock_timeout(ctx: &Ctx) -> Option<Duration> {
    systemd_ctl::timeout_of(ctx.options.timeout)
}

/// One resource: generation (removal limited to its instances), then its decision.
fn run_one(ctx: &Ctx, paths: &Paths, ctl: &Systemctl, res: &str, cmd: &str) -> CmdResult {
    let timeout = lock_timeout(ctx);
    let _resource = systemd_ctl::lock(&paths.lock_dir, &format!("resource-{res}.lock"), timeout)?;
    {
        let _generation = systemd_ctl::lock(&paths.lock_dir, "generate.lock", timeout)?;
        generate_and_install(ctx, paths, ctl, Some(res), &[res.to_string()], cmd)?;
    }
    apply(ctx, ctl, res)
}

/// Every resource of this host: one generation, then the decisions in parallel.
fn run_all(ctx: &Ctx, paths: &Paths, ctl: &Systemctl, cmd: &str) -> CmdResult {
    let timeout = lock_timeout(ctx);
    let resources = member_resources(ctx);
    {
        let _generation = systemd_ctl::lock(&paths.lock_dir, "generate.lock", timeout)?;
        generate_and_install(ctx, paths, ctl, None, &resources, cmd)?;
    }
    let results: Vec<(String, CmdResult)> = std::thread::scope(|scope| {
        let handles: Vec<_> = resources
            .iter()
            .map(|res| {
                let handle = scope.spawn(move || {
                    let name = format!("resource-{res}.lock");
                    let _resource = systemd_ctl::lock(&paths.lock_dir, &name, timeout)?;
                    apply(ctx, ctl, res)
                });
                (res.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(res, handle)| {
                let result = handle.join().unwrap_or_else(|_| {
                    Err(Fail::refused("internal error: a trigger thread panicked"))
                });
                (res, result)
            })
            .collect()
    });
    let failed: Vec<(String, Fail)> = results
        .into_iter()
        .filter_map(|(res, r)| r.err().map(|f| (res, f)))
        .collect();
    let Some(code) = failed.iter().map(|(_, f)| f.code).max() else {
        return Ok(());
    };
    let mut fail = Fail {
        code,
        lines: vec![format!(
            "{} of {} resources failed",
            failed.len(),
            resources.len()
        )],
    };
    for (res, f) in failed {
        fail = fail.line(format!("{res}: {}", f.lines.join("; ")));
    }
    Err(fail)
}

/// `systemd-trigger [<res>]` (`extern_call`: `systemd-trigger-extern`, which always queues
/// with `--no-block`). `res` may be `all` or missing: every resource of this host.
pub(crate) fn trigger(ctx: &Ctx, res: Option<&str>, extern_call: bool, cmd: &str) -> CmdResult {
    let only = res.filter(|r| *r != "all");
    if let Some(res) = only {
        ctx.res_dir(res)?;
        if !ctx.tree.is_dir(&format!("resource-{res}")) {
            return Err(Fail::refused(format!("resource '{res}' does not exist")));
        }
    }
    let paths = Paths::from_env();
    if !systemd_here(&paths) {
        println!(
            "systemd does not run here (neither '{}' nor its parent exists): nothing to do",
            paths.unit_dir.display()
        );
        return Ok(());
    }
    let no_block = extern_call || systemd_ctl::inside_unit();
    let ctl = Systemctl::new(no_block, lock_timeout(ctx), &paths.script_dir);
    match only {
        Some(res) => run_one(ctx, &paths, &ctl, res, cmd),
        None => run_all(ctx, &paths, &ctl, cmd),
    }
}

/// Touches `resource-<res>/systemd-trigger` (creating it), which the per-resource path unit
/// watches, after this command changed `primary` or a `systemd-*` link. The kernel touches it
/// on every host when such a link arrives or changes; this is for the local path unit at once.
pub(crate) fn touch(ctx: &Ctx, dir: &str) {
    if ctx.options.dry_run {
        return;
    }
    if let Err(e) = ctx.tree.touch(&format!("{dir}/systemd-trigger")) {
        eprintln!("WARNING: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            host: "alpha".into(),
            member: true,
            want: Some("alpha".into()),
            primary: Some("alpha".into()),
            device_here: true,
            start_unit: Some("app.service".into()),
            stop_unit: Some("mnt.mount".into()),
        }
    }

    #[test]
    fn the_stack_runs_only_where_wanted_primary_and_device_agree() {
        assert_eq!(decide(&facts()), Decision::Start("app.service".into()));
        let f = Facts {
            want: Some("bravo".into()),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Stop("mnt.mount".into()));
        let f = Facts {
            want: Some(NONE_VALUE.into()),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Stop("mnt.mount".into()));
        let f = Facts {
            device_here: false,
            ..facts()
        };
        assert_eq!(
            decide(&f),
            Decision::Stop("mnt.mount".into()),
            "wanted, but no device yet"
        );
        let f = Facts {
            primary: Some("bravo".into()),
            ..facts()
        };
        assert!(matches!(decide(&f), Decision::Nothing(why) if why.contains("'bravo'")));
        let f = Facts {
            member: false,
            ..facts()
        };
        assert!(matches!(decide(&f), Decision::Nothing(why) if why.contains("no member")));
        let f = Facts {
            want: None,
            ..facts()
        };
        assert!(matches!(decide(&f), Decision::Nothing(why) if why.contains("systemd-want")));
        let f = Facts {
            start_unit: None,
            stop_unit: None,
            ..facts()
        };
        assert!(matches!(decide(&f), Decision::Nothing(why) if why.contains("set-systemd-unit")));
    }

    #[test]
    fn one_unit_serves_for_both() {
        let f = Facts {
            stop_unit: None,
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Start("app.service".into()));
        let f = Facts {
            stop_unit: None,
            want: Some("bravo".into()),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Stop("app.service".into()));
    }

    #[test]
    fn split_brain_the_returning_old_primary_stops() {
        // alpha was cut off while bravo did `primary --force`; the merged tree says bravo.
        let f = Facts {
            want: Some("bravo".into()),
            primary: Some("bravo".into()),
            device_here: true,
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Stop("mnt.mount".into()));
    }
}
