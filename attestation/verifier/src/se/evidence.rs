//! Parsing of SE evidence (both formats) and of the verification
//! configuration.

use base64::Engine;
use serde::Deserialize;

use super::header::HeaderTags;
use super::MAX_CONFIG_SIZE;
use crate::x509::{Certificate, Crl};
use crate::{Error, Evidence, EvidenceFormat, Result};

/// The SE verification configuration: `Endorsements::collateral`.
///
/// Every value is standard base64; see the [`super`] module documentation
/// for what each holds. Unknown members are refused, so that a misspelt
/// member cannot silently switch a check off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeConfig {
    /// SE image header, or the start of the SE image.
    pub se_header: Option<String>,
    /// The ARCB that was sent.
    pub arcb: Option<String>,
    /// AES-256 request protection key of the ARCB.
    pub request_protection_key: Option<String>,
    /// Customer P-521 private scalar of the ARCB.
    pub customer_private_key: Option<String>,
    /// Measurement key, when no ARCB is configured.
    pub measurement_key: Option<String>,
    /// Nonce, when no ARCB is configured.
    pub nonce: Option<String>,
    /// Host-key documents (PEM or DER).
    #[serde(default)]
    pub host_key_documents: Vec<String>,
    /// Trusted roots (PEM may also hold CRLs).
    #[serde(default)]
    pub root_certificates: Vec<String>,
    /// IBM signing certificate and intermediate CAs.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// CRLs (PEM or DER).
    #[serde(default)]
    pub crls: Vec<String>,
}

/// Parse the SE verification configuration JSON.
pub fn parse_config(bytes: &[u8]) -> Result<SeConfig> {
    if bytes.len() > MAX_CONFIG_SIZE {
        return Err(Error::TooLarge { what: "SE configuration", found: bytes.len(), limit: MAX_CONFIG_SIZE });
    }
    serde_json::from_slice(bytes).map_err(|e| Error::field(CONFIG, "$", e.to_string()))
}

/// trustee's `SeAttestationResponse`.
#[derive(Debug, Deserialize)]
struct SeAttestationResponseJson {
    measurement: String,
    additional_data: String,
    user_data: String,
    cuid: String,
    #[serde(default)]
    image_hdr_tags: Option<String>,
}

/// The response fields, from either evidence format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeEvidence {
    /// The ARCB the response answers (exchange format only).
    pub arcb: Option<Vec<u8>>,
    /// The measurement.
    pub measurement: Vec<u8>,
    /// Additional data (empty when none).
    pub additional: Vec<u8>,
    /// User data (empty when none).
    pub user_data: Vec<u8>,
    /// Configuration unique id.
    pub config_uid: [u8; 16],
    /// Header tags the evidence names (trustee JSON only).
    pub header_tags: Option<HeaderTags>,
}

pub(super) fn b64(what: &'static str, field: &str, value: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| Error::field(what, field.to_string(), format!("not standard base64: {e}")))
}

pub(super) fn fixed<const N: usize>(what: &'static str, field: &str, bytes: Vec<u8>) -> Result<[u8; N]> {
    let len = bytes.len();
    <[u8; N]>::try_from(bytes)
        .map_err(|_| Error::field(what, field.to_string(), format!("expected {N} bytes, found {len}")))
}

pub(super) const EVIDENCE: &str = "SE evidence";
pub(super) const CONFIG: &str = "SE configuration";

/// Parse evidence in either format.
pub fn parse_evidence(evidence: &Evidence<'_>) -> Result<SeEvidence> {
    match evidence.format {
        EvidenceFormat::Raw => {
            let r = super::exchange::parse_exchange_response(evidence.bytes)?;
            Ok(SeEvidence {
                arcb: Some(r.arcb),
                measurement: r.measurement,
                additional: r.additional.unwrap_or_default(),
                user_data: r.user_data.unwrap_or_default(),
                config_uid: r.config_uid,
                header_tags: None,
            })
        }
        EvidenceFormat::Json => parse_evidence_json(evidence.bytes),
    }
}

/// Parse trustee's `SeAttestationResponse` JSON.
pub fn parse_evidence_json(bytes: &[u8]) -> Result<SeEvidence> {
    if bytes.len() > crate::MAX_EVIDENCE_SIZE {
        return Err(Error::TooLarge { what: "evidence", found: bytes.len(), limit: crate::MAX_EVIDENCE_SIZE });
    }
    let j: SeAttestationResponseJson = serde_json::from_slice(bytes)
        .map_err(|e| Error::field(EVIDENCE, "$", format!("not an SeAttestationResponse: {e}")))?;
    let header_tags = match &j.image_hdr_tags {
        Some(t) => Some(HeaderTags::from_bytes(&b64(EVIDENCE, "image_hdr_tags", t)?)?),
        None => None,
    };
    Ok(SeEvidence {
        arcb: None,
        measurement: b64(EVIDENCE, "measurement", &j.measurement)?,
        additional: b64(EVIDENCE, "additional_data", &j.additional_data)?,
        user_data: b64(EVIDENCE, "user_data", &j.user_data)?,
        config_uid: fixed(EVIDENCE, "cuid", b64(EVIDENCE, "cuid", &j.cuid)?)?,
        header_tags,
    })
}

/// Certificates (and CRLs bundled with them) from a base64 PEM or DER value.
pub(super) fn certificates_of(field: &str, value: &str) -> Result<(Vec<Certificate>, Vec<Crl>)> {
    let bytes = b64(CONFIG, field, value)?;
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let certs = Certificate::all_from_pem(&bytes)?;
        if certs.is_empty() {
            return Err(Error::field(CONFIG, field.to_string(), "PEM holds no certificate"));
        }
        Ok((certs, Crl::all_from_pem(&bytes)?))
    } else {
        Ok((vec![Certificate::from_der(&bytes)?], Vec::new()))
    }
}

pub(super) fn crls_of(field: &str, value: &str) -> Result<Vec<Crl>> {
    let bytes = b64(CONFIG, field, value)?;
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        Crl::all_from_pem(&bytes)
    } else {
        Ok(vec![Crl::from_der(&bytes)?])
    }
}
