//! The Arca Key Broker Service.
//!
//! This crate holds the parts of the KBS that do not speak HTTP:
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

pub mod config;
mod error;
pub mod policy;
pub mod rvps;
pub mod storage;

pub use error::{Error, Result};
