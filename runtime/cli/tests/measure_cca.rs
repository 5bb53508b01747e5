//! `arca measure cca` on every case of `shared/vectors/measurement/cca.json`:
//! the recorded `realm-measurements` command line, with `--dtb` reading the
//! DTB the tool wrote, run from the vectors folder, must print the RIM.

mod common;

use std::process::Command;

use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(common::measurement_dir().join("cca.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 6, "cca.json changed: update this test");
    cases
}

/// `arca measure cca` arguments for a recorded `realm-measurements` argv:
/// drop the program name and `-vv`, read the DTB the tool wrote.
fn arca_args(case: &Value) -> Vec<String> {
    let argv = case["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned());
    let mut out = vec!["measure".to_string(), "cca".to_string()];
    for a in argv.skip(1) {
        match a.as_str() {
            "-vv" => {}
            "--output-dtb" => out.push("--dtb".into()),
            _ => out.push(a),
        }
    }
    out
}

fn run(args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arca"))
        .args(args)
        .current_dir(common::measurement_dir())
        .output()
        .expect("running arca");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn padded(rim: &str) -> String {
    format!("{rim:0<128}")
}

#[test]
fn every_vector_case_prints_its_rim() {
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let (code, out, err) = run(&arca_args(&case));
        assert_eq!(code, 0, "{id}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{id}: not JSON ({e}): {out}"));
        let rim = v["rim"].as_str().unwrap();
        assert_eq!(padded(rim), case["expected"]["rim_hex"].as_str().unwrap(), "{id}");
        let digest_len = if v["hash_algo"] == "sha256" { 64 } else { 128 };
        assert_eq!(rim.len(), digest_len, "{id}: RIM printed at digest length");
        assert!(v.get("trace").is_none(), "{id}: trace only on request");
    }
}

#[test]
fn trace_lists_every_recorded_step() {
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let mut args = arca_args(&case);
        args.insert(2, "--trace".into());
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{id}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let got = v["trace"].as_array().unwrap();
        let want = case["steps"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{id}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g["step"], w["step"], "{id}");
            assert_eq!(padded(g["rim"].as_str().unwrap()), w["rim_after"].as_str().unwrap(), "{id}: {}", w["step"]);
        }
    }
}

#[test]
fn reference_values_are_the_kbs_shape() {
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let mut args = arca_args(&case);
        args.insert(2, "--reference-values".into());
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{id}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 1, "{id}: {out}");
        assert_eq!(padded(obj["cca_rim"].as_str().unwrap()), case["expected"]["rim_hex"].as_str().unwrap(), "{id}");
    }
}

#[test]
fn personalization_value_is_reported_not_measured() {
    let cases = cases();
    let rpv = cases.iter().find(|c| c["must_equal_case"].is_string()).expect("rpv case");
    let (code, out, err) = run(&arca_args(rpv));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["personalization_value"], format!("{}{}", hex_of("arca-measure-rpv"), "0".repeat(96)));
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Replace the value after `opt` in the VMM part of the arguments.
fn with_vmm_value(mut args: Vec<String>, opt: &str, value: &str) -> Vec<String> {
    let at = args.iter().rposition(|a| a == opt).unwrap_or_else(|| panic!("{opt} in {args:?}"));
    args[at + 1] = value.into();
    args
}

fn assert_refused(args: &[String], needle: &str) {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}: {out}{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

#[test]
fn bad_launches_are_refused_with_exit_code_2() {
    let cases = cases();
    let qemu = arca_args(&cases[0]);
    let kvmtool = arca_args(cases.iter().find(|c| c["id"].as_str().unwrap().starts_with("kvmtool")).unwrap());

    // The DTB describes 2 vCPUs and 512 MiB.
    assert_refused(&with_vmm_value(qemu.clone(), "-smp", "4"), "cpus");
    assert_refused(&with_vmm_value(qemu.clone(), "-m", "1G"), "memory");
    assert_refused(&with_vmm_value(kvmtool.clone(), "-c", "3"), "cpus");
    // Not a kernel image.
    assert_refused(&with_vmm_value(qemu.clone(), "-k", "inputs/initrd-a.bin"), "magic");
    // Not a DTB.
    assert_refused(&with_vmm_value(qemu.clone(), "--dtb", "inputs/initrd-a.bin"), "DTB magic");
    // kvmtool RAM must be a multiple of 2 MiB.
    assert_refused(&with_vmm_value(kvmtool.clone(), "-m", "255"), "memory_size");
    // Firmware boot and unknown options.
    let mut fw = qemu.clone();
    fw.extend(["-bios".to_string(), "QEMU_EFI.fd".to_string()]);
    assert_refused(&fw, "firmware boot");
    let mut unknown = qemu.clone();
    unknown.push("-frobnicate".into());
    assert_refused(&unknown, "unknown option");
    // An initrd file without -initrd in the VMM command line.
    let mut no_initrd = qemu.clone();
    let at = no_initrd.iter().position(|a| a == "-initrd").unwrap();
    no_initrd.drain(at..at + 2);
    assert_refused(&no_initrd, "loads no initrd");
    // Capability files: a missing one, and an out-of-range value.
    assert_refused(&with_vmm_value(qemu.clone(), "-c", "cca/configs/missing.conf"), "missing.conf");
    let mut bad_cap = qemu.clone();
    bad_cap.insert(2, "--num-bps=1".into());
    assert_refused(&bad_cap, "num_bps");
    // QEMU's memory map needs 41 IPA bits.
    let mut narrow = qemu;
    narrow.insert(2, "--ipa-bits=40".into());
    assert_refused(&narrow, "ipa_bits");
}
