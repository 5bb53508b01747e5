//! Kata's guest-pull hand-off: the `io.katacontainers.volume=<base64 JSON>`
//! rootfs mount option and the pull it asks for.
//!
//! With nydus-snapshotter in proxy mode, containerd never unpacks an image
//! for a Kata pod: the snapshotter hands back a `fuse.nydus-overlayfs` mount
//! whose options carry a [`KataVirtualVolume`] of type
//! [`VolumeType::ImageGuestPull`] (and the tarfs mode hands back raw-block
//! volumes with a [`DmVerityInfo`]). The runtime turns the volume and the
//! container's annotations into a pull done by the guest itself
//! ([`GuestPullRequest`], [`guest_pull`]); for the pod's sandbox (pause)
//! container no image is pulled, a pause bundle baked into the guest is used.
//!
//! The types mirror Kata's `kata-types` crate (`mount.rs`) field for field
//! with the same JSON names, so values produced by nydus-snapshotter and by
//! either Kata runtime parse, and what [`KataVirtualVolume::to_base64`]
//! produces parses there. Differences, all stricter:
//! - an unknown `volume_type` is an error (Kata passes it through unchecked);
//! - a `dm_verity` section is checked wherever it appears (Kata's Go runtime
//!   and nydus-snapshotter check it; `kata-types` does not), and block sizes
//!   must be powers of two (the kernel refuses others anyway);
//! - the base64 value and the metadata maps have size limits;
//! - as in `kata-types` (runtime-rs), an `image_guest_pull` volume needs a
//!   `source`: current nydus-snapshotter writes the image reference or a
//!   placeholder there, older releases wrote none (the Go runtime let that
//!   pass; we refuse it). The reference pulled comes from the annotations
//!   either way.
//!
//! Maps are `BTreeMap`s: the JSON has sorted keys, byte-equal to what Go's
//! `encoding/json` (nydus-snapshotter, the Go runtime) writes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arca_verity::{HashAlgorithm, VerityParams};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::progress::PullReport;
use crate::registry::RegistryClient;
use crate::{Error, PullOptions, Result};

/// The mount option name: `io.katacontainers.volume=<base64 JSON>`.
pub const VOLUME_OPTION: &str = "io.katacontainers.volume";

/// Longest base64 value accepted after `io.katacontainers.volume=` (the
/// snapshotter puts every image annotation in it; real values are a few KiB).
pub const MAX_VOLUME_OPTION_LEN: usize = 64 * 1024;

/// Longest JSON document accepted (what [`MAX_VOLUME_OPTION_LEN`] base64
/// characters decode to).
pub const MAX_VOLUME_JSON_LEN: usize = MAX_VOLUME_OPTION_LEN / 4 * 3;

/// Largest pull metadata (sum of key and value lengths) after the container
/// annotations are merged in, and longest `image_guest_pull=` driver option.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// Largest block size in a [`DmVerityInfo`] (Kata: `1 << 19`).
pub const MAX_VERITY_BLOCK_SIZE: u64 = 1 << 19;

/// Smallest block size in a [`DmVerityInfo`] (Kata: `1 << 9`).
pub const MIN_VERITY_BLOCK_SIZE: u64 = 1 << 9;

/// The containerd CRI annotation holding the container's image name.
pub const CRI_IMAGE_NAME: &str = "io.kubernetes.cri.image-name";
/// The CRI-O annotation holding the container's image name.
pub const CRIO_IMAGE_NAME: &str = "io.kubernetes.cri-o.ImageName";
/// The containerd CRI annotation telling `sandbox` from `container`.
pub const CRI_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// The CRI-O annotation telling `sandbox` from `container`.
pub const CRIO_CONTAINER_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
/// Kata's own container-type annotation (`pod_sandbox` / `pod_container`),
/// used when neither CRI annotation is present.
pub const KATA_CONTAINER_TYPE: &str = "io.katacontainers.pkg.oci.container_type";

/// The storage source Kata uses for the sandbox (pause) container.
pub const SANDBOX_SOURCE: &str = "pause";

/// The agent storage driver name, and the prefix of its one driver option.
pub const GUEST_PULL_DRIVER: &str = "image_guest_pull";

/// Where Kata puts container bundles in the guest (`<base>/<id>/rootfs`).
pub const CONTAINER_BASE: &str = "/run/kata-containers";

/// base64 as Go's `StdEncoding` writes it; padding is optional on input, as
/// Kata's Rust decoder allows.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a [`KataVirtualVolume`] is, which decides the fields it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolumeType {
    /// `direct_block`: a block device assigned to the VM, mounted in the guest.
    DirectBlock,
    /// `image_raw_block`: a whole image as one generic block device.
    ImageRawBlock,
    /// `layer_raw_block`: one image layer as a generic block device.
    LayerRawBlock,
    /// `image_nydus_block`: a whole image as a nydus (RAFS v6) block device.
    ImageNydusBlock,
    /// `layer_nydus_block`: one layer as a nydus (RAFS v6) block device.
    LayerNydusBlock,
    /// `image_nydus_fs`: a whole image as a nydus filesystem.
    ImageNydusFs,
    /// `layer_nydus_fs`: one layer as a nydus filesystem.
    LayerNydusFs,
    /// `image_guest_pull`: the guest pulls and unpacks the image itself.
    ImageGuestPull,
}

impl VolumeType {
    /// Every type Kata defines.
    pub const ALL: [VolumeType; 8] = [
        Self::DirectBlock,
        Self::ImageRawBlock,
        Self::LayerRawBlock,
        Self::ImageNydusBlock,
        Self::LayerNydusBlock,
        Self::ImageNydusFs,
        Self::LayerNydusFs,
        Self::ImageGuestPull,
    ];

    /// The `volume_type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DirectBlock => "direct_block",
            Self::ImageRawBlock => "image_raw_block",
            Self::LayerRawBlock => "layer_raw_block",
            Self::ImageNydusBlock => "image_nydus_block",
            Self::LayerNydusBlock => "layer_nydus_block",
            Self::ImageNydusFs => "image_nydus_fs",
            Self::LayerNydusFs => "layer_nydus_fs",
            Self::ImageGuestPull => "image_guest_pull",
        }
    }

    /// The type named `name` (exact match, as Kata compares).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name).ok_or_else(|| Error::UnknownVolumeType(truncated(name)))
    }
}

impl fmt::Display for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for VolumeType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VolumeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_name(&name).map_err(serde::de::Error::custom)
    }
}

/// dm-verity parameters of a raw or nydus block volume, as Kata names them.
/// The hash tree lives on the volume's own device, starting at `offset`
/// (no superblock, no salt: Kata builds the table line from these fields alone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DmVerityInfo {
    /// Hash algorithm (`sha256`, `sha1`; `sha512` is accepted too).
    pub hashtype: String,
    /// Root hash, hex.
    pub hash: String,
    /// Number of data blocks covered.
    pub blocknum: u64,
    /// Data block size in bytes.
    pub blocksize: u64,
    /// Hash block size in bytes.
    pub hashsize: u64,
    /// Byte offset of the hash tree on the device.
    pub offset: u64,
}

