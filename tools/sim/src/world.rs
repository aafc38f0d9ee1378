// SPDX-License-Identifier: GPL-2.0
//! The simulated cluster: hosts with a data disk, a `/mars` tree and logfiles, a faulty
//! network between them, and the shell that feeds each host's facts to `mars_core::replica`
//! and carries out its decisions. One call of [`World::step`] is one tick of virtual time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::rc::Rc;

use mars_core::lamport::{LamportClock, Stamp};
use mars_core::logger::version_link;
use mars_core::merge::{bogus_after, merge, MergeDecision, Stamped};
use mars_core::names::HostName;
use mars_core::replica::{
    check_handover, fetch_step, release_step, replay_step, takeover_step, FetchDecision,
    FetchFacts, LogFacts, PeerFacts, PrimaryAck, PrimaryFacts, ReleaseDecision, ReplayDecision,
    ReplayFacts, TakeoverDecision, TakeoverFacts,
};
use mars_core::tree::LogName;
use mars_core::tree_value::ReplayLink;
use mars_core::version_chain::VersionSource;
use mars_host::HostDigester;

use crate::oracle::{Ack, LogId, Oracle, Rec, TrueLog};
use crate::rng::Rng;
use crate::{Config, Mutation};

/// Blocks of the data disk.
pub const BLOCKS: usize = 64;
/// Most bytes one fetch asks for: a random size up to this (small ones cut records).
const FETCH_CHUNK: u64 = 65536;
/// A peer counts as reachable when heard from within this many ticks.
const REACHABLE_TICKS: u64 = 40;
/// After a (re)start, a designated primary waits this long to hear from every peer.
const START_GRACE: u64 = 100;

type Key = Rc<str>;

/// A logfile as one host has it.
#[derive(Clone, Debug, Default)]
pub struct LogFile {
    /// Records present (the last one possibly only in part).
    pub recs: Vec<Rec>,
    /// Bytes present.
    pub size: u64,
    /// Bytes that survive a crash.
    pub durable: u64,
}

impl LogFile {
    fn truncate_to_durable(&mut self) {
        self.size = self.durable;
        let d = self.durable;
        self.recs.retain(|r| r.start < d);
    }
}

/// One host.
#[derive(Debug)]
pub struct Host {
    /// Whether it runs.
    pub up: bool,
    // Persistent state.
    /// The `/mars` tree as this host sees it: key -> (value, Lamport stamp).
    pub links: BTreeMap<Key, (Key, Stamp)>,
    /// Logfiles present.
    pub logs: BTreeMap<LogId, LogFile>,
    /// The data disk: per block the id of the write it holds (0: never written).
    pub disk: Vec<u64>,
    /// The replay link: logfile and position (persisted as `replay-<me>`).
    pub replay: (LogId, u64),
    /// The Lamport clock (the kernel rebuilds it from the tree's stamps after a reboot).
    pub clock: LamportClock,
    /// Real-time clock offset in nanoseconds.
    pub skew: i64,
    // Volatile state.
    /// The logfile the logger appends to, when logging.
    pub logging: Option<LogId>,
    /// Whether the application has the device open.
    pub device_open: bool,
    /// Writes appended but not yet acknowledged (end of record, write id).
    pub pending: Vec<(u64, u64)>,
    /// Durable end per logfile as its origin reported it.
    pub remote_durable: BTreeMap<LogId, u64>,
    /// Last tick a message from each peer arrived.
    pub heard: BTreeMap<usize, u64>,
    /// A forced takeover was requested here and has not started yet.
    pub force_pending: bool,
    /// A rotation was requested.
    pub rotate_requested: bool,
    /// The last reason this host gave for not progressing (for the trace).
    pub last_wait: String,
    /// The tick it (re)started.
    pub started_at: u64,
}

/// A message in flight.
#[derive(Debug)]
struct Msg {
    from: usize,
    to: usize,
    at: u64,
    body: Body,
}

#[derive(Clone, Debug)]
enum Body {
    /// A part of the sender's tree (its own links and the `primary` link) and the durable end
    /// of its own logfiles.
    Tree {
        links: Vec<(Key, Key, Stamp)>,
        sizes: Vec<(LogId, u64)>,
        stamp: Stamp,
    },
    /// Asks for `[from, to)` of a logfile.
    FetchReq { log: LogId, from: u64, to: u64 },
    /// The bytes `[from, to)` of a logfile, as records.
    FetchReply {
        log: LogId,
        from: u64,
        to: u64,
        recs: Vec<Rec>,
    },
}

/// Counters for the report.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Writes acknowledged.
    pub acked: u64,
    /// Handovers the pre-check accepted.
    pub handovers: u64,
    /// Handovers refused, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Logfiles started (takeovers, rotations, restarts).
    pub logs_started: u64,
    /// Forced failovers.
    pub forced: u64,
    /// Forced takeovers that forked the history (a logfile number used twice).
    pub forks: u64,
    /// Rounds in which a host refused to fetch or replay because of split brain.
    pub split_brain_refusals: u64,
    /// Host crashes.
    pub crashes: u64,
    /// Messages sent, lost.
    pub sent: u64,
    /// Messages lost.
    pub lost: u64,
    /// Records replayed on secondaries.
    pub replayed: u64,
}

