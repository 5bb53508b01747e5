//! Hostile layers against `arca_image::unpack::apply_layer`: path
//! traversal, absolute, chained and parent symlinks, hard-link escapes,
//! device nodes, a 10 GiB gzip bomb, truncated layers, oversized headers.
//! Each must fail with an error naming the layer and leave nothing outside
//! DEST: a canary directory beside DEST and the host's /etc/passwd are
//! compared before and after every case.
//!
//! Symlinks resolve as they would inside the container (the rootfs is `/`),
//! like umoci and containerd resolve them: a hostile symlink whose target
//! does not exist inside the rootfs makes the entry fail, and one whose
//! target does exist there (e.g. `x -> ../../..`, which is the rootfs root)
//! leads inside the rootfs. The cases below check both.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use arca_e2e::layout::gzip;
use arca_e2e::tree::{snapshot, Node};
use arca_e2e::{Layer, TarEntry};
use arca_image::compression::decoder;
use arca_image::unpack::{apply_layer, LayerStats, UnpackOptions};
use arca_image::Error;

const PLAIN: &str = "application/vnd.oci.image.layer.v1.tar";
const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const LAYER: &str = "sha256:hostile";

/// A temp dir holding DEST (`dest/`, the rootfs is `dest/rootfs`) and a
/// canary directory beside it.
struct Sandbox {
    _dir: tempfile::TempDir,
    top: PathBuf,
    rootfs: PathBuf,
    canary: PathBuf,
    before: BTreeMap<String, Node>,
    passwd: Vec<u8>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().to_path_buf();
        let rootfs = top.join("dest/rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let canary = top.join("canary");
        std::fs::create_dir(&canary).unwrap();
        std::fs::write(canary.join("keep"), "canary\n").unwrap();
        std::fs::create_dir(canary.join("sub")).unwrap();
        let mut sandbox = Sandbox {
            _dir: dir,
            top,
            rootfs,
            canary,
            before: BTreeMap::new(),
            passwd: std::fs::read("/etc/passwd").unwrap_or_default(),
        };
        sandbox.before = sandbox.outside();
        sandbox
    }

    /// Everything under the temp dir except the rootfs's contents.
    fn outside(&self) -> BTreeMap<String, Node> {
        let mut all = snapshot(&self.top);
        all.retain(|path, _| !path.starts_with("dest/rootfs/"));
        // The rootfs directory itself is DEST's: its mode and times may change.
        all.remove("dest/rootfs");
        all.remove("dest");
        all.remove("");
        all
    }

