//! `arca verify --tee cca` on the Arm CCA example token.

mod common;

use common::{assert_one_line_error, claims, vector, verify, TempFile};

#[test]
fn example_token_verifies_with_stores() {
    let (code, out, err) = verify(&[
        "--tee",
        "cca",
        "--evidence",
        &vector("cca/trustee-cca-example-token.cbor"),
        "--chain",
        &vector("cca/trustee-tastore.json"),
        "--collateral",
        &vector("cca/trustee-rvstore.json"),
    ]);
    assert_eq!(code, 0, "{err}");
    let c = claims(&out);
    assert_eq!(c["tee"], "cca");
    assert_eq!(
        c["realm"]["rim"],
        "ae87fbf7f105e71a7827cb6f0896889c73d2beaf4830d4f9cb05e3e96c3fc7b4faa04caf36a26bd094cf9c7b738617e4c189aaee184dedda5d7a03c39dbdac7c"
    );
    assert_eq!(c["platform"]["config"], "cfcfcfcf");
    assert_eq!(c["platform"]["sw_components"].as_array().map(Vec::len), Some(13));
    assert_eq!(c["reference_values"]["matched"], true);
    assert_eq!(c["init_data"], "0".repeat(128));
}

#[test]
fn tampered_token_and_missing_anchor_are_rejected() {
    let mut token = std::fs::read(vector("cca/trustee-cca-example-token.cbor")).unwrap();
    let at = token.len() - 200;
    token[at] ^= 0x01;
    let bad = TempFile::new("cca-tampered.cbor", &token);
    let (code, out, err) =
        verify(&["--tee", "cca", "--evidence", &bad.arg(), "--chain", &vector("cca/trustee-tastore.json")]);
    assert!(code == 1 || code == 2, "{err}");
    assert_one_line_error(&out, &err);

    let (code, out, err) = verify(&["--tee", "cca", "--evidence", &vector("cca/trustee-cca-example-token.cbor")]);
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("missing endorsement"), "{err}");
}
