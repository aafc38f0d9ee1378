// SPDX-License-Identifier: GPL-2.0
//! One connection (metadata, logfile fetch or sync): reads whole frames off a socket into a bounded buffer (the header
//! first, checked before any payload is waited for) and sends frames built in a second buffer.
//! Anything that does not decode is a [`ConnError::Protocol`]: the caller logs it and closes
//! the connection, nothing else.

use crate::clock;
use crate::kapi::socket::{is_timeout, Socket};
use crate::mars_core::auth::PeerAuth;
use crate::mars_core::net_pack::UnpackError;
use crate::mars_core::wire::{
    decode_frame, encode_frame, frame_status, ErrorCode, ErrorReply, Frame, FrameStatus, Message,
    MsgType, PortRole, WireError, HEADER_LEN, MAX_FRAME_LEN,
};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::pack::{unpack_message, Packer, Unpacker};
use super::Stopper;

/// The largest frame a metadata connection carries: a full `Dents` batch.
pub(super) const META_FRAME_LEN: usize = HEADER_LEN + MsgType::Dents.max_payload();

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ConnError {
    /// The other side closed the connection.
    Closed,
    /// Nothing arrived for too long.
    Silent,
    /// The handshake did not finish before its deadline.
    TooSlow,
    /// The thread is asked to stop.
    Stopping,
    /// The socket failed.
    Io(Error),
    /// The bytes received are no valid frame, or a frame that is not allowed here.
    Protocol(WireError),
    /// A valid frame at a point where the protocol does not allow it.
    Unexpected(MsgType),
    /// A compressed data frame that is refused (algorithm not agreed, bad length, corrupt).
    Unpack(UnpackError),
}

/// Why a server does not answer one request as asked: the code and message of its `Error`.
pub(super) type Refusal = (ErrorCode, &'static str);

/// The frame answering a request: its reply, or an `Error` with the refusal.
pub(super) fn reply_message(reply: Result<Message<'_>, Refusal>) -> Message<'_> {
    reply.unwrap_or_else(|(code, message)| Message::Error(ErrorReply { code, message }))
}

impl From<WireError> for ConnError {
    fn from(e: WireError) -> Self {
        ConnError::Protocol(e)
    }
}

impl core::fmt::Display for ConnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnError::Closed => f.write_str("connection closed by the other side"),
            ConnError::Silent => f.write_str("nothing received for too long"),
            ConnError::TooSlow => f.write_str("handshake not finished in time"),
            ConnError::Stopping => f.write_str("shutting down"),
            ConnError::Io(e) => write!(f, "socket error {:?}", e),
            ConnError::Protocol(e) => write!(f, "protocol error: {}", e),
            ConnError::Unexpected(t) => write!(f, "protocol error: unexpected {:?} frame", t),
            ConnError::Unpack(e) => write!(f, "protocol error: {}", e),
        }
    }
}

/// The largest frame a connection of `role` carries.
pub(super) const fn frame_len(role: PortRole) -> usize {
    match role {
        PortRole::Meta => META_FRAME_LEN,
        _ => MAX_FRAME_LEN,
    }
}

/// Milliseconds of the monotonic clock.
pub(super) fn monotonic_ms() -> u64 {
    u64::try_from(kernel::time::Ktime::ktime_get().to_ms()).unwrap_or(0)
}

/// How long a client waits for its peer's answer: `network_io_timeout` (0: for ever), in ms.
pub(super) fn reply_wait_ms() -> u32 {
    match u32::try_from(crate::knobs::NETWORK_IO_TIMEOUT.get()) {
        Ok(0) | Err(_) => u32::MAX,
        Ok(seconds) => seconds.saturating_mul(1000),
    }
}

/// Nanoseconds of the monotonic clock.
pub(super) fn monotonic_ns() -> u64 {
    u64::try_from(kernel::time::Ktime::ktime_get().to_ns()).unwrap_or(0)
}

/// Receives frames of one port role into a buffer of [`frame_len`] bytes.
pub(super) struct FrameReader {
    buf: KVVec<u8>,
    role: PortRole,
    /// Bytes of the current frame received so far.
    filled: usize,
    /// Whether the other side proved that it holds the cluster secret: only then do the
    /// stamps of its frames advance the Lamport clock.
    auth: PeerAuth,
    /// Decompression of data frames, once a compression was agreed (client side).
    unpacker: Option<KBox<Unpacker>>,
}

