//! TDVF metadata: the sections a TDX VMM loads and measures into MRTD.
//!
//! A TDVF image (edk2 built for Intel TDX) describes its memory layout in a
//! metadata block that the footer table points at: the entry
//! [`TDX_METADATA_OFFSET_GUID`] holds a `u32` offset from the end of the
//! image to a `TDVF_DESCRIPTOR`, and edk2 places the GUID
//! [`TDVF_DESCRIPTOR_GUID`] in the 16 bytes just before it. Layouts follow
//! the Intel "TDX Virtual Firmware Design Guide", section "TDVF Metadata",
//! tables `TDVF_DESCRIPTOR` and `TDVF_SECTION`.
//!
//! Every field is checked before use: the descriptor and each section's raw
//! data must lie inside the image, guest ranges must be page-aligned and may
//! not overlap, and unknown section types or attribute bits are rejected
//! rather than skipped (a VMM that does not know them would fail the launch,
//! so a measurement that ignored them would be wrong).

use serde::Serialize;

use crate::bytes::le_u32;
use crate::footer::{parse_footer_table, TDX_METADATA_OFFSET_GUID};
use crate::{Error, Guid, Result};

/// GUID edk2 stores immediately before the `TDVF_DESCRIPTOR`
/// (e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae).
pub const TDVF_DESCRIPTOR_GUID: Guid =
    Guid::from_fields(0xe9ea_f9f3, 0x168e, 0x44d5, [0xa8, 0xeb, 0x7f, 0x4d, 0x87, 0x38, 0xf6, 0xae]);

/// The descriptor signature, `"TDVF"`.
pub const TDVF_SIGNATURE: [u8; 4] = *b"TDVF";

/// The only descriptor version defined so far.
pub const TDVF_VERSION: u32 = 1;

/// Bytes of the `TDVF_DESCRIPTOR` header: signature, length, version, count.
pub const DESCRIPTOR_HEADER_LEN: usize = 16;

/// Bytes of one `TDVF_SECTION`.
pub const SECTION_LEN: usize = 32;

/// Upper bound on the section count. edk2 builds have 6 or 7; the bound
/// keeps a hostile count from allocating or looping without end.
pub const MAX_SECTIONS: u32 = 64;

/// Size of a TDX page; section guest ranges are multiples of it.
pub const PAGE_SIZE: u64 = 0x1000;

/// Guest physical addresses in a TD are at most 52 bits wide.
pub const MAX_GPA: u64 = 1 << 52;

/// Upper bound on the guest memory the sections may ask the VMM to add
/// (and so to measure page by page), summed over sections without
/// `PAGE.AUG`: 4 GiB, far above any firmware, low enough that a hostile
/// descriptor cannot make measuring take minutes.
pub const MAX_ADDED_BYTES: u64 = 4 << 30;

/// `TDVF_SECTION.Attributes` bit 0: the VMM extends MRTD with the pages'
/// contents (`TDH.MR.EXTEND`).
pub const ATTRIBUTE_MR_EXTEND: u32 = 1 << 0;

/// `TDVF_SECTION.Attributes` bit 1: the pages are added after launch
/// (`TDH.MEM.PAGE.AUG`), so they are not part of MRTD at all.
pub const ATTRIBUTE_PAGE_AUG: u32 = 1 << 1;

/// `TDVF_SECTION.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TdvfSectionType {
    /// Boot firmware volume: the code (type 0).
    Bfv,
    /// Configuration firmware volume: the UEFI variable store (type 1).
    Cfv,
    /// Where the VMM writes the TD HOB (type 2).
    TdHob,
    /// Temporary memory the firmware uses before it accepts RAM (type 3).
    TempMem,
    /// Permanent memory the firmware keeps (type 4).
    PermMem,
    /// A payload image, as loaded by td-shim style firmware (type 5).
    Payload,
    /// Parameters for the payload (type 6).
    PayloadParam,
    /// TD_INFO structure (type 7).
    TdInfo,
}

impl TdvfSectionType {
    /// The type for a `TDVF_SECTION.Type` value, if it is one the design
    /// guide defines.
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Bfv,
            1 => Self::Cfv,
            2 => Self::TdHob,
            3 => Self::TempMem,
            4 => Self::PermMem,
            5 => Self::Payload,
            6 => Self::PayloadParam,
            7 => Self::TdInfo,
            _ => return None,
        })
    }

    /// The numeric `TDVF_SECTION.Type`.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The design guide's name (`BFV`, `TD_HOB`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Bfv => "BFV",
            Self::Cfv => "CFV",
            Self::TdHob => "TD_HOB",
            Self::TempMem => "TEMP_MEM",
            Self::PermMem => "PERM_MEM",
            Self::Payload => "PAYLOAD",
            Self::PayloadParam => "PAYLOAD_PARAM",
            Self::TdInfo => "TD_INFO",
        }
    }
}

