//! MRTD: the build-time measurement of a TD.
//!
//! The TDX module keeps one running SHA-384 over 128-byte records while the
//! VMM builds the TD (Intel TDX Module ABI specification, `TDH.MEM.PAGE.ADD`
//! and `TDH.MR.EXTEND`): a page add hashes `"MEM.PAGE.ADD"` with the page's
//! GPA at byte 16; an extend hashes `"MR.EXTEND"` with the 256-byte chunk's
//! GPA at byte 16, then the chunk itself. The VMM adds every page of every
//! TDVF section (except `PAGE.AUG` ones) and extends the pages of sections
//! marked `MR.EXTEND`, in section table order.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha384};

use arca_firmware::tdvf::{TdvfMetadata, PAGE_SIZE};

use crate::Result;

/// Bytes of one `TDH.MR.EXTEND` chunk.
const EXTEND_CHUNK: usize = 256;
/// Bytes of the record hashed per operation (before an extend's data).
const RECORD_LEN: usize = 128;

/// The order in which the VMM adds and extends a section's pages.
///
/// The default, [`PageAddOrder::SinglePass`], is what current upstream
/// QEMU does: QEMU 10.1 and later with upstream KVM (Linux 6.16 and later)
/// add each page and then extend it before moving to the next. The vectors
/// record it as `mrtd_single_pass`; it is also what the td-shim MRTD tool
/// computes and what dstack-mr assumes for QEMU 9 and later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageAddOrder {
    /// Per page: `MEM.PAGE.ADD`, then its 16 `MR.EXTEND`s (upstream QEMU
    /// 10.1+ with Linux 6.16+).
    #[default]
    SinglePass,
    /// Per section: every `MEM.PAGE.ADD`, then every `MR.EXTEND` (QEMU 8.x
    /// and the earlier out-of-tree TDX patch sets, e.g. Canonical's 8.2).
    TwoPass,
}

fn page_add(hasher: &mut Sha384, gpa: u64) {
    let mut record = [0u8; RECORD_LEN];
    record[..12].copy_from_slice(b"MEM.PAGE.ADD");
    record[16..24].copy_from_slice(&gpa.to_le_bytes());
    hasher.update(record);
}

/// Extends one page: `page` is the page's 4 KiB of guest memory.
fn page_extend(hasher: &mut Sha384, gpa: u64, page: &[u8; PAGE_SIZE as usize]) {
    for (i, chunk) in page.chunks_exact(EXTEND_CHUNK).enumerate() {
        let mut record = [0u8; RECORD_LEN];
        record[..9].copy_from_slice(b"MR.EXTEND");
        record[16..24].copy_from_slice(&(gpa + (i * EXTEND_CHUNK) as u64).to_le_bytes());
        hasher.update(record);
        hasher.update(chunk);
    }
}

/// The guest-memory contents of page `index` of a section: its raw data
/// from the image, zero past the end of the raw data.
fn page_contents(raw: &[u8], index: u64) -> [u8; PAGE_SIZE as usize] {
    let mut page = [0u8; PAGE_SIZE as usize];
    let start = usize::try_from(index * PAGE_SIZE).unwrap_or(usize::MAX);
    if let Some(rest) = raw.get(start..) {
        let n = rest.len().min(page.len());
        page[..n].copy_from_slice(&rest[..n]);
    }
    page
}

/// Computes MRTD for a TDVF image and its parsed metadata.
pub fn compute_mrtd(image: &[u8], metadata: &TdvfMetadata, order: PageAddOrder) -> Result<[u8; 48]> {
    let mut hasher = Sha384::new();
    for section in &metadata.sections {
        let raw = section.raw_data(image)?;
        let add = !section.page_aug();
        let extend = section.mr_extend();
        let gpa = |page: u64| section.memory_address + page * PAGE_SIZE;
        match order {
            PageAddOrder::SinglePass => {
                for page in 0..section.pages() {
                    if add {
                        page_add(&mut hasher, gpa(page));
                    }
                    if extend {
                        page_extend(&mut hasher, gpa(page), &page_contents(raw, page));
                    }
                }
            }
            PageAddOrder::TwoPass => {
                if add {
                    for page in 0..section.pages() {
                        page_add(&mut hasher, gpa(page));
                    }
                }
                if extend {
                    for page in 0..section.pages() {
                        page_extend(&mut hasher, gpa(page), &page_contents(raw, page));
                    }
                }
            }
        }
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_firmware::tdvf::{TdvfSection, TdvfSectionType};

    fn metadata(sections: Vec<TdvfSection>) -> TdvfMetadata {
        TdvfMetadata { descriptor_offset_from_end: 0, length: 0, version: 1, sections }
    }

    fn section(raw: u32, addr: u64, size: u64, attributes: u32) -> TdvfSection {
        TdvfSection {
            data_offset: 0,
            raw_data_size: raw,
            memory_address: addr,
            memory_data_size: size,
            section_type: TdvfSectionType::Bfv,
            attributes,
        }
    }

    #[test]
    fn records_by_hand() {
        let image: Vec<u8> = (0..0x1000u32).map(|i| i as u8).collect();
        let md = metadata(vec![section(0x1000, 0xffff_f000, 0x1000, 1)]);
        let mut h = Sha384::new();
        let mut rec = [0u8; 128];
        rec[..12].copy_from_slice(b"MEM.PAGE.ADD");
        rec[16..24].copy_from_slice(&0xffff_f000u64.to_le_bytes());
        h.update(rec);
        for c in 0..16u64 {
            let mut rec = [0u8; 128];
            rec[..9].copy_from_slice(b"MR.EXTEND");
            rec[16..24].copy_from_slice(&(0xffff_f000 + c * 256).to_le_bytes());
            h.update(rec);
            h.update(&image[c as usize * 256..(c as usize + 1) * 256]);
        }
        let want: [u8; 48] = h.finalize().into();
        assert_eq!(compute_mrtd(&image, &md, PageAddOrder::SinglePass).unwrap(), want);
        // One page: both orders agree.
        assert_eq!(compute_mrtd(&image, &md, PageAddOrder::TwoPass).unwrap(), want);
    }

    #[test]
    fn orders_differ_with_two_pages_and_page_aug_is_not_measured() {
        let image = vec![7u8; 0x2000];
        let md = metadata(vec![section(0x2000, 0x10_0000, 0x2000, 1)]);
        let one = compute_mrtd(&image, &md, PageAddOrder::SinglePass).unwrap();
        let two = compute_mrtd(&image, &md, PageAddOrder::TwoPass).unwrap();
        assert_ne!(one, two);
        let empty: [u8; 48] = Sha384::new().finalize().into();
        let aug = metadata(vec![section(0, 0x10_0000, 0x2000, 2)]);
        assert_eq!(compute_mrtd(&image, &aug, PageAddOrder::SinglePass).unwrap(), empty);
    }

    #[test]
    fn memory_past_the_raw_data_is_zero() {
        let image = vec![0u8; 0x1000];
        let short = metadata(vec![section(0x800, 0x10_0000, 0x1000, 1)]);
        let full = metadata(vec![section(0x1000, 0x10_0000, 0x1000, 1)]);
        assert_eq!(
            compute_mrtd(&image, &short, PageAddOrder::SinglePass).unwrap(),
            compute_mrtd(&image, &full, PageAddOrder::SinglePass).unwrap()
        );
    }

    #[test]
    fn order_names() {
        assert_eq!(serde_json::to_string(&PageAddOrder::TwoPass).unwrap(), "\"two-pass\"");
        assert_eq!(PageAddOrder::default(), PageAddOrder::SinglePass);
    }
}
