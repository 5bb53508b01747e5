//! `arca kbs …` (the binary) against the real `arca-kbs` on 127.0.0.1:
//! admin tokens, resources, policies, reference values, attestation with the
//! sample TEE, passport mode, HTTPS with `--cert-file`, and the exit-code
//! and one-line-error contract.
//!
//! Parts started: an in-process `arca-kbs` (axum on a loopback port) with a
//! temporary data directory, and the `arca` binary as a child process.

mod common;

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::assert_one_line_error;
use common::kbs::{sample_config, self_signed_tls, start, TestKbs};

/// Run `arca kbs --url URL ARGS` off the runtime's worker (the server runs on it).
async fn kbs_cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["kbs".to_string(), "--url".to_string(), url.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_arca")).args(&all).output().expect("running arca");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path_arg(&path)
}

#[cfg(unix)]
fn mode(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.trim().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn admin_token_file(kbs: &TestKbs, dir: &Path) -> String {
    let token_path = path_arg(&dir.join("admin.jwt"));
    let key = path_arg(&kbs.admin_key_path());
    let (code, out, err) =
        kbs_cli(&kbs.url, &["admin-token", "--auth-private-key", &key, "--output", &token_path]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "the token goes to the file only: {out}");
    #[cfg(unix)]
    assert_eq!(mode(&token_path), 0o600);
    token_path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_fetch_deny_and_delete_a_resource() {
    let kbs = start(sample_config());
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token_file(&kbs, dir.path()).await;
    let key = path_arg(&kbs.admin_key_path());
    let secret: Vec<u8> = (0..200u8).collect();
    let secret_file = write(dir.path(), "secret.bin", &secret);
    let url = kbs.url.as_str();

    let (code, out, err) = kbs_cli(
        url,
        &[
            "config",
            "--admin-token-file",
            &token,
            "set-resource",
            "--path",
            "default/key/1",
            "--resource-file",
            &secret_file,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("default/key/1") && !out.contains(&STANDARD.encode(&secret)), "{out}");

    let (code, out, err) = kbs_cli(url, &["get-resource", "--path", "default/key/1"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), secret);

    // Trustee's built-in policy helpers; the older --auth-private-key signing.
    let (code, _, err) =
        kbs_cli(url, &["config", "--auth-private-key", &key, "set-resource-policy", "--deny-all"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kbs_cli(url, &["get-resource", "--path", "default/key/1"]).await;
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("PolicyDeny"), "{err}");
    let (code, _, err) =
        kbs_cli(url, &["config", "--admin-token-file", &token, "set-resource-policy", "--affirming"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kbs_cli(url, &["get-resource", "--path", "default/key/1"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), secret);

    let (code, _, err) =
        kbs_cli(url, &["config", "--admin-token-file", &token, "delete-resource", "--path", "default/key/1"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kbs_cli(url, &["get-resource", "--path", "default/key/1"]).await;
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("resource not found"), "{err}");

    // A key the KBS does not trust: refused with the admin error type.
    let stranger = write(
        dir.path(),
        "stranger.pem",
        arca_kbs_client::admin::SigningKey::generate_ed25519().to_pkcs8_pem().as_bytes(),
    );
    let (code, out, err) =
        kbs_cli(url, &["config", "--auth-private-key", &stranger, "delete-resource", "--path", "a/b/c"]).await;
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("AdminAuthAccess"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_then_fetch_with_the_token_and_key() {
    let kbs = start(sample_config());
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token_file(&kbs, dir.path()).await;
    let url = kbs.url.as_str();
    let file = write(dir.path(), "r", b"passport");
    let (code, _, err) = kbs_cli(
        url,
        &["config", "--admin-token-file", &token, "set-resource", "--path", "r/t/1", "--resource-file", &file],
    )
    .await;
    assert_eq!(code, 0, "{err}");

    let tee_key = path_arg(&dir.path().join("tee-key.pem"));
    let init_data =
        write(dir.path(), "init.toml", b"version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n\"team\" = \"blue\"\n");
    let (code, out, err) = kbs_cli(url, &["attest", "--tee-key-file", &tee_key, "--init-data", &init_data]).await;
    assert_eq!(code, 0, "{err}");
    #[cfg(unix)]
    assert_eq!(mode(&tee_key), 0o600);
    let claims = claims_of(&out);
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data_claims"]["team"], "blue", "{claims}");
    let attestation_token = write(dir.path(), "token", out.as_bytes());

    // Passport mode: no attestation, the key file's private half decrypts.
    let before = kbs.attestations("sample").await;
    let (code, out, err) = kbs_cli(
        url,
        &["get-resource", "--path", "r/t/1", "--tee-key-file", &tee_key, "--attestation-token", &attestation_token],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), b"passport");
    assert_eq!(kbs.attestations("sample").await, before);

    // The existing key file is reused by the next attestation.
    let (code, out, err) = kbs_cli(url, &["attest", "--tee-key-file", &tee_key]).await;
    assert_eq!(code, 0, "{err}");
    let pubkey =
        &claims_of(&out)["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["runtime_data_claims"]["tee-pubkey"];
    assert_eq!(pubkey, &evidence["runtime_data_claims"]["tee-pubkey"]);

    // The key file alone: a new attestation with that key.
    let before = kbs.attestations("sample").await;
    let (code, out, err) = kbs_cli(url, &["get-resource", "--path", "r/t/1", "--tee-key-file", &tee_key]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), b"passport");
    assert_eq!(kbs.attestations("sample").await, before + 1);

    // Trustee's positional init-data text is accepted too.
    let (code, out, err) =
        kbs_cli(url, &["get-resource", "--path", "r/t/1", "version = \"0.1.0\"\nalgorithm = \"sha384\"\n"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), b"passport");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_values_and_attestation_policies() {
    let kbs = start(sample_config());
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token_file(&kbs, dir.path()).await;
    let url = kbs.url.as_str();
    let config = ["config", "--admin-token-file", token.as_str()];
    let run = |args: Vec<&str>| {
        let mut all = config.to_vec();
        all.extend(args);
        let all: Vec<String> = all.into_iter().map(String::from).collect();
        async move { kbs_cli(url, &all.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    let (code, _, err) = run(vec!["set-sample-reference-value", "svn", "3", "--as-integer"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(vec!["get-reference-value", "svn"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([3]));
    let (code, _, err) = run(vec!["set-sample-reference-value", "debug", "false", "--as-bool"]).await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(vec!["get-reference-value", "--name", "debug"]).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([false]));
    // The sample extractor takes lists only: a bare value is refused by the KBS, with its type.
    let (code, out, err) =
        run(vec!["set-sample-reference-value", "debug", "true", "--as-bool", "--as-single-value"]).await;
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("RvpsError"), "{err}");
    let (code, out, err) = run(vec!["set-sample-reference-value", "svn", "three", "--as-integer"]).await;
    assert_eq!(code, 2, "{err}");
    assert_one_line_error(&out, &err);

    let measurements = write(dir.path(), "m.json", br#"{"snp_launch_measurement": "aa", "tdx_rtmr_1": ["01", "02"]}"#);
    let (code, out, err) = run(vec!["set-reference-values", "--file", &measurements]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 reference values"), "{out}");
    let (_, out, _) = run(vec!["get-reference-value", "tdx_rtmr_1"]).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!(["01", "02"]));
    let not_json = write(dir.path(), "bad.json", b"{");
    let (code, out, err) = run(vec!["set-reference-values", "--file", &not_json]).await;
    assert_eq!(code, 2);
    assert_one_line_error(&out, &err);

    let good =
        write(dir.path(), "good.rego", b"package policy\n\ntrust_claims := {\"executables\": 3, \"hardware\": 2}\n");
    let (code, _, err) = run(vec!["set-attestation-policy", "--policy-file", &good, "--id", "mine"]).await;
    assert_eq!(code, 0, "{err}");
    let bad = write(dir.path(), "bad.rego", b"package policy\nnot rego");
    let (code, out, err) = run(vec!["set-attestation-policy", "--type", "rego", "--policy-file", &bad]).await;
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("ParsePolicyError"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_needs_the_cert_file() {
    let tls_dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed_tls(tls_dir.path());
    let mut config = sample_config();
    config.http_server.certificate = Some(cert.clone());
    config.http_server.private_key = Some(key);
    let kbs = start(config);
    let cert = path_arg(&cert);
    let (code, out, err) = kbs_cli(&kbs.url, &["--cert-file", &cert, "attest"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(claims_of(&out)["submods"]["cpu0"]["ear.status"], "affirming");
    let (code, out, err) = kbs_cli(&kbs.url, &["attest"]).await;
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.to_ascii_lowercase().contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_input_problems_exit_2_before_any_request() {
    let kbs = start(sample_config());
    let dir = tempfile::tempdir().unwrap();
    let url = kbs.url.as_str();
    let missing = path_arg(&dir.path().join("missing"));
    let not_a_key =
        write(dir.path(), "not-a-key.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    for args in [
        vec!["config", "--admin-token-file", missing.as_str(), "delete-resource", "--path", "a/b/c"],
        vec!["config", "--auth-private-key", not_a_key.as_str(), "delete-resource", "--path", "a/b/c"],
        vec!["admin-token", "--auth-private-key", not_a_key.as_str()],
        vec!["get-resource", "--path", "a/b"],
        vec![
            "get-resource",
            "--path",
            "a/b/c",
            "--tee-key-file",
            not_a_key.as_str(),
            "--attestation-token",
            missing.as_str(),
        ],
        vec!["--cert-file", missing.as_str(), "attest"],
    ] {
        let (code, out, err) = kbs_cli(url, &args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_one_line_error(&out, &err);
    }
    let (code, out, err) = kbs_cli("ftp://127.0.0.1", &["attest"]).await;
    assert_eq!(code, 2, "{err}");
    assert_one_line_error(&out, &err);
    // Bad arguments are clap's: exit 2 as well.
    let (code, _, _) = kbs_cli(url, &["config", "delete-resource", "--path", "a/b/c"]).await;
    assert_eq!(code, 2);
    assert_eq!(kbs.attestations("sample").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_base_path_is_reported_with_the_step_and_status() {
    let kbs = start(sample_config());
    let (code, out, err) = kbs_cli(&format!("{}/not-a-kbs", kbs.url), &["attest"]).await;
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("POST /kbs/v0/auth") && err.contains("HTTP 404"), "{err}");
    assert!(err.contains("InvalidRequestPath"), "{err}");
}