/// One `TDVF_SECTION` (32 bytes, little-endian): `DataOffset u32`,
/// `RawDataSize u32`, `MemoryAddress u64`, `MemoryDataSize u64`, `Type u32`,
/// `Attributes u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TdvfSection {
    /// Offset of the raw data in the image file.
    pub data_offset: u32,
    /// Bytes of raw data in the image (0 for memory-only sections).
    pub raw_data_size: u32,
    /// Guest physical address the section is loaded at.
    pub memory_address: u64,
    /// Bytes of guest memory the section occupies; the raw data fills its
    /// start and the rest is zero.
    pub memory_data_size: u64,
    /// What the section is.
    #[serde(rename = "type")]
    pub section_type: TdvfSectionType,
    /// `Attributes`: [`ATTRIBUTE_MR_EXTEND`], [`ATTRIBUTE_PAGE_AUG`].
    pub attributes: u32,
}

impl TdvfSection {
    /// The VMM extends MRTD with this section's contents.
    pub fn mr_extend(&self) -> bool {
        self.attributes & ATTRIBUTE_MR_EXTEND != 0
    }

    /// The section's pages are added after launch and not measured.
    pub fn page_aug(&self) -> bool {
        self.attributes & ATTRIBUTE_PAGE_AUG != 0
    }

    /// Number of 4 KiB pages the section occupies in guest memory.
    pub fn pages(&self) -> u64 {
        self.memory_data_size / PAGE_SIZE
    }

    /// End of the guest range (exclusive). Cannot overflow once parsed.
    pub fn memory_end(&self) -> u64 {
        self.memory_address.saturating_add(self.memory_data_size)
    }

    /// The section's raw data in `image` (the image it was parsed from).
    pub fn raw_data<'a>(&self, image: &'a [u8]) -> Result<&'a [u8]> {
        let start = self.data_offset as usize;
        start.checked_add(self.raw_data_size as usize).and_then(|end| image.get(start..end)).ok_or(Error::OutOfBounds {
            field: "TDVF section data_offset + raw_data_size",
            offset: u64::from(self.data_offset),
            len: u64::from(self.raw_data_size),
            within: "image",
            size: image.len() as u64,
        })
    }
}

/// The parsed TDVF metadata of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdvfMetadata {
    /// Offset of the descriptor from the end of the image, as the footer
    /// entry states it.
    pub descriptor_offset_from_end: u32,
    /// `TDVF_DESCRIPTOR.Length`: header plus sections, in bytes.
    pub length: u32,
    /// `TDVF_DESCRIPTOR.Version`.
    pub version: u32,
    /// Sections in table order (the order a VMM adds and measures them).
    pub sections: Vec<TdvfSection>,
}

impl TdvfMetadata {
    /// The first section of `section_type`, if any.
    pub fn section(&self, section_type: TdvfSectionType) -> Option<&TdvfSection> {
        self.sections.iter().find(|s| s.section_type == section_type)
    }
}

/// Parses the TDVF metadata of a firmware image: finds the TDX metadata
/// entry in the footer table and reads the descriptor it points at.
///
/// An image whose footer table has no such entry (a firmware not built for
/// TDX) gives [`Error::NoTdvfMetadata`].
pub fn parse_tdvf_metadata(image: &[u8]) -> Result<TdvfMetadata> {
    let table = parse_footer_table(image)?;
    let offset = table.read_u32(&TDX_METADATA_OFFSET_GUID, 0, "TDX metadata offset")?.ok_or(Error::NoTdvfMetadata)?;
    parse_tdvf_descriptor(image, offset)
}

