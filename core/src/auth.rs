// SPDX-License-Identifier: GPL-2.0
//! Mutual authentication of the handshake (protocol version 2) over a per-cluster secret.
//!
//! Every host of a cluster holds the same 32-byte secret in `/mars/.secret` (64 lowercase hex
//! digits and a newline; a hidden name, so the tree scan never lists or serves it). The secret
//! never travels. Each side proves that it holds it by an HMAC-SHA256 (RFC 2104) over the
//! *transcript* of the handshake, which contains a fresh random nonce of each side:
//!
//! ```text
//! client -> server  Hello     {.., client_nonce}
//! server -> client  Challenge {server_nonce}                       (or Refuse)
//! client -> server  Auth      {proof = HMAC(K, CLIENT_LABEL || transcript)}
//! server -> client  Welcome   {.., proof = HMAC(K, SERVER_LABEL || transcript)}  (or Refuse)
//! ```
//!
//! [`Transcript::encode`] defines the transcript byte by byte (`Documentation/protocol.rst`,
//! "Authentication", has the same text and an example). The labels keep a client proof from
//! ever being accepted as a server proof and the reverse.
//!
//! SHA-256 itself is the environment's: the kernel's crypto API or a userspace crate, behind
//! the [`Sha256`] trait. HMAC needs two one-shot hashes over concatenations; messages are
//! small ([`MAX_HMAC_MESSAGE`]), so they are built in a bounded buffer on the stack.

use super::lamport::Stamp;
use super::wire::{Hello, PortRole, MAX_HOST_LEN, MAX_UUID_LEN};

/// Length of the cluster secret in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of each side's handshake nonce in bytes.
pub const NONCE_LEN: usize = 32;
/// Length of a proof (an HMAC-SHA256) in bytes.
pub const PROOF_LEN: usize = 32;
/// Length of a SHA-256 digest.
pub const SHA256_LEN: usize = 32;
/// Block length of SHA-256 (the HMAC key block).
pub const SHA256_BLOCK_LEN: usize = 64;
/// The secret file's name under `/mars` (hidden: never scanned, never replicated).
pub const SECRET_FILE: &str = ".secret";
/// Exact length of a valid secret file: 64 lowercase hex digits and a newline.
pub const SECRET_FILE_LEN: usize = 2 * SECRET_LEN + 1;
/// Prefix of the message a client proof is computed over.
pub const CLIENT_LABEL: &[u8] = b"MARS auth v2 client\0";
/// Prefix of the message a server proof is computed over.
pub const SERVER_LABEL: &[u8] = b"MARS auth v2 server\0";
/// The longest transcript: role, two nonces, host and uuid with their length bytes, two
/// versions, features.
pub const MAX_TRANSCRIPT_LEN: usize =
    1 + 2 * NONCE_LEN + 1 + MAX_HOST_LEN + 1 + MAX_UUID_LEN + 2 + 8;
/// The longest message [`hmac_sha256`] takes (a label and a transcript fit, and so do the
/// RFC 4231 test vectors).
pub const MAX_HMAC_MESSAGE: usize = 512;

const _: () = assert!(CLIENT_LABEL.len() + MAX_TRANSCRIPT_LEN <= MAX_HMAC_MESSAGE);
const _: () = assert!(SERVER_LABEL.len() + MAX_TRANSCRIPT_LEN <= MAX_HMAC_MESSAGE);

/// A SHA-256 implementation of the environment (kernel crypto API, userspace crate).
pub trait Sha256 {
    /// The SHA-256 digest of `data`, `None` when the implementation failed.
    fn sha256(&self, data: &[u8]) -> Option<[u8; SHA256_LEN]>;
}

impl<F: Fn(&[u8]) -> Option<[u8; SHA256_LEN]>> Sha256 for F {
    fn sha256(&self, data: &[u8]) -> Option<[u8; SHA256_LEN]> {
        self(data)
    }
}

