//! Building a verity hash tree exactly as `veritysetup format` does.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::superblock::{self, SUPERBLOCK_LEN};
use crate::tree::{hash_leaves, FileSink, Geometry, TreeBuilder};
use crate::{Error, HashAlgorithm, Result, VerityParams};

/// Largest I/O block `veritysetup` rewrites around the superblock.
const SUPERBLOCK_IO_BLOCK: u32 = 4096;

/// Salt length `veritysetup` picks when none is given.
pub const DEFAULT_SALT_LEN: usize = 32;

/// How to build a tree. The defaults are `veritysetup format`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOptions {
    /// Hash of the tree (`--hash`).
    pub hash: HashAlgorithm,
    /// Data block size in bytes (`--data-block-size`).
    pub data_block_size: u32,
    /// Hash block size in bytes (`--hash-block-size`).
    pub hash_block_size: u32,
    /// Data blocks to cover (`--data-blocks`); `None` (or 0): all whole blocks of the data file.
    pub data_blocks: Option<u64>,
    /// Salt (`--salt`); `None`: 32 random bytes; `Some(vec![])`: no salt (`--salt -`).
    pub salt: Option<Vec<u8>>,
    /// Byte offset of the hash area in the hash file (`--hash-offset`), a multiple of 512.
    pub hash_offset: u64,
    /// Whether to write a superblock before the tree (`--no-superblock` clears it).
    pub superblock: bool,
    /// UUID for the superblock (`--uuid`); `None`: a random one.
    pub uuid: Option<[u8; 16]>,
    /// Worker threads hashing the data; 0: one per core.
    pub threads: usize,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: None,
            salt: None,
            hash_offset: 0,
            superblock: true,
            uuid: None,
            threads: 0,
        }
    }
}

/// What [`format`] built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatted {
    /// The tree's parameters (random salt and UUID filled in).
    pub params: VerityParams,
    /// The root hash: what the kernel command line or a signature must carry.
    pub root_hash: Vec<u8>,
}

impl VerityParams {
    /// Blocks of the hash tree, superblock not counted (`veritysetup`'s "Hash blocks").
    pub fn hash_blocks(&self) -> Result<u64> {
        Ok(Geometry::new(self)?.hash_blocks())
    }

    /// Byte offset just past the hash area (superblock and tree) in the hash file.
    pub fn hash_end(&self) -> Result<u64> {
        Ok(Geometry::new(self)?.end_block() * u64::from(self.hash_block_size))
    }
}

/// Builds the tree of `data` into `hash`, which may be the same file (the
/// tree then goes at `hash_offset`, past the data). Existing bytes of `hash`
/// outside the hash area are kept, as `veritysetup` keeps them; a new hash
/// file is created with mode 0600.
///
/// Streaming and parallel: the data is read in chunks by one worker per core
/// (or `options.threads`), and only one hash block per tree level is held.
pub fn format(data: &Path, hash: &Path, options: &FormatOptions) -> Result<Formatted> {
    let data_name = data.display().to_string();
    let hash_name = hash.display().to_string();
    let data_io = |source| Error::Io { path: data_name.clone(), source };
    let data_file = File::open(data).map_err(data_io)?;
    let data_meta = data_file.metadata().map_err(data_io)?;
    let data_len = data_meta.len();
    let dbs = u64::from(options.data_block_size);
    let data_blocks = match options.data_blocks {
        Some(n) if n > 0 => n,
        _ => data_len / dbs.max(1),
    };
    let params = VerityParams {
        hash: options.hash,
        data_block_size: options.data_block_size,
        hash_block_size: options.hash_block_size,
        data_blocks,
        salt: match &options.salt {
            Some(salt) => salt.clone(),
            None => random_bytes(DEFAULT_SALT_LEN)?,
        },
        hash_offset: options.hash_offset,
        superblock: options.superblock,
        uuid: match options.uuid {
            Some(uuid) => uuid,
            None if options.superblock => random_uuid()?,
            None => [0; 16],
        },
    };
    params.validate()?;
    if data_blocks == 0 {
        return Err(Error::InvalidParameter {
            name: "data-blocks",
            reason: format!("{data_name} ({data_len} bytes) holds no whole block of {dbs} bytes"),
        });
    }
    let data_end =
        data_blocks.checked_mul(dbs).filter(|&end| end <= data_len).ok_or_else(|| Error::InvalidParameter {
            name: "data-blocks",
            reason: format!("{data_blocks} blocks of {dbs} bytes need more than the {data_len} bytes of {data_name}"),
        })?;
    let geometry = Geometry::new(&params)?;
    let hbs = u64::from(params.hash_block_size);

    let hash_io = |source| Error::Io { path: hash_name.clone(), source };
    let hash_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(hash)
        .map_err(hash_io)?;
    let hash_meta = hash_file.metadata().map_err(hash_io)?;
    if hash_meta.dev() == data_meta.dev() && hash_meta.ino() == data_meta.ino() {
        let area_start = params.hash_offset.min(geometry.tree_start * hbs);
        if area_start < data_end {
            return Err(Error::InvalidParameter {
                name: "hash-offset",
                reason: format!("the hash area at byte {area_start} overlaps the data, which ends at byte {data_end}"),
            });
        }
    }

    let threads = match options.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    let mut builder =
        TreeBuilder::new(&params, &geometry, FileSink::new(&hash_file, &hash_name, &geometry, params.hash_block_size));
    hash_leaves(&data_file, &data_name, &params, threads, |digests| builder.push_leaves(digests))?;
    let (root_hash, mut sink) = builder.finish()?;
    sink.flush()?;
    if params.superblock {
        write_superblock(&hash_file, &params).map_err(hash_io)?;
    }
    hash_file.sync_all().map_err(hash_io)?;
    tracing::debug!(data = %data_name, hash = %hash_name, data_blocks, hash_blocks = geometry.hash_blocks(), root = %hex::encode(&root_hash), "verity tree formatted");
    Ok(Formatted { params, root_hash })
}

/// Writes the 512-byte superblock at `hash_offset`. `veritysetup` writes it
/// through a read-modify-write of whole I/O blocks (the hash block size, at
/// most 4096 bytes), so a shorter file grows to the end of that block while
/// existing bytes around the superblock (the data, when the tree is
/// appended to it) stay; the same is done here so the files are identical.
fn write_superblock(file: &File, params: &VerityParams) -> std::io::Result<()> {
    let sb = superblock::encode(params).map_err(std::io::Error::other)?;
    file.write_all_at(&sb, params.hash_offset)?;
    let io_block = u64::from(params.hash_block_size.min(SUPERBLOCK_IO_BLOCK));
    let end = (params.hash_offset + SUPERBLOCK_LEN as u64).next_multiple_of(io_block);
    if file.metadata()?.len() < end {
        file.set_len(end)?;
    }
    Ok(())
}

fn random_bytes(len: usize) -> Result<Vec<u8>> {
    use ring::rand::SecureRandom as _;
    let mut bytes = vec![0u8; len];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Io {
        path: "the system random source".into(),
        source: std::io::Error::other("no random bytes"),
    })?;
    Ok(bytes)
}

/// A random (version 4, RFC 9562) UUID.
fn random_uuid() -> Result<[u8; 16]> {
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&random_bytes(16)?);
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    Ok(uuid)
}
