//! Arm CCA (Confidential Compute Architecture) attestation tokens.
//!
//! A CCA token is a CBOR collection (tag 399) of two COSE_Sign1 tokens:
//!
//! - the **platform token**, signed by the platform's CPAK, describes the
//!   firmware (software components with measurements and signer ids), the
//!   platform identity (implementation id, instance id) and its security
//!   lifecycle state;
//! - the **realm token**, signed by the realm attestation key (RAK), carries
//!   the realm's measurements (RIM, REM0..REM3), the 64-byte challenge
//!   (report data), the 64-byte personalization value (init data) and the
//!   RAK itself.
//!
//! Verification, in this order:
//! 1. the CPAK is looked up in the trust-anchor store
//!    ([`Endorsements::chain`]) by instance id and implementation id; no
//!    entry is [`Error::MissingEndorsement`];
//! 2. the platform token's signature verifies with that CPAK;
//! 3. the platform is in the `secured` lifecycle state (0x3000..=0x30ff,
//!    see [`lifecycle_name`]); any other state is [`Error::Mismatch`];
//! 4. the realm token's signature verifies with the RAK from realm claim
//!    44237;
//! 5. the RAK binding: the platform challenge equals the hash (realm claim
//!    44240's algorithm) of the encoded RAK claim, so the platform vouches
//!    for exactly this realm key;
//! 6. when a reference-value store is given ([`Endorsements::collateral`]),
//!    every value in it must match the token: the store lists required
//!    values, so a mismatch is [`Error::Mismatch`] naming the first
//!    differing item; the claims list what was compared;
//! 7. the realm challenge is checked against [`VerifyOptions::report_data`]
//!    and the personalization value against
//!    [`VerifyOptions::init_data_digest`].
//!
//! The trust anchors are bare keys without validity dates, so
//! [`VerifyOptions::at`] does not affect CCA verification.

mod cose;
mod keys;
mod stores;
mod token;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_resign;

use base64::Engine;
use serde::Serialize;

pub use cose::CoseAlgorithm;
pub use stores::{
    compare_reference_values, parse_reference_values, parse_trust_anchors, ComponentReference, PlatformReference,
    RealmReference, ReferenceMismatch, ReferenceValueReport, ReferenceValueStore, TrustAnchor, TrustAnchorStore,
    MAX_STORE_SIZE,
};
pub use token::{lifecycle_is_secured, lifecycle_name, PlatformClaims, RealmClaims, SwComponent, REM_COUNT};

use crate::binding::HashAlgorithm;
use crate::{Endorsements, Error, Evidence, EvidenceFormat, Result, VerifyOptions};

/// Largest CCA token accepted, in bytes (real tokens are a few KiB).
pub const MAX_TOKEN_SIZE: usize = 64 << 10;

/// A signed CCA token, parsed but not yet verified.
#[derive(Debug, Clone)]
pub struct SignedToken<T> {
    /// The COSE signature algorithm.
    pub alg: CoseAlgorithm,
    /// The decoded claims.
    pub claims: T,
    sign1: cose::Sign1,
}

impl<T> SignedToken<T> {
    /// The signed payload bytes (the encoded claims map).
    pub fn payload(&self) -> &[u8] {
        &self.sign1.payload
    }
}

/// A CCA attestation token: the platform token and the realm token.
#[derive(Debug, Clone)]
pub struct CcaToken {
    /// The platform token (collection key 44234).
    pub platform: SignedToken<PlatformClaims>,
    /// The realm token (collection key 44241).
    pub realm: SignedToken<RealmClaims>,
}

/// Parse a CCA token (CBOR, tag 399) without checking any signature.
pub fn parse_token(bytes: &[u8]) -> Result<CcaToken> {
    if bytes.len() > MAX_TOKEN_SIZE {
        return Err(Error::TooLarge { what: "CCA token", found: bytes.len(), limit: MAX_TOKEN_SIZE });
    }
    let (platform, realm) = cose::split_collection(bytes)?;
    let platform = cose::parse_sign1("CCA platform token", platform)?;
    let realm = cose::parse_sign1("CCA realm token", realm)?;
    Ok(CcaToken {
        platform: SignedToken {
            alg: platform.alg,
            claims: token::parse_platform_claims(&platform.payload)?,
            sign1: platform,
        },
        realm: SignedToken { alg: realm.alg, claims: token::parse_realm_claims(&realm.payload)?, sign1: realm },
    })
}

