//! Whispers sealed to the recipient alone (PROTOCOL.md section 5, extension).
//!
//! Room keys are shared by every member, so a whisper sealed with them could be read
//! by anyone in the room who sees its bytes (sniffing the LAN, say). Instead each
//! connection makes a fresh X25519 key pair, announces the public half in its
//! `join`/`create` with a tag under the room's `k_mac` (so a server, which lacks the
//! room secret, cannot swap it), and a whisper between A and B is sealed with the
//! usual envelope under keys derived from X25519(sk_A, pk_B) = X25519(sk_B, pk_A).

use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{self, RoomKeys};
use crate::x25519::{self, LowOrderPoint};

/// Bytes of a `key` field once decoded: the public key, then its tag.
pub const KEY_FIELD_LEN: usize = 64;

/// This connection's key pair. Never stored; the secret is wiped on drop.
pub struct KeyPair {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

/// Why an announced key was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not base64url of 64 bytes.
    Malformed,
    /// The tag does not match the room, the alias and the key: not made by a holder of
    /// the room secret for this member (a server swapping keys, say).
    BadTag,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyError::Malformed => "whisper key is not base64url of 64 bytes",
            KeyError::BadTag => "whisper key failed authentication",
        })
    }
}

impl std::error::Error for KeyError {}

/// `HMAC(k_mac, lp("sanctuary/v1/key") || lp(room) || lp(alias) || lp(pub))`.
pub fn key_tag(k_mac: &[u8; 32], room: &str, alias: &str, public: &[u8; 32]) -> [u8; 32] {
    crypto::hmac_fields(
        k_mac,
        &[
            b"sanctuary/v1/key",
            room.as_bytes(),
            alias.as_bytes(),
            public,
        ],
    )
}

/// The public key `alias` announced in `field`, if its tag verifies (constant time).
pub fn verify_key(
    keys: &RoomKeys,
    room: &str,
    alias: &str,
    field: &str,
) -> Result<[u8; 32], KeyError> {
    let raw = crypto::b64u_decode(field)
        .filter(|raw| raw.len() == KEY_FIELD_LEN)
        .ok_or(KeyError::Malformed)?;
    let (public, tag) = raw.split_at(32);
    let public: [u8; 32] = public.try_into().map_err(|_| KeyError::Malformed)?;
    if !crypto::ct_eq(&key_tag(&keys.k_mac, room, alias, &public), tag) {
        return Err(KeyError::BadTag);
    }
    Ok(public)
}

impl KeyPair {
    /// A fresh pair from the operating system's random source.
    pub fn generate() -> KeyPair {
        KeyPair::from_secret(crypto::random_bytes())
    }

    pub fn from_secret(secret: [u8; 32]) -> KeyPair {
        let secret = Zeroizing::new(secret);
        let public = x25519::public_key(&secret);
        KeyPair { secret, public }
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The `key` field of a `join` or `create`: `b64u(pub || tag)`.
    pub fn announce(&self, keys: &RoomKeys, room: &str, alias: &str) -> String {
        let mut raw = [0u8; KEY_FIELD_LEN];
        raw[..32].copy_from_slice(&self.public);
        raw[32..].copy_from_slice(&key_tag(&keys.k_mac, room, alias, &self.public));
        crypto::b64u_encode(&raw)
    }

    /// The envelope keys of whispers between `me` (holding this pair) and `peer`
    /// (holding `peer_public`), either way: both ends derive the same.
    /// `w = HMAC(s, lp("sanctuary/v1/whisper") || lp(room) || lp(min) || lp(max))`
    /// of the two aliases, then `k_enc`, `k_mac` as from a room's master key.
    pub fn whisper_keys(
        &self,
        peer_public: &[u8; 32],
        room: &str,
        me: &str,
        peer: &str,
    ) -> Result<RoomKeys, LowOrderPoint> {
        let mut s = x25519::shared_secret(&self.secret, peer_public)?;
        let (lo, hi) = if me <= peer { (me, peer) } else { (peer, me) };
        let mut w = crypto::hmac_fields(
            &s,
            &[
                b"sanctuary/v1/whisper",
                room.as_bytes(),
                lo.as_bytes(),
                hi.as_bytes(),
            ],
        );
        let keys = RoomKeys::from_master(&w);
        s.zeroize();
        w.zeroize();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "G7BEqt7RkMfKiEM-dJA_lQ";

    #[test]
    fn announced_keys_verify_only_for_their_room_alias_and_secret() {
        let keys = RoomKeys::from_master(&[1; 32]);
        let pair = KeyPair::from_secret([2; 32]);
        let field = pair.announce(&keys, ROOM, "alice");
        assert_eq!(verify_key(&keys, ROOM, "alice", &field), Ok(*pair.public()));
        // The same key relayed as someone else's: the tag binds the alias.
        assert_eq!(
            verify_key(&keys, ROOM, "bob", &field),
            Err(KeyError::BadTag)
        );
        let other_room = RoomKeys::from_master(&[3; 32]);
        assert_eq!(
            verify_key(&other_room, ROOM, "alice", &field),
            Err(KeyError::BadTag)
        );
        assert_eq!(
            verify_key(&keys, ROOM, "alice", "AAAA"),
            Err(KeyError::Malformed)
        );
    }

    #[test]
    fn both_ends_derive_the_same_whisper_keys_and_a_third_does_not() {
        let (a, b, c) = (
            KeyPair::from_secret([4; 32]),
            KeyPair::from_secret([5; 32]),
            KeyPair::from_secret([6; 32]),
        );
        let ab = a.whisper_keys(b.public(), ROOM, "a", "b").expect("ab");
        let ba = b.whisper_keys(a.public(), ROOM, "b", "a").expect("ba");
        assert_eq!((ab.k_enc, ab.k_mac), (ba.k_enc, ba.k_mac));
        let cb = c.whisper_keys(b.public(), ROOM, "a", "b").expect("cb");
        assert_ne!(cb.k_mac, ab.k_mac);
        assert_eq!(
            a.whisper_keys(&[0; 32], ROOM, "a", "b").err(),
            Some(LowOrderPoint)
        );
    }
}
