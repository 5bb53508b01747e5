//! Verification of one quote against verified collateral.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::collateral::{verify_raw_p256, VerifiedCollateral};
use super::pck::{pck_extension, PckExtension};
use super::quote::{parse_quote, Body, Quote, INTEL_QE_VENDOR_ID, TEE_TYPE_SGX};
use super::tcb::{final_verdict, platform_verdict_sgx, platform_verdict_tdx, qe_level, TcbVerdict};
use crate::x509::{verify_chain, Certificate, PublicKey};
use crate::{Error, Result};

/// Most intermediate certificates accepted in a quote's PCK chain.
const MAX_PCK_INTERMEDIATES: usize = 4;

/// What verifying a quote establishes.
#[derive(Debug, Clone)]
pub struct VerifiedQuote {
    /// The parsed quote.
    pub quote: Quote,
    /// Final TCB verdict (platform, module and QE combined).
    pub tcb: TcbVerdict,
    /// The PCK certificate's SGX extension.
    pub pck: PckExtension,
    /// The PCK leaf certificate.
    pub pck_leaf: Certificate,
}

/// Verify a raw quote with collateral verified by [`VerifiedCollateral::new`], at `at`.
///
/// Steps: collateral dates at `at`; header (vendor, TEE type); QE identity
/// kind for the TEE type; PCK chain to the collateral's root (validity at
/// `at`, intermediates not in the root CA CRL, leaf not in the PCK CRL);
/// QE report signature by the PCK leaf; QE report data binds the
/// attestation key and QE authentication data; QE identity match; quote
/// signature by the attestation key; FMSPC, PCE-ID and TCB level matching;
/// status combination.
pub fn verify_quote(quote_bytes: &[u8], collateral: &VerifiedCollateral, at: OffsetDateTime) -> Result<VerifiedQuote> {
    collateral.check_at(at)?;
    let quote = parse_quote(quote_bytes)?;
    if quote.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(Error::mismatch_bytes("QE vendor id", &INTEL_QE_VENDOR_ID, &quote.header.qe_vendor_id));
    }
    let c = collateral.collateral();
    let sgx = quote.header.tee_type == TEE_TYPE_SGX;
    let (qe_id, qe_versions): (&str, &[u8]) = if sgx { ("QE", &[2]) } else { ("TD_QE", &[2, 3]) };
    if c.qe_identity.id != qe_id || !qe_versions.contains(&c.qe_identity.version) {
        return Err(Error::Mismatch {
            what: "QE identity id/version".into(),
            expected: format!("{qe_id} version {qe_versions:?}"),
            found: format!("{} version {}", c.qe_identity.id, c.qe_identity.version),
        });
    }

    // PCK chain from the quote to the root.
    let certs = Certificate::all_from_pem(&quote.pck_chain_pem)?;
    let (leaf, rest) = certs.split_first().ok_or_else(|| Error::field("DCAP quote", "PCK chain", "no certificate"))?;
    if rest.len() > MAX_PCK_INTERMEDIATES {
        return Err(Error::field("DCAP quote", "PCK chain", format!("{} intermediates", rest.len())));
    }
    // The PCK CA that signed the PCK CRL was already chained to the root with
    // the collateral; when the quote carries the same CA only the leaf's
    // signature is new.
    let known_ca = collateral.pck_crl_issuer();
    let path = if rest.contains(known_ca) && leaf.verify_issued_by(known_ca).is_ok() {
        for cert in [leaf, known_ca, collateral.root()] {
            cert.check_validity(at)?;
        }
        vec![leaf.clone(), known_ca.clone(), collateral.root().clone()]
    } else {
        verify_chain(leaf, rest, std::slice::from_ref(collateral.root()), at)?
    };
    collateral.check_pck_crl_at(at)?;
    for cert in path.iter().skip(1).filter(|p| *p != collateral.root()) {
        c.root_ca_crl.check_not_revoked(cert)?;
    }
    let leaf_issuer = path.get(1).ok_or_else(|| Error::UntrustedRoot {
        subject: leaf.display_name(),
        detail: "a PCK certificate must be issued by a PCK CA".into(),
    })?;
    if !c.pck_crl.covers(leaf) {
        return Err(Error::Mismatch {
            what: "PCK CRL issuer".into(),
            expected: leaf.issuer_common_name().unwrap_or_else(|| leaf.issuer()),
            found: c.pck_crl.issuer_name(),
        });
    }
    if leaf_issuer != collateral.pck_crl_issuer() {
        c.pck_crl.verify_issued_by(leaf_issuer)?;
    }
    c.pck_crl.check_not_revoked(leaf)?;
    let pck = pck_extension(leaf)?;

    // QE report: signed by the PCK key, binds the attestation key.
    verify_raw_p256(leaf, &quote.qe_report_raw, &quote.qe_report_signature, "QE report")?;
    let mut h = Sha256::new();
    h.update(quote.attestation_key);
    h.update(&quote.qe_auth_data);
    let binding = h.finalize();
    let reported = quote.qe_report.report_data.get(..32).unwrap_or_default();
    if binding[..] != *reported {
        return Err(Error::mismatch_bytes(
            "QE report data (SHA-256 of attestation key and QE authentication data)",
            &binding,
            reported,
        ));
    }
    let qe = qe_level(&quote.qe_report, &c.qe_identity)?;

    // Quote signature by the attestation key.
    let mut sec1 = [0x04u8; 65];
    if let Some(tail) = sec1.get_mut(1..) {
        tail.copy_from_slice(&quote.attestation_key);
    }
    let bad = || Error::BadSignature { what: "DCAP quote".into(), key: "the quote's attestation key".into() };
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| bad())?;
    if !PublicKey::P256(key).verify_p256_raw(&quote.signed_data, &quote.signature) {
        return Err(bad());
    }

    // TCB levels.
    let info = &c.tcb_info;
    if pck.fmspc != info.fmspc {
        return Err(Error::mismatch_bytes("FMSPC (TCB info vs PCK certificate)", &info.fmspc, &pck.fmspc));
    }
    if pck.pce_id != info.pce_id {
        return Err(Error::mismatch_bytes("PCE-ID (TCB info vs PCK certificate)", &info.pce_id, &pck.pce_id));
    }
    let (want_id, min_version) = if sgx { ("SGX", 2) } else { ("TDX", 3) };
    if info.id != want_id || info.version < min_version {
        return Err(Error::Mismatch {
            what: "TCB info id/version".into(),
            expected: format!("{want_id} version >= {min_version}"),
            found: format!("{} version {}", info.id, info.version),
        });
    }
    let (platform, current) = match &quote.body {
        Body::Td(td) => platform_verdict_tdx(info, &pck, td)?,
        Body::Sgx(_) => (platform_verdict_sgx(info, &pck)?, None),
    };
    let tcb = final_verdict(platform, current, qe)?;
    Ok(VerifiedQuote { quote, tcb, pck, pck_leaf: leaf.clone() })
}
