//! Trusted roots for DCAP chains.

use crate::x509::Certificate;
use crate::Result;

/// DER of Intel's "Intel SGX Root CA" (valid to 2049-12-31), the anchor of
/// every PCK, TCB-signing and CRL chain of Intel DCAP.
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("intel-sgx-root-ca.der");

/// The built-in Intel SGX Root CA.
pub fn intel_sgx_root_ca() -> Result<Certificate> {
    Certificate::from_der(INTEL_SGX_ROOT_CA_DER)
}

/// The roots to trust: the built-in Intel root plus every certificate of
/// `extra` (PEM or DER), if given.
pub fn trusted_roots(extra: Option<&[u8]>) -> Result<Vec<Certificate>> {
    let mut roots = vec![intel_sgx_root_ca()?];
    if let Some(bytes) = extra {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            roots.extend(Certificate::all_from_pem(bytes)?);
        } else {
            roots.push(Certificate::from_der(bytes)?);
        }
    }
    Ok(roots)
}
