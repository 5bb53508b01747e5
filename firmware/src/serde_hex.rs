//! Serde helpers: bytes as lower-case hex strings.

/// Serializes bytes as a lower-case hex string.
pub(crate) fn bytes<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}
