// SPDX-License-Identifier: GPL-2.0
//! The cluster commands: `create-cluster`, `join-cluster`, `leave-cluster`, `wait-cluster`,
//! and the expert `set-link`.
//!
//! `marsadm create-cluster [--ip=<addr>]` makes this host the first member of a new cluster.
//!
//! Writes (the original's `create_cluster`, `_create_dirs`, `create_uuid`):
//!
//! ```text
//! ips/ defaults/ defaults-<host>/ todo-global/ userspace/ actual-<host>/   directories
//! actual-<host>/marsadm-version   2.9
//! uuid                            <host>_<lamport_now>
//! defaults-<host>/sync-limit      0
//! defaults-<host>/sync-pref-list  (none)
//! ips/ip-<host>                   <address>
//! .secret                         the cluster secret (a 0600 file, never replicated)
//! ```
//!
//! Refused when `ips/` exists (unless `--force`), a `uuid` exists (always) or a `.secret`
//! exists (always).

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::secret::{self, Check};
use crate::tree_io::{trigger, Batch, MARSADM_FEATURE_VERSION};
use mars_core::lamport::Stamp;
use mars_core::names::check_name;
use mars_core::tree_value::{is_tombstone, IpAddress, ANY_UUID, NONE_VALUE};
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

/// Arguments of `create-cluster`.
#[derive(clap::Args)]
pub(crate) struct CreateClusterArgs {
    /// Take the cluster secret from FILE (64 hex digits; - reads standard input) instead of
    /// making a new one from /dev/urandom. It is stored in /mars/.secret (mode 0600).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<String>,
}

pub(crate) fn create_cluster(ctx: &Ctx, args: &CreateClusterArgs) -> CmdResult {
    let tree = &ctx.tree;
    if tree.is_dir("ips") && !ctx.options.force {
        return Err(Fail::refused("cluster is already created").line(format!(
            "{} exists; use join-cluster on further hosts",
            tree.path("ips").display()
        )));
    }
    if let Some(uuid) = tree.value("uuid") {
        return Err(Fail::refused(format!(
            "Cluster was already created with uuid='{uuid}'. For safety reasons, no override is possible at marsadm level."
        )));
    }
    if tree
        .path(mars_core::auth::SECRET_FILE)
        .symlink_metadata()
        .is_ok()
    {
        return Err(Fail::refused(format!(
            "{} exists: a cluster secret is installed already; not replacing it",
            tree.path(mars_core::auth::SECRET_FILE).display()
        )));
    }
    ctx.check_mounted("create any cluster info")?;
    let ip = own_ip(ctx, None)?;
    let host = &ctx.host;
    let secret = match &args.secret_file {
        Some(file) => secret::read_arg(file)?,
        None => secret::generate()?,
    };

    let mut batch = Batch::new();
    for dir in [
        "ips",
        "userspace",
        "defaults",
        &format!("defaults-{host}"),
        "todo-global",
        &format!("actual-{host}"),
    ] {
        batch.mkdir(dir);
    }
    batch.set_link(
        &format!("actual-{host}/marsadm-version"),
        MARSADM_FEATURE_VERSION,
    );
    let (now, _) = tree.lamport_now()?;
    let uuid = format!("{host}_{now}");
    batch.set_link("uuid", &uuid);
    batch.set_link(&format!("defaults-{host}/sync-limit"), "0");
    batch.set_link(&format!("defaults-{host}/sync-pref-list"), NONE_VALUE);
    batch.set_link(&format!("ips/ip-{host}"), &ip);
    if ctx.options.dry_run {
        println!(
            "would write {} (the cluster secret)",
            tree.path(mars_core::auth::SECRET_FILE).display()
        );
    } else {
        secret::install(tree, &secret)?;
    }
    if let Err(fail) = ctx.commit(batch) {
        let _ = std::fs::remove_file(tree.path(mars_core::auth::SECRET_FILE));
        return Err(fail);
    }
    println!("New cluster UUID is '{uuid}'");
    println!("host '{host}' has IP address '{ip}'");
    Ok(())
}

