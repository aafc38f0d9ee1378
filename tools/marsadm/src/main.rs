// SPDX-License-Identifier: GPL-2.0
//! marsadm: the operator's tool for MARS.
//!
//! marsadm never talks to the kernel directly except through the `/mars` symlink tree and
//! `/proc/sys/mars`: it writes links (temporary name, Lamport mtime, rename, trigger) and reads
//! the kernel's indicators back. Each command group lives in its own file; `tree_io` is the
//! only writer of the tree's links (`secret` writes the one hidden file, `/mars/.secret`).

mod cmd_cluster;
mod cmd_connect_pref;
mod cmd_cron;
mod cmd_drbd;
mod cmd_emergency;
mod cmd_expert;
mod cmd_features;
mod cmd_guest;
mod cmd_log;
mod cmd_log_dump;
mod cmd_member;
mod cmd_merge;
mod cmd_notyet;
mod cmd_pause;
mod cmd_replay;
mod cmd_resize;
mod cmd_resource;
mod cmd_role;
mod cmd_switch;
mod cmd_sync;
mod cmd_sync_limit;
mod cmd_systemd;
mod cmd_wait;
mod ctx;
mod events;
mod fail;
mod macros;
mod model;
mod prometheus;
mod res_list;
mod secret;
mod systemd_ctl;
mod systemd_template;
mod systemd_trigger;
mod systemd_units;
mod tree_io;

use clap::{Parser, Subcommand};
use ctx::{Ctx, Needs, Options};
use fail::{CmdResult, Fail};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Exit status of the tree commands: 0 done; 1 refused or failed, the tree is unchanged; 2 bad
usage; 3 the links are written but the kernel has not confirmed within --timeout.

Environment (for testing only): MARS_ROOT replaces /mars (and skips the checks that only make
sense for the real /mars: mount point, owner, root user; a regular file may then stand in for a
block device), MARS_PROC replaces /proc/sys/mars, MARS_HOST replaces the node name.

Environment of view-<macro>: MARS_PATH (macro file search path, colon-separated), ETC_MARSADM.

Environment of the systemd commands: MARS_PATH (template search path, colon-separated),
SYSTEMD_TARGET_DIR (where units are generated, /run/systemd/system), MARS_SCRIPT_DIR (where
.script pseudo-units go, /etc/marsadm/systemd-generated-scripts), MARS_LOCK_DIR (the trigger's
locks, /run/lock/marsadm), MARS_SYSTEMCTL (the systemctl program, for tests). See
Documentation/systemd.rst.

See marsadm(8) (Documentation/marsadm.8.rst) and Documentation/admin-guide.rst.";

/// Administration tool for MARS replicated block devices.
#[derive(Parser)]
#[command(name = "marsadm", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options accepted by every command, before or after it.
#[derive(clap::Args)]
struct GlobalArgs {
    /// Skip safety checks (and do not wait for the kernel). Dangerous: try --dry-run first.
    #[arg(long, short = 'f', global = true)]
    force: bool,
    /// Do not modify the tree; tell what would be written.
    #[arg(long, short = 'd', global = true)]
    dry_run: bool,
    /// Tell every link written and the Lamport time used.
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Seconds to wait for the kernel to follow a switch; -1 waits forever.
    #[arg(
        long,
        global = true,
        default_value_t = 600,
        allow_negative_numbers = true,
        value_name = "SECONDS"
    )]
    timeout: i64,
    /// Seconds within which a stamp counts as recent (logfiles younger than twice this are
    /// kept; the kernel counts as alive when it reported within twice this).
    #[arg(long, global = true, default_value_t = 60, value_name = "SECONDS")]
    window: u64,
    /// With a list of resources or `all`: work on up to N resources at once (all without N).
    #[arg(
        long,
        global = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "0",
        value_name = "N"
    )]
    parallel: Option<usize>,
    /// Ask on the terminal before each step of the command (each batch of links written and
    /// each wait): a debugging aid. Turns off --parallel (the later of the two wins).
    #[arg(long, global = true)]
    singlestep: bool,
    /// Act as if on cluster member HOST: commands that only read (view, show, wait-*, get-*)
    /// show what this host knows of HOST; commands that change the tree are refused (a
    /// host's keys are taken from that host only) unless with --dry-run.
    #[arg(long = "host", id = "acting_host", global = true, value_name = "HOST")]
    host: Option<String>,
    /// This host's address (create-cluster, join-cluster, lowlevel-set-host-ip); as
    /// --ip-<host>=ADDRESS. --ip-<peer>=ADDRESS gives the address of <peer> (join-cluster,
    /// merge-cluster, merge-cluster-check, lowlevel-set-host-ip), in place of the tree or
    /// name resolution.
    #[arg(long = "ip", id = "global_ip", global = true, value_name = "ADDRESS")]
    ip: Option<String>,
    /// primary: hand over even while another member (not this host) still syncs.
    #[arg(long, global = true)]
    ignore_sync: bool,
    /// Bytes below which progress counts as reached (view macros `*-threshold-reached`,
    /// `default`); a number with an optional suffix k, m, g, t, p (powers of 1000) or K, M, G,
    /// T, P (powers of 1024).
    #[arg(long, global = true, default_value = "10M", value_parser = parse_threshold, value_name = "BYTES")]
    threshold: u64,
    /// Seconds of silence after which view macros warn about a stuck fetch or replay.
    #[arg(long, global = true, default_value_t = 3600, value_name = "SECONDS")]
    stuck_seconds: u64,
    /// The syslog messenger: every command but view, version and log-dump logs its command
    /// line and its outcome with `PATH -t marsadm`; empty: no syslog. Default /usr/bin/logger
    /// when it exists (not with MARS_ROOT set, in tests).
    #[arg(long, global = true, value_name = "PATH")]
    logger: Option<String>,
    /// Accepted for the original's scripts and ignored: marsadm never uses ssh or rsync.
    #[arg(long, global = true)]
    no_ssh: bool,
    /// Accepted and ignored (see --no-ssh).
    #[arg(long, global = true, value_name = "PORT")]
    ssh_port: Option<u16>,
    /// Accepted and ignored (see --no-ssh).
    #[arg(
        long,
        global = true,
        value_name = "OPTIONS",
        allow_hyphen_values = true
    )]
    ssh_opts: Option<String>,
    /// Accepted and ignored, as by the original (obsolete).
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    max_deletions: Option<i64>,
}

/// `--threshold`: a size as the original's `get_size` takes it (a fraction is allowed).
fn parse_threshold(arg: &str) -> Result<u64, String> {
    let bad = || {
        format!("'{arg}' must be a number, optionally followed by a suffix [kKmMgGtTpP] (lowercase: powers of 1000, uppercase: powers of 1024)")
    };
    let (number, unit) = match arg.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&arg[..i], Some(c)),
        _ => (arg, None),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let power = match unit.map(|c| c.to_ascii_lowercase()) {
        None => 0,
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some('p') => 5,
        Some(_) => return Err(bad()),
    };
    let base: u128 = if unit.is_some_and(|c| c.is_ascii_uppercase()) {
        1024
    } else {
        1000
    };
    let factor = base.pow(power);
    let int: u128 = int.parse().map_err(|_| bad())?;
    let mut value = int.checked_mul(factor).ok_or_else(bad)?;
    if !frac.is_empty() {
        let digits = frac.len().min(18) as u32;
        let frac: u128 = frac[..digits as usize].parse().map_err(|_| bad())?;
        value = value
            .checked_add(frac.saturating_mul(factor) / 10u128.pow(digits))
            .ok_or_else(bad)?;
    }
    u64::try_from(value).map_err(|_| bad())
}

