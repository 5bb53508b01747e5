//! Unit tests of the TDVF metadata parser on synthetic and hostile images.

use super::*;
use crate::footer::SEV_ES_RESET_BLOCK_GUID;

const IMAGE_SIZE: usize = 0x4000;
/// Where the synthetic images put the descriptor, from the end.
const DESC_FROM_END: u32 = 0x800;

/// A section as the 32 bytes of a `TDVF_SECTION`.
fn section(data_offset: u32, raw: u32, addr: u64, size: u64, ty: u32, attrs: u32) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&data_offset.to_le_bytes());
    s.extend_from_slice(&raw.to_le_bytes());
    s.extend_from_slice(&addr.to_le_bytes());
    s.extend_from_slice(&size.to_le_bytes());
    s.extend_from_slice(&ty.to_le_bytes());
    s.extend_from_slice(&attrs.to_le_bytes());
    s
}

/// The sections of a small TDVF-like layout: BFV (extended), CFV, TD_HOB,
/// TEMP_MEM.
fn good_sections() -> Vec<Vec<u8>> {
    vec![
        section(0x2000, 0x2000, 0xffff_e000, 0x2000, 0, 1),
        section(0, 0x2000, 0xffff_c000, 0x2000, 1, 0),
        section(0, 0, 0x80_9000, 0x2000, 2, 0),
        section(0, 0, 0x80_0000, 0x6000, 3, 0),
    ]
}

/// An image with a footer table whose TDX entry points at a descriptor
/// holding `sections`; `length` and `count` override the header fields.
fn image(sections: &[Vec<u8>], length: Option<u32>, count: Option<u32>) -> Vec<u8> {
    // Footer table, as walked: a reset-block entry and the TDX metadata entry.
    let entries =
        [(SEV_ES_RESET_BLOCK_GUID, vec![0; 4]), (TDX_METADATA_OFFSET_GUID, DESC_FROM_END.to_le_bytes().to_vec())];
    let mut img = crate::footer::tests::image_with(IMAGE_SIZE, &entries);
    let at = IMAGE_SIZE - DESC_FROM_END as usize;
    img[at - 16..at].copy_from_slice(TDVF_DESCRIPTOR_GUID.as_bytes());
    let n = sections.len() as u32;
    img[at..at + 4].copy_from_slice(b"TDVF");
    img[at + 4..at + 8].copy_from_slice(&length.unwrap_or(16 + 32 * n).to_le_bytes());
    img[at + 8..at + 12].copy_from_slice(&1u32.to_le_bytes());
    img[at + 12..at + 16].copy_from_slice(&count.unwrap_or(n).to_le_bytes());
    for (i, s) in sections.iter().enumerate() {
        let o = at + 16 + 32 * i;
        img[o..o + 32].copy_from_slice(s);
    }
    img
}

fn field_of(result: Result<TdvfMetadata>) -> (Option<usize>, &'static str) {
    match result {
        Err(Error::TdvfField { section, field, .. }) => (section, field),
        other => panic!("expected a TdvfField error, got {other:?}"),
    }
}

#[test]
fn parses_a_well_formed_descriptor() {
    let img = image(&good_sections(), None, None);
    let md = parse_tdvf_metadata(&img).unwrap();
    assert_eq!(md.descriptor_offset_from_end, DESC_FROM_END);
    assert_eq!((md.length, md.version), (16 + 32 * 4, 1));
    let types: Vec<_> = md.sections.iter().map(|s| s.section_type).collect();
    assert_eq!(types, [TdvfSectionType::Bfv, TdvfSectionType::Cfv, TdvfSectionType::TdHob, TdvfSectionType::TempMem]);
    let bfv = md.section(TdvfSectionType::Bfv).unwrap();
    assert!(bfv.mr_extend() && !bfv.page_aug());
    assert_eq!(bfv.pages(), 2);
    assert_eq!(bfv.raw_data(&img).unwrap().len(), 0x2000);
    assert_eq!(md.section(TdvfSectionType::TdHob).unwrap().memory_address, 0x80_9000);
    let json = serde_json::to_value(&md).unwrap();
    assert_eq!(json["sections"][2]["type"], "TD_HOB");
}

