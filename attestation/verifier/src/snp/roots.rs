//! The AMD SEV-SNP certificate authorities, built in.
//!
//! Per generation AMD publishes (KDS `cert_chain` and `vlek/v1/<gen>/cert_chain`)
//! an ARK (AMD Root Key, self-signed), the ASK that issues VCEKs and the
//! ASVK that issues VLEKs, both signed by the ARK. All are RSA-PSS/SHA-384.
//! The files under `roots/` hold them in the order ASK, ARK, ASVK. The ARKs
//! are the trust anchors: a chain given with the evidence can add
//! intermediates but never a root.

use std::sync::OnceLock;

use super::report::{Processor, SigningKey};
use crate::x509::Certificate;
use crate::{Error, Result};

const MILAN_PEM: &str = include_str!("roots/milan.pem");
const GENOA_PEM: &str = include_str!("roots/genoa.pem");
const TURIN_PEM: &str = include_str!("roots/turin.pem");

/// The AMD certificate authorities of one processor generation.
#[derive(Debug, Clone)]
pub struct AmdRoots {
    /// The generation.
    pub processor: Processor,
    /// AMD SEV Signing Key: issues VCEKs (CN `SEV-<Gen>`).
    pub ask: Certificate,
    /// AMD Root Key, self-signed (CN `ARK-<Gen>`).
    pub ark: Certificate,
    /// AMD SEV VLEK Signing Key: issues VLEKs (CN `SEV-VLEK-<Gen>`).
    pub asvk: Certificate,
}

impl AmdRoots {
    /// The intermediate that issues keys of `kind`.
    pub fn issuer_of(&self, kind: SigningKey) -> &Certificate {
        match kind {
            SigningKey::Vcek => &self.ask,
            SigningKey::Vlek => &self.asvk,
        }
    }

    /// The common name of the intermediate that issues keys of `kind`.
    pub fn issuer_name(processor: Processor, kind: SigningKey) -> String {
        match kind {
            SigningKey::Vcek => format!("SEV-{}", processor.product_name()),
            SigningKey::Vlek => format!("SEV-VLEK-{}", processor.product_name()),
        }
    }
}

fn load(processor: Processor, pem: &str) -> std::result::Result<AmdRoots, String> {
    let certs = Certificate::all_from_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let [ask, ark, asvk]: [Certificate; 3] =
        certs.try_into().map_err(|v: Vec<Certificate>| format!("expected 3 certificates, found {}", v.len()))?;
    let name = processor.product_name();
    for (cert, expected) in
        [(&ask, format!("SEV-{name}")), (&ark, format!("ARK-{name}")), (&asvk, format!("SEV-VLEK-{name}"))]
    {
        if cert.common_name().as_deref() != Some(expected.as_str()) {
            return Err(format!("expected {expected}, found {}", cert.display_name()));
        }
    }
    Ok(AmdRoots { processor, ask, ark, asvk })
}

/// The built-in AMD certificate authorities of `processor`.
pub fn builtin(processor: Processor) -> Result<&'static AmdRoots> {
    static ROOTS: OnceLock<std::result::Result<[AmdRoots; 3], String>> = OnceLock::new();
    let all = ROOTS.get_or_init(|| {
        Ok([load(Processor::Milan, MILAN_PEM)?, load(Processor::Genoa, GENOA_PEM)?, load(Processor::Turin, TURIN_PEM)?])
    });
    let all = all.as_ref().map_err(|e| Error::field("built-in AMD certificates", "PEM", e.clone()))?;
    all.iter()
        .find(|r| r.processor == processor)
        .ok_or_else(|| Error::Unsupported { what: "SNP processor", found: format!("{processor:?}") })
}

/// Whether `cert` is one of the built-in ARKs.
pub fn is_builtin_ark(cert: &Certificate) -> Result<bool> {
    for p in Processor::ALL {
        if builtin(p)?.ark == *cert {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read_vector;

    #[test]
    fn builtins_equal_the_published_amd_certificates() {
        for p in Processor::ALL {
            let name = p.product_name().to_ascii_lowercase();
            let pem = read_vector(&format!("attestation/snp/amd-{name}-ask-ark-asvk.pem"));
            let vector = Certificate::all_from_pem(&pem).unwrap();
            let roots = builtin(p).unwrap();
            let ders: Vec<&[u8]> = vec![roots.ask.der(), roots.ark.der(), roots.asvk.der()];
            let vector_ders: Vec<&[u8]> = vector.iter().map(Certificate::der).collect();
            assert_eq!(ders, vector_ders, "{name}");
            roots.ark.verify_issued_by(&roots.ark).unwrap();
            roots.ask.verify_issued_by(&roots.ark).unwrap();
            roots.asvk.verify_issued_by(&roots.ark).unwrap();
            assert!(is_builtin_ark(&roots.ark).unwrap());
            assert!(!is_builtin_ark(&roots.ask).unwrap());
        }
    }
}
