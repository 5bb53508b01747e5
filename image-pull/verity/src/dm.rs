//! Setting up a dm-verity device through the device-mapper ioctl interface
//! (`/dev/mapper/control`, `include/uapi/linux/dm-ioctl.h`), as
//! `veritysetup open` does through libdevmapper, without udev: the
//! `/dev/mapper/NAME` node is made here.
//!
//! Sequence: `DM_DEV_CREATE` (an empty device), `DM_TABLE_LOAD` (one
//! read-only `verity` target, see [`crate::table`]), `DM_DEV_SUSPEND`
//! without the suspend flag (= resume: the table goes live). `close` is
//! `DM_DEV_REMOVE`.
//!
//! Why by hand: the `devicemapper` crate (stratis) generates its bindings
//! with bindgen at build time (needs libclang) and links libdevmapper via
//! pkg-config, which would put clang and libdevmapper-dev into every build
//! for four ioctls; `dm_ioctl`, its minimal sibling, has the same build
//! dependency. The four commands need one fixed 312-byte header and one
//! target spec, laid out here from the uapi header; the one `unsafe` block
//! is the ioctl call itself.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode};
use rustix::ioctl::{opcode, Updater};

use crate::{table, Error, Result, VerityParams};

/// Where libdevmapper and devtmpfs put device-mapper nodes.
pub const DM_DIR: &str = "/dev/mapper";

/// `sizeof(struct dm_ioctl)` (dm-ioctl.h): `version[3] u32, data_size u32,
/// data_start u32, target_count u32, open_count i32, flags u32, event_nr u32,
/// padding u32, dev u64, name[128], uuid[129], data[7]`.
const DM_IOCTL_LEN: usize = 312;
const OFF_DATA_SIZE: usize = 12;
const OFF_DATA_START: usize = 16;
const OFF_TARGET_COUNT: usize = 20;
const OFF_FLAGS: usize = 28;
const OFF_DEV: usize = 40;
const OFF_NAME: usize = 48;
/// `DM_NAME_LEN`, including the terminating NUL.
const DM_NAME_LEN: usize = 128;
/// `sizeof(struct dm_target_spec)`: `sector_start u64, length u64, status
/// i32, next u32, target_type[16]`, followed by the NUL-terminated parameters.
const DM_TARGET_SPEC_LEN: usize = 40;
const DM_MAX_TYPE_NAME: usize = 16;

/// Interface version spoken: major 4 (the kernel refuses another major and
/// accepts any older minor).
const DM_VERSION: [u32; 3] = [4, 0, 0];
const DM_READONLY_FLAG: u32 = 1 << 0;

/// Ioctl command numbers of group 0xfd.
const DM_DEV_CREATE_CMD: u8 = 3;
const DM_DEV_REMOVE_CMD: u8 = 4;
const DM_DEV_SUSPEND_CMD: u8 = 6;
const DM_TABLE_LOAD_CMD: u8 = 9;

/// Room for the header, one target spec and its parameters (a verity table
/// line is under 1 KiB; the salt alone can be 512 hex digits).
const BUF_LEN: usize = 4096;

/// The ioctl argument: header plus payload, 8-byte aligned as the kernel
/// expects `struct dm_ioctl`.
#[repr(C, align(8))]
struct DmBuffer([u8; BUF_LEN]);

/// Every command is `_IOWR(0xfd, cmd, struct dm_ioctl)`.
type Header = [u8; DM_IOCTL_LEN];

/// Opens the verity device `name` over `data_dev` and `hash_dev` with the
/// tree `params` and `root_hash`, read-only, and returns its node
/// `/dev/mapper/NAME` (made here; no udev needed). On failure nothing is
/// left behind. Checks are lazy: a corrupt block fails when it is read
/// (EIO), as with `veritysetup open`.
pub fn open(name: &str, data_dev: &Path, hash_dev: &Path, params: &VerityParams, root_hash: &[u8]) -> Result<PathBuf> {
    params.validate()?;
    check_name(name)?;
    if root_hash.len() != params.hash.digest_len() {
        return Err(Error::InvalidParameter {
            name: "root-hash",
            reason: format!(
                "{} bytes, expected {} for {}",
                root_hash.len(),
                params.hash.digest_len(),
                params.hash.name()
            ),
        });
    }
    let data = device_arg("data device", data_dev)?;
    let hash = device_arg("hash device", hash_dev)?;
    let target = table::verity_target_params(params, root_hash, data, hash);
    let sectors = table::data_sectors(params);
    if sectors == 0 {
        return Err(Error::InvalidParameter {
            name: "data-blocks",
            reason: "0, a device needs at least one block".into(),
        });
    }

    let control = control()?;
    let created = command(&control, DM_DEV_CREATE_CMD, "create", name, 0, None)?;
    let dev = u64::from_ne_bytes(created.0[OFF_DEV..OFF_DEV + 8].try_into().unwrap_or([0; 8]));
    let activate = || -> Result<PathBuf> {
        command(&control, DM_TABLE_LOAD_CMD, "load table", name, DM_READONLY_FLAG, Some((sectors, &target)))?;
        command(&control, DM_DEV_SUSPEND_CMD, "resume", name, 0, None)?;
        make_node(name, dev)
    };
    activate().inspect_err(|_| {
        // Best effort: the error being returned is the one that matters.
        let _ = command(&control, DM_DEV_REMOVE_CMD, "remove", name, 0, None);
    })
}