#[derive(Subcommand)]
enum Command {
    /// Create a new cluster with this host as its first member (once per cluster).
    ///
    /// Writes uuid (<host>_<lamport time>), ips/ip-<host>, defaults-<host>/sync-limit (0) and
    /// sync-pref-list ((none)), actual-<host>/marsadm-version, and the directories ips,
    /// defaults, defaults-<host>, todo-global, userspace, actual-<host>, and the cluster
    /// secret /mars/.secret (mode 0600; from --secret-file, else 32 random bytes). Copy that
    /// file to every host that joins. Refused when the cluster or a secret exists. /mars must
    /// be mounted.
    CreateCluster(cmd_cluster::CreateClusterArgs),
    /// Become a member of the cluster that <PEER> belongs to (the module must be loaded).
    ///
    /// Needs --secret-file=FILE, a copy of a member's /mars/.secret: checks it against <PEER>
    /// first (an authenticated handshake on its port 7777; a wrong secret changes nothing),
    /// then writes /mars/.secret, and uuid = (any), ips/ip-<host> and ips/ip-<peer> with the
    /// preliminary stamp 1970+1 s,
    /// waits until the kernel has pulled the cluster's uuid from the peer, then stamps
    /// ips/ip-<host> anew so that the peer learns this host. Refused when this host already
    /// belongs to a cluster, and (writing nothing) when nothing answers at the peer's address
    /// or it is this host's own; when no uuid arrives within --timeout, the links are removed
    /// again (exit 1). /mars must be mounted.
    JoinCluster(cmd_cluster::JoinClusterArgs),
    /// Stop being a member of the cluster: deletes ips/ip-<host> (the uuid stays).
    ///
    /// Refused while this host is member of a resource (data-<host> or device-<host>).
    LeaveCluster,
    /// Ask every peer for news and wait until each one has done a round since and its
    /// heartbeat arrived here (actual-<peer>/time), within --timeout.
    ///
    /// With RES: only the other members of that resource (data- or device- link).
    #[command(visible_alias = "wait-connect")]
    WaitCluster(cmd_cluster::WaitClusterArgs),
    /// Merge the cluster that <PEER> belongs to with this one (same cluster secret needed).
    ///
    /// Checks first, over an authenticated session with <PEER> (as merge-cluster-check).
    /// With the same cluster uuid on both sides it writes the addresses of the peer's
    /// members unknown here and asks every peer for news. With different uuids it refuses:
    /// the kernels exchange nothing across cluster uuids, and a host keeps its uuid.
    MergeCluster(cmd_merge::MergeArgs),
    /// Check whether the cluster of <PEER> could be merged: print both uuids and every
    /// resource name found in both clusters (exit 1 if any). Writes nothing.
    MergeClusterCheck(cmd_merge::MergeArgs),
    /// Print this host's cluster uuid, its address links and its resource directories.
    MergeClusterList,
    /// Deprecated, for experts: print the groups of members that share resources; refused
    /// when there is more than one (each host's address is taken from that host only, so no
    /// host can remove the others' addresses).
    SplitCluster,
    /// Make resource <RES> known here: as update-cluster, then succeed when it is known.
    ///
    /// Writes nothing: every host receives every resource's links anyway (the original's
    /// guest link device-<host> would mean membership here).
    ActivateGuest(cmd_switch::ResArgs),
    /// Stop being a guest of <RES>: deletes device-<host> left by the original's
    /// activate-guest; refused on a storage member (data-<host> or replay-<host>).
    DeactivateGuest(cmd_switch::ResArgs),
    /// Fetch the links of every member now: as wait-cluster (it asks every peer for news and
    /// waits, within --timeout, until each one's heartbeat arrived since). RES is checked,
    /// then every peer is asked, as in the original.
    UpdateCluster(cmd_expert::ShowArgs),
    /// Expert: write one link (VALUE, PATH below /mars) with the current Lamport time.
    SetLink(cmd_cluster::SetLinkArgs),
    /// Expert: print the value of one link (PATH below /mars; `.deleted` for a deleted key).
    GetLink(cmd_expert::GetLinkArgs),
    /// VERY dangerous, for experts: delete keys (write the tombstone, which spreads to the
    /// peers). Only below userspace/ (of the cluster or a resource) unless --force.
    DeleteFile(cmd_expert::PathsArgs),
    /// Print files or links below /mars with Lamport stamps as UTC times and negative error
    /// codes after `error`/`status` with their names.
    Cat(cmd_expert::PathsArgs),
    /// Deprecated (use view macros): this host's links of the resources, <path>=<value>.
    Show(cmd_expert::ShowArgs),
    /// Deprecated: print the kernel's error and warning messages of a resource here
    /// (actual-<host>/msg-err-*, msg-warn-*); exit 1 when there are some.
    ShowErrors(cmd_switch::ResArgs),
    /// Deprecated: one line of state (is_primary, becoming_primary, secondary
    /// inconsistent/uptodate/outdated) of this host or PEER.
    #[command(visible_alias = "mars-state")]
    ShowState(cmd_expert::ShowStateArgs),
    /// Deprecated: the kernel's indicators of a resource here (actual-<host>/), name=value.
    #[command(visible_alias = "mars-info")]
    ShowInfo(cmd_switch::ResArgs),
    /// Delete this host's error messages of a resource (actual-<host>/msg-err-*).
    ErrPurgeAll(cmd_switch::ResArgs),
    /// Collect the deleted links (tombstones) every peer has seen, at the top of the tree and
    /// in the resource (as cron does).
    LinkPurgeAll(cmd_switch::ResArgs),
    /// Deprecated: write the cluster uuid where a very old tree has none (never replaces one).
    CreateUuid,
    /// Print "<host> <address>" of every member (ips/ip-*).
    LowlevelLsHostIps,
    /// Set this host's address (default: as create-cluster finds it), or the first address of
    /// a host not known here. A known peer's address is refused: it is the peer's own.
    LowlevelSetHostIp(cmd_expert::SetHostIpArgs),
    /// Delete this host's address (as leave-cluster, with its guards); another host's is
    /// refused: its peers refuse a deletion from here.
    LowlevelDeleteHost(cmd_expert::DeleteHostArgs),
    /// Dangerous: declare this host's disk in sync without copying (syncstatus = size).
    ///
    /// Switches the sync off (todo-<host>/sync = 0; it stays off), waits until it stopped,
    /// then writes syncstatus-<host> = size. Only for disks known to be equal.
    FakeSync(cmd_switch::ResArgs),
    /// VERY dangerous: restart this host's replay at the start of the designated primary's
    /// logfile NR (a secondary with the replay paused and stopped; a larger NR than the
    /// current one needs --force).
    ///
    /// Writes replay-<host> = log-<NR>-<primary>,0,0, the primary's version links of NR and
    /// NR-1 as this host's, and skip-check-<host> = NR.
    SetReplay(cmd_replay::SetReplayArgs),
    /// Wait (--timeout) until a switch or indicator of this host has a value, e.g.
    /// `attach-off`, `fetch`, `is-replaying`, `is-device-off` (see marsadm(8)).
    WaitResource(cmd_wait::WaitResourceArgs),
    /// Wait (--timeout) until /dev/mars/<name> is not open on this host any more.
    WaitUmount(cmd_switch::ResArgs),
    /// Create a new resource on an existing disk, with this host as primary.
    ///
    /// The disk's data become the resource's data; /dev/mars/<device-name> appears on this
    /// host once the kernel attaches it. Checks first, writes nothing unless all pass: the
    /// name is valid and not reserved, the device exists, is a block device, can be opened
    /// exclusively (not mounted or otherwise in use), is larger than 64 KiB, and no host is a
    /// member of a resource of that name yet. Then writes resource-<res>/ with size, primary,
    /// data-<host>, device-<host>, replay-<host>, the first (empty) logfile, its version
    /// links, maxnr, syncstatus-<host>, actual-<host>/if-on = 0 and the switches
    /// todo-<host>/{connect,sync,allow-replay} = 1, todo-<host>/attach = 1 last.
    CreateResource(cmd_resource::CreateResourceArgs),
    /// Join an existing resource as a secondary; a full sync from the primary follows.
    ///
    /// Writes data-<host>, device-<host>, replay-<host> (the start of the primary's oldest
    /// logfile known here, <n>), version-<n>- and version-<n-1>-<host> (the primary's),
    /// syncstatus-<host> = 0 and the switches; the kernel then copies the
    /// primary's device (fast full sync: only blocks whose checksums differ) and replays the
    /// log once the sync finished.
    JoinResource(cmd_resource::JoinResourceArgs),
    /// Stop being a member of a resource (as a secondary, after `down`).
    ///
    /// Refused on the actual or designated primary, while a switch in todo-<host>/ is on or
    /// the kernel reports an activity (run `down` first), and when this host is no member.
    /// Deletes (tombstones, which the peers pull) replay-, data-, device-, syncstatus-,
    /// syncpos-, skip-check-, verifystatus-, actsize-<host>, every link in todo-, actual-,
    /// defaults-, local-<host>/, this host's version links and logfiles no other member needs,
    /// and unlinks the local copies of other hosts' logfiles. The disk keeps its data.
    LeaveResource(cmd_switch::ResArgs),
    /// Dangerous: delete a resource every member has left, on every host.
    ///
    /// Refused while any host has a data-, device- or replay- link in it (--force trashes it
    /// anyway). Deletes every link and logfile of resource-<res>/ except maxnr.
    DeleteResource(cmd_switch::ResArgs),
    /// Give up this host's data and history; copy the primary's device again (secondary only).
    ///
    /// Resolves a split brain on the side whose writes are discarded, and emergency mode.
    /// Switches attach, fetch, sync and replay off and waits until the kernel stopped them;
    /// then writes syncstatus-<host> = 0, replay-<host> = start of the primary's current
    /// logfile <n>, version-<n>- and version-<n-1>-<host> = the primary's, skip-check-<host>,
    /// and deletes this host's version links above <n>, its logfiles and links no history
    /// needs (as log-purge-all; its own logfiles numbered <n> or higher however recent) and
    /// actual-<host>/msg-err-*; then switches everything on: a fast full sync and the replay
    /// of the primary's logfiles follow. Refused (nothing written) on the designated or actual
    /// primary, without a designated primary, while it is unreachable, in emergency mode or
    /// not logging yet, or while its replay link has not arrived here.
    Invalidate(cmd_switch::ResArgs),
    /// Set this host's emergency limit of a resource (todo-<host>/emergency-limit, 0..100).
    ///
    /// When the free space of /mars (after the emergency thresholds, see
    /// /proc/sys/mars/required_free_space_*_mb) falls below this percentage of /mars, the
    /// resource goes into emergency mode here before /mars is full: as primary it stops
    /// logging, its secondaries stop at a hole. 0 (default) switches the limit off.
    #[command(visible_alias = "emergency-limit")]
    SetEmergencyLimit(cmd_emergency::SetLimitArgs),
    /// Print this host's emergency limit of a resource in percent (0: off).
    GetEmergencyLimit(cmd_switch::ResArgs),
    /// Tell the whole cluster which compressions to use for logfiles
    /// (defaults/enabled-log-compressions).
    ///
    /// FEATURES: COMPRESS_LZO, COMPRESS_LZ4, COMPRESS_ZLIB (or the original's numbers), separated
    /// by |; empty: off (the default). Each host with /proc/sys/mars/logger_allow_compress = 1
    /// compresses the records it logs from its next strategy round on with the first of
    /// LZO, LZ4, zlib in the list, keeping a record compressed only when that pays off;
    /// actual-<host>/used-log-compression shows what it used last. Every host must read the
    /// algorithm (this one reads all three).
    SetGlobalEnabledLogCompressions(cmd_features::FeaturesArgs),
    /// Tell the whole cluster which compressions to use on the network for logfile fetch and
    /// full sync data (defaults/enabled-net-compressions).
    ///
    /// FEATURES as for set-global-enabled-log-compressions; empty: off (the default). Both
    /// ends of each new log fetch (port 7778) and sync (port 7779) connection agree on the
    /// enabled compressions every host offers; the sending host compresses each data frame
    /// with the first of LZO, LZ4, zlib agreed, keeping it compressed only when that pays off.
    /// actual-<host>/used-net-compression shows what a host used last. Running log fetches
    /// and syncs connect anew to agree on the new setting.
    SetGlobalEnabledNetCompressions(cmd_features::FeaturesArgs),
    /// Tell the whole cluster which digests not to use for logfiles
    /// (defaults/disabled-log-digests).
    ///
    /// FEATURES: CHKSUM_CRC32C, CHKSUM_CRC32, CHKSUM_MD5, CHKSUM_SHA1, CHKSUM_MD5_OLD,
    /// separated by |; empty: none disabled (the default). Each host logs with the first of
    /// CRC32C, CRC32, MD5, SHA1 that every host offers and the list does not disable; with all
    /// disabled, plain MD5 (as the original). actual-<host>/used-log-digest shows it.
    SetGlobalDisabledLogDigests(cmd_features::DigestsArgs),
    /// Tell the whole cluster which digests not to use for fast full sync
    /// (defaults/disabled-net-digests).
    ///
    /// FEATURES as for set-global-disabled-log-digests. Both ends of a sync connection agree
    /// on the first of CRC32C, CRC32, MD5, SHA1, MD5_OLD that both offer and neither has
    /// disabled; MD5_OLD cannot be disabled. actual-<host>/used-net-digest shows it.
    SetGlobalDisabledNetDigests(cmd_features::DigestsArgs),
    /// Pause the full sync here (todo-<host>/sync = 0) and wait until it stopped; its progress
    /// is kept in syncstatus-<host>.
    #[command(visible_alias = "pause-sync-local")]
    PauseSync(cmd_switch::ResArgs),
    /// Resume the full sync here (todo-<host>/sync = 1); it continues at syncstatus-<host>.
    #[command(visible_alias = "resume-sync-local")]
    ResumeSync(cmd_switch::ResArgs),
    /// Attach the local disk to the resource (todo-<host>/attach = 1) and wait until the
    /// kernel reports it attached.
    Attach(cmd_switch::ResArgs),
    /// Detach the local disk (todo-<host>/attach = 0) and wait until the kernel released it.
    ///
    /// Refused while /dev/mars/<name> is open. On the primary /dev/mars/<name> disappears.
    Detach(cmd_switch::ResArgs),
    /// Start the resource here: attach, fetch, sync and replay on (todo-<host>/*), then wait
    /// until the disk is attached.
    Up(cmd_switch::ResArgs),
    /// Stop the resource here: replay, sync, fetch off and detach, then wait until the kernel
    /// released the disk and stopped fetching. Refused while /dev/mars/<name> is open.
    Down(cmd_switch::ResArgs),
    #[command(flatten)]
    Pause(cmd_pause::PauseCommand),
    /// Make this host the designated primary (planned; the resource must be up and in sync).
    ///
    /// Sets resource-<res>/primary to this host (and userspace/last-primary), waits for
    /// /dev/mars/<name> to appear, then does what `up` does. A handover from another host first
    /// asks it to step down and waits until everything it logged is replayed here; refused
    /// when it is unreachable or its device is open. --force (failover, the old primary is
    /// gone): no waiting for the old primary; fetch is switched off first and the kernel
    /// starts from the local data, a new branch of the history (split brain if the old
    /// primary wrote on; see `view`).
    Primary(cmd_switch::ResArgs),
    /// Set the designated primary to (none) (before leaving a resource for good).
    ///
    /// The new value is stamped just after the old one, so a concurrent `primary` on another
    /// host wins. Refused while the device is open. Waits for /dev/mars/<name> to disappear.
    Secondary(cmd_switch::ResArgs),
    /// Let systemd run a unit stack where the resource is primary (Documentation/systemd.rst).
    ///
    /// Writes systemd-start-unit <START> (the top of the stack, started where it should run),
    /// systemd-stop-unit <STOP> (its bottom, stopped elsewhere; default: <START>) and
    /// systemd-want = the designated primary, after checking that the templates generate
    /// them; then runs `systemd-trigger <RES>` here. A marker word (DEFAULT, or any
    /// capitalised word W) names the unit of the template marked `# W_START` / `# W_STOP`.
    /// Without <START>: deletes the three links; the stack stops and its units are removed on
    /// every member.
    SetSystemdUnit(cmd_systemd::SetUnitArgs),
    /// Print "<start-unit> <stop-unit>" of a resource (nothing when none are configured).
    GetSystemdUnit(cmd_switch::ResArgs),
    /// Move the unit stack: set systemd-want to <HOST> or (none) (stopped everywhere).
    ///
    /// Refused for a host without ips/ip-<host> and a resource without units (--force
    /// overrides). Then waits (--timeout) until the stack has opened the device on <HOST>,
    /// or, for (none), closed it on every reachable member; --force does not wait.
    SetSystemdWant(cmd_systemd::SetWantArgs),
    /// Print systemd-want of a resource (nothing when no units are configured).
    GetSystemdWant(cmd_switch::ResArgs),
    /// Bring this host's systemd in line with the tree: generate the units from the
    /// templates, then start or stop the stack of <RES> (default: every resource of this host,
    /// in parallel).
    ///
    /// Starts systemd-start-unit where systemd-want names this host, this host is the
    /// designated primary and /dev/mars/<name> is here; elsewhere stops systemd-stop-unit.
    /// Inside a systemd unit (INVOCATION_ID set) it only queues jobs (systemctl --no-block).
    SystemdTrigger(TriggerArgs),
    /// As systemd-trigger, always queueing (systemctl --no-block): for the trigger services.
    SystemdTriggerExtern(TriggerArgs),
    /// Grow a resource online after the disks of all its members grew (on the primary).
    ///
    /// The new size is the minimum of the members' actsize-<host> (the kernel publishes the
    /// size of each attached data device there), or SIZE if given (not above that minimum).
    /// Shrinking is refused. Writes syncstatus-<host> = the new size (the primary's data are
    /// authoritative), then size; the kernel grows /dev/mars/<name> at once and every
    /// secondary syncs the new range from the primary before it replays again. Waits (until
    /// --timeout) until /dev/mars/<name> shows the new size. Refused (nothing written) where
    /// the kernel does not run the resource as primary, without actsize-* links, and while the
    /// module is not loaded.
    Resize(cmd_resize::ResizeArgs),
    /// Start a new logfile on the primary when the current one is not empty.
    LogRotate(cmd_log::LogRotateArgs),
    /// Delete the logfiles (and old version links) that every member has replayed.
    ///
    /// Deletes (tombstones) the logfiles numbered below the logfile of every replay-* link,
    /// never the newest and none modified within twice --window (unless --force), and the
    /// version links below that number minus one. Every host drops its copy when the
    /// deletion arrives. Refused when a member has no replay link.
    #[command(alias = "log-delete-all", alias = "log-delete-all-replayed")]
    LogDelete(cmd_switch::ResArgs),
    /// As log-delete, but at most the oldest deletable logfile (for testing and inspection).
    LogDeleteOne(cmd_switch::ResArgs),
    /// Dangerous: delete this host's logfiles and version links no member's history needs.
    ///
    /// Left-overs of a split brain, an invalidate or a leave: what no replay link's logfile,
    /// no version link of a host with a replay link, and no later logfile number needs.
    /// Recent logfiles (twice --window) stay, except an own logfile with the number of another
    /// host's needed one (the other branch of a split brain). --force also deletes other
    /// hosts' objects.
    LogPurgeAll(cmd_member::PurgeArgs),
    /// Regular housekeeping, one pass (run it from a timer every few minutes).
    ///
    /// Collects the tombstones every peer has seen (older than --window before the oldest
    /// heartbeat of every other member; a member silent for --keep-backup-hours no longer
    /// counts), then for every resource this host is member of: log-rotate where it is the
    /// actual primary, and log-delete.
    Cron(cmd_cron::CronArgs),
    /// Show the state of this host's resources: switches next to the kernel's indicators.
    ///
    /// Per resource: `<res> <disk state> <replication state> <role> <designated primary>`,
    /// then disk, device, sync, replay position, logfiles and every switch with what the
    /// kernel reports for it ("not yet" while the kernel has not followed). The losing side
    /// of a split brain shows `SplitBrain ReplayHalted` (not consistent).
    ///
    /// `view-<MACRO> [RES] [ARGS]...` evaluates one of the original's macros instead
    /// (`view-default`, `view-1and1`, `view-replstate`, `view-is-consistent`,
    /// `view-replay-rest`, ...; marsadm(8), "VIEW MACROS"), `--macro=TEXT` a macro text; a
    /// file <MACRO>.tpl in $MARS_PATH (or ., ~/.marsadm, /etc/marsadm, /usr/lib/marsadm,
    /// /usr/local/lib/marsadm) overrides a built-in macro. A value the kernel does not publish
    /// (rates) is refused with "not available", never made up.
    View(ViewArgs),
    /// Stream the state of this host's resources: first as it is, then one line per change.
    ///
    /// As `drbdsetup events2`: `exists` lines for every object (host, peer, resource,
    /// switch, sync, replay, logs, message), then `exists -`, then `create`, `change`
    /// (identity and the fields that changed) and `destroy` lines as the tree changes;
    /// woken by inotify on /mars. Ends cleanly when its reader goes away and on SIGINT or
    /// SIGTERM. See marsadm(8).
    Events(events::EventsArgs),
    /// Print the versions of marsadm and of the formats it speaks.
    Version,
    #[command(flatten)]
    Drbd(cmd_drbd::DrbdCommand),
    #[command(flatten)]
    NotYet(cmd_notyet::NotYetCommand),
    #[command(flatten)]
    SyncLimit(cmd_sync_limit::SyncLimitCommand),
    #[command(flatten)]
    ConnectPref(cmd_connect_pref::ConnectPrefCommand),
    /// List the records of a transaction logfile and report its first defect.
    LogDump(cmd_log_dump::LogDumpArgs),
    /// Print the shell completion script (for packaging: `make install` generates it).
    #[command(hide = true)]
    GenerateCompletion(CompletionArgs),
}

