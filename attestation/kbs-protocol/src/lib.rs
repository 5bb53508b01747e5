//! The KBS protocol as Arca's key broker and its clients speak it.
//!
//! `arca-kbs-protocol` holds everything both ends of the KBS
//! Request–Challenge–Attestation–Response (RCAR) protocol must agree on
//! byte for byte: the JSON wire messages ([`messages`]), the JOSE pieces the
//! protocol uses — compact JWS tokens ([`jws`]), JWKs and their `x5c`
//! endorsement ([`jwk`]), flattened JWE resource responses ([`jwe`], which
//! also opens the multi-recipient JWEs ocicrypt wraps image layer keys in) — the
//! key pair a TEE generates to receive secrets ([`tee_key`]), the claims of
//! the EAR attestation token ([`ear`]) and of admin tokens ([`admin`]).
//!
//! The JOSE composition (header handling, Concat KDF, key wrapping order,
//! signature encodings) is written here on top of RustCrypto primitives
//! (`p256`, `p384`, `p521`, `rsa`, `aes-gcm`, `aes-kw`, `ed25519-dalek`, `sha2`, `sha1`):
//! no pure-Rust JOSE crate without OpenSSL or aws-lc covers RSA-OAEP-256,
//! RSA1_5 and ECDH-ES+A256KW on P-256 and P-521 together with ES256/EdDSA
//! signing, so the few hundred lines of composition live here, tested
//! against RFC vectors and against Python's `jwcrypto` as an independent
//! peer.
//!
//! What this crate does not do: HTTP, sessions, async I/O, evidence
//! verification (that is `arca-verifier`) or policy (that is the KBS).
//! Every parser takes untrusted input, enforces explicit size limits and
//! returns [`Error`] instead of panicking; secret keys are zeroized on drop
//! and never printed by `Debug`.

pub mod admin;
mod b64;
pub mod ear;
mod error;
pub mod jwe;
pub mod jwk;
pub mod jws;
pub mod messages;
pub mod tee_key;

pub use error::{Error, Result};

/// The KBS protocol version this crate speaks; a server accepts only
/// requests carrying exactly this version.
pub const PROTOCOL_VERSION: &str = "0.4.0";
