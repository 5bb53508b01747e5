//! Nydus RAFS v6 images built by the real `nydus-image` (nydus-rs 2.2.0):
//! what Arca reads equals the source tree and what `nydusd` serves over
//! FUSE; corrupted blobs and hostile bootstraps are errors, never panics or
//! wrong data; a nydus image pushed to a registry pulls and unpacks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arca_e2e::nydus::{nydus_layout, rich_tree, NydusTools};
use arca_e2e::tree::{diff, snapshot, Node};
use arca_e2e::{skopeo_copy, Registry, RegistryOptions};
use arca_image::nydus::{Bootstrap, Rafs, Source};
use arca_image::unpack::UnpackOptions;
use arca_image::Error;

fn unpack_options() -> UnpackOptions {
    UnpackOptions { allow_devices: true, ..UnpackOptions::default() }
}

/// The tree minus its root entry (nydus-image does not record the source
/// directory's own owner and mode the way the unpack target has them).
fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut t = snapshot(root);
    t.remove("");
    t
}

fn assert_same(left_name: &str, left: &Path, right_name: &str, right: &Path) {
    let differences = diff(left_name, &tree(left), right_name, &tree(right));
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

fn unpack(rafs: &Rafs, dest: &Path) {
    std::fs::create_dir_all(dest).expect("mkdir");
    rafs.unpack(dest, &unpack_options()).expect("unpack RAFS");
}

/// Every compressor and digester nydus-image offers, and small chunks: the
/// unpacked tree equals the source (contents, modes, owners, xattrs, links,
/// hard links, fifo), and files read lazily by path equal the source files.
#[test]
fn dir_rafs_equals_source_tree() {
    let Some(tools) = NydusTools::find("dir_rafs_equals_source_tree") else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    rich_tree(&src);
    for (compressor, digester, extra) in [
        ("lz4_block", "blake3", &[][..]),
        ("zstd", "sha256", &[][..]),
        ("none", "blake3", &[][..]),
        ("lz4_block", "sha256", &["--chunk-size", "0x10000"][..]),
        ("none", "sha256", &["--chunk-size", "0x1000"][..]),
    ] {
        let out = work.path().join(format!("rafs-{compressor}-{digester}-{}", extra.len()));
        let mut args = vec!["--compressor", compressor, "--digester", digester];
        args.extend_from_slice(extra);
        let (boot, blobs) = tools.create("dir-rafs", &src, &out, &args);
        let rafs = Rafs::open(&boot, &blobs).expect("open RAFS");
        assert_eq!(rafs.bootstrap().blobs().len(), 1);
        assert!(!rafs.bootstrap().chunks().is_empty());
        let checked = rafs.verify_chunks().expect("every chunk checks out");
        assert!(checked >= 8, "{checked} chunks");
        let dest = out.join("unpacked");
        unpack(&rafs, &dest);
        assert_same("source", &src, &format!("arca ({compressor}, {digester})"), &dest);
        for path in
            ["var/lib/random.bin", "var/lib/compressible.bin", "etc/hostname", "etc/empty", "var/lib/exactly-one-mib"]
        {
            let mut data = Vec::new();
            let mut reader = rafs.open_file(path).expect("open by path");
            reader.read_to_end(&mut data).expect("lazy read");
            assert_eq!(data, std::fs::read(src.join(path)).expect("source"), "{path} read lazily");
        }
    }
}

/// An OCI layer (tar.gz) converted with `targz-rafs` reads back as the tree it came from.
#[test]
fn targz_rafs_equals_layer_tree() {
    let Some(tools) = NydusTools::find("targz_rafs_equals_layer_tree") else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    rich_tree(&src);
    // The fifo is left out: not every tar writer keeps it the same way.
    std::fs::remove_file(src.join("var/fifo")).expect("rm fifo");
    let layer = work.path().join("layer.tar.gz");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&layer).expect("layer"),
        flate2::Compression::fast(),
    ));
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    builder.append_dir_all(".", &src).expect("tar the tree");
    builder.into_inner().expect("tar").finish().expect("gzip");
    let out = work.path().join("rafs");
    let (boot, blobs) = tools.create("targz-rafs", &layer, &out, &[]);
    let rafs = Rafs::open(&boot, &blobs).expect("open RAFS");
    rafs.verify_chunks().expect("chunks check out");
    let dest = out.join("unpacked");
    unpack(&rafs, &dest);
    // tar's append_dir_all does not keep xattrs or hard links: compare
    // contents, kinds, modes, owners and link targets.
    let strip = |t: BTreeMap<String, Node>| -> BTreeMap<String, Node> {
        t.into_iter()
            .map(|(p, mut n)| {
                n.xattrs.clear();
                n.hardlink_of = None;
                n.nlink = 0;
                (p, n)
            })
            .collect()
    };
    let differences = diff("source", &strip(tree(&src)), "arca (targz-rafs)", &strip(tree(&dest)));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// What Arca unpacks equals what nydusd itself serves over FUSE.
