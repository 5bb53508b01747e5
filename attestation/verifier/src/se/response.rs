//! The attestation measurement and the additional data of a response.
//!
//! The Ultravisor answers an ARCB with an HMAC-SHA512, keyed with the ARCB's
//! measurement key, over (s390-tools `pv` `AttestationItems`; big-endian):
//!
//! | size | item |
//! |-----:|------|
//! | 64 | page-list digest (SE header) |
//! | 64 | address-list digest (SE header) |
//! | 64 | tweak-list digest (SE header) |
//! | 16 | SE header tag |
//! | 16 | configuration unique id |
//! | 2 | user-data length |
//! | 2 | zero |
//! | 4 | additional-data length |
//! | 0–256 | user data |
//! | 0 or 16 | nonce (when the ARCB has one) |
//! | 0+ | additional data |
//!
//! Additional data is the concatenation, in this order, of the items the
//! ARCB flags request: image PHKH (32), attestation PHKH (32), secret-store
//! hash (64), firmware state (320); anything after them is unrecognised.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha512;

use super::arcb::{AttestationFlags, MEASUREMENT_KEY_SIZE, NONCE_SIZE, PHKH_SIZE};
use super::exchange::{CUID_SIZE, MAX_ADDITIONAL_SIZE, MAX_USER_DATA_SIZE};
use super::header::HeaderTags;
use crate::{Error, Result};

/// Size of an HMAC-SHA512 measurement.
pub const MEASUREMENT_SIZE: usize = 64;
const SECRET_STORE_HASH_SIZE: usize = 64;
const FIRMWARE_STATE_SIZE: usize = 320;

/// What the measurement covers besides the key.
#[derive(Debug, Clone, Copy)]
pub struct MeasuredItems<'a> {
    /// Boot-header tags of the SE image.
    pub tags: &'a HeaderTags,
    /// Configuration unique id reported by the Ultravisor.
    pub config_uid: &'a [u8; CUID_SIZE],
    /// User data passed to the Ultravisor (at most 256 bytes).
    pub user_data: &'a [u8],
    /// The ARCB nonce, if it has one.
    pub nonce: Option<&'a [u8; NONCE_SIZE]>,
    /// Additional data returned by the Ultravisor.
    pub additional: &'a [u8],
}

impl MeasuredItems<'_> {
    /// The message the HMAC is computed over.
    pub fn message(&self) -> Result<Vec<u8>> {
        if self.user_data.len() > MAX_USER_DATA_SIZE {
            return Err(Error::TooLarge {
                what: "SE user data",
                found: self.user_data.len(),
                limit: MAX_USER_DATA_SIZE,
            });
        }
        if self.additional.len() > MAX_ADDITIONAL_SIZE {
            return Err(Error::TooLarge {
                what: "SE additional data",
                found: self.additional.len(),
                limit: MAX_ADDITIONAL_SIZE,
            });
        }
        let mut msg = Vec::with_capacity(
            HeaderTags::SIZE + CUID_SIZE + 8 + self.user_data.len() + NONCE_SIZE + self.additional.len(),
        );
        msg.extend_from_slice(&self.tags.to_bytes());
        msg.extend_from_slice(self.config_uid);
        // Lengths fit: checked against the limits above.
        msg.extend_from_slice(&(self.user_data.len() as u16).to_be_bytes());
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&(self.additional.len() as u32).to_be_bytes());
        msg.extend_from_slice(self.user_data);
        if let Some(nonce) = self.nonce {
            msg.extend_from_slice(nonce);
        }
        msg.extend_from_slice(self.additional);
        Ok(msg)
    }
}

fn mac(key: &[u8; MEASUREMENT_KEY_SIZE], items: &MeasuredItems<'_>) -> Result<Hmac<Sha512>> {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key)
        .map_err(|_| Error::field("SE measurement key", "key", "not usable as an HMAC key"))?;
    mac.update(&items.message()?);
    Ok(mac)
}

/// Compute the HMAC-SHA512 attestation measurement.
pub fn compute_measurement(
    key: &[u8; MEASUREMENT_KEY_SIZE],
    items: &MeasuredItems<'_>,
) -> Result<[u8; MEASUREMENT_SIZE]> {
    Ok(mac(key, items)?.finalize().into_bytes().into())
}

/// Check a measurement in constant time; on mismatch the error shows both values.
pub fn verify_measurement(key: &[u8; MEASUREMENT_KEY_SIZE], items: &MeasuredItems<'_>, found: &[u8]) -> Result<()> {
    if mac(key, items)?.verify_slice(found).is_ok() {
        return Ok(());
    }
    let expected = compute_measurement(key, items)?;
    Err(Error::mismatch_bytes("SE attestation measurement (HMAC-SHA512)", &expected, found))
}

/// The additional data of a response, split by the ARCB flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AdditionalData {
    /// Hash of the public host key that unpacked the image.
    pub image_phkh: Option<[u8; PHKH_SIZE]>,
    /// Hash of the public host key that decrypted the attestation request.
    pub attestation_phkh: Option<[u8; PHKH_SIZE]>,
    /// SHA-512 over the add-secret request tags and the lock state.
    pub secret_store_hash: Option<Vec<u8>>,
    /// Firmware state, to be interpreted by an IBM service.
    pub firmware_state: Option<Vec<u8>>,
    /// Bytes after the items this implementation knows.
    pub unrecognized: Option<Vec<u8>>,
}

