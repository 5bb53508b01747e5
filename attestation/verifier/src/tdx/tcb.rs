//! TCB appraisal: which TCB level of Intel's TCB info and QE identity a
//! platform and its quoting enclave reach, and how the statuses combine.
//!
//! The rules are those of Intel's Quote Verification Library as
//! implemented by `dcap-qvl` 0.7 (the reference this module is tested
//! against): levels ordered from highest to lowest SVNs, the first level
//! whose every component the platform meets wins; for TDX the TEE TCB SVN
//! components count too (the first two are skipped when the TDX module
//! minor version, byte 1, is non-zero, since the module identity covers
//! them); the module identity `TDX_<minor>` gives a module level that
//! converges with the platform level; the QE level converges last.

use serde::{Deserialize, Serialize};

use super::collateral::{QeIdentity, QeTcbLevel, TcbInfo, TcbLevel, TdxModuleIdentity};
use super::pck::PckExtension;
use super::quote::{EnclaveReport, TdReport};
use crate::{Error, Result};

/// A TCB status as Intel's collateral names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TcbStatus {
    /// The TCB is current.
    UpToDate,
    /// Software hardening (e.g. for an advisory) is needed.
    SWHardeningNeeded,
    /// The platform configuration needs changes.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// The TCB is out of date.
    OutOfDate,
    /// Out of date and the configuration needs changes.
    OutOfDateConfigurationNeeded,
    /// The TCB is revoked.
    Revoked,
    /// TD 1.5: launched on an out-of-date module, now running on a current one; relaunch the TD.
    TDRelaunchAdvised,
    /// As `TDRelaunchAdvised`, and the configuration needs changes.
    TDRelaunchAdvisedConfigurationNeeded,
}

impl TcbStatus {
    /// The name used in collateral and claims.
    pub fn name(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SWHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
            TcbStatus::TDRelaunchAdvised => "TDRelaunchAdvised",
            TcbStatus::TDRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
        }
    }

    /// Combine this status with a component's (module or QE): only an
    /// out-of-date or revoked component lowers it.
    pub fn converge(self, component: TcbStatus) -> TcbStatus {
        use TcbStatus::*;
        match (component, self) {
            (Revoked, _) => Revoked,
            (OutOfDate, UpToDate | SWHardeningNeeded) => OutOfDate,
            (OutOfDate, ConfigurationNeeded | ConfigurationAndSWHardeningNeeded) => OutOfDateConfigurationNeeded,
            _ => self,
        }
    }

    /// TD 1.5: combine the launch status with the current-TCB status.
    pub fn with_current(self, current: TcbStatus) -> TcbStatus {
        use TcbStatus::*;
        let config = |s| {
            matches!(
                s,
                ConfigurationNeeded
                    | OutOfDateConfigurationNeeded
                    | ConfigurationAndSWHardeningNeeded
                    | TDRelaunchAdvisedConfigurationNeeded
            )
        };
        match (self, current) {
            (
                OutOfDate | OutOfDateConfigurationNeeded,
                UpToDate | SWHardeningNeeded | ConfigurationNeeded | ConfigurationAndSWHardeningNeeded,
            ) => {
                if config(self) || config(current) {
                    TDRelaunchAdvisedConfigurationNeeded
                } else {
                    TDRelaunchAdvised
                }
            }
            _ => self,
        }
    }
}

impl std::fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A status with the advisories that apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcbVerdict {
    /// The status.
    pub status: TcbStatus,
    /// Intel security advisory ids, in collateral order, without duplicates.
    pub advisory_ids: Vec<String>,
}

impl TcbVerdict {
    fn new(status: TcbStatus, advisory_ids: &[String]) -> Self {
        let mut v = TcbVerdict { status, advisory_ids: Vec::new() };
        v.add_advisories(advisory_ids);
        v
    }

    fn add_advisories(&mut self, ids: &[String]) {
        for id in ids {
            if !self.advisory_ids.contains(id) {
                self.advisory_ids.push(id.clone());
            }
        }
    }

    /// Converge with a component's verdict and collect its advisories.
    pub fn merge(&mut self, other: &TcbVerdict) {
        self.status = self.status.converge(other.status);
        self.add_advisories(&other.advisory_ids);
    }
}

fn check_allowed(status: TcbStatus, allowed: &[TcbStatus], structure: &'static str) -> Result<()> {
    if allowed.contains(&status) {
        Ok(())
    } else {
        Err(Error::Unsupported { what: structure, found: format!("TCB status {status}") })
    }
}

