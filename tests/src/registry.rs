//! Debian's `docker-registry` (distribution 2.8) started on 127.0.0.1 with
//! its own config and storage under a temp dir, killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::{require_tools, run};

/// How the registry is configured.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Serve HTTPS with a certificate for 127.0.0.1/localhost signed by a
    /// throwaway CA (`ca_cert`).
    pub tls: bool,
    /// Require HTTP basic auth for this user and password (htpasswd, bcrypt).
    pub htpasswd: Option<(String, String)>,
}

/// A running registry. Killed when dropped.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`, the host part of image references.
    pub host: String,
    /// The certificate (PEM) to trust when `tls` was asked for.
    pub ca_cert: Option<PathBuf>,
    /// A directory holding `ca.crt`, as `skopeo --dest-cert-dir` wants it.
    pub cert_dir: Option<PathBuf>,
}

impl Registry {
    /// Starts a registry, or returns `None` (with a printed skip reason) when
    /// `docker-registry` (or, for the options asked, `openssl`/`htpasswd`)
    /// is not installed.
    pub fn start(options: RegistryOptions) -> Option<Registry> {
        let mut tools = vec!["docker-registry"];
        if options.tls {
            tools.push("openssl");
        }
        if options.htpasswd.is_some() {
            tools.push("htpasswd");
        }
        if !require_tools("the registry tests", &tools) {
            return None;
        }
        let dir = tempfile::tempdir().expect("registry temp dir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut http = format!(
            "  addr: {host}\n  secret: arca-test-registry\n  headers:\n    X-Content-Type-Options: [nosniff]\n"
        );
        let (mut ca_cert, mut cert_dir) = (None, None);
        if options.tls {
            let (cert, key) = self_signed(dir.path());
            http.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()));
            let certs = dir.path().join("certs.d");
            std::fs::create_dir_all(&certs).expect("cert dir");
            let ca = dir.path().join("ca.pem");
            std::fs::copy(&ca, certs.join("ca.crt")).expect("copy ca.crt");
            ca_cert = Some(ca);
            cert_dir = Some(certs);
        }
        let mut auth = String::new();
        if let Some((user, password)) = &options.htpasswd {
            let out = run(Command::new("htpasswd").args(["-Bbn", user, password]));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).expect("write htpasswd");
            auth = format!("auth:\n  htpasswd:\n    realm: arca-test\n    path: {}\n", file.display());
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n{http}{auth}health:\n  storagedriver:\n    enabled: false\n",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, dir, host, ca_cert, cert_dir };
        registry.wait_ready();
        Some(registry)
    }

    /// The registry's temp dir (config, storage, log); tests may put their
    /// own scratch files there too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `docker://<host>/<repo_and_tag>`, for skopeo.
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host)
    }

    /// What the registry printed so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(stream) = TcpStream::connect(&self.host) {
                if self.ca_cert.is_some() || answers_http(stream) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry on {} did not come up:\n{}", self.host, self.log());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answers_http(mut stream: TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// A port nothing listens on right now (the kernel's choice for port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// A throwaway CA (returned as the certificate to trust) and a server
/// certificate it signs for 127.0.0.1/localhost. The server certificate is
/// not itself a CA: rustls (webpki) refuses a CA certificate used as the
/// server's, which a lone `openssl req -x509` certificate is.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (csr, cert, key) = (dir.join("server.csr"), dir.join("cert.pem"), dir.join("key.pem"));
    let ext = dir.join("server.ext");
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=arca test CA"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca)
        .stderr(Stdio::null()));
    run(Command::new("openssl")
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null()));
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write server.ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null()));
    (cert, key)
}
