//! AMD SEV-SNP, SEV-ES and SEV launch digests.
//!
//! The SNP value is the `MEASUREMENT` field of the attestation report: the
//! guest-context launch digest after QEMU (or the EC2/GCE VMM) has added
//! the firmware pages, the pages named by the firmware's SEV metadata and
//! one VMSA per vCPU. SEV and SEV-ES values are the launch *digests*
//! (SHA-256 over what was encrypted in place); the HMAC a SEV/SEV-ES guest
//! owner finally checks needs the transport key and nonce and is out of
//! scope.
//!
//! Inputs are bytes, never paths; nothing here touches the file system.

mod gctx;
mod launch;
mod vcpu;
mod vmsa;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use arca_firmware::SevHashes;
use serde::Serialize;

pub use gctx::{page_digests, page_digests_serial, Gctx, GctxStep, PageType, LD_LEN, PAGE_LEN, VMSA_GPA};
pub use launch::{measure, measure_streamed, StreamedFirmware};
pub use vcpu::{cpu_sig, vcpu_type_sig, VCPU_TYPES};
pub use vmsa::{vmsa_page, VmsaParams, BSP_EIP};

use crate::Error;

/// Most vCPUs accepted (KVM's limit).
pub const MAX_VCPUS: u32 = 4096;

/// What kind of SEV launch to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SevMode {
    /// SEV: SHA-256 launch digest of firmware (and hashes table).
    #[serde(rename = "sev")]
    Sev,
    /// SEV-ES: SHA-256 launch digest including the VMSAs.
    #[serde(rename = "seves")]
    SevEs,
    /// SEV-SNP: the SHA-384 launch measurement.
    #[serde(rename = "snp")]
    Snp,
    /// SEV-SNP digest after the firmware pages only (to seed later runs).
    #[serde(rename = "snp:ovmf-hash")]
    SnpOvmfHash,
}

impl SevMode {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sev => "sev",
            Self::SevEs => "seves",
            Self::Snp => "snp",
            Self::SnpOvmfHash => "snp:ovmf-hash",
        }
    }
}

impl fmt::Display for SevMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SevMode {
    type Err = Error;

    /// Accepts the command-line names and the usual spellings
    /// (`sev`/`SEV`, `seves`/`sev-es`, `snp`/`sev-snp`, `snp:ovmf-hash`).
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "sev" | "SEV" => Self::Sev,
            "seves" | "sev-es" | "SEVES" | "SEV-ES" => Self::SevEs,
            "snp" | "sev-snp" | "SNP" | "SEV-SNP" => Self::Snp,
            "snp:ovmf-hash" => Self::SnpOvmfHash,
            _ => {
                return Err(Error::InvalidInput {
                    field: "mode",
                    expected: "sev, seves, snp or snp:ovmf-hash",
                    found: s.chars().take(64).collect(),
                })
            }
        })
    }
}

/// Which VMM launches the guest; they set some registers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum VmmType {
    /// QEMU/KVM.
    #[default]
    #[serde(rename = "QEMU")]
    Qemu,
    /// AWS EC2.
    #[serde(rename = "ec2")]
    Ec2,
    /// Google Compute Engine.
    #[serde(rename = "gce")]
    Gce,
}

impl FromStr for VmmType {
    type Err = Error;

    /// `QEMU`, `ec2` or `gce`, spelled exactly so.
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "QEMU" => Self::Qemu,
            "ec2" => Self::Ec2,
            "gce" => Self::Gce,
            _ => {
                return Err(Error::InvalidInput {
                    field: "vmm type",
                    expected: "QEMU, ec2 or gce",
                    found: s.chars().take(64).collect(),
                })
            }
        })
    }
}

/// How the vCPU model is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcpuSpec {
    /// A QEMU CPU model name (`EPYC-v4`, `EPYC-Milan`, …).
    Type(String),
    /// A raw CPUID signature.
    Signature(u32),
    /// Family, model and stepping.
    FamilyModelStepping {
        /// CPU family.
        family: u32,
        /// CPU model.
        model: u32,
        /// CPU stepping.
        stepping: u32,
    },
}

