//! Configuration parsing: the documented example, defaults and errors.

use std::path::{Path, PathBuf};

use arca_kbs::config::{default_data_dir, AuthorizationMode, DataDirEnv, KbsConfig, StorageType};
use arca_kbs::Error;

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/kbs.toml")
}

#[test]
fn example_file_parses_to_the_defaults() {
    let config = KbsConfig::from_file(&example_path()).unwrap();
    let mut expected = KbsConfig::default();
    expected.admin.roles =
        vec![arca_kbs::config::RoleRule { role: "admin".into(), allowed: vec!["^/kbs/v0/.*$".into()] }];
    expected.storage_backend.max_value_size = Some(arca_kbs::storage::DEFAULT_MAX_VALUE_SIZE);
    assert_eq!(config, expected);
    assert_eq!(config.http_server.sockets, vec!["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(config.http_server.payload_request_size, 2 << 20);
    assert_eq!(config.attestation_token.duration_min, 5);
    assert_eq!(config.attestation_service.max_sessions, 10_000);
    assert!(!config.attestation_service.allow_sample_tee);
    assert_eq!(config.admin.authorization_mode, AuthorizationMode::AuthenticatedAuthorization);
    assert_eq!(config.storage_backend.storage_type, StorageType::LocalFs);
}

#[test]
fn empty_file_is_the_default_configuration() {
    assert_eq!(KbsConfig::from_toml("", Path::new("empty.toml")).unwrap(), KbsConfig::default());
}

#[test]
fn every_field_is_read() {
    let text = r#"
data_dir = "/srv/kbs"
[http_server]
sockets = ["0.0.0.0:8443", "[::1]:9000"]
insecure_http = true
private_key = "/k.pem"
certificate = "/c.pem"
payload_request_size = 1024
[attestation_token]
trusted_certs_paths = ["/roots.pem"]
trusted_jwk_sets = ["/jwks.json"]
insecure_header_jwk = true
duration_min = 10
signer_key_path = "/token.pem"
[attestation_service]
session_timeout_min = 2
max_sessions = 50
allow_sample_tee = true
attestation_policy_path = "/a.rego"
tdx_collateral_path = "/tdx.json"
cca_trust_anchors_path = "/ta.json"
cca_reference_values_path = "/rv.json"
se_config_path = "/se.json"
snp_chain_path = "/chain.pem"
[admin]
authorization_mode = "DenyAll"
[[admin.identity_providers]]
public_key_path = "/admin.pub"
iss = "ops"
aud = "kbs"
[[admin.roles]]
role = "reader"
allowed = ["^/kbs/v0/resource-policy$"]
[storage_backend]
storage_type = "Memory"
dir_path = "/store"
max_value_size = 10
[policy]
resource_policy_path = "/r.rego"
"#;
    let c = KbsConfig::from_toml(text, Path::new("full.toml")).unwrap();
    assert_eq!(c.data_dir.as_deref(), Some(Path::new("/srv/kbs")));
    assert_eq!(c.http_server.sockets.len(), 2);
    assert!(c.http_server.insecure_http);
    assert_eq!(c.http_server.payload_request_size, 1024);
    assert_eq!(c.attestation_token.trusted_jwk_sets, vec![PathBuf::from("/jwks.json")]);
    assert!(c.attestation_token.insecure_header_jwk);
    assert_eq!(c.attestation_token.duration_min, 10);
    assert_eq!(c.attestation_service.session_timeout_min, 2);
    assert!(c.attestation_service.allow_sample_tee);
    assert_eq!(c.attestation_service.snp_chain_path.as_deref(), Some(Path::new("/chain.pem")));
    assert_eq!(c.admin.authorization_mode, AuthorizationMode::DenyAll);
    assert_eq!(c.admin.identity_providers[0].iss.as_deref(), Some("ops"));
    assert_eq!(c.admin.roles[0].role, "reader");
    assert_eq!(c.storage_backend.storage_type, StorageType::Memory);
    assert_eq!(c.storage_backend.max_value_size, Some(10));
    assert_eq!(c.policy.resource_policy_path.as_deref(), Some(Path::new("/r.rego")));
    assert_eq!(c.resolve_data_dir(None).unwrap(), PathBuf::from("/srv/kbs"));
    assert_eq!(c.resolve_data_dir(Some(Path::new("/cli"))).unwrap(), PathBuf::from("/cli"));
    assert_eq!(c.store_dir(Path::new("/srv/kbs")), PathBuf::from("/store"));
    assert_eq!(KbsConfig::default().store_dir(Path::new("/d")), PathBuf::from("/d/store"));
}

#[test]
fn typos_and_bad_values_are_errors_that_say_where() {
    for (text, needle) in [
        ("[http_server]\nsocket = [\"127.0.0.1:1\"]", "socket"),
        ("[http_server]\nsockets = [\"nohost\"]", "sockets"),
        ("[http_server]\nsockets = []", "at least one"),
        ("[http_server]\nprivate_key = \"/k\"", "go together"),
        ("[admin]\nauthorization_mode = \"AllowAll\"", "AllowAll"),
        ("[storage_backend]\nstorage_type = \"Redis\"", "Redis"),
        ("[attestation_token]\nduration_min = 0", "duration_min"),
        ("[attestation_service]\nmax_sessions = -1", "max_sessions"),
    ] {
        match KbsConfig::from_toml(text, Path::new("bad.toml")) {
            Err(e @ Error::Config { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("bad.toml") && msg.contains(needle), "{text}: {msg}");
            }
            other => panic!("{text}: expected a configuration error, found {other:?}"),
        }
    }
}

#[test]
fn oversized_or_missing_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (arca_kbs::config::MAX_CONFIG_SIZE + 1) as usize]).unwrap();
    assert!(KbsConfig::from_file(&big).unwrap_err().to_string().contains("limit"));
    assert!(KbsConfig::from_file(&dir.path().join("missing.toml")).is_err());
}

struct FakeEnv {
    xdg: Option<&'static str>,
    home: Option<&'static str>,
    root: bool,
}

impl DataDirEnv for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "XDG_DATA_HOME" => self.xdg.map(String::from),
            "HOME" => self.home.map(String::from),
            _ => None,
        }
    }
    fn is_root(&self) -> bool {
        self.root
    }
}

#[test]
fn data_dir_defaults_follow_xdg_then_root_then_home() {
    let d = |xdg, home, root| default_data_dir(&FakeEnv { xdg, home, root });
    assert_eq!(d(Some("/x"), Some("/h"), true).unwrap(), PathBuf::from("/x/arca-kbs"));
    assert_eq!(d(None, Some("/h"), true).unwrap(), PathBuf::from("/var/lib/arca-kbs"));
    assert_eq!(d(None, Some("/h"), false).unwrap(), PathBuf::from("/h/.local/share/arca-kbs"));
    assert!(d(None, None, false).is_err());
}
