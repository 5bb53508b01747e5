//! OCI image layouts written from layers described entry by entry, so a
//! test can make any image (multi-layer, whiteouts, links, xattrs, zstd,
//! multi-platform indexes, and hostile layers a normal tool would refuse to
//! build) and push it with `skopeo copy oci:DIR:TAG docker://…`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One entry of a layer tar (fields are named for the tar header fields
/// they fill).
#[allow(missing_docs)]
#[derive(Debug, Clone)]
pub enum TarEntry {
    /// A regular file.
    File { path: String, data: Vec<u8>, mode: u32 },
    /// A directory.
    Dir { path: String, mode: u32 },
    /// A symbolic link.
    Symlink { path: String, target: String },
    /// A hard link to an earlier entry.
    Hardlink { path: String, target: String },
    /// Any header the test sets up itself (device nodes, owners, mtimes,
    /// PAX xattrs, hostile names): the name bytes are written unchecked.
    Raw { name: Vec<u8>, link: Vec<u8>, kind: tar::EntryType, mode: u32, data: Vec<u8>, pax: Vec<(String, Vec<u8>)> },
}

impl TarEntry {
    /// A regular file, mode 0644.
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Self {
        TarEntry::File { path: path.into(), data: data.into(), mode: 0o644 }
    }
    /// A directory, mode 0755.
    pub fn dir(path: &str) -> Self {
        TarEntry::Dir { path: path.into(), mode: 0o755 }
    }
    /// A symlink `path -> target`.
    pub fn symlink(path: &str, target: &str) -> Self {
        TarEntry::Symlink { path: path.into(), target: target.into() }
    }
    /// A hardlink `path` to `target`.
    pub fn hardlink(path: &str, target: &str) -> Self {
        TarEntry::Hardlink { path: path.into(), target: target.into() }
    }
    /// A whiteout removing `path` from lower layers.
    pub fn whiteout(path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let wh = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        TarEntry::file(&wh, Vec::new())
    }
    /// An opaque-directory marker for `dir`.
    pub fn opaque(dir: &str) -> Self {
        TarEntry::file(&format!("{}/.wh..wh..opq", dir.trim_end_matches('/')), Vec::new())
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `application/vnd.oci.image.layer.v1.tar`
    None,
    /// `…tar+gzip`
    Gzip,
    /// `…tar+zstd`
    Zstd,
}

/// A layer: its entries, or a blob given whole (e.g. a truncated or
/// bomb layer), and its compression.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The tar entries, in order.
    pub entries: Vec<TarEntry>,
    /// Compression of the blob.
    pub compression: Compression,
    /// When set, this exact blob is the layer (its diff id is then the
    /// sha256 of `raw_diff` if given, else of the blob).
    pub raw_blob: Option<Vec<u8>>,
    /// The uncompressed tar of a `raw_blob`, for the config's diff id.
    pub raw_diff: Option<Vec<u8>>,
}

impl Layer {
    /// A gzip layer of these entries.
    pub fn gzip(entries: Vec<TarEntry>) -> Self {
        Layer { entries, compression: Compression::Gzip, raw_blob: None, raw_diff: None }
    }
    /// A zstd layer of these entries.
    pub fn zstd(entries: Vec<TarEntry>) -> Self {
        Layer { entries, compression: Compression::Zstd, raw_blob: None, raw_diff: None }
    }
    /// An uncompressed layer of these entries.
    pub fn plain(entries: Vec<TarEntry>) -> Self {
        Layer { entries, compression: Compression::None, raw_blob: None, raw_diff: None }
    }

    /// The uncompressed tar stream of the entries.
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append(&mut builder, entry);
        }
        builder.into_inner().expect("finish tar")
    }

    fn media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// (blob, diff id bytes source)
    fn blob_and_diff(&self) -> (Vec<u8>, Vec<u8>) {
        if let Some(blob) = &self.raw_blob {
            return (blob.clone(), self.raw_diff.clone().unwrap_or_else(|| blob.clone()));
        }
        let tar = self.tar_bytes();
        let blob = match self.compression {
            Compression::None => tar.clone(),
            Compression::Gzip => gzip(&tar),
            Compression::Zstd => zstd_compress(&tar),
        };
        (blob, tar)
    }
}

