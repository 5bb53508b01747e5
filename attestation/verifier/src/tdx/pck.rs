//! The Intel SGX extension of PCK certificates.
//!
//! Layout: "Intel SGX PCK Certificate and Certificate Revocation List Profile
//! Specification", section "Intel SGX Extensions" (OID 1.2.840.113741.1.13.1):
//! a SEQUENCE of `SEQUENCE { OID, value }` with PPID (.1), TCB (.2: components
//! .2.1–.2.16, PCESVN .2.17, CPUSVN .2.18), PCE-ID (.3), FMSPC (.4), SGX type
//! (.5), and for Platform-CA certificates platform instance id (.6) and
//! configuration flags (.7: dynamic platform .7.1, cached keys .7.2, SMT .7.3).

use der::asn1::ObjectIdentifier;

use crate::x509::Certificate;
use crate::{Error, Result};

const WHAT: &str = "PCK SGX extension";
const SGX_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
/// Arc of every SGX extension OID: 1.2.840.113741.1.13.1.
const SGX_ARC: &[u32] = &[1, 2, 840, 113741, 1, 13, 1];

/// What the PCK certificate says about the platform.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PckExtension {
    /// Platform provisioning id.
    pub ppid: Vec<u8>,
    /// SGX TCB component SVNs 1..16.
    pub tcb_components: [u8; 16],
    /// PCE security version.
    pub pce_svn: u16,
    /// CPU security version.
    pub cpu_svn: [u8; 16],
    /// PCE id (2 bytes).
    pub pce_id: Vec<u8>,
    /// Family-model-stepping-platform-custom-SKU (6 bytes).
    pub fmspc: [u8; 6],
    /// SGX type: 0 standard, 1 scalable, 2 scalable with integrity.
    pub sgx_type: u8,
    /// Platform instance id (Platform-CA certificates only).
    pub platform_instance_id: Option<Vec<u8>>,
    /// Configuration flag: dynamic platform.
    pub dynamic_platform: Option<bool>,
    /// Configuration flag: cached keys.
    pub cached_keys: Option<bool>,
    /// Configuration flag: SMT enabled.
    pub smt_enabled: Option<bool>,
}

/// One DER TLV: tag and content.
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

/// Split `input` into consecutive DER TLVs (definite lengths only).
fn tlvs(mut input: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        if out.len() > 64 {
            return Err(Error::field(WHAT, "DER", "more than 64 elements"));
        }
        let (&tag, rest) = input.split_first().ok_or_else(|| Error::field(WHAT, "DER", "missing tag"))?;
        let (&first, rest) = rest.split_first().ok_or_else(|| Error::field(WHAT, "DER", "missing length"))?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 3 {
                return Err(Error::field(WHAT, "DER", format!("unsupported length form {first:#x}")));
            }
            let bytes = rest.get(..n).ok_or_else(|| Error::field(WHAT, "DER", "truncated length"))?;
            (bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), rest.get(n..).unwrap_or_default())
        };
        let value = rest.get(..len).ok_or_else(|| Error::field(WHAT, "DER", "truncated value"))?;
        out.push(Tlv { tag, value });
        input = rest.get(len..).unwrap_or_default();
    }
    Ok(out)
}

/// The single TLV of `input`.
fn single<'a>(input: &'a [u8], field: &str) -> Result<Tlv<'a>> {
    let mut all = tlvs(input)?;
    if all.len() != 1 {
        return Err(Error::field(WHAT, field, format!("expected one DER element, found {}", all.len())));
    }
    Ok(all.remove(0))
}

/// The last arc of an SGX extension OID below the SGX arc, e.g. `[2, 17]` for PCESVN.
fn sub_arcs(oid_der: &[u8]) -> Result<Vec<u32>> {
    let oid = ObjectIdentifier::from_bytes(oid_der).map_err(|e| Error::field(WHAT, "OID", e.to_string()))?;
    let arcs: Vec<u32> = oid.arcs().collect();
    match arcs.strip_prefix(SGX_ARC) {
        Some(rest) => Ok(rest.to_vec()),
        None => Err(Error::field(WHAT, "OID", format!("{oid} is not below {SGX_EXTENSION}"))),
    }
}

/// `(OID sub-arcs, value TLV)` pairs of a SEQUENCE OF SEQUENCE { OID, value }.
fn entries(seq_content: &[u8]) -> Result<Vec<(Vec<u32>, Tlv<'_>)>> {
    let mut out = Vec::new();
    for item in tlvs(seq_content)? {
        if item.tag != 0x30 {
            return Err(Error::field(WHAT, "entry", format!("expected SEQUENCE, found tag {:#x}", item.tag)));
        }
        let mut parts = tlvs(item.value)?.into_iter();
        let (Some(oid), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::field(WHAT, "entry", "expected OID and value"));
        };
        if oid.tag != 0x06 {
            return Err(Error::field(WHAT, "entry", "first element is not an OID"));
        }
        out.push((sub_arcs(oid.value)?, value));
    }
    Ok(out)
}

fn octets(v: &Tlv<'_>, field: &str) -> Result<Vec<u8>> {
    if v.tag != 0x04 {
        return Err(Error::field(WHAT, field, format!("expected OCTET STRING, found tag {:#x}", v.tag)));
    }
    Ok(v.value.to_vec())
}

