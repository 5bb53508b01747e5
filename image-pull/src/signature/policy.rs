//! The `containers-policy.json` document (containers/image format, as CoCo
//! delivers it from the KBS): parsing into typed requirements, scope
//! selection, and the `signedIdentity` matchers.
//!
//! Parsing is strict and fails closed: unknown fields, unknown requirement
//! or identity types, and missing or conflicting key sources are errors.
//! Requirements that are valid in the format but not implemented here
//! (fulcio/rekor/PKI for `sigstoreSigned`, X.509 key types for `signedBy`)
//! parse into [`Requirement::Unsupported`], which rejects any image it
//! applies to with a "not supported" error, so a policy naming them for
//! other images stays usable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::reference::DockerRef;

/// Largest policy document accepted.
pub(crate) const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// A list of requirements; every one must accept an image.
pub(crate) type Requirements = Vec<Requirement>;

/// The parsed document.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// `default`
    pub default: Requirements,
    /// `transports.docker`: scope → requirements (`""` is the transport's
    /// own default).
    pub docker: BTreeMap<String, Requirements>,
}

/// Where a requirement's public keys come from.
#[derive(Debug, Clone)]
pub(crate) enum Keys {
    /// `keyPath` / `keyPaths`: files read when an image is evaluated.
    Paths(Vec<PathBuf>),
    /// `keyData` / `keyDatas`: the key bytes themselves.
    Data(Vec<Vec<u8>>),
}

/// One policy requirement.
#[derive(Debug, Clone)]
pub(crate) enum Requirement {
    /// `insecureAcceptAnything`
    AcceptAnything,
    /// `reject`
    Reject,
    /// `signedBy` with `keyType: GPGKeys`.
    SignedBy { keys: Keys, identity: Identity },
    /// `sigstoreSigned` with a public key.
    SigstoreSigned { keys: Keys, identity: Identity },
    /// Valid in the format, not implemented here: rejects with this text.
    Unsupported(String),
}

/// `signedIdentity`: which signed references are accepted for an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// `matchRepoDigestOrExact` (the default).
    MatchRepoDigestOrExact,
    /// `matchExact`
    MatchExact,
    /// `matchRepository`
    MatchRepository,
    /// `exactReference`
    ExactReference(DockerRef),
    /// `exactRepository`
    ExactRepository(DockerRef),
    /// `remapIdentity`
    Remap { prefix: String, signed_prefix: String },
}

/// Parses the document.
pub(crate) fn parse(bytes: &[u8]) -> Result<Document, String> {
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(format!("document of {} bytes exceeds the limit of {MAX_POLICY_BYTES}", bytes.len()));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let top = object(&value, "the document")?;
    only_fields(top, &["default", "transports"], "the document")?;
    let default = requirements(top.get("default").ok_or("\"default\" is missing")?, "default")?;
    let mut docker = BTreeMap::new();
    if let Some(transports) = top.get("transports") {
        for (transport, scopes) in object(transports, "transports")? {
            let scopes = object(scopes, &format!("transports.{transport}"))?;
            for (scope, reqs) in scopes {
                let reqs = requirements(reqs, &format!("transports.{transport}[{scope:?}]"))?;
                // Other transports (docker-daemon, atomic, …) are validated
                // but never apply: the guest pulls from registries only.
                if transport == "docker" {
                    docker.insert(scope.clone(), reqs);
                }
            }
        }
    }
    Ok(Document { default, docker })
}

impl Document {
    /// The requirements for `image` and the scope that chose them
    /// (`None` = `default`): the most specific `transports.docker` scope,
    /// then the transport's `""` scope, then `default`.
    pub fn requirements_for(&self, image: &DockerRef) -> (Option<String>, &Requirements) {
        for scope in image.scopes() {
            if let Some(reqs) = self.docker.get(&scope) {
                return (Some(scope), reqs);
            }
        }
        match self.docker.get("") {
            Some(reqs) => (Some(String::new()), reqs),
            None => (None, &self.default),
        }
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value.as_object().ok_or_else(|| format!("{what} must be a JSON object"))
}

fn only_fields(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!("{what}: unknown field {unknown:?} (expected one of {allowed:?})")),
        None => Ok(()),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, field: &str, what: &str) -> Result<Option<&'a str>, String> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{what}: {field:?} must be a string")),
    }
}

fn required_string<'a>(obj: &'a Map<String, Value>, field: &str, what: &str) -> Result<&'a str, String> {
    string(obj, field, what)?.ok_or_else(|| format!("{what}: {field:?} is missing"))
}

