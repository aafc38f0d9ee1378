// SPDX-License-Identifier: GPL-2.0
//! The trans_logger brick on a primary: every write becomes a record in the transaction log
//! before it is written back to the data device, so that the log is a complete, ordered
//! history of the device (what secondaries replay).
//!
//! Wiring: the if brick's input is connected to this brick's output; its data input is
//! connected to a bio brick on the data device; its log is a [`LogWriter`] on
//! `/mars/resource-<res>/log-N-<host>` (the original's aio brick on the log input).
//!
//! A write is cut into pieces of at most a page (`record_pieces`). The submitter (the if
//! brick's worker, on the CPU that submitted the request) copies each piece into the page that
//! becomes its shadow and computes the record digest ([`Queued::prepare`]): the per-byte work
//! runs on many CPUs, not on the one logger thread, and not under the batch lock. Those pages
//! are not counted in the shadow memory limit until the logger takes the write; they are
//! bounded by the if brick's queue depth. Then, under the logger's state lock and in queue
//! order, the submitter itself ([`TransLogger::append_queued`]; the logger thread only for
//! what is left, e.g. while writers are throttled) appends a record per piece to the open
//! batch of the log writer (a copy of the page and the header around it), tracks its log
//! position (`PositionTracker`) and indexes the shadow by device position: no hand-over to
//! the logger thread on the way to the log. The write is acknowledged as
//! `logger_completion_semantics` says: right after the copy, or when the writer reports its
//! last record durable (from the writer thread, which completes such writes directly).
//! Durable records are written back to the data device out of order, adjacent pieces
//! coalesced (up to 1 MiB per request), a piece only after every older piece overlapping it. The replay position (`min_pos`) advances as the oldest
//! pieces complete; the thread publishes it in `replay-<host>` (after flushing the data
//! device) at most every `logger_report_interval_s`. Reads see the newest data: pieces not
//! yet written back are copied over what the data device returns. Writers are throttled
//! (their requests wait in the queue) while the shadows exceed the memory limit
//! (`mem_limit_percent`, `mem_limit_gb`), the tracker or the writer's batch is full.
//!
//! Emergency mode (`/mars` full, research §8.1, `mars_core::emergency`): when the strategy asks
//! the logger to cease logging ([`TransLogger::set_cease`]), or the log writer fails (ENOSPC or
//! any other write error of the logfile), no write fails. The logger takes no new writes for a
//! moment, writes back everything in its shadows (also pieces whose records never became
//! durable), flushes the data device and acknowledges every write that waited for durability;
//! then it ends the logfile at its durable end (its final version link), makes the *hole*
//! (`version-(N+10)-<host>` = `000…0,log-(N+10)-<host>,0:` and the empty `log-(N+11)-<host>`)
//! and points the replay link at the start of that empty logfile, so that a crash recovery
//! replays nothing older over the data written meanwhile. From then on (*bypass*) every write
//! and flush goes to the data device directly and completes from there; reads never needed
//! the log. When the strategy lets it resume, the logger waits for the direct writes, flushes
//! the data device and starts logging into `log-(N+11)-<host>`, whose version link chains to
//! the hole's. `is-emergency` shows the whole period.
//!
//! Switching on recovers first (`logger::recovery`: replays what the replay link says may be
//! missing on the data device, starts a fresh logfile). Switching off stops accepting
//! requests, then the thread finishes everything queued, waits until the log is durable and
//! everything is written back, and publishes the final replay position.
//!
//! Contexts: `io` runs in the if brick's worker (process context) and appends writes under
//! the state lock; the logger thread does the rest of the bookkeeping under the same lock
//! (writeback, reports, rotation, emergency mode), which it releases while it waits;
//! completions of own requests only queue them for the thread; reads never take the state
//! lock and are completed (shadows copied) in the data device's completion context.
//!
//! Files: this one holds the brick and its output; `queue` what submitters, the thread and
//! the log writer share (the queue, acknowledgements, durable ends); `aspects` the requests
//! of its own over an application's pages (reads with shadows, bypass writes); `thread` the
//! logger thread and its state (logging, reaping, reports); `writeback`, `rotation` and
//! `emergency` the thread's other duties.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use self::emergency::{Barrier, Emergency};
use self::queue::{Core, EmergencyFlags};
use self::thread::{run, LogState, LoggerThread, Running, State};
use crate::brick::{Brick, Info, Input, MrefIo, Op, Output, Power};
use crate::kapi::kthread::KThread;
use crate::kapi::mm::{total_ram, NoIoScope};
use crate::knobs;
use crate::logger::links::ResourcePaths;
use crate::logger::own_io::Completions;
use crate::logger::recovery;
use crate::logger::ring::Ring;
use crate::logger::shadow::Index;
use crate::mars_core::logger::Rotation;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

