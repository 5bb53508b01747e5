//! The one error type of `arca-measure`.

/// Why a launch could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The firmware image could not be parsed.
    #[error("firmware: {0}")]
    Firmware(#[from] arca_firmware::Error),
    /// CCA: the kernel is not a well-formed arm64 `Image`.
    #[error("kernel image header field {field}: expected {expected}, found {found}")]
    CcaKernelHeader {
        /// Header field.
        field: &'static str,
        /// What was expected.
        expected: String,
        /// What the image holds.
        found: String,
    },
    /// CCA: a host capability file could not be read.
    #[error("host capability file, {field}: {reason}")]
    CcaHostConfig {
        /// Key or part of the file.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// CCA: a realm parameter is missing or out of range.
    #[error("realm parameter {field}: expected {expected}, found {found}")]
    CcaRealmParam {
        /// Parameter name.
        field: &'static str,
        /// What was expected.
        expected: String,
        /// What was given.
        found: String,
    },
    /// CCA: the launch does not fit the VMM's memory map.
    #[error("realm memory layout, {field}: {reason}")]
    CcaLayout {
        /// `memory_size`, `kernel`, `initrd`, `dtb`, ...
        field: &'static str,
        /// What does not fit.
        reason: String,
    },
    /// CCA: the DTB is not a well-formed flattened devicetree.
    #[error("DTB {field}: {reason}")]
    CcaDtb {
        /// Header field, block or property.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// CCA: the DTB describes another launch than the one measured.
    #[error("DTB does not match the launch, {field}: expected {expected}, found {found}")]
    CcaDtbMismatch {
        /// `memory`, `cpus`, `initrd` or `bootargs`.
        field: &'static str,
        /// What the launch says.
        expected: String,
        /// What the DTB says.
        found: String,
    },
}
