// SPDX-License-Identifier: GPL-2.0
//! Split-brain detection, told as cluster stories: a linear history, a planned handover, a
//! forced failover with writes on both sides, two primaries producing the same logfile number,
//! and an outdated secondary that is merely behind and must not be reported.

mod common;

use common::Cluster;
use mars_core::names::HostName;
use mars_core::split_brain::{
    compare_hosts, detect_split_brain, double_logfiles, HostHead, PairReport, Position, Verdict,
};
use mars_core::tree::LogName;

fn pos(nr: u32, origin: &str, at: i64) -> Position<'_> {
    Position {
        log: LogName {
            nr,
            origin: HostName::parse(origin).unwrap(),
        },
        pos: at,
    }
}

fn compare<'a>(c: &'a Cluster, a: &str, b: &str) -> PairReport<'a> {
    let entries = c.entries();
    let report = compare_hosts(entries.as_slice(), c.head(a), c.head(b));
    // The verdict does not depend on the order of the pair.
    let reverse = compare_hosts(entries.as_slice(), c.head(b), c.head(a));
    assert_eq!(report.verdict, reverse.verdict, "asymmetric verdict");
    assert_eq!(report.ancestor, reverse.ancestor, "asymmetric ancestor");
    assert_eq!(
        report.amount,
        [reverse.amount[1], reverse.amount[0]],
        "amounts follow their hosts"
    );
    report
}

fn detect(c: &Cluster) -> (bool, Vec<(String, String, Verdict)>) {
    let entries = c.entries();
    let heads = c.heads();
    let empty = PairReport {
        hosts: ["", ""],
        verdict: Verdict::Consistent,
        ancestor: None,
        diverged: [None, None],
        amount: [0, 0],
    };
    let mut out = vec![empty; 8];
    let summary = detect_split_brain(entries.as_slice(), &heads, &mut out);
    let pairs = out[..summary.written]
        .iter()
        .map(|r| (r.hosts[0].to_string(), r.hosts[1].to_string(), r.verdict))
        .collect();
    (summary.is_split(), pairs)
}

/// hostA is primary and has written logfiles 1..=3; hostB joined at the start and replays.
fn linear() -> Cluster {
    let mut c = Cluster::create("hostA", 1);
    c.join("hostB", "hostA", 1);
    c.advance("hostA", 1, "hostA", 1000);
    c.advance("hostA", 2, "hostA", 2000);
    c.advance("hostA", 3, "hostA", 500);
    c.advance("hostB", 1, "hostA", 1000);
    c.advance("hostB", 2, "hostA", 2000);
    c
}

#[test]
fn linear_history_is_consistent_at_every_stage() {
    let mut c = linear();
    // hostB is one logfile behind.
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(2, "hostA", 2000)));
    assert_eq!(
        r.diverged,
        [Some(pos(3, "hostA", 500)), None],
        "only hostA has something new"
    );
    // hostB is replaying inside the same logfile.
    c.advance("hostB", 3, "hostA", 200);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(3, "hostA", 200)));
    // hostB has caught up completely.
    c.advance("hostB", 3, "hostA", 500);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(3, "hostA", 500)));
    assert_eq!(r.diverged, [None, None]);
    assert_eq!(detect(&c), (false, vec![]));
}

#[test]
fn outdated_but_consistent_peer_is_not_split_brain() {
    // hostC joined long ago, replayed logfile 1 and then stopped (disconnected, or paused):
    // it is many logfiles behind but its history is a prefix of hostA's.
    let mut c = linear();
    c.join("hostC", "hostA", 1);
    c.advance("hostC", 1, "hostA", 1000);
    for nr in 4..=9 {
        c.advance("hostA", nr, "hostA", 100);
    }
    let r = compare(&c, "hostA", "hostC");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(1, "hostA", 1000)));
    assert_eq!(r.diverged[1], None);
    // Stopped in the middle of a logfile is just as fine.
    c.advance("hostC", 1, "hostA", 10);
    assert_eq!(compare(&c, "hostA", "hostC").verdict, Verdict::Consistent);
    assert_eq!(compare(&c, "hostB", "hostC").verdict, Verdict::Consistent);
    assert!(!detect(&c).0);
}

#[test]
fn planned_handover_is_consistent() {
    // hostB catches up, becomes primary and writes logfile 4; hostA follows as secondary.
    let mut c = linear();
    c.advance("hostB", 3, "hostA", 500);
    c.advance("hostB", 4, "hostB", 700);
    assert_eq!(compare(&c, "hostA", "hostB").verdict, Verdict::Consistent);
    c.advance("hostA", 4, "hostB", 300);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(4, "hostB", 300)));
    c.advance("hostA", 4, "hostB", 700);
    c.advance("hostB", 5, "hostB", 10);
    c.advance("hostA", 5, "hostB", 10);
    assert_eq!(compare(&c, "hostA", "hostB").verdict, Verdict::Consistent);
    assert!(!detect(&c).0);
}

