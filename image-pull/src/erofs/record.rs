//! `OUT/layers.json`: what an EROFS build made, the mapping a signature or
//! the KBS vouches for. Per image: the reference, manifest and config
//! digests; per EROFS image, lowest first: the layer it was built from
//! (digest, diff id), the file, the sha256 and size of its EROFS part, the
//! verity parameters and root hash, and the same again in the shape of
//! Kata's `DmVerityInfo` (`src/libs/kata-types/src/mount.rs`), so a Kata
//! `layer_*_block` volume can carry it as it is.
//!
//! The trees are appended to the EROFS part without a superblock and with an
//! empty salt: that is what `DmVerityInfo` can describe (it has no salt, and
//! Kata's agent maps `offset / hashsize` straight to the table's hash start
//! block with the salt `-`).

use arca_verity::{HashAlgorithm, VerityParams};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The file name of the record in OUT.
pub const LAYERS_JSON: &str = "layers.json";

/// Largest `layers.json` [`ErofsLayers::from_json`] reads.
pub const MAX_LAYERS_JSON_BYTES: usize = 4 << 20;

/// Most EROFS images one record lists.
pub const MAX_RECORD_LAYERS: usize = 1024;

/// Version of the record format.
pub const RECORD_VERSION: u32 = 1;

/// The whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErofsLayers {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The image reference as given.
    pub reference: String,
    /// Digest of the image manifest (the platform's, for an index).
    pub manifest_digest: String,
    /// Digest of the image config.
    pub config_digest: String,
    /// Whether the whole image was flattened into one EROFS image.
    pub flattened: bool,
    /// The EROFS images, lowest layer first (one when flattened).
    pub layers: Vec<ErofsLayer>,
}

/// One EROFS image with its verity tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErofsLayer {
    /// The layer digest it was built from (flattened: the manifest digest).
    pub digest: String,
    /// The layer's diff id (sha256 of its uncompressed tar); none when flattened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// Flattened: the image layers merged into it, lowest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<SourceLayer>,
    /// The file in OUT: the EROFS image with its verity tree appended.
    pub file: String,
    /// `sha256:<hex>` of the EROFS part (the file's first `erofs_size` bytes).
    pub erofs_digest: String,
    /// Size of the EROFS part in bytes (where the verity tree starts).
    pub erofs_size: u64,
    /// The verity tree's parameters.
    pub verity: VerityRecord,
    /// The verity root hash, hex.
    pub root_hash: String,
    /// The same tree as Kata's `DmVerityInfo`.
    pub dm_verity: DmVerityInfo,
}

/// A layer merged into a flattened image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLayer {
    /// The layer digest.
    pub digest: String,
    /// Its diff id.
    pub diff_id: String,
}

/// A verity tree's parameters, as `veritysetup` names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerityRecord {
    /// `sha256`, `sha1`, `sha512`.
    pub hash: String,
    /// Data block size in bytes.
    pub data_block_size: u32,
    /// Hash block size in bytes.
    pub hash_block_size: u32,
    /// Data blocks covered.
    pub data_blocks: u64,
    /// Byte offset of the tree in the file.
    pub hash_offset: u64,
    /// Salt, hex (empty: none).
    pub salt: String,
    /// Whether a verity superblock precedes the tree.
    pub superblock: bool,
}

/// Kata's `DmVerityInfo` (kata-types `mount.rs`): field names and meaning as
/// Kata's agent reads them, the hash tree on the same device after the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmVerityInfo {
    /// Hash algorithm (`sha256`).
    pub hashtype: String,
    /// Root hash, hex.
    pub hash: String,
    /// Number of data blocks.
    pub blocknum: u64,
    /// Data block size in bytes.
    pub blocksize: u64,
    /// Hash block size in bytes.
    pub hashsize: u64,
    /// Byte offset of the hash tree on the device (= blocknum × blocksize).
    pub offset: u64,
}

impl VerityRecord {
    /// The record of `params`.
    pub fn from_params(params: &VerityParams) -> Self {
        VerityRecord {
            hash: params.hash.name().into(),
            data_block_size: params.data_block_size,
            hash_block_size: params.hash_block_size,
            data_blocks: params.data_blocks,
            hash_offset: params.hash_offset,
            salt: hex::encode(&params.salt),
            superblock: params.superblock,
        }
    }

    /// The parameters recorded (checked as [`VerityParams::validate`] does).
    pub fn to_params(&self) -> Result<VerityParams> {
        let invalid = |reason: String| Error::Config(format!("layers.json verity parameters: {reason}"));
        let hash = HashAlgorithm::from_name(&self.hash).map_err(|e| invalid(e.to_string()))?;
        let salt = hex::decode(&self.salt).map_err(|e| invalid(format!("salt is not hex: {e}")))?;
        let params = VerityParams {
            hash,
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            data_blocks: self.data_blocks,
            salt,
            hash_offset: self.hash_offset,
            superblock: self.superblock,
            uuid: [0; 16],
        };
        params.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(params)
    }
}

