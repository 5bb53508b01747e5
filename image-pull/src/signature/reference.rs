//! Docker references as the signature policy compares them: the fully
//! expanded `host/path[:tag][@digest]` form (`busybox` is
//! `docker.io/library/busybox`), the repository name (`host/path`), and the
//! scopes a reference falls under, most specific first.
//!
//! The grammar follows the distribution project's reference grammar closely
//! enough for comparison: names are checked for the characters a registry
//! accepts, and anything else is refused rather than guessed at.

/// A parsed, normalized Docker reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DockerRef {
    /// `host[:port]/path`, fully expanded.
    pub name: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`algorithm:hex`), if any.
    pub digest: Option<String>,
}

/// Longest reference accepted (the distribution grammar allows 255 for the
/// name; tags and digests add at most ~200).
const MAX_REFERENCE_LEN: usize = 1024;

impl DockerRef {
    /// Parses `s` the way `ParseNormalizedNamed` does: short names get
    /// `docker.io` and, for single-component paths there, `library/`.
    pub fn parse_normalized(s: &str) -> Result<DockerRef, String> {
        if s.is_empty() || s.len() > MAX_REFERENCE_LEN {
            return Err(format!("reference {s:?} is empty or longer than {MAX_REFERENCE_LEN} bytes"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest)?;
                (rest, Some(digest.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if !rest[colon..].contains('/') => {
                let tag = &rest[colon + 1..];
                validate_tag(tag)?;
                (&rest[..colon], Some(tag.to_string()))
            }
            _ => (rest, None),
        };
        let name = normalize_name(name)?;
        Ok(DockerRef { name, tag, digest })
    }

    /// The reference the user named, from an `oci_client` reference (which
    /// already expands `docker.io` and `library/`).
    pub fn from_oci(reference: &oci_client::Reference) -> Result<DockerRef, String> {
        let registry = match reference.registry() {
            "index.docker.io" => "docker.io",
            other => other,
        };
        let name = normalize_name(&format!("{registry}/{}", reference.repository()))?;
        if let Some(tag) = reference.tag() {
            validate_tag(tag)?;
        }
        if let Some(digest) = reference.digest() {
            validate_digest(digest)?;
        }
        Ok(DockerRef { name, tag: reference.tag().map(str::to_string), digest: reference.digest().map(str::to_string) })
    }

    /// True when the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// The registry host (`host[:port]`).
    #[cfg(test)]
    pub fn domain(&self) -> &str {
        self.name.split_once('/').map_or(self.name.as_str(), |(d, _)| d)
    }

    /// The repository path without the host (`library/busybox`).
    pub fn path(&self) -> &str {
        self.name.split_once('/').map_or("", |(_, p)| p)
    }

    /// Scope keys of this reference in `transports.docker`, most specific
    /// first: the exact reference(s), the repository, each parent
    /// namespace up to the host, then `*.domain` wildcards of the host
    /// (port dropped), as containers/image orders them.
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes = Vec::new();
        // A reference with both a digest and a tag: the digest names the
        // exact image, so it is the more specific scope.
        if let Some(digest) = &self.digest {
            scopes.push(format!("{}@{digest}", self.name));
        }
        if let Some(tag) = &self.tag {
            scopes.push(format!("{}:{tag}", self.name));
        }
        let mut name = self.name.as_str();
        loop {
            scopes.push(name.to_string());
            match name.rfind('/') {
                Some(slash) => name = &name[..slash],
                None => break,
            }
        }
        let mut host = name.split_once(':').map_or(name, |(h, _)| h);
        while let Some(dot) = host.find('.') {
            host = &host[dot + 1..];
            scopes.push(format!("*.{host}"));
        }
        scopes
    }
}

impl std::fmt::Display for DockerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Expands and checks a repository name (`host/path` or a short name).
pub(crate) fn normalize_name(name: &str) -> Result<String, String> {
    let (first, rest) = match name.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (name, None),
    };
    let is_domain = rest.is_some() && (first.contains('.') || first.contains(':') || first == "localhost");
    let (domain, path) = if is_domain {
        (if first == "index.docker.io" { "docker.io" } else { first }, rest.unwrap_or(""))
    } else {
        ("docker.io", name)
    };
    validate_domain(domain).map_err(|e| format!("repository {name:?}: {e}"))?;
    let path = if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
    if path.is_empty() || path.split('/').any(|c| !valid_path_component(c)) {
        return Err(format!(
            "repository {name:?}: path components must be lowercase letters and digits joined by '.', '_', '__' or '-'"
        ));
    }
    Ok(format!("{domain}/{path}"))
}

fn valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !c.contains("..")
        && !c.contains("___")
        && !c.contains("._")
        && !c.contains("_.")
}

