//! Admin keys with independent tools: the `admin-key.pem` the server writes
//! is read by Python's `jwcrypto` (as trustee's `kbs-client` reads such a key
//! to sign admin tokens), and a key made by `openssl genpkey` placed in the
//! data directory is used by the server. Skipped with a message when
//! `python3` with `jwcrypto` (installed by `make deps`) is missing.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use arca_kbs::server::TestHooks;
use common::*;

const SIGN_ADMIN: &str = r#"
import sys, time
from jwcrypto import jwk, jwt
key = jwk.JWK.from_pem(sys.stdin.buffer.read())
now = int(time.time())
t = jwt.JWT(header={"alg": "EdDSA", "typ": "JWT"}, claims={"role": "admin", "iat": now, "exp": now + 600})
t.make_signed_token(key)
sys.stdout.write(t.serialize())
"#;

fn jwcrypto_present() -> bool {
    let ok =
        Command::new("python3").args(["-c", "import jwcrypto"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        eprintln!("skipped: python3 with jwcrypto not installed (make deps installs it)");
    }
    ok
}

/// An EdDSA admin token signed by jwcrypto with the PKCS#8 PEM key `pem`.
fn jwcrypto_admin_token(pem: &[u8]) -> String {
    let mut child = Command::new("python3")
        .args(["-c", SIGN_ADMIN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(pem).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "jwcrypto failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn admin_put(kbs: &TestKbs, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/kbs/v0/resource/interop/key/1", kbs.url))
        .bearer_auth(token)
        .body("v")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwcrypto_signs_admin_tokens_with_the_generated_admin_key() {
    if !jwcrypto_present() {
        return;
    }
    let kbs = start_with(base_config(), TestHooks::default());
    let pem = std::fs::read(kbs.data_dir.path().join("admin-key.pem")).unwrap();
    let token = jwcrypto_admin_token(&pem);
    assert_eq!(admin_put(&kbs, &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_generated_admin_key_is_used_as_is() {
    if !jwcrypto_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("admin-key.pem");
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key_path)
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let pem = std::fs::read(&key_path).unwrap();
    let kbs = arca_kbs::server::Kbs::new(base_config(), dir.path(), Default::default()).unwrap();
    assert!(!kbs.admin_key_created, "an existing admin key is kept");
    let running = kbs.start().unwrap();
    let url = running.url();
    let resp = reqwest::Client::new()
        .post(format!("{url}/kbs/v0/resource/interop/key/1"))
        .bearer_auth(jwcrypto_admin_token(&pem))
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(std::fs::read(&key_path).unwrap(), pem, "the key file is not rewritten");
    running.shutdown();
}
