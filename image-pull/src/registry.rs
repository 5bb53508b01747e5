//! Registry client: the OCI distribution API through `oci-client`, with
//! what a guest pull needs around it: a custom CA bundle, plain HTTP only for
//! hosts the caller marks insecure, credentials from a [`CredentialSource`],
//! mirrors tried in order before the origin, image-index platform selection,
//! size limits on manifests and configs, and blobs verified against their
//! digest while they stream.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::auth::CredentialSource;
use crate::{Error, Result};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest media type a pull accepts; always all sent as `Accept`.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// Default limit for a manifest or index.
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Default limit for an image config.
pub const DEFAULT_MAX_CONFIG_BYTES: u64 = 8 << 20;

/// An image platform, `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`
    pub os: String,
    /// e.g. `amd64`, `arm64` (Go names)
    pub architecture: String,
    /// e.g. `v8`, `v7`
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on.
    pub fn current() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform { os: std::env::consts::OS.into(), architecture: architecture.into(), variant: None }
    }

    fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        match (&self.variant, variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            // arm64 images often leave out the default variant v8.
            (Some(want), None) => architecture == "arm64" && want == "v8",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::Reference { reference: s.into(), reason: "platform must be os/arch[/variant]".into() };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform { os: (*os).into(), architecture: (*arch).into(), variant: None }),
            [os, arch, variant] => {
                Ok(Platform { os: (*os).into(), architecture: (*arch).into(), variant: Some((*variant).into()) })
            }
            _ => Err(bad()),
        }
    }
}

/// How the client reaches registries.
#[derive(Clone)]
pub struct RegistryOptions {
    /// PEM bundles of CA certificates trusted in addition to the system's.
    pub ca_pem: Vec<Vec<u8>>,
    /// Hosts (`host[:port]`) reached over plain HTTP; every other host is HTTPS only.
    pub insecure_hosts: Vec<String>,
    /// Mirrors per origin host, tried in order before the origin.
    pub mirrors: HashMap<String, Vec<String>>,
    /// Credentials per host; `None`: anonymous everywhere.
    pub credentials: Option<Arc<dyn CredentialSource>>,
    /// Platform to choose from an image index (default: the running one).
    pub platform: Option<Platform>,
    /// Largest manifest or index accepted.
    pub max_manifest_bytes: u64,
    /// Largest image config accepted.
    pub max_config_bytes: u64,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            ca_pem: Vec::new(),
            insecure_hosts: Vec::new(),
            mirrors: HashMap::new(),
            credentials: None,
            platform: None,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_config_bytes: DEFAULT_MAX_CONFIG_BYTES,
        }
    }
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("ca_bundles", &self.ca_pem.len())
            .field("insecure_hosts", &self.insecure_hosts)
            .field("mirrors", &self.mirrors)
            .field("credentials", &self.credentials.is_some())
            .field("platform", &self.platform)
            .finish()
    }
}

/// An image resolved to one platform's manifest and config.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference as the user named it.
    pub reference: Reference,
    /// Where it was found: the mirror or origin host, the repository, and the
    /// platform manifest's digest. Blobs are fetched from here.
    pub source: Reference,
    /// Digest of what the reference points at (the index for a multi-platform
    /// image); signatures are checked against this one.
    pub top_digest: String,
    /// The index, raw, when the reference named one.
    pub index: Option<Vec<u8>>,
    /// The platform manifest, raw.
    pub manifest_bytes: Vec<u8>,
    /// Its media type.
    pub manifest_media_type: String,
    /// Its digest.
    pub manifest_digest: String,
    /// The manifest, parsed.
    pub manifest: ImageManifest,
    /// The image config, raw (digest verified).
    pub config_bytes: Vec<u8>,
    /// The image config, parsed.
    pub config: ImageConfiguration,
}

/// A registry client. Cheap to share (`Arc`) between tasks.
pub struct RegistryClient {
    client: oci_client::Client,
    options: RegistryOptions,
    auths: tokio::sync::Mutex<HashMap<String, RegistryAuth>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").field("options", &self.options).finish()
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
}

