// SPDX-License-Identifier: GPL-2.0
//! The simulator as a test suite: a fixed sweep of seeds, every seed that ever failed, the
//! determinism of a run, and mutation tests proving that each deliberate bug is caught.

use mars_sim::{regression_seeds, run, Config, Mutation};

const STEPS: u64 = 3000;

/// Seeds per sweep test in release builds (4 tests: 200 seeds); debug builds run fewer.
fn per_test() -> u64 {
    if cfg!(debug_assertions) {
        10
    } else {
        50
    }
}

fn sweep(first: u64) {
    let mut failures = Vec::new();
    for seed in first..first + per_test() {
        if let Err(f) = run(&Config::for_seed(seed, STEPS)) {
            eprintln!("{f}");
            failures.push(seed);
        }
    }
    assert!(failures.is_empty(), "failing seeds {failures:?}: replay with `cargo run --release -p mars-sim -- --seed N --steps {STEPS}`");
}

#[test]
fn sweep_seeds_0_to_49() {
    sweep(0);
}

#[test]
fn sweep_seeds_50_to_99() {
    sweep(50);
}

#[test]
fn sweep_seeds_100_to_149() {
    sweep(100);
}

#[test]
fn sweep_seeds_150_to_199() {
    sweep(150);
}

#[test]
fn regression_seeds_stay_fixed() {
    let text = include_str!("regression_seeds.txt");
    let seeds = regression_seeds(text);
    assert!(seeds.len() >= 2, "the regression file lists seeds");
    for (line, (seed, steps)) in text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .zip(seeds)
    {
        let mut cfg = Config::for_seed(seed, steps);
        if line.split('#').next().unwrap_or("").contains("forced") {
            cfg.forced = 0.003;
        }
        if let Err(f) = run(&cfg) {
            panic!("regression seed {seed} fails again:\n{f}");
        }
    }
}

#[test]
fn forced_failovers_fork_but_never_mix_branches() {
    let n = if cfg!(debug_assertions) { 4 } else { 15 };
    let mut forks = 0;
    for seed in 1000..1000 + n {
        let mut cfg = Config::for_seed(seed, STEPS);
        cfg.forced = 0.003;
        match run(&cfg) {
            Ok(r) => forks += r.stats.forks,
            Err(f) => panic!("{f}"),
        }
    }
    assert!(forks > 0, "the forced sweep never forked: it tests nothing");
}

#[test]
fn a_seed_replays_exactly() {
    let cfg = Config::for_seed(7, 1500);
    let a = run(&cfg).expect("seed 7 passes");
    let b = run(&cfg).expect("seed 7 passes");
    assert_eq!(format!("{:?}", a.stats), format!("{:?}", b.stats));
    assert_eq!(a.steps, b.steps);
}

#[test]
fn runs_exercise_the_faults() {
    let r = run(&Config::for_seed(3, STEPS)).expect("seed 3 passes");
    let s = &r.stats;
    assert!(
        s.acked > 100 && s.crashes > 0 && s.lost > 0 && s.replayed > 100,
        "{s:?}"
    );
    let total: u64 = (0..10)
        .map(|seed| run(&Config::for_seed(seed, STEPS)).map_or(0, |r| r.stats.handovers))
        .sum();
    assert!(total > 3, "handovers happen");
}

/// Each deliberate bug must break the invariant that guards against it within a few seeds.
fn caught(mutation: Mutation, invariants: &[&str]) {
    for seed in 0..40 {
        let mut cfg = Config::for_seed(seed, STEPS);
        cfg.mutation = mutation;
        if let Err(f) = run(&cfg) {
            assert!(
                invariants.contains(&f.invariant),
                "{mutation:?} broke {} instead:\n{f}",
                f.invariant
            );
            return;
        }
    }
    panic!("{mutation:?} went unnoticed by 40 seeds");
}

#[test]
fn mutation_fetch_beyond_durable_is_caught() {
    caught(Mutation::FetchBeyondDurable, &["prefix"]);
}

#[test]
fn mutation_skip_version_check_is_caught() {
    caught(Mutation::SkipVersionCheck, &["prefix"]);
}

#[test]
fn mutation_replay_beyond_fetched_is_caught() {
    caught(Mutation::ReplayBeyondFetched, &["prefix"]);
}

#[test]
fn mutation_takeover_without_acks_is_caught() {
    caught(
        Mutation::TakeoverWithoutAcks,
        &["one-primary", "one-primary-per-logfile", "no-lost-ack"],
    );
}
