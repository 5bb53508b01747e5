//! Verification of confidential-computing evidence.
//!
//! `arca-verifier` decides, from a TEE's evidence and its endorsements,
//! whether the evidence is genuine, and returns what it claims as one
//! [`Claims`] document with stable field names. It covers AMD SEV-SNP
//! ([`snp`]), Intel TDX ([`tdx`]), Arm CCA ([`cca`]), IBM Secure Execution
//! ([`se`]) and the software `sample` TEE ([`sample`]).
//!
//! Every check is done at an explicit verification time
//! ([`VerifyOptions::at`]): certificates and collateral outside their
//! validity windows are rejected. The report-data and init-data bindings of
//! the KBS protocol are in [`binding`].
//!
//! What this crate does not do: fetch collateral from the network (callers
//! pass it in), appraise claims against reference values or policy (that is
//! the KBS), or talk to hardware (that is the attester). It has no async
//! runtime and does no I/O.

pub mod binding;
pub mod cca;
mod error;
pub mod sample;
pub mod se;
pub mod snp;
pub mod tdx;
pub mod x509;

#[cfg(test)]
pub(crate) mod test_support;

use serde::Serialize;
use time::OffsetDateTime;

pub use error::{Error, Result};

/// Largest evidence document accepted, in bytes.
pub const MAX_EVIDENCE_SIZE: usize = 4 << 20;

/// A trusted execution environment whose evidence this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tee {
    /// AMD SEV-SNP.
    Snp,
    /// Intel TDX.
    Tdx,
    /// Arm Confidential Compute Architecture.
    Cca,
    /// IBM Secure Execution (s390x).
    Se,
    /// The software TEE for machines without hardware; never trustworthy.
    Sample,
}

impl Tee {
    /// The name used on the wire (KBS `tee` field) and in claims.
    pub fn name(self) -> &'static str {
        match self {
            Tee::Snp => "snp",
            Tee::Tdx => "tdx",
            Tee::Cca => "cca",
            Tee::Se => "se",
            Tee::Sample => "sample",
        }
    }
}

impl std::str::FromStr for Tee {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "snp" => Tee::Snp,
            "tdx" => Tee::Tdx,
            "cca" => Tee::Cca,
            "se" => Tee::Se,
            "sample" => Tee::Sample,
            other => return Err(Error::Unsupported { what: "TEE", found: other.to_string() }),
        })
    }
}

/// How the evidence bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceFormat {
    /// The TEE's native binary structure (SNP report, TDX quote, CCA CBOR token, …).
    Raw,
    /// The JSON shape trustee's attesters send as `primary_evidence`.
    Json,
}

/// Evidence to verify.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The evidence bytes (hex text already decoded by the caller).
    pub bytes: &'a [u8],
    /// Their encoding.
    pub format: EvidenceFormat,
}

impl<'a> Evidence<'a> {
    /// Evidence whose format is guessed: JSON when it starts with `{`, raw otherwise.
    pub fn detect(bytes: &'a [u8]) -> Self {
        let format =
            if bytes.trim_ascii_start().starts_with(b"{") { EvidenceFormat::Json } else { EvidenceFormat::Raw };
        Evidence { bytes, format }
    }

    /// Fail when the evidence is larger than [`MAX_EVIDENCE_SIZE`].
    pub fn check_size(&self) -> Result<()> {
        if self.bytes.len() > MAX_EVIDENCE_SIZE {
            return Err(Error::TooLarge { what: "evidence", found: self.bytes.len(), limit: MAX_EVIDENCE_SIZE });
        }
        Ok(())
    }
}

