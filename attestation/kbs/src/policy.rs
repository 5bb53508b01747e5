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
//! **Caching.** The KBS evaluates two policies per attestation, and parsing
//! the Rego text was most of an evaluation's cost, so each policy is parsed
//! once into a regorus [`Engine`] that is kept in memory; an evaluation
//! clones that engine (a cheap copy: the parsed modules are shared through
//! `Arc`) and sets its own input and data on the clone. Adding data makes
//! regorus redo its rule analysis on the clone; for attestation policies the
//! data (reference values and config) rarely changes, so the analysed engine
//! for the last data is kept too and reused while the data is equal. The
//! resource policy's data (the resource path and query) differs between
//! resources, but guests ask for the same few again and again, so an
//! analysed engine is kept per distinct data (at most 256). Every evaluation
//! still reads the policy text from the store (one small read) and uses the
//! cached engine only when its text is byte-for-byte the stored text,
//! otherwise it parses the stored text and replaces the cache entry. So a
//! policy changed through another [`PolicyEngine`] over the same store (or
//! another process sharing the directory) takes effect on the next
//! evaluation, and an engine is never used with a text other than the one
//! it was parsed from. The setters put the compiled engine into the cache
//! right after storing.
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

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

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

/// The AR4SI claim names, in EAR order (the protocol crate's list).
pub use arca_kbs_protocol::ear::CLAIM_NAMES as AR4SI_CLAIMS;

/// The AR4SI trustworthiness tier of a claim value, and the EAR status named
/// after it: one definition, shared with the token the KBS issues.
pub use arca_kbs_protocol::ear::Status;

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
        self.values().into_iter().map(Status::of_value).max().unwrap_or(Status::None)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Attestation,
    Resource,
}

/// Most analysed resource-policy engines kept per policy text, one per
/// distinct data (resource path, query). Beyond it the cache is cleared.
const MAX_WARM_RESOURCE: usize = 256;

/// A parsed policy and the text it was parsed from.
struct Prepared {
    text: String,
    /// Policy loaded, no input, no data, no extension.
    engine: Engine,
    /// Attestation policies: the engine with the last data set and analysed.
    warm: RwLock<Option<Arc<Warm>>>,
    /// Resource policy: analysed engines by their data, serialised to JSON
    /// (resource path, query and config).
    warm_resource: RwLock<HashMap<String, Engine>>,
}

impl Prepared {
    fn new(text: &str, engine: Engine) -> Prepared {
        Prepared { text: text.to_string(), engine, warm: RwLock::new(None), warm_resource: RwLock::new(HashMap::new()) }
    }
}

/// An attestation-policy engine with `data` (reference values and config) set,
/// `query_reference_value` bound to the same reference values, and the regorus
/// analysis done: what a clone needs is only the input.
struct Warm {
    data: Value,
    engine: Engine,
}

/// Parsed policies by kind and id; shared by clones of a [`PolicyEngine`].
type Cache = RwLock<HashMap<(Kind, String), Arc<Prepared>>>;

