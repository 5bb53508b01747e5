//! IBM Secure Execution (s390x) attestation.
//!
//! SE attestation is a challenge–response with a symmetric key: the
//! verifier creates an attestation request control block ([`arcb`]) that
//! carries a fresh HMAC-SHA512 measurement key and nonce, encrypted so that
//! only the Ultravisor of the listed IBM Z hosts can open it ([`hkd`]). The
//! guest hands it to the Ultravisor with up to 256 bytes of user data, and
//! gets back an HMAC over the SE image's header tags ([`header`]), its
//! configuration unique id, the user data, the nonce and the requested
//! additional data ([`response`]). Whoever knows the measurement key can
//! recompute the HMAC; nobody else can produce it. There is no certificate
//! chain over the response itself: the trust comes from the key having been
//! wrapped for verified host keys only.
//!
//! # Evidence
//!
//! - [`EvidenceFormat::Raw`](crate::EvidenceFormat::Raw): a pvattest
//!   exchange-format response ([`exchange`]) — ARCB, measurement, additional
//!   data, user data and configuration UID.
//! - [`EvidenceFormat::Json`](crate::EvidenceFormat::Json): trustee's
//!   `SeAttestationResponse`, all members standard base64:
//!   `measurement`, `additional_data`, `user_data`, `cuid`, and optionally
//!   `image_hdr_tags` (PLD‖ALD‖TLD‖tag, 208 bytes). `encr_measurement_key`
//!   and `encr_request_nonce` are accepted and ignored: trustee's KBS
//!   RSA-encrypts the request secrets to itself and reads them back from
//!   the evidence, which makes the guest's input an RSA PKCS#1 v1.5
//!   decryption oracle. Here the verifier keeps the request it made (the
//!   ARCB and its key, or the measurement key and nonce) and passes it in
//!   the configuration. Unknown members are ignored.
//!
//! The verifier's side of the exchange, creating the request, is
//! [`arcb::build_arcb`]; each request must be used for one attestation
//! only (its nonce is what makes a response fresh), which the caller that
//! keeps the request state enforces.
//!
//! # Configuration (`Endorsements::collateral`)
//!
//! A JSON object; every value is standard base64 of binary or PEM bytes,
//! never a path:
//!
//! | member | content |
//! |--------|---------|
//! | `se_header` | the SE image header, or the start of the SE image (see [`header::find_header`]) |
//! | `arcb` | the ARCB that was sent; Raw evidence carries one, which must then be this one |
//! | `request_protection_key` | the ARCB's AES-256 key (32 bytes) |
//! | `customer_private_key` | the ARCB's customer P-521 scalar (66 or 80 bytes), used with `host_key_documents` |
//! | `measurement_key`, `nonce` | the ARCB's secrets, when no ARCB is given (64 and 16 bytes); the request is then taken to have asked for the image and attestation host-key hashes, as trustee's does |
//! | `host_key_documents` | array: host-key certificates (PEM or DER) |
//! | `root_certificates` | array: trusted roots (PEM may also hold CRLs) |
//! | `certificates` | array: IBM signing certificate and intermediate CAs |
//! | `crls` | array: CRLs (PEM or DER) |
//!
//! The header tags come from `se_header`; when it is absent, Json evidence
//! may carry them in `image_hdr_tags` (they are then authenticated only by
//! the measurement, and the claims report them for appraisal). When both are
//! present they must be equal. With `se_header`, the image host-key hash
//! of the additional data must be the hash of one of the header's key
//! slots (a host the image was built for). When `root_certificates` is given, every
//! host-key document is verified ([`hkd::HostKeyVerifier`]) and the image
//! and attestation host-key hashes in the additional data must belong to
//! one of them; without roots, host-key documents only serve to unwrap the
//! ARCB's protection key and `host_key_verified` is false.
//!
//! # Binding
//!
//! The KBS runtime-data digest (SHA-512, 64 bytes) must be the first 64
//! bytes of the user data; `report_data` in the claims is those bytes.
//! Secure Execution has no init-data field: `init_data` is empty, and an
//! expected init-data digest is refused with [`Error::Unsupported`] rather
//! than silently not checked.

pub mod arcb;
mod bytes;
mod evidence;
pub mod exchange;
pub mod header;
pub mod hkd;
pub mod response;

use serde::Serialize;

pub use arcb::parse_arcb;
pub use evidence::{parse_config, parse_evidence, parse_evidence_json, SeConfig, SeEvidence};
pub use exchange::{parse_exchange, parse_exchange_response};
pub use header::{find_header, parse_header};

use crate::{Endorsements, Error, Evidence, Result, VerifyOptions};
use arcb::{ArcbSecrets, AttestationFlags};
use evidence::{b64, certificates_of, crls_of, fixed, CONFIG, EVIDENCE};
use response::{MeasuredItems, MEASUREMENT_SIZE};

/// Size of the report-data prefix of the user data.
pub const REPORT_DATA_SIZE: usize = 64;
/// Largest SE configuration document accepted.
pub const MAX_CONFIG_SIZE: usize = 8 << 20;

