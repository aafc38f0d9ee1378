// SPDX-License-Identifier: GPL-2.0
//! Wire codec of the MARS peer protocol (ports 7777 metadata, 7778 logs, 7779 sync).
//!
//! Every message travels in a frame: a fixed 32-byte little-endian [`Header`] followed by a
//! payload whose layout depends on the message type. `Documentation/protocol.rst` describes
//! the protocol and every byte; this file implements exactly that text.
//!
//! The codec is built for a kernel socket loop:
//! * [`frame_status`] looks at the bytes buffered so far and says how many more are needed,
//!   so the reader never over-reads and rejects a bad header before waiting for its payload;
//! * [`decode_frame`] turns one complete frame into a [`Message`] whose strings, lists and
//!   data chunks borrow the frame buffer (nothing is copied, nothing is allocated);
//! * [`encode_frame`] and the batch writers ([`GetEntsWriter`], [`DentsWriter`]) write into a
//!   caller-provided buffer and return the number of bytes written.
//!
//! Every length and count on the wire has a cap (the `MAX_*` constants) that is checked
//! before anything is read; every field is validated on decode *and* on encode, so whatever
//! encodes successfully decodes to the same message, and arbitrary bytes only ever produce a
//! [`WireError`].

use super::auth::{NONCE_LEN, PROOF_LEN};
use super::compress::Compression;
use super::digest::{DigestAlgo, DIGEST_SIZE};
use super::lamport::{Stamp, NSEC_PER_SEC};
use super::names::{check_id, NameError, MAX_ID_LEN};
use super::version::DEFAULT_PORT;
use core::fmt;

// ---------------------------------------------------------------------------------------------
// Constants

/// The first four bytes of every frame: ASCII `MARS`.
pub const MAGIC: [u8; 4] = *b"MARS";
/// The protocol version this code writes.
pub const PROTOCOL_VERSION: u8 = 2;
/// The oldest protocol version this code accepts.
pub const MIN_PROTOCOL_VERSION: u8 = 2;
/// The newest protocol version this code accepts.
pub const MAX_PROTOCOL_VERSION: u8 = 2;

/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 32;
/// Largest data chunk in one [`LogData`] or [`SyncData`] frame (256 KiB).
pub const MAX_DATA_CHUNK: usize = 256 * 1024;
/// Largest payload of any frame: a full data chunk plus its fixed fields.
pub const MAX_PAYLOAD: usize = MAX_DATA_CHUNK + 64;
/// Largest frame, header included: the receive buffer a socket needs.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PAYLOAD;

/// Longest path in bytes (paths are absolute and lie under `/mars`).
pub const MAX_PATH_LEN: usize = 256;
/// Longest symlink value in bytes.
pub const MAX_LINK_VALUE_LEN: usize = 1024;
/// Longest host name in bytes (an RFC 1123 label, as `marsadm` allows).
pub const MAX_HOST_LEN: usize = MAX_ID_LEN;
/// Longest resource name in bytes.
pub const MAX_RESOURCE_LEN: usize = MAX_ID_LEN;
/// Longest cluster uuid (the value of `/mars/uuid`) in bytes.
pub const MAX_UUID_LEN: usize = 128;
/// Longest human-readable message in [`Refuse`] and [`ErrorReply`], in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Most directories one [`GetEnts`] request may name.
pub const MAX_GETENTS_DIRS: usize = 256;
/// Deepest directory scan a [`GetEnts`] request may ask for.
pub const MAX_GETENTS_DEPTH: u8 = 4;
/// Most entries in one [`Dents`] batch.
pub const MAX_DENTS_PER_BATCH: usize = 128;
/// Most blocks one checksum request ([`SyncSumsRead`]) may cover.
pub const MAX_SUM_BLOCKS: usize = 1024;
/// Smallest block size of a checksum request.
pub const MIN_SUM_BLOCK_SIZE: u32 = 512;
/// Largest block size of a checksum request (one data chunk, so a mismatching block can be
/// fetched with one [`SyncRead`]).
pub const MAX_SUM_BLOCK_SIZE: u32 = MAX_DATA_CHUNK as u32;
/// Length of every block digest in bytes (the MARS 32-byte digest).
pub const DIGEST_LEN: usize = DIGEST_SIZE;

/// Cluster uuid that matches every cluster; a host carries it while it joins.
pub const ANY_CLUSTER: &str = "(any)";

/// Header flag: more frames answering the same request follow (only on [`Dents`]).
pub const FLAG_MORE: u16 = 1 << 0;

/// Feature bit: the host can compute plain-MD5 ("MD5_OLD") block digests.
pub const FEATURE_DIGEST_MD5_OLD: u64 = DigestAlg::Md5Old as u64;
/// Feature bit: the host can compute chunked-MD5 block digests.
pub const FEATURE_DIGEST_MD5: u64 = DigestAlg::Md5 as u64;
/// Feature bit: the host can compute CRC32C block digests.
pub const FEATURE_DIGEST_CRC32C: u64 = DigestAlg::Crc32c as u64;
/// Feature bit: the host can compute CRC32 block digests.
pub const FEATURE_DIGEST_CRC32: u64 = DigestAlg::Crc32 as u64;
/// Feature bit: the host can compute SHA-1 block digests.
pub const FEATURE_DIGEST_SHA1: u64 = DigestAlg::Sha1 as u64;
/// Feature bit: the host offers LZO1X network compression of data frames.
pub const FEATURE_COMPRESS_LZO: u64 = 0x100;
/// Feature bit: the host offers LZ4 network compression of data frames.
pub const FEATURE_COMPRESS_LZ4: u64 = 0x200;
/// Feature bit: the host offers zlib network compression of data frames.
pub const FEATURE_COMPRESS_ZLIB: u64 = 0x400;
/// The compression feature bits.
pub const FEATURE_COMPRESS_ANY: u64 =
    FEATURE_COMPRESS_LZO | FEATURE_COMPRESS_LZ4 | FEATURE_COMPRESS_ZLIB;
/// Every feature bit this version knows; others are ignored by negotiation. The digest and
/// compression bits equal those of the log format's `l_crc_flags`.
pub const KNOWN_FEATURES: u64 = FEATURE_DIGEST_MD5_OLD
    | FEATURE_DIGEST_MD5
    | FEATURE_DIGEST_CRC32C
    | FEATURE_DIGEST_CRC32
    | FEATURE_DIGEST_SHA1
    | FEATURE_COMPRESS_ANY;

// Fixed parts of payloads, in bytes (see Documentation/protocol.rst for the layouts).
const HELLO_FIXED: usize = 13 + NONCE_LEN;
const WELCOME_FIXED: usize = 11 + PROOF_LEN;
const CHALLENGE_FIXED: usize = NONCE_LEN;
const AUTH_FIXED: usize = PROOF_LEN;
const REFUSE_FIXED: usize = 10;
const ERROR_FIXED: usize = 4;
const GETENTS_FIXED: usize = 3;
const DENTS_FIXED: usize = 2;
const DENT_FIXED: usize = 25;
const PUSH_LINK_FIXED: usize = 16;
const PUSH_CHECK_FIXED: usize = 3;
const LOG_READ_FIXED: usize = 14;
const LOG_DATA_FIXED: usize = 24;
const SYNC_READ_FIXED: usize = 13;
const SYNC_DATA_FIXED: usize = 16;
const SYNC_SUMS_READ_FIXED: usize = 16;
const SYNC_SUMS_FIXED: usize = 15;

const LOG_FLAG_EOF: u32 = 1 << 0;
const LOG_FLAG_NOT_YET: u32 = 1 << 1;
const LOG_FLAG_PACKED: u32 = 1 << 2;
const SYNC_FLAG_ZERO: u32 = 1 << 0;
const SYNC_FLAG_PACKED: u32 = 1 << 1;

/// Bytes a compressed data section costs on top of its compressed bytes in a [`LogData`]
/// (algorithm and decompressed length); a [`SyncData`] needs only the algorithm byte. A
/// sender compresses only when the compressed bytes plus this are fewer than the plain ones.
pub const PACK_OVERHEAD: usize = 5;

// ---------------------------------------------------------------------------------------------
// Errors

/// Why bytes are not a valid frame, or why a message cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Encoding: the output buffer is too small for the frame.
    BufferTooSmall,
    /// The frame does not start with [`MAGIC`].
    BadMagic,
    /// The header carries a protocol version outside
    /// [`MIN_PROTOCOL_VERSION`]`..=`[`MAX_PROTOCOL_VERSION`].
    UnsupportedVersion(u8),
    /// The header names a message type this version does not know.
    UnknownType(u8),
    /// The header sets a flag not allowed for its message type.
    BadFlags,
    /// The bytes end before the frame or a field does.
    Truncated,
    /// Bytes are left over after the last field of the frame.
    TrailingBytes,
    /// A length (payload, path, name, text, data) exceeds its cap.
    LengthOverCap,
    /// A count (directories, entries, blocks) exceeds its cap.
    CountOverCap,
    /// A numeric field lies outside its allowed range (zero length, depth, block size,
    /// version 0, an offset range that overflows).
    OutOfRange,
    /// An enumerated field (entry kind, port role, code, digest algorithm) has an unknown
    /// value.
    UnknownCode,
    /// A string is not valid UTF-8.
    BadUtf8,
    /// A path is not a canonical absolute path under `/mars`.
    BadPath,
    /// A host name, resource name or cluster uuid contains a forbidden character or is empty.
    BadName,
    /// A symlink value is empty or contains a NUL byte.
    BadLinkValue,
    /// A human-readable message contains a control character.
    BadText,
    /// A Lamport stamp has `nsec >= 1_000_000_000`.
    BadStamp,
    /// Fields contradict each other (a value on a non-symlink, a data length that does not
    /// match, a chunk beyond the durable end, ...).
    Inconsistent,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            WireError::BufferTooSmall => "output buffer too small",
            WireError::BadMagic => "bad magic",
            WireError::UnsupportedVersion(v) => {
                return write!(f, "unsupported protocol version {v}")
            }
            WireError::UnknownType(t) => return write!(f, "unknown message type {t:#04x}"),
            WireError::BadFlags => "flags not allowed for this message type",
            WireError::Truncated => "truncated",
            WireError::TrailingBytes => "trailing bytes after the last field",
            WireError::LengthOverCap => "length over cap",
            WireError::CountOverCap => "count over cap",
            WireError::OutOfRange => "field out of range",
            WireError::UnknownCode => "unknown enumeration value",
            WireError::BadUtf8 => "string is not UTF-8",
            WireError::BadPath => "path is not a canonical path under /mars",
            WireError::BadName => "bad host name, resource name or cluster uuid",
            WireError::BadLinkValue => "bad symlink value",
            WireError::BadText => "control character in message text",
            WireError::BadStamp => "bad Lamport stamp",
            WireError::Inconsistent => "inconsistent fields",
        };
        f.write_str(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Enumerations

/// What a TCP connection is for; each role has its own port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortRole {
    /// Metadata: symlink tree exchange, notifies, pushes (default port 7777).
    Meta = 0,
    /// Logfile fetch (default port 7778).
    Log = 1,
    /// Full sync of the backing device (default port 7779).
    Sync = 2,
}