impl VcpuSpec {
    /// The CPUID signature this describes.
    pub fn signature(&self) -> Result<u32, Error> {
        match self {
            Self::Type(name) => {
                vcpu_type_sig(name).ok_or_else(|| Error::UnknownVcpuType { found: name.chars().take(64).collect() })
            }
            Self::Signature(sig) => Ok(*sig),
            Self::FamilyModelStepping { family, model, stepping } => Ok(cpu_sig(*family, *model, *stepping)),
        }
    }
}

/// An SEV/SEV-ES/SEV-SNP launch as the VMM performs it.
#[derive(Debug, Clone)]
pub struct SnpLaunch {
    /// What to measure.
    pub mode: SevMode,
    /// The OVMF image, as mapped below 4 GiB.
    pub firmware: Vec<u8>,
    /// The kernel file (`-kernel`), whose hash the firmware checks.
    pub kernel: Option<Vec<u8>>,
    /// The initrd file (`-initrd`).
    pub initrd: Option<Vec<u8>>,
    /// The command line (`-append`), without a trailing NUL.
    pub cmdline: Option<String>,
    /// The kernel hashes table's digests, for a caller that hashed the
    /// kernel and initrd files itself ([`SevHashes::from_digests`]); in
    /// place of `kernel`, `initrd` and `cmdline`, which must then be `None`.
    pub kernel_hashes: Option<SevHashes>,
    /// Number of vCPUs (SEV-ES and SNP).
    pub vcpus: u32,
    /// vCPU model (SEV-ES and SNP with QEMU; EC2 and GCE ignore it).
    pub vcpu: Option<VcpuSpec>,
    /// VMSA SEV_FEATURES for SNP (`0x1` = SNPActive; `0x21` adds DebugSwap).
    pub guest_features: u64,
    /// Which VMM launches the guest.
    pub vmm_type: VmmType,
    /// GCTX digest after the firmware pages, to use instead of hashing
    /// `firmware`'s pages (SNP only; the metadata is still read from it).
    pub snp_ovmf_hash: Option<[u8; LD_LEN]>,
    /// Keep the intermediates (VMSA pages, per-page GCTX trace).
    pub trace: bool,
}

impl SnpLaunch {
    /// A launch of `firmware` alone in `mode`, one vCPU, SNPActive, QEMU.
    pub fn new(mode: SevMode, firmware: Vec<u8>) -> Self {
        Self {
            mode,
            firmware,
            kernel: None,
            initrd: None,
            cmdline: None,
            kernel_hashes: None,
            vcpus: 1,
            vcpu: None,
            guest_features: 0x1,
            vmm_type: VmmType::Qemu,
            snp_ovmf_hash: None,
            trace: false,
        }
    }
}

/// The result of measuring an SEV launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpMeasurements {
    /// The mode measured.
    pub mode: SevMode,
    /// The launch digest: 48 bytes (SNP) or 32 bytes (SEV, SEV-ES).
    #[serde(serialize_with = "crate::hexser::bytes")]
    pub launch_digest: Vec<u8>,
    /// SNP: the GCTX digest after the firmware pages.
    #[serde(serialize_with = "crate::hexser::opt_bytes", skip_serializing_if = "Option::is_none")]
    pub ovmf_gctx_digest: Option<[u8; LD_LEN]>,
    /// The 176-byte kernel hashes table, when a kernel was given.
    #[serde(serialize_with = "crate::hexser::opt_bytes", skip_serializing_if = "Option::is_none")]
    pub hashes_table: Option<Vec<u8>>,
    /// With `trace`: the VMSA page measured for each vCPU.
    #[serde(skip)]
    pub vmsa_pages: Vec<Box<[u8; PAGE_LEN]>>,
    /// With `trace` (SNP): every GCTX update in order.
    #[serde(skip)]
    pub gctx_trace: Vec<GctxStep>,
}

impl SnpMeasurements {
    /// The launch digest as lower-case hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(&self.launch_digest)
    }

    /// Reference values under the names the KBS default policy reads:
    /// `snp_launch_measurement` for an SNP launch. SEV and SEV-ES digests
    /// and the firmware-only digest are not what a report carries, so they
    /// give no reference value.
    pub fn reference_values(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if self.mode == SevMode::Snp {
            out.insert("snp_launch_measurement".to_string(), self.digest_hex());
        }
        out
    }
}
