//! `arca image verity format|verify`: build a dm-verity hash tree as
//! `veritysetup format` does (same output), and check an image against a
//! root hash in user space.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use arca_verity::{FormatOptions, HashAlgorithm, VerityParams};
use clap::{Args, Subcommand};

/// Arguments of `arca image verity`.
#[derive(Debug, Args)]
pub struct VerityArgs {
    #[command(subcommand)]
    command: VerityCommand,
}

#[derive(Debug, Subcommand)]
enum VerityCommand {
    /// Build the hash tree of DATA into HASH (or appended to DATA) and print
    /// the root hash and parameters like `veritysetup format`.
    Format {
        /// The data image.
        data: PathBuf,
        /// The hash file; omitted: the tree is appended to DATA (at --hash-offset,
        /// by default the data size rounded up to the hash block size).
        hash: Option<PathBuf>,
        #[command(flatten)]
        tree: TreeArgs,
        /// UUID for the superblock (default: a random one).
        #[arg(long, value_name = "UUID")]
        uuid: Option<String>,
    },
    /// Check DATA and its tree in HASH against ROOT (hex). Exit 0 when they
    /// match, 1 naming the first bad block. With a superblock the parameters
    /// are read from it.
    Verify {
        /// The data image.
        data: PathBuf,
        /// The hash file (may be DATA itself, with --hash-offset).
        hash: PathBuf,
        /// The root hash, hex.
        root: String,
        #[command(flatten)]
        tree: TreeArgs,
        /// Check only this data block (and the tree path above it).
        #[arg(long, value_name = "N")]
        block: Option<u64>,
    },
    /// Open DATA as the read-only device /dev/mapper/NAME, checked block by
    /// block against the tree in HASH and ROOT (as `veritysetup open`; Linux
    /// with device-mapper). With a superblock the parameters are read from it.
    Open {
        /// The data block device.
        data: PathBuf,
        /// The device-mapper name.
        name: String,
        /// The block device holding the tree (may be DATA itself, with --hash-offset).
        hash: PathBuf,
        /// The root hash, hex.
        root: String,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Remove the verity device NAME (as `veritysetup close`).
    Close {
        /// The device-mapper name.
        name: String,
    },
}

/// Tree parameters shared by the subcommands, named as `veritysetup` names them.
#[derive(Debug, Args)]
struct TreeArgs {
    /// Byte offset of the hash area in the hash file (a multiple of 512).
    #[arg(long, value_name = "BYTES")]
    hash_offset: Option<u64>,
    /// Salt, hex; `-` for none (format default: 32 random bytes).
    #[arg(long, value_name = "HEX|-")]
    salt: Option<String>,
    /// Data block size in bytes (default 4096).
    #[arg(long, value_name = "BYTES")]
    data_block_size: Option<u32>,
    /// Hash block size in bytes (default 4096).
    #[arg(long, value_name = "BYTES")]
    hash_block_size: Option<u32>,
    /// Hash algorithm: sha256 (default), sha1, sha512.
    #[arg(long = "hash", value_name = "ALG")]
    algorithm: Option<String>,
    /// No superblock before the tree.
    #[arg(long)]
    no_superblock: bool,
    /// Data blocks covered (default: all whole blocks of DATA).
    #[arg(long, value_name = "N")]
    data_blocks: Option<u64>,
}

impl TreeArgs {
    fn salt(&self) -> Result<Option<Vec<u8>>> {
        match self.salt.as_deref() {
            None => Ok(None),
            Some("-") => Ok(Some(Vec::new())),
            Some(hex) => Ok(Some(hex::decode(hex).with_context(|| format!("--salt {hex:?}: expected hex or -"))?)),
        }
    }

