//! Differential tests: every vector quote with every collateral set, at
//! several times, gives the same verdict here as in `dcap-qvl` 0.7.1.

use time::macros::datetime;
use time::OffsetDateTime;

use super::tests::{collateral_of, quote_of, DCAP_SGX, DCAP_V4, DCAP_V5, TRUSTEE_V4, TRUSTEE_V4_00A06D08, TRUSTEE_V5};
use super::*;
use crate::test_support::read_vector;

/// A verdict reduced to what both verifiers can name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Ok { status: String, advisory_ids: Vec<String> },
    CollateralExpired,
    CertificateExpired,
    NoMatchingTcbLevel,
    TcbRevoked,
    Mismatch,
    BadSignature,
    Other,
}

fn ours(quote: &[u8], collateral: &[u8], at: OffsetDateTime) -> Verdict {
    let result = parse_collateral(collateral)
        .and_then(|c| VerifiedCollateral::new(&c, &roots::trusted_roots(None)?, at))
        .and_then(|v| verify_quote(quote, &v, at));
    match result {
        Ok(v) => Verdict::Ok { status: v.tcb.status.name().to_string(), advisory_ids: v.tcb.advisory_ids },
        Err(Error::CollateralExpired { .. }) => Verdict::CollateralExpired,
        Err(Error::CertificateExpired { .. }) => Verdict::CertificateExpired,
        Err(Error::NoMatchingTcbLevel(_)) => Verdict::NoMatchingTcbLevel,
        Err(Error::TcbRevoked(_)) => Verdict::TcbRevoked,
        Err(Error::Mismatch { .. }) => Verdict::Mismatch,
        Err(Error::BadSignature { .. }) => Verdict::BadSignature,
        Err(e) => {
            eprintln!("ours: {e}");
            Verdict::Other
        }
    }
}

/// dcap-qvl's error chain mapped to our error classes by its messages.
fn reference(quote: &[u8], collateral: &[u8], at: OffsetDateTime) -> Verdict {
    let collateral: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(collateral).unwrap();
    let secs = u64::try_from(at.unix_timestamp()).unwrap();
    match dcap_qvl::verify::verify(quote, &collateral, secs) {
        Ok(report) => Verdict::Ok { status: report.status, advisory_ids: report.advisory_ids },
        Err(e) => {
            let text = format!("{e:#}");
            if text.contains("CertExpired") || text.contains("CertNotValidYet") {
                Verdict::CertificateExpired
            } else if text.contains("expired") || text.contains("Expired") || text.contains("in the future") {
                Verdict::CollateralExpired
            } else if text.contains("No matching TCB level")
                || text.contains("No TDX module identity")
                || text.contains("below minimum")
            {
                Verdict::NoMatchingTcbLevel
            } else if text.contains("Revoked") {
                Verdict::TcbRevoked
            } else if text.to_lowercase().contains("signature is invalid") {
                Verdict::BadSignature
            } else if text.contains("mismatch")
                || text.contains("non-TDX")
                || text.contains("non-SGX")
                || text.contains("Unsupported QE Identity id/version")
            {
                Verdict::Mismatch
            } else {
                eprintln!("dcap-qvl: {text}");
                Verdict::Other
            }
        }
    }
}

fn flipped(mut bytes: Vec<u8>, pos: usize) -> Vec<u8> {
    bytes[pos] ^= 0x10;
    bytes
}

#[test]
fn verdicts_equal_dcap_qvl() {
    let quotes = [
        ("dcap v4", quote_of(DCAP_V4)),
        ("dcap v5", quote_of(DCAP_V5)),
        ("dcap sgx v3", quote_of(DCAP_SGX)),
        ("trustee v4 50806f", read_vector(TRUSTEE_V4)),
        ("trustee v5", read_vector(TRUSTEE_V5)),
        ("trustee v4 00a06d08", read_vector(TRUSTEE_V4_00A06D08)),
        ("dcap v4, MRTD byte changed", flipped(quote_of(DCAP_V4), quote::HEADER_SIZE + 140)),
        ("dcap v4, QE report byte changed", flipped(quote_of(DCAP_V4), 632 + 4 + 128 + 6 + 300)),
        ("dcap v4, attestation key byte changed", flipped(quote_of(DCAP_V4), 632 + 4 + 64 + 9)),
    ];
    let sets = [
        (
            DCAP_V4,
            vec![
                datetime!(2025-06-20 0:00 UTC),
                datetime!(2025-07-19 10:00:34 UTC),
                datetime!(2025-07-19 10:05 UTC),
                datetime!(2025-07-20 0:00 UTC),
                datetime!(2026-11-15 0:00 UTC),
            ],
        ),
        (DCAP_V5, vec![datetime!(2026-02-19 0:00 UTC), datetime!(2026-03-20 0:00 UTC), datetime!(2026-11-15 0:00 UTC)]),
        (
            DCAP_SGX,
            vec![datetime!(2025-07-01 0:00 UTC), datetime!(2025-07-19 10:00:00 UTC), datetime!(2026-11-15 0:00 UTC)],
        ),
    ];
    let mut compared = 0;
    let mut successes = 0;
    for (set, times) in &sets {
        let collateral = collateral_of(set);
        for (name, quote) in &quotes {
            // dcap-qvl rejects debug TDs after appraisal; this verifier reports them in the claims.
            let debug = parse_quote(quote)
                .ok()
                .and_then(|q| q.td_report().map(|t| TdAttributes::decode(t.td_attributes).debug))
                .unwrap_or(false);
            for at in times {
                let (a, b) = (ours(quote, &collateral, *at), reference(quote, &collateral, *at));
                if debug && matches!(a, Verdict::Ok { .. }) {
                    continue;
                }
                assert_eq!(a, b, "{name} with {set} collateral at {at}");
                compared += 1;
                successes += usize::from(matches!(a, Verdict::Ok { .. }));
            }
        }
    }
    assert_eq!(compared, quotes.len() * 11);
    assert!(successes >= 3, "only {successes} successful verifications compared");
}
