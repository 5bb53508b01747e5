//! Rego policies on claims that arca-verifier produces from the real vectors.

use std::path::PathBuf;
use std::sync::Arc;

use arca_kbs::policy::{PolicyEngine, Status, TrustVector, DEFAULT_ATTESTATION_POLICY};
use arca_kbs::rvps::{ReferenceValues, RvpsMessage};
use arca_kbs::storage::{FsStore, MemoryStore, Store};
use arca_kbs::Error;
use arca_verifier::{Endorsements, Evidence, Tee, VerifyOptions};
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::OffsetDateTime;

fn vector(rel: &str) -> Vec<u8> {
    let dir = std::env::var("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"));
    let path = dir.join("attestation").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn verify(tee: Tee, evidence: &[u8], endorsements: Endorsements, at: OffsetDateTime, allow_sample: bool) -> Value {
    let mut options = VerifyOptions::at(at);
    options.allow_sample = allow_sample;
    arca_verifier::verify(tee, &Evidence::detect(evidence), &endorsements, &options).unwrap().to_json()
}

fn snp_milan() -> Value {
    let endorsements = Endorsements { vcek: Some(vector("snp/trustee-milan-vcek.der")), ..Default::default() };
    verify(Tee::Snp, &vector("snp/trustee-milan-vcek-report-v2.bin"), endorsements, OffsetDateTime::now_utc(), false)
}

fn tdx_dcap_qvl() -> Value {
    let endorsements = Endorsements {
        collateral: Some(vector("tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.collateral.json")),
        ..Default::default()
    };
    // The earliest nextUpdate of the collateral, minus one second.
    let at = datetime!(2025-07-19 10:00:34 UTC);
    verify(Tee::Tdx, &vector("tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.bin"), endorsements, at, false)
}

fn cca_example() -> Value {
    let endorsements = Endorsements {
        chain: Some(vector("cca/trustee-tastore.json")),
        collateral: Some(vector("cca/trustee-rvstore.json")),
        ..Default::default()
    };
    verify(Tee::Cca, &vector("cca/trustee-cca-example-token.cbor"), endorsements, OffsetDateTime::now_utc(), false)
}

fn sample() -> Value {
    let evidence = serde_json::to_vec(&arca_verifier::sample::evidence_for(b"runtime data digest")).unwrap();
    verify(Tee::Sample, &evidence, Endorsements::default(), OffsetDateTime::now_utc(), true)
}

fn tv(executables: i8, hardware: i8, configuration: i8) -> TrustVector {
    TrustVector { executables, hardware, configuration, ..Default::default() }
}

