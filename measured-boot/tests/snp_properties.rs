//! Properties of the SNP launch digest: deterministic, and sensitive to
//! every measured input.

mod common;

use arca_measure::snp::{self, SevMode, SnpLaunch, VcpuSpec};
use proptest::prelude::*;

/// vCPU types with pairwise different signatures.
const TYPES: [&str; 5] = ["EPYC-v4", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"];

fn fixture() -> Vec<u8> {
    common::firmware(&common::snp_json(), "fixture-amdsev-suffix")
}

fn digest(l: &SnpLaunch) -> Vec<u8> {
    snp::measure(l).unwrap().launch_digest
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn deterministic_and_input_sensitive(
        kernel in proptest::collection::vec(any::<u8>(), 0..512),
        initrd in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..512)),
        cmdline in proptest::option::of("[ -~]{0,64}"),
        vcpus in 1u32..6,
        vcpu_type in 0usize..TYPES.len(),
        fw_byte in 0usize..4096,
        fw_xor in 1u8..=255,
        mode in prop_oneof![Just(SevMode::Snp), Just(SevMode::SevEs)],
    ) {
        let fw = fixture();
        let mut base = SnpLaunch::new(mode, fw.clone());
        base.kernel = Some(kernel.clone());
        base.initrd = initrd.clone();
        base.cmdline = cmdline.clone();
        base.vcpus = vcpus;
        base.vcpu = Some(VcpuSpec::Type(TYPES[vcpu_type].to_string()));
        let d = digest(&base);
        prop_assert_eq!(&d, &digest(&base.clone()));

        let mut l = base.clone();
        l.kernel.as_mut().unwrap().push(0);
        prop_assert_ne!(&d, &digest(&l), "kernel");

        let mut l = base.clone();
        l.initrd = Some(initrd.clone().map_or(vec![1], |mut i| { i.push(1); i }));
        prop_assert_ne!(&d, &digest(&l), "initrd");

        let mut l = base.clone();
        l.cmdline = Some(format!("{}x", cmdline.clone().unwrap_or_default()));
        prop_assert_ne!(&d, &digest(&l), "cmdline");

        let mut l = base.clone();
        l.firmware[fw_byte] ^= fw_xor;
        // A flipped byte may break the footer or metadata; then the launch
        // is refused, which also differs from the original digest.
        if let Ok(m) = snp::measure(&l) {
            prop_assert_ne!(&d, &m.launch_digest, "firmware byte {:#x}", fw_byte);
        }

        let mut l = base.clone();
        l.vcpus += 1;
        prop_assert_ne!(&d, &digest(&l), "vcpu count");

        let mut l = base.clone();
        l.vcpu = Some(VcpuSpec::Type(TYPES[(vcpu_type + 1) % TYPES.len()].to_string()));
        prop_assert_ne!(&d, &digest(&l), "vcpu type");
    }

    #[test]
    fn guest_features_change_snp_but_not_seves(features in 0u64..0x1000) {
        let mut l = SnpLaunch::new(SevMode::Snp, fixture());
        l.vcpu = Some(VcpuSpec::Type("EPYC-v4".into()));
        let base = digest(&l);
        l.guest_features = features;
        prop_assert_eq!(base == digest(&l), features == 1);
        l.mode = SevMode::SevEs;
        let es = digest(&l);
        l.guest_features = 1;
        prop_assert_eq!(es, digest(&l));
    }
}
