// SPDX-License-Identifier: GPL-2.0
//! The wire codec (`mars_core::wire`) keeps its promises:
//! * every message survives encode → decode unchanged, and the encoding is canonical
//!   (decoding any accepted bytes and encoding again gives the same bytes);
//! * the byte layout is the one written down in Documentation/protocol.rst (vectors below
//!   are spelled out by hand, not produced by the encoder);
//! * every malformed input is refused with the right error, never a panic or an over-read;
//! * the streaming reader asks for exactly the bytes a frame still needs.

use mars_core::lamport::Stamp;
use mars_core::wire::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers

const STAMP: Stamp = Stamp {
    sec: 1_700_000_000,
    nsec: 123_456_789,
};

/// Builds a frame by hand: a version-2 header with the given type, flags and the payload's
/// length, stamp `STAMP`, tag 42.
fn frame(msg_type: u8, flags: u16, payload: &[u8]) -> Vec<u8> {
    frame_with_len(msg_type, flags, payload.len() as u32, payload)
}

fn frame_with_len(msg_type: u8, flags: u16, payload_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"MARS");
    f.push(2);
    f.push(msg_type);
    f.extend_from_slice(&flags.to_le_bytes());
    f.extend_from_slice(&payload_len.to_le_bytes());
    f.extend_from_slice(&STAMP.nsec.to_le_bytes());
    f.extend_from_slice(&STAMP.sec.to_le_bytes());
    f.extend_from_slice(&42u64.to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// Little-endian payload builder.
#[derive(Default)]
struct P(Vec<u8>);

impl P {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// A string with a 2-byte length prefix.
    fn s16(self, s: &[u8]) -> Self {
        self.u16(s.len() as u16).bytes(s)
    }
    /// A string with a 1-byte length prefix.
    fn s8(self, s: &[u8]) -> Self {
        self.u8(s.len() as u8).bytes(s)
    }
    /// Uuid and host of Hello/Welcome: both 1-byte lengths first, then the 32-byte nonce
    /// (Hello) or proof (Welcome), here all 0xee, then both strings.
    fn names(self, uuid: &[u8], host: &[u8]) -> Self {
        self.u8(uuid.len() as u8)
            .u8(host.len() as u8)
            .bytes(&[0xee; 32])
            .bytes(uuid)
            .bytes(host)
    }
}

/// A raw dent entry.
fn dent_bytes(kind: u8, path: &[u8], value: &[u8], sec: i64, nsec: u32, size: u64) -> Vec<u8> {
    P::default()
        .u8(kind)
        .u16(path.len() as u16)
        .u16(value.len() as u16)
        .i64(sec)
        .u32(nsec)
        .u64(size)
        .bytes(path)
        .bytes(value)
        .0
}

fn decode_err(bytes: &[u8]) -> WireError {
    match decode_frame(bytes) {
        Ok(frame) => panic!("decoded {frame:?}, expected an error"),
        Err(e) => e,
    }
}

fn encode(msg: &Message<'_>) -> Result<Vec<u8>, WireError> {
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(&mut buf, STAMP, 42, msg)?;
    buf.truncate(n);
    Ok(buf)
}

/// The full round-trip contract for one message.
fn check_roundtrip(msg: &Message<'_>, stamp: Stamp, tag: u64) {
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(&mut buf, stamp, tag, msg).expect("valid message must encode");
    let bytes = &buf[..n];
    assert!((HEADER_LEN..=MAX_FRAME_LEN).contains(&n));

    let frame = decode_frame(bytes).expect("encoded frame must decode");
    assert_eq!(frame.message, *msg);
    assert_eq!(frame.header.version, PROTOCOL_VERSION);
    assert_eq!(frame.header.msg_type, msg.msg_type());
    assert_eq!(frame.header.flags, msg.flags());
    assert_eq!(frame.header.payload_len as usize, n - HEADER_LEN);
    assert_eq!(frame.header.stamp, stamp);
    assert_eq!(frame.header.tag, tag);
    assert!(frame.header.payload_len as usize <= msg.msg_type().max_payload());

    // Canonical: the decoded view encodes to the very same bytes.
    let mut again = vec![0u8; n];
    assert_eq!(encode_frame(&mut again, stamp, tag, &frame.message), Ok(n));
    assert_eq!(again, bytes);

    // Header and payload decoded separately agree.
    let header = Header::decode(bytes).unwrap();
    assert_eq!(
        decode_message(&header, &bytes[HEADER_LEN..]),
        Ok(frame.message)
    );

    // The streaming reader asks for exactly what is missing, then reports the frame; bytes of
    // a following frame do not disturb it.
    let prefixes: Vec<usize> = if n <= 4096 {
        (0..n).collect()
    } else {
        vec![0, 1, 4, 31, 32, 33, n / 2, n - 1]
    };
    for p in prefixes {
        let want = if p < HEADER_LEN {
            HEADER_LEN - p
        } else {
            n - p
        };
        assert_eq!(
            frame_status(&bytes[..p]),
            Ok(FrameStatus::NeedMore(want)),
            "prefix {p}"
        );
        assert_eq!(
            decode_frame(&bytes[..p]),
            Err(WireError::Truncated),
            "prefix {p}"
        );
    }
    let mut stream = bytes.to_vec();
    stream.extend_from_slice(b"MARS\x01");
    assert_eq!(
        frame_status(&stream),
        Ok(FrameStatus::Complete {
            header,
            frame_len: n
        })
    );
    assert_eq!(decode_frame(&stream), Err(WireError::TrailingBytes));

    // Too small an output buffer is reported, never overrun.
    let sizes: Vec<usize> = if n <= 1024 {
        (0..n).collect()
    } else {
        vec![0, HEADER_LEN, n / 2, n - 1]
    };
    for len in sizes {
        let mut small = vec![0u8; len];
        assert_eq!(
            encode_frame(&mut small, stamp, tag, msg),
            Err(WireError::BufferTooSmall),
            "len {len}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Known byte vectors (spelled out from the layout tables in Documentation/protocol.rst)

#[test]
fn header_bytes_of_a_ping() {
    let stamp = Stamp {
        sec: 1_700_000_000,
        nsec: 123_456_789,
    };
    let expected: [u8; 32] = [
        0x4d, 0x41, 0x52, 0x53, // "MARS"
        0x02, // version 2
        0x04, // type Ping
        0x00, 0x00, // flags
        0x00, 0x00, 0x00, 0x00, // payload length 0
        0x15, 0xcd, 0x5b, 0x07, // nsec 123456789 = 0x075bcd15
        0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, // sec 1700000000 = 0x6553f100
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // tag
    ];
    let mut buf = [0u8; 64];
    let n = encode_frame(&mut buf, stamp, 0x0102_0304_0506_0708, &Message::Ping).unwrap();
    assert_eq!(n, HEADER_LEN);
    assert_eq!(buf[..n], expected);

    let header = Header::decode(&expected).unwrap();
    assert_eq!(
        header,
        Header {
            version: 2,
            msg_type: MsgType::Ping,
            flags: 0,
            payload_len: 0,
            stamp,
            tag: 0x0102_0304_0506_0708
        }
    );
    let mut out = [0u8; HEADER_LEN];
    assert_eq!(header.encode(&mut out), Ok(HEADER_LEN));
    assert_eq!(out, expected);
    assert_eq!(decode_frame(&expected).unwrap().message, Message::Ping);
}

#[test]
fn hello_bytes() {
    let hello = Hello {
        min_version: 2,
        max_version: 2,
        role: PortRole::Log,
        features: FEATURE_DIGEST_CRC32C | FEATURE_DIGEST_MD5_OLD,
        cluster_uuid: "(any)",
        host: "alpha",
        client_nonce: [0x11; 32],
    };
    #[rustfmt::skip]
    let mut expected: Vec<u8> = vec![
        0x4d, 0x41, 0x52, 0x53, 0x02, 0x01, 0x00, 0x00, // magic, v2, Hello, flags 0
        0x37, 0x00, 0x00, 0x00,                         // payload length 55
        0x02, 0x00, 0x00, 0x00,                         // nsec 2
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sec 1
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tag 7
        0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // features CRC32C | MD5_OLD
        0x02, 0x02,                                     // versions 2..=2
        0x01,                                           // role Log
        0x05, 0x05,                                     // uuid length, host length
    ];
    expected.extend_from_slice(&[0x11; 32]); // client nonce
    expected.extend_from_slice(b"(any)alpha");
    let mut buf = [0u8; 128];
    let n = encode_frame(
        &mut buf,
        Stamp { sec: 1, nsec: 2 },
        7,
        &Message::Hello(hello),
    )
    .unwrap();
    assert_eq!(buf[..n], expected[..]);
    assert_eq!(
        decode_frame(&expected).unwrap().message,
        Message::Hello(hello)
    );
}

#[test]
fn log_data_bytes() {
    let msg = LogData {
        offset: 4096,
        durable_end: 4100,
        tail: LogTail::NotYet,
        packing: Packing::Plain,
        data: b"abcd",
    };
    #[rustfmt::skip]
    let payload: Vec<u8> = vec![
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset 4096
        0x04, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // durable end 4100
        0x02, 0x00, 0x00, 0x00,                         // flags NOT_YET
        0x04, 0x00, 0x00, 0x00,                         // data length 4
        b'a', b'b', b'c', b'd',
    ];
    let expected = frame(0x21, 0, &payload);
    assert_eq!(expected[8], 28); // payload length
    assert_eq!(encode(&Message::LogData(msg)).unwrap(), expected);
    assert_eq!(
        decode_frame(&expected).unwrap().message,
        Message::LogData(msg)
    );
}

#[test]
fn dents_bytes() {
    let dent = Dent {
        kind: DentKind::Symlink,
        path: "/mars/ips/ip-alpha",
        value: "10.0.0.1",
        stamp: Stamp { sec: 256, nsec: 1 },
        size: 0,
    };
    #[rustfmt::skip]
    let payload: Vec<u8> = [
        &[0x01, 0x00][..],                                  // count 1
        &[0x01],                                            // kind symlink
        &[0x12, 0x00],                                      // path length 18
        &[0x08, 0x00],                                      // value length 8
        &[0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],  // sec 256
        &[0x01, 0x00, 0x00, 0x00],                          // nsec 1
        &[0x00; 8],                                         // size 0
        b"/mars/ips/ip-alpha",
        b"10.0.0.1",
    ]
    .concat();
    let expected = frame(0x11, 0x0001, &payload);
    let dents = [dent];
    let msg = Message::Dents(Dents {
        more: true,
        entries: DentList::from_slice(&dents),
    });
    assert_eq!(encode(&msg).unwrap(), expected);
    let decoded = decode_frame(&expected).unwrap();
    assert_eq!(decoded.message, msg);
    match decoded.message {
        Message::Dents(d) => {
            assert!(d.more);
            assert_eq!(d.entries.iter().collect::<Vec<_>>(), vec![dent]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sync_sums_bytes() {
    let digests = [0xabu8; 64];
    let msg = SyncSums {
        offset: 1 << 20,
        block_size: 4096,
        digests: DigestList::new(DigestAlg::Md5, &digests).unwrap(),
    };
    let payload = P::default()
        .u64(1 << 20)
        .u32(4096)
        .u8(0x02)
        .u16(2)
        .bytes(&digests)
        .0;
    let expected = frame(0x33, 0, &payload);
    assert_eq!(encode(&Message::SyncSums(msg)).unwrap(), expected);
    match decode_frame(&expected).unwrap().message {
        Message::SyncSums(s) => {
            assert_eq!(s, msg);
            assert_eq!(s.digests.len(), 2);
            assert_eq!(s.digests.get(1), Some(&digests[32..]));
            assert_eq!(s.digests.get(2), None);
            assert_eq!(s.digests.iter().count(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wire_values_are_stable() {
    assert_eq!(MAGIC, *b"MARS");
    assert_eq!(HEADER_LEN, 32);
    assert_eq!(MAX_FRAME_LEN, 32 + 256 * 1024 + 64);
    let types = [
        (MsgType::Hello, 0x01),
        (MsgType::Welcome, 0x02),
        (MsgType::Refuse, 0x03),
        (MsgType::Ping, 0x04),
        (MsgType::Pong, 0x05),
        (MsgType::Error, 0x06),
        (MsgType::Challenge, 0x07),
        (MsgType::Auth, 0x08),
        (MsgType::GetEnts, 0x10),
        (MsgType::Dents, 0x11),
        (MsgType::Notify, 0x12),
        (MsgType::PushLink, 0x13),
        (MsgType::PushCheck, 0x14),
        (MsgType::LogRead, 0x20),
        (MsgType::LogData, 0x21),
        (MsgType::SyncRead, 0x30),
        (MsgType::SyncData, 0x31),
        (MsgType::SyncSumsRead, 0x32),
        (MsgType::SyncSums, 0x33),
    ];
    // The per-type caps listed in Documentation/protocol.rst.
    let caps = [
        236, 234, 266, 0, 0, 260, 32, 32, 66_051, 167_042, 0, 1_296, 322, 270, 262_168, 76,
        262_160, 79, 32_783,
    ];
    for ((t, _), cap) in types.iter().zip(caps) {
        assert_eq!(t.max_payload(), cap, "{t:?}");
    }
    assert_eq!(MAX_PAYLOAD, 262_208);
    for (t, v) in types {
        assert_eq!(t as u8, v);
        assert_eq!(MsgType::from_u8(v), Some(t));
        assert!(t.max_payload() <= MAX_PAYLOAD);
    }
    let known: Vec<u8> = types.iter().map(|(_, v)| *v).collect();
    for v in 0..=255u8 {
        if !known.contains(&v) {
            assert_eq!(MsgType::from_u8(v), None);
        }
    }
    assert_eq!(PortRole::Meta.default_port(), 7777);
    assert_eq!(PortRole::Log.default_port(), 7778);
    assert_eq!(PortRole::Sync.default_port(), 7779);
    assert_eq!(PortRole::Sync.port(u16::MAX), None);
    assert_eq!(MsgType::LogRead.port_role(), Some(PortRole::Log));
    assert_eq!(MsgType::Ping.port_role(), None);
    assert_eq!(KNOWN_FEATURES, 0x71f);
    assert_eq!(FEATURE_COMPRESS_ANY, 0x700);
    assert_eq!(
        DigestAlg::preferred(KNOWN_FEATURES),
        Some(DigestAlg::Crc32c)
    );
    assert_eq!(
        DigestAlg::preferred(FEATURE_DIGEST_SHA1 | FEATURE_DIGEST_MD5_OLD),
        Some(DigestAlg::Sha1)
    );
    assert_eq!(DigestAlg::preferred(1 << 40), None);
    // Wire digest values are the log format's flag bits, algorithm for algorithm.
    for alg in DigestAlg::PREFERENCE {
        assert_eq!(u16::from(alg as u8), alg.algo().flag().bits());
        assert_eq!(DigestAlg::from_algo(alg.algo()), alg);
        assert_eq!(DigestAlg::from_u8(alg as u8), Some(alg));
    }
    for algo in mars_core::digest::DigestAlgo::ALL {
        assert_eq!(DigestAlg::from_algo(algo).algo(), algo);
    }
    assert_eq!(DIGEST_LEN, mars_core::digest::DIGEST_SIZE);
}

// ---------------------------------------------------------------------------------------------
// Header and framing errors

#[test]
fn bad_magic_is_refused_early() {
    assert_eq!(frame_status(b""), Ok(FrameStatus::NeedMore(HEADER_LEN)));
    assert_eq!(
        frame_status(b"MA"),
        Ok(FrameStatus::NeedMore(HEADER_LEN - 2))
    );
    assert_eq!(frame_status(b"MX"), Err(WireError::BadMagic));
    assert_eq!(
        frame_status(b"GET / HTTP/1.1\r\n"),
        Err(WireError::BadMagic)
    );
    let mut f = frame(0x04, 0, &[]);
    f[3] = b'Z';
    assert_eq!(decode_err(&f), WireError::BadMagic);
    assert_eq!(frame_status(&f), Err(WireError::BadMagic));
}

#[test]
fn unsupported_version() {
    // Version 1 (before authentication) is refused like any unknown version.
    for v in [0u8, 1, 3, 255] {
        let mut f = frame(0x04, 0, &[]);
        f[4] = v;
        assert_eq!(decode_err(&f), WireError::UnsupportedVersion(v));
        assert_eq!(
            frame_status(&f[..HEADER_LEN]),
            Err(WireError::UnsupportedVersion(v))
        );
    }
}

#[test]
fn unknown_type() {
    for t in [0x00u8, 0x09, 0x15, 0x22, 0x34, 0xff] {
        assert_eq!(decode_err(&frame(t, 0, &[])), WireError::UnknownType(t));
    }
}

#[test]
fn bad_flags() {
    assert_eq!(
        decode_err(&frame(0x04, FLAG_MORE, &[])),
        WireError::BadFlags
    );
    let empty_batch = P::default().u16(0).0;
    assert!(decode_frame(&frame(0x11, FLAG_MORE, &empty_batch)).is_ok());
    assert_eq!(
        decode_err(&frame(0x11, 0x0002, &empty_batch)),
        WireError::BadFlags
    );
    assert_eq!(
        decode_err(&frame(0x11, 0x8000, &empty_batch)),
        WireError::BadFlags
    );
    let hdr = Header {
        version: 2,
        msg_type: MsgType::Ping,
        flags: FLAG_MORE,
        payload_len: 0,
        stamp: STAMP,
        tag: 0,
    };
    assert_eq!(hdr.encode(&mut [0u8; 32]), Err(WireError::BadFlags));
}

#[test]
fn payload_over_cap_is_refused_from_the_header_alone() {
    let over = (MsgType::LogData.max_payload() + 1) as u32;
    let f = frame_with_len(0x21, 0, over, &[]);
    assert_eq!(frame_status(&f), Err(WireError::LengthOverCap));
    let f = frame_with_len(0x21, 0, u32::MAX, &[]);
    assert_eq!(frame_status(&f), Err(WireError::LengthOverCap));
    // Even small types have their own cap: a Ping carries nothing.
    assert_eq!(decode_err(&frame(0x04, 0, &[0])), WireError::LengthOverCap);
    assert_eq!(decode_err(&frame(0x12, 0, &[0])), WireError::LengthOverCap);
    let f = frame_with_len(0x01, 0, (MsgType::Hello.max_payload() + 1) as u32, &[]);
    assert_eq!(frame_status(&f), Err(WireError::LengthOverCap));
    // At the cap the reader waits for the payload.
    let f = frame_with_len(0x21, 0, MsgType::LogData.max_payload() as u32, &[]);
    assert_eq!(
        frame_status(&f),
        Ok(FrameStatus::NeedMore(MsgType::LogData.max_payload()))
    );
}

#[test]
fn bad_stamp_in_header() {
    let mut f = frame(0x04, 0, &[]);
    f[12..16].copy_from_slice(&1_000_000_000u32.to_le_bytes());
    assert_eq!(decode_err(&f), WireError::BadStamp);
    let mut buf = [0u8; 64];
    let bad = Stamp {
        sec: 0,
        nsec: 1_000_000_000,
    };
    assert_eq!(
        encode_frame(&mut buf, bad, 0, &Message::Ping),
        Err(WireError::BadStamp)
    );
    // Negative seconds are a valid (if odd) stamp.
    let odd = Stamp {
        sec: -5,
        nsec: 999_999_999,
    };
    check_roundtrip(&Message::Pong, odd, 0);
}

#[test]
fn truncated_and_trailing() {
    let payload = P::default().u64(0).u8(1).u8(1).u8(0).names(b"u", b"h").0;
    let good = frame(0x01, 0, &payload);
    assert!(decode_frame(&good).is_ok());
    for len in 0..good.len() {
        assert_eq!(decode_err(&good[..len]), WireError::Truncated, "len {len}");
    }
    // A byte after the frame.
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode_err(&long), WireError::TrailingBytes);
    // A byte after the last field but inside the declared payload.
    let mut inner = payload.clone();
    inner.push(0);
    assert_eq!(
        decode_err(&frame(0x01, 0, &inner)),
        WireError::TrailingBytes
    );
    // A declared payload longer than its fields: the last field runs out.
    let short = P::default()
        .u64(0)
        .u8(1)
        .u8(1)
        .u8(0)
        .u8(1)
        .u8(5)
        .bytes(b"uh")
        .0;
    assert_eq!(decode_err(&frame(0x01, 0, &short)), WireError::Truncated);
    // decode_message with a payload that disagrees with the header.
    let header = Header::decode(&good).unwrap();
    assert_eq!(
        decode_message(&header, &payload[..payload.len() - 1]),
        Err(WireError::Truncated)
    );
    assert_eq!(
        decode_message(&header, &inner),
        Err(WireError::TrailingBytes)
    );
    assert_eq!(Header::decode(&good[..31]), Err(WireError::Truncated));
}

#[test]
fn trailing_bytes_in_every_fixed_message() {
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (0x02, P::default().u64(0).u8(1).names(b"u", b"h").0),
        (0x03, P::default().u16(1).u8(1).u8(1).u32(0).s16(b"").0),
        (0x06, P::default().u16(1).s16(b"x").0),
        (0x10, P::default().u8(1).u16(1).s16(b"/mars").0),
        (0x11, P::default().u16(0).0),
        (
            0x13,
            P::default()
                .i64(0)
                .u32(0)
                .u16(5)
                .u16(1)
                .bytes(b"/mars")
                .bytes(b"v")
                .0,
        ),
        (
            0x14,
            P::default().u8(1).u16(5).bytes(b"h").bytes(b"/mars").0,
        ),
        (0x20, P::default().u64(0).u32(1).s16(b"/mars/x").0),
        (0x21, P::default().u64(0).u64(1).u32(2).u32(1).bytes(b"x").0),
        (0x30, P::default().u64(0).u32(1).s8(b"r").0),
        (0x32, P::default().u64(0).u32(4096).u16(1).u8(4).s8(b"r").0),
        (
            0x33,
            P::default().u64(0).u32(4096).u8(4).u16(1).bytes(&[1; 32]).0,
        ),
    ];
    for (t, payload) in cases {
        assert!(
            decode_frame(&frame(t, 0, &payload)).is_ok(),
            "type {t:#x} base case"
        );
        let mut extra = payload.clone();
        extra.push(0);
        assert_eq!(
            decode_err(&frame(t, 0, &extra)),
            WireError::TrailingBytes,
            "type {t:#x}"
        );
    }
    // SyncData's data is the rest of the payload: an extra byte is a length mismatch.
    let ok = P::default().u64(0).u32(1).u32(0).bytes(b"x").0;
    assert!(decode_frame(&frame(0x31, 0, &ok)).is_ok());
    let mut extra = ok.clone();
    extra.push(0);
    assert_eq!(decode_err(&frame(0x31, 0, &extra)), WireError::Inconsistent);
}

// ---------------------------------------------------------------------------------------------
// Field errors

#[test]
fn count_over_cap() {
    let mut getents = P::default().u8(1).u16((MAX_GETENTS_DIRS + 1) as u16);
    for _ in 0..=MAX_GETENTS_DIRS {
        getents = getents.s16(b"/mars");
    }
    assert_eq!(
        decode_err(&frame(0x10, 0, &getents.0)),
        WireError::CountOverCap
    );

    let mut dents = P::default().u16((MAX_DENTS_PER_BATCH + 1) as u16);
    for _ in 0..=MAX_DENTS_PER_BATCH {
        dents = dents.bytes(&dent_bytes(3, b"/mars", b"", 0, 0, 0));
    }
    assert_eq!(
        decode_err(&frame(0x11, 0, &dents.0)),
        WireError::CountOverCap
    );
    // The count is checked before the entries: a huge count with no entries is refused as such.
    assert_eq!(
        decode_err(&frame(0x11, 0, &P::default().u16(u16::MAX).0)),
        WireError::CountOverCap
    );
    assert_eq!(
        decode_err(&frame(0x10, 0, &P::default().u8(1).u16(u16::MAX).0)),
        WireError::CountOverCap
    );

    let sums = P::default()
        .u64(0)
        .u32(4096)
        .u8(4)
        .u16((MAX_SUM_BLOCKS + 1) as u16)
        .0;
    assert_eq!(decode_err(&frame(0x33, 0, &sums)), WireError::CountOverCap);
    let sums_read = P::default()
        .u64(0)
        .u32(4096)
        .u16((MAX_SUM_BLOCKS + 1) as u16)
        .u8(4)
        .s8(b"r")
        .0;
    assert_eq!(
        decode_err(&frame(0x32, 0, &sums_read)),
        WireError::CountOverCap
    );

    // Encoding refuses the same.
    let paths = vec!["/mars"; MAX_GETENTS_DIRS + 1];
    let msg = Message::GetEnts(GetEnts {
        depth: 1,
        dirs: PathList::from_slice(&paths),
    });
    assert_eq!(encode(&msg), Err(WireError::CountOverCap));
    let d = Dent {
        kind: DentKind::Dir,
        path: "/mars",
        value: "",
        stamp: STAMP,
        size: 0,
    };
    let many = vec![d; MAX_DENTS_PER_BATCH + 1];
    let msg = Message::Dents(Dents {
        more: false,
        entries: DentList::from_slice(&many),
    });
    assert_eq!(encode(&msg), Err(WireError::CountOverCap));
    let big = vec![0u8; (MAX_SUM_BLOCKS + 1) * DIGEST_LEN];
    assert_eq!(
        DigestList::new(DigestAlg::Crc32c, &big),
        Err(WireError::CountOverCap)
    );
}

#[test]
fn length_over_cap() {
    let long_path = format!("/mars/{}", "p".repeat(MAX_PATH_LEN - 5));
    assert_eq!(long_path.len(), MAX_PATH_LEN + 1);
    let f = frame(
        0x20,
        0,
        &P::default().u64(0).u32(1).s16(long_path.as_bytes()).0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);
    // The length prefix is checked before the bytes are looked for.
    let f = frame(0x20, 0, &P::default().u64(0).u32(1).u16(u16::MAX).0);
    assert_eq!(decode_err(&f), WireError::LengthOverCap);

    let long_value = vec![b'v'; MAX_LINK_VALUE_LEN + 1];
    let f = frame(
        0x11,
        0,
        &P::default()
            .u16(1)
            .bytes(&dent_bytes(1, b"/mars/x", &long_value, 0, 0, 0))
            .0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);

    let long_host = vec![b'h'; MAX_HOST_LEN + 1];
    let f = frame(
        0x01,
        0,
        &P::default()
            .u64(0)
            .u8(1)
            .u8(1)
            .u8(0)
            .u8(1)
            .u8(long_host.len() as u8)
            .bytes(b"u")
            .bytes(&long_host)
            .0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);
    let long_uuid = vec![b'u'; MAX_UUID_LEN + 1];
    let f = frame(
        0x02,
        0,
        &P::default()
            .u64(0)
            .u8(1)
            .u8(long_uuid.len() as u8)
            .u8(1)
            .bytes(&long_uuid)
            .bytes(b"h")
            .0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);
    let long_text = vec![b't'; MAX_TEXT_LEN + 1];
    let f = frame(0x06, 0, &P::default().u16(1).s16(&long_text).0);
    assert_eq!(decode_err(&f), WireError::LengthOverCap);
    let long_res = vec![b'r'; MAX_RESOURCE_LEN + 1];
    let f = frame(0x30, 0, &P::default().u64(0).u32(1).s8(&long_res).0);
    assert_eq!(decode_err(&f), WireError::LengthOverCap);

    let f = frame(
        0x20,
        0,
        &P::default()
            .u64(0)
            .u32(MAX_DATA_CHUNK as u32 + 1)
            .s16(b"/mars/x")
            .0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);
    let f = frame(
        0x30,
        0,
        &P::default()
            .u64(0)
            .u32(MAX_DATA_CHUNK as u32 + 1)
            .s8(b"r")
            .0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);
    let f = frame(
        0x21,
        0,
        &P::default()
            .u64(0)
            .u64(u64::MAX)
            .u32(0)
            .u32(MAX_DATA_CHUNK as u32 + 1)
            .0,
    );
    assert_eq!(decode_err(&f), WireError::LengthOverCap);

    // Encoding: the largest chunk fits, one byte more does not.
    let data = vec![7u8; MAX_DATA_CHUNK + 1];
    let ok = LogData {
        offset: 0,
        durable_end: MAX_DATA_CHUNK as u64,
        tail: LogTail::Eof,
        packing: Packing::Plain,
        data: &data[..MAX_DATA_CHUNK],
    };
    check_roundtrip(&Message::LogData(ok), STAMP, 1);
    let over = LogData {
        durable_end: data.len() as u64,
        packing: Packing::Plain,
        data: &data,
        ..ok
    };
    assert_eq!(
        encode(&Message::LogData(over)),
        Err(WireError::LengthOverCap)
    );
    let ok = SyncData {
        offset: 0,
        len: MAX_DATA_CHUNK as u32,
        zero: false,
        packing: Packing::Plain,
        data: &data[..MAX_DATA_CHUNK],
    };
    check_roundtrip(&Message::SyncData(ok), STAMP, 1);
    let over = SyncData {
        len: data.len() as u32,
        packing: Packing::Plain,
        data: &data,
        ..ok
    };
    assert_eq!(
        encode(&Message::SyncData(over)),
        Err(WireError::LengthOverCap)
    );
    assert_eq!(
        encode(&Message::PushLink(PushLink {
            path: &long_path,
            value: "v",
            stamp: STAMP
        })),
        Err(WireError::LengthOverCap)
    );
}

#[test]
fn bad_utf8() {
    let f = frame(0x20, 0, &P::default().u64(0).u32(1).s16(b"/mars/\xff").0);
    assert_eq!(decode_err(&f), WireError::BadUtf8);
    let f = frame(
        0x11,
        0,
        &P::default()
            .u16(1)
            .bytes(&dent_bytes(1, b"/mars/x", b"\xc3\x28", 0, 0, 0))
            .0,
    );
    assert_eq!(decode_err(&f), WireError::BadUtf8);
    let f = frame(0x06, 0, &P::default().u16(1).s16(b"\xe2\x82").0);
    assert_eq!(decode_err(&f), WireError::BadUtf8);
    let f = frame(
        0x01,
        0,
        &P::default()
            .u64(0)
            .u8(1)
            .u8(1)
            .u8(0)
            .u8(1)
            .u8(1)
            .bytes(&[0; 32])
            .bytes(b"\x80")
            .bytes(b"h")
            .0,
    );
    assert_eq!(decode_err(&f), WireError::BadUtf8);
}

#[test]
fn paths_must_be_canonical_and_under_mars() {
    let bad = [
        "",
        "/",
        "/etc/passwd",
        "mars/x",
        "/marsx",
        "/mars/",
        "/mars//x",
        "/mars/x/",
        "/mars/./x",
        "/mars/../etc",
        "/mars/x/..",
        "/mars/a\nb",
        "/mars/a\0b",
        "/mars/\x7f",
        "//mars/x",
    ];
    for path in bad {
        assert_eq!(check_path(path), Err(WireError::BadPath), "{path:?}");
        let f = frame(0x20, 0, &P::default().u64(0).u32(1).s16(path.as_bytes()).0);
        assert_eq!(decode_err(&f), WireError::BadPath, "{path:?}");
        let msg = Message::LogRead(LogRead {
            path,
            offset: 0,
            max_len: 1,
        });
        assert_eq!(encode(&msg), Err(WireError::BadPath), "{path:?}");
    }
    for good in [
        "/mars",
        "/mars/uuid",
        "/mars/resource-r0/log-000000001-alpha",
        "/mars/.tmp.1.x",
        "/mars/a b/é",
    ] {
        assert_eq!(check_path(good), Ok(()), "{good:?}");
    }
    // Paths in every message that carries one are checked.
    let getents = frame(0x10, 0, &P::default().u8(1).u16(1).s16(b"/etc").0);
    assert_eq!(decode_err(&getents), WireError::BadPath);
    let dents = frame(
        0x11,
        0,
        &P::default()
            .u16(1)
            .bytes(&dent_bytes(3, b"/tmp", b"", 0, 0, 0))
            .0,
    );
    assert_eq!(decode_err(&dents), WireError::BadPath);
    let push = frame(
        0x13,
        0,
        &P::default()
            .i64(0)
            .u32(0)
            .u16(4)
            .u16(1)
            .bytes(b"/etc")
            .bytes(b"v")
            .0,
    );
    assert_eq!(decode_err(&push), WireError::BadPath);
    let check = frame(
        0x14,
        0,
        &P::default().u8(1).u16(4).bytes(b"h").bytes(b"/etc").0,
    );
    assert_eq!(decode_err(&check), WireError::BadPath);
}

#[test]
fn names_uuids_values_and_texts() {
    for bad in ["", "-x", ".x", "a.b", "a/b", "a b", "ä"] {
        assert_eq!(check_host(bad), Err(WireError::BadName), "{bad:?}");
        assert_eq!(check_resource(bad), Err(WireError::BadName), "{bad:?}");
    }
    for good in ["alpha", "A1", "_x", "r-0_b", &"h".repeat(MAX_HOST_LEN)] {
        assert_eq!(check_host(good), Ok(()), "{good:?}");
    }
    for bad in ["", "a b", "x\u{7f}", "é"] {
        assert_eq!(check_uuid(bad), Err(WireError::BadName), "{bad:?}");
    }
    assert_eq!(check_uuid(ANY_CLUSTER), Ok(()));
    assert_eq!(check_link_value(""), Err(WireError::BadLinkValue));
    assert_eq!(check_link_value("a\0b"), Err(WireError::BadLinkValue));
    assert_eq!(check_link_value("text with spaces\nand a newline"), Ok(()));

    let hello = |host: &[u8], uuid: &[u8]| {
        frame(
            0x01,
            0,
            &P::default()
                .u64(0)
                .u8(1)
                .u8(1)
                .u8(0)
                .u8(uuid.len() as u8)
                .u8(host.len() as u8)
                .bytes(&[0; 32])
                .bytes(uuid)
                .bytes(host)
                .0,
        )
    };
    assert_eq!(decode_err(&hello(b"-bad", b"u")), WireError::BadName);
    assert_eq!(decode_err(&hello(b"", b"u")), WireError::BadName);
    assert_eq!(decode_err(&hello(b"h", b"")), WireError::BadName);
    assert_eq!(decode_err(&hello(b"h", b"a b")), WireError::BadName);
    let sync = frame(0x30, 0, &P::default().u64(0).u32(1).s8(b"r/0").0);
    assert_eq!(decode_err(&sync), WireError::BadName);
    let check = frame(0x14, 0, &P::default().u8(0).u16(5).bytes(b"/mars").0);
    assert_eq!(decode_err(&check), WireError::BadName);

    let push = frame(
        0x13,
        0,
        &P::default().i64(0).u32(0).u16(5).u16(0).bytes(b"/mars").0,
    );
    assert_eq!(decode_err(&push), WireError::BadLinkValue);
    let symlink_without_value = P::default()
        .u16(1)
        .bytes(&dent_bytes(1, b"/mars/x", b"", 0, 0, 0))
        .0;
    assert_eq!(
        decode_err(&frame(0x11, 0, &symlink_without_value)),
        WireError::BadLinkValue
    );
    let err = frame(0x06, 0, &P::default().u16(1).s16(b"line\nbreak").0);
    assert_eq!(decode_err(&err), WireError::BadText);
    let refuse = frame(
        0x03,
        0,
        &P::default().u16(1).u8(1).u8(1).u32(0).s16(b"\x1b[31m").0,
    );
    assert_eq!(decode_err(&refuse), WireError::BadText);
    let msg = Message::Error(ErrorReply {
        code: ErrorCode::Io,
        message: "a\tb",
    });
    assert_eq!(encode(&msg), Err(WireError::BadText));
}

#[test]
fn unknown_codes() {
    let dent = frame(
        0x11,
        0,
        &P::default()
            .u16(1)
            .bytes(&dent_bytes(9, b"/mars", b"", 0, 0, 0))
            .0,
    );
    assert_eq!(decode_err(&dent), WireError::UnknownCode);
    let dent = frame(
        0x11,
        0,
        &P::default()
            .u16(1)
            .bytes(&dent_bytes(0, b"/mars", b"", 0, 0, 0))
            .0,
    );
    assert_eq!(decode_err(&dent), WireError::UnknownCode);
    let hello = frame(
        0x01,
        0,
        &P::default().u64(0).u8(1).u8(1).u8(3).names(b"u", b"h").0,
    );
    assert_eq!(decode_err(&hello), WireError::UnknownCode);
    let refuse = frame(0x03, 0, &P::default().u16(99).u8(1).u8(1).u32(0).s16(b"").0);
    assert_eq!(decode_err(&refuse), WireError::UnknownCode);
    let refuse = frame(0x03, 0, &P::default().u16(0).u8(1).u8(1).u32(0).s16(b"").0);
    assert_eq!(decode_err(&refuse), WireError::UnknownCode);
    let error = frame(0x06, 0, &P::default().u16(0).s16(b"").0);
    assert_eq!(decode_err(&error), WireError::UnknownCode);
    for alg in [0u8, 3, 0x20, 0xff] {
        let sums_read = frame(
            0x32,
            0,
            &P::default().u64(0).u32(4096).u16(1).u8(alg).s8(b"r").0,
        );
        assert_eq!(decode_err(&sums_read), WireError::UnknownCode, "alg {alg}");
        let sums = frame(
            0x33,
            0,
            &P::default()
                .u64(0)
                .u32(4096)
                .u8(alg)
                .u16(1)
                .bytes(&[0; 32])
                .0,
        );
        assert_eq!(decode_err(&sums), WireError::UnknownCode, "alg {alg}");
    }
    for (t, v) in [
        (1u8, RefuseCode::ForeignCluster),
        (6, RefuseCode::ShuttingDown),
    ] {
        assert_eq!(RefuseCode::from_u16(u16::from(t)), Some(v));
    }
    assert_eq!(ErrorCode::from_u16(7), None);
    assert_eq!(PortRole::from_u8(3), None);
    assert_eq!(DentKind::from_u8(4), None);
}

#[test]
fn bad_stamps_in_payloads() {
    let dent = frame(
        0x11,
        0,
        &P::default()
            .u16(1)
            .bytes(&dent_bytes(3, b"/mars", b"", 0, 1_000_000_000, 0))
            .0,
    );
    assert_eq!(decode_err(&dent), WireError::BadStamp);
    let push = frame(
        0x13,
        0,
        &P::default()
            .i64(0)
            .u32(u32::MAX)
            .u16(5)
            .u16(1)
            .bytes(b"/mars")
            .bytes(b"v")
            .0,
    );
    assert_eq!(decode_err(&push), WireError::BadStamp);
    let d = Dent {
        kind: DentKind::Dir,
        path: "/mars",
        value: "",
        stamp: Stamp {
            sec: 0,
            nsec: 1_000_000_000,
        },
        size: 0,
    };
    let ds = [d];
    assert_eq!(
        encode(&Message::Dents(Dents {
            more: false,
            entries: DentList::from_slice(&ds)
        })),
        Err(WireError::BadStamp)
    );
}

#[test]
fn out_of_range() {
    for depth in [0u8, MAX_GETENTS_DEPTH + 1, 255] {
        let f = frame(0x10, 0, &P::default().u8(depth).u16(1).s16(b"/mars").0);
        assert_eq!(decode_err(&f), WireError::OutOfRange, "depth {depth}");
    }
    assert_eq!(
        decode_err(&frame(0x10, 0, &P::default().u8(1).u16(0).0)),
        WireError::OutOfRange
    );
    // Hello: version 0, min > max.
    let hello = |min: u8, max: u8| {
        frame(
            0x01,
            0,
            &P::default()
                .u64(0)
                .u8(min)
                .u8(max)
                .u8(0)
                .names(b"u", b"h")
                .0,
        )
    };
    assert_eq!(decode_err(&hello(0, 1)), WireError::OutOfRange);
    assert_eq!(decode_err(&hello(3, 2)), WireError::OutOfRange);
    assert!(decode_frame(&hello(1, 200)).is_ok());
    let welcome = frame(0x02, 0, &P::default().u64(0).u8(0).names(b"u", b"h").0);
    assert_eq!(decode_err(&welcome), WireError::OutOfRange);
    let refuse = frame(0x03, 0, &P::default().u16(2).u8(2).u8(1).u32(0).s16(b"").0);
    assert_eq!(decode_err(&refuse), WireError::OutOfRange);
    // Zero-length reads.
    assert_eq!(
        decode_err(&frame(
            0x20,
            0,
            &P::default().u64(0).u32(0).s16(b"/mars/x").0
        )),
        WireError::OutOfRange
    );
    assert_eq!(
        decode_err(&frame(0x30, 0, &P::default().u64(0).u32(0).s8(b"r").0)),
        WireError::OutOfRange
    );
    assert_eq!(
        decode_err(&frame(0x31, 0, &P::default().u64(0).u32(0).u32(1).0)),
        WireError::OutOfRange
    );
    // Ranges that overflow u64.
    assert_eq!(
        decode_err(&frame(
            0x20,
            0,
            &P::default().u64(u64::MAX).u32(2).s16(b"/mars/x").0
        )),
        WireError::OutOfRange
    );
    assert_eq!(
        decode_err(&frame(
            0x30,
            0,
            &P::default().u64(u64::MAX - 1).u32(2).s8(b"r").0
        )),
        WireError::OutOfRange
    );
    assert_eq!(
        decode_err(&frame(0x31, 0, &P::default().u64(u64::MAX).u32(1).u32(1).0)),
        WireError::OutOfRange
    );
    assert_eq!(
        decode_err(&frame(
            0x21,
            0,
            &P::default()
                .u64(u64::MAX)
                .u64(u64::MAX)
                .u32(1)
                .u32(1)
                .bytes(b"x")
                .0
        )),
        WireError::OutOfRange
    );
    let sums_read = |offset: u64, block: u32, count: u16| {
        frame(
            0x32,
            0,
            &P::default()
                .u64(offset)
                .u32(block)
                .u16(count)
                .u8(4)
                .s8(b"r")
                .0,
        )
    };
    for block in [0u32, 256, 1000, 4097, MAX_SUM_BLOCK_SIZE * 2] {
        assert_eq!(
            decode_err(&sums_read(0, block, 1)),
            WireError::OutOfRange,
            "block {block}"
        );
    }
    assert_eq!(decode_err(&sums_read(0, 4096, 0)), WireError::OutOfRange);
    assert_eq!(
        decode_err(&sums_read(u64::MAX - 4095, 4096, 1)),
        WireError::OutOfRange
    );
    assert!(decode_frame(&sums_read(u64::MAX - 4095 - 1, 4096, 1)).is_ok());
    assert!(decode_frame(&sums_read(0, MIN_SUM_BLOCK_SIZE, MAX_SUM_BLOCKS as u16)).is_ok());
    let sums = frame(0x33, 0, &P::default().u64(0).u32(4096).u8(4).u16(0).0);
    assert_eq!(decode_err(&sums), WireError::OutOfRange);
    assert_eq!(
        DigestList::new(DigestAlg::Md5, &[]),
        Err(WireError::OutOfRange)
    );
}

#[test]
fn inconsistent_fields() {
    // Dents: a value on a directory or file, a size on a symlink or directory.
    let cases = [
        dent_bytes(3, b"/mars/d", b"v", 0, 0, 0),
        dent_bytes(2, b"/mars/f", b"v", 0, 0, 10),
        dent_bytes(1, b"/mars/l", b"v", 0, 0, 1),
        dent_bytes(3, b"/mars/d", b"", 0, 0, 1),
    ];
    for entry in cases {
        let f = frame(0x11, 0, &P::default().u16(1).bytes(&entry).0);
        assert_eq!(decode_err(&f), WireError::Inconsistent);
    }
    let file = dent_bytes(2, b"/mars/f", b"", 0, 0, u64::MAX);
    assert!(decode_frame(&frame(0x11, 0, &P::default().u16(1).bytes(&file).0)).is_ok());

    // LogData: tail flags must agree with where the chunk ends.
    let log = |offset: u64, end: u64, flags: u32, data: &[u8]| {
        frame(
            0x21,
            0,
            &P::default()
                .u64(offset)
                .u64(end)
                .u32(flags)
                .u32(data.len() as u32)
                .bytes(data)
                .0,
        )
    };
    assert_eq!(decode_err(&log(0, 2, 0, b"abc")), WireError::Inconsistent); // beyond durable end
    assert_eq!(decode_err(&log(0, 3, 0, b"abc")), WireError::Inconsistent); // reaches end, says More
    assert_eq!(decode_err(&log(0, 9, 1, b"abc")), WireError::Inconsistent); // EOF before the end
    assert_eq!(decode_err(&log(0, 9, 2, b"abc")), WireError::Inconsistent); // NOT_YET before the end
    assert_eq!(decode_err(&log(5, 9, 0, b"")), WireError::Inconsistent); // empty More
    assert_eq!(decode_err(&log(0, 3, 3, b"abc")), WireError::BadFlags); // both flags
    assert_eq!(decode_err(&log(0, 3, 8, b"abc")), WireError::BadFlags);
    assert!(decode_frame(&log(0, 9, 0, b"abc")).is_ok());
    assert!(decode_frame(&log(0, 3, 1, b"abc")).is_ok());
    assert!(decode_frame(&log(9, 9, 2, b"")).is_ok());
    assert!(decode_frame(&log(20, 9, 2, b"")).is_ok()); // asked beyond what this peer has
    let declared_longer = P::default().u64(0).u64(9).u32(0).u32(4).bytes(b"abc").0;
    assert_eq!(
        decode_err(&frame(0x21, 0, &declared_longer)),
        WireError::Truncated
    );

    // SyncData: data length must equal len unless ZERO, then no data at all.
    let sync = |len: u32, flags: u32, data: &[u8]| {
        frame(
            0x31,
            0,
            &P::default().u64(0).u32(len).u32(flags).bytes(data).0,
        )
    };
    assert_eq!(decode_err(&sync(4, 0, b"abc")), WireError::Inconsistent);
    assert_eq!(decode_err(&sync(4, 1, b"abcd")), WireError::Inconsistent);
    assert_eq!(decode_err(&sync(4, 4, b"abcd")), WireError::BadFlags);
    assert!(decode_frame(&sync(4, 1, b"")).is_ok());
    assert!(decode_frame(&sync(4, 0, b"abcd")).is_ok());
    let zero_with_data = SyncData {
        offset: 0,
        len: 1,
        zero: true,
        packing: Packing::Plain,
        data: b"x",
    };
    assert_eq!(
        encode(&Message::SyncData(zero_with_data)),
        Err(WireError::Inconsistent)
    );

    // SyncSums: a digest byte count that is not a whole number of digests.
    assert_eq!(
        DigestList::new(DigestAlg::Sha1, &[0; 33]),
        Err(WireError::Inconsistent)
    );
    let sums = frame(
        0x33,
        0,
        &P::default().u64(0).u32(4096).u8(4).u16(2).bytes(&[0; 33]).0,
    );
    assert_eq!(decode_err(&sums), WireError::Truncated);
}

// ---------------------------------------------------------------------------------------------
// Batch writers

fn sample_dent(i: usize, path: &str) -> Dent<'_> {
    Dent {
        kind: DentKind::Symlink,
        path,
        value: "1",
        stamp: Stamp {
            sec: i as i64,
            nsec: 0,
        },
        size: 0,
    }
}

#[test]
fn dents_writer_fills_batches() {
    let paths: Vec<String> = (0..300)
        .map(|i| format!("/mars/resource-r/key-{i:03}"))
        .collect();
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let mut writer = DentsWriter::new(&mut buf).unwrap();
    let mut pushed = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        match writer.push(&sample_dent(i, p)) {
            Ok(()) => pushed.push(sample_dent(i, p)),
            Err(e) => {
                assert_eq!(e, WireError::CountOverCap);
                break;
            }
        }
    }
    assert_eq!(writer.count(), MAX_DENTS_PER_BATCH);
    let bad = Dent {
        kind: DentKind::Dir,
        path: "/etc",
        value: "",
        stamp: STAMP,
        size: 0,
    };
    assert_eq!(writer.push(&bad), Err(WireError::BadPath));
    let n = writer.finish(STAMP, 9, true).unwrap();
    let frame = decode_frame(&buf[..n]).unwrap();
    assert_eq!(frame.header.tag, 9);
    assert_eq!(frame.header.flags, FLAG_MORE);
    match frame.message {
        Message::Dents(d) => {
            assert!(d.more);
            assert_eq!(d.entries.len(), pushed.len());
            assert_eq!(d.entries.iter().collect::<Vec<_>>(), pushed);
            // Same bytes as encoding the slice.
            let slice = Message::Dents(Dents {
                more: true,
                entries: DentList::from_slice(&pushed),
            });
            let mut other = vec![0u8; MAX_FRAME_LEN];
            let m = encode_frame(&mut other, STAMP, 9, &slice).unwrap();
            assert_eq!(other[..m], buf[..n]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dents_writer_stops_at_buffer_end_and_keeps_what_fits() {
    let path = "/mars/resource-r/replay-alpha";
    let entry_len = 25 + path.len() + 1;
    let mut buf = vec![0u8; HEADER_LEN + 2 + 3 * entry_len + entry_len - 1];
    let mut writer = DentsWriter::new(&mut buf).unwrap();
    for i in 0..3 {
        writer.push(&sample_dent(i, path)).unwrap();
    }
    assert_eq!(
        writer.push(&sample_dent(3, path)),
        Err(WireError::BufferTooSmall)
    );
    assert_eq!(writer.count(), 3);
    let n = writer.finish(STAMP, 1, false).unwrap();
    match decode_frame(&buf[..n]).unwrap().message {
        Message::Dents(d) => {
            assert!(!d.more);
            assert_eq!(d.entries.iter().count(), 3);
        }
        other => panic!("{other:?}"),
    }
    // An empty final batch is valid.
    let mut buf = [0u8; 64];
    let n = DentsWriter::new(&mut buf)
        .unwrap()
        .finish(STAMP, 1, false)
        .unwrap();
    assert_eq!(n, HEADER_LEN + 2);
    assert!(
        matches!(decode_frame(&buf[..n]).unwrap().message, Message::Dents(d) if d.entries.is_empty())
    );
    assert_eq!(
        DentsWriter::new(&mut [0u8; HEADER_LEN + 1]).err(),
        Some(WireError::BufferTooSmall)
    );
}

#[test]
fn getents_writer() {
    let mut buf = vec![0u8; 4096];
    let mut writer = GetEntsWriter::new(&mut buf, 3).unwrap();
    for dir in [
        "/mars",
        "/mars/ips",
        "/mars/resource-r0",
        "/mars/actual-beta",
    ] {
        writer.push(dir).unwrap();
    }
    assert_eq!(writer.push("/mars/ips/"), Err(WireError::BadPath));
    assert_eq!(writer.count(), 4);
    let n = writer.finish(STAMP, 5).unwrap();
    let expected_dirs = [
        "/mars",
        "/mars/ips",
        "/mars/resource-r0",
        "/mars/actual-beta",
    ];
    let expected = Message::GetEnts(GetEnts {
        depth: 3,
        dirs: PathList::from_slice(&expected_dirs),
    });
    assert_eq!(
        encode_frame(&mut vec![0u8; 4096], STAMP, 5, &expected),
        Ok(n)
    );
    let frame = decode_frame(&buf[..n]).unwrap();
    assert_eq!(frame.message, expected);
    match frame.message {
        Message::GetEnts(g) => assert_eq!(g.dirs.iter().collect::<Vec<_>>(), expected_dirs),
        other => panic!("{other:?}"),
    }

    let mut buf = vec![0u8; 64];
    assert_eq!(
        GetEntsWriter::new(&mut buf, 0).err(),
        Some(WireError::OutOfRange)
    );
    let writer = GetEntsWriter::new(&mut buf, 1).unwrap();
    assert_eq!(writer.finish(STAMP, 1), Err(WireError::OutOfRange));
    let mut writer = GetEntsWriter::new(&mut buf, 1).unwrap();
    writer.push("/mars/resource-abc").unwrap();
    assert_eq!(
        writer.push("/mars/resource-abc"),
        Err(WireError::BufferTooSmall)
    );
    assert!(writer.finish(STAMP, 1).is_ok());

    let mut big = vec![0u8; MAX_FRAME_LEN];
    let mut writer = GetEntsWriter::new(&mut big, 1).unwrap();
    for _ in 0..MAX_GETENTS_DIRS {
        writer.push("/mars").unwrap();
    }
    assert_eq!(writer.push("/mars"), Err(WireError::CountOverCap));
}

// ---------------------------------------------------------------------------------------------
// Handshake

fn hello<'a>(uuid: &'a str, min: u8, max: u8, role: PortRole, features: u64) -> Hello<'a> {
    Hello {
        min_version: min,
        max_version: max,
        role,
        features,
        cluster_uuid: uuid,
        host: "alpha",
        client_nonce: [0x11; 32],
    }
}

#[test]
fn negotiation() {
    let uuid = "alpha_1700000000.000000000";
    let h = hello(uuid, 2, 2, PortRole::Meta, KNOWN_FEATURES | 1 << 63);
    assert_eq!(
        negotiate(
            &h,
            PortRole::Meta,
            uuid,
            FEATURE_DIGEST_MD5_OLD | FEATURE_DIGEST_SHA1
        ),
        Ok(Agreement {
            version: 2,
            features: FEATURE_DIGEST_MD5_OLD | FEATURE_DIGEST_SHA1
        })
    );
    assert_eq!(
        negotiate(&h, PortRole::Sync, uuid, 0),
        Err(RefuseCode::WrongPort)
    );
    assert_eq!(
        negotiate(&h, PortRole::Meta, "other_1", 0),
        Err(RefuseCode::ForeignCluster)
    );
    // A joining host matches any cluster, in either direction (after its proof verified).
    assert!(negotiate(
        &hello(ANY_CLUSTER, 2, 2, PortRole::Meta, 0),
        PortRole::Meta,
        uuid,
        0
    )
    .is_ok());
    assert!(negotiate(&h, PortRole::Meta, ANY_CLUSTER, 0).is_ok());
    // A newer peer that still speaks version 2 gets version 2; one that does not is refused,
    // and so is a peer that only speaks version 1.
    assert_eq!(
        negotiate(&hello(uuid, 1, 9, PortRole::Log, 0), PortRole::Log, uuid, 0).map(|a| a.version),
        Ok(2)
    );
    assert_eq!(
        negotiate(&hello(uuid, 3, 9, PortRole::Log, 0), PortRole::Log, uuid, 0),
        Err(RefuseCode::VersionMismatch)
    );
    assert_eq!(
        negotiate(&hello(uuid, 1, 1, PortRole::Log, 0), PortRole::Log, uuid, 0),
        Err(RefuseCode::VersionMismatch)
    );
    assert!(same_cluster("a", "a") && !same_cluster("a", "b") && same_cluster("(any)", "b"));

    // Client side.
    let w = Welcome {
        version: 2,
        features: FEATURE_DIGEST_SHA1 | 1 << 40,
        cluster_uuid: uuid,
        host: "beta",
        proof: [0x33; 32],
    };
    assert_eq!(
        accept_welcome(&w, &h),
        Ok(Agreement {
            version: 2,
            features: FEATURE_DIGEST_SHA1
        })
    );
    let foreign = Welcome {
        cluster_uuid: "other_1",
        ..w
    };
    assert_eq!(
        accept_welcome(&foreign, &h),
        Err(RefuseCode::ForeignCluster)
    );
    let newer = Welcome { version: 3, ..w };
    assert_eq!(
        accept_welcome(&newer, &hello(uuid, 2, 3, PortRole::Meta, 0)),
        Err(RefuseCode::VersionMismatch)
    );
}

#[test]
fn challenge_and_auth_bytes() {
    let mut buf = [0u8; 128];
    let challenge = Message::Challenge(Challenge {
        server_nonce: [0x22; 32],
    });
    let n = encode_frame(&mut buf, STAMP, 42, &challenge).unwrap();
    assert_eq!(buf[..n], frame(0x07, 0, &[0x22; 32])[..]);
    assert_eq!(decode_frame(&buf[..n]).unwrap().message, challenge);
    let auth = Message::Auth(Auth { proof: [0x44; 32] });
    let n = encode_frame(&mut buf, STAMP, 42, &auth).unwrap();
    assert_eq!(buf[..n], frame(0x08, 0, &[0x44; 32])[..]);
    assert_eq!(decode_frame(&buf[..n]).unwrap().message, auth);
    // Exactly 32 bytes, nothing more or less.
    assert_eq!(
        decode_err(&frame(0x07, 0, &[0x22; 31])),
        WireError::Truncated
    );
    assert_eq!(
        decode_err(&frame(0x08, 0, &[0x44; 33])),
        WireError::LengthOverCap
    );
    // Valid on every port, like the rest of the handshake.
    assert_eq!(MsgType::Challenge.port_role(), None);
    assert_eq!(MsgType::Auth.port_role(), None);
    assert_eq!(RefuseCode::from_u16(7), Some(RefuseCode::AuthFailed));
    assert_eq!(RefuseCode::from_u16(8), Some(RefuseCode::NotMember));
}

// ---------------------------------------------------------------------------------------------
// Property tests: round trips of every message, and arbitrary bytes never panic

fn stamp() -> impl Strategy<Value = Stamp> {
    (any::<i64>(), 0..1_000_000_000u32).prop_map(|(sec, nsec)| Stamp { sec, nsec })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        "[A-Za-z0-9_.,:+=é -]{1,30}".prop_filter("no . or ..", |c| c != "." && c != ".."),
        0..7,
    )
    .prop_map(|components| {
        let mut p = String::from("/mars");
        for c in components {
            p.push('/');
            p.push_str(&c);
        }
        p
    })
    .prop_filter("path cap", |p| p.len() <= MAX_PATH_LEN)
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][-A-Za-z0-9_]{0,62}"
}

fn uuid() -> impl Strategy<Value = String> {
    prop_oneof!["[!-~]{1,128}", Just(ANY_CLUSTER.to_string())]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}]{1,60}",
        Just(".deleted".to_string()),
        "[a-z]{1024}"
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[^\u{0}-\u{1f}\u{7f}]{0,60}"
}

fn data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

#[derive(Clone, Debug)]
struct OwnedDent {
    kind: DentKind,
    path: String,
    value: String,
    stamp: Stamp,
    size: u64,
}

fn owned_dent() -> impl Strategy<Value = OwnedDent> {
    (0..3u8, path(), value(), stamp(), any::<u64>()).prop_map(|(k, path, value, stamp, size)| {
        match k {
            0 => OwnedDent {
                kind: DentKind::Symlink,
                path,
                value,
                stamp,
                size: 0,
            },
            1 => OwnedDent {
                kind: DentKind::File,
                path,
                value: String::new(),
                stamp,
                size,
            },
            _ => OwnedDent {
                kind: DentKind::Dir,
                path,
                value: String::new(),
                stamp,
                size: 0,
            },
        }
    })
}

/// Owned inputs for one message of every type (the message itself borrows them).
#[derive(Clone, Debug)]
enum Owned {
    Hello(u8, u8, u8, u64, String, String),
    Welcome(u8, u64, String, String),
    Challenge([u8; 32]),
    Auth([u8; 32]),
    Refuse(u16, u8, u8, u32, String),
    Ping,
    Pong,
    Notify,
    Error(u16, String),
    GetEnts(u8, Vec<String>),
    Dents(bool, Vec<OwnedDent>),
    PushLink(String, String, Stamp),
    PushCheck(String, String),
    LogRead(String, u64, u32),
    LogData(u64, u64, u8, Vec<u8>),
    SyncRead(String, u64, u32),
    SyncData(u64, bool, u32, Vec<u8>),
    SyncSumsRead(String, u64, u32, u16, usize),
    SyncSums(u64, u32, usize, Vec<u8>),
}

fn owned() -> impl Strategy<Value = Owned> {
    let offset = prop_oneof![any::<u64>().prop_map(|o| o / 2), 0..1_000_000u64];
    prop_oneof![
        (1..=255u8, any::<u8>(), 0..3u8, any::<u64>(), uuid(), name())
            .prop_map(|(min, extra, role, f, u, h)| Owned::Hello(
                min,
                min.saturating_add(extra),
                role,
                f,
                u,
                h
            ))
            .boxed(),
        (1..=255u8, any::<u64>(), uuid(), name())
            .prop_map(|(v, f, u, h)| Owned::Welcome(v, f, u, h))
            .boxed(),
        any::<[u8; 32]>().prop_map(Owned::Challenge).boxed(),
        any::<[u8; 32]>().prop_map(Owned::Auth).boxed(),
        (1..=6u16, 1..=255u8, any::<u8>(), any::<u32>(), text())
            .prop_map(|(c, min, extra, r, t)| Owned::Refuse(
                c,
                min,
                min.saturating_add(extra),
                r,
                t
            ))
            .boxed(),
        Just(Owned::Ping).boxed(),
        Just(Owned::Pong).boxed(),
        Just(Owned::Notify).boxed(),
        (1..=6u16, text())
            .prop_map(|(c, t)| Owned::Error(c, t))
            .boxed(),
        (1..=MAX_GETENTS_DEPTH, prop::collection::vec(path(), 1..20))
            .prop_map(|(d, p)| Owned::GetEnts(d, p))
            .boxed(),
        (any::<bool>(), prop::collection::vec(owned_dent(), 0..20))
            .prop_map(|(m, d)| Owned::Dents(m, d))
            .boxed(),
        (path(), value(), stamp())
            .prop_map(|(p, v, s)| Owned::PushLink(p, v, s))
            .boxed(),
        (name(), path())
            .prop_map(|(h, p)| Owned::PushCheck(h, p))
            .boxed(),
        (path(), offset.clone(), 1..=MAX_DATA_CHUNK as u32)
            .prop_map(|(p, o, l)| Owned::LogRead(p, o, l))
            .boxed(),
        (offset.clone(), 0..1000u64, 0..3u8, data(600))
            .prop_map(|(o, gap, t, d)| Owned::LogData(o, gap, t, d))
            .boxed(),
        (name(), offset.clone(), 1..=MAX_DATA_CHUNK as u32)
            .prop_map(|(r, o, l)| Owned::SyncRead(r, o, l))
            .boxed(),
        (
            offset.clone(),
            any::<bool>(),
            1..=MAX_DATA_CHUNK as u32,
            data(600)
        )
            .prop_map(|(o, z, l, d)| Owned::SyncData(o, z, l, d))
            .boxed(),
        (
            name(),
            offset.clone(),
            9..=18u32,
            1..=MAX_SUM_BLOCKS as u16,
            0..5usize
        )
            .prop_map(|(r, o, shift, c, a)| Owned::SyncSumsRead(r, o, 1 << shift, c, a))
            .boxed(),
        (offset, 9..=18u32, 0..5usize, 1..40usize, any::<u8>())
            .prop_map(|(o, shift, a, c, b)| Owned::SyncSums(
                o,
                1 << shift,
                a,
                vec![b; c * DIGEST_LEN]
            ))
            .boxed(),
    ]
}

/// Builds the message from its owned inputs and runs `f` on it.
fn with_message<R>(owned: &Owned, f: impl FnOnce(&Message<'_>) -> R) -> R {
    let role = |r: u8| PortRole::from_u8(r).unwrap();
    match owned {
        Owned::Hello(min, max, r, features, u, h) => f(&Message::Hello(Hello {
            min_version: *min,
            max_version: *max,
            role: role(*r),
            features: *features,
            cluster_uuid: u,
            host: h,
            client_nonce: [(*features >> 8) as u8; 32],
        })),
        Owned::Welcome(v, features, u, h) => f(&Message::Welcome(Welcome {
            version: *v,
            features: *features,
            cluster_uuid: u,
            host: h,
            proof: [(*features >> 16) as u8; 32],
        })),
        Owned::Challenge(nonce) => f(&Message::Challenge(Challenge {
            server_nonce: *nonce,
        })),
        Owned::Auth(proof) => f(&Message::Auth(Auth { proof: *proof })),
        Owned::Refuse(c, min, max, retry, t) => f(&Message::Refuse(Refuse {
            code: RefuseCode::from_u16(*c).unwrap(),
            min_version: *min,
            max_version: *max,
            retry_after_ms: *retry,
            message: t,
        })),
        Owned::Ping => f(&Message::Ping),
        Owned::Pong => f(&Message::Pong),
        Owned::Notify => f(&Message::Notify),
        Owned::Error(c, t) => f(&Message::Error(ErrorReply {
            code: ErrorCode::from_u16(*c).unwrap(),
            message: t,
        })),
        Owned::GetEnts(depth, paths) => {
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            f(&Message::GetEnts(GetEnts {
                depth: *depth,
                dirs: PathList::from_slice(&refs),
            }))
        }
        Owned::Dents(more, dents) => {
            let refs: Vec<Dent<'_>> = dents
                .iter()
                .map(|d| Dent {
                    kind: d.kind,
                    path: &d.path,
                    value: &d.value,
                    stamp: d.stamp,
                    size: d.size,
                })
                .collect();
            f(&Message::Dents(Dents {
                more: *more,
                entries: DentList::from_slice(&refs),
            }))
        }
        Owned::PushLink(p, v, s) => f(&Message::PushLink(PushLink {
            path: p,
            value: v,
            stamp: *s,
        })),
        Owned::PushCheck(h, p) => f(&Message::PushCheck(PushCheck { host: h, path: p })),
        Owned::LogRead(p, o, l) => f(&Message::LogRead(LogRead {
            path: p,
            offset: *o,
            max_len: *l,
        })),
        Owned::LogData(offset, gap, tail, data) => {
            let end = offset + data.len() as u64;
            let (tail, durable_end, data) = match tail {
                0 if !data.is_empty() => (LogTail::More, end + gap + 1, &data[..]),
                1 => (
                    LogTail::NotYet,
                    end.saturating_sub(*gap),
                    if *gap == 0 { &data[..] } else { &[][..] },
                ),
                _ => (LogTail::Eof, end, &data[..]),
            };
            let offset = if data.is_empty() { end } else { *offset };
            f(&Message::LogData(LogData {
                offset,
                durable_end,
                tail,
                packing: Packing::Plain,
                data,
            }))
        }
        Owned::SyncRead(r, o, l) => f(&Message::SyncRead(SyncRead {
            resource: r,
            offset: *o,
            len: *l,
        })),
        Owned::SyncData(offset, zero, len, data) => {
            if *zero {
                f(&Message::SyncData(SyncData {
                    offset: *offset,
                    len: *len,
                    zero: true,
                    packing: Packing::Plain,
                    data: &[],
                }))
            } else if data.is_empty() {
                f(&Message::SyncData(SyncData {
                    offset: *offset,
                    len: 1,
                    zero: false,
                    packing: Packing::Plain,
                    data: &[0],
                }))
            } else {
                let len = data.len() as u32;
                f(&Message::SyncData(SyncData {
                    offset: *offset,
                    len,
                    zero: false,
                    packing: Packing::Plain,
                    data,
                }))
            }
        }
        Owned::SyncSumsRead(r, o, block_size, count, alg) => {
            f(&Message::SyncSumsRead(SyncSumsRead {
                resource: r,
                offset: *o,
                block_size: *block_size,
                count: *count,
                alg: DigestAlg::PREFERENCE[*alg],
            }))
        }
        Owned::SyncSums(offset, block_size, alg, digests) => f(&Message::SyncSums(SyncSums {
            offset: *offset,
            block_size: *block_size,
            digests: DigestList::new(DigestAlg::PREFERENCE[*alg], digests).unwrap(),
        })),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(owned in owned(), stamp in stamp(), tag in any::<u64>()) {
        with_message(&owned, |msg| check_roundtrip(msg, stamp, tag));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = frame_status(&bytes);
        if let Ok(frame) = decode_frame(&bytes) {
            // Whatever is accepted is canonical.
            let mut out = vec![0u8; bytes.len()];
            prop_assert_eq!(encode_frame(&mut out, frame.header.stamp, frame.header.tag, &frame.message), Ok(bytes.len()));
            prop_assert_eq!(&out, &bytes);
        }
    }

    #[test]
    fn arbitrary_payloads_behind_valid_headers_never_panic(
        msg_type in prop::sample::select(vec![0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x21, 0x30, 0x31, 0x32, 0x33]),
        more in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let flags = if more && msg_type == 0x11 { FLAG_MORE } else { 0 };
        let bytes = frame(msg_type, flags, &payload);
        match decode_frame(&bytes) {
            Ok(frame) => {
                let mut out = vec![0u8; bytes.len()];
                prop_assert_eq!(encode_frame(&mut out, STAMP, 42, &frame.message), Ok(bytes.len()));
                prop_assert_eq!(&out, &bytes);
                // Lists iterate without surprises.
                match frame.message {
                    Message::Dents(d) => prop_assert_eq!(d.entries.iter().count(), d.entries.len()),
                    Message::GetEnts(g) => prop_assert_eq!(g.dirs.iter().count(), g.dirs.len()),
                    _ => {}
                }
            }
            Err(e) => prop_assert!(e != WireError::BufferTooSmall),
        }
    }

    #[test]
    fn mutated_frames_never_panic_and_stay_canonical(
        owned in owned(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = with_message(&owned, |msg| encode(msg).unwrap());
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let _ = frame_status(&bytes);
        if let Ok(frame) = decode_frame(&bytes) {
            let mut out = vec![0u8; bytes.len()];
            prop_assert_eq!(encode_frame(&mut out, frame.header.stamp, frame.header.tag, &frame.message), Ok(bytes.len()));
            prop_assert_eq!(&out, &bytes);
        }
    }
}

#[test]
fn max_size_dent_batches_fit_a_frame() {
    let path = format!("/mars/{}", "p".repeat(MAX_PATH_LEN - 6));
    let value = "v".repeat(MAX_LINK_VALUE_LEN);
    let d = Dent {
        kind: DentKind::Symlink,
        path: &path,
        value: &value,
        stamp: STAMP,
        size: 0,
    };
    for n in [0, 1, MAX_DENTS_PER_BATCH - 1, MAX_DENTS_PER_BATCH] {
        let all = vec![d; n];
        let msg = Message::Dents(Dents {
            more: false,
            entries: DentList::from_slice(&all),
        });
        let bytes = encode(&msg).unwrap();
        assert!(bytes.len() <= MAX_FRAME_LEN);
        assert_eq!(decode_frame(&bytes).unwrap().message, msg);
    }
    // The largest possible request fits as well.
    let paths = vec![path.as_str(); MAX_GETENTS_DIRS];
    let msg = Message::GetEnts(GetEnts {
        depth: MAX_GETENTS_DEPTH,
        dirs: PathList::from_slice(&paths),
    });
    check_roundtrip(&msg, STAMP, 3);
}

/// Compressed data sections (network compression): layout, round trip and the caps a
/// receiver relies on before it decompresses anything.
#[test]
fn packed_data_frames() {
    use mars_core::compress::Compression;
    let packed = [0xaau8; 100];
    // LogData: offset, durable end, flags (PACKED | NOT_YET), alg, plain length, data length.
    let log = |flags: u32, alg: u8, plain: u32, data: &[u8]| {
        frame(
            0x21,
            0,
            &P::default()
                .u64(4096)
                .u64(4096 + 200)
                .u32(flags)
                .u8(alg)
                .u32(plain)
                .u32(data.len() as u32)
                .bytes(data)
                .0,
        )
    };
    let ok = log(4 | 2, 2, 200, &packed);
    let f = decode_frame(&ok).unwrap();
    let Message::LogData(m) = f.message else {
        panic!("not LogData")
    };
    assert_eq!(
        m.packing,
        Packing::Compressed {
            alg: Compression::Lz4,
            len: 200
        }
    );
    assert_eq!(m.plain_len(), 200);
    assert_eq!(m.tail, LogTail::NotYet);
    assert_eq!(m.data, &packed[..]);
    let mut out = vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(&mut out, STAMP, 42, &Message::LogData(m)).unwrap();
    assert_eq!(&out[..n], &ok[..]);
    // Unknown algorithm code, and one that is two codes at once.
    assert_eq!(
        decode_err(&log(4 | 2, 0, 200, &packed)),
        WireError::UnknownCode
    );
    assert_eq!(
        decode_err(&log(4 | 2, 3, 200, &packed)),
        WireError::UnknownCode
    );
    // The announced plain length is capped before anything else is looked at.
    assert_eq!(
        decode_err(&log(4 | 2, 2, MAX_DATA_CHUNK as u32 + 1, &packed)),
        WireError::LengthOverCap
    );
    assert_eq!(
        decode_err(&log(4 | 2, 2, u32::MAX, &packed)),
        WireError::LengthOverCap
    );
    // Compression that does not pay off (data + 5 >= plain) is no valid frame.
    assert_eq!(
        decode_err(&log(4 | 2, 2, 105, &packed)),
        WireError::Inconsistent
    );
    assert!(decode_frame(&log(4 | 2, 2, 106, &[0xaa; 100])).is_err()); // NOT_YET before the durable end
    assert_eq!(
        decode_err(&log(4 | 2, 2, 201, &packed)),
        WireError::Inconsistent
    );
    assert_eq!(
        decode_err(&log(4 | 2, 2, 200, b"")),
        WireError::Inconsistent
    );
    // The plain length decides the tail: a chunk of 106 bytes before the end says More.
    let short = frame(
        0x21,
        0,
        &P::default()
            .u64(4096)
            .u64(4096 + 200)
            .u32(4)
            .u8(1)
            .u32(106)
            .u32(100)
            .bytes(&packed)
            .0,
    );
    assert!(decode_frame(&short).is_ok());

    // SyncData: offset, len, flags PACKED, alg, data.
    let sync = |flags: u32, len: u32, alg: u8, data: &[u8]| {
        frame(
            0x31,
            0,
            &P::default()
                .u64(0)
                .u32(len)
                .u32(flags)
                .u8(alg)
                .bytes(data)
                .0,
        )
    };
    let ok = sync(2, 4096, 4, &packed);
    let f = decode_frame(&ok).unwrap();
    let Message::SyncData(m) = f.message else {
        panic!("not SyncData")
    };
    assert_eq!(
        m.packing,
        Packing::Compressed {
            alg: Compression::Zlib,
            len: 4096
        }
    );
    assert!(!m.zero);
    let n = encode_frame(&mut out, STAMP, 42, &Message::SyncData(m)).unwrap();
    assert_eq!(&out[..n], &ok[..]);
    assert_eq!(decode_err(&sync(3, 4096, 4, &packed)), WireError::BadFlags); // ZERO and PACKED
    assert_eq!(
        decode_err(&sync(2, 4096, 8, &packed)),
        WireError::UnknownCode
    );
    assert_eq!(
        decode_err(&sync(2, 105, 2, &packed)),
        WireError::Inconsistent
    );
    assert_eq!(decode_err(&sync(2, 4096, 2, b"")), WireError::Inconsistent);
    assert_eq!(
        decode_err(&sync(2, MAX_DATA_CHUNK as u32 + 1, 2, &packed)),
        WireError::LengthOverCap
    );
    // Encoding refuses what decoding refuses.
    let bad = SyncData {
        offset: 0,
        len: 4096,
        zero: true,
        packing: Packing::Compressed {
            alg: Compression::Lz4,
            len: 4096,
        },
        data: &packed,
    };
    assert_eq!(
        encode_frame(&mut out, STAMP, 1, &Message::SyncData(bad)),
        Err(WireError::Inconsistent)
    );
    let mismatch = SyncData {
        zero: false,
        packing: Packing::Compressed {
            alg: Compression::Lz4,
            len: 4000,
        },
        ..bad
    };
    assert_eq!(
        encode_frame(&mut out, STAMP, 1, &Message::SyncData(mismatch)),
        Err(WireError::Inconsistent)
    );
    // The largest packed frames fit the caps of their types.
    let big = vec![1u8; MAX_DATA_CHUNK - PACK_OVERHEAD - 1];
    let m = LogData {
        offset: 0,
        durable_end: MAX_DATA_CHUNK as u64,
        tail: LogTail::NotYet,
        packing: Packing::Compressed {
            alg: Compression::Lzo,
            len: MAX_DATA_CHUNK as u32,
        },
        data: &big,
    };
    let n = encode_frame(&mut out, STAMP, 1, &Message::LogData(m)).unwrap();
    assert!(decode_frame(&out[..n]).is_ok());
}
