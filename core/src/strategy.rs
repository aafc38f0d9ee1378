// SPDX-License-Identifier: GPL-2.0
//! The strategy's decision for one resource on this host: from what the /mars tree asks
//! (`todo-<host>/attach`, `primary`, membership) and what the bricks of this host are doing
//! now, the next step to take and the indicators to publish in `actual-<host>/`.
//!
//! The kernel's strategy thread reads the links, asks [`decide`], performs the step and
//! writes the indicators; it asks again in the next round (or at once after a step), so one
//! step at a time converges on the wanted state. Steps that would break something are never
//! taken; instead the decision names what blocks them ([`Blocked`]), which the thread reports
//! once in the kernel log and in `actual-<host>/msg-<...>`.
//!
//! The bricks of a resource on a primary are stacked: a bio brick on the data device
//! ("attached"), a transaction logger on top of it and an if brick exporting
//! `/dev/mars/<device-name>` ("primary"). They are built bottom up and torn down top down.

use super::tree_value::{parse_switch, HostOrNone};

/// What the tree says about the resource, for this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted<'a> {
    /// This host is a member (`data-<host>` names its data device).
    pub member: bool,
    /// `todo-<host>/attach` is on.
    pub attach: bool,
    /// This host is the designated primary (`primary` names it).
    pub primary: bool,
    /// `todo-<host>/allow-replay` is on (a secondary applies the logfiles it has).
    pub allow_replay: bool,
    /// `todo-<host>/connect` is on (a secondary fetches logfiles from their origin).
    pub connect: bool,
    /// The resource size (`size`), if readable.
    pub size: Option<u64>,
    /// The name under /dev/mars (`device-<host>`, default the resource name).
    pub device_name: &'a str,
    /// `todo-<host>/sync` is on (a secondary may run its full sync).
    pub sync: bool,
    /// `syncstatus-<host>`: bytes synced so far (`None`: missing or malformed, nothing asked).
    pub syncstatus: Option<u64>,
    /// Another host is the designated primary (the source of a full sync).
    pub other_primary: bool,
}

impl Wanted<'_> {
    /// A forced failover (`marsadm primary --force`): this host is the designated primary
    /// while its fetch switch (`todo-<host>/connect`) is off. As in the original
    /// (`_get_tolerance`, "forcefully bypassing"), that combination tells the kernel not to
    /// wait for the old primary or its logfiles: it starts logging from what its data device
    /// holds after replaying what it has locally, a new branch of the version chain. A
    /// planned handover keeps fetch on (`marsadm primary` refuses otherwise).
    pub fn forced(&self) -> bool {
        self.member && self.primary && !self.connect
    }
}

/// The raw values of the links [`Wanted`] is read from, for one host (`None`: the link is
/// missing or unreadable). Named fields: seven strings in a row are easily swapped.
#[derive(Clone, Copy, Debug, Default)]
pub struct WantedLinks<'a> {
    /// `data-<host>`.
    pub data: Option<&'a str>,
    /// `todo-<host>/attach`.
    pub attach: Option<&'a str>,
    /// `todo-<host>/allow-replay`.
    pub allow_replay: Option<&'a str>,
    /// `todo-<host>/connect`.
    pub connect: Option<&'a str>,
    /// `primary`.
    pub primary: Option<&'a str>,
    /// `size`.
    pub size: Option<&'a str>,
    /// `device-<host>`.
    pub device: Option<&'a str>,
}

