// SPDX-License-Identifier: GPL-2.0
//! /proc/sys/mars: the knobs, their defaults and bounds, and the special entries
//! (`version`, `lamport_clock`, `trigger`). Documentation/knobs.rst describes each one; change
//! both together.

use core::fmt;
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use crate::clock;
use crate::kapi::kthread::Wakeup;
use crate::kapi::socket::StreamTuning;
use crate::kapi::sysctl::{Registration, SysctlEntry};
use crate::mars_core::lamport::DEFAULT_MAX_FUTURE_SEC;
use crate::mars_core::text::parse_int;
use crate::mars_core::version::MODULE_VERSION;
use kernel::c_str;
use kernel::error::code::{EINVAL, EPERM};
use kernel::prelude::*;
use kernel::str::CStr;

/// A bounded integer tunable. Writes outside `[min, max]` or not a plain decimal number fail
/// with EINVAL and leave the value unchanged.
pub(crate) struct IntKnob {
    name: &'static CStr,
    value: AtomicI64,
    min: i64,
    max: i64,
}

impl IntKnob {
    const fn new(name: &'static CStr, default: i64, min: i64, max: i64) -> Self {
        IntKnob {
            name,
            value: AtomicI64::new(default),
            min,
            max,
        }
    }

    /// The current value (always within the knob's bounds).
    pub(crate) fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Sets the value; EINVAL (and no change) outside the bounds.
    fn set(&self, value: i64) -> Result {
        if value < self.min || value > self.max {
            return Err(EINVAL);
        }
        self.value.store(value, Ordering::Relaxed);
        Ok(())
    }
}

impl SysctlEntry for IntKnob {
    fn name(&self) -> &'static CStr {
        self.name
    }
    fn mode(&self) -> u16 {
        0o644
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.get())
    }
    fn store(&self, input: &[u8]) -> Result {
        self.set(parse_int(input).map_err(|_| EINVAL)?)
    }
}

/// Stamps further than this many seconds ahead of real time are not believed.
pub(crate) static MAX_LAMPORT_FUTURE: IntKnob = IntKnob::new(
    c_str!("max_lamport_future"),
    DEFAULT_MAX_FUTURE_SEC,
    1,
    10 * 365 * 24 * 3600,
);
// Log compression (issue 17; Documentation/knobs.rst).
/// Whether this host compresses log records when the cluster enabled log compression
/// (`/mars/defaults/enabled-log-compressions`): the original's `logger_allow_compress`.
pub(crate) static LOGGER_ALLOW_COMPRESS: IntKnob =
    IntKnob::new(c_str!("logger_allow_compress"), 1, 0, 1);
/// Deflate level of zlib log compression (the original's `zlib_compress_level`).
pub(crate) static ZLIB_COMPRESS_LEVEL: IntKnob =
    IntKnob::new(c_str!("zlib_compress_level"), 3, 1, 9);

/// Seconds between two scans of /mars by the strategy thread (sooner on trigger).
pub(crate) static SCAN_INTERVAL_SEC: IntKnob = IntKnob::new(c_str!("scan_interval_sec"), 5, 1, 300);

/// When the transaction logger acknowledges writes: 0 right after copying, 1 (the original's)
/// non-sync writes early and sync/FUA writes when their log record is durable, 2 every write
/// when durable, 3 (default, the block layer's rule) FUA writes when durable, the others early
/// (`mars_core::logger::CompletionSemantics`; flushes always wait).
pub(crate) static LOGGER_COMPLETION_SEMANTICS: IntKnob = IntKnob::new(
    c_str!("logger_completion_semantics"),
    crate::mars_core::logger::CompletionSemantics::DEFAULT.knob_value(),
    0,
    crate::mars_core::logger::CompletionSemantics::KNOB_MAX,
);
/// How the log writer makes a batch durable: 0 write-back only, 1 fdatasync, 2 fsync.
pub(crate) static AIO_SYNC_MODE: IntKnob = IntKnob::new(c_str!("aio_sync_mode"), 2, 0, 2);
/// Shadow memory of all transaction loggers together, in percent of the RAM ...
pub(crate) static MEM_LIMIT_PERCENT: IntKnob = IntKnob::new(
    c_str!("mem_limit_percent"),
    20,
    0,
    crate::mars_core::logger::MEM_LIMIT_PERCENT_MAX,
);
/// ... and at most this many GiB.
pub(crate) static MEM_LIMIT_GB: IntKnob = IntKnob::new(c_str!("mem_limit_gb"), 16, 1, 1 << 20);
/// Seconds between two updates of the replay and version links of a logging resource.
pub(crate) static LOGGER_REPORT_INTERVAL_S: IntKnob =
    IntKnob::new(c_str!("logger_report_interval_s"), 2, 1, 3600);
