//! dm-verity in a real guest: a verity-protected EROFS image built on the
//! host is opened by `arca image verity open` (Arca's device-mapper code) in
//! a QEMU (TCG) guest running the Debian 6.1 kernel, mounted read-only, and
//! its files read back equal; after the host corrupts one data block, the
//! guest's read of the file holding it fails with EIO and the kernel names
//! the block.

use std::path::{Path, PathBuf};
use std::process::Command;

use arca_e2e::guest::{Guest, GuestKernel, GuestRun, Initramfs};
use arca_e2e::{
    arca_binary, require_tools, run, skopeo_copy, Layer, LayoutBuilder, Registry, RegistryOptions, TarEntry,
};
use arca_image::erofs::ErofsLayers;
use arca_verity::table::{self, KernelVerityParams};
use arca_verity::VerityParams;
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

fn guest_script(size: u64, root: &str, kata: &KernelVerityParams) -> String {
    let files = FILES.join(" ");
    // The appended layer: parameters from the superblock on the device, as with `veritysetup open`.
    // The Kata layout: data and tree on two devices, no superblock, parameters from `kernel_verity_params`.
    format!(
        r#"export DM_DISABLE_UDEV=1
check() {{
  mkdir -p /mnt/$1
  mount -t erofs -o ro /dev/mapper/$1 /mnt/$1 || echo "MOUNT-FAILED $1"
  for f in {files}; do
    if out=$(sha256sum /mnt/$1/$f 2>&1); then echo "SUM $1 $out"; else echo "READ-FAILED $1 $f: $out"; fi
  done
  echo "TABLE $1 $(dmsetup table $1)"
  umount /mnt/$1
  if arca image verity close $1; then echo "CLOSED $1"; else echo "CLOSE-FAILED $1 rc=$?"; fi
}}
echo "DEV vda $(cat /sys/block/vda/dev)"
if arca image verity open /dev/vda layer /dev/vda {root} --hash-offset {size}; then echo "OPENED layer"; fi
for d in /sys/block/dm-*; do echo "DM $(cat $d/dm/name) ro=$(cat $d/ro)"; done
check layer
# A table the kernel refuses (no such data device): open fails, no device is left behind.
if arca image verity open /dev/vdz bad /dev/vda {root} --hash-offset {size} 2>/tmp/err; then echo "BAD-OPENED"; else echo "BAD-OPEN-REFUSED $(cat /tmp/err)"; fi
echo "DM-LIST $(dmsetup ls | tr '\n' ' ')"
if arca image verity close bad 2>/dev/null; then echo "BAD-CLOSED"; else echo "BAD-CLOSE-REFUSED"; fi
if arca image verity open /dev/vdb rootfs /dev/vdc {kroot} --no-superblock --data-blocks {blocks} --data-block-size {dbs} --hash-block-size {hbs} --salt {salt}; then echo "OPENED rootfs"; fi
check rootfs
dmesg | grep -i verity | sed 's/^/KLOG /'
"#,
        kroot = hex::encode(&kata.root_hash),
        blocks = kata.data_blocks,
        dbs = kata.data_block_size,
        hbs = kata.hash_block_size,
        salt = hex::encode(&kata.salt),
    )
}

/// The guest's `SUM <device> <hex>  /mnt/<device>/<file>` lines for `device` as (file, hex).
fn sums(run: &GuestRun, device: &str) -> Vec<(String, String)> {
    run.lines_with(&format!("SUM {device} "))
        .into_iter()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            Some((path.trim_start_matches(&format!("/mnt/{device}/")).to_owned(), hash.to_owned()))
        })
        .collect()
}

