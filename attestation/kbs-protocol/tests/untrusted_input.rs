//! Property tests: arbitrary untrusted input never panics the parsers and
//! verifiers, and never decrypts or verifies unless it is genuine.

use std::sync::OnceLock;

use arca_kbs_protocol::jwe;
use arca_kbs_protocol::jwk::{Jwk, JwkSet};
use arca_kbs_protocol::jws::{self, SigningKey, VerifyingKey};
use arca_kbs_protocol::messages::{Response, TeePubKey};
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;

fn tee_keys() -> &'static [TeeKeyPair] {
    static KEYS: OnceLock<Vec<TeeKeyPair>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [TeeKeyAlgorithm::EcP256, TeeKeyAlgorithm::EcP521, TeeKeyAlgorithm::RsaOaep256]
            .into_iter()
            .map(|a| TeeKeyPair::generate(a).unwrap())
            .collect()
    })
}

fn verifying_keys() -> &'static [VerifyingKey] {
    static KEYS: OnceLock<Vec<VerifyingKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![SigningKey::generate_es256().verifying_key(), SigningKey::generate_ed25519().verifying_key()]
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// JSON-ish text: objects with JOSE member names and odd values.
fn jsonish() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_string()),
        Just("\"RSA-OAEP-256\"".to_string()),
        Just("\"ECDH-ES+A256KW\"".to_string()),
        Just("\"A256GCM\"".to_string()),
        Just("\"ES256\"".to_string()),
        Just("\"EdDSA\"".to_string()),
        Just("\"RS256\"".to_string()),
        Just("\"none\"".to_string()),
        Just("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[A-Za-z0-9_-]{0,90}".prop_map(|s| format!("\"{s}\"")),
    ];
    let name = prop_oneof![
        Just("alg"),
        Just("enc"),
        Just("epk"),
        Just("crit"),
        Just("zip"),
        Just("apu"),
        Just("kty"),
        Just("crv"),
        Just("x"),
        Just("y"),
        Just("n"),
        Just("e"),
        Just("exp"),
        Just("x5c"),
    ];
    proptest::collection::vec((name, value), 0..6).prop_map(|members| {
        let body: Vec<String> = members.into_iter().map(|(n, v)| format!("\"{n}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic_jws(s in ".{0,400}") {
        let _ = jws::decode_unverified(&s);
        prop_assert!(jws::verify(&s, verifying_keys()).is_err());
    }

    #[test]
    fn structured_tokens_never_verify_or_panic(header in jsonish(), claims in jsonish(),
                                               sig in proptest::collection::vec(any::<u8>(), 0..80)) {
        let token = format!("{}.{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()), b64(&sig));
        let _ = jws::decode_unverified(&token);
        prop_assert!(jws::verify(&token, verifying_keys()).is_err());
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&claims) {
            let _ = jws::check_times(&v, 0, u64::MAX);
        }
    }

    #[test]
    fn arbitrary_jwk_text_never_panics(s in ".{0,300}", j in jsonish()) {
        for text in [s.as_str(), j.as_str()] {
            let _ = JwkSet::from_json(text);
            if let Ok(jwk) = Jwk::from_json(text) {
                let _ = VerifyingKey::from_jwk(&jwk);
                let _ = jwk.thumbprint_sha256();
                if let Ok(tpk) = TeePubKey::try_from(&jwk) {
                    let _ = jwe::encrypt(&tpk, b"x");
                }
            }
        }
    }

    #[test]
    fn arbitrary_jwe_never_decrypts_or_panics(protected in jsonish(), ek in proptest::collection::vec(any::<u8>(), 0..300),
                                              iv in proptest::collection::vec(any::<u8>(), 0..16),
                                              ct in proptest::collection::vec(any::<u8>(), 0..64),
                                              tag in proptest::collection::vec(any::<u8>(), 0..20),
                                              raw in ".{0,200}") {
        let response = Response {
            protected: b64(protected.as_bytes()),
            encrypted_key: b64(&ek),
            aad: None,
            unprotected: None,
            header: None,
            iv: b64(&iv),
            ciphertext: b64(&ct),
            tag: b64(&tag),
        };
        let odd = Response { protected: raw.clone(), iv: raw.clone(), ..response.clone() };
        for key in tee_keys() {
            prop_assert!(key.decrypt(&response).is_err());
            prop_assert!(key.decrypt(&odd).is_err());
        }
        if let Ok(r) = serde_json::from_str::<Response>(&raw) {
            for key in tee_keys() {
                let _ = key.decrypt(&r);
            }
        }
    }
}

proptest! {
    // Each case runs three real encryptions (P-521 arithmetic is slow unoptimized).
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn tampered_genuine_jwe_never_decrypts(which in 0usize..4, pos in any::<usize>(), bit in 0u8..8) {
        for key in tee_keys() {
            let genuine = jwe::encrypt(&key.public_key(), b"a secret resource").unwrap();
            let mut r = genuine.clone();
            let field = match which { 0 => &mut r.encrypted_key, 1 => &mut r.iv, 2 => &mut r.ciphertext, _ => &mut r.tag };
            let mut bytes = URL_SAFE_NO_PAD.decode(field.as_bytes()).unwrap();
            let i = pos % bytes.len();
            bytes[i] ^= 1 << bit;
            *field = b64(&bytes);
            prop_assert!(key.decrypt(&r).is_err());
            let plain = key.decrypt(&genuine).unwrap();
            prop_assert_eq!(plain.as_slice(), b"a secret resource");
        }
    }
}
