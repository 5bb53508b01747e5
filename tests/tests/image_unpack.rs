//! `arca_image::unpack::apply_layer` against `umoci unpack` (Debian umoci
//! 0.4.7): the same OCI layout unpacked by both must give the same tree —
//! file list, contents, modes, ownership, link targets, xattrs, hard-link
//! groups, device numbers and mtimes. The blobs are read from the layout
//! directory itself (no registry needed). umoci 0.4.7 cannot read zstd
//! layers, so it gets the same tars gzipped; the rootfs directory itself is
//! left out (umoci makes it, the caller makes ours).

use std::path::Path;
use std::process::Command;

use arca_e2e::layout::{image_config, image_layers, Compression};
use arca_e2e::tree::{diff, snapshot};
use arca_e2e::{run, Layer, LayoutBuilder, TarEntry};
use arca_image::compression::decoder;
use arca_image::spec::runtime_spec;
use arca_image::unpack::{apply_layer, LayerStats, UnpackOptions};
use serde_json::json;

/// Unpacks the image `tag` of the layout at `layout` into `rootfs` with our code.
fn unpack_ours(
    layout: &Path,
    tag: &str,
    rootfs: &Path,
    options: &UnpackOptions,
) -> arca_image::Result<Vec<LayerStats>> {
    std::fs::create_dir_all(rootfs).unwrap();
    let mut stats = Vec::new();
    for (media_type, blob) in image_layers(layout, tag) {
        let file = std::io::BufReader::new(std::fs::File::open(&blob).unwrap());
        let tar = decoder(&media_type, Box::new(file))?;
        let digest = format!("sha256:{}", blob.file_name().unwrap().to_string_lossy());
        stats.push(apply_layer(tar, rootfs, &digest, options)?);
    }
    Ok(stats)
}

fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) {
    run(Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:{tag}", layout.display())).arg(bundle));
}

/// A file with owner and xattrs set through PAX records.
fn owned(path: &str, data: &str, mode: u32, uid: u32, gid: u32, xattrs: &[(&str, &[u8])]) -> TarEntry {
    let mut pax =
        vec![("uid".to_string(), uid.to_string().into_bytes()), ("gid".to_string(), gid.to_string().into_bytes())];
    pax.extend(xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.to_vec())));
    TarEntry::Raw {
        name: path.as_bytes().to_vec(),
        link: Vec::new(),
        kind: tar::EntryType::Regular,
        mode,
        data: data.as_bytes().to_vec(),
        pax,
    }
}

fn raw(path: &str, kind: tar::EntryType, mode: u32, link: &str, pax: &[(&str, &str)]) -> TarEntry {
    TarEntry::Raw {
        name: path.as_bytes().to_vec(),
        link: link.as_bytes().to_vec(),
        kind,
        mode,
        data: Vec::new(),
        pax: pax.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
    }
}

fn dir_mode(path: &str, mode: u32) -> TarEntry {
    TarEntry::Dir { path: path.into(), mode }
}

fn file_mode(path: &str, data: &str, mode: u32) -> TarEntry {
    TarEntry::File { path: path.into(), data: data.as_bytes().to_vec(), mode }
}

