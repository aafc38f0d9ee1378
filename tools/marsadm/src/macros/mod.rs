// SPDX-License-Identifier: GPL-2.0
//! `marsadm view-<macro>` and `view --macro=TEXT`: the original's macro processor.
//!
//! A macro name is looked up as a file `<name>.tpl` in the search path (`$MARS_PATH`,
//! colon-separated; without it `.`, `~/.marsadm`, `$ETC_MARSADM` or `/etc/marsadm`,
//! `/usr/lib/marsadm`, `/usr/local/lib/marsadm`, as the original), then as a built-in
//! complex macro ([`builtin`]), then as a primitive ([`prims`]). `view-<primitive>` prints the
//! primitive's value and fails (exit 1) when the value is not available here.

mod builtin;
mod engine;
pub(crate) mod errno;
mod primitives;
mod prims;

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use engine::{Env, Evaluator, Host, MResult, MacroError};
use std::collections::HashMap;
use std::path::PathBuf;

pub(crate) use primitives::PRIMITIVES;

/// The stack of the evaluation: deep enough for [`engine`]'s nesting limit.
pub(crate) const STACK: usize = 64 << 20;

/// Largest macro file read.
const MAX_FILE: u64 = 1 << 20;

/// What `view` was asked to evaluate.
pub(crate) struct Request<'a> {
    /// The macro name (`default` for plain `view --macro`).
    pub(crate) name: &'a str,
    /// `--macro=TEXT`: evaluated instead of the named macro.
    pub(crate) text: Option<&'a str>,
    /// Arguments after the resource: `%{1}`, `%{2}`, ...
    pub(crate) args: &'a [String],
    /// `--threshold` in bytes.
    pub(crate) threshold: u64,
    /// `--stuck-seconds`.
    pub(crate) stuck_seconds: u64,
}

/// The directories searched for `<name>.tpl`.
pub(crate) fn search_path() -> Vec<PathBuf> {
    if let Ok(path) = std::env::var("MARS_PATH") {
        if !path.is_empty() {
            return path
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    let mut dirs = vec![PathBuf::from(".")];
    if let Ok(home) = std::env::var("HOME") {
        dirs.push(PathBuf::from(home).join(".marsadm"));
    }
    dirs.push(PathBuf::from(
        std::env::var("ETC_MARSADM").unwrap_or_else(|_| "/etc/marsadm".into()),
    ));
    dirs.push(PathBuf::from("/usr/lib/marsadm"));
    dirs.push(PathBuf::from("/usr/local/lib/marsadm"));
    dirs
}

struct TreeHost<'a> {
    prims: prims::Prims<'a>,
    dirs: Vec<PathBuf>,
    files: HashMap<String, Option<String>>,
}

impl TreeHost<'_> {
    fn file(&mut self, name: &str) -> Option<String> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return None;
        }
        if let Some(cached) = self.files.get(name) {
            return cached.clone();
        }
        let found = self.dirs.iter().find_map(|dir| {
            let path = dir.join(format!("{name}.tpl"));
            let meta = std::fs::metadata(&path).ok()?;
            if !meta.is_file() {
                return None;
            }
            if meta.len() > MAX_FILE {
                eprintln!(
                    "WARNING: macro file '{}' is larger than 1 MiB: ignored",
                    path.display()
                );
                return None;
            }
            let text = std::fs::read_to_string(&path).ok()?;
            if builtin::complex(name).is_some() || is_primitive(name) {
                eprintln!("using macro file '{}'", path.display());
            }
            Some(engine::strip_comments(&text))
        });
        self.files.insert(name.to_string(), found.clone());
        found
    }
}

fn is_primitive(name: &str) -> bool {
    PRIMITIVES.contains(&name)
}

impl Host for TreeHost<'_> {
    fn macro_text(&mut self, name: &str) -> Option<String> {
        self.file(name)
            .or_else(|| builtin::complex(name).map(engine::strip_comments))
    }

    fn primitive(&mut self, env: &Env, name: &str, args: &[String]) -> Option<MResult<String>> {
        match self.prims.call(env, name, args) {
            Err(MacroError::Fail(t)) if t.starts_with("call to unknown macro") => None,
            other => Some(other),
        }
    }

    fn is_primitive(&self, name: &str) -> bool {
        is_primitive(name)
    }

    fn warn(&mut self, text: &str) {
        eprint!("WARNING: {}", crate::tree_io::escape_controls(text));
        if !text.ends_with('\n') {
            eprintln!();
        }
    }
}

