//! **Extension** (issue 17): what a room's `k_auth` becomes on the wire and on the
//! server, so that neither a sniffer of `create` nor the server's memory holds a way in.
//!
//! `k_auth` is taken as an X25519 secret scalar. Its public key, the *verifier*, is
//! what `create` and rekeys carry. The server has a key pair of its own, made at
//! start-up and never stored, whose public half is in `hello`. A join proof is the v1
//! HMAC keyed with `X25519(k_auth, server_pub)`, which the server computes once per
//! room (and rekey) as `X25519(server_secret, verifier)`: a verifier alone, or a proof
//! bound to another connection's nonce, lets no one in. The X25519 is done on the
//! connection thread that parsed the request, never on the broker thread, so a flood
//! of creates slows only the connections sending it.

use std::fmt;

use zeroize::Zeroizing;

use crate::x25519::{self, LowOrderPoint};

/// The verifier of a room: `X25519(k_auth, 9)`, public by design.
pub fn verifier(k_auth: &[u8; 32]) -> [u8; 32] {
    x25519::public_key(k_auth)
}

/// The client's HMAC key for join proofs: `X25519(k_auth, server_pub)`. Refused when
/// the server's key is a low-order point (the key would be all zero, known to all).
pub fn proof_key(
    k_auth: &[u8; 32],
    server_public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, LowOrderPoint> {
    x25519::shared_secret(k_auth, server_public).map(Zeroizing::new)
}

/// A room's verifier with the proof key the server derived from it.
#[derive(PartialEq, Eq)]
pub struct RoomAuth {
    /// Public, yet part of a room's state: boxed and wiped like the key, so an ended
    /// room leaves no trace of it either.
    pub verifier: Box<Zeroizing<[u8; 32]>>,
    /// `X25519(server_secret, verifier)`: boxed so its one copy never moves, wiped on drop.
    pub dh: Box<Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for RoomAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The proof key is a secret: never printed, not even in a test failure.
        f.debug_struct("RoomAuth")
            .field("verifier", &**self.verifier)
            .finish_non_exhaustive()
    }
}

/// The server's key pair, made at start-up, in memory only, wiped at exit.
pub struct ServerKey {
    secret: Box<Zeroizing<[u8; 32]>>,
    public: [u8; 32],
}

impl ServerKey {
    pub fn generate() -> ServerKey {
        ServerKey::from_secret(crate::crypto::random_bytes())
    }

    pub fn from_secret(secret: [u8; 32]) -> ServerKey {
        let secret = Box::new(Zeroizing::new(secret));
        let public = x25519::public_key(&secret);
        ServerKey { secret, public }
    }

    /// What `hello` announces.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The proof key of a room with this verifier; a low-order verifier is refused.
    pub fn room_auth(&self, verifier: [u8; 32]) -> Result<RoomAuth, LowOrderPoint> {
        let verifier = Box::new(Zeroizing::new(verifier));
        let dh = Box::new(Zeroizing::new(x25519::shared_secret(
            &self.secret,
            &verifier,
        )?));
        Ok(RoomAuth { verifier, dh })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_and_the_server_reach_the_same_proof_key() {
        let server = ServerKey::from_secret([3; 32]);
        let k_auth = [7; 32];
        let auth = server
            .room_auth(verifier(&k_auth))
            .expect("a valid verifier");
        let client = proof_key(&k_auth, server.public()).expect("a valid server key");
        assert_eq!(**auth.dh, *client);
        assert_ne!(*client, k_auth, "the proof key is not k_auth");
        assert_ne!(**auth.verifier, k_auth, "the verifier is not k_auth");
    }

    #[test]
    fn a_low_order_verifier_is_refused_and_the_secret_is_not_printed() {
        let server = ServerKey::from_secret([3; 32]);
        assert_eq!(server.room_auth([0; 32]), Err(LowOrderPoint));
        let auth = server.room_auth(verifier(&[7; 32])).expect("valid");
        let shown = format!("{auth:?}");
        assert!(!shown.contains(&format!("{:?}", **auth.dh)), "{shown}");
    }
}
