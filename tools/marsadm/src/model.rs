// SPDX-License-Identifier: GPL-2.0
//! The status model of `marsadm view`: one reading of the tree per resource, from which both
//! the human output and the JSON document are made (as DRBD's events2 feeds all its outputs).
//!
//! Every switch this host can set is shown next to the kernel's indicator for it, because a
//! state is only reached when both agree (the 2-edge handshake). A switch the kernel has not
//! followed yet is reported as such, never as done.

use crate::ctx::Ctx;
use crate::tree_io::{Entry, Tree};
use mars_core::lamport::Stamp;
use mars_core::split_brain::{detect_split_brain, double_logfiles, HostHead, PairReport, Verdict};
use mars_core::tree::LogName;
use mars_core::tree_value::{ReplayLink, NONE_VALUE};
use mars_core::version_chain::VersionEntry;
use serde_json::{json, Value};

/// Whether an indicator confirms its switch (attach, primary) or only shows activity that may
/// legitimately be idle while the switch is on (fetch, sync, replay: nothing to do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndicatorKind {
    Confirms,
    Activity,
}

/// One switch and its indicator.
#[derive(Clone, Debug)]
pub(crate) struct SwitchState {
    /// The operator's name (`attach`, `fetch`, `sync`, `replay`, `primary`).
    pub(crate) name: &'static str,
    /// The link written by marsadm, relative to the resource directory.
    pub(crate) switch_key: String,
    /// The indicator written by the kernel, relative to the resource directory.
    pub(crate) indicator_key: String,
    pub(crate) switch: Option<bool>,
    pub(crate) indicator: Option<bool>,
    pub(crate) kind: IndicatorKind,
}

impl SwitchState {
    /// `on`, `off`, `switching-on` / `switching-off` (the kernel has not followed yet),
    /// `on-idle` (an activity switch with nothing to do), `unset`.
    pub(crate) fn state(&self) -> &'static str {
        let indicator = self.indicator.unwrap_or(false);
        match (self.switch, indicator, self.kind) {
            (None, _, _) => "unset",
            (Some(true), true, _) => "on",
            (Some(true), false, IndicatorKind::Confirms) => "switching-on",
            (Some(true), false, IndicatorKind::Activity) => "on-idle",
            (Some(false), true, _) => "switching-off",
            (Some(false), false, _) => "off",
        }
    }

    /// The kernel's side in words.
    pub(crate) fn kernel_text(&self) -> String {
        match (self.state(), self.indicator) {
            ("switching-on", None) => format!("not yet ({} missing)", self.indicator_key),
            ("switching-on", Some(_)) => format!("not yet ({} = 0)", self.indicator_key),
            ("switching-off", _) => format!("still on ({} = 1)", self.indicator_key),
            ("on-idle", _) => "idle".to_string(),
            (_, Some(true)) => "on".to_string(),
            (_, Some(false)) => "off".to_string(),
            (_, None) => "-".to_string(),
        }
    }
}

/// A logfile of the resource.
#[derive(Clone, Debug)]
pub(crate) struct LogInfo {
    pub(crate) name: String,
    pub(crate) nr: u32,
    pub(crate) len: u64,
}

/// This host's replay position.
#[derive(Clone, Debug)]
pub(crate) struct ReplayInfo {
    pub(crate) value: String,
    pub(crate) logfile: String,
    pub(crate) nr: u32,
    pub(crate) min_pos: i64,
    pub(crate) dirty_len: i64,
}

/// What `view` shows of one resource.
#[derive(Clone, Debug)]
pub(crate) struct ResourceView {
    pub(crate) name: String,
    pub(crate) size: Option<u64>,
    pub(crate) member: bool,
    pub(crate) disk: Option<String>,
    pub(crate) device: String,
    pub(crate) designated_primary: Option<String>,
    pub(crate) members: Vec<String>,
    pub(crate) role: &'static str,
    pub(crate) disk_state: String,
    pub(crate) repl_state: &'static str,
    pub(crate) sync_status: Option<u64>,
    /// `sync_status` in percent of the size, one decimal.
    pub(crate) sync_percent: Option<f64>,
    /// `syncpos-<host>`: the primary's replay link when the sync finished.
    pub(crate) sync_pos: Option<String>,
    /// Synced, and the replay passed `sync_pos`.
    pub(crate) consistent: bool,
    pub(crate) replay: Option<ReplayInfo>,
    pub(crate) replay_error: Option<String>,
    pub(crate) logfiles: Vec<LogInfo>,
    pub(crate) maxnr: Option<String>,
    pub(crate) switches: Vec<SwitchState>,
    /// `actual-<host>/msg-*` other than `OK`: (key, text).
    pub(crate) messages: Vec<(String, String)>,
    /// What the tree here tells about a split brain.
    pub(crate) split_brain: SplitBrainView,
    /// This host is on the losing side of a split brain ([`SplitBrainView::forked_here`]).
    pub(crate) forked_here: bool,
    /// Emergency mode (/mars full).
    pub(crate) emergency: EmergencyView,
    /// Rates, lag and ETA of sync, fetch and replay ([`add_progress`]; empty until then).
    pub(crate) progress: Vec<Progress>,
    /// Every member's progress as its links and its kernel's indicators say ([`read_peers`]).
    pub(crate) peers: Vec<MemberProgress>,
}

