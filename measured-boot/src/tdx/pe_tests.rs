//! PE/COFF parsing and Authenticode ranges on synthetic and hostile images.

use super::*;

/// A PE32+ image: DOS header, PE header at 0x40, 6 data directories,
/// sections `(file offset, size)`, `SizeOfHeaders` 0x400, and a certificate
/// table of `cert` bytes appended at the end.
fn pe(sections: &[(u32, u32)], tail: usize, cert: u32) -> Vec<u8> {
    let data_end = sections.iter().map(|(o, s)| (o + s) as usize).max().unwrap_or(0x400).max(0x400);
    let size = data_end + tail + cert as usize;
    let mut b: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    b[0..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    b[coff + 2..coff + 4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    let opt_size: u16 = 112 + 6 * 8;
    b[coff + 16..coff + 18].copy_from_slice(&opt_size.to_le_bytes());
    let opt = coff + 20;
    b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    b[opt + 60..opt + 64].copy_from_slice(&0x400u32.to_le_bytes());
    b[opt + 108..opt + 112].copy_from_slice(&6u32.to_le_bytes());
    let sec_dir = opt + 112 + 32;
    let cert_at = if cert == 0 { 0 } else { (data_end + tail) as u32 };
    b[sec_dir..sec_dir + 4].copy_from_slice(&cert_at.to_le_bytes());
    b[sec_dir + 4..sec_dir + 8].copy_from_slice(&cert.to_le_bytes());
    let table = opt + opt_size as usize;
    for (i, (off, len)) in sections.iter().enumerate() {
        let at = table + 40 * i;
        b[at + 16..at + 20].copy_from_slice(&len.to_le_bytes());
        b[at + 20..at + 24].copy_from_slice(&off.to_le_bytes());
    }
    b
}

fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    let mut h = Sha384::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

const OPT: usize = 0x44 + 20;
const CHECKSUM: usize = OPT + 64;
const SEC_DIR: usize = OPT + 112 + 32;

#[test]
fn digest_skips_checksum_security_entry_and_certificates() {
    // Sections listed out of file order: hashing sorts them.
    let b = pe(&[(0x800, 0x200), (0x400, 0x400)], 0, 0x58);
    let image = parse_pe(&b).unwrap();
    assert!(image.pe32_plus);
    assert_eq!(image.checksum_offset, CHECKSUM);
    assert_eq!(image.security_directory_offset, Some(SEC_DIR));
    assert_eq!(image.certificate_table_size, 0x58);
    let want = sha384(&[
        &b[..CHECKSUM],
        &b[CHECKSUM + 4..SEC_DIR],
        &b[SEC_DIR + 8..0x400],
        &b[0x400..0x800],
        &b[0x800..0xa00],
    ]);
    assert_eq!(authenticode_sha384(&b).unwrap(), want);

    // Neither the checksum, the security entry nor the certificates count.
    let mut c = b.clone();
    c[CHECKSUM] ^= 1;
    c[SEC_DIR] ^= 1;
    let last = c.len() - 1;
    c[last] ^= 1;
    assert_eq!(authenticode_sha384(&c).unwrap(), want);
    // Any byte of a section does.
    c[0x900] ^= 1;
    assert_ne!(authenticode_sha384(&c).unwrap(), want);
}

#[test]
fn trailing_bytes_before_the_certificates_are_hashed() {
    let b = pe(&[(0x400, 0x400)], 0x10, 0x20);
    let want = sha384(&[
        &b[..CHECKSUM],
        &b[CHECKSUM + 4..SEC_DIR],
        &b[SEC_DIR + 8..0x400],
        &b[0x400..0x800],
        &b[0x800..0x810],
    ]);
    assert_eq!(authenticode_sha384(&b).unwrap(), want);
    // Without a certificate table the trailing bytes are hashed too.
    let b = pe(&[(0x400, 0x400)], 0x10, 0);
    let want = sha384(&[&b[..CHECKSUM], &b[CHECKSUM + 4..SEC_DIR], &b[SEC_DIR + 8..0x400], &b[0x400..0x810]]);
    assert_eq!(authenticode_sha384(&b).unwrap(), want);
}

#[test]
fn empty_sections_are_skipped() {
    let b = pe(&[(0x400, 0x400), (0x500, 0)], 0, 0);
    let image = parse_pe(&b).unwrap();
    assert_eq!(image.authenticode_ranges().last().unwrap(), &(0x400..0x800));
}

#[test]
fn without_a_security_directory() {
    let mut b = pe(&[(0x400, 0x400)], 0, 0);
    b[OPT + 108..OPT + 112].copy_from_slice(&4u32.to_le_bytes());
    let image = parse_pe(&b).unwrap();
    assert_eq!(image.security_directory_offset, None);
    let want = sha384(&[&b[..CHECKSUM], &b[CHECKSUM + 4..0x800]]);
    assert_eq!(authenticode_sha384(&b).unwrap(), want);
}

fn pe_field(b: &[u8]) -> &'static str {
    match parse_pe(b) {
        Err(Error::PeField { field, .. }) => field,
        other => panic!("expected PeField, got {other:?}"),
    }
}

fn pe_bounds(b: &[u8]) -> &'static str {
    match parse_pe(b) {
        Err(Error::PeOutOfBounds { field, .. }) => field,
        other => panic!("expected PeOutOfBounds, got {other:?}"),
    }
}

