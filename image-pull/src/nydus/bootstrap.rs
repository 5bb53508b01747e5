//! The RAFS v6 bootstrap: an EROFS metadata image (superblock, inodes,
//! directories, inline xattrs and chunk indexes) plus nydus's own tables (the
//! extended superblock at byte 1152, the blob table and the chunk table).
//!
//! Every offset read from the bootstrap is bounds-checked against the bytes
//! held in memory before it is used; sizes that drive allocations are checked
//! against what the bootstrap could possibly hold first. Nothing here panics
//! on hostile input (the `rafs_bootstrap` fuzz target drives it).

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Largest bootstrap accepted (the whole of it is held in memory).
pub const MAX_BOOTSTRAP_SIZE: u64 = 512 << 20;
/// Largest chunk nydus makes (`RAFS_MAX_CHUNK_SIZE`): bounds every
/// decompression.
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Longest name in a directory (EROFS's limit).
pub const MAX_NAME_LEN: usize = 255;
/// Largest directory read (its dirent blocks are held in memory).
pub const MAX_DIR_SIZE: u64 = 64 << 20;
/// Most chunk indexes of one file (4 TiB at nydus's default 1 MiB chunks):
/// bounds the memory a file's chunk list takes.
pub const MAX_FILE_CHUNKS: u64 = 4 << 20;
/// Largest symlink target.
pub const MAX_LINK_LEN: u64 = 4096;

const EROFS_SUPER_OFFSET: usize = 1024;
const EROFS_MAGIC: u32 = 0xE0F5_E1E2;
const EXT_SUPER_OFFSET: usize = 1024 + 128;
const FEATURE_COMPAT_RAFS_V6: u32 = 0x4000_0000;
const FEATURE_INCOMPAT_CHUNKED_FILE: u32 = 0x4;
const FEATURE_INCOMPAT_DEVICE_TABLE: u32 = 0x8;
const KNOWN_INCOMPAT: u32 = FEATURE_INCOMPAT_CHUNKED_FILE | FEATURE_INCOMPAT_DEVICE_TABLE;

const FLAG_COMPRESSION_NONE: u64 = 0x1;
const FLAG_COMPRESSION_LZ4: u64 = 0x2;
const FLAG_HASH_BLAKE3: u64 = 0x4;
const FLAG_HASH_SHA256: u64 = 0x8;
const FLAG_COMPRESSION_GZIP: u64 = 0x40;
const FLAG_COMPRESSION_ZSTD: u64 = 0x80;
const FLAG_INLINED_CHUNK_DIGEST: u64 = 0x100;
const FLAG_TARFS_MODE: u64 = 0x200;
const FLAG_ENCRYPTED: u64 = 0x0200_0000;

const LAYOUT_FLAT_PLAIN: u16 = 0;
const LAYOUT_FLAT_INLINE: u16 = 2;
const LAYOUT_CHUNK_BASED: u16 = 4;
const CHUNK_FORMAT_INDEXES: u32 = 0x20;
const CHUNK_FORMAT_BITS_MASK: u32 = 0x1f;
const NULL_ADDR: u32 = u32::MAX;

const BLOB_ENTRY_SIZE: usize = 256;
const CHUNK_ENTRY_SIZE: usize = 80;
const DIRENT_SIZE: usize = 12;
const CHUNK_FLAG_COMPRESSED: u32 = 0x1;
const CHUNK_FLAG_HOLE: u32 = 0x2;
const CHUNK_FLAG_ENCRYPTED: u32 = 0x4;
const CHUNK_FLAG_BATCH: u32 = 0x8;

/// The chunk digest algorithm a bootstrap names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digester {
    /// BLAKE3-256 (nydus's default).
    Blake3,
    /// SHA-256.
    Sha256,
}

impl Digester {
    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            Digester::Blake3 => *blake3::hash(data).as_bytes(),
            Digester::Sha256 => {
                use sha2::Digest;
                sha2::Sha256::digest(data).into()
            }
        }
    }
}

/// How a blob's chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressor {
    /// Stored as is.
    None,
    /// LZ4 block format (no frame), nydus's `lz4_block`.
    Lz4Block,
    /// gzip.
    Gzip,
    /// zstd frames.
    Zstd,
}

/// One entry of the blob table: a data blob the image needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Blob id: the hex sha256 of the blob file (its registry digest).
    pub id: String,
    /// Chunk size the blob was cut with.
    pub chunk_size: u32,
    /// Number of chunks in the blob.
    pub chunk_count: u32,
    /// Compression of its chunks.
    pub compressor: Compressor,
    /// Digest algorithm of its chunks.
    pub digester: Digester,
    /// Size of the compressed chunk data.
    pub compressed_size: u64,
    /// Size of the uncompressed chunk data.
    pub uncompressed_size: u64,
}

