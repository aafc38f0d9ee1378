// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: the /mars tree grammar and the version-chain logic on hostile input.
//!
//! Promises checked: no parser panics; whatever parses formats back to text that parses to
//! the same value; the history walk of the split-brain test terminates and is symmetric; the
//! switchover check and chain verification never panic.
//!
//! Input layout: the text is split into lines. Line 1 is a key (path below /mars), line 2 its
//! value; both are also fed to every value parser. Further lines `host nr value` are version
//! links and `host replay` lines (no number) are replay links for the history walk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mars_core::names::HostName;
use mars_core::split_brain::{
    compare_hosts, detect_split_brain, double_logfiles, HostHead, PairReport, Verdict,
};
use mars_core::tree::{Key, LogName, TempName};
use mars_core::tree_value::{
    ClusterUuid, HostOrNone, IpAddress, Msg, ReplayLink, SkipCheck, Value, VerifyStatus,
    VersionLink,
};
use mars_core::version_chain::{
    check_sequence_step, check_switchover, make_version_link, verify_chain, SwitchoverQuery,
    VersionEntry,
};
use mars_host::HostDigester;

/// Parses with `$parse`; on success the formatted text must parse to an equal value.
macro_rules! round_trip {
    ($parse:expr, $text:expr) => {
        if let Ok(v) = $parse($text) {
            let again = v.to_string();
            assert_eq!($parse(again.as_str()), Ok(v), "{:?} -> {:?}", $text, again);
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let key_text = lines.next().unwrap_or("");
    let value_text = lines.next().unwrap_or("");

    if let Ok(key) = Key::parse(key_text) {
        let again = key.to_string();
        assert_eq!(Key::parse(&again), Ok(key), "{key_text:?} -> {again:?}");
        if let Ok(value) = Value::parse(&key, value_text) {
            let again = value.to_string();
            assert_eq!(
                Value::parse(&key, &again),
                Ok(value),
                "{value_text:?} -> {again:?}"
            );
        }
    }
    for t in [key_text, value_text] {
        round_trip!(ReplayLink::parse, t);
        round_trip!(VersionLink::parse, t);
        round_trip!(Msg::parse, t);
        round_trip!(SkipCheck::parse, t);
        round_trip!(IpAddress::parse, t);
        round_trip!(ClusterUuid::parse, t);
        round_trip!(VerifyStatus::parse, t);
        round_trip!(HostOrNone::parse, t);
        round_trip!(LogName::parse, t);
        if let Some(temp) = TempName::parse(t) {
            let again = temp.to_string();
            assert_eq!(TempName::parse(&again), Some(temp));
        }
    }

    // The history lines.
    let mut entries = Vec::new();
    let mut heads = Vec::new();
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(host), Some(nr), Some(value)) => {
                if let Ok(nr) = nr.parse::<u32>() {
                    entries.push(VersionEntry { host, nr, value });
                }
            }
            (Some(host), Some(replay), None) => heads.push(HostHead { host, replay }),
            _ => {}
        }
    }
    let empty = PairReport {
        hosts: ["", ""],
        verdict: Verdict::Consistent,
        ancestor: None,
        diverged: [None, None],
        amount: [0, 0],
    };
    let mut out = [empty; 4];
    let summary = detect_split_brain(entries.as_slice(), &heads, &mut out);
    assert!(summary.written <= out.len());
    if let [a, b, ..] = heads.as_slice() {
        let ab = compare_hosts(entries.as_slice(), *a, *b);
        let ba = compare_hosts(entries.as_slice(), *b, *a);
        assert_eq!(ab.verdict, ba.verdict);
        assert_eq!(ab.ancestor, ba.ancestor);
        let query = SwitchoverQuery {
            me: a.host,
            old_log: key_text,
            new_log: value_text,
            double_logfile: false,
            designated_primary: key_text.len() % 2 == 0,
            skip_new: value_text.len() % 2 == 0,
            replay_tolerance: i64::try_from(text.len()).unwrap_or(0) - 100,
            own_replay: Some(a.replay),
        };
        let _ = check_switchover(&query, entries.as_slice());
    }
    let names: Vec<&str> = entries.iter().map(|e| e.value).collect();
    let _ = double_logfiles(&names).count();

    // Chain computation and verification on whatever the links are.
    let chain: Vec<(u32, &str)> = entries.iter().map(|e| (e.nr, e.value)).collect();
    let _ = verify_chain(&HostDigester, &chain);
    if let (Some(first), Ok(origin)) = (entries.first(), HostName::parse(key_text)) {
        if let Ok(link) = make_version_link(&HostDigester, first.nr, origin, 0, first.value) {
            let text = link.to_string();
            assert_eq!(VersionLink::parse(&text), Ok(link));
        }
        let _ = check_sequence_step(first.nr, first.nr.wrapping_add(3), Some(value_text));
    }
});
