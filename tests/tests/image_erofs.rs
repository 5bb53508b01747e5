//! `arca image erofs` against the real parts: images pushed to Debian's
//! `docker-registry` with skopeo, EROFS images built with erofs-utils'
//! `mkfs.erofs`, mounted by the host kernel (file-backed EROFS, overlayfs),
//! trees checked by cryptsetup's `veritysetup verify`, and `umoci unpack` as
//! the second opinion on what the rootfs must be.
//!
//! - every layer's EROFS image, mounted and overlaid in order, equals the
//!   rootfs `arca image pull` makes (and umoci's), whiteouts and opaque
//!   directories included; so does the flattened image;
//! - `veritysetup verify` accepts each tree with the recorded root hash and
//!   rejects a flipped byte;
//! - rebuilding gives byte-identical files, and a layer gives the same EROFS
//!   image in every image that uses it;
//! - hostile layers fail the build or stay inside their directory.
//!
//! Mounting needs root; without it (or without a tool) a test prints
//! `skipped: …` and returns.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arca_e2e::tree::{diff, snapshot, Node};
use arca_e2e::{arca_binary, run, skopeo_copy, Layer, LayoutBuilder, Registry, RegistryOptions, TarEntry};
use arca_image::erofs::ErofsLayers;
use serde_json::json;
use sha2::{Digest, Sha256};

fn ready(what: &str) -> bool {
    if !arca_e2e::require_tools(what, &["skopeo", "docker-registry", "mkfs.erofs", "veritysetup", "umoci", "mount"]) {
        return false;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: {what} needs root (mounting EROFS and overlayfs, whiteout device nodes, trusted.* xattrs)");
        return false;
    }
    true
}

const REG: tar::EntryType = tar::EntryType::Regular;

fn dir(path: &str, mode: u32) -> TarEntry {
    TarEntry::Dir { path: path.into(), mode }
}

fn file(path: &str, data: &str, mode: u32) -> TarEntry {
    TarEntry::File { path: path.into(), data: data.as_bytes().to_vec(), mode }
}

/// A header the layout helper does not make itself: owners, xattrs, mtimes.
fn raw(path: &str, kind: tar::EntryType, mode: u32, data: &str, pax: &[(&str, &[u8])]) -> TarEntry {
    raw_link(path, kind, mode, "", data, pax)
}

/// [`raw`] with a link target; names and targets are written unchecked.
fn raw_link(path: &str, kind: tar::EntryType, mode: u32, link: &str, data: &str, pax: &[(&str, &[u8])]) -> TarEntry {
    TarEntry::Raw {
        name: path.as_bytes().to_vec(),
        link: link.as_bytes().to_vec(),
        kind,
        mode,
        data: data.as_bytes().to_vec(),
        pax: pax.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
    }
}

