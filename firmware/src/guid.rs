//! EFI GUIDs as they are stored in firmware images.
//!
//! UEFI (UEFI Specification 2.10, appendix A, "EFI_GUID") stores a GUID as
//! a little-endian `u32`, two little-endian `u16`s and eight bytes; the
//! textual form prints the first three fields as big-endian numbers. The
//! same 16 bytes are thus shown differently from how they sit in the image,
//! and mixing the two orders is the classic bug when matching GUIDs in
//! OVMF tables. [`Guid`] keeps the on-disk bytes and converts only when
//! printing or parsing text.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// A GUID in its on-disk (EFI, mixed-endian) byte order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid([u8; 16]);

impl Guid {
    /// Length of a GUID in bytes.
    pub const LEN: usize = 16;

    /// A GUID from its 16 on-disk bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A GUID from the fields of its textual form
    /// `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Self([a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5], d4[6], d4[7]])
    }

    /// The 16 on-disk bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads a GUID from the first 16 bytes of `bytes`, if there are that many.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        let head: [u8; 16] = bytes.get(..Self::LEN)?.try_into().ok()?;
        Some(Self(head))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = Error;

    /// Parses the textual form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
    /// (either case, optionally in braces).
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::InvalidGuid { text: s.chars().take(64).collect() };
        let inner = s.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(s);
        let groups: Vec<&str> = inner.split('-').collect();
        let lens = [8usize, 4, 4, 4, 12];
        if groups.len() != lens.len() || groups.iter().zip(lens).any(|(g, n)| g.len() != n) {
            return Err(invalid());
        }
        let mut text = [0u8; 16];
        hex::decode_to_slice(groups.concat(), &mut text).map_err(|_| invalid())?;
        // Text order: d1 (BE), d2 (BE), d3 (BE), d4. On disk d1..d3 are LE.
        let mut disk = text;
        disk[..4].reverse();
        disk[4..6].reverse();
        disk[6..8].reverse();
        Ok(Self(disk))
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_disk_order() {
        // OVMF table footer GUID: 96b582de-1fb2-45f7-baea-a366c55a082d.
        let g: Guid = "96b582de-1fb2-45f7-baea-a366c55a082d".parse().unwrap();
        assert_eq!(
            g.as_bytes(),
            &[0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d]
        );
        assert_eq!(g.to_string(), "96b582de-1fb2-45f7-baea-a366c55a082d");
        assert_eq!(g, Guid::from_fields(0x96b5_82de, 0x1fb2, 0x45f7, [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d]));
        assert_eq!("{96B582DE-1FB2-45F7-BAEA-A366C55A082D}".parse::<Guid>().unwrap(), g);
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "96b582de1fb245f7baeaa366c55a082d",
            "96b582de-1fb2-45f7-baea-a366c55a082",
            "zzb582de-1fb2-45f7-baea-a366c55a082d",
        ] {
            assert!(matches!(bad.parse::<Guid>(), Err(Error::InvalidGuid { .. })), "{bad}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let g = Guid::from_bytes([7; 16]);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, "\"07070707-0707-0707-0707-070707070707\"");
        assert_eq!(serde_json::from_str::<Guid>(&json).unwrap(), g);
    }
}