/// Why authentication could not be computed or did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The SHA-256 implementation failed.
    Hash,
    /// A message is longer than [`MAX_HMAC_MESSAGE`], or a transcript field over its cap.
    TooLong,
    /// The proof does not match: the other side does not hold this secret, or the
    /// transcript differs.
    BadProof,
}

/// Why a secret file's content is not a valid secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// Not exactly [`SECRET_FILE_LEN`] bytes.
    BadLength,
    /// Not 64 lowercase hex digits followed by one newline.
    BadFormat,
    /// All bytes zero: certainly not random.
    AllZero,
}

/// The cluster secret. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(digit.wrapping_sub(b'a').wrapping_add(10)),
        _ => None,
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl Secret {
    /// The secret with these bytes; all-zero bytes are refused.
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Result<Secret, SecretError> {
        if bytes.iter().all(|&b| b == 0) {
            return Err(SecretError::AllZero);
        }
        Ok(Secret(bytes))
    }

    /// Parses the content of a secret file: exactly 64 lowercase hex digits and a newline.
    pub fn parse(file: &[u8]) -> Result<Secret, SecretError> {
        if file.len() != SECRET_FILE_LEN {
            return Err(SecretError::BadLength);
        }
        let (hex, newline) = file.split_at(2 * SECRET_LEN);
        if newline != b"\n" {
            return Err(SecretError::BadFormat);
        }
        let mut bytes = [0u8; SECRET_LEN];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
                return Err(SecretError::BadFormat);
            };
            let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
                return Err(SecretError::BadFormat);
            };
            *byte = (hi << 4) | lo;
        }
        Secret::from_bytes(bytes)
    }

    /// The content of the secret file for this secret.
    pub fn to_file(&self) -> [u8; SECRET_FILE_LEN] {
        let mut out = [b'\n'; SECRET_FILE_LEN];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0.iter()) {
            if let [hi, lo] = pair {
                *hi = HEX_DIGITS
                    .get(usize::from(byte >> 4))
                    .copied()
                    .unwrap_or(b'0');
                *lo = HEX_DIGITS
                    .get(usize::from(byte & 15))
                    .copied()
                    .unwrap_or(b'0');
            }
        }
        out
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Read through black_box so the compiler cannot turn the fold into an early exit.
    core::hint::black_box(diff) == 0
}

/// Copies `parts` one after the other into `buf`; returns the length.
fn concat(buf: &mut [u8], parts: &[&[u8]]) -> Result<usize, AuthError> {
    let mut pos = 0usize;
    for part in parts {
        let end = pos.checked_add(part.len()).ok_or(AuthError::TooLong)?;
        buf.get_mut(pos..end)
            .ok_or(AuthError::TooLong)?
            .copy_from_slice(part);
        pos = end;
    }
    Ok(pos)
}

/// HMAC-SHA256 (RFC 2104, RFC 4231) of the concatenation of `message` parts under `key`.
/// Keys longer than the block are hashed first, as the RFC says.
pub fn hmac_sha256(
    sha: &impl Sha256,
    key: &[u8],
    message: &[&[u8]],
) -> Result<[u8; SHA256_LEN], AuthError> {
    let mut key_block = [0u8; SHA256_BLOCK_LEN];
    if key.len() > SHA256_BLOCK_LEN {
        let hashed = sha.sha256(key).ok_or(AuthError::Hash)?;
        concat(&mut key_block, &[&hashed])?;
    } else {
        concat(&mut key_block, &[key])?;
    }
    let mut pad = [0u8; SHA256_BLOCK_LEN];
    let mut buf = [0u8; SHA256_BLOCK_LEN + MAX_HMAC_MESSAGE];
    // Inner: H((K ^ ipad) || message).
    for (p, k) in pad.iter_mut().zip(key_block.iter()) {
        *p = k ^ 0x36;
    }
    let mut len = concat(&mut buf, &[&pad])?;
    for part in message {
        let end = len.checked_add(part.len()).ok_or(AuthError::TooLong)?;
        buf.get_mut(len..end)
            .ok_or(AuthError::TooLong)?
            .copy_from_slice(part);
        len = end;
    }
    let inner = sha
        .sha256(buf.get(..len).ok_or(AuthError::TooLong)?)
        .ok_or(AuthError::Hash)?;
    // Outer: H((K ^ opad) || inner).
    for (p, k) in pad.iter_mut().zip(key_block.iter()) {
        *p = k ^ 0x5c;
    }
    let len = concat(&mut buf, &[&pad, &inner])?;
    let outer = sha
        .sha256(buf.get(..len).ok_or(AuthError::TooLong)?)
        .ok_or(AuthError::Hash)?;
    // Do not leave the key on the stack longer than needed.
    key_block.fill(0);
    pad.fill(0);
    buf.fill(0);
    core::hint::black_box(&buf);
    Ok(outer)
}

