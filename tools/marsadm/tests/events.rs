// SPDX-License-Identifier: GPL-2.0
//! `events` streams the state of the tree: first every object as it is, `exists -`, then one
//! line per change as the tree changes while it runs (inotify), and it ends cleanly (exit 0,
//! nothing on stderr) when its reader goes away and on SIGINT.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Generous: the host may be loaded by parallel builds.
const WAIT: Duration = Duration::from_secs(60);

struct Events {
    child: Child,
    lines: Receiver<String>,
}

fn spawn(f: &Fixture, args: &[&str]) -> (Child, ChildStdout) {
    let mut child = f
        .command(HOST, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, stdout)
}

impl Events {
    fn start(f: &Fixture, args: &[&str]) -> Events {
        let (child, stdout) = spawn(f, args);
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Events { child, lines }
    }

    /// The lines up to and including the first one for which `done` holds.
    #[track_caller]
    fn until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let stop = done(&line);
                    seen.push(line);
                    if stop {
                        return seen;
                    }
                }
                Err(_) => panic!("no such line within {WAIT:?}; got:\n{}", seen.join("\n")),
            }
        }
    }

    /// Waits until every line of `wants` came (in any order); returns the lines seen.
    #[track_caller]
    fn all(&self, wants: &[&str]) -> Vec<String> {
        let seen = std::cell::RefCell::new(Vec::<String>::new());
        self.until(|l| {
            seen.borrow_mut().push(l.to_string());
            wants.iter().all(|w| seen.borrow().iter().any(|s| s == w))
        })
    }

    /// Waits for a line equal to `want` and returns the lines up to it.
    #[track_caller]
    fn expect(&self, want: &str) -> Vec<String> {
        self.until(|l| l == want)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to end within WAIT; its exit code and stderr.
fn ended(child: &mut Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err).unwrap();
            }
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("events did not end within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn first_the_state_then_every_change_as_it_happens() {
    let f = Fixture::with_resource("events-stream");
    let ev = Events::start(&f, &["events", "--window=3600"]);
    let initial = ev.expect("exists -");
    assert_eq!(
        initial[0],
        "exists host name:alpha module:loaded kernel:unresponsive"
    );
    assert!(
        initial.contains(&"exists resource name:r0 role:NotYetPrimary disk:NoAttach repl:UnResponsive primary:alpha consistent:yes split-brain:no emergency:no".to_string()),
        "{initial:#?}"
    );
    assert!(
        initial.contains(&"exists switch resource:r0 name:attach state:switching-on".to_string()),
        "{initial:#?}"
    );
    assert!(
        initial.contains(&"exists switch resource:r0 name:fetch state:on-idle".to_string()),
        "{initial:#?}"
    );
    assert!(
        initial.contains(
            &"exists replay resource:r0 logfile:log-000000001-alpha position:0".to_string()
        ),
        "{initial:#?}"
    );
    assert!(
        initial
            .iter()
            .any(|l| l.starts_with("exists sync resource:r0 bytes:")),
        "{initial:#?}"
    );

    // The kernel comes alive and attaches: the host, the switch and the resource change.
    f.put_link("actual-alpha/alive", "1", LAMPORT);
    f.put_link("actual-alpha/time", LAMPORT_TEXT, LAMPORT);
    ev.expect("change host name:alpha kernel:alive");
    f.put_link("resource-r0/actual-alpha/is-attached", "1", LAMPORT);
    ev.all(&[
        "change switch resource:r0 name:attach state:on",
        "change resource name:r0 disk:UpToDate",
    ]);
    f.put_link("resource-r0/actual-alpha/is-primary", "1", LAMPORT);
    ev.all(&[
        "change resource name:r0 role:Primary repl:Replicating",
        "change switch resource:r0 name:primary state:on",
    ]);

    // An error message of the kernel appears and goes.
    f.put_link(
        "resource-r0/actual-alpha/msg-err-disk",
        "1.0 2.0 disk failed",
        LAMPORT,
    );
    ev.expect("create message resource:r0 key:err-disk text:\"1.0 2.0 disk failed\"");
    std::fs::remove_file(f.path("resource-r0/actual-alpha/msg-err-disk")).unwrap();
    ev.expect("destroy message resource:r0 key:err-disk");

    // Emergency: the logger stopped.
    f.put_link("resource-r0/actual-alpha/is-emergency", "1", LAMPORT);
    ev.until(|l| {
        l.starts_with("change resource name:r0") && l.contains("emergency:logging-stopped")
    });
    f.put_link("resource-r0/actual-alpha/is-emergency", "0", LAMPORT);
    ev.until(|l| l.starts_with("change resource name:r0") && l.contains("emergency:no"));

    // A peer joins the cluster (a new directory is watched too) and reports a split brain.
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    f.put_link("actual-bravo/time", LAMPORT_TEXT, LAMPORT);
    ev.until(|l| l == "create peer name:bravo connection:connected");
    f.put_link(
        "resource-r0/actual-bravo/msg-err-splitbrain-detected",
        "split brain at log-000000001-alpha",
        LAMPORT,
    );
    ev.until(|l| l == "change resource name:r0 split-brain:detected");

    // Sync and replay progress, a new logfile.
    f.put_link("resource-r0/syncstatus-alpha", "524288", LAMPORT);
    ev.until(|l| l.starts_with("change sync resource:r0 bytes:524288 percent:50.0"));
    f.put_link(
        "resource-r0/replay-alpha",
        "log-000000001-alpha,4096,0",
        LAMPORT,
    );
    // The replay moved 4096 bytes in its logfile since the last reading: with its rate.
    let line = ev
        .until(|l| l.starts_with("change replay resource:r0 "))
        .pop()
        .unwrap();
    assert!(
        line.starts_with("change replay resource:r0 position:4096 rate:"),
        "{line}"
    );
    std::fs::write(f.path("resource-r0/log-000000002-alpha"), vec![1u8; 100]).unwrap();
    ev.until(|l| l.starts_with("change logs resource:r0 count:2 last:2 bytes:100 rate:"));

    // The kernel publishes this host's fetch: its total and its rate (KiB/s: bytes/s out).
    f.put_link(
        "resource-r0/actual-alpha/amount-file_bytes",
        "8192",
        LAMPORT,
    );
    ev.expect("create fetch resource:r0 bytes:8192");
    f.put_link("resource-r0/actual-alpha/amount-file_rate", "200", LAMPORT);
    ev.expect("change fetch resource:r0 rate:204800");
    f.put_link(
        "resource-r0/actual-alpha/amount-file_bytes",
        "16384",
        LAMPORT,
    );
    ev.expect("change fetch resource:r0 bytes:16384");
}