/// The whole simulated cluster.
pub struct World {
    /// Host names.
    pub names: Vec<String>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Ground truth.
    pub oracle: Oracle,
    /// Counters.
    pub stats: Stats,
    /// The last events, for a failure report.
    pub trace: VecDeque<String>,
    /// Current tick.
    pub now: u64,
    /// Whether the run is settling (no faults, no writes) to check liveness.
    pub settling: bool,
    cfg: Config,
    rng: Rng,
    net: Vec<Msg>,
    /// Pairs of hosts that cannot talk (stored both ways).
    cut: BTreeSet<(usize, usize)>,
    next_write: u64,
    /// Payload sizes of log records (header and trailer of 84 bytes added).
    payloads: [u64; 3],
}

/// The view of one host's tree that `mars_core` reads version links from.
struct TreeView<'a>(&'a BTreeMap<Key, (Key, Stamp)>);

impl<'a> VersionSource<'a> for TreeView<'a> {
    fn version(&self, nr: u32, host: &str) -> Option<&'a str> {
        self.0
            .get(version_key(nr, host).as_str())
            .map(|(v, _)| &**v)
    }
}

fn version_key(nr: u32, host: &str) -> String {
    format!("version-{nr:09}-{host}")
}

fn ack_key(host: &str) -> String {
    format!("primary-ack-{host}")
}

/// Failure of an invariant: its name and what was seen.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// Details.
    pub detail: String,
}

fn violation(invariant: &'static str, detail: String) -> Violation {
    Violation { invariant, detail }
}

/// Owned form of the decisions, taken out of the borrowed facts.
enum Replay {
    Apply { from: u64, to: u64 },
    WriteVersion(u64),
    Switch(LogId),
    Stop(String),
}

impl World {
    /// A cluster of `cfg.hosts` hosts; host 0 is primary of logfile 1.
    pub fn new(cfg: Config) -> World {
        let mut rng = Rng::new(cfg.seed);
        let n = cfg.hosts.clamp(2, 4);
        let names: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
        let first: LogId = (1, 0);
        let primary_stamp = Stamp::new(1, 0);
        let mut hosts = Vec::new();
        for i in 0..n {
            let skew = rng.below(1_000_000_000) as i64 - 500_000_000;
            let mut links = BTreeMap::new();
            links.insert(
                Key::from("primary"),
                (Key::from(names[0].as_str()), primary_stamp),
            );
            let mut logs = BTreeMap::new();
            if i == 0 {
                logs.insert(first, LogFile::default());
            }
            hosts.push(Host {
                up: true,
                links,
                logs,
                disk: vec![0; BLOCKS],
                replay: (first, 0),
                clock: LamportClock::resume(
                    primary_stamp,
                    mars_core::lamport::DEFAULT_MAX_FUTURE_SEC,
                ),
                skew,
                logging: (i == 0).then_some(first),
                device_open: i == 0,
                pending: Vec::new(),
                remote_durable: BTreeMap::new(),
                heard: BTreeMap::new(),
                force_pending: false,
                rotate_requested: false,
                last_wait: String::new(),
                started_at: 0,
            });
        }
        let mut oracle = Oracle::default();
        oracle.logs.insert(first, TrueLog::default());
        let mut w = World {
            names,
            hosts,
            oracle,
            stats: Stats::default(),
            trace: VecDeque::new(),
            now: 0,
            settling: false,
            cfg,
            rng,
            net: Vec::new(),
            cut: BTreeSet::new(),
            next_write: 1,
            payloads: [512, 1024, 4096],
        };
        for i in 0..n {
            w.write_replay_link(i);
            w.write_ack(i);
        }
        w.write_own_version(0, first, 0);
        w
    }

    fn log(&mut self, text: String) {
        if self.trace.len() >= 400 {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("[{:6}] {text}", self.now));
    }

    fn real(&self, h: usize) -> Stamp {
        Stamp::from_nanos(1_000_000_000 + self.now as i64 * 1_000_000 + self.hosts[h].skew)
    }

    /// Writes a link of host `h` with a fresh Lamport stamp.
    fn set_link(&mut self, h: usize, key: &str, value: &str) {
        let real = self.real(h);
        let host = &mut self.hosts[h];
        let stamp = host.clock.tick(real);
        host.links.insert(Key::from(key), (Key::from(value), stamp));
    }

    fn link(&self, h: usize, key: &str) -> Option<(&str, Stamp)> {
        self.hosts[h].links.get(key).map(|(v, s)| (&**v, *s))
    }

