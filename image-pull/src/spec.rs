//! Image config → OCI runtime spec pieces (placeholder until implemented).
