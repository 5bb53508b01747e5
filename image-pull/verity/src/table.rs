//! What the kernel is told about a verity tree: the device-mapper `verity`
//! table line, Kata's `kernel_verity_params` configuration value, and the
//! `dm-mod.create=` kernel command-line fragment Kata builds from it for a
//! verity-protected guest rootfs (so the root hash is covered by the
//! measured command line).
//!
//! The table line is the kernel's `verity` target (Documentation/
//! admin-guide/device-mapper/verity.rst):
//! `<start> <sectors> verity <version> <data_dev> <hash_dev> <data_block_size>
//! <hash_block_size> <num_data_blocks> <hash_start_block> <algorithm> <digest> <salt>`.

use std::fmt;

use crate::{Error, HashAlgorithm, Result, VerityParams};

/// Bytes of the superblock `veritysetup` writes before the tree (the rest of
/// its hash block is padding).
const SUPERBLOCK_LEN: u64 = 512;

/// Sector size of the device-mapper table.
const SECTOR: u64 = 512;

/// Longest `kernel_verity_params` value accepted (a real one is about 200 bytes).
pub const MAX_KERNEL_VERITY_PARAMS_LEN: usize = 4096;

/// The device-mapper name Kata gives the rootfs mapping (`dm-mod.create="dm-verity,,,ro,…"`).
pub const KATA_DM_NAME: &str = "dm-verity";

/// The first hash block of the tree on the hash device, as the table line
/// counts it: after the hash offset and, if present, the superblock (which
/// takes whole hash blocks, as `veritysetup` lays it out).
pub fn hash_start_block(params: &VerityParams) -> u64 {
    let hbs = u64::from(params.hash_block_size.max(1));
    if params.superblock {
        (params.hash_offset + SUPERBLOCK_LEN).div_ceil(hbs)
    } else {
        params.hash_offset / hbs
    }
}

/// Size of the data area in 512-byte sectors (the mapping's length).
pub fn data_sectors(params: &VerityParams) -> u64 {
    params.data_blocks.saturating_mul(u64::from(params.data_block_size)) / SECTOR
}

/// The target part of the table: `verity 1 <data_dev> <hash_dev> <dbs> <hbs>
/// <data_blocks> <hash_start_block> <alg> <root> <salt|->`, without start and length.
pub fn verity_target_params(params: &VerityParams, root_hash: &[u8], data_dev: &str, hash_dev: &str) -> String {
    let salt = if params.salt.is_empty() { "-".to_owned() } else { hex::encode(&params.salt) };
    format!(
        "1 {data_dev} {hash_dev} {} {} {} {} {} {} {salt}",
        params.data_block_size,
        params.hash_block_size,
        params.data_blocks,
        hash_start_block(params),
        params.hash.name(),
        hex::encode(root_hash),
    )
}

/// The whole table line:
/// `0 <sectors> verity 1 <data_dev> <hash_dev> <dbs> <hbs> <data_blocks> <hash_start_block> <alg> <root> <salt|->`
/// (what `dmsetup table` shows for a device `veritysetup open` made).
pub fn table_line(params: &VerityParams, root_hash: &[u8], data_dev: &str, hash_dev: &str) -> String {
    format!("0 {} verity {}", data_sectors(params), verity_target_params(params, root_hash, data_dev, hash_dev))
}

/// The kernel command-line fragment Kata builds for a verity rootfs:
/// `dm-mod.create="dm-verity,,,ro,<table line>" root=/dev/dm-0`. The kernel
/// creates the mapping before mounting root (CONFIG_DM_INIT), so the tree's
/// root hash is part of the measured command line.
pub fn kernel_cmdline(params: &VerityParams, root_hash: &[u8], data_dev: &str, hash_dev: &str) -> String {
    format!(
        "dm-mod.create=\"{KATA_DM_NAME},,,ro,{}\" root=/dev/dm-0",
        table_line(params, root_hash, data_dev, hash_dev)
    )
}

/// How Kata's guest checks its rootfs (`mode=` of `kernel_verity_params`,
/// newer Kata releases; older ones have no `mode` and mean `kernelinit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelVerityMode {
    /// The kernel sets up the mapping from `dm-mod.create=`.
    KernelInit,
    /// The guest initramfs does, from `rootfs_verity.hash=`.
    Initramfs,
}

impl KernelVerityMode {
    /// The value as Kata's configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::KernelInit => "kernelinit",
            Self::Initramfs => "initramfs",
        }
    }
}

