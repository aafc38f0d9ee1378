// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: the peer protocol decoder (`mars_core::wire`) must never panic or over-read
//! on any bytes, the streaming reader must agree with the frame decoder, and whatever decodes
//! must be canonical: encoding the decoded message gives back the very same bytes.
//!
//! Input layout: if bit 7 of byte 0 is clear, the input is a raw byte stream read frame by
//! frame as a socket loop would. If it is set, byte 1 picks a message type and the rest is a
//! payload behind a valid header built here, so the fuzzer spends its time in the payload
//! decoders instead of rediscovering the magic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mars_core::wire::{
    decode_frame, encode_frame, frame_status, FrameStatus, Message, MsgType, WireError, FLAG_MORE,
    HEADER_LEN, MAGIC, MAX_FRAME_LEN, PROTOCOL_VERSION,
};

const TYPES: [u8; 17] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x14, 0x20, 0x21, 0x30, 0x31, 0x32,
    0x33,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 0x80 == 0 {
        read_stream(rest);
    } else {
        let Some((&pick, payload)) = rest.split_first() else {
            return;
        };
        let msg_type = TYPES[usize::from(pick) % TYPES.len()];
        let max = MsgType::from_u8(msg_type).map_or(0, MsgType::max_payload);
        let payload = &payload[..payload.len().min(max)];
        let flags = if mode & 1 != 0 && msg_type == MsgType::Dents as u8 {
            FLAG_MORE
        } else {
            0
        };
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
        frame.extend_from_slice(&MAGIC);
        frame.push(PROTOCOL_VERSION);
        frame.push(msg_type);
        frame.extend_from_slice(&flags.to_le_bytes());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&0u32.to_le_bytes()); // nsec
        frame.extend_from_slice(&1i64.to_le_bytes()); // sec
        frame.extend_from_slice(&7u64.to_le_bytes()); // tag
        frame.extend_from_slice(payload);
        if let Ok(Some(len)) = check_frame(&frame) {
            assert_eq!(len, frame.len());
        }
    }
});

/// Reads `stream` frame by frame the way the kernel socket loop does.
fn read_stream(stream: &[u8]) {
    let mut pos = 0;
    while let Some(buffered) = stream.get(pos..) {
        match check_frame(buffered) {
            Ok(Some(len)) => pos += len,
            Ok(None) | Err(_) => return,
        }
    }
}

/// Checks the reader and decoder on `buffered`; returns the length of the complete frame at its
/// start, if any.
fn check_frame(buffered: &[u8]) -> Result<Option<usize>, WireError> {
    match frame_status(buffered)? {
        FrameStatus::NeedMore(n) => {
            assert!(n >= 1);
            assert!(buffered.len() + n <= MAX_FRAME_LEN);
            // A complete header with a short payload is truncated; a partial header may
            // already show a bad version or type.
            let error = decode_frame(buffered).err();
            if buffered.len() >= HEADER_LEN {
                assert_eq!(error, Some(WireError::Truncated));
            } else {
                assert!(error.is_some());
            }
            Ok(None)
        }
        FrameStatus::Complete { header, frame_len } => {
            assert!(frame_len >= HEADER_LEN && frame_len <= buffered.len());
            assert!(frame_len <= MAX_FRAME_LEN);
            let bytes = &buffered[..frame_len];
            if let Ok(frame) = decode_frame(bytes) {
                assert_eq!(frame.header, header);
                check_message(&frame.message);
                let mut out = vec![0u8; frame_len];
                let written = encode_frame(&mut out, header.stamp, header.tag, &frame.message);
                assert_eq!(written, Ok(frame_len));
                assert_eq!(out, bytes, "decoding is not canonical");
            }
            Ok(Some(frame_len))
        }
    }
}

/// Walks every borrowed list of a decoded message.
fn check_message(message: &Message<'_>) {
    match message {
        Message::GetEnts(g) => assert_eq!(g.dirs.iter().count(), g.dirs.len()),
        Message::Dents(d) => {
            let mut n = 0;
            for dent in d.entries.iter() {
                assert!(dent.path.starts_with("/mars"));
                n += 1;
            }
            assert_eq!(n, d.entries.len());
        }
        Message::SyncSums(s) => {
            assert_eq!(s.digests.iter().count(), s.digests.len());
            assert!(s.digests.get(s.digests.len()).is_none());
        }
        Message::LogData(l) => assert!(l.data.len() <= mars_core::wire::MAX_DATA_CHUNK),
        _ => {}
    }
}