/// Extra information for a `direct_block` volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectAssignedVolume {
    /// Metadata passed to the agent.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Extra information for an `image_guest_pull` volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImagePullVolume {
    /// Metadata for the pull (the snapshotter's labels; the runtime merges
    /// the container annotations in).
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Extra information for the nydus volume types.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NydusImageVolume {
    /// nydusd configuration (a JSON document, as a string).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    /// The snapshotter's directory for this snapshot.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snapshot_dir: String,
}

/// Kata's virtual volume: how the host describes a rootfs (or volume) that
/// the guest assembles itself. [`volume_type`](Self::volume_type) decides
/// which other fields count; [`validate`](Self::validate) checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireVolume")]
pub struct KataVirtualVolume {
    /// What the volume is.
    pub volume_type: VolumeType,
    /// Device, image file, nydus bootstrap, or image reference (guest pull).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Filesystem type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fs_type: String,
    /// Mount options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// `direct_block` extras.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_volume: Option<DirectAssignedVolume>,
    /// `image_guest_pull` extras.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull: Option<ImagePullVolume>,
    /// nydus extras.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nydus_image: Option<NydusImageVolume>,
    /// dm-verity parameters of a block volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dm_verity: Option<DmVerityInfo>,
}

/// The JSON as it arrives: `volume_type` still a string, so that an unknown
/// type becomes [`Error::UnknownVolumeType`] rather than a JSON error.
#[derive(Deserialize)]
struct WireVolume {
    volume_type: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    fs_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    options: Vec<String>,
    #[serde(default)]
    direct_volume: Option<DirectAssignedVolume>,
    #[serde(default)]
    image_pull: Option<ImagePullVolume>,
    #[serde(default)]
    nydus_image: Option<NydusImageVolume>,
    #[serde(default)]
    dm_verity: Option<DmVerityInfo>,
}

impl TryFrom<WireVolume> for KataVirtualVolume {
    type Error = Error;

    fn try_from(wire: WireVolume) -> Result<Self> {
        Ok(KataVirtualVolume {
            volume_type: VolumeType::from_name(&wire.volume_type)?,
            source: wire.source,
            fs_type: wire.fs_type,
            options: wire.options,
            direct_volume: wire.direct_volume,
            image_pull: wire.image_pull,
            nydus_image: wire.nydus_image,
            dm_verity: wire.dm_verity,
        })
    }
}

/// Go writes a nil map or slice as `null`; read it as empty.
fn null_as_empty<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// At most 128 characters of untrusted text for an error message.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(128) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

fn invalid(volume_type: impl fmt::Display, field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidVolume { volume_type: volume_type.to_string(), field, reason: reason.into() }
}

impl KataVirtualVolume {
    /// An empty volume of type `volume_type`.
    pub fn new(volume_type: VolumeType) -> Self {
        KataVirtualVolume {
            volume_type,
            source: String::new(),
            fs_type: String::new(),
            options: Vec::new(),
            direct_volume: None,
            image_pull: None,
            nydus_image: None,
            dm_verity: None,
        }
    }

    /// Checks the fields the volume type needs, as Kata does (see the module
    /// doc for where Arca is stricter).
    pub fn validate(&self) -> Result<()> {
        let vt = self.volume_type;
        let need = |field: &'static str, value: &str, what: &str| {
            if value.is_empty() {
                Err(invalid(vt, field, format!("expected {what}, found nothing")))
            } else {
                Ok(())
            }
        };
        match vt {
            VolumeType::DirectBlock => {
                need("source", &self.source, "the assigned block device")?;
                need("fs_type", &self.fs_type, "a filesystem type")?;
            }
            VolumeType::ImageRawBlock | VolumeType::LayerRawBlock => {
                need("source", &self.source, "the raw block image")?;
                need("fs_type", &self.fs_type, "a filesystem type")?;
            }
            VolumeType::ImageNydusBlock | VolumeType::LayerNydusBlock => {
                need("source", &self.source, "the nydus meta blob")?;
                if self.fs_type != "rafsv6" {
                    return Err(invalid(
                        vt,
                        "fs_type",
                        format!("expected rafsv6, found {:?}", truncated(&self.fs_type)),
                    ));
                }
                self.check_nydus()?;
            }
            VolumeType::ImageNydusFs | VolumeType::LayerNydusFs => {
                need("source", &self.source, "the nydus meta blob")?;
                if self.fs_type != "rafsv6" && self.fs_type != "rafsv5" {
                    return Err(invalid(
                        vt,
                        "fs_type",
                        format!("expected rafsv5 or rafsv6, found {:?}", truncated(&self.fs_type)),
                    ));
                }
                self.check_nydus()?;
            }
            VolumeType::ImageGuestPull => {
                need("source", &self.source, "an image reference")?;
            }
        }
        if let Some(verity) = &self.dm_verity {
            verity.check(vt.as_str())?;
        }
        Ok(())
    }

    fn check_nydus(&self) -> Result<()> {
        let vt = self.volume_type;
        let Some(nydus) = &self.nydus_image else {
            return Err(invalid(vt, "nydus_image", "expected the nydus configuration, found nothing"));
        };
        if nydus.config.is_empty() {
            return Err(invalid(vt, "nydus_image.config", "expected the nydusd configuration, found nothing"));
        }
        if nydus.snapshot_dir.is_empty() {
            return Err(invalid(vt, "nydus_image.snapshot_dir", "expected the snapshot directory, found nothing"));
        }
        Ok(())
    }

    /// Parses and validates the JSON form (at most [`MAX_VOLUME_JSON_LEN`] bytes).
    pub fn from_json(json: &[u8]) -> Result<Self> {
        if json.len() > MAX_VOLUME_JSON_LEN {
            return Err(Error::TooLarge { what: "kata volume JSON".into(), limit: MAX_VOLUME_JSON_LEN as u64 });
        }
        let wire: WireVolume = serde_json::from_slice(json).map_err(|e| Error::VolumeJson(e.to_string()))?;
        let volume = KataVirtualVolume::try_from(wire)?;
        volume.validate()?;
        Ok(volume)
    }

    /// The JSON form, fields in Kata's order, empty ones left out.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::VolumeJson(e.to_string()))
    }

    /// Decodes, parses and validates a base64 value (at most
    /// [`MAX_VOLUME_OPTION_LEN`] characters, standard alphabet).
    pub fn from_base64(value: &str) -> Result<Self> {
        if value.len() > MAX_VOLUME_OPTION_LEN {
            return Err(Error::TooLarge {
                what: format!("{VOLUME_OPTION} value ({} bytes)", value.len()),
                limit: MAX_VOLUME_OPTION_LEN as u64,
            });
        }
        let json = BASE64
            .decode(value)
            .map_err(|e| Error::VolumeEncoding(format!("expected standard base64 after {VOLUME_OPTION}=: {e}")))?;
        Self::from_json(&json)
    }

    /// Validates and encodes as base64 (standard alphabet, padded).
    pub fn to_base64(&self) -> Result<String> {
        self.validate()?;
        Ok(BASE64.encode(self.to_json()?))
    }

    /// The volume carried by one mount option: `Ok(None)` when the option is
    /// not `io.katacontainers.volume=...`.
    pub fn from_mount_option(option: &str) -> Result<Option<Self>> {
        match option.strip_prefix(VOLUME_OPTION).and_then(|rest| rest.strip_prefix('=')) {
            Some(value) => Self::from_base64(value).map(Some),
            None => Ok(None),
        }
    }

    /// Every volume among a mount's options, in order; any bad one is an error.
    pub fn from_mount_options<S: AsRef<str>>(options: &[S]) -> Result<Vec<Self>> {
        let mut volumes = Vec::new();
        for option in options {
            if let Some(volume) = Self::from_mount_option(option.as_ref())? {
                volumes.push(volume);
            }
        }
        Ok(volumes)
    }

    /// The mount option `io.katacontainers.volume=<base64>`.
    pub fn to_mount_option(&self) -> Result<String> {
        Ok(format!("{VOLUME_OPTION}={}", self.to_base64()?))
    }

    /// The dm-verity parameters and root hash, if the volume has a `dm_verity` section.
    pub fn verity(&self) -> Result<Option<(VerityParams, Vec<u8>)>> {
        self.dm_verity.as_ref().map(|v| v.to_verity_in(self.volume_type.as_str())).transpose()
    }
}