/// One member's progress for a resource, from the tree this host holds: its sync status
/// (`syncstatus-<member>`), its replay link (`replay-<member>`) and what its kernel publishes
/// (`actual-<member>/amount-file_bytes` and the `amount-*_rate` indicators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberProgress {
    pub(crate) host: String,
    /// Bytes of the device the member's full sync has copied (= size when in sync).
    pub(crate) sync_bytes: Option<u64>,
    /// The logfile number and position of the member's replay.
    pub(crate) replay: Option<(u32, i64)>,
    /// Bytes of logfile data the member fetched for the resource (a total).
    pub(crate) fetched_bytes: Option<u64>,
    /// Bytes the member's loggers appended to the resource's logfiles (a total,
    /// `actual-<member>/amount-log_bytes`).
    pub(crate) logged_bytes: Option<u64>,
    /// The newest Lamport stamp (s) of a record the member's replay applied
    /// (`actual-<member>/replay-stamp`).
    pub(crate) replay_stamp: Option<i64>,
    /// How far (seconds, an upper bound) the member's replica is behind the designated
    /// primary ([`add_progress`], [`replay_lag_seconds`]): known for this host, and for every
    /// member on the designated primary.
    pub(crate) replay_lag_seconds: Option<u64>,
    /// The member's published rates, bytes per second (the indicators are KiB/s), of `sync`,
    /// `fetch` and `replay`; `None` where it publishes none.
    pub(crate) rates: [(&'static str, Option<u64>); 3],
}

/// Reads the progress of every member of the resource in `dir`.
fn read_peers(tree: &Tree, dir: &str, members: &[String]) -> Vec<MemberProgress> {
    members
        .iter()
        .map(|m| {
            let rate = |name: &str| {
                number(tree, &format!("{dir}/actual-{m}/amount-{name}_rate"))
                    .map(|kib| kib.saturating_mul(1024))
            };
            MemberProgress {
                host: m.clone(),
                sync_bytes: number(tree, &format!("{dir}/syncstatus-{m}")),
                replay: tree
                    .value(&format!("{dir}/replay-{m}"))
                    .and_then(|v| ReplayLink::parse(&v).ok().map(|l| (l.log.nr, l.min_pos))),
                fetched_bytes: number(tree, &format!("{dir}/actual-{m}/amount-file_bytes")),
                logged_bytes: number(tree, &format!("{dir}/actual-{m}/amount-log_bytes")),
                replay_stamp: tree
                    .value(&format!("{dir}/actual-{m}/replay-stamp"))
                    .and_then(|v| v.trim().parse().ok())
                    .filter(|s: &i64| *s > 0),
                replay_lag_seconds: None,
                rates: [
                    ("sync", rate("sync")),
                    ("fetch", rate("file")),
                    ("replay", rate("replay")),
                ],
            }
        })
        .collect()
}

impl MemberProgress {
    /// The published rate of `what` (`sync`, `fetch`, `replay`).
    pub(crate) fn rate(&self, what: &str) -> Option<u64> {
        self.rates
            .iter()
            .find(|(w, _)| *w == what)
            .and_then(|(_, r)| *r)
    }

    /// The line of `view` (without the indentation): `member <host>: sync <n> bytes, replay
    /// <nr>:<pos>, fetched <n> bytes, logged <n> bytes; rates (KiB/s) sync <r>, fetch <r>,
    /// replay <r>`, `-` for what the tree does not hold, then `; replay lag <t>` where known.
    fn text(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let replay = self
            .replay
            .map_or("-".to_string(), |(nr, pos)| format!("{nr}:{pos}"));
        let rates: Vec<String> = self
            .rates
            .iter()
            .map(|(w, r)| format!("{w} {}", opt(r.map(|r| r / 1024))))
            .collect();
        let lag = self.replay_lag_seconds.map_or(String::new(), |s| {
            format!("; replay lag {}", human_duration(s))
        });
        format!(
            "member {}: sync {} bytes, replay {replay}, fetched {} bytes, logged {} bytes; rates (KiB/s) {}{lag}",
            self.host,
            opt(self.sync_bytes),
            opt(self.fetched_bytes),
            opt(self.logged_bytes),
            rates.join(", ")
        )
    }
}

/// How far one activity (sync, fetch, replay) of this host is behind, how fast it goes (the
/// rate the kernel publishes), and when it will be done at that rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// `sync`, `fetch` or `replay`.
    pub(crate) what: &'static str,
    /// Bytes still to do: sync: to copy; fetch: of the primary's logfiles not here yet;
    /// replay: of the logfiles here not replayed yet. `Err`: why unknown.
    pub(crate) rest: Result<u64, String>,
    /// Bytes per second from the kernel's indicator (`actual-<host>/amount-<what>_rate`).
    /// `Err`: the kernel does not publish it (the message names the indicator).
    pub(crate) rate: Result<u64, String>,
}

impl Progress {
    /// Seconds until done at the published rate: `None` without a rate, or with rate 0 while
    /// something is left; `Some(0)` when nothing is left.
    pub(crate) fn eta_seconds(&self) -> Option<u64> {
        match (&self.rest, &self.rate) {
            (Ok(0), _) => Some(0),
            (Ok(rest), Ok(rate)) if *rate > 0 => Some(rest.div_ceil(*rate)),
            _ => None,
        }
    }

    /// The line of `view` (without the indentation).
    fn text(&self) -> String {
        let rest = match &self.rest {
            Ok(r) => format!("{r} bytes"),
            Err(e) => format!("unknown ({e})"),
        };
        let rate = match &self.rate {
            Ok(r) => format!("rate {} KiB/s", r / 1024),
            Err(e) => format!("no rate: {e}"),
        };
        let eta = match (self.eta_seconds(), &self.rest, &self.rate) {
            (Some(0), _, _) => "done".to_string(),
            (Some(s), _, _) => format!("ETA {}", human_duration(s)),
            (None, Ok(_), Ok(_)) => "ETA unknown (no progress)".to_string(),
            (None, _, _) => "ETA unknown".to_string(),
        };
        format!(
            "{:<12} {rest}, {rate}, {eta}",
            format!("{} lag:", self.what)
        )
    }
}

/// `1h02m03s`, `2m05s`, `7s`.
fn human_duration(s: u64) -> String {
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, sec) => format!("{h}h{min:02}m{sec:02}s"),
    }
}

