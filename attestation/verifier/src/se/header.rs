//! The Secure Execution image header (boot request control block).
//!
//! `genprotimg`/`pvimg` place this header in every SE boot image. The
//! attestation measurement covers four of its values, the boot-header tags:
//! page-list digest (PLD), address-list digest (ALD), tweak-list digest
//! (TLD), all SHA-512, and the 16-byte AES-GCM tag of the header. Everything
//! else in the header is encrypted for the host keys and not needed here.
//!
//! Layout (big-endian; s390-tools `pv` crate, `BootHdrHead`, 0x1a0 bytes):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0x000 | 8 | magic `IBMSecEx` |
//! | 0x008 | 4 | version, 0x100 |
//! | 0x00c | 4 | size of the whole header |
//! | 0x010 | 12 | IV, then 4 reserved |
//! | 0x020 | 8 | number of key slots (NKS) |
//! | 0x028 | 8 | size of the encrypted area (SEA) |
//! | 0x030 | 8 | number of encrypted pages (NEP) |
//! | 0x038 | 8 | plaintext control flags (PCF) |
//! | 0x040 | 160 | customer ECDH public key (P-521 x‖y, 80 bytes each) |
//! | 0x0e0 | 64 | PLD |
//! | 0x120 | 64 | ALD |
//! | 0x160 | 64 | TLD |
//! | 0x1a0 | NKS × 80 | key slots: host-key hash (32), wrapped key (32), tag (16) |
//! | … | SEA | encrypted area |
//! | size − 16 | 16 | header tag |
//!
//! In an image the header starts at a page boundary: the one named by the
//! `SeImgLnx` image metadata at 0xc000 when present, else the first page
//! start (up to 0x14000) that begins with the magic.

use serde::Serialize;

use super::bytes::{array, be_u32, be_u64, slice, to_usize};
use crate::{Error, Result};

const WHAT: &str = "SE image header";
/// Magic value at the start of the header: ASCII `IBMSecEx`.
pub const HEADER_MAGIC: [u8; 8] = *b"IBMSecEx";
/// The only header version defined.
pub const HEADER_VERSION_1: u32 = 0x100;
/// Size of the fixed head of the header, up to the key slots.
pub const HEADER_HEAD_SIZE: usize = 0x1a0;
/// Size of one header key slot.
const KEY_SLOT_SIZE: usize = 80;
/// Size of the header tag.
pub const TAG_SIZE: usize = 16;
/// Size of each of PLD, ALD and TLD.
pub const DIGEST_SIZE: usize = 64;
/// Largest header accepted.
pub const MAX_HEADER_SIZE: usize = 1 << 20;
/// Page size of s390x.
const PAGE_SIZE: usize = 0x1000;
/// Pages searched for the header when the image has no metadata.
const SEARCH_PAGES: usize = 0x15;
/// Offset of the `SeImgLnx` image metadata in an SE boot image.
const IMAGE_METADATA_OFFSET: usize = 0xc000;
const IMAGE_METADATA_MAGIC: [u8; 8] = *b"SeImgLnx";

/// The values of an SE header that the attestation measurement covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderTags {
    /// Page-list digest (SHA-512).
    pub pld: [u8; DIGEST_SIZE],
    /// Address-list digest (SHA-512).
    pub ald: [u8; DIGEST_SIZE],
    /// Tweak-list digest (SHA-512).
    pub tld: [u8; DIGEST_SIZE],
    /// Header AES-GCM tag.
    pub tag: [u8; TAG_SIZE],
}

impl HeaderTags {
    /// Size of the serialised tags: PLD ‖ ALD ‖ TLD ‖ tag.
    pub const SIZE: usize = 3 * DIGEST_SIZE + TAG_SIZE;

