// SPDX-License-Identifier: GPL-2.0
//! The original's low-level and expert commands that work on this host's tree alone:
//! `get-link`, `delete-file`, `cat`, `show`, `show-errors`, `show-state` (`mars-state`),
//! `show-info` (`mars-info`), `err-purge-all`, `link-purge-all`, `create-uuid`, and
//! `lowlevel-ls-host-ips`, `lowlevel-set-host-ip`, `lowlevel-delete-host`.
//!
//! Where the original changed another host's keys (a peer's address), the merge rules of this
//! MARS make the peers refuse such a change (a member changes only what it owns): these
//! commands refuse it here too and say where to run it instead.

use crate::cmd_switch::{indicator, ResArgs};
use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{escape_output, trigger, utc_civil, Batch, Entry};
use mars_core::names::check_name;
use mars_core::tree_value::{is_tombstone, IpAddress, NONE_VALUE};

/// Arguments of `get-link`.
#[derive(clap::Args)]
pub(crate) struct GetLinkArgs {
    /// The link: a path below /mars (relative, or absolute starting with /mars/).
    path: String,
}

/// Arguments of `delete-file` and `cat`.
#[derive(clap::Args)]
pub(crate) struct PathsArgs {
    /// Paths below /mars (relative, or absolute starting with /mars/).
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Arguments of `show` (resource optional: default every resource).
#[derive(clap::Args)]
pub(crate) struct ShowArgs {
    /// A resource, a comma-separated list of resources, or `all` (default).
    res: Option<String>,
}

/// Arguments of `show-state`.
#[derive(clap::Args)]
pub(crate) struct ShowStateArgs {
    /// The resource.
    res: String,
    /// The host whose state is told (default: this host).
    peer: Option<String>,
}

impl ShowStateArgs {
    /// The resource argument (a list or `all` before expansion).
    pub(crate) fn res(&self) -> &str {
        &self.res
    }

    /// The same arguments for one resource of a list.
    pub(crate) fn for_res(&self, res: &str) -> ShowStateArgs {
        ShowStateArgs {
            res: res.to_string(),
            peer: self.peer.clone(),
        }
    }
}

/// Arguments of `lowlevel-set-host-ip`.
#[derive(clap::Args)]
pub(crate) struct SetHostIpArgs {
    /// The host.
    host: String,
    /// Its address (default for this host: as create-cluster determines it).
    ip: Option<String>,
}

/// Arguments of `lowlevel-delete-host`.
#[derive(clap::Args)]
pub(crate) struct DeleteHostArgs {
    /// The host.
    host: String,
}

/// `path` relative to the tree root: a relative path, or an absolute one below the root; no
/// `.`, `..` or empty components (nothing outside the tree is touched).
fn tree_rel(ctx: &Ctx, path: &str) -> Result<String, Fail> {
    let root = ctx.tree.root.to_string_lossy().into_owned();
    let rel = match path.strip_prefix(&format!("{}/", root.trim_end_matches('/'))) {
        Some(rel) => rel,
        None if path.starts_with('/') => {
            return Err(Fail::refused(format!("path '{path}' is not below {root}")))
        }
        None => path,
    };
    let rel = rel.trim_end_matches('/');
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Fail::refused(format!(
            "path '{path}' is no path below {root}"
        )));
    }
    Ok(rel.to_string())
}

/// `get-link PATH`: prints the link's value (`.deleted` for a deleted key). Exit 1 when there
/// is no link.
pub(crate) fn get_link(ctx: &Ctx, args: &GetLinkArgs) -> CmdResult {
    let rel = tree_rel(ctx, &args.path)?;
    match ctx.tree.link(&rel) {
        Some(link) => {
            println!("{}", escape_output(&link.value));
            Ok(())
        }
        None => Err(Fail::refused(format!(
            "cannot read symlink '{}'",
            ctx.tree.path(&rel).display()
        ))),
    }
}

