// SPDX-License-Identifier: GPL-2.0
//! The /mars tree grammar: every key and value form parses to the expected typed value and
//! formats back to the same text; invalid names in known places are refused; unknown names
//! survive; random inputs never panic and canonical forms round-trip.

use mars_core::lamport::Stamp;
use mars_core::names::{HostName, NameError, ResourceName};
use mars_core::tree::{
    is_skipped_name, may_create_remote_dir, strip_mars_root, GlobalIndicator, Indicator, Key,
    LogName, ResourceKey, Switch, TempName, TreeError,
};
use mars_core::tree_value::{
    is_tombstone, visible, ClusterUuid, HostOrNone, IpAddress, Md5Digest, Msg, ReplayLink,
    SkipCheck, Value, VerifyStatus, VersionHead, VersionLink, DELETED,
};
use proptest::prelude::*;

fn host(s: &str) -> HostName<'_> {
    HostName::parse(s).unwrap()
}

fn res(s: &str) -> ResourceName<'_> {
    ResourceName::parse(s).unwrap()
}

fn r(key: ResourceKey<'_>) -> Key<'_> {
    Key::Resource {
        res: res("r0"),
        key,
    }
}

/// Parses, compares with the expectation, and checks the round trip.
fn key_case(path: &str, expected: Key<'_>) {
    let key = Key::parse(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert_eq!(key, expected, "{path}");
    assert_eq!(key.to_string(), path, "round trip of {path}");
}

#[test]
fn top_level_keys() {
    key_case("uuid", Key::Uuid);
    key_case("ips", Key::IpsDir);
    key_case("ips/ip-hostA", Key::Ip(host("hostA")));
    key_case(
        "defaults",
        Key::Defaults {
            host: None,
            name: None,
        },
    );
    key_case(
        "defaults/enabled-log-compressions",
        Key::Defaults {
            host: None,
            name: Some("enabled-log-compressions"),
        },
    );
    key_case(
        "defaults-hostA",
        Key::Defaults {
            host: Some(host("hostA")),
            name: None,
        },
    );
    key_case(
        "defaults-hostA/sync-limit",
        Key::Defaults {
            host: Some(host("hostA")),
            name: Some("sync-limit"),
        },
    );
    key_case("todo-global", Key::TodoGlobal { name: None });
    key_case(
        "todo-global/deleted-hostB",
        Key::TodoGlobal {
            name: Some("deleted-hostB"),
        },
    );
    key_case("userspace", Key::Userspace { name: None });
    key_case(
        "userspace/systemd-trigger",
        Key::Userspace {
            name: Some("systemd-trigger"),
        },
    );
    key_case("userspace/a/b", Key::Userspace { name: Some("a/b") });
    key_case(
        "actual-hostA",
        Key::Actual {
            host: host("hostA"),
            indicator: None,
        },
    );
    key_case(
        "cache-hostA/invalid",
        Key::Cache {
            host: host("hostA"),
            name: Some("invalid"),
        },
    );
    key_case(
        "probe-hostB",
        Key::Probe {
            host: host("hostB"),
            rest: None,
        },
    );
    key_case(
        "probe-hostB/resource-r0/size",
        Key::Probe {
            host: host("hostB"),
            rest: Some("resource-r0/size"),
        },
    );
    key_case("resource-r0", r(ResourceKey::Dir));
}

#[test]
fn global_indicators() {
    let cases: &[(&str, GlobalIndicator<'_>)] = &[
        ("time", GlobalIndicator::Time),
        ("alive", GlobalIndicator::Alive),
        ("tree", GlobalIndicator::Tree),
        ("features", GlobalIndicator::Features),
        ("usable", GlobalIndicator::Usable),
        ("buildtag", GlobalIndicator::Buildtag),
        ("emergency", GlobalIndicator::Emergency),
        ("rest-space", GlobalIndicator::RestSpace),
        ("total-space", GlobalIndicator::TotalSpace),
        ("read-stamp", GlobalIndicator::ReadStamp),
        ("marsadm-version", GlobalIndicator::MarsadmVersion),
        ("used-log-digest", GlobalIndicator::UsedLogDigest),
        ("used-net-digest", GlobalIndicator::UsedNetDigest),
        ("used-log-compression", GlobalIndicator::UsedLogCompression),
        ("used-net-compression", GlobalIndicator::UsedNetCompression),
        (
            "msg-needed-connection-with-hostB",
            GlobalIndicator::Msg("needed-connection-with-hostB"),
        ),
        ("something-new", GlobalIndicator::Other("something-new")),
        ("msg-", GlobalIndicator::Other("msg-")),
    ];
    for (name, ind) in cases {
        let path = format!("actual-hostA/{name}");
        key_case(
            &path,
            Key::Actual {
                host: host("hostA"),
                indicator: Some(*ind),
            },
        );
    }
}

#[test]
fn resource_keys() {
    let lr = LogName {
        nr: 42,
        origin: host("hostA"),
    };
    let cases: &[(&str, ResourceKey<'_>)] = &[
        ("size", ResourceKey::Size),
        ("primary", ResourceKey::Primary),
        ("maxnr", ResourceKey::MaxNr),
        ("systemd-want", ResourceKey::SystemdWant),
        ("systemd-start-unit", ResourceKey::SystemdStartUnit),
        ("systemd-stop-unit", ResourceKey::SystemdStopUnit),
        ("systemd-trigger", ResourceKey::SystemdTrigger),
        (
            "systemd-new-thing",
            ResourceKey::Systemd("systemd-new-thing"),
        ),
        ("data-hostA", ResourceKey::Data(host("hostA"))),
        ("device-hostA", ResourceKey::Device(host("hostA"))),
        ("actsize-hostA", ResourceKey::ActSize(host("hostA"))),
        ("replay-hostA", ResourceKey::Replay(host("hostA"))),
        ("syncstatus-hostA", ResourceKey::SyncStatus(host("hostA"))),
        ("syncpos-hostA", ResourceKey::SyncPos(host("hostA"))),
        (
            "verifystatus-hostA",
            ResourceKey::VerifyStatus(host("hostA")),
        ),
        ("skip-check-hostA", ResourceKey::SkipCheck(host("hostA"))),
        ("syncfrom-hostA", ResourceKey::SyncFrom(host("hostA"))),
        ("connect-hostA", ResourceKey::Connect(host("hostA"))),
        (
            "version-000000042-hostB",
            ResourceKey::Version {
                nr: 42,
                host: host("hostB"),
            },
        ),
        (
            "version-1234567890-hostB",
            ResourceKey::Version {
                nr: 1_234_567_890,
                host: host("hostB"),
            },
        ),
        ("log-000000042-hostA", ResourceKey::Log(lr)),
        (
            "log-000000001-istore-test-bs7",
            ResourceKey::Log(LogName {
                nr: 1,
                origin: host("istore-test-bs7"),
            }),
        ),
        (
            "logstatus-hostA.status",
            ResourceKey::LogStatus(host("hostA")),
        ),
        (
            "todo-hostA",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: None,
            },
        ),
        (
            "todo-hostA/attach",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: Some(Switch::Attach),
            },
        ),
        (
            "todo-hostA/connect",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: Some(Switch::Connect),
            },
        ),
        (
            "todo-hostA/sync",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: Some(Switch::Sync),
            },
        ),
        (
            "todo-hostA/allow-replay",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: Some(Switch::AllowReplay),
            },
        ),
        (
            "todo-hostA/emergency-limit",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: Some(Switch::EmergencyLimit),
            },
        ),
        (
            "todo-hostA/future",
            ResourceKey::Todo {
                host: host("hostA"),
                switch: Some(Switch::Other("future")),
            },
        ),
        (
            "actual-hostA",
            ResourceKey::Actual {
                host: host("hostA"),
                indicator: None,
            },
        ),
        (
            "defaults",
            ResourceKey::Defaults {
                host: None,
                name: None,
            },
        ),
        (
            "defaults-hostA/x",
            ResourceKey::Defaults {
                host: Some(host("hostA")),
                name: Some("x"),
            },
        ),
        (
            "local-hostA",
            ResourceKey::Local {
                host: host("hostA"),
                name: None,
            },
        ),
        (
            "local-hostA/x",
            ResourceKey::Local {
                host: host("hostA"),
                name: Some("x"),
            },
        ),
        (
            "userspace/last-primary",
            ResourceKey::Userspace {
                name: Some("last-primary"),
            },
        ),
        ("userspace", ResourceKey::Userspace { name: None }),
        ("something-else", ResourceKey::Unknown("something-else")),
        (
            "nested/unknown/path",
            ResourceKey::Unknown("nested/unknown/path"),
        ),
        (
            "todo-hostA/attach/deeper",
            ResourceKey::Unknown("todo-hostA/attach/deeper"),
        ),
        ("size-but-longer", ResourceKey::Unknown("size-but-longer")),
    ];
    for (rest, key) in cases {
        key_case(&format!("resource-r0/{rest}"), r(*key));
    }
}

