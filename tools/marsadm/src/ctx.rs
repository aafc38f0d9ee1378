// SPDX-License-Identifier: GPL-2.0
//! What every tree command needs: the tree, this host's name, the global options, the checks
//! the original runs before any command, and waiting for the kernel's answer.

use crate::fail::Fail;
use crate::tree_io::{Batch, CommitOptions, Tree};
use mars_core::names::{check_name, ResourceName};
use mars_core::tree_value::NONE_VALUE;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// The global options of the tree commands.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// `--force`: skip the safety checks that the original lets `--force` skip.
    pub(crate) force: bool,
    /// `--dry-run`: say what would be written, write nothing.
    pub(crate) dry_run: bool,
    /// `--verbose`: tell every link written.
    pub(crate) verbose: bool,
    /// `--timeout`: seconds to wait for the kernel's answer; negative = forever.
    pub(crate) timeout: i64,
    /// `--window`: seconds within which a stamp counts as recent.
    pub(crate) window: u64,
    /// `--ignore-sync`: `primary` hands over while another member still syncs.
    pub(crate) ignore_sync: bool,
    /// `--singlestep`: ask before each step (a batch written, a wait) of a command.
    pub(crate) singlestep: bool,
    /// `--threshold`: bytes below which progress counts as reached (macros).
    pub(crate) threshold: u64,
    /// `--stuck-seconds`: seconds after which `view` warns about a stuck fetch or replay.
    pub(crate) stuck_seconds: u64,
}

/// The global options that are no plain values, set once by `main` before any command runs.
#[derive(Debug, Default)]
pub(crate) struct Globals {
    /// `--host=<host>`: act as if on this host.
    pub(crate) host: Option<String>,
    /// `--ip-<peer>=<address>` (`None`: `--ip=<address>`, this host's), checked addresses.
    pub(crate) ips: Vec<(Option<String>, String)>,
}

static GLOBALS: std::sync::OnceLock<Globals> = std::sync::OnceLock::new();

/// Sets the global options (once; later calls change nothing).
pub(crate) fn set_globals(globals: Globals) {
    let _ = GLOBALS.set(globals);
}

fn globals() -> &'static Globals {
    GLOBALS.get_or_init(Globals::default)
}

/// The address given for `host` on the command line: `--ip-<host>=`, or `--ip=` for `me`
/// (the host this command acts as). The last one given wins, as in the original.
pub(crate) fn known_ip(host: &str, me: &str) -> Option<String> {
    globals()
        .ips
        .iter()
        .rev()
        .find(|(peer, _)| peer.as_deref().unwrap_or(me) == host)
        .map(|(_, ip)| ip.clone())
}

/// Counts the steps of `--singlestep`.
static STEP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether standard input is a terminal (`--singlestep` needs one).
pub(crate) fn stdin_is_tty() -> bool {
    // SAFETY: isatty has no preconditions; 0 is a valid descriptor number.
    unsafe { libc::isatty(0) == 1 }
}

/// A command's environment.
pub(crate) struct Ctx {
    pub(crate) tree: Tree,
    /// This host's name (`uname -n`, or `MARS_HOST` in tests; `--host` replaces it).
    pub(crate) host: String,
    /// The real host name when `--host` names another host.
    pub(crate) real_host: Option<String>,
    pub(crate) options: Options,
}

/// Which preconditions a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Only the tree root (view).
    Root,
    /// A created cluster: `/mars/uuid` must exist.
    Cluster,
    /// No cluster yet (create-cluster).
    NoCluster,
}

