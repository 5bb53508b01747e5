//! A RAFS tree as a tar stream, so that unpacking reuses the OCI layer
//! unpacker (path safety, owners, modes, xattrs, hard links, device policy,
//! limits) instead of a second writer of filesystem trees.

use std::io::{self, Write};

use tar::{EntryType, Header};

use super::{Kind, Rafs};
use crate::{Error, Result};

/// Writes every entry of `rafs`: a PAX header (path, link target, mtime with
/// nanoseconds, large ids, xattrs) then a ustar header and the data.
pub(super) fn write(rafs: &Rafs, out: impl Write) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    let bootstrap = rafs.bootstrap();
    for entry in rafs.walk()? {
        let inode = &entry.inode;
        let mut path = if entry.path.is_empty() { b".".to_vec() } else { entry.path.clone() };
        let mut header = Header::new_ustar();
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let mut size = 0;
        match (&entry.hardlink_to, inode.kind) {
            (Some(first), _) => {
                header.set_entry_type(EntryType::Link);
                pax.push(("linkpath".into(), first.clone()));
            }
            (None, Kind::File) => {
                header.set_entry_type(EntryType::Regular);
                size = inode.size;
            }
            (None, Kind::Dir) => {
                header.set_entry_type(EntryType::Directory);
                path.push(b'/');
            }
            (None, Kind::Symlink) => {
                header.set_entry_type(EntryType::Symlink);
                pax.push(("linkpath".into(), bootstrap.read_link(inode)?));
            }
            (None, Kind::Char | Kind::Block) => {
                header.set_entry_type(if inode.kind == Kind::Char { EntryType::Char } else { EntryType::Block });
                header.set_device_major(inode.rdev.0).map_err(tar_error)?;
                header.set_device_minor(inode.rdev.1).map_err(tar_error)?;
            }
            (None, Kind::Fifo) => header.set_entry_type(EntryType::Fifo),
            (None, Kind::Socket) => {
                // tar has no sockets; a socket in an image is a leftover of its build.
                tracing::debug!(path = %String::from_utf8_lossy(&entry.path), "socket in RAFS image not unpacked");
                continue;
            }
        }
        pax.push(("path".into(), path.clone()));
        pax.push(("mtime".into(), format!("{}.{:09}", inode.mtime, inode.mtime_nsec.min(999_999_999)).into_bytes()));
        for (name, value) in bootstrap.xattrs(inode)? {
            pax.push((format!("SCHILY.xattr.{name}"), value));
        }
        header.set_mode(inode.mode);
        // ustar's octal fields hold ids below 2^21; the PAX records carry the
        // exact values either way.
        header.set_uid(u64::from(inode.uid.min(0o7777777)));
        header.set_gid(u64::from(inode.gid.min(0o7777777)));
        pax.push(("uid".into(), inode.uid.to_string().into_bytes()));
        pax.push(("gid".into(), inode.gid.to_string().into_bytes()));
        header.set_mtime(u64::try_from(inode.mtime).unwrap_or(0).min(0o77777777777));
        header.set_size(size);
        let name = &mut header.as_old_mut().name;
        let n = path.len().min(name.len() - 1);
        name[..n].copy_from_slice(&path[..n]);
        header.set_cksum();
        builder
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| unwrap_io(e, "writing a PAX header"))?;
        if size > 0 {
            builder.append(&header, rafs.reader(inode)?).map_err(|e| unwrap_io(e, "writing file data"))?;
        } else {
            builder.append(&header, io::empty()).map_err(|e| unwrap_io(e, "writing a header"))?;
        }
    }
    builder
        .into_inner()
        .map_err(|e| unwrap_io(e, "finishing the tar stream"))?
        .flush()
        .map_err(|e| unwrap_io(e, "flushing"))?;
    Ok(())
}

fn tar_error(e: io::Error) -> Error {
    Error::io("building a tar header", e)
}

/// A chunk error travels through `io::Read` as an `io::Error`; take it back out.
fn unwrap_io(e: io::Error, context: &str) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(ours) = inner.downcast::<Error>() {
                return *ours;
            }
        }
        return Error::Rafs { what: "tar stream".into(), reason: "lost error".into() };
    }
    Error::io(context.to_string(), e)
}
