//! The arm64 Linux `Image` header.

use serde::Serialize;

use crate::{Error, Result};

/// `ARM\x64`, little-endian, at offset 0x38.
pub const ARM64_IMAGE_MAGIC: u32 = 0x644d_5241;
/// Size of the header.
pub const ARM64_IMAGE_HEADER_SIZE: usize = 64;

/// The fields of the arm64 `Image` header that decide where a VMM loads
/// the kernel and what it reserves for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arm64ImageHeader {
    /// Offset from a 2 MiB aligned base at which the image is loaded.
    pub text_offset: u64,
    /// Memory the image occupies once loaded, BSS included; 0 for kernels
    /// older than Linux 3.17, which did not record it.
    pub image_size: u64,
    /// Kernel flags (endianness, page size, physical placement).
    pub flags: u64,
}

fn le_u64(bytes: &[u8], at: usize, field: &'static str) -> Result<u64> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| truncated(field, at + 8, bytes.len()))
}

fn truncated(field: &'static str, need: usize, found: usize) -> Error {
    Error::CcaKernelHeader {
        field,
        expected: format!("at least {need} bytes of kernel image"),
        found: format!("{found} bytes"),
    }
}

/// Parse the header at the start of an arm64 `Image` (Linux
/// `Documentation/arch/arm64/booting.rst`, "Call the kernel image"): code0
/// and code1 at 0x0 and 0x4, text_offset 0x8, image_size 0x10, flags 0x18,
/// three reserved words, magic 0x38, PE header offset 0x3c; all
/// little-endian. Compressed images are not accepted.
pub fn parse_arm64_image_header(image: &[u8]) -> Result<Arm64ImageHeader> {
    let magic = image
        .get(0x38..0x3c)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| truncated("magic", ARM64_IMAGE_HEADER_SIZE, image.len()))?;
    if magic != ARM64_IMAGE_MAGIC {
        return Err(Error::CcaKernelHeader {
            field: "magic",
            expected: format!("{ARM64_IMAGE_MAGIC:#010x} (\"ARM\\x64\", an uncompressed arm64 Image)"),
            found: format!("{magic:#010x}"),
        });
    }
    Ok(Arm64ImageHeader {
        text_offset: le_u64(image, 0x08, "text_offset")?,
        image_size: le_u64(image, 0x10, "image_size")?,
        flags: le_u64(image, 0x18, "flags")?,
    })
}
