//! Signature policy: the owner's `containers-policy.json` (as CoCo delivers
//! it from the KBS) decides, per registry/repository scope, whether an image
//! may be used: `insecureAcceptAnything`, `reject`, `signedBy` (GPG simple
//! signing, signatures from a lookaside store) or `sigstoreSigned`
//! (cosign-compatible signatures in the registry, verified with a public
//! key). Every requirement of the chosen scope must accept the image.
//!
//! Not done here: fulcio/rekor/PKI verification of sigstore signatures and
//! X.509 `signedBy` key types (an image they apply to is refused with a
//! "not supported" error), and the registries.d YAML itself (the caller
//! passes its lookaside URLs with [`Policy::with_lookaside`]).

mod gpg;
mod lookaside;
mod payload;
mod policy;
mod reference;
mod sigstore;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

pub use lookaside::Lookaside;

use crate::{Error, Result};
use policy::{Identity, Keys, Requirement};
use reference::DockerRef;

/// A boxed future, as [`SignatureSource`] returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A manifest as fetched: raw bytes and media type.
pub type RawManifest = (Vec<u8>, String);

/// What the policy needs from the registry; the registry client implements it.
pub trait SignatureSource: Send + Sync {
    /// Manifest (raw bytes, media type) of `repository:tag` in `registry`, None if the tag does not exist.
    fn fetch_manifest<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<RawManifest>>>;
    /// Blob `digest` of `repository` (verified), at most `limit` bytes.
    fn fetch_blob<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        digest: &'a str,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>>>;
}

/// A parsed signature policy plus where simple signatures are stored.
#[derive(Debug, Clone)]
pub struct Policy {
    document: policy::Document,
    /// registries.d-style scope (`""` = `default-docker`) → lookaside store.
    lookasides: BTreeMap<String, Lookaside>,
    http: Option<reqwest::Client>,
}

impl Policy {
    /// Parses a `containers-policy.json` document (at most 1 MiB). Unknown
    /// fields and requirement types are errors.
    pub fn from_json(bytes: &[u8]) -> Result<Policy> {
        let document = policy::parse(bytes).map_err(Error::Policy)?;
        Ok(Policy { document, lookasides: BTreeMap::new(), http: None })
    }

    /// The policy `{"default": [{"type": "insecureAcceptAnything"}]}`: every
    /// image is accepted without a signature check (for callers that were
    /// given no policy and say so).
    pub fn insecure_accept_anything() -> Policy {
        let document = policy::Document { default: vec![Requirement::AcceptAnything], docker: BTreeMap::new() };
        Policy { document, lookasides: BTreeMap::new(), http: None }
    }

    /// Reads simple-signing signatures of images in `scope` from
    /// `lookaside`. Scopes are registries.d `docker:` keys (`host`,
    /// `host/namespace`, `host/repo`, `host/repo:tag`); `""` stands for
    /// `default-docker`. The most specific scope applies.
    pub fn with_lookaside(mut self, scope: &str, lookaside: Lookaside) -> Result<Policy> {
        lookaside.validate().map_err(Error::Policy)?;
        self.lookasides.insert(scope.to_string(), lookaside);
        Ok(self)
    }

