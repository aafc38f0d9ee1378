// SPDX-License-Identifier: GPL-2.0
//! Documentation/knobs.rst accounts for every entry of the original's `/proc/sys/mars`
//! (issue 18): an entry this module has (a name registered in `rust/knobs.rs`, the
//! original's own names included) is described above the section "The original's other
//! entries"; every other one is named in that section, with what takes its place here or why
//! it has none. An entry dropped from the doc, or listed as missing while the module has it,
//! fails the test.
//!
//! The list is the original's `kernel/sy_old/mars_proc.c` (schoebel/mars, branch master,
//! commit 2a3f5f04342bf3fa77764e1e2ea15c4b355ed8de, "release mars0.1astable177"), written as
//! its tables are: `INT_ENTRY`s, `LIMITER_ENTRIES` and `THRESHOLD_ENTRIES` (expanded with the
//! suffixes of those macros), the subdirectories `traffic_tuning/`, `io_tuning/` and
//! `tcp_tuning_*/`, and the entries only its debug builds have
//! (`CONFIG_MARS_DEBUG`, `CONFIG_MARS_DEBUG_DEVEL_VIA_SAY`, `CONFIG_MARS_MEM_PREALLOC`).

use std::collections::BTreeSet;

const KNOBS_RST: &str = include_str!("../../../Documentation/knobs.rst");
const KNOBS_RS: &str = include_str!("../../../rust/knobs.rs");
/// The heading of the section that names the entries this module does not have.
const OTHERS: &str = "The original's other entries";

