//! Per-call cost of the two policy evaluations of one attestation: appraising
//! real SNP claims with the default attestation policy, and authorizing a
//! resource for the resulting token with the default resource policy. The
//! policies live in a filesystem store, as in the server.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use arca_kbs::policy::{PolicyEngine, Status};
use arca_kbs::rvps::{ReferenceValues, RvpsMessage};
use arca_kbs::storage::{FsStore, Store};
use arca_verifier::{Endorsements, Evidence, Tee, VerifyOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

fn vector(rel: &str) -> Vec<u8> {
    let dir = std::env::var("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"));
    let path = dir.join("attestation").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn snp_claims() -> Value {
    let endorsements = Endorsements { vcek: Some(vector("snp/trustee-milan-vcek.der")), ..Default::default() };
    let evidence = vector("snp/trustee-milan-vcek-report-v2.bin");
    let options = VerifyOptions::at(OffsetDateTime::now_utc());
    arca_verifier::verify(Tee::Snp, &Evidence::detect(&evidence), &endorsements, &options).unwrap().to_json()
}

/// An EAR-shaped token body with one affirming submod (what the resource policy reads).
fn token(appraisal_status: Status) -> Value {
    json!({
        "eat_profile": "tag:github.com,2023:veraison/ear",
        "submods": { "cpu0": { "ear.status": appraisal_status.as_str() } }
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
    let engine = PolicyEngine::new(Arc::clone(&store));

    let claims = snp_claims();
    let rv = ReferenceValues::new(Arc::clone(&store));
    let doc = json!({ "snp_launch_measurement": claims["measurement"] });
    rv.ingest(&RvpsMessage { version: "0.1.0".into(), r#type: "arca".into(), payload: doc.to_string() }).unwrap();
    let reference = rv.all().unwrap();

    // The measured calls must be the successful path.
    let appraisal = engine.appraise("snp", &claims, &reference).unwrap();
    assert_eq!(appraisal.status, Status::Affirming, "{appraisal:?}");
    let token = token(appraisal.status);
    let path = ["default", "key", "one"];
    assert!(engine.authorize_resource(&token, &path, &Map::new()).unwrap().allow);

    c.bench_function("appraise (snp, default policy)", |b| {
        b.iter(|| engine.appraise("snp", black_box(&claims), black_box(&reference)).unwrap())
    });
    c.bench_function("authorize_resource (default policy)", |b| {
        b.iter(|| engine.authorize_resource(black_box(&token), black_box(&path), &Map::new()).unwrap())
    });
    c.bench_function("appraise + authorize_resource", |b| {
        b.iter(|| {
            let a = engine.appraise("snp", black_box(&claims), black_box(&reference)).unwrap();
            engine.authorize_resource(&token, &path, &Map::new()).unwrap().allow && a.status == Status::Affirming
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