impl<'a> Wanted<'a> {
    /// Reads the raw link values of resource `res` for `host`.
    pub fn from_links(host: &str, res: &'a str, links: &WantedLinks<'a>) -> Self {
        let WantedLinks {
            data,
            attach,
            allow_replay,
            connect,
            primary,
            size,
            device,
        } = *links;
        let member = data.is_some_and(|d| !d.is_empty() && d != super::tree_value::DELETED);
        let attach = attach.and_then(|v| parse_switch(v).ok()).unwrap_or(false);
        let allow_replay = allow_replay
            .and_then(|v| parse_switch(v).ok())
            .unwrap_or(false);
        let connect = connect.and_then(|v| parse_switch(v).ok()).unwrap_or(false);
        let is_primary = matches!(primary.and_then(|p| HostOrNone::parse(p).ok()), Some(HostOrNone::Host(h)) if h.as_str() == host);
        let size = size
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&s| s > 0);
        let device_name = device
            .filter(|d| !d.is_empty() && *d != super::tree_value::DELETED)
            .unwrap_or(res);
        let other_primary = matches!(primary.and_then(|p| HostOrNone::parse(p).ok()), Some(HostOrNone::Host(h)) if h.as_str() != host);
        Wanted {
            member,
            attach,
            primary: is_primary,
            allow_replay,
            connect,
            size,
            device_name,
            sync: false,
            syncstatus: None,
            other_primary,
        }
    }

    /// Adds the full-sync links: `todo-<host>/sync` and `syncstatus-<host>`.
    pub fn with_sync(mut self, sync: Option<&str>, syncstatus: Option<&str>) -> Self {
        self.sync = sync.and_then(|v| parse_switch(v).ok()).unwrap_or(false);
        self.syncstatus = syncstatus.and_then(|s| s.trim().parse::<u64>().ok());
        self
    }

    /// The data device still differs from the primary's: a full sync is due (or under way).
    /// Replay is forbidden meanwhile.
    pub fn needs_sync(&self) -> bool {
        self.member
            && !self.primary
            && matches!((self.syncstatus, self.size), (Some(done), Some(size)) if done < size)
    }

    /// A full sync should run (or go on): an attached member, the sync due and switched on,
    /// a designated primary elsewhere to sync from. What the sync limit of the host counts
    /// (`sync_limit`).
    pub fn wants_sync(&self) -> bool {
        self.member && self.attach && self.needs_sync() && self.sync && self.other_primary
    }
}

/// What the bricks of the resource on this host are doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Running {
    /// The data device is open (bio brick on).
    pub attached: bool,
    /// Size of the attached data device in bytes.
    pub data_size: u64,
    /// The logger and the device are on.
    pub primary: bool,
    /// The replay of fetched logfiles runs.
    pub replaying: bool,
    /// The fetch of logfiles runs.
    pub fetching: bool,
    /// How often the device is open.
    pub open_count: u32,
    /// The full sync runs.
    pub syncing: bool,
}

/// The next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Stay,
    /// Open the data device.
    Attach,
    /// Start the logger (it recovers the log first) and the device.
    StartPrimary,
    /// Switch the device off and let the logger write everything back, then stop it.
    StopPrimary,
    /// Close the data device.
    Detach,
    /// Start applying the logfiles in /mars (a secondary).
    StartReplay,
    /// Stop applying them (after the current pass).
    StopReplay,
    /// Start fetching logfiles from their origin (a secondary).
    StartFetch,
    /// Stop fetching.
    StopFetch,
    /// Start the full sync from the designated primary (a secondary).
    StartSync,
    /// Stop the full sync (its progress is persisted).
    StopSync,
}

/// Why a wanted step is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The device is open: it cannot go away under its users.
    DeviceInUse,
    /// The data device is smaller than the resource.
    DataTooSmall,
    /// The resource size is missing or malformed.
    NoSize,
    /// A full sync is due but no other host is the designated primary.
    NoSyncSource,
}

impl Blocked {
    /// The `actual-<host>/msg-<key>` channel and the text for it.
    pub fn message(self) -> (&'static str, &'static str) {
        match self {
            Blocked::DeviceInUse => ("device", "device in use: close it to switch it off"),
            Blocked::DataTooSmall => ("attach", "data device smaller than the resource size"),
            Blocked::NoSize => ("attach", "resource size missing or malformed"),
            Blocked::NoSyncSource => (
                "sync",
                "full sync due, but no designated primary to sync from",
            ),
        }
    }
}

/// The decision: a step, or why the wanted one cannot be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to do now.
    pub step: Step,
    /// The wanted step that cannot be taken, and why.
    pub blocked: Option<Blocked>,
}

/// The indicators of `actual-<host>/` that follow from what runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Indicators {
    /// `is-attached`.
    pub is_attached: bool,
    /// `is-primary`.
    pub is_primary: bool,
    /// `if-on`: the device exists.
    pub if_on: bool,
    /// `is-replaying`.
    pub is_replaying: bool,
    /// `is-copying`: a logfile fetch runs.
    pub is_copying: bool,
    /// `open-count`.
    pub open_count: u32,
    /// `is-syncing`.
    pub is_syncing: bool,
}

/// The indicators for `running`.
pub fn indicators(running: &Running) -> Indicators {
    Indicators {
        is_attached: running.attached,
        is_primary: running.primary,
        if_on: running.primary,
        is_replaying: running.replaying,
        is_copying: running.fetching,
        open_count: running.open_count,
        is_syncing: running.syncing,
    }
}