/// A three-layer image exercising everything a layer can hold.
fn rich_layers() -> Vec<Layer> {
    let base = Layer::gzip(vec![
        dir_mode("etc", 0o755),
        file_mode("etc/hostname", "arca\n", 0o644),
        file_mode("etc/shadow", "root:*:1::::::\n", 0o640),
        TarEntry::symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
        TarEntry::symlink("etc/dangling", "../nowhere/at/all"),
        file_mode("etc/removed", "gone in layer 2\n", 0o644),
        dir_mode("usr", 0o755),
        dir_mode("usr/bin", 0o755),
        file_mode("usr/bin/su", "#!setuid\n", 0o4755),
        file_mode("usr/bin/wall", "#!setgid\n", 0o2755),
        file_mode("usr/bin/a", "one inode, two names\n", 0o755),
        TarEntry::hardlink("usr/bin/b", "usr/bin/a"),
        dir_mode("usr/lib", 0o755),
        TarEntry::symlink("usr/lib64", "lib"),
        file_mode("usr/lib/libc.so", "\x7fELF not really\n", 0o755),
        dir_mode("tmp", 0o1777),
        dir_mode("srv", 0o2775),
        dir_mode("root", 0o700),
        file_mode("root/.profile", "umask 077\n", 0o600),
        dir_mode("home", 0o755),
        raw("home/user", tar::EntryType::Directory, 0o750, "", &[("uid", "1000"), ("gid", "1001")]),
        owned(
            "home/user/notes",
            "mine\n",
            0o640,
            1000,
            1001,
            &[("user.arca.note", b"hello"), ("trusted.arca", b"\x00\x01bin")],
        ),
        owned("usr/bin/ping", "caps\n", 0o755, 0, 0, &[("user.arca.caps", b"cap_net_raw+ep")]),
        file_mode("readonly", "r\n", 0o444),
        dir_mode("opq", 0o755),
        file_mode("opq/lower1", "hidden later\n", 0o644),
        dir_mode("opq/sub", 0o755),
        file_mode("opq/sub/deep", "hidden later too\n", 0o644),
        dir_mode("tree", 0o755),
        dir_mode("tree/a", 0o755),
        file_mode("tree/a/f", "whited out as a tree\n", 0o644),
        file_mode("becomes-dir", "file then dir\n", 0o644),
        dir_mode("becomes-file", 0o755),
        file_mode("becomes-file/inner", "dir then file\n", 0o644),
        TarEntry::symlink("link-becomes-file", "etc/hostname"),
        dir_mode("dev", 0o755),
        raw("dev/null", tar::EntryType::Char, 0o666, "", &[]),
        raw("dev/fifo", tar::EntryType::Fifo, 0o620, "", &[]),
    ]);
    let second = Layer::zstd(vec![
        TarEntry::whiteout("etc/removed"),
        TarEntry::opaque("opq"),
        dir_mode("opq", 0o750),
        file_mode("opq/upper", "only this remains\n", 0o644),
        dir_mode("becomes-dir", 0o711),
        file_mode("becomes-dir/x", "x\n", 0o644),
        file_mode("becomes-file", "now a file\n", 0o600),
        file_mode("link-becomes-file", "no longer a link\n", 0o644),
        file_mode("etc/hostname", "arca-2\n", 0o644),
        // Through the parent symlink usr/lib64 -> lib.
        file_mode("usr/lib64/libm.so", "via lib64\n", 0o755),
    ]);
    let third = Layer::plain(vec![
        TarEntry::whiteout("tree"),
        TarEntry::hardlink("usr/bin/c", "usr/bin/su"),
        file_mode("usr/bin/new", "new in layer 3\n", 0o755),
        TarEntry::whiteout("usr/bin/wall"),
    ]);
    vec![base, second, third]
}

