//! The KBS admin API: resources, policies and reference values, each call
//! authorised by a Bearer admin JWT.
//!
//! The token is either given ready-made ([`AdminCredential::Token`]) or
//! signed per call from a private key ([`AdminCredential::SigningKey`]),
//! short-lived, with the claims of [`AdminTokenOptions`].

use std::fmt;
use std::time::Duration;

use arca_kbs_protocol::admin::AdminClaims;
use arca_kbs_protocol::jws;
pub use arca_kbs_protocol::jws::SigningKey;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::http::{build_client, check_status, read_limited, send, HttpOptions, KbsUrl, ResourcePath};
use crate::token::{now_unix, MAX_TOKEN_SIZE};

/// Largest reply read from an admin route.
const MAX_ADMIN_REPLY: usize = 4 << 20;
/// Largest resource stored in one call.
pub const MAX_RESOURCE_UPLOAD: usize = 16 << 20;
/// Lifetime of the token signed for each call when a key is given.
pub const PER_CALL_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Version of the reference-value (RVPS) message format.
pub const RVPS_MESSAGE_VERSION: &str = "0.1.0";

/// Claims of an admin token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenOptions {
    /// The `role` claim the KBS maps to allowed admin paths.
    pub role: String,
    /// Lifetime: `exp` = `iat` + `ttl`.
    pub ttl: Duration,
    /// Optional `iss` claim.
    pub iss: Option<String>,
    /// Optional `aud` claim.
    pub aud: Option<String>,
}

impl Default for AdminTokenOptions {
    fn default() -> Self {
        AdminTokenOptions { role: "admin".to_string(), ttl: Duration::from_secs(3600), iss: None, aud: None }
    }
}

/// Sign an admin JWT with `key` (EdDSA for Ed25519 keys, ES256 for P-256), issued now.
pub fn mint_admin_token(key: &SigningKey, options: &AdminTokenOptions) -> Result<Zeroizing<String>> {
    mint_admin_token_at(key, options, now_unix())
}

/// [`mint_admin_token`] issued at `iat` (seconds since the Unix epoch).
pub fn mint_admin_token_at(key: &SigningKey, options: &AdminTokenOptions, iat: i64) -> Result<Zeroizing<String>> {
    if options.role.is_empty() {
        return Err(Error::Invalid { what: "admin token role", detail: "expected a role name, found nothing".into() });
    }
    let ttl = i64::try_from(options.ttl.as_secs()).ok().filter(|t| *t > 0).ok_or_else(|| Error::Invalid {
        what: "admin token lifetime",
        detail: format!("expected between 1 s and {} s, found {} s", i64::MAX, options.ttl.as_secs()),
    })?;
    let claims = AdminClaims {
        iss: options.iss.clone(),
        aud: options.aud.clone(),
        role: options.role.clone(),
        iat,
        exp: iat.saturating_add(ttl),
    };
    let token =
        jws::sign(key, &claims.to_value(), serde_json::Map::new()).map_err(Error::jose("signing the admin token"))?;
    Ok(Zeroizing::new(token))
}

/// How admin calls are authorised.
pub enum AdminCredential {
    /// A ready admin token, sent as is.
    Token(Zeroizing<String>),
    /// A private key: each call sends a fresh token of [`PER_CALL_TOKEN_TTL`].
    SigningKey {
        /// The admin key (Ed25519 or P-256), boxed: it is large beside a token.
        key: Box<SigningKey>,
        /// Claims of the tokens (its `ttl` is ignored: per-call tokens are short-lived).
        claims: AdminTokenOptions,
    },
}

impl AdminCredential {
    /// A ready token read from text (surrounding whitespace removed).
    pub fn token(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_TOKEN_SIZE {
            return Err(Error::Invalid {
                what: "admin token",
                detail: format!("expected a JWT of 1 to {MAX_TOKEN_SIZE} bytes, found {} bytes", text.len()),
            });
        }
        Ok(AdminCredential::Token(Zeroizing::new(text.to_string())))
    }

