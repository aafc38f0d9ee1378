// SPDX-License-Identifier: GPL-2.0
//! The exchange between hosts (`Documentation/protocol.rst`), by port and role: the metadata
//! (port 7777, `meta/`: `serve.rs` serves this host's `/mars` tree, `pull.rs` runs one peer
//! thread per other member listed in `/mars/ips/`, which pulls that member's tree and merges
//! it under the Lamport rule, `merge.rs`), the logfiles (port 7778, `logs/`: `serve.rs`,
//! `fetch.rs`) and the full sync (port 7779, `sync/`: `serve.rs`, `copy.rs`).
//!
//! Shared by all of them: `server.rs` (the listeners, the accept and the server's side of the
//! authenticated handshake, then the role's server), `client.rs` (connect and the client's side
//! of the handshake), `session.rs` (the one client session loop: reconnect with backoff),
//! `conn.rs` (frames on a connection), `auth.rs` (the cluster secret), `members.rs` (who is
//! who in `/mars/ips/`), `log_limit.rs` (rate-limited complaints). Every access to the `/mars`
//! tree goes through `crate::tree`.
//!
//! Threads: `mars_net` (the manager: starts and stops peer threads as `/mars/ips/` changes,
//! and passes on requests to notify or pull), `mars_listen` (one per port: accepts connections
//! and starts a `mars_serve` thread for each), `mars_peer` (one per peer), and, started by the
//! strategy, `mars_fetch` and `mars_sync` (one per resource that needs them). Every thread that may block on a
//! socket is a [`Worker`]: stopping it shuts its socket down first, so unloading the module
//! never waits for a network timeout.
//!
//! The strategy thread calls [`after_round`] once per round; a round that a local trigger
//! started (marsadm, `/proc/sys/mars/trigger`) makes every peer thread send `Notify` and pull,
//! so a change reaches the peers in one round trip instead of one poll interval.

mod auth;
mod client;
mod conn;
mod log_limit;
pub(crate) mod logs;
mod members;
mod merge;
mod meta;
pub(crate) mod pack;
mod server;
mod session;
pub(crate) mod sync;

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::kapi::kthread::{KThread, ThreadContext, WaitEvent, Wakeup};
use crate::kapi::socket::Socket;
use crate::knobs;
use crate::logger::durable::Loggers;
use crate::mars_core::wire::PortRole;
use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::{Arc, Mutex};

/// An owned byte string.
pub(super) type Bytes = KVec<u8>;

/// The concatenation of `parts`.
fn bytes(parts: &[&[u8]]) -> Result<Bytes> {
    let mut out = KVec::new();
    for part in parts {
        out.extend_from_slice(part, GFP_KERNEL)?;
    }
    Ok(out)
}

/// The concatenation of `parts`, empty when memory runs out (no key of the tree is empty, so
/// a lookup of it finds nothing).
fn concat(parts: &[&[u8]]) -> Bytes {
    bytes(parts).unwrap_or_default()
}

/// Pending requests for the manager thread.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// Where the manager sleeps; [`request`] wakes it.
static MANAGER_WAKEUP: Wakeup = Wakeup::new();

/// Most sockets one network thread blocks on at once (the range of `log_fetch_sockets` and
/// `sync_sockets`).
pub(crate) const MAX_THREAD_SOCKETS: usize = 8;
/// Every peer thread sends `Notify` (and pulls).
const NOTIFY_ALL: u32 = 1;
/// Every peer thread pulls now.
const PULL_ALL: u32 = 2;

/// Trigger bits of a round that was started by a local change (marsadm or the kernel itself):
/// `LOCAL`, `TO_REMOTE`, `TO_REMOTE_ALL`. A round started by a peer's `Notify`
/// ([`knobs::TRIGGER_FROM_PEER`]) notifies nobody, so two hosts never notify each other in
/// a loop.
const NOTIFYING_TRIGGERS: u32 = 1 | 4 | 8;
/// Trigger bit `FROM_REMOTE`: pull from every peer now.
const PULLING_TRIGGERS: u32 = 2 | 16;

/// Passes a request to the manager thread. Any context.
fn request(bits: u32) {
    PENDING.fetch_or(bits, Ordering::AcqRel);
    MANAGER_WAKEUP.wake();
}

