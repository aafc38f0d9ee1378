// SPDX-License-Identifier: GPL-2.0
//! `marsadm log-dump` tells an operator exactly where a logfile is damaged and how: a clean
//! logfile exits 0 and lists every record; each kind of damage exits 1 and names the first
//! defective byte offset and its class; a missing file or bad usage exits 2.

use mars_host::{pattern, LogBuilder};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("marsadm-log-dump-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn marsadm(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_marsadm"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Writes `bytes` as a logfile and dumps it as JSON.
fn dump(dir: &TempDir, name: &str, bytes: &[u8]) -> (i32, Value) {
    let path = dir.0.join(name);
    std::fs::write(&path, bytes).unwrap();
    let (code, out) = marsadm(&["log-dump", "--json", path.to_str().unwrap()]);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}")),
    )
}

/// Ten records of varying size, the 5th one LZ4-compressed.
fn logfile() -> LogBuilder {
    let mut log = LogBuilder::new();
    for i in 0..10u64 {
        if i == 4 {
            log.compress = true;
            log.options.compression = mars_core::digest::CrcFlags::LZ4;
            log.push(8 * 4096, &vec![0u8; 4096]).unwrap();
            log.compress = false;
        } else {
            log.push(i as i64 * 4096, &pattern(100 + 300 * i as usize, 7, i))
                .unwrap();
        }
    }
    log
}

fn first_defect(v: &Value) -> (u64, String) {
    let d = &v["summary"]["first_defect"];
    (
        d["offset"].as_u64().unwrap(),
        d["class"].as_str().unwrap().to_string(),
    )
}

#[test]
fn clean_logfile_lists_every_record() {
    let dir = TempDir::new("clean");
    let log = logfile();
    let (code, v) = dump(&dir, "log-000000001-a", &log.bytes);
    assert_eq!(code, 0);
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 10);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["offset"].as_u64().unwrap(), log.offsets[i] as u64);
        assert_eq!(r["seq"].as_u64().unwrap(), i as u64 + 1);
        assert_eq!(r["checksum"], "crc32c");
    }
    assert_eq!(records[4]["compression"], "lz4");
    assert_eq!(records[4]["len"], 4096);
    assert_eq!(v["summary"]["clean"], true);
    assert_eq!(
        v["summary"]["end_offset"].as_u64().unwrap(),
        log.bytes.len() as u64
    );
    assert!(v["summary"]["first_defect"].is_null());

    // The human form says the same.
    let path = dir.0.join("log-000000001-a");
    let (code, text) = marsadm(&["log-dump", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("10 records, 0 warnings, 0 defects"), "{text}");

    // An empty logfile is clean too.
    let (code, v) = dump(&dir, "empty", &[]);
    assert_eq!((code, v["summary"]["records"].as_u64()), (0, Some(0)));
}

#[test]
fn zeros_up_to_eof_are_a_zero_tail_not_a_defect() {
    // A logfile being written: the logger writes zeros ahead of its records.
    let dir = TempDir::new("zerotail");
    let log = logfile();
    let mut bytes = log.bytes.clone();
    bytes.resize(bytes.len() + (3 << 20) + 123, 0);
    let (code, v) = dump(&dir, "log-000000001-a", &bytes);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 10);
    assert_eq!(v["summary"]["clean"], true);
    assert_eq!(
        v["summary"]["end_offset"].as_u64().unwrap(),
        log.bytes.len() as u64
    );
    assert_eq!(v["summary"]["zero_tail"].as_u64().unwrap(), (3 << 20) + 123);
    let path = dir.0.join("log-000000001-a");
    let (code, text) = marsadm(&["log-dump", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("zero tail of 3145851 bytes"), "{text}");
    assert!(
        text.ends_with("10 records, 0 warnings, 0 defects\n"),
        "{text}"
    );
    // Zeros followed by data far beyond stay a defect.
    let last = bytes.len() - 1;
    bytes[last] = 1;
    let (code, v) = dump(&dir, "log-000000001-a", &bytes);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        first_defect(&v),
        (log.bytes.len() as u64, "zeroed".to_string())
    );
}

#[test]
fn a_torn_last_write_before_zeros_is_one_torn_tail_defect() {
    // A crash tore the last write: its first record is zero, a later one arrived, then the
    // zeros written ahead.
    let dir = TempDir::new("torn");
    let log = logfile();
    let mut bytes = log.bytes.clone();
    bytes[log.offsets[7]..log.offsets[8]].fill(0);
    bytes.resize(bytes.len() + (1 << 20), 0);
    let (code, v) = dump(&dir, "log-000000001-a", &bytes);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 7);
    assert_eq!(v["summary"]["defects"].as_u64(), Some(1));
    assert_eq!(
        first_defect(&v),
        (log.offsets[7] as u64, "torn-tail".to_string())
    );
}