#[test]
fn json_lines_with_timestamps_and_one_resource() {
    let f = Fixture::with_resource("events-json");
    let ev = Events::start(
        &f,
        &["events", "--window=3600", "--json", "--timestamps", "r0"],
    );
    let initial = ev.until(|l| l.contains("\"type\":\"-\""));
    for line in &initial {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let t = v["time"].as_str().unwrap();
        assert!(
            t.len() == 27 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
        assert_eq!(v["event"], "exists");
    }
    let resource: serde_json::Value = initial
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "resource")
        .unwrap();
    assert_eq!(resource["name"], "r0");
    assert_eq!(resource["role"], "NotYetPrimary");
    f.put_link("resource-r0/actual-alpha/is-attached", "1", LAMPORT);
    let line = ev
        .until(|l| l.contains("\"type\":\"switch\""))
        .pop()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"], "change");
    assert_eq!(v["resource"], "r0");
    assert_eq!(v["name"], "attach");
    assert_eq!(v["state"], "on");
}

#[test]
fn now_prints_the_state_and_ends_and_an_unknown_resource_is_refused() {
    let f = Fixture::with_resource("events-now");
    let run = f.run(&["events", "--now"]);
    run.ok();
    assert!(run.stdout.ends_with("exists -\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("exists resource name:r0 "),
        "{}",
        run.stdout
    );
    f.run(&["events", "r9"]).refused("r9");
}

#[test]
fn a_closed_pipe_ends_the_stream_cleanly() {
    let f = Fixture::with_resource("events-pipe");
    let (mut child, stdout) = spawn(&f, &["events"]);
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while line.trim_end() != "exists -" {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "events ended early"
        );
    }
    drop(reader);
    // Without a change in the tree: the reader's end alone ends it.
    let (code, err) = ended(&mut child);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(err, "");
}

#[test]
fn sigint_ends_the_stream_cleanly() {
    let f = Fixture::with_resource("events-sigint");
    let mut ev = Events::start(&f, &["events", "--window=3600"]);
    ev.expect("exists -");
    let pid = libc::pid_t::try_from(ev.child.id()).unwrap();
    // SAFETY: kill with a pid of our own child and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (code, err) = ended(&mut ev.child);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(err, "");
}
