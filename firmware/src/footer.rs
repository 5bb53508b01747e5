//! The GUIDed table at the end of an OVMF/TDVF image.
//!
//! Layout (edk2 `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`, read by
//! QEMU's `hw/i386/pc_sysfw_ovmf.c`): the last 32 bytes of the image hold
//! the reset vector. Just below them sits the footer entry: a `u16` total
//! table length followed by the footer GUID
//! `96b582de-1fb2-45f7-baea-a366c55a082d`. Below the footer, entries are
//! packed downwards, each laid out as
//!
//! ```text
//! data[len - 18] | len: u16 (LE, whole entry) | guid: 16 bytes
//! ```
//!
//! so the table is walked from its top (next to the footer) towards lower
//! addresses. The footer's length counts the footer entry itself too.

use serde::Serialize;

use crate::{Error, Guid, Result};

/// Bytes between the end of the table and the end of the image (the reset
/// vector area).
pub const BYTES_AFTER_TABLE: usize = 32;

/// Size of an entry's trailer: `u16` length plus GUID.
pub const ENTRY_HEADER_LEN: usize = 2 + Guid::LEN;

/// GUID of the footer entry that marks the table.
pub const FOOTER_GUID: Guid =
    Guid::from_fields(0x96b5_82de, 0x1fb2, 0x45f7, [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d]);
/// SEV-ES AP reset block: `u32` reset EIP.
pub const SEV_ES_RESET_BLOCK_GUID: Guid =
    Guid::from_fields(0x00f7_71de, 0x1a7e, 0x4fcb, [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e]);
/// SEV launch secret block: `u32` GPA, `u32` size.
pub const SEV_SECRET_BLOCK_GUID: Guid =
    Guid::from_fields(0x4c2e_b361, 0x7d9b, 0x4cc3, [0x80, 0x81, 0x12, 0x7c, 0x90, 0xd3, 0xd2, 0x94]);
/// Where QEMU puts the SEV kernel hashes table: `u32` GPA, `u32` size.
pub const SEV_HASH_TABLE_RV_GUID: Guid =
    Guid::from_fields(0x7255_371f, 0x3a3b, 0x4b04, [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54]);
/// SEV metadata: `u32` offset of the metadata header from the image end.
pub const SEV_METADATA_OFFSET_GUID: Guid =
    Guid::from_fields(0xdc88_6566, 0x984a, 0x4798, [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc]);
/// TDX metadata: `u32` offset of the TDVF descriptor from the image end.
pub const TDX_METADATA_OFFSET_GUID: Guid =
    Guid::from_fields(0xe47a_6535, 0x984a, 0x4798, [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2]);
/// IGVM parameter-area list (edk2 2025 and later); not used for SEV or TDX
/// launch measurement.
pub const IGVM_PARAM_AREA_GUID: Guid =
    Guid::from_fields(0x784f_a70e, 0x3176, 0x4677, [0x8a, 0x20, 0x04, 0xb6, 0x86, 0x99, 0xe3, 0x74]);

/// Name of a footer entry GUID this crate knows, if any.
pub fn known_name(guid: &Guid) -> Option<&'static str> {
    const NAMES: [(Guid, &str); 6] = [
        (SEV_ES_RESET_BLOCK_GUID, "sev_es_reset_block"),
        (SEV_SECRET_BLOCK_GUID, "sev_secret_block"),
        (SEV_HASH_TABLE_RV_GUID, "sev_hash_table_rv"),
        (SEV_METADATA_OFFSET_GUID, "sev_metadata_offset"),
        (TDX_METADATA_OFFSET_GUID, "tdx_metadata_offset"),
        (IGVM_PARAM_AREA_GUID, "igvm_param_area_list"),
    ];
    NAMES.iter().find(|(g, _)| g == guid).map(|(_, name)| *name)
}

/// One entry of the footer table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FooterEntry {
    /// The entry's GUID.
    pub guid: Guid,
    /// Name of the entry if this crate knows the GUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// Offset of the entry's data in the image.
    pub data_offset: usize,
    /// The entry's data (without its length and GUID).
    #[serde(serialize_with = "crate::serde_hex::bytes")]
    pub data: Vec<u8>,
}

/// The parsed footer table: every entry, known or not, in the order QEMU
/// walks them (from the footer down to lower addresses).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FooterTable {
    /// Entries in walk order.
    pub entries: Vec<FooterEntry>,
}

