//! TDX quote verification time: this crate against `dcap-qvl` 0.7.1 on the
//! same quote, collateral and verification time, in the same run.
//!
//! Three measurements:
//! - `arca/quote` — [`verify_quote`] with collateral verified once beforehand
//!   (the way a verifier service keeps collateral between quotes);
//! - `arca/full` — [`arca_verifier::verify`] from the evidence and collateral
//!   bytes, parsing and verifying the collateral every time;
//! - `dcap-qvl/verify` — `dcap_qvl::verify::verify`, which also does
//!   everything every time.
//!
//! After criterion's report a side-by-side table gives the median time per
//! verification of each and the ratio to `dcap-qvl`. Vectors are read from
//! `$ARCA_VECTORS` or `../shared/vectors` beside the repository.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arca_verifier::tdx::{parse_collateral, roots, verify_quote, VerifiedCollateral};
use arca_verifier::{Endorsements, Evidence, Tee, VerifyOptions};
use criterion::Criterion;
use std::hint::black_box;
use time::macros::datetime;

const QUOTE: &str = "attestation/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.bin";
const COLLATERAL: &str = "attestation/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.collateral.json";

fn vector(rel: &str) -> Vec<u8> {
    let dir = std::env::var("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"));
    let path = dir.join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Per-iteration times collected from criterion's samples.
#[derive(Default)]
struct Samples(RefCell<Vec<f64>>);

impl Samples {
    fn record(&self, iters: u64, elapsed: Duration) {
        if iters > 0 {
            self.0.borrow_mut().push(elapsed.as_secs_f64() / iters as f64);
        }
    }

    fn median(&self) -> f64 {
        let mut v = self.0.borrow().clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

fn timed(samples: &Samples, iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let elapsed = start.elapsed();
    samples.record(iters, elapsed);
    elapsed
}

fn main() {
    let quote = vector(QUOTE);
    let collateral_json = vector(COLLATERAL);
    let at = datetime!(2025-07-19 10:00:34 UTC);
    let secs = u64::try_from(at.unix_timestamp()).expect("time after 1970");

    // Both verifiers must agree before their times mean anything.
    let collateral = parse_collateral(&collateral_json).expect("collateral parses");
    let trusted = roots::trusted_roots(None).expect("built-in root");
    let verified = VerifiedCollateral::new(&collateral, &trusted, at).expect("collateral verifies");
    let ours = verify_quote(&quote, &verified, at).expect("quote verifies");
    let reference: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(&collateral_json).expect("dcap-qvl collateral");
    let theirs = dcap_qvl::verify::verify(&quote, &reference, secs).expect("dcap-qvl verifies");
    assert_eq!(ours.tcb.status.name(), theirs.status);
    assert_eq!(ours.tcb.advisory_ids, theirs.advisory_ids);

    let endorsements = Endorsements { collateral: Some(collateral_json.clone()), ..Default::default() };
    let options = VerifyOptions::at(at);
    let (arca_quote, arca_full, dcap) = (Samples::default(), Samples::default(), Samples::default());

    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(4));
    let mut group = c.benchmark_group("tdx-verify");
    group.bench_function("arca/quote", |b| {
        b.iter_custom(|iters| {
            timed(&arca_quote, iters, || {
                black_box(verify_quote(black_box(&quote), &verified, at).is_ok());
            })
        })
    });
    group.bench_function("arca/full", |b| {
        b.iter_custom(|iters| {
            timed(&arca_full, iters, || {
                let evidence = Evidence::detect(black_box(&quote));
                black_box(arca_verifier::verify(Tee::Tdx, &evidence, &endorsements, &options).is_ok());
            })
        })
    });
    group.bench_function("dcap-qvl/verify", |b| {
        b.iter_custom(|iters| {
            timed(&dcap, iters, || {
                black_box(dcap_qvl::verify::verify(black_box(&quote), &reference, secs).is_ok());
            })
        })
    });
    group.finish();
    c.final_summary();

    let reference_time = dcap.median();
    println!();
    println!("TDX quote verification, median per quote (same quote, collateral and time):");
    println!("{:<44} {:>12} {:>18}", "verifier", "time", "dcap-qvl / this");
    for (name, samples) in [
        ("arca verify_quote (collateral pre-verified)", &arca_quote),
        ("arca verify (collateral parsed and checked)", &arca_full),
        ("dcap-qvl 0.7.1 verify", &dcap),
    ] {
        let t = samples.median();
        println!("{name:<44} {:>9.1} µs {:>17.2}x", t * 1e6, reference_time / t);
    }
}
