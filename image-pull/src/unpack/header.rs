//! One tar member's metadata, with its GNU long-name and PAX extension
//! headers folded in.
//!
//! The `tar` crate reads the data of extension headers whole, without a size
//! limit, so a hostile layer could make it allocate gigabytes for one "long
//! name". We iterate the archive in raw mode instead and read extension
//! headers here, each bounded by the caller's limits; the tar crate still
//! parses and checksums every header block.

use std::io::Read;

use tar::{EntryType, Header, PaxExtensions};

/// PAX key prefix of an extended attribute (as GNU tar, Go's archive/tar and
/// umoci write them).
const PAX_XATTR: &str = "SCHILY.xattr.";

/// Longest extended attribute name (Linux `XATTR_NAME_MAX`).
const XATTR_NAME_MAX: usize = 255;

/// Limits applied while reading headers.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    /// Longest entry or link name.
    pub max_path_len: usize,
    /// Largest PAX extension header (all records of one member).
    pub max_pax_bytes: usize,
    /// Largest extended attribute value.
    pub max_xattr_size: usize,
}

/// Extension headers seen before the member they describe.
#[derive(Debug, Default)]
pub struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl Pending {
    /// True when an extension header waits for its member.
    pub fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

/// A member's metadata.
#[derive(Debug)]
pub struct Meta {
    /// Entry name as stored (not normalised).
    pub path: Vec<u8>,
    /// Link target for symlinks and hard links.
    pub link: Option<Vec<u8>>,
    /// Member type.
    pub kind: EntryType,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, u32),
    /// Data size.
    pub size: u64,
    /// Device numbers (major, minor) of device nodes.
    pub device: (u32, u32),
    /// Extended attributes (name, value).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// What a raw header is.
pub enum Kind {
    /// A GNU long name, long link or PAX header: read with [`read_extension`].
    Extension,
    /// A PAX global header: skipped.
    Global,
    /// A member.
    Member,
}

/// Classifies a raw header.
pub fn kind(header: &Header) -> Kind {
    match header.entry_type() {
        EntryType::GNULongName | EntryType::GNULongLink | EntryType::XHeader => Kind::Extension,
        EntryType::XGlobalHeader => Kind::Global,
        _ => Kind::Member,
    }
}

/// Reads an extension header's data (bounded) into `pending`.
pub fn read_extension(
    entry: &mut impl Read,
    header: &Header,
    size: u64,
    pending: &mut Pending,
    limits: &HeaderLimits,
) -> Result<(), String> {
    let (slot, limit, what) = match header.entry_type() {
        EntryType::GNULongName => (&mut pending.long_name, limits.max_path_len + 1, "GNU long name"),
        EntryType::GNULongLink => (&mut pending.long_link, limits.max_path_len + 1, "GNU long link name"),
        _ => (&mut pending.pax, limits.max_pax_bytes, "PAX extension header"),
    };
    if slot.is_some() {
        return Err(format!("two {what}s for one member"));
    }
    let data = read_bounded(entry, size, limit, what)?;
    *slot = Some(data);
    Ok(())
}

/// Reads and discards a PAX global header (bounded).
pub fn skip_global(entry: &mut impl Read, size: u64, limits: &HeaderLimits) -> Result<(), String> {
    read_bounded(entry, size, limits.max_pax_bytes, "PAX global header").map(|_| ())
}

fn read_bounded(entry: &mut impl Read, size: u64, limit: usize, what: &str) -> Result<Vec<u8>, String> {
    if size > limit as u64 {
        return Err(format!("{what} of {size} bytes exceeds the limit of {limit}"));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry.take(size).read_to_end(&mut data).map_err(|e| format!("reading the {what}: {e}"))?;
    if data.len() as u64 != size {
        return Err(format!("{what} truncated: {} of {size} bytes", data.len()));
    }
    Ok(data)
}

/// A member's metadata from its header and the pending extensions (taken).
pub fn member(header: &Header, pending: &mut Pending, limits: &HeaderLimits) -> Result<Meta, String> {
    let pending = std::mem::take(pending);
    let field = |what: &str, e: std::io::Error| format!("bad {what} field in the header: {e}");
    let size = header.entry_size().map_err(|e| field("size", e))?;
    let old = header.as_old();
    let mut meta = Meta {
        path: trim_nul(pending.long_name.unwrap_or_else(|| header.path_bytes().into_owned())),
        link: pending.long_link.map(trim_nul).or_else(|| header.link_name_bytes().map(|l| l.into_owned())),
        kind: header.entry_type(),
        mode: lenient(header.mode().map(u64::from), &old.mode).map_err(|e| field("mode", e))? as u32 & 0o7777,
        uid: id(lenient(header.uid(), &old.uid).map_err(|e| field("uid", e))?, "uid")?,
        gid: id(lenient(header.gid(), &old.gid).map_err(|e| field("gid", e))?, "gid")?,
        mtime: (
            i64::try_from(lenient(header.mtime(), &old.mtime).map_err(|e| field("mtime", e))?).unwrap_or(i64::MAX),
            0,
        ),
        size,
        device: (0, 0),
        xattrs: Vec::new(),
    };
    if matches!(meta.kind, EntryType::Char | EntryType::Block) {
        meta.device = (
            device(header, true).map_err(|e| field("device major", e))?,
            device(header, false).map_err(|e| field("device minor", e))?,
        );
    }
    if let Some(pax) = &pending.pax {
        apply_pax(&mut meta, pax, limits)?;
    }
    if meta.path.len() > limits.max_path_len {
        return Err(format!("name is {} bytes, longer than the limit of {}", meta.path.len(), limits.max_path_len));
    }
    if meta.link.as_ref().is_some_and(|l| l.len() > limits.max_path_len) {
        return Err(format!("link target longer than the limit of {} bytes", limits.max_path_len));
    }
    Ok(meta)
}

fn apply_pax(meta: &mut Meta, pax: &[u8], limits: &HeaderLimits) -> Result<(), String> {
    for record in PaxExtensions::new(pax) {
        let record = record.map_err(|e| format!("malformed PAX record: {e}"))?;
        let key = record.key().map_err(|_| "PAX key is not UTF-8".to_string())?;
        let value = record.value_bytes();
        let text = || std::str::from_utf8(value).map_err(|_| format!("PAX {key} is not UTF-8"));
        let number = |what: &str| -> Result<u64, String> {
            text()?.trim().parse::<u64>().map_err(|_| format!("PAX {what} {:?} is not a number", text()))
        };
        match key {
            "path" => meta.path = value.to_vec(),
            "linkpath" => meta.link = Some(value.to_vec()),
            "uid" => meta.uid = id(number("uid")?, "uid")?,
            "gid" => meta.gid = id(number("gid")?, "gid")?,
            "mtime" => meta.mtime = parse_time(text()?).ok_or_else(|| format!("PAX mtime {:?} is invalid", text()))?,
            // Raw iteration sizes the member by its ustar header; a PAX size
            // (only written above 8 GiB) that differs would desync the
            // stream, so refuse it rather than misread the layer.
            "size" if number("size")? != meta.size => {
                return Err("PAX size differs from the header size (members over 8 GiB are not supported)".into());
            }
            k if k.starts_with("GNU.sparse.") => return Err("GNU sparse files are not supported".into()),
            k if k.starts_with(PAX_XATTR) => {
                let name = &k[PAX_XATTR.len()..];
                if name.is_empty() || name.len() > XATTR_NAME_MAX {
                    return Err(format!("xattr name {name:?} is empty or longer than {XATTR_NAME_MAX} bytes"));
                }
                if value.len() > limits.max_xattr_size {
                    return Err(format!(
                        "xattr {name} has a {} byte value, larger than the limit of {}",
                        value.len(),
                        limits.max_xattr_size
                    ));
                }
                meta.xattrs.push((name.to_string(), value.to_vec()));
            }
            _ => {} // atime, ctime, uname, gname, comments, ACLs: not applied.
        }
    }
    Ok(())
}

/// A numeric field; all NULs or spaces read as 0, as Go's archive/tar
/// (which wrote most layers) reads them, where the tar crate errs.
fn lenient(parsed: std::io::Result<u64>, raw: &[u8]) -> std::io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') {
        return Ok(0);
    }
    parsed
}

