//! The SNP attestation report: the one place its byte layout is read.
//!
//! Layout: AMD SEV Secure Nested Paging Firmware ABI Specification (56860),
//! table "ATTESTATION_REPORT Structure" (MSG_REPORT_RSP payload), 1184
//! bytes, little-endian. Report versions 2, 3 and 5 share this layout;
//! version 3 adds the CPUID family/model/stepping bytes at 0x188 and version
//! 5 the mitigation vectors at 0x1F8. Later versions only use bytes that are
//! reserved here, so they are accepted and read the same way.
//!
//! The `sev` crate's parser is not used: for version-2 reports it guesses
//! the TCB layout from the chip id and refuses reports whose chip id is
//! masked, and it maps unknown CPUID models to I/O errors. Here the layout is
//! read once, without guessing, and the TCB fields are kept raw until the
//! processor generation is known from the report or from the certificate.

use serde::Serialize;

use crate::{Error, Result};

/// Size of an attestation report in bytes.
pub const REPORT_SIZE: usize = 0x4A0;

/// The signed part of the report is bytes `0..SIGNED_LEN`.
pub const SIGNED_LEN: usize = 0x2A0;

/// Length of each little-endian signature component (r, s) in the report.
pub const SIGNATURE_COMPONENT_LEN: usize = 72;

/// SIGNATURE_ALGO value for ECDSA P-384 with SHA-384 (ABI spec, table
/// "Signature Algorithm Encodings").
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Byte offsets of the ATTESTATION_REPORT fields.
pub(crate) mod offset {
    pub const VERSION: usize = 0x000;
    pub const GUEST_SVN: usize = 0x004;
    pub const POLICY: usize = 0x008;
    pub const FAMILY_ID: usize = 0x010;
    pub const IMAGE_ID: usize = 0x020;
    pub const VMPL: usize = 0x030;
    pub const SIGNATURE_ALGO: usize = 0x034;
    pub const CURRENT_TCB: usize = 0x038;
    pub const PLATFORM_INFO: usize = 0x040;
    pub const KEY_INFO: usize = 0x048;
    pub const REPORT_DATA: usize = 0x050;
    pub const MEASUREMENT: usize = 0x090;
    pub const HOST_DATA: usize = 0x0C0;
    pub const ID_KEY_DIGEST: usize = 0x0E0;
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    pub const REPORT_ID: usize = 0x140;
    pub const REPORT_ID_MA: usize = 0x160;
    pub const REPORTED_TCB: usize = 0x180;
    pub const CPUID_FAM_ID: usize = 0x188;
    pub const CPUID_MOD_ID: usize = 0x189;
    pub const CPUID_STEP: usize = 0x18A;
    pub const CHIP_ID: usize = 0x1A0;
    pub const COMMITTED_TCB: usize = 0x1E0;
    /// CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR, one reserved byte.
    pub const CURRENT_VERSION: usize = 0x1E8;
    /// COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR, one reserved byte.
    pub const COMMITTED_VERSION: usize = 0x1EC;
    pub const LAUNCH_TCB: usize = 0x1F0;
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    pub const SIGNATURE_R: usize = 0x2A0;
    pub const SIGNATURE_S: usize = 0x2E8;
}

/// An AMD EPYC generation with SEV-SNP, as far as this verifier knows its roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Processor {
    /// EPYC 7003 (family 19h, models 00h-0Fh).
    Milan,
    /// EPYC 9004/8004 (family 19h, models 10h-1Fh and A0h-AFh).
    Genoa,
    /// EPYC 9005 (family 1Ah, models 00h-11h).
    Turin,
}

impl Processor {
    /// Every generation, in release order.
    pub const ALL: [Processor; 3] = [Processor::Milan, Processor::Genoa, Processor::Turin];

