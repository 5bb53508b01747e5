//! Streaming a firmware image for the SNP modes: its pages are read and
//! hashed in chunks on one thread and chained on another, never held
//! whole, and the launch is measured from its last bytes plus the digest
//! of its pages.
//!
//! Holding a 4 MiB image costs more than hashing it (the kernel zero-fills
//! and maps every page of a fresh buffer, then unmaps them at exit), so
//! `arca measure snp` streams images of 1 MiB and more.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use arca_measure::snp::{self, Gctx, PageType, StreamedFirmware, LD_LEN, PAGE_LEN};

use super::Failure;

/// Images at least this large are streamed.
pub const STREAM_MIN: u64 = 1 << 20;
/// Bytes read and hashed per step (small, so chaining starts early).
const CHUNK: usize = 64 << 10;
/// How long the chaining thread polls for the next chunk before it sleeps.
const POLL_FOR: Duration = Duration::from_millis(2);
/// Bytes kept from the end of the image for its footer table and metadata.
const TAIL: usize = 64 << 10;

/// Streams `path` (of at most `limit` bytes); `None` when the image is not
/// one to stream (small, not a regular file, not whole pages, or something
/// it declares lies further from the end than the kept tail): read it
/// whole instead.
pub fn stream_firmware(path: &Path, limit: u64) -> Result<Option<StreamedFirmware>, Failure> {
    let fail = |e: std::io::Error| Failure::Input(format!("--ovmf {}: {e}", path.display()));
    let file = File::open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    let size = meta.len();
    if size > limit {
        return Err(Failure::Input(format!("--ovmf {}: larger than the {limit}-byte limit", path.display())));
    }
    if !meta.is_file() || size < STREAM_MIN || size % PAGE_LEN as u64 != 0 || size > 1 << 32 {
        return Ok(None);
    }
    let len = usize::try_from(size).map_err(|_| Failure::Input("--ovmf: image too large".into()))?;
    let load_gpa = (1u64 << 32) - size;

    let tail_len = TAIL.min(len);
    let mut tail = vec![0u8; tail_len];
    file.read_exact_at(&mut tail, (len - tail_len) as u64).map_err(fail)?;
    let layout = match arca_firmware::parse_sev_layout_tail(&tail, size) {
        Ok(layout) => layout,
        // Something (metadata, a long table) lies before the kept tail, or
        // the image is malformed: reading it whole gives the answer.
        Err(arca_firmware::Error::OutOfBounds { .. }) => return Ok(None),
        Err(e) => return Err(Failure::Input(format!("--ovmf {}: {e}", path.display()))),
    };
    let digest = ovmf_gctx_digest(&file, len, load_gpa).map_err(fail)?;
    Ok(Some(StreamedFirmware { layout, ovmf_gctx_digest: digest }))
}

/// The GCTX digest after all pages of the image.
///
/// A reader thread reads the image chunk by chunk and hashes its pages
/// while this thread chains the page digests in order. The chain (two
/// dependent SHA-384 compressions per page, about 1 µs) is the longest
/// part, so this thread does nothing else, and it does not sleep while it
/// waits for a chunk: waking a sleeping thread on an idle virtual CPU costs
/// tens to hundreds of µs, more than chaining a chunk takes.
fn ovmf_gctx_digest(file: &File, len: usize, load_gpa: u64) -> std::io::Result<[u8; LD_LEN]> {
    let chunks = len.div_ceil(CHUNK);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<std::io::Result<Vec<[u8; LD_LEN]>>>();
        s.spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            for k in 0..chunks {
                let start = k * CHUNK;
                let n = CHUNK.min(len - start);
                let result =
                    file.read_exact_at(&mut buf[..n], start as u64).map(|()| snp::page_digests_serial(&buf[..n]));
                let failed = result.is_err();
                if tx.send(result).is_err() || failed {
                    return;
                }
            }
        });
        let mut gctx = Gctx::new([0; LD_LEN], false);
        for k in 0..chunks {
            let digests = receive(&rx)
                .ok_or_else(|| std::io::Error::other("the reader stopped before the end of the image"))??;
            for (i, d) in digests.iter().enumerate() {
                gctx.update(PageType::Normal, load_gpa + (k * CHUNK + i * PAGE_LEN) as u64, d);
            }
        }
        Ok(gctx.ld())
    })
}

/// The next message, or `None` once the sender is gone. Polls (yielding the
/// CPU between polls, so a reader sharing it still runs) for up to
/// [`POLL_FOR`], then blocks: a slow disk does not keep a CPU busy.
fn receive<T>(rx: &mpsc::Receiver<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(message) => return Some(message),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if started.elapsed() < POLL_FOR => std::thread::yield_now(),
            Err(TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}