/// The next step for one resource.
pub fn decide(wanted: &Wanted<'_>, running: &Running) -> Decision {
    let want_attached = wanted.member && wanted.attach;
    let want_primary = want_attached && wanted.primary;
    let need_sync = wanted.needs_sync();
    // Sync and replay never run together; replay waits until the sync finished.
    let want_replay = want_attached && !wanted.primary && wanted.allow_replay && !need_sync;
    let want_sync = wanted.wants_sync();
    // Fetching needs no attached disk, only membership.
    let want_fetch = wanted.member && !wanted.primary && wanted.connect;
    let step = |step| Decision {
        step,
        blocked: None,
    };
    if running.fetching && !want_fetch {
        return step(Step::StopFetch);
    }
    if running.syncing && !want_sync {
        return step(Step::StopSync);
    }
    if running.replaying && !want_replay {
        return step(Step::StopReplay);
    }
    if running.primary && !want_primary {
        if running.open_count > 0 {
            return Decision {
                step: Step::Stay,
                blocked: Some(Blocked::DeviceInUse),
            };
        }
        return step(Step::StopPrimary);
    }
    if running.attached && !want_attached {
        return step(Step::Detach);
    }
    if !running.attached && want_attached {
        return step(Step::Attach);
    }
    if running.attached && want_primary && !running.primary {
        return match wanted.size {
            None => Decision {
                step: Step::Stay,
                blocked: Some(Blocked::NoSize),
            },
            Some(size) if size > running.data_size => Decision {
                step: Step::Stay,
                blocked: Some(Blocked::DataTooSmall),
            },
            Some(_) => step(Step::StartPrimary),
        };
    }
    if running.attached && want_replay && !running.replaying && !running.primary {
        return step(Step::StartReplay);
    }
    if running.attached && want_sync && !running.syncing && !running.replaying && !running.primary {
        return step(Step::StartSync);
    }
    if want_fetch && !running.fetching && !running.primary {
        return step(Step::StartFetch);
    }
    if want_attached && need_sync && wanted.sync && !wanted.other_primary {
        return Decision {
            step: Step::Stay,
            blocked: Some(Blocked::NoSyncSource),
        };
    }
    step(Step::Stay)
}

