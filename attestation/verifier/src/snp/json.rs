//! trustee's SNP evidence JSON.
//!
//! trustee's SNP attester sends `{"attestation_report": {...}, "cert_chain":
//! [{"cert_type": "VCEK", "data": [..DER bytes..]}]}` where the report is the
//! `sev` crate's serde form: field names of the ABI structure, byte strings
//! as arrays of numbers, TCB fields as `{"fmc", "bootloader", "tee", "snp",
//! "microcode"}` objects, firmware versions as `{"major", "minor", "build"}`
//! and the signature as `{"r", "s"}` with 72 little-endian bytes each.
//!
//! The report is written back to its 1184-byte layout and parsed by
//! [`super::report::parse_report`], so the signature is checked over exactly
//! the bytes the firmware signed and both encodings go through one parser.
//! Own serde types are used instead of the `sev` crate's so the accepted
//! shape, its size limits and its errors are under this crate's control.

use serde::Deserialize;

use super::report::{offset, parse_report, AttestationReport, FirmwareVersion, Processor, ReportWriter, TcbVersion};
use crate::{Error, Result};

/// Largest trustee evidence document accepted (numbers arrays are wordy).
pub const MAX_TRUSTEE_EVIDENCE: usize = 1 << 20;

/// Most certificates accepted in `cert_chain`.
const MAX_CHAIN_ENTRIES: usize = 16;

const WHAT: &str = "SNP trustee evidence";

/// trustee's SNP evidence, with the report in its raw form.
#[derive(Debug, Clone)]
pub struct TrusteeEvidence {
    /// The attestation report, re-encoded to 1184 bytes and parsed.
    pub report: AttestationReport,
    /// The `cert_chain` entries, in order.
    pub certificates: Vec<ChainCertificate>,
}

/// One `cert_chain` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCertificate {
    /// `VCEK`, `VLEK`, `ASK`, `ASVK`, `ARK`, `CRL`, or `OTHER` for a GUID-typed entry.
    pub cert_type: String,
    /// The certificate (or CRL) DER.
    pub der: Vec<u8>,
}

#[derive(Deserialize)]
struct JsonEvidence {
    attestation_report: JsonReport,
    #[serde(default)]
    cert_chain: Option<Vec<JsonCert>>,
}

#[derive(Deserialize)]
struct JsonCert {
    cert_type: serde_json::Value,
    data: Vec<u8>,
}

#[derive(Deserialize, Clone, Copy)]
struct JsonTcb {
    #[serde(default)]
    fmc: Option<u8>,
    bootloader: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
}

#[derive(Deserialize, Clone, Copy)]
struct JsonVersion {
    major: u8,
    minor: u8,
    build: u8,
}

#[derive(Deserialize)]
struct JsonSignature {
    r: Vec<u8>,
    s: Vec<u8>,
}

#[derive(Deserialize)]
struct JsonReport {
    version: u32,
    guest_svn: u32,
    policy: u64,
    family_id: Vec<u8>,
    image_id: Vec<u8>,
    vmpl: u32,
    sig_algo: u32,
    current_tcb: JsonTcb,
    plat_info: u64,
    key_info: u32,
    report_data: Vec<u8>,
    measurement: Vec<u8>,
    host_data: Vec<u8>,
    id_key_digest: Vec<u8>,
    author_key_digest: Vec<u8>,
    report_id: Vec<u8>,
    report_id_ma: Vec<u8>,
    reported_tcb: JsonTcb,
    #[serde(default)]
    cpuid_fam_id: Option<u8>,
    #[serde(default)]
    cpuid_mod_id: Option<u8>,
    #[serde(default)]
    cpuid_step: Option<u8>,
    chip_id: Vec<u8>,
    committed_tcb: JsonTcb,
    current: JsonVersion,
    committed: JsonVersion,
    launch_tcb: JsonTcb,
    #[serde(default)]
    launch_mit_vector: Option<u64>,
    #[serde(default)]
    current_mit_vector: Option<u64>,
    signature: JsonSignature,
}

impl From<JsonTcb> for TcbVersion {
    fn from(t: JsonTcb) -> Self {
        TcbVersion { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, fmc: t.fmc }
    }
}

impl From<JsonVersion> for FirmwareVersion {
    fn from(v: JsonVersion) -> Self {
        FirmwareVersion { major: v.major, minor: v.minor, build: v.build }
    }
}

/// Parse trustee's SNP evidence JSON.
pub fn parse_trustee_evidence(json: &[u8]) -> Result<TrusteeEvidence> {
    if json.len() > MAX_TRUSTEE_EVIDENCE {
        return Err(Error::TooLarge { what: WHAT, found: json.len(), limit: MAX_TRUSTEE_EVIDENCE });
    }
    let parsed: JsonEvidence = serde_json::from_slice(json)
        .map_err(|e| Error::field(WHAT, format!("line {} column {}", e.line(), e.column()), e.to_string()))?;
    let report = parse_report(&encode_report(&parsed.attestation_report)?[..])?;
    let entries = parsed.cert_chain.unwrap_or_default();
    if entries.len() > MAX_CHAIN_ENTRIES {
        return Err(Error::TooLarge { what: "SNP cert_chain entries", found: entries.len(), limit: MAX_CHAIN_ENTRIES });
    }
    let certificates = entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let cert_type = match &entry.cert_type {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) if o.contains_key("OTHER") => "OTHER".to_string(),
                other => {
                    return Err(Error::field(
                        WHAT,
                        format!("cert_chain[{i}].cert_type"),
                        format!("expected a certificate type name, found {other}"),
                    ))
                }
            };
            Ok(ChainCertificate { cert_type, der: entry.data })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TrusteeEvidence { report, certificates })
}

