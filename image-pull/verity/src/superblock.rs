//! The verity superblock (format version 1), as `veritysetup format` writes it
//! at the start of the hash area and the kernel ignores.
//!
//! On-disk layout (cryptsetup's `struct verity_sb`, 512 bytes, little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | signature `"verity\0\0"` |
//! | 8 | 4 | version (1) |
//! | 12 | 4 | hash_type (1: salt first; 0 is the Chrome OS format) |
//! | 16 | 16 | uuid |
//! | 32 | 32 | algorithm, NUL-padded (`"sha256"`) |
//! | 64 | 4 | data_block_size |
//! | 68 | 4 | hash_block_size |
//! | 72 | 8 | data_blocks |
//! | 80 | 2 | salt_size |
//! | 82 | 6 | padding |
//! | 88 | 256 | salt |
//! | 344 | 168 | padding |
//!
//! The root hash is not stored: it must come from something trusted.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::params::MAX_SALT_LEN;
use crate::{Error, HashAlgorithm, Result, VerityParams};

/// Bytes of the superblock structure. The tree starts at the next hash block
/// boundary after it.
pub const SUPERBLOCK_LEN: usize = 512;

const SIGNATURE: &[u8; 8] = b"verity\0\0";
const VERSION: u32 = 1;
const HASH_TYPE: u32 = 1;

/// The 512 bytes of the superblock describing `params`.
pub fn encode(params: &VerityParams) -> Result<[u8; SUPERBLOCK_LEN]> {
    params.validate()?;
    let mut sb = [0u8; SUPERBLOCK_LEN];
    sb[0..8].copy_from_slice(SIGNATURE);
    sb[8..12].copy_from_slice(&VERSION.to_le_bytes());
    sb[12..16].copy_from_slice(&HASH_TYPE.to_le_bytes());
    sb[16..32].copy_from_slice(&params.uuid);
    let name = params.hash.name().as_bytes();
    sb[32..32 + name.len()].copy_from_slice(name);
    sb[64..68].copy_from_slice(&params.data_block_size.to_le_bytes());
    sb[68..72].copy_from_slice(&params.hash_block_size.to_le_bytes());
    sb[72..80].copy_from_slice(&params.data_blocks.to_le_bytes());
    // validate() bounds the salt to 256 bytes, so it fits a u16.
    sb[80..82].copy_from_slice(&(params.salt.len() as u16).to_le_bytes());
    sb[88..88 + params.salt.len()].copy_from_slice(&params.salt);
    Ok(sb)
}

/// Parses a superblock found at byte `offset` of a hash file. Only the first
/// 512 bytes of `bytes` are looked at; fewer is an error.
pub fn parse(bytes: &[u8], offset: u64) -> Result<VerityParams> {
    let bad =
        |field: &'static str, expected: String, found: String| Error::Superblock { offset, field, expected, found };
    let Some(sb) = bytes.get(..SUPERBLOCK_LEN) else {
        return Err(bad("length", format!("{SUPERBLOCK_LEN} bytes"), format!("{} bytes", bytes.len())));
    };
    let u32_at = |at: usize| u32::from_le_bytes([sb[at], sb[at + 1], sb[at + 2], sb[at + 3]]);
    if &sb[0..8] != SIGNATURE {
        return Err(bad("signature", "\"verity\\0\\0\"".into(), format!("{:?}", String::from_utf8_lossy(&sb[0..8]))));
    }
    let version = u32_at(8);
    if version != VERSION {
        return Err(bad("version", VERSION.to_string(), version.to_string()));
    }
    let hash_type = u32_at(12);
    if hash_type != HASH_TYPE {
        return Err(bad(
            "hash_type",
            format!("{HASH_TYPE} (0, the Chrome OS format, is not supported)"),
            hash_type.to_string(),
        ));
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&sb[16..32]);
    let algorithm = &sb[32..64];
    let name_len = algorithm.iter().position(|&b| b == 0).unwrap_or(algorithm.len());
    if algorithm[name_len..].iter().any(|&b| b != 0) {
        return Err(bad("algorithm", "a NUL-padded name".into(), hex::encode(algorithm)));
    }
    let name = std::str::from_utf8(&algorithm[..name_len])
        .map_err(|_| bad("algorithm", "an ASCII name".into(), hex::encode(&algorithm[..name_len])))?;
    let hash = HashAlgorithm::from_name(name)
        .map_err(|_| bad("algorithm", "one of sha1, sha256, sha512".into(), format!("{name:?}")))?;
    let data_block_size = u32_at(64);
    let hash_block_size = u32_at(68);
    let data_blocks = u64::from_le_bytes(sb[72..80].try_into().unwrap_or([0; 8]));
    let salt_size = usize::from(u16::from_le_bytes([sb[80], sb[81]]));
    if salt_size > MAX_SALT_LEN {
        return Err(bad("salt_size", format!("at most {MAX_SALT_LEN}"), salt_size.to_string()));
    }
    if data_blocks == 0 {
        return Err(bad("data_blocks", "at least 1".into(), "0".into()));
    }
    let params = VerityParams {
        hash,
        data_block_size,
        hash_block_size,
        data_blocks,
        salt: sb[88..88 + salt_size].to_vec(),
        hash_offset: offset,
        superblock: true,
        uuid,
    };
    params.validate().map_err(|e| bad("block sizes", "valid verity parameters".into(), e.to_string()))?;
    Ok(params)
}

