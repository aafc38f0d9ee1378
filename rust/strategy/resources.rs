// SPDX-License-Identifier: GPL-2.0
//! The resources of this host: in every round the strategy reads, for each
//! `/mars/resource-<res>/`, what the tree asks of this host, lets
//! [`mars_core::strategy::decide`](crate::mars_core::strategy::decide) choose the next steps,
//! builds or tears down the bricks accordingly and publishes the indicators in
//! `actual-<host>/` (`is-attached`, `is-primary`, `if-on`, `open-count`).
//!
//! On a primary the bricks are: a bio brick on the data device (`data-<host>`), a
//! transaction logger for the resource directory, and an if brick `/dev/mars/<device-name>`
//! on top. They are built bottom up and torn down top down; the logger recovers the log when
//! it starts and writes everything back when it stops.

use core::fmt::Write;

use super::handover::{ack_value, release, takeover, Designation, Text};
use crate::brick::{set_power, Brick, Output};
use crate::bricks::bio_brick::BioBrick;
use crate::bricks::if_brick::IfBrick;
use crate::bricks::trans_logger::TransLogger;
use crate::kapi::vfs::PathBuf;
use crate::logger::durable::Loggers;
use crate::logger::replayer::{new_copy_lock, CopyLock, Replayer};
use crate::mars_core::emergency::{
    deletable_logfile, deletes_old_logfiles, may_resume, parse_limit, resource_emergency,
    sync_allowed, Backoff, ResourceFacts, ResumeBackoff, Space,
};
use crate::mars_core::lamport::Stamp;
use crate::mars_core::names::{check_name, ACTUAL_DIR_PREFIX};
use crate::mars_core::rate::{AppendCounter, RateSampler, TotalPublisher};
use crate::mars_core::replica::{ReleaseDecision, ReleaseWait};
use crate::mars_core::strategy::{
    decide, decide_teardown, indicators, Blocked, Decision, Running, Step, Wanted, WantedLinks,
};
use crate::mars_core::sync_limit::{parse_sync_limit, Admission, SyncSlots, MAX_SYNC_LIMIT};
use crate::mars_core::text::FixedBuf;
use crate::mars_core::tree::LogName;
use crate::mars_core::tree_value::{parse_device_path, ReplayLink, DELETED};
use crate::net::logs::Fetcher;
use crate::net::sync::{register_data, unregister_data, Syncer};
use crate::tree::{self, FileKind, MarsTree};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::error::code::{EEXIST, EINVAL, ENOENT};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

/// Directory entries of /mars looked at per round.
const MAX_ROOT_ENTRIES: usize = 4096;
/// Prefix of a resource directory.
const RESOURCE_PREFIX: &[u8] = b"resource-";
/// Longest link value read (device paths, sizes, host names).
const MAX_VALUE: usize = 1024;
/// Steps taken for one resource in one round (attach + start, or stop + detach).
const MAX_STEPS: usize = 4;
/// Old logfiles a secondary deletes per round in emergency, at most.
const MAX_DELETE_PER_ROUND: usize = 64;
/// Permissions of directories the kernel creates in /mars.
const DIR_MODE: u16 = 0o700;

/// The bricks of one resource on this host.
struct Resource {
    name: KVec<u8>,
    dir: PathBuf,
    /// `actual-<host>/` of the resource.
    actual: PathBuf,
    lower: Option<Arc<BioBrick>>,
    data_size: u64,
    /// The resource size (`size`; 0: missing or malformed), for `/dev/mars/<name>`.
    size: u64,
    /// A smaller `size` than the device shows was reported (once).
    shrink_told: bool,
    logger: Option<Arc<TransLogger>>,
    device: Option<Arc<IfBrick>>,
    /// The replay of logfiles on a secondary.
    replayer: Option<Replayer>,
    /// The fetch of logfiles from their origin on a secondary.
    fetcher: Option<Fetcher>,
    /// Shared by the replay and the fetch (made when the first of them starts).
    copy_lock: Option<CopyLock>,
    /// The full sync from the designated primary on a secondary.
    syncer: Option<Syncer>,
    /// Seen in the current round's listing.
    seen: bool,
    /// Indicators were written for this resource (it has this host's `actual-` directory).
    published: bool,
    /// What blocked the last round, reported once.
    blocked: Option<Blocked>,
    /// The last step's error, reported once.
    error: Option<(Step, Error)>,
    /// This round's wish is a forced failover ([`Wanted::forced`]).
    forced: bool,
    /// Why the handover waits (release or takeover), reported once.
    handover: Text,
    /// The registry of running loggers (for the log server).
    loggers: Option<Arc<Loggers>>,
    /// The resource is in emergency (`has-emergency`) after the last round.
    has_emergency: bool,
    /// A wanted sync is held back by the emergency level (reported once).
    blocked_sync: bool,
    /// The sync waits for a slot of the host's sync limit: the limit (this round).
    sync_wait: Option<u32>,
    /// What `msg-inf-sync-start` says now: the limit waited for, or `Some(None)` for `OK`
    /// (`None`: not looked at since the module loaded).
    sync_wait_shown: Option<Option<u32>>,
    /// The emergency message last published (`msg-err-emergency`): whether logging had
    /// stopped (`None` before the first).
    emergency_shown: Option<bool>,
    /// The wait after a failed log write before the logger may resume (no resume storm).
    backoff: ResumeBackoff,
    /// The measured rate of the full sync (`amount-sync_rate`).
    sync_rate: RateSampler,
    /// The measured rate of the replay (`amount-replay_rate`).
    replay_rate: RateSampler,
    /// Bytes of logfile data the fetch threads of this resource appended here; continues the
    /// published `amount-file_bytes` (read at the first publication), so the total grows
    /// across fetch threads, module loads and reboots.
    fetched: Arc<AtomicU64>,
    /// The published total was read and added to `fetched`.
    fetched_base: bool,
    /// When `amount-file_bytes` is written.
    fetched_total: TotalPublisher,
    /// The measured rate of the fetch (`amount-file_rate`).
    fetch_rate: RateSampler,
    /// Bytes this host's loggers appended to the resource's logfiles (`amount-log_bytes`); like
    /// `fetched`, it continues the published total (read at the first publication).
    logged: u64,
    /// The published `amount-log_bytes` was read and added to `logged`.
    logged_base: bool,
    /// The running logger's growth, sampled once per round.
    appends: AppendCounter,
    /// When `amount-log_bytes` is written.
    logged_total: TotalPublisher,
    /// `replay-stamp` as last written, and when (monotonic ns).
    stamp_shown: Option<(i64, u64)>,
}

