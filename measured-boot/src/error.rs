//! The one error type of `arca-measure`.

/// Why a launch could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The firmware image could not be parsed.
    #[error("firmware: {0}")]
    Firmware(#[from] arca_firmware::Error),
}