/// Installs ring as rustls's process-wide crypto provider unless one is
/// already installed (`oci-client` is built without a provider of its own).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl RegistryClient {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> Result<RegistryClient> {
        install_crypto_provider();
        for (i, pem) in options.ca_pem.iter().enumerate() {
            if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::Registry {
                    registry: "-".into(),
                    message: format!("CA bundle #{} holds no PEM certificate", i + 1),
                });
            }
        }
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(options.insecure_hosts.clone()),
            extra_root_certificates: options
                .ca_pem
                .iter()
                .flat_map(|pem| split_pem(pem))
                .map(|data| Certificate { encoding: CertificateEncoding::Pem, data })
                .collect(),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client = oci_client::Client::try_from(config)
            .map_err(|e| Error::Registry { registry: "-".into(), message: format!("client set-up: {e}") })?;
        Ok(RegistryClient { client, options, auths: Default::default() })
    }

    /// The options the client was made with.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    async fn auth_for(&self, host: &str) -> Result<RegistryAuth> {
        let mut auths = self.auths.lock().await;
        if let Some(auth) = auths.get(host) {
            return Ok(auth.clone());
        }
        let auth = match &self.options.credentials {
            Some(source) => source.credentials(host).await?.map_or(RegistryAuth::Anonymous, |c| c.to_registry_auth()),
            None => RegistryAuth::Anonymous,
        };
        self.client.store_auth_if_needed(host, &auth).await;
        auths.insert(host.to_owned(), auth.clone());
        Ok(auth)
    }

    /// Hosts to try for `reference`: its mirrors in order, then the origin.
    pub fn endpoints(&self, reference: &Reference) -> Vec<String> {
        let origin = reference.registry().to_owned();
        let mut hosts = self.options.mirrors.get(&origin).cloned().unwrap_or_default();
        hosts.push(origin);
        hosts
    }

    /// Raw manifest at `reference` (tag or digest): bytes, media type, digest;
    /// `Ok(None)` when the registry says it does not exist.
    pub async fn fetch_manifest_raw(&self, reference: &Reference) -> Result<Option<(Vec<u8>, String, String)>> {
        let host = reference.resolve_registry().to_owned();
        let auth = self.auth_for(&host).await?;
        let (body, digest) = match self.client.pull_manifest_raw(reference, &auth, &MANIFEST_MEDIA_TYPES).await {
            Ok(ok) => ok,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(OciDistributionError::DigestError(e)) => {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {}", reference.whole()),
                    expected: reference.digest().unwrap_or("-").into(),
                    actual: e.to_string(),
                })
            }
            Err(e) => return Err(registry_error(&host, e)),
        };
        if body.len() as u64 > self.options.max_manifest_bytes {
            return Err(Error::TooLarge {
                what: format!("manifest {}", reference.whole()),
                limit: self.options.max_manifest_bytes,
            });
        }
        let probe: Probe = serde_json::from_slice(&body).map_err(|e| Error::Registry {
            registry: host.clone(),
            message: format!("manifest of {} is not JSON: {e}", reference.whole()),
        })?;
        let media_type = probe
            .media_type
            .unwrap_or_else(|| if probe.manifests.is_some() { OCI_INDEX } else { OCI_MANIFEST }.to_owned());
        Ok(Some((body.to_vec(), media_type, digest)))
    }

    /// Resolves `reference` to one platform's manifest and config, trying
    /// the mirrors of its host in order, then the origin.
    pub async fn resolve(&self, reference: &Reference) -> Result<ResolvedImage> {
        let mut failures = Vec::new();
        let endpoints = self.endpoints(reference);
        let last = endpoints.len() - 1;
        for (i, host) in endpoints.into_iter().enumerate() {
            let at = at_host(reference, &host);
            match self.resolve_at(reference, &at).await {
                Ok(image) => return Ok(image),
                // Content that fails its digest or limits is an attack or a
                // broken mirror; report it rather than hide it behind another host.
                Err(e @ (Error::DigestMismatch { .. } | Error::TooLarge { .. })) => return Err(e),
                Err(e) if i < last => {
                    tracing::info!(mirror = %host, error = %e, "mirror failed; trying the next endpoint");
                    failures.push(format!("{host}: {e}"));
                }
                Err(e) if failures.is_empty() => return Err(e),
                Err(e) => {
                    failures.push(format!("{host}: {e}"));
                    return Err(Error::Registry {
                        registry: reference.registry().into(),
                        message: failures.join("; "),
                    });
                }
            }
        }
        unreachable!("endpoints always holds the origin")
    }

    async fn resolve_at(&self, reference: &Reference, at: &Reference) -> Result<ResolvedImage> {
        let host = at.registry().to_owned();
        let not_found = || Error::Registry { registry: host.clone(), message: format!("{} not found", at.whole()) };
        let (top, top_type, top_digest) = self.fetch_manifest_raw(at).await?.ok_or_else(not_found)?;
        let (index, manifest_bytes, manifest_media_type, manifest_digest) =
            if top_type == OCI_INDEX || top_type == DOCKER_MANIFEST_LIST {
                let index: ImageIndex = serde_json::from_slice(&top).map_err(|e| Error::Registry {
                    registry: host.clone(),
                    message: format!("image index of {} does not parse: {e}", at.whole()),
                })?;
                let want = self.options.platform.clone().unwrap_or_else(Platform::current);
                let entry = index
                    .manifests()
                    .iter()
                    .find(|m| {
                        m.platform().as_ref().is_some_and(|p| {
                            want.matches(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref())
                        })
                    })
                    .ok_or_else(|| Error::Registry {
                        registry: host.clone(),
                        message: format!(
                            "{} has no image for platform {want}; it has {}",
                            reference.whole(),
                            platforms_of(&index)
                        ),
                    })?;
                let digest = entry.digest().to_string();
                if entry.size() > self.options.max_manifest_bytes {
                    return Err(Error::TooLarge {
                        what: format!("manifest {digest}"),
                        limit: self.options.max_manifest_bytes,
                    });
                }
                let child = at_digest(at, &digest);
                let (bytes, media_type, got) = self.fetch_manifest_raw(&child).await?.ok_or_else(not_found)?;
                if bytes.len() as u64 != entry.size() {
                    return Err(Error::Registry {
                        registry: host.clone(),
                        message: format!("manifest {digest}: index says {} bytes, got {}", entry.size(), bytes.len()),
                    });
                }
                (Some(top), bytes, media_type, got)
            } else if top_type == OCI_MANIFEST || top_type == DOCKER_MANIFEST {
                (None, top, top_type, top_digest.clone())
            } else {
                return Err(Error::UnsupportedMediaType(top_type));
            };
        if manifest_media_type != OCI_MANIFEST && manifest_media_type != DOCKER_MANIFEST {
            return Err(Error::UnsupportedMediaType(manifest_media_type));
        }
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Registry {
            registry: host.clone(),
            message: format!("manifest {manifest_digest} does not parse: {e}"),
        })?;
        let source = at_digest(at, &manifest_digest);
        let config_desc = manifest.config();
        let config_bytes = self
            .fetch_blob(&source, config_desc.digest().as_ref(), Some(config_desc.size()), self.options.max_config_bytes)
            .await?;
        let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::Config(format!("config {} does not parse: {e}", config_desc.digest())))?;
        Ok(ResolvedImage {
            reference: reference.clone(),
            source,
            top_digest,
            index,
            manifest_bytes,
            manifest_media_type,
            manifest_digest,
            manifest,
            config_bytes,
            config,
        })
    }

    /// Opens blob `digest` of `source`'s repository as a stream verified
    /// against the digest (and `size`, when known).
    pub async fn blob_stream(&self, source: &Reference, digest: &str, size: Option<u64>) -> Result<BlobStream> {
        let host = source.resolve_registry().to_owned();
        self.auth_for(&host).await?;
        let hex = sha256_hex(digest)?;
        let desc = OciDescriptor { digest: digest.to_owned(), size: size.unwrap_or(0) as i64, ..Default::default() };
        let stream = self.client.pull_blob_stream(source, &desc).await.map_err(|e| registry_error(&host, e))?;
        if let (Some(expected), Some(announced)) = (size, stream.content_length) {
            if announced != expected {
                return Err(Error::Registry {
                    registry: host,
                    message: format!("blob {digest}: expected {expected} bytes, registry announces {announced}"),
                });
            }
        }
        Ok(BlobStream {
            inner: stream.stream,
            hasher: Sha256::new(),
            expected_hex: hex,
            digest: digest.to_owned(),
            size,
            read: 0,
            done: false,
        })
    }

    /// Blob `digest` whole, at most `limit` bytes, verified.
    pub async fn fetch_blob(&self, source: &Reference, digest: &str, size: Option<u64>, limit: u64) -> Result<Vec<u8>> {
        if size.is_some_and(|s| s > limit) {
            return Err(Error::TooLarge { what: format!("blob {digest}"), limit });
        }
        let mut stream = self.blob_stream(source, digest, size).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next_chunk().await? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(Error::TooLarge { what: format!("blob {digest}"), limit });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// A blob as it streams from the registry: every chunk is hashed and the
/// end of the stream is reported only after the digest (and size) matched;
/// on a mismatch the last call returns [`Error::DigestMismatch`] instead, so
/// a consumer that stops at the end never takes an unverified blob.
pub struct BlobStream {
    inner: futures_util::stream::BoxStream<'static, std::result::Result<bytes::Bytes, std::io::Error>>,
    hasher: Sha256,
    expected_hex: String,
    digest: String,
    size: Option<u64>,
    read: u64,
    done: bool,
}

impl BlobStream {
    /// The next chunk, `None` at the verified end.
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        if self.done {
            return Ok(None);
        }
        match self.inner.next().await {
            Some(Ok(chunk)) => {
                self.read += chunk.len() as u64;
                if self.size.is_some_and(|s| self.read > s) {
                    self.done = true;
                    return Err(Error::DigestMismatch {
                        what: format!("blob {}", self.digest),
                        expected: format!("{} ({} bytes)", self.digest, self.size.unwrap_or_default()),
                        actual: format!("more than {} bytes", self.size.unwrap_or_default()),
                    });
                }
                self.hasher.update(&chunk);
                Ok(Some(chunk))
            }
            // oci-client verifies too and reports its mismatch as an I/O
            // error at the end; our own hash below names it properly.
            Some(Err(e)) if !e.to_string().to_ascii_lowercase().contains("digest") => {
                self.done = true;
                Err(Error::io(format!("downloading blob {}", self.digest), e))
            }
            Some(Err(_)) | None => {
                self.done = true;
                let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
                if actual != self.expected_hex || self.size.is_some_and(|s| s != self.read) {
                    return Err(Error::DigestMismatch {
                        what: format!("blob {}", self.digest),
                        expected: self.digest.clone(),
                        actual: format!("sha256:{actual} ({} bytes)", self.read),
                    });
                }
                Ok(None)
            }
        }
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

type SourceFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the signature policy fetches: signature manifests by tag and their
/// blobs, through the same hosts, credentials and limits as the image.
impl crate::signature::SignatureSource for RegistryClient {
    fn fetch_manifest<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        tag: &'a str,
    ) -> SourceFuture<'a, Result<Option<(Vec<u8>, String)>>> {
        Box::pin(async move {
            let reference = Reference::with_tag(registry.into(), repository.into(), tag.into());
            Ok(self.fetch_manifest_raw(&reference).await?.map(|(bytes, media_type, _)| (bytes, media_type)))
        })
    }

    fn fetch_blob<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        digest: &'a str,
        limit: u64,
    ) -> SourceFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let reference = Reference::with_digest(registry.into(), repository.into(), digest.into());
            RegistryClient::fetch_blob(self, &reference, digest, None, limit).await
        })
    }
}

