// SPDX-License-Identifier: GPL-2.0
//! Test helpers: an MD5 digester from the `md-5` crate and a tiny model of the version and
//! replay links a cluster writes, so scenarios read like the operator's story.
#![allow(dead_code)]

use mars_core::digest::Digester;
use mars_core::names::HostName;
use mars_core::split_brain::HostHead;
use mars_core::version_chain::{initial_links, make_version_link, VersionEntry};
use md5::{Digest, Md5};

/// MD5 through the `md-5` crate.
pub struct TestMd5;

impl Digester for TestMd5 {
    fn md5(&self, data: &[u8]) -> Option<[u8; 16]> {
        Some(Md5::digest(data).into())
    }
}

/// Hex MD5 of a string, for hand-built expectations.
pub fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The version and replay links of one resource.
#[derive(Clone, Default)]
pub struct Cluster {
    pub versions: Vec<(String, u32, String)>,
    pub replays: Vec<(String, String)>,
}

impl Cluster {
    /// `create-resource` on `host`, first logfile `nr`.
    pub fn create(host: &str, nr: u32) -> Cluster {
        let mut c = Cluster::default();
        for (n, link) in initial_links(nr, HostName::parse(host).unwrap()).unwrap() {
            c.set_version(host, n, &link.to_string());
        }
        c.set_replay(host, &format!("log-{nr:09}-{host},0,0"));
        c
    }

    pub fn version(&self, host: &str, nr: u32) -> Option<&str> {
        self.versions
            .iter()
            .find(|(h, n, _)| h == host && *n == nr)
            .map(|(_, _, v)| v.as_str())
    }

    pub fn set_version(&mut self, host: &str, nr: u32, value: &str) {
        self.versions.retain(|(h, n, _)| !(h == host && *n == nr));
        self.versions
            .push((host.to_string(), nr, value.to_string()));
    }

    pub fn replay(&self, host: &str) -> Option<&str> {
        self.replays
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_replay(&mut self, host: &str, value: &str) {
        self.replays.retain(|(h, _)| h != host);
        self.replays.push((host.to_string(), value.to_string()));
    }

    /// `host` has logged (as primary) or replayed (as secondary) logfile `nr` of `origin` up
    /// to `pos`: it rewrites its version link for `nr` and its replay link, as the kernel does.
    pub fn advance(&mut self, host: &str, nr: u32, origin: &str, pos: i64) {
        let prev = self.version(host, nr - 1).unwrap_or("").to_string();
        let link =
            make_version_link(&TestMd5, nr, HostName::parse(origin).unwrap(), pos, &prev).unwrap();
        self.set_version(host, nr, &link.to_string());
        self.set_replay(host, &format!("log-{nr:09}-{origin},{pos},0"));
    }

    /// `join-resource` of `host` while `primary` is at logfile `nr` (`_set_replaylink`): copy
    /// the primary's version links for `nr` and `nr - 1`, start replay at the beginning of `nr`.
    pub fn join(&mut self, host: &str, primary: &str, nr: u32) {
        for n in [nr - 1, nr] {
            if let Some(v) = self.version(primary, n).map(str::to_string) {
                self.set_version(host, n, &v);
            }
        }
        self.set_replay(host, &format!("log-{nr:09}-{primary},0,0"));
    }

    pub fn entries(&self) -> Vec<VersionEntry<'_>> {
        self.versions
            .iter()
            .map(|(h, n, v)| VersionEntry {
                host: h,
                nr: *n,
                value: v,
            })
            .collect()
    }

    pub fn heads(&self) -> Vec<HostHead<'_>> {
        let mut heads: Vec<_> = self
            .replays
            .iter()
            .map(|(h, v)| HostHead { host: h, replay: v })
            .collect();
        heads.sort_by(|a, b| a.host.cmp(b.host));
        heads
    }

    pub fn head(&self, host: &str) -> HostHead<'_> {
        self.heads().into_iter().find(|h| h.host == host).unwrap()
    }

    /// One host's links as `(nr, value)`.
    pub fn chain_of(&self, host: &str) -> Vec<(u32, &str)> {
        self.versions
            .iter()
            .filter(|(h, _, _)| h == host)
            .map(|(_, n, v)| (*n, v.as_str()))
            .collect()
    }
}
