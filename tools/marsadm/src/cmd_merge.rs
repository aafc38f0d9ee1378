// SPDX-License-Identifier: GPL-2.0
//! `merge-cluster-list`, `merge-cluster-check`, `merge-cluster`, `split-cluster`.
//!
//! The original merges two clusters by fetching the other cluster's tree into a probe
//! directory (or over ssh), checking that their resource names are disjoint, and pushing the
//! address links of every host of both clusters to every host. Here:
//!
//! * `merge-cluster-list` prints what the original prints (uuid, address links, resource
//!   directories of this host's tree).
//! * `merge-cluster-check <peer> [<ip>]` asks `<peer>` itself: an authenticated session on its
//!   metadata port with this host's cluster secret (as `join-cluster`'s check, with the uuid
//!   `(any)`), then one `GetEnts` of `/mars` and `/mars/ips`. Both clusters must hold the same
//!   secret: a host of another secret learns nothing, by design. It prints both uuids and the
//!   resource names found in both clusters, and fails (exit 1) when there is one. The
//!   original's `merge-cluster-check` runs the whole merge (it shares the function and only
//!   `-list` is special-cased); ours only checks.
//! * `merge-cluster <peer> [<ip>]` does the same check; with the same uuid on both sides it
//!   writes the address links of the peer's members that this host does not know (the first
//!   address of an unknown host, as `lowlevel-set-host-ip` may) and asks every peer for news,
//!   so that both sides learn each other (the original's "logically idempotent" case). With
//!   different uuids it refuses: our kernels exchange nothing with a host of another cluster
//!   uuid (the handshake refuses a foreign cluster) and a host never takes another uuid once
//!   it belongs to a cluster, so the union cannot be made from here.
//! * `split-cluster` prints the original's analysis (every member's address, the groups of
//!   hosts that share resources) and, when there is more than one group, refuses: the
//!   original deletes every address link on every host (pushing links into the peers'
//!   trees); here each host's address is taken from that host only, so no host can remove
//!   the others' addresses from their trees.

use crate::cmd_cluster::{etc_hosts, resolve};
use crate::ctx::{known_ip, Ctx};
use crate::fail::{CmdResult, Fail};
use crate::res_list::natural_cmp;
use crate::secret::{self, Check};
use crate::tree_io::{trigger, Batch};
use mars_core::names::check_name;
use mars_core::tree_value::{is_tombstone, IpAddress};
use mars_core::wire::{decode_frame, DentKind, GetEntsWriter, Message, HEADER_LEN};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Arguments of `merge-cluster` and `merge-cluster-check`.
#[derive(clap::Args)]
pub(crate) struct MergeArgs {
    /// A member of the other cluster (its host name).
    peer: String,
    /// Its IPv4 address (default: --ip-<peer>, this tree, name resolution, /etc/hosts).
    peer_ip: Option<String>,
}

/// What a cluster's tree says about the cluster: its uuid, its members and their
/// addresses, its resource names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    pub(crate) uuid: String,
    pub(crate) members: BTreeMap<String, String>,
    pub(crate) resources: BTreeSet<String>,
}

/// This host's listing.
fn local_listing(ctx: &Ctx) -> Listing {
    let tree = &ctx.tree;
    let mut out = Listing {
        uuid: tree.value("uuid").unwrap_or_default(),
        ..Listing::default()
    };
    for name in tree.list("ips") {
        let Some(host) = name.strip_prefix("ip-") else {
            continue;
        };
        if let Some(ip) = tree
            .value(&format!("ips/{name}"))
            .filter(|v| !is_tombstone(v))
        {
            out.members.insert(host.to_string(), ip);
        }
    }
    for name in tree.list("") {
        if let Some(res) = name.strip_prefix("resource-") {
            if tree.is_dir(&name) {
                out.resources.insert(res.to_string());
            }
        }
    }
    out
}

fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut v: Vec<&String> = names.collect();
    v.sort_by(|a, b| natural_cmp(a, b));
    v
}

/// `merge-cluster-list`: the original's output, paths as in this host's tree.
pub(crate) fn merge_cluster_list(ctx: &Ctx) -> CmdResult {
    let listing = local_listing(ctx);
    let tree = &ctx.tree;
    println!("UUID: {}", listing.uuid);
    println!("IPs:");
    for host in sorted(listing.members.keys()) {
        println!("{}", tree.path(&format!("ips/ip-{host}")).display());
    }
    println!("RESOURCEs:");
    for res in sorted(listing.resources.iter()) {
        println!("{}", tree.path(&format!("resource-{res}")).display());
    }
    Ok(())
}