fn start_env(ctx: &Ctx, req: &Request<'_>, name: &str, res: &str) -> Env {
    let mut env = Env::default();
    let root = ctx.tree.root.to_string_lossy().to_string();
    let o = &ctx.options;
    let flag = |b: bool| if b { "1" } else { "0" };
    for (k, v) in [
        ("cmd", name.to_string()),
        ("res", res.to_string()),
        ("resdir", format!("{root}/resource-{res}")),
        ("mars", root.clone()),
        ("host", ctx.host.clone()),
        ("real_host", ctx.host.clone()),
        (
            "ip",
            ctx.tree
                .value(&format!("ips/ip-{}", ctx.host))
                .unwrap_or_default(),
        ),
        ("timeout", o.timeout.to_string()),
        ("threshold", req.threshold.to_string()),
        ("window", o.window.to_string()),
        ("stuck-seconds", req.stuck_seconds.to_string()),
        ("keep-backup-hours", "168".to_string()),
        ("keep-backup-seconds", (168 * 3600).to_string()),
        ("force", flag(o.force).to_string()),
        ("dry-run", flag(o.dry_run).to_string()),
        ("verbose", flag(o.verbose).to_string()),
        ("callstack", String::new()),
        ("0", name.to_string()),
    ] {
        env.set(k, v);
    }
    for (k, a) in req.args.iter().enumerate() {
        env.set(&(k + 1).to_string(), a.clone());
    }
    env
}

/// Evaluates one macro (or `--macro` text) for one resource (`""`: global).
fn eval_one(
    host: &mut TreeHost<'_>,
    ctx: &Ctx,
    req: &Request<'_>,
    name: &str,
    res: &str,
) -> Result<String, Fail> {
    let mut env = start_env(ctx, req, name, res);
    let text = match req.text {
        Some(t) if name == req.name => engine::strip_comments(t),
        _ => match host.macro_text(name) {
            Some(t) => t,
            None if is_primitive(name) => {
                // The primitive itself: its value, or why it is not available.
                let mut args: Vec<String> = req.args.to_vec();
                args.truncate(8);
                return match host.prims.call(&env, name, &args) {
                    Ok(v) => Ok(v),
                    Err(MacroError::Fail(t)) if t.starts_with("call to unknown macro") => {
                        // An engine function such as errno-text.
                        let text = format!("%primitive-{name}{{%{{1}}}}");
                        Evaluator::new(host)
                            .eval(&text, &mut env)
                            .map_err(|e| Fail::refused(e.text()))
                    }
                    Err(e) => Err(Fail::refused(format!("view-{name}: {}", e.text()))),
                };
            }
            None => return Err(Fail::refused(format!("cannot find macro '{name}'"))),
        },
    };
    Evaluator::new(host)
        .eval(&text, &mut env)
        .map_err(|e| Fail::refused(format!("view-{name}: {}", e.text())))
}

fn print(text: &str) {
    if text.is_empty() {
        return;
    }
    // Values come from peers: nothing but newlines and tabs goes out raw.
    let safe = crate::tree_io::escape_output(text);
    // As the original: one trailing newline removed, one added.
    println!("{}", safe.strip_suffix('\n').unwrap_or(&safe));
}

/// `view-<name>` (or `view --macro=TEXT`) for `resources`; `all` (the resources are this
/// host's) adds the `<name>-header`, `<name>-global` and `<name>-footer` macros when they
/// exist.
pub(crate) fn run(ctx: &Ctx, req: &Request<'_>, resources: &[String], all: bool) -> CmdResult {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn_scoped(scope, || run_here(ctx, req, resources, all))
            .map_err(|e| Fail::refused(format!("cannot start the macro processor: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Fail::refused("the macro processor failed")))
    })
}

fn run_here(ctx: &Ctx, req: &Request<'_>, resources: &[String], all: bool) -> CmdResult {
    let mut host = TreeHost {
        prims: prims::Prims {
            ctx,
            threshold: req.threshold,
        },
        dirs: search_path(),
        files: HashMap::new(),
    };
    let name = if req.name.is_empty() {
        "default"
    } else {
        req.name
    };
    let req = Request { name, ..*req };
    let extra = |host: &mut TreeHost<'_>, suffix: &str| -> CmdResult {
        let global = format!("{name}-{suffix}");
        if all && req.text.is_none() && host.macro_text(&global).is_some() {
            print(&eval_one(host, ctx, &req, &global, "")?);
        }
        Ok(())
    };
    extra(&mut host, "header")?;
    let mut failed: Option<Fail> = None;
    for res in resources {
        match eval_one(&mut host, ctx, &req, name, res) {
            Ok(text) => print(&text),
            Err(fail) => {
                if resources.len() == 1 {
                    return Err(fail);
                }
                eprintln!("marsadm: {res}: {}", fail.lines.join(" "));
                failed = Some(fail);
            }
        }
    }
    extra(&mut host, "global")?;
    extra(&mut host, "footer")?;
    match failed {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// The primitive `name` (`sync-rest`, `replay-rate`, ...) of `res` on this host, as the view
/// macros evaluate it (for `view`'s rates, lag and ETA: one definition for both). `Err` says
/// why there is no value, e.g. which indicator the kernel does not publish.
pub(crate) fn primitive(ctx: &Ctx, res: &str, name: &str) -> Result<String, String> {
    let prims = prims::Prims { ctx, threshold: 0 };
    let mut env = Env::default();
    env.set("host", ctx.host.as_str());
    env.set("res", res);
    prims.call(&env, name, &[]).map_err(|e| match e {
        MacroError::Unavailable(t) | MacroError::Fail(t) => t,
    })
}
