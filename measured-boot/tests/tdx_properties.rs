//! Properties of TDX measurement on a small synthetic TDVF image: measuring
//! is deterministic, and every input that is measured changes the register
//! that measures it, while inputs that only reach RTMR[0] (vCPU count)
//! change nothing that is predicted.

use arca_measure::tdx::{measure, PageAddOrder, TdxLaunch, TdxMeasurements};
use proptest::prelude::*;

const IMAGE: usize = 0x10000;
/// BFV: the top 0x8000 bytes below the footer area, extended.
const BFV: (u32, u32) = (0x8000, 0x7000);
const DESC_FROM_END: u32 = 0x800;

fn guid(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut b: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    b[..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b.try_into().unwrap()
}

fn section(out: &mut Vec<u8>, data_offset: u32, raw: u32, addr: u64, size: u64, ty: u32, attrs: u32) {
    for v in [data_offset, raw] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&addr.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&attrs.to_le_bytes());
}

/// A 64 KiB TDVF-shaped image: BFV (extended), CFV, TD_HOB, TEMP_MEM, and a
/// footer table pointing at the descriptor.
fn firmware(seed: u8) -> Vec<u8> {
    let mut img: Vec<u8> = (0..IMAGE).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let mut desc = Vec::new();
    desc.extend_from_slice(b"TDVF");
    desc.extend_from_slice(&(16u32 + 32 * 4).to_le_bytes());
    desc.extend_from_slice(&1u32.to_le_bytes());
    desc.extend_from_slice(&4u32.to_le_bytes());
    section(&mut desc, BFV.0, BFV.1, 0xffff_8000, 0x7000, 0, 1);
    section(&mut desc, 0, 0x8000, 0xffff_0000, 0x8000, 1, 0);
    section(&mut desc, 0, 0, 0x80_9000, 0x2000, 2, 0);
    section(&mut desc, 0, 0, 0x80_0000, 0x6000, 3, 0);
    let at = IMAGE - DESC_FROM_END as usize;
    img[at - 16..at].copy_from_slice(&guid("e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae"));
    img[at..at + desc.len()].copy_from_slice(&desc);
    let mut table = Vec::new();
    table.extend_from_slice(&DESC_FROM_END.to_le_bytes());
    table.extend_from_slice(&22u16.to_le_bytes());
    table.extend_from_slice(&guid("e47a6535-984a-4798-865e-4685a7bf8ec2"));
    table.extend_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    table.extend_from_slice(&guid("96b582de-1fb2-45f7-baea-a366c55a082d"));
    let start = IMAGE - 32 - table.len();
    img[start..start + table.len()].copy_from_slice(&table);
    img
}

