// SPDX-License-Identifier: GPL-2.0
//! `marsadm view --prometheus`: the view of this host in the Prometheus text exposition format
//! (version 0.0.4), for node_exporter's textfile collector (mars-cron.service writes it when
//! the collector's directory exists) or any scraper that runs a command.
//!
//! Names follow Prometheus' conventions: a `mars_` prefix, base units in the name (`_bytes`,
//! `_seconds`, `_ratio`), `_total` for counters, labels `host`, `resource`, `peer`, `switch`.
//! Every value comes from the same model as `view --json` (`model::read`), or, for the
//! counters, from the kernel's statistics in /proc/sys/mars. A value the tree does not hold
//! (a missing indicator, an unknown size) is left out, never reported as 0.

use crate::ctx::Ctx;
use crate::model::{ResourceView, View};
use mars_core::lamport::Stamp;

/// One metric family: name, help, type and its samples (labels, value).
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// The families, in the order they are printed.
struct Metrics {
    families: Vec<Family>,
}

impl Metrics {
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, value)),
            None => self.families.push(Family {
                name,
                help,
                kind,
                samples: vec![(labels, value)],
            }),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.families {
            out.push_str(&format!("# HELP {} {}\n", f.name, f.help));
            out.push_str(&format!("# TYPE {} {}\n", f.name, f.kind));
            for (labels, value) in &f.samples {
                out.push_str(f.name);
                if !labels.is_empty() {
                    let l: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                        .collect();
                    out.push_str(&format!("{{{}}}", l.join(",")));
                }
                out.push_str(&format!(" {}\n", number(*value)));
            }
        }
        out
    }
}

/// A label value as the exposition format wants it: `\`, `"` and newline escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others in Rust's shortest round-trip form.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Bytes of the resource's logfiles here that the replay has not reached: the rest of the
/// logfile of the replay link after its position, and every later logfile.
pub(crate) fn replay_lag_bytes(r: &ResourceView) -> Option<u64> {
    let replay = r.replay.as_ref()?;
    let pos = u64::try_from(replay.min_pos).unwrap_or(0);
    Some(
        r.logfiles
            .iter()
            .map(|l| {
                if l.name == replay.logfile {
                    l.len.saturating_sub(pos)
                } else if l.nr > replay.nr {
                    l.len
                } else {
                    0
                }
            })
            .sum(),
    )
}

/// The kernel's counters and gauges in /proc/sys/mars: (file, metric, type, help).
const PROC_STATS: &[(&str, &str, &str, &str)] = &[
    (
        "log_fetch_bytes",
        "mars_log_fetched_bytes_total",
        "counter",
        "Bytes of logfile data this host's log fetches received since the module loaded.",
    ),
    (
        "sync_data_bytes",
        "mars_sync_received_data_bytes_total",
        "counter",
        "Bytes of block data this host's full syncs received since the module loaded.",
    ),
    (
        "sync_sum_bytes",
        "mars_sync_received_digest_bytes_total",
        "counter",
        "Bytes of block digests this host's full syncs received since the module loaded.",
    ),
    (
        "sync_copied_bytes",
        "mars_sync_copied_bytes_total",
        "counter",
        "Bytes this host's full syncs wrote to their data devices since the module loaded.",
    ),
    (
        "sync_served_bytes",
        "mars_sync_served_bytes_total",
        "counter",
        "Bytes of its data devices this host read to answer other hosts' sync reads.",
    ),
    (
        "net_refused_entries",
        "mars_net_refused_entries_total",
        "counter",
        "Entries of peers' trees this host's merge refused since the module loaded.",
    ),
    (
        "net_refused_connections",
        "mars_net_refused_connections_total",
        "counter",
        "Connections this host's servers refused since the module loaded.",
    ),
    (
        "sync_connections",
        "mars_sync_connections",
        "gauge",
        "Connections to a primary's sync port this host's full syncs hold open now.",
    ),
];

