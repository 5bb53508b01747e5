//! The built `arca-kbs` binary: crash safety (kill -9 during a loop of
//! admin resource writes, restart on the same data directory, every
//! acknowledged write read back through the filesystem store and through an
//! attested GET over HTTP), first-start key files, the non-loopback refusal
//! and the example configuration.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arca_kbs::storage::{FsStore, Namespace, Store};
use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
use common::*;
use serde_json::json;

/// Start the binary on an ephemeral port; returns the child and its base URL.
fn spawn_kbs(data_dir: &Path) -> (Child, String) {
    spawn_kbs_with(data_dir, &["--allow-sample-tee"])
}

fn spawn_kbs_with(data_dir: &Path, extra: &[&str]) -> (Child, String) {
    // The server's log goes to a file beside (not in) its data directory,
    // so a start that fails says why.
    let log_path = data_dir.with_extension("stderr.log");
    let log = std::fs::File::create(&log_path).expect("server log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_arca-kbs"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("arca-kbs starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        assert!(Instant::now() < deadline, "arca-kbs did not print its address");
        let Some(line) = lines.next() else {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = std::fs::remove_file(&log_path);
            panic!("arca-kbs exited early ({status}); its log:\n{log}");
        };
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_string();
        }
    };
    // Started: the server keeps writing to the unlinked file.
    let _ = std::fs::remove_file(&log_path);
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn value_for(i: usize) -> Vec<u8> {
    // Distinct, non-trivial content per key (4 KiB), so a torn write would show.
    (0..4096).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_keeps_every_acknowledged_write() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_kbs(data.path());
    let admin = token_with(&data_dir_admin_key(data.path()), json!({"role": "admin"}));
    let c = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut acknowledged = Vec::new();
    let started = Instant::now();
    let mut killed = false;
    for i in 0..5000 {
        if !killed && (i == 200 || started.elapsed() > Duration::from_secs(15)) {
            // Kill while requests are in flight: a concurrent writer keeps the server busy.
            let c2 = c.clone();
            let (u2, a2) = (url.clone(), admin.clone());
            let inflight = tokio::spawn(async move {
                for k in 0..50 {
                    let _ = c2
                        .post(format!("{u2}/kbs/v0/resource/crash/inflight/{k}"))
                        .bearer_auth(&a2)
                        .body(value_for(k))
                        .send()
                        .await;
                }
            });
            tokio::time::sleep(Duration::from_millis(5)).await;
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed = true;
            let _ = inflight.await;
        }
        let resp =
            c.post(format!("{url}/kbs/v0/resource/crash/loop/{i}")).bearer_auth(&admin).body(value_for(i)).send().await;
        match resp {
            Ok(r) if r.status() == 200 => acknowledged.push(i),
            Ok(r) => panic!("write {i} refused with {}", r.status()),
            Err(_) => break,
        }
    }
    assert!(killed, "the server was killed during the loop");
    assert!(!acknowledged.is_empty(), "no write was acknowledged before the kill");

    // Direct read of the store after the crash, before any restart.
    let store = FsStore::open(data.path().join("store")).unwrap();
    for &i in &acknowledged {
        let got = store.get(Namespace::Resources, &format!("crash/loop/{i}")).unwrap();
        assert_eq!(got.as_deref(), Some(value_for(i).as_slice()), "write {i} lost or torn");
    }
    drop(store);

    // Restart on the same data directory (same admin key) and read back over HTTP through RCAR.
    let (mut child, url) = spawn_kbs(data.path());
    let guest = client();
    let key = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
    rcar_sample(&guest, &url, &key).await;
    for &i in acknowledged.iter().step_by(37).chain(acknowledged.last()) {
        let resp = guest.get(format!("{url}/kbs/v0/resource/crash/loop/{i}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "resource {i} after restart");
        let jwe = resp.json().await.unwrap();
        assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), value_for(i).as_slice());
    }
    // The admin key from the first start is still the one the server trusts.
    let resp =
        c.post(format!("{url}/kbs/v0/resource/crash/after/1")).bearer_auth(&admin).body("v").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_refuses_non_loopback_plain_http_and_creates_keys() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_arca-kbs"))
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-http"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("admin-key.pem") && stdout.contains("token-key.pem"), "{stdout}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.path().join("admin-key.pem")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = std::fs::read_to_string(data.path().join("admin-key.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_with_the_example_config() {
    let data = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/kbs.toml");
    let (mut child, url) = spawn_kbs_with(data.path(), &["--config", example, "--log-json"]);
    let c = reqwest::Client::new();
    assert_eq!(c.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    // The example keeps the sample TEE denied: a sample guest gets no secret.
    let admin = token_with(&data_dir_admin_key(data.path()), json!({"role": "admin"}));
    let resp = c.post(format!("{url}/kbs/v0/resource/demo/key/1")).bearer_auth(admin).body("s").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let guest = client();
    rcar_sample(&guest, &url, &TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap()).await;
    let resp = guest.get(format!("{url}/kbs/v0/resource/demo/key/1")).send().await.unwrap();
    expect_error(resp, 401, "PolicyDeny").await;
    child.kill().unwrap();
    child.wait().unwrap();
}
