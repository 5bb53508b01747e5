//! The Arca Key Broker Service.
//!
//! The KBS releases secrets (resources) to guests that prove, through the
//! RCAR handshake of the Confidential Containers KBS protocol (version
//! 0.4.0, wire-compatible with trustee's KBS and guest-components), that
//! they run in a genuine TEE whose measurements the policies accept.
//!
//! Parts that do not speak HTTP:
//! - [`config`]: the TOML configuration (sections named like trustee's where
//!   the meaning is the same) and the data directory;
//! - [`storage`]: the [`storage::Store`] trait with a crash-safe filesystem
//!   store and an in-memory store;
//! - [`rvps`]: reference values (what measurements are expected), ingested
//!   from `sample` and `arca` messages, with expiry;
//! - [`policy`]: Rego attestation and resource policies evaluated with
//!   `regorus`, with embedded defaults that deny unless the evidence is
//!   affirming;
//! - [`Error`]: the one error type of the crate; its documentation says which
//!   KBS protocol error each variant becomes.
//!
//! The HTTP side:
//! - [`server`]: state, router, listeners (axum, rustls);
//! - [`session`]: bounded, expiring RCAR sessions;
//! - [`attest`]: `/auth` and `/attest` (evidence verification through
//!   `arca-verifier`, appraisal, EAR token);
//! - [`token`]: EAR token issue and verification (passport mode);
//! - [`admin`]: admin authorization (Bearer JWT, role → path rules);
//! - [`metrics`]: Prometheus metrics;
//! - [`api_error`]: trustee-shaped error replies.
//!
//! Not here: the client side (crate `arca-kbs-client`) and evidence
//! verification itself (crate `arca-verifier`).

pub mod admin;
mod admin_api;
pub mod api_error;
pub mod attest;
pub mod config;
mod error;
pub mod keys;
pub mod metrics;
pub mod policy;
mod resource;
pub mod rvps;
pub mod server;
pub mod session;
pub mod storage;
pub mod tls;
pub mod token;

pub use error::{Error, Result};