/// Arguments of the hidden `generate-completion`.
#[derive(clap::Args)]
struct CompletionArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

/// Arguments of `view` and `view-<macro>`.
#[derive(clap::Args)]
struct ViewArgs {
    /// A resource, a comma-separated list of resources, or `all` (default): every resource
    /// this host is member or guest of.
    res: Option<String>,
    /// Arguments of the macro (`%{1}`, `%{2}`, ...; e.g. a peer for `view-is-alive r0 bravo`).
    #[arg(requires = "res", allow_negative_numbers = true)]
    macro_args: Vec<String>,
    /// Print one JSON document instead of text (plain `view` only).
    #[arg(long, conflicts_with_all = ["macro_text", "view_macro"])]
    json: bool,
    /// Evaluate TEXT (macro language, see marsadm(8)) per resource instead of a macro.
    #[arg(long = "macro", value_name = "TEXT")]
    macro_text: Option<String>,
    /// The macro of `view-<MACRO>` (set by that command form).
    #[arg(long, hide = true, value_name = "MACRO")]
    view_macro: Option<String>,
    /// Print metrics in the Prometheus text exposition format (Documentation/install.rst).
    #[arg(long, conflicts_with_all = ["json", "macro_text", "view_macro"])]
    prometheus: bool,
}

