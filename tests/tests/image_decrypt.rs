//! Encrypted layers made by the real tool: `skopeo copy --encryption-key
//! jwe:pub.pem` (containers/ocicrypt) from an OCI layout to another; the
//! encrypted blobs and their annotations are read straight from the
//! destination layout and decrypted with `arca_image::decrypt`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arca_e2e::{run, skopeo_copy, Layer, LayoutBuilder, TarEntry};
use arca_image::decrypt::{self, DecryptConfig, KeySource};
use serde_json::{json, Value};
use zeroize::Zeroizing;

const TOOLS: &[&str] = &["skopeo", "openssl"];

/// One layer as found in a layout: media type, annotations, blob.
struct FoundLayer {
    media_type: String,
    annotations: HashMap<String, String>,
    blob: Vec<u8>,
}

fn layout_layers(dir: &Path, tag: &str) -> Vec<FoundLayer> {
    let blob =
        |digest: &str| std::fs::read(dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .expect("tag in index");
    let manifest: Value = serde_json::from_slice(&blob(desc["digest"].as_str().unwrap())).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| FoundLayer {
            media_type: l["mediaType"].as_str().unwrap().to_string(),
            annotations: serde_json::from_value(l.get("annotations").cloned().unwrap_or(json!({}))).unwrap(),
            blob: blob(l["digest"].as_str().unwrap()),
        })
        .collect()
}

/// A test image: a gzip, a zstd and an uncompressed layer.
fn source_layout(work: &Path) -> PathBuf {
    let dir = work.join("src");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    LayoutBuilder::new(&dir).image(
        "v1",
        json!({"Cmd": ["/bin/sh"]}),
        &[
            Layer::gzip(vec![TarEntry::dir("etc"), TarEntry::file("etc/hello", "hello\n"), TarEntry::file("big", big)]),
            Layer::zstd(vec![TarEntry::file("etc/zstd", "zstd layer\n")]),
            Layer::plain(vec![TarEntry::file("plain", "plain layer\n")]),
        ],
    );
    dir
}

/// Key kinds made with openssl: (private PEM, public PEM).
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    /// `openssl genrsa` (PKCS#8 in OpenSSL 3).
    RsaPkcs8,
    /// The same as traditional PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    RsaPkcs1,
    /// `openssl ecparam -genkey` on P-256: SEC1 with an EC PARAMETERS block.
    EcP256Sec1,
    /// P-384 as PKCS#8.
    EcP384Pkcs8,
    /// P-521, SEC1 without parameters block.
    EcP521Sec1,
}

fn make_key(work: &Path, name: &str, kind: KeyKind) -> (PathBuf, PathBuf) {
    let private = work.join(format!("{name}.pem"));
    let public = work.join(format!("{name}.pub.pem"));
    let tmp = work.join(format!("{name}.tmp.pem"));
    match kind {
        KeyKind::RsaPkcs8 => {
            run(Command::new("openssl").args(["genrsa", "-out"]).arg(&private).arg("2048"));
        }
        KeyKind::RsaPkcs1 => {
            run(Command::new("openssl").args(["genrsa", "-out"]).arg(&tmp).arg("3072"));
            run(Command::new("openssl").args(["rsa", "-traditional", "-in"]).arg(&tmp).arg("-out").arg(&private));
        }
        KeyKind::EcP256Sec1 => {
            run(Command::new("openssl").args(["ecparam", "-name", "prime256v1", "-genkey", "-out"]).arg(&private));
        }
        KeyKind::EcP384Pkcs8 => {
            run(Command::new("openssl").args(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out"]).arg(&tmp));
            run(Command::new("openssl")
                .args(["pkcs8", "-topk8", "-nocrypt", "-in"])
                .arg(&tmp)
                .arg("-out")
                .arg(&private));
        }
        KeyKind::EcP521Sec1 => {
            run(Command::new("openssl")
                .args(["ecparam", "-name", "secp521r1", "-genkey", "-noout", "-out"])
                .arg(&private));
        }
    }
    run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).arg("-out").arg(&public));
    let text = std::fs::read_to_string(&private).unwrap();
    let expected = match kind {
        KeyKind::RsaPkcs8 | KeyKind::EcP384Pkcs8 => "BEGIN PRIVATE KEY",
        KeyKind::RsaPkcs1 => "BEGIN RSA PRIVATE KEY",
        KeyKind::EcP256Sec1 | KeyKind::EcP521Sec1 => "BEGIN EC PRIVATE KEY",
    };
    assert!(text.contains(expected), "{kind:?} key is {text:.40}");
    (private, public)
}

