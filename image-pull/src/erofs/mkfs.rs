//! `mkfs.erofs` (Debian erofs-utils 1.5) run so that the same directory
//! always gives the same bytes, with every owner, mode, xattr and mtime kept.
//!
//! What 1.5 does (checked on this image's tool): owners, modes, xattrs
//! (`trusted.*` included), device nodes and nanosecond mtimes are kept by
//! default; directory entries are sorted, so the order the source directory
//! lists its names in does not matter. Two things are not fixed: the UUID
//! (random unless `-U`) and the superblock's build time (the time of the
//! run). 1.5 can fix the build time only by giving *every* inode that time
//! (`-T`, `SOURCE_DATE_EPOCH`), which loses the mtimes. So the build uses
//! `-E force-inode-extended` (each inode stores its own mtime instead of
//! deriving it from the build time, 32 more bytes per inode), and afterwards
//! the superblock's build time is set to 0 and its checksum recomputed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// EROFS block size mkfs.erofs 1.5 writes on x86 (its image sizes are multiples of it).
pub const EROFS_BLOCK_SIZE: u64 = 4096;

/// Byte offset of the EROFS superblock (`struct erofs_super_block`, erofs_fs.h).
const SUPER_OFFSET: usize = 1024;
/// `magic`, at superblock offset 0.
const MAGIC: u32 = 0xE0F5_E1E2;
/// `checksum` (crc32c of the superblock block from SUPER_OFFSET, this field zero), offset 4.
const CHECKSUM_AT: usize = 4;
/// `feature_compat`, offset 8; bit 0 = EROFS_FEATURE_COMPAT_SB_CHKSUM.
const FEATURE_COMPAT_AT: usize = 8;
const FEATURE_SB_CHKSUM: u32 = 1;
/// `blkszbits`, offset 12.
const BLKSZBITS_AT: usize = 12;
/// `build_time` (u64 seconds) at offset 24 and `build_time_nsec` (u32) at 32.
const BUILD_TIME_AT: usize = 24;
const BUILD_TIME_NSEC_AT: usize = 32;

/// Most bytes of mkfs.erofs output kept for an error message.
const MAX_TOOL_OUTPUT: usize = 4096;

/// How to run mkfs.erofs.
#[derive(Debug, Clone)]
pub(crate) struct Mkfs<'a> {
    /// The mkfs.erofs binary.
    pub tool: &'a Path,
    /// `-z` compressor (`lz4`, `lz4hc[,level]`); `None`: uncompressed.
    pub compression: Option<&'a str>,
}

impl Mkfs<'_> {
    /// Builds `out` (replaced) from `dir` with the UUID `uuid`, then fixes its
    /// build time. Returns the image size in bytes (a multiple of
    /// [`EROFS_BLOCK_SIZE`]). `what` names the image in errors.
    pub fn build(&self, dir: &Path, out: &Path, uuid: &[u8; 16], what: &str) -> Result<u64> {
        let _ = std::fs::remove_file(out);
        let mut cmd = Command::new(self.tool);
        cmd.arg("-E").arg("force-inode-extended").arg("-U").arg(uuid_string(uuid));
        if let Some(compression) = self.compression {
            cmd.arg(format!("-z{compression}"));
        }
        cmd.arg(out).arg(dir);
        tracing::debug!(?cmd, "mkfs.erofs");
        let output = cmd.output().map_err(|e| Error::Erofs {
            image: what.into(),
            reason: format!("cannot run {}: {e} (Debian package erofs-utils)", self.tool.display()),
        })?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stdout));
            let tail = text.len().saturating_sub(MAX_TOOL_OUTPUT);
            let tail = text.get(tail..).unwrap_or_default().trim();
            return Err(Error::Erofs {
                image: what.into(),
                reason: format!("{} exited with {}: {tail}", self.tool.display(), output.status),
            });
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .open(out)
            .map_err(|e| Error::io(format!("opening {}", out.display()), e))?;
        let mut block = vec![0u8; EROFS_BLOCK_SIZE as usize];
        file.read_exact(&mut block)
            .map_err(|e| Error::io(format!("reading the superblock of {}", out.display()), e))?;
        zero_build_time(&mut block).map_err(|reason| Error::Erofs { image: what.into(), reason })?;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&block))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(format!("writing the superblock of {}", out.display()), e))?;
        let size = file.metadata().map_err(|e| Error::io(format!("stat {}", out.display()), e))?.len();
        if size == 0 || size % EROFS_BLOCK_SIZE != 0 {
            return Err(Error::Erofs {
                image: what.into(),
                reason: format!("mkfs.erofs wrote {size} bytes, expected a multiple of {EROFS_BLOCK_SIZE}"),
            });
        }
        Ok(size)
    }
}

