//! `arca-image` pulls against Debian's `docker-registry`: plain and TLS,
//! basic auth, multi-platform indexes, Docker schema2, mirrors, tampered
//! blobs, the blob store (reuse and shared work), and the `arca image` CLI.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use arca_e2e::layout::Platform as LayoutPlatform;
use arca_e2e::{skopeo_copy, Layer, LayoutBuilder, Registry, RegistryOptions, TarEntry};
use arca_image::auth::AuthFile;
use arca_image::progress::{Progress, PullReport};
use arca_image::{parse_reference, Error, Platform, PullOptions, RegistryClient};
use serde_json::json;

fn tools() -> bool {
    arca_e2e::require_tools("the image pull tests", &["skopeo", "docker-registry", "zstd"])
}

/// Three layers: a base with a file, symlink and hardlink; whiteouts (plain
/// and opaque) and a zstd blob; an uncompressed layer.
fn layers() -> Vec<Layer> {
    vec![
        Layer::gzip(vec![
            TarEntry::dir("etc"),
            TarEntry::file("etc/os-release", "ID=arca\n"),
            TarEntry::file("etc/gone", "removed by layer 1\n"),
            TarEntry::dir("opt"),
            TarEntry::file("opt/old", "hidden by the opaque marker\n"),
            TarEntry::dir("bin"),
            TarEntry::File { path: "bin/tool".into(), data: b"#!/bin/sh\necho tool\n".to_vec(), mode: 0o755 },
            TarEntry::symlink("bin/link", "tool"),
            TarEntry::hardlink("bin/hard", "bin/tool"),
        ]),
        Layer::zstd(vec![TarEntry::whiteout("etc/gone"), TarEntry::opaque("opt"), TarEntry::file("opt/new", "new\n")]),
        Layer::plain(vec![TarEntry::file("etc/motd", "hello\n")]),
    ]
}

fn config() -> serde_json::Value {
    json!({"Cmd": ["/bin/tool", "--flag"], "Env": ["PATH=/bin", "GREETING=hi"]})
}

/// Builds the three-layer image and pushes it to `registry` as `repo_tag`.
fn push_image(registry: &Registry, work: &Path, repo_tag: &str, extra: &[&str]) {
    let mut layout = LayoutBuilder::new(&work.join(format!("layout-{}", repo_tag.replace(['/', ':'], "-"))));
    layout.image("v1", config(), &layers());
    skopeo_copy(work, extra, &layout.skopeo_name("v1"), &registry.docker_ref(repo_tag));
}

fn client_for(registries: &[&Registry]) -> Arc<RegistryClient> {
    let options = arca_image::RegistryOptions {
        insecure_hosts: registries.iter().map(|r| r.host.clone()).collect(),
        ..Default::default()
    };
    Arc::new(RegistryClient::new(options).expect("client"))
}

async fn pull(
    client: &Arc<RegistryClient>,
    image: &str,
    dest: &Path,
    options: &PullOptions,
) -> Result<PullReport, Error> {
    arca_image::pull(client, &parse_reference(image).unwrap(), dest, options).await
}

fn assert_three_layer_rootfs(dest: &Path) {
    let root = dest.join("rootfs");
    assert_eq!(std::fs::read_to_string(root.join("etc/os-release")).unwrap(), "ID=arca\n");
    assert_eq!(std::fs::read_to_string(root.join("etc/motd")).unwrap(), "hello\n");
    assert!(root.join("etc/gone").symlink_metadata().is_err(), "whiteout did not remove etc/gone");
    assert!(root.join("opt/old").symlink_metadata().is_err(), "opaque dir kept opt/old");
    assert_eq!(std::fs::read_to_string(root.join("opt/new")).unwrap(), "new\n");
    let tool = root.join("bin/tool").metadata().unwrap();
    assert_eq!(tool.permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read_link(root.join("bin/link")).unwrap(), Path::new("tool"));
    assert_eq!(root.join("bin/hard").metadata().unwrap().ino(), tool.ino(), "bin/hard is not a hardlink");
    assert!(!dest.join("rootfs.partial").exists());
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(dest.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], json!(["/bin/tool", "--flag"]), "{spec:#}");
}

