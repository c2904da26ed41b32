//! The Rust crypto module against the independent vectors in tests/vectors/v1.json
//! and tests/vectors/v2.json (made by tests/vectors/make_v2.py).

use sanctuary::crypto::{self, Header, Kind, OpenError, RoomKeys, Stamp};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("vectors/v1.json");
    serde_json::from_str(text).expect("tests/vectors/v1.json is valid JSON")
}

fn vectors_v2() -> Value {
    let text = include_str!("vectors/v2.json");
    serde_json::from_str(text).expect("tests/vectors/v2.json is valid JSON")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key}"))
}

fn kind(name: &str) -> Kind {
    match name {
        "msg" => Kind::Msg,
        "purr" => Kind::Purr,
        "exit" => Kind::Exit,
        other => panic!("unknown kind {other}"),
    }
}

fn keys_of(case: &Value) -> RoomKeys {
    RoomKeys {
        k_enc: hex(s(case, "k_enc")).try_into().expect("32 bytes"),
        k_mac: hex(s(case, "k_mac")).try_into().expect("32 bytes"),
        k_auth: hex(s(case, "k_auth")).try_into().expect("32 bytes"),
    }
}

#[test]
fn key_schedule_matches_every_case() {
    let v = vectors();
    assert_eq!(v["iterations"], crypto::ITERATIONS);
    for case in v["cases"].as_array().expect("cases") {
        let master = crypto::master_key(s(case, "room"), s(case, "secret"));
        assert_eq!(
            master.to_vec(),
            hex(s(case, "master")),
            "master of {}",
            s(case, "room")
        );
        let keys = RoomKeys::derive(s(case, "room"), s(case, "secret"));
        let want = keys_of(case);
        assert_eq!(keys.k_enc, want.k_enc);
        assert_eq!(keys.k_mac, want.k_mac);
        assert_eq!(keys.k_auth, want.k_auth);
        assert_eq!(crypto::b64u_encode(&keys.k_auth), s(case, "auth_b64u"));
    }
}

#[test]
fn join_proofs_match_and_verify() {
    for case in vectors()["cases"].as_array().expect("cases") {
        let keys = keys_of(case);
        let nonce = crypto::b64u_decode(s(case, "nonce")).expect("nonce is base64url");
        let (room, alias) = (s(case, "room"), s(case, "alias"));
        let proof = crypto::join_proof(&keys.k_auth, &nonce, room, alias);
        assert_eq!(crypto::b64u_encode(&proof), s(case, "join_proof"));
        assert!(crypto::verify_join_proof(
            &keys.k_auth,
            &nonce,
            room,
            alias,
            &proof
        ));
        assert!(!crypto::verify_join_proof(
            &keys.k_auth,
            &nonce,
            room,
            "other",
            &proof
        ));
    }
}

#[test]
fn envelopes_seal_to_the_vector_bytes_and_open_to_the_plaintext() {
    for case in vectors()["cases"].as_array().expect("cases") {
        let keys = keys_of(case);
        for env in case["envelopes"].as_array().expect("envelopes") {
            let h = Header {
                room: s(case, "room"),
                kind: kind(s(env, "kind")),
                from: s(env, "from"),
                to: s(env, "to"),
            };
            let iv: [u8; 16] = hex(s(env, "iv")).try_into().expect("16-byte iv");
            let plaintext = s(env, "plaintext");
            assert_eq!(
                crypto::seal_with_iv(&keys, &h, iv, None, plaintext.as_bytes()),
                s(env, "body")
            );
            let opened = crypto::open(&keys, &h, s(env, "body")).expect("opens");
            assert_eq!((opened.text.as_str(), opened.stamp), (plaintext, None));
            assert!(crypto::is_well_formed_body(s(env, "body")));
        }
    }
}

#[test]
fn every_must_reject_envelope_is_refused() {
    let v = vectors();
    let cases = v["cases"].as_array().expect("cases");
    let rejects = v["must_reject"].as_array().expect("must_reject");
    assert!(!rejects.is_empty());
    for bad in rejects {
        let case = cases
            .iter()
            .find(|c| c["room"] == bad["room"])
            .expect("a must_reject names a case's room");
        let h = Header {
            room: s(bad, "room"),
            kind: kind(s(bad, "kind")),
            from: s(bad, "from"),
            to: s(bad, "to"),
        };
        let got = crypto::open(&keys_of(case), &h, s(bad, "body"));
        assert!(
            matches!(got, Err(OpenError::BadTag | OpenError::Malformed)),
            "{}: {got:?}",
            s(bad, "why")
        );
    }
}

fn header_of<'a>(room: &'a str, v: &'a Value) -> Header<'a> {
    Header {
        room,
        kind: kind(s(v, "kind")),
        from: s(v, "from"),
        to: s(v, "to"),
    }
}

fn stamp_of(v: &Value) -> Stamp {
    Stamp {
        sid: hex(s(v, "sid")).try_into().expect("8-byte sid"),
        counter: v["counter"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .expect("u32 counter"),
        sent_ms: v["sent_ms"].as_u64().expect("u64 sent_ms"),
    }
}

#[test]
fn v2_keys_derive_from_each_cases_room_and_secret() {
    for case in vectors_v2()["cases"].as_array().expect("cases") {
        let keys = RoomKeys::derive(s(case, "room"), s(case, "secret"));
        let want = keys_of(case);
        assert_eq!(
            (keys.k_enc, keys.k_mac, keys.k_auth),
            (want.k_enc, want.k_mac, want.k_auth)
        );
    }
}

#[test]
fn v2_envelopes_seal_to_the_vector_bytes_and_open_to_their_text_and_stamp() {
    for case in vectors_v2()["cases"].as_array().expect("cases") {
        let keys = keys_of(case);
        for env in case["envelopes"].as_array().expect("envelopes") {
            let h = header_of(s(case, "room"), env);
            let iv: [u8; 16] = hex(s(env, "iv")).try_into().expect("16-byte iv");
            let stamp = stamp_of(env);
            let plaintext = s(env, "plaintext");
            assert_eq!(
                crypto::seal_with_iv(&keys, &h, iv, Some(&stamp), plaintext.as_bytes()),
                s(env, "body")
            );
            let opened = crypto::open(&keys, &h, s(env, "body")).expect("opens");
            assert_eq!(
                (opened.text.as_str(), opened.stamp),
                (plaintext, Some(stamp))
            );
            assert!(crypto::is_well_formed_body(s(env, "body")));
        }
    }
}

#[test]
fn every_v2_must_reject_envelope_is_refused_for_its_flaw() {
    let v = vectors_v2();
    let case = &v["cases"][0];
    let keys = keys_of(case);
    let rejects = v["must_reject"].as_array().expect("must_reject");
    assert!(rejects.len() >= 14, "the vector file lost cases");
    for bad in rejects {
        assert_eq!(bad["room"], case["room"]);
        let got = crypto::open(&keys, &header_of(s(bad, "room"), bad), s(bad, "body"));
        assert!(
            matches!(got, Err(OpenError::BadTag | OpenError::Malformed)),
            "{}: {got:?}",
            s(bad, "why")
        );
    }
    // The envelope the rejects were made from opens: they fail for their flaw only.
    let source = &v["reject_source"];
    let opened = crypto::open(
        &keys,
        &header_of(s(source, "room"), source),
        s(source, "body"),
    )
    .expect("the untouched envelope opens");
    assert_eq!(opened.text, s(source, "plaintext"));
    assert_eq!(opened.stamp, Some(stamp_of(source)));
}