#[test]
fn resource_indicators() {
    let names = [
        ("is-attached", Indicator::IsAttached),
        ("is-primary", Indicator::IsPrimary),
        ("is-replaying", Indicator::IsReplaying),
        ("is-copying", Indicator::IsCopying),
        ("is-syncing", Indicator::IsSyncing),
        ("is-emergency", Indicator::IsEmergency),
        ("has-emergency", Indicator::HasEmergency),
        ("replay-code", Indicator::ReplayCode),
        ("disk-error", Indicator::DiskError),
        ("if-on", Indicator::IfOn),
        ("if-flying", Indicator::IfFlying),
        ("if-state", Indicator::IfState),
        ("if-completion-stamp", Indicator::IfCompletionStamp),
        ("open-count", Indicator::OpenCount),
        (
            "msg-err-splitbrain-detected",
            Indicator::Msg("err-splitbrain-detected"),
        ),
        ("ops-replay_rate", Indicator::Other("ops-replay_rate")),
    ];
    for (name, ind) in names {
        key_case(
            &format!("resource-r0/actual-hostB/{name}"),
            r(ResourceKey::Actual {
                host: host("hostB"),
                indicator: Some(ind),
            }),
        );
    }
}

#[test]
fn temporaries_and_markers_anywhere() {
    key_case(
        "resource-r0/.tmp.4711.replay-hostA",
        Key::Temporary {
            dir: "resource-r0",
            name: TempName::Marsadm {
                pid: 4711,
                target: "replay-hostA",
            },
        },
    );
    key_case(
        "resource-r0/.tmp-primary",
        Key::Temporary {
            dir: "resource-r0",
            name: TempName::Kernel { target: "primary" },
        },
    );
    key_case(
        ".tmp.1.uuid",
        Key::Temporary {
            dir: "",
            name: TempName::Marsadm {
                pid: 1,
                target: "uuid",
            },
        },
    );
    key_case(
        ".tmpfoo",
        Key::Temporary {
            dir: "",
            name: TempName::Other("foo"),
        },
    );
    key_case(
        ".tmp.x.y",
        Key::Temporary {
            dir: "",
            name: TempName::Other(".x.y"),
        },
    );
    key_case(
        ".tmp.01.y",
        Key::Temporary {
            dir: "",
            name: TempName::Other(".01.y"),
        },
    );
    key_case(
        "resource-r0/.deleted-primary",
        Key::DeletedMarker {
            dir: "resource-r0",
            target: "primary",
        },
    );
    // A temporary below a malformed resource name is still just a temporary.
    key_case(
        "resource-bad.name/.tmp-x",
        Key::Temporary {
            dir: "resource-bad.name",
            name: TempName::Kernel { target: "x" },
        },
    );
    assert!(Key::parse("resource-r0/.tmp-x").unwrap().is_transient());
    assert!(!Key::parse("uuid").unwrap().is_transient());
    assert_eq!(
        TempName::parse(".tmp.9.a").and_then(|t| t.target()),
        Some("a")
    );
    assert_eq!(TempName::parse("tmp"), None);
    for skipped in [".tmp-x", ".tmp.1.x", ".deleted-x", "ignore-me"] {
        assert!(is_skipped_name(skipped));
    }
    assert!(!is_skipped_name("replay-hostA"));
}

