//! Signing keys and signed pushes for the image-signature tests: a
//! throwaway GPG key for `skopeo copy --sign-by` (simple signing, with the
//! registries.d configuration that tells skopeo where signatures go), and
//! cosign-compatible signatures made with `openssl` and pushed as
//! `sha256-<hex>.sig` tags. (Debian's skopeo is built with sigstore signing
//! disabled: `--sign-by-sigstore-private-key` fails with "Debian-local
//! change: sigstore disabled", and Debian ships no cosign.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::json;

use crate::registry::Registry;
use crate::tools::{require_tools, run};

/// A GPG key in its own home directory; its agent is stopped on drop.
pub struct GpgKey {
    /// `GNUPGHOME` holding the key (no passphrase).
    pub home: PathBuf,
    /// The key's fingerprint, for `skopeo copy --sign-by`.
    pub fingerprint: String,
    /// The ASCII-armored public key.
    pub public_key: PathBuf,
}

impl GpgKey {
    /// Generates an ed25519 signing key for `uid` under `dir`, or `None`
    /// (skip printed) when `gpg` is missing.
    pub fn generate(dir: &Path, uid: &str) -> Option<GpgKey> {
        Self::generate_at(dir, uid, None, "never")
    }

    /// Like [`GpgKey::generate`], with the key's creation time set to
    /// `created` (seconds since the epoch; gpg's `--faked-system-time`)
    /// and its expiry (`never`, `1d`, …).
    pub fn generate_at(dir: &Path, uid: &str, created: Option<u64>, expire: &str) -> Option<GpgKey> {
        if !require_tools("the GPG signature tests", &["gpg", "gpgconf"]) {
            return None;
        }
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).expect("gnupg home");
        set_private(&home);
        let gpg = |args: &[&str]| gpg(&home, args);
        let mut args = vec!["--pinentry-mode", "loopback", "--passphrase", ""];
        let faked = created.map(|t| format!("{t}!"));
        if let Some(faked) = &faked {
            args.extend(["--faked-system-time", faked.as_str()]);
        }
        args.extend(["--quick-gen-key", uid, "ed25519", "sign", expire]);
        gpg(&args);
        let listing = gpg(&["--with-colons", "--list-keys", uid]);
        let fingerprint = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string()))
            .expect("gpg lists the new key's fingerprint");
        let exported = gpg(&["--armor", "--export", &fingerprint]);
        let public_key = dir.join(format!("{fingerprint}.asc"));
        std::fs::write(&public_key, exported.stdout).expect("write public key");
        Some(GpgKey { home, fingerprint, public_key })
    }
}

impl GpgKey {
    /// `gpg --sign` of `payload` (a signed, compressed OpenPGP message, as
    /// skopeo's simple signing makes), at time `at` if given.
    pub fn sign(&self, payload: &[u8], at: Option<u64>) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (input, output) = (dir.path().join("payload"), dir.path().join("payload.sig"));
        std::fs::write(&input, payload).expect("write payload");
        let faked = at.map(|t| format!("{t}!"));
        let mut args = vec!["--pinentry-mode", "loopback", "--passphrase", ""];
        if let Some(faked) = &faked {
            args.extend(["--faked-system-time", faked.as_str()]);
        }
        args.extend(["--local-user", &self.fingerprint, "--sign", "--output"]);
        let (input, output_str) = (input.to_str().expect("utf-8 path"), output.to_str().expect("utf-8 path"));
        args.extend([output_str, input]);
        gpg(&self.home, &args);
        std::fs::read(&output).expect("read signature")
    }

    /// Revokes the key with the revocation certificate gpg made for it and
    /// re-exports the (now revoked) public key to `public_key`.
    pub fn revoke(&self) {
        let cert = self.home.join("openpgp-revocs.d").join(format!("{}.rev", self.fingerprint));
        // gpg prefixes the armor line with ':' so the file is not imported by accident.
        let text = std::fs::read_to_string(&cert).expect("revocation certificate").replace(":-----BEGIN", "-----BEGIN");
        let plain = self.home.join("revoke.asc");
        std::fs::write(&plain, text).expect("write revocation");
        gpg(&self.home, &["--import", plain.to_str().expect("utf-8 path")]);
        let exported = gpg(&self.home, &["--armor", "--export", &self.fingerprint]);
        std::fs::write(&self.public_key, exported.stdout).expect("write public key");
    }
}

fn gpg(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("gpg");
    cmd.arg("--batch").arg("--homedir").arg(home).args(args);
    run(&mut cmd)
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").arg("--homedir").arg(&self.home).args(["--kill", "gpg-agent"]).output();
    }
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
}

/// A cosign-compatible ECDSA key pair (PEM files made by `openssl`).
pub struct SigstoreKey {
    /// The private key (PKCS#8 PEM, unencrypted: a throwaway test key).
    pub private_key: PathBuf,
    /// The public key (PEM `PUBLIC KEY`), as a policy's `keyPath` names it.
    pub public_key: PathBuf,
}