/// Fills in the rates, lag and ETA of every member resource of `view` (`view`, `--json`,
/// `--prometheus`; not `events`, which reads the tree at every change). The amounts and rates
/// are the view macros' primitives (`sync-rest`, `fetch-rest`, `replay-rest`, `sync-rate`,
/// `fetch-rate`, `replay-rate`: the original's definitions); a rate the kernel does not
/// publish stays missing, never estimated. The sync is shown while it is not complete, fetch
/// and replay on every member but the designated primary.
pub(crate) fn add_progress(ctx: &Ctx, view: &mut View) {
    for r in view.resources.iter_mut().filter(|r| r.member) {
        let synced = matches!((r.sync_status, r.size), (Some(s), Some(z)) if s >= z);
        let primary = r.designated_primary.as_deref() == Some(ctx.host.as_str());
        let mut what: Vec<&'static str> = Vec::new();
        if !synced {
            what.push("sync");
        }
        if !primary {
            what.extend(["fetch", "replay"]);
        }
        r.progress = what
            .into_iter()
            .map(|w| {
                let get = |name: &str| {
                    crate::macros::primitive(ctx, &r.name, &format!("{w}-{name}")).and_then(|v| {
                        let n: f64 = v
                            .trim()
                            .parse()
                            .map_err(|_| format!("'{v}' is no number"))?;
                        Ok(if n > 0.0 { n.round() as u64 } else { 0 })
                    })
                };
                Progress {
                    what: w,
                    rest: get("rest"),
                    rate: get("rate"),
                }
            })
            .collect();
        add_lag_seconds(ctx, r, primary);
    }
}

/// The replay lag in seconds, an upper bound: `now` minus the time up to which the replica is
/// known to hold every write the primary logged. While it is `behind` (logfile data it has not
/// replayed), that is the newest stamp its replay applied (`stamp`: the records before it are
/// applied); when it is not behind, the time the knowledge of "not behind" is from (`known_at`:
/// now on the designated primary, which holds the whole log; elsewhere the primary's last
/// heartbeat here). `None` where that is unknown. After an idle time, the first write shows
/// the idle time for the moment until it is replayed (the stamp is that old).
pub(crate) fn replay_lag_seconds(
    behind: Option<bool>,
    stamp: Option<i64>,
    known_at: Option<f64>,
    now: f64,
) -> Option<u64> {
    let since = match behind? {
        true => stamp? as f64,
        false => known_at?,
    };
    Some((now - since).max(0.0).floor() as u64)
}

/// Fills in [`MemberProgress::replay_lag_seconds`] for this host (a secondary: behind while its
/// fetch or replay has bytes to do) and, on the designated primary, for every other member
/// (behind while its replay link is before the end of the log its logger appended).
fn add_lag_seconds(ctx: &Ctx, r: &mut ResourceView, primary_here: bool) {
    let number = |name: &str| -> Option<f64> {
        crate::macros::primitive(ctx, &r.name, name)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let Some(now) = number("time") else {
        return;
    };
    // The primary's last heartbeat here (its `alive-timestamp`; -1 or 0: unknown).
    let heard = number("alive-timestamp").filter(|t| *t > 0.0);
    let mine = if primary_here || r.designated_primary.is_none() {
        None
    } else {
        let rest = |what: &str| {
            r.progress
                .iter()
                .find(|p| p.what == what)
                .and_then(|p| p.rest.as_ref().ok().copied())
        };
        let behind = match (rest("fetch"), rest("replay")) {
            (Some(f), Some(p)) => Some(f > 0 || p > 0),
            _ => None,
        };
        Some(behind)
    };
    let designated = r.designated_primary.clone();
    // On the designated primary, the end of the log: its logger's replay link says how far it
    // appended (`min_pos + dirty_len`; the logfile itself is longer, zeros written ahead).
    let log_end = r
        .replay
        .as_ref()
        .filter(|_| primary_here)
        .map(|p| (p.nr, p.min_pos.saturating_add(p.dirty_len.max(0))));
    for p in r.peers.iter_mut() {
        if designated.as_deref() == Some(p.host.as_str()) {
            continue;
        }
        p.replay_lag_seconds = if p.host == ctx.host {
            mine.and_then(|behind| replay_lag_seconds(behind, p.replay_stamp, heard, now))
        } else if let Some(end) = log_end {
            let behind = p.replay.map(|at| at < end);
            replay_lag_seconds(behind, p.replay_stamp, Some(now), now)
        } else {
            None
        };
    }
}

/// Emergency mode of a resource as this host sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EmergencyView {
    /// This host's logger stopped logging (`actual-<host>/is-emergency`).
    pub(crate) logging_stopped: bool,
    /// Since when (the stamp of that indicator).
    pub(crate) since: Option<Stamp>,
    /// The resource is in emergency here (`actual-<host>/has-emergency`).
    pub(crate) has_emergency: bool,
    /// `todo-<host>/emergency-limit` in percent (0: off).
    pub(crate) limit_percent: u8,
    /// The designated primary (another host) stopped logging: this host stops at the hole.
    pub(crate) primary_stopped: Option<String>,
}

/// The space of /mars on this host (`actual-<host>/emergency`, `rest-space`, `total-space`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpaceView {
    pub(crate) level: Option<u8>,
    pub(crate) rest_mib: Option<u64>,
    pub(crate) total_mib: Option<u64>,
}

/// Two hosts whose histories forked (or could not be compared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SplitPair {
    pub(crate) hosts: [String; 2],
    /// The histories forked for sure.
    pub(crate) certain: bool,
    /// The last point both histories share (`log-N-<origin>,<pos>`), when found.
    pub(crate) ancestor: Option<String>,
    /// Per host, the oldest point of its history the other lacks.
    pub(crate) diverged: [Option<String>; 2],
    /// Per host, the bytes of logfile data walked back to the meeting point.
    pub(crate) amount: [i64; 2],
}

