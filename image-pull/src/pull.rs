//! The pull pipeline: reference → manifest (platform) → signature policy →
//! layers → `DEST/rootfs` + `DEST/config.json`.
//!
//! Layer downloads run in parallel (bounded), each written into the blob
//! store; layers are applied in order as soon as each is available. The
//! bottom layer streams straight from the network into the unpacker (teed
//! into the store), so unpacking starts with the first bytes. For each layer:
//! blob (digest verified) → `decrypt` (`+encrypted` only) →
//! `compression::decoder` → `unpack::apply_layer`, into
//! `DEST/rootfs.partial`, which becomes `DEST/rootfs` only after every layer's
//! blob digest, decryption HMAC and diff id checked out.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use oci_client::Reference;
use oci_spec::image::Descriptor;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use crate::progress::{Progress, ProgressFn, PullReport};
use crate::registry::{RegistryClient, ResolvedImage};
use crate::store::BlobStore;
use crate::{Error, Result};

/// Default number of layer downloads running at once.
pub const DEFAULT_PARALLEL_DOWNLOADS: usize = 3;

/// How to pull.
#[derive(Clone)]
pub struct PullOptions {
    /// The blob store; `None`: a temporary one under DEST, removed afterwards.
    pub store: Option<PathBuf>,
    /// Signature policy the image must satisfy; `None`: no signature check.
    pub policy: Option<Arc<crate::signature::Policy>>,
    /// Keys for encrypted layers; `None`: an encrypted layer is an error.
    pub decrypt: Option<Arc<crate::decrypt::DecryptConfig>>,
    /// Unpack limits and permissions.
    pub unpack: crate::unpack::UnpackOptions,
    /// Layer downloads running at once (at least 1).
    pub parallel_downloads: usize,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            store: None,
            policy: None,
            decrypt: None,
            unpack: crate::unpack::UnpackOptions::default(),
            parallel_downloads: DEFAULT_PARALLEL_DOWNLOADS,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("store", &self.store)
            .field("policy", &self.policy.is_some())
            .field("decrypt", &self.decrypt.is_some())
            .field("parallel_downloads", &self.parallel_downloads)
            .finish()
    }
}

/// Parses an image reference (`host/repo[:tag][@digest]`).
pub fn parse_reference(reference: &str) -> Result<Reference> {
    reference
        .parse()
        .map_err(|e: oci_client::ParseError| Error::Reference { reference: reference.into(), reason: e.to_string() })
}

/// Pulls `reference` into `dest`: `dest/rootfs` and `dest/config.json`.
/// `dest/rootfs` must not exist yet.
pub async fn pull(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    dest: &Path,
    options: &PullOptions,
) -> Result<PullReport> {
    pull_resolved(client, reference, dest, options).await.map(|(_, report)| report)
}

/// [`pull`], also returning what it resolved (for the record of an EROFS build).
pub(crate) async fn pull_resolved(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    dest: &Path,
    options: &PullOptions,
) -> Result<(Arc<ResolvedImage>, PullReport)> {
    let rootfs = dest.join("rootfs");
    std::fs::create_dir_all(dest).map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
    let _dest_lock = lock_dest(dest)?;
    if rootfs.symlink_metadata().is_ok() {
        return Err(Error::io(
            format!("{} exists; pull into a new destination", rootfs.display()),
            std::io::ErrorKind::AlreadyExists.into(),
        ));
    }
    let image = resolve_checked(client, reference, options).await?;
    let partial = dest.join("rootfs.partial");
    remove_tree(&partial).await;
    std::fs::create_dir(&partial).map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
    let targets = vec![partial.clone(); image.manifest.layers().len()];
    let result = match apply_all(client, image, targets, dest, options).await {
        Ok((image, report)) => finish(&image, &partial, &rootfs, dest).await.map(|()| (image, report)),
        Err(e) => Err(e),
    };
    if result.is_err() {
        remove_tree(&partial).await;
    }
    result
}

/// An image pulled with each layer unpacked into a directory of its own.
pub(crate) struct LayerDirs {
    /// What the pull resolved (manifest, config, digests).
    pub image: Arc<ResolvedImage>,
    /// `WORK/layer-<i>`, lowest layer first.
    pub dirs: Vec<PathBuf>,
}

