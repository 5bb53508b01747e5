//! HTTP plumbing shared by the attestation and admin clients: the KBS base
//! URL, the reqwest client (rustls with ring; optional extra root CA),
//! bounded body reads and the mapping of KBS error documents.

use std::time::Duration;

use arca_kbs_protocol::messages::ErrorInfo;
use reqwest::{Response, StatusCode, Url};

use crate::error::{Error, Result};

/// Path prefix of every KBS protocol route.
pub const KBS_PREFIX: &str = "/kbs/v0";

/// Largest error document read from a refusing KBS.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest piece of a non-KBS error body kept in an error message.
const MAX_ERROR_EXCERPT: usize = 512;

/// How the HTTP client is set up.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Extra trusted root certificate(s), PEM (the `--cert-file` of the CLI).
    /// Added to the built-in web PKI roots.
    pub extra_root_pem: Option<Vec<u8>>,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request.
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            extra_root_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The KBS base URL (scheme, host, port and an optional path prefix), validated once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbsUrl(Url);

impl KbsUrl {
    /// Parse a base URL such as `http://127.0.0.1:8080` or `https://kbs.example/`.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(&format!("expected scheme http or https, found {}", parsed.scheme())));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a base URL has no query or fragment"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid("credentials in the URL are not sent; use an admin token"));
        }
        Ok(KbsUrl(parsed))
    }

    /// URL of a KBS route: `route` is the part after `/kbs/v0` (e.g. `/auth`).
    pub fn route(&self, route: &str) -> Url {
        let mut url = self.0.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{KBS_PREFIX}{route}"));
        url
    }

    /// The URL as given (normalised).
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Display for KbsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A resource path `<repository>/<type>/<tag>`, checked so that it names
/// exactly one resource route and cannot climb out of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePath(String);

impl ResourcePath {
    /// Check a path; a leading `/` is ignored (`/default/key/1` = `default/key/1`).
    pub fn parse(path: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidResourcePath { path: path.to_string(), reason };
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let segments: Vec<&str> = trimmed.split('/').collect();
        if segments.len() != 3 {
            return Err(invalid("found a different number of segments"));
        }
        for segment in &segments {
            if segment.is_empty() {
                return Err(invalid("a segment is empty"));
            }
            if *segment == "." || *segment == ".." {
                return Err(invalid("`.` and `..` are not segments"));
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'=')) {
                return Err(invalid("segments use only ASCII letters, digits and - _ . + ="));
            }
        }
        Ok(ResourcePath(trimmed.to_string()))
    }

    /// The path without a leading slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Build the reqwest client: rustls (ring), optional extra roots, timeouts,
/// and a cookie store when `cookies` (the RCAR session cookie).
pub(crate) fn build_client(
    options: &HttpOptions,
    cookies: Option<std::sync::Arc<reqwest::cookie::Jar>>,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("arca-kbs-client/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        // A KBS never redirects; following one would send a session cookie or
        // an admin token somewhere else.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &options.extra_root_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(Error::RootCertificate)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(jar) = cookies {
        builder = builder.cookie_provider(jar);
    }
    builder.build().map_err(Error::HttpClient)
}

/// Send a request, mapping a transport failure to [`Error::Transport`].
pub(crate) async fn send(request: reqwest::RequestBuilder, what: &str) -> Result<Response> {
    request.send().await.map_err(|source| Error::Transport { what: what.to_string(), source })
}

/// Read at most `limit` bytes of a body; more is an error, never a truncation.
pub(crate) async fn read_limited(mut response: Response, limit: usize, what: &str) -> Result<Vec<u8>> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(Error::TooLarge { what: what.to_string(), limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|source| Error::Transport { what: what.to_string(), source })?
    {
        if body.len() + chunk.len() > limit {
            return Err(Error::TooLarge { what: what.to_string(), limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Pass a 2xx response through; turn anything else into [`Error::Kbs`] (when
/// the body is a KBS error document) or [`Error::UnexpectedStatus`].
pub(crate) async fn check_status(response: Response, what: &str) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = match read_limited(response, MAX_ERROR_BODY, what).await {
        Ok(body) => body,
        Err(Error::TooLarge { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    Err(error_from_body(what, status, &body))
}

/// The error for a non-2xx reply with `body`.
pub(crate) fn error_from_body(what: &str, status: StatusCode, body: &[u8]) -> Error {
    if let Ok(info) = serde_json::from_slice::<ErrorInfo>(body) {
        let kind = info.r#type.rsplit('/').next().unwrap_or(&info.r#type).to_string();
        if !kind.is_empty() {
            return Error::Kbs { what: what.to_string(), status: status.as_u16(), kind, detail: info.detail };
        }
    }
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(MAX_ERROR_EXCERPT).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    Error::UnexpectedStatus { what: what.to_string(), status: status.as_u16(), body: excerpt }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_join_the_base_path() {
        let url = KbsUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(url.route("/auth").as_str(), "http://127.0.0.1:8080/kbs/v0/auth");
        let url = KbsUrl::parse("https://kbs.example/prefix/").unwrap();
        assert_eq!(url.route("/resource/a/b/c").as_str(), "https://kbs.example/prefix/kbs/v0/resource/a/b/c");
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_reason() {
        for (url, reason) in [
            ("127.0.0.1:8080", "relative URL"),
            ("ftp://kbs.example", "expected scheme http or https"),
            ("http://kbs.example/?a=b", "no query"),
            ("http://admin:secret@kbs.example", "credentials"),
            ("not a url", "relative URL"),
        ] {
            let err = KbsUrl::parse(url).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
            assert!(err.to_string().contains(reason), "{url}: {err}");
        }
    }

    #[test]
    fn resource_paths_have_three_safe_segments() {
        assert_eq!(ResourcePath::parse("default/key/1").unwrap().as_str(), "default/key/1");
        assert_eq!(
            ResourcePath::parse("/my_repo/resource_type/123abc").unwrap().as_str(),
            "my_repo/resource_type/123abc"
        );
        for bad in
            ["default/key", "a/b/c/d", "a//c", "a/../c", "a/./c", "a/b/c?x=1", "a/b/c#f", "a/b%2F/c", "", "a/b/ c"]
        {
            let err = ResourcePath::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidResourcePath { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn kbs_error_documents_surface_their_type_name() {
        let body = br#"{"type":"https://github.com/confidential-containers/kbs/errors/PolicyDeny","detail":"rule allow failed"}"#;
        let err = error_from_body("GET /kbs/v0/resource/a/b/c", StatusCode::UNAUTHORIZED, body);
        assert_eq!(err.kbs_kind(), Some("PolicyDeny"));
        assert_eq!(err.status(), Some(401));
        let text = err.to_string();
        assert!(text.contains("PolicyDeny") && text.contains("rule allow failed") && text.contains("401"), "{text}");

        let err = error_from_body("POST /kbs/v0/auth", StatusCode::BAD_GATEWAY, &[b'x'; 2000]);
        assert!(matches!(err, Error::UnexpectedStatus { status: 502, ref body, .. } if body.chars().count() == 513));
        assert_eq!(err.kbs_kind(), None);
    }
}
