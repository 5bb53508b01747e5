//! Reference values: what the operator expects measurements to be.
//!
//! A reference value is a named list of acceptable values with an expiry
//! time; policies read them as `data.reference.<name>` (a JSON array) or
//! through `query_reference_value("<name>")`. Values are ingested from
//! messages shaped like trustee's RVPS messages,
//! `{"version": "0.1.0", "type": <extractor>, "payload": <string>}`, with
//! two extractors:
//! - `sample`: the payload is base64 (standard alphabet) of a JSON object
//!   `{name: [values]}` (trustee's sample extractor);
//! - `arca`: the payload is a JSON object `{name: value | [values]}` (as
//!   text, or base64 of that text), e.g. the measurements `arca` computes
//!   for an image. An optional top-level `"expiration"` (RFC 3339) sets the
//!   expiry of every value in the message.
//!
//! Ingesting a name replaces its previous values. Without an explicit
//! expiry, values expire 12 months after ingestion. Expired values are
//! ignored by [`ReferenceValues::get`] and [`ReferenceValues::all`].

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::storage::{Namespace, Store};
use crate::{Error, Result};

/// The only message version understood.
pub const MESSAGE_VERSION: &str = "0.1.0";
/// Version written into stored reference values.
pub const REFERENCE_VALUE_VERSION: &str = "0.1.0";
/// Largest payload accepted, in bytes (after base64 decoding).
pub const MAX_PAYLOAD_SIZE: usize = 1 << 20;
/// Longest reference-value name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Default lifetime of an ingested value.
pub const DEFAULT_LIFETIME: Duration = Duration::days(365);

/// A stored reference value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceValue {
    /// Format version ([`REFERENCE_VALUE_VERSION`]).
    pub version: String,
    /// Name, e.g. `snp_launch_measurement`.
    pub name: String,
    /// When the value stops being used (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    /// The acceptable values (a JSON array).
    pub value: Value,
}

impl ReferenceValue {
    /// The acceptable values as a list (a non-array value is a list of one).
    pub fn values(&self) -> Vec<Value> {
        match &self.value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        }
    }

    /// Whether the value has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expiration <= now
    }
}

/// A message that registers reference values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RvpsMessage {
    /// Message version, `0.1.0`.
    pub version: String,
    /// The extractor: `sample` or `arca`.
    #[serde(rename = "type")]
    pub r#type: String,
    /// Extractor-specific payload.
    pub payload: String,
}

/// The reference-value store.
#[derive(Clone)]
pub struct ReferenceValues {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for ReferenceValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceValues").finish_non_exhaustive()
    }
}

