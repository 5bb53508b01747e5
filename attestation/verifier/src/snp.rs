//! Snp evidence verification (in progress).

use serde::Serialize;

use crate::{Endorsements, Error, Evidence, Result, VerifyOptions};

/// Claims of verified Snp evidence.
#[derive(Debug, Clone, Serialize)]
pub struct SnpClaims {
    /// Report data (hex).
    pub report_data: String,
    /// Init-data field (hex).
    pub init_data: String,
}

/// Verify Snp evidence.
pub fn verify(_evidence: &Evidence<'_>, _endorsements: &Endorsements, _options: &VerifyOptions) -> Result<SnpClaims> {
    Err(Error::Unsupported { what: "TEE", found: "snp".into() })
}