/// Reference values ingested through the RVPS (arca extractor), read back as `data.reference`.
fn reference(doc: Value) -> Map<String, Value> {
    let rv = ReferenceValues::new(Arc::new(MemoryStore::new()));
    rv.ingest(&RvpsMessage { version: "0.1.0".into(), r#type: "arca".into(), payload: doc.to_string() }).unwrap();
    rv.all().unwrap()
}

fn engine() -> PolicyEngine {
    PolicyEngine::new(Arc::new(MemoryStore::new()))
}

#[test]
fn ar4si_tiers_and_status() {
    for (v, s) in [
        (0, Status::None),
        (1, Status::None),
        (-1, Status::None),
        (2, Status::Affirming),
        (31, Status::Affirming),
        (-2, Status::Affirming),
        (-32, Status::Affirming),
        (32, Status::Warning),
        (95, Status::Warning),
        (-33, Status::Warning),
        (-96, Status::Warning),
        (96, Status::Contraindicated),
        (127, Status::Contraindicated),
        (-97, Status::Contraindicated),
        (-128, Status::Contraindicated),
    ] {
        assert_eq!(Status::of_value(v), s, "{v}");
    }
    assert_eq!(TrustVector::default().status(), Status::None);
    assert_eq!(tv(2, 2, 0).status(), Status::Affirming);
    assert_eq!(tv(2, 2, 36).status(), Status::Warning);
    assert_eq!(tv(33, 97, 2).status(), Status::Contraindicated);
    assert_eq!(
        serde_json::to_value(tv(2, 97, 36)).unwrap(),
        json!({"instance-identity": 0, "configuration": 36, "executables": 2, "file-system": 0,
               "hardware": 97, "runtime-opaque": 0, "storage-opaque": 0, "sourced-data": 0})
    );
}

#[test]
fn snp_milan_is_affirming_only_with_its_measurement_registered() {
    let claims = snp_milan();
    let measurement = claims["measurement"].as_str().unwrap().to_string();
    let e = engine();

    let a = e.appraise("snp", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(33, 2, 2));
    assert_eq!(a.status, Status::Warning);
    assert_eq!(a.policy_id, "default");
    assert_eq!(
        a.reasons,
        vec![format!("executables: snp measurement {measurement} is not in reference value snp_launch_measurement")]
    );

    let other = reference(json!({"snp_launch_measurement": "00".repeat(48)}));
    assert_eq!(e.appraise("snp", &claims, &other).unwrap().status, Status::Warning);

    let matching = reference(json!({"snp_launch_measurement": ["11".repeat(48), measurement]}));
    let a = e.appraise("snp", &claims, &matching).unwrap();
    assert_eq!(a.trust_vector, tv(2, 2, 2));
    assert_eq!(a.status, Status::Affirming);
    assert!(a.reasons.is_empty(), "{:?}", a.reasons);
}

#[test]
fn snp_debug_policy_is_contraindicated() {
    let mut claims = snp_milan();
    claims["policy"]["debug_allowed"] = json!(true);
    let refs = reference(json!({"snp_launch_measurement": claims["measurement"].clone()}));
    let a = engine().appraise("snp", &claims, &refs).unwrap();
    assert_eq!(a.trust_vector, tv(2, 2, 96));
    assert_eq!(a.status, Status::Contraindicated);
    assert_eq!(a.reasons, vec!["configuration: snp guest policy allows debugging".to_string()]);
}

#[test]
fn tdx_quote_needs_mrtd_and_both_rtmrs() {
    let claims = tdx_dcap_qvl();
    assert_eq!(claims["tcb_status"], "UpToDate");
    let e = engine();

    let a = e.appraise("tdx", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(33, 2, 2));
    assert_eq!(a.status, Status::Warning);
    assert_eq!(a.reasons.len(), 3, "{:?}", a.reasons);

    let only_mrtd = reference(json!({"mr_td": claims["mrtd"].clone()}));
    let a = e.appraise("tdx", &claims, &only_mrtd).unwrap();
    assert_eq!(a.status, Status::Warning);
    assert!(a.reasons.iter().any(|r| r.contains("rtmr1") && r.contains("rtmr_1")), "{:?}", a.reasons);
    assert!(!a.reasons.iter().any(|r| r.contains("mrtd")), "{:?}", a.reasons);

    let all = reference(json!({
        "mr_td": claims["mrtd"].clone(),
        "rtmr_1": claims["rtmr1"].clone(),
        "rtmr_2": claims["rtmr2"].clone(),
    }));
    let a = e.appraise("tdx", &claims, &all).unwrap();
    assert_eq!(a.trust_vector, tv(2, 2, 2));
    assert_eq!(a.status, Status::Affirming);

    // An out-of-date TCB is a hardware warning, whatever the reference values.
    let mut stale = claims.clone();
    stale["tcb_status"] = json!("OutOfDate");
    let a = e.appraise("tdx", &stale, &all).unwrap();
    assert_eq!(a.trust_vector, tv(2, 32, 2));
    assert_eq!(a.status, Status::Warning);
    assert_eq!(a.reasons, vec!["hardware: tdx TCB status is OutOfDate, expected UpToDate".to_string()]);
}

#[test]
fn cca_token_with_its_realm_measurement() {
    let claims = cca_example();
    assert_eq!(claims["reference_values"]["matched"], true);
    // Lifecycle 0x3003 (vectors README): secured.
    assert_eq!(claims["platform"]["lifecycle"]["name"], "secured");
    let rim = claims["realm"]["rim"].clone();
    let e = engine();

    let a = e.appraise("cca", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(33, 2, 2));
    assert_eq!(a.status, Status::Warning);
    assert!(a.reasons[0].starts_with("executables: cca realm initial measurement"), "{:?}", a.reasons);

    let a = e.appraise("cca", &claims, &reference(json!({"cca_rim": rim}))).unwrap();
    assert_eq!(a.trust_vector, tv(2, 2, 2));
    assert_eq!(a.status, Status::Affirming);

    // Platform firmware that the reference-value store does not know: hardware not recognized.
    let mut unknown = claims.clone();
    unknown["reference_values"]["matched"] = json!(false);
    let a = e.appraise("cca", &unknown, &reference(json!({"cca_rim": claims["realm"]["rim"].clone()}))).unwrap();
    assert_eq!(a.trust_vector, tv(2, 97, 2));
    assert_eq!(a.status, Status::Contraindicated);
}

#[test]
fn sample_tee_is_contraindicated_unless_allowed() {
    let claims = sample();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());

    let strict = PolicyEngine::new(Arc::clone(&store));
    let a = strict.appraise("sample", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(33, 97, 36));
    assert_eq!(a.status, Status::Contraindicated);
    assert_eq!(
        a.reasons,
        vec!["sample-tee: the sample TEE is not allowed (attestation_service.allow_sample_tee = false)".to_string()]
    );
    // Reference values do not make the sample TEE trustworthy.
    let refs = reference(json!({"svn": "1", "launch_digest": "abcd"}));
    assert_eq!(strict.appraise("sample", &claims, &refs).unwrap().status, Status::Contraindicated);

    let dev = PolicyEngine::new(store).with_allow_sample_tee(true);
    let a = dev.appraise("sample", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(3, 2, 2));
    assert_eq!(a.status, Status::Affirming);
    assert!(a.reasons.is_empty());
}

/// EAR token claims with one submod per (tee, status).
fn token(submods: &[(&str, Status)]) -> Value {
    let mut map = Map::new();
    for (i, (tee, status)) in submods.iter().enumerate() {
        map.insert(
            format!("cpu{i}"),
            json!({
                "ear.status": status.as_str(),
                "ear.appraisal-policy-id": "default",
                "ear.veraison.annotated-evidence": { *tee: {"report_data": "00"} },
            }),
        );
    }
    json!({
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "iat": 1, "exp": 2, "iss": "arca-kbs",
        "submods": map,
    })
}

#[test]
fn default_resource_policy_releases_only_to_affirming_tokens() {
    let e = engine();
    let path = ["repo", "key", "one"];
    let q = Map::new();

    let d = e.authorize_resource(&token(&[("snp", Status::Affirming)]), &path, &q).unwrap();
    assert!(d.allow, "{d:?}");
    assert!(d.clone().into_result().is_ok());

    for status in [Status::Warning, Status::Contraindicated, Status::None] {
        let d = e.authorize_resource(&token(&[("tdx", status)]), &path, &q).unwrap();
        assert!(!d.allow);
        assert_eq!(d.rule, "affirming");
        assert!(d.reason.contains(&format!("ear.status {}", status.as_str())), "{}", d.reason);
    }

    let d = e.authorize_resource(&token(&[("snp", Status::Affirming), ("tdx", Status::Warning)]), &path, &q).unwrap();
    assert!(!d.allow);
    assert!(d.reason.contains("submod cpu1"), "{}", d.reason);

    let d = e.authorize_resource(&token(&[]), &path, &q).unwrap();
    assert_eq!((d.allow, d.rule.as_str()), (false, "submods"));
    let d = e.authorize_resource(&json!({"iss": "x"}), &path, &q).unwrap();
    assert_eq!((d.allow, d.rule.as_str()), (false, "submods"));

    let err = e.authorize_resource(&token(&[("cca", Status::Warning)]), &path, &q).unwrap().into_result().unwrap_err();
    assert!(matches!(&err, Error::PolicyDeny { rule, .. } if rule == "affirming"), "{err}");
    assert_eq!(err.kbs_error_variant(), Some("PolicyDeny"));
}

#[test]
fn sample_tokens_need_allow_sample_tee_in_the_resource_policy_too() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let affirming_sample = token(&[("sample", Status::Affirming)]);
    let d = PolicyEngine::new(Arc::clone(&store))
        .authorize_resource(&affirming_sample, &["a", "b", "c"], &Map::new())
        .unwrap();
    assert_eq!((d.allow, d.rule.as_str()), (false, "sample-tee"));
    let d = PolicyEngine::new(store)
        .with_allow_sample_tee(true)
        .authorize_resource(&affirming_sample, &["a", "b", "c"], &Map::new())
        .unwrap();
    assert!(d.allow, "{d:?}");
}