    /// The HTTP client for `http(s)://` lookaside stores (custom CA
    /// bundles, proxies); a default client otherwise.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Policy {
        self.http = Some(client);
        self
    }

    /// Ok if the policy's requirements for this image (chosen by scope) are met.
    /// `reference` is the image as the user named it (`host/repo[:tag][@digest]`).
    pub async fn evaluate(
        &self,
        reference: &oci_client::Reference,
        manifest_digest: &str,
        source: &dyn SignatureSource,
    ) -> Result<()> {
        let image = DockerRef::from_oci(reference)
            .map_err(|reason| Error::Reference { reference: reference.whole(), reason })?;
        let rejected = |reason: String| Error::PolicyRejected { image: image.to_string(), reason };
        reference::validate_digest(manifest_digest).map_err(|e| rejected(format!("manifest digest: {e}")))?;
        if let Some(digest) = &image.digest {
            if digest != manifest_digest {
                return Err(rejected(format!(
                    "the reference names digest {digest} but the manifest is {manifest_digest}"
                )));
            }
        }
        let (scope, requirements) = self.document.requirements_for(&image);
        let scope_name = match &scope {
            Some(s) if s.is_empty() => "transports.docker[\"\"]".to_string(),
            Some(s) => format!("transports.docker[{s:?}]"),
            None => "default".to_string(),
        };
        tracing::debug!(image = %image, scope = %scope_name, "signature policy");
        for requirement in requirements {
            match requirement {
                Requirement::AcceptAnything => {}
                Requirement::Reject => return Err(rejected(format!("{scope_name} rejects it"))),
                Requirement::Unsupported(why) => return Err(Error::Policy(format!("{scope_name}: {why}"))),
                Requirement::SignedBy { keys, identity } => {
                    self.check_signed_by(&image, manifest_digest, keys, identity).await.map_err(|r| match r {
                        Check::Rejected(reason) => rejected(format!("{scope_name} signedBy: {reason}")),
                        Check::Failed(e) => e,
                    })?
                }
                Requirement::SigstoreSigned { keys, identity } => self
                    .check_sigstore(reference, &image, manifest_digest, keys, identity, source)
                    .await
                    .map_err(|r| match r {
                        Check::Rejected(reason) => rejected(format!("{scope_name} sigstoreSigned: {reason}")),
                        Check::Failed(e) => e,
                    })?,
            }
        }
        tracing::info!(image = %image, digest = manifest_digest, scope = %scope_name, "signature policy accepted");
        Ok(())
    }

    fn lookaside_for(&self, image: &DockerRef) -> Option<&Lookaside> {
        image.scopes().iter().find_map(|s| self.lookasides.get(s)).or_else(|| self.lookasides.get(""))
    }

    async fn check_signed_by(
        &self,
        image: &DockerRef,
        digest: &str,
        keys: &Keys,
        identity: &Identity,
    ) -> std::result::Result<(), Check> {
        let mut trusted = Vec::new();
        for (what, bytes) in key_material(keys, gpg::MAX_KEYRING_BYTES).await? {
            trusted.extend(gpg::parse_keys(&bytes, &what).map_err(|e| Check::Failed(Error::Policy(e)))?);
        }
        let Some(lookaside) = self.lookaside_for(image) else {
            return Err(Check::Rejected("no lookaside signature store is configured for this image".into()));
        };
        let client = match &self.http {
            Some(client) => client.clone(),
            None => reqwest::Client::builder().build().map_err(|e| {
                Check::Failed(Error::Registry { registry: lookaside.base.clone(), message: e.to_string() })
            })?,
        };
        let signatures = lookaside
            .signatures(&client, image.path(), digest)
            .await
            .map_err(|message| Check::Failed(Error::Registry { registry: lookaside.base.clone(), message }))?;
        if signatures.is_empty() {
            return Err(Check::Rejected(format!("a signature is required but {} holds none for it", lookaside.base)));
        }
        let mut reasons = Vec::new();
        for (n, signature) in signatures.iter().enumerate() {
            let outcome = gpg::verify(signature, &trusted)
                .and_then(|payload| payload::parse(&payload, payload::SIMPLE_SIGNING_TYPE))
                .and_then(|claims| check_claims(&claims, image, digest, identity));
            match outcome {
                Ok(()) => return Ok(()),
                Err(reason) => reasons.push(format!("signature-{}: {reason}", n + 1)),
            }
        }
        Err(Check::Rejected(reasons.join("; ")))
    }

    async fn check_sigstore(
        &self,
        reference: &oci_client::Reference,
        image: &DockerRef,
        digest: &str,
        keys: &Keys,
        identity: &Identity,
        source: &dyn SignatureSource,
    ) -> std::result::Result<(), Check> {
        let mut trusted = Vec::new();
        for (what, bytes) in key_material(keys, sigstore::MAX_KEY_BYTES).await? {
            trusted.push(sigstore::PublicKey::from_pem(&bytes, &what).map_err(|e| Check::Failed(Error::Policy(e)))?);
        }
        let signatures = sigstore::fetch(source, reference.registry(), reference.repository(), digest)
            .await
            .map_err(Check::Failed)?;
        if signatures.is_empty() {
            return Err(Check::Rejected(format!(
                "a signature is required but the registry has none (no layer in tag {})",
                sigstore::signature_tag(digest)
            )));
        }
        let mut reasons = Vec::new();
        for signature in &signatures {
            let outcome = signature
                .signature
                .clone()
                .and_then(|sig| {
                    let mut last = String::from("no trusted key");
                    for key in &trusted {
                        match key.verify(&signature.payload, &sig) {
                            Ok(()) => return Ok(()),
                            Err(e) => last = e,
                        }
                    }
                    Err(format!("not signed by a trusted key ({last})"))
                })
                .and_then(|()| payload::parse(&signature.payload, payload::SIGSTORE_TYPE))
                .and_then(|claims| check_claims(&claims, image, digest, identity));
            match outcome {
                Ok(()) => return Ok(()),
                Err(reason) => reasons.push(format!("{}: {reason}", signature.digest)),
            }
        }
        Err(Check::Rejected(reasons.join("; ")))
    }
}

/// Why a signature requirement did not pass.
enum Check {
    /// The image does not meet it (→ [`Error::PolicyRejected`]).
    Rejected(String),
    /// It could not be evaluated (bad key, fetch failure).
    Failed(Error),
}