/// What both proofs of a handshake are computed over: everything the client claimed in its
/// `Hello`, and both nonces.
///
/// Encoding ([`Transcript::encode`]), all integers little-endian:
///
/// | size | field |
/// |---|---|
/// | 1 | port role (0 metadata, 1 logs, 2 sync) |
/// | 32 | client nonce |
/// | 32 | server nonce |
/// | 1 | length of the client host name |
/// | n | client host name |
/// | 1 | length of the claimed cluster uuid |
/// | m | claimed cluster uuid (may be `(any)`) |
/// | 1 | min version |
/// | 1 | max version |
/// | 8 | features |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transcript<'a> {
    /// The port role of the connection.
    pub role: PortRole,
    /// The client's nonce (from its `Hello`).
    pub client_nonce: &'a [u8; NONCE_LEN],
    /// The server's nonce (from its `Challenge`).
    pub server_nonce: &'a [u8; NONCE_LEN],
    /// The client's host name.
    pub host: &'a str,
    /// The cluster uuid the client claims.
    pub cluster_uuid: &'a str,
    /// The client's oldest version.
    pub min_version: u8,
    /// The client's newest version.
    pub max_version: u8,
    /// The client's feature bits.
    pub features: u64,
}

impl<'a> Transcript<'a> {
    /// The transcript of a handshake that began with `hello` and was challenged with
    /// `server_nonce`.
    pub fn new(hello: &'a Hello<'a>, server_nonce: &'a [u8; NONCE_LEN]) -> Transcript<'a> {
        Transcript {
            role: hello.role,
            client_nonce: &hello.client_nonce,
            server_nonce,
            host: hello.host,
            cluster_uuid: hello.cluster_uuid,
            min_version: hello.min_version,
            max_version: hello.max_version,
            features: hello.features,
        }
    }

    /// Writes the transcript into `out`; returns its length (at most [`MAX_TRANSCRIPT_LEN`]).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AuthError> {
        if self.host.len() > MAX_HOST_LEN || self.cluster_uuid.len() > MAX_UUID_LEN {
            return Err(AuthError::TooLong);
        }
        let host_len = u8::try_from(self.host.len()).map_err(|_| AuthError::TooLong)?;
        let uuid_len = u8::try_from(self.cluster_uuid.len()).map_err(|_| AuthError::TooLong)?;
        concat(
            out,
            &[
                &[self.role as u8],
                self.client_nonce,
                self.server_nonce,
                &[host_len],
                self.host.as_bytes(),
                &[uuid_len],
                self.cluster_uuid.as_bytes(),
                &[self.min_version, self.max_version],
                &self.features.to_le_bytes(),
            ],
        )
    }

    fn proof(
        &self,
        sha: &impl Sha256,
        secret: &Secret,
        label: &[u8],
    ) -> Result<[u8; PROOF_LEN], AuthError> {
        let mut buf = [0u8; MAX_TRANSCRIPT_LEN];
        let len = self.encode(&mut buf)?;
        let transcript = buf.get(..len).ok_or(AuthError::TooLong)?;
        hmac_sha256(sha, secret.as_bytes(), &[label, transcript])
    }

