//! SHA-256 of the kernel and initrd files, read in pieces and never held
//! whole, a large one on a thread of its own while the firmware is
//! measured.
//!
//! A distribution kernel is 8-15 MB and an initrd tens of MB: hashing them
//! is most of the work of measuring a real launch, and holding them costs
//! as much again (the kernel zero-fills and maps every page of a fresh
//! buffer). The firmware, kernel and initrd are independent until the
//! hashes table is built, so they are hashed side by side.

use std::io::Read;
use std::path::Path;
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest, Sha256};

use super::{Failure, Input};

/// Files at least this large are hashed on a thread of their own; below
/// it, starting a thread costs more than it saves.
const THREAD_MIN: u64 = 1 << 20;
/// Bytes read per step.
const BUF: usize = 256 << 10;

/// A file's SHA-256, being computed on a thread or left for later.
pub enum FileDigest<'scope, 'env> {
    /// Hashing on a thread of its own.
    Running(ScopedJoinHandle<'scope, Result<[u8; 32], Failure>>),
    /// Small (or not a regular file): hashed when asked for.
    Later { path: &'env Path, limit: u64, what: &'static str },
}

impl<'scope, 'env> FileDigest<'scope, 'env> {
    /// Starts hashing `path` (of at most `limit` bytes; `what` names it in
    /// errors) on a thread of `scope` if it is large.
    pub fn start(scope: &'scope Scope<'scope, 'env>, path: &'env Path, limit: u64, what: &'static str) -> Self {
        let large = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() >= THREAD_MIN);
        if large {
            Self::Running(scope.spawn(move || sha256_file(path, limit, what)))
        } else {
            Self::Later { path, limit, what }
        }
    }

    /// The digest, or why the file could not be hashed.
    pub fn finish(self) -> Result<[u8; 32], Failure> {
        match self {
            // Hashing cannot panic short of memory exhaustion; pass such a
            // panic on as it is.
            Self::Running(handle) => handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Self::Later { path, limit, what } => sha256_file(path, limit, what),
        }
    }
}

/// SHA-256 of the file at `path`, which may hold at most `limit` bytes
/// (also when it is not a regular file and its size is unknown).
pub fn sha256_file(path: &Path, limit: u64, what: &str) -> Result<[u8; 32], Failure> {
    let input = Input::open(path, limit, what)?;
    // A small file needs no more buffer than its size (plus a byte to see
    // its end in one read); fresh buffer pages cost a fault each.
    let mut buf = vec![0u8; usize::try_from(input.size).map_or(BUF, |s| s.saturating_add(1).clamp(1, BUF))];
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    loop {
        let n = match (&input.file).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(input.fail(e)),
        };
        total += n as u64;
        if total > limit {
            return Err(input.too_large());
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("arca-digest-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn equals_hashing_the_whole_file() {
        // Empty, one byte, exactly one buffer, one buffer and a byte, and
        // large enough for a thread of its own.
        for len in [0, 1, BUF, BUF + 1, THREAD_MIN as usize + 12345] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4096) as u8).collect();
            let path = temp(&format!("{len}"), &bytes);
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(sha256_file(&path, u64::MAX, "--kernel").unwrap(), expected, "{len} bytes");
            let digest = std::thread::scope(|s| FileDigest::start(s, &path, u64::MAX, "--kernel").finish()).unwrap();
            assert_eq!(digest, expected, "{len} bytes, started");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn limits_and_errors_name_the_file() {
        let path = temp("limit", &[7u8; 100]);
        let Err(Failure::Input(e)) = sha256_file(&path, 99, "--initrd") else { panic!("over the limit accepted") };
        assert!(e.contains("--initrd") && e.contains("99-byte limit"), "{e}");
        assert!(sha256_file(&path, 100, "--initrd").is_ok());
        std::fs::remove_file(&path).unwrap();
        let missing = std::env::temp_dir().join("arca-digest-missing");
        let Err(Failure::Input(e)) = sha256_file(&missing, 100, "--kernel") else { panic!("missing file hashed") };
        assert!(e.contains("--kernel") && e.contains("arca-digest-missing"), "{e}");
    }

    /// Where the size is unknown (a pipe), the limit is enforced while reading.
    #[test]
    fn a_pipe_is_limited_while_read() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "head -c 5000 /dev/zero"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let fd = child.stdout.take().unwrap();
        let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)));
        let Err(Failure::Input(e)) = sha256_file(&path, 4096, "--initrd") else { panic!("a pipe over the limit") };
        assert!(e.contains("4096-byte limit"), "{e}");
        drop(fd);
        child.wait().unwrap();
    }
}
