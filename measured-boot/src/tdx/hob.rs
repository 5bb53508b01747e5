//! The TD HOB QEMU hands to TDVF, the first event of RTMR\[0\].
//!
//! QEMU (`hw/i386/tdvf-hob.c`) writes a HOB list into the firmware's TD_HOB
//! section: a PHIT (handoff) HOB, one resource descriptor per guest RAM
//! range, an end-of-list HOB. The RAM ranges start as the q35 layout and
//! each TD_HOB and TEMP_MEM section range is carved out as memory the
//! firmware already has (`tdx_accept_ram_range`); the rest is unaccepted.
//! The list is sorted by address. TDVF measures the list up to, not
//! including, the end-of-list HOB.
//!
//! Structure layouts: UEFI Platform Initialization specification, volume 3,
//! `EFI_HOB_GENERIC_HEADER`, `EFI_HOB_HANDOFF_INFO_TABLE` (version 9) and
//! `EFI_HOB_RESOURCE_DESCRIPTOR`.

use arca_firmware::tdvf::{TdvfMetadata, TdvfSectionType};

use super::layout::RamLayout;
use crate::{Error, Result};

const HOB_TYPE_HANDOFF: u16 = 0x0001;
const HOB_TYPE_RESOURCE_DESCRIPTOR: u16 = 0x0003;
const HANDOFF_LEN: u16 = 56;
const RESOURCE_LEN: u16 = 48;
const END_LEN: u16 = 8;
const HANDOFF_TABLE_VERSION: u32 = 9;
/// `EFI_RESOURCE_SYSTEM_MEMORY`.
const RESOURCE_SYSTEM_MEMORY: u32 = 0;
/// `EFI_RESOURCE_MEMORY_UNACCEPTED`.
const RESOURCE_MEMORY_UNACCEPTED: u32 = 7;
/// PRESENT | INITIALIZED | TESTED: what QEMU sets for both kinds.
const RESOURCE_ATTRIBUTES: u32 = 0x7;

/// A guest RAM range as QEMU describes it to TDVF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamEntry {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// Added (and accepted) before launch: a TD_HOB or TEMP_MEM section.
    pub accepted: bool,
}

/// The RAM entries QEMU builds: the layout's ranges with the firmware's
/// TD_HOB and TEMP_MEM sections carved out, sorted by address.
pub fn ram_entries(metadata: &TdvfMetadata, ram: &RamLayout) -> Result<Vec<RamEntry>> {
    let mut entries: Vec<RamEntry> =
        ram.ranges().into_iter().map(|(start, length)| RamEntry { start, length, accepted: false }).collect();
    let carved = metadata
        .sections
        .iter()
        .filter(|s| matches!(s.section_type, TdvfSectionType::TdHob | TdvfSectionType::TempMem));
    for section in carved {
        let (start, end) = (section.memory_address, section.memory_end());
        if start == end {
            continue;
        }
        let outside = || Error::TdxLaunchParameter {
            field: "memory",
            expected: "enough RAM to hold every TD_HOB and TEMP_MEM section",
            found: format!("section at {start:#x}..{end:#x} outside guest RAM"),
        };
        let index = entries.iter().position(|e| start < e.start + e.length && e.start < end).ok_or_else(outside)?;
        let e = entries[index];
        if start < e.start || end > e.start + e.length {
            return Err(outside());
        }
        if e.accepted {
            continue;
        }
        entries[index] = RamEntry { start, length: end - start, accepted: true };
        if start > e.start {
            entries.push(RamEntry { start: e.start, length: start - e.start, accepted: false });
        }
        if end < e.start + e.length {
            entries.push(RamEntry { start: end, length: e.start + e.length - end, accepted: false });
        }
    }
    entries.sort_by_key(|e| e.start);
    Ok(entries)
}

