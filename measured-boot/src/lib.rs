//! Expected launch measurements of confidential guests.
//!
//! A guest owner tells the KBS which launches to trust by reference values:
//! the digests the hardware will report for the exact firmware, kernel,
//! initrd, command line and vCPU configuration a RuntimeClass boots. This
//! crate computes them: the SEV-SNP / SEV-ES / SEV launch digest, the TDX
//! MRTD and RTMRs, and the Arm CCA Realm Initial Measurement.
//!
//! The entry point is a per-TEE launch description measured into a
//! per-TEE result; every result exports its values under the names the
//! KBS's default attestation policy reads.
//!
//! It does no file I/O (callers pass file contents), runs no VMM and
//! verifies no attestation evidence; it only predicts values.

use std::collections::BTreeMap;

use serde::Serialize;

pub mod cca;
mod error;
mod hexser;
mod sha384_pages;
pub mod snp;
pub mod tdx;

pub use error::Error;

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;

/// A launch of any supported TEE.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LaunchConfig {
    /// AMD SEV, SEV-ES or SEV-SNP.
    Snp(snp::SnpLaunch),
    /// Intel TDX.
    Tdx(tdx::TdxLaunch),
    /// Arm CCA realm.
    Cca(cca::CcaLaunch),
}

/// The measurements of a launch.
///
/// A value made once per measured launch and handed out whole, so the size
/// gap between the variants (the TDX trace is large) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tee")]
#[non_exhaustive]
pub enum Measurements {
    /// AMD SEV, SEV-ES or SEV-SNP.
    #[serde(rename = "snp")]
    Snp(snp::SnpMeasurements),
    /// Intel TDX.
    #[serde(rename = "tdx")]
    Tdx(tdx::TdxMeasurements),
    /// Arm CCA realm.
    #[serde(rename = "cca")]
    Cca(cca::CcaMeasurements),
}

impl LaunchConfig {
    /// Measures the launch.
    pub fn measure(&self) -> Result<Measurements> {
        match self {
            Self::Snp(launch) => snp::measure(launch).map(Measurements::Snp),
            Self::Tdx(launch) => tdx::measure(launch).map(Measurements::Tdx),
            Self::Cca(launch) => cca::measure(launch).map(Measurements::Cca),
        }
    }
}

impl Measurements {
    /// Reference values under the names the KBS default policy reads,
    /// as lower-case hex.
    pub fn reference_values(&self) -> BTreeMap<String, String> {
        match self {
            Self::Snp(m) => m.reference_values(),
            Self::Tdx(m) => m.reference_values(),
            Self::Cca(m) => m.reference_values(),
        }
    }
}
