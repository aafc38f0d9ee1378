// SPDX-License-Identifier: GPL-2.0
//! The client session loop, one for every client role (the metadata pull, the log fetch, the
//! sync copy): run a session (a role connects and makes the authenticated handshake through
//! [`client::connect`](super::client::connect), then works), and when it fails, wait before
//! the next (`mars_core::retry`): 1 s, doubling up to the role's maximum, less up to a quarter
//! so that hosts do not retry in lockstep. A refusal that retrying soon cannot cure (a foreign
//! cluster, no common version, an unknown host or one at another address, failed
//! authentication; another host or a bad proof at the address) waits the maximum at once. A session that did useful work starts the backoff over. The loop ends when
//! the thread is asked to stop through its [`Stopper`] (a stop shuts the sockets down and ends
//! any wait).
//!
//! A failure is told in the kernel log by the role when it differs from the last one told, so
//! a peer that stays away costs one line, not one per retry.

use crate::kapi::kthread::ThreadContext;
use crate::kapi::time::real_time;
use crate::mars_core::retry::RetryWait;
use crate::mars_core::wire::{ErrorCode, RefuseCode};
use kernel::error::Error;

use super::client::ClientError;
use super::conn::ConnError;
use super::Stopper;

/// What the loop does after a session (or one step of a session) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// The thread is asked to stop.
    Stop,
    /// Go on at once; the backoff starts over.
    Again,
    /// Nothing to do now: wait this many milliseconds (or for a stop); the backoff starts over.
    Idle(u32),
    /// Back off: the current wait, or the role's maximum at once when `at_most`.
    Retry {
        /// Whether to wait the maximum at once.
        at_most: bool,
    },
}

/// How a session ended, as a role tells it: compared with the last one to tell only changes.
pub(super) trait Outcome: Copy + PartialEq {
    /// What the loop does next.
    fn next(&self) -> Next;
}

impl Outcome for ClientError {
    fn next(&self) -> Next {
        match self {
            ClientError::Stopping => Next::Stop,
            ClientError::Refused(
                RefuseCode::ForeignCluster
                | RefuseCode::VersionMismatch
                | RefuseCode::UnknownPeer
                | RefuseCode::AuthFailed
                | RefuseCode::NotMember,
            )
            | ClientError::WrongHost
            | ClientError::BadProof => Next::Retry { at_most: true },
            _ => Next::Retry { at_most: false },
        }
    }
}

/// How a session of a client that sends requests (the log fetch, the sync copy) ended: the
/// ends they share, and the role's own reasons `R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended<R> {
    /// The thread is asked to stop.
    Stop,
    /// Setting up a connection failed.
    Client(ClientError),
    /// A connection failed or carried something invalid.
    Conn(ConnError),
    /// The server answered a request with an error.
    Remote(ErrorCode),
    /// Something local failed (a file, the device, memory).
    Local(Error),
    /// The role's own reason.
    Role(R),
}

impl<R> From<ConnError> for Ended<R> {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Stopping => Ended::Stop,
            e => Ended::Conn(e),
        }
    }
}

impl<R> From<ClientError> for Ended<R> {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Stopping => Ended::Stop,
            ClientError::Conn(e) => Ended::Conn(e),
            e => Ended::Client(e),
        }
    }
}

impl<R: Outcome> Outcome for Ended<R> {
    fn next(&self) -> Next {
        match self {
            Ended::Stop => Next::Stop,
            Ended::Client(e) => e.next(),
            Ended::Role(reason) => reason.next(),
            Ended::Conn(_) | Ended::Remote(_) | Ended::Local(_) => Next::Retry { at_most: false },
        }
    }
}

/// Runs `session` until the thread is asked to stop, backing off after failures up to
/// `backoff_max_ms`. `session` sets its argument once it did useful work (the backoff starts
/// over after it, and its failure is told even if it is the last one told); `tell` logs a
/// failure that differs from the last one told.
pub(super) fn run<O: Outcome>(
    stopper: &Stopper,
    context: &ThreadContext,
    backoff_max_ms: u32,
    mut session: impl FnMut(&mut bool) -> O,
    mut tell: impl FnMut(O),
) {
    let mut retry = RetryWait::new(backoff_max_ms);
    let mut told: Option<O> = None;
    while !context.should_stop() && !stopper.stopping() {
        let mut healthy = false;
        let end = session(&mut healthy);
        if stopper.stopping() {
            break;
        }
        if healthy {
            retry.reset();
            told = None;
        }
        let wait = match end.next() {
            Next::Stop => break,
            Next::Again => {
                retry.reset();
                told = None;
                continue;
            }
            Next::Idle(ms) => {
                retry.reset();
                ms
            }
            Next::Retry { at_most } => {
                if told != Some(end) {
                    tell(end);
                    told = Some(end);
                }
                // The clock's nanoseconds are noise enough to keep hosts out of step.
                retry.failed(at_most, real_time().nsec)
            }
        };
        stopper.sleep(context, wait);
    }
}
