// SPDX-License-Identifier: GPL-2.0
//! `marsadm create-resource <res> <device> [<device-name> [<size>]]`: a new resource with this
//! host as its primary, on an existing block device.
//!
//! Every check comes first (name, device present, a block device, openable for exclusive
//! read-write access, larger than 64 KiB, no members yet, no remains of an earlier resource),
//! then one batch writes (the original's `create_res`, in its order):
//!
//! ```text
//! resource-<res>/                                  directory
//! size                          <bytes>
//! data-<host>                   <device>
//! device-<host>                 <device-name>      (default <res>: /dev/mars/<res>)
//! userspace/ (top level), userspace/ defaults/ defaults-<host>/ local-<host>/ actual-<host>/
//! actual-<host>/if-on           0
//! todo-<host>/connect sync allow-replay   1
//! primary                       <host>
//! userspace/last-primary        <host>
//! syncstatus-<host>             <bytes>            (in sync: the primary's disk is the data)
//! replay-<host>                 log-<n>-<host>,0,0
//! log-<n>-<host>                empty logfile      (n = 1, or maxnr + 100000 on a reused dir)
//! version-<n-1>-<host>          000…0,log-<n-1>-<host>,0:
//! version-<n>-<host>            000…0,log-<n>-<host>,0:000…0,log-<n-1>-<host>,0
//! skip-check-<host>             <n>                (only when n > 1)
//! maxnr                         <n>
//! todo-<host>/attach            1                  (last: the kernel starts on a complete dir)
//! ```

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{trigger, Batch};
use mars_core::names::{check_name, HostName, NameError};
use mars_core::tree::{LogName, MAX_LOG_NR};
use mars_core::tree_value::ReplayLink;
use mars_core::version_chain::initial_links;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

/// A resource needs more than this many bytes (the original's "implausible size" check).
pub(crate) const MIN_RESOURCE_SIZE: u64 = 16 * 4096;
/// The first logfile of a resource directory that held a resource before starts this far
/// beyond the old `maxnr`, so old and new logfiles never share a number.
const REUSE_NR_GAP: u32 = 100_000;

/// Arguments of `create-resource`.
#[derive(clap::Args)]
pub(crate) struct CreateResourceArgs {
    /// The new resource's name: letters, digits, '_' and '-', at most 63 characters.
    res: String,
    /// The backing block device, e.g. /dev/vg/r0. Its data become the resource's data.
    device: String,
    /// The name under /dev/mars (default: the resource name).
    device_name: Option<String>,
    /// Use only this much of the device (same as --size).
    #[arg(value_name = "SIZE")]
    size_arg: Option<String>,
    /// Use only this much of the device: bytes, or a number with k/m/g/t/p (powers of 1000) or
    /// K/M/G/T/P (powers of 1024); a multiple of 4096.
    #[arg(long, value_name = "SIZE", conflicts_with = "size_arg")]
    size: Option<String>,
}

fn name_fail(what: &str, name: &str, e: NameError) -> Fail {
    let fail = Fail::refused(format!("{what} '{name}': {e}"));
    match e {
        NameError::Reserved if name == "all" => {
            fail.line("'all' selects every resource; name a single new resource")
        }
        NameError::Reserved => {
            fail.line("reserved names are dangerous: they mean something else to marsadm")
        }
        _ => fail,
    }
}

