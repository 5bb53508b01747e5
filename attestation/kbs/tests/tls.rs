//! The server over TLS (rustls, ring provider) with a PEM key and chain.

mod common;

use arca_kbs::server::TestHooks;
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcar_and_resource_fetch_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let mut config = base_config();
    config.attestation_service.allow_sample_tee = true;
    config.http_server.certificate = Some(cert_path);
    config.http_server.private_key = Some(key_path);
    let kbs = start_with(config, TestHooks::default());
    assert!(kbs.url.starts_with("https://127.0.0.1:"), "{}", kbs.url);
    let https = |cookies: bool| {
        reqwest::Client::builder()
            .cookie_store(cookies)
            .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    let admin = admin_token(&kbs);
    let resp = https(false)
        .post(format!("{}/kbs/v0/resource/tls/key/1", kbs.url))
        .bearer_auth(admin)
        .body("over tls")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let c = https(true);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    rcar_sample(&c, &kbs.url, &key).await;
    let jwe = c.get(format!("{}/kbs/v0/resource/tls/key/1", kbs.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), b"over tls");
    // A client that does not trust the certificate cannot connect.
    assert!(reqwest::Client::new().get(format!("{}/healthz", kbs.url)).send().await.is_err());
}
