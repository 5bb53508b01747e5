//! Nydus images in the guest: RAFS v6 bootstraps and their data blobs.
//!
//! A nydus image is one bootstrap (the filesystem metadata: an EROFS image
//! with nydus's blob and chunk tables) and data blobs cut into chunks, each
//! chunk compressed on its own (none, `lz4_block`, gzip or zstd) and named by
//! its digest (blake3 or sha256, as the bootstrap says) in the chunk table.
//! [`Rafs`] reads files through the bootstrap, fetching each chunk from its
//! blob, decompressing it within its announced size and checking its digest
//! before any byte of it is used; [`Rafs::unpack`] writes the whole tree into
//! a directory, and [`Rafs::open_file`] reads one file lazily by path.
//! [`pull::pull_nydus`] fetches a nydus image from a registry.
//!
//! # Why a reader of our own, not the nydus crates
//!
//! Measured here before writing it: the nydus library crates in the one
//! version set that builds together (`nydus-rafs` =0.4.0, `nydus-storage`
//! =0.7.1, `nydus-utils` =0.5.0, `nydus-api` =0.4.0) pull 76 crates into the
//! normal dependency tree (86 with build dependencies; `nydus-rafs` alone
//! needs `nydus-storage` with its localfs backend) and compile C from source:
//! zlib-ng through cmake (`libz-sys`), lz4 (`lz4-sys`), zstd 1.5 (`zstd` 0.11,
//! a second zstd beside ours) and a vendored OpenSSL 3 (`nydus-utils` turns on
//! `openssl/vendored`). Also `fuse-backend-rs`, `vm-memory`, `nix` 0.24. On
//! this shared 2-core machine `cargo install nydus-rs` (the same code base
//! plus three binaries) took 26 minutes of wall time under load, 205 s when
//! idle (measured before); a clean debug build of the library set alone took
//! 63 minutes at low priority beside four other builds, most of it OpenSSL
//! and zlib-ng (not a fair time, but the order is clear). Today's whole CI
//! build is ~10
//! minutes, so that cost, plus a guest binary carrying a FUSE
//! daemon's machinery we do not run, buys us nothing: their loaders also map
//! on-disk structs for bootstraps the host built, and were not written for
//! ones a hostile registry serves.
//!
//! What we need, reading RAFS v6, is small and fully specified by EROFS's
//! on-disk format plus nydus's 256-byte extended superblock, 256-byte blob
//! table entries and 80-byte chunk records. It is written here with explicit
//! limits and no `unsafe`, fuzzed (`rafs_bootstrap`), and checked against the
//! real `nydus-image`/`nydusd` 2.2.0 in `tests/tests/image_nydus.rs`. Two
//! small pure-Rust crates do the rest: `lz4_flex` (LZ4 block decoding) and
//! `blake3`; zstd, gzip and sha256 were dependencies already.
//!
//! Trust: the bootstrap is trusted as far as its own digest is (the image
//! manifest names it); every chunk is checked against the bootstrap's digest
//! for it, so a blob cannot change file contents undetected. A hostile
//! bootstrap can only make reads fail: offsets are bounds-checked, directory
//! cycles and depth are limited, names with `/` or NUL are refused and `.`/`..`
//! entries never followed, and
//! unpacking goes through the same hardened tar unpacker as OCI layers.
//!
//! Not supported (errors, never misread): RAFS v5, tarfs mode, encrypted or
//! batched chunks, blobs whose chunk digests exist only in the blob (no chunk
//! table in the bootstrap), chunk data in the bootstrap device other than
//! inline directory/symlink data.

pub mod bootstrap;
pub mod pull;
mod tar_stream;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use bootstrap::{BlobInfo, Bootstrap, ChunkInfo, Compressor, Digester, Inode, Kind, Segment, Source};

use crate::unpack::{apply_layer, LayerStats, UnpackOptions};
use crate::{Error, Result};