#[test]
fn unknown_keys_are_preserved() {
    for path in [
        "5.total.status",
        "backups-2024/ips-backup/ip-a",
        "ips/other",
        "ips/ip-a/b",
        "actual-hostA/x/y",
        "uuid/x",
        "todo-hostA",
    ] {
        key_case(path, Key::Unknown(path));
    }
}

#[test]
fn invalid_names_in_known_places_are_refused() {
    let cases: &[(&str, TreeError)] = &[
        ("ips/ip-", TreeError::BadName(NameError::Empty)),
        ("ips/ip-a.b", TreeError::BadName(NameError::BadChar)),
        ("actual-all", TreeError::BadName(NameError::Reserved)),
        ("defaults-(none)", TreeError::BadName(NameError::Reserved)),
        ("defaults-(x)", TreeError::BadName(NameError::BadChar)),
        ("resource-", TreeError::BadName(NameError::Empty)),
        (
            "resource-localhost/size",
            TreeError::BadName(NameError::Reserved),
        ),
        ("resource-r0/replay-", TreeError::BadName(NameError::Empty)),
        (
            "resource-r0/replay-a b",
            TreeError::BadName(NameError::BadChar),
        ),
        (
            "resource-r0/todo--x/attach",
            TreeError::BadName(NameError::LeadingDash),
        ),
        ("resource-r0/log-1-hostA", TreeError::BadLogName),
        ("resource-r0/log-0000000001-hostA", TreeError::BadLogName),
        ("resource-r0/log-000000001-", TreeError::BadLogName),
        ("resource-r0/log-00000000x-hostA", TreeError::BadLogName),
        ("resource-r0/log-4294967296-hostA", TreeError::BadLogName),
        ("resource-r0/log-2147483648-hostA", TreeError::BadLogName),
        ("resource-r0/version-000000001", TreeError::BadVersionName),
        ("resource-r0/version-00000001-h", TreeError::BadVersionName),
        (
            "resource-r0/logstatus-a.b.status",
            TreeError::BadName(NameError::BadChar),
        ),
        ("", TreeError::BadPath),
        ("/mars/uuid", TreeError::BadPath),
        ("resource-r0/", TreeError::BadPath),
        ("resource-r0//size", TreeError::BadPath),
        ("uu\0id", TreeError::BadPath),
    ];
    for (path, err) in cases {
        assert_eq!(Key::parse(path), Err(*err), "{path:?}");
        assert!(!err.message().is_empty());
    }
    assert_eq!(
        Key::parse("resource-r0/log-2147483647-h"),
        Ok(r(ResourceKey::Log(LogName {
            nr: 2_147_483_647,
            origin: host("h")
        })))
    );
}

