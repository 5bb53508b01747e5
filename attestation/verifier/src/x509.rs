//! X.509 certificates and CRLs as the TEE endorsement chains use them.
//!
//! `x509-cert` parses; this module adds what no maintained crate offers for
//! these chains together: signature checks for every algorithm the vendors
//! use (AMD RSA-PSS/SHA-384 and ECDSA P-384, Intel ECDSA P-256, IBM and JWK
//! RSA PKCS#1 v1.5), chain building to pinned roots, **validity dates at an
//! explicit verification time**, and CRL checks. General web-PKI
//! verifiers (webpki, rustls) reject RSA-PSS roots and custom extensions, so
//! they do not fit here.

use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::{Error, Result};

/// Largest certificate or CRL this module parses.
pub const MAX_DER_SIZE: usize = 1 << 20;

/// Longest chain walked from a leaf to a root.
const MAX_CHAIN_DEPTH: usize = 8;

mod oid {
    use der::asn1::ObjectIdentifier as Oid;
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
}

pub use der::asn1::ObjectIdentifier;

/// A public key from a certificate, in a form that can verify signatures.
#[derive(Clone, Debug)]
pub enum PublicKey {
    /// ECDSA over NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA over NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// RSA (PKCS#1 v1.5 or PSS, per signature algorithm).
    Rsa(rsa::RsaPublicKey),
}

/// Hash used by a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// How a signature was made: padding scheme and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureScheme {
    /// ECDSA with the given hash; signature DER-encoded (X.509) or raw r‖s.
    Ecdsa(SignatureHash),
    /// RSA PKCS#1 v1.5 with the given hash.
    RsaPkcs1(SignatureHash),
    /// RSA-PSS with the given hash, MGF1 with the same hash, salt = hash size.
    RsaPss(SignatureHash),
}

impl SignatureHash {
    fn digest(self, msg: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            SignatureHash::Sha256 => sha2::Sha256::digest(msg).to_vec(),
            SignatureHash::Sha384 => sha2::Sha384::digest(msg).to_vec(),
            SignatureHash::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        }
    }

    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            oid::SHA256 => Some(SignatureHash::Sha256),
            oid::SHA384 => Some(SignatureHash::Sha384),
            oid::SHA512 => Some(SignatureHash::Sha512),
            _ => None,
        }
    }
}

