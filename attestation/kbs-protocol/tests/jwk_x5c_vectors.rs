//! `x5c` endorsement of token signer JWKs against trustee's seven fixtures
//! (`shared/vectors/attestation/kbs-token-jwk`, outcomes from the vectors
//! README table, which upstream asserts).

use std::path::PathBuf;

use arca_kbs_protocol::jwk::{x5c_endorsed, Jwk};
use arca_kbs_protocol::Error;
use arca_verifier::x509::Certificate;
use time::macros::datetime;

fn vectors_dir() -> PathBuf {
    match std::env::var("ARCA_VECTORS") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

fn scenario(n: u32) -> (Jwk, Vec<Certificate>) {
    let dir = vectors_dir().join("attestation/kbs-token-jwk");
    let read = |name: String| {
        let path = dir.join(&name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    };
    let jwk = Jwk::from_json(std::str::from_utf8(&read(format!("scenario0{n}-jwk.json"))).unwrap()).unwrap();
    let roots = Certificate::all_from_pem(&read(format!("scenario0{n}-trust.pem"))).unwrap();
    (jwk, roots)
}

/// (scenario, endorsed?) from the vectors README.
const EXPECTED: [(u32, bool); 7] = [(1, true), (2, false), (3, false), (4, false), (5, true), (6, true), (7, true)];

#[test]
fn all_seven_scenarios_match_upstream_outcomes() {
    // Certificates are valid 2026-04-15 .. 2036-04-12.
    let at = datetime!(2026-11-29 12:00 UTC);
    for (n, endorsed) in EXPECTED {
        let (jwk, roots) = scenario(n);
        let result = x5c_endorsed(&jwk, &roots, at);
        assert_eq!(result.is_ok(), endorsed, "scenario {n}: {result:?}");
        match n {
            2 => assert!(
                matches!(result, Err(Error::NotEndorsed(ref m)) if m.contains("different public key")),
                "{result:?}"
            ),
            3 => assert!(matches!(result, Err(Error::NotEndorsed(ref m)) if m.contains("no x5c")), "{result:?}"),
            4 => assert!(matches!(result, Err(Error::ChainRejected(_))), "{result:?}"),
            _ => {}
        }
    }
}

#[test]
fn scenario6_needs_its_real_root_and_time_window() {
    let at = datetime!(2026-11-29 12:00 UTC);
    let (jwk, roots) = scenario(6);
    assert!(roots.len() >= 2, "trust file holds a decoy and the real root");
    // Without the real root (only the decoy, which comes first) it is not endorsed.
    let decoy_only: Vec<Certificate> =
        roots.iter().filter(|r| x5c_endorsed(&jwk, std::slice::from_ref(r), at).is_err()).cloned().collect();
    assert_eq!(decoy_only.len(), roots.len() - 1, "exactly one root endorses the chain");
    assert!(x5c_endorsed(&jwk, &decoy_only, at).is_err());
    // Outside the validity window the same chain is rejected.
    assert!(x5c_endorsed(&jwk, &roots, datetime!(2036-05-01 0:00 UTC)).is_err());
    assert!(x5c_endorsed(&jwk, &roots, datetime!(2026-01-01 0:00 UTC)).is_err());
    // A root that endorses scenario 1 does not endorse scenario 5's chain.
    let (_, roots1) = scenario(1);
    let (jwk5, _) = scenario(5);
    assert!(x5c_endorsed(&jwk5, &roots1, at).is_err());
}

#[test]
fn tampered_x5c_is_rejected_not_panicking() {
    let at = datetime!(2026-11-29 12:00 UTC);
    let (mut jwk, roots) = scenario(1);
    let leaf = jwk.x5c.as_ref().unwrap()[0].clone();
    jwk.x5c = Some(vec![format!("{}AAAA", &leaf[..leaf.len() - 8])]);
    assert!(x5c_endorsed(&jwk, &roots, at).is_err());
    jwk.x5c = Some(vec!["not base64!".into()]);
    assert!(matches!(x5c_endorsed(&jwk, &roots, at), Err(Error::Malformed { .. })));
    jwk.x5c = Some(vec![leaf; 9]);
    assert!(x5c_endorsed(&jwk, &roots, at).is_err());
}
