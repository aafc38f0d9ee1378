// SPDX-License-Identifier: GPL-2.0
//! The version-link hash chain: the exact text the original writes, the fake links of
//! `create-resource`, chain verification, the sequence-skip rule, and the secondary's
//! switchover check with every refusal it can give.

mod common;

use common::{md5_hex, Cluster, TestMd5};
use mars_core::digest::Digester;
use mars_core::names::HostName;
use mars_core::version_chain::{
    check_sequence_step, check_switchover, initial_links, make_version_link, verify_chain,
    ChainError, ChainFault, SequenceSkip, SwitchoverQuery, SwitchoverRefusal, VersionEntry,
    VERSION_LINK_MAX,
};

const ZERO: &str = "00000000000000000000000000000000";

fn host(s: &str) -> HostName<'_> {
    HostName::parse(s).unwrap()
}

#[test]
fn md5_helper_is_md5() {
    assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

#[test]
fn initial_links_match_create_resource() {
    let [(n0, l0), (n1, l1)] = initial_links(1, host("hostA")).unwrap();
    assert_eq!((n0, n1), (0, 1));
    assert_eq!(l0.to_string(), format!("{ZERO},log-000000000-hostA,0:"));
    assert_eq!(
        l1.to_string(),
        format!("{ZERO},log-000000001-hostA,0:{ZERO},log-000000000-hostA,0")
    );
    // A re-used resource directory starts at maxnr + 100000.
    let [(n0, l0), (n1, l1)] = initial_links(100_042, host("hostA")).unwrap();
    assert_eq!((n0, n1), (100_041, 100_042));
    assert_eq!(
        l1.to_string(),
        format!("{ZERO},log-000100042-hostA,0:{ZERO},log-000100041-hostA,0")
    );
    assert_eq!(l0.to_string(), format!("{ZERO},log-000100041-hostA,0:"));
    assert!(initial_links(0, host("hostA")).is_none());
}

#[test]
fn version_link_text_is_exactly_the_originals() {
    let prev = format!("{ZERO},log-000000001-hostA,0:{ZERO},log-000000000-hostA,0");
    let link = make_version_link(&TestMd5, 2, host("hostA"), 4096, &prev).unwrap();
    // "%d,%s,%lld:%s" over seq, origin, log_pos and the full previous link.
    let digest = md5_hex(&format!("2,hostA,4096:{prev}"));
    assert_eq!(
        link.to_string(),
        format!("{digest},log-000000002-hostA,4096:{ZERO},log-000000001-hostA,0")
    );

    // The next link chains over the full value of this one.
    let first = link.to_string();
    let next = make_version_link(&TestMd5, 3, host("hostB"), 17, &first).unwrap();
    let digest3 = md5_hex(&format!("3,hostB,17:{first}"));
    assert_eq!(
        next.to_string(),
        format!("{digest3},log-000000003-hostB,17:{digest},log-000000002-hostA,4096")
    );

    // Big numbers: the digest input uses no zero padding, the name uses %09d.
    let big = make_version_link(&TestMd5, 1_234_567_890, host("h"), i64::MAX, "").unwrap();
    let d = md5_hex(&format!("1234567890,h,{}:", i64::MAX));
    assert_eq!(
        big.to_string(),
        format!("{d},log-1234567890-h,{}:", i64::MAX)
    );
}

#[test]
fn first_logfile_ignores_the_previous_link() {
    let expected = format!("{},log-000000001-hostA,100:", md5_hex("1,hostA,100:"));
    for prev in [
        "",
        "garbage that the original would not read for nr 1",
        ".deleted",
    ] {
        assert_eq!(
            make_version_link(&TestMd5, 1, host("hostA"), 100, prev)
                .unwrap()
                .to_string(),
            expected
        );
    }
}

#[test]
fn missing_or_deleted_previous_link_reads_as_empty() {
    let expected = format!("{},log-000000007-hostA,5:", md5_hex("7,hostA,5:"));
    assert_eq!(
        make_version_link(&TestMd5, 7, host("hostA"), 5, "")
            .unwrap()
            .to_string(),
        expected
    );
    assert_eq!(
        make_version_link(&TestMd5, 7, host("hostA"), 5, ".deleted")
            .unwrap()
            .to_string(),
        expected
    );
}

#[test]
fn bad_inputs_are_errors() {
    assert!(matches!(
        make_version_link(&TestMd5, 2, host("a"), 0, "junk"),
        Err(ChainError::BadPrevious(_))
    ));
    let long = format!("{ZERO},log-000000001-a,{}:", "1".repeat(VERSION_LINK_MAX));
    assert!(matches!(
        make_version_link(&TestMd5, 2, host("a"), 0, &long),
        Err(ChainError::BadPrevious(_))
    ));
    assert_eq!(
        make_version_link(&TestMd5, 2, host("a"), -1, ""),
        Err(ChainError::BadPosition)
    );
    assert_eq!(
        make_version_link(&TestMd5, 1 << 31, host("a"), 0, ""),
        Err(ChainError::BadNumber)
    );
    assert!(initial_links(1 << 31, host("a")).is_none());
    struct NoMd5;
    impl Digester for NoMd5 {}
    assert_eq!(
        make_version_link(&NoMd5, 2, host("a"), 0, ""),
        Err(ChainError::NoMd5)
    );
    assert!(!ChainError::DigestMismatch.message().is_empty());
}

/// A primary that created the resource and wrote five logfiles.
fn five_logfiles() -> Cluster {
    let mut c = Cluster::create("hostA", 1);
    for nr in 1..=5 {
        c.advance("hostA", nr, "hostA", 1000 * i64::from(nr));
    }
    c
}

#[test]
fn a_real_chain_verifies() {
    let c = five_logfiles();
    let summary = verify_chain(&TestMd5, &c.chain_of("hostA")).unwrap();
    assert_eq!(
        (summary.verified, summary.fake, summary.unverifiable),
        (5, 1, 0)
    );
    // After log rotation deleted the old links the oldest remaining one cannot be checked.
    let tail: Vec<_> = c
        .chain_of("hostA")
        .into_iter()
        .filter(|(n, _)| *n >= 3)
        .collect();
    let summary = verify_chain(&TestMd5, &tail).unwrap();
    assert_eq!((summary.verified, summary.unverifiable), (2, 1));
    // The fake links of create-resource verify on their own.
    let fresh = Cluster::create("hostA", 1);
    assert_eq!(
        verify_chain(&TestMd5, &fresh.chain_of("hostA"))
            .unwrap()
            .fake,
        2
    );
}

#[test]
fn tampering_is_detected() {
    let c = five_logfiles();
    let chain = c.chain_of("hostA");
    let v3 = chain.iter().find(|(n, _)| *n == 3).unwrap().1.to_string();

    // Change the position but keep the digest.
    let forged = v3.replacen(",3000:", ",3001:", 1);
    let mut links: Vec<(u32, &str)> = chain.iter().filter(|(n, _)| *n != 3).copied().collect();
    links.push((3, &forged));
    assert_eq!(
        verify_chain(&TestMd5, &links),
        Err(ChainFault {
            nr: 3,
            error: ChainError::DigestMismatch
        })
    );

    // Point the back link somewhere else.
    let (head, _) = v3.split_once(':').unwrap();
    let wrong_prev = format!("{head}:{ZERO},log-000000002-hostA,2000");
    let mut links: Vec<(u32, &str)> = chain.iter().filter(|(n, _)| *n != 3).copied().collect();
    links.push((3, &wrong_prev));
    assert_eq!(
        verify_chain(&TestMd5, &links),
        Err(ChainFault {
            nr: 3,
            error: ChainError::PrevMismatch
        })
    );

    // File a link under the wrong number.
    let links = vec![(4u32, v3.as_str())];
    assert_eq!(
        verify_chain(&TestMd5, &links),
        Err(ChainFault {
            nr: 4,
            error: ChainError::NumberMismatch
        })
    );

    // Garbage.
    let links = vec![(4u32, "nonsense")];
    assert!(matches!(
        verify_chain(&TestMd5, &links),
        Err(ChainFault {
            nr: 4,
            error: ChainError::Unparseable(_)
        })
    ));

    // Tombstones count as missing.
    let links = vec![(4u32, ".deleted")];
    assert_eq!(verify_chain(&TestMd5, &links).unwrap().verified, 0);
}

#[test]
fn sequence_skips_need_permission() {
    assert_eq!(check_sequence_step(5, 6, None), Ok(()));
    assert_eq!(check_sequence_step(5, 5, None), Ok(()));
    assert_eq!(
        check_sequence_step(0, 17, None),
        Ok(()),
        "unknown predecessor"
    );
    assert_eq!(
        check_sequence_step(5, 1, None),
        Ok(()),
        "logfile 1 never checks"
    );
    assert_eq!(
        check_sequence_step(5, 8, None),
        Err(SequenceSkip { from: 5, to: 8 })
    );
    assert_eq!(
        check_sequence_step(5, 4, None),
        Err(SequenceSkip { from: 5, to: 4 })
    );
    assert_eq!(check_sequence_step(5, 8, Some("8")), Ok(()));
    assert_eq!(
        check_sequence_step(5, 8, Some("8 -- THIS IS EXTREMELY RISKY")),
        Ok(())
    );
    assert_eq!(
        check_sequence_step(5, 8, Some("9")),
        Err(SequenceSkip { from: 5, to: 8 })
    );
    assert_eq!(
        check_sequence_step(5, 8, Some("")),
        Err(SequenceSkip { from: 5, to: 8 })
    );
    assert_eq!(
        check_sequence_step(u32::MAX, 3, None),
        Err(SequenceSkip {
            from: u32::MAX,
            to: 3
        })
    );
}

/// hostA primary, logfiles 1..=3 written (3000 bytes each); hostB joined at 1 and has
/// replayed logfile 1 completely; logfile 2 exists.
fn secondary_ready() -> Cluster {
    let mut c = Cluster::create("hostA", 1);
    c.join("hostB", "hostA", 1);
    c.advance("hostA", 1, "hostA", 3000);
    c.advance("hostA", 2, "hostA", 3000);
    c.advance("hostB", 1, "hostA", 3000);
    c
}

fn query<'a>(c: &'a Cluster, old: &'a str, new: &'a str) -> SwitchoverQuery<'a> {
    SwitchoverQuery {
        me: "hostB",
        old_log: old,
        new_log: new,
        double_logfile: false,
        designated_primary: false,
        skip_new: false,
        replay_tolerance: 0,
        own_replay: c.replay("hostB"),
    }
}