#[test]
fn mars_root_and_remote_dirs() {
    assert_eq!(
        strip_mars_root("/mars/resource-r0/size"),
        Some("resource-r0/size")
    );
    assert_eq!(strip_mars_root("/mars"), Some(""));
    assert_eq!(strip_mars_root("/marsx/y"), None);
    for ok in [
        "resource-r0",
        "todo-global",
        "actual-hostA",
        "defaults",
        "defaults-hostA",
        "todo-hostA",
    ] {
        assert!(may_create_remote_dir(ok), "{ok}");
    }
    for no in [
        "ips",
        "userspace",
        "local-hostA",
        "probe-hostA",
        "cache-hostA",
        "backups-1",
    ] {
        assert!(!may_create_remote_dir(no), "{no}");
    }
}

fn value_case(path: &str, text: &str, expected: Value<'_>) {
    let key = Key::parse(path).unwrap();
    let value = Value::parse(&key, text).unwrap_or_else(|e| panic!("{path} -> {text:?}: {e}"));
    assert_eq!(value, expected, "{path} -> {text}");
    assert_eq!(value.to_string(), text, "round trip of {text}");
}

#[test]
fn value_forms() {
    let a = host("hostA");
    value_case(
        "resource-r0/replay-hostB",
        "log-000000001-istore-test-bs7,317023740,2564",
        Value::Replay(ReplayLink {
            log: LogName {
                nr: 1,
                origin: host("istore-test-bs7"),
            },
            min_pos: 317_023_740,
            dirty_len: 2564,
        }),
    );
    value_case(
        "resource-r0/syncpos-hostB",
        "log-000000003-hostA,0,0",
        Value::Replay(ReplayLink {
            log: LogName { nr: 3, origin: a },
            min_pos: 0,
            dirty_len: 0,
        }),
    );
    let zero = Md5Digest::ZERO;
    let v0 = VersionHead {
        digest: zero,
        log: LogName { nr: 0, origin: a },
        pos: 0,
    };
    let v1 = VersionHead {
        digest: zero,
        log: LogName { nr: 1, origin: a },
        pos: 0,
    };
    value_case(
        "resource-r0/version-000000000-hostA",
        "00000000000000000000000000000000,log-000000000-hostA,0:",
        Value::Version(VersionLink {
            head: v0,
            prev: None,
        }),
    );
    value_case(
        "resource-r0/version-000000001-hostA",
        "00000000000000000000000000000000,log-000000001-hostA,0:00000000000000000000000000000000,log-000000000-hostA,0",
        Value::Version(VersionLink { head: v1, prev: Some(v0) }),
    );
    let d = Md5Digest([0x0f, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef]);
    value_case(
        "resource-r0/version-000000002-hostB",
        "0fa1000000000000000000000000beef,log-000000002-hostA,4096:00000000000000000000000000000000,log-000000001-hostA,0",
        Value::Version(VersionLink { head: VersionHead { digest: d, log: LogName { nr: 2, origin: a }, pos: 4096 }, prev: Some(v1) }),
    );
    value_case(
        "resource-r0/size",
        "10737418240",
        Value::Number(10_737_418_240),
    );
    value_case("resource-r0/maxnr", "100001", Value::Number(100_001));
    value_case("resource-r0/actsize-hostA", "0", Value::Number(0));
    value_case(
        "resource-r0/syncstatus-hostA",
        "10737418240",
        Value::Number(10_737_418_240),
    );
    value_case(
        "resource-r0/primary",
        "(none)",
        Value::HostOrNone(HostOrNone::None),
    );
    value_case(
        "resource-r0/primary",
        "hostA",
        Value::HostOrNone(HostOrNone::Host(a)),
    );
    value_case(
        "resource-r0/systemd-want",
        "(none)",
        Value::HostOrNone(HostOrNone::None),
    );
    value_case("resource-r0/todo-hostA/attach", "1", Value::Switch(true));
    value_case(
        "resource-r0/todo-hostA/allow-replay",
        "0",
        Value::Switch(false),
    );
    value_case(
        "resource-r0/todo-hostA/emergency-limit",
        "85",
        Value::Percent(85),
    );
    value_case(
        "resource-r0/todo-hostA/emergency-limit",
        "0",
        Value::Percent(0),
    );
    value_case(
        "resource-r0/todo-hostA/emergency-limit",
        "100",
        Value::Percent(100),
    );
    value_case(
        "resource-r0/todo-hostA/new-switch",
        "whatever",
        Value::Text("whatever"),
    );
    value_case(
        "resource-r0/actual-hostA/is-primary",
        "1",
        Value::Switch(true),
    );
    value_case("resource-r0/actual-hostA/if-state", "3", Value::Text("3"));
    value_case(
        "resource-r0/actual-hostA/msg-err-splitbrain-detected",
        "OK",
        Value::Msg(Msg::Ok),
    );
    value_case(
        "resource-r0/actual-hostA/msg-inf-replay-not-yet-finished",
        "1700000000.000000001 1700000001.123456789 log replay is not yet finished: 'a' and 'b', really",
        Value::Msg(Msg::Text {
            system: Stamp::new(1_700_000_000, 1),
            lamport: Stamp::new(1_700_000_001, 123_456_789),
            text: "log replay is not yet finished: 'a' and 'b', really",
        }),
    );
    value_case(
        "actual-hostA/msg-needed-connection-with-hostB",
        "1.000000000 2.000000000 ",
        Value::Msg(Msg::Text {
            system: Stamp::new(1, 0),
            lamport: Stamp::new(2, 0),
            text: "",
        }),
    );
    value_case(
        "actual-hostA/time",
        "1700000000.000000042",
        Value::Stamp(Stamp::new(1_700_000_000, 42)),
    );
    value_case(
        "actual-hostB/read-stamp",
        "1.500000000",
        Value::Stamp(Stamp::new(1, 500_000_000)),
    );
    value_case("actual-hostA/alive", "1", Value::Switch(true));
    value_case("actual-hostA/tree", "0.1", Value::Text("0.1"));
    value_case(
        "resource-r0/verifystatus-hostB",
        "1000,3",
        Value::VerifyStatus(VerifyStatus {
            ok: 1000,
            errors: 3,
        }),
    );
    value_case(
        "resource-r0/skip-check-hostB",
        "100001",
        Value::SkipCheck(SkipCheck {
            nr: 100_001,
            msg: "",
        }),
    );
    value_case(
        "resource-r0/skip-check-hostB",
        "5 -- THIS IS EXTREMELY RISKY -- any inconsistencies are on your own!",
        Value::SkipCheck(SkipCheck {
            nr: 5,
            msg: " -- THIS IS EXTREMELY RISKY -- any inconsistencies are on your own!",
        }),
    );
    value_case(
        "ips/ip-hostA",
        "192.168.0.1",
        Value::Ip(IpAddress {
            octets: [192, 168, 0, 1],
            port: None,
        }),
    );
    value_case(
        "ips/ip-hostA",
        "10.0.0.2:7777",
        Value::Ip(IpAddress {
            octets: [10, 0, 0, 2],
            port: Some(7777),
        }),
    );
    value_case("uuid", "(any)", Value::Uuid(ClusterUuid::Any));
    value_case(
        "uuid",
        "host_with_underscores_1700000000.000000000",
        Value::Uuid(ClusterUuid::Created {
            host: "host_with_underscores",
            stamp: Stamp::new(1_700_000_000, 0),
        }),
    );
    value_case(
        "resource-r0/data-hostA",
        "/dev/vg/r0",
        Value::Text("/dev/vg/r0"),
    );
    value_case("resource-r0/device-hostA", "(none)", Value::Text("(none)"));
    value_case("userspace/anything", "free text", Value::Text("free text"));
    for path in [
        "resource-r0/replay-hostA",
        "resource-r0/log-000000001-hostA",
        "uuid",
        "ips/ip-hostA",
        "resource-r0/size",
    ] {
        value_case(path, DELETED, Value::Tombstone);
    }
    assert!(is_tombstone(".deleted"));
    assert_eq!(visible(".deleted"), "");
    assert_eq!(visible("x"), "x");
}