/// Which of `names` (a command's name and aliases) the operator typed: the first argument
/// that is one of them (clap reports an alias by the command's name); the original's messages
/// name the word typed. `names[0]` when none is found.
pub(crate) fn typed_name(names: &[&'static str]) -> &'static str {
    std::env::args()
        .skip(1)
        .find_map(|arg| names.iter().copied().find(|n| *n == arg))
        .or_else(|| names.first().copied())
        .unwrap_or("")
}

/// This host's name, checked as the original's `get_checked_utsname` does.
fn host_name() -> Result<String, Fail> {
    if let Ok(host) = std::env::var("MARS_HOST") {
        check_name(&host).map_err(|e| Fail::refused(format!("MARS_HOST '{host}': {e}")))?;
        return Ok(host);
    }
    let node = nodename()?;
    if node.contains('.') {
        return Err(Fail::refused(format!("CRITICAL RISK: your hostname '{node}' contains a '.'")).line(
            "MARS identifies hosts by their node name (uname -n); do not mix up host and domain names",
        ));
    }
    if let Ok(etc) = std::fs::read_to_string("/etc/hostname") {
        let etc = etc.trim();
        let short = etc.split('.').next().unwrap_or(etc);
        if !etc.is_empty() && short != node {
            return Err(Fail::refused(format!(
                "CRITICAL RISK: the node name from 'uname -n' is '{node}', DIFFERING from /etc/hostname '{etc}'"
            )));
        }
    }
    check_name(&node).map_err(|e| Fail::refused(format!("host name '{node}': {e}")))?;
    Ok(node)
}

fn nodename() -> Result<String, Fail> {
    // SAFETY: utsname is plain old data; an all-zero value is valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(Fail::refused(format!(
            "uname: {}",
            std::io::Error::last_os_error()
        )));
    }
    let bytes: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).map_err(|_| Fail::refused("the node name is not UTF-8"))
}

impl Ctx {
    /// Sets up the environment and runs the checks the original runs before every command.
    pub(crate) fn new(options: Options, needs: Needs) -> Result<Ctx, Fail> {
        let tree = Tree::from_env();
        let real = host_name()?;
        let (host, real_host) = match globals().host.as_ref() {
            Some(other) if *other != real => (other.clone(), Some(real)),
            _ => (real, None),
        };
        let ctx = Ctx {
            tree,
            host,
            real_host,
            options,
        };
        ctx.preflight(needs)?;
        ctx.check_acting_host()?;
        Ok(ctx)
    }

    /// With `--host=<other>`: the original's `check_id` of that name (it must be a member,
    /// unless `--force`) and its warnings.
    fn check_acting_host(&self) -> Result<(), Fail> {
        let Some(real) = &self.real_host else {
            return Ok(());
        };
        let host = &self.host;
        let known = self
            .tree
            .value(&format!("ips/ip-{host}"))
            .is_some_and(|v| !mars_core::tree_value::is_tombstone(&v));
        if !known {
            if !self.options.force {
                return Err(Fail::refused(format!(
                    "Host '{host}' does not exist in {}",
                    self.tree.path("ips").display()
                ))
                .line(
                    "When you know what you are doing, you may fix any typos and then use --force",
                ));
            }
            eprintln!("WARNING: host '{host}' does not exist in ips/ - hopefully you know what you are doing via --force");
        }
        println!("ATTENTION: acting as if I were host '{host}' (this is '{real}')");
        eprintln!("WARNING: some commands require local knowledge not available here.");
        eprintln!("WARNING: thus something may fail or go wrong - use this at your risk!");
        Ok(())
    }

    /// Refuses a change of the tree while acting as another host (`--host`): the keys of
    /// host X are taken from X only, so links written here in X's name would never reach X
    /// and would show a wrong state here (see marsadm(8), DIFFERENCES).
    pub(crate) fn refuse_acting_as_other(&self, command: &str) -> Result<(), Fail> {
        match &self.real_host {
            Some(real) if !self.options.dry_run => Err(Fail::refused(format!(
                "'{command}' would change the tree in the name of host '{}', but this is '{real}'",
                self.host
            ))
            .line(format!(
                "the peers take the keys of '{}' from '{}' only: run the command there",
                self.host, self.host
            ))
            .line("--host=<other> works for commands that only read (view, show, wait-*, get-*, ...), and with --dry-run")),
            _ => Ok(()),
        }
    }

