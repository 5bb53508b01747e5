//! The rootfs as a directory fd, and every filesystem operation of an unpack
//! expressed relative to it.
//!
//! Paths are resolved only by the kernel, with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` from the rootfs fd: symlinks (absolute or with
//! `..`) resolve as they would inside the container, never above the rootfs,
//! and `/proc` magic links are refused. The last component of an entry is
//! then created, replaced or removed with `*at` calls on the resolved parent
//! fd and `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`, so an existing symlink there
//! is replaced, never written through. No path string is joined to the
//! rootfs path.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};

use super::path::split;

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Deepest directory tree removed (whiteouts, replaced directories); deeper
/// trees cannot come from a layer within the path-length limit.
const MAX_REMOVE_DEPTH: usize = 4096;

/// The rootfs being unpacked into.
pub struct Root {
    fd: OwnedFd,
}

/// What is at a name before an entry replaces it.
pub enum Existing {
    /// Nothing.
    None,
    /// A directory, kept because the new entry is a directory too.
    KeptDir,
    /// Something that was removed.
    Removed,
}

impl Root {
    /// Opens the rootfs directory (the caller's trusted path).
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    /// The rootfs directory fd itself (a real fd: fchown/fchmod work on it).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `rel` (normalised, may be empty for the root) resolved inside
    /// the root with `flags` (`O_CLOEXEC` added).
    pub fn open_in_root(&self, rel: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
        // openat2 answers EAGAIN when a rename raced the resolution; nothing
        // else renames in the rootfs during an unpack, so a few tries do.
        let mut tries = 0;
        loop {
            match rfs::openat2(&self.fd, rel, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE) {
                Err(rustix::io::Errno::AGAIN) if tries < 8 => tries += 1,
                other => return other.map_err(io::Error::from),
            }
        }
    }

    /// The directory `rel` resolved inside the root, as an `O_PATH` fd for `*at` calls.
    pub fn dir(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        self.open_in_root(rel, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// The directory `rel`, created (mode 0755, like umoci and containerd do
    /// for parents a layer does not list) where missing. Returns the fd and
    /// the paths it created. A component that exists but is not a directory
    /// (or is a dangling symlink) is an error.
    pub fn dir_all(&self, rel: &[u8]) -> io::Result<(OwnedFd, Vec<Vec<u8>>)> {
        match self.dir(rel) {
            Ok(fd) => return Ok((fd, Vec::new())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut created = Vec::new();
        let mut current = self.dir(b"")?;
        let mut end = 0;
        while end < rel.len() {
            let next = rel[end..].iter().position(|&b| b == b'/').map_or(rel.len(), |i| end + i);
            let prefix = &rel[..next];
            current = match self.dir(prefix) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let (_, name) = split(prefix);
                    rfs::mkdirat(&current, name, Mode::from_raw_mode(0o755)).map_err(|e| {
                        if e == rustix::io::Errno::EXIST {
                            io::Error::other(format!(
                                "parent {:?} exists but does not resolve to a directory inside the rootfs \
                                 (a dangling or escaping symlink?)",
                                String::from_utf8_lossy(prefix)
                            ))
                        } else {
                            io::Error::from(e)
                        }
                    })?;
                    created.push(prefix.to_vec());
                    // mkdirat applied the umask; make the mode what it says.
                    let fd = open_subdir(current.as_fd(), name)?;
                    rfs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
                    self.dir(prefix)?
                }
                Err(e) => return Err(e),
            };
            end = next + 1;
        }
        Ok((current, created))
    }
}

/// Makes room for a new entry `name` in `parent`: removes what is there,
/// except a directory when the new entry is one too.
pub fn clear(parent: BorrowedFd<'_>, name: &[u8], new_is_dir: bool) -> io::Result<Existing> {
    let stat = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(rustix::io::Errno::NOENT) => return Ok(Existing::None),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        if new_is_dir {
            return Ok(Existing::KeptDir);
        }
        remove_tree(parent, name, 0)?;
    } else {
        rfs::unlinkat(parent, name, AtFlags::empty())?;
    }
    Ok(Existing::Removed)
}

/// Removes `name` from `parent` (a whole tree for a directory); absent is fine.
pub fn remove(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    clear(parent, name, false).map(|_| ())
}

/// Opens the directory `name` of `parent` without following a symlink.
pub fn open_subdir(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The names in a directory (without `.` and `..`) with their types.
pub fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, bool)>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => {
                let stat = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(stat.st_mode) == FileType::Directory
            }
            _ => false,
        };
        names.push((name.to_vec(), is_dir));
    }
    Ok(names)
}

fn remove_tree(parent: BorrowedFd<'_>, name: &[u8], depth: usize) -> io::Result<()> {
    if depth > MAX_REMOVE_DEPTH {
        return Err(io::Error::other("directory tree too deep to remove"));
    }
    let dir = open_subdir(parent, name)?;
    // Names first, then removal: deleting while reading a directory may skip entries.
    for (child, is_dir) in list(dir.as_fd())? {
        if is_dir {
            remove_tree(dir.as_fd(), &child, depth + 1)?;
        } else {
            rfs::unlinkat(&dir, child.as_slice(), AtFlags::empty())?;
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
}
