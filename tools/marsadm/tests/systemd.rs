// SPDX-License-Identifier: GPL-2.0
//! The systemd template engine and the unit stack (Documentation/systemd.rst), against a
//! temporary /mars, temporary template and unit directories and a fake systemctl that
//! records its calls: `set-systemd-unit` writes its links only when the templates work and
//! generates this host's units; `systemd-trigger` starts the stack only where
//! `systemd-want`, the designated primary and the device agree, stops it elsewhere, queues
//! with `--no-block` inside a unit, takes one lock per resource and runs resources in
//! parallel; `primary`, `secondary` and `leave-resource` move `systemd-want`; a bad template
//! is refused with its file and line and changes nothing.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fixture with r0 (alpha primary) and the directories and fake systemctl of the engine.
struct Sysd {
    f: Fixture,
    templates: PathBuf,
    units: PathBuf,
    scripts: PathBuf,
    locks: PathBuf,
    log: PathBuf,
    fake: PathBuf,
}

/// The templates shipped in systemd/templates.
fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systemd/templates")
}

impl Sysd {
    fn new(tag: &str) -> Sysd {
        let f = Fixture::with_resource(tag);
        let dir = f.dir.clone();
        let s = Sysd {
            templates: dir.join("templates"),
            units: dir.join("run-systemd"),
            scripts: dir.join("scripts"),
            locks: dir.join("locks"),
            log: dir.join("systemctl.log"),
            fake: dir.join("systemctl"),
            f,
        };
        std::fs::create_dir_all(&s.templates).unwrap();
        // The fake systemctl: records its arguments; fails with the code in <log>.fail when
        // its arguments contain the text in <log>.fail-on.
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{log}'\nif [ -f '{log}.fail-on' ] && echo \"$*\" | grep -q -- \"$(cat '{log}.fail-on')\"; then exit 4; fi\nexit 0\n",
            log = s.log.display()
        );
        std::fs::write(&s.fake, script).unwrap();
        std::fs::set_permissions(&s.fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        s
    }

    /// marsadm with the engine's environment (templates from `path`).
    fn command_in(&self, host: &str, path: &Path, args: &[&str]) -> Command {
        let mut command = self.f.command(host, args);
        command
            .env("MARS_PATH", path)
            .env("SYSTEMD_TARGET_DIR", &self.units)
            .env("MARS_SCRIPT_DIR", &self.scripts)
            .env("MARS_LOCK_DIR", &self.locks)
            .env("MARS_SYSTEMCTL", &self.fake)
            .env("INVOCATION_ID", "");
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(&mut self.command_in(HOST, &self.templates, args))
    }

    fn run_in_unit(&self, args: &[&str]) -> Run {
        let mut command = self.command_in(HOST, &self.templates, args);
        command.env("INVOCATION_ID", "0123456789abcdef");
        Run::of(&mut command)
    }

    fn run_shipped(&self, args: &[&str]) -> Run {
        Run::of(&mut self.command_in(HOST, &shipped(), args))
    }

    fn template(&self, name: &str, text: &str) {
        std::fs::write(self.templates.join(name), text).unwrap();
    }

