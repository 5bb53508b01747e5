//! A real `arca-kbs` started in-process on 127.0.0.1 (port 0) for the
//! end-to-end tests of `arca-kbs-client` and `arca kbs`.

use std::path::{Path, PathBuf};

use arca_kbs::config::KbsConfig;
use arca_kbs::server::{Kbs, Running, ServerOptions};
use arca_kbs_client::admin::SigningKey;

/// A running KBS and its data directory (removed when dropped).
pub struct TestKbs {
    pub running: Running,
    pub url: String,
    pub data_dir: tempfile::TempDir,
    pub kbs: Kbs,
}

impl Drop for TestKbs {
    fn drop(&mut self) {
        self.running.shutdown();
    }
}

impl TestKbs {
    /// The admin key the server created in its data directory (trusted for role admin).
    pub fn admin_key_path(&self) -> PathBuf {
        self.kbs.admin_key.clone()
    }

    /// The admin key, parsed.
    pub fn admin_key(&self) -> SigningKey {
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(self.admin_key_path()).unwrap()).unwrap()
    }

    /// Sum of the server's `arca_kbs_attestations_total` counters for `tee`.
    pub async fn attestations(&self, tee: &str) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.url)).await.unwrap().text().await.unwrap();
        counter_sum(&text, "arca_kbs_attestations_total", &format!("tee=\"{tee}\""))
    }
}

/// Sum the samples of `metric` whose labels contain `label`.
pub fn counter_sum(exposition: &str, metric: &str, label: &str) -> u64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(metric) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// A configuration listening on an ephemeral loopback port that accepts the sample TEE.
pub fn sample_config() -> KbsConfig {
    let mut config = KbsConfig::default();
    config.http_server.sockets = vec!["127.0.0.1:0".parse().unwrap()];
    config.attestation_service.allow_sample_tee = true;
    config
}

/// Start a KBS with `config` and a fresh data directory. Must run inside a tokio runtime.
pub fn start(config: KbsConfig) -> TestKbs {
    start_in(config, tempfile::tempdir().unwrap())
}

/// Start a KBS with `config` on `data_dir`.
pub fn start_in(config: KbsConfig, data_dir: tempfile::TempDir) -> TestKbs {
    let kbs = Kbs::new(config, data_dir.path(), ServerOptions::default()).expect("KBS builds");
    let running = kbs.start().expect("KBS starts");
    let url = running.url();
    TestKbs { running, url, data_dir, kbs }
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, written as
/// `cert.pem` and `key.pem` into `dir`; returns the certificate PEM.
pub fn self_signed_tls(dir: &Path) -> (PathBuf, PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.pem())
}
