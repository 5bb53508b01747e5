//! Claims of the EAR attestation token (IETF RATS "EAT Attestation
//! Result") the KBS issues after appraising evidence.
//!
//! The layout follows trustee's tokens so that existing clients and
//! policies read them unchanged: `submods` keyed `cpu0` (the primary TEE),
//! each with a status, an AR4SI trustworthiness vector, the appraisal
//! policy id and the annotated evidence (the verifier's claims under the
//! TEE name, plus init-data and runtime-data claims).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::messages::TeePubKey;
use crate::{Error, Result};

/// `eat_profile` of the tokens (the profile trustee uses).
pub const EAT_PROFILE: &str = "tag:github.com,2024:confidential-containers/Trustee";
/// Default `iss`.
pub const DEFAULT_ISSUER: &str = "CoCo-Attestation-Service";
/// The submod of the primary TEE.
pub const CPU_SUBMOD: &str = "cpu0";
/// JSON pointer to the TEE public key inside token claims.
pub const TEE_PUBKEY_POINTER: &str = "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey";

/// The eight AR4SI trustworthiness claim names, in vector order.
pub const CLAIM_NAMES: [&str; 8] = [
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
];

/// An AR4SI trustworthiness vector: one signed claim value per aspect
/// (0 = no claim). Values 2..=31 affirm, 32..=95 warn, 96..=127
/// contraindicate (and their negatives, for implementation-specific codes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrustVector {
    /// Whether the instance is the one it claims to be.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub instance_identity: i8,
    /// Configuration state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub configuration: i8,
    /// Loaded executables (measurements).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub executables: i8,
    /// File system.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub file_system: i8,
    /// Hardware (genuine TEE, TCB level).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hardware: i8,
    /// Whether runtime memory is opaque to outsiders.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub runtime_opaque: i8,
    /// Whether storage is opaque to outsiders.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub storage_opaque: i8,
    /// Data sourced from other entities.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sourced_data: i8,
}

fn is_zero(v: &i8) -> bool {
    *v == 0
}

impl TrustVector {
    /// The value of the claim `name` (one of [`CLAIM_NAMES`]).
    pub fn get(&self, name: &str) -> Option<i8> {
        Some(*self.field(name)?)
    }

    fn field(&self, name: &str) -> Option<&i8> {
        Some(match name {
            "instance-identity" => &self.instance_identity,
            "configuration" => &self.configuration,
            "executables" => &self.executables,
            "file-system" => &self.file_system,
            "hardware" => &self.hardware,
            "runtime-opaque" => &self.runtime_opaque,
            "storage-opaque" => &self.storage_opaque,
            "sourced-data" => &self.sourced_data,
            _ => return None,
        })
    }

    /// Set the claim `name`; fails for a name not in [`CLAIM_NAMES`].
    pub fn set(&mut self, name: &str, value: i8) -> Result<()> {
        let slot = match name {
            "instance-identity" => &mut self.instance_identity,
            "configuration" => &mut self.configuration,
            "executables" => &mut self.executables,
            "file-system" => &mut self.file_system,
            "hardware" => &mut self.hardware,
            "runtime-opaque" => &mut self.runtime_opaque,
            "storage-opaque" => &mut self.storage_opaque,
            "sourced-data" => &mut self.sourced_data,
            other => {
                return Err(Error::Unsupported {
                    what: "AR4SI claim",
                    expected: "one of the eight AR4SI claim names",
                    found: other.chars().take(64).collect(),
                })
            }
        };
        *slot = value;
        Ok(())
    }

    /// A vector from a policy's `trust_claims` object (claim name → integer
    /// in -128..=127). Unknown names and out-of-range values are errors.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self> {
        let mut v = TrustVector::default();
        for (name, value) in claims {
            let n = value.as_i64().and_then(|n| i8::try_from(n).ok()).ok_or_else(|| {
                Error::malformed("trust claims", format!("`{}` must be an integer in -128..=127", name))
            })?;
            v.set(name, n)?;
        }
        Ok(v)
    }

    /// The (name, value) pairs in [`CLAIM_NAMES`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, i8)> + '_ {
        CLAIM_NAMES.into_iter().map(|n| (n, self.get(n).unwrap_or_default()))
    }
}

