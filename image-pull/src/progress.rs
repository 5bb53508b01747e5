//! Progress of a pull, reported through a caller's callback (the CLI draws
//! it with `indicatif` on a terminal and prints one line per layer otherwise).

use std::sync::Arc;

/// One step of a pull.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Progress {
    /// The manifest was resolved.
    Resolved {
        /// The platform manifest's digest.
        manifest_digest: String,
        /// Number of layers.
        layers: usize,
        /// Sum of the layer blob sizes.
        total_bytes: u64,
    },
    /// A layer was found in the store and is not downloaded.
    LayerCached {
        /// Layer position (0 = bottom).
        index: usize,
        /// Layer digest.
        digest: String,
        /// Blob size.
        size: u64,
    },
    /// A layer download started.
    LayerDownloading {
        /// Layer position.
        index: usize,
        /// Layer digest.
        digest: String,
        /// Blob size.
        size: u64,
    },
    /// Bytes of a layer arrived (a delta, not a total).
    Bytes {
        /// Layer position.
        index: usize,
        /// Bytes received since the last event.
        bytes: u64,
    },
    /// A layer download finished and its digest matched.
    LayerDownloaded {
        /// Layer position.
        index: usize,
        /// Layer digest.
        digest: String,
    },
    /// A layer was applied to the rootfs.
    LayerApplied {
        /// Layer position.
        index: usize,
        /// Layer digest.
        digest: String,
        /// Tar entries applied.
        entries: u64,
    },
}

/// The callback type.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What a finished pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// Digest of the platform manifest pulled.
    pub manifest_digest: String,
    /// Layers in the image.
    pub layers: usize,
    /// Layers downloaded by this pull.
    pub layers_downloaded: usize,
    /// Layers found in the store (put there earlier or by a concurrent pull).
    pub layers_reused: usize,
    /// Blob bytes this pull downloaded.
    pub bytes_downloaded: u64,
}