pub(crate) fn create_resource(ctx: &Ctx, args: &CreateResourceArgs) -> CmdResult {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let res = args.res.as_str();
    check_name(res).map_err(|e| name_fail("resource name", res, e))?;
    let appear = args.device_name.as_deref().unwrap_or(res);
    check_name(appear).map_err(|e| name_fail("device name", appear, e))?;
    ctx.check_mounted("modify any resource info")?;

    let dir = format!("resource-{res}");
    let reused = tree.is_dir(&dir);
    if reused {
        let members: Vec<String> = tree
            .list(&dir)
            .into_iter()
            .filter_map(|n| n.strip_prefix("replay-").map(str::to_string))
            .filter(|h| tree.exists(&format!("{dir}/replay-{h}")))
            .collect();
        if !members.is_empty() {
            let fail = Fail::refused(format!(
                "DANGER: hosts '{}' are already member of resource '{res}'.",
                members.join(",")
            ))
            .line("REFUSING to trash your resource!");
            if !ctx.options.force {
                return Err(fail);
            }
            eprintln!("WARNING: {} (continuing: --force)", fail.lines[0]);
        }
        eprintln!("WARNING: resource directory '{res}' already exists");
    }

    let mut size = device_size(ctx, &args.device)?;
    if let Some(arg) = args.size.as_deref().or(args.size_arg.as_deref()) {
        let wanted = parse_size(arg)?;
        if wanted > size {
            return Err(Fail::refused(format!(
                "size argument '{arg}' ({wanted} bytes) is larger than the device size {size}"
            )));
        }
        println!("reducing size from {size} to {wanted}");
        size = wanted;
    }
    if size <= MIN_RESOURCE_SIZE {
        return Err(Fail::refused(format!(
            "implausible size {size}: device '{}' is too small (MARS needs more than {MIN_RESOURCE_SIZE} bytes)",
            args.device
        )));
    }

    check_device_name_free(ctx, res, appear)?;

    if reused {
        let remains: Vec<String> = tree
            .list(&dir)
            .into_iter()
            .filter(|n| {
                (n.starts_with("log-") || n.starts_with("version-"))
                    && n.ends_with(&format!("-{host}"))
            })
            .filter(|n| tree.exists(&format!("{dir}/{n}")))
            .collect();
        if !remains.is_empty() && !ctx.options.force {
            return Err(Fail::refused(format!(
                "Resource directory has some old remains: {}",
                remains.join(" ")
            ))
            .line(
                "First cleanup. If you really want to create-resource, run 'marsadm delete-resource' first.",
            ));
        }
    }

    let start_nr = match tree
        .value(&format!("{dir}/maxnr"))
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(old) if old > 0 => old
            .checked_add(REUSE_NR_GAP)
            .filter(|n| *n <= MAX_LOG_NR)
            .ok_or_else(|| {
                Fail::refused(format!(
                    "maxnr {old} of the old resource directory leaves no room for new logfiles"
                ))
            })?,
        _ => 1,
    };
    let me =
        HostName::parse(host).map_err(|e| Fail::refused(format!("host name '{host}': {e}")))?;
    let log = LogName {
        nr: start_nr,
        origin: me,
    };
    let versions =
        initial_links(start_nr, me).ok_or_else(|| Fail::refused("bad first logfile number"))?;

    let mut batch = Batch::new();
    batch.mkdir(&dir);
    // Error messages of an earlier incarnation must not confuse the new one.
    for name in tree.list(&format!("{dir}/actual-{host}")) {
        let rel = format!("{dir}/actual-{host}/{name}");
        if name.starts_with("msg-err-") && tree.exists(&rel) {
            batch.delete(&rel);
        }
    }
    batch.set_link(&format!("{dir}/size"), &size.to_string());
    batch.set_link(&format!("{dir}/data-{host}"), &args.device);
    batch.set_link(&format!("{dir}/device-{host}"), appear);
    for sub in [
        "userspace".to_string(),
        format!("{dir}/userspace"),
        format!("{dir}/defaults"),
    ] {
        batch.mkdir(&sub);
    }
    for sub in ["defaults", "local", "actual", "todo"] {
        batch.mkdir(&format!("{dir}/{sub}-{host}"));
    }
    batch.set_link(&format!("{dir}/actual-{host}/if-on"), "0");
    let todo = format!("{dir}/todo-{host}");
    batch.set_link(&format!("{todo}/attach"), "0");
    batch.set_link(&format!("{todo}/connect"), "1");
    batch.set_link(&format!("{todo}/sync"), "1");
    batch.set_link(&format!("{todo}/allow-replay"), "1");
    batch.set_link(&format!("{dir}/primary"), host);
    batch.set_link(&format!("{dir}/userspace/last-primary"), host);
    batch.set_link(&format!("{dir}/syncstatus-{host}"), &size.to_string());
    batch.set_link(
        &format!("{dir}/replay-{host}"),
        &ReplayLink {
            log,
            min_pos: 0,
            dirty_len: 0,
        }
        .to_string(),
    );
    batch.create_file(&format!("{dir}/{log}"));
    for (nr, link) in &versions {
        batch.set_link(&format!("{dir}/version-{nr:09}-{host}"), &link.to_string());
    }
    if start_nr > 1 {
        batch.set_link(&format!("{dir}/skip-check-{host}"), &start_nr.to_string());
    }
    batch.set_link(&format!("{dir}/maxnr"), &start_nr.to_string());
    batch.set_link(&format!("{todo}/attach"), "1");
    batch.add_trigger(trigger::LOCAL | trigger::FROM_REMOTE | trigger::TO_REMOTE_ALL);

    println!("creating new resource '{res}'");
    println!("using existing device '{}'", args.device);
    println!("resource '{res}' will appear as local device '/dev/mars/{appear}'");
    ctx.commit(batch)?;
    println!("successfully created resource '{res}'");
    Ok(())
}