/// Claims of verified Secure Execution evidence. Byte values are lowercase hex.
#[derive(Debug, Clone, Serialize)]
pub struct SeClaims {
    /// Configuration unique id of the guest.
    pub cuid: String,
    /// Page-list digest of the SE image.
    pub pld: String,
    /// Address-list digest of the SE image.
    pub ald: String,
    /// Tweak-list digest of the SE image.
    pub tld: String,
    /// SE header tag.
    pub tag: String,
    /// Hash of the host key that unpacked the image, if requested.
    pub image_phkh: Option<String>,
    /// Hash of the host key that decrypted the attestation request, if requested.
    pub attestation_phkh: Option<String>,
    /// Secret-store hash, if requested.
    pub secret_store_hash: Option<String>,
    /// Firmware state, if requested.
    pub firmware_state: Option<String>,
    /// The measurement (HMAC-SHA512).
    pub measurement: String,
    /// Always true: claims are only returned for a recomputed, equal measurement.
    pub measurement_verified: bool,
    /// The ARCB nonce covered by the measurement, if any.
    pub nonce: Option<String>,
    /// True when host-key documents were verified up to a configured root
    /// and the response's host-key hashes belong to them.
    pub host_key_verified: bool,
    /// The user data given to the Ultravisor.
    pub user_data: String,
    /// The additional data returned by the Ultravisor.
    pub additional_data: String,
    /// First 64 bytes of the user data (zero-padded when shorter).
    pub report_data: String,
    /// Always empty: Secure Execution has no init-data field.
    pub init_data: String,
}

/// Host keys from the configuration, and whether they were verified.
fn host_keys(config: &SeConfig, at: time::OffsetDateTime) -> Result<(Vec<p521::PublicKey>, bool)> {
    let mut hkds = Vec::new();
    for (i, value) in config.host_key_documents.iter().enumerate() {
        hkds.extend(certificates_of(&format!("host_key_documents[{i}]"), value)?.0);
    }
    if config.root_certificates.is_empty() {
        let keys = hkds.iter().map(hkd::host_public_key).collect::<Result<Vec<_>>>()?;
        return Ok((keys, false));
    }
    let (mut roots, mut certs, mut crls) = (Vec::new(), Vec::new(), Vec::new());
    for (i, value) in config.root_certificates.iter().enumerate() {
        let (c, l) = certificates_of(&format!("root_certificates[{i}]"), value)?;
        roots.extend(c);
        crls.extend(l);
    }
    for (i, value) in config.certificates.iter().enumerate() {
        let (c, l) = certificates_of(&format!("certificates[{i}]"), value)?;
        certs.extend(c);
        crls.extend(l);
    }
    for (i, value) in config.crls.iter().enumerate() {
        crls.extend(crls_of(&format!("crls[{i}]"), value)?);
    }
    if hkds.is_empty() {
        return Err(Error::MissingEndorsement("host_key_documents (root certificates are configured)".into()));
    }
    let verifier = hkd::HostKeyVerifier::new(&roots, &certs, &crls, at)?;
    let keys = hkds.iter().map(|h| verifier.verify(h)).collect::<Result<Vec<_>>>()?;
    Ok((keys, true))
}