    fn hash(&self) -> Result<Option<HashAlgorithm>> {
        Ok(self.algorithm.as_deref().map(HashAlgorithm::from_name).transpose()?)
    }
}

/// Runs `arca image verity`.
pub fn run(args: VerityArgs) -> Result<()> {
    match args.command {
        VerityCommand::Format { data, hash, tree, uuid } => format(&data, hash.as_deref(), &tree, uuid.as_deref()),
        VerityCommand::Verify { data, hash, root, tree, block } => verify(&data, &hash, &root, &tree, block),
        VerityCommand::Open { data, name, hash, root, tree } => {
            let params = tree_params(&data, &hash, &tree)?;
            super::verity_dm::open(&data, &name, &hash, &root, &params)
        }
        VerityCommand::Close { name } => super::verity_dm::close(&name),
    }
}

fn format(data: &Path, hash: Option<&Path>, tree: &TreeArgs, uuid: Option<&str>) -> Result<()> {
    let defaults = FormatOptions::default();
    let hash_block_size = tree.hash_block_size.unwrap_or(defaults.hash_block_size);
    let hash_offset = match (hash, tree.hash_offset) {
        (_, Some(offset)) => offset,
        (Some(_), None) => 0,
        (None, None) => {
            let len = std::fs::metadata(data).with_context(|| format!("reading {}", data.display()))?.len();
            len.next_multiple_of(u64::from(hash_block_size.max(512)))
        }
    };
    let options = FormatOptions {
        hash: tree.hash()?.unwrap_or(defaults.hash),
        data_block_size: tree.data_block_size.unwrap_or(defaults.data_block_size),
        hash_block_size,
        data_blocks: tree.data_blocks,
        salt: tree.salt()?,
        hash_offset,
        superblock: !tree.no_superblock,
        uuid: uuid.map(parse_uuid).transpose()?,
        threads: 0,
    };
    let hash_path = hash.unwrap_or(data);
    let formatted = arca_verity::format(data, hash_path, &options)?;
    let p = &formatted.params;
    if p.data_block_size > 4096 {
        eprintln!("WARNING: Kernel cannot activate device if data block size exceeds page size (4096).");
    }
    println!("VERITY header information for {}", hash_path.display());
    println!("UUID:            \t{}", if p.superblock { format_uuid(&p.uuid) } else { String::new() });
    println!("Hash type:       \t1");
    println!("Data blocks:     \t{}", p.data_blocks);
    println!("Data block size: \t{}", p.data_block_size);
    println!("Hash blocks:     \t{}", p.hash_blocks()?);
    println!("Hash block size: \t{}", p.hash_block_size);
    println!("Hash algorithm:  \t{}", p.hash.name());
    println!("Salt:            \t{}", if p.salt.is_empty() { "-".into() } else { hex::encode(&p.salt) });
    println!("Root hash:      \t{}", hex::encode(&formatted.root_hash));
    if p.hash_offset == 0 {
        println!("Hash device size: \t{} [bytes]", p.hash_end()?);
    }
    Ok(())
}

fn verify(data: &Path, hash: &Path, root: &str, tree: &TreeArgs, block: Option<u64>) -> Result<()> {
    let root_hash = hex::decode(root).with_context(|| format!("root hash {root:?}: expected hex"))?;
    let params = tree_params(data, hash, tree)?;
    match block {
        Some(n) => arca_verity::verify_block(data, hash, &params, &root_hash, n)?,
        None => arca_verity::verify(data, hash, &params, &root_hash)?,
    }
    eprintln!(
        "{}: {} verified against root hash {root}",
        data.display(),
        match block {
            Some(n) => format!("data block {n}"),
            None => format!("{} data blocks", params.data_blocks),
        }
    );
    Ok(())
}

/// The tree's parameters: from the superblock in HASH (flags given must
/// agree with it), or with --no-superblock from the flags and DATA's size.
fn tree_params(data: &Path, hash: &Path, tree: &TreeArgs) -> Result<VerityParams> {
    let hash_offset = tree.hash_offset.unwrap_or(0);
    let params = if tree.no_superblock {
        let data_block_size = tree.data_block_size.unwrap_or(4096);
        let data_blocks = match tree.data_blocks {
            Some(n) if n > 0 => n,
            _ => {
                std::fs::metadata(data).with_context(|| format!("reading {}", data.display()))?.len()
                    / u64::from(data_block_size.max(1))
            }
        };
        VerityParams {
            hash: tree.hash()?.unwrap_or(HashAlgorithm::Sha256),
            data_block_size,
            hash_block_size: tree.hash_block_size.unwrap_or(4096),
            data_blocks,
            salt: tree.salt()?.unwrap_or_default(),
            hash_offset,
            superblock: false,
            uuid: [0; 16],
        }
    } else {
        let params = arca_verity::read_superblock(hash, hash_offset)?;
        let mismatch = |flag: &str, given: String, found: String| {
            bail!("--{flag} {given} disagrees with the superblock of {}, which says {found}", hash.display())
        };
        if let Some(h) = tree.hash()? {
            if h != params.hash {
                return mismatch("hash", h.name().into(), params.hash.name().into());
            }
        }
        if let Some(n) = tree.data_block_size.filter(|&n| n != params.data_block_size) {
            return mismatch("data-block-size", n.to_string(), params.data_block_size.to_string());
        }
        if let Some(n) = tree.hash_block_size.filter(|&n| n != params.hash_block_size) {
            return mismatch("hash-block-size", n.to_string(), params.hash_block_size.to_string());
        }
        if let Some(n) = tree.data_blocks.filter(|&n| n != 0 && n != params.data_blocks) {
            return mismatch("data-blocks", n.to_string(), params.data_blocks.to_string());
        }
        if let Some(salt) = tree.salt()?.filter(|s| *s != params.salt) {
            return mismatch("salt", hex::encode(salt), hex::encode(&params.salt));
        }
        params
    };
    Ok(params)
}

/// `8-4-4-4-12` hex digits.
fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        bail!("--uuid {s:?}: expected 8-4-4-4-12 hex digits");
    }
    let bytes = hex::decode(groups.concat()).with_context(|| format!("--uuid {s:?}: expected hex digits"))?;
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&bytes);
    Ok(uuid)
}

fn format_uuid(uuid: &[u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trip() {
        let text = "11111111-2222-3333-4444-555555555555";
        assert_eq!(format_uuid(&parse_uuid(text).unwrap()), text);
        assert!(parse_uuid("11111111222233334444555555555555").is_err());
        assert!(parse_uuid("1111111x-2222-3333-4444-555555555555").is_err());
    }
}