    /// The generation of a CPUID family/model pair (combined extended and
    /// base fields, as the report stores them), if it is one of the known ones.
    ///
    /// Family 19h: models 00h-0Fh are Milan; 10h-1Fh (Genoa) and A0h-AFh
    /// (Bergamo/Siena, which use the Genoa keys) are Genoa. Family 1Ah:
    /// models 00h-11h are Turin. These are the ranges AMD's KDS keys by and
    /// the `sev` crate and trustee map the same way; later family-1Ah models
    /// (Venice) have roots this verifier does not carry.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Processor::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Processor::Genoa),
            (0x1A, 0x00..=0x11) => Some(Processor::Turin),
            _ => None,
        }
    }

    /// The name AMD uses in certificate names and KDS URLs (`Milan`, …).
    pub fn product_name(self) -> &'static str {
        match self {
            Processor::Milan => "Milan",
            Processor::Genoa => "Genoa",
            Processor::Turin => "Turin",
        }
    }

    /// The generation named by `name` as in [`Processor::product_name`].
    pub fn from_product_name(name: &str) -> Option<Self> {
        Processor::ALL.into_iter().find(|p| p.product_name() == name)
    }

    /// Whether TCB_VERSION has the Turin layout (with an FMC SPL byte).
    pub fn has_fmc(self) -> bool {
        matches!(self, Processor::Turin)
    }
}

/// The key that signed a report (KEY_INFO bits 4:2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningKey {
    /// Versioned Chip Endorsement Key: per chip and TCB.
    Vcek,
    /// Versioned Loaded Endorsement Key: per cloud provider and TCB.
    Vlek,
}

impl SigningKey {
    /// The certificate common name of this key kind.
    pub fn common_name(self) -> &'static str {
        match self {
            SigningKey::Vcek => "SEV-VCEK",
            SigningKey::Vlek => "SEV-VLEK",
        }
    }

    /// Short name for messages (`VCEK`, `VLEK`).
    pub fn label(self) -> &'static str {
        match self {
            SigningKey::Vcek => "VCEK",
            SigningKey::Vlek => "VLEK",
        }
    }
}

/// A decoded TCB_VERSION (ABI spec, table "TCB_VERSION Structure"): the
/// security patch levels of the platform's firmware components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcbVersion {
    /// Bootloader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
    /// FMC SPL (Turin and later only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

impl TcbVersion {
    /// Decode the 64-bit field for a processor generation.
    ///
    /// Milan/Genoa: byte 0 bootloader, 1 TEE, 6 SNP, 7 microcode.
    /// Turin: byte 0 FMC, 1 bootloader, 2 TEE, 3 SNP, 7 microcode.
    pub fn from_raw(raw: u64, processor: Processor) -> Self {
        let b = raw.to_le_bytes();
        if processor.has_fmc() {
            TcbVersion { fmc: Some(b[0]), bootloader: b[1], tee: b[2], snp: b[3], microcode: b[7] }
        } else {
            TcbVersion { fmc: None, bootloader: b[0], tee: b[1], snp: b[6], microcode: b[7] }
        }
    }

    /// Encode for a processor generation (inverse of [`TcbVersion::from_raw`];
    /// reserved bytes are zero).
    pub fn to_raw(self, processor: Processor) -> u64 {
        let b = if processor.has_fmc() {
            [self.fmc.unwrap_or(0), self.bootloader, self.tee, self.snp, 0, 0, 0, self.microcode]
        } else {
            [self.bootloader, self.tee, 0, 0, 0, 0, self.snp, self.microcode]
        };
        u64::from_le_bytes(b)
    }
}

/// A firmware version (build, minor, major in the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u8,
}

impl std::fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// CPUID identification of the processor (report version 3 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cpuid {
    /// Combined extended family and family.
    pub family: u8,
    /// Combined extended model and model.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

