//! Locating and running the external tools the tests drive.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The absolute path of `name` on `PATH` (plus the sbin directories, where
/// Debian puts some of these tools), if installed.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// True when every tool is installed; otherwise prints which are missing as a
/// skip reason naming `what` and returns false.
pub fn require_tools(what: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| which(t).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!("skipped: {what} needs {} (make deps installs them)", missing.join(", "));
    false
}

/// Runs a command to completion and panics with its output when it fails:
/// in a test, a failing tool is a failed set-up.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `skopeo copy` with TLS verification off for plain-HTTP test registries
/// and a policy that accepts anything (the tests check signatures
/// themselves), plus the caller's extra arguments before source and
/// destination.
pub fn skopeo_copy(work_dir: &Path, extra: &[&str], src: &str, dest: &str) -> Output {
    let policy = work_dir.join("skopeo-policy.json");
    if !policy.exists() {
        std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).expect("write skopeo policy");
    }
    let mut cmd = Command::new("skopeo");
    cmd.arg("--policy").arg(&policy).arg("copy").arg("--quiet");
    if dest.starts_with("docker://") {
        cmd.arg("--dest-tls-verify=false");
    }
    if src.starts_with("docker://") {
        cmd.arg("--src-tls-verify=false");
    }
    cmd.args(extra).arg(src).arg(dest);
    run(&mut cmd)
}

/// The `arca` CLI binary of this build, built once per test process with the
/// same cargo and target dir as the running test (`<target>/<profile>/arca`,
/// beside the test binary's `deps/` directory).
pub fn arca_binary() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "arca-cli"]);
        // Cargo gives the test process the variables of the package under
        // test; passed on, they differ from those of a plain build, and build
        // scripts that watch them (ring's does) would run again, rebuilding
        // the TLS stack under every test binary.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let per_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_"]
                .iter()
                .any(|prefix| key.starts_with(prefix));
            if per_package || key == "OUT_DIR" || key == "CARGO_TARGET_TMPDIR" || key == "CARGO_RUSTC_CURRENT_DIR" {
                build.env_remove(key.as_ref());
            }
        }
        run(&mut build);
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("test binary lives in <profile>/deps");
        let bin = profile_dir.join("arca");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}