/// The address of this host (`_get_ip`): `--ip`, the tree, name resolution, the interfaces.
pub(crate) fn own_ip(ctx: &Ctx, given: Option<&str>) -> Result<String, Fail> {
    let host = &ctx.host;
    let (text, source) = if let Some(ip) = given {
        (ip.to_string(), "the command line")
    } else if let Some(ip) = crate::ctx::known_ip(host, host) {
        (ip, "the command line")
    } else if let Some(ip) = ctx.tree.value(&format!("ips/ip-{host}")) {
        (ip, "the tree")
    } else if let Some(ip) = resolve(host) {
        (ip.to_string(), "name resolution")
    } else if let Some(ip) = etc_hosts(host) {
        (ip.to_string(), "/etc/hosts")
    } else if let Some(ip) = first_interface_address() {
        (ip.to_string(), "the network interfaces")
    } else {
        return Err(
            Fail::refused(format!("Cannot determine my own IP address ({host})"))
                .line("give it with --ip=<address>"),
        );
    };
    IpAddress::parse(&text)
        .map_err(|e| Fail::refused(format!("IP address '{text}' from {source}: {e}")))?;
    if ctx.options.verbose {
        println!("Using IP '{text}' from {source}");
    }
    Ok(text)
}

fn usable(ip: Ipv4Addr) -> bool {
    !ip.is_loopback() && !ip.is_unspecified()
}

/// The first non-loopback IPv4 address the host name resolves to (`getent hosts`).
pub(crate) fn resolve(host: &str) -> Option<Ipv4Addr> {
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .find_map(|a| match a.ip() {
            IpAddr::V4(ip) if usable(ip) => Some(ip),
            _ => None,
        })
}

/// The first non-loopback IPv4 address of `host` in /etc/hosts, for systems without a
/// working resolver (minimal initramfs).
pub(crate) fn etc_hosts(host: &str) -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string("/etc/hosts").ok()?;
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let ip: Ipv4Addr = fields.next()?.parse().ok()?;
        (usable(ip) && fields.any(|name| name == host)).then_some(ip)
    })
}

/// The first IPv4 address of a non-loopback interface (`ip addr show`).
fn first_interface_address() -> Option<Ipv4Addr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `list` is a valid out pointer; on success it owns a list freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
        let entry = unsafe { &*cursor };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points to a sockaddr of the node.
            let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if usable(ip) {
                    found = Some(ip);
                    break;
                }
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// Arguments of `join-cluster`.
#[derive(clap::Args)]
pub(crate) struct JoinClusterArgs {
    /// A member of the cluster to join (its host name).
    peer: String,
    /// The member's IPv4 address (default: what its name resolves to, or /etc/hosts).
    peer_ip: Option<String>,
    /// The cluster secret (required): a copy of /mars/.secret of a member; - reads standard
    /// input. Checked against <PEER> before anything changes.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<String>,
}

/// The stamp of the links a joining host writes before it has heard from the cluster
/// (1970-01-01 00:00:01): every value the cluster has wins over them.
const PRELIMINARY_STAMP: Stamp = Stamp { sec: 1, nsec: 0 };

