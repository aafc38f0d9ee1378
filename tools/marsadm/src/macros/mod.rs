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

    fn glob(&mut self, pattern: &str) -> MResult<Vec<String>> {
        tree_glob(&self.prims.ctx.tree, pattern)
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
            timeout_left: std::cell::Cell::new(None),
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
    let prims = prims::Prims {
        ctx,
        threshold: 0,
        timeout_left: std::cell::Cell::new(None),
    };
    let mut env = Env::default();
    env.set("host", ctx.host.as_str());
    env.set("res", res);
    prims.call(&env, name, &[]).map_err(|e| match e {
        MacroError::Unavailable(t) | MacroError::Fail(t) => t,
    })
}

/// Most paths a glob pattern may yield, and most patterns its braces may expand to.
const GLOB_MAX: usize = 10_000;

/// `%get-glob{}`: the paths beneath /mars (or the tree's root) matching `pattern` (`*`, `?`,
/// `[...]` within a component, `{a,b}` anywhere), sorted, without deleted keys (`.deleted`),
/// as the original's `lamport_glob`. Unlike the original (Perl's `glob` anywhere), only the
/// tree is searched: other paths are refused, as `%readlink{}` refuses them.
pub(crate) fn tree_glob(tree: &crate::tree_io::Tree, pattern: &str) -> MResult<Vec<String>> {
    let root = tree.root.to_string_lossy().to_string();
    let mut out = Vec::new();
    for pat in brace_expand(pattern)? {
        let (prefix, rel) = match pat.strip_prefix(&root) {
            Some(rel) => (root.clone(), rel.to_string()),
            None => match pat.strip_prefix("/mars") {
                Some(rel) => ("/mars".to_string(), rel.to_string()),
                None => {
                    return Err(MacroError::Fail(format!(
                        "%get-glob: '{pattern}' is not beneath /mars"
                    )))
                }
            },
        };
        if !(rel.is_empty() || rel.starts_with('/')) {
            return Err(MacroError::Fail(format!(
                "%get-glob: '{pattern}' is not beneath /mars"
            )));
        }
        let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        if parts.contains(&"..") {
            return Err(MacroError::Fail(format!(
                "%get-glob: '{pattern}' contains '..'"
            )));
        }
        let mut found: Vec<String> = vec![String::new()];
        for part in &parts {
            let mut next = Vec::new();
            for dir in &found {
                let join = |name: &str| {
                    if dir.is_empty() {
                        name.to_string()
                    } else {
                        format!("{dir}/{name}")
                    }
                };
                if !part.contains(['*', '?', '[']) {
                    let rel = join(part);
                    if !matches!(tree.entry(&rel), crate::tree_io::Entry::Missing) {
                        next.push(rel);
                    }
                    continue;
                }
                for name in tree.list(dir) {
                    if (!name.starts_with('.') || part.starts_with('.')) && glob_match(part, &name)
                    {
                        next.push(join(&name));
                    }
                }
            }
            if next.len() > GLOB_MAX {
                return Err(MacroError::Fail(format!(
                    "%get-glob: '{pattern}' matches more than {GLOB_MAX} paths"
                )));
            }
            found = next;
        }
        for rel in found.into_iter().filter(|r| !r.is_empty()) {
            if tree.exists(&rel) {
                out.push(format!("{prefix}/{rel}"));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `{a,b}` expanded (nested braces too), as the shell's and Perl's `glob` expand them.
fn brace_expand(pattern: &str) -> MResult<Vec<String>> {
    let mut todo = vec![pattern.to_string()];
    let mut done = Vec::new();
    while let Some(p) = todo.pop() {
        let Some(open) = p.find('{') else {
            done.push(p);
            continue;
        };
        // The matching close brace and the top-level commas between.
        let (mut depth, mut close, mut commas) = (0usize, None, Vec::new());
        for (i, c) in p.char_indices().skip_while(|(i, _)| *i < open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(i),
                _ => {}
            }
        }
        let Some(close) = close else {
            done.push(p);
            continue;
        };
        let mut bounds = vec![open];
        bounds.extend(commas);
        bounds.push(close);
        for w in bounds.windows(2) {
            todo.push(format!(
                "{}{}{}",
                &p[..open],
                &p[w[0] + 1..w[1]],
                &p[close + 1..]
            ));
        }
        if todo.len() + done.len() > GLOB_MAX {
            return Err(MacroError::Fail(format!(
                "%get-glob: '{pattern}' expands to more than {GLOB_MAX} patterns"
            )));
        }
    }
    Ok(done)
}

/// Whether `name` matches one path component's pattern: `*`, `?`, `[abc]`, `[a-z]`, `[!a]`.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_match(&p, pi, n[ni]),
            Some(c) if *c == n[ni] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[at] == '['`: the index after the class, or
/// `None` (no match, or no closing `]`: then `[` is no class and matches itself).
fn class_match(p: &[char], at: usize, c: char) -> Option<usize> {
    let mut i = at + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while let Some(&x) = p.get(i) {
        if x == ']' && !first {
            return (hit != negate).then_some(i + 1);
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            if (x..=p[i + 2]).contains(&c) {
                hit = true;
            }
            i += 3;
        } else {
            if x == c {
                hit = true;
            }
            i += 1;
        }
    }
    (c == '[').then_some(at + 1)
}

#[cfg(test)]
mod glob_tests {
    use super::{brace_expand, glob_match};

    #[test]
    fn components_match_as_the_shell_matches() {
        assert!(glob_match("resource-*", "resource-r0"));
        assert!(glob_match("*", "x"));
        assert!(!glob_match("resource-*", "ips"));
        assert!(glob_match("log-*-alpha", "log-000000001-alpha"));
        assert!(!glob_match("log-*-alpha", "log-000000001-bravo"));
        assert!(glob_match("r?", "r1"));
        assert!(!glob_match("r?", "r10"));
        assert!(glob_match("r[0-2]", "r1"));
        assert!(!glob_match("r[0-2]", "r3"));
        assert!(glob_match("r[!0-2]", "r3"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("[", "["));
    }

    #[test]
    fn braces_expand() {
        let mut v = brace_expand("/mars/{a,b{1,2}}/x").unwrap();
        v.sort();
        assert_eq!(v, ["/mars/a/x", "/mars/b1/x", "/mars/b2/x"]);
        assert_eq!(brace_expand("/mars/{a").unwrap(), ["/mars/{a"]);
        assert!(
            brace_expand(&"{a,b}".repeat(20)).is_err(),
            "2^20 patterns are refused"
        );
    }
}