/// Pulls `reference` as [`pull`] does (signature policy, decryption, every
/// blob digest and diff id checked) but unpacks each layer into a directory
/// of its own, `WORK/layer-<i>`, with `options.unpack` (for layers to stack
/// with overlayfs: [`crate::unpack::WhiteoutMode::Overlay`]). The
/// directories exist only once every layer checked out; on an error the
/// caller removes WORK.
pub(crate) async fn pull_layer_dirs(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    work: &Path,
    options: &PullOptions,
) -> Result<LayerDirs> {
    std::fs::create_dir_all(work).map_err(|e| Error::io(format!("creating {}", work.display()), e))?;
    let _lock = lock_dest(work)?;
    let image = resolve_checked(client, reference, options).await?;
    let count = image.manifest.layers().len();
    let partial: Vec<PathBuf> = (0..count).map(|i| work.join(format!("layer-{i}.partial"))).collect();
    for dir in &partial {
        remove_tree(dir).await;
        std::fs::create_dir(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let (image, _) = apply_all(client, image, partial.clone(), work, options).await?;
    let mut dirs = Vec::with_capacity(count);
    for (i, from) in partial.iter().enumerate() {
        let to = work.join(format!("layer-{i}"));
        remove_tree(&to).await;
        std::fs::rename(from, &to).map_err(|e| Error::io(format!("renaming to {}", to.display()), e))?;
        dirs.push(to);
    }
    Ok(LayerDirs { image, dirs })
}

/// Resolves the image, checks it against the signature policy and that the
/// config has a diff id per layer.
async fn resolve_checked(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    options: &PullOptions,
) -> Result<ResolvedImage> {
    let image = client.resolve(reference).await?;
    if let Some(policy) = &options.policy {
        policy.evaluate(reference, &image.top_digest, client.as_ref()).await?;
    }
    let layers = image.manifest.layers();
    let diff_ids = image.config.rootfs().diff_ids();
    if diff_ids.len() != layers.len() {
        return Err(Error::Config(format!(
            "the manifest lists {} layers but the config {} diff ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    emit(
        &options.progress,
        Progress::Resolved {
            manifest_digest: image.manifest_digest.clone(),
            layers: layers.len(),
            total_bytes: layers.iter().map(|l| l.size()).sum(),
        },
    );
    Ok(image)
}

/// Downloads every layer and applies layer `i` onto `targets[i]` (all the
/// same directory for one rootfs), with a temporary blob store under `work`
/// unless the options name one.
async fn apply_all(
    client: &Arc<RegistryClient>,
    image: ResolvedImage,
    targets: Vec<PathBuf>,
    work: &Path,
    options: &PullOptions,
) -> Result<(Arc<ResolvedImage>, PullReport)> {
    let layers = image.manifest.layers().clone();
    let diff_ids = image.config.rootfs().diff_ids().clone();
    let (store, temp_store) = match &options.store {
        Some(dir) => (BlobStore::open(dir)?, None),
        None => {
            let dir = work.join(".blobs.partial");
            (BlobStore::open(&dir)?, Some(dir))
        }
    };
    let pipeline = Pipeline {
        client: client.clone(),
        image: Arc::new(image),
        store,
        targets,
        options: options.clone(),
        counters: Arc::new(Counters::default()),
    };
    let result = pipeline.run(&layers, &diff_ids).await;
    if let Some(dir) = temp_store {
        remove_tree(&dir).await;
    }
    result?;
    let c = &pipeline.counters;
    let report = PullReport {
        manifest_digest: pipeline.image.manifest_digest.clone(),
        layers: layers.len(),
        layers_downloaded: c.downloaded.load(Ordering::Relaxed),
        layers_reused: c.reused.load(Ordering::Relaxed),
        bytes_downloaded: c.bytes.load(Ordering::Relaxed),
    };
    Ok((pipeline.image, report))
}

/// One pull at a time per destination: `DEST/.pull.lock`, held (flock)
/// until the pull ends; a second pull into the same DEST fails at once
/// instead of sharing `rootfs.partial`.
fn lock_dest(dest: &Path) -> Result<std::fs::File> {
    let path = dest.join(".pull.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|e| Error::io(format!("another pull into {} is running", dest.display()), e.into()))?;
    Ok(file)
}

async fn finish(image: &ResolvedImage, partial: &Path, rootfs: &Path, dest: &Path) -> Result<()> {
    let spec = crate::spec::runtime_spec(&image.config, partial)?;
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Config(format!("serializing the spec: {e}")))?;
    let config = dest.join("config.json");
    let tmp = dest.join("config.json.partial");
    std::fs::write(&tmp, json).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(partial, rootfs).map_err(|e| Error::io(format!("renaming to {}", rootfs.display()), e))?;
    std::fs::rename(&tmp, &config).map_err(|e| Error::io(format!("renaming to {}", config.display()), e))?;
    Ok(())
}

/// Removes `path` and all below it if it exists, off the async threads; a
/// failure is logged, not returned (used on paths being given up).
pub(crate) async fn remove_tree(path: &Path) {
    let path = path.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        if path.symlink_metadata().is_ok() {
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove");
            }
        }
    })
    .await;
}

fn emit(progress: &Option<ProgressFn>, event: Progress) {
    if let Some(f) = progress {
        f(&event);
    }
}

#[derive(Default)]
struct Counters {
    downloaded: AtomicUsize,
    reused: AtomicUsize,
    bytes: AtomicU64,
}

struct Pipeline {
    client: Arc<RegistryClient>,
    image: Arc<ResolvedImage>,
    store: BlobStore,
    /// Where each layer is applied (the one rootfs, or a directory per layer).
    targets: Vec<PathBuf>,
    options: PullOptions,
    counters: Arc<Counters>,
}

/// Aborts the download tasks still running when a pull ends early.
struct AbortOnDrop(Vec<Option<JoinHandle<Result<()>>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for handle in self.0.iter().flatten() {
            handle.abort();
        }
    }
}

impl Pipeline {
    async fn run(&self, layers: &[Descriptor], diff_ids: &[String]) -> Result<()> {
        let permits = Arc::new(Semaphore::new(self.options.parallel_downloads.max(1)));
        let mut fetches = AbortOnDrop((0..layers.len()).map(|_| None).collect());
        for (index, layer) in layers.iter().enumerate().skip(1) {
            let task = Fetch {
                client: self.client.clone(),
                source: self.image.source.clone(),
                store: self.store.clone(),
                digest: layer.digest().to_string(),
                size: layer.size(),
                index,
                progress: self.options.progress.clone(),
                counters: self.counters.clone(),
            };
            let permits = permits.clone();
            fetches.0[index] = Some(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.map_err(|_| Error::Config("pull cancelled".into()))?;
                task.into_store().await
            }));
        }
        for (index, layer) in layers.iter().enumerate() {
            let key = self.layer_key(layer).await?;
            if index == 0 {
                self.apply_streamed(layer, &diff_ids[0], key).await?;
            } else {
                let handle = fetches.0[index].take().ok_or_else(|| Error::Config("layer task missing".into()))?;
                handle.await.map_err(|e| Error::io("layer download task", std::io::Error::other(e)))??;
                self.apply_from_store(index, layer, &diff_ids[index], key).await?;
            }
        }
        Ok(())
    }

    async fn layer_key(&self, layer: &Descriptor) -> Result<Option<crate::decrypt::LayerKey>> {
        let media_type = layer.media_type().to_string();
        if !crate::decrypt::is_encrypted(&media_type) {
            return Ok(None);
        }
        let config = self.options.decrypt.as_ref().ok_or_else(|| {
            Error::Decrypt(format!("layer {} is encrypted and no decryption key was given", layer.digest()))
        })?;
        let annotations = layer.annotations().clone().unwrap_or_default();
        Ok(Some(crate::decrypt::layer_key(&annotations, config).await?))
    }

    /// The bottom layer: straight from the network into the unpacker,
    /// teed into the store; unless the store has it (or another pull is
    /// fetching it: then this waits for it and reads it from the store).
    async fn apply_streamed(
        &self,
        layer: &Descriptor,
        diff_id: &str,
        key: Option<crate::decrypt::LayerKey>,
    ) -> Result<()> {
        let digest = layer.digest().to_string();
        let lock = self.store.lock(&digest).await?;
        if self.store.contains(&digest) {
            drop(lock);
            self.counters.reused.fetch_add(1, Ordering::Relaxed);
            emit(
                &self.options.progress,
                Progress::LayerCached { index: 0, digest: digest.clone(), size: layer.size() },
            );
            return self.apply_from_store(0, layer, diff_id, key).await;
        }
        let (tx, rx) = mpsc::channel(32);
        let fetch = Fetch {
            client: self.client.clone(),
            source: self.image.source.clone(),
            store: self.store.clone(),
            digest: digest.clone(),
            size: layer.size(),
            index: 0,
            progress: self.options.progress.clone(),
            counters: self.counters.clone(),
        };
        let feeder = tokio::spawn(async move {
            let result = fetch.download(Some(&tx)).await;
            if let Err(e) = &result {
                let _ = tx.send(Err(e.to_string())).await;
            }
            drop(lock);
            result
        });
        let reader = ChannelReader { rx, chunk: bytes::Bytes::new() };
        let applied = self.apply_reader(0, layer, diff_id, key, Box::new(reader)).await;
        // A bad blob is reported as such, not as the unpack error it caused.
        let fed = feeder.await.map_err(|e| Error::io("layer download task", std::io::Error::other(e)))?;
        fed?;
        applied
    }

    async fn apply_from_store(
        &self,
        index: usize,
        layer: &Descriptor,
        diff_id: &str,
        key: Option<crate::decrypt::LayerKey>,
    ) -> Result<()> {
        let reader = self.store.open_verified(layer.digest().as_ref())?;
        let reader = std::io::BufReader::with_capacity(256 << 10, reader);
        self.apply_reader(index, layer, diff_id, key, Box::new(reader)).await
    }

    async fn apply_reader(
        &self,
        index: usize,
        layer: &Descriptor,
        diff_id: &str,
        key: Option<crate::decrypt::LayerKey>,
        reader: Box<dyn Read + Send + 'static>,
    ) -> Result<()> {
        let media_type = layer.media_type().to_string();
        let digest = layer.digest().to_string();
        let diff_id = diff_id.to_owned();
        let rootfs = self.targets.get(index).cloned().ok_or_else(|| Error::Config("layer target missing".into()))?;
        let unpack = self.options.unpack.clone();
        let digest2 = digest.clone();
        let stats = tokio::task::spawn_blocking(move || {
            apply_blocking(reader, &media_type, key, &rootfs, &digest2, &diff_id, &unpack)
        })
        .await
        .map_err(|e| Error::io("layer unpack task", std::io::Error::other(e)))??;
        emit(&self.options.progress, Progress::LayerApplied { index, digest, entries: stats.entries });
        Ok(())
    }
}

