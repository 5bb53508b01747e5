//! Registry credentials in the `auth.json` format of containers-auth.json(5)
//! (also Docker's `config.json`): `{"auths": {"<host>": {"auth": base64("user:pass")}}}`
//! or `{"username", "password"}` per host, or an `identitytoken`/`registrytoken` for bearer auth.
//!
//! The source is the caller's: a file for the CLI, the KBS in a pod later.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// A boxed, sendable future (as in the module API of the brief).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Largest `auth.json` accepted.
pub const MAX_AUTH_FILE_BYTES: usize = 1 << 20;

/// Credentials for one registry host. Secrets are zeroized on drop and
/// never printed (`Debug` names the kind only).
#[derive(Clone)]
pub enum Credentials {
    /// HTTP basic auth (also used for the bearer-token flow's token request).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Zeroizing<String>,
    },
    /// A ready bearer token.
    Bearer(Zeroizing<String>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    pub(crate) fn to_registry_auth(&self) -> oci_client::secrets::RegistryAuth {
        match self {
            Credentials::Basic { username, password } => {
                oci_client::secrets::RegistryAuth::Basic(username.clone(), password.to_string())
            }
            Credentials::Bearer(token) => oci_client::secrets::RegistryAuth::Bearer(token.to_string()),
        }
    }
}

/// Where the registry client gets credentials from, per registry host.
pub trait CredentialSource: Send + Sync {
    /// Credentials for `host` (`host[:port]` as in the image reference), `None` for anonymous access.
    fn credentials<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Option<Credentials>>>;
}

/// Credentials parsed from an `auth.json` document.
#[derive(Default)]
pub struct AuthFile {
    hosts: HashMap<String, Credentials>,
}

impl std::fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFile").field("hosts", &self.hosts.keys().collect::<Vec<_>>()).finish()
    }
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: HashMap<String, RawEntry>,
}

#[derive(Deserialize, Default)]
struct RawEntry {
    auth: Option<Zeroizing<String>>,
    username: Option<String>,
    password: Option<Zeroizing<String>>,
    identitytoken: Option<Zeroizing<String>>,
    registrytoken: Option<Zeroizing<String>>,
}

impl AuthFile {
    /// Parses an `auth.json` document. Entries keyed by a URL
    /// (`https://host/v1/`) are reduced to their host.
    pub fn from_json(bytes: &[u8]) -> Result<AuthFile> {
        if bytes.len() > MAX_AUTH_FILE_BYTES {
            return Err(Error::TooLarge { what: "auth.json".into(), limit: MAX_AUTH_FILE_BYTES as u64 });
        }
        // serde_json's message may quote input; say only where it failed.
        let raw: RawFile = serde_json::from_slice(bytes)
            .map_err(|e| Error::Auth(format!("auth.json is not valid (line {}, column {})", e.line(), e.column())))?;
        let mut hosts = HashMap::new();
        for (key, entry) in raw.auths {
            let host = normalize_host(&key);
            let creds = if let Some(token) = entry.registrytoken {
                Credentials::Bearer(token)
            } else if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(auth.trim().as_bytes())
                        .map_err(|_| Error::Auth(format!("auth.json: {host}: `auth` is not base64")))?,
                );
                let text = std::str::from_utf8(&decoded)
                    .map_err(|_| Error::Auth(format!("auth.json: {host}: `auth` is not UTF-8")))?;
                let (user, pass) = text
                    .split_once(':')
                    .ok_or_else(|| Error::Auth(format!("auth.json: {host}: `auth` is not user:password")))?;
                Credentials::Basic { username: user.to_owned(), password: Zeroizing::new(pass.to_owned()) }
            } else if let (Some(username), Some(password)) = (entry.username, entry.password) {
                Credentials::Basic { username, password }
            } else if let Some(token) = entry.identitytoken {
                // An identity token is a refresh token sent as the password of
                // the token request (Docker's `<token>` user convention).
                Credentials::Basic { username: "<token>".into(), password: token }
            } else {
                continue;
            };
            hosts.insert(host, creds);
        }
        Ok(AuthFile { hosts })
    }

    /// Reads and parses an `auth.json` file.
    pub fn from_file(path: &std::path::Path) -> Result<AuthFile> {
        let bytes =
            Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?);
        AuthFile::from_json(&bytes)
    }

    /// The credentials for `host`, if any (`docker.io` also matches
    /// `index.docker.io` and `registry-1.docker.io`).
    pub fn get(&self, host: &str) -> Option<&Credentials> {
        self.hosts.get(host).or_else(|| match host {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
                ["docker.io", "index.docker.io"].iter().find_map(|h| self.hosts.get(*h))
            }
            _ => None,
        })
    }
}

impl CredentialSource for AuthFile {
    fn credentials<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Option<Credentials>>> {
        Box::pin(async move { Ok(self.get(host).cloned()) })
    }
}

fn normalize_host(key: &str) -> String {
    let without_scheme = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    without_scheme.split('/').next().unwrap_or(without_scheme).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auth_and_username_password() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        let json = format!(
            r#"{{"auths": {{"reg.example:5000": {{"auth": "{auth}"}},
               "https://other.example/v1/": {{"username": "bob", "password": "pw"}},
               "tok.example": {{"registrytoken": "abc"}}}}}}"#
        );
        let file = AuthFile::from_json(json.as_bytes()).unwrap();
        match file.get("reg.example:5000").unwrap() {
            Credentials::Basic { username, password } => {
                assert_eq!(username, "alice");
                assert_eq!(password.as_str(), "s3:cret");
            }
            other => panic!("expected basic, got {other:?}"),
        }
        assert!(matches!(file.get("other.example"), Some(Credentials::Basic { username, .. }) if username == "bob"));
        assert!(matches!(file.get("tok.example"), Some(Credentials::Bearer(_))));
        assert!(file.get("absent.example").is_none());
    }

    #[test]
    fn bad_auth_is_an_error_without_the_secret() {
        let err = AuthFile::from_json(br#"{"auths": {"h": {"auth": "!!notbase64!!"}}}"#).unwrap_err();
        assert!(!err.to_string().contains("notbase64"), "{err}");
        let err = AuthFile::from_json(br#"{"auths": {"h": {"auth": "c2VjcmV0"}}}"#).unwrap_err();
        assert!(err.to_string().contains("user:password"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::Basic { username: "u".into(), password: Zeroizing::new("hunter2".into()) };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