/// `marsadm join-cluster <peer> [<peer-ip>]` (the original's `join_cluster`, the method with
/// the module loaded): makes this host a member of the cluster `<peer>` belongs to.
///
/// Writes `uuid` = `(any)`, `ips/ip-<host>` and `ips/ip-<peer>` with the preliminary stamp
/// 1970+1 s (plus the directories and defaults of create-cluster), triggers a pull, waits until
/// the cluster's uuid has arrived from the peer (`--timeout`), then writes `ips/ip-<host>` anew
/// with the current Lamport time, which the kernel pushes to the peer. Refused when this host
/// already belongs to a cluster, when /mars is not mounted or the module is not loaded.
pub(crate) fn join_cluster(ctx: &Ctx, args: &JoinClusterArgs) -> CmdResult {
    let tree = &ctx.tree;
    let host = &ctx.host;
    let peer = &args.peer;
    check_name(peer).map_err(|e| Fail::refused(format!("peer host name '{peer}': {e}")))?;
    if peer == host {
        return Err(Fail::refused(format!(
            "'{peer}' is this host: give a member of the cluster to join"
        )));
    }
    if let Some(uuid) = tree.value("uuid").filter(|u| u != ANY_UUID) {
        return Err(Fail::refused(format!(
            "this host is already member of the cluster with uuid='{uuid}'"
        ))
        .line("use leave-cluster and a fresh /mars first to join another cluster"));
    }
    let Some(secret_file) = &args.secret_file else {
        return Err(Fail::refused(
            "join-cluster needs the cluster secret: --secret-file=FILE (- reads standard input)",
        )
        .line("copy /mars/.secret of a member (as root, e.g. with scp); nothing changed"));
    };
    let secret = secret::read_arg(secret_file)?;
    let installed = secret::installed(tree)?;
    if installed.as_ref().is_some_and(|s| *s != secret) {
        return Err(Fail::refused(format!(
            "{} holds another cluster secret; nothing changed",
            tree.path(mars_core::auth::SECRET_FILE).display()
        )));
    }
    ctx.check_mounted("join a cluster")?;
    if !tree.module_loaded() && !ctx.options.dry_run {
        return Err(Fail::refused(
            "the mars module is not loaded: join-cluster talks to the peer through it",
        )
        .line("modprobe mars first"));
    }
    let peer_ip = match args
        .peer_ip
        .clone()
        .or_else(|| crate::ctx::known_ip(peer, host))
    {
        Some(ip) => ip,
        None => resolve(peer)
            .or_else(|| etc_hosts(peer))
            .map(|ip| ip.to_string())
            .ok_or_else(|| {
                Fail::refused(format!("cannot determine the IP address of '{peer}'"))
                    .line("give it as second argument")
            })?,
    };
    let parsed = IpAddress::parse(&peer_ip)
        .map_err(|e| Fail::refused(format!("IP address '{peer_ip}' of '{peer}': {e}")))?;
    let ip = own_ip(ctx, None)?;
    if IpAddress::parse(&ip).is_ok_and(|own| own.octets == parsed.octets && own.port == parsed.port)
    {
        return Err(Fail::refused(format!(
            "address '{peer_ip}' of '{peer}' is this host's own address '{ip}'"
        )));
    }
    if !ctx.options.dry_run {
        check_secret(ctx, peer, &peer_ip, parsed, &secret)?;
    }

    let mut batch = Batch::new();
    for dir in [
        "ips",
        "userspace",
        "defaults",
        &format!("defaults-{host}"),
        "todo-global",
        &format!("actual-{host}"),
    ] {
        batch.mkdir(dir);
    }
    batch.set_link(
        &format!("actual-{host}/marsadm-version"),
        MARSADM_FEATURE_VERSION,
    );
    if tree.link("uuid").is_none() {
        batch.set_link_stamped("uuid", ANY_UUID, PRELIMINARY_STAMP);
    }
    batch.set_link_stamped(&format!("ips/ip-{peer}"), &peer_ip, PRELIMINARY_STAMP);
    batch.set_link_stamped(&format!("ips/ip-{host}"), &ip, PRELIMINARY_STAMP);
    batch.set_link(&format!("defaults-{host}/sync-limit"), "0");
    batch.set_link(&format!("defaults-{host}/sync-pref-list"), NONE_VALUE);
    batch.add_trigger(trigger::FROM_REMOTE);
    let undo = JoinUndo::plan(ctx, peer);
    if ctx.options.dry_run {
        ctx.commit(batch)?;
        return Ok(());
    }
    let wrote_secret = installed.is_none();
    if wrote_secret {
        secret::install(tree, &secret)?;
    }
    if let Err(fail) = ctx.commit(batch) {
        if wrote_secret {
            let _ = std::fs::remove_file(tree.path(mars_core::auth::SECRET_FILE));
        }
        return Err(fail);
    }
    let arrived = ctx.wait_for(
        &format!("the cluster uuid has arrived from {peer} ({peer_ip})"),
        |t| t.value("uuid").is_some_and(|u| u != ANY_UUID),
    );
    if let Err(fail) = arrived {
        if tree.value("uuid").is_some_and(|u| u != ANY_UUID) {
            // It arrived just now.
        } else {
            let mut problems = undo.roll_back(ctx);
            if wrote_secret {
                if let Err(e) = std::fs::remove_file(tree.path(mars_core::auth::SECRET_FILE)) {
                    problems.push(format!("'{}': {e}", mars_core::auth::SECRET_FILE));
                }
            }
            let mut out = Fail::refused(format!(
                "no cluster answered from {peer} ({peer_ip}) within {} s: nothing changed",
                ctx.options.timeout
            ))
            .line(format!(
                "is {peer_ip} the address of a member of the cluster, and is mars loaded there?"
            ))
            .line("a host of another cluster refuses us; check the kernel log of both hosts");
            for p in problems {
                out = out.line(format!("rollback: {p}"));
            }
            if fail.code != crate::fail::EXIT_NOT_CONFIRMED {
                return Err(fail);
            }
            return Err(out);
        }
    }
    // Now our own address, stamped after everything we have seen, so that it wins everywhere.
    let mut batch = Batch::new();
    batch.set_link(&format!("ips/ip-{host}"), &ip);
    batch.add_trigger(trigger::FROM_REMOTE | trigger::TO_REMOTE_ALL);
    ctx.commit(batch)?;
    let uuid = tree.value("uuid").unwrap_or_default();
    println!("joined the cluster with uuid '{uuid}' through {peer} ({peer_ip})");
    println!("host '{host}' has IP address '{ip}'");
    Ok(())
}