impl SigstoreKey {
    /// Generates a key pair on `curve` (`P-256` or `P-384`) under `dir`
    /// with `name` as file prefix; `None` (skip printed) when `openssl` is
    /// missing.
    pub fn generate(dir: &Path, name: &str, curve: &str) -> Option<SigstoreKey> {
        if !require_tools("the sigstore signature tests", &["openssl"]) {
            return None;
        }
        let private_key = dir.join(format!("{name}.key"));
        run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt", &format!("ec_paramgen_curve:{curve}"), "-out"])
            .arg(&private_key));
        let public_key = dir.join(format!("{name}.pub"));
        run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private_key).arg("-out").arg(&public_key));
        Some(SigstoreKey { private_key, public_key })
    }

    /// A cosign signature: the simple-signing payload claiming `identity`
    /// for `manifest_digest`, and the ASN.1 ECDSA signature over it that
    /// `openssl dgst -sha256 -sign` makes (SHA-256 for every curve, as
    /// cosign and containers/image use).
    pub fn sign(&self, identity: &str, manifest_digest: &str) -> CosignSignature {
        let payload = serde_json::to_vec(&json!({
            "critical": {
                "identity": {"docker-reference": identity},
                "image": {"docker-manifest-digest": manifest_digest},
                "type": "cosign container image signature",
            },
            "optional": null,
        }))
        .expect("payload json");
        let dir = tempfile::tempdir().expect("temp dir");
        let (input, output) = (dir.path().join("payload"), dir.path().join("sig"));
        std::fs::write(&input, &payload).expect("write payload");
        run(Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.private_key)
            .arg("-out")
            .arg(&output)
            .arg(&input));
        CosignSignature { payload, signature: std::fs::read(&output).expect("read signature") }
    }
}

/// One cosign signature layer: payload blob and its signature.
#[derive(Debug, Clone)]
pub struct CosignSignature {
    /// The simple-signing JSON (the layer blob).
    pub payload: Vec<u8>,
    /// DER ECDSA signature over `payload` (base64 in the layer annotation).
    pub signature: Vec<u8>,
}

/// Pushes `signatures` of the image `manifest_digest` in `repository` the
/// way cosign (and containers/image with `use-sigstore-attachments`) stores
/// them: an OCI manifest tagged `sha256-<hex>.sig` whose layers are the
/// payloads (`application/vnd.dev.cosign.simplesigning.v1+json`) with the
/// base64 signature in `dev.cosignproject.cosign/signature`. Built as an
/// OCI layout under `work_dir` and copied with skopeo.
pub fn push_cosign_signatures(
    work_dir: &Path,
    registry: &Registry,
    repository: &str,
    manifest_digest: &str,
    signatures: &[CosignSignature],
) {
    let dir = tempfile::tempdir_in(work_dir).expect("layout dir");
    let layout = crate::LayoutBuilder::new(dir.path());
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let layers: Vec<_> = signatures
        .iter()
        .map(|s| {
            let (digest, size) = layout.blob(&s.payload);
            json!({
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": digest,
                "size": size,
                "annotations": {"dev.cosignproject.cosign/signature": b64(&s.signature)},
            })
        })
        .collect();
    let diff_ids: Vec<_> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("config json");
    let (config_digest, config_size) = layout.blob(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers,
    }))
    .expect("manifest json");
    let (digest, size) = layout.blob(&manifest);
    let tag = format!("{}.sig", manifest_digest.replacen(':', "-", 1));
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }]});
    std::fs::write(dir.path().join("index.json"), serde_json::to_vec(&index).expect("index")).expect("write index");
    crate::skopeo_copy(work_dir, &[], &layout.skopeo_name(&tag), &registry.docker_ref(&format!("{repository}:{tag}")));
}

/// Writes a registries.d directory under `dir` for registry `host`:
/// sigstore signatures as registry attachments (`sha256-….sig` tags), and
/// simple signatures written to (and read from) the lookaside directory
/// `lookaside`. Returns the registries.d directory.
pub fn registries_d(dir: &Path, host: &str, lookaside: &Path) -> PathBuf {
    let registries = dir.join("registries.d");
    std::fs::create_dir_all(&registries).expect("registries.d");
    std::fs::create_dir_all(lookaside).expect("lookaside dir");
    let yaml = format!(
        "docker:\n  {host}:\n    use-sigstore-attachments: true\n    lookaside: file://{l}\n    lookaside-staging: file://{l}\n",
        l = lookaside.display()
    );
    std::fs::write(registries.join("arca-test.yaml"), yaml).expect("write registries.d config");
    registries
}

/// `skopeo --registries.d DIR copy` (TLS verification off, an
/// accept-anything policy, as [`crate::skopeo_copy`]) with `GNUPGHOME` set
/// when given, plus the caller's extra copy arguments (signing options).
pub fn skopeo_copy_signed(
    work_dir: &Path,
    registries_d: &Path,
    gnupg_home: Option<&Path>,
    extra: &[&str],
    src: &str,
    dest: &str,
) -> Output {
    let policy = work_dir.join("skopeo-policy.json");
    if !policy.exists() {
        std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).expect("write skopeo policy");
    }
    let mut cmd = Command::new("skopeo");
    cmd.arg("--policy").arg(&policy).arg("--registries.d").arg(registries_d).arg("copy").arg("--quiet");
    if let Some(home) = gnupg_home {
        cmd.env("GNUPGHOME", home);
    }
    if dest.starts_with("docker://") {
        cmd.arg("--dest-tls-verify=false");
    }
    if src.starts_with("docker://") {
        cmd.arg("--src-tls-verify=false");
    }
    cmd.args(extra).arg(src).arg(dest);
    run(&mut cmd)
}
