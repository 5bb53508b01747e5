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

use std::collections::BTreeMap;

use serde::Serialize;

mod error;
pub mod tdx;

pub use error::Error;

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;

/// A launch to measure, for one TEE.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LaunchConfig {
    /// An Intel TDX launch.
    Tdx(tdx::TdxLaunch),
}

/// The predicted measurements of a launch.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "tee", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Measurements {
    /// Intel TDX registers.
    Tdx(tdx::TdxMeasurements),
}

impl LaunchConfig {
    /// Computes the launch's measurements.
    pub fn measure(&self) -> Result<Measurements> {
        match self {
            LaunchConfig::Tdx(launch) => tdx::measure(launch).map(Measurements::Tdx),
        }
    }
}

impl Measurements {
    /// The values under the names the KBS default policy reads, as
    /// lower-case hex.
    pub fn reference_values(&self) -> BTreeMap<String, String> {
        match self {
            Measurements::Tdx(m) => m.reference_values(),
        }
    }
}
