//! Key-value storage for resources, policies and reference values.
//!
//! [`Store`] is synchronous on purpose: the filesystem has no useful async
//! interface, and the HTTP layer calls it through `spawn_blocking`. A shared
//! backend (a database) implements the same trait.
//!
//! [`FsStore`] keeps one file per key below a directory, one subdirectory per
//! [`Namespace`]. A write is atomic and durable when `put` returns: the value
//! goes to a fresh temporary file in the same directory, which is flushed
//! (`fsync`), renamed over the key's file, and the directory is flushed so
//! the rename itself survives a crash. A reader sees the old or the new
//! value, never a torn one.
//!
//! Keys become file names by a reversible encoding: ASCII letters, digits,
//! `-`, `_` and `.` (except as the first character) stay as they are, every
//! other byte becomes `%XX`. So `repo/type/tag` is the single file
//! `repo%2Ftype%2Ftag`, `..` is `%2E.`, and no key can name a path outside
//! its namespace directory. Temporary files start with `.`, which no encoded
//! key does.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::{Error, Result};

/// Default largest value accepted by a store: 16 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 << 20;

/// Longest encoded file name; file systems allow 255 bytes, and the rest is
/// headroom for the temporary-file prefix.
pub const MAX_ENCODED_KEY_LEN: usize = 240;

/// The separate key spaces of the KBS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Resources released to attested TEEs (`repo/type/tag`).
    Resources,
    /// The resource policy (one key).
    ResourcePolicy,
    /// Attestation policies by id.
    AttestationPolicy,
    /// Reference values by name.
    ReferenceValues,
}

impl Namespace {
    /// All namespaces.
    pub const ALL: [Namespace; 4] =
        [Namespace::Resources, Namespace::ResourcePolicy, Namespace::AttestationPolicy, Namespace::ReferenceValues];

    /// The directory name of the namespace in a [`FsStore`].
    pub fn dir_name(self) -> &'static str {
        match self {
            Namespace::Resources => "resources",
            Namespace::ResourcePolicy => "resource-policy",
            Namespace::AttestationPolicy => "attestation-policy",
            Namespace::ReferenceValues => "reference-values",
        }
    }
}

/// A key-value store with namespaces.
pub trait Store: Send + Sync + 'static {
    /// The value of `key`, or `None` when it does not exist.
    fn get(&self, ns: Namespace, key: &str) -> Result<Option<Vec<u8>>>;
    /// Set `key` to `value`, replacing any old value; durable when it returns `Ok`.
    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<()>;
    /// Remove `key`; `true` when it existed.
    fn delete(&self, ns: Namespace, key: &str) -> Result<bool>;
    /// All keys of the namespace, sorted.
    fn list(&self, ns: Namespace) -> Result<Vec<String>>;
}

/// Refuse keys no store accepts: empty, or longer than 1024 bytes.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_key(key, "empty key"));
    }
    if key.len() > 1024 {
        return Err(Error::invalid_key(key, format!("key is {} bytes, limit 1024", key.len())));
    }
    Ok(())
}

fn check_size(value: &[u8], limit: usize) -> Result<()> {
    if value.len() > limit {
        return Err(Error::TooLarge { what: "stored value", found: value.len(), limit });
    }
    Ok(())
}

/// Encode a key as a file name (see the module documentation).
pub fn encode_key(key: &str) -> Result<String> {
    check_key(key)?;
    let mut out = String::with_capacity(key.len());
    for (i, b) in key.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_ENCODED_KEY_LEN {
        return Err(Error::invalid_key(
            key,
            format!("encoded file name is {} bytes, limit {MAX_ENCODED_KEY_LEN}", out.len()),
        ));
    }
    Ok(out)
}

/// Decode a file name made by [`encode_key`]; `None` for names it cannot have made.
pub fn decode_key(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes[0] == b'.' {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    let key = String::from_utf8(out).ok()?;
    // Only canonical encodings (upper-case hex, no needless escapes) name keys.
    (encode_key(&key).ok()? == name).then_some(key)
}

/// A store on the local filesystem; see the module documentation.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    max_value_size: usize,
    counter: AtomicU64,
}

