//! Arm CCA: the Realm Initial Measurement (RIM) of a direct kernel boot
//! under QEMU or kvmtool.
//!
//! The RMM starts the RIM when the host creates the realm (hash of the
//! realm parameters), and extends it with one 256-byte descriptor per
//! operation the host performs before the realm runs: every stage-2 entry
//! of RAM set to RIPAS RAM, every 4 KiB granule of kernel, initrd and DTB
//! copied in (address and content hash), and the runnable REC (entry point
//! and x0). The realm's attestation token reports the final value as
//! `cca-realm-initial-measurement`.
//!
//! Inputs are bytes and numbers: the kernel `Image`, the initrd, the DTB
//! the VMM builds (measured as given; its memory, CPU, command-line and
//! initrd facts are checked against the launch), RAM size, vCPU count, the
//! host capabilities and the hash algorithm. Not modelled: firmware boot
//! (`-bios`), the measurement log region, and RMM interface versions other
//! than 1.0-eac5, which the reference values are computed for.
//!
//! # Memory map
//!
//! Direct kernel boot, as the CCA host tools model QEMU `virt` and kvmtool:
//!
//! - QEMU: RAM at 1 GiB; kernel at RAM + text_offset; initrd at RAM +
//!   min(RAM/2, 128 MiB), or after the kernel's image_size if further, 4 KiB
//!   aligned; DTB at the next 2 MiB boundary after the initrd.
//! - kvmtool: RAM at 2 GiB, a multiple of 2 MiB; the DTB area (64 KiB,
//!   zero-filled past the tree) at the highest 2 MiB boundary leaving
//!   2 MiB and 64 KiB below min(end of RAM, RAM + 256 MiB); the initrd just below,
//!   4-byte aligned with a 4-byte gap (its first granule is measured with
//!   leading zeros).
//!
//! The first vCPU starts at the RAM base with x0 = the DTB address.

mod caps;
mod dtb;
mod image;
mod layout;
mod rmm;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use caps::{parse_host_config, HostCapabilities, MAX_HOST_CONFIG_SIZE};
pub use dtb::{parse_dtb, DtbLaunchInfo, MAX_DTB_SIZE};
pub use image::{parse_arm64_image_header, Arm64ImageHeader, ARM64_IMAGE_MAGIC};
pub use layout::{CcaLayout, KVMTOOL_RAM_BASE, QEMU_IPA_BITS, QEMU_RAM_BASE};
pub use rmm::GRANULE;

use crate::{Error, Result};

/// Largest kernel or initrd accepted: a bound on what is held and hashed,
/// far above any real image.
pub const MAX_BLOB_SIZE: usize = 1 << 32;

/// The VMM that builds the realm: it decides the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vmm {
    /// QEMU's `virt` machine.
    Qemu,
    /// kvmtool (`lkvm run --realm`).
    Kvmtool,
}

impl Vmm {
    /// The measurement algorithm the VMM asks for when none is given:
    /// SHA-512 for QEMU, SHA-256 for kvmtool.
    pub fn default_hash_algo(self) -> HashAlgo {
        match self {
            Vmm::Qemu => HashAlgo::Sha512,
            Vmm::Kvmtool => HashAlgo::Sha256,
        }
    }
}

/// The realm's measurement algorithm (`RmiHashAlgorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashAlgo {
    /// SHA-256 (RMI value 0).
    #[serde(rename = "sha256")]
    Sha256,
    /// SHA-512 (RMI value 1).
    #[serde(rename = "sha512")]
    Sha512,
}

impl HashAlgo {
    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    fn rmi_value(self) -> u8 {
        match self {
            HashAlgo::Sha256 => 0,
            HashAlgo::Sha512 => 1,
        }
    }
}

impl std::str::FromStr for HashAlgo {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sha256" => Ok(HashAlgo::Sha256),
            "sha512" => Ok(HashAlgo::Sha512),
            _ => Err(Error::CcaRealmParam {
                field: "measurement algorithm",
                expected: "sha256 or sha512".into(),
                found: s.into(),
            }),
        }
    }
}

/// Realm Personalization Value: 64 bytes the host gives at realm creation.
/// The token reports it as its own claim; it is not part of the RIM.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PersonalizationValue(pub [u8; 64]);

