// SPDX-License-Identifier: GPL-2.0
//! Who is who, as the local `/mars` tree says (read through `crate::tree`): this host's
//! name, the other members of the cluster (`ips/ip-<host>`) and their addresses, and the
//! members of a resource.

use crate::kapi::uts;
use crate::mars_core::names::is_valid_host_name;
use crate::mars_core::tree_value::IpAddress;
use crate::tree;
use kernel::error::code::ENOENT;
use kernel::prelude::*;
use kernel::str::BStr;

use super::merge::may_log;
use super::{bytes, Bytes};

/// Most members (`ips/ip-*`) this host takes from peers and runs peer threads for.
pub(super) const MAX_MEMBERS: usize = 64;

/// This host's name, if it is valid for MARS.
pub(super) fn own_host() -> Option<Bytes> {
    let node = uts::node_name();
    let name = node.as_bytes();
    if !is_valid_host_name(name) {
        return None;
    }
    bytes(&[name]).ok()
}

/// The address in `ips/ip-<host>`.
pub(super) fn host_ip(host: &[u8]) -> Option<IpAddress> {
    let rel = bytes(&[b"ips/ip-", host]).ok()?;
    let value = tree::value(&rel)?;
    IpAddress::parse(core::str::from_utf8(&value).ok()?).ok()
}

/// Whether `host` is a member of resource `res` here: `resource-<res>/device-<host>` or
/// `resource-<res>/data-<host>` exists and is not deleted.
pub(super) fn is_member(res: &[u8], host: &[u8]) -> bool {
    [b"/device-".as_slice(), b"/data-".as_slice()]
        .iter()
        .any(|key| {
            bytes(&[b"resource-", res, key, host])
                .ok()
                .is_some_and(|rel| tree::value(&rel).is_some())
        })
}

/// Whether some `ips/ip-<host>` names the address `addr` (most significant octet first).
pub(super) fn is_member_address(addr: u32) -> bool {
    let me = own_host().unwrap_or_default();
    other_members(&me).is_ok_and(|members| {
        members
            .iter()
            .any(|(_, ip)| u32::from_be_bytes(ip.octets) == addr)
    })
}

/// The other members: every `ips/ip-<host>` with a valid host name and address, except
/// `me`.
pub(super) fn other_members(me: &[u8]) -> Result<KVec<(Bytes, IpAddress)>> {
    let mut out = KVec::new();
    let listing = match tree::read_dir(b"ips".as_slice(), 1024) {
        Ok(listing) => listing,
        Err(e) if e == ENOENT => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in listing.entries.iter() {
        let Some(host) = entry.name.strip_prefix(b"ip-") else {
            continue;
        };
        if host == me || !is_valid_host_name(host) {
            continue;
        }
        let Some(ip) = host_ip(host) else {
            continue;
        };
        if out.len() >= MAX_MEMBERS {
            if may_log() {
                pr_warn!(
                    "net: more than {} members in /mars/ips: no exchange with {} and beyond\n",
                    MAX_MEMBERS,
                    BStr::from_bytes(host)
                );
            }
            break;
        }
        out.push((bytes(&[host])?, ip), GFP_KERNEL)?;
    }
    Ok(out)
}
