// SPDX-License-Identifier: GPL-2.0
//! Emergency mode in marsadm: `set-emergency-limit` / `get-emergency-limit` write and read
//! `todo-<host>/emergency-limit` and refuse bad values without changing anything; `view` shows
//! the emergency level and the space of /mars, and a clear line when a resource stopped
//! logging (on the primary) or when the primary did (on a secondary).

mod common;

use common::*;
use serde_json::Value;

fn json(f: &Fixture, args: &[&str]) -> Value {
    let run = f.run(args);
    run.ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", run.stdout))
}

#[test]
fn the_emergency_limit_is_a_percentage_and_bad_values_change_nothing() {
    let f = Fixture::with_resource("emergency-limit");
    assert_eq!(
        f.run(&["get-emergency-limit", "r0"]).ok().stdout,
        "0\n",
        "unset reads as 0 (off)"
    );
    f.run(&["set-emergency-limit", "r0", "25"]).ok();
    assert_eq!(f.value("resource-r0/todo-alpha/emergency-limit"), "25");
    assert_eq!(f.run(&["get-emergency-limit", "r0"]).ok().stdout, "25\n");
    let before = f.snapshot();
    for bad in ["101", "abc", "", "1.5", "0x10", "1000"] {
        f.run(&["set-emergency-limit", "r0", bad])
            .refused("is not a whole number from 0 to 100");
    }
    assert_eq!(
        f.run(&["set-emergency-limit", "r0", "-1"]).code,
        2,
        "a negative number is bad usage"
    );
    f.run(&["set-emergency-limit", "r9", "10"])
        .refused("does not exist");
    assert_eq!(before, f.snapshot(), "refused commands changed the tree");
    f.run(&["set-emergency-limit", "r0", "0"]).ok();
    assert_eq!(f.value("resource-r0/todo-alpha/emergency-limit"), "0");
    // Another host's view of a resource it is no member of: refused.
    f.run_as("bravo", &["get-emergency-limit", "r0"])
        .refused("not yet joined");
}

#[test]
fn view_shows_the_level_and_a_primary_in_emergency() {
    let f = Fixture::with_resource("emergency-view");
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    f.put_link("actual-alpha/emergency", "0", LAMPORT);
    f.put_link("actual-alpha/rest-space", "800", LAMPORT);
    f.put_link("actual-alpha/total-space", "896", LAMPORT);
    let d = "resource-r0/actual-alpha";
    for name in ["is-attached", "is-primary", "if-on"] {
        f.put_link(&format!("{d}/{name}"), "1", LAMPORT);
    }
    f.put_link(&format!("{d}/is-emergency"), "0", LAMPORT);
    let v = json(&f, &["view", "--json"]);
    assert_eq!(v["space"]["emergency_level"], 0);
    assert_eq!(v["space"]["rest_space_mib"], 800);
    assert_eq!(v["space"]["total_space_mib"], 896);
    let r = &v["resources"][0];
    assert_eq!(r["emergency"]["logging_stopped"], false);
    assert_eq!(r["repl_state"], "Replicating");
    let text = f.run(&["view"]).ok().stdout.clone();
    assert!(
        text.contains("/mars: emergency level 0 (normal), 800 MiB free of 896 MiB"),
        "{text}"
    );
    assert!(!text.contains("EMERGENCY"), "{text}");

    // Jammed: the kernel stopped logging.
    let since = add_ns(LAMPORT, 5);
    f.put_link("actual-alpha/emergency", "4", LAMPORT);
    f.put_link("actual-alpha/rest-space", "0", LAMPORT);
    f.put_link(&format!("{d}/is-emergency"), "1", since);
    f.put_link(&format!("{d}/has-emergency"), "1", since);
    f.put_link("resource-r0/todo-alpha/emergency-limit", "20", LAMPORT);
    let v = json(&f, &["view", "r0", "--json"]);
    assert_eq!(v["space"]["emergency_level"], 4);
    assert_eq!(v["space"]["emergency_text"], "jammed: logging stopped");
    let r = &v["resources"][0];
    assert_eq!(r["repl_state"], "EmergencyMode");
    assert_eq!(r["emergency"]["logging_stopped"], true);
    assert_eq!(r["emergency"]["has_emergency"], true);
    assert_eq!(r["emergency"]["since"], stamp_text(since));
    assert_eq!(r["emergency"]["limit_percent"], 20);
    let text = f.run(&["view"]).ok().stdout.clone();
    assert!(
        text.contains("/mars: emergency level 4 (jammed: logging stopped), 0 MiB free of 896 MiB"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "    EMERGENCY: /mars full: logging stopped since {}, secondaries need `marsadm invalidate r0`\n",
            stamp_text(since)
        )),
        "{text}"
    );
    assert!(
        text.contains("    emergency limit: 20% of /mars\n"),
        "{text}"
    );

    // A secondary sees the primary's emergency.
    f.put_link("resource-r0/data-bravo", "/dev/vdb", LAMPORT);
    let v = json(&f, &["view", "r0", "--json"]);
    assert!(
        v["resources"][0]["emergency"]["primary_stopped"].is_null(),
        "alpha is the primary itself"
    );
    let run = f.run_as("bravo", &["view", "r0", "--json"]);
    run.ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["resources"][0]["emergency"]["primary_stopped"], "alpha");
    let text = f.run_as("bravo", &["view", "r0"]).stdout;
    assert!(text.contains("EMERGENCY on the primary 'alpha'"), "{text}");
    assert!(text.contains("marsadm invalidate r0"), "{text}");
}

#[test]
fn help_names_the_emergency_commands() {
    let f = Fixture::new("emergency-help");
    let run = f.run(&["--help"]);
    run.ok();
    for cmd in ["set-emergency-limit", "get-emergency-limit"] {
        assert!(
            run.stdout.contains(&format!("  {cmd} ")),
            "--help lacks {cmd}:\n{}",
            run.stdout
        );
    }
    let run = f.run(&["set-emergency-limit", "--help"]);
    assert!(
        run.stdout.contains("todo-<host>/emergency-limit"),
        "{}",
        run.stdout
    );
}
