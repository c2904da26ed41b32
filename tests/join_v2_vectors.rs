//! src/verifier.rs and the server's proof check against tests/vectors/join-v2.json,
//! made by tests/vectors/make_join_v2.py with Python's `cryptography` (an
//! implementation independent of ours): the issue 17 join, PROTOCOL.md section 5.

use sanctuary::crypto;
use sanctuary::protocol::{Request, parse_request};
use sanctuary::verifier::{self, ServerKey};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("vectors/join-v2.json");
    let v: Value = serde_json::from_str(text).expect("tests/vectors/join-v2.json is valid JSON");
    v["cases"].as_array().expect("cases").clone()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key}"))
}

fn bytes32(text: &str) -> [u8; 32] {
    let raw: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect();
    raw.try_into().expect("32 bytes")
}

fn b64u32(text: &str) -> [u8; 32] {
    crypto::b64u_decode(text)
        .and_then(|raw| raw.try_into().ok())
        .expect("b64u of 32 bytes")
}

#[test]
fn the_client_side_matches_every_case_and_the_v1_proof_differs() {
    let cases = cases();
    assert!(cases.len() >= 8);
    for c in &cases {
        let k_auth = bytes32(s(c, "k_auth"));
        let v = crypto::b64u_encode(&verifier::verifier(&k_auth));
        assert_eq!(v, s(c, "verifier"), "verifier of {}", s(c, "room"));
        let key = verifier::proof_key(&k_auth, &b64u32(s(c, "server_public"))).expect("valid");
        assert_eq!(*key, bytes32(s(c, "dh")), "proof key of {}", s(c, "room"));
        let nonce = crypto::b64u_decode(s(c, "nonce")).expect("b64u");
        let proof = crypto::join_proof(&key, &nonce, s(c, "room"), s(c, "alias"));
        assert_eq!(crypto::b64u_encode(&proof), s(c, "proof"));
        let v1 = crypto::join_proof(&k_auth, &nonce, s(c, "room"), s(c, "alias"));
        assert_eq!(crypto::b64u_encode(&v1), s(c, "v1_proof"));
        assert_ne!(s(c, "proof"), s(c, "v1_proof"));
    }
}

#[test]
fn the_server_derives_the_same_key_from_a_create_and_accepts_the_proof() {
    for c in &cases() {
        let server = ServerKey::from_secret(bytes32(s(c, "server_secret")));
        assert_eq!(crypto::b64u_encode(server.public()), s(c, "server_public"));
        let create = serde_json::json!({"t":"create","room":s(c,"room"),"alias":s(c,"alias"),
            "verifier":s(c,"verifier"),"proof":s(c,"proof")});
        let parsed = parse_request(&create.to_string()).expect("a valid create");
        let Ok(Request::Create { auth, entering }) = parsed.authenticate(&server) else {
            panic!("not an authenticated create");
        };
        assert_eq!(**auth.dh, bytes32(s(c, "dh")), "dh of {}", s(c, "room"));
        let nonce = crypto::b64u_decode(s(c, "nonce")).expect("b64u");
        assert!(crypto::verify_join_proof(
            &auth.dh,
            &nonce,
            s(c, "room"),
            s(c, "alias"),
            &entering.proof
        ));
        let v1 = crypto::b64u_decode(s(c, "v1_proof")).expect("b64u");
        assert!(!crypto::verify_join_proof(
            &auth.dh,
            &nonce,
            s(c, "room"),
            s(c, "alias"),
            &v1
        ));
    }
}
