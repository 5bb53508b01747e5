//! Claims of the two CCA tokens, decoded from their COSE payloads.
//!
//! Claim keys and types follow the Arm CCA attestation token draft
//! (draft-ffm-rats-cca-token, "CCA Platform Claims" and "Realm Claims") and
//! the RMM specification ("Realm claims"). Unknown claims are
//! ignored; a claim that appears twice is an error.

use ciborium::Value;

use super::cose::type_name;
use crate::{Error, Result};

/// Claim keys of the platform token.
mod platform_key {
    pub const PROFILE: i128 = 265;
    pub const CHALLENGE: i128 = 10;
    pub const IMPLEMENTATION_ID: i128 = 2396;
    pub const INSTANCE_ID: i128 = 256;
    pub const CONFIG: i128 = 2401;
    pub const LIFECYCLE: i128 = 2395;
    pub const HASH_ALGO: i128 = 2402;
    pub const VERIFICATION_SERVICE: i128 = 2400;
    pub const SW_COMPONENTS: i128 = 2399;
}

/// Keys inside one software component map.
mod component_key {
    pub const TYPE: i128 = 1;
    pub const MEASUREMENT: i128 = 2;
    pub const VERSION: i128 = 4;
    pub const SIGNER_ID: i128 = 5;
    pub const HASH_ALGO: i128 = 6;
}

/// Claim keys of the realm token.
mod realm_key {
    pub const PROFILE: i128 = 265;
    pub const CHALLENGE: i128 = 10;
    pub const PERSONALIZATION_VALUE: i128 = 44235;
    pub const HASH_ALGO: i128 = 44236;
    pub const PUBLIC_KEY: i128 = 44237;
    pub const RIM: i128 = 44238;
    pub const REMS: i128 = 44239;
    pub const PUBLIC_KEY_HASH_ALGO: i128 = 44240;
}

/// Most software components accepted in a platform token.
const MAX_SW_COMPONENTS: usize = 64;
/// Longest text claim accepted.
const MAX_TEXT: usize = 1024;
/// Longest byte-string claim accepted (keys, measurements, ids).
const MAX_BYTES: usize = 1024;
/// Digest sizes a challenge or measurement may have (SHA-256, SHA-384, SHA-512).
const DIGEST_SIZES: &[usize] = &[32, 48, 64];
/// Number of realm extensible measurements (RMM: REM0..REM3).
pub const REM_COUNT: usize = 4;

/// Claims of the CCA platform token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformClaims {
    /// Profile (265), e.g. `http://arm.com/CCA-SSD/1.0.0`.
    pub profile: String,
    /// Challenge (10): the hash of the realm attestation key.
    pub challenge: Vec<u8>,
    /// Implementation id (2396).
    pub implementation_id: Vec<u8>,
    /// Instance id (256): UEID of the platform's CPAK.
    pub instance_id: Vec<u8>,
    /// Platform configuration (2401).
    pub config: Vec<u8>,
    /// Security lifecycle state (2395).
    pub lifecycle: u16,
    /// Hash algorithm of the platform measurements (2402).
    pub hash_algo: String,
    /// Verification service indicator (2400), when present.
    pub verification_service: Option<String>,
    /// Software components (2399).
    pub sw_components: Vec<SwComponent>,
}

/// One measured platform software component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwComponent {
    /// Component type (1), e.g. `RMM`.
    pub component_type: Option<String>,
    /// Measurement value (2).
    pub measurement: Vec<u8>,
    /// Version (4).
    pub version: Option<String>,
    /// Signer id (5): hash of the key that signed the component.
    pub signer_id: Vec<u8>,
    /// Hash algorithm of the measurement (6).
    pub hash_algo: Option<String>,
}

/// Claims of the CCA realm token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmClaims {
    /// Challenge (10): 64 bytes chosen by the relying party (report data).
    pub challenge: Vec<u8>,
    /// Personalization value (44235): 64 bytes given at realm creation (init data).
    pub personalization_value: Vec<u8>,
    /// Realm initial measurement (44238).
    pub rim: Vec<u8>,
    /// Realm extensible measurements (44239), REM0..REM3.
    pub rems: [Vec<u8>; REM_COUNT],
    /// Hash algorithm of RIM and REMs (44236).
    pub hash_algo: String,
    /// Realm attestation public key (44237), as encoded in the token.
    pub public_key: Vec<u8>,
    /// Hash algorithm of the RAK binding (44240).
    pub public_key_hash_algo: String,
    /// Profile (265), when present.
    pub profile: Option<String>,
}

/// A CBOR claims map with integer keys, checked for duplicates.
struct ClaimMap {
    what: &'static str,
    entries: Vec<(i128, Value)>,
}