impl FrameReader {
    pub(super) fn new(role: PortRole) -> Result<Self> {
        Ok(FrameReader {
            buf: KVVec::from_elem(0u8, frame_len(role), GFP_KERNEL)?,
            role,
            filled: 0,
            auth: PeerAuth::new(),
            unpacker: None,
        })
    }

    /// The other side's proof verified: from now on its stamps advance the Lamport clock.
    pub(super) fn authenticated(&mut self) {
        self.auth.authenticate();
    }

    /// Reads the next frame, waiting at most `silence_ms` for its bytes (the socket's receive
    /// timeout is the polling step). The frame's type must belong to the reader's port. The
    /// sender's stamp advances the local Lamport clock once the sender is authenticated.
    pub(super) fn read<'a>(
        &'a mut self,
        socket: &Socket,
        stopper: &Stopper,
        step_ms: u32,
        silence_ms: u32,
    ) -> Result<Frame<'a>, ConnError> {
        self.read_until(socket, stopper, step_ms, silence_ms, None)
    }

    /// [`FrameReader::read`], and fails with [`ConnError::TooSlow`] once the monotonic clock
    /// passes `deadline_ms` ([`monotonic_ms`]), however steadily bytes trickle in.
    pub(super) fn read_until<'a>(
        &'a mut self,
        socket: &Socket,
        stopper: &Stopper,
        step_ms: u32,
        silence_ms: u32,
        deadline_ms: Option<u64>,
    ) -> Result<Frame<'a>, ConnError> {
        self.filled = 0;
        let mut silent_ms: u32 = 0;
        let frame_len = loop {
            if deadline_ms.is_some_and(|deadline| monotonic_ms() >= deadline) {
                return Err(ConnError::TooSlow);
            }
            let want = match frame_status(self.buf.get(..self.filled).unwrap_or(&[]))? {
                FrameStatus::Complete { frame_len, .. } => break frame_len,
                FrameStatus::NeedMore(n) => n,
            };
            if self.filled >= HEADER_LEN {
                // The header is complete and valid here (frame_status decoded it).
                let header = crate::mars_core::wire::Header::decode(self.buf.as_slice())?;
                if header
                    .msg_type
                    .port_role()
                    .is_some_and(|role| role != self.role)
                {
                    return Err(ConnError::Unexpected(header.msg_type));
                }
            }
            if stopper.stopping() {
                return Err(ConnError::Stopping);
            }
            let end = self
                .filled
                .checked_add(want)
                .ok_or(ConnError::Protocol(WireError::LengthOverCap))?;
            let room = self
                .buf
                .get_mut(self.filled..end)
                .ok_or(ConnError::Protocol(WireError::LengthOverCap))?;
            match socket.recv(room) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => {
                    self.filled = self.filled.saturating_add(n);
                    silent_ms = 0;
                }
                Err(e) if is_timeout(e) => {
                    silent_ms = silent_ms.saturating_add(step_ms);
                    if silent_ms >= silence_ms {
                        return Err(ConnError::Silent);
                    }
                }
                Err(e) => {
                    return Err(if stopper.stopping() {
                        ConnError::Stopping
                    } else {
                        ConnError::Io(e)
                    })
                }
            }
        };
        let frame = decode_frame(
            self.buf
                .get(..frame_len)
                .ok_or(ConnError::Protocol(WireError::Truncated))?,
        )?;
        count_wire(frame.header.msg_type, frame_len);
        if let Some(stamp) = self.auth.observable(frame.header.stamp) {
            clock::observe(stamp);
        }
        // A compressed data frame is refused before its sender's data reach anybody.
        let message = unpack_message(self.unpacker.as_deref_mut(), frame.message)
            .map_err(ConnError::Unpack)?;
        Ok(Frame {
            header: frame.header,
            message,
        })
    }
}

