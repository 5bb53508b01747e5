//! Every case of `snp.json` reproduced bit for bit, with its intermediates.

mod common;

use std::collections::BTreeMap;

use arca_measure::snp::{self, SevMode, SnpLaunch};
use arca_measure::{Error, LaunchConfig, Measurements};
use common::{hex_num, launch, read, snp_json};
use serde_json::Value;
use sha2::Digest;

fn cases(json: &Value) -> &Vec<Value> {
    let cases = json["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 40, "snp.json should hold 40 cases");
    cases
}

#[test]
fn every_case_digest() {
    let json = snp_json();
    let mut digests = BTreeMap::new();
    let (mut measured, mut refused) = (0, 0);
    for case in cases(&json) {
        let id = case["id"].as_str().unwrap();
        let l = launch(&json, case);
        let result = snp::measure(&l);
        if case["expected"]["error"].as_bool() == Some(true) {
            match result {
                Err(Error::KernelHashesUnsupported { .. }) => refused += 1,
                other => panic!("{id}: expected refusal (kernel the firmware cannot measure), got {other:?}"),
            }
            continue;
        }
        let m = result.unwrap_or_else(|e| panic!("{id}: {e}"));
        let expected = case["expected"]["digest_hex"].as_str().unwrap();
        assert_eq!(m.digest_hex(), expected, "{id}: launch digest");
        assert_eq!(m.launch_digest.len() as u64, case["expected"]["digest_bytes"].as_u64().unwrap(), "{id}");
        digests.insert(id.to_string(), expected.to_string());
        measured += 1;
    }
    assert_eq!((measured, refused), (37, 3));
    for case in cases(&json) {
        if let Some(other) = case["must_equal_case"].as_str() {
            let id = case["id"].as_str().unwrap();
            assert_eq!(digests[id], digests[other], "{id} must equal {other}");
        }
    }
}

#[test]
fn intermediates() {
    let json = snp_json();
    let mut checked = 0;
    for case in cases(&json) {
        let inter = &case["intermediate"];
        if case["expected"]["error"].as_bool() == Some(true) || inter.is_null() {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let m = snp::measure(&launch(&json, case)).unwrap();
        if let Some(table) = inter["hashes_table_hex"].as_str() {
            assert_eq!(m.hashes_table.as_deref().map(hex::encode).as_deref(), Some(table), "{id}: hashes table");
        }
        if let Some(gctx) = inter["ovmf_gctx_digest"].as_str() {
            assert_eq!(m.ovmf_gctx_digest.map(hex::encode).as_deref(), Some(gctx), "{id}: firmware-only GCTX");
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
}

#[test]
fn firmware_only_digest_per_image() {
    let json = snp_json();
    for (id, fw) in json["firmware"].as_object().unwrap() {
        let l = SnpLaunch::new(SevMode::SnpOvmfHash, read(fw["path"].as_str().unwrap()));
        let m = snp::measure(&l).unwrap();
        assert_eq!(m.digest_hex(), fw["snp_ovmf_gctx_digest"].as_str().unwrap(), "{id}");
    }
}

#[test]
fn vmsa_pages() {
    let json = snp_json();
    let mut pages = 0;
    for case in cases(&json).iter().filter(|c| c["vmsa_pages"].is_array()) {
        let id = case["id"].as_str().unwrap();
        let mut l = launch(&json, case);
        l.trace = true;
        let m = snp::measure(&l).unwrap();
        let expected = case["vmsa_pages"].as_array().unwrap();
        assert_eq!(m.vmsa_pages.len(), expected.len(), "{id}: VMSA count");
        for v in expected {
            let i = v["index"].as_u64().unwrap() as usize;
            let file = read(v["path"].as_str().unwrap());
            assert_eq!(hex::encode(sha2::Sha384::digest(&file)), v["sha384"].as_str().unwrap());
            let ours = &m.vmsa_pages[i][..];
            if let Some(at) = ours.iter().zip(&file).position(|(a, b)| a != b) {
                panic!(
                    "{id}: VMSA {i} differs first at offset {at:#x}: ours {:#04x}, vectors {:#04x}",
                    ours[at], file[at]
                );
            }
            pages += 1;
        }
    }
    assert_eq!(pages, 3);
}

#[test]
fn gctx_traces() {
    let json = snp_json();
    let mut traces = 0;
    for case in cases(&json).iter().filter(|c| c["gctx_trace"].is_string()) {
        let id = case["id"].as_str().unwrap();
        let trace: Value = serde_json::from_slice(&read(case["gctx_trace"].as_str().unwrap())).unwrap();
        let mut l = launch(&json, case);
        l.trace = true;
        let m = snp::measure(&l).unwrap();
        let steps = trace["steps"].as_array().unwrap();
        // A trace may leave out the first updates (the firmware pages of a
        // large image); its seed is then the digest after them.
        let skipped = m.gctx_trace.len().checked_sub(steps.len()).expect("trace longer than ours");
        let seed = if skipped == 0 { [0u8; 48] } else { m.gctx_trace[skipped - 1].ld_after };
        assert_eq!(hex::encode(seed), trace["seed_ld"].as_str().unwrap(), "{id}: digest before the traced steps");
        for (n, (ours, theirs)) in m.gctx_trace[skipped..].iter().zip(steps).enumerate() {
            let what = format!("{id}: step {n} (type {}, gpa {})", theirs["page_type"], theirs["gpa"]);
            assert_eq!(ours.page_type as u64, theirs["page_type"].as_u64().unwrap(), "{what}: page type");
            assert_eq!(ours.gpa, hex_num(&theirs["gpa"]), "{what}: gpa");
            assert_eq!(hex::encode(ours.contents), theirs["contents"].as_str().unwrap(), "{what}: contents");
            assert_eq!(hex::encode(ours.ld_after), theirs["ld_after"].as_str().unwrap(), "{what}: digest");
        }
        assert_eq!(m.digest_hex(), trace["final_ld"].as_str().unwrap());
        traces += 1;
    }
    assert_eq!(traces, 2);
}

#[test]
fn launch_config_dispatch_and_reference_values() {
    let json = snp_json();
    let case = &cases(&json)[0];
    let measured = LaunchConfig::Snp(launch(&json, case)).measure().unwrap();
    let expected = case["expected"]["digest_hex"].as_str().unwrap();
    let refs = measured.reference_values();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs["snp_launch_measurement"], expected);
    let value = serde_json::to_value(&measured).unwrap();
    assert_eq!(value["tee"], "snp");
    assert_eq!(value["mode"], "snp");
    assert_eq!(value["launch_digest"], expected);
    let Measurements::Snp(m) = measured else { unreachable!() };
    assert!(m.vmsa_pages.is_empty() && m.gctx_trace.is_empty(), "no trace unless asked");
}

#[test]
fn sev_modes_give_no_reference_value() {
    let json = snp_json();
    for case in cases(&json).iter().filter(|c| c["mode"] != "snp" && c["expected"]["error"].is_null()) {
        let m = snp::measure(&launch(&json, case)).unwrap();
        assert!(m.reference_values().is_empty(), "{}", case["id"]);
    }
}

/// Measuring from a streamed image (its last 64 KiB plus the digest of its
/// pages) gives the same digest as measuring the whole image.
#[test]
fn streamed_firmware_gives_the_same_digests() {
    let json = snp_json();
    let mut checked = 0;
    for case in cases(&json).iter().filter(|c| c["mode"].as_str().unwrap().starts_with("snp")) {
        let id = case["id"].as_str().unwrap();
        let l = launch(&json, case);
        let image = &l.firmware;
        let tail = &image[image.len().saturating_sub(64 << 10)..];
        let layout = arca_firmware::parse_sev_layout_tail(tail, image.len() as u64).unwrap();
        let mut gctx = snp::Gctx::new([0; 48], false);
        for (i, chunk) in image.chunks(256 << 10).enumerate() {
            for (j, d) in snp::page_digests_serial(chunk).iter().enumerate() {
                let gpa = layout.load_gpa + (i * (256 << 10) + j * snp::PAGE_LEN) as u64;
                gctx.update(snp::PageType::Normal, gpa, d);
            }
        }
        let streamed = snp::StreamedFirmware { layout, ovmf_gctx_digest: gctx.ld() };
        let mut without_image = l.clone();
        without_image.firmware = Vec::new();
        match (snp::measure(&l), snp::measure_streamed(&without_image, &streamed)) {
            (Ok(a), Ok(b)) => assert_eq!(a.launch_digest, b.launch_digest, "{id}"),
            (Err(Error::KernelHashesUnsupported { .. }), Err(Error::KernelHashesUnsupported { .. })) => {}
            (a, b) => panic!("{id}: whole {a:?}, streamed {b:?}"),
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
    let sev = cases(&json).iter().find(|c| c["mode"] == "sev").unwrap();
    let l = launch(&json, sev);
    let streamed = snp::StreamedFirmware {
        layout: arca_firmware::parse_sev_layout(&l.firmware).unwrap(),
        ovmf_gctx_digest: [0; 48],
    };
    assert!(matches!(snp::measure_streamed(&l, &streamed), Err(Error::InvalidInput { field: "mode", .. })));
}