/// The exposition of `view`.
pub(crate) fn render(ctx: &Ctx, view: &View) -> String {
    let mut m = Metrics {
        families: Vec::new(),
    };
    let host = || vec![("host", view.host.clone())];
    m.add(
        "mars_module_loaded",
        "gauge",
        "Whether the mars kernel module is loaded (1) or not (0).",
        host(),
        bool_value(view.module_loaded),
    );
    m.add(
        "mars_kernel_alive",
        "gauge",
        "Whether the kernel reported within twice --window (1) or not (0).",
        host(),
        bool_value(view.kernel_alive),
    );
    if let Some(level) = view.space.level {
        m.add(
            "mars_emergency_level",
            "gauge",
            "Emergency level of /mars on this host, 0 (none) to 4 (jammed).",
            host(),
            f64::from(level),
        );
    }
    if let Some(mib) = view.space.rest_mib {
        m.add(
            "mars_space_free_bytes",
            "gauge",
            "Free space of /mars after the emergency thresholds.",
            host(),
            mib as f64 * 1_048_576.0,
        );
    }
    if let Some(mib) = view.space.total_mib {
        m.add(
            "mars_space_total_bytes",
            "gauge",
            "Size of /mars after the emergency thresholds.",
            host(),
            mib as f64 * 1_048_576.0,
        );
    }
    if view.module_loaded {
        for (file, name, kind, help) in PROC_STATS {
            let value = std::fs::read_to_string(ctx.tree.proc_dir.join(file))
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(v) = value {
                m.add(name, kind, help, host(), v as f64);
            }
        }
    }
    // Peers: every other member of the cluster and how old its heartbeat is here.
    let tree = &ctx.tree;
    let now = tree
        .lamport_now()
        .map(|(s, _)| s)
        .unwrap_or_else(|_| crate::tree_io::real_time());
    for peer in tree
        .list("ips")
        .iter()
        .filter_map(|n| n.strip_prefix("ip-"))
        .filter(|p| *p != view.host && tree.exists(&format!("ips/ip-{p}")))
    {
        let labels = || vec![("host", view.host.clone()), ("peer", peer.to_string())];
        let heartbeat = tree
            .value(&format!("actual-{peer}/time"))
            .and_then(|v| Stamp::parse(&v).ok());
        m.add(
            "mars_peer_connected",
            "gauge",
            "Whether the peer's heartbeat arrived within twice --window (1) or not (0).",
            labels(),
            bool_value(heartbeat.is_some_and(|h| ctx.is_recent(h))),
        );
        if let Some(h) = heartbeat {
            let age = (now.sec - h.sec) as f64 + (f64::from(now.nsec) - f64::from(h.nsec)) / 1e9;
            m.add("mars_peer_heartbeat_age_seconds", "gauge", "Age of the peer's last heartbeat (actual-<peer>/time) on this host's Lamport clock.", labels(), age.max(0.0));
        }
    }
    for r in &view.resources {
        resource(&mut m, &view.host, r);
    }
    m.render()
}

