//! The whole pipeline with the security pieces on: an image encrypted by
//! `skopeo copy --encryption-key` and signed cosign-style, pulled under a
//! `sigstoreSigned` policy with the decryption key, through the library and
//! through `arca image pull`; each missing or wrong piece refuses the image
//! and leaves no rootfs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arca_e2e::signing::{push_cosign_signatures, SigstoreKey};
use arca_e2e::{run, skopeo_copy, Layer, LayoutBuilder, Registry, RegistryOptions, TarEntry};
use arca_image::decrypt::DecryptConfig;
use arca_image::signature::Policy;
use arca_image::{parse_reference, Error, PullOptions, RegistryClient};
use serde_json::json;

fn tools() -> bool {
    arca_e2e::require_tools("the secure pull tests", &["skopeo", "docker-registry", "openssl"])
}

struct Setup {
    registry: Registry,
    work: tempfile::TempDir,
    /// Encrypted and signed.
    image: String,
    /// Encrypted, not signed.
    unsigned: String,
    signing_key: SigstoreKey,
    other_key: SigstoreKey,
    private_key: PathBuf,
    wrong_private_key: PathBuf,
}

fn rsa_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&private));
    run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).arg("-out").arg(&public));
    (private, public)
}

async fn setup() -> Option<Setup> {
    if !tools() {
        return None;
    }
    let registry = Registry::start(RegistryOptions::default())?;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let mut layout = LayoutBuilder::new(&dir.join("layout"));
    layout.image(
        "v1",
        json!({"Cmd": ["/bin/app"]}),
        &[
            Layer::gzip(vec![TarEntry::dir("etc"), TarEntry::file("etc/secret", "only for the guest\n")]),
            Layer::gzip(vec![TarEntry::whiteout("etc/secret"), TarEntry::file("etc/app.conf", "port=80\n")]),
        ],
    );
    let (private_key, public_key) = rsa_key(dir, "enc");
    let (wrong_private_key, _) = rsa_key(dir, "wrong");
    let encrypt = format!("jwe:{}", public_key.display());
    for dest in ["sec/app:v1", "sec/unsigned:v1"] {
        skopeo_copy(dir, &["--encryption-key", &encrypt], &layout.skopeo_name("v1"), &registry.docker_ref(dest));
    }
    let signing_key = SigstoreKey::generate(dir, "signer", "P-256")?;
    let other_key = SigstoreKey::generate(dir, "other", "P-256")?;
    let image = format!("{}/sec/app:v1", registry.host);
    let client = client(&registry);
    let resolved = client.resolve(&parse_reference(&image).unwrap()).await.unwrap();
    assert!(
        resolved.manifest.layers().iter().all(|l| l.media_type().to_string().ends_with("+encrypted")),
        "skopeo did not encrypt the layers"
    );
    let signature = signing_key.sign(&image, &resolved.top_digest);
    push_cosign_signatures(dir, &registry, "sec/app", &resolved.top_digest, &[signature]);
    let unsigned = format!("{}/sec/unsigned:v1", registry.host);
    Some(Setup { registry, work, image, unsigned, signing_key, other_key, private_key, wrong_private_key })
}

fn client(registry: &Registry) -> Arc<RegistryClient> {
    let options = arca_image::RegistryOptions { insecure_hosts: vec![registry.host.clone()], ..Default::default() };
    Arc::new(RegistryClient::new(options).unwrap())
}

fn policy_json(setup: &Setup, key: &SigstoreKey) -> serde_json::Value {
    json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {format!("{}/sec", setup.registry.host): [
            {"type": "sigstoreSigned", "keyPath": key.public_key, "signedIdentity": {"type": "matchRepoDigestOrExact"}}
        ]}},
    })
}

fn options(setup: &Setup, key: &SigstoreKey, decryption_key: Option<&Path>) -> PullOptions {
    let policy = Policy::from_json(policy_json(setup, key).to_string().as_bytes()).unwrap();
    let decrypt = decryption_key.map(|path| {
        let mut config = DecryptConfig::default();
        config.add_key_arg(&format!("jwe:{}", path.display())).unwrap();
        Arc::new(config)
    });
    PullOptions { policy: Some(Arc::new(policy)), decrypt, ..Default::default() }
}

fn assert_no_rootfs(dest: &Path) {
    assert!(!dest.join("rootfs").exists(), "a refused image left a rootfs");
    assert!(!dest.join("rootfs.partial").exists(), "a refused image left its staging dir");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_encrypted_image_pulls_only_with_key_and_signature() {
    let Some(setup) = setup().await else { return };
    let client = client(&setup.registry);
    let pull = |image: &str, dest: &str, options: PullOptions| {
        let (client, dest) = (client.clone(), setup.work.path().join(dest));
        let reference = parse_reference(image).unwrap();
        async move { (arca_image::pull(&client, &reference, &dest, &options).await, dest) }
    };

    let (ok, dest) = pull(&setup.image, "ok", options(&setup, &setup.signing_key, Some(&setup.private_key))).await;
    ok.unwrap();
    assert_eq!(std::fs::read_to_string(dest.join("rootfs/etc/app.conf")).unwrap(), "port=80\n");
    assert!(!dest.join("rootfs/etc/secret").exists());

    let (no_key, dest) = pull(&setup.image, "no-key", options(&setup, &setup.signing_key, None)).await;
    assert!(matches!(no_key, Err(Error::Decrypt(_))), "{no_key:?}");
    assert_no_rootfs(&dest);

    let (wrong, dest) =
        pull(&setup.image, "wrong-key", options(&setup, &setup.signing_key, Some(&setup.wrong_private_key))).await;
    assert!(matches!(wrong, Err(Error::Decrypt(_))), "{wrong:?}");
    assert_no_rootfs(&dest);

    let (other, dest) =
        pull(&setup.image, "other-signer", options(&setup, &setup.other_key, Some(&setup.private_key))).await;
    assert!(matches!(other, Err(Error::PolicyRejected { .. })), "{other:?}");
    assert_no_rootfs(&dest);

    let (unsigned, dest) =
        pull(&setup.unsigned, "unsigned", options(&setup, &setup.signing_key, Some(&setup.private_key))).await;
    assert!(matches!(unsigned, Err(Error::PolicyRejected { .. })), "{unsigned:?}");
    assert_no_rootfs(&dest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_pulls_a_signed_encrypted_image() {
    let Some(setup) = setup().await else { return };
    let policy = setup.work.path().join("policy.json");
    std::fs::write(&policy, policy_json(&setup, &setup.signing_key).to_string()).unwrap();
    let cli = |dest: &str, key: &Path| {
        Command::new(arca_e2e::arca_binary())
            .args(["image", "pull", &setup.image])
            .arg(setup.work.path().join(dest))
            .args(["--plain-http", &setup.registry.host, "--policy"])
            .arg(&policy)
            .arg("--decryption-key")
            .arg(format!("jwe:{}", key.display()))
            .output()
            .unwrap()
    };
    let out = cli("ok", &setup.private_key);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(setup.work.path().join("ok/rootfs/etc/app.conf")).unwrap(), "port=80\n");
    let out = cli("wrong", &setup.wrong_private_key);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("decryption"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_no_rootfs(&setup.work.path().join("wrong"));
}