    /// The proof the client sends in its `Auth`.
    pub fn client_proof(
        &self,
        sha: &impl Sha256,
        secret: &Secret,
    ) -> Result<[u8; PROOF_LEN], AuthError> {
        self.proof(sha, secret, CLIENT_LABEL)
    }

    /// The proof the server sends in its `Welcome`.
    pub fn server_proof(
        &self,
        sha: &impl Sha256,
        secret: &Secret,
    ) -> Result<[u8; PROOF_LEN], AuthError> {
        self.proof(sha, secret, SERVER_LABEL)
    }

    /// Server side: checks the client's proof (constant time).
    pub fn verify_client(
        &self,
        sha: &impl Sha256,
        secret: &Secret,
        proof: &[u8; PROOF_LEN],
    ) -> Result<(), AuthError> {
        let expected = self.client_proof(sha, secret)?;
        if constant_time_eq(&expected, proof) {
            Ok(())
        } else {
            Err(AuthError::BadProof)
        }
    }

    /// Client side: checks the server's proof (constant time).
    pub fn verify_server(
        &self,
        sha: &impl Sha256,
        secret: &Secret,
        proof: &[u8; PROOF_LEN],
    ) -> Result<(), AuthError> {
        let expected = self.server_proof(sha, secret)?;
        if constant_time_eq(&expected, proof) {
            Ok(())
        } else {
            Err(AuthError::BadProof)
        }
    }
}

/// A copy of a [`Hello`] that outlives the frame buffer it was decoded from (the server reads
/// the client's `Auth` into the same buffer, and needs the hello for the transcript).
#[derive(Clone, Copy, Debug)]
pub struct SavedHello {
    min_version: u8,
    max_version: u8,
    role: PortRole,
    features: u64,
    client_nonce: [u8; NONCE_LEN],
    host: [u8; MAX_HOST_LEN],
    host_len: usize,
    uuid: [u8; MAX_UUID_LEN],
    uuid_len: usize,
}

impl SavedHello {
    /// Copies `hello` (whose strings are within their caps: `None` otherwise).
    pub fn new(hello: &Hello<'_>) -> Option<SavedHello> {
        let mut host = [0u8; MAX_HOST_LEN];
        let mut uuid = [0u8; MAX_UUID_LEN];
        let host_len = concat(&mut host, &[hello.host.as_bytes()]).ok()?;
        let uuid_len = concat(&mut uuid, &[hello.cluster_uuid.as_bytes()]).ok()?;
        Some(SavedHello {
            min_version: hello.min_version,
            max_version: hello.max_version,
            role: hello.role,
            features: hello.features,
            client_nonce: hello.client_nonce,
            host,
            host_len,
            uuid,
            uuid_len,
        })
    }

    /// The hello again (`None` cannot happen for a copy made by [`SavedHello::new`]).
    pub fn hello(&self) -> Option<Hello<'_>> {
        let host = core::str::from_utf8(self.host.get(..self.host_len)?).ok()?;
        let cluster_uuid = core::str::from_utf8(self.uuid.get(..self.uuid_len)?).ok()?;
        Some(Hello {
            min_version: self.min_version,
            max_version: self.max_version,
            role: self.role,
            features: self.features,
            cluster_uuid,
            host,
            client_nonce: self.client_nonce,
        })
    }
}

/// Whether a connection's peer proved that it holds the secret. Only then do the Lamport
/// stamps of its frames advance the local clock: an unauthenticated sender must not be able
/// to push the cluster's clock into the future.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerAuth {
    authenticated: bool,
}

impl PeerAuth {
    /// A connection whose peer has not proved anything yet.
    pub const fn new() -> PeerAuth {
        PeerAuth {
            authenticated: false,
        }
    }

    /// The peer's proof verified.
    pub fn authenticate(&mut self) {
        self.authenticated = true;
    }