impl PersonalizationValue {
    /// From up to 64 raw bytes, zero-padded on the right (kvmtool's
    /// `--realm-pv` takes its argument this way).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut v = [0u8; 64];
        v.get_mut(..bytes.len())
            .ok_or_else(|| Error::CcaRealmParam {
                field: "personalization value",
                expected: "at most 64 bytes".into(),
                found: format!("{} bytes", bytes.len()),
            })?
            .copy_from_slice(bytes);
        Ok(PersonalizationValue(v))
    }

    /// From hex without prefix, up to 128 digits, zero-padded on the right
    /// (QEMU's `personalization-value`); an odd count of digits reads as if
    /// a `0` led.
    pub fn from_hex(s: &str) -> Result<Self> {
        let padded = if s.len() % 2 == 1 { format!("0{s}") } else { s.to_string() };
        let bytes = hex::decode(&padded).map_err(|e| Error::CcaRealmParam {
            field: "personalization value",
            expected: "hex digits".into(),
            found: format!("{s:?} ({e})"),
        })?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Debug for PersonalizationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalizationValue({})", hex::encode(self.0))
    }
}

/// A realm launch by direct kernel boot.
#[derive(Debug, Clone)]
pub struct CcaLaunch {
    /// The VMM, which decides the memory map.
    pub vmm: Vmm,
    /// The uncompressed arm64 `Image`.
    pub kernel: Vec<u8>,
    /// The initrd, if any.
    pub initrd: Option<Vec<u8>>,
    /// The DTB the VMM builds for this launch (measured as given).
    pub dtb: Vec<u8>,
    /// RAM size in bytes.
    pub memory_size: u64,
    /// vCPU count (checked against the DTB; only the first REC is measured).
    pub vcpus: u32,
    /// Kernel command line (checked against the DTB's `/chosen/bootargs`);
    /// `None` and `""` both mean none.
    pub cmdline: Option<String>,
    /// What host, hypervisor and RMM allow, after the VMM's own limits
    /// (`-cpu` options and the like) have lowered it. The IPA width is
    /// further limited here to what the VMM's memory map needs.
    pub host: HostCapabilities,
    /// Measurement algorithm; `None` for the VMM's default.
    pub hash_algo: Option<HashAlgo>,
    /// Realm Personalization Value, if any (reported, not measured).
    pub personalization_value: Option<PersonalizationValue>,
}

/// What one step of the RIM computation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RimOp {
    /// RMI_REALM_CREATE: the hash of RmiRealmParams.
    RealmCreate,
    /// RMI_RTT_INIT_RIPAS over `[base, top)`.
    InitRipas {
        /// First IPA.
        #[serde(serialize_with = "layout::hex_addr")]
        base: u64,
        /// IPA past the range.
        #[serde(serialize_with = "layout::hex_addr")]
        top: u64,
    },
    /// RMI_DATA_CREATE (measured) for each granule of a blob.
    Data {
        /// `kernel`, `initrd` or `dtb`.
        blob: &'static str,
        /// First granule IPA.
        #[serde(serialize_with = "layout::hex_addr")]
        base: u64,
        /// IPA past the last granule.
        #[serde(serialize_with = "layout::hex_addr")]
        top: u64,
    },
    /// RMI_REC_CREATE of the runnable REC.
    RecCreate {
        /// Entry point.
        #[serde(serialize_with = "layout::hex_addr")]
        pc: u64,
        /// x0 (DTB address).
        #[serde(serialize_with = "layout::hex_addr")]
        x0: u64,
    },
}

/// One step of the RIM computation and the RIM after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RimStep {
    /// The step as the host tools' log names it (see [`RimStep::label`]).
    pub step: String,
    /// The operation.
    #[serde(flatten)]
    pub op: RimOp,
    /// Measurement descriptors (RMM calls) this step hashed.
    pub descriptors: usize,
    /// RIM after the step (lowercase hex, digest length).
    pub rim: String,
}

impl RimStep {
    /// The step as the host tools' log names it, e.g. `Measuring RIPAS
    /// 0x40000000 - 0x5fffffff` (inclusive last address).
    pub fn label(&self) -> String {
        match &self.op {
            RimOp::RealmCreate => "Measuring RealmParams".into(),
            RimOp::InitRipas { base, top } => format!("Measuring RIPAS {base:#x} - {:#x}", top - 1),
            RimOp::Data { base, top, .. } => format!("Measuring data {base:#x} - {:#x}", top.wrapping_sub(1)),
            RimOp::RecCreate { .. } => "Measuring REC".into(),
        }
    }
}

/// The measured realm parameters (RMI_REALM_CREATE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealmParams {
    /// IPA width.
    pub ipa_bits: u8,
    /// Breakpoints.
    pub num_bps: u8,
    /// Watchpoints.
    pub num_wps: u8,
    /// SVE vector length in bits (0: no SVE).
    pub sve_vl: u16,
    /// PMU enabled.
    pub pmu: bool,
    /// PMU counters (0 without PMU).
    pub pmu_num_ctrs: u8,
    /// LPA2 enabled.
    pub lpa2: bool,
    /// Measurement algorithm.
    pub hash_algo: HashAlgo,
}