#[test]
fn appraisal_feeds_the_resource_decision() {
    // Sample evidence end to end: contraindicated and refused by default, released in dev mode.
    let claims = sample();
    for (allow, expected) in [(false, false), (true, true)] {
        let e = engine().with_allow_sample_tee(allow);
        let a = e.appraise("sample", &claims, &Map::new()).unwrap();
        let d = e.authorize_resource(&token(&[("sample", a.status)]), &["r", "t", "k"], &Map::new()).unwrap();
        assert_eq!(d.allow, expected, "allow_sample_tee={allow}: {d:?}");
    }
    // SNP: released once the measurement is registered.
    let claims = snp_milan();
    let e = engine();
    let refs = reference(json!({"snp_launch_measurement": claims["measurement"].clone()}));
    for (r, expected) in [(Map::new(), false), (refs, true)] {
        let a = e.appraise("snp", &claims, &r).unwrap();
        let d = e.authorize_resource(&token(&[("snp", a.status)]), &["r", "t", "k"], &Map::new()).unwrap();
        assert_eq!(d.allow, expected, "{a:?} {d:?}");
    }
}

#[test]
fn policy_uploads_are_compiled_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = PolicyEngine::new(Arc::new(FsStore::open(dir.path()).unwrap()));

    let bad = [
        ("package policy\nallow if {", "resource"),
        ("package other\nimport rego.v1\nallow := true", "expected package policy"),
        ("package policy\nimport rego.v1\nallow := no_such_function(1)", "no_such_function"),
    ];
    for (rego, needle) in bad {
        let err = e.set_resource_policy(rego).unwrap_err();
        assert!(matches!(err, Error::ParsePolicy { .. }), "{rego}: {err}");
        assert_eq!(err.kbs_error_variant(), Some("ParsePolicyError"));
        assert!(err.to_string().contains(needle), "{rego}: {err}");
    }
    let err = e
        .set_attestation_policy("custom", "package policy\nimport rego.v1\ntrust_claims := {\"hardware\": 300}")
        .unwrap_err();
    assert!(matches!(err, Error::ParsePolicy { .. }) && err.to_string().contains("-128..=127"), "{err}");
    let err = e.set_attestation_policy("custom", "package policy\nimport rego.v1\nx := 1").unwrap_err();
    assert!(err.to_string().contains("trust_claims"), "{err}");
    let err = e.set_attestation_policy("../escape", DEFAULT_ATTESTATION_POLICY).unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
    assert_eq!(e.list_attestation_policies().unwrap(), vec!["default".to_string()]);
    assert!(e.resource_policy().unwrap().contains("Arca default resource policy"), "rejected uploads change nothing");

    // A valid custom resource policy: everything under repo "public", nothing else.
    let custom =
        "package policy\nimport rego.v1\ndefault allow := false\nallow if data[\"resource-path\"][0] == \"public\"\n";
    e.set_resource_policy(custom).unwrap();
    let reopened = PolicyEngine::new(Arc::new(FsStore::open(dir.path()).unwrap()));
    assert_eq!(reopened.resource_policy().unwrap(), custom);
    let anyone = json!({});
    assert!(reopened.authorize_resource(&anyone, &["public", "a", "b"], &Map::new()).unwrap().allow);
    let d = reopened.authorize_resource(&anyone, &["secret", "a", "b"], &Map::new()).unwrap();
    assert_eq!((d.allow, d.rule.as_str()), (false, "allow"));
    assert!(d.reason.contains("expected true, found false"), "{}", d.reason);
}