/// The measurement key, nonce and flags of the request the response answers.
fn request_secrets(
    config: &SeConfig,
    arcb_bytes: Option<&[u8]>,
    host_keys: &[p521::PublicKey],
) -> Result<(ArcbSecrets, AttestationFlags)> {
    let configured_arcb = match &config.arcb {
        Some(a) => Some(b64(CONFIG, "arcb", a)?),
        None => None,
    };
    if let (Some(sent), Some(answered)) = (configured_arcb.as_deref(), arcb_bytes) {
        if sent != answered {
            return Err(Error::Mismatch {
                what: "ARCB of the response".into(),
                expected: format!("the configured ARCB ({} bytes)", sent.len()),
                found: format!("another ARCB ({} bytes)", answered.len()),
            });
        }
    }
    let Some(arcb_bytes) = arcb_bytes.or(configured_arcb.as_deref()) else {
        let key = config.measurement_key.as_deref().ok_or_else(|| {
            Error::MissingEndorsement("SE configuration: arcb with its key, or measurement_key and nonce".into())
        })?;
        let measurement_key = fixed(CONFIG, "measurement_key", b64(CONFIG, "measurement_key", key)?)?;
        let nonce = match &config.nonce {
            Some(n) => Some(fixed(CONFIG, "nonce", b64(CONFIG, "nonce", n)?)?),
            None => None,
        };
        let mut flags = AttestationFlags::trustee_default();
        if nonce.is_none() {
            flags.0 &= !(1u64 << 62);
        }
        return Ok((ArcbSecrets { measurement_key, nonce }, flags));
    };
    let request = arcb::parse_arcb(arcb_bytes)?;
    let protection_key = if let Some(k) = &config.request_protection_key {
        b64(CONFIG, "request_protection_key", k)?
    } else if let Some(k) = &config.customer_private_key {
        let private = b64(CONFIG, "customer_private_key", k)?;
        let mut last = None;
        let mut found = None;
        for host in host_keys {
            match request.unwrap_protection_key(&private, host) {
                Ok(key) => {
                    found = Some(key.to_vec());
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match (found, last) {
            (Some(key), _) => key,
            (None, Some(e)) => return Err(e),
            (None, None) => {
                return Err(Error::MissingEndorsement("host_key_documents to unwrap the ARCB key slots".into()))
            }
        }
    } else {
        return Err(Error::MissingEndorsement(
            "SE configuration: request_protection_key or customer_private_key for the ARCB".into(),
        ));
    };
    Ok((request.decrypt(&protection_key)?, request.flags))
}

/// Verify Secure Execution evidence (see the module documentation).
pub fn verify(evidence: &Evidence<'_>, endorsements: &Endorsements, options: &VerifyOptions) -> Result<SeClaims> {
    if options.init_data_digest.is_some() {
        return Err(Error::Unsupported {
            what: "init-data binding",
            found: "se (Secure Execution evidence has no init-data field)".into(),
        });
    }
    // Parse the evidence first, so malformed evidence is reported as such
    // even when no configuration was given.
    let resp = parse_evidence(evidence)?;
    let config_bytes = endorsements
        .collateral
        .as_deref()
        .ok_or_else(|| Error::MissingEndorsement("SE verification configuration (collateral)".into()))?;
    let config = parse_config(config_bytes)?;

    let configured_header = match &config.se_header {
        Some(h) => Some(header::find_header(&b64(CONFIG, "se_header", h)?)?.1),
        None => None,
    };
    let configured_tags = configured_header.as_ref().map(|h| h.tags);
    let tags = match (configured_tags, resp.header_tags) {
        (Some(c), Some(e)) if c != e => {
            return Err(Error::mismatch_bytes("SE header tags (PLD, ALD, TLD, tag)", &c.to_bytes(), &e.to_bytes()))
        }
        (Some(c), _) => c,
        (None, Some(e)) => e,
        (None, None) => return Err(Error::MissingEndorsement("SE image header (se_header)".into())),
    };

    let (keys, keys_verified) = host_keys(&config, options.at)?;
    let (secrets, flags) = request_secrets(&config, resp.arcb.as_deref(), &keys)?;

    if resp.measurement.len() != MEASUREMENT_SIZE {
        return Err(Error::malformed(
            EVIDENCE,
            0,
            format!("measurement is {} bytes, expected {MEASUREMENT_SIZE} for HMAC-SHA512", resp.measurement.len()),
        ));
    }
    let items = MeasuredItems {
        tags: &tags,
        config_uid: &resp.config_uid,
        user_data: &resp.user_data,
        nonce: secrets.nonce.as_ref(),
        additional: &resp.additional,
    };
    response::verify_measurement(&secrets.measurement_key, &items, &resp.measurement)?;

    let additional = response::parse_additional_data(&resp.additional, flags)?;
    // The host that unpacked the image must be one the image was built for.
    if let (Some(hdr), Some(image_phkh)) = (&configured_header, additional.image_phkh) {
        if !hdr.key_slot_hashes.contains(&image_phkh) {
            return Err(Error::Mismatch {
                what: "SE image public host-key hash (key slots of the SE header)".into(),
                expected: format!(
                    "one of {}",
                    hdr.key_slot_hashes.iter().map(hex::encode).collect::<Vec<_>>().join(",")
                ),
                found: hex::encode(image_phkh),
            });
        }
    }
    let mut host_key_verified = false;
    if keys_verified {
        let hashes: Vec<[u8; 32]> = keys.iter().map(arcb::public_host_key_hash).collect();
        for (name, value) in [
            ("SE image public host-key hash", additional.image_phkh),
            ("SE attestation public host-key hash", additional.attestation_phkh),
        ] {
            if let Some(v) = value {
                if !hashes.contains(&v) {
                    return Err(Error::Mismatch {
                        what: name.into(),
                        expected: format!("one of {}", hashes.iter().map(hex::encode).collect::<Vec<_>>().join(",")),
                        found: hex::encode(v),
                    });
                }
            }
        }
        host_key_verified = additional.attestation_phkh.is_some();
    }

    let report_data = crate::binding::fit_to_field(&resp.user_data, REPORT_DATA_SIZE);
    options.check_report_data(&report_data)?;

    Ok(SeClaims {
        cuid: hex::encode(resp.config_uid),
        pld: hex::encode(tags.pld),
        ald: hex::encode(tags.ald),
        tld: hex::encode(tags.tld),
        tag: hex::encode(tags.tag),
        image_phkh: additional.image_phkh.map(hex::encode),
        attestation_phkh: additional.attestation_phkh.map(hex::encode),
        secret_store_hash: additional.secret_store_hash.map(hex::encode),
        firmware_state: additional.firmware_state.map(hex::encode),
        measurement: hex::encode(&resp.measurement),
        measurement_verified: true,
        nonce: secrets.nonce.map(hex::encode),
        host_key_verified,
        user_data: hex::encode(&resp.user_data),
        additional_data: hex::encode(&resp.additional),
        report_data: hex::encode(report_data),
        init_data: String::new(),
    })
}

#[cfg(test)]
mod tests;
