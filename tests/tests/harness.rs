//! The harness itself against the real parts: a layout it writes is pushed
//! with skopeo to a registry it starts, plain and over TLS with htpasswd.

use std::process::Command;

use arca_e2e::layout::Platform;
use arca_e2e::{run, skopeo_copy, Layer, LayoutBuilder, Registry, RegistryOptions, TarEntry};
use serde_json::json;

#[test]
fn layouts_push_to_plain_and_authenticated_tls_registries() {
    if !arca_e2e::require_tools("the harness test", &["skopeo"]) {
        return;
    }
    let Some(plain) = Registry::start(RegistryOptions::default()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut layout = LayoutBuilder::new(&dir.path().join("layout"));
    layout.image(
        "v1",
        json!({"Cmd": ["/bin/true"]}),
        &[
            Layer::gzip(vec![TarEntry::dir("etc"), TarEntry::file("etc/hello", "hi\n")]),
            Layer::zstd(vec![TarEntry::whiteout("etc/hello")]),
        ],
    );
    let amd = Platform { architecture: "amd64".into(), os: "linux".into() };
    let arm = Platform { architecture: "arm64".into(), os: "linux".into() };
    layout.multi_platform(
        "multi",
        &[
            (amd, json!({}), vec![Layer::plain(vec![TarEntry::file("arch", "amd64")])]),
            (arm, json!({}), vec![Layer::plain(vec![TarEntry::file("arch", "arm64")])]),
        ],
    );
    skopeo_copy(dir.path(), &[], &layout.skopeo_name("v1"), &plain.docker_ref("t/one:v1"));
    skopeo_copy(dir.path(), &["--all"], &layout.skopeo_name("multi"), &plain.docker_ref("t/one:multi"));
    let out =
        run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &plain.docker_ref("t/one:multi")]));
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);

    let Some(tls) = Registry::start(RegistryOptions { tls: true, htpasswd: Some(("arca".into(), "s3cret".into())) })
    else {
        return;
    };
    let cert_dir = tls.cert_dir.as_ref().unwrap().to_str().unwrap().to_string();
    let dest = format!("docker://{}/t/auth:v1", tls.host);
    let copy = |creds: &str| {
        Command::new("skopeo")
            .args(["--policy", dir.path().join("skopeo-policy.json").to_str().unwrap(), "copy", "--quiet"])
            .args(["--dest-cert-dir", &cert_dir, "--dest-creds", creds, &layout.skopeo_name("v1"), &dest])
            .output()
            .unwrap()
    };
    assert!(copy("arca:s3cret").status.success());
    assert!(!copy("arca:wrong").status.success(), "the registry must refuse a wrong password");
}
