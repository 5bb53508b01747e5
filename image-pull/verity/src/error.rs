//! The one error type of `arca-verity`.

/// Everything formatting, verifying or activating a verity device can fail
/// with. Messages name the file, block or field concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside what dm-verity accepts.
    #[error("invalid verity parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter, as `veritysetup` names it.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A block of the data or of the hash tree does not match the digest
    /// that covers it: the first bad block met while checking.
    #[error("{area} block {block}{} (byte {offset}) is corrupt: {reason}", level.map(|l| format!(" of hash level {l}")).unwrap_or_default())]
    Corrupt {
        /// Whether the bad block is a data block or a hash-tree block.
        area: Area,
        /// The block's index: data block number, or index within its hash level.
        block: u64,
        /// The hash level of a tree block (0 = the level over the data); `None` for data blocks.
        level: Option<u32>,
        /// The block's byte offset in its file.
        offset: u64,
        /// What was expected and what was found.
        reason: String,
    },
    /// A superblock is missing, malformed, or disagrees with the parameters given.
    #[error("verity superblock at byte {offset}: {field}: expected {expected}, found {found}")]
    Superblock {
        /// Byte offset of the superblock in the hash file.
        offset: u64,
        /// The field concerned, as the on-disk structure names it.
        field: &'static str,
        /// What was expected there.
        expected: String,
        /// What is there.
        found: String,
    },
    /// A file is shorter than the verity parameters say it must be.
    #[error("{path}: expected at least {expected} bytes, found {found}")]
    Truncated {
        /// The file concerned.
        path: String,
        /// Bytes the parameters need.
        expected: u64,
        /// Bytes the file has.
        found: u64,
    },
    /// A device-mapper command failed (device-mapper exists only in a
    /// Linux kernel built with it: not on every host).
    #[error("device-mapper {operation} of {name:?} failed")]
    DeviceMapper {
        /// The command (create, load table, resume, remove).
        operation: &'static str,
        /// The device's name.
        name: String,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
}

/// Which part of a verity device a bad block is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The data image.
    Data,
    /// The hash tree (or the root hash over its top block).
    Hash,
}

impl std::fmt::Display for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Data => "data",
            Self::Hash => "hash",
        })
    }
}