/// Copy a byte array of the exact size into the report.
fn put_exact(w: &mut ReportWriter, at: usize, field: &str, bytes: &[u8], len: usize) -> Result<()> {
    if bytes.len() != len {
        return Err(Error::field(
            WHAT,
            format!("attestation_report.{field}"),
            format!("expected {len} bytes, found {}", bytes.len()),
        ));
    }
    w.put(at, bytes);
    Ok(())
}

/// Write the JSON report back to the ATTESTATION_REPORT layout.
fn encode_report(r: &JsonReport) -> Result<Box<[u8; super::report::REPORT_SIZE]>> {
    // The TCB layout depends on the generation: from CPUID when the report
    // has it (version 3+), otherwise the Turin layout exactly when an FMC
    // SPL is present (Milan and Genoa share the other layout).
    let processor = match (r.version >= 3, r.cpuid_fam_id, r.cpuid_mod_id) {
        (true, Some(family), Some(model)) => {
            Processor::from_cpuid(family, model).ok_or_else(|| Error::Unsupported {
                what: "SNP processor (CPUID family/model)",
                found: format!("family {family:#04x} model {model:#04x}"),
            })?
        }
        (true, _, _) => {
            return Err(Error::field(WHAT, "attestation_report.cpuid_fam_id", "missing in a version 3+ report"))
        }
        (false, _, _) => {
            let tcbs = [r.current_tcb, r.reported_tcb, r.committed_tcb, r.launch_tcb];
            if tcbs.iter().any(|t| t.fmc.is_some()) {
                Processor::Turin
            } else {
                Processor::Milan
            }
        }
    };
    let tcb = |t: JsonTcb| TcbVersion::from(t).to_raw(processor).to_le_bytes();
    let mut w = ReportWriter::new();
    w.put(offset::VERSION, &r.version.to_le_bytes());
    w.put(offset::GUEST_SVN, &r.guest_svn.to_le_bytes());
    w.put(offset::POLICY, &r.policy.to_le_bytes());
    put_exact(&mut w, offset::FAMILY_ID, "family_id", &r.family_id, 16)?;
    put_exact(&mut w, offset::IMAGE_ID, "image_id", &r.image_id, 16)?;
    w.put(offset::VMPL, &r.vmpl.to_le_bytes());
    w.put(offset::SIGNATURE_ALGO, &r.sig_algo.to_le_bytes());
    w.put(offset::CURRENT_TCB, &tcb(r.current_tcb));
    w.put(offset::PLATFORM_INFO, &r.plat_info.to_le_bytes());
    w.put(offset::KEY_INFO, &r.key_info.to_le_bytes());
    put_exact(&mut w, offset::REPORT_DATA, "report_data", &r.report_data, 64)?;
    put_exact(&mut w, offset::MEASUREMENT, "measurement", &r.measurement, 48)?;
    put_exact(&mut w, offset::HOST_DATA, "host_data", &r.host_data, 32)?;
    put_exact(&mut w, offset::ID_KEY_DIGEST, "id_key_digest", &r.id_key_digest, 48)?;
    put_exact(&mut w, offset::AUTHOR_KEY_DIGEST, "author_key_digest", &r.author_key_digest, 48)?;
    put_exact(&mut w, offset::REPORT_ID, "report_id", &r.report_id, 32)?;
    put_exact(&mut w, offset::REPORT_ID_MA, "report_id_ma", &r.report_id_ma, 32)?;
    w.put(offset::REPORTED_TCB, &tcb(r.reported_tcb));
    if r.version >= 3 {
        w.put(offset::CPUID_FAM_ID, &[r.cpuid_fam_id.unwrap_or(0)]);
        w.put(offset::CPUID_MOD_ID, &[r.cpuid_mod_id.unwrap_or(0)]);
        w.put(offset::CPUID_STEP, &[r.cpuid_step.unwrap_or(0)]);
    }
    put_exact(&mut w, offset::CHIP_ID, "chip_id", &r.chip_id, 64)?;
    w.put(offset::COMMITTED_TCB, &tcb(r.committed_tcb));
    w.put_version(offset::CURRENT_VERSION, r.current.into());
    w.put_version(offset::COMMITTED_VERSION, r.committed.into());
    w.put(offset::LAUNCH_TCB, &tcb(r.launch_tcb));
    if r.version >= 5 {
        w.put(offset::LAUNCH_MIT_VECTOR, &r.launch_mit_vector.unwrap_or(0).to_le_bytes());
        w.put(offset::CURRENT_MIT_VECTOR, &r.current_mit_vector.unwrap_or(0).to_le_bytes());
    }
    let len = super::report::SIGNATURE_COMPONENT_LEN;
    put_exact(&mut w, offset::SIGNATURE_R, "signature.r", &r.signature.r, len)?;
    put_exact(&mut w, offset::SIGNATURE_S, "signature.s", &r.signature.s, len)?;
    Ok(w.finish())
}
