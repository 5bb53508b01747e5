//! `arca_verity` against `veritysetup` (Debian cryptsetup-bin 2.6.1): the
//! same data, salt and parameters must give the same root hash and a
//! byte-identical hash file (superblock and tree), in every layout; trees
//! we build must pass `veritysetup verify`; a flipped bit must fail both
//! tools' checks, ours naming the block. Also the reference vectors recorded
//! in `shared/design/reference/infra.md` §5.

use std::path::{Path, PathBuf};
use std::process::Command;

use arca_e2e::{arca_binary, require_tools, run};
use arca_verity::{Area, Error, FormatOptions, HashAlgorithm};

const UUID: &str = "11111111-2222-3333-4444-555555555555";
const UUID_BYTES: [u8; 16] =
    [0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55];

/// Deterministic, incompressible test data (xorshift64*).
fn pattern(len: u64, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// One `veritysetup format` / `arca_verity::format` configuration.
#[derive(Debug, Clone)]
struct Case {
    hash: HashAlgorithm,
    data_block_size: u32,
    hash_block_size: u32,
    salt: Vec<u8>,
    hash_offset: u64,
    superblock: bool,
    data_blocks: Option<u64>,
}

impl Case {
    fn new(hash: HashAlgorithm, data_block_size: u32, hash_block_size: u32, salt: Vec<u8>) -> Self {
        Self { hash, data_block_size, hash_block_size, salt, hash_offset: 0, superblock: true, data_blocks: None }
    }

    fn veritysetup_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--hash={}", self.hash.name()),
            format!("--data-block-size={}", self.data_block_size),
            format!("--hash-block-size={}", self.hash_block_size),
            format!("--salt={}", if self.salt.is_empty() { "-".to_string() } else { hex::encode(&self.salt) }),
            format!("--hash-offset={}", self.hash_offset),
        ];
        if self.superblock {
            args.push(format!("--uuid={UUID}"));
        } else {
            args.push("--no-superblock".into());
        }
        if let Some(n) = self.data_blocks {
            args.push(format!("--data-blocks={n}"));
        }
        args
    }

    fn options(&self) -> FormatOptions {
        FormatOptions {
            hash: self.hash,
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            data_blocks: self.data_blocks,
            salt: Some(self.salt.clone()),
            hash_offset: self.hash_offset,
            superblock: self.superblock,
            uuid: self.superblock.then_some(UUID_BYTES),
            threads: 2,
        }
    }
}

/// `veritysetup format`'s root hash, from its output.
fn veritysetup_format(data: &Path, hash: &Path, case: &Case) -> String {
    let out = run(Command::new("veritysetup").arg("format").arg(data).arg(hash).args(case.veritysetup_args()));
    root_from_output(&String::from_utf8_lossy(&out.stdout))
}

fn root_from_output(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no root hash in {stdout}"))
}

