// SPDX-License-Identifier: GPL-2.0
//! The original's global options: `--host`, `--ip`/`--ip-<peer>`, `--ignore-sync`,
//! `--singlestep` (and its interplay with `--parallel`), `--threshold`, `--stuck-seconds`,
//! `--logger`, before or after the command.

mod common;

use common::*;

/// alpha primary of r0; bravo a member of the cluster.
fn cluster(tag: &str) -> Fixture {
    let f = Fixture::with_resource(tag);
    f.put_link("ips/ip-bravo", "10.0.0.2", (1_900_000_000, 0));
    f.put_link("resource-r0/data-bravo", "/dev/x", (1_900_000_000, 0));
    f
}

#[test]
fn host_option_reads_as_the_other_host() {
    let f = cluster("hostread");
    f.put_link(
        "resource-r0/todo-bravo/emergency-limit",
        "42",
        (1_900_000_000, 0),
    );
    let run = f.run(&["get-emergency-limit", "r0", "--host=bravo"]);
    run.ok();
    assert!(
        run.stdout
            .contains("ATTENTION: acting as if I were host 'bravo'"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.trim() == "42"),
        "{}",
        run.stdout
    );
    // Before the command too; a macro evaluated as bravo.
    let run = f.run(&["--host=bravo", "view-todo-attach", "r0"]);
    run.ok();
}

