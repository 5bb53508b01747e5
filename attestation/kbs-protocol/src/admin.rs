//! Claims of the admin tokens that authorize KBS management requests.
//!
//! An admin token is a compact JWS (EdDSA or ES256, see [`jws`](crate::jws))
//! signed by a key the KBS trusts as an identity provider; its `role` is
//! mapped to the endpoint paths it may use.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The claims of an admin token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClaims {
    /// Issuer; checked when the identity provider configures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience (a single string); checked when the identity provider configures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The role, mapped by the KBS to allowed endpoint paths (e.g. `"admin"`).
    pub role: String,
    /// Issued-at time, Unix seconds.
    pub iat: i64,
    /// Expiry time, Unix seconds.
    pub exp: i64,
}

impl AdminClaims {
    /// Claims for `role` valid from `now_unix` for `lifetime_s` seconds.
    pub fn new(role: impl Into<String>, now_unix: i64, lifetime_s: i64) -> Self {
        AdminClaims { iss: None, aud: None, role: role.into(), iat: now_unix, exp: now_unix.saturating_add(lifetime_s) }
    }

    /// Claims from a verified token's claims JSON.
    pub fn from_value(claims: &serde_json::Value) -> Result<Self> {
        AdminClaims::deserialize(claims).map_err(|e| Error::malformed("admin token claims", e.to_string()))
    }

    /// The claims as JSON, ready for [`jws::sign`](crate::jws::sign).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::json!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::{self, SigningKey};
    use serde_json::json;

    #[test]
    fn signed_admin_token_round_trip() {
        let key = SigningKey::generate_ed25519();
        let mut claims = AdminClaims::new("admin", 1_000, 300);
        claims.iss = Some("arca".into());
        let token = jws::sign(&key, &claims.to_value(), Default::default()).unwrap();
        let back = AdminClaims::from_value(&jws::verify(&token, &[key.verifying_key()]).unwrap()).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.exp, 1_300);
        assert_eq!(claims.to_value(), json!({"iss": "arca", "role": "admin", "iat": 1000, "exp": 1300}));
        assert!(AdminClaims::from_value(&json!({"iat": 1, "exp": 2})).is_err(), "role is required");
    }
}
