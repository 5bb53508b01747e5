//! VCEK/VLEK certificates: what they say about the platform, and their chain
//! to the pinned AMD roots.
//!
//! AMD's key certificates carry the TCB the key was derived for and, for a
//! VCEK, the chip it belongs to as private extensions (AMD "Versioned Chip
//! Endorsement Key (VCEK) Certificate and KDS Interface Specification" 57230,
//! table "VCEK Certificate Extensions"): under 1.3.6.1.4.1.3704.1, `.3.1`
//! bootloader, `.3.2` TEE, `.3.3` SNP, `.3.8` microcode and (Turin) `.3.9`
//! FMC SPL as DER INTEGERs, and `.4` hwID. The hwID of Milan/Genoa VCEKs is
//! the 64-byte chip id, stored either bare or wrapped in a DER OCTET STRING;
//! Turin VCEKs carry only the first 8 bytes of the chip id.

use der::Decode;
use time::OffsetDateTime;

use super::report::{Processor, SigningKey, TcbVersion};
use super::roots::{self, AmdRoots};
use crate::x509::{self, Certificate, ObjectIdentifier, PublicKey};
use crate::{Error, Result};

mod oid {
    use crate::x509::ObjectIdentifier as Oid;
    pub const BL_SPL: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
    pub const TEE_SPL: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
    pub const SNP_SPL: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
    pub const UCODE_SPL: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
    pub const FMC_SPL: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
    pub const HW_ID: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.4");
}

/// Length of a full chip id (Milan, Genoa).
const CHIP_ID_LEN: usize = 64;
/// Length of the chip-id prefix Turin VCEKs carry.
const TURIN_HWID_LEN: usize = 8;

/// A VCEK or VLEK certificate and the values it vouches for.
#[derive(Debug, Clone)]
pub struct KeyCertificate {
    /// The certificate.
    pub cert: Certificate,
    /// VCEK or VLEK, from the subject common name.
    pub kind: SigningKey,
    /// The generation named by the issuer (`SEV-<Gen>`, `SEV-VLEK-<Gen>`), if known.
    pub issuer_processor: Option<Processor>,
    /// The TCB the key was derived for.
    pub tcb: TcbVersion,
    /// hwID: the chip id (64 bytes) or its first 8 bytes (Turin); VCEKs only.
    pub hwid: Option<Vec<u8>>,
}

fn spl(cert: &Certificate, id: &ObjectIdentifier, name: &str) -> Result<Option<u8>> {
    let Some(value) = cert.extension(id) else {
        return Ok(None);
    };
    u8::from_der(value).map(Some).map_err(|e| {
        Error::field(
            "SNP key certificate",
            format!("{name} SPL extension {id}"),
            format!("not a DER INTEGER 0..=255: {e}"),
        )
    })
}

fn required_spl(cert: &Certificate, id: &ObjectIdentifier, name: &str) -> Result<u8> {
    spl(cert, id, name)?
        .ok_or_else(|| Error::field("SNP key certificate", format!("{name} SPL extension {id}"), "missing"))
}

/// Decode the hwID extension value: bare bytes (64, or 8 on Turin) or a DER
/// OCTET STRING wrapping them.
pub fn parse_hwid(value: &[u8]) -> Result<Vec<u8>> {
    let ok_len = |n: usize| n == CHIP_ID_LEN || n == TURIN_HWID_LEN;
    if ok_len(value.len()) {
        return Ok(value.to_vec());
    }
    match der::asn1::OctetStringRef::from_der(value) {
        Ok(inner) if ok_len(inner.as_bytes().len()) => Ok(inner.as_bytes().to_vec()),
        _ => Err(Error::field(
            "SNP key certificate",
            "hwID extension 1.3.6.1.4.1.3704.1.4",
            format!(
                "expected {CHIP_ID_LEN} or {TURIN_HWID_LEN} bytes, bare or in an OCTET STRING; found {} bytes",
                value.len()
            ),
        )),
    }
}

/// The generation an AMD intermediate's common name names.
fn processor_of_issuer(cn: &str) -> Option<Processor> {
    let product = cn.strip_prefix("SEV-VLEK-").or_else(|| cn.strip_prefix("SEV-"))?;
    Processor::from_product_name(product)
}

impl KeyCertificate {
    /// Parse a VCEK or VLEK (DER or PEM) and read its AMD extensions.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::from_certificate(Certificate::from_pem_or_der(bytes)?)
    }

    /// Read the AMD extensions of an already parsed VCEK or VLEK.
    pub fn from_certificate(cert: Certificate) -> Result<Self> {
        let cn = cert.common_name().unwrap_or_default();
        let kind = match cn.as_str() {
            "SEV-VCEK" => SigningKey::Vcek,
            "SEV-VLEK" => SigningKey::Vlek,
            _ => {
                return Err(Error::field(
                    "SNP key certificate",
                    "subject CN",
                    format!("expected SEV-VCEK or SEV-VLEK, found {:?}", cert.display_name()),
                ))
            }
        };
        let issuer_processor = cert.issuer_common_name().as_deref().and_then(processor_of_issuer);
        let tcb = TcbVersion {
            bootloader: required_spl(&cert, &oid::BL_SPL, "bootloader")?,
            tee: required_spl(&cert, &oid::TEE_SPL, "TEE")?,
            snp: required_spl(&cert, &oid::SNP_SPL, "SNP")?,
            microcode: required_spl(&cert, &oid::UCODE_SPL, "microcode")?,
            fmc: spl(&cert, &oid::FMC_SPL, "FMC")?,
        };
        let hwid = match kind {
            SigningKey::Vcek => {
                let value = cert.extension(&oid::HW_ID).ok_or_else(|| {
                    Error::field("SNP key certificate", "hwID extension 1.3.6.1.4.1.3704.1.4", "missing in a VCEK")
                })?;
                Some(parse_hwid(value)?)
            }
            SigningKey::Vlek => None,
        };
        Ok(KeyCertificate { cert, kind, issuer_processor, tcb, hwid })
    }
}