impl PublicKey {
    /// Key from a DER SubjectPublicKeyInfo structure.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::field("public key", "subjectPublicKey", "not a whole number of bytes"))?;
        match spki.algorithm.oid {
            oid::EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as().ok())
                    .ok_or_else(|| Error::field("public key", "namedCurve", "missing"))?;
                match curve {
                    oid::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P256)
                        .map_err(|e| Error::field("public key", "P-256 point", e.to_string())),
                    oid::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P384)
                        .map_err(|e| Error::field("public key", "P-384 point", e.to_string())),
                    other => Err(Error::Unsupported { what: "elliptic curve", found: other.to_string() }),
                }
            }
            oid::RSA_ENCRYPTION | oid::RSA_PSS => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                rsa::RsaPublicKey::from_pkcs1_der(bits)
                    .map(PublicKey::Rsa)
                    .map_err(|e| Error::field("public key", "RSA key", e.to_string()))
            }
            other => Err(Error::Unsupported { what: "public key algorithm", found: other.to_string() }),
        }
    }

    /// Verify `signature` over `message`.
    ///
    /// ECDSA signatures may be DER or fixed-size big-endian `r‖s`.
    /// Returns `false` on any failure; callers turn it into their error.
    pub fn verify(&self, scheme: SignatureScheme, message: &[u8], signature: &[u8]) -> bool {
        match scheme {
            SignatureScheme::Ecdsa(hash) => match self.ring_ecdsa(hash) {
                Some((fixed, der, point)) => {
                    let check = |alg| ring::signature::UnparsedPublicKey::new(alg, &point).verify(message, signature);
                    // A fixed-size r‖s is tried first at its exact length; a
                    // DER signature of that same length is possible, if rare.
                    let raw_len = 2 * ((point.len() - 1) / 2);
                    match fixed {
                        Some(fixed) if signature.len() == raw_len => {
                            check(fixed).is_ok() || der.is_some_and(|alg| check(alg).is_ok())
                        }
                        // ring has no fixed-size form for this pairing.
                        None if signature.len() == raw_len => {
                            self.verify_ecdsa_prehash(&hash.digest(message), signature)
                        }
                        _ => der.is_some_and(|alg| check(alg).is_ok()),
                    }
                }
                None => self.verify_ecdsa_prehash(&hash.digest(message), signature),
            },
            SignatureScheme::RsaPkcs1(hash) => self.verify_rsa(hash, false, message, signature),
            SignatureScheme::RsaPss(hash) => self.verify_rsa(hash, true, message, signature),
        }
    }

    /// The `ring` algorithms (fixed-size and DER signature encodings) and the
    /// SEC1 point for an ECDSA check, when `ring` covers the curve and hash.
    /// `ring` verifies several times faster than the portable curve crates
    /// (it spends no constant-time effort on public values), which matters
    /// for the DCAP chain's many signatures.
    #[allow(clippy::type_complexity)]
    fn ring_ecdsa(
        &self,
        hash: SignatureHash,
    ) -> Option<(
        Option<&'static ring::signature::EcdsaVerificationAlgorithm>,
        Option<&'static ring::signature::EcdsaVerificationAlgorithm>,
        Vec<u8>,
    )> {
        use ring::signature as rs;
        Some(match (self, hash) {
            (PublicKey::P256(k), SignatureHash::Sha256) => (
                Some(&rs::ECDSA_P256_SHA256_FIXED),
                Some(&rs::ECDSA_P256_SHA256_ASN1),
                k.to_encoded_point(false).as_bytes().to_vec(),
            ),
            (PublicKey::P256(k), SignatureHash::Sha384) => {
                (None, Some(&rs::ECDSA_P256_SHA384_ASN1), k.to_encoded_point(false).as_bytes().to_vec())
            }
            (PublicKey::P384(k), SignatureHash::Sha384) => (
                Some(&rs::ECDSA_P384_SHA384_FIXED),
                Some(&rs::ECDSA_P384_SHA384_ASN1),
                k.to_encoded_point(false).as_bytes().to_vec(),
            ),
            (PublicKey::P384(k), SignatureHash::Sha256) => {
                (None, Some(&rs::ECDSA_P384_SHA256_ASN1), k.to_encoded_point(false).as_bytes().to_vec())
            }
            _ => return None,
        })
    }

    /// Verify an ECDSA signature (DER or raw `r‖s`) over an already computed digest.
    pub fn verify_ecdsa_prehash(&self, digest: &[u8], signature: &[u8]) -> bool {
        use signature::hazmat::PrehashVerifier;
        match self {
            PublicKey::P256(key) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
                sig.is_ok_and(|s| key.verify_prehash(digest, &s).is_ok())
            }
            PublicKey::P384(key) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p384::ecdsa::Signature::from_slice(signature));
                sig.is_ok_and(|s| key.verify_prehash(digest, &s).is_ok())
            }
            PublicKey::Rsa(_) => false,
        }
    }

    /// Verify a raw `r‖s` ECDSA P-256 signature with SHA-256 over `message`
    /// (the form Intel DCAP structures use). `false` for other keys.
    pub fn verify_p256_raw(&self, message: &[u8], signature: &[u8]) -> bool {
        matches!(self, PublicKey::P256(_))
            && signature.len() == 64
            && self.verify(SignatureScheme::Ecdsa(SignatureHash::Sha256), message, signature)
    }

    fn verify_rsa(&self, hash: SignatureHash, pss: bool, message: &[u8], signature: &[u8]) -> bool {
        let PublicKey::Rsa(key) = self else {
            return false;
        };
        let digest = hash.digest(message);
        let result = match (pss, hash) {
            (false, SignatureHash::Sha256) => key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, signature),
            (false, SignatureHash::Sha384) => key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), &digest, signature),
            (false, SignatureHash::Sha512) => key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), &digest, signature),
            (true, SignatureHash::Sha256) => key.verify(rsa::Pss::new::<sha2::Sha256>(), &digest, signature),
            (true, SignatureHash::Sha384) => key.verify(rsa::Pss::new::<sha2::Sha384>(), &digest, signature),
            (true, SignatureHash::Sha512) => key.verify(rsa::Pss::new::<sha2::Sha512>(), &digest, signature),
        };
        result.is_ok()
    }
}