/// The step to take when the resource's directory disappeared (deleted) or the module is
/// unloading: everything goes, top down; a device still open blocks.
pub fn decide_teardown(running: &Running) -> Decision {
    decide(
        &Wanted {
            member: false,
            attach: false,
            primary: false,
            allow_replay: false,
            connect: false,
            size: None,
            device_name: "",
            sync: false,
            syncstatus: None,
            other_primary: false,
        },
        running,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(member: bool, attach: bool, primary: bool) -> Wanted<'static> {
        Wanted {
            member,
            attach,
            primary,
            allow_replay: true,
            connect: false,
            size: Some(1 << 20),
            device_name: "r0",
            sync: true,
            syncstatus: Some(1 << 20),
            other_primary: !primary,
        }
    }

    fn running(attached: bool, primary: bool, open_count: u32) -> Running {
        Running {
            attached,
            data_size: 1 << 20,
            primary,
            replaying: false,
            fetching: false,
            open_count,
            syncing: false,
        }
    }

    /// Applies steps until the decision stays, as the strategy thread does.
    fn converge(wanted: &Wanted<'_>, mut now: Running) -> (Running, Option<Blocked>) {
        for _ in 0..10 {
            let d = decide(wanted, &now);
            match d.step {
                Step::Stay => return (now, d.blocked),
                Step::Attach => now.attached = true,
                Step::Detach => now.attached = false,
                Step::StartPrimary => now.primary = true,
                Step::StopPrimary => now.primary = false,
                Step::StartReplay => now.replaying = true,
                Step::StopReplay => now.replaying = false,
                Step::StartFetch => now.fetching = true,
                Step::StopFetch => now.fetching = false,
                Step::StartSync => now.syncing = true,
                Step::StopSync => now.syncing = false,
            }
        }
        panic!("no convergence");
    }

    #[test]
    fn builds_bottom_up() {
        let w = wanted(true, true, true);
        assert_eq!(decide(&w, &running(false, false, 0)).step, Step::Attach);
        assert_eq!(
            decide(&w, &running(true, false, 0)).step,
            Step::StartPrimary
        );
        assert_eq!(decide(&w, &running(true, true, 0)).step, Step::Stay);
    }

    #[test]
    fn tears_down_top_down() {
        let w = wanted(true, false, true);
        assert_eq!(decide(&w, &running(true, true, 0)).step, Step::StopPrimary);
        assert_eq!(decide(&w, &running(true, false, 0)).step, Step::Detach);
        assert_eq!(
            decide_teardown(&running(true, true, 0)).step,
            Step::StopPrimary
        );
    }

    #[test]
    fn secondary_keeps_attached_and_replays() {
        let (now, blocked) = converge(&wanted(true, true, false), running(true, true, 0));
        assert_eq!(
            now,
            Running {
                replaying: true,
                ..running(true, false, 0)
            }
        );
        assert_eq!(blocked, None);
        let mut paused = wanted(true, true, false);
        paused.allow_replay = false;
        assert_eq!(converge(&paused, now).0, running(true, false, 0));
    }

    #[test]
    fn a_secondary_fetches_without_a_disk_and_stops_before_becoming_primary() {
        let mut w = wanted(true, false, false);
        w.connect = true;
        assert_eq!(decide(&w, &running(false, false, 0)).step, Step::StartFetch);
        let fetching = Running {
            fetching: true,
            ..running(true, false, 0)
        };
        w.primary = true;
        w.attach = true;
        assert_eq!(decide(&w, &fetching).step, Step::StopFetch);
        let (now, _) = converge(&w, fetching);
        assert!(now.primary && !now.fetching && !now.replaying);
    }

    #[test]
    fn replay_stops_before_the_logger_starts() {
        let replaying = Running {
            replaying: true,
            ..running(true, false, 0)
        };
        assert_eq!(
            decide(&wanted(true, true, true), &replaying).step,
            Step::StopReplay
        );
        assert_eq!(
            decide(&wanted(true, false, false), &replaying).step,
            Step::StopReplay
        );
    }

    #[test]
    fn open_device_is_never_pulled() {
        for w in [
            wanted(true, true, false),
            wanted(true, false, false),
            wanted(false, false, false),
        ] {
            let d = decide(&w, &running(true, true, 2));
            assert_eq!(
                d,
                Decision {
                    step: Step::Stay,
                    blocked: Some(Blocked::DeviceInUse)
                },
                "{w:?}"
            );
        }
        assert_eq!(
            decide_teardown(&running(true, true, 1)).blocked,
            Some(Blocked::DeviceInUse)
        );
    }

    #[test]
    fn a_host_that_left_or_a_deleted_resource_tears_everything_down() {
        // After leave-resource (or delete-resource) the host's links are tombstones.
        let left = Wanted::from_links(
            "bravo",
            "r0",
            &WantedLinks {
                data: Some(".deleted"),
                attach: Some(".deleted"),
                allow_replay: Some(".deleted"),
                connect: Some(".deleted"),
                primary: Some(".deleted"),
                size: Some(".deleted"),
                device: Some(".deleted"),
            },
        );
        assert!(!left.member && !left.attach && !left.primary && !left.connect);
        let nothing = Running {
            data_size: 1 << 20,
            ..Running::default()
        };
        let secondary = Running {
            replaying: true,
            fetching: true,
            ..running(true, false, 0)
        };
        assert_eq!(converge(&left, secondary), (nothing, None));
        assert_eq!(converge(&left, running(true, true, 0)), (nothing, None));
        // An open device is never yanked: it stays, and says why.
        let (now, blocked) = converge(&left, running(true, true, 1));
        assert!(now.primary && now.attached);
        assert_eq!(blocked, Some(Blocked::DeviceInUse));
    }

    #[test]
    fn small_data_device_blocks_primary() {
        let mut w = wanted(true, true, true);
        w.size = Some(2 << 20);
        let d = decide(&w, &running(true, false, 0));
        assert_eq!(
            d,
            Decision {
                step: Step::Stay,
                blocked: Some(Blocked::DataTooSmall)
            }
        );
        w.size = None;
        assert_eq!(
            decide(&w, &running(true, false, 0)).blocked,
            Some(Blocked::NoSize)
        );
    }

    #[test]
    fn every_state_converges_to_the_wanted_one() {
        for bits in 0..8u8 {
            let w = wanted(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
            for start in [
                running(false, false, 0),
                running(true, false, 0),
                running(true, true, 0),
            ] {
                let (now, blocked) = converge(&w, start);
                let attached = w.member && w.attach;
                assert_eq!(blocked, None);
                assert_eq!(now.attached, attached, "{w:?} from {start:?}");
                assert_eq!(now.primary, attached && w.primary, "{w:?} from {start:?}");
                assert_eq!(
                    now.replaying,
                    attached && !w.primary,
                    "{w:?} from {start:?}"
                );
                assert!(!(now.primary && now.replaying));
            }
        }
    }

    #[test]
    fn a_designated_primary_without_fetch_is_a_forced_failover() {
        let mut w = wanted(true, true, true);
        w.connect = true;
        assert!(!w.forced(), "planned: fetch stays on");
        w.connect = false;
        assert!(w.forced());
        // Forced or not, the steps are the same: the logger starts from the local data.
        assert_eq!(
            converge(
                &w,
                Running {
                    replaying: true,
                    ..running(true, false, 0)
                }
            )
            .0,
            running(true, true, 0)
        );
        w.primary = false;
        assert!(!w.forced(), "a secondary with fetch paused is no failover");
        w.primary = true;
        w.member = false;
        assert!(!w.forced());
    }

    #[test]
    fn a_due_sync_runs_instead_of_the_replay_and_the_replay_follows() {
        let mut w = wanted(true, true, false);
        w.syncstatus = Some(0);
        let (now, blocked) = converge(&w, running(false, false, 0));
        assert_eq!(blocked, None);
        assert!(now.attached && now.syncing && !now.replaying);
        // A replay that ran before the sync became due stops first.
        let replaying = Running {
            replaying: true,
            ..running(true, false, 0)
        };
        assert_eq!(decide(&w, &replaying).step, Step::StopReplay);
        // Paused: neither sync nor replay.
        let mut paused = w;
        paused.sync = false;
        let (now, _) = converge(&paused, now);
        assert!(now.attached && !now.syncing && !now.replaying);
        // Finished: the sync stops and the replay starts.
        w.syncstatus = Some(1 << 20);
        let syncing = Running {
            syncing: true,
            ..running(true, false, 0)
        };
        assert_eq!(decide(&w, &syncing).step, Step::StopSync);
        let (now, _) = converge(&w, syncing);
        assert!(now.replaying && !now.syncing);
    }

    #[test]
    fn a_sync_needs_a_primary_elsewhere_and_never_runs_on_the_primary() {
        let mut w = wanted(true, true, false);
        w.syncstatus = Some(0);
        w.other_primary = false;
        let (now, blocked) = converge(&w, running(false, false, 0));
        assert_eq!(blocked, Some(Blocked::NoSyncSource));
        assert!(!now.syncing && !now.replaying);
        let mut p = wanted(true, true, true);
        p.syncstatus = Some(0);
        assert!(!p.needs_sync());
        let (now, _) = converge(&p, running(false, false, 0));
        assert!(now.primary && !now.syncing);
        // Becoming primary stops a running sync first.
        let syncing = Running {
            syncing: true,
            ..running(true, false, 0)
        };
        assert_eq!(decide(&p, &syncing).step, Step::StopSync);
        let w = Wanted::from_links(
            "b",
            "r0",
            &WantedLinks {
                data: Some("/dev/x"),
                attach: Some("1"),
                allow_replay: Some("1"),
                primary: Some("a"),
                size: Some("4096"),
                ..WantedLinks::default()
            },
        )
        .with_sync(Some("1"), Some("100"));
        assert!(w.needs_sync() && w.sync && w.other_primary);
        assert!(!w.with_sync(Some("1"), Some("4096")).needs_sync());
        assert!(!w.with_sync(Some("1"), None).needs_sync());
    }

    #[test]
    fn links_are_read_like_the_original() {
        let w = Wanted::from_links(
            "alpha",
            "r0",
            &WantedLinks {
                data: Some("/dev/vda"),
                attach: Some("1"),
                allow_replay: Some("1"),
                connect: Some("1"),
                primary: Some("alpha"),
                size: Some("4096"),
                ..WantedLinks::default()
            },
        );
        let all = Wanted {
            member: true,
            attach: true,
            primary: true,
            allow_replay: true,
            connect: true,
            size: Some(4096),
            device_name: "r0",
            sync: false,
            syncstatus: None,
            other_primary: false,
        };
        assert_eq!(w, all);
        let w = Wanted::from_links(
            "alpha",
            "r0",
            &WantedLinks {
                data: Some("/dev/vda"),
                attach: Some("0"),
                connect: Some("0"),
                primary: Some("(none)"),
                size: Some("x"),
                device: Some("data"),
                ..WantedLinks::default()
            },
        );
        let expected = Wanted {
            attach: false,
            primary: false,
            allow_replay: false,
            connect: false,
            size: None,
            device_name: "data",
            ..all
        };
        assert_eq!(w, expected);
        let w = Wanted::from_links(
            "alpha",
            "r0",
            &WantedLinks {
                data: Some(".deleted"),
                attach: Some("junk"),
                allow_replay: Some("2"),
                primary: Some("bravo"),
                device: Some(".deleted"),
                ..WantedLinks::default()
            },
        );
        let none = Wanted {
            member: false,
            connect: false,
            other_primary: true,
            ..expected
        };
        let none = Wanted {
            device_name: "r0",
            ..none
        };
        assert_eq!(w, none);
    }
}
