//! Host-key documents (HKDs) and their IBM certificate chain.
//!
//! An HKD is an X.509 certificate for one IBM Z machine's P-521 host key,
//! issued by an "IBM Z Host Key Signing Service" certificate, which chains
//! through IBM intermediate CAs to a root CA (DigiCert for production
//! machines). The IBM signing certificate is recognised by its subject
//! (country US, state New York, locality Poughkeepsie or Armonk,
//! organisation and common name "International Business Machines
//! Corporation", organisational unit ending in "Key Signing Service", and
//! nothing else), as s390-tools does.
//!
//! Checks, all at the verification time:
//! - the signing certificate chains to a configured root, every certificate
//!   inside its validity window;
//! - every CRL whose issuer is on that chain has a valid signature by that
//!   issuer and is current (`thisUpdate ≤ at ≤ nextUpdate`); CRLs of other
//!   issuers are ignored;
//! - each non-root certificate of the chain, and each HKD, is covered by at
//!   least one such CRL and not listed in it;
//! - an HKD is inside its validity window, names the signing certificate's
//!   subject as issuer (attribute order ignored: IBM's CRLs and HKDs do not
//!   keep one order) and is signed by its key, which is a P-521 key.

use time::OffsetDateTime;

use crate::x509::{names_match_unordered, verify_chain, Certificate, Crl, ObjectIdentifier};
use crate::{Error, Result};

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_STATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
const OID_LOCALITY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const OID_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const IBM: &str = "International Business Machines Corporation";
const SIGNING_OU_SUFFIX: &str = "Key Signing Service";

/// The P-521 host key of a host-key document.
pub fn host_public_key(hkd: &Certificate) -> Result<p521::PublicKey> {
    let spki = &hkd.inner().tbs_certificate.subject_public_key_info;
    let curve: Option<ObjectIdentifier> = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as().ok());
    if spki.algorithm.oid != OID_EC_PUBLIC_KEY || curve != Some(OID_SECP521R1) {
        return Err(Error::Unsupported {
            what: "host key",
            found: format!("{} on {}", spki.algorithm.oid, curve.map_or_else(|| "no curve".into(), |c| c.to_string())),
        });
    }
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| Error::field("host-key document", "subjectPublicKey", "not a whole number of bytes"))?;
    p521::PublicKey::from_sec1_bytes(bits)
        .map_err(|_| Error::field("host-key document", "subjectPublicKey", "not a P-521 point"))
}

fn subject_attributes(cert: &Certificate) -> Vec<(ObjectIdentifier, String)> {
    cert.inner()
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .map(|atv| (atv.oid, String::from_utf8_lossy(atv.value.value()).into_owned()))
        .collect()
}

/// Whether `cert`'s subject is that of an IBM Z host-key signing certificate.
pub fn is_ibm_signing_key(cert: &Certificate) -> bool {
    let attrs = subject_attributes(cert);
    let value = |oid: ObjectIdentifier| attrs.iter().find(|(o, _)| *o == oid).map(|(_, v)| v.as_str());
    attrs.len() == 6
        && value(OID_COUNTRY) == Some("US")
        && value(OID_STATE) == Some("New York")
        && matches!(value(OID_LOCALITY), Some("Poughkeepsie" | "Armonk"))
        && value(OID_ORGANIZATION) == Some(IBM)
        && value(OID_COMMON_NAME) == Some(IBM)
        && value(OID_ORGANIZATIONAL_UNIT).is_some_and(|ou| ou.ends_with(SIGNING_OU_SUFFIX))
}

/// Verifies host-key documents against a verified IBM signing certificate.
#[derive(Debug, Clone)]
pub struct HostKeyVerifier {
    signing_key: Certificate,
    crls: Vec<Crl>,
    at: OffsetDateTime,
}

