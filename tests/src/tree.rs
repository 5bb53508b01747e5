//! A directory tree as comparable data, for checking an unpacked rootfs
//! against what another tool (umoci) made of the same image: every path with
//! its type, mode, owner, contents digest, link target, extended attributes
//! and hard-link group. Symlinks are never followed.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// What one path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `file`, `dir`, `symlink`, `char`, `block`, `fifo`, `socket`.
    pub kind: &'static str,
    /// Permission bits with setuid/setgid/sticky (0 for symlinks).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// sha256 of a regular file's contents.
    pub sha256: Option<String>,
    /// A symlink's target.
    pub link: Option<String>,
    /// Device number of a device node.
    pub rdev: u64,
    /// Extended attributes (name → value), symlinks excluded.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// For a file with several links: the first of its paths (sorted).
    pub hardlink_of: Option<String>,
    /// Modification time, seconds (compared only where a test asks).
    pub mtime: i64,
    /// Number of hard links (a link from elsewhere to a file here, or from
    /// here to a file elsewhere, shows in this count).
    pub nlink: u64,
}

/// Every path under `root` (relative, `""` for the root itself) → its [`Node`].
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk(root, root, &mut out);
    // Paths are visited in sorted order, so the first path of an inode is the smallest.
    for (path, node) in out.iter_mut() {
        if node.kind != "file" {
            continue;
        }
        let meta = std::fs::symlink_metadata(root.join(path)).expect("lstat");
        if meta.nlink() > 1 {
            match inodes.get(&(meta.dev(), meta.ino())) {
                Some(first) => node.hardlink_of = Some(first.clone()),
                None => {
                    inodes.insert((meta.dev(), meta.ino()), path.clone());
                }
            }
        }
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    let rel = dir.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
    out.insert(rel, node(dir));
    let mut names: Vec<_> = std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("dir entry").path()).collect();
    names.sort();
    for path in names {
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        if meta.file_type().is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            out.insert(rel, node(&path));
        }
    }
}

fn node(path: &Path) -> Node {
    let meta = std::fs::symlink_metadata(path).expect("lstat");
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        "file"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "socket"
    };
    let sha256 = ft.is_file().then(|| hex::encode(Sha256::digest(std::fs::read(path).expect("read file"))));
    let link = ft.is_symlink().then(|| std::fs::read_link(path).expect("readlink").to_string_lossy().into_owned());
    Node {
        kind,
        mode: if ft.is_symlink() { 0 } else { meta.mode() & 0o7777 },
        uid: meta.uid(),
        gid: meta.gid(),
        sha256,
        link,
        rdev: if ft.is_char_device() || ft.is_block_device() { meta.rdev() } else { 0 },
        xattrs: if ft.is_symlink() { BTreeMap::new() } else { xattrs(path) },
        hardlink_of: None,
        mtime: meta.mtime(),
        nlink: meta.nlink(),
    }
}

/// The extended attributes of `path` (not following a final symlink).
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 64 << 10];
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return out,
        Err(e) => panic!("llistxattr {}: {e}", path.display()),
    };
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut value = vec![0u8; 64 << 10];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]).expect("lgetxattr");
        value.truncate(len);
        out.insert(name, value);
    }
    out
}

/// The differences between two snapshots, one line each (empty when equal),
/// comparing everything but mtimes.
pub fn diff(
    left_name: &str,
    left: &BTreeMap<String, Node>,
    right_name: &str,
    right: &BTreeMap<String, Node>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, l) in left {
        match right.get(path) {
            None => out.push(format!("{path:?}: only in {left_name}")),
            Some(r) => {
                let (mut l, mut r) = (l.clone(), r.clone());
                l.mtime = 0;
                r.mtime = 0;
                if l != r {
                    out.push(format!("{path:?}: {left_name} {l:?} != {right_name} {r:?}"));
                }
            }
        }
    }
    for path in right.keys().filter(|p| !left.contains_key(*p)) {
        out.push(format!("{path:?}: only in {right_name}"));
    }
    out
}