#[test]
fn lenient_numbers_format_canonically() {
    let key = Key::parse("resource-r0/todo-hostA/emergency-limit").unwrap();
    assert_eq!(Value::parse(&key, "050").unwrap().to_string(), "50");
    let key = Key::parse("uuid").unwrap();
    assert_eq!(
        Value::parse(&key, "h_12").unwrap().to_string(),
        "h_12.000000000"
    );
}

#[test]
fn malformed_values_are_refused() {
    let cases: &[(&str, &str, TreeError)] = &[
        (
            "resource-r0/replay-hostA",
            "log-000000001-hostA,1",
            TreeError::BadValue,
        ),
        (
            "resource-r0/replay-hostA",
            "log-000000001-hostA,1,2,3",
            TreeError::BadValue,
        ),
        (
            "resource-r0/replay-hostA",
            "log-000000001-hostA,-1,2",
            TreeError::BadNumber,
        ),
        (
            "resource-r0/replay-hostA",
            "log-000000001-hostA,99999999999999999999,2",
            TreeError::BadNumber,
        ),
        (
            "resource-r0/replay-hostA",
            "log-1-hostA,1,2",
            TreeError::BadLogName,
        ),
        ("resource-r0/replay-hostA", "", TreeError::BadValue),
        (
            "resource-r0/version-000000001-hostA",
            "00000000000000000000000000000000,log-000000001-hostA,0",
            TreeError::BadValue,
        ),
        (
            "resource-r0/version-000000001-hostA",
            "0000000000000000000000000000000,log-000000001-hostA,0:",
            TreeError::BadDigest,
        ),
        (
            "resource-r0/version-000000001-hostA",
            "0000000000000000000000000000000G,log-000000001-hostA,0:",
            TreeError::BadDigest,
        ),
        (
            "resource-r0/version-000000001-hostA",
            "0000000000000000000000000000000A,log-000000001-hostA,0:",
            TreeError::BadDigest,
        ),
        (
            "resource-r0/version-000000001-hostA",
            "00000000000000000000000000000000,log-000000001-hostA,0:junk",
            TreeError::BadValue,
        ),
        (
            "resource-r0/version-000000001-hostA",
            "00000000000000000000000000000000,log-000000001-hostA,0:a:b",
            TreeError::BadValue,
        ),
        ("resource-r0/todo-hostA/attach", "2", TreeError::BadValue),
        ("resource-r0/todo-hostA/attach", "", TreeError::BadValue),
        (
            "resource-r0/todo-hostA/emergency-limit",
            "101",
            TreeError::BadNumber,
        ),
        (
            "resource-r0/todo-hostA/emergency-limit",
            "-1",
            TreeError::BadNumber,
        ),
        (
            "resource-r0/primary",
            "",
            TreeError::BadName(NameError::Empty),
        ),
        (
            "resource-r0/primary",
            "none",
            TreeError::BadName(NameError::Reserved),
        ),
        ("resource-r0/size", "12k", TreeError::BadNumber),
        (
            "resource-r0/size",
            "18446744073709551616",
            TreeError::BadNumber,
        ),
        ("resource-r0/skip-check-hostA", "x5", TreeError::BadNumber),
        ("resource-r0/verifystatus-hostA", "1", TreeError::BadValue),
        (
            "resource-r0/actual-hostA/msg-x",
            "1.0 2.0",
            TreeError::BadValue,
        ),
        (
            "resource-r0/actual-hostA/msg-x",
            "1.x 2.0 text",
            TreeError::BadStamp,
        ),
        ("ips/ip-hostA", "256.0.0.1", TreeError::BadIp),
        ("ips/ip-hostA", "1.2.3", TreeError::BadIp),
        ("ips/ip-hostA", "1.2.3.4:70000", TreeError::BadIp),
        ("ips/ip-hostA", "0001.2.3.4", TreeError::BadIp),
        ("uuid", "nounderscore", TreeError::BadValue),
        ("uuid", "_123.0", TreeError::BadValue),
        ("actual-hostA/time", "yesterday", TreeError::BadStamp),
    ];
    for (path, text, err) in cases {
        let key = Key::parse(path).unwrap();
        assert_eq!(Value::parse(&key, text), Err(*err), "{path} -> {text:?}");
    }
}

