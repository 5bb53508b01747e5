//! Pulling a nydus image (as nydusify and `nydus-image` + a push make it)
//! from a registry with the crate's registry client, then unpacking it.
//!
//! The manifest's bootstrap layer is the one annotated
//! `containerd.io/snapshot/nydus-bootstrap: "true"` (a tar, usually gzipped,
//! holding `image/image.boot`); every blob the bootstrap's blob table names
//! must be a layer of the manifest with digest `sha256:<blob id>`. Each
//! download is checked against its digest as it streams; each chunk again
//! against the bootstrap when it is read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_client::Reference;
use tokio::io::AsyncWriteExt;

use super::{Bootstrap, Rafs, MAX_BOOTSTRAP_SIZE_COMPRESSED};
use crate::pull::PullOptions;
use crate::registry::RegistryClient;
use crate::{Error, Result};

/// Annotation marking the bootstrap layer.
pub const BOOTSTRAP_ANNOTATION: &str = "containerd.io/snapshot/nydus-bootstrap";
/// Annotation marking a data blob layer.
pub const BLOB_ANNOTATION: &str = "containerd.io/snapshot/nydus-blob";
/// Media type of nydus data blob layers.
pub const BLOB_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.nydus.blob.v1";
/// Path of the bootstrap inside the bootstrap layer's tar.
pub const BOOTSTRAP_PATH: &str = "image/image.boot";

/// What a nydus pull did.
#[derive(Debug, Clone)]
pub struct NydusPullReport {
    /// Digest of the image manifest.
    pub manifest_digest: String,
    /// The bootstrap, kept at `DEST/nydus/image.boot`.
    pub bootstrap: PathBuf,
    /// The blobs, kept under `DEST/nydus/blobs/<id>` (for lazy reads later).
    pub blob_dir: PathBuf,
    /// Number of blobs downloaded.
    pub blobs: usize,
    /// Entries unpacked.
    pub entries: u64,
}