/// A PE32+ bzImage-shaped kernel: setup header (protocol 2.15), one
/// section at 0x400..0x1000.
fn kernel(seed: u8) -> Vec<u8> {
    let mut k: Vec<u8> = (0..0x1000usize).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect();
    k[0..2].copy_from_slice(b"MZ");
    k[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    k[0x40..0x44].copy_from_slice(b"PE\0\0");
    k[0x46..0x48].copy_from_slice(&1u16.to_le_bytes());
    k[0x54..0x56].copy_from_slice(&(112u16 + 6 * 8).to_le_bytes());
    let opt = 0x58;
    k[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    k[opt + 60..opt + 64].copy_from_slice(&0x400u32.to_le_bytes());
    k[opt + 108..opt + 112].copy_from_slice(&6u32.to_le_bytes());
    k[opt + 144..opt + 152].fill(0);
    let sec = opt + 112 + 48;
    k[sec + 16..sec + 20].copy_from_slice(&0xc00u32.to_le_bytes());
    k[sec + 20..sec + 24].copy_from_slice(&0x400u32.to_le_bytes());
    // Linux setup header (sits inside the PE headers' hashed bytes).
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
    k[0x211] = 0x01;
    k[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    k[0x236..0x238].copy_from_slice(&0x7fu16.to_le_bytes());
    k
}

fn launch(seed: u8) -> TdxLaunch {
    let mut l = TdxLaunch::new(firmware(seed));
    l.kernel = Some(kernel(seed));
    l.initrd = Some(vec![seed; 0x1234]);
    l.cmdline = Some("console=hvc0".into());
    l.memory = 1 << 30;
    l
}

fn run(l: &TdxLaunch) -> TdxMeasurements {
    measure(l).expect("synthetic launch measures")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn deterministic(seed in any::<u8>()) {
        prop_assert_eq!(run(&launch(seed)), run(&launch(seed)));
    }

    #[test]
    fn measured_firmware_byte_changes_mrtd(seed in any::<u8>(), at in 0..BFV.1 as usize, flip in 1..=255u8) {
        let base = launch(seed);
        let mut changed = base.clone();
        changed.firmware[BFV.0 as usize + at] ^= flip;
        let (a, b) = (run(&base), run(&changed));
        prop_assert_ne!(a.mrtd, b.mrtd);
        prop_assert_eq!((a.rtmr1, a.rtmr2), (b.rtmr1, b.rtmr2));
    }

    #[test]
    fn kernel_byte_changes_rtmr1_only(seed in any::<u8>(), at in 0x400usize..0x1000, flip in 1..=255u8) {
        let base = launch(seed);
        let mut changed = base.clone();
        if let Some(k) = changed.kernel.as_mut() { k[at] ^= flip; }
        let (a, b) = (run(&base), run(&changed));
        prop_assert_ne!(a.rtmr1, b.rtmr1);
        prop_assert_eq!((a.mrtd, a.rtmr2), (b.mrtd, b.rtmr2));
    }

    #[test]
    fn initrd_content_changes_rtmr2_and_size_changes_rtmr1(seed in any::<u8>(), at in 0usize..0x1234, grow in 1usize..0x3000) {
        let base = launch(seed);
        let mut content = base.clone();
        if let Some(i) = content.initrd.as_mut() { i[at] ^= 0x5a; }
        let (a, b) = (run(&base), run(&content));
        prop_assert_ne!(a.rtmr2, b.rtmr2);
        prop_assert_eq!(a.rtmr1, b.rtmr1);
        // A size crossing a page boundary moves the initrd, which QEMU
        // writes into the kernel header.
        let mut size = base.clone();
        if let Some(i) = size.initrd.as_mut() { i.resize(0x2000 + grow, 0); }
        prop_assert_ne!(run(&size).rtmr1, a.rtmr1);
    }

    #[test]
    fn cmdline_changes_rtmr2_only(seed in any::<u8>(), extra in "[ -~]{1,40}") {
        let base = launch(seed);
        let mut changed = base.clone();
        changed.cmdline = Some(format!("console=hvc0{extra}"));
        let (a, b) = (run(&base), run(&changed));
        prop_assert_ne!(a.rtmr2, b.rtmr2);
        prop_assert_eq!((a.mrtd, a.rtmr1), (b.mrtd, b.rtmr1));
    }

    #[test]
    fn vcpus_reach_nothing_predicted(seed in any::<u8>(), vcpus in 2u32..512) {
        // The vCPU count enters only RTMR[0] (ACPI MADT), which is not
        // predicted: MRTD and RTMR[1..2] must not depend on it.
        let base = launch(seed);
        let mut changed = base.clone();
        changed.vcpus = vcpus;
        prop_assert_eq!(run(&base), run(&changed));
    }

    #[test]
    fn page_add_order_changes_mrtd(seed in any::<u8>()) {
        let base = launch(seed);
        let mut changed = base.clone();
        changed.page_add_order = PageAddOrder::TwoPass;
        prop_assert_ne!(run(&base).mrtd, run(&changed).mrtd);
    }

    #[test]
    fn memory_changes_the_td_hob(seed in any::<u8>(), gib in 2u64..64) {
        let base = launch(seed);
        let mut changed = base.clone();
        changed.memory = gib << 30;
        let (a, b) = (run(&base), run(&changed));
        prop_assert_ne!(a.trace.rtmr0_events[0].digest, b.trace.rtmr0_events[0].digest);
        prop_assert_eq!(a.mrtd, b.mrtd);
    }
}

mod hostile_kernels {
    //! Mutated and truncated kernels: PE parsing, the Authenticode digest
    //! and the setup-header patch give errors, never panics.

    use arca_measure::tdx::{kernel, layout::RamLayout, pe};
    use proptest::prelude::*;

    fn kernel_pe_b() -> Vec<u8> {
        let dir = std::env::var_os("ARCA_VECTORS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors").into());
        std::fs::read(dir.join("measurement/inputs/kernel-pe-b.bin")).expect("kernel-pe-b.bin in the vectors")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_headers(edits in proptest::collection::vec((0usize..0x1000, any::<u8>()), 1..8), cut in 0usize..0x8000) {
            let mut k = kernel_pe_b();
            for (at, v) in edits {
                k[at] = v;
            }
            k.truncate(k.len() - cut);
            if let Ok(image) = pe::parse_pe(&k) {
                for r in image.authenticode_ranges() {
                    prop_assert!(r.start <= r.end && r.end <= k.len());
                }
            }
            let _ = pe::authenticode_sha384(&k);
            let ram = RamLayout::q35(1 << 30).unwrap();
            let _ = kernel::patch_setup_header(&k, Some(cut as u64), &ram, kernel::DEFAULT_ACPI_DATA_SIZE);
        }
    }
}
