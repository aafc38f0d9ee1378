// SPDX-License-Identifier: GPL-2.0
//! The strategy thread (`mars_main` in the original): the control plane that turns the /mars
//! tree into actions. It runs one round every `scan_interval_sec`, or at once when triggered
//! (`/proc/sys/mars/trigger`, [`knobs::trigger`]), and for now a round is: if /mars is a
//! mounted filesystem, write this host's alive links, then scan the tree (which advances the
//! Lamport clock), wake systemd where a resource's `primary` or `systemd-*` links changed
//! ([`systemd`]), and run the resources. When the module unloads, the thread sets `alive` to 0
//! and ends. Every key of the tree is read and written through `crate::tree`.

mod emergency;
mod handover;
mod heartbeat;
mod resources;
mod scan;
mod systemd;

use core::sync::atomic::Ordering;

use crate::compress;
use crate::kapi::kthread::{KThread, ThreadContext};
use crate::kapi::uts;
use crate::kapi::vfs::{self, PathBuf};
use crate::knobs;
use crate::logger::durable::Loggers;
use crate::mars_core::names::is_valid_host_name;
use crate::tree::{self, MarsTree};
use heartbeat::AliveLinks;
use kernel::c_str;
use kernel::error::{code::ENOENT, Error};
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;
use resources::Resources;

/// The running strategy thread; dropping it stops the thread (promptly, even mid-sleep) and
/// waits until its last round and farewell are done.
pub(crate) struct Strategy {
    _thread: KThread<Arc<Loggers>>,
}

impl Strategy {
    /// Starts the thread.
    pub(crate) fn start(loggers: Arc<Loggers>) -> Result<Self> {
        Ok(Strategy {
            _thread: KThread::spawn(c_str!("mars_main"), loggers, run)?,
        })
    }
}

/// The thread's body: rounds until asked to stop, then the farewell.
fn run(loggers: &Arc<Loggers>, context: &ThreadContext) {
    let mut rounds = Rounds::default();
    rounds.resources.set_loggers(loggers.clone());
    while !context.should_stop() {
        let trigger = knobs::PENDING_TRIGGER.swap(0, Ordering::AcqRel);
        rounds.round(trigger);
        crate::net::after_round(trigger);
        let interval_ms = knobs::SCAN_INTERVAL_SEC.get().saturating_mul(1000);
        let interval_ms = u32::try_from(interval_ms).unwrap_or(u32::MAX);
        // A trigger that arrived during the round is still pending: no sleep then.
        knobs::TRIGGER_WAKEUP.sleep(context, interval_ms, || {
            knobs::PENDING_TRIGGER.load(Ordering::Acquire) != 0
        });
    }
    rounds.farewell();
}

/// What the thread keeps between rounds, mostly to report a state once when it changes
/// rather than every round.
#[derive(Default)]
struct Rounds {
    /// Whether /mars was a mounted filesystem in the last round (`None` before the first).
    mounted: Option<bool>,
    /// The host name of the alive links, and the links (`None` while the name is invalid).
    host: Option<(KVec<u8>, Option<AliveLinks>)>,
    /// The error of the last round, if it failed.
    last_error: Option<Error>,
    /// The bricks of this host's resources.
    resources: Resources,
    /// The emergency level (free space of /mars).
    levels: emergency::Levels,
    /// What the last scan saw of the keys that wake systemd.
    systemd: systemd::Triggers,
}

impl Rounds {
    /// One round, reporting a failure when it differs from the last one.
    fn round(&mut self, trigger: u32) {
        let result = self.try_round(trigger);
        match result {
            Ok(()) => self.last_error = None,
            Err(e) if self.last_error != Some(e) => {
                pr_warn!("strategy round failed: {:?}\n", e);
                self.last_error = Some(e);
            }
            Err(_) => {}
        }
    }

    fn try_round(&mut self, trigger: u32) -> Result {
        let root = tree::path(b"")?;
        if !self.check_mounted(&root) {
            return Ok(());
        }
        if let Some(links) = self.alive_links(&root)? {
            links.beat()?;
        }
        // Log compression: the cluster's setting in, what this host used out.
        if let Some((host, Some(_))) = &self.host {
            if let Err(e) = MarsTree::open().and_then(|mars| compress::strategy_round(&mars, host))
            {
                pr_debug!("log compression settings: {:?}\n", e);
            }
            // Digest choice: the disabled digests in, what the cluster offers and what this
            // host used out (before the resources: a logger starts with the settings read).
            if let Err(e) =
                MarsTree::open().and_then(|mars| crate::digest::strategy_round(&mars, host))
            {
                pr_debug!("digest settings: {:?}\n", e);
            }
        }
        let mut fingerprints = systemd::Fingerprints::default();
        let stats = scan::scan(&root, &mut |path, link| fingerprints.note(path, link))?;
        self.systemd.after_scan(fingerprints, !stats.truncated);
        let resources = match &self.host {
            Some((host, Some(_))) => {
                let space = self.levels.round(&root, host);
                self.resources.round(&root, host, &space)
            }
            _ => Ok(()),
        };
        pr_debug!(
            "round (trigger {:#x}): {} entries, {} dirs, {} links ({} stamped too far ahead), {} unreadable{}\n",
            trigger,
            stats.entries,
            stats.dirs,
            stats.links,
            stats.future_links,
            stats.errors,
            if stats.truncated { ", truncated" } else { "" }
        );
        if let Some(e) = stats.first_error {
            pr_debug!("first scan error: {:?}\n", e);
        }
        resources
    }

    /// Whether `root` is a mounted filesystem now; logs when that changes.
    fn check_mounted(&mut self, root: &PathBuf) -> bool {
        let mounted = matches!(vfs::is_mount_root(root.as_cstr()), Ok(true));
        if self.mounted != Some(mounted) {
            if mounted {
                pr_info!("{} is mounted: strategy rounds start\n", root);
            } else {
                pr_notice!("{} is not a mounted filesystem: idle until it is\n", root);
            }
            self.mounted = Some(mounted);
        }
        mounted
    }

    /// The alive links for the current host name, or `None` if the name is not valid for MARS
    /// (reported once per name).
    fn alive_links(&mut self, root: &PathBuf) -> Result<Option<&AliveLinks>> {
        let node = uts::node_name();
        let name = node.as_bytes();
        let known = matches!(&self.host, Some((host, _)) if host.as_slice() == name);
        if !known {
            let links = if is_valid_host_name(name) {
                pr_info!("host name {}\n", BStr::from_bytes(name));
                Some(AliveLinks::new(root, name)?)
            } else {
                pr_warn!(
                    "host name '{}' is not valid for MARS: no alive links\n",
                    BStr::from_bytes(name)
                );
                None
            };
            let mut host = KVec::new();
            host.extend_from_slice(name, GFP_KERNEL)?;
            self.host = Some((host, links));
        }
        Ok(self.host.as_ref().and_then(|(_, links)| links.as_ref()))
    }

    /// Marks this host as gone (`alive` = 0) if /mars is still there.
    fn farewell(&mut self) {
        self.resources.shutdown();
        let Ok(root) = tree::path(b"") else {
            return;
        };
        if !matches!(vfs::is_mount_root(root.as_cstr()), Ok(true)) {
            return;
        }
        let result = match self.alive_links(&root) {
            Ok(Some(links)) => links.farewell(),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            // No actual-<host> directory: this host never said it was alive.
            Err(e) if e != ENOENT => pr_warn!("cannot set alive to 0: {:?}\n", e),
            _ => {}
        }
    }
}
