//! Intel TDX evidence: DCAP quotes (v4, v5; SGX v3 quotes verify too) with
//! explicit collateral, and the CC event log.
//!
//! Evidence is the raw quote, or trustee's JSON `{"quote": "<base64>",
//! "cc_eventlog": "<base64>"}` (`cc_eventlog` optional). Endorsements: the
//! DCAP collateral JSON (see [`collateral`]) is required; `chain` may add
//! trusted roots beside the built-in Intel SGX Root CA ([`roots`]).
//!
//! What is checked, at [`VerifyOptions::at`]: the root CA CRL and PCK CRL
//! (signatures, windows, revocation of the PCK chain); TCB info and QE
//! identity (signer chains to the root, signatures over the exact JSON
//! text, issue/next-update windows); the quote's PCK chain to the root; the
//! QE report (PCK signature, binding of the attestation key, QE identity);
//! the quote signature; the TCB level of platform, TDX module and QE, with
//! Intel's status rules ([`tcb`]). A revoked TCB fails with
//! [`Error::TcbRevoked`], a platform below every level with
//! [`Error::NoMatchingTcbLevel`]. Other statuses (e.g. `OutOfDate`) are
//! returned in the claims for policy to judge, as are the TD attributes
//! (debug TDs are reported, not rejected). When an event log is given it is
//! replayed and must reproduce RTMR0..2, and RTMR3 when the log extends it
//! (see [`EventLog::check_against`]); trustee's `aa_eventlog` (the runtime
//! log of RTMR3) is not replayed here.
//!
//! Differences from `dcap-qvl` 0.7.1, against which the verdicts are
//! tested: TD attributes (debug, migratable, SEPT_VE_DISABLE, service TDs)
//! are claims, not errors; the PCE-ID of the PCK certificate must also match
//! the TCB info's.

pub mod collateral;
pub mod eventlog;
pub mod pck;
pub mod quote;
pub mod roots;
pub mod tcb;
mod verify;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dcap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

pub use collateral::{parse_collateral, Collateral, VerifiedCollateral};
pub use eventlog::{parse_event_log, EventLog, Replay};
pub use quote::{parse_quote, Quote, TdAttributes};
pub use tcb::{TcbStatus, TcbVerdict};
pub use verify::{verify_quote, VerifiedQuote};

use crate::{Endorsements, Error, Evidence, EvidenceFormat, Result, VerifyOptions};

/// Decoded TD attributes with the raw value.
#[derive(Debug, Clone, Serialize)]
pub struct TdAttributesClaims {
    /// The 8 attribute bytes (hex).
    pub raw: String,
    /// TD debug mode.
    pub debug: bool,
    /// SEPT #VE disabled.
    pub sept_ve_disable: bool,
    /// Protection keys enabled.
    pub pks: bool,
    /// Key locker enabled.
    pub kl: bool,
    /// Performance monitoring enabled.
    pub perfmon: bool,
    /// Migratable TD.
    pub migratable: bool,
}

/// Claims of verified TDX evidence. Byte fields are lowercase hex.
///
/// Serialised as one flat JSON object: the fields of [`TdQuoteClaims`] and
/// [`TdxPlatformClaims`] appear beside `report_data`, `init_data` and
/// `tcb_status`.
#[derive(Debug, Clone, Serialize)]
pub struct TdxClaims {
    /// Report data.
    pub report_data: String,
    /// Init data (= MRCONFIGID).
    pub init_data: String,
    /// TCB status name (`UpToDate`, `OutOfDate`, …).
    pub tcb_status: TcbStatus,
    /// Fields of the quote header and TD report.
    #[serde(flatten)]
    pub quote: Box<TdQuoteClaims>,
    /// What the PCK certificate and collateral say about the platform.
    #[serde(flatten)]
    pub platform: Box<TdxPlatformClaims>,
    /// Result of replaying the CC event log, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_log: Option<Box<Replay>>,
}

/// Quote header and TD report fields of [`TdxClaims`].
#[derive(Debug, Clone, Serialize)]
pub struct TdQuoteClaims {
    /// Quote format version (4 or 5).
    pub quote_version: u16,
    /// TEE type (0x81 for TDX).
    pub tee_type: u32,
    /// Body type: 2 = TD report 1.0, 3 = TD report 1.5.
    pub body_type: u16,
    /// QE vendor id.
    pub qe_vendor_id: String,
    /// TEE TCB SVN at launch.
    pub tee_tcb_svn: String,
    /// TEE TCB SVN now (TD 1.5 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tee_tcb_svn2: Option<String>,
    /// TDX module measurement.
    pub mr_seam: String,
    /// TDX module signer.
    pub mrsigner_seam: String,
    /// TDX module attributes.
    pub seam_attributes: String,
    /// TD attributes.
    pub td_attributes: TdAttributesClaims,
    /// XFAM.
    pub xfam: String,
    /// MRTD.
    pub mrtd: String,
    /// MRCONFIGID.
    pub mrconfigid: String,
    /// MROWNER.
    pub mrowner: String,
    /// MROWNERCONFIG.
    pub mrownerconfig: String,
    /// RTMR0.
    pub rtmr0: String,
    /// RTMR1.
    pub rtmr1: String,
    /// RTMR2.
    pub rtmr2: String,
    /// RTMR3.
    pub rtmr3: String,
    /// Service TD measurement (TD 1.5 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mr_servicetd: Option<String>,
}