fn switch(c: &Cluster, q: &SwitchoverQuery<'_>) -> Result<(), SwitchoverRefusal> {
    let entries: Vec<VersionEntry<'_>> = c.entries();
    check_switchover(q, entries.as_slice())
}

const OLD: &str = "log-000000001-hostA";
const NEW: &str = "log-000000002-hostA";

#[test]
fn switchover_allowed_when_complete() {
    let c = secondary_ready();
    assert_eq!(switch(&c, &query(&c, OLD, NEW)), Ok(()));
}

#[test]
fn switchover_refusals() {
    let c = secondary_ready();
    let q = query(&c, OLD, NEW);
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                double_logfile: true,
                ..q
            }
        ),
        Err(SwitchoverRefusal::DoubleLogfile)
    );
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                old_log: "log-1-hostA",
                ..q
            }
        ),
        Err(SwitchoverRefusal::BadLogName)
    );
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                new_log: "log-000000003-hostA",
                ..q
            }
        ),
        Err(SwitchoverRefusal::NotContiguous)
    );
    assert_eq!(
        switch(&c, &SwitchoverQuery { me: "hostC", ..q }),
        Err(SwitchoverRefusal::OwnVersionMissing)
    );

    // The origin's link for N is gone.
    let mut d = c.clone();
    d.versions.retain(|(h, n, _)| !(h == "hostA" && *n == 1));
    assert_eq!(
        switch(&d, &query(&d, OLD, NEW)),
        Err(SwitchoverRefusal::OriginVersionMissing)
    );

    // The link for N+1 has not arrived yet; with skip_new it is not awaited.
    let mut d = c.clone();
    d.versions.retain(|(h, n, _)| !(h == "hostA" && *n == 2));
    assert_eq!(
        switch(&d, &query(&d, OLD, NEW)),
        Err(SwitchoverRefusal::NewVersionMissing)
    );
    assert_eq!(
        switch(
            &d,
            &SwitchoverQuery {
                skip_new: true,
                ..query(&d, OLD, NEW)
            }
        ),
        Ok(())
    );

    // Not completely transferred: hostB replayed only 2000 of 3000 bytes.
    let mut d = c.clone();
    d.advance("hostB", 1, "hostA", 2000);
    assert_eq!(
        switch(&d, &query(&d, OLD, NEW)),
        Err(SwitchoverRefusal::NotYetTransferred)
    );

    // Replay link missing / malformed / naming another logfile / behind.
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                own_replay: None,
                ..q
            }
        ),
        Err(SwitchoverRefusal::ReplayUnreadable)
    );
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                own_replay: Some("junk"),
                ..q
            }
        ),
        Err(SwitchoverRefusal::ReplayUnreadable)
    );
    let other = "log-000000001-hostC,3000,0";
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                own_replay: Some(other),
                ..q
            }
        ),
        Err(SwitchoverRefusal::LogNameMismatch)
    );
    let behind = "log-000000001-hostA,2999,0";
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                own_replay: Some(behind),
                ..q
            }
        ),
        Err(SwitchoverRefusal::ReplayNotFinished)
    );
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                own_replay: Some(behind),
                replay_tolerance: 1,
                ..q
            }
        ),
        Ok(())
    );
    let ahead = "log-000000001-hostA,3001,0";
    assert_eq!(
        switch(
            &c,
            &SwitchoverQuery {
                own_replay: Some(ahead),
                ..q
            }
        ),
        Err(SwitchoverRefusal::ReplayNotFinished)
    );

    // Malformed own link (equal on both sides, so the equality test passes).
    let mut d = c.clone();
    d.set_version("hostA", 1, "broken");
    d.set_version("hostB", 1, "broken");
    assert_eq!(
        switch(&d, &query(&d, OLD, NEW)),
        Err(SwitchoverRefusal::OwnVersionMalformed)
    );

    // Malformed link for N+1.
    let mut d = c.clone();
    d.set_version("hostA", 2, "no colon here");
    assert_eq!(
        switch(&d, &query(&d, OLD, NEW)),
        Err(SwitchoverRefusal::NewVersionMalformed)
    );
}

