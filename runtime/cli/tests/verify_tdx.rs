//! `arca verify --tee tdx` on the real TDX quotes and DCAP collateral.

mod common;

use common::{assert_one_line_error, claims, vector, verify, TempFile};

const QUOTE: &str = "tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.bin";
const COLLATERAL: &str = "tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f.collateral.json";
/// The earliest nextUpdate of the collateral, minus one second.
const LAST_VALID: &str = "2025-07-19T10:00:34Z";

#[test]
fn quote_verifies_up_to_date_inside_the_collateral_window() {
    let (code, out, err) = verify(&[
        "--tee",
        "tdx",
        "--evidence",
        &vector(QUOTE),
        "--collateral",
        &vector(COLLATERAL),
        "--at",
        LAST_VALID,
    ]);
    assert_eq!(code, 0, "{err}");
    let c = claims(&out);
    assert_eq!(c["tee"], "tdx");
    assert_eq!(c["tcb_status"], "UpToDate");
    assert_eq!(c["advisory_ids"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        c["mrtd"],
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert_eq!(c["fmspc"], "b0c06f000000");
}

#[test]
fn expired_collateral_is_rejected_with_what_expired() {
    for (at, what) in [("2025-07-20T00:00:00Z", "TCB info"), ("2026-11-15T00:00:00Z", "CRL")] {
        let (code, out, err) =
            verify(&["--tee", "tdx", "--evidence", &vector(QUOTE), "--collateral", &vector(COLLATERAL), "--at", at]);
        assert_eq!(code, 1, "{err}");
        assert_one_line_error(&out, &err);
        assert!(err.contains(what) && err.contains("is not valid at"), "{at}: {err}");
    }
}

#[test]
fn v5_quote_without_a_matching_tcb_level_is_rejected() {
    let (code, out, err) = verify(&[
        "--tee",
        "tdx",
        "--evidence",
        &vector("tdx/dcapqvl-tdx-quote-v5-fmspc90c06f-notcblevel.bin"),
        "--collateral",
        &vector("tdx/dcapqvl-tdx-quote-v5-fmspc90c06f-notcblevel.collateral.json"),
        "--at",
        "2026-02-19T00:00:00Z",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("no matching TCB level"), "{err}");
}

#[test]
fn tampered_quote_and_wrong_report_data_are_rejected() {
    let mut quote = std::fs::read(vector(QUOTE)).unwrap();
    quote[200] ^= 0x01; // inside the TD report body
    let bad = TempFile::new("tdx-tampered.bin", &quote);
    let (code, out, err) =
        verify(&["--tee", "tdx", "--evidence", &bad.arg(), "--collateral", &vector(COLLATERAL), "--at", LAST_VALID]);
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("signature"), "{err}");

    let (code, out, err) = verify(&[
        "--tee",
        "tdx",
        "--evidence",
        &vector(QUOTE),
        "--collateral",
        &vector(COLLATERAL),
        "--at",
        LAST_VALID,
        "--report-data",
        "11",
    ]);
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("report data mismatch"), "{err}");

    let short = TempFile::new("tdx-short.bin", &quote[..100]);
    let (code, out, err) = verify(&["--tee", "tdx", "--evidence", &short.arg(), "--collateral", &vector(COLLATERAL)]);
    assert_eq!(code, 2, "{err}");
    assert_one_line_error(&out, &err);
}