    /// The serialised form PLD ‖ ALD ‖ TLD ‖ tag (208 bytes), as the
    /// measurement and trustee's `image_hdr_tags` carry it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::SIZE);
        out.extend_from_slice(&self.pld);
        out.extend_from_slice(&self.ald);
        out.extend_from_slice(&self.tld);
        out.extend_from_slice(&self.tag);
        out
    }

    /// Parse the serialised form (exactly 208 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT_TAGS: &str = "SE header tags";
        if bytes.len() != Self::SIZE {
            return Err(Error::malformed(
                WHAT_TAGS,
                0,
                format!("expected {} bytes (PLD, ALD, TLD, tag), found {}", Self::SIZE, bytes.len()),
            ));
        }
        Ok(HeaderTags {
            pld: array(bytes, 0, WHAT_TAGS)?,
            ald: array(bytes, DIGEST_SIZE, WHAT_TAGS)?,
            tld: array(bytes, 2 * DIGEST_SIZE, WHAT_TAGS)?,
            tag: array(bytes, 3 * DIGEST_SIZE, WHAT_TAGS)?,
        })
    }
}

/// A parsed SE image header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeHeader {
    /// Header version (0x100).
    pub version: u32,
    /// Size of the whole header in bytes.
    pub size: usize,
    /// Number of host-key slots.
    pub key_slots: u64,
    /// Size of the encrypted area.
    pub encrypted_size: u64,
    /// Number of encrypted pages of the image.
    pub encrypted_pages: u64,
    /// Plaintext control flags.
    pub control_flags: u64,
    /// Public host-key hash of each key slot: the host keys the image was
    /// built for (SHA-256 of the padded P-521 coordinates).
    #[serde(skip)]
    pub key_slot_hashes: Vec<[u8; 32]>,
    /// Boot-header tags.
    #[serde(skip)]
    pub tags: HeaderTags,
}

/// Parse an SE header that starts at the first byte of `bytes`.
///
/// `bytes` may extend past the header (e.g. the rest of the image); the
/// header's own size field says where it ends.
pub fn parse_header(bytes: &[u8]) -> Result<SeHeader> {
    let magic = slice(bytes, 0, 8, WHAT)?;
    if magic != HEADER_MAGIC {
        return Err(Error::malformed(WHAT, 0, format!("expected magic \"IBMSecEx\", found {}", hex::encode(magic))));
    }
    let version = be_u32(bytes, 0x08, WHAT)?;
    if version != HEADER_VERSION_1 {
        return Err(Error::Unsupported { what: "SE header version", found: format!("{version:#x}") });
    }
    let size = be_u32(bytes, 0x0c, WHAT)? as usize;
    if size > MAX_HEADER_SIZE {
        return Err(Error::TooLarge { what: "SE image header", found: size, limit: MAX_HEADER_SIZE });
    }
    let key_slots = be_u64(bytes, 0x20, WHAT)?;
    let encrypted_size = be_u64(bytes, 0x28, WHAT)?;
    let encrypted_pages = be_u64(bytes, 0x30, WHAT)?;
    let control_flags = be_u64(bytes, 0x38, WHAT)?;
    if key_slots == 0 {
        return Err(Error::malformed(WHAT, 0x20, "no key slots"));
    }
    // head + key slots + encrypted area + tag must fit in the declared size.
    let needed = to_usize(key_slots, WHAT, 0x20)?
        .checked_mul(KEY_SLOT_SIZE)
        .and_then(|n| n.checked_add(to_usize(encrypted_size, WHAT, 0x28).ok()?))
        .and_then(|n| n.checked_add(HEADER_HEAD_SIZE + TAG_SIZE));
    match needed {
        Some(n) if n <= size => {}
        _ => {
            return Err(Error::malformed(
                WHAT,
                0x0c,
                format!(
                    "declared size {size:#x} is smaller than head 0x1a0 + {key_slots} key slot(s) × 80 + \
                     encrypted area {encrypted_size:#x} + tag 16"
                ),
            ))
        }
    }
    if bytes.len() < size {
        return Err(Error::malformed(
            WHAT,
            bytes.len(),
            format!("header declares {size} bytes, only {} present", bytes.len()),
        ));
    }
    let tags = HeaderTags {
        pld: array(bytes, 0x0e0, WHAT)?,
        ald: array(bytes, 0x120, WHAT)?,
        tld: array(bytes, 0x160, WHAT)?,
        tag: array(bytes, size - TAG_SIZE, WHAT)?,
    };
    // Key slots: host-key hash (32), wrapped image key (32), tag (16); all in
    // bounds, as head + slots fit in `size` ≤ the input length.
    let slots = to_usize(key_slots, WHAT, 0x20)?;
    let key_slot_hashes = (0..slots)
        .map(|i| array::<32>(bytes, HEADER_HEAD_SIZE + i * KEY_SLOT_SIZE, WHAT))
        .collect::<Result<Vec<_>>>()?;
    Ok(SeHeader { version, size, key_slots, encrypted_size, encrypted_pages, control_flags, key_slot_hashes, tags })
}

