//! dm-verity in a real guest: a verity-protected EROFS image built on the
//! host is opened by `arca image verity open` (Arca's device-mapper code) in
//! a QEMU (TCG) guest running the Debian 6.1 kernel, mounted read-only, and
//! its files read back equal; after the host corrupts one data block, the
//! guest's read of the file holding it fails with EIO and the kernel names
//! the block.

use std::path::{Path, PathBuf};
use std::process::Command;

use arca_e2e::guest::{Guest, GuestKernel, GuestRun, Initramfs};
use arca_e2e::{arca_binary, require_tools, run};
use sha2::{Digest, Sha256};

const BLOCK: usize = 4096;
const SALT: &str = "5a17000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d";
/// The files of the layer, as the guest reads them.
const FILES: [&str; 4] = ["hello.txt", "big.bin", "dir/nested.bin", "empty"];

/// Deterministic bytes that differ per seed and per block (so any 4 KiB of a
/// file is found once in the image).
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest([&[seed][..], &counter.to_le_bytes()].concat()));
        counter += 1;
    }
    out.truncate(len);
    out
}

fn source_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("hello.txt".to_owned(), b"hello from a verity-protected layer\n".to_vec()),
        ("big.bin".to_owned(), pattern(1, 300 * 1024 + 123)),
        ("dir/nested.bin".to_owned(), pattern(2, 64 * 1024)),
        ("empty".to_owned(), Vec::new()),
    ];
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    files
}

/// The layer: an uncompressed EROFS image (so file blocks are image blocks)
/// with its verity tree appended (superblock at the image's end). Returns
/// (image, data size, root hash hex).
fn build_layer(work: &Path) -> (PathBuf, u64, String, Vec<(String, Vec<u8>)>) {
    let src = work.join("src");
    let files = source_tree(&src);
    let image = work.join("layer.erofs");
    run(Command::new("mkfs.erofs")
        .args(["-T0", "-U", "6b9a3c2e-51f0-4d3a-9c1e-2f8b7a6d5e4c", "--all-root", "-Enoinline_data"])
        .arg(&image)
        .arg(&src));
    let size = std::fs::metadata(&image).unwrap().len();
    assert_eq!(size % BLOCK as u64, 0, "mkfs.erofs writes whole blocks");
    // The tree appended at the end of the image, superblock first, by Arca.
    let out = run(Command::new(arca_binary())
        .args(["image", "verity", "format"])
        .arg(&image)
        .arg(format!("--hash-offset={size}"))
        .arg(format!("--salt={SALT}")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let root = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .map(|r| r.trim().to_owned())
        .unwrap_or_else(|| panic!("no root hash in {stdout}"));
    (image, size, root, files)
}

fn guest_script(size: u64, root: &str) -> String {
    // The parameters come from the superblock on the device, as with `veritysetup open`.
    let mut script = format!(
        r#"if arca image verity open /dev/vda layer /dev/vda {root} --hash-offset {size}; then echo OPENED; else echo "OPEN-FAILED rc=$?"; fi
mkdir -p /mnt/layer
mount -t erofs -o ro /dev/mapper/layer /mnt/layer || echo MOUNT-FAILED
cat /sys/block/dm-0/dm/name /sys/block/dm-0/ro 2>/dev/null | sed 's/^/DM /'
"#
    );
    for file in FILES {
        script.push_str(&format!(
            "if out=$(sha256sum /mnt/layer/{file} 2>&1); then echo \"SUM $out\"; else echo \"READ-FAILED {file}: $out\"; fi\n"
        ));
    }
    script.push_str(
        r#"dmesg | grep -i verity | sed 's/^/KLOG /'
umount /mnt/layer
if arca image verity close layer; then echo CLOSED; else echo "CLOSE-FAILED rc=$?"; fi
"#,
    );
    script
}

/// The guest's `SUM <hex>  /mnt/layer/<file>` lines as (file, hex).
fn sums(run: &GuestRun) -> Vec<(String, String)> {
    run.lines_with("SUM ")
        .into_iter()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            Some((path.trim_start_matches("/mnt/layer/").to_owned(), hash.to_owned()))
        })
        .collect()
}