/// Formats `data` with both tools in the layout the case asks for (separate
/// hash file, or appended when `appended`) and checks root hash and bytes.
fn compare(dir: &Path, data: &[u8], case: &Case, appended: bool) {
    let ours_data = dir.join("ours.img");
    let theirs_data = dir.join("theirs.img");
    std::fs::write(&ours_data, data).unwrap();
    std::fs::write(&theirs_data, data).unwrap();
    let (ours_hash, theirs_hash) = if appended {
        (ours_data.clone(), theirs_data.clone())
    } else {
        (dir.join("ours.hash"), dir.join("theirs.hash"))
    };
    let _ = std::fs::remove_file(dir.join("ours.hash"));
    let _ = std::fs::remove_file(dir.join("theirs.hash"));
    let theirs = veritysetup_format(&theirs_data, &theirs_hash, case);
    let ours = arca_verity::format(&ours_data, &ours_hash, &case.options())
        .unwrap_or_else(|e| panic!("{case:?} over {} bytes: {e}", data.len()));
    assert_eq!(hex::encode(&ours.root_hash), theirs, "root hash of {case:?} over {} bytes", data.len());
    let (a, b) = (std::fs::read(&ours_hash).unwrap(), std::fs::read(&theirs_hash).unwrap());
    assert!(
        a == b,
        "hash file of {case:?} over {} bytes: {} vs {} bytes, first difference at {:?}",
        data.len(),
        a.len(),
        b.len(),
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
    arca_verity::verify(&ours_data, &ours_hash, &ours.params, &ours.root_hash)
        .unwrap_or_else(|e| panic!("our verify of {case:?}: {e}"));
}

#[test]
fn trees_equal_veritysetup_over_sizes_hashes_and_block_sizes() {
    if !require_tools("verity trees against veritysetup", &["veritysetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let salts: [Vec<u8>; 4] = [(0u8..32).collect(), Vec::new(), vec![0xa5], (0..=255u8).collect()];
    let mut compared = 0;
    for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha1, HashAlgorithm::Sha512] {
        for (dbs, hbs) in [(4096u32, 4096u32), (512, 512), (1024, 4096), (4096, 512), (512, 2048), (8192, 8192)] {
            let per = u64::from(hbs) / hash.digest_len().next_power_of_two() as u64;
            let d = u64::from(dbs);
            // 1 and 2 blocks, a partial trailing block, exactly one full hash
            // block, one digest more (two levels), and three levels where that
            // stays small.
            let mut sizes = vec![d, d + 100, 2 * d, per * d, (per + 1) * d - 1 + d, (per + 1) * d];
            if (per * per + 1) * d <= 12 << 20 {
                sizes.push((per * per + 1) * d + 7);
            }
            for (i, size) in sizes.into_iter().enumerate() {
                let case = Case::new(hash, dbs, hbs, salts[(compared + i) % salts.len()].clone());
                compare(dir.path(), &pattern(size, size ^ u64::from(dbs)), &case, false);
                compared += 1;
            }
        }
    }
    assert!(compared > 100, "{compared} cases");
}

#[test]
fn appended_offset_and_no_superblock_layouts_equal_veritysetup() {
    if !require_tools("verity layouts against veritysetup", &["veritysetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(1_000_000, 7);
    let salt: Vec<u8> = (0u8..32).collect();
    let base = Case::new(HashAlgorithm::Sha256, 4096, 4096, salt.clone());
    let blocks = 1_000_000 / 4096;
    let cases = [
        // Appended right after the covered blocks (the tail of the last
        // partial block is overwritten, as veritysetup does).
        (Case { data_blocks: Some(blocks), hash_offset: blocks * 4096, ..base.clone() }, true),
        // Appended past the end of the data, at a 512-byte (not 4096) multiple.
        (Case { data_blocks: Some(blocks), hash_offset: 1_000_448, ..base.clone() }, true),
        (Case { data_blocks: Some(blocks), hash_offset: 1_003_520, superblock: false, ..base.clone() }, true),
        // Separate hash file with a gap before the superblock, and without one.
        (Case { hash_offset: 8192, ..base.clone() }, false),
        (Case { hash_offset: 1536, ..base.clone() }, false),
        (Case { superblock: false, ..base.clone() }, false),
        (Case { superblock: false, hash_offset: 12288, ..base.clone() }, false),
        // Fewer data blocks than the file holds.
        (Case { data_blocks: Some(100), ..base.clone() }, false),
        (Case { hash: HashAlgorithm::Sha512, data_block_size: 512, hash_block_size: 1024, ..base.clone() }, false),
    ];
    for (case, appended) in cases {
        compare(dir.path(), &data, &case, appended);
    }
}

#[test]
fn data_without_a_whole_block_and_overlaps_are_refused_like_veritysetup() {
    if !require_tools("verity refusals against veritysetup", &["veritysetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("small.img");
    for len in [0usize, 100, 4095] {
        std::fs::write(&data, vec![1u8; len]).unwrap();
        let theirs = Command::new("veritysetup").arg("format").arg(&data).arg(dir.path().join("theirs.hash")).output();
        assert!(!theirs.unwrap().status.success(), "veritysetup formats {len} bytes");
        let ours = arca_verity::format(&data, &dir.path().join("ours.hash"), &FormatOptions::default());
        assert!(matches!(ours, Err(Error::InvalidParameter { name: "data-blocks", .. })), "{len} bytes: {ours:?}");
    }
    std::fs::write(&data, vec![1u8; 8192]).unwrap();
    let overlap = FormatOptions { hash_offset: 4096, ..FormatOptions::default() };
    let ours = arca_verity::format(&data, &data, &overlap);
    assert!(matches!(ours, Err(Error::InvalidParameter { name: "hash-offset", .. })), "{ours:?}");
    let theirs = Command::new("veritysetup").arg("format").arg(&data).arg(&data).arg("--hash-offset=4096").output();
    assert!(!theirs.unwrap().status.success());
    let too_many = FormatOptions { data_blocks: Some(3), ..FormatOptions::default() };
    assert!(arca_verity::format(&data, &dir.path().join("h"), &too_many).is_err());
}

/// `arca image verity format` prints what `veritysetup format` prints.
#[test]
fn cli_format_prints_like_veritysetup() {
    if !require_tools("arca image verity format against veritysetup", &["veritysetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    for d in [&ours, &theirs] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("data.img"), pattern(3 << 20, 3)).unwrap();
    }
    let args_sets: [&[&str]; 4] = [
        &["data.img", "hash.img", "--salt", "00112233", "--uuid", UUID],
        &["data.img", "hash.img", "--salt", "-", "--no-superblock", "--hash", "sha1", "--data-block-size", "512"],
        &["data.img", "hash.img", "--salt", "ab", "--uuid", UUID, "--hash-offset", "8192", "--hash-block-size", "1024"],
        &["data.img", "data.img", "--salt", "ab", "--uuid", UUID, "--hash-offset", "3145728"],
    ];
    for args in args_sets {
        let a = run(Command::new(arca_binary()).args(["image", "verity", "format"]).args(args).current_dir(&ours));
        let b = run(Command::new("veritysetup").arg("format").args(args).current_dir(&theirs));
        assert_eq!(String::from_utf8_lossy(&a.stdout), String::from_utf8_lossy(&b.stdout), "{args:?}");
        assert_eq!(
            std::fs::read(ours.join(args[1])).unwrap(),
            std::fs::read(theirs.join(args[1])).unwrap(),
            "{args:?}"
        );
        let _ = std::fs::remove_file(ours.join("hash.img"));
        let _ = std::fs::remove_file(theirs.join("hash.img"));
    }
    // HASH omitted: appended to DATA at its size rounded up to the hash block.
    std::fs::write(ours.join("odd.img"), pattern(10_000, 4)).unwrap();
    let out = run(Command::new(arca_binary()).args(["image", "verity", "format", "odd.img"]).current_dir(&ours));
    let root = root_from_output(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(std::fs::metadata(ours.join("odd.img")).unwrap().len(), 12288 + 4096 + 4096);
    run(Command::new("veritysetup")
        .args(["verify", "odd.img", "odd.img", &root, "--hash-offset=12288"])
        .current_dir(&ours));
}

/// Trees we build (random salt and UUID, as by default) pass
/// `veritysetup verify`; after one flipped bit both tools refuse, and ours
/// names the block.
#[test]
fn veritysetup_verify_accepts_our_trees_and_both_catch_a_flipped_bit() {
    if !require_tools("veritysetup verify of our trees", &["veritysetup"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.img");
    let hash = dir.path().join("hash.img");
    std::fs::write(&data, pattern(6 << 20, 11)).unwrap();
    let formatted = arca_verity::format(&data, &hash, &FormatOptions::default()).unwrap();
    let root = hex::encode(&formatted.root_hash);
    let verify = |extra: &[&str]| {
        Command::new("veritysetup").arg("verify").arg(&data).arg(&hash).arg(&root).args(extra).status().unwrap()
    };
    assert!(verify(&[]).success(), "veritysetup verify refuses our tree");
    let params = arca_verity::read_superblock(&hash, 0).unwrap();
    assert_eq!(params, formatted.params);

    // A bit of data block 1000.
    flip(&data, 1000 * 4096 + 17, 0x04);
    assert!(!verify(&[]).success(), "veritysetup verify misses a flipped data bit");
    let err = arca_verity::verify(&data, &hash, &params, &formatted.root_hash).unwrap_err();
    assert!(matches!(err, Error::Corrupt { area: Area::Data, block: 1000, level: None, .. }), "{err}");
    let cli = Command::new(arca_binary())
        .args(["image", "verity", "verify"])
        .arg(&data)
        .arg(&hash)
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("data block 1000 "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    flip(&data, 1000 * 4096 + 17, 0x04);
    assert!(verify(&[]).success());

    // A bit of the level-0 hash block 3 (tree: superblock, 1 top block, 12 level-0 blocks).
    flip(&hash, (2 + 3) * 4096 + 100, 0x80);
    assert!(!verify(&[]).success(), "veritysetup verify misses a flipped hash bit");
    let err = arca_verity::verify(&data, &hash, &params, &formatted.root_hash).unwrap_err();
    assert!(matches!(err, Error::Corrupt { area: Area::Hash, block: 3, level: Some(0), .. }), "{err}");
    let cli = Command::new(arca_binary())
        .args(["image", "verity", "verify", "--block", "400"])
        .arg(&data)
        .arg(&hash)
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(1), "{}", String::from_utf8_lossy(&cli.stderr));
    assert!(String::from_utf8_lossy(&cli.stderr).contains("hash block 3 of hash level 0"));
    let ok = Command::new(arca_binary())
        .args(["image", "verity", "verify", "--block", "5"])
        .arg(&data)
        .arg(&hash)
        .arg(&root)
        .output()
        .unwrap();
    assert!(ok.status.success(), "block 5 is not under the bad hash block");
}

fn flip(path: &Path, offset: u64, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

/// The vectors recorded in `shared/design/reference/infra.md` §5
/// (cryptsetup 2.6.1 over 64 MiB of Python `random.Random(42)` bytes and of zeros).
#[test]
fn reference_vectors_from_infra_md() {
    if !require_tools("the infra.md verity vectors", &["python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.img");
    run(Command::new("python3").arg("-c").arg(format!(
        "import random; r = random.Random(42); open({:?}, 'wb').write(b''.join(r.randbytes(1 << 20) for _ in range(64)))",
        data.display()
    )));
    let salt: Vec<u8> = (0u8..32).collect();
    let options = FormatOptions { salt: Some(salt.clone()), uuid: Some(UUID_BYTES), ..FormatOptions::default() };
    let want = "352660f0e741cdf074bd5dd5597889afcc7252445fd4da9aa448f90aefb64447";

    let hash = dir.path().join("hash.img");
    let separate = arca_verity::format(&data, &hash, &options).unwrap();
    assert_eq!(hex::encode(&separate.root_hash), want);
    assert_eq!(std::fs::metadata(&hash).unwrap().len(), 532_480);

    let no_sb = dir.path().join("nosb.img");
    let plain = arca_verity::format(&data, &no_sb, &FormatOptions { superblock: false, ..options.clone() }).unwrap();
    assert_eq!(hex::encode(&plain.root_hash), want);
    assert_eq!(std::fs::metadata(&no_sb).unwrap().len(), 528_384);

    let appended = FormatOptions { data_blocks: Some(16384), hash_offset: 67_108_864, ..options.clone() };
    let combined: PathBuf = data.clone();
    let app = arca_verity::format(&data, &combined, &appended).unwrap();
    assert_eq!(hex::encode(&app.root_hash), want);
    assert_eq!(std::fs::metadata(&combined).unwrap().len(), 67_641_344);
    assert_eq!(arca_verity::read_superblock(&combined, 67_108_864).unwrap(), app.params);

    let zeros = dir.path().join("zeros.img");
    std::fs::write(&zeros, vec![0u8; 64 << 20]).unwrap();
    let z = arca_verity::format(&zeros, &dir.path().join("z.hash"), &options).unwrap();
    assert_eq!(hex::encode(&z.root_hash), "1cef239a7493a1a8913fb5ee549ea91c0617877c6c9a635798c7a1fec3746b5b");
    let unsalted = FormatOptions { salt: Some(Vec::new()), ..options };
    let z = arca_verity::format(&zeros, &dir.path().join("z2.hash"), &unsalted).unwrap();
    assert_eq!(hex::encode(&z.root_hash), "45d65d6f9e5a962f4d80b5f1bd7a918152251c27bdad8c5f52b590c129833372");
}