/// The strategy's hook: called after every round with the trigger bits that started it.
pub(crate) fn after_round(trigger: u32) {
    if trigger & NOTIFYING_TRIGGERS != 0 {
        request(NOTIFY_ALL);
    } else if trigger & PULLING_TRIGGERS != 0 {
        request(PULL_ALL);
    }
}

/// What every network thread shares.
#[pin_data]
pub(crate) struct Shared {
    /// Serialises changes of the local tree made on behalf of peers: two threads merging the
    /// same link would otherwise race on its temporary name.
    #[pin]
    merge_lock: Mutex<()>,
    /// The running loggers (the log server serves up to their in-memory durable ends).
    loggers: Option<Arc<Loggers>>,
}

impl Shared {
    fn new(loggers: Option<Arc<Loggers>>) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Shared { merge_lock <- new_mutex!((), "mars_net_merge"), loggers }),
            GFP_KERNEL,
        )
    }
}

/// The stop handshake of one [`Worker`]: the socket its thread blocks on, if any, and whether
/// it should stop.
///
/// # Invariants
/// Once `stopping` is set (under the lock), every socket installed is shut down, so the
/// thread cannot block on it for longer than one timeout.
#[pin_data]
pub(crate) struct Stopper {
    stopping: AtomicBool,
    /// The sockets the thread may block on (a log fetcher holds one per parallel connection).
    #[pin]
    socket: Mutex<[Option<Arc<Socket>>; MAX_THREAD_SOCKETS]>,
    /// Wakes the thread out of a wait between two pulls.
    #[pin]
    wake: WaitEvent,
    /// Requests for a peer thread: [`NOTIFY_ALL`] / [`PULL_ALL`] bits.
    pending: AtomicU32,
    /// Set by the thread when its body returned (a finished server thread can be reaped).
    done: AtomicBool,
}

impl Stopper {
    fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Stopper {
                stopping: AtomicBool::new(false),
                socket <- new_mutex!([const { None }; MAX_THREAD_SOCKETS], "mars_net_socket"),
                wake <- WaitEvent::new(),
                pending: AtomicU32::new(0),
                done: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// Adds `socket` to the ones [`Stopper::stop`] shuts down. Fails (and shuts it down) if
    /// the stop came first or every slot is taken.
    pub(crate) fn install(&self, socket: &Arc<Socket>) -> Result {
        let mut slots = self.socket.lock();
        if self.stopping.load(Ordering::Acquire) {
            socket.shutdown();
            return Err(kernel::error::code::EPIPE);
        }
        let Some(slot) = slots.iter_mut().find(|s| s.is_none()) else {
            socket.shutdown();
            return Err(kernel::error::code::EBUSY);
        };
        *slot = Some(socket.clone());
        Ok(())
    }

    /// Forgets every installed socket (before the thread drops its own references).
    pub(crate) fn clear(&self) {
        let mut old: [Option<Arc<Socket>>; MAX_THREAD_SOCKETS] =
            [const { None }; MAX_THREAD_SOCKETS];
        core::mem::swap(&mut old, &mut *self.socket.lock());
        drop(old);
    }

    /// Forgets `socket` (a connection of a thread with several ends).
    pub(crate) fn remove(&self, socket: &Arc<Socket>) {
        let old = {
            let mut slots = self.socket.lock();
            slots
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, socket)))
                .and_then(Option::take)
        };
        drop(old);
    }

    /// Whether the thread should stop.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Asks the thread to stop and wakes it wherever it blocks.
    fn stop(&self) {
        let sockets = {
            let slots = self.socket.lock();
            self.stopping.store(true, Ordering::Release);
            slots.clone()
        };
        for socket in sockets.iter().flatten() {
            socket.shutdown();
        }
        self.wake.wake();
    }

    /// Passes request bits to the thread and wakes it.
    fn post(&self, bits: u32) {
        self.pending.fetch_or(bits, Ordering::AcqRel);
        self.wake.wake();
    }

    /// Takes the pending request bits.
    pub(crate) fn take_pending(&self) -> u32 {
        self.pending.swap(0, Ordering::AcqRel)
    }

    /// Sleeps up to `ms` or until the thread should stop (requests do not end the sleep).
    pub(crate) fn sleep(&self, context: &ThreadContext, ms: u32) {
        self.wake.wait(Some(context), ms, || self.stopping());
    }

    /// Sleeps up to `ms` until a request arrives or the thread should stop.
    pub(crate) fn wait(&self, context: &ThreadContext, ms: u32) {
        self.wake.wait(Some(context), ms, || {
            self.stopping() || self.pending.load(Ordering::Acquire) != 0
        });
    }
}