/// Split brain as seen from this host's tree: the pairwise comparison of every member's
/// history (replay link and version-link chain, `mars_core::split_brain`), logfiles with the
/// same number from two origins, and what the members' kernels reported
/// (`actual-<host>/msg-err-splitbrain-detected`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SplitBrainView {
    pub(crate) pairs: Vec<SplitPair>,
    /// Logfiles here with equal numbers and different origins.
    pub(crate) double_logfiles: Vec<[String; 2]>,
    /// (host, text) of every member whose kernel reported a split brain.
    pub(crate) kernel: Vec<(String, String)>,
}

impl SplitBrainView {
    /// Split brain for sure: a forked pair, two logfiles with one number, or a kernel's report.
    pub(crate) fn detected(&self) -> bool {
        self.pairs.iter().any(|p| p.certain)
            || !self.double_logfiles.is_empty()
            || !self.kernel.is_empty()
    }

    /// A pair whose histories could not be compared (links missing): the original counts this
    /// as split brain too; `view` calls it suspected.
    pub(crate) fn suspected(&self) -> bool {
        self.pairs.iter().any(|p| !p.certain)
    }

    /// Whether `host` (a member that is not the designated `primary`) is on the losing side of
    /// a split brain: its kernel reported one, its history forked from the primary's for sure,
    /// or one of its own logfiles has the number of another host's. Its data are then not
    /// the primary's, and its replay stops at the fork: `view` says `SplitBrain
    /// ReplayHalted`, not `UpToDate Replaying`.
    pub(crate) fn forked_here(&self, host: &str, primary: Option<&str>) -> bool {
        if primary == Some(host) {
            return false;
        }
        let with_primary = |p: &SplitPair| {
            p.certain
                && p.hosts.iter().any(|h| h == host)
                && primary.is_some_and(|pr| p.hosts.iter().any(|h| h == pr))
        };
        let own = |name: &String| LogName::parse(name).is_ok_and(|l| l.origin.as_str() == host);
        self.kernel.iter().any(|(h, _)| h == host)
            || self.pairs.iter().any(with_primary)
            || self.double_logfiles.iter().any(|pair| pair.iter().any(own))
    }

    /// Every host named by a pair or a kernel report, sorted.
    pub(crate) fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .pairs
            .iter()
            .flat_map(|p| p.hosts.iter().cloned())
            .chain(self.kernel.iter().map(|(h, _)| h.clone()))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// `version-NNNNNNNNN-<host>` split into number and host.
fn version_key(name: &str) -> Option<(u32, &str)> {
    let rest = name.strip_prefix("version-")?;
    let (digits, host) = rest.split_once('-')?;
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) || host.is_empty() {
        return None;
    }
    Some((digits.parse().ok()?, host))
}

/// Reads what the resource directory `dir` tells about a split brain.
pub(crate) fn read_split_brain(tree: &Tree, dir: &str) -> SplitBrainView {
    let entries = tree.list(dir);
    let mut heads_owned: Vec<(String, String)> = Vec::new();
    let mut versions_owned: Vec<(u32, String, String)> = Vec::new();
    let mut logfiles: Vec<String> = Vec::new();
    for name in &entries {
        let rel = format!("{dir}/{name}");
        if let Some(host) = name.strip_prefix("replay-") {
            if let Some(value) = tree.value(&rel) {
                heads_owned.push((host.to_string(), value));
            }
        } else if let Some((nr, host)) = version_key(name) {
            if let Some(value) = tree.value(&rel) {
                versions_owned.push((nr, host.to_string(), value));
            }
        } else if LogName::parse(name).is_ok() && matches!(tree.entry(&rel), Entry::File { .. }) {
            logfiles.push(name.clone());
        }
    }
    let versions: Vec<VersionEntry<'_>> = versions_owned
        .iter()
        .map(|(nr, host, value)| VersionEntry {
            host,
            nr: *nr,
            value,
        })
        .collect();
    let heads: Vec<HostHead<'_>> = heads_owned
        .iter()
        .map(|(host, replay)| HostHead { host, replay })
        .collect();
    let empty = PairReport {
        hosts: ["", ""],
        verdict: Verdict::Consistent,
        ancestor: None,
        diverged: [None, None],
        amount: [0, 0],
    };
    let mut out = vec![empty; heads.len().saturating_mul(heads.len().saturating_sub(1)) / 2];
    let summary = detect_split_brain(versions.as_slice(), &heads, &mut out);
    let show = |p: Option<mars_core::split_brain::Position<'_>>| p.map(|p| p.to_string());
    let pairs = out
        .iter()
        .take(summary.written)
        .map(|r| SplitPair {
            hosts: [r.hosts[0].to_string(), r.hosts[1].to_string()],
            certain: r.verdict == Verdict::SplitBrain,
            ancestor: show(r.ancestor),
            diverged: [show(r.diverged[0]), show(r.diverged[1])],
            amount: r.amount,
        })
        .collect();
    let names: Vec<&str> = logfiles.iter().map(String::as_str).collect();
    let double_logfiles = double_logfiles(&names)
        .map(|(a, b)| [a.to_string(), b.to_string()])
        .collect();
    let kernel = entries
        .iter()
        .filter_map(|n| n.strip_prefix("actual-"))
        .filter_map(|h| {
            let text = tree.value(&format!("{dir}/actual-{h}/msg-err-splitbrain-detected"))?;
            (text != "OK").then(|| (h.to_string(), text))
        })
        .collect();
    SplitBrainView {
        pairs,
        double_logfiles,
        kernel,
    }
}