impl ClaimMap {
    fn new(what: &'static str, value: Value) -> Result<Self> {
        let Value::Map(pairs) = value else {
            return Err(Error::field(what, "claims", format!("expected a map, found {}", type_name(&value))));
        };
        let mut entries: Vec<(i128, Value)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            // Text-keyed claims are not defined for CCA tokens; skip them.
            let Some(key) = key.as_integer().map(i128::from) else { continue };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(Error::field(what, format!("claim {key}"), "appears twice"));
            }
            entries.push((key, value));
        }
        Ok(ClaimMap { what, entries })
    }

    fn take(&mut self, key: i128) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(index).1)
    }

    fn required(&mut self, key: i128, name: &str) -> Result<Value> {
        self.take(key).ok_or_else(|| Error::field(self.what, format!("{name} ({key})"), "missing"))
    }

    fn bytes(&mut self, key: i128, name: &str, sizes: Option<&[usize]>) -> Result<Vec<u8>> {
        let value = self.required(key, name)?;
        as_bytes(self.what, key, name, value, sizes)
    }

    fn text(&mut self, key: i128, name: &str) -> Result<String> {
        let value = self.required(key, name)?;
        as_text(self.what, key, name, value)
    }

    fn optional_text(&mut self, key: i128, name: &str) -> Result<Option<String>> {
        self.take(key).map(|v| as_text(self.what, key, name, v)).transpose()
    }
}

