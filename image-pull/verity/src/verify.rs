//! Checking a data image and its hash tree against a root hash in user
//! space: the whole image, or one data block on demand.
//!
//! The whole-image check recomputes the tree bottom-up (in parallel, like
//! [`format`](crate::format())) and compares every hash block with the stored
//! one. At the first difference it walks the stored tree top-down from the
//! root to that block, as the kernel does, to tell which block is bad: a
//! stored hash block that its parent does not vouch for, or else the data
//! block (or lower hash block) whose digest differs.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::Area;
use crate::superblock::{check_matches, read_superblock};
use crate::tree::{hash_leaves, BlockSink, Digester, Geometry, TreeBuilder};
use crate::{Error, Result, VerityParams};

/// The files and tree shape of one check.
struct Tree<'a> {
    data: File,
    data_name: String,
    hash: File,
    hash_name: String,
    params: &'a VerityParams,
    geometry: Geometry,
    root_hash: &'a [u8],
}

impl<'a> Tree<'a> {
    fn open(data: &Path, hash: &Path, params: &'a VerityParams, root_hash: &'a [u8]) -> Result<Self> {
        let geometry = Geometry::new(params)?;
        if root_hash.len() != params.hash.digest_len() {
            return Err(Error::InvalidParameter {
                name: "root-hash",
                reason: format!(
                    "{} bytes; a {} root hash has {}",
                    root_hash.len(),
                    params.hash.name(),
                    params.hash.digest_len()
                ),
            });
        }
        let data_name = data.display().to_string();
        let hash_name = hash.display().to_string();
        let open = |path: &Path, name: &str| -> Result<(File, u64)> {
            let io = |source| Error::Io { path: name.to_string(), source };
            let file = File::open(path).map_err(io)?;
            let len = file.metadata().map_err(io)?.len();
            Ok((file, len))
        };
        let (data_file, data_len) = open(data, &data_name)?;
        let (hash_file, hash_len) = open(hash, &hash_name)?;
        let data_end = params.data_blocks.saturating_mul(u64::from(params.data_block_size));
        if data_len < data_end {
            return Err(Error::Truncated { path: data_name, expected: data_end, found: data_len });
        }
        // The superblock's I/O block past its 512 bytes is not needed.
        let hash_end = match geometry.hash_blocks() {
            0 if params.superblock => params.hash_offset + crate::superblock::SUPERBLOCK_LEN as u64,
            0 => 0,
            _ => geometry.end_block() * u64::from(params.hash_block_size),
        };
        if hash_len < hash_end {
            return Err(Error::Truncated { path: hash_name, expected: hash_end, found: hash_len });
        }
        if params.superblock {
            check_matches(&read_superblock(hash, params.hash_offset)?, params)?;
        }
        Ok(Self { data: data_file, data_name, hash: hash_file, hash_name, params, geometry, root_hash })
    }

    fn hbs(&self) -> u64 {
        u64::from(self.params.hash_block_size)
    }

    /// Byte offset of block `index` of hash level `level`.
    fn hash_offset(&self, level: usize, index: u64) -> u64 {
        (self.geometry.level_start[level] + index) * self.hbs()
    }

    fn read_hash_block(&self, level: usize, index: u64, buf: &mut [u8]) -> Result<()> {
        let offset = self.hash_offset(level, index);
        self.hash.read_exact_at(buf, offset).map_err(|source| Error::Io {
            path: format!("{} (hash level {level} block {index} at byte {offset})", self.hash_name),
            source,
        })
    }

    fn digest_len(&self) -> usize {
        self.geometry.digest_len
    }

