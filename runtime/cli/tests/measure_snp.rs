//! `arca measure snp` and `arca firmware inspect` on every SNP vector case,
//! and side by side with sev-snp-measure where it is installed.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn snp_json() -> Value {
    serde_json::from_slice(&std::fs::read(common::measurement_dir().join("snp.json")).expect("read snp.json")).unwrap()
}

/// Runs `program ARGS` with the case paths (relative to the measurement
/// directory) made absolute, in a fresh temporary directory: `--dump-vmsa`
/// writes its VMSA files to the working directory, and the shared vectors
/// must stay as they are.
fn run_in_vectors(program: &str, args: &[String]) -> Output {
    let dir = common::measurement_dir();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            let path = dir.join(a);
            if !a.is_empty() && !a.starts_with('-') && a.contains('/') && path.exists() {
                path.to_string_lossy().into_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    let work = tempfile::tempdir().expect("temporary working directory");
    Command::new(program).args(&args).current_dir(work.path()).output().expect("running the command")
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
    // Combinations no vector case records.
    let bookworm = json["firmware"]["debian-bookworm-ovmf"]["path"].as_str().unwrap();
    let amdsev = json["firmware"]["debian-sid-ovmf-amdsev"]["path"].as_str().unwrap();
    let combos: [&[&str]; 4] = [
        &["--mode", "seves", "--vcpus", "2", "--vcpu-sig", "0xa00f11", "--vmm-type", "gce", "--ovmf", bookworm, "-v"],
        &["--mode", "snp", "--vcpus", "2", "--vmm-type", "gce", "--ovmf", bookworm, "--output-format", "base64"],
        &["--mode", "snp", "--vcpus", "3", "--vcpu-type", "EPYC-Genoa", "--vmm-type", "ec2", "--ovmf", amdsev],
        &["--mode", "sev", "--ovmf", amdsev, "--kernel", "inputs/kernel-b.bin", "--append", "x"],
    ];
    for combo in combos {
        let args: Vec<String> = combo.iter().map(|s| s.to_string()).collect();
        let theirs = run_in_vectors("sev-snp-measure", &args);
        let mut ours_args = vec!["measure".to_string(), "snp".to_string()];
        ours_args.extend(args);
        let (code, ours, err) = arca(&ours_args);
        assert!(theirs.status.success(), "{combo:?}: sev-snp-measure failed");
        assert_eq!(code, 0, "{combo:?}: {err}");
        assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout), "{combo:?}");
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
    let path = common::measurement_dir().join(json["firmware"]["fixture-amdsev-suffix"]["path"].as_str().unwrap());
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

/// Large images are streamed (hashed in chunks, never held whole); the
/// digest must equal measuring the whole image, also when the SEV metadata
/// lies too far from the end for the streamed tail and the image is read
/// whole after all.
#[test]
fn streamed_and_whole_images_measure_the_same() {
    use arca_firmware::footer::SEV_METADATA_OFFSET_GUID;
    use arca_measure::snp::{self, SevMode, SnpLaunch, VcpuSpec};

    let json = snp_json();
    let fixture = std::fs::read(
        common::measurement_dir().join(json["firmware"]["fixture-amdsev-suffix"]["path"].as_str().unwrap()),
    )
    .unwrap();
    let mut near = vec![0xffu8; 1 << 20];
    near[0x1234] = 7;
    near.extend_from_slice(&fixture);

    // The same image with its metadata block moved 1 MiB away from the end.
    let mut far = near.clone();
    let layout = arca_firmware::parse_sev_layout(&far).unwrap();
    let meta = layout.metadata.as_ref().unwrap();
    let block_len = 16 + 12 * meta.sections.len();
    let block = far[meta.offset..meta.offset + block_len].to_vec();
    far[0x2000..0x2000 + block_len].copy_from_slice(&block);
    let entry = layout.footer.get(&SEV_METADATA_OFFSET_GUID).unwrap().data_offset;
    let offset_from_end = (far.len() - 0x2000) as u32;
    far[entry..entry + 4].copy_from_slice(&offset_from_end.to_le_bytes());
    assert_eq!(arca_firmware::parse_sev_layout(&far).unwrap().metadata.unwrap().sections, meta.sections);

    let kernel = common::TempFile::new("stream-kernel.bin", b"kernel");
    for (name, image) in [("near", near), ("far", far)] {
        let file = common::TempFile::new(&format!("stream-{name}.fd"), &image);
        let mut launch = SnpLaunch::new(SevMode::Snp, image);
        launch.vcpus = 3;
        launch.vcpu = Some(VcpuSpec::Type("EPYC-Milan".into()));
        launch.kernel = Some(b"kernel".to_vec());
        let expected = snp::measure(&launch).unwrap().digest_hex();
        let args = [
            "measure",
            "snp",
            "--mode",
            "snp",
            "--vcpus",
            "3",
            "--vcpu-type",
            "EPYC-Milan",
            "--ovmf",
            &file.arg(),
            "--kernel",
            &kernel.arg(),
        ]
        .map(String::from);
        let (code, out, err) = arca(&args);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(out.trim_end(), expected, "{name}");
        let ovmf_hash = ["measure", "snp", "--mode", "snp:ovmf-hash", "--ovmf", &file.arg()].map(String::from);
        let (_, out, _) = arca(&ovmf_hash);
        launch.mode = SevMode::SnpOvmfHash;
        assert_eq!(out.trim_end(), snp::measure(&launch).unwrap().digest_hex(), "{name}: firmware only");
    }
}

/// Kernels and initrds of a real size are hashed in pieces, a large one on
/// a thread of its own beside the firmware: the digest must equal the
/// library's over the whole files, and sev-snp-measure's where installed,
/// in every mode that has a hashes table, with and without an initrd.
#[test]
fn large_kernel_and_initrd_measure_as_whole_files() {
    use arca_measure::snp::{self, SevMode, SnpLaunch, VcpuSpec};

    let json = snp_json();
    let amdsev = common::measurement_dir().join(json["firmware"]["debian-sid-ovmf-amdsev"]["path"].as_str().unwrap());
    let firmware = std::fs::read(&amdsev).unwrap();
    // 3 MiB + 5 bytes and 5 MiB: above the thread threshold, not whole buffers.
    let kernel_bytes: Vec<u8> = (0..(3 << 20) + 5).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let initrd_bytes: Vec<u8> = (0..5 << 20).map(|i: u32| (i ^ (i >> 11)) as u8).collect();
    let kernel = common::TempFile::new("large-kernel.bin", &kernel_bytes);
    let initrd = common::TempFile::new("large-initrd.img", &initrd_bytes);
    let reference = Command::new("sev-snp-measure")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim().ends_with("0.0.13"));
    if !reference {
        eprintln!("sev-snp-measure 0.0.13 is not installed: comparing with the library only");
    }
    for (mode, mode_arg) in [(SevMode::Snp, "snp"), (SevMode::SevEs, "seves"), (SevMode::Sev, "sev")] {
        for with_initrd in [false, true] {
            let mut launch = SnpLaunch::new(mode, firmware.clone());
            launch.vcpus = 4;
            launch.vcpu = Some(VcpuSpec::Type("EPYC-Milan".into()));
            launch.kernel = Some(kernel_bytes.clone());
            launch.initrd = with_initrd.then(|| initrd_bytes.clone());
            launch.cmdline = Some("console=ttyS0 root=/dev/vda1".into());
            let expected = format!("{}\n", snp::measure(&launch).unwrap().digest_hex());

            let mut args: Vec<String> =
                ["--mode", mode_arg, "--vcpus", "4", "--vcpu-type", "EPYC-Milan", "--ovmf"].map(String::from).to_vec();
            args.extend([amdsev.to_string_lossy().into_owned(), "--kernel".into(), kernel.arg()]);
            if with_initrd {
                args.extend(["--initrd".into(), initrd.arg()]);
            }
            args.extend(["--append".into(), "console=ttyS0 root=/dev/vda1".into()]);
            let mut ours_args = vec!["measure".to_string(), "snp".to_string()];
            ours_args.extend(args.iter().cloned());
            let (code, ours, err) = arca(&ours_args);
            assert_eq!(code, 0, "{mode_arg}, initrd {with_initrd}: {err}");
            assert_eq!(ours, expected, "{mode_arg}, initrd {with_initrd}");
            if reference {
                let theirs = run_in_vectors("sev-snp-measure", &args);
                assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout), "{mode_arg}, initrd {with_initrd}");
            }
        }
    }
}
