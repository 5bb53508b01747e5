//! `arca measure snp` and `arca firmware inspect` on every SNP vector case,
//! and side by side with sev-snp-measure where it is installed.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn measurement_dir() -> PathBuf {
    let dir = common::vectors().parent().expect("vectors root").join("measurement");
    assert!(dir.is_dir(), "measurement vectors missing at {} (set ARCA_VECTORS)", dir.display());
    dir
}

fn snp_json() -> Value {
    serde_json::from_slice(&std::fs::read(measurement_dir().join("snp.json")).expect("read snp.json")).unwrap()
}

/// Runs `program ARGS` in the measurement directory (case paths are relative to it).
fn run_in_vectors(program: &str, args: &[String]) -> Output {
    Command::new(program).args(args).current_dir(measurement_dir()).output().expect("running the command")
}

fn arca(args: &[String]) -> (i32, String, String) {
    let out = run_in_vectors(env!("CARGO_BIN_EXE_arca"), args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `arca measure snp` plus the case's sev-snp-measure arguments.
fn measure_args(case: &Value, extra: &[&str]) -> Vec<String> {
    let argv = case["argv"].as_array().unwrap();
    assert_eq!(argv[0], "sev-snp-measure");
    let mut args: Vec<String> = vec!["measure".into(), "snp".into()];
    args.extend(argv[1..].iter().map(|a| a.as_str().unwrap().to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn every_case_with_the_reference_argv() {
    let json = snp_json();
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 40);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let (code, out, err) = arca(&measure_args(case, &[]));
        if case["expected"]["error"].as_bool() == Some(true) {
            assert_eq!(code, 2, "{id}: refusal exit code ({out}{err})");
            common::assert_one_line_error(&out, &err);
            assert!(err.contains("kernel") && err.contains("cannot measure"), "{id}: {err}");
        } else {
            assert_eq!(code, 0, "{id}: {err}");
            assert_eq!(out, format!("{}\n", case["expected"]["digest_hex"].as_str().unwrap()), "{id}");
        }
    }
}

#[test]
fn base64_verbose_and_reference_values() {
    let json = snp_json();
    let case = &json["cases"][0];
    let expected_hex = case["expected"]["digest_hex"].as_str().unwrap();
    let (code, out, err) = arca(&measure_args(case, &["--output-format", "base64"]));
    assert_eq!((code, out.trim_end()), (0, case["expected"]["digest_base64"].as_str().unwrap()), "{err}");
    let (_, out, _) = arca(&measure_args(case, &["-v"]));
    assert_eq!(out, format!("Calculated SEV_SNP guest measurement: {expected_hex}\n"));
    let (code, out, err) = arca(&measure_args(case, &["--reference-values"]));
    assert_eq!(code, 0, "{err}");
    let values: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(values, serde_json::json!({ "snp_launch_measurement": expected_hex }));

    let sev = json["cases"].as_array().unwrap().iter().find(|c| c["mode"] == "sev").unwrap();
    let (code, out, err) = arca(&measure_args(sev, &["--reference-values"]));
    assert_eq!(code, 2);
    common::assert_one_line_error(&out, &err);
}

#[test]
fn bad_arguments_exit_2() {
    let json = snp_json();
    let case = &json["cases"][0];
    let bad: [&[&str]; 5] = [
        &["--vcpu-type", "EPYC-v9"],
        &["--vmm-type", "qemu"],
        &["--snp-ovmf-hash", "abcd"],
        &["--mode", "snp:svsm"],
        &["--guest-features", "zz"],
    ];
    for extra in bad {
        let (code, _, err) = arca(&measure_args(case, extra));
        assert_eq!(code, 2, "{extra:?}: {err}");
    }
    let (code, _, err) =
        arca(&["measure", "snp", "--mode", "snp", "--ovmf", "missing.fd", "--vcpus", "1"].map(String::from));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.fd"), "{err}");
}

/// Where sev-snp-measure is installed (`make deps`), its output for the
/// same arguments must be byte-identical to ours.
#[test]
fn same_output_as_installed_sev_snp_measure() {
    let probe = Command::new("sev-snp-measure").arg("--version").output();
    let Some(version) = probe.ok().filter(|o| o.status.success()) else {
        eprintln!("skipped: sev-snp-measure is not installed (make deps installs it)");
        return;
    };
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if !version.ends_with("0.0.13") {
        eprintln!("skipped: installed {version}, the vectors pin 0.0.13");
        return;
    }
    let json = snp_json();
    let ids = [
        "snp-amdsev-v4-1vcpu-basic",
        "snp-amdsev-genoa-8vcpu-f21-kata",
        "snp-amdsev-ec2-2vcpu",
        "snp-amdsev-gce-2vcpu",
        "seves-amdsev-v4-1vcpu-basic",
        "sev-amdsev-basic",
        "snp-ovmf-hash-debian-bookworm-ovmf",
    ];
    for id in ids {
        let case = json["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap();
        for extra in [&[][..], &["--output-format", "base64"], &["-v"]] {
            let args = measure_args(case, extra);
            let theirs = run_in_vectors("sev-snp-measure", &args[2..]);
            let (code, ours, err) = arca(&args);
            assert!(theirs.status.success(), "{id}: sev-snp-measure failed");
            assert_eq!(code, 0, "{id}: {err}");
            assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout), "{id} {extra:?}");
        }
    }
}

#[test]
fn firmware_inspect_matches_the_recorded_footer() {
    let json = snp_json();
    for (id, fw) in json["firmware"].as_object().unwrap() {
        let path = fw["path"].as_str().unwrap().to_string();
        let (code, out, err) = arca(&["firmware".into(), "inspect".into(), path]);
        assert_eq!(code, 0, "{id}: {err}");
        let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{id}: not JSON ({e}): {out}"));
        let footer = &fw["footer"];
        assert_eq!(got["size"], footer["size"], "{id}");
        assert_eq!(got["sha256"], fw["sha256"], "{id}");
        assert_eq!(got["load_gpa"], footer["load_gpa"], "{id}");
        assert_eq!(got["sev"]["sev_es_reset_eip"], footer["sev_es_reset_eip"], "{id}");
        assert_eq!(got["sev"]["kernel_hashes_supported"], footer["kernel_hashes_supported"], "{id}");
        let entries = got["footer_table"].as_array().unwrap();
        let expected = footer["footer_table_entries"].as_object().unwrap();
        assert_eq!(entries.len(), expected.len(), "{id}");
        for e in entries {
            let theirs = &expected[e["guid"].as_str().unwrap()];
            assert_eq!(e["data_hex"], theirs["data_hex"], "{id}");
        }
        let sections = got["sev"]["metadata"]["sections"].as_array().unwrap();
        let expected = footer["sev_metadata_sections"].as_array().unwrap();
        assert_eq!(sections.len(), expected.len(), "{id}");
        for (ours, theirs) in sections.iter().zip(expected) {
            for k in ["gpa", "size", "type", "type_name"] {
                assert_eq!(ours[k], theirs[k], "{id}: {k}");
            }
        }
        assert!(got["tdx"]["metadata_offset"].is_string(), "{id}: TDX metadata offset");
    }
}

#[test]
fn firmware_inspect_refuses_a_hostile_image() {
    let json = snp_json();
    let path = measurement_dir().join(json["firmware"]["fixture-amdsev-suffix"]["path"].as_str().unwrap());
    let mut image = std::fs::read(path).unwrap();
    // The SEV-ES reset block's length field (just below its GUID at the footer's top) set to 0.
    let at = image.len() - 32 - 18 - 18;
    image[at..at + 2].copy_from_slice(&[0, 0]);
    let file = common::TempFile::new("hostile-ovmf.fd", &image);
    let (code, out, err) = arca(&["firmware".into(), "inspect".into(), file.arg()]);
    assert_eq!(code, 2, "{out}{err}");
    common::assert_one_line_error(&out, &err);
    assert!(err.contains("footer entry length"), "{err}");
}