#[test]
fn rich_image_equals_umoci_unpack() {
    if !arca_e2e::require_tools("the umoci comparison", &["umoci", "zstd"]) {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the umoci comparison needs root (owners, device nodes, trusted.* xattrs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let mut layout = LayoutBuilder::new(&layout_dir);
    let layers = rich_layers();
    assert!(layers.iter().any(|l| l.compression == Compression::Zstd));
    layout.image("v1", json!({"Cmd": ["/bin/sh"]}), &layers);
    // umoci 0.4.7 predates zstd layers: it gets the same tars gzipped.
    let gzipped: Vec<Layer> = layers
        .iter()
        .map(|l| Layer {
            compression: if l.compression == Compression::Zstd { Compression::Gzip } else { l.compression },
            ..l.clone()
        })
        .collect();
    layout.image("v1-gzip", json!({"Cmd": ["/bin/sh"]}), &gzipped);

    let bundle = dir.path().join("bundle");
    umoci_unpack(&layout_dir, "v1-gzip", &bundle);
    let ours = dir.path().join("ours");
    let options = UnpackOptions { allow_devices: true, ..UnpackOptions::default() };
    let stats = unpack_ours(&layout_dir, "v1", &ours, &options).expect("our unpack");
    assert_eq!(stats.len(), 3);
    assert_eq!(stats[2].entries, 4);

    let mut theirs = snapshot(&bundle.join("rootfs"));
    let mine = snapshot(&ours);
    // The rootfs directory itself: umoci makes it 0755, ours is what the caller created.
    theirs.remove("");
    let mut mine_without_root = mine.clone();
    mine_without_root.remove("");
    let differences = diff("umoci", &theirs, "arca", &mine_without_root);
    assert!(differences.is_empty(), "unpacked trees differ:\n{}", differences.join("\n"));

    // mtimes too (seconds), including directories a later layer changed:
    // both put back the time the image gives them.
    let mtimes: Vec<String> = theirs
        .iter()
        .filter(|(path, node)| mine[path.as_str()].mtime != node.mtime)
        .map(|(path, node)| format!("{path:?}: umoci {} arca {}", node.mtime, mine[path.as_str()].mtime))
        .collect();
    assert!(mtimes.is_empty(), "mtimes differ:\n{}", mtimes.join("\n"));

    // And the tree is what the layers say, not just what umoci says.
    let node = |p: &str| mine.get(p).unwrap_or_else(|| panic!("{p} missing"));
    assert_eq!(node("usr/bin/su").mode, 0o4755);
    assert_eq!(node("usr/bin/su").hardlink_of.as_deref(), Some("usr/bin/c"));
    assert_eq!(node("usr/bin/b").hardlink_of.as_deref(), Some("usr/bin/a"));
    assert_eq!(node("home/user/notes").uid, 1000);
    assert_eq!(node("home/user/notes").xattrs.get("user.arca.note").map(Vec::as_slice), Some(&b"hello"[..]));
    assert_eq!(node("opq").mode, 0o750);
    assert!(!mine.contains_key("opq/lower1") && !mine.contains_key("opq/sub"));
    assert!(mine.contains_key("opq/upper"));
    assert!(!mine.contains_key("etc/removed") && !mine.contains_key("tree") && !mine.contains_key("usr/bin/wall"));
    assert_eq!(node("usr/lib/libm.so").kind, "file");
    assert_eq!(node("link-becomes-file").kind, "file");
    assert_eq!(node("becomes-file").kind, "file");
    assert_eq!(node("becomes-dir").kind, "dir");
    assert_eq!(node("dev/null").kind, "char");
    assert!(mine.keys().all(|p| !p.contains(".wh.")), "whiteouts must not be materialised");
}

/// Layers real tools write less tidily: parents never listed, long and
/// non-ASCII names, `./` prefixes, an opaque marker after the directory's
/// new entries, a hard link replacing a file, empty and multi-MiB files.
fn untidy_layers() -> Vec<Layer> {
    let long_dir = format!("deep/{}", "long-directory-name/".repeat(6));
    let big: String = (0..(3 << 20) / 16).map(|i| format!("{i:015x}\n")).collect();
    let base = Layer::gzip(vec![
        file_mode("implicit/parents/file", "no dir entries above me\n", 0o644),
        file_mode(&format!("{long_dir}file-with-a-long-name-{}", "x".repeat(120)), "long\n", 0o644),
        file_mode("unicode/été/日本語", "utf-8\n", 0o644),
        raw("./dotted", tar::EntryType::Regular, 0o600, "", &[]),
        file_mode("empty", "", 0o644),
        file_mode("big", &big, 0o644),
        dir_mode("later-opaque", 0o755),
        file_mode("later-opaque/old", "lower\n", 0o644),
        file_mode("replaced-by-link", "was a file\n", 0o644),
        file_mode("link-target", "target\n", 0o644),
    ]);
    let upper = Layer::gzip(vec![
        file_mode("later-opaque/new", "same layer, before the marker\n", 0o644),
        TarEntry::opaque("later-opaque"),
        TarEntry::hardlink("replaced-by-link", "link-target"),
        file_mode("implicit/parents/file", "rewritten\n", 0o640),
        file_mode("implicit/other/deeper/file", "more implicit parents\n", 0o644),
    ]);
    vec![base, upper]
}

#[test]
fn untidy_image_equals_umoci_unpack() {
    if !arca_e2e::require_tools("the umoci comparison", &["umoci"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    LayoutBuilder::new(&layout_dir).image("v1", json!({}), &untidy_layers());
    let bundle = dir.path().join("bundle");
    umoci_unpack(&layout_dir, "v1", &bundle);
    let ours = dir.path().join("ours");
    unpack_ours(&layout_dir, "v1", &ours, &UnpackOptions::default()).expect("our unpack");
    let mut theirs = snapshot(&bundle.join("rootfs"));
    let mut mine = snapshot(&ours);
    theirs.remove("");
    mine.remove("");
    let differences = diff("umoci", &theirs, "arca", &mine);
    assert!(differences.is_empty(), "unpacked trees differ:\n{}", differences.join("\n"));
    // Directories nobody listed get the time of their making in both; the
    // listed entries' times must match.
    let unlisted = |path: &str| ["implicit", "deep", "unicode"].iter().any(|p| path.starts_with(p));
    let mtimes: Vec<&String> = theirs
        .iter()
        .filter(|(path, node)| !(node.kind == "dir" && unlisted(path)) && mine[path.as_str()].mtime != node.mtime)
        .map(|(path, _)| path)
        .collect();
    assert!(mtimes.is_empty(), "mtimes differ: {mtimes:?}");
    assert!(mine.contains_key("later-opaque/new") && !mine.contains_key("later-opaque/old"));
    assert_eq!(mine["replaced-by-link"].hardlink_of.as_deref(), Some("link-target"));
}

#[test]
fn runtime_spec_matches_umoci_config() {
    if !arca_e2e::require_tools("the umoci config comparison", &["umoci"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let mut layout = LayoutBuilder::new(&layout_dir);
    let accounts = Layer::gzip(vec![
        TarEntry::dir("etc"),
        TarEntry::file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
        TarEntry::file("etc/group", "root:x:0:\nstaff:x:50:app\napp:x:1000:\n"),
    ]);
    let cases = [
        ("app", json!({"User": "app", "Entrypoint": ["/init"], "Cmd": ["-v"], "WorkingDir": "/srv", "Env": ["A=1"]})),
        ("app-staff", json!({"User": "app:staff", "Cmd": ["/bin/sh"]})),
        ("numeric", json!({"User": "1000:50", "Cmd": ["/bin/sh"]})),
        ("unlisted", json!({"User": "4242", "Cmd": ["/bin/sh"], "Labels": {"l": "v"}})),
    ];
    for (tag, config) in &cases {
        layout.image(tag, config.clone(), std::slice::from_ref(&accounts));
    }
    for (tag, _) in &cases {
        let bundle = dir.path().join(format!("bundle-{tag}"));
        umoci_unpack(&layout_dir, tag, &bundle);
        let theirs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        let rootfs = dir.path().join(format!("ours-{tag}"));
        unpack_ours(&layout_dir, tag, &rootfs, &UnpackOptions::default()).unwrap();
        let image: oci_spec::image::ImageConfiguration =
            serde_json::from_slice(&std::fs::read(image_config(&layout_dir, tag)).unwrap()).unwrap();
        let ours = serde_json::to_value(runtime_spec(&image, &rootfs).unwrap()).unwrap();
        for field in ["args", "cwd"] {
            assert_eq!(ours["process"][field], theirs["process"][field], "{tag}: process.{field}");
        }
        for field in ["uid", "gid"] {
            assert_eq!(ours["process"]["user"][field], theirs["process"]["user"][field], "{tag}: user.{field}");
        }
        let gids =
            |v: &serde_json::Value| v["process"]["user"]["additionalGids"].as_array().cloned().unwrap_or_default();
        assert_eq!(gids(&ours), gids(&theirs), "{tag}: additionalGids");
        // umoci also sets TERM=xterm; every variable of the image must be in both.
        let env = |v: &serde_json::Value| v["process"]["env"].as_array().cloned().unwrap_or_default();
        for var in env(&ours) {
            assert!(env(&theirs).contains(&var), "{tag}: {var} missing from umoci's env");
        }
        // umoci writes author/exposedPorts/stopSignal as "" when the image has none; we leave them out.
        let mut their_annotations = theirs["annotations"].as_object().cloned().unwrap_or_default();
        their_annotations.retain(|_, v| v != "");
        assert_eq!(ours["annotations"], serde_json::Value::Object(their_annotations), "{tag}: annotations");
    }
}

/// A stream that yields `data` and then fails with `error` (as the pull's
/// digest-verifying and decrypting readers fail at the end of a blob).
struct FailingAtEnd {
    data: std::io::Cursor<Vec<u8>>,
    error: Option<arca_image::Error>,
}

impl std::io::Read for FailingAtEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(error) = self.error.take() {
                return Err(std::io::Error::other(error));
            }
        }
        Ok(n)
    }
}

#[test]
fn errors_from_below_pass_through() {
    let tar = Layer::plain(vec![TarEntry::dir("d"), TarEntry::file("d/f", "x")]).tar_bytes();
    let errors = || {
        [
            arca_image::Error::Decrypt("layer HMAC mismatch".into()),
            arca_image::Error::DigestMismatch {
                what: "layer".into(),
                expected: "sha256:a".into(),
                actual: "sha256:b".into(),
            },
        ]
    };
    for media_type in ["application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip"] {
        for error in errors() {
            let blob = if media_type.ends_with("gzip") { arca_e2e::layout::gzip(&tar) } else { tar.clone() };
            let dir = tempfile::tempdir().unwrap();
            let expected = std::mem::discriminant(&error);
            let below = FailingAtEnd { data: std::io::Cursor::new(blob), error: Some(error) };
            let reader = decoder(media_type, Box::new(below)).unwrap();
            // The error comes at the very end, after the tar's end marker:
            // apply_layer reads the stream to its end and so must report it.
            let err = apply_layer(reader, dir.path(), "sha256:l", &UnpackOptions::default()).unwrap_err();
            assert_eq!(std::mem::discriminant(&err), expected, "{media_type}: {err:?}");
        }
    }
}
