//! Shared helpers of the KBS integration tests: an in-process server on
//! 127.0.0.1:0, HTTP clients with cookies, admin tokens, RCAR with the
//! sample TEE.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use arca_kbs::config::KbsConfig;
use arca_kbs::server::{Kbs, Running, ServerOptions, TestHooks};
use arca_kbs_protocol::jws::{self, SigningKey};
use arca_kbs_protocol::tee_key::TeeKeyPair;
use arca_verifier::binding::{runtime_data_digest, HashAlgorithm};
use serde_json::{json, Value};

pub const ERR_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";

/// The shared test vectors directory.
pub fn vectors_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ARCA_VECTORS") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

pub fn vector(rel: &str) -> PathBuf {
    vectors_dir().join("attestation").join(rel)
}

pub struct TestKbs {
    pub running: Running,
    pub url: String,
    pub data_dir: tempfile::TempDir,
    pub kbs: Kbs,
}

impl Drop for TestKbs {
    fn drop(&mut self) {
        self.running.shutdown();
    }
}

/// A config listening on an ephemeral loopback port.
pub fn base_config() -> KbsConfig {
    let mut c = KbsConfig::default();
    c.http_server.sockets = vec!["127.0.0.1:0".parse().unwrap()];
    c
}

pub fn start_with(config: KbsConfig, hooks: TestHooks) -> TestKbs {
    let data_dir = tempfile::tempdir().unwrap();
    let kbs = Kbs::new(config, data_dir.path(), ServerOptions { hooks }).expect("server builds");
    let running = kbs.start().expect("server starts");
    let url = running.url();
    TestKbs { running, url, data_dir, kbs }
}

/// A server that accepts the sample TEE.
pub fn start_sample() -> TestKbs {
    let mut c = base_config();
    c.attestation_service.allow_sample_tee = true;
    start_with(c, TestHooks::default())
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().unwrap()
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An admin token signed by `key` with `claims` extra to iat/exp.
pub fn token_with(key: &SigningKey, mut claims: Value) -> String {
    let now = now_unix();
    let obj = claims.as_object_mut().unwrap();
    obj.entry("iat").or_insert(json!(now));
    obj.entry("exp").or_insert(json!(now + 600));
    jws::sign(key, &claims, serde_json::Map::new()).unwrap()
}

pub fn data_dir_admin_key(dir: &Path) -> SigningKey {
    let pem = std::fs::read_to_string(dir.join("admin-key.pem")).unwrap();
    SigningKey::from_pkcs8_pem(&pem).unwrap()
}

/// A role-`admin` token from the data directory's admin key.
pub fn admin_token(kbs: &TestKbs) -> String {
    token_with(&data_dir_admin_key(kbs.data_dir.path()), json!({"role": "admin"}))
}

pub async fn put_resource(kbs: &TestKbs, path: &str, data: &[u8]) -> reqwest::Response {
    client()
        .post(format!("{}/kbs/v0/resource/{path}", kbs.url))
        .bearer_auth(admin_token(kbs))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap()
}

/// Assert an error reply: status and error type.
pub async fn expect_error(resp: reqwest::Response, status: u16, kind: &str) -> String {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "body: {body}");
    assert_eq!(body["type"], format!("{ERR_PREFIX}{kind}"), "body: {body}");
    body["detail"].as_str().unwrap_or("").to_string()
}

pub async fn auth(client: &reqwest::Client, url: &str, tee: &str) -> String {
    let resp = client
        .post(format!("{url}/kbs/v0/auth"))
        .json(&json!({"version": "0.4.0", "tee": tee, "extra-params": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let challenge: Value = resp.json().await.unwrap();
    challenge["nonce"].as_str().unwrap().to_string()
}

/// The attestation body for sample evidence bound to `nonce` and `bound_key`,
/// announcing `sent_key`.
pub fn sample_attestation(nonce: &str, bound_key: &Value, sent_key: &Value) -> Value {
    let digest = runtime_data_digest(HashAlgorithm::Sha384, nonce, bound_key, "").unwrap();
    let evidence = arca_verifier::sample::evidence_for(&digest);
    json!({
        "runtime-data": {"nonce": nonce, "tee-pubkey": sent_key},
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    })
}

pub async fn attest_raw(client: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    client.post(format!("{url}/kbs/v0/attest")).json(body).send().await.unwrap()
}

/// Full RCAR with the sample TEE; returns the token.
pub async fn rcar_sample(client: &reqwest::Client, url: &str, key: &TeeKeyPair) -> String {
    let nonce = auth(client, url, "sample").await;
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let resp = attest_raw(client, url, &sample_attestation(&nonce, &pk, &pk)).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The claims of a token, unverified.
pub fn claims_of(token: &str) -> Value {
    jws::decode_unverified(token).unwrap().1
}