impl DmVerityInfo {
    /// Checks the parameters as Kata does before building the table line:
    /// a known hash with a root hash of its length, 1 to 2³²-1 data blocks,
    /// block sizes powers of two from 512 B to 512 KiB, and a hash offset
    /// aligned to the hash block size and past the data.
    pub fn validate(&self) -> Result<()> {
        self.check("dm_verity")
    }

    fn check(&self, vt: &str) -> Result<()> {
        let algorithm = HashAlgorithm::from_name(&self.hashtype).map_err(|_| {
            invalid(
                vt,
                "dm_verity.hashtype",
                format!("expected sha256, sha1 or sha512, found {:?}", truncated(&self.hashtype)),
            )
        })?;
        let want = algorithm.digest_len() * 2;
        if self.hash.len() != want || hex::decode(&self.hash).is_err() {
            return Err(invalid(
                vt,
                "dm_verity.hash",
                format!("expected {want} hex digits for {}, found {:?}", algorithm.name(), truncated(&self.hash)),
            ));
        }
        if self.blocknum == 0 || self.blocknum > u64::from(u32::MAX) {
            return Err(invalid(
                vt,
                "dm_verity.blocknum",
                format!("expected 1 to {} data blocks, found {}", u32::MAX, self.blocknum),
            ));
        }
        for (field, size) in [("dm_verity.blocksize", self.blocksize), ("dm_verity.hashsize", self.hashsize)] {
            if !(MIN_VERITY_BLOCK_SIZE..=MAX_VERITY_BLOCK_SIZE).contains(&size) || !size.is_power_of_two() {
                return Err(invalid(
                    vt,
                    field,
                    format!(
                        "expected a power of two from {MIN_VERITY_BLOCK_SIZE} to {MAX_VERITY_BLOCK_SIZE}, found {size}"
                    ),
                ));
            }
        }
        if !self.offset.is_multiple_of(self.hashsize) {
            return Err(invalid(
                vt,
                "dm_verity.offset",
                format!("expected a multiple of the hash block size {}, found {}", self.hashsize, self.offset),
            ));
        }
        // Both factors are bounded above (2^32 blocks of 2^19 bytes), so this cannot overflow.
        let data_end = self.blocknum * self.blocksize;
        if self.offset < data_end {
            return Err(invalid(
                vt,
                "dm_verity.offset",
                format!("expected the hash tree after the {data_end} bytes of data, found offset {}", self.offset),
            ));
        }
        Ok(())
    }

    /// The parameters of the tree for `arca_verity` (no superblock, empty
    /// salt, `hash_offset` = `offset`) and the root hash bytes.
    pub fn to_verity(&self) -> Result<(VerityParams, Vec<u8>)> {
        self.to_verity_in("dm_verity")
    }

    fn to_verity_in(&self, vt: &str) -> Result<(VerityParams, Vec<u8>)> {
        self.check(vt)?;
        let hash =
            HashAlgorithm::from_name(&self.hashtype).map_err(|e| invalid(vt, "dm_verity.hashtype", e.to_string()))?;
        let root = hex::decode(&self.hash).map_err(|e| invalid(vt, "dm_verity.hash", e.to_string()))?;
        // `check` bounded both sizes to 512 KiB, so they fit a u32.
        let size = |field: &'static str, v: u64| {
            u32::try_from(v).map_err(|_| invalid(vt, field, format!("{v} does not fit 32 bits")))
        };
        let params = VerityParams {
            hash,
            data_block_size: size("dm_verity.blocksize", self.blocksize)?,
            hash_block_size: size("dm_verity.hashsize", self.hashsize)?,
            data_blocks: self.blocknum,
            salt: Vec::new(),
            hash_offset: self.offset,
            superblock: false,
            uuid: [0; 16],
        };
        params.validate().map_err(|e| invalid(vt, "dm_verity", e.to_string()))?;
        Ok((params, root))
    }

    /// Kata's description of a tree `arca_verity` (or `veritysetup`) built
    /// appended to its data: `offset` is where the tree itself starts (past
    /// the superblock, if any). Kata's form has no salt, so the tree must
    /// have been built with an empty one (`--salt -`).
    pub fn from_verity(params: &VerityParams, root_hash: &[u8]) -> Result<Self> {
        params.validate().map_err(|e| invalid("dm_verity", "dm_verity", e.to_string()))?;
        if !params.salt.is_empty() {
            return Err(invalid(
                "dm_verity",
                "salt",
                format!("Kata's dm_verity has no salt: expected an empty salt, found {} bytes", params.salt.len()),
            ));
        }
        let hbs = u64::from(params.hash_block_size);
        let offset = if params.superblock {
            // veritysetup puts the tree at the first hash block after the 512-byte superblock.
            params.hash_offset.checked_add(512 + hbs - 1).map(|end| end / hbs * hbs)
        } else {
            Some(params.hash_offset)
        }
        .ok_or_else(|| invalid("dm_verity", "offset", format!("hash offset {} overflows", params.hash_offset)))?;
        let info = DmVerityInfo {
            hashtype: params.hash.name().to_string(),
            hash: hex::encode(root_hash),
            blocknum: params.data_blocks,
            blocksize: u64::from(params.data_block_size),
            hashsize: hbs,
            offset,
        };
        info.validate()?;
        Ok(info)
    }
}

