// SPDX-License-Identifier: GPL-2.0
//! Kernel TCP sockets over IPv4, which the 6.12 `kernel` crate lacks: [`Socket`] owns one
//! `struct socket` (released on drop) and offers what the peer protocol needs: listen on an
//! address, accept, connect, send all of a buffer, receive some bytes, and [`Socket::shutdown`],
//! which any thread may call to wake a thread blocked in accept, connect, send or receive on
//! the same socket (the way to stop a network thread promptly when the module unloads).
//!
//! Every blocking call is also bounded by the socket's timeouts ([`Timeouts`]), so a thread
//! never sleeps longer than that even if nobody shuts its socket down. Connections get
//! TCP_NODELAY and keepalive (the original's `tcp_keepidle` 4 s, `tcp_keepintvl` 3 s,
//! `tcp_keepcnt` 3); listeners SO_REUSEADDR.

use core::ptr::{self, NonNull};

use super::bindings as helpers;
use kernel::bindings;
use kernel::error::code::{EAGAIN, EINVAL, ENOMEM, EPIPE};
use kernel::error::{to_result, Error};
use kernel::ffi::c_int;
use kernel::prelude::*;

/// An IPv4 address and port, both in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketAddrV4 {
    /// The address, most significant octet first (`10.77.0.1` is `0x0a4d0001`).
    pub(crate) addr: u32,
    /// The port.
    pub(crate) port: u16,
}

impl SocketAddrV4 {
    /// The address `a.b.c.d:port`.
    pub(crate) fn new(octets: [u8; 4], port: u16) -> Self {
        SocketAddrV4 {
            addr: u32::from_be_bytes(octets),
            port,
        }
    }

    /// The wildcard address (any local address) with `port`.
    pub(crate) fn any(port: u16) -> Self {
        SocketAddrV4 { addr: 0, port }
    }

    /// The four octets.
    pub(crate) fn octets(&self) -> [u8; 4] {
        self.addr.to_be_bytes()
    }
}

impl core::fmt::Display for SocketAddrV4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.octets();
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// How long blocking calls may sleep, in milliseconds (0: unbounded).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// Receive and accept.
    pub(crate) recv_ms: u32,
    /// Send and connect.
    pub(crate) send_ms: u32,
}

/// Settings of a connection the administrator may tune (the original's
/// `tcp_tuning_<n>_<role>_traffic/` knobs): see [`Socket::tune`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamTuning {
    /// IPv4 type of service (0 .. 255).
    pub(crate) ip_tos: c_int,
    /// Keepalive: first probe after this many idle seconds (1 .. 32767), ...
    pub(crate) keepidle: c_int,
    /// ... then every this many seconds (1 .. 32767), ...
    pub(crate) keepintvl: c_int,
    /// ... dead after this many unanswered probes (1 .. 127).
    pub(crate) keepcnt: c_int,
}

/// Keepalive of connections: first probe after this many idle seconds, ...
const KEEPIDLE_SEC: c_int = 4;
/// ... then every this many seconds, ...
const KEEPINTVL_SEC: c_int = 3;
/// ... and the connection is dead after this many unanswered probes.
const KEEPCNT: c_int = 3;
/// Pending connections a listener queues (the original's backlog).
const LISTEN_BACKLOG: c_int = 16;

/// An owned kernel TCP socket.
///
/// # Invariants
/// `sock` was created by `sock_create_kern` (or handed out by `kernel_accept`) and is released
/// only on drop; until then it is valid. Calls from several threads at once are what the
/// kernel's socket layer supports (it locks the socket internally), so `&Socket` may be used
/// concurrently, e.g. [`Socket::shutdown`] while another thread receives.
pub(crate) struct Socket {
    sock: NonNull<bindings::socket>,
}

// SAFETY: a kernel socket is not bound to the thread that created it; the socket layer
// serialises concurrent calls on it with its own lock (`lock_sock`).
unsafe impl Send for Socket {}
// SAFETY: as above; every method takes `&self` and the kernel synchronises internally.
unsafe impl Sync for Socket {}

