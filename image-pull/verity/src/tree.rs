//! The shape of a verity hash tree and the streaming, parallel computation of
//! it, shared by [`format`](crate::format()) and [`verify`](crate::verify()).
//!
//! Layout (cryptsetup's `verity_hash.c`, format version 1): every digest is
//! `H(salt || block)`; digests are stored at a stride of the digest size
//! rounded up to a power of two (sha1: 32 bytes), as many as fit a hash
//! block, the rest of the block zero. Level 0 covers the data blocks, level
//! `i + 1` covers the hash blocks of level `i`, up to a top level of one
//! block whose digest is the root hash. Levels are stored top level first
//! from the tree's first block; a one-block image has no tree at all (its
//! root hash is the digest of its only block).
//!
//! The tree is computed bottom-up in one pass over the data: each level keeps
//! only the hash block being filled, so memory does not grow with the image.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex};

use crate::superblock::SUPERBLOCK_LEN;
use crate::{Error, HashAlgorithm, Result, VerityParams};

/// Most levels a tree may have (cryptsetup's `VERITY_MAX_LEVELS`).
const MAX_LEVELS: usize = 63;

/// Longest digest (SHA-512).
const MAX_DIGEST_LEN: usize = 64;

/// Data read and hashed by one worker at a time.
const CHUNK_BYTES: u64 = 1 << 20;

/// Below this much data the leaves are hashed on the calling thread: starting
/// threads would cost more than it saves.
const PARALLEL_MIN_BYTES: u64 = 4 << 20;

/// Hash-tree blocks gathered before one write.
const WRITE_BATCH_BYTES: usize = 256 << 10;

/// One digest computation, `H(salt || block)`. SHA-256 and SHA-1 use the
/// RustCrypto crates and SHA-512 uses ring: on this project's machines (SHA-NI,
/// AVX-512) that is the faster implementation for each (ring's SHA-1 has no
/// SHA-NI path; for SHA-256 both are equal within a few percent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Digester {
    hash: HashAlgorithm,
}

impl Digester {
    pub(crate) fn new(hash: HashAlgorithm) -> Self {
        Self { hash }
    }

    /// Writes `H(salt || block)` into `out` (exactly the digest length).
    pub(crate) fn digest(&self, salt: &[u8], block: &[u8], out: &mut [u8]) {
        use sha2::Digest as _;
        match self.hash {
            HashAlgorithm::Sha256 => {
                let mut h = sha2::Sha256::new();
                h.update(salt);
                h.update(block);
                out.copy_from_slice(&h.finalize());
            }
            HashAlgorithm::Sha1 => {
                let mut h = sha1::Sha1::new();
                h.update(salt);
                h.update(block);
                out.copy_from_slice(&h.finalize());
            }
            HashAlgorithm::Sha512 => {
                let mut h = ring::digest::Context::new(&ring::digest::SHA512);
                h.update(salt);
                h.update(block);
                out.copy_from_slice(h.finish().as_ref());
            }
        }
    }
}

/// Where every level of a tree lives, derived from the parameters alone.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub digest_len: usize,
    /// Bytes between two digests in a hash block (digest length rounded up to a power of two).
    pub stride: usize,
    /// Digests per hash block, as a power of two.
    pub per_block_bits: u32,
    /// Blocks of each level, level 0 (over the data) first.
    pub level_blocks: Vec<u64>,
    /// First block (in hash blocks from the start of the hash file) of each level.
    pub level_start: Vec<u64>,
    /// The tree's first block: after the superblock, or at `hash_offset` without one.
    pub tree_start: u64,
}

impl Geometry {
    pub(crate) fn new(params: &VerityParams) -> Result<Self> {
        params.validate()?;
        if params.data_blocks == 0 {
            return Err(Error::InvalidParameter {
                name: "data-blocks",
                reason: "0: there is nothing to protect".into(),
            });
        }
        let digest_len = params.hash.digest_len();
        let stride = digest_len.next_power_of_two();
        let per_block = params.hash_block_size as usize / stride;
        if per_block < 2 {
            return Err(Error::InvalidParameter {
                name: "hash-block-size",
                reason: format!("{} holds fewer than two {} digests", params.hash_block_size, params.hash.name()),
            });
        }
        let per_block_bits = per_block.trailing_zeros();
        let hbs = u64::from(params.hash_block_size);
        let tree_start = if params.superblock {
            params.hash_offset.checked_add(SUPERBLOCK_LEN as u64).map(|end| end.div_ceil(hbs)).ok_or_else(|| {
                Error::InvalidParameter {
                    name: "hash-offset",
                    reason: format!("{} is past 64-bit offsets", params.hash_offset),
                }
            })?
        } else {
            params.hash_offset / hbs
        };
        let mut levels = 0usize;
        while (per_block_bits as usize * levels) < 64
            && (params.data_blocks - 1) >> (per_block_bits as usize * levels) != 0
        {
            levels += 1;
        }
        if levels > MAX_LEVELS {
            return Err(Error::InvalidParameter { name: "data-blocks", reason: format!("{levels} tree levels") });
        }
        let level_blocks: Vec<u64> = (0..levels)
            .map(|i| {
                let shift = (i + 1) * per_block_bits as usize;
                if shift >= 64 {
                    1
                } else {
                    params.data_blocks.div_ceil(1u64 << shift)
                }
            })
            .collect();
        let mut level_start = vec![0u64; levels];
        let mut position = tree_start;
        for i in (0..levels).rev() {
            level_start[i] = position;
            position = position.checked_add(level_blocks[i]).ok_or_else(|| Error::InvalidParameter {
                name: "hash-offset",
                reason: format!("the tree at block {tree_start} does not fit 64-bit offsets"),
            })?;
        }
        position.checked_mul(hbs).ok_or_else(|| Error::InvalidParameter {
            name: "hash-offset",
            reason: format!("the tree at block {tree_start} does not fit 64-bit offsets"),
        })?;
        Ok(Self { digest_len, stride, per_block_bits, level_blocks, level_start, tree_start })
    }