/// Device names must be unique among this host's resources: refused when another resource
/// this host is a member of uses `appear`; a warning when only a left-over link names it.
fn check_device_name_free(ctx: &Ctx, res: &str, appear: &str) -> CmdResult {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    for other in tree
        .list("")
        .iter()
        .filter_map(|n| n.strip_prefix("resource-"))
    {
        if other == res
            || tree
                .value(&format!("resource-{other}/device-{host}"))
                .as_deref()
                != Some(appear)
        {
            continue;
        }
        if tree.exists(&format!("resource-{other}/data-{host}")) {
            return Err(Fail::refused(format!(
                "Device name '/dev/mars/{appear}' already exists at resource '{other}'"
            )));
        }
        eprintln!("WARNING: Device name '/dev/mars/{appear}' already exists in another resource '{other}'.");
    }
    Ok(())
}

/// Arguments of `join-resource`.
#[derive(clap::Args)]
pub(crate) struct JoinResourceArgs {
    /// The existing resource to join as a secondary.
    res: String,
    /// The local backing block device; it must be at least as large as the resource.
    device: String,
    /// The name under /dev/mars (default: the resource name).
    device_name: Option<String>,
}

/// `marsadm join-resource <res> <device> [<device-name>]`: this host becomes a secondary of an
/// existing resource.
///
/// Refused unless the resource exists with a size and a designated primary other than this
/// host, this host is not yet a member, and the device can be opened exclusively and is large
/// enough. Then one batch writes (attach last):
///
/// ```text
/// data-<host>, device-<host>, defaults-/local-/actual-/todo-<host>/
/// todo-<host>/{connect,sync,allow-replay} 1
/// replay-<host>   log-<n>-<primary>,0,0   (n: the primary's oldest logfile known here)
/// version-<n>-<host>, version-<n-1>-<host>   the primary's (or deleted where it has none)
/// syncstatus-<host> 0                   (full sync from the primary follows)
/// todo-<host>/attach 1
/// ```
///
/// The kernel then copies the primary's device (fast full sync: only the blocks whose
/// checksums differ, so identical devices cost little), records `syncpos-<host>`, and replays
/// from logfile `n`; the replica is consistent once its replay passed `syncpos-<host>`.
pub(crate) fn join_resource(ctx: &Ctx, args: &JoinResourceArgs) -> CmdResult {
    let tree = &ctx.tree;
    let host = ctx.host.as_str();
    let res = args.res.as_str();
    check_name(res).map_err(|e| name_fail("resource name", res, e))?;
    let appear = args.device_name.as_deref().unwrap_or(res);
    check_name(appear).map_err(|e| name_fail("device name", appear, e))?;
    ctx.check_mounted("modify any resource info")?;
    let dir = format!("resource-{res}");
    if !tree.is_dir(&dir) {
        return Err(Fail::refused(format!("resource '{res}' does not exist"))
            .line("create it on the primary with 'marsadm create-resource', or wait until the tree arrived ('marsadm wait-cluster')"));
    }
    if ctx.resource_deleted(&dir) {
        return Err(Fail::refused(format!(
            "resource '{res}' was deleted (delete-resource)"
        )));
    }
    if tree.exists(&format!("{dir}/data-{host}")) {
        return Err(Fail::refused(format!(
            "host '{host}' is already member of resource '{res}'"
        )));
    }
    let size = tree
        .value(&format!("{dir}/size"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .ok_or_else(|| Fail::refused(format!("resource '{res}' has no valid size link")))?;
    let primary = ctx.designated_primary(&dir).ok_or_else(|| {
        Fail::refused(format!(
            "resource '{res}' has no designated primary: cannot join"
        ))
    })?;
    if primary == host {
        return Err(Fail::refused(format!(
            "host '{host}' is the designated primary of '{res}' already"
        )));
    }
    let device_size = device_size(ctx, &args.device)?;
    if device_size < size {
        return Err(Fail::refused(format!(
            "device '{}' has {device_size} bytes, less than the resource size {size}",
            args.device
        )));
    }
    check_device_name_free(ctx, res, appear)?;
    // The primary's oldest logfile known here: one present locally, or the one its replay
    // link names (logfiles themselves are fetched later).
    let local = tree
        .list(&dir)
        .into_iter()
        .filter(|n| tree.exists(&format!("{dir}/{n}")))
        .filter_map(|n| {
            LogName::parse(&n)
                .ok()
                .filter(|l| l.origin.as_str() == primary)
                .map(|l| l.nr)
        })
        .min();
    let current = tree
        .value(&format!("{dir}/replay-{primary}"))
        .and_then(|v| ReplayLink::parse(&v).ok().map(|r| r.log.nr));
    let oldest = local.into_iter().chain(current).min().ok_or_else(|| {
        Fail::refused(format!(
            "no logfile of primary '{primary}' known in '{res}' yet"
        ))
    })?;
    let origin = HostName::parse(&primary)
        .map_err(|e| Fail::refused(format!("primary '{primary}': {e}")))?;
    let log = LogName { nr: oldest, origin };

    let mut batch = Batch::new();
    batch.set_link(&format!("{dir}/data-{host}"), &args.device);
    batch.set_link(&format!("{dir}/device-{host}"), appear);
    for sub in ["defaults", "local", "actual", "todo"] {
        batch.mkdir(&format!("{dir}/{sub}-{host}"));
    }
    let todo = format!("{dir}/todo-{host}");
    batch.set_link(&format!("{todo}/attach"), "0");
    batch.set_link(&format!("{todo}/connect"), "1");
    batch.set_link(&format!("{todo}/sync"), "1");
    batch.set_link(&format!("{todo}/allow-replay"), "1");
    batch.set_link(
        &format!("{dir}/replay-{host}"),
        &ReplayLink {
            log,
            min_pos: 0,
            dirty_len: 0,
        }
        .to_string(),
    );
    // This host's history starts as the primary's (`_fake_versionlink`): its version links of
    // that logfile and the one before are the primary's, so that the links the kernel computes
    // here chain to the primary's, never to a stale own one (a join after a split brain).
    for nr in [oldest.checked_sub(1), Some(oldest)]
        .into_iter()
        .flatten()
        .filter(|&nr| nr > 0)
    {
        let own = format!("{dir}/version-{nr:09}-{host}");
        match tree.value(&format!("{dir}/version-{nr:09}-{primary}")) {
            Some(value) => batch.set_link(&own, &value),
            None if tree.exists(&own) => batch.delete(&own),
            None => {}
        }
    }
    // A full sync from the primary follows; replay waits until it finished.
    batch.set_link(&format!("{dir}/syncstatus-{host}"), "0");
    batch.set_link(&format!("{todo}/attach"), "1");
    batch.add_trigger(trigger::LOCAL | trigger::FROM_REMOTE | trigger::TO_REMOTE_ALL);
    println!(
        "joining resource '{res}' (primary '{primary}') with device '{}'",
        args.device
    );
    println!(
        "NOTE: a full sync of {size} bytes from '{primary}' onto '{}' follows (fast full sync: only differing blocks are copied)",
        args.device
    );
    ctx.commit(batch)?;
    println!("successfully joined resource '{res}'; replay starts at {log}");
    Ok(())
}

/// Checks the backing device and returns its size in bytes.
fn device_size(ctx: &Ctx, device: &str) -> Result<u64, Fail> {
    let missing = || {
        Fail::refused(format!(
            "Device argument '{device}' does not exist or is no usable block device."
        ))
    };
    let meta = std::fs::metadata(device).map_err(|_| missing())?;
    if meta.file_type().is_block_device() {
        if !device.starts_with('/') {
            return Err(Fail::refused(format!(
                "block device '{device}' must be an absolute path starting with '/'"
            )));
        }
        let exclusive = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_EXCL)
            .open(device);
        let mut file = match exclusive {
            Ok(f) => f,
            Err(e) if ctx.options.force => {
                eprintln!("WARNING: Cannot open disk device '{device}' for exclusive rw access ({e}). Continuing due to --force, hopefully you know the risk, like filesystem corruption.");
                File::open(device)
                    .map_err(|e| Fail::refused(format!("cannot open device '{device}': {e}")))?
            }
            Err(e) => {
                return Err(Fail::refused(format!(
                    "cannot open device '{device}' for exclusive rw access: {e}"
                ))
                .line("Is it mounted, used by another resource, device mapper, md or swap?"));
            }
        };
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Fail::refused(format!("cannot determine the size of '{device}': {e}")))?;
        println!("block device '{device}': determined size = {size} bytes");
        return Ok(size);
    }
    if meta.is_file() && ctx.tree.testing {
        // Tests (MARS_ROOT set) may stand a regular file in for a block device.
        println!("Using regular file '{device}' in place of a block device (testing)");
        return Ok(meta.len());
    }
    Err(missing())
}

