//! Every case of `tdx.json` reproduced bit for bit, with its intermediates:
//! MRTD in both page-add orders, the TD HOB per memory size, RTMR[1] with
//! the patched setup header, the patched kernel and each event, RTMR[2]
//! with the LoadOptions string and each event.

mod common;

use std::path::{Path, PathBuf};

use arca_measure::tdx::{self, hob, layout::RamLayout, mrtd, PageAddOrder, TdxLaunch};
use arca_measure::{LaunchConfig, Measurements};
use serde_json::Value;
use sha2::{Digest, Sha384};

fn tdx_json() -> Value {
    let text = std::fs::read_to_string(common::measurement_dir().join("tdx.json")).expect("read tdx.json");
    serde_json::from_str(&text).expect("parse tdx.json")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The bytes of a file the vectors describe (`firmware`, `kernels` or
/// `inputs` entry), checked against its recorded SHA-256. Files not shipped
/// with the vectors are looked up at `fallback` (a path or an environment
/// variable naming one); `None` when absent there or different.
fn file(json: &Value, table: &str, id: &str, fallback: &[&str]) -> Option<Vec<u8>> {
    let entry = &json[table][id];
    assert!(entry.is_object(), "{table}.{id} missing from tdx.json");
    let want = entry["sha256"].as_str().unwrap();
    let bytes = match entry["path"].as_str() {
        Some(rel) => std::fs::read(common::measurement_dir().join(rel)).unwrap_or_else(|e| panic!("{table}.{id}: {e}")),
        None => {
            let found = fallback.iter().find_map(|p| {
                let path = p
                    .strip_prefix('$')
                    .map_or_else(|| Some(PathBuf::from(p)), |v| std::env::var_os(v).map(PathBuf::from))?;
                std::fs::read(Path::new(&path)).ok()
            });
            match found {
                Some(b) if sha256_hex(&b) == want => b,
                _ => {
                    eprintln!("{table}.{id}: not shipped and not found at {fallback:?}; its cases are skipped");
                    return None;
                }
            }
        }
    };
    assert_eq!(sha256_hex(&bytes), want, "{table}.{id}: SHA-256 differs from tdx.json");
    Some(bytes)
}

/// Where the Debian 12 kernel is looked for: the variable, the cache `make
/// deps` fills from the Debian package, a machine that boots it.
const DEBIAN_KERNEL: [&str; 3] =
    ["$ARCA_TDX_DEBIAN_KERNEL", "/var/tmp/arca-deps/vmlinuz-6.1.0-57-amd64", "/boot/vmlinuz-6.1.0-57-amd64"];
const TRIXIE_OVMF: [&str; 2] = ["$ARCA_TDX_TRIXIE_OVMF", "/usr/share/ovmf/OVMF.fd"];

fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn firmware_for_rtmr(json: &Value) -> Vec<u8> {
    file(json, "firmware", "debian-sid-ovmf-inteltdx", &[]).unwrap()
}

#[test]
fn mrtd_both_orders() {
    let json = tdx_json();
    let cases = json["mrtd"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    let mut reproduced = 0;
    for case in cases {
        let id = case["firmware"].as_str().unwrap();
        let Some(image) = file(&json, "firmware", id, &TRIXIE_OVMF) else {
            assert_eq!(id, "debian-trixie-ovmf", "only the unshipped firmware may be missing");
            continue;
        };
        let md = arca_firmware::parse_tdvf_metadata(&image).unwrap();
        let single = mrtd::compute_mrtd(&image, &md, PageAddOrder::SinglePass).unwrap();
        let two = mrtd::compute_mrtd(&image, &md, PageAddOrder::TwoPass).unwrap();
        assert_eq!(hex::encode(single), case["mrtd_single_pass"].as_str().unwrap(), "{id}: single pass");
        assert_eq!(hex::encode(two), case["mrtd_two_pass"].as_str().unwrap(), "{id}: two pass");
        assert_ne!(single, two, "{id}: the orders must differ");
        // The default order is single pass (what current QEMU does).
        let m = tdx::measure(&TdxLaunch::new(image.clone())).unwrap();
        assert_eq!(m.page_add_order, PageAddOrder::SinglePass);
        assert_eq!(m.mrtd.to_string(), case["mrtd_single_pass"].as_str().unwrap(), "{id}: default");
        let mut two_pass = TdxLaunch::new(image);
        two_pass.page_add_order = PageAddOrder::TwoPass;
        assert_eq!(tdx::measure(&two_pass).unwrap().mrtd.to_string(), case["mrtd_two_pass"].as_str().unwrap());
        reproduced += 1;
    }
    assert!(reproduced >= 3, "the 3 shipped firmware images must be measured, got {reproduced}");
}

#[test]
fn td_hob_per_memory_size() {
    let json = tdx_json();
    let cases = json["td_hob"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for case in cases {
        let id = case["firmware"].as_str().unwrap();
        let memory = case["memory_bytes"].as_u64().unwrap();
        let image = file(&json, "firmware", id, &[]).unwrap();
        let md = arca_firmware::parse_tdvf_metadata(&image).unwrap();
        let bytes = hob::td_hob(&md, &RamLayout::q35(memory).unwrap()).unwrap();
        let want = case["td_hob_sha384"].as_str().unwrap();
        assert_eq!(hex::encode(Sha384::digest(&bytes)), want, "{id} {memory:#x}");
        // The same value is RTMR[0]'s first event in a full measurement.
        let mut launch = TdxLaunch::new(image);
        launch.memory = memory;
        let m = tdx::measure(&launch).unwrap();
        assert_eq!(m.trace.rtmr0_events[0].digest.to_string(), want, "{id} {memory:#x}: trace");
        assert_eq!(m.trace.td_hob, bytes);
    }
}

#[test]
fn rtmr1_every_case_and_event() {
    let json = tdx_json();
    let firmware = firmware_for_rtmr(&json);
    let cases = json["rtmr1"].as_array().unwrap();
    assert_eq!(cases.len(), 22);
    let (mut reproduced, mut skipped) = (0, 0);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let kernel_id = case["kernel"].as_str().unwrap();
        let Some(kernel) = file(&json, "kernels", kernel_id, &DEBIAN_KERNEL) else {
            assert_eq!(kernel_id, "debian-vmlinuz-6.1.0-57", "{id}: only the unshipped kernel may be missing");
            skipped += 1;
            continue;
        };
        let initrd = case["initrd"].as_str().map(|i| file(&json, "inputs", i, &[]).unwrap());
        assert_eq!(initrd.as_ref().map_or(0, Vec::len) as u64, case["initrd_size"].as_u64().unwrap(), "{id}");
        let mut launch = TdxLaunch::new(firmware.clone());
        launch.kernel = Some(kernel);
        launch.initrd = initrd;
        launch.memory = case["memory_bytes"].as_u64().unwrap();
        launch.acpi_data_size = hex_u64(&case["acpi_data_size"]);
        let m = tdx::measure(&launch).unwrap_or_else(|e| panic!("{id}: {e}"));

        let h = m.trace.patched_setup_header.unwrap();
        let want = &case["patched_setup_header"];
        assert_eq!(u64::from(h.type_of_loader), hex_u64(&want["type_of_loader_0x210"]), "{id}");
        assert_eq!(u64::from(h.loadflags), hex_u64(&want["loadflags_0x211"]), "{id}");
        assert_eq!(u64::from(h.ramdisk_image), hex_u64(&want["ramdisk_image_0x218"]), "{id}: ramdisk_image");
        assert_eq!(u64::from(h.ramdisk_size), hex_u64(&want["ramdisk_size_0x21c"]), "{id}");
        assert_eq!(u64::from(h.heap_end_ptr), hex_u64(&want["heap_end_ptr_0x224"]), "{id}");
        assert_eq!(u64::from(h.cmd_line_ptr), hex_u64(&want["cmd_line_ptr_0x228"]), "{id}");
        let patched = m.trace.patched_kernel_sha384.unwrap().to_string();
        assert_eq!(patched, case["patched_kernel_sha384"].as_str().unwrap(), "{id}: patched kernel");

        let events = case["events"].as_array().unwrap();
        assert_eq!(m.trace.rtmr1_events.len(), events.len(), "{id}: event count");
        for (i, (got, want)) in m.trace.rtmr1_events.iter().zip(events).enumerate() {
            assert_eq!(got.digest.to_string(), want.as_str().unwrap(), "{id}: event {i} ({})", got.description);
        }
        assert_eq!(m.rtmr1.unwrap().to_string(), case["rtmr1"].as_str().unwrap(), "{id}: RTMR[1]");
        reproduced += 1;
    }
    assert_eq!(reproduced + skipped, 22);
    assert!(reproduced >= 18, "the 18 cases with shipped kernels must be measured, got {reproduced}");
    eprintln!("RTMR[1]: {reproduced} of 22 cases reproduced");
}

#[test]
fn rtmr2_every_case_and_event() {
    let json = tdx_json();
    let firmware = firmware_for_rtmr(&json);
    let kernel = file(&json, "kernels", "kernel-pe-a", &[]).unwrap();
    let cases = json["rtmr2"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let mut launch = TdxLaunch::new(firmware.clone());
        launch.kernel = Some(kernel.clone());
        launch.cmdline = case["qemu_append"].as_str().map(str::to_owned);
        launch.initrd = case["initrd"].as_str().map(|i| file(&json, "inputs", i, &[]).unwrap());
        let m = tdx::measure(&launch).unwrap_or_else(|e| panic!("{id}: {e}"));
        let options = m.trace.load_options.clone().unwrap();
        assert_eq!(options, case["measured_load_options"].as_str().unwrap(), "{id}: LoadOptions");
        assert_eq!(
            tdx::rtmr::load_options_utf16(&options).len() as u64,
            case["measured_load_options_utf16le_bytes"].as_u64().unwrap(),
            "{id}: LoadOptions size"
        );
        let events = case["events"].as_array().unwrap();
        assert_eq!(m.trace.rtmr2_events.len(), events.len(), "{id}: event count");
        for (i, (got, want)) in m.trace.rtmr2_events.iter().zip(events).enumerate() {
            assert_eq!(got.digest.to_string(), want.as_str().unwrap(), "{id}: event {i} ({})", got.description);
        }
        assert_eq!(m.rtmr2.unwrap().to_string(), case["rtmr2"].as_str().unwrap(), "{id}: RTMR[2]");
    }
}

#[test]
fn rtmr0_is_reported_as_unpredictable_not_invented() {
    let json = tdx_json();
    assert_eq!(json["rtmr0"]["status"], "no generic vector");
    let mut launch = TdxLaunch::new(firmware_for_rtmr(&json));
    launch.kernel = Some(file(&json, "kernels", "kernel-pe-a", &[]).unwrap());
    let m = tdx::measure(&launch).unwrap();
    assert_eq!(m.rtmr0, None);
    assert!(m.unpredictable["rtmr0"].contains("ACPI"));
    let values = m.reference_values();
    assert_eq!(values.keys().collect::<Vec<_>>(), ["mr_td", "rtmr_1", "rtmr_2"]);
    assert!(values.values().all(|v| v.len() == 96 && v.chars().all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())));
    let json_out = serde_json::to_value(&m).unwrap();
    assert!(json_out["rtmr0"].is_null());

    // Without a kernel, RTMR[1] and RTMR[2] are unknown too, and say why.
    let m = tdx::measure(&TdxLaunch::new(firmware_for_rtmr(&json))).unwrap();
    assert_eq!((m.rtmr1, m.rtmr2), (None, None));
    assert!(m.unpredictable.contains_key("rtmr1") && m.unpredictable.contains_key("rtmr2"));
    assert_eq!(m.reference_values().keys().collect::<Vec<_>>(), ["mr_td"]);
}

#[test]
fn kernel_stub_without_cc_measurement_leaves_rtmr2_zero() {
    let json = tdx_json();
    let case = &json["rtmr2"][0];
    let mut launch = TdxLaunch::new(firmware_for_rtmr(&json));
    launch.kernel = Some(file(&json, "kernels", "kernel-pe-a", &[]).unwrap());
    launch.cmdline = case["qemu_append"].as_str().map(str::to_owned);
    launch.initrd = case["initrd"].as_str().map(|i| file(&json, "inputs", i, &[]).unwrap());
    let measuring = tdx::measure(&launch).unwrap();
    assert_eq!(measuring.rtmr2.unwrap().to_string(), case["rtmr2"].as_str().unwrap());
    launch.efi_stub_measures = false;
    let silent = tdx::measure(&launch).unwrap();
    assert_eq!(silent.rtmr2.unwrap().0, [0u8; 48]);
    assert!(silent.trace.rtmr2_events.is_empty());
    // RTMR[1] and the LoadOptions the kernel receives do not change.
    assert_eq!((silent.rtmr1, &silent.trace.load_options), (measuring.rtmr1, &measuring.trace.load_options));
}

#[test]
fn launch_config_dispatches_and_tags() {
    let json = tdx_json();
    let m = LaunchConfig::Tdx(TdxLaunch::new(firmware_for_rtmr(&json))).measure().unwrap();
    let Measurements::Tdx(inner) = &m else { panic!("expected TDX") };
    assert_eq!(m.reference_values(), inner.reference_values());
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["tee"], "tdx");
    assert_eq!(v["mrtd"], json["mrtd"][0]["mrtd_single_pass"]);
}

#[test]
fn refusals_name_the_problem() {
    use arca_measure::Error;
    let json = tdx_json();
    let firmware = firmware_for_rtmr(&json);
    // A non-TDX firmware image (SEV fixture): no TDVF metadata.
    let sev =
        std::fs::read(common::measurement_dir().join("firmware/sev-snp-measure-test-fixtures/ovmf_OvmfX64_suffix.bin"))
            .unwrap();
    assert!(matches!(tdx::measure(&TdxLaunch::new(sev)), Err(Error::Firmware(_))));
    // A kernel that is not a bzImage (the SEV test kernel has no setup header).
    let mut launch = TdxLaunch::new(firmware.clone());
    launch.kernel = Some(file(&json, "inputs", "kernel-a", &[]).unwrap());
    assert!(matches!(tdx::measure(&launch), Err(Error::KernelSetupHeader { .. })));
    // Too little memory for the firmware's TEMP_MEM sections.
    let mut launch = TdxLaunch::new(firmware.clone());
    launch.memory = 0x40_0000;
    assert!(matches!(tdx::measure(&launch), Err(Error::TdxLaunchParameter { field: "memory", .. })));
    // An initrd that does not fit in 16 MiB of RAM.
    let mut launch = TdxLaunch::new(firmware.clone());
    launch.memory = 16 << 20;
    launch.kernel = Some(file(&json, "kernels", "kernel-pe-a", &[]).unwrap());
    launch.initrd = Some(vec![0; 16 << 20]);
    assert!(matches!(tdx::measure(&launch), Err(Error::InitrdTooLarge { .. })));
    // Section types QEMU does not load: the TDVF parser accepts PERM_MEM,
    // the QEMU model refuses the launch. The descriptor of this image is
    // 0xa00 bytes from its end; section 2 is a TEMP_MEM, its type at +24.
    let mut perm = firmware.clone();
    let type_at = perm.len() - 0xa00 + 16 + 32 * 2 + 24;
    assert_eq!(perm[type_at], 3, "section 2 is TEMP_MEM");
    perm[type_at] = 4;
    assert!(arca_firmware::parse_tdvf_metadata(&perm).is_ok());
    assert!(matches!(
        tdx::measure(&TdxLaunch::new(perm)),
        Err(Error::TdxLaunchParameter { field: "firmware", found, .. }) if found.contains("PERM_MEM")
    ));
    // vCPUs and NUL in the command line.
    let mut launch = TdxLaunch::new(firmware.clone());
    launch.vcpus = 0;
    assert!(matches!(tdx::measure(&launch), Err(Error::TdxLaunchParameter { field: "vcpus", .. })));
    let mut launch = TdxLaunch::new(firmware);
    launch.cmdline = Some("a\0b".into());
    assert!(matches!(tdx::measure(&launch), Err(Error::TdxLaunchParameter { field: "cmdline", .. })));
}
