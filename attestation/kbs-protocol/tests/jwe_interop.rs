//! JWE interoperability with Python's `jwcrypto`, an independent JOSE
//! implementation: it decrypts what we encrypt, and we decrypt what it
//! encrypts, for every key-management algorithm of the KBS protocol.

mod common;

use arca_kbs_protocol::jwe::{self, ALG_RSA1_5};
use arca_kbs_protocol::messages::{Response, TeePubKey};
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use serde_json::json;

const DECRYPT: &str = r#"
import sys, json
from jwcrypto import jwk, jwe
data = json.load(sys.stdin)
key = jwk.JWK.from_pem(data["pem"].encode())
token = jwe.JWE(algs=["RSA-OAEP-256", "RSA1_5", "ECDH-ES+A256KW", "A256GCM"])
token.deserialize(json.dumps(data["jwe"]), key=key)
sys.stdout.write(token.payload.hex())
"#;

const ENCRYPT: &str = r#"
import sys, json
from jwcrypto import jwk, jwe
data = json.load(sys.stdin)
pub = dict(data["pub"])
alg = data["alg"]
pub.pop("alg", None)
key = jwk.JWK(**pub)
token = jwe.JWE(bytes.fromhex(data["plaintext"]), protected=json.dumps({"alg": alg, "enc": "A256GCM"}),
                algs=["RSA-OAEP-256", "RSA1_5", "ECDH-ES+A256KW", "A256GCM"])
token.add_recipient(key)
sys.stdout.write(token.serialize())
"#;

/// Every (key algorithm, JWE alg) pair the protocol uses.
fn cases() -> Vec<(TeeKeyPair, TeePubKey)> {
    let mut out = Vec::new();
    for alg in [TeeKeyAlgorithm::EcP256, TeeKeyAlgorithm::EcP521, TeeKeyAlgorithm::RsaOaep256] {
        let k = TeeKeyPair::generate(alg).unwrap();
        let p = k.public_key();
        if alg == TeeKeyAlgorithm::RsaOaep256 {
            let rsa1_5 = jwe::with_alg(&p, ALG_RSA1_5);
            out.push((TeeKeyPair::from_pem(&k.to_pem().unwrap()).unwrap(), rsa1_5));
        }
        out.push((k, p));
    }
    out
}

#[test]
fn jwcrypto_decrypts_our_jwe() {
    require_peer!();
    for (key, public) in cases() {
        let plaintext = format!("secret for {} \u{1F511}", public.alg()).into_bytes();
        let response = jwe::encrypt(&public, &plaintext).unwrap();
        let pem = key.to_pem().unwrap();
        let out = common::python(DECRYPT, &json!({"pem": pem.as_str(), "jwe": response}));
        assert_eq!(out, hex::encode(&plaintext), "alg {} ({:?})", public.alg(), key.algorithm());
    }
}

#[test]
fn we_decrypt_jwcrypto_jwe() {
    require_peer!();
    for (key, public) in cases() {
        let plaintext = format!("from jwcrypto with {}", public.alg()).into_bytes();
        let out =
            common::python(ENCRYPT, &json!({"pub": public, "alg": public.alg(), "plaintext": hex::encode(&plaintext)}));
        let response: Response = serde_json::from_str(&out).unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &response.protected).unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], public.alg());
        assert_eq!(key.decrypt(&response).unwrap().as_slice(), plaintext.as_slice(), "alg {}", public.alg());
        // The same response tampered in its protected header no longer opens.
        let mut tampered = response.clone();
        tampered.protected.push('A');
        assert!(key.decrypt(&tampered).is_err());
    }
}