/// What `view` shows of this host and its resources.
#[derive(Clone, Debug)]
pub(crate) struct View {
    pub(crate) host: String,
    pub(crate) uuid: Option<String>,
    pub(crate) module_loaded: bool,
    pub(crate) lamport_now: Option<Stamp>,
    /// The kernel's heartbeat `actual-<host>/time`, if any.
    pub(crate) heartbeat: Option<Stamp>,
    /// The kernel runs and reported within twice `--window`.
    pub(crate) kernel_alive: bool,
    /// The space of /mars and the emergency level.
    pub(crate) space: SpaceView,
    pub(crate) resources: Vec<ResourceView>,
}

fn flag(tree: &Tree, rel: &str) -> Option<bool> {
    tree.value(rel)
        .map(|v| v.trim().parse::<i64>().unwrap_or(0) != 0)
}

fn number(tree: &Tree, rel: &str) -> Option<u64> {
    tree.value(rel).and_then(|v| v.trim().parse().ok())
}

/// Reads the view of this host; `only` restricts it to these resources.
pub(crate) fn read(ctx: &Ctx, only: Option<&[String]>) -> View {
    let tree = &ctx.tree;
    let host = &ctx.host;
    let module_loaded = tree.module_loaded();
    let lamport_now = tree.lamport_now().ok().map(|(s, _)| s);
    let heartbeat = tree
        .value(&format!("actual-{host}/time"))
        .and_then(|v| Stamp::parse(&v).ok());
    let alive = tree.value(&format!("actual-{host}/alive")).as_deref() == Some("1");
    let kernel_alive = module_loaded && alive && heartbeat.is_some_and(|h| ctx.is_recent(h));
    let names: Vec<String> = match only {
        Some(names) => names.to_vec(),
        None => tree
            .list("")
            .into_iter()
            .filter_map(|n| n.strip_prefix("resource-").map(str::to_string))
            .filter(|r| {
                tree.exists(&format!("resource-{r}/data-{host}"))
                    || tree.exists(&format!("resource-{r}/device-{host}"))
            })
            .collect(),
    };
    let resources = names
        .iter()
        .map(|r| read_resource(ctx, r, module_loaded, kernel_alive))
        .collect();
    let space = SpaceView {
        level: number(tree, &format!("actual-{host}/emergency")).and_then(|l| u8::try_from(l).ok()),
        rest_mib: number(tree, &format!("actual-{host}/rest-space")),
        total_mib: number(tree, &format!("actual-{host}/total-space")),
    };
    View {
        host: host.clone(),
        uuid: tree.value("uuid"),
        module_loaded,
        lamport_now,
        heartbeat,
        kernel_alive,
        space,
        resources,
    }
}

