//! `arca image verity open|close`: a dm-verity device from a data device, a
//! hash device and a root hash, as `veritysetup open|close` make it (same
//! argument order and flags), through Arca's own device-mapper code. Linux
//! with device-mapper only (a guest; this machine's host kernel has none).

use std::path::PathBuf;

use anyhow::{Context, Result};
use arca_verity::{HashAlgorithm, VerityParams};
use clap::{Args, Subcommand};

/// `open` and `close`.
#[derive(Debug, Subcommand)]
pub enum DmCommand {
    /// Open DATA as the read-only device /dev/mapper/NAME, checked block by block against HASH and ROOT.
    Open {
        /// The data block device.
        data: PathBuf,
        /// The device-mapper name.
        name: String,
        /// The block device holding the hash tree (may be DATA, with --hash-offset).
        #[arg(value_name = "HASH")]
        hash_device: PathBuf,
        /// The root hash, hex.
        root: String,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Remove the verity device NAME.
    Close {
        /// The device-mapper name.
        name: String,
    },
}

/// The tree's parameters, as `veritysetup open` takes them.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Byte offset of the hash area (superblock, then tree) on the hash device.
    #[arg(long, default_value_t = 0)]
    hash_offset: u64,
    /// The hash area has no superblock: the tree starts at --hash-offset.
    #[arg(long)]
    no_superblock: bool,
    /// Number of data blocks covered by the tree.
    #[arg(long)]
    data_blocks: u64,
    /// Data block size in bytes.
    #[arg(long, default_value_t = 4096)]
    data_block_size: u32,
    /// Hash block size in bytes.
    #[arg(long, default_value_t = 4096)]
    hash_block_size: u32,
    /// Hash algorithm of the tree.
    #[arg(long, default_value = "sha256")]
    hash: String,
    /// Salt, hex, or `-` for none.
    #[arg(long)]
    salt: String,
}

impl TreeArgs {
    fn params(&self) -> Result<VerityParams> {
        let salt =
            if self.salt == "-" { Vec::new() } else { hex::decode(&self.salt).context("--salt: expected hex or -")? };
        let params = VerityParams {
            hash: HashAlgorithm::from_name(&self.hash)?,
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            data_blocks: self.data_blocks,
            salt,
            hash_offset: self.hash_offset,
            superblock: !self.no_superblock,
            uuid: [0; 16],
        };
        params.validate()?;
        Ok(params)
    }
}

/// Runs `arca image verity open|close`.
pub fn run(command: DmCommand) -> Result<()> {
    match command {
        DmCommand::Open { data, name, hash_device, root, tree } => {
            let params = tree.params()?;
            let root = hex::decode(&root).context("ROOT: expected the root hash in hex")?;
            let node = arca_verity::dm::open(&name, &data, &hash_device, &params, &root)?;
            println!("{}", node.display());
            Ok(())
        }
        DmCommand::Close { name } => Ok(arca_verity::dm::close(&name)?),
    }
}
