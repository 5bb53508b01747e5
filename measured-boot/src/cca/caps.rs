//! Host capabilities: what the hardware, the host hypervisor and the RMM
//! let a realm have, and the realm parameters derived from them.
//!
//! Capability files are the TOML files the CCA host tools read (one
//! `key = value` per capability, e.g. `ipa_bits = 52`, `lpa2 = false`).
//! Several files are layered: the first file that names a capability sets
//! it, later files can only lower it (a smaller number, or `false`), so a
//! hardware file followed by hypervisor and RMM files gives what all of
//! them support.

use serde::{Deserialize, Serialize};

use super::rmm::{RealmCreateParams, REALM_FLAG_LPA2, REALM_FLAG_PMU, REALM_FLAG_SVE};
use super::HashAlgo;
use crate::{Error, Result};

/// Largest capability file accepted.
pub const MAX_HOST_CONFIG_SIZE: usize = 64 * 1024;

/// Realm capabilities of a host; `None` where not known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCapabilities {
    /// IPA width in bits.
    pub ipa_bits: Option<u8>,
    /// Breakpoints (2-64).
    pub num_bps: Option<u8>,
    /// Watchpoints (2-64).
    pub num_wps: Option<u8>,
    /// Largest SVE vector length in bits (multiple of 128 up to 2048; 0
    /// disables SVE).
    pub sve_vl: Option<u16>,
    /// PMU counters (0-31).
    pub pmu_num_ctrs: Option<u8>,
    /// PMU available.
    pub pmu: Option<bool>,
    /// LPA2 (52-bit addresses with 4 KiB pages) available.
    pub lpa2: Option<bool>,
}

/// Parse one capability file (TOML text). Unknown keys and out-of-range
/// values are errors naming the key.
pub fn parse_host_config(text: &str) -> Result<HostCapabilities> {
    if text.len() > MAX_HOST_CONFIG_SIZE {
        return Err(Error::CcaHostConfig {
            field: "file".into(),
            reason: format!("{} bytes, at most {MAX_HOST_CONFIG_SIZE} accepted", text.len()),
        });
    }
    let caps: HostCapabilities = toml::from_str(text).map_err(|e| {
        // One line: where, then what (the parser's own text spans lines).
        let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let key = e.span().and_then(|s| text.get(s)).filter(|k| !k.contains('\n')).unwrap_or("");
        let field = if key.is_empty() { format!("line {line}") } else { format!("line {line} ({key})") };
        Error::CcaHostConfig { field, reason: e.message().trim().replace('\n', " ") }
    })?;
    caps.check()?;
    Ok(caps)
}

fn lower<T: Copy + PartialOrd>(slot: &mut Option<T>, new: Option<T>) {
    if let Some(new) = new {
        match slot {
            Some(old) if *old < new => {}
            _ => *slot = Some(new),
        }
    }
}

fn range_err(field: &'static str, expected: &str, found: impl ToString) -> Error {
    Error::CcaRealmParam { field, expected: expected.into(), found: found.to_string() }
}

impl HostCapabilities {
    /// Layer capability files in order (see the module documentation).
    pub fn from_configs<S: AsRef<str>>(texts: &[S]) -> Result<Self> {
        let mut caps = HostCapabilities::default();
        for text in texts {
            caps.restrict(&parse_host_config(text.as_ref())?);
        }
        Ok(caps)
    }

    /// Lower every capability `other` names to at most its value; set the
    /// ones not known yet.
    pub fn restrict(&mut self, other: &HostCapabilities) {
        lower(&mut self.ipa_bits, other.ipa_bits);
        lower(&mut self.num_bps, other.num_bps);
        lower(&mut self.num_wps, other.num_wps);
        lower(&mut self.sve_vl, other.sve_vl);
        lower(&mut self.pmu_num_ctrs, other.pmu_num_ctrs);
        lower(&mut self.pmu, other.pmu);
        lower(&mut self.lpa2, other.lpa2);
    }

    /// Replace every capability `other` names (explicit settings win over
    /// the files).
    pub fn update(&mut self, other: &HostCapabilities) {
        fn set<T: Copy>(slot: &mut Option<T>, new: Option<T>) {
            if new.is_some() {
                *slot = new;
            }
        }
        set(&mut self.ipa_bits, other.ipa_bits);
        set(&mut self.num_bps, other.num_bps);
        set(&mut self.num_wps, other.num_wps);
        set(&mut self.sve_vl, other.sve_vl);
        set(&mut self.pmu_num_ctrs, other.pmu_num_ctrs);
        set(&mut self.pmu, other.pmu);
        set(&mut self.lpa2, other.lpa2);
    }

    /// Check the ranges of the values present.
    pub fn check(&self) -> Result<()> {
        if let Some(v) = self.ipa_bits {
            if !(32..=52).contains(&v) {
                return Err(range_err("ipa_bits", "32 to 52", v));
            }
        }
        if let Some(v) = self.num_bps {
            if !(2..=64).contains(&v) {
                return Err(range_err("num_bps", "2 to 64", v));
            }
        }
        if let Some(v) = self.num_wps {
            if !(2..=64).contains(&v) {
                return Err(range_err("num_wps", "2 to 64", v));
            }
        }
        if let Some(v) = self.sve_vl {
            if v != 0 && (v % 128 != 0 || v > 2048) {
                return Err(range_err("sve_vl", "0 or a multiple of 128 up to 2048", v));
            }
        }
        if let Some(v) = self.pmu_num_ctrs {
            if v > 31 {
                return Err(range_err("pmu_num_ctrs", "0 to 31", v));
            }
        }
        Ok(())
    }

    /// The RmiRealmParams fields RMI_REALM_CREATE measures, for a realm
    /// with these capabilities and `algo`. IPA width, breakpoints and
    /// watchpoints must be known; PMU counters when the PMU is on.
    pub(crate) fn realm_create_params(&self, algo: HashAlgo) -> Result<RealmCreateParams> {
        self.check()?;
        let missing = |field| Error::CcaRealmParam { field, expected: "a value".into(), found: "none".into() };
        let s2sz = self.ipa_bits.ok_or_else(|| missing("ipa_bits"))?;
        let num_bps = self.num_bps.ok_or_else(|| missing("num_bps"))?;
        let num_wps = self.num_wps.ok_or_else(|| missing("num_wps"))?;
        let mut flags = 0;
        let mut sve_vq = 0;
        if let Some(vl) = self.sve_vl.filter(|vl| *vl > 0) {
            flags |= REALM_FLAG_SVE;
            // Vector length in 128-bit quadwords, minus one (ZCR_EL2.LEN).
            sve_vq = (vl / 128 - 1) as u8;
        }
        if self.lpa2 == Some(true) {
            flags |= REALM_FLAG_LPA2;
        }
        let mut pmu_num_ctrs = 0;
        if self.pmu == Some(true) {
            flags |= REALM_FLAG_PMU;
            pmu_num_ctrs = self.pmu_num_ctrs.ok_or_else(|| missing("pmu_num_ctrs"))?;
        }
        Ok(RealmCreateParams {
            flags,
            s2sz,
            sve_vq,
            num_bps: num_bps - 1,
            num_wps: num_wps - 1,
            pmu_num_ctrs,
            hash_algo: algo.rmi_value(),
        })
    }
}
