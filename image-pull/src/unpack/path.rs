//! Entry names: normalisation and whiteout recognition (pure functions).
//!
//! A tar entry name becomes a relative path of normal components: leading
//! `/` and `.` components are dropped (tar names are relative to the rootfs
//! whatever they say), and a `..` component is refused outright rather than
//! resolved, so no name can even point outside before the kernel resolves it.

/// Whiteout file name prefix (OCI image spec, "Whiteouts").
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Opaque directory marker name.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// Longest name of one path component (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// `name` as a relative path of normal components joined by `/` (empty for
/// the root itself), or why it is refused.
pub fn normalize(name: &[u8], max_len: usize) -> Result<Vec<u8>, String> {
    if name.len() > max_len {
        return Err(format!("name is {} bytes, longer than the limit of {max_len}", name.len()));
    }
    if name.contains(&0) {
        return Err("name contains a NUL byte".into());
    }
    let mut out = Vec::with_capacity(name.len());
    for component in name.split(|&b| b == b'/') {
        match component {
            b"" | b"." => continue,
            b".." => return Err("name has a \"..\" component".into()),
            c if c.len() > NAME_MAX => {
                return Err(format!("a component is {} bytes, longer than {NAME_MAX}", c.len()));
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

/// (parent, last component) of a normalised path; the root has an empty name.
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// `parent/name` for a normalised parent.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    out.extend_from_slice(parent);
    if !parent.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// The ancestors of a normalised path, nearest last (`a/b/c` → `a`, `a/b`).
pub fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter().enumerate().filter(|(_, &b)| b == b'/').map(move |(i, _)| &path[..i])
}

/// What a normalised entry path means beyond "create this".
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// An ordinary entry.
    No,
    /// `dir/.wh.name`: remove `dir/name` of the lower layers.
    Remove {
        /// Directory holding the removed entry.
        dir: &'a [u8],
        /// Name removed.
        name: &'a [u8],
    },
    /// `dir/.wh..wh..opq`: hide everything the lower layers have in `dir`.
    Opaque {
        /// The opaque directory.
        dir: &'a [u8],
    },
    /// Another `.wh..wh.` name: AUFS bookkeeping, ignored like containerd does.
    Meta,
}

/// Classifies a normalised path; `Err` for a whiteout of an impossible name.
pub fn whiteout(path: &[u8]) -> Result<Whiteout<'_>, String> {
    let (dir, name) = split(path);
    if name == OPAQUE_MARKER {
        return Ok(Whiteout::Opaque { dir });
    }
    if name.starts_with(b".wh..wh.") {
        return Ok(Whiteout::Meta);
    }
    match name.strip_prefix(WHITEOUT_PREFIX) {
        None => Ok(Whiteout::No),
        Some(b"") | Some(b".") | Some(b"..") => Err("whiteout of an invalid name".into()),
        Some(removed) => Ok(Whiteout::Remove { dir, name: removed }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        for (input, want) in [
            (&b"a/b"[..], &b"a/b"[..]),
            (b"./a//b/", b"a/b"),
            (b"/etc/passwd", b"etc/passwd"),
            (b"./", b""),
            (b"/", b""),
            (b".", b""),
            (b"a/./b/.", b"a/b"),
        ] {
            assert_eq!(normalize(input, 4096).unwrap(), want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn refuses() {
        for input in [&b"../x"[..], b"a/../../x", b"a/..", b"..", b"/..", b"a\0b"] {
            assert!(normalize(input, 4096).is_err(), "{}", String::from_utf8_lossy(input));
        }
        assert!(normalize(&[b'a'; 300], 4096).is_err());
        assert!(normalize(&b"a/".repeat(100), 100).is_err());
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(split(b""), (&b""[..], &b""[..]));
        assert_eq!(join(b"", b"c"), b"c");
        assert_eq!(join(b"a/b", b"c"), b"a/b/c");
        assert_eq!(ancestors(b"a/b/c").collect::<Vec<_>>(), vec![&b"a"[..], b"a/b"]);
        assert_eq!(ancestors(b"a").count(), 0);
    }

    #[test]
    fn whiteouts() {
        assert_eq!(whiteout(b"a/b").unwrap(), Whiteout::No);
        assert_eq!(whiteout(b"a/.wh.b").unwrap(), Whiteout::Remove { dir: b"a", name: b"b" });
        assert_eq!(whiteout(b".wh.b").unwrap(), Whiteout::Remove { dir: b"", name: b"b" });
        assert_eq!(whiteout(b"a/.wh..wh..opq").unwrap(), Whiteout::Opaque { dir: b"a" });
        assert_eq!(whiteout(b".wh..wh..opq").unwrap(), Whiteout::Opaque { dir: b"" });
        assert_eq!(whiteout(b"a/.wh..wh.plnk").unwrap(), Whiteout::Meta);
        assert!(whiteout(b"a/.wh.").is_err());
        assert!(whiteout(b"a/.wh...").is_err());
        assert_eq!(whiteout(b"a/.wh.x.wh.").unwrap(), Whiteout::Remove { dir: b"a", name: b"x.wh." });
    }
}
