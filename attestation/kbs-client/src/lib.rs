//! Client side of the Confidential Containers KBS protocol.
//!
//! `arca-kbs-client` attests a TEE to a Key Broker Service with the RCAR
//! handshake (Request, Challenge, Attestation, Response, protocol 0.4.0),
//! keeps the attestation token until it expires, fetches resources and
//! decrypts them with an ephemeral TEE key (EC P-256 unless told otherwise),
//! and drives the KBS admin API (resources, policies, reference values) with
//! Bearer admin tokens it can also mint.
//!
//! - [`Attester`] is where evidence comes from; [`SampleAttester`] is the
//!   software TEE for development. Hardware attesters live with the guest
//!   components.
//! - [`KbsClient`] runs the handshake and fetches resources, re-attesting
//!   on HTTP 401 (up to [`client::MAX_RESOURCE_ATTEMPTS`] attempts) and
//!   stopping on any other refusal; [`PassportClient`] fetches with a token
//!   obtained elsewhere.
//! - [`AdminClient`] stores resources and policies; [`mint_admin_token`]
//!   signs admin JWTs (EdDSA from an Ed25519 key).
//!
//! Every reply is read with a size limit; KBS error documents come back as
//! [`Error::Kbs`] with their type name (`PolicyDeny`, `TokenNotFound`, …).
//! Tokens, admin tokens and resources are zeroized when dropped and never
//! logged.
//!
//! What this crate does not do: command-line handling (that is `arca`),
//! evidence collection from hardware, or any server-side decision.

pub mod admin;
pub mod attester;
pub mod client;
mod error;
pub mod http;
pub mod policies;
pub mod token;

pub use admin::{mint_admin_token, AdminClient, AdminCredential, AdminTokenOptions, ReferenceValueMessage};
pub use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
pub use attester::{Attester, SampleAttester};
pub use client::{ClientOptions, KbsClient, PassportClient, SealedResource};
pub use error::{AttesterError, Error, Result};
pub use http::HttpOptions;
pub use token::Token;
