//! What an OVMF image tells the SEV launch: the footer entries SEV uses and
//! the SEV metadata sections.
//!
//! SEV metadata layout (edk2 `OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`,
//! consumed by QEMU `target/i386/sev.c` and by the SNP launch flow): footer
//! entry `dc886566-…` holds a `u32` offset, counted back from the end of the
//! image, of this header:
//!
//! ```text
//! 0x00 signature "ASEV"   0x04 size u32 (header + items)
//! 0x08 version u32 (1)    0x0c item count u32
//! 0x10 items: { gpa u32, size u32, type u32 } × count
//! ```
//!
//! Item types: 1 SNP_SEC_MEM, 2 SNP_SECRETS, 3 CPUID, 4 SVSM_CAA,
//! 0x10 SNP_KERNEL_HASHES.

use serde::Serialize;

use crate::bytes::le_u32;
use crate::footer::{self, FooterTable};
use crate::{Error, Result};

/// Most metadata items accepted; real images have fewer than ten.
pub const MAX_SEV_SECTIONS: usize = 256;

const HEADER_LEN: usize = 16;
const ITEM_LEN: usize = 12;

/// Kind of an SEV metadata section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SevSectionKind {
    /// Pre-validated memory for the SEC phase (type 1).
    SnpSecMem,
    /// The SNP secrets page (type 2).
    SnpSecrets,
    /// The CPUID page (type 3).
    Cpuid,
    /// The SVSM calling-area page (type 4).
    SvsmCaa,
    /// The page holding the kernel/initrd/cmdline hashes table (type 0x10).
    SnpKernelHashes,
}

impl SevSectionKind {
    /// The kind for a raw type value, if it is one edk2 defines.
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            1 => Self::SnpSecMem,
            2 => Self::SnpSecrets,
            3 => Self::Cpuid,
            4 => Self::SvsmCaa,
            0x10 => Self::SnpKernelHashes,
            _ => return None,
        })
    }
}

/// One SEV metadata section, as listed in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SevSection {
    /// Guest-physical start address.
    pub gpa: u32,
    /// Size in bytes (zero-sized sections exist and are no-ops for ranges).
    pub size: u32,
    /// The raw type value.
    #[serde(rename = "type")]
    pub raw_type: u32,
    /// The type, when it is one this crate knows.
    #[serde(rename = "type_name")]
    pub kind: Option<SevSectionKind>,
}

impl SevSection {
    /// End address (exclusive), computed without overflow.
    pub fn end(&self) -> u64 {
        u64::from(self.gpa) + u64::from(self.size)
    }
}

/// The SEV metadata block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SevMetadata {
    /// Image offset of the `ASEV` header.
    pub offset: usize,
    /// Header version (always 1).
    pub version: u32,
    /// Sections in the order they appear in the image. Launch flows apply
    /// them in this order, not sorted by address.
    pub sections: Vec<SevSection>,
}

impl SevMetadata {
    /// Whether a section of this kind is listed.
    pub fn has(&self, kind: SevSectionKind) -> bool {
        self.sections.iter().any(|s| s.kind == Some(kind))
    }
}

/// A guest-physical range given by a footer entry (`u32` GPA, `u32` size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GpaRange {
    /// Start address.
    pub gpa: u32,
    /// Size in bytes.
    pub size: u32,
}

/// Everything an SEV, SEV-ES or SEV-SNP launch reads from an OVMF image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SevLayout {
    /// Image size in bytes.
    pub size: usize,
    /// Where the image is mapped: it ends at 4 GiB.
    pub load_gpa: u64,
    /// The whole footer table (empty when the image has none, which plain
    /// SEV launches accept).
    pub footer: FooterTable,
    /// AP reset EIP from the SEV-ES reset block.
    pub sev_es_reset_eip: Option<u32>,
    /// Where QEMU writes the kernel hashes table.
    pub hashes_table: Option<GpaRange>,
    /// The SEV launch secret area.
    pub secret_block: Option<GpaRange>,
    /// The SEV metadata sections, when the image has them.
    pub metadata: Option<SevMetadata>,
}

