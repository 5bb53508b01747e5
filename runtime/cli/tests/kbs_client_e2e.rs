//! `arca-kbs-client` against the real `arca-kbs` on 127.0.0.1: RCAR with the
//! sample TEE, resource fetch and JWE decryption for each TEE key algorithm,
//! token cache and re-attestation on 401, passport mode, init-data, the
//! admin API and HTTPS with an extra root certificate.
//!
//! Parts started: an in-process `arca-kbs` (axum on a loopback port) with a
//! temporary data directory; nothing else.

mod common;

use std::time::Duration;

use arca_kbs_client::admin::AdminTokenOptions;
use arca_kbs_client::client::MAX_RESOURCE_ATTEMPTS;
use arca_kbs_client::{
    mint_admin_token, policies, AdminClient, AdminCredential, ClientOptions, Error, HttpOptions, KbsClient,
    PassportClient, ReferenceValueMessage, SampleAttester, TeeKeyAlgorithm, TeeKeyPair,
};
use common::kbs::{sample_config, self_signed_tls, start, start_in, TestKbs};
use serde_json::json;

fn admin(kbs: &TestKbs) -> AdminClient {
    let credential =
        AdminCredential::SigningKey { key: Box::new(kbs.admin_key()), claims: AdminTokenOptions::default() };
    AdminClient::new(&kbs.url, &HttpOptions::default(), credential).unwrap()
}