/// Refuses when nothing answers at the peer's metadata port (connection refused, no route,
/// no answer within 10 s or `--timeout`), or when the peer does not accept our proof of the
/// cluster secret or cannot prove it itself: a wrong address or a wrong secret must not leave
/// a half-joined tree.
fn check_secret(
    ctx: &Ctx,
    peer: &str,
    peer_ip: &str,
    ip: IpAddress,
    secret: &mars_core::auth::Secret,
) -> CmdResult {
    let port = ip.port.unwrap_or(mars_core::version::DEFAULT_PORT);
    let addr = std::net::SocketAddr::from((Ipv4Addr::from(ip.octets), port));
    let seconds = if ctx.options.timeout >= 0 {
        ctx.options.timeout.clamp(1, 10)
    } else {
        10
    };
    let timeout = std::time::Duration::from_secs(seconds as u64);
    let nothing = "nothing changed";
    match secret::check_with_peer(addr, &ctx.host, peer, secret, timeout) {
        Ok(Check::Accepted) => Ok(()),
        Ok(Check::WrongSecret) => Err(Fail::refused(format!(
            "wrong cluster secret: {peer} refused the proof; {nothing}"
        ))
        .line("copy /mars/.secret of a member of the cluster to join")),
        Ok(Check::BadServerProof) => Err(Fail::refused(format!(
            "wrong cluster secret: {peer} ({addr}) failed to prove that it holds this secret; {nothing}"
        ))),
        Ok(Check::OtherHost(other)) => Err(Fail::refused(format!(
            "the host at {addr} is '{other}', not '{peer}'; {nothing}"
        ))),
        Ok(Check::Refused(code, message)) => Err(Fail::refused(format!(
            "{peer} ({addr}) refused us: {code:?} {message}; {nothing}"
        ))),
        Err(e) => Err(
            Fail::refused(format!("cannot reach '{peer}' at {addr} ({peer_ip}): {e}")).line(
                "check the address, the network, and that mars is loaded there; nothing changed",
            ),
        ),
    }
}

/// What `join-cluster` must remove again when no cluster answers: the links it wrote that
/// were not there before (they still carry its values), and the directories it made.
struct JoinUndo {
    links: Vec<String>,
    dirs: Vec<String>,
}

