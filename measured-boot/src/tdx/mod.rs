//! Intel TDX: MRTD, RTMR\[1\], RTMR\[2\] and the TD HOB of a QEMU direct boot.
//!
//! What is predicted, for TDVF (OVMF built with TDX support) booted by
//! QEMU's q35 machine with `-kernel/-initrd/-append`:
//!
//! - **MRTD** from the firmware image alone ([`mrtd`]): TDVF sections added
//!   and extended in the chosen [`PageAddOrder`].
//! - **RTMR\[1\]**: the kernel's Authenticode digest after QEMU patched its
//!   setup header ([`kernel`], [`pe`]) and the four fixed OVMF events.
//! - **RTMR\[2\]**: the LoadOptions and initrd events of the Linux EFI stub.
//!   Only kernels whose stub measures into the TDX CC protocol log them
//!   (upstream since the 2024 libstub change, Linux 6.9 era, and its
//!   backports); with an older kernel RTMR\[2\] stays zero
//!   ([`TdxLaunch::efi_stub_measures`]).
//! - **RTMR\[0\]** is *not* predicted: besides the TD HOB (computed here, its
//!   first event, [`hob`]) it covers QEMU's ACPI tables, the firmware's
//!   variable store and Secure Boot and boot variables, which depend on the
//!   QEMU version, the vCPU count, memory and every device. The result says
//!   so instead of giving a value.

pub mod hob;
pub mod kernel;
pub mod layout;
pub mod mrtd;
pub mod pe;
pub mod rtmr;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest as _, Sha384};

use arca_firmware::tdvf::{parse_tdvf_metadata, TdvfMetadata, TdvfSectionType};

pub use kernel::{PatchedSetupHeader, DEFAULT_ACPI_DATA_SIZE};
pub use mrtd::PageAddOrder;
pub use rtmr::TdxEvent;

use crate::{Error, Result};

/// Why RTMR\[0\] has no predicted value.
pub const RTMR0_UNPREDICTABLE: &str = "RTMR[0] covers the TD HOB (predicted: trace.rtmr0_events), then QEMU's ACPI \
     tables (etc/table-loader, RSDP, etc/acpi/tables), the firmware variable store and the Secure Boot and boot \
     variables; those depend on the QEMU version, vCPU count, memory and devices, and are not modelled";

/// Why RTMR\[1\] and RTMR\[2\] have no value without a kernel.
pub const NO_KERNEL: &str = "no kernel given: the firmware boots from disk, so the boot loader decides the events";

/// A SHA-384 digest, shown as lower-case hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha384Digest(pub [u8; 48]);

impl fmt::Display for Sha384Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha384Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha384Digest({self})")
    }
}

impl Serialize for Sha384Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A TDX launch as QEMU performs it: file contents and machine options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxLaunch {
    /// The TDVF firmware image (`-bios`, or the unified pflash image).
    pub firmware: Vec<u8>,
    /// The kernel (`-kernel`): a bzImage with an EFI stub. `None` boots
    /// from disk, which leaves RTMR\[1\] and RTMR\[2\] unpredicted.
    pub kernel: Option<Vec<u8>>,
    /// The initrd (`-initrd`). An empty file still makes QEMU write its
    /// address into the setup header (RTMR\[1\]) but OVMF then reports no
    /// initrd to the kernel (nothing in RTMR\[2\]).
    pub initrd: Option<Vec<u8>>,
    /// The kernel command line (`-append`); `None` and `""` are the same.
    pub cmdline: Option<String>,
    /// Guest memory in bytes (`-m`).
    pub memory: u64,
    /// vCPU count (`-smp`). It reaches only RTMR\[0\] (through the ACPI MADT),
    /// which is not predicted; kept so the launch description is complete.
    pub vcpus: u32,
    /// The order in which the VMM adds and extends firmware pages.
    pub page_add_order: PageAddOrder,
    /// ACPI data QEMU reserves at the top of low RAM (0x28000 for the PC
    /// machines); the initrd is placed below it.
    pub acpi_data_size: u64,
    /// The kernel's EFI stub measures its LoadOptions and initrd into the
    /// TDX CC protocol (upstream Linux since the 2024 libstub change, 6.9
    /// era, and kernels with its backport). When `false` (older kernels,
    /// e.g. Debian 12's 6.1), nothing is logged and RTMR\[2\] stays zero.
    pub efi_stub_measures: bool,
}