/// Arguments of `systemd-trigger` and `systemd-trigger-extern`.
#[derive(clap::Args)]
struct TriggerArgs {
    /// A resource, or `all` (default): every resource this host is member of.
    res: Option<String>,
}

fn view(ctx: &Ctx, args: &ViewArgs) -> CmdResult {
    let only = match args.res.as_deref().filter(|r| *r != "all") {
        Some(list) => Some(res_list::expand(ctx, list)?),
        None => None,
    };
    for res in only.iter().flatten() {
        ctx.existing_res(res)?;
    }
    if args.view_macro.is_some() || args.macro_text.is_some() {
        let all = only.is_none();
        let resources = match only {
            Some(list) => list,
            None => res_list::member_resources(ctx),
        };
        let request = macros::Request {
            name: args.view_macro.as_deref().unwrap_or("default"),
            text: args.macro_text.as_deref(),
            args: &args.macro_args,
            threshold: ctx.options.threshold,
            stuck_seconds: ctx.options.stuck_seconds,
        };
        return macros::run(ctx, &request, &resources, all);
    }
    let mut view = model::read(ctx, only.as_deref());
    model::add_progress(ctx, &mut view);
    if args.prometheus {
        print!("{}", prometheus::render(ctx, &view));
    } else if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&model::to_json(&view)).unwrap_or_default()
        );
    } else {
        // Names and values come from peers: nothing but newlines and tabs goes out raw.
        let safe = tree_io::escape_output(&model::to_text(&view));
        print!("{safe}");
    }
    Ok(())
}

