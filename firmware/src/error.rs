//! The one error type of `arca-firmware`.

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
}
