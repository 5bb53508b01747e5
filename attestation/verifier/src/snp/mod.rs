//! AMD SEV-SNP evidence verification.
//!
//! Evidence is an attestation report, raw (1184 bytes, or the same as hex
//! text) or inside trustee's evidence JSON (see [`parse_trustee_evidence`]).
//! Verification:
//!
//! 1. The VCEK or VLEK (from [`Endorsements::vcek`], else from the JSON's
//!    `cert_chain`) must chain VCEK → ASK → ARK or VLEK → ASVK → ARK to the
//!    **built-in** AMD ARK of the processor generation, with every
//!    certificate valid at [`VerifyOptions::at`]. [`Endorsements::chain`] may
//!    add intermediates; an ARK there must equal a built-in one.
//! 2. The report's SIGNING_KEY must name the certificate's kind, and its
//!    CPUID generation (version 3+) the generation the issuer names.
//! 3. The certificate's TCB extensions must equal REPORTED_TCB, and a VCEK's
//!    hwID the report's CHIP_ID.
//! 4. The ECDSA P-384 signature over bytes `0..0x2A0` must verify with the key.
//! 5. REPORT_DATA and HOST_DATA are compared with the expected report data
//!    and init-data digest when given.
//!
//! [`SnpVerifier`] caches step 1 per key certificate so that verifying many
//! reports of one platform costs one ECDSA verification each.

mod certs;
mod claims;
mod json;
mod report;
mod roots;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

pub use certs::{intermediates_from, parse_hwid, KeyCertificate, VerifiedChain};
pub use claims::{GuestPolicy, PlatformInfo, SnpClaims};
pub use json::{parse_trustee_evidence, ChainCertificate, TrusteeEvidence, MAX_TRUSTEE_EVIDENCE};
pub use report::{
    parse_report, AttestationReport, Cpuid, FirmwareVersion, Processor, SigningKey, TcbVersion, REPORT_SIZE,
    SIGNED_LEN, SIG_ALGO_ECDSA_P384_SHA384,
};
pub use roots::{builtin as builtin_roots, AmdRoots};

use crate::x509::{Certificate, SignatureHash, SignatureScheme};
use crate::{Endorsements, Error, Evidence, EvidenceFormat, Result, VerifyOptions};

/// Parsed SNP evidence: the report and the certificates that came with it.
#[derive(Debug, Clone)]
pub struct SnpEvidence {
    /// The attestation report.
    pub report: AttestationReport,
    /// The VCEK/VLEK DER carried in the evidence (trustee JSON), if any.
    pub key_certificate: Option<Vec<u8>>,
    /// ASK/ASVK/ARK DERs carried in the evidence (trustee JSON).
    pub chain: Vec<Vec<u8>>,
}

/// Decode raw evidence: 1184 bytes, or their hex text.
fn raw_report_bytes(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let text = bytes.trim_ascii();
    if bytes.len() != REPORT_SIZE && text.len() == 2 * REPORT_SIZE {
        if let Ok(decoded) = hex::decode(text) {
            return decoded.into();
        }
    }
    bytes.into()
}

/// Parse SNP evidence in either [`EvidenceFormat`].
pub fn parse_evidence(evidence: &Evidence<'_>) -> Result<SnpEvidence> {
    evidence.check_size()?;
    match evidence.format {
        EvidenceFormat::Raw => Ok(SnpEvidence {
            report: parse_report(&raw_report_bytes(evidence.bytes))?,
            key_certificate: None,
            chain: Vec::new(),
        }),
        EvidenceFormat::Json => {
            let parsed = parse_trustee_evidence(evidence.bytes)?;
            let mut key_certificate = None;
            let mut chain = Vec::new();
            for entry in parsed.certificates {
                match entry.cert_type.as_str() {
                    "VCEK" | "VLEK" if key_certificate.is_some() => {
                        return Err(Error::field(
                            "SNP trustee evidence",
                            "cert_chain",
                            "more than one VCEK/VLEK entry",
                        ));
                    }
                    "VCEK" | "VLEK" => key_certificate = Some(entry.der),
                    "ASK" | "ASVK" | "ARK" => chain.push(entry.der),
                    // CRLs and vendor entries play no part in the chain.
                    _ => {}
                }
            }
            Ok(SnpEvidence { report: parsed.report, key_certificate, chain })
        }
    }
}

