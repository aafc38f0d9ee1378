// SPDX-License-Identifier: GPL-2.0
//! The metadata exchange over port 7777 (`Documentation/protocol.rst`): the server side
//! (`serve.rs`, [`serve_meta`]) answers a peer's `GetEnts` with this host's entries, takes its
//! `Notify` and its push of its own address link; the client side (`pull.rs`, one `mars_peer`
//! thread per other member, [`reconcile`]) pulls each member's tree and merges it under the
//! Lamport rule (`net::merge`).

mod pull;
mod serve;

pub(super) use pull::{reconcile, Peer};
pub(super) use serve::serve_meta;