fn client(kbs: &TestKbs, options: ClientOptions) -> KbsClient<SampleAttester> {
    KbsClient::new(&kbs.url, SampleAttester, options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_round_trip_for_each_tee_key_algorithm() {
    let kbs = start(sample_config());
    let secret: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    admin(&kbs).set_resource("default/key/1", &secret).await.unwrap();
    for alg in [TeeKeyAlgorithm::EcP256, TeeKeyAlgorithm::EcP521, TeeKeyAlgorithm::RsaOaep256] {
        let c = client(&kbs, ClientOptions { tee_key_algorithm: alg, ..ClientOptions::default() });
        let got = c.get_resource("default/key/1").await.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(got.as_slice(), secret.as_slice(), "{alg:?}");
        // The token names this client's key and the sample TEE.
        let claims = c.token().await.unwrap().claims_unverified().unwrap();
        let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
        assert_eq!(
            evidence["runtime_data_claims"]["tee-pubkey"],
            serde_json::to_value(c.tee_key().public_key()).unwrap()
        );
        assert!(evidence.get("sample").is_some(), "{claims}");
        assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    }
    assert_eq!(kbs.attestations("sample").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_resource_opens_only_with_the_tee_key_it_was_sealed_to() {
    let kbs = start(sample_config());
    admin(&kbs).set_resource("default/key/1", b"sealed secret").await.unwrap();
    let c = client(&kbs, ClientOptions::default());
    let sealed = c.get_sealed_resource("default/key/1").await.unwrap();
    assert!(!sealed.jwe().ciphertext.is_empty());
    assert_eq!(sealed.open(c.tee_key()).unwrap().as_slice(), b"sealed secret");
    let other = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    assert!(sealed.open(&other).is_err(), "opened with a key it was not sealed to");
    // One attestation served the sealed fetch; opening needs no network.
    assert_eq!(kbs.attestations("sample").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_cached_and_refusals_lead_to_new_attestations() {
    let kbs = start(sample_config());
    let admin = admin(&kbs);
    admin.set_resource("repo/type/a", b"first").await.unwrap();
    admin.set_resource("repo/type/b", b"second").await.unwrap();
    let c = client(&kbs, ClientOptions::default());
    assert_eq!(c.get_resource("repo/type/a").await.unwrap().as_slice(), b"first");
    assert_eq!(c.get_resource("/repo/type/b").await.unwrap().as_slice(), b"second");
    assert_eq!(kbs.attestations("sample").await, 1, "the second fetch reuses the token");

    // A policy that releases nothing: 401 PolicyDeny on each attempt, a new
    // attestation before each retry, then the last refusal is reported.
    admin.set_resource_policy(policies::DENY_ALL).await.unwrap();
    let err = c.get_resource("repo/type/a").await.unwrap_err();
    assert!(matches!(err, Error::RetriesExhausted { attempts: MAX_RESOURCE_ATTEMPTS, .. }), "{err}");
    assert_eq!(err.kbs_kind(), Some("PolicyDeny"), "{err}");
    assert_eq!(err.status(), Some(401));
    assert_eq!(kbs.attestations("sample").await, 1 + u64::from(MAX_RESOURCE_ATTEMPTS) - 1);

    // The affirming policy releases to the sample TEE the server allows.
    admin.set_resource_policy(policies::AFFIRMING).await.unwrap();
    assert_eq!(c.get_resource("repo/type/a").await.unwrap().as_slice(), b"first");

    // Deleted resources are refused with the server's reason.
    admin.delete_resource("repo/type/a").await.unwrap();
    let err = c.get_resource("repo/type/a").await.unwrap_err();
    assert!(err.to_string().contains("resource not found"), "{err}");
    // A path the client cannot send is refused before any request.
    let before = kbs.attestations("sample").await;
    assert!(matches!(c.get_resource("repo/../a").await, Err(Error::InvalidResourcePath { .. })));
    assert_eq!(kbs.attestations("sample").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_kbs_no_longer_trusts_is_replaced_by_one_new_attestation() {
    let first = start(sample_config());
    admin(&first).set_resource("default/key/1", b"from the first server").await.unwrap();
    let addr = first.running.addrs[0];
    let c = std::sync::Arc::new(client(&first, ClientOptions::default()));
    assert_eq!(c.get_resource("default/key/1").await.unwrap().as_slice(), b"from the first server");

    // Another server (its own token key and sessions) on the same address.
    drop(first);
    let mut config = sample_config();
    config.http_server.sockets = vec![addr];
    let second = start_with_retry(config);
    admin(&second).set_resource("default/key/1", b"from the second server").await.unwrap();
    // Concurrent callers all hold the refused token; one attestation replaces it for all.
    let fetches: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get_resource("default/key/1").await })
        })
        .collect();
    for fetch in fetches {
        assert_eq!(fetch.await.unwrap().unwrap().as_slice(), b"from the second server");
    }
    assert_eq!(second.attestations("sample").await, 1);
}

/// Start on a fixed address that a just-stopped server may still hold for a moment.
fn start_with_retry(config: arca_kbs::config::KbsConfig) -> TestKbs {
    for _ in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let kbs = arca_kbs::server::Kbs::new(config.clone(), dir.path(), Default::default()).unwrap();
        if let Ok(running) = kbs.start() {
            let url = running.url();
            return TestKbs { running, url, data_dir: dir, kbs };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    start_in(config, tempfile::tempdir().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passport_mode_uses_the_token_and_the_key_it_names() {
    let kbs = start(sample_config());
    admin(&kbs).set_resource("repo/type/tag", b"passport secret").await.unwrap();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let pem = key.to_pem().unwrap();
    let attesting = KbsClient::with_tee_key(&kbs.url, SampleAttester, key, ClientOptions::default()).unwrap();
    let token = attesting.attest().await.unwrap();
    assert!(token.expires_at().is_some());

    let passport = PassportClient::new(&kbs.url, &HttpOptions::default()).unwrap();
    let same_key = TeeKeyPair::from_pem(&pem).unwrap();
    let got = passport.get_resource_with_token("repo/type/tag", &token, &same_key).await.unwrap();
    assert_eq!(got.as_slice(), b"passport secret");

    // The KBS encrypts to the token's key: another key cannot read the reply.
    let other = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    let err = passport.get_resource_with_token("repo/type/tag", &token, &other).await.unwrap_err();
    assert!(matches!(err, Error::Jose { .. }), "{err}");
    // A token from elsewhere is refused by the KBS, once (no attestation in passport mode).
    let forged =
        arca_kbs_client::Token::parse(&mint_admin_token(&kbs.admin_key(), &AdminTokenOptions::default()).unwrap())
            .unwrap();
    let err = passport.get_resource_with_token("repo/type/tag", &forged, &same_key).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.kbs_kind().is_some(), "{err}");
    assert_eq!(kbs.attestations("sample").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_data_is_sent_and_echoed_in_the_token() {
    let kbs = start(sample_config());
    let init_data = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n\n[data]\n\"owner\" = \"team-a\"\n";
    let c = client(&kbs, ClientOptions { init_data: Some(init_data.to_string()), ..ClientOptions::default() });
    let claims = c.attest().await.unwrap().claims_unverified().unwrap();
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data_claims"]["owner"], "team-a", "{claims}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_calls_and_their_refusals() {
    let kbs = start(sample_config());
    let admin = admin(&kbs);

    // Reference values: trustee's sample message and our measurements document.
    let mut values = serde_json::Map::new();
    values.insert("svn".into(), json!(["1", "2"]));
    admin.set_reference_values(&ReferenceValueMessage::sample(&values)).await.unwrap();
    assert_eq!(admin.get_reference_value("svn").await.unwrap(), json!(["1", "2"]));
    let measurements = json!({"snp_launch_measurement": "ab".repeat(48), "tdx_mrtd": ["01", "02"]});
    admin.set_reference_values(&ReferenceValueMessage::arca(&measurements).unwrap()).await.unwrap();
    assert_eq!(admin.get_reference_value("tdx_mrtd").await.unwrap(), json!(["01", "02"]));
    assert_eq!(admin.get_reference_value("snp_launch_measurement").await.unwrap(), json!(["ab".repeat(48)]));

    // Policies are compile-checked by the KBS; a bad one comes back with its type.
    let rego = "package policy\n\ntrust_claims := {\"executables\": 3, \"hardware\": 2}\n";
    admin.set_attestation_policy(rego, None, Some("extra")).await.unwrap();
    let err = admin.set_attestation_policy("package policy\nthis is not rego", None, None).await.unwrap_err();
    assert_eq!(err.kbs_kind(), Some("ParsePolicyError"), "{err}");
    let err = admin.set_resource_policy("not rego at all {").await.unwrap_err();
    assert_eq!(err.kbs_kind(), Some("ParsePolicyError"), "{err}");
    let err = admin.set_attestation_policy(policies::ALLOW_ALL, Some("opa"), None).await.unwrap_err();
    assert_eq!(err.kbs_kind(), Some("ParsePolicyError"), "{err}");

    // A ready token works as well as a key; a token from an unknown key does not.
    let token = mint_admin_token(&kbs.admin_key(), &AdminTokenOptions::default()).unwrap();
    let ready = AdminClient::new(&kbs.url, &HttpOptions::default(), AdminCredential::token(&token).unwrap()).unwrap();
    ready.set_resource("a/b/c", b"v").await.unwrap();
    let stranger = AdminCredential::SigningKey {
        key: Box::new(arca_kbs_client::admin::SigningKey::generate_ed25519()),
        claims: AdminTokenOptions::default(),
    };
    let err = AdminClient::new(&kbs.url, &HttpOptions::default(), stranger).unwrap().delete_resource("a/b/c").await;
    let err = err.unwrap_err();
    assert_eq!((err.status(), err.kbs_kind()), (Some(401), Some("AdminAuthAccess")), "{err}");
    assert!(err.is_remote());
    // An expired ready token is refused too.
    let expired = AdminTokenOptions { ttl: Duration::from_secs(1), ..AdminTokenOptions::default() };
    let old = arca_kbs_client::admin::mint_admin_token_at(&kbs.admin_key(), &expired, 1_000_000).unwrap();
    let stale = AdminClient::new(&kbs.url, &HttpOptions::default(), AdminCredential::token(&old).unwrap()).unwrap();
    assert_eq!(stale.delete_resource("a/b/c").await.unwrap_err().kbs_kind(), Some("AdminAuthAccess"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_an_extra_root_certificate() {
    let tls_dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = self_signed_tls(tls_dir.path());
    let mut config = sample_config();
    config.http_server.certificate = Some(cert);
    config.http_server.private_key = Some(key);
    let kbs = start(config);
    assert!(kbs.url.starts_with("https://"), "{}", kbs.url);
    let http = HttpOptions { extra_root_pem: Some(pem.into_bytes()), ..HttpOptions::default() };
    let credential =
        AdminCredential::SigningKey { key: Box::new(kbs.admin_key()), claims: AdminTokenOptions::default() };
    AdminClient::new(&kbs.url, &http, credential).unwrap().set_resource("tls/key/1", b"over tls").await.unwrap();
    let c = KbsClient::new(&kbs.url, SampleAttester, ClientOptions { http, ..ClientOptions::default() }).unwrap();
    assert_eq!(c.get_resource("tls/key/1").await.unwrap().as_slice(), b"over tls");

    // Without the root the TLS handshake fails, and the error says why.
    let c = client(&kbs, ClientOptions::default());
    let err = c.attest().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(err.to_string().to_ascii_lowercase().contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kbs_that_refuses_the_sample_tee_says_so() {
    let mut config = sample_config();
    config.attestation_service.allow_sample_tee = false;
    let kbs = start(config);
    admin(&kbs).set_resource("default/key/1", b"secret").await.unwrap();
    let c = client(&kbs, ClientOptions::default());
    let err = c.get_resource("default/key/1").await.unwrap_err();
    assert_eq!(err.kbs_kind(), Some("PolicyDeny"), "{err}");
    assert!(err.to_string().contains("sample"), "{err}");
    // Nothing listens: a transport error that names the step.
    let gone = kbs.url.clone();
    drop(kbs);
    let err = KbsClient::new(&gone, SampleAttester, ClientOptions::default()).unwrap().attest().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }) && err.to_string().contains("POST /kbs/v0/auth"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_not_reused() {
    let mut config = sample_config();
    config.attestation_token.duration_min = 0;
    let kbs = start(config);
    let c = client(&kbs, ClientOptions::default());
    let first = c.token().await.unwrap();
    let exp = first.expires_at().unwrap();
    assert!(!first.is_usable_at(exp), "a token is not used at its exp");
    let second = c.token().await.unwrap();
    assert_ne!(first.as_str(), second.as_str(), "the expired token was reused");
    assert_eq!(kbs.attestations("sample").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_share_one_attestation() {
    let kbs = start(sample_config());
    admin(&kbs).set_resource("default/key/1", b"shared").await.unwrap();
    let c = std::sync::Arc::new(client(&kbs, ClientOptions::default()));
    let fetches: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get_resource("default/key/1").await })
        })
        .collect();
    for fetch in fetches {
        assert_eq!(fetch.await.unwrap().unwrap().as_slice(), b"shared");
    }
    assert_eq!(kbs.attestations("sample").await, 1);
}
