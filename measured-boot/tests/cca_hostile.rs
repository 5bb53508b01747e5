//! Hostile and inconsistent CCA inputs give errors naming the field, never
//! a panic or a value.

mod cca_fdt;

use arca_measure::cca::{self, CcaLaunch, HostCapabilities, Vmm};
use arca_measure::Error;
use cca_fdt::{build, DtbSpec};

fn kernel(len: usize, text_offset: u64, image_size: u64) -> Vec<u8> {
    let mut k = vec![0x5au8; len.max(64)];
    k[..64].fill(0);
    k[0x08..0x10].copy_from_slice(&text_offset.to_le_bytes());
    k[0x10..0x18].copy_from_slice(&image_size.to_le_bytes());
    k[0x38..0x3c].copy_from_slice(b"ARM\x64");
    k
}

fn host() -> HostCapabilities {
    HostCapabilities {
        ipa_bits: Some(48),
        num_bps: Some(2),
        num_wps: Some(2),
        sve_vl: Some(0),
        pmu_num_ctrs: Some(0),
        pmu: Some(false),
        lpa2: Some(false),
    }
}

/// A consistent QEMU launch (64 MiB, 1 vCPU) of `kernel`, DTB included.
fn qemu(kernel: Vec<u8>, initrd: Option<Vec<u8>>) -> CcaLaunch {
    let memory_size = 64 << 20;
    let header = cca::parse_arm64_image_header(&kernel).unwrap();
    let len = initrd.as_ref().map(|i| i.len() as u64);
    let layout = cca::plan_layout(Vmm::Qemu, memory_size, &header, len, 0x1000).unwrap();
    let dtb = build(&DtbSpec {
        ram: (layout.ram_base, memory_size),
        cpus: 1,
        bootargs: None,
        initrd: layout.initrd.zip(len).map(|(a, n)| (a, a + n)),
    });
    CcaLaunch {
        vmm: Vmm::Qemu,
        kernel,
        initrd,
        dtb,
        memory_size,
        vcpus: 1,
        cmdline: None,
        host: host(),
        hash_algo: None,
        personalization_value: None,
    }
}

#[track_caller]
fn layout_err(l: &CcaLaunch, want: &str) {
    match cca::measure(l) {
        Err(Error::CcaLayout { field, reason }) => assert_eq!(field, want, "{reason}"),
        other => panic!("expected a layout error on {want}, got {other:?}"),
    }
}

#[track_caller]
fn dtb_err(dtb: &[u8], want: &str) {
    match cca::parse_dtb(dtb) {
        Err(Error::CcaDtb { field, reason }) => assert_eq!(field, want, "{reason}"),
        other => panic!("expected a DTB error on {want}, got {other:?}"),
    }
}

#[test]
fn the_baseline_launch_measures() {
    let m = cca::measure(&qemu(kernel(8192, 0, 0x1_0000), Some(vec![7; 5000]))).unwrap();
    assert_eq!(m.rim.len(), 128);
    assert_eq!(m.trace.len(), 6);
}