fn apply_blocking(
    reader: Box<dyn Read + Send + 'static>,
    media_type: &str,
    key: Option<crate::decrypt::LayerKey>,
    rootfs: &Path,
    digest: &str,
    diff_id: &str,
    unpack: &crate::unpack::UnpackOptions,
) -> Result<crate::unpack::LayerStats> {
    let (reader, media_type) = match key {
        Some(key) => (crate::decrypt::decrypting_reader(key, reader), crate::decrypt::decrypted_media_type(media_type)),
        None => (reader, media_type),
    };
    let decoded = crate::compression::decoder(media_type, reader)?;
    let mut tar = DiffIdReader { inner: decoded, hasher: Sha256::new() };
    let stats = crate::unpack::apply_layer(&mut tar, rootfs, digest, unpack).map_err(unwrap_stream_error)?;
    // `apply_layer` reads its stream to the end; this guard keeps the rule
    // here, where it matters: the diff id, the decryption HMAC and the
    // store's digest check see the whole stream before the layer counts as
    // applied (it reads nothing when the unpacker already drained it).
    std::io::copy(&mut tar, &mut std::io::sink()).map_err(|e| io_to_error(e, format!("reading layer {digest}")))?;
    let actual = format!("sha256:{}", hex::encode(tar.hasher.finalize()));
    if actual != diff_id {
        return Err(Error::DigestMismatch {
            what: format!("diff id of layer {digest}"),
            expected: diff_id.into(),
            actual,
        });
    }
    Ok(stats)
}

