//! `arca measure tdx` on the cases of `measurement/tdx.json`: the built
//! binary prints the same MRTD, RTMR[1], RTMR[2] and TD HOB digest as the
//! vectors, reports RTMR[0] as unpredictable, and refuses bad input with
//! exit code 2.

mod common;

use common::{arca, assert_one_line_error};
use serde_json::Value;

fn tdx_json() -> Value {
    let text = std::fs::read_to_string(common::measurement_dir().join("tdx.json")).expect("read tdx.json");
    serde_json::from_str(&text).expect("parse tdx.json")
}

/// Path of a shipped file named in `tdx.json` (`firmware`, `kernels`,
/// `inputs`), `None` for files recorded by reference only.
fn path(json: &Value, table: &str, id: &str) -> Option<String> {
    let rel = json[table][id]["path"].as_str()?;
    Some(common::measurement_dir().join(rel).to_string_lossy().into_owned())
}

/// Runs `arca measure tdx ARGS`: (exit code, stdout, stderr).
fn measure(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["measure", "tdx"];
    all.extend_from_slice(args);
    let out = arca(&all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn measure_ok(args: &[&str]) -> Value {
    let (code, out, err) = measure(args);
    assert_eq!(code, 0, "arca measure tdx {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn mrtd_of_each_firmware_in_both_orders() {
    let json = tdx_json();
    let mut checked = 0;
    for case in json["mrtd"].as_array().unwrap() {
        let Some(fw) = path(&json, "firmware", case["firmware"].as_str().unwrap()) else { continue };
        let out = measure_ok(&["--firmware", &fw]);
        assert_eq!(out["mrtd"], case["mrtd_single_pass"], "{fw}: default order");
        assert_eq!(out["page_add_order"], "single-pass");
        assert!(out["rtmr0"].is_null() && out["rtmr1"].is_null() && out["rtmr2"].is_null());
        assert!(out["unpredictable"]["rtmr0"].as_str().unwrap().contains("ACPI"));
        let out = measure_ok(&["--bios", &fw, "--page-add-order", "two-pass"]);
        assert_eq!(out["mrtd"], case["mrtd_two_pass"], "{fw}: two pass");
        let out = measure_ok(&["--ovmf", &fw, "--two-pass-add-pages"]);
        assert_eq!(out["mrtd"], case["mrtd_two_pass"], "{fw}: dstack-mr flag");
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn td_hob_digest_per_memory_size() {
    let json = tdx_json();
    for case in json["td_hob"].as_array().unwrap() {
        let fw = path(&json, "firmware", case["firmware"].as_str().unwrap()).unwrap();
        // The vectors' labels ("2.75GiB") go through the size parser.
        let memory = case["memory"].as_str().unwrap();
        let out = measure_ok(&["--firmware", &fw, "--memory", memory, "--trace"]);
        assert_eq!(out["trace"]["rtmr0_events"][0]["digest"], case["td_hob_sha384"], "{fw} {memory}");
    }
}

#[test]
fn rtmr1_cases() {
    let json = tdx_json();
    let fw = path(&json, "firmware", "debian-sid-ovmf-inteltdx").unwrap();
    let mut checked = 0;
    for case in json["rtmr1"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let Some(kernel) = path(&json, "kernels", case["kernel"].as_str().unwrap()) else { continue };
        let memory = case["memory_bytes"].as_u64().unwrap().to_string();
        let acpi = case["acpi_data_size"].as_str().unwrap();
        let mut args = vec!["--firmware", &fw, "--kernel", &kernel, "-m", &memory, "--acpi-data-size", acpi, "--trace"];
        let initrd = case["initrd"].as_str().map(|i| path(&json, "inputs", i).unwrap());
        if let Some(i) = &initrd {
            args.extend(["--initrd", i]);
        }
        let out = measure_ok(&args);
        assert_eq!(out["rtmr1"], case["rtmr1"], "{id}");
        assert_eq!(out["trace"]["patched_kernel_sha384"], case["patched_kernel_sha384"], "{id}");
        let events: Vec<&Value> =
            out["trace"]["rtmr1_events"].as_array().unwrap().iter().map(|e| &e["digest"]).collect();
        let want: Vec<&Value> = case["events"].as_array().unwrap().iter().collect();
        assert_eq!(events, want, "{id}: events");
        checked += 1;
    }
    assert_eq!(checked, 18);
}

#[test]
fn rtmr2_cases() {
    let json = tdx_json();
    let fw = path(&json, "firmware", "debian-sid-ovmf-inteltdx").unwrap();
    let kernel = path(&json, "kernels", "kernel-pe-a").unwrap();
    for case in json["rtmr2"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let mut args = vec!["--firmware", &fw, "--kernel", &kernel, "--trace"];
        if let Some(append) = case["qemu_append"].as_str() {
            args.extend(["--append", append]);
        }
        let initrd = case["initrd"].as_str().map(|i| path(&json, "inputs", i).unwrap());
        if let Some(i) = &initrd {
            args.extend(["--initrd", i]);
        }
        let out = measure_ok(&args);
        assert_eq!(out["rtmr2"], case["rtmr2"], "{id}");
        assert_eq!(out["trace"]["load_options"], case["measured_load_options"], "{id}");
        let events: Vec<&Value> =
            out["trace"]["rtmr2_events"].as_array().unwrap().iter().map(|e| &e["digest"]).collect();
        let want: Vec<&Value> = case["events"].as_array().unwrap().iter().collect();
        assert_eq!(events, want, "{id}: events");
    }
}

#[test]
fn reference_values_for_the_kbs() {
    let json = tdx_json();
    let fw = path(&json, "firmware", "debian-sid-ovmf-inteltdx").unwrap();
    let kernel = path(&json, "kernels", "kernel-pe-a").unwrap();
    let initrd = path(&json, "inputs", "initrd-a").unwrap();
    let case = json["rtmr2"].as_array().unwrap().iter().find(|c| c["id"] == "rtmr2-cmdline-basic-initrd-a").unwrap();
    let rtmr1 =
        json["rtmr1"].as_array().unwrap().iter().find(|c| c["id"] == "rtmr1-kernel-pe-a-initrd-a-2GiB").unwrap();
    let out = measure_ok(&[
        "--firmware",
        &fw,
        "--kernel",
        &kernel,
        "--initrd",
        &initrd,
        "--cmdline",
        case["qemu_append"].as_str().unwrap(),
        "--memory",
        "2G",
        "--cpu",
        "4",
        "--reference-values",
    ]);
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["mr_td", "rtmr_1", "rtmr_2"]);
    assert_eq!(out["mr_td"], json["mrtd"][0]["mrtd_single_pass"]);
    assert_eq!(out["rtmr_1"], rtmr1["rtmr1"]);
    assert_eq!(out["rtmr_2"], case["rtmr2"]);

    // A kernel whose stub does not measure: RTMR[2] is all zero.
    let out = measure_ok(&["--firmware", &fw, "--kernel", &kernel, "--initrd", &initrd, "--no-efi-stub-measurement"]);
    assert_eq!(out["rtmr2"], "0".repeat(96));
    assert_eq!(out["rtmr1"], rtmr1["rtmr1"]);
}

#[test]
fn refusals_exit_2_with_one_line() {
    let json = tdx_json();
    let fw = path(&json, "firmware", "debian-sid-ovmf-inteltdx").unwrap();
    let sev_only = common::measurement_dir().join("firmware/sev-snp-measure-test-fixtures/ovmf_OvmfX64_suffix.bin");
    let not_bzimage = path(&json, "inputs", "kernel-a").unwrap();
    let big_initrd = path(&json, "inputs", "initrd-b").unwrap();
    let kernel = path(&json, "kernels", "kernel-pe-a").unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["--firmware", sev_only.to_str().unwrap()], "firmware: "),
        (vec!["--firmware", &fw, "--kernel", &not_bzimage], "setup header"),
        (vec!["--firmware", "/nonexistent/OVMF.fd"], "firmware /nonexistent/OVMF.fd"),
        (vec!["--firmware", &fw, "--memory", "4M"], "memory"),
        (
            vec![
                "--firmware",
                &fw,
                "--kernel",
                &kernel,
                "--initrd",
                &big_initrd,
                "-m",
                "9M",
                "--acpi-data-size",
                "0x8f0000",
            ],
            "initrd",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = measure(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_one_line_error(&out, &err);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Bad arguments (clap) also exit 2.
    let (code, _, _) = measure(&["--firmware", &fw, "--memory", "2X"]);
    assert_eq!(code, 2);
    let (code, _, _) = measure(&["--firmware", &fw, "--initrd", &big_initrd]);
    assert_eq!(code, 2, "--initrd needs --kernel");
}
