//! `signedBy` (GPG simple signing) against signatures `skopeo copy
//! --sign-by` made with a throwaway GPG key and wrote to a lookaside store,
//! read back from `file://` and from an `http://` server.

mod image_signature_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use arca_e2e::signing::{registries_d, skopeo_copy_signed, GpgKey};
use arca_e2e::{require_tools, skopeo_copy, Registry, RegistryOptions};
use arca_image::signature::{Lookaside, Policy};
use base64::Engine as _;
use image_signature_support::{evaluate, rejected, scoped, two_images, OciSource};
use serde_json::json;

fn signed_by(key: &Path, identity: Option<serde_json::Value>) -> serde_json::Value {
    let mut req = json!({"type": "signedBy", "keyType": "GPGKeys", "keyPath": key});
    if let Some(identity) = identity {
        req["signedIdentity"] = identity;
    }
    req
}

fn file_lookaside(dir: &Path) -> Lookaside {
    Lookaside { base: format!("file://{}", dir.display()) }
}

/// The lookaside directory of `repo` for `digest`, as containers/image lays it out.
fn sig_dir(lookaside: &Path, repo: &str, digest: &str) -> PathBuf {
    lookaside.join(format!("{repo}@{}", digest.replacen(':', "=", 1)))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpg_simple_signatures_from_a_lookaside_store() {
    if !require_tools("the GPG signature test", &["skopeo", "gpg"]) {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (k1, k2) = (dir.join("k1"), dir.join("k2"));
    std::fs::create_dir_all(&k1).unwrap();
    std::fs::create_dir_all(&k2).unwrap();
    let (Some(signer), Some(stranger)) = (
        GpgKey::generate(&k1, "Arca Image Signer <signer@arca.invalid>"),
        GpgKey::generate(&k2, "Someone Else <else@arca.invalid>"),
    ) else {
        return;
    };
    let layout = two_images(&dir.join("layout"));
    let lookaside = dir.join("lookaside");
    let regs = registries_d(dir, &registry.host, &lookaside);
    let host = registry.host.clone();
    let sign_push = |key: &GpgKey, tag: &str, dest: &str| {
        skopeo_copy_signed(
            dir,
            &regs,
            Some(&key.home),
            &["--sign-by", &key.fingerprint],
            &layout.skopeo_name(tag),
            &registry.docker_ref(dest),
        );
    };
    sign_push(&signer, "a", "t/app:signed");
    sign_push(&signer, "a", "t/multi:v1");
    sign_push(&stranger, "a", "t/stranger:v1");
    for dest in ["t/app:retag", "t/other:v1", "t/gap:v1"] {
        skopeo_copy(dir, &[], &layout.skopeo_name("a"), &registry.docker_ref(dest));
    }
    skopeo_copy(dir, &[], &layout.skopeo_name("b"), &registry.docker_ref("t/app:unsigned"));

    let source = OciSource::new(&registry.host);
    let signed = format!("{host}/t/app:signed");
    let a = source.manifest_digest(&signed.parse().unwrap()).await;
    let app_sigs = sig_dir(&lookaside, "t/app", &a);
    assert!(app_sigs.join("signature-1").is_file(), "skopeo wrote the signature to the lookaside store");

    let with_store = |policy: Policy| policy.with_lookaside(&host, file_lookaside(&lookaside)).unwrap();
    let by_key = with_store(scoped(&host, signed_by(&signer.public_key, None)));

    // The right key and the signed reference: accepted (also by digest).
    evaluate(&by_key, &source, &signed).await.expect("signed image");
    evaluate(&by_key, &source, &format!("{host}/t/app@{a}")).await.expect("signed image by digest");
    // keyData (base64 of the armored key) and keyPaths with the right key among others.
    let armored = std::fs::read(&signer.public_key).unwrap();
    let by_data = with_store(scoped(
        &host,
        json!({"type": "signedBy", "keyType": "GPGKeys", "keyData": base64::engine::general_purpose::STANDARD.encode(&armored)}),
    ));
    evaluate(&by_data, &source, &signed).await.expect("keyData");
    let by_paths = with_store(scoped(
        &host,
        json!({"type": "signedBy", "keyType": "GPGKeys", "keyPaths": [stranger.public_key, signer.public_key]}),
    ));
    evaluate(&by_paths, &source, &signed).await.expect("keyPaths");

    // Another key: rejected, naming why.
    let by_stranger = with_store(scoped(&host, signed_by(&stranger.public_key, None)));
    let why = rejected(evaluate(&by_stranger, &source, &signed).await, "signature by another key");
    assert!(why.contains("not signed by any trusted key"), "{why}");
    rejected(evaluate(&by_key, &source, &format!("{host}/t/stranger:v1")).await, "signed by a stranger");
    evaluate(&by_stranger, &source, &format!("{host}/t/stranger:v1")).await.expect("the stranger's own image");
    // Unsigned: rejected.
    let why = rejected(evaluate(&by_key, &source, &format!("{host}/t/app:unsigned")).await, "unsigned image");
    assert!(why.contains("holds none"), "{why}");
    // No lookaside store for the image: rejected.
    let no_store = scoped(&host, signed_by(&signer.public_key, None));
    let why = rejected(evaluate(&no_store, &source, &signed).await, "no lookaside store");
    assert!(why.contains("no lookaside"), "{why}");
    // Re-tagged: same digest, so the signature is found, but it names t/app:signed.
    let why = rejected(evaluate(&by_key, &source, &format!("{host}/t/app:retag")).await, "re-tagged image");
    assert!(why.contains("signed identity"), "{why}");
    let exact = with_store(scoped(&host, signed_by(&signer.public_key, Some(json!({"type": "matchExact"})))));
    rejected(evaluate(&exact, &source, &format!("{host}/t/app:retag")).await, "re-tagged image, matchExact");
    evaluate(&exact, &source, &signed).await.expect("matchExact");
    let any_tag = with_store(scoped(&host, signed_by(&signer.public_key, Some(json!({"type": "matchRepository"})))));
    evaluate(&any_tag, &source, &format!("{host}/t/app:retag")).await.expect("matchRepository");

    // The signature of repository t/app presented for t/other.
    let other = format!("{host}/t/other:v1");
    rejected(evaluate(&by_key, &source, &other).await, "t/other has no signature of its own");
    copy_dir(&app_sigs, &sig_dir(&lookaside, "t/other", &a));
    let why = rejected(evaluate(&by_key, &source, &other).await, "signature of another repository");
    assert!(why.contains("t/app:signed"), "{why}");
    rejected(evaluate(&any_tag, &source, &other).await, "signature of another repository, matchRepository");
    let exact_repo = with_store(scoped(
        &host,
        signed_by(
            &signer.public_key,
            Some(json!({"type": "exactRepository", "dockerRepository": format!("{host}/t/app")})),
        ),
    ));
    evaluate(&exact_repo, &source, &other).await.expect("exactRepository");

    // One valid signature among broken ones suffices; all broken: rejected
    // naming each.
    let multi = sig_dir(&lookaside, "t/multi", &a);
    std::fs::rename(multi.join("signature-1"), multi.join("signature-2")).unwrap();
    std::fs::write(multi.join("signature-1"), b"not an OpenPGP message").unwrap();
    evaluate(&by_key, &source, &format!("{host}/t/multi:v1")).await.expect("second signature valid");
    let mut tampered = std::fs::read(multi.join("signature-2")).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x55;
    std::fs::write(multi.join("signature-2"), &tampered).unwrap();
    let why = rejected(evaluate(&by_key, &source, &format!("{host}/t/multi:v1")).await, "broken signatures");
    assert!(why.contains("signature-1") && why.contains("signature-2"), "{why}");
    // Reading stops at the first missing signature.
    let gap = sig_dir(&lookaside, "t/gap", &a);
    std::fs::create_dir_all(&gap).unwrap();
    std::fs::copy(app_sigs.join("signature-1"), gap.join("signature-2")).unwrap();
    let any_tag_gap = rejected(evaluate(&any_tag, &source, &format!("{host}/t/gap:v1")).await, "signature-1 missing");
    assert!(any_tag_gap.contains("holds none"), "{any_tag_gap}");

    // The same store over HTTP.
    let server = serve_dir(lookaside.clone());
    let over_http = scoped(&host, signed_by(&signer.public_key, None))
        .with_lookaside(&format!("{host}/t"), Lookaside { base: format!("http://{server}/") })
        .unwrap()
        .with_lookaside("", Lookaside { base: "file:///nonexistent".into() })
        .unwrap();
    evaluate(&over_http, &source, &signed).await.expect("signature over http");
    rejected(evaluate(&over_http, &source, &format!("{host}/t/app:unsigned")).await, "unsigned, over http");
    rejected(evaluate(&over_http, &source, &format!("{host}/t/app:retag")).await, "re-tagged, over http");
}

/// A minimal HTTP/1.0 file server over `root` (GET only; 404 for anything
/// missing), on a thread for the rest of the test process.
fn serve_dir(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').replace("%40", "@");
            let file = root.join(&path);
            let reply = match (path.contains(".."), std::fs::read(&file)) {
                (false, Ok(body)) => {
                    let mut r = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
                    r.extend(body);
                    r
                }
                _ => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            };
            let _ = stream.write_all(&reply);
        }
    });
    addr
}

