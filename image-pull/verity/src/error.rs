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
    /// A device-mapper command failed (device-mapper exists only in a
    /// Linux kernel built with it: not on every host).
    #[error("device-mapper {operation} of {name:?} failed: {source}")]
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
