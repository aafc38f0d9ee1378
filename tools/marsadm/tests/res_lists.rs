// SPDX-License-Identifier: GPL-2.0
//! Resource lists and `all`, as the original expands them: `pause-replay r0,r1` and
//! `up all` run the command for each resource in natural order; `all` is every resource this
//! host is member of (not another host's); every name of a list is checked before anything is
//! written, so a bad or unknown name changes nothing; a resource that fails does not stop the
//! others, and the exit code is 1 when one was refused, 3 when one was not confirmed in time.

mod common;

use common::*;

/// alpha is member of r0, r2 and r10; bravo alone of r9.
fn cluster(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    for res in ["r10", "r2"] {
        let disk = f.dir.join(format!("{res}.img"));
        std::fs::write(&disk, vec![0u8; DISK_SIZE as usize]).unwrap();
        f.run(&["create-resource", res, disk.to_str().unwrap()])
            .ok();
    }
    let disk = f.dir.join("r9.img");
    std::fs::write(&disk, vec![0u8; DISK_SIZE as usize]).unwrap();
    f.run_as("bravo", &["create-resource", "r9", disk.to_str().unwrap()])
        .ok();
    f
}

fn todo(res: &str, host: &str, name: &str) -> String {
    format!("resource-{res}/todo-{host}/{name}")
}