#[test]
fn arca_equals_nydusd_fuse_mount() {
    let Some(tools) = NydusTools::find("arca_equals_nydusd_fuse_mount") else { return };
    if !rustix::process::geteuid().is_root() || !Path::new("/dev/fuse").exists() {
        eprintln!("skipped: arca_equals_nydusd_fuse_mount needs root and /dev/fuse for nydusd");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    rich_tree(&src);
    let out = work.path().join("rafs");
    let (boot, blobs) = tools.create("dir-rafs", &src, &out, &["--compressor", "zstd"]);
    let rafs = Rafs::open(&boot, &blobs).expect("open RAFS");
    let dest = out.join("unpacked");
    unpack(&rafs, &dest);
    let mnt = work.path().join("mnt");
    let Some(_mount) = tools.mount(&boot, &blobs, work.path(), &mnt) else { return };
    let fuse = tree(&mnt);
    let ours = tree(&dest);
    assert!(fuse.len() > 300, "nydusd serves {} paths", fuse.len());
    let differences = diff("nydusd", &fuse, "arca", &ours);
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
    // mtimes too: both come from the same inodes.
    for (path, node) in &fuse {
        if node.kind != "symlink" {
            assert_eq!(node.mtime, ours[path].mtime, "mtime of {path}");
        }
    }
}

/// A flipped byte inside a chunk of the blob: the digest check names the
/// chunk, and neither the check, nor an unpack, nor a lazy read lets the data through.
#[test]
fn flipped_blob_byte_is_caught() {
    let Some(tools) = NydusTools::find("flipped_blob_byte_is_caught") else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    rich_tree(&src);
    for compressor in ["none", "lz4_block", "zstd"] {
        let out = work.path().join(format!("rafs-{compressor}"));
        let (boot, blobs) = tools.create("dir-rafs", &src, &out, &["--compressor", compressor]);
        let bootstrap = Bootstrap::open(&boot).expect("bootstrap");
        let blob = blobs.join(&bootstrap.blobs()[0].id);
        // The chunk holding the middle of random.bin (its chunks follow each
        // other in the blob, so one chunk index covers them all).
        let inode = bootstrap.lookup(b"var/lib/random.bin").expect("lookup");
        let seg = bootstrap.segments(&inode).expect("segments")[0];
        let Source::Blob { blob: b, offset } = seg.source else { panic!("random.bin data in the blob expected") };
        let chunks = bootstrap.blob_chunks(b, offset, seg.len).expect("chunks");
        assert!(chunks.len() >= 2, "random.bin spans {} chunks", chunks.len());
        let (chunk_idx, _) = chunks[1];
        let chunk = bootstrap.chunks()[chunk_idx].clone();
        let mut data = std::fs::read(&blob).expect("blob");
        let at = (chunk.compressed_offset + u64::from(chunk.compressed_size) / 2) as usize;
        data[at] ^= 0x01;
        std::fs::write(&blob, &data).expect("write blob");

        let rafs = Rafs::new(bootstrap, &blobs).expect("rafs");
        match rafs.read_chunk(chunk_idx) {
            Err(Error::RafsChunk { chunk: c, offset, .. }) => {
                assert_eq!((c, offset), (chunk.index, chunk.compressed_offset), "the error names the chunk")
            }
            Ok(data) => panic!("{compressor}: flipped byte not caught ({} bytes returned)", data.len()),
            Err(other) => panic!("{compressor}: wrong error for a flipped byte: {other}"),
        }
        assert!(matches!(rafs.verify_chunks(), Err(Error::RafsChunk { .. })));
        let dest = out.join("unpacked");
        std::fs::create_dir_all(&dest).expect("mkdir");
        let err = rafs.unpack(&dest, &unpack_options()).expect_err("unpack must fail");
        assert!(matches!(err, Error::RafsChunk { .. }), "{compressor}: {err}");
        let mut sink = Vec::new();
        let err =
            rafs.open_file("var/lib/random.bin").expect("open").read_to_end(&mut sink).expect_err("read must fail");
        assert!(err.to_string().contains("chunk"), "{err}");
        // Files whose chunks are intact still read.
        let mut ok = Vec::new();
        rafs.open_file("etc/hostname").expect("open").read_to_end(&mut ok).expect("intact file");
        assert_eq!(ok, b"arca\n");
    }
}

/// Truncated, bit-flipped and crafted bootstraps: errors (or, for flips in
/// unused bytes, a tree), never a panic, never anything outside the target.
#[test]
fn hostile_bootstraps_give_errors() {
    let Some(tools) = NydusTools::find("hostile_bootstraps_give_errors") else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("dir/sub")).expect("mkdir");
    std::fs::write(src.join("dir/file"), b"hello").expect("write");
    std::fs::write(src.join("top"), vec![7u8; 70_000]).expect("write");
    std::os::unix::fs::symlink("../top", src.join("dir/link")).expect("symlink");
    let out = work.path().join("rafs");
    let (boot, blobs) = tools.create("dir-rafs", &src, &out, &[]);
    let good = std::fs::read(&boot).expect("bootstrap");

    let read_all = |bytes: Vec<u8>| -> arca_image::Result<usize> {
        let rafs = Rafs::new(Bootstrap::parse(bytes)?, &blobs)?;
        let entries = rafs.walk()?;
        for e in &entries {
            rafs.bootstrap().xattrs(&e.inode)?;
            if e.inode.kind == arca_image::nydus::Kind::File {
                let mut sink = Vec::new();
                rafs.reader(&e.inode)?.read_to_end(&mut sink).map_err(|e| Error::io("read", e))?;
            }
        }
        Ok(entries.len())
    };
    assert_eq!(read_all(good.clone()).expect("the good bootstrap reads"), 6);

    // Truncated anywhere: an error.
    for len in [0, 1, 1024, 1100, 1152, 1300, 4096, good.len() / 2, good.len() - 1] {
        assert!(read_all(good[..len].to_vec()).is_err(), "truncated to {len} bytes was accepted");
    }
    // A flipped bit anywhere: no panic (most give errors, some hit unused bytes).
    let mut errors = 0;
    for at in (0..good.len()).step_by(3) {
        let mut bad = good.clone();
        bad[at] ^= 1 << (at % 8);
        if read_all(bad).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0);

    // Crafted: a directory entry pointing back at the root (a cycle).
    let bootstrap = Bootstrap::parse(good.clone()).expect("parse");
    let root = bootstrap.root().expect("root");
    let dir_nid = bootstrap.read_dir(&root).expect("root dir").into_iter().find(|e| e.name == b"dir").expect("dir").nid;
    let dir = bootstrap.inode(dir_nid).expect("dir inode");
    let seg = bootstrap.segments(&dir).expect("segments")[0];
    let Source::Meta(pos) = seg.source else { panic!("directory data in the bootstrap expected") };
    let block = &good[pos as usize..(pos + seg.len) as usize];
    let n = u16::from_le_bytes([block[8], block[9]]) as usize / 12;
    let mut cyclic = good.clone();
    let mut patched = false;
    for i in 0..n {
        let start = u16::from_le_bytes([block[i * 12 + 8], block[i * 12 + 9]]) as usize;
        if block[start..].starts_with(b"sub") {
            let at = pos as usize + i * 12;
            cyclic[at..at + 8].copy_from_slice(&root.nid.to_le_bytes());
            patched = true;
        }
    }
    assert!(patched);
    let err = read_all(cyclic).expect_err("a directory cycle must be refused");
    assert!(err.to_string().contains("second time"), "{err}");

    // Crafted: a name with a '/' that would leave the directory.
    let mut slash = good.clone();
    let at = good.windows(4).position(|w| w == b"file").expect("name in the bootstrap");
    slash[at..at + 4].copy_from_slice(b"../x");
    let err = read_all(slash).expect_err("a name with '/' must be refused");
    assert!(err.to_string().contains("'/'"), "{err}");

    // Not RAFS at all.
    assert!(matches!(Bootstrap::parse(vec![0u8; 8192]), Err(Error::Rafs { .. })));
}

