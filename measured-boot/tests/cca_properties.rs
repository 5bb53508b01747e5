//! Properties of the CCA RIM: measuring is deterministic, and any change to
//! a measured input (kernel, initrd, command line, vCPU count, RAM size,
//! realm CPU features) changes the RIM; a DTB left stale by such a change is
//! refused.

mod cca_fdt;

use arca_measure::cca::{self, CcaLaunch, HashAlgo, HostCapabilities, Vmm};
use arca_measure::Error;
use cca_fdt::{build, DtbSpec};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Inputs {
    vmm: Vmm,
    memory_mib: u64,
    vcpus: u32,
    kernel: Vec<u8>,
    initrd: Option<Vec<u8>>,
    cmdline: Option<String>,
    algo: HashAlgo,
    sve_vl: u16,
}

fn kernel_image(body: &[u8]) -> Vec<u8> {
    let mut k = vec![0u8; 64];
    k.extend_from_slice(body);
    // image_size: the file rounded up to 64 KiB.
    let image_size = (k.len() as u64).next_multiple_of(0x1_0000);
    k[0x10..0x18].copy_from_slice(&image_size.to_le_bytes());
    k[0x38..0x3c].copy_from_slice(b"ARM\x64");
    k
}

fn host(sve_vl: u16) -> HostCapabilities {
    HostCapabilities {
        ipa_bits: Some(48),
        num_bps: Some(6),
        num_wps: Some(4),
        sve_vl: Some(sve_vl),
        pmu_num_ctrs: Some(6),
        pmu: Some(true),
        lpa2: Some(false),
    }
}

/// The launch with a DTB that describes it.
fn launch(i: &Inputs) -> CcaLaunch {
    let header = cca::parse_arm64_image_header(&i.kernel).unwrap();
    let memory_size = i.memory_mib << 20;
    let initrd_len = i.initrd.as_ref().map(|b| b.len() as u64);
    let layout = cca::plan_layout(i.vmm, memory_size, &header, initrd_len, 0x1000).unwrap();
    let dtb = build(&DtbSpec {
        ram: (layout.ram_base, memory_size),
        cpus: i.vcpus,
        bootargs: i.cmdline.as_deref(),
        initrd: layout.initrd.zip(initrd_len).filter(|(_, len)| *len > 0).map(|(at, len)| (at, at + len)),
    });
    CcaLaunch {
        vmm: i.vmm,
        kernel: i.kernel.clone(),
        initrd: i.initrd.clone(),
        dtb,
        memory_size,
        vcpus: i.vcpus,
        cmdline: i.cmdline.clone(),
        host: host(i.sve_vl),
        hash_algo: Some(i.algo),
        personalization_value: None,
    }
}

fn rim(i: &Inputs) -> String {
    cca::measure(&launch(i)).unwrap().rim
}

fn inputs() -> impl Strategy<Value = Inputs> {
    (
        prop_oneof![Just(Vmm::Qemu), Just(Vmm::Kvmtool)],
        // 2 MiB steps suit both VMMs; at least 8 MiB.
        (4u64..256).prop_map(|n| n * 2),
        1u32..9,
        proptest::collection::vec(any::<u8>(), 1..9000),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..9000)),
        proptest::option::of("[a-z=. ]{1,40}"),
        prop_oneof![Just(HashAlgo::Sha256), Just(HashAlgo::Sha512)],
        (1u16..=16).prop_map(|q| q * 128),
    )
        .prop_map(|(vmm, memory_mib, vcpus, body, initrd, cmdline, algo, sve_vl)| Inputs {
            vmm,
            memory_mib,
            vcpus,
            kernel: kernel_image(&body),
            initrd,
            cmdline: cmdline.filter(|c| !c.trim().is_empty()),
            algo,
            sve_vl,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn deterministic(i in inputs()) {
        prop_assert_eq!(rim(&i), rim(&i));
    }

    #[test]
    fn kernel_byte_changes_rim(i in inputs(), at in any::<prop::sample::Index>()) {
        let mut j = i.clone();
        // Any byte after the header (a header change may move the layout).
        let k = 64 + at.index(j.kernel.len() - 64);
        j.kernel[k] ^= 0x01;
        prop_assert_ne!(rim(&i), rim(&j));
    }

    #[test]
    fn initrd_byte_changes_rim(i in inputs(), at in any::<prop::sample::Index>()) {
        prop_assume!(i.initrd.is_some());
        let mut j = i.clone();
        let initrd = j.initrd.as_mut().unwrap();
        let k = at.index(initrd.len());
        initrd[k] ^= 0x80;
        prop_assert_ne!(rim(&i), rim(&j));
    }

    #[test]
    fn cmdline_changes_rim_and_stale_dtb_is_refused(i in inputs()) {
        let mut j = i.clone();
        j.cmdline = Some(format!("{} x", i.cmdline.clone().unwrap_or_default()));
        prop_assert_ne!(rim(&i), rim(&j));
        let mut stale = launch(&j);
        stale.dtb = launch(&i).dtb;
        let refused = matches!(cca::measure(&stale), Err(Error::CcaDtbMismatch { field: "bootargs", .. }));
        prop_assert!(refused);
    }

    #[test]
    fn vcpu_count_changes_rim_and_stale_dtb_is_refused(i in inputs()) {
        let mut j = i.clone();
        j.vcpus += 1;
        prop_assert_ne!(rim(&i), rim(&j));
        let mut stale = launch(&j);
        stale.dtb = launch(&i).dtb;
        let refused = matches!(cca::measure(&stale), Err(Error::CcaDtbMismatch { field: "cpus", .. }));
        prop_assert!(refused);
    }

    #[test]
    fn memory_size_changes_rim(i in inputs()) {
        let mut j = i.clone();
        j.memory_mib += 2;
        prop_assert_ne!(rim(&i), rim(&j));
    }

    #[test]
    fn realm_cpu_features_change_rim(i in inputs()) {
        let mut j = i.clone();
        j.sve_vl = if i.sve_vl == 2048 { 128 } else { i.sve_vl + 128 };
        prop_assert_ne!(rim(&i), rim(&j));
        let mut k = i.clone();
        k.algo = if i.algo == HashAlgo::Sha256 { HashAlgo::Sha512 } else { HashAlgo::Sha256 };
        prop_assert_ne!(rim(&i), rim(&k));
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = cca::parse_dtb(&bytes);
        let _ = cca::parse_arm64_image_header(&bytes);
        let _ = cca::parse_host_config(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_dtbs_never_panic(i in inputs(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut l = launch(&i);
        let k = at.index(l.dtb.len());
        l.dtb[k] = byte;
        let _ = cca::parse_dtb(&l.dtb);
        let _ = cca::measure(&l);
    }
}
