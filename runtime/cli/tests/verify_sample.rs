//! `arca verify --tee sample` and the input-handling contract of `arca verify`.

mod common;

use common::{assert_one_line_error, claims, verify, TempFile};

#[test]
fn sample_evidence_needs_allow_sample() {
    let ev = TempFile::new("sample.json", br#"{"svn":"1","report_data":"YWJj"}"#);
    let (code, out, err) = verify(&["--tee", "sample", "--evidence", &ev.arg()]);
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("sample"), "{err}");

    let (code, out, err) =
        verify(&["--tee", "sample", "--evidence", &ev.arg(), "--allow-sample", "--report-data", "616263"]);
    assert_eq!(code, 0, "{err}");
    let c = claims(&out);
    assert_eq!(c["tee"], "sample");
    assert_eq!(c["report_data"], "616263");
    assert_eq!(c["svn"], "1");
}

#[test]
fn sample_report_data_mismatch_is_rejected() {
    let ev = TempFile::new("sample2.json", br#"{"svn":"1","report_data":"YWJj"}"#);
    let (code, out, err) =
        verify(&["--tee", "sample", "--evidence", &ev.arg(), "--allow-sample", "--report-data", "616264"]);
    assert_eq!(code, 1);
    assert_one_line_error(&out, &err);
    assert!(err.contains("report data mismatch"), "{err}");
}

#[test]
fn unreadable_and_malformed_input_exit_2() {
    let (code, out, err) = verify(&["--tee", "snp", "--evidence", "/nonexistent/evidence.bin"]);
    assert_eq!(code, 2);
    assert_one_line_error(&out, &err);

    let ev = TempFile::new("bad-sample.json", br#"{"svn":"1","report_data":"***"}"#);
    let (code, out, err) = verify(&["--tee", "sample", "--evidence", &ev.arg(), "--allow-sample"]);
    assert_eq!(code, 2, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("report_data"), "{err}");

    let (code, _, err) = verify(&["--tee", "sample", "--evidence", &ev.arg(), "--at", "yesterday", "--allow-sample"]);
    assert_eq!(code, 2);
    assert!(err.contains("RFC 3339"), "{err}");

    let (code, _, err) = verify(&["--tee", "sample", "--evidence", &ev.arg(), "--report-data", "zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("not hex"), "{err}");

    let (code, _, _) = verify(&["--tee", "nosuchtee", "--evidence", &ev.arg()]);
    assert_eq!(code, 2);
}