#[test]
fn erofs_layer_on_dm_verity_reads_back_and_corruption_is_eio() {
    let Some(kernel) = GuestKernel::debian() else { return };
    if !require_tools("the dm-verity guest test", &["qemu-system-x86_64", "mkfs.erofs", "busybox", "cpio"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (image, size, root, files) = build_layer(work.path());

    let mut initramfs = Initramfs::new(work.path(), &kernel);
    initramfs
        .modules(&kernel, &["virtio_pci", "virtio_blk", "dm-verity", "crc32c_generic", "erofs"])
        .binary(arca_binary(), "/bin/arca")
        .init(&guest_script(size, &root));
    let initrd = initramfs.build(&work.path().join("initramfs.cpio"));

    // 1. Intact image: every file reads back equal.
    let intact = Guest::new(&kernel, &initrd).drive(&image, true).run();
    eprintln!(
        "guest (intact): /init at {:?} s guest uptime, {:.1} s wall",
        intact.boot_uptime,
        intact.wall.as_secs_f64()
    );
    let console = &intact.console;
    assert!(intact.finished(), "guest did not finish:\n{console}");
    assert!(intact.lines_with("MOD-FAIL").is_empty(), "modules failed to load:\n{console}");
    assert!(console.contains("OPENED"), "open failed:\n{console}");
    assert_eq!(intact.lines_with("DM "), ["layer", "1"], "dm-0 is the read-only layer:\n{console}");
    let want: Vec<(String, String)> =
        files.iter().map(|(name, bytes)| (name.clone(), hex::encode(Sha256::digest(bytes)))).collect();
    assert_eq!(sums(&intact), want, "guest read different files:\n{console}");
    assert!(console.contains("CLOSED"), "close failed:\n{console}");

    // 2. One data block of big.bin flipped on the host: that read fails with
    // EIO, the kernel names the block, the other files still read back.
    let (_, big) = &files[1];
    let mut bytes = std::fs::read(&image).unwrap();
    let probe = &big[2 * BLOCK..3 * BLOCK];
    let offset = bytes[..size as usize]
        .windows(BLOCK)
        .step_by(BLOCK)
        .position(|w| w == probe)
        .expect("big.bin's third block is block-aligned in the uncompressed image")
        * BLOCK;
    let block = offset / BLOCK;
    bytes[offset + 100] ^= 0x01;
    let corrupt = work.path().join("layer-corrupt.erofs");
    std::fs::write(&corrupt, &bytes).unwrap();

    let damaged = Guest::new(&kernel, &initrd).drive(&corrupt, true).run();
    eprintln!(
        "guest (corrupt block {block}): /init at {:?} s guest uptime, {:.1} s wall",
        damaged.boot_uptime,
        damaged.wall.as_secs_f64()
    );
    let console = &damaged.console;
    assert!(damaged.finished(), "guest did not finish:\n{console}");
    let failed = damaged.lines_with("READ-FAILED ");
    assert_eq!(failed.len(), 1, "exactly big.bin fails:\n{console}");
    assert!(
        failed[0].starts_with("big.bin:") && failed[0].contains("Input/output error"),
        "big.bin fails with EIO: {:?}\n{console}",
        failed[0]
    );
    let others: Vec<(String, String)> = want.iter().filter(|(name, _)| name != "big.bin").cloned().collect();
    assert_eq!(sums(&damaged), others, "untouched files still read back:\n{console}");
    let named = format!("data block {block} is corrupted");
    assert!(
        damaged.lines_with("KLOG ").iter().any(|l| l.contains(&named)),
        "kernel log names block {block}:\n{console}"
    );
    assert!(console.contains("CLOSED"), "close failed:\n{console}");
}