impl ImagePullVolume {
    /// The agent storage driver option `image_guest_pull=<JSON>` Kata's
    /// runtime sends with the pull.
    pub fn to_driver_option(&self) -> Result<String> {
        let json = serde_json::to_string(self).map_err(|e| Error::VolumeJson(e.to_string()))?;
        Ok(format!("{GUEST_PULL_DRIVER}={json}"))
    }

    /// Parses an `image_guest_pull=<JSON>` driver option (at most
    /// [`MAX_METADATA_BYTES`] bytes).
    pub fn from_driver_option(option: &str) -> Result<Self> {
        if option.len() > MAX_METADATA_BYTES {
            return Err(Error::TooLarge {
                what: format!("{GUEST_PULL_DRIVER} driver option ({} bytes)", option.len()),
                limit: MAX_METADATA_BYTES as u64,
            });
        }
        let json = option.strip_prefix(GUEST_PULL_DRIVER).and_then(|rest| rest.strip_prefix('=')).ok_or_else(|| {
            Error::VolumeEncoding(format!(
                "expected a {GUEST_PULL_DRIVER}=<JSON> driver option, found {:?}",
                truncated(option)
            ))
        })?;
        serde_json::from_str(json).map_err(|e| Error::VolumeJson(e.to_string()))
    }
}

/// What a guest pull produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullTarget {
    /// The sandbox (pause) container: nothing is pulled, the guest's own
    /// pause bundle is used.
    Sandbox,
    /// A container image, by reference.
    Image(String),
}

/// A guest pull as Kata's runtime asks the agent for it: the image (from
/// the container annotations) and the pull metadata (the volume's metadata
/// with every container annotation merged in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPullRequest {
    /// The image, or the sandbox.
    pub target: PullTarget,
    /// Pull metadata.
    pub metadata: BTreeMap<String, String>,
}

impl GuestPullRequest {
    /// The pull that an `image_guest_pull` volume and the container's
    /// annotations ask for, decided as Kata's runtime does:
    /// - with `io.kubernetes.cri.container-type` (containerd), the image is
    ///   `io.kubernetes.cri.image-name`; with `io.kubernetes.cri-o.ContainerType`
    ///   (CRI-O), `io.kubernetes.cri-o.ImageName`; with neither (nerdctl),
    ///   `io.kubernetes.cri.image-name`;
    /// - a container type `sandbox` (or Kata's `pod_sandbox`) is the pause
    ///   container: [`PullTarget::Sandbox`].
    ///
    /// The volume's `source` is not used for the reference (Kata replaces it
    /// with the annotation too); a container-type value other than
    /// `sandbox`/`container`, a missing image name or one that does not parse
    /// is an error.
    pub fn new(volume: &KataVirtualVolume, annotations: &BTreeMap<String, String>) -> Result<Self> {
        if volume.volume_type != VolumeType::ImageGuestPull {
            return Err(Error::GuestPull(format!(
                "expected a volume of type {}, found {}",
                VolumeType::ImageGuestPull,
                volume.volume_type
            )));
        }
        volume.validate()?;
        let mut metadata = volume.image_pull.as_ref().map(|p| p.metadata.clone()).unwrap_or_default();
        let mut size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        for (k, v) in annotations {
            size = size.saturating_add(k.len() + v.len());
            metadata.insert(k.clone(), v.clone());
        }
        if size > MAX_METADATA_BYTES {
            return Err(Error::TooLarge {
                what: format!("guest pull metadata ({size} bytes of keys and values)"),
                limit: MAX_METADATA_BYTES as u64,
            });
        }
        let sandbox = |key: &str, value: &str| match value {
            "sandbox" => Ok(true),
            "container" => Ok(false),
            other => Err(Error::GuestPull(format!(
                "annotation {key}: expected sandbox or container, found {:?}",
                truncated(other)
            ))),
        };
        let (is_sandbox, image_key) = if let Some(t) = annotations.get(CRI_CONTAINER_TYPE) {
            (sandbox(CRI_CONTAINER_TYPE, t)?, CRI_IMAGE_NAME)
        } else if let Some(t) = annotations.get(CRIO_CONTAINER_TYPE) {
            (sandbox(CRIO_CONTAINER_TYPE, t)?, CRIO_IMAGE_NAME)
        } else {
            (annotations.get(KATA_CONTAINER_TYPE).is_some_and(|t| t == "pod_sandbox"), CRI_IMAGE_NAME)
        };
        if is_sandbox {
            return Ok(GuestPullRequest { target: PullTarget::Sandbox, metadata });
        }
        let image = annotations.get(image_key).map(|s| s.trim()).unwrap_or_default();
        if image.is_empty() {
            return Err(Error::GuestPull(format!(
                "expected the image name in annotation {image_key}, found {}",
                if annotations.contains_key(image_key) { "an empty value" } else { "no such annotation" }
            )));
        }
        crate::parse_reference(image)?;
        Ok(GuestPullRequest { target: PullTarget::Image(image.to_string()), metadata })
    }

    /// The agent storage source: the image reference, or `pause`.
    pub fn source(&self) -> &str {
        match &self.target {
            PullTarget::Sandbox => SANDBOX_SOURCE,
            PullTarget::Image(image) => image,
        }
    }

    /// The agent storage driver option `image_guest_pull=<JSON metadata>`.
    pub fn driver_option(&self) -> Result<String> {
        ImagePullVolume { metadata: self.metadata.clone() }.to_driver_option()
    }
}

/// The bundle directory Kata uses for a container in the guest:
/// `/run/kata-containers/<id>` (its rootfs is `<bundle>/rootfs`). The id must
/// be one plain path component.
pub fn bundle_dir(container_id: &str) -> Result<PathBuf> {
    let plain = !container_id.is_empty()
        && container_id.len() <= 255
        && container_id != "."
        && container_id != ".."
        && !container_id.contains(['/', '\0']);
    if !plain {
        return Err(Error::GuestPull(format!(
            "expected a container id that is one path component, found {:?}",
            truncated(container_id)
        )));
    }
    Ok(Path::new(CONTAINER_BASE).join(container_id))
}

/// How [`guest_pull`] pulls.
#[derive(Debug, Clone, Default)]
pub struct GuestPullOptions {
    /// Registry pull options (policy, decryption keys, store, limits).
    pub pull: PullOptions,
    /// The pause bundle baked into the guest image (`config.json` + `rootfs/`),
    /// copied for the sandbox container; `None`: a sandbox request is an error.
    pub pause_bundle: Option<PathBuf>,
}

/// What [`guest_pull`] did.
#[derive(Debug, Clone)]
pub enum GuestPullOutcome {
    /// The image was pulled into the bundle.
    Pulled {
        /// The reference pulled.
        reference: String,
        /// The pull's figures.
        report: PullReport,
    },
    /// The pause bundle was copied into the bundle.
    Sandbox,
}

