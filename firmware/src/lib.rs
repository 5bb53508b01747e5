//! Firmware image parsing for measured launches.
//!
//! Confidential guests on x86 boot OVMF (SEV) or TDVF (TDX) builds of edk2.
//! What the hardware measures at launch is decided by tables inside the
//! image: the GUIDed footer table just below the reset vector, the SEV
//! metadata sections and the TDVF metadata descriptors. This crate reads
//! them from untrusted bytes (every offset and length is bounds-checked and
//! a bad one is an error naming the field) and builds the SEV hashes table
//! exactly as QEMU lays it out.
//!
//! It does no file I/O and computes no launch digests: callers pass image
//! bytes in, and `arca-measure` turns the parsed layout into measurements.

mod bytes;
mod error;
pub mod footer;
mod guid;
pub mod hashes;
mod serde_hex;
pub mod sev;
pub mod tdvf;

pub use error::Error;
pub use footer::{parse_footer_table, FooterEntry, FooterTable};
pub use guid::Guid;
pub use hashes::{parse_sev_hashes_table, SevHashes};
pub use sev::{
    parse_sev_layout, parse_sev_layout_tail, parse_sev_metadata, GpaRange, SevLayout, SevMetadata, SevSection,
    SevSectionKind,
};
pub use tdvf::{parse_tdvf_metadata, TdvfMetadata, TdvfSection, TdvfSectionType};

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;
