//! DCAP collateral: the JSON document the operator passes, its TCB info and
//! QE identity, and their verification against the Intel root.
//!
//! The document shape is the one `dcap-qvl` serialises (`QuoteCollateralV3`):
//! PEM issuer chains, CRLs as hex DER, TCB info and QE identity as the raw
//! inner JSON text Intel signed, signatures as hex raw `r‖s`.

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::tcb::{sort_levels, TcbStatus};
use crate::x509::{verify_chain, Certificate, Crl};
use crate::{Error, Result};

/// Largest collateral document accepted, in bytes.
pub const MAX_COLLATERAL_SIZE: usize = 1 << 20;
/// Most certificates accepted in one issuer chain.
const MAX_CHAIN_CERTS: usize = 5;
/// Most TCB levels accepted in TCB info or QE identity.
const MAX_LEVELS: usize = 256;

const WHAT: &str = "DCAP collateral";

/// The collateral document as it appears on the wire.
#[derive(Deserialize)]
struct Wire {
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: String,
    tcb_info: String,
    tcb_info_signature: String,
    qe_identity_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
}

/// One TCB level of the TCB info (Intel PCS "TCB Info V3", `tcbLevels[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbLevel {
    /// SGX TCB component SVNs (16).
    pub sgx_components: Vec<u8>,
    /// TDX TCB component SVNs (16; empty for SGX).
    pub tdx_components: Vec<u8>,
    /// Minimum PCE SVN.
    pub pce_svn: u16,
    /// Date of the level.
    pub tcb_date: String,
    /// Status of a platform at this level.
    pub tcb_status: TcbStatus,
    /// Advisories that apply.
    pub advisory_ids: Vec<String>,
}

/// TDX module signer and attributes (`tdxModule` or a `tdxModuleIdentities[]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxModule {
    /// Expected MRSIGNERSEAM.
    pub mrsigner: [u8; 48],
    /// Expected SEAM attributes.
    pub attributes: [u8; 8],
    /// Mask applied before comparing attributes.
    pub attributes_mask: [u8; 8],
}

/// A TDX module identity (`tdxModuleIdentities[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxModuleIdentity {
    /// Id, `TDX_<minor version, 2 hex digits>`.
    pub id: String,
    /// Expected MRSIGNERSEAM.
    pub mrsigner: [u8; 48],
    /// Expected SEAM attributes.
    pub attributes: [u8; 8],
    /// Mask applied before comparing attributes.
    pub attributes_mask: [u8; 8],
    /// Levels by module ISVSVN, highest first.
    pub tcb_levels: Vec<QeTcbLevel>,
}

/// TCB info (Intel PCS "TCB Info" v3, SGX or TDX).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbInfo {
    /// `SGX` or `TDX`.
    pub id: String,
    /// Format version (3).
    pub version: u8,
    /// When it was issued.
    pub issue_date: OffsetDateTime,
    /// When it stops being valid.
    pub next_update: OffsetDateTime,
    /// FMSPC (6 bytes).
    pub fmspc: [u8; 6],
    /// PCE id (2 bytes).
    pub pce_id: [u8; 2],
    /// TCB evaluation data number.
    pub tcb_evaluation_data_number: u32,
    /// Levels, sorted highest first.
    pub tcb_levels: Vec<TcbLevel>,
    /// TDX module signer (TDX only).
    pub tdx_module: Option<TdxModule>,
    /// TDX module identities (TDX only).
    pub tdx_module_identities: Vec<TdxModuleIdentity>,
}

impl TcbInfo {
    /// FMSPC as upper-case hex, as Intel writes it.
    pub fn fmspc_hex(&self) -> String {
        hex::encode_upper(self.fmspc)
    }
}

/// A QE identity or module level: minimum ISVSVN and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeTcbLevel {
    /// Minimum ISVSVN.
    pub isvsvn: u16,
    /// Date of the level.
    pub tcb_date: String,
    /// Status at this level.
    pub tcb_status: TcbStatus,
    /// Advisories that apply.
    pub advisory_ids: Vec<String>,
}

