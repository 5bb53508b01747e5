//! JWS interoperability with Python's `jwcrypto`: it verifies our ES256 and
//! EdDSA tokens, and we verify tokens it signs with ES256, EdDSA and RS256.

mod common;

use arca_kbs_protocol::jwk::Jwk;
use arca_kbs_protocol::jws::{self, SigningKey, VerifyingKey};
use serde_json::{json, Map};

const VERIFY: &str = r#"
import sys, json
from jwcrypto import jwk, jws
data = json.load(sys.stdin)
key = jwk.JWK(**data["jwk"])
token = jws.JWS()
token.deserialize(data["token"])
token.verify(key, alg=data["alg"])
sys.stdout.write(json.dumps({"header": token.jose_header, "claims": json.loads(token.payload)}))
"#;

const SIGN: &str = r#"
import sys, json
from jwcrypto import jwk, jws
data = json.load(sys.stdin)
alg = data["alg"]
if alg == "ES256":
    key = jwk.JWK.generate(kty="EC", crv="P-256")
elif alg == "EdDSA":
    key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
else:
    key = jwk.JWK.generate(kty="RSA", size=2048)
token = jws.JWS(json.dumps(data["claims"]).encode())
token.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "typ": "JWT"}))
sys.stdout.write(json.dumps({"token": token.serialize(compact=True), "jwk": key.export_public(as_dict=True),
                             "pem": key.export_to_pem().decode()}))
"#;

#[test]
fn jwcrypto_verifies_our_tokens() {
    require_peer!();
    for key in [SigningKey::generate_es256(), SigningKey::generate_ed25519()] {
        let claims = json!({"iss": "arca", "role": "admin", "exp": 4_000_000_000u64, "nested": {"a": [1, 2]}});
        let mut extra = Map::new();
        extra.insert("kid".into(), json!("test-key"));
        let token = jws::sign(&key, &claims, extra).unwrap();
        let out = common::python(VERIFY, &json!({"jwk": key.public_jwk(), "token": token, "alg": key.alg()}));
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["claims"], claims, "{}", key.alg());
        assert_eq!(out["header"]["alg"], key.alg());
        assert_eq!(out["header"]["typ"], "JWT");
        assert_eq!(out["header"]["kid"], "test-key");

        // jwcrypto must reject the same token under another key.
        let other = match key {
            SigningKey::Es256(_) => SigningKey::generate_es256(),
            SigningKey::Ed25519(_) => SigningKey::generate_ed25519(),
        };
        let (ok, _, err) =
            common::python_status(VERIFY, &json!({"jwk": other.public_jwk(), "token": token, "alg": key.alg()}));
        assert!(!ok, "jwcrypto accepted a token under the wrong key");
        assert!(err.contains("Verification failed") || err.contains("InvalidJWSSignature"), "{err}");
    }
}

#[test]
fn we_verify_jwcrypto_tokens() {
    require_peer!();
    for alg in ["ES256", "EdDSA", "RS256"] {
        let claims = json!({"sub": "guest", "alg-under-test": alg, "exp": 4_000_000_000u64});
        let out = common::python(SIGN, &json!({"alg": alg, "claims": claims}));
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        let token = out["token"].as_str().unwrap();
        let from_jwk = VerifyingKey::from_jwk(&Jwk::from_value(&out["jwk"]).unwrap()).unwrap();
        let from_pem = VerifyingKey::from_public_pem(out["pem"].as_str().unwrap()).unwrap();
        assert_eq!(from_jwk, from_pem, "{alg}: JWK and PEM give the same key");
        assert_eq!(from_jwk.alg(), alg);
        assert_eq!(jws::verify(token, std::slice::from_ref(&from_jwk)).unwrap(), claims, "{alg}");
        jws::check_times(&claims, 1_700_000_000, 0).unwrap();

        // A flipped signature bit is caught.
        let mut bad = token.as_bytes().to_vec();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert!(jws::verify(std::str::from_utf8(&bad).unwrap(), &[from_jwk]).is_err(), "{alg}");
    }
}
