//! Base64 variants used by JOSE: base64url without padding for every JOSE
//! member, and standard base64 with padding for `x5c` certificates.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::{Error, Result};

/// base64url; encodes without padding and accepts input with or without it.
const URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url-encode without padding.
pub(crate) fn url_encode(bytes: impl AsRef<[u8]>) -> String {
    URL.encode(bytes)
}

/// Decode base64url (padding optional); `what` names the member for errors.
pub(crate) fn url_decode(what: &'static str, text: &str) -> Result<Vec<u8>> {
    URL.decode(text).map_err(|e| Error::malformed(what, format!("not base64url: {e}")))
}

/// Standard base64 with padding (RFC 7517 `x5c`).
pub(crate) fn std_decode(what: &'static str, text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::malformed(what, format!("not standard base64: {e}")))
}
