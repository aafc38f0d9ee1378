// SPDX-License-Identifier: GPL-2.0
//! The client session loop, one for every client role (the metadata pull, the log fetch, the
//! sync copy): run a session (a role connects and makes the authenticated handshake through
//! [`client::connect`](super::client::connect), then works), and when it fails, wait before
//! the next: [`BACKOFF_MIN_MS`], doubling up to the role's maximum, less up to a quarter so
//! that hosts do not retry in lockstep. A refusal that retrying soon cannot cure (a foreign
//! cluster, no common version, an unknown host or one at another address, failed
//! authentication; another host or a bad proof at the address) waits the maximum at once. A session that did useful work starts the backoff over. The loop ends when
//! the thread is asked to stop through its [`Stopper`] (a stop shuts the sockets down and ends
//! any wait).
//!
//! A failure is told in the kernel log by the role when it differs from the last one told, so
//! a peer that stays away costs one line, not one per retry.

use crate::kapi::kthread::ThreadContext;
use crate::kapi::time::real_time;
use crate::mars_core::wire::RefuseCode;

use super::client::ClientError;
use super::Stopper;

/// First wait after a failure; it doubles with every failure after it, up to a role's maximum.
pub(super) const BACKOFF_MIN_MS: u32 = 1000;

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

/// `wait` less up to a quarter of it, varied by the clock's nanoseconds.
fn with_jitter(wait: u32) -> u32 {
    let jitter = (real_time().nsec % 1024).saturating_mul(wait / 4) / 1024;
    wait.saturating_sub(jitter)
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
    let mut backoff_ms = BACKOFF_MIN_MS.min(backoff_max_ms);
    let mut told: Option<O> = None;
    while !context.should_stop() && !stopper.stopping() {
        let mut healthy = false;
        let end = session(&mut healthy);
        if stopper.stopping() {
            break;
        }
        if healthy {
            backoff_ms = BACKOFF_MIN_MS.min(backoff_max_ms);
            told = None;
        }
        let wait = match end.next() {
            Next::Stop => break,
            Next::Again => {
                backoff_ms = BACKOFF_MIN_MS.min(backoff_max_ms);
                told = None;
                continue;
            }
            Next::Idle(ms) => {
                backoff_ms = BACKOFF_MIN_MS.min(backoff_max_ms);
                ms
            }
            Next::Retry { at_most } => {
                if told != Some(end) {
                    tell(end);
                    told = Some(end);
                }
                let wait = if at_most { backoff_max_ms } else { backoff_ms };
                backoff_ms = backoff_ms.saturating_mul(2).min(backoff_max_ms);
                with_jitter(wait)
            }
        };
        stopper.sleep(context, wait);
    }
}