/// Parallel connections of a log fetch to one origin (port 7778); see
/// Documentation/knobs.rst. The upper bound is the socket slots of a network thread.
pub(crate) static LOG_FETCH_SOCKETS: IntKnob = IntKnob::new(
    c_str!("log_fetch_sockets"),
    2,
    1,
    crate::net::MAX_THREAD_SOCKETS as i64,
);
/// `network_io_timeout`: seconds a log fetch or a metadata pull waits for an answer of its
/// peer (and for the handshake) before it gives the connection up (0: for ever).
pub(crate) static NETWORK_IO_TIMEOUT: IntKnob =
    IntKnob::new(c_str!("network_io_timeout"), 15, 0, 86400);
/// `log_fetch_speed_limit_kib`: most KiB/s of logfile data this host's fetches receive, all
/// resources together (0: no limit).
pub(crate) static LOG_FETCH_SPEED_LIMIT_KIB: IntKnob =
    IntKnob::new(c_str!("log_fetch_speed_limit_kib"), 0, 0, 1 << 30);

/// Size of a logfile (GiB, further limited by the size of /mars) at which a primary starts the
/// next one; 0 = never.
pub(crate) static LOGROT_AUTO_GB: IntKnob = IntKnob::new(c_str!("logrot_auto_gb"), 32, 0, 1 << 20);

/// `required_free_space_<i>_mb`: the emergency thresholds of `/mars` in MiB, each at most 1/32
/// of its size (`mars_core::emergency`, Documentation/knobs.rst).
pub(crate) static REQUIRED_FREE_SPACE_1_MB: IntKnob = IntKnob::new(
    c_str!("required_free_space_1_mb"),
    crate::mars_core::emergency::DEFAULT_FREE_SPACE_MB,
    0,
    crate::mars_core::emergency::FREE_SPACE_MB_MAX,
);
/// See [`REQUIRED_FREE_SPACE_1_MB`].
pub(crate) static REQUIRED_FREE_SPACE_2_MB: IntKnob = IntKnob::new(
    c_str!("required_free_space_2_mb"),
    crate::mars_core::emergency::DEFAULT_FREE_SPACE_MB,
    0,
    crate::mars_core::emergency::FREE_SPACE_MB_MAX,
);
/// See [`REQUIRED_FREE_SPACE_1_MB`].
pub(crate) static REQUIRED_FREE_SPACE_3_MB: IntKnob = IntKnob::new(
    c_str!("required_free_space_3_mb"),
    crate::mars_core::emergency::DEFAULT_FREE_SPACE_MB,
    0,
    crate::mars_core::emergency::FREE_SPACE_MB_MAX,
);
/// See [`REQUIRED_FREE_SPACE_1_MB`].
pub(crate) static REQUIRED_FREE_SPACE_4_MB: IntKnob = IntKnob::new(
    c_str!("required_free_space_4_mb"),
    crate::mars_core::emergency::DEFAULT_FREE_SPACE_MB,
    0,
    crate::mars_core::emergency::FREE_SPACE_MB_MAX,
);
/// `logger_resume`: a primary that stopped logging in emergency mode starts again by itself
/// once the emergency is over (1), or stays without logging (0).
pub(crate) static LOGGER_RESUME: IntKnob = IntKnob::new(c_str!("logger_resume"), 1, 0, 1);
/// The emergency level of this host (0..4), as the strategy computed it last.
pub(crate) static EMERGENCY_LEVEL: AtomicI64 = AtomicI64::new(0);
static EMERGENCY_LEVEL_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("emergency_mode"),
    counter: &EMERGENCY_LEVEL,
};