fn string_list(obj: &Map<String, Value>, field: &str, what: &str) -> Result<Option<Vec<String>>, String> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("{what}: {field:?} must hold strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{what}: {field:?} must be an array of strings")),
    }
}

fn requirements(value: &Value, what: &str) -> Result<Requirements, String> {
    let items = value.as_array().ok_or_else(|| format!("{what} must be an array of requirements"))?;
    if items.is_empty() {
        // containers/image refuses an empty list: it would accept anything
        // without saying so.
        return Err(format!("{what} has no requirements (use insecureAcceptAnything to accept any image)"));
    }
    items.iter().enumerate().map(|(i, item)| requirement(item, &format!("{what}[{i}]"))).collect()
}

fn requirement(value: &Value, what: &str) -> Result<Requirement, String> {
    let obj = object(value, what)?;
    let kind = required_string(obj, "type", what)?;
    match kind {
        "insecureAcceptAnything" => {
            only_fields(obj, &["type"], what)?;
            Ok(Requirement::AcceptAnything)
        }
        "reject" => {
            only_fields(obj, &["type"], what)?;
            Ok(Requirement::Reject)
        }
        "signedBy" => signed_by(obj, what),
        "sigstoreSigned" => sigstore_signed(obj, what),
        other => Err(format!("{what}: unknown requirement type {other:?}")),
    }
}

fn signed_by(obj: &Map<String, Value>, what: &str) -> Result<Requirement, String> {
    only_fields(obj, &["type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"], what)?;
    let key_type = required_string(obj, "keyType", what)?;
    let keys = keys(obj, what, &["keyPath", "keyPaths", "keyData"])?;
    let identity = identity(obj.get("signedIdentity"), what)?;
    match key_type {
        "GPGKeys" => Ok(Requirement::SignedBy { keys, identity }),
        "signedByGPGKeys" | "X509Certificates" | "signedByX509CAs" => {
            Ok(Requirement::Unsupported(format!("signedBy with keyType {key_type:?} is not supported (only GPGKeys)")))
        }
        other => Err(format!("{what}: unknown keyType {other:?}")),
    }
}

fn sigstore_signed(obj: &Map<String, Value>, what: &str) -> Result<Requirement, String> {
    let fields = [
        "type",
        "keyPath",
        "keyPaths",
        "keyData",
        "keyDatas",
        "fulcio",
        "pki",
        "rekorPublicKeyPath",
        "rekorPublicKeyPaths",
        "rekorPublicKeyData",
        "rekorPublicKeyDatas",
        "signedIdentity",
    ];
    only_fields(obj, &fields, what)?;
    let identity = identity(obj.get("signedIdentity"), what)?;
    let unsupported: Vec<&str> = fields[5..11].iter().copied().filter(|f| obj.contains_key(*f)).collect();
    if !unsupported.is_empty() {
        // Certificate chains (fulcio, pki) and transparency-log proofs
        // (rekor) are not verified here; accepting the image anyway would
        // drop checks the policy's author asked for.
        return Ok(Requirement::Unsupported(format!(
            "sigstoreSigned with {} is not supported (only public-key verification)",
            unsupported.join(", ")
        )));
    }
    let keys = keys(obj, what, &["keyPath", "keyPaths", "keyData", "keyDatas"])?;
    Ok(Requirement::SigstoreSigned { keys, identity })
}

/// Exactly one key source among `fields`; `keyData`/`keyDatas` are base64.
fn keys(obj: &Map<String, Value>, what: &str, fields: &[&str]) -> Result<Keys, String> {
    let present: Vec<&str> = fields.iter().copied().filter(|f| obj.contains_key(*f)).collect();
    let [field] = present.as_slice() else {
        return Err(format!("{what}: exactly one of {fields:?} is required, found {present:?}"));
    };
    let decode = |s: &str| {
        base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("{what}: {field} is not base64: {e}"))
    };
    let keys = match *field {
        "keyPath" => Keys::Paths(vec![PathBuf::from(required_string(obj, field, what)?)]),
        "keyPaths" => {
            Keys::Paths(string_list(obj, field, what)?.unwrap_or_default().into_iter().map(PathBuf::from).collect())
        }
        "keyData" => Keys::Data(vec![decode(required_string(obj, field, what)?)?]),
        _ => Keys::Data(
            string_list(obj, field, what)?.unwrap_or_default().iter().map(|s| decode(s)).collect::<Result<_, _>>()?,
        ),
    };
    let empty = match &keys {
        Keys::Paths(p) => p.is_empty() || p.iter().any(|p| p.as_os_str().is_empty()),
        Keys::Data(d) => d.is_empty() || d.iter().any(Vec::is_empty),
    };
    if empty {
        return Err(format!("{what}: {field} is empty"));
    }
    Ok(keys)
}