/// Locate and parse the SE header in an image (or a bare header).
///
/// Returns the offset of the header and the header. The header is looked
/// for where the boot loader looks: at the offset given by the `SeImgLnx`
/// image metadata at 0xc000 if the image has it, otherwise at the first
/// page start (0, 0x1000, …, 0x14000) that begins with the header magic.
pub fn find_header(image: &[u8]) -> Result<(usize, SeHeader)> {
    if let Some(offset) = metadata_header_offset(image)? {
        return parse_header(image.get(offset..).unwrap_or_default()).map(|h| (offset, h));
    }
    for page in 0..SEARCH_PAGES {
        let offset = page * PAGE_SIZE;
        match image.get(offset..offset + HEADER_MAGIC.len()) {
            Some(m) if m == HEADER_MAGIC => {
                return parse_header(image.get(offset..).unwrap_or_default()).map(|h| (offset, h));
            }
            Some(_) => {}
            None => break,
        }
    }
    Err(Error::malformed(
        "SE image",
        0,
        format!("no Secure Execution header magic at any page start up to {:#x}", (SEARCH_PAGES - 1) * PAGE_SIZE),
    ))
}

/// The header offset named by the image metadata (magic `SeImgLnx` (8),
/// header offset (8), version (4), IPIB offset (8)), if the image has one.
fn metadata_header_offset(image: &[u8]) -> Result<Option<usize>> {
    const WHAT_META: &str = "SE image metadata";
    match image.get(IMAGE_METADATA_OFFSET..IMAGE_METADATA_OFFSET + 8) {
        Some(m) if m == IMAGE_METADATA_MAGIC => {
            let offset = be_u64(image, IMAGE_METADATA_OFFSET + 8, WHAT_META)?;
            to_usize(offset, WHAT_META, IMAGE_METADATA_OFFSET + 8).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read_vector;

    const HDR: &str = "attestation/se/s390tools-secure-guest-v1.hdr";
    const PLD: &str = "be94b5eab3c1b118c757d7db7ea0f65d9b64823a8dc55bf8a8725b58072d9d4258c53e8a5da82dfb2192d91d07bc1c39b95d6321d3ba16a751a6e3e32f3e0161";
    const ALD: &str = "2858c3368b2a0af0c5ea0fde7905eb15af9cd1dd737165933cdaa2b850b6a8e2f0f42c7b36dd5381096288dc092daa8a6facec2534137bc94ca80bda4fcb9328";
    const TLD: &str = "4860ebcf7b9d24eb909a795356ad32c936b62165988a9ffcd66170dbc590c23010d7952fa882d1bb79558f9be0a549d8d7a94ae720e5c0760a825d479fe67af5";
    const TAG: &str = "92309d4589b9a85b427f8753171d1520";

    fn assert_expected_tags(tags: &HeaderTags) {
        assert_eq!(hex::encode(tags.pld), PLD);
        assert_eq!(hex::encode(tags.ald), ALD);
        assert_eq!(hex::encode(tags.tld), TLD);
        assert_eq!(hex::encode(tags.tag), TAG);
    }

    #[test]
    fn header_vector_has_upstream_tags() {
        let bytes = read_vector(HDR);
        assert_eq!(bytes.len(), 640);
        let hdr = parse_header(&bytes).unwrap();
        assert_eq!(hdr.version, 0x100);
        assert_eq!(hdr.size, 640);
        assert_eq!(hdr.key_slots, 1);
        assert_eq!(hdr.encrypted_size, 0x80);
        assert_eq!(hdr.key_slot_hashes, vec![<[u8; 32]>::try_from(&bytes[0x1a0..0x1c0]).unwrap()]);
        assert_expected_tags(&hdr.tags);
        let (offset, found) = find_header(&bytes).unwrap();
        assert_eq!(offset, 0);
        assert_eq!(found, hdr);
        let serialised = hdr.tags.to_bytes();
        assert_eq!(serialised.len(), HeaderTags::SIZE);
        assert_eq!(HeaderTags::from_bytes(&serialised).unwrap(), hdr.tags);
        assert!(HeaderTags::from_bytes(&serialised[1..]).is_err());
    }

    #[test]
    fn header_is_found_at_page_0x12000_of_an_image() {
        let bytes = read_vector(HDR);
        let mut image = vec![0u8; 0x13000];
        image[0x12000..0x12000 + bytes.len()].copy_from_slice(&bytes);
        let (offset, hdr) = find_header(&image).unwrap();
        assert_eq!(offset, 0x12000);
        assert_expected_tags(&hdr.tags);
    }

    #[test]
    fn header_found_through_image_metadata() {
        let bytes = read_vector(HDR);
        let mut image = vec![0u8; 0x17000];
        image[0xc000..0xc008].copy_from_slice(b"SeImgLnx");
        image[0xc008..0xc010].copy_from_slice(&0x16000u64.to_be_bytes());
        image[0xc010..0xc014].copy_from_slice(&1u32.to_be_bytes());
        image[0x16000..0x16000 + bytes.len()].copy_from_slice(&bytes);
        let (offset, hdr) = find_header(&image).unwrap();
        assert_eq!(offset, 0x16000);
        assert_expected_tags(&hdr.tags);
    }

    #[test]
    fn header_rejected_at_unaligned_offset_truncated_or_with_bad_magic() {
        let bytes = read_vector(HDR);
        // Not at a page boundary.
        let mut image = vec![0u8; 0x1000];
        image[8..8 + bytes.len()].copy_from_slice(&bytes);
        assert!(matches!(find_header(&image), Err(Error::Malformed { what: "SE image", .. })));
        // First byte cut off (magic broken).
        assert!(matches!(find_header(&bytes[1..]), Err(Error::Malformed { .. })));
        // Last byte cut off (tag incomplete).
        let err = parse_header(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(matches!(err, Error::Malformed { what: WHAT, offset: 639, .. }), "{err}");
        // First two bytes swapped.
        let mut swapped = bytes.clone();
        swapped.swap(0, 1);
        assert!(matches!(parse_header(&swapped), Err(Error::Malformed { what: WHAT, offset: 0, .. })));
        assert!(find_header(&swapped).is_err());
    }

    #[test]
    fn header_version_and_size_fields_are_checked() {
        let bytes = read_vector(HDR);
        let mut v2 = bytes.clone();
        v2[0x0a] = 2;
        assert!(matches!(parse_header(&v2), Err(Error::Unsupported { what: "SE header version", .. })));
        let mut small = bytes.clone();
        small[0x0c..0x10].copy_from_slice(&0x200u32.to_be_bytes());
        assert!(matches!(parse_header(&small), Err(Error::Malformed { offset: 0x0c, .. })));
        let mut many_slots = bytes.clone();
        many_slots[0x20..0x28].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(parse_header(&many_slots), Err(Error::Malformed { offset: 0x0c, .. })));
    }
}