impl FsStore {
    /// Open (creating, mode 0700) the store directory and its namespace subdirectories.
    pub fn open(dir: impl AsRef<Path>) -> Result<FsStore> {
        let root = dir.as_ref().to_path_buf();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for ns in Namespace::ALL {
            let path = root.join(ns.dir_name());
            builder.create(&path).map_err(|source| Error::StorageInit { path, op: "create directory", source })?;
        }
        let store = FsStore { root, max_value_size: DEFAULT_MAX_VALUE_SIZE, counter: AtomicU64::new(0) };
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Set the largest value `put` accepts.
    pub fn with_max_value_size(mut self, limit: usize) -> FsStore {
        self.max_value_size = limit;
        self
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, ns: Namespace) -> PathBuf {
        self.root.join(ns.dir_name())
    }

    fn path(&self, ns: Namespace, key: &str) -> Result<PathBuf> {
        Ok(self.dir(ns).join(encode_key(key)?))
    }

    /// Temporary files left by a crash between create and rename are garbage:
    /// their `put` never returned. Removal is best effort.
    fn remove_stale_temporaries(&self) {
        for ns in Namespace::ALL {
            let Ok(entries) = fs::read_dir(self.dir(ns)) else { continue };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    fn sync_dir(dir: &Path) -> Result<()> {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|source| Error::Storage {
            op: "sync directory",
            path: dir.to_path_buf(),
            source,
        })
    }
}

impl Store for FsStore {
    fn get(&self, ns: Namespace, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(ns, key)?;
        match fs::read(&path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Storage { op: "read", path, source }),
        }
    }

    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<()> {
        check_size(value, self.max_value_size)?;
        let path = self.path(ns, key)?;
        let dir = self.dir(ns);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            f.write_all(value)?;
            f.sync_all()
        };
        if let Err(source) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Storage { op: "write", path: tmp, source });
        }
        if let Err(source) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Storage { op: "rename into", path, source });
        }
        Self::sync_dir(&dir)
    }

    fn delete(&self, ns: Namespace, key: &str) -> Result<bool> {
        let path = self.path(ns, key)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                Self::sync_dir(&self.dir(ns))?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Storage { op: "remove", path, source }),
        }
    }

    fn list(&self, ns: Namespace) -> Result<Vec<String>> {
        let dir = self.dir(ns);
        let entries = fs::read_dir(&dir).map_err(|source| Error::Storage { op: "list", path: dir.clone(), source })?;
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Storage { op: "list", path: dir.clone(), source })?;
            if let Some(key) = entry.file_name().to_str().and_then(decode_key) {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// A store in memory, for tests and for `storage_type = "Memory"`.
#[derive(Debug)]
pub struct MemoryStore {
    map: RwLock<BTreeMap<(Namespace, String), Vec<u8>>>,
    max_value_size: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore { map: RwLock::new(BTreeMap::new()), max_value_size: DEFAULT_MAX_VALUE_SIZE }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Set the largest value `put` accepts.
    pub fn with_max_value_size(mut self, limit: usize) -> MemoryStore {
        self.max_value_size = limit;
        self
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<(Namespace, String), Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (each operation is a single insert/remove), so a poisoned lock is usable.
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<(Namespace, String), Vec<u8>>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn get(&self, ns: Namespace, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        Ok(self.read().get(&(ns, key.to_string())).cloned())
    }

    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_size(value, self.max_value_size)?;
        self.write().insert((ns, key.to_string()), value.to_vec());
        Ok(())
    }

    fn delete(&self, ns: Namespace, key: &str) -> Result<bool> {
        check_key(key)?;
        Ok(self.write().remove(&(ns, key.to_string())).is_some())
    }

    fn list(&self, ns: Namespace) -> Result<Vec<String>> {
        Ok(self.read().keys().filter(|(n, _)| *n == ns).map(|(_, k)| k.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_stays_in_one_directory() {
        for key in ["repo/type/tag", "..", ".", "a\0b", "plain-key_1.txt", "ümlaut", "%2F", "/etc/passwd"] {
            let name = encode_key(key).unwrap();
            assert!(!name.contains('/') && !name.contains('\0') && !name.starts_with('.'), "{key:?} -> {name}");
            assert_eq!(decode_key(&name).as_deref(), Some(key));
        }
        assert_eq!(encode_key("repo/type/tag").unwrap(), "repo%2Ftype%2Ftag");
        assert_eq!(decode_key(".tmp-1-2"), None);
        assert_eq!(decode_key("%2f"), None, "lower-case escapes are not canonical");
        assert_eq!(decode_key("%41"), None, "needless escapes are not canonical");
        assert!(matches!(encode_key(""), Err(Error::InvalidKey { .. })));
        assert!(matches!(encode_key(&"/".repeat(100)), Err(Error::InvalidKey { .. })));
        assert!(encode_key(&"a".repeat(240)).is_ok());
        assert!(encode_key(&"a".repeat(241)).is_err());
    }
}