fn as_bytes(what: &'static str, key: i128, name: &str, value: Value, sizes: Option<&[usize]>) -> Result<Vec<u8>> {
    let Value::Bytes(bytes) = value else {
        return Err(Error::field(
            what,
            format!("{name} ({key})"),
            format!("expected bytes, found {}", type_name(&value)),
        ));
    };
    let size_ok = match sizes {
        Some(sizes) => sizes.contains(&bytes.len()),
        None => !bytes.is_empty() && bytes.len() <= MAX_BYTES,
    };
    if !size_ok {
        let expected = match sizes {
            Some(sizes) => format!("{sizes:?} bytes"),
            None => format!("1..={MAX_BYTES} bytes"),
        };
        return Err(Error::field(
            what,
            format!("{name} ({key})"),
            format!("expected {expected}, found {}", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn as_text(what: &'static str, key: i128, name: &str, value: Value) -> Result<String> {
    let Value::Text(text) = value else {
        return Err(Error::field(
            what,
            format!("{name} ({key})"),
            format!("expected text, found {}", type_name(&value)),
        ));
    };
    if text.len() > MAX_TEXT {
        return Err(Error::field(what, format!("{name} ({key})"), format!("longer than {MAX_TEXT} bytes")));
    }
    Ok(text)
}

/// Decode the platform token payload (CCA token draft, "CCA Platform Claims").
pub(crate) fn parse_platform_claims(payload: &[u8]) -> Result<PlatformClaims> {
    use platform_key as k;
    const WHAT: &str = "CCA platform token";
    let mut map = ClaimMap::new(WHAT, super::cose::decode_cbor(WHAT, "payload", payload)?)?;
    let profile = map.text(k::PROFILE, "profile")?;
    let challenge = map.bytes(k::CHALLENGE, "challenge", Some(DIGEST_SIZES))?;
    let implementation_id = map.bytes(k::IMPLEMENTATION_ID, "implementation id", None)?;
    // UEID: type byte 0x01 (RAND) followed by 32 bytes (RFC 9711 UEID; CCA token draft).
    let instance_id = map.bytes(k::INSTANCE_ID, "instance id", Some(&[33]))?;
    if instance_id.first() != Some(&0x01) {
        return Err(Error::field(WHAT, "instance id (256)", "expected a UEID of type 0x01 (RAND)"));
    }
    let config = map.bytes(k::CONFIG, "config", None)?;
    let lifecycle = match map.required(k::LIFECYCLE, "lifecycle")? {
        Value::Integer(i) => u16::try_from(i).map_err(|_| {
            Error::field(WHAT, "lifecycle (2395)", format!("expected 0..=0xffff, found {}", i128::from(i)))
        })?,
        other => {
            return Err(Error::field(
                WHAT,
                "lifecycle (2395)",
                format!("expected an integer, found {}", type_name(&other)),
            ))
        }
    };
    let hash_algo = map.text(k::HASH_ALGO, "hash algorithm")?;
    let verification_service = map.optional_text(k::VERIFICATION_SERVICE, "verification service")?;
    let sw_components = match map.required(k::SW_COMPONENTS, "software components")? {
        Value::Array(items) if items.is_empty() => {
            return Err(Error::field(WHAT, "software components (2399)", "empty"));
        }
        Value::Array(items) if items.len() > MAX_SW_COMPONENTS => {
            return Err(Error::TooLarge {
                what: "CCA software component list",
                found: items.len(),
                limit: MAX_SW_COMPONENTS,
            })
        }
        Value::Array(items) => items.into_iter().map(parse_sw_component).collect::<Result<Vec<_>>>()?,
        other => {
            return Err(Error::field(
                WHAT,
                "software components (2399)",
                format!("expected an array, found {}", type_name(&other)),
            ))
        }
    };
    Ok(PlatformClaims {
        profile,
        challenge,
        implementation_id,
        instance_id,
        config,
        lifecycle,
        hash_algo,
        verification_service,
        sw_components,
    })
}

fn parse_sw_component(value: Value) -> Result<SwComponent> {
    use component_key as k;
    let mut map = ClaimMap::new("CCA software component", value)?;
    Ok(SwComponent {
        component_type: map.optional_text(k::TYPE, "component type")?,
        measurement: map.bytes(k::MEASUREMENT, "measurement value", None)?,
        version: map.optional_text(k::VERSION, "version")?,
        signer_id: map.bytes(k::SIGNER_ID, "signer id", None)?,
        hash_algo: map.optional_text(k::HASH_ALGO, "hash algorithm")?,
    })
}

/// Decode the realm token payload (RMM specification, "Realm claims").
pub(crate) fn parse_realm_claims(payload: &[u8]) -> Result<RealmClaims> {
    use realm_key as k;
    const WHAT: &str = "CCA realm token";
    let mut map = ClaimMap::new(WHAT, super::cose::decode_cbor(WHAT, "payload", payload)?)?;
    let challenge = map.bytes(k::CHALLENGE, "challenge", Some(&[64]))?;
    let personalization_value = map.bytes(k::PERSONALIZATION_VALUE, "personalization value", Some(&[64]))?;
    let rim = map.bytes(k::RIM, "initial measurement", Some(DIGEST_SIZES))?;
    let rems = match map.required(k::REMS, "extensible measurements")? {
        Value::Array(items) if items.len() == REM_COUNT => {
            let mut rems: [Vec<u8>; REM_COUNT] = Default::default();
            for (slot, item) in rems.iter_mut().zip(items) {
                *slot = as_bytes(WHAT, k::REMS, "extensible measurement", item, Some(DIGEST_SIZES))?;
            }
            rems
        }
        Value::Array(items) => {
            return Err(Error::field(
                WHAT,
                "extensible measurements (44239)",
                format!("expected {REM_COUNT} entries, found {}", items.len()),
            ))
        }
        other => {
            return Err(Error::field(
                WHAT,
                "extensible measurements (44239)",
                format!("expected an array, found {}", type_name(&other)),
            ))
        }
    };
    let hash_algo = map.text(k::HASH_ALGO, "measurement hash algorithm")?;
    let public_key = map.bytes(k::PUBLIC_KEY, "public key", None)?;
    let public_key_hash_algo = map.text(k::PUBLIC_KEY_HASH_ALGO, "public key hash algorithm")?;
    let profile = map.optional_text(k::PROFILE, "profile")?;
    Ok(RealmClaims {
        challenge,
        personalization_value,
        rim,
        rems,
        hash_algo,
        public_key,
        public_key_hash_algo,
        profile,
    })
}

/// Security lifecycle state name of a raw lifecycle value.
///
/// The high byte selects the state, the low byte is implementation defined
/// (RFC 9783 "security lifecycle", with the CCA names of the CCA token draft):
///
/// | range | state |
/// | --- | --- |
/// | 0x0000..=0x00ff | unknown |
/// | 0x1000..=0x10ff | assembly-and-test |
/// | 0x2000..=0x20ff | cca-platform-rot-provisioning |
/// | 0x3000..=0x30ff | secured |
/// | 0x4000..=0x40ff | non-cca-platform-debug |
/// | 0x5000..=0x50ff | recoverable-cca-platform-debug |
/// | 0x6000..=0x60ff | decommissioned |
///
/// Anything else is `invalid`. Only `secured` platforms give trustworthy
/// evidence: in every other state the platform's keys or boot chain may be
/// under someone else's control.
pub fn lifecycle_name(raw: u16) -> &'static str {
    match raw >> 8 {
        0x00 => "unknown",
        0x10 => "assembly-and-test",
        0x20 => "cca-platform-rot-provisioning",
        0x30 => "secured",
        0x40 => "non-cca-platform-debug",
        0x50 => "recoverable-cca-platform-debug",
        0x60 => "decommissioned",
        _ => "invalid",
    }
}

/// True when the lifecycle value is in the secured range 0x3000..=0x30ff.
pub fn lifecycle_is_secured(raw: u16) -> bool {
    raw >> 8 == 0x30
}
