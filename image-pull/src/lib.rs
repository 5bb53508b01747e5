//! Guest image pull for confidential pods.
//!
//! The guest does not trust the host with its container image: it pulls the
//! image from the registry itself ([`registry`]), checks every blob against
//! its digest while it streams, enforces the owner's signature policy
//! ([`signature`]), decrypts encrypted layers with keys the caller supplies
//! (from the KBS in a pod; [`decrypt`]), and unpacks the layers into a rootfs
//! without letting a hostile layer write outside it ([`unpack`]). The image
//! config becomes the pieces of an OCI runtime spec ([`spec`]).
//!
//! A pull goes: reference → manifest (platform chosen from an index) →
//! signature policy → layers (download, verify, decrypt, decompress and
//! unpack streamed together; blobs kept in a content-addressed [`store`]) →
//! rootfs + runtime spec ([`mod@pull`]). [`erofs`] turns the same pull into
//! verity-protected EROFS images, one per layer or one for the image.

pub mod auth;
pub mod compression;
pub mod decrypt;
pub mod erofs;
pub mod error;
pub mod nydus;
pub mod progress;
pub mod pull;
pub mod registry;
pub mod signature;
pub mod spec;
pub mod store;
pub mod unpack;
pub mod volume;

pub use error::Error;
pub use pull::{parse_reference, pull, PullOptions};
pub use registry::{Platform, RegistryClient, RegistryOptions};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