#[test]
fn hostile_headers() {
    let good = pe(&[(0x400, 0x400)], 0, 0);
    assert!(parse_pe(&good).is_ok());

    let mut b = good.clone();
    b[0] = b'Z';
    assert_eq!(pe_field(&b), "DOS header e_magic");
    let mut b = good.clone();
    b[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(pe_bounds(&b), "PE signature");
    let mut b = good.clone();
    b[0x41] = b'X';
    assert_eq!(pe_field(&b), "PE signature");
    let mut b = good.clone();
    b[0x46..0x48].copy_from_slice(&97u16.to_le_bytes());
    assert_eq!(pe_field(&b), "COFF NumberOfSections");
    let mut b = good.clone();
    b[OPT..OPT + 2].copy_from_slice(&0x107u16.to_le_bytes());
    assert_eq!(pe_field(&b), "optional header Magic");
    let mut b = good.clone();
    b[0x44 + 16..0x44 + 18].copy_from_slice(&100u16.to_le_bytes());
    assert_eq!(pe_field(&b), "COFF SizeOfOptionalHeader");
    let mut b = good.clone();
    b[OPT + 60..OPT + 64].copy_from_slice(&0x10_0000u32.to_le_bytes());
    assert_eq!(pe_bounds(&b), "optional header SizeOfHeaders");
    let mut b = good.clone();
    b[OPT + 60..OPT + 64].copy_from_slice(&0x80u32.to_le_bytes());
    assert_eq!(pe_field(&b), "optional header SizeOfHeaders");
    let mut b = good.clone();
    b[OPT + 108..OPT + 112].copy_from_slice(&17u32.to_le_bytes());
    assert_eq!(pe_field(&b), "optional header NumberOfRvaAndSizes");
    let mut b = good.clone();
    b[OPT + 108..OPT + 112].copy_from_slice(&16u32.to_le_bytes());
    assert_eq!(pe_bounds(&b), "optional header NumberOfRvaAndSizes");
    let mut b = good.clone();
    b[SEC_DIR + 4..SEC_DIR + 8].copy_from_slice(&0x10_0000u32.to_le_bytes());
    assert_eq!(pe_bounds(&b), "security directory Size");
}

#[test]
fn sections_past_the_end_of_the_file() {
    let good = pe(&[(0x400, 0x400)], 0, 0);
    let table = OPT + 112 + 48;
    let mut b = good.clone();
    b[table + 16..table + 20].copy_from_slice(&0x401u32.to_le_bytes());
    assert_eq!(pe_bounds(&b), "section PointerToRawData + SizeOfRawData");
    let mut b = good.clone();
    b[table + 20..table + 24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(pe_bounds(&b), "section PointerToRawData + SizeOfRawData");
    // A section table that runs off the end of a truncated file.
    let mut b = good[..table + 20].to_vec();
    b[OPT + 60..OPT + 64].copy_from_slice(&0x80u32.to_le_bytes());
    assert!(parse_pe(&b).is_err());
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let good = pe(&[(0x400, 0x400), (0x800, 0x100)], 0x10, 0x20);
    for len in 0..good.len() {
        let _ = authenticode_sha384(&good[..len]);
    }
    assert!(authenticode_sha384(&good[..0x100]).is_err());
}
