//! The client-side cryptography of protocol v1: key schedule, envelopes (v1, and the
//! **extension** v2 that carries a replay stamp) and join proofs.
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
/// Version byte of a v1 envelope (no replay stamp; still opened, never sealed by our clients).
pub const ENVELOPE_V1: u8 = 1;
/// Version byte of a v2 envelope: the plaintext starts with a [`Stamp`].
pub const ENVELOPE_V2: u8 = 2;
/// Version byte + IV + tag: the smallest v1 envelope (an empty message).
pub const MIN_ENVELOPE_LEN: usize = 1 + 16 + 32;
/// Bytes of a [`Stamp`] at the start of a v2 plaintext: sid, counter, time.
pub const STAMP_LEN: usize = 8 + 4 + 8;
/// What sealing adds to a text: the smallest v2 envelope (an empty message).
pub const SEALED_OVERHEAD: usize = MIN_ENVELOPE_LEN + STAMP_LEN;

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
    /// Not base64url, too short for its version, or neither version 1 nor 2.
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

/// `HMAC(key, lp("join") || lp(nonce) || lp(room) || lp(alias))`: `key` is v1's
/// `k_auth`, or (issue 17, what our clients and server use) the proof key
/// `X25519(k_auth, server key)` of [`crate::verifier`].
pub fn join_proof(key: &[u8; 32], nonce: &[u8], room: &str, alias: &str) -> [u8; 32] {
    let mut mac = hmac_key(key);
    for field in [b"join".as_slice(), nonce, room.as_bytes(), alias.as_bytes()] {
        update_lp(&mut mac, field);
    }
    mac.finalize().into_bytes().into()
}

/// Checks a join proof in constant time.
pub fn verify_join_proof(
    key: &[u8; 32],
    nonce: &[u8],
    room: &str,
    alias: &str,
    proof: &[u8],
) -> bool {
    ct_eq(&join_proof(key, nonce, room, alias), proof)
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

/// The replay stamp a v2 envelope carries, encrypted and authenticated with the text:
/// who sealed it (`sid`, random per connection), its place in that connection's
/// series (`counter`, from 1) and the sender's clock (`sent_ms`, ms since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sid: [u8; 8],
    pub counter: u32,
    pub sent_ms: u64,
}

impl Stamp {
    fn to_bytes(self) -> [u8; STAMP_LEN] {
        let mut out = [0u8; STAMP_LEN];
        out[..8].copy_from_slice(&self.sid);
        out[8..12].copy_from_slice(&self.counter.to_be_bytes());
        out[12..].copy_from_slice(&self.sent_ms.to_be_bytes());
        out
    }

    fn from_bytes(raw: &[u8; STAMP_LEN]) -> Stamp {
        // Every range lies inside the fixed-size array, so the copies cannot fail.
        let mut sid = [0u8; 8];
        sid.copy_from_slice(&raw[..8]);
        let mut counter = [0u8; 4];
        counter.copy_from_slice(&raw[8..12]);
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&raw[12..]);
        Stamp {
            sid,
            counter: u32::from_be_bytes(counter),
            sent_ms: u64::from_be_bytes(sent),
        }
    }
}

/// An opened envelope: its text and, for v2, its authenticated stamp (None: a v1
/// envelope, which nothing protects against replay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub stamp: Option<Stamp>,
    pub text: String,
}

/// The tag's first field: each version has its own, so a body cannot be re-read as
/// the other version.
fn tag_label(version: u8) -> &'static [u8] {
    if version == ENVELOPE_V1 {
        b"sanctuary/v1"
    } else {
        b"sanctuary/v2"
    }
}