impl Command {
    /// The resource argument of a command that takes a list of resources or `all`.
    fn res_list(&self) -> Option<&str> {
        match self {
            Command::LeaveResource(a)
            | Command::DeleteResource(a)
            | Command::Invalidate(a)
            | Command::GetEmergencyLimit(a)
            | Command::PauseSync(a)
            | Command::ResumeSync(a)
            | Command::Attach(a)
            | Command::Detach(a)
            | Command::Up(a)
            | Command::Down(a)
            | Command::Primary(a)
            | Command::Secondary(a)
            | Command::LogDelete(a)
            | Command::LogDeleteOne(a)
            | Command::ShowErrors(a)
            | Command::ShowInfo(a)
            | Command::ErrPurgeAll(a)
            | Command::LinkPurgeAll(a)
            | Command::FakeSync(a)
            | Command::ActivateGuest(a)
            | Command::DeactivateGuest(a)
            | Command::GetSystemdUnit(a)
            | Command::GetSystemdWant(a)
            | Command::WaitUmount(a) => Some(&a.res),
            Command::SetSystemdUnit(a) => Some(&a.res),
            Command::ShowState(a) => Some(a.res()),
            Command::SetReplay(a) => Some(a.res()),
            Command::SetSystemdWant(a) => Some(&a.res),
            Command::WaitResource(a) => Some(a.res()),
            Command::SetEmergencyLimit(a) => Some(a.res()),
            Command::LogRotate(a) => Some(a.res()),
            Command::Resize(a) => Some(a.res()),
            Command::LogPurgeAll(a) => Some(a.res()),
            Command::Pause(c) => Some(c.res()),
            Command::Drbd(c) => Some(c.res()),
            _ => None,
        }
    }

    /// This command for one resource of its list.
    fn for_res(&self, res: &str) -> Option<Command> {
        let one = || cmd_switch::ResArgs {
            res: res.to_string(),
        };
        Some(match self {
            Command::LeaveResource(_) => Command::LeaveResource(one()),
            Command::DeleteResource(_) => Command::DeleteResource(one()),
            Command::Invalidate(_) => Command::Invalidate(one()),
            Command::GetEmergencyLimit(_) => Command::GetEmergencyLimit(one()),
            Command::PauseSync(_) => Command::PauseSync(one()),
            Command::ResumeSync(_) => Command::ResumeSync(one()),
            Command::Attach(_) => Command::Attach(one()),
            Command::Detach(_) => Command::Detach(one()),
            Command::Up(_) => Command::Up(one()),
            Command::Down(_) => Command::Down(one()),
            Command::Primary(_) => Command::Primary(one()),
            Command::Secondary(_) => Command::Secondary(one()),
            Command::LogDelete(_) => Command::LogDelete(one()),
            Command::LogDeleteOne(_) => Command::LogDeleteOne(one()),
            Command::ShowErrors(_) => Command::ShowErrors(one()),
            Command::ShowInfo(_) => Command::ShowInfo(one()),
            Command::ErrPurgeAll(_) => Command::ErrPurgeAll(one()),
            Command::LinkPurgeAll(_) => Command::LinkPurgeAll(one()),
            Command::FakeSync(_) => Command::FakeSync(one()),
            Command::WaitUmount(_) => Command::WaitUmount(one()),
            Command::ActivateGuest(_) => Command::ActivateGuest(one()),
            Command::ShowState(a) => Command::ShowState(a.for_res(res)),
            Command::SetReplay(a) => Command::SetReplay(a.for_res(res)),
            Command::DeactivateGuest(_) => Command::DeactivateGuest(one()),
            Command::GetSystemdUnit(_) => Command::GetSystemdUnit(one()),
            Command::GetSystemdWant(_) => Command::GetSystemdWant(one()),
            Command::SetSystemdUnit(a) => Command::SetSystemdUnit(cmd_systemd::SetUnitArgs {
                res: res.to_string(),
                start: a.start.clone(),
                stop: a.stop.clone(),
            }),
            Command::SetSystemdWant(a) => Command::SetSystemdWant(cmd_systemd::SetWantArgs {
                res: res.to_string(),
                host: a.host.clone(),
            }),
            Command::WaitResource(a) => Command::WaitResource(a.for_res(res)),
            Command::SetEmergencyLimit(a) => Command::SetEmergencyLimit(a.for_res(res)),
            Command::LogRotate(a) => Command::LogRotate(a.for_res(res)),
            Command::Resize(a) => Command::Resize(a.for_res(res)),
            Command::LogPurgeAll(a) => Command::LogPurgeAll(a.for_res(res)),
            Command::Pause(c) => Command::Pause(c.for_res(res)),
            Command::Drbd(c) => Command::Drbd(c.for_res(res)),
            _ => return None,
        })
    }