/// The key certificate and intermediates for `evidence`: the operator's
/// endorsements first, the evidence's own certificates otherwise.
fn endorsement_inputs<'a>(
    evidence: &'a SnpEvidence,
    endorsements: &'a Endorsements,
) -> Result<(&'a [u8], Vec<Certificate>)> {
    let leaf = endorsements
        .vcek
        .as_deref()
        .or(evidence.key_certificate.as_deref())
        .ok_or_else(|| Error::MissingEndorsement("SNP VCEK or VLEK certificate (endorsements.vcek)".into()))?;
    let mut chain = Vec::new();
    if let Some(pem) = &endorsements.chain {
        if pem.trim_ascii_start().starts_with(b"-----BEGIN") {
            chain.extend(Certificate::all_from_pem(pem)?);
        } else {
            chain.push(Certificate::from_der(pem)?);
        }
    }
    for der in &evidence.chain {
        chain.push(Certificate::from_der(der)?);
    }
    Ok((leaf, chain))
}

/// Build and verify the chain of a key certificate given as DER or PEM.
fn build_chain(
    leaf: &[u8],
    chain: Vec<Certificate>,
    hint: Option<Processor>,
    at: time::OffsetDateTime,
) -> Result<VerifiedChain> {
    let key = KeyCertificate::parse(leaf)?;
    VerifiedChain::build(&key, &intermediates_from(chain)?, hint, at)
}

/// Verify SNP evidence with its endorsements (no caching; see [`SnpVerifier`]).
pub fn verify(evidence: &Evidence<'_>, endorsements: &Endorsements, options: &VerifyOptions) -> Result<SnpClaims> {
    let parsed = parse_evidence(evidence)?;
    let (leaf, chain) = endorsement_inputs(&parsed, endorsements)?;
    let verified = build_chain(leaf, chain, parsed.report.processor_from_cpuid()?, options.at)?;
    verify_report(&parsed.report, &verified, options)
}

/// Check a report against an already verified key chain (steps 2–5 above),
/// re-checking the chain's validity dates at `options.at`.
pub fn verify_report(report: &AttestationReport, chain: &VerifiedChain, options: &VerifyOptions) -> Result<SnpClaims> {
    chain.check_validity(options.at)?;
    if report.signature_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        return Err(Error::Unsupported {
            what: "SNP report SIGNATURE_ALGO (1 = ECDSA P-384/SHA-384 expected)",
            found: report.signature_algo.to_string(),
        });
    }
    let kind = report.signing_key()?;
    if kind != chain.kind {
        return Err(Error::Mismatch {
            what: "SNP signing key (report SIGNING_KEY vs certificate)".into(),
            expected: chain.kind.label().into(),
            found: kind.label().into(),
        });
    }
    if let Some(p) = report.processor_from_cpuid()? {
        if p != chain.processor {
            return Err(Error::Mismatch {
                what: "SNP processor generation (certificate chain vs report CPUID)".into(),
                expected: chain.processor.product_name().into(),
                found: p.product_name().into(),
            });
        }
    }
    check_tcb(report, chain)?;
    check_chip_id(report, chain)?;
    let signature = report.signature_be().ok_or_else(|| Error::BadSignature {
        what: "SNP attestation report (signature component wider than 384 bits)".into(),
        key: chain.key_name.clone(),
    })?;
    let scheme = SignatureScheme::Ecdsa(SignatureHash::Sha384);
    if !chain.public_key().verify(scheme, report.signed_bytes(), &signature) {
        return Err(Error::BadSignature { what: "SNP attestation report".into(), key: chain.key_name.clone() });
    }
    options.check_report_data(&report.report_data)?;
    options.check_init_data(&report.host_data)?;
    Ok(SnpClaims::new(report, chain.processor, kind))
}

