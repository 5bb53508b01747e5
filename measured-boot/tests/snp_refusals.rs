//! Launches that must be refused, each with the error that says why.

mod common;

use arca_firmware::footer::{SEV_ES_RESET_BLOCK_GUID, SEV_HASH_TABLE_RV_GUID};
use arca_firmware::{parse_footer_table, parse_sev_layout};
use arca_measure::snp::{self, SevMode, SnpLaunch, VcpuSpec, VmmType};
use arca_measure::Error;
use common::{firmware, snp_json};

/// The 4 KiB AmdSev fixture: footer, SEV metadata with a kernel-hashes
/// section, small enough to edit.
fn fixture() -> Vec<u8> {
    firmware(&snp_json(), "fixture-amdsev-suffix")
}

fn launch(fw: Vec<u8>) -> SnpLaunch {
    let mut l = SnpLaunch::new(SevMode::Snp, fw);
    l.vcpu = Some(VcpuSpec::Type("EPYC-v4".into()));
    l.vcpus = 2;
    l
}

fn with_kernel(mut l: SnpLaunch) -> SnpLaunch {
    l.kernel = Some(b"kernel".to_vec());
    l
}

/// Image offset of SEV metadata item `index`'s field at `field_at` (0 gpa, 4 size, 8 type).
fn item_at(fw: &[u8], index: usize, field_at: usize) -> usize {
    parse_sev_layout(fw).unwrap().metadata.unwrap().offset + 16 + index * 12 + field_at
}

fn entry_data_at(fw: &[u8], guid: &arca_firmware::Guid) -> usize {
    parse_footer_table(fw).unwrap().get(guid).unwrap().data_offset
}

#[test]
fn the_fixture_itself_measures() {
    snp::measure(&with_kernel(launch(fixture()))).unwrap();
}

#[test]
fn unknown_section_type() {
    let mut fw = fixture();
    let at = item_at(&fw, 2, 8);
    fw[at..at + 4].copy_from_slice(&0x77u32.to_le_bytes());
    let err = snp::measure(&launch(fw)).unwrap_err();
    assert!(matches!(err, Error::UnknownSectionType { index: 2, found: 0x77 }), "{err}");
}

#[test]
fn vcpu_model_missing_or_unknown() {
    let mut l = launch(fixture());
    l.vcpu = None;
    assert!(matches!(snp::measure(&l), Err(Error::MissingVcpuType { mode: "snp" })));
    l.mode = SevMode::SevEs;
    assert!(matches!(snp::measure(&l), Err(Error::MissingVcpuType { mode: "seves" })));
    // EC2 and GCE put their own value in RDX; plain SEV has no VMSA.
    for vmm in [VmmType::Ec2, VmmType::Gce] {
        l.vmm_type = vmm;
        snp::measure(&l).unwrap();
    }
    l.vmm_type = VmmType::Qemu;
    l.mode = SevMode::Sev;
    snp::measure(&l).unwrap();
    l.mode = SevMode::Snp;
    l.vcpu = Some(VcpuSpec::Type("epyc-v4".into()));
    assert!(matches!(snp::measure(&l), Err(Error::UnknownVcpuType { found }) if found == "epyc-v4"));
}

#[test]
fn inputs_without_kernel() {
    let mut l = launch(fixture());
    l.initrd = Some(vec![]);
    assert!(matches!(snp::measure(&l), Err(Error::InputWithoutKernel { field: "initrd" })));
    l.initrd = None;
    l.cmdline = Some("console=ttyS0".into());
    assert!(matches!(snp::measure(&l), Err(Error::InputWithoutKernel { field: "cmdline" })));
    // An empty command line is no command line.
    l.cmdline = Some(String::new());
    snp::measure(&l).unwrap();
}

#[test]
fn vcpu_count_and_seed_mode() {
    let mut l = launch(fixture());
    for n in [0, snp::MAX_VCPUS + 1] {
        l.vcpus = n;
        assert!(matches!(snp::measure(&l), Err(Error::InvalidInput { field: "vcpus", .. })), "{n}");
    }
    l.vcpus = 1;
    l.mode = SevMode::SevEs;
    l.snp_ovmf_hash = Some([0; 48]);
    assert!(matches!(snp::measure(&l), Err(Error::InvalidInput { field: "snp ovmf hash", .. })));
}

#[test]
fn firmware_not_whole_pages() {
    let fw = fixture()[1..].to_vec();
    assert!(matches!(snp::measure(&launch(fw)), Err(Error::InvalidInput { field: "firmware size", .. })));
}

