//! The SNP guest-context launch digest (GCTX.LD) and its update.
//!
//! SEV Secure Nested Paging Firmware ABI Specification (AMD pub. 56860),
//! section 8.17 `SNP_LAUNCH_UPDATE`, table "PAGE_INFO structure": every page
//! the VMM adds updates the digest as `LD = SHA-384(PAGE_INFO)` with
//!
//! ```text
//! 0x00 DIGEST_CUR [48]   0x30 CONTENTS [48]   0x60 LENGTH u16 = 0x70
//! 0x62 PAGE_TYPE u8      0x63 IMI_PAGE u8     0x64 VMPL3/2/1_PERMS u8 ×3
//! 0x67 reserved u8       0x68 GPA u64
//! ```
//!
//! CONTENTS is the SHA-384 of the page for NORMAL and VMSA pages and zero
//! for the other types.

use std::sync::OnceLock;

use serde::Serialize;

use crate::sha384_pages::sha384_pages;

/// Size of a launch digest (SHA-384).
pub const LD_LEN: usize = 48;
/// A page.
pub const PAGE_LEN: usize = 4096;
/// GPA recorded for VMSA pages: −1, page-aligned, bits above 51 cleared.
pub const VMSA_GPA: u64 = 0x0000_FFFF_FFFF_F000;

const PAGE_INFO_LEN: usize = 0x70;

/// SHA-384 of `data`.
///
/// Every launch digest is thousands of SHA-384 compressions (the page
/// contents and two blocks of PAGE_INFO per page); ring's assembly SHA-512
/// core does them 15-25 % faster than the `sha2` crate on x86-64, so this
/// module's hashing goes through it.
pub fn sha384(data: &[u8]) -> [u8; LD_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA384, data);
    let mut out = [0u8; LD_LEN];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-384 of a page made of one repeated byte, computed once per byte
/// value for the whole process (streamed images meet the same filler in
/// every chunk).
fn filler_digest(byte: u8) -> [u8; LD_LEN] {
    static FILLER: [OnceLock<[u8; LD_LEN]>; 256] = [const { OnceLock::new() }; 256];
    *FILLER[usize::from(byte)].get_or_init(|| sha384(&[byte; PAGE_LEN]))
}

/// SNP page types (firmware ABI, `SNP_LAUNCH_UPDATE` PAGE_TYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum PageType {
    /// A page of data, measured by its SHA-384.
    Normal = 1,
    /// A vCPU save area.
    Vmsa = 2,
    /// A page of zeros.
    Zero = 3,
    /// A page whose contents are not measured.
    Unmeasured = 4,
    /// The secrets page.
    Secrets = 5,
    /// The CPUID page.
    Cpuid = 6,
}

/// One update of the launch digest, kept when a trace is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GctxStep {
    /// The page type.
    pub page_type: PageType,
    /// The page's GPA as recorded.
    pub gpa: u64,
    /// The CONTENTS field.
    #[serde(serialize_with = "crate::hexser::bytes")]
    pub contents: [u8; LD_LEN],
    /// The digest after this update.
    #[serde(serialize_with = "crate::hexser::bytes")]
    pub ld_after: [u8; LD_LEN],
}

/// A running guest-context launch digest.
#[derive(Debug, Clone)]
pub struct Gctx {
    ld: [u8; LD_LEN],
    trace: Option<Vec<GctxStep>>,
}

impl Gctx {
    /// A digest starting from `seed` (48 zero bytes for a fresh launch),
    /// recording every step when `trace` is set.
    pub fn new(seed: [u8; LD_LEN], trace: bool) -> Self {
        Self { ld: seed, trace: trace.then(Vec::new) }
    }

    /// The current digest.
    pub fn ld(&self) -> [u8; LD_LEN] {
        self.ld
    }

    /// The recorded steps (empty unless tracing).
    pub fn into_trace(self) -> Vec<GctxStep> {
        self.trace.unwrap_or_default()
    }

    /// Applies one PAGE_INFO update.
    pub fn update(&mut self, page_type: PageType, gpa: u64, contents: &[u8; LD_LEN]) {
        let mut info = [0u8; PAGE_INFO_LEN];
        info[..LD_LEN].copy_from_slice(&self.ld);
        info[0x30..0x60].copy_from_slice(contents);
        info[0x60..0x62].copy_from_slice(&(PAGE_INFO_LEN as u16).to_le_bytes());
        info[0x62] = page_type as u8;
        // IMI_PAGE, VMPL permissions and the reserved byte stay zero.
        info[0x68..0x70].copy_from_slice(&gpa.to_le_bytes());
        self.ld = sha384(&info);
        if let Some(trace) = &mut self.trace {
            trace.push(GctxStep { page_type, gpa, contents: *contents, ld_after: self.ld });
        }
    }

    /// Adds `data` (a whole number of pages) as NORMAL pages from `gpa` up.
    pub fn update_normal_pages(&mut self, gpa: u64, data: &[u8]) {
        for (i, digest) in page_digests(data).iter().enumerate() {
            self.update(PageType::Normal, gpa + (i * PAGE_LEN) as u64, digest);
        }
    }