// ---- property tests ------------------------------------------------------------------------

fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][-A-Za-z0-9_]{0,20}".prop_filter("reserved", |s| !mars_core::names::is_reserved(s))
}

fn nr_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..1000, 0u32..=(i32::MAX as u32)]
}

fn head_strategy() -> impl Strategy<Value = String> {
    (
        proptest::array::uniform16(any::<u8>()),
        nr_strategy(),
        name_strategy(),
        0i64..=i64::MAX,
    )
        .prop_map(|(d, nr, h, pos)| format!("{},log-{nr:09}-{h},{pos}", Md5Digest(d)))
}

fn canonical_key_strategy() -> impl Strategy<Value = String> {
    let host_keys = prop::sample::select(vec![
        "data-",
        "device-",
        "actsize-",
        "replay-",
        "syncstatus-",
        "syncpos-",
        "verifystatus-",
        "skip-check-",
        "syncfrom-",
        "connect-",
        "todo-",
        "actual-",
        "local-",
        "defaults-",
    ]);
    prop_oneof![
        (name_strategy(), host_keys, name_strategy())
            .prop_map(|(r, p, h)| format!("resource-{r}/{p}{h}")),
        (name_strategy(), nr_strategy(), name_strategy())
            .prop_map(|(r, n, h)| format!("resource-{r}/version-{n:09}-{h}")),
        (name_strategy(), nr_strategy(), name_strategy())
            .prop_map(|(r, n, h)| format!("resource-{r}/log-{n:09}-{h}")),
        (name_strategy(), name_strategy(), "[a-z-]{1,20}")
            .prop_map(|(r, h, s)| format!("resource-{r}/todo-{h}/{s}")),
        (name_strategy(), name_strategy(), "[a-z-]{1,20}")
            .prop_map(|(r, h, s)| format!("resource-{r}/actual-{h}/{s}")),
        (name_strategy(), "[a-z]{1,10}").prop_map(|(h, s)| format!("actual-{h}/{s}")),
        name_strategy().prop_map(|h| format!("ips/ip-{h}")),
        (name_strategy(), 0u32..100_000, "[a-z-]{1,10}")
            .prop_map(|(r, pid, n)| format!("resource-{r}/.tmp.{pid}.{n}")),
    ]
}