/// Carries out a guest pull into `bundle` (`bundle/rootfs` +
/// `bundle/config.json`; `bundle/rootfs` must not exist yet): the image
/// through [`crate::pull`] with `options.pull`, or for the sandbox a copy of
/// `options.pause_bundle`.
pub async fn guest_pull(
    client: &Arc<RegistryClient>,
    request: &GuestPullRequest,
    bundle: &Path,
    options: &GuestPullOptions,
) -> Result<GuestPullOutcome> {
    match &request.target {
        PullTarget::Image(image) => {
            let reference = crate::parse_reference(image)?;
            tracing::info!(image = %image, bundle = %bundle.display(), "guest pull");
            let report = crate::pull(client, &reference, bundle, &options.pull).await?;
            Ok(GuestPullOutcome::Pulled { reference: image.clone(), report })
        }
        PullTarget::Sandbox => {
            let Some(pause) = &options.pause_bundle else {
                return Err(Error::GuestPull("sandbox container, but no pause bundle is configured".into()));
            };
            tracing::info!(pause = %pause.display(), bundle = %bundle.display(), "sandbox: copying the pause bundle");
            copy_pause_bundle(pause, bundle)?;
            Ok(GuestPullOutcome::Sandbox)
        }
    }
}

/// Copies `pause/config.json` and `pause/rootfs` into `bundle`.
fn copy_pause_bundle(pause: &Path, bundle: &Path) -> Result<()> {
    let rootfs = bundle.join("rootfs");
    if rootfs.symlink_metadata().is_ok() {
        return Err(Error::io(
            format!("{} exists; use a new bundle", rootfs.display()),
            std::io::ErrorKind::AlreadyExists.into(),
        ));
    }
    std::fs::create_dir_all(bundle).map_err(|e| Error::io(format!("creating {}", bundle.display()), e))?;
    let config = pause.join("config.json");
    std::fs::copy(&config, bundle.join("config.json"))
        .map_err(|e| Error::io(format!("copying {}", config.display()), e))?;
    copy_tree(&pause.join("rootfs"), &rootfs)
}

