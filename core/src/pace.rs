// SPDX-License-Identifier: GPL-2.0
//! Pacing a transfer to a rate limit (the log fetch's `log_fetch_speed_limit_kib`,
//! `rust/net/logs/fetch.rs`) by virtual scheduling over one number: the time at which the
//! link is free again. A transfer of `b` bytes occupies the link for `b / limit` from the
//! later of that time and now, and waits until its start. So the bytes of the transfers that
//! start within any interval of length `t` are at most `limit * t` plus one transfer, however
//! many threads share the link; there is no burst after an idle time. Times are nanoseconds
//! of a monotonic clock.

/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;

/// A transfer placed on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paced {
    /// How long the transfer waits before it starts.
    pub wait_ns: u64,
    /// When the link is free again after it.
    pub free_ns: u64,
}

/// Nanoseconds a transfer of `bytes` occupies a link of `limit_kib` KiB/s (0: no limit, 0 ns).
pub fn cost_ns(bytes: u64, limit_kib: u64) -> u64 {
    // No 128-bit division: the kernel has none. Exact up to 18 GB, then to the second.
    let per_second = limit_kib.saturating_mul(1024);
    match bytes.checked_mul(NS_PER_SEC) {
        Some(ns) => ns.checked_div(per_second).unwrap_or(0),
        None => bytes
            .checked_div(per_second)
            .map_or(0, |seconds| seconds.saturating_mul(NS_PER_SEC)),
    }
}

/// Places a transfer of `bytes` that wants to start at `now_ns` on a link of `limit_kib` KiB/s
/// that is free at `free_ns`. Without a limit it starts at once and leaves the link free.
pub fn pace(free_ns: u64, now_ns: u64, bytes: u64, limit_kib: u64) -> Paced {
    if limit_kib == 0 {
        return Paced {
            wait_ns: 0,
            free_ns: now_ns,
        };
    }
    let start = free_ns.max(now_ns);
    Paced {
        wait_ns: start.saturating_sub(now_ns),
        free_ns: start.saturating_add(cost_ns(bytes, limit_kib)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_transfer_costs_its_bytes_at_the_limit() {
        assert_eq!(cost_ns(1024, 1), 1000 * MS);
        assert_eq!(cost_ns(256 * 1024, 1024), 250 * MS);
        assert_eq!(cost_ns(1 << 20, 0), 0);
        assert_eq!(cost_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(cost_ns(1 << 40, 1 << 30), NS_PER_SEC);
    }

    #[test]
    fn no_limit_never_waits() {
        assert_eq!(
            pace(u64::MAX, 5, 1 << 20, 0),
            Paced {
                wait_ns: 0,
                free_ns: 5
            }
        );
    }

    #[test]
    fn back_to_back_transfers_keep_to_the_limit() {
        // 64 KiB transfers at 1024 KiB/s, each asked for as soon as the one before started:
        // 160 of them (10 MiB) take 10 s less one transfer.
        let (mut free, mut now) = (0u64, 1000 * MS);
        let first = now;
        let mut started = 0;
        for _ in 0..160 {
            let paced = pace(free, now, 64 * 1024, 1024);
            now += paced.wait_ns;
            started = now;
            free = paced.free_ns;
        }
        assert_eq!(started - first, 159 * 62_500_000);
        assert_eq!(free - first, 10_000 * MS);
    }

    #[test]
    fn no_burst_after_an_idle_time() {
        // The link was free long ago: the first transfer starts at once, the second waits
        // for the whole cost of the first.
        let first = pace(0, 3_600_000 * MS, 512 * 1024, 512);
        assert_eq!(first.wait_ns, 0);
        let second = pace(first.free_ns, 3_600_000 * MS, 4096, 512);
        assert_eq!(second.wait_ns, 1000 * MS);
    }

    #[test]
    fn threads_sharing_the_link_share_the_limit() {
        // Two threads take turns at the same moment: every transfer still waits for all the
        // ones placed before it.
        let mut free = 0;
        let now = 10 * MS;
        let mut waits = [0u64; 4];
        for wait in waits.iter_mut() {
            let paced = pace(free, now, 1024, 1);
            *wait = paced.wait_ns;
            free = paced.free_ns;
        }
        assert_eq!(waits, [0, 1000 * MS, 2000 * MS, 3000 * MS]);
    }
}