/// The token bytes from JSON evidence: `{"token": [byte, …]}` (what the
/// guest attester sends) or `{"token": "<base64>"}`.
pub fn parse_json_evidence(json: &[u8]) -> Result<Vec<u8>> {
    const WHAT: &str = "CCA evidence JSON";
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum TokenField {
        Bytes(Vec<u8>),
        Text(String),
    }
    #[derive(serde::Deserialize)]
    struct EvidenceJson {
        token: TokenField,
    }
    let max_json = MAX_TOKEN_SIZE * 4 + 1024;
    if json.len() > max_json {
        return Err(Error::TooLarge { what: WHAT, found: json.len(), limit: max_json });
    }
    let doc: EvidenceJson = serde_json::from_slice(json).map_err(|e| Error::field(WHAT, "$", e.to_string()))?;
    match doc.token {
        TokenField::Bytes(bytes) => Ok(bytes),
        TokenField::Text(text) => {
            let text = text.trim().trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|e| Error::field(WHAT, "token", format!("expected a byte array or base64, {e}")))
        }
    }
}

/// Claims of verified CCA evidence.
#[derive(Debug, Clone, Serialize)]
pub struct CcaClaims {
    /// Platform token claims.
    pub platform: Box<PlatformClaimsOut>,
    /// Realm token claims.
    pub realm: Box<RealmClaimsOut>,
    /// Report data: the realm challenge (hex, 64 bytes).
    pub report_data: String,
    /// Init data: the realm personalization value (hex, 64 bytes).
    pub init_data: String,
    /// Comparison with the reference-value store, when one was given.
    pub reference_values: Option<ReferenceValueReport>,
}

/// Platform claims as reported (bytes in hex).
#[derive(Debug, Clone, Serialize)]
pub struct PlatformClaimsOut {
    /// Signature algorithm of the platform token.
    pub signature_algorithm: CoseAlgorithm,
    /// Profile.
    pub profile: String,
    /// Challenge (hash of the RAK).
    pub challenge: String,
    /// Implementation id.
    pub implementation_id: String,
    /// Instance id.
    pub instance_id: String,
    /// Platform configuration.
    pub config: String,
    /// Security lifecycle.
    pub lifecycle: Lifecycle,
    /// Measurement hash algorithm.
    pub hash_algo: String,
    /// Verification service indicator.
    pub verification_service: Option<String>,
    /// Software components in token order.
    pub sw_components: Vec<SwComponentOut>,
}

/// Security lifecycle value and state name.
#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    /// The raw claim value.
    pub raw: u16,
    /// The state name (see [`lifecycle_name`]).
    pub name: &'static str,
}

/// One software component as reported.
#[derive(Debug, Clone, Serialize)]
pub struct SwComponentOut {
    /// Component type.
    #[serde(rename = "type")]
    pub component_type: Option<String>,
    /// Measurement (hex).
    pub measurement: String,
    /// Version.
    pub version: Option<String>,
    /// Signer id (hex).
    pub signer_id: String,
    /// Hash algorithm.
    pub hash_algo: Option<String>,
}

/// Realm claims as reported (bytes in hex).
#[derive(Debug, Clone, Serialize)]
pub struct RealmClaimsOut {
    /// Signature algorithm of the realm token.
    pub signature_algorithm: CoseAlgorithm,
    /// Challenge.
    pub challenge: String,
    /// Personalization value.
    pub personalization_value: String,
    /// Realm initial measurement.
    pub rim: String,
    /// REM0..REM3.
    pub rems: Vec<String>,
    /// Measurement hash algorithm.
    pub hash_algo: String,
    /// Realm attestation public key, as encoded in the token.
    pub public_key: String,
    /// Hash algorithm of the RAK binding.
    pub public_key_hash_algo: String,
    /// Profile, when present.
    pub profile: Option<String>,
}

fn token_bytes(evidence: &Evidence<'_>) -> Result<Vec<u8>> {
    match evidence.format {
        EvidenceFormat::Raw => Ok(evidence.bytes.to_vec()),
        EvidenceFormat::Json => parse_json_evidence(evidence.bytes),
    }
}