/// Sets the build time in the first block of an EROFS image to 0 and
/// recomputes the superblock checksum; says why when the block is not an
/// EROFS superblock with 4 KiB blocks.
pub(crate) fn zero_build_time(block: &mut [u8]) -> Result<(), String> {
    if block.len() < SUPER_OFFSET + 128 {
        return Err(format!("first block is {} bytes, expected at least {}", block.len(), SUPER_OFFSET + 128));
    }
    let sb = &mut block[SUPER_OFFSET..];
    let magic = u32::from_le_bytes([sb[0], sb[1], sb[2], sb[3]]);
    if magic != MAGIC {
        return Err(format!("superblock magic is {magic:#010x}, expected {MAGIC:#010x}"));
    }
    if sb[BLKSZBITS_AT] != 12 {
        return Err(format!("block size is 2^{}, expected 4096 (2^12)", sb[BLKSZBITS_AT]));
    }
    sb[BUILD_TIME_AT..BUILD_TIME_AT + 8].fill(0);
    sb[BUILD_TIME_NSEC_AT..BUILD_TIME_NSEC_AT + 4].fill(0);
    let features = u32::from_le_bytes(sb[FEATURE_COMPAT_AT..FEATURE_COMPAT_AT + 4].try_into().unwrap_or_default());
    if features & FEATURE_SB_CHKSUM != 0 {
        let checksum = superblock_checksum(block);
        block[SUPER_OFFSET + CHECKSUM_AT..SUPER_OFFSET + CHECKSUM_AT + 4].copy_from_slice(&checksum.to_le_bytes());
    }
    Ok(())
}

/// The superblock checksum EROFS keeps: crc32c seeded with !0 over the first
/// block from the superblock on, checksum field zero, without the final
/// inversion of the usual CRC-32C (`erofs_crc32c`, kernel `crc32c(~0, …)`).
pub(crate) fn superblock_checksum(block: &[u8]) -> u32 {
    const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let end = block.len().min(EROFS_BLOCK_SIZE as usize);
    let mut digest = CRC32C.digest();
    digest.update(&block[SUPER_OFFSET..SUPER_OFFSET + CHECKSUM_AT]);
    digest.update(&[0; 4]);
    digest.update(&block[SUPER_OFFSET + CHECKSUM_AT + 4..end]);
    !digest.finalize()
}

/// The UUID of the EROFS image built for `digest` (a layer digest, or the
/// manifest digest of a flattened image): the first 16 bytes of
/// sha256("arca-erofs-uuid\0" || digest), marked as an RFC 9562 version 8
/// (custom) UUID, so the same input always gets the same UUID.
pub fn uuid_for(digest: &str) -> [u8; 16] {
    let hash = Sha256::new().chain_update(b"arca-erofs-uuid\0").chain_update(digest.as_bytes()).finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&hash[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid_string(uuid: &[u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal first block: magic, checksum feature, 4 KiB blocks, a build time.
    fn block() -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[SUPER_OFFSET..SUPER_OFFSET + 4].copy_from_slice(&MAGIC.to_le_bytes());
        b[SUPER_OFFSET + FEATURE_COMPAT_AT] = 1;
        b[SUPER_OFFSET + BLKSZBITS_AT] = 12;
        b[SUPER_OFFSET + BUILD_TIME_AT..SUPER_OFFSET + BUILD_TIME_AT + 8]
            .copy_from_slice(&1_790_000_000u64.to_le_bytes());
        b[SUPER_OFFSET + BUILD_TIME_NSEC_AT] = 7;
        b[2000] = 0x5a; // something else in the block the checksum covers
        b
    }

    /// The bitwise CRC erofs-utils computes (`erofs_crc32c`, poly 0x82f63b78, no final xor).
    fn reference_crc(block: &[u8]) -> u32 {
        let mut data = block[SUPER_OFFSET..4096].to_vec();
        data[CHECKSUM_AT..CHECKSUM_AT + 4].fill(0);
        let mut crc = !0u32;
        for byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = (crc >> 1) ^ if crc & 1 == 1 { 0x82f6_3b78 } else { 0 };
            }
        }
        crc
    }

    #[test]
    fn build_time_zeroed_and_checksum_recomputed() {
        let mut b = block();
        zero_build_time(&mut b).unwrap();
        assert!(b[SUPER_OFFSET + BUILD_TIME_AT..SUPER_OFFSET + BUILD_TIME_NSEC_AT + 4].iter().all(|&x| x == 0));
        let stored = u32::from_le_bytes(b[SUPER_OFFSET + 4..SUPER_OFFSET + 8].try_into().unwrap());
        assert_eq!(stored, reference_crc(&b));
        assert_eq!(b[2000], 0x5a, "nothing else changes");
        // Idempotent: a second pass gives the same block.
        let once = b.clone();
        zero_build_time(&mut b).unwrap();
        assert_eq!(b, once);
    }

    #[test]
    fn checksum_left_alone_without_the_feature() {
        let mut b = block();
        b[SUPER_OFFSET + FEATURE_COMPAT_AT] = 0;
        b[SUPER_OFFSET + 4] = 0xaa;
        zero_build_time(&mut b).unwrap();
        assert_eq!(b[SUPER_OFFSET + 4], 0xaa);
    }

    #[test]
    fn not_an_erofs_superblock() {
        let mut b = block();
        b[SUPER_OFFSET] ^= 1;
        assert!(zero_build_time(&mut b).unwrap_err().contains("magic"));
        let mut b = block();
        b[SUPER_OFFSET + BLKSZBITS_AT] = 9;
        assert!(zero_build_time(&mut b).unwrap_err().contains("block size"));
        assert!(zero_build_time(&mut [0u8; 100]).is_err());
    }

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = uuid_for("sha256:aaaa");
        assert_eq!(a, uuid_for("sha256:aaaa"));
        assert_ne!(a, uuid_for("sha256:aaab"));
        let s = uuid_string(&a);
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "8", "version 8: {s}");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "RFC variant: {s}");
    }
}