fn validate_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad port in host {domain:?}"));
        }
    }
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    // An IPv6 literal in brackets is a registry host too.
    let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    if !bracketed && (host.is_empty() || !host.split('.').all(ok_label)) {
        return Err(format!("bad host {domain:?}"));
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    if bytes.is_empty()
        || bytes.len() > 128
        || !word(&bytes[0])
        || !bytes.iter().all(|b| word(b) || matches!(b, b'.' | b'-'))
    {
        return Err(format!("bad tag {tag:?}"));
    }
    Ok(())
}

/// Checks `algorithm:hex` (the algorithms registries use, lowercase hex of
/// the algorithm's length).
pub(crate) fn validate_digest(digest: &str) -> Result<(), String> {
    let ok = match digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha384", hex)) => hex.len() == 96,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    } && digest
        .split_once(':')
        .is_some_and(|(_, h)| h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(format!("bad digest {digest:?}: expected sha256/sha384/sha512 and lowercase hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn short_names_expand_like_docker() {
        let r = DockerRef::parse_normalized("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert!(r.is_name_only());
        let r = DockerRef::parse_normalized("docker.io/busybox:1").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:1");
        let r = DockerRef::parse_normalized("index.docker.io/me/app:v1").unwrap();
        assert_eq!(r.to_string(), "docker.io/me/app:v1");
        let r = DockerRef::parse_normalized(&format!("localhost:5000/a/b:t@{D}")).unwrap();
        assert_eq!((r.domain(), r.path(), r.tag.as_deref()), ("localhost:5000", "a/b", Some("t")));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(DockerRef::parse_normalized("me/app").unwrap().name, "docker.io/me/app");
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "Upper/case",
            "host.io/repo:",
            "host.io/repo:-tag",
            "host.io/../x",
            "host.io/repo@sha256:abc",
            "host.io/repo@md5:0123",
            "host.io:port/repo",
            "host.io/repo name",
            "host.io//repo",
        ] {
            assert!(DockerRef::parse_normalized(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn scopes_go_from_exact_to_wildcard() {
        let r = DockerRef::parse_normalized("reg.example.com:5000/ns/sub/app:v1").unwrap();
        assert_eq!(
            r.scopes(),
            [
                "reg.example.com:5000/ns/sub/app:v1",
                "reg.example.com:5000/ns/sub/app",
                "reg.example.com:5000/ns/sub",
                "reg.example.com:5000/ns",
                "reg.example.com:5000",
                "*.example.com",
                "*.com",
            ]
        );
        let r = DockerRef::parse_normalized(&format!("127.0.0.1:5000/app@{D}")).unwrap();
        assert_eq!(r.scopes()[0], format!("127.0.0.1:5000/app@{D}"));
        assert_eq!(r.scopes().last().unwrap(), "*.1");
    }

    #[test]
    fn oci_client_references_convert() {
        let r: oci_client::Reference = "busybox:1.36".parse().unwrap();
        assert_eq!(DockerRef::from_oci(&r).unwrap().to_string(), "docker.io/library/busybox:1.36");
        let r: oci_client::Reference = format!("127.0.0.1:5000/t/app@{D}").parse().unwrap();
        let d = DockerRef::from_oci(&r).unwrap();
        assert_eq!((d.name.as_str(), d.tag.as_deref(), d.digest.as_deref()), ("127.0.0.1:5000/t/app", None, Some(D)));
    }
}