impl Resource {
    fn new(
        root: &PathBuf,
        name: &[u8],
        host: &[u8],
        loggers: Option<Arc<Loggers>>,
    ) -> Result<Self> {
        let dir = root.child(&concat(RESOURCE_PREFIX, name)?)?;
        let actual = dir.child(&concat(ACTUAL_DIR_PREFIX.as_bytes(), host)?)?;
        let mut stored = KVec::new();
        stored.extend_from_slice(name, GFP_KERNEL)?;
        Ok(Resource {
            name: stored,
            dir,
            actual,
            lower: None,
            data_size: 0,
            size: 0,
            shrink_told: false,
            logger: None,
            device: None,
            replayer: None,
            fetcher: None,
            copy_lock: None,
            syncer: None,
            seen: true,
            published: false,
            blocked: None,
            error: None,
            forced: false,
            handover: Text::new(),
            loggers,
            has_emergency: false,
            blocked_sync: false,
            sync_wait: None,
            sync_wait_shown: None,
            emergency_shown: None,
            backoff: ResumeBackoff::default(),
            sync_rate: RateSampler::new(),
            replay_rate: RateSampler::new(),
            fetched: Arc::new(AtomicU64::new(0), GFP_KERNEL)?,
            fetched_base: false,
            fetched_total: TotalPublisher::new(),
            fetch_rate: RateSampler::new(),
            logged: 0,
            logged_base: false,
            appends: AppendCounter::new(),
            logged_total: TotalPublisher::new(),
            stamp_shown: None,
        })
    }

    fn running(&self) -> Running {
        Running {
            attached: self.lower.is_some(),
            data_size: self.data_size,
            primary: self.device.is_some(),
            replaying: self.replayer.is_some(),
            fetching: self.fetcher.is_some(),
            open_count: self.device.as_ref().map_or(0, |d| d.open_count()),
            syncing: self.syncer.is_some(),
        }
    }

    fn name(&self) -> &BStr {
        BStr::from_bytes(&self.name)
    }

    /// Whether this host should be logging, as `mars_core::replica` decides: a logging host
    /// goes on until `release_step` lets it go; the designated primary starts only when
    /// `takeover_step` allows it. A waiting handover is reported once.
    fn primary_wanted(
        &mut self,
        root: &PathBuf,
        host: &[u8],
        wanted: &Wanted<'_>,
        designation: &Designation,
        started: Stamp,
    ) -> Result<bool> {
        let designated = designation.names(host);
        let mut why = Text::new();
        let want = if let Some(logger) = &self.logger {
            let open = self.device.as_ref().map_or(0, |d| d.open_count());
            match release(logger, designated, open) {
                ReleaseDecision::Stay => true,
                ReleaseDecision::Release { .. } => false,
                ReleaseDecision::Flush => {
                    let _ = write!(why, "handing over: making the log durable");
                    true
                }
                ReleaseDecision::Wait(ReleaseWait::DeviceInUse) => {
                    let _ = write!(why, "handing over: waiting until the device is closed");
                    true
                }
                ReleaseDecision::Wait(ReleaseWait::Writeback) => {
                    let _ = write!(why, "handing over: waiting for the writeback");
                    true
                }
            }
        } else if designated && wanted.member && wanted.attach && self.forced {
            // `primary --force`: the old primary is not asked (it may be gone for good).
            true
        } else if designated && wanted.member && wanted.attach {
            match takeover(root, &self.dir, host, designation, started)? {
                None => true,
                Some(reason) => {
                    why = reason;
                    false
                }
            }
        } else {
            false
        };
        if why.as_bytes() != self.handover.as_bytes() {
            if !why.as_bytes().is_empty() {
                pr_notice!("{}: {}\n", self.name(), BStr::from_bytes(why.as_bytes()));
            }
            self.handover = why;
        }
        Ok(want)
    }

