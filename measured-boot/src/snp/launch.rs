//! The launch sequence per mode: which pages, in which order.

use arca_firmware::{parse_sev_layout, SevHashes, SevLayout, SevSectionKind};
use sha2::{Digest, Sha256};

use super::gctx::{sha384, Gctx, PageType, LD_LEN, PAGE_LEN, VMSA_GPA};
use super::vmsa::{vmsa_page, VmsaParams, BSP_EIP};
use super::{SevMode, SnpLaunch, SnpMeasurements, VmmType, MAX_VCPUS};
use crate::{Error, Result};

/// Measures an SEV, SEV-ES or SEV-SNP launch.
///
/// Refuses (rather than measuring something the guest would not boot)
/// when a kernel is given but the firmware cannot check it, when the
/// firmware lists a metadata section of an unknown type, and when the
/// vCPU model or count is missing or out of range.
pub fn measure(launch: &SnpLaunch) -> Result<SnpMeasurements> {
    check_inputs(launch)?;
    let layout = parse_sev_layout(&launch.firmware)?;
    if launch.mode != SevMode::Sev && !launch.firmware.len().is_multiple_of(PAGE_LEN) {
        return Err(Error::InvalidInput {
            field: "firmware size",
            expected: "a whole number of 4 KiB pages",
            found: format!("{:#x} bytes", launch.firmware.len()),
        });
    }
    let hashes = kernel_hashes(launch);
    match launch.mode {
        SevMode::SnpOvmfHash => {
            let mut gctx = Gctx::new([0; LD_LEN], launch.trace);
            gctx.update_normal_pages(layout.load_gpa, &launch.firmware);
            let ld = gctx.ld();
            Ok(SnpMeasurements {
                mode: launch.mode,
                launch_digest: ld.to_vec(),
                ovmf_gctx_digest: Some(ld),
                hashes_table: None,
                vmsa_pages: Vec::new(),
                gctx_trace: gctx.into_trace(),
            })
        }
        SevMode::Snp => measure_snp(launch, &layout, hashes, launch.snp_ovmf_hash),
        SevMode::SevEs | SevMode::Sev => measure_sev(launch, &layout, hashes),
    }
}

/// What an SNP launch needs from a firmware image that the caller streamed
/// rather than held in memory: its SEV layout (from
/// [`arca_firmware::parse_sev_layout_tail`] over the image's last bytes)
/// and the GCTX digest after all its pages (from [`super::page_digests`]
/// and [`Gctx`] over the image, page by page from its load GPA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedFirmware {
    /// The image's SEV layout.
    pub layout: SevLayout,
    /// GCTX digest after the image's pages (`--mode snp:ovmf-hash`).
    pub ovmf_gctx_digest: [u8; LD_LEN],
}

/// [`measure`] for the SNP modes with the firmware given as a
/// [`StreamedFirmware`]; `launch.firmware` is not read. The result is the
/// same as [`measure`] with the whole image. SEV and SEV-ES hash the whole
/// image and are refused here.
pub fn measure_streamed(launch: &SnpLaunch, firmware: &StreamedFirmware) -> Result<SnpMeasurements> {
    check_inputs(launch)?;
    let layout = &firmware.layout;
    if !layout.size.is_multiple_of(PAGE_LEN) {
        return Err(Error::InvalidInput {
            field: "firmware size",
            expected: "a whole number of 4 KiB pages",
            found: format!("{:#x} bytes", layout.size),
        });
    }
    let hashes = kernel_hashes(launch);
    match launch.mode {
        SevMode::SnpOvmfHash => Ok(SnpMeasurements {
            mode: launch.mode,
            launch_digest: firmware.ovmf_gctx_digest.to_vec(),
            ovmf_gctx_digest: Some(firmware.ovmf_gctx_digest),
            hashes_table: None,
            vmsa_pages: Vec::new(),
            gctx_trace: Vec::new(),
        }),
        SevMode::Snp => {
            measure_snp(launch, layout, hashes, Some(launch.snp_ovmf_hash.unwrap_or(firmware.ovmf_gctx_digest)))
        }
        SevMode::Sev | SevMode::SevEs => Err(Error::InvalidInput {
            field: "mode",
            expected: "snp or snp:ovmf-hash for a streamed firmware image",
            found: launch.mode.to_string(),
        }),
    }
}

/// The kernel hashes table's digests, if the launch has a kernel.
fn kernel_hashes(launch: &SnpLaunch) -> Option<SevHashes> {
    launch.kernel_hashes.or_else(|| {
        let kernel = launch.kernel.as_ref()?;
        Some(SevHashes::new(kernel, launch.initrd.as_deref(), launch.cmdline.as_deref().map(str::as_bytes)))
    })
}