/// `skopeo copy --encryption-key jwe:<pub>` for each public key, into `work/<name>`.
fn encrypt(work: &Path, src: &Path, name: &str, public_keys: &[&Path]) -> PathBuf {
    let dst = work.join(name);
    let args: Vec<String> =
        public_keys.iter().flat_map(|p| ["--encryption-key".into(), format!("jwe:{}", p.display())]).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    skopeo_copy(work, &args, &format!("oci:{}:v1", src.display()), &format!("oci:{}:v1", dst.display()));
    dst
}

fn config(keys: &[&Path]) -> DecryptConfig {
    let mut config = DecryptConfig::default();
    for k in keys {
        config.add_key_arg(&format!("jwe:{}", k.display())).unwrap();
    }
    config
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

/// Decrypts one layer: Ok(plain blob) or the error's text.
fn decrypt_layer(layer: &FoundLayer, config: &DecryptConfig) -> Result<Vec<u8>, String> {
    let key = block_on(decrypt::layer_key(&layer.annotations, config)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    decrypt::decrypting_reader(key, Box::new(std::io::Cursor::new(layer.blob.clone())))
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Every layer of `dst` is encrypted and decrypts with `config` to the plain blob of `src`.
fn assert_decrypts(src: &Path, dst: &Path, config: &DecryptConfig) {
    let plain = layout_layers(src, "v1");
    let encrypted = layout_layers(dst, "v1");
    assert_eq!(plain.len(), encrypted.len());
    for (p, e) in plain.iter().zip(&encrypted) {
        assert!(decrypt::is_encrypted(&e.media_type), "{} not encrypted", e.media_type);
        assert_ne!(e.blob, p.blob);
        let out = decrypt_layer(e, config).unwrap_or_else(|err| panic!("{}: {err}", e.media_type));
        assert_eq!(plain_blob(&e.media_type, &p.media_type, out), (p.media_type.clone(), p.blob.clone()));
    }
}

/// (media type, blob) of a decrypted layer whose source had
/// `source_media_type`, with the gzip undone where skopeo added it: it
/// compresses an uncompressed layer before encrypting (`…tar` becomes
/// `…tar+gzip+encrypted`); compressed layers decrypt to their exact blob.
fn plain_blob(encrypted_media_type: &str, source_media_type: &str, decrypted: Vec<u8>) -> (String, Vec<u8>) {
    let media_type = decrypt::decrypted_media_type(encrypted_media_type).to_string();
    assert!(!decrypt::is_encrypted(&media_type));
    if source_media_type.ends_with(".tar") && media_type == format!("{source_media_type}+gzip") {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(decrypted.as_slice()).read_to_end(&mut tar).unwrap();
        return (source_media_type.to_string(), tar);
    }
    (media_type, decrypted)
}

fn one_key_kind(kind: KeyKind) {
    if !arca_e2e::require_tools("image decryption tests", TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = source_layout(work.path());
    let (private, public) = make_key(work.path(), "key", kind);
    let (other, _) = make_key(work.path(), "other", kind);
    let dst = encrypt(work.path(), &src, "enc", &[&public]);
    assert_decrypts(&src, &dst, &config(&[&private]));
    // A wrong key alone fails clearly; next to the right one it is skipped.
    let layer = &layout_layers(&dst, "v1")[0];
    let err = decrypt_layer(layer, &config(&[&other])).unwrap_err();
    assert!(err.contains("no supplied key matches"), "{err}");
    let key_text = std::fs::read_to_string(&other).unwrap();
    let key_body: String = key_text.lines().nth(1).unwrap_or_default().to_string();
    assert!(!err.contains(&key_body), "error quotes key material: {err}");
    assert_decrypts(&src, &dst, &config(&[&other, &private]));
}

#[test]
fn rsa_pkcs8_key_decrypts_skopeo_layers() {
    one_key_kind(KeyKind::RsaPkcs8);
}

#[test]
fn rsa_pkcs1_key_decrypts_skopeo_layers() {
    one_key_kind(KeyKind::RsaPkcs1);
}

#[test]
fn ec_p256_sec1_key_decrypts_skopeo_layers() {
    one_key_kind(KeyKind::EcP256Sec1);
}

#[test]
fn ec_p384_pkcs8_key_decrypts_skopeo_layers() {
    one_key_kind(KeyKind::EcP384Pkcs8);
}

#[test]
fn ec_p521_sec1_key_decrypts_skopeo_layers() {
    one_key_kind(KeyKind::EcP521Sec1);
}

#[test]
fn multi_recipient_layers_open_with_either_key() {
    if !arca_e2e::require_tools("image decryption tests", TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = source_layout(work.path());
    let (rsa, rsa_pub) = make_key(work.path(), "rsa", KeyKind::RsaPkcs8);
    let (ec, ec_pub) = make_key(work.path(), "ec", KeyKind::EcP384Pkcs8);
    let dst = encrypt(work.path(), &src, "enc", &[&rsa_pub, &ec_pub]);
    let layer = &layout_layers(&dst, "v1")[0];
    let jwe = &layer.annotations[decrypt::ANNOTATION_KEYS_JWE];
    assert!(
        String::from_utf8_lossy(&base64_decode(jwe.split(',').next().unwrap())).contains("\"recipients\""),
        "two keys make a general-serialization JWE"
    );
    assert_decrypts(&src, &dst, &config(&[&rsa]));
    assert_decrypts(&src, &dst, &config(&[&ec]));
    let (stranger, _) = make_key(work.path(), "stranger", KeyKind::EcP256Sec1);
    let err = decrypt_layer(layer, &config(&[&stranger])).unwrap_err();
    assert!(err.contains("no supplied key matches") && err.contains("2 recipient"), "{err}");
}

#[test]
fn tampered_or_truncated_layer_fails_its_hmac() {
    if !arca_e2e::require_tools("image decryption tests", TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = source_layout(work.path());
    let (private, public) = make_key(work.path(), "key", KeyKind::EcP256Sec1);
    let dst = encrypt(work.path(), &src, "enc", &[&public]);
    let config = config(&[&private]);
    let mut layer = layout_layers(&dst, "v1").remove(0);
    assert!(decrypt_layer(&layer, &config).is_ok());
    let middle = layer.blob.len() / 2;
    layer.blob[middle] ^= 0x01;
    let err = decrypt_layer(&layer, &config).unwrap_err();
    assert!(err.contains("HMAC mismatch"), "{err}");
    layer.blob[middle] ^= 0x01;
    layer.blob.pop();
    let err = decrypt_layer(&layer, &config).unwrap_err();
    assert!(err.contains("HMAC mismatch"), "{err}");
    // A layer without its public options (no HMAC) is refused up front.
    layer.annotations.remove(decrypt::ANNOTATION_PUBOPTS);
    let err = decrypt_layer(&layer, &config).unwrap_err();
    assert!(err.contains("no HMAC"), "{err}");
}

#[test]
fn no_keys_or_unsupported_schemes_say_so() {
    if !arca_e2e::require_tools("image decryption tests", TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = source_layout(work.path());
    let (_, public) = make_key(work.path(), "key", KeyKind::RsaPkcs8);
    let dst = encrypt(work.path(), &src, "enc", &[&public]);
    let mut layer = layout_layers(&dst, "v1").remove(0);
    let err = decrypt_layer(&layer, &DecryptConfig::default()).unwrap_err();
    assert!(err.contains("jwe: no private key supplied"), "{err}");
    let jwe = layer.annotations.remove(decrypt::ANNOTATION_KEYS_JWE).unwrap();
    layer.annotations.insert("org.opencontainers.image.enc.keys.pgp".into(), jwe);
    let err = decrypt_layer(&layer, &DecryptConfig::default()).unwrap_err();
    assert!(err.contains("pgp: key scheme not supported"), "{err}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A key source for tests: key id → key.
struct MapKeySource(HashMap<String, Vec<u8>>);

impl KeySource for MapKeySource {
    fn get_key<'a>(&'a self, kid: &'a str) -> decrypt::BoxFuture<'a, arca_image::Result<Zeroizing<Vec<u8>>>> {
        Box::pin(async move {
            self.0
                .get(kid)
                .map(|k| Zeroizing::new(k.clone()))
                .ok_or_else(|| arca_image::Error::Decrypt(format!("test key source has no key {kid}")))
        })
    }
}

/// The CoCo key-provider scheme. The layer is encrypted by skopeo (JWE
/// scheme); its private options, opened with the JWE key, are re-wrapped as
/// CoCo's `coco_keyprovider` does, in the `AnnotationPacket` format specified
/// in confidential-containers guest-components
/// (`attestation-agent/coco_keyprovider/src/enc_mods/mod.rs`): JSON
/// `{kid, wrapped_data, iv, wrap_type}` with `wrapped_data` = AES-256-GCM
/// (ciphertext ‖ tag) of the options under the KEK named by `kid`, `iv` its
/// 12-byte nonce, both standard base64; the layer annotation
/// `…keys.provider.attestation-agent` is base64 of that JSON. The JWE
/// annotation is then removed so only the provider scheme can open the layer.
#[test]
fn key_provider_annotation_opens_with_the_key_source() {
    use aes_gcm::aead::{Aead, KeyInit};
    if !arca_e2e::require_tools("image decryption tests", TOOLS) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = source_layout(work.path());
    let (private, public) = make_key(work.path(), "key", KeyKind::EcP256Sec1);
    let dst = encrypt(work.path(), &src, "enc", &[&public]);
    let jwe_key = arca_kbs_protocol::jwe::DecryptionKey::from_pem(&std::fs::read_to_string(&private).unwrap()).unwrap();
    let plain_layers = layout_layers(&src, "v1");
    let kid = "kbs:///default/image-key/layer";
    let kek = [0x42u8; 32];
    let source = MapKeySource([(kid.to_string(), kek.to_vec())].into_iter().collect());
    let config = DecryptConfig { private_keys: Vec::new(), key_source: Some(Arc::new(source)) };
    for (mut layer, plain) in layout_layers(&dst, "v1").into_iter().zip(plain_layers) {
        let jwe = layer.annotations.remove(decrypt::ANNOTATION_KEYS_JWE).unwrap();
        let options = arca_kbs_protocol::jwe::decrypt_json([&jwe_key], &base64_decode(&jwe)).unwrap();
        let iv = [7u8; 12];
        let wrapped =
            aes_gcm::Aes256Gcm::new_from_slice(&kek).unwrap().encrypt(&iv.into(), options.as_slice()).unwrap();
        let packet = |kid: &str, wrapped: &[u8]| {
            let packet = json!({"kid": kid, "wrapped_data": base64_encode(wrapped), "iv": base64_encode(&iv), "wrap_type": "A256GCM"});
            base64_encode(packet.to_string().as_bytes())
        };
        layer.annotations.insert(decrypt::ANNOTATION_KEYS_ATTESTATION_AGENT.into(), packet(kid, &wrapped));
        let out = decrypt_layer(&layer, &config).unwrap();
        assert_eq!(
            plain_blob(&layer.media_type, &plain.media_type, out),
            (plain.media_type.clone(), plain.blob.clone())
        );

        // An unknown kid: the key source's error, naming the kid.
        let mut unknown = layer.annotations.clone();
        unknown.insert(
            decrypt::ANNOTATION_KEYS_ATTESTATION_AGENT.into(),
            packet("kbs:///default/image-key/other", &wrapped),
        );
        let err =
            decrypt_layer(&FoundLayer { annotations: unknown, blob: Vec::new(), media_type: String::new() }, &config)
                .unwrap_err();
        assert!(err.contains("kbs:///default/image-key/other") && err.contains("has no key"), "{err}");
        // The right kid but another key behind it.
        let wrong = MapKeySource([(kid.to_string(), vec![0x43u8; 32])].into_iter().collect());
        let wrong_config = DecryptConfig { private_keys: Vec::new(), key_source: Some(Arc::new(wrong)) };
        let err = decrypt_layer(&layer, &wrong_config).unwrap_err();
        assert!(err.contains("does not unwrap"), "{err}");
        // No key source: said as such.
        let err = decrypt_layer(&layer, &DecryptConfig::default()).unwrap_err();
        assert!(err.contains("no key source configured"), "{err}");
    }
}