/// Deepest directory nesting walked.
pub const MAX_DEPTH: usize = 1024;
/// Largest bootstrap layer downloaded (compressed tar around the bootstrap).
pub const MAX_BOOTSTRAP_SIZE_COMPRESSED: u64 = bootstrap::MAX_BOOTSTRAP_SIZE;
/// Most inodes walked in one tree (a hostile bootstrap can list the same
/// file under many names).
pub const MAX_ENTRIES: u64 = 4 << 20;

/// A bootstrap with the directory that holds its blobs (files named by blob id).
pub struct Rafs {
    bootstrap: Bootstrap,
    blob_files: Vec<Option<File>>,
    blob_dir: PathBuf,
    /// The last chunk decoded (files read sequentially reuse it).
    cache: Mutex<Option<(usize, std::sync::Arc<Vec<u8>>)>>,
}

/// One path of the tree, as [`Rafs::walk`] lists it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the root (`""` for the root), `/`-separated.
    pub path: Vec<u8>,
    /// The inode.
    pub inode: Inode,
    /// For the second and later paths of a multiply linked file: its first path.
    pub hardlink_to: Option<Vec<u8>>,
}

impl Rafs {
    /// Opens `bootstrap` with blobs from `blob_dir` (files named by their
    /// 64-hex blob id; a missing blob is an error only when a chunk of it is read).
    pub fn open(bootstrap: &Path, blob_dir: &Path) -> Result<Rafs> {
        Rafs::new(Bootstrap::open(bootstrap)?, blob_dir)
    }

    /// A parsed bootstrap with its blob directory.
    pub fn new(bootstrap: Bootstrap, blob_dir: &Path) -> Result<Rafs> {
        let blob_files = bootstrap.blobs().iter().map(|b| File::open(blob_dir.join(&b.id)).ok()).collect();
        Ok(Rafs { bootstrap, blob_files, blob_dir: blob_dir.to_path_buf(), cache: Mutex::new(None) })
    }

    /// The bootstrap.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// Chunk `index` of the chunk table, read from its blob, decompressed and
    /// checked against its digest.
    pub fn read_chunk(&self, index: usize) -> Result<std::sync::Arc<Vec<u8>>> {
        if let Some((i, data)) = self.cache.lock().map_err(|_| poisoned())?.as_ref() {
            if *i == index {
                return Ok(data.clone());
            }
        }
        let chunk = self.bootstrap.chunks().get(index).ok_or_else(|| Error::Rafs {
            what: "chunk lookup".into(),
            reason: format!("chunk {index} is not in the chunk table"),
        })?;
        let blob = &self.bootstrap.blobs()[chunk.blob_index as usize];
        let fail = |reason: String| Error::RafsChunk {
            blob: blob.id.clone(),
            chunk: chunk.index,
            offset: chunk.compressed_offset,
            reason,
        };
        let file = self.blob_files[chunk.blob_index as usize]
            .as_ref()
            .ok_or_else(|| fail(format!("blob file missing from {}", self.blob_dir.display())))?;
        let mut raw = vec![0u8; chunk.compressed_size as usize];
        file.read_exact_at(&mut raw, chunk.compressed_offset)
            .map_err(|e| fail(format!("reading {} bytes: {e}", chunk.compressed_size)))?;
        let want = chunk.uncompressed_size as usize;
        let data = if !chunk.compressed {
            raw
        } else {
            decompress(blob.compressor, &raw, want)
                .map_err(|e| fail(format!("{:?} decompression: {e}", blob.compressor)))?
        };
        if data.len() != want {
            return Err(fail(format!("expected {want} bytes once decompressed, found {}", data.len())));
        }
        let digest = blob.digester.digest(&data);
        if digest != chunk.digest {
            return Err(fail(format!(
                "{:?} digest mismatch: the bootstrap says {}, the chunk hashes to {}",
                blob.digester,
                hex::encode(chunk.digest),
                hex::encode(digest)
            )));
        }
        let data = std::sync::Arc::new(data);
        *self.cache.lock().map_err(|_| poisoned())? = Some((index, data.clone()));
        Ok(data)
    }

