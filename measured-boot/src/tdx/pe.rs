//! PE/COFF layout and the Authenticode image digest, as UEFI firmware
//! measures an EFI application before starting it.
//!
//! OVMF measures the kernel (its EFI stub makes it a PE32+ image) into
//! RTMR\[1\] with the Authenticode digest: the file hashed without the
//! checksum field, without the security data directory entry and without
//! the certificate table. The byte ranges follow edk2's
//! `DxeTpm2MeasureBootLib` (`Tcg2MeasurePeImage`), which is what actually
//! runs in the guest: headers up to `SizeOfHeaders` minus the two holes,
//! then each section's raw data in ascending file offset (empty sections
//! skipped), then whatever lies past the hashed bytes and before the
//! certificate table.
//!
//! Written here rather than taken from a crate: the available Authenticode
//! crates pull in a general object-file parser and a CMS stack for
//! signature checking, while this needs a few header fields and the exact
//! edk2 rules for trailing data.
//!
//! Layouts: Microsoft "PE Format" specification, sections "MS-DOS Stub"
//! (`e_lfanew` at 0x3c), "COFF File Header", "Optional Header" (standard
//! and Windows-specific fields, data directories) and "Section Table".

use sha2::{Digest as _, Sha384};

use crate::{Error, Result};

/// Offset of `e_lfanew` (file offset of the PE signature) in the DOS header.
const E_LFANEW: usize = 0x3c;
/// Bytes of the COFF file header after the `PE\0\0` signature.
const COFF_HEADER_LEN: usize = 20;
/// Bytes of one section table entry.
const SECTION_HEADER_LEN: usize = 40;
/// The PE specification's limit on `NumberOfSections`.
const MAX_SECTIONS: usize = 96;
/// Index of the certificate table ("security") data directory.
const SECURITY_DIRECTORY: usize = 4;
/// Optional header magic of PE32 images.
const PE32_MAGIC: u16 = 0x10b;
/// Optional header magic of PE32+ images.
const PE32_PLUS_MAGIC: u16 = 0x20b;
/// Offset of `CheckSum` in the optional header (PE32 and PE32+).
const CHECKSUM_OFFSET: usize = 64;
/// Offset of `SizeOfHeaders` in the optional header (PE32 and PE32+).
const SIZE_OF_HEADERS_OFFSET: usize = 60;

/// A section's place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeSection {
    /// `PointerToRawData`.
    pub pointer_to_raw_data: u32,
    /// `SizeOfRawData`.
    pub size_of_raw_data: u32,
}

/// The parts of a PE/COFF image the Authenticode digest depends on, all
/// checked to lie inside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeImage {
    /// `true` for PE32+ (64-bit) images, `false` for PE32.
    pub pe32_plus: bool,
    /// File offset of the optional header's `CheckSum` field.
    pub checksum_offset: usize,
    /// File offset of the security data directory entry, when the image
    /// has one (`NumberOfRvaAndSizes` > 4).
    pub security_directory_offset: Option<usize>,
    /// `Size` of the security data directory (the certificate table); 0
    /// without one.
    pub certificate_table_size: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: usize,
    /// Sections in table order.
    pub sections: Vec<PeSection>,
    /// Size of the file.
    pub file_size: usize,
}

fn read<const N: usize>(bytes: &[u8], at: usize, field: &'static str) -> Result<[u8; N]> {
    at.checked_add(N).and_then(|end| bytes.get(at..end)).and_then(|s| s.try_into().ok()).ok_or(Error::PeOutOfBounds {
        field,
        offset: at as u64,
        len: N as u64,
        within: "file",
        size: bytes.len() as u64,
    })
}

fn u16_at(bytes: &[u8], at: usize, field: &'static str) -> Result<u16> {
    read(bytes, at, field).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize, field: &'static str) -> Result<u32> {
    read(bytes, at, field).map(u32::from_le_bytes)
}

fn field(field: &'static str, expected: &'static str, found: u64) -> Error {
    Error::PeField { field, expected, found }
}