/// REPORTED_TCB must be the TCB the key was derived for.
fn check_tcb(report: &AttestationReport, chain: &VerifiedChain) -> Result<()> {
    let reported = TcbVersion::from_raw(report.reported_tcb, chain.processor);
    let cert = chain.tcb;
    let fields = [
        ("bootloader", Some(cert.bootloader), Some(reported.bootloader)),
        ("TEE", Some(cert.tee), Some(reported.tee)),
        ("SNP", Some(cert.snp), Some(reported.snp)),
        ("microcode", Some(cert.microcode), Some(reported.microcode)),
        ("FMC", cert.fmc, reported.fmc),
    ];
    for (name, expected, found) in fields {
        if expected != found {
            let show = |v: Option<u8>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
            return Err(Error::Mismatch {
                what: format!("SNP reported TCB {name} SPL ({} extension vs report)", chain.kind.label()),
                expected: show(expected),
                found: show(found),
            });
        }
    }
    Ok(())
}

/// A VCEK's hwID must be the report's CHIP_ID (Turin: its first 8 bytes).
fn check_chip_id(report: &AttestationReport, chain: &VerifiedChain) -> Result<()> {
    let Some(hwid) = &chain.hwid else {
        return Ok(());
    };
    let expected_len = if chain.processor == Processor::Turin { 8 } else { report.chip_id.len() };
    let found = report.chip_id.get(..expected_len).unwrap_or(&[]);
    if hwid.len() != expected_len || hwid.as_slice() != found {
        return Err(Error::mismatch_bytes("SNP chip id (VCEK hwID vs report CHIP_ID)", hwid, found));
    }
    Ok(())
}

/// Most key chains an [`SnpVerifier`] keeps.
const MAX_CACHED_CHAINS: usize = 256;

/// An SNP verifier that keeps verified key chains, so repeated reports
/// signed by one VCEK/VLEK cost only the report checks. Dates are still
/// checked at every verification's time.
#[derive(Debug, Default)]
pub struct SnpVerifier {
    chains: Mutex<HashMap<[u8; 32], Arc<VerifiedChain>>>,
}

impl SnpVerifier {
    /// A verifier with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The verified chain of `leaf` (VCEK/VLEK, DER or PEM) with
    /// `intermediates`, from the cache or built now.
    pub fn chain(
        &self,
        leaf: &[u8],
        intermediates: Vec<Certificate>,
        hint: Option<Processor>,
        at: time::OffsetDateTime,
    ) -> Result<Arc<VerifiedChain>> {
        let mut h = Sha256::new();
        h.update((leaf.len() as u64).to_le_bytes());
        h.update(leaf);
        for c in &intermediates {
            h.update((c.der().len() as u64).to_le_bytes());
            h.update(c.der());
        }
        h.update([hint.map_or(0, |p| p as u8 + 1)]);
        let key: [u8; 32] = h.finalize().into();
        if let Some(hit) = self.chains.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Arc::clone(hit));
        }
        let built = Arc::new(build_chain(leaf, intermediates, hint, at)?);
        let mut cache = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_CHAINS {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&built));
        Ok(built)
    }

    /// Verify SNP evidence like [`verify`], reusing verified chains.
    pub fn verify(
        &self,
        evidence: &Evidence<'_>,
        endorsements: &Endorsements,
        options: &VerifyOptions,
    ) -> Result<SnpClaims> {
        let parsed = parse_evidence(evidence)?;
        let (leaf, chain) = endorsement_inputs(&parsed, endorsements)?;
        let verified = self.chain(leaf, chain, parsed.report.processor_from_cpuid()?, options.at)?;
        verify_report(&parsed.report, &verified, options)
    }

    /// Number of cached chains.
    pub fn cached(&self) -> usize {
        self.chains.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests;
