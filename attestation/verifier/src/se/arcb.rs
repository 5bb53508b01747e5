//! The attestation request control block (ARCB).
//!
//! The verifier creates an ARCB for each attestation: it holds a fresh
//! measurement key and nonce, encrypted with AES-256-GCM under a random
//! request protection key. The protection key is wrapped once per host key
//! (key slots) with a key derived by ECDH between a one-time customer
//! P-521 key and the host's P-521 key, so only the Ultravisor of those
//! hosts (or the creator, who holds the customer private key) can open it.
//!
//! Layout (big-endian; s390-tools `pv` crate, `RequestHdr` and
//! `AttestationRequest`):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0x00 | 8 | magic: all zero for an ARCB |
//! | 0x08 | 4 | version, 0x100 |
//! | 0x0c | 4 | request length (RQL) |
//! | 0x10 | 12 | AES-GCM IV, then 4 reserved |
//! | 0x20 | 7 | reserved |
//! | 0x27 | 1 | number of key slots (NKS) |
//! | 0x28 | 4 | reserved |
//! | 0x2c | 4 | size of the encrypted area (SEA) |
//! | 0x30 | 8 | plaintext attestation flags |
//! | 0x38 | 4 | measurement algorithm id (1 = HMAC-SHA512) |
//! | 0x3c | 4 | reserved |
//! | 0x40 | 160 | customer ECDH public key (P-521 x‖y, 80 bytes each) |
//! | 0xe0 | NKS × 80 | key slots: host-key hash (32), wrapped key (32), slot tag (16) |
//! | … | SEA | encrypted: measurement key (64), nonce (16, if flag 1) |
//! | RQL − 16 | 16 | AES-GCM tag over everything before the encrypted area |
//!
//! Flags are numbered from the most significant bit of the 8-byte field:
//! 1 nonce, 2 image public host-key hash (PHKH), 3 attestation PHKH,
//! 4 secret-store hash, 5 firmware state.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::bytes::{array, be_u32, slice};
use crate::{Error, Result};

const WHAT: &str = "ARCB";
/// Version 1 of the attestation request.
pub const ARCB_VERSION_1: u32 = 0x100;
/// Measurement algorithm id of HMAC-SHA512.
pub const MAI_HMAC_SHA512: u32 = 1;
/// Size of the HMAC-SHA512 measurement key.
pub const MEASUREMENT_KEY_SIZE: usize = 64;
/// Size of the request nonce.
pub const NONCE_SIZE: usize = 16;
/// Size of a public host-key hash.
pub const PHKH_SIZE: usize = 32;
/// Largest ARCB the kernel accepts (`UVIO_ATT_ARCB_MAX_LEN`).
pub const MAX_ARCB_SIZE: usize = 0x10_0000;
const CUSTOMER_KEY_OFFSET: usize = 0x40;
/// Size of a P-521 public key as x‖y, each coordinate zero-padded to 80 bytes.
pub const ECDH_COORDS_SIZE: usize = 160;
const COORD_SIZE: usize = 80;
const KEY_SLOTS_OFFSET: usize = CUSTOMER_KEY_OFFSET + ECDH_COORDS_SIZE;
const KEY_SLOT_SIZE: usize = 80;
const GCM_TAG_SIZE: usize = 16;
const PROTECTION_KEY_SIZE: usize = 32;

/// The plaintext attestation flags of an ARCB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AttestationFlags(pub u64);

impl AttestationFlags {
    fn bit(self, n: u32) -> bool {
        self.0 & (1u64 << (63 - n)) != 0
    }
    /// Flag 1: a nonce is part of the request and the measurement.
    pub fn nonce(self) -> bool {
        self.bit(1)
    }
    /// Flag 2: additional data carries the image public host-key hash.
    pub fn image_phkh(self) -> bool {
        self.bit(2)
    }
    /// Flag 3: additional data carries the attestation public host-key hash.
    pub fn attestation_phkh(self) -> bool {
        self.bit(3)
    }
    /// Flag 4: additional data carries the secret-store hash.
    pub fn secret_store_hash(self) -> bool {
        self.bit(4)
    }
    /// Flag 5: additional data carries the firmware state.
    pub fn firmware_state(self) -> bool {
        self.bit(5)
    }
    /// The flags trustee's SE attester requests: image and attestation PHKH
    /// (and a nonce).
    pub fn trustee_default() -> Self {
        AttestationFlags((1u64 << 62) | (1u64 << 61) | (1u64 << 60))
    }
}

