//! Attestation and resource policies in Rego, evaluated with `regorus`.
//!
//! **Attestation policy** (appraisal). Input: `{"<tee>": claims}` where
//! `claims` is the JSON of `arca_verifier::Claims` (the same shape trustee
//! gives its policies: `input.snp…`, `input.tdx…`). Data:
//! `data.reference` = `{name: [values]}` (unexpired reference values) and
//! `data.config.allow_sample_tee`. The function `query_reference_value(name)`
//! returns `data.reference[name]` (an array, `[]` when unknown), so trustee
//! policies that call it keep working. Output: `data.policy.trust_claims`,
//! an object of the eight AR4SI claim names (`instance-identity`,
//! `configuration`, `executables`, `file-system`, `hardware`,
//! `runtime-opaque`, `storage-opaque`, `sourced-data`) to integers in
//! -128..=127; absent claims are 0. A policy without `trust_claims` may
//! define the claims as separate rules (`executables`, `file_system`, …).
//! Optional `data.policy.reasons`: strings explaining non-affirming claims.
//!
//! **Resource policy** (authorization). Input: the claims of the EAR token.
//! Data: `{"plugin": "resource", "resource-path": [segments], "query":
//! {…}, "config": {"allow_sample_tee": bool}}` (the first three as trustee
//! passes them; `config` is ours). Output: `data.policy.allow == true`
//! releases; optional `data.policy.deny` (strings, each starting with the
//! failed rule's name and a colon) explains a refusal.
//!
//! Both policies must be `package policy`. A policy is compiled and
//! evaluated once on empty input before it is stored, so syntax errors,
//! unknown functions and a wrong package are rejected at upload.
//!
//! The embedded defaults are `policies/attestation-default.rego` and
//! `policies/resource-default.rego`; their headers document every value.
//!
//! Status from a trust vector ([`TrustVector::status`]) follows AR4SI
//! (draft-ietf-rats-ar4si, "Trustworthiness Tiers"): each claim's tier is
//! none for -1..=1, affirming for 2..=31 and -32..=-2, warning for 32..=95
//! and -96..=-33, contraindicated for 96..=127 and -128..=-97; the status is
//! the worst tier of the eight claims (none < affirming < warning <
//! contraindicated), as EAR's `ear.status` is derived.

use std::sync::Arc;

use regorus::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::storage::{Namespace, Store};
use crate::{Error, Result};

/// The embedded default attestation policy.
pub const DEFAULT_ATTESTATION_POLICY: &str = include_str!("../policies/attestation-default.rego");
/// The embedded default resource policy.
pub const DEFAULT_RESOURCE_POLICY: &str = include_str!("../policies/resource-default.rego");
/// Id of the attestation policy used when none is named.
pub const DEFAULT_POLICY_ID: &str = "default";
/// Store key of the resource policy.
pub const RESOURCE_POLICY_KEY: &str = "resource";
/// Largest policy accepted, in bytes.
pub const MAX_POLICY_SIZE: usize = 1 << 20;

/// The AR4SI claim names, in EAR order.
pub const AR4SI_CLAIMS: [&str; 8] = [
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
];

/// An AR4SI trustworthiness tier, and the EAR status named after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No claim (-1..=1).
    None,
    /// Affirming (2..=31, -32..=-2).
    Affirming,
    /// Warning (32..=95, -96..=-33).
    Warning,
    /// Contraindicated (96..=127, -128..=-97).
    Contraindicated,
}

impl Status {
    /// The tier of one claim value.
    pub fn of(value: i8) -> Status {
        match value {
            -1..=1 => Status::None,
            2..=31 | -32..=-2 => Status::Affirming,
            32..=95 | -96..=-33 => Status::Warning,
            _ => Status::Contraindicated,
        }
    }

    /// The EAR name: `none`, `affirming`, `warning`, `contraindicated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Affirming => "affirming",
            Status::Warning => "warning",
            Status::Contraindicated => "contraindicated",
        }
    }
}