    fn bearer(&self) -> Result<HeaderValue> {
        let token = match self {
            AdminCredential::Token(token) => token.clone(),
            AdminCredential::SigningKey { key, claims } => {
                mint_admin_token(key, &AdminTokenOptions { ttl: PER_CALL_TOKEN_TTL, ..claims.clone() })?
            }
        };
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.as_str()))
            .map_err(|_| Error::Invalid { what: "admin token", detail: "not usable in an HTTP header".into() })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for AdminCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminCredential::Token(_) => f.write_str("AdminCredential::Token(..)"),
            AdminCredential::SigningKey { claims, .. } => {
                f.debug_struct("AdminCredential::SigningKey").field("claims", claims).finish_non_exhaustive()
            }
        }
    }
}

/// A reference-value message for `POST /kbs/v0/reference-value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceValueMessage {
    /// Message format version, [`RVPS_MESSAGE_VERSION`].
    pub version: String,
    /// Extractor: `sample` or `arca`.
    pub r#type: String,
    /// Standard base64 of the extractor's JSON document.
    pub payload: String,
}

impl ReferenceValueMessage {
    /// A `sample` message: `{name: [values]}` (trustee's sample extractor format).
    pub fn sample(values: &serde_json::Map<String, serde_json::Value>) -> Self {
        Self::of_type("sample", &serde_json::Value::Object(values.clone()))
    }

    /// An `arca` message: a JSON document of measurements `{name: value | [values]}`,
    /// such as the output of `arca measure`.
    pub fn arca(measurements: &serde_json::Value) -> Result<Self> {
        if !measurements.is_object() {
            return Err(Error::Invalid {
                what: "reference values",
                detail: "expected a JSON object of measurements {name: value | [values]}".into(),
            });
        }
        Ok(Self::of_type("arca", measurements))
    }

    fn of_type(kind: &str, document: &serde_json::Value) -> Self {
        ReferenceValueMessage {
            version: RVPS_MESSAGE_VERSION.to_string(),
            r#type: kind.to_string(),
            payload: STANDARD.encode(document.to_string()),
        }
    }
}

#[derive(Serialize)]
struct ResourcePolicyBody {
    policy: String,
}

#[derive(Serialize)]
struct AttestationPolicyBody<'a> {
    r#type: &'a str,
    policy_id: &'a str,
    policy: String,
}

/// Client of the KBS admin API.
#[derive(Debug)]
pub struct AdminClient {
    url: KbsUrl,
    http: reqwest::Client,
    credential: AdminCredential,
}

impl AdminClient {
    /// A client of the KBS at `url` authorised by `credential`.
    pub fn new(url: &str, http: &HttpOptions, credential: AdminCredential) -> Result<Self> {
        Ok(AdminClient { url: KbsUrl::parse(url)?, http: build_client(http, None)?, credential })
    }

    /// Store a resource (`POST /kbs/v0/resource/<path>`, raw body).
    pub async fn set_resource(&self, path: &str, value: &[u8]) -> Result<()> {
        let path = ResourcePath::parse(path)?;
        if value.len() > MAX_RESOURCE_UPLOAD {
            return Err(Error::Invalid {
                what: "resource",
                detail: format!("{} bytes, more than the limit of {MAX_RESOURCE_UPLOAD}", value.len()),
            });
        }
        let request = self
            .request(Method::POST, &format!("/resource/{path}"))?
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(value.to_vec());
        self.call(request, &format!("POST /kbs/v0/resource/{path}")).await.map(drop)
    }

    /// Delete a resource (`DELETE /kbs/v0/resource/<path>`).
    pub async fn delete_resource(&self, path: &str) -> Result<()> {
        let path = ResourcePath::parse(path)?;
        let request = self.request(Method::DELETE, &format!("/resource/{path}"))?;
        self.call(request, &format!("DELETE /kbs/v0/resource/{path}")).await.map(drop)
    }

    /// Replace the resource policy (Rego text), sent base64url-encoded.
    pub async fn set_resource_policy(&self, rego: &str) -> Result<()> {
        let body = ResourcePolicyBody { policy: URL_SAFE_NO_PAD.encode(rego) };
        let request = self.request(Method::POST, "/resource-policy")?.json(&body);
        self.call(request, "POST /kbs/v0/resource-policy").await.map(drop)
    }

    /// Set an attestation policy: `policy_type` defaults to `rego`, `id` to `default`.
    pub async fn set_attestation_policy(&self, rego: &str, policy_type: Option<&str>, id: Option<&str>) -> Result<()> {
        let body = AttestationPolicyBody {
            r#type: policy_type.unwrap_or("rego"),
            policy_id: id.unwrap_or("default"),
            policy: URL_SAFE_NO_PAD.encode(rego),
        };
        let request = self.request(Method::POST, "/attestation-policy")?.json(&body);
        self.call(request, "POST /kbs/v0/attestation-policy").await.map(drop)
    }