impl TdxLaunch {
    /// A launch of `firmware` with QEMU's defaults: 2 GiB, one vCPU, the
    /// current page-add order, no kernel (and a kernel, once given, whose
    /// EFI stub measures into RTMR\[2\]).
    pub fn new(firmware: Vec<u8>) -> Self {
        Self {
            firmware,
            kernel: None,
            initrd: None,
            cmdline: None,
            memory: 2 << 30,
            vcpus: 1,
            page_add_order: PageAddOrder::default(),
            acpi_data_size: DEFAULT_ACPI_DATA_SIZE,
            efi_stub_measures: true,
        }
    }
}

/// Intermediate values of a TDX measurement, so a mismatch can be traced
/// to its step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxTrace {
    /// The firmware's TDVF metadata.
    pub tdvf_metadata: TdvfMetadata,
    /// The measured TD HOB bytes, hex.
    #[serde(serialize_with = "hex_bytes")]
    pub td_hob: Vec<u8>,
    /// The RTMR\[0\] events that can be predicted (the TD HOB); the rest of
    /// the log is unknown.
    pub rtmr0_events: Vec<TdxEvent>,
    /// The setup header fields QEMU writes (with a kernel).
    pub patched_setup_header: Option<PatchedSetupHeader>,
    /// Plain SHA-384 of the patched kernel file (with a kernel).
    pub patched_kernel_sha384: Option<Sha384Digest>,
    /// RTMR\[1\] events (with a kernel).
    pub rtmr1_events: Vec<TdxEvent>,
    /// The LoadOptions string the kernel receives (with a kernel and a
    /// command line or initrd).
    pub load_options: Option<String>,
    /// RTMR\[2\] events (with a kernel whose EFI stub measures).
    pub rtmr2_events: Vec<TdxEvent>,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

/// The predicted TDX measurement registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxMeasurements {
    /// MRTD.
    pub mrtd: Sha384Digest,
    /// RTMR\[0\]: always `None` (see [`RTMR0_UNPREDICTABLE`]).
    pub rtmr0: Option<Sha384Digest>,
    /// RTMR\[1\], `None` without a kernel.
    pub rtmr1: Option<Sha384Digest>,
    /// RTMR\[2\], `None` without a kernel.
    pub rtmr2: Option<Sha384Digest>,
    /// For each register left `None` (`"rtmr0"`, …), why.
    pub unpredictable: BTreeMap<String, String>,
    /// The page-add order MRTD was computed for.
    pub page_add_order: PageAddOrder,
    /// Intermediate values.
    pub trace: TdxTrace,
}

impl TdxMeasurements {
    /// The values under the names the KBS default policy reads: `mr_td`,
    /// `rtmr_1` and `rtmr_2` (when predicted); `rtmr_0` only when predicted,
    /// which it currently never is.
    pub fn reference_values(&self) -> BTreeMap<String, String> {
        let mut values = BTreeMap::from([("mr_td".to_owned(), self.mrtd.to_string())]);
        for (name, value) in [("rtmr_0", self.rtmr0), ("rtmr_1", self.rtmr1), ("rtmr_2", self.rtmr2)] {
            if let Some(v) = value {
                values.insert(name.to_owned(), v.to_string());
            }
        }
        values
    }
}

