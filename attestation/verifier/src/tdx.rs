//! Tdx evidence verification (in progress).

use serde::Serialize;

use crate::{Endorsements, Error, Evidence, Result, VerifyOptions};

/// Claims of verified Tdx evidence.
#[derive(Debug, Clone, Serialize)]
pub struct TdxClaims {
    /// Report data (hex).
    pub report_data: String,
    /// Init-data field (hex).
    pub init_data: String,
}

/// Verify Tdx evidence.
pub fn verify(_evidence: &Evidence<'_>, _endorsements: &Endorsements, _options: &VerifyOptions) -> Result<TdxClaims> {
    Err(Error::Unsupported { what: "TEE", found: "tdx".into() })
}
