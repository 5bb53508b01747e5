//! Applying one layer (an uncompressed tar stream) onto a rootfs directory.
//!
//! Entries become regular files, directories, symlinks, hard links and, when
//! permitted, device nodes and fifos, with their modes (setuid and all),
//! ownership, extended attributes and mtimes. Whiteouts (`.wh.<name>`) remove
//! what lower layers put there, opaque markers (`.wh..wh..opq`) hide a
//! directory's lower contents; neither is ever created itself. With
//! [`WhiteoutMode::Overlay`] a layer is unpacked into a directory of its own
//! and keeps them in overlayfs form instead, to be one lower layer of an
//! overlay mount (the EROFS layers of [`crate::erofs`]).
//!
//! Safety is the point: every path is resolved by the kernel inside the
//! rootfs (module `root`), a `..` component is refused, and a layer can neither
//! create nor follow anything outside it, whatever symlinks earlier entries
//! or layers made. Memory does not depend on the layer size: data is copied
//! through one buffer, and what is kept between entries is a 16-byte hash of
//! each path the layer creates (whiteouts must spare those) plus directory
//! names for their deferred mtimes (at most 16 MiB).
//!
//! Where this differs from umoci and containerd, deliberately:
//! - device nodes and fifos are an error unless [`UnpackOptions::allow_devices`]
//!   (containerd skips them silently in a user namespace, umoci makes empty
//!   files when rootless): a missing `/dev/…` should fail the pull visibly;
//! - a stream without the tar end-of-archive marker is an error (Go's tar
//!   reader accepts it, which lets a truncated plain layer through);
//! - `security.selinux`, `trusted.overlay.*` and `user.overlay.*` xattrs are
//!   not applied; xattrs on symlinks are not applied (Linux needs a path for
//!   them); GNU sparse members and members over 8 GiB (PAX `size`) are errors.
//!
//! Not done here: the caller unpacks into a staging directory and renames it
//! into place only after every layer's digest checked out, so a layer that
//! fails half way leaves only the staging directory to remove.

mod header;
mod path;
pub(crate) mod root;
mod track;

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use tar::EntryType;

use crate::{Error, Result};
use header::{HeaderLimits, Kind, Meta, Pending};
use path::Whiteout;
use root::{Existing, Root};
use track::{DirTimes, PathSet};

/// How a layer is unpacked, and the limits a hostile layer hits.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Create character/block device nodes and fifos. Off by default: such an
    /// entry is then an error naming it (not silently skipped), so an image
    /// that needs one fails visibly instead of running without it.
    pub allow_devices: bool,
    /// Set owners from the tar headers (needs root); otherwise files belong
    /// to the unpacking user. Default: true when running as root.
    pub preserve_ownership: bool,
    /// Most uncompressed tar bytes read from one layer (decompression bombs
    /// stop here).
    pub max_layer_bytes: u64,
    /// Most tar headers in one layer.
    pub max_entries: u64,
    /// Longest entry name or link target, in bytes.
    pub max_path_len: usize,
    /// Largest extended attribute value, in bytes.
    pub max_xattr_size: usize,
    /// Largest PAX extension header of one entry, in bytes.
    pub max_pax_bytes: usize,
    /// What whiteouts and opaque markers become: applied to the rootfs
    /// (default), or kept in overlayfs form for a layer unpacked on its own.
    pub whiteouts: WhiteoutMode,
    /// Give directories no layer lists (the rootfs itself when it starts
    /// empty, parents a layer leaves out) mode 0755 and mtime 0 rather than
    /// the time of the unpack, so the same layers always give the same tree
    /// (byte-identical EROFS images). A layer that lists them wins.
    pub reproducible: bool,
}

