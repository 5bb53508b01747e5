//! Binary layout of DCAP quotes: SGX v3, TDX v4 and v5.
//!
//! Layouts follow the "Intel TDX DCAP Quote Generation Library and Quote
//! Verification Library" specification (quote format appendix) and the
//! "Intel SGX ECDSA Quote Library" reference for v3. Every structure is
//! parsed in exactly one function below, with the spec table it follows named
//! in its comment. Parsing never panics: every read goes through [`Reader`].

use crate::{Error, Result};

/// Largest quote accepted, in bytes (real quotes are about 5 KiB).
pub const MAX_QUOTE_SIZE: usize = 64 * 1024;

/// TEE type of SGX quotes.
pub const TEE_TYPE_SGX: u32 = 0x0000_0000;
/// TEE type of TDX quotes.
pub const TEE_TYPE_TDX: u32 = 0x0000_0081;
/// Attestation key type 2: ECDSA-256 with P-256.
pub const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
/// QE vendor id of Intel's quoting enclaves.
pub const INTEL_QE_VENDOR_ID: [u8; 16] =
    [0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07];

/// Size of the quote header.
pub const HEADER_SIZE: usize = 48;
/// Size of an SGX enclave report body (also the QE report).
pub const ENCLAVE_REPORT_SIZE: usize = 384;
/// Size of a TD report 1.0 body.
pub const TD_REPORT10_SIZE: usize = 584;
/// Size of a TD report 1.5 body.
pub const TD_REPORT15_SIZE: usize = 648;

/// Certification data type 5: PCK certificate chain, PEM.
const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Certification data type 6: QE report certification data.
const CERT_TYPE_QE_REPORT: u16 = 6;
/// Largest QE authentication data accepted.
const MAX_AUTH_DATA: usize = 4096;

const WHAT: &str = "DCAP quote";

/// Bounds-checked little-endian reader over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len()).ok_or_else(|| {
            Error::malformed(
                self.what,
                self.pos,
                format!("{field}: need {n} bytes, {} left", self.buf.len().saturating_sub(self.pos)),
            )
        })?;
        let out = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
}

/// Quote header (TDX DCAP spec, table "Quote Header", 48 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Quote format version: 3 (SGX), 4 or 5 (TDX).
    pub version: u16,
    /// Attestation key type (2 = ECDSA P-256).
    pub attestation_key_type: u16,
    /// TEE type: 0 = SGX, 0x81 = TDX.
    pub tee_type: u32,
    /// QE SVN (v3) or reserved bytes (v4/v5), raw.
    pub qe_svn: u16,
    /// PCE SVN (v3) or reserved bytes (v4/v5), raw.
    pub pce_svn: u16,
    /// QE vendor id.
    pub qe_vendor_id: [u8; 16],
    /// Vendor user data (for Intel's QE: the QE id prefix).
    pub user_data: [u8; 20],
}

fn parse_header(r: &mut Reader<'_>) -> Result<Header> {
    Ok(Header {
        version: r.u16("version")?,
        attestation_key_type: r.u16("attestation key type")?,
        tee_type: r.u32("TEE type")?,
        qe_svn: r.u16("QE SVN")?,
        pce_svn: r.u16("PCE SVN")?,
        qe_vendor_id: r.array("QE vendor id")?,
        user_data: r.array("user data")?,
    })
}

/// SGX enclave report body (SGX quote spec, table "Enclave Report Body", 384 bytes).
///
/// Used for the QE report of every quote and for the body of SGX v3 quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclaveReport {
    /// CPU security version.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// Enclave attributes (flags then XFRM).
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// Report data.
    pub report_data: [u8; 64],
}

/// Parse a 384-byte enclave report body.
pub fn parse_enclave_report(bytes: &[u8]) -> Result<EnclaveReport> {
    let mut r = Reader::new(bytes, "SGX enclave report");
    let cpu_svn = r.array("CPUSVN")?;
    let misc_select = r.u32("MISCSELECT")?;
    r.take(28, "reserved")?;
    let attributes = r.array("attributes")?;
    let mr_enclave = r.array("MRENCLAVE")?;
    r.take(32, "reserved")?;
    let mr_signer = r.array("MRSIGNER")?;
    r.take(96, "reserved")?;
    let isv_prod_id = r.u16("ISVPRODID")?;
    let isv_svn = r.u16("ISVSVN")?;
    r.take(60, "reserved")?;
    let report_data = r.array("report data")?;
    if r.remaining() != 0 {
        return Err(Error::malformed("SGX enclave report", r.pos(), "trailing bytes"));
    }
    Ok(EnclaveReport { cpu_svn, misc_select, attributes, mr_enclave, mr_signer, isv_prod_id, isv_svn, report_data })
}