/// One host-key slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySlot {
    /// SHA-256 of the host's public key coordinates.
    pub phkh: [u8; PHKH_SIZE],
    /// The request protection key, AES-256-GCM encrypted.
    pub wrapped_key: [u8; PROTECTION_KEY_SIZE],
    /// Tag of that encryption.
    pub tag: [u8; GCM_TAG_SIZE],
}

/// A parsed (still encrypted) ARCB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arcb {
    /// Request version (0x100).
    pub version: u32,
    /// AES-GCM IV of the encrypted area.
    pub iv: [u8; 12],
    /// Plaintext flags.
    pub flags: AttestationFlags,
    /// Measurement algorithm id (always HMAC-SHA512 after parsing).
    pub measurement_algorithm: u32,
    /// Customer ECDH public key, x‖y.
    pub customer_public_key: [u8; ECDH_COORDS_SIZE],
    /// Host-key slots.
    pub key_slots: Vec<KeySlot>,
    /// The whole request (authenticated part, encrypted part, tag).
    raw: Vec<u8>,
    /// Size of the authenticated part.
    aad_size: usize,
}

/// The confidential content of an ARCB.
#[derive(Clone, PartialEq, Eq)]
pub struct ArcbSecrets {
    /// HMAC-SHA512 key of the attestation measurement.
    pub measurement_key: [u8; MEASUREMENT_KEY_SIZE],
    /// Request nonce, when flag 1 is set.
    pub nonce: Option<[u8; NONCE_SIZE]>,
}

impl std::fmt::Debug for ArcbSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArcbSecrets").field("nonce", &self.nonce.map(hex::encode)).finish_non_exhaustive()
    }
}

