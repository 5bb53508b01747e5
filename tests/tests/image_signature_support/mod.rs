//! What the signature tests share: the registry client as signature source,
//! a layout with a couple of images, and policy helpers.

#![allow(dead_code)]

use std::path::Path;

use arca_e2e::{Layer, LayoutBuilder, TarEntry};
use arca_image::registry::{RegistryClient, RegistryOptions};
use arca_image::signature::Policy;
use oci_client::Reference;
use serde_json::json;

/// The pull pipeline's own registry client, reaching the test registry at
/// `host` over plain HTTP: it is the `SignatureSource` the policy reads
/// cosign signatures through.
pub struct OciSource {
    pub client: RegistryClient,
}

impl OciSource {
    pub fn new(host: &str) -> Self {
        let options = RegistryOptions { insecure_hosts: vec![host.to_string()], ..Default::default() };
        OciSource { client: RegistryClient::new(options).expect("registry client") }
    }

    /// The manifest digest of an image the tests pushed.
    pub async fn manifest_digest(&self, reference: &Reference) -> String {
        let (_, _, digest) =
            self.client.fetch_manifest_raw(reference).await.expect("fetch manifest").expect("the image exists");
        digest
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
    policy.evaluate(&reference, &digest, &source.client).await
}

/// The rejection reason, or a panic naming what was wrongly accepted.
pub fn rejected(result: arca_image::Result<()>, what: &str) -> String {
    match result {
        Err(arca_image::Error::PolicyRejected { reason, .. }) => reason,
        Err(other) => panic!("{what}: expected a policy rejection, got {other}"),
        Ok(()) => panic!("{what}: the policy accepted it"),
    }
}