/// Split additional data according to `flags`.
pub fn parse_additional_data(data: &[u8], flags: AttestationFlags) -> Result<AdditionalData> {
    let mut rest = data;
    let mut take = |wanted: bool, size: usize, name: &str| -> Result<Option<Vec<u8>>> {
        if !wanted {
            return Ok(None);
        }
        let offset = data.len() - rest.len();
        let (item, tail) = rest.split_at_checked(size).ok_or_else(|| {
            Error::malformed(
                "SE additional data",
                offset,
                format!("{name} ({size} bytes) requested but only {} bytes left", rest.len()),
            )
        })?;
        rest = tail;
        Ok(Some(item.to_vec()))
    };
    let phkh = |v: Option<Vec<u8>>| v.and_then(|v| <[u8; PHKH_SIZE]>::try_from(v.as_slice()).ok());
    let image_phkh = phkh(take(flags.image_phkh(), PHKH_SIZE, "image PHKH")?);
    let attestation_phkh = phkh(take(flags.attestation_phkh(), PHKH_SIZE, "attestation PHKH")?);
    let secret_store_hash = take(flags.secret_store_hash(), SECRET_STORE_HASH_SIZE, "secret-store hash")?;
    let firmware_state = take(flags.firmware_state(), FIRMWARE_STATE_SIZE, "firmware state")?;
    let unrecognized = (!rest.is_empty()).then(|| rest.to_vec());
    Ok(AdditionalData { image_phkh, attestation_phkh, secret_store_hash, firmware_state, unrecognized })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 64] = [0x41; 64];
    const TAGS: HeaderTags = HeaderTags { pld: [1; 64], ald: [2; 64], tld: [3; 64], tag: [4; 16] };
    const CUID: [u8; 16] = [5; 16];
    const USER: [u8; 256] = [7; 256];
    const NONCE: [u8; 16] = [8; 16];
    const ADDITIONAL: [u8; 128] = [9; 128];

    fn items<'a>(user: &'a [u8], nonce: Option<&'a [u8; 16]>, additional: &'a [u8]) -> MeasuredItems<'a> {
        MeasuredItems { tags: &TAGS, config_uid: &CUID, user_data: user, nonce, additional }
    }

    /// Known answers published with s390-tools (`pv` attest.rs tests).
    #[test]
    fn measurement_matches_s390_tools_known_answers() {
        let cases: [(MeasuredItems<'_>, &str); 4] = [
            (items(&USER, Some(&NONCE), &ADDITIONAL), "88794c62cce7bcf26216deb3f48f13fea6374b6d7e35bcc5c2ce68121db6f45dfc8c171856463549408bf8e7d1aca11efad0a878af97dc9e21a1fc2a32f3a675"),
            (items(&USER, None, &ADDITIONAL), "fbd4f738a390edd947cd4f11af3a2f3bab2fdf8bf89bf81beb495117f4382cf42f0730c8c7d9e3ca27fb25adfceb21224f57fdb398dcf41a83c146e6a23db760"),
            (items(&[], None, &ADDITIONAL), "63671fbf295036eb1023ea71f7182e7d6343dc7b2da584e824d0a7d198ab9cded756c93b39050ffb764555b01f88cb82017a6a15c7e0bafc6005f1e4f78aa124"),
            (items(&[], None, &[]), "c5c34c93835d1ec23f5c2d778dfa20129b11b305601742cb2f38e0ed9894dcdb73fc8695ab6a8dbad0744073ddc81a5eaafa52e4a15af8deb8d761091922847f"),
        ];
        for (i, (it, expected)) in cases.iter().enumerate() {
            let expected = hex::decode(expected).unwrap();
            assert_eq!(compute_measurement(&KEY, it).unwrap().to_vec(), expected, "case {i}");
            verify_measurement(&KEY, it, &expected).unwrap();
            let mut wrong = expected.clone();
            wrong[63] ^= 1;
            assert!(matches!(verify_measurement(&KEY, it, &wrong), Err(Error::Mismatch { .. })), "case {i}");
            assert!(matches!(verify_measurement(&KEY, it, &expected[..32]), Err(Error::Mismatch { .. })), "case {i}");
        }
    }

    #[test]
    fn measurement_message_layout() {
        let msg = items(&USER[..3], Some(&NONCE), &ADDITIONAL[..5]).message().unwrap();
        assert_eq!(msg.len(), 208 + 16 + 8 + 3 + 16 + 5);
        assert_eq!(&msg[224..232], &[0, 3, 0, 0, 0, 0, 0, 5]);
        assert!(items(&[0; 257], None, &[]).message().is_err());
        assert!(items(&[], None, &vec![0; 0x8001]).message().is_err());
    }

    #[test]
    fn additional_data_is_split_by_flags() {
        let data: Vec<u8> = (0u8..64).collect();
        let add = parse_additional_data(&data, AttestationFlags::trustee_default()).unwrap();
        assert_eq!(add.image_phkh.unwrap().to_vec(), (0u8..32).collect::<Vec<_>>());
        assert_eq!(add.attestation_phkh.unwrap().to_vec(), (32u8..64).collect::<Vec<_>>());
        assert_eq!(add.unrecognized, None);
        let err = parse_additional_data(&data[..63], AttestationFlags::trustee_default()).unwrap_err();
        assert!(matches!(err, Error::Malformed { offset: 32, .. }), "{err}");
        let none = parse_additional_data(&data, AttestationFlags(0)).unwrap();
        assert_eq!(none.unrecognized, Some(data.clone()));
        let all = AttestationFlags(0x7c00_0000_0000_0000);
        assert!(all.secret_store_hash() && all.firmware_state());
        let big = vec![1u8; 32 + 32 + 64 + 320 + 2];
        let add = parse_additional_data(&big, all).unwrap();
        assert_eq!(add.secret_store_hash.unwrap().len(), 64);
        assert_eq!(add.firmware_state.unwrap().len(), 320);
        assert_eq!(add.unrecognized.unwrap().len(), 2);
    }
}