/// Kata's `kernel_verity_params` configuration value
/// (`root_hash=<hex>,salt=<hex>,data_blocks=<n>,data_block_size=<n>,hash_block_size=<n>`,
/// optionally with `mode=kernelinit|initramfs`): a rootfs image formatted by
/// `veritysetup format --no-superblock` into two partitions, data then tree,
/// hashed with SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVerityParams {
    /// `mode=`, if given.
    pub mode: Option<KernelVerityMode>,
    /// `root_hash=`: the tree's root hash.
    pub root_hash: Vec<u8>,
    /// `salt=`: the tree's salt (Kata requires one in `kernelinit` mode).
    pub salt: Vec<u8>,
    /// `data_blocks=`.
    pub data_blocks: u64,
    /// `data_block_size=`.
    pub data_block_size: u32,
    /// `hash_block_size=`.
    pub hash_block_size: u32,
}

impl KernelVerityParams {
    /// Parses and checks the value (at most [`MAX_KERNEL_VERITY_PARAMS_LEN`]
    /// bytes; every field once, no unknown fields; in `initramfs` mode only
    /// `root_hash` is required, as in Kata).
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = |name: &'static str, reason: String| Error::InvalidParameter { name, reason };
        if s.len() > MAX_KERNEL_VERITY_PARAMS_LEN {
            return Err(invalid(
                "kernel_verity_params",
                format!("{} bytes, expected at most {MAX_KERNEL_VERITY_PARAMS_LEN}", s.len()),
            ));
        }
        let mut fields: [Option<&str>; 6] = [None; 6];
        const NAMES: [&str; 6] = ["mode", "root_hash", "salt", "data_blocks", "data_block_size", "hash_block_size"];
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(invalid("kernel_verity_params", format!("{item:?} is not key=value")));
            };
            let key = key.trim();
            let Some(index) = NAMES.iter().position(|n| *n == key) else {
                return Err(invalid(
                    "kernel_verity_params",
                    format!("unknown field {key:?}, expected one of {NAMES:?}"),
                ));
            };
            if fields[index].replace(value.trim()).is_some() {
                return Err(invalid("kernel_verity_params", format!("field {key:?} given twice")));
            }
        }
        let [mode, root_hash, salt, data_blocks, data_block_size, hash_block_size] = fields;
        let mode = match mode {
            None => None,
            Some("kernelinit") => Some(KernelVerityMode::KernelInit),
            Some("initramfs") => Some(KernelVerityMode::Initramfs),
            Some(other) => return Err(invalid("mode", format!("{other:?}, expected kernelinit or initramfs"))),
        };
        let root_hash = match root_hash {
            Some(hex_str) if !hex_str.is_empty() => decode_hex("root_hash", hex_str)?,
            _ => return Err(invalid("root_hash", "missing".into())),
        };
        if root_hash.len() != HashAlgorithm::Sha256.digest_len() {
            return Err(invalid("root_hash", format!("{} bytes, expected a 32-byte SHA-256 digest", root_hash.len())));
        }
        let salt = decode_hex("salt", salt.unwrap_or(""))?;
        if salt.len() > crate::params::MAX_SALT_LEN {
            return Err(invalid(
                "salt",
                format!("{} bytes, expected at most {}", salt.len(), crate::params::MAX_SALT_LEN),
            ));
        }
        let number = |name: &'static str, value: Option<&str>| -> Result<u64> {
            match value {
                Some(v) if !v.is_empty() => {
                    v.parse::<u64>().map_err(|e| invalid(name, format!("{v:?} is not a whole number: {e}")))
                }
                _ => Err(invalid(name, "missing".into())),
            }
        };
        let parsed = if mode == Some(KernelVerityMode::Initramfs) {
            Self { mode, root_hash, salt, data_blocks: 0, data_block_size: 0, hash_block_size: 0 }
        } else {
            if salt.is_empty() {
                return Err(invalid("salt", "missing (kernelinit mode needs the tree's salt)".into()));
            }
            let block_size = |name: &'static str, value: Option<&str>| -> Result<u32> {
                let n = number(name, value)?;
                u32::try_from(n).map_err(|_| invalid(name, format!("{n} does not fit 32 bits")))
            };
            let parsed = Self {
                mode,
                root_hash,
                salt,
                data_blocks: number("data_blocks", data_blocks)?,
                data_block_size: block_size("data_block_size", data_block_size)?,
                hash_block_size: block_size("hash_block_size", hash_block_size)?,
            };
            if parsed.data_blocks == 0 {
                return Err(invalid("data_blocks", "0, expected at least one block".into()));
            }
            if parsed.data_blocks.checked_mul(u64::from(parsed.data_block_size)).is_none() {
                return Err(invalid("data_blocks", format!("{} blocks overflow the device size", parsed.data_blocks)));
            }
            parsed.params().validate()?;
            parsed
        };
        Ok(parsed)
    }

    /// The value for a tree Arca formatted: `params` must be Kata's layout
    /// (SHA-256, no superblock, tree at the start of its own device).
    pub fn from_params(params: &VerityParams, root_hash: &[u8]) -> Result<Self> {
        params.validate()?;
        if params.hash != HashAlgorithm::Sha256 {
            return Err(Error::InvalidParameter {
                name: "hash",
                reason: format!("{}, Kata's kernel_verity_params are always sha256", params.hash.name()),
            });
        }
        if params.superblock || params.hash_offset != 0 {
            return Err(Error::InvalidParameter {
                name: "hash-offset",
                reason: format!(
                    "superblock {} at offset {}, Kata expects a tree without superblock at the start of its partition",
                    params.superblock, params.hash_offset
                ),
            });
        }
        Ok(Self {
            mode: None,
            root_hash: root_hash.to_vec(),
            salt: params.salt.clone(),
            data_blocks: params.data_blocks,
            data_block_size: params.data_block_size,
            hash_block_size: params.hash_block_size,
        })
    }

    /// The tree parameters these stand for: SHA-256, no superblock, tree at
    /// the start of the hash device.
    pub fn params(&self) -> VerityParams {
        VerityParams {
            hash: HashAlgorithm::Sha256,
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            data_blocks: self.data_blocks,
            salt: self.salt.clone(),
            hash_offset: 0,
            superblock: false,
            uuid: [0; 16],
        }
    }

    /// What Kata puts on the kernel command line for these: in `kernelinit`
    /// mode (or without a mode) `dm-mod.create="dm-verity,,,ro,0 <sectors>
    /// verity 1 <data_dev> <hash_dev> …" root=/dev/dm-0`; in `initramfs` mode
    /// `rootfs_verity.scheme=dm-verity rootfs_verity.hash=<root>`.
    pub fn kernel_cmdline(&self, data_dev: &str, hash_dev: &str) -> String {
        match self.mode {
            Some(KernelVerityMode::Initramfs) => {
                format!("rootfs_verity.scheme=dm-verity rootfs_verity.hash={}", hex::encode(&self.root_hash))
            }
            _ => kernel_cmdline(&self.params(), &self.root_hash, data_dev, hash_dev),
        }
    }
}