/// The resources in the order of the `--------- resource <res>` lines of `stdout`.
fn order(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("--------- resource "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_list_runs_the_command_for_each_resource() {
    let f = cluster("list");
    let run = f.run(&["pause-replay", "r10,r0"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r10", "r0"], "in the order given");
    assert_eq!(f.value(&todo("r0", "alpha", "allow-replay")), "0");
    assert_eq!(f.value(&todo("r10", "alpha", "allow-replay")), "0");
    assert_eq!(f.value(&todo("r2", "alpha", "allow-replay")), "1");
}

#[test]
fn all_means_every_resource_this_host_is_member_of_in_natural_order() {
    let f = cluster("all");
    let before = f.snapshot();
    let run = f.run(&["down", "all"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r0", "r2", "r10"]);
    for res in ["r0", "r2", "r10"] {
        for name in ["attach", "connect", "sync", "allow-replay"] {
            assert_eq!(f.value(&todo(res, "alpha", name)), "0", "{res} {name}");
        }
    }
    let after = f.snapshot();
    for (key, snap) in &before {
        if key.starts_with("resource-r9") {
            assert_eq!(
                after.get(key),
                Some(snap),
                "{key}: bravo's resource untouched"
            );
        }
    }
    // bravo is member of r9 only.
    let run = f.run_as("bravo", &["pause-fetch", "all"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r9"]);
    assert_eq!(f.value(&todo("r9", "bravo", "connect")), "0");
}

#[test]
fn bad_names_in_a_list_change_nothing() {
    let f = cluster("list-bad");
    let before = f.snapshot();
    for (list, why) in [
        ("r0,bad.name", "disallowed characters"),
        ("r0,,r2", "empty name"),
        ("r0,", "empty name"),
        (",r0", "empty name"),
        ("r0,r2,r0", "names 'r0' twice"),
        ("r0,all", "'all' cannot be part of a list"),
        ("r0,none", "reserved"),
        ("r0,r5", "resource 'r5' does not exist"),
    ] {
        for cmd in ["pause-fetch", "up", "down", "view"] {
            let run = f.run(&[cmd, list]);
            run.refused(why);
            assert!(
                !run.stdout.contains("---------"),
                "{cmd} {list}: nothing runs\n{}",
                run.stdout
            );
        }
    }
    f.run(&["set-emergency-limit", "r0,bad.name", "10"])
        .refused("disallowed characters");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn a_refused_resource_does_not_stop_the_others_but_the_exit_code_says_so() {
    let f = cluster("list-partial");
    f.put_link("resource-r2/actual-alpha/open-count", "1", LAMPORT);
    let run = f.run(&["down", "r0,r2,r10"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(order(&run.stdout), ["r0", "r2", "r10"]);
    assert!(
        run.stderr
            .contains("marsadm down r2: device '/dev/mars/r2' is in use"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 of 3 resources did not succeed"),
        "{}",
        run.stderr
    );
    assert_eq!(f.value(&todo("r0", "alpha", "attach")), "0");
    assert_eq!(f.value(&todo("r2", "alpha", "attach")), "1", "r2 refused");
    assert_eq!(f.value(&todo("r10", "alpha", "attach")), "0");
}

#[test]
fn not_confirmed_in_time_gives_exit_code_3_refused_outranks_it() {
    let f = cluster("list-timeout");
    f.put_link("resource-r2/actual-alpha/is-copying", "1", LAMPORT);
    let run = f.run(&["pause-fetch", "all", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    for res in ["r0", "r2", "r10"] {
        assert_eq!(f.value(&todo(res, "alpha", "connect")), "0", "{res}");
    }
    // One not confirmed and one refused: 1.
    f.put_link("resource-r0/actual-alpha/open-count", "1", LAMPORT);
    f.put_link("resource-r2/actual-alpha/is-attached", "1", LAMPORT);
    let run = f.run(&["detach", "r0,r2", "--timeout=1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn all_without_any_resource_warns_and_succeeds() {
    let f = Fixture::new("all-none");
    f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
    let before = f.snapshot();
    let run = f.run(&["up", "all"]);
    run.ok();
    assert!(
        run.stderr.contains("'all' does not match any resource"),
        "{}",
        run.stderr
    );
    assert_eq!(f.snapshot(), before);
}

#[test]
fn parallel_runs_every_resource() {
    for parallel in ["--parallel", "--parallel=1", "--parallel=2"] {
        let f = cluster("parallel");
        f.run(&["down", "all"]).ok();
        for res in ["r0", "r2", "r10"] {
            f.put_link(
                &format!("resource-{res}/actual-alpha/is-attached"),
                "1",
                LAMPORT,
            );
        }
        let run = f.run(&["up", "all", parallel]);
        run.ok();
        let mut seen = order(&run.stdout);
        seen.sort();
        assert_eq!(seen, ["r0", "r10", "r2"], "{parallel}");
        for res in ["r0", "r2", "r10"] {
            for name in ["attach", "connect", "sync", "allow-replay"] {
                assert_eq!(
                    f.value(&todo(res, "alpha", name)),
                    "1",
                    "{parallel} {res} {name}"
                );
            }
        }
    }
}

#[test]
fn parallel_waits_for_the_resources_at_once_and_keeps_its_limit() {
    let f = cluster("parallel-wait");
    for res in ["r0", "r2", "r10"] {
        f.put_link(
            &format!("resource-{res}/actual-alpha/is-copying"),
            "1",
            LAMPORT,
        );
    }
    // Each pause waits 2 s for a fetch that does not stop: 6 s one after the other.
    let start = std::time::Instant::now();
    let run = f.run(&["pause-fetch", "all", "--timeout=2", "--parallel"]);
    let all_at_once = start.elapsed();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        all_at_once < std::time::Duration::from_millis(5500),
        "--parallel took {all_at_once:?}"
    );
    let start = std::time::Instant::now();
    let run = f.run(&["pause-fetch", "all", "--timeout=2", "--parallel=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(6),
        "--parallel=1 is one at a time"
    );
}

#[test]
fn commands_with_more_arguments_take_lists_too() {
    let f = cluster("list-args");
    f.run(&["set-emergency-limit", "r0,r10", "30"]).ok();
    assert_eq!(f.value(&todo("r0", "alpha", "emergency-limit")), "30");
    assert_eq!(f.value(&todo("r10", "alpha", "emergency-limit")), "30");
    let run = f.run(&["get-emergency-limit", "all"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r0", "r2", "r10"]);
}

#[test]
fn view_shows_the_listed_resources() {
    let f = cluster("view-list");
    let run = f.run(&["view", "r10,r2"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r10", "r2"]);
    let run = f.run(&["view", "all"]);
    run.ok();
    assert_eq!(
        order(&run.stdout),
        ["r0", "r10", "r2"],
        "view keeps its order"
    );
    let run = f.run(&["view", "--json", "r0,r2"]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r0", "r2"]);
}

#[test]
fn create_and_join_take_one_new_resource_only() {
    let f = cluster("create-list");
    let before = f.snapshot();
    f.run(&["create-resource", "r3,r4", f.disk_arg()])
        .refused("you must explicitly name a single new resource");
    f.run(&["create-resource", "all", f.disk_arg()])
        .refused("reserved");
    f.run(&["join-resource", "r9,r0", f.disk_arg()])
        .refused("you must explicitly name a single new resource");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn commands_with_further_arguments_take_lists_too() {
    let f = cluster("more-args");
    let run = f.run(&["show-state", "r2,r0"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r2", "r0"]);
    // set-replay checks each resource on its own: alpha is primary of each, refused twice.
    let before = f.snapshot();
    let run = f.run(&["set-replay", "r0,r2", "1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(order(&run.stdout), ["r0", "r2"]);
    assert!(
        run.stderr.contains("2 of 2 resources did not succeed"),
        "{}",
        run.stderr
    );
    assert_eq!(f.snapshot(), before);
    // activate-guest of every resource this host is member of.
    let run = f.run(&["activate-guest", "all"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r0", "r2", "r10"]);
    let run = f.run(&["get-systemd-unit", "r0,r10"]);
    run.ok();
    assert_eq!(order(&run.stdout), ["r0", "r10"]);
}

#[test]
fn a_unit_stack_makes_a_list_parallel_as_in_the_original() {
    let f = cluster("stack-parallel");
    let run = f.run(&["pause-sync", "r0,r2", "--verbose", "--timeout=0"]);
    assert!(
        !run.stdout.contains("acting like --parallel=0"),
        "{}",
        run.stdout
    );
    f.put_link(
        "resource-r2/systemd-start-unit",
        "mnt-r2.mount",
        (1_900_000_000, 0),
    );
    let run = f.run(&["resume-sync", "r0,r2", "--verbose", "--timeout=0"]);
    assert!(
        run.stdout
            .contains("Systemd is activated, acting like --parallel=0"),
        "{}",
        run.stdout
    );
    // --singlestep (no terminal here: refused before anything) keeps it sequential; an
    // explicit --parallel=1 is kept.
    let run = f.run(&[
        "resume-sync",
        "r0,r2",
        "--verbose",
        "--parallel=1",
        "--timeout=0",
    ]);
    assert!(
        !run.stdout.contains("acting like --parallel=0"),
        "{}",
        run.stdout
    );
}
