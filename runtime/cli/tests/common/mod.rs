//! Helpers for running the `arca` binary in tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The shared attestation vectors: `$ARCA_VECTORS/attestation` or
/// `../shared/vectors/attestation` from the repository root.
pub fn vectors() -> PathBuf {
    vectors_root().join("attestation")
}

/// `$ARCA_VECTORS` or `../shared/vectors` from the repository root.
fn vectors_root() -> PathBuf {
    std::env::var_os("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"))
}

/// The shared measurement vectors; a missing directory fails the test.
pub fn measurement_dir() -> PathBuf {
    let dir = vectors_root().join("measurement");
    assert!(dir.is_dir(), "measurement vectors missing at {} (set ARCA_VECTORS)", dir.display());
    dir
}

/// A path below the attestation vectors, as a string argument.
pub fn vector(rel: &str) -> String {
    vectors().join(rel).to_string_lossy().into_owned()
}

/// Run `arca ARGS`.
pub fn arca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arca")).args(args).output().expect("running arca")
}

/// Run `arca verify ARGS` and return (exit code, stdout, stderr).
pub fn verify(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let out = arca(&all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parse stdout of a successful `arca verify` as JSON.
pub fn claims(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("claims are not JSON ({e}): {stdout}"))
}

/// A temporary file holding `bytes`, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// Write `bytes` to a fresh temporary file named `name`.
    pub fn new(name: &str, bytes: &[u8]) -> Self {
        let dir = std::env::temp_dir().join(format!("arca-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write temp file");
        TempFile(path)
    }

    /// The path as a command-line argument.
    pub fn arg(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Assert the single-line error contract: one line on stderr, nothing on stdout.
pub fn assert_one_line_error(stdout: &str, stderr: &str) {
    assert!(stdout.is_empty(), "stdout should be empty on failure: {stdout}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one stderr line: {stderr}");
}

pub mod kbs;
