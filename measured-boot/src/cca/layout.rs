//! Where QEMU and kvmtool put a realm's RAM, kernel, initrd and DTB, and
//! where its first vCPU starts (see "Memory map" in the module above).
//! A kernel with a non-zero text_offset is still entered at the RAM base:
//! that is what the reference values are computed with.

use serde::Serialize;

use super::image::Arm64ImageHeader;
use super::rmm::GRANULE;
use super::Vmm;
use crate::{Error, Result};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// QEMU `virt`: base of RAM.
pub const QEMU_RAM_BASE: u64 = 0x4000_0000;
/// QEMU `virt`: most RAM the fixed memory map holds.
pub const QEMU_MAX_RAM: u64 = 255 * GIB;
/// QEMU `virt`: IPA width the memory map needs (high PCIe windows up to
/// 40 bits, plus the unprotected half of the realm's IPA space).
pub const QEMU_IPA_BITS: u8 = 41;
/// kvmtool: base of RAM.
pub const KVMTOOL_RAM_BASE: u64 = 0x8000_0000;
/// kvmtool: size of the DTB area, measured in full.
pub const KVMTOOL_DTB_SIZE: u64 = 0x1_0000;
/// kvmtool: most RAM accepted here (keeps every address within 48 bits).
pub const KVMTOOL_MAX_RAM: u64 = 1 << 47;
const KVMTOOL_DTB_LIMIT: u64 = 256 * MIB;
const KVMTOOL_DTB_ALIGN: u64 = 2 * MIB;
const KVMTOOL_INITRD_ALIGN: u64 = 4;

/// Serialize an address as `0x…` hex text.
pub(crate) fn hex_addr<S: serde::Serializer>(v: &u64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

fn hex_opt_addr<S: serde::Serializer>(v: &Option<u64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => hex_addr(v, s),
        None => s.serialize_none(),
    }
}

/// Where each blob lands and how the first vCPU starts (addresses are
/// serialized as `0x…` text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CcaLayout {
    /// Base IPA of RAM.
    #[serde(serialize_with = "hex_addr")]
    pub ram_base: u64,
    /// Size of RAM in bytes.
    #[serde(serialize_with = "hex_addr")]
    pub ram_size: u64,
    /// IPA of the kernel image.
    #[serde(serialize_with = "hex_addr")]
    pub kernel: u64,
    /// IPA of the initrd, when there is one.
    #[serde(serialize_with = "hex_opt_addr")]
    pub initrd: Option<u64>,
    /// IPA of the DTB.
    #[serde(serialize_with = "hex_addr")]
    pub dtb: u64,
    /// Bytes of DTB measured (kvmtool measures its whole DTB area).
    #[serde(serialize_with = "hex_addr")]
    pub dtb_size: u64,
    /// Entry point of the first REC.
    #[serde(serialize_with = "hex_addr")]
    pub pc: u64,
    /// x0 of the first REC (the DTB address).
    #[serde(serialize_with = "hex_addr")]
    pub x0: u64,
}

