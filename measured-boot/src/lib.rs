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

mod error;

pub use error::Error;

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;