/// The eight AR4SI trustworthiness claims (serialised with EAR's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TrustVector {
    /// `instance-identity`.
    #[serde(default)]
    pub instance_identity: i8,
    /// `configuration`.
    #[serde(default)]
    pub configuration: i8,
    /// `executables`.
    #[serde(default)]
    pub executables: i8,
    /// `file-system`.
    #[serde(default)]
    pub file_system: i8,
    /// `hardware`.
    #[serde(default)]
    pub hardware: i8,
    /// `runtime-opaque`.
    #[serde(default)]
    pub runtime_opaque: i8,
    /// `storage-opaque`.
    #[serde(default)]
    pub storage_opaque: i8,
    /// `sourced-data`.
    #[serde(default)]
    pub sourced_data: i8,
}

impl TrustVector {
    /// The claims in [`AR4SI_CLAIMS`] order.
    pub fn values(&self) -> [i8; 8] {
        [
            self.instance_identity,
            self.configuration,
            self.executables,
            self.file_system,
            self.hardware,
            self.runtime_opaque,
            self.storage_opaque,
            self.sourced_data,
        ]
    }

    /// The EAR status: the worst tier among the claims.
    pub fn status(&self) -> Status {
        self.values().into_iter().map(Status::of).max().unwrap_or(Status::None)
    }
}

/// The result of appraising evidence claims.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Appraisal {
    /// The trust vector the policy produced.
    pub trust_vector: TrustVector,
    /// `trust_vector.status()`.
    pub status: Status,
    /// Id of the attestation policy used.
    pub policy_id: String,
    /// Why claims are not affirming (from `data.policy.reasons`), sorted.
    pub reasons: Vec<String>,
}

/// The result of a resource-policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Release the resource.
    pub allow: bool,
    /// The first failed rule (`affirming`, `sample-tee`, …; `allow` when the
    /// policy gave no reason); empty when allowed.
    pub rule: String,
    /// Every reason the policy gave, joined by `; `; empty when allowed.
    pub reason: String,
}

impl Decision {
    /// `Ok(())` when allowed, else [`Error::PolicyDeny`] naming the failed rule.
    pub fn into_result(self) -> Result<()> {
        if self.allow {
            Ok(())
        } else {
            Err(Error::PolicyDeny { rule: self.rule, detail: self.reason })
        }
    }
}

/// Which policy a Rego text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Attestation,
    Resource,
}

/// Policy storage and evaluation.
#[derive(Clone)]
pub struct PolicyEngine {
    store: Arc<dyn Store>,
    allow_sample_tee: bool,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine").field("allow_sample_tee", &self.allow_sample_tee).finish_non_exhaustive()
    }
}

fn engine_err(id: &str, e: impl std::fmt::Display) -> Error {
    Error::PolicyEngine { id: id.to_string(), detail: e.to_string() }
}

fn to_json(id: &str, v: &regorus::Value) -> Result<Value> {
    let text = v.to_json_str().map_err(|e| engine_err(id, e))?;
    serde_json::from_str(&text).map_err(|e| engine_err(id, e))
}

/// Strings of a Rego set or array, sorted; empty when undefined.
fn strings_of(id: &str, v: &regorus::Value) -> Result<Vec<String>> {
    if *v == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = match to_json(id, v)? {
        Value::Array(items) => {
            items.into_iter().map(|i| i.as_str().map(String::from).unwrap_or_else(|| i.to_string())).collect()
        }
        Value::String(s) => vec![s],
        other => vec![other.to_string()],
    };
    out.sort();
    Ok(out)
}

impl PolicyEngine {
    /// Policies kept in `store`; the sample TEE is not allowed.
    pub fn new(store: Arc<dyn Store>) -> PolicyEngine {
        PolicyEngine { store, allow_sample_tee: false }
    }

    /// Pass `attestation_service.allow_sample_tee` to the policies (`data.config.allow_sample_tee`).
    pub fn with_allow_sample_tee(mut self, allow: bool) -> PolicyEngine {
        self.allow_sample_tee = allow;
        self
    }

    fn config(&self) -> Value {
        json!({ "allow_sample_tee": self.allow_sample_tee })
    }