/// Platform and collateral fields of [`TdxClaims`].
#[derive(Debug, Clone, Serialize)]
pub struct TdxPlatformClaims {
    /// Intel security advisory ids.
    pub advisory_ids: Vec<String>,
    /// FMSPC from the PCK certificate.
    pub fmspc: String,
    /// PCE id from the PCK certificate.
    pub pce_id: String,
    /// Platform instance id from the PCK certificate (Platform-CA PCKs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_instance_id: Option<String>,
    /// TCB evaluation data number of the TCB info.
    pub tcb_evaluation_data_number: u32,
    /// TCB info issue date (RFC 3339).
    pub tcb_info_issue_date: String,
    /// TCB info next update (RFC 3339).
    pub tcb_info_next_update: String,
}

/// trustee's TDX evidence JSON.
#[derive(Deserialize)]
struct JsonEvidence {
    quote: String,
    #[serde(default)]
    cc_eventlog: Option<String>,
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|e| Error::field("TDX evidence", field, format!("not base64: {e}")))
}

/// Split evidence into quote bytes and optional event log bytes.
pub fn parse_evidence(evidence: &Evidence<'_>) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    match evidence.format {
        EvidenceFormat::Raw => Ok((evidence.bytes.to_vec(), None)),
        EvidenceFormat::Json => {
            let j: JsonEvidence =
                serde_json::from_slice(evidence.bytes).map_err(|e| Error::field("TDX evidence", "$", e.to_string()))?;
            let log = match j.cc_eventlog.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(text) => Some(b64("cc_eventlog", text)?),
                None => None,
            };
            Ok((b64("quote", &j.quote)?, log))
        }
    }
}

/// The claims of a verified TD quote (no event log replay).
pub fn claims_of(verified: &VerifiedQuote, collateral: &Collateral) -> Result<TdxClaims> {
    let q = &verified.quote;
    let td = q.td_report().ok_or_else(|| Error::Unsupported { what: "TEE", found: "SGX quote (not TDX)".into() })?;
    let attrs = TdAttributes::decode(td.td_attributes);
    let date = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    Ok(TdxClaims {
        report_data: hex::encode(td.report_data),
        init_data: hex::encode(td.mr_config_id),
        tcb_status: verified.tcb.status,
        quote: Box::new(TdQuoteClaims {
            quote_version: q.header.version,
            tee_type: q.header.tee_type,
            body_type: q.body_type,
            qe_vendor_id: hex::encode(q.header.qe_vendor_id),
            tee_tcb_svn: hex::encode(td.tee_tcb_svn),
            tee_tcb_svn2: td.tee_tcb_svn2.map(hex::encode),
            mr_seam: hex::encode(td.mr_seam),
            mrsigner_seam: hex::encode(td.mrsigner_seam),
            seam_attributes: hex::encode(td.seam_attributes),
            td_attributes: TdAttributesClaims {
                raw: hex::encode(td.td_attributes),
                debug: attrs.debug,
                sept_ve_disable: attrs.sept_ve_disable,
                pks: attrs.pks,
                kl: attrs.kl,
                perfmon: attrs.perfmon,
                migratable: attrs.migratable,
            },
            xfam: hex::encode(td.xfam),
            mrtd: hex::encode(td.mr_td),
            mrconfigid: hex::encode(td.mr_config_id),
            mrowner: hex::encode(td.mr_owner),
            mrownerconfig: hex::encode(td.mr_owner_config),
            rtmr0: hex::encode(td.rtmr[0]),
            rtmr1: hex::encode(td.rtmr[1]),
            rtmr2: hex::encode(td.rtmr[2]),
            rtmr3: hex::encode(td.rtmr[3]),
            mr_servicetd: td.mr_servicetd.map(hex::encode),
        }),
        platform: Box::new(TdxPlatformClaims {
            advisory_ids: verified.tcb.advisory_ids.clone(),
            fmspc: hex::encode(verified.pck.fmspc),
            pce_id: hex::encode(&verified.pck.pce_id),
            platform_instance_id: verified.pck.platform_instance_id.as_ref().map(hex::encode),
            tcb_evaluation_data_number: collateral.tcb_info.tcb_evaluation_data_number,
            tcb_info_issue_date: date(collateral.tcb_info.issue_date),
            tcb_info_next_update: date(collateral.tcb_info.next_update),
        }),
        event_log: None,
    })
}

/// Verify TDX evidence with its DCAP collateral.
pub fn verify(evidence: &Evidence<'_>, endorsements: &Endorsements, options: &VerifyOptions) -> Result<TdxClaims> {
    let (quote_bytes, log_bytes) = parse_evidence(evidence)?;
    // Parse all evidence before any check, so malformed evidence is reported
    // as malformed whatever state the collateral is in.
    if parse_quote(&quote_bytes)?.td_report().is_none() {
        return Err(Error::Unsupported { what: "TEE", found: "SGX quote given as TDX evidence".into() });
    }
    let event_log = log_bytes.as_deref().map(parse_event_log).transpose()?;
    let collateral_json = endorsements
        .collateral
        .as_deref()
        .ok_or_else(|| Error::MissingEndorsement("TDX DCAP collateral (TCB info, QE identity, CRLs)".into()))?;
    let collateral = parse_collateral(collateral_json)?;
    let trusted = roots::trusted_roots(endorsements.chain.as_deref())?;
    let verified_collateral = VerifiedCollateral::new(&collateral, &trusted, options.at)?;
    let verified = verify_quote(&quote_bytes, &verified_collateral, options.at)?;
    let td = verified
        .quote
        .td_report()
        .ok_or_else(|| Error::Unsupported { what: "TEE", found: "SGX quote given as TDX evidence".into() })?;
    options.check_report_data(&td.report_data)?;
    options.check_init_data(&td.mr_config_id)?;
    let event_log = event_log.map(|log| log.check_against(&td.rtmr)).transpose()?;
    let mut claims = claims_of(&verified, &collateral)?;
    claims.event_log = event_log.map(Box::new);
    Ok(claims)
}