#[test]
fn custom_attestation_policy_in_trustee_style() {
    let e = engine();
    // Claims as separate rules, and query_reference_value as trustee's policies call it.
    let rego = r#"package policy
import rego.v1
default executables := 33
default hardware := 97
executables := 3 if input.snp.measurement in query_reference_value("snp_launch_measurement")
hardware := 2 if input.snp.reported_tcb.microcode >= 115
"#;
    e.set_attestation_policy("trustee-style", rego).unwrap();
    assert_eq!(e.list_attestation_policies().unwrap(), vec!["default".to_string(), "trustee-style".to_string()]);
    let claims = snp_milan();
    let refs = reference(json!({"snp_launch_measurement": claims["measurement"].clone()}));
    let a = e.appraise_with("trustee-style", "snp", &claims, &refs).unwrap();
    assert_eq!(a.trust_vector, tv(3, 2, 0));
    assert_eq!(a.status, Status::Affirming);
    assert_eq!(a.policy_id, "trustee-style");
    let a = e.appraise_with("trustee-style", "snp", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(33, 2, 0));
    let err = e.appraise_with("missing", "snp", &claims, &Map::new()).unwrap_err();
    assert!(matches!(err, Error::PolicyEngine { .. }), "{err}");
}

/// SE claims for the s390-tools secure-guest header: the tags come from the
/// verifier's header parser; full SE verification needs a guest's response,
/// which the vectors do not have, so the remaining fields are those of a
/// verified response (`measurement_verified` is always true in claims).
fn se_claims() -> Value {
    let header = arca_verifier::se::header::parse_header(&vector("se/s390tools-secure-guest-v1.hdr")).unwrap();
    let tags = header.tags;
    serde_json::to_value(arca_verifier::se::SeClaims {
        cuid: "00".repeat(16),
        pld: hex::encode(tags.pld),
        ald: hex::encode(tags.ald),
        tld: hex::encode(tags.tld),
        tag: hex::encode(tags.tag),
        image_phkh: None,
        attestation_phkh: None,
        secret_store_hash: None,
        firmware_state: None,
        measurement: "00".repeat(64),
        measurement_verified: true,
        nonce: None,
        host_key_verified: true,
        user_data: String::new(),
        additional_data: String::new(),
        report_data: "00".repeat(64),
        init_data: String::new(),
    })
    .unwrap()
}

