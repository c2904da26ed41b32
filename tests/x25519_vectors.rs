//! src/x25519.rs against tests/vectors/x25519.json: RFC 7748 sections 5.2 and 6.1 (the
//! 1,000-iteration case too) and cases made by Python's cryptography
//! (tests/vectors/make_x25519.py), an implementation independent of ours.

use sanctuary::x25519::{self, LowOrderPoint};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/x25519.json"))
        .expect("tests/vectors/x25519.json is valid JSON")
}

fn b32(v: &Value, key: &str) -> [u8; 32] {
    let text = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key}"));
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect();
    bytes.try_into().expect("32 bytes")
}

fn cases<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("vector list {key}"))
}

#[test]
fn scalar_mult_matches_every_case_top_bit_set_and_u_over_p_included() {
    let v = vectors();
    let all = cases(&v, "scalar_mult");
    assert!(all.len() >= 42);
    for case in all {
        assert_eq!(
            x25519::scalar_mult(&b32(case, "scalar"), &b32(case, "u")),
            b32(case, "out"),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn iterating_from_nine_gives_rfc_7748_results_after_1_and_1000() {
    let v = vectors();
    let mut k = x25519::BASE_POINT;
    let mut u = x25519::BASE_POINT;
    for i in 1..=1000 {
        let next = x25519::scalar_mult(&k, &u);
        u = k;
        k = next;
        if let Some(want) = v["iterated"].get(i.to_string()) {
            assert_eq!(k, b32(&v["iterated"], &i.to_string()), "after {i}: {want}");
        }
    }
}

#[test]
fn public_keys_and_shared_secrets_match_every_dh_case_both_ways() {
    let v = vectors();
    for case in cases(&v, "dh") {
        let (a, b) = (b32(case, "a_secret"), b32(case, "b_secret"));
        assert_eq!(x25519::public_key(&a), b32(case, "a_public"));
        assert_eq!(x25519::public_key(&b), b32(case, "b_public"));
        let shared = b32(case, "shared");
        assert_eq!(
            x25519::shared_secret(&a, &x25519::public_key(&b)),
            Ok(shared)
        );
        assert_eq!(
            x25519::shared_secret(&b, &x25519::public_key(&a)),
            Ok(shared)
        );
    }
}

#[test]
fn every_low_order_point_gives_zero_and_is_refused_as_a_peer_key() {
    let v = vectors();
    let secret = [0x42; 32];
    for u in v["low_order"].as_array().expect("low_order") {
        let point = b32(&serde_json::json!({ "u": u }), "u");
        assert_eq!(x25519::scalar_mult(&secret, &point), [0; 32], "{u}");
        assert_eq!(x25519::shared_secret(&secret, &point), Err(LowOrderPoint));
    }
}