fn rvps_err(detail: impl Into<String>) -> Error {
    Error::Rvps { detail: detail.into() }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(rvps_err(format!(
            "reference value name {:?}: expected 1..={MAX_NAME_LEN} bytes without control characters",
            name.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

fn decode_base64(payload: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| rvps_err(format!("payload: expected base64 (standard alphabet), found invalid data: {e}")))
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(rvps_err(format!("payload: expected a JSON object, found {}", json_kind(&other)))),
        Err(e) => Err(rvps_err(format!("payload: expected JSON, found invalid JSON: {e}"))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl ReferenceValues {
    /// Reference values kept in `store` (namespace [`Namespace::ReferenceValues`]).
    pub fn new(store: Arc<dyn Store>) -> ReferenceValues {
        ReferenceValues { store }
    }

    /// Ingest a message now; returns the names registered.
    pub fn ingest(&self, message: &RvpsMessage) -> Result<Vec<String>> {
        self.ingest_at(message, OffsetDateTime::now_utc())
    }

    /// Ingest a message as if at time `now` (default expiry is `now` + 12 months).
    pub fn ingest_at(&self, message: &RvpsMessage, now: OffsetDateTime) -> Result<Vec<String>> {
        if message.version != MESSAGE_VERSION {
            return Err(rvps_err(format!("message version: expected {MESSAGE_VERSION}, found {:?}", message.version)));
        }
        if message.payload.len() > MAX_PAYLOAD_SIZE * 4 / 3 + 4 {
            return Err(Error::TooLarge {
                what: "reference-value payload",
                found: message.payload.len(),
                limit: MAX_PAYLOAD_SIZE,
            });
        }
        let default_expiry = now + DEFAULT_LIFETIME;
        let values = match message.r#type.as_str() {
            "sample" => {
                let map = parse_object(&decode_base64(&message.payload)?)?;
                let mut out = Vec::with_capacity(map.len());
                for (name, value) in map {
                    if !value.is_array() {
                        return Err(rvps_err(format!(
                            "sample payload {name:?}: expected an array of values, found {}",
                            json_kind(&value)
                        )));
                    }
                    out.push((name, value, default_expiry));
                }
                out
            }
            "arca" => {
                let text = message.payload.trim_start();
                let bytes = if text.starts_with('{') { text.as_bytes().to_vec() } else { decode_base64(text)? };
                let mut map = parse_object(&bytes)?;
                let expiry = match map.remove("expiration") {
                    None => default_expiry,
                    Some(Value::String(s)) => OffsetDateTime::parse(&s, &Rfc3339)
                        .map_err(|e| rvps_err(format!("expiration: expected an RFC 3339 time, found {s:?}: {e}")))?,
                    Some(other) => {
                        return Err(rvps_err(format!(
                            "expiration: expected an RFC 3339 string, found {}",
                            json_kind(&other)
                        )))
                    }
                };
                map.into_iter()
                    .map(|(name, value)| {
                        let list = match value {
                            Value::Array(items) => Value::Array(items),
                            scalar => Value::Array(vec![scalar]),
                        };
                        (name, list, expiry)
                    })
                    .collect()
            }
            other => {
                return Err(rvps_err(format!("extractor: expected \"sample\" or \"arca\", found {other:?}")));
            }
        };
        if values.is_empty() {
            return Err(rvps_err("payload: expected at least one reference value, found none"));
        }
        for (name, _, _) in &values {
            check_name(name)?;
        }
        let mut names = Vec::with_capacity(values.len());
        for (name, value, expiration) in values {
            self.register(&ReferenceValue {
                version: REFERENCE_VALUE_VERSION.to_string(),
                name: name.clone(),
                expiration,
                value,
            })?;
            names.push(name);
        }
        Ok(names)
    }

    /// Store one reference value, replacing any with the same name.
    pub fn register(&self, rv: &ReferenceValue) -> Result<()> {
        check_name(&rv.name)?;
        let bytes = serde_json::to_vec(rv)
            .map_err(|e| Error::Serde { what: "reference value".into(), detail: e.to_string() })?;
        self.store.put(Namespace::ReferenceValues, &rv.name, &bytes)
    }

    /// The stored reference value `name`, expired or not.
    pub fn get_raw(&self, name: &str) -> Result<Option<ReferenceValue>> {
        check_name(name)?;
        match self.store.get(Namespace::ReferenceValues, name)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Serde { what: format!("stored reference value {name:?}"), detail: e.to_string() }),
        }
    }

    /// The acceptable values of `name` now; empty when unknown or expired.
    pub fn get(&self, name: &str) -> Result<Vec<Value>> {
        self.get_at(name, OffsetDateTime::now_utc())
    }

    /// The acceptable values of `name` at time `now`.
    pub fn get_at(&self, name: &str, now: OffsetDateTime) -> Result<Vec<Value>> {
        Ok(self.get_raw(name)?.filter(|rv| !rv.is_expired(now)).map(|rv| rv.values()).unwrap_or_default())
    }

    /// Every unexpired reference value now, as `{name: [values]}` (Rego `data.reference`).
    pub fn all(&self) -> Result<Map<String, Value>> {
        self.all_at(OffsetDateTime::now_utc())
    }

    /// Every reference value unexpired at `now`, as `{name: [values]}`.
    pub fn all_at(&self, now: OffsetDateTime) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for name in self.store.list(Namespace::ReferenceValues)? {
            if let Some(rv) = self.get_raw(&name)? {
                if !rv.is_expired(now) {
                    out.insert(name, Value::Array(rv.values()));
                }
            }
        }
        Ok(out)
    }

    /// Remove reference value `name`; `true` when it existed.
    pub fn delete(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        self.store.delete(Namespace::ReferenceValues, name)
    }
}
