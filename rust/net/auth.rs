// SPDX-License-Identifier: GPL-2.0
//! The kernel's side of the handshake authentication (`core::auth`): the cluster secret in
//! `/mars/.secret`, read with `O_NOFOLLOW` and checked (a regular file of root, not readable
//! by group or others, exactly 64 lowercase hex digits and a newline), cached and re-read when
//! its inode or mtime changes; SHA-256 from the crypto API; nonces from `get_random_bytes`.
//!
//! Without a valid secret this host serves no connection and opens none; it says so in the
//! kernel log (at most once per [`COMPLAINT_INTERVAL_SEC`]), naming the file and what is
//! wrong with it.

use core::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::kapi::crypto::{self, Shash};
use crate::kapi::file::{File, OpenMode};
use crate::kapi::random;
use crate::kapi::time::real_time;
use crate::kapi::vfs::Stat;
use crate::mars_core::auth::{Secret, SecretError, NONCE_LEN, SECRET_FILE, SECRET_FILE_LEN};
use kernel::prelude::*;

use crate::tree::{self, FileKind};

/// At most one complaint about a missing or bad secret per this many seconds.
pub(super) const COMPLAINT_INTERVAL_SEC: i64 = 60;
static LAST_COMPLAINT: AtomicI64 = AtomicI64::new(i64::MIN);

/// What is wrong with the secret file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SecretProblem {
    /// It does not exist (or cannot be looked up).
    Missing,
    /// It is not a regular file (a symlink, a directory, ...).
    NotRegular,
    /// Its owner is not root.
    NotRoot,
    /// Group or others may access it.
    Mode(u32),
    /// Its content is not 64 lowercase hex digits and a newline, or is all zeros.
    Format(SecretError),
    /// Reading it failed, or it changed while being read.
    Read,
    /// The kernel has no SHA-256.
    NoSha256,
}

impl core::fmt::Display for SecretProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SecretProblem::Missing => f.write_str("missing"),
            SecretProblem::NotRegular => f.write_str("not a regular file"),
            SecretProblem::NotRoot => f.write_str("not owned by root"),
            SecretProblem::Mode(mode) => {
                write!(
                    f,
                    "mode {:04o}: must not be accessible by group or others",
                    mode
                )
            }
            SecretProblem::Format(_) => {
                f.write_str("not exactly 64 lowercase hex digits and a newline")
            }
            SecretProblem::Read => f.write_str("cannot be read"),
            SecretProblem::NoSha256 => f.write_str("usable, but the kernel has no sha256"),
        }
    }
}

/// The last secret read, keyed by the file's inode and mtime: a sequence lock over atomics
/// (the sequence is odd while a writer updates; a reader that sees it change retries by
/// reading the file).
struct Cache {
    seq: AtomicU32,
    valid: AtomicBool,
    ino: AtomicU64,
    mtime_sec: AtomicI64,
    mtime_nsec: AtomicU32,
    key: [AtomicU64; 4],
}

static CACHE: Cache = Cache {
    seq: AtomicU32::new(0),
    valid: AtomicBool::new(false),
    ino: AtomicU64::new(0),
    mtime_sec: AtomicI64::new(0),
    mtime_nsec: AtomicU32::new(0),
    key: [const { AtomicU64::new(0) }; 4],
};