/// QE identity (Intel PCS "Enclave Identity" v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeIdentity {
    /// `QE` (SGX) or `TD_QE` (TDX).
    pub id: String,
    /// Format version.
    pub version: u8,
    /// When it was issued.
    pub issue_date: OffsetDateTime,
    /// When it stops being valid.
    pub next_update: OffsetDateTime,
    /// TCB evaluation data number.
    pub tcb_evaluation_data_number: u32,
    /// Expected MISCSELECT.
    pub miscselect: u32,
    /// MISCSELECT mask.
    pub miscselect_mask: u32,
    /// Expected attributes.
    pub attributes: [u8; 16],
    /// Attributes mask.
    pub attributes_mask: [u8; 16],
    /// Expected MRSIGNER.
    pub mrsigner: [u8; 32],
    /// Expected ISVPRODID.
    pub isvprodid: u16,
    /// Levels by ISVSVN, highest first.
    pub tcb_levels: Vec<QeTcbLevel>,
}

mod json {
    //! Serde mirrors of Intel's JSON, converted to the typed structs above.
    use serde::Deserialize;

    use super::TcbStatus;

    #[derive(Deserialize)]
    pub struct Svn {
        pub svn: u8,
    }
    #[derive(Deserialize)]
    pub struct Tcb {
        pub sgxtcbcomponents: Vec<Svn>,
        #[serde(default)]
        pub tdxtcbcomponents: Vec<Svn>,
        pub pcesvn: u16,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Level {
        pub tcb: Tcb,
        pub tcb_date: String,
        pub tcb_status: TcbStatus,
        #[serde(rename = "advisoryIDs", default)]
        pub advisory_ids: Vec<String>,
    }
    #[derive(Deserialize)]
    pub struct IsvSvn {
        pub isvsvn: u16,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SvnLevel {
        pub tcb: IsvSvn,
        pub tcb_date: String,
        pub tcb_status: TcbStatus,
        #[serde(rename = "advisoryIDs", default)]
        pub advisory_ids: Vec<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Module {
        pub mrsigner: String,
        pub attributes: String,
        pub attributes_mask: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ModuleIdentity {
        pub id: String,
        pub mrsigner: String,
        pub attributes: String,
        pub attributes_mask: String,
        pub tcb_levels: Vec<SvnLevel>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TcbInfo {
        pub id: String,
        pub version: u8,
        pub issue_date: String,
        pub next_update: String,
        pub fmspc: String,
        pub pce_id: String,
        pub tcb_evaluation_data_number: u32,
        pub tcb_levels: Vec<Level>,
        pub tdx_module: Option<Module>,
        #[serde(default)]
        pub tdx_module_identities: Vec<ModuleIdentity>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct QeIdentity {
        pub id: String,
        pub version: u8,
        pub issue_date: String,
        pub next_update: String,
        pub tcb_evaluation_data_number: u32,
        pub miscselect: String,
        pub miscselect_mask: String,
        pub attributes: String,
        pub attributes_mask: String,
        pub mrsigner: String,
        pub isvprodid: u16,
        pub tcb_levels: Vec<SvnLevel>,
    }
}

fn hex_array<const N: usize>(what: &'static str, field: &str, text: &str) -> Result<[u8; N]> {
    let bytes = hex::decode(text).map_err(|e| Error::field(what, field, format!("not hex: {e}")))?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::field(what, field, format!("expected {N} bytes, found {}", bytes.len())))
}

fn date(what: &'static str, field: &str, text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| Error::field(what, field, format!("not an RFC 3339 date: {e}")))
}

fn svn_levels(what: &'static str, levels: Vec<json::SvnLevel>) -> Result<Vec<QeTcbLevel>> {
    if levels.len() > MAX_LEVELS {
        return Err(Error::TooLarge { what, found: levels.len(), limit: MAX_LEVELS });
    }
    Ok(levels
        .into_iter()
        .map(|l| QeTcbLevel {
            isvsvn: l.tcb.isvsvn,
            tcb_date: l.tcb_date,
            tcb_status: l.tcb_status,
            advisory_ids: l.advisory_ids,
        })
        .collect())
}

/// Parse TCB info JSON text (the inner `tcbInfo` object).
pub fn parse_tcb_info(text: &str) -> Result<TcbInfo> {
    const W: &str = "TCB info";
    let j: json::TcbInfo = serde_json::from_str(text).map_err(|e| Error::field(W, "$", e.to_string()))?;
    if j.tcb_levels.len() > MAX_LEVELS {
        return Err(Error::TooLarge { what: "TCB info levels", found: j.tcb_levels.len(), limit: MAX_LEVELS });
    }
    let tdx = j.version >= 3 && j.id == "TDX";
    let mut tcb_levels: Vec<TcbLevel> = j
        .tcb_levels
        .into_iter()
        .map(|l| TcbLevel {
            sgx_components: l.tcb.sgxtcbcomponents.iter().map(|c| c.svn).collect(),
            tdx_components: l.tcb.tdxtcbcomponents.iter().map(|c| c.svn).collect(),
            pce_svn: l.tcb.pcesvn,
            tcb_date: l.tcb_date,
            tcb_status: l.tcb_status,
            advisory_ids: l.advisory_ids,
        })
        .collect();
    sort_levels(&mut tcb_levels, tdx);
    let tdx_module = match j.tdx_module {
        Some(m) => Some(TdxModule {
            mrsigner: hex_array(W, "tdxModule.mrsigner", &m.mrsigner)?,
            attributes: hex_array(W, "tdxModule.attributes", &m.attributes)?,
            attributes_mask: hex_array(W, "tdxModule.attributesMask", &m.attributes_mask)?,
        }),
        None => None,
    };
    let mut tdx_module_identities = Vec::new();
    for m in j.tdx_module_identities.into_iter().take(MAX_LEVELS) {
        tdx_module_identities.push(TdxModuleIdentity {
            mrsigner: hex_array(W, "tdxModuleIdentities.mrsigner", &m.mrsigner)?,
            attributes: hex_array(W, "tdxModuleIdentities.attributes", &m.attributes)?,
            attributes_mask: hex_array(W, "tdxModuleIdentities.attributesMask", &m.attributes_mask)?,
            tcb_levels: svn_levels("TDX module identity levels", m.tcb_levels)?,
            id: m.id,
        });
    }
    Ok(TcbInfo {
        issue_date: date(W, "issueDate", &j.issue_date)?,
        next_update: date(W, "nextUpdate", &j.next_update)?,
        fmspc: hex_array(W, "fmspc", &j.fmspc)?,
        pce_id: hex_array(W, "pceId", &j.pce_id)?,
        id: j.id,
        version: j.version,
        tcb_evaluation_data_number: j.tcb_evaluation_data_number,
        tcb_levels,
        tdx_module,
        tdx_module_identities,
    })
}

/// Parse QE identity JSON text (the inner `enclaveIdentity` object).
pub fn parse_qe_identity(text: &str) -> Result<QeIdentity> {
    const W: &str = "QE identity";
    let j: json::QeIdentity = serde_json::from_str(text).map_err(|e| Error::field(W, "$", e.to_string()))?;
    Ok(QeIdentity {
        issue_date: date(W, "issueDate", &j.issue_date)?,
        next_update: date(W, "nextUpdate", &j.next_update)?,
        miscselect: u32::from_le_bytes(hex_array(W, "miscselect", &j.miscselect)?),
        miscselect_mask: u32::from_le_bytes(hex_array(W, "miscselectMask", &j.miscselect_mask)?),
        attributes: hex_array(W, "attributes", &j.attributes)?,
        attributes_mask: hex_array(W, "attributesMask", &j.attributes_mask)?,
        mrsigner: hex_array(W, "mrsigner", &j.mrsigner)?,
        tcb_levels: svn_levels("QE identity levels", j.tcb_levels)?,
        id: j.id,
        version: j.version,
        tcb_evaluation_data_number: j.tcb_evaluation_data_number,
        isvprodid: j.isvprodid,
    })
}

/// Parsed (not yet verified) DCAP collateral.
#[derive(Debug, Clone)]
pub struct Collateral {
    /// Chain of the PCK CRL issuer (PCK CA, root).
    pub pck_crl_issuer_chain: Vec<Certificate>,
    /// Root CA CRL.
    pub root_ca_crl: Crl,
    /// PCK CRL.
    pub pck_crl: Crl,
    /// Chain of the TCB info signer (TCB signing certificate, root).
    pub tcb_info_issuer_chain: Vec<Certificate>,
    /// The signed TCB info text, byte for byte.
    pub tcb_info_text: String,
    /// TCB info, parsed.
    pub tcb_info: TcbInfo,
    /// TCB info signature, raw `r‖s`.
    pub tcb_info_signature: Vec<u8>,
    /// Chain of the QE identity signer.
    pub qe_identity_issuer_chain: Vec<Certificate>,
    /// The signed QE identity text, byte for byte.
    pub qe_identity_text: String,
    /// QE identity, parsed.
    pub qe_identity: QeIdentity,
    /// QE identity signature, raw `r‖s`.
    pub qe_identity_signature: Vec<u8>,
}

fn chain(field: &str, pem: &str) -> Result<Vec<Certificate>> {
    let certs = Certificate::all_from_pem(pem.as_bytes())?;
    if certs.is_empty() || certs.len() > MAX_CHAIN_CERTS {
        return Err(Error::field(
            WHAT,
            field,
            format!("expected 1..={MAX_CHAIN_CERTS} certificates, found {}", certs.len()),
        ));
    }
    Ok(certs)
}

fn hex_field(field: &str, text: &str) -> Result<Vec<u8>> {
    hex::decode(text.trim()).map_err(|e| Error::field(WHAT, field, format!("not hex: {e}")))
}

/// Parse a collateral JSON document (dcap-qvl's `QuoteCollateralV3` shape).
pub fn parse_collateral(json: &[u8]) -> Result<Collateral> {
    if json.len() > MAX_COLLATERAL_SIZE {
        return Err(Error::TooLarge { what: "DCAP collateral", found: json.len(), limit: MAX_COLLATERAL_SIZE });
    }
    let w: Wire = serde_json::from_slice(json).map_err(|e| Error::field(WHAT, "$", e.to_string()))?;
    Ok(Collateral {
        pck_crl_issuer_chain: chain("pck_crl_issuer_chain", &w.pck_crl_issuer_chain)?,
        root_ca_crl: Crl::from_der(&hex_field("root_ca_crl", &w.root_ca_crl)?)?,
        pck_crl: Crl::from_der(&hex_field("pck_crl", &w.pck_crl)?)?,
        tcb_info_issuer_chain: chain("tcb_info_issuer_chain", &w.tcb_info_issuer_chain)?,
        tcb_info: parse_tcb_info(&w.tcb_info)?,
        tcb_info_text: w.tcb_info,
        tcb_info_signature: hex_field("tcb_info_signature", &w.tcb_info_signature)?,
        qe_identity_issuer_chain: chain("qe_identity_issuer_chain", &w.qe_identity_issuer_chain)?,
        qe_identity: parse_qe_identity(&w.qe_identity)?,
        qe_identity_text: w.qe_identity,
        qe_identity_signature: hex_field("qe_identity_signature", &w.qe_identity_signature)?,
    })
}

/// Verify a raw `r‖s` ECDSA P-256/SHA-256 signature with a certificate's key.
pub(crate) fn verify_raw_p256(cert: &Certificate, message: &[u8], signature: &[u8], what: &str) -> Result<()> {
    let key = cert.public_key()?;
    if !matches!(key, crate::x509::PublicKey::P256(_)) {
        return Err(Error::Unsupported { what: "signing key", found: format!("{} is not P-256", cert.display_name()) });
    }
    if key.verify_p256_raw(message, signature) {
        Ok(())
    } else {
        Err(Error::BadSignature { what: what.to_string(), key: cert.display_name() })
    }
}

fn window(what: &str, at: OffsetDateTime, issued: OffsetDateTime, next_update: OffsetDateTime) -> Result<()> {
    if at < issued || at > next_update {
        return Err(Error::CollateralExpired { what: what.to_string(), at, issued, next_update });
    }
    Ok(())
}

/// Collateral whose signatures and chains have been checked against a
/// trusted root. Verifying a quote with it only checks the quote, its PCK
/// chain and the dates at the verification time.
#[derive(Debug, Clone)]
pub struct VerifiedCollateral {
    collateral: Collateral,
    root: Certificate,
    /// The PCK CA certificate that signed the PCK CRL.
    pck_crl_issuer: Certificate,
    /// The TCB info signer path (signer first, root excluded).
    tcb_path: Vec<Certificate>,
    /// The QE identity signer path (signer first, root excluded).
    qe_path: Vec<Certificate>,
}

impl VerifiedCollateral {
    /// Check `collateral` against the trusted `roots` at `at`: root CA CRL
    /// (signed by the root, window), TCB info and QE identity (windows, signer
    /// chains to the root, signers not revoked, signatures over the raw JSON
    /// text), PCK CRL (signed by a PCK CA that chains to the root). The PCK
    /// CRL's window is checked with each quote, after its PCK chain, as
    /// Intel's verification orders it.
    pub fn new(collateral: &Collateral, roots: &[Certificate], at: OffsetDateTime) -> Result<Self> {
        let c = collateral;
        // The root that signed the root CA CRL is the one the whole collateral hangs from.
        let root = roots
            .iter()
            .find(|r| c.root_ca_crl.verify_issued_by(r).is_ok())
            .ok_or_else(|| Error::UntrustedRoot {
                subject: format!("CRL of {}", c.root_ca_crl.issuer_name()),
                detail: format!("none of {} trusted root(s) signed it", roots.len()),
            })?
            .clone();
        // Dates first, in the order `check_at` reports them, so that an
        // expired document is named before any certificate of its chain.
        c.root_ca_crl.check_validity(at).map_err(|_| Self::crl_expired("root CA CRL", &c.root_ca_crl, at))?;
        window("TCB info", at, c.tcb_info.issue_date, c.tcb_info.next_update)?;
        window("QE identity", at, c.qe_identity.issue_date, c.qe_identity.next_update)?;
        let anchor = std::slice::from_ref(&root);
        let signer_path = |certs: &[Certificate], what: &str| -> Result<Vec<Certificate>> {
            let (leaf, rest) =
                certs.split_first().ok_or_else(|| Error::field(WHAT, what.to_string(), "empty chain"))?;
            let mut path = verify_chain(leaf, rest, anchor, at)?;
            path.retain(|p| *p != root);
            if path.len() != 1 {
                return Err(Error::UntrustedRoot {
                    subject: leaf.display_name(),
                    detail: format!("{what} signer must be issued by the root directly"),
                });
            }
            Ok(path)
        };
        let tcb_path = signer_path(&c.tcb_info_issuer_chain, "TCB info")?;
        // Intel signs both documents with the same certificate; walk its chain once.
        let qe_path = if c.qe_identity_issuer_chain == c.tcb_info_issuer_chain {
            tcb_path.clone()
        } else {
            signer_path(&c.qe_identity_issuer_chain, "QE identity")?
        };
        if let (Some(tcb_signer), Some(qe_signer)) = (tcb_path.first(), qe_path.first()) {
            verify_raw_p256(tcb_signer, c.tcb_info_text.as_bytes(), &c.tcb_info_signature, "TCB info")?;
            verify_raw_p256(qe_signer, c.qe_identity_text.as_bytes(), &c.qe_identity_signature, "QE identity")?;
        }
        let pck_crl_issuer = c
            .pck_crl_issuer_chain
            .iter()
            .find(|ca| c.pck_crl.verify_issued_by(ca).is_ok())
            .ok_or_else(|| Error::BadSignature {
                what: format!("CRL of {}", c.pck_crl.issuer_name()),
                key: "every certificate of pck_crl_issuer_chain".into(),
            })?
            .clone();
        verify_chain(&pck_crl_issuer, &c.pck_crl_issuer_chain, anchor, at)?;
        let verified = VerifiedCollateral { collateral: c.clone(), root, pck_crl_issuer, tcb_path, qe_path };
        verified.check_at(at)?;
        Ok(verified)
    }

    /// The collateral.
    pub fn collateral(&self) -> &Collateral {
        &self.collateral
    }

    /// The trusted root everything chains to.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// The PCK CA that signed the PCK CRL.
    pub(crate) fn pck_crl_issuer(&self) -> &Certificate {
        &self.pck_crl_issuer
    }

    /// The dates at `at`, in the order Intel's verification meets them: root
    /// CA CRL, TCB info, its signer chain (not revoked), QE identity, its
    /// signer chain. The PCK CRL follows the quote's PCK chain
    /// ([`VerifiedCollateral::check_pck_crl_at`]).
    pub fn check_at(&self, at: OffsetDateTime) -> Result<()> {
        let c = &self.collateral;
        c.root_ca_crl.check_validity(at).map_err(|_| Self::crl_expired("root CA CRL", &c.root_ca_crl, at))?;
        c.root_ca_crl.check_not_revoked(&self.root)?;
        window("TCB info", at, c.tcb_info.issue_date, c.tcb_info.next_update)?;
        for cert in &self.tcb_path {
            cert.check_validity(at)?;
            c.root_ca_crl.check_not_revoked(cert)?;
        }
        self.root.check_validity(at)?;
        window("QE identity", at, c.qe_identity.issue_date, c.qe_identity.next_update)?;
        for cert in &self.qe_path {
            cert.check_validity(at)?;
            c.root_ca_crl.check_not_revoked(cert)?;
        }
        Ok(())
    }

    /// The PCK CRL's window at `at` (checked after the PCK chain's validity dates).
    pub fn check_pck_crl_at(&self, at: OffsetDateTime) -> Result<()> {
        let crl = &self.collateral.pck_crl;
        crl.check_validity(at).map_err(|_| Self::crl_expired("PCK CRL", crl, at))
    }

    fn crl_expired(what: &str, crl: &Crl, at: OffsetDateTime) -> Error {
        Error::CollateralExpired {
            what: format!("{what} (issued by {})", crl.issuer_name()),
            at,
            issued: crl.this_update(),
            next_update: crl.next_update().unwrap_or(crl.this_update()),
        }
    }
}
