//! The benchmark's chat message: a real protocol-v1 envelope (AES-256-CTR + HMAC, via
//! `sanctuary::crypto`) whose plaintext starts with who sent it, its number and when.
//!
//! A receiver learns sender, number and send time by decoding 68 base64 characters
//! and running two AES blocks ([`RoomCrypto::peek`]), far cheaper than a full open;
//! the full open (tag checked, whole text compared) runs on a sample
//! ([`RoomCrypto::verify`]). Frames are read by position, not by a JSON parser.

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use sanctuary::crypto::{self, Header, Kind, RoomKeys};

/// Plaintext length: a short chat line.
pub const PLAINTEXT_LEN: usize = 64;
/// The stamp: sender (8 hex), number (8 hex), send time in ns (16 hex).
const STAMP_LEN: usize = 32;
const FILLER: &[u8] = b" sanctuary bench: hello, room! 0123456789";

/// What the first 32 bytes of a message's plaintext say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u32,
    pub number: u32,
    pub sent_ns: u64,
}

/// Plaintext for a stamp: the stamp in hex, then filler text (all ASCII).
pub fn plaintext(s: &Stamp) -> [u8; PLAINTEXT_LEN] {
    let mut out = [0u8; PLAINTEXT_LEN];
    let head = format!("{:08x}{:08x}{:016x}", s.sender, s.number, s.sent_ns);
    out[..STAMP_LEN].copy_from_slice(head.as_bytes());
    for (o, f) in out[STAMP_LEN..].iter_mut().zip(FILLER.iter().cycle()) {
        *o = *f;
    }
    out
}

fn hex_value(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(v))
    })
}

fn parse_stamp(text: &[u8]) -> Option<Stamp> {
    if text.len() < STAMP_LEN {
        return None;
    }
    Some(Stamp {
        sender: u32::try_from(hex_value(&text[..8])?).ok()?,
        number: u32::try_from(hex_value(&text[8..16])?).ok()?,
        sent_ns: hex_value(&text[16..32])?,
    })
}

/// Base64url characters that decode to the version byte, the IV and two blocks.
const PEEK_CHARS: usize = 68;

/// Decodes the first 68 characters of a body: 51 bytes.
fn decode_prefix(body: &[u8]) -> Option<[u8; 51]> {
    let mut out = [0u8; 51];
    let mut at = 0;
    crypto::b64u_decode_with(body.get(..PEEK_CHARS)?, |bytes| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    })?;
    Some(out)
}

/// A room's id, keys, and its AES key schedule and join-proof key made once.
pub struct RoomCrypto {
    pub id: String,
    pub keys: RoomKeys,
    aes: Aes256,
    /// `X25519(k_auth, server key)` with the server key it was made for: the same for
    /// every connection to one server, so one X25519 per room and server, not per
    /// connection (rooms are reused across the servers of a run).
    proof_key: std::sync::Mutex<Option<([u8; 32], [u8; 32])>>,
}

impl RoomCrypto {
    pub fn new(id: String, keys: RoomKeys) -> RoomCrypto {
        let aes = Aes256::new(GenericArray::from_slice(&keys.k_enc));
        RoomCrypto {
            id,
            keys,
            aes,
            proof_key: std::sync::Mutex::new(None),
        }
    }

    /// The key join proofs are made with, for the server whose `hello` had `server`;
    /// None for a low-order server key.
    pub fn proof_key(&self, server: &[u8; 32]) -> Option<[u8; 32]> {
        let mut cache = self.proof_key.lock().ok()?;
        if let Some((for_server, key)) = *cache
            && for_server == *server
        {
            return Some(key);
        }
        let key = *sanctuary::verifier::proof_key(&self.keys.k_auth, server).ok()?;
        *cache = Some((*server, key));
        Some(key)
    }

    /// The room's verifier, for a `create`.
    pub fn verifier(&self) -> String {
        crypto::b64u_encode(&sanctuary::verifier::verifier(&self.keys.k_auth))
    }