#[test]
fn forced_failover_with_writes_on_both_sides_is_split_brain() {
    // The network splits while hostB has replayed logfile 3 up to 300 of hostA's 500 bytes.
    // hostB is forced to primary and writes logfile 4; hostA keeps writing.
    let mut c = linear();
    c.advance("hostB", 3, "hostA", 300);
    c.advance("hostB", 4, "hostB", 800);
    // hostA still in logfile 3 (grown to 900 bytes): split, since hostB left logfile 3 at 300.
    c.advance("hostA", 3, "hostA", 900);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::SplitBrain);
    assert_eq!(r.ancestor, Some(pos(3, "hostA", 300)));
    assert_eq!(
        r.diverged,
        [Some(pos(3, "hostA", 900)), Some(pos(4, "hostB", 800))]
    );
    // hostA rotates to its own logfile 4: now there are two logfiles number 4.
    c.advance("hostA", 4, "hostA", 50);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::SplitBrain);
    assert_eq!(r.ancestor, Some(pos(3, "hostA", 300)));
    assert_eq!(r.amount, [50 + 900, 800 + 300]);
    let (split, pairs) = detect(&c);
    assert!(split);
    assert_eq!(
        pairs,
        vec![(
            "hostA".to_string(),
            "hostB".to_string(),
            Verdict::SplitBrain
        )]
    );
}

#[test]
fn forced_failover_without_new_writes_on_the_old_primary_is_not_split_brain() {
    // hostB had everything hostA wrote (logfile 3 up to 500) when it was forced to primary;
    // hostA then stopped. hostA is merely behind.
    let mut c = linear();
    c.advance("hostB", 3, "hostA", 500);
    c.advance("hostB", 4, "hostB", 800);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(3, "hostA", 500)));
}

#[test]
fn same_logfile_number_from_two_origins() {
    // Two hosts primary at the same time right after create: log-1-hostA and log-1-hostB.
    let mut c = Cluster::create("hostA", 1);
    c.join("hostB", "hostA", 1);
    c.advance("hostA", 1, "hostA", 100);
    c.advance("hostB", 1, "hostB", 200);
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::SplitBrain);
    assert!(detect(&c).0);

    let names = [
        "log-000000001-hostA",
        "replay-hostA",
        "log-000000001-hostB",
        "log-000000002-hostA",
        "log-000000001-hostC",
    ];
    let doubles: Vec<_> = double_logfiles(&names)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        doubles,
        vec![
            (
                "log-000000001-hostA".to_string(),
                "log-000000001-hostB".to_string()
            ),
            (
                "log-000000001-hostA".to_string(),
                "log-000000001-hostC".to_string()
            ),
            (
                "log-000000001-hostB".to_string(),
                "log-000000001-hostC".to_string()
            ),
        ]
    );
    assert_eq!(
        double_logfiles(&["log-000000001-hostA", "log-000000002-hostA"]).count(),
        0
    );
    assert_eq!(double_logfiles(&[]).count(), 0);
}

#[test]
fn three_hosts_report_only_the_forked_pairs() {
    // hostC follows hostA; hostB forks. Pairs (A,B) and (B,C) are split, (A,C) is not.
    let mut c = linear();
    c.join("hostC", "hostA", 1);
    c.advance("hostC", 1, "hostA", 1000);
    c.advance("hostC", 2, "hostA", 2000);
    c.advance("hostB", 3, "hostA", 300);
    c.advance("hostB", 4, "hostB", 800);
    c.advance("hostA", 3, "hostA", 900);
    c.advance("hostA", 4, "hostA", 50);
    c.advance("hostC", 3, "hostA", 900);
    let (split, pairs) = detect(&c);
    assert!(split);
    assert_eq!(
        pairs,
        vec![
            (
                "hostA".to_string(),
                "hostB".to_string(),
                Verdict::SplitBrain
            ),
            (
                "hostB".to_string(),
                "hostC".to_string(),
                Verdict::SplitBrain
            ),
        ]
    );
    // A full output slice does not stop the counting.
    let entries = c.entries();
    let heads = c.heads();
    let summary = detect_split_brain(entries.as_slice(), &heads, &mut []);
    assert_eq!((summary.pairs, summary.split, summary.written), (3, 2, 0));
}

#[test]
fn missing_links_give_unknown_which_counts_as_split() {
    let mut c = linear();
    c.versions
        .retain(|(h, n, _)| !(h == "hostA" && (*n == 2 || *n == 3)));
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.verdict.is_split());
    assert!(detect(&c).0);
    // A malformed replay link cannot be placed at all.
    let entries = c.entries();
    let r = compare_hosts(
        entries.as_slice(),
        HostHead {
            host: "hostA",
            replay: "junk",
        },
        c.head("hostB"),
    );
    assert_eq!(r.verdict, Verdict::Unknown);
}

#[test]
fn missing_link_falls_back_to_the_previous_ones_head() {
    // hostA's link for logfile 3 is missing (a race with log rotation); the walk takes the
    // head of its link for 2 instead.
    let mut c = linear();
    c.versions.retain(|(h, n, _)| !(h == "hostA" && *n == 3));
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Consistent);
    assert_eq!(r.ancestor, Some(pos(2, "hostA", 2000)));
}

#[test]
fn corrupt_links_cannot_make_the_walk_loop() {
    // A back pointer that points forward is refused.
    let mut c = linear();
    let v3 = c.version("hostA", 3).unwrap().to_string();
    let (head3, prev) = v3.split_once(':').unwrap();
    let forward = prev.replace("log-000000002-", "log-000000005-");
    c.set_version("hostA", 3, &format!("{head3}:{forward}"));
    let r = compare(&c, "hostA", "hostB");
    assert_eq!(r.verdict, Verdict::Unknown);
}