/// `delete-file PATH...`: writes the tombstone over each (the deletion spreads to the peers).
/// As the original, only below `userspace/` (of the cluster or a resource) unless `--force`.
pub(crate) fn delete_file(ctx: &Ctx, args: &PathsArgs) -> CmdResult {
    let mut batch = Batch::new();
    for path in &args.paths {
        let rel = tree_rel(ctx, path)?;
        let parsed = mars_core::tree::Key::parse(&rel)
            .map_err(|e| Fail::refused(format!("path '{path}': {e}")))?;
        if parsed.is_transient() {
            return Err(Fail::refused(format!(
                "path '{path}' is not a key of the tree"
            )));
        }
        if !format!("/{rel}").contains("/userspace/") {
            if !ctx.options.force {
                return Err(Fail::refused(format!(
                    "your path '{path}' must be inside {0}/userspace/ or {0}/resource-*/userspace/",
                    ctx.tree.root.display()
                ))
                .line("--force deletes other keys (VERY dangerous; a peer's keys are deleted here only: the peers refuse a deletion of what they own)"));
            }
            eprintln!("WARNING: your path '{path}' is outside userspace/ and you gave --force, hopefully YOU KNOW WHAT YOU ARE DOING");
        }
        match ctx.tree.entry(&rel) {
            Entry::Missing => {
                return Err(Fail::refused(format!("'{path}' does not exist")));
            }
            Entry::Dir | Entry::Other => {
                return Err(Fail::refused(format!(
                    "'{path}' is a directory or special file, not a key"
                )));
            }
            Entry::Link(_) | Entry::File { .. } => {}
        }
        if ctx.options.verbose {
            println!("delete '{}'", ctx.tree.path(&rel).display());
        }
        batch.delete(&rel);
    }
    ctx.commit(batch)
}

/// Lamport and Unix stamps (`<9+ digits>.<9 digits>`) as `YYYY-MM-DD hh:mm:ss.nnnnnnnnn` UTC
/// and negative error codes after `error`/`status` with their names (`_replace_timestamps`).
fn readable(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_digit();
        if starts_word && (9..=18).contains(&digits) {
            let frac = &bytes[i + digits..];
            let nanos = frac.get(1..10).filter(|n| n.iter().all(u8::is_ascii_digit));
            let ends = frac.get(10).is_none_or(|b| !b.is_ascii_digit());
            if frac.first() == Some(&b'.') && nanos.is_some() && ends {
                let secs: i64 = line[i..i + digits].parse().unwrap_or(0);
                let (y, mo, d, h, mi, s) = utc_civil(secs);
                let ns = &line[i + digits + 1..i + digits + 10];
                out.push_str(&format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ns}"));
                i += digits + 10;
                continue;
            }
        }
        if digits > 0 {
            out.push_str(&line[i..i + digits]);
            i += digits;
            continue;
        }
        let c = line[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    errno_names(&out)
}

/// `error=-5` → `error=-[EIO:Input/output error]` (the original's `__conv_errno_to_text`).
fn errno_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['e', 's']) {
        let (head, tail) = rest.split_at(pos);
        out.push_str(head);
        let word = ["error", "status"]
            .into_iter()
            .find(|w| tail.starts_with(w));
        let Some(word) = word else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        };
        let after = &tail[word.len()..];
        let sep_len = after.len() - after.trim_start_matches([' ', '\t', '=']).len();
        let after_sep = &after[sep_len..];
        let Some(num) = after_sep.strip_prefix('-') else {
            out.push_str(word);
            rest = after;
            continue;
        };
        let digits = num.bytes().take_while(u8::is_ascii_digit).count();
        let code: Option<i64> = num[..digits].parse().ok();
        let known = code.and_then(|c| {
            crate::macros::errno::ERRNOS
                .iter()
                .find(|(n, _, _)| *n == c)
        });
        out.push_str(&tail[..word.len() + sep_len + 1]);
        match known {
            Some((_, name, text)) if digits > 0 => out.push_str(&format!("[{name}:{text}]")),
            _ => out.push_str(&num[..digits]),
        }
        rest = &num[digits..];
    }
    out.push_str(rest);
    out
}

