//! Kata's guest-pull hand-off end to end: a `io.katacontainers.volume=`
//! mount option built the way nydus-snapshotter builds it (documented JSON
//! shape, Go's standard base64), the container annotations containerd and
//! CRI-O set, and the pull through `arca_image::volume::guest_pull` from
//! Debian's `docker-registry` into a bundle. Kata's `dm_verity` section is
//! checked against trees `veritysetup` builds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arca_e2e::{require_tools, run, skopeo_copy, Layer, LayoutBuilder, Registry, RegistryOptions, TarEntry};
use arca_image::volume::{
    guest_pull, DmVerityInfo, GuestPullOptions, GuestPullOutcome, GuestPullRequest, KataVirtualVolume, PullTarget,
    VolumeType, CRIO_CONTAINER_TYPE, CRIO_IMAGE_NAME, CRI_CONTAINER_TYPE, CRI_IMAGE_NAME,
};
use arca_image::{Error, PullOptions, RegistryClient};
use arca_verity::{HashAlgorithm, VerityParams};
use base64::Engine as _;
use serde_json::json;

fn tools() -> bool {
    require_tools("the guest-pull hand-off tests", &["skopeo", "docker-registry"])
}

fn push_image(registry: &Registry, work: &Path, repo_tag: &str) {
    let mut layout = LayoutBuilder::new(&work.join("layout"));
    let layers = vec![
        Layer::gzip(vec![
            TarEntry::dir("etc"),
            TarEntry::file("etc/os-release", "ID=arca\n"),
            TarEntry::file("etc/gone", "removed by layer 1\n"),
        ]),
        Layer::gzip(vec![TarEntry::whiteout("etc/gone"), TarEntry::file("etc/motd", "guest pulled\n")]),
    ];
    layout.image("v1", json!({"Cmd": ["/bin/app"], "Env": ["PATH=/bin"]}), &layers);
    skopeo_copy(work, &[], &layout.skopeo_name("v1"), &registry.docker_ref(repo_tag));
}

fn client(registry: &Registry) -> Arc<RegistryClient> {
    let options = arca_image::RegistryOptions { insecure_hosts: vec![registry.host.clone()], ..Default::default() };
    Arc::new(RegistryClient::new(options).expect("client"))
}

/// The rootfs mount option nydus-snapshotter (proxy mode) hands containerd:
/// the image annotations as `k=v` options and as pull metadata, the CRI
/// image reference as source; Go's `json.Marshal` (sorted map keys) and
/// `base64.StdEncoding`.
fn snapshotter_mount_option(image: &str) -> String {
    let labels = json!({
        "containerd.io/snapshot/cri.image-ref": image,
        "containerd.io/snapshot/cri.layer-digest": format!("sha256:{}", "5e".repeat(32)),
        "containerd.io/snapshot/nydus-proxy-mode": "true",
    });
    let options: Vec<String> =
        labels.as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect();
    let volume = json!({
        "volume_type": "image_guest_pull",
        "source": image,
        "options": options,
        "image_pull": {"metadata": labels},
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&volume).unwrap());
    format!("io.katacontainers.volume={encoded}")
}

/// The whole mount's options as containerd passes them to the runtime.
fn rootfs_options(image: &str) -> Vec<String> {
    vec!["lowerdir=/var/lib/nydus/snapshots/1/fs".into(), snapshotter_mount_option(image), "ro".into()]
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn request_from_mount(options: &[String], annotations: &BTreeMap<String, String>) -> GuestPullRequest {
    let volumes = KataVirtualVolume::from_mount_options(options).expect("mount options parse");
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].volume_type, VolumeType::ImageGuestPull);
    GuestPullRequest::new(&volumes[0], annotations).expect("guest pull request")
}