impl DmVerityInfo {
    /// Kata's description of a tree appended at `params.hash_offset` to
    /// its data, without superblock or salt; `None` for any other layout.
    pub fn from_params(params: &VerityParams, root_hash: &[u8]) -> Option<Self> {
        let data_end = params.data_blocks.checked_mul(u64::from(params.data_block_size))?;
        if params.superblock || !params.salt.is_empty() || params.hash_offset != data_end {
            return None;
        }
        Some(DmVerityInfo {
            hashtype: params.hash.name().into(),
            hash: hex::encode(root_hash),
            blocknum: params.data_blocks,
            blocksize: params.data_block_size.into(),
            hashsize: params.hash_block_size.into(),
            offset: params.hash_offset,
        })
    }
}

impl ErofsLayers {
    /// The record as written to `layers.json`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Reads and checks a record: size and count limits, digests and hashes
    /// well-formed, file names plain (no directory part), and the Kata view
    /// saying the same as the verity parameters.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_LAYERS_JSON_BYTES {
            return Err(Error::TooLarge { what: LAYERS_JSON.into(), limit: MAX_LAYERS_JSON_BYTES as u64 });
        }
        let record: ErofsLayers =
            serde_json::from_slice(bytes).map_err(|e| Error::Config(format!("{LAYERS_JSON}: {e}")))?;
        record.validate()?;
        Ok(record)
    }

    /// The checks of [`ErofsLayers::from_json`].
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::Config(format!("{LAYERS_JSON}: {reason}"));
        if self.version != RECORD_VERSION {
            return Err(bad(format!("version {} where {RECORD_VERSION} was expected", self.version)));
        }
        if self.layers.len() > MAX_RECORD_LAYERS {
            return Err(bad(format!("{} layers, more than {MAX_RECORD_LAYERS}", self.layers.len())));
        }
        if self.flattened && self.layers.len() != 1 {
            return Err(bad(format!("flattened but {} EROFS images", self.layers.len())));
        }
        check_digest(&self.manifest_digest).map_err(|r| bad(format!("manifest_digest: {r}")))?;
        check_digest(&self.config_digest).map_err(|r| bad(format!("config_digest: {r}")))?;
        for (i, layer) in self.layers.iter().enumerate() {
            layer.validate().map_err(|reason| bad(format!("layer {i}: {reason}")))?;
        }
        Ok(())
    }
}

impl ErofsLayer {
    fn validate(&self) -> std::result::Result<(), String> {
        check_digest(&self.digest).map_err(|r| format!("digest: {r}"))?;
        if let Some(diff_id) = &self.diff_id {
            check_digest(diff_id).map_err(|r| format!("diff_id: {r}"))?;
        }
        for source in &self.merged {
            check_digest(&source.digest).map_err(|r| format!("merged digest: {r}"))?;
            check_digest(&source.diff_id).map_err(|r| format!("merged diff_id: {r}"))?;
        }
        if !plain_file_name(&self.file) {
            return Err(format!("file {:?} is not a plain file name", self.file));
        }
        check_digest(&self.erofs_digest).map_err(|r| format!("erofs_digest: {r}"))?;
        let params = self.verity.to_params().map_err(|e| e.to_string())?;
        let root = hex::decode(&self.root_hash).map_err(|e| format!("root_hash is not hex: {e}"))?;
        if root.len() != params.hash.digest_len() {
            return Err(format!(
                "root_hash has {} bytes, {} has {}",
                root.len(),
                params.hash.name(),
                params.hash.digest_len()
            ));
        }
        let data_end = params.data_blocks.checked_mul(u64::from(params.data_block_size));
        if data_end != Some(self.erofs_size) {
            return Err(format!(
                "{} data blocks of {} bytes do not cover the {} EROFS bytes",
                params.data_blocks, params.data_block_size, self.erofs_size
            ));
        }
        if self.verity.hash_offset < self.erofs_size {
            return Err(format!(
                "hash_offset {} is inside the EROFS part ({} bytes)",
                self.verity.hash_offset, self.erofs_size
            ));
        }
        match DmVerityInfo::from_params(&params, &root) {
            Some(kata) if kata == self.dm_verity => Ok(()),
            Some(kata) => {
                Err(format!("dm_verity {:?} does not match the verity parameters ({kata:?})", self.dm_verity))
            }
            None => Err("the tree's layout (superblock, salt or offset) cannot be a Kata DmVerityInfo".into()),
        }
    }
}