impl SevLayout {
    /// Whether QEMU can place a kernel hashes table in this image (the
    /// footer entry exists and its GPA is not zero), as QEMU decides for
    /// SEV and SEV-ES.
    pub fn kernel_hashes_supported(&self) -> bool {
        self.hashes_table.is_some_and(|t| t.gpa != 0)
    }
}

/// Four GiB: OVMF is mapped so that it ends there.
pub const FOUR_GIB: u64 = 1 << 32;

/// Parses the SEV-relevant parts of an OVMF image: footer table, SEV-ES
/// reset block, hashes-table location, secret block and SEV metadata.
///
/// An image without a footer table parses to a layout with nothing in it;
/// a footer table or metadata block that is present but malformed is an
/// error naming the field.
pub fn parse_sev_layout(image: &[u8]) -> Result<SevLayout> {
    parse_sev_layout_tail(image, image.len() as u64)
}

/// [`parse_sev_layout`] from only the last bytes of an image of
/// `image_size` bytes (the footer table and SEV metadata sit near the end),
/// for callers that stream an image rather than hold it. Offsets in the
/// result are offsets in the whole image. Metadata that lies before `tail`
/// is an [`Error::OutOfBounds`] error; pass a longer tail (or the image).
pub fn parse_sev_layout_tail(tail: &[u8], image_size: u64) -> Result<SevLayout> {
    let too_big = || Error::OutOfBounds {
        field: "firmware image size",
        offset: 0,
        len: image_size,
        within: "32-bit address space below 4 GiB",
        size: FOUR_GIB,
    };
    let load_gpa = FOUR_GIB.checked_sub(image_size).ok_or_else(too_big)?;
    let size = usize::try_from(image_size).map_err(|_| too_big())?;
    let base = size.checked_sub(tail.len()).ok_or(Error::OutOfBounds {
        field: "firmware image tail",
        offset: 0,
        len: tail.len() as u64,
        within: "image",
        size: image_size,
    })?;
    let mut footer = match footer::parse_footer_table(tail) {
        Ok(table) => table,
        Err(Error::NoFooterTable { .. }) => FooterTable::default(),
        Err(e) => return Err(e),
    };
    let sev_es_reset_eip = footer.read_u32(&footer::SEV_ES_RESET_BLOCK_GUID, 0, "SEV-ES reset block EIP")?;
    let hashes_table =
        range(&footer, &footer::SEV_HASH_TABLE_RV_GUID, "SEV hashes table GPA", "SEV hashes table size")?;
    let secret_block = range(&footer, &footer::SEV_SECRET_BLOCK_GUID, "SEV secret block GPA", "SEV secret block size")?;
    let mut metadata = match footer.read_u32(&footer::SEV_METADATA_OFFSET_GUID, 0, "SEV metadata offset")? {
        Some(offset) => Some(parse_sev_metadata(tail, offset)?),
        None => None,
    };
    for e in &mut footer.entries {
        e.data_offset += base;
    }
    if let Some(m) = &mut metadata {
        m.offset += base;
    }
    Ok(SevLayout { size, load_gpa, footer, sev_es_reset_eip, hashes_table, secret_block, metadata })
}

fn range(table: &FooterTable, guid: &crate::Guid, gpa: &'static str, size: &'static str) -> Result<Option<GpaRange>> {
    let Some(g) = table.read_u32(guid, 0, gpa)? else { return Ok(None) };
    let s = table.read_u32(guid, 4, size)?.unwrap_or_default();
    Ok(Some(GpaRange { gpa: g, size: s }))
}

