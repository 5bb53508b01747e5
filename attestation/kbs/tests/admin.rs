//! Admin API over HTTP: authorization (Bearer JWT, identity providers,
//! roles), body limits, policies and reference values.

mod common;

use arca_kbs::config::{AuthorizationMode, IdentityProvider, RoleRule};
use arca_kbs::server::TestHooks;
use arca_kbs_protocol::jws::SigningKey;
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use base64::Engine;
use common::*;
use serde_json::{json, Value};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn post(url: String) -> reqwest::RequestBuilder {
    reqwest::Client::new().post(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_without_or_with_bad_tokens_are_denied() {
    let kbs = start_sample();
    let url = format!("{}/kbs/v0/resource/default/key/1", kbs.url);
    // No token.
    let detail = expect_error(post(url.clone()).body("x").send().await.unwrap(), 401, "AdminAuthAccess").await;
    assert!(detail.contains("Bearer"), "{detail}");
    // Garbage token.
    let resp = post(url.clone()).bearer_auth("not.a.jwt").body("x").send().await.unwrap();
    expect_error(resp, 401, "AdminAuthAccess").await;
    // Well-formed token from a key the server does not know.
    let stranger = SigningKey::generate_ed25519();
    let resp =
        post(url.clone()).bearer_auth(token_with(&stranger, json!({"role": "admin"}))).body("x").send().await.unwrap();
    let detail = expect_error(resp, 401, "AdminAuthAccess").await;
    assert!(detail.contains("not signed by any identity provider"), "{detail}");
    // Right key, expired.
    let key = data_dir_admin_key(kbs.data_dir.path());
    let expired = token_with(&key, json!({"role": "admin", "iat": now_unix() - 7200, "exp": now_unix() - 3600}));
    expect_error(post(url.clone()).bearer_auth(expired).body("x").send().await.unwrap(), 401, "AdminAuthAccess").await;
    // Right key, a role with no rule.
    let reader = token_with(&key, json!({"role": "reader"}));
    let detail =
        expect_error(post(url.clone()).bearer_auth(reader).body("x").send().await.unwrap(), 401, "AdminAuthAccess")
            .await;
    assert!(detail.contains("reader"), "{detail}");
    // The real admin token works.
    assert_eq!(post(url).bearer_auth(admin_token(&kbs)).body("x").send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_provider_checks_iss_aud_and_role_paths() {
    let dir = tempfile::tempdir().unwrap();
    // An independent P-256 key pair: private half in PKCS#8 PEM, public half as SPKI PEM.
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let es = SigningKey::from_pkcs8_pem(&secret.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
    let pub_path = dir.path().join("writer.pub.pem");
    std::fs::write(&pub_path, secret.public_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let mut config = base_config();
    config.admin.identity_providers =
        vec![IdentityProvider { public_key_path: pub_path, iss: Some("ops".into()), aud: Some("arca-kbs".into()) }];
    config.admin.roles =
        vec![RoleRule { role: "resource-writer".into(), allowed: vec!["^/kbs/v0/resource/.+$".into()] }];
    let kbs = start_with(config, TestHooks::default());
    let res = format!("{}/kbs/v0/resource/r/t/1", kbs.url);
    let good = token_with(&es, json!({"role": "resource-writer", "iss": "ops", "aud": "arca-kbs"}));
    assert_eq!(post(res.clone()).bearer_auth(&good).body("v").send().await.unwrap().status(), 200);
    let wrong_iss = token_with(&es, json!({"role": "resource-writer", "iss": "dev", "aud": "arca-kbs"}));
    let detail =
        expect_error(post(res.clone()).bearer_auth(wrong_iss).body("v").send().await.unwrap(), 401, "AdminAuthAccess")
            .await;
    assert!(detail.contains("iss"), "{detail}");
    let wrong_aud = token_with(&es, json!({"role": "resource-writer", "iss": "ops", "aud": "other"}));
    expect_error(post(res.clone()).bearer_auth(wrong_aud).body("v").send().await.unwrap(), 401, "AdminAuthAccess")
        .await;
    // The role's rule does not cover the resource policy.
    let policy = json!({"policy": B64URL.encode("package policy\ndefault allow = false\n")});
    let resp =
        post(format!("{}/kbs/v0/resource-policy", kbs.url)).bearer_auth(&good).json(&policy).send().await.unwrap();
    let detail = expect_error(resp, 401, "AdminAuthAccess").await;
    assert!(detail.contains("resource-writer") && detail.contains("/kbs/v0/resource-policy"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_all_and_insecure_allow_all_apply_only_when_configured() {
    let mut config = base_config();
    config.admin.authorization_mode = AuthorizationMode::DenyAll;
    let kbs = start_with(config, TestHooks::default());
    let resp = put_resource(&kbs, "a/b/c", b"v").await;
    let detail = expect_error(resp, 401, "AdminAuthAccess").await;
    assert!(detail.contains("DenyAll"), "{detail}");

    let mut config = base_config();
    config.admin.authorization_mode = AuthorizationMode::InsecureAllowAll;
    let kbs = start_with(config, TestHooks::default());
    let resp = post(format!("{}/kbs/v0/resource/a/b/c", kbs.url)).body("v").send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_with_413() {
    let mut config = base_config();
    config.http_server.payload_request_size = 4096;
    let kbs = start_with(config, TestHooks::default());
    let resp = put_resource(&kbs, "a/b/big", &vec![7u8; 4097]).await;
    let detail = expect_error(resp, 413, "HTTPFailed").await;
    assert!(detail.contains("4096"), "{detail}");
    assert_eq!(put_resource(&kbs, "a/b/small", &vec![7u8; 4096]).await.status(), 200);
    let big_auth = json!({"version": "0.4.0", "tee": "sample", "extra-params": "x".repeat(5000)});
    let resp = post(format!("{}/kbs/v0/auth", kbs.url)).json(&big_auth).send().await.unwrap();
    expect_error(resp, 413, "HTTPFailed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_delete_and_policy_round_trips() {
    let kbs = start_sample();
    let admin = admin_token(&kbs);
    assert_eq!(put_resource(&kbs, "a/b/c", b"v").await.status(), 200);
    let del =
        |path: &str| reqwest::Client::new().delete(format!("{}/kbs/v0/resource/{path}", kbs.url)).bearer_auth(&admin);
    assert_eq!(del("a/b/c").send().await.unwrap().status(), 200);
    let detail = expect_error(del("a/b/c").send().await.unwrap(), 401, "PluginInternalError").await;
    assert!(detail.contains("not found"), "{detail}");

    // A resource policy that denies everything, then one that does not compile.
    let deny = "package policy\ndefault allow = false\n";
    let resp = post(format!("{}/kbs/v0/resource-policy", kbs.url))
        .bearer_auth(&admin)
        .json(&json!({"policy": B64URL.encode(deny)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got: Value = reqwest::Client::new()
        .get(format!("{}/kbs/v0/resource-policy", kbs.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(B64URL.decode(got["policy"].as_str().unwrap()).unwrap(), deny.as_bytes());
    let resp = post(format!("{}/kbs/v0/resource-policy", kbs.url))
        .bearer_auth(&admin)
        .json(&json!({"policy": B64URL.encode("package policy\nallow {")}))
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "ParsePolicyError").await;
    // The deny-all policy is in force for an attested sample guest.
    assert_eq!(put_resource(&kbs, "a/b/d", b"v").await.status(), 200);
    let c = client();
    rcar_sample(&c, &kbs.url, &TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap()).await;
    let resp = c.get(format!("{}/kbs/v0/resource/a/b/d", kbs.url)).send().await.unwrap();
    expect_error(resp, 401, "PolicyDeny").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_policy_and_reference_values_through_the_admin_api() {
    let kbs = start_sample();
    let admin = admin_token(&kbs);
    let rego = arca_kbs::policy::DEFAULT_ATTESTATION_POLICY;
    let body = json!({"type": "rego", "policy_id": "custom", "policy": B64URL.encode(rego)});
    let resp =
        post(format!("{}/kbs/v0/attestation-policy", kbs.url)).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ids: Vec<String> = reqwest::Client::new()
        .get(format!("{}/kbs/v0/attestation-policy", kbs.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ids.contains(&"custom".to_string()), "{ids:?}");
    let bad = json!({"type": "json", "policy_id": "x", "policy": B64URL.encode(rego)});
    let resp =
        post(format!("{}/kbs/v0/attestation-policy", kbs.url)).bearer_auth(&admin).json(&bad).send().await.unwrap();
    expect_error(resp, 401, "ParsePolicyError").await;

    let payload = base64::engine::general_purpose::STANDARD.encode(json!({"svn": ["1", "2"]}).to_string());
    let msg = json!({"version": "0.1.0", "type": "sample", "payload": payload});
    let resp = post(format!("{}/kbs/v0/reference-value", kbs.url)).bearer_auth(&admin).json(&msg).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let values: Value = reqwest::Client::new()
        .get(format!("{}/kbs/v0/reference-value/svn", kbs.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(values, json!(["1", "2"]));
    let bad = json!({"version": "9.9.9", "type": "sample", "payload": payload});
    let resp = post(format!("{}/kbs/v0/reference-value", kbs.url)).bearer_auth(&admin).json(&bad).send().await.unwrap();
    expect_error(resp, 401, "RvpsError").await;
}
