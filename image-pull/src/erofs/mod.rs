//! Verity-protected EROFS images of a pulled image: one per layer, to be
//! stacked with overlayfs, or one of the whole image (`flatten`).
//!
//! A layer goes: the pull pipeline (signature policy, decryption, every blob
//! digest and diff id checked, exactly as [`crate::pull()`]) unpacks it into a
//! directory of its own with its whiteouts in overlayfs form
//! ([`crate::unpack::WhiteoutMode::Overlay`]) → `mkfs.erofs` builds a
//! byte-for-byte reproducible EROFS image of it ([`mkfs`]) → a dm-verity tree
//! is appended ([`arca_verity::format`]) → `OUT/layers.json` records layer
//! digest → EROFS digest → verity root hash ([`record`]). A guest that trusts
//! the record (signed, or vouched for by the KBS) can then take the layers
//! from a host block device, open each with dm-verity and overlay them,
//! instead of pulling the image into RAM.
//!
//! The EROFS image of a layer depends on the layer alone (its UUID is
//! derived from the layer digest, its build time fixed), so the same layer
//! gives the same image in every image that uses it. Directories a layer
//! uses without listing them get mode 0755 and mtime 0; overlayfs shows a
//! directory with the attributes of its topmost layer, so such a directory
//! shows 0755 where a merged rootfs keeps the lower layer's attributes
//! (containerd copies them from the parent snapshot instead, which would
//! make the image depend on the lower layers). Layers written by image
//! builders list every directory they change.
//!
//! Not done here: mounting (the guest side: dm-verity device + EROFS +
//! overlayfs) and native EROFS writing (erofs-utils is the reference).

pub mod mkfs;
pub mod record;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use arca_verity::HashAlgorithm;
use oci_client::Reference;
use sha2::{Digest as _, Sha256};

pub use record::{DmVerityInfo, ErofsLayer, ErofsLayers, SourceLayer, VerityRecord, LAYERS_JSON};

use crate::pull::{remove_tree, PullOptions};
use crate::registry::RegistryClient;
use crate::unpack::WhiteoutMode;
use crate::{Error, Result};

/// How to build.
#[derive(Debug, Clone)]
pub struct ErofsOptions {
    /// The pull: store, signature policy, decryption keys, unpack limits
    /// (whiteout form and reproducibility are set by the build).
    pub pull: PullOptions,
    /// One EROFS image of the whole image instead of one per layer.
    pub flatten: bool,
    /// The `mkfs.erofs` binary (Debian erofs-utils 1.5 or later).
    pub mkfs: PathBuf,
    /// `mkfs.erofs -z` compressor (`lz4`, `lz4hc[,level]`); `None`: uncompressed.
    pub compression: Option<String>,
    /// Hash of the verity trees.
    pub hash: HashAlgorithm,
    /// Verity data block size: a power of two from 512 to 4096 (the EROFS block size).
    pub data_block_size: u32,
    /// Verity hash block size: a power of two from 512 to 4096.
    pub hash_block_size: u32,
}

impl Default for ErofsOptions {
    fn default() -> Self {
        ErofsOptions {
            pull: PullOptions::default(),
            flatten: false,
            mkfs: PathBuf::from("mkfs.erofs"),
            compression: None,
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
        }
    }
}