/// gzip of `data` (default level).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn zstd_compress(data: &[u8]) -> Vec<u8> {
    // The zstd CLI (Debian `zstd`) keeps this helper crate free of a C build.
    let mut child = std::process::Command::new("zstd")
        .args(["-q", "-c", "-3"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run zstd (make deps installs it)");
    let mut stdin = child.stdin.take().expect("zstd stdin");
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("zstd output");
    writer.join().expect("zstd writer").expect("zstd write");
    assert!(out.status.success(), "zstd failed");
    out.stdout
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn set_name_unchecked(h: &mut tar::Header, name: &[u8]) {
    let gnu = h.as_gnu_mut().expect("gnu header");
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name);
}

fn set_link_unchecked(h: &mut tar::Header, link: &[u8]) {
    let gnu = h.as_gnu_mut().expect("gnu header");
    gnu.linkname = [0; 100];
    gnu.linkname[..link.len()].copy_from_slice(link);
}

fn append(builder: &mut tar::Builder<Vec<u8>>, entry: &TarEntry) {
    match entry {
        TarEntry::File { path, data, mode } => {
            let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
            builder.append_data(&mut h, path, data.as_slice()).expect("tar file");
        }
        TarEntry::Dir { path, mode } => {
            let mut h = header(tar::EntryType::Directory, *mode, 0);
            builder.append_data(&mut h, path, std::io::empty()).expect("tar dir");
        }
        TarEntry::Symlink { path, target } => {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            builder.append_link(&mut h, path, target).expect("tar symlink");
        }
        TarEntry::Hardlink { path, target } => {
            let mut h = header(tar::EntryType::Link, 0o644, 0);
            builder.append_link(&mut h, path, target).expect("tar hardlink");
        }
        TarEntry::Raw { name, link, kind, mode, data, pax } => {
            if !pax.is_empty() {
                builder.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).expect("tar pax");
            }
            assert!(name.len() <= 100 && link.len() <= 100, "raw names are limited to 100 bytes");
            let mut h = header(*kind, *mode, data.len() as u64);
            set_name_unchecked(&mut h, name);
            set_link_unchecked(&mut h, link);
            h.set_cksum();
            builder.append(&h, data.as_slice()).expect("tar raw entry");
        }
    }
}

/// A platform of a multi-platform image.
#[derive(Debug, Clone)]
pub struct Platform {
    /// e.g. `amd64`
    pub architecture: String,
    /// e.g. `linux`
    pub os: String,
}

/// Writes an OCI image layout directory.
pub struct LayoutBuilder {
    dir: PathBuf,
    manifests: Vec<Value>,
}

impl LayoutBuilder {
    /// Starts a layout at `dir` (created).
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        LayoutBuilder { dir: dir.to_path_buf(), manifests: Vec::new() }
    }

    /// The layout's directory; `oci:<dir>:<tag>` is its skopeo name.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a blob, returning its descriptor fields (digest, size).
    pub fn blob(&self, data: &[u8]) -> (String, u64) {
        let hex = hex::encode(Sha256::digest(data));
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), data).expect("write blob");
        (format!("sha256:{hex}"), data.len() as u64)
    }

    /// Writes an image manifest for `layers` with the runtime `config`
    /// section (`Env`, `Cmd`, `User`, …) and returns its descriptor.
    pub fn manifest(&self, platform: &Platform, config: Value, layers: &[Layer]) -> Value {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in layers {
            let (blob, diff) = layer.blob_and_diff();
            let (digest, size) = self.blob(&blob);
            layer_descs.push(json!({"mediaType": layer.media_type(), "digest": digest, "size": size}));
            diff_ids.push(format!("sha256:{}", hex::encode(Sha256::digest(&diff))));
        }
        let image_config = json!({
            "created": "2026-01-01T00:00:00Z",
            "architecture": platform.architecture,
            "os": platform.os,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config_bytes = serde_json::to_vec(&image_config).expect("config json");
        let (config_digest, config_size) = self.blob(&config_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": layer_descs,
        });
        let bytes = serde_json::to_vec(&manifest).expect("manifest json");
        let (digest, size) = self.blob(&bytes);
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": size,
            "platform": {"architecture": platform.architecture, "os": platform.os},
        })
    }

    /// Adds a single-platform image under `tag`.
    pub fn image(&mut self, tag: &str, config: Value, layers: &[Layer]) -> &mut Self {
        let platform = Platform { architecture: "amd64".into(), os: "linux".into() };
        let mut desc = self.manifest(&platform, config, layers);
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.manifests.push(desc);
        self.write_index();
        self
    }

    /// Adds a multi-platform image (an image index) under `tag`.
    pub fn multi_platform(&mut self, tag: &str, images: &[(Platform, Value, Vec<Layer>)]) -> &mut Self {
        let manifests: Vec<Value> = images.iter().map(|(p, c, l)| self.manifest(p, c.clone(), l)).collect();
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let bytes = serde_json::to_vec(&index).expect("index json");
        let (digest, size) = self.blob(&bytes);
        self.manifests.push(json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index();
        self
    }

    /// `oci:<dir>:<tag>` for skopeo.
    pub fn skopeo_name(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.manifests});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).expect("index")).expect("write index");
    }
}

/// The layers of the single-platform image tagged `tag` in the layout at
/// `dir`, lowest first: (media type, path of the blob).
pub fn image_layers(dir: &Path, tag: &str) -> Vec<(String, PathBuf)> {
    image_blobs(dir, tag).1
}

/// The config blob of the single-platform image tagged `tag` in the layout at `dir`.
pub fn image_config(dir: &Path, tag: &str) -> PathBuf {
    image_blobs(dir, tag).0
}

fn image_blobs(dir: &Path, tag: &str) -> (PathBuf, Vec<(String, PathBuf)>) {
    let read = |path: PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
            .expect("layout json")
    };
    let blob = |digest: &str| dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let index = read(dir.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .expect("index manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no image tagged {tag} in {}", dir.display()));
    let manifest = read(blob(desc["digest"].as_str().expect("manifest digest")));
    let config = blob(manifest["config"]["digest"].as_str().expect("config digest"));
    let layers = manifest["layers"]
        .as_array()
        .expect("manifest layers")
        .iter()
        .map(|l| {
            let media_type = l["mediaType"].as_str().expect("layer media type").to_string();
            (media_type, blob(l["digest"].as_str().expect("layer digest")))
        })
        .collect();
    (config, layers)
}