/// An appraisal status (AR4SI trust tier), ordered from best to worst
/// after [`Status::None`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No claim was made.
    None,
    /// The evidence supports trust.
    Affirming,
    /// Trust is doubtful.
    Warning,
    /// The evidence shows the TEE must not be trusted.
    Contraindicated,
}

impl Status {
    /// The tier of a single claim value: -1..=1 none, ±2..=±31 (−32 included)
    /// affirming, 32..=95 and −33..=−96 warning, 96..=127 and −97..=−128
    /// contraindicated.
    pub fn of_value(v: i8) -> Status {
        match v {
            -1..=1 => Status::None,
            2..=31 | -32..=-2 => Status::Affirming,
            32..=95 | -96..=-33 => Status::Warning,
            _ => Status::Contraindicated,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Affirming => "affirming",
            Status::Warning => "warning",
            Status::Contraindicated => "contraindicated",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a whole vector: the worst tier among its claims
/// (`none` when no claim is made).
pub fn status_of(vector: &TrustVector) -> Status {
    vector.iter().map(|(_, v)| Status::of_value(v)).max().unwrap_or(Status::None)
}

/// `ear.verifier-id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierId {
    /// Who built the verifier.
    pub developer: String,
    /// Which build.
    pub build: String,
}

/// The appraisal of one TEE or device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submod {
    /// Status derived from the trust vector.
    #[serde(rename = "ear.status")]
    pub status: Status,
    /// The AR4SI vector the policy produced.
    #[serde(rename = "ear.trustworthiness-vector", default)]
    pub trust_vector: TrustVector,
    /// Id of the attestation policy that appraised the evidence.
    #[serde(rename = "ear.appraisal-policy-id", default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The annotated evidence (see [`AnnotatedEvidence`]).
    #[serde(rename = "ear.veraison.annotated-evidence", default)]
    pub annotated_evidence: Map<String, Value>,
    /// Further members (extensions such as `ear.trustee.identifiers`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Submod {
    /// A submod whose status is derived from `trust_vector`.
    pub fn new(trust_vector: TrustVector, policy_id: Option<String>, evidence: &AnnotatedEvidence) -> Self {
        Submod {
            status: status_of(&trust_vector),
            trust_vector,
            policy_id,
            annotated_evidence: evidence.to_map(),
            extra: Map::new(),
        }
    }
}

/// What `ear.veraison.annotated-evidence` holds for one TEE.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnnotatedEvidence {
    /// The TEE name (`snp`, `tdx`…), the key the claims are stored under.
    pub tee: String,
    /// The verifier's claims.
    pub claims: Value,
    /// Hex digest of the init-data, when there was init-data.
    pub init_data: Option<String>,
    /// Hex of the expected report data (the runtime-data digest).
    pub report_data: Option<String>,
    /// The init-data `[data]` entries.
    pub init_data_claims: Value,
    /// The structured runtime data (`nonce`, `tee-pubkey`…).
    pub runtime_data_claims: Value,
}

impl AnnotatedEvidence {
    /// The JSON object stored in the token.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(self.tee.clone(), self.claims.clone());
        if let Some(d) = &self.init_data {
            m.insert("init_data".into(), Value::from(d.as_str()));
        }
        if let Some(d) = &self.report_data {
            m.insert("report_data".into(), Value::from(d.as_str()));
        }
        m.insert("init_data_claims".into(), self.init_data_claims.clone());
        m.insert("runtime_data_claims".into(), self.runtime_data_claims.clone());
        m
    }
}

/// The claims of an EAR token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarToken {
    /// Always [`EAT_PROFILE`] for tokens issued here.
    pub eat_profile: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// The verifier that produced the result.
    #[serde(rename = "ear.verifier-id")]
    pub verifier_id: VerifierId,
    /// Appraisals keyed by submod (`cpu0`, `gpu0`…).
    pub submods: BTreeMap<String, Submod>,
    /// Further members.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EarToken {
    /// Claims from a verified token's claims JSON.
    pub fn from_value(claims: &Value) -> Result<Self> {
        EarToken::deserialize(claims).map_err(|e| Error::malformed("EAR token claims", e.to_string()))
    }

    /// The claims as JSON, ready for [`jws::sign`](crate::jws::sign).
    pub fn to_value(&self) -> Value {
        serde_json::json!(self)
    }

    /// Whether every submod is `affirming` (and there is at least one).
    pub fn all_affirming(&self) -> bool {
        !self.submods.is_empty() && self.submods.values().all(|s| s.status == Status::Affirming)
    }
}

