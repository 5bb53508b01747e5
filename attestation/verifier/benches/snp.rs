//! Cost of verifying one SNP attestation report, with the VCEK chain cached
//! (the steady state of a KBS seeing one platform again) and built afresh.
//!
//! Reads the shared vectors (`$ARCA_VECTORS` or `../shared/vectors` beside
//! the repository).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use arca_verifier::snp::{self, SnpVerifier};
use arca_verifier::{Endorsements, Evidence, EvidenceFormat, VerifyOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use time::macros::datetime;

fn vector(rel: &str) -> Vec<u8> {
    let dir = std::env::var("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"));
    let path = dir.join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn bench_snp(c: &mut Criterion) {
    let report = vector("attestation/snp/trustee-milan-vcek-report-v2.bin");
    let endorsements =
        Endorsements { vcek: Some(vector("attestation/snp/trustee-milan-vcek.der")), ..Default::default() };
    let options = VerifyOptions::at(datetime!(2026-11-15 0:00 UTC));
    let evidence = Evidence { bytes: &report, format: EvidenceFormat::Raw };

    let verifier = SnpVerifier::new();
    verifier.verify(&evidence, &endorsements, &options).expect("vector verifies");
    assert_eq!(verifier.cached(), 1);

    c.bench_function("snp/verify_report_chain_cached", |b| {
        b.iter(|| verifier.verify(black_box(&evidence), &endorsements, &options).expect("verifies"))
    });
    c.bench_function("snp/verify_report_chain_uncached", |b| {
        b.iter(|| snp::verify(black_box(&evidence), &endorsements, &options).expect("verifies"))
    });
}

criterion_group!(benches, bench_snp);
criterion_main!(benches);
