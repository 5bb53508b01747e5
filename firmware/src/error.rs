//! The one error type of `arca-firmware`.

use crate::Guid;

/// Why a firmware image or a table in it could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field points outside the image or its table.
    #[error("{field}: offset {offset:#x} + length {len:#x} is outside the {within} ({size:#x} bytes)")]
    OutOfBounds {
        /// The field being read.
        field: &'static str,
        /// Offset that was read.
        offset: u64,
        /// Length that was read.
        len: u64,
        /// What the offset is relative to (image, table, …).
        within: &'static str,
        /// Size of that region.
        size: u64,
    },
    /// Text that should be a GUID is not one.
    #[error("GUID: expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, found {text:?}")]
    InvalidGuid {
        /// The text (at most 64 characters of it).
        text: String,
    },
    /// The image has no GUIDed footer table where OVMF puts it.
    #[error(
        "footer table: expected GUID 96b582de-1fb2-45f7-baea-a366c55a082d 50 bytes before the image end, found {found}"
    )]
    NoFooterTable {
        /// What was found in place of the footer GUID.
        found: Guid,
    },
    /// A footer table entry's length is shorter than its own header or
    /// longer than what remains of the table.
    #[error("{field} of entry {guid}: expected {min} to {available} bytes, found {len}")]
    FooterEntrySize {
        /// The length field.
        field: &'static str,
        /// The entry's GUID.
        guid: Guid,
        /// The length found.
        len: usize,
        /// Smallest valid length (the entry header).
        min: usize,
        /// Bytes left in the table below the entry's end.
        available: usize,
    },
    /// A GUID appears twice in the footer table.
    #[error("footer table: expected each GUID once, found {guid} twice")]
    DuplicateFooterEntry {
        /// The repeated GUID.
        guid: Guid,
    },
    /// A magic value or GUID that marks a structure is wrong.
    #[error("{field}: expected {expected}, found {}", hex::encode(found))]
    BadSignature {
        /// The signature field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
        /// The bytes found.
        found: Vec<u8>,
    },
    /// A structure version this crate does not read.
    #[error("{field}: expected version {expected}, found {found}")]
    UnsupportedVersion {
        /// The version field.
        field: &'static str,
        /// The version understood.
        expected: u32,
        /// The version found.
        found: u32,
    },
    /// A count is above the limit this crate accepts.
    #[error("{field}: expected at most {max}, found {found}")]
    TooManyItems {
        /// The count field.
        field: &'static str,
        /// The limit.
        max: usize,
        /// The count found.
        found: usize,
    },
    /// A section's address or size is not a multiple of 4 KiB.
    #[error("{field} {index}: expected 4 KiB-aligned GPA and size, found GPA {gpa:#x} size {size:#x}")]
    Misaligned {
        /// The table the section is listed in.
        field: &'static str,
        /// Index of the section.
        index: usize,
        /// Its start address.
        gpa: u64,
        /// Its size.
        size: u64,
    },
    /// Two sections cover the same guest memory.
    #[error("{field} {second}: expected no overlap with other sections, found it overlaps {field} {first}")]
    OverlappingSections {
        /// The table the sections are listed in.
        field: &'static str,
        /// Index of the earlier section.
        first: usize,
        /// Index of the later section.
        second: usize,
    },
    /// A length field holds a value other than the one the layout fixes.
    #[error("{field}: expected length {expected}, found {found}")]
    UnexpectedLength {
        /// The length field.
        field: &'static str,
        /// The fixed length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The image's footer table has no TDX metadata entry: the firmware is
    /// not built for TDX.
    #[error("footer table: expected a TDX metadata entry (e47a6535-984a-4798-865e-4685a7bf8ec2), found none")]
    NoTdvfMetadata,
    /// The 16 bytes before the TDVF descriptor are not the GUID edk2 puts
    /// there, so the offset does not point at a descriptor.
    #[error("TDVF descriptor GUID: expected e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae, found {found}")]
    TdvfDescriptorGuid {
        /// The bytes found, read as a GUID.
        found: Guid,
    },
    /// The TDVF descriptor does not start with `TDVF`.
    #[error("TDVF descriptor signature: expected \"TDVF\", found {found:02x?}")]
    TdvfSignature {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A TDVF descriptor or section field holds a value the format does
    /// not allow.
    #[error("TDVF {}{field}: expected {expected}, found {found:#x}", section.map(|i| format!("section {i} ")).unwrap_or_default())]
    TdvfField {
        /// Index of the section, `None` for a descriptor field.
        section: Option<usize>,
        /// The field.
        field: &'static str,
        /// What the format allows.
        expected: &'static str,
        /// The value found.
        found: u64,
    },
    /// Two TDVF sections claim overlapping guest memory.
    #[error("TDVF sections {first} and {second}: expected disjoint guest ranges, found an overlap")]
    TdvfSectionOverlap {
        /// Index of the earlier section.
        first: usize,
        /// Index of the later section.
        second: usize,
    },
}
