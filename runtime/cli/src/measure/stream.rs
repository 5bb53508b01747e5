//! Streaming a firmware image for the SNP modes: its pages are read and
//! hashed on all cores in chunks, never held whole, and the launch is
//! measured from its last bytes plus the digest of its pages.
//!
//! Holding a 4 MiB image costs more than hashing it (the kernel zero-fills
//! and maps every page of a fresh buffer, then unmaps them at exit), so
//! `arca measure snp` streams images of 1 MiB and more.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;

use arca_measure::snp::{self, Gctx, PageType, StreamedFirmware, LD_LEN, PAGE_LEN};

use super::Failure;

/// Images at least this large are streamed.
pub const STREAM_MIN: u64 = 1 << 20;
/// Bytes read and hashed per step.
const CHUNK: usize = 128 << 10;
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

/// The GCTX digest after all pages of the image, computed by one reader
/// per core (each reads and hashes every n-th chunk) while this thread
/// chains the page digests in order.
fn ovmf_gctx_digest(file: &File, len: usize, load_gpa: u64) -> std::io::Result<[u8; LD_LEN]> {
    let chunks = len.div_ceil(CHUNK);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, std::io::Result<Vec<[u8; LD_LEN]>>)>();
        for w in 0..workers {
            let tx = tx.clone();
            s.spawn(move || {
                let mut buf = vec![0u8; CHUNK];
                for k in (w..chunks).step_by(workers) {
                    let start = k * CHUNK;
                    let n = CHUNK.min(len - start);
                    let result =
                        file.read_exact_at(&mut buf[..n], start as u64).map(|()| snp::page_digests_serial(&buf[..n]));
                    let failed = result.is_err();
                    if tx.send((k, result)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut gctx = Gctx::new([0; LD_LEN], false);
        let mut pending: Vec<Option<Vec<[u8; LD_LEN]>>> = vec![None; chunks];
        let mut next = 0;
        while next < chunks {
            let Ok((k, result)) = rx.recv() else {
                return Err(std::io::Error::other("a reader stopped before the end of the image"));
            };
            pending[k] = Some(result?);
            while let Some(digests) = pending.get_mut(next).and_then(Option::take) {
                for (i, d) in digests.iter().enumerate() {
                    gctx.update(PageType::Normal, load_gpa + (next * CHUNK + i * PAGE_LEN) as u64, d);
                }
                next += 1;
            }
        }
        Ok(gctx.ld())
    })
}