/// Removes the device `name` (it must not be in use) and its `/dev/mapper` node.
pub fn close(name: &str) -> Result<()> {
    check_name(name)?;
    let control = control()?;
    command(&control, DM_DEV_REMOVE_CMD, "remove", name, 0, None)?;
    let node = Path::new(DM_DIR).join(name);
    match std::fs::remove_file(&node) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path: node.display().to_string(), source }),
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() >= DM_NAME_LEN || name.contains(['/', '\0']) || name == "." || name == ".." {
        return Err(Error::InvalidParameter {
            name: "name",
            reason: format!("{name:?}: expected 1 to {} bytes without '/' or NUL", DM_NAME_LEN - 1),
        });
    }
    Ok(())
}

fn device_arg<'a>(what: &'static str, path: &'a Path) -> Result<&'a str> {
    match path.to_str() {
        Some(s) if !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('\0') => Ok(s),
        _ => Err(Error::InvalidParameter {
            name: what,
            reason: format!("{}: expected a UTF-8 path without spaces", path.display()),
        }),
    }
}

/// `/dev/mapper/control`; devtmpfs makes it when dm-mod loads. Without
/// devtmpfs it is made from the misc device number in sysfs.
fn control() -> Result<File> {
    let path = Path::new(DM_DIR).join("control");
    if !path.exists() {
        let sys = "/sys/class/misc/device-mapper/dev";
        let numbers = std::fs::read_to_string(sys).map_err(|source| Error::Io { path: sys.into(), source })?;
        let dev = parse_dev(numbers.trim()).ok_or_else(|| Error::InvalidParameter {
            name: "device-mapper control",
            reason: format!("{sys} holds {numbers:?}, expected MAJOR:MINOR"),
        })?;
        mknod(&path, FileType::CharacterDevice, dev)?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io { path: path.display().to_string(), source })
}

fn parse_dev(s: &str) -> Option<rustix::fs::Dev> {
    let (major, minor) = s.split_once(':')?;
    Some(rustix::fs::makedev(major.parse().ok()?, minor.parse().ok()?))
}

fn mknod(path: &Path, kind: FileType, dev: rustix::fs::Dev) -> Result<()> {
    let io = |source: std::io::Error| Error::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    rustix::fs::mknodat(rustix::fs::CWD, path, kind, Mode::from_raw_mode(0o600), dev).map_err(|e| io(e.into()))
}

/// Makes `/dev/mapper/NAME` for the device `dev` (as the kernel encodes
/// `dev_t` in `struct dm_ioctl`), replacing a stale node of that name.
fn make_node(name: &str, dev: u64) -> Result<PathBuf> {
    let node = Path::new(DM_DIR).join(name);
    let dev = rustix::fs::makedev(rustix::fs::major(dev), rustix::fs::minor(dev));
    if let Ok(meta) = std::fs::symlink_metadata(&node) {
        use std::os::unix::fs::MetadataExt;
        if meta.file_type().is_block_device() && meta.rdev() == dev {
            return Ok(node);
        }
        std::fs::remove_file(&node).map_err(|source| Error::Io { path: node.display().to_string(), source })?;
    }
    mknod(&node, FileType::BlockDevice, dev)?;
    Ok(node)
}