/// The expected measurements of a realm launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CcaMeasurements {
    /// Realm Initial Measurement, lowercase hex of the digest length (32
    /// bytes for SHA-256, 64 for SHA-512), as the token reports it.
    pub rim: String,
    /// Measurement algorithm.
    pub hash_algo: HashAlgo,
    /// Personalization value (hex, 64 bytes), when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personalization_value: Option<String>,
    /// The realm parameters as measured.
    pub realm_params: RealmParams,
    /// Where everything was loaded.
    pub layout: CcaLayout,
    /// Every step, in order.
    pub trace: Vec<RimStep>,
}

impl CcaMeasurements {
    /// Reference values under the names the KBS default policy reads:
    /// `cca_rim`.
    pub fn reference_values(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("cca_rim".to_string(), self.rim.clone())])
    }
}

/// `[base, end)` ranges on one line.
fn ranges(r: &[(u64, u64)]) -> String {
    if r.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = r.iter().map(|(b, n)| format!("[{b:#x}, {:#x})", b.saturating_add(*n))).collect();
    parts.join(", ")
}

fn mismatch(field: &'static str, expected: String, found: String) -> Error {
    Error::CcaDtbMismatch { field, expected, found }
}

/// The DTB must describe this launch: RAM, vCPUs, initrd and command line.
fn check_dtb(launch: &CcaLaunch, layout: &CcaLayout) -> Result<()> {
    let info = parse_dtb(&launch.dtb)?;
    let ram = vec![(layout.ram_base, layout.ram_size)];
    if info.memory != ram {
        return Err(mismatch("memory", ranges(&ram), ranges(&info.memory)));
    }
    if info.cpus != launch.vcpus {
        return Err(mismatch("cpus", launch.vcpus.to_string(), info.cpus.to_string()));
    }
    let initrd = match (&launch.initrd, layout.initrd) {
        // kvmtool leaves an empty initrd out of the DTB.
        (Some(bytes), Some(at)) if !(bytes.is_empty() && launch.vmm == Vmm::Kvmtool) => {
            Some((at, at + bytes.len() as u64))
        }
        _ => None,
    };
    if info.initrd != initrd {
        let as_range =
            |r: Option<(u64, u64)>| r.map_or_else(|| "none".to_string(), |(s, e)| ranges(&[(s, e.saturating_sub(s))]));
        return Err(mismatch("initrd", as_range(initrd), as_range(info.initrd)));
    }
    let want = launch.cmdline.as_deref().filter(|s| !s.is_empty());
    let have = info.bootargs.as_deref().filter(|s| !s.is_empty());
    if want != have {
        return Err(mismatch("bootargs", format!("{want:?}"), format!("{have:?}")));
    }
    Ok(())
}

/// The IPA width the realm gets: the host's, limited by the memory map.
fn realm_ipa_bits(vmm: Vmm, host: Option<u8>, ram_end: u64) -> Result<u8> {
    let host = host.ok_or(Error::CcaRealmParam {
        field: "ipa_bits",
        expected: "a value from the host capabilities".into(),
        found: "none".into(),
    })?;
    let need = match vmm {
        Vmm::Qemu => QEMU_IPA_BITS,
        // kvmtool (arm/aarch64/kvm.c, kvm__get_vm_type): the bits that
        // address the last byte of RAM, at least 32, plus one for the
        // realm's unprotected alias. (The CCA host tool computes one bit
        // less once RAM reaches past 4 GiB, which would leave RAM in the
        // unprotected half; both agree up to 2 GiB of kvmtool RAM.)
        Vmm::Kvmtool => ((ram_end - 1).ilog2() as u8 + 1).max(32) + 1,
    };
    if vmm == Vmm::Qemu && host < need {
        return Err(Error::CcaRealmParam {
            field: "ipa_bits",
            expected: format!("at least {need} for the QEMU virt memory map"),
            found: host.to_string(),
        });
    }
    let bits = host.min(need);
    if ram_end > 1u64 << (bits - 1) {
        return Err(Error::CcaRealmParam {
            field: "ipa_bits",
            expected: format!("enough for RAM up to {ram_end:#x} in the protected half"),
            found: bits.to_string(),
        });
    }
    Ok(bits)
}