impl HostKeyVerifier {
    /// Verify the IBM signing certificate among `certificates` (the others
    /// are intermediate CAs) up to one of `roots`, with `crls`, at `at`.
    pub fn new(roots: &[Certificate], certificates: &[Certificate], crls: &[Crl], at: OffsetDateTime) -> Result<Self> {
        let mut signing: Vec<&Certificate> = certificates.iter().filter(|c| is_ibm_signing_key(c)).collect();
        let signing_key = match signing.len() {
            1 => signing.remove(0).clone(),
            0 => {
                return Err(Error::MissingEndorsement(format!(
                    "IBM Z host-key signing certificate (subject C=US, ST=New York, L=Poughkeepsie or Armonk, \
                     O and CN \"{IBM}\", OU ending in \"{SIGNING_OU_SUFFIX}\") among {} certificate(s)",
                    certificates.len()
                )))
            }
            n => {
                return Err(Error::field(
                    "SE configuration",
                    "certificates",
                    format!("expected one IBM Z host-key signing certificate, found {n}"),
                ))
            }
        };
        let intermediates: Vec<Certificate> = certificates.iter().filter(|c| !is_ibm_signing_key(c)).cloned().collect();
        let path = verify_chain(&signing_key, &intermediates, roots, at)?;

        // Accept the CRLs issued by a certificate of the path, after checking them.
        let mut verified = Vec::new();
        for crl in crls {
            let issuer = path
                .iter()
                .find(|c| names_match_unordered(&crl.inner().tbs_cert_list.issuer, &c.inner().tbs_certificate.subject));
            let Some(issuer) = issuer else { continue };
            if !crl.is_signed_by(issuer) {
                return Err(Error::BadSignature {
                    what: format!("CRL of {}", crl.issuer_name()),
                    key: issuer.display_name(),
                });
            }
            crl.check_validity(at)?;
            verified.push(crl.clone());
        }
        // Every certificate below the root must be covered and not revoked.
        for cert in path.iter().take(path.len().saturating_sub(1)) {
            check_crls(cert, &verified)?;
        }
        Ok(HostKeyVerifier { signing_key, crls: verified, at })
    }

    /// The verified IBM signing certificate.
    pub fn signing_key(&self) -> &Certificate {
        &self.signing_key
    }

    /// Verify one host-key document and return its host key.
    pub fn verify(&self, hkd: &Certificate) -> Result<p521::PublicKey> {
        hkd.check_validity(self.at)?;
        let issuer_ok = names_match_unordered(
            &hkd.inner().tbs_certificate.issuer,
            &self.signing_key.inner().tbs_certificate.subject,
        );
        if !issuer_ok || !hkd.is_signed_by(&self.signing_key) {
            return Err(Error::ChainBroken { subject: hkd.subject(), issuer: self.signing_key.subject() });
        }
        check_crls(hkd, &self.crls)?;
        host_public_key(hkd)
    }
}