impl PortRole {
    /// The role with wire value `value`.
    pub fn from_u8(value: u8) -> Option<PortRole> {
        match value {
            0 => Some(PortRole::Meta),
            1 => Some(PortRole::Log),
            2 => Some(PortRole::Sync),
            _ => None,
        }
    }

    /// The port of this role when the metadata port is `base` (`None` if it overflows).
    pub fn port(self, base: u16) -> Option<u16> {
        base.checked_add(self as u16)
    }

    /// The port of this role with the default base port 7777.
    pub fn default_port(self) -> u16 {
        // DEFAULT_PORT + 2 does not overflow; fall back to the base port rather than panic.
        self.port(DEFAULT_PORT).unwrap_or(DEFAULT_PORT)
    }
}

/// The message type carried in byte 5 of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// [`Hello`]: first frame of every connection, client to server.
    Hello = 0x01,
    /// [`Welcome`]: the server accepts the hello.
    Welcome = 0x02,
    /// [`Refuse`]: the server refuses the hello (or the proof) and closes.
    Refuse = 0x03,
    /// Keepalive probe; answered by [`MsgType::Pong`] with the same tag.
    Ping = 0x04,
    /// Keepalive answer.
    Pong = 0x05,
    /// [`ErrorReply`]: a request failed.
    Error = 0x06,
    /// [`Challenge`]: the server's nonce, answering a [`Hello`].
    Challenge = 0x07,
    /// [`Auth`]: the client's proof, answering a [`Challenge`].
    Auth = 0x08,
    /// [`GetEnts`]: ask for the entries under some `/mars` directories.
    GetEnts = 0x10,
    /// [`Dents`]: one batch of entries answering a [`GetEnts`].
    Dents = 0x11,
    /// Something changed here: pull from me now (no payload, no reply).
    Notify = 0x12,
    /// [`PushLink`]: set a symlink on the receiver.
    PushLink = 0x13,
    /// [`PushCheck`]: ask the receiver to fetch a path from a host if it lacks it.
    PushCheck = 0x14,
    /// [`LogRead`]: read a chunk of a logfile.
    LogRead = 0x20,
    /// [`LogData`]: a chunk of a logfile.
    LogData = 0x21,
    /// [`SyncRead`]: read a block range of a resource's backing device.
    SyncRead = 0x30,
    /// [`SyncData`]: a block range of a backing device.
    SyncData = 0x31,
    /// [`SyncSumsRead`]: ask for per-block digests (fast full sync).
    SyncSumsRead = 0x32,
    /// [`SyncSums`]: per-block digests.
    SyncSums = 0x33,
}

impl MsgType {
    /// The type with wire value `value`.
    pub fn from_u8(value: u8) -> Option<MsgType> {
        Some(match value {
            0x01 => MsgType::Hello,
            0x02 => MsgType::Welcome,
            0x03 => MsgType::Refuse,
            0x04 => MsgType::Ping,
            0x05 => MsgType::Pong,
            0x06 => MsgType::Error,
            0x07 => MsgType::Challenge,
            0x08 => MsgType::Auth,
            0x10 => MsgType::GetEnts,
            0x11 => MsgType::Dents,
            0x12 => MsgType::Notify,
            0x13 => MsgType::PushLink,
            0x14 => MsgType::PushCheck,
            0x20 => MsgType::LogRead,
            0x21 => MsgType::LogData,
            0x30 => MsgType::SyncRead,
            0x31 => MsgType::SyncData,
            0x32 => MsgType::SyncSumsRead,
            0x33 => MsgType::SyncSums,
            _ => return None,
        })
    }

    /// The largest payload a frame of this type may carry; larger headers are rejected before
    /// their payload is read.
    pub const fn max_payload(self) -> usize {
        match self {
            MsgType::Hello => HELLO_FIXED + MAX_UUID_LEN + MAX_HOST_LEN,
            MsgType::Welcome => WELCOME_FIXED + MAX_UUID_LEN + MAX_HOST_LEN,
            MsgType::Refuse => REFUSE_FIXED + MAX_TEXT_LEN,
            MsgType::Challenge => CHALLENGE_FIXED,
            MsgType::Auth => AUTH_FIXED,
            MsgType::Ping | MsgType::Pong | MsgType::Notify => 0,
            MsgType::Error => ERROR_FIXED + MAX_TEXT_LEN,
            MsgType::GetEnts => GETENTS_FIXED + MAX_GETENTS_DIRS * (2 + MAX_PATH_LEN),
            MsgType::Dents => {
                DENTS_FIXED + MAX_DENTS_PER_BATCH * (DENT_FIXED + MAX_PATH_LEN + MAX_LINK_VALUE_LEN)
            }
            MsgType::PushLink => PUSH_LINK_FIXED + MAX_PATH_LEN + MAX_LINK_VALUE_LEN,
            MsgType::PushCheck => PUSH_CHECK_FIXED + MAX_HOST_LEN + MAX_PATH_LEN,
            MsgType::LogRead => LOG_READ_FIXED + MAX_PATH_LEN,
            MsgType::LogData => LOG_DATA_FIXED + MAX_DATA_CHUNK,
            MsgType::SyncRead => SYNC_READ_FIXED + MAX_RESOURCE_LEN,
            MsgType::SyncData => SYNC_DATA_FIXED + MAX_DATA_CHUNK,
            MsgType::SyncSumsRead => SYNC_SUMS_READ_FIXED + MAX_RESOURCE_LEN,
            MsgType::SyncSums => SYNC_SUMS_FIXED + MAX_SUM_BLOCKS * DIGEST_LEN,
        }
    }

    /// Header flags this type may carry.
    pub const fn allowed_flags(self) -> u16 {
        match self {
            MsgType::Dents => FLAG_MORE,
            _ => 0,
        }
    }

    /// The port role this type belongs to; `None` for the connection-level types (handshake,
    /// keepalive, errors) that are valid on every port.
    pub const fn port_role(self) -> Option<PortRole> {
        match self {
            MsgType::Hello
            | MsgType::Welcome
            | MsgType::Refuse
            | MsgType::Ping
            | MsgType::Pong
            | MsgType::Error
            | MsgType::Challenge
            | MsgType::Auth => None,
            MsgType::GetEnts
            | MsgType::Dents
            | MsgType::Notify
            | MsgType::PushLink
            | MsgType::PushCheck => Some(PortRole::Meta),
            MsgType::LogRead | MsgType::LogData => Some(PortRole::Log),
            MsgType::SyncRead | MsgType::SyncData | MsgType::SyncSumsRead | MsgType::SyncSums => {
                Some(PortRole::Sync)
            }
        }
    }
}

// Every message type fits into the frame buffer a socket allocates.
// Evaluated by the compiler: an index out of bounds fails the build, it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const _: () = {
    let all = [
        MsgType::Hello,
        MsgType::Welcome,
        MsgType::Refuse,
        MsgType::Ping,
        MsgType::Pong,
        MsgType::Error,
        MsgType::Challenge,
        MsgType::Auth,
        MsgType::GetEnts,
        MsgType::Dents,
        MsgType::Notify,
        MsgType::PushLink,
        MsgType::PushCheck,
        MsgType::LogRead,
        MsgType::LogData,
        MsgType::SyncRead,
        MsgType::SyncData,
        MsgType::SyncSumsRead,
        MsgType::SyncSums,
    ];
    let mut i = 0;
    while i < all.len() {
        assert!(all[i].max_payload() <= MAX_PAYLOAD);
        i += 1;
    }
    assert!(MAX_PAYLOAD <= u32::MAX as usize);
    assert!(MAX_DATA_CHUNK <= u32::MAX as usize);
    // Length and count fields are u8 or u16 wide; their caps must fit.
    let u8_caps = [MAX_HOST_LEN, MAX_UUID_LEN, MAX_RESOURCE_LEN];
    let u16_caps = [
        MAX_PATH_LEN,
        MAX_LINK_VALUE_LEN,
        MAX_TEXT_LEN,
        MAX_GETENTS_DIRS,
        MAX_DENTS_PER_BATCH,
        MAX_SUM_BLOCKS,
    ];
    let mut i = 0;
    while i < u8_caps.len() {
        assert!(u8_caps[i] <= u8::MAX as usize);
        i += 1;
    }
    let mut i = 0;
    while i < u16_caps.len() {
        assert!(u16_caps[i] <= u16::MAX as usize);
        i += 1;
    }
};

/// Why a server refuses a connection ([`Refuse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefuseCode {
    /// The client belongs to another cluster (its uuid differs and neither is
    /// [`ANY_CLUSTER`]). Retrying is pointless until an administrator intervenes.
    ForeignCluster = 1,
    /// No protocol version is supported by both sides.
    VersionMismatch = 2,
    /// The hello's port role does not match the port it arrived on.
    WrongPort = 3,
    /// Too many connections or requests right now; retry after `retry_after_ms`.
    Busy = 4,
    /// The client host is not a member of this cluster (`/mars/ips/ip-<host>` is missing).
    UnknownPeer = 5,
    /// The server is shutting down (module unload, `marsadm` leave).
    ShuttingDown = 6,
    /// The client's proof did not verify (it does not hold the cluster secret), or the server
    /// has no valid secret itself. Retrying is pointless until an administrator intervenes.
    AuthFailed = 7,
    /// The client's host name is a member whose address link names another address than
    /// the one the connection comes from.
    NotMember = 8,
}

impl RefuseCode {
    /// The code with wire value `value`.
    pub fn from_u16(value: u16) -> Option<RefuseCode> {
        Some(match value {
            1 => RefuseCode::ForeignCluster,
            2 => RefuseCode::VersionMismatch,
            3 => RefuseCode::WrongPort,
            4 => RefuseCode::Busy,
            5 => RefuseCode::UnknownPeer,
            6 => RefuseCode::ShuttingDown,
            7 => RefuseCode::AuthFailed,
            8 => RefuseCode::NotMember,
            _ => return None,
        })
    }
}

/// Why a request failed ([`ErrorReply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The path, logfile or resource does not exist here.
    NotFound = 1,
    /// A local IO error while serving the request.
    Io = 2,
    /// Temporarily unable to serve (limits reached, device not yet attached); retry later.
    Busy = 3,
    /// The request is well-formed but makes no sense here (range beyond the device end, ...).
    Invalid = 4,
    /// Policy refuses the request (push outside the allowed trees, the primary is in
    /// emergency mode and serves no sync, ...).
    Denied = 5,
    /// The message type is not served on this port.
    Unsupported = 6,
}

