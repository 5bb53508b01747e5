//! RCAR through the real server over HTTP on 127.0.0.1: handshake, token,
//! resource release (JWE to the TEE key) and every refusal of the protocol.

mod common;

use std::time::Duration;

use arca_kbs::server::TestHooks;
use arca_kbs_protocol::jwe;
use arca_kbs_protocol::messages::Response as JweResponse;
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use common::*;
use serde_json::{json, Value};

async fn fetch(client: &reqwest::Client, url: &str, path: &str) -> reqwest::Response {
    client.get(format!("{url}/kbs/v0/resource/{path}")).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcar_releases_resource_for_each_jwe_algorithm() {
    let kbs = start_sample();
    let secret = b"the launch key \x00\x01\x02 of the workload".to_vec();
    assert_eq!(put_resource(&kbs, "default/key/1", &secret).await.status(), 200);
    let cases: Vec<(TeeKeyPair, Option<&str>)> = vec![
        (TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap(), None),
        (TeeKeyPair::generate(TeeKeyAlgorithm::EcP521).unwrap(), None),
        (TeeKeyPair::generate(TeeKeyAlgorithm::RsaOaep256).unwrap(), None),
        (TeeKeyPair::generate(TeeKeyAlgorithm::RsaOaep256).unwrap(), Some(jwe::ALG_RSA1_5)),
    ];
    for (key, alg) in cases {
        let c = client();
        let pk = match alg {
            Some(a) => jwe::with_alg(&key.public_key(), a),
            None => key.public_key(),
        };
        let pk_json = serde_json::to_value(&pk).unwrap();
        let nonce = auth(&c, &kbs.url, "sample").await;
        let resp = attest_raw(&c, &kbs.url, &sample_attestation(&nonce, &pk_json, &pk_json)).await;
        assert_eq!(resp.status(), 200);
        let token = resp.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
        let claims = claims_of(&token);
        let cpu0 = &claims["submods"]["cpu0"];
        assert_eq!(cpu0["ear.status"], "affirming", "{claims}");
        assert_eq!(cpu0["ear.veraison.annotated-evidence"]["runtime_data_claims"]["tee-pubkey"], pk_json);
        assert_eq!(cpu0["ear.veraison.annotated-evidence"]["runtime_data_claims"]["nonce"], nonce.as_str());
        let resp = fetch(&c, &kbs.url, "default/key/1").await;
        assert_eq!(resp.status(), 200);
        let jwe: JweResponse = resp.json().await.unwrap();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &jwe.protected).unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], pk.alg());
        assert_eq!(header["enc"], "A256GCM");
        let plain = key.decrypt(&jwe).unwrap();
        assert_eq!(plain.as_slice(), secret.as_slice(), "alg {}", pk.alg());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_attest_on_attested_session_returns_the_stored_token() {
    let kbs = start_sample();
    let c = client();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let nonce = auth(&c, &kbs.url, "sample").await;
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let body = sample_attestation(&nonce, &pk, &pk);
    let t1 = attest_raw(&c, &kbs.url, &body).await.json::<Value>().await.unwrap()["token"].clone();
    let t2 = attest_raw(&c, &kbs.url, &body).await.json::<Value>().await.unwrap()["token"].clone();
    assert!(t1.is_string());
    assert_eq!(t1, t2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_nonce_on_a_new_session_is_rejected() {
    let kbs = start_sample();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let first = client();
    let nonce = auth(&first, &kbs.url, "sample").await;
    let body = sample_attestation(&nonce, &pk, &pk);
    assert_eq!(attest_raw(&first, &kbs.url, &body).await.status(), 200);
    // A second client opens its own session and replays the recorded attestation.
    let second = client();
    let _ = auth(&second, &kbs.url, "sample").await;
    let detail = expect_error(attest_raw(&second, &kbs.url, &body).await, 401, "AttestationError").await;
    assert!(detail.contains("nonce"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_without_session_cookie_is_rejected() {
    let kbs = start_sample();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let no_cookie = reqwest::Client::new();
    let body = sample_attestation("bm9uY2U=", &pk, &pk);
    let detail = expect_error(attest_raw(&no_cookie, &kbs.url, &body).await, 401, "AttestationError").await;
    assert!(detail.contains("kbs-session-id"), "{detail}");
    let resp = no_cookie
        .post(format!("{}/kbs/v0/attest", kbs.url))
        .header("cookie", "kbs-session-id=00000000000000000000000000000000")
        .json(&body)
        .send()
        .await
        .unwrap();
    let detail = expect_error(resp, 401, "AttestationError").await;
    assert!(detail.contains("unknown session"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_is_rejected_with_its_reason() {
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    let hooks = TestHooks { session_timeout: Some(Duration::from_millis(300)), ..TestHooks::default() };
    let kbs = start_with(config, hooks);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let plain = reqwest::Client::new();
    let resp = plain
        .post(format!("{}/kbs/v0/auth", kbs.url))
        .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("kbs-session-id="));
    let nonce = resp.json::<Value>().await.unwrap()["nonce"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let resp = plain
        .post(format!("{}/kbs/v0/attest", kbs.url))
        .header("cookie", &cookie)
        .json(&sample_attestation(&nonce, &pk, &pk))
        .send()
        .await
        .unwrap();
    let detail = expect_error(resp, 401, "AttestationError").await;
    assert!(detail.contains("expired"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_bound_to_another_tee_key_is_rejected() {
    let kbs = start_sample();
    let c = client();
    let bound = serde_json::to_value(TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap().public_key()).unwrap();
    let swapped = serde_json::to_value(TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap().public_key()).unwrap();
    let nonce = auth(&c, &kbs.url, "sample").await;
    let detail = expect_error(
        attest_raw(&c, &kbs.url, &sample_attestation(&nonce, &bound, &swapped)).await,
        401,
        "AttestationError",
    )
    .await;
    assert!(detail.contains("report data"), "{detail}");
    // Nothing is released on that session.
    expect_error(fetch(&c, &kbs.url, "default/key/1").await, 401, "TokenNotFound").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_protocol_version_gets_the_mismatch_error() {
    let kbs = start_sample();
    let resp = client()
        .post(format!("{}/kbs/v0/auth", kbs.url))
        .json(&json!({"version": "0.2.0", "tee": "sample", "extra-params": ""}))
        .send()
        .await
        .unwrap();
    let detail = expect_error(resp, 401, "AttestationError").await;
    assert!(detail.contains("KBS Client Protocol Version Mismatch"), "{detail}");
    assert!(detail.contains("0.2.0"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_tee_is_denied_by_policy_unless_allowed() {
    let kbs = start_with(base_config(), TestHooks::default());
    assert_eq!(put_resource(&kbs, "default/key/1", b"secret").await.status(), 200);
    let c = client();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let token = rcar_sample(&c, &kbs.url, &key).await;
    assert_eq!(claims_of(&token)["submods"]["cpu0"]["ear.status"], "contraindicated");
    let detail = expect_error(fetch(&c, &kbs.url, "default/key/1").await, 401, "PolicyDeny").await;
    // The denial names the failing rules and why.
    assert!(detail.contains("rule affirming") && detail.contains("contraindicated"), "{detail}");
    assert!(detail.contains("sample-tee"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_and_bad_paths_are_reported() {
    let kbs = start_sample();
    let c = client();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    rcar_sample(&c, &kbs.url, &key).await;
    let detail = expect_error(fetch(&c, &kbs.url, "default/key/missing").await, 401, "PluginInternalError").await;
    assert!(detail.contains("resource not found"), "{detail}");
    expect_error(fetch(&c, &kbs.url, "default/key").await, 404, "InvalidRequestPath").await;
    // An encoded slash does not make a deeper path, neither for reads nor for admin writes.
    let detail = expect_error(fetch(&c, &kbs.url, "default%2Fkey/1/x").await, 404, "InvalidRequestPath").await;
    assert!(detail.contains("repository"), "{detail}");
    expect_error(put_resource(&kbs, "a/b%2Fc/d", b"v").await, 404, "InvalidRequestPath").await;
    let resp = c.get(format!("{}/kbs/v0/nebula-ca/x", kbs.url)).send().await.unwrap();
    expect_error(resp, 404, "PluginNotFound").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_fetches_resource_without_a_session() {
    let kbs = start_sample();
    assert_eq!(put_resource(&kbs, "repo/type/tag", b"passport secret").await.status(), 200);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP521).unwrap();
    let token = rcar_sample(&client(), &kbs.url, &key).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/kbs/v0/resource/repo/type/tag", kbs.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let jwe: JweResponse = resp.json().await.unwrap();
    assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), b"passport secret");
    // Without any token.
    let resp = reqwest::Client::new().get(format!("{}/kbs/v0/resource/repo/type/tag", kbs.url)).send().await.unwrap();
    expect_error(resp, 401, "TokenNotFound").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_untrusted_bearer_tokens_are_rejected() {
    let kbs = start_sample();
    assert_eq!(put_resource(&kbs, "repo/type/tag", b"x").await.status(), 200);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let token = rcar_sample(&client(), &kbs.url, &key).await;
    let mut claims = claims_of(&token);
    let token_key = data_dir_token_key(&kbs);
    claims["iat"] = json!(now_unix() - 3600);
    claims["exp"] = json!(now_unix() - 60);
    let expired = arca_kbs_protocol::jws::sign(&token_key, &claims, serde_json::Map::new()).unwrap();
    let get = |t: String| {
        let url = format!("{}/kbs/v0/resource/repo/type/tag", kbs.url);
        async move { reqwest::Client::new().get(url).bearer_auth(t).send().await.unwrap() }
    };
    let detail = expect_error(get(expired).await, 401, "TokenVerifierError").await;
    assert!(detail.contains("exp") || detail.contains("expired"), "{detail}");
    // Same claims, signed by a key the server does not trust, with that key in the header.
    let stranger = arca_kbs_protocol::jws::SigningKey::generate_es256();
    let mut header = serde_json::Map::new();
    header.insert("jwk".into(), serde_json::to_value(stranger.public_jwk()).unwrap());
    let mut fresh = claims_of(&token);
    fresh["exp"] = json!(now_unix() + 300);
    let forged = arca_kbs_protocol::jws::sign(&stranger, &fresh, header).unwrap();
    let detail = expect_error(get(forged).await, 401, "TokenVerifierError").await;
    assert!(detail.contains("insecure_header_jwk"), "{detail}");
}

fn data_dir_token_key(kbs: &TestKbs) -> arca_kbs_protocol::jws::SigningKey {
    let pem = std::fs::read_to_string(kbs.data_dir.path().join("token-key.pem")).unwrap();
    arca_kbs_protocol::jws::SigningKey::from_pkcs8_pem(&pem).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_flood_keeps_sessions_capped() {
    let mut config = base_config();
    config.attestation_service.max_sessions = 64;
    let kbs = start_with(config, TestHooks::default());
    let c = reqwest::Client::new();
    for _ in 0..600 {
        let resp = c
            .post(format!("{}/kbs/v0/auth", kbs.url))
            .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let text = c.get(format!("{}/metrics", kbs.url)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("arca_kbs_active_sessions ")).unwrap();
    let count: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(count, 64, "{line}");
    assert!(
        text.contains(r#"arca_kbs_http_requests_total{route="/kbs/v0/auth",method="POST",status="200"} 600"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_attestations_and_resource_reads() {
    let kbs = start_sample();
    assert_eq!(put_resource(&kbs, "a/b/c", b"v").await.status(), 200);
    let c = client();
    rcar_sample(&c, &kbs.url, &TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap()).await;
    assert_eq!(fetch(&c, &kbs.url, "a/b/c").await.status(), 200);
    assert_eq!(fetch(&c, &kbs.url, "a/b/missing").await.status(), 401);
    let text = c.get(format!("{}/metrics", kbs.url)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"arca_kbs_attestations_total{tee="sample",result="affirming"} 1"#), "{text}");
    assert!(text.contains(r#"arca_kbs_resource_reads_total{result="released"} 1"#), "{text}");
    assert!(text.contains(r#"arca_kbs_resource_reads_total{result="not_found"} 1"#), "{text}");
    assert_eq!(c.get(format!("{}/healthz", kbs.url)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_data_is_hashed_with_its_algorithm_and_echoed_in_the_token() {
    use sha2::Digest;
    let kbs = start_sample();
    let c = client();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let toml = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"http://kbs\"\n'''\nowner = \"team-a\"\n";
    let nonce = auth(&c, &kbs.url, "sample").await;
    let mut body = sample_attestation(&nonce, &pk, &pk);
    body["init-data"] = json!({"format": "toml", "body": toml});
    let resp = attest_raw(&c, &kbs.url, &body).await;
    assert_eq!(resp.status(), 200);
    let claims = claims_of(resp.json::<Value>().await.unwrap()["token"].as_str().unwrap());
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data"], hex::encode(sha2::Sha384::digest(toml.as_bytes())));
    assert_eq!(evidence["init_data_claims"]["owner"], "team-a");
    assert_eq!(evidence["init_data_claims"]["aa.toml"]["token_configs"]["kbs"]["url"], "http://kbs");

    // Unknown algorithm or format: refused with what was expected.
    for (format, text, needle) in [("toml", toml.replace("sha384", "md5"), "md5"), ("json", "{}".to_string(), "toml")] {
        let c = client();
        let nonce = auth(&c, &kbs.url, "sample").await;
        let mut body = sample_attestation(&nonce, &pk, &pk);
        body["init-data"] = json!({"format": format, "body": text});
        let detail = expect_error(attest_raw(&c, &kbs.url, &body).await, 401, "AttestationError").await;
        assert!(detail.contains(needle), "{detail}");
    }
}

/// The attested session carries the claims the server signed; their `exp`
/// still ends the session's access when the token lifetime is shorter than
/// the session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attested_session_stops_releasing_when_its_token_expires() {
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    let hooks = TestHooks { token_lifetime: Some(Duration::from_secs(1)), ..TestHooks::default() };
    let kbs = start_with(config, hooks);
    assert_eq!(put_resource(&kbs, "repo/type/tag", b"x").await.status(), 200);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let c = client();
    rcar_sample(&c, &kbs.url, &key).await;
    let url = format!("{}/kbs/v0/resource/repo/type/tag", kbs.url);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let detail = expect_error(c.get(&url).send().await.unwrap(), 401, "TokenVerifierError").await;
    assert!(detail.contains("exp"), "{detail}");
}