/// One entry of the chunk table: where a chunk lives and what it hashes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Digest of the uncompressed chunk.
    pub digest: [u8; 32],
    /// Index of its blob in the blob table.
    pub blob_index: u32,
    /// Whether it is stored compressed.
    pub compressed: bool,
    /// Bytes in the blob file.
    pub compressed_size: u32,
    /// Bytes once decompressed.
    pub uncompressed_size: u32,
    /// Offset in the blob file.
    pub compressed_offset: u64,
    /// Offset in the blob's uncompressed address space (what chunk indexes point at).
    pub uncompressed_offset: u64,
    /// Index of the chunk in its blob.
    pub index: u32,
}

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    FlatPlain { blkaddr: u32 },
    FlatInline { blkaddr: u32 },
    Chunked { chunk_bits: u32 },
}

/// One inode, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// EROFS node id (position of the inode in the metadata area / 32).
    pub nid: u64,
    /// What it is.
    pub kind: Kind,
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (file data, directory blocks or link target).
    pub size: u64,
    /// Hard link count.
    pub nlink: u32,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Device major and minor (device nodes only).
    pub rdev: (u32, u32),
    layout: Layout,
    /// Byte offset of the inline xattr area.
    xattr_pos: usize,
    /// Bytes of the inline xattr area.
    xattr_len: usize,
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (no `/`, not `.` or `..`).
    pub name: Vec<u8>,
    /// Its inode.
    pub nid: u64,
}

/// Where a stretch of file data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Bytes of the bootstrap itself, from this offset.
    Meta(u64),
    /// The uncompressed address space of a blob, from this offset.
    Blob {
        /// Blob table index.
        blob: u32,
        /// Offset in the blob's uncompressed address space.
        offset: u64,
    },
    /// Zeros (a hole).
    Zero,
}

/// A stretch of a file's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset in the file.
    pub file_offset: u64,
    /// Length.
    pub len: u64,
    /// Where the bytes are.
    pub source: Source,
}

/// A parsed RAFS v6 bootstrap.
#[derive(Debug)]
pub struct Bootstrap {
    data: Vec<u8>,
    block_bits: u32,
    meta_base: u64,
    xattr_base: u64,
    root_nid: u64,
    inodes: u64,
    build_time: (i64, u32),
    flags: u64,
    chunk_size: u32,
    digester: Digester,
    compressor: Compressor,
    blobs: Vec<BlobInfo>,
    chunks: Vec<ChunkInfo>,
    /// Per blob: uncompressed offset → index into `chunks`.
    by_offset: Vec<BTreeMap<u64, usize>>,
}

fn err(what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Rafs { what: what.into(), reason: reason.into() }
}

/// Little-endian reads that fail instead of panicking.
fn bytes<'a>(data: &'a [u8], pos: u64, len: u64, what: &str) -> Result<&'a [u8]> {
    let end = pos
        .checked_add(len)
        .filter(|&e| e <= data.len() as u64)
        .ok_or_else(|| err(what, format!("bytes {pos}..{pos}+{len} lie outside the {} byte bootstrap", data.len())))?;
    Ok(&data[pos as usize..end as usize])
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|x| x / to * to)
}

impl Bootstrap {
    /// Reads and parses the bootstrap file at `path` (at most [`MAX_BOOTSTRAP_SIZE`] bytes).
    pub fn open(path: &std::path::Path) -> Result<Bootstrap> {
        use std::io::Read;
        let file =
            std::fs::File::open(path).map_err(|e| Error::io(format!("opening bootstrap {}", path.display()), e))?;
        let mut data = Vec::new();
        file.take(MAX_BOOTSTRAP_SIZE + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::io(format!("reading bootstrap {}", path.display()), e))?;
        Bootstrap::parse(data)
    }