mod aspects;
mod emergency;
mod queue;
mod rotation;
mod thread;
mod writeback;

/// Pieces logged and not yet written back, at most (the replay position tracker's ring).
const TRACKER_SLOTS: usize = 1 << 16;

/// Requests queued for the logger thread, and requests waiting for durability, at most. The
/// if brick above has far fewer in flight (its queue depth).
const QUEUE_CAPACITY: usize = 4096;

/// Writebacks (and flushes) in flight at once.
const WRITEBACK_IN_FLIGHT: usize = 128;

/// Pieces coalesced into one writeback at most.
const WRITEBACK_MAX_PIECES: usize = 256;

/// How long the idle thread sleeps before looking at its report interval again.
const IDLE_WAIT_MS: u32 = 500;

/// Number of statistics a logger publishes.
pub(crate) const STAT_COUNT: usize = 10;

/// Their names, as the test hook shows them.
pub(crate) const STAT_NAMES: [&str; STAT_COUNT] = [
    "log",
    "appended",
    "durable",
    "min_pos",
    "max_pos",
    "pending",
    "batches",
    "records",
    "writebacks",
    "replayed",
];

/// The trans_logger brick.
#[pin_data]
pub(crate) struct TransLogger {
    paths: ResourcePaths,
    power: Power,
    core: Arc<Core>,
    /// Accept a damaged log at recovery.
    force: AtomicBool,
    /// The running thread; the lock also serialises switching.
    #[pin]
    running: Mutex<Option<Running>>,
    /// The running thread's state, for submitters that log their writes themselves (set
    /// while the thread runs; submitters hold this lock while they append).
    #[pin]
    appender: Mutex<Option<Arc<LoggerThread>>>,
}

impl TransLogger {
    /// A trans_logger for the resource directory `dir` (`/mars/resource-<res>`) of host
    /// `host`, switched off, its data input unconnected.
    pub(crate) fn new(dir: &[u8], host: &[u8]) -> Result<Arc<Self>> {
        let paths = ResourcePaths::new(dir, host)?;
        let incoming = Ring::new(QUEUE_CAPACITY)?;
        let acks = Ring::new(QUEUE_CAPACITY)?;
        let completions = Completions::new(WRITEBACK_IN_FLIGHT)?;
        let core = Arc::pin_init(
            pin_init!(Core {
                data <- Input::new(),
                incoming <- kernel::new_mutex!(incoming, "mars_tl_incoming"),
                acks <- kernel::new_mutex!(acks, "mars_tl_acks"),
                index <- kernel::new_mutex!(Index::new(), "mars_tl_index"),
                completions,
                accepting: AtomicBool::new(false),
                incoming_pending: AtomicBool::new(false),
                durable: [const { AtomicU64::new(0) }; 2],
                durable_nr: [const { AtomicU32::new(0) }; 2],
                durable_changed: AtomicBool::new(false),
                log_failed: AtomicBool::new(false),
                em: EmergencyFlags {
                    cease: AtomicBool::new(false),
                    stopped: AtomicBool::new(false),
                    failures: AtomicU32::new(0),
                },
                abandon: AtomicBool::new(false),
                writeback_paused: AtomicBool::new(false),
                stats: [const { AtomicU64::new(0) }; STAT_COUNT],
            }),
            GFP_KERNEL,
        )?;
        Arc::pin_init(
            pin_init!(TransLogger {
                paths,
                power: Power::new(),
                core,
                force: AtomicBool::new(false),
                running <- kernel::new_mutex!(None, "mars_tl_running"),
                appender <- kernel::new_mutex!(None, "mars_tl_appender"),
            }),
            GFP_KERNEL,
        )
    }