/// A parsed attestation report. TCB fields are raw: their layout depends on
/// the processor generation (see [`TcbVersion::from_raw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    /// VERSION.
    pub version: u32,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// POLICY (decoded by [`super::GuestPolicy`]).
    pub policy: u64,
    /// FAMILY_ID.
    pub family_id: [u8; 16],
    /// IMAGE_ID.
    pub image_id: [u8; 16],
    /// VMPL the report was requested from.
    pub vmpl: u32,
    /// SIGNATURE_ALGO.
    pub signature_algo: u32,
    /// CURRENT_TCB, raw.
    pub current_tcb: u64,
    /// PLATFORM_INFO.
    pub platform_info: u64,
    /// KEY_INFO: AUTHOR_KEY_EN (bit 0), MASK_CHIP_KEY (bit 1), SIGNING_KEY (bits 4:2).
    pub key_info: u32,
    /// REPORT_DATA.
    pub report_data: [u8; 64],
    /// MEASUREMENT.
    pub measurement: [u8; 48],
    /// HOST_DATA.
    pub host_data: [u8; 32],
    /// ID_KEY_DIGEST.
    pub id_key_digest: [u8; 48],
    /// AUTHOR_KEY_DIGEST.
    pub author_key_digest: [u8; 48],
    /// REPORT_ID.
    pub report_id: [u8; 32],
    /// REPORT_ID_MA.
    pub report_id_ma: [u8; 32],
    /// REPORTED_TCB, raw: the TCB the signing key was derived for.
    pub reported_tcb: u64,
    /// CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (version 3 and later).
    pub cpuid: Option<Cpuid>,
    /// CHIP_ID (zero when masked).
    pub chip_id: [u8; 64],
    /// COMMITTED_TCB, raw.
    pub committed_tcb: u64,
    /// CURRENT_MAJOR/MINOR/BUILD.
    pub current_version: FirmwareVersion,
    /// COMMITTED_MAJOR/MINOR/BUILD.
    pub committed_version: FirmwareVersion,
    /// LAUNCH_TCB, raw.
    pub launch_tcb: u64,
    /// LAUNCH_MIT_VECTOR (version 5 and later).
    pub launch_mit_vector: Option<u64>,
    /// CURRENT_MIT_VECTOR (version 5 and later).
    pub current_mit_vector: Option<u64>,
    /// Signature r, little-endian, zero-extended to 72 bytes.
    pub signature_r: [u8; SIGNATURE_COMPONENT_LEN],
    /// Signature s, little-endian, zero-extended to 72 bytes.
    pub signature_s: [u8; SIGNATURE_COMPONENT_LEN],
    raw: Box<[u8; REPORT_SIZE]>,
}

/// Fixed-offset reads from a report-sized buffer; never panics.
struct Fields<'a>(&'a [u8; REPORT_SIZE]);

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = at.checked_add(N).and_then(|end| self.0.get(at..end)) {
            out.copy_from_slice(src);
        }
        out
    }
    fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.array(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.array(at))
    }
    fn version(&self, at: usize) -> FirmwareVersion {
        FirmwareVersion { build: self.u8(at), minor: self.u8(at + 1), major: self.u8(at + 2) }
    }
}

/// Parse a raw 1184-byte attestation report.
///
/// Checks the size and the version (2 or later); does not check the
/// signature (see [`super::verify_report`]).
pub fn parse_report(bytes: &[u8]) -> Result<AttestationReport> {
    const WHAT: &str = "SNP attestation report";
    let raw: Box<[u8; REPORT_SIZE]> = match <[u8; REPORT_SIZE]>::try_from(bytes) {
        Ok(array) => Box::new(array),
        Err(_) => {
            return Err(Error::malformed(
                WHAT,
                bytes.len().min(REPORT_SIZE),
                format!("expected {REPORT_SIZE} bytes, found {}", bytes.len()),
            ))
        }
    };
    let f = Fields(&raw);
    let version = f.u32(offset::VERSION);
    if version < 2 {
        return Err(Error::Unsupported {
            what: "SNP report version (2 or later is supported)",
            found: version.to_string(),
        });
    }
    let cpuid = (version >= 3).then(|| Cpuid {
        family: f.u8(offset::CPUID_FAM_ID),
        model: f.u8(offset::CPUID_MOD_ID),
        stepping: f.u8(offset::CPUID_STEP),
    });
    let has_mit_vectors = version >= 5;
    Ok(AttestationReport {
        version,
        guest_svn: f.u32(offset::GUEST_SVN),
        policy: f.u64(offset::POLICY),
        family_id: f.array(offset::FAMILY_ID),
        image_id: f.array(offset::IMAGE_ID),
        vmpl: f.u32(offset::VMPL),
        signature_algo: f.u32(offset::SIGNATURE_ALGO),
        current_tcb: f.u64(offset::CURRENT_TCB),
        platform_info: f.u64(offset::PLATFORM_INFO),
        key_info: f.u32(offset::KEY_INFO),
        report_data: f.array(offset::REPORT_DATA),
        measurement: f.array(offset::MEASUREMENT),
        host_data: f.array(offset::HOST_DATA),
        id_key_digest: f.array(offset::ID_KEY_DIGEST),
        author_key_digest: f.array(offset::AUTHOR_KEY_DIGEST),
        report_id: f.array(offset::REPORT_ID),
        report_id_ma: f.array(offset::REPORT_ID_MA),
        reported_tcb: f.u64(offset::REPORTED_TCB),
        cpuid,
        chip_id: f.array(offset::CHIP_ID),
        committed_tcb: f.u64(offset::COMMITTED_TCB),
        current_version: f.version(offset::CURRENT_VERSION),
        committed_version: f.version(offset::COMMITTED_VERSION),
        launch_tcb: f.u64(offset::LAUNCH_TCB),
        launch_mit_vector: has_mit_vectors.then(|| f.u64(offset::LAUNCH_MIT_VECTOR)),
        current_mit_vector: has_mit_vectors.then(|| f.u64(offset::CURRENT_MIT_VECTOR)),
        signature_r: f.array(offset::SIGNATURE_R),
        signature_s: f.array(offset::SIGNATURE_S),
        raw,
    })
}