fn envelope_tag(k_mac: &[u8; 32], version: u8, h: &Header<'_>, iv: &[u8], ct: &[u8]) -> [u8; 32] {
    let mut mac = hmac_key(k_mac);
    for field in [
        tag_label(version),
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

/// Encrypts and authenticates `plaintext` with the given IV; returns the `body`
/// string: version 2 with `stamp` ahead of the text, or version 1 without one (only
/// the v1 vectors and the benchmark seal that).
pub fn seal_with_iv(
    keys: &RoomKeys,
    h: &Header<'_>,
    iv: [u8; 16],
    stamp: Option<&Stamp>,
    plaintext: &[u8],
) -> String {
    let (version, mut ct) = match stamp {
        Some(stamp) => (ENVELOPE_V2, stamp.to_bytes().to_vec()),
        None => (ENVELOPE_V1, Vec::new()),
    };
    ct.extend_from_slice(plaintext);
    Aes256Ctr::new(&keys.k_enc.into(), &iv.into()).apply_keystream(&mut ct);
    let tag = envelope_tag(&keys.k_mac, version, h, &iv, &ct);
    let mut raw = Vec::with_capacity(MIN_ENVELOPE_LEN + ct.len());
    raw.push(version);
    raw.extend_from_slice(&iv);
    raw.extend_from_slice(&ct);
    raw.extend_from_slice(&tag);
    b64u_encode(&raw)
}

/// Seals a v2 envelope with a fresh random IV.
pub fn seal(keys: &RoomKeys, h: &Header<'_>, stamp: &Stamp, plaintext: &[u8]) -> String {
    seal_with_iv(keys, h, random_bytes(), Some(stamp), plaintext)
}

/// The smallest envelope of a version, None for a version that does not exist.
fn min_len(version: u8) -> Option<usize> {
    match version {
        ENVELOPE_V1 => Some(MIN_ENVELOPE_LEN),
        ENVELOPE_V2 => Some(SEALED_OVERHEAD),
        _ => None,
    }
}

/// Verifies the tag (constant time) and only then decrypts. Whether a v2 stamp is
/// new is for the receiver's [`crate::replay::ReplayGuard`] to say.
pub fn open(keys: &RoomKeys, h: &Header<'_>, body: &str) -> Result<Opened, OpenError> {
    let raw = b64u_decode(body).ok_or(OpenError::Malformed)?;
    let version = *raw.first().ok_or(OpenError::Malformed)?;
    if min_len(version).is_none_or(|min| raw.len() < min) {
        return Err(OpenError::Malformed);
    }
    let (iv, rest) = raw[1..].split_at(16);
    let (ct, tag) = rest.split_at(rest.len() - 32);
    if !ct_eq(&envelope_tag(&keys.k_mac, version, h, iv, ct), tag) {
        return Err(OpenError::BadTag);
    }
    let mut pt = ct.to_vec();
    let iv: [u8; 16] = iv.try_into().map_err(|_| OpenError::Malformed)?;
    Aes256Ctr::new(&keys.k_enc.into(), &iv.into()).apply_keystream(&mut pt);
    let stamp = if version == ENVELOPE_V2 {
        let head: [u8; STAMP_LEN] = pt[..STAMP_LEN]
            .try_into()
            .map_err(|_| OpenError::Malformed)?;
        pt.drain(..STAMP_LEN);
        Some(Stamp::from_bytes(&head))
    } else {
        None
    };
    let text = String::from_utf8(pt).map_err(|_| OpenError::NotUtf8)?;
    Ok(Opened { stamp, text })
}

/// Checks the outer form of a `body` without any key: base64url of at least 1+16+32
/// bytes starting with version 1, or of at least 1+16+20+32 starting with version 2.
/// This is all the server can check.
pub fn is_well_formed_body(body: &str) -> bool {
    body.len() >= (MIN_ENVELOPE_LEN * 4).div_ceil(3)
        && b64u_decode(body).is_some_and(|raw| {
            raw.first()
                .and_then(|&v| min_len(v))
                .is_some_and(|min| raw.len() >= min)
        })
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

    /// Fixed keys, a whisper's header and a stamp.
    fn fixture() -> (RoomKeys, Header<'static>, Stamp) {
        let h = Header {
            room: "r",
            kind: Kind::Purr,
            from: "a",
            to: "b",
        };
        let stamp = Stamp {
            sid: [3; 8],
            counter: 7,
            sent_ms: 1_700_000_000_000,
        };
        (RoomKeys::from_master(&[7; 32]), h, stamp)
    }

    #[test]
    fn sealed_envelopes_open_and_bind_their_header_and_stamp() {
        let (keys, h, stamp) = fixture();
        let body = seal(&keys, &h, &stamp, "hi <b>there</b>".as_bytes());
        assert!(is_well_formed_body(&body));
        let opened = open(&keys, &h, &body).expect("opens");
        assert_eq!(opened.text, "hi <b>there</b>");
        assert_eq!(opened.stamp, Some(stamp));
        let moved = Header { to: "c", ..h };
        assert_eq!(open(&keys, &moved, &body), Err(OpenError::BadTag));
    }

    #[test]
    fn a_version_byte_swapped_between_one_and_two_breaks_the_tag() {
        let (keys, h, stamp) = fixture();
        for body in [
            seal_with_iv(&keys, &h, [9; 16], Some(&stamp), b"twenty bytes or more!"),
            seal_with_iv(&keys, &h, [9; 16], None, b"twenty bytes or more!"),
        ] {
            let mut raw = b64u_decode(&body).expect("b64u");
            raw[0] ^= 3;
            assert_eq!(open(&keys, &h, &b64u_encode(&raw)), Err(OpenError::BadTag));
        }
    }

    #[test]
    fn body_shape_check_wants_a_known_version_and_its_full_length() {
        let mut raw = vec![1u8; MIN_ENVELOPE_LEN];
        assert!(is_well_formed_body(&b64u_encode(&raw)));
        raw[0] = 2;
        assert!(!is_well_formed_body(&b64u_encode(&raw)));
        raw.resize(SEALED_OVERHEAD, 2);
        assert!(is_well_formed_body(&b64u_encode(&raw)));
        raw[0] = 3;
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