#[test]
fn se_image_digests_must_be_registered() {
    let claims = se_claims();
    assert!(claims["pld"].as_str().unwrap().starts_with("be94b5ea"), "README: PLD of the header");
    let e = engine();
    let a = e.appraise("se", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(33, 2, 2));
    assert_eq!(a.status, Status::Warning);
    assert_eq!(a.reasons.len(), 3, "{:?}", a.reasons);
    let refs = reference(json!({
        "se_pld": claims["pld"].clone(),
        "se_ald": claims["ald"].clone(),
        "se_tld": claims["tld"].clone(),
    }));
    let a = e.appraise("se", &claims, &refs).unwrap();
    assert_eq!(a.trust_vector, tv(2, 2, 2));
    assert_eq!(a.status, Status::Affirming);
}

#[test]
fn oversized_policy_is_rejected() {
    let e = engine();
    let big = format!("package policy\n{}", "# padding\n".repeat(120_000));
    let err = e.set_resource_policy(&big).unwrap_err();
    assert!(matches!(err, Error::TooLarge { what: "policy", .. }), "{err}");
}

/// `PolicyEngine` is shared by the server's request handlers across threads.
#[test]
fn policy_engine_is_send_and_sync() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<PolicyEngine>();
}

/// An attestation policy whose every output names its generation `g`, and
/// whose `sourced-data` is the number of reference values under `x` (so the
/// per-call binding of `query_reference_value` is visible too).
fn generation_policy(g: i8) -> String {
    format!(
        "package policy\nimport rego.v1\n\
         trust_claims := {{\"executables\": {g}, \"hardware\": {g}, \"configuration\": {g}, \
         \"sourced-data\": count(query_reference_value(\"x\"))}}\n\
         reasons := {{\"generation {g}\"}}\n"
    )
}