/// A device number field (ustar and GNU headers only; 0 otherwise).
fn device(header: &Header, major: bool) -> std::io::Result<u32> {
    let raw = match (header.as_ustar(), header.as_gnu()) {
        (Some(ustar), _) => {
            if major {
                ustar.dev_major
            } else {
                ustar.dev_minor
            }
        }
        (None, Some(gnu)) => {
            if major {
                gnu.dev_major
            } else {
                gnu.dev_minor
            }
        }
        (None, None) => return Ok(0),
    };
    let parsed = if major { header.device_major() } else { header.device_minor() };
    let value = lenient(parsed.map(|v| u64::from(v.unwrap_or(0))), &raw)?;
    u32::try_from(value).map_err(|_| std::io::Error::other("device number does not fit 32 bits"))
}

fn id(value: u64, what: &str) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("{what} {value} does not fit 32 bits"))
}

fn trim_nul(mut name: Vec<u8>) -> Vec<u8> {
    while name.last() == Some(&0) {
        name.pop();
    }
    name
}

/// A PAX time (`seconds[.fraction]`, possibly negative) as (seconds, nanoseconds).
pub fn parse_time(text: &str) -> Option<(i64, u32)> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let negative = int.starts_with('-');
    let secs: i64 = int.parse().ok()?;
    if frac.is_empty() {
        return Some((secs, 0));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: u32 = digits.parse().ok()?;
    if negative && nanos > 0 {
        // -1.25 is 1.25 s before the epoch: -2 s + 0.75 s.
        return Some((secs - 1, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_time("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(parse_time("1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(parse_time("1.123456789123"), Some((1, 123_456_789)));
        assert_eq!(parse_time("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time("1.x"), None);
    }

    fn limits() -> HeaderLimits {
        HeaderLimits { max_path_len: 4096, max_pax_bytes: 1 << 20, max_xattr_size: 16 }
    }

    fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        // "<len> <key>=<value>\n" where len counts itself.
        let body = key.len() + value.len() + 3;
        let mut len = body + 1;
        while (body + len.to_string().len()) != len {
            len = body + len.to_string().len();
        }
        let mut out = format!("{len} {key}=").into_bytes();
        out.extend_from_slice(value);
        out.push(b'\n');
        out
    }

    fn header() -> Header {
        let mut h = Header::new_gnu();
        h.set_path("short").unwrap();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o104755);
        h.set_uid(5);
        h.set_gid(6);
        h.set_mtime(7);
        h.set_size(3);
        h
    }

    #[test]
    fn pax_overrides_header() {
        let mut pax = pax_record("path", b"a/long/name");
        pax.extend(pax_record("uid", b"70000"));
        pax.extend(pax_record("mtime", b"9.5"));
        pax.extend(pax_record("SCHILY.xattr.user.k", b"v\0bin"));
        let mut pending = Pending { pax: Some(pax), ..Default::default() };
        let meta = member(&header(), &mut pending, &limits()).unwrap();
        assert!(pending.is_empty());
        assert_eq!(meta.path, b"a/long/name");
        assert_eq!((meta.uid, meta.gid, meta.mode), (70000, 6, 0o4755));
        assert_eq!(meta.mtime, (9, 500_000_000));
        assert_eq!(meta.xattrs, vec![("user.k".to_string(), b"v\0bin".to_vec())]);
    }

    #[test]
    fn pax_refusals() {
        for (key, value) in [
            ("SCHILY.xattr.user.big", &[0u8; 17][..]),
            ("size", b"99"),
            ("GNU.sparse.map", b"0,1"),
            ("uid", b"99999999999"),
            ("uid", b"abc"),
            ("SCHILY.xattr.", b"x"),
        ] {
            let mut pending = Pending { pax: Some(pax_record(key, value)), ..Default::default() };
            assert!(member(&header(), &mut pending, &limits()).is_err(), "{key}");
        }
    }

    #[test]
    fn long_names_are_bounded() {
        let mut pending = Pending::default();
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::GNULongName);
        let big = vec![b'a'; 5000];
        let err = read_extension(&mut &big[..], &h, big.len() as u64, &mut pending, &limits()).unwrap_err();
        assert!(err.contains("exceeds the limit"), "{err}");
        let name = b"dir/name\0".to_vec();
        read_extension(&mut &name[..], &h, name.len() as u64, &mut pending, &limits()).unwrap();
        assert!(read_extension(&mut &name[..], &h, name.len() as u64, &mut pending, &limits()).is_err());
        let meta = member(&header(), &mut pending, &limits()).unwrap();
        assert_eq!(meta.path, b"dir/name");
        let short = b"abc".to_vec();
        let err = read_extension(&mut &short[..], &h, 10, &mut Pending::default(), &limits()).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }
}
