//! Running Python's `jwcrypto` as an independent JOSE peer.

use std::io::Write;
use std::process::{Command, Stdio};

/// Why the peer cannot run, if it cannot: no `python3`, or no `jwcrypto`.
pub fn peer_missing() -> Option<String> {
    match Command::new("python3").args(["-c", "import jwcrypto.jwe, jwcrypto.jws, jwcrypto.jwk"]).output() {
        Err(e) => Some(format!("python3 not runnable: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "python3 cannot import jwcrypto (run `make deps`): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// Run `script` with `input` on stdin; return stdout, panicking with stderr on failure.
pub fn python(script: &str, input: &serde_json::Value) -> String {
    let (ok, out, err) = python_status(script, input);
    assert!(ok, "python peer failed: {err}");
    out
}

/// Run `script` with `input` on stdin; return (success, stdout, stderr).
pub fn python_status(script: &str, input: &serde_json::Value) -> (bool, String, String) {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait for python3");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Skip the calling test (with a clear reason on stderr) when the peer is missing.
#[macro_export]
macro_rules! require_peer {
    () => {
        if let Some(reason) = common::peer_missing() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}