#[test]
fn firmware_without_footer() {
    let mut l = launch(vec![0xaa; 8192]);
    assert!(matches!(snp::measure(&l), Err(Error::MissingFirmwareEntry { .. })));
    l.mode = SevMode::SevEs;
    assert!(matches!(snp::measure(&l), Err(Error::MissingFirmwareEntry { .. })));
    // Plain SEV measures the file as it is.
    l.mode = SevMode::Sev;
    let m = snp::measure(&l).unwrap();
    assert_eq!(m.launch_digest, <sha2::Sha256 as sha2::Digest>::digest([0xaa; 8192]).to_vec());
    assert!(matches!(snp::measure(&with_kernel(l)), Err(Error::KernelHashesUnsupported { mode: "sev", .. })));
}

#[test]
fn ap_reset_eip_zero() {
    let mut fw = fixture();
    let at = entry_data_at(&fw, &SEV_ES_RESET_BLOCK_GUID);
    fw[at..at + 4].copy_from_slice(&[0; 4]);
    let mut l = launch(fw);
    assert!(matches!(snp::measure(&l), Err(Error::MissingFirmwareEntry { .. })));
    l.vcpus = 1;
    snp::measure(&l).unwrap();
}

#[test]
fn kernel_hashes_section_not_one_page() {
    let mut fw = fixture();
    let at = item_at(&fw, 5, 4);
    fw[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    let err = snp::measure(&with_kernel(launch(fw.clone()))).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "SNP_KERNEL_HASHES section size", .. }), "{err}");
    // Without a kernel the (empty) section is a no-op.
    snp::measure(&launch(fw)).unwrap();
}

#[test]
fn hashes_table_past_its_page() {
    let mut fw = fixture();
    let at = entry_data_at(&fw, &SEV_HASH_TABLE_RV_GUID);
    fw[at..at + 4].copy_from_slice(&0x0081_0f80u32.to_le_bytes());
    let err = snp::measure(&with_kernel(launch(fw))).unwrap_err();
    assert!(matches!(err, Error::Firmware(arca_firmware::Error::OutOfBounds { .. })), "{err}");
}

#[test]
fn hostile_footer_is_a_firmware_error() {
    let mut fw = fixture();
    let at = entry_data_at(&fw, &SEV_ES_RESET_BLOCK_GUID) + 4; // the entry's length field
    fw[at..at + 2].copy_from_slice(&0u16.to_le_bytes());
    let err = snp::measure(&launch(fw)).unwrap_err();
    assert!(matches!(err, Error::Firmware(arca_firmware::Error::FooterEntrySize { len: 0, .. })), "{err}");
}

#[test]
fn hashes_area_smaller_than_the_table() {
    let mut fw = fixture();
    let at = entry_data_at(&fw, &SEV_HASH_TABLE_RV_GUID) + 4; // the area size
    fw[at..at + 4].copy_from_slice(&175u32.to_le_bytes());
    for mode in [SevMode::Snp, SevMode::SevEs, SevMode::Sev] {
        let mut l = with_kernel(launch(fw.clone()));
        l.mode = mode;
        let err = snp::measure(&l).unwrap_err();
        assert!(matches!(err, Error::KernelHashesUnsupported { .. }), "{mode}: {err}");
        // Without a kernel nothing is written there.
        l.kernel = None;
        snp::measure(&l).unwrap();
    }
    fw[at..at + 4].copy_from_slice(&176u32.to_le_bytes());
    snp::measure(&with_kernel(launch(fw))).unwrap();
}

/// Digests computed by the caller measure as the files they stand for, in
/// every mode that has a hashes table; giving both is refused.
#[test]
fn kernel_digests_stand_for_the_files() {
    use arca_firmware::SevHashes;
    use sha2::{Digest, Sha256};

    let kernel = b"kernel".to_vec();
    let initrd = vec![0x5a; 5000];
    let cmdline = "console=ttyS0".to_string();
    for mode in [SevMode::Snp, SevMode::SevEs, SevMode::Sev] {
        for initrd in [None, Some(initrd.clone())] {
            let mut with_files = launch(fixture());
            with_files.mode = mode;
            with_files.kernel = Some(kernel.clone());
            with_files.initrd = initrd.clone();
            with_files.cmdline = Some(cmdline.clone());
            let mut with_digests = launch(fixture());
            with_digests.mode = mode;
            with_digests.kernel_hashes = Some(SevHashes::from_digests(
                Sha256::digest(&kernel).into(),
                initrd.as_ref().map(|i| Sha256::digest(i).into()),
                Some(cmdline.as_bytes()),
            ));
            let expected = snp::measure(&with_files).unwrap();
            assert_eq!(snp::measure(&with_digests).unwrap(), expected, "{mode:?}, initrd {}", initrd.is_some());
        }
    }
    let mut both = launch(fixture());
    both.kernel_hashes = Some(SevHashes::new(b"kernel", None, None));
    both.cmdline = Some("x".into());
    let err = snp::measure(&both).unwrap_err().to_string();
    assert!(err.contains("cmdline set as well"), "{err}");
}