/// The signature scheme named by an X.509 `AlgorithmIdentifier`.
pub fn scheme_of(alg: &AlgorithmIdentifierOwned) -> Result<SignatureScheme> {
    let unsupported = || Error::Unsupported { what: "signature algorithm", found: alg.oid.to_string() };
    Ok(match alg.oid {
        oid::ECDSA_SHA256 => SignatureScheme::Ecdsa(SignatureHash::Sha256),
        oid::ECDSA_SHA384 => SignatureScheme::Ecdsa(SignatureHash::Sha384),
        oid::ECDSA_SHA512 => SignatureScheme::Ecdsa(SignatureHash::Sha512),
        oid::SHA256_WITH_RSA => SignatureScheme::RsaPkcs1(SignatureHash::Sha256),
        oid::SHA384_WITH_RSA => SignatureScheme::RsaPkcs1(SignatureHash::Sha384),
        oid::SHA512_WITH_RSA => SignatureScheme::RsaPkcs1(SignatureHash::Sha512),
        oid::RSA_PSS => {
            let params: rsa::pkcs1::RsaPssParams =
                alg.parameters.as_ref().and_then(|p| p.decode_as().ok()).ok_or_else(unsupported)?;
            let hash = SignatureHash::from_oid(params.hash.oid).ok_or_else(unsupported)?;
            SignatureScheme::RsaPss(hash)
        }
        _ => return Err(unsupported()),
    })
}

fn to_datetime(t: &x509_cert::time::Time) -> OffsetDateTime {
    let secs = t.to_unix_duration().as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Split PEM text into the DER bodies of its blocks with the given label.
fn pem_blocks(text: &[u8], label: &str) -> Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(text).map_err(|_| Error::field("PEM", "text", "not UTF-8"))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start..];
        let stop = after.find(&end).ok_or_else(|| Error::field("PEM", label.to_string(), "BEGIN without END"))?;
        let block = &after[..stop + end.len()];
        let (_, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| Error::field("PEM", label.to_string(), e.to_string()))?;
        out.push(der);
        rest = &after[stop + end.len()..];
    }
    Ok(out)
}

/// A parsed X.509 certificate.
#[derive(Clone, Debug)]
pub struct Certificate {
    cert: x509_cert::Certificate,
    tbs_der: Vec<u8>,
    der: Vec<u8>,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Certificate {
    /// Parse one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_DER_SIZE {
            return Err(Error::TooLarge { what: "certificate", found: der.len(), limit: MAX_DER_SIZE });
        }
        let cert =
            x509_cert::Certificate::from_der(der).map_err(|e| Error::field("certificate", "DER", e.to_string()))?;
        let tbs_der =
            cert.tbs_certificate.to_der().map_err(|e| Error::field("certificate", "tbsCertificate", e.to_string()))?;
        Ok(Certificate { cert, tbs_der, der: der.to_vec() })
    }

    /// Parse one certificate given as PEM or DER.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(b"-----") || bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let mut all = Self::all_from_pem(bytes)?;
            if all.len() != 1 {
                return Err(Error::field(
                    "certificate",
                    "PEM",
                    format!("expected one certificate, found {}", all.len()),
                ));
            }
            Ok(all.remove(0))
        } else {
            Self::from_der(bytes)
        }
    }

    /// Parse every `CERTIFICATE` block of a PEM bundle, in order.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        if pem.len() > MAX_DER_SIZE * 4 {
            return Err(Error::TooLarge { what: "PEM bundle", found: pem.len(), limit: MAX_DER_SIZE * 4 });
        }
        pem_blocks(pem, "CERTIFICATE")?.iter().map(|d| Self::from_der(d)).collect()
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed structure, for callers that need fields not exposed here.
    pub fn inner(&self) -> &x509_cert::Certificate {
        &self.cert
    }

    /// Subject as an RFC 4514 string.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// Issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }

    /// The subject's common name, if any.
    pub fn common_name(&self) -> Option<String> {
        common_name(&self.cert.tbs_certificate.subject)
    }

    /// The issuer's common name, if any.
    pub fn issuer_common_name(&self) -> Option<String> {
        common_name(&self.cert.tbs_certificate.issuer)
    }

    /// Serial number as lowercase hex (big-endian, as encoded).
    pub fn serial_hex(&self) -> String {
        hex::encode(self.cert.tbs_certificate.serial_number.as_bytes())
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        to_datetime(&self.cert.tbs_certificate.validity.not_before)
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        to_datetime(&self.cert.tbs_certificate.validity.not_after)
    }

    /// Fail unless `at` lies inside the validity window (inclusive).
    pub fn check_validity(&self, at: OffsetDateTime) -> Result<()> {
        let (not_before, not_after) = (self.not_before(), self.not_after());
        if at < not_before || at > not_after {
            return Err(Error::CertificateExpired { subject: self.display_name(), at, not_before, not_after });
        }
        Ok(())
    }

    /// A short name for messages: the CN when there is one, else the subject.
    pub fn display_name(&self) -> String {
        self.common_name().unwrap_or_else(|| self.subject())
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_spki(&self.cert.tbs_certificate.subject_public_key_info)
    }

    /// The raw `extnValue` content of the extension with this OID.
    pub fn extension(&self, id: &ObjectIdentifier) -> Option<&[u8]> {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| &e.extn_id == id)
            .map(|e| e.extn_value.as_bytes())
    }

    /// Whether this certificate's signature verifies with `issuer`'s key
    /// (names are not compared).
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        let Ok(key) = issuer.public_key() else {
            return false;
        };
        let Ok(scheme) = scheme_of(&self.cert.signature_algorithm) else {
            return false;
        };
        let Some(sig) = self.cert.signature.as_bytes() else {
            return false;
        };
        key.verify(scheme, &self.tbs_der, sig)
    }

    /// Fail unless `issuer` issued this certificate: names match and the
    /// signature verifies.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<()> {
        if self.cert.tbs_certificate.issuer == issuer.cert.tbs_certificate.subject && self.is_signed_by(issuer) {
            Ok(())
        } else {
            Err(Error::ChainBroken { subject: self.display_name(), issuer: issuer.display_name() })
        }
    }
}

fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        if atv.oid != oid::COMMON_NAME {
            return None;
        }
        let any = &atv.value;
        der::asn1::Utf8StringRef::try_from(any)
            .map(|s| s.as_str().to_string())
            .or_else(|_| der::asn1::PrintableStringRef::try_from(any).map(|s| s.as_str().to_string()))
            .or_else(|_| der::asn1::Ia5StringRef::try_from(any).map(|s| s.as_str().to_string()))
            .ok()
    })
}

/// Whether two names hold the same attribute types and values, in any order
/// and regardless of the string type they are encoded with.
///
/// IBM's host-key signing CRLs name their issuer with the attributes of the
/// signing certificate's subject in another order; the SE host-key checks
/// compare names this way.
pub fn names_match_unordered(a: &x509_cert::name::Name, b: &x509_cert::name::Name) -> bool {
    fn attributes(name: &x509_cert::name::Name) -> Vec<(ObjectIdentifier, Vec<u8>)> {
        let mut out: Vec<_> =
            name.0.iter().flat_map(|rdn| rdn.0.iter()).map(|atv| (atv.oid, atv.value.value().to_vec())).collect();
        out.sort();
        out
    }
    attributes(a) == attributes(b)
}

/// Walk from `leaf` through `intermediates` to one of `roots`, checking each
/// signature and each validity window at `at`. Returns the path, leaf first,
/// root last.
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    roots: &[Certificate],
    at: OffsetDateTime,
) -> Result<Vec<Certificate>> {
    let mut path = vec![leaf.clone()];
    let mut current = leaf.clone();
    for _ in 0..MAX_CHAIN_DEPTH {
        current.check_validity(at)?;
        if let Some(root) = roots.iter().find(|r| **r == current) {
            let _ = root;
            return Ok(path);
        }
        let issued = |c: &&Certificate| {
            c.cert.tbs_certificate.subject == current.cert.tbs_certificate.issuer && current.is_signed_by(c)
        };
        if let Some(root) = roots.iter().find(issued) {
            root.check_validity(at)?;
            path.push(root.clone());
            return Ok(path);
        }
        match intermediates.iter().filter(|c| **c != current).find(issued) {
            Some(next) => {
                path.push(next.clone());
                current = next.clone();
            }
            None => {
                return Err(Error::UntrustedRoot {
                    subject: current.display_name(),
                    detail: format!(
                        "no issuer among {} intermediate(s) and {} root(s) signs it",
                        intermediates.len(),
                        roots.len()
                    ),
                })
            }
        }
    }
    Err(Error::UntrustedRoot { subject: leaf.display_name(), detail: format!("chain longer than {MAX_CHAIN_DEPTH}") })
}