impl JoinUndo {
    fn plan(ctx: &Ctx, peer: &str) -> JoinUndo {
        let host = &ctx.host;
        let tree = &ctx.tree;
        let links = [
            "uuid".to_string(),
            format!("ips/ip-{peer}"),
            format!("ips/ip-{host}"),
            format!("actual-{host}/marsadm-version"),
            format!("defaults-{host}/sync-limit"),
            format!("defaults-{host}/sync-pref-list"),
        ]
        .into_iter()
        .filter(|rel| tree.link(rel).is_none())
        .collect();
        let dirs = [
            "ips",
            "userspace",
            "defaults",
            &format!("defaults-{host}"),
            "todo-global",
            &format!("actual-{host}"),
        ]
        .into_iter()
        .filter(|d| !tree.is_dir(d))
        .map(str::to_string)
        .collect();
        JoinUndo { links, dirs }
    }

    /// Removes them; returns what could not be removed.
    fn roll_back(&self, ctx: &Ctx) -> Vec<String> {
        let mut problems = Vec::new();
        for rel in &self.links {
            let path = ctx.tree.path(rel);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    problems.push(format!("'{}': {e}", path.display()))
                }
                _ => {}
            }
        }
        for dir in self.dirs.iter().rev() {
            // Not empty: something arrived or the kernel wrote into it; it stays.
            let _ = std::fs::remove_dir(ctx.tree.path(dir));
        }
        problems
    }
}

/// `marsadm leave-cluster`: this host stops being a member (deletes `ips/ip-<host>`; the
/// peers stop exchanging with it once they have pulled the deletion). The uuid stays. Refused
/// while this host is still member of a resource (`data-<host>` or `device-<host>` in some
/// `resource-*`), unless `--force`.
pub(crate) fn leave_cluster(ctx: &Ctx) -> CmdResult {
    let tree = &ctx.tree;
    let host = &ctx.host;
    let joined: Vec<String> = tree
        .list("")
        .into_iter()
        .filter_map(|name| name.strip_prefix("resource-").map(str::to_string))
        .filter(|res| {
            tree.exists(&format!("resource-{res}/data-{host}"))
                || tree.exists(&format!("resource-{res}/device-{host}"))
        })
        .collect();
    if !joined.is_empty() && !ctx.options.force {
        return Err(Fail::refused(format!(
            "this host is still member of the resource(s) {}",
            joined.join(", ")
        ))
        .line("leave every resource first (leave-resource)"));
    }
    if !tree.exists(&format!("ips/ip-{host}")) {
        return Err(Fail::refused(format!(
            "host '{host}' is no member of the cluster ({} is missing)",
            tree.path(&format!("ips/ip-{host}")).display()
        )));
    }
    let mut batch = Batch::new();
    batch.delete(&format!("ips/ip-{host}"));
    batch.add_trigger(trigger::TO_REMOTE_ALL);
    ctx.commit(batch)?;
    println!("host '{host}' left the cluster; the peers forget it when they pull the deletion");
    Ok(())
}

/// The other members: every `ips/ip-<host>` but this host's.
fn other_members(ctx: &Ctx) -> Vec<String> {
    ctx.tree
        .list("ips")
        .into_iter()
        .filter_map(|name| name.strip_prefix("ip-").map(str::to_string))
        .filter(|h| *h != ctx.host && ctx.tree.exists(&format!("ips/ip-{h}")))
        .collect()
}

/// `marsadm wait-cluster`: asks every peer for news (trigger: pull from and notify every
/// peer) and waits until each one's heartbeat `actual-<peer>/time` carries a stamp not before
/// the start, i.e. every peer has done a round after it heard from us and we have pulled it
/// since. Fails with exit code 3 naming the peers not heard from within `--timeout`.
pub(crate) fn wait_cluster(ctx: &Ctx) -> CmdResult {
    let peers = other_members(ctx);
    wait_peers(ctx, &peers)?;
    println!("{} peer(s) heard from: {}", peers.len(), peers.join(", "));
    Ok(())
}

/// As [`wait_cluster`], silent when it succeeds (the macro `%wait-cluster{}`).
pub(crate) fn wait_cluster_quiet(ctx: &Ctx) -> CmdResult {
    wait_peers(ctx, &other_members(ctx))
}

