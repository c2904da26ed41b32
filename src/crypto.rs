//! The client-side cryptography of protocol v1: key schedule, envelopes and join proofs.
//!
//! The server itself only ever uses [`verify_join_proof`] and [`ct_eq`]; everything else
//! exists for the terminal client, the tests and the benchmark, which must speak to the
//! server exactly as the browser page does (PROTOCOL.md sections 2, 3 and 5).

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroize;

type HmacSha256 = Hmac<Sha256>;
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// PBKDF2 iteration count of protocol v1.
pub const ITERATIONS: u32 = 100_000;
/// Version byte that starts every envelope.
pub const ENVELOPE_VERSION: u8 = 1;
/// Version byte + IV + tag: the smallest envelope (an empty message).
pub const MIN_ENVELOPE_LEN: usize = 1 + 16 + 32;

/// The three keys every member of a room derives from its id and secret.
#[derive(Clone)]
pub struct RoomKeys {
    pub k_enc: [u8; 32],
    pub k_mac: [u8; 32],
    pub k_auth: [u8; 32],
}

impl Drop for RoomKeys {
    fn drop(&mut self) {
        self.k_enc.zeroize();
        self.k_mac.zeroize();
        self.k_auth.zeroize();
    }
}

/// What an envelope is for; it is bound into the tag so a server cannot re-label one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Msg,
    Purr,
    Exit,
    /// **Extension**: a new room secret for the members named in `to`.
    Rekey,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Msg => "msg",
            Kind::Purr => "purr",
            Kind::Exit => "exit",
            Kind::Rekey => "rekey",
        }
    }
}

/// Why an envelope was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not base64url, too short or not version 1.
    Malformed,
    /// The tag does not match: tampered, re-attributed, or another room's key.
    BadTag,
    /// The tag matched but the plaintext is not UTF-8 (a buggy or hostile sender).
    NotUtf8,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::Malformed => "malformed envelope",
            OpenError::BadTag => "message authentication failed",
            OpenError::NotUtf8 => "message is not UTF-8 text",
        })
    }
}

impl std::error::Error for OpenError {}

fn hmac_key(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_key(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Feeds `u32be(len(x)) || x` so that no two field lists share a MAC input.
fn update_lp(mac: &mut HmacSha256, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    mac.update(&len.to_be_bytes());
    mac.update(field);
}

/// `HMAC(key, lp(f1) || lp(f2) || ...)`: the keyed hash of a field list that no other
/// list shares (used for whisper key tags and whisper key derivation).
pub fn hmac_fields(key: &[u8], fields: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_key(key);
    for field in fields {
        update_lp(&mut mac, field);
    }
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block, so `i = 1` only).
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let keyed = hmac_key(password);
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        // Cloning the keyed state skips re-hashing the padded key each round.
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, b) in out.iter_mut().zip(u.iter()) {
            *o ^= b;
        }
    }
    u.zeroize();
    out
}

/// The master key of a room: PBKDF2 over the secret, salted with the room id.
pub fn master_key(room: &str, secret: &str) -> [u8; 32] {
    let mut salt = b"sanctuary/v1/".to_vec();
    salt.extend_from_slice(room.as_bytes());
    pbkdf2_sha256(secret.as_bytes(), &salt, ITERATIONS)
}

impl RoomKeys {
    /// Runs the whole key schedule (slow on purpose: 100,000 PBKDF2 rounds).
    pub fn derive(room: &str, secret: &str) -> RoomKeys {
        let mut master = master_key(room, secret);
        let keys = RoomKeys::from_master(&master);
        master.zeroize();
        keys
    }

    pub fn from_master(master: &[u8; 32]) -> RoomKeys {
        RoomKeys {
            k_enc: hmac(master, b"enc"),
            k_mac: hmac(master, b"mac"),
            k_auth: hmac(master, b"auth"),
        }
    }
}

/// `HMAC(k_auth, lp("join") || lp(nonce) || lp(room) || lp(alias))`.
pub fn join_proof(k_auth: &[u8; 32], nonce: &[u8], room: &str, alias: &str) -> [u8; 32] {
    let mut mac = hmac_key(k_auth);
    for field in [b"join".as_slice(), nonce, room.as_bytes(), alias.as_bytes()] {
        update_lp(&mut mac, field);
    }
    mac.finalize().into_bytes().into()
}

/// Checks a join proof in constant time.
pub fn verify_join_proof(
    k_auth: &[u8; 32],
    nonce: &[u8],
    room: &str,
    alias: &str,
    proof: &[u8],
) -> bool {
    ct_eq(&join_proof(k_auth, nonce, room, alias), proof)
}

/// Equality whose time depends only on the lengths, never on where the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit compare.
    std::hint::black_box(diff) == 0
}

/// The fields an envelope's tag binds besides the ciphertext.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    pub room: &'a str,
    pub kind: Kind,
    pub from: &'a str,
    pub to: &'a str,
}

fn envelope_tag(k_mac: &[u8; 32], h: &Header<'_>, iv: &[u8], ct: &[u8]) -> [u8; 32] {
    let mut mac = hmac_key(k_mac);
    for field in [
        b"sanctuary/v1".as_slice(),
        h.room.as_bytes(),
        h.kind.as_str().as_bytes(),
        h.from.as_bytes(),
        h.to.as_bytes(),
        iv,
        ct,
    ] {
        update_lp(&mut mac, field);
    }
    mac.finalize().into_bytes().into()
}