    /// The digest stored for child `slot` in an (authentic) hash block.
    fn slot<'b>(&self, block: &'b [u8], slot: u64) -> &'b [u8] {
        let at = slot as usize * self.geometry.stride;
        &block[at..at + self.digest_len()]
    }

    /// Reads the stored hash blocks from the top level down to block `index`
    /// of `level`, checking each against the root hash or its parent; returns
    /// the (now trusted) block at `level`.
    fn trusted_path(&self, level: usize, index: u64) -> Result<Vec<u8>> {
        let digester = Digester::new(self.params.hash);
        let bits = self.geometry.per_block_bits as usize;
        let mut parent: Option<(Vec<u8>, u64)> = None;
        let mut digest = vec![0u8; self.digest_len()];
        for l in (level..self.geometry.levels()).rev() {
            let idx = index >> (bits * (l - level));
            let mut block = vec![0u8; self.params.hash_block_size as usize];
            self.read_hash_block(l, idx, &mut block)?;
            digester.digest(&self.params.salt, &block, &mut digest);
            let (expected, by) = match &parent {
                None => (self.root_hash, "the root hash".to_string()),
                Some((p, pidx)) => {
                    (self.slot(p, idx & (self.geometry.per_block() - 1)), format!("hash level {} block {pidx}", l + 1))
                }
            };
            if digest != expected {
                return Err(self.corrupt_hash(l, idx, &digest, expected, &by));
            }
            parent = Some((block, idx));
        }
        Ok(parent.map(|(block, _)| block).unwrap_or_default())
    }

    fn corrupt_hash(&self, level: usize, index: u64, found: &[u8], expected: &[u8], by: &str) -> Error {
        Error::Corrupt {
            area: Area::Hash,
            block: index,
            level: Some(level as u32),
            offset: self.hash_offset(level, index),
            reason: format!(
                "its {} digest is {}, {by} says {}",
                self.params.hash.name(),
                hex::encode(found),
                hex::encode(expected)
            ),
        }
    }

    fn corrupt_data(&self, block: u64, found: &[u8], expected: &[u8], by: &str) -> Error {
        Error::Corrupt {
            area: Area::Data,
            block,
            level: None,
            offset: block * u64::from(self.params.data_block_size),
            reason: format!(
                "its {} digest is {}, {by} says {}",
                self.params.hash.name(),
                hex::encode(found),
                hex::encode(expected)
            ),
        }
    }

    fn data_digest(&self, block: u64) -> Result<Vec<u8>> {
        let dbs = u64::from(self.params.data_block_size);
        let mut buf = vec![0u8; dbs as usize];
        self.data
            .read_exact_at(&mut buf, block * dbs)
            .map_err(|source| Error::Io { path: format!("{} (data block {block})", self.data_name), source })?;
        let mut digest = vec![0u8; self.digest_len()];
        Digester::new(self.params.hash).digest(&self.params.salt, &buf, &mut digest);
        Ok(digest)
    }

    /// Explains why the recomputed block `index` of `level` differs from the
    /// stored one, first at byte `at`.
    fn explain(&self, level: usize, index: u64, computed: &[u8], at: usize) -> Error {
        let stored = match self.trusted_path(level, index) {
            Ok(stored) => stored,
            Err(e) => return e,
        };
        let slot = (at / self.geometry.stride) as u64;
        let child = index * self.geometry.per_block() + slot;
        let by = format!("hash level {level} block {index}");
        let found = self.slot(computed, slot);
        let expected = self.slot(&stored, slot);
        if level == 0 {
            self.corrupt_data(child, found, expected, &by)
        } else {
            self.corrupt_hash(level - 1, child, found, expected, &by)
        }
    }
}

/// The first recomputed hash block that differs from the stored one: its
/// level, index, bytes and the first differing byte.
type Mismatch = (usize, u64, Vec<u8>, usize);

/// Compares each recomputed hash block with the stored one; records the
/// first difference.
struct CompareSink<'t, 'a> {
    tree: &'t Tree<'a>,
    stored: Vec<u8>,
    mismatch: &'t RefCell<Option<Mismatch>>,
}

impl BlockSink for CompareSink<'_, '_> {
    fn block(&mut self, level: usize, index: u64, block: &[u8]) -> Result<()> {
        self.tree.read_hash_block(level, index, &mut self.stored)?;
        if let Some(at) = block.iter().zip(&self.stored).position(|(a, b)| a != b) {
            *self.mismatch.borrow_mut() = Some((level, index, block.to_vec(), at));
            // Replaced by the explanation once the walk has stopped.
            return Err(Error::InvalidParameter { name: "hash", reason: "the stored tree differs".into() });
        }
        Ok(())
    }
}

/// Checks the whole data image and hash tree against `root_hash`. The first
/// bad block met is named in [`Error::Corrupt`]. With `params.superblock`
/// the superblock must agree with `params` (UUID aside).
pub fn verify(data: &Path, hash: &Path, params: &VerityParams, root_hash: &[u8]) -> Result<()> {
    let tree = Tree::open(data, hash, params, root_hash)?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mismatch = RefCell::new(None);
    let sink = CompareSink { tree: &tree, stored: vec![0u8; params.hash_block_size as usize], mismatch: &mismatch };
    let mut builder = TreeBuilder::new(params, &tree.geometry, sink);
    let built = hash_leaves(&tree.data, &tree.data_name, params, threads, |digests| builder.push_leaves(digests))
        .and_then(|()| builder.finish());
    let root = match built {
        Ok((root, _)) => root,
        Err(e) => {
            return Err(match mismatch.take() {
                Some((level, index, computed, at)) => tree.explain(level, index, &computed, at),
                None => e,
            })
        }
    };
    if root != root_hash {
        return Err(match tree.geometry.levels() {
            0 => tree.corrupt_data(0, &root, root_hash, "the root hash"),
            levels => tree.corrupt_hash(levels - 1, 0, &root, root_hash, "the root hash"),
        });
    }
    Ok(())
}

