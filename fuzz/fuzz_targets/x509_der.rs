//! Certificates, PEM bundles and CRLs from arbitrary bytes.
#![no_main]

use arca_verifier::x509::{Certificate, Crl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::from_der(data) {
        let _ = cert.public_key();
        let _ = cert.is_signed_by(&cert);
        let _ = cert.subject();
    }
    let _ = Certificate::all_from_pem(data);
    let _ = Crl::from_pem_or_der(data);
});