fn layout_err(field: &'static str, reason: String) -> Error {
    Error::CcaLayout { field, reason }
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// Place kernel, initrd and DTB for `vmm` in `ram_size` bytes of RAM.
pub fn place(
    vmm: Vmm,
    ram_size: u64,
    kernel: &Arm64ImageHeader,
    initrd_len: Option<u64>,
    dtb_len: u64,
) -> Result<CcaLayout> {
    if ram_size == 0 || !ram_size.is_multiple_of(GRANULE) {
        return Err(layout_err(
            "memory_size",
            format!("expected a non-zero multiple of {GRANULE:#x} bytes, found {ram_size:#x}"),
        ));
    }
    let overflow = |field| layout_err(field, "address arithmetic overflows".into());
    let layout = match vmm {
        Vmm::Qemu => {
            if ram_size > QEMU_MAX_RAM {
                return Err(layout_err(
                    "memory_size",
                    format!("expected at most {QEMU_MAX_RAM:#x} bytes (QEMU virt memory map), found {ram_size:#x}"),
                ));
            }
            let base = QEMU_RAM_BASE;
            let kernel_at = base.checked_add(kernel.text_offset).ok_or_else(|| overflow("text_offset"))?;
            let kernel_end = kernel_at.checked_add(kernel.image_size).ok_or_else(|| overflow("image_size"))?;
            let initrd_at = (base + (ram_size / 2).min(128 * MIB)).max(kernel_end);
            let initrd_at = align_up(initrd_at, GRANULE).ok_or_else(|| overflow("image_size"))?;
            let initrd_end = initrd_at.checked_add(initrd_len.unwrap_or(0)).ok_or_else(|| overflow("initrd"))?;
            let dtb = align_up(initrd_end, 2 * MIB).ok_or_else(|| overflow("initrd"))?;
            CcaLayout {
                ram_base: base,
                ram_size,
                kernel: kernel_at,
                initrd: initrd_len.map(|_| initrd_at),
                dtb,
                dtb_size: dtb_len,
                pc: base,
                x0: dtb,
            }
        }
        Vmm::Kvmtool => {
            if !ram_size.is_multiple_of(2 * MIB) || ram_size > KVMTOOL_MAX_RAM {
                return Err(layout_err(
                    "memory_size",
                    format!(
                        "expected a multiple of 2 MiB up to {KVMTOOL_MAX_RAM:#x} bytes (kvmtool), found {ram_size:#x}"
                    ),
                ));
            }
            if dtb_len > KVMTOOL_DTB_SIZE {
                return Err(layout_err(
                    "dtb",
                    format!("expected at most {KVMTOOL_DTB_SIZE} bytes (kvmtool's DTB area), found {dtb_len}"),
                ));
            }
            let base = KVMTOOL_RAM_BASE;
            let limit = ram_size.min(KVMTOOL_DTB_LIMIT);
            let below = KVMTOOL_DTB_ALIGN + KVMTOOL_DTB_SIZE;
            if limit < below {
                return Err(layout_err(
                    "memory_size",
                    format!("expected at least {below:#x} bytes for kvmtool's DTB placement, found {ram_size:#x}"),
                ));
            }
            let dtb = align_up(base + limit - below, KVMTOOL_DTB_ALIGN).ok_or_else(|| overflow("dtb"))?;
            let kernel_at = base.checked_add(kernel.text_offset).ok_or_else(|| overflow("text_offset"))?;
            let initrd = match initrd_len {
                None => None,
                Some(len) => {
                    let room = dtb - base;
                    if len.saturating_add(KVMTOOL_INITRD_ALIGN) > room {
                        return Err(layout_err(
                            "initrd",
                            format!("{len} bytes do not fit below the DTB at {dtb:#x} (at most {} bytes)", room - 4),
                        ));
                    }
                    align_up(dtb - len - KVMTOOL_INITRD_ALIGN, KVMTOOL_INITRD_ALIGN)
                }
            };
            CcaLayout {
                ram_base: base,
                ram_size,
                kernel: kernel_at,
                initrd,
                dtb,
                dtb_size: KVMTOOL_DTB_SIZE,
                pc: base,
                x0: dtb,
            }
        }
    };
    Ok(layout)
}

/// A blob to measure: its name (for errors and the trace), IPA and bytes.
pub struct Blob<'a> {
    /// `kernel`, `initrd` or `dtb`.
    pub name: &'static str,
    /// Load address.
    pub ipa: u64,
    /// Contents.
    pub bytes: &'a [u8],
    /// Bytes measured: at least `bytes.len()`, the rest zero.
    pub size: u64,
}

impl Blob<'_> {
    /// Granule-aligned `[start, end)` the blob's measurement covers.
    pub fn granules(&self) -> Option<(u64, u64)> {
        let start = self.ipa - self.ipa % GRANULE;
        let end = align_up(self.ipa.checked_add(self.size)?, GRANULE)?;
        Some((start, end))
    }
}

/// Every blob lies inside RAM and no two share a granule.
pub fn check_blobs(layout: &CcaLayout, blobs: &[Blob<'_>]) -> Result<()> {
    let ram_end = layout.ram_base + layout.ram_size;
    let mut spans = Vec::with_capacity(blobs.len());
    for b in blobs {
        let end = b.ipa.checked_add(b.size).filter(|end| *end <= ram_end && b.ipa >= layout.ram_base);
        let Some(end) = end else {
            return Err(layout_err(
                b.name,
                format!("{} bytes at {:#x} do not fit in RAM [{:#x}, {ram_end:#x})", b.size, b.ipa, layout.ram_base),
            ));
        };
        let (gs, ge) = b.granules().ok_or_else(|| layout_err(b.name, "address arithmetic overflows".into()))?;
        spans.push((gs, ge, b.name, b.ipa, end));
    }
    spans.sort();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.1 > b.0 && a.1 > a.0 && b.1 > b.0 {
                return Err(layout_err(
                    b.2,
                    format!("[{:#x}, {:#x}) shares a granule with the {} at [{:#x}, {:#x})", b.3, b.4, a.2, a.3, a.4),
                ));
            }
        }
    }
    Ok(())
}