/// A verified payload's claims against the image.
fn check_claims(
    claims: &payload::Claims,
    image: &DockerRef,
    digest: &str,
    identity: &Identity,
) -> std::result::Result<(), String> {
    if claims.manifest_digest != digest {
        return Err(format!("signed manifest digest {} is not the image's {digest}", claims.manifest_digest));
    }
    if !identity.matches(image, &claims.docker_reference) {
        return Err(format!(
            "signed identity {:?} is not accepted for {image} ({})",
            claims.docker_reference,
            identity.name()
        ));
    }
    Ok(())
}

/// The key bytes of a requirement, each with a name for errors.
async fn key_material(keys: &Keys, limit: u64) -> std::result::Result<Vec<(String, Vec<u8>)>, Check> {
    match keys {
        Keys::Data(data) => Ok(data.iter().enumerate().map(|(i, d)| (format!("keyData[{i}]"), d.clone())).collect()),
        Keys::Paths(paths) => {
            let mut out = Vec::new();
            for path in paths {
                out.push((path.display().to_string(), read_limited(path, limit).await.map_err(Check::Failed)?));
            }
            Ok(out)
        }
    }
}

async fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let context = || format!("reading policy key {}", path.display());
    let file = tokio::fs::File::open(path).await.map_err(|e| Error::io(context(), e))?;
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data).await.map_err(|e| Error::io(context(), e))?;
    if data.len() as u64 > limit {
        return Err(Error::TooLarge { what: format!("policy key {}", path.display()), limit });
    }
    Ok(data)
}

