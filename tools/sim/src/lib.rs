// SPDX-License-Identifier: GPL-2.0
//! mars-sim: a deterministic simulator of several MARS hosts, in the spirit of TigerBeetle's
//! VOPR. Every host runs the decision functions of `mars_core::replica` (fetch, replay,
//! release, takeover, the handover pre-check) against a seeded faulty world: message delay,
//! loss and reordering, network partitions, host crashes that lose what was not durable,
//! restarts, log rotations, handovers and (optionally) forced failovers. After every step the
//! invariants are checked:
//!
//! * `prefix`: every host's data disk equals the write history up to its replay link, in log
//!   order (a prefix of the primary's history; of one branch after a forced failover);
//! * `no-lost-ack`: a new primary (not forced) continues a history that holds every write
//!   ever acknowledged to the application;
//! * `one-primary` / `one-primary-per-logfile`: without a forced failover, never two hosts
//!   logging at once, and never two logfiles with the same number;
//! * `liveness`: once the faults stop, the cluster converges (one primary, every secondary at
//!   the end of its log).
//!
//! A seed replays a run exactly. `Documentation/simulator.rst` has the details.

pub mod oracle;
pub mod rng;
pub mod world;

use world::World;

/// A deliberate bug, to prove that the simulator catches it (mutation testing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// The correct behaviour.
    None,
    /// Origins report their appended size instead of their durable size, so secondaries fetch
    /// (and replay) data a crash of the origin can still take back.
    FetchBeyondDurable,
    /// Replay switches to the next logfile whenever one exists, ignoring the version check.
    SkipVersionCheck,
    /// Replay claims the origin's durable end even where the local copy is shorter.
    ReplayBeyondFetched,
    /// The new primary does not wait for its peers' acknowledgements.
    TakeoverWithoutAcks,
}

impl Mutation {
    /// Every mutation, for the command line.
    pub const ALL: [Mutation; 5] = [
        Mutation::None,
        Mutation::FetchBeyondDurable,
        Mutation::SkipVersionCheck,
        Mutation::ReplayBeyondFetched,
        Mutation::TakeoverWithoutAcks,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::None => "none",
            Mutation::FetchBeyondDurable => "fetch-beyond-durable",
            Mutation::SkipVersionCheck => "skip-version-check",
            Mutation::ReplayBeyondFetched => "replay-beyond-fetched",
            Mutation::TakeoverWithoutAcks => "takeover-without-acks",
        }
    }
}

/// One run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The seed: the run is a function of it (and of the rest of this struct).
    pub seed: u64,
    /// Steps with faults; then up to `settle_steps` without, to check liveness.
    pub steps: u64,
    /// Steps allowed to converge after the faults end.
    pub settle_steps: u64,
    /// Hosts (2-4); 0 lets the seed choose.
    pub hosts: usize,
    /// Probability per message of being lost.
    pub loss: f64,
    /// Probability per message of being delivered twice.
    pub duplicate: f64,
    /// Largest delivery delay in ticks.
    pub max_delay: u64,
    /// Probability per step of a host crash.
    pub crash: f64,
    /// Probability per step of a new partition.
    pub partition: f64,
    /// Probability per step of a handover attempt.
    pub handover: f64,
    /// Probability per step of a forced failover (0 disables them).
    pub forced: f64,
    /// Probability per step of application writes.
    pub write_rate: f64,
    /// The deliberate bug, if any.
    pub mutation: Mutation,
}

impl Config {
    /// The default fault mix for `seed`. The seed also picks the number of hosts, and one
    /// seed in eight allows forced failovers.
    pub fn for_seed(seed: u64, steps: u64) -> Config {
        let mut r = rng::Rng::new(seed ^ 0x5eed);
        let hosts = 2 + r.index(3);
        let forced = if r.below(8) == 0 { 0.002 } else { 0.0 };
        Config {
            seed,
            steps,
            settle_steps: 4000,
            hosts,
            loss: 0.05 + r.below(10) as f64 / 100.0,
            duplicate: 0.02,
            max_delay: 1 + r.below(8),
            crash: 0.002 + r.below(4) as f64 / 1000.0,
            partition: 0.004,
            handover: 0.004,
            forced,
            write_rate: 0.4,
            mutation: Mutation::None,
        }
    }
}