/// Runs one device-mapper command on device `name`, with an optional single
/// target (`length` in sectors, `verity` parameters), and returns the
/// kernel's answer.
fn command(
    control: &File,
    cmd: u8,
    what: &'static str,
    name: &str,
    flags: u32,
    target: Option<(u64, &str)>,
) -> Result<DmBuffer> {
    let mut buf = DmBuffer([0; BUF_LEN]);
    let b = &mut buf.0;
    for (i, v) in DM_VERSION.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b[OFF_NAME..OFF_NAME + name.len()].copy_from_slice(name.as_bytes());
    b[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&flags.to_ne_bytes());
    b[OFF_DATA_START..OFF_DATA_START + 4].copy_from_slice(&(DM_IOCTL_LEN as u32).to_ne_bytes());
    let mut size = DM_IOCTL_LEN;
    if let Some((length, params)) = target {
        // The parameters, NUL-terminated, padded so the next spec would be 8-byte aligned.
        let spec_len = (DM_TARGET_SPEC_LEN + params.len() + 1).next_multiple_of(8);
        if DM_IOCTL_LEN + spec_len > BUF_LEN {
            return Err(Error::InvalidParameter {
                name: "table",
                reason: format!("{} bytes of target parameters, expected at most {}", params.len(), BUF_LEN / 2),
            });
        }
        let spec = &mut b[DM_IOCTL_LEN..DM_IOCTL_LEN + spec_len];
        spec[8..16].copy_from_slice(&length.to_ne_bytes());
        spec[20..24].copy_from_slice(&(spec_len as u32).to_ne_bytes());
        spec[24..24 + "verity".len()].copy_from_slice(b"verity");
        debug_assert!("verity".len() < DM_MAX_TYPE_NAME);
        spec[DM_TARGET_SPEC_LEN..DM_TARGET_SPEC_LEN + params.len()].copy_from_slice(params.as_bytes());
        b[OFF_TARGET_COUNT..OFF_TARGET_COUNT + 4].copy_from_slice(&1u32.to_ne_bytes());
        size += spec_len;
    }
    b[OFF_DATA_SIZE..OFF_DATA_SIZE + 4].copy_from_slice(&(size as u32).to_ne_bytes());

    let result = match cmd {
        DM_DEV_CREATE_CMD => dm_ioctl::<DM_DEV_CREATE>(control, &mut buf),
        DM_DEV_REMOVE_CMD => dm_ioctl::<DM_DEV_REMOVE>(control, &mut buf),
        DM_DEV_SUSPEND_CMD => dm_ioctl::<DM_DEV_SUSPEND>(control, &mut buf),
        _ => dm_ioctl::<DM_TABLE_LOAD>(control, &mut buf),
    };
    result.map_err(|source| Error::DeviceMapper { operation: what, name: name.to_owned(), source: source.into() })?;
    Ok(buf)
}

const DM_DEV_CREATE: rustix::ioctl::Opcode = opcode::read_write::<Header>(0xfd, DM_DEV_CREATE_CMD);
const DM_DEV_REMOVE: rustix::ioctl::Opcode = opcode::read_write::<Header>(0xfd, DM_DEV_REMOVE_CMD);
const DM_DEV_SUSPEND: rustix::ioctl::Opcode = opcode::read_write::<Header>(0xfd, DM_DEV_SUSPEND_CMD);
const DM_TABLE_LOAD: rustix::ioctl::Opcode = opcode::read_write::<Header>(0xfd, DM_TABLE_LOAD_CMD);

fn dm_ioctl<const OPCODE: rustix::ioctl::Opcode>(control: &File, buf: &mut DmBuffer) -> rustix::io::Result<()> {
    // SAFETY: every device-mapper command takes a pointer to a `struct
    // dm_ioctl` followed by `data_size - 312` bytes of payload; `buf` is a
    // BUF_LEN-byte, 8-byte aligned buffer whose header (filled in by
    // `command`) says data_size <= BUF_LEN, so the kernel reads and writes
    // only inside it (it checks data_size against the header and never
    // writes past data_size). `control` is the device-mapper control node.
    unsafe { rustix::ioctl::ioctl(control, Updater::<OPCODE, DmBuffer>::new(buf)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_are_the_uapi_ones() {
        // _IOWR(0xfd, n, struct dm_ioctl) with sizeof == 312 (0x138).
        assert_eq!(DM_DEV_CREATE as u64, 0xc138_fd03);
        assert_eq!(DM_DEV_REMOVE as u64, 0xc138_fd04);
        assert_eq!(DM_DEV_SUSPEND as u64, 0xc138_fd06);
        assert_eq!(DM_TABLE_LOAD as u64, 0xc138_fd09);
    }

    #[test]
    fn names_are_checked_before_any_ioctl() {
        for bad in ["", "a/b", ".", "..", &"x".repeat(128)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name(&"x".repeat(127)).unwrap();
        assert!(device_arg("data device", Path::new("/dev/a b")).is_err());
    }

    #[test]
    fn parse_dev_reads_sysfs_numbers() {
        let dev = parse_dev("10:236").unwrap();
        assert_eq!((rustix::fs::major(dev), rustix::fs::minor(dev)), (10, 236));
        assert!(parse_dev("10").is_none());
        assert!(parse_dev("a:b").is_none());
    }
}