impl Cache {
    /// The cached secret if it was read from the file `stat` describes.
    fn get(&self, stat: &Stat) -> Option<Secret> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 != 0 {
            return None;
        }
        let valid = self.valid.load(Ordering::Relaxed);
        let ino = self.ino.load(Ordering::Relaxed);
        let sec = self.mtime_sec.load(Ordering::Relaxed);
        let nsec = self.mtime_nsec.load(Ordering::Relaxed);
        let mut key = [0u8; 32];
        for (chunk, word) in key.chunks_exact_mut(8).zip(self.key.iter()) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != before
            || !valid
            || ino != stat.ino
            || sec != stat.mtime.sec
            || nsec != stat.mtime.nsec
        {
            return None;
        }
        Secret::from_bytes(key).ok()
    }

    /// Remembers `secret` as read from the file `stat` describes (skipped while another
    /// thread updates).
    fn put(&self, stat: &Stat, secret: &Secret) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 != 0
            || self
                .seq
                .compare_exchange(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        self.ino.store(stat.ino, Ordering::Relaxed);
        self.mtime_sec.store(stat.mtime.sec, Ordering::Relaxed);
        self.mtime_nsec.store(stat.mtime.nsec, Ordering::Relaxed);
        for (word, chunk) in self.key.iter().zip(secret.as_bytes().chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.valid.store(true, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// Checks what `lstat` says about the secret file.
fn check_stat(stat: &Stat) -> Result<(), SecretProblem> {
    if stat.kind != FileKind::Regular {
        return Err(SecretProblem::NotRegular);
    }
    if stat.uid != 0 {
        return Err(SecretProblem::NotRoot);
    }
    if stat.perm & 0o077 != 0 {
        return Err(SecretProblem::Mode(stat.perm));
    }
    if stat.size != SECRET_FILE_LEN as u64 {
        return Err(SecretProblem::Format(SecretError::BadLength));
    }
    Ok(())
}

/// The cluster secret: from the cache while the file is unchanged, else read anew.
fn secret() -> Result<Secret, SecretProblem> {
    let path = tree::path(SECRET_FILE.as_bytes()).map_err(|_| SecretProblem::Read)?;
    let stat = tree::lstat(&path).map_err(|_| SecretProblem::Missing)?;
    check_stat(&stat)?;
    if let Some(secret) = CACHE.get(&stat) {
        return Ok(secret);
    }
    // O_NOFOLLOW: a symlink swapped in after the lstat is refused.
    let file = File::open(path.as_cstr(), OpenMode::Read).map_err(|_| SecretProblem::Read)?;
    // One byte more than a valid file has: a longer file is refused, not cut.
    let mut buf = [0u8; SECRET_FILE_LEN + 1];
    let len = file.read_at(&mut buf, 0).map_err(|_| SecretProblem::Read)?;
    drop(file);
    let parsed = Secret::parse(buf.get(..len).unwrap_or(&[])).map_err(SecretProblem::Format);
    buf.fill(0);
    let secret = parsed?;
    // The file must not have changed between the lstat and the read.
    let again = tree::lstat(&path).map_err(|_| SecretProblem::Missing)?;
    check_stat(&again)?;
    if again.ino != stat.ino || again.mtime != stat.mtime {
        return Err(SecretProblem::Read);
    }
    CACHE.put(&stat, &secret);
    Ok(secret)
}

/// What a handshake needs: the secret and a SHA-256.
pub(super) struct Keys {
    pub(super) secret: Secret,
    pub(super) sha: Shash<32>,
}

/// The keys for one handshake. On failure, logs why (rate-limited) and returns the problem:
/// the caller refuses the connection or does not connect.
pub(super) fn keys() -> Result<Keys, SecretProblem> {
    let result = secret().and_then(|secret| {
        let sha = crypto::sha256().map_err(|_| SecretProblem::NoSha256)?;
        Ok(Keys { secret, sha })
    });
    if let Err(problem) = &result {
        complain(*problem);
    }
    result
}

fn complain(problem: SecretProblem) {
    let now = real_time().sec;
    let last = LAST_COMPLAINT.load(Ordering::Relaxed);
    if now.saturating_sub(last) < COMPLAINT_INTERVAL_SEC
        || LAST_COMPLAINT
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    pr_warn!(
        "net: no valid cluster secret: /mars/{} is {}; refusing every connection and connecting nowhere\n",
        SECRET_FILE,
        problem
    );
}

/// A fresh handshake nonce.
pub(super) fn nonce() -> [u8; NONCE_LEN] {
    random::bytes()
}