impl CreateResourceArgs {
    /// The resource named.
    pub(crate) fn res(&self) -> &str {
        &self.res
    }
}

impl JoinResourceArgs {
    /// The resource named.
    pub(crate) fn res(&self) -> &str {
        &self.res
    }
}

/// Parses a size argument (`get_size`): a number with an optional unit suffix, lowercase in
/// powers of 1000, uppercase in powers of 1024, and a multiple of 4096.
pub(crate) fn parse_size(arg: &str) -> Result<u64, Fail> {
    let bad = || {
        Fail::refused(format!(
            "Size argument '{arg}' must be a number, optionally followed by a suffix [kKmMgGtTpP]. Lowercase = multiples of 1000, Uppercase = multiples of 1024."
        ))
    };
    let (digits, unit) = match arg.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&arg[..i], Some(c)),
        _ => (arg, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit {
        None => 1,
        Some(c) => {
            let power = match c.to_ascii_lowercase() {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => {
                    return Err(Fail::refused(format!(
                        "bad unit suffix '{c}' in size argument '{arg}'"
                    )))
                }
            };
            let base: u64 = if c.is_ascii_uppercase() { 1024 } else { 1000 };
            base.pow(power)
        }
    };
    let size = number.checked_mul(factor).ok_or_else(bad)?;
    if size % 4096 != 0 {
        return Err(Fail::refused(format!(
            "size argument '{arg}' evaluating to '{size}' is not a multiple of 4K = 4096"
        )));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_bytes_and_with_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4096k").unwrap(), 4_096_000);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert!(parse_size("1g").is_err(), "10^9 is not a multiple of 4096");
        assert_eq!(parse_size("2T").unwrap(), 2 << 40);
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in [
            "",
            "k",
            "1.5G",
            "-4096",
            "4096 ",
            "1q",
            "5000",
            "99999999999999999999P",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
