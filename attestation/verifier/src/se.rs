//! Se evidence verification (in progress).

use serde::Serialize;

use crate::{Endorsements, Error, Evidence, Result, VerifyOptions};

/// Claims of verified Se evidence.
#[derive(Debug, Clone, Serialize)]
pub struct SeClaims {
    /// Report data (hex).
    pub report_data: String,
    /// Init-data field (hex).
    pub init_data: String,
}

/// Verify Se evidence.
pub fn verify(_evidence: &Evidence<'_>, _endorsements: &Endorsements, _options: &VerifyOptions) -> Result<SeClaims> {
    Err(Error::Unsupported { what: "TEE", found: "se".into() })
}