/// QEMU loads only the four section types edk2 uses, BFV and CFV with data
/// from the image and TD_HOB and TEMP_MEM without (`tdvf.c`,
/// `tdvf_parse_and_check_section_entry`); it refuses firmware with any
/// other section, so such a launch has no measurement.
fn check_qemu_accepts(metadata: &TdvfMetadata) -> Result<()> {
    for (index, s) in metadata.sections.iter().enumerate() {
        let problem = match s.section_type {
            TdvfSectionType::Bfv | TdvfSectionType::Cfv if s.raw_data_size == 0 => "BFV/CFV section without data",
            TdvfSectionType::TdHob | TdvfSectionType::TempMem if s.raw_data_size != 0 => {
                "TD_HOB/TEMP_MEM section with data"
            }
            TdvfSectionType::Bfv | TdvfSectionType::Cfv | TdvfSectionType::TdHob | TdvfSectionType::TempMem => continue,
            _ => "a section type QEMU does not load",
        };
        return Err(Error::TdxLaunchParameter {
            field: "firmware",
            expected: "TDVF sections QEMU loads: BFV and CFV with data, TD_HOB and TEMP_MEM without",
            found: format!("section {index} ({}): {problem}", s.section_type.name()),
        });
    }
    Ok(())
}

/// Computes the predicted measurements of a TDX launch.
pub fn measure(launch: &TdxLaunch) -> Result<TdxMeasurements> {
    if launch.vcpus == 0 {
        return Err(Error::TdxLaunchParameter { field: "vcpus", expected: "at least 1", found: "0".into() });
    }
    if let Some(cmdline) = &launch.cmdline {
        if cmdline.contains('\0') {
            return Err(Error::TdxLaunchParameter {
                field: "cmdline",
                expected: "no NUL character (QEMU passes a C string)",
                found: format!("NUL at byte {}", cmdline.find('\0').unwrap_or_default()),
            });
        }
    }
    let metadata = parse_tdvf_metadata(&launch.firmware)?;
    check_qemu_accepts(&metadata)?;
    let mrtd = Sha384Digest(mrtd::compute_mrtd(&launch.firmware, &metadata, launch.page_add_order)?);
    let ram = layout::RamLayout::q35(launch.memory)?;
    let td_hob = hob::td_hob(&metadata, &ram)?;
    let rtmr0_events = vec![TdxEvent::of_data("EV_EFI_HANDOFF_TABLES2", "TD HOB", &td_hob)];

    let mut unpredictable = BTreeMap::from([("rtmr0".to_owned(), RTMR0_UNPREDICTABLE.to_owned())]);
    let mut trace = TdxTrace {
        tdvf_metadata: metadata,
        td_hob,
        rtmr0_events,
        patched_setup_header: None,
        patched_kernel_sha384: None,
        rtmr1_events: Vec::new(),
        load_options: None,
        rtmr2_events: Vec::new(),
    };
    let (rtmr1, rtmr2) = match &launch.kernel {
        None => {
            unpredictable.insert("rtmr1".into(), NO_KERNEL.into());
            unpredictable.insert("rtmr2".into(), NO_KERNEL.into());
            (None, None)
        }
        Some(kernel) => {
            let initrd_size = launch.initrd.as_ref().map(|i| i.len() as u64);
            let (patched, header) = kernel::patch_setup_header(kernel, initrd_size, &ram, launch.acpi_data_size)?;
            let authenticode = pe::authenticode_sha384(&patched)?;
            trace.patched_setup_header = Some(header);
            trace.patched_kernel_sha384 = Some(Sha384Digest(Sha384::digest(&patched).into()));
            trace.rtmr1_events = rtmr::rtmr1_events(authenticode);
            let initrd_nonempty = launch.initrd.as_ref().is_some_and(|i| !i.is_empty());
            trace.load_options = rtmr::load_options(launch.cmdline.as_deref(), initrd_nonempty);
            if launch.efi_stub_measures {
                trace.rtmr2_events = rtmr::rtmr2_events(trace.load_options.as_deref(), launch.initrd.as_deref());
            }
            (Some(rtmr::replay(&trace.rtmr1_events)), Some(rtmr::replay(&trace.rtmr2_events)))
        }
    };
    Ok(TdxMeasurements { mrtd, rtmr0: None, rtmr1, rtmr2, unpredictable, page_add_order: launch.page_add_order, trace })
}