fn resource(m: &mut Metrics, host: &str, r: &ResourceView) {
    let labels = || vec![("resource", r.name.clone()), ("host", host.to_string())];
    let mut info = labels();
    info.extend([
        ("role", r.role.to_string()),
        ("disk_state", r.disk_state.clone()),
        ("repl_state", r.repl_state.to_string()),
        (
            "designated_primary",
            r.designated_primary
                .clone()
                .unwrap_or_else(|| "(none)".into()),
        ),
    ]);
    m.add(
        "mars_resource_info",
        "gauge",
        "The states of a resource as `view` shows them (value always 1).",
        info,
        1.0,
    );
    m.add(
        "mars_resource_member",
        "gauge",
        "Whether this host is a member of the resource.",
        labels(),
        bool_value(r.member),
    );
    m.add(
        "mars_resource_consistent",
        "gauge",
        "Whether this host's replica is consistent (synced and replayed past syncpos).",
        labels(),
        bool_value(r.consistent),
    );
    if let Some(size) = r.size {
        m.add(
            "mars_resource_size_bytes",
            "gauge",
            "Logical size of the resource.",
            labels(),
            size as f64,
        );
    }
    if let Some(status) = r.sync_status {
        m.add(
            "mars_resource_sync_bytes",
            "gauge",
            "Full sync progress of this host (syncstatus-<host>; = size when in sync).",
            labels(),
            status as f64,
        );
        if let Some(size) = r.size.filter(|s| *s > 0) {
            m.add(
                "mars_resource_sync_ratio",
                "gauge",
                "Full sync progress as a fraction of the size (1 when in sync).",
                labels(),
                status.min(size) as f64 / size as f64,
            );
        }
    }
    if let Some(p) = &r.replay {
        m.add(
            "mars_resource_replay_logfile_number",
            "gauge",
            "Number of the logfile this host's replay is in.",
            labels(),
            f64::from(p.nr),
        );
        m.add(
            "mars_resource_replay_position_bytes",
            "gauge",
            "Position of this host's replay in that logfile.",
            labels(),
            p.min_pos as f64,
        );
    }
    if let Some(lag) = replay_lag_bytes(r) {
        m.add(
            "mars_resource_replay_lag_bytes",
            "gauge",
            "Bytes of the logfiles here that this host's replay has not reached yet.",
            labels(),
            lag as f64,
        );
    }
    // Rates, lag and ETA as `view` shows them (model::add_progress): a rate the kernel does not
    // publish, and so an ETA that cannot be known, is left out, not exported as 0.
    for p in &r.progress {
        let l = || {
            let mut l = labels();
            l.push(("activity", p.what.to_string()));
            l
        };
        if let Ok(rest) = p.rest {
            m.add(
                "mars_resource_progress_rest_bytes",
                "gauge",
                "Bytes this host's sync, fetch or replay still has to do (view's lag).",
                l(),
                rest as f64,
            );
        }
        if let Ok(rate) = p.rate {
            m.add(
                "mars_resource_progress_rate_bytes_per_second",
                "gauge",
                "Rate of the sync, fetch or replay as the kernel publishes it (actual-<host>/amount-*_rate).",
                l(),
                rate as f64,
            );
        }
        if let Some(eta) = p.eta_seconds() {
            m.add(
                "mars_resource_progress_eta_seconds",
                "gauge",
                "Seconds until the sync, fetch or replay is done at the published rate.",
                l(),
                eta as f64,
            );
        }
    }
    // Per member (label `peer`, this host included): its progress as the tree here holds it
    // (syncstatus-<peer>, replay-<peer>) and what its kernel publishes (actual-<peer>/...).
    for p in &r.peers {
        let l = || {
            let mut l = labels();
            l.push(("peer", p.host.clone()));
            l
        };
        if let Some(bytes) = p.sync_bytes {
            m.add(
                "mars_resource_peer_sync_bytes",
                "gauge",
                "Full sync progress of the member (peer): bytes copied (syncstatus-<peer>; = size when in sync).",
                l(),
                bytes as f64,
            );
        }
        if let Some((nr, pos)) = p.replay {
            m.add(
                "mars_resource_peer_replay_logfile_number",
                "gauge",
                "Number of the logfile the member's (peer's) replay is in (replay-<peer>).",
                l(),
                f64::from(nr),
            );
            m.add(
                "mars_resource_peer_replay_position_bytes",
                "gauge",
                "Position of the member's (peer's) replay in that logfile (replay-<peer>).",
                l(),
                pos as f64,
            );
        }
        if let Some(bytes) = p.fetched_bytes {
            m.add(
                "mars_resource_fetched_bytes_total",
                "counter",
                "Bytes of logfile data the member (peer) fetched for the resource, as its kernel publishes them (actual-<peer>/amount-file_bytes).",
                l(),
                bytes as f64,
            );
        }
        if let Some(bytes) = p.logged_bytes {
            m.add(
                "mars_resource_logged_bytes_total",
                "counter",
                "Bytes the member's (peer's) loggers appended to the resource's logfiles, as its kernel publishes them (actual-<peer>/amount-log_bytes).",
                l(),
                bytes as f64,
            );
        }
        if let Some(secs) = p.replay_lag_seconds {
            m.add(
                "mars_resource_peer_replay_lag_seconds",
                "gauge",
                "How far the member's (peer's) replica is behind the designated primary, an upper bound: now minus the time up to which it holds every write logged (for this host, and on the designated primary for every member).",
                l(),
                secs as f64,
            );
        }
        for (what, rate) in &p.rates {
            if let Some(rate) = rate {
                let mut labels = l();
                labels.push(("activity", what.to_string()));
                m.add(
                    "mars_resource_peer_rate_bytes_per_second",
                    "gauge",
                    "Rate of the member's (peer's) sync, fetch or replay, as its kernel publishes it (actual-<peer>/amount-{sync,file,replay}_rate).",
                    labels,
                    *rate as f64,
                );
            }
        }
    }
    m.add(
        "mars_resource_logfiles",
        "gauge",
        "Logfiles of the resource in /mars on this host.",
        labels(),
        r.logfiles.len() as f64,
    );
    m.add(
        "mars_resource_logfiles_bytes",
        "gauge",
        "Bytes of the resource's logfiles in /mars on this host.",
        labels(),
        r.logfiles.iter().map(|l| l.len).sum::<u64>() as f64,
    );
    if let Some(last) = r.logfiles.last() {
        m.add(
            "mars_resource_logfile_newest_number",
            "gauge",
            "Number of the newest logfile here.",
            labels(),
            f64::from(last.nr),
        );
    }
    for s in &r.switches {
        let l = || {
            let mut l = labels();
            l.push(("switch", s.name.to_string()));
            l
        };
        if let Some(on) = s.switch {
            m.add(
                "mars_resource_switch_on",
                "gauge",
                "The operator's switch (todo-<host>/...; primary: this host designated).",
                l(),
                bool_value(on),
            );
        }
        if let Some(on) = s.indicator {
            m.add(
                "mars_resource_switch_kernel_on",
                "gauge",
                "The kernel's indicator for the switch (actual-<host>/...).",
                l(),
                bool_value(on),
            );
        }
    }
    let e = &r.emergency;
    m.add(
        "mars_resource_emergency_logging_stopped",
        "gauge",
        "Whether this host's logger stopped logging because /mars is full.",
        labels(),
        bool_value(e.logging_stopped),
    );
    m.add(
        "mars_resource_emergency",
        "gauge",
        "Whether the resource is in emergency mode here (actual-<host>/has-emergency).",
        labels(),
        bool_value(e.has_emergency),
    );
    m.add(
        "mars_resource_emergency_primary_stopped",
        "gauge",
        "Whether the designated primary (another host) stopped logging.",
        labels(),
        bool_value(e.primary_stopped.is_some()),
    );
    m.add(
        "mars_resource_emergency_limit_ratio",
        "gauge",
        "The emergency limit as a fraction of /mars (0: off).",
        labels(),
        f64::from(e.limit_percent) / 100.0,
    );
    m.add(
        "mars_resource_split_brain",
        "gauge",
        "Whether a split brain is detected for sure.",
        labels(),
        bool_value(r.split_brain.detected()),
    );
    m.add(
        "mars_resource_split_brain_suspected",
        "gauge",
        "Whether two histories could not be compared (possible split brain).",
        labels(),
        bool_value(r.split_brain.suspected()),
    );
    m.add(
        "mars_resource_split_brain_here",
        "gauge",
        "Whether this host is on the losing side of a split brain.",
        labels(),
        bool_value(r.forked_here),
    );
    m.add(
        "mars_resource_messages",
        "gauge",
        "Messages (actual-<host>/msg-*) other than OK: errors and warnings of the kernel.",
        labels(),
        r.messages.len() as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_formatted() {
        let mut m = Metrics {
            families: Vec::new(),
        };
        m.add(
            "mars_x",
            "gauge",
            "X.",
            vec![("resource", "a\"b\\c\nd".into())],
            3.0,
        );
        m.add(
            "mars_x",
            "gauge",
            "X.",
            vec![("resource", "e".into())],
            0.25,
        );
        assert_eq!(
            m.render(),
            "# HELP mars_x X.\n# TYPE mars_x gauge\nmars_x{resource=\"a\\\"b\\\\c\\nd\"} 3\nmars_x{resource=\"e\"} 0.25\n"
        );
        assert_eq!(number(1e20), "100000000000000000000");
    }
}
