//! The claims document of a verified SNP report.

use serde::Serialize;

use super::report::{AttestationReport, Processor, SigningKey, TcbVersion};

/// Guest policy (ABI spec, table "Guest Policy Structure"), raw and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GuestPolicy {
    /// The 64-bit POLICY value.
    pub raw: u64,
    /// Minimum ABI major version (bits 15:8).
    pub abi_major: u8,
    /// Minimum ABI minor version (bits 7:0).
    pub abi_minor: u8,
    /// SMT allowed on the host (bit 16).
    pub smt_allowed: bool,
    /// Association with a migration agent allowed (bit 18).
    pub migrate_ma: bool,
    /// Debugging allowed (bit 19).
    pub debug_allowed: bool,
    /// Guest restricted to one socket (bit 20).
    pub single_socket: bool,
    /// CXL devices or memory may be populated (bit 21).
    pub cxl_allowed: bool,
    /// AES-256-XTS memory encryption required (bit 22).
    pub mem_aes_256_xts: bool,
    /// RAPL must be disabled (bit 23).
    pub rapl_dis: bool,
    /// Ciphertext hiding must be enabled (bit 24).
    pub ciphertext_hiding: bool,
    /// SNP_PAGE_MOVE/SWAP_OUT/SWAP_IN disabled for the guest (bit 25).
    pub page_swap_disable: bool,
}

const fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 == 1
}

impl GuestPolicy {
    /// Decode a POLICY value.
    pub fn from_raw(raw: u64) -> Self {
        GuestPolicy {
            raw,
            abi_minor: (raw & 0xff) as u8,
            abi_major: ((raw >> 8) & 0xff) as u8,
            smt_allowed: bit(raw, 16),
            migrate_ma: bit(raw, 18),
            debug_allowed: bit(raw, 19),
            single_socket: bit(raw, 20),
            cxl_allowed: bit(raw, 21),
            mem_aes_256_xts: bit(raw, 22),
            rapl_dis: bit(raw, 23),
            ciphertext_hiding: bit(raw, 24),
            page_swap_disable: bit(raw, 25),
        }
    }
}

/// Platform information (ABI spec, table "PLATFORM_INFO Field"), raw and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlatformInfo {
    /// The 64-bit PLATFORM_INFO value.
    pub raw: u64,
    /// SMT is enabled (bit 0).
    pub smt_enabled: bool,
    /// TSME is enabled (bit 1).
    pub tsme_enabled: bool,
    /// The platform uses ECC memory (bit 2).
    pub ecc_enabled: bool,
    /// RAPL is disabled (bit 3).
    pub rapl_disabled: bool,
    /// Ciphertext hiding is enabled (bit 4).
    pub ciphertext_hiding_enabled: bool,
    /// Alias check completed with no aliasing found (bit 5).
    pub alias_check_complete: bool,
    /// SEV-TIO is enabled (bit 7).
    pub tio_enabled: bool,
}

impl PlatformInfo {
    /// Decode a PLATFORM_INFO value.
    pub fn from_raw(raw: u64) -> Self {
        PlatformInfo {
            raw,
            smt_enabled: bit(raw, 0),
            tsme_enabled: bit(raw, 1),
            ecc_enabled: bit(raw, 2),
            rapl_disabled: bit(raw, 3),
            ciphertext_hiding_enabled: bit(raw, 4),
            alias_check_complete: bit(raw, 5),
            tio_enabled: bit(raw, 7),
        }
    }
}

