//! The KBS configuration file (TOML).
//!
//! Sections are named like trustee's KBS configuration where the meaning is
//! the same (`[http_server]`, `[attestation_token]`, `[admin]`,
//! `[storage_backend]`); every field has a default, so an empty file (or no
//! file) is a working configuration: HTTP on 127.0.0.1:8080, data under the
//! data directory, sample TEE denied, admin API for the key created on first
//! start. Unknown fields are errors, so a typo never silently falls back to a
//! default. `attestation/kbs/config/kbs.toml` documents every field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_SIZE: u64 = 1 << 20;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KbsConfig {
    /// Data directory (keys, store); resolved by [`KbsConfig::resolve_data_dir`] when absent.
    pub data_dir: Option<PathBuf>,
    /// `[http_server]`.
    pub http_server: HttpServerConfig,
    /// `[attestation_token]`.
    pub attestation_token: AttestationTokenConfig,
    /// `[attestation_service]`.
    pub attestation_service: AttestationServiceConfig,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[storage_backend]`.
    pub storage_backend: StorageBackendConfig,
    /// `[policy]`.
    pub policy: PolicyConfig,
}

/// `[http_server]`: where and how the server listens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Addresses to listen on.
    pub sockets: Vec<SocketAddr>,
    /// Serve plain HTTP; required for a non-loopback address without TLS.
    pub insecure_http: bool,
    /// TLS private key (PEM).
    pub private_key: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    pub certificate: Option<PathBuf>,
    /// Largest request body, in bytes.
    pub payload_request_size: usize,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            sockets: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            insecure_http: false,
            private_key: None,
            certificate: None,
            payload_request_size: 2 << 20,
        }
    }
}

/// `[attestation_token]`: issuing and trusting EAR tokens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationTokenConfig {
    /// PEM roots that a token's header `x5c` must chain to.
    pub trusted_certs_paths: Vec<PathBuf>,
    /// JWKS files whose keys may sign tokens.
    pub trusted_jwk_sets: Vec<PathBuf>,
    /// Trust a bare `jwk` in the token header (tests only).
    pub insecure_header_jwk: bool,
    /// Lifetime of issued tokens, in minutes.
    pub duration_min: u64,
    /// Token signing key (PKCS#8 PEM, P-256); `<data-dir>/token-key.pem` when absent.
    pub signer_key_path: Option<PathBuf>,
}

impl Default for AttestationTokenConfig {
    fn default() -> Self {
        AttestationTokenConfig {
            trusted_certs_paths: Vec::new(),
            trusted_jwk_sets: Vec::new(),
            insecure_header_jwk: false,
            duration_min: 5,
            signer_key_path: None,
        }
    }
}

/// `[attestation_service]`: sessions, evidence verification and appraisal.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationServiceConfig {
    /// Lifetime of an RCAR session (nonce) in minutes.
    pub session_timeout_min: u64,
    /// Most sessions kept at once; the oldest are evicted beyond it.
    pub max_sessions: usize,
    /// Accept the software `sample` TEE (development only).
    pub allow_sample_tee: bool,
    /// Rego file installed as attestation policy `default` at start.
    pub attestation_policy_path: Option<PathBuf>,
    /// TDX DCAP collateral (JSON).
    pub tdx_collateral_path: Option<PathBuf>,
    /// CCA trust-anchor store (JSON).
    pub cca_trust_anchors_path: Option<PathBuf>,
    /// CCA reference-value store (JSON).
    pub cca_reference_values_path: Option<PathBuf>,
    /// IBM SE verification configuration (JSON).
    pub se_config_path: Option<PathBuf>,
    /// SNP ASK/ARK chain (PEM); the AMD roots are built in otherwise.
    pub snp_chain_path: Option<PathBuf>,
}

impl Default for AttestationServiceConfig {
    fn default() -> Self {
        AttestationServiceConfig {
            session_timeout_min: 5,
            max_sessions: 10_000,
            allow_sample_tee: false,
            attestation_policy_path: None,
            tdx_collateral_path: None,
            cca_trust_anchors_path: None,
            cca_reference_values_path: None,
            se_config_path: None,
            snp_chain_path: None,
        }
    }
}

/// How admin requests are authorized.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum AuthorizationMode {
    /// Bearer JWT verified against identity providers, role mapped to paths.
    #[default]
    AuthenticatedAuthorization,
    /// Every admin request is allowed (tests only).
    InsecureAllowAll,
    /// Every admin request is denied.
    DenyAll,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The authorization mode.
    pub authorization_mode: AuthorizationMode,
    /// `[[admin.identity_providers]]`: keys that may sign admin tokens.
    pub identity_providers: Vec<IdentityProvider>,
    /// `[[admin.roles]]`: which paths each role may use. When empty, role
    /// `admin` may use every admin path.
    pub roles: Vec<RoleRule>,
}

/// A key trusted to sign admin tokens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// Public key (PEM, Ed25519 or P-256).
    pub public_key_path: PathBuf,
    /// Required `iss` claim.
    #[serde(default)]
    pub iss: Option<String>,
    /// Required `aud` claim.
    #[serde(default)]
    pub aud: Option<String>,
}

/// Paths (regular expressions over the request path) allowed to a role.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The `role` claim value.
    pub role: String,
    /// Regular expressions, e.g. `^/kbs/v0/.*$`.
    pub allowed: Vec<String>,
}

/// Kind of storage backend.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum StorageType {
    /// Files below a directory ([`crate::storage::FsStore`]).
    #[default]
    LocalFs,
    /// Memory only, lost at exit ([`crate::storage::MemoryStore`]).
    Memory,
}

/// `[storage_backend]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageBackendConfig {
    /// The backend.
    pub storage_type: StorageType,
    /// Directory of a `LocalFs` store; `<data-dir>/store` when absent.
    pub dir_path: Option<PathBuf>,
    /// Largest stored value in bytes; [`crate::storage::DEFAULT_MAX_VALUE_SIZE`] when absent.
    pub max_value_size: Option<usize>,
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rego file installed as the resource policy at start.
    pub resource_policy_path: Option<PathBuf>,
}

