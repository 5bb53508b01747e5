//! Arm CCA RIM against `shared/vectors/measurement/cca.json`: every case's
//! final RIM, every intermediate step, the realm parameters and the
//! must-equal pairs. Cases are read from the JSON in place.

mod common;

use arca_measure::cca::{self, CcaLaunch, HashAlgo, HostCapabilities, PersonalizationValue, Vmm};
use arca_measure::{Error, LaunchConfig, Measurements};
use serde_json::Value;

fn read(rel: &str) -> Vec<u8> {
    let p = common::measurement_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn cases() -> Vec<Value> {
    let doc: Value = serde_json::from_slice(&read("cca.json")).expect("cca.json");
    let cases = doc["cases"].as_array().expect("cases").clone();
    assert_eq!(cases.len(), 6, "cca.json changed: update this test");
    cases
}

fn mem_size(s: &str) -> u64 {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'G') => (&s[..s.len() - 1], 1 << 30),
        Some(b'M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1 << 20),
    };
    num.parse::<u64>().unwrap() * mult
}

/// The launch a case's recorded `argv` describes (the few options the
/// vectors use; the CLI has the full parser).
fn launch_of(case: &Value) -> CcaLaunch {
    let argv: Vec<String> = case["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    let mut configs = Vec::new();
    let (mut kernel, mut initrd, mut dtb) = (None, None, None);
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "-vv" => {}
            "-c" => configs.push(String::from_utf8(read(&argv[i + 1])).unwrap()),
            "-k" => kernel = Some(read(&argv[i + 1])),
            "-i" => initrd = Some(read(&argv[i + 1])),
            "--output-dtb" => dtb = Some(read(&argv[i + 1])),
            _ => break,
        }
        i += if argv[i] == "-vv" { 1 } else { 2 };
    }
    let vmm = match argv[i].as_str() {
        "qemu" => Vmm::Qemu,
        "kvmtool" => Vmm::Kvmtool,
        other => panic!("vmm {other}"),
    };
    let rest = &argv[i + 1..];
    let mut launch = CcaLaunch {
        vmm,
        kernel: kernel.expect("kernel"),
        initrd,
        dtb: dtb.expect("dtb"),
        memory_size: 0,
        vcpus: 0,
        cmdline: None,
        host: HostCapabilities::from_configs(&configs).unwrap(),
        hash_algo: None,
        personalization_value: None,
    };
    let mut j = 0;
    while j < rest.len() {
        let (opt, val) = (rest[j].as_str(), rest.get(j + 1).map(String::as_str).unwrap_or(""));
        let mut takes = true;
        match (vmm, opt) {
            (Vmm::Qemu, "-smp") | (Vmm::Kvmtool, "-c") => launch.vcpus = val.parse().unwrap(),
            (_, "-m") => launch.memory_size = mem_size(val),
            (Vmm::Qemu, "-append") | (Vmm::Kvmtool, "-p") => launch.cmdline = Some(val.to_owned()),
            (Vmm::Kvmtool, "--measurement-algo") => launch.hash_algo = Some(val.parse().unwrap()),
            (Vmm::Qemu, "-object") => {
                for kv in val.split(',').skip(1) {
                    match kv.split_once('=').unwrap() {
                        ("measurement-algo", a) => launch.hash_algo = Some(a.parse().unwrap()),
                        ("personalization-value", h) => {
                            launch.personalization_value = Some(PersonalizationValue::from_hex(h).unwrap())
                        }
                        _ => {}
                    }
                }
            }
            (Vmm::Qemu, "-M" | "-cpu" | "-kernel" | "-initrd") | (Vmm::Kvmtool, "--console" | "-k" | "-i") => {}
            _ => takes = false,
        }
        j += if takes { 2 } else { 1 };
    }
    assert!(launch.memory_size > 0 && launch.vcpus > 0, "{}", case["id"]);
    launch
}

/// A recorded RIM is 64 bytes of hex: the digest, zero-padded.
fn padded(rim_hex: &str) -> String {
    format!("{rim_hex:0<128}")
}

