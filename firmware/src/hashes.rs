//! The SEV kernel hashes table, laid out exactly as QEMU writes it.
//!
//! Layout (QEMU `target/i386/sev.c`, `SevHashTable` / `PaddedSevHashTable`;
//! read by OVMF `OvmfPkg/AmdSev/BlobVerifierLibSevHashes`), all packed,
//! little-endian, GUIDs in EFI byte order:
//!
//! ```text
//! header GUID 9438d606-4f22-4cc9-b479-a793d411fd21 | u16 length = 168
//! { GUID | u16 length = 50 | SHA-256 } for cmdline, initrd, kernel (in that order)
//! zero padding to a multiple of 16 bytes (176 bytes in all)
//! ```
//!
//! The kernel hash covers the whole kernel file, the initrd hash the whole
//! initrd (the hash of no bytes when there is none), the command-line hash
//! the command line's bytes plus one NUL (a lone NUL when there is none).

use sha2::{Digest, Sha256};

use crate::bytes::{le_u16, slice};
use crate::{Error, Guid, Result};

/// Header GUID of the table.
pub const TABLE_HEADER_GUID: Guid =
    Guid::from_fields(0x9438_d606, 0x4f22, 0x4cc9, [0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21]);
/// GUID of the kernel entry.
pub const KERNEL_ENTRY_GUID: Guid =
    Guid::from_fields(0x4de7_9437, 0xabd2, 0x427f, [0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b]);
/// GUID of the initrd entry.
pub const INITRD_ENTRY_GUID: Guid =
    Guid::from_fields(0x44ba_f731, 0x3a2f, 0x4bd7, [0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d]);
/// GUID of the command-line entry.
pub const CMDLINE_ENTRY_GUID: Guid =
    Guid::from_fields(0x97d0_2dd8, 0xbd20, 0x4c94, [0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a]);

/// Length of one entry: GUID, `u16` length, SHA-256.
pub const ENTRY_LEN: usize = Guid::LEN + 2 + 32;
/// Length of the table without padding (the value of its length field).
pub const TABLE_LEN: usize = Guid::LEN + 2 + 3 * ENTRY_LEN;
/// Length of the table as QEMU writes and measures it (padded to 16).
pub const PADDED_TABLE_LEN: usize = TABLE_LEN.div_ceil(16) * 16;
/// Size of the page holding the table.
pub const PAGE_LEN: usize = 4096;

/// The three SHA-256 digests the table carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SevHashes {
    /// SHA-256 of the kernel file.
    pub kernel: [u8; 32],
    /// SHA-256 of the initrd file (of no bytes when there is none).
    pub initrd: [u8; 32],
    /// SHA-256 of the command line plus one NUL.
    pub cmdline: [u8; 32],
}

impl SevHashes {
    /// Hashes the launch inputs as QEMU does. `cmdline` is the command
    /// line's bytes as passed to QEMU's `-append` (UTF-8), without a NUL;
    /// `None` and `Some(b"")` both hash a single NUL.
    pub fn new(kernel: &[u8], initrd: Option<&[u8]>, cmdline: Option<&[u8]>) -> Self {
        Self::from_digests(Sha256::digest(kernel).into(), initrd.map(|i| Sha256::digest(i).into()), cmdline)
    }

    /// [`SevHashes::new`] for a caller that hashed the kernel and initrd
    /// files itself (in pieces, or while doing other work): their SHA-256
    /// digests, `None` for no initrd. The command line is hashed here.
    pub fn from_digests(kernel: [u8; 32], initrd: Option<[u8; 32]>, cmdline: Option<&[u8]>) -> Self {
        let mut c = Sha256::new();
        c.update(cmdline.unwrap_or_default());
        c.update([0u8]);
        Self { kernel, initrd: initrd.unwrap_or_else(|| Sha256::digest([]).into()), cmdline: c.finalize().into() }
    }

    /// The padded table (176 bytes).
    pub fn table(&self) -> [u8; PADDED_TABLE_LEN] {
        let mut out = [0u8; PADDED_TABLE_LEN];
        out[..16].copy_from_slice(TABLE_HEADER_GUID.as_bytes());
        out[16..18].copy_from_slice(&(TABLE_LEN as u16).to_le_bytes());
        let entries =
            [(CMDLINE_ENTRY_GUID, &self.cmdline), (INITRD_ENTRY_GUID, &self.initrd), (KERNEL_ENTRY_GUID, &self.kernel)];
        for (i, (guid, hash)) in entries.into_iter().enumerate() {
            let at = 18 + i * ENTRY_LEN;
            out[at..at + 16].copy_from_slice(guid.as_bytes());
            out[at + 16..at + 18].copy_from_slice(&(ENTRY_LEN as u16).to_le_bytes());
            out[at + 18..at + ENTRY_LEN].copy_from_slice(hash);
        }
        out
    }