/// One line of a table of mars_proc.c.
enum Entry {
    /// `INT_ENTRY`, `ULONG_ENTRY`, `VEC_INT_ENTRY` or a special entry: one name.
    One(&'static str),
    /// `LIMITER_ENTRIES(VAR, PREFIX, "kb")`: PREFIX and each of [`LIMITER`].
    Limiter(&'static str),
    /// `THRESHOLD_ENTRIES(VAR, PREFIX)`: PREFIX and each of [`THRESHOLD`].
    Threshold(&'static str),
}
use Entry::{Limiter, One, Threshold};

/// The suffixes of `LIMITER_ENTRIES` (its SUFFIX is "kb" everywhere).
const LIMITER: [&str; 9] = [
    "_total_ops",
    "_total_kb",
    "_ratelimit_ops",
    "_ratelimit_kb",
    "_maxdelay_ms",
    "_minwindow_ms",
    "_maxwindow_ms",
    "_rate_ops",
    "_rate_kb",
];

/// The suffixes of `THRESHOLD_ENTRIES`.
const THRESHOLD: [&str; 6] = [
    "_threshold_us",
    "_factor_percent",
    "_plus_us",
    "_max_ms",
    "_triggered",
    "_true_hit",
];

/// `mars_table`, in its order (the subdirectories are below).
const TOP: &[Entry] = &[
    One("version"),
    One("trigger"),
    One("info"),
    One("lamport_clock"),
    One("alive_window"),
    One("min_update_seconds"),
    One("max_lamport_future"),
    One("show_log_messages"),
    One("show_debug_messages"),
    One("show_statistics_global"),
    One("show_statistics_server"),
    One("show_connections"),
    One("aio_sync_mode"),
    One("debug_crash_mode"),
    One("debug_hang_mode"),
    Limiter("debug_bio_throttle_read"),
    Limiter("debug_bio_throttle_write"),
    One("logger_completion_semantics"),
    One("logger_allow_compress"),
    One("zlib_compress_level"),
    One("syslog_min_class"),
    One("syslog_max_class"),
    One("syslog_flood_class"),
    One("syslog_flood_limit"),
    One("syslog_flood_recovery_s"),
    One("delay_say_on_overflow"),
    One("mapfree_period_sec"),
    One("mapfree_grace_keep_mb"),
    One("logger_pressure_limit"),
    One("logger_disable_pressure"),
    One("logger_writeback_maxage_s"),
    One("logger_report_interval_s"),
    One("logger_max_interleave"),
    One("logger_resume"),
    One("logger_replay_timeout_sec"),
    One("mem_limit_percent"),
    One("mem_limit_gb"),
    One("logger_mem_used_kb"),
    One("mem_used_raw_kb"),
    One("mem_allow_freelist"),
    One("mem_prefer_freelist"),
    One("mem_freelist_max"),
    One("mem_alloc_count"),
    One("mem_alloc_max"),
    One("expected_resources"),
    One("nr_affected_resources"),
    One("nr_prosumer_resources"),
    One("io_flying_count"),
    One("copy_strict_write_order"),
    One("copy_timeout"),
    One("copy_read_prio"),
    One("copy_write_prio"),
    One("copy_read_max_fly"),
    One("copy_write_max_fly"),
    One("statusfiles_rollover_sec"),
    One("scan_interval_sec"),
    One("propagate_interval_sec"),
    One("sync_flip_interval_sec"),
    One("additional_peers_running"),
    One("additional_peers_to_run"),
    One("additional_peers_testing"),
    One("peer_abort"),
    One("client_abort"),
    One("do_fast_fullsync"),
    One("logrot_auto_gb"),
    One("remaining_space_kb"),
    One("required_total_space_0_gb"),
    One("required_free_space_1_gb"),
    One("required_free_space_2_gb"),
    One("required_free_space_3_gb"),
    One("required_free_space_4_gb"),
    One("sync_nr"),
    One("sync_limit"),
    One("handler_dent_limit"),
    One("handler_dent_retry"),
    One("handler_limit"),
    One("client_sender_count"),
    One("client_receiver_count"),
    One("server_callback_count"),
    One("server_handler_count"),
    One("server_start_delay_ms"),
    One("mars_emergency_mode"),
    One("mars_reset_emergency"),
    One("mars_keep_msg_s"),
    One("write_throttle_start_percent"),
    One("write_throttle_end_percent"),
    One("write_throttle_size_threshold_kb"),
    Limiter("write_throttle"),
    One("mars_port"),
    One("network_io_timeout"),
    One("client_info_timeout"),
    One("parallel_connections"),
    One("parallel_bulk_feed"),
];

/// `traffic_tuning_table`.
const TRAFFIC_TUNING: &[Entry] = &[
    Limiter("client_role_traffic"),
    Limiter("server_role_traffic"),
];

/// `io_tuning_table`.
const IO_TUNING: &[Entry] = &[
    Limiter("writeback"),
    One("writeback_until_percent"),
    Threshold("global_io"),
    One("bio_nr_requests"),
    Threshold("bio_submit"),
    Threshold("bio_io_r"),
    Threshold("bio_io_w"),
    Threshold("aio_submit"),
    Threshold("aio_io_r"),
    Threshold("aio_io_w"),
    Threshold("aio_sync"),
    One("if_nr_requests"),
];

/// `make_tcp_tuning_table`, one table per directory of [`TCP_DIRS`].
const TCP: &[Entry] = &[
    One("ip_tos"),
    One("tcp_window_size"),
    One("tcp_nodelay"),
    One("tcp_timeout"),
    One("tcp_keepcnt"),
    One("tcp_keepintvl"),
    One("tcp_keepidle"),
];

const TCP_DIRS: [&str; 3] = [
    "tcp_tuning_0_meta_traffic",
    "tcp_tuning_1_replication_traffic",
    "tcp_tuning_2_sync_traffic",
];

/// Every entry of the original: top-level names bare, the others as `<dir>/<name>`.
fn original_entries() -> Vec<String> {
    let mut tables: Vec<(&str, &[Entry])> = vec![
        ("", TOP),
        ("traffic_tuning/", TRAFFIC_TUNING),
        ("io_tuning/", IO_TUNING),
    ];
    let tcp_dirs: Vec<String> = TCP_DIRS.iter().map(|d| format!("{d}/")).collect();
    for dir in &tcp_dirs {
        tables.push((dir.as_str(), TCP));
    }
    let mut out = Vec::new();
    for (dir, table) in tables {
        for entry in table {
            match entry {
                One(name) => out.push(format!("{dir}{name}")),
                Limiter(prefix) => out.extend(LIMITER.iter().map(|s| format!("{dir}{prefix}{s}"))),
                Threshold(prefix) => {
                    out.extend(THRESHOLD.iter().map(|s| format!("{dir}{prefix}{s}")))
                }
            }
        }
    }
    out
}

/// The names `rust/knobs.rs` registers (every `c_str!("...")`: entries and directories).
fn module_names() -> BTreeSet<&'static str> {
    KNOBS_RS
        .split("c_str!(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        // A subdirectory is registered by its path (`mars/tcp_tuning_0_meta_traffic`).
        .map(|name| name.strip_prefix("mars/").unwrap_or(name))
        .collect()
}

/// Whether the module has `entry` (a subdirectory entry: its directory and its name).
fn module_has(names: &BTreeSet<&str>, entry: &str) -> bool {
    match entry.split_once('/') {
        Some((dir, name)) => names.contains(dir) && names.contains(name),
        None => names.contains(entry),
    }
}

/// The names `text` writes as ``name``, and those of ranges ``a_1_b`` .. ``a_4_b`` (one digit
/// differing), as knobs.rst writes the four emergency thresholds.
fn named_in(text: &str) -> BTreeSet<String> {
    let parts: Vec<&str> = text.split("``").collect();
    let mut out = BTreeSet::new();
    for i in (1..parts.len()).step_by(2) {
        out.insert(parts[i].to_string());
        if parts.get(i + 1) != Some(&" .. ") {
            continue;
        }
        let (Some(a), Some(b)) = (
            Some(parts[i].as_bytes()),
            parts.get(i + 2).map(|s| s.as_bytes()),
        ) else {
            continue;
        };
        let differ: Vec<usize> = (0..a.len().min(b.len()))
            .filter(|&j| a[j] != b[j])
            .collect();
        if a.len() != b.len() || differ.len() != 1 {
            continue;
        }
        let j = differ[0];
        if a[j].is_ascii_digit() && b[j].is_ascii_digit() {
            for d in a[j]..=b[j] {
                let mut name = a.to_vec();
                name[j] = d;
                out.insert(String::from_utf8(name).unwrap_or_default());
            }
        }
    }
    out
}

/// The terms of the definition list in `text` (a line at the margin followed by an indented
/// one): what the section says is missing; its descriptions may name our knobs freely.
fn terms(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| !w[0].is_empty() && !w[0].starts_with(' ') && w[1].starts_with("    "))
        .map(|w| w[0])
        .collect::<Vec<_>>()
        .join("\n")
}

/// knobs.rst above the section [`OTHERS`], and the section itself.
fn doc_parts() -> (&'static str, &'static str) {
    let heading = format!("\n{OTHERS}\n{}\n", "=".repeat(OTHERS.len()));
    let at = KNOBS_RST
        .find(&heading)
        .unwrap_or_else(|| panic!("knobs.rst has no section \"{OTHERS}\""));
    KNOBS_RST.split_at(at)
}

#[test]
fn the_list_is_the_originals() {
    let entries = original_entries();
    // mars_table: 93 lines, 3 of them limiters (9 entries each: + 3 * 8); traffic_tuning: 2
    // limiters; io_tuning: 3 single entries, a limiter and 8 threshold groups; 3 tcp
    // directories of 7. 216 in all (checked against mars_proc.c when written).
    assert_eq!(
        entries.len(),
        (93 + 3 * 8) + 2 * 9 + (3 + 9 + 8 * 6) + 3 * 7
    );
    let unique: BTreeSet<&String> = entries.iter().collect();
    assert_eq!(unique.len(), entries.len(), "a name twice");
}

#[test]
fn knobs_rst_accounts_for_every_entry_of_the_original() {
    let names = module_names();
    assert!(
        names.contains("scan_interval_sec"),
        "rust/knobs.rs not parsed"
    );
    let (above, others) = doc_parts();
    let described = named_in(above);
    let listed = named_in(others);
    let terms = named_in(&terms(others));
    assert!(terms.contains("info"), "no terms found under \"{OTHERS}\"");
    let mut here = 0;
    let mut missing = 0;
    for entry in original_entries() {
        if module_has(&names, &entry) {
            here += 1;
            // A subdirectory's entry: its full path, or its directory and its name (a table
            // of the directories' knobs).
            let in_table = entry.split_once('/').is_some_and(|(dir, name)| {
                described.contains(&format!("{dir}/")) && described.contains(name)
            });
            assert!(
                described.contains(&entry) || in_table,
                "knobs.rst does not describe {entry}, which rust/knobs.rs registers"
            );
            assert!(
                !terms.contains(&entry),
                "knobs.rst lists {entry} under \"{OTHERS}\", but rust/knobs.rs registers it"
            );
        } else {
            missing += 1;
            assert!(
                listed.contains(&entry),
                "knobs.rst does not name the original's entry {entry} under \"{OTHERS}\""
            );
        }
    }
    // The module has some of the original's entries, the section names the rest.
    assert!(
        here >= 20 && missing >= 150,
        "{here} here, {missing} named as missing"
    );
}

#[test]
fn ranges_count_their_members() {
    let names = named_in("``x_1_gb`` .. ``x_3_gb`` and ``y``; ``a`` .. ``bb``");
    for n in ["x_1_gb", "x_2_gb", "x_3_gb", "y", "a", "bb"] {
        assert!(names.contains(n), "{n}");
    }
    assert_eq!(names.len(), 6);
}
