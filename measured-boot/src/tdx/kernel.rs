//! The Linux x86 setup header as QEMU patches it for direct kernel boot.
//!
//! With `-kernel`, QEMU writes boot parameters into the kernel's setup
//! header before handing the image to the firmware over fw_cfg, and OVMF
//! measures that patched image (not the file) into RTMR\[1\]. The patch is
//! QEMU's `x86_load_linux` for a "high and recent" kernel (boot protocol
//! 2.02 or later, `LOADED_HIGH`): real-mode code at 0x10000, command line
//! at 0x20000.
//!
//! Field offsets: Linux `Documentation/arch/x86/boot.rst`, "The Real-Mode
//! Kernel Header".

use serde::Serialize;

use super::layout::RamLayout;
use crate::{Error, Result};

/// `header`: the magic `HdrS`.
const HEADER_MAGIC_OFFSET: usize = 0x202;
/// `version`: boot protocol version.
const VERSION_OFFSET: usize = 0x206;
/// `type_of_loader`.
const TYPE_OF_LOADER_OFFSET: usize = 0x210;
/// `loadflags`.
const LOADFLAGS_OFFSET: usize = 0x211;
/// `ramdisk_image`.
const RAMDISK_IMAGE_OFFSET: usize = 0x218;
/// `ramdisk_size`.
const RAMDISK_SIZE_OFFSET: usize = 0x21c;
/// `heap_end_ptr`.
const HEAP_END_PTR_OFFSET: usize = 0x224;
/// `cmd_line_ptr`.
const CMD_LINE_PTR_OFFSET: usize = 0x228;
/// `initrd_addr_max`.
const INITRD_ADDR_MAX_OFFSET: usize = 0x22c;
/// `xloadflags`.
const XLOADFLAGS_OFFSET: usize = 0x236;
/// Bytes of the image the patch reads or writes.
const HEADER_END: usize = 0x238;

/// `loadflags` bit 0: protected-mode code is loaded at 0x100000.
const LOADED_HIGH: u8 = 0x01;
/// `loadflags` bit 7: `heap_end_ptr` is valid.
const CAN_USE_HEAP: u8 = 0x80;
/// `xloadflags` bit 1: the initrd may sit above 4 GiB.
const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// QEMU's boot loader id (0xB0: QEMU, revision 0).
const QEMU_LOADER_TYPE: u8 = 0xb0;
/// Where QEMU puts the real-mode setup code for a high, recent kernel.
const REAL_ADDR: u32 = 0x1_0000;
/// Where QEMU puts the command line for a high, recent kernel.
const CMDLINE_ADDR: u32 = 0x2_0000;

/// ACPI data QEMU's PC machines reserve at the top of low RAM
/// (`acpi_data_size` = 0x20000 + 0x8000), which the initrd stays below.
pub const DEFAULT_ACPI_DATA_SIZE: u64 = 0x28000;

/// The setup header fields QEMU writes, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PatchedSetupHeader {
    /// `type_of_loader` (0x210).
    pub type_of_loader: u8,
    /// `loadflags` (0x211) after QEMU sets `CAN_USE_HEAP`.
    pub loadflags: u8,
    /// `ramdisk_image` (0x218): the initrd's load address, 0 without one.
    pub ramdisk_image: u32,
    /// `ramdisk_size` (0x21c).
    pub ramdisk_size: u32,
    /// `heap_end_ptr` (0x224).
    pub heap_end_ptr: u16,
    /// `cmd_line_ptr` (0x228).
    pub cmd_line_ptr: u32,
}

fn u16_at(k: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([k[at], k[at + 1]])
}

fn u32_at(k: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([k[at], k[at + 1], k[at + 2], k[at + 3]])
}

fn header_error(field: &'static str, expected: &'static str, found: u64) -> Error {
    Error::KernelSetupHeader { field, expected, found }
}

