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

pub mod cca;
mod error;

pub use error::Error;

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;

/// A launch of any supported TEE.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LaunchConfig {
    /// Arm CCA realm.
    Cca(cca::CcaLaunch),
}

/// The expected measurements of a launch.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "tee", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Measurements {
    /// Arm CCA realm.
    Cca(cca::CcaMeasurements),
}

impl LaunchConfig {
    /// Measure the launch.
    pub fn measure(&self) -> Result<Measurements> {
        match self {
            LaunchConfig::Cca(l) => cca::measure(l).map(Measurements::Cca),
        }
    }
}

impl Measurements {
    /// Reference values under the names the KBS default policy reads.
    pub fn reference_values(&self) -> std::collections::BTreeMap<String, String> {
        match self {
            Measurements::Cca(m) => m.reference_values(),
        }
    }
}