    /// Reads the tree, takes the steps, publishes the indicators.
    fn round(
        &mut self,
        root: &PathBuf,
        host: &[u8],
        started: Stamp,
        space: &Space,
        slots: &mut SyncSlots,
    ) -> Result {
        let host_str = core::str::from_utf8(host).map_err(|_| EINVAL)?;
        let name = concat(&self.name, b"")?;
        let res = core::str::from_utf8(&name).map_err(|_| EINVAL)?;
        let data = self.read(&[&concat(b"data-", host)?])?;
        let device = self.read(&[&concat(b"device-", host)?])?;
        let attach = self.read(&[&concat(b"todo-", host)?, b"attach"])?;
        let allow_replay = self.read(&[&concat(b"todo-", host)?, b"allow-replay"])?;
        let connect = self.read(&[&concat(b"todo-", host)?, b"connect"])?;
        let primary = self.read(&[b"primary"])?;
        let size = self.read(&[b"size"])?;
        let sync = self.read(&[&concat(b"todo-", host)?, b"sync"])?;
        let syncstatus = self.read(&[&concat(b"syncstatus-", host)?])?;
        let limit = self.read(&[&concat(b"todo-", host)?, b"emergency-limit"])?;
        let links = WantedLinks {
            data: text(&data),
            attach: text(&attach),
            allow_replay: text(&allow_replay),
            connect: text(&connect),
            primary: text(&primary),
            size: text(&size),
            device: text(&device),
        };
        let mut wanted =
            Wanted::from_links(host_str, res, &links).with_sync(text(&sync), text(&syncstatus));
        if !sync_allowed(space.level) && wanted.sync {
            // Emergency level 3 or more: no full sync starts or goes on (its progress stays).
            if !self.blocked_sync {
                pr_notice!(
                    "{}: /mars is very full (emergency level {}): no full sync\n",
                    self.name(),
                    space.level
                );
                self.blocked_sync = true;
            }
            wanted.sync = false;
        } else {
            self.blocked_sync = false;
        }
        // A forced failover (designated, fetch off) does not wait for the old primary.
        self.forced = wanted.forced();
        let designation = Designation::read(&self.dir)?;
        wanted.primary = self.primary_wanted(root, host, &wanted, &designation, started)?;
        // The host's limit on concurrent full syncs: of the resources that want one, the first
        // N in name order sync, the others wait (a running one stops; its progress stays).
        self.sync_wait = match slots.admit(wanted.wants_sync()) {
            Admission::Wait { limit } => {
                if self.sync_wait.is_none() {
                    pr_notice!(
                        "{}: full sync waits: {} resource(s) of this host sync at once (sync-limit)\n",
                        self.name(),
                        limit
                    );
                }
                wanted.sync = false;
                Some(limit)
            }
            Admission::Sync | Admission::NotWanted => None,
        };
        let data_path = text(&data).unwrap_or("");
        self.follow_data_size();
        self.size = wanted.size.unwrap_or(0);
        self.converge(
            |running| decide(&wanted, running),
            data_path,
            wanted.device_name,
            host,
        )?;
        if let Some(replayer) = &self.replayer {
            // Logfiles or links may have arrived.
            replayer.kick();
        }
        // Not on the designated primary: its old logfiles are what the secondaries fetch.
        let may_delete = wanted.member && !designation.names(host);
        self.emergency(
            host,
            space,
            text(&limit).and_then(parse_limit).unwrap_or(0),
            may_delete,
        );
        // A host that is no member and runs nothing for the resource writes nothing into it.
        if !wanted.member && self.running() == Running::default() {
            return Ok(());
        }
        // Not an error of the round: the indicators below must not wait for it.
        if let Err(e) = self.publish_sizes(host, wanted.member) {
            pr_debug!("{}: sizes not published: {:?}\n", self.name(), e);
        }
        let ack = ack_value(self.device.is_some(), &designation)?;
        self.publish(Some(ack.as_bytes()))?;
        if self.sync_wait_shown != Some(self.sync_wait) {
            // Not an error of the round (a long link may not fit on a full /mars).
            match self.publish_sync_wait(host) {
                Ok(()) => self.sync_wait_shown = Some(self.sync_wait),
                Err(e) => pr_debug!("{}: msg-inf-sync-start not written: {:?}\n", self.name(), e),
            }
        }
        self.publish_rates(host, text(&syncstatus))
    }

    /// The data device may have grown (or shrunk) since it was attached (`resize`: the
    /// operator grew every member's disk first): its size is read anew every round.
    fn follow_data_size(&mut self) {
        if let Some(lower) = &self.lower {
            if let Ok(info) = Output::info(&**lower) {
                self.data_size = info.size;
            }
        }
    }

    /// `actsize-<host>` (the attached data device's size, which `marsadm resize` takes the
    /// minimum of), and the resource size for `/dev/mars/<name>`: a grown `size` link grows
    /// the device online.
    fn publish_sizes(&mut self, host: &[u8], member: bool) -> Result {
        if let Some(device) = &self.device {
            let followed = device.set_size(self.size)?;
            if !followed && !self.shrink_told {
                pr_warn!(
                    "{}: size {} is below what the device shows: it keeps its size (no shrink under its users)\n",
                    self.name(),
                    self.size
                );
            }
            self.shrink_told = !followed;
        }
        if !member || self.lower.is_none() || self.data_size == 0 {
            return Ok(());
        }
        let mut value = FixedBuf::<24>::new();
        write!(value, "{}", self.data_size).map_err(|_| EINVAL)?;
        tree::update(
            &self.dir.child(&concat(b"actsize-", host)?)?,
            value.as_bytes(),
        )
    }