/// What a worker thread runs on.
pub(crate) struct WorkerState<T> {
    pub(crate) stopper: Arc<Stopper>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) data: T,
}

/// A network thread that may block on a socket; dropping it shuts the socket down, then stops
/// and waits for the thread.
pub(crate) struct Worker<T: Send + Sync + 'static> {
    stopper: Arc<Stopper>,
    _thread: KThread<WorkerState<T>>,
}

impl<T: Send + Sync + 'static> Worker<T> {
    fn spawn(
        name: &'static CStr,
        shared: &Arc<Shared>,
        data: T,
        body: fn(&WorkerState<T>, &ThreadContext),
    ) -> Result<Self> {
        let stopper = Stopper::new()?;
        let state = WorkerState {
            stopper: stopper.clone(),
            shared: shared.clone(),
            data,
        };
        let thread = KThread::spawn(name, state, body)?;
        Ok(Worker {
            stopper,
            _thread: thread,
        })
    }

    fn stopper(&self) -> &Stopper {
        &self.stopper
    }
}

impl<T: Send + Sync + 'static> Drop for Worker<T> {
    fn drop(&mut self) {
        // Before the thread field drops (kthread_stop waits for the thread).
        self.stopper.stop();
    }
}

/// The running network layer; dropping it stops every network thread promptly.
pub(crate) struct Net {
    _manager: KThread<Arc<Shared>>,
}

impl Net {
    /// Starts the manager, which starts the listener and the peer threads.
    pub(crate) fn start(loggers: Arc<Loggers>) -> Result<Self> {
        MANAGER_WAKEUP.init();
        PENDING.store(0, Ordering::Release);
        let shared = Shared::new(Some(loggers))?;
        Ok(Net {
            _manager: KThread::spawn(c_str!("mars_net"), shared, manage)?,
        })
    }
}

/// How often the manager looks at `/mars/ips/` without being asked.
const MANAGER_INTERVAL_MS: u32 = 1000;

/// The manager thread: keeps one peer thread per other member, and the listener.
fn manage(shared: &Arc<Shared>, context: &ThreadContext) {
    let mut listener = None;
    let mut log_listener = None;
    let mut sync_listener = None;
    let mut peers: KVec<meta::Peer> = KVec::new();
    let mut listen_error_told = false;
    while !context.should_stop() {
        for (slot, role) in [
            (&mut listener, PortRole::Meta),
            (&mut log_listener, PortRole::Log),
            (&mut sync_listener, PortRole::Sync),
        ] {
            if slot.is_some() {
                continue;
            }
            match Worker::spawn(c_str!("mars_listen"), shared, role, server::listen) {
                Ok(worker) => *slot = Some(worker),
                Err(e) if !listen_error_told => {
                    pr_warn!("net: cannot start the listener: {:?}\n", e);
                    listen_error_told = true;
                }
                Err(_) => {}
            }
        }
        meta::reconcile(shared, &mut peers);
        let bits = PENDING.swap(0, Ordering::AcqRel);
        if bits != 0 {
            for peer in peers.iter() {
                peer.post(bits);
            }
        }
        MANAGER_WAKEUP.sleep(context, MANAGER_INTERVAL_MS, || {
            PENDING.load(Ordering::Acquire) != 0
        });
    }
    // Stop them all at once first, then wait for each (dropping a Worker waits).
    for peer in peers.iter() {
        peer.stop();
    }
    for listener in [
        listener.as_ref(),
        log_listener.as_ref(),
        sync_listener.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        listener.stopper().stop();
    }
    drop(peers);
    drop(listener);
    drop(log_listener);
    drop(sync_listener);
}

/// A peer's `Notify` arrived: pull from every peer now and let the strategy do a round,
/// without notifying anybody in turn.
fn notified_by_peer() {
    request(PULL_ALL);
    knobs::trigger(knobs::TRIGGER_FROM_PEER);
}