impl AttestationReport {
    /// The whole report as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw[..]
    }

    /// The bytes the signature covers (`0..0x2A0`).
    pub fn signed_bytes(&self) -> &[u8] {
        self.raw.get(..SIGNED_LEN).unwrap_or(&[])
    }

    /// AUTHOR_KEY_EN: AUTHOR_KEY_DIGEST is present.
    pub fn author_key_en(&self) -> bool {
        self.key_info & 1 != 0
    }

    /// MASK_CHIP_KEY: the firmware wrote zeros instead of a signature.
    pub fn mask_chip_key(&self) -> bool {
        self.key_info & 2 != 0
    }

    /// The raw SIGNING_KEY field (0 VCEK, 1 VLEK, 7 none).
    pub fn signing_key_raw(&self) -> u32 {
        (self.key_info >> 2) & 7
    }

    /// The key that signed this report; an error when the report is unsigned
    /// or names a reserved key.
    pub fn signing_key(&self) -> Result<SigningKey> {
        if self.mask_chip_key() {
            return Err(Error::Unsupported {
                what: "SNP report signing (MASK_CHIP_KEY is set, the report is unsigned)",
                found: format!("key_info {:#x}", self.key_info),
            });
        }
        match self.signing_key_raw() {
            0 => Ok(SigningKey::Vcek),
            1 => Ok(SigningKey::Vlek),
            other => Err(Error::Unsupported {
                what: "SNP report SIGNING_KEY (0 VCEK or 1 VLEK expected)",
                found: other.to_string(),
            }),
        }
    }

    /// The processor generation given by the CPUID bytes: `None` for
    /// version-2 reports, an error for a family/model this verifier does not know.
    pub fn processor_from_cpuid(&self) -> Result<Option<Processor>> {
        match self.cpuid {
            None => Ok(None),
            Some(c) => Processor::from_cpuid(c.family, c.model).map(Some).ok_or_else(|| Error::Unsupported {
                what: "SNP processor (CPUID family/model)",
                found: format!("family {:#04x} model {:#04x}", c.family, c.model),
            }),
        }
    }

    /// The ECDSA signature as big-endian `r‖s` (48 bytes each), or `None`
    /// when a component does not fit in 384 bits.
    pub fn signature_be(&self) -> Option<[u8; 96]> {
        let mut out = [0u8; 96];
        for (component, dst) in [(&self.signature_r, 0usize), (&self.signature_s, 48usize)] {
            let (low, high) = component.split_at(48);
            if high.iter().any(|b| *b != 0) {
                return None;
            }
            for (i, byte) in low.iter().rev().enumerate() {
                *out.get_mut(dst + i)? = *byte;
            }
        }
        Some(out)
    }
}

/// Writes fields at their ATTESTATION_REPORT offsets, for building the raw
/// report from another encoding of it.
pub(crate) struct ReportWriter(Box<[u8; REPORT_SIZE]>);

impl ReportWriter {
    pub(crate) fn new() -> Self {
        ReportWriter(Box::new([0u8; REPORT_SIZE]))
    }
    pub(crate) fn put(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = at.checked_add(bytes.len()).and_then(|end| self.0.get_mut(at..end)) {
            dst.copy_from_slice(bytes);
        }
    }
    pub(crate) fn put_version(&mut self, at: usize, v: FirmwareVersion) {
        self.put(at, &[v.build, v.minor, v.major]);
    }
    pub(crate) fn finish(self) -> Box<[u8; REPORT_SIZE]> {
        self.0
    }
}