/// `cat PATH...`: prints files (and links' values) below /mars with readable times and error
/// names. Exit 1 when a path cannot be read (the others are still printed).
pub(crate) fn cat(ctx: &Ctx, args: &PathsArgs) -> CmdResult {
    let mut failed = Vec::new();
    for path in &args.paths {
        let rel = tree_rel(ctx, path)?;
        let text = match ctx.tree.entry(&rel) {
            Entry::Link(link) => Some(format!("{}\n", link.value)),
            Entry::File { .. } => std::fs::read(ctx.tree.path(&rel))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        };
        match text {
            Some(text) => {
                for line in text.split_inclusive('\n') {
                    print!("{}", escape_output(&readable(line)));
                }
            }
            None => failed.push(path.clone()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Fail::refused(format!("cannot read: {}", failed.join(", "))))
    }
}

/// The resources of a `show` argument: a list, `all` or nothing (every resource directory).
fn show_resources(ctx: &Ctx, res: Option<&str>) -> Result<Vec<String>, Fail> {
    match res.filter(|r| *r != "all") {
        Some(list) => {
            let names = crate::res_list::expand(ctx, list)?;
            for name in &names {
                ctx.existing_res(name)?;
            }
            Ok(names)
        }
        None => Ok(ctx
            .tree
            .list("")
            .into_iter()
            .filter_map(|n| n.strip_prefix("resource-").map(str::to_string))
            .filter(|r| ctx.tree.is_dir(&format!("resource-{r}")))
            .collect()),
    }
}

/// `show [RES]`: this host's links, `<path>=<value>` (`show_cmd`).
pub(crate) fn show(ctx: &Ctx, args: &ShowArgs) -> CmdResult {
    let host = ctx.host.as_str();
    let mut rels = vec![format!("ips/ip-{host}")];
    for name in ["alive", "emergency", "rest-space", "total-space", "time"] {
        rels.push(format!("actual-{host}/{name}"));
    }
    for res in show_resources(ctx, args.res.as_deref())? {
        let dir = format!("resource-{res}");
        for name in [
            format!("device-{host}"),
            "primary".to_string(),
            "size".to_string(),
            format!("actsize-{host}"),
            format!("syncstatus-{host}"),
            format!("replay-{host}"),
        ] {
            rels.push(format!("{dir}/{name}"));
        }
        for sub in [format!("actual-{host}"), format!("todo-{host}")] {
            for name in ctx.tree.list(&format!("{dir}/{sub}")) {
                rels.push(format!("{dir}/{sub}/{name}"));
            }
        }
    }
    let mut out = String::new();
    for rel in rels {
        if let Some(value) = ctx.tree.value(&rel) {
            out.push_str(&format!("{rel}={value}\n"));
        }
    }
    print!("{}", escape_output(&out));
    Ok(())
}

/// The error and warning messages the kernel published for a resource here
/// (`actual-<host>/msg-err-*`, `msg-warn-*`, of the resource and of the host).
fn messages(ctx: &Ctx, dir: &str, errors_only: bool) -> Vec<(String, String)> {
    let host = ctx.host.as_str();
    let mut out = Vec::new();
    for actual in [format!("{dir}/actual-{host}"), format!("actual-{host}")] {
        for name in ctx.tree.list(&actual) {
            let wanted =
                name.starts_with("msg-err-") || (!errors_only && name.starts_with("msg-warn-"));
            if !wanted {
                continue;
            }
            let rel = format!("{actual}/{name}");
            if let Some(value) = ctx.tree.value(&rel) {
                out.push((rel, value));
            }
        }
    }
    out
}

/// `show-errors RES`: prints the kernel's error and warning messages; exit 1 when there are
/// some (`show_errors_cmd`).
pub(crate) fn show_errors(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    let found = messages(ctx, &dir, false);
    if found.is_empty() {
        println!("no errors/warnings are reported.");
        return Ok(());
    }
    let mut out = String::new();
    for (rel, value) in found {
        out.push_str(&format!("{rel}: {}\n", readable(&value)));
    }
    print!("{}", escape_output(&out));
    Err(Fail::refused(format!(
        "resource {} has some (old) problems.",
        args.res
    )))
}

/// `show-state RES [HOST]` (alias `mars-state`): one line, the original's words
/// (`mars_state_cmd`).
pub(crate) fn show_state(ctx: &Ctx, args: &ShowStateArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    let peer = args.peer.clone().unwrap_or_else(|| ctx.host.clone());
    check_name(&peer).map_err(|e| Fail::refused(format!("host name '{peer}': {e}")))?;
    let tree = &ctx.tree;
    let is_primary =
        indicator(tree, &dir, &peer, "is-primary") || indicator(tree, &dir, &peer, "if-on");
    let designated = ctx
        .designated_primary(&dir)
        .unwrap_or_else(|| NONE_VALUE.to_string());
    let line = if is_primary {
        "is_primary".to_string()
    } else if designated == peer {
        "becoming_primary".to_string()
    } else {
        let size = tree.value(&format!("{dir}/size")).unwrap_or_default();
        let sync = tree
            .value(&format!("{dir}/syncstatus-{peer}"))
            .unwrap_or_default();
        if sync != size {
            format!("secondary inconsistent ({sync} bytes of {size})")
        } else if designated == NONE_VALUE {
            "secondary".to_string()
        } else {
            let theirs = tree
                .value(&format!("{dir}/replay-{designated}"))
                .unwrap_or_default();
            let mine = tree
                .value(&format!("{dir}/replay-{peer}"))
                .unwrap_or_default();
            if theirs == mine {
                "secondary uptodate".to_string()
            } else {
                format!("secondary outdated ({mine} instead of {theirs})")
            }
        }
    };
    println!("{}", escape_output(&line));
    Ok(())
}

/// `show-info RES` (alias `mars-info`): the kernel's indicators of the resource here, one
/// `<name>=<value>` a line (the original printed its `logstatus-<host>.status` file, which
/// this kernel does not write; `actual-<host>/` holds what it publishes instead).
pub(crate) fn show_info(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    let actual = format!("{dir}/actual-{}", ctx.host);
    let mut out = String::new();
    for name in ctx.tree.list(&actual) {
        if let Some(value) = ctx.tree.value(&format!("{actual}/{name}")) {
            out.push_str(&format!("{name}={}\n", readable(&value)));
        }
    }
    if out.is_empty() {
        return Err(Fail::refused(format!(
            "the kernel has published nothing for '{}' on '{}' ({actual}/ is empty)",
            args.res, ctx.host
        )));
    }
    print!("{}", escape_output(&out));
    Ok(())
}

/// `err-purge-all RES`: deletes this host's error messages (`actual-<host>/msg-err-*`, of the
/// resource and of the host) (`err_purge_res`). The kernel publishes a message again while
/// its cause persists.
pub(crate) fn err_purge_all(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    let mut batch = Batch::new();
    let found = messages(ctx, &dir, true);
    for (rel, _) in &found {
        if ctx.options.verbose {
            println!("  deleting '{rel}'");
        }
        batch.delete(rel);
    }
    ctx.commit(batch)?;
    println!(
        "deleted {} error message(s) of '{}' on '{}'",
        found.len(),
        args.res,
        ctx.host
    );
    Ok(())
}

/// `link-purge-all RES`: collects the tombstones every peer has seen, at the top of the tree
/// and in the resource (`link_purge_global`, `link_purge_res`), as `cron` does.
pub(crate) fn link_purge_all(ctx: &Ctx, args: &ResArgs) -> CmdResult {
    let dir = ctx.existing_res(&args.res)?;
    let count = crate::cmd_cron::purge_links_in(ctx, crate::cmd_cron::KEEP_BACKUP_HOURS, &dir)?;
    println!("collected {count} deleted link(s) every peer has seen");
    Ok(())
}

/// `update-cluster [RES]`: the resources named must exist; then `wait-cluster` (which asks
/// every peer, as the original's `update_cluster` does whatever the resource).
pub(crate) fn update_cluster(ctx: &Ctx, args: &ShowArgs) -> CmdResult {
    show_resources(ctx, args.res.as_deref())?;
    crate::cmd_cluster::wait_cluster(ctx)
}

/// `create-uuid` (deprecated): writes `uuid` where a very old tree has none; never replaces
/// one.
pub(crate) fn create_uuid(ctx: &Ctx) -> CmdResult {
    ctx.check_mounted("create uuid")?;
    if let Some(link) = ctx.tree.link("uuid").filter(|l| !is_tombstone(&l.value)) {
        return Err(Fail::refused(format!(
            "Cluster was already created with uuid='{}'. For safety reasons, no override is possible at marsadm level.",
            link.value
        )));
    }
    let (now, _) = ctx.tree.lamport_now()?;
    let uuid = format!("{}_{}", ctx.host, now);
    let mut batch = Batch::new();
    batch.set_link("uuid", &uuid);
    ctx.commit(batch)?;
    println!("New cluster UUID is '{uuid}'");
    Ok(())
}

/// `lowlevel-ls-host-ips`: `<host> <address>` of every member.
pub(crate) fn ls_host_ips(ctx: &Ctx) -> CmdResult {
    let mut out = String::new();
    for name in ctx.tree.list("ips") {
        let Some(peer) = name.strip_prefix("ip-") else {
            continue;
        };
        if peer == NONE_VALUE || peer == "none" {
            eprintln!("WARNING: IMPORTANT: a reserved name '{peer}' is configured in ips/: fix this by hand");
        }
        if let Some(ip) = ctx.tree.value(&format!("ips/{name}")) {
            out.push_str(&format!("{peer} {ip}\n"));
        }
    }
    print!("{}", escape_output(&out));
    Ok(())
}

/// `lowlevel-set-host-ip HOST [IP]`: this host's own address, or the first address of a host
/// not known here yet. A known peer's address is its own: its peers refuse a change from
/// here, so that is refused (run it on that host).
pub(crate) fn set_host_ip(ctx: &Ctx, args: &SetHostIpArgs) -> CmdResult {
    let peer = args.host.as_str();
    check_name(peer).map_err(|e| Fail::refused(format!("host name '{peer}': {e}")))?;
    let rel = format!("ips/ip-{peer}");
    let old = ctx.tree.value(&rel);
    if peer != ctx.host && old.is_some() {
        return Err(Fail::refused(format!(
            "the address of '{peer}' is owned by '{peer}': its peers refuse a change from here"
        ))
        .line(format!(
            "run 'marsadm lowlevel-set-host-ip {peer} <ip>' on '{peer}'"
        )));
    }
    let ip = match (&args.ip, peer == ctx.host) {
        (Some(ip), _) => ip.clone(),
        (None, true) => crate::cmd_cluster::own_ip(ctx, None)?,
        (None, false) => match crate::ctx::known_ip(peer, &ctx.host) {
            Some(ip) => ip,
            None => {
                return Err(Fail::refused(format!(
                    "give the address of the new host '{peer}' (or --ip-{peer}=<address>)"
                )))
            }
        },
    };
    let parsed =
        IpAddress::parse(&ip).map_err(|e| Fail::refused(format!("address '{ip}': {e}")))?;
    let ip = parsed.to_string();
    println!(
        "Set host '{peer}' IP from '{}' to '{ip}'",
        old.as_deref().unwrap_or("")
    );
    if old.as_deref() == Some(ip.as_str()) {
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.set_link(&rel, &ip);
    batch.add_trigger(trigger::TO_REMOTE_ALL);
    ctx.commit(batch)
}

/// `lowlevel-delete-host HOST`: only this host's own address (as `leave-cluster`, with its
/// guards); another host's is its own, and its peers refuse a deletion from here.
pub(crate) fn delete_host(ctx: &Ctx, args: &DeleteHostArgs) -> CmdResult {
    let peer = args.host.as_str();
    check_name(peer).map_err(|e| Fail::refused(format!("host name '{peer}': {e}")))?;
    if peer != ctx.host {
        return Err(Fail::refused(format!(
            "the address of '{peer}' is owned by '{peer}': its peers refuse a deletion from here"
        ))
        .line(format!(
            "run 'marsadm leave-cluster' (or 'lowlevel-delete-host {peer}') on '{peer}'"
        )));
    }
    if let Some(old) = ctx.tree.value(&format!("ips/ip-{peer}")) {
        println!("Removing host '{peer}' old IP '{old}'");
    }
    crate::cmd_cluster::leave_cluster(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_errors_become_readable() {
        assert_eq!(
            readable("at 1700000000.123456789 status=-5\n"),
            "at 2023-11-14 22:13:20.123456789 status=-[EIO:Input/output error]\n"
        );
        assert_eq!(
            readable("error -28 x"),
            "error -[ENOSPC:No space left on device] x"
        );
        // Not a stamp: too few digits, too many nanosecond digits, or a longer number.
        assert_eq!(readable("v 12345678.123456789"), "v 12345678.123456789");
        assert_eq!(readable("1700000000.1234567891"), "1700000000.1234567891");
        assert_eq!(readable("error=-99999 errors"), "error=-99999 errors");
        assert_eq!(readable("status=0 size=-1"), "status=0 size=-1");
        assert_eq!(
            readable("ünïcode 1700000000.000000000"),
            "ünïcode 2023-11-14 22:13:20.000000000"
        );
    }
}
