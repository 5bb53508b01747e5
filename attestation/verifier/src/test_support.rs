//! Helpers shared by unit tests.

use std::path::PathBuf;

/// The shared test vectors: `$ARCA_VECTORS` or `../shared/vectors` from the
/// repository root.
pub fn vectors_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ARCA_VECTORS") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// Read a file below the vectors directory.
pub fn read_vector(rel: &str) -> Vec<u8> {
    let path = vectors_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
