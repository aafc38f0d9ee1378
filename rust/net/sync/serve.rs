// SPDX-License-Identifier: GPL-2.0
//! The server side of port 7779 ([`serve_sync`], in a `mars_serve` thread after the
//! handshake): answers `SyncRead` (a block range of a resource's data device) and
//! `SyncSumsRead` (one digest per block of a range) from the data device this host has
//! attached, through its bio brick (`block::register_data`). Only a member of the resource
//! (`data-<host>` names a device) is served, and only by the designated primary, not in
//! emergency mode; ranges must lie inside the device and be aligned to its logical block size,
//! and a checksum request may cover at most [`MAX_SUMS_SPAN`] bytes and must name a digest
//! both ends agreed on in the handshake (`Conn::features`). Anything else is answered with an
//! `Error`; a malformed frame closes the connection.

use core::sync::atomic::Ordering;

use crate::brick::Output;
use crate::knobs;
use crate::mars_core::wire::{
    check_resource, DigestList, ErrorCode, Message, Packing, SyncData, SyncRead, SyncSums,
    SyncSumsRead, MAX_DATA_CHUNK,
};
use crate::tree;
use kernel::error::code::ENOMEM;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::super::concat;
use super::super::conn::{reply_message, Conn, ConnError, Refusal};
use super::super::members;
use super::super::server::TIMEOUTS;
use super::block::{local_digests, lookup_data, BlockBuf};

/// Most bytes one checksum request may cover.
pub(crate) const MAX_SUMS_SPAN: u64 = 32 * 1024 * 1024;
/// A sync client that sent nothing for this long is gone.
const SERVE_IDLE_MS: u32 = 60_000;

/// What a sync connection serves: the client's host name.
pub(in crate::net) fn serve_sync(conn: &mut Conn<'_>, peer: &[u8]) -> Result<(), ConnError> {
    let stopper = conn.stopper();
    let mut buf = BlockBuf::new().map_err(ConnError::Io)?;
    let mut data =
        KVVec::from_elem(0u8, MAX_DATA_CHUNK, GFP_KERNEL).map_err(|_| ConnError::Io(ENOMEM))?;
    let mut sums = KVVec::new();
    loop {
        let frame = conn
            .reader
            .read(&conn.socket, stopper, TIMEOUTS.recv_ms, SERVE_IDLE_MS)?;
        let tag = frame.header.tag;
        match frame.message {
            Message::Ping => conn.writer.send(&conn.socket, tag, &Message::Pong)?,
            Message::Pong => {}
            Message::SyncRead(request) => {
                let reply = answer_read(&request, peer, &mut buf, data.as_mut_slice());
                let message = reply_message(reply.map(Message::SyncData));
                conn.writer.send(&conn.socket, tag, &message)?;
            }
            Message::SyncSumsRead(request) => {
                let agreed = conn.features;
                let reply = answer_sums(
                    &request,
                    agreed,
                    peer,
                    &mut buf,
                    data.as_mut_slice(),
                    &mut sums,
                );
                let message = reply_message(reply.map(Message::SyncSums));
                conn.writer.send(&conn.socket, tag, &message)?;
            }
            other => return Err(ConnError::Unexpected(other.msg_type())),
        }
    }
}

/// The data device of `res` for `peer`, if `peer` is a member and the device is attached;
/// with its size and logical block size.
fn device_for(
    res: &str,
    peer: &[u8],
) -> core::result::Result<(Arc<dyn Output>, u64, u64), Refusal> {
    check_resource(res).map_err(|_| (ErrorCode::Invalid, "bad resource name"))?;
    let rel = concat(&[b"resource-", res.as_bytes(), b"/data-", peer]);
    if rel.is_empty() || tree::value(&rel).is_none() {
        return Err((ErrorCode::Denied, "not a member of this resource"));
    }
    let primary = tree::value(&concat(&[b"resource-", res.as_bytes(), b"/primary"]));
    if primary.is_none() || primary != members::own_host() {
        return Err((
            ErrorCode::Denied,
            "not the designated primary of this resource",
        ));
    }
    // A primary in emergency mode serves no sync (the original answers -EMEDIUMTYPE): the
    // client retries and goes on once the emergency is over.
    let mut emergency = concat(&[b"resource-", res.as_bytes(), b"/actual-"]);
    if let Some(me) = members::own_host() {
        if emergency.extend_from_slice(&me, GFP_KERNEL).is_ok()
            && emergency
                .extend_from_slice(b"/has-emergency", GFP_KERNEL)
                .is_ok()
            && tree::value(&emergency).as_deref() == Some(b"1".as_slice())
        {
            return Err((
                ErrorCode::Denied,
                "the primary is in emergency mode (/mars full): no sync now",
            ));
        }
    }
    let output =
        lookup_data(res.as_bytes()).ok_or((ErrorCode::Busy, "data device not attached here"))?;
    let info = output
        .info()
        .map_err(|_| (ErrorCode::Busy, "data device not attached here"))?;
    Ok((output, info.size, u64::from(info.logical_block_size.max(1))))
}