// --- The original's knob names where ours differ (aliases; Documentation/knobs.rst) ---------

/// `required_free_space_<i>_gb`: the original's name of `required_free_space_<i>_mb`, in GiB.
/// Reads show the MiB value in whole GiB (rounded down); a write of N sets N * 1024 MiB
/// (EINVAL outside the MiB knob's range).
struct GbAlias {
    name: &'static CStr,
    mb: &'static IntKnob,
}

impl SysctlEntry for GbAlias {
    fn name(&self) -> &'static CStr {
        self.name
    }
    fn mode(&self) -> u16 {
        0o644
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.mb.get() / 1024)
    }
    fn store(&self, input: &[u8]) -> Result {
        let gb = parse_int(input).map_err(|_| EINVAL)?;
        self.mb.set(gb.checked_mul(1024).ok_or(EINVAL)?)
    }
}

static REQUIRED_FREE_SPACE_1_GB: GbAlias = GbAlias {
    name: c_str!("required_free_space_1_gb"),
    mb: &REQUIRED_FREE_SPACE_1_MB,
};
static REQUIRED_FREE_SPACE_2_GB: GbAlias = GbAlias {
    name: c_str!("required_free_space_2_gb"),
    mb: &REQUIRED_FREE_SPACE_2_MB,
};
static REQUIRED_FREE_SPACE_3_GB: GbAlias = GbAlias {
    name: c_str!("required_free_space_3_gb"),
    mb: &REQUIRED_FREE_SPACE_3_MB,
};
static REQUIRED_FREE_SPACE_4_GB: GbAlias = GbAlias {
    name: c_str!("required_free_space_4_gb"),
    mb: &REQUIRED_FREE_SPACE_4_MB,
};
/// `mars_emergency_mode`: the original's name of `emergency_mode` (read-only here too).
static MARS_EMERGENCY_MODE_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("mars_emergency_mode"),
    counter: &EMERGENCY_LEVEL,
};

// --- end of the aliases ---------------------------------------------------------------------

/// `do_fast_fullsync`: a full sync compares block digests and transfers only blocks that differ.
pub(crate) static DO_FAST_FULLSYNC: IntKnob = IntKnob::new(c_str!("do_fast_fullsync"), 1, 0, 1);
/// `sync_speed_limit_kib`: most KiB/s of data a full sync transfers (0: no limit).
pub(crate) static SYNC_SPEED_LIMIT_KIB: IntKnob =
    IntKnob::new(c_str!("sync_speed_limit_kib"), 0, 0, 1 << 30);
/// `sync_parallel`: reads a full sync keeps in flight.
pub(crate) static SYNC_PARALLEL: IntKnob = IntKnob::new(c_str!("sync_parallel"), 4, 1, 16);
/// `sync_sockets`: parallel connections of a full sync to the primary (port 7779); the upper
/// bound is the socket slots of a network thread.
pub(crate) static SYNC_SOCKETS: IntKnob = IntKnob::new(
    c_str!("sync_sockets"),
    2,
    1,
    crate::net::MAX_THREAD_SOCKETS as i64,
);

/// The original's `tcp_tuning_<n>_<role>_traffic/` directory of one port role: the IP type of
/// service and the TCP keepalive of its connections (applied to each new connection,
/// `crate::net`; Documentation/knobs.rst, "TCP tuning").
pub(crate) struct TcpTuning {
    dir: &'static CStr,
    ip_tos: IntKnob,
    keepidle: IntKnob,
    keepintvl: IntKnob,
    keepcnt: IntKnob,
}

impl TcpTuning {
    const fn new(dir: &'static CStr, ip_tos: i64) -> Self {
        TcpTuning {
            dir,
            ip_tos: IntKnob::new(c_str!("ip_tos"), ip_tos, 0, 255),
            // The kernel's bounds (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
            keepidle: IntKnob::new(c_str!("tcp_keepidle"), 4, 1, 32767),
            keepintvl: IntKnob::new(c_str!("tcp_keepintvl"), 3, 1, 32767),
            keepcnt: IntKnob::new(c_str!("tcp_keepcnt"), 3, 1, 127),
        }
    }