impl KbsConfig {
    /// Parse a configuration from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<KbsConfig> {
        let config: KbsConfig =
            toml::from_str(text).map_err(|e| Error::Config { path: origin.to_path_buf(), detail: e.to_string() })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Read and parse a configuration file (at most [`MAX_CONFIG_SIZE`] bytes).
    pub fn from_file(path: &Path) -> Result<KbsConfig> {
        let err = |detail: String| Error::Config { path: path.to_path_buf(), detail };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.len() > MAX_CONFIG_SIZE {
            return Err(err(format!("file is {} bytes, limit {MAX_CONFIG_SIZE}", meta.len())));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        KbsConfig::from_toml(&text, path)
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let err = |detail: String| Err(Error::Config { path: origin.to_path_buf(), detail });
        if self.http_server.sockets.is_empty() {
            return err("http_server.sockets: expected at least one address, found none".into());
        }
        if self.http_server.private_key.is_some() != self.http_server.certificate.is_some() {
            return err("http_server: private_key and certificate go together, found only one".into());
        }
        if self.http_server.payload_request_size == 0 {
            return err("http_server.payload_request_size: expected > 0, found 0".into());
        }
        if self.attestation_token.duration_min == 0 {
            return err("attestation_token.duration_min: expected > 0, found 0".into());
        }
        if self.attestation_service.session_timeout_min == 0 {
            return err("attestation_service.session_timeout_min: expected > 0, found 0".into());
        }
        if self.attestation_service.max_sessions == 0 {
            return err("attestation_service.max_sessions: expected > 0, found 0".into());
        }
        Ok(())
    }

    /// The data directory: `cli` (`--data-dir`) if given, else `data_dir` of
    /// the file, else the default of [`default_data_dir`].
    pub fn resolve_data_dir(&self, cli: Option<&Path>) -> Result<PathBuf> {
        if let Some(dir) = cli.or(self.data_dir.as_deref()) {
            return Ok(dir.to_path_buf());
        }
        default_data_dir(&SystemEnv)
    }

    /// The directory of the `LocalFs` store: `storage_backend.dir_path`, else `<data_dir>/store`.
    pub fn store_dir(&self, data_dir: &Path) -> PathBuf {
        self.storage_backend.dir_path.clone().unwrap_or_else(|| data_dir.join("store"))
    }
}

/// What the default data directory depends on; [`SystemEnv`] reads the process.
pub trait DataDirEnv {
    /// An environment variable, when set and non-empty.
    fn var(&self, name: &str) -> Option<String>;
    /// Whether the process runs as root (effective uid 0).
    fn is_root(&self) -> bool;
}

/// The real process environment.
#[derive(Debug, Clone, Copy)]
pub struct SystemEnv;

impl DataDirEnv for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn is_root(&self) -> bool {
        // The owner of /proc/self is the effective uid; no libc call (and no
        // unsafe code) is needed to learn it.
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
    }
}

/// The default data directory: `$XDG_DATA_HOME/arca-kbs`, else
/// `/var/lib/arca-kbs` for root, else `$HOME/.local/share/arca-kbs`.
pub fn default_data_dir(env: &dyn DataDirEnv) -> Result<PathBuf> {
    if let Some(xdg) = env.var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(xdg).join("arca-kbs"));
    }
    if env.is_root() {
        return Ok(PathBuf::from("/var/lib/arca-kbs"));
    }
    match env.var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/arca-kbs")),
        None => Err(Error::Config {
            path: PathBuf::from("<defaults>"),
            detail: "no data directory: expected --data-dir, XDG_DATA_HOME or HOME, found none".into(),
        }),
    }
}