/// The TEE public key in token claims, at [`TEE_PUBKEY_POINTER`].
pub fn tee_pubkey_of(claims: &Value) -> Option<TeePubKey> {
    serde_json::from_value(claims.pointer(TEE_PUBKEY_POINTER)?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tiers_and_status() {
        assert_eq!(Status::of_value(0), Status::None);
        assert_eq!(Status::of_value(1), Status::None);
        assert_eq!(Status::of_value(-1), Status::None);
        assert_eq!(Status::of_value(2), Status::Affirming);
        assert_eq!(Status::of_value(31), Status::Affirming);
        assert_eq!(Status::of_value(32), Status::Warning);
        assert_eq!(Status::of_value(95), Status::Warning);
        assert_eq!(Status::of_value(96), Status::Contraindicated);
        assert_eq!(Status::of_value(-128), Status::Contraindicated);
        assert_eq!(Status::of_value(-33), Status::Warning);
        let mut v = TrustVector::default();
        assert_eq!(status_of(&v), Status::None);
        v.set("hardware", 2).unwrap();
        v.set("executables", 3).unwrap();
        assert_eq!(status_of(&v), Status::Affirming);
        v.set("configuration", 36).unwrap();
        assert_eq!(status_of(&v), Status::Warning);
        v.set("hardware", 97).unwrap();
        assert_eq!(status_of(&v), Status::Contraindicated);
        assert!(v.set("bogus", 1).is_err());
    }

    #[test]
    fn trust_vector_from_policy_output() {
        let claims = json!({"executables": 33, "hardware": 97, "configuration": 36});
        let v = TrustVector::from_claims(claims.as_object().unwrap()).unwrap();
        assert_eq!((v.executables, v.hardware, v.configuration, v.file_system), (33, 97, 36, 0));
        assert_eq!(serde_json::to_value(v).unwrap(), claims);
        assert!(TrustVector::from_claims(json!({"hardware": 300}).as_object().unwrap()).is_err());
        assert!(TrustVector::from_claims(json!({"hardwar": 2}).as_object().unwrap()).is_err());
    }

    #[test]
    fn token_shape_and_tee_pubkey() {
        let key = TeePubKey::Ec { crv: "P-256".into(), alg: "ECDH-ES+A256KW".into(), x: "AA".into(), y: "AQ".into() };
        let evidence = AnnotatedEvidence {
            tee: "snp".into(),
            claims: json!({"measurement": "ab"}),
            init_data: None,
            report_data: Some("00".into()),
            init_data_claims: json!({}),
            runtime_data_claims: json!({"nonce": "n", "tee-pubkey": key}),
        };
        let mut tv = TrustVector::default();
        tv.set("executables", 2).unwrap();
        tv.set("hardware", 2).unwrap();
        let token = EarToken {
            eat_profile: EAT_PROFILE.into(),
            iat: 1,
            exp: 301,
            iss: DEFAULT_ISSUER.into(),
            verifier_id: VerifierId { developer: "arca".into(), build: "0.1.0".into() },
            submods: [(CPU_SUBMOD.to_string(), Submod::new(tv, Some("default".into()), &evidence))].into(),
            extra: Map::new(),
        };
        let v = token.to_value();
        assert_eq!(v["submods"]["cpu0"]["ear.status"], "affirming");
        assert_eq!(v["submods"]["cpu0"]["ear.trustworthiness-vector"], json!({"executables": 2, "hardware": 2}));
        assert_eq!(v["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["snp"]["measurement"], "ab");
        assert_eq!(v["ear.verifier-id"]["developer"], "arca");
        assert_eq!(tee_pubkey_of(&v), Some(key));
        assert_eq!(EarToken::from_value(&v).unwrap(), token);
        assert!(token.all_affirming());
        assert_eq!(tee_pubkey_of(&json!({"submods": {}})), None);
    }
}