#[test]
fn switchover_detects_a_fork_at_the_next_logfile() {
    // hostA went on with logfile 2 after a version of logfile 1 that hostB never saw:
    // hostB's and hostA's links for 1 agree (both at 3000) but hostA's link for 2 was written
    // after hostA had re-written logfile 1's link with other contents.
    let mut c = secondary_ready();
    let mut forked = c.clone();
    forked.advance("hostA", 1, "hostA", 2500);
    forked.advance("hostA", 2, "hostA", 100);
    let v2 = forked.version("hostA", 2).unwrap().to_string();
    c.set_version("hostA", 2, &v2);
    assert_eq!(
        switch(&c, &query(&c, OLD, NEW)),
        Err(SwitchoverRefusal::VersionMismatch)
    );
    assert_eq!(
        SwitchoverRefusal::VersionMismatch.msg_key(),
        "err-splitbrain-detected"
    );
}

#[test]
fn designated_primary_does_not_take_foreign_logfiles() {
    // hostB became designated primary; it is on its own logfile 3 and sees hostA's logfile 4.
    let mut c = secondary_ready();
    c.advance("hostB", 2, "hostA", 3000);
    c.advance("hostB", 3, "hostB", 10);
    c.advance("hostA", 3, "hostB", 10);
    c.advance("hostA", 4, "hostA", 10);
    let q = SwitchoverQuery {
        designated_primary: true,
        ..query(&c, "log-000000003-hostB", "log-000000004-hostA")
    };
    assert_eq!(switch(&c, &q), Err(SwitchoverRefusal::ForeignDenied));
    assert_eq!(
        SwitchoverRefusal::ForeignDenied.msg_key(),
        "inf-log-foreign-denied"
    );
}

#[test]
fn every_refusal_names_a_message_channel() {
    use SwitchoverRefusal::*;
    for r in [
        DoubleLogfile,
        BadLogName,
        NotContiguous,
        OwnVersionMissing,
        OriginVersionMissing,
        ForeignDenied,
        NewVersionMissing,
        NotYetTransferred,
        ReplayUnreadable,
        OwnVersionMalformed,
        LogNameMismatch,
        ReplayNotFinished,
        NewVersionMalformed,
        VersionMismatch,
    ] {
        assert!(r.msg_key().starts_with("err-") || r.msg_key().starts_with("inf-"));
        assert!(!r.to_string().is_empty());
    }
}