#[test]
fn section_type_round_trip() {
    for v in 0..8 {
        let t = TdvfSectionType::from_u32(v).unwrap();
        assert_eq!(t.as_u32(), v);
        assert!(!t.name().is_empty());
    }
    assert_eq!(TdvfSectionType::from_u32(8), None);
}

#[test]
fn firmware_without_tdx_entry_is_not_tdvf() {
    let mut img = image(&good_sections(), None, None);
    // Rename the TDX entry's GUID: the table stays well-formed.
    let tdx_at = img.windows(16).rposition(|w| w == TDX_METADATA_OFFSET_GUID.as_bytes()).unwrap();
    img[tdx_at] ^= 0xff;
    assert!(matches!(parse_tdvf_metadata(&img), Err(Error::NoTdvfMetadata)));
}

#[test]
fn offset_past_the_start_of_the_image() {
    let img = image(&good_sections(), None, None);
    assert!(matches!(
        parse_tdvf_descriptor(&img, IMAGE_SIZE as u32 + 1),
        Err(Error::OutOfBounds { field: "TDX metadata offset", .. })
    ));
    // Pointing at the very start leaves no room for the GUID before it.
    assert!(matches!(
        parse_tdvf_descriptor(&img, IMAGE_SIZE as u32),
        Err(Error::OutOfBounds { field: "TDVF descriptor GUID", .. })
    ));
}

#[test]
fn offset_that_misses_the_descriptor() {
    let img = image(&good_sections(), None, None);
    assert!(matches!(parse_tdvf_descriptor(&img, DESC_FROM_END + 4), Err(Error::TdvfDescriptorGuid { .. })));
    // Right GUID, wrong signature.
    let mut bad = img.clone();
    let at = IMAGE_SIZE - DESC_FROM_END as usize;
    bad[at..at + 4].copy_from_slice(b"TDVX");
    assert!(matches!(parse_tdvf_metadata(&bad), Err(Error::TdvfSignature { found }) if &found == b"TDVX"));
}

#[test]
fn truncated_descriptor() {
    let img = image(&good_sections(), None, None);
    // An offset whose 16 bytes before are not the descriptor GUID (here:
    // inside the footer table).
    assert!(matches!(parse_tdvf_descriptor(&img, 8), Err(Error::TdvfDescriptorGuid { .. })));
    let mut short = vec![0u8; 32];
    short[..16].copy_from_slice(TDVF_DESCRIPTOR_GUID.as_bytes());
    short[16..20].copy_from_slice(b"TDVF");
    short[20..24].copy_from_slice(&48u32.to_le_bytes());
    short[24..28].copy_from_slice(&1u32.to_le_bytes());
    short[28..32].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        parse_tdvf_descriptor(&short, 16),
        Err(Error::OutOfBounds { field: "TDVF descriptor length", .. })
    ));
    // Sections declared past the end of the image.
    let mut end = vec![0u8; 64];
    end[..16].copy_from_slice(TDVF_DESCRIPTOR_GUID.as_bytes());
    end[16..20].copy_from_slice(b"TDVF");
    end[20..24].copy_from_slice(&(16u32 + 32 * 2).to_le_bytes());
    end[24..28].copy_from_slice(&1u32.to_le_bytes());
    end[28..32].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(parse_tdvf_descriptor(&end, 48), Err(Error::OutOfBounds { field: "TDVF descriptor length", .. })));
}

#[test]
fn descriptor_header_fields() {
    let s = good_sections();
    assert_eq!(field_of(parse_tdvf_metadata(&image(&s, Some(16 + 32 * 3), None))), (None, "length"));
    assert_eq!(field_of(parse_tdvf_metadata(&image(&s, None, Some(65)))), (None, "section count"));
    let mut v2 = image(&s, None, None);
    let at = IMAGE_SIZE - DESC_FROM_END as usize;
    v2[at + 8] = 2;
    assert_eq!(field_of(parse_tdvf_metadata(&v2)), (None, "version"));
    // A huge count is refused before anything is allocated.
    assert_eq!(field_of(parse_tdvf_metadata(&image(&s, Some(u32::MAX), Some(u32::MAX)))), (None, "section count"));
}