impl ErrorCode {
    /// The code with wire value `value`.
    pub fn from_u16(value: u16) -> Option<ErrorCode> {
        Some(match value {
            1 => ErrorCode::NotFound,
            2 => ErrorCode::Io,
            3 => ErrorCode::Busy,
            4 => ErrorCode::Invalid,
            5 => ErrorCode::Denied,
            6 => ErrorCode::Unsupported,
            _ => return None,
        })
    }
}

/// What kind of object a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DentKind {
    /// A symlink: a key → value record whose mtime is the value's Lamport stamp.
    Symlink = 1,
    /// A regular file (a logfile, a status file).
    File = 2,
    /// A directory.
    Dir = 3,
}

impl DentKind {
    /// The kind with wire value `value`.
    pub fn from_u8(value: u8) -> Option<DentKind> {
        match value {
            1 => Some(DentKind::Symlink),
            2 => Some(DentKind::File),
            3 => Some(DentKind::Dir),
            _ => None,
        }
    }
}

/// A block digest algorithm for fast full sync.
///
/// Every block digest on the wire is the 32-byte MARS digest of the block (`digest32` in
/// `super::digest`: CRC32C and CRC32 over 8 chunks, MD5 over 2 chunks, SHA-1 and plain MD5
/// zero-padded), so all algorithms have the same digest length [`DIGEST_LEN`]. The wire value
/// of each algorithm is its bit in the log format's `l_crc_flags`
/// ([`super::digest::CrcFlags`]) and in the feature mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// Plain MD5 ("MD5_OLD"), the fallback every host has.
    Md5Old = 0x01,
    /// MD5 over 2 chunks.
    Md5 = 0x02,
    /// CRC32C over 8 chunks.
    Crc32c = 0x04,
    /// CRC32 over 8 chunks.
    Crc32 = 0x08,
    /// SHA-1.
    Sha1 = 0x10,
}

impl DigestAlg {
    /// The original's order of preference, fastest first; MD5_OLD is the last resort.
    pub const PREFERENCE: [DigestAlg; 5] = [
        DigestAlg::Crc32c,
        DigestAlg::Crc32,
        DigestAlg::Md5,
        DigestAlg::Sha1,
        DigestAlg::Md5Old,
    ];

    /// The algorithm with wire value `value`.
    pub fn from_u8(value: u8) -> Option<DigestAlg> {
        DigestAlg::PREFERENCE
            .into_iter()
            .find(|alg| *alg as u8 == value)
    }

    /// The feature bit announcing support for this algorithm (its wire value).
    pub const fn feature_bit(self) -> u64 {
        self as u64
    }

    /// The log format's algorithm whose 32-byte digest ([`super::digest::digest32`]) this
    /// wire algorithm names.
    pub const fn algo(self) -> DigestAlgo {
        match self {
            DigestAlg::Md5Old => DigestAlgo::Md5Old,
            DigestAlg::Md5 => DigestAlgo::Md5,
            DigestAlg::Crc32c => DigestAlgo::Crc32c,
            DigestAlg::Crc32 => DigestAlgo::Crc32,
            DigestAlg::Sha1 => DigestAlgo::Sha1,
        }
    }

    /// The wire algorithm for a log format algorithm.
    pub const fn from_algo(algo: DigestAlgo) -> DigestAlg {
        match algo {
            DigestAlgo::Md5Old => DigestAlg::Md5Old,
            DigestAlgo::Md5 => DigestAlg::Md5,
            DigestAlgo::Crc32c => DigestAlg::Crc32c,
            DigestAlgo::Crc32 => DigestAlg::Crc32,
            DigestAlgo::Sha1 => DigestAlg::Sha1,
        }
    }

    /// The preferred algorithm allowed by a feature mask (see [`DigestAlg::PREFERENCE`]).
    pub fn preferred(features: u64) -> Option<DigestAlg> {
        DigestAlg::PREFERENCE
            .into_iter()
            .find(|alg| features & alg.feature_bit() != 0)
    }
}

/// Where a [`LogData`] chunk ends relative to the durable end of the logfile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogTail {
    /// More durable data follows this chunk; ask again at `offset + data.len()`.
    More,
    /// The chunk reaches the durable end, but the writer is still appending: ask again later
    /// (after a [`MsgType::Notify`] or the next poll).
    NotYet,
    /// The chunk reaches the end of a finished logfile: nothing will ever follow.
    Eof,
}

/// How the data bytes of a [`LogData`] or [`SyncData`] travel (network compression,
/// negotiated per connection by the `FEATURE_COMPRESS_*` bits; `super::net_pack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Packing {
    /// The data bytes are the data.
    Plain,
    /// The data bytes are compressed with `alg`; they decompress to exactly `len` bytes.
    ///
    /// # Invariants
    /// `len` is at most [`MAX_DATA_CHUNK`], and the compressed bytes plus
    /// [`PACK_OVERHEAD`] are fewer than `len` (compression is kept only when it pays off).
    Compressed {
        /// The algorithm.
        alg: Compression,
        /// The decompressed length.
        len: u32,
    },
}

impl Packing {
    /// The wire value of a compression algorithm: its feature bit shifted down by 8
    /// (1 LZO, 2 LZ4, 4 zlib).
    pub const fn alg_code(alg: Compression) -> u8 {
        match alg {
            Compression::Lzo => 1,
            Compression::Lz4 => 2,
            Compression::Zlib => 4,
        }
    }

    /// The algorithm of wire value `code`.
    pub fn alg_from_code(code: u8) -> Option<Compression> {
        Compression::PREFERENCE
            .into_iter()
            .find(|alg| Packing::alg_code(*alg) == code)
    }

    /// The feature bit of a compression algorithm.
    pub const fn feature_bit(alg: Compression) -> u64 {
        (Packing::alg_code(alg) as u64) << 8
    }

    /// Length of the data once unpacked, given `wire_len` bytes on the wire.
    pub fn plain_len(self, wire_len: usize) -> usize {
        match self {
            Packing::Plain => wire_len,
            Packing::Compressed { len, .. } => len as usize,
        }
    }

    /// Checks the invariant of [`Packing::Compressed`] for `wire_len` compressed bytes.
    fn check(self, wire_len: usize) -> Result<(), WireError> {
        match self {
            Packing::Plain => Ok(()),
            Packing::Compressed { len, .. } => {
                if len as usize > MAX_DATA_CHUNK {
                    return Err(WireError::LengthOverCap);
                }
                let cost = wire_len
                    .checked_add(PACK_OVERHEAD)
                    .ok_or(WireError::LengthOverCap)?;
                if wire_len == 0 || cost >= len as usize {
                    return Err(WireError::Inconsistent);
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation of strings and stamps (shared by encode and decode)

fn check_stamp(stamp: Stamp) -> Result<(), WireError> {
    if stamp.nsec < NSEC_PER_SEC {
        Ok(())
    } else {
        Err(WireError::BadStamp)
    }
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// Checks that `path` is a canonical absolute path under `/mars`: `/mars` itself or
/// `/mars/` followed by non-empty components separated by single slashes, none of them `.`
/// or `..`, no trailing slash, no control characters, at most [`MAX_PATH_LEN`] bytes.
pub fn check_path(path: &str) -> Result<(), WireError> {
    if path.len() > MAX_PATH_LEN {
        return Err(WireError::LengthOverCap);
    }
    if path.bytes().any(is_control) {
        return Err(WireError::BadPath);
    }
    if path == "/mars" {
        return Ok(());
    }
    let rest = path.strip_prefix("/mars/").ok_or(WireError::BadPath)?;
    for component in rest.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(WireError::BadPath);
        }
    }
    Ok(())
}

/// Checks a host or resource name: the identifier syntax of `marsadm`
/// ([`super::names::check_id`]: `[A-Za-z0-9_][-A-Za-z0-9_]*`), 1 to `cap` bytes. Reserved
/// words (`all`, `none`, ...) are a policy question for the receiver, not a wire error.
fn check_name(name: &str, cap: usize) -> Result<(), WireError> {
    if name.len() > cap {
        return Err(WireError::LengthOverCap);
    }
    check_id(name).map_err(|e| match e {
        NameError::TooLong => WireError::LengthOverCap,
        _ => WireError::BadName,
    })
}

/// Checks a host name: 1 to [`MAX_HOST_LEN`] bytes of `[A-Za-z0-9_-]`, not starting with
/// `-`.
pub fn check_host(host: &str) -> Result<(), WireError> {
    check_name(host, MAX_HOST_LEN)
}

/// Checks a resource name: 1 to [`MAX_RESOURCE_LEN`] bytes of `[A-Za-z0-9_-]`, not
/// starting with `-`.
pub fn check_resource(resource: &str) -> Result<(), WireError> {
    check_name(resource, MAX_RESOURCE_LEN)
}

/// Checks a cluster uuid: 1 to [`MAX_UUID_LEN`] printable ASCII bytes without spaces.
pub fn check_uuid(uuid: &str) -> Result<(), WireError> {
    if uuid.len() > MAX_UUID_LEN {
        return Err(WireError::LengthOverCap);
    }
    if uuid.is_empty() || !uuid.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(WireError::BadName);
    }
    Ok(())
}

/// Checks a symlink value: 1 to [`MAX_LINK_VALUE_LEN`] bytes, no NUL.
pub fn check_link_value(value: &str) -> Result<(), WireError> {
    if value.len() > MAX_LINK_VALUE_LEN {
        return Err(WireError::LengthOverCap);
    }
    if value.is_empty() || value.bytes().any(|b| b == 0) {
        return Err(WireError::BadLinkValue);
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), WireError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(WireError::LengthOverCap);
    }
    if text.bytes().any(is_control) {
        return Err(WireError::BadText);
    }
    Ok(())
}

fn check_version(version: u8) -> Result<(), WireError> {
    if version == 0 {
        Err(WireError::OutOfRange)
    } else {
        Ok(())
    }
}

fn check_data_len(len: u32) -> Result<(), WireError> {
    if len == 0 {
        Err(WireError::OutOfRange)
    } else if len as usize > MAX_DATA_CHUNK {
        Err(WireError::LengthOverCap)
    } else {
        Ok(())
    }
}

/// `offset + len` must not overflow: every byte range on the wire is addressable.
fn range_end(offset: u64, len: u64) -> Result<u64, WireError> {
    offset.checked_add(len).ok_or(WireError::OutOfRange)
}

// ---------------------------------------------------------------------------------------------
// Byte reader and writer

/// A cursor over received bytes; every read is bounds-checked. Opaque outside this module
/// (public only because list items name it in their sealed codec).
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| WireError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Reads `len` bytes as UTF-8; `len` was already checked against its cap.
    fn str(&mut self, len: usize) -> Result<&'a str, WireError> {
        core::str::from_utf8(self.take(len)?).map_err(|_| WireError::BadUtf8)
    }