/// What an unpack does with whiteouts (`.wh.<name>`) and opaque markers (`.wh..wh..opq`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Remove what lower layers put in the rootfs (one merged rootfs).
    #[default]
    Apply,
    /// Unpack the layer into a directory of its own and record them as
    /// overlayfs does, so the directory can be a lower layer of an overlay
    /// mount: `dir/.wh.x` becomes the character device 0:0 `dir/x`, and
    /// `dir/.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on `dir`
    /// (both need root). A directory that replaces something (a whiteout,
    /// a file of the same layer) is marked opaque, as overlayfs marks it.
    /// A real 0:0 character device in the layer is refused: it would read
    /// as a whiteout. What a layer alone cannot say: an entry written
    /// through a lower layer's symlinked directory lands in a real
    /// directory of that name (which then hides the symlink), and a hard
    /// link to a lower layer's file fails (its target is not there).
    /// Image builders write neither.
    Overlay,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            allow_devices: false,
            preserve_ownership: rustix::process::geteuid().is_root(),
            max_layer_bytes: 16 << 30,
            max_entries: 1 << 20,
            max_path_len: 4096,
            max_xattr_size: 64 << 10,
            max_pax_bytes: 1 << 20,
            whiteouts: WhiteoutMode::Apply,
            reproducible: false,
        }
    }
}

/// The xattr marking an overlayfs directory opaque.
const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";

/// The time of directories no layer lists ([`UnpackOptions::reproducible`]).
const EPOCH: Timestamps = Timestamps {
    last_access: Timespec { tv_sec: 0, tv_nsec: 0 },
    last_modification: Timespec { tv_sec: 0, tv_nsec: 0 },
};

/// What a read error of the tar stream between members says.
const AFTER: &str = "reading the layer after this entry";

/// Most bytes of directory names kept for setting their mtimes at the end of
/// a layer; beyond it a directory's mtime is set at once (and may then move).
const DIR_NAMES_CAP: usize = 16 << 20;

/// What applying a layer read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Members applied (files, directories, links, whiteouts, …; extension headers not counted).
    pub entries: u64,
    /// Uncompressed tar bytes read, end-of-archive padding included.
    pub bytes: u64,
}

/// Applies one uncompressed tar layer onto `rootfs` (whiteouts against lower layers).
///
/// `layer` (the digest) names the layer in errors. The tar stream is read to
/// its end, so a decoder or digest check below it sees the whole blob; a
/// stream that ends before the end-of-archive marker is an error.
pub fn apply_layer(
    tar: impl Read,
    rootfs: &std::path::Path,
    layer: &str,
    options: &UnpackOptions,
) -> Result<LayerStats> {
    let root = Root::open(rootfs).map_err(|e| Error::io(format!("cannot open rootfs {}", rootfs.display()), e))?;
    let mut unpacker = Unpacker {
        root,
        layer,
        options,
        limits: HeaderLimits {
            max_path_len: options.max_path_len,
            max_pax_bytes: options.max_pax_bytes,
            max_xattr_size: options.max_xattr_size,
        },
        unpacked: PathSet::new(),
        touched: HashSet::new(),
        last_kept: None,
        dir_times: DirTimes::new(DIR_NAMES_CAP),
        buf: vec![0; 128 << 10],
    };
    if options.reproducible && root::list(unpacker.root.fd()).map_err(|e| rootfs_error(rootfs, e))?.is_empty() {
        // A fresh root (the bottom layer, or a layer in a directory of its
        // own): a fixed mode and time unless the layer lists `./` itself
        // (pushed later, so that wins).
        rfs::fchmod(unpacker.root.fd(), Mode::from_raw_mode(0o755)).map_err(|e| rootfs_error(rootfs, e.into()))?;
        unpacker.dir_times.push(b"", EPOCH, false);
    }
    let counter = Counting { inner: tar, bytes: 0, limit: options.max_layer_bytes, layer, eof: false };
    let mut archive = tar::Archive::new(counter);
    let mut stats = LayerStats::default();
    let mut headers = 0u64;
    let mut last = Vec::new(); // name of the last member, for errors about what follows it
    {
        let entries = archive.entries().map_err(|e| unpacker.read_error(&last, AFTER, e))?.raw(true);
        let mut pending = Pending::default();
        for item in entries {
            let mut entry = item.map_err(|e| unpacker.read_error(&last, AFTER, e))?;
            headers += 1;
            if headers > options.max_entries {
                let reason = format!("more than {} tar entries (UnpackOptions::max_entries)", options.max_entries);
                return Err(unpacker.error(&last, reason));
            }
            let header = entry.header().clone();
            let size = entry.size();
            match header::kind(&header) {
                Kind::Extension => {
                    header::read_extension(&mut entry, &header, size, &mut pending, &unpacker.limits)
                        .map_err(|reason| unpacker.error(&header.path_bytes(), reason))?;
                }
                Kind::Global => {
                    header::skip_global(&mut entry, size, &unpacker.limits)
                        .map_err(|reason| unpacker.error(&header.path_bytes(), reason))?;
                }
                Kind::Member => {
                    let meta = header::member(&header, &mut pending, &unpacker.limits)
                        .map_err(|reason| unpacker.error(&header.path_bytes(), reason))?;
                    last.clone_from(&meta.path);
                    unpacker.apply(&meta, &mut entry)?;
                    stats.entries += 1;
                }
            }
        }
        if !pending.is_empty() {
            return Err(unpacker.error(&last, "the layer ends with an extension header but no entry after it"));
        }
    }
    let mut counter = archive.into_inner();
    // Go's archive/tar (and so Docker, containerd, umoci) takes a stream that
    // ends at a header boundary as complete; we want the end-of-archive
    // marker, or a truncated plain layer would pass. An empty stream is an
    // empty layer, as some tools write them.
    if counter.eof && counter.bytes > 0 {
        return Err(unpacker.error(&last, "the layer ends without the tar end-of-archive marker (truncated)"));
    }
    // Read to the end so decoders and digest checks below see the whole blob.
    io::copy(&mut counter, &mut io::sink())
        .map_err(|e| unpacker.read_error(&last, "reading past the end of the archive", e))?;
    unpacker.set_dir_times()?;
    stats.bytes = counter.bytes;
    Ok(stats)
}