#[test]
fn raw_data_past_the_end_of_the_image() {
    let mut s = good_sections();
    s[0] = section(0x3000, 0x2000, 0xffff_e000, 0x2000, 0, 1);
    assert!(matches!(
        parse_tdvf_metadata(&image(&s, None, None)),
        Err(Error::OutOfBounds { field: "TDVF section data_offset + raw_data_size", .. })
    ));
    s[0] = section(u32::MAX, 0x1000, 0xffff_e000, 0x2000, 0, 1);
    assert!(matches!(parse_tdvf_metadata(&image(&s, None, None)), Err(Error::OutOfBounds { .. })));
}

#[test]
fn section_fields() {
    let cases: [(Vec<u8>, &str); 8] = [
        (section(0, 0, 0x80_0000, 0x1000, 8, 0), "type"),
        (section(0, 0, 0x80_0000, 0x1000, 3, 4), "attributes"),
        (section(0, 0, 0x80_0000, 0x1000, 3, 3), "attributes"),
        (section(0, 0, 0x80_0800, 0x1000, 3, 0), "memory_address"),
        (section(0, 0, 0x80_0000, 0x1800, 3, 0), "memory_data_size"),
        (section(0, 0x2000, 0x80_0000, 0x1000, 1, 0), "raw_data_size"),
        (section(0, 0, u64::MAX - 0xfff, 0x2000, 3, 0), "memory_address + memory_data_size"),
        (section(0, 0, 1 << 52, 0x1000, 3, 0), "memory_address + memory_data_size"),
    ];
    for (bad, field) in cases {
        let mut s = good_sections();
        s.push(bad);
        assert_eq!(field_of(parse_tdvf_metadata(&image(&s, None, None))), (Some(4), field));
    }
}

#[test]
fn overlapping_sections() {
    let mut s = good_sections();
    // A TEMP_MEM range reaching into the TD_HOB range.
    s.push(section(0, 0, 0x80_8000, 0x2000, 3, 0));
    assert!(matches!(
        parse_tdvf_metadata(&image(&s, None, None)),
        Err(Error::TdvfSectionOverlap { first: 2, second: 4 })
    ));
    // A second BFV over the first.
    let mut s = good_sections();
    s.push(section(0x2000, 0x1000, 0xffff_f000, 0x1000, 0, 1));
    assert!(matches!(
        parse_tdvf_metadata(&image(&s, None, None)),
        Err(Error::TdvfSectionOverlap { first: 0, second: 4 })
    ));
    // Zero-sized sections overlap nothing.
    let mut s = good_sections();
    s.push(section(0, 0, 0x80_9000, 0, 3, 0));
    assert!(parse_tdvf_metadata(&image(&s, None, None)).is_ok());
}

#[test]
fn two_td_hobs_are_ambiguous() {
    let mut s = good_sections();
    s.push(section(0, 0, 0x90_0000, 0x1000, 2, 0));
    assert_eq!(field_of(parse_tdvf_metadata(&image(&s, None, None))), (None, "TD_HOB sections"));
}

#[test]
fn added_memory_is_bounded() {
    let mut s = good_sections();
    s.push(section(0, 0, 1 << 33, 8 << 30, 4, 0));
    assert_eq!(field_of(parse_tdvf_metadata(&image(&s, None, None))), (Some(4), "memory_data_size"));
    // The same range added after launch (PAGE.AUG) is not measured: fine.
    let mut s = good_sections();
    s.push(section(0, 0, 1 << 33, 8 << 30, 4, 2));
    assert!(parse_tdvf_metadata(&image(&s, None, None)).unwrap().sections[4].page_aug());
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Every suffix of a valid image, and the image with each descriptor byte
    // flipped: errors are fine, panics are not.
    let img = image(&good_sections(), None, None);
    for cut in (0..IMAGE_SIZE).step_by(97) {
        let _ = parse_tdvf_metadata(&img[cut..]);
    }
    let at = IMAGE_SIZE - DESC_FROM_END as usize;
    for i in at..at + 16 + 32 * 4 {
        let mut m = img.clone();
        m[i] ^= 0x80;
        let _ = parse_tdvf_metadata(&m);
    }
}
