//! The nydus tools (`nydus-image`, `nydusd` from nydus-rs 2.2.0, built into
//! the deps cache by `scripts/deps.sh`), a rich source tree to convert, and a
//! nydus image as an OCI layout for registry tests.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::layout::LayoutBuilder;
use crate::tools::{run, which};

/// Paths of `nydus-image` and `nydusd`.
#[derive(Debug, Clone)]
pub struct NydusTools {
    /// The builder.
    pub image: PathBuf,
    /// The FUSE daemon.
    pub daemon: PathBuf,
}

impl NydusTools {
    /// The tools from `${ARCA_DEPS_CACHE:-/var/tmp/arca-deps}/nydus/bin` or
    /// `PATH`, or `None` after printing `skipped: …` for `what`.
    pub fn find(what: &str) -> Option<NydusTools> {
        let cache =
            std::env::var_os("ARCA_DEPS_CACHE").map(PathBuf::from).unwrap_or_else(|| "/var/tmp/arca-deps".into());
        let find = |name: &str| {
            let cached = cache.join("nydus/bin").join(name);
            if cached.is_file() {
                Some(cached)
            } else {
                which(name)
            }
        };
        match (find("nydus-image"), find("nydusd")) {
            (Some(image), Some(daemon)) => Some(NydusTools { image, daemon }),
            _ => {
                eprintln!("skipped: {what} needs nydus-image and nydusd (scripts/deps.sh builds nydus-rs 2.2.0)");
                None
            }
        }
    }

    /// `nydus-image create -t <kind> -v 6 <extra> SOURCE` into
    /// `out/image.boot` + `out/blobs/`; returns (bootstrap, blob dir).
    /// (Not `--repeatable`: that drops every owner to 0:0.)
    pub fn create(&self, kind: &str, source: &Path, out: &Path, extra: &[&str]) -> (PathBuf, PathBuf) {
        let boot = out.join("image.boot");
        let blobs = out.join("blobs");
        std::fs::create_dir_all(&blobs).expect("blob dir");
        run(Command::new(&self.image)
            .args(["create", "-t", kind, "-v", "6", "--log-level", "warn", "-B"])
            .arg(&boot)
            .arg("-D")
            .arg(&blobs)
            .args(extra)
            .arg(source));
        (boot, blobs)
    }