    /// `--singlestep`: tells the step about to start and waits for RETURN on the terminal;
    /// refuses (the step not started) at the end of the input.
    pub(crate) fn step(&self, what: &str) -> Result<(), Fail> {
        if !self.options.singlestep {
            return Ok(());
        }
        use std::io::Write;
        let nr = STEP.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        print!("DEBUGGING: type RETURN for starting phase {nr}: {what}: ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(n) if n > 0 => {
                println!("DEBUGGING: continue phase {nr}: {what}");
                Ok(())
            }
            _ => Err(Fail::refused(format!(
                "DEBUGGING: end of input: stopped before phase {nr} ({what})"
            ))),
        }
    }

    fn preflight(&self, needs: Needs) -> Result<(), Fail> {
        let root = &self.tree.root;
        let meta = std::fs::metadata(root).map_err(|_| {
            Fail::refused(format!("The {} directory does not exist.", root.display()))
        })?;
        if !meta.is_dir() {
            return Err(Fail::refused(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        if needs == Needs::Root {
            return Ok(());
        }
        if !self.tree.testing {
            // SAFETY: getuid has no preconditions.
            if unsafe { libc::getuid() } != 0 {
                return Err(Fail::refused("only root may use this command"));
            }
        }
        if let Some(problem) = self.root_problem() {
            eprintln!("WARNING: {problem}; marsadm fixes it with its next change of the tree.");
        }
        match needs {
            Needs::Cluster if self.tree.value("uuid").is_none() => Err(Fail::refused(format!(
                "No valid cluster UUID {} found. You need create-cluster first.",
                self.tree.path("uuid").display()
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses when the tree root is not a mount point (the original's `no_mountpoint`); the
    /// kernel only works on a /mars of its own.
    pub(crate) fn check_mounted(&self, what: &str) -> Result<(), Fail> {
        if self.tree.testing {
            return Ok(());
        }
        let root = &self.tree.root;
        let here = std::fs::metadata(root).map(|m| (m.dev(), m.ino()));
        let parent = std::fs::metadata(root.join("..")).map(|m| (m.dev(), m.ino()));
        match (here, parent) {
            (Ok((dev, ino)), Ok((pdev, pino))) if dev != pdev || ino == pino => Ok(()),
            _ => Err(
                Fail::refused(format!("{} is not mounted, cannot {what}", root.display())).line(
                    "/mars must be a filesystem of its own (see Documentation/admin-guide.rst)",
                ),
            ),
        }
    }

    /// What is wrong with the owner or the permissions of the tree root (only root may read
    /// /mars), if anything.
    fn root_problem(&self) -> Option<String> {
        let meta = std::fs::metadata(&self.tree.root).ok()?;
        let root = self.tree.root.display();
        if !self.tree.testing && meta.uid() != 0 {
            return Some(format!(
                "directory {root} has wrong owner uid {}",
                meta.uid()
            ));
        }
        let mode = meta.mode() & 0o7777;
        (mode != 0o700).then(|| format!("directory {root} has wrong permissions 0{mode:o}"))
    }

    /// Gives the tree root owner root and mode 0700, as the original does before every
    /// command; we do it only before a change, so that a refused command changes nothing.
    fn fix_root(&self) -> Result<(), Fail> {
        let Some(problem) = self.root_problem() else {
            return Ok(());
        };
        let root = &self.tree.root;
        if !self.tree.testing {
            std::os::unix::fs::chown(root, Some(0), Some(0)).map_err(|e| {
                Fail::refused(format!("{problem}: cannot chown {}: {e}", root.display()))
            })?;
        }
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| {
                Fail::refused(format!("{problem}: cannot chmod {}: {e}", root.display()))
            })?;
        eprintln!("WARNING: {problem}: fixed to owner root, mode 0700, for security reasons.");
        Ok(())
    }

    /// Applies a batch with the global options.
    pub(crate) fn commit(&self, batch: Batch) -> Result<(), Fail> {
        if !batch.is_empty() {
            self.refuse_acting_as_other("this command")?;
            self.step("write the links of this step")?;
        }
        if !self.options.dry_run && !batch.is_empty() {
            self.fix_root()?;
        }
        batch.commit(
            &self.tree,
            CommitOptions {
                dry_run: self.options.dry_run,
                verbose: self.options.verbose,
            },
        )
    }

    /// `resource-<res>`, after checking the name.
    pub(crate) fn res_dir(&self, res: &str) -> Result<String, Fail> {
        ResourceName::parse(res)
            .map_err(|e| Fail::refused(format!("resource name '{res}': {e}")))?;
        Ok(format!("resource-{res}"))
    }

    /// The directory of an existing resource (`check_res`).
    pub(crate) fn existing_res(&self, res: &str) -> Result<String, Fail> {
        let dir = self.res_dir(res)?;
        if !self.tree.is_dir(&dir) {
            return Err(Fail::refused(format!("resource '{res}' does not exist")));
        }
        if self.resource_deleted(&dir) {
            return Err(Fail::refused(format!(
                "resource '{res}' does not exist (it was deleted)"
            )));
        }
        Ok(dir)
    }

    /// Whether `delete-resource` deleted the resource in `dir` (its `size` is a tombstone).
    pub(crate) fn resource_deleted(&self, dir: &str) -> bool {
        self.tree
            .link(&format!("{dir}/size"))
            .is_some_and(|l| mars_core::tree_value::is_tombstone(&l.value))
    }

    /// The directory of a resource this host is a member of (`check_res` + `check_res_member`).
    pub(crate) fn member_res(&self, res: &str) -> Result<String, Fail> {
        let dir = self.existing_res(res)?;
        let host = &self.host;
        if !self.tree.exists(&format!("{dir}/data-{host}")) {
            let fail = if self.tree.exists(&format!("{dir}/replay-{host}")) {
                Fail::refused(format!("Resource '{res}' seems to have been destroyed, but a replay link exists for host '{host}'."))
            } else {
                Fail::refused(format!("Sorry, I have not yet joined to resource '{res}'"))
            };
            if !self.options.force {
                return Err(fail.line(format!("Refusing work on resource name '{res}'")));
            }
            eprintln!(
                "WARNING: {}; continuing on your own risk (--force)",
                fail.lines.join(" ")
            );
        }
        self.check_sizes(&dir, res)?;
        Ok(dir)
    }

    /// The disk must not be smaller than the resource (`check_sizes`).
    fn check_sizes(&self, dir: &str, res: &str) -> Result<(), Fail> {
        let physical = self
            .tree
            .value(&format!("{dir}/actsize-{}", self.host))
            .and_then(|v| v.parse::<u64>().ok());
        let logical = self
            .tree
            .value(&format!("{dir}/size"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if let Some(physical) = physical {
            if physical < logical && !self.options.force {
                return Err(Fail::refused(format!(
                    "Physical device of resource '{res}' on host '{}' has size {physical}, which is smaller than the logical resource size {logical}",
                    self.host
                ))
                .line("This is too dangerous. It cannot work. Fix it!"));
            }
        }
        Ok(())
    }

    /// The designated primary of a resource, `None` for `(none)` or a missing link.
    pub(crate) fn designated_primary(&self, dir: &str) -> Option<String> {
        self.tree
            .value(&format!("{dir}/primary"))
            .filter(|v| v != NONE_VALUE && !v.is_empty())
    }

    /// `/dev/mars/<name>` of this host (`device_name`).
    pub(crate) fn device_name(&self, dir: &str, res: &str) -> String {
        let name = self
            .tree
            .value(&format!("{dir}/device-{}", self.host))
            .filter(|v| v != NONE_VALUE && !v.is_empty())
            .unwrap_or_else(|| res.to_string());
        format!("/dev/mars/{name}")
    }

    /// Waits until `ok` holds, polling, for at most `--timeout` seconds (`check_status`).
    /// `what` says what is awaited, for the timeout message.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        mut ok: impl FnMut(&Tree) -> bool,
    ) -> Result<(), Fail> {
        if !ok(&self.tree) {
            self.step(&format!("wait until {what}"))?;
        }
        let start = Instant::now();
        let mut told = false;
        loop {
            if ok(&self.tree) {
                return Ok(());
            }
            let elapsed = start.elapsed().as_secs_f64();
            if self.options.timeout >= 0 && elapsed >= self.options.timeout as f64 {
                return Err(Fail::not_confirmed(format!(
                    "the kernel has not confirmed within {} s: {what}",
                    self.options.timeout
                ))
                .line("The links are written; MARS is asynchronous and may still act on them.")
                .line(
                    "Check with 'marsadm view', wait longer with --timeout, or undo the command.",
                ));
            }
            if !told {
                println!("waiting up to {} s until {what}...", self.options.timeout);
                told = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether a stamp lies within `2 * --window` seconds of now (`is_recent`).
    pub(crate) fn is_recent(&self, stamp: mars_core::lamport::Stamp) -> bool {
        let now = self
            .tree
            .lamport_now()
            .map(|(s, _)| s)
            .unwrap_or_else(|_| crate::tree_io::real_time());
        let window = i64::try_from(self.options.window.saturating_mul(2)).unwrap_or(i64::MAX);
        stamp.add_sec(window) >= now
    }
}
