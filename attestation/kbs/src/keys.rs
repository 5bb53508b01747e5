//! Key files the server creates on first start.
//!
//! `<data-dir>/admin-key.pem`: an Ed25519 private key (PKCS#8 PEM, mode
//! 0600) whose public half the server trusts for role `admin` on every
//! admin path, so a fresh install can be administered without writing a
//! configuration. `<data-dir>/token-key.pem`: the ES256 key that signs EAR
//! tokens when `[attestation_token] signer_key_path` is not set. Both are
//! created only when absent and never overwritten.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use arca_kbs_protocol::jws::SigningKey;

use crate::{Error, Result};

/// File name of the admin key in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin-key.pem";
/// File name of the token signing key in the data directory.
pub const TOKEN_KEY_FILE: &str = "token-key.pem";

/// Largest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A key loaded from (or created at) a path.
pub struct KeyFile {
    /// Where the key is.
    pub path: PathBuf,
    /// The key.
    pub key: SigningKey,
    /// Whether this start created it.
    pub created: bool,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile").field("path", &self.path).field("created", &self.created).finish_non_exhaustive()
    }
}

fn key_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Config { path: path.to_path_buf(), detail: detail.into() }
}

/// PKCS#8 PEM of `key`. Ed25519 keys are written as RFC 8410 version 1
/// (seed only, the form `openssl genpkey -algorithm ed25519` writes): the
/// version 2 form with the public key embedded is refused by common tools
/// (Python `cryptography`, trustee's `kbs-client`), and the admin key is
/// meant to be used by them.
pub fn encode_pkcs8(key: &SigningKey) -> std::result::Result<zeroize::Zeroizing<String>, String> {
    match key {
        SigningKey::Ed25519(k) => {
            use ed25519::pkcs8::spki::der::pem::LineEnding;
            use ed25519::pkcs8::EncodePrivateKey;
            let v1 = ed25519::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None };
            v1.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())
        }
        other => Ok(other.to_pkcs8_pem()),
    }
}

/// Read a PKCS#8 PEM signing key.
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let meta = std::fs::metadata(path).map_err(|e| key_error(path, format!("cannot read key: {e}")))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(key_error(path, format!("key file is {} bytes, limit {MAX_KEY_FILE}", meta.len())));
    }
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| key_error(path, format!("cannot read key: {e}")))?,
    );
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| key_error(path, format!("not a usable PKCS#8 PEM key: {e}")))
}

/// Load the key at `path`, or create it with `generate` (mode 0600, written
/// to a temporary file then renamed, so a crash never leaves half a key).
pub fn load_or_create(path: &Path, generate: impl FnOnce() -> SigningKey) -> Result<KeyFile> {
    if path.exists() {
        return Ok(KeyFile { path: path.to_path_buf(), key: read_key(path)?, created: false });
    }
    let key = generate();
    let pem = encode_pkcs8(&key).map_err(|e| key_error(path, format!("cannot encode key: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| key_error(dir, format!("cannot create directory: {e}")))?;
    let tmp = path.with_extension("pem.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(pem.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| key_error(path, format!("cannot write key: {e}")))?;
    Ok(KeyFile { path: path.to_path_buf(), key, created: true })
}

/// The admin key of `data_dir` (Ed25519), created when absent.
pub fn admin_key(data_dir: &Path) -> Result<KeyFile> {
    let path = data_dir.join(ADMIN_KEY_FILE);
    load_or_create(&path, SigningKey::generate_ed25519)
}

/// The token signing key: `configured` when given (must exist), else
/// `<data-dir>/token-key.pem` (ES256), created when absent.
pub fn token_key(data_dir: &Path, configured: Option<&Path>) -> Result<KeyFile> {
    if let Some(path) = configured {
        return Ok(KeyFile { path: path.to_path_buf(), key: read_key(path)?, created: false });
    }
    let path = data_dir.join(TOKEN_KEY_FILE);
    load_or_create(&path, SigningKey::generate_es256)
}