impl Socket {
    /// A new, unconnected TCP socket in the initial network namespace.
    fn new_tcp(timeouts: Timeouts) -> Result<Self> {
        let mut raw: *mut bindings::socket = ptr::null_mut();
        // SAFETY: `raw` is a valid out pointer; on success it holds a socket we own.
        to_result(unsafe { helpers::mars_helper_sock_create_tcp(&mut raw) })?;
        // INVARIANT: created by sock_create_kern, owned from here on.
        let socket = Socket {
            sock: NonNull::new(raw).ok_or(ENOMEM)?,
        };
        socket.set_timeouts(timeouts);
        Ok(socket)
    }

    /// Bounds the blocking calls on this socket.
    pub(crate) fn set_timeouts(&self, timeouts: Timeouts) {
        // SAFETY: `sock` is valid (type invariant) and has its `sk`.
        unsafe {
            helpers::mars_helper_sock_set_timeouts(
                self.sock.as_ptr(),
                timeouts.recv_ms,
                timeouts.send_ms,
            )
        };
    }

    fn tune_stream(&self) {
        // SAFETY: `sock` is a valid TCP socket (type invariant).
        unsafe {
            helpers::mars_helper_sock_tune_stream(
                self.sock.as_ptr(),
                KEEPIDLE_SEC,
                KEEPINTVL_SEC,
                KEEPCNT,
            )
        };
    }

    /// Applies `tuning` to a connection: TCP_NODELAY and keepalive on (as on every
    /// connection), the keepalive timing and the IP type of service of `tuning`. Values out
    /// of the kernel's ranges are ignored by it (the knobs are range-checked before).
    pub(crate) fn tune(&self, tuning: StreamTuning) {
        // SAFETY: `sock` is a valid TCP socket (type invariant); the helpers only set options.
        unsafe {
            helpers::mars_helper_sock_tune_stream(
                self.sock.as_ptr(),
                tuning.keepidle,
                tuning.keepintvl,
                tuning.keepcnt,
            );
            helpers::mars_helper_sock_set_tos(self.sock.as_ptr(), tuning.ip_tos);
        }
    }

    /// A socket listening on `addr` (SO_REUSEADDR, so a restarted module can bind again at
    /// once). `timeouts.recv_ms` bounds every [`Socket::accept`].
    pub(crate) fn listen(addr: SocketAddrV4, timeouts: Timeouts) -> Result<Self> {
        let socket = Self::new_tcp(timeouts)?;
        // SAFETY: `sock` is valid (type invariant).
        unsafe { helpers::mars_helper_sock_set_reuseaddr(socket.sock.as_ptr()) };
        // SAFETY: `sock` is a valid, unbound TCP socket.
        to_result(unsafe {
            helpers::mars_helper_sock_bind_ipv4(socket.sock.as_ptr(), addr.addr, addr.port)
        })?;
        // SAFETY: `sock` is a valid, bound TCP socket.
        to_result(unsafe {
            helpers::mars_helper_sock_listen(socket.sock.as_ptr(), LISTEN_BACKLOG)
        })?;
        Ok(socket)
    }

    /// Waits for the next connection on a listening socket. EAGAIN when the receive timeout
    /// passed; EINVAL (or another error) once the socket was shut down.
    pub(crate) fn accept(&self, timeouts: Timeouts) -> Result<Socket> {
        let mut raw: *mut bindings::socket = ptr::null_mut();
        // SAFETY: `sock` is valid (type invariant); `raw` is a valid out pointer that holds a
        // new socket we own on success.
        to_result(unsafe { helpers::mars_helper_sock_accept(self.sock.as_ptr(), &mut raw) })?;
        // INVARIANT: handed out by kernel_accept, owned from here on.
        let socket = Socket {
            sock: NonNull::new(raw).ok_or(ENOMEM)?,
        };
        socket.set_timeouts(timeouts);
        socket.tune_stream();
        Ok(socket)
    }

