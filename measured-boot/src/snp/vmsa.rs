//! The initial VMSA (vCPU save area) page KVM/QEMU and the cloud VMMs
//! measure for each vCPU.
//!
//! Layout: AMD64 Architecture Programmer's Manual Vol. 2, appendix B,
//! table B-4 "VMSA Layout, State Save Area for SEV-ES". Segment registers
//! are 16 bytes each: selector u16, attributes u16, limit u32, base u64.
//! Register values: what KVM and QEMU (and the EC2 and GCE hypervisors)
//! set at reset, as the SNP launch measures them.

use super::VmmType;

/// EIP of the boot processor at reset.
pub const BSP_EIP: u32 = 0xffff_fff0;

// Offsets in the save area (APM Vol. 2 table B-4).
const ES: usize = 0x00;
const CS: usize = 0x10;
const SS: usize = 0x20;
const DS: usize = 0x30;
const FS: usize = 0x40;
const GS: usize = 0x50;
const GDTR: usize = 0x60;
const LDTR: usize = 0x70;
const IDTR: usize = 0x80;
const TR: usize = 0x90;
const EFER: usize = 0xd0;
const CR4: usize = 0x148;
const CR0: usize = 0x158;
const DR7: usize = 0x160;
const DR6: usize = 0x168;
const RFLAGS: usize = 0x170;
const RIP: usize = 0x178;
const G_PAT: usize = 0x268;
const RDX: usize = 0x310;
const SEV_FEATURES: usize = 0x3b0;
const XCR0: usize = 0x3e8;
const MXCSR: usize = 0x408;
const X87_FCW: usize = 0x410;

/// Inputs that decide one VMSA page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmsaParams {
    /// Reset EIP (the BSP's, or the APs' from the SEV-ES reset block).
    pub eip: u32,
    /// VMSA SEV_FEATURES (guest features; 0 for SEV-ES).
    pub sev_features: u64,
    /// vCPU signature for RDX (used by QEMU only).
    pub vcpu_sig: u32,
    /// Which VMM sets the registers.
    pub vmm: VmmType,
}

fn put(page: &mut [u8; 4096], at: usize, bytes: &[u8]) {
    page[at..at + bytes.len()].copy_from_slice(bytes);
}

fn segment(page: &mut [u8; 4096], at: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
    put(page, at, &selector.to_le_bytes());
    put(page, at + 2, &attrib.to_le_bytes());
    put(page, at + 4, &limit.to_le_bytes());
    put(page, at + 8, &base.to_le_bytes());
}

/// Builds the 4 KiB VMSA page.
pub fn vmsa_page(p: &VmsaParams) -> Box<[u8; 4096]> {
    // Register values that differ between VMMs.
    let (cs_attr, ss_attr, tr_attr, g_pat, rdx, mxcsr, fcw): (u16, u16, u16, u64, u64, u32, u16) = match p.vmm {
        VmmType::Qemu => (0x9b, 0x93, 0x8b, 0x0007_0406_0007_0406, u64::from(p.vcpu_sig), 0x1f80, 0x37f),
        // EC2 marks the BSP's code segment not-yet-accessed.
        VmmType::Ec2 => (if p.eip == BSP_EIP { 0x9a } else { 0x9b }, 0x92, 0x83, 0x0007_0406_0007_0406, 0x600, 0, 0),
        VmmType::Gce => (0x9b, 0x93, 0x8b, 0x0007_0106, 0x600, 0, 0),
    };
    let mut page = Box::new([0u8; 4096]);
    let pg = &mut *page;
    segment(pg, ES, 0, 0x93, 0xffff, 0);
    segment(pg, CS, 0xf000, cs_attr, 0xffff, u64::from(p.eip & 0xffff_0000));
    segment(pg, SS, 0, ss_attr, 0xffff, 0);
    segment(pg, DS, 0, 0x93, 0xffff, 0);
    segment(pg, FS, 0, 0x93, 0xffff, 0);
    segment(pg, GS, 0, 0x93, 0xffff, 0);
    segment(pg, GDTR, 0, 0, 0xffff, 0);
    segment(pg, LDTR, 0, 0x82, 0xffff, 0);
    segment(pg, IDTR, 0, 0, 0xffff, 0);
    segment(pg, TR, 0, tr_attr, 0xffff, 0);
    put(pg, EFER, &0x1000u64.to_le_bytes()); // EFER.SVME, set by KVM
    put(pg, CR4, &0x40u64.to_le_bytes()); // CR4.MCE
    put(pg, CR0, &0x10u64.to_le_bytes()); // CR0.ET
    put(pg, DR7, &0x400u64.to_le_bytes());
    put(pg, DR6, &0xffff_0ff0u64.to_le_bytes());
    put(pg, RFLAGS, &2u64.to_le_bytes());
    put(pg, RIP, &u64::from(p.eip & 0xffff).to_le_bytes());
    put(pg, G_PAT, &g_pat.to_le_bytes());
    put(pg, RDX, &rdx.to_le_bytes());
    put(pg, SEV_FEATURES, &p.sev_features.to_le_bytes());
    put(pg, XCR0, &1u64.to_le_bytes());
    put(pg, MXCSR, &mxcsr.to_le_bytes());
    put(pg, X87_FCW, &fcw.to_le_bytes());
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_bsp_fields() {
        let page = vmsa_page(&VmsaParams { eip: BSP_EIP, sev_features: 0x21, vcpu_sig: 0xa10f10, vmm: VmmType::Qemu });
        assert_eq!(&page[CS..CS + 16], &[0x00, 0xf0, 0x9b, 0, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(u64::from_le_bytes(page[RIP..RIP + 8].try_into().unwrap()), 0xfff0);
        assert_eq!(u64::from_le_bytes(page[RDX..RDX + 8].try_into().unwrap()), 0xa10f10);
        assert_eq!(u64::from_le_bytes(page[SEV_FEATURES..SEV_FEATURES + 8].try_into().unwrap()), 0x21);
        assert!(page[0x420..].iter().all(|&b| b == 0));
    }

    #[test]
    fn vmm_differences() {
        let at = |vmm, eip| vmsa_page(&VmsaParams { eip, sev_features: 1, vcpu_sig: 0x800f12, vmm });
        let ec2_bsp = at(VmmType::Ec2, BSP_EIP);
        let ec2_ap = at(VmmType::Ec2, 0x80b004);
        assert_eq!((ec2_bsp[CS + 2], ec2_ap[CS + 2], ec2_bsp[SS + 2], ec2_bsp[TR + 2]), (0x9a, 0x9b, 0x92, 0x83));
        assert_eq!(u64::from_le_bytes(ec2_bsp[RDX..RDX + 8].try_into().unwrap()), 0x600);
        let gce = at(VmmType::Gce, BSP_EIP);
        assert_eq!(u64::from_le_bytes(gce[G_PAT..G_PAT + 8].try_into().unwrap()), 0x70106);
        assert_eq!(&gce[MXCSR..MXCSR + 4], &[0; 4]);
    }
}