/// A nydus image pushed to a registry (blob layers + annotated bootstrap
/// layer, as nydusify makes it) pulls and unpacks to the source tree; a
/// registry that serves a tampered blob is caught.
#[tokio::test(flavor = "multi_thread")]
async fn pull_nydus_image_from_registry() {
    let Some(tools) = NydusTools::find("pull_nydus_image_from_registry") else { return };
    if !arca_e2e::require_tools("pull_nydus_image_from_registry", &["skopeo"]) {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    rich_tree(&src);
    let out = work.path().join("rafs");
    let (boot, blobs) = tools.create("dir-rafs", &src, &out, &[]);
    let layout = nydus_layout(&work.path().join("layout"), "v1", &boot, &blobs);
    skopeo_copy(work.path(), &[], &layout.skopeo_name("v1"), &registry.docker_ref("nydus/rich:v1"));

    arca_image::registry::install_crypto_provider();
    let client = Arc::new(
        arca_image::RegistryClient::new(arca_image::RegistryOptions {
            insecure_hosts: vec![registry.host.clone()],
            ..Default::default()
        })
        .expect("client"),
    );
    let reference = arca_image::parse_reference(&format!("{}/nydus/rich:v1", registry.host)).expect("reference");
    let dest = work.path().join("bundle");
    let options = arca_image::PullOptions { unpack: unpack_options(), ..Default::default() };
    let report = arca_image::nydus::pull::pull_nydus(&client, &reference, &dest, &options).await.expect("nydus pull");
    assert_eq!(report.blobs, 1);
    assert_same("source", &src, "pulled nydus rootfs", &dest.join("rootfs"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("config.json")).expect("config.json")).expect("json");
    assert_eq!(config["process"]["args"][0], "/usr/bin/tool");
    // The kept bootstrap and blobs read lazily afterwards.
    let rafs = Rafs::open(&report.bootstrap, &report.blob_dir).expect("kept image");
    let mut data = Vec::new();
    rafs.open_file("etc/hostname").expect("open").read_to_end(&mut data).expect("read");
    assert_eq!(data, b"arca\n");

    // The registry serving a tampered blob: the download's digest check stops it.
    let blob_id = Bootstrap::open(&boot).expect("bootstrap").blobs()[0].id.clone();
    let stored =
        registry.dir().join(format!("storage/docker/registry/v2/blobs/sha256/{}/{blob_id}/data", &blob_id[..2]));
    let stored = if stored.exists() {
        stored
    } else {
        find_file(registry.dir(), &blob_id).expect("the registry's copy of the blob")
    };
    let mut data = std::fs::read(&stored).expect("stored blob");
    let mid = data.len() / 2;
    data[mid] ^= 0x40;
    std::fs::write(&stored, &data).expect("tamper");
    let err = arca_image::nydus::pull::pull_nydus(&client, &reference, &work.path().join("tampered"), &options)
        .await
        .expect_err("tampered blob");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(!work.path().join("tampered/rootfs").exists());

    // A plain OCI image is not a nydus image.
    let plain = arca_e2e::LayoutBuilder::new(&work.path().join("plain"))
        .image("v1", serde_json::json!({}), &[arca_e2e::Layer::gzip(vec![arca_e2e::TarEntry::file("f", "x")])])
        .skopeo_name("v1");
    skopeo_copy(work.path(), &[], &plain, &registry.docker_ref("plain/img:v1"));
    let reference = arca_image::parse_reference(&format!("{}/plain/img:v1", registry.host)).expect("reference");
    let err = arca_image::nydus::pull::pull_nydus(&client, &reference, &work.path().join("plain-bundle"), &options)
        .await
        .expect_err("not nydus");
    assert!(err.to_string().contains("not a nydus image"), "{err}");
}

/// The `data` file under a directory named `id` somewhere below `dir`.
fn find_file(dir: &Path, id: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == id) && path.join("data").is_file() {
                return Some(path.join("data"));
            }
            if let Some(found) = find_file(&path, id) {
                return Some(found);
            }
        }
    }
    None
}