    /// The settings for a new connection now.
    pub(crate) fn stream(&self) -> StreamTuning {
        let int = |knob: &IntKnob| i32::try_from(knob.get()).unwrap_or(1);
        StreamTuning {
            ip_tos: int(&self.ip_tos),
            keepidle: int(&self.keepidle),
            keepintvl: int(&self.keepintvl),
            keepcnt: int(&self.keepcnt),
        }
    }
}

/// The TCP tuning of the metadata (port 7777, IPTOS_LOWDELAY), log fetch (7778,
/// IPTOS_RELIABILITY) and sync (7779, IPTOS_MINCOST) connections, indexed by `PortRole`, with
/// the original's defaults.
pub(crate) static TCP_TUNING: [TcpTuning; 3] = [
    TcpTuning::new(c_str!("mars/tcp_tuning_0_meta_traffic"), 0x10),
    TcpTuning::new(c_str!("mars/tcp_tuning_1_replication_traffic"), 0x04),
    TcpTuning::new(c_str!("mars/tcp_tuning_2_sync_traffic"), 0x02),
];

/// Bytes of block data this host's sync clients received (`sync_data_bytes`).
pub(crate) static SYNC_DATA_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes of block digests this host's sync clients received (`sync_sum_bytes`).
pub(crate) static SYNC_SUM_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes this host's sync clients wrote to their data devices (`sync_copied_bytes`; a zero
/// block counts here, though no data travelled for it).
pub(crate) static SYNC_COPIED_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes of the data device this host's sync server read for `SyncRead` (`sync_served_bytes`).
pub(crate) static SYNC_SERVED_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes of logfile data this host's log fetches received and appended (`log_fetch_bytes`).
pub(crate) static LOG_FETCH_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes of `LogData` frames this host received, header included, as they travelled
/// (compressed or not): `log_fetch_wire_bytes`.
pub(crate) static LOG_FETCH_WIRE_BYTES: AtomicI64 = AtomicI64::new(0);
/// Bytes of `SyncData` frames this host received, header included, as they travelled
/// (compressed or not): `sync_wire_bytes`.
pub(crate) static SYNC_WIRE_BYTES: AtomicI64 = AtomicI64::new(0);
/// Connections this host's sync clients hold open now (`sync_connections`).
pub(crate) static SYNC_CONNECTIONS: AtomicI64 = AtomicI64::new(0);
/// Entries of peers' trees the merge rules refused (`net_refused_entries`).
pub(crate) static NET_REFUSED_ENTRIES: AtomicI64 = AtomicI64::new(0);
/// Connections this host's servers refused: over a connection cap, or answered with a
/// refusal in the handshake (`net_refused_connections`).
pub(crate) static NET_REFUSED_CONNECTIONS: AtomicI64 = AtomicI64::new(0);

/// A read-only counter in /proc/sys/mars.
struct CounterEntry {
    name: &'static CStr,
    counter: &'static AtomicI64,
}

impl SysctlEntry for CounterEntry {
    fn name(&self) -> &'static CStr {
        self.name
    }
    fn mode(&self) -> u16 {
        0o444
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.counter.load(Ordering::Relaxed))
    }
    fn store(&self, _input: &[u8]) -> Result {
        Err(EPERM)
    }
}

