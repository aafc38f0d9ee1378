// SPDX-License-Identifier: GPL-2.0
//! The primitive macros of `marsadm view`: values read from the `/mars` tree, as the original's
//! `eval_fn` reads them. They use the variables `host`, `res` of the evaluation, so
//! `%tmp{%let{host}{bravo}%is-primary{}}` asks about bravo.
//!
//! A value the kernel does not publish here (rates, `if-flying`, `features`, ...) is
//! [`MacroError::Unavailable`], never a made-up number: `marsadm view-<name>` then fails with
//! "not available", and inside a macro it is the empty string.

use super::engine::{fmt_num, num, truth, Env, MResult, MacroError};
use crate::ctx::Ctx;
use crate::tree_io::Entry;
use mars_core::tree::LogName;

/// The feature flags of the original (`%FEATURES_FLAGS`).
const FEATURES: &[(&str, u64)] = &[
    ("CHKSUM_MD5_OLD", 0x0001_0000),
    ("CHKSUM_MD5", 0x0002_0000),
    ("CHKSUM_CRC32C", 0x0004_0000),
    ("CHKSUM_CRC32", 0x0008_0000),
    ("CHKSUM_SHA1", 0x0010_0000),
    ("COMPRESS_LZO", 0x0100_0000),
    ("COMPRESS_LZ4", 0x0200_0000),
    ("COMPRESS_ZLIB", 0x0400_0000),
];
const CHKSUM_MASK: u64 = 0x00ff_0000;
const COMPRESS_MASK: u64 = 0xff00_0000;

fn unavailable<T>(text: impl Into<String>) -> MResult<T> {
    Err(MacroError::Unavailable(text.into()))
}

fn refused<T>(text: impl Into<String>) -> MResult<T> {
    Err(MacroError::Fail(text.into()))
}

fn features_text(flags: u64, skip_unknown: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    for bit in 0..32 {
        let mask = 1u64 << bit;
        if flags & mask == 0 {
            continue;
        }
        match FEATURES.iter().find(|(_, m)| *m == mask) {
            Some((name, _)) => out.push((*name).to_string()),
            None if !skip_unknown => out.push(format!("0x{mask:x}")),
            None => {}
        }
    }
    out.join("|")
}

fn hex_flags(text: &str) -> u64 {
    let t = text.trim();
    match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or(0),
        None => t.parse().unwrap_or(0),
    }
}

/// The primitives over one tree.
pub(crate) struct Prims<'a> {
    pub(crate) ctx: &'a Ctx,
    /// `--threshold` in bytes.
    pub(crate) threshold: u64,
    /// What `%timeout{}` may still sleep in this call (of `--timeout`; `None`: not started).
    pub(crate) timeout_left: std::cell::Cell<Option<f64>>,
}

struct At<'e> {
    host: &'e str,
    res: &'e str,
    dir: String,
}

