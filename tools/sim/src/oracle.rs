// SPDX-License-Identifier: GPL-2.0
//! The ground truth the invariants are checked against: every logfile any primary wrote, with
//! the records that became durable in it and the point of history it continues (its parent),
//! and every write acknowledged to the application.
//!
//! The history of a point `(logfile, pos)` is the history of the logfile's parent followed by
//! the durable records of the logfile that end at or before `pos`. A host's data disk must
//! always equal the image of the history at its replay link: that is "a prefix of the
//! primary's write history, in log order", and with forced failovers "a prefix of one branch".

use std::collections::BTreeMap;

/// A logfile: number and origin host (index).
pub type LogId = (u32, usize);

/// One log record, abstracted: where it lies in the logfile, and which write it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rec {
    /// Start in the logfile.
    pub start: u64,
    /// Length in the logfile (header and trailer included).
    pub len: u64,
    /// The data block written.
    pub block: usize,
    /// The write's unique id (its data).
    pub write: u64,
}

impl Rec {
    /// End in the logfile.
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// A logfile in the ground truth.
#[derive(Clone, Debug, Default)]
pub struct TrueLog {
    /// The point of history it continues (`None` for the first logfile).
    pub parent: Option<(LogId, u64)>,
    /// Its records that became durable at the origin, in order.
    pub recs: Vec<Rec>,
    /// Whether a forced failover started it.
    pub forced: bool,
}

/// An acknowledged write.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    /// The logfile it was logged in.
    pub log: LogId,
    /// The end of its record.
    pub end: u64,
    /// Its id.
    pub write: u64,
}

/// What happened for real.
#[derive(Debug, Default)]
pub struct Oracle {
    /// Every logfile ever started.
    pub logs: BTreeMap<LogId, TrueLog>,
    /// Every acknowledged write.
    pub acked: Vec<Ack>,
    /// Whether a forced failover was ever requested: then histories may fork and acknowledged
    /// writes of the abandoned branch may be lost, by the operator's choice.
    pub forced: bool,
    /// Per host: the last point checked and the image there (a cache; history only grows).
    cache: BTreeMap<usize, ((LogId, u64), Vec<u64>)>,
}

impl Oracle {
    /// Whether `(log, end)` (a record ending there) lies in the history of `at`.
    pub fn in_history(&self, log: LogId, end: u64, at: (LogId, u64)) -> bool {
        let mut cur = Some(at);
        let mut guard = 0;
        while let Some((id, pos)) = cur {
            if id == log {
                return end <= pos;
            }
            cur = self.logs.get(&id).and_then(|l| l.parent);
            guard += 1;
            if guard > 100_000 {
                break;
            }
        }
        false
    }

    fn apply_range(&self, image: &mut [u64], id: LogId, from: u64, to: u64) -> Result<(), String> {
        let log = self
            .logs
            .get(&id)
            .ok_or_else(|| format!("history names unknown logfile {id:?}"))?;
        let first = log.recs.partition_point(|r| r.start < from);
        for r in &log.recs[first..] {
            if r.end() > to {
                break;
            }
            image[r.block] = r.write;
        }
        Ok(())
    }

    /// The data image of the history at `at`, for host `host` (cached per host).
    pub fn image(
        &mut self,
        host: usize,
        at: (LogId, u64),
        blocks: usize,
    ) -> Result<Vec<u64>, String> {
        if let Some((cached_at, image)) = self.cache.get(&host) {
            if *cached_at == at {
                return Ok(image.clone());
            }
            if cached_at.0 == at.0 && cached_at.1 <= at.1 {
                let mut image = image.clone();
                self.apply_range(&mut image, at.0, cached_at.1, at.1)?;
                self.cache.insert(host, (at, image.clone()));
                return Ok(image);
            }
        }
        let mut chain = vec![at];
        let mut cur = at.0;
        while let Some((parent, pos)) = self.logs.get(&cur).and_then(|l| l.parent) {
            if chain.len() > 100_000 {
                return Err("history loops".into());
            }
            chain.push((parent, pos));
            cur = parent;
        }
        let mut image = vec![0u64; blocks];
        for (id, pos) in chain.iter().rev() {
            self.apply_range(&mut image, *id, 0, *pos)?;
        }
        self.cache.insert(host, (at, image.clone()));
        Ok(image)
    }
}