    /// Whether the command only reads the tree (it may trigger the kernel and wait): the
    /// commands that work with `--host=<other>`.
    fn only_reads(&self) -> bool {
        matches!(
            self,
            Command::View(_)
                | Command::Events(_)
                | Command::Cat(_)
                | Command::Show(_)
                | Command::ShowErrors(_)
                | Command::ShowState(_)
                | Command::ShowInfo(_)
                | Command::GetLink(_)
                | Command::GetEmergencyLimit(_)
                | Command::GetSystemdUnit(_)
                | Command::GetSystemdWant(_)
                | Command::LowlevelLsHostIps
                | Command::WaitResource(_)
                | Command::WaitUmount(_)
                | Command::WaitCluster(_)
                | Command::UpdateCluster(_)
                | Command::ActivateGuest(_)
                | Command::MergeClusterList
                | Command::MergeClusterCheck(_)
                | Command::SplitCluster
                | Command::Version
                | Command::LogDump(_)
                | Command::GenerateCompletion(_)
                | Command::NotYet(_)
                | Command::Drbd(_)
        ) || match self {
            Command::SyncLimit(c) => c.only_reads(),
            Command::ConnectPref(c) => c.only_reads(),
            _ => false,
        }
    }

    /// The name of the one new resource of `create-resource` and `join-resource`.
    fn new_res(&self) -> Option<&str> {
        match self {
            Command::CreateResource(a) => Some(a.res()),
            Command::JoinResource(a) => Some(a.res()),
            _ => None,
        }
    }
}

fn run(command: &Command, options: Options, name: &str, parallel: Option<usize>) -> CmdResult {
    if let Some(arg) = command.new_res().filter(|arg| arg.contains(',')) {
        return Err(Fail::refused(format!(
            "Cannot combine command '{name}' with '{arg}': you must explicitly name a single new resource"
        )));
    }
    if let Some(arg) = command.res_list().filter(|arg| res_list::is_list(arg)) {
        let names = res_list::expand(&Ctx::new(options, Needs::Cluster)?, arg)?;
        if names.is_empty() {
            eprintln!("WARNING: resource qualifier 'all' does not match any resource this host is member of");
        }
        // As the original: with a unit stack on one of them, the resources go in parallel
        // unless the operator chose otherwise (each waits for systemd).
        let parallel = match parallel {
            None if !options.singlestep && names.len() > 1 => {
                let ctx = Ctx::new(options, Needs::Cluster)?;
                let stack = names
                    .iter()
                    .any(|r| systemd_trigger::configured(&ctx, &format!("resource-{r}")));
                if stack && options.verbose {
                    println!("Systemd is activated, acting like --parallel=0");
                }
                stack.then_some(0)
            }
            other => other,
        };
        return res_list::run_each(&names, name, parallel, |res| match command.for_res(res) {
            Some(one) => run(&one, options, name, None),
            None => Err(Fail::refused("internal: no resource list here")),
        });
    }
    let needs = match command {
        Command::CreateCluster(_) | Command::JoinCluster(_) | Command::CreateUuid => {
            Needs::NoCluster
        }
        Command::View(_)
        | Command::Cat(_)
        | Command::Show(_)
        | Command::ShowErrors(_)
        | Command::ShowState(_)
        | Command::ShowInfo(_)
        | Command::Events(_)
        | Command::GetSystemdUnit(_)
        | Command::GetSystemdWant(_)
        | Command::SystemdTrigger(_)
        | Command::SystemdTriggerExtern(_) => Needs::Root,
        _ => Needs::Cluster,
    };
    let ctx = Ctx::new(options, needs)?;
    if !command.only_reads() {
        ctx.refuse_acting_as_other(name)?;
    }
    match command {
        Command::CreateCluster(args) => cmd_cluster::create_cluster(&ctx, args),
        Command::JoinCluster(args) => cmd_cluster::join_cluster(&ctx, args),
        Command::LeaveCluster => cmd_cluster::leave_cluster(&ctx),
        Command::WaitCluster(args) => cmd_cluster::wait_cluster_cmd(&ctx, args),
        Command::MergeCluster(args) => cmd_merge::merge_cluster(&ctx, args),
        Command::MergeClusterCheck(args) => cmd_merge::merge_cluster_check(&ctx, args),
        Command::MergeClusterList => cmd_merge::merge_cluster_list(&ctx),
        Command::SplitCluster => cmd_merge::split_cluster(&ctx),
        Command::ActivateGuest(args) => cmd_guest::activate_guest(&ctx, args),
        Command::DeactivateGuest(args) => cmd_guest::deactivate_guest(&ctx, args),
        Command::UpdateCluster(args) => cmd_expert::update_cluster(&ctx, args),
        Command::SetLink(args) => cmd_cluster::set_link(&ctx, args),
        Command::GetLink(args) => cmd_expert::get_link(&ctx, args),
        Command::DeleteFile(args) => cmd_expert::delete_file(&ctx, args),
        Command::Cat(args) => cmd_expert::cat(&ctx, args),
        Command::Show(args) => cmd_expert::show(&ctx, args),
        Command::ShowErrors(args) => cmd_expert::show_errors(&ctx, args),
        Command::ShowState(args) => cmd_expert::show_state(&ctx, args),
        Command::ShowInfo(args) => cmd_expert::show_info(&ctx, args),
        Command::ErrPurgeAll(args) => cmd_expert::err_purge_all(&ctx, args),
        Command::LinkPurgeAll(args) => cmd_expert::link_purge_all(&ctx, args),
        Command::CreateUuid => cmd_expert::create_uuid(&ctx),
        Command::LowlevelLsHostIps => cmd_expert::ls_host_ips(&ctx),
        Command::LowlevelSetHostIp(args) => cmd_expert::set_host_ip(&ctx, args),
        Command::LowlevelDeleteHost(args) => cmd_expert::delete_host(&ctx, args),
        Command::FakeSync(args) => cmd_replay::fake_sync(&ctx, args),
        Command::SetReplay(args) => cmd_replay::set_replay(&ctx, args),
        Command::WaitResource(args) => cmd_wait::wait_resource(&ctx, args),
        Command::WaitUmount(args) => cmd_wait::wait_umount(&ctx, args),
        Command::LogDeleteOne(args) => cmd_log::log_delete_one(&ctx, args),
        Command::CreateResource(args) => cmd_resource::create_resource(&ctx, args),
        Command::JoinResource(args) => cmd_resource::join_resource(&ctx, args),
        Command::LeaveResource(args) => cmd_member::leave_resource(&ctx, args),
        Command::DeleteResource(args) => cmd_member::delete_resource(&ctx, args),
        Command::LogPurgeAll(args) => cmd_member::log_purge_all(&ctx, args),
        Command::Cron(args) => cmd_cron::cron(&ctx, args),
        Command::Invalidate(args) => cmd_sync::invalidate(&ctx, args),
        Command::SetEmergencyLimit(args) => cmd_emergency::set_limit(&ctx, args),
        Command::GetEmergencyLimit(args) => cmd_emergency::get_limit(&ctx, &args.res),
        Command::SetGlobalEnabledLogCompressions(args) => {
            cmd_features::set_enabled_log_compressions(&ctx, args)
        }
        Command::SetGlobalEnabledNetCompressions(args) => {
            cmd_features::set_enabled_net_compressions(&ctx, args)
        }
        Command::SetGlobalDisabledLogDigests(args) => {
            cmd_features::set_disabled_log_digests(&ctx, args)
        }
        Command::SetGlobalDisabledNetDigests(args) => {
            cmd_features::set_disabled_net_digests(&ctx, args)
        }
        Command::PauseSync(args) => cmd_sync::switch(&ctx, cmd_sync::SyncSwitch::Pause, args),
        Command::ResumeSync(args) => cmd_sync::switch(&ctx, cmd_sync::SyncSwitch::Resume, args),
        Command::Attach(args) => cmd_switch::run(&ctx, cmd_switch::SwitchCmd::Attach, args),
        Command::Detach(args) => cmd_switch::run(&ctx, cmd_switch::SwitchCmd::Detach, args),
        Command::Up(args) => cmd_switch::run(&ctx, cmd_switch::SwitchCmd::Up, args),
        Command::Down(args) => cmd_switch::run(&ctx, cmd_switch::SwitchCmd::Down, args),
        Command::Pause(cmd) => cmd_pause::run(&ctx, cmd, cmd.res()),
        Command::Drbd(cmd) => cmd_drbd::run(&ctx, cmd),
        Command::SyncLimit(cmd) => cmd_sync_limit::run(&ctx, cmd),
        Command::ConnectPref(cmd) => cmd_connect_pref::run(&ctx, cmd),
        Command::Primary(args) => cmd_role::primary(&ctx, args),
        Command::Secondary(args) => cmd_role::secondary(&ctx, args),
        Command::LogRotate(args) => cmd_log::log_rotate(&ctx, args),
        Command::Resize(args) => cmd_resize::resize(&ctx, args),
        Command::LogDelete(args) => cmd_log::log_delete(&ctx, args),
        Command::SetSystemdUnit(args) => cmd_systemd::set_unit(&ctx, args),
        Command::GetSystemdUnit(args) => cmd_systemd::get_unit(&ctx, args),
        Command::SetSystemdWant(args) => cmd_systemd::set_want(&ctx, args),
        Command::GetSystemdWant(args) => cmd_systemd::get_want(&ctx, args),
        Command::SystemdTrigger(args) => {
            systemd_trigger::trigger(&ctx, args.res.as_deref(), false, "systemd-trigger")
        }
        Command::SystemdTriggerExtern(args) => {
            systemd_trigger::trigger(&ctx, args.res.as_deref(), true, "systemd-trigger-extern")
        }
        Command::View(args) => view(&ctx, args),
        Command::Events(args) => events::events(&ctx, args),
        Command::Version
        | Command::LogDump(_)
        | Command::GenerateCompletion(_)
        | Command::NotYet(_) => Err(Fail::refused("internal: not a tree command")),
    }
}