    /// Mounts the image with `nydusd` over FUSE at `mountpoint` (localfs
    /// backend on `blobs`); unmounted and stopped when the guard drops.
    /// `None` (with a skip message) when FUSE is not usable here.
    pub fn mount(&self, boot: &Path, blobs: &Path, work: &Path, mountpoint: &Path) -> Option<NydusMount> {
        std::fs::create_dir_all(mountpoint).expect("mountpoint");
        let cache = work.join("nydusd-cache");
        std::fs::create_dir_all(&cache).expect("cache dir");
        let config = work.join("nydusd.json");
        let cfg = json!({
            "device": {
                "backend": {"type": "localfs", "config": {"dir": blobs}},
                "cache": {"type": "blobcache", "config": {"work_dir": cache}}
            },
            "mode": "direct",
            "digest_validate": false
        });
        std::fs::write(&config, serde_json::to_vec(&cfg).expect("json")).expect("write nydusd config");
        let sock = work.join("nydusd.sock");
        let log = std::fs::File::create(work.join("nydusd.log")).expect("nydusd log");
        let mut child = Command::new(&self.daemon)
            .arg("--config")
            .arg(&config)
            .arg("--bootstrap")
            .arg(boot)
            .arg("--mountpoint")
            .arg(mountpoint)
            .arg("--apisock")
            .arg(&sock)
            .args(["--rlimit-nofile", "0", "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nydusd");
        // Ready when the mount shows up in our mount table; no time limit,
        // only the daemon exiting ends the wait.
        loop {
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            if mounts.lines().any(|l| l.split(' ').nth(4) == Some(mountpoint.to_str().unwrap_or_default())) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(work.join("nydusd.log")).unwrap_or_default();
                eprintln!("skipped: nydusd could not mount ({status}): {log}");
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(NydusMount { child, mountpoint: mountpoint.to_path_buf() })
    }
}

/// A running `nydusd` FUSE mount.
pub struct NydusMount {
    child: Child,
    mountpoint: PathBuf,
}

impl Drop for NydusMount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fills `root` with what a container image holds: nested directories,
/// empty, small, chunk-spanning and large files (compressible and not),
/// symlinks (relative, absolute, dangling), hard links, xattrs, setuid and
/// odd modes, owners other than root (when running as root), a fifo and long names.
pub fn rich_tree(root: &Path) {
    let w = |p: &str, data: &[u8], mode: u32| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, data).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    std::fs::create_dir_all(root.join("etc/ssl/certs")).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/share/empty-dir")).expect("mkdir");
    std::fs::create_dir_all(root.join("a/b/c/d/e/f/g/h")).expect("mkdir");
    w("etc/hostname", b"arca\n", 0o644);
    w("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o600);
    w("etc/empty", b"", 0o644);
    w("usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o4755);
    w("usr/bin/sgid", b"sgid\n", 0o2711);
    w("a/b/c/d/e/f/g/h/deep.txt", b"deep\n", 0o640);
    // Many small files in one directory (several dirent blocks).
    for i in 0..300 {
        w(&format!("usr/share/many/file-{i:04}-with-a-longer-name-to-fill-blocks"), format!("{i}\n").as_bytes(), 0o644);
    }
    let long = "n".repeat(255);
    w(&format!("usr/share/{long}"), b"long name\n", 0o644);
    // Chunk-spanning data: compressible and pseudo-random.
    let compressible: Vec<u8> = (0..(3 << 20) + 12345).map(|i| (i / 4096 % 251) as u8).collect();
    w("var/lib/compressible.bin", &compressible, 0o644);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..(2 << 20) + 777)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    w("var/lib/random.bin", &random, 0o644);
    w("var/lib/exactly-one-mib", &random[..1 << 20], 0o644);
    w("sticky/keep", b"k", 0o644);
    std::fs::set_permissions(root.join("sticky"), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    symlink("hostname", root.join("etc/hostname.link")).expect("symlink");
    symlink("/etc/shadow", root.join("etc/absolute.link")).expect("symlink");
    symlink("../nowhere/at/all", root.join("etc/dangling.link")).expect("symlink");
    symlink("a/b/c", root.join("to-c")).expect("symlink");
    std::fs::hard_link(root.join("etc/hostname"), root.join("usr/hostname.hard")).expect("hard link");
    std::fs::hard_link(root.join("var/lib/random.bin"), root.join("var/random.hard")).expect("hard link");
    let x = |p: &str, name: &str, value: &[u8]| {
        rustix::fs::setxattr(root.join(p), name, value, rustix::fs::XattrFlags::empty()).expect("setxattr");
    };
    x("etc/hostname", "user.origin", b"arca-test");
    x("etc/hostname", "user.empty", b"");
    x("usr/bin/tool", "user.long", &[0xab; 300]);
    x("usr/share", "user.dir-attr", b"on a directory");
    if rustix::process::geteuid().is_root() {
        x("etc/shadow", "trusted.arca", b"trusted value");
        rustix::fs::chown(
            root.join("etc/shadow"),
            Some(rustix::fs::Uid::from_raw(0)),
            Some(rustix::fs::Gid::from_raw(42)),
        )
        .expect("chown");
        rustix::fs::chown(
            root.join("usr/share/many"),
            Some(rustix::fs::Uid::from_raw(1000)),
            Some(rustix::fs::Gid::from_raw(1001)),
        )
        .expect("chown");
        rustix::fs::chown(
            root.join("var/lib/random.bin"),
            Some(rustix::fs::Uid::from_raw(70000)),
            Some(rustix::fs::Gid::from_raw(70001)),
        )
        .expect("chown");
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("var/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

/// Writes a nydus image (as nydusify pushes one) into an OCI layout at
/// `dir` under `tag`: one layer per blob (nydus blob media type and
/// annotation) and a last, annotated bootstrap layer (gzipped tar of
/// `image/image.boot`). Returns the layout builder (`skopeo_name(tag)`).
pub fn nydus_layout(dir: &Path, tag: &str, boot: &Path, blobs: &Path) -> LayoutBuilder {
    let layout = LayoutBuilder::new(dir);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(blobs)
        .expect("blob dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("name"))
        .collect();
    names.sort();
    for name in names.iter().filter(|n| n.len() == 64) {
        let data = std::fs::read(blobs.join(name)).expect("read blob");
        let (digest, size) = layout.blob(&data);
        assert_eq!(digest, format!("sha256:{name}"), "nydus blobs are named by their sha256");
        layers.push(json!({
            "mediaType": "application/vnd.oci.image.layer.nydus.blob.v1",
            "digest": digest, "size": size,
            "annotations": {"containerd.io/snapshot/nydus-blob": "true"}
        }));
        diff_ids.push(Value::from(digest));
    }
    let mut tar = tar::Builder::new(Vec::new());
    let boot_bytes = std::fs::read(boot).expect("read bootstrap");
    let mut header = tar::Header::new_ustar();
    header.set_size(boot_bytes.len() as u64);
    header.set_mode(0o444);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, "image/image.boot", boot_bytes.as_slice()).expect("tar bootstrap");
    let tar_bytes = tar.into_inner().expect("tar");
    let gz = crate::layout::gzip(&tar_bytes);
    let (digest, size) = layout.blob(&gz);
    layers.push(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": digest, "size": size,
        "annotations": {"containerd.io/snapshot/nydus-bootstrap": "true", "containerd.io/snapshot/nydus-fs-version": "6"}
    }));
    use sha2::Digest;
    diff_ids.push(Value::from(format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar_bytes)))));
    let config = json!({
        "created": "2026-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/usr/bin/tool"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = layout.blob(&serde_json::to_vec(&config).expect("json"));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = layout.blob(&serde_json::to_vec(&manifest).expect("json"));
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": tag}
    }]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("write index");
    layout
}