/// What a run found.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The step of the violation.
    pub step: u64,
    /// The invariant that broke.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// The last events and the hosts' state.
    pub trace_tail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} FAILED at step {}: {}: {}",
            self.seed, self.step, self.invariant, self.detail
        )?;
        write!(f, "{}", self.trace_tail)
    }
}

/// Summary of a passing run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Hosts simulated.
    pub hosts: usize,
    /// Steps taken (faulty and settling).
    pub steps: u64,
    /// Counters.
    pub stats: world::Stats,
    /// Whether a forced failover happened (then liveness is not required).
    pub forced: bool,
    /// The last events and the hosts' state at the end.
    pub trace_tail: String,
}

fn failure(w: &World, seed: u64, invariant: &'static str, detail: String) -> Failure {
    let mut tail = String::new();
    for line in w.trace.iter().skip(w.trace.len().saturating_sub(60)) {
        tail.push_str(line);
        tail.push('\n');
    }
    tail.push_str("hosts:\n");
    tail.push_str(&w.describe());
    if std::env::var_os("MARS_SIM_DUMP").is_some() {
        for h in 0..w.hosts.len() {
            tail.push_str(&w.dump(h));
        }
    }
    Failure {
        seed,
        step: w.now,
        invariant,
        detail,
        trace_tail: tail,
    }
}

/// Runs one seed.
pub fn run(cfg: &Config) -> Result<Report, Failure> {
    let mut w = World::new(cfg.clone());
    for _ in 0..cfg.steps {
        if let Err(v) = w.step() {
            return Err(failure(&w, cfg.seed, v.invariant, v.detail));
        }
    }
    w.begin_settling();
    let mut converged = Err(String::new());
    // After a forced failover the cluster may stay in split brain: no convergence to wait for.
    let settle = if w.oracle.forced {
        cfg.settle_steps.min(1000)
    } else {
        cfg.settle_steps
    };
    for _ in 0..settle {
        if let Err(v) = w.step() {
            return Err(failure(&w, cfg.seed, v.invariant, v.detail));
        }
        converged = w.converged();
        if converged.is_ok() {
            break;
        }
    }
    // A logfile number used by two origins (a fork after a forced failover) must be noticed:
    // some host refused to fetch or replay across it, or `marsadm`'s split-brain detection
    // sees it in some host's tree.
    let ids: Vec<_> = w.oracle.logs.keys().copied().collect();
    if let Some(pair) = ids.windows(2).find(|p| p[0].0 == p[1].0) {
        let visible = (0..w.hosts.len()).any(|h| w.split_brain_visible(h));
        if w.stats.split_brain_refusals == 0 && !visible {
            let detail = format!(
                "logfile number {} used by hosts {} and {} unnoticed",
                pair[0].0, pair[0].1, pair[1].1
            );
            return Err(failure(&w, cfg.seed, "fork-noticed", detail));
        }
    }
    if let Err(why) = converged {
        if !w.oracle.forced {
            return Err(failure(
                &w,
                cfg.seed,
                "liveness",
                format!("no convergence after the faults ended: {why}"),
            ));
        }
    }
    let trace_tail = failure(&w, cfg.seed, "", String::new()).trace_tail;
    Ok(Report {
        hosts: w.hosts.len(),
        steps: w.now,
        stats: w.stats.clone(),
        forced: w.oracle.forced,
        trace_tail,
    })
}

/// Parses `A..B` (B exclusive) or a single number.
pub fn parse_seeds(text: &str) -> Option<std::ops::Range<u64>> {
    match text.split_once("..") {
        Some((a, b)) => Some(a.parse().ok()?..b.parse().ok()?),
        None => {
            let a: u64 = text.parse().ok()?;
            Some(a..a + 1)
        }
    }
}

/// The regression seeds in `tests/regression_seeds.txt`: one seed per line, `#` comments.
pub fn regression_seeds(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let mut it = l.split_whitespace();
            let seed = it.next()?.parse().ok()?;
            let steps = it.next().and_then(|s| s.parse().ok()).unwrap_or(3000);
            Some((seed, steps))
        })
        .collect()
}
