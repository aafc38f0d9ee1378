// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: the merge rules (`core/src/merge_rules.rs`) applied to a model `/mars` with
//! symlinks (`core/tests/merge_model`), as a hostile member's listing would drive them.
//!
//! Promises checked after every entry: no panic; nothing outside `/mars` changes (even with
//! the old resolver that follows symlinks in every directory component); no symlink stands at
//! a key the layout has as a directory; this host's (`alpha`) keys never change from a peer,
//! except tombstones of its version links; another host's keys change only from that host,
//! except version-link tombstones and a new `ips/ip-<host>`.
//!
//! Input layout: lines `K P S path value`: K selects the kind (symlink, dir, file; by its
//! byte modulo 3), P the peer (`bravo`, `charlie`, `delta`), S the stamp (its byte), then the
//! path below `/mars` and the value, separated by single spaces. Byte 0 of the input selects
//! the resolver (even: confined, odd: following).
#![no_main]

#[path = "../../core/tests/merge_model/mod.rs"]
mod merge_model;

use libfuzzer_sys::fuzz_target;
use mars_core::lamport::Stamp;
use mars_core::merge_rules::{EntryKind, Received};
use merge_model::{apply_checked, Fs, Resolver};

const ME: &str = "alpha";
const PEERS: [&str; 3] = ["bravo", "charlie", "delta"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let resolver = match data.first() {
        Some(b) if b % 2 == 1 => Resolver::Following,
        _ => Resolver::Confined,
    };
    let mut fs = Fs::standard(ME);
    let outside = fs.outside();
    for line in text.lines().take(64) {
        let mut fields = line.splitn(5, ' ');
        let (Some(k), Some(p), Some(s), Some(path), value) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next().unwrap_or(""),
        ) else {
            continue;
        };
        let byte = |f: &str| f.bytes().next().map_or(0, usize::from);
        let kind = [EntryKind::Symlink, EntryKind::Dir, EntryKind::File][byte(k) % 3];
        let peer = PEERS[byte(p) % PEERS.len()];
        let entry = Received {
            kind,
            path,
            value,
            stamp: Stamp::new(i64::try_from(byte(s)).unwrap_or(0), 0),
        };
        if let Err(broken) = apply_checked(&mut fs, ME, peer, &entry, resolver, &outside) {
            panic!("{broken}");
        }
    }
});