static SYNC_DATA_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("sync_data_bytes"),
    counter: &SYNC_DATA_BYTES,
};
static SYNC_SUM_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("sync_sum_bytes"),
    counter: &SYNC_SUM_BYTES,
};
static SYNC_COPIED_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("sync_copied_bytes"),
    counter: &SYNC_COPIED_BYTES,
};
static SYNC_SERVED_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("sync_served_bytes"),
    counter: &SYNC_SERVED_BYTES,
};
static LOG_FETCH_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("log_fetch_bytes"),
    counter: &LOG_FETCH_BYTES,
};
static LOG_FETCH_WIRE_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("log_fetch_wire_bytes"),
    counter: &LOG_FETCH_WIRE_BYTES,
};
static SYNC_WIRE_BYTES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("sync_wire_bytes"),
    counter: &SYNC_WIRE_BYTES,
};
static SYNC_CONNECTIONS_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("sync_connections"),
    counter: &SYNC_CONNECTIONS,
};
static NET_REFUSED_ENTRIES_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("net_refused_entries"),
    counter: &NET_REFUSED_ENTRIES,
};
static NET_REFUSED_CONNECTIONS_ENTRY: CounterEntry = CounterEntry {
    name: c_str!("net_refused_connections"),
    counter: &NET_REFUSED_CONNECTIONS,
};

/// Bytes of shadow memory held by all transaction loggers (shown as `logger_mem_used_kb`).
pub(crate) static LOGGER_MEM_USED: AtomicI64 = AtomicI64::new(0);

/// Bytes of zeros the log writers keep written ahead of their records (`rust/logger/
/// log_writer.rs`): used on the filesystem, yet free for the log; the emergency levels count
/// them as free space.
pub(crate) static LOG_ZEROS_AHEAD: AtomicI64 = AtomicI64::new(0);

/// `logger_mem_used_kb` (read-only): [`LOGGER_MEM_USED`] in KiB.
struct LoggerMemUsedEntry;

impl SysctlEntry for LoggerMemUsedEntry {
    fn name(&self) -> &'static CStr {
        c_str!("logger_mem_used_kb")
    }
    fn mode(&self) -> u16 {
        0o444
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", LOGGER_MEM_USED.load(Ordering::Relaxed) / 1024)
    }
    fn store(&self, _input: &[u8]) -> Result {
        Err(EPERM)
    }
}

/// `version` (read-only): the module's version.
struct VersionEntry;

impl SysctlEntry for VersionEntry {
    fn name(&self) -> &'static CStr {
        c_str!("version")
    }
    fn mode(&self) -> u16 {
        0o444
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "mars-rust {}", MODULE_VERSION)
    }
    fn store(&self, _input: &[u8]) -> Result {
        Err(EPERM)
    }
}

/// `lamport_clock` (read-only): real time, Lamport time and read count, as the original.
struct LamportClockEntry;

impl SysctlEntry for LamportClockEntry {
    fn name(&self) -> &'static CStr {
        c_str!("lamport_clock")
    }
    fn mode(&self) -> u16 {
        0o444
    }
    fn read_started(&self) {
        clock::count_proc_read();
    }
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        clock::write_proc_text(out)
    }
    fn store(&self, _input: &[u8]) -> Result {
        Err(EINVAL)
    }
}

/// Trigger bits not yet consumed by the strategy thread (1 local scan, 2 also pull from
/// peers, 4 also notify peers, 8 notify all, 16 full fetch), as in the original.
pub(crate) static PENDING_TRIGGER: AtomicU32 = AtomicU32::new(0);
/// Where the strategy thread sleeps between rounds; [`trigger`] wakes it. Initialised at load.
pub(crate) static TRIGGER_WAKEUP: Wakeup = Wakeup::new();

/// Trigger bit: a local round.
pub(crate) const TRIGGER_LOCAL: u32 = 1;

/// Asks the strategy thread for a round now, with the given trigger bits. Any context.
pub(crate) fn trigger(bits: u32) {
    PENDING_TRIGGER.fetch_or(bits, Ordering::Release);
    TRIGGER_WAKEUP.wake();
}
/// Trigger bit of a round that a peer's `Notify` asked for (internal, above what
/// /proc/sys/mars/trigger accepts): such a round does not notify the peers in turn.
pub(crate) const TRIGGER_FROM_PEER: u32 = 32;
/// Largest trigger code accepted.
const TRIGGER_MAX: i64 = 31;

/// `trigger` (write-only): asks the strategy thread for an immediate round.
struct TriggerEntry;