fn check_inputs(launch: &SnpLaunch) -> Result<()> {
    if launch.kernel_hashes.is_some() {
        let given = [
            ("kernel", launch.kernel.is_some()),
            ("initrd", launch.initrd.is_some()),
            ("cmdline", launch.cmdline.is_some()),
        ];
        if let Some((name, _)) = given.iter().find(|(_, set)| *set) {
            return Err(Error::InvalidInput {
                field: "kernel hashes",
                expected: "kernel, initrd and cmdline left unset (the digests stand for them)",
                found: format!("{name} set as well"),
            });
        }
    } else if launch.kernel.is_none() {
        if launch.initrd.is_some() {
            return Err(Error::InputWithoutKernel { field: "initrd" });
        }
        if launch.cmdline.as_deref().is_some_and(|c| !c.is_empty()) {
            return Err(Error::InputWithoutKernel { field: "cmdline" });
        }
    }
    if launch.snp_ovmf_hash.is_some() && launch.mode != SevMode::Snp {
        return Err(Error::InvalidInput {
            field: "snp ovmf hash",
            expected: "mode snp",
            found: format!("mode {}", launch.mode),
        });
    }
    if matches!(launch.mode, SevMode::Snp | SevMode::SevEs) && !(1..=MAX_VCPUS).contains(&launch.vcpus) {
        return Err(Error::InvalidInput { field: "vcpus", expected: "1 to 4096", found: launch.vcpus.to_string() });
    }
    Ok(())
}

/// QEMU refuses to write the hashes table into an area smaller than the
/// padded table, so such a launch never happens.
fn check_hashes_area(layout: &SevLayout, mode: SevMode) -> Result<()> {
    match layout.hashes_table {
        Some(area) if (area.size as usize) < arca_firmware::hashes::PADDED_TABLE_LEN => {
            Err(Error::KernelHashesUnsupported {
                mode: mode.as_str(),
                expected: "a SEV hashes-table area of at least 176 bytes",
            })
        }
        _ => Ok(()),
    }
}

/// The RDX value source: QEMU needs a vCPU model, EC2 and GCE set their own.
fn vcpu_sig(launch: &SnpLaunch) -> Result<u32> {
    match (&launch.vcpu, launch.vmm_type) {
        (Some(spec), _) => spec.signature(),
        (None, VmmType::Qemu) => Err(Error::MissingVcpuType { mode: launch.mode.as_str() }),
        (None, _) => Ok(0),
    }
}

fn reset_eip(layout: &SevLayout) -> Result<u32> {
    layout.sev_es_reset_eip.ok_or(Error::MissingFirmwareEntry { field: "SEV-ES reset block (AP reset EIP)" })
}

/// The VMSA pages for every vCPU: the BSP's first, then the APs', which
/// are all the same.
fn vmsa_pages(launch: &SnpLaunch, layout: &SevLayout, sev_features: u64) -> Result<[Box<[u8; PAGE_LEN]>; 2]> {
    let ap_eip = reset_eip(layout)?;
    if ap_eip == 0 && launch.vcpus > 1 {
        return Err(Error::MissingFirmwareEntry { field: "SEV-ES reset block (AP reset EIP is 0)" });
    }
    let sig = vcpu_sig(launch)?;
    let params = |eip| VmsaParams { eip, sev_features, vcpu_sig: sig, vmm: launch.vmm_type };
    Ok([vmsa_page(&params(BSP_EIP)), vmsa_page(&params(ap_eip))])
}