    /// Reads a length prefix of one byte, checks it against `cap`, then the string.
    fn str_u8(&mut self, cap: usize) -> Result<&'a str, WireError> {
        let len = usize::from(self.u8()?);
        if len > cap {
            return Err(WireError::LengthOverCap);
        }
        self.str(len)
    }

    /// Reads a length prefix of two bytes, checks it against `cap`, then the string.
    fn str_u16(&mut self, cap: usize) -> Result<&'a str, WireError> {
        let len = usize::from(self.u16()?);
        if len > cap {
            return Err(WireError::LengthOverCap);
        }
        self.str(len)
    }

    /// Sub-slice of the bytes read since `start`.
    fn since(&self, start: usize) -> Result<&'a [u8], WireError> {
        self.buf.get(start..self.pos).ok_or(WireError::Truncated)
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        rest
    }

    fn finish(&self) -> Result<(), WireError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

/// A cursor over an output buffer; every write is bounds-checked. Opaque outside this
/// module, as [`Reader`].
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(WireError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    fn i64(&mut self, v: i64) -> Result<(), WireError> {
        self.put(&v.to_le_bytes())
    }

    fn len_u8(&mut self, len: usize) -> Result<(), WireError> {
        self.u8(u8::try_from(len).map_err(|_| WireError::LengthOverCap)?)
    }

    fn len_u16(&mut self, len: usize) -> Result<(), WireError> {
        self.u16(u16::try_from(len).map_err(|_| WireError::LengthOverCap)?)
    }

    fn len_u32(&mut self, len: usize) -> Result<(), WireError> {
        self.u32(u32::try_from(len).map_err(|_| WireError::LengthOverCap)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Header and streaming reader

/// The fixed 32-byte frame header.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `MARS` |
/// | 4 | 1 | protocol version |
/// | 5 | 1 | message type |
/// | 6 | 2 | flags |
/// | 8 | 4 | payload length |
/// | 12 | 4 | sender Lamport stamp, nanoseconds |
/// | 16 | 8 | sender Lamport stamp, seconds (signed) |
/// | 24 | 8 | tag: chosen by the requester, echoed by every reply |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version the payload is encoded in.
    pub version: u8,
    /// Message type.
    pub msg_type: MsgType,
    /// Flags (only [`FLAG_MORE`], only on [`MsgType::Dents`]).
    pub flags: u16,
    /// Payload length in bytes, at most `msg_type.max_payload()`.
    pub payload_len: u32,
    /// The sender's Lamport clock when it sent the frame.
    pub stamp: Stamp,
    /// Request tag: replies carry the tag of the request they answer.
    pub tag: u64,
}

impl Header {
    /// Decodes and validates the first [`HEADER_LEN`] bytes of `bytes` (later bytes are not
    /// looked at). Checks magic, version, type, flags, the payload cap of the type and the
    /// stamp.
    pub fn decode(bytes: &[u8]) -> Result<Header, WireError> {
        let mut r = Reader::new(bytes);
        if r.array::<4>()? != MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = r.u8()?;
        if !(MIN_PROTOCOL_VERSION..=MAX_PROTOCOL_VERSION).contains(&version) {
            return Err(WireError::UnsupportedVersion(version));
        }
        let raw_type = r.u8()?;
        let msg_type = MsgType::from_u8(raw_type).ok_or(WireError::UnknownType(raw_type))?;
        let flags = r.u16()?;
        if flags & !msg_type.allowed_flags() != 0 {
            return Err(WireError::BadFlags);
        }
        let payload_len = r.u32()?;
        if payload_len as usize > msg_type.max_payload() {
            return Err(WireError::LengthOverCap);
        }
        let nsec = r.u32()?;
        let sec = r.i64()?;
        let stamp = Stamp { sec, nsec };
        check_stamp(stamp)?;
        let tag = r.u64()?;
        Ok(Header {
            version,
            msg_type,
            flags,
            payload_len,
            stamp,
            tag,
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`; returns
    /// [`HEADER_LEN`]. Refuses headers that [`Header::decode`] would refuse.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        if !(MIN_PROTOCOL_VERSION..=MAX_PROTOCOL_VERSION).contains(&self.version) {
            return Err(WireError::UnsupportedVersion(self.version));
        }
        if self.flags & !self.msg_type.allowed_flags() != 0 {
            return Err(WireError::BadFlags);
        }
        if self.payload_len as usize > self.msg_type.max_payload() {
            return Err(WireError::LengthOverCap);
        }
        check_stamp(self.stamp)?;
        let mut w = Writer::new(out);
        w.put(&MAGIC)?;
        w.u8(self.version)?;
        w.u8(self.msg_type as u8)?;
        w.u16(self.flags)?;
        w.u32(self.payload_len)?;
        w.u32(self.stamp.nsec)?;
        w.i64(self.stamp.sec)?;
        w.u64(self.tag)?;
        Ok(HEADER_LEN)
    }

    /// Length of the whole frame, header included (at most [`MAX_FRAME_LEN`]).
    pub fn frame_len(&self) -> usize {
        // payload_len <= MAX_PAYLOAD was checked on decode; saturate rather than panic on a
        // header built by hand.
        HEADER_LEN.saturating_add(self.payload_len as usize)
    }
}

/// What the streaming reader knows after looking at the bytes buffered so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameStatus {
    /// Read at least this many more bytes before asking again (never zero).
    NeedMore(usize),
    /// The buffer starts with a complete frame of `frame_len` bytes whose header is valid;
    /// pass `&buffered[..frame_len]` to [`decode_frame`]. Bytes after it belong to the next
    /// frame.
    Complete {
        /// The decoded header.
        header: Header,
        /// Length of the frame, header included.
        frame_len: usize,
    },
}

/// The streaming frame reader: given the bytes received so far on a connection (starting at
/// a frame boundary), says how many more bytes are needed, or that a frame is complete.
///
/// A wrong magic is reported as soon as the first bytes arrive; everything else the header
/// can tell (version, type, flags, payload cap) as soon as the header is complete, before any
/// payload is waited for. Any error means the stream is out of step: close the connection.
pub fn frame_status(buffered: &[u8]) -> Result<FrameStatus, WireError> {
    let seen = buffered.len().min(MAGIC.len());
    if buffered.get(..seen) != MAGIC.get(..seen) {
        return Err(WireError::BadMagic);
    }
    if buffered.len() < HEADER_LEN {
        return Ok(FrameStatus::NeedMore(
            HEADER_LEN.saturating_sub(buffered.len()),
        ));
    }
    let header = Header::decode(buffered)?;
    let frame_len = header.frame_len();
    if buffered.len() < frame_len {
        return Ok(FrameStatus::NeedMore(
            frame_len.saturating_sub(buffered.len()),
        ));
    }
    Ok(FrameStatus::Complete { header, frame_len })
}

// ---------------------------------------------------------------------------------------------
// Handshake messages

/// First frame on every connection, sent by the connecting side (version 2: it carries the
/// client's nonce for the authentication, see [`super::auth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello<'a> {
    /// Oldest protocol version the client speaks (at least 1).
    pub min_version: u8,
    /// Newest protocol version the client speaks (at least `min_version`).
    pub max_version: u8,
    /// What this connection is for; must match the port.
    pub role: PortRole,
    /// Feature bits the client supports (`FEATURE_*`; unknown bits are ignored).
    pub features: u64,
    /// The client's cluster uuid (value of `/mars/uuid`), or [`ANY_CLUSTER`] while joining.
    pub cluster_uuid: &'a str,
    /// The client's host name.
    pub host: &'a str,
    /// Fresh random bytes of the client, part of the transcript both proofs cover.
    pub client_nonce: [u8; NONCE_LEN],
}

impl Hello<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_version(self.min_version)?;
        if self.max_version < self.min_version {
            return Err(WireError::OutOfRange);
        }
        check_uuid(self.cluster_uuid)?;
        check_host(self.host)
    }
}

/// The server's acceptance of a [`Hello`]: the agreed version and features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Welcome<'a> {
    /// The protocol version both sides use from now on.
    pub version: u8,
    /// Feature bits both sides support.
    pub features: u64,
    /// The server's cluster uuid.
    pub cluster_uuid: &'a str,
    /// The server's host name.
    pub host: &'a str,
    /// The server's proof: HMAC-SHA256 under the cluster secret of the server label and the
    /// transcript ([`super::auth::Transcript::server_proof`]).
    pub proof: [u8; PROOF_LEN],
}

impl Welcome<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_version(self.version)?;
        check_uuid(self.cluster_uuid)?;
        check_host(self.host)
    }
}

/// The server's challenge answering a [`Hello`]: nothing about the server but a nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Fresh random bytes of the server, part of the transcript.
    pub server_nonce: [u8; NONCE_LEN],
}

/// The client's answer to a [`Challenge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth {
    /// HMAC-SHA256 under the cluster secret of the client label and the transcript
    /// ([`super::auth::Transcript::client_proof`]).
    pub proof: [u8; PROOF_LEN],
}

/// The server's refusal of a [`Hello`] or of an [`Auth`]; the server closes the connection
/// after sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refuse<'a> {
    /// Why.
    pub code: RefuseCode,
    /// Oldest protocol version the server speaks.
    pub min_version: u8,
    /// Newest protocol version the server speaks.
    pub max_version: u8,
    /// Suggested wait before reconnecting, in milliseconds (0: use the normal backoff).
    pub retry_after_ms: u32,
    /// Human-readable detail for the log (may be empty).
    pub message: &'a str,
}

impl Refuse<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_version(self.min_version)?;
        if self.max_version < self.min_version {
            return Err(WireError::OutOfRange);
        }
        check_text(self.message)
    }
}

/// A failed request; the tag is that of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorReply<'a> {
    /// Why.
    pub code: ErrorCode,
    /// Human-readable detail for the log (may be empty).
    pub message: &'a str,
}

/// Outcome of a successful handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Protocol version for every later frame on the connection.
    pub version: u8,
    /// Feature bits both sides support.
    pub features: u64,
}

/// Whether two cluster uuids belong to the same cluster: equal, or either is
/// [`ANY_CLUSTER`] (a host that is still joining).
pub fn same_cluster(a: &str, b: &str) -> bool {
    a == b || a == ANY_CLUSTER || b == ANY_CLUSTER
}

