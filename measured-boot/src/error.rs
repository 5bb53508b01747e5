//! The one error type of `arca-measure`.

/// Why a launch could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The firmware image could not be parsed.
    #[error("firmware: {0}")]
    Firmware(#[from] arca_firmware::Error),
    /// A PE/COFF image (the kernel's EFI stub) has a field the format does
    /// not allow.
    #[error("PE image {field}: expected {expected}, found {found:#x}")]
    PeField {
        /// The header field.
        field: &'static str,
        /// What the format allows.
        expected: &'static str,
        /// The value found.
        found: u64,
    },
    /// A PE/COFF header field points outside the image.
    #[error("PE image {field}: offset {offset:#x} + length {len:#x} is outside the {within} ({size:#x} bytes)")]
    PeOutOfBounds {
        /// The header field.
        field: &'static str,
        /// Offset that was read.
        offset: u64,
        /// Length that was read.
        len: u64,
        /// What the offset is relative to (file, headers, optional header).
        within: &'static str,
        /// Size of that region.
        size: u64,
    },
    /// The kernel's Linux x86 setup header is missing or cannot be patched
    /// the way QEMU patches it for direct boot.
    #[error("kernel setup header {field}: expected {expected}, found {found:#x}")]
    KernelSetupHeader {
        /// The header field.
        field: &'static str,
        /// What the direct-boot model supports.
        expected: &'static str,
        /// The value found.
        found: u64,
    },
    /// The initrd does not fit below the highest address QEMU loads it at.
    #[error("initrd: expected fewer than {max:#x} bytes for this kernel and memory size, found {size:#x}")]
    InitrdTooLarge {
        /// Size of the initrd.
        size: u64,
        /// The highest load address (`initrd_max`), exclusive bound on the size.
        max: u64,
    },
    /// A TDX launch parameter is outside what the VMM or firmware accepts.
    #[error("TDX launch {field}: expected {expected}, found {found}")]
    TdxLaunchParameter {
        /// The parameter.
        field: &'static str,
        /// What is accepted.
        expected: &'static str,
        /// The value found.
        found: String,
    },
}