fn identity(value: Option<&Value>, what: &str) -> Result<Identity, String> {
    let Some(value) = value else { return Ok(Identity::MatchRepoDigestOrExact) };
    let what = format!("{what}.signedIdentity");
    let obj = object(value, &what)?;
    let kind = required_string(obj, "type", &what)?;
    let simple = |id: Identity| only_fields(obj, &["type"], &what).map(|()| id);
    match kind {
        "matchRepoDigestOrExact" => simple(Identity::MatchRepoDigestOrExact),
        "matchExact" => simple(Identity::MatchExact),
        "matchRepository" => simple(Identity::MatchRepository),
        "exactReference" => {
            only_fields(obj, &["type", "dockerReference"], &what)?;
            let r = DockerRef::parse_normalized(required_string(obj, "dockerReference", &what)?)
                .map_err(|e| format!("{what}: {e}"))?;
            if r.is_name_only() {
                return Err(format!("{what}: dockerReference {r} needs a tag or digest"));
            }
            Ok(Identity::ExactReference(r))
        }
        "exactRepository" => {
            only_fields(obj, &["type", "dockerRepository"], &what)?;
            let r = DockerRef::parse_normalized(required_string(obj, "dockerRepository", &what)?)
                .map_err(|e| format!("{what}: {e}"))?;
            Ok(Identity::ExactRepository(r))
        }
        "remapIdentity" => {
            only_fields(obj, &["type", "prefix", "signedPrefix"], &what)?;
            let prefix = remap_prefix(required_string(obj, "prefix", &what)?, &what)?;
            let signed_prefix = remap_prefix(required_string(obj, "signedPrefix", &what)?, &what)?;
            Ok(Identity::Remap { prefix, signed_prefix })
        }
        other => Err(format!("{what}: unknown signedIdentity type {other:?}")),
    }
}

/// A `remapIdentity` prefix: a host, namespace or repository (no tag or
/// digest), fully expanded.
fn remap_prefix(prefix: &str, what: &str) -> Result<String, String> {
    let bad = || format!("{what}: prefix {prefix:?} must be host[:port][/namespace…] without tag or digest");
    if prefix.is_empty() || prefix.contains('@') || prefix.ends_with('/') {
        return Err(bad());
    }
    if !prefix.contains('/') {
        // A bare host: checked as the host of a dummy repository.
        super::reference::normalize_name(&format!("{prefix}/x")).map_err(|_| bad())?;
        return Ok(prefix.to_string());
    }
    let r = DockerRef::parse_normalized(prefix).map_err(|_| bad())?;
    if !r.is_name_only() || r.name != prefix {
        return Err(bad());
    }
    Ok(prefix.to_string())
}

impl Identity {
    /// Whether a signature claiming `signed` is acceptable for `image`.
    pub fn matches(&self, image: &DockerRef, signed: &str) -> bool {
        let Ok(signed) = DockerRef::parse_normalized(signed) else { return false };
        match self {
            Identity::MatchRepoDigestOrExact => repo_digest_or_exact(image, &signed),
            Identity::MatchExact => exact(image, &signed),
            Identity::MatchRepository => image.name == signed.name,
            Identity::ExactReference(wanted) => exact(wanted, &signed),
            Identity::ExactRepository(wanted) => wanted.name == signed.name,
            Identity::Remap { prefix, signed_prefix } => {
                if signed.is_name_only() {
                    return false;
                }
                let remapped = if name_has_prefix(&image.name, prefix) {
                    let text = image.to_string().replacen(prefix.as_str(), signed_prefix, 1);
                    match DockerRef::parse_normalized(&text) {
                        Ok(r) => r,
                        Err(_) => return false,
                    }
                } else {
                    image.clone()
                };
                repo_digest_or_exact(&remapped, &signed)
            }
        }
    }
}

/// Both references name the same tag or digest.
fn exact(image: &DockerRef, signed: &DockerRef) -> bool {
    !image.is_name_only() && !signed.is_name_only() && image == signed
}

/// A tagged image needs the exact reference signed; an image named by
/// digest only needs its repository (the digest itself is checked against
/// the signed manifest digest).
fn repo_digest_or_exact(image: &DockerRef, signed: &DockerRef) -> bool {
    if signed.is_name_only() {
        return false;
    }
    if image.tag.is_some() {
        image == signed
    } else if image.digest.is_some() {
        image.name == signed.name
    } else {
        false
    }
}