    /// Parses a bootstrap held in memory: superblocks, blob table and chunk
    /// table are checked here; inodes and directories when they are read.
    pub fn parse(data: Vec<u8>) -> Result<Bootstrap> {
        if data.len() as u64 > MAX_BOOTSTRAP_SIZE {
            return Err(Error::TooLarge { what: "RAFS bootstrap".into(), limit: MAX_BOOTSTRAP_SIZE });
        }
        let sb = bytes(&data, EROFS_SUPER_OFFSET as u64, 128, "superblock")?;
        let magic = u32_at(sb, 0);
        if magic != EROFS_MAGIC {
            return Err(err("superblock magic", format!("expected {EROFS_MAGIC:#x}, found {magic:#x}")));
        }
        let compat = u32_at(sb, 8);
        if compat & FEATURE_COMPAT_RAFS_V6 == 0 {
            return Err(err(
                "superblock feature_compat",
                format!(
                    "expected the RAFS v6 bit {FEATURE_COMPAT_RAFS_V6:#x}, found {compat:#x} (plain EROFS, not nydus)"
                ),
            ));
        }
        let block_bits = u32::from(sb[12]);
        if block_bits != 12 && block_bits != 9 {
            return Err(err("superblock blkszbits", format!("expected 9 or 12, found {block_bits}")));
        }
        // nydus-image writes whole blocks, and nydusd refuses anything else.
        if !(data.len() as u64).is_multiple_of(1u64 << block_bits) {
            return Err(err(
                "bootstrap size",
                format!(
                    "expected a multiple of the {} byte block size, found {} bytes",
                    1u64 << block_bits,
                    data.len()
                ),
            ));
        }
        let root_nid = u64::from(u16_at(sb, 14));
        let inodes = u64_at(sb, 16);
        let build_time = (i64::try_from(u64_at(sb, 24)).unwrap_or(i64::MAX), u32_at(sb, 32));
        let block_size = 1u64 << block_bits;
        let meta_base = u64::from(u32_at(sb, 40)) * block_size;
        let xattr_base = u64::from(u32_at(sb, 44)) * block_size;
        let incompat = u32_at(sb, 80);
        if incompat & !KNOWN_INCOMPAT != 0 {
            return Err(err(
                "superblock feature_incompat",
                format!("expected only bits {KNOWN_INCOMPAT:#x}, found {incompat:#x}"),
            ));
        }
        if meta_base >= data.len() as u64 {
            return Err(err(
                "superblock meta_blkaddr",
                format!("metadata area at byte {meta_base}, past the {} byte bootstrap", data.len()),
            ));
        }

        let ext = bytes(&data, EXT_SUPER_OFFSET as u64, 256, "extended superblock")?;
        let flags = u64_at(ext, 0);
        if flags & FLAG_ENCRYPTED != 0 {
            return Err(err(
                "extended superblock flags",
                format!("encrypted RAFS is not supported (flags {flags:#x})"),
            ));
        }
        if flags & FLAG_TARFS_MODE != 0 {
            return Err(err("extended superblock flags", format!("tarfs mode is not supported (flags {flags:#x})")));
        }
        let digester = match flags & (FLAG_HASH_BLAKE3 | FLAG_HASH_SHA256) {
            FLAG_HASH_BLAKE3 => Digester::Blake3,
            FLAG_HASH_SHA256 => Digester::Sha256,
            other => {
                return Err(err(
                    "extended superblock flags",
                    format!("expected exactly one of blake3 (0x4) and sha256 (0x8), found {other:#x}"),
                ))
            }
        };
        let compressor = match flags
            & (FLAG_COMPRESSION_NONE | FLAG_COMPRESSION_LZ4 | FLAG_COMPRESSION_GZIP | FLAG_COMPRESSION_ZSTD)
        {
            FLAG_COMPRESSION_NONE => Compressor::None,
            FLAG_COMPRESSION_LZ4 => Compressor::Lz4Block,
            FLAG_COMPRESSION_GZIP => Compressor::Gzip,
            FLAG_COMPRESSION_ZSTD => Compressor::Zstd,
            other => {
                return Err(err(
                    "extended superblock flags",
                    format!("expected exactly one compression bit, found {other:#x}"),
                ))
            }
        };
        let blob_table = (u64_at(ext, 8), u64::from(u32_at(ext, 16)));
        let chunk_size = u32_at(ext, 20);
        if !chunk_size.is_power_of_two() || !(4096..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(err(
                "extended superblock chunk_size",
                format!("expected a power of two in 4096..={MAX_CHUNK_SIZE}, found {chunk_size}"),
            ));
        }
        let chunk_table = (u64_at(ext, 24), u64_at(ext, 32));

        let blobs = parse_blobs(&data, blob_table)?;
        if flags & FLAG_INLINED_CHUNK_DIGEST != 0 && chunk_table.1 == 0 {
            return Err(err(
                "extended superblock",
                "chunk digests are only in the blobs (inlined-chunk-digest) and the bootstrap has no chunk table; \
                 not supported",
            ));
        }
        let chunks = parse_chunks(&data, chunk_table, &blobs)?;
        let mut by_offset = vec![BTreeMap::new(); blobs.len()];
        for (i, c) in chunks.iter().enumerate() {
            let map: &mut BTreeMap<u64, usize> = &mut by_offset[c.blob_index as usize];
            if let Some(&prev) = map.get(&c.uncompressed_offset) {
                if chunks[prev] != *c {
                    return Err(err(
                        format!("chunk table entry {i}"),
                        format!(
                            "blob {} uncompressed offset {} is claimed by two different chunks (entries {prev} and {i})",
                            c.blob_index, c.uncompressed_offset
                        ),
                    ));
                }
            } else {
                map.insert(c.uncompressed_offset, i);
            }
        }
        Ok(Bootstrap {
            data,
            block_bits,
            meta_base,
            xattr_base,
            root_nid,
            inodes,
            build_time,
            flags,
            chunk_size,
            digester,
            compressor,
            blobs,
            chunks,
            by_offset,
        })
    }

