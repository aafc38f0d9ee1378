// SPDX-License-Identifier: GPL-2.0
//! Resource lists: `marsadm up all`, `marsadm pause-replay r0,r1`.
//!
//! As the original's `expand_res_list` and `do_all_res`: a comma-separated list, or `all` for
//! every resource this host is member of (its `data-<host>` link; `view all` also shows those
//! it is a guest of), in natural order (`r2` before `r10`). Every name of a list is checked
//! before any resource is worked on, so a bad name or one of no existing resource changes
//! nothing (the original checks only the syntax first). The command then runs for
//! each resource after a line `--------- resource <res>`; a resource that fails does not stop
//! the others. The exit code is the worst: 1 if any was refused or failed, else 3 if the
//! kernel did not confirm one in time, else 0. `all` without any resource warns and succeeds,
//! as in the original. `--parallel[=N]` runs up to N resources at once (all without N).

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail, EXIT_REFUSED};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;

/// Whether `arg` names more than one resource (a list or `all`).
pub(crate) fn is_list(arg: &str) -> bool {
    arg == "all" || arg.contains(',')
}

/// The resources `arg` names, checked: each the valid name of an existing resource, none
/// twice (whether this host is a member, each command checks for itself).
pub(crate) fn expand(ctx: &Ctx, arg: &str) -> Result<Vec<String>, Fail> {
    if arg == "all" {
        return Ok(member_resources(ctx));
    }
    let mut names: Vec<String> = Vec::new();
    for name in arg.split(',') {
        if name.is_empty() {
            return Err(
                Fail::refused(format!("resource list '{arg}' has an empty name"))
                    .line("write names separated by single commas, e.g. r0,r1, or 'all'"),
            );
        }
        if name == "all" {
            return Err(Fail::refused(format!(
                "resource list '{arg}': 'all' cannot be part of a list"
            )));
        }
        ctx.existing_res(name)?;
        if names.iter().any(|n| n == name) {
            return Err(Fail::refused(format!(
                "resource list '{arg}' names '{name}' twice"
            )));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// The resources this host is member of, in natural order.
pub(crate) fn member_resources(ctx: &Ctx) -> Vec<String> {
    let host = &ctx.host;
    let mut names: Vec<String> = ctx
        .tree
        .list("")
        .into_iter()
        .filter_map(|n| n.strip_prefix("resource-").map(str::to_string))
        .filter(|r| ctx.res_dir(r).is_ok())
        .filter(|r| {
            let dir = format!("resource-{r}");
            ctx.tree.exists(&format!("{dir}/data-{host}")) && !ctx.resource_deleted(&dir)
        })
        .collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    names
}

/// Compares as the original's `alphanum_cmp`: runs of digits by their value.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, ra) = a.split_at(da);
                let (nb, rb) = b.split_at(db);
                let trim = |n: &[u8]| -> usize { n.iter().take_while(|&&c| c == b'0').count() };
                let (na, nb) = (&na[trim(na)..], &nb[trim(nb)..]);
                let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if order != Ordering::Equal {
                    return order;
                }
                a = ra;
                b = rb;
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// Runs `one` for every resource of `names` (`parallel`: `None` one after the other, `Some(0)`
/// all at once, `Some(n)` at most n at once) and combines the results; `command` names the
/// command in the messages of a resource that failed.
pub(crate) fn run_each(
    names: &[String],
    command: &str,
    parallel: Option<usize>,
    one: impl Fn(&str) -> CmdResult + Sync,
) -> CmdResult {
    let run_one = |res: &str| -> Option<u8> {
        println!("--------- resource {res}");
        match one(res) {
            Ok(()) => None,
            Err(fail) => {
                let _ = fail.report(&format!("{command} {res}"));
                Some(fail.code)
            }
        }
    };
    let codes: Vec<u8> = match parallel {
        None => names.iter().filter_map(|r| run_one(r)).collect(),
        Some(limit) => {
            let workers = if limit == 0 { names.len() } else { limit }.max(1);
            let next = AtomicUsize::new(0);
            let codes = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for _ in 0..workers.min(names.len()) {
                    scope.spawn(|| {
                        while let Some(res) = names.get(next.fetch_add(1, AtomicOrdering::SeqCst)) {
                            if let Some(code) = run_one(res) {
                                if let Ok(mut codes) = codes.lock() {
                                    codes.push(code);
                                }
                            }
                        }
                    });
                }
            });
            codes.into_inner().unwrap_or_default()
        }
    };
    if codes.is_empty() {
        return Ok(());
    }
    let failed = codes.len();
    // 1 (refused) outranks 3 (written, not yet confirmed): the operator must act on it.
    let code = if codes.contains(&EXIT_REFUSED) {
        EXIT_REFUSED
    } else {
        codes.iter().copied().max().unwrap_or(EXIT_REFUSED)
    };
    let mut fail = Fail::refused(format!(
        "{failed} of {} resources did not succeed (see above)",
        names.len()
    ));
    fail.code = code;
    Err(fail)
}