/// Server side, before the challenge: the checks that reveal nothing about this host (the
/// port role and the version range). `Ok` is answered with a [`Challenge`], `Err` with a
/// [`Refuse`].
pub fn precheck_hello(hello: &Hello<'_>, role: PortRole) -> Result<u8, RefuseCode> {
    if hello.role != role {
        return Err(RefuseCode::WrongPort);
    }
    let version = hello.max_version.min(MAX_PROTOCOL_VERSION);
    if version < hello.min_version.max(MIN_PROTOCOL_VERSION) {
        return Err(RefuseCode::VersionMismatch);
    }
    Ok(version)
}

/// The refusal a server answers a first frame with that does not decode: a frame of an
/// older or newer protocol version gets [`RefuseCode::VersionMismatch`]; anything else is
/// not worth an answer (`None`: close).
pub fn refusal_for(error: WireError) -> Option<RefuseCode> {
    match error {
        WireError::UnsupportedVersion(_) => Some(RefuseCode::VersionMismatch),
        _ => None,
    }
}

/// Server side of the handshake, after the client's proof verified: decides whether to
/// accept `hello`, which arrived on a port of `role`, given the local cluster uuid and
/// features. `Ok` is answered with a [`Welcome`] carrying the agreement, `Err` with a
/// [`Refuse`] carrying the code.
pub fn negotiate(
    hello: &Hello<'_>,
    role: PortRole,
    local_uuid: &str,
    local_features: u64,
) -> Result<Agreement, RefuseCode> {
    let version = precheck_hello(hello, role)?;
    if !same_cluster(hello.cluster_uuid, local_uuid) {
        return Err(RefuseCode::ForeignCluster);
    }
    Ok(Agreement {
        version,
        features: hello.features & local_features & KNOWN_FEATURES,
    })
}

/// Client side of the handshake: checks the server's `welcome` against the `hello` it
/// answers (version within the offered range and known here, features a subset of those
/// offered, same cluster).
pub fn accept_welcome(welcome: &Welcome<'_>, hello: &Hello<'_>) -> Result<Agreement, RefuseCode> {
    let own_range = MIN_PROTOCOL_VERSION..=MAX_PROTOCOL_VERSION;
    let offered = hello.min_version..=hello.max_version;
    if !own_range.contains(&welcome.version) || !offered.contains(&welcome.version) {
        return Err(RefuseCode::VersionMismatch);
    }
    if !same_cluster(welcome.cluster_uuid, hello.cluster_uuid) {
        return Err(RefuseCode::ForeignCluster);
    }
    let features = welcome.features & hello.features & KNOWN_FEATURES;
    Ok(Agreement {
        version: welcome.version,
        features,
    })
}

// ---------------------------------------------------------------------------------------------
// Metadata messages

mod sealed {
    use super::{Reader, WireError, Writer};

    /// How an item of a [`super::WireList`] is read from a frame and written to one, each
    /// with its validation (private: only this module's item types are lists).
    pub trait Codec<'a>: Sized {
        /// Reads and validates one item.
        fn read(r: &mut Reader<'a>) -> Result<Self, WireError>;
        /// Validates and writes one item.
        fn put(&self, w: &mut Writer<'_>) -> Result<(), WireError>;
    }
}
use sealed::Codec;

/// An item of a [`WireList`]: a path or a directory entry.
pub trait WireItem<'a>: Codec<'a> + Copy + 'a {}

impl<'a> WireItem<'a> for &'a str {}
impl<'a> WireItem<'a> for Dent<'a> {}

impl<'a> Codec<'a> for &'a str {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        read_path(r)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        put_path(w, self)
    }
}

/// A list of items: either decoded from a frame (validated, borrowed; the items are read
/// again lazily when iterated) or given by the sender as a slice (validated when encoded).
#[derive(Clone, Copy)]
pub struct WireList<'a, T> {
    repr: ListRepr<'a, T>,
}

#[derive(Clone, Copy)]
enum ListRepr<'a, T> {
    Wire { raw: &'a [u8], count: u16 },
    Slice(&'a [T]),
}

impl<'a, T: WireItem<'a>> WireList<'a, T> {
    /// A list to send. Validation happens in [`encode_frame`].
    pub fn from_slice(items: &'a [T]) -> WireList<'a, T> {
        WireList {
            repr: ListRepr::Slice(items),
        }
    }

    /// A list decoded from a frame: `count` items in `raw`, each validated by the decoder.
    fn from_wire(raw: &'a [u8], count: u16) -> WireList<'a, T> {
        WireList {
            repr: ListRepr::Wire { raw, count },
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self.repr {
            ListRepr::Wire { count, .. } => usize::from(count),
            ListRepr::Slice(items) => items.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order.
    pub fn iter(&self) -> WireIter<'a, T> {
        WireIter {
            repr: match self.repr {
                ListRepr::Wire { raw, count } => IterRepr::Wire {
                    reader: Reader::new(raw),
                    left: count,
                },
                ListRepr::Slice(items) => IterRepr::Slice(items.iter()),
            },
        }
    }

    /// Writes the items (a decoded list as it came, a slice item by item, validated).
    fn put_items(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        match self.repr {
            ListRepr::Wire { raw, .. } => w.put(raw),
            ListRepr::Slice(items) => items.iter().try_for_each(|item| item.put(w)),
        }
    }
}

impl<'a, T: WireItem<'a> + PartialEq> PartialEq for WireList<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: WireItem<'a> + Eq> Eq for WireList<'a, T> {}

impl<'a, T: WireItem<'a> + fmt::Debug> fmt::Debug for WireList<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over a [`WireList`]; yields items lazily from the frame buffer.
#[derive(Clone, Debug)]
pub struct WireIter<'a, T> {
    repr: IterRepr<'a, T>,
}

#[derive(Clone, Debug)]
enum IterRepr<'a, T> {
    Wire { reader: Reader<'a>, left: u16 },
    Slice(core::slice::Iter<'a, T>),
}

impl<'a, T: WireItem<'a>> Iterator for WireIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            IterRepr::Wire { reader, left } => {
                *left = left.checked_sub(1)?;
                // Validated when the frame was decoded; a failure here cannot happen, and
                // would end the iteration rather than panic.
                T::read(reader).ok()
            }
            IterRepr::Slice(items) => items.next().copied(),
        }
    }
}

/// A list of `/mars` paths.
pub type PathList<'a> = WireList<'a, &'a str>;
/// Iterator over a [`PathList`].
pub type PathIter<'a> = WireIter<'a, &'a str>;

fn read_path<'a>(r: &mut Reader<'a>) -> Result<&'a str, WireError> {
    let path = r.str_u16(MAX_PATH_LEN)?;
    check_path(path)?;
    Ok(path)
}

fn put_path(w: &mut Writer<'_>, path: &str) -> Result<(), WireError> {
    check_path(path)?;
    w.len_u16(path.len())?;
    w.put(path.as_bytes())
}

/// Request for the entries under some directories (port 7777). Answered by one or more
/// [`Dents`] frames with the same tag, the last one without `more`, or by an
/// [`ErrorReply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetEnts<'a> {
    /// How deep to scan below each directory, 1 to [`MAX_GETENTS_DEPTH`] (1: its direct
    /// entries only).
    pub depth: u8,
    /// The directories, 1 to [`MAX_GETENTS_DIRS`] canonical `/mars` paths.
    pub dirs: PathList<'a>,
}

fn check_depth(depth: u8) -> Result<(), WireError> {
    if depth == 0 || depth > MAX_GETENTS_DEPTH {
        Err(WireError::OutOfRange)
    } else {
        Ok(())
    }
}

/// One entry of the symlink tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dent<'a> {
    /// Symlink, file or directory.
    pub kind: DentKind,
    /// Canonical path under `/mars`.
    pub path: &'a str,
    /// The symlink value (non-empty for symlinks, empty otherwise).
    pub value: &'a str,
    /// Lamport stamp (mtime) of the entry.
    pub stamp: Stamp,
    /// For files: the number of bytes a peer may fetch. For a logfile still being written
    /// that is its durable end, never more. Zero for symlinks and directories.
    pub size: u64,
}

impl Dent<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_path(self.path)?;
        check_stamp(self.stamp)?;
        match self.kind {
            DentKind::Symlink => {
                check_link_value(self.value)?;
                if self.size != 0 {
                    return Err(WireError::Inconsistent);
                }
            }
            DentKind::File => {
                if !self.value.is_empty() {
                    return Err(WireError::Inconsistent);
                }
            }
            DentKind::Dir => {
                if !self.value.is_empty() || self.size != 0 {
                    return Err(WireError::Inconsistent);
                }
            }
        }
        Ok(())
    }

    /// Bytes this entry takes on the wire (fixed part + path + value).
    fn wire_len(&self) -> usize {
        DENT_FIXED
            .saturating_add(self.path.len())
            .saturating_add(self.value.len())
    }
}

fn read_dent<'a>(r: &mut Reader<'a>) -> Result<Dent<'a>, WireError> {
    let kind = DentKind::from_u8(r.u8()?).ok_or(WireError::UnknownCode)?;
    let path_len = usize::from(r.u16()?);
    let value_len = usize::from(r.u16()?);
    if path_len > MAX_PATH_LEN || value_len > MAX_LINK_VALUE_LEN {
        return Err(WireError::LengthOverCap);
    }
    let sec = r.i64()?;
    let nsec = r.u32()?;
    let size = r.u64()?;
    let path = r.str(path_len)?;
    let value = r.str(value_len)?;
    let dent = Dent {
        kind,
        path,
        value,
        stamp: Stamp { sec, nsec },
        size,
    };
    dent.validate()?;
    Ok(dent)
}

fn put_dent(w: &mut Writer<'_>, dent: &Dent<'_>) -> Result<(), WireError> {
    dent.validate()?;
    w.u8(dent.kind as u8)?;
    w.len_u16(dent.path.len())?;
    w.len_u16(dent.value.len())?;
    w.i64(dent.stamp.sec)?;
    w.u32(dent.stamp.nsec)?;
    w.u64(dent.size)?;
    w.put(dent.path.as_bytes())?;
    w.put(dent.value.as_bytes())
}

impl<'a> Codec<'a> for Dent<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        read_dent(r)
    }
    fn put(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        put_dent(w, self)
    }
}

/// A list of directory entries.
pub type DentList<'a> = WireList<'a, Dent<'a>>;
/// Iterator over a [`DentList`].
pub type DentIter<'a> = WireIter<'a, Dent<'a>>;

/// One batch of entries answering a [`GetEnts`] (port 7777).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dents<'a> {
    /// More batches for the same request follow (header flag [`FLAG_MORE`]).
    pub more: bool,
    /// 0 to [`MAX_DENTS_PER_BATCH`] entries.
    pub entries: DentList<'a>,
}

/// Set a symlink on the receiver (port 7777, no reply). The receiver applies it under the
/// Lamport rule: only if the path is missing or its stamp is older.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushLink<'a> {
    /// Canonical path of the link under `/mars`.
    pub path: &'a str,
    /// The link value. Policy on absolute values (only under `/mars/` or `/dev/`) is the
    /// receiver's.
    pub value: &'a str,
    /// Lamport stamp (mtime) of the link; may be older than the frame's stamp.
    pub stamp: Stamp,
}