/// The SNP launch; `seed` is the GCTX digest after the firmware pages when
/// known (else the pages of `launch.firmware` are hashed).
fn measure_snp(
    launch: &SnpLaunch,
    layout: &SevLayout,
    hashes: Option<SevHashes>,
    seed: Option<[u8; LD_LEN]>,
) -> Result<SnpMeasurements> {
    let sections = layout.metadata.as_ref().map(|m| m.sections.as_slice()).unwrap_or_default();
    if let Some((index, s)) = sections.iter().enumerate().find(|(_, s)| s.kind.is_none()) {
        return Err(Error::UnknownSectionType { index, found: s.raw_type });
    }
    let has_hashes_section = sections.iter().any(|s| s.kind == Some(SevSectionKind::SnpKernelHashes));
    if hashes.is_some() && !has_hashes_section {
        return Err(Error::KernelHashesUnsupported {
            mode: "snp",
            expected: "an SNP_KERNEL_HASHES section in the firmware's SEV metadata",
        });
    }
    if hashes.is_some() {
        check_hashes_area(layout, SevMode::Snp)?;
    }
    let [bsp, ap] = vmsa_pages(launch, layout, launch.guest_features)?;

    let mut gctx = match seed {
        Some(seed) => Gctx::new(seed, launch.trace),
        None => {
            let mut g = Gctx::new([0; LD_LEN], launch.trace);
            g.update_normal_pages(layout.load_gpa, &launch.firmware);
            g
        }
    };
    let ovmf_gctx_digest = gctx.ld();

    let vmm = launch.vmm_type;
    for s in sections {
        let (gpa, size) = (u64::from(s.gpa), u64::from(s.size));
        match s.kind {
            Some(SevSectionKind::SnpSecMem) if vmm == VmmType::Gce => {
                gctx.update_empty_pages(PageType::Unmeasured, gpa, size)
            }
            Some(SevSectionKind::SnpSecMem) | Some(SevSectionKind::SvsmCaa) => {
                gctx.update_empty_pages(PageType::Zero, gpa, size)
            }
            Some(SevSectionKind::SnpSecrets) => gctx.update(PageType::Secrets, gpa, &[0; LD_LEN]),
            // EC2 adds the CPUID page after every other section.
            Some(SevSectionKind::Cpuid) if vmm == VmmType::Ec2 => {}
            Some(SevSectionKind::Cpuid) => gctx.update(PageType::Cpuid, gpa, &[0; LD_LEN]),
            Some(SevSectionKind::SnpKernelHashes) => match &hashes {
                Some(h) => {
                    if size != PAGE_LEN as u64 {
                        return Err(Error::InvalidInput {
                            field: "SNP_KERNEL_HASHES section size",
                            expected: "one 4 KiB page",
                            found: format!("{size:#x} bytes"),
                        });
                    }
                    let table = layout
                        .hashes_table
                        .ok_or(Error::MissingFirmwareEntry { field: "SEV hashes table GPA (footer entry)" })?;
                    let page = h.page(table.gpa as usize & (PAGE_LEN - 1))?;
                    gctx.update_normal_pages(gpa, &page[..]);
                }
                None => gctx.update_empty_pages(PageType::Zero, gpa, size),
            },
            None => {}
        }
    }
    if vmm == VmmType::Ec2 {
        for s in sections.iter().filter(|s| s.kind == Some(SevSectionKind::Cpuid)) {
            gctx.update(PageType::Cpuid, u64::from(s.gpa), &[0; LD_LEN]);
        }
    }

    let digests: [[u8; LD_LEN]; 2] = [sha384(&bsp[..]), sha384(&ap[..])];
    for i in 0..launch.vcpus {
        gctx.update(PageType::Vmsa, VMSA_GPA, &digests[usize::from(i > 0)]);
    }
    Ok(SnpMeasurements {
        mode: SevMode::Snp,
        launch_digest: gctx.ld().to_vec(),
        ovmf_gctx_digest: Some(ovmf_gctx_digest),
        hashes_table: hashes.map(|h| h.table().to_vec()),
        vmsa_pages: if launch.trace { traced_vmsas(launch.vcpus, &bsp, &ap) } else { Vec::new() },
        gctx_trace: gctx.into_trace(),
    })
}

fn measure_sev(launch: &SnpLaunch, layout: &SevLayout, hashes: Option<SevHashes>) -> Result<SnpMeasurements> {
    if hashes.is_some() && !layout.kernel_hashes_supported() {
        return Err(Error::KernelHashesUnsupported {
            mode: launch.mode.as_str(),
            expected: "a SEV hashes-table footer entry with a non-zero GPA",
        });
    }
    if hashes.is_some() {
        check_hashes_area(layout, launch.mode)?;
    }
    let vmsas = if launch.mode == SevMode::SevEs {
        // SEV-ES VMSAs carry no SEV features.
        Some(vmsa_pages(launch, layout, 0)?)
    } else {
        None
    };
    let mut digest = Sha256::new();
    digest.update(&launch.firmware);
    let table = hashes.map(|h| h.table());
    if let Some(t) = &table {
        digest.update(t);
    }
    let mut traced = Vec::new();
    if let Some([bsp, ap]) = &vmsas {
        for i in 0..launch.vcpus {
            digest.update(if i == 0 { &bsp[..] } else { &ap[..] });
        }
        if launch.trace {
            traced = traced_vmsas(launch.vcpus, bsp, ap);
        }
    }
    Ok(SnpMeasurements {
        mode: launch.mode,
        launch_digest: digest.finalize().to_vec(),
        ovmf_gctx_digest: None,
        hashes_table: table.map(|t| t.to_vec()),
        vmsa_pages: traced,
        gctx_trace: Vec::new(),
    })
}

fn traced_vmsas(vcpus: u32, bsp: &[u8; PAGE_LEN], ap: &[u8; PAGE_LEN]) -> Vec<Box<[u8; PAGE_LEN]>> {
    (0..vcpus).map(|i| Box::new(if i == 0 { *bsp } else { *ap })).collect()
}