/// Counts the tar bytes read and stops at the limit; remembers reaching EOF.
struct Counting<'a, R> {
    inner: R,
    bytes: u64,
    limit: u64,
    layer: &'a str,
    eof: bool,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        self.bytes += n as u64;
        if self.bytes > self.limit {
            return Err(io::Error::other(Error::TooLarge {
                what: format!("layer {} (uncompressed tar)", self.layer),
                limit: self.limit,
            }));
        }
        Ok(n)
    }
}

struct Unpacker<'a> {
    root: Root,
    layer: &'a str,
    options: &'a UnpackOptions,
    limits: HeaderLimits,
    /// Paths this layer created (with their ancestors): whiteouts and opaque
    /// markers only hide what lower layers have (OCI image spec, "Whiteouts").
    unpacked: PathSet,
    /// Lower-layer directories (device, inode) whose times are already kept.
    touched: HashSet<(u64, u64)>,
    /// The directory [`Unpacker::keep_mtime`] last looked at.
    last_kept: Option<Vec<u8>>,
    /// Directory mtimes, set after their contents are in place.
    dir_times: DirTimes,
    buf: Vec<u8>,
}

impl Unpacker<'_> {
    fn error(&self, path: &[u8], reason: impl std::fmt::Display) -> Error {
        entry_error(self.layer, path, reason)
    }

    /// A read error of the tar stream: errors of this crate from below (size
    /// limit, digest, decryption) pass through as they are.
    fn read_error(&self, last: &[u8], during: &str, e: io::Error) -> Error {
        let e = match e.get_ref() {
            Some(_) => {
                let kind = e.kind();
                match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                    Some(Ok(error)) => return *error,
                    Some(Err(other)) => io::Error::new(kind, other),
                    None => io::Error::from(kind),
                }
            }
            None => e,
        };
        if last.is_empty() {
            self.error(b"(first entry)", format!("reading the layer: {e}"))
        } else {
            self.error(last, format!("{during}: {e}"))
        }
    }

    fn apply(&mut self, meta: &Meta, data: &mut impl Read) -> Result<()> {
        let path = path::normalize(&meta.path, self.options.max_path_len).map_err(|r| self.error(&meta.path, r))?;
        let layer = self.layer;
        let fail = |what: &str, e: io::Error| entry_error(layer, &meta.path, format!("{what}: {e}"));
        let whiteout = path::whiteout(&path).map_err(|r| self.error(&meta.path, r))?;
        if self.options.whiteouts == WhiteoutMode::Overlay && whiteout != Whiteout::No {
            return self.overlay_whiteout(whiteout, meta);
        }
        match whiteout {
            Whiteout::No => {}
            Whiteout::Meta => return Ok(()),
            Whiteout::Remove { dir, name } => {
                if self.unpacked.contains(&path::join(dir, name)) {
                    return Ok(());
                }
                return match self.root.dir(dir) {
                    Ok(fd) => {
                        self.keep_mtime(dir, fd.as_fd()).map_err(|e| fail("cannot read the directory's mtime", e))?;
                        root::remove(fd.as_fd(), name).map_err(|e| fail("cannot remove the whited-out entry", e))
                    }
                    Err(e) if missing(&e) => Ok(()),
                    Err(e) => Err(fail("cannot resolve the whiteout's directory", e)),
                };
            }
            Whiteout::Opaque { dir } => {
                return match self.root.open_in_root(dir, OFlags::RDONLY | OFlags::DIRECTORY) {
                    Ok(fd) => {
                        self.keep_mtime(dir, fd.as_fd()).map_err(|e| fail("cannot read the directory's mtime", e))?;
                        self.clear_opaque(fd, dir.to_vec(), 0).map_err(|e| fail("cannot clear the opaque directory", e))
                    }
                    Err(e) if missing(&e) => Ok(()),
                    Err(e) => Err(fail("cannot resolve the opaque directory", e)),
                };
            }
        }
        match meta.kind {
            EntryType::Char | EntryType::Block | EntryType::Fifo if !self.options.allow_devices => {
                return Err(
                    self.error(&meta.path, "device nodes and fifos are not allowed (UnpackOptions::allow_devices)")
                );
            }
            EntryType::GNUSparse => return Err(self.error(&meta.path, "GNU sparse files are not supported")),
            EntryType::Char if self.options.whiteouts == WhiteoutMode::Overlay && meta.device == (0, 0) => {
                return Err(self.error(
                    &meta.path,
                    "a 0:0 character device would read as an overlay whiteout (WhiteoutMode::Overlay)",
                ));
            }
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::Symlink
            | EntryType::Link
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo => {}
            other => {
                return Err(self.error(&meta.path, format!("unsupported tar entry type {:?}", other.as_byte() as char)))
            }
        }
        if path.is_empty() {
            if meta.kind != EntryType::Directory {
                return Err(self.error(&meta.path, "only a directory may name the rootfs itself"));
            }
            let fd = self.root.open_in_root(b"", OFlags::RDONLY | OFlags::DIRECTORY).map_err(|e| fail("open", e))?;
            self.set_fd_meta(fd.as_fd(), meta).map_err(|e| fail("cannot set the rootfs metadata", e))?;
            if !self.dir_times.push(&path, times(meta), false) {
                rfs::futimens(&fd, &times(meta)).map_err(|e| fail("cannot set the mtime", e.into()))?;
            }
            return Ok(());
        }
        let (parent_path, name) = path::split(&path);
        let (parent, created) =
            self.root.dir_all(parent_path).map_err(|e| fail("cannot resolve the parent directory", e))?;
        self.created_dirs(created);
        let parent = parent.as_fd();
        self.keep_mtime(parent_path, parent).map_err(|e| fail("cannot read the parent directory's mtime", e))?;
        match meta.kind {
            EntryType::Directory => {
                self.make_dir(parent, name, &path, meta).map_err(|e| fail("cannot create the directory", e))?
            }
            EntryType::Symlink => self.make_symlink(parent, name, meta)?,
            EntryType::Link => self.make_hardlink(parent, name, &path, meta)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.make_node(parent, name, meta).map_err(|e| fail("cannot create the device node", e))?
            }
            _ => self.make_file(parent, name, meta, data)?,
        }
        self.mark_unpacked(path);
        Ok(())
    }

    /// Before the first change to a directory of a lower layer, remembers
    /// its times to put back at the end, as umoci does: a layer that adds
    /// `etc/x` does not change the mtime `etc` has in the image.
    fn keep_mtime(&mut self, dir: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
        if self.options.whiteouts == WhiteoutMode::Overlay {
            return Ok(()); // no lower layer in this directory
        }
        // Most entries share the previous entry's directory.
        if self.last_kept.as_deref() == Some(dir) {
            return Ok(());
        }
        self.last_kept = Some(dir.to_vec());
        if self.unpacked.contains(dir) {
            return Ok(());
        }
        // Keyed by inode: through symlinks one directory has many paths, and
        // only the first look sees its time unchanged.
        let meta = std::fs::File::from(fd.try_clone_to_owned()?).metadata()?;
        if !self.touched.insert((meta.dev(), meta.ino())) {
            return Ok(());
        }
        let at = |secs: i64, nanos: i64| Timespec { tv_sec: secs, tv_nsec: nanos };
        let times = Timestamps {
            last_access: at(meta.atime(), meta.atime_nsec()),
            last_modification: at(meta.mtime(), meta.mtime_nsec()),
        };
        // Past the cap the directory just keeps the time of the change.
        let _ = self.dir_times.push(dir, times, true);
        Ok(())
    }

    /// Parents [`Root::dir_all`] made for an entry: the layer's own (a
    /// whiteout must spare them); with a fixed time when reproducible, unless
    /// the layer lists them later (pushed later, so that wins).
    fn created_dirs(&mut self, created: Vec<Vec<u8>>) {
        for dir in created {
            self.unpacked.insert(&dir);
            if self.options.reproducible && !self.dir_times.push(&dir, EPOCH, false) {
                tracing::debug!(layer = self.layer, "directory time list full; a parent keeps its creation time");
            }
        }
    }

    /// A whiteout or opaque marker in overlayfs form ([`WhiteoutMode::Overlay`]).
    fn overlay_whiteout(&mut self, whiteout: Whiteout<'_>, meta: &Meta) -> Result<()> {
        let layer = self.layer;
        let fail = |what: &str, e: io::Error| entry_error(layer, &meta.path, format!("{what}: {e}"));
        match whiteout {
            Whiteout::No | Whiteout::Meta => Ok(()),
            Whiteout::Remove { dir, name } => {
                if self.unpacked.contains(&path::join(dir, name)) {
                    return Ok(()); // only lower layers' entries are hidden
                }
                let (parent, created) =
                    self.root.dir_all(dir).map_err(|e| fail("cannot resolve the whiteout's directory", e))?;
                self.created_dirs(created);
                root::clear(parent.as_fd(), name, false).map_err(|e| fail("cannot replace what is there", e))?;
                rfs::mknodat(&parent, name, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0))
                    .map_err(|e| fail("cannot create the overlay whiteout (a 0:0 character device)", e.into()))?;
                rfs::utimensat(&parent, name, &times(meta), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail("cannot set the whiteout's mtime", e.into()))
            }
            Whiteout::Opaque { dir } => {
                let (_, created) =
                    self.root.dir_all(dir).map_err(|e| fail("cannot resolve the opaque directory", e))?;
                self.created_dirs(created);
                let fd = self
                    .root
                    .open_in_root(dir, OFlags::RDONLY | OFlags::DIRECTORY)
                    .map_err(|e| fail("cannot open the opaque directory", e))?;
                rfs::fsetxattr(&fd, OVERLAY_OPAQUE, b"y", XattrFlags::empty())
                    .map_err(|e| fail("cannot mark the directory opaque (trusted.overlay.opaque)", e.into()))
            }
        }
    }

    fn mark_unpacked(&mut self, path: Vec<u8>) {
        for ancestor in path::ancestors(&path) {
            self.unpacked.insert(ancestor);
        }
        self.unpacked.insert(&path);
    }

    fn make_file(&mut self, parent: BorrowedFd<'_>, name: &[u8], meta: &Meta, data: &mut impl Read) -> Result<()> {
        let fail = |what: &str, e: io::Error| self.error(&meta.path, format!("{what}: {e}"));
        root::clear(parent, name, false).map_err(|e| fail("cannot replace what is there", e))?;
        let fd = rfs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| fail("cannot create the file", e.into()))?;
        let mut file = std::fs::File::from(fd);
        let mut copied = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(&meta.path, "reading the file data", e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| self.error(&meta.path, format!("cannot write the file: {e}")))?;
            copied += n as u64;
        }
        if copied != meta.size {
            return Err(self.error(&meta.path, format!("file data truncated: {copied} of {} bytes", meta.size)));
        }
        self.set_fd_meta(file.as_fd(), meta)
            .map_err(|e| self.error(&meta.path, format!("cannot set metadata: {e}")))?;
        rfs::futimens(&file, &times(meta)).map_err(|e| self.error(&meta.path, format!("cannot set the mtime: {e}")))?;
        Ok(())
    }

    fn make_dir(&mut self, parent: BorrowedFd<'_>, name: &[u8], path: &[u8], meta: &Meta) -> io::Result<()> {
        let existing = root::clear(parent, name, true)?;
        if !matches!(existing, Existing::KeptDir) {
            rfs::mkdirat(parent, name, Mode::from_raw_mode(0o700))?;
        }
        let fd = root::open_subdir(parent, name)?;
        self.set_fd_meta(fd.as_fd(), meta)?;
        if self.options.whiteouts == WhiteoutMode::Overlay && matches!(existing, Existing::Removed) {
            // What it replaces (a whiteout, or a file of this layer) hid the
            // lower layers' entry here; as a merged rootfs would, the new
            // directory starts empty: opaque, as overlayfs marks it too.
            rfs::fsetxattr(&fd, OVERLAY_OPAQUE, b"y", XattrFlags::empty())?;
        }
        if !self.dir_times.push(path, times(meta), false) {
            rfs::futimens(&fd, &times(meta))?;
        }
        Ok(())
    }

    fn make_symlink(&mut self, parent: BorrowedFd<'_>, name: &[u8], meta: &Meta) -> Result<()> {
        let fail = |what: &str, e: io::Error| self.error(&meta.path, format!("{what}: {e}"));
        let target = meta.link.as_deref().unwrap_or_default();
        if target.is_empty() || target.contains(&0) {
            return Err(self.error(&meta.path, "symlink target is empty or contains a NUL byte"));
        }
        root::clear(parent, name, false).map_err(|e| fail("cannot replace what is there", e))?;
        // The target is stored as it is: it is only data until something
        // resolves it, and everything here resolves inside the rootfs.
        rfs::symlinkat(target, parent, name).map_err(|e| fail("cannot create the symlink", e.into()))?;
        if self.options.preserve_ownership {
            rfs::chownat(parent, name, Some(uid(meta.uid)), Some(gid(meta.gid)), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fail("cannot set the owner", e.into()))?;
        }
        rfs::utimensat(parent, name, &times(meta), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fail("cannot set the mtime", e.into()))?;
        if !meta.xattrs.is_empty() {
            // Linux sets xattrs on a symlink only through a path (lsetxattr)
            // or, since 6.13, setxattrat; neither is used here.
            tracing::debug!(layer = self.layer, path = %String::from_utf8_lossy(&meta.path), "xattrs on a symlink not applied");
        }
        Ok(())
    }

    fn make_hardlink(&mut self, parent: BorrowedFd<'_>, name: &[u8], path: &[u8], meta: &Meta) -> Result<()> {
        let fail = |what: &str, e: io::Error| self.error(&meta.path, format!("{what}: {e}"));
        let target = meta.link.as_deref().unwrap_or_default();
        let target = path::normalize(target, self.options.max_path_len)
            .map_err(|r| self.error(&meta.path, format!("hard link target: {r}")))?;
        if target.is_empty() {
            return Err(self.error(&meta.path, "hard link to the rootfs itself"));
        }
        if target == path {
            return Ok(()); // a link to itself: already there
        }
        let (target_dir, target_name) = path::split(&target);
        let target_parent = self.root.dir(target_dir).map_err(|e| {
            self.error(
                &meta.path,
                format!("hard link target {:?} not found in the rootfs: {e}", String::from_utf8_lossy(&target)),
            )
        })?;
        root::clear(parent, name, false).map_err(|e| fail("cannot replace what is there", e))?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        rfs::linkat(&target_parent, target_name, parent, name, AtFlags::empty()).map_err(|e| {
            self.error(
                &meta.path,
                format!("cannot link to {:?} in the rootfs: {}", String::from_utf8_lossy(&target), io::Error::from(e)),
            )
        })?;
        Ok(())
    }

    fn make_node(&mut self, parent: BorrowedFd<'_>, name: &[u8], meta: &Meta) -> io::Result<()> {
        root::clear(parent, name, false)?;
        let (kind, dev) = match meta.kind {
            EntryType::Char => (FileType::CharacterDevice, rfs::makedev(meta.device.0, meta.device.1)),
            EntryType::Block => (FileType::BlockDevice, rfs::makedev(meta.device.0, meta.device.1)),
            _ => (FileType::Fifo, 0),
        };
        rfs::mknodat(parent, name, kind, Mode::from_raw_mode(0o600), dev)?;
        if self.options.preserve_ownership {
            rfs::chownat(parent, name, Some(uid(meta.uid)), Some(gid(meta.gid)), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        // The node was just made by mknodat, so it is not a symlink to follow.
        rfs::chmodat(parent, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())?;
        rfs::utimensat(parent, name, &times(meta), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// Owner, then mode (a chown clears setuid bits), then xattrs (a chown
    /// clears `security.capability` too).
    fn set_fd_meta(&self, fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
        if self.options.preserve_ownership {
            rfs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
        for (name, value) in &meta.xattrs {
            if skipped_xattr(name) {
                tracing::debug!(layer = self.layer, xattr = %name, "xattr not applied");
                continue;
            }
            match rfs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
                Ok(()) => {}
                // As containerd: a filesystem without xattr support, or an
                // unprivileged unpack setting trusted.*, loses the attribute.
                Err(e @ (rustix::io::Errno::NOTSUP | rustix::io::Errno::PERM)) => {
                    tracing::warn!(layer = self.layer, path = %String::from_utf8_lossy(&meta.path), xattr = %name,
                        "xattr not applied: {}", io::Error::from(e));
                }
                Err(e) => {
                    return Err(io::Error::new(io::Error::from(e).kind(), format!("cannot set xattr {name}: {e}")))
                }
            }
        }
        Ok(())
    }

    /// Removes from the opaque directory `fd` (at `dir`) everything this layer
    /// did not put there, descending into directories it did.
    fn clear_opaque(&self, fd: OwnedFd, dir: Vec<u8>, depth: usize) -> io::Result<()> {
        if depth > self.options.max_path_len {
            return Err(io::Error::other("directory tree too deep"));
        }
        for (name, is_dir) in root::list(fd.as_fd())? {
            let child = path::join(&dir, &name);
            if !self.unpacked.contains(&child) {
                root::remove(fd.as_fd(), &name)?;
            } else if is_dir {
                self.clear_opaque(root::open_subdir(fd.as_fd(), &name)?, child, depth + 1)?;
            }
        }
        Ok(())
    }

    fn set_dir_times(&self) -> Result<()> {
        for (path, ts, kept) in self.dir_times.iter() {
            let (parent, name) = path::split(path);
            let result = if path.is_empty() {
                rfs::futimens(self.root.fd(), ts).map_err(io::Error::from)
            } else if kept {
                // A lower layer's directory, reached by whatever path the
                // layer used (symlinks resolve inside the rootfs).
                self.root
                    .open_in_root(path, OFlags::RDONLY | OFlags::DIRECTORY)
                    .and_then(|fd| rfs::futimens(&fd, ts).map_err(io::Error::from))
            } else {
                self.root
                    .dir(parent)
                    .and_then(|p| rfs::utimensat(&p, name, ts, AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from))
            };
            match result {
                Ok(()) => {}
                Err(e) if missing(&e) => {} // removed again later in the layer
                Err(e) => return Err(self.error(path, format!("cannot set the directory mtime: {e}"))),
            }
        }
        Ok(())
    }
}

/// Attributes never applied: the SELinux label is the guest policy's to set
/// (umoci skips it too), and overlayfs's own attributes in a layer could
/// redirect or hide files if the rootfs later serves as an overlay layer.
fn skipped_xattr(name: &str) -> bool {
    name == "security.selinux" || name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}

fn entry_error(layer: &str, path: &[u8], reason: impl std::fmt::Display) -> Error {
    Error::Unpack {
        layer: layer.to_string(),
        path: String::from_utf8_lossy(path).into_owned(),
        reason: reason.to_string(),
    }
}

fn rootfs_error(rootfs: &std::path::Path, e: io::Error) -> Error {
    Error::io(format!("preparing {}", rootfs.display()), e)
}

fn missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

fn times(meta: &Meta) -> Timestamps {
    let t = Timespec { tv_sec: meta.mtime.0, tv_nsec: meta.mtime.1.into() };
    Timestamps { last_access: t, last_modification: t }
}

fn uid(id: u32) -> rfs::Uid {
    rfs::Uid::from_raw(id)
}

fn gid(id: u32) -> rfs::Gid {
    rfs::Gid::from_raw(id)
}
