//! The two operator-supplied stores of CCA verification.
//!
//! - Trust-anchor store (`endorsements.chain`): a JSON array of
//!   `{"pkey": <EC JWK>, "implementation-id": hex, "instance-id": hex}`, one
//!   per platform; `pkey` is the platform's CPAK, which signs its platform
//!   tokens.
//! - Reference-value store (`endorsements.collateral`): a JSON object
//!   `{"platform": [..], "realm": [..]}` of known-good platform firmware and
//!   realm measurements.
//!
//! Both are the shapes trustee's CCA local verifier reads.

use serde::{Deserialize, Serialize};

use super::keys::EcJwk;
use super::token::{PlatformClaims, RealmClaims, REM_COUNT};
use crate::x509::PublicKey;
use crate::{Error, Result};

/// Largest store document accepted, in bytes.
pub const MAX_STORE_SIZE: usize = 1 << 20;
/// Most entries accepted in one store list.
const MAX_ENTRIES: usize = 4096;

/// One platform's CPAK and identity.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// Implementation id the platform reports.
    pub implementation_id: Vec<u8>,
    /// Instance id (UEID) the platform reports.
    pub instance_id: Vec<u8>,
    /// The CPAK.
    pub key: PublicKey,
}

/// The trust-anchor store: CPAKs by platform identity.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchorStore {
    /// Entries in document order.
    pub anchors: Vec<TrustAnchor>,
}