fn generation_resource_policy(path_head: &str) -> String {
    format!("package policy\nimport rego.v1\ndefault allow := false\nallow if data[\"resource-path\"][0] == \"{path_head}\"\n")
}

#[test]
fn cached_engine_picks_up_a_newly_set_policy_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
    let e = PolicyEngine::new(Arc::clone(&store));
    // Another engine over the same store, with its own cache, warmed before the change.
    let other = PolicyEngine::new(Arc::clone(&store));
    let claims = snp_milan();
    let refs = reference(json!({"x": ["a", "b"]}));
    let path = ["alpha", "key", "one"];
    let affirming = token(&[("snp", Status::Affirming)]);

    for engine in [&e, &other] {
        assert_eq!(engine.appraise("snp", &claims, &refs).unwrap().trust_vector, tv(33, 2, 2));
        assert!(engine.authorize_resource(&affirming, &path, &Map::new()).unwrap().allow);
    }

    for g in [5, 7, 5] {
        e.set_attestation_policy("default", &generation_policy(g)).unwrap();
        e.set_resource_policy(&generation_resource_policy(if g == 7 { "beta" } else { "alpha" })).unwrap();
        for engine in [&e, &other] {
            let a = engine.appraise("snp", &claims, &refs).unwrap();
            let expected = TrustVector { sourced_data: 2, ..tv(g, g, g) };
            assert_eq!((a.trust_vector, a.reasons), (expected, vec![format!("generation {g}")]), "generation {g}");
            let d = engine.authorize_resource(&json!({}), &path, &Map::new()).unwrap();
            assert_eq!(d.allow, g != 7, "generation {g}: {d:?}");
        }
    }

    // A rejected upload leaves the cached policy in force.
    assert!(e.set_attestation_policy("default", "package policy\ntrust_claims := {").is_err());
    assert_eq!(other.appraise("snp", &claims, &refs).unwrap().reasons, vec!["generation 5".to_string()]);
    assert_eq!(e.appraise("snp", &claims, &refs).unwrap().reasons, vec!["generation 5".to_string()]);

    // Written behind both engines' backs (as another process would): seen on the next call.
    store.put(arca_kbs::storage::Namespace::AttestationPolicy, "default", generation_policy(9).as_bytes()).unwrap();
    for engine in [&e, &other] {
        assert_eq!(engine.appraise("snp", &claims, &refs).unwrap().trust_vector.executables, 9);
    }
}

/// Releases paths under `even` in even generations, under `odd` in odd ones; denials name the generation.
fn parity_resource_policy(g: i8) -> String {
    let head = if g % 2 == 0 { "even" } else { "odd" };
    format!(
        "package policy\nimport rego.v1\ndefault allow := false\nallow if data[\"resource-path\"][0] == \"{head}\"\n\
         deny contains \"parity: generation {g}\" if not allow\n"
    )
}

