//! The parameters of a dm-verity hash tree (format version 1).

use crate::{Error, Result};

/// The hash of a verity tree. dm-verity takes any kernel hash; these are the
/// ones `veritysetup` users ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (20-byte digests), for old images only.
    Sha1,
    /// SHA-256, the default.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The name in the superblock, the table line and `veritysetup --hash`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// The algorithm named `name` (as `veritysetup --hash` takes it).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            _ => Err(Error::InvalidParameter {
                name: "hash",
                reason: format!("{name:?} is not one of sha1, sha256, sha512"),
            }),
        }
    }
}

/// Everything needed to rebuild or check a verity tree except the root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// Hash of the tree.
    pub hash: HashAlgorithm,
    /// Data block size in bytes: a power of two from 512 to the page size or more.
    pub data_block_size: u32,
    /// Hash block size in bytes: a power of two from 512 up.
    pub hash_block_size: u32,
    /// Number of data blocks covered.
    pub data_blocks: u64,
    /// Salt hashed before each block (format version 1); may be empty.
    pub salt: Vec<u8>,
    /// Byte offset of the hash area (superblock, if any, then the tree) in the hash file.
    pub hash_offset: u64,
    /// Whether a superblock precedes the tree.
    pub superblock: bool,
    /// UUID written into the superblock.
    pub uuid: [u8; 16],
}

/// Largest block size accepted (dm-verity itself allows up to the page size
/// for data blocks; `veritysetup` accepts up to 512 KiB).
pub const MAX_BLOCK_SIZE: u32 = 512 * 1024;

/// Largest salt (the superblock has room for 256 bytes).
pub const MAX_SALT_LEN: usize = 256;

impl VerityParams {
    /// Checks the block sizes, salt length and hash offset alignment.
    pub fn validate(&self) -> Result<()> {
        for (name, size) in [("data-block-size", self.data_block_size), ("hash-block-size", self.hash_block_size)] {
            if !(512..=MAX_BLOCK_SIZE).contains(&size) || !size.is_power_of_two() {
                return Err(Error::InvalidParameter {
                    name,
                    reason: format!("{size} is not a power of two from 512 to {MAX_BLOCK_SIZE}"),
                });
            }
        }
        if self.salt.len() > MAX_SALT_LEN {
            return Err(Error::InvalidParameter {
                name: "salt",
                reason: format!("{} bytes is more than {MAX_SALT_LEN}", self.salt.len()),
            });
        }
        if !self.hash_offset.is_multiple_of(512) {
            return Err(Error::InvalidParameter {
                name: "hash-offset",
                reason: format!("{} is not a multiple of 512", self.hash_offset),
            });
        }
        Ok(())
    }
}
