// SPDX-License-Identifier: GPL-2.0
//! `mars-sim --seed N [--steps M]`, `mars-sim --seeds A..B`: run the deterministic simulator.
//! On a failing seed, print it with the tail of its trace and exit 1.

use std::process::ExitCode;
use std::time::Instant;

use mars_sim::{parse_seeds, run, Config, Mutation};

fn usage() -> ExitCode {
    eprintln!(
        "usage: mars-sim (--seed N | --seeds A..B) [--steps M] [--hosts 2-4] [--forced P] [--loss P] [--delay TICKS] [--crash P] [--mutation NAME] [-v] [-t]\n\
         mutations: {}",
        Mutation::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seeds = None;
    let mut steps = 3000;
    let mut hosts = None;
    let mut forced = None;
    let mut loss = None;
    let mut delay = None;
    let mut crash = None;
    let mut mutation = Mutation::None;
    let mut verbose = false;
    let mut trace = false;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--seed" | "--seeds" => seeds = parse_seeds(&value),
            "--steps" => steps = value.parse().unwrap_or(0),
            "--hosts" => hosts = value.parse().ok(),
            "--forced" => forced = value.parse().ok(),
            "--loss" => loss = value.parse().ok(),
            "--delay" => delay = value.parse().ok(),
            "--crash" => crash = value.parse().ok(),
            "--mutation" => match Mutation::ALL.iter().find(|m| m.name() == value) {
                Some(m) => mutation = *m,
                None => return usage(),
            },
            "-t" => {
                trace = true;
                i += 1;
                continue;
            }
            "-v" => {
                verbose = true;
                i += 1;
                continue;
            }
            _ => return usage(),
        }
        i += 2;
    }
    let Some(seeds) = seeds else { return usage() };
    let started = Instant::now();
    let (mut passed, mut failed) = (0u64, Vec::new());
    let mut total_steps = 0;
    for seed in seeds {
        let mut cfg = Config::for_seed(seed, steps);
        if let Some(h) = hosts {
            cfg.hosts = h;
        }
        if let Some(f) = forced {
            cfg.forced = f;
        }
        if let Some(l) = loss {
            cfg.loss = l;
        }
        if let Some(d) = delay {
            cfg.max_delay = d;
        }
        if let Some(c) = crash {
            cfg.crash = c;
        }
        cfg.mutation = mutation;
        match run(&cfg) {
            Ok(report) => {
                passed += 1;
                total_steps += report.steps;
                if trace {
                    print!("{}", report.trace_tail);
                }
                if verbose {
                    println!(
                        "seed {seed} ok: {} hosts, {} steps, forced={} {:?}",
                        report.hosts, report.steps, report.forced, report.stats
                    );
                }
            }
            Err(f) => {
                println!("{f}");
                failed.push(seed);
            }
        }
    }
    println!(
        "{passed} seeds passed, {} failed {:?}; {total_steps} steps in {:.2} s",
        failed.len(),
        failed,
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
