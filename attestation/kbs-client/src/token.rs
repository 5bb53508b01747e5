//! Attestation tokens as the client holds them.
//!
//! The client does not verify the KBS's token (it is the KBS's own
//! credential, checked by the KBS when it comes back); it only reads `exp`
//! to know when to attest again, and keeps the text zeroized.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Largest token accepted from a KBS or a file.
pub const MAX_TOKEN_SIZE: usize = 64 * 1024;

/// Seconds before `exp` at which a cached token is no longer used, so that
/// a token does not expire between the check and the KBS reading it.
pub const EXPIRY_MARGIN_S: i64 = 10;

/// An attestation token (EAR JWT) and its expiry.
#[derive(Clone)]
pub struct Token {
    raw: Zeroizing<String>,
    exp: Option<i64>,
}

impl Token {
    /// Read a compact JWS token; its claims are decoded (not verified) for `exp`.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        if raw.len() > MAX_TOKEN_SIZE {
            return Err(Error::protocol(
                "attestation token",
                format!("{} bytes, more than {MAX_TOKEN_SIZE}", raw.len()),
            ));
        }
        let (_, claims) =
            arca_kbs_protocol::jws::decode_unverified(raw).map_err(Error::jose("reading the attestation token"))?;
        let exp = match claims.get("exp") {
            None => None,
            Some(value) => Some(value.as_i64().ok_or_else(|| {
                Error::protocol("attestation token", format!("expected `exp` as an integer, found {value}"))
            })?),
        };
        Ok(Token { raw: Zeroizing::new(raw.to_string()), exp })
    }

    /// The compact token text (a bearer credential: do not log it).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The token's `exp` (seconds since the Unix epoch), when it has one.
    pub fn expires_at(&self) -> Option<i64> {
        self.exp
    }

    /// True while the token can still be presented at `now_unix`
    /// (its `exp` more than [`EXPIRY_MARGIN_S`] ahead, or no `exp`).
    pub fn is_usable_at(&self, now_unix: i64) -> bool {
        self.exp.is_none_or(|exp| now_unix + EXPIRY_MARGIN_S < exp)
    }

    /// The token's claims, decoded without verification (for display and policy debugging).
    pub fn claims_unverified(&self) -> Result<serde_json::Value> {
        let (_, claims) = arca_kbs_protocol::jws::decode_unverified(&self.raw)
            .map_err(Error::jose("reading the attestation token"))?;
        Ok(claims)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("exp", &self.exp).finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch now.
pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_kbs_protocol::jws::{sign, SigningKey};

    fn token_with(claims: serde_json::Value) -> String {
        let key = SigningKey::generate_es256();
        sign(&key, &claims, serde_json::Map::new()).unwrap()
    }

    #[test]
    fn expiry_is_read_and_respected_with_a_margin() {
        let token = Token::parse(&token_with(serde_json::json!({"exp": 1_000, "iat": 700}))).unwrap();
        assert_eq!(token.expires_at(), Some(1_000));
        assert!(token.is_usable_at(900));
        assert!(!token.is_usable_at(1_000 - EXPIRY_MARGIN_S));
        assert!(!token.is_usable_at(2_000));
        let no_exp = Token::parse(&token_with(serde_json::json!({"iat": 700}))).unwrap();
        assert!(no_exp.is_usable_at(i64::MAX - 100));
    }

    #[test]
    fn malformed_tokens_are_refused_and_never_printed() {
        for bad in ["", "abc", "a.b", "a.b.c.d"] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
        let err = Token::parse(&token_with(serde_json::json!({"exp": "tomorrow"}))).unwrap_err();
        assert!(err.to_string().contains("expected `exp` as an integer"), "{err}");
        let raw = token_with(serde_json::json!({"exp": 5}));
        let token = Token::parse(&format!("  {raw}\n")).unwrap();
        assert_eq!(token.as_str(), raw);
        assert!(!format!("{token:?}").contains(&raw[..20]));
    }
}