    /// A connection to `addr`; the connect waits at most `timeouts.send_ms`. The caller may
    /// wake a blocked connect with [`Socket::shutdown`] from another thread: `publish` is called
    /// with the socket before the connect starts and may keep a reference to it.
    pub(crate) fn connect_shared(
        addr: SocketAddrV4,
        timeouts: Timeouts,
        publish: impl FnOnce(&kernel::sync::Arc<Socket>) -> Result,
    ) -> Result<kernel::sync::Arc<Socket>> {
        let socket = kernel::sync::Arc::new(Self::new_tcp(timeouts)?, GFP_KERNEL)?;
        socket.tune_stream();
        publish(&socket)?;
        // SAFETY: `sock` is a valid, unconnected TCP socket.
        to_result(unsafe {
            helpers::mars_helper_sock_connect_ipv4(socket.sock.as_ptr(), addr.addr, addr.port)
        })?;
        Ok(socket)
    }

    /// The address of the other end of a connection.
    pub(crate) fn peer_addr(&self) -> Result<SocketAddrV4> {
        let (mut addr, mut port) = (0u32, 0u16);
        // SAFETY: `sock` is valid (type invariant); both out pointers are valid.
        to_result(unsafe {
            helpers::mars_helper_sock_peer_ipv4(self.sock.as_ptr(), &mut addr, &mut port)
        })?;
        Ok(SocketAddrV4 { addr, port })
    }

    /// Sends all of `buf`. Fails if the connection breaks, was shut down, or the send timeout
    /// passed (EAGAIN) before everything was sent.
    pub(crate) fn send_all(&self, mut buf: &[u8]) -> Result {
        while !buf.is_empty() {
            // Bounded by c_int: the helper returns the count as an int.
            let chunk = buf.len().min(1 << 30);
            // SAFETY: `sock` is valid (type invariant); `buf` has `chunk` readable bytes that
            // outlive the call.
            let sent = unsafe {
                helpers::mars_helper_sock_send(self.sock.as_ptr(), buf.as_ptr().cast(), chunk)
            };
            if sent < 0 {
                return Err(Error::from_errno(sent));
            }
            let sent = usize::try_from(sent).map_err(|_| EINVAL)?;
            if sent == 0 {
                return Err(EPIPE);
            }
            buf = buf.get(sent..).ok_or(EINVAL)?;
        }
        Ok(())
    }

    /// Receives up to `buf.len()` bytes: how many arrived, 0 at the end of the stream. EAGAIN
    /// when the receive timeout passed with nothing received.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len().min(1 << 30);
        // SAFETY: `sock` is valid (type invariant); `buf` has `len` writable bytes.
        let got = unsafe {
            helpers::mars_helper_sock_recv(self.sock.as_ptr(), buf.as_mut_ptr().cast(), len)
        };
        if got < 0 {
            return Err(Error::from_errno(got));
        }
        usize::try_from(got).map_err(|_| EINVAL)
    }

    /// Shuts both directions down: every thread blocked on this socket wakes up with an error
    /// or the end of the stream, and later calls fail at once. Any thread may call it, any
    /// number of times; the socket itself is released only on drop.
    pub(crate) fn shutdown(&self) {
        // SAFETY: `sock` is valid (type invariant); shutdown is safe concurrently with other
        // calls on the socket.
        unsafe { helpers::mars_helper_sock_shutdown(self.sock.as_ptr()) };
    }
}

/// Whether an error of [`Socket::recv`] or [`Socket::accept`] only means that the timeout
/// passed.
pub(crate) fn is_timeout(error: Error) -> bool {
    error == EAGAIN
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the socket (type invariant) and nobody else can use it any more (drop
        // takes `&mut self`, so no borrow is alive).
        unsafe { helpers::mars_helper_sock_release(self.sock.as_ptr()) };
    }
}