/// Verify CCA evidence (see the module documentation for the checks).
pub fn verify(evidence: &Evidence<'_>, endorsements: &Endorsements, options: &VerifyOptions) -> Result<CcaClaims> {
    let token = parse_token(&token_bytes(evidence)?)?;
    let platform = &token.platform.claims;
    let realm = &token.realm.claims;

    let store = endorsements.chain.as_deref().ok_or_else(|| {
        Error::MissingEndorsement("CCA trust-anchor store (endorsements chain) with the platform's CPAK".into())
    })?;
    let anchors = parse_trust_anchors(store)?;
    let anchor = anchors.find(&platform.implementation_id, &platform.instance_id).ok_or_else(|| {
        Error::MissingEndorsement(format!(
            "no CPAK in the trust-anchor store ({} entries) for instance id {} and implementation id {}",
            anchors.anchors.len(),
            hex::encode(&platform.instance_id),
            hex::encode(&platform.implementation_id)
        ))
    })?;
    let cpak_name = format!("the CPAK of instance {}", hex::encode(&platform.instance_id));
    token.platform.sign1.verify(&anchor.key, "CCA platform token", &cpak_name)?;

    if !lifecycle_is_secured(platform.lifecycle) {
        return Err(Error::Mismatch {
            what: "CCA platform lifecycle".into(),
            expected: "secured (0x3000..=0x30ff)".into(),
            found: format!("{:#06x} ({})", platform.lifecycle, lifecycle_name(platform.lifecycle)),
        });
    }

    let rak = keys::realm_public_key(&realm.public_key)?;
    token.realm.sign1.verify(&rak, "CCA realm token", "the RAK in realm claim 44237")?;

    let rak_hash = HashAlgorithm::from_name(&realm.public_key_hash_algo).ok_or_else(|| Error::Unsupported {
        what: "CCA realm public key hash algorithm",
        found: realm.public_key_hash_algo.clone(),
    })?;
    let rak_digest = rak_hash.digest(&realm.public_key);
    if rak_digest != platform.challenge {
        return Err(Error::mismatch_bytes(
            "CCA RAK binding (platform challenge = hash of the realm public key)",
            &rak_digest,
            &platform.challenge,
        ));
    }

    let reference_values = match endorsements.collateral.as_deref() {
        Some(json) => {
            let report = compare_reference_values(&parse_reference_values(json)?, platform, realm);
            if let Some(first) = report.mismatches.first() {
                let more = match report.mismatches.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                return Err(Error::Mismatch {
                    what: format!("CCA reference value {}{more}", first.item),
                    expected: first.expected.clone(),
                    found: first.found.clone(),
                });
            }
            Some(report)
        }
        None => None,
    };

    options.check_report_data(&realm.challenge)?;
    options.check_init_data(&realm.personalization_value)?;

    Ok(claims_of(&token, reference_values))
}

fn claims_of(token: &CcaToken, reference_values: Option<ReferenceValueReport>) -> CcaClaims {
    let p = &token.platform.claims;
    let r = &token.realm.claims;
    CcaClaims {
        platform: Box::new(PlatformClaimsOut {
            signature_algorithm: token.platform.alg,
            profile: p.profile.clone(),
            challenge: hex::encode(&p.challenge),
            implementation_id: hex::encode(&p.implementation_id),
            instance_id: hex::encode(&p.instance_id),
            config: hex::encode(&p.config),
            lifecycle: Lifecycle { raw: p.lifecycle, name: lifecycle_name(p.lifecycle) },
            hash_algo: p.hash_algo.clone(),
            verification_service: p.verification_service.clone(),
            sw_components: p
                .sw_components
                .iter()
                .map(|c| SwComponentOut {
                    component_type: c.component_type.clone(),
                    measurement: hex::encode(&c.measurement),
                    version: c.version.clone(),
                    signer_id: hex::encode(&c.signer_id),
                    hash_algo: c.hash_algo.clone(),
                })
                .collect(),
        }),
        realm: Box::new(RealmClaimsOut {
            signature_algorithm: token.realm.alg,
            challenge: hex::encode(&r.challenge),
            personalization_value: hex::encode(&r.personalization_value),
            rim: hex::encode(&r.rim),
            rems: r.rems.iter().map(hex::encode).collect(),
            hash_algo: r.hash_algo.clone(),
            public_key: hex::encode(&r.public_key),
            public_key_hash_algo: r.public_key_hash_algo.clone(),
            profile: r.profile.clone(),
        }),
        report_data: hex::encode(&r.challenge),
        init_data: hex::encode(&r.personalization_value),
        reference_values,
    }
}