/// Reads the `TDVF_DESCRIPTOR` that starts `offset_from_end` bytes before
/// the end of `image`, with its sections, and checks them (see the module
/// documentation).
pub fn parse_tdvf_descriptor(image: &[u8], offset_from_end: u32) -> Result<TdvfMetadata> {
    let size = image.len();
    let out_of_image = |field: &'static str, offset: u64, len: u64| Error::OutOfBounds {
        field,
        offset,
        len,
        within: "image",
        size: size as u64,
    };
    let at = size
        .checked_sub(offset_from_end as usize)
        .ok_or_else(|| out_of_image("TDX metadata offset", size as u64, u64::from(offset_from_end)))?;
    let guid_at =
        at.checked_sub(Guid::LEN).ok_or_else(|| out_of_image("TDVF descriptor GUID", at as u64, Guid::LEN as u64))?;
    let guid = image
        .get(guid_at..at)
        .and_then(Guid::read)
        .ok_or_else(|| out_of_image("TDVF descriptor GUID", guid_at as u64, Guid::LEN as u64))?;
    if guid != TDVF_DESCRIPTOR_GUID {
        return Err(Error::TdvfDescriptorGuid { found: guid });
    }

    let signature: [u8; 4] = at
        .checked_add(4)
        .and_then(|end| image.get(at..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| out_of_image("TDVF descriptor signature", at as u64, 4))?;
    if signature != TDVF_SIGNATURE {
        return Err(Error::TdvfSignature { found: signature });
    }
    let length = le_u32(image, at + 4, "TDVF descriptor length", "image")?;
    let version = le_u32(image, at + 8, "TDVF descriptor version", "image")?;
    let count = le_u32(image, at + 12, "TDVF descriptor section count", "image")?;
    if version != TDVF_VERSION {
        return Err(field_error(None, "version", "1", u64::from(version)));
    }
    if count > MAX_SECTIONS {
        return Err(field_error(None, "section count", "at most 64", u64::from(count)));
    }
    let expected_len = DESCRIPTOR_HEADER_LEN + SECTION_LEN * count as usize;
    if length as usize != expected_len {
        return Err(field_error(None, "length", "16 + 32 x section count", u64::from(length)));
    }
    if at.checked_add(expected_len).is_none_or(|end| end > size) {
        return Err(out_of_image("TDVF descriptor length", at as u64, u64::from(length)));
    }

    let mut sections: Vec<TdvfSection> = Vec::with_capacity(count as usize);
    let mut added_bytes = 0u64;
    for index in 0..count as usize {
        let s = read_section(image, at + DESCRIPTOR_HEADER_LEN + SECTION_LEN * index, index)?;
        if let Some(other) = sections.iter().position(|o| overlaps(o, &s)) {
            return Err(Error::TdvfSectionOverlap { first: other, second: index });
        }
        if !s.page_aug() {
            added_bytes = added_bytes.saturating_add(s.memory_data_size);
            if added_bytes > MAX_ADDED_BYTES {
                return Err(field_error(Some(index), "memory_data_size", "at most 4 GiB added in total", added_bytes));
            }
        }
        sections.push(s);
    }
    if sections.iter().filter(|s| s.section_type == TdvfSectionType::TdHob).count() > 1 {
        return Err(field_error(None, "TD_HOB sections", "at most one", 2));
    }
    Ok(TdvfMetadata { descriptor_offset_from_end: offset_from_end, length, version, sections })
}

/// Reads and checks one `TDVF_SECTION` at `at` (the layout is documented on
/// [`TdvfSection`]).
fn read_section(image: &[u8], at: usize, index: usize) -> Result<TdvfSection> {
    let u32_at = |off: usize, field| le_u32(image, at + off, field, "image");
    let u64_at = |off: usize, field| -> Result<u64> {
        let lo = le_u32(image, at + off, field, "image")?;
        let hi = le_u32(image, at + off + 4, field, "image")?;
        Ok(u64::from(lo) | (u64::from(hi) << 32))
    };
    let data_offset = u32_at(0, "TDVF section data_offset")?;
    let raw_data_size = u32_at(4, "TDVF section raw_data_size")?;
    let memory_address = u64_at(8, "TDVF section memory_address")?;
    let memory_data_size = u64_at(16, "TDVF section memory_data_size")?;
    let type_value = u32_at(24, "TDVF section type")?;
    let attributes = u32_at(28, "TDVF section attributes")?;

    let section_type = TdvfSectionType::from_u32(type_value)
        .ok_or_else(|| field_error(Some(index), "type", "0 to 7", u64::from(type_value)))?;
    if attributes & !(ATTRIBUTE_MR_EXTEND | ATTRIBUTE_PAGE_AUG) != 0 {
        return Err(field_error(
            Some(index),
            "attributes",
            "only bits 0 (MR.EXTEND) and 1 (PAGE.AUG)",
            attributes.into(),
        ));
    }
    if attributes & ATTRIBUTE_MR_EXTEND != 0 && attributes & ATTRIBUTE_PAGE_AUG != 0 {
        return Err(field_error(Some(index), "attributes", "not both MR.EXTEND and PAGE.AUG", attributes.into()));
    }
    if memory_address % PAGE_SIZE != 0 {
        return Err(field_error(Some(index), "memory_address", "a multiple of 0x1000", memory_address));
    }
    if memory_data_size % PAGE_SIZE != 0 {
        return Err(field_error(Some(index), "memory_data_size", "a multiple of 0x1000", memory_data_size));
    }
    if memory_address.checked_add(memory_data_size).is_none_or(|end| end > MAX_GPA) {
        return Err(field_error(
            Some(index),
            "memory_address + memory_data_size",
            "at most 2^52 (the TD's address width)",
            memory_address.saturating_add(memory_data_size),
        ));
    }
    if u64::from(raw_data_size) > memory_data_size {
        return Err(field_error(Some(index), "raw_data_size", "at most memory_data_size", raw_data_size.into()));
    }
    let section =
        TdvfSection { data_offset, raw_data_size, memory_address, memory_data_size, section_type, attributes };
    section.raw_data(image)?;
    Ok(section)
}

fn overlaps(a: &TdvfSection, b: &TdvfSection) -> bool {
    a.memory_data_size != 0
        && b.memory_data_size != 0
        && a.memory_address < b.memory_end()
        && b.memory_address < a.memory_end()
}

fn field_error(section: Option<usize>, field: &'static str, expected: &'static str, found: u64) -> Error {
    Error::TdvfField { section, field, expected, found }
}

#[cfg(test)]
#[path = "tdvf_tests.rs"]
mod tests;
