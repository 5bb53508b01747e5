//! SNP and TDX attestation through the server with the real evidence
//! vectors. Their report data was fixed when they were recorded, so the
//! `test-hooks` feature makes the server expect that report data (and, for
//! TDX, verify at a time inside the collateral's validity window).

mod common;

use arca_kbs::server::TestHooks;
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use time::macros::datetime;

const SNP_EVIDENCE: &str = "snp/trustee-genoa-snp-evidence.json";
const SNP_REPORT_DATA: &str =
    "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0";
const SNP_MEASUREMENT: &str =
    "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e";

const TDX_QUOTE: &str = "tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.bin";
const TDX_COLLATERAL: &str = "tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.collateral.json";
const TDX_REPORT_DATA: &str =
    "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";
const TDX_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";

async fn attest_with(kbs: &TestKbs, tee: &str, evidence: Value) -> reqwest::Response {
    let c = client();
    let nonce = auth(&c, &kbs.url, tee).await;
    let pk = serde_json::to_value(TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap().public_key()).unwrap();
    let body = json!({
        "runtime-data": {"nonce": nonce, "tee-pubkey": pk},
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    });
    attest_raw(&c, &kbs.url, &body).await
}

fn snp_evidence() -> Value {
    serde_json::from_slice(&std::fs::read(vector(SNP_EVIDENCE)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snp_vector_attests_through_the_server() {
    let hooks = TestHooks {
        fixed_time: Some(datetime!(2026-11-15 0:00 UTC)),
        report_data: Some(hex::decode(SNP_REPORT_DATA).unwrap()),
        ..TestHooks::default()
    };
    let kbs = start_with(base_config(), hooks);
    let resp = attest_with(&kbs, "snp", snp_evidence()).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["token"].as_str().unwrap());
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["snp"]["measurement"], SNP_MEASUREMENT);
    assert_eq!(evidence["snp"]["processor"], "genoa");
    assert_eq!(claims["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"], 2, "{claims}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snp_vector_with_other_report_data_or_tampered_report_is_rejected() {
    // Without the hook the server expects the real runtime-data digest.
    let hooks = TestHooks { fixed_time: Some(datetime!(2026-11-15 0:00 UTC)), ..TestHooks::default() };
    let kbs = start_with(base_config(), hooks);
    let detail = expect_error(attest_with(&kbs, "snp", snp_evidence()).await, 401, "AttestationError").await;
    assert!(detail.contains("report data"), "{detail}");
    let hooks = TestHooks {
        fixed_time: Some(datetime!(2026-11-15 0:00 UTC)),
        report_data: Some(hex::decode(SNP_REPORT_DATA).unwrap()),
        ..TestHooks::default()
    };
    let kbs = start_with(base_config(), hooks);
    let mut tampered = snp_evidence();
    tampered["attestation_report"]["guest_svn"] = json!(99);
    let detail = expect_error(attest_with(&kbs, "snp", tampered).await, 401, "AttestationError").await;
    assert!(detail.contains("snp evidence verification failed"), "{detail}");
}

fn tdx_server(at: time::OffsetDateTime) -> TestKbs {
    let mut config = base_config();
    config.attestation_service.tdx_collateral_path = Some(vector(TDX_COLLATERAL));
    let hooks = TestHooks {
        fixed_time: Some(at),
        report_data: Some(hex::decode(TDX_REPORT_DATA).unwrap()),
        ..TestHooks::default()
    };
    start_with(config, hooks)
}

fn tdx_evidence() -> Value {
    let quote = std::fs::read(vector(TDX_QUOTE)).unwrap();
    json!({"quote": base64::engine::general_purpose::STANDARD.encode(quote)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tdx_vector_attests_inside_the_collateral_window() {
    let kbs = tdx_server(datetime!(2025-07-19 10:00:34 UTC));
    let resp = attest_with(&kbs, "tdx", tdx_evidence()).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["token"].as_str().unwrap());
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["tdx"]["mrtd"], TDX_MRTD, "{evidence}");
    assert_eq!(evidence["tdx"]["tcb_status"], "UpToDate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tdx_vector_is_rejected_after_its_collateral_expired() {
    let kbs = tdx_server(datetime!(2026-11-15 0:00 UTC));
    let detail = expect_error(attest_with(&kbs, "tdx", tdx_evidence()).await, 401, "AttestationError").await;
    assert!(detail.contains("tdx evidence verification failed"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snp_vector_with_its_measurement_registered_gets_the_resource() {
    let hooks = TestHooks {
        fixed_time: Some(datetime!(2026-11-15 0:00 UTC)),
        report_data: Some(hex::decode(SNP_REPORT_DATA).unwrap()),
        ..TestHooks::default()
    };
    let kbs = start_with(base_config(), hooks);
    assert_eq!(put_resource(&kbs, "snp/key/1", b"for the genoa guest").await.status(), 200);
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP521).unwrap();
    let pk = serde_json::to_value(key.public_key()).unwrap();
    let body_for = |nonce: &str| {
        json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": pk},
            "tee-evidence": {"primary_evidence": snp_evidence(), "additional_evidence": ""},
        })
    };

    // Without reference values the measurement is unknown: warning, and no release.
    let c = client();
    let nonce = auth(&c, &kbs.url, "snp").await;
    let token = attest_raw(&c, &kbs.url, &body_for(&nonce)).await.json::<Value>().await.unwrap()["token"].clone();
    assert_eq!(claims_of(token.as_str().unwrap())["submods"]["cpu0"]["ear.status"], "warning");
    let resp = c.get(format!("{}/kbs/v0/resource/snp/key/1", kbs.url)).send().await.unwrap();
    expect_error(resp, 401, "PolicyDeny").await;

    // Register the launch measurement; a new attestation is affirming and gets the secret.
    let payload = base64::engine::general_purpose::STANDARD
        .encode(json!({"snp_launch_measurement": [SNP_MEASUREMENT]}).to_string());
    let resp = reqwest::Client::new()
        .post(format!("{}/kbs/v0/reference-value", kbs.url))
        .bearer_auth(admin_token(&kbs))
        .json(&json!({"version": "0.1.0", "type": "sample", "payload": payload}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let c = client();
    let nonce = auth(&c, &kbs.url, "snp").await;
    let token = attest_raw(&c, &kbs.url, &body_for(&nonce)).await.json::<Value>().await.unwrap()["token"].clone();
    assert_eq!(claims_of(token.as_str().unwrap())["submods"]["cpu0"]["ear.status"], "affirming");
    let resp = c.get(format!("{}/kbs/v0/resource/snp/key/1", kbs.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(key.decrypt(&resp.json().await.unwrap()).unwrap().as_slice(), b"for the genoa guest");
}