/// The hex part of a `sha256:<64 hex>` digest (the only algorithm pulled).
pub fn sha256_hex(digest: &str) -> Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) => {
            Ok(hex.to_owned())
        }
        _ => Err(Error::Reference {
            reference: digest.into(),
            reason: "expected a sha256:<64 lowercase hex> digest".into(),
        }),
    }
}

/// `reference` with its host replaced by `host` (for a mirror).
fn at_host(reference: &Reference, host: &str) -> Reference {
    match (reference.tag(), reference.digest()) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(host.into(), reference.repository().into(), tag.into(), digest.into())
        }
        (_, Some(digest)) => Reference::with_digest(host.into(), reference.repository().into(), digest.into()),
        (tag, None) => Reference::with_tag(host.into(), reference.repository().into(), tag.unwrap_or("latest").into()),
    }
}

fn at_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(reference.registry().into(), reference.repository().into(), digest.into())
}

fn platforms_of(index: &ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|m| m.platform().as_ref())
        .map(|p| match p.variant() {
            Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
            None => format!("{}/{}", p.os(), p.architecture()),
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|err| {
            matches!(err.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound)
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

fn registry_error(host: &str, e: OciDistributionError) -> Error {
    let message = match &e {
        OciDistributionError::UnauthorizedError { url } => {
            format!("unauthorized for {url}: credentials are missing or were refused")
        }
        OciDistributionError::AuthenticationFailure(_) => "authentication failed: the token request was refused".into(),
        OciDistributionError::RequestError(err) => {
            // reqwest's Display hides the cause (TLS, connection refused).
            let mut msg = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        }
        _ => e.to_string(),
    };
    Error::Registry { registry: host.into(), message }
}

/// The certificates of a PEM bundle, one PEM block each (reqwest takes one
/// certificate per `Certificate`).
fn split_pem(pem: &[u8]) -> Vec<Vec<u8>> {
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else { break };
        let stop = start + end + END.len();
        out.push(format!("{}\n", &rest[start..stop]).into_bytes());
        rest = &rest[stop..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parse_and_match() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(p.matches("linux", "arm64", None));
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(!p.matches("linux", "amd64", None));
        let p: Platform = "linux/amd64".parse().unwrap();
        assert!(p.matches("linux", "amd64", Some("v3")));
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//".parse::<Platform>().is_err());
        assert_eq!(Platform::current().os, "linux");
    }

    #[test]
    fn digests_and_pem() {
        assert!(sha256_hex(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(sha256_hex("sha256:../../etc").is_err());
        assert!(sha256_hex(&format!("sha512:{}", "a".repeat(64))).is_err());
        let pem = "x\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBB==\n-----END CERTIFICATE-----\n";
        assert_eq!(split_pem(pem.as_bytes()).len(), 2);
    }

    #[test]
    fn mirror_reference_keeps_repository_and_tag() {
        let r: Reference = "origin.example/team/app:1.0".parse().unwrap();
        let m = at_host(&r, "127.0.0.1:5000");
        assert_eq!(m.whole(), "127.0.0.1:5000/team/app:1.0");
    }
}
