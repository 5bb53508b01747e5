//! The software `sample` TEE: evidence for machines without TEE hardware.
//!
//! Its evidence is the JSON trustee's sample attester produces,
//! `{"svn": "<string>", "report_data": "<base64 of the runtime-data digest>"}`,
//! so that attester and ours interoperate. Nothing vouches for it: it is
//! accepted only when the caller sets [`VerifyOptions::allow_sample`].

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::{Error, Evidence, Result, VerifyOptions};

/// Largest sample evidence document accepted.
const MAX_SAMPLE_EVIDENCE: usize = 64 * 1024;

/// Sample evidence as sent on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleEvidence {
    /// Security version, a free-form string.
    pub svn: String,
    /// Report data, standard base64.
    pub report_data: String,
}

/// Claims of sample evidence.
#[derive(Debug, Clone, Serialize)]
pub struct SampleClaims {
    /// The `svn` string from the evidence.
    pub svn: String,
    /// Report data (hex).
    pub report_data: String,
    /// The sample TEE has no init-data field; the expected digest is echoed
    /// here when one was given (hex), empty otherwise.
    pub init_data: String,
}

/// Verify sample evidence: parse it, refuse it unless allowed, and check the
/// report data.
pub fn verify(evidence: &Evidence<'_>, options: &VerifyOptions) -> Result<SampleClaims> {
    if evidence.bytes.len() > MAX_SAMPLE_EVIDENCE {
        return Err(Error::TooLarge {
            what: "sample evidence",
            found: evidence.bytes.len(),
            limit: MAX_SAMPLE_EVIDENCE,
        });
    }
    let parsed: SampleEvidence = serde_json::from_slice(evidence.bytes).map_err(|e| {
        Error::field("sample evidence", format!("line {} column {}", e.line(), e.column()), e.to_string())
    })?;
    let report_data = base64::engine::general_purpose::STANDARD
        .decode(parsed.report_data.trim())
        .map_err(|e| Error::field("sample evidence", "report_data", format!("not base64: {e}")))?;
    if !options.allow_sample {
        return Err(Error::SampleNotAllowed);
    }
    if let Some(expected) = &options.report_data {
        if *expected != report_data {
            return Err(Error::mismatch_bytes("report data", expected, &report_data));
        }
    }
    Ok(SampleClaims {
        svn: parsed.svn,
        report_data: hex::encode(&report_data),
        init_data: options.init_data_digest.as_deref().map(hex::encode).unwrap_or_default(),
    })
}

/// Produce sample evidence for a report-data value, as the sample attester does.
pub fn evidence_for(report_data: &[u8]) -> SampleEvidence {
    SampleEvidence { svn: "1".to_string(), report_data: base64::engine::general_purpose::STANDARD.encode(report_data) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EvidenceFormat;
    use time::macros::datetime;

    fn opts() -> VerifyOptions {
        VerifyOptions::at(datetime!(2026-11-15 0:00 UTC))
    }

    #[test]
    fn refused_unless_allowed() {
        let json = serde_json::to_vec(&evidence_for(b"abc")).unwrap();
        let ev = Evidence { bytes: &json, format: EvidenceFormat::Json };
        assert!(matches!(verify(&ev, &opts()), Err(Error::SampleNotAllowed)));
        let mut o = opts();
        o.allow_sample = true;
        let claims = verify(&ev, &o).unwrap();
        assert_eq!(claims.report_data, "616263");
        assert_eq!(claims.svn, "1");
    }

    #[test]
    fn report_data_must_match_exactly() {
        let json = br#"{"svn":"1","report_data":"YWJj"}"#;
        let ev = Evidence { bytes: json, format: EvidenceFormat::Json };
        let mut o = opts();
        o.allow_sample = true;
        o.report_data = Some(b"abd".to_vec());
        assert!(matches!(verify(&ev, &o), Err(Error::Mismatch { .. })));
        o.report_data = Some(b"abc".to_vec());
        verify(&ev, &o).unwrap();
    }

    #[test]
    fn malformed_evidence_is_reported_as_malformed() {
        for bad in [&b"{"[..], br#"{"svn":1}"#, br#"{"svn":"1","report_data":"***"}"#] {
            let ev = Evidence { bytes: bad, format: EvidenceFormat::Json };
            let err = verify(&ev, &opts()).unwrap_err();
            assert!(err.is_malformed(), "{err}");
        }
    }
}