    /// Number of levels (0 for a one-block image).
    pub(crate) fn levels(&self) -> usize {
        self.level_blocks.len()
    }

    /// Digests per hash block.
    pub(crate) fn per_block(&self) -> u64 {
        1 << self.per_block_bits
    }

    /// Blocks of the whole tree (what `veritysetup` prints as "Hash blocks").
    pub(crate) fn hash_blocks(&self) -> u64 {
        self.level_blocks.iter().sum()
    }

    /// The block after the tree: the hash area's end, in hash blocks.
    pub(crate) fn end_block(&self) -> u64 {
        self.tree_start + self.hash_blocks()
    }
}

/// Receives each finished hash block, in order within each level.
pub(crate) trait BlockSink {
    /// Block `index` of `level`, `hash_block_size` bytes.
    fn block(&mut self, level: usize, index: u64, block: &[u8]) -> Result<()>;
}

/// The bottom-up builder: takes the data blocks' digests in order, fills the
/// hash blocks of every level, hands each finished block to the sink and
/// returns the root hash at the end.
pub(crate) struct TreeBuilder<'a, S> {
    geometry: &'a Geometry,
    digester: Digester,
    salt: &'a [u8],
    sink: S,
    /// The block being filled at each level, its index and how many digests it holds.
    open: Vec<(Vec<u8>, u64, u64)>,
    root: Vec<u8>,
}

impl<'a, S: BlockSink> TreeBuilder<'a, S> {
    pub(crate) fn new(params: &'a VerityParams, geometry: &'a Geometry, sink: S) -> Self {
        let hbs = params.hash_block_size as usize;
        Self {
            geometry,
            digester: Digester::new(params.hash),
            salt: &params.salt,
            sink,
            open: (0..geometry.levels()).map(|_| (vec![0u8; hbs], 0, 0)).collect(),
            root: Vec::new(),
        }
    }

    /// Adds the digests of the next data blocks (concatenated).
    pub(crate) fn push_leaves(&mut self, digests: &[u8]) -> Result<()> {
        for digest in digests.chunks_exact(self.geometry.digest_len) {
            self.push(0, digest)?;
        }
        Ok(())
    }

    fn push(&mut self, level: usize, digest: &[u8]) -> Result<()> {
        if level == self.geometry.levels() {
            self.root = digest.to_vec();
            return Ok(());
        }
        let stride = self.geometry.stride;
        let (block, _, filled) = &mut self.open[level];
        let at = *filled as usize * stride;
        block[at..at + digest.len()].copy_from_slice(digest);
        *filled += 1;
        if *filled == self.geometry.per_block() {
            self.close(level)?;
        }
        Ok(())
    }

    /// Hands the open block of `level` to the sink and pushes its digest up.
    fn close(&mut self, level: usize) -> Result<()> {
        let (block, index, filled) = &mut self.open[level];
        self.sink.block(level, *index, block)?;
        let mut digest = [0u8; MAX_DIGEST_LEN];
        let digest = &mut digest[..self.geometry.digest_len];
        self.digester.digest(self.salt, block, digest);
        block.fill(0);
        *index += 1;
        *filled = 0;
        self.push(level + 1, digest)
    }

    /// Closes the partly filled blocks, bottom up, and returns the root hash and the sink.
    pub(crate) fn finish(mut self) -> Result<(Vec<u8>, S)> {
        for level in 0..self.geometry.levels() {
            if self.open[level].2 > 0 {
                self.close(level)?;
            }
        }
        Ok((self.root, self.sink))
    }
}