/// The command line with `view-<macro>` as `view --view-macro=<macro>`, and the options of
/// `view` given before it (`marsadm --macro=TEXT view`) moved behind it.
fn view_argv(argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let text: Vec<Option<&str>> = argv.iter().map(|a| a.to_str()).collect();
    let mut k = 1;
    while k < text.len() {
        match text[k] {
            Some(
                "--timeout" | "--window" | "--host" | "--ip" | "--threshold" | "--stuck-seconds"
                | "--logger" | "--ssh-port" | "--ssh-opts" | "--max-deletions",
            ) => k += 2,
            Some(a) if a.starts_with('-') => k += 1,
            _ => break,
        }
    }
    let Some(cmd) = text.get(k).copied().flatten() else {
        return argv;
    };
    let name = match cmd.strip_prefix("view") {
        Some("") => None,
        Some(rest) => match rest.strip_prefix('-') {
            Some(name) => Some(name),
            None => return argv,
        },
        None => return argv,
    };
    let view_option = |a: &Option<&str>| a.is_some_and(|a| a.starts_with("--macro="));
    let mut out: Vec<std::ffi::OsString> = Vec::with_capacity(argv.len() + 1);
    let mut moved = Vec::new();
    for (i, a) in argv.iter().enumerate().take(k) {
        if i > 0 && view_option(&text[i]) {
            moved.push(a.clone());
        } else {
            out.push(a.clone());
        }
    }
    out.push("view".into());
    if let Some(name) = name {
        out.push(
            format!(
                "--view-macro={}",
                if name.is_empty() { "default" } else { name }
            )
            .into(),
        );
    }
    out.extend(moved);
    out.extend(argv.into_iter().skip(k + 1));
    out
}

/// Takes the `--ip-<peer>=<address>` options out of the command line (clap knows no option
/// names made of a prefix and a host name); exits with status 2 on a bad one.
fn take_peer_ips(
    argv: Vec<std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, Vec<(String, String)>) {
    let mut rest = Vec::with_capacity(argv.len());
    let mut ips = Vec::new();
    let mut options_end = false;
    for arg in argv {
        let text = arg.to_str().unwrap_or("");
        if options_end || text == "--" {
            options_end = true;
            rest.push(arg);
            continue;
        }
        let Some(spec) = text.strip_prefix("--ip-") else {
            rest.push(arg);
            continue;
        };
        let usage = |why: String| -> ! {
            eprintln!("error: {text}: {why}");
            eprintln!("usage: --ip-<peer>=<address>, e.g. --ip-bravo=10.0.0.2");
            std::process::exit(2)
        };
        let Some((peer, ip)) = spec.split_once('=') else {
            usage("no '=<address>'".to_string())
        };
        if let Err(e) = mars_core::names::check_name(peer) {
            usage(format!("host name '{peer}': {e}"));
        }
        if let Err(e) = mars_core::tree_value::IpAddress::parse(ip) {
            usage(format!("address '{ip}': {e}"));
        }
        ips.push((peer.to_string(), ip.to_string()));
    }
    (rest, ips)
}

/// Which of `--parallel` and `--singlestep` comes last (each turns the other off, as in
/// the original): `true` when `--singlestep` does.
fn singlestep_last(argv: &[std::ffi::OsString]) -> bool {
    argv.iter()
        .take_while(|a| a.to_str() != Some("--"))
        .filter_map(|a| a.to_str())
        .filter(|a| *a == "--singlestep" || *a == "--parallel" || a.starts_with("--parallel="))
        .last()
        .is_some_and(|a| a == "--singlestep")
}

/// `--logger`: the messenger, unless syslogging is off.
fn logger_path(given: Option<&str>, testing: bool) -> Result<Option<String>, Fail> {
    match given {
        Some("") => Ok(None),
        Some(path) => {
            use std::os::unix::fs::PermissionsExt;
            let ok = std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !ok {
                return Err(Fail::refused(format!(
                    "--logger={path}: no executable file (give an empty value to switch syslogging off)"
                )));
            }
            Ok(Some(path.to_string()))
        }
        None if testing => Ok(None),
        None => Ok(Some("/usr/bin/logger")
            .filter(|p| std::path::Path::new(p).is_file())
            .map(str::to_string)),
    }
}