/// Endorsements: what vouches for the evidence, as files the operator has.
///
/// Each TEE reads the fields it needs:
/// - SNP: `vcek` = VCEK or VLEK (DER or PEM); `chain` = PEM with ASK/ASVK
///   and/or ARK (optional: the AMD roots are built in).
/// - TDX: `collateral` = DCAP collateral JSON (PCK CRL and its chain, root CA
///   CRL, TCB info and QE identity with signatures and issuer chains);
///   `chain` = trusted root (optional: the Intel SGX Root CA is built in).
/// - CCA: `chain` = trust-anchor store JSON (CPAK per instance id);
///   `collateral` = reference-value store JSON.
/// - SE: `collateral` = SE verification configuration JSON (see [`se`]).
#[derive(Debug, Clone, Default)]
pub struct Endorsements {
    /// Leaf key certificate (SNP VCEK/VLEK).
    pub vcek: Option<Vec<u8>>,
    /// Certificate chain or trust-anchor store.
    pub chain: Option<Vec<u8>>,
    /// Collateral or reference-value document.
    pub collateral: Option<Vec<u8>>,
}

/// What the caller expects and when the check happens.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Verification time: certificates, CRLs and collateral must be valid then.
    pub at: OffsetDateTime,
    /// Expected report data (e.g. the KBS runtime-data digest); compared after
    /// zero-padding to the TEE's field size.
    pub report_data: Option<Vec<u8>>,
    /// Expected init-data digest; compared with the TEE's init-data field
    /// (SNP HOST_DATA, TDX MRCONFIGID, CCA personalization value) after
    /// padding or truncation to the field's size.
    pub init_data_digest: Option<Vec<u8>>,
    /// Accept evidence from the software `sample` TEE.
    pub allow_sample: bool,
}

impl VerifyOptions {
    /// Options with only a verification time.
    pub fn at(at: OffsetDateTime) -> Self {
        VerifyOptions { at, report_data: None, init_data_digest: None, allow_sample: false }
    }

    /// Check a report-data field against [`VerifyOptions::report_data`], if set.
    pub fn check_report_data(&self, field: &[u8]) -> Result<()> {
        match &self.report_data {
            Some(expected) => binding::check_padded("report data", field, expected),
            None => Ok(()),
        }
    }

    /// Check an init-data field against [`VerifyOptions::init_data_digest`], if set.
    pub fn check_init_data(&self, field: &[u8]) -> Result<()> {
        match &self.init_data_digest {
            Some(expected) => binding::check_padded("init data", field, expected),
            None => Ok(()),
        }
    }
}

/// The claims of verified evidence, one variant per TEE.
///
/// Serialised as one JSON object whose `tee` member names the TEE; every
/// variant has `report_data` and `init_data` (hex) beside its own fields.
// Claims are built once per verification and handed out; boxing the
// variants would only add indirection for their readers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "tee", rename_all = "lowercase")]
pub enum Claims {
    /// AMD SEV-SNP claims.
    Snp(snp::SnpClaims),
    /// Intel TDX claims.
    Tdx(tdx::TdxClaims),
    /// Arm CCA claims.
    Cca(cca::CcaClaims),
    /// IBM Secure Execution claims.
    Se(se::SeClaims),
    /// Sample TEE claims.
    Sample(sample::SampleClaims),
}

impl Claims {
    /// The TEE these claims come from.
    pub fn tee(&self) -> Tee {
        match self {
            Claims::Snp(_) => Tee::Snp,
            Claims::Tdx(_) => Tee::Tdx,
            Claims::Cca(_) => Tee::Cca,
            Claims::Se(_) => Tee::Se,
            Claims::Sample(_) => Tee::Sample,
        }
    }

    /// The claims as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Verify `evidence` from `tee` with its `endorsements`, and return its claims.
pub fn verify(
    tee: Tee,
    evidence: &Evidence<'_>,
    endorsements: &Endorsements,
    options: &VerifyOptions,
) -> Result<Claims> {
    evidence.check_size()?;
    Ok(match tee {
        Tee::Snp => Claims::Snp(snp::verify(evidence, endorsements, options)?),
        Tee::Tdx => Claims::Tdx(tdx::verify(evidence, endorsements, options)?),
        Tee::Cca => Claims::Cca(cca::verify(evidence, endorsements, options)?),
        Tee::Se => Claims::Se(se::verify(evidence, endorsements, options)?),
        Tee::Sample => Claims::Sample(sample::verify(evidence, options)?),
    })
}