/// A parsed certificate revocation list.
#[derive(Clone, Debug)]
pub struct Crl {
    crl: CertificateList,
    tbs_der: Vec<u8>,
}

impl Crl {
    /// Parse one DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_DER_SIZE {
            return Err(Error::TooLarge { what: "CRL", found: der.len(), limit: MAX_DER_SIZE });
        }
        let crl = CertificateList::from_der(der).map_err(|e| Error::field("CRL", "DER", e.to_string()))?;
        let tbs_der = crl.tbs_cert_list.to_der().map_err(|e| Error::field("CRL", "tbsCertList", e.to_string()))?;
        Ok(Crl { crl, tbs_der })
    }

    /// Parse one CRL given as PEM (`X509 CRL`) or DER.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let mut blocks = pem_blocks(bytes, "X509 CRL")?;
            if blocks.len() != 1 {
                return Err(Error::field("CRL", "PEM", format!("expected one CRL, found {}", blocks.len())));
            }
            Self::from_der(&blocks.remove(0))
        } else {
            Self::from_der(bytes)
        }
    }

    /// Issuer common name (or full name), for messages.
    pub fn issuer_name(&self) -> String {
        common_name(&self.crl.tbs_cert_list.issuer).unwrap_or_else(|| self.crl.tbs_cert_list.issuer.to_string())
    }

    /// When the CRL was issued.
    pub fn this_update(&self) -> OffsetDateTime {
        to_datetime(&self.crl.tbs_cert_list.this_update)
    }

    /// When the CRL stops being current (none: never).
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.crl.tbs_cert_list.next_update.as_ref().map(to_datetime)
    }

    /// Fail unless `at` lies in `[thisUpdate, nextUpdate]`.
    pub fn check_validity(&self, at: OffsetDateTime) -> Result<()> {
        let issued = self.this_update();
        let next = self.next_update();
        if at < issued || next.is_some_and(|n| at > n) {
            return Err(Error::CollateralExpired {
                what: format!("CRL of {}", self.issuer_name()),
                at,
                issued,
                next_update: next.unwrap_or(issued),
            });
        }
        Ok(())
    }

    /// Parse every `X509 CRL` block of a PEM bundle, in order (other blocks,
    /// such as certificates, are skipped).
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        if pem.len() > MAX_DER_SIZE * 4 {
            return Err(Error::TooLarge { what: "PEM bundle", found: pem.len(), limit: MAX_DER_SIZE * 4 });
        }
        pem_blocks(pem, "X509 CRL")?.iter().map(|d| Self::from_der(d)).collect()
    }

    /// The parsed structure, for callers that need fields not exposed here.
    pub fn inner(&self) -> &CertificateList {
        &self.crl
    }

    /// Whether this CRL's signature verifies with `issuer`'s key (names are
    /// not compared).
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        (|| {
            let key = issuer.public_key().ok()?;
            let scheme = scheme_of(&self.crl.signature_algorithm).ok()?;
            let sig = self.crl.signature.as_bytes()?;
            Some(key.verify(scheme, &self.tbs_der, sig))
        })()
        .unwrap_or(false)
    }

    /// Fail unless `issuer` signed this CRL (names and signature).
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<()> {
        let signed = self.crl.tbs_cert_list.issuer == issuer.cert.tbs_certificate.subject && self.is_signed_by(issuer);
        if signed {
            Ok(())
        } else {
            Err(Error::BadSignature { what: format!("CRL of {}", self.issuer_name()), key: issuer.display_name() })
        }
    }

    /// Whether this CRL was issued by the issuer of `cert` (by name).
    pub fn covers(&self, cert: &Certificate) -> bool {
        self.crl.tbs_cert_list.issuer == cert.cert.tbs_certificate.issuer
    }

    /// Fail if `cert`'s serial number is listed.
    pub fn check_not_revoked(&self, cert: &Certificate) -> Result<()> {
        let serial = &cert.cert.tbs_certificate.serial_number;
        let listed = self
            .crl
            .tbs_cert_list
            .revoked_certificates
            .as_ref()
            .is_some_and(|list| list.iter().any(|r| &r.serial_number == serial));
        if listed {
            Err(Error::Revoked { subject: cert.display_name(), serial: cert.serial_hex() })
        } else {
            Ok(())
        }
    }

    /// Number of revoked serials listed.
    pub fn revoked_count(&self) -> usize {
        self.crl.tbs_cert_list.revoked_certificates.as_ref().map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn vectors() -> std::path::PathBuf {
        crate::test_support::vectors_dir()
    }

    #[test]
    fn amd_rsa_pss_chain_verifies_and_dates_are_checked() {
        let pem = std::fs::read(vectors().join("attestation/snp/amd-milan-ask-ark-asvk.pem")).unwrap();
        let certs = Certificate::all_from_pem(&pem).unwrap();
        assert_eq!(certs.len(), 3);
        let (ask, ark, asvk) = (&certs[0], &certs[1], &certs[2]);
        assert_eq!(ark.common_name().as_deref(), Some("ARK-Milan"));
        ark.verify_issued_by(ark).unwrap();
        ask.verify_issued_by(ark).unwrap();
        asvk.verify_issued_by(ark).unwrap();
        assert!(ark.verify_issued_by(ask).is_err());
        let path = verify_chain(ask, &[], std::slice::from_ref(ark), datetime!(2026-11-15 0:00 UTC)).unwrap();
        assert_eq!(path.len(), 2);
        let err = verify_chain(ask, &[], std::slice::from_ref(ark), datetime!(2019-01-01 0:00 UTC)).unwrap_err();
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    }

    #[test]
    fn intel_root_is_self_signed_p256() {
        let der = std::fs::read(vectors().join("attestation/tdx/intel-sgx-root-ca.der")).unwrap();
        let root = Certificate::from_der(&der).unwrap();
        assert!(matches!(root.public_key().unwrap(), PublicKey::P256(_)));
        root.verify_issued_by(&root).unwrap();
        assert_eq!(root.common_name().as_deref(), Some("Intel SGX Root CA"));
    }

    #[test]
    fn names_compare_without_order() {
        use std::str::FromStr;
        let a = x509_cert::name::Name::from_str("CN=IBM,O=IBM Corp,C=US").unwrap();
        let b = x509_cert::name::Name::from_str("C=US,CN=IBM,O=IBM Corp").unwrap();
        let c = x509_cert::name::Name::from_str("C=US,CN=IBM,O=IBM Corp,L=Armonk").unwrap();
        assert!(names_match_unordered(&a, &b));
        assert!(!names_match_unordered(&a, &c));
        assert_ne!(a, b);
    }

    /// Every ECDSA pairing and encoding takes the right path (ring or the
    /// portable crates) and rejects a wrong message.
    #[test]
    fn ecdsa_raw_and_der_signatures_for_each_curve_and_hash() {
        use signature::hazmat::PrehashSigner;
        let k256 = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let k384 = p384::ecdsa::SigningKey::from_slice(&[9u8; 48]).unwrap();
        let pub256 = PublicKey::P256(*k256.verifying_key());
        let pub384 = PublicKey::P384(*k384.verifying_key());
        let msg = b"attestation";
        for hash in [SignatureHash::Sha256, SignatureHash::Sha384, SignatureHash::Sha512] {
            let digest = hash.digest(msg);
            let s256: p256::ecdsa::Signature = k256.sign_prehash(&digest).unwrap();
            let s384: p384::ecdsa::Signature = k384.sign_prehash(&digest).unwrap();
            for (key, raw, der) in [
                (&pub256, s256.to_bytes().to_vec(), s256.to_der().as_bytes().to_vec()),
                (&pub384, s384.to_bytes().to_vec(), s384.to_der().as_bytes().to_vec()),
            ] {
                for sig in [&raw, &der] {
                    assert!(key.verify(SignatureScheme::Ecdsa(hash), msg, sig), "{hash:?} {}", sig.len());
                    assert!(!key.verify(SignatureScheme::Ecdsa(hash), b"attestatioN", sig));
                    assert!(!key.verify(SignatureScheme::RsaPss(hash), msg, sig));
                }
            }
        }
        let raw = k256.sign_prehash(&SignatureHash::Sha256.digest(msg)).map(|s: p256::ecdsa::Signature| s.to_bytes());
        let raw = raw.unwrap();
        assert!(pub256.verify_p256_raw(msg, &raw));
        assert!(!pub384.verify_p256_raw(msg, &raw));
        assert!(!pub256.verify_p256_raw(msg, &raw[..63]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Certificate::from_der(&[0x30, 0x82, 0xff]).is_err());
        assert!(Certificate::from_pem_or_der(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").is_err());
        assert!(Crl::from_der(b"").is_err());
    }
}
