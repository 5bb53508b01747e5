//! Streaming a firmware image for the SNP modes: its pages are read and
//! hashed in chunks on two threads and chained in order, never held whole,
//! and the launch is measured from its last bytes plus the digest of its
//! pages.
//!
//! Holding a 4 MiB image costs more than hashing it (the kernel zero-fills
//! and maps every page of a fresh buffer, then unmaps them at exit), so
//! `arca measure snp` streams images of 1 MiB and more.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use arca_measure::snp::{self, Gctx, PageType, StreamedFirmware, LD_LEN, PAGE_LEN};

use super::{Failure, Input};

/// Images at least this large are streamed.
pub const STREAM_MIN: u64 = 1 << 20;
/// Bytes read and hashed per step (small, so chaining starts early).
const CHUNK: usize = 64 << 10;
/// Bytes kept from the end of the image for its footer table and metadata.
const TAIL: usize = 64 << 10;

/// Streams `path` (of at most `limit` bytes); `None` when the image is not
/// one to stream (small, not a regular file, not whole pages, or something
/// it declares lies further from the end than the kept tail): read it
/// whole instead.
pub fn stream_firmware(path: &Path, limit: u64) -> Result<Option<StreamedFirmware>, Failure> {
    let input = Input::open(path, limit, "--ovmf")?;
    let fail = |e| input.fail(e);
    let (file, size) = (&input.file, input.size);
    if !input.is_file || size < STREAM_MIN || !size.is_multiple_of(PAGE_LEN as u64) || size > 1 << 32 {
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
    let digest = ovmf_gctx_digest(file, len, load_gpa).map_err(fail)?;
    Ok(Some(StreamedFirmware { layout, ovmf_gctx_digest: digest }))
}

/// The GCTX digest after all pages of the image.
///
/// The image is cut into chunks that a helper thread and this thread read
/// and hash, each taking the next unclaimed chunk, while this thread also
/// chains the page digests in order. The chain (two dependent SHA-384
/// compressions per page, about 1 µs) cannot be split, so this thread
/// chains whenever the next chunk is ready and reads one itself when it is
/// not. Neither thread ever sleeps on the other: waking a sleeping thread
/// on an idle virtual CPU costs tens to hundreds of µs, as long as a chunk
/// takes to chain.
fn ovmf_gctx_digest(file: &File, len: usize, load_gpa: u64) -> std::io::Result<[u8; LD_LEN]> {
    let chunks = Chunks::new(file, len);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = vec![0u8; CHUNK];
            while chunks.process_next(&mut buf) {}
        });
        let mut buf = Vec::new();
        let mut gctx = Gctx::new([0; LD_LEN], false);
        for k in 0..chunks.count() {
            let digests = loop {
                if let Some(done) = chunks.done(k) {
                    break done;
                }
                // Chunk k is being read by the helper: read a later one
                // meanwhile, or give the CPU to the helper if none is left.
                buf.resize(CHUNK, 0);
                if !chunks.process_next(&mut buf) {
                    std::thread::yield_now();
                }
            };
            let digests = match digests {
                Ok(digests) => digests,
                Err(e) => {
                    chunks.abandon();
                    return Err(std::io::Error::new(e.kind(), e.to_string()));
                }
            };
            for (i, d) in digests.iter().enumerate() {
                gctx.update(PageType::Normal, load_gpa + (k * CHUNK + i * PAGE_LEN) as u64, d);
            }
        }
        Ok(gctx.ld())
    })
}

/// The image's chunks, each read and hashed once by whichever thread
/// claims it first.
struct Chunks<'a> {
    file: &'a File,
    len: usize,
    /// The next chunk no thread has claimed.
    next: AtomicUsize,
    /// Each chunk's page digests, or the error reading it.
    done: Vec<OnceLock<std::io::Result<Vec<[u8; LD_LEN]>>>>,
}

impl<'a> Chunks<'a> {
    fn new(file: &'a File, len: usize) -> Self {
        let count = len.div_ceil(CHUNK);
        Self { file, len, next: AtomicUsize::new(0), done: (0..count).map(|_| OnceLock::new()).collect() }
    }

    fn count(&self) -> usize {
        self.done.len()
    }

    /// Chunk `k`'s result once a thread has finished it.
    fn done(&self, k: usize) -> Option<&std::io::Result<Vec<[u8; LD_LEN]>>> {
        self.done[k].get()
    }

    /// Claims, reads (into `buf`, of [`CHUNK`] bytes) and hashes the next
    /// chunk; false when none is left.
    fn process_next(&self, buf: &mut [u8]) -> bool {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = self.done.get(k) else {
            return false;
        };
        let start = k * CHUNK;
        let n = CHUNK.min(self.len - start);
        let buf = &mut buf[..n];
        let result = self.file.read_exact_at(buf, start as u64).map(|()| snp::page_digests_serial(buf));
        let failed = result.is_err();
        // Only the claiming thread sets a slot.
        let _ = slot.set(result);
        if failed {
            self.abandon();
        }
        !failed
    }

    /// Leaves every unclaimed chunk unread.
    fn abandon(&self) {
        self.next.store(self.done.len(), Ordering::Relaxed);
    }
}