/// Four layers as image builders write them (every directory a layer
/// changes is listed in it): a rich base; whiteouts of a file, a directory
/// tree and a hard link's second name, an opaque directory, a file turned
/// into a directory and back; a directory whited out and made again in the
/// same layer; an uncompressed top layer.
fn layers() -> Vec<Layer> {
    let base = Layer::gzip(vec![
        dir("etc", 0o755),
        file("etc/hostname", "arca\n", 0o644),
        file("etc/shadow", "root:*:1::::::\n", 0o640),
        file("etc/removed", "whited out by layer 2\n", 0o644),
        TarEntry::symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
        dir("usr", 0o755),
        dir("usr/bin", 0o755),
        file("usr/bin/su", "#!setuid\n", 0o4755),
        file("usr/bin/a", "one inode, two names\n", 0o755),
        TarEntry::hardlink("usr/bin/b", "usr/bin/a"),
        dir("usr/lib", 0o755),
        TarEntry::symlink("usr/lib64", "lib"),
        file("usr/lib/libc.so", "\x7fELF not really\n", 0o755),
        dir("tmp", 0o1777),
        dir("root", 0o700),
        dir("home", 0o755),
        raw("home/user", tar::EntryType::Directory, 0o750, "", &[("uid", b"1000"), ("gid", b"1001")]),
        raw(
            "home/user/notes",
            tar::EntryType::Regular,
            0o640,
            "mine\n",
            &[
                ("uid", b"1000"),
                ("gid", b"1001"),
                ("mtime", b"1600000000.123456789"),
                ("SCHILY.xattr.user.arca.note", b"hello"),
                ("SCHILY.xattr.trusted.arca", b"\x00\x01bin"),
            ],
        ),
        dir("opq", 0o755),
        file("opq/lower1", "hidden by the opaque marker\n", 0o644),
        dir("opq/sub", 0o755),
        file("opq/sub/deep", "hidden too\n", 0o644),
        dir("tree", 0o755),
        dir("tree/a", 0o755),
        file("tree/a/f", "whited out as a tree\n", 0o644),
        file("becomes-dir", "a file, then a directory\n", 0o644),
        dir("becomes-file", 0o755),
        file("becomes-file/inner", "a directory, then a file\n", 0o644),
        dir("remade", 0o755),
        file("remade/old", "gone when remade is whited out and made again\n", 0o644),
        dir("empty", 0o755),
    ]);
    let second = Layer::gzip(vec![
        dir("etc", 0o755),
        TarEntry::whiteout("etc/removed"),
        file("etc/hostname", "arca-2\n", 0o644),
        TarEntry::whiteout("tree"),
        dir("opq", 0o750),
        TarEntry::opaque("opq"),
        file("opq/upper", "only this remains\n", 0o644),
        dir("becomes-dir", 0o711),
        file("becomes-dir/x", "x\n", 0o644),
        file("becomes-file", "now a file\n", 0o600),
        dir("usr", 0o755),
        dir("usr/lib", 0o755),
        file("usr/lib/libm.so", "second layer\n", 0o755),
    ]);
    let third = Layer::gzip(vec![
        TarEntry::whiteout("remade"),
        dir("remade", 0o700),
        file("remade/new", "the new remade\n", 0o644),
        dir("usr", 0o755),
        dir("usr/bin", 0o755),
        TarEntry::whiteout("usr/bin/su"),
        file("usr/bin/new", "new in layer 3\n", 0o755),
    ]);
    let top = Layer::plain(vec![dir("etc", 0o755), file("etc/motd", "hello\n", 0o644), TarEntry::whiteout("empty")]);
    vec![base, second, third, top, big_layer()]
}

/// A layer with a file big enough for a verity tree of more than one level
/// of blocks to follow the EROFS part (200 KiB of pseudo-random bytes).
fn big_layer() -> Layer {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..200 << 10)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Layer::gzip(vec![dir("data", 0o755), TarEntry::File { path: "data/blob".into(), data, mode: 0o644 }])
}

fn config() -> serde_json::Value {
    json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin"]})
}

/// A registry with the image pushed as `repo:v1`; returns the reference.
fn push(registry: &Registry, work: &Path, repo: &str, layers: &[Layer]) -> String {
    let mut layout = LayoutBuilder::new(&work.join(format!("layout-{}", repo.replace('/', "-"))));
    layout.image("v1", config(), layers);
    let reference = format!("{repo}:v1");
    skopeo_copy(work, &[], &layout.skopeo_name("v1"), &registry.docker_ref(&reference));
    format!("{}/{reference}", registry.host)
}

fn arca(args: &[&str], registry: &Registry) -> Output {
    Command::new(arca_binary()).args(args).arg("--plain-http").arg(&registry.host).output().expect("run arca")
}

fn arca_ok(args: &[&str], registry: &Registry) -> Output {
    let out = arca(args, registry);
    assert!(
        out.status.success(),
        "arca {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn erofs_build(registry: &Registry, image: &str, out: &Path, extra: &[&str]) -> ErofsLayers {
    let mut args = vec!["image", "erofs", image, out.to_str().unwrap()];
    args.extend_from_slice(extra);
    arca_ok(&args, registry);
    ErofsLayers::from_json(&std::fs::read(out.join("layers.json")).unwrap()).expect("layers.json")
}

/// Mount points, unmounted (top first) when dropped.
#[derive(Default)]
struct Mounts(Vec<PathBuf>);

impl Mounts {
    /// Mounts an EROFS image file read-only at `at` (file-backed, or
    /// through a loop device on kernels without file-backed EROFS).
    fn erofs(&mut self, image: &Path, at: &Path) {
        std::fs::create_dir_all(at).unwrap();
        let file_backed = Command::new("mount").args(["-t", "erofs", "-o", "ro"]).arg(image).arg(at).output().unwrap();
        if !file_backed.status.success() {
            run(Command::new("mount").args(["-t", "erofs", "-o", "ro,loop"]).arg(image).arg(at));
        }
        self.0.push(at.to_path_buf());
    }

    /// A read-only overlay of `lower` (lowest first) at `at`.
    fn overlay(&mut self, lower: &[PathBuf], at: &Path) {
        std::fs::create_dir_all(at).unwrap();
        let dirs: Vec<String> = lower.iter().rev().map(|p| p.display().to_string()).collect();
        run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!("ro,lowerdir={}", dirs.join(":")))
            .arg(at));
        self.0.push(at.to_path_buf());
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for at in self.0.iter().rev() {
            let ok = Command::new("umount").arg(at).status().is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(at).status();
            }
        }
    }
}