    /// A `msg` envelope from `from`, as the page would seal it (the caller picks a
    /// unique IV).
    pub fn seal(&self, from: &str, iv: [u8; 16], text: &[u8]) -> String {
        let h = Header {
            room: &self.id,
            kind: Kind::Msg,
            from,
            to: "",
        };
        // Version 1 (no stamp) keeps the peek above at the envelope's start; the server
        // relays both versions alike, so the figures hold for v2.
        crypto::seal_with_iv(&self.keys, &h, iv, None, text)
    }

    /// The stamp of a `msg` body without checking its tag: base64 of the first 51
    /// bytes, then AES-CTR over the first two blocks. `None` if it is not ours.
    pub fn peek(&self, body: &[u8]) -> Option<Stamp> {
        let raw = decode_prefix(body)?;
        if raw[0] != crypto::ENVELOPE_V1 {
            return None;
        }
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&raw[1..17]);
        let counter = u128::from_be_bytes(iv);
        let mut blocks = [
            GenericArray::from(counter.to_be_bytes()),
            GenericArray::from(counter.wrapping_add(1).to_be_bytes()),
        ];
        self.aes.encrypt_blocks(&mut blocks);
        let mut text = [0u8; STAMP_LEN];
        for (i, t) in text.iter_mut().enumerate() {
            *t = raw[17 + i] ^ blocks[i / 16][i % 16];
        }
        parse_stamp(&text)
    }

    /// The full check a member's page makes: tag over room, kind, sender and
    /// ciphertext, then the whole text must be what was sent with that stamp.
    pub fn verify(&self, from: &str, body: &str, seen: &Stamp) -> bool {
        let h = Header {
            room: &self.id,
            kind: Kind::Msg,
            from,
            to: "",
        };
        match crypto::open(&self.keys, &h, body) {
            Ok(opened) => opened.text.as_bytes() == plaintext(seen),
            Err(_) => false,
        }
    }
}

/// A relayed `msg` as the server encodes it:
/// `{"t":"msg","from":A,"body":B,"ts":MS,"seq":N}`.
pub struct Relayed<'a> {
    pub from: &'a [u8],
    pub body: &'a [u8],
    pub seq: u64,
}

fn take_until_quote(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = s.iter().position(|&b| b == b'"')?;
    Some((&s[..end], &s[end + 1..]))
}

fn take_digits(s: &[u8]) -> Option<(u64, &[u8])> {
    let end = s.iter().position(|b| !b.is_ascii_digit())?;
    let value = s[..end].iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    (end > 0).then_some((value, &s[end..]))
}

/// Reads a relayed `msg` by position. `None` for anything else, which the caller
/// then parses as JSON (so a change of field order is slow, never wrong).
pub fn relayed(payload: &[u8]) -> Option<Relayed<'_>> {
    let s = payload.strip_prefix(br#"{"t":"msg","from":""#)?;
    let (from, s) = take_until_quote(s)?;
    let s = s.strip_prefix(br#","body":""#)?;
    let (body, s) = take_until_quote(s)?;
    let s = s.strip_prefix(br#","ts":"#)?;
    let (_, s) = take_digits(s)?;
    let s = s.strip_prefix(br#","seq":"#)?;
    let (seq, s) = take_digits(s)?;
    (s == b"}").then_some(Relayed { from, body, seq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_the_stamp_that_verify_confirms() {
        let room = RoomCrypto::new("r".repeat(22), RoomKeys::from_master(&[3; 32]));
        let stamp = Stamp {
            sender: 7,
            number: 42,
            sent_ns: 123_456_789,
        };
        let mut iv = [0xff; 16];
        iv[15] = 0xff; // the counter carries across bytes between the two blocks
        let body = room.seal("al", iv, &plaintext(&stamp));
        assert_eq!(room.peek(body.as_bytes()), Some(stamp));
        assert!(room.verify("al", &body, &stamp));
        assert!(!room.verify("bo", &body, &stamp));
    }

    #[test]
    fn relayed_frames_are_read_by_position() {
        let f = br#"{"t":"msg","from":"u1","body":"AQID","ts":17,"seq":9}"#;
        let r = relayed(f).expect("ours");
        assert_eq!((r.from, r.body, r.seq), (&b"u1"[..], &b"AQID"[..], 9));
        assert!(relayed(br#"{"t":"joined","alias":"x"}"#).is_none());
    }
}