#[test]
fn host_option_refuses_changes_in_another_hosts_name() {
    let f = cluster("hostwrite");
    let before = f.snapshot();
    f.run(&["--host=bravo", "pause-sync", "r0", "--force"])
        .refused(
            "'pause-sync' would change the tree in the name of host 'bravo', but this is 'alpha'",
        );
    f.run(&["--host=bravo", "set-link", "x", "userspace/x"])
        .refused("in the name of host 'bravo'");
    assert_eq!(f.snapshot(), before, "nothing written");
    // --dry-run tells what would be written.
    let run = f.run(&[
        "--host=bravo",
        "--dry-run",
        "set-emergency-limit",
        "r0",
        "5",
    ]);
    assert!(
        run.stdout.contains("todo-bravo/emergency-limit"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(f.snapshot(), before, "nothing written");
    // The own name is no other host.
    f.run(&["--host=alpha", "pause-sync", "r0", "--timeout=0"]);
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "0");
}

#[test]
fn host_option_needs_a_member_unless_forced() {
    let f = cluster("hostunknown");
    let before = f.snapshot();
    f.run(&["--host=zulu", "view", "r0"])
        .refused("Host 'zulu' does not exist");
    f.run(&["--host=bad.name", "view", "r0"])
        .refused("--host=bad.name");
    let run = f.run(&["--host=zulu", "--force", "view-todo-attach", "r0"]);
    run.ok();
    assert!(
        run.stderr.contains("hopefully you know what you are doing"),
        "{}",
        run.stderr
    );
    assert_eq!(f.snapshot(), before);
}

#[test]
fn ip_options_give_addresses() {
    let f = Fixture::new("ipopt");
    // --ip before the command, as the original takes every option.
    f.run(&["--ip=10.9.9.9", "create-cluster"]).ok();
    assert_eq!(f.value("ips/ip-alpha"), "10.9.9.9");
    // --ip-<host> for this host is the same.
    let g = Fixture::new("ipopt2");
    let run = g.run(&["create-cluster", "--ip-alpha=10.8.8.8"]);
    run.ok();
    assert_eq!(g.value("ips/ip-alpha"), "10.8.8.8");
    assert!(run
        .stderr
        .contains("Using IP '10.8.8.8' from command line for 'alpha'"));
    // A new host's first address.
    f.run(&["lowlevel-set-host-ip", "bravo", "--ip-bravo=10.9.9.10"])
        .ok();
    assert_eq!(f.value("ips/ip-bravo"), "10.9.9.10");
    // Bad ones: usage errors, nothing changed.
    let before = f.snapshot();
    let run = f.run(&["lowlevel-set-host-ip", "charlie", "--ip-charlie=10.0.0.300"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = f.run(&["lowlevel-ls-host-ips", "--ip-ba.d=10.0.0.3"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = f.run(&["lowlevel-ls-host-ips", "--ip-bravo"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(f.snapshot(), before);
}

/// r0 with three members: bravo still syncs (alive), charlie is the old primary... alpha
/// is designated primary; bravo and charlie are secondaries; charlie takes over.
fn three_members(tag: &str) -> Fixture {
    let f = cluster(tag);
    let old: Stamp = (1_900_000_000, 0);
    f.put_link("ips/ip-charlie", "10.0.0.3", old);
    for h in ["bravo", "charlie"] {
        f.put_link(&format!("resource-r0/data-{h}"), "/dev/x", old);
        for (k, v) in [("attach", "1"), ("connect", "1"), ("allow-replay", "1")] {
            f.put_link(&format!("resource-r0/todo-{h}/{k}"), v, old);
        }
    }
    let size = f.value("resource-r0/size");
    f.put_link("resource-r0/syncstatus-charlie", &size, old);
    f.put_link("resource-r0/syncstatus-bravo", "4096", old);
    // bravo is alive: its heartbeat is recent.
    f.put_link("actual-bravo/time", "1", LAMPORT);
    f
}

#[test]
fn primary_refuses_while_another_member_syncs_unless_ignore_sync() {
    let f = three_members("ignoresync");
    let before = f.snapshot();
    let run = f.run_as("charlie", &["primary", "r0", "--timeout=0"]);
    run.refused("First wait for sync finished on 'bravo'");
    assert!(run.stderr.contains("--ignore-sync"), "{}", run.stderr);
    assert_eq!(f.snapshot(), before, "nothing written");
    // With --ignore-sync that check passes (the handover then waits for alpha, which does
    // not answer here: exit 3 or another refusal, but not this one).
    let run = f.run_as(
        "charlie",
        &["--ignore-sync", "primary", "r0", "--timeout=0"],
    );
    assert!(
        !run.stderr.contains("First wait for sync finished"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("Allowing handover in cases of sync"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_dead_syncing_member_does_not_stop_a_handover() {
    let f = three_members("deadsync");
    f.put_link("actual-bravo/time", "1", (1_000_000_000, 0));
    let run = f.run_as("charlie", &["primary", "r0", "--timeout=0"]);
    assert!(
        !run.stderr.contains("First wait for sync finished"),
        "{}",
        run.stderr
    );
}

#[test]
fn singlestep_needs_a_terminal_and_turns_off_parallel() {
    let f = cluster("single");
    let before = f.snapshot();
    let run = f.run(&["--singlestep", "pause-sync", "r0"]);
    run.refused("standard input is no tty");
    assert_eq!(f.snapshot(), before);
    // --parallel given later turns --singlestep off.
    let run = f.run(&[
        "--singlestep",
        "--parallel",
        "pause-sync",
        "r0",
        "--timeout=0",
    ]);
    assert_ne!(run.code, 1, "{}", run.stderr);
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "0");
}

/// Runs marsadm in a pseudo terminal (script(1)) with `input` typed.
fn in_terminal(f: &Fixture, args: &str, input: &str) -> Run {
    use std::io::Write;
    let bin = env!("CARGO_BIN_EXE_marsadm");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .env("MARS_ROOT", &f.root)
        .env("MARS_PROC", &f.proc_dir)
        .env("MARS_HOST", HOST)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    // script(1) passes the terminal's end of input on when its input ends.
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn singlestep_asks_before_each_step() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("script(1) missing: skipped");
        return;
    }
    let f = cluster("steps");
    f.put_link("resource-r0/actual-alpha/is-syncing", "1", LAMPORT);
    // One RETURN: the batch is written, then the wait asks and the input ends there.
    let run = in_terminal(&f, "--singlestep pause-sync r0 --timeout=0", "\n");
    assert!(
        run.stdout
            .contains("DEBUGGING: type RETURN for starting phase 1: write the links"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("DEBUGGING: continue phase 1"),
        "{}",
        run.stdout
    );
    assert_eq!(f.value("resource-r0/todo-alpha/sync"), "0");
    assert!(run.stdout.contains("phase 2: wait until"), "{}", run.stdout);
}

#[test]
fn singlestep_stops_before_the_first_step_at_end_of_input() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let f = cluster("steps0");
    let before = f.snapshot();
    let run = in_terminal(&f, "--singlestep pause-sync r0 --timeout=0", "");
    assert!(
        run.stdout.contains("stopped before phase 1"),
        "{}",
        run.stdout
    );
    assert_eq!(f.snapshot(), before);
}

#[test]
fn threshold_and_stuck_seconds_are_global_with_size_suffixes() {
    let f = cluster("thresh");
    for (arg, want) in [
        ("--threshold=1k", "1000"),
        ("--threshold=2K", "2048"),
        ("--threshold=1.5M", "1572864"),
        ("--threshold=7", "7"),
    ] {
        let run = f.run(&["view", "r0", arg, "--macro=%{threshold}"]);
        run.ok();
        assert_eq!(run.stdout.trim(), want, "{arg}");
    }
    // Before the command, and --stuck-seconds likewise.
    let run = f.run(&[
        "--threshold=3k",
        "--stuck-seconds=77",
        "view",
        "r0",
        "--macro=%{threshold} %{stuck-seconds}",
    ]);
    run.ok();
    assert_eq!(run.stdout.trim(), "3000 77");
    // Accepted after any command (the original takes every option everywhere).
    f.run(&[
        "get-emergency-limit",
        "r0",
        "--threshold=1M",
        "--stuck-seconds=5",
    ])
    .ok();
    let run = f.run(&["view", "r0", "--threshold=1x"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn logger_gets_the_command_line_and_the_outcome() {
    let f = cluster("logger");
    let log = f.dir.join("syslog");
    let script = f.dir.join("logger.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let logger = format!("--logger={}", script.display());
    f.run(&[&logger, "get-emergency-limit", "r0"]).ok();
    f.run(&[&logger, "get-emergency-limit", "r9"]);
    f.run(&[&logger, "view", "r0"]).ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("-t marsadm (cmd: get-emergency-limit) marsadm "),
        "{text}"
    );
    assert!(lines[0].ends_with("get-emergency-limit r0"), "{text}");
    assert_eq!(lines[1], "-t marsadm (cmd: get-emergency-limit) EXIT 0");
    assert!(
        lines[3].contains("EXIT 1: resource 'r9' does not exist"),
        "{text}"
    );
    // Not executable: refused.
    let before = f.snapshot();
    f.run(&["--logger=/nonexistent/logger", "pause-sync", "r0"])
        .refused("no executable file");
    assert_eq!(f.snapshot(), before);
    // Empty: off.
    f.run(&["--logger=", "get-emergency-limit", "r0"]).ok();
}