/// Claims of a verified SNP attestation report. Byte strings are lowercase hex.
#[derive(Debug, Clone, Serialize)]
pub struct SnpClaims {
    /// Report VERSION.
    pub version: u32,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// Guest policy.
    pub policy: GuestPolicy,
    /// FAMILY_ID (hex).
    pub family_id: String,
    /// IMAGE_ID (hex).
    pub image_id: String,
    /// VMPL the report was requested from.
    pub vmpl: u32,
    /// SIGNATURE_ALGO (1 = ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// CURRENT_TCB.
    pub current_tcb: TcbVersion,
    /// REPORTED_TCB (equal to the key certificate's TCB).
    pub reported_tcb: TcbVersion,
    /// COMMITTED_TCB.
    pub committed_tcb: TcbVersion,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbVersion,
    /// Platform information.
    pub platform_info: PlatformInfo,
    /// The key that signed the report (`vcek` or `vlek`).
    pub signing_key: SigningKey,
    /// MASK_CHIP_KEY.
    pub mask_chip_key: bool,
    /// AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// REPORT_DATA (hex).
    pub report_data: String,
    /// MEASUREMENT, the launch digest (hex).
    pub measurement: String,
    /// HOST_DATA (hex).
    pub host_data: String,
    /// ID_KEY_DIGEST (hex).
    pub id_key_digest: String,
    /// AUTHOR_KEY_DIGEST (hex).
    pub author_key_digest: String,
    /// REPORT_ID (hex).
    pub report_id: String,
    /// REPORT_ID_MA (hex).
    pub report_id_ma: String,
    /// CHIP_ID (hex; zero when masked).
    pub chip_id: String,
    /// CPUID family (report version 3 and later).
    pub cpuid_fam_id: Option<u8>,
    /// CPUID model (report version 3 and later).
    pub cpuid_mod_id: Option<u8>,
    /// CPUID stepping (report version 3 and later).
    pub cpuid_step: Option<u8>,
    /// Processor generation whose AMD root anchors the signing key.
    pub processor: Processor,
    /// Current SNP firmware version, `major.minor.build`.
    pub current_version: String,
    /// Committed SNP firmware version, `major.minor.build`.
    pub committed_version: String,
    /// LAUNCH_MIT_VECTOR (report version 5 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_mit_vector: Option<u64>,
    /// CURRENT_MIT_VECTOR (report version 5 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_mit_vector: Option<u64>,
    /// The init-data field: HOST_DATA (hex).
    pub init_data: String,
}

impl SnpClaims {
    /// Claims of a report whose key and generation are known.
    pub fn new(report: &AttestationReport, processor: Processor, signing_key: SigningKey) -> Self {
        let tcb = |raw| TcbVersion::from_raw(raw, processor);
        SnpClaims {
            version: report.version,
            guest_svn: report.guest_svn,
            policy: GuestPolicy::from_raw(report.policy),
            family_id: hex::encode(report.family_id),
            image_id: hex::encode(report.image_id),
            vmpl: report.vmpl,
            signature_algo: report.signature_algo,
            current_tcb: tcb(report.current_tcb),
            reported_tcb: tcb(report.reported_tcb),
            committed_tcb: tcb(report.committed_tcb),
            launch_tcb: tcb(report.launch_tcb),
            platform_info: PlatformInfo::from_raw(report.platform_info),
            signing_key,
            mask_chip_key: report.mask_chip_key(),
            author_key_en: report.author_key_en(),
            report_data: hex::encode(report.report_data),
            measurement: hex::encode(report.measurement),
            host_data: hex::encode(report.host_data),
            id_key_digest: hex::encode(report.id_key_digest),
            author_key_digest: hex::encode(report.author_key_digest),
            report_id: hex::encode(report.report_id),
            report_id_ma: hex::encode(report.report_id_ma),
            chip_id: hex::encode(report.chip_id),
            cpuid_fam_id: report.cpuid.map(|c| c.family),
            cpuid_mod_id: report.cpuid.map(|c| c.model),
            cpuid_step: report.cpuid.map(|c| c.stepping),
            processor,
            current_version: report.current_version.to_string(),
            committed_version: report.committed_version.to_string(),
            launch_mit_vector: report.launch_mit_vector,
            current_mit_vector: report.current_mit_vector,
            init_data: hex::encode(report.host_data),
        }
    }
}
