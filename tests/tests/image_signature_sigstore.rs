//! `sigstoreSigned` against cosign-compatible signatures in a real
//! registry: `sha256-<hex>.sig` tags holding simple-signing payloads and
//! ECDSA signatures made by `openssl` (Debian's skopeo has sigstore signing
//! compiled out, and Debian ships no cosign).

mod image_signature_support;

use arca_e2e::signing::{push_cosign_signatures, CosignSignature, SigstoreKey};
use arca_e2e::{require_tools, skopeo_copy, Registry, RegistryOptions};
use base64::Engine as _;
use image_signature_support::{evaluate, policy, rejected, scoped, two_images, OciSource};
use serde_json::json;

fn key_requirement(key: &SigstoreKey, identity: Option<serde_json::Value>) -> serde_json::Value {
    let mut req = json!({"type": "sigstoreSigned", "keyPath": key.public_key});
    if let Some(identity) = identity {
        req["signedIdentity"] = identity;
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_signed_images_are_accepted_and_everything_else_rejected() {
    if !require_tools("the sigstore signature test", &["skopeo"]) {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (Some(key), Some(other_key), Some(key384)) = (
        SigstoreKey::generate(dir, "signer", "P-256"),
        SigstoreKey::generate(dir, "stranger", "P-256"),
        SigstoreKey::generate(dir, "signer384", "P-384"),
    ) else {
        return;
    };
    let layout = two_images(&dir.join("layout"));
    let host = registry.host.clone();
    let source = OciSource::new(&registry.host);
    let push = |tag: &str, dest: &str| skopeo_copy(dir, &[], &layout.skopeo_name(tag), &registry.docker_ref(dest));
    for dest in ["t/app:signed", "t/app:retag", "t/p384:v1", "t/mirror:v1", "t/mirror:signed", "t/cosign:v1"] {
        push("a", dest);
    }
    for dest in ["t/multi:v1", "t/swap:v1"] {
        push("a", dest);
    }
    push("b", "t/app:unsigned");
    let a = source.manifest_digest(&format!("{host}/t/app:signed").parse().unwrap()).await;
    let b = source.manifest_digest(&format!("{host}/t/app:unsigned").parse().unwrap()).await;
    assert_ne!(a, b);

    let signed = format!("{host}/t/app:signed");
    let sig = key.sign(&signed, &a);
    // t/app:retag has the same digest, so it finds this signature too.
    push_cosign_signatures(dir, &registry, "t/app", &a, std::slice::from_ref(&sig));
    push_cosign_signatures(dir, &registry, "t/p384", &a, &[key384.sign(&format!("{host}/t/p384:v1"), &a)]);
    // The signature of t/app copied to another repository.
    push_cosign_signatures(dir, &registry, "t/mirror", &a, std::slice::from_ref(&sig));
    // cosign itself signs the repository name only.
    push_cosign_signatures(dir, &registry, "t/cosign", &a, &[key.sign(&format!("{host}/t/cosign"), &a)]);
    // A bad signature next to a good one, and a good signature of another
    // image's digest.
    let mut broken = key.sign(&format!("{host}/t/multi:v1"), &a);
    broken.signature = other_key.sign(&format!("{host}/t/multi:v1"), &a).signature;
    push_cosign_signatures(dir, &registry, "t/multi", &a, &[broken, key.sign(&format!("{host}/t/multi:v1"), &a)]);
    push_cosign_signatures(dir, &registry, "t/swap", &a, &[key.sign(&format!("{host}/t/swap:v1"), &b)]);

    let by_key = scoped(&format!("{host}/t"), key_requirement(&key, None));

    // The right key and the signed reference: accepted.
    evaluate(&by_key, &source, &signed).await.expect("signed image under its own key");
    // By digest: the repository is enough (the digest is what was signed).
    evaluate(&by_key, &source, &format!("{host}/t/app@{a}")).await.expect("signed image by digest");
    // keyData instead of keyPath.
    let pem = std::fs::read(&key.public_key).unwrap();
    let by_data = scoped(
        &host,
        json!({"type": "sigstoreSigned", "keyData": base64::engine::general_purpose::STANDARD.encode(pem)}),
    );
    evaluate(&by_data, &source, &signed).await.expect("keyData");
    // P-384 keys.
    evaluate(&scoped(&host, key_requirement(&key384, None)), &source, &format!("{host}/t/p384:v1"))
        .await
        .expect("P-384 signature");
    // One good signature among bad ones suffices.
    evaluate(&by_key, &source, &format!("{host}/t/multi:v1")).await.expect("one valid signature");

    // Another key: rejected, naming why.
    let wrong = rejected(
        evaluate(&scoped(&host, key_requirement(&other_key, None)), &source, &signed).await,
        "signature by another key",
    );
    assert!(wrong.contains("not signed by a trusted key"), "{wrong}");
    rejected(
        evaluate(&scoped(&host, key_requirement(&key, None)), &source, &format!("{host}/t/p384:v1")).await,
        "P-384 signature checked with the P-256 key",
    );
    // Unsigned: rejected.
    let unsigned = rejected(evaluate(&by_key, &source, &format!("{host}/t/app:unsigned")).await, "unsigned image");
    assert!(unsigned.contains("has none"), "{unsigned}");
    // A valid signature of another manifest: rejected.
    let swap = rejected(evaluate(&by_key, &source, &format!("{host}/t/swap:v1")).await, "signature of another digest");
    assert!(swap.contains("signed manifest digest"), "{swap}");
    // Re-tagged: the signature names t/app:signed, not t/app:retag.
    let retag = rejected(evaluate(&by_key, &source, &format!("{host}/t/app:retag")).await, "re-tagged image");
    assert!(retag.contains("signed identity"), "{retag}");
    let exact = scoped(&host, key_requirement(&key, Some(json!({"type": "matchExact"}))));
    rejected(evaluate(&exact, &source, &format!("{host}/t/app:retag")).await, "re-tagged image under matchExact");
    rejected(evaluate(&exact, &source, &format!("{host}/t/app@{a}")).await, "by digest under matchExact");
    evaluate(&exact, &source, &signed).await.expect("matchExact, signed tag");
    // matchRepository accepts any tag of the signed repository, and
    // cosign's repository-only identities.
    let any_tag = scoped(&host, key_requirement(&key, Some(json!({"type": "matchRepository"}))));
    evaluate(&any_tag, &source, &format!("{host}/t/app:retag")).await.expect("matchRepository");
    evaluate(&any_tag, &source, &format!("{host}/t/cosign:v1")).await.expect("cosign identity, matchRepository");
    rejected(evaluate(&by_key, &source, &format!("{host}/t/cosign:v1")).await, "repository-only identity, default");
    // The signature for repository t/app presented for t/mirror: rejected
    // unless the policy names the signed repository.
    let mirror = format!("{host}/t/mirror:v1");
    let why = rejected(evaluate(&by_key, &source, &mirror).await, "signature of another repository");
    assert!(why.contains("t/app:signed"), "{why}");
    rejected(evaluate(&any_tag, &source, &mirror).await, "signature of another repository, matchRepository");
    let exact_repo = scoped(
        &host,
        key_requirement(&key, Some(json!({"type": "exactRepository", "dockerRepository": format!("{host}/t/app")}))),
    );
    evaluate(&exact_repo, &source, &mirror).await.expect("exactRepository");
    let exact_ref = scoped(
        &host,
        key_requirement(&key, Some(json!({"type": "exactReference", "dockerReference": signed.clone()}))),
    );
    evaluate(&exact_ref, &source, &mirror).await.expect("exactReference");
    let remap = scoped(
        &host,
        key_requirement(
            &key,
            Some(
                json!({"type": "remapIdentity", "prefix": format!("{host}/t/mirror"), "signedPrefix": format!("{host}/t/app")}),
            ),
        ),
    );
    rejected(evaluate(&remap, &source, &mirror).await, "remapped to t/app:v1, which was never signed");
    evaluate(&remap, &source, &format!("{host}/t/mirror:signed")).await.expect("remapIdentity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_kinds_and_scope_precedence_against_the_registry() {
    if !require_tools("the signature policy test", &["skopeo"]) {
        return;
    }
    let Some(registry) = Registry::start(RegistryOptions::default()) else { return };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let Some(key) = SigstoreKey::generate(dir, "signer", "P-256") else { return };
    let layout = two_images(&dir.join("layout"));
    let source = OciSource::new(&registry.host);
    let host = registry.host.clone();
    skopeo_copy(dir, &[], &layout.skopeo_name("a"), &registry.docker_ref("prod/app:v1"));
    for dest in ["prod/app:v2", "dev/tool:v1", "banned/x:v1"] {
        skopeo_copy(dir, &[], &layout.skopeo_name("b"), &registry.docker_ref(dest));
    }
    let a = source.manifest_digest(&format!("{host}/prod/app:v1").parse().unwrap()).await;
    let sig: CosignSignature = key.sign(&format!("{host}/prod/app:v1"), &a);
    push_cosign_signatures(dir, &registry, "prod/app", &a, &[sig]);

    let accept = policy(json!({"default": [{"type": "insecureAcceptAnything"}]}));
    evaluate(&accept, &source, &format!("{host}/prod/app:v2")).await.expect("insecureAcceptAnything");
    let reject = policy(json!({"default": [{"type": "reject"}]}));
    let why = rejected(evaluate(&reject, &source, &format!("{host}/prod/app:v1")).await, "reject");
    assert!(why.contains("default rejects"), "{why}");

    let layered = policy(json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            host.clone(): [{"type": "insecureAcceptAnything"}],
            format!("{host}/prod"): [{"type": "sigstoreSigned", "keyPath": key.public_key}],
            format!("{host}/prod/app:v2"): [{"type": "insecureAcceptAnything"}],
            format!("{host}/banned"): [{"type": "reject"}],
        }}
    }));
    // The namespace scope asks for a signature: the signed tag passes ...
    evaluate(&layered, &source, &format!("{host}/prod/app:v1")).await.expect("signed, namespace scope");
    // ... an exact-tag scope overrides it for v2 ...
    evaluate(&layered, &source, &format!("{host}/prod/app:v2")).await.expect("exact scope overrides namespace");
    // ... but not for v3 (same unsigned image as v2, under another tag) ...
    skopeo_copy(dir, &[], &layout.skopeo_name("b"), &registry.docker_ref("prod/app:v3"));
    rejected(evaluate(&layered, &source, &format!("{host}/prod/app:v3")).await, "unsigned, namespace scope");
    // ... the host scope accepts other namespaces ...
    evaluate(&layered, &source, &format!("{host}/dev/tool:v1")).await.expect("host scope");
    // ... a more specific reject wins over the host scope ...
    let why = rejected(evaluate(&layered, &source, &format!("{host}/banned/x:v1")).await, "banned namespace");
    assert!(why.contains("/banned"), "{why}");
    // ... and other registries fall to the default (nothing is fetched).
    let elsewhere: oci_client::Reference = "registry.invalid/x/y:1".parse().unwrap();
    let why = rejected(layered.evaluate(&elsewhere, &a, &source.client).await, "other registry");
    assert!(why.contains("default"), "{why}");

    // Every requirement of a scope must pass.
    let both = policy(json!({"default": [
        {"type": "insecureAcceptAnything"},
        {"type": "sigstoreSigned", "keyPath": key.public_key},
    ]}));
    evaluate(&both, &source, &format!("{host}/prod/app:v1")).await.expect("both met");
    rejected(evaluate(&both, &source, &format!("{host}/prod/app:v2")).await, "signature requirement not met");

    // Requirements this crate does not implement refuse the images they
    // cover, saying so, instead of accepting them.
    let fulcio = policy(json!({"default": [{"type": "sigstoreSigned",
        "fulcio": {"caPath": "/ca.pem", "oidcIssuer": "https://issuer.invalid", "subjectEmail": "a@b.invalid"},
        "rekorPublicKeyPath": "/rekor.pub"}]}));
    match evaluate(&fulcio, &source, &format!("{host}/prod/app:v1")).await {
        Err(arca_image::Error::Policy(msg)) => assert!(msg.contains("not supported"), "{msg}"),
        other => panic!("fulcio policy must fail as unsupported, got {other:?}"),
    }
    // A key file that is missing is an error, not a rejection or a pass.
    let missing = policy(json!({"default": [{"type": "sigstoreSigned", "keyPath": dir.join("nope.pub")}]}));
    match evaluate(&missing, &source, &format!("{host}/prod/app:v1")).await {
        Err(arca_image::Error::Io { context, .. }) => assert!(context.contains("nope.pub"), "{context}"),
        other => panic!("a missing key must be an I/O error, got {other:?}"),
    }
}