/// TD report body (TDX DCAP spec, tables "TD Quote Body" for TDX 1.0, 584
/// bytes, and "TD Quote Body v1.5", 648 bytes, which appends `tee_tcb_svn2`
/// and `mr_servicetd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport {
    /// TEE TCB SVN of the TDX module at TD launch.
    pub tee_tcb_svn: [u8; 16],
    /// Measurement of the TDX module.
    pub mr_seam: [u8; 48],
    /// Signer of the TDX module (zero for Intel's).
    pub mrsigner_seam: [u8; 48],
    /// TDX module attributes.
    pub seam_attributes: [u8; 8],
    /// TD attributes.
    pub td_attributes: [u8; 8],
    /// Extended features allowed mask.
    pub xfam: [u8; 8],
    /// Build-time measurement of the TD.
    pub mr_td: [u8; 48],
    /// Software-defined configuration id (init-data digest).
    pub mr_config_id: [u8; 48],
    /// Owner id.
    pub mr_owner: [u8; 48],
    /// Owner-defined configuration.
    pub mr_owner_config: [u8; 48],
    /// Runtime measurement registers 0..3.
    pub rtmr: [[u8; 48]; 4],
    /// Report data.
    pub report_data: [u8; 64],
    /// TD 1.5 only: current TEE TCB SVN (after TD-preserving updates).
    pub tee_tcb_svn2: Option<[u8; 16]>,
    /// TD 1.5 only: measurement of the bound service TDs.
    pub mr_servicetd: Option<[u8; 48]>,
}

/// Parse a TD report body of 584 (TD 1.0) or 648 (TD 1.5) bytes.
pub fn parse_td_report(bytes: &[u8]) -> Result<TdReport> {
    let what = "TD report body";
    let td15 = match bytes.len() {
        TD_REPORT10_SIZE => false,
        TD_REPORT15_SIZE => true,
        n => {
            return Err(Error::malformed(
                what,
                0,
                format!("expected {TD_REPORT10_SIZE} or {TD_REPORT15_SIZE} bytes, found {n}"),
            ))
        }
    };
    let mut r = Reader::new(bytes, what);
    let mut report = TdReport {
        tee_tcb_svn: r.array("TEE_TCB_SVN")?,
        mr_seam: r.array("MRSEAM")?,
        mrsigner_seam: r.array("MRSIGNERSEAM")?,
        seam_attributes: r.array("SEAMATTRIBUTES")?,
        td_attributes: r.array("TDATTRIBUTES")?,
        xfam: r.array("XFAM")?,
        mr_td: r.array("MRTD")?,
        mr_config_id: r.array("MRCONFIGID")?,
        mr_owner: r.array("MROWNER")?,
        mr_owner_config: r.array("MROWNERCONFIG")?,
        rtmr: [r.array("RTMR0")?, r.array("RTMR1")?, r.array("RTMR2")?, r.array("RTMR3")?],
        report_data: r.array("REPORTDATA")?,
        tee_tcb_svn2: None,
        mr_servicetd: None,
    };
    if td15 {
        report.tee_tcb_svn2 = Some(r.array("TEE_TCB_SVN2")?);
        report.mr_servicetd = Some(r.array("MRSERVICETD")?);
    }
    Ok(report)
}

/// The attested body of a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // parsed once per quote, never stored in bulk
pub enum Body {
    /// SGX enclave report (quote v3).
    Sgx(EnclaveReport),
    /// TD report (quote v4: always TD 1.0; v5: TD 1.0 or 1.5).
    Td(TdReport),
}

/// A parsed DCAP quote with ECDSA P-256 signature data.
#[derive(Debug, Clone)]
pub struct Quote {
    /// The header.
    pub header: Header,
    /// Body type: 1 = SGX, 2 = TD 1.0, 3 = TD 1.5 (v5 carries it; derived for v3/v4).
    pub body_type: u16,
    /// The body.
    pub body: Body,
    /// The bytes the quote signature covers (header, v5 body descriptor, body).
    pub signed_data: Vec<u8>,
    /// Quote signature, raw `r‖s`.
    pub signature: [u8; 64],
    /// Attestation public key, raw `x‖y`.
    pub attestation_key: [u8; 64],
    /// Raw QE report (384 bytes, signed by the PCK key).
    pub qe_report_raw: [u8; ENCLAVE_REPORT_SIZE],
    /// Parsed QE report.
    pub qe_report: EnclaveReport,
    /// QE report signature, raw `r‖s`.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data.
    pub qe_auth_data: Vec<u8>,
    /// PCK certificate chain (PEM text, leaf first).
    pub pck_chain_pem: Vec<u8>,
}

impl Quote {
    /// The TD report, for TDX quotes.
    pub fn td_report(&self) -> Option<&TdReport> {
        match &self.body {
            Body::Td(td) => Some(td),
            Body::Sgx(_) => None,
        }
    }
}