/// Parse an ARCB (exactly one request, no trailing bytes).
pub fn parse_arcb(bytes: &[u8]) -> Result<Arcb> {
    if bytes.len() > MAX_ARCB_SIZE {
        return Err(Error::TooLarge { what: "ARCB", found: bytes.len(), limit: MAX_ARCB_SIZE });
    }
    let magic = slice(bytes, 0, 8, WHAT)?;
    if magic != [0u8; 8] {
        return Err(Error::malformed(
            WHAT,
            0,
            format!("not an attestation request: expected an all-zero magic, found {}", hex::encode(magic)),
        ));
    }
    let version = be_u32(bytes, 0x08, WHAT)?;
    if version != ARCB_VERSION_1 {
        return Err(Error::Unsupported { what: "ARCB version", found: format!("{version:#x}") });
    }
    let rql = be_u32(bytes, 0x0c, WHAT)? as usize;
    if rql != bytes.len() {
        return Err(Error::malformed(
            WHAT,
            0x0c,
            format!("request length field is {rql}, input is {} bytes", bytes.len()),
        ));
    }
    let iv = array::<12>(bytes, 0x10, WHAT)?;
    let nks = usize::from(array::<1>(bytes, 0x27, WHAT)?[0]);
    if nks == 0 {
        return Err(Error::malformed(WHAT, 0x27, "no key slots"));
    }
    let sea = be_u32(bytes, 0x2c, WHAT)? as usize;
    let flags = AttestationFlags(u64::from_be_bytes(array(bytes, 0x30, WHAT)?));
    let measurement_algorithm = be_u32(bytes, 0x38, WHAT)?;
    if measurement_algorithm != MAI_HMAC_SHA512 {
        return Err(Error::Unsupported {
            what: "ARCB measurement algorithm",
            found: measurement_algorithm.to_string(),
        });
    }
    let expected_sea = MEASUREMENT_KEY_SIZE + if flags.nonce() { NONCE_SIZE } else { 0 };
    if sea != expected_sea {
        return Err(Error::malformed(
            WHAT,
            0x2c,
            format!(
                "encrypted area is {sea} bytes, expected {expected_sea} for HMAC-SHA512 with flags {:#018x}",
                flags.0
            ),
        ));
    }
    let aad_size = KEY_SLOTS_OFFSET + nks * KEY_SLOT_SIZE;
    if aad_size + sea + GCM_TAG_SIZE != rql {
        return Err(Error::malformed(
            WHAT,
            0x0c,
            format!(
                "request length {rql} does not match {nks} key slot(s) and encrypted area {sea} (expected {})",
                aad_size + sea + GCM_TAG_SIZE
            ),
        ));
    }
    let customer_public_key = array(bytes, CUSTOMER_KEY_OFFSET, WHAT)?;
    let key_slots = (0..nks)
        .map(|i| {
            let at = KEY_SLOTS_OFFSET + i * KEY_SLOT_SIZE;
            Ok(KeySlot {
                phkh: array(bytes, at, WHAT)?,
                wrapped_key: array(bytes, at + PHKH_SIZE, WHAT)?,
                tag: array(bytes, at + PHKH_SIZE + PROTECTION_KEY_SIZE, WHAT)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arcb {
        version,
        iv,
        flags,
        measurement_algorithm,
        customer_public_key,
        key_slots,
        raw: bytes.to_vec(),
        aad_size,
    })
}

impl Arcb {
    /// The authenticated plaintext part: flags, algorithm and reserved word (bytes 0x30..0x40).
    pub fn authenticated_flags(&self) -> &[u8] {
        self.raw.get(0x30..0x40).unwrap_or_default()
    }

    /// The serialised request.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Decrypt the measurement key and nonce with the request protection key.
    pub fn decrypt(&self, protection_key: &[u8]) -> Result<ArcbSecrets> {
        if protection_key.len() != PROTECTION_KEY_SIZE {
            return Err(Error::field(
                "SE configuration",
                "request_protection_key",
                format!("expected 32 bytes, found {}", protection_key.len()),
            ));
        }
        let aad = slice(&self.raw, 0, self.aad_size, WHAT)?;
        let sea = self.raw.len().saturating_sub(self.aad_size + GCM_TAG_SIZE);
        let mut plain = slice(&self.raw, self.aad_size, sea, WHAT)?.to_vec();
        let tag = slice(&self.raw, self.aad_size + sea, GCM_TAG_SIZE, WHAT)?;
        aes_gcm_open(protection_key, &self.iv, aad, &mut plain, tag).map_err(|()| Error::BadSignature {
            what: "ARCB encrypted area (AES-GCM tag)".into(),
            key: "the request protection key".into(),
        })?;
        let measurement_key = array(&plain, 0, WHAT)?;
        let nonce = if self.flags.nonce() { Some(array(&plain, MEASUREMENT_KEY_SIZE, WHAT)?) } else { None };
        Ok(ArcbSecrets { measurement_key, nonce })
    }

    /// Recover the request protection key as its creator can: with the
    /// customer private key and the public key of one of the hosts.
    ///
    /// Checks that the customer private key belongs to the public key in the
    /// request, finds the key slot of `host_key` by its hash, derives the
    /// slot key (SHA-256 of the ECDH shared secret ‖ 0x00000001) and unwraps.
    pub fn unwrap_protection_key(&self, customer_private_key: &[u8], host_key: &p521::PublicKey) -> Result<[u8; 32]> {
        let secret = customer_secret_key(customer_private_key)?;
        let own = ecdh_coords(&secret.public_key());
        if own != self.customer_public_key {
            return Err(Error::mismatch_bytes("ARCB customer public key", &own, &self.customer_public_key));
        }
        let phkh = public_host_key_hash(host_key);
        let slot = self.key_slots.iter().find(|s| s.phkh == phkh).ok_or_else(|| Error::Mismatch {
            what: "ARCB key slot host-key hash".into(),
            expected: hex::encode(phkh),
            found: self.key_slots.iter().map(|s| hex::encode(s.phkh)).collect::<Vec<_>>().join(","),
        })?;
        let slot_key = derive_slot_key(&secret, host_key);
        let mut key = slot.wrapped_key;
        aes_gcm_open(&slot_key, &[0u8; 12], &[], &mut key, &slot.tag).map_err(|()| Error::BadSignature {
            what: "ARCB key slot (AES-GCM tag)".into(),
            key: "the ECDH-derived slot key".into(),
        })?;
        Ok(key)
    }
}

/// What a new ARCB is made of. All secrets and the IV come from the
/// caller's random source: this crate does no I/O and draws no randomness.
#[derive(Clone)]
pub struct ArcbParameters<'a> {
    /// Flags; the nonce flag is set or cleared to match [`Self::nonce`].
    pub flags: AttestationFlags,
    /// Fresh HMAC-SHA512 measurement key.
    pub measurement_key: [u8; MEASUREMENT_KEY_SIZE],
    /// Fresh nonce (recommended).
    pub nonce: Option<[u8; NONCE_SIZE]>,
    /// Fresh AES-256 request protection key.
    pub protection_key: [u8; PROTECTION_KEY_SIZE],
    /// Fresh AES-GCM IV.
    pub iv: [u8; 12],
    /// Fresh customer P-521 key.
    pub customer_key: &'a p521::SecretKey,
    /// Host keys of the verified host-key documents, one key slot each (1–255).
    pub host_keys: &'a [p521::PublicKey],
}

/// Build and encrypt an ARCB (the verifier side of the exchange).
pub fn build_arcb(p: &ArcbParameters<'_>) -> Result<Vec<u8>> {
    let nks = u8::try_from(p.host_keys.len()).ok().filter(|n| *n > 0).ok_or_else(|| {
        Error::field(
            "ARCB parameters",
            "host_keys",
            format!("expected 1 to 255 host keys, found {}", p.host_keys.len()),
        )
    })?;
    let nonce_bit = 1u64 << 62;
    let flags = if p.nonce.is_some() { p.flags.0 | nonce_bit } else { p.flags.0 & !nonce_bit };
    let mut plain = p.measurement_key.to_vec();
    if let Some(n) = &p.nonce {
        plain.extend_from_slice(n);
    }
    let aad_size = KEY_SLOTS_OFFSET + usize::from(nks) * KEY_SLOT_SIZE;
    let rql = aad_size + plain.len() + GCM_TAG_SIZE;
    let mut out = Vec::with_capacity(rql);
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&ARCB_VERSION_1.to_be_bytes());
    out.extend_from_slice(&(rql as u32).to_be_bytes());
    out.extend_from_slice(&p.iv);
    out.extend_from_slice(&[0u8; 4 + 7]);
    out.push(nks);
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(plain.len() as u32).to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&MAI_HMAC_SHA512.to_be_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&ecdh_coords(&p.customer_key.public_key()));
    for host in p.host_keys {
        let mut wrapped = p.protection_key;
        let tag = aes_gcm_seal(&derive_slot_key(p.customer_key, host), &[0u8; 12], &[], &mut wrapped)?;
        out.extend_from_slice(&public_host_key_hash(host));
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&tag);
    }
    let tag = aes_gcm_seal(&p.protection_key, &p.iv, &out, &mut plain)?;
    out.extend_from_slice(&plain);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn aes_gcm_seal(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<[u8; GCM_TAG_SIZE]> {
    let cipher = Aes256Gcm::new(&(*key).into());
    cipher
        .encrypt_in_place_detached(&Nonce::from(*iv), aad, buf)
        .map(Into::into)
        .map_err(|_| Error::field("ARCB parameters", "encrypted area", "AES-GCM encryption failed"))
}

fn aes_gcm_open(key: &[u8], iv: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> std::result::Result<(), ()> {
    let tag = <[u8; GCM_TAG_SIZE]>::try_from(tag).map_err(|_| ())?;
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| ())?;
    cipher.decrypt_in_place_detached(&Nonce::from(*iv), aad, buf, &Tag::from(tag)).map_err(|_| ())
}

/// A P-521 private key from its big-endian scalar, 66 bytes or zero-padded
/// to 80 (the s390-tools key file format).
pub fn customer_secret_key(bytes: &[u8]) -> Result<p521::SecretKey> {
    const FIELD: usize = 66;
    let scalar = match bytes.len() {
        FIELD => bytes,
        COORD_SIZE if bytes.iter().take(COORD_SIZE - FIELD).all(|b| *b == 0) => {
            bytes.get(COORD_SIZE - FIELD..).unwrap_or_default()
        }
        n => {
            return Err(Error::field(
                "SE configuration",
                "customer_private_key",
                format!("expected a 66-byte P-521 scalar (or 80 bytes zero-padded), found {n} bytes"),
            ))
        }
    };
    p521::SecretKey::from_slice(scalar)
        .map_err(|_| Error::field("SE configuration", "customer_private_key", "not a valid P-521 scalar"))
}

/// A P-521 public key from x‖y with each coordinate zero-padded to 80 bytes.
pub fn public_key_from_coords(coords: &[u8]) -> Result<p521::PublicKey> {
    const FIELD: usize = 66;
    if coords.len() != ECDH_COORDS_SIZE {
        return Err(Error::malformed("P-521 coordinates", 0, format!("expected 160 bytes, found {}", coords.len())));
    }
    let (x, y) = coords.split_at(COORD_SIZE);
    let pad = COORD_SIZE - FIELD;
    if x.iter().take(pad).chain(y.iter().take(pad)).any(|b| *b != 0) {
        return Err(Error::malformed("P-521 coordinates", 0, "coordinate padding is not zero"));
    }
    let mut sec1 = Vec::with_capacity(1 + 2 * FIELD);
    sec1.push(4);
    sec1.extend_from_slice(x.get(pad..).unwrap_or_default());
    sec1.extend_from_slice(y.get(pad..).unwrap_or_default());
    p521::PublicKey::from_sec1_bytes(&sec1)
        .map_err(|_| Error::malformed("P-521 coordinates", 0, "not a point on P-521"))
}

/// x‖y of a P-521 public key, each zero-padded to 80 bytes.
pub fn ecdh_coords(key: &p521::PublicKey) -> [u8; ECDH_COORDS_SIZE] {
    use p521::elliptic_curve::sec1::ToEncodedPoint;
    let point = key.to_encoded_point(false);
    let mut out = [0u8; ECDH_COORDS_SIZE];
    if let (Some(x), Some(y)) = (point.x(), point.y()) {
        let (ox, oy) = out.split_at_mut(COORD_SIZE);
        if let (Some(dx), Some(dy)) = (ox.get_mut(COORD_SIZE - x.len()..), oy.get_mut(COORD_SIZE - y.len()..)) {
            dx.copy_from_slice(x);
            dy.copy_from_slice(y);
        }
    }
    out
}

/// The public host-key hash: SHA-256 of the host key's padded x‖y.
pub fn public_host_key_hash(key: &p521::PublicKey) -> [u8; PHKH_SIZE] {
    Sha256::digest(ecdh_coords(key)).into()
}

/// Key-slot key: SHA-256(ECDH shared secret x-coordinate ‖ 00 00 00 01).
fn derive_slot_key(secret: &p521::SecretKey, host_key: &p521::PublicKey) -> [u8; 32] {
    let shared = p521::ecdh::diffie_hellman(secret.to_nonzero_scalar(), host_key.as_affine());
    let mut h = Sha256::new();
    h.update(shared.raw_secret_bytes());
    h.update([0, 0, 0, 1]);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::read_vector;
    use crate::x509::Certificate;

    const ARCB: &str = "attestation/se/s390tools-arcb-hmacsha512.bin";

    fn host_key() -> p521::PublicKey {
        let cert = Certificate::from_pem_or_der(&read_vector("attestation/se/s390tools-keys-host.pem.crt")).unwrap();
        super::super::hkd::host_public_key(&cert).unwrap()
    }

    #[test]
    fn arcb_vector_parses() {
        let bytes = read_vector(ARCB);
        assert_eq!(bytes.len(), 400);
        let arcb = parse_arcb(&bytes).unwrap();
        assert_eq!(arcb.version, 0x100);
        assert_eq!(arcb.iv, [0x55; 12]);
        assert_eq!(arcb.measurement_algorithm, MAI_HMAC_SHA512);
        assert!(arcb.flags.nonce() && arcb.flags.image_phkh() && arcb.flags.attestation_phkh());
        assert!(!arcb.flags.secret_store_hash() && !arcb.flags.firmware_state());
        assert_eq!(arcb.flags, AttestationFlags::trustee_default());
        assert_eq!(arcb.key_slots.len(), 1);
        assert_eq!(arcb.authenticated_flags(), &bytes[0x30..0x40]);
        assert_eq!(arcb.as_bytes(), &bytes[..]);
        let cust = read_vector("attestation/se/s390tools-keys-public_cust.bin");
        assert_eq!(&arcb.customer_public_key[..], &cust[..]);
    }

    #[test]
    fn arcb_regenerates_byte_exactly() {
        let private = customer_secret_key(&read_vector("attestation/se/s390tools-keys-private_cust.bin")).unwrap();
        let hosts = [host_key()];
        let params = ArcbParameters {
            flags: AttestationFlags((1 << 61) | (1 << 60)),
            measurement_key: [0x77; 64],
            nonce: Some([0xab; 16]),
            protection_key: [0x17; 32],
            iv: [0x55; 12],
            customer_key: &private,
            host_keys: &hosts,
        };
        assert_eq!(build_arcb(&params).unwrap(), read_vector(ARCB));
        // Without a nonce, and for two hosts, the result parses and opens.
        let two = [
            host_key(),
            super::super::hkd::host_public_key(
                &Certificate::from_pem_or_der(&read_vector("attestation/se/pki/host.crt")).unwrap(),
            )
            .unwrap(),
        ];
        let params = ArcbParameters { nonce: None, host_keys: &two, ..params };
        let arcb = parse_arcb(&build_arcb(&params).unwrap()).unwrap();
        assert!(!arcb.flags.nonce() && arcb.flags.image_phkh());
        assert_eq!(arcb.key_slots.len(), 2);
        let secrets = arcb.decrypt(&[0x17; 32]).unwrap();
        assert_eq!(secrets.nonce, None);
        assert_eq!(arcb.unwrap_protection_key(&private.to_bytes(), &two[1]).unwrap(), [0x17; 32]);
        let params = ArcbParameters { host_keys: &[], ..params };
        assert!(matches!(build_arcb(&params), Err(Error::MalformedField { .. })));
    }

    #[test]
    fn arcb_decrypts_with_the_protection_key() {
        let arcb = parse_arcb(&read_vector(ARCB)).unwrap();
        let secrets = arcb.decrypt(&[0x17; 32]).unwrap();
        assert_eq!(secrets.measurement_key, [0x77; 64]);
        assert_eq!(secrets.nonce, Some([0xab; 16]));
        let err = arcb.decrypt(&[0x18; 32]).unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        assert!(matches!(arcb.decrypt(&[0x17; 31]), Err(Error::MalformedField { .. })));
    }

    #[test]
    fn arcb_tampering_is_detected() {
        let bytes = read_vector(ARCB);
        let mut magic = bytes.clone();
        magic[0] = 17;
        assert!(matches!(parse_arcb(&magic), Err(Error::Malformed { what: "ARCB", offset: 0, .. })));
        let mut mai = bytes.clone();
        mai[0x3b] = 17;
        match parse_arcb(&mai) {
            Err(Error::Unsupported { what: "ARCB measurement algorithm", found }) => assert_eq!(found, "17"),
            other => panic!("unexpected {other:?}"),
        }
        let mut aad = bytes.clone();
        aad[0x3c] = 17;
        let err = parse_arcb(&aad).unwrap().decrypt(&[0x17; 32]).unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        let mut slot = bytes.clone();
        slot[0xe0] ^= 1;
        assert!(parse_arcb(&slot).unwrap().decrypt(&[0x17; 32]).is_err());
        assert!(matches!(parse_arcb(&bytes[..399]), Err(Error::Malformed { offset: 0x0c, .. })));
        let mut version = bytes.clone();
        version[0x0a] = 2;
        assert!(matches!(parse_arcb(&version), Err(Error::Unsupported { what: "ARCB version", .. })));
        let mut no_slots = bytes.clone();
        no_slots[0x27] = 0;
        assert!(matches!(parse_arcb(&no_slots), Err(Error::Malformed { offset: 0x27, .. })));
    }

    #[test]
    fn protection_key_recovered_from_customer_key_and_host_key() {
        let arcb = parse_arcb(&read_vector(ARCB)).unwrap();
        let host = host_key();
        // The key slot names the host key by the SHA-256 of its padded coordinates.
        let coords = ecdh_coords(&host);
        assert_eq!(arcb.key_slots[0].phkh, <[u8; 32]>::from(Sha256::digest(coords)));
        let private = read_vector("attestation/se/s390tools-keys-private_cust.bin");
        assert_eq!(private.len(), 80);
        // Slot key: s390-tools' derive_aes256_gcm_key known answer for these keys.
        let slot_key = derive_slot_key(&customer_secret_key(&private).unwrap(), &host);
        assert_eq!(hex::encode(slot_key), "753277558f3b6003419ef249ae3c4b55aad77d09d97fdd1fc88fd8f0cf22f149");
        let key = arcb.unwrap_protection_key(&private, &host).unwrap();
        assert_eq!(key, [0x17; 32]);
        assert_eq!(arcb.decrypt(&key).unwrap().measurement_key, [0x77; 64]);
    }

    #[test]
    fn unwrap_rejects_other_keys() {
        let arcb = parse_arcb(&read_vector(ARCB)).unwrap();
        let private = read_vector("attestation/se/s390tools-keys-private_cust.bin");
        // A host key without a slot.
        let pki_host = Certificate::from_pem_or_der(&read_vector("attestation/se/pki/host.crt")).unwrap();
        let other = super::super::hkd::host_public_key(&pki_host).unwrap();
        assert!(matches!(arcb.unwrap_protection_key(&private, &other), Err(Error::Mismatch { .. })));
        // A customer key that is not the request's.
        let mut wrong = private.clone();
        wrong[79] ^= 1;
        assert!(matches!(arcb.unwrap_protection_key(&wrong, &host_key()), Err(Error::Mismatch { .. })));
        assert!(customer_secret_key(&[1u8; 12]).is_err());
        assert!(customer_secret_key(&[0xff; 80]).is_err());
    }

    #[test]
    fn coordinates_round_trip() {
        let cust = read_vector("attestation/se/s390tools-keys-public_cust.bin");
        let key = public_key_from_coords(&cust).unwrap();
        assert_eq!(&ecdh_coords(&key)[..], &cust[..]);
        let private = read_vector("attestation/se/s390tools-keys-private_cust.bin");
        assert_eq!(customer_secret_key(&private).unwrap().public_key(), key);
        assert!(public_key_from_coords(&cust[1..]).is_err());
        let mut off_curve = cust.clone();
        off_curve[159] ^= 1;
        assert!(public_key_from_coords(&off_curve).is_err());
    }
}
