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
    /// `reference` is the image as the user named it (host/repo[:tag][@digest]).
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