/// Checks one data block: the stored hash blocks on its path from the root
/// down, then the block itself.
pub fn verify_block(data: &Path, hash: &Path, params: &VerityParams, root_hash: &[u8], block: u64) -> Result<()> {
    let tree = Tree::open(data, hash, params, root_hash)?;
    if block >= params.data_blocks {
        return Err(Error::InvalidParameter {
            name: "block",
            reason: format!("{block} is past the last data block ({})", params.data_blocks - 1),
        });
    }
    let digest = tree.data_digest(block)?;
    if tree.geometry.levels() == 0 {
        if digest != root_hash {
            return Err(tree.corrupt_data(block, &digest, root_hash, "the root hash"));
        }
        return Ok(());
    }
    let leaf = block >> tree.geometry.per_block_bits;
    let stored = tree.trusted_path(0, leaf)?;
    let expected = tree.slot(&stored, block & (tree.geometry.per_block() - 1));
    if digest != expected {
        return Err(tree.corrupt_data(block, &digest, expected, &format!("hash level 0 block {leaf}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;
    use crate::{format, FormatOptions, HashAlgorithm};

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8).collect()
    }

    fn small_options(hash: HashAlgorithm) -> FormatOptions {
        FormatOptions {
            hash,
            data_block_size: 512,
            hash_block_size: 512,
            salt: Some(vec![7; 5]),
            uuid: Some([1; 16]),
            threads: 1,
            ..FormatOptions::default()
        }
    }

    fn formatted(dir: &Path, bytes: &[u8], options: &FormatOptions) -> (PathBuf, PathBuf, crate::Formatted) {
        let (d, h) = (dir.join("data"), dir.join("hash"));
        std::fs::write(&d, bytes).unwrap();
        let _ = std::fs::remove_file(&h);
        let f = format(&d, &h, options).unwrap();
        (d, h, f)
    }

    #[test]
    fn parallel_and_serial_trees_are_identical() {
        let dir = tempfile::tempdir().unwrap();
        // More than the parallel threshold, with a partial last chunk.
        let bytes = data((9 << 20) + 3 * 512, 3);
        let serial = FormatOptions { threads: 1, ..small_options(HashAlgorithm::Sha256) };
        let (d, h, one) = formatted(dir.path(), &bytes, &serial);
        let serial_tree = std::fs::read(&h).unwrap();
        for threads in [2, 3, 8] {
            std::fs::remove_file(&h).unwrap();
            let many = format(&d, &h, &FormatOptions { threads, ..serial.clone() }).unwrap();
            assert_eq!(many, one);
            assert_eq!(std::fs::read(&h).unwrap(), serial_tree);
        }
        verify(&d, &h, &one.params, &one.root_hash).unwrap();
        // A flip late in the data is found by the parallel check too.
        let mut bad = bytes.clone();
        bad[(9 << 20) + 700] ^= 1;
        std::fs::write(&d, &bad).unwrap();
        let err = verify(&d, &h, &one.params, &one.root_hash).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { area: Area::Data, block, .. } if block == ((9 << 20) + 700) / 512),
            "{err}"
        );
    }

    #[test]
    fn one_block_images_have_no_tree() {
        let dir = tempfile::tempdir().unwrap();
        let (d, h, f) = formatted(dir.path(), &data(512, 1), &small_options(HashAlgorithm::Sha1));
        assert_eq!(f.params.hash_blocks().unwrap(), 0);
        assert_eq!(std::fs::metadata(&h).unwrap().len(), 512);
        verify(&d, &h, &f.params, &f.root_hash).unwrap();
        verify_block(&d, &h, &f.params, &f.root_hash, 0).unwrap();
        let mut wrong = f.root_hash.clone();
        wrong[0] ^= 1;
        let err = verify(&d, &h, &f.params, &wrong).unwrap_err();
        assert!(matches!(err, Error::Corrupt { area: Area::Data, block: 0, .. }), "{err}");
    }

    #[test]
    fn a_wrong_root_hash_names_the_top_block() {
        let dir = tempfile::tempdir().unwrap();
        let (d, h, f) = formatted(dir.path(), &data(512 * 300, 2), &small_options(HashAlgorithm::Sha256));
        let mut wrong = f.root_hash.clone();
        wrong[5] ^= 0x10;
        let err = verify(&d, &h, &f.params, &wrong).unwrap_err();
        assert!(matches!(err, Error::Corrupt { area: Area::Hash, block: 0, level: Some(2), .. }), "{err}");
        let err = verify_block(&d, &h, &f.params, &wrong, 17).unwrap_err();
        assert!(matches!(err, Error::Corrupt { area: Area::Hash, block: 0, level: Some(2), .. }), "{err}");
        assert!(verify(&d, &h, &f.params, &f.root_hash[1..]).is_err());
        assert!(verify_block(&d, &h, &f.params, &f.root_hash, 300).is_err());
    }

    #[test]
    fn superblock_disagreeing_with_params_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (d, h, f) = formatted(dir.path(), &data(512 * 40, 2), &small_options(HashAlgorithm::Sha256));
        let mut params = f.params.clone();
        params.data_blocks = 39;
        let err = verify(&d, &h, &params, &f.root_hash).unwrap_err();
        assert!(matches!(err, Error::Superblock { field: "data_blocks", .. }), "{err}");
        // A truncated hash file is refused before reading it.
        let len = std::fs::metadata(&h).unwrap().len();
        std::fs::File::options().write(true).open(&h).unwrap().set_len(len - 1).unwrap();
        let err = verify(&d, &h, &f.params, &f.root_hash).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
    }

    /// Which hash level and index a byte of the hash file belongs to.
    fn locate(params: &VerityParams, offset: u64) -> Option<(u32, u64)> {
        let g = Geometry::new(params).unwrap();
        let block = offset / u64::from(params.hash_block_size);
        (0..g.levels()).find_map(|l| {
            (g.level_start[l]..g.level_start[l] + g.level_blocks[l])
                .contains(&block)
                .then(|| (l as u32, block - g.level_start[l]))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// One flipped bit anywhere in the covered data or in the tree fails
        /// the check, which names exactly that block; `verify_block` of the
        /// block concerned fails too.
        #[test]
        fn a_flipped_bit_is_named(
            blocks in 2u64..600,
            hash_index in 0usize..3,
            in_data in any::<bool>(),
            position in any::<u64>(),
            bit in 0u8..8,
        ) {
            let hash = [HashAlgorithm::Sha256, HashAlgorithm::Sha1, HashAlgorithm::Sha512][hash_index];
            let dir = tempfile::tempdir().unwrap();
            let (d, h, f) = formatted(dir.path(), &data(blocks as usize * 512 + 100, blocks as u8), &small_options(hash));
            let p = &f.params;
            if in_data {
                let at = position % (blocks * 512);
                let mut bytes = std::fs::read(&d).unwrap();
                bytes[at as usize] ^= 1 << bit;
                std::fs::write(&d, bytes).unwrap();
                let err = verify(&d, &h, p, &f.root_hash).unwrap_err();
                let named = matches!(err, Error::Corrupt { area: Area::Data, block, level: None, .. } if block == at / 512);
                prop_assert!(named, "{}", err);
                prop_assert!(verify_block(&d, &h, p, &f.root_hash, at / 512).is_err());
            } else {
                let tree_start = Geometry::new(p).unwrap().tree_start * 512;
                let len = std::fs::metadata(&h).unwrap().len();
                let at = tree_start + position % (len - tree_start);
                let mut bytes = std::fs::read(&h).unwrap();
                bytes[at as usize] ^= 1 << bit;
                std::fs::write(&h, bytes).unwrap();
                let (level, index) = locate(p, at).unwrap();
                let err = verify(&d, &h, p, &f.root_hash).unwrap_err();
                let named = matches!(err, Error::Corrupt { area: Area::Hash, block, level: Some(l), .. } if block == index && l == level);
                prop_assert!(named, "expected level {} block {}: {}", level, index, err);
                let first_under = index << (Geometry::new(p).unwrap().per_block_bits * (level + 1));
                prop_assert!(verify_block(&d, &h, p, &f.root_hash, first_under.min(blocks - 1)).is_err());
            }
        }
    }
}
