//! Robustness: the verifier never panics, whatever the evidence.
//!
//! Every file under the shared attestation vectors is fed, as evidence of
//! every TEE in both formats, to [`arca_verifier::verify`], first intact and
//! then after many seeded mutations (bit flips, byte overwrites, truncations,
//! length-field-sized insertions). A panic fails the test and names the
//! input that caused it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use arca_verifier::{verify, Endorsements, Evidence, EvidenceFormat, Tee, VerifyOptions};

const TEES: [Tee; 5] = [Tee::Snp, Tee::Tdx, Tee::Cca, Tee::Se, Tee::Sample];
const MUTATIONS_PER_FILE: usize = 120;

fn vectors() -> PathBuf {
    std::env::var_os("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"))
        .join("attestation")
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_below(&path, out);
        } else if path.extension().is_none_or(|e| e != "md") {
            out.push(path);
        }
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.is_empty() {
        return vec![rng.next() as u8];
    }
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => out[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => out.truncate(at),
            3 => {
                let extra: Vec<u8> = (0..rng.below(16) + 1).map(|_| rng.next() as u8).collect();
                out.splice(at..at, extra);
            }
            4 => {
                // Large little-endian length where a size field may sit.
                let end = (at + 4).min(out.len());
                for b in &mut out[at..end] {
                    *b = 0xff;
                }
            }
            _ => {
                let from = rng.below(out.len());
                let len = rng.below(32).min(out.len() - from).min(out.len() - at);
                let chunk = out[from..from + len].to_vec();
                out[at..at + len].copy_from_slice(&chunk);
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

fn check(path: &Path, bytes: &[u8], failures: &mut Vec<String>) {
    let mut options = VerifyOptions::at(time::macros::datetime!(2025-07-19 10:00:34 UTC));
    options.allow_sample = true;
    for tee in TEES {
        for format in [EvidenceFormat::Raw, EvidenceFormat::Json] {
            let evidence = Evidence { bytes, format };
            let outcome = catch_unwind(AssertUnwindSafe(|| verify(tee, &evidence, &Endorsements::default(), &options)));
            if outcome.is_err() {
                failures.push(format!(
                    "panic verifying {} as {tee:?} {format:?} ({} bytes): {}",
                    path.display(),
                    bytes.len(),
                    hex::encode(bytes)
                ));
            }
        }
    }
}

#[test]
fn vectors_and_their_mutations_never_panic() {
    let mut files = Vec::new();
    files_below(&vectors(), &mut files);
    files.sort();
    assert!(files.len() > 40, "expected the shared attestation vectors, found {} files", files.len());
    let mut failures = Vec::new();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x5eed_a5ca_1ab1_e5ed);
    for path in &files {
        let bytes = std::fs::read(path).expect("read vector");
        check(path, &bytes, &mut failures);
        for _ in 0..MUTATIONS_PER_FILE {
            check(path, &mutate(&mut rng, &bytes), &mut failures);
        }
    }
    std::panic::set_hook(default_hook);
    assert!(failures.is_empty(), "{} panics; first: {}", failures.len(), failures[0]);
}
