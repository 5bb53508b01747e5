//! GPG "simple signing" signatures (`signedBy`): an OpenPGP signed message
//! (as `gpg --sign` writes it, usually compressed) whose literal data is the
//! simple-signing JSON payload. Verified with rpgp (pure Rust) against the
//! policy's keys, primary keys and subkeys whose bindings verify.

use std::io::Read;

use pgp::composed::{Deserializable, Message, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails as _, Timestamp};

/// Largest signature file accepted (real ones are well under 2 KiB).
pub(crate) const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;
/// Largest key file or key data accepted.
pub(crate) const MAX_KEYRING_BYTES: u64 = 1024 * 1024;
/// At most this many keys are taken from one key source.
const MAX_KEYS: usize = 256;

/// Parses OpenPGP public keys (armored or binary, one or many). Keys whose
/// self-signatures do not verify are refused.
pub(crate) fn parse_keys(bytes: &[u8], what: &str) -> Result<Vec<SignedPublicKey>, String> {
    if bytes.len() as u64 > MAX_KEYRING_BYTES {
        return Err(format!("{what}: {} bytes exceeds the limit of {MAX_KEYRING_BYTES}", bytes.len()));
    }
    let (keys, _) =
        SignedPublicKey::from_reader_many(bytes).map_err(|e| format!("{what}: not an OpenPGP public key: {e}"))?;
    let mut out = Vec::new();
    for key in keys.take(MAX_KEYS) {
        let key = key.map_err(|e| format!("{what}: not an OpenPGP public key: {e}"))?;
        key.verify_bindings()
            .map_err(|e| format!("{what}: key {} has invalid self-signatures: {e}", key.fingerprint()))?;
        out.push(key);
    }
    if out.is_empty() {
        return Err(format!("{what}: holds no OpenPGP public key"));
    }
    Ok(out)
}

/// Verifies one signature against `keys` and returns the signed payload.
pub(crate) fn verify(signature: &[u8], keys: &[SignedPublicKey]) -> Result<Vec<u8>, String> {
    if signature.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(format!("signature of {} bytes exceeds the limit of {MAX_SIGNATURE_BYTES}", signature.len()));
    }
    let message = Message::from_bytes(signature).map_err(|e| format!("not an OpenPGP message: {e}"))?;
    let mut message = if message.is_compressed() {
        message.decompress().map_err(|e| format!("cannot decompress the OpenPGP message: {e}"))?
    } else {
        message
    };
    if !message.is_signed() {
        return Err("the OpenPGP message is not signed".into());
    }
    // Read the literal data with a limit: a compressed message could
    // otherwise expand without bound.
    let mut payload = Vec::new();
    (&mut message)
        .take(super::payload::MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut payload)
        .map_err(|e| format!("cannot read the signed data: {e}"))?;
    if payload.len() > super::payload::MAX_PAYLOAD_BYTES {
        return Err(format!("signed data exceeds {} bytes", super::payload::MAX_PAYLOAD_BYTES));
    }
    let now = Timestamp::now();
    let mut unusable = Vec::new();
    for key in keys {
        if message.verify(key).is_ok() {
            match primary_usable(key, now) {
                Ok(()) => return Ok(payload),
                Err(why) => unusable.push(why),
            }
        }
        for sub in &key.public_subkeys {
            if message.verify(sub).is_ok() {
                match primary_usable(key, now).and_then(|()| subkey_usable(sub, now)) {
                    Ok(()) => return Ok(payload),
                    Err(why) => unusable.push(why),
                }
            }
        }
    }
    if !unusable.is_empty() {
        return Err(format!("signed by a trusted key that is not usable: {}", unusable.join("; ")));
    }
    let fingerprints: Vec<String> = keys.iter().map(|k| k.fingerprint().to_string()).collect();
    Err(format!("not signed by any trusted key ({})", fingerprints.join(", ")))
}

/// gpg refuses signatures of revoked or expired keys; so does this.
fn primary_usable(key: &SignedPublicKey, now: Timestamp) -> Result<(), String> {
    let fingerprint = key.fingerprint();
    if !key.details.revocation_signatures.is_empty() {
        return Err(format!("key {fingerprint} is revoked"));
    }
    let self_signatures =
        key.details.users.iter().flat_map(|u| u.signatures.iter()).chain(&key.details.direct_signatures);
    if expired(key.primary_key.created_at(), self_signatures, now) {
        return Err(format!("key {fingerprint} has expired"));
    }
    Ok(())
}

fn subkey_usable(sub: &pgp::composed::SignedPublicSubKey, now: Timestamp) -> Result<(), String> {
    let fingerprint = sub.key.fingerprint();
    if sub.signatures.iter().any(|s| s.typ() == Some(SignatureType::SubkeyRevocation)) {
        return Err(format!("subkey {fingerprint} is revoked"));
    }
    let bindings: Vec<&Signature> =
        sub.signatures.iter().filter(|s| s.typ() == Some(SignatureType::SubkeyBinding)).collect();
    let latest = bindings.iter().max_by_key(|s| s.created().map(Timestamp::as_secs));
    if !latest.is_some_and(|s| s.key_flags().sign()) {
        return Err(format!("subkey {fingerprint} is not a signing key"));
    }
    if expired(sub.key.created_at(), bindings.into_iter(), now) {
        return Err(format!("subkey {fingerprint} has expired"));
    }
    Ok(())
}

/// Whether the newest of `signatures` that states a key expiration time
/// puts it before `now`.
fn expired<'a>(created: Timestamp, signatures: impl Iterator<Item = &'a Signature>, now: Timestamp) -> bool {
    let newest =
        signatures.filter(|s| s.key_expiration_time().is_some()).max_by_key(|s| s.created().map(Timestamp::as_secs));
    match newest.and_then(|s| s.key_expiration_time()) {
        Some(validity) if validity.as_secs() != 0 => {
            u64::from(created.as_secs()) + u64::from(validity.as_secs()) < u64::from(now.as_secs())
        }
        _ => false,
    }
}
