//! Passport mode: resource GET with a Bearer token issued elsewhere. The
//! server trusts only what its `[attestation_token]` section names: JWK
//! sets, x5c chains to trusted roots, or (only when asked) a bare header jwk.

mod common;

use arca_kbs::server::TestHooks;
use arca_kbs_protocol::jws::{self, SigningKey};
use arca_kbs_protocol::messages::Response as JweResponse;
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use base64::Engine;
use common::*;
use serde_json::{json, Map, Value};

/// EAR claims for `key`, as a real RCAR on a scratch server produces them.
async fn ear_claims_for(key: &TeeKeyPair) -> Value {
    let scratch = start_sample();
    let token = rcar_sample(&client(), &scratch.url, key).await;
    claims_of(&token)
}

async fn get_with(kbs: &TestKbs, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/kbs/v0/resource/pass/port/1", kbs.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn header_with_jwk(key: &SigningKey, x5c: Option<Vec<String>>) -> Map<String, Value> {
    let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
    if let Some(chain) = x5c {
        jwk["x5c"] = json!(chain);
    }
    let mut header = Map::new();
    header.insert("jwk".into(), jwk);
    header
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_a_trusted_jwk_set_are_accepted_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = SigningKey::generate_es256();
    let jwks = dir.path().join("issuers.jwks");
    std::fs::write(&jwks, json!({"keys": [issuer.public_jwk()]}).to_string()).unwrap();
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    config.attestation_token.trusted_jwk_sets = vec![jwks];
    let kbs = start_with(config, TestHooks::default());
    assert_eq!(put_resource(&kbs, "pass/port/1", b"from elsewhere").await.status(), 200);

    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let claims = ear_claims_for(&key).await;
    let token = jws::sign(&issuer, &claims, Map::new()).unwrap();
    let resp = get_with(&kbs, &token).await;
    assert_eq!(resp.status(), 200);
    let jwe: JweResponse = resp.json().await.unwrap();
    assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), b"from elsewhere");

    // Another issuer, even with its key in the header, is refused (insecure_header_jwk is off).
    let other = SigningKey::generate_es256();
    let token = jws::sign(&other, &claims, header_with_jwk(&other, None)).unwrap();
    expect_error(get_with(&kbs, &token).await, 401, "TokenVerifierError").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_jwk_is_trusted_only_with_insecure_header_jwk() {
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    config.attestation_token.insecure_header_jwk = true;
    let kbs = start_with(config, TestHooks::default());
    assert_eq!(put_resource(&kbs, "pass/port/1", b"x").await.status(), 200);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let claims = ear_claims_for(&key).await;
    let other = SigningKey::generate_es256();
    let token = jws::sign(&other, &claims, header_with_jwk(&other, None)).unwrap();
    assert_eq!(get_with(&kbs, &token).await.status(), 200);
    // A header jwk that is not the signing key still fails the signature check.
    let third = SigningKey::generate_es256();
    let token = jws::sign(&third, &claims, header_with_jwk(&other, None)).unwrap();
    expect_error(get_with(&kbs, &token).await, 401, "TokenVerifierError").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_jwk_with_x5c_to_a_trusted_root_is_accepted() {
    // An independent CA and signer certificate (rcgen), the signer's key in PKCS#8.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "token root");
    let ca = ca_params.clone().self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "token signer");
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let signer = SigningKey::from_pkcs8_pem(&leaf_key.serialize_pem()).unwrap();
    let x5c = vec![base64::engine::general_purpose::STANDARD.encode(leaf.der())];

    let dir = tempfile::tempdir().unwrap();
    let root_path = dir.path().join("root.pem");
    std::fs::write(&root_path, ca.pem()).unwrap();
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    config.attestation_token.trusted_certs_paths = vec![root_path];
    let kbs = start_with(config, TestHooks::default());
    assert_eq!(put_resource(&kbs, "pass/port/1", b"endorsed").await.status(), 200);

    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let claims = ear_claims_for(&key).await;
    let token = jws::sign(&signer, &claims, header_with_jwk(&signer, Some(x5c.clone()))).unwrap();
    let resp = get_with(&kbs, &token).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(key.decrypt(&resp.json().await.unwrap()).unwrap().as_slice(), b"endorsed");

    // The same chain on a server that trusts another root.
    let other_ca_key = rcgen::KeyPair::generate().unwrap();
    let other_ca = ca_params.self_signed(&other_ca_key).unwrap();
    let other_root = dir.path().join("other.pem");
    std::fs::write(&other_root, other_ca.pem()).unwrap();
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    config.attestation_token.trusted_certs_paths = vec![other_root];
    let other_kbs = start_with(config, TestHooks::default());
    assert_eq!(put_resource(&other_kbs, "pass/port/1", b"endorsed").await.status(), 200);
    let detail = expect_error(get_with(&other_kbs, &token).await, 401, "TokenVerifierError").await;
    assert!(detail.contains("endorsed"), "{detail}");
}