    /// Asserts nothing outside DEST changed.
    fn check_outside(&self, case: &str) {
        let after = self.outside();
        assert_eq!(after, self.before, "{case}: something outside DEST changed");
        let dest: Vec<_> = std::fs::read_dir(self.top.join("dest")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(dest, vec![std::ffi::OsString::from("rootfs")], "{case}: DEST gained entries beside the rootfs");
        assert_eq!(std::fs::read("/etc/passwd").unwrap_or_default(), self.passwd, "{case}: host /etc/passwd changed");
    }

    fn apply(&self, media_type: &str, blob: Vec<u8>, options: &UnpackOptions) -> arca_image::Result<LayerStats> {
        let reader = decoder(media_type, Box::new(std::io::Cursor::new(blob)))?;
        apply_layer(reader, &self.rootfs, LAYER, options)
    }

    fn canary_path(&self, rel: &str) -> String {
        self.canary.join(rel).to_string_lossy().into_owned()
    }
}

fn raw(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> TarEntry {
    TarEntry::Raw {
        name: name.as_bytes().to_vec(),
        link: link.as_bytes().to_vec(),
        kind,
        mode: 0o644,
        data: data.to_vec(),
        pax: Vec::new(),
    }
}

fn file(name: &str, data: &str) -> TarEntry {
    raw(name, tar::EntryType::Regular, "", data.as_bytes())
}

fn symlink(name: &str, target: &str) -> TarEntry {
    raw(name, tar::EntryType::Symlink, target, b"")
}

fn hardlink(name: &str, target: &str) -> TarEntry {
    raw(name, tar::EntryType::Link, target, b"")
}

fn dir(name: &str) -> TarEntry {
    TarEntry::Raw {
        name: name.as_bytes().to_vec(),
        link: Vec::new(),
        kind: tar::EntryType::Directory,
        mode: 0o777,
        data: Vec::new(),
        pax: Vec::new(),
    }
}

fn tar(entries: Vec<TarEntry>) -> Vec<u8> {
    Layer::plain(entries).tar_bytes()
}

/// Applies the entries `entries` builds (given the sandbox, for its canary's path) as a gzip layer in a fresh sandbox; the result must be
/// an error naming the layer and the entry `culprit` (and mentioning
/// `reason` when given), and nothing outside DEST may change.
fn must_fail(case: &str, entries: impl FnOnce(&Sandbox) -> Vec<TarEntry>, culprit: &str, reason: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    let result = sandbox.apply(GZIP, gzip(&tar(entries(&sandbox))), &UnpackOptions::default());
    let err = result.expect_err(case);
    let text = err.to_string();
    assert!(matches!(err, Error::Unpack { .. }), "{case}: {err:?}");
    assert!(text.contains(LAYER) && text.contains(culprit) && text.contains(reason), "{case}: {text}");
    sandbox.check_outside(case);
    sandbox
}

#[test]
fn path_traversal_is_refused() {
    must_fail("../x", |_| vec![file("../pwned", "x")], "../pwned", "\"..\"");
    must_fail("a/../../x", |_| vec![dir("a"), file("a/../../pwned", "x")], "a/../../pwned", "\"..\"");
    must_fail("../canary/keep", |_| vec![file("../../canary/keep", "overwritten")], "../../canary/keep", "\"..\"");
    must_fail("dir ..", |_| vec![dir("../../canary/sub")], "../../canary/sub", "\"..\"");
    must_fail("whiteout ..", |_| vec![file("../../canary/.wh.keep", "")], "../../canary/.wh.keep", "\"..\"");
    must_fail("whiteout of ..", |_| vec![dir("a"), file("a/.wh...", "")], "a/.wh...", "whiteout");
}

#[test]
fn absolute_symlink_then_write_through_it() {
    must_fail(
        "abs symlink",
        |s| vec![symlink("evil", &s.canary_path("")), file("evil/pwned", "x")],
        "evil/pwned",
        "parent",
    );
    must_fail(
        "etc -> /etc",
        |_| vec![symlink("etc", "/etc"), file("etc/passwd", "root::0:0::/:/bin/sh\n")],
        "etc/passwd",
        "parent",
    );
}

#[test]
fn chained_symlinks() {
    let up = "../".repeat(12);
    let canary_rel = |s: &Sandbox| format!("{up}{}", s.canary.to_string_lossy().trim_start_matches('/'));
    must_fail(
        "chain",
        |s| vec![symlink("a", "b"), symlink("b", "c"), symlink("c", &canary_rel(s)), file("a/pwned", "x")],
        "a/pwned",
        "parent",
    );
    must_fail("loop", |_| vec![symlink("a", "b"), symlink("b", "a"), file("a/x", "x")], "a/x", "symbolic links");
    must_fail("self loop", |_| vec![symlink("s", "s/s"), dir("s/d")], "s/d", "parent");
    // A chain whose end exists inside the rootfs leads there and nowhere else.
    let s = Sandbox::new();
    let layer = tar(vec![dir("real"), symlink("a", "b"), symlink("b", &format!("{up}real")), file("a/inside", "ok")]);
    s.apply(PLAIN, layer, &UnpackOptions::default()).expect("a chain resolving inside the rootfs is fine");
    assert_eq!(std::fs::read_to_string(s.rootfs.join("real/inside")).unwrap(), "ok");
    s.check_outside("chain inside");
}

#[test]
fn symlinked_parent_dir() {
    let target = |s: &Sandbox| s.canary_path("sub");
    must_fail("parent", |s| vec![symlink("d", &target(s)), dir("d/new"), file("d/new/pwned", "x")], "d/new", "parent");
    must_fail("parent file", |s| vec![symlink("d", &target(s)), file("d/pwned", "x")], "d/pwned", "parent");
    // `d -> ../../..` is the rootfs root seen from inside: the file lands in the rootfs.
    let s = Sandbox::new();
    s.apply(PLAIN, tar(vec![dir("x"), symlink("x/d", "../../.."), file("x/d/top", "t")]), &UnpackOptions::default())
        .unwrap();
    assert_eq!(std::fs::read_to_string(s.rootfs.join("top")).unwrap(), "t");
    s.check_outside("parent .. inside");
}

#[test]
fn existing_symlinks_are_replaced_not_followed() {
    let s = Sandbox::new();
    let layer = tar(vec![
        symlink("f", &s.canary_path("keep")),
        file("f", "replaced the link"),
        symlink("d", &s.canary_path("sub")),
        dir("d"),
        symlink("g", &s.canary_path("keep")),
        symlink("g", "/etc/shadow"),
        symlink("w", &s.canary_path("")),
        file("w/.wh.keep", ""),
        file(".wh.g", ""),
    ]);
    s.apply(PLAIN, layer, &UnpackOptions::default()).unwrap();
    assert_eq!(std::fs::read_to_string(s.rootfs.join("f")).unwrap(), "replaced the link");
    assert!(std::fs::symlink_metadata(s.rootfs.join("d")).unwrap().is_dir());
    // A whiteout only hides lower layers' entries: `g` of this layer stays, re-pointed.
    assert_eq!(std::fs::read_link(s.rootfs.join("g")).unwrap(), Path::new("/etc/shadow"));
    s.check_outside("replace links");
}

#[test]
fn hardlink_escape() {
    must_fail("to /etc/passwd", |_| vec![hardlink("pw", "/etc/passwd")], "pw", "not found");
    must_fail("to ../", |_| vec![hardlink("pw", "../../canary/keep")], "pw", "\"..\"");
    must_fail(
        "via symlinked dir",
        |s| vec![symlink("h", &s.canary_path("")), hardlink("pw", "h/keep")],
        "pw",
        "not found",
    );
    must_fail("to a directory", |_| vec![dir("d"), hardlink("pw", "d")], "pw", "cannot link");
    // A hard link to a symlink links the symlink itself, never its target.
    let s = Sandbox::new();
    s.apply(PLAIN, tar(vec![symlink("l", &s.canary_path("keep")), hardlink("pw", "l")]), &UnpackOptions::default())
        .unwrap();
    assert!(std::fs::symlink_metadata(s.rootfs.join("pw")).unwrap().file_type().is_symlink());
    s.check_outside("link to symlink");
}

#[test]
fn device_nodes_when_not_allowed() {
    for kind in [tar::EntryType::Char, tar::EntryType::Block, tar::EntryType::Fifo] {
        let s = must_fail("device", |_| vec![dir("dev"), raw("dev/node", kind, "", b"")], "dev/node", "allow_devices");
        assert!(std::fs::symlink_metadata(s.rootfs.join("dev/node")).is_err());
    }
}

/// A gzip stream of a tar holding one 10 GiB file of zeros, written to `path`
/// as concatenated gzip members (one compressed 16 MiB chunk repeated), so
/// building it takes ~10 MB and no 10 GiB buffer.
fn write_gzip_bomb(path: &Path) -> u64 {
    const CHUNK: usize = 16 << 20;
    const TOTAL: u64 = 10 << 30;
    let mut header = tar::Header::new_gnu();
    header.set_path("bomb").unwrap();
    header.set_size(TOTAL);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&gzip(header.as_bytes())).unwrap();
    let zeros = gzip(&vec![0u8; CHUNK]);
    for _ in 0..(TOTAL / CHUNK as u64) {
        out.write_all(&zeros).unwrap();
    }
    out.write_all(&gzip(&[0u8; 1024])).unwrap(); // end-of-archive
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn gzip_bomb_stops_at_the_layer_limit() {
    let s = Sandbox::new();
    let bomb = s.top.join("bomb.gz");
    let compressed = write_gzip_bomb(&bomb);
    assert!(compressed < 32 << 20, "the bomb blob is {compressed} bytes");
    let before = s.outside();
    let limit = 64u64 << 20;
    let options = UnpackOptions { max_layer_bytes: limit, ..UnpackOptions::default() };
    let reader = decoder(GZIP, Box::new(std::io::BufReader::new(std::fs::File::open(&bomb).unwrap()))).unwrap();
    let err = apply_layer(reader, &s.rootfs, LAYER, &options).expect_err("the bomb must hit the limit");
    match &err {
        Error::TooLarge { what, limit: l } => {
            assert!(what.contains(LAYER), "{err}");
            assert_eq!(*l, limit);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // What reached the disk stays below the limit.
    let written = std::fs::metadata(s.rootfs.join("bomb")).map(|m| m.len()).unwrap_or(0);
    assert!(written <= limit, "{written} bytes written");
    assert_eq!(s.outside(), before, "something outside DEST changed");
}

#[test]
fn truncated_layers() {
    let entries = vec![dir("d"), file("d/a", &"a".repeat(5000)), file("d/b", "b")];
    let whole = tar(entries.clone());
    let gz = gzip(&whole);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("gzip cut in half", GZIP, gz[..gz.len() / 2].to_vec(), "gzip"),
        ("gzip without trailer", GZIP, gz[..gz.len() - 4].to_vec(), "gzip"),
        // Header of d/a (at 512), its data from 1024.
        ("tar cut in file data", PLAIN, whole[..1024 + 2000].to_vec(), "truncated"),
        ("tar cut at a header boundary", PLAIN, whole[..512].to_vec(), "end-of-archive"),
        ("tar cut inside a header", PLAIN, whole[..700].to_vec(), "reading the layer"),
        ("tar without end marker", PLAIN, whole[..whole.len() - 1024].to_vec(), "end-of-archive"),
    ];
    for (case, media_type, blob, reason) in cases {
        let s = Sandbox::new();
        let err = s.apply(media_type, blob, &UnpackOptions::default()).expect_err(case).to_string();
        assert!(err.contains(LAYER) && err.contains(reason), "{case}: {err}");
        s.check_outside(case);
    }
    let s = Sandbox::new();
    s.apply(PLAIN, whole, &UnpackOptions::default()).expect("the whole layer unpacks");
    // An empty stream is an empty layer, plain or compressed.
    let s = Sandbox::new();
    assert_eq!(s.apply(PLAIN, Vec::new(), &UnpackOptions::default()).unwrap().entries, 0);
    assert_eq!(s.apply(GZIP, gzip(b""), &UnpackOptions::default()).unwrap().entries, 0);
}

#[test]
fn oversized_headers_and_counts() {
    // A GNU long name header announcing 1 GiB is refused before it is read.
    let mut long = tar::Header::new_gnu();
    long.set_entry_type(tar::EntryType::GNULongName);
    long.set_path("././@LongLink").unwrap();
    long.set_size(1 << 30);
    long.set_cksum();
    let mut blob = long.as_bytes().to_vec();
    blob.extend(vec![b'a'; 4096]);
    let s = Sandbox::new();
    let err = s.apply(PLAIN, blob, &UnpackOptions::default()).unwrap_err().to_string();
    assert!(err.contains("exceeds the limit"), "{err}");

    // A PAX path longer than max_path_len.
    let long_path = "d/".repeat(3000) + "f";
    let entry = TarEntry::Raw {
        name: b"short".to_vec(),
        link: Vec::new(),
        kind: tar::EntryType::Regular,
        mode: 0o644,
        data: Vec::new(),
        pax: vec![("path".into(), long_path.into_bytes())],
    };
    let s = Sandbox::new();
    let err = s.apply(PLAIN, tar(vec![entry]), &UnpackOptions::default()).unwrap_err().to_string();
    assert!(err.contains("longer than the limit"), "{err}");

    // An xattr value above the limit.
    let entry = TarEntry::Raw {
        name: b"x".to_vec(),
        link: Vec::new(),
        kind: tar::EntryType::Regular,
        mode: 0o644,
        data: Vec::new(),
        pax: vec![("SCHILY.xattr.user.big".into(), vec![7u8; 70_000])],
    };
    let s = Sandbox::new();
    let err = s.apply(PLAIN, tar(vec![entry]), &UnpackOptions::default()).unwrap_err().to_string();
    assert!(err.contains("xattr user.big"), "{err}");

    // More entries than allowed.
    let many: Vec<TarEntry> = (0..50).map(|i| file(&format!("f{i}"), "")).collect();
    let s = Sandbox::new();
    let options = UnpackOptions { max_entries: 20, ..UnpackOptions::default() };
    let err = s.apply(PLAIN, tar(many), &options).unwrap_err().to_string();
    assert!(err.contains("more than 20 tar entries") && err.contains(LAYER), "{err}");
    s.check_outside("entry count");
}

/// Entry names and link targets built from components that try every way
/// out: `..`, `.`, empty, absolute paths to the canary, whiteout prefixes.
mod random_names {
    use proptest::prelude::*;

    use super::*;

    const CANARY: &str = "@CANARY";

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            Just("a".to_string()),
            Just("b".to_string()),
            Just("keep".to_string()),
            Just("sub".to_string()),
            Just(".wh.keep".to_string()),
            Just(".wh..wh..opq".to_string()),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        (any::<bool>(), prop::collection::vec(component(), 1..4))
            .prop_map(|(absolute, parts)| format!("{}{}", if absolute { "/" } else { "" }, parts.join("/")))
    }

    /// A link target: often the canary (absolute, or relative with enough `..`), else a name.
    fn target() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(format!("/{CANARY}")),
            Just(format!("/{CANARY}/keep")),
            Just(format!("/{CANARY}/sub")),
            (1..14usize).prop_map(|n| format!("{}{CANARY}", "../".repeat(n))),
            Just("/etc/passwd".to_string()),
            name(),
        ]
    }