    /// The blobs the image needs, in blob-table order.
    pub fn blobs(&self) -> &[BlobInfo] {
        &self.blobs
    }

    /// The chunk table.
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// The chunk digest algorithm the superblock names.
    pub fn digester(&self) -> Digester {
        self.digester
    }

    /// The compression the superblock names (blobs say their own too).
    pub fn compressor(&self) -> Compressor {
        self.compressor
    }

    /// The filesystem's chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Number of inodes the superblock announces.
    pub fn inode_count(&self) -> u64 {
        self.inodes
    }

    /// The raw extended-superblock flags.
    pub fn flags(&self) -> u64 {
        self.flags
    }

    fn block_size(&self) -> u64 {
        1 << self.block_bits
    }

    /// The root directory's inode.
    pub fn root(&self) -> Result<Inode> {
        let root = self.inode(self.root_nid)?;
        if root.kind != Kind::Dir {
            return Err(err(
                "superblock root_nid",
                format!("inode {} is a {:?}, not a directory", self.root_nid, root.kind),
            ));
        }
        Ok(root)
    }

    /// Decodes inode `nid`.
    pub fn inode(&self, nid: u64) -> Result<Inode> {
        let what = || format!("inode {nid}");
        let pos = nid
            .checked_mul(32)
            .and_then(|o| o.checked_add(self.meta_base))
            .ok_or_else(|| err(what(), "nid overflows"))?;
        let head = bytes(&self.data, pos, 32, &what())?;
        let format = u16_at(head, 0);
        let extended = format & 1 == 1;
        let layout_code = (format >> 1) & 0x7;
        if format >> 4 != 0 {
            return Err(err(what(), format!("unknown i_format bits {format:#x}")));
        }
        let isize: u64 = if extended { 64 } else { 32 };
        let raw = bytes(&self.data, pos, isize, &what())?;
        let xattr_icount = u64::from(u16_at(raw, 2));
        let mode_raw = u32::from(u16_at(raw, 4));
        let i_u = u32_at(raw, 16);
        let (size, uid, gid, mtime, mtime_nsec, nlink) = if extended {
            (
                u64_at(raw, 8),
                u32_at(raw, 24),
                u32_at(raw, 28),
                i64::try_from(u64_at(raw, 32)).unwrap_or(i64::MAX),
                u32_at(raw, 40),
                u32_at(raw, 44),
            )
        } else {
            (
                u64::from(u32_at(raw, 8)),
                u32::from(u16_at(raw, 24)),
                u32::from(u16_at(raw, 26)),
                self.build_time.0,
                self.build_time.1,
                u32::from(u16_at(raw, 6)),
            )
        };
        let kind = match mode_raw & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            0o020000 => Kind::Char,
            0o060000 => Kind::Block,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            other => return Err(err(what(), format!("unknown file type {other:#o} in i_mode {mode_raw:#o}"))),
        };
        let xattr_len = if xattr_icount == 0 { 0 } else { 12 + (xattr_icount - 1) * 4 };
        let xattr_pos = pos + isize;
        bytes(&self.data, xattr_pos, xattr_len, &format!("inode {nid} inline xattrs"))?;
        let layout = match layout_code {
            LAYOUT_FLAT_PLAIN => Layout::FlatPlain { blkaddr: i_u },
            LAYOUT_FLAT_INLINE => Layout::FlatInline { blkaddr: i_u },
            LAYOUT_CHUNK_BASED => {
                if i_u & CHUNK_FORMAT_INDEXES == 0 {
                    return Err(err(what(), "chunk-based inode with a block map (no chunk indexes) is not RAFS"));
                }
                if i_u >> 6 != 0 {
                    return Err(err(what(), format!("unknown chunk format bits {i_u:#x}")));
                }
                let chunk_bits = self.block_bits + (i_u & CHUNK_FORMAT_BITS_MASK);
                if chunk_bits > 40 {
                    return Err(err(what(), format!("chunk size 2^{chunk_bits} is absurd")));
                }
                Layout::Chunked { chunk_bits }
            }
            other => {
                return Err(err(what(), format!("data layout {other} (compressed EROFS) is not used by RAFS v6")));
            }
        };
        let rdev = if matches!(kind, Kind::Char | Kind::Block) {
            ((i_u & 0xfff00) >> 8, (i_u & 0xff) | ((i_u >> 12) & 0xfff00))
        } else {
            (0, 0)
        };
        Ok(Inode {
            nid,
            kind,
            mode: mode_raw & 0o7777,
            uid,
            gid,
            size,
            nlink,
            mtime,
            mtime_nsec,
            rdev,
            layout,
            xattr_pos: xattr_pos as usize,
            xattr_len: xattr_len as usize,
        })
    }

    /// Where each stretch of `inode`'s data lives (regular files, directories, symlinks).
    pub fn segments(&self, inode: &Inode) -> Result<Vec<Segment>> {
        let what = || format!("inode {} data", inode.nid);
        let bs = self.block_size();
        let inline_pos = (inode.xattr_pos + inode.xattr_len) as u64;
        let size = inode.size;
        match inode.layout {
            Layout::FlatPlain { blkaddr } => {
                if size == 0 {
                    return Ok(Vec::new());
                }
                let start = u64::from(blkaddr) * bs;
                bytes(&self.data, start, size, &what())?;
                Ok(vec![Segment { file_offset: 0, len: size, source: Source::Meta(start) }])
            }
            Layout::FlatInline { blkaddr } => {
                if size == 0 {
                    return Ok(Vec::new());
                }
                let full = (size - 1) / bs * bs;
                let tail = size - full;
                let mut out = Vec::new();
                if full > 0 {
                    let start = u64::from(blkaddr) * bs;
                    bytes(&self.data, start, full, &what())?;
                    out.push(Segment { file_offset: 0, len: full, source: Source::Meta(start) });
                }
                bytes(&self.data, inline_pos, tail, &what())?;
                out.push(Segment { file_offset: full, len: tail, source: Source::Meta(inline_pos) });
                Ok(out)
            }
            Layout::Chunked { chunk_bits } => {
                let chunk = 1u64 << chunk_bits;
                let count = size.div_ceil(chunk);
                if count > MAX_FILE_CHUNKS {
                    return Err(err(what(), format!("{count} chunks, more than the limit of {MAX_FILE_CHUNKS}")));
                }
                let table = round_up(inline_pos, 8).ok_or_else(|| err(what(), "offset overflows"))?;
                let raw =
                    bytes(&self.data, table, count.saturating_mul(8), &format!("inode {} chunk indexes", inode.nid))?;
                let mut out = Vec::with_capacity(count as usize);
                for i in 0..count {
                    let e = &raw[i as usize * 8..i as usize * 8 + 8];
                    let device = u32::from(u16_at(e, 2)) & 0xff;
                    let blkaddr = u32_at(e, 4);
                    let file_offset = i * chunk;
                    let len = chunk.min(size - file_offset);
                    let source = if blkaddr == NULL_ADDR {
                        Source::Zero
                    } else if device == 0 {
                        Source::Meta(u64::from(blkaddr) * self.block_size())
                    } else {
                        let blob = device - 1;
                        if blob as usize >= self.blobs.len() {
                            return Err(err(
                                format!("inode {} chunk index {i}", inode.nid),
                                format!("blob {blob}, but the blob table has {} entries", self.blobs.len()),
                            ));
                        }
                        Source::Blob { blob, offset: u64::from(blkaddr) * self.block_size() }
                    };
                    if let Source::Meta(start) = source {
                        bytes(&self.data, start, len, &format!("inode {} chunk {i}", inode.nid))?;
                    }
                    out.push(Segment { file_offset, len, source });
                }
                Ok(out)
            }
        }
    }

    /// The chunks that hold `len` bytes of blob `blob`'s uncompressed space
    /// from `offset`: (chunk table index, bytes of it used). Consecutive
    /// chunks of a blob follow each other at block-aligned offsets.
    pub fn blob_chunks(&self, blob: u32, offset: u64, len: u64) -> Result<Vec<(usize, u64)>> {
        let map = self.by_offset.get(blob as usize).ok_or_else(|| err("chunk lookup", format!("no blob {blob}")))?;
        let mut out = Vec::new();
        let (mut at, mut left) = (offset, len);
        while left > 0 {
            let &idx = map.get(&at).ok_or_else(|| {
                err(
                    "chunk lookup",
                    format!("expected a chunk at uncompressed offset {at} of blob {blob}, the chunk table has none"),
                )
            })?;
            let c = &self.chunks[idx];
            if c.uncompressed_size == 0 {
                return Err(err(format!("chunk table entry {idx}"), "uncompressed size 0"));
            }
            let take = left.min(u64::from(c.uncompressed_size));
            out.push((idx, take));
            left -= take;
            at = round_up(at + u64::from(c.uncompressed_size), self.block_size())
                .ok_or_else(|| err("chunk lookup", "offset overflows"))?;
        }
        Ok(out)
    }

    /// Reads bootstrap bytes for a [`Source::Meta`] segment.
    pub fn meta_bytes(&self, pos: u64, len: u64) -> Result<&[u8]> {
        bytes(&self.data, pos, len, "inline data")
    }

    /// The entries of directory `dir`, without `.` and `..`.
    pub fn read_dir(&self, dir: &Inode) -> Result<Vec<DirEntry>> {
        if dir.kind != Kind::Dir {
            return Err(err(format!("inode {}", dir.nid), "read as a directory but is not one"));
        }
        if dir.size > MAX_DIR_SIZE {
            return Err(Error::TooLarge { what: format!("RAFS directory inode {}", dir.nid), limit: MAX_DIR_SIZE });
        }
        let data = self.small_data(dir)?;
        let bs = self.block_size() as usize;
        let mut out = Vec::new();
        for (b, block) in data.chunks(bs).enumerate() {
            let what = || format!("directory inode {} block {b}", dir.nid);
            if block.len() < DIRENT_SIZE {
                return Err(err(what(), format!("{} bytes, less than one dirent", block.len())));
            }
            let first = usize::from(u16_at(block, 8));
            if first < DIRENT_SIZE || first % DIRENT_SIZE != 0 || first > block.len() {
                return Err(err(what(), format!("first name offset {first} is not a multiple of 12 within the block")));
            }
            let n = first / DIRENT_SIZE;
            for i in 0..n {
                let e = &block[i * DIRENT_SIZE..(i + 1) * DIRENT_SIZE];
                let nid = u64_at(e, 0);
                let start = usize::from(u16_at(e, 8));
                let end = if i + 1 < n { usize::from(u16_at(block, (i + 1) * DIRENT_SIZE + 8)) } else { block.len() };
                if start < first || start > end || end > block.len() {
                    return Err(err(
                        what(),
                        format!("dirent {i}: name bytes {start}..{end} out of order or out of the block"),
                    ));
                }
                let mut name = &block[start..end];
                if i + 1 == n {
                    if let Some(nul) = name.iter().position(|&c| c == 0) {
                        name = &name[..nul];
                    }
                }
                if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(&b'/') || name.contains(&0) {
                    return Err(err(
                        what(),
                        format!(
                            "dirent {i}: name {:?} is empty, too long or has '/' or NUL",
                            String::from_utf8_lossy(name)
                        ),
                    ));
                }
                if name == b"." || name == b".." {
                    continue;
                }
                out.push(DirEntry { name: name.to_vec(), nid });
            }
        }
        Ok(out)
    }

    /// A symlink's target.
    pub fn read_link(&self, link: &Inode) -> Result<Vec<u8>> {
        if link.kind != Kind::Symlink {
            return Err(err(format!("inode {}", link.nid), "read as a symlink but is not one"));
        }
        if link.size == 0 || link.size > MAX_LINK_LEN {
            return Err(err(
                format!("symlink inode {}", link.nid),
                format!("target of {} bytes (1..=4096 expected)", link.size),
            ));
        }
        let target = self.small_data(link)?;
        if target.contains(&0) {
            return Err(err(format!("symlink inode {}", link.nid), "target contains NUL"));
        }
        Ok(target)
    }

    /// Data that must live in the bootstrap (directories, symlinks).
    fn small_data(&self, inode: &Inode) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(inode.size.min(MAX_DIR_SIZE) as usize);
        for s in self.segments(inode)? {
            match s.source {
                Source::Meta(pos) => out.extend_from_slice(self.meta_bytes(pos, s.len)?),
                _ => {
                    return Err(err(
                        format!("inode {}", inode.nid),
                        "directory or symlink data is expected in the bootstrap, found it in a blob or a hole",
                    ))
                }
            }
        }
        Ok(out)
    }

    /// The extended attributes of `inode` (full names, values).
    pub fn xattrs(&self, inode: &Inode) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        if inode.xattr_len == 0 {
            return Ok(out);
        }
        let what = || format!("inode {} xattrs", inode.nid);
        let area = &self.data[inode.xattr_pos..inode.xattr_pos + inode.xattr_len];
        if area.len() < 12 {
            return Err(err(what(), "inline xattr area shorter than its 12 byte header"));
        }
        let shared = usize::from(area[4]);
        let mut at = 12 + shared * 4;
        if at > area.len() {
            return Err(err(what(), format!("{shared} shared xattr ids do not fit the inline area")));
        }
        for s in 0..shared {
            let id = u64::from(u32_at(area, 12 + s * 4));
            let pos = self.xattr_base + id * 4;
            let head = bytes(&self.data, pos, 4, &what())?;
            let body = bytes(&self.data, pos + 4, u64::from(head[0]) + u64::from(u16_at(head, 2)), &what())?;
            out.push(xattr_entry(head, body, &what)?);
        }
        while at + 4 <= area.len() {
            let head = &area[at..at + 4];
            let len = 4 + usize::from(head[0]) + usize::from(u16_at(head, 2));
            if at + len > area.len() {
                return Err(err(what(), format!("entry at byte {at} runs past the inline area")));
            }
            out.push(xattr_entry(head, &area[at + 4..at + len], &what)?);
            at += len.div_ceil(4) * 4;
        }
        Ok(out)
    }

    /// Finds the inode at `path` (relative to the root, `/`-separated;
    /// symlinks are not followed).
    pub fn lookup(&self, path: &[u8]) -> Result<Inode> {
        let mut inode = self.root()?;
        for part in path.split(|&c| c == b'/').filter(|p| !p.is_empty() && *p != b".") {
            if part == b".." {
                return Err(err("lookup", "'..' in a path is not followed"));
            }
            let entry = self
                .read_dir(&inode)?
                .into_iter()
                .find(|e| e.name == part)
                .ok_or_else(|| err("lookup", format!("{:?} not found", String::from_utf8_lossy(path))))?;
            inode = self.inode(entry.nid)?;
        }
        Ok(inode)
    }
}