    /// Read the reference values stored under `name` (`GET /kbs/v0/reference-value/<name>`).
    pub async fn get_reference_value(&self, name: &str) -> Result<serde_json::Value> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return Err(Error::Invalid {
                what: "reference value name",
                detail: format!("expected ASCII letters, digits and - _ . :, found {name:?}"),
            });
        }
        let what = format!("GET /kbs/v0/reference-value/{name}");
        let request = self.request(Method::GET, &format!("/reference-value/{name}"))?;
        let body = self.call(request, &what).await?;
        serde_json::from_slice(&body).map_err(|e| Error::protocol(&what, format!("expected JSON: {e}")))
    }

    /// Register reference values (`POST /kbs/v0/reference-value`).
    pub async fn set_reference_values(&self, message: &ReferenceValueMessage) -> Result<()> {
        let request = self.request(Method::POST, "/reference-value")?.json(message);
        self.call(request, "POST /kbs/v0/reference-value").await.map(drop)
    }

    fn request(&self, method: Method, route: &str) -> Result<reqwest::RequestBuilder> {
        Ok(self.http.request(method, self.url.route(route)).header(AUTHORIZATION, self.credential.bearer()?))
    }

    async fn call(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Vec<u8>> {
        let response = check_status(send(request, what).await?, what).await?;
        read_limited(response, MAX_ADMIN_REPLY, what).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_kbs_protocol::jws::{check_times, decode_unverified, verify};

    #[test]
    fn minted_admin_tokens_verify_with_the_public_key_and_carry_the_claims() {
        let key = SigningKey::generate_ed25519();
        let options = AdminTokenOptions {
            role: "operator".into(),
            ttl: Duration::from_secs(600),
            iss: Some("arca-cli".into()),
            aud: Some("kbs".into()),
        };
        let token = mint_admin_token_at(&key, &options, 1_700_000_000).unwrap();
        let verifying = arca_kbs_protocol::jws::VerifyingKey::from_jwk(&key.public_jwk()).unwrap();
        let claims = verify(&token, &[verifying]).unwrap();
        assert_eq!(claims["role"], "operator");
        assert_eq!(claims["iss"], "arca-cli");
        assert_eq!(claims["aud"], "kbs");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_600);
        let (header, _) = decode_unverified(&token).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        check_times(&claims, 1_700_000_599, 0).unwrap();
        assert!(check_times(&claims, 1_700_000_601, 0).is_err());

        let other = SigningKey::generate_ed25519();
        let wrong = arca_kbs_protocol::jws::VerifyingKey::from_jwk(&other.public_jwk()).unwrap();
        assert!(verify(&token, &[wrong]).is_err());
    }

    #[test]
    fn admin_token_options_are_checked() {
        let key = SigningKey::generate_ed25519();
        let no_role = AdminTokenOptions { role: String::new(), ..Default::default() };
        assert!(mint_admin_token(&key, &no_role).is_err());
        let no_ttl = AdminTokenOptions { ttl: Duration::ZERO, ..Default::default() };
        assert!(mint_admin_token(&key, &no_ttl).unwrap_err().to_string().contains("lifetime"));
        assert!(AdminCredential::token("  \n").is_err());
        let cred = AdminCredential::token(" abc.def.ghi\n").unwrap();
        assert!(!format!("{cred:?}").contains("abc"));
    }

    #[test]
    fn reference_value_messages_have_the_rvps_shape() {
        let mut values = serde_json::Map::new();
        values.insert("svn".into(), serde_json::json!(["1"]));
        let message = ReferenceValueMessage::sample(&values);
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["version"], "0.1.0");
        assert_eq!(json["type"], "sample");
        let payload: serde_json::Value = serde_json::from_slice(&STANDARD.decode(&message.payload).unwrap()).unwrap();
        assert_eq!(payload, serde_json::json!({"svn": ["1"]}));

        let arca = ReferenceValueMessage::arca(&serde_json::json!({"snp_launch_measurement": "ab"})).unwrap();
        assert_eq!(arca.r#type, "arca");
        assert!(ReferenceValueMessage::arca(&serde_json::json!(["x"])).is_err());
    }
}