fn check_range(offset: u64, len: u64, size: u64, align: u64) -> core::result::Result<(), Refusal> {
    let end = offset
        .checked_add(len)
        .ok_or((ErrorCode::Invalid, "range overflows"))?;
    if end > size {
        return Err((ErrorCode::Invalid, "range beyond the end of the device"));
    }
    if offset.checked_rem(align) != Some(0) || len.checked_rem(align) != Some(0) {
        return Err((
            ErrorCode::Invalid,
            "range not aligned to the logical block size",
        ));
    }
    Ok(())
}

fn answer_read<'b>(
    request: &SyncRead<'_>,
    peer: &[u8],
    buf: &mut BlockBuf,
    data: &'b mut [u8],
) -> core::result::Result<SyncData<'b>, Refusal> {
    let (output, size, align) = device_for(request.resource, peer)?;
    let len = request.len as usize;
    check_range(request.offset, u64::from(request.len), size, align)?;
    let chunk = data
        .get_mut(..len)
        .ok_or((ErrorCode::Invalid, "too long"))?;
    buf.read(&*output, request.offset, chunk)
        .map_err(|_| (ErrorCode::Io, "cannot read the data device"))?;
    drop(output);
    knobs::SYNC_SERVED_BYTES.fetch_add(request.len.into(), Ordering::Relaxed);
    let chunk: &'b [u8] = chunk;
    if chunk.iter().all(|&b| b == 0) {
        return Ok(SyncData {
            offset: request.offset,
            len: request.len,
            zero: true,
            packing: Packing::Plain,
            data: &[],
        });
    }
    Ok(SyncData {
        offset: request.offset,
        len: request.len,
        zero: false,
        packing: Packing::Plain,
        data: chunk,
    })
}

/// Answers a checksum request with digests of the algorithm it names, which must be one of
/// the `agreed` features of the connection (offered by both ends, disabled by neither).
fn answer_sums<'s>(
    request: &SyncSumsRead<'_>,
    agreed: u64,
    peer: &[u8],
    buf: &mut BlockBuf,
    data: &mut [u8],
    sums: &'s mut KVVec<u8>,
) -> core::result::Result<SyncSums<'s>, Refusal> {
    if agreed & request.alg.feature_bit() == 0 {
        return Err((
            ErrorCode::Unsupported,
            "digest not agreed on this connection",
        ));
    }
    let (output, size, align) = device_for(request.resource, peer)?;
    let count = usize::from(request.count);
    let span = u64::from(request.block_size).saturating_mul(u64::from(request.count));
    if span > MAX_SUMS_SPAN {
        return Err((ErrorCode::Invalid, "checksum request too large"));
    }
    // The last block may end at the device end.
    let end = request.offset.saturating_add(span).min(size);
    if request.offset >= end {
        return Err((ErrorCode::Invalid, "range beyond the end of the device"));
    }
    check_range(request.offset, end - request.offset, size, align)?;
    local_digests(
        request.alg,
        &*output,
        buf,
        data,
        request.offset,
        end,
        request.block_size,
        count,
        sums,
    )
    .map_err(|_| (ErrorCode::Io, "cannot read the data device"))?;
    drop(output);
    let digests =
        DigestList::new(request.alg, sums.as_slice()).map_err(|_| (ErrorCode::Io, "digests"))?;
    Ok(SyncSums {
        offset: request.offset,
        block_size: request.block_size,
        digests,
    })
}