/// Parses the SEV metadata block whose header sits `offset_from_end` bytes
/// before the end of `image`.
pub fn parse_sev_metadata(image: &[u8], offset_from_end: u32) -> Result<SevMetadata> {
    let size = image.len();
    let start = size.checked_sub(offset_from_end as usize).ok_or(Error::OutOfBounds {
        field: "SEV metadata offset",
        offset: u64::from(offset_from_end),
        len: HEADER_LEN as u64,
        within: "image (counted back from its end)",
        size: size as u64,
    })?;
    let signature = crate::bytes::array::<4>(image, start, "SEV metadata signature", "image")?;
    if &signature != b"ASEV" {
        return Err(Error::BadSignature {
            field: "SEV metadata signature",
            expected: "ASEV",
            found: signature.to_vec(),
        });
    }
    let block_len = le_u32(image, start + 4, "SEV metadata size", "image")? as usize;
    let version = le_u32(image, start + 8, "SEV metadata version", "image")?;
    if version != 1 {
        return Err(Error::UnsupportedVersion { field: "SEV metadata version", expected: 1, found: version });
    }
    let count = le_u32(image, start + 12, "SEV metadata item count", "image")? as usize;
    if count > MAX_SEV_SECTIONS {
        return Err(Error::TooManyItems { field: "SEV metadata item count", max: MAX_SEV_SECTIONS, found: count });
    }
    // The items must lie inside both the block the header declares and the image.
    let block = crate::bytes::slice(image, start, block_len, "SEV metadata size", "image")?;
    let mut sections = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER_LEN + i * ITEM_LEN;
        let gpa = le_u32(block, at, "SEV metadata item gpa", "SEV metadata block")?;
        let len = le_u32(block, at + 4, "SEV metadata item size", "SEV metadata block")?;
        let raw_type = le_u32(block, at + 8, "SEV metadata item type", "SEV metadata block")?;
        let section = SevSection { gpa, size: len, raw_type, kind: SevSectionKind::from_raw(raw_type) };
        if gpa % 0x1000 != 0 || len % 0x1000 != 0 {
            return Err(Error::Misaligned {
                field: "SEV metadata item",
                index: i,
                gpa: u64::from(gpa),
                size: u64::from(len),
            });
        }
        if section.end() > FOUR_GIB {
            return Err(Error::OutOfBounds {
                field: "SEV metadata item size",
                offset: u64::from(gpa),
                len: u64::from(len),
                within: "32-bit guest-physical address space",
                size: FOUR_GIB,
            });
        }
        if len != 0 {
            let overlap = sections
                .iter()
                .position(|o: &SevSection| o.size != 0 && u64::from(o.gpa) < section.end() && u64::from(gpa) < o.end());
            if let Some(first) = overlap {
                return Err(Error::OverlappingSections { field: "SEV metadata item", first, second: i });
            }
        }
        sections.push(section);
    }
    Ok(SevMetadata { offset: start, version, sections })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::footer::SEV_METADATA_OFFSET_GUID;

    /// An image with a footer table (given entries plus the SEV metadata
    /// entry) and an `ASEV` block holding `items` at offset 0x100.
    fn image(items: &[(u32, u32, u32)], tweak: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
        let size = 0x1000;
        let meta_at = 0x100;
        let entries = [
            (crate::footer::SEV_ES_RESET_BLOCK_GUID, 0x80b004u32.to_le_bytes().to_vec()),
            (SEV_METADATA_OFFSET_GUID, ((size - meta_at) as u32).to_le_bytes().to_vec()),
        ];
        let mut img = crate::footer::tests::image_with(size, &entries);
        let mut meta = b"ASEV".to_vec();
        meta.extend_from_slice(&((HEADER_LEN + items.len() * ITEM_LEN) as u32).to_le_bytes());
        meta.extend_from_slice(&1u32.to_le_bytes());
        meta.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for (gpa, len, ty) in items {
            for v in [gpa, len, ty] {
                meta.extend_from_slice(&v.to_le_bytes());
            }
        }
        img[meta_at..meta_at + meta.len()].copy_from_slice(&meta);
        tweak(&mut img);
        img
    }

    const META: usize = 0x100;

    #[test]
    fn sections_in_file_order_with_unknown_types() {
        let items = [
            (0x80_0000, 0x9000, 1),
            (0x81_1000, 0x1000, 1),
            (0x81_0000, 0x1000, 0x10),
            (0, 0, 4),
            (0, 0, 4),
            (0x90_0000, 0x1000, 0x77),
        ];
        let layout = parse_sev_layout(&image(&items, |_| {})).unwrap();
        let meta = layout.metadata.clone().unwrap();
        let got: Vec<(u32, u32, u32)> = meta.sections.iter().map(|s| (s.gpa, s.size, s.raw_type)).collect();
        assert_eq!(got, items);
        assert_eq!(meta.sections[2].kind, Some(SevSectionKind::SnpKernelHashes));
        assert_eq!(meta.sections[5].kind, None);
        assert_eq!(layout.sev_es_reset_eip, Some(0x80b004));
        assert_eq!(layout.load_gpa, FOUR_GIB - 0x1000);
        assert!(!layout.kernel_hashes_supported());
    }

    #[test]
    fn layout_from_the_tail_equals_layout_from_the_image() {
        let mut img = vec![0x55u8; 0x3000];
        img.extend(image(&[(0x80_0000, 0x9000, 1), (0x80_d000, 0x1000, 2)], |_| {}));
        let whole = parse_sev_layout(&img).unwrap();
        assert_eq!(parse_sev_layout_tail(&img[0x3000..], img.len() as u64).unwrap(), whole);
        assert_eq!(parse_sev_layout_tail(&img[0x3100..], img.len() as u64).unwrap(), whole);
        // The metadata block lies before this tail.
        let short = &img[img.len() - 0x100..];
        assert!(matches!(
            parse_sev_layout_tail(short, img.len() as u64),
            Err(Error::OutOfBounds { field: "SEV metadata offset", .. })
        ));
        assert!(matches!(
            parse_sev_layout_tail(&img, img.len() as u64 - 1),
            Err(Error::OutOfBounds { field: "firmware image tail", .. })
        ));
    }

    #[test]
    fn image_without_footer_has_empty_layout() {
        let layout = parse_sev_layout(&[0u8; 8192]).unwrap();
        assert!(layout.footer.entries.is_empty());
        assert_eq!((layout.sev_es_reset_eip, layout.metadata), (None, None));
    }

    #[test]
    fn hostile_metadata() {
        let ok = [(0x80_0000u32, 0x1000u32, 1u32)];
        type Check = fn(&Error) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (image(&ok, |i| i[META] = b'X'), |e| {
                matches!(e, Error::BadSignature { field: "SEV metadata signature", .. })
            }),
            (image(&ok, |i| i[META + 8] = 2), |e| matches!(e, Error::UnsupportedVersion { found: 2, .. })),
            // Item count past the declared block size.
            (image(&ok, |i| i[META + 12] = 2), |e| {
                matches!(e, Error::OutOfBounds { field: "SEV metadata item gpa", .. })
            }),
            // Declared block size past the end of the image.
            (image(&ok, |i| i[META + 5] = 0xff), |e| {
                matches!(e, Error::OutOfBounds { field: "SEV metadata size", .. })
            }),
            (image(&ok, |i| i[META + 13] = 0xff), |e| matches!(e, Error::TooManyItems { .. })),
            (image(&ok, |i| i[META + 16] = 1), |e| matches!(e, Error::Misaligned { index: 0, .. })),
            (image(&[(0xffff_f000, 0x2000, 1)], |_| {}), |e| {
                matches!(e, Error::OutOfBounds { field: "SEV metadata item size", .. })
            }),
            (image(&[(0x80_0000, 0x2000, 1), (0x80_1000, 0x1000, 2)], |_| {}), |e| {
                matches!(e, Error::OverlappingSections { first: 0, second: 1, .. })
            }),
        ];
        for (n, (img, check)) in cases.iter().enumerate() {
            let err = parse_sev_layout(img).unwrap_err();
            assert!(check(&err), "case {n}: {err}");
        }
        // Metadata offset larger than the image.
        let mut img = image(&ok, |_| {});
        let table = crate::footer::parse_footer_table(&img).unwrap();
        let at = table.get(&SEV_METADATA_OFFSET_GUID).unwrap().data_offset;
        img[at..at + 4].copy_from_slice(&0x10_0000u32.to_le_bytes());
        assert!(matches!(parse_sev_layout(&img), Err(Error::OutOfBounds { field: "SEV metadata offset", .. })));
        // Zero offset: the header would start at the image end.
        img[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(parse_sev_layout(&img), Err(Error::OutOfBounds { field: "SEV metadata signature", .. })));
    }
}