/// Copies directories, regular files (with their modes) and symlinks; the
/// pause bundle is part of the measured guest image, so this is not a
/// hardened copy of untrusted content.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = from.symlink_metadata().map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    let ty = meta.file_type();
    if ty.is_dir() {
        std::fs::create_dir(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
        std::fs::set_permissions(to, meta.permissions())
            .map_err(|e| Error::io(format!("setting the mode of {}", to.display()), e))?;
        let entries = std::fs::read_dir(from).map_err(|e| Error::io(format!("listing {}", from.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", from.display()), e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if ty.is_symlink() {
        let target = std::fs::read_link(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        std::os::unix::fs::symlink(&target, to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    } else if ty.is_file() {
        std::fs::copy(from, to).map_err(|e| Error::io(format!("copying {}", from.display()), e))?;
    } else {
        tracing::warn!(path = %from.display(), "pause bundle: skipping a special file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(json: &serde_json::Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(json).unwrap())
    }

    fn verity_json() -> serde_json::Value {
        json!({"hashtype": "sha256", "hash": "a".repeat(64), "blocknum": 16, "blocksize": 512, "hashsize": 4096, "offset": 8192})
    }

    /// A proxy-mode value as nydus-snapshotter writes it (Go: sorted map keys).
    fn proxy_json() -> serde_json::Value {
        json!({
            "volume_type": "image_guest_pull",
            "source": "registry.example/app:v1",
            "options": [
                "containerd.io/snapshot/cri.image-ref=registry.example/app:v1",
                "containerd.io/snapshot/cri.layer-digest=sha256:0123",
                "containerd.io/snapshot/nydus-proxy-mode=true"
            ],
            "image_pull": {"metadata": {
                "containerd.io/snapshot/cri.image-ref": "registry.example/app:v1",
                "containerd.io/snapshot/cri.layer-digest": "sha256:0123",
                "containerd.io/snapshot/nydus-proxy-mode": "true"
            }}
        })
    }

    fn full_volume() -> KataVirtualVolume {
        KataVirtualVolume {
            volume_type: VolumeType::LayerNydusBlock,
            source: "/var/lib/nydus/meta".into(),
            fs_type: "rafsv6".into(),
            options: vec!["ro".into()],
            direct_volume: Some(DirectAssignedVolume { metadata: [("mode".into(), "rw".into())].into() }),
            image_pull: Some(ImagePullVolume { metadata: [("k".into(), "v".into())].into() }),
            nydus_image: Some(NydusImageVolume { config: "{}".into(), snapshot_dir: "/snap/1".into() }),
            dm_verity: Some(serde_json::from_value(verity_json()).unwrap()),
        }
    }

    #[test]
    fn every_field_round_trips_through_base64_and_the_mount_option() {
        let volume = full_volume();
        let encoded = volume.to_base64().unwrap();
        assert_eq!(KataVirtualVolume::from_base64(&encoded).unwrap(), volume);
        let option = volume.to_mount_option().unwrap();
        assert!(option.starts_with("io.katacontainers.volume="));
        assert_eq!(KataVirtualVolume::from_mount_option(&option).unwrap(), Some(volume.clone()));
        let text = volume.to_json().unwrap();
        let at: Vec<usize> =
            ["volume_type", "source", "fs_type", "options", "direct_volume", "image_pull", "nydus_image", "dm_verity"]
                .iter()
                .map(|k| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing from {text}")))
                .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "fields not in Kata's order: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["dm_verity"], verity_json());
        assert_eq!(json["nydus_image"], json!({"config": "{}", "snapshot_dir": "/snap/1"}));
    }

    #[test]
    fn encoding_is_byte_equal_to_kata_and_go() {
        // Kata's own serde test volume, as kata-types (struct order, empty
        // fields skipped) and Go's encoding/json (same order, sorted map keys)
        // both write it.
        let kata = concat!(
            r#"{"volume_type":"direct_block","source":"/tmp","fs_type":"ext4","options":["rw"],"#,
            r#""direct_volume":{"metadata":{"mode":"rw"}},"#,
            r#""nydus_image":{"config":"test","snapshot_dir":"/var/lib/nydus.dir"}}"#
        );
        let volume = KataVirtualVolume::from_json(kata.as_bytes()).unwrap();
        assert_eq!(volume.to_json().unwrap(), kata);
        let encoded = base64::engine::general_purpose::STANDARD.encode(kata);
        assert_eq!(volume.to_base64().unwrap(), encoded);
        assert_eq!(KataVirtualVolume::from_base64(&encoded).unwrap(), volume);

        // nydus-snapshotter's proxy volume: Go sorts the metadata keys.
        let go = concat!(
            r#"{"volume_type":"image_guest_pull","source":"docker.io/library/nginx:latest","#,
            r#""options":["containerd.io/snapshot/nydus-proxy-mode=true","containerd.io/snapshot/cri.image-ref=docker.io/library/nginx:latest"],"#,
            r#""image_pull":{"metadata":{"containerd.io/snapshot/cri.image-ref":"docker.io/library/nginx:latest","#,
            r#""containerd.io/snapshot/nydus-proxy-mode":"true"}}}"#
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(go);
        let volume = KataVirtualVolume::from_mount_option(&format!("io.katacontainers.volume={encoded}")).unwrap();
        assert_eq!(volume.unwrap().to_base64().unwrap(), encoded);
    }

    #[test]
    fn empty_fields_are_left_out_as_kata_does() {
        let volume = KataVirtualVolume::new(VolumeType::DirectBlock);
        assert_eq!(volume.to_json().unwrap(), r#"{"volume_type":"direct_block"}"#);
        let mut pull = KataVirtualVolume::new(VolumeType::ImageGuestPull);
        pull.source = "a/b:c".into();
        pull.image_pull = Some(ImagePullVolume::default());
        assert_eq!(pull.to_json().unwrap(), r#"{"volume_type":"image_guest_pull","source":"a/b:c","image_pull":{}}"#);
    }

    #[test]
    fn snapshotter_proxy_value_parses_and_encodes_back_byte_equal() {
        let value = b64(&proxy_json());
        let volume = KataVirtualVolume::from_base64(&value).unwrap();
        assert_eq!(volume.volume_type, VolumeType::ImageGuestPull);
        assert_eq!(volume.source, "registry.example/app:v1");
        assert_eq!(volume.options.len(), 3);
        let metadata = &volume.image_pull.as_ref().unwrap().metadata;
        assert_eq!(metadata["containerd.io/snapshot/nydus-proxy-mode"], "true");
        // Encoded back, it holds the same JSON (fields in Kata's struct order).
        let back = volume.to_base64().unwrap();
        let reparsed: serde_json::Value = serde_json::from_slice(&BASE64.decode(back).unwrap()).unwrap();
        assert_eq!(reparsed, proxy_json());
    }

    #[test]
    fn tarfs_raw_block_value_with_verity_parses() {
        let value = b64(&json!({
            "volume_type": "image_raw_block",
            "source": "/var/lib/containerd-nydus/cache/abc.image.disk",
            "fs_type": "erofs",
            "options": ["ro"],
            "dm_verity": verity_json(),
        }));
        let volume = KataVirtualVolume::from_base64(&value).unwrap();
        let (params, root) = volume.verity().unwrap().unwrap();
        assert_eq!(params.hash, HashAlgorithm::Sha256);
        assert_eq!((params.data_block_size, params.hash_block_size, params.data_blocks), (512, 4096, 16));
        assert_eq!((params.hash_offset, params.superblock, params.salt.len()), (8192, false, 0));
        assert_eq!(root, vec![0xaa; 32]);
    }

    #[test]
    fn go_nulls_and_unpadded_base64_are_accepted() {
        let json = r#"{"volume_type":"direct_block","source":"/dev/vdb","fs_type":"ext4","options":null,"direct_volume":{"metadata":null}}"#;
        let volume = KataVirtualVolume::from_json(json.as_bytes()).unwrap();
        assert_eq!(volume.direct_volume, Some(DirectAssignedVolume::default()));
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(json);
        assert!(!unpadded.ends_with('='));
        assert_eq!(KataVirtualVolume::from_base64(&unpadded).unwrap(), volume);
    }

    #[test]
    fn other_mount_options_are_not_volumes() {
        let options = ["lowerdir=/a:/b", "io.katacontainers.volumex=abc", "ro"];
        assert!(KataVirtualVolume::from_mount_options(&options).unwrap().is_empty());
        let two = [full_volume().to_mount_option().unwrap(), "ro".into(), full_volume().to_mount_option().unwrap()];
        assert_eq!(KataVirtualVolume::from_mount_options(&two).unwrap().len(), 2);
    }

    #[test]
    fn bad_base64_is_an_encoding_error() {
        for value in ["!!!!", "eyJ2b2x1bWVfdHlwZSI6I", "eyJ2b2x1bWVfdHlwZSI6ImRpcmVjdF9ibG9jayJ9 ", "a-_b"] {
            let err = KataVirtualVolume::from_base64(value).unwrap_err();
            assert!(matches!(err, Error::VolumeEncoding(_)), "{value}: {err}");
        }
    }

    #[test]
    fn oversized_values_are_refused_before_decoding() {
        let value = "A".repeat(MAX_VOLUME_OPTION_LEN + 1);
        assert!(matches!(KataVirtualVolume::from_base64(&value), Err(Error::TooLarge { .. })));
        let json = vec![b' '; MAX_VOLUME_JSON_LEN + 1];
        assert!(matches!(KataVirtualVolume::from_json(&json), Err(Error::TooLarge { .. })));
        // The largest value that fits still parses.
        let mut pad = proxy_json();
        let room = MAX_VOLUME_JSON_LEN - serde_json::to_vec(&pad).unwrap().len() - 16;
        pad["options"].as_array_mut().unwrap().push(json!("x".repeat(room)));
        assert!(b64(&pad).len() <= MAX_VOLUME_OPTION_LEN);
        KataVirtualVolume::from_base64(&b64(&pad)).unwrap();
    }

    #[test]
    fn malformed_json_is_a_json_error() {
        for json in [
            "",
            "[]",
            "{",
            r#"{"source":"x"}"#,
            r#"{"volume_type":7}"#,
            r#"{"volume_type":"direct_block","options":"ro"}"#,
            r#"{"volume_type":"image_raw_block","source":"s","fs_type":"erofs","dm_verity":{"hashtype":"sha256"}}"#,
            r#"{"volume_type":"image_raw_block","source":"s","fs_type":"erofs","dm_verity":{"hashtype":"sha256","hash":"","blocknum":-1,"blocksize":512,"hashsize":512,"offset":0}}"#,
        ] {
            let err = KataVirtualVolume::from_json(json.as_bytes()).unwrap_err();
            assert!(matches!(err, Error::VolumeJson(_)), "{json}: {err}");
        }
        let deep = "[".repeat(10_000);
        assert!(matches!(
            KataVirtualVolume::from_json(format!(r#"{{"volume_type":"direct_block","x":{deep}}}"#).as_bytes()),
            Err(Error::VolumeJson(_))
        ));
    }

    #[test]
    fn unknown_volume_types_are_refused_by_name() {
        for name in ["", "ignore", "Image_Guest_Pull", "image_guest_pull "] {
            let json = json!({"volume_type": name, "source": "x"}).to_string();
            match KataVirtualVolume::from_json(json.as_bytes()) {
                Err(Error::UnknownVolumeType(found)) => assert_eq!(found, name),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        // Through serde directly too, as a JSON error naming the type.
        let err = serde_json::from_str::<KataVirtualVolume>(r#"{"volume_type":"nope"}"#).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    fn field_of(volume: &KataVirtualVolume) -> &'static str {
        match volume.validate() {
            Err(Error::InvalidVolume { field, .. }) => field,
            other => panic!("{volume:?}: expected InvalidVolume, got {other:?}"),
        }
    }

    #[test]
    fn each_type_needs_its_fields() {
        let mut v = KataVirtualVolume::new(VolumeType::DirectBlock);
        assert_eq!(field_of(&v), "source");
        v.source = "/dev/vdb".into();
        assert_eq!(field_of(&v), "fs_type");
        v.fs_type = "ext4".into();
        v.validate().unwrap();

        for t in [VolumeType::ImageRawBlock, VolumeType::LayerRawBlock] {
            let mut v = KataVirtualVolume::new(t);
            assert_eq!(field_of(&v), "source");
            v.source = "/img".into();
            assert_eq!(field_of(&v), "fs_type");
            v.fs_type = "erofs".into();
            v.validate().unwrap();
        }

        for (t, fs_ok) in [
            (VolumeType::ImageNydusBlock, &["rafsv6"][..]),
            (VolumeType::LayerNydusBlock, &["rafsv6"][..]),
            (VolumeType::ImageNydusFs, &["rafsv5", "rafsv6"][..]),
            (VolumeType::LayerNydusFs, &["rafsv5", "rafsv6"][..]),
        ] {
            let mut v = KataVirtualVolume::new(t);
            assert_eq!(field_of(&v), "source");
            v.source = "/meta".into();
            v.fs_type = "ext4".into();
            assert_eq!(field_of(&v), "fs_type");
            if t == VolumeType::ImageNydusBlock {
                v.fs_type = "rafsv5".into();
                assert_eq!(field_of(&v), "fs_type", "nydus block volumes are RAFS v6 only");
            }
            for fs in fs_ok {
                v.fs_type = (*fs).into();
                v.nydus_image = None;
                assert_eq!(field_of(&v), "nydus_image");
                v.nydus_image = Some(NydusImageVolume { config: String::new(), snapshot_dir: "/s".into() });
                assert_eq!(field_of(&v), "nydus_image.config");
                v.nydus_image = Some(NydusImageVolume { config: "{}".into(), snapshot_dir: String::new() });
                assert_eq!(field_of(&v), "nydus_image.snapshot_dir");
                v.nydus_image = Some(NydusImageVolume { config: "{}".into(), snapshot_dir: "/s".into() });
                v.validate().unwrap();
            }
        }

        let mut v = KataVirtualVolume::new(VolumeType::ImageGuestPull);
        assert_eq!(field_of(&v), "source");
        v.source = "dummy-image-reference".into();
        v.validate().unwrap();
    }

    fn verity_field(mutate: impl FnOnce(&mut DmVerityInfo)) -> &'static str {
        let mut info: DmVerityInfo = serde_json::from_value(verity_json()).unwrap();
        mutate(&mut info);
        let mut volume = KataVirtualVolume::new(VolumeType::LayerRawBlock);
        volume.source = "/img".into();
        volume.fs_type = "erofs".into();
        volume.dm_verity = Some(info.clone());
        let field = field_of(&volume);
        assert!(info.to_verity().is_err());
        field
    }

    #[test]
    fn inconsistent_verity_parameters_are_refused_by_field() {
        assert_eq!(verity_field(|i| i.hashtype = "md5".into()), "dm_verity.hashtype");
        assert_eq!(verity_field(|i| i.hash = "a".repeat(63)), "dm_verity.hash");
        assert_eq!(verity_field(|i| i.hash = "g".repeat(64)), "dm_verity.hash");
        assert_eq!(verity_field(|i| i.hashtype = "sha1".into()), "dm_verity.hash", "a sha256-long root with sha1");
        assert_eq!(verity_field(|i| i.blocknum = 0), "dm_verity.blocknum");
        assert_eq!(verity_field(|i| i.blocknum = 1 << 32), "dm_verity.blocknum");
        assert_eq!(verity_field(|i| i.blocksize = 256), "dm_verity.blocksize");
        assert_eq!(verity_field(|i| i.blocksize = 1536), "dm_verity.blocksize");
        assert_eq!(verity_field(|i| i.blocksize = 1 << 20), "dm_verity.blocksize");
        assert_eq!(verity_field(|i| i.hashsize = 0), "dm_verity.hashsize");
        assert_eq!(verity_field(|i| i.offset = 4096 + 512), "dm_verity.offset");
        assert_eq!(verity_field(|i| i.offset = 4096), "dm_verity.offset", "tree inside the data");
        // Largest counts and sizes do not overflow.
        assert_eq!(
            verity_field(|i| {
                i.blocknum = u64::from(u32::MAX);
                i.blocksize = 1 << 19;
            }),
            "dm_verity.offset"
        );
        // Kata's case-insensitive hash names and sha1 roots.
        let mut info: DmVerityInfo = serde_json::from_value(verity_json()).unwrap();
        info.hashtype = "SHA1".into();
        info.hash = "0".repeat(40);
        assert_eq!(info.to_verity().unwrap().0.hash, HashAlgorithm::Sha1);
    }

    #[test]
    fn verity_params_convert_both_ways() {
        let params = VerityParams {
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: 100,
            salt: Vec::new(),
            hash_offset: 409_600,
            superblock: true,
            uuid: [7; 16],
        };
        let info = DmVerityInfo::from_verity(&params, &[0x11; 32]).unwrap();
        assert_eq!(info.offset, 409_600 + 4096, "the tree starts one hash block past the superblock");
        assert_eq!((info.blocknum, info.blocksize, info.hashsize), (100, 4096, 4096));
        let (back, root) = info.to_verity().unwrap();
        assert_eq!(root, vec![0x11; 32]);
        assert_eq!((back.hash_offset, back.superblock, back.data_blocks), (409_600 + 4096, false, 100));

        let plain = VerityParams { superblock: false, ..params.clone() };
        assert_eq!(DmVerityInfo::from_verity(&plain, &[0; 32]).unwrap().offset, 409_600);
        let salted = VerityParams { salt: vec![1, 2], ..params.clone() };
        assert!(matches!(
            DmVerityInfo::from_verity(&salted, &[0; 32]),
            Err(Error::InvalidVolume { field: "salt", .. })
        ));
        let zero = VerityParams { hash_block_size: 0, ..params.clone() };
        assert!(matches!(DmVerityInfo::from_verity(&zero, &[0; 32]), Err(Error::InvalidVolume { .. })));
        let separate = VerityParams { hash_offset: 0, superblock: false, ..params };
        assert!(matches!(
            DmVerityInfo::from_verity(&separate, &[0; 32]),
            Err(Error::InvalidVolume { field: "dm_verity.offset", .. })
        ));
    }

    fn guest_pull_volume() -> KataVirtualVolume {
        KataVirtualVolume::from_base64(&b64(&proxy_json())).unwrap()
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn containerd_annotations_name_the_image_and_merge_into_the_metadata() {
        let a = annotations(&[
            (CRI_CONTAINER_TYPE, "container"),
            (CRI_IMAGE_NAME, "docker.io/library/busybox:1.36"),
            (CRIO_IMAGE_NAME, "ignored/by:containerd"),
            ("containerd.io/snapshot/nydus-proxy-mode", "overridden"),
        ]);
        let request = GuestPullRequest::new(&guest_pull_volume(), &a).unwrap();
        assert_eq!(request.target, PullTarget::Image("docker.io/library/busybox:1.36".into()));
        assert_eq!(request.source(), "docker.io/library/busybox:1.36");
        assert_eq!(request.metadata["containerd.io/snapshot/nydus-proxy-mode"], "overridden");
        assert_eq!(request.metadata["containerd.io/snapshot/cri.layer-digest"], "sha256:0123");
        assert_eq!(request.metadata[CRI_CONTAINER_TYPE], "container");
        let option = request.driver_option().unwrap();
        assert!(
            option.starts_with(r#"image_guest_pull={"metadata":{"containerd.io/snapshot/cri.image-ref":"#),
            "{option}"
        );
        assert_eq!(ImagePullVolume::from_driver_option(&option).unwrap().metadata, request.metadata);
    }

    #[test]
    fn cri_o_and_nerdctl_annotations() {
        let crio = annotations(&[
            (CRIO_CONTAINER_TYPE, "container"),
            (CRIO_IMAGE_NAME, "quay.io/org/app@sha256:"),
            (CRI_IMAGE_NAME, "not/this:one"),
        ]);
        // A digest reference must be a full digest.
        assert!(matches!(GuestPullRequest::new(&guest_pull_volume(), &crio), Err(Error::Reference { .. })));
        let digest = format!("quay.io/org/app@sha256:{}", "ab".repeat(32));
        let crio = annotations(&[(CRIO_CONTAINER_TYPE, "container"), (CRIO_IMAGE_NAME, &digest)]);
        assert_eq!(GuestPullRequest::new(&guest_pull_volume(), &crio).unwrap().target, PullTarget::Image(digest));

        let nerdctl = annotations(&[(CRI_IMAGE_NAME, "localhost:5000/x:y")]);
        assert_eq!(
            GuestPullRequest::new(&guest_pull_volume(), &nerdctl).unwrap().target,
            PullTarget::Image("localhost:5000/x:y".into())
        );
    }

    #[test]
    fn sandbox_containers_pull_nothing() {
        for a in [
            annotations(&[(CRI_CONTAINER_TYPE, "sandbox"), (CRI_IMAGE_NAME, "ignored:1")]),
            annotations(&[(CRIO_CONTAINER_TYPE, "sandbox")]),
            annotations(&[(KATA_CONTAINER_TYPE, "pod_sandbox")]),
        ] {
            let request = GuestPullRequest::new(&guest_pull_volume(), &a).unwrap();
            assert_eq!(request.target, PullTarget::Sandbox);
            assert_eq!(request.source(), "pause");
        }
    }

    #[test]
    fn guest_pull_requests_are_refused_when_they_cannot_name_an_image() {
        let cases = [
            annotations(&[]),
            annotations(&[(CRI_CONTAINER_TYPE, "container")]),
            annotations(&[(CRI_CONTAINER_TYPE, "container"), (CRI_IMAGE_NAME, "  ")]),
            annotations(&[(CRIO_CONTAINER_TYPE, "container"), (CRI_IMAGE_NAME, "wrong/key:1")]),
            annotations(&[(CRI_CONTAINER_TYPE, "podsandbox"), (CRI_IMAGE_NAME, "a/b:c")]),
        ];
        for a in cases {
            let err = GuestPullRequest::new(&guest_pull_volume(), &a).unwrap_err();
            assert!(matches!(err, Error::GuestPull(_)), "{a:?}: {err}");
        }
        let a = annotations(&[(CRI_IMAGE_NAME, "a/b:c")]);
        let mut raw = KataVirtualVolume::new(VolumeType::ImageRawBlock);
        raw.source = "/img".into();
        raw.fs_type = "erofs".into();
        assert!(matches!(GuestPullRequest::new(&raw, &a), Err(Error::GuestPull(_))));
        let mut no_source = guest_pull_volume();
        no_source.source.clear();
        assert!(matches!(GuestPullRequest::new(&no_source, &a), Err(Error::InvalidVolume { field: "source", .. })));
        let big = annotations(&[(CRI_IMAGE_NAME, "a/b:c"), ("x", &"y".repeat(MAX_METADATA_BYTES))]);
        assert!(matches!(GuestPullRequest::new(&guest_pull_volume(), &big), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn driver_options_are_checked() {
        assert!(matches!(ImagePullVolume::from_driver_option("metadata={}"), Err(Error::VolumeEncoding(_))));
        assert!(matches!(ImagePullVolume::from_driver_option("image_guest_pull={"), Err(Error::VolumeJson(_))));
        let long = format!("image_guest_pull={}", " ".repeat(MAX_METADATA_BYTES));
        assert!(matches!(ImagePullVolume::from_driver_option(&long), Err(Error::TooLarge { .. })));
        assert_eq!(ImagePullVolume::from_driver_option("image_guest_pull={}").unwrap(), ImagePullVolume::default());
    }

    #[test]
    fn bundle_dirs_are_one_component_under_the_kata_base() {
        assert_eq!(bundle_dir("abc123").unwrap(), Path::new("/run/kata-containers/abc123"));
        for id in ["", ".", "..", "a/b", "../x", "a\0b"] {
            assert!(matches!(bundle_dir(id), Err(Error::GuestPull(_))), "{id:?}");
        }
    }

    #[test]
    fn pause_bundle_is_copied_for_the_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let pause = dir.path().join("pause_bundle");
        std::fs::create_dir_all(pause.join("rootfs/bin")).unwrap();
        std::fs::write(pause.join("config.json"), b"{\"ociVersion\":\"1.0.2\"}").unwrap();
        std::fs::write(pause.join("rootfs/pause"), b"\x7fELF").unwrap();
        std::os::unix::fs::symlink("../pause", pause.join("rootfs/bin/pause")).unwrap();
        let bundle = dir.path().join("run/cid");
        copy_pause_bundle(&pause, &bundle).unwrap();
        assert_eq!(std::fs::read(bundle.join("rootfs/pause")).unwrap(), b"\x7fELF");
        assert_eq!(std::fs::read_link(bundle.join("rootfs/bin/pause")).unwrap(), Path::new("../pause"));
        assert_eq!(std::fs::read(bundle.join("config.json")).unwrap(), b"{\"ociVersion\":\"1.0.2\"}");
        let again = copy_pause_bundle(&pause, &bundle).unwrap_err();
        assert!(again.to_string().contains("exists"), "{again}");
    }
}