/// Parses the headers and section table of a PE/COFF image.
pub fn parse_pe(bytes: &[u8]) -> Result<PeImage> {
    let mz = u16_at(bytes, 0, "DOS header e_magic")?;
    if mz != u16::from_le_bytes(*b"MZ") {
        return Err(field("DOS header e_magic", "\"MZ\" (0x5a4d)", mz.into()));
    }
    let pe = u32_at(bytes, E_LFANEW, "DOS header e_lfanew")? as usize;
    let signature = u32_at(bytes, pe, "PE signature")?;
    if signature != u32::from_le_bytes(*b"PE\0\0") {
        return Err(field("PE signature", "\"PE\\0\\0\" (0x4550)", signature.into()));
    }
    let coff = pe + 4;
    let section_count = usize::from(u16_at(bytes, coff + 2, "COFF NumberOfSections")?);
    if section_count > MAX_SECTIONS {
        return Err(field("COFF NumberOfSections", "at most 96", section_count as u64));
    }
    let optional_size = usize::from(u16_at(bytes, coff + 16, "COFF SizeOfOptionalHeader")?);
    let opt = coff + COFF_HEADER_LEN;
    let magic = u16_at(bytes, opt, "optional header Magic")?;
    let (pe32_plus, rva_count_offset, directories_offset) = match magic {
        PE32_MAGIC => (false, 92, 96),
        PE32_PLUS_MAGIC => (true, 108, 112),
        other => return Err(field("optional header Magic", "0x10b (PE32) or 0x20b (PE32+)", other.into())),
    };
    if optional_size < directories_offset {
        return Err(field(
            "COFF SizeOfOptionalHeader",
            "room for the fields before the data directories",
            optional_size as u64,
        ));
    }
    let size_of_headers = u32_at(bytes, opt + SIZE_OF_HEADERS_OFFSET, "optional header SizeOfHeaders")? as usize;
    if size_of_headers > bytes.len() {
        return Err(Error::PeOutOfBounds {
            field: "optional header SizeOfHeaders",
            offset: 0,
            len: size_of_headers as u64,
            within: "file",
            size: bytes.len() as u64,
        });
    }
    let checksum_offset = opt + CHECKSUM_OFFSET;
    if checksum_offset + 4 > size_of_headers {
        return Err(field("optional header SizeOfHeaders", "to cover the CheckSum field", size_of_headers as u64));
    }
    let rva_count = u32_at(bytes, opt + rva_count_offset, "optional header NumberOfRvaAndSizes")? as usize;
    if rva_count > 16 {
        return Err(field("optional header NumberOfRvaAndSizes", "at most 16", rva_count as u64));
    }
    if directories_offset + 8 * rva_count > optional_size {
        return Err(Error::PeOutOfBounds {
            field: "optional header NumberOfRvaAndSizes",
            offset: directories_offset as u64,
            len: 8 * rva_count as u64,
            within: "optional header",
            size: optional_size as u64,
        });
    }
    let (security_directory_offset, certificate_table_size) = if rva_count > SECURITY_DIRECTORY {
        let at = opt + directories_offset + 8 * SECURITY_DIRECTORY;
        if at + 8 > size_of_headers {
            return Err(field(
                "optional header SizeOfHeaders",
                "to cover the security data directory",
                size_of_headers as u64,
            ));
        }
        (Some(at), u32_at(bytes, at + 4, "security directory Size")?)
    } else {
        (None, 0)
    };

    let table = opt + optional_size;
    let mut sections = Vec::with_capacity(section_count);
    for i in 0..section_count {
        let at = table + SECTION_HEADER_LEN * i;
        let size_of_raw_data = u32_at(bytes, at + 16, "section SizeOfRawData")?;
        let pointer_to_raw_data = u32_at(bytes, at + 20, "section PointerToRawData")?;
        let start = pointer_to_raw_data as usize;
        if start.checked_add(size_of_raw_data as usize).is_none_or(|end| end > bytes.len()) {
            return Err(Error::PeOutOfBounds {
                field: "section PointerToRawData + SizeOfRawData",
                offset: start as u64,
                len: u64::from(size_of_raw_data),
                within: "file",
                size: bytes.len() as u64,
            });
        }
        sections.push(PeSection { pointer_to_raw_data, size_of_raw_data });
    }
    if certificate_table_size as usize > bytes.len() {
        return Err(Error::PeOutOfBounds {
            field: "security directory Size",
            offset: 0,
            len: u64::from(certificate_table_size),
            within: "file",
            size: bytes.len() as u64,
        });
    }
    Ok(PeImage {
        pe32_plus,
        checksum_offset,
        security_directory_offset,
        certificate_table_size,
        size_of_headers,
        sections,
        file_size: bytes.len(),
    })
}

impl PeImage {
    /// The byte ranges of the file that the Authenticode digest covers, in
    /// hashing order (see the module documentation).
    pub fn authenticode_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut ranges = Vec::with_capacity(4 + self.sections.len());
        ranges.push(0..self.checksum_offset);
        let after_checksum = self.checksum_offset + 4;
        match self.security_directory_offset {
            Some(dir) => {
                ranges.push(after_checksum..dir);
                ranges.push(dir + 8..self.size_of_headers);
            }
            None => ranges.push(after_checksum..self.size_of_headers),
        }
        let mut sections: Vec<PeSection> = self.sections.iter().copied().filter(|s| s.size_of_raw_data != 0).collect();
        sections.sort_by_key(|s| s.pointer_to_raw_data);
        let mut hashed = self.size_of_headers;
        for s in sections {
            let start = s.pointer_to_raw_data as usize;
            ranges.push(start..start + s.size_of_raw_data as usize);
            hashed += s.size_of_raw_data as usize;
        }
        let cert = self.certificate_table_size as usize;
        if self.file_size > hashed + cert {
            ranges.push(hashed..self.file_size - cert);
        }
        ranges
    }
}

/// The Authenticode SHA-384 digest of a PE/COFF image.
pub fn authenticode_sha384(bytes: &[u8]) -> Result<[u8; 48]> {
    let image = parse_pe(bytes)?;
    let mut hasher = Sha384::new();
    for range in image.authenticode_ranges() {
        // Every range was bounds-checked by `parse_pe`; `get` keeps a
        // mistake from panicking.
        let part = bytes.get(range.clone()).ok_or(Error::PeOutOfBounds {
            field: "Authenticode range",
            offset: range.start as u64,
            len: range.len() as u64,
            within: "file",
            size: bytes.len() as u64,
        })?;
        hasher.update(part);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
#[path = "pe_tests.rs"]
mod tests;