impl PushLink<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_path(self.path)?;
        check_link_value(self.value)?;
        check_stamp(self.stamp)
    }
}

/// Ask the receiver to fetch `path` from `host` if it does not have it (port 7777, no
/// reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushCheck<'a> {
    /// The host to fetch from.
    pub host: &'a str,
    /// Canonical path under `/mars`.
    pub path: &'a str,
}

// ---------------------------------------------------------------------------------------------
// Log fetch messages (port 7778)

/// Read a chunk of a logfile (port 7778). Answered by a [`LogData`] or an [`ErrorReply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRead<'a> {
    /// Canonical path of the logfile under `/mars`.
    pub path: &'a str,
    /// Byte offset to read from.
    pub offset: u64,
    /// Most bytes wanted, 1 to [`MAX_DATA_CHUNK`].
    pub max_len: u32,
}

impl LogRead<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_path(self.path)?;
        check_data_len(self.max_len)?;
        range_end(self.offset, u64::from(self.max_len)).map(|_| ())
    }
}

/// A chunk of a logfile (port 7778).
///
/// # Invariants
/// `offset + data.len()` does not exceed `durable_end` (unless `data` is empty), and
/// `tail == LogTail::More` exactly when the chunk ends before `durable_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogData<'a> {
    /// Offset of the first data byte (the request's offset).
    pub offset: u64,
    /// The serving host's durable end of the logfile: bytes below it are completely and
    /// durably written; a fetcher never receives bytes beyond it.
    pub durable_end: u64,
    /// What follows this chunk.
    pub tail: LogTail,
    /// How `data` travels: plain or compressed.
    pub packing: Packing,
    /// The data as it travels (compressed if `packing` says so), at most [`MAX_DATA_CHUNK`]
    /// bytes, borrowing the frame.
    pub data: &'a [u8],
}

impl LogData<'_> {
    /// Length of the data once unpacked.
    pub fn plain_len(&self) -> usize {
        self.packing.plain_len(self.data.len())
    }

    fn validate(&self) -> Result<(), WireError> {
        if self.data.len() > MAX_DATA_CHUNK {
            return Err(WireError::LengthOverCap);
        }
        self.packing.check(self.data.len())?;
        let end = range_end(self.offset, self.plain_len() as u64)?;
        if !self.data.is_empty() && end > self.durable_end {
            return Err(WireError::Inconsistent);
        }
        let reaches_end = end >= self.durable_end;
        match self.tail {
            LogTail::More if reaches_end || self.data.is_empty() => Err(WireError::Inconsistent),
            LogTail::NotYet | LogTail::Eof if !reaches_end => Err(WireError::Inconsistent),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sync messages (port 7779)

/// Read a block range of a resource's backing device (port 7779). Answered by a
/// [`SyncData`] or an [`ErrorReply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncRead<'a> {
    /// Resource name.
    pub resource: &'a str,
    /// Byte offset on the device.
    pub offset: u64,
    /// Bytes wanted, 1 to [`MAX_DATA_CHUNK`].
    pub len: u32,
}

impl SyncRead<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_resource(self.resource)?;
        check_data_len(self.len)?;
        range_end(self.offset, u64::from(self.len)).map(|_| ())
    }
}

/// A block range of a backing device (port 7779).
///
/// # Invariants
/// If `zero`, `data` is empty and the whole range of `len` bytes is zero; otherwise
/// `data.len() == len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncData<'a> {
    /// Byte offset on the device.
    pub offset: u64,
    /// Length of the range, 1 to [`MAX_DATA_CHUNK`].
    pub len: u32,
    /// The range reads as zeros; no data bytes are sent.
    pub zero: bool,
    /// How `data` travels: plain or compressed (never with `zero`; a compressed range
    /// decompresses to `len` bytes).
    pub packing: Packing,
    /// The data as it travels (empty if `zero`), borrowing the frame.
    pub data: &'a [u8],
}

impl SyncData<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_data_len(self.len)?;
        range_end(self.offset, u64::from(self.len))?;
        match self.packing {
            Packing::Plain => {
                let expected = if self.zero { 0 } else { self.len as usize };
                if self.data.len() != expected {
                    return Err(WireError::Inconsistent);
                }
            }
            Packing::Compressed { len, .. } => {
                if self.zero || len != self.len {
                    return Err(WireError::Inconsistent);
                }
                self.packing.check(self.data.len())?;
            }
        }
        Ok(())
    }
}

fn check_sum_range(offset: u64, block_size: u32, count: usize) -> Result<(), WireError> {
    if !(MIN_SUM_BLOCK_SIZE..=MAX_SUM_BLOCK_SIZE).contains(&block_size)
        || !block_size.is_power_of_two()
    {
        return Err(WireError::OutOfRange);
    }
    if count == 0 {
        return Err(WireError::OutOfRange);
    }
    if count > MAX_SUM_BLOCKS {
        return Err(WireError::CountOverCap);
    }
    let bytes = u64::from(block_size)
        .checked_mul(count as u64)
        .ok_or(WireError::OutOfRange)?;
    range_end(offset, bytes).map(|_| ())
}

/// Ask for one digest per block of a range (port 7779, fast full sync). Answered by a
/// [`SyncSums`] or an [`ErrorReply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSumsRead<'a> {
    /// Resource name.
    pub resource: &'a str,
    /// Byte offset of the first block.
    pub offset: u64,
    /// Block size: a power of two from [`MIN_SUM_BLOCK_SIZE`] to [`MAX_SUM_BLOCK_SIZE`].
    pub block_size: u32,
    /// Number of blocks, 1 to [`MAX_SUM_BLOCKS`].
    pub count: u16,
    /// Digest algorithm (one both sides announced in their features).
    pub alg: DigestAlg,
}

impl SyncSumsRead<'_> {
    fn validate(&self) -> Result<(), WireError> {
        check_resource(self.resource)?;
        check_sum_range(self.offset, self.block_size, usize::from(self.count))
    }
}

/// Concatenated per-block digests of one algorithm.
///
/// # Invariants
/// `raw.len()` is a multiple of [`DIGEST_LEN`], with 1 to [`MAX_SUM_BLOCKS`] digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestList<'a> {
    alg: DigestAlg,
    raw: &'a [u8],
}

impl<'a> DigestList<'a> {
    /// Wraps `digests`, the concatenation of 1 to [`MAX_SUM_BLOCKS`] digests of `alg`.
    pub fn new(alg: DigestAlg, digests: &'a [u8]) -> Result<DigestList<'a>, WireError> {
        let count = digests.len() / DIGEST_LEN;
        if count.checked_mul(DIGEST_LEN) != Some(digests.len()) {
            return Err(WireError::Inconsistent);
        }
        if count == 0 {
            return Err(WireError::OutOfRange);
        }
        if count > MAX_SUM_BLOCKS {
            return Err(WireError::CountOverCap);
        }
        // INVARIANT: checked just above.
        Ok(DigestList { alg, raw: digests })
    }

    /// The algorithm.
    pub fn alg(&self) -> DigestAlg {
        self.alg
    }

    /// Number of digests.
    pub fn len(&self) -> usize {
        self.raw.len() / DIGEST_LEN
    }

    /// Whether there are no digests (never true for a valid list).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The digest of block `index`.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        let start = index.checked_mul(DIGEST_LEN)?;
        self.raw.get(start..start.checked_add(DIGEST_LEN)?)
    }

    /// The digests in block order.
    pub fn iter(&self) -> core::slice::ChunksExact<'a, u8> {
        self.raw.chunks_exact(DIGEST_LEN)
    }

    /// All digests concatenated.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// Per-block digests of a range (port 7779). A digest of all zero bytes is never trusted