    /// A regorus engine with `rego` loaded as `id` and `query_reference_value` bound to `reference`.
    fn load(id: &str, rego: &str, reference: &Map<String, Value>) -> Result<Engine> {
        let parse_err = |detail: String| Error::ParsePolicy { id: id.to_string(), detail };
        if rego.len() > MAX_POLICY_SIZE {
            return Err(Error::TooLarge { what: "policy", found: rego.len(), limit: MAX_POLICY_SIZE });
        }
        let mut engine = Engine::new();
        let package =
            engine.add_policy(format!("{id}.rego"), rego.to_string()).map_err(|e| parse_err(e.to_string()))?;
        if package != "data.policy" {
            return Err(parse_err(format!("expected package policy, found {}", package.trim_start_matches("data."))));
        }
        let reference = reference.clone();
        engine
            .add_extension(
                "query_reference_value".to_string(),
                1,
                Box::new(move |params: Vec<regorus::Value>| {
                    let name = params.first().map(|p| p.as_string().map(|s| s.to_string())).transpose()?;
                    let value = name.and_then(|n| reference.get(&n).cloned()).unwrap_or(Value::Array(Vec::new()));
                    Ok(regorus::Value::from(value))
                }),
            )
            .map_err(|e| engine_err(id, e))?;
        Ok(engine)
    }

    fn eval(engine: &mut Engine, id: &str, input: Value, data: Value, rule: &str) -> Result<regorus::Value> {
        engine.set_input(regorus::Value::from(input));
        engine.add_data(regorus::Value::from(data)).map_err(|e| engine_err(id, e))?;
        Self::rule_value(engine, id, rule)
    }

    /// Value of `data.policy.<name>`, `Undefined` when the policy does not define it.
    fn rule_value(engine: &mut Engine, id: &str, name: &str) -> Result<regorus::Value> {
        let results = engine.eval_query(format!("data.policy.{name}"), false).map_err(|e| engine_err(id, e))?;
        Ok(results
            .result
            .into_iter()
            .next()
            .and_then(|r| r.expressions.into_iter().next())
            .map(|e| e.value)
            .unwrap_or(regorus::Value::Undefined))
    }

    /// Read the trust vector from an evaluated attestation policy.
    fn trust_vector(engine: &mut Engine, id: &str) -> Result<TrustVector> {
        let claims = Self::rule_value(engine, id, "trust_claims")?;
        let object = if claims == regorus::Value::Undefined {
            // Claims as separate rules, named with underscores.
            let mut map = Map::new();
            for name in AR4SI_CLAIMS {
                let v = Self::rule_value(engine, id, &name.replace('-', "_"))?;
                if v != regorus::Value::Undefined {
                    map.insert(name.to_string(), to_json(id, &v)?);
                }
            }
            if map.is_empty() {
                return Err(engine_err(id, "expected data.policy.trust_claims or AR4SI claim rules, found neither"));
            }
            Value::Object(map)
        } else {
            to_json(id, &claims)?
        };
        serde_json::from_value(object.clone()).map_err(|e| {
            engine_err(
                id,
                format!("trust_claims: expected AR4SI claim names with integers in -128..=127, found {object}: {e}"),
            )
        })
    }

    fn check(&self, kind: Kind, id: &str, rego: &str) -> Result<()> {
        let as_parse = |e: Error| match e {
            Error::PolicyEngine { id, detail } => Error::ParsePolicy { id, detail },
            other => other,
        };
        let mut engine = Self::load(id, rego, &Map::new())?;
        match kind {
            Kind::Attestation => {
                let data = json!({ "reference": {}, "config": self.config() });
                Self::eval(&mut engine, id, json!({}), data, "reasons").map_err(as_parse)?;
                Self::trust_vector(&mut engine, id).map_err(as_parse)?;
            }
            Kind::Resource => {
                let data = json!({ "plugin": "resource", "resource-path": [], "query": {}, "config": self.config() });
                Self::eval(&mut engine, id, json!({}), data, "allow").map_err(as_parse)?;
                Self::rule_value(&mut engine, id, "deny").map_err(as_parse)?;
            }
        }
        Ok(())
    }