/// A certificate's validity window, kept to re-check a cached chain.
#[derive(Debug, Clone)]
struct Window {
    name: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

/// A VCEK or VLEK whose chain to a built-in ARK has been verified: what a
/// report check needs, so repeated reports from one platform cost only the
/// report signature.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    /// VCEK or VLEK.
    pub kind: SigningKey,
    /// The generation whose ARK anchors the chain.
    pub processor: Processor,
    /// The TCB in the key certificate.
    pub tcb: TcbVersion,
    /// The hwID of a VCEK.
    pub hwid: Option<Vec<u8>>,
    /// The key certificate's display name (for messages).
    pub key_name: String,
    key: PublicKey,
    windows: Vec<Window>,
}

/// Split a chain given by the operator or the evidence into intermediates,
/// refusing any self-issued certificate that is not a built-in ARK.
pub fn intermediates_from(certs: Vec<Certificate>) -> Result<Vec<Certificate>> {
    let mut out = Vec::with_capacity(certs.len());
    for cert in certs {
        if cert.subject() == cert.issuer() {
            if !roots::is_builtin_ark(&cert)? {
                return Err(Error::UntrustedRoot {
                    subject: cert.display_name(),
                    detail: "a root given with the endorsements must equal a built-in AMD ARK".into(),
                });
            }
            continue;
        }
        out.push(cert);
    }
    Ok(out)
}

impl VerifiedChain {
    /// Verify `leaf` → ASK/ASVK → ARK at `at` against the built-in roots.
    ///
    /// `intermediates` (see [`intermediates_from`]) are tried besides the
    /// built-in ASK/ASVK. `processor_hint` (from the report's CPUID) must
    /// agree with the generation the issuer names; it picks the roots when
    /// the issuer name is not a known one.
    pub fn build(
        leaf: &KeyCertificate,
        intermediates: &[Certificate],
        processor_hint: Option<Processor>,
        at: OffsetDateTime,
    ) -> Result<Self> {
        let processor = match (leaf.issuer_processor, processor_hint) {
            (Some(from_cert), Some(from_report)) if from_cert != from_report => {
                return Err(Error::Mismatch {
                    what: format!("SNP processor generation ({} issuer vs report CPUID)", leaf.kind.label()),
                    expected: from_report.product_name().into(),
                    found: format!(
                        "{} ({})",
                        from_cert.product_name(),
                        leaf.cert.issuer_common_name().unwrap_or_default()
                    ),
                })
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                return Err(Error::Unsupported {
                    what: "SNP processor generation (neither report CPUID nor certificate issuer names one)",
                    found: leaf.cert.issuer(),
                })
            }
        };
        let amd: &AmdRoots = roots::builtin(processor)?;
        let expected_issuer = AmdRoots::issuer_name(processor, leaf.kind);
        // Only the intermediate kind that issues this key kind is offered:
        // a VCEK never chains through the ASVK, nor a VLEK through the ASK.
        let mut offered = vec![amd.issuer_of(leaf.kind).clone()];
        offered.extend(
            intermediates.iter().filter(|c| c.common_name().as_deref() == Some(expected_issuer.as_str())).cloned(),
        );
        let path = x509::verify_chain(&leaf.cert, &offered, std::slice::from_ref(&amd.ark), at)?;
        let shape_ok = path.len() == 3
            && path.get(1).and_then(Certificate::common_name).as_deref() == Some(expected_issuer.as_str())
            && path.get(2) == Some(&amd.ark);
        if !shape_ok {
            return Err(Error::ChainBroken { subject: leaf.cert.display_name(), issuer: expected_issuer });
        }
        if processor.has_fmc() != leaf.tcb.fmc.is_some() {
            return Err(Error::field(
                "SNP key certificate",
                "FMC SPL extension 1.3.6.1.4.1.3704.1.3.9",
                format!(
                    "{} for a {} key",
                    if leaf.tcb.fmc.is_some() { "present" } else { "missing" },
                    processor.product_name()
                ),
            ));
        }
        let key = leaf.cert.public_key()?;
        if !matches!(key, PublicKey::P384(_)) {
            return Err(Error::Unsupported {
                what: "SNP key certificate public key (P-384 expected)",
                found: format!("{key:?}"),
            });
        }
        let windows = path
            .iter()
            .map(|c| Window { name: c.display_name(), not_before: c.not_before(), not_after: c.not_after() })
            .collect();
        Ok(VerifiedChain {
            kind: leaf.kind,
            processor,
            tcb: leaf.tcb,
            hwid: leaf.hwid.clone(),
            key_name: leaf.cert.display_name(),
            key,
            windows,
        })
    }

    /// Fail unless every certificate of the chain is valid at `at`.
    pub fn check_validity(&self, at: OffsetDateTime) -> Result<()> {
        for w in &self.windows {
            if at < w.not_before || at > w.not_after {
                return Err(Error::CertificateExpired {
                    subject: w.name.clone(),
                    at,
                    not_before: w.not_before,
                    not_after: w.not_after,
                });
            }
        }
        Ok(())
    }

    /// The key that signs reports.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}