    fn log_name(&self, id: LogId) -> LogName<'_> {
        LogName {
            nr: id.0,
            origin: HostName::parse(&self.names[id.1]).expect("host names are valid"),
        }
    }

    fn log_text(&self, id: LogId) -> String {
        self.log_name(id).to_string()
    }

    fn write_replay_link(&mut self, h: usize) {
        let (id, pos) = self.hosts[h].replay;
        let value = ReplayLink {
            log: self.log_name(id),
            min_pos: pos as i64,
            dirty_len: 0,
        }
        .to_string();
        let key = format!("replay-{}", self.names[h]);
        self.set_link(h, &key, &value);
    }

    /// `primary-ack-<me>`: `<logging 0|1>,<designated>,<stamp of the primary link>`.
    fn write_ack(&mut self, h: usize) {
        let (designated, stamp) = match self.link(h, "primary") {
            Some((v, s)) => (v.to_string(), s),
            None => ("(none)".to_string(), Stamp::ZERO),
        };
        let logging = u8::from(self.hosts[h].logging.is_some());
        let value = format!("{logging},{designated},{stamp}");
        let key = ack_key(&self.names[h]);
        if self.link(h, &key).map(|(v, _)| v) != Some(value.as_str()) {
            self.set_link(h, &key, &value);
        }
    }

    /// Writes `version-<nr>-<me>` for logfile `id` at `pos`, chained to the own link for nr-1.
    fn write_own_version(&mut self, h: usize, id: LogId, pos: u64) {
        let me = self.names[h].clone();
        let prev = self
            .link(h, &version_key(id.0.saturating_sub(1), &me))
            .map(|(v, _)| v.to_string())
            .unwrap_or_default();
        let value = match version_link(&HostDigester, self.log_name(id), pos, &prev) {
            Ok(v) => v.to_string(),
            Err(e) => {
                self.log(format!("{me}: cannot compute version link: {e}"));
                return;
            }
        };
        self.set_link(h, &version_key(id.0, &me), &value);
    }

    fn designated(&self, h: usize) -> Option<(String, Stamp)> {
        self.link(h, "primary").map(|(v, s)| (v.to_string(), s))
    }

    fn is_designated(&self, h: usize) -> bool {
        self.designated(h).is_some_and(|(v, _)| v == self.names[h])
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.hosts[a].up && self.hosts[b].up && !self.cut.contains(&(a, b))
    }

    fn send(&mut self, from: usize, to: usize, body: Body) {
        self.stats.sent += 1;
        if !self.settling && self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let delay = 1 + self.rng.below(self.cfg.max_delay.max(1));
        if !self.settling && self.rng.chance(self.cfg.duplicate) {
            let again = 1 + self.rng.below(self.cfg.max_delay.max(1) * 2);
            self.net.push(Msg {
                from,
                to,
                at: self.now + again,
                body: body.clone(),
            });
        }
        self.net.push(Msg {
            from,
            to,
            at: self.now + delay,
            body,
        });
    }

    /// The tree message host `h` sends: its own links, the `primary` link, and the durable
    /// end of its own logfiles. Version links only near its replay position.
    fn tree_message(&self, h: usize) -> Body {
        let me = &self.names[h];
        let suffix = format!("-{me}");
        // Version links from the oldest logfile any host (as far as known) still replays on.
        let floor = self.hosts[h]
            .links
            .iter()
            .filter(|(k, _)| k.starts_with("replay-"))
            .filter_map(|(_, (v, _))| ReplayLink::parse(v).ok().map(|r| r.log.nr))
            .chain(std::iter::once(self.hosts[h].replay.0 .0))
            .min()
            .unwrap_or(0)
            .saturating_sub(2);
        let links = self.hosts[h]
            .links
            .iter()
            .filter(|(k, _)| {
                if &***k == "primary" {
                    return true;
                }
                if !k.ends_with(&suffix) {
                    return false;
                }
                match k
                    .strip_prefix("version-")
                    .and_then(|r| r.get(..9))
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    Some(nr) => nr >= floor,
                    None => true,
                }
            })
            .map(|(k, (v, s))| (k.clone(), v.clone(), *s))
            .collect();
        let sizes = self.hosts[h]
            .logs
            .iter()
            .filter(|(id, _)| id.1 == h)
            .map(|(id, l)| {
                let reported = if self.cfg.mutation == Mutation::FetchBeyondDurable {
                    l.size
                } else {
                    l.durable
                };
                (*id, reported)
            })
            .collect();
        Body::Tree {
            links,
            sizes,
            stamp: self.hosts[h].clock.last(),
        }
    }

    fn broadcast_tree(&mut self, h: usize) {
        for to in 0..self.hosts.len() {
            if to != h {
                let body = self.tree_message(h);
                self.send(h, to, body);
            }
        }
    }

    fn receive(&mut self, msg: Msg) {
        let h = msg.to;
        self.hosts[h].heard.insert(msg.from, self.now);
        match msg.body {
            Body::Tree {
                links,
                sizes,
                stamp,
            } => {
                let real = self.real(h);
                let host = &mut self.hosts[h];
                host.clock.advance(stamp);
                let limit = bogus_after(host.clock.read(real), host.clock.max_future_sec());
                for (k, v, s) in links {
                    let local = host.links.get(&k).map(|(lv, ls)| Stamped {
                        value: lv,
                        stamp: *ls,
                    });
                    match merge(
                        local,
                        Stamped {
                            value: &v,
                            stamp: s,
                        },
                        limit,
                    ) {
                        MergeDecision::Create | MergeDecision::Replace | MergeDecision::Delete => {
                            host.clock.advance(s);
                            host.links.insert(k, (v, s));
                        }
                        MergeDecision::Keep(_) => {}
                    }
                }
                for (id, size) in sizes {
                    let e = host.remote_durable.entry(id).or_insert(0);
                    *e = (*e).max(size);
                }
            }
            Body::FetchReq { log, from, to } => {
                // The server serves what the file has (the fetcher keeps to the durable end).
                let Some(file) = self.hosts[h].logs.get(&log) else {
                    return;
                };
                let to = to.min(file.size);
                if from >= to {
                    return;
                }
                let recs = file
                    .recs
                    .iter()
                    .filter(|r| r.end() > from && r.start < to)
                    .copied()
                    .collect();
                self.send(
                    h,
                    msg.from,
                    Body::FetchReply {
                        log,
                        from,
                        to,
                        recs,
                    },
                );
            }
            Body::FetchReply {
                log,
                from,
                to,
                recs,
            } => {
                if log.1 == h {
                    return;
                }
                let file = self.hosts[h].logs.entry(log).or_default();
                if file.size != from {
                    return;
                }
                for r in recs {
                    if r.start >= from {
                        file.recs.push(r);
                    }
                }
                // Fetched data is in the page cache until the next sync (see `sync_fetched`).
                file.size = to;
            }
        }
    }

    /// The logfiles host `h` knows of, as `mars_core` facts.
    fn log_facts(&self, h: usize) -> Vec<LogFacts<'_>> {
        let host = &self.hosts[h];
        let ids: BTreeSet<LogId> = host
            .logs
            .keys()
            .chain(host.remote_durable.keys())
            .copied()
            .collect();
        ids.into_iter()
            .map(|id| {
                let local = host.logs.get(&id);
                let origin_durable = if id.1 == h {
                    local.map(|l| l.durable)
                } else {
                    host.remote_durable.get(&id).copied()
                };
                let mut local_size = local.map_or(0, |l| l.size);
                if self.cfg.mutation == Mutation::ReplayBeyondFetched && id.1 != h {
                    local_size = local_size.max(origin_durable.unwrap_or(0));
                }
                LogFacts {
                    log: self.log_name(id),
                    origin_durable,
                    local_size,
                }
            })
            .collect()
    }

    fn id_of(&self, log: LogName<'_>) -> LogId {
        (
            log.nr,
            self.names
                .iter()
                .position(|n| n == log.origin.as_str())
                .expect("known host"),
        )
    }

    /// One round of host `h`'s strategy.
    fn round(&mut self, h: usize) -> Result<(), Violation> {
        if self.hosts[h].logging.is_some() {
            self.primary_round(h)?;
        }
        if self.hosts[h].logging.is_none() {
            self.write_ack(h);
            self.fetch_round(h);
            self.replay_round(h);
            if self.is_designated(h) {
                self.takeover_round(h)?;
            }
        }
        Ok(())
    }

    fn primary_round(&mut self, h: usize) -> Result<(), Violation> {
        let id = self.hosts[h].logging.expect("logging");
        let facts = {
            let host = &self.hosts[h];
            let file = &host.logs[&id];
            PrimaryFacts {
                designated: self.is_designated(h),
                device_open: host.device_open,
                appended: file.size,
                durable: file.durable,
                written_back: host.replay.1,
            }
        };
        match release_step(&facts) {
            ReleaseDecision::Stay => {
                if self.rng.chance(0.5) {
                    self.flush(h);
                }
                if self.rng.chance(0.5) {
                    self.writeback(h);
                }
                if !self.hosts[h].device_open && !self.settling && self.rng.chance(0.05) {
                    self.hosts[h].device_open = true;
                }
                let (size, durable) = (
                    self.hosts[h].logs[&id].size,
                    self.hosts[h].logs[&id].durable,
                );
                if self.hosts[h].rotate_requested
                    && durable == size
                    && self.hosts[h].replay.1 == durable
                {
                    self.hosts[h].rotate_requested = false;
                    self.write_own_version(h, id, durable);
                    let after = (id, durable);
                    self.start_log(h, (id.0 + 1, h), after, false)?;
                }
            }
            ReleaseDecision::Flush => self.flush(h),
            ReleaseDecision::Wait(mars_core::replica::ReleaseWait::DeviceInUse)
                if self.settling =>
            {
                // The operator reads the reason and unmounts.
                self.hosts[h].device_open = false;
                let name = self.names[h].clone();
                self.log(format!(
                    "{name}: operator unmounts the device (release waits for it)"
                ));
            }
            ReleaseDecision::Wait(why) => {
                if matches!(why, mars_core::replica::ReleaseWait::Writeback) {
                    self.writeback(h);
                }
                self.hosts[h].last_wait = format!("release: {why:?}");
            }
            ReleaseDecision::Release { final_pos } => {
                self.write_own_version(h, id, final_pos);
                self.hosts[h].logging = None;
                self.hosts[h].device_open = false;
                self.write_ack(h);
                let name = self.names[h].clone();
                let text = self.log_text(id);
                self.log(format!("{name}: released {text} at {final_pos}"));
            }
        }
        Ok(())
    }

    /// Makes the current logfile durable, writes its version link, acknowledges the writes.
    fn flush(&mut self, h: usize) {
        let Some(id) = self.hosts[h].logging else {
            return;
        };
        let file = self.hosts[h].logs.get_mut(&id).expect("logging file");
        if file.durable == file.size {
            return;
        }
        let old = file.durable;
        file.durable = file.size;
        let durable = file.durable;
        let new_recs: Vec<Rec> = file
            .recs
            .iter()
            .filter(|r| r.start >= old && r.end() <= durable)
            .copied()
            .collect();
        self.oracle
            .logs
            .entry(id)
            .or_default()
            .recs
            .extend(new_recs);
        // The kernel reports positions at intervals: the version link may lag behind the
        // durable end (it is brought up to date at rotation and release).
        if self.settling || self.rng.chance(0.5) {
            self.write_own_version(h, id, durable);
        }
        let pending = std::mem::take(&mut self.hosts[h].pending);
        for (end, write) in pending {
            self.oracle.acked.push(Ack {
                log: id,
                end,
                write,
            });
            self.stats.acked += 1;
        }
    }

    /// Writes back some durable records to the data disk, in order; moves the replay link.
    fn writeback(&mut self, h: usize) {
        let Some(id) = self.hosts[h].logging else {
            return;
        };
        let from = self.hosts[h].replay.1;
        let limit = self.rng.below(4) + 1;
        let host = &mut self.hosts[h];
        let file = &host.logs[&id];
        let mut pos = from;
        for r in file
            .recs
            .iter()
            .filter(|r| r.start >= from && r.end() <= file.durable)
            .take(limit as usize)
        {
            host.disk[r.block] = r.write;
            pos = r.end();
        }
        if pos != from {
            host.replay = (id, pos);
            self.write_replay_link(h);
        }
    }

    /// The application writes to the primary's device.
    fn app_write(&mut self, h: usize) {
        let Some(id) = self.hosts[h].logging else {
            return;
        };
        if !self.hosts[h].device_open {
            return;
        }
        let block = self.rng.index(BLOCKS);
        let len = 84 + self.payloads[self.rng.index(3)];
        let write = self.next_write;
        self.next_write += 1;
        let file = self.hosts[h].logs.get_mut(&id).expect("logging file");
        let rec = Rec {
            start: file.size,
            len,
            block,
            write,
        };
        file.recs.push(rec);
        file.size += len;
        self.hosts[h].pending.push((rec.end(), write));
    }

    /// Makes fetched data durable (the copy brick's fsync), at random.
    fn sync_fetched(&mut self, h: usize) {
        if !self.settling && !self.rng.chance(0.5) {
            return;
        }
        for (id, file) in self.hosts[h].logs.iter_mut() {
            if id.1 != h {
                file.durable = file.size;
            }
        }
    }

    fn fetch_round(&mut self, h: usize) {
        self.sync_fetched(h);
        let chunk = 1000 + self.rng.below(FETCH_CHUNK);
        let decision = {
            let logs = self.log_facts(h);
            let (rid, _) = self.hosts[h].replay;
            let facts = FetchFacts {
                me: HostName::parse(&self.names[h]).expect("valid"),
                logging: false,
                replaying: self.log_name(rid),
                logs: &logs,
                chunk_max: chunk,
            };
            match fetch_step(&facts) {
                FetchDecision::Fetch { log, from, to } => Ok(Some((self.id_of(log), from, to))),
                FetchDecision::Idle => Ok(None),
                FetchDecision::Refuse(r) => Err(format!("fetch: {r:?}")),
            }
        };
        match decision {
            Ok(Some((log, from, to))) => {
                let origin = log.1;
                self.send(h, origin, Body::FetchReq { log, from, to });
            }
            Ok(None) => {}
            Err(why) => {
                if why.contains("SplitBrain") {
                    self.stats.split_brain_refusals += 1;
                }
                self.hosts[h].last_wait = why;
            }
        }
    }

    fn replay_decision(&self, h: usize) -> Replay {
        let logs = self.log_facts(h);
        let host = &self.hosts[h];
        let (rid, pos) = host.replay;
        // Replay only what survives a crash: the durable part of the local copy.
        let mut local_size = host.logs.get(&rid).map_or(0, |l| l.durable);
        if self.cfg.mutation == Mutation::ReplayBeyondFetched {
            local_size = logs
                .iter()
                .find(|l| self.id_of(l.log) == rid)
                .map_or(0, |l| l.local_size);
        }
        let facts = ReplayFacts {
            me: HostName::parse(&self.names[h]).expect("valid"),
            replay: ReplayLink {
                log: self.log_name(rid),
                min_pos: pos as i64,
                dirty_len: 0,
            },
            local_size,
            logs: &logs,
        };
        let view = TreeView(&host.links);
        match replay_step(&facts, &view) {
            ReplayDecision::Apply { from, to } => Replay::Apply { from, to },
            ReplayDecision::WriteVersion { pos, .. } => Replay::WriteVersion(pos),
            ReplayDecision::Switch { to } => Replay::Switch(self.id_of(to)),
            ReplayDecision::Wait(why) if self.cfg.mutation == Mutation::SkipVersionCheck => {
                // The deliberate bug: switch whenever a next logfile exists.
                match logs.iter().find(|l| l.log.nr == rid.0 + 1) {
                    Some(next) => Replay::Switch(self.id_of(next.log)),
                    None => Replay::Stop(format!("replay: wait {why:?}")),
                }
            }
            ReplayDecision::Wait(why) => Replay::Stop(format!("replay: wait {why:?}")),
            ReplayDecision::Idle => Replay::Stop("replay: idle".into()),
            ReplayDecision::Refuse(why) => Replay::Stop(format!("replay: refuse {why:?}")),
        }
    }

    fn replay_round(&mut self, h: usize) {
        for _ in 0..4 {
            match self.replay_decision(h) {
                Replay::Apply { from, to } => {
                    let (rid, _) = self.hosts[h].replay;
                    let limit = self.rng.below(6) + 1;
                    let host = &mut self.hosts[h];
                    let mut pos = from;
                    let mut n = 0;
                    if let Some(file) = host.logs.get(&rid) {
                        for r in file
                            .recs
                            .iter()
                            .filter(|r| r.start >= from && r.end() <= to && r.end() <= file.size)
                        {
                            if n == limit {
                                break;
                            }
                            host.disk[r.block] = r.write;
                            pos = r.end();
                            n += 1;
                        }
                    }
                    if self.cfg.mutation == Mutation::ReplayBeyondFetched {
                        pos = to;
                    }
                    self.stats.replayed += n;
                    if pos == from {
                        self.hosts[h].last_wait = "replay: waiting for the rest of a record".into();
                        return;
                    }
                    self.hosts[h].replay = (rid, pos);
                    self.write_replay_link(h);
                }
                Replay::WriteVersion(pos) => {
                    let (rid, _) = self.hosts[h].replay;
                    self.write_own_version(h, rid, pos);
                }
                Replay::Switch(next) => {
                    let name = self.names[h].clone();
                    let (old, pos) = self.hosts[h].replay;
                    let (a, b) = (self.log_text(old), self.log_text(next));
                    self.log(format!("{name}: replay switches from {a} at {pos} to {b}"));
                    self.hosts[h].replay = (next, 0);
                    self.write_replay_link(h);
                }
                Replay::Stop(why) => {
                    if why.contains("SplitBrain") {
                        self.stats.split_brain_refusals += 1;
                    }
                    self.hosts[h].last_wait = why;
                    return;
                }
            }
        }
    }

    fn peer_facts(&self, h: usize) -> Vec<PeerFacts<'_>> {
        let host = &self.hosts[h];
        (0..self.hosts.len())
            .filter(|&p| p != h)
            .map(|p| {
                let ack = host
                    .links
                    .get(ack_key(&self.names[p]).as_str())
                    .and_then(|(v, _)| {
                        let mut it = v.splitn(3, ',');
                        let logging = it.next()? == "1";
                        let designated = it.next()?;
                        let stamp = Stamp::parse(it.next()?).ok()?;
                        Some(PrimaryAck {
                            logging,
                            designated: (designated != "(none)").then_some(designated),
                            designation_stamp: stamp,
                        })
                    });
                let reachable = host
                    .heard
                    .get(&p)
                    .is_some_and(|&t| t + REACHABLE_TICKS >= self.now);
                PeerFacts {
                    host: &self.names[p],
                    reachable,
                    ack,
                    device_open: self.hosts[p].device_open,
                }
            })
            .collect()
    }

    fn takeover_round(&mut self, h: usize) -> Result<(), Violation> {
        let force = self.hosts[h].force_pending;
        let decision = {
            let logs = self.log_facts(h);
            let mut peers = self.peer_facts(h);
            if self.cfg.mutation == Mutation::TakeoverWithoutAcks {
                peers.clear();
            }
            let host = &self.hosts[h];
            let (rid, pos) = host.replay;
            let (_, stamp) = self.designated(h).expect("designated");
            let facts = TakeoverFacts {
                me: HostName::parse(&self.names[h]).expect("valid"),
                force,
                designation_stamp: stamp,
                just_started: self.now < host.started_at + START_GRACE,
                peers: &peers,
                // As the kernel's logger: its start recovers an own current logfile.
                recovers_own: true,
                replay: ReplayLink {
                    log: self.log_name(rid),
                    min_pos: pos as i64,
                    dirty_len: 0,
                },
                logs: &logs,
            };
            match takeover_step(&facts, &TreeView(&host.links)) {
                TakeoverDecision::Start { nr, after, fork } => Ok((nr, self.id_of(after), fork)),
                TakeoverDecision::Wait(w) => Err(format!("takeover: wait {w:?}")),
                TakeoverDecision::Refuse(r) => Err(format!("takeover: refuse {r:?}")),
            }
        };
        match decision {
            Ok((nr, after, fork)) => {
                let mut pos = self.hosts[h].replay.1;
                if after.1 == h {
                    // The kernel's recovery: the rest of the own logfile (everything durable
                    // in it) goes to the disk, its version link to its end.
                    let host = &mut self.hosts[h];
                    if let Some(file) = host.logs.get(&after) {
                        for r in file
                            .recs
                            .iter()
                            .filter(|r| r.start >= pos && r.end() <= file.durable)
                        {
                            host.disk[r.block] = r.write;
                        }
                        pos = pos.max(file.durable);
                    }
                    self.hosts[h].replay = (after, pos);
                    self.write_replay_link(h);
                    self.write_own_version(h, after, pos);
                } else {
                    // Forced: the own version link must stand where the new branch starts.
                    self.write_own_version(h, after, pos);
                }
                if fork {
                    self.stats.forks += 1;
                    let name = self.names[h].clone();
                    self.log(format!("{name}: forced takeover forks at logfile {nr}"));
                }
                self.start_log(h, (nr, h), (after, pos), force)?;
                self.hosts[h].force_pending = false;
                self.hosts[h].device_open = true;
                Ok(())
            }
            Err(why) => {
                if why.contains("SplitBrain") {
                    self.stats.split_brain_refusals += 1;
                }
                self.hosts[h].last_wait = why;
                Ok(())
            }
        }
    }

    /// Host `h` starts logging into the fresh logfile `id`, continuing history at `after`.
    fn start_log(
        &mut self,
        h: usize,
        id: LogId,
        after: (LogId, u64),
        forced: bool,
    ) -> Result<(), Violation> {
        let name = self.names[h].clone();
        let text = self.log_text(id);
        self.log(format!(
            "{name}: starts logging {text} after {},{}",
            self.log_text(after.0),
            after.1
        ));
        self.stats.logs_started += 1;
        if !self.oracle.forced {
            if let Some(other) = self.oracle.logs.keys().find(|k| k.0 == id.0 && k.1 != h) {
                let t = self.log_text(*other);
                return Err(violation(
                    "one-primary-per-logfile",
                    format!("{name} starts {text} while {t} exists"),
                ));
            }
            if let Some(p) =
                (0..self.hosts.len()).find(|&p| p != h && self.hosts[p].logging.is_some())
            {
                return Err(violation(
                    "one-primary",
                    format!("{name} starts logging while {} logs", self.names[p]),
                ));
            }
            // Every acknowledged write is in the history the new logfile continues.
            if let Some(lost) = self
                .oracle
                .acked
                .iter()
                .find(|a| !self.oracle.in_history(a.log, a.end, after))
            {
                return Err(violation(
                    "no-lost-ack",
                    format!(
                        "{name} continues {},{} which lacks acknowledged write {} ({} up to {})",
                        self.log_text(after.0),
                        after.1,
                        lost.write,
                        self.log_text(lost.log),
                        lost.end
                    ),
                ));
            }
        }
        self.oracle.logs.entry(id).or_insert(TrueLog {
            parent: Some(after),
            recs: Vec::new(),
            forced,
        });
        self.hosts[h].logs.insert(id, LogFile::default());
        self.hosts[h].logging = Some(id);
        self.hosts[h].replay = (id, 0);
        self.hosts[h].pending.clear();
        self.write_replay_link(h);
        self.write_own_version(h, id, 0);
        self.write_ack(h);
        Ok(())
    }

    fn crash(&mut self, h: usize) {
        let name = self.names[h].clone();
        self.log(format!("{name}: CRASH"));
        self.stats.crashes += 1;
        let host = &mut self.hosts[h];
        host.up = false;
        host.logging = None;
        host.device_open = false;
        host.pending.clear();
        host.remote_durable.clear();
        host.heard.clear();
        host.rotate_requested = false;
        for file in host.logs.values_mut() {
            file.truncate_to_durable();
        }
        self.net.retain(|m| m.to != h && m.from != h);
    }

    fn restart(&mut self, h: usize) {
        let name = self.names[h].clone();
        self.log(format!("{name}: restart"));
        self.hosts[h].up = true;
        self.hosts[h].started_at = self.now;
    }

    /// `marsadm primary` on host `t` (not forced): a fresh exchange with every reachable peer,
    /// the checks, then the `primary` link.
    fn handover(&mut self, t: usize) {
        if self.rng.chance(0.8) {
            // The operator unmounts the device on the current primary first.
            for p in 0..self.hosts.len() {
                if self.connected(t, p) || p == t {
                    self.hosts[p].device_open = false;
                }
            }
        }
        for p in 0..self.hosts.len() {
            if p != t && self.connected(t, p) {
                let body = self.tree_message(p);
                self.receive(Msg {
                    from: p,
                    to: t,
                    at: self.now,
                    body,
                });
                let body = self.tree_message(t);
                self.receive(Msg {
                    from: t,
                    to: p,
                    at: self.now,
                    body,
                });
            }
        }
        let result = {
            let mut peers = self.peer_facts(t);
            for p in peers.iter_mut() {
                let idx = self.names.iter().position(|n| n == p.host).expect("known");
                p.reachable = self.connected(t, idx);
            }
            check_handover(self.is_designated(t), &peers)
                .map_err(|(r, host)| format!("{r:?} {}", host.unwrap_or("")))
        };
        let name = self.names[t].clone();
        match result {
            Ok(()) => {
                self.stats.handovers += 1;
                self.log(format!("{name}: marsadm primary: accepted"));
                self.set_link(t, "primary", &name);
                self.write_ack(t);
            }
            Err(why) => {
                self.log(format!("{name}: marsadm primary: refused: {why}"));
                let key = why.split(' ').next().unwrap_or("").to_string();
                *self.stats.refused.entry(key).or_default() += 1;
            }
        }
    }

    /// `marsadm primary --force` on host `t`.
    fn forced_failover(&mut self, t: usize) {
        let name = self.names[t].clone();
        self.log(format!("{name}: marsadm primary --force"));
        self.stats.forced += 1;
        self.oracle.forced = true;
        self.set_link(t, "primary", &name);
        self.hosts[t].force_pending = true;
        self.write_ack(t);
    }

    fn faults(&mut self) {
        let n = self.hosts.len();
        let cfg = self.cfg.clone();
        if self.rng.chance(cfg.crash) {
            let h = self.rng.index(n);
            if self.hosts[h].up {
                self.crash(h);
            }
        }
        for h in 0..n {
            if !self.hosts[h].up && self.rng.chance(0.02) {
                self.restart(h);
            }
        }
        if self.rng.chance(cfg.partition) {
            if self.rng.chance(0.5) {
                let h = self.rng.index(n);
                self.log(format!("partition: {} isolated", self.names[h]));
                for p in 0..n {
                    if p != h {
                        self.cut.insert((h, p));
                        self.cut.insert((p, h));
                    }
                }
            } else {
                let a = self.rng.index(n);
                let b = self.rng.index(n);
                if a != b {
                    self.log(format!(
                        "partition: {} - {} cut",
                        self.names[a], self.names[b]
                    ));
                    self.cut.insert((a, b));
                    self.cut.insert((b, a));
                }
            }
        }
        if !self.cut.is_empty() && self.rng.chance(0.02) {
            self.log("partition healed".into());
            self.cut.clear();
        }
        if self.rng.chance(cfg.handover) {
            let t = self.rng.index(n);
            if self.hosts[t].up {
                self.handover(t);
            }
        }
        if self.rng.chance(cfg.forced) {
            let t = self.rng.index(n);
            if self.hosts[t].up && self.hosts[t].logging.is_none() {
                self.forced_failover(t);
            }
        }
        if self.rng.chance(0.01) {
            if let Some(p) = (0..n).find(|&p| self.hosts[p].logging.is_some()) {
                self.hosts[p].rotate_requested = true;
            }
        }
    }

    /// One tick.
    pub fn step(&mut self) -> Result<(), Violation> {
        self.now += 1;
        if !self.settling {
            self.faults();
            if self.rng.chance(self.cfg.write_rate) {
                // After a forced failover two hosts may log: the application writes to either.
                let loggers: Vec<usize> = (0..self.hosts.len())
                    .filter(|&p| self.hosts[p].up && self.hosts[p].logging.is_some())
                    .collect();
                if !loggers.is_empty() {
                    let p = loggers[self.rng.index(loggers.len())];
                    for _ in 0..=self.rng.below(2) {
                        self.app_write(p);
                    }
                }
            }
        }
        // Deliver what is due, in random order among equals.
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.net.len() {
            if self.net[i].at <= self.now {
                due.push(self.net.swap_remove(i));
            } else {
                i += 1;
            }
        }
        while !due.is_empty() {
            let m = due.swap_remove(self.rng.index(due.len()));
            if self.connected(m.from, m.to) {
                self.receive(m);
            }
        }
        let n = self.hosts.len();
        let start = self.rng.index(n);
        for k in 0..n {
            let h = (start + k) % n;
            if !self.hosts[h].up {
                continue;
            }
            if self.rng.chance(0.6) {
                self.round(h)?;
            }
            if self.rng.chance(0.25) {
                self.broadcast_tree(h);
            }
        }
        self.check()
    }

    /// The invariants after every step.
    pub fn check(&mut self) -> Result<(), Violation> {
        let n = self.hosts.len();
        if !self.oracle.forced {
            let loggers: Vec<usize> = (0..n)
                .filter(|&h| self.hosts[h].logging.is_some())
                .collect();
            if loggers.len() > 1 {
                let names: Vec<&str> = loggers.iter().map(|&h| self.names[h].as_str()).collect();
                return Err(violation(
                    "one-primary",
                    format!("hosts logging at once: {names:?}"),
                ));
            }
        }
        for h in 0..n {
            let at = self.hosts[h].replay;
            let image = self
                .oracle
                .image(h, at, BLOCKS)
                .map_err(|e| violation("prefix", e))?;
            if image != self.hosts[h].disk {
                let diff: Vec<String> = (0..BLOCKS)
                    .filter(|&b| image[b] != self.hosts[h].disk[b])
                    .take(4)
                    .map(|b| {
                        format!(
                            "block {b}: disk {} history {}",
                            self.hosts[h].disk[b], image[b]
                        )
                    })
                    .collect();
                return Err(violation(
                    "prefix",
                    format!(
                        "{}'s disk is not the history up to its replay link {},{}: {}",
                        self.names[h],
                        self.log_text(at.0),
                        at.1,
                        diff.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Ends all faults: heals the network, restarts every host, stops the application.
    pub fn begin_settling(&mut self) {
        self.settling = true;
        self.cut.clear();
        for h in 0..self.hosts.len() {
            if !self.hosts[h].up {
                self.restart(h);
            }
            self.hosts[h].device_open = false;
        }
        self.log("settling: network healed, all hosts up, no more writes".into());
    }

    /// Whether the cluster has converged: one primary, designated everywhere, everything
    /// written back, every secondary at the end of the primary's logfile.
    pub fn converged(&self) -> Result<(), String> {
        let loggers: Vec<usize> = (0..self.hosts.len())
            .filter(|&h| self.hosts[h].logging.is_some())
            .collect();
        let [p] = loggers[..] else {
            return Err(format!("{} hosts logging", loggers.len()));
        };
        let id = self.hosts[p].logging.expect("logging");
        let file = &self.hosts[p].logs[&id];
        if file.durable != file.size || self.hosts[p].replay != (id, file.durable) {
            return Err(format!("primary {} not written back", self.names[p]));
        }
        for h in 0..self.hosts.len() {
            if self.designated(h).map(|d| d.0) != Some(self.names[p].clone()) {
                return Err(format!(
                    "{} does not know the designated primary",
                    self.names[h]
                ));
            }
            if self.hosts[h].replay != (id, file.durable) {
                let (rid, pos) = self.hosts[h].replay;
                return Err(format!(
                    "{} stands at {},{} (primary at {},{}; last: {})",
                    self.names[h],
                    self.log_text(rid),
                    pos,
                    self.log_text(id),
                    file.durable,
                    self.hosts[h].last_wait
                ));
            }
        }
        Ok(())
    }

    /// A one-line summary per host, for the trace.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (h, host) in self.hosts.iter().enumerate() {
            let (rid, pos) = host.replay;
            let _ = writeln!(
                s,
                "  {}: up={} logging={:?} designated={:?} replay={},{} last=\"{}\"",
                self.names[h],
                host.up,
                host.logging.map(|l| self.log_text(l)),
                self.designated(h).map(|d| d.0),
                self.log_text(rid),
                pos,
                host.last_wait
            );
        }
        s
    }
}

impl World {
    /// Debug dump of one host's knowledge.
    pub fn dump(&self, h: usize) -> String {
        let host = &self.hosts[h];
        let mut s = format!(
            "{}: logs {:?}\n remote {:?}\n",
            self.names[h],
            host.logs
                .iter()
                .map(|(k, v)| (*k, v.size, v.durable))
                .collect::<Vec<_>>(),
            host.remote_durable
        );
        for (k, (v, st)) in &host.links {
            let _ = writeln!(s, "  {k} -> {v} @{st}");
        }
        s
    }
}

impl World {
    /// Whether host `h`'s tree shows split brain to `marsadm` (`split_brain::detect_split_brain`
    /// over every host's replay link and the version links).
    pub fn split_brain_visible(&self, h: usize) -> bool {
        use mars_core::split_brain::{detect_split_brain, HostHead};
        use mars_core::version_chain::VersionEntry;
        let links = &self.hosts[h].links;
        let heads: Vec<HostHead<'_>> = self
            .names
            .iter()
            .filter_map(|n| {
                links
                    .get(format!("replay-{n}").as_str())
                    .map(|(v, _)| HostHead { host: n, replay: v })
            })
            .collect();
        let versions: Vec<VersionEntry<'_>> = links
            .iter()
            .filter_map(|(k, (v, _))| {
                let rest = k.strip_prefix("version-")?;
                let nr = rest.get(..9)?.parse().ok()?;
                let host = rest.get(10..)?;
                Some(VersionEntry { host, nr, value: v })
            })
            .collect();
        let mut out = [];
        detect_split_brain(&versions[..], &heads, &mut out).is_split()
    }
}