    /// The data input (connect it to the data device's brick before switching on).
    pub(crate) fn data_input(&self) -> &Input {
        &self.core.data
    }

    /// Testing: on the next switch-off, forget everything not written back, as a crash would.
    #[cfg(mars_testing)]
    pub(crate) fn set_abandon(&self, abandon: bool) {
        self.core.abandon.store(abandon, Ordering::Release);
    }

    /// Testing: pause (or resume) writeback; written data stay in the shadows and the log.
    #[cfg(mars_testing)]
    pub(crate) fn set_writeback_paused(&self, paused: bool) {
        self.core.writeback_paused.store(paused, Ordering::Release);
        self.core.wake();
    }

    /// Accept a log damaged before its end at the next recovery.
    pub(crate) fn set_force(&self, force: bool) {
        self.force.store(force, Ordering::Release);
    }

    fn start(&self) -> Result<Running> {
        self.core.data.info()?;
        let start = recovery::recover(
            &self.paths,
            &self.core.data,
            self.force.load(Ordering::Acquire),
        )?;
        self.core.log_failed.store(false, Ordering::Release);
        self.core.em.cease.store(false, Ordering::Release);
        self.core.em.stopped.store(false, Ordering::Release);
        self.core.abandon.store(false, Ordering::Release);
        self.core.stats[stat::REPLAYED].store(start.replayed, Ordering::Relaxed);
        let mars_size = start.file.filesystem_size().unwrap_or(0);
        let mut log = LogState::start(&self.core, start.nr, start.file, start.prev_version)?;
        // Recovery pointed the replay link at this logfile's start.
        log.published_min = Some(0);
        let state = State {
            paths: self.paths.try_clone()?,
            log,
            old: None,
            rotation: Rotation::Single,
            rotation_checked_ms: 0,
            rotation_refused: false,
            mars_size,
            unstarted: Ring::new(TRACKER_SLOTS)?,
            next_seq: 1,
            ram: total_ram(),
            writeback_error: false,
            version_unavailable: false,
            emergency: Emergency::Off,
            barrier: Barrier::Idle,
            hole: None,
            held: None,
            emergency_error: None,
            resume_after_ms: 0,
        };
        let thread = Arc::pin_init(
            pin_init!(LoggerThread {
                core: self.core.clone(),
                state <- kernel::new_mutex!(state, "mars_tl_state"),
            }),
            GFP_KERNEL,
        )?;
        *self.appender.lock() = Some(thread.clone());
        let thread = match KThread::spawn(c_str!("mars_logger"), thread, run) {
            Ok(thread) => thread,
            Err(e) => {
                *self.appender.lock() = None;
                return Err(e);
            }
        };
        {
            let _incoming = self.core.incoming.lock();
            self.core.accepting.store(true, Ordering::Release);
        }
        Ok(Running { _thread: thread })
    }

    /// Logs what is queued in the submitter's context (one thread hand-over less per
    /// request: the log writer is woken by the append itself), as far as the logger takes
    /// writes now; what is left (throttled, emergency mode, switching) is the logger
    /// thread's, which is woken for it.
    fn append_queued(&self) {
        // Held throughout, so that switching off (which clears it) waits for us: once the
        // thread has stopped, no submitter touches its state.
        let appender = self.appender.lock();
        let Some(thread) = appender.as_ref() else {
            drop(appender);
            return self.core.kick();
        };
        // Allocations here must not recurse into block IO: it may be our own device.
        let _noio = NoIoScope::enter();
        let mut state = thread.state.lock();
        state.take_incoming(&self.core);
        let left = state.held.is_some() || !self.core.incoming.lock().is_empty();
        drop(state);
        drop(appender);
        if left {
            self.core.kick();
        }
    }

