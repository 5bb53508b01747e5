//! Content-addressed blob store on a directory: `blobs/sha256/<hex>`.
//!
//! A blob is written to a temp file, fsynced, and renamed into place only
//! after its digest matched, so a name in `blobs/` always holds what it
//! names. Work is shared between pulls through one lock file per blob
//! (`locks/<hex>`, `flock`): whoever holds it downloads, the others wait and
//! then find the blob present. `flock` locks belong to the open file, so this
//! serializes tasks of one process as well as separate processes.
//!
//! Reads re-verify the digest ([`BlobStore::open_verified`]): the directory
//! may sit on storage the guest does not fully trust.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use sha2::{Digest as _, Sha256};

use crate::registry::sha256_hex;
use crate::{Error, Result};

/// A blob store rooted at a directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// Holds a blob's lock until dropped.
#[derive(Debug)]
pub struct BlobLock {
    _file: File,
}

impl BlobStore {
    /// Opens (creating as needed) a store at `root`.
    pub fn open(root: &Path) -> Result<BlobStore> {
        for sub in ["blobs/sha256", "tmp", "locks"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        Ok(BlobStore { root: root.to_path_buf() })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blob `digest` lives (whether or not it is present).
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(sha256_hex(digest)?))
    }

    /// True when blob `digest` is present.
    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Takes blob `digest`'s lock, waiting (on a blocking thread) while
    /// another task or process holds it.
    pub async fn lock(&self, digest: &str) -> Result<BlobLock> {
        let path = self.root.join("locks").join(sha256_hex(digest)?);
        tokio::task::spawn_blocking(move || {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(format!("opening lock {}", path.display()), e))?;
            rustix::fs::flock(&file, FlockOperation::LockExclusive)
                .map_err(|e| Error::io(format!("locking {}", path.display()), e.into()))?;
            Ok(BlobLock { _file: file })
        })
        .await
        .map_err(|e| Error::io("waiting for a blob lock", std::io::Error::other(e)))?
    }

    /// Starts writing blob `digest` (to a temp file; call [`BlobWriter::commit`]).
    pub fn writer(&self, digest: &str) -> Result<BlobWriter> {
        let hex = sha256_hex(digest)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{hex}."))
            .tempfile_in(self.root.join("tmp"))
            .map_err(|e| Error::io("creating a temp file in the blob store", e))?;
        Ok(BlobWriter { tmp, hasher: Sha256::new(), hex, digest: digest.to_owned(), dest: self.path(digest)? })
    }

    /// Opens blob `digest` for reading; the reader fails at its end if the
    /// content does not match the digest.
    pub fn open_verified(&self, digest: &str) -> Result<VerifyingReader<File>> {
        let path = self.path(digest)?;
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        VerifyingReader::new(file, digest)
    }

    /// Number of blobs present.
    pub fn blob_count(&self) -> usize {
        std::fs::read_dir(self.root.join("blobs/sha256")).map_or(0, |d| d.count())
    }
}

/// A blob being written. Dropped without commit, the temp file goes away.
#[derive(Debug)]
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    hasher: Sha256,
    hex: String,
    digest: String,
    dest: PathBuf,
}

impl BlobWriter {
    /// Appends `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.tmp.write_all(data).map_err(|e| Error::io("writing to the blob store", e))
    }

    /// Checks the digest, fsyncs and renames the blob into place.
    pub fn commit(self) -> Result<PathBuf> {
        let actual = hex::encode(self.hasher.finalize());
        if actual != self.hex {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", self.digest),
                expected: self.digest,
                actual: format!("sha256:{actual}"),
            });
        }
        self.tmp.as_file().sync_all().map_err(|e| Error::io("fsync of a blob", e))?;
        self.tmp
            .persist(&self.dest)
            .map_err(|e| Error::io(format!("renaming blob into {}", self.dest.display()), e.error))?;
        if let Some(dir) = self.dest.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("fsync of the blob dir", e))?;
        }
        Ok(self.dest)
    }
}

/// A reader that hashes what passes through and, at the end, returns an
/// error instead of EOF when the digest does not match.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    hex: String,
    digest: String,
    checked: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, which must hold blob `digest`.
    pub fn new(inner: R, digest: &str) -> Result<Self> {
        Ok(VerifyingReader {
            inner,
            hasher: Sha256::new(),
            hex: sha256_hex(digest)?,
            digest: digest.into(),
            checked: false,
        })
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        if !self.checked {
            let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
            if actual != self.hex {
                return Err(std::io::Error::other(Error::DigestMismatch {
                    what: format!("stored blob {}", self.digest),
                    expected: self.digest.clone(),
                    actual: format!("sha256:{actual}"),
                }));
            }
            self.checked = true;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    #[test]
    fn commit_only_on_matching_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = digest_of(b"hello");
        let mut w = store.writer(&d).unwrap();
        w.write(b"hel").unwrap();
        w.write(b"lo").unwrap();
        w.commit().unwrap();
        assert!(store.contains(&d));
        let mut out = Vec::new();
        store.open_verified(&d).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");

        let other = digest_of(b"other");
        let mut w = store.writer(&other).unwrap();
        w.write(b"not it").unwrap();
        assert!(matches!(w.commit(), Err(Error::DigestMismatch { .. })));
        assert!(!store.contains(&other));
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "temp file left behind");
    }

    #[test]
    fn tampered_stored_blob_fails_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = digest_of(b"data");
        let mut w = store.writer(&d).unwrap();
        w.write(b"data").unwrap();
        let path = w.commit().unwrap();
        std::fs::write(&path, b"evil").unwrap();
        let err = store.open_verified(&d).unwrap().read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }

    #[test]
    fn bad_digest_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(store.path("sha256:../../x").is_err());
    }

    #[tokio::test]
    async fn lock_serializes_holders() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = digest_of(b"x");
        let first = store.lock(&d).await.unwrap();
        let store2 = store.clone();
        let d2 = d.clone();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(async move {
            let lock = store2.lock(&d2).await.unwrap();
            let _ = tx.send(());
            drop(lock);
        });
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "second lock taken while the first is held");
        drop(first);
        waiter.await.unwrap();
    }
}