impl Identity {
    fn name(&self) -> String {
        match self {
            Identity::MatchRepoDigestOrExact => "matchRepoDigestOrExact".into(),
            Identity::MatchExact => "matchExact".into(),
            Identity::MatchRepository => "matchRepository".into(),
            Identity::ExactReference(r) => format!("exactReference {r}"),
            Identity::ExactRepository(r) => format!("exactRepository {r}"),
            Identity::Remap { prefix, signed_prefix } => format!("remapIdentity {prefix} → {signed_prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use base64::Engine as _;
    use ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;
    use sha2::{Digest as _, Sha256};

    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Manifests by `repository:tag` and blobs by digest.
    #[derive(Default)]
    struct FakeRegistry {
        manifests: HashMap<String, Vec<u8>>,
        blobs: HashMap<String, Vec<u8>>,
    }

    impl FakeRegistry {
        fn blob(&mut self, data: &[u8]) -> String {
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
            self.blobs.insert(digest.clone(), data.to_vec());
            digest
        }

        /// Signature layers: (payload, annotation value or none).
        fn signatures(&mut self, repository: &str, digest: &str, layers: &[(Vec<u8>, Option<String>)]) {
            let layers: Vec<serde_json::Value> = layers
                .iter()
                .map(|(payload, annotation)| {
                    let mut layer = serde_json::json!({
                        "mediaType": sigstore::SIMPLESIGNING_MEDIA_TYPE,
                        "digest": self.blob(payload),
                        "size": payload.len(),
                    });
                    if let Some(a) = annotation {
                        layer["annotations"] = serde_json::json!({ sigstore::SIGNATURE_ANNOTATION: a });
                    }
                    layer
                })
                .collect();
            let manifest = serde_json::json!({"schemaVersion": 2, "layers": layers});
            self.manifests.insert(
                format!("{repository}:{}", sigstore::signature_tag(digest)),
                serde_json::to_vec(&manifest).unwrap(),
            );
        }
    }

    impl SignatureSource for FakeRegistry {
        fn fetch_manifest<'a>(
            &'a self,
            _registry: &'a str,
            repository: &'a str,
            tag: &'a str,
        ) -> BoxFuture<'a, Result<Option<RawManifest>>> {
            let found = self.manifests.get(&format!("{repository}:{tag}")).cloned();
            Box::pin(async move { Ok(found.map(|m| (m, "application/vnd.oci.image.manifest.v1+json".to_string()))) })
        }

        fn fetch_blob<'a>(
            &'a self,
            registry: &'a str,
            _repository: &'a str,
            digest: &'a str,
            limit: u64,
        ) -> BoxFuture<'a, Result<Vec<u8>>> {
            let blob = self.blobs.get(digest).cloned();
            Box::pin(async move {
                let blob =
                    blob.ok_or_else(|| Error::Registry { registry: registry.into(), message: "no blob".into() })?;
                if blob.len() as u64 > limit {
                    return Err(Error::TooLarge { what: digest.into(), limit });
                }
                Ok(blob)
            })
        }
    }

    fn payload(identity: &str, digest: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"critical": {
            "type": "cosign container image signature",
            "image": {"docker-manifest-digest": digest},
            "identity": {"docker-reference": identity},
        }}))
        .unwrap()
    }

    fn key(seed: u8) -> (p256::ecdsa::SigningKey, String) {
        let signing = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let pem = signing.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
        (signing, base64::engine::general_purpose::STANDARD.encode(pem))
    }

    fn sign(key: &p256::ecdsa::SigningKey, payload: &[u8]) -> Option<String> {
        let sig: p256::ecdsa::Signature = key.sign(payload);
        Some(base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes()))
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn sigstore_policy(key_data: &str) -> Policy {
        let doc = serde_json::json!({"default": [{"type": "sigstoreSigned", "keyData": key_data}]});
        Policy::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap()
    }

    fn reason(result: Result<()>) -> String {
        match result {
            Err(Error::PolicyRejected { reason, .. }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn sigstore_signatures_through_a_source() {
        let (signer, key_data) = key(7);
        let (stranger, _) = key(9);
        let image: oci_client::Reference = "reg.example.com/app:v1".parse().unwrap();
        let mut registry = FakeRegistry::default();
        let good = payload("reg.example.com/app:v1", DIGEST);
        registry.signatures(
            "app",
            DIGEST,
            &[
                (good.clone(), None),
                (good.clone(), Some("%%% not base64".into())),
                (good.clone(), sign(&stranger, &good)),
                (payload("reg.example.com/app:v1", &DIGEST.replace('0', "f")), sign(&signer, &good)),
            ],
        );
        let policy = sigstore_policy(&key_data);
        let why = reason(run(policy.evaluate(&image, DIGEST, &registry)));
        for part in ["no dev.cosignproject.cosign/signature annotation", "not base64", "not signed by a trusted key"] {
            assert!(why.contains(part), "{part:?} missing from {why}");
        }
        registry.signatures(
            "app",
            DIGEST,
            &[(good.clone(), sign(&stranger, &good)), (good.clone(), sign(&signer, &good))],
        );
        run(policy.evaluate(&image, DIGEST, &registry)).expect("one good signature suffices");

        // The reference's own digest must be the manifest's.
        let pinned: oci_client::Reference =
            format!("reg.example.com/app@{}", DIGEST.replace('0', "e")).parse().unwrap();
        assert!(reason(run(policy.evaluate(&pinned, DIGEST, &registry))).contains("names digest"));
        assert!(reason(run(policy.evaluate(&image, "sha256:short", &registry))).contains("manifest digest"));
        // Nothing stored for another image.
        let other: oci_client::Reference = "reg.example.com/other:v1".parse().unwrap();
        assert!(reason(run(policy.evaluate(&other, DIGEST, &registry))).contains("has none"));
        // A signature manifest that is not JSON is a registry error.
        registry.manifests.insert(format!("other:{}", sigstore::signature_tag(DIGEST)), b"<html>".to_vec());
        assert!(matches!(run(policy.evaluate(&other, DIGEST, &registry)), Err(Error::Registry { .. })));
        // An oversized payload blob is refused by the source's limit.
        let huge = vec![b' '; payload::MAX_PAYLOAD_BYTES + 1];
        registry.signatures("app", DIGEST, &[(huge.clone(), sign(&signer, &huge))]);
        assert!(matches!(run(policy.evaluate(&image, DIGEST, &registry)), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn evaluation_can_run_on_any_runtime_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let policy = Policy::from_json(br#"{"default": [{"type": "reject"}]}"#).unwrap();
        let image: oci_client::Reference = "reg.example.com/app:v1".parse().unwrap();
        let registry = FakeRegistry::default();
        let future = policy.evaluate(&image, DIGEST, &registry);
        assert_send(&future);
        assert!(reason(run(future)).contains("default rejects"));
        run(Policy::insecure_accept_anything().evaluate(&image, DIGEST, &registry)).unwrap();
    }

    #[test]
    fn lookaside_scopes_pick_the_most_specific_store() {
        let store = |b: &str| Lookaside { base: b.into() };
        let policy = Policy::from_json(br#"{"default": [{"type": "reject"}]}"#)
            .unwrap()
            .with_lookaside("", store("file:///default"))
            .unwrap()
            .with_lookaside("reg.example.com", store("file:///host"))
            .unwrap()
            .with_lookaside("reg.example.com/team", store("https://sigs.example.com/team"))
            .unwrap();
        let chosen = |r: &str| policy.lookaside_for(&DockerRef::parse_normalized(r).unwrap()).unwrap().base.clone();
        assert_eq!(chosen("reg.example.com/team/app:v1"), "https://sigs.example.com/team");
        assert_eq!(chosen("reg.example.com/other/app:v1"), "file:///host");
        assert_eq!(chosen("docker.io/library/busybox:1"), "file:///default");
        let bad = Policy::from_json(br#"{"default": [{"type": "reject"}]}"#).unwrap();
        assert!(bad.clone().with_lookaside("", store("ftp://x")).is_err());
        assert!(bad.with_lookaside("", store("file://relative")).is_err());
    }
}