    /// Whether the peer's proof verified.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// The stamp of a received frame that the clock may observe: `None` before the peer is
    /// authenticated.
    pub fn observable(&self, stamp: Stamp) -> Option<Stamp> {
        self.authenticated.then_some(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::is_skipped_by_scan;
    use crate::wire::{
        decode_frame, encode_frame, negotiate, precheck_hello, refusal_for, Message, RefuseCode,
        ANY_CLUSTER, KNOWN_FEATURES, PROTOCOL_VERSION,
    };
    use std::vec::Vec;

    fn sha(data: &[u8]) -> Option<[u8; 32]> {
        use sha2::Digest;
        Some(sha2::Sha256::digest(data).into())
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        let long_key = [0xaau8; 131];
        let key4: Vec<u8> = (1..=25).collect();
        let cases: [(&[u8], &[u8], &str); 6] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (&[0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (&key4, &[0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            (&long_key, b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (&long_key, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, data, expected) in cases {
            assert_eq!(
                hmac_sha256(&sha, key, &[data]).unwrap().to_vec(),
                unhex(expected)
            );
            // Split messages hash like their concatenation.
            let (a, b) = data.split_at(data.len() / 2);
            assert_eq!(
                hmac_sha256(&sha, key, &[a, b]).unwrap().to_vec(),
                unhex(expected)
            );
        }
    }

    #[test]
    fn hmac_refuses_what_does_not_fit_and_reports_hash_failure() {
        let big = [0u8; MAX_HMAC_MESSAGE + 1];
        assert_eq!(hmac_sha256(&sha, b"k", &[&big]), Err(AuthError::TooLong));
        assert!(hmac_sha256(&sha, b"k", &[&big[..MAX_HMAC_MESSAGE]]).is_ok());
        let failing = |_: &[u8]| None;
        assert_eq!(hmac_sha256(&failing, b"k", &[b"m"]), Err(AuthError::Hash));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn secret_file_format() {
        let file = b"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n";
        let secret = Secret::parse(file).unwrap();
        assert_eq!(secret.as_bytes().to_vec(), (1..=32).collect::<Vec<u8>>());
        assert_eq!(&secret.to_file(), file);
        assert_eq!(std::format!("{secret:?}"), "Secret(..)");
        // Exact format only: no uppercase, no missing newline, no trailing bytes, no zero key.
        let upper = file.to_ascii_uppercase();
        assert_eq!(Secret::parse(&upper), Err(SecretError::BadFormat));
        assert_eq!(Secret::parse(&file[..64]), Err(SecretError::BadLength));
        let mut trailing = file.to_vec();
        trailing.push(b'\n');
        assert_eq!(Secret::parse(&trailing), Err(SecretError::BadLength));
        let mut no_newline = file.to_vec();
        no_newline[64] = b' ';
        assert_eq!(Secret::parse(&no_newline), Err(SecretError::BadFormat));
        let mut bad_digit = file.to_vec();
        bad_digit[3] = b'g';
        assert_eq!(Secret::parse(&bad_digit), Err(SecretError::BadFormat));
        let mut zero = [b'0'; SECRET_FILE_LEN];
        zero[64] = b'\n';
        assert_eq!(Secret::parse(&zero), Err(SecretError::AllZero));
        assert_eq!(Secret::parse(b""), Err(SecretError::BadLength));
    }

    #[test]
    fn the_secret_file_is_never_scanned() {
        // The tree scan (and with it GetEnts and replication) skips hidden names.
        assert!(is_skipped_by_scan(SECRET_FILE.as_bytes()));
    }

    fn test_secret() -> Secret {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        Secret::from_bytes(bytes).unwrap()
    }

    fn test_hello(client_nonce: [u8; NONCE_LEN]) -> Hello<'static> {
        Hello {
            min_version: 2,
            max_version: 2,
            role: PortRole::Meta,
            features: 0x1f,
            cluster_uuid: ANY_CLUSTER,
            host: "alpha",
            client_nonce,
        }
    }

    /// The example of Documentation/protocol.rst, "Authentication".
    #[test]
    fn transcript_test_vector() {
        let hello = test_hello([0x11; 32]);
        let server_nonce = [0x22; 32];
        let t = Transcript::new(&hello, &server_nonce);
        let mut buf = [0u8; MAX_TRANSCRIPT_LEN];
        let len = t.encode(&mut buf).unwrap();
        let expected = std::format!(
            "00{}{}05{}05{}0202{}",
            "11".repeat(32),
            "22".repeat(32),
            "616c706861",
            "28616e7929",
            "1f00000000000000"
        );
        assert_eq!(buf[..len].to_vec(), unhex(&expected));
        assert_eq!(len, 87);
        let secret = test_secret();
        assert_eq!(
            t.client_proof(&sha, &secret).unwrap().to_vec(),
            unhex("daa90be3ac0349b2e89a7726ceef2b33bf0dc493116f4a06ab3882a3baff4e98")
        );
        assert_eq!(
            t.server_proof(&sha, &secret).unwrap().to_vec(),
            unhex("968d27966693c35eb0cb81f7dd5a3d96150cd11d8c8af74ec1926f5770f77176")
        );
    }

    #[test]
    fn longest_transcript_fits() {
        let host = "h".repeat(MAX_HOST_LEN);
        let uuid = "u".repeat(MAX_UUID_LEN);
        let hello = Hello {
            host: &host,
            cluster_uuid: &uuid,
            ..test_hello([1; 32])
        };
        let server_nonce = [2; 32];
        let t = Transcript::new(&hello, &server_nonce);
        let mut buf = [0u8; MAX_TRANSCRIPT_LEN];
        assert_eq!(t.encode(&mut buf), Ok(MAX_TRANSCRIPT_LEN));
        assert!(t.client_proof(&sha, &test_secret()).is_ok());
        let too_long = "h".repeat(MAX_HOST_LEN + 1);
        let t = Transcript {
            host: &too_long,
            ..t
        };
        assert_eq!(
            t.client_proof(&sha, &test_secret()),
            Err(AuthError::TooLong)
        );
    }

    /// Both sides of a handshake, as the kernel and marsadm run them.
    #[test]
    fn mutual_proofs() {
        let secret = test_secret();
        let hello = test_hello([7; 32]);
        let server_nonce = [9; 32];
        let t = Transcript::new(&hello, &server_nonce);
        let client = t.client_proof(&sha, &secret).unwrap();
        assert_eq!(t.verify_client(&sha, &secret, &client), Ok(()));
        let server = t.server_proof(&sha, &secret).unwrap();
        assert_eq!(t.verify_server(&sha, &secret, &server), Ok(()));
        // A client proof is no server proof and the reverse (the labels differ).
        assert_ne!(client, server);
        assert_eq!(
            t.verify_server(&sha, &secret, &client),
            Err(AuthError::BadProof)
        );
        assert_eq!(
            t.verify_client(&sha, &secret, &server),
            Err(AuthError::BadProof)
        );
    }

    #[test]
    fn wrong_secret_is_refused() {
        let secret = test_secret();
        let mut other = *secret.as_bytes();
        other[31] ^= 1;
        let other = Secret::from_bytes(other).unwrap();
        let hello = test_hello([7; 32]);
        let server_nonce = [9; 32];
        let t = Transcript::new(&hello, &server_nonce);
        let forged = t.client_proof(&sha, &other).unwrap();
        assert_eq!(
            t.verify_client(&sha, &secret, &forged),
            Err(AuthError::BadProof)
        );
        let forged = t.server_proof(&sha, &other).unwrap();
        assert_eq!(
            t.verify_server(&sha, &secret, &forged),
            Err(AuthError::BadProof)
        );
    }

    #[test]
    fn proof_of_another_transcript_is_refused() {
        let secret = test_secret();
        let hello = test_hello([7; 32]);
        let server_nonce = [9; 32];
        let t = Transcript::new(&hello, &server_nonce);
        let proof = t.client_proof(&sha, &secret).unwrap();
        let variants = [
            Transcript {
                role: PortRole::Sync,
                ..t
            },
            Transcript {
                client_nonce: &[8; 32],
                ..t
            },
            Transcript {
                server_nonce: &[8; 32],
                ..t
            },
            Transcript { host: "alphb", ..t },
            Transcript {
                cluster_uuid: "c1",
                ..t
            },
            Transcript {
                min_version: 1,
                ..t
            },
            Transcript {
                max_version: 3,
                ..t
            },
            Transcript {
                features: 0x1e,
                ..t
            },
        ];
        for other in variants {
            assert_eq!(
                other.verify_client(&sha, &secret, &proof),
                Err(AuthError::BadProof)
            );
            // A server proof for one transcript is no proof for another either.
            let server = t.server_proof(&sha, &secret).unwrap();
            assert_eq!(
                other.verify_server(&sha, &secret, &server),
                Err(AuthError::BadProof)
            );
        }
        // Length prefixes keep fields apart: moving a byte from host to uuid changes it.
        let a = Transcript {
            host: "ab",
            cluster_uuid: "c",
            ..t
        };
        let b = Transcript {
            host: "a",
            cluster_uuid: "bc",
            ..t
        };
        assert_ne!(a.client_proof(&sha, &secret), b.client_proof(&sha, &secret));
    }

    #[test]
    fn a_new_nonce_makes_a_new_proof() {
        // A recorded Auth cannot be replayed: the server's next challenge differs.
        let secret = test_secret();
        let hello = test_hello([7; 32]);
        let first = Transcript::new(&hello, &[1; 32])
            .client_proof(&sha, &secret)
            .unwrap();
        let second = Transcript::new(&hello, &[2; 32])
            .client_proof(&sha, &secret)
            .unwrap();
        assert_ne!(first, second);
        // Nor a recorded Welcome: the client's nonce differs.
        let hello2 = test_hello([8; 32]);
        let a = Transcript::new(&hello, &[1; 32])
            .server_proof(&sha, &secret)
            .unwrap();
        let b = Transcript::new(&hello2, &[1; 32])
            .server_proof(&sha, &secret)
            .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn version_1_hello_is_refused_with_version_mismatch() {
        // A v1 frame does not decode ...
        let hello = test_hello([7; 32]);
        let mut frame = [0u8; 512];
        let len = encode_frame(&mut frame, Stamp::new(1, 0), 5, &Message::Hello(hello)).unwrap();
        assert_eq!(frame[4], PROTOCOL_VERSION);
        frame[4] = 1;
        let error = decode_frame(&frame[..len]).unwrap_err();
        assert_eq!(refusal_for(error), Some(RefuseCode::VersionMismatch));
        // ... and a v2 frame offering only version 1 is refused before any challenge.
        let old = Hello {
            min_version: 1,
            max_version: 1,
            ..hello
        };
        assert_eq!(
            precheck_hello(&old, PortRole::Meta),
            Err(RefuseCode::VersionMismatch)
        );
        assert_eq!(
            precheck_hello(&hello, PortRole::Log),
            Err(RefuseCode::WrongPort)
        );
        assert_eq!(precheck_hello(&hello, PortRole::Meta), Ok(2));
        assert!(negotiate(&hello, PortRole::Meta, "c1", KNOWN_FEATURES).is_ok());
    }

    #[test]
    fn saved_hello_gives_the_same_hello() {
        let hello = test_hello([3; 32]);
        let saved = SavedHello::new(&hello).unwrap();
        assert_eq!(saved.hello(), Some(hello));
    }

    #[test]
    fn stamps_are_observed_only_after_authentication() {
        let mut auth = PeerAuth::new();
        let stamp = Stamp::new(4_000_000_000, 0);
        assert!(!auth.is_authenticated());
        assert_eq!(auth.observable(stamp), None);
        auth.authenticate();
        assert_eq!(auth.observable(stamp), Some(stamp));
    }
}