/// Pulls `reference` and writes its verity-protected EROFS images and
/// `OUT/layers.json` into `out` (created; files of an earlier build are
/// replaced). A scratch directory `OUT/.work` holds the unpacked layers and
/// is removed at the end, whatever the outcome.
pub async fn build(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    out: &Path,
    options: &ErofsOptions,
) -> Result<ErofsLayers> {
    for (name, size) in [("data block size", options.data_block_size), ("hash block size", options.hash_block_size)] {
        if !(512..=mkfs::EROFS_BLOCK_SIZE as u32).contains(&size) || !size.is_power_of_two() {
            return Err(Error::Erofs {
                image: reference.whole(),
                reason: format!("verity {name} {size} is not a power of two from 512 to 4096"),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let work = out.join(".work");
    let result = build_in(client, reference, out, &work, options).await;
    remove_tree(&work).await;
    result
}

async fn build_in(
    client: &Arc<RegistryClient>,
    reference: &Reference,
    out: &Path,
    work: &Path,
    options: &ErofsOptions,
) -> Result<ErofsLayers> {
    remove_tree(work).await;
    // A failed build must not leave an earlier build's record behind.
    let record_path = out.join(LAYERS_JSON);
    match std::fs::remove_file(&record_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("removing {}", record_path.display()), e)),
    }
    let mut pull = options.pull.clone();
    pull.unpack.reproducible = true;
    let (image, sources) = if options.flatten {
        pull.unpack.whiteouts = WhiteoutMode::Apply;
        let (image, _) = crate::pull::pull_resolved(client, reference, work, &pull).await?;
        let source = Source { dir: work.join("rootfs"), digest: image.manifest_digest.clone(), diff_id: None };
        (image, vec![source])
    } else {
        pull.unpack.whiteouts = WhiteoutMode::Overlay;
        let pulled = crate::pull::pull_layer_dirs(client, reference, work, &pull).await?;
        let diff_ids = pulled.image.config.rootfs().diff_ids().clone();
        let sources = pulled
            .dirs
            .into_iter()
            .zip(pulled.image.manifest.layers().iter().zip(diff_ids))
            .map(|(dir, (layer, diff_id))| Source { dir, digest: layer.digest().to_string(), diff_id: Some(diff_id) })
            .collect();
        (pulled.image, sources)
    };
    let mut layers: Vec<ErofsLayer> = Vec::with_capacity(sources.len());
    let mut built: HashMap<String, ErofsLayer> = HashMap::new();
    for source in sources {
        let layer = match built.get(&source.digest) {
            // The same layer twice in one image: one file.
            Some(done) => ErofsLayer { diff_id: source.diff_id.clone(), ..done.clone() },
            None => {
                let options = options.clone();
                let out = out.to_path_buf();
                let layer = tokio::task::spawn_blocking(move || build_one(&source, &out, &options))
                    .await
                    .map_err(|e| Error::io("EROFS build task", std::io::Error::other(e)))??;
                built.insert(layer.digest.clone(), layer.clone());
                layer
            }
        };
        layers.push(layer);
    }
    if let (true, Some(flat)) = (options.flatten, layers.first_mut()) {
        let diff_ids = image.config.rootfs().diff_ids();
        flat.merged = image
            .manifest
            .layers()
            .iter()
            .zip(diff_ids)
            .map(|(l, d)| SourceLayer { digest: l.digest().to_string(), diff_id: d.clone() })
            .collect();
    }
    let record = ErofsLayers {
        version: record::RECORD_VERSION,
        reference: reference.whole(),
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.manifest.config().digest().to_string(),
        flattened: options.flatten,
        layers,
    };
    record.validate()?;
    let path = out.join(LAYERS_JSON);
    let tmp = out.join(format!("{LAYERS_JSON}.partial"));
    std::fs::write(&tmp, record.to_json()).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
    Ok(record)
}

/// A directory to turn into one EROFS image, and what it was built from.
struct Source {
    dir: PathBuf,
    /// The layer digest (flattened: the manifest digest).
    digest: String,
    diff_id: Option<String>,
}

/// One directory → `OUT/<algorithm>-<hex>.erofs` with its verity tree.
fn build_one(source: &Source, out: &Path, options: &ErofsOptions) -> Result<ErofsLayer> {
    let file = file_name(&source.digest)?;
    let path = out.join(&file);
    let partial = out.join(format!("{file}.partial"));
    let mkfs = mkfs::Mkfs { tool: &options.mkfs, compression: options.compression.as_deref() };
    let erofs_size = mkfs.build(&source.dir, &partial, &mkfs::uuid_for(&source.digest), &source.digest)?;
    let erofs_digest = sha256_file(&partial)?;
    let data_blocks = erofs_size / u64::from(options.data_block_size);
    let (params, root_hash) = append_tree(&partial, erofs_size, data_blocks, options, &source.digest)?;
    let dm_verity = record::kata_view(&params, &root_hash).ok_or_else(|| Error::Erofs {
        image: source.digest.clone(),
        reason: "the verity tree is not laid out as Kata's DmVerityInfo describes".into(),
    })?;
    std::fs::rename(&partial, &path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
    tracing::info!(layer = %source.digest, file = %file, size = erofs_size, root_hash = %hex::encode(&root_hash), "EROFS image built");
    Ok(ErofsLayer {
        digest: source.digest.clone(),
        diff_id: source.diff_id.clone(),
        merged: Vec::new(),
        file,
        erofs_digest,
        erofs_size,
        verity: VerityRecord::from_params(&params),
        root_hash: hex::encode(&root_hash),
        dm_verity,
    })
}

/// Appends the verity tree of the file's first `data_blocks` blocks at
/// `hash_offset` (no superblock, no salt: the layout Kata describes).
fn append_tree(
    path: &Path,
    hash_offset: u64,
    data_blocks: u64,
    options: &ErofsOptions,
    what: &str,
) -> Result<(arca_verity::VerityParams, Vec<u8>)> {
    let format = arca_verity::FormatOptions {
        hash: options.hash,
        data_block_size: options.data_block_size,
        hash_block_size: options.hash_block_size,
        data_blocks: Some(data_blocks),
        salt: Some(Vec::new()),
        hash_offset,
        superblock: false,
        uuid: None,
        threads: 0,
    };
    let formatted =
        arca_verity::format(path, path, &format).map_err(|source| Error::Verity { image: what.to_string(), source })?;
    Ok((formatted.params, formatted.root_hash))
}

/// `sha256:<hex>` → `sha256-<hex>.erofs`, refusing anything but lowercase
/// hex after a known algorithm (the name is joined to OUT).
fn file_name(digest: &str) -> Result<String> {
    let invalid = || Error::Erofs { image: digest.into(), reason: "not an algorithm:hex digest".into() };
    let (algorithm, hex) = digest.split_once(':').ok_or_else(invalid)?;
    let ok = matches!(algorithm, "sha256" | "sha512")
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(invalid());
    }
    Ok(format!("{algorithm}-{hex}.erofs"))
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_digests_only() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(file_name(&format!("sha256:{hex}")).unwrap(), format!("sha256-{hex}.erofs"));
        for bad in ["sha256:../../x", "sha256:", "md5:abcd", "nocolon", "sha256:ABCD", "sha256:ab/cd"] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
    }
}