/// `arca image nydus unpack|check|cat` on an image nydus-image built.
#[test]
fn cli_unpack_check_cat() {
    let Some(tools) = NydusTools::find("cli_unpack_check_cat") else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    rich_tree(&src);
    std::fs::remove_file(src.join("var/fifo")).expect("rm fifo");
    let out = work.path().join("rafs");
    let (boot, blobs) = tools.create("dir-rafs", &src, &out, &[]);
    let arca = arca_e2e::arca_binary();
    let dest = work.path().join("unpacked");
    arca_e2e::run(
        std::process::Command::new(arca).args(["image", "nydus", "unpack"]).arg(&boot).arg(&blobs).arg(&dest),
    );
    assert_same("source", &src, "arca image nydus unpack", &dest);
    let cat = arca_e2e::run(
        std::process::Command::new(arca)
            .args(["image", "nydus", "cat"])
            .arg(&boot)
            .arg(&blobs)
            .arg("var/lib/random.bin"),
    );
    assert_eq!(cat.stdout, std::fs::read(src.join("var/lib/random.bin")).expect("source"));
    let check =
        arca_e2e::run(std::process::Command::new(arca).args(["image", "nydus", "check"]).arg(&boot).arg(&blobs));
    assert!(String::from_utf8_lossy(&check.stdout).contains("match their digests"));

    let bootstrap = Bootstrap::open(&boot).expect("bootstrap");
    let chunk = bootstrap.chunks().last().expect("a chunk").clone();
    let blob = blobs.join(&bootstrap.blobs()[0].id);
    let mut data = std::fs::read(&blob).expect("blob");
    data[chunk.compressed_offset as usize] ^= 0x80;
    std::fs::write(&blob, &data).expect("write");
    let failed = std::process::Command::new(arca)
        .args(["image", "nydus", "check"])
        .arg(&boot)
        .arg(&blobs)
        .output()
        .expect("run arca");
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("chunk {} (compressed offset {})", chunk.index, chunk.compressed_offset)),
        "{stderr}"
    );
}