impl Prims<'_> {
    fn val(&self, rel: &str) -> Option<String> {
        self.ctx.tree.value(rel)
    }

    fn flag(&self, rel: &str) -> bool {
        self.val(rel).is_some_and(|v| truth(v.trim()))
    }

    fn lamport_now(&self) -> f64 {
        let s = self
            .ctx
            .tree
            .lamport_now()
            .map(|(s, _)| s)
            .unwrap_or_else(|_| crate::tree_io::real_time());
        s.sec as f64 + f64::from(s.nsec) / 1e9
    }

    fn window(&self) -> f64 {
        self.ctx.options.window as f64
    }

    fn members(&self, at: &At<'_>) -> Vec<String> {
        self.ctx
            .tree
            .list(&at.dir)
            .into_iter()
            .filter_map(|n| n.strip_prefix("data-").map(str::to_string))
            .filter(|h| self.ctx.tree.exists(&format!("{}/data-{h}", at.dir)))
            .collect()
    }

    fn guests(&self, dir: &str) -> Vec<String> {
        self.ctx
            .tree
            .list(dir)
            .into_iter()
            .filter_map(|n| n.strip_prefix("device-").map(str::to_string))
            .filter(|h| {
                self.ctx.tree.exists(&format!("{dir}/device-{h}"))
                    && !self.ctx.tree.exists(&format!("{dir}/data-{h}"))
            })
            .collect()
    }

    fn resources(&self) -> Vec<String> {
        self.ctx
            .tree
            .list("")
            .into_iter()
            .filter_map(|n| n.strip_prefix("resource-").map(str::to_string))
            .filter(|r| !self.ctx.resource_deleted(&format!("resource-{r}")))
            .collect()
    }

    fn cluster_peers(&self) -> Vec<String> {
        self.ctx
            .tree
            .list("ips")
            .into_iter()
            .filter_map(|n| n.strip_prefix("ip-").map(str::to_string))
            .filter(|h| self.ctx.tree.exists(&format!("ips/ip-{h}")))
            .collect()
    }

    fn primary(&self, at: &At<'_>) -> String {
        self.ctx.designated_primary(&at.dir).unwrap_or_default()
    }

    /// `actual-<peer>/is-<what>` with the original's name corrections.
    fn is(&self, at: &At<'_>, what: &str, peer: &str) -> bool {
        let name = match what {
            "attach" => "is-attached",
            "sync" => "is-syncing",
            "fetch" => "is-copying",
            "replay" => "is-replaying",
            "primary" | "secondary" => "is-primary",
            "emergency" => "has-emergency",
            _ => return false,
        };
        self.flag(&format!("{}/actual-{peer}/{name}", at.dir))
    }

    /// `todo-<host>/<what>` with the original's name corrections.
    fn todo(&self, at: &At<'_>, what: &str) -> String {
        let name = match what {
            "fetch" => "connect",
            "replay" => "allow-replay",
            w => w,
        };
        self.val(&format!("{}/todo-{}/{name}", at.dir, at.host))
            .unwrap_or_default()
    }

    fn alive_stamp(&self, peer: &str) -> Option<f64> {
        self.val(&format!("actual-{peer}/time"))
            .map(|v| num(&v))
            .filter(|v| *v > 0.0)
    }

    fn is_alive(&self, peer: &str) -> bool {
        self.alive_stamp(peer)
            .is_some_and(|t| t + 2.0 * self.window() >= self.lamport_now())
    }

    fn link_mtime(&self, rel: &str) -> Option<f64> {
        self.ctx.tree.link(rel).map(|l| l.stamp.sec as f64)
    }

    /// The length of logfile `nr`: with `only_files` what the local copy holds (its size, at
    /// most the log end of a version link: our logfiles are preallocated), else the log end of
    /// a version link of that number, or without one the biggest copy's size. `None`: no such
    /// logfile.
    fn log_len(&self, at: &At<'_>, nr: u32, origin: &str, only_files: bool) -> Option<u64> {
        let names = self.ctx.tree.list(&at.dir);
        let prefix_log = format!("log-{nr:09}-");
        let prefix_version = format!("version-{nr:09}-");
        let mut file_len: Option<u64> = None;
        let own = format!("{prefix_log}{origin}");
        for name in names.iter().filter(|n| n.starts_with(&prefix_log)) {
            if let Entry::File { len, .. } = self.ctx.tree.entry(&format!("{}/{name}", at.dir)) {
                if *name == own {
                    file_len = Some(len);
                    break;
                }
                file_len = Some(file_len.unwrap_or(0).max(len));
            }
        }
        let mut version_len: Option<u64> = None;
        for name in names.iter().filter(|n| n.starts_with(&prefix_version)) {
            if let Some(v) = self.val(&format!("{}/{name}", at.dir)) {
                let pos = v
                    .split(',')
                    .skip(1)
                    .find_map(|p| p.split(':').next().and_then(|d| d.parse::<u64>().ok()));
                if let Some(p) = pos {
                    version_len = Some(version_len.unwrap_or(0).max(p));
                }
            }
        }
        if only_files {
            // What is here: the local copy, up to the log end (a preallocated file is longer).
            file_len.map(|f| version_len.map_or(f, |v| f.min(v)))
        } else {
            version_len.or(file_len)
        }
    }

    /// The original's `get_amount`: walks the logfiles from this host's replay position
    /// backwards (`direction` < 0) or forwards; returns (sum, first number, last number).
    fn amount(&self, at: &At<'_>, direction: i32, only_files: bool) -> (u64, u32, u32) {
        let Some(replay) = self.val(&format!("{}/replay-{}", at.dir, at.host)) else {
            return (0, 0, 0);
        };
        let Ok(link) = mars_core::tree_value::ReplayLink::parse(&replay) else {
            return (0, 0, 0);
        };
        let first = link.log.nr;
        let pos = u64::try_from(link.min_pos).unwrap_or(0);
        let dirty = u64::try_from(link.dirty_len).unwrap_or(0);
        let origin = link.log.origin.as_str().to_string();
        let mut sum = if direction < 0 { pos } else { dirty };
        let mut nr = first;
        let mut last = first;
        let mut level = 0u32;
        loop {
            if level > 0 || direction > 0 {
                let Some(len) = self.log_len(at, nr, &origin, only_files) else {
                    return (sum, first, last);
                };
                if level > 0 {
                    sum = sum.saturating_add(len);
                } else {
                    sum = sum.max(len.saturating_sub(pos));
                }
            }
            last = nr;
            if direction > 0 {
                nr = nr.saturating_add(1);
            } else if direction < 0 {
                if nr <= 1 {
                    return (sum, first, last);
                }
                nr -= 1;
            } else {
                return (sum, first, last);
            }
            level += 1;
            if level > 100_000 {
                return (sum, first, last);
            }
        }
    }

    fn size_pos(&self, env: &Env, what: &str) -> MResult<(f64, f64)> {
        let size = self.call(env, &format!("{what}-size"), &[])?;
        let pos = self.call(env, &format!("{what}-pos"), &[])?;
        Ok((num(&size), num(&pos)))
    }

    fn rate(&self, at: &At<'_>, what: &str, select: &str) -> MResult<f64> {
        let short = match what {
            "device" => "if",
            "sync" => "sync",
            "fetch" => "file",
            _ => "replay",
        };
        let name = if select == "ops-rate" {
            format!("ops-{short}_rate")
        } else {
            format!("amount-{short}_rate")
        };
        let rel = format!("{}/actual-{}/{name}", at.dir, at.host);
        let old = rel.replace("/amount-", "/");
        match self.val(&rel).or_else(|| self.val(&old)) {
            Some(v) => Ok(num(&v)),
            None => unavailable(format!(
                "the kernel does not publish {rel} (Documentation/marsadm.8.rst, view macros)"
            )),
        }
    }

    /// The primitive `name` with evaluated `args`; `None` when there is none of that name.
    pub(crate) fn call(&self, env: &Env, name: &str, args: &[String]) -> MResult<String> {
        let arg = |k: usize| args.get(k).map_or("", String::as_str);
        let host = env.get("host");
        let res = env.get("res");
        let at = At {
            host,
            res,
            dir: format!("resource-{res}"),
        };
        let peer_or = |k: usize, default: &str| -> String {
            let a = arg(k);
            if a.is_empty() {
                default.to_string()
            } else {
                a.to_string()
            }
        };
        let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
        let list = |v: Vec<String>| v.iter().map(|s| format!("{s}\n")).collect::<String>();
        let tree = &self.ctx.tree;
        let d = &at.dir;

        if let Some(rest) = name.strip_prefix("count-") {
            if let Some(v) = self.lists(&at, rest, args) {
                return Ok(v?.len().to_string());
            }
        } else if let Some(v) = self.lists(&at, name, args) {
            return Ok(list(v?));
        }
        Ok(match name {
            "is-module-loaded" => b(tree.module_loaded()),
            "is-member" | "is-guest" => {
                let r = peer_or(0, res);
                let h = peer_or(1, host);
                let dir = format!("resource-{r}");
                let data = tree.exists(&format!("{dir}/data-{h}"));
                let device = tree.exists(&format!("{dir}/device-{h}"));
                b(if name == "is-member" {
                    data
                } else {
                    device && !data
                })
            }
            "readlink" => {
                let path = arg(0);
                let root = tree.root.to_string_lossy().to_string();
                let rel = path
                    .strip_prefix(&root)
                    .or_else(|| path.strip_prefix("/mars"))
                    .map(|r| r.trim_start_matches('/'))
                    .filter(|r| !r.split('/').any(|c| c == ".."));
                match rel {
                    Some(rel) => self.val(rel).unwrap_or_default(),
                    None => return refused(format!("%readlink: '{path}' is not beneath /mars")),
                }
            }
            "setlink" => return refused("%setlink: view is read-only here (use marsadm set-link)"),
            "get-primary" => self.primary(&at),
            "todo-primary" => b(!host.is_empty() && self.primary(&at) == host),
            "actual-primary" => self
                .members(&at)
                .into_iter()
                .find(|h| self.is(&at, "primary", h))
                .unwrap_or_default(),
            "todo-secondary" => b(self.primary(&at).is_empty()),
            "todo-attach" | "todo-sync" | "todo-fetch" | "todo-replay" => {
                self.todo(&at, &name[5..])
            }
            "todo" => self.todo(&at, arg(0)),
            "get-msg" => self
                .val(&format!("{d}/actual-{host}/msg-{}", arg(0)))
                .unwrap_or_default(),
            "global-sync-limit-value" => self
                .val(&format!("defaults-{host}/sync-limit"))
                .unwrap_or_default(),
            "potential-features" => features_text(u64::MAX, true),
            "implemented-features"
            | "usable-features"
            | "implemented-compressions"
            | "usable-compressions"
            | "implemented-digests"
            | "usable-digests" => {
                let (op, restrict) = name.split_once('-').unwrap_or((name, ""));
                let key = if op == "implemented" {
                    "features"
                } else {
                    "usable"
                };
                let rel = format!("actual-{host}/{key}");
                let Some(v) = self.val(&rel) else {
                    return unavailable(format!("the kernel does not publish {rel}"));
                };
                let mut flags = v
                    .split(',')
                    .find(|p| p.starts_with("0x"))
                    .map_or(0, hex_flags);
                if restrict == "compressions" {
                    flags &= COMPRESS_MASK;
                } else if restrict == "digests" {
                    flags &= CHKSUM_MASK;
                }
                features_text(flags, true)
            }
            "enabled-log-compressions"
            | "enabled-net-compressions"
            | "disabled-log-digests"
            | "disabled-net-digests" => {
                let flags = self
                    .val(&format!("defaults/{name}"))
                    .map_or(0, |v| hex_flags(&v));
                let mask = if name.ends_with("compressions") {
                    COMPRESS_MASK
                } else {
                    CHKSUM_MASK
                };
                features_text(flags & mask, false)
            }
            "used-log-compression"
            | "used-net-compression"
            | "used-log-digest"
            | "used-net-digest" => {
                let rel = format!("actual-{host}/{name}");
                let Some(v) = self.val(&rel) else {
                    return unavailable(format!("the kernel does not publish {rel}"));
                };
                let mask = if name.ends_with("compression") {
                    COMPRESS_MASK
                } else {
                    CHKSUM_MASK
                };
                features_text(hex_flags(&v) & mask, false)
            }
            "tree-version" | "features-version" | "version" | "tree" => {
                let key = name.trim_end_matches("-version");
                let key = if key == "version" { "version" } else { key };
                let rel = format!("actual-{host}/{key}");
                match self.val(&rel) {
                    Some(v) => v,
                    None => return unavailable(format!("the kernel does not publish {rel}")),
                }
            }
            "rest-space" | "total-space" => {
                let rel = format!("actual-{host}/{name}");
                match self.val(&rel) {
                    Some(v) => v,
                    None => return unavailable(format!("the kernel has not published {rel}")),
                }
            }
            "is-alive" => {
                let p = peer_or(0, &self.primary(&at));
                let p = if p.is_empty() { host.to_string() } else { p };
                b(self.is_alive(&p))
            }
            "alive-timestamp" => {
                let p = peer_or(0, &self.primary(&at));
                if p.is_empty() {
                    "-1".into()
                } else {
                    match self.alive_stamp(&p) {
                        Some(t) => fmt_num(t.trunc()),
                        None => self
                            .link_mtime(&format!("actual-{p}/alive"))
                            .map_or("0".into(), fmt_num),
                    }
                }
            }
            "is-orphan" => {
                let p = peer_or(0, host);
                if self.is(&at, "primary", &p) {
                    "0".into()
                } else {
                    let replay = self.val(&format!("{d}/replay-{p}")).unwrap_or_default();
                    let orphan = match mars_core::tree_value::ReplayLink::parse(&replay) {
                        Ok(link) => match tree.entry(&format!("{d}/{}", link.log)) {
                            Entry::File { len, .. } => (len as i128) < i128::from(link.min_pos),
                            _ => true,
                        },
                        Err(_) => true,
                    };
                    b(orphan)
                }
            }
            "is-consistent" | "is-almost-consistent" => {
                b(self.consistent(env, &at, name == "is-almost-consistent")?)
            }
            "get-disk" => self.val(&format!("{d}/data-{host}")).unwrap_or_default(),
            "get-device" => {
                let dev = self
                    .val(&format!("{d}/device-{host}"))
                    .filter(|v| !v.is_empty() && v != "(none)")
                    .unwrap_or_else(|| res.to_string());
                format!("/dev/mars/{dev}")
            }
            "disk-error" => self
                .val(&format!("{d}/actual-{host}/disk-error"))
                .unwrap_or_default(),
            "disk-present" | "present-disk" => match self.val(&format!("{d}/data-{host}")) {
                None => String::new(),
                Some(disk) if host == self.ctx.host => {
                    let path = std::path::Path::new(&disk);
                    let present = if tree.testing {
                        path.exists()
                    } else {
                        std::fs::metadata(path).is_ok_and(|m| {
                            std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type())
                        })
                    };
                    b(present)
                }
                // Another host's disk: not visible from here; its attachment tells.
                Some(_) => b(self.is(&at, "attach", host)),
            },
            "device-present" | "present-device" => {
                b(self.flag(&format!("{d}/actual-{host}/if-on")))
            }
            "device-opened" => match self.val(&format!("{d}/actual-{host}/open-count")) {
                Some(v) => v,
                None => return unavailable(format!("{d}/actual-{host}/open-count is missing")),
            },
            "device-nrflying"
            | "device-error"
            | "device-completion-stamp"
            | "device-completion-age" => {
                let key = match name {
                    "device-nrflying" => "if-flying",
                    "device-error" => "if-state",
                    _ => "if-completion-stamp",
                };
                let rel = format!("{d}/actual-{host}/{key}");
                match self.val(&rel) {
                    Some(v) if name == "device-completion-age" => {
                        fmt_num((self.lamport_now() - num(&v)).max(0.0).trunc())
                    }
                    Some(v) => v,
                    None => return unavailable(format!("the kernel does not publish {rel}")),
                }
            }
            "known-device-mounted"
            | "known-device-mountpoint"
            | "known-device-fstype"
            | "known-device-mountflags" => {
                if host != self.ctx.host {
                    return Ok(String::new());
                }
                let dev = self.call(env, "get-device", &[])?;
                let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
                let found = mounts.lines().find_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() >= 4 && f[0] == dev)
                        .then(|| (f[1].to_string(), f[2].to_string(), f[3].to_string()))
                });
                match (found, name) {
                    (None, _) => String::new(),
                    (Some(_), "known-device-mounted") => "1".into(),
                    (Some((m, _, _)), "known-device-mountpoint") => m,
                    (Some((_, t, _)), "known-device-fstype") => t,
                    (Some((_, _, o)), _) => o,
                }
            }
            "is-split-brain" | "is-split" => b(crate::model::read_split_brain(tree, d).detected()),
            "is-attach" | "is-sync" | "is-fetch" | "is-replay" | "is-primary" | "is-secondary"
            | "is-emergency" => {
                let what = &name[3..];
                let p = peer_or(0, host);
                let v = self.is(&at, what, &p);
                b(if what == "secondary" { !v } else { v })
            }
            "nr-attach" | "nr-sync" | "nr-fetch" | "nr-replay" | "nr-primary" | "nr-secondary" => {
                let what = &name[3..];
                let n = self
                    .members(&at)
                    .iter()
                    .filter(|h| self.is(&at, what, h) != (what == "secondary"))
                    .count();
                n.to_string()
            }
            "does" => b(self.is(&at, arg(0), host)),
            "systemd-unit" => {
                let start = self
                    .val(&format!("{d}/systemd-start-unit"))
                    .unwrap_or_default();
                let stop = self
                    .val(&format!("{d}/systemd-stop-unit"))
                    .unwrap_or_default();
                match (start.is_empty(), stop.is_empty()) {
                    (true, _) => String::new(),
                    (false, true) => start,
                    (false, false) => format!("{start} {stop}"),
                }
            }
            "uuid" => self.val("uuid").unwrap_or_default(),
            "replay-code" => self
                .val(&format!("{d}/actual-{host}/replay-code"))
                .unwrap_or_default(),
            "device-rate" | "device-ops-rate" | "device-amount-rate" | "sync-rate"
            | "sync-ops-rate" | "sync-amount-rate" | "sync-remain" | "fetch-rate"
            | "fetch-ops-rate" | "fetch-amount-rate" | "fetch-remain" | "replay-rate"
            | "replay-ops-rate" | "replay-amount-rate" | "replay-remain" | "work-rate"
            | "work-ops-rate" | "work-amount-rate" | "work-remain" => {
                let (what, select) = name.split_once('-').unwrap_or((name, ""));
                if what == "work" {
                    let f = num(&self.call(env, &format!("fetch-{select}"), &[])?);
                    let r = num(&self.call(env, &format!("replay-{select}"), &[])?);
                    return Ok(fmt_num(if select == "remain" { f + r } else { f.max(r) }));
                }
                if select == "remain" {
                    let rest = num(&self.call(env, &format!("{what}-rest"), &[])?);
                    if rest <= 0.0 {
                        return Ok("0".into());
                    }
                    let rate = self.rate(&at, what, "rate")?;
                    if rate <= 0.0 {
                        return Ok("-1".into());
                    }
                    return Ok(fmt_num(rest / 1024.0 / rate));
                }
                let rate = self.rate(&at, what, select)?;
                if rate <= 0.0 {
                    "0".into()
                } else if select == "ops-rate" {
                    fmt_num(rate)
                } else {
                    fmt_num(rate * 1024.0)
                }
            }
            "sync-size" => self.val(&format!("{d}/size")).unwrap_or_default(),
            "sync-pos" => self
                .val(&format!("{d}/syncstatus-{host}"))
                .unwrap_or_default(),
            "replay-lognr" => self.amount(&at, -1, true).1.to_string(),
            "replay-basenr" => self.amount(&at, -1, true).2.to_string(),
            "fetch-lognr" => self.amount(&at, 1, true).2.to_string(),
            "work-lognr" => self.amount(&at, 1, false).2.to_string(),
            "replay-logcount" => {
                let a = self.amount(&at, -1, true);
                (i64::from(a.1) - i64::from(a.2)).to_string()
            }
            "fetch-logcount" | "work-logcount" => {
                let last = if name == "fetch-logcount" {
                    self.amount(&at, 1, true).2
                } else {
                    self.amount(&at, 1, false).2
                };
                (i64::from(last) - i64::from(self.amount(&at, -1, true).1)).to_string()
            }
            "writeback-rest" => self.amount(&at, 1, false).0.to_string(),
            "replay-pos" | "work-pos" => self.amount(&at, -1, false).0.to_string(),
            "replay-size" | "fetch-pos" => {
                let s0 = self.amount(&at, -1, false).0;
                (s0 + self.amount(&at, 1, true).0).to_string()
            }
            "fetch-size" | "work-size" => {
                let s0 = self.amount(&at, -1, false).0;
                (s0 + self.amount(&at, 1, false).0).to_string()
            }
            "summary-vector" => {
                let p1 = self.call(env, "replay-pos", &[])?;
                let p2 = self.call(env, "fetch-pos", &[])?;
                let s = self.call(env, "fetch-size", &[])?;
                let delim = if arg(0).is_empty() { ":" } else { arg(0) };
                format!("{p1}{delim}{p2}{delim}{s}")
            }
            "deletable-size" => {
                let min_nr = self
                    .members(&at)
                    .iter()
                    .filter_map(|h| self.val(&format!("{d}/replay-{h}")))
                    .filter_map(|v| {
                        mars_core::tree_value::ReplayLink::parse(&v)
                            .ok()
                            .map(|l| l.log.nr)
                    })
                    .min()
                    .unwrap_or(0);
                let sum: u64 = self
                    .logfiles(&at)
                    .iter()
                    .filter(|(nr, _)| *nr < min_nr)
                    .map(|(_, len)| len)
                    .sum();
                sum.to_string()
            }
            "occupied-size" => self
                .logfiles(&at)
                .iter()
                .map(|(_, l)| l)
                .sum::<u64>()
                .to_string(),
            "disk-size" => {
                let p = peer_or(0, host);
                if !tree.exists(&format!("{d}/data-{p}")) {
                    String::new()
                } else {
                    self.val(&format!("{d}/actsize-{p}")).unwrap_or_default()
                }
            }
            "resource-size" => self.val(&format!("{d}/size")).unwrap_or_default(),
            "device-size" => {
                if !self.flag(&format!("{d}/actual-{host}/if-on")) {
                    self.val(&format!("{d}/size")).unwrap_or_default()
                } else {
                    let dev = self.call(env, "get-device", &[])?;
                    match std::fs::File::open(&dev)
                        .and_then(|mut f| std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)))
                    {
                        Ok(n) => n.to_string(),
                        Err(e) => {
                            return unavailable(format!("cannot read the size of {dev}: {e}"))
                        }
                    }
                }
            }
            "resource-possible-size" => {
                let min = self
                    .members(&at)
                    .iter()
                    .filter_map(|h| self.val(&format!("{d}/actsize-{h}")))
                    .map(|v| num(&v))
                    .filter(|v| *v > 0.0)
                    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
                min.map_or("0".into(), fmt_num)
            }
            "time" => fmt_num(self.lamport_now()),
            "real-time" => fmt_num(crate::tree_io::real_time().sec as f64),
            "replay-timestamp" => {
                let p = peer_or(0, host);
                self.link_mtime(&format!("{d}/replay-{p}"))
                    .map_or("0".into(), fmt_num)
            }
            "fetch-timestamp" => {
                let p = peer_or(0, host);
                let suffix = format!("-{p}");
                let newest = tree
                    .list(d)
                    .into_iter()
                    .filter(|n| n.starts_with("version-") && n.ends_with(&suffix))
                    .max();
                match newest {
                    None => "-1".into(),
                    Some(n) => self
                        .link_mtime(&format!("{d}/{n}"))
                        .map_or("0".into(), fmt_num),
                }
            }
            "work-timestamp" => {
                let a = num(&self.call(env, "fetch-timestamp", args)?);
                let r = num(&self.call(env, "replay-timestamp", args)?);
                fmt_num(a.max(r))
            }
            "fetch-age" | "replay-age" | "work-age" | "alive-age" => {
                let what = &name[..name.len() - 4];
                let t = num(&self.call(env, &format!("{what}-timestamp"), args)?);
                if t <= 0.0 {
                    "-1".into()
                } else {
                    fmt_num(self.lamport_now().trunc() - t)
                }
            }
            "fetch-lag" | "replay-lag" | "work-lag" | "alive-lag" => {
                let what = &name[..name.len() - 4];
                let me = peer_or(0, host);
                let primary = peer_or(1, &self.primary(&at));
                if primary.is_empty() {
                    return Ok("-1".into());
                }
                let t1 = num(&self.call(env, &format!("{what}-timestamp"), &[me])?);
                let t2 = num(&self.call(env, &format!("{what}-timestamp"), &[primary])?);
                if t1 <= 0.0 || t2 <= 0.0 {
                    "-1".into()
                } else if t1 < t2 {
                    "0".into()
                } else {
                    fmt_num(t1 - t2)
                }
            }
            "sleep" => {
                let secs = num(arg(0)).clamp(0.0, 3600.0);
                std::thread::sleep(std::time::Duration::from_secs_f64(secs));
                String::new()
            }
            "get-log-status" => {
                std::fs::read_to_string(tree.path(&format!("{d}/logstatus-{host}.status")))
                    .unwrap_or_default()
            }
            _ => {
                if let Some(v) = self.progress(env, name, args) {
                    return v;
                }
                if let Some(v) = self.messages(&at, name) {
                    return Ok(v);
                }
                if let Some(v) = self.resource_files(&at, name) {
                    return Ok(v);
                }
                if let Some(v) = self.waits(&at, name, args) {
                    return v;
                }
                return Err(MacroError::Fail(format!("call to unknown macro '{name}'")));
            }
        })
    }

    /// The macros that wait, as the original's: `wait-{is,todo}-<what>-{on,off}` and
    /// `wait-resource{<condition>}` (`wait_cond`: what `marsadm wait-resource` waits for, up to
    /// `--timeout`, failing the macro after it), `wait-cluster` (news from every other member),
    /// `timeout{<s>}` (`sleep_timeout`: sleeps, at most 3600 s at once, and fails with "Timeout
    /// reached." once the sleeps of this marsadm call used up `--timeout`; with a negative
    /// `--timeout` it only sleeps). They print nothing when they succeed.
    fn waits(&self, at: &At<'_>, name: &str, args: &[String]) -> Option<MResult<String>> {
        let fail =
            |e: crate::fail::Fail| MacroError::Fail(format!("%{name}: {}", e.lines.join("; ")));
        let condition = match name {
            "wait" | "wait-resource" => Some(args.first().cloned().unwrap_or_default()),
            n if n.starts_with("wait-is-") || n.starts_with("wait-todo-") => {
                Some(n["wait-".len()..].to_string())
            }
            _ => None,
        };
        if let Some(condition) = condition {
            return Some(
                crate::cmd_wait::wait_condition(self.ctx, at.res, &condition)
                    .map(|()| String::new())
                    .map_err(fail),
            );
        }
        match name {
            "wait-cluster" => Some(
                crate::cmd_cluster::wait_cluster_quiet(self.ctx)
                    .map(|()| String::new())
                    .map_err(fail),
            ),
            "timeout" => {
                let want = args
                    .first()
                    .and_then(|a| a.trim().parse::<f64>().ok())
                    .filter(|s| *s > 0.0)
                    .unwrap_or(1.0)
                    .min(3600.0);
                let limit = self.ctx.options.timeout;
                if limit < 0 {
                    std::thread::sleep(std::time::Duration::from_secs_f64(want));
                    return Some(Ok(String::new()));
                }
                let left = self.timeout_left.get().unwrap_or(limit as f64);
                if left <= 0.0 {
                    self.timeout_left.set(None);
                    return Some(refused("Timeout reached."));
                }
                let sleep = want.min(left);
                std::thread::sleep(std::time::Duration::from_secs_f64(sleep));
                self.timeout_left.set(Some(left - sleep));
                Some(Ok(String::new()))
            }
            _ => None,
        }
    }

    /// Lists of names: `cluster-peers`, `resource-peers`, `guest-peers`, the deprecated
    /// `*-members`, `{my,all}-{resources,members,guests}`, `configured-peers`.
    fn lists(&self, at: &At<'_>, name: &str, args: &[String]) -> Option<MResult<Vec<String>>> {
        let name = match name {
            "cluster-members" => "cluster-peers",
            "resource-members" => "resource-peers",
            "guest-members" => "guest-peers",
            n => n,
        };
        let peer = args
            .first()
            .filter(|a| !a.is_empty())
            .map_or(at.host, String::as_str);
        let is = |dir: &str, h: &str, kind: &str| {
            let data = self.ctx.tree.exists(&format!("{dir}/data-{h}"));
            let device = self.ctx.tree.exists(&format!("{dir}/device-{h}"));
            match kind {
                "members" => data,
                "guests" => device && !data,
                _ => data || device,
            }
        };
        Some(Ok(match name {
            "cluster-peers" | "configured-peers" => self.cluster_peers(),
            "resource-peers" => {
                let r = args
                    .first()
                    .filter(|a| !a.is_empty())
                    .map_or(at.res, String::as_str);
                self.members(&At {
                    host: at.host,
                    res: r,
                    dir: format!("resource-{r}"),
                })
            }
            "guest-peers" => self.guests(&at.dir),
            "my-resources" | "my-members" | "my-guests" => {
                let kind = &name[3..];
                self.resources()
                    .into_iter()
                    .filter(|r| is(&format!("resource-{r}"), peer, kind))
                    .collect()
            }
            "all-resources" => self.resources(),
            "all-members" | "all-guests" => {
                let kind = &name[4..];
                self.resources()
                    .into_iter()
                    .filter(|r| {
                        let dir = format!("resource-{r}");
                        self.cluster_peers().iter().any(|h| is(&dir, h, kind))
                    })
                    .collect()
            }
            _ => return None,
        }))
    }

    fn logfiles(&self, at: &At<'_>) -> Vec<(u32, u64)> {
        self.ctx
            .tree
            .list(&at.dir)
            .into_iter()
            .filter_map(|n| {
                let nr = LogName::parse(&n).ok()?.nr;
                match self.ctx.tree.entry(&format!("{}/{n}", at.dir)) {
                    Entry::File { len, .. } => Some((nr, len)),
                    _ => None,
                }
            })
            .collect()
    }

    fn consistent(&self, env: &Env, at: &At<'_>, almost: bool) -> MResult<bool> {
        if num(&self.call(env, "sync-rest", &[])?) > 0.0 {
            return Ok(false);
        }
        let replay = self
            .val(&format!("{}/replay-{}", at.dir, at.host))
            .unwrap_or_default();
        let link = mars_core::tree_value::ReplayLink::parse(&replay).ok();
        if !almost
            && self.is(at, "primary", at.host)
            && link.as_ref().is_some_and(|l| l.dirty_len > 0)
        {
            return Ok(false);
        }
        let Some(link) = link else {
            return Ok(false);
        };
        if let Some(pos) = self.val(&format!("{}/syncpos-{}", at.dir, at.host)) {
            if let Ok(pos) = mars_core::tree_value::ReplayLink::parse(&pos) {
                if (pos.log.nr, pos.min_pos) > (link.log.nr, link.min_pos) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// `{sync,fetch,replay,work}-{rest,reached,almost-reached,threshold-reached,percent,
    /// permille,vector}`.
    fn progress(&self, env: &Env, name: &str, args: &[String]) -> Option<MResult<String>> {
        let (what, op) = name.split_once('-')?;
        if !matches!(what, "sync" | "fetch" | "replay" | "work") {
            return None;
        }
        if !matches!(
            op,
            "rest"
                | "reached"
                | "almost-reached"
                | "threshold-reached"
                | "percent"
                | "permille"
                | "vector"
        ) {
            return None;
        }
        let (size, pos) = match self.size_pos(env, what) {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        let arg = args.first().map_or("", String::as_str);
        let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
        Some(Ok(match op {
            "rest" => fmt_num(if pos < size { size - pos } else { 0.0 }),
            "almost-reached" => {
                let limit = if num(arg) > 0.0 { num(arg) } else { 990.0 };
                b((pos / limit).trunc() >= (size / 1000.0).trunc())
            }
            "threshold-reached" => {
                let t = if arg.is_empty() {
                    self.threshold as f64
                } else {
                    num(arg)
                };
                b(pos + t >= size)
            }
            "reached" => b(pos >= size),
            "percent" | "permille" => {
                let full = if op == "percent" { 100.0 } else { 1000.0 };
                let v = if size > 0.0 {
                    (full + 0.5) * pos / size
                } else {
                    full
                };
                fmt_num(if v >= full { full } else { v })
            }
            _ => {
                let delim = if arg.is_empty() { ":" } else { arg };
                format!("{}{delim}{}", fmt_num(pos), fmt_num(size))
            }
        }))
    }

    /// `{all,the}-[pretty-][global-][{err,wrn,inf}-]{msg,count}`.
    fn messages(&self, at: &At<'_>, name: &str) -> Option<String> {
        let (shorten, rest) = if let Some(r) = name.strip_prefix("all-") {
            (false, r)
        } else {
            (true, name.strip_prefix("the-")?)
        };
        let (pretty, rest) = match rest.strip_prefix("pretty-") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (global, rest) = match rest.strip_prefix("global-") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (specific, kind) = match rest {
            "msg" | "count" => ("", rest),
            _ => {
                let (s, k) = rest.split_once('-')?;
                if !matches!(s, "err" | "wrn" | "inf") || !matches!(k, "msg" | "count") {
                    return None;
                }
                (s, k)
            }
        };
        let dir = if global || at.res.is_empty() {
            format!("actual-{}", at.host)
        } else {
            format!("{}/actual-{}", at.dir, at.host)
        };
        let prefix = if specific.is_empty() {
            "msg-".to_string()
        } else {
            format!("msg-{specific}-")
        };
        let now = self.lamport_now();
        let mut out = String::new();
        let mut count = 0;
        for n in self
            .ctx
            .tree
            .list(&dir)
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
        {
            let Some(val) = self.val(&format!("{dir}/{n}")) else {
                continue;
            };
            if shorten {
                if val.starts_with("OK") {
                    continue;
                }
                // Transient errors (younger than --timeout, 30 s without) are left out.
                if n.contains("-err-") {
                    let stamp = num(val.split_whitespace().next().unwrap_or(""));
                    let delta = if self.ctx.options.timeout > 0 {
                        self.ctx.options.timeout as f64
                    } else {
                        30.0
                    };
                    if stamp > 0.0 && stamp + delta > now {
                        continue;
                    }
                }
            }
            let val = if pretty { pretty_stamps(&val) } else { val };
            out.push_str(&format!("{}: {val}\n", &n[4..]));
            count += 1;
        }
        Some(if kind == "count" {
            count.to_string()
        } else {
            out
        })
    }

    /// `get-resource-{fat,err,wrn}[-count]`: lines of the files `<4|3|2>.*.status`.
    fn resource_files(&self, at: &At<'_>, name: &str) -> Option<String> {
        let rest = name.strip_prefix("get-resource-")?;
        let (what, count) = match rest.strip_suffix("-count") {
            Some(w) => (w, true),
            None => (rest, false),
        };
        let level = match what {
            "fat" => "4.",
            "err" => "3.",
            "wrn" => "2.",
            _ => return None,
        };
        let mut text = String::new();
        let mut lines = 0;
        for n in self.ctx.tree.list(&at.dir) {
            if n.starts_with(level) && n.ends_with(".status") {
                let t = std::fs::read_to_string(self.ctx.tree.path(&format!("{}/{n}", at.dir)))
                    .unwrap_or_default();
                lines += t.lines().count();
                text.push_str(&t);
            }
        }
        Some(if count { lines.to_string() } else { text })
    }
}

/// `sec.nsec` stamps in a message as `YYYY-MM-DD hh:mm:ss` (UTC; the original uses local time)
/// and `error = -N` with the errno's name and text, as `%{all,the}-pretty-*-msg`.
fn pretty_stamps(text: &str) -> String {
    let errno = regex::Regex::new(r"((?:error|status)\s*=?\s*-)([0-9]+)").ok();
    let text = match errno {
        Some(re) => re
            .replace_all(text, |c: &regex::Captures<'_>| {
                let n: i64 = c[2].parse().unwrap_or(0);
                match super::errno::ERRNOS.iter().find(|(k, _, _)| *k == n) {
                    Some((_, name, t)) => format!("{}[{name}:{t}]", &c[1]),
                    None => c[0].to_string(),
                }
            })
            .into_owned(),
        None => text.to_string(),
    };
    text.split(' ')
        .map(|w| match w.split_once('.') {
            Some((s, ns))
                if s.len() >= 9
                    && ns.len() == 9
                    && s.bytes().all(|c| c.is_ascii_digit())
                    && ns.bytes().all(|c| c.is_ascii_digit()) =>
            {
                utc(s.parse().unwrap_or(0))
            }
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds since the epoch as `YYYY-MM-DD hh:mm:ss` UTC (civil-from-days).
fn utc(secs: i64) -> String {
    let (year, month, day, hour, minute, second) = crate::tree_io::utc_civil(secs);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
}