#[test]
fn truncated_or_foreign_kernels_are_refused() {
    for (bytes, field) in [
        (vec![], "magic"),
        (kernel(64, 0, 0)[..0x3b].to_vec(), "magic"),
        (vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0], "magic"), // gzip
        (
            {
                let mut k = kernel(4096, 0, 0);
                k[0x38] = b'X';
                k
            },
            "magic",
        ),
    ] {
        match cca::parse_arm64_image_header(&bytes) {
            Err(Error::CcaKernelHeader { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    let mut l = qemu(kernel(4096, 0, 0x1_0000), None);
    l.kernel.truncate(32);
    assert!(matches!(cca::measure(&l), Err(Error::CcaKernelHeader { field: "magic", .. })));
}

#[test]
fn images_that_do_not_fit_are_refused() {
    // A kernel larger than RAM.
    let mut l = qemu(kernel(4096, 0, 0x1_0000), None);
    l.kernel = kernel(65 << 20, 0, 0x1_0000);
    layout_err(&l, "kernel");
    // A kernel longer than its image_size runs into the initrd.
    let mut l = qemu(kernel(4096, 0, 0x1_0000), Some(vec![1; 100]));
    l.kernel = kernel((32 << 20) + 4096, 0, 0x1_0000);
    layout_err(&l, "initrd");
    // text_offset or image_size that overflow or leave RAM.
    let mut l = qemu(kernel(4096, 0, 0x1_0000), None);
    l.kernel = kernel(4096, u64::MAX - 10, 0);
    layout_err(&l, "text_offset");
    l.kernel = kernel(4096, 0, u64::MAX - 10);
    layout_err(&l, "image_size");
    l.kernel = kernel(4096, 1 << 40, 0);
    layout_err(&l, "kernel");
    // An initrd past the end of RAM (QEMU).
    let l = CcaLaunch { initrd: Some(vec![0; 40 << 20]), ..qemu(kernel(4096, 0, 0x1_0000), None) };
    layout_err(&l, "initrd");
    // kvmtool: the initrd must fit below the DTB area, the DTB in its area.
    let mut l = qemu(kernel(4096, 0, 0x1_0000), None);
    l.vmm = Vmm::Kvmtool;
    l.initrd = Some(vec![0; 64 << 20]);
    layout_err(&l, "initrd");
    l.initrd = None;
    l.dtb = vec![0; 0x1_0001];
    layout_err(&l, "dtb");
}

#[test]
fn bad_memory_sizes_are_refused() {
    let base = qemu(kernel(4096, 0, 0x1_0000), None);
    for (vmm, size) in [
        (Vmm::Qemu, 0),
        (Vmm::Qemu, (64 << 20) + 1),
        (Vmm::Qemu, 256 << 30),
        (Vmm::Kvmtool, 3 << 20),
        (Vmm::Kvmtool, 2 << 20),
    ] {
        let l = CcaLaunch { vmm, memory_size: size, ..base.clone() };
        layout_err(&l, "memory_size");
    }
}

#[test]
fn missing_or_impossible_realm_parameters_are_refused() {
    let base = qemu(kernel(4096, 0, 0x1_0000), None);
    let param = |host: HostCapabilities, want: &str| {
        let l = CcaLaunch { host, ..base.clone() };
        match cca::measure(&l) {
            Err(Error::CcaRealmParam { field, .. }) => assert_eq!(field, want),
            other => panic!("{want}: {other:?}"),
        }
    };
    param(HostCapabilities { ipa_bits: None, ..host() }, "ipa_bits");
    param(HostCapabilities { ipa_bits: Some(40), ..host() }, "ipa_bits");
    param(HostCapabilities { num_bps: None, ..host() }, "num_bps");
    param(HostCapabilities { num_wps: Some(1), ..host() }, "num_wps");
    param(HostCapabilities { pmu: Some(true), pmu_num_ctrs: None, ..host() }, "pmu_num_ctrs");
    param(HostCapabilities { sve_vl: Some(100), ..host() }, "sve_vl");
    // kvmtool: RAM above 4 GiB needs more than 32 protected IPA bits.
    let mut l = base.clone();
    l.vmm = Vmm::Kvmtool;
    l.memory_size = 4 << 30;
    l.host.ipa_bits = Some(33);
    assert!(matches!(cca::measure(&l), Err(Error::CcaRealmParam { field: "ipa_bits", .. })));
    assert!(matches!("md5".parse::<cca::HashAlgo>(), Err(Error::CcaRealmParam { .. })));
}

#[test]
fn malformed_capability_files_are_refused() {
    for (text, line) in [
        ("ipa_bits = ", "line 1"),
        ("# caps\nipa_bits = \"52\"", "line 2"),
        ("[section]\nx = 1", "line 1"),
        ("lpa2 = false\nhash_algo = \"sha256\"", "line 2"),
        ("ipa_bits = 300", "line 1"),
    ] {
        match cca::parse_host_config(text) {
            Err(e @ Error::CcaHostConfig { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(line) && !msg.contains('\n'), "{text:?}: {msg}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let huge = "# x\n".repeat(cca::MAX_HOST_CONFIG_SIZE);
    assert!(matches!(cca::parse_host_config(&huge), Err(Error::CcaHostConfig { .. })));
}

fn set_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn malformed_dtbs_are_refused() {
    let good = build(&DtbSpec { ram: (0x4000_0000, 1 << 30), cpus: 2, bootargs: Some("a"), initrd: Some((1, 2)) });
    let info = cca::parse_dtb(&good).unwrap();
    assert_eq!((info.cpus, info.memory.clone(), info.initrd), (2, vec![(0x4000_0000, 1 << 30)], Some((1, 2))));
    assert_eq!(info.bootargs.as_deref(), Some("a"));

    dtb_err(&good[..20], "header");
    let mut b = good.clone();
    b[0] = 0;
    dtb_err(&b, "magic");
    let mut b = good.clone();
    set_be32(&mut b, 4, good.len() as u32 + 1);
    dtb_err(&b, "totalsize");
    let mut b = good.clone();
    set_be32(&mut b, 20, 16);
    dtb_err(&b, "version");
    let mut b = good.clone();
    set_be32(&mut b, 8, 0xffff_fff0);
    dtb_err(&b, "off_dt_struct");
    let mut b = good.clone();
    set_be32(&mut b, 32, 0x1000_0000);
    dtb_err(&b, "off_dt_strings");

    // Structure block edits: the first token is the root FDT_BEGIN_NODE,
    // then (name padded to 4) the first property.
    let off = be32(&good, 8) as usize;
    let mut b = good.clone();
    set_be32(&mut b, off, 0x77);
    dtb_err(&b, "structure block");
    let mut b = good.clone();
    set_be32(&mut b, off + 12, 0x00ff_ffff); // first property's length
    dtb_err(&b, "property length");
    let mut b = good.clone();
    set_be32(&mut b, off + 16, 0x00ff_ffff); // first property's name offset
    dtb_err(&b, "property name offset");
    // A structure block cut short (no FDT_END_NODE for the root).
    let mut b = good.clone();
    let size = be32(&good, 36);
    set_be32(&mut b, 36, size - 8);
    dtb_err(&b, "structure block");
    // A node name without NUL to the end of the block.
    let mut b = good.clone();
    let end = off + size as usize;
    b[off + 8..end].fill(b'a');
    set_be32(&mut b, off, 1);
    set_be32(&mut b, off + 4, u32::from_be_bytes(*b"aaaa"));
    dtb_err(&b, "node name");

    // Nesting deeper than any VMM writes.
    let mut deep = good[..off].to_vec();
    let mut structs = Vec::new();
    for _ in 0..100 {
        structs.extend_from_slice(&1u32.to_be_bytes());
        structs.extend_from_slice(&[b'n', 0, 0, 0]);
    }
    deep.extend_from_slice(&structs);
    let total = deep.len() as u32;
    set_be32(&mut deep, 4, total);
    set_be32(&mut deep, 36, structs.len() as u32);
    set_be32(&mut deep, 12, off as u32);
    set_be32(&mut deep, 32, 0);
    dtb_err(&deep, "structure block");

    // A DTB that parses but is not a real launch's: no memory node.
    let mut l = qemu(kernel(4096, 0, 0x1_0000), None);
    l.dtb = build(&DtbSpec { ram: (0, 0), cpus: 1, bootargs: None, initrd: None });
    assert!(matches!(cca::measure(&l), Err(Error::CcaDtbMismatch { field: "memory", .. })));
    l.dtb = vec![0; 100];
    assert!(matches!(cca::measure(&l), Err(Error::CcaDtb { .. })));
}

#[test]
fn kvmtool_ram_above_4gib_gets_the_ipa_bit_kvmtool_gives_it() {
    // 6 GiB at 2 GiB: the last byte 0x1_ffff_ffff needs 33 bits, 34 with
    // the unprotected alias; 2 GiB ends at 4 GiB: 32 + 1.
    for (gib, bits) in [(2u64, 33u8), (4, 34), (6, 34)] {
        let memory_size = gib << 30;
        let k = kernel(4096, 0, 0x1_0000);
        let header = cca::parse_arm64_image_header(&k).unwrap();
        let layout = cca::plan_layout(Vmm::Kvmtool, memory_size, &header, None, 0x1000).unwrap();
        let l = CcaLaunch {
            vmm: Vmm::Kvmtool,
            kernel: k,
            dtb: build(&DtbSpec { ram: (layout.ram_base, memory_size), cpus: 1, bootargs: None, initrd: None }),
            memory_size,
            ..qemu(kernel(4096, 0, 0x1_0000), None)
        };
        assert_eq!(cca::measure(&l).unwrap().realm_params.ipa_bits, bits, "{gib} GiB");
    }
}