/// Arguments of `wait-cluster`.
#[derive(clap::Args)]
pub(crate) struct WaitClusterArgs {
    /// Wait only for the other members of this resource (data- or device- link); a list or
    /// `all`: every member of the cluster (as the original).
    res: Option<String>,
}

/// `marsadm wait-cluster [<res>]`: as [`wait_cluster`], for the other members of `<res>`
/// only when one resource is given.
pub(crate) fn wait_cluster_cmd(ctx: &Ctx, args: &WaitClusterArgs) -> CmdResult {
    let Some(res) = args.res.as_deref().filter(|r| !crate::res_list::is_list(r)) else {
        if let Some(list) = args.res.as_deref().filter(|r| *r != "all") {
            crate::res_list::expand(ctx, list)?;
        }
        return wait_cluster(ctx);
    };
    let dir = ctx.existing_res(res)?;
    let peers: Vec<String> = other_members(ctx)
        .into_iter()
        .filter(|h| {
            [format!("{dir}/data-{h}"), format!("{dir}/device-{h}")]
                .iter()
                .any(|rel| ctx.tree.value(rel).is_some_and(|v| !is_tombstone(&v)))
        })
        .collect();
    wait_peers(ctx, &peers)?;
    println!("{} peer(s) heard from: {}", peers.len(), peers.join(", "));
    Ok(())
}

fn wait_peers(ctx: &Ctx, peers: &[String]) -> CmdResult {
    let tree = &ctx.tree;
    if !tree.module_loaded() {
        return Err(Fail::refused(
            "the mars module is not loaded: there is no news from peers",
        ));
    }
    let (start, _) = tree.lamport_now()?;
    let code = trigger::LOCAL | trigger::FROM_REMOTE | trigger::TO_REMOTE_ALL;
    let heard = |peer: &String| {
        tree.link(&format!("actual-{peer}/time"))
            .is_some_and(|l| l.stamp >= start)
    };
    let begin = std::time::Instant::now();
    let mut last_trigger: Option<std::time::Instant> = None;
    loop {
        let missing: Vec<&String> = peers.iter().filter(|p| !heard(p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if ctx.options.timeout >= 0 && begin.elapsed().as_secs_f64() >= ctx.options.timeout as f64 {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(Fail::not_confirmed(format!(
                "no news within {} s from: {}",
                ctx.options.timeout,
                names.join(", ")
            ))
            .line("check the network and that mars is loaded there"));
        }
        if last_trigger.is_none_or(|t| t.elapsed().as_secs() >= 2) {
            tree.trigger(code).map_err(Fail::refused)?;
            last_trigger = Some(std::time::Instant::now());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Arguments of `set-link`.
#[derive(clap::Args)]
pub(crate) struct SetLinkArgs {
    /// The value.
    value: String,
    /// The link: a path below /mars (relative, or absolute starting with /mars/).
    path: String,
}

/// `marsadm set-link <value> <path>` (expert): writes one link with the current Lamport time
/// (temporary name, stamp, rename, trigger). The value `.deleted` deletes the key.
pub(crate) fn set_link(ctx: &Ctx, args: &SetLinkArgs) -> CmdResult {
    let root = ctx.tree.root.to_string_lossy().into_owned();
    let rel = args
        .path
        .strip_prefix(&format!("{root}/"))
        .unwrap_or(&args.path)
        .to_string();
    let parsed = mars_core::tree::Key::parse(&rel)
        .map_err(|e| Fail::refused(format!("path '{}': {e}", args.path)))?;
    if parsed.is_transient() || rel.split('/').any(|c| c == "." || c == "..") {
        return Err(Fail::refused(format!(
            "path '{}' is not a key of the tree",
            args.path
        )));
    }
    mars_core::wire::check_link_value(&args.value)
        .map_err(|e| Fail::refused(format!("value '{}': {e}", args.value)))?;
    if let Some((dir, _)) = rel.rsplit_once('/') {
        if !ctx.tree.is_dir(dir) {
            return Err(Fail::refused(format!(
                "directory {} does not exist",
                ctx.tree.path(dir).display()
            )));
        }
    }
    let mut batch = Batch::new();
    batch.set_link(&rel, &args.value);
    ctx.commit(batch)
}