fn read_resource(ctx: &Ctx, res: &str, module_loaded: bool, kernel_alive: bool) -> ResourceView {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let dir = format!("resource-{res}");
    let actual = |name: &str| flag(tree, &format!("{dir}/actual-{host}/{name}"));
    let todo = |name: &str| flag(tree, &format!("{dir}/todo-{host}/{name}"));
    let disk = tree.value(&format!("{dir}/data-{host}"));
    let member = disk.is_some();
    let designated = ctx.designated_primary(&dir);
    let i_am_designated = designated.as_deref() == Some(host);
    let size = number(tree, &format!("{dir}/size"));
    let sync_status = number(tree, &format!("{dir}/syncstatus-{host}"));
    let synced = matches!((sync_status, size), (Some(s), Some(z)) if s >= z && z > 0);
    let sync_pos = tree.value(&format!("{dir}/syncpos-{host}"));
    // After a full sync the replica is consistent once its replay passed syncpos-<host>.
    let replay_passed_syncpos = match (&sync_pos, tree.value(&format!("{dir}/replay-{host}"))) {
        (None, _) => true,
        (Some(pos), Some(replay)) => match (ReplayLink::parse(pos), ReplayLink::parse(&replay)) {
            (Ok(pos), Ok(replay)) => mars_core::sync::consistent(&replay, &pos),
            _ => false,
        },
        (Some(_), None) => false,
    };
    let split_brain = read_split_brain(tree, &dir);
    let forked_here = member && split_brain.forked_here(host, designated.as_deref());
    // The losing side of a split brain holds writes the primary's history lacks.
    let consistent = synced && (i_am_designated || replay_passed_syncpos) && !forked_here;
    let sync_percent = match (sync_status, size) {
        (Some(s), Some(z)) if z > 0 => Some((s.min(z) as f64 * 1000.0 / z as f64).floor() / 10.0),
        _ => None,
    };
    let replay_code = tree
        .value(&format!("{dir}/actual-{host}/replay-code"))
        .and_then(|v| v.trim().parse::<i64>().ok());

    let switch = |name: &'static str, key: &str, indicator: &str, kind| SwitchState {
        name,
        switch_key: format!("todo-{host}/{key}"),
        indicator_key: format!("actual-{host}/{indicator}"),
        switch: todo(key),
        indicator: actual(indicator),
        kind,
    };
    let mut switches = vec![
        switch("attach", "attach", "is-attached", IndicatorKind::Confirms),
        switch("fetch", "connect", "is-copying", IndicatorKind::Activity),
        switch("sync", "sync", "is-syncing", IndicatorKind::Activity),
        switch(
            "replay",
            "allow-replay",
            "is-replaying",
            IndicatorKind::Activity,
        ),
    ];
    switches.push(SwitchState {
        name: "primary",
        switch_key: "primary".to_string(),
        indicator_key: format!("actual-{host}/is-primary"),
        switch: tree
            .value(&format!("{dir}/primary"))
            .map(|_| i_am_designated),
        indicator: actual("is-primary"),
        kind: IndicatorKind::Confirms,
    });
    let attach_wish = todo("attach").unwrap_or(false);
    let attached = actual("is-attached").unwrap_or(false);
    let is_primary = actual("is-primary").unwrap_or(false);

    let disk_error = tree
        .value(&format!("{dir}/actual-{host}/disk-error"))
        .filter(|v| v.trim() != "0" && !v.is_empty());
    let disk_state = if let Some(e) = disk_error {
        format!("DiskError[{e}]")
    } else if !member {
        "NotJoined".to_string()
    } else if !attach_wish {
        if attached { "Detaching" } else { "Detached" }.to_string()
    } else if let Some(code) = replay_code.filter(|c| *c < 0) {
        match code {
            -85 => format!("IncompleteLog[{code}]"),
            -56 => format!("UnInitializedLogRecord[{code}]"),
            _ => format!("DefectiveLog[{code}]"),
        }
    } else if !attached {
        "NoAttach".to_string()
    } else if forked_here {
        "SplitBrain".to_string()
    } else if !consistent {
        "InConsistent".to_string()
    } else {
        "UpToDate".to_string()
    };

    let repl_state = if !module_loaded {
        "ModuleNotLoaded"
    } else if !kernel_alive {
        "UnResponsive"
    } else if !member {
        "NotJoined"
    } else if !attach_wish {
        "NotStarted"
    } else if i_am_designated {
        if actual("is-emergency").unwrap_or(false) {
            "EmergencyMode"
        } else if is_primary {
            "Replicating"
        } else {
            "NotYetPrimary"
        }
    } else if forked_here {
        // The replay cannot go on past the fork (the kernel stops it there).
        "ReplayHalted"
    } else if !consistent && !todo("sync").unwrap_or(false) {
        "PausedSync"
    } else if actual("is-syncing").unwrap_or(false) {
        "Syncing"
    } else if !todo("connect").unwrap_or(false) {
        "PausedFetch"
    } else if !todo("allow-replay").unwrap_or(false) {
        "PausedReplay"
    } else if designated.is_none() {
        "NoPrimaryDesignated"
    } else {
        "Replaying"
    };

    let role = match (member, i_am_designated, is_primary) {
        (false, _, _) => "None",
        (true, true, true) => "Primary",
        (true, true, false) => "NotYetPrimary",
        (true, false, true) => "RemainsPrimary",
        (true, false, false) => "Secondary",
    };

    let replay_value = tree.value(&format!("{dir}/replay-{host}"));
    let (replay, replay_error) = match &replay_value {
        None => (None, None),
        Some(value) => match ReplayLink::parse(value) {
            Ok(link) => (
                Some(ReplayInfo {
                    value: value.clone(),
                    logfile: link.log.to_string(),
                    nr: link.log.nr,
                    min_pos: link.min_pos,
                    dirty_len: link.dirty_len,
                }),
                None,
            ),
            Err(e) => (None, Some(format!("replay-{host} -> '{value}': {e}"))),
        },
    };
    let entries = tree.list(&dir);
    let mut logfiles: Vec<LogInfo> = entries
        .iter()
        .filter_map(|name| {
            let nr = LogName::parse(name).ok()?.nr;
            match tree.entry(&format!("{dir}/{name}")) {
                Entry::File { len, .. } => Some(LogInfo {
                    name: name.clone(),
                    nr,
                    len,
                }),
                _ => None,
            }
        })
        .collect();
    logfiles.sort_by(|a, b| (a.nr, &a.name).cmp(&(b.nr, &b.name)));
    let members: Vec<String> = entries
        .iter()
        .filter_map(|n| n.strip_prefix("data-"))
        .filter(|h| tree.exists(&format!("{dir}/data-{h}")))
        .map(str::to_string)
        .collect();
    let peers = read_peers(tree, &dir, &members);
    let messages = tree
        .list(&format!("{dir}/actual-{host}"))
        .into_iter()
        .filter_map(|n| {
            let key = n.strip_prefix("msg-")?.to_string();
            let text = tree.value(&format!("{dir}/actual-{host}/{n}"))?;
            (text != "OK").then_some((key, text))
        })
        .collect();
    let stopped_link = tree.link(&format!("{dir}/actual-{host}/is-emergency"));
    let logging_stopped = stopped_link.as_ref().is_some_and(|l| l.value.trim() == "1");
    let primary_stopped = designated
        .as_deref()
        .filter(|p| *p != host)
        .filter(|p| flag(tree, &format!("{dir}/actual-{p}/is-emergency")).unwrap_or(false))
        .map(str::to_string);
    let emergency = EmergencyView {
        logging_stopped,
        since: stopped_link.filter(|_| logging_stopped).map(|l| l.stamp),
        has_emergency: actual("has-emergency").unwrap_or(false),
        limit_percent: tree
            .value(&format!("{dir}/todo-{host}/emergency-limit"))
            .as_deref()
            .and_then(mars_core::emergency::parse_limit)
            .unwrap_or(0),
        primary_stopped,
    };
    ResourceView {
        name: res.to_string(),
        size,
        member,
        disk,
        device: ctx.device_name(&dir, res),
        designated_primary: designated,
        members,
        role,
        disk_state,
        repl_state,
        sync_status,
        sync_percent,
        sync_pos,
        consistent: member && consistent,
        replay,
        replay_error,
        logfiles,
        maxnr: tree.value(&format!("{dir}/maxnr")),
        switches,
        messages,
        split_brain,
        forked_here,
        emergency,
        progress: Vec::new(),
        peers,
    }
}

/// The JSON document of `view --json`.
pub(crate) fn to_json(view: &View) -> Value {
    let resources: Vec<Value> = view.resources.iter().map(resource_json).collect();
    json!({
        "host": view.host,
        "uuid": view.uuid,
        "kernel": {
            "module_loaded": view.module_loaded,
            "alive": view.kernel_alive,
            "lamport_now": view.lamport_now.map(|s| s.to_string()),
            "heartbeat": view.heartbeat.map(|s| s.to_string()),
        },
        "space": {
            "emergency_level": view.space.level,
            "emergency_text": view.space.level.map(mars_core::emergency::level_text),
            "rest_space_mib": view.space.rest_mib,
            "total_space_mib": view.space.total_mib,
        },
        "resources": resources,
    })
}

