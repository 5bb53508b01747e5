//! dm-verity for Arca: one implementation for the guest rootfs, for
//! verity-protected EROFS layers and for checking images built by others.
//!
//! A data image is cut into data blocks; each block is hashed with a salt
//! into the leaves of a hash tree whose levels are packed into hash blocks,
//! up to one root hash. The kernel's dm-verity target checks every block it
//! reads against that tree, so a host that changes a disk under a running
//! guest is caught on the next read. The root hash itself must come from
//! something measured (the kernel command line, a signed manifest).
//!
//! - [`VerityParams`] and [`HashAlgorithm`]: the parameters of a tree, as
//!   `veritysetup` names them.
//! - [`format()`]: build the tree and superblock byte for byte as
//!   `veritysetup format` does (streaming, parallel across cores).
//! - [`verify()`] and [`verify_block`]: check an image against a root hash in
//!   user space, naming the first bad block.
//! - [`read_superblock`]: the parameters recorded in a hash file.
//! - [`table`]: the kernel's `verity` table line, Kata's
//!   `kernel_verity_params` and its `dm-mod.create=` command line.
//! - `dm` (Linux): open and close a dm-verity device through the
//!   device-mapper ioctls, as `veritysetup open|close` do.
//!
//! It only knows format version 1 (the Chrome OS version 0 layout is refused).
//!
//! This is a crate of its own, not a module of `arca-image`, because the
//! guest agent and the rootfs image builder need verity without the
//! registry, HTTP and crypto stack of the image pull.

#[cfg(target_os = "linux")]
pub mod dm;
pub mod error;
pub mod format;
pub mod params;
pub mod superblock;
pub mod table;
mod tree;
pub mod verify;

pub use error::{Area, Error};
pub use format::{format, FormatOptions, Formatted};
pub use params::{HashAlgorithm, VerityParams};
pub use superblock::read_superblock;
pub use verify::{verify, verify_block};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