fn fixed<const N: usize>(v: &Tlv<'_>, field: &str) -> Result<[u8; N]> {
    let bytes = octets(v, field)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::field(WHAT, field, format!("expected {N} bytes, found {}", bytes.len())))
}

/// A non-negative INTEGER (or ENUMERATED) of at most 2 bytes of magnitude.
fn small_uint(v: &Tlv<'_>, field: &str) -> Result<u16> {
    if v.tag != 0x02 && v.tag != 0x0a {
        return Err(Error::field(WHAT, field, format!("expected INTEGER, found tag {:#x}", v.tag)));
    }
    let digits = match v.value {
        [0, rest @ ..] if !rest.is_empty() => rest,
        [first, ..] if first & 0x80 != 0 => return Err(Error::field(WHAT, field, "negative")),
        [] => return Err(Error::field(WHAT, field, "empty INTEGER")),
        all => all,
    };
    if digits.len() > 2 {
        return Err(Error::field(WHAT, field, "larger than 65535"));
    }
    Ok(digits.iter().fold(0u16, |acc, b| (acc << 8) | *b as u16))
}

fn boolean(v: &Tlv<'_>, field: &str) -> Result<bool> {
    match (v.tag, v.value) {
        (0x01, [b]) => Ok(*b != 0),
        _ => Err(Error::field(WHAT, field, "expected BOOLEAN")),
    }
}

/// Parse the SGX extension's `extnValue` content.
pub fn parse_pck_extension(ext: &[u8]) -> Result<PckExtension> {
    let top = single(ext, "extension")?;
    if top.tag != 0x30 {
        return Err(Error::field(WHAT, "extension", "not a SEQUENCE"));
    }
    let mut out = PckExtension::default();
    let (mut have_ppid, mut have_tcb, mut have_pce_id, mut have_fmspc, mut have_type) =
        (false, false, false, false, false);
    for (arcs, value) in entries(top.value)? {
        match arcs.as_slice() {
            [1] => (out.ppid, have_ppid) = (octets(&value, "PPID")?, true),
            [2] => {
                if value.tag != 0x30 {
                    return Err(Error::field(WHAT, "TCB", "not a SEQUENCE"));
                }
                let mut have_comps = [false; 16];
                let (mut have_pcesvn, mut have_cpusvn) = (false, false);
                for (arcs, v) in entries(value.value)? {
                    match arcs.as_slice() {
                        [2, n @ 1..=16] => {
                            let svn = small_uint(&v, "TCB component")?;
                            let idx = (*n - 1) as usize;
                            let slot = out.tcb_components.get_mut(idx);
                            let seen = have_comps.get_mut(idx);
                            if let (Some(slot), Some(seen), Ok(svn)) = (slot, seen, u8::try_from(svn)) {
                                (*slot, *seen) = (svn, true);
                            } else {
                                return Err(Error::field(WHAT, format!("TCB component {n}"), "larger than 255"));
                            }
                        }
                        [2, 17] => (out.pce_svn, have_pcesvn) = (small_uint(&v, "PCESVN")?, true),
                        [2, 18] => (out.cpu_svn, have_cpusvn) = (fixed(&v, "CPUSVN")?, true),
                        _ => {}
                    }
                }
                if !(have_pcesvn && have_cpusvn && have_comps.iter().all(|b| *b)) {
                    return Err(Error::field(WHAT, "TCB", "missing components, PCESVN or CPUSVN"));
                }
                have_tcb = true;
            }
            [3] => (out.pce_id, have_pce_id) = (octets(&value, "PCE-ID")?, true),
            [4] => (out.fmspc, have_fmspc) = (fixed(&value, "FMSPC")?, true),
            [5] => {
                let t = small_uint(&value, "SGX type")?;
                out.sgx_type = u8::try_from(t).map_err(|_| Error::field(WHAT, "SGX type", "out of range"))?;
                have_type = true;
            }
            [6] => out.platform_instance_id = Some(octets(&value, "platform instance id")?),
            [7] => {
                if value.tag != 0x30 {
                    return Err(Error::field(WHAT, "configuration", "not a SEQUENCE"));
                }
                for (arcs, v) in entries(value.value)? {
                    match arcs.as_slice() {
                        [7, 1] => out.dynamic_platform = Some(boolean(&v, "dynamic platform")?),
                        [7, 2] => out.cached_keys = Some(boolean(&v, "cached keys")?),
                        [7, 3] => out.smt_enabled = Some(boolean(&v, "SMT enabled")?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !(have_ppid && have_tcb && have_pce_id && have_fmspc && have_type) {
        return Err(Error::field(WHAT, "extension", "missing PPID, TCB, PCE-ID, FMSPC or SGX type"));
    }
    Ok(out)
}

/// The SGX extension of a PCK certificate.
pub fn pck_extension(cert: &Certificate) -> Result<PckExtension> {
    let ext = cert
        .extension(&SGX_EXTENSION)
        .ok_or_else(|| Error::field(WHAT, "extension", format!("{} has no SGX extension", cert.display_name())))?;
    parse_pck_extension(ext)
}
