//! The one error type of `arca-measure`.

/// Why a launch could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The firmware image could not be parsed.
    #[error("firmware: {0}")]
    Firmware(#[from] arca_firmware::Error),
    /// A launch parameter is out of range or malformed.
    #[error("{field}: expected {expected}, found {found}")]
    InvalidInput {
        /// The parameter.
        field: &'static str,
        /// What is accepted.
        expected: &'static str,
        /// What was given.
        found: String,
    },
    /// A vCPU model name QEMU does not define.
    #[error("vCPU type: expected one of QEMU's EPYC models (EPYC, EPYC-v1..v4, EPYC-IBPB, EPYC-Rome[-v1..v3], EPYC-Milan[-v1,-v2], EPYC-Genoa[-v1], EPYC-Turin), found {found:?}")]
    UnknownVcpuType {
        /// The name given.
        found: String,
    },
    /// A QEMU SEV-ES/SNP launch needs the vCPU signature for the VMSAs.
    #[error(
        "vCPU model: expected a vCPU type, signature or family/model/stepping for mode {mode} with QEMU, found none"
    )]
    MissingVcpuType {
        /// The mode measured.
        mode: &'static str,
    },
    /// A kernel was given but the firmware cannot measure it: the guest
    /// would boot an unchecked kernel, so no value is produced.
    #[error("kernel given for mode {mode}, but the firmware cannot measure it: expected {expected}, found none")]
    KernelHashesUnsupported {
        /// The mode measured.
        mode: &'static str,
        /// What the firmware lacks.
        expected: &'static str,
    },
    /// The firmware lacks a footer entry this launch needs.
    #[error("firmware: expected footer entry {field}, found none")]
    MissingFirmwareEntry {
        /// The entry.
        field: &'static str,
    },
    /// The firmware's SEV metadata lists a section type this crate does not
    /// know, so what the launch does with it cannot be predicted.
    #[error("SEV metadata section {index}: expected type 1, 2, 3, 4 or 0x10, found {found:#x}")]
    UnknownSectionType {
        /// Index of the section in file order.
        index: usize,
        /// The raw type.
        found: u32,
    },
    /// An initrd or command line was given without a kernel.
    #[error("{field}: expected together with a kernel, found without one")]
    InputWithoutKernel {
        /// `initrd` or `cmdline`.
        field: &'static str,
    },
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