/// A snapshot comparable across filesystems: directory link counts dropped
/// (overlayfs reports 1 for a merged directory), and the root's mtime (the
/// pull's rootfs directory is made at pull time).
fn comparable(root: &Path) -> BTreeMap<String, Node> {
    let mut tree = snapshot(root);
    for (path, node) in tree.iter_mut() {
        if node.kind == "dir" {
            node.nlink = 0;
        }
        if path.is_empty() {
            node.mtime = 0;
        }
    }
    tree
}

fn assert_same(left_name: &str, left: &BTreeMap<String, Node>, right_name: &str, right: &BTreeMap<String, Node>) {
    let differences = diff(left_name, left, right_name, right);
    assert!(differences.is_empty(), "{left_name} != {right_name}:\n{}", differences.join("\n"));
    let mtimes: Vec<String> = left
        .iter()
        .filter(|(path, node)| right[path.as_str()].mtime != node.mtime)
        .map(|(path, node)| format!("{path:?}: {left_name} {} {right_name} {}", node.mtime, right[path.as_str()].mtime))
        .collect();
    assert!(mtimes.is_empty(), "mtimes differ:\n{}", mtimes.join("\n"));
}

fn sha256_prefix(path: &Path, len: u64) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut (&mut file).take(len), &mut hasher).unwrap();
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// `veritysetup verify` of the tree appended to `file` as layers.json records it.
fn veritysetup_verify(file: &Path, layer: &arca_image::erofs::ErofsLayer) -> Output {
    let v = &layer.verity;
    let salt = if v.salt.is_empty() { "-".to_string() } else { v.salt.clone() };
    Command::new("veritysetup")
        .arg("verify")
        .arg(file)
        .arg(file)
        .arg(&layer.root_hash)
        .arg("--no-superblock")
        .arg(format!("--hash={}", v.hash))
        .arg(format!("--data-block-size={}", v.data_block_size))
        .arg(format!("--hash-block-size={}", v.hash_block_size))
        .arg(format!("--data-blocks={}", v.data_blocks))
        .arg(format!("--hash-offset={}", v.hash_offset))
        .arg(format!("--salt={salt}"))
        .output()
        .expect("run veritysetup")
}

