//! Where evidence comes from: the [`Attester`] trait and the software
//! [`SampleAttester`].
//!
//! The client computes the runtime-data digest (the hash that binds the KBS
//! nonce and the TEE public key) and hands it to the attester; the attester
//! fits it into its TEE's report-data field
//! ([`arca_verifier::binding::report_data_for`]) and returns the evidence as
//! the JSON the KBS expects in `tee-evidence.primary_evidence`.
//!
//! The attester sees only the digest. That suffices for SNP, TDX, CCA and
//! the sample TEE; an IBM SE attester also needs the challenge's nonce (the
//! KBS puts an SE attestation request there), which this trait does not
//! pass yet.

use std::future::Future;

use arca_verifier::binding::report_data_for;
use arca_verifier::Tee;

use crate::error::{Error, Result};

/// A source of TEE evidence.
///
/// Implementations talk to the TEE (a firmware ioctl, configfs-tsm, …) or,
/// for [`SampleAttester`], to nothing at all. The future is `Send` so that a
/// client can be used from multi-threaded runtimes.
pub trait Attester: Send + Sync {
    /// The TEE this attester produces evidence for (the `tee` of the KBS request).
    fn tee(&self) -> Tee;

    /// Evidence whose report data carries `report_data`, the runtime-data
    /// digest (unpadded; the attester pads or truncates it to its TEE's field).
    fn evidence(&self, report_data: &[u8]) -> impl Future<Output = Result<serde_json::Value>> + Send;
}

/// The software `sample` TEE: evidence that nothing vouches for, in the shape
/// trustee's sample attester sends (`{"svn", "report_data"}`).
///
/// For development and tests only: a KBS accepts it only when configured to.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleAttester;

impl Attester for SampleAttester {
    fn tee(&self) -> Tee {
        Tee::Sample
    }

    async fn evidence(&self, report_data: &[u8]) -> Result<serde_json::Value> {
        let evidence = arca_verifier::sample::evidence_for(&report_data_for(Tee::Sample, report_data));
        serde_json::to_value(evidence).map_err(|e| Error::Evidence { tee: Tee::Sample.name(), source: Box::new(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_verifier::{Evidence, EvidenceFormat, VerifyOptions};

    /// The sample attester's evidence passes the sample verifier with the same report data.
    #[tokio::test]
    async fn sample_evidence_verifies_with_its_report_data() {
        let digest = arca_verifier::binding::HashAlgorithm::Sha384.digest(b"runtime data");
        let evidence = SampleAttester.evidence(&digest).await.unwrap();
        assert_eq!(evidence["svn"], "1");
        let bytes = serde_json::to_vec(&evidence).unwrap();
        let mut options = VerifyOptions::at(time::OffsetDateTime::now_utc());
        options.allow_sample = true;
        options.report_data = Some(digest.clone());
        let claims = arca_verifier::verify(
            Tee::Sample,
            &Evidence { bytes: &bytes, format: EvidenceFormat::Json },
            &Default::default(),
            &options,
        )
        .unwrap();
        assert_eq!(claims.to_json()["report_data"], hex_of(&digest));

        options.report_data = Some(arca_verifier::binding::HashAlgorithm::Sha384.digest(b"other data"));
        let bytes = serde_json::to_vec(&evidence).unwrap();
        assert!(arca_verifier::verify(
            Tee::Sample,
            &Evidence { bytes: &bytes, format: EvidenceFormat::Json },
            &Default::default(),
            &options
        )
        .is_err());
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