/// The simple-signing payload skopeo signs.
fn payload(identity: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": "atomic container signature",
        },
        "optional": {"creator": "gpg in the arca tests"},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_keys_are_refused() {
    if !require_tools("the GPG key validity test", &["skopeo", "gpg"]) {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (k1, k2, k3) = (dir.join("k1"), dir.join("k2"), dir.join("k3"));
    for k in [&k1, &k2, &k3] {
        std::fs::create_dir_all(k).unwrap();
    }
    let (Some(valid), Some(expired), Some(revoked)) = (
        GpgKey::generate(&k1, "Valid <valid@arca.invalid>"),
        // Made three days ago, valid for one.
        GpgKey::generate_at(&k2, "Expired <expired@arca.invalid>", Some(now - 3 * 86400), "1d"),
        GpgKey::generate(&k3, "Revoked <revoked@arca.invalid>"),
    ) else {
        return;
    };
    let layout = two_images(&dir.join("layout"));
    skopeo_copy(dir, &[], &layout.skopeo_name("a"), &registry.docker_ref("t/app:v1"));
    let host = registry.host.clone();
    let image = format!("{host}/t/app:v1");
    let source = OciSource::new(&registry.host);
    let digest = source.manifest_digest(&image.parse().unwrap()).await;
    let lookaside = dir.join("lookaside");
    let sigs = sig_dir(&lookaside, "t/app", &digest);
    std::fs::create_dir_all(&sigs).unwrap();
    let payload = payload(&image, &digest);
    let check = |key: &GpgKey, signature: Vec<u8>| {
        std::fs::write(sigs.join("signature-1"), signature).unwrap();
        scoped(&host, signed_by(&key.public_key, None)).with_lookaside("", file_lookaside(&lookaside)).unwrap()
    };

    // A signature gpg made directly verifies like skopeo's.
    let policy = check(&valid, valid.sign(&payload, None));
    evaluate(&policy, &source, &image).await.expect("valid key");

    // Signed while the key was valid, checked after it expired.
    let policy = check(&expired, expired.sign(&payload, Some(now - 3 * 86400 + 3600)));
    let why = rejected(evaluate(&policy, &source, &image).await, "expired key");
    assert!(why.contains("expired"), "{why}");

    // Signed, then the key revoked.
    let signature = revoked.sign(&payload, None);
    let policy = check(&revoked, signature.clone());
    evaluate(&policy, &source, &image).await.expect("not yet revoked");
    revoked.revoke();
    let policy = check(&revoked, signature);
    let why = rejected(evaluate(&policy, &source, &image).await, "revoked key");
    assert!(why.contains("revoked"), "{why}");

    // A payload for another digest, validly signed: rejected.
    let other = payload_for_other_digest(&image);
    let policy = check(&valid, valid.sign(&other, None));
    let why = rejected(evaluate(&policy, &source, &image).await, "signature of another digest");
    assert!(why.contains("signed manifest digest"), "{why}");
}

fn payload_for_other_digest(image: &str) -> Vec<u8> {
    payload(image, &format!("sha256:{}", "ab".repeat(32)))
}