    /// Checks every chunk of the chunk table (reads, decompresses, hashes);
    /// returns the number of chunks checked.
    pub fn verify_chunks(&self) -> Result<usize> {
        for i in 0..self.bootstrap.chunks().len() {
            self.read_chunk(i)?;
        }
        Ok(self.bootstrap.chunks().len())
    }

    /// Opens the regular file at `path` for reading; chunks are fetched and
    /// checked as the reader reaches them.
    pub fn open_file(&self, path: &str) -> Result<FileReader<'_>> {
        let inode = self.bootstrap.lookup(path.as_bytes())?;
        if inode.kind != Kind::File {
            return Err(Error::Rafs {
                what: format!("open {path:?}"),
                reason: format!("a {:?}, not a file", inode.kind),
            });
        }
        self.reader(&inode)
    }

    /// A reader of `inode`'s data.
    pub fn reader(&self, inode: &Inode) -> Result<FileReader<'_>> {
        let segments = self.bootstrap.segments(inode)?;
        Ok(FileReader { rafs: self, segments, segment: 0, pos: 0, size: inode.size, pieces: Vec::new(), piece: 0 })
    }

    /// Every path of the tree, parents before children, names in directory
    /// order; a file with several names is listed once with its data and
    /// then as hard links to that first path.
    pub fn walk(&self) -> Result<Vec<Entry>> {
        let root = self.bootstrap.root()?;
        let mut out = Vec::new();
        let mut seen_files = std::collections::HashMap::new();
        let mut seen_dirs = std::collections::HashSet::new();
        seen_dirs.insert(root.nid);
        let mut stack: Vec<(Vec<u8>, Inode, usize)> = vec![(Vec::new(), root, 0)];
        while let Some((path, inode, depth)) = stack.pop() {
            if out.len() as u64 >= MAX_ENTRIES {
                return Err(Error::Rafs { what: "tree".into(), reason: format!("more than {MAX_ENTRIES} entries") });
            }
            if inode.kind == Kind::Dir {
                if depth >= MAX_DEPTH {
                    return Err(Error::Rafs {
                        what: format!("directory {:?}", String::from_utf8_lossy(&path)),
                        reason: format!("nested deeper than {MAX_DEPTH}"),
                    });
                }
                let mut children = Vec::new();
                for e in self.bootstrap.read_dir(&inode)? {
                    let child = self.bootstrap.inode(e.nid)?;
                    if child.kind == Kind::Dir && !seen_dirs.insert(child.nid) {
                        return Err(Error::Rafs {
                            what: format!("directory {:?}", String::from_utf8_lossy(&path)),
                            reason: format!(
                                "entry {:?} names directory inode {} a second time (a cycle or a directory hard link)",
                                String::from_utf8_lossy(&e.name),
                                e.nid
                            ),
                        });
                    }
                    let mut p = path.clone();
                    if !p.is_empty() {
                        p.push(b'/');
                    }
                    p.extend_from_slice(&e.name);
                    children.push((p, child, depth + 1));
                }
                out.push(Entry { path, inode, hardlink_to: None });
                stack.extend(children.into_iter().rev());
            } else {
                let hardlink_to = if inode.nlink > 1 {
                    match seen_files.get(&inode.nid) {
                        Some(first) => Some(Vec::clone(first)),
                        None => {
                            seen_files.insert(inode.nid, path.clone());
                            None
                        }
                    }
                } else {
                    None
                };
                out.push(Entry { path, inode, hardlink_to });
            }
        }
        Ok(out)
    }

    /// Writes the tree as an uncompressed tar stream (PAX headers carry
    /// names, link targets, times and xattrs), every chunk checked.
    pub fn write_tar(&self, out: impl io::Write) -> Result<()> {
        tar_stream::write(self, out)
    }

    /// Unpacks the tree into `dest` (an existing, normally empty directory)
    /// through the OCI layer unpacker, with its path safety and `options`'
    /// limits. A chunk that fails its check fails the unpack.
    pub fn unpack(&self, dest: &Path, options: &UnpackOptions) -> Result<LayerStats> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || {
                let out = io::BufWriter::with_capacity(256 << 10, ChannelWriter { tx });
                self.write_tar(out)
            });
            let reader = ChannelReader { rx, buf: Vec::new(), at: 0 };
            let applied = apply_layer(reader, dest, "nydus bootstrap", options);
            let produced = producer
                .join()
                .map_err(|_| Error::Rafs { what: "unpack".into(), reason: "the tar writer thread panicked".into() })?;
            match (applied, produced) {
                (Ok(stats), Ok(())) => Ok(stats),
                // A bad chunk or bootstrap explains an unpack failure better
                // than the truncated stream the unpacker then sees.
                (_, Err(e @ (Error::Rafs { .. } | Error::RafsChunk { .. } | Error::TooLarge { .. }))) => Err(e),
                // The unpacker's refusal makes the writer see a closed pipe.
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            }
        })
    }
}

