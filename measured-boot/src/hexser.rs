//! Serde helpers: bytes as lower-case hex strings.

/// Serializes bytes as a lower-case hex string.
pub(crate) fn bytes<S: serde::Serializer, B: AsRef<[u8]>>(bytes: &B, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

/// Serializes optional bytes as a lower-case hex string or null.
pub(crate) fn opt_bytes<S: serde::Serializer, B: AsRef<[u8]>>(
    bytes: &Option<B>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => serializer.serialize_str(&hex::encode(b)),
        None => serializer.serialize_none(),
    }
}