const PLATFORM_STATUSES: &[TcbStatus] = &[
    TcbStatus::UpToDate,
    TcbStatus::SWHardeningNeeded,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::ConfigurationAndSWHardeningNeeded,
    TcbStatus::OutOfDate,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::Revoked,
];
const MODULE_STATUSES: &[TcbStatus] = &[TcbStatus::UpToDate, TcbStatus::OutOfDate, TcbStatus::Revoked];
const QE_STATUSES: &[TcbStatus] = &[
    TcbStatus::UpToDate,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::OutOfDate,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::Revoked,
];

/// Order levels from highest to lowest: SGX components, then PCESVN, then
/// (TDX) TDX components, each compared lexicographically.
pub fn sort_levels(levels: &mut [TcbLevel], tdx: bool) {
    levels.sort_by(|a, b| {
        b.sgx_components.cmp(&a.sgx_components).then(b.pce_svn.cmp(&a.pce_svn)).then_with(|| {
            if tdx {
                b.tdx_components.cmp(&a.tdx_components)
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
}

/// Whether the platform meets every component of `level`.
fn meets(level: &TcbLevel, cpu_svn: &[u8; 16], pce_svn: u16, tee_tcb_svn: Option<&[u8; 16]>) -> Result<bool> {
    if level.sgx_components.len() != 16 {
        return Err(Error::field(
            "TCB info",
            "sgxtcbcomponents",
            format!("{} entries, not 16", level.sgx_components.len()),
        ));
    }
    let sgx_ok = cpu_svn.iter().zip(&level.sgx_components).all(|(have, need)| have >= need);
    if !sgx_ok || pce_svn < level.pce_svn {
        return Ok(false);
    }
    let Some(tee) = tee_tcb_svn else {
        return Ok(true);
    };
    if level.tdx_components.len() != 16 {
        return Err(Error::field(
            "TCB info",
            "tdxtcbcomponents",
            format!("{} entries, not 16", level.tdx_components.len()),
        ));
    }
    let skip = if tee.get(1).copied().unwrap_or(0) > 0 { 2 } else { 0 };
    Ok(tee.iter().zip(&level.tdx_components).skip(skip).all(|(have, need)| have >= need))
}

/// The first level (in `tcb_info`'s sorted order) the platform meets.
pub fn find_level<'a>(
    tcb_info: &'a TcbInfo,
    cpu_svn: &[u8; 16],
    pce_svn: u16,
    tee_tcb_svn: Option<&[u8; 16]>,
) -> Result<&'a TcbLevel> {
    for level in &tcb_info.tcb_levels {
        if meets(level, cpu_svn, pce_svn, tee_tcb_svn)? {
            check_allowed(level.tcb_status, PLATFORM_STATUSES, "TCB info level")?;
            return Ok(level);
        }
    }
    Err(Error::NoMatchingTcbLevel(format!(
        "FMSPC {} with CPUSVN {}, PCESVN {pce_svn}{}",
        tcb_info.fmspc_hex(),
        hex::encode(cpu_svn),
        tee_tcb_svn.map(|t| format!(", TEE TCB SVN {}", hex::encode(t))).unwrap_or_default()
    )))
}

/// The TDX module identity for `tee_tcb_svn` (`TDX_<minor>`), if the minor version is non-zero.
pub fn module_identity<'a>(tcb_info: &'a TcbInfo, tee_tcb_svn: &[u8; 16]) -> Result<Option<&'a TdxModuleIdentity>> {
    let minor = tee_tcb_svn.get(1).copied().unwrap_or(0);
    if minor == 0 {
        return Ok(None);
    }
    let wanted = format!("TDX_{minor:02X}");
    tcb_info
        .tdx_module_identities
        .iter()
        .find(|id| id.id.eq_ignore_ascii_case(&wanted))
        .map(Some)
        .ok_or_else(|| Error::NoMatchingTcbLevel(format!("no TDX module identity {wanted} in the TCB info")))
}

/// Platform verdict for one TEE TCB SVN: platform level converged with the module level.
fn tdx_verdict(tcb_info: &TcbInfo, pck: &PckExtension, tee_tcb_svn: &[u8; 16]) -> Result<TcbVerdict> {
    let level = find_level(tcb_info, &pck.cpu_svn, pck.pce_svn, Some(tee_tcb_svn))?;
    let mut verdict = TcbVerdict::new(level.tcb_status, &level.advisory_ids);
    if let Some(identity) = module_identity(tcb_info, tee_tcb_svn)? {
        let isvsvn = tee_tcb_svn.first().copied().unwrap_or(0);
        let module = identity.tcb_levels.iter().find(|l| u16::from(isvsvn) >= l.isvsvn).ok_or_else(|| {
            Error::NoMatchingTcbLevel(format!("TDX module ISVSVN {isvsvn} is below every level of {}", identity.id))
        })?;
        check_allowed(module.tcb_status, MODULE_STATUSES, "TDX module identity level")?;
        verdict.merge(&TcbVerdict::new(module.tcb_status, &module.advisory_ids));
    }
    Ok(verdict)
}

/// Check the TD report's module signer and SEAM attributes against the TCB
/// info (`tdxModuleIdentities` entry for the module minor version, else `tdxModule`).
pub fn check_module_identity(tcb_info: &TcbInfo, td: &TdReport) -> Result<()> {
    let base =
        tcb_info.tdx_module.as_ref().ok_or_else(|| Error::field("TCB info", "tdxModule", "missing in TDX TCB info"))?;
    let (mrsigner, attributes, mask) = match module_identity(tcb_info, &td.tee_tcb_svn)? {
        Some(id) => (&id.mrsigner, &id.attributes, &id.attributes_mask),
        None => (&base.mrsigner, &base.attributes, &base.attributes_mask),
    };
    if &td.mrsigner_seam != mrsigner {
        return Err(Error::mismatch_bytes("TDX module MRSIGNER", mrsigner, &td.mrsigner_seam));
    }
    for ((want, mask), have) in attributes.iter().zip(mask).zip(&td.seam_attributes) {
        if want & mask != have & mask || have & !mask != 0 {
            return Err(Error::mismatch_bytes("TDX module SEAM attributes (masked)", attributes, &td.seam_attributes));
        }
    }
    Ok(())
}

/// Platform verdict of a TD quote: launch TCB (and current TCB for TD 1.5),
/// module identity checked. Returns the launch verdict and the current status.
pub fn platform_verdict_tdx(
    tcb_info: &TcbInfo,
    pck: &PckExtension,
    td: &TdReport,
) -> Result<(TcbVerdict, Option<TcbStatus>)> {
    let launch = tdx_verdict(tcb_info, pck, &td.tee_tcb_svn)?;
    check_module_identity(tcb_info, td)?;
    let current = match &td.tee_tcb_svn2 {
        Some(svn2) => Some(tdx_verdict(tcb_info, pck, svn2)?.status),
        None => None,
    };
    Ok((launch, current))
}

/// Platform verdict of an SGX quote.
pub fn platform_verdict_sgx(tcb_info: &TcbInfo, pck: &PckExtension) -> Result<TcbVerdict> {
    let level = find_level(tcb_info, &pck.cpu_svn, pck.pce_svn, None)?;
    Ok(TcbVerdict::new(level.tcb_status, &level.advisory_ids))
}

/// Check the QE report against the QE identity and return the QE's level.
pub fn qe_level<'a>(qe: &EnclaveReport, identity: &'a QeIdentity) -> Result<&'a QeTcbLevel> {
    if qe.mr_signer != identity.mrsigner {
        return Err(Error::mismatch_bytes("QE MRSIGNER", &identity.mrsigner, &qe.mr_signer));
    }
    if qe.attributes.first().is_some_and(|flags| flags & 0x02 != 0) {
        return Err(Error::Mismatch {
            what: "QE debug attribute".into(),
            expected: "clear".into(),
            found: "set".into(),
        });
    }
    if qe.isv_prod_id != identity.isvprodid {
        return Err(Error::Mismatch {
            what: "QE ISVPRODID".into(),
            expected: identity.isvprodid.to_string(),
            found: qe.isv_prod_id.to_string(),
        });
    }
    let mask = identity.miscselect_mask;
    if qe.misc_select & mask != identity.miscselect & mask {
        return Err(Error::Mismatch {
            what: "QE MISCSELECT (masked)".into(),
            expected: format!("{:08x}", identity.miscselect & mask),
            found: format!("{:08x}", qe.misc_select & mask),
        });
    }
    let masked = |a: &[u8; 16]| -> Vec<u8> { a.iter().zip(&identity.attributes_mask).map(|(x, m)| x & m).collect() };
    if masked(&qe.attributes) != masked(&identity.attributes) {
        return Err(Error::mismatch_bytes(
            "QE attributes (masked)",
            &masked(&identity.attributes),
            &masked(&qe.attributes),
        ));
    }
    let level = identity.tcb_levels.iter().find(|l| qe.isv_svn >= l.isvsvn).ok_or_else(|| {
        Error::NoMatchingTcbLevel(format!(
            "QE ISVSVN {} is below the lowest level ({}) of the QE identity",
            qe.isv_svn,
            identity.tcb_levels.last().map_or(0, |l| l.isvsvn)
        ))
    })?;
    check_allowed(level.tcb_status, QE_STATUSES, "QE identity level")?;
    Ok(level)
}