proptest! {
    #[test]
    fn keys_never_panic_and_reparse_to_the_same(path in "\\PC{0,80}") {
        if let Ok(key) = Key::parse(&path) {
            let text = key.to_string();
            prop_assert_eq!(Key::parse(&text), Ok(key));
        }
    }

    #[test]
    fn structured_garbage_never_panics(path in "[-a-z0-9./_:]{0,60}", value in "[-a-z0-9.,:_ ()]{0,80}") {
        if let Ok(key) = Key::parse(&path) {
            if let Ok(v) = Value::parse(&key, &value) {
                let text = v.to_string();
                prop_assert_eq!(Value::parse(&key, &text), Ok(v));
            }
        }
    }

    #[test]
    fn canonical_keys_round_trip(path in canonical_key_strategy()) {
        let key = Key::parse(&path);
        prop_assert!(key.is_ok(), "{:?}: {:?}", path, key);
        prop_assert_eq!(key.unwrap().to_string(), path);
    }

    #[test]
    fn version_links_round_trip(head in head_strategy(), prev in proptest::option::of(head_strategy())) {
        let text = format!("{head}:{}", prev.unwrap_or_default());
        let link = VersionLink::parse(&text);
        prop_assert!(link.is_ok(), "{:?}", link);
        prop_assert_eq!(link.unwrap().to_string(), text);
    }

    #[test]
    fn replay_links_round_trip(nr in nr_strategy(), h in name_strategy(), a in 0i64..=i64::MAX, b in 0i64..=i64::MAX) {
        let text = format!("log-{nr:09}-{h},{a},{b}");
        prop_assert_eq!(ReplayLink::parse(&text).unwrap().to_string(), text);
    }

    #[test]
    fn msgs_and_stamps_round_trip(s1 in (i64::MIN + 1)..=i64::MAX, n1 in 0u32..1_000_000_000, s2 in 0i64..i64::MAX, n2 in 0u32..1_000_000_000, text in "\\PC{0,40}") {
        let v = format!("{}.{n1:09} {s2}.{n2:09} {text}", s1);
        let parsed = Msg::parse(&v);
        prop_assert!(parsed.is_ok());
        prop_assert_eq!(parsed.unwrap().to_string(), v);
    }

    #[test]
    fn small_values_round_trip(n in any::<u64>(), ok in any::<u64>(), err in any::<u64>(), ip in any::<[u8; 4]>(), port in proptest::option::of(any::<u16>()), skip in 0u32..=(i32::MAX as u32), msg in "([^0-9]\\PC{0,20})?") {
        let key = Key::parse("resource-r0/size").unwrap();
        prop_assert_eq!(Value::parse(&key, &n.to_string()).unwrap().to_string(), n.to_string());
        let vs = format!("{ok},{err}");
        prop_assert_eq!(VerifyStatus::parse(&vs).unwrap().to_string(), vs);
        let addr = IpAddress { octets: ip, port };
        prop_assert_eq!(IpAddress::parse(&addr.to_string()), Ok(addr));
        let sc = format!("{skip}{msg}");
        prop_assert_eq!(SkipCheck::parse(&sc).unwrap().to_string(), sc);
    }
}