fn resource_json(r: &ResourceView) -> Value {
    let switches: serde_json::Map<String, Value> = r
        .switches
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                json!({
                    "switch": s.switch,
                    "switch_key": s.switch_key,
                    "indicator": s.indicator,
                    "indicator_key": s.indicator_key,
                    "state": s.state(),
                }),
            )
        })
        .collect();
    json!({
        "name": r.name,
        "size": r.size,
        "member": r.member,
        "members": r.members,
        "disk": r.disk,
        "device": r.device,
        "designated_primary": r.designated_primary.clone().unwrap_or_else(|| NONE_VALUE.to_string()),
        "role": r.role,
        "disk_state": r.disk_state,
        "repl_state": r.repl_state,
        "sync_status": r.sync_status,
        "sync_percent": r.sync_percent,
        "sync_pos": r.sync_pos,
        "consistent": r.consistent,
        "replay": r.replay.as_ref().map(|p| json!({
            "link": p.value,
            "logfile": p.logfile,
            "nr": p.nr,
            "min_pos": p.min_pos,
            "dirty_len": p.dirty_len,
        })),
        "replay_error": r.replay_error,
        "logfiles": r.logfiles.iter().map(|l| json!({"name": l.name, "nr": l.nr, "size": l.len})).collect::<Vec<_>>(),
        "maxnr": r.maxnr,
        "switches": switches,
        "messages": r.messages.iter().map(|(k, v)| json!({"key": k, "text": v})).collect::<Vec<_>>(),
        "split_brain": split_brain_json(&r.split_brain, r.forked_here),
        "emergency": {
            "logging_stopped": r.emergency.logging_stopped,
            "since": r.emergency.since.map(|s| s.to_string()),
            "has_emergency": r.emergency.has_emergency,
            "limit_percent": r.emergency.limit_percent,
            "primary_stopped": r.emergency.primary_stopped,
        },
        "progress": r.progress.iter().map(|p| (p.what.to_string(), json!({
            "rest_bytes": p.rest.as_ref().ok(),
            "rate_bytes_per_second": p.rate.as_ref().ok(),
            "rate_missing": p.rate.as_ref().err(),
            "eta_seconds": p.eta_seconds(),
        }))).collect::<serde_json::Map<String, Value>>(),
        "peers": r.peers.iter().map(|p| (p.host.clone(), json!({
            "sync_bytes": p.sync_bytes,
            "replay_logfile_number": p.replay.map(|(nr, _)| nr),
            "replay_position_bytes": p.replay.map(|(_, pos)| pos),
            "fetched_bytes": p.fetched_bytes,
            "logged_bytes": p.logged_bytes,
            "replay_stamp": p.replay_stamp,
            "replay_lag_seconds": p.replay_lag_seconds,
            "rate_bytes_per_second": p.rates.iter().map(|(w, r)| (w.to_string(), json!(r)))
                .collect::<serde_json::Map<String, Value>>(),
        }))).collect::<serde_json::Map<String, Value>>(),
    })
}

fn split_brain_json(s: &SplitBrainView, forked_here: bool) -> Value {
    json!({
        "detected": s.detected(),
        "this_host_forked": forked_here,
        "suspected": s.suspected(),
        "hosts": s.hosts(),
        "pairs": s.pairs.iter().map(|p| json!({
            "hosts": p.hosts,
            "verdict": if p.certain { "split-brain" } else { "unknown" },
            "common_ancestor": p.ancestor,
            "diverged": [
                {"host": p.hosts[0], "since": p.diverged[0], "bytes": p.amount[0]},
                {"host": p.hosts[1], "since": p.diverged[1], "bytes": p.amount[1]},
            ],
        })).collect::<Vec<_>>(),
        "double_logfiles": s.double_logfiles,
        "kernel": s.kernel.iter().map(|(h, t)| json!({"host": h, "text": t})).collect::<Vec<_>>(),
    })
}

/// The split-brain lines of `view` (none when there is none).
fn split_brain_text(r: &ResourceView, out: &mut String) {
    let s = &r.split_brain;
    for p in &s.pairs {
        let [a, b] = &p.hosts;
        if p.certain {
            out.push_str(&format!("    SPLIT BRAIN between '{a}' and '{b}'"));
        } else {
            out.push_str(&format!("    POSSIBLE SPLIT BRAIN between '{a}' and '{b}' (their histories cannot be compared)"));
        }
        match &p.ancestor {
            Some(ancestor) => out.push_str(&format!(": common ancestor {ancestor}\n")),
            None => out.push_str(": no common ancestor found\n"),
        }
        for i in 0..2 {
            if let Some(since) = &p.diverged[i] {
                out.push_str(&format!(
                    "        '{}' diverged with {since} ({} bytes of logfiles back to the meeting point)\n",
                    p.hosts[i], p.amount[i]
                ));
            }
        }
    }
    for [a, b] in &s.double_logfiles {
        out.push_str(&format!(
            "    SPLIT BRAIN: logfiles {a} and {b} have the same number\n"
        ));
    }
    for (host, text) in &s.kernel {
        out.push_str(&format!(
            "    SPLIT BRAIN reported by the kernel of '{host}': {text}\n"
        ));
    }
    if r.forked_here {
        out.push_str(
            "    SPLIT BRAIN here: the history of this host forked from the primary's; its data are not the primary's and its replay stops at the fork\n",
        );
    }
    if s.detected() || s.suspected() {
        out.push_str(&format!(
            "    resolve: on each host whose writes are to be discarded: marsadm invalidate {}\n",
            r.name
        ));
        out.push_str(&format!(
            "             (or marsadm leave-resource {0} and marsadm join-resource {0} <disk>); see the admin guide\n",
            r.name
        ));
    }
}