/// Sends `text` to syslog with `logger -t marsadm` (as the original's `llog`); failures are
/// ignored: syslog is a courtesy.
fn syslog(logger: Option<&str>, name: &str, text: &str) {
    if let Some(logger) = logger {
        let _ = std::process::Command::new(logger)
            .args(["-t", "marsadm", &format!("(cmd: {name}) {text}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn main() -> ExitCode {
    let (argv, peer_ips) = take_peer_ips(std::env::args_os().collect());
    let singlestep = singlestep_last(&argv);
    let cli = Cli::parse_from(view_argv(argv));
    let name = match &cli.command {
        Command::Version => {
            println!(
                "marsadm {} (tree {}, log format {}, marsadm feature level {})",
                env!("CARGO_PKG_VERSION"),
                mars_core::version::SYMLINK_TREE_VERSION,
                mars_core::version::LOG_FORMAT_VERSION,
                tree_io::MARSADM_FEATURE_VERSION
            );
            return ExitCode::SUCCESS;
        }
        Command::LogDump(args) => return cmd_log_dump::run(args),
        Command::NotYet(cmd) => {
            return cmd_notyet::refuse(cmd).report(cmd.name());
        }
        Command::GenerateCompletion(args) => {
            use clap::CommandFactory;
            use std::io::Write;
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "marsadm", &mut script);
            return match std::io::stdout().write_all(&script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Command::CreateCluster(_) => "create-cluster",
        Command::JoinCluster(_) => "join-cluster",
        Command::LeaveCluster => "leave-cluster",
        Command::WaitCluster(_) => ctx::typed_name(&["wait-cluster", "wait-connect"]),
        Command::UpdateCluster(_) => "update-cluster",
        Command::MergeCluster(_) => "merge-cluster",
        Command::MergeClusterCheck(_) => "merge-cluster-check",
        Command::MergeClusterList => "merge-cluster-list",
        Command::SplitCluster => "split-cluster",
        Command::ActivateGuest(_) => "activate-guest",
        Command::DeactivateGuest(_) => "deactivate-guest",
        Command::SetLink(_) => "set-link",
        Command::GetLink(_) => "get-link",
        Command::DeleteFile(_) => "delete-file",
        Command::Cat(_) => "cat",
        Command::Show(_) => "show",
        Command::ShowErrors(_) => "show-errors",
        Command::ShowState(_) => ctx::typed_name(&["show-state", "mars-state"]),
        Command::ShowInfo(_) => ctx::typed_name(&["show-info", "mars-info"]),
        Command::ErrPurgeAll(_) => "err-purge-all",
        Command::LinkPurgeAll(_) => "link-purge-all",
        Command::CreateUuid => "create-uuid",
        Command::LowlevelLsHostIps => "lowlevel-ls-host-ips",
        Command::LowlevelSetHostIp(_) => "lowlevel-set-host-ip",
        Command::LowlevelDeleteHost(_) => "lowlevel-delete-host",
        Command::FakeSync(_) => "fake-sync",
        Command::SetReplay(_) => "set-replay",
        Command::WaitResource(_) => "wait-resource",
        Command::WaitUmount(_) => "wait-umount",
        Command::LogDeleteOne(_) => "log-delete-one",
        Command::CreateResource(_) => "create-resource",
        Command::JoinResource(_) => "join-resource",
        Command::LeaveResource(_) => "leave-resource",
        Command::DeleteResource(_) => "delete-resource",
        Command::LogPurgeAll(_) => "log-purge-all",
        Command::Cron(_) => "cron",
        Command::Invalidate(_) => "invalidate",
        Command::SetEmergencyLimit(_) => {
            ctx::typed_name(&["set-emergency-limit", "emergency-limit"])
        }
        Command::GetEmergencyLimit(_) => "get-emergency-limit",
        Command::SetGlobalEnabledLogCompressions(_) => "set-global-enabled-log-compressions",
        Command::SetGlobalEnabledNetCompressions(_) => "set-global-enabled-net-compressions",
        Command::SetGlobalDisabledLogDigests(_) => "set-global-disabled-log-digests",
        Command::SetGlobalDisabledNetDigests(_) => "set-global-disabled-net-digests",
        Command::PauseSync(_) => "pause-sync",
        Command::ResumeSync(_) => "resume-sync",
        Command::Attach(_) => "attach",
        Command::Detach(_) => "detach",
        Command::Up(_) => "up",
        Command::Down(_) => "down",
        Command::Pause(cmd) => cmd.name(),
        Command::Drbd(cmd) => cmd.name(),
        Command::SyncLimit(cmd) => cmd.name(),
        Command::ConnectPref(cmd) => cmd.name(),
        Command::Primary(_) => "primary",
        Command::Secondary(_) => "secondary",
        Command::LogRotate(_) => "log-rotate",
        Command::Resize(_) => "resize",
        Command::LogDelete(_) => "log-delete",
        Command::SetSystemdUnit(_) => "set-systemd-unit",
        Command::GetSystemdUnit(_) => "get-systemd-unit",
        Command::SetSystemdWant(_) => "set-systemd-want",
        Command::GetSystemdWant(_) => "get-systemd-want",
        Command::SystemdTrigger(_) => "systemd-trigger",
        Command::SystemdTriggerExtern(_) => "systemd-trigger-extern",
        Command::View(_) => "view",
        Command::Events(_) => "events",
    };
    let g = &cli.global;
    let singlestep = g.singlestep && (singlestep || g.parallel.is_none());
    let parallel = if singlestep { None } else { g.parallel };
    let options = Options {
        force: g.force,
        dry_run: g.dry_run,
        verbose: g.verbose,
        timeout: g.timeout,
        window: g.window,
        ignore_sync: g.ignore_sync,
        singlestep,
        threshold: g.threshold,
        stuck_seconds: g.stuck_seconds,
    };
    let testing = std::env::var_os("MARS_ROOT").is_some();
    let logger = match logger_path(g.logger.as_deref(), testing) {
        Ok(logger) => logger.filter(|_| !matches!(cli.command, Command::View(_))),
        Err(fail) => return fail.report(name),
    };
    if let Some(host) = &g.host {
        if let Err(e) = mars_core::names::check_name(host) {
            return Fail::refused(format!("--host={host}: {e}")).report(name);
        }
    }
    for (peer, ip) in &peer_ips {
        eprintln!("Using IP '{ip}' from command line for '{peer}'.");
    }
    let mut ips: Vec<(Option<String>, String)> = peer_ips
        .into_iter()
        .map(|(peer, ip)| (Some(peer), ip))
        .collect();
    if let Some(ip) = &g.ip {
        if let Err(e) = mars_core::tree_value::IpAddress::parse(ip) {
            return Fail::refused(format!("IP address '{ip}' from --ip: {e}")).report(name);
        }
        ips.push((None, ip.clone()));
    }
    ctx::set_globals(ctx::Globals {
        host: g.host.clone(),
        ips,
    });
    if singlestep && !ctx::stdin_is_tty() {
        return Fail::refused("DEBUGGING: standard input is no tty (--singlestep asks on it)")
            .report(name);
    }
    let line: Vec<String> = std::env::args().skip(1).collect();
    syslog(
        logger.as_deref(),
        name,
        &format!("marsadm {}", line.join(" ")),
    );
    match run(&cli.command, options, name, parallel) {
        Ok(()) => {
            syslog(logger.as_deref(), name, "EXIT 0");
            ExitCode::SUCCESS
        }
        Err(fail) => {
            syslog(
                logger.as_deref(),
                name,
                &format!("EXIT {}: {}", fail.code, fail.lines.join(" / ")),
            );
            fail.report(name)
        }
    }
}