/// Encrypts and authenticates `plaintext` with the given IV; returns the `body` string.
pub fn seal_with_iv(keys: &RoomKeys, h: &Header<'_>, iv: [u8; 16], plaintext: &[u8]) -> String {
    let mut ct = plaintext.to_vec();
    Aes256Ctr::new(&keys.k_enc.into(), &iv.into()).apply_keystream(&mut ct);
    let tag = envelope_tag(&keys.k_mac, h, &iv, &ct);
    let mut raw = Vec::with_capacity(MIN_ENVELOPE_LEN + ct.len());
    raw.push(ENVELOPE_VERSION);
    raw.extend_from_slice(&iv);
    raw.extend_from_slice(&ct);
    raw.extend_from_slice(&tag);
    b64u_encode(&raw)
}

/// Encrypts with a fresh random IV.
pub fn seal(keys: &RoomKeys, h: &Header<'_>, plaintext: &[u8]) -> String {
    seal_with_iv(keys, h, random_bytes(), plaintext)
}

/// Verifies the tag (constant time) and only then decrypts.
pub fn open(keys: &RoomKeys, h: &Header<'_>, body: &str) -> Result<String, OpenError> {
    let raw = b64u_decode(body).ok_or(OpenError::Malformed)?;
    if raw.len() < MIN_ENVELOPE_LEN || raw[0] != ENVELOPE_VERSION {
        return Err(OpenError::Malformed);
    }
    let (iv, rest) = raw[1..].split_at(16);
    let (ct, tag) = rest.split_at(rest.len() - 32);
    if !ct_eq(&envelope_tag(&keys.k_mac, h, iv, ct), tag) {
        return Err(OpenError::BadTag);
    }
    let mut pt = ct.to_vec();
    let iv: [u8; 16] = iv.try_into().map_err(|_| OpenError::Malformed)?;
    Aes256Ctr::new(&keys.k_enc.into(), &iv.into()).apply_keystream(&mut pt);
    String::from_utf8(pt).map_err(|_| OpenError::NotUtf8)
}

/// Checks the outer form of a `body` without any key: base64url of at least
/// 1+16+32 bytes starting with version 1. This is all the server can check.
pub fn is_well_formed_body(body: &str) -> bool {
    body.len() >= (MIN_ENVELOPE_LEN * 4).div_ceil(3)
        && b64u_decode(body).is_some_and(|raw| raw.first() == Some(&ENVELOPE_VERSION))
}

/// Fills an array from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // Without an OS random source no secret could be made safely: stopping is right.
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

const B64U: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding.
pub fn b64u_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(B64U[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn b64u_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes unpadded base64url; `None` for any other character, a dangling
/// single character, or non-zero leftover bits (so every value has one spelling).
pub fn b64u_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    b64u_decode_with(text.as_bytes(), |bytes| out.extend_from_slice(bytes))?;
    Some(out)
}

/// The same decoder without allocating: hands each decoded group (1 to 3 bytes) to
/// `sink`, in order. The benchmark uses it to peek into every delivered envelope.
pub fn b64u_decode_with(text: &[u8], mut sink: impl FnMut(&[u8])) -> Option<()> {
    if text.len() % 4 == 1 {
        return None;
    }
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= b64u_value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        let leftover_bits = n & ((1 << (24 - 8 * produced)) - 1);
        if leftover_bits != 0 {
            return None;
        }
        sink(&n.to_be_bytes()[1..=produced]);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64u_round_trips_every_length() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = b64u_encode(&data);
            assert!(!text.contains('='));
            assert_eq!(b64u_decode(&text).as_deref(), Some(data.as_slice()));
        }
    }

    #[test]
    fn b64u_rejects_foreign_characters_and_non_canonical_tails() {
        assert_eq!(b64u_decode("ab+c"), None);
        assert_eq!(b64u_decode("abc="), None);
        assert_eq!(b64u_decode("A"), None);
        // "AB" leaves four non-zero bits: a second spelling of "AA".
        assert_eq!(b64u_decode("AB"), None);
        assert_eq!(b64u_decode("AA"), Some(vec![0]));
    }

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn sealed_envelopes_open_and_bind_their_header() {
        let keys = RoomKeys::from_master(&[7; 32]);
        let h = Header {
            room: "r",
            kind: Kind::Purr,
            from: "a",
            to: "b",
        };
        let body = seal(&keys, &h, "hi <b>there</b>".as_bytes());
        assert!(is_well_formed_body(&body));
        assert_eq!(open(&keys, &h, &body).as_deref(), Ok("hi <b>there</b>"));
        let moved = Header { to: "c", ..h };
        assert_eq!(open(&keys, &moved, &body), Err(OpenError::BadTag));
    }

    #[test]
    fn body_shape_check_wants_version_one_and_full_length() {
        let mut raw = vec![1u8; MIN_ENVELOPE_LEN];
        assert!(is_well_formed_body(&b64u_encode(&raw)));
        raw[0] = 2;
        assert!(!is_well_formed_body(&b64u_encode(&raw)));
        assert!(!is_well_formed_body(&b64u_encode(
            &[1u8; MIN_ENVELOPE_LEN - 1]
        )));
        assert!(!is_well_formed_body(""));
        assert!(!is_well_formed_body(
            "not base64url at all, not at all, no no no no no no no no no no"
        ));
    }
}