    /// The 4 KiB page holding the table at `offset_in_page`, zeros elsewhere.
    pub fn page(&self, offset_in_page: usize) -> Result<Box<[u8; PAGE_LEN]>> {
        let end =
            offset_in_page.checked_add(PADDED_TABLE_LEN).filter(|&e| e <= PAGE_LEN).ok_or(Error::OutOfBounds {
                field: "SEV hashes table GPA (offset in page)",
                offset: offset_in_page as u64,
                len: PADDED_TABLE_LEN as u64,
                within: "page",
                size: PAGE_LEN as u64,
            })?;
        let mut page = Box::new([0u8; PAGE_LEN]);
        page[offset_in_page..end].copy_from_slice(&self.table());
        Ok(page)
    }
}

/// Parses a hashes table as QEMU writes it (header and the three entries
/// in QEMU's order; trailing padding is ignored).
pub fn parse_sev_hashes_table(bytes: &[u8]) -> Result<SevHashes> {
    let within = "SEV hashes table";
    let header = Guid::read(slice(bytes, 0, 16, "SEV hashes table GUID", within)?).unwrap_or(Guid::from_bytes([0; 16]));
    if header != TABLE_HEADER_GUID {
        return Err(Error::BadSignature {
            field: "SEV hashes table GUID",
            expected: "9438d606-4f22-4cc9-b479-a793d411fd21",
            found: header.as_bytes().to_vec(),
        });
    }
    let len = usize::from(le_u16(bytes, 16, "SEV hashes table length", within)?);
    if len != TABLE_LEN {
        return Err(Error::UnexpectedLength { field: "SEV hashes table length", expected: TABLE_LEN, found: len });
    }
    let mut hashes = [[0u8; 32]; 3];
    let names = [
        (CMDLINE_ENTRY_GUID, "SEV hashes table cmdline entry", "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"),
        (INITRD_ENTRY_GUID, "SEV hashes table initrd entry", "44baf731-3a2f-4bd7-9af1-41e29169781d"),
        (KERNEL_ENTRY_GUID, "SEV hashes table kernel entry", "4de79437-abd2-427f-b835-d5b172d2045b"),
    ];
    for (i, (guid, field, text)) in names.into_iter().enumerate() {
        let entry = slice(bytes, 18 + i * ENTRY_LEN, ENTRY_LEN, field, within)?;
        let found = Guid::read(entry).unwrap_or(Guid::from_bytes([0; 16]));
        if found != guid {
            return Err(Error::BadSignature { field, expected: text, found: found.as_bytes().to_vec() });
        }
        let entry_len = usize::from(le_u16(entry, 16, field, within)?);
        if entry_len != ENTRY_LEN {
            return Err(Error::UnexpectedLength { field, expected: ENTRY_LEN, found: entry_len });
        }
        hashes[i].copy_from_slice(entry.get(18..ENTRY_LEN).unwrap_or(&[0; 32]));
    }
    let [cmdline, initrd, kernel] = hashes;
    Ok(SevHashes { kernel, initrd, cmdline })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!((ENTRY_LEN, TABLE_LEN, PADDED_TABLE_LEN), (50, 168, 176));
    }

    #[test]
    fn absent_inputs_hash_like_empty_ones() {
        let a = SevHashes::new(b"k", None, None);
        let b = SevHashes::new(b"k", Some(b""), Some(b""));
        assert_eq!(a, b);
        assert_eq!(hex::encode(a.initrd), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(a.cmdline), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    #[test]
    fn round_trip_and_page() {
        let h = SevHashes::new(b"kernel", Some(b"initrd"), Some(b"console=ttyS0 "));
        let table = h.table();
        assert_eq!(parse_sev_hashes_table(&table).unwrap(), h);
        assert!(table[TABLE_LEN..].iter().all(|&b| b == 0));
        let page = h.page(0xc00).unwrap();
        assert_eq!(&page[0xc00..0xc00 + PADDED_TABLE_LEN], &table[..]);
        assert!(page[..0xc00].iter().chain(&page[0xc00 + PADDED_TABLE_LEN..]).all(|&b| b == 0));
        assert!(h.page(PAGE_LEN - PADDED_TABLE_LEN).is_ok());
        assert!(matches!(h.page(PAGE_LEN - PADDED_TABLE_LEN + 1), Err(Error::OutOfBounds { .. })));
        assert!(matches!(h.page(usize::MAX), Err(Error::OutOfBounds { .. })));
    }

    #[test]
    fn parse_rejects_damaged_tables() {
        let table = SevHashes::new(b"k", None, None).table();
        let mut t = table;
        t[0] ^= 1;
        assert!(matches!(parse_sev_hashes_table(&t), Err(Error::BadSignature { field: "SEV hashes table GUID", .. })));
        t = table;
        t[16] = 167;
        assert!(matches!(parse_sev_hashes_table(&t), Err(Error::UnexpectedLength { found: 167, .. })));
        t = table;
        t[18 + ENTRY_LEN] ^= 1;
        assert!(matches!(
            parse_sev_hashes_table(&t),
            Err(Error::BadSignature { field: "SEV hashes table initrd entry", .. })
        ));
        t = table;
        t[18 + 2 * ENTRY_LEN + 16] = 49;
        assert!(matches!(parse_sev_hashes_table(&t), Err(Error::UnexpectedLength { expected: 50, found: 49, .. })));
        assert!(matches!(parse_sev_hashes_table(&table[..100]), Err(Error::OutOfBounds { .. })));
    }
}
