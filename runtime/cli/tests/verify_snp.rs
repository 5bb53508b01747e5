//! `arca verify --tee snp` on the real SEV-SNP vectors.

mod common;

use common::{assert_one_line_error, claims, vector, verify, TempFile};

const MILAN_MEASUREMENT: &str =
    "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c";

#[test]
fn milan_vcek_report_verifies_with_built_in_roots() {
    let (code, out, err) = verify(&[
        "--tee",
        "snp",
        "--evidence",
        &vector("snp/trustee-milan-vcek-report-v2.bin"),
        "--vcek",
        &vector("snp/trustee-milan-vcek.der"),
        "--report-data",
        "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2",
        "--init-data-digest",
        &"00".repeat(32),
    ]);
    assert_eq!(code, 0, "{err}");
    let c = claims(&out);
    assert_eq!(c["tee"], "snp");
    assert_eq!(c["measurement"], MILAN_MEASUREMENT);
    assert_eq!(c["processor"], "milan");
    assert_eq!(c["signing_key"], "vcek");
    assert_eq!(c["policy"]["raw"], 0x3001f);
    assert_eq!(c["reported_tcb"]["microcode"], 115);
}

#[test]
fn hex_report_with_pem_chain_verifies() {
    let (code, out, err) = verify(&[
        "--tee",
        "snp",
        "--evidence",
        &vector("snp/virtee-milan-report-v2.hex"),
        "--evidence-format",
        "hex",
        "--vcek",
        &vector("snp/virtee-milan-vcek.der"),
        "--chain",
        &vector("snp/virtee-milan-ask-ark.pem"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        claims(&out)["measurement"],
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
    );
}

#[test]
fn genoa_trustee_json_verifies() {
    let (code, out, err) = verify(&["--tee", "snp", "--evidence", &vector("snp/trustee-genoa-snp-evidence.json")]);
    assert_eq!(code, 0, "{err}");
    let c = claims(&out);
    assert_eq!(c["processor"], "genoa");
    assert_eq!(c["reported_tcb"]["bootloader"], 10);
}

#[test]
fn expired_vlek_is_rejected_now_and_accepted_in_its_window() {
    let args = |at: Option<&'static str>| {
        let mut a = vec![
            "--tee".to_string(),
            "snp".into(),
            "--evidence".into(),
            vector("snp/trustee-milan-vlek-report-v3.bin"),
            "--vcek".into(),
            vector("snp/trustee-milan-vlek.der"),
        ];
        if let Some(at) = at {
            a.extend(["--at".to_string(), at.to_string()]);
        }
        a
    };
    let now = args(Some("2026-11-15T00:00:00Z"));
    let (code, out, err) = verify(&now.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("SEV-VLEK is not valid at 2026-11-15T00:00:00Z"), "{err}");

    let then = args(Some("2025-06-01T00:00:00Z"));
    let (code, out, err) = verify(&then.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    assert_eq!(claims(&out)["signing_key"], "vlek");
}

#[test]
fn corrupted_reports_fail_with_the_right_reason() {
    let report = std::fs::read(vector("snp/trustee-milan-vcek-report-v2.bin")).unwrap();
    let vcek = vector("snp/trustee-milan-vcek.der");
    for (offset, expect) in [(42usize, "signature"), (384, "bootloader")] {
        let mut bad = report.clone();
        bad[offset] = bad[offset].wrapping_add(1);
        let file = TempFile::new(&format!("snp-bad-{offset}.bin"), &bad);
        let (code, out, err) = verify(&["--tee", "snp", "--evidence", &file.arg(), "--vcek", &vcek]);
        assert_eq!(code, 1, "{err}");
        assert_one_line_error(&out, &err);
        assert!(err.contains(expect), "byte {offset}: {err}");
    }
    let short = TempFile::new("snp-short.bin", &report[..1000]);
    let (code, out, err) = verify(&["--tee", "snp", "--evidence", &short.arg(), "--vcek", &vcek]);
    assert_eq!(code, 2, "{err}");
    assert_one_line_error(&out, &err);
}

#[test]
fn report_data_mismatch_is_rejected() {
    let (code, out, err) = verify(&[
        "--tee",
        "snp",
        "--evidence",
        &vector("snp/trustee-milan-vcek-report-v2.bin"),
        "--vcek",
        &vector("snp/trustee-milan-vcek.der"),
        "--report-data",
        "00ff",
    ]);
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("report data mismatch"), "{err}");
}