    #[derive(Debug, Clone)]
    enum Kind {
        File,
        Dir,
        Symlink(String),
        Hardlink(String),
    }

    fn entry() -> impl Strategy<Value = (String, Kind)> {
        let kind = prop_oneof![
            Just(Kind::File),
            Just(Kind::Dir),
            target().prop_map(Kind::Symlink),
            target().prop_map(Kind::Hardlink),
        ];
        (name(), kind)
    }

    fn build(sandbox: &Sandbox, entries: &[(String, Kind)]) -> Vec<TarEntry> {
        let canary = sandbox.canary.to_string_lossy().into_owned();
        let fix = |s: &str| s.replace(CANARY, canary.trim_start_matches('/'));
        entries
            .iter()
            .filter_map(|(name, kind)| {
                let name = fix(name);
                let entry = match kind {
                    Kind::File => file(&name, "pwned"),
                    Kind::Dir => dir(&name),
                    Kind::Symlink(target) => symlink(&name, &fix(target)),
                    Kind::Hardlink(target) => hardlink(&name, &fix(target)),
                };
                // Raw tar names hold 100 bytes; longer ones are left out.
                let fits = match &entry {
                    TarEntry::Raw { name, link, .. } => name.len() <= 100 && link.len() <= 100,
                    _ => true,
                };
                fits.then_some(entry)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn random_entries_never_escape(layers in prop::collection::vec(prop::collection::vec(entry(), 1..8), 1..3)) {
            let sandbox = Sandbox::new();
            for layer in &layers {
                // Success or failure both fine; escaping is not.
                let _ = sandbox.apply(PLAIN, tar(build(&sandbox, layer)), &UnpackOptions::default());
                sandbox.check_outside(&format!("{layers:?}"));
            }
        }
    }
}
