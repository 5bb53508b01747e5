//! KBS protocol inputs a server or guest receives: JWS tokens, JWKs, protocol
//! messages and JWE resource responses, from arbitrary bytes.
#![no_main]

use std::sync::OnceLock;

use arca_kbs_protocol::jwk::Jwk;
use arca_kbs_protocol::messages::{Attestation, Request, Response};
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use arca_kbs_protocol::{jws, jws::VerifyingKey};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static TeeKeyPair {
    static KEY: OnceLock<TeeKeyPair> = OnceLock::new();
    KEY.get_or_init(|| TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).expect("key generation"))
}

fn signer() -> &'static VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| jws::SigningKey::generate_es256().verifying_key())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = jws::decode_unverified(text);
    let _ = jws::verify(text, std::slice::from_ref(signer()));
    if let Ok(jwk) = Jwk::from_json(text) {
        let _ = jwk.thumbprint_sha256();
        let _ = VerifyingKey::from_jwk(&jwk);
    }
    let _ = serde_json::from_str::<Request>(text);
    let _ = serde_json::from_str::<Attestation>(text);
    if let Ok(response) = serde_json::from_str::<Response>(text) {
        let _ = key().decrypt(&response);
    }
});