impl TrustAnchorStore {
    /// The anchor for a platform identity, matched on both ids.
    pub fn find(&self, implementation_id: &[u8], instance_id: &[u8]) -> Option<&TrustAnchor> {
        self.anchors.iter().find(|a| a.instance_id == instance_id && a.implementation_id == implementation_id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustAnchorJson {
    pkey: EcJwk,
    #[serde(rename = "implementation-id")]
    implementation_id: String,
    #[serde(rename = "instance-id")]
    instance_id: String,
}

fn check_size(what: &'static str, json: &[u8]) -> Result<()> {
    if json.len() > MAX_STORE_SIZE {
        return Err(Error::TooLarge { what, found: json.len(), limit: MAX_STORE_SIZE });
    }
    Ok(())
}

fn hex_field(what: &'static str, field: &str, text: &str) -> Result<Vec<u8>> {
    let bytes = hex::decode(text).map_err(|e| Error::field(what, field, format!("not hex: {e}")))?;
    if bytes.is_empty() {
        return Err(Error::field(what, field, "empty"));
    }
    Ok(bytes)
}

/// Parse a trust-anchor store document.
pub fn parse_trust_anchors(json: &[u8]) -> Result<TrustAnchorStore> {
    const WHAT: &str = "CCA trust-anchor store";
    check_size(WHAT, json)?;
    let entries: Vec<TrustAnchorJson> =
        serde_json::from_slice(json).map_err(|e| Error::field(WHAT, "$", e.to_string()))?;
    if entries.len() > MAX_ENTRIES {
        return Err(Error::TooLarge {
            what: "CCA trust-anchor store entries",
            found: entries.len(),
            limit: MAX_ENTRIES,
        });
    }
    let anchors = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(TrustAnchor {
                implementation_id: hex_field(WHAT, &format!("[{i}].implementation-id"), &e.implementation_id)?,
                instance_id: hex_field(WHAT, &format!("[{i}].instance-id"), &e.instance_id)?,
                key: e.pkey.to_public_key(WHAT, &format!("[{i}].pkey"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TrustAnchorStore { anchors })
}

/// Known-good values of one platform (firmware release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformReference {
    /// Implementation id.
    pub implementation_id: Vec<u8>,
    /// Software components the platform must report, no more and no fewer.
    pub sw_components: Vec<ComponentReference>,
    /// Platform configuration, when constrained.
    pub config: Option<Vec<u8>>,
}

/// Known-good values of one software component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentReference {
    /// Component type, matched against claim 1.
    pub component_type: Option<String>,
    /// Measurement value.
    pub measurement: Vec<u8>,
    /// Signer id, when constrained.
    pub signer_id: Option<Vec<u8>>,
}

/// Known-good values of one realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmReference {
    /// Realm initial measurement.
    pub rim: Vec<u8>,
    /// REM0..REM3, when constrained.
    pub rems: Option<Vec<Vec<u8>>>,
    /// Personalization value, when constrained.
    pub personalization_value: Option<Vec<u8>>,
    /// RAK hash algorithm name, when constrained.
    pub rak_hash_algorithm: Option<String>,
}

/// The reference-value store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceValueStore {
    /// Acceptable platforms; empty means platforms are not constrained.
    pub platform: Vec<PlatformReference>,
    /// Acceptable realms; empty means realms are not constrained.
    pub realm: Vec<RealmReference>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreJson {
    #[serde(default)]
    platform: Vec<PlatformJson>,
    #[serde(default)]
    realm: Vec<RealmJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PlatformJson {
    implementation_id: String,
    sw_components: Vec<ComponentJson>,
    platform_configuration: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ComponentJson {
    measurement_value: String,
    signer_id: Option<String>,
    component_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RealmJson {
    initial_measurement: String,
    rak_hash_algorithm: Option<String>,
    extensible_measurements: Option<Vec<String>>,
    personalization_value: Option<String>,
}

/// Parse a reference-value store document.
///
/// Unknown members are rejected, so that a misspelt constraint is not
/// silently skipped.
pub fn parse_reference_values(json: &[u8]) -> Result<ReferenceValueStore> {
    const WHAT: &str = "CCA reference-value store";
    check_size(WHAT, json)?;
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| Error::field(WHAT, "$", e.to_string()))?;
    if !value.is_object() {
        return Err(Error::field(WHAT, "$", "expected an object with \"platform\" and \"realm\" lists"));
    }
    let doc: StoreJson = serde_json::from_value(value).map_err(|e| Error::field(WHAT, "$", e.to_string()))?;
    if doc.platform.len() > MAX_ENTRIES || doc.realm.len() > MAX_ENTRIES {
        let found = doc.platform.len().max(doc.realm.len());
        return Err(Error::TooLarge { what: "CCA reference-value store entries", found, limit: MAX_ENTRIES });
    }
    let opt_hex =
        |field: String, text: &Option<String>| text.as_deref().map(|t| hex_field(WHAT, &field, t)).transpose();
    let mut platform = Vec::with_capacity(doc.platform.len());
    for (i, p) in doc.platform.iter().enumerate() {
        let mut sw_components = Vec::with_capacity(p.sw_components.len());
        for (j, c) in p.sw_components.iter().enumerate() {
            let at = format!("platform[{i}].sw-components[{j}]");
            sw_components.push(ComponentReference {
                component_type: c.component_type.clone(),
                measurement: hex_field(WHAT, &format!("{at}.measurement-value"), &c.measurement_value)?,
                signer_id: opt_hex(format!("{at}.signer-id"), &c.signer_id)?,
            });
        }
        platform.push(PlatformReference {
            implementation_id: hex_field(WHAT, &format!("platform[{i}].implementation-id"), &p.implementation_id)?,
            sw_components,
            config: opt_hex(format!("platform[{i}].platform-configuration"), &p.platform_configuration)?,
        });
    }
    let mut realm = Vec::with_capacity(doc.realm.len());
    for (i, r) in doc.realm.iter().enumerate() {
        let rems = match &r.extensible_measurements {
            Some(list) if list.len() != REM_COUNT => {
                return Err(Error::field(
                    WHAT,
                    format!("realm[{i}].extensible-measurements"),
                    format!("expected {REM_COUNT} entries, found {}", list.len()),
                ))
            }
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(j, t)| hex_field(WHAT, &format!("realm[{i}].extensible-measurements[{j}]"), t))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        realm.push(RealmReference {
            rim: hex_field(WHAT, &format!("realm[{i}].initial-measurement"), &r.initial_measurement)?,
            rems,
            personalization_value: opt_hex(format!("realm[{i}].personalization-value"), &r.personalization_value)?,
            rak_hash_algorithm: r.rak_hash_algorithm.clone(),
        });
    }
    Ok(ReferenceValueStore { platform, realm })
}

/// One reference value that the token does not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferenceMismatch {
    /// The item compared, e.g. `platform sw component RMM measurement`.
    pub item: String,
    /// The reference value (hex for bytes).
    pub expected: String,
    /// The token's value (hex for bytes).
    pub found: String,
}

/// Outcome of comparing a token with a reference-value store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferenceValueReport {
    /// True when every compared item matched.
    pub matched: bool,
    /// Index of the platform entry compared with (the closest one), if any.
    pub platform_entry: Option<usize>,
    /// Index of the realm entry compared with (the closest one), if any.
    pub realm_entry: Option<usize>,
    /// Items compared with that entry, in order.
    pub checked: Vec<String>,
    /// Items that differ; empty when `matched`.
    pub mismatches: Vec<ReferenceMismatch>,
}

/// Comparison of a token with one store entry.
#[derive(Default)]
struct Outcome {
    checked: Vec<String>,
    mismatches: Vec<ReferenceMismatch>,
}

impl Outcome {
    fn compare(&mut self, item: String, expected: &[u8], found: &[u8]) {
        self.compare_text(item, &hex::encode(expected), &hex::encode(found));
    }

    fn compare_text(&mut self, item: String, expected: &str, found: &str) {
        if expected != found {
            self.mismatches.push(ReferenceMismatch {
                item: item.clone(),
                expected: expected.to_string(),
                found: found.to_string(),
            });
        }
        self.checked.push(item);
    }
}

/// Compare the token's claims with the store.
///
/// Each list of the store is searched for the entry the token meets; when
/// none is met fully, the entry with the fewest mismatches is reported.
/// Software components are matched by type; the token must report exactly
/// the components of the entry.
pub fn compare_reference_values(
    store: &ReferenceValueStore,
    platform: &PlatformClaims,
    realm: &RealmClaims,
) -> ReferenceValueReport {
    let best = |outcomes: Vec<Outcome>| outcomes.into_iter().enumerate().min_by_key(|(_, o)| o.mismatches.len());
    let platform_best = best(store.platform.iter().map(|p| compare_platform(p, platform)).collect());
    let realm_best = best(store.realm.iter().map(|r| compare_realm(r, realm)).collect());
    let mut report = ReferenceValueReport {
        matched: true,
        platform_entry: platform_best.as_ref().map(|(i, _)| *i),
        realm_entry: realm_best.as_ref().map(|(i, _)| *i),
        checked: Vec::new(),
        mismatches: Vec::new(),
    };
    for (_, outcome) in platform_best.into_iter().chain(realm_best) {
        report.checked.extend(outcome.checked);
        report.mismatches.extend(outcome.mismatches);
    }
    report.matched = report.mismatches.is_empty();
    report
}

fn component_name(component_type: Option<&str>, index: usize) -> String {
    match component_type {
        Some(t) => t.to_string(),
        None => format!("#{index}"),
    }
}

fn compare_platform(reference: &PlatformReference, claims: &PlatformClaims) -> Outcome {
    let mut out = Outcome::default();
    out.compare("platform implementation id".into(), &reference.implementation_id, &claims.implementation_id);
    if let Some(config) = &reference.config {
        out.compare("platform config".into(), config, &claims.config);
    }
    let mut used = vec![false; reference.sw_components.len()];
    for (index, component) in claims.sw_components.iter().enumerate() {
        let name = component_name(component.component_type.as_deref(), index);
        // Among unused references of the same type, prefer one with the same measurement.
        let candidates: Vec<usize> = (0..reference.sw_components.len())
            .filter(|&j| {
                !used.get(j).copied().unwrap_or(true)
                    && reference.sw_components.get(j).map(|r| &r.component_type) == Some(&component.component_type)
            })
            .collect();
        let chosen = candidates
            .iter()
            .copied()
            .find(|&j| reference.sw_components.get(j).is_some_and(|r| r.measurement == component.measurement))
            .or_else(|| candidates.first().copied());
        let Some((j, expected)) = chosen.and_then(|j| reference.sw_components.get(j).map(|r| (j, r))) else {
            out.compare_text(format!("platform sw component {name}"), "absent", "present");
            continue;
        };
        if let Some(slot) = used.get_mut(j) {
            *slot = true;
        }
        out.compare(format!("platform sw component {name} measurement"), &expected.measurement, &component.measurement);
        if let Some(signer) = &expected.signer_id {
            out.compare(format!("platform sw component {name} signer id"), signer, &component.signer_id);
        }
    }
    for (j, expected) in reference.sw_components.iter().enumerate() {
        if !used.get(j).copied().unwrap_or(false) {
            let name = component_name(expected.component_type.as_deref(), j);
            out.compare_text(format!("platform sw component {name}"), "present", "absent");
        }
    }
    out
}

fn compare_realm(reference: &RealmReference, claims: &RealmClaims) -> Outcome {
    let mut out = Outcome::default();
    out.compare("realm initial measurement".into(), &reference.rim, &claims.rim);
    if let Some(rems) = &reference.rems {
        for (i, (expected, found)) in rems.iter().zip(claims.rems.iter()).enumerate() {
            out.compare(format!("realm extensible measurement {i}"), expected, found);
        }
    }
    if let Some(pv) = &reference.personalization_value {
        out.compare("realm personalization value".into(), pv, &claims.personalization_value);
    }
    if let Some(alg) = &reference.rak_hash_algorithm {
        out.compare_text("realm public key hash algorithm".into(), alg, &claims.public_key_hash_algo);
    }
    out
}