impl FooterTable {
    /// The entry with this GUID, if present.
    pub fn get(&self, guid: &Guid) -> Option<&FooterEntry> {
        self.entries.iter().find(|e| &e.guid == guid)
    }

    /// The entry's data, if present.
    pub fn data(&self, guid: &Guid) -> Option<&[u8]> {
        self.get(guid).map(|e| e.data.as_slice())
    }

    /// Reads a little-endian `u32` at `at` in the data of entry `guid`;
    /// `None` when the entry is absent, an error when it is too short.
    pub fn read_u32(&self, guid: &Guid, at: usize, field: &'static str) -> Result<Option<u32>> {
        let Some(data) = self.data(guid) else { return Ok(None) };
        crate::bytes::le_u32(data, at, field, "footer entry").map(Some)
    }
}

/// Parses the footer table of a firmware image.
///
/// An image without the footer GUID gives [`Error::NoFooterTable`]. Every
/// entry is kept, including GUIDs this crate does not know. Entries whose
/// length is shorter than their own header or longer than what remains of
/// the table, and a GUID that appears twice (QEMU would use the first,
/// other tools the last, so the image is ambiguous), are errors.
pub fn parse_footer_table(image: &[u8]) -> Result<FooterTable> {
    let size = image.len();
    let footer_at = size.checked_sub(BYTES_AFTER_TABLE + ENTRY_HEADER_LEN).ok_or(Error::OutOfBounds {
        field: "footer table",
        offset: 0,
        len: (BYTES_AFTER_TABLE + ENTRY_HEADER_LEN) as u64,
        within: "image",
        size: size as u64,
    })?;
    let found = Guid::read(image.get(footer_at + 2..).unwrap_or_default()).unwrap_or(Guid::from_bytes([0; 16]));
    if found != FOOTER_GUID {
        return Err(Error::NoFooterTable { found });
    }
    let total = usize::from(crate::bytes::le_u16(image, footer_at, "footer table length", "image")?);
    let table_len = total.checked_sub(ENTRY_HEADER_LEN).ok_or(Error::FooterEntrySize {
        field: "footer table length",
        guid: FOOTER_GUID,
        len: total,
        min: ENTRY_HEADER_LEN,
        available: footer_at + ENTRY_HEADER_LEN,
    })?;
    let table_start = footer_at.checked_sub(table_len).ok_or(Error::OutOfBounds {
        field: "footer table length",
        offset: footer_at as u64,
        len: table_len as u64,
        within: "image (the table grows downwards from the footer)",
        size: size as u64,
    })?;

    let mut entries: Vec<FooterEntry> = Vec::new();
    // `end` is the offset just past the entry being read; it strictly
    // decreases each step (an entry is at least ENTRY_HEADER_LEN long), so
    // the walk ends after at most table_len / 18 steps.
    let mut end = footer_at;
    while end - table_start >= ENTRY_HEADER_LEN {
        let header_at = end - ENTRY_HEADER_LEN;
        let len = usize::from(crate::bytes::le_u16(image, header_at, "footer entry length", "image")?);
        let guid = Guid::read(image.get(header_at + 2..).unwrap_or_default()).ok_or(Error::OutOfBounds {
            field: "footer entry guid",
            offset: (header_at + 2) as u64,
            len: Guid::LEN as u64,
            within: "image",
            size: size as u64,
        })?;
        let available = end - table_start;
        if len < ENTRY_HEADER_LEN || len > available {
            return Err(Error::FooterEntrySize {
                field: "footer entry length",
                guid,
                len,
                min: ENTRY_HEADER_LEN,
                available,
            });
        }
        if entries.iter().any(|e| e.guid == guid) {
            return Err(Error::DuplicateFooterEntry { guid });
        }
        let data_offset = end - len;
        let data = image.get(data_offset..header_at).unwrap_or_default().to_vec();
        entries.push(FooterEntry { guid, name: known_name(&guid), data_offset, data });
        end = data_offset;
    }
    Ok(FooterTable { entries })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an image of `size` bytes whose footer table holds `entries`
    /// (listed top-down, as they are walked).
    pub(crate) fn image_with(size: usize, entries: &[(Guid, Vec<u8>)]) -> Vec<u8> {
        let mut table = Vec::new();
        for (guid, data) in entries.iter().rev() {
            table.extend_from_slice(data);
            table.extend_from_slice(&((data.len() + ENTRY_HEADER_LEN) as u16).to_le_bytes());
            table.extend_from_slice(guid.as_bytes());
        }
        table.extend_from_slice(&((table.len() + ENTRY_HEADER_LEN) as u16).to_le_bytes());
        table.extend_from_slice(FOOTER_GUID.as_bytes());
        let mut image = vec![0u8; size];
        let start = size - BYTES_AFTER_TABLE - table.len();
        image[start..start + table.len()].copy_from_slice(&table);
        image
    }

    #[test]
    fn walks_entries_top_down_and_keeps_unknown() {
        let unknown = Guid::from_bytes([0xab; 16]);
        let image = image_with(
            4096,
            &[
                (SEV_ES_RESET_BLOCK_GUID, vec![4, 0xb0, 0x80, 0]),
                (unknown, vec![1, 2, 3]),
                (TDX_METADATA_OFFSET_GUID, vec![]),
            ],
        );
        let table = parse_footer_table(&image).unwrap();
        let guids: Vec<Guid> = table.entries.iter().map(|e| e.guid).collect();
        assert_eq!(guids, vec![SEV_ES_RESET_BLOCK_GUID, unknown, TDX_METADATA_OFFSET_GUID]);
        assert_eq!(table.data(&unknown), Some(&[1u8, 2, 3][..]));
        assert_eq!(table.get(&unknown).unwrap().name, None);
        assert_eq!(table.read_u32(&SEV_ES_RESET_BLOCK_GUID, 0, "reset eip").unwrap(), Some(0x80b004));
        assert_eq!(table.read_u32(&SEV_SECRET_BLOCK_GUID, 0, "gpa").unwrap(), None);
        assert!(matches!(
            table.read_u32(&TDX_METADATA_OFFSET_GUID, 0, "tdx offset"),
            Err(Error::OutOfBounds { field: "tdx offset", .. })
        ));
        let e = table.get(&SEV_ES_RESET_BLOCK_GUID).unwrap();
        assert_eq!(&image[e.data_offset..e.data_offset + 4], &[4, 0xb0, 0x80, 0]);
    }

    #[test]
    fn missing_footer_and_tiny_images() {
        assert!(matches!(parse_footer_table(&[0u8; 4096]), Err(Error::NoFooterTable { .. })));
        assert!(matches!(parse_footer_table(&[0u8; 49]), Err(Error::OutOfBounds { field: "footer table", .. })));
        assert!(matches!(parse_footer_table(&[]), Err(Error::OutOfBounds { .. })));
        // Exactly the footer and the reset vector: an empty table.
        let image = image_with(50, &[]);
        assert_eq!(parse_footer_table(&image).unwrap().entries, vec![]);
    }

    #[test]
    fn hostile_lengths() {
        let good = image_with(256, &[(SEV_ES_RESET_BLOCK_GUID, vec![0; 4])]);
        let footer_at = 256 - BYTES_AFTER_TABLE - ENTRY_HEADER_LEN;
        let entry_len_at = footer_at - ENTRY_HEADER_LEN;

        // Table length past the start of the image.
        let mut img = good.clone();
        img[footer_at..footer_at + 2].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(parse_footer_table(&img), Err(Error::OutOfBounds { field: "footer table length", .. })));

        // Table length shorter than the footer entry itself.
        img = good.clone();
        img[footer_at..footer_at + 2].copy_from_slice(&3u16.to_le_bytes());
        assert!(matches!(parse_footer_table(&img), Err(Error::FooterEntrySize { field: "footer table length", .. })));

        // An entry of length 0 would make a naive walk loop forever.
        img = good.clone();
        img[entry_len_at..entry_len_at + 2].copy_from_slice(&0u16.to_le_bytes());
        assert!(matches!(parse_footer_table(&img), Err(Error::FooterEntrySize { len: 0, .. })));

        // An entry longer than the table.
        img = good;
        img[entry_len_at..entry_len_at + 2].copy_from_slice(&23u16.to_le_bytes());
        assert!(matches!(parse_footer_table(&img), Err(Error::FooterEntrySize { len: 23, available: 22, .. })));
    }

    #[test]
    fn duplicate_guid_is_refused() {
        let img = image_with(256, &[(SEV_ES_RESET_BLOCK_GUID, vec![1; 4]), (SEV_ES_RESET_BLOCK_GUID, vec![2; 4])]);
        assert!(matches!(
            parse_footer_table(&img),
            Err(Error::DuplicateFooterEntry { guid }) if guid == SEV_ES_RESET_BLOCK_GUID
        ));
    }
}