/// Parse a DCAP quote (SGX v3, TDX v4 or v5) with ECDSA P-256 signature data
/// and PCK-chain certification data.
///
/// Layout (TDX DCAP spec, "Quote Format"): header (48) ‖ [v5: body type u16,
/// body size u32] ‖ body ‖ signature data length u32 ‖ signature data.
/// Bytes after the signature data are ignored (quote buffers are often padded).
pub fn parse_quote(bytes: &[u8]) -> Result<Quote> {
    if bytes.len() > MAX_QUOTE_SIZE {
        return Err(Error::TooLarge { what: "DCAP quote", found: bytes.len(), limit: MAX_QUOTE_SIZE });
    }
    let mut r = Reader::new(bytes, WHAT);
    let header = parse_header(&mut r)?;
    if header.attestation_key_type != ATTESTATION_KEY_ECDSA_P256 {
        return Err(Error::Unsupported {
            what: "DCAP attestation key type",
            found: header.attestation_key_type.to_string(),
        });
    }
    let (body_type, body) = match (header.version, header.tee_type) {
        (3, TEE_TYPE_SGX) => (1, Body::Sgx(parse_enclave_report(r.take(ENCLAVE_REPORT_SIZE, "SGX report body")?)?)),
        (4, TEE_TYPE_TDX) => (2, Body::Td(parse_td_report(r.take(TD_REPORT10_SIZE, "TD report body")?)?)),
        (5, TEE_TYPE_TDX) => {
            let body_type = r.u16("body type")?;
            let size = r.u32("body size")? as usize;
            let expected = match body_type {
                2 => TD_REPORT10_SIZE,
                3 => TD_REPORT15_SIZE,
                other => return Err(Error::Unsupported { what: "quote v5 body type", found: other.to_string() }),
            };
            if size != expected {
                return Err(Error::malformed(
                    WHAT,
                    r.pos() - 4,
                    format!("body type {body_type} needs body size {expected}, found {size}"),
                ));
            }
            (body_type, Body::Td(parse_td_report(r.take(size, "TD report body")?)?))
        }
        (version, tee_type) => {
            return Err(Error::Unsupported {
                what: "DCAP quote version/TEE type",
                found: format!("version {version}, TEE type {tee_type:#x}"),
            })
        }
    };
    let signed_data = bytes.get(..r.pos()).unwrap_or_default().to_vec();
    let sig_len = r.u32("signature data length")? as usize;
    let sig_start = r.pos();
    let sig_bytes = r.take(sig_len, "signature data")?;
    let mut s = Reader::new(sig_bytes, "DCAP quote signature data");
    let signature = s.array("quote signature")?;
    let attestation_key = s.array("attestation key")?;
    let outer_type = if header.version == 3 {
        None
    } else {
        let t = s.u16("certification data type")?;
        let size = s.u32("certification data size")? as usize;
        if size != s.remaining() {
            return Err(Error::malformed(
                WHAT,
                sig_start + s.pos(),
                format!("certification data size {size} does not match the {} bytes left", s.remaining()),
            ));
        }
        Some(t)
    };
    if let Some(t) = outer_type.filter(|t| *t != CERT_TYPE_QE_REPORT) {
        return Err(Error::Unsupported { what: "DCAP certification data type", found: t.to_string() });
    }
    // QE report certification data (TDX DCAP spec, "QE Report Certification Data").
    let qe_report_raw: [u8; ENCLAVE_REPORT_SIZE] = s.array("QE report")?;
    let qe_report = parse_enclave_report(&qe_report_raw)?;
    let qe_report_signature = s.array("QE report signature")?;
    let auth_len = s.u16("QE authentication data size")? as usize;
    if auth_len > MAX_AUTH_DATA {
        return Err(Error::TooLarge { what: "QE authentication data", found: auth_len, limit: MAX_AUTH_DATA });
    }
    let qe_auth_data = s.take(auth_len, "QE authentication data")?.to_vec();
    let cert_type = s.u16("PCK certification data type")?;
    let cert_size = s.u32("PCK certification data size")? as usize;
    if cert_type != CERT_TYPE_PCK_CHAIN {
        return Err(Error::Unsupported { what: "PCK certification data type", found: cert_type.to_string() });
    }
    let pck_chain_pem = s.take(cert_size, "PCK certificate chain")?.to_vec();
    if s.remaining() != 0 {
        return Err(Error::malformed(WHAT, sig_start + s.pos(), "trailing bytes inside signature data"));
    }
    Ok(Quote {
        header,
        body_type,
        body,
        signed_data,
        signature,
        attestation_key,
        qe_report_raw,
        qe_report,
        qe_report_signature,
        qe_auth_data,
        pck_chain_pem,
    })
}

/// TD attributes decoded (TDX module ABI spec, table "TD Attributes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TdAttributes {
    /// Bit 0: the TD runs in debug mode (its memory and state are readable by the host).
    pub debug: bool,
    /// Bit 28: EPT violations are not converted to #VE.
    pub sept_ve_disable: bool,
    /// Bit 29: the TD may be migrated.
    pub migratable: bool,
    /// Bit 30: protection keys are enabled.
    pub pks: bool,
    /// Bit 31: key locker is enabled.
    pub kl: bool,
    /// Bit 63: performance monitoring is enabled.
    pub perfmon: bool,
}

impl TdAttributes {
    /// Decode the 8 little-endian attribute bytes.
    pub fn decode(raw: [u8; 8]) -> Self {
        let v = u64::from_le_bytes(raw);
        let bit = |n: u32| v & (1u64 << n) != 0;
        TdAttributes {
            debug: bit(0),
            sept_ve_disable: bit(28),
            migratable: bit(29),
            pks: bit(30),
            kl: bit(31),
            perfmon: bit(63),
        }
    }
}