#[test]
fn every_case_matches_rim_and_every_step() {
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let launch = launch_of(&case);
        let m = cca::measure(&launch).unwrap_or_else(|e| panic!("{id}: {e}"));
        let steps = case["steps"].as_array().unwrap();
        assert_eq!(m.trace.len(), steps.len(), "{id}: number of steps");
        for (k, (got, want)) in m.trace.iter().zip(steps).enumerate() {
            assert_eq!(got.label(), want["step"].as_str().unwrap(), "{id}: step {k} label");
            assert_eq!(got.step, got.label(), "{id}: step {k}");
            assert_eq!(padded(&got.rim), want["rim_after"].as_str().unwrap(), "{id}: step {k} ({})", got.label());
        }
        assert_eq!(padded(&m.rim), case["expected"]["rim_hex"].as_str().unwrap(), "{id}: final RIM");
        assert_eq!(m.rim.len(), 2 * m.hash_algo.digest_len(), "{id}: RIM at digest length");
        assert_eq!(m.reference_values().get("cca_rim"), Some(&m.rim), "{id}");
    }
}

#[test]
fn realm_params_are_the_recorded_ones() {
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let m = cca::measure(&launch_of(&case)).unwrap();
        let recorded = case["realm_params_as_measured"].as_str().unwrap();
        let p = &m.realm_params;
        let algo = match p.hash_algo {
            HashAlgo::Sha256 => "RmiHashSha256",
            HashAlgo::Sha512 => "RmiHashSha512",
        };
        for (name, value) in [
            ("ipa_bits", p.ipa_bits.to_string()),
            ("num_bps", p.num_bps.to_string()),
            ("num_wps", p.num_wps.to_string()),
            ("sve_vl", p.sve_vl.to_string()),
            ("pmu_num_ctrs", p.pmu_num_ctrs.to_string()),
            ("pmu", p.pmu.to_string()),
            ("lpa2", p.lpa2.to_string()),
            ("hash_algo", algo.to_string()),
        ] {
            let field = format!("{name}: Some( {value}, )");
            assert!(recorded.contains(&field), "{id}: {field} not in {recorded}");
        }
    }
}

#[test]
fn dtb_inputs_are_the_recorded_ones() {
    use sha2::Digest;
    for case in cases() {
        let g = &case["generated_dtb"];
        let bytes = read(g["path"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, g["size"].as_u64().unwrap());
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), g["sha256"].as_str().unwrap());
    }
}

#[test]
fn must_equal_pairs_hold_and_rpv_is_reported() {
    let cases = cases();
    let mut pairs = 0;
    for case in &cases {
        let Some(other) = case["must_equal_case"].as_str() else { continue };
        let twin = cases.iter().find(|c| c["id"] == other).expect("twin case");
        let a = cca::measure(&launch_of(case)).unwrap();
        let b = cca::measure(&launch_of(twin)).unwrap();
        assert_eq!(a.rim, b.rim);
        assert_ne!(a.personalization_value, b.personalization_value);
        let rpv = a.personalization_value.expect("rpv reported");
        assert_eq!(&rpv[..32], hex::encode("arca-measure-rpv"));
        assert!(rpv[32..].bytes().all(|c| c == b'0'));
        pairs += 1;
    }
    assert_eq!(pairs, 1);
}

#[test]
fn launch_config_dispatches_and_serializes() {
    let case = &cases()[0];
    let m = LaunchConfig::Cca(launch_of(case)).measure().unwrap();
    let Measurements::Cca(ref cca) = m else { panic!("not CCA") };
    assert_eq!(m.reference_values(), cca.reference_values());
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["tee"], "cca");
    assert_eq!(padded(v["rim"].as_str().unwrap()), case["expected"]["rim_hex"].as_str().unwrap());
    assert_eq!(v["hash_algo"], "sha512");
    assert_eq!(v["trace"][1]["op"], "init_ripas");
}

#[test]
fn sha256_and_sha512_give_different_rims_for_one_launch() {
    let mut launch = launch_of(&cases()[0]);
    launch.hash_algo = Some(HashAlgo::Sha256);
    let a = cca::measure(&launch).unwrap();
    launch.hash_algo = Some(HashAlgo::Sha512);
    let b = cca::measure(&launch).unwrap();
    assert_eq!((a.rim.len(), b.rim.len()), (64, 128));
    assert_ne!(a.rim, b.rim[..64]);
}

#[test]
fn a_dtb_for_another_launch_is_refused() {
    let base = launch_of(&cases()[0]);
    let check = |l: CcaLaunch, field: &str| match cca::measure(&l) {
        Err(Error::CcaDtbMismatch { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: {other:?}"),
    };
    let mut l = base.clone();
    l.vcpus = 3;
    check(l, "cpus");
    let mut l = base.clone();
    l.memory_size = 1 << 30;
    check(l, "memory");
    let mut l = base.clone();
    l.cmdline = Some("console=ttyAMA0".into());
    check(l, "bootargs");
    let mut l = base.clone();
    l.initrd.as_mut().unwrap().push(0);
    check(l, "initrd");
}