#[test]
fn each_damage_is_located_and_classified() {
    let dir = TempDir::new("damage");
    let log = logfile();
    let off = |i: usize| log.offsets[i];
    type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let cases: Vec<(&str, Damage<'_>, usize, &str)> = vec![
        (
            "payload bit flip",
            Box::new(|b: &mut Vec<u8>| b[off(3) + 60] ^= 4),
            off(3),
            "checksum",
        ),
        (
            "truncated tail",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 30)),
            off(9),
            "truncated",
        ),
        (
            "zeroed block",
            Box::new(|b: &mut Vec<u8>| b[off(6)..off(6) + 512].fill(0)),
            off(6),
            "zeroed",
        ),
        (
            "repeated 0xff",
            Box::new(|b: &mut Vec<u8>| b[off(2)..off(2) + 64].fill(0xff)),
            off(2),
            "repeated",
        ),
        (
            "garbage before first",
            Box::new(|b: &mut Vec<u8>| b.splice(0..0, [1u8, 2, 3, 4, 5]).for_each(drop)),
            0,
            "hole",
        ),
        (
            "unfinished record",
            Box::new(|b: &mut Vec<u8>| b[off(5) + 9] = 0),
            off(5),
            "invalid",
        ),
        (
            "sequence gap",
            Box::new(|b: &mut Vec<u8>| {
                // Renumber the 8th record (seq 8 -> 12) in its trailer, which ends where
                // the 9th record starts.
                let trailer = off(8) - 36;
                b[trailer + 16..trailer + 20].copy_from_slice(&12u32.to_le_bytes());
            }),
            off(7),
            "seq-gap",
        ),
        (
            "bad length",
            Box::new(|b: &mut Vec<u8>| {
                b[off(1) + 10..off(1) + 12].copy_from_slice(&(-3i16).to_le_bytes())
            }),
            off(1),
            "bad-length",
        ),
        (
            "end magic",
            Box::new(|b: &mut Vec<u8>| b[off(2) - 36 + 3] ^= 0x40),
            off(1),
            "bad-end-magic",
        ),
        // A literal run longer than the input: LZ4 must refuse it.
        (
            "compressed bytes",
            Box::new(|b: &mut Vec<u8>| b[off(4) + 48..off(4) + 50].fill(0xff)),
            off(4),
            "decompress",
        ),
    ];
    for (what, damage, offset, class) in cases {
        let mut bytes = log.bytes.clone();
        damage(&mut bytes);
        let (code, v) = dump(&dir, "damaged", &bytes);
        assert_eq!(code, 1, "{what}: {v}");
        assert_eq!(
            first_defect(&v),
            (offset as u64, class.to_string()),
            "{what}: {v}"
        );
        assert_eq!(v["summary"]["clean"], false);
    }
}

#[test]
fn dump_resynchronises_after_garbage() {
    let dir = TempDir::new("resync");
    let log = logfile();
    let mut bytes = log.bytes[..log.offsets[3]].to_vec();
    bytes.extend(vec![0xa5u8; 1000]);
    let garbage_end = bytes.len();
    bytes.extend(&log.bytes[log.offsets[3]..]);
    let (code, v) = dump(&dir, "resync", &bytes);
    assert_eq!(code, 1);
    assert_eq!(
        first_defect(&v),
        (log.offsets[3] as u64, "repeated".to_string())
    );
    assert_eq!(
        v["defects"][0]["resume"].as_u64().unwrap(),
        garbage_end as u64
    );
    // All ten records are still found, the later ones shifted by the garbage.
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 10);
    assert_eq!(records[3]["offset"].as_u64().unwrap(), garbage_end as u64);
    assert_eq!(v["summary"]["defects"], 1);
}

#[test]
fn large_logfile_streams_through_windows() {
    // More than one read window (1 MiB), with a defect far from the start.
    let dir = TempDir::new("large");
    let mut log = LogBuilder::new();
    for i in 0..700u64 {
        log.push(i as i64 * 4096, &pattern(4096, 3, i)).unwrap();
    }
    let victim = log.offsets[600];
    let mut bytes = log.bytes.clone();
    bytes[victim + 100] ^= 1;
    let (code, v) = dump(&dir, "large", &bytes);
    assert_eq!(code, 1);
    assert_eq!(first_defect(&v), (victim as u64, "checksum".to_string()));
    assert_eq!(v["records"].as_array().unwrap().len(), 699);
    assert_eq!(
        v["summary"]["end_offset"].as_u64().unwrap(),
        bytes.len() as u64
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(marsadm(&["log-dump", "/nonexistent/log-000000001-x"]).0, 2);
    assert_eq!(marsadm(&["log-dump"]).0, 2);
    assert_eq!(marsadm(&["log-dump", "--frobnicate", "x"]).0, 2);
}