    /// Adds `len` bytes (a whole number of pages) from `gpa` as pages of
    /// `page_type` with zero CONTENTS.
    pub fn update_empty_pages(&mut self, page_type: PageType, gpa: u64, len: u64) {
        let zeros = [0u8; LD_LEN];
        let mut at = 0;
        while at < len {
            self.update(page_type, gpa + at, &zeros);
            at += PAGE_LEN as u64;
        }
    }
}

/// SHA-384 of every 4 KiB page of `data` (the last one may be short).
///
/// Firmware images are mostly filler: in the Debian AmdSev build 843 of
/// 1024 pages are all 0xff. A page made of one repeated byte is recognised
/// by a scan (far cheaper than SHA-384) and its digest computed once per
/// byte value; the remaining pages are hashed eight at a time in vector
/// lanes where the CPU can (see `sha384_pages`), on the available cores.
/// The digests are exactly those of hashing every page.
pub fn page_digests(data: &[u8]) -> Vec<[u8; LD_LEN]> {
    // Learning the core count reads cgroup files: skip it where a second
    // thread could not pay off (such as the one page of kernel hashes).
    let threads = if data.len() < 2 * MIN_PAGES_PER_THREAD * PAGE_LEN {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
    };
    page_digests_on(data, threads)
}

/// Below this many pages to hash per thread, a thread costs more to start
/// than it saves.
const MIN_PAGES_PER_THREAD: usize = 64;

/// [`page_digests`] on the calling thread only (for callers that already
/// spread pages over threads, such as a streaming reader).
pub fn page_digests_serial(data: &[u8]) -> Vec<[u8; LD_LEN]> {
    page_digests_on(data, 1)
}

fn page_digests_on(data: &[u8], threads: usize) -> Vec<[u8; LD_LEN]> {
    let (pages, tail) = data.as_chunks::<PAGE_LEN>();
    // Every byte equals its successor: one memcmp, vectorized by libc.
    let uniform = |p: &[u8; PAGE_LEN]| p[1..] == p[..PAGE_LEN - 1];
    let mut out: Vec<Option<[u8; LD_LEN]>> = pages.iter().map(|p| uniform(p).then(|| filler_digest(p[0]))).collect();
    let todo: Vec<&[u8; PAGE_LEN]> = pages.iter().zip(&out).filter(|(_, d)| d.is_none()).map(|(p, _)| p).collect();
    let mut hashed = hash_pages(&todo, threads).into_iter();
    let mut digests: Vec<[u8; LD_LEN]> = out
        .iter_mut()
        .map(|d| d.take().or_else(|| hashed.next()))
        // `hashed` has one digest per empty slot, so every slot is filled.
        .map(|d| d.unwrap_or([0; LD_LEN]))
        .collect();
    if !tail.is_empty() {
        digests.push(sha384(tail));
    }
    digests
}

/// SHA-384 of each page, in order, on up to `threads` threads.
fn hash_pages(pages: &[&[u8; PAGE_LEN]], threads: usize) -> Vec<[u8; LD_LEN]> {
    let threads = threads.min(pages.len() / MIN_PAGES_PER_THREAD).max(1);
    if threads == 1 {
        return sha384_pages(pages);
    }
    // Shares are whole groups of lanes, so only the last one can be partial.
    let per = pages.len().div_ceil(threads).next_multiple_of(8);
    std::thread::scope(|s| {
        let mut shares = pages.chunks(per);
        // The calling thread takes the first share itself.
        let first = shares.next().unwrap_or_default();
        let handles: Vec<_> = shares.map(|share| s.spawn(move || sha384_pages(share))).collect();
        let mut all = sha384_pages(first);
        for h in handles {
            // A hashing thread cannot fail short of memory exhaustion;
            // propagate such a panic as it is.
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // The reference: an independent SHA-384 implementation.
    use sha2::{Digest, Sha384};

    #[test]
    fn page_digests_equal_plain_hashing() {
        // Filler pages of two byte values, data pages, and a short tail.
        let mut data = Vec::new();
        for i in 0..200u32 {
            let page: Vec<u8> = match i % 5 {
                0 => vec![0xff; PAGE_LEN],
                1 => vec![0; PAGE_LEN],
                _ => (0..PAGE_LEN as u32).map(|j| (i.wrapping_mul(31) ^ j) as u8).collect(),
            };
            data.extend(page);
        }
        data.extend([0xff; 100]);
        let plain: Vec<[u8; LD_LEN]> = data.chunks(PAGE_LEN).map(|p| Sha384::digest(p).into()).collect();
        assert_eq!(page_digests(&data), plain);
        assert_eq!(page_digests_serial(&data), plain);
        assert_eq!(page_digests(&data[..PAGE_LEN * 3]), plain[..3]);
        assert!(page_digests(&[]).is_empty());
    }
}
