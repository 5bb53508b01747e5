//! What the signature tests share: a `SignatureSource` over `oci_client`
//! (test-only; the pull pipeline has its own registry client), a registry
//! with a couple of images, and policy helpers.

#![allow(dead_code)]

use std::path::Path;

use arca_e2e::{Layer, LayoutBuilder, TarEntry};
use arca_image::signature::{BoxFuture, Policy, RawManifest, SignatureSource};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Reads signatures from a plain-HTTP registry, anonymously.
pub struct OciSource {
    client: oci_client::Client,
}

impl OciSource {
    pub fn new() -> Self {
        // oci-client leaves the choice of TLS crypto to the program.
        let _ = rustls::crypto::ring::default_provider().install_default();
        OciSource {
            client: oci_client::Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() }),
        }
    }

    /// Raw manifest and its digest, for the images the tests pushed.
    pub async fn manifest_digest(&self, reference: &Reference) -> String {
        let (bytes, _) = self
            .fetch_manifest(reference.registry(), reference.repository(), reference.tag().unwrap())
            .await
            .expect("fetch manifest")
            .expect("the image exists");
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
    }
}

fn registry_error(registry: &str, e: impl std::fmt::Display) -> arca_image::Error {
    arca_image::Error::Registry { registry: registry.to_string(), message: e.to_string() }
}

impl SignatureSource for OciSource {
    fn fetch_manifest<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, arca_image::Result<Option<RawManifest>>> {
        Box::pin(async move {
            let reference = Reference::with_tag(registry.into(), repository.into(), tag.into());
            let accepted = [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            ];
            match self.client.pull_manifest_raw(&reference, &RegistryAuth::Anonymous, &accepted).await {
                Ok((bytes, _digest)) => {
                    let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
                        .unwrap_or_else(|| accepted[0].to_string());
                    Ok(Some((bytes.to_vec(), media_type)))
                }
                Err(OciDistributionError::ImageManifestNotFoundError(_)) => Ok(None),
                Err(OciDistributionError::RegistryError { envelope, .. })
                    if envelope
                        .errors
                        .iter()
                        .any(|e| matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NotFound)) =>
                {
                    Ok(None)
                }
                Err(e) => Err(registry_error(registry, e)),
            }
        })
    }

    fn fetch_blob<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        digest: &'a str,
        limit: u64,
    ) -> BoxFuture<'a, arca_image::Result<Vec<u8>>> {
        Box::pin(async move {
            let reference = Reference::with_digest(registry.into(), repository.into(), digest.into());
            let mut out = Vec::new();
            self.client.pull_blob(&reference, digest, &mut out).await.map_err(|e| registry_error(registry, e))?;
            if out.len() as u64 > limit {
                return Err(arca_image::Error::TooLarge { what: format!("blob {digest}"), limit });
            }
            let actual = format!("sha256:{}", hex::encode(Sha256::digest(&out)));
            if actual != digest {
                return Err(arca_image::Error::DigestMismatch { what: digest.into(), expected: digest.into(), actual });
            }
            Ok(out)
        })
    }
}

/// An OCI layout with two different single-layer images, tags `a` and `b`.
pub fn two_images(dir: &Path) -> LayoutBuilder {
    let mut layout = LayoutBuilder::new(dir);
    layout.image("a", json!({"Cmd": ["/a"]}), &[Layer::gzip(vec![TarEntry::file("a", "image a\n")])]);
    layout.image("b", json!({"Cmd": ["/b"]}), &[Layer::gzip(vec![TarEntry::file("b", "image b\n")])]);
    layout
}

/// Parses a policy written as JSON.
pub fn policy(value: serde_json::Value) -> Policy {
    Policy::from_json(&serde_json::to_vec(&value).unwrap()).expect("valid policy")
}

/// `default` reject, and `requirement` for everything under `scope`.
pub fn scoped(scope: &str, requirement: serde_json::Value) -> Policy {
    policy(json!({"default": [{"type": "reject"}], "transports": {"docker": {scope: [requirement]}}}))
}

/// Evaluates `policy` for the pushed image `reference` (its digest fetched
/// from the registry).
pub async fn evaluate(policy: &Policy, source: &OciSource, reference: &str) -> arca_image::Result<()> {
    let reference: Reference = reference.parse().expect("reference");
    let digest = match reference.digest() {
        Some(d) => d.to_string(),
        None => source.manifest_digest(&reference).await,
    };
    policy.evaluate(&reference, &digest, source).await
}

/// The rejection reason, or a panic naming what was wrongly accepted.
pub fn rejected(result: arca_image::Result<()>, what: &str) -> String {
    match result {
        Err(arca_image::Error::PolicyRejected { reason, .. }) => reason,
        Err(other) => panic!("{what}: expected a policy rejection, got {other}"),
        Ok(()) => panic!("{what}: the policy accepted it"),
    }
}