/// Where a blob lives in the registry's filesystem storage.
fn registry_blob(registry: &Registry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    registry.dir().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pull_of_a_multi_layer_image() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "app/multi:v1", &[]);
    let client = client_for(&[&registry]);
    let dest = work.path().join("dest");
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = PullOptions {
        progress: Some(Arc::new(move |e: &Progress| seen.lock().unwrap().push(e.clone()))),
        ..Default::default()
    };
    let report = pull(&client, &format!("{}/app/multi:v1", registry.host), &dest, &options).await.unwrap();
    assert_three_layer_rootfs(&dest);
    assert_eq!((report.layers, report.layers_downloaded, report.layers_reused), (3, 3, 0));
    assert!(!dest.join(".blobs.partial").exists(), "the temporary store was left behind");
    let events = events.lock().unwrap().clone();
    let applied: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Progress::LayerApplied { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![0, 1, 2], "layers must be applied in order");
    let bytes: u64 = events.iter().map(|e| if let Progress::Bytes { bytes, .. } = e { *bytes } else { 0 }).sum();
    assert_eq!(bytes, report.bytes_downloaded);

    // A second pull into the same destination is refused, not merged.
    let again = pull(&client, &format!("{}/app/multi:v1", registry.host), &dest, &options).await;
    assert!(again.is_err());
    // Plain HTTP only for hosts marked insecure.
    let https_only = Arc::new(RegistryClient::new(Default::default()).unwrap());
    let err = pull(&https_only, &format!("{}/app/multi:v1", registry.host), &work.path().join("d2"), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Registry { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema2_image() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let mut layout = LayoutBuilder::new(&work.path().join("layout"));
    layout.image("v1", config(), &[Layer::gzip(vec![TarEntry::dir("etc"), TarEntry::file("etc/docker", "schema2\n")])]);
    skopeo_copy(work.path(), &["--format", "v2s2"], &layout.skopeo_name("v1"), &registry.docker_ref("d/s2:v1"));
    let client = client_for(&[&registry]);
    let image = client.resolve(&parse_reference(&format!("{}/d/s2:v1", registry.host)).unwrap()).await.unwrap();
    assert_eq!(image.manifest_media_type, arca_image::registry::DOCKER_MANIFEST);
    let dest = work.path().join("dest");
    pull(&client, &format!("{}/d/s2:v1", registry.host), &dest, &PullOptions::default()).await.unwrap();
    assert_eq!(std::fs::read_to_string(dest.join("rootfs/etc/docker")).unwrap(), "schema2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_registry_with_a_ca_file() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions { tls: true, htpasswd: None }) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "tls/app:v1", &[]);
    let image = format!("{}/tls/app:v1", registry.host);

    let untrusted = Arc::new(RegistryClient::new(Default::default()).unwrap());
    let err = pull(&untrusted, &image, &work.path().join("no-ca"), &PullOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(!work.path().join("no-ca/rootfs").exists());

    let ca = std::fs::read(registry.ca_cert.as_ref().unwrap()).unwrap();
    let options = arca_image::RegistryOptions { ca_pem: vec![ca], ..Default::default() };
    let client = Arc::new(RegistryClient::new(options).unwrap());
    let dest = work.path().join("dest");
    pull(&client, &image, &dest, &PullOptions::default()).await.unwrap();
    assert_three_layer_rootfs(&dest);
}

fn auth_json(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(format!("auth-{user}-{}.json", password.len()));
    std::fs::write(&path, json!({"auths": {host: {"auth": auth}}}).to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_right_and_wrong_credentials() {
    if !tools() || !arca_e2e::require_tools("the auth test", &["htpasswd", "openssl"]) {
        return;
    }
    let Some(registry) =
        Registry::start(RegistryOptions { tls: true, htpasswd: Some(("arca".into(), "s3cret".into())) })
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "auth/app:v1", &["--dest-creds", "arca:s3cret"]);
    let image = format!("{}/auth/app:v1", registry.host);
    let ca = std::fs::read(registry.ca_cert.as_ref().unwrap()).unwrap();
    let client = |auth: Option<PathBuf>| {
        let credentials =
            auth.map(|p| Arc::new(AuthFile::from_file(&p).unwrap()) as Arc<dyn arca_image::auth::CredentialSource>);
        Arc::new(
            RegistryClient::new(arca_image::RegistryOptions {
                ca_pem: vec![ca.clone()],
                credentials,
                ..Default::default()
            })
            .unwrap(),
        )
    };

    let anonymous = pull(&client(None), &image, &work.path().join("anon"), &PullOptions::default()).await.unwrap_err();
    assert!(anonymous.to_string().contains("unauthorized"), "{anonymous}");
    let wrong = auth_json(work.path(), &registry.host, "arca", "wrong-password");
    let err =
        pull(&client(Some(wrong)), &image, &work.path().join("wrong"), &PullOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");
    assert!(!err.to_string().contains("wrong-password"), "the error shows the password: {err}");
    assert!(!work.path().join("wrong/rootfs").exists());

    let right = auth_json(work.path(), &registry.host, "arca", "s3cret");
    let dest = work.path().join("right");
    pull(&client(Some(right)), &image, &dest, &PullOptions::default()).await.unwrap();
    assert_three_layer_rootfs(&dest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_platform_index_chooses_each_platform() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let mut layout = LayoutBuilder::new(&work.path().join("layout"));
    let platform = |arch: &str| LayoutPlatform { architecture: arch.into(), os: "linux".into() };
    layout.multi_platform(
        "multi",
        &[
            (platform("amd64"), json!({}), vec![Layer::gzip(vec![TarEntry::file("arch", "amd64")])]),
            (platform("arm64"), json!({}), vec![Layer::zstd(vec![TarEntry::file("arch", "arm64")])]),
        ],
    );
    skopeo_copy(work.path(), &["--all"], &layout.skopeo_name("multi"), &registry.docker_ref("mp/app:multi"));
    let image = format!("{}/mp/app:multi", registry.host);
    for arch in ["amd64", "arm64"] {
        let options = arca_image::RegistryOptions {
            insecure_hosts: vec![registry.host.clone()],
            platform: Some(format!("linux/{arch}").parse().unwrap()),
            ..Default::default()
        };
        let client = Arc::new(RegistryClient::new(options).unwrap());
        let dest = work.path().join(arch);
        pull(&client, &image, &dest, &PullOptions::default()).await.unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("rootfs/arch")).unwrap(), arch);
        let resolved = client.resolve(&parse_reference(&image).unwrap()).await.unwrap();
        assert!(resolved.index.is_some());
        assert_ne!(resolved.top_digest, resolved.manifest_digest);
    }
    // The default is the running platform.
    let dest = work.path().join("default");
    pull(&client_for(&[&registry]), &image, &dest, &PullOptions::default()).await.unwrap();
    assert_eq!(std::fs::read_to_string(dest.join("rootfs/arch")).unwrap(), Platform::current().architecture);

    let options = arca_image::RegistryOptions {
        insecure_hosts: vec![registry.host.clone()],
        platform: Some("linux/s390x".parse().unwrap()),
        ..Default::default()
    };
    let client = Arc::new(RegistryClient::new(options).unwrap());
    let err = pull(&client, &image, &work.path().join("none"), &PullOptions::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("linux/s390x") && text.contains("linux/arm64"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_are_tried_in_order_then_the_origin() {
    if !tools() {
        return;
    }
    let (Some(empty), Some(full)) =
        (Registry::start(RegistryOptions::default()), Registry::start(RegistryOptions::default()))
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    push_image(&full, work.path(), "mirrored/app:v1", &[]);
    // The origin does not answer at all: only the second mirror has the image.
    let origin = format!("127.0.0.1:{}", arca_e2e::registry::free_port());
    let options = arca_image::RegistryOptions {
        insecure_hosts: vec![empty.host.clone(), full.host.clone(), origin.clone()],
        mirrors: [(origin.clone(), vec![empty.host.clone(), full.host.clone()])].into(),
        ..Default::default()
    };
    let client = Arc::new(RegistryClient::new(options).unwrap());
    let image = format!("{origin}/mirrored/app:v1");
    let resolved = client.resolve(&parse_reference(&image).unwrap()).await.unwrap();
    assert_eq!(resolved.source.registry(), full.host);
    let dest = work.path().join("dest");
    pull(&client, &image, &dest, &PullOptions::default()).await.unwrap();
    assert_three_layer_rootfs(&dest);

    // Without the good mirror the pull fails, naming each endpoint.
    let options = arca_image::RegistryOptions {
        insecure_hosts: vec![empty.host.clone(), origin.clone()],
        mirrors: [(origin.clone(), vec![empty.host.clone()])].into(),
        ..Default::default()
    };
    let client = Arc::new(RegistryClient::new(options).unwrap());
    let err = pull(&client, &image, &work.path().join("none"), &PullOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains(&empty.host) && err.to_string().contains(&origin), "{err}");
}

/// Overwrites a blob in the registry's storage with as many other bytes.
fn tamper(registry: &Registry, digest: &str) {
    let path = registry_blob(registry, digest);
    let mut data = std::fs::read(&path).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&path, data).unwrap();
}

async fn tampered_layer_is_refused(layer: usize) {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "bad/app:v1", &[]);
    let client = client_for(&[&registry]);
    let image = format!("{}/bad/app:v1", registry.host);
    let resolved = client.resolve(&parse_reference(&image).unwrap()).await.unwrap();
    let digest = resolved.manifest.layers()[layer].digest().to_string();
    tamper(&registry, &digest);
    let dest = work.path().join("dest");
    let store = work.path().join("store");
    let options = PullOptions { store: Some(store.clone()), ..Default::default() };
    let err = pull(&client, &image, &dest, &options).await.unwrap_err();
    assert!(matches!(&err, Error::DigestMismatch { expected, .. } if *expected == digest), "{err}");
    assert!(!dest.join("rootfs").exists(), "a rootfs was made from a tampered blob");
    assert!(!dest.join("rootfs.partial").exists(), "the staging dir was left behind");
    let store = arca_image::store::BlobStore::open(&store).unwrap();
    assert!(!store.contains(&digest), "the tampered blob went into the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_streamed_bottom_layer_is_refused() {
    tampered_layer_is_refused(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_upper_layer_is_refused() {
    tampered_layer_is_refused(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_reuse_and_two_concurrent_pulls() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "store/app:v1", &[]);
    let client = client_for(&[&registry]);
    let image = format!("{}/store/app:v1", registry.host);
    let options = PullOptions { store: Some(work.path().join("store")), ..Default::default() };

    // Two pulls at once share one download of each layer.
    let spawn = |name: &str| {
        let (client, image, options, dest) = (client.clone(), image.clone(), options.clone(), work.path().join(name));
        tokio::spawn(async move { pull(&client, &image, &dest, &options).await })
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_three_layer_rootfs(&work.path().join("a"));
    assert_three_layer_rootfs(&work.path().join("b"));
    assert_eq!(a.layers_downloaded + b.layers_downloaded, 3, "{a:?} {b:?}");
    assert_eq!(a.layers_reused + b.layers_reused, 3, "{a:?} {b:?}");

    // A later pull downloads nothing.
    let c = pull(&client, &image, &work.path().join("c"), &options).await.unwrap();
    assert_eq!((c.layers_downloaded, c.layers_reused, c.bytes_downloaded), (0, 3, 0));
    assert_three_layer_rootfs(&work.path().join("c"));
}

/// `arca image pull` as a process; returns (success, stderr).
fn cli_pull(registry: &Registry, image: &str, dest: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(arca_e2e::arca_binary())
        .args(["image", "pull", image])
        .arg(dest)
        .args(["--plain-http", &registry.host])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn downloaded(stderr: &str) -> usize {
    // "pulled …: 3 layers, N downloaded (…), M from the store"
    let line = stderr.lines().find(|l| l.starts_with("pulled ")).unwrap_or_else(|| panic!("no summary: {stderr}"));
    let after = line.split("layers, ").nth(1).unwrap();
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn cli_pull_and_inspect() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "cli/app:v1", &[]);
    let image = format!("{}/cli/app:v1", registry.host);

    let out = Command::new(arca_e2e::arca_binary())
        .args(["image", "inspect", &image, "--plain-http", &registry.host])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspected["manifest"]["layers"].as_array().unwrap().len(), 3);
    assert_eq!(inspected["config"]["config"]["Cmd"], json!(["/bin/tool", "--flag"]));

    let dest = work.path().join("dest");
    let out = cli_pull(&registry, &image, &dest, &[]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_three_layer_rootfs(&dest);
    // Not a terminal: one line per layer.
    assert_eq!(stderr.lines().filter(|l| l.contains(": applied")).count(), 3, "{stderr}");

    // Two processes on one store share the downloads.
    let store = work.path().join("store");
    let store_arg = store.to_str().unwrap();
    let p1 = cli_pull(&registry, &image, &work.path().join("p1"), &["--store", store_arg]);
    let p2 = cli_pull(&registry, &image, &work.path().join("p2"), &["--store", store_arg]);
    let (o1, o2) = (p1.wait_with_output().unwrap(), p2.wait_with_output().unwrap());
    let (e1, e2) = (String::from_utf8_lossy(&o1.stderr), String::from_utf8_lossy(&o2.stderr));
    assert!(o1.status.success() && o2.status.success(), "{e1}\n{e2}");
    assert_eq!(downloaded(&e1) + downloaded(&e2), 3, "{e1}\n{e2}");
    assert_three_layer_rootfs(&work.path().join("p1"));
    assert_three_layer_rootfs(&work.path().join("p2"));

    // A failure exits non-zero with a message.
    let out = Command::new(arca_e2e::arca_binary())
        .args(["image", "pull", &format!("{}/cli/absent:v1", registry.host)])
        .arg(work.path().join("absent"))
        .args(["--plain-http", &registry.host])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pulls_into_one_destination_do_not_mix() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "same/app:v1", &[]);
    let client = client_for(&[&registry]);
    let image = format!("{}/same/app:v1", registry.host);
    let dest = work.path().join("dest");
    let spawn = || {
        let (client, image, dest) = (client.clone(), image.clone(), dest.clone());
        tokio::spawn(async move { pull(&client, &image, &dest, &PullOptions::default()).await })
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    // Exactly one wins; the other is refused (busy, or the rootfs exists).
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    assert_three_layer_rootfs(&dest);
}