    /// The systemctl calls so far, and forget them.
    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        text.lines().map(str::to_string).collect()
    }

    fn fail_on(&self, pattern: &str) {
        std::fs::write(format!("{}.fail-on", self.log.display()), pattern).unwrap();
    }

    /// The names in the unit directory (temporaries included, so a left-over shows).
    fn unit_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.units)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn unit(&self, name: &str) -> String {
        std::fs::read_to_string(self.units.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The kernel reports /dev/mars/r0 here.
    fn device_here(&self) {
        self.f
            .put_link("resource-r0/actual-alpha/if-on", "1", LAMPORT);
    }
}

#[test]
fn set_systemd_unit_default_uses_the_shipped_templates() {
    let s = Sysd::new("sysd-default");
    let run = s.run_shipped(&["set-systemd-unit", "r0", "DEFAULT"]);
    run.ok();
    assert!(
        run.stdout
            .contains("Marker 'DEFAULT_START' leads to unit 'mnt-mars-r0.mount'"),
        "{}",
        run.stdout
    );
    assert_eq!(
        s.f.value("resource-r0/systemd-start-unit"),
        "mnt-mars-r0.mount"
    );
    assert_eq!(
        s.f.value("resource-r0/systemd-stop-unit"),
        "mnt-mars-r0.mount"
    );
    assert_eq!(
        s.f.value("resource-r0/systemd-want"),
        "alpha",
        "the designated primary"
    );
    assert!(
        s.f.path("resource-r0/systemd-trigger").is_file(),
        "the trigger file is touched"
    );
    assert_eq!(
        s.unit_files(),
        [
            "mars-r0-trigger.path",
            "mars-r0-trigger.service",
            "mnt-mars-r0.mount"
        ]
    );
    let mount = s.unit("mnt-mars-r0.mount");
    assert!(mount.starts_with(&format!(
        "### GENERATED FROM: {}/mnt-mars-@escvar{{res}}.mount\n### GENERATED NAME: mnt-mars-r0.mount\n### GENERATED FOR: r0\n",
        shipped().display()
    )), "{mount}");
    assert!(
        mount.contains("\nWhat=/dev/mars/r0\nWhere=/mnt/mars/r0\n"),
        "{mount}"
    );
    let path = s.unit("mars-r0-trigger.path");
    assert!(
        path.contains(&format!(
            "PathChanged={}/resource-r0/systemd-trigger\n",
            s.f.root.display()
        )),
        "{path}"
    );
    assert!(path.contains("Unit=mars-r0-trigger.service\n"));
    let service = s.unit("mars-r0-trigger.service");
    // `@{marsadm}`: the running marsadm, by its absolute path.
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_default();
    assert!(
        exec.starts_with('/') && exec.ends_with("/marsadm systemd-trigger-extern --timeout=60 r0"),
        "{service}"
    );
    // Generated, reloaded, the watcher started; no device here yet: the stack is stopped.
    assert_eq!(
        s.calls(),
        [
            "daemon-reload",
            "start mars-r0-trigger.path",
            "stop mnt-mars-r0.mount"
        ]
    );
    assert_eq!(
        s.f.value("resource-r0/userspace/systemd-status-stop-alpha"),
        "0"
    );

    let run = s.run_shipped(&["get-systemd-unit", "r0"]);
    assert_eq!(run.ok().stdout, "mnt-mars-r0.mount mnt-mars-r0.mount\n");
    assert_eq!(
        s.run_shipped(&["get-systemd-want", "r0"]).ok().stdout,
        "alpha\n"
    );
    assert_eq!(s.run_shipped(&["get-systemd-want", "nosuch"]).code, 1);
}

#[test]
fn the_stack_starts_where_wanted_and_only_queues_inside_a_unit() {
    let s = Sysd::new("sysd-start");
    s.template("app-@escvar{res}.service", "[Unit]\nBindsTo=vol-@escvar{res}.mount\nAfter=vol-@escvar{res}.mount\n[Service]\nExecStart=/bin/app @{res}\n");
    s.template(
        "vol-@escvar{res}.mount",
        "[Mount]\nWhat=@{device}\nWhere=/vol/@{res}\n",
    );
    s.run(&["set-systemd-unit", "r0", "app-r0.service", "vol-r0.mount"])
        .ok();
    assert_eq!(
        s.unit_files(),
        ["app-r0.service", "vol-r0.mount"],
        "referenced units are generated too"
    );
    assert_eq!(s.calls(), ["daemon-reload", "stop vol-r0.mount"]);

    s.device_here();
    let run = s.run(&["systemd-trigger", "r0"]);
    run.ok();
    assert_eq!(
        s.calls(),
        ["start app-r0.service"],
        "nothing changed: no daemon-reload"
    );
    assert_eq!(
        s.f.value("resource-r0/userspace/systemd-status-start-alpha"),
        "0"
    );

    // From inside a unit (systemd sets INVOCATION_ID), and from the trigger services: jobs are
    // only queued, never waited for.
    s.run_in_unit(&["systemd-trigger", "r0"]).ok();
    assert_eq!(s.calls(), ["--no-block start app-r0.service"]);
    s.run(&["systemd-trigger-extern", "r0"]).ok();
    assert_eq!(s.calls(), ["--no-block start app-r0.service"]);

    // Wanted here, but another host is the designated primary: nothing is done.
    s.f.put_link("resource-r0/primary", "bravo", add_ns(LAMPORT, 5));
    let run = s.run(&["systemd-trigger", "r0"]);
    assert!(
        run.ok().stdout.contains("designated primary is 'bravo'"),
        "{}",
        run.stdout
    );
    assert!(s.calls().is_empty());
}

#[test]
fn set_systemd_want_moves_and_stops_the_stack() {
    let s = Sysd::new("sysd-want");
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    // Refused without units, for unknown hosts and bad names: nothing changes.
    let before = s.f.snapshot();
    s.run(&["set-systemd-want", "r0", "alpha"])
        .refused("has no configured systemd units");
    assert_eq!(s.f.snapshot(), before);
    s.run(&["set-systemd-unit", "r0", "app-r0.service"]).ok();
    s.calls();
    let before = s.f.snapshot();
    s.run(&["set-systemd-want", "r0", "bravo"])
        .refused("the host 'bravo' does not exist");
    s.run(&["set-systemd-want", "r0", "bad.name"])
        .refused("host name 'bad.name'");
    assert_eq!(s.f.snapshot(), before);
    assert!(s.calls().is_empty());

    s.f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    let run = s.run(&["set-systemd-want", "r0", "bravo"]);
    run.ok();
    assert!(
        run.stderr.contains("not present at 'bravo'"),
        "{}",
        run.stderr
    );
    assert_eq!(s.f.value("resource-r0/systemd-want"), "bravo");
    assert_eq!(s.run(&["get-systemd-want", "r0"]).ok().stdout, "bravo\n");
    s.device_here();
    s.run(&["systemd-trigger", "r0"]).ok();
    assert_eq!(
        s.calls(),
        ["stop app-r0.service"],
        "wanted elsewhere: stopped here"
    );

    // (none): stopped everywhere; waits until the device is closed on every member.
    s.f.put_link("resource-r0/actual-alpha/open-count", "1", LAMPORT);
    let run = s.run(&["set-systemd-want", "r0", "(none)", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("closed the device on every reachable member"),
        "{}",
        run.stderr
    );
    assert_eq!(s.f.value("resource-r0/systemd-want"), "(none)");
    s.f.put_link("resource-r0/actual-alpha/open-count", "0", LAMPORT);
    s.run(&["set-systemd-want", "r0", "(none)"]).ok();
    // Back here: waits until the stack has opened the device.
    let run = s.run(&["set-systemd-want", "r0", "alpha", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    s.f.put_link("resource-r0/actual-alpha/open-count", "1", LAMPORT);
    let run = s.run(&["set-systemd-want", "r0", "alpha"]);
    assert!(run.ok().stdout.contains("already 'alpha'"));
}

#[test]
fn bad_templates_are_refused_with_file_and_line_and_change_nothing() {
    let s = Sysd::new("sysd-bad");
    s.template("good-@{res}.service", "[Unit]\nAfter=bad-@{res}.service\n");
    s.template(
        "bad-@{res}.service",
        "[Unit]\nDescription=x\nExecStart=/bin/echo @{nosuch}\n",
    );
    let before = s.f.snapshot();
    let run = s.run(&["set-systemd-unit", "r0", "good-r0.service"]);
    run.refused(&format!(
        "{}/bad-@{{res}}.service:3: unknown variable 'nosuch'",
        s.templates.display()
    ));
    assert!(
        run.stderr.contains("nothing was generated"),
        "{}",
        run.stderr
    );
    assert_eq!(s.f.snapshot(), before, "no link written");
    assert!(s.unit_files().is_empty(), "no unit written");
    assert!(s.calls().is_empty(), "systemctl not called");

    s.template(
        "bad-@{res}.service",
        "[Service]\n\nExecStart=/bin/@esc{/x\n",
    );
    s.run(&["set-systemd-unit", "r0", "good-r0.service"])
        .refused("bad-@{res}.service:3: unbalanced braces: '@esc{' is never closed");
    s.template("bad-@{res}.service", "@eval{%shell{rm -rf /}}\n");
    s.run(&["set-systemd-unit", "r0", "good-r0.service"])
        .refused("unknown macro '%shell'");
    s.template("bad-@{res}.service", "@bogus{x}\n");
    s.run(&["set-systemd-unit", "r0", "good-r0.service"])
        .refused("unknown template function '@bogus{'");
    std::fs::write(s.templates.join("bad-@{res}.service"), [0xff, 0xfe, b'\n']).unwrap();
    s.run(&["set-systemd-unit", "r0", "good-r0.service"])
        .refused("cannot read template");
    std::fs::remove_file(s.templates.join("bad-@{res}.service")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", s.templates.join("dangling.service")).unwrap();
    s.run(&["set-systemd-unit", "r0", "good-r0.service"])
        .refused("dangling.service");
    std::fs::remove_file(s.templates.join("dangling.service")).unwrap();
    assert_eq!(s.f.snapshot(), before);
    assert!(s.unit_files().is_empty());

    // Installed units stay as they are when a template breaks later; no temporaries remain.
    s.run(&["set-systemd-unit", "r0", "good-r0.service"]).ok();
    assert_eq!(s.unit_files(), ["good-r0.service"]);
    let installed = s.unit("good-r0.service");
    s.template("good-@{res}.service", "[Unit]\nDescription=@{typo}\n");
    s.calls();
    s.run(&["systemd-trigger", "r0"])
        .refused("good-@{res}.service:2: unknown variable 'typo'");
    assert_eq!(s.unit_files(), ["good-r0.service"]);
    assert_eq!(s.unit("good-r0.service"), installed);
    assert!(s.calls().is_empty());
}

#[test]
fn files_marsadm_did_not_generate_are_not_overwritten() {
    let s = Sysd::new("sysd-foreign");
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    std::fs::create_dir_all(&s.units).unwrap();
    std::fs::write(
        s.units.join("app-r0.service"),
        "[Service]\nExecStart=/bin/mine\n",
    )
    .unwrap();
    s.f.put_link("resource-r0/systemd-start-unit", "app-r0.service", LAMPORT);
    s.f.put_link("resource-r0/systemd-stop-unit", "app-r0.service", LAMPORT);
    s.f.put_link("resource-r0/systemd-want", "alpha", LAMPORT);
    s.run(&["systemd-trigger", "r0"])
        .refused("was not generated by marsadm: not overwritten");
    assert_eq!(s.unit("app-r0.service"), "[Service]\nExecStart=/bin/mine\n");
    assert_eq!(
        s.unit_files(),
        ["app-r0.service"],
        "no temporary left behind"
    );
    assert!(s.calls().is_empty());
}

#[test]
fn unit_names_and_markers_are_checked() {
    let s = Sysd::new("sysd-names");
    s.template("m-@{res}.mount", "# MOUNT_START\n# MOUNT_STOP\n");
    s.template("a-@{res}.service", "# APP_START\n");
    let before = s.f.snapshot();
    s.run(&["set-systemd-unit", "r0", "NOSUCH"])
        .refused("no systemd template has the marker '# NOSUCH_START'");
    s.run(&["set-systemd-unit", "r0", "APP", "NOSUCH"])
        .refused("'# NOSUCH_STOP'");
    s.run(&["set-systemd-unit", "r0", "foo"])
        .refused("'foo' is no unit name");
    s.run(&["set-systemd-unit", "r0", "a b.service"])
        .refused("is no unit name");
    s.run(&["set-systemd-unit", "r0", "", "m-r0.mount"])
        .refused("a stop unit needs a start unit");
    s.run(&["set-systemd-unit", "nosuch", "a-nosuch.service"])
        .refused("nosuch");
    assert_eq!(s.f.snapshot(), before);

    // APP has no APP_STOP template: the start unit stops too. An explicit stop marker.
    let run = s.run(&["set-systemd-unit", "r0", "APP"]);
    assert!(
        run.ok()
            .stdout
            .contains("'a-r0.service' is also the stop unit"),
        "{}",
        run.stdout
    );
    assert_eq!(s.f.value("resource-r0/systemd-stop-unit"), "a-r0.service");
    s.run(&["set-systemd-unit", "r0", "APP", "MOUNT"]).ok();
    assert_eq!(s.f.value("resource-r0/systemd-stop-unit"), "m-r0.mount");
}

#[test]
fn markers_always_start_disabled_and_keep_running() {
    let s = Sysd::new("sysd-markers");
    s.template(
        "watch-@{res}.path",
        "# ALWAYS_START\n[Path]\nPathChanged=/x\n",
    );
    s.template(
        "quiet-@{res}.service",
        "# ALWAYS_START\n# ALWAYS_DISABLED\n",
    );
    s.template(
        "keep-@{res}.service",
        "# KEEP_RUNNING\n[Unit]\nWants=quiet-@{res}.service\n",
    );
    s.template(
        "plain-global.service",
        "# ALWAYS_START\n[Service]\nExecStart=/bin/true @{host}\n",
    );
    s.template(
        "app-@{res}.service",
        "[Unit]\nWants=keep-@{res}.service watch-@{res}.path\n",
    );
    s.run(&["set-systemd-unit", "r0", "app-r0.service"]).ok();
    assert_eq!(
        s.unit_files(),
        [
            "app-r0.service",
            "keep-r0.service",
            "plain-global.service",
            "quiet-r0.service",
            "watch-r0.path"
        ]
    );
    assert!(s
        .unit("plain-global.service")
        .contains("### GENERATED FOR: -\n"));
    assert!(s
        .unit("plain-global.service")
        .ends_with("ExecStart=/bin/true alpha\n"));
    assert_eq!(
        s.calls(),
        [
            "daemon-reload",
            "start plain-global.service",
            "start watch-r0.path",
            "stop app-r0.service"
        ]
    );

    // Removing the configuration: every unit of r0 stops and goes, except the KEEP_RUNNING
    // one, which goes without a stop; the global unit stays.
    s.run(&["set-systemd-unit", "r0"]).ok();
    assert_eq!(s.f.link("resource-r0/systemd-start-unit").0, ".deleted");
    assert_eq!(s.f.link("resource-r0/systemd-want").0, ".deleted");
    assert_eq!(s.unit_files(), ["plain-global.service"]);
    let calls = s.calls();
    assert_eq!(
        calls,
        [
            "stop app-r0.service",
            "stop quiet-r0.service",
            "stop watch-r0.path",
            "daemon-reload",
            "start plain-global.service"
        ],
        "{calls:?}"
    );
    assert!(s.run(&["get-systemd-unit", "r0"]).ok().stdout.is_empty());
}

#[test]
fn scripts_are_pseudo_units_called_with_start_and_stop() {
    let s = Sysd::new("sysd-script");
    let out = s.f.dir.join("script.out");
    s.template(
        "run-@escvar{res}.script",
        &format!(
            "#!/bin/sh\n# DEFAULT_START\necho \"@{{res}} $1\" >> '{}'\n",
            out.display()
        ),
    );
    s.run(&["set-systemd-unit", "r0", "DEFAULT"]).ok();
    let script = s.scripts.join("run-r0.script");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.starts_with("#!/bin/sh\n### GENERATED FROM: "),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(
        s.unit_files().is_empty(),
        "scripts do not go to the unit directory"
    );
    assert!(s.calls().is_empty(), "no daemon-reload for a script");
    s.device_here();
    s.run_in_unit(&["systemd-trigger", "r0"]).ok();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "r0 stop\nr0 start\n"
    );
    assert!(s.calls().is_empty(), "scripts are run, not systemctl");
}

#[test]
fn systemctl_failures_are_reported_in_the_tree() {
    let s = Sysd::new("sysd-fail");
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    s.run(&["set-systemd-unit", "r0", "app-r0.service"]).ok();
    s.device_here();
    s.fail_on("start app-r0.service");
    let run = s.run(&["systemd-trigger", "r0"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("start of 'app-r0.service' for resource 'r0' exited with 4"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.f.value("resource-r0/userspace/systemd-status-start-alpha"),
        "4"
    );
}

/// Makes r1..rN besides r0 (alpha primary everywhere) with the same units configured.
fn more_resources(s: &Sysd, count: usize) -> Vec<String> {
    let mut names = vec!["r0".to_string()];
    for n in 1..count {
        let disk = s.f.dir.join(format!("disk{n}.img"));
        std::fs::write(&disk, vec![0u8; DISK_SIZE as usize]).unwrap();
        let res = format!("r{n}");
        s.run(&["create-resource", res.as_str(), disk.to_str().unwrap()])
            .ok();
        names.push(res);
    }
    for res in &names {
        s.run(&[
            "set-systemd-unit",
            res.as_str(),
            format!("app-{res}.service").as_str(),
        ])
        .ok();
        s.f.put_link(&format!("resource-{res}/actual-alpha/if-on"), "1", LAMPORT);
    }
    names
}

#[test]
fn every_resource_is_triggered_each_under_its_own_lock() {
    let s = Sysd::new("sysd-all");
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    let names = more_resources(&s, 4);
    s.calls();
    s.run(&["systemd-trigger"]).ok();
    let mut calls = s.calls();
    calls.sort();
    let expected: Vec<String> = names
        .iter()
        .map(|r| format!("start app-{r}.service"))
        .collect();
    assert_eq!(calls, expected);

    // Another marsadm holds r0's lock: r0 waits (here: gives up after --timeout), the others
    // go on.
    std::fs::create_dir_all(&s.locks).unwrap();
    let lock = std::fs::File::create(s.locks.join("resource-r0.lock")).unwrap();
    // SAFETY: a valid descriptor of a file that lives across the call.
    assert_eq!(
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let run = s.run(&["systemd-trigger", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("holds the lock"), "{}", run.stderr);
    let run = s.run(&["systemd-trigger", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 of 4 resources failed")
            && run.stderr.contains("r0: another marsadm"),
        "{}",
        run.stderr
    );
    let mut calls = s.calls();
    calls.sort();
    assert_eq!(calls, expected[1..]);
    drop(lock);
    s.run(&["systemd-trigger", "r0"]).ok();
    assert_eq!(s.calls(), ["start app-r0.service"]);
}

#[test]
fn dry_run_tells_and_does_nothing() {
    let s = Sysd::new("sysd-dry");
    s.template("mars-@{res}-trigger.path", "# ALWAYS_START\n");
    let before = s.f.snapshot();
    let run = s.run(&["set-systemd-unit", "r0", "app-r0.service", "--dry-run"]);
    assert!(
        run.ok().stdout.contains("DRY_RUN: would create symlink"),
        "{}",
        run.stdout
    );
    assert_eq!(s.f.snapshot(), before);
    let run = s.run(&["systemd-trigger", "r0", "--dry-run"]);
    run.ok();
    assert!(
        run.stdout.contains("DRY_RUN: would write"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("DRY_RUN: would start 'mars-r0-trigger.path'"),
        "{}",
        run.stdout
    );
    assert!(s.unit_files().is_empty());
    assert!(s.calls().is_empty());
}

/// alpha is a synced secondary of r0; bravo is the designated primary, alive, its stack
/// running (device open); the units are configured and wanted on bravo.
fn handover_fixture(tag: &str) -> Sysd {
    let s = Sysd::new(tag);
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    s.run(&["set-systemd-unit", "r0", "app-r0.service"]).ok();
    let f = &s.f;
    f.put_link("ips/ip-bravo", "10.0.0.2", LAMPORT);
    f.put_link("resource-r0/primary", "bravo", add_ns(LAMPORT, 10));
    f.put_link(
        "resource-r0/userspace/last-primary",
        "bravo",
        add_ns(LAMPORT, 10),
    );
    f.put_link("resource-r0/systemd-want", "bravo", add_ns(LAMPORT, 10));
    f.put_link("resource-r0/data-bravo", "/dev/vdb", LAMPORT);
    f.put_link("actual-bravo/time", "1", LAMPORT);
    f.put_link("actual-bravo/alive", "1", LAMPORT);
    f.put_link("resource-r0/actual-bravo/open-count", "1", LAMPORT);
    f.put_link("resource-r0/actual-alpha/is-attached", "1", LAMPORT);
    f.set_lamport((LAMPORT.0 + 100, 0));
    s.calls();
    s
}

#[test]
fn planned_primary_moves_the_stack_and_gives_it_back_when_it_does_not_stop() {
    let s = handover_fixture("sysd-handover-back");
    let run = s.run(&["primary", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("IMPORTANT: relying on systemd: 'app-r0.service' stops on 'bravo'"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("the stack on 'bravo' has closed '/dev/mars/r0'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("set back to 'bravo'"), "{}", run.stderr);
    assert_eq!(
        s.f.value("resource-r0/systemd-want"),
        "bravo",
        "the original's compensation"
    );
    assert_eq!(
        s.f.value("resource-r0/primary"),
        "bravo",
        "no primary change"
    );
    assert_eq!(
        s.f.value("resource-r0/userspace/systemd-status-stop-bravo"),
        "0"
    );

    // bravo reports that systemd could not stop its stack: no waiting for the timeout.
    let started = std::time::Instant::now();
    let child = s
        .command_in(HOST, &s.templates, &["primary", "r0", "--timeout=60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_want(&s, "alpha");
    s.f.put_link(
        "resource-r0/userspace/systemd-status-stop-bravo",
        "1",
        (LAMPORT.0 + 200, 0),
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("systemd on 'bravo' could not stop the stack: status 1"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(s.f.value("resource-r0/systemd-want"), "bravo");
}

/// Waits until a command running in the background has set `systemd-want`.
fn wait_for_want(s: &Sysd, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(s.f.path("resource-r0/systemd-want"))
        .map(|v| v.to_string_lossy() != want)
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "systemd-want never became {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn planned_primary_waits_for_the_old_stack_then_for_its_own() {
    let s = handover_fixture("sysd-handover");
    // The device appears here at once and the local stack opens it (as the kernel and the
    // path unit would once alpha is primary).
    s.f.put_link("resource-r0/actual-alpha/if-on", "1", LAMPORT);
    s.f.put_link("resource-r0/actual-alpha/open-count", "1", LAMPORT);
    let child = s
        .command_in(HOST, &s.templates, &["primary", "r0", "--timeout=20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // bravo's systemd stops its stack.
    wait_for_want(&s, "alpha");
    assert_eq!(
        s.f.value("resource-r0/primary"),
        "bravo",
        "primary waits for the stack"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.f.put_link(
        "resource-r0/actual-bravo/open-count",
        "0",
        (LAMPORT.0 + 1, 0),
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("systemd: the stack on 'bravo' has closed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("systemd: the stack has opened '/dev/mars/r0' here"),
        "{stdout}"
    );
    assert_eq!(s.f.value("resource-r0/primary"), "alpha");
    assert_eq!(s.f.value("resource-r0/systemd-want"), "alpha");
}

#[test]
fn forced_primary_takes_the_stack_along() {
    let s = handover_fixture("sysd-force");
    // bravo went silent.
    std::fs::remove_file(s.f.path("actual-bravo/alive")).unwrap();
    let run = s.run(&["primary", "r0", "--force", "--timeout=1"]);
    assert_eq!(
        run.code, 3,
        "the device does not appear in this test: {}",
        run.stderr
    );
    assert_eq!(s.f.value("resource-r0/primary"), "alpha");
    assert_eq!(
        s.f.value("resource-r0/systemd-want"),
        "alpha",
        "in the same batch as primary"
    );
}

#[test]
fn secondary_stops_the_stack_first() {
    let s = Sysd::new("sysd-secondary");
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    s.run(&["set-systemd-unit", "r0", "app-r0.service"]).ok();
    s.f.put_link("resource-r0/actual-alpha/open-count", "1", LAMPORT);
    let run = s.run(&["secondary", "r0", "--timeout=1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(s.f.value("resource-r0/systemd-want"), "(none)");
    assert_eq!(
        s.f.value("resource-r0/primary"),
        "alpha",
        "not while the stack holds the device"
    );
    s.f.put_link("resource-r0/actual-alpha/open-count", "0", LAMPORT);
    s.run(&["secondary", "r0"]).ok();
    assert_eq!(s.f.value("resource-r0/primary"), "(none)");
}

#[test]
fn leave_resource_releases_the_want_and_removes_the_units() {
    let s = Sysd::new("sysd-leave");
    s.template("app-@{res}.service", "[Service]\nExecStart=/bin/true\n");
    s.template("mars-@{res}-trigger.path", "# ALWAYS_START\n");
    s.run(&["set-systemd-unit", "r0", "app-r0.service"]).ok();
    assert_eq!(s.unit_files(), ["app-r0.service", "mars-r0-trigger.path"]);
    s.run(&["secondary", "r0"]).ok();
    s.f.put_link("resource-r0/systemd-want", "alpha", (LAMPORT.0 + 1, 0));
    s.run(&["down", "r0"]).ok();
    s.calls();
    s.run(&["leave-resource", "r0"]).ok();
    assert_eq!(s.f.value("resource-r0/systemd-want"), "(none)");
    assert!(s.unit_files().is_empty(), "{:?}", s.unit_files());
    assert_eq!(
        s.calls(),
        [
            "stop app-r0.service",
            "stop mars-r0-trigger.path",
            "daemon-reload"
        ]
    );
}