fn xattr_entry(head: &[u8], body: &[u8], what: &dyn Fn() -> String) -> Result<(String, Vec<u8>)> {
    let name_len = usize::from(head[0]);
    let prefix = match head[1] {
        1 => "user.",
        2 => "system.posix_acl_access",
        3 => "system.posix_acl_default",
        4 => "trusted.",
        6 => "security.",
        other => return Err(err(what(), format!("unknown xattr name index {other}"))),
    };
    let suffix = std::str::from_utf8(&body[..name_len]).map_err(|_| err(what(), "xattr name is not UTF-8"))?;
    if suffix.contains('\0') {
        return Err(err(what(), "xattr name contains NUL"));
    }
    Ok((format!("{prefix}{suffix}"), body[name_len..].to_vec()))
}

fn parse_blobs(data: &[u8], (offset, size): (u64, u64)) -> Result<Vec<BlobInfo>> {
    if size % BLOB_ENTRY_SIZE as u64 != 0 || size > 256 * BLOB_ENTRY_SIZE as u64 {
        return Err(err(
            "extended superblock blob_table_size",
            format!("expected a multiple of 256 bytes for at most 256 blobs, found {size}"),
        ));
    }
    let raw = bytes(data, offset, size, "blob table")?;
    let mut out = Vec::new();
    for (i, e) in raw.chunks(BLOB_ENTRY_SIZE).enumerate() {
        let what = || format!("blob table entry {i}");
        let id = std::str::from_utf8(&e[..64]).ok().filter(|s| s.bytes().all(|c| c.is_ascii_hexdigit()));
        let id = id.ok_or_else(|| err(what(), "blob id is not 64 hex digits"))?.to_ascii_lowercase();
        let compressor = match u32_at(e, 76) {
            0 => Compressor::None,
            1 => Compressor::Lz4Block,
            2 => Compressor::Gzip,
            3 => Compressor::Zstd,
            other => return Err(err(what(), format!("compression algorithm {other} (0..=3 expected)"))),
        };
        let digester = match u32_at(e, 80) {
            0 => Digester::Blake3,
            1 => Digester::Sha256,
            other => return Err(err(what(), format!("digest algorithm {other} (0 blake3, 1 sha256 expected)"))),
        };
        let chunk_size = u32_at(e, 68);
        if !chunk_size.is_power_of_two() || chunk_size > MAX_CHUNK_SIZE {
            return Err(err(
                what(),
                format!("chunk size {chunk_size} (a power of two up to {MAX_CHUNK_SIZE} expected)"),
            ));
        }
        if out.iter().any(|b: &BlobInfo| b.id == id) {
            return Err(err(what(), format!("blob {id} is listed twice")));
        }
        out.push(BlobInfo {
            id,
            chunk_size,
            chunk_count: u32_at(e, 72),
            compressor,
            digester,
            compressed_size: u64_at(e, 88),
            uncompressed_size: u64_at(e, 96),
        });
    }
    Ok(out)
}