/// Reads data blocks `0..blocks` of `data` and passes their digests, in
/// order, to `consume`, chunk by chunk. With `threads > 1` the chunks are
/// read and hashed by that many workers while the calling thread consumes;
/// at most a few chunks per worker are in flight, so memory stays bounded.
///
/// Written by hand on std threads: an ordered, bounded producer pool is
/// twenty lines here, and rayon's parallel iterators would need the whole
/// digest list (or batch barriers) to keep the order.
pub(crate) fn hash_leaves(
    data: &File,
    data_name: &str,
    params: &VerityParams,
    threads: usize,
    mut consume: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let dbs = u64::from(params.data_block_size);
    let digester = Digester::new(params.hash);
    let digest_len = params.hash.digest_len();
    let chunk_blocks = (CHUNK_BYTES / dbs).max(1);
    let chunks = params.data_blocks.div_ceil(chunk_blocks);
    let hash_chunk = |k: u64, buf: &mut Vec<u8>| -> Result<Vec<u8>> {
        let first = k * chunk_blocks;
        let count = chunk_blocks.min(params.data_blocks - first);
        buf.resize((count * dbs) as usize, 0);
        data.read_exact_at(buf, first * dbs).map_err(|source| Error::Io {
            path: format!("{data_name} (data blocks {first}..{})", first + count),
            source,
        })?;
        let mut digests = vec![0u8; count as usize * digest_len];
        for (block, out) in buf.chunks_exact(dbs as usize).zip(digests.chunks_exact_mut(digest_len)) {
            digester.digest(&params.salt, block, out);
        }
        Ok(digests)
    };

    let threads = if params.data_blocks.saturating_mul(dbs) < PARALLEL_MIN_BYTES { 1 } else { threads.max(1) };
    if threads == 1 {
        let mut buf = Vec::new();
        for k in 0..chunks {
            consume(&hash_chunk(k, &mut buf)?)?;
        }
        return Ok(());
    }

    struct State {
        next_take: u64,
        next_consume: u64,
        done: std::collections::BTreeMap<u64, Result<Vec<u8>>>,
        abort: bool,
    }
    let window = 4 * threads as u64;
    let state = Mutex::new(State { next_take: 0, next_consume: 0, done: Default::default(), abort: false });
    let ready = Condvar::new();
    let lock = || state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = Vec::new();
                loop {
                    let k = {
                        let mut s = lock();
                        while !s.abort && s.next_take < chunks && s.next_take >= s.next_consume + window {
                            s = ready.wait(s).unwrap_or_else(|poisoned| poisoned.into_inner());
                        }
                        if s.abort || s.next_take >= chunks {
                            return;
                        }
                        s.next_take += 1;
                        s.next_take - 1
                    };
                    let result = hash_chunk(k, &mut buf);
                    lock().done.insert(k, result);
                    ready.notify_all();
                }
            });
        }
        let result = (|| {
            for k in 0..chunks {
                let digests = {
                    let mut s = lock();
                    loop {
                        if let Some(r) = s.done.remove(&k) {
                            s.next_consume = k + 1;
                            break r;
                        }
                        s = ready.wait(s).unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                };
                ready.notify_all();
                consume(&digests?)?;
            }
            Ok(())
        })();
        if result.is_err() {
            lock().abort = true;
            ready.notify_all();
        }
        result
    })
}

/// Writes finished hash blocks to the hash file, gathering the consecutive
/// blocks of a level into one write.
pub(crate) struct FileSink<'a> {
    file: &'a File,
    name: &'a str,
    geometry: &'a Geometry,
    hash_block_size: u64,
    /// Per level: the first block index of the pending bytes, and the bytes.
    pending: Vec<(u64, Vec<u8>)>,
}

impl<'a> FileSink<'a> {
    pub(crate) fn new(file: &'a File, name: &'a str, geometry: &'a Geometry, hash_block_size: u32) -> Self {
        Self {
            file,
            name,
            geometry,
            hash_block_size: u64::from(hash_block_size),
            pending: vec![(0, Vec::new()); geometry.levels()],
        }
    }

    fn flush_level(&mut self, level: usize) -> Result<()> {
        let (first, bytes) = &mut self.pending[level];
        if bytes.is_empty() {
            return Ok(());
        }
        let offset = (self.geometry.level_start[level] + *first) * self.hash_block_size;
        self.file.write_all_at(bytes, offset).map_err(|source| Error::Io {
            path: format!("{} (hash level {level} at byte {offset})", self.name),
            source,
        })?;
        *first += (bytes.len() as u64) / self.hash_block_size;
        bytes.clear();
        Ok(())
    }

    /// Writes what is still pending.
    pub(crate) fn flush(&mut self) -> Result<()> {
        for level in 0..self.pending.len() {
            self.flush_level(level)?;
        }
        Ok(())
    }
}

impl BlockSink for FileSink<'_> {
    fn block(&mut self, level: usize, _index: u64, block: &[u8]) -> Result<()> {
        self.pending[level].1.extend_from_slice(block);
        if self.pending[level].1.len() >= WRITE_BATCH_BYTES {
            self.flush_level(level)?;
        }
        Ok(())
    }
}