/// Kata's rootfs layout for the same data: the tree in a file of its own,
/// no superblock; returns the tree file and Kata's `kernel_verity_params`.
fn kata_layout(work: &Path, data: &Path, size: u64) -> (PathBuf, KernelVerityParams) {
    let hash = work.join("rootfs.hash");
    let out = run(Command::new(arca_binary()).args(["image", "verity", "format"]).arg(data).arg(&hash).args([
        "--no-superblock",
        &format!("--data-blocks={}", size / BLOCK as u64),
        &format!("--salt={SALT}"),
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let root = stdout.lines().find_map(|l| l.strip_prefix("Root hash:")).expect("root hash printed").trim();
    let value = format!(
        "root_hash={root},salt={SALT},data_blocks={},data_block_size=4096,hash_block_size=4096",
        size / BLOCK as u64
    );
    (hash, KernelVerityParams::parse(&value).expect("Kata's kernel_verity_params"))
}

/// The table the kernel reports for `device` (`dmsetup table`) is the one
/// `table_line` writes, with the devices as the kernel names them.
fn assert_table(run: &GuestRun, device: &str, params: &VerityParams, root: &[u8]) {
    let reported = run.lines_with(&format!("TABLE {device} "));
    let line = reported.first().unwrap_or_else(|| panic!("no table for {device}:\n{}", run.console));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() > 5, "table {line:?}");
    assert_eq!(line.trim(), table::table_line(params, root, fields[4], fields[5]), "kernel's table for {device}");
}

#[test]
fn erofs_layer_on_dm_verity_reads_back_and_corruption_is_eio() {
    let Some(kernel) = GuestKernel::debian() else { return };
    if !require_tools("the dm-verity guest test", &["qemu-system-x86_64", "mkfs.erofs", "busybox", "cpio", "dmsetup"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (image, size, root, files) = build_layer(work.path());
    let layer_params = arca_verity::read_superblock(&image, size).expect("superblock after the image");
    let root_bytes = hex::decode(&root).unwrap();
    let (kata_hash, kata) = kata_layout(work.path(), &image, size);
    assert_eq!(kata.root_hash, root_bytes, "same data and salt, same root, superblock or not");

    let mut initramfs = Initramfs::new(work.path(), &kernel);
    initramfs
        .modules(&kernel, &["virtio_pci", "virtio_blk", "dm-verity", "crc32c_generic", "erofs"])
        .binary(arca_binary(), "/bin/arca")
        .binary(Path::new("/usr/sbin/dmsetup"), "/bin/dmsetup")
        .init(&guest_script(size, &root, &kata));
    let initrd = initramfs.build(&work.path().join("initramfs.cpio"));
    let want: Vec<(String, String)> =
        files.iter().map(|(name, bytes)| (name.clone(), hex::encode(Sha256::digest(bytes)))).collect();

    // 1. Intact image: every file reads back equal, through both layouts.
    let intact = Guest::new(&kernel, &initrd).drive(&image, true).drive(&image, true).drive(&kata_hash, true).run();
    eprintln!(
        "guest (intact): /init at {:?} s guest uptime, {:.1} s wall",
        intact.boot_uptime,
        intact.wall.as_secs_f64()
    );
    let console = &intact.console;
    assert!(intact.finished(), "guest did not finish:\n{console}");
    assert!(intact.lines_with("MOD-FAIL").is_empty(), "modules failed to load:\n{console}");
    assert_eq!(intact.lines_with("OPENED "), ["layer", "rootfs"], "open failed:\n{console}");
    assert_eq!(intact.lines_with("DM "), ["layer ro=1"], "one read-only device:\n{console}");
    assert!(intact.lines_with("READ-FAILED ").is_empty(), "reads failed:\n{console}");
    assert_eq!(sums(&intact, "layer"), want, "guest read different files:\n{console}");
    assert_eq!(sums(&intact, "rootfs"), want, "guest read different files (Kata layout):\n{console}");
    assert_table(&intact, "layer", &layer_params, &root_bytes);
    assert_table(&intact, "rootfs", &kata.params(), &kata.root_hash);
    let vda = intact.lines_with("DEV vda ");
    assert!(
        intact
            .lines_with("TABLE layer ")
            .iter()
            .all(|t| t.split_whitespace().nth(4) == vda.first().map(String::as_str)),
        "the layer's data device is vda ({vda:?}):\n{console}"
    );
    assert_eq!(intact.lines_with("CLOSED "), ["layer", "rootfs"], "close failed:\n{console}");
    let refused = intact.lines_with("BAD-OPEN-REFUSED ");
    assert!(
        refused.first().is_some_and(|e| e.contains("load table of \"bad\" failed: No such device")),
        "a table naming a missing device is refused by the kernel, and the error says which step:\n{console}"
    );
    assert!(
        intact.lines_with("DM-LIST ").first().is_some_and(|l| !l.contains("bad")),
        "the refused device was removed again:\n{console}"
    );
    assert!(console.contains("BAD-CLOSE-REFUSED"), "closing a device that is not there fails:\n{console}");

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

    let damaged = Guest::new(&kernel, &initrd).drive(&corrupt, true).drive(&image, true).drive(&kata_hash, true).run();
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
        failed[0].starts_with("layer big.bin:") && failed[0].contains("Input/output error"),
        "big.bin fails with EIO: {:?}\n{console}",
        failed[0]
    );
    let others: Vec<(String, String)> = want.iter().filter(|(name, _)| name != "big.bin").cloned().collect();
    assert_eq!(sums(&damaged, "layer"), others, "untouched files still read back:\n{console}");
    assert_eq!(sums(&damaged, "rootfs"), want, "the intact copy still reads back:\n{console}");
    let named = format!("data block {block} is corrupted");
    assert!(
        damaged.lines_with("KLOG ").iter().any(|l| l.contains(&named)),
        "kernel log names block {block}:\n{console}"
    );
    assert_eq!(damaged.lines_with("CLOSED "), ["layer", "rootfs"], "close failed:\n{console}");
}

/// An image's layers as `arca image erofs` builds them (EROFS + appended
/// tree each, recorded in layers.json), each opened with dm-verity in the
/// guest from its recorded root hash and offset, mounted read-only and
/// overlaid in order: the guest sees the image's files, whiteouts applied.
#[test]
fn layers_from_arca_image_erofs_overlay_in_the_guest() {
    let Some(kernel) = GuestKernel::debian() else { return };
    if !require_tools(
        "the EROFS layers guest test",
        &["qemu-system-x86_64", "mkfs.erofs", "busybox", "cpio", "skopeo", "docker-registry"],
    ) {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let blob = pattern(3, 200 * 1024 + 7);
    let base = Layer::gzip(vec![
        TarEntry::dir("etc"),
        TarEntry::file("etc/keep.txt", "kept\n"),
        TarEntry::file("etc/base.txt", "whited out by the top layer\n"),
        TarEntry::dir("data"),
        TarEntry::file("data/blob.bin", blob.clone()),
        TarEntry::file("data/overridden", "lower\n"),
    ]);
    let top = Layer::gzip(vec![
        TarEntry::dir("etc"),
        TarEntry::file("etc/.wh.base.txt", ""),
        TarEntry::dir("data"),
        TarEntry::file("data/overridden", "upper\n"),
        TarEntry::file("top.txt", "top\n"),
    ]);
    let mut layout = LayoutBuilder::new(&work.path().join("layout"));
    layout.image("v1", serde_json::json!({"Cmd": ["/bin/sh"]}), &[base, top]);
    skopeo_copy(work.path(), &[], &layout.skopeo_name("v1"), &registry.docker_ref("guest/layers:v1"));
    let out = work.path().join("erofs");
    run(Command::new(arca_binary())
        .args(["image", "erofs", &format!("{}/guest/layers:v1", registry.host)])
        .arg(&out)
        .args(["--plain-http", &registry.host]));
    let record = ErofsLayers::from_json(&std::fs::read(out.join("layers.json")).unwrap()).expect("layers.json");
    assert_eq!(record.layers.len(), 2);

    // Layer i is /dev/vd<a+i>; overlay lowerdir lists the top layer first.
    let mut script = String::from("export DM_DISABLE_UDEV=1\n");
    let mut lower = Vec::new();
    for (i, layer) in record.layers.iter().enumerate() {
        let dev = format!("/dev/vd{}", char::from(b'a' + i as u8));
        // The parameters as layers.json records them (from the superblock when there is one).
        let v = &layer.verity;
        let flags = if v.superblock {
            format!("--hash-offset {}", v.hash_offset)
        } else {
            format!(
                "--hash-offset {} --no-superblock --hash {} --data-blocks {} --data-block-size {} --hash-block-size {} --salt {}",
                v.hash_offset,
                v.hash,
                v.data_blocks,
                v.data_block_size,
                v.hash_block_size,
                if v.salt.is_empty() { "-" } else { &v.salt }
            )
        };
        script.push_str(&format!(
            "arca image verity open {dev} l{i} {dev} {} {flags} && mkdir -p /mnt/l{i} && mount -t erofs -o ro /dev/mapper/l{i} /mnt/l{i} && echo OPENED l{i}\n",
            layer.root_hash
        ));
        lower.insert(0, format!("/mnt/l{i}"));
    }
    script.push_str(&format!(
        "mkdir -p /mnt/root && mount -t overlay overlay -o lowerdir={} /mnt/root && echo OVERLAID\n",
        lower.join(":")
    ));
    let files = ["etc/keep.txt", "data/blob.bin", "data/overridden", "top.txt"];
    for f in files {
        script.push_str(&format!(
            "if out=$(sha256sum /mnt/root/{f} 2>&1); then echo \"SUM root $out\"; else echo \"READ-FAILED root {f}: $out\"; fi\n"
        ));
    }
    script.push_str("[ -e /mnt/root/etc/base.txt ] || echo ABSENT etc/base.txt\n");

    let work_dir = work.path().join("guest");
    std::fs::create_dir_all(&work_dir).unwrap();
    let mut initramfs = Initramfs::new(&work_dir, &kernel);
    initramfs
        .modules(&kernel, &["virtio_pci", "virtio_blk", "dm-verity", "crc32c_generic", "erofs", "overlay"])
        .binary(arca_binary(), "/bin/arca")
        .init(&script);
    let initrd = initramfs.build(&work_dir.join("initramfs.cpio"));
    let mut guest = Guest::new(&kernel, &initrd);
    for layer in &record.layers {
        guest.drive(&out.join(&layer.file), true);
    }
    let booted = guest.run();
    eprintln!(
        "guest (image layers): /init at {:?} s guest uptime, {:.1} s wall",
        booted.boot_uptime,
        booted.wall.as_secs_f64()
    );
    let console = &booted.console;
    assert!(booted.finished(), "guest did not finish:\n{console}");
    assert_eq!(booted.lines_with("OPENED "), ["l0", "l1"], "layers opened and mounted:\n{console}");
    assert!(console.contains("OVERLAID"), "overlay mounted:\n{console}");
    let want: Vec<(String, String)> = [
        ("etc/keep.txt", b"kept\n".to_vec()),
        ("data/blob.bin", blob),
        ("data/overridden", b"upper\n".to_vec()),
        ("top.txt", b"top\n".to_vec()),
    ]
    .into_iter()
    .map(|(name, bytes)| (name.to_owned(), hex::encode(Sha256::digest(bytes))))
    .collect();
    assert_eq!(sums(&booted, "root"), want, "the overlaid layers are the image:\n{console}");
    assert!(console.contains("ABSENT etc/base.txt"), "the whiteout hides the lower file:\n{console}");
}