/// as a match: the receiver treats it as a mismatch and reads the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncSums<'a> {
    /// Byte offset of the first block.
    pub offset: u64,
    /// Block size (as requested).
    pub block_size: u32,
    /// The digests, one per block.
    pub digests: DigestList<'a>,
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Every message of the protocol, borrowing its strings, lists and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// See [`Hello`].
    Hello(Hello<'a>),
    /// See [`Welcome`].
    Welcome(Welcome<'a>),
    /// See [`Refuse`].
    Refuse(Refuse<'a>),
    /// See [`Challenge`].
    Challenge(Challenge),
    /// See [`Auth`].
    Auth(Auth),
    /// Keepalive probe.
    Ping,
    /// Keepalive answer.
    Pong,
    /// See [`ErrorReply`].
    Error(ErrorReply<'a>),
    /// See [`GetEnts`].
    GetEnts(GetEnts<'a>),
    /// See [`Dents`].
    Dents(Dents<'a>),
    /// Pull from me now.
    Notify,
    /// See [`PushLink`].
    PushLink(PushLink<'a>),
    /// See [`PushCheck`].
    PushCheck(PushCheck<'a>),
    /// See [`LogRead`].
    LogRead(LogRead<'a>),
    /// See [`LogData`].
    LogData(LogData<'a>),
    /// See [`SyncRead`].
    SyncRead(SyncRead<'a>),
    /// See [`SyncData`].
    SyncData(SyncData<'a>),
    /// See [`SyncSumsRead`].
    SyncSumsRead(SyncSumsRead<'a>),
    /// See [`SyncSums`].
    SyncSums(SyncSums<'a>),
}

impl<'a> Message<'a> {
    /// The message's type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Hello(_) => MsgType::Hello,
            Message::Welcome(_) => MsgType::Welcome,
            Message::Refuse(_) => MsgType::Refuse,
            Message::Challenge(_) => MsgType::Challenge,
            Message::Auth(_) => MsgType::Auth,
            Message::Ping => MsgType::Ping,
            Message::Pong => MsgType::Pong,
            Message::Error(_) => MsgType::Error,
            Message::GetEnts(_) => MsgType::GetEnts,
            Message::Dents(_) => MsgType::Dents,
            Message::Notify => MsgType::Notify,
            Message::PushLink(_) => MsgType::PushLink,
            Message::PushCheck(_) => MsgType::PushCheck,
            Message::LogRead(_) => MsgType::LogRead,
            Message::LogData(_) => MsgType::LogData,
            Message::SyncRead(_) => MsgType::SyncRead,
            Message::SyncData(_) => MsgType::SyncData,
            Message::SyncSumsRead(_) => MsgType::SyncSumsRead,
            Message::SyncSums(_) => MsgType::SyncSums,
        }
    }

    /// The header flags this message is sent with.
    pub fn flags(&self) -> u16 {
        match self {
            Message::Dents(Dents { more: true, .. }) => FLAG_MORE,
            _ => 0,
        }
    }

    /// Validates the message and writes its payload.
    fn encode_payload(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        match self {
            Message::Hello(m) => {
                m.validate()?;
                w.u64(m.features)?;
                w.u8(m.min_version)?;
                w.u8(m.max_version)?;
                w.u8(m.role as u8)?;
                w.len_u8(m.cluster_uuid.len())?;
                w.len_u8(m.host.len())?;
                w.put(&m.client_nonce)?;
                w.put(m.cluster_uuid.as_bytes())?;
                w.put(m.host.as_bytes())
            }
            Message::Welcome(m) => {
                m.validate()?;
                w.u64(m.features)?;
                w.u8(m.version)?;
                w.len_u8(m.cluster_uuid.len())?;
                w.len_u8(m.host.len())?;
                w.put(&m.proof)?;
                w.put(m.cluster_uuid.as_bytes())?;
                w.put(m.host.as_bytes())
            }
            Message::Challenge(m) => w.put(&m.server_nonce),
            Message::Auth(m) => w.put(&m.proof),
            Message::Refuse(m) => {
                m.validate()?;
                w.u16(m.code as u16)?;
                w.u8(m.min_version)?;
                w.u8(m.max_version)?;
                w.u32(m.retry_after_ms)?;
                w.len_u16(m.message.len())?;
                w.put(m.message.as_bytes())
            }
            Message::Ping | Message::Pong | Message::Notify => Ok(()),
            Message::Error(m) => {
                check_text(m.message)?;
                w.u16(m.code as u16)?;
                w.len_u16(m.message.len())?;
                w.put(m.message.as_bytes())
            }
            Message::GetEnts(m) => {
                check_depth(m.depth)?;
                let count = m.dirs.len();
                if count == 0 {
                    return Err(WireError::OutOfRange);
                }
                if count > MAX_GETENTS_DIRS {
                    return Err(WireError::CountOverCap);
                }
                w.u8(m.depth)?;
                w.len_u16(count)?;
                m.dirs.put_items(w)
            }
            Message::Dents(m) => {
                let count = m.entries.len();
                if count > MAX_DENTS_PER_BATCH {
                    return Err(WireError::CountOverCap);
                }
                w.len_u16(count)?;
                m.entries.put_items(w)
            }
            Message::PushLink(m) => {
                m.validate()?;
                w.i64(m.stamp.sec)?;
                w.u32(m.stamp.nsec)?;
                w.len_u16(m.path.len())?;
                w.len_u16(m.value.len())?;
                w.put(m.path.as_bytes())?;
                w.put(m.value.as_bytes())
            }
            Message::PushCheck(m) => {
                check_host(m.host)?;
                check_path(m.path)?;
                w.len_u8(m.host.len())?;
                w.len_u16(m.path.len())?;
                w.put(m.host.as_bytes())?;
                w.put(m.path.as_bytes())
            }
            Message::LogRead(m) => {
                m.validate()?;
                w.u64(m.offset)?;
                w.u32(m.max_len)?;
                w.len_u16(m.path.len())?;
                w.put(m.path.as_bytes())
            }
            Message::LogData(m) => {
                m.validate()?;
                let mut flags = match m.tail {
                    LogTail::More => 0,
                    LogTail::NotYet => LOG_FLAG_NOT_YET,
                    LogTail::Eof => LOG_FLAG_EOF,
                };
                if let Packing::Compressed { .. } = m.packing {
                    flags |= LOG_FLAG_PACKED;
                }
                w.u64(m.offset)?;
                w.u64(m.durable_end)?;
                w.u32(flags)?;
                if let Packing::Compressed { alg, len } = m.packing {
                    w.u8(Packing::alg_code(alg))?;
                    w.u32(len)?;
                }
                w.len_u32(m.data.len())?;
                w.put(m.data)
            }
            Message::SyncRead(m) => {
                m.validate()?;
                w.u64(m.offset)?;
                w.u32(m.len)?;
                w.len_u8(m.resource.len())?;
                w.put(m.resource.as_bytes())
            }
            Message::SyncData(m) => {
                m.validate()?;
                w.u64(m.offset)?;
                w.u32(m.len)?;
                match m.packing {
                    Packing::Plain => w.u32(if m.zero { SYNC_FLAG_ZERO } else { 0 })?,
                    Packing::Compressed { alg, .. } => {
                        w.u32(SYNC_FLAG_PACKED)?;
                        w.u8(Packing::alg_code(alg))?;
                    }
                }
                w.put(m.data)
            }
            Message::SyncSumsRead(m) => {
                m.validate()?;
                w.u64(m.offset)?;
                w.u32(m.block_size)?;
                w.u16(m.count)?;
                w.u8(m.alg as u8)?;
                w.len_u8(m.resource.len())?;
                w.put(m.resource.as_bytes())
            }
            Message::SyncSums(m) => {
                // Re-check the list: its invariant holds, but the range must too.
                let digests = DigestList::new(m.digests.alg, m.digests.raw)?;
                check_sum_range(m.offset, m.block_size, digests.len())?;
                w.u64(m.offset)?;
                w.u32(m.block_size)?;
                w.u8(digests.alg as u8)?;
                w.len_u16(digests.len())?;
                w.put(digests.raw)
            }
        }
    }
}

/// A decoded frame: its header and its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub header: Header,
    /// The message, borrowing the frame bytes.
    pub message: Message<'a>,
}

/// Decodes exactly one frame: `frame` must hold the header and the whole payload and nothing
/// more (use [`frame_status`] to find the frame's length in a stream).
pub fn decode_frame(frame: &[u8]) -> Result<Frame<'_>, WireError> {
    let header = Header::decode(frame)?;
    let payload = frame.get(HEADER_LEN..).ok_or(WireError::Truncated)?;
    let payload_len = header.payload_len as usize;
    if payload.len() < payload_len {
        return Err(WireError::Truncated);
    }
    if payload.len() > payload_len {
        return Err(WireError::TrailingBytes);
    }
    let message = decode_message(&header, payload)?;
    Ok(Frame { header, message })
}

/// Decodes a payload whose header was already decoded (for a reader that keeps header and
/// payload in separate buffers). `payload` must be exactly `header.payload_len` bytes.
pub fn decode_message<'a>(header: &Header, payload: &'a [u8]) -> Result<Message<'a>, WireError> {
    if payload.len() < header.payload_len as usize {
        return Err(WireError::Truncated);
    }
    if payload.len() > header.payload_len as usize {
        return Err(WireError::TrailingBytes);
    }
    if payload.len() > header.msg_type.max_payload() {
        return Err(WireError::LengthOverCap);
    }
    if header.flags & !header.msg_type.allowed_flags() != 0 {
        return Err(WireError::BadFlags);
    }
    let mut r = Reader::new(payload);
    let message = match header.msg_type {
        MsgType::Hello => {
            let features = r.u64()?;
            let min_version = r.u8()?;
            let max_version = r.u8()?;
            let role = PortRole::from_u8(r.u8()?).ok_or(WireError::UnknownCode)?;
            let uuid_len = usize::from(r.u8()?);
            let host_len = usize::from(r.u8()?);
            if uuid_len > MAX_UUID_LEN || host_len > MAX_HOST_LEN {
                return Err(WireError::LengthOverCap);
            }
            let client_nonce = r.array()?;
            let cluster_uuid = r.str(uuid_len)?;
            let host = r.str(host_len)?;
            let m = Hello {
                min_version,
                max_version,
                role,
                features,
                cluster_uuid,
                host,
                client_nonce,
            };
            m.validate()?;
            Message::Hello(m)
        }
        MsgType::Welcome => {
            let features = r.u64()?;
            let version = r.u8()?;
            let uuid_len = usize::from(r.u8()?);
            let host_len = usize::from(r.u8()?);
            if uuid_len > MAX_UUID_LEN || host_len > MAX_HOST_LEN {
                return Err(WireError::LengthOverCap);
            }
            let proof = r.array()?;
            let cluster_uuid = r.str(uuid_len)?;
            let host = r.str(host_len)?;
            let m = Welcome {
                version,
                features,
                cluster_uuid,
                host,
                proof,
            };
            m.validate()?;
            Message::Welcome(m)
        }
        MsgType::Refuse => {
            let code = RefuseCode::from_u16(r.u16()?).ok_or(WireError::UnknownCode)?;
            let min_version = r.u8()?;
            let max_version = r.u8()?;
            let retry_after_ms = r.u32()?;
            let message = r.str_u16(MAX_TEXT_LEN)?;
            let m = Refuse {
                code,
                min_version,
                max_version,
                retry_after_ms,
                message,
            };
            m.validate()?;
            Message::Refuse(m)
        }
        MsgType::Challenge => Message::Challenge(Challenge {
            server_nonce: r.array()?,
        }),
        MsgType::Auth => Message::Auth(Auth { proof: r.array()? }),
        MsgType::Ping => Message::Ping,
        MsgType::Pong => Message::Pong,
        MsgType::Notify => Message::Notify,
        MsgType::Error => {
            let code = ErrorCode::from_u16(r.u16()?).ok_or(WireError::UnknownCode)?;
            let message = r.str_u16(MAX_TEXT_LEN)?;
            check_text(message)?;
            Message::Error(ErrorReply { code, message })
        }
        MsgType::GetEnts => {
            let depth = r.u8()?;
            check_depth(depth)?;
            let count = r.u16()?;
            if count == 0 {
                return Err(WireError::OutOfRange);
            }
            if usize::from(count) > MAX_GETENTS_DIRS {
                return Err(WireError::CountOverCap);
            }
            let start = r.pos;
            for _ in 0..count {
                read_path(&mut r)?;
            }
            let raw = r.since(start)?;
            Message::GetEnts(GetEnts {
                depth,
                dirs: PathList::from_wire(raw, count),
            })
        }
        MsgType::Dents => {
            let count = r.u16()?;
            if usize::from(count) > MAX_DENTS_PER_BATCH {
                return Err(WireError::CountOverCap);
            }
            let start = r.pos;
            for _ in 0..count {
                read_dent(&mut r)?;
            }
            let raw = r.since(start)?;
            Message::Dents(Dents {
                more: header.flags & FLAG_MORE != 0,
                entries: DentList::from_wire(raw, count),
            })
        }
        MsgType::PushLink => {
            let sec = r.i64()?;
            let nsec = r.u32()?;
            let path_len = usize::from(r.u16()?);
            let value_len = usize::from(r.u16()?);
            if path_len > MAX_PATH_LEN || value_len > MAX_LINK_VALUE_LEN {
                return Err(WireError::LengthOverCap);
            }
            let path = r.str(path_len)?;
            let value = r.str(value_len)?;
            let m = PushLink {
                path,
                value,
                stamp: Stamp { sec, nsec },
            };
            m.validate()?;
            Message::PushLink(m)
        }
        MsgType::PushCheck => {
            let host_len = usize::from(r.u8()?);
            let path_len = usize::from(r.u16()?);
            if host_len > MAX_HOST_LEN || path_len > MAX_PATH_LEN {
                return Err(WireError::LengthOverCap);
            }
            let host = r.str(host_len)?;
            let path = r.str(path_len)?;
            check_host(host)?;
            check_path(path)?;
            Message::PushCheck(PushCheck { host, path })
        }
        MsgType::LogRead => {
            let offset = r.u64()?;
            let max_len = r.u32()?;
            let path = r.str_u16(MAX_PATH_LEN)?;
            let m = LogRead {
                path,
                offset,
                max_len,
            };
            m.validate()?;
            Message::LogRead(m)
        }
        MsgType::LogData => {
            let offset = r.u64()?;
            let durable_end = r.u64()?;
            let flags = r.u32()?;
            let tail = match flags & !LOG_FLAG_PACKED {
                0 => LogTail::More,
                LOG_FLAG_NOT_YET => LogTail::NotYet,
                LOG_FLAG_EOF => LogTail::Eof,
                _ => return Err(WireError::BadFlags),
            };
            let packing = if flags & LOG_FLAG_PACKED != 0 {
                let alg = Packing::alg_from_code(r.u8()?).ok_or(WireError::UnknownCode)?;
                let len = r.u32()?;
                if len as usize > MAX_DATA_CHUNK {
                    return Err(WireError::LengthOverCap);
                }
                Packing::Compressed { alg, len }
            } else {
                Packing::Plain
            };
            let data_len = r.u32()? as usize;
            if data_len > MAX_DATA_CHUNK {
                return Err(WireError::LengthOverCap);
            }
            let data = r.take(data_len)?;
            let m = LogData {
                offset,
                durable_end,
                tail,
                packing,
                data,
            };
            m.validate()?;
            Message::LogData(m)
        }
        MsgType::SyncRead => {
            let offset = r.u64()?;
            let len = r.u32()?;
            let resource = r.str_u8(MAX_RESOURCE_LEN)?;
            let m = SyncRead {
                resource,
                offset,
                len,
            };
            m.validate()?;
            Message::SyncRead(m)
        }
        MsgType::SyncData => {
            let offset = r.u64()?;
            let len = r.u32()?;
            let flags = r.u32()?;
            let (zero, packing) = match flags {
                0 => (false, Packing::Plain),
                SYNC_FLAG_ZERO => (true, Packing::Plain),
                SYNC_FLAG_PACKED => {
                    let alg = Packing::alg_from_code(r.u8()?).ok_or(WireError::UnknownCode)?;
                    (false, Packing::Compressed { alg, len })
                }
                _ => return Err(WireError::BadFlags),
            };
            check_data_len(len)?;
            // The data is the rest of the payload; its length must agree with `len`.
            let data = r.rest();
            let m = SyncData {
                offset,
                len,
                zero,
                packing,
                data,
            };
            m.validate()?;
            Message::SyncData(m)
        }
        MsgType::SyncSumsRead => {
            let offset = r.u64()?;
            let block_size = r.u32()?;
            let count = r.u16()?;
            let alg = DigestAlg::from_u8(r.u8()?).ok_or(WireError::UnknownCode)?;
            let resource = r.str_u8(MAX_RESOURCE_LEN)?;
            let m = SyncSumsRead {
                resource,
                offset,
                block_size,
                count,
                alg,
            };
            m.validate()?;
            Message::SyncSumsRead(m)
        }
        MsgType::SyncSums => {
            let offset = r.u64()?;
            let block_size = r.u32()?;
            let alg = DigestAlg::from_u8(r.u8()?).ok_or(WireError::UnknownCode)?;
            let count = usize::from(r.u16()?);
            check_sum_range(offset, block_size, count)?;
            let raw_len = count
                .checked_mul(DIGEST_LEN)
                .ok_or(WireError::CountOverCap)?;
            let digests = DigestList::new(alg, r.take(raw_len)?)?;
            Message::SyncSums(SyncSums {
                offset,
                block_size,
                digests,
            })
        }
    };
    r.finish()?;
    Ok(message)
}

/// Encodes `message` as one frame into `out` with the sender's Lamport `stamp` and request
/// `tag`; returns the number of bytes written. Fails with [`WireError::BufferTooSmall`] if
/// `out` is too small (a buffer of [`MAX_FRAME_LEN`] bytes always suffices), or with the
/// validation error [`decode_frame`] would report for the same fields.
pub fn encode_frame(
    out: &mut [u8],
    stamp: Stamp,
    tag: u64,
    message: &Message<'_>,
) -> Result<usize, WireError> {
    check_stamp(stamp)?;
    let payload_area = out.get_mut(HEADER_LEN..).ok_or(WireError::BufferTooSmall)?;
    let mut w = Writer::new(payload_area);
    message.encode_payload(&mut w)?;
    let payload_len = w.pos;
    finish_frame(
        out,
        message.msg_type(),
        message.flags(),
        payload_len,
        stamp,
        tag,
    )
}

/// Writes the header for a payload already in place behind it.
fn finish_frame(
    out: &mut [u8],
    msg_type: MsgType,
    flags: u16,
    payload_len: usize,
    stamp: Stamp,
    tag: u64,
) -> Result<usize, WireError> {
    if payload_len > msg_type.max_payload() {
        return Err(WireError::LengthOverCap);
    }
    let payload_len_u32 = u32::try_from(payload_len).map_err(|_| WireError::LengthOverCap)?;
    let header = Header {
        version: PROTOCOL_VERSION,
        msg_type,
        flags,
        payload_len: payload_len_u32,
        stamp,
        tag,
    };
    header.encode(out)?;
    HEADER_LEN
        .checked_add(payload_len)
        .ok_or(WireError::LengthOverCap)
}

// ---------------------------------------------------------------------------------------------
// Batch writers: build list frames in place, item by item

/// Builds a [`GetEnts`] frame in place, one directory at a time.
pub struct GetEntsWriter<'b> {
    out: &'b mut [u8],
    depth: u8,
    /// End of the payload written so far, counted from the start of `out`.
    end: usize,
    count: u16,
}

impl<'b> GetEntsWriter<'b> {
    /// Starts a request with scan `depth` in `out`.
    pub fn new(out: &'b mut [u8], depth: u8) -> Result<GetEntsWriter<'b>, WireError> {
        check_depth(depth)?;
        let end = HEADER_LEN + GETENTS_FIXED;
        if out.len() < end {
            return Err(WireError::BufferTooSmall);
        }
        Ok(GetEntsWriter {
            out,
            depth,
            end,
            count: 0,
        })
    }

    /// Adds a directory. On error nothing is added: [`WireError::CountOverCap`] or
    /// [`WireError::BufferTooSmall`] mean the request is full, others that `dir` is invalid.
    pub fn push(&mut self, dir: &str) -> Result<(), WireError> {
        check_path(dir)?;
        if usize::from(self.count) >= MAX_GETENTS_DIRS {
            return Err(WireError::CountOverCap);
        }
        let area = self
            .out
            .get_mut(self.end..)
            .ok_or(WireError::BufferTooSmall)?;
        let mut w = Writer::new(area);
        put_path(&mut w, dir)?;
        self.end = self
            .end
            .checked_add(w.pos)
            .ok_or(WireError::BufferTooSmall)?;
        self.count = self.count.checked_add(1).ok_or(WireError::CountOverCap)?;
        Ok(())
    }

    /// Number of directories added.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// Completes the frame; returns its length. At least one directory is required.
    pub fn finish(self, stamp: Stamp, tag: u64) -> Result<usize, WireError> {
        check_stamp(stamp)?;
        if self.count == 0 {
            return Err(WireError::OutOfRange);
        }
        let fixed = self
            .out
            .get_mut(HEADER_LEN..HEADER_LEN + GETENTS_FIXED)
            .ok_or(WireError::BufferTooSmall)?;
        let mut w = Writer::new(fixed);
        w.u8(self.depth)?;
        w.u16(self.count)?;
        let payload_len = self
            .end
            .checked_sub(HEADER_LEN)
            .ok_or(WireError::BufferTooSmall)?;
        finish_frame(self.out, MsgType::GetEnts, 0, payload_len, stamp, tag)
    }
}

/// Builds a [`Dents`] frame in place, one entry at a time: the server fills a batch until
/// [`DentsWriter::push`] reports it full, sends it with `more`, and starts the next.
pub struct DentsWriter<'b> {
    out: &'b mut [u8],
    end: usize,
    count: u16,
}

impl<'b> DentsWriter<'b> {
    /// Starts a batch in `out`.
    pub fn new(out: &'b mut [u8]) -> Result<DentsWriter<'b>, WireError> {
        let end = HEADER_LEN + DENTS_FIXED;
        if out.len() < end {
            return Err(WireError::BufferTooSmall);
        }
        Ok(DentsWriter { out, end, count: 0 })
    }

    /// Adds an entry. On error nothing is added: [`WireError::CountOverCap`] or
    /// [`WireError::BufferTooSmall`] mean the batch is full, others that `dent` is invalid.
    pub fn push(&mut self, dent: &Dent<'_>) -> Result<(), WireError> {
        dent.validate()?;
        if usize::from(self.count) >= MAX_DENTS_PER_BATCH {
            return Err(WireError::CountOverCap);
        }
        let needed = self
            .end
            .checked_add(dent.wire_len())
            .ok_or(WireError::BufferTooSmall)?;
        if needed > self.out.len() {
            return Err(WireError::BufferTooSmall);
        }
        let area = self
            .out
            .get_mut(self.end..)
            .ok_or(WireError::BufferTooSmall)?;
        let mut w = Writer::new(area);
        put_dent(&mut w, dent)?;
        self.end = self
            .end
            .checked_add(w.pos)
            .ok_or(WireError::BufferTooSmall)?;
        self.count = self.count.checked_add(1).ok_or(WireError::CountOverCap)?;
        Ok(())
    }

    /// Number of entries added.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// Completes the frame; returns its length. `more`: further batches answering the same
    /// request follow.
    pub fn finish(self, stamp: Stamp, tag: u64, more: bool) -> Result<usize, WireError> {
        check_stamp(stamp)?;
        let fixed = self
            .out
            .get_mut(HEADER_LEN..HEADER_LEN + DENTS_FIXED)
            .ok_or(WireError::BufferTooSmall)?;
        let mut w = Writer::new(fixed);
        w.u16(self.count)?;
        let payload_len = self
            .end
            .checked_sub(HEADER_LEN)
            .ok_or(WireError::BufferTooSmall)?;
        let flags = if more { FLAG_MORE } else { 0 };
        finish_frame(self.out, MsgType::Dents, flags, payload_len, stamp, tag)
    }
}
