//! Cca evidence verification (in progress).

use serde::Serialize;

use crate::{Endorsements, Error, Evidence, Result, VerifyOptions};

/// Claims of verified Cca evidence.
#[derive(Debug, Clone, Serialize)]
pub struct CcaClaims {
    /// Report data (hex).
    pub report_data: String,
    /// Init-data field (hex).
    pub init_data: String,
}

/// Verify Cca evidence.
pub fn verify(_evidence: &Evidence<'_>, _endorsements: &Endorsements, _options: &VerifyOptions) -> Result<CcaClaims> {
    Err(Error::Unsupported { what: "TEE", found: "cca".into() })
}