/// The human form of `view`: per resource a status line as the original's `view` prints
/// (`<res> <disk state> <replication state> <role> <designated primary>`), then details.
pub(crate) fn to_text(view: &View) -> String {
    let mut out = String::new();
    if !view.module_loaded {
        out.push_str("WARNING: mars kernel module is not loaded\n");
    } else if !view.kernel_alive {
        out.push_str(&format!(
            "WARNING: the kernel has not reported recently (actual-{}/time {})\n",
            view.host,
            view.heartbeat
                .map_or("missing".to_string(), |s| s.to_string())
        ));
    }
    if view.uuid.is_none() {
        out.push_str("WARNING: no cluster uuid found: run create-cluster first\n");
    }
    if let Some(level) = view.space.level {
        let mib = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        out.push_str(&format!(
            "/mars: emergency level {level} ({}), {} MiB free of {} MiB (after the emergency thresholds)\n",
            mars_core::emergency::level_text(level),
            mib(view.space.rest_mib),
            mib(view.space.total_mib)
        ));
    }
    if view.resources.is_empty() {
        out.push_str("I am not member/guest of any resource\n");
    }
    for r in &view.resources {
        let size = r.size.map_or("?".to_string(), |s| s.to_string());
        out.push_str(&format!(
            "--------- resource {} {} bytes [{} member(s)]\n",
            r.name,
            size,
            r.members.len()
        ));
        out.push_str(&format!(
            "{} {} {} {} {}\n",
            r.name,
            r.disk_state,
            r.repl_state,
            r.role,
            r.designated_primary.as_deref().unwrap_or(NONE_VALUE)
        ));
        out.push_str(&format!(
            "    disk:    {}\n",
            r.disk.as_deref().unwrap_or("- (not joined)")
        ));
        out.push_str(&format!("    device:  {}\n", r.device));
        if let Some(status) = r.sync_status {
            let percent = r
                .sync_percent
                .map_or("?".to_string(), |p| format!("{p:.1}%"));
            out.push_str(&format!(
                "    sync:    {status} of {size} bytes ({percent})\n"
            ));
        }
        if r.member {
            let how = match (&r.sync_pos, r.consistent) {
                (_, true) => "yes".to_string(),
                _ if r.forked_here => "no: split brain".to_string(),
                (Some(pos), false)
                    if r.sync_status
                        .is_some_and(|s| r.size.is_some_and(|z| s >= z)) =>
                {
                    format!("not yet: replay must pass syncpos {pos}")
                }
                _ => "no: sync not finished".to_string(),
            };
            out.push_str(&format!("    consistent: {how}\n"));
        }
        match (&r.replay, &r.replay_error) {
            (Some(p), _) => out.push_str(&format!(
                "    replay:  {} at position {} ({} bytes possibly written back)\n",
                p.logfile, p.min_pos, p.dirty_len
            )),
            (None, Some(e)) => out.push_str(&format!("    replay:  unreadable: {e}\n")),
            (None, None) => {}
        }
        for p in &r.progress {
            out.push_str(&format!("    {}\n", p.text()));
        }
        for p in &r.peers {
            out.push_str(&format!("    {}\n", p.text()));
        }
        if let (Some(first), Some(last)) = (r.logfiles.first(), r.logfiles.last()) {
            let bytes: u64 = r.logfiles.iter().map(|l| l.len).sum();
            out.push_str(&format!(
                "    logs:    {} file(s), numbers {}..{}, {bytes} bytes; maxnr {}\n",
                r.logfiles.len(),
                first.nr,
                last.nr,
                r.maxnr.as_deref().unwrap_or("-")
            ));
        }
        out.push_str("    switch   wish   kernel\n");
        for s in &r.switches {
            let wish = match s.switch {
                None => "-",
                Some(true) => "on",
                Some(false) => "off",
            };
            out.push_str(&format!(
                "    {:<8} {:<6} {}\n",
                s.name,
                wish,
                s.kernel_text()
            ));
        }
        for (key, text) in &r.messages {
            out.push_str(&format!("    msg-{key}: {text}\n"));
        }
        // Across the hole of an emergency the histories cannot be compared: the EMERGENCY
        // line says what to do, a "possible split brain" would only confuse.
        let hole = r.emergency.logging_stopped || r.emergency.primary_stopped.is_some();
        if !hole || r.split_brain.detected() {
            split_brain_text(r, &mut out);
        }
        emergency_text(r, &mut out);
    }
    out
}

/// The emergency lines of `view` (none without an emergency).
fn emergency_text(r: &ResourceView, out: &mut String) {
    let e = &r.emergency;
    if e.logging_stopped {
        let since = e.since.map_or("?".to_string(), |s| s.to_string());
        out.push_str(&format!(
            "    EMERGENCY: /mars full: logging stopped since {since}, secondaries need `marsadm invalidate {}`\n",
            r.name
        ));
        out.push_str("             writes go to the disk directly; free space in /mars (marsadm log-delete-all, cron); see the admin guide\n");
    } else if e.has_emergency {
        out.push_str("    EMERGENCY: /mars is (nearly) full here; free space in /mars (marsadm log-delete-all, cron)\n");
    }
    if let Some(primary) = &e.primary_stopped {
        out.push_str(&format!(
            "    EMERGENCY on the primary '{primary}': logging stopped there; this host stops at the hole (consistent, outdated); once it is over: marsadm invalidate {}\n",
            r.name
        ));
    }
    if e.limit_percent > 0 {
        out.push_str(&format!(
            "    emergency limit: {}% of /mars\n",
            e.limit_percent
        ));
    }
}
