//! vCPU signatures: the CPUID Fn0000_0001 EAX value QEMU puts in RDX of
//! each VMSA.
//!
//! AMD CPUID Specification (pub. 25481), "CPUID Fn0000_0001_EAX Family,
//! Model, Stepping Identifiers": a family above 0xf is stored as base
//! family 0xf plus extended family (family − 0xf).

/// The signature for a family, model and stepping.
pub fn cpu_sig(family: u32, model: u32, stepping: u32) -> u32 {
    let (family_low, family_high) = if family > 0xf { (0xf, (family - 0xf) & 0xff) } else { (family, 0) };
    let model_low = model & 0xf;
    let model_high = (model >> 4) & 0xf;
    (family_high << 20) | (model_high << 16) | (family_low << 8) | (model_low << 4) | (stepping & 0xf)
}

/// QEMU's AMD EPYC CPU models (`builtin_x86_defs`) and their
/// (family, model, stepping).
pub const VCPU_TYPES: [(&str, u32, u32, u32); 16] = [
    ("EPYC", 23, 1, 2),
    ("EPYC-v1", 23, 1, 2),
    ("EPYC-v2", 23, 1, 2),
    ("EPYC-IBPB", 23, 1, 2),
    ("EPYC-v3", 23, 1, 2),
    ("EPYC-v4", 23, 1, 2),
    ("EPYC-Rome", 23, 49, 0),
    ("EPYC-Rome-v1", 23, 49, 0),
    ("EPYC-Rome-v2", 23, 49, 0),
    ("EPYC-Rome-v3", 23, 49, 0),
    ("EPYC-Milan", 25, 1, 1),
    ("EPYC-Milan-v1", 25, 1, 1),
    ("EPYC-Milan-v2", 25, 1, 1),
    ("EPYC-Genoa", 25, 17, 0),
    ("EPYC-Genoa-v1", 25, 17, 0),
    ("EPYC-Turin", 26, 0, 0),
];

/// The signature of a named QEMU vCPU type (names are case-sensitive, as
/// QEMU's are).
pub fn vcpu_type_sig(name: &str) -> Option<u32> {
    VCPU_TYPES.iter().find(|(n, ..)| *n == name).map(|&(_, f, m, s)| cpu_sig(f, m, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_signatures() {
        for (name, sig) in [
            ("EPYC", 0x800f12),
            ("EPYC-v4", 0x800f12),
            ("EPYC-Rome", 0x830f10),
            ("EPYC-Milan", 0xa00f11),
            ("EPYC-Genoa", 0xa10f10),
            ("EPYC-Turin", 0xb00f00),
        ] {
            assert_eq!(vcpu_type_sig(name), Some(sig), "{name}");
        }
        assert_eq!(vcpu_type_sig("epyc"), None);
        assert_eq!(cpu_sig(25, 17, 1), 0xa10f11);
        assert_eq!(cpu_sig(6, 0x8f, 8), 0x806f8);
    }
}
