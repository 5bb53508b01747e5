//! Authorization of admin requests, as trustee's `AuthenticatedAuthorization`.
//!
//! An admin request carries `Authorization: Bearer <JWT>` (EdDSA or ES256).
//! The token must verify against one of the identity providers (the
//! configured public keys, plus the data directory's `admin-key.pem`), pass
//! that provider's `iss`/`aud` checks and time checks, and its `role` claim
//! must be allowed for the request path by one of the role rules (regular
//! expressions). Tokens signed by the data directory's admin key with role
//! `admin` may use every admin path. `InsecureAllowAll` and `DenyAll` apply
//! only when the configuration names them.

use arca_kbs_protocol::jws::{self, VerifyingKey};
use arca_kbs_protocol::messages::ErrorKind;
use axum::http::HeaderMap;
use regex::Regex;
use serde_json::Value;
use time::OffsetDateTime;

use crate::api_error::ApiError;
use crate::config::{AdminConfig, AuthorizationMode};
use crate::{Error, Result};

/// Largest public key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Rule used when the configuration has none: role `admin` on every path.
const DEFAULT_ADMIN_RULE: &str = "^/kbs/v0/.*$";

#[derive(Debug)]
struct Provider {
    name: String,
    key: VerifyingKey,
    iss: Option<String>,
    aud: Option<String>,
    /// Role `admin` of this provider may use every admin path.
    implicit_admin: bool,
}

#[derive(Debug)]
struct RoleRule {
    role: String,
    allowed: Vec<Regex>,
}

/// The admin authorizer.
#[derive(Debug)]
pub struct AdminAuth {
    mode: AuthorizationMode,
    providers: Vec<Provider>,
    rules: Vec<RoleRule>,
}

/// Who an admin request was authorized as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    /// The `role` claim (`*` under `InsecureAllowAll`).
    pub role: String,
    /// The provider whose key verified the token.
    pub provider: String,
}

fn denied(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::AdminAuthAccess, detail)
}

impl AdminAuth {
    /// Build from `[admin]`, trusting also `data_dir_admin_key` (the public
    /// half of `<data-dir>/admin-key.pem`) for role `admin` everywhere.
    pub fn from_config(config: &AdminConfig, data_dir_admin_key: Option<VerifyingKey>) -> Result<Self> {
        let mut providers = Vec::new();
        if let Some(key) = data_dir_admin_key {
            providers.push(Provider {
                name: "data-dir admin-key.pem".into(),
                key,
                iss: None,
                aud: None,
                implicit_admin: true,
            });
        }
        for p in &config.identity_providers {
            let err = |detail: String| Error::Config { path: p.public_key_path.clone(), detail };
            let meta = std::fs::metadata(&p.public_key_path).map_err(|e| err(format!("cannot read: {e}")))?;
            if meta.len() > MAX_KEY_FILE {
                return Err(err(format!("file is {} bytes, limit {MAX_KEY_FILE}", meta.len())));
            }
            let pem = std::fs::read_to_string(&p.public_key_path).map_err(|e| err(format!("cannot read: {e}")))?;
            let key = VerifyingKey::from_public_pem(&pem)
                .map_err(|e| err(format!("expected an Ed25519 or P-256 public key (PEM): {e}")))?;
            providers.push(Provider {
                name: p.public_key_path.display().to_string(),
                key,
                iss: p.iss.clone(),
                aud: p.aud.clone(),
                implicit_admin: false,
            });
        }
        let mut rules = Vec::new();
        let configured: Vec<(String, Vec<String>)> = if config.roles.is_empty() {
            vec![("admin".into(), vec![DEFAULT_ADMIN_RULE.into()])]
        } else {
            config.roles.iter().map(|r| (r.role.clone(), r.allowed.clone())).collect()
        };
        for (role, allowed) in configured {
            let mut res = Vec::new();
            for pattern in allowed {
                res.push(Regex::new(&pattern).map_err(|e| Error::Config {
                    path: "[admin.roles]".into(),
                    detail: format!("role {role}: pattern {pattern:?} is not a regular expression: {e}"),
                })?);
            }
            rules.push(RoleRule { role, allowed: res });
        }
        Ok(AdminAuth { mode: config.authorization_mode, providers, rules })
    }

    /// Authorize a request to `path` with `headers` at `now`.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        path: &str,
        now: OffsetDateTime,
    ) -> std::result::Result<AdminIdentity, ApiError> {
        match self.mode {
            AuthorizationMode::DenyAll => {
                return Err(denied("admin API disabled ([admin] authorization_mode = \"DenyAll\")"));
            }
            AuthorizationMode::InsecureAllowAll => {
                return Ok(AdminIdentity { role: "*".into(), provider: "InsecureAllowAll".into() });
            }
            AuthorizationMode::AuthenticatedAuthorization => {}
        }
        let token = bearer(headers).ok_or_else(|| denied("admin request without Authorization: Bearer token"))?;
        let mut failures = Vec::new();
        for p in &self.providers {
            let claims = match jws::verify(token, std::slice::from_ref(&p.key)) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{}: {e}", p.name));
                    continue;
                }
            };
            jws::check_times(&claims, now.unix_timestamp(), 0)
                .map_err(|e| denied(format!("admin token from {}: {e}", p.name)))?;
            check_claim(&claims, "iss", p.iss.as_deref(), &p.name)?;
            check_claim(&claims, "aud", p.aud.as_deref(), &p.name)?;
            let role = claims
                .get("role")
                .and_then(Value::as_str)
                .ok_or_else(|| denied(format!("admin token from {} has no string \"role\" claim", p.name)))?;
            if p.implicit_admin && role == "admin" {
                return Ok(AdminIdentity { role: role.into(), provider: p.name.clone() });
            }
            let allowed =
                self.rules.iter().filter(|r| r.role == role).flat_map(|r| r.allowed.iter()).any(|re| re.is_match(path));
            if allowed {
                return Ok(AdminIdentity { role: role.into(), provider: p.name.clone() });
            }
            let patterns: Vec<&str> = self
                .rules
                .iter()
                .filter(|r| r.role == role)
                .flat_map(|r| r.allowed.iter().map(Regex::as_str))
                .collect();
            return Err(denied(if patterns.is_empty() {
                format!("role {role:?} has no [[admin.roles]] rule; path {path} denied")
            } else {
                format!("role {role:?} may use {patterns:?}; path {path} matches none")
            }));
        }
        Err(denied(format!("admin token not signed by any identity provider ({})", failures.join("; "))))
    }
}

fn check_claim(
    claims: &Value,
    name: &str,
    expected: Option<&str>,
    provider: &str,
) -> std::result::Result<(), ApiError> {
    let Some(expected) = expected else { return Ok(()) };
    let ok = match claims.get(name) {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(expected)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(denied(format!(
            "admin token from {provider}: claim {name} expected {expected:?}, found {}",
            claims.get(name).map(Value::to_string).unwrap_or_else(|| "none".into())
        )))
    }
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