/// Counts a data frame received (`log_fetch_wire_bytes`, `sync_wire_bytes`): the bytes that
/// travelled, header included, compressed or not.
fn count_wire(msg_type: MsgType, frame_len: usize) {
    let counter = match msg_type {
        MsgType::LogData => &crate::knobs::LOG_FETCH_WIRE_BYTES,
        MsgType::SyncData => &crate::knobs::SYNC_WIRE_BYTES,
        _ => return,
    };
    counter.fetch_add(
        i64::try_from(frame_len).unwrap_or(i64::MAX),
        core::sync::atomic::Ordering::Relaxed,
    );
}

/// Builds frames to send in a buffer of [`frame_len`] bytes.
pub(super) struct FrameWriter {
    pub(super) buf: KVVec<u8>,
    /// Compression of data frames, once a compression was agreed (server side).
    packer: Option<KBox<Packer>>,
}

impl FrameWriter {
    pub(super) fn new(role: PortRole) -> Result<Self> {
        Ok(FrameWriter {
            buf: KVVec::from_elem(0u8, frame_len(role), GFP_KERNEL)?,
            packer: None,
        })
    }

    /// Encodes and sends one message with the current Lamport reading; a data frame goes
    /// compressed when a compression was agreed and it pays off.
    pub(super) fn send(
        &mut self,
        socket: &Socket,
        tag: u64,
        message: &Message<'_>,
    ) -> Result<(), ConnError> {
        let FrameWriter { buf, packer } = self;
        let packed = packer.as_deref_mut().and_then(|p| p.pack(message));
        let message = packed.as_ref().unwrap_or(message);
        let len = encode_frame(buf.as_mut_slice(), clock::now(), tag, message)?;
        self.send_encoded(socket, len)
    }

    /// Sends the first `len` bytes of the buffer (a frame a batch writer built there).
    pub(super) fn send_encoded(&self, socket: &Socket, len: usize) -> Result<(), ConnError> {
        let frame = self
            .buf
            .get(..len)
            .ok_or(ConnError::Protocol(WireError::BufferTooSmall))?;
        socket.send_all(frame).map_err(ConnError::Io)
    }
}

/// A connected socket, its buffers, and the socket slot of its thread's [`Stopper`] (cleared
/// when the connection is dropped).
pub(super) struct Conn<'s> {
    pub(super) socket: Arc<Socket>,
    pub(super) reader: FrameReader,
    pub(super) writer: FrameWriter,
    stopper: &'s Stopper,
    /// The feature bits both ends agreed on in the handshake (0 until then): the digests fast
    /// full sync may use on this connection, and the network compressions.
    pub(super) features: u64,
    /// The compression feature bits this end offered in its handshake, and when the
    /// handshake completed ([`monotonic_ms`]): see `net::pack::outdated`.
    pub(super) offered: u64,
    pub(super) agreed_ms: u64,
}

impl<'s> Conn<'s> {
    /// Wraps `socket` of a connection for `role`, which is already installed in `stopper`.
    pub(super) fn for_role(
        socket: Arc<Socket>,
        stopper: &'s Stopper,
        role: PortRole,
    ) -> Result<Self> {
        if let Some(tuning) = crate::knobs::TCP_TUNING.get(role as usize) {
            socket.tune(tuning.stream());
        }
        Ok(Conn {
            socket,
            reader: FrameReader::new(role)?,
            writer: FrameWriter::new(role)?,
            stopper,
            features: 0,
            offered: 0,
            agreed_ms: 0,
        })
    }

    pub(super) fn stopper(&self) -> &'s Stopper {
        self.stopper
    }

    /// Keeps the feature bits both ends agreed on in the handshake; with a compression among
    /// them, the server compresses its data frames and the client accepts them compressed
    /// (`net::pack`). May sleep (allocates the buffers).
    pub(super) fn agree(&mut self, features: u64, server: bool) -> Result<(), ConnError> {
        let oom = |_| ConnError::Io(kernel::error::code::ENOMEM);
        self.features = features;
        self.agreed_ms = monotonic_ms();
        if server {
            self.writer.packer = Packer::new(features).map_err(oom)?;
        } else {
            self.reader.unpacker = Unpacker::new(features).map_err(oom)?;
        }
        Ok(())
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        self.socket.shutdown();
        self.stopper.remove(&self.socket);
    }
}
