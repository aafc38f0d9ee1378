// SPDX-License-Identifier: GPL-2.0
//! `marsadm create-cluster [--ip=<addr>]`: makes this host the first member of a new cluster.
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
//! ```
//!
//! Refused when `ips/` exists (unless `--force`) or a `uuid` exists (always).

use crate::ctx::Ctx;
use crate::fail::{CmdResult, Fail};
use crate::tree_io::{Batch, MARSADM_FEATURE_VERSION};
use mars_core::tree_value::{IpAddress, NONE_VALUE};
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

/// Arguments of `create-cluster`.
#[derive(clap::Args)]
pub(crate) struct CreateClusterArgs {
    /// This host's IPv4 address for the peers (default: what the host name resolves to, else
    /// the first address of a non-loopback interface).
    #[arg(long, value_name = "ADDRESS")]
    ip: Option<String>,
}

pub(crate) fn create_cluster(ctx: &Ctx, args: &CreateClusterArgs) -> CmdResult {
    let tree = &ctx.tree;
    if tree.is_dir("ips") && !ctx.options.force {
        return Err(Fail::refused("cluster is already created")
            .line(format!("{} exists; use join-cluster on further hosts", tree.path("ips").display())));
    }
    if let Some(uuid) = tree.value("uuid") {
        return Err(Fail::refused(format!(
            "Cluster was already created with uuid='{uuid}'. For safety reasons, no override is possible at marsadm level."
        )));
    }
    ctx.check_mounted("create any cluster info")?;
    let ip = own_ip(ctx, args.ip.as_deref())?;
    let host = &ctx.host;

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
    batch.set_link(&format!("actual-{host}/marsadm-version"), MARSADM_FEATURE_VERSION);
    let (now, _) = tree.lamport_now()?;
    let uuid = format!("{host}_{now}");
    batch.set_link("uuid", &uuid);
    batch.set_link(&format!("defaults-{host}/sync-limit"), "0");
    batch.set_link(&format!("defaults-{host}/sync-pref-list"), NONE_VALUE);
    batch.set_link(&format!("ips/ip-{host}"), &ip);
    ctx.commit(batch)?;
    println!("New cluster UUID is '{uuid}'");
    println!("host '{host}' has IP address '{ip}'");
    Ok(())
}

/// The address of this host (`_get_ip`): `--ip`, the tree, name resolution, the interfaces.
fn own_ip(ctx: &Ctx, given: Option<&str>) -> Result<String, Fail> {
    let host = &ctx.host;
    let (text, source) = if let Some(ip) = given {
        (ip.to_string(), "the command line")
    } else if let Some(ip) = ctx.tree.value(&format!("ips/ip-{host}")) {
        (ip, "the tree")
    } else if let Some(ip) = resolve(host) {
        (ip.to_string(), "name resolution")
    } else if let Some(ip) = etc_hosts(host) {
        (ip.to_string(), "/etc/hosts")
    } else if let Some(ip) = first_interface_address() {
        (ip.to_string(), "the network interfaces")
    } else {
        return Err(Fail::refused(format!("Cannot determine my own IP address ({host})"))
            .line("give it with --ip=<address>"));
    };
    IpAddress::parse(&text).map_err(|e| Fail::refused(format!("IP address '{text}' from {source}: {e}")))?;
    if ctx.options.verbose {
        println!("Using IP '{text}' from {source}");
    }
    Ok(text)
}

fn usable(ip: Ipv4Addr) -> bool {
    !ip.is_loopback() && !ip.is_unspecified()
}

/// The first non-loopback IPv4 address the host name resolves to (`getent hosts`).
fn resolve(host: &str) -> Option<Ipv4Addr> {
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a.ip() {
        IpAddr::V4(ip) if usable(ip) => Some(ip),
        _ => None,
    })
}

/// The first non-loopback IPv4 address of `host` in /etc/hosts, for systems without a
/// working resolver (minimal initramfs).
fn etc_hosts(host: &str) -> Option<Ipv4Addr> {
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
