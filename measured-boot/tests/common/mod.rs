//! Shared by the measurement tests: the vectors directory, and loading
//! `snp.json` cases into launches.

#![allow(dead_code)]

use std::path::PathBuf;

use arca_measure::snp::{SevMode, SnpLaunch, VcpuSpec};
use serde_json::Value;

/// `<vectors>/measurement`; a missing directory fails the test.
pub fn measurement_dir() -> PathBuf {
    let dir = std::env::var_os("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")));
    assert!(dir.is_dir(), "vectors directory {} is missing (set ARCA_VECTORS)", dir.display());
    dir.join("measurement")
}

/// The parsed `snp.json`.
pub fn snp_json() -> Value {
    let path = measurement_dir().join("snp.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("parse snp.json")
}

/// Reads a file named relative to the measurement directory.
pub fn read(rel: &str) -> Vec<u8> {
    let path = measurement_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses `0x…` (possibly followed by a note) as a number.
pub fn hex_num(v: &Value) -> u64 {
    let text = v.as_str().unwrap().split_whitespace().next().unwrap();
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

/// The firmware image bytes for a firmware id.
pub fn firmware(json: &Value, id: &str) -> Vec<u8> {
    read(json["firmware"][id]["path"].as_str().unwrap())
}

fn input(json: &Value, id: &Value) -> Option<Vec<u8>> {
    id.as_str().map(|id| read(json["inputs"][id]["path"].as_str().unwrap()))
}

/// The launch a case describes (from its structured fields).
pub fn launch(json: &Value, case: &Value) -> SnpLaunch {
    let mode: SevMode = case["mode"].as_str().unwrap().parse().unwrap();
    let mut l = SnpLaunch::new(mode, firmware(json, case["firmware"].as_str().unwrap()));
    l.kernel = input(json, &case["kernel"]);
    l.initrd = input(json, &case["initrd"]);
    if case["cmdline"].is_object() {
        let text = case["cmdline"]["text"].as_str().unwrap().to_string();
        if let Some(bytes) = input(json, &case["cmdline"]["input"]) {
            assert_eq!(bytes, text.as_bytes(), "{}: cmdline file and text differ", case["id"]);
        }
        l.cmdline = Some(text);
    }
    if let Some(n) = case["vcpus"].as_u64() {
        l.vcpus = n as u32;
    }
    l.vcpu = if let Some(t) = case["vcpu_type"].as_str() {
        Some(VcpuSpec::Type(t.to_string()))
    } else if !case["vcpu_sig_arg"].is_null() {
        Some(VcpuSpec::Signature(hex_num(&case["vcpu_sig_arg"]) as u32))
    } else if let Some(fms) = case["vcpu_family_model_stepping"].as_array() {
        let n = |i: usize| fms[i].as_u64().unwrap() as u32;
        Some(VcpuSpec::FamilyModelStepping { family: n(0), model: n(1), stepping: n(2) })
    } else {
        None
    };
    if !case["guest_features"].is_null() {
        l.guest_features = hex_num(&case["guest_features"]);
    }
    l.vmm_type = case["vmm_type"].as_str().unwrap().parse().unwrap();
    if let Some(h) = case["snp_ovmf_hash"].as_str() {
        l.snp_ovmf_hash = Some(hex::decode(h).unwrap().try_into().unwrap());
    }
    l
}