/// An error that came out of a stream (digest, HMAC) is reported as itself
/// rather than as the unpack error it caused.
fn unwrap_stream_error(e: Error) -> Error {
    match e {
        Error::Io { context, source } => io_to_error(source, context),
        other => other,
    }
}

fn io_to_error(e: std::io::Error, context: String) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(err) = inner.downcast::<Error>() {
                return *err;
            }
        }
        return Error::Config("unreachable stream error".into());
    }
    Error::io(context, e)
}

struct DiffIdReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for DiffIdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The unpacker's side of a streamed layer: chunks from the download task;
/// EOF only once the download verified the digest and committed the blob.
struct ChannelReader {
    rx: mpsc::Receiver<std::result::Result<bytes::Bytes, String>>,
    chunk: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(message)) => return Err(std::io::Error::other(message)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

struct Fetch {
    client: Arc<RegistryClient>,
    source: Reference,
    store: BlobStore,
    digest: String,
    size: u64,
    index: usize,
    progress: Option<ProgressFn>,
    counters: Arc<Counters>,
}

impl Fetch {
    /// Makes sure the blob is in the store: waits for anyone fetching it,
    /// downloads it otherwise.
    async fn into_store(self) -> Result<()> {
        let lock = self.store.lock(&self.digest).await?;
        if self.store.contains(&self.digest) {
            self.counters.reused.fetch_add(1, Ordering::Relaxed);
            emit(
                &self.progress,
                Progress::LayerCached { index: self.index, digest: self.digest.clone(), size: self.size },
            );
            return Ok(());
        }
        let result = self.download(None).await;
        drop(lock);
        result
    }

    /// Downloads the blob into the store (the caller holds its lock),
    /// passing each chunk on to `tee` when given.
    async fn download(&self, tee: Option<&mpsc::Sender<std::result::Result<bytes::Bytes, String>>>) -> Result<()> {
        emit(
            &self.progress,
            Progress::LayerDownloading { index: self.index, digest: self.digest.clone(), size: self.size },
        );
        let mut stream = self.client.blob_stream(&self.source, &self.digest, Some(self.size)).await?;
        let mut writer = self.store.writer(&self.digest)?;
        let mut tee = tee;
        while let Some(chunk) = stream.next_chunk().await? {
            writer.write(&chunk)?;
            self.counters.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            emit(&self.progress, Progress::Bytes { index: self.index, bytes: chunk.len() as u64 });
            if let Some(tx) = tee {
                // The unpacker may have stopped reading (end of archive or
                // its own error); the blob still goes into the store.
                if tx.send(Ok(chunk)).await.is_err() {
                    tee = None;
                }
            }
        }
        tokio::task::spawn_blocking(move || writer.commit())
            .await
            .map_err(|e| Error::io("blob commit task", std::io::Error::other(e)))??;
        self.counters.downloaded.fetch_add(1, Ordering::Relaxed);
        emit(&self.progress, Progress::LayerDownloaded { index: self.index, digest: self.digest.clone() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_reader_ends_only_when_the_sender_is_done() {
        let (tx, rx) = mpsc::channel(4);
        let mut reader = ChannelReader { rx, chunk: bytes::Bytes::new() };
        tx.blocking_send(Ok(bytes::Bytes::from_static(b"hello "))).unwrap();
        tx.blocking_send(Ok(bytes::Bytes::from_static(b"world"))).unwrap();
        tx.blocking_send(Err("digest mismatch for blob x".into())).unwrap();
        drop(tx);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"hello world");
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }

    #[test]
    fn stream_errors_come_out_as_themselves() {
        let inner = Error::DigestMismatch { what: "blob".into(), expected: "a".into(), actual: "b".into() };
        let wrapped = Error::io("unpacking", std::io::Error::other(inner));
        assert!(matches!(unwrap_stream_error(wrapped), Error::DigestMismatch { .. }));
        let plain = Error::io("unpacking", std::io::Error::other("disk full"));
        assert!(matches!(unwrap_stream_error(plain), Error::Io { .. }));
    }

    #[test]
    fn diff_id_reader_hashes_everything_read() {
        let mut r = DiffIdReader { inner: &b"layer bytes"[..], hasher: Sha256::new() };
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert_eq!(hex::encode(r.hasher.finalize()), hex::encode(Sha256::digest(b"layer bytes")));
    }

    #[test]
    fn references_parse_or_say_why() {
        assert!(parse_reference("127.0.0.1:5000/app:v1").is_ok());
        assert!(matches!(parse_reference("UPPER/Case::x"), Err(Error::Reference { .. })));
    }
}
