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
}