/// Prints the value as Kata's configuration holds it (fields in Kata's order,
/// `mode` first when set); [`KernelVerityParams::parse`] reads it back.
impl fmt::Display for KernelVerityParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(mode) = self.mode {
            write!(f, "mode={},", mode.name())?;
        }
        write!(f, "root_hash={},salt={}", hex::encode(&self.root_hash), hex::encode(&self.salt))?;
        if self.mode != Some(KernelVerityMode::Initramfs) {
            write!(
                f,
                ",data_blocks={},data_block_size={},hash_block_size={}",
                self.data_blocks, self.data_block_size, self.hash_block_size
            )?;
        }
        Ok(())
    }
}

fn decode_hex(name: &'static str, value: &str) -> Result<Vec<u8>> {
    hex::decode(value).map_err(|e| Error::InvalidParameter { name, reason: format!("{value:?} is not hex: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 64 MiB reference image of infra.md §5 (cryptsetup 2.6.1).
    const ROOT: &str = "352660f0e741cdf074bd5dd5597889afcc7252445fd4da9aa448f90aefb64447";
    const SALT: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn reference(hash_offset: u64, superblock: bool) -> VerityParams {
        VerityParams {
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: 16384,
            salt: hex::decode(SALT).unwrap(),
            hash_offset,
            superblock,
            uuid: [0x11; 16],
        }
    }

    #[test]
    fn table_line_is_what_veritysetup_loads() {
        // `dmsetup table` after `veritysetup open /dev/vda vdata /dev/vdb <root>` in the guest (infra.md §3).
        let root = hex::decode(ROOT).unwrap();
        assert_eq!(
            table_line(&reference(0, true), &root, "254:0", "254:16"),
            format!("0 131072 verity 1 254:0 254:16 4096 4096 16384 1 sha256 {ROOT} {SALT}")
        );
    }

    #[test]
    fn hash_start_block_follows_offset_and_superblock() {
        // Appended tree: superblock at 64 MiB, tree one block later.
        assert_eq!(hash_start_block(&reference(67_108_864, true)), 16385);
        assert_eq!(hash_start_block(&reference(67_108_864, false)), 16384);
        assert_eq!(hash_start_block(&reference(0, false)), 0);
        let mut small = reference(0, true);
        small.hash_block_size = 512;
        assert_eq!(hash_start_block(&small), 1);
        small.hash_offset = 1024;
        assert_eq!(hash_start_block(&small), 3);
    }

    #[test]
    fn empty_salt_is_a_dash_and_sectors_follow_block_size() {
        let mut params = reference(0, false);
        params.salt.clear();
        params.data_block_size = 512;
        params.data_blocks = 3;
        params.hash = HashAlgorithm::Sha1;
        let line = table_line(&params, &[0xab; 20], "/dev/vda", "/dev/vdb");
        assert_eq!(line, format!("0 3 verity 1 /dev/vda /dev/vdb 512 4096 3 0 sha1 {} -", "ab".repeat(20)));
    }

    #[test]
    fn kata_cmdline_matches_kata_layout() {
        let text = format!("root_hash={ROOT},salt={SALT},data_blocks=92041,data_block_size=4096,hash_block_size=4096");
        let kvp = KernelVerityParams::parse(&text).unwrap();
        assert_eq!(kvp.to_string(), text);
        assert_eq!(
            kvp.kernel_cmdline("/dev/vda1", "/dev/vda2"),
            format!(
                "dm-mod.create=\"dm-verity,,,ro,0 736328 verity 1 /dev/vda1 /dev/vda2 4096 4096 92041 0 sha256 {ROOT} {SALT}\" root=/dev/dm-0"
            )
        );
        let params = kvp.params();
        assert_eq!(KernelVerityParams::from_params(&params, &kvp.root_hash).unwrap(), kvp);
    }

    #[test]
    fn kata_modes_round_trip() {
        let text = format!(
            "mode=kernelinit,root_hash={ROOT},salt={SALT},data_blocks=1,data_block_size=4096,hash_block_size=4096"
        );
        let kvp = KernelVerityParams::parse(&text).unwrap();
        assert_eq!(kvp.mode, Some(KernelVerityMode::KernelInit));
        assert_eq!(kvp.to_string(), text);
        let initramfs = KernelVerityParams::parse(&format!("mode=initramfs,root_hash={ROOT}")).unwrap();
        assert_eq!(
            initramfs.kernel_cmdline("x", "y"),
            format!("rootfs_verity.scheme=dm-verity rootfs_verity.hash={ROOT}")
        );
        assert_eq!(KernelVerityParams::parse(&initramfs.to_string()).unwrap(), initramfs);
    }

    #[test]
    fn kata_params_rejections_name_the_field() {
        let ok = format!("root_hash={ROOT},salt={SALT},data_blocks=8,data_block_size=4096,hash_block_size=4096");
        let cases: Vec<(String, &str)> = vec![
            (ok.replace("root_hash=", "root_hsh="), "root_hsh"),
            (ok.replace(&format!("root_hash={ROOT},"), ""), "root_hash"),
            (ok.replace(ROOT, &ROOT[..62]), "root_hash"),
            (ok.replace(ROOT, "zz"), "root_hash"),
            (ok.replace(&format!("salt={SALT}"), "salt="), "salt"),
            (ok.replace("data_blocks=8", "data_blocks=0"), "data_blocks"),
            (ok.replace("data_blocks=8", "data_blocks=-1"), "data_blocks"),
            (ok.replace("data_blocks=8", "data_blocks=18446744073709551615"), "data_blocks"),
            (ok.replace("data_block_size=4096", "data_block_size=1000"), "data-block-size"),
            (ok.replace("hash_block_size=4096", "hash_block_size=99999999999"), "hash_block_size"),
            (format!("{ok},salt={SALT}"), "twice"),
            (format!("{ok},garbage"), "key=value"),
            (format!("mode=fast,{ok}"), "mode"),
            ("a".repeat(MAX_KERNEL_VERITY_PARAMS_LEN + 1), "bytes"),
            (String::new(), "root_hash"),
        ];
        for (text, needle) in cases {
            let err = KernelVerityParams::parse(&text).expect_err(&text).to_string();
            assert!(err.contains(needle), "{text:?}: {err:?} does not mention {needle}");
        }
    }

    #[test]
    fn from_params_refuses_layouts_kata_cannot_boot() {
        let root = hex::decode(ROOT).unwrap();
        assert!(KernelVerityParams::from_params(&reference(0, true), &root).is_err());
        assert!(KernelVerityParams::from_params(&reference(4096, false), &root).is_err());
        let mut sha512 = reference(0, false);
        sha512.hash = HashAlgorithm::Sha512;
        assert!(KernelVerityParams::from_params(&sha512, &root).is_err());
    }
}