    fn check_id(id: &str) -> Result<()> {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            return Err(Error::invalid_key(id, "policy id: expected 1..=128 of A-Z a-z 0-9 - _ ."));
        }
        Ok(())
    }

    /// Compile-check and store attestation policy `id`.
    pub fn set_attestation_policy(&self, id: &str, rego: &str) -> Result<()> {
        Self::check_id(id)?;
        self.check(Kind::Attestation, id, rego)?;
        self.store.put(Namespace::AttestationPolicy, id, rego.as_bytes())
    }

    /// Attestation policy `id`: the stored one, or the embedded default for `default`.
    pub fn attestation_policy(&self, id: &str) -> Result<String> {
        Self::check_id(id)?;
        match self.store.get(Namespace::AttestationPolicy, id)? {
            Some(bytes) => String::from_utf8(bytes).map_err(|e| engine_err(id, e)),
            None if id == DEFAULT_POLICY_ID => Ok(DEFAULT_ATTESTATION_POLICY.to_string()),
            None => Err(engine_err(id, "no such attestation policy")),
        }
    }

    /// Ids of the stored attestation policies (plus `default`).
    pub fn list_attestation_policies(&self) -> Result<Vec<String>> {
        let mut ids = self.store.list(Namespace::AttestationPolicy)?;
        if !ids.iter().any(|i| i == DEFAULT_POLICY_ID) {
            ids.push(DEFAULT_POLICY_ID.to_string());
            ids.sort();
        }
        Ok(ids)
    }

    /// Compile-check and store the resource policy.
    pub fn set_resource_policy(&self, rego: &str) -> Result<()> {
        self.check(Kind::Resource, RESOURCE_POLICY_KEY, rego)?;
        self.store.put(Namespace::ResourcePolicy, RESOURCE_POLICY_KEY, rego.as_bytes())
    }

    /// The resource policy: the stored one, or the embedded default.
    pub fn resource_policy(&self) -> Result<String> {
        match self.store.get(Namespace::ResourcePolicy, RESOURCE_POLICY_KEY)? {
            Some(bytes) => String::from_utf8(bytes).map_err(|e| engine_err(RESOURCE_POLICY_KEY, e)),
            None => Ok(DEFAULT_RESOURCE_POLICY.to_string()),
        }
    }

    /// Appraise `claims` of `tee` with the `default` attestation policy.
    pub fn appraise(&self, tee: &str, claims: &Value, reference: &Map<String, Value>) -> Result<Appraisal> {
        self.appraise_with(DEFAULT_POLICY_ID, tee, claims, reference)
    }

    /// Appraise `claims` of `tee` with attestation policy `policy_id`.
    pub fn appraise_with(
        &self,
        policy_id: &str,
        tee: &str,
        claims: &Value,
        reference: &Map<String, Value>,
    ) -> Result<Appraisal> {
        let rego = self.attestation_policy(policy_id)?;
        let mut engine = Self::load(policy_id, &rego, reference)?;
        let input = json!({ tee: claims });
        let data = json!({ "reference": reference, "config": self.config() });
        let reasons = Self::eval(&mut engine, policy_id, input, data, "reasons")?;
        let reasons = strings_of(policy_id, &reasons)?;
        let trust_vector = Self::trust_vector(&mut engine, policy_id)?;
        Ok(Appraisal { trust_vector, status: trust_vector.status(), policy_id: policy_id.to_string(), reasons })
    }

    /// Decide whether the holder of a token with `token_claims` gets resource `path`.
    pub fn authorize_resource(
        &self,
        token_claims: &Value,
        path: &[&str],
        query: &Map<String, Value>,
    ) -> Result<Decision> {
        let rego = self.resource_policy()?;
        let id = RESOURCE_POLICY_KEY;
        let mut engine = Self::load(id, &rego, &Map::new())?;
        let data = json!({ "plugin": "resource", "resource-path": path, "query": query, "config": self.config() });
        let allow = Self::eval(&mut engine, id, token_claims.clone(), data, "allow")?;
        if allow == regorus::Value::Bool(true) {
            return Ok(Decision { allow: true, rule: String::new(), reason: String::new() });
        }
        let deny = Self::rule_value(&mut engine, id, "deny")?;
        let reasons = strings_of(id, &deny)?;
        let Some(first) = reasons.first() else {
            let found = if allow == regorus::Value::Undefined {
                "undefined".to_string()
            } else {
                to_json(id, &allow)?.to_string()
            };
            return Ok(Decision {
                allow: false,
                rule: "allow".into(),
                reason: format!("data.policy.allow: expected true, found {found}"),
            });
        };
        let rule = first.split_once(':').map(|(r, _)| r.trim()).unwrap_or("allow").to_string();
        Ok(Decision { allow: false, rule, reason: reasons.join("; ") })
    }
}
