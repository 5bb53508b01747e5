//! Simple-signing signatures from a lookaside store, laid out as
//! containers/image (registries.d `lookaside:`) lays it out:
//! `<base>/<repository path>@<algorithm>=<hex>/signature-<n>`, n = 1, 2, …,
//! read until the first one that does not exist.

use std::path::PathBuf;

use super::gpg::MAX_SIGNATURE_BYTES;

/// At most this many signatures are read for one image.
pub(crate) const MAX_SIGNATURES: usize = 64;

/// A lookaside signature store: where simple-signing signatures of the
/// images in one registries.d scope are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookaside {
    /// `file:///dir` or `http(s)://host/path` (no trailing slash needed).
    pub base: String,
}

enum Base {
    Dir(PathBuf),
    Http(String),
}

impl Lookaside {
    fn parse(&self) -> Result<Base, String> {
        let base = self.base.trim_end_matches('/');
        if let Some(path) = base.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!("lookaside {:?}: a file URL needs an absolute path", self.base));
            }
            Ok(Base::Dir(PathBuf::from(path)))
        } else if base.starts_with("https://") || base.starts_with("http://") {
            Ok(Base::Http(base.to_string()))
        } else {
            Err(format!("lookaside {:?}: expected a file://, http:// or https:// URL", self.base))
        }
    }

    /// Checks the URL's form (for callers configuring a policy).
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.parse().map(|_| ())
    }

    /// The signatures of `repository_path@digest`, in store order.
    pub(crate) async fn signatures(
        &self,
        client: &reqwest::Client,
        repository_path: &str,
        digest: &str,
    ) -> Result<Vec<Vec<u8>>, String> {
        let (algorithm, hex) = digest.split_once(':').ok_or_else(|| format!("bad manifest digest {digest:?}"))?;
        // The repository path was validated as a reference path (lowercase
        // components, no `..`), so it cannot leave the store.
        let relative = format!("{repository_path}@{algorithm}={hex}");
        let mut out = Vec::new();
        for n in 1..=MAX_SIGNATURES {
            let sig = match self.parse()? {
                Base::Dir(dir) => read_file(dir.join(&relative).join(format!("signature-{n}"))).await?,
                Base::Http(base) => fetch(client, &format!("{base}/{relative}/signature-{n}")).await?,
            };
            match sig {
                Some(sig) => out.push(sig),
                None => break,
            }
        }
        Ok(out)
    }
}

async fn read_file(path: PathBuf) -> Result<Option<Vec<u8>>, String> {
    use tokio::io::AsyncReadExt as _;
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read signature {}: {e}", path.display())),
    };
    let mut data = Vec::new();
    file.take(MAX_SIGNATURE_BYTES + 1)
        .read_to_end(&mut data)
        .await
        .map_err(|e| format!("cannot read signature {}: {e}", path.display()))?;
    if data.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(format!("signature {} exceeds {MAX_SIGNATURE_BYTES} bytes", path.display()));
    }
    Ok(Some(data))
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Option<Vec<u8>>, String> {
    let response = client.get(url).send().await.map_err(|e| format!("cannot fetch signature {url}: {e}"))?;
    match response.status() {
        reqwest::StatusCode::NOT_FOUND => return Ok(None),
        status if !status.is_success() => return Err(format!("signature {url}: server answered {status}")),
        _ => {}
    }
    if response.content_length().is_some_and(|n| n > MAX_SIGNATURE_BYTES) {
        return Err(format!("signature {url} exceeds {MAX_SIGNATURE_BYTES} bytes"));
    }
    let mut data = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("cannot fetch signature {url}: {e}"))? {
        data.extend_from_slice(&chunk);
        if data.len() as u64 > MAX_SIGNATURE_BYTES {
            return Err(format!("signature {url} exceeds {MAX_SIGNATURE_BYTES} bytes"));
        }
    }
    Ok(Some(data))
}
