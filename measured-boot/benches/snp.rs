//! In-process cost of an SNP launch measurement with the 4 MiB Debian
//! AmdSev firmware (1 and 64 vCPUs), and of the firmware page hashing
//! alone. The whole-process comparison with sev-snp-measure is
//! `scripts/bench-measure.sh` (`make bench`).
//!
//! Reads the shared vectors (`$ARCA_VECTORS` or `../shared/vectors` beside
//! the repository).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use arca_measure::snp::{self, SevMode, SnpLaunch, VcpuSpec};
use criterion::{criterion_group, criterion_main, Criterion};

fn vector(rel: &str) -> Vec<u8> {
    let dir = std::env::var("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let path = dir.join("measurement").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn bench_snp(c: &mut Criterion) {
    let firmware = vector("firmware/debian-sid-ovmf-amdsev-2026.08+ds-2/OVMF.amdsev.fd");
    let mut launch = SnpLaunch::new(SevMode::Snp, firmware.clone());
    launch.kernel = Some(vector("inputs/kernel-a.bin"));
    launch.initrd = Some(vector("inputs/initrd-a.bin"));
    launch.cmdline = Some("console=ttyS0 loglevel=7".into());
    launch.vcpu = Some(VcpuSpec::Type("EPYC-v4".into()));
    c.bench_function("snp/measure_4mib_1vcpu", |b| b.iter(|| snp::measure(black_box(&launch)).expect("measures")));
    launch.vcpus = 64;
    c.bench_function("snp/measure_4mib_64vcpu", |b| b.iter(|| snp::measure(black_box(&launch)).expect("measures")));
    c.bench_function("snp/page_digests_4mib", |b| b.iter(|| snp::page_digests(black_box(&firmware))));
}

criterion_group!(benches, bench_snp);
criterion_main!(benches);