/// Pulls with `arca image pull` and with skopeo + umoci; returns both rootfs.
fn reference_rootfs(registry: &Registry, image: &str, work: &Path) -> (PathBuf, PathBuf) {
    let dest = work.join("pulled");
    arca_ok(&["image", "pull", image, dest.to_str().unwrap()], registry);
    let layout = work.join("umoci-layout");
    skopeo_copy(work, &[], &format!("docker://{image}"), &format!("oci:{}:v1", layout.display()));
    let bundle = work.join("umoci-bundle");
    run(Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:v1", layout.display())).arg(&bundle));
    (dest.join("rootfs"), bundle.join("rootfs"))
}

#[test]
fn layers_overlaid_equal_the_pulled_rootfs() {
    if !ready("the EROFS layer test") {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let image = push(&registry, work.path(), "erofs/layers", &layers());
    let out = work.path().join("out");
    let record = erofs_build(&registry, &image, &out, &[]);

    // The record: one EROFS image per layer, in order, mapping what the manifest says.
    let manifest: serde_json::Value =
        serde_json::from_slice(&arca_ok(&["image", "inspect", &image], &registry).stdout).unwrap();
    let layer_digests: Vec<&str> =
        manifest["manifest"]["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
    let diff_ids: Vec<&str> =
        manifest["config"]["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(!record.flattened);
    assert_eq!(record.reference, image);
    assert_eq!(record.manifest_digest, manifest["manifest_digest"].as_str().unwrap());
    assert_eq!(record.config_digest, manifest["manifest"]["config"]["digest"].as_str().unwrap());
    assert_eq!(record.layers.iter().map(|l| l.digest.as_str()).collect::<Vec<_>>(), layer_digests);
    assert_eq!(record.layers.iter().map(|l| l.diff_id.as_deref().unwrap()).collect::<Vec<_>>(), diff_ids);

    let mut mounts = Mounts::default();
    let mut lower = Vec::new();
    for (i, layer) in record.layers.iter().enumerate() {
        let path = out.join(&layer.file);
        let size = std::fs::metadata(&path).unwrap().len();
        // One data block needs no hash block: its hash is the root.
        assert_eq!(size > layer.erofs_size, layer.erofs_size > 4096, "layer {i}: tree after the EROFS part");
        assert_eq!(sha256_prefix(&path, layer.erofs_size), layer.erofs_digest, "layer {i}: EROFS digest");
        assert_eq!(layer.verity.hash_offset, layer.erofs_size);
        assert_eq!((layer.dm_verity.offset, layer.dm_verity.blocknum), (layer.erofs_size, layer.erofs_size / 4096));
        assert_eq!(layer.dm_verity.hash, layer.root_hash);
        let verified = veritysetup_verify(&path, layer);
        assert!(verified.status.success(), "layer {i}: {}", String::from_utf8_lossy(&verified.stderr));
        let at = work.path().join(format!("mnt/{i}"));
        mounts.erofs(&path, &at);
        lower.push(at);
    }
    // The overlay form is in the layers themselves.
    let second = &lower[1];
    let whiteout = std::fs::symlink_metadata(second.join("etc/removed")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&whiteout.file_type()));
    assert_eq!(std::os::unix::fs::MetadataExt::rdev(&whiteout), 0);
    assert_eq!(arca_e2e::tree::xattrs(&second.join("opq")).get("trusted.overlay.opaque"), Some(&b"y".to_vec()));
    assert_eq!(
        arca_e2e::tree::xattrs(&lower[2].join("remade")).get("trusted.overlay.opaque"),
        Some(&b"y".to_vec()),
        "a directory made again after its whiteout must hide the lower one"
    );

    let merged = work.path().join("mnt/merged");
    mounts.overlay(&lower, &merged);
    let (pulled, umoci) = reference_rootfs(&registry, &image, work.path());
    let ours = comparable(&merged);
    assert_same("pulled", &comparable(&pulled), "overlaid EROFS", &ours);
    // umoci keeps the rootfs directory's own mode and time; compare the rest.
    let mut theirs = comparable(&umoci);
    let mut ours_no_root = ours.clone();
    theirs.remove("");
    ours_no_root.remove("");
    assert!(diff("umoci", &theirs, "overlaid EROFS", &ours_no_root).is_empty());
    // And the tree is what the layers say.
    assert_eq!(std::fs::read_to_string(merged.join("etc/hostname")).unwrap(), "arca-2\n");
    assert!(!merged.join("etc/removed").exists() && !merged.join("tree").exists() && !merged.join("empty").exists());
    assert!(!merged.join("opq/lower1").exists() && !merged.join("remade/old").exists());
    assert_eq!(std::fs::read_to_string(merged.join("remade/new")).unwrap(), "the new remade\n");
}

#[test]
fn verity_trees_catch_a_flipped_byte() {
    if !ready("the EROFS verity test") {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let image = push(&registry, work.path(), "erofs/verity", &[layers()[0].clone(), big_layer()]);
    let out = work.path().join("out");
    let record = erofs_build(&registry, &image, &out, &["--hash", "sha512", "--hash-block-size", "1024"]);
    // The big layer's tree has two levels: 50-odd sha512 digests fill four 1 KiB blocks.
    let big = &record.layers[1];
    assert!(std::fs::metadata(out.join(&big.file)).unwrap().len() >= big.erofs_size + 5 * 1024);
    for layer in &record.layers {
        assert_eq!((layer.verity.hash.as_str(), layer.verity.hash_block_size), ("sha512", 1024));
        assert_eq!(layer.root_hash.len(), 128);
        let path = out.join(&layer.file);
        assert!(veritysetup_verify(&path, layer).status.success());
        // One flipped bit in the EROFS part, then in the tree: both caught.
        let size = std::fs::metadata(&path).unwrap().len();
        let mut offsets = vec![0, layer.erofs_size / 2, layer.erofs_size - 1];
        if size > layer.erofs_size {
            offsets.extend([layer.erofs_size + 10, size - 1]);
        }
        for offset in offsets {
            let copy = work.path().join("corrupt.erofs");
            std::fs::copy(&path, &copy).unwrap();
            let mut f = std::fs::File::options().read(true).write(true).open(&copy).unwrap();
            let mut byte = [0u8];
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.read_exact(&mut byte).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[byte[0] ^ 0x10]).unwrap();
            drop(f);
            let out = veritysetup_verify(&copy, layer);
            assert!(!out.status.success(), "veritysetup accepted a flipped bit at {offset}");
        }
    }
}

#[test]
fn rebuilds_are_byte_identical_and_layers_shared() {
    if !ready("the EROFS reproducibility test") {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let image = push(&registry, work.path(), "erofs/repro", &layers());
    let first = erofs_build(&registry, &image, &work.path().join("one"), &[]);
    // Another time (so another mkfs build time), another unpack (other inode
    // numbers and directory order), a kept blob store: the same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let store = work.path().join("store");
    let second = erofs_build(&registry, &image, &work.path().join("two"), &["--store", store.to_str().unwrap()]);
    assert_eq!(first, second);
    for name in first.layers.iter().map(|l| l.file.as_str()).chain(["layers.json"]) {
        let a = std::fs::read(work.path().join("one").join(name)).unwrap();
        let b = std::fs::read(work.path().join("two").join(name)).unwrap();
        assert!(a == b, "{name} differs between builds");
    }
    // The same base layer under another image: the same EROFS image.
    let other = push(&registry, work.path(), "erofs/other", &[layers()[0].clone(), layers()[3].clone()]);
    let third = erofs_build(&registry, &other, &work.path().join("three"), &[]);
    assert_eq!(third.layers[0].file, first.layers[0].file);
    assert_eq!(third.layers[0].root_hash, first.layers[0].root_hash);
    let a = std::fs::read(work.path().join("one").join(&first.layers[0].file)).unwrap();
    let b = std::fs::read(work.path().join("three").join(&third.layers[0].file)).unwrap();
    assert!(a == b, "the base layer's EROFS image depends on the image around it");
    // Flattened: reproducible too.
    let f1 = erofs_build(&registry, &image, &work.path().join("flat1"), &["--flatten"]);
    let f2 = erofs_build(&registry, &image, &work.path().join("flat2"), &["--flatten", "--compress", "lz4hc"]);
    let f3 = erofs_build(&registry, &image, &work.path().join("flat3"), &["--flatten", "--compress", "lz4hc"]);
    assert_ne!(f1.layers[0].erofs_digest, f2.layers[0].erofs_digest, "--compress made no difference");
    assert_eq!(f2, f3);
    let a = std::fs::read(work.path().join("flat2").join(&f2.layers[0].file)).unwrap();
    let b = std::fs::read(work.path().join("flat3").join(&f3.layers[0].file)).unwrap();
    assert!(a == b, "flattened rebuild differs");
}

#[test]
fn flattened_image_equals_the_pulled_rootfs() {
    if !ready("the flattened EROFS test") {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let image = push(&registry, work.path(), "erofs/flat", &layers());
    let out = work.path().join("out");
    let record = erofs_build(&registry, &image, &out, &["--flatten"]);
    assert!(record.flattened);
    assert_eq!(record.layers.len(), 1);
    let layer = &record.layers[0];
    assert_eq!(layer.digest, record.manifest_digest);
    assert_eq!(layer.merged.len(), 5);
    assert!(layer.diff_id.is_none());
    let path = out.join(&layer.file);
    assert!(veritysetup_verify(&path, layer).status.success());
    let mut mounts = Mounts::default();
    let at = work.path().join("mnt");
    mounts.erofs(&path, &at);
    let (pulled, _) = reference_rootfs(&registry, &image, work.path());
    assert_same("pulled", &comparable(&pulled), "flattened EROFS", &comparable(&at));
    // No overlay markers in a flattened image.
    let snapshot = snapshot(&at);
    assert!(snapshot.values().all(|n| n.kind != "char" && !n.xattrs.keys().any(|k| k.starts_with("trusted.overlay."))));
}

/// Builds an image of one hostile layer (after a harmless base layer) and
/// runs `arca image erofs` on it; returns the output and OUT.
fn hostile(registry: &Registry, work: &Path, name: &str, entries: Vec<TarEntry>, extra: &[&str]) -> (Output, PathBuf) {
    let base = Layer::gzip(vec![dir("etc", 0o755), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)]);
    let image = push(registry, work, &format!("hostile/{name}"), &[base, Layer::gzip(entries)]);
    let out = work.join(format!("out-{name}"));
    let mut args = vec!["image", "erofs", image.as_str(), out.to_str().unwrap()];
    args.extend_from_slice(extra);
    (arca(&args, registry), out)
}

#[test]
fn hostile_layers_cannot_escape() {
    if !ready("the hostile EROFS layer test") {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let canary = work.path().join("canary");
    std::fs::create_dir(&canary).unwrap();
    std::fs::write(canary.join("keep"), "canary\n").unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let outside = |case: &str| {
        let names: Vec<_> = std::fs::read_dir(&canary).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keep")], "{case}: something landed in the canary dir");
        assert_eq!(std::fs::read_to_string(canary.join("keep")).unwrap(), "canary\n", "{case}");
        assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd, "{case}: /etc/passwd changed");
    };
    let canary_path = canary.display().to_string();
    let failing: Vec<(&str, Vec<TarEntry>, &[&str], &str)> = vec![
        ("traversal", vec![raw("../../canary/pwned", REG, 0o644, "x", &[])], &[], "\"..\""),
        ("whiteout-traversal", vec![raw("../canary/.wh.keep", REG, 0o644, "", &[])], &[], "\"..\""),
        ("whiteout-dotdot", vec![dir("a", 0o755), raw("a/.wh...", REG, 0o644, "", &[])], &[], "whiteout"),
        (
            "abs-symlink",
            vec![
                raw_link("evil", tar::EntryType::Symlink, 0o777, &canary_path, "", &[]),
                file("evil/pwned", "x", 0o644),
            ],
            &[],
            "parent",
        ),
        ("hardlink-out", vec![raw_link("pw", tar::EntryType::Link, 0o644, "/etc/passwd", "", &[])], &[], "not found"),
        (
            "fake-whiteout-device",
            vec![dir("etc", 0o755), raw("etc/passwd", tar::EntryType::Char, 0o644, "", &[])],
            &["--allow-devices"],
            "whiteout",
        ),
    ];
    for (name, entries, extra, reason) in failing {
        let (output, out) = hostile(&registry, work.path(), name, entries, extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: the build succeeded");
        assert!(stderr.contains(reason), "{name}: error does not say {reason:?}: {stderr}");
        assert!(!out.join("layers.json").exists(), "{name}: a record was written");
        assert!(!out.join(".work").exists(), "{name}: scratch directory left behind");
        outside(name);
    }

    // overlayfs's own xattrs in a layer are dropped: a layer cannot make a
    // directory opaque or redirect it by claiming so in PAX headers.
    let entries = vec![
        raw("etc", tar::EntryType::Directory, 0o755, "", &[("SCHILY.xattr.trusted.overlay.opaque", b"y")]),
        raw("etc/x", tar::EntryType::Regular, 0o644, "x", &[("SCHILY.xattr.trusted.overlay.redirect", b"/root")]),
        // Symlinks resolve inside the layer: this one leads to the layer's own etc.
        raw_link("up", tar::EntryType::Symlink, 0o777, "../../../..", "", &[]),
        file("up/etc/inside", "inside\n", 0o644),
    ];
    let (output, out) = hostile(&registry, work.path(), "overlay-xattrs", entries, &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    outside("overlay xattrs");
    let record = ErofsLayers::from_json(&std::fs::read(out.join("layers.json")).unwrap()).unwrap();
    let mut mounts = Mounts::default();
    let lower: Vec<PathBuf> = record
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let at = work.path().join(format!("hostile-mnt/{i}"));
            mounts.erofs(&out.join(&l.file), &at);
            at
        })
        .collect();
    let top = snapshot(&lower[1]);
    assert!(top.values().all(|n| !n.xattrs.keys().any(|k| k.starts_with("trusted.overlay."))), "{top:?}");
    let merged = work.path().join("hostile-mnt/merged");
    mounts.overlay(&lower, &merged);
    assert!(merged.join("etc/passwd").exists(), "a layer's own xattr made etc opaque");
    assert_eq!(std::fs::read_to_string(merged.join("etc/inside")).unwrap(), "inside\n");
}

#[test]
fn signature_policy_applies() {
    if !ready("the EROFS signature policy test") {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let image = push(&registry, work.path(), "erofs/unsigned", &layers()[..1]);
    let policy = work.path().join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"reject"}]}"#).unwrap();
    let out = work.path().join("out");
    let output =
        arca(&["image", "erofs", &image, out.to_str().unwrap(), "--policy", policy.to_str().unwrap()], &registry);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("signature policy"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "a rejected image left {left:?}");
}

/// Overlay-form unpacking case by case, without a registry: what each
/// whiteout, opaque marker and replacement becomes in the layer directory.
#[test]
fn overlay_form_case_by_case() {
    use arca_image::unpack::{apply_layer, UnpackOptions, WhiteoutMode};
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: overlay-form unpacking needs root (0:0 device nodes, trusted.* xattrs)");
        return;
    }
    let options = UnpackOptions { whiteouts: WhiteoutMode::Overlay, reproducible: true, ..UnpackOptions::default() };
    let unpack = |entries: Vec<TarEntry>, options: &UnpackOptions| {
        let dir = tempfile::tempdir().unwrap();
        let tar = Layer::plain(entries).tar_bytes();
        let result = apply_layer(tar.as_slice(), dir.path(), "sha256:case", options).map(|_| ());
        (dir, result)
    };
    let is_whiteout = |path: &Path| {
        std::fs::symlink_metadata(path).is_ok_and(|m| {
            std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type())
                && std::os::unix::fs::MetadataExt::rdev(&m) == 0
        })
    };
    let opaque = |path: &Path| arca_e2e::tree::xattrs(path).get("trusted.overlay.opaque") == Some(&b"y".to_vec());

    // A whiteout becomes a 0:0 device, with its missing parent made (0755, mtime 0).
    let (d, r) = unpack(vec![TarEntry::whiteout("a/b/gone")], &options);
    r.unwrap();
    assert!(is_whiteout(&d.path().join("a/b/gone")));
    let parent = std::fs::metadata(d.path().join("a/b")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&parent.permissions()) & 0o7777, 0o755);
    assert_eq!(std::os::unix::fs::MetadataExt::mtime(&parent), 0);
    assert_eq!(std::os::unix::fs::MetadataExt::mtime(&std::fs::metadata(d.path()).unwrap()), 0);
    // A whiteout of the layer's own entry hides nothing.
    let (d, r) = unpack(vec![file("x", "mine\n", 0o644), TarEntry::whiteout("x")], &options);
    r.unwrap();
    assert_eq!(std::fs::read_to_string(d.path().join("x")).unwrap(), "mine\n");
    // An opaque marker before and after its directory's entry.
    for entries in [
        vec![TarEntry::opaque("o"), dir("o", 0o700)],
        vec![dir("o", 0o700), TarEntry::opaque("o"), file("o/f", "f", 0o644)],
    ] {
        let (d, r) = unpack(entries, &options);
        r.unwrap();
        assert!(opaque(&d.path().join("o")));
        let mode = std::fs::metadata(d.path().join("o")).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777, 0o700);
    }
    // The root itself can be opaque.
    let (d, r) = unpack(vec![raw(".wh..wh..opq", REG, 0o644, "", &[])], &options);
    r.unwrap();
    assert!(opaque(d.path()));
    // A directory replacing a file of the layer, or a whiteout, starts empty: opaque.
    let (d, r) = unpack(vec![file("r", "file\n", 0o644), dir("r", 0o755)], &options);
    r.unwrap();
    assert!(opaque(&d.path().join("r")));
    let (d, r) = unpack(vec![dir("plain", 0o755), file("plain/f", "f", 0o644)], &options);
    r.unwrap();
    assert!(!opaque(&d.path().join("plain")), "a fresh directory is not opaque");
    // A real 0:0 character device would read as a whiteout: refused.
    let allowed = UnpackOptions { allow_devices: true, ..options.clone() };
    let (_, r) = unpack(vec![raw("dev0", tar::EntryType::Char, 0o600, "", &[])], &allowed);
    assert!(r.unwrap_err().to_string().contains("whiteout"));
    // In the default form nothing of this is made.
    let (d, r) = unpack(vec![TarEntry::whiteout("gone"), TarEntry::opaque("o")], &UnpackOptions::default());
    r.unwrap();
    assert!(std::fs::read_dir(d.path()).unwrap().next().is_none());
}