/// Policy storage and evaluation.
///
/// Clones share the store and the cache of parsed policies (see the module
/// documentation, "Caching").
#[derive(Clone)]
pub struct PolicyEngine {
    store: Arc<dyn Store>,
    allow_sample_tee: bool,
    cache: Arc<Cache>,
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
        PolicyEngine { store, allow_sample_tee: false, cache: Arc::default() }
    }

    /// Pass `attestation_service.allow_sample_tee` to the policies (`data.config.allow_sample_tee`).
    pub fn with_allow_sample_tee(mut self, allow: bool) -> PolicyEngine {
        self.allow_sample_tee = allow;
        self
    }

    fn config(&self) -> Value {
        json!({ "allow_sample_tee": self.allow_sample_tee })
    }

    /// A regorus engine with `rego` parsed as `id` (package checked), nothing else set.
    fn parse(id: &str, rego: &str) -> Result<Engine> {
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
        Ok(engine)
    }

    /// Bind `query_reference_value` to `reference` in `engine` (a fresh clone of a parsed policy).
    fn bind_reference(engine: &mut Engine, id: &str, reference: &Map<String, Value>) -> Result<()> {
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
            .map_err(|e| engine_err(id, e))
    }

    /// The parsed engine for policy `id` of `kind` whose text is `text`: from the
    /// cache when the cached text is `text`, else parsed now and cached.
    fn prepared(&self, kind: Kind, id: &str, text: &str) -> Result<Arc<Prepared>> {
        let key = (kind, id.to_string());
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(p) = cache.get(&key).filter(|p| p.text == text) {
                return Ok(Arc::clone(p));
            }
        }
        let prepared = Arc::new(Prepared::new(text, Self::parse(id, text)?));
        self.remember(key, Arc::clone(&prepared));
        Ok(prepared)
    }

    /// A clone of `prepared`'s engine with `data` set and analysed, needing only
    /// input. Reference values change rarely, so the analysed engine for the last
    /// `data` is kept and reused while `data` is equal; otherwise it is built now.
    fn warm(prepared: &Prepared, id: &str, data: Value, reference: &Map<String, Value>) -> Result<Engine> {
        {
            let warm = prepared.warm.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = warm.as_ref().filter(|w| w.data == data) {
                return Ok(w.engine.clone());
            }
        }
        let mut engine = prepared.engine.clone();
        Self::bind_reference(&mut engine, id, reference)?;
        engine.add_data(regorus::Value::from(data.clone())).map_err(|e| engine_err(id, e))?;
        // Any query runs the analysis; this one evaluates no rule, so no input is needed.
        engine.eval_query("true".to_string(), false).map_err(|e| engine_err(id, e))?;
        let warm = Arc::new(Warm { data, engine: engine.clone() });
        *prepared.warm.write().unwrap_or_else(PoisonError::into_inner) = Some(warm);
        Ok(engine)
    }

    /// A clone of the resource policy's engine with `data` set and analysed,
    /// needing only input. Guests ask for the same few resources over and
    /// over, so the analysed engine is kept per distinct `data` (at most
    /// [`MAX_WARM_RESOURCE`]); the analysis was most of an authorization's
    /// cost. The input (token claims) is set on the clone, never cached.
    fn warm_resource(prepared: &Prepared, id: &str, data: Value) -> Result<Engine> {
        let key = data.to_string();
        {
            let warm = prepared.warm_resource.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(engine) = warm.get(&key) {
                return Ok(engine.clone());
            }
        }
        let mut engine = prepared.engine.clone();
        // Resource policies may call it too; it answers `[]` there, as at upload.
        Self::bind_reference(&mut engine, id, &Map::new())?;
        engine.add_data(regorus::Value::from(data)).map_err(|e| engine_err(id, e))?;
        // Any query runs the analysis; this one evaluates no rule, so no input is needed.
        engine.eval_query("true".to_string(), false).map_err(|e| engine_err(id, e))?;
        let mut warm = prepared.warm_resource.write().unwrap_or_else(PoisonError::into_inner);
        if warm.len() >= MAX_WARM_RESOURCE {
            warm.clear();
        }
        warm.insert(key, engine.clone());
        Ok(engine)
    }

    fn remember(&self, key: (Kind, String), prepared: Arc<Prepared>) {
        // A poisoned lock only means a panic elsewhere while holding it; the map
        // itself is always whole (entries are replaced, never edited).
        self.cache.write().unwrap_or_else(PoisonError::into_inner).insert(key, prepared);
    }

    fn eval(engine: &mut Engine, id: &str, input: Value, data: Value, rule: &str) -> Result<regorus::Value> {
        engine.set_input(regorus::Value::from(input));
        engine.add_data(regorus::Value::from(data)).map_err(|e| engine_err(id, e))?;
        Self::rule_value(engine, id, rule)
    }

    /// Value of `data.policy.<name>`, `Undefined` when the policy does not define it.
    ///
    /// Evaluated as a rule path first (no query to parse and schedule, a
    /// noticeable share of a policy evaluation); regorus refuses that for a
    /// rule the policy does not declare, and then the same path is run as a
    /// query, which yields `Undefined` for it (or the real error).
    fn rule_value(engine: &mut Engine, id: &str, name: &str) -> Result<regorus::Value> {
        let path = format!("data.policy.{name}");
        if let Ok(value) = engine.eval_rule(path.clone()) {
            return Ok(value);
        }
        let results = engine.eval_query(path, false).map_err(|e| engine_err(id, e))?;
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

    /// Parse `rego` and evaluate it once on empty input; the parsed engine (before evaluation) on success.
    fn check(&self, kind: Kind, id: &str, rego: &str) -> Result<Engine> {
        let as_parse = |e: Error| match e {
            Error::PolicyEngine { id, detail } => Error::ParsePolicy { id, detail },
            other => other,
        };
        let parsed = Self::parse(id, rego)?;
        let mut engine = parsed.clone();
        match kind {
            Kind::Attestation => {
                Self::bind_reference(&mut engine, id, &Map::new())?;
                let data = json!({ "reference": {}, "config": self.config() });
                Self::eval(&mut engine, id, json!({}), data, "reasons").map_err(as_parse)?;
                Self::trust_vector(&mut engine, id).map_err(as_parse)?;
            }
            Kind::Resource => {
                Self::bind_reference(&mut engine, id, &Map::new())?;
                let data = json!({ "plugin": "resource", "resource-path": [], "query": {}, "config": self.config() });
                Self::eval(&mut engine, id, json!({}), data, "allow").map_err(as_parse)?;
                Self::rule_value(&mut engine, id, "deny").map_err(as_parse)?;
            }
        }
        Ok(parsed)
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
        let engine = self.check(Kind::Attestation, id, rego)?;
        self.store.put(Namespace::AttestationPolicy, id, rego.as_bytes())?;
        self.remember((Kind::Attestation, id.to_string()), Arc::new(Prepared::new(rego, engine)));
        Ok(())
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
        let engine = self.check(Kind::Resource, RESOURCE_POLICY_KEY, rego)?;
        self.store.put(Namespace::ResourcePolicy, RESOURCE_POLICY_KEY, rego.as_bytes())?;
        let prepared = Arc::new(Prepared::new(rego, engine));
        self.remember((Kind::Resource, RESOURCE_POLICY_KEY.to_string()), prepared);
        Ok(())
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
        let prepared = self.prepared(Kind::Attestation, policy_id, &rego)?;
        let data = json!({ "reference": reference, "config": self.config() });
        let mut engine = Self::warm(&prepared, policy_id, data, reference)?;
        engine.set_input(regorus::Value::from(json!({ tee: claims })));
        let reasons = Self::rule_value(&mut engine, policy_id, "reasons")?;
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
        let prepared = self.prepared(Kind::Resource, id, &rego)?;
        let data = json!({ "plugin": "resource", "resource-path": path, "query": query, "config": self.config() });
        let mut engine = Self::warm_resource(&prepared, id, data)?;
        engine.set_input(regorus::Value::from(token_claims.clone()));
        let allow = Self::rule_value(&mut engine, id, "allow")?;
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