#[test]
fn concurrent_appraisals_while_the_policy_is_replaced_see_whole_policies() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
    let readers = PolicyEngine::new(Arc::clone(&store));
    let writer = PolicyEngine::new(Arc::clone(&store));
    writer.set_attestation_policy("default", &generation_policy(2)).unwrap();
    writer.set_resource_policy(&parity_resource_policy(2)).unwrap();
    let claims = Arc::new(sample());
    let done = Arc::new(AtomicBool::new(false));

    let threads: Vec<_> = (0..4usize)
        .map(|t| {
            let (e, claims, done) = (readers.clone(), Arc::clone(&claims), Arc::clone(&done));
            std::thread::spawn(move || {
                // Each thread has its own reference values: `t` of them under `x`.
                let refs = reference(json!({ "x": (0..t).map(|i| i.to_string()).collect::<Vec<_>>() }));
                let mut seen = std::collections::BTreeSet::new();
                let mut calls = 0u32;
                while !done.load(Ordering::Acquire) || calls < 5 {
                    let a = e.appraise("sample", &claims, &refs).expect("appraisal during replacement");
                    let g = a.trust_vector.executables;
                    let expected = TrustVector { sourced_data: t as i8, ..tv(g, g, g) };
                    assert_eq!(a.trust_vector, expected, "thread {t}: a mix of policies or of reference values");
                    assert_eq!(a.reasons, vec![format!("generation {g}")], "thread {t}");
                    let d = e.authorize_resource(&json!({}), &["even", "k", "v"], &Map::new()).unwrap();
                    if !d.allow {
                        // Only odd generations deny, and they say which generation they are.
                        let odd = d.reason.strip_prefix("parity: generation ").and_then(|g| g.parse::<i8>().ok());
                        assert!(odd.is_some_and(|g| g % 2 == 1), "thread {t}: {d:?}");
                    }
                    seen.insert(g);
                    calls += 1;
                }
                seen
            })
        })
        .collect();

    for g in 3..=12 {
        std::thread::sleep(std::time::Duration::from_millis(15));
        writer.set_attestation_policy("default", &generation_policy(g)).unwrap();
        writer.set_resource_policy(&parity_resource_policy(g)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(15));
    done.store(true, Ordering::Release);
    let mut seen = std::collections::BTreeSet::new();
    for t in threads {
        seen.extend(t.join().expect("reader thread"));
    }
    assert!(seen.len() >= 2, "readers saw only generations {seen:?}; the replacement was not observed");
    // After the last replacement, every engine evaluates the last policy.
    let a = readers.appraise("sample", &claims, &Map::new()).unwrap();
    assert_eq!(a.trust_vector, tv(12, 12, 12));
    assert!(readers.authorize_resource(&json!({}), &["even", "k", "v"], &Map::new()).unwrap().allow);
}

/// The analysed resource engine is kept per path and query: interleaved
/// requests for different paths, queries and tokens each get their own
/// decision, never one cached for another.
#[test]
fn warm_resource_engines_keep_paths_queries_and_tokens_apart() {
    let e = engine();
    let rego = "package policy\nimport rego.v1\ndefault allow := false\n\
                allow if { data[\"resource-path\"][0] == \"public\"; input.ok == true }\n\
                allow if { data.query.v == \"1\"; input.ok == true }\n";
    e.set_resource_policy(rego).unwrap();
    let (good, bad) = (json!({"ok": true}), json!({"ok": false}));
    let mut q1 = Map::new();
    q1.insert("v".into(), json!("1"));
    for _ in 0..3 {
        assert!(e.authorize_resource(&good, &["public", "a", "b"], &Map::new()).unwrap().allow);
        assert!(!e.authorize_resource(&bad, &["public", "a", "b"], &Map::new()).unwrap().allow);
        assert!(!e.authorize_resource(&good, &["secret", "a", "b"], &Map::new()).unwrap().allow);
        assert!(e.authorize_resource(&good, &["secret", "a", "b"], &q1).unwrap().allow);
        assert!(!e.authorize_resource(&bad, &["secret", "a", "b"], &q1).unwrap().allow);
    }
}