/// `algorithm:hex` with a known algorithm and the right length.
fn check_digest(digest: &str) -> std::result::Result<(), String> {
    let (algorithm, hex) = digest.split_once(':').ok_or_else(|| format!("{digest:?} is not algorithm:hex"))?;
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        other => return Err(format!("unknown digest algorithm {other:?}")),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("{digest:?} is not {len} lowercase hex digits"));
    }
    Ok(())
}

/// A name that stays in OUT when joined to it.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']) && name.len() <= 255
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> VerityParams {
        VerityParams {
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: 3,
            salt: Vec::new(),
            hash_offset: 3 * 4096,
            superblock: false,
            uuid: [0; 16],
        }
    }

    fn record() -> ErofsLayers {
        let p = params();
        let root = [0xab; 32];
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        ErofsLayers {
            version: RECORD_VERSION,
            reference: "127.0.0.1:5000/app:v1".into(),
            manifest_digest: d('1'),
            config_digest: d('2'),
            flattened: false,
            layers: vec![ErofsLayer {
                digest: d('3'),
                diff_id: Some(d('4')),
                merged: Vec::new(),
                file: format!("sha256-{}.erofs", "3".repeat(64)),
                erofs_digest: d('5'),
                erofs_size: 3 * 4096,
                verity: VerityRecord::from_params(&p),
                root_hash: hex::encode(root),
                dm_verity: DmVerityInfo::from_params(&p, &root).unwrap(),
            }],
        }
    }

    #[test]
    fn round_trip() {
        let r = record();
        let json = r.to_json();
        assert_eq!(ErofsLayers::from_json(&json).unwrap(), r);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value["layers"][0]["dm_verity"],
            serde_json::json!({"hashtype": "sha256", "hash": "ab".repeat(32), "blocknum": 3,
                "blocksize": 4096, "hashsize": 4096, "offset": 12288})
        );
        assert_eq!(VerityRecord::from_params(&params()).to_params().unwrap(), params());
    }

    #[test]
    fn kata_shape_only_for_appended_unsalted_trees() {
        let root = [1u8; 32];
        assert!(DmVerityInfo::from_params(&params(), &root).is_some());
        assert!(DmVerityInfo::from_params(&VerityParams { superblock: true, ..params() }, &root).is_none());
        assert!(DmVerityInfo::from_params(&VerityParams { salt: vec![1], ..params() }, &root).is_none());
        assert!(DmVerityInfo::from_params(&VerityParams { hash_offset: 4 * 4096, ..params() }, &root).is_none());
    }

    #[test]
    fn rejections() {
        type Mutation = Box<dyn Fn(&mut ErofsLayers)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("version", Box::new(|r| r.version = 2)),
            ("escaping file", Box::new(|r| r.layers[0].file = "../x.erofs".into())),
            ("dir file", Box::new(|r| r.layers[0].file = "a/b".into())),
            ("digest", Box::new(|r| r.layers[0].digest = "sha256:xyz".into())),
            ("algorithm", Box::new(|r| r.manifest_digest = format!("md5:{}", "0".repeat(32)))),
            ("root hash length", Box::new(|r| r.layers[0].root_hash = "abcd".into())),
            ("root hash hex", Box::new(|r| r.layers[0].root_hash = "zz".repeat(32))),
            ("kata mismatch", Box::new(|r| r.layers[0].dm_verity.blocknum = 4)),
            ("size mismatch", Box::new(|r| r.layers[0].erofs_size = 4096)),
            ("hash name", Box::new(|r| r.layers[0].verity.hash = "md5".into())),
            ("block size", Box::new(|r| r.layers[0].verity.data_block_size = 1000)),
            ("salt hex", Box::new(|r| r.layers[0].verity.salt = "x".into())),
            ("superblock", Box::new(|r| r.layers[0].verity.superblock = true)),
            (
                "flattened twice",
                Box::new(|r| {
                    r.flattened = true;
                    r.layers.push(r.layers[0].clone());
                }),
            ),
        ];
        for (what, mutate) in cases {
            let mut r = record();
            mutate(&mut r);
            assert!(ErofsLayers::from_json(&r.to_json()).is_err(), "{what} accepted");
        }
        assert!(ErofsLayers::from_json(b"{").is_err());
        assert!(ErofsLayers::from_json(br#"{"version":1,"extra":true}"#).is_err());
        let huge = vec![b' '; MAX_LAYERS_JSON_BYTES + 1];
        assert!(matches!(ErofsLayers::from_json(&huge), Err(Error::TooLarge { .. })));
    }
}