    /// `amount-sync_rate`, `amount-replay_rate` and `amount-file_rate` (the fetch; KiB/s,
    /// measured by `mars_core::rate`): written when a rate changes, at most once per 10 s
    /// each; and `amount-file_bytes`, the bytes fetched for the resource (a total, written
    /// when it changed at most once per 10 s, and when the fetch stops). A busy resource adds
    /// at most four small links per 10 s to the metadata its peers pull.
    fn publish_rates(&mut self, host: &[u8], syncstatus: Option<&str>) -> Result {
        let now = u64::try_from(kernel::time::Ktime::ktime_get().to_ns()).unwrap_or(0);
        let sync = match &self.syncer {
            Some(_) => syncstatus
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|pos| (0, pos)),
            None => None,
        };
        let replay = match &self.replayer {
            Some(_) => {
                let link = self.read(&[&concat(b"replay-", host)?])?;
                text(&link)
                    .and_then(|v| ReplayLink::parse(v).ok())
                    .and_then(|l| Some((u64::from(l.log.nr), u64::try_from(l.min_pos).ok()?)))
            }
            None => None,
        };
        if !self.fetched_base {
            // What earlier fetches (before a module load, a reboot) published is the base.
            let link = self.read(&[
                &concat(ACTUAL_DIR_PREFIX.as_bytes(), host)?,
                b"amount-file_bytes",
            ])?;
            if let Some(before) = text(&link).and_then(|v| v.trim().parse::<u64>().ok()) {
                self.fetched.fetch_add(before, Ordering::Relaxed);
            }
            self.fetched_base = true;
        }
        let fetched = self.fetched.load(Ordering::Relaxed);
        let fetching = self.fetcher.is_some();
        let fetch = fetching.then_some((0, fetched));
        let rates = [
            (
                self.sync_rate.sample(sync, now),
                b"amount-sync_rate".as_slice(),
            ),
            (
                self.replay_rate.sample(replay, now),
                b"amount-replay_rate".as_slice(),
            ),
            (
                self.fetch_rate.sample(fetch, now),
                b"amount-file_rate".as_slice(),
            ),
            (
                self.fetched_total.sample(fetched, fetching, now),
                b"amount-file_bytes".as_slice(),
            ),
        ];
        for (rate, name) in rates {
            let Some(rate) = rate else {
                continue;
            };
            let mut value = FixedBuf::<24>::new();
            write!(value, "{rate}").map_err(|_| EINVAL)?;
            tree::update(&self.actual.child(name)?, value.as_bytes())?;
        }
        self.publish_logged(host, now)?;
        self.publish_replay_stamp(now)
    }

    /// `amount-log_bytes`: the bytes this host's loggers appended to the resource's logfiles,
    /// a total across logfiles, loggers, module loads and reboots (written like
    /// `amount-file_bytes`: when it changed, at most once per 10 s, and when logging stops).
    /// A host that never logged for the resource writes nothing.
    fn publish_logged(&mut self, host: &[u8], now: u64) -> Result {
        if !self.logged_base {
            let link = self.read(&[
                &concat(ACTUAL_DIR_PREFIX.as_bytes(), host)?,
                b"amount-log_bytes",
            ])?;
            if let Some(before) = text(&link).and_then(|v| v.trim().parse::<u64>().ok()) {
                self.logged = self.logged.saturating_add(before);
            }
            self.logged_base = true;
        }
        match &self.logger {
            Some(logger) => {
                let stat = |name: &str| logger.stat(name);
                let nr = u32::try_from(stat("log")).unwrap_or(u32::MAX);
                let final_end = self
                    .appends
                    .logfile()
                    .filter(|old| *old != nr)
                    .and_then(|old| logger.durable_end(old));
                let added = self.appends.sample(nr, stat("appended"), final_end);
                self.logged = self.logged.saturating_add(added);
            }
            None => self.appends = AppendCounter::new(),
        }
        let logging = self.logger.is_some();
        if !logging && self.logged == 0 {
            return Ok(());
        }
        if let Some(total) = self.logged_total.sample(self.logged, logging, now) {
            let mut value = FixedBuf::<24>::new();
            write!(value, "{total}").map_err(|_| EINVAL)?;
            tree::update(&self.actual.child(b"amount-log_bytes")?, value.as_bytes())?;
        }
        Ok(())
    }

    /// `replay-stamp`: the newest Lamport stamp (seconds) of a record the replay applied here,
    /// taken on the origin when the write entered its logger: this replica holds every write
    /// logged up to then (`marsadm view`'s replay lag in seconds). Written when it changed, at
    /// most once per 2 s.
    fn publish_replay_stamp(&mut self, now: u64) -> Result {
        const EVERY_NS: u64 = 2_000_000_000;
        let Some(stamp) = self.replayer.as_ref().and_then(Replayer::newest_stamp) else {
            return Ok(());
        };
        let due = match self.stamp_shown {
            None => true,
            Some((s, _)) if s == stamp => false,
            Some((_, t)) => now < t || now.saturating_sub(t) >= EVERY_NS,
        };
        if due {
            let mut value = FixedBuf::<24>::new();
            write!(value, "{stamp}").map_err(|_| EINVAL)?;
            tree::update(&self.actual.child(b"replay-stamp")?, value.as_bytes())?;
            self.stamp_shown = Some((stamp, now));
        }
        Ok(())
    }

    /// Emergency mode of the resource (`mars_core::emergency`): whether it is in emergency;
    /// a logger stops logging then and resumes when it is over (and `logger_resume` allows
    /// it, and after a failed log write the [`ResumeBackoff`] is over); a secondary deletes
    /// the logfiles its replay no longer needs while /mars is low (level 2 or more).
    fn emergency(&mut self, host: &[u8], space: &Space, limit_percent: u8, may_delete: bool) {
        let stopped = self.logger.as_ref().is_some_and(|l| l.in_emergency());
        let facts = ResourceFacts {
            space: *space,
            had_emergency: self.has_emergency,
            logger_stopped: stopped,
            limit_percent,
        };
        let has = resource_emergency(&facts);
        if has != self.has_emergency {
            if has {
                pr_warn!(
                    "{}: EMERGENCY (emergency level {}, limit {}%)\n",
                    self.name(),
                    space.level,
                    limit_percent
                );
            } else {
                pr_notice!("{}: the emergency is over\n", self.name());
            }
            self.has_emergency = has;
        }
        if let Some(logger) = &self.logger {
            let interval_ms = u64::try_from(crate::knobs::SCAN_INTERVAL_SEC.get())
                .unwrap_or(5)
                .saturating_mul(1000);
            let now_ms = u64::try_from(kernel::time::Ktime::ktime_get().to_ms()).unwrap_or(0);
            let backoff = self.backoff.round(
                logger.log_failures(),
                !stopped,
                space.level,
                now_ms,
                interval_ms,
            );
            if let Backoff::Began(failures, wait_ms) = backoff {
                pr_warn!(
                    "{}: a log write failed ({} in a row): logging resumes after emergency level 0 for {} s\n",
                    self.name(),
                    failures,
                    wait_ms / 1000
                );
            }
            if has {
                logger.set_cease(true);
            } else if may_resume(
                has,
                crate::knobs::LOGGER_RESUME.get() != 0,
                backoff == Backoff::Over,
            ) {
                logger.set_cease(false);
            }
        } else if may_delete && deletes_old_logfiles(space.level) {
            if let Err(e) = self.delete_old_logfiles(host) {
                pr_warn!("{}: cannot delete an old logfile: {:?}\n", self.name(), e);
            }
        }
    }

    /// Unlinks this host's copies of the logfiles numbered below the one its replay link
    /// names, oldest first (the original's "ruthlessly freeing", which takes one per round;
    /// here all of them, so that a secondary catching up on a small /mars is not held back by
    /// the scan interval): nothing here needs them any more, and other hosts fetch a logfile
    /// only from its origin.
    fn delete_old_logfiles(&mut self, host: &[u8]) -> Result {
        let Some(replay) = self.read(&[&concat(b"replay-", host)?])? else {
            return Ok(());
        };
        let Some(replay) = text(&Some(replay))
            .and_then(|v| ReplayLink::parse(v).ok())
            .map(|r| r.log.nr)
        else {
            return Ok(());
        };
        let listing = tree::read_dir(&self.dir, MAX_ROOT_ENTRIES)?;
        let mut doomed: KVec<(u32, FixedBuf<96>)> = KVec::new();
        for entry in listing
            .entries
            .iter()
            .filter(|e| e.kind == Some(FileKind::Regular))
        {
            let Some(log) = core::str::from_utf8(&entry.name)
                .ok()
                .and_then(|n| LogName::parse(n).ok())
            else {
                continue;
            };
            if deletable_logfile([log], replay).is_none() || doomed.len() >= MAX_DELETE_PER_ROUND {
                continue;
            }
            let mut name = FixedBuf::<96>::new();
            write!(name, "{}", log).map_err(|_| EINVAL)?;
            doomed.push((log.nr, name), GFP_KERNEL)?;
        }
        doomed.sort_unstable_by_key(|(nr, _)| *nr);
        for (_, name) in doomed.iter() {
            pr_warn!(
                "{}: EMERGENCY: /mars is low: deleting the old logfile {} (replay is at logfile {})\n",
                self.name(),
                BStr::from_bytes(name.as_bytes()),
                replay
            );
            match tree::unlink(&self.dir.child(name.as_bytes())?) {
                Err(e) if e != ENOENT => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Takes steps until the decision is to stay (or a step fails).
    fn converge(
        &mut self,
        decide: impl Fn(&Running) -> Decision,
        data_path: &str,
        device_name: &str,
        host: &[u8],
    ) -> Result {
        for _ in 0..MAX_STEPS {
            let decision = decide(&self.running());
            if decision.blocked != self.blocked {
                if let Some(blocked) = decision.blocked {
                    pr_notice!("{}: {}\n", self.name(), blocked.message().1);
                }
                self.blocked = decision.blocked;
            }
            if decision.step == Step::Stay {
                self.error = None;
                return Ok(());
            }
            if let Err(e) = self.take(decision.step, data_path, device_name, host) {
                if self.error != Some((decision.step, e)) {
                    pr_err!("{}: {:?} failed: {:?}\n", self.name(), decision.step, e);
                    self.error = Some((decision.step, e));
                }
                return Err(e);
            }
            pr_info!("{}: {:?} done\n", self.name(), decision.step);
        }
        Ok(())
    }

    fn take(&mut self, step: Step, data_path: &str, device_name: &str, host: &[u8]) -> Result {
        match step {
            Step::Stay => Ok(()),
            Step::Attach => {
                // Only this host writes `data-<me>` (peers' copies are refused by the merge
                // rules); the device opened is still only an absolute path without `..`.
                if parse_device_path(data_path).is_err() {
                    return Err(EINVAL);
                }
                let lower = BioBrick::new(data_path)?;
                set_power(&*lower, true)?;
                self.data_size = match Output::info(&*lower) {
                    Ok(info) => info.size,
                    Err(e) => {
                        let _ = set_power(&*lower, false);
                        return Err(e);
                    }
                };
                // Served to sync clients of other members (port 7779).
                if let Err(e) = register_data(&self.name, lower.clone()) {
                    let _ = set_power(&*lower, false);
                    return Err(e);
                }
                self.lower = Some(lower);
                Ok(())
            }
            Step::Detach => {
                unregister_data(&self.name);
                if let Some(lower) = self.lower.take() {
                    if let Err(e) = set_power(&*lower, false) {
                        let _ = register_data(&self.name, lower.clone());
                        self.lower = Some(lower);
                        return Err(e);
                    }
                }
                self.data_size = 0;
                Ok(())
            }
            Step::StartPrimary => self.start_primary(device_name, host),
            Step::StopPrimary => self.stop_primary(),
            Step::StartReplay => {
                let lower: Arc<dyn Output> = self.lower.clone().ok_or(EINVAL)?;
                let copy_lock = self.copy_lock()?;
                self.replayer = Some(Replayer::start(
                    self.dir.as_bytes(),
                    host,
                    lower,
                    copy_lock,
                )?);
                Ok(())
            }
            Step::StopReplay => {
                // Waits for the current pass to end.
                drop(self.replayer.take());
                Ok(())
            }
            Step::StartFetch => {
                let copy_lock = self.copy_lock()?;
                self.fetcher = Some(Fetcher::start(&self.name, copy_lock, self.fetched.clone())?);
                Ok(())
            }
            Step::StartSync => {
                let lower: Arc<dyn Output> = self.lower.clone().ok_or(EINVAL)?;
                self.syncer = Some(Syncer::start(&self.name, lower)?);
                Ok(())
            }
            Step::StopSync => {
                // Shuts its socket down and waits for the thread; the progress is persisted.
                drop(self.syncer.take());
                Ok(())
            }
            Step::StopFetch => {
                // Shuts its socket down and waits for the thread.
                drop(self.fetcher.take());
                Ok(())
            }
        }
    }

    /// The resource's [`CopyLock`], made on first use.
    fn copy_lock(&mut self) -> Result<CopyLock> {
        if let Some(lock) = self.copy_lock.as_ref() {
            return Ok(lock.clone());
        }
        let lock = new_copy_lock()?;
        self.copy_lock = Some(lock.clone());
        Ok(lock)
    }

    fn start_primary(&mut self, device_name: &str, host: &[u8]) -> Result {
        let lower = self.lower.clone().ok_or(EINVAL)?;
        check_name(device_name).map_err(|_| EINVAL)?;
        let logger = TransLogger::new(self.dir.as_bytes(), host)?;
        if self.forced {
            // `primary --force`: no waiting for the old primary; its logfiles are applied as far
            // as they are here (a damaged one up to the damage), then a fresh logfile of this
            // host starts a new branch of the history.
            pr_notice!(
                "{}: forced failover: starting from the local data\n",
                self.name()
            );
            logger.set_force(true);
        }
        logger.data_input().connect(lower)?;
        if let Err(e) = set_power(&*logger, true) {
            drop(logger.data_input().disconnect());
            return Err(e);
        }
        let size = self.size;
        let device = IfBrick::new(device_name).and_then(|device| {
            device.input().connect(logger.clone())?;
            device.set_size(size)?;
            if let Err(e) = set_power(&*device, true) {
                drop(device.input().disconnect());
                return Err(e);
            }
            Ok(device)
        });
        match device {
            Ok(device) => {
                if let Some(loggers) = &self.loggers {
                    // Without it the log server uses the version link: slower, not wrong.
                    let _ = loggers.add(&self.name, logger.clone());
                }
                self.logger = Some(logger);
                self.device = Some(device);
                self.backoff = ResumeBackoff::default();
                Ok(())
            }
            Err(e) => {
                let _ = set_power(&*logger, false);
                drop(logger.data_input().disconnect());
                Err(e)
            }
        }
    }

    fn stop_primary(&mut self) -> Result {
        if let Some(device) = self.device.take() {
            if let Err(e) = set_power(&*device, false) {
                // Opened in the meantime: it stays.
                device.power().press(true);
                self.device = Some(device);
                return Err(e);
            }
            drop(device.input().disconnect());
        }
        if let Some(logger) = self.logger.take() {
            // Writes everything back and publishes the final replay position.
            let result = set_power(&*logger, false);
            drop(logger.data_input().disconnect());
            if let Some(loggers) = &self.loggers {
                loggers.remove(&self.name);
            }
            result?;
        }
        Ok(())
    }

    /// Everything off (the resource is gone or the module unloads).
    fn teardown(&mut self) -> Result {
        self.converge(decide_teardown, "", "", b"")
    }

    /// The value of the link at the relative path `components` in the resource directory
    /// (`None`: missing or no link).
    fn read(&self, components: &[&[u8]]) -> Result<Option<KVec<u8>>> {
        let mut path = self.dir.child(components.first().copied().unwrap_or(b""))?;
        for component in components.iter().skip(1) {
            path = path.child(component)?;
        }
        match tree::read_link(&path) {
            Ok(link) if link.value.len() <= MAX_VALUE => Ok(Some(link.value)),
            Ok(_) => Ok(None),
            Err(e) if e == ENOENT || e == EINVAL => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the indicators that changed, and the acknowledgement of the `primary` link
    /// (`primary-ack`, see `handover.rs`) when given; a changed one is told to the peers at
    /// once.
    fn publish(&mut self, ack: Option<&[u8]>) -> Result {
        self.published = true;
        let mars = MarsTree::open()?;
        match mars.mkdir(&self.actual, DIR_MODE) {
            Err(e) if e != EEXIST => return Err(e),
            _ => {}
        }
        let shown = indicators(&self.running());
        let flag = |on: bool| if on { b"1".as_slice() } else { b"0".as_slice() };
        mars.update(&self.actual.child(b"is-attached")?, flag(shown.is_attached))?;
        mars.update(&self.actual.child(b"is-primary")?, flag(shown.is_primary))?;
        mars.update(&self.actual.child(b"if-on")?, flag(shown.if_on))?;
        mars.update(
            &self.actual.child(b"is-replaying")?,
            flag(shown.is_replaying),
        )?;
        mars.update(&self.actual.child(b"is-copying")?, flag(shown.is_copying))?;
        mars.update(&self.actual.child(b"is-syncing")?, flag(shown.is_syncing))?;
        let stopped = self.logger.as_ref().is_some_and(|l| l.in_emergency());
        mars.update(&self.actual.child(b"is-emergency")?, flag(stopped))?;
        mars.update(
            &self.actual.child(b"has-emergency")?,
            flag(self.has_emergency),
        )?;
        let mut count = FixedBuf::<16>::new();
        write!(count, "{}", shown.open_count).map_err(|_| EINVAL)?;
        mars.update(&self.actual.child(b"open-count")?, count.as_bytes())?;
        if let Some(ack) = ack {
            let link = self.actual.child(b"primary-ack")?;
            let same = mars
                .read_link(&link)
                .is_ok_and(|l| l.value.as_slice() == ack);
            if !same {
                mars.update(&link, ack)?;
                // Local round, then notify every peer (the new primary waits for this).
                crate::knobs::trigger(crate::knobs::TRIGGER_LOCAL | 4);
            }
        }
        // Last, and not an error of the round: on a full /mars this long link may not fit (it
        // needs a data block) until space is freed; it is tried again every round. The
        // indicators above are short (inline) links and must not wait for it.
        if self.emergency_shown != Some(stopped) {
            match self.publish_emergency_message(stopped) {
                Ok(()) => self.emergency_shown = Some(stopped),
                Err(e) => pr_debug!("{}: msg-err-emergency not written: {:?}\n", self.name(), e),
            }
        }
        Ok(())
    }

    /// Writes `msg-inf-sync-start` (the original's key): why the full sync waits, or `OK` (a
    /// missing message stays missing).
    fn publish_sync_wait(&self, host: &[u8]) -> Result {
        let msg = self.actual.child(b"msg-inf-sync-start")?;
        let Some(limit) = self.sync_wait else {
            return match tree::read_link(&msg) {
                Ok(link) if link.value.as_slice() != b"OK" => tree::update(&msg, b"OK"),
                _ => Ok(()),
            };
        };
        // `<real sec.nsec> <lamport sec.nsec> <text>`, as every message.
        let mut text = FixedBuf::<256>::new();
        write!(
            text,
            "{} {} do not start sync due to global synclimit {} (defaults-{}/sync-limit; resources sync in name order)",
            crate::kapi::time::real_time(),
            crate::clock::now(),
            limit,
            BStr::from_bytes(host)
        )
        .map_err(|_| EINVAL)?;
        tree::update(&msg, text.as_bytes())
    }

    /// Writes `msg-err-emergency`: why logging stopped, or `OK`.
    fn publish_emergency_message(&self, stopped: bool) -> Result {
        let msg = self.actual.child(b"msg-err-emergency")?;
        if !stopped {
            return tree::update(&msg, b"OK");
        }
        // `<real sec.nsec> <lamport sec.nsec> <text>`, as every message.
        let mut text = FixedBuf::<256>::new();
        write!(
            text,
            "{} {} /mars full: logging stopped, writes bypass the log; secondaries stop at the hole and need `marsadm invalidate`",
            crate::kapi::time::real_time(),
            crate::clock::now()
        )
        .map_err(|_| EINVAL)?;
        tree::update(&msg, text.as_bytes())
    }
}

/// A link value as text (`None`: missing or not UTF-8).
fn text(value: &Option<KVec<u8>>) -> Option<&str> {
    value.as_deref().and_then(|v| core::str::from_utf8(v).ok())
}

/// `a` followed by `b`.
fn concat(a: &[u8], b: &[u8]) -> Result<KVec<u8>> {
    let mut out = KVec::with_capacity(a.len() + b.len(), GFP_KERNEL)?;
    out.extend_from_slice(a, GFP_KERNEL)?;
    out.extend_from_slice(b, GFP_KERNEL)?;
    Ok(out)
}

/// Every resource this host has bricks for, or had in the last round (slots are reused).
#[derive(Default)]
pub(super) struct Resources {
    list: KVec<Option<Resource>>,
    /// The running loggers, for the log server.
    loggers: Option<Arc<Loggers>>,
    /// When the first round ran (the takeover's grace period after a start).
    started: Option<Stamp>,
    /// The malformed `defaults-<host>/sync-limit` value reported last (reported once).
    bad_limit: Option<KVec<u8>>,
}

impl Resources {
    /// One round over the resource directories under `root` for `host`. A failing resource
    /// does not stop the others; the first error is returned.
    pub(super) fn round(&mut self, root: &PathBuf, host: &[u8], space: &Space) -> Result {
        let mut listing = tree::read_dir(root, MAX_ROOT_ENTRIES)?;
        // In name order: the preference order of the sync limit.
        listing
            .entries
            .sort_unstable_by(|a, b| a.name.as_slice().cmp(b.name.as_slice()));
        let mut slots = SyncSlots::new(self.sync_limit(root, host));
        let started = *self
            .started
            .get_or_insert_with(crate::kapi::time::real_time);
        for resource in self.list.iter_mut().flatten() {
            resource.seen = false;
        }
        let mut first_error = None;
        for entry in listing.entries.iter() {
            let Some(name) = entry.name.strip_prefix(RESOURCE_PREFIX) else {
                continue;
            };
            let valid = core::str::from_utf8(name).is_ok_and(|n| check_name(n).is_ok());
            if entry.kind != Some(FileKind::Dir) || !valid {
                continue;
            }
            let known = self
                .list
                .iter()
                .position(|r| r.as_ref().is_some_and(|r| r.name.as_slice() == name));
            let resource = match known
                .and_then(|index| self.list.get_mut(index))
                .and_then(Option::as_mut)
            {
                Some(resource) => resource,
                None => self.add(Resource::new(root, name, host, self.loggers.clone())?)?,
            };
            resource.seen = true;
            if let Err(e) = resource.round(root, host, started, space, &mut slots) {
                first_error.get_or_insert(e);
            }
        }
        // A directory gone is torn down (unless the listing was cut short); its slot is freed
        // once nothing of it runs.
        for slot in self.list.iter_mut() {
            let Some(resource) = slot else { continue };
            if resource.seen || listing.truncated {
                continue;
            }
            match resource.teardown() {
                Ok(()) if resource.lower.is_none() && resource.fetcher.is_none() => *slot = None,
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// This host's limit on concurrent full syncs, `defaults-<host>/sync-limit` (0: none;
    /// missing or deleted: none; malformed: none, reported once).
    fn sync_limit(&mut self, root: &PathBuf, host: &[u8]) -> u32 {
        let link = concat(b"defaults-", host)
            .and_then(|dir| root.child(&dir))
            .and_then(|dir| dir.child(b"sync-limit"))
            .and_then(|path| tree::read_link(&path));
        let Ok(link) = link else {
            return 0;
        };
        if link.value.as_slice() == DELETED.as_bytes() {
            return 0;
        }
        let parsed = core::str::from_utf8(&link.value)
            .ok()
            .and_then(parse_sync_limit);
        match parsed {
            Some(limit) => {
                self.bad_limit = None;
                limit
            }
            None => {
                if self.bad_limit.as_deref() != Some(link.value.as_slice()) {
                    pr_warn!(
                        "defaults-{}/sync-limit '{}' is no number from 0 to {}: no sync limit\n",
                        BStr::from_bytes(host),
                        BStr::from_bytes(&link.value),
                        MAX_SYNC_LIMIT
                    );
                    self.bad_limit = Some(link.value);
                }
                0
            }
        }
    }

    /// The registry the loggers started here go into.
    pub(super) fn set_loggers(&mut self, loggers: Arc<Loggers>) {
        self.loggers = Some(loggers);
    }

    fn add(&mut self, resource: Resource) -> Result<&mut Resource> {
        let index = match self.list.iter().position(Option::is_none) {
            Some(index) => index,
            None => {
                self.list.push(None, GFP_KERNEL)?;
                self.list.len() - 1
            }
        };
        let slot = self.list.get_mut(index).ok_or(EINVAL)?;
        Ok(slot.insert(resource))
    }

    /// Tears everything down (module unload: no device is open then).
    pub(super) fn shutdown(&mut self) {
        for slot in self.list.iter_mut() {
            let Some(resource) = slot.as_mut() else {
                continue;
            };
            if resource.teardown().is_err() {
                pr_err!("{}: cannot switch off at unload\n", resource.name());
            }
            // The indicators follow when /mars is still there.
            if resource.published {
                let _ = resource.publish(None);
            }
            *slot = None;
        }
    }
}