fn assert_bundle(bundle: &Path) {
    let root = bundle.join("rootfs");
    assert_eq!(std::fs::read_to_string(root.join("etc/os-release")).unwrap(), "ID=arca\n");
    assert_eq!(std::fs::read_to_string(root.join("etc/motd")).unwrap(), "guest pulled\n");
    assert!(root.join("etc/gone").symlink_metadata().is_err(), "the whiteout was not applied");
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], json!(["/bin/app"]), "{spec:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_and_cri_o_hand_offs_pull_into_the_bundle() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "app/guest:v1");
    let image = format!("{}/app/guest:v1", registry.host);
    let client = client(&registry);
    // The snapshotter's source is only a hint: the annotation decides, as in Kata.
    let options = rootfs_options("dummy-image-reference");

    let containerd = annotations(&[
        (CRI_CONTAINER_TYPE, "container"),
        (CRI_IMAGE_NAME, &image),
        ("io.kubernetes.cri.sandbox-id", "0123abcd"),
    ]);
    let request = request_from_mount(&options, &containerd);
    assert_eq!(request.target, PullTarget::Image(image.clone()));
    assert_eq!(request.metadata["containerd.io/snapshot/nydus-proxy-mode"], "true");
    assert_eq!(request.metadata["io.kubernetes.cri.sandbox-id"], "0123abcd");
    let bundle = work.path().join("run/kata-containers/c1");
    let outcome = guest_pull(&client, &request, &bundle, &GuestPullOptions::default()).await.unwrap();
    match outcome {
        GuestPullOutcome::Pulled { reference, report } => {
            assert_eq!(reference, image);
            assert_eq!(report.layers, 2);
        }
        other => panic!("expected a pull, got {other:?}"),
    }
    assert_bundle(&bundle);

    let crio = annotations(&[(CRIO_CONTAINER_TYPE, "container"), (CRIO_IMAGE_NAME, &image)]);
    let request = request_from_mount(&options, &crio);
    let bundle = work.path().join("run/kata-containers/c2");
    guest_pull(&client, &request, &bundle, &GuestPullOptions::default()).await.unwrap();
    assert_bundle(&bundle);

    // A second pull into a used bundle is refused, not merged.
    let err = guest_pull(&client, &request, &bundle, &GuestPullOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_options_apply_and_failures_leave_no_rootfs() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "app/guest:v1");
    let client = client(&registry);
    let options = rootfs_options("dummy-image-reference");

    // A signature policy that rejects everything is enforced through the hand-off.
    let image = format!("{}/app/guest:v1", registry.host);
    let request = request_from_mount(&options, &annotations(&[(CRI_IMAGE_NAME, &image)]));
    let policy = arca_image::signature::Policy::from_json(br#"{"default":[{"type":"reject"}]}"#).unwrap();
    let pull = PullOptions { policy: Some(Arc::new(policy)), ..Default::default() };
    let bundle = work.path().join("rejected");
    let err = guest_pull(&client, &request, &bundle, &GuestPullOptions { pull, pause_bundle: None }).await.unwrap_err();
    assert!(matches!(err, Error::PolicyRejected { .. }), "{err}");
    assert!(!bundle.join("rootfs").exists());

    // An image the registry does not have.
    let missing = format!("{}/app/guest:missing", registry.host);
    let request = request_from_mount(&options, &annotations(&[(CRI_IMAGE_NAME, &missing)]));
    let bundle = work.path().join("missing");
    let err = guest_pull(&client, &request, &bundle, &GuestPullOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(!bundle.join("rootfs").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_gets_the_pause_bundle_and_no_pull() {
    let work = tempfile::tempdir().unwrap();
    let pause = work.path().join("pause_bundle");
    std::fs::create_dir_all(pause.join("rootfs")).unwrap();
    std::fs::write(pause.join("config.json"), br#"{"ociVersion":"1.0.2","process":{"args":["/pause"]}}"#).unwrap();
    std::fs::write(pause.join("rootfs/pause"), b"pause binary").unwrap();
    // No registry: a sandbox must not touch the network.
    let client = Arc::new(RegistryClient::new(arca_image::RegistryOptions::default()).unwrap());
    let request = request_from_mount(
        &rootfs_options("registry.k8s.io/pause:3.9"),
        &annotations(&[(CRI_CONTAINER_TYPE, "sandbox"), (CRI_IMAGE_NAME, "registry.k8s.io/pause:3.9")]),
    );
    assert_eq!((request.target.clone(), request.source()), (PullTarget::Sandbox, "pause"));
    let bundle = work.path().join("sandbox");
    let err = guest_pull(&client, &request, &bundle, &GuestPullOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::GuestPull(_)), "no pause bundle configured: {err}");
    let options = GuestPullOptions { pause_bundle: Some(pause), ..Default::default() };
    assert!(matches!(guest_pull(&client, &request, &bundle, &options).await.unwrap(), GuestPullOutcome::Sandbox));
    assert_eq!(std::fs::read(bundle.join("rootfs/pause")).unwrap(), b"pause binary");
    assert!(std::fs::read_to_string(bundle.join("config.json")).unwrap().contains("/pause"));
}

/// `veritysetup format` of `image` (tree appended at `hash_offset`); the root hash.
fn veritysetup_format(image: &Path, hash_offset: u64, superblock: bool) -> String {
    let mut cmd = Command::new("veritysetup");
    cmd.args(["format", "--salt", "-", "--data-block-size", "512", "--hash-block-size", "4096"])
        .arg(format!("--hash-offset={hash_offset}"))
        .arg(format!("--data-blocks={}", hash_offset / 512));
    if !superblock {
        cmd.arg("--no-superblock");
    }
    let out = run(cmd.arg(image).arg(image));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.starts_with("Root hash:")).expect("veritysetup prints the root hash");
    line.split_whitespace().last().unwrap().to_string()
}

/// `veritysetup verify` with exactly what Kata's table line is built from:
/// no superblock, no salt, the tree at `hash_offset`.
fn veritysetup_verify(image: &Path, params: &VerityParams, root: &[u8]) -> bool {
    assert!(!params.superblock && params.salt.is_empty());
    Command::new("veritysetup")
        .args(["verify", "--no-superblock", "--salt", "-"])
        .arg(format!("--hash={}", params.hash.name()))
        .arg(format!("--data-block-size={}", params.data_block_size))
        .arg(format!("--hash-block-size={}", params.hash_block_size))
        .arg(format!("--data-blocks={}", params.data_blocks))
        .arg(format!("--hash-offset={}", params.hash_offset))
        .arg(image)
        .arg(image)
        .arg(hex::encode(root))
        .status()
        .expect("run veritysetup")
        .success()
}

/// A 40-block image of varied bytes, room for its tree, as nydus tarfs lays
/// out an EROFS disk (512-byte data blocks, 4 KiB hash blocks, tree appended).
fn data_image(dir: &Path, name: &str) -> (std::path::PathBuf, u64) {
    let path = dir.join(name);
    let data: Vec<u8> = (0..40 * 512u32).map(|i| (i * 7 + i / 512) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    (path, data.len() as u64)
}

#[test]
fn kata_dm_verity_sections_describe_veritysetup_trees() {
    if !require_tools("the dm_verity hand-off test", &["veritysetup"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();

    // The tarfs raw-block volume: offset = where the tree starts.
    let (image, offset) = data_image(work.path(), "layer.disk");
    let offset = offset.div_ceil(4096) * 4096;
    let root = veritysetup_format(&image, offset, false);
    let volume = json!({
        "volume_type": "layer_raw_block",
        "source": image.to_str().unwrap(),
        "fs_type": "erofs",
        "options": ["ro"],
        "dm_verity": {"hashtype": "sha256", "hash": root, "blocknum": offset / 512, "blocksize": 512,
                      "hashsize": 4096, "offset": offset},
    });
    let option =
        format!("io.katacontainers.volume={}", base64::engine::general_purpose::STANDARD.encode(volume.to_string()));
    let volume = KataVirtualVolume::from_mount_option(&option).unwrap().unwrap();
    let (params, root_bytes) = volume.verity().unwrap().expect("a dm_verity section");
    assert_eq!(params.hash, HashAlgorithm::Sha256);
    assert!(veritysetup_verify(&image, &params, &root_bytes), "veritysetup rejects the converted parameters");
    // One flipped bit in a data block: the same parameters now fail.
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[17 * 512 + 3] ^= 0x10;
    std::fs::write(&image, &bytes).unwrap();
    assert!(!veritysetup_verify(&image, &params, &root_bytes), "a corrupted block passed");

    // A tree formatted with a superblock: Kata's offset skips it.
    let (image, size) = data_image(work.path(), "with-superblock.disk");
    let hash_offset = size.div_ceil(4096) * 4096;
    let root = hex::decode(veritysetup_format(&image, hash_offset, true)).unwrap();
    let formatted = VerityParams {
        hash: HashAlgorithm::Sha256,
        data_block_size: 512,
        hash_block_size: 4096,
        data_blocks: hash_offset / 512,
        salt: Vec::new(),
        hash_offset,
        superblock: true,
        uuid: [0; 16],
    };
    let info = DmVerityInfo::from_verity(&formatted, &root).unwrap();
    assert_eq!(info.offset, hash_offset + 4096);
    let (params, root_back) = info.to_verity().unwrap();
    assert_eq!(root_back, root);
    assert!(veritysetup_verify(&image, &params, &root), "the offset past the superblock is not where the tree is");
}

#[test]
fn the_cli_pulls_from_a_mount_and_annotations_and_decodes_volumes() {
    if !tools() {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    push_image(&registry, work.path(), "app/guest:v1");
    let image = format!("{}/app/guest:v1", registry.host);
    let bundle = work.path().join("bundle");
    let mut cmd = Command::new(arca_e2e::arca_binary());
    cmd.args(["image", "volume", "pull"]).arg(&bundle).args(["--plain-http", &registry.host]);
    for option in rootfs_options(&image) {
        cmd.arg(format!("--mount-option={option}"));
    }
    cmd.arg(format!("--annotation={CRI_CONTAINER_TYPE}=container"))
        .arg(format!("--annotation={CRI_IMAGE_NAME}={image}"));
    let out = run(&mut cmd);
    assert_bundle(&bundle);
    let storage: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(storage["driver"], "image_guest_pull");
    assert_eq!(storage["source"], json!(image));
    assert_eq!(storage["mount_point"], json!(bundle.join("rootfs")));
    let driver_option = storage["driver_options"][0].as_str().unwrap();
    let metadata = arca_image::volume::ImagePullVolume::from_driver_option(driver_option).unwrap().metadata;
    assert_eq!(metadata[CRI_IMAGE_NAME], image);
    assert_eq!(metadata["containerd.io/snapshot/nydus-proxy-mode"], "true");

    let out = run(Command::new(arca_e2e::arca_binary()).args([
        "image",
        "volume",
        "decode",
        &snapshotter_mount_option(&image),
    ]));
    let decoded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded["volume"]["volume_type"], "image_guest_pull");
    assert_eq!(decoded["volume"]["source"], json!(image));

    // A refused value exits 1 and says why.
    let bad = base64::engine::general_purpose::STANDARD.encode(r#"{"volume_type":"image_guest_pull"}"#);
    let out = Command::new(arca_e2e::arca_binary()).args(["image", "volume", "decode", &bad]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("field source"), "{stderr}");
}