/// Fail unless a CRL of `cert`'s issuer is among `crls` and none lists `cert`.
fn check_crls(cert: &Certificate, crls: &[Crl]) -> Result<()> {
    let issuer = &cert.inner().tbs_certificate.issuer;
    let mut covering =
        crls.iter().filter(|crl| names_match_unordered(&crl.inner().tbs_cert_list.issuer, issuer)).peekable();
    if covering.peek().is_none() {
        return Err(Error::MissingEndorsement(format!("CRL issued by {issuer} (for {})", cert.subject())));
    }
    covering.try_for_each(|crl| crl.check_not_revoked(cert))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read_vector;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);

    fn cert(name: &str) -> Certificate {
        Certificate::from_pem_or_der(&read_vector(&format!("attestation/se/pki/{name}"))).unwrap()
    }
    fn crl(name: &str) -> Crl {
        Crl::from_pem_or_der(&read_vector(&format!("attestation/se/pki/{name}"))).unwrap()
    }
    fn roots() -> (Vec<Certificate>, Vec<Crl>) {
        let bundle = read_vector("attestation/se/pki/root_ca.chained.crt");
        (Certificate::all_from_pem(&bundle).unwrap(), Crl::all_from_pem(&bundle).unwrap())
    }
    fn verifier_with(ibm: &str, ibm_crl: &str, inter_crl: &str) -> Result<HostKeyVerifier> {
        let (roots, mut crls) = roots();
        crls.push(crl(ibm_crl));
        crls.push(crl(inter_crl));
        HostKeyVerifier::new(&roots, &[cert("inter_ca.crt"), cert(ibm)], &crls, AT)
    }
    fn verifier() -> HostKeyVerifier {
        verifier_with("ibm.crt", "ibm.crl", "inter_ca.crl").unwrap()
    }

    #[test]
    fn chained_root_bundle_holds_root_and_its_crl() {
        let (roots, crls) = roots();
        assert_eq!(roots.len(), 1);
        assert_eq!(crls.len(), 1);
        assert_eq!(roots[0], cert("root_ca.crt"));
    }

    #[test]
    fn host_key_documents_verify() {
        let v = verifier();
        assert!(v.signing_key().subject().contains("IBM Z Host Key Signing Service"));
        let key = v.verify(&cert("host.crt")).unwrap();
        assert_eq!(key, host_public_key(&cert("host.crt")).unwrap());
        v.verify(&cert("host2.crt")).unwrap();
    }

    #[test]
    fn revoked_expired_and_foreign_host_keys_are_rejected() {
        let v = verifier();
        let err = v.verify(&cert("host_rev.crt")).unwrap_err();
        match &err {
            Error::Revoked { serial, .. } => assert_eq!(serial, "322f2eb49851cabe5b6ef0019c29ff43dfef2749"),
            other => panic!("unexpected {other}"),
        }
        let err = v.verify(&cert("host_crt_expired.crt")).unwrap_err();
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
        // Valid before it expired, apart from the signing key's own dates.
        let err = v.verify(&cert("host_invalid_signing_key.crt")).unwrap_err();
        assert!(matches!(err, Error::ChainBroken { .. }), "{err}");
        // A host key document is not an IBM signing key.
        assert!(!is_ibm_signing_key(&cert("host.crt")));
        assert!(!is_ibm_signing_key(&cert("inter_ca.crt")));
        assert!(is_ibm_signing_key(&cert("ibm.crt")));
    }

    #[test]
    fn bad_signing_certificates_are_rejected() {
        let err = verifier_with("ibm_expired.crt", "ibm.crl", "inter_ca.crl").unwrap_err();
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
        let err = verifier_with("ibm_wrong_subject.crt", "ibm.crl", "inter_ca.crl").unwrap_err();
        assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
        let (roots, crls) = roots();
        // Two signing keys.
        let err =
            HostKeyVerifier::new(&roots, &[cert("inter_ca.crt"), cert("ibm.crt"), cert("ibm_expired.crt")], &crls, AT)
                .unwrap_err();
        assert!(matches!(err, Error::MalformedField { .. }), "{err}");
        // No intermediate: the signing key does not reach the root.
        let err = HostKeyVerifier::new(&roots, &[cert("ibm.crt")], &crls, AT).unwrap_err();
        assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
        // A root that did not issue the chain.
        let stranger =
            Certificate::from_pem_or_der(&read_vector("attestation/se/s390tools-keys-host.pem.crt")).unwrap();
        let err = HostKeyVerifier::new(&[stranger], &[cert("inter_ca.crt"), cert("ibm.crt")], &crls, AT).unwrap_err();
        assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
    }

    #[test]
    fn bad_crls_are_rejected() {
        for name in ["ibm_outdated_early.crl", "ibm_outdated_late.crl"] {
            let err = verifier_with("ibm.crt", name, "inter_ca.crl").unwrap_err();
            assert!(matches!(err, Error::CollateralExpired { .. }), "{name}: {err}");
        }
        let err = verifier_with("ibm.crt", "ibm_invalid_hash.crl", "inter_ca.crl").unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        let err = verifier_with("ibm.crt", "ibm_wrong_issuer.crl", "inter_ca.crl").unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        let err = verifier_with("ibm.crt", "ibm.crl", "inter_ca.invalid_signer.crl").unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        let err = verifier_with("ibm.crt", "ibm.crl", "inter_ca.invalid_date.crl").unwrap_err();
        assert!(matches!(err, Error::CollateralExpired { .. }), "{err}");
    }

    #[test]
    fn missing_crls_are_rejected() {
        let (roots, root_crls) = roots();
        // No CRL for the IBM signing key's issuer.
        let err = HostKeyVerifier::new(&roots, &[cert("inter_ca.crt"), cert("ibm.crt")], &root_crls, AT).unwrap_err();
        assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
        // No CRL of the signing key: host key documents cannot be checked.
        let mut crls = root_crls.clone();
        crls.push(crl("inter_ca.crl"));
        let v = HostKeyVerifier::new(&roots, &[cert("inter_ca.crt"), cert("ibm.crt")], &crls, AT).unwrap();
        assert!(matches!(v.verify(&cert("host.crt")), Err(Error::MissingEndorsement(_))));
    }

    #[test]
    fn verification_time_matters() {
        let (roots, mut crls) = roots();
        crls.push(crl("ibm.crl"));
        crls.push(crl("inter_ca.crl"));
        let certs = [cert("inter_ca.crt"), cert("ibm.crt")];
        // Before the PKI existed.
        let err = HostKeyVerifier::new(&roots, &certs, &crls, datetime!(2023-01-01 0:00 UTC)).unwrap_err();
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
        // The expired host key document was valid in 2022, but the signing key was not issued yet.
        let err = HostKeyVerifier::new(&roots, &certs, &crls, datetime!(2022-06-01 0:00 UTC)).unwrap_err();
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    }

    #[test]
    fn non_p521_keys_are_not_host_keys() {
        let err = host_public_key(&cert("ibm.crt")).unwrap_err();
        assert!(matches!(err, Error::Unsupported { what: "host key", .. }), "{err}");
    }
}