/// Combine the platform verdict, the current-TCB status (TD 1.5) and the QE
/// level into the final verdict; a revoked result is an error.
pub fn final_verdict(platform: TcbVerdict, current: Option<TcbStatus>, qe: &QeTcbLevel) -> Result<TcbVerdict> {
    let mut verdict = platform;
    verdict.merge(&TcbVerdict::new(qe.tcb_status, &qe.advisory_ids));
    let current = current.map(|c| c.converge(qe.tcb_status));
    if verdict.status == TcbStatus::Revoked || current == Some(TcbStatus::Revoked) {
        return Err(Error::TcbRevoked("the platform (per the TCB info and QE identity)".into()));
    }
    if let Some(current) = current {
        verdict.status = verdict.status.with_current(current);
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcbStatus::*;

    fn qe(status: TcbStatus, advisories: &[&str]) -> QeTcbLevel {
        QeTcbLevel {
            isvsvn: 1,
            tcb_date: String::new(),
            tcb_status: status,
            advisory_ids: advisories.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn verdict(status: TcbStatus, advisories: &[&str]) -> TcbVerdict {
        TcbVerdict::new(status, &advisories.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn only_out_of_date_and_revoked_components_lower_a_status() {
        for (platform, component, want) in [
            (UpToDate, OutOfDate, OutOfDate),
            (SWHardeningNeeded, OutOfDate, OutOfDate),
            (ConfigurationNeeded, OutOfDate, OutOfDateConfigurationNeeded),
            (ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded),
            (OutOfDateConfigurationNeeded, OutOfDate, OutOfDateConfigurationNeeded),
            (UpToDate, ConfigurationNeeded, UpToDate),
            (SWHardeningNeeded, UpToDate, SWHardeningNeeded),
            (ConfigurationNeeded, Revoked, Revoked),
        ] {
            assert_eq!(platform.converge(component), want, "{platform} with {component}");
        }
    }

    #[test]
    fn td15_current_tcb_turns_out_of_date_into_relaunch_advice() {
        assert_eq!(OutOfDate.with_current(UpToDate), TDRelaunchAdvised);
        assert_eq!(OutOfDate.with_current(ConfigurationNeeded), TDRelaunchAdvisedConfigurationNeeded);
        assert_eq!(OutOfDateConfigurationNeeded.with_current(SWHardeningNeeded), TDRelaunchAdvisedConfigurationNeeded);
        assert_eq!(OutOfDate.with_current(OutOfDate), OutOfDate);
        assert_eq!(UpToDate.with_current(UpToDate), UpToDate);
    }

    #[test]
    fn final_verdict_merges_advisories_and_rejects_revoked() {
        let v = final_verdict(verdict(SWHardeningNeeded, &["A", "B"]), None, &qe(OutOfDate, &["B", "C"])).unwrap();
        assert_eq!(v.status, OutOfDate);
        assert_eq!(v.advisory_ids, ["A", "B", "C"]);
        let err = final_verdict(verdict(Revoked, &[]), None, &qe(UpToDate, &[])).unwrap_err();
        assert!(matches!(err, Error::TcbRevoked(_)));
        let err = final_verdict(verdict(UpToDate, &[]), None, &qe(Revoked, &[])).unwrap_err();
        assert!(matches!(err, Error::TcbRevoked(_)));
        let err = final_verdict(verdict(OutOfDate, &[]), Some(Revoked), &qe(UpToDate, &[])).unwrap_err();
        assert!(matches!(err, Error::TcbRevoked(_)));
        let v = final_verdict(verdict(OutOfDate, &[]), Some(UpToDate), &qe(UpToDate, &[])).unwrap();
        assert_eq!(v.status, TDRelaunchAdvised);
    }

    #[test]
    fn status_names_round_trip_through_json() {
        for s in [
            UpToDate,
            SWHardeningNeeded,
            ConfigurationNeeded,
            ConfigurationAndSWHardeningNeeded,
            OutOfDate,
            OutOfDateConfigurationNeeded,
            Revoked,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<TcbStatus>(&json).unwrap(), s);
        }
    }
}
