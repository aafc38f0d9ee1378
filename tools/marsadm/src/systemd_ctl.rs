// SPDX-License-Identifier: GPL-2.0
//! How marsadm acts on systemd: `systemctl` (or `$MARS_SYSTEMCTL`, for tests), `.script`
//! pseudo-units, and the locks that keep concurrent triggers apart.
//!
//! The original warned that `systemctl` called from inside a unit can deadlock: a
//! synchronous `systemctl start X` waits for X's job, and when X is ordered after the very
//! job that runs the call (or after a job queued behind it), neither finishes. It used
//! breakable locks. We never wait for a job from inside a unit: when marsadm runs under
//! systemd (`$INVOCATION_ID` is set, which systemd does for every unit it starts, or the
//! command is `systemd-trigger-extern`), `start` and `stop` are queued with
//! `systemctl --no-block` and the call returns at once; systemd orders the jobs by the units'
//! dependencies. Every child is killed after `--timeout`. Locks are `flock`s: the kernel
//! drops them when their holder dies, so none is ever stale and none needs breaking.

use crate::fail::Fail;
use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exit code with which `systemctl stop` says the unit is not loaded: nothing to stop.
const EXIT_UNIT_NOT_LOADED: i32 = 5;

/// A unit operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Start,
    Stop,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
        }
    }
}

/// The way to systemd of one marsadm run.
#[derive(Clone, Debug)]
pub(crate) struct Systemctl {
    program: PathBuf,
    /// Queue jobs without waiting for them (marsadm runs inside a unit).
    pub(crate) no_block: bool,
    /// How long a child may take; `None`: forever.
    timeout: Option<Duration>,
    script_dir: PathBuf,
}

/// Whether this process runs as (part of) a systemd unit.
pub(crate) fn inside_unit() -> bool {
    std::env::var_os("INVOCATION_ID").is_some_and(|v| !v.is_empty())
}

/// `--timeout` as a duration (`None` for a negative value: forever).
pub(crate) fn timeout_of(seconds: i64) -> Option<Duration> {
    u64::try_from(seconds).ok().map(Duration::from_secs)
}

impl Systemctl {
    pub(crate) fn new(no_block: bool, timeout: Option<Duration>, script_dir: &Path) -> Systemctl {
        let program = std::env::var_os("MARS_SYSTEMCTL")
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from("systemctl"), PathBuf::from);
        Systemctl {
            program,
            no_block,
            timeout,
            script_dir: script_dir.to_path_buf(),
        }
    }

    /// Runs `program args`, killing it after the timeout; its exit code.
    fn run(&self, program: &Path, args: &[&str]) -> Result<i32, String> {
        let shown = format!("{} {}", program.display(), args.join(" "));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run '{shown}': {e}"))?;
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status.code().unwrap_or(-1)),
                Ok(None) => {}
                Err(e) => return Err(format!("'{shown}': {e}")),
            }
            if self.timeout.is_some_and(|t| start.elapsed() >= t) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "'{shown}' did not finish within {} s: killed",
                    self.timeout.map_or(0, |t| t.as_secs())
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `systemctl daemon-reload` (the caller holds the generation lock, which serialises
    /// it). It returns when systemd has read the unit files; it waits for no job.
    pub(crate) fn daemon_reload(&self) -> Result<(), String> {
        match self.run(&self.program, &["daemon-reload"])? {
            0 => Ok(()),
            code => Err(format!(
                "'{} daemon-reload' exited with {code}",
                self.program.display()
            )),
        }
    }

    /// Starts or stops `unit`: a `.script` is run as `<script dir>/<unit> start|stop`; a unit
    /// goes to systemctl, with `--no-block` inside a unit. The exit code (0: done or queued;
    /// stopping a unit systemd does not know counts as done).
    pub(crate) fn unit(&self, op: Op, unit: &str) -> Result<i32, String> {
        if unit.ends_with(".script") {
            let script = self.script_dir.join(unit);
            if !script.is_file() {
                if op == Op::Stop {
                    return Ok(0);
                }
                return Err(format!(
                    "script '{}' does not exist (no template generated it)",
                    script.display()
                ));
            }
            return self.run(&script, &[op.as_str()]);
        }
        let mut args = Vec::new();
        if self.no_block {
            args.push("--no-block");
        }
        args.push(op.as_str());
        args.push(unit);
        let code = self.run(&self.program, &args)?;
        if op == Op::Stop && code == EXIT_UNIT_NOT_LOADED {
            return Ok(0);
        }
        Ok(code)
    }
}

/// An exclusive `flock` on a file in the lock directory, released on drop.
pub(crate) struct Lock {
    _file: File,
}

/// Takes the lock `name` in `dir`, waiting for it at most `timeout` (`None`: forever).
pub(crate) fn lock(dir: &Path, name: &str, timeout: Option<Duration>) -> Result<Lock, Fail> {
    fs::create_dir_all(dir).map_err(|e| {
        Fail::refused(format!(
            "cannot create the lock directory '{}': {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(name);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Fail::refused(format!("cannot open the lock '{}': {e}", path.display())))?;
    let start = Instant::now();
    loop {
        // SAFETY: the descriptor belongs to `file`, which lives across the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Lock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) && e.raw_os_error() != Some(libc::EINTR) {
            return Err(Fail::refused(format!(
                "cannot lock '{}': {e}",
                path.display()
            )));
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return Err(Fail::not_confirmed(format!(
                "another marsadm holds the lock '{}' for more than {} s",
                path.display(),
                timeout.map_or(0, |t| t.as_secs())
            ))
            .line("it is still working on the same resource; nothing was done here")
            .line("try again later, or give it more time with --timeout"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_and_is_free_after_drop() {
        let dir = std::env::temp_dir().join(format!("marsadm-lock-{}", std::process::id()));
        let held = lock(&dir, "r0.lock", Some(Duration::ZERO)).unwrap();
        let e = match lock(&dir, "r0.lock", Some(Duration::from_millis(120))) {
            Err(e) => e,
            Ok(_) => panic!("the lock was taken twice"),
        };
        assert_eq!(e.code, crate::fail::EXIT_NOT_CONFIRMED);
        assert!(e.lines[0].contains("holds the lock"), "{:?}", e.lines);
        // Another resource's lock is independent.
        let other = lock(&dir, "r1.lock", Some(Duration::ZERO)).unwrap();
        drop(held);
        let again = lock(&dir, "r0.lock", Some(Duration::ZERO)).unwrap();
        drop((again, other));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn timeouts_follow_the_option() {
        assert_eq!(timeout_of(-1), None);
        assert_eq!(timeout_of(3), Some(Duration::from_secs(3)));
    }
}