/// Where `vmm` loads the kernel, initrd and DTB of a launch with
/// `memory_size` bytes of RAM (the placement [`measure`] uses). Addresses do
/// not depend on the DTB's contents, so a DTB can be built for them.
pub fn plan_layout(
    vmm: Vmm,
    memory_size: u64,
    kernel: &Arm64ImageHeader,
    initrd_len: Option<u64>,
    dtb_len: u64,
) -> Result<CcaLayout> {
    layout::place(vmm, memory_size, kernel, initrd_len, dtb_len)
}

/// Measure a launch: the RIM and every step that led to it.
pub fn measure(launch: &CcaLaunch) -> Result<CcaMeasurements> {
    let header = parse_arm64_image_header(&launch.kernel)?;
    for (name, len) in [("kernel", launch.kernel.len()), ("initrd", launch.initrd.as_ref().map_or(0, Vec::len))] {
        if len > MAX_BLOB_SIZE {
            return Err(Error::CcaLayout { field: name, reason: format!("{len} bytes, at most {MAX_BLOB_SIZE}") });
        }
    }
    if launch.dtb.len() > MAX_DTB_SIZE {
        return Err(Error::CcaLayout {
            field: "dtb",
            reason: format!("{} bytes, at most {MAX_DTB_SIZE}", launch.dtb.len()),
        });
    }
    let layout = plan_layout(
        launch.vmm,
        launch.memory_size,
        &header,
        launch.initrd.as_ref().map(|i| i.len() as u64),
        launch.dtb.len() as u64,
    )?;
    let mut blobs = vec![layout::Blob {
        name: "kernel",
        ipa: layout.kernel,
        bytes: &launch.kernel,
        size: launch.kernel.len() as u64,
    }];
    if let (Some(initrd), Some(at)) = (&launch.initrd, layout.initrd) {
        blobs.push(layout::Blob { name: "initrd", ipa: at, bytes: initrd, size: initrd.len() as u64 });
    }
    blobs.push(layout::Blob { name: "dtb", ipa: layout.dtb, bytes: &launch.dtb, size: layout.dtb_size });
    layout::check_blobs(&layout, &blobs)?;

    let algo = launch.hash_algo.unwrap_or(launch.vmm.default_hash_algo());
    let ram_end = layout.ram_base + layout.ram_size;
    let mut host = launch.host.clone();
    host.ipa_bits = Some(realm_ipa_bits(launch.vmm, host.ipa_bits, ram_end)?);
    let create = host.realm_create_params(algo)?;
    check_dtb(launch, &layout)?;

    let mut trace = Vec::new();
    let mut rim = rmm::Rim::create(algo, &create);
    let mut step = |op, descriptors, rim: &rmm::Rim| {
        let mut s = RimStep { step: String::new(), op, descriptors, rim: hex::encode(rim.digest()) };
        s.step = s.label();
        trace.push(s);
    };
    step(RimOp::RealmCreate, 1, &rim);

    let top = ram_end;
    let n = rim.init_ripas(layout.ram_base, top);
    step(RimOp::InitRipas { base: layout.ram_base, top }, n, &rim);

    // Data granules in ascending address order.
    blobs.sort_by_key(|b| b.ipa);
    for b in &blobs {
        let (base, top) = b.granules().unwrap_or((b.ipa, b.ipa));
        // kvmtool's DTB area is measured in full: pad to its size.
        let padded;
        let bytes = if (b.bytes.len() as u64) < b.size {
            padded = {
                let mut v = b.bytes.to_vec();
                v.resize(b.size as usize, 0);
                v
            };
            &padded[..]
        } else {
            b.bytes
        };
        let n = rim.data_create(b.ipa, bytes);
        step(RimOp::Data { blob: b.name, base, top }, n, &rim);
    }

    rim.rec_create(layout.pc, &[layout.x0, 0, 0, 0, 0, 0, 0, 0]);
    step(RimOp::RecCreate { pc: layout.pc, x0: layout.x0 }, 1, &rim);

    Ok(CcaMeasurements {
        rim: hex::encode(rim.digest()),
        hash_algo: algo,
        personalization_value: launch.personalization_value.map(|p| hex::encode(p.0)),
        realm_params: RealmParams {
            ipa_bits: create.s2sz,
            num_bps: create.num_bps + 1,
            num_wps: create.num_wps + 1,
            sve_vl: if create.flags & rmm::REALM_FLAG_SVE != 0 { (u16::from(create.sve_vq) + 1) * 128 } else { 0 },
            pmu: create.flags & rmm::REALM_FLAG_PMU != 0,
            pmu_num_ctrs: create.pmu_num_ctrs,
            lpa2: create.flags & rmm::REALM_FLAG_LPA2 != 0,
            hash_algo: algo,
        },
        layout,
        trace,
    })
}

#[cfg(test)]
mod tests;