/// The address of `peer`: the argument, `--ip-<peer>`, this tree, name resolution.
fn peer_address(ctx: &Ctx, peer: &str, given: Option<&str>) -> Result<IpAddress, Fail> {
    let text = given
        .map(str::to_string)
        .or_else(|| known_ip(peer, &ctx.host))
        .or_else(|| {
            ctx.tree
                .value(&format!("ips/ip-{peer}"))
                .filter(|v| !is_tombstone(v))
        })
        .or_else(|| {
            resolve(peer)
                .or_else(|| etc_hosts(peer))
                .map(|ip| ip.to_string())
        })
        .ok_or_else(|| {
            Fail::refused(format!("Cannot determine the IP address of peer '{peer}'"))
                .line("give it on the command line (second argument or --ip-<peer>=<address>)")
        })?;
    IpAddress::parse(&text)
        .map_err(|e| Fail::refused(format!("IP address '{text}' of '{peer}': {e}")))
}

/// Reads `peer`'s listing over an authenticated session on its metadata port.
fn remote_listing(ctx: &Ctx, peer: &str, ip: &IpAddress) -> Result<Listing, Fail> {
    let secret = secret::installed(&ctx.tree)?.ok_or_else(|| {
        Fail::refused(format!(
            "{} is missing: this host cannot talk to '{peer}'",
            ctx.tree.path(mars_core::auth::SECRET_FILE).display()
        ))
    })?;
    let port = ip.port.unwrap_or(mars_core::version::DEFAULT_PORT);
    let addr = SocketAddr::from((Ipv4Addr::from(ip.octets), port));
    let seconds = if ctx.options.timeout >= 0 {
        ctx.options.timeout.clamp(1, 10)
    } else {
        10
    };
    let timeout = Duration::from_secs(seconds as u64);
    let unreachable = |e: std::io::Error| {
        Fail::refused(format!("cannot reach '{peer}' at {addr}: {e}"))
            .line("check the address, the network, and that mars is loaded there")
    };
    let (check, mut stream) =
        secret::handshake(addr, &ctx.host, peer, &secret, timeout).map_err(unreachable)?;
    match check {
        Check::Accepted => {}
        Check::WrongSecret | Check::BadServerProof => {
            return Err(Fail::refused(format!(
                "'{peer}' ({addr}) holds another cluster secret: it tells nothing about its cluster"
            ))
            .line("both clusters must hold the same /mars/.secret before they can be merged"))
        }
        Check::OtherHost(other) => {
            return Err(Fail::refused(format!(
                "the host at {addr} is '{other}', not '{peer}'"
            )))
        }
        Check::Refused(code, message) => {
            return Err(Fail::refused(format!(
                "'{peer}' ({addr}) refused us: {code:?} {message}"
            )))
        }
    }
    let mut buf = vec![0u8; 4096];
    let len = {
        let mut writer = GetEntsWriter::new(&mut buf, 1).map_err(wire_fail)?;
        writer.push("/mars").map_err(wire_fail)?;
        writer.push("/mars/ips").map_err(wire_fail)?;
        writer
            .finish(crate::tree_io::real_time(), 1)
            .map_err(wire_fail)?
    };
    use std::io::Write;
    stream
        .write_all(buf.get(..len).unwrap_or(&[]))
        .map_err(unreachable)?;
    read_listing(&mut stream).map_err(unreachable)
}

fn wire_fail(e: mars_core::wire::WireError) -> Fail {
    Fail::refused(format!("cannot encode the request: {e}"))
}

/// Most answer frames taken for one request (a listing of two directories).
const MAX_ANSWER_FRAMES: usize = 64;