impl SysctlEntry for TriggerEntry {
    fn name(&self) -> &'static CStr {
        c_str!("trigger")
    }
    fn mode(&self) -> u16 {
        0o200
    }
    fn show(&self, _out: &mut dyn fmt::Write) -> fmt::Result {
        Err(fmt::Error)
    }
    fn store(&self, input: &[u8]) -> Result {
        let code = parse_int(input).map_err(|_| EINVAL)?;
        let bits = u32::try_from(code)
            .ok()
            .filter(|&c| (1..=TRIGGER_MAX).contains(&i64::from(c)));
        trigger(bits.ok_or(EINVAL)?);
        Ok(())
    }
}

/// The registered /proc/sys/mars and its subdirectories; unregistered on drop (the
/// subdirectories first).
pub(crate) struct Sysctl {
    _tcp_tuning: KVec<Registration>,
    _mars: Registration,
}

/// Creates /proc/sys/mars with every entry and its `tcp_tuning_*` subdirectories (and readies
/// the trigger's wake-up first).
pub(crate) fn register() -> Result<Sysctl> {
    TRIGGER_WAKEUP.init();
    let mars = register_top()?;
    let mut tcp_tuning = KVec::with_capacity(TCP_TUNING.len(), GFP_KERNEL)?;
    for tuning in TCP_TUNING.iter() {
        let entries: [&'static dyn SysctlEntry; 4] = [
            &tuning.ip_tos,
            &tuning.keepidle,
            &tuning.keepintvl,
            &tuning.keepcnt,
        ];
        tcp_tuning.push(Registration::register(tuning.dir, &entries)?, GFP_KERNEL)?;
    }
    Ok(Sysctl {
        _tcp_tuning: tcp_tuning,
        _mars: mars,
    })
}

/// Creates /proc/sys/mars with every entry.
fn register_top() -> Result<Registration> {
    Registration::register(
        c_str!("mars"),
        &[
            &VersionEntry,
            &LamportClockEntry,
            &TriggerEntry,
            &MAX_LAMPORT_FUTURE,
            &SCAN_INTERVAL_SEC,
            &LOGGER_COMPLETION_SEMANTICS,
            &AIO_SYNC_MODE,
            &MEM_LIMIT_PERCENT,
            &MEM_LIMIT_GB,
            &LOGGER_REPORT_INTERVAL_S,
            &LOGROT_AUTO_GB,
            &LOG_FETCH_SOCKETS,
            &LOG_FETCH_SPEED_LIMIT_KIB,
            &NETWORK_IO_TIMEOUT,
            &LoggerMemUsedEntry,
            &DO_FAST_FULLSYNC,
            &SYNC_SPEED_LIMIT_KIB,
            &SYNC_PARALLEL,
            &SYNC_SOCKETS,
            &REQUIRED_FREE_SPACE_1_MB,
            &REQUIRED_FREE_SPACE_2_MB,
            &REQUIRED_FREE_SPACE_3_MB,
            &REQUIRED_FREE_SPACE_4_MB,
            &LOGGER_RESUME,
            &LOGGER_ALLOW_COMPRESS,
            &ZLIB_COMPRESS_LEVEL,
            &EMERGENCY_LEVEL_ENTRY,
            &REQUIRED_FREE_SPACE_1_GB,
            &REQUIRED_FREE_SPACE_2_GB,
            &REQUIRED_FREE_SPACE_3_GB,
            &REQUIRED_FREE_SPACE_4_GB,
            &MARS_EMERGENCY_MODE_ENTRY,
            &SYNC_DATA_BYTES_ENTRY,
            &SYNC_SUM_BYTES_ENTRY,
            &SYNC_COPIED_BYTES_ENTRY,
            &SYNC_SERVED_BYTES_ENTRY,
            &SYNC_CONNECTIONS_ENTRY,
            &LOG_FETCH_BYTES_ENTRY,
            &LOG_FETCH_WIRE_BYTES_ENTRY,
            &SYNC_WIRE_BYTES_ENTRY,
            &NET_REFUSED_ENTRIES_ENTRY,
            &NET_REFUSED_CONNECTIONS_ENTRY,
            #[cfg(mars_testing)]
            &crate::testing::PassthroughEntry,
            #[cfg(mars_testing)]
            &crate::testing_logger::LoggerEntry,
        ],
    )
}