/// Reads the superblock at byte `hash_offset` of the file `hash`, checking
/// that the file is long enough to hold it.
pub fn read_superblock(hash: &Path, hash_offset: u64) -> Result<VerityParams> {
    let io = |source| Error::Io { path: hash.display().to_string(), source };
    let file = File::open(hash).map_err(io)?;
    // Seek to the end rather than stat: a block device (the hash device in
    // a guest) has st_size 0.
    let len = std::io::Seek::seek(&mut &file, std::io::SeekFrom::End(0)).map_err(io)?;
    let end = hash_offset.checked_add(SUPERBLOCK_LEN as u64);
    if end.is_none_or(|end| end > len) {
        return Err(Error::Superblock {
            offset: hash_offset,
            field: "length",
            expected: format!("{SUPERBLOCK_LEN} bytes at byte {hash_offset}"),
            found: format!("a file of {len} bytes"),
        });
    }
    let mut buf = [0u8; SUPERBLOCK_LEN];
    file.read_exact_at(&mut buf, hash_offset).map_err(io)?;
    parse(&buf, hash_offset)
}

/// Compares a superblock read from disk with the parameters a caller gave,
/// field by field (the UUID is not compared: the kernel does not use it).
pub(crate) fn check_matches(found: &VerityParams, want: &VerityParams) -> Result<()> {
    let bad = |field: &'static str, expected: String, found: String| Error::Superblock {
        offset: want.hash_offset,
        field,
        expected,
        found,
    };
    if found.hash != want.hash {
        return Err(bad("algorithm", want.hash.name().into(), found.hash.name().into()));
    }
    if found.data_block_size != want.data_block_size {
        return Err(bad("data_block_size", want.data_block_size.to_string(), found.data_block_size.to_string()));
    }
    if found.hash_block_size != want.hash_block_size {
        return Err(bad("hash_block_size", want.hash_block_size.to_string(), found.hash_block_size.to_string()));
    }
    if found.data_blocks != want.data_blocks {
        return Err(bad("data_blocks", want.data_blocks.to_string(), found.data_blocks.to_string()));
    }
    if found.salt != want.salt {
        return Err(bad("salt", hex::encode(&want.salt), hex::encode(&found.salt)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> VerityParams {
        VerityParams {
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: 16384,
            salt: (0u8..32).collect(),
            hash_offset: 8192,
            superblock: true,
            uuid: [0x11; 16],
        }
    }

    #[test]
    fn round_trip() {
        let p = params();
        let sb = encode(&p).unwrap();
        assert_eq!(&sb[0..8], b"verity\0\0");
        assert_eq!(&sb[32..38], b"sha256");
        assert_eq!(parse(&sb, 8192).unwrap(), p);
    }

    #[test]
    fn rejects_hostile_fields() {
        let good = encode(&params()).unwrap();
        let cases: [(usize, &[u8], &str); 7] = [
            (0, b"Verity", "signature"),
            (8, &2u32.to_le_bytes(), "version"),
            (12, &0u32.to_le_bytes(), "hash_type"),
            (32, b"md5\0\0\0", "algorithm"),
            (64, &100u32.to_le_bytes(), "block sizes"),
            (80, &257u16.to_le_bytes(), "salt_size"),
            (72, &0u64.to_le_bytes(), "data_blocks"),
        ];
        for (at, bytes, field) in cases {
            let mut sb = good;
            sb[at..at + bytes.len()].copy_from_slice(bytes);
            match parse(&sb, 8192) {
                Err(Error::Superblock { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(parse(&good[..511], 0), Err(Error::Superblock { field: "length", .. })));
    }
}