/// `name` is `prefix` or lies under it (`prefix/…`).
fn name_has_prefix(name: &str, prefix: &str) -> bool {
    name == prefix || (name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn r(s: &str) -> DockerRef {
        DockerRef::parse_normalized(s).unwrap()
    }

    #[test]
    fn parses_every_requirement_kind() {
        let doc = parse(
            br#"{
            "default": [{"type": "reject"}],
            "transports": {
                "docker": {
                    "": [{"type": "insecureAcceptAnything"}],
                    "h.io/gpg": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg",
                                  "signedIdentity": {"type": "matchExact"}}],
                    "h.io/gpg2": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", "/b"]}],
                    "h.io/gpg3": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "aGVsbG8=",
                                   "signedIdentity": {"type": "remapIdentity", "prefix": "h.io", "signedPrefix": "m.io/ns"}}],
                    "h.io/cosign": [{"type": "sigstoreSigned", "keyData": "aGVsbG8=",
                                     "signedIdentity": {"type": "exactRepository", "dockerRepository": "h.io/x"}}],
                    "h.io/cosign2": [{"type": "sigstoreSigned", "keyDatas": ["aGVsbG8="],
                                     "signedIdentity": {"type": "exactReference", "dockerReference": "h.io/x:1"}}],
                    "h.io/fulcio": [{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca"}, "rekorPublicKeyPath": "/r"}],
                    "h.io/x509": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/c"}]
                },
                "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
            }
        }"#,
        )
        .unwrap();
        assert!(matches!(doc.default[..], [Requirement::Reject]));
        assert_eq!(doc.docker.len(), 8);
        let Requirement::SignedBy { keys: Keys::Paths(p), identity } = &doc.docker["h.io/gpg"][0] else { panic!() };
        assert_eq!((p.len(), identity), (1, &Identity::MatchExact));
        let Requirement::SignedBy { identity, .. } = &doc.docker["h.io/gpg2"][0] else { panic!() };
        assert_eq!(identity, &Identity::MatchRepoDigestOrExact);
        let Requirement::SignedBy { keys: Keys::Data(d), .. } = &doc.docker["h.io/gpg3"][0] else { panic!() };
        assert_eq!(d[0], b"hello");
        let Requirement::SigstoreSigned { identity: Identity::ExactRepository(repo), .. } =
            &doc.docker["h.io/cosign"][0]
        else {
            panic!()
        };
        assert_eq!(repo.name, "h.io/x");
        let Requirement::Unsupported(why) = &doc.docker["h.io/fulcio"][0] else { panic!() };
        assert!(why.contains("fulcio") && why.contains("rekorPublicKeyPath") && why.contains("not supported"));
        assert!(matches!(&doc.docker["h.io/x509"][0], Requirement::Unsupported(_)));
    }

    #[test]
    fn malformed_policies_fail_closed() {
        let cases: &[&str] = &[
            r#"{}"#,
            r#"[]"#,
            r#"{"default": []}"#,
            r#"{"default": [{"type": "accept"}]}"#,
            r#"{"default": [{"type": "reject", "x": 1}]}"#,
            r#"{"default": [{"type": "reject"}], "extra": 1}"#,
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"h.io": []}}}"#,
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"h.io": [{"type": "bogus"}]}}}"#,
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#,
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/a", "keyData": "aGk="}]}"#,
            r#"{"default": [{"type": "signedBy", "keyType": "PGP", "keyPath": "/a"}]}"#,
            r#"{"default": [{"type": "signedBy", "keyPath": "/a"}]}"#,
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "not base64!"}]}"#,
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": []}]}"#,
            r#"{"default": [{"type": "sigstoreSigned"}]}"#,
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "matchAnything"}}]}"#,
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "exactReference", "dockerReference": "h.io/x"}}]}"#,
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "matchExact", "x": 1}}]}"#,
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity", "prefix": "h.io/x:1", "signedPrefix": "h.io"}}]}"#,
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "unknownField": true}]}"#,
        ];
        for case in cases {
            assert!(parse(case.as_bytes()).is_err(), "{case} must be refused");
        }
        let huge = format!(r#"{{"default": [{{"type": "reject"}}], "x": "{}"}}"#, "a".repeat(MAX_POLICY_BYTES));
        assert!(parse(huge.as_bytes()).unwrap_err().contains("exceeds"));
    }

    #[test]
    fn most_specific_scope_wins() {
        let scope = |s: &str, kind: &str| format!(r#""{s}": [{{"type": "{kind}"}}]"#);
        let doc = parse(
            format!(
                r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{ {}, {}, {}, {}, {}, {} }}}}}}"#,
                scope("reg.example.com/ns/app:v1", "reject"),
                scope(&format!("reg.example.com/ns/app@{D}"), "reject"),
                scope("reg.example.com/ns/app", "insecureAcceptAnything"),
                scope("reg.example.com/ns", "reject"),
                scope("reg.example.com", "insecureAcceptAnything"),
                scope("*.example.com", "reject"),
            )
            .as_bytes(),
        )
        .unwrap();
        let chosen = |image: &str| doc.requirements_for(&r(image)).0;
        assert_eq!(chosen("reg.example.com/ns/app:v1").as_deref(), Some("reg.example.com/ns/app:v1"));
        assert_eq!(chosen(&format!("reg.example.com/ns/app@{D}")).unwrap(), format!("reg.example.com/ns/app@{D}"));
        assert_eq!(chosen("reg.example.com/ns/app:v2").as_deref(), Some("reg.example.com/ns/app"));
        assert_eq!(chosen("reg.example.com/ns/other:v1").as_deref(), Some("reg.example.com/ns"));
        assert_eq!(chosen("reg.example.com/ns2/app:v1").as_deref(), Some("reg.example.com"));
        assert_eq!(chosen("other.example.com/app:v1").as_deref(), Some("*.example.com"));
        assert_eq!(chosen("reg.example.org/app:v1"), None);
        // A prefix that is not a whole path component is not a namespace.
        assert_eq!(chosen("reg.example.com/nsx/app:v1").as_deref(), Some("reg.example.com"));
    }

    #[test]
    fn transport_default_beats_global_default() {
        let doc = parse(
            br#"{"default": [{"type": "reject"}], "transports": {"docker": {"": [{"type": "insecureAcceptAnything"}]}}}"#,
        )
        .unwrap();
        let (scope, reqs) = doc.requirements_for(&r("h.io/a:1"));
        assert_eq!(scope.as_deref(), Some(""));
        assert!(matches!(reqs[..], [Requirement::AcceptAnything]));
    }

    #[test]
    fn signed_identity_matchers() {
        let tagged = r("h.io/ns/app:v1");
        let by_digest = r(&format!("h.io/ns/app@{D}"));
        let m = Identity::MatchRepoDigestOrExact;
        assert!(m.matches(&tagged, "h.io/ns/app:v1"));
        assert!(!m.matches(&tagged, "h.io/ns/app:v2"));
        assert!(!m.matches(&tagged, "h.io/ns/app"));
        assert!(!m.matches(&tagged, "h.io/ns/other:v1"));
        assert!(m.matches(&by_digest, "h.io/ns/app:anything"));
        assert!(!m.matches(&by_digest, "h.io/ns/other:v1"));
        assert!(!m.matches(&by_digest, "h.io/ns/app"));

        let m = Identity::MatchExact;
        assert!(m.matches(&tagged, "h.io/ns/app:v1"));
        assert!(!m.matches(&tagged, "h.io/ns/app:v2"));
        assert!(!m.matches(&by_digest, "h.io/ns/app:v1"));
        assert!(m.matches(&by_digest, &format!("h.io/ns/app@{D}")));

        let m = Identity::MatchRepository;
        assert!(m.matches(&tagged, "h.io/ns/app:v9"));
        assert!(m.matches(&tagged, "h.io/ns/app"));
        assert!(!m.matches(&tagged, "h.io/ns/app2:v1"));

        let m = Identity::ExactReference(r("m.io/app:1"));
        assert!(m.matches(&tagged, "m.io/app:1"));
        assert!(!m.matches(&tagged, "h.io/ns/app:v1"));

        let m = Identity::ExactRepository(r("m.io/app"));
        assert!(m.matches(&tagged, "m.io/app:7"));
        assert!(!m.matches(&tagged, "h.io/ns/app:v1"));

        let m = Identity::Remap { prefix: "h.io/ns".into(), signed_prefix: "docker.io/upstream".into() };
        assert!(m.matches(&tagged, "docker.io/upstream/app:v1"));
        assert!(!m.matches(&tagged, "h.io/ns/app:v1"));
        assert!(!m.matches(&tagged, "docker.io/upstream/app:v2"));
        let unrelated = r("h.io/nsx/app:v1");
        assert!(m.matches(&unrelated, "h.io/nsx/app:v1"), "no prefix match: compared as is");

        assert!(!Identity::MatchRepository.matches(&tagged, "NOT A REFERENCE"));
    }
}
