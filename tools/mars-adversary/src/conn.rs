// SPDX-License-Identifier: GPL-2.0
//! One TCP connection speaking frames of `mars_core::wire`, with a timeout on every socket
//! call: the tool attacks hosts that may stall or drop it, and must never hang a test.

use mars_core::lamport::Stamp;
use mars_core::wire::{
    decode_frame, encode_frame, frame_status, FrameStatus, Message, PortRole, HEADER_LEN,
    MAX_FRAME_LEN,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Connect timeout, and the longest any single read or write may block.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The current real time as a stamp: what an honest host's Lamport clock reads, roughly.
pub(crate) fn now() -> Stamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Stamp::new(
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        since.subsec_nanos(),
    )
}

/// Resolves `host` (a name in /etc/hosts or an address) with the port of `role` above `base`.
pub(crate) fn address(host: &str, base: u16, role: PortRole) -> io::Result<SocketAddr> {
    let port = role
        .port(base)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "port out of range"))?;
    (host, port)
        .to_socket_addrs()?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no IPv4 address"))
}

/// A frame as received: the bytes of one complete, decodable frame.
pub(crate) struct Received {
    bytes: Vec<u8>,
}

impl Received {
    /// The decoded message (decoding succeeded when the frame was received).
    pub(crate) fn message(&self) -> Option<Message<'_>> {
        decode_frame(&self.bytes).ok().map(|frame| frame.message)
    }

    /// The frame's tag.
    pub(crate) fn tag(&self) -> u64 {
        decode_frame(&self.bytes).map_or(0, |frame| frame.header.tag)
    }
}

/// A connection with a send buffer large enough for any frame.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects with [`IO_TIMEOUT`] on the connect and on every later read and write.
    pub(crate) fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        Conn::from_stream(stream)
    }

    /// Wraps an accepted stream, with the same timeouts.
    pub(crate) fn from_stream(stream: TcpStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; MAX_FRAME_LEN],
        })
    }

    /// Encodes and sends one frame stamped `stamp`.
    pub(crate) fn send_stamped(
        &mut self,
        stamp: Stamp,
        tag: u64,
        message: &Message<'_>,
    ) -> io::Result<()> {
        let len = encode_frame(&mut self.buf, stamp, tag, message)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let bytes = self.buf.get(..len).unwrap_or_default();
        self.stream.write_all(bytes)
    }

    /// Sends one frame stamped with the current real time.
    pub(crate) fn send(&mut self, tag: u64, message: &Message<'_>) -> io::Result<()> {
        self.send_stamped(now(), tag, message)
    }

    /// Sends bytes built elsewhere (a batch writer's frame).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The send buffer, for the batch writers of `mars_core::wire`.
    pub(crate) fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Receives one frame; an undecodable one is an error (`InvalidData`). A closed
    /// connection is `UnexpectedEof`, a silent one `WouldBlock`/`TimedOut`.
    pub(crate) fn recv(&mut self) -> io::Result<Received> {
        let mut bytes = vec![0u8; HEADER_LEN];
        self.stream.read_exact(&mut bytes)?;
        let frame_len = match frame_status(&bytes).map_err(invalid)? {
            FrameStatus::Complete { frame_len, .. } => frame_len,
            FrameStatus::NeedMore(more) => HEADER_LEN.saturating_add(more),
        };
        bytes.resize(frame_len, 0);
        if let Some(payload) = bytes.get_mut(HEADER_LEN..) {
            self.stream.read_exact(payload)?;
        }
        decode_frame(&bytes).map_err(invalid)?;
        Ok(Received { bytes })
    }
}

fn invalid(e: mars_core::wire::WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}