/// The highest address (exclusive bound on the size) QEMU loads the initrd
/// below, for a kernel header and RAM layout.
fn initrd_max(header: &[u8], protocol: u16, ram: &RamLayout, acpi_data_size: u64) -> Result<u64> {
    let mut max = if protocol >= 0x20c && u16_at(header, XLOADFLAGS_OFFSET) & XLF_CAN_BE_LOADED_ABOVE_4G != 0 {
        u64::from(u32::MAX)
    } else if protocol >= 0x203 {
        u64::from(u32_at(header, INITRD_ADDR_MAX_OFFSET))
    } else {
        0x37ff_ffff
    };
    let low_limit = ram.below_4g.checked_sub(acpi_data_size).filter(|l| *l > 0).ok_or(Error::TdxLaunchParameter {
        field: "acpi_data_size",
        expected: "less than the RAM below 4 GiB",
        found: format!("{acpi_data_size:#x}"),
    })?;
    if max >= low_limit {
        max = low_limit - 1;
    }
    Ok(max)
}

/// Patches `kernel`'s setup header as QEMU does for direct boot with an
/// initrd of `initrd_size` bytes (`None`: no `-initrd`), and returns the
/// patched image and the fields written.
pub fn patch_setup_header(
    kernel: &[u8],
    initrd_size: Option<u64>,
    ram: &RamLayout,
    acpi_data_size: u64,
) -> Result<(Vec<u8>, PatchedSetupHeader)> {
    if kernel.len() < HEADER_END {
        return Err(header_error("image size", "at least 0x238 bytes", kernel.len() as u64));
    }
    let magic = u32_at(kernel, HEADER_MAGIC_OFFSET);
    if magic != u32::from_le_bytes(*b"HdrS") {
        return Err(header_error("header magic (0x202)", "\"HdrS\" (a bzImage)", magic.into()));
    }
    let protocol = u16_at(kernel, VERSION_OFFSET);
    if protocol < 0x202 {
        return Err(header_error("version (0x206)", "boot protocol 2.02 or later", protocol.into()));
    }
    let loadflags = kernel[LOADFLAGS_OFFSET];
    if loadflags & LOADED_HIGH == 0 {
        return Err(header_error("loadflags (0x211)", "LOADED_HIGH set (a bzImage)", loadflags.into()));
    }

    let ramdisk = match initrd_size {
        None => None,
        Some(size) => {
            let max = initrd_max(kernel, protocol, ram, acpi_data_size)?;
            if size >= max {
                return Err(Error::InitrdTooLarge { size, max });
            }
            // `max` < 4 GiB and `size` < `max`, so both fit in u32.
            let addr = (max - size) & !0xfff;
            Some((addr as u32, size as u32))
        }
    };

    let fields = PatchedSetupHeader {
        type_of_loader: QEMU_LOADER_TYPE,
        loadflags: loadflags | CAN_USE_HEAP,
        ramdisk_image: ramdisk.map_or(0, |r| r.0),
        ramdisk_size: ramdisk.map_or(0, |r| r.1),
        heap_end_ptr: (CMDLINE_ADDR - REAL_ADDR - 0x200) as u16,
        cmd_line_ptr: CMDLINE_ADDR,
    };
    let mut patched = kernel.to_vec();
    let header = &mut patched[..HEADER_END];
    header[CMD_LINE_PTR_OFFSET..CMD_LINE_PTR_OFFSET + 4].copy_from_slice(&fields.cmd_line_ptr.to_le_bytes());
    header[TYPE_OF_LOADER_OFFSET] = fields.type_of_loader;
    header[LOADFLAGS_OFFSET] = fields.loadflags;
    header[HEAP_END_PTR_OFFSET..HEAP_END_PTR_OFFSET + 2].copy_from_slice(&fields.heap_end_ptr.to_le_bytes());
    if ramdisk.is_some() {
        header[RAMDISK_IMAGE_OFFSET..RAMDISK_IMAGE_OFFSET + 4].copy_from_slice(&fields.ramdisk_image.to_le_bytes());
        header[RAMDISK_SIZE_OFFSET..RAMDISK_SIZE_OFFSET + 4].copy_from_slice(&fields.ramdisk_size.to_le_bytes());
    }
    Ok((patched, fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(protocol: u16, loadflags: u8, xloadflags: u16, initrd_addr_max: u32) -> Vec<u8> {
        let mut k = vec![0x5au8; 0x1000];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x206..0x208].copy_from_slice(&protocol.to_le_bytes());
        k[0x211] = loadflags;
        k[0x22c..0x230].copy_from_slice(&initrd_addr_max.to_le_bytes());
        k[0x236..0x238].copy_from_slice(&xloadflags.to_le_bytes());
        k
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn patches_the_fields_qemu_writes_and_nothing_else() {
        let k = kernel(0x20f, 0x01, 0x7f, 0x7fff_ffff);
        let ram = RamLayout::q35(GIB).unwrap();
        let (p, f) = patch_setup_header(&k, Some(0x1000), &ram, DEFAULT_ACPI_DATA_SIZE).unwrap();
        assert_eq!(f.ramdisk_image, 0x3ffd_6000);
        assert_eq!((f.type_of_loader, f.loadflags, f.heap_end_ptr, f.cmd_line_ptr), (0xb0, 0x81, 0xfe00, 0x20000));
        let changed: Vec<usize> = (0..k.len()).filter(|&i| k[i] != p[i]).collect();
        let allowed = [0x210..0x212, 0x218..0x220, 0x224..0x226, 0x228..0x22c];
        assert!(changed.iter().all(|i| allowed.iter().any(|r| r.contains(i))), "{changed:x?}");
        // Without an initrd the ramdisk fields keep the file's bytes.
        let (p, f) = patch_setup_header(&k, None, &ram, DEFAULT_ACPI_DATA_SIZE).unwrap();
        assert_eq!((f.ramdisk_image, f.ramdisk_size), (0, 0));
        assert_eq!(&p[0x218..0x220], &k[0x218..0x220]);
    }

    #[test]
    fn initrd_limit_follows_the_header() {
        let ram = RamLayout::q35(2 * GIB).unwrap();
        let acpi = DEFAULT_ACPI_DATA_SIZE;
        // Can be loaded above 4G: limited by low RAM only.
        let k = kernel(0x20f, 0x01, 0x02, 0x1000_0000);
        assert_eq!(patch_setup_header(&k, Some(0), &ram, acpi).unwrap().1.ramdisk_image, 0x7ffd_7000);
        // Older protocol: the header's initrd_addr_max applies.
        let k = kernel(0x20b, 0x01, 0x02, 0x1000_0000);
        assert_eq!(patch_setup_header(&k, Some(0x1000), &ram, acpi).unwrap().1.ramdisk_image, 0x0fff_f000);
        // Before 2.03: the fixed 0x37ffffff.
        let k = kernel(0x202, 0x01, 0, 0);
        assert_eq!(patch_setup_header(&k, Some(0x1000), &ram, acpi).unwrap().1.ramdisk_image, 0x37ffe000);
        assert!(matches!(
            patch_setup_header(&k, Some(0x37ff_ffff), &ram, acpi),
            Err(Error::InitrdTooLarge { size: 0x37ff_ffff, max: 0x37ff_ffff })
        ));
    }

    #[test]
    fn refuses_what_the_model_does_not_cover() {
        let ram = RamLayout::q35(GIB).unwrap();
        let acpi = DEFAULT_ACPI_DATA_SIZE;
        let field = |r: Result<(Vec<u8>, PatchedSetupHeader)>| match r {
            Err(Error::KernelSetupHeader { field, .. }) => field,
            other => panic!("expected KernelSetupHeader, got {other:?}"),
        };
        assert_eq!(field(patch_setup_header(&[0; 0x100], None, &ram, acpi)), "image size");
        assert_eq!(field(patch_setup_header(&[0; 0x1000], None, &ram, acpi)), "header magic (0x202)");
        assert_eq!(field(patch_setup_header(&kernel(0x201, 1, 0, 0), None, &ram, acpi)), "version (0x206)");
        assert_eq!(field(patch_setup_header(&kernel(0x20f, 0, 0, 0), None, &ram, acpi)), "loadflags (0x211)");
        // ACPI data larger than low RAM.
        let k = kernel(0x20f, 1, 0x7f, 0x7fff_ffff);
        assert!(matches!(
            patch_setup_header(&k, Some(1), &ram, 2 * GIB),
            Err(Error::TdxLaunchParameter { field: "acpi_data_size", .. })
        ));
    }
}