fn poisoned() -> Error {
    Error::Rafs { what: "chunk cache".into(), reason: "lock poisoned by a panicked reader".into() }
}

fn decompress(compressor: Compressor, raw: &[u8], want: usize) -> io::Result<Vec<u8>> {
    match compressor {
        Compressor::None => Err(io::Error::other("chunk is flagged compressed but the blob names no compression")),
        Compressor::Lz4Block => lz4_flex::block::decompress(raw, want).map_err(io::Error::other),
        Compressor::Zstd => zstd::bulk::decompress(raw, want),
        Compressor::Gzip => {
            let mut out = Vec::with_capacity(want);
            flate2::read::GzDecoder::new(raw).take(want as u64 + 1).read_to_end(&mut out)?;
            Ok(out)
        }
    }
}

/// Reads one file's data, checking each chunk as it is reached.
pub struct FileReader<'a> {
    rafs: &'a Rafs,
    segments: Vec<Segment>,
    segment: usize,
    pos: u64,
    size: u64,
    /// The current blob segment's chunks: (chunk table index, bytes of it used).
    pieces: Vec<(usize, u64)>,
    piece: usize,
}

impl FileReader<'_> {
    /// The file size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let Some(seg) = self.segments.get(self.segment).copied() else { return Ok(0) };
            let seg_end = seg.file_offset + seg.len;
            if self.pos >= seg_end {
                self.segment += 1;
                self.pieces.clear();
                self.piece = 0;
                continue;
            }
            let within = self.pos - seg.file_offset;
            let n = match seg.source {
                Source::Zero => {
                    let n = (seg_end - self.pos).min(buf.len() as u64) as usize;
                    buf[..n].fill(0);
                    n
                }
                Source::Meta(start) => {
                    let n = (seg_end - self.pos).min(buf.len() as u64);
                    let src = self.rafs.bootstrap.meta_bytes(start + within, n)?;
                    buf[..n as usize].copy_from_slice(src);
                    n as usize
                }
                Source::Blob { blob, offset } => {
                    if self.pieces.is_empty() {
                        self.pieces = self.rafs.bootstrap.blob_chunks(blob, offset, seg.len)?;
                        self.piece = 0;
                    }
                    // Find the piece holding `within`.
                    let mut start = 0u64;
                    let mut found = None;
                    for (k, &(idx, len)) in self.pieces.iter().enumerate() {
                        if within < start + len {
                            found = Some((k, idx, start, len));
                            break;
                        }
                        start += len;
                    }
                    let (k, idx, start, len) = found.ok_or_else(|| Error::Rafs {
                        what: "file read".into(),
                        reason: "chunks cover less than the segment".into(),
                    })?;
                    self.piece = k;
                    let data = self.rafs.read_chunk(idx)?;
                    let off = (within - start) as usize;
                    let n = ((len as usize) - off).min(buf.len());
                    buf[..n].copy_from_slice(&data[off..off + n]);
                    n
                }
            };
            self.pos += n as u64;
            return Ok(n);
        }
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.fill(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

struct ChannelWriter {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.send(buf.to_vec()).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "unpacker stopped"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.buf.len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.buf = next;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