    /// The durable end of logfile `nr` while this logger writes it (for the log server,
    /// `logger::durable`).
    pub(crate) fn durable_end(&self, nr: u32) -> Option<u64> {
        self.core.durable_end(nr)
    }

    /// Asks the logger to stop logging (emergency mode) or allows it to log again.
    pub(crate) fn set_cease(&self, cease: bool) {
        if self.core.em.cease.swap(cease, Ordering::AcqRel) != cease {
            self.core.wake();
        }
    }

    /// How often logging stopped because the logfile failed (ENOSPC), since the logger was
    /// made; it only grows (wrapping).
    pub(crate) fn log_failures(&self) -> u32 {
        self.core.em.failures.load(Ordering::Acquire)
    }

    /// Whether logging has stopped (emergency mode, from ceasing until logging again).
    pub(crate) fn in_emergency(&self) -> bool {
        self.core.em.stopped.load(Ordering::Acquire)
    }

    /// One statistic by its name in [`STAT_NAMES`] (0 for an unknown name).
    pub(crate) fn stat(&self, name: &str) -> u64 {
        let stats = self.stats();
        STAT_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| stats.get(i).copied())
            .unwrap_or(0)
    }

    /// What the logger thread last published about itself.
    pub(crate) fn stats(&self) -> [u64; STAT_COUNT] {
        let mut out = [0; STAT_COUNT];
        for (o, s) in out.iter_mut().zip(self.core.stats.iter()) {
            *o = s.load(Ordering::Relaxed);
        }
        out
    }
}

impl Output for TransLogger {
    fn info(&self) -> Result<Info> {
        self.core.data.info()
    }

    fn io(&self, io: MrefIo) {
        match io.op() {
            Op::Read => self.core.read(io),
            Op::Write | Op::Flush => {
                if self.core.enqueue(io) {
                    self.append_queued();
                }
            }
        }
    }
}

impl Brick for TransLogger {
    fn power(&self) -> &Power {
        &self.power
    }

    fn switch(&self) -> Result {
        let mut running = self.running.lock();
        if self.power.button() {
            if self.power.led_on() {
                return Ok(());
            }
            self.power.set_led_off(false);
            match self.start() {
                Ok(started) => {
                    *running = Some(started);
                    self.power.set_led_on(true);
                    Ok(())
                }
                Err(e) => {
                    self.power.set_led_off(true);
                    Err(e)
                }
            }
        } else {
            if self.power.led_off() {
                return Ok(());
            }
            self.power.set_led_on(false);
            {
                let _incoming = self.core.incoming.lock();
                self.core.accepting.store(false, Ordering::Release);
            }
            *self.appender.lock() = None;
            // The thread finishes everything queued, then stops; the writer with it.
            drop(running.take());
            self.power.set_led_off(true);
            Ok(())
        }
    }
}

/// Index of each statistic in [`Core::stats`].
mod stat {
    pub(super) const LOG: usize = 0;
    pub(super) const APPENDED: usize = 1;
    pub(super) const DURABLE: usize = 2;
    pub(super) const MIN_POS: usize = 3;
    pub(super) const MAX_POS: usize = 4;
    pub(super) const PENDING: usize = 5;
    pub(super) const BATCHES: usize = 6;
    pub(super) const RECORDS: usize = 7;
    pub(super) const WRITEBACKS: usize = 8;
    pub(super) const REPLAYED: usize = 9;
}

/// Milliseconds of a monotonic clock.
fn now_ms() -> u64 {
    u64::try_from(kernel::time::Ktime::ktime_get().to_ms()).unwrap_or(0)
}

/// The report interval in milliseconds.
fn report_interval_ms() -> u64 {
    u64::try_from(knobs::LOGGER_REPORT_INTERVAL_S.get())
        .unwrap_or(2)
        .saturating_mul(1000)
}