/// Reads the `Dents` answer of the request with tag 1 into a listing.
fn read_listing(stream: &mut TcpStream) -> std::io::Result<Listing> {
    let mut out = Listing::default();
    let mut buf = Vec::with_capacity(HEADER_LEN);
    for _ in 0..MAX_ANSWER_FRAMES {
        let len = secret::receive(stream, &mut buf)?;
        let frame = decode_frame(buf.get(..len).unwrap_or(&[]))
            .map_err(|e| std::io::Error::other(format!("{e}")))?;
        let dents = match frame.message {
            Message::Dents(dents) => dents,
            Message::Ping => {
                secret::send(stream, &Message::Pong)?;
                continue;
            }
            Message::Error(e) => {
                return Err(std::io::Error::other(format!(
                    "it answered with an error: {:?} {}",
                    e.code, e.message
                )))
            }
            other => {
                return Err(std::io::Error::other(format!(
                    "unexpected {:?} instead of the listing",
                    other.msg_type()
                )))
            }
        };
        for dent in dents.entries.iter() {
            let Some(rel) = dent.path.strip_prefix("/mars/") else {
                continue;
            };
            match (dent.kind, rel) {
                (DentKind::Symlink, "uuid") => out.uuid = dent.value.to_string(),
                (DentKind::Symlink, rel) => {
                    if let Some(host) = rel.strip_prefix("ips/ip-") {
                        if check_name(host).is_ok()
                            && !is_tombstone(dent.value)
                            && IpAddress::parse(dent.value).is_ok()
                        {
                            out.members.insert(host.to_string(), dent.value.to_string());
                        }
                    }
                }
                (DentKind::Dir, rel) => {
                    if let Some(res) = rel.strip_prefix("resource-") {
                        if mars_core::names::ResourceName::parse(res).is_ok() {
                            out.resources.insert(res.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        if !dents.more {
            return Ok(out);
        }
    }
    Err(std::io::Error::other("the listing has too many parts"))
}

/// The original's checks before a merge; returns both listings.
fn check(ctx: &Ctx, args: &MergeArgs, verb: &str) -> Result<(Listing, Listing), Fail> {
    let peer = args.peer.as_str();
    check_name(peer).map_err(|e| Fail::refused(format!("peer host name '{peer}': {e}")))?;
    if peer == ctx.host {
        return Err(Fail::refused(format!(
            "Cannot merge myself (peer='{peer}', host='{}')",
            ctx.host
        )));
    }
    let ip = peer_address(ctx, peer, args.peer_ip.as_deref())?;
    println!("peer '{peer}' has IP '{ip}'");
    let here = local_listing(ctx);
    let there = remote_listing(ctx, peer, &ip)?;
    if there.uuid.is_empty() {
        return Err(Fail::refused(format!(
            "Other cluster peer '{peer}' has no UUID"
        )));
    }
    for host in sorted(there.members.keys()) {
        if !here.members.contains_key(host) {
            println!("  new peer '{host}' ip='{}'", there.members[host]);
        }
    }
    if there.uuid == here.uuid {
        println!("Other cluster peer '{peer}' has the same UUID.");
        println!("No resource name checking necessary.");
        println!("Operation '{verb}' will work logically idempotent.");
        return Ok((here, there));
    }
    println!(
        "Other cluster peer '{peer}' has a different UUID ('{}'; here '{}'), checking for resource name conflicts.",
        there.uuid, here.uuid
    );
    let common: Vec<&String> = sorted(here.resources.intersection(&there.resources));
    for res in &common {
        eprintln!("WARNING: common resource '{res}'");
    }
    if !common.is_empty() {
        return Err(Fail::refused(format!(
            "cannot merge cluster '{peer}' due to {} conflicts",
            common.len()
        ))
        .line("the resource names of both clusters must be disjoint (a deleted resource keeps its name)"));
    }
    println!("OK: the resource names of both clusters are disjoint.");
    Ok((here, there))
}

/// `merge-cluster-check <peer> [<ip>]`.
pub(crate) fn merge_cluster_check(ctx: &Ctx, args: &MergeArgs) -> CmdResult {
    check(ctx, args, "merge-cluster").map(|_| ())
}

/// `merge-cluster <peer> [<ip>]`.
pub(crate) fn merge_cluster(ctx: &Ctx, args: &MergeArgs) -> CmdResult {
    ctx.check_mounted("merge clusters")?;
    if !ctx.tree.module_loaded() {
        return Err(Fail::refused(
            "the mars module is not loaded: merge-cluster needs it to talk to the peers",
        ));
    }
    let (here, there) = check(ctx, args, "merge-cluster")?;
    if here.uuid != there.uuid {
        return Err(Fail::refused(format!(
            "cannot merge the cluster of '{}' (uuid '{}') into this one (uuid '{}'): not possible with this kernel",
            args.peer, there.uuid, here.uuid
        ))
        .line("the kernels exchange nothing with a host of another cluster uuid (the handshake refuses a foreign cluster), and a host never takes another uuid once it belongs to a cluster")
        .line("instead, leave-resource and leave-cluster on the hosts of one cluster, then join-cluster and join-resource them to the other; nothing changed"));
    }
    let missing: Vec<&String> = sorted(
        there
            .members
            .keys()
            .filter(|h| !here.members.contains_key(*h) && **h != ctx.host),
    );
    if missing.is_empty() {
        println!(
            "Nothing to do: every member of the cluster of '{}' is known here.",
            args.peer
        );
        return Ok(());
    }
    println!("MERGE '{}'", args.peer);
    let mut batch = Batch::new();
    batch.mkdir("ips");
    for host in missing {
        let ip = known_ip(host, &ctx.host).unwrap_or_else(|| there.members[host].clone());
        IpAddress::parse(&ip)
            .map_err(|e| Fail::refused(format!("IP address '{ip}' of '{host}': {e}")))?;
        println!("  add '{host}' ip='{ip}'");
        batch.set_link(&format!("ips/ip-{host}"), &ip);
    }
    batch.add_trigger(trigger::FROM_REMOTE | trigger::TO_REMOTE_ALL);
    ctx.commit(batch)
}

/// The groups of hosts that share resources (the original's `split_cluster` analysis): each
/// member with every host it shares a resource with, transitively; in natural order.
pub(crate) fn peer_groups(ctx: &Ctx) -> Vec<Vec<String>> {
    let listing = local_listing(ctx);
    let tree = &ctx.tree;
    let mut hosts: Vec<String> = listing.members.keys().cloned().collect();
    hosts.sort_by(|a, b| natural_cmp(a, b));
    let members_of = |res: &str| -> BTreeSet<String> {
        let dir = format!("resource-{res}");
        tree.list(&dir)
            .into_iter()
            .filter_map(|n| {
                n.strip_prefix("data-")
                    .or_else(|| n.strip_prefix("device-"))
                    .map(str::to_string)
            })
            .filter(|h| {
                [format!("{dir}/data-{h}"), format!("{dir}/device-{h}")]
                    .iter()
                    .any(|rel| tree.value(rel).is_some_and(|v| !is_tombstone(&v)))
            })
            .collect()
    };
    let sets: Vec<BTreeSet<String>> = listing
        .resources
        .iter()
        .map(|r| members_of(r))
        .filter(|s| !s.is_empty())
        .collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for host in &hosts {
        if groups.iter().any(|g| g.contains(host)) {
            continue;
        }
        let mut group = BTreeSet::from([host.clone()]);
        loop {
            let before = group.len();
            for set in &sets {
                if !set.is_disjoint(&group) {
                    group.extend(
                        set.iter()
                            .filter(|h| listing.members.contains_key(*h))
                            .cloned(),
                    );
                }
            }
            if group.len() == before {
                break;
            }
        }
        groups.push(group);
    }
    groups
        .into_iter()
        .map(|g| {
            let mut v: Vec<String> = g.into_iter().collect();
            v.sort_by(|a, b| natural_cmp(a, b));
            v
        })
        .collect()
}

/// `split-cluster`: the analysis, then a refusal when there is something to split.
pub(crate) fn split_cluster(ctx: &Ctx) -> CmdResult {
    let listing = local_listing(ctx);
    println!("IPS:");
    for host in sorted(listing.members.keys()) {
        println!("  Peer='{host}' IP='{}'", listing.members[host]);
    }
    println!("PEER GROUPS:");
    let groups = peer_groups(ctx);
    for (nr, group) in groups.iter().enumerate() {
        println!(
            "  #{}: {} => {}",
            nr + 1,
            group.first().map(String::as_str).unwrap_or(""),
            group.join(",")
        );
    }
    if groups.len() <= 1 {
        println!("Nothing to do: there are only {} group(s)", groups.len());
        return Ok(());
    }
    Err(Fail::refused(format!(
        "cannot split the cluster into these {} groups: not possible with this kernel; nothing changed",
        groups.len()
    ))
    .line("the original deletes every address link on every host and pushes each group's links into its members' trees; here each host's address (ips/ip-<host>) is taken from that host only, so no host can remove it from the others' trees")
    .line("a host that shares no resource with the others can leave: leave-cluster on it"))
}