/// The TD HOB bytes TDVF measures (the list without its end-of-list HOB).
pub fn td_hob(metadata: &TdvfMetadata, ram: &RamLayout) -> Result<Vec<u8>> {
    let section = metadata.section(TdvfSectionType::TdHob).ok_or(Error::TdxLaunchParameter {
        field: "firmware",
        expected: "a TDVF TD_HOB section (QEMU refuses firmware without one)",
        found: "none".into(),
    })?;
    let entries = ram_entries(metadata, ram)?;
    let total = usize::from(HANDOFF_LEN) + usize::from(RESOURCE_LEN) * entries.len() + usize::from(END_LEN);
    if total as u64 > section.memory_data_size {
        return Err(Error::TdxLaunchParameter {
            field: "firmware",
            expected: "a TD_HOB section large enough for the HOB list",
            found: format!("{:#x} bytes for a {total:#x}-byte list", section.memory_data_size),
        });
    }

    let mut hob = Vec::with_capacity(total);
    let header = |hob: &mut Vec<u8>, kind: u16, len: u16| {
        hob.extend_from_slice(&kind.to_le_bytes());
        hob.extend_from_slice(&len.to_le_bytes());
        hob.extend_from_slice(&0u32.to_le_bytes());
    };
    header(&mut hob, HOB_TYPE_HANDOFF, HANDOFF_LEN);
    hob.extend_from_slice(&HANDOFF_TABLE_VERSION.to_le_bytes());
    hob.extend_from_slice(&0u32.to_le_bytes()); // BootMode
    hob.extend_from_slice(&[0u8; 32]); // EfiMemoryTop/Bottom, EfiFreeMemoryTop/Bottom
    hob.extend_from_slice(&(section.memory_address + total as u64).to_le_bytes()); // EfiEndOfHobList
    for e in &entries {
        header(&mut hob, HOB_TYPE_RESOURCE_DESCRIPTOR, RESOURCE_LEN);
        hob.extend_from_slice(&[0u8; 16]); // Owner: zero GUID
        let kind = if e.accepted { RESOURCE_SYSTEM_MEMORY } else { RESOURCE_MEMORY_UNACCEPTED };
        hob.extend_from_slice(&kind.to_le_bytes());
        hob.extend_from_slice(&RESOURCE_ATTRIBUTES.to_le_bytes());
        hob.extend_from_slice(&e.start.to_le_bytes());
        hob.extend_from_slice(&e.length.to_le_bytes());
    }
    // The end-of-list HOB QEMU writes next (type 0xffff, length 8) is not
    // part of the measured bytes.
    debug_assert_eq!(hob.len() + usize::from(END_LEN), total);
    Ok(hob)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_firmware::tdvf::TdvfSection;

    fn sec(section_type: TdvfSectionType, addr: u64, size: u64) -> TdvfSection {
        TdvfSection {
            data_offset: 0,
            raw_data_size: 0,
            memory_address: addr,
            memory_data_size: size,
            section_type,
            attributes: 0,
        }
    }

    fn edk2_like() -> TdvfMetadata {
        TdvfMetadata {
            descriptor_offset_from_end: 0,
            length: 0,
            version: 1,
            sections: vec![
                sec(TdvfSectionType::Bfv, 0xffc8_4000, 0x37_c000),
                sec(TdvfSectionType::TempMem, 0x81_0000, 0x1_0000),
                sec(TdvfSectionType::TempMem, 0x80_b000, 0x2000),
                sec(TdvfSectionType::TdHob, 0x80_9000, 0x2000),
                sec(TdvfSectionType::TempMem, 0x80_0000, 0x6000),
            ],
        }
    }

    #[test]
    fn carves_sections_and_sorts() {
        let ram = RamLayout::q35(4 << 30).unwrap();
        let e = ram_entries(&edk2_like(), &ram).unwrap();
        let got: Vec<(u64, u64, bool)> = e.iter().map(|e| (e.start, e.start + e.length, e.accepted)).collect();
        assert_eq!(
            got,
            vec![
                (0, 0x80_0000, false),
                (0x80_0000, 0x80_6000, true),
                (0x80_6000, 0x80_9000, false),
                (0x80_9000, 0x80_b000, true),
                (0x80_b000, 0x80_d000, true),
                (0x80_d000, 0x81_0000, false),
                (0x81_0000, 0x82_0000, true),
                (0x82_0000, 0x8000_0000, false),
                (1 << 32, 6 << 30, false),
            ]
        );
    }

    #[test]
    fn hob_layout() {
        let ram = RamLayout::q35(1 << 30).unwrap();
        let hob = td_hob(&edk2_like(), &ram).unwrap();
        let n = ram_entries(&edk2_like(), &ram).unwrap().len();
        assert_eq!(hob.len(), 56 + 48 * n);
        assert_eq!(&hob[..4], &[1, 0, 56, 0]);
        let end = u64::from_le_bytes(hob[48..56].try_into().unwrap());
        assert_eq!(end, 0x80_9000 + hob.len() as u64 + 8);
        assert_eq!(&hob[56..60], &[3, 0, 48, 0]);
    }

    #[test]
    fn sections_outside_ram_and_missing_td_hob() {
        let ram = RamLayout::q35(0x80_4000).unwrap();
        assert!(matches!(td_hob(&edk2_like(), &ram), Err(Error::TdxLaunchParameter { field: "memory", .. })));
        let mut md = edk2_like();
        md.sections.retain(|s| s.section_type != TdvfSectionType::TdHob);
        let ram = RamLayout::q35(1 << 30).unwrap();
        assert!(matches!(td_hob(&md, &ram), Err(Error::TdxLaunchParameter { field: "firmware", .. })));
        let mut md = edk2_like();
        md.sections[3].memory_data_size = 0x40;
        assert!(matches!(td_hob(&md, &ram), Err(Error::TdxLaunchParameter { field: "firmware", .. })));
    }
}