fn parse_chunks(data: &[u8], (offset, size): (u64, u64), blobs: &[BlobInfo]) -> Result<Vec<ChunkInfo>> {
    if size % CHUNK_ENTRY_SIZE as u64 != 0 {
        return Err(err(
            "extended superblock chunk_table_size",
            format!("expected a multiple of 80 bytes, found {size}"),
        ));
    }
    let raw = bytes(data, offset, size, "chunk table")?;
    let mut out = Vec::with_capacity(raw.len() / CHUNK_ENTRY_SIZE);
    for (i, e) in raw.chunks(CHUNK_ENTRY_SIZE).enumerate() {
        let what = || format!("chunk table entry {i}");
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&e[..32]);
        let blob_index = u32_at(e, 32);
        let flags = u32_at(e, 36);
        let blob = blobs.get(blob_index as usize).ok_or_else(|| {
            err(what(), format!("blob index {blob_index}, but the blob table has {} entries", blobs.len()))
        })?;
        if flags & (CHUNK_FLAG_ENCRYPTED | CHUNK_FLAG_BATCH | CHUNK_FLAG_HOLE) != 0 || flags >> 4 != 0 {
            return Err(err(what(), format!("chunk flags {flags:#x}: only 'compressed' (0x1) is supported")));
        }
        let chunk = ChunkInfo {
            digest,
            blob_index,
            compressed: flags & CHUNK_FLAG_COMPRESSED != 0,
            compressed_size: u32_at(e, 40),
            uncompressed_size: u32_at(e, 44),
            compressed_offset: u64_at(e, 48),
            uncompressed_offset: u64_at(e, 56),
            index: u32_at(e, 72),
        };
        if chunk.uncompressed_size == 0 || chunk.uncompressed_size > MAX_CHUNK_SIZE.min(blob.chunk_size) {
            return Err(err(
                what(),
                format!("uncompressed size {} (1..={} expected)", chunk.uncompressed_size, blob.chunk_size),
            ));
        }
        // lz4/zstd/gzip never need more than a few bytes over the input on
        // incompressible data; anything far larger is not a chunk.
        let max_compressed = chunk.uncompressed_size.saturating_add(chunk.uncompressed_size / 8).saturating_add(4096);
        if chunk.compressed_size == 0 || chunk.compressed_size > max_compressed {
            return Err(err(
                what(),
                format!("compressed size {} for {} uncompressed bytes", chunk.compressed_size, chunk.uncompressed_size),
            ));
        }
        if !chunk.compressed && chunk.compressed_size != chunk.uncompressed_size {
            return Err(err(
                what(),
                format!(
                    "stored uncompressed but sizes differ ({} vs {})",
                    chunk.compressed_size, chunk.uncompressed_size
                ),
            ));
        }
        out.push(chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock() -> Vec<u8> {
        let mut data = vec![0u8; 8192];
        data[1024..1028].copy_from_slice(&EROFS_MAGIC.to_le_bytes());
        data[1032..1036].copy_from_slice(&FEATURE_COMPAT_RAFS_V6.to_le_bytes());
        data[1036] = 12;
        data[1104..1108].copy_from_slice(&KNOWN_INCOMPAT.to_le_bytes());
        data[1152..1160].copy_from_slice(&(FLAG_HASH_BLAKE3 | FLAG_COMPRESSION_LZ4).to_le_bytes());
        data[1160..1168].copy_from_slice(&4096u64.to_le_bytes());
        data[1172..1176].copy_from_slice(&(1u32 << 20).to_le_bytes());
        data
    }

    #[test]
    fn short_or_foreign_input_is_an_error() {
        for len in [0, 100, 1024, 1151, 1300] {
            assert!(matches!(Bootstrap::parse(vec![0; len]), Err(Error::Rafs { .. })), "{len} bytes");
        }
        let err = Bootstrap::parse(vec![0; 8192]).unwrap_err().to_string();
        assert!(err.contains("magic") && err.contains("0xe0f5e1e2"), "{err}");
    }

    #[test]
    fn minimal_superblock_parses_and_fields_are_checked() {
        let b = Bootstrap::parse(superblock()).expect("parse");
        assert_eq!((b.digester(), b.compressor(), b.chunk_size()), (Digester::Blake3, Compressor::Lz4Block, 1 << 20));
        assert!(b.blobs().is_empty() && b.chunks().is_empty());
        // The root inode (nid 0, all zeros) is not a directory.
        assert!(b.root().is_err());

        let mut two_hashes = superblock();
        two_hashes[1152] |= FLAG_HASH_SHA256 as u8;
        assert!(Bootstrap::parse(two_hashes).unwrap_err().to_string().contains("exactly one of blake3"));
        let mut odd_chunk = superblock();
        odd_chunk[1172..1176].copy_from_slice(&12345u32.to_le_bytes());
        assert!(Bootstrap::parse(odd_chunk).unwrap_err().to_string().contains("chunk_size"));
        let mut blob_table_out = superblock();
        blob_table_out[1168..1172].copy_from_slice(&(256u32 * 100).to_le_bytes());
        assert!(Bootstrap::parse(blob_table_out).unwrap_err().to_string().contains("outside"));
        let mut plain_erofs = superblock();
        plain_erofs[1032..1036].copy_from_slice(&0u32.to_le_bytes());
        assert!(Bootstrap::parse(plain_erofs).unwrap_err().to_string().contains("plain EROFS"));
    }

    #[test]
    fn inode_out_of_range_is_an_error() {
        let b = Bootstrap::parse(superblock()).expect("parse");
        assert!(b.inode(u64::MAX).is_err());
        assert!(b.inode(10_000).unwrap_err().to_string().contains("outside"));
    }
}