/// Pulls the nydus image `reference` into `dest`: `dest/rootfs` (unpacked,
/// every chunk checked), `dest/config.json`, and `dest/nydus/` (bootstrap and
/// blobs). The signature policy of `options` applies as for OCI pulls;
/// `dest/rootfs` must not exist yet.
pub async fn pull_nydus(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    dest: &Path,
    options: &PullOptions,
) -> Result<NydusPullReport> {
    let rootfs = dest.join("rootfs");
    if rootfs.symlink_metadata().is_ok() {
        return Err(Error::io(
            format!("{} exists; pull into a new destination", rootfs.display()),
            std::io::ErrorKind::AlreadyExists.into(),
        ));
    }
    let image = client.resolve(reference).await?;
    if let Some(policy) = &options.policy {
        policy.evaluate(reference, &image.top_digest, client.as_ref()).await?;
    }
    let layers = image.manifest.layers();
    let is_bootstrap = |l: &oci_spec::image::Descriptor| {
        l.annotations().as_ref().and_then(|a| a.get(BOOTSTRAP_ANNOTATION)).is_some_and(|v| v == "true")
    };
    let mut bootstraps = layers.iter().filter(|l| is_bootstrap(l));
    let boot_layer = match (bootstraps.next(), bootstraps.next()) {
        (Some(b), None) => b.clone(),
        (None, _) => {
            return Err(Error::Config(format!(
                "not a nydus image: no layer is annotated {BOOTSTRAP_ANNOTATION}=true ({} layers)",
                layers.len()
            )))
        }
        (Some(_), Some(_)) => {
            return Err(Error::Config(format!("two layers are annotated {BOOTSTRAP_ANNOTATION}=true; expected one")))
        }
    };

    let work = dest.join("nydus");
    let blob_dir = work.join("blobs");
    std::fs::create_dir_all(&blob_dir).map_err(|e| Error::io(format!("creating {}", blob_dir.display()), e))?;

    // The bootstrap: one tar member, read from the decompressed layer.
    let layer_bytes = client
        .fetch_blob(&image.source, boot_layer.digest().as_ref(), Some(boot_layer.size()), MAX_BOOTSTRAP_SIZE_COMPRESSED)
        .await?;
    let media_type = boot_layer.media_type().to_string();
    let boot_digest = boot_layer.digest().to_string();
    let boot_bytes = tokio::task::spawn_blocking(move || bootstrap_from_layer(&media_type, layer_bytes, &boot_digest))
        .await
        .map_err(|e| Error::Config(format!("bootstrap extraction task failed: {e}")))??;
    let bootstrap_path = work.join("image.boot");
    std::fs::write(&bootstrap_path, &boot_bytes)
        .map_err(|e| Error::io(format!("writing {}", bootstrap_path.display()), e))?;
    let bootstrap = Bootstrap::parse(boot_bytes)?;

    // Its blobs, each from the manifest layer of the same digest.
    for blob in bootstrap.blobs() {
        let digest = format!("sha256:{}", blob.id);
        let layer = layers.iter().find(|l| l.digest().to_string() == digest).ok_or_else(|| {
            Error::Config(format!("the bootstrap needs blob {digest}, which is not a layer of the manifest"))
        })?;
        let target = blob_dir.join(&blob.id);
        if target.exists() {
            continue;
        }
        let partial = blob_dir.join(format!("{}.partial", blob.id));
        let mut stream = client.blob_stream(&image.source, &digest, Some(layer.size())).await?;
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
        while let Some(chunk) = stream.next_chunk().await? {
            file.write_all(&chunk).await.map_err(|e| Error::io(format!("writing {}", partial.display()), e))?;
        }
        file.flush().await.map_err(|e| Error::io(format!("writing {}", partial.display()), e))?;
        drop(file);
        std::fs::rename(&partial, &target).map_err(|e| Error::io(format!("renaming to {}", target.display()), e))?;
    }

    let staging = dest.join("rootfs.partial");
    if staging.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(format!("removing {}", staging.display()), e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
    let unpack = options.unpack.clone();
    let (rafs_blob_dir, rafs_staging) = (blob_dir.clone(), staging.clone());
    let blobs = bootstrap.blobs().len();
    let unpacked = tokio::task::spawn_blocking(move || {
        let rafs = Rafs::new(bootstrap, &rafs_blob_dir)?;
        rafs.unpack(&rafs_staging, &unpack)
    })
    .await
    .map_err(|e| Error::Config(format!("unpack task failed: {e}")))?;
    let stats = match unpacked {
        Ok(stats) => stats,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let spec = crate::spec::runtime_spec(&image.config, &staging)?;
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Config(format!("serializing the spec: {e}")))?;
    std::fs::write(dest.join("config.json"), json).map_err(|e| Error::io("writing config.json", e))?;
    std::fs::rename(&staging, &rootfs).map_err(|e| Error::io(format!("renaming to {}", rootfs.display()), e))?;
    Ok(NydusPullReport {
        manifest_digest: image.manifest_digest.clone(),
        bootstrap: bootstrap_path,
        blob_dir,
        blobs,
        entries: stats.entries,
    })
}

/// The bootstrap file out of a bootstrap layer (`image/image.boot`, at most
/// [`super::bootstrap::MAX_BOOTSTRAP_SIZE`] bytes).
pub fn bootstrap_from_layer(media_type: &str, layer: Vec<u8>, digest: &str) -> Result<Vec<u8>> {
    let reader = crate::compression::decoder(media_type, Box::new(std::io::Cursor::new(layer)))?;
    let mut archive = tar::Archive::new(reader);
    let bad = |reason: String| Error::Unpack { layer: digest.into(), path: BOOTSTRAP_PATH.into(), reason };
    let entries = archive.entries().map_err(|e| bad(format!("reading the tar: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("reading the tar: {e}")))?;
        let path = entry.path_bytes().into_owned();
        let path = path.strip_prefix(b"./").unwrap_or(&path);
        if path == BOOTSTRAP_PATH.as_bytes() && entry.header().entry_type().is_file() {
            let limit = super::bootstrap::MAX_BOOTSTRAP_SIZE;
            let mut out = Vec::new();
            entry.take(limit + 1).read_to_end(&mut out).map_err(|e| bad(format!("reading the member: {e}")))?;
            if out.len() as u64 > limit {
                return Err(Error::TooLarge { what: format!("bootstrap in layer {digest}"), limit });
            }
            return Ok(out);
        }
    }
    Err(bad("the bootstrap layer has no such regular file".into()))
}
