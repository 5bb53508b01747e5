//! Tests on tokens re-created from the example token and re-signed with the
//! upstream test keys (`trustee-rak-priv.json`, `trustee-cpak-priv.json`),
//! as a KBS run does to put a fresh challenge in the realm token.

use base64::Engine;
use ciborium::Value;
use coset::{iana, CborSerializable, CoseKeyBuilder, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use sha2::Digest;
use signature::Signer;

use super::tests::{endorsements, options, rvstore, tastore, token, verify_raw};
use super::*;
use crate::binding::{report_data_for, runtime_data_digest};
use crate::test_support::read_vector;
use crate::Tee;

const PLATFORM: u64 = 44234;
const REALM: u64 = 44241;

fn jwk_signing_key(name: &str) -> p384::ecdsa::SigningKey {
    let jwk: serde_json::Value = serde_json::from_slice(&read_vector(&format!("attestation/cca/{name}"))).unwrap();
    let d = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwk["d"].as_str().unwrap()).unwrap();
    p384::ecdsa::SigningKey::from_slice(&d).unwrap()
}

fn cpak() -> p384::ecdsa::SigningKey {
    jwk_signing_key("trustee-cpak-priv.json")
}

fn rak() -> p384::ecdsa::SigningKey {
    jwk_signing_key("trustee-rak-priv.json")
}

/// A P-384 key derived from a label, for a realm key that is not the example's.
fn derived_p384(label: &str) -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_slice(&sha2::Sha384::digest(label.as_bytes())).unwrap()
}

fn point(key: &p384::ecdsa::SigningKey) -> Vec<u8> {
    key.verifying_key().to_encoded_point(false).as_bytes().to_vec()
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

/// The claims maps of the example token, as editable CBOR.
struct Claims {
    platform: Vec<(Value, Value)>,
    realm: Vec<(Value, Value)>,
}

impl Claims {
    fn example() -> Self {
        let t = parse_token(&token()).unwrap();
        let map = |payload: &[u8]| match ciborium::de::from_reader::<Value, _>(payload).unwrap() {
            Value::Map(m) => m,
            other => panic!("payload is not a map: {other:?}"),
        };
        Claims { platform: map(t.platform.payload()), realm: map(t.realm.payload()) }
    }
}

fn set(map: &mut Vec<(Value, Value)>, key: u64, value: Value) {
    match map.iter_mut().find(|(k, _)| *k == Value::from(key)) {
        Some(entry) => entry.1 = value,
        None => map.push((Value::from(key), value)),
    }
}

fn remove(map: &mut Vec<(Value, Value)>, key: u64) {
    map.retain(|(k, _)| *k != Value::from(key));
}

/// Tagged COSE_Sign1 bytes of `payload` signed by `sign` under `alg`.
fn sign1(alg: iana::Algorithm, payload: Vec<u8>, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(alg).build())
        .payload(payload)
        .create_signature(&[], sign)
        .build()
        .to_tagged_vec()
        .unwrap()
}

fn es384(key: &p384::ecdsa::SigningKey) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
    move |tbs| {
        let sig: p384::ecdsa::Signature = key.sign(tbs);
        sig.to_bytes().to_vec()
    }
}

fn collection(platform: Value, realm: Value) -> Vec<u8> {
    encode(&Value::Tag(399, Box::new(Value::Map(vec![(PLATFORM.into(), platform), (REALM.into(), realm)]))))
}

/// Sign both claim maps (platform with the CPAK, realm with `realm_key`) and
/// wrap each token in a byte string, as the example token is.
fn build(claims: &Claims, realm_key: &p384::ecdsa::SigningKey) -> Vec<u8> {
    let platform = sign1(iana::Algorithm::ES384, encode(&Value::Map(claims.platform.clone())), es384(&cpak()));
    let realm = sign1(iana::Algorithm::ES384, encode(&Value::Map(claims.realm.clone())), es384(realm_key));
    collection(Value::Bytes(platform), Value::Bytes(realm))
}

/// Bind the platform challenge to the realm's encoded public key with SHA-256.
fn bind(claims: &mut Claims, encoded_rak: &[u8]) {
    set(&mut claims.platform, 10, Value::Bytes(sha2::Sha256::digest(encoded_rak).to_vec()));
}

#[test]
fn kbs_protocol_shape_with_a_fresh_challenge_verifies() {
    let tee_pubkey = serde_json::json!({
        "kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
        "x": "Y6pzbVY1ZIaRCbsw8Uu5gT2F7ds-IRi4wg8oHcTFKNU",
        "y": "P0S-SQe9zkiNRVqK00qYgJ0lPJPt-9BZL-2ArnDYsoU"
    });
    let digest =
        runtime_data_digest(crate::binding::HashAlgorithm::Sha384, "Zm9yIGEgdGVzdA==", &tee_pubkey, "").unwrap();
    let challenge = report_data_for(Tee::Cca, &digest);
    assert_eq!(challenge.len(), 64);

    let mut claims = Claims::example();
    set(&mut claims.realm, 10, Value::Bytes(challenge.clone()));
    bind(&mut claims, &point(&rak()));
    let t = build(&claims, &rak());
    assert_ne!(t, token());

    let mut o = options();
    o.report_data = Some(digest.clone());
    o.init_data_digest = Some(vec![0; 32]);
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let verified = verify_raw(&t, &e, &o).unwrap();
    assert_eq!(verified.report_data, hex::encode(&challenge));
    assert_eq!(verified.platform.challenge, "b5973cb68baa9fc55558786b7ec67f69e40df5ba5aa921cd0c27f40587a011ea");
    assert!(verified.reference_values.unwrap().matched);

    // Another nonce gives another digest, which this token does not carry.
    let other = runtime_data_digest(crate::binding::HashAlgorithm::Sha384, "b3RoZXI=", &tee_pubkey, "").unwrap();
    o.report_data = Some(other);
    let err = verify_raw(&t, &e, &o).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "report data"), "{err}");

    // The same JSON evidence the guest sends.
    let json = serde_json::to_vec(&serde_json::json!({ "token": t })).unwrap();
    o.report_data = Some(digest);
    verify(&crate::Evidence::detect(&json), &e, &o).unwrap();
}

#[test]
fn a_new_rak_bound_by_a_new_platform_challenge_verifies() {
    let new_rak = derived_p384("arca cca realm key");
    let mut claims = Claims::example();
    set(&mut claims.realm, 44237, Value::Bytes(point(&new_rak)));
    bind(&mut claims, &point(&new_rak));
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let verified = verify_raw(&build(&claims, &new_rak), &e, &options()).unwrap();
    assert_eq!(verified.realm.public_key, hex::encode(point(&new_rak)));
    assert_eq!(verified.platform.challenge, hex::encode(sha2::Sha256::digest(point(&new_rak))));

    // SHA-512 as the RAK hash algorithm: the platform challenge is 64 bytes.
    set(&mut claims.realm, 44240, Value::Text("sha-512".into()));
    set(&mut claims.platform, 10, Value::Bytes(sha2::Sha512::digest(point(&new_rak)).to_vec()));
    let verified = verify_raw(&build(&claims, &new_rak), &endorsements(Some(tastore()), None), &options()).unwrap();
    assert_eq!(verified.realm.public_key_hash_algo, "sha-512");
}

#[test]
fn a_rak_not_bound_by_the_platform_challenge_is_rejected() {
    let new_rak = derived_p384("arca cca unbound realm key");
    let mut claims = Claims::example();
    set(&mut claims.realm, 44237, Value::Bytes(point(&new_rak)));
    // The platform challenge still names the example RAK.
    let err = verify_raw(&build(&claims, &new_rak), &endorsements(Some(tastore()), None), &options()).unwrap_err();
    match &err {
        Error::Mismatch { what, expected, found } => {
            assert!(what.starts_with("CCA RAK binding"), "{what}");
            assert_eq!(*expected, hex::encode(sha2::Sha256::digest(point(&new_rak))));
            assert_eq!(found, "b5973cb68baa9fc55558786b7ec67f69e40df5ba5aa921cd0c27f40587a011ea");
        }
        other => panic!("expected a RAK binding mismatch, got {other}"),
    }
}

#[test]
fn a_realm_token_signed_by_another_key_is_a_bad_signature() {
    let claims = Claims::example();
    let err = verify_raw(&build(&claims, &cpak()), &endorsements(Some(tastore()), None), &options()).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "CCA realm token"), "{err}");
}

#[test]
fn only_the_secured_lifecycle_is_accepted() {
    let e = endorsements(Some(tastore()), None);
    let mut claims = Claims::example();
    set(&mut claims.platform, 2395, Value::from(0x30ffu64));
    verify_raw(&build(&claims, &rak()), &e, &options()).unwrap();
    for (raw, name) in
        [(0x4003u64, "non-cca-platform-debug"), (0x2000, "cca-platform-rot-provisioning"), (0x6001, "decommissioned")]
    {
        set(&mut claims.platform, 2395, Value::from(raw));
        let err = verify_raw(&build(&claims, &rak()), &e, &options()).unwrap_err();
        assert!(
            matches!(&err, Error::Mismatch { what, found, .. } if what == "CCA platform lifecycle" && found.contains(name)),
            "{raw:#x}: {err}"
        );
    }
    set(&mut claims.platform, 2395, Value::from(0x1_0000u64));
    let err = parse_token(&build(&claims, &rak())).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
}

#[test]
fn a_rak_encoded_as_cose_key_verifies() {
    let p = rak().verifying_key().to_encoded_point(false);
    let cose_key =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_384, p.x().unwrap().to_vec(), p.y().unwrap().to_vec())
            .build()
            .to_vec()
            .unwrap();
    let mut claims = Claims::example();
    set(&mut claims.realm, 44237, Value::Bytes(cose_key.clone()));
    bind(&mut claims, &cose_key);
    let verified = verify_raw(&build(&claims, &rak()), &endorsements(Some(tastore()), None), &options()).unwrap();
    assert_eq!(verified.realm.public_key, hex::encode(&cose_key));
}

#[test]
fn tokens_not_wrapped_in_byte_strings_and_cmw_records_verify() {
    let claims = Claims::example();
    let platform = sign1(iana::Algorithm::ES384, encode(&Value::Map(claims.platform.clone())), es384(&cpak()));
    let realm = sign1(iana::Algorithm::ES384, encode(&Value::Map(claims.realm.clone())), es384(&rak()));
    let as_value = |bytes: &[u8]| ciborium::de::from_reader::<Value, _>(bytes).unwrap();
    let e = endorsements(Some(tastore()), Some(rvstore()));
    // The COSE_Sign1 (tag 18) directly as the collection member.
    verify_raw(&collection(as_value(&platform), as_value(&realm)), &e, &options()).unwrap();
    // A CMW record `[type, bytes]`.
    let record = |bytes: Vec<u8>| Value::Array(vec![Value::Text("application/eat+cwt".into()), Value::Bytes(bytes)]);
    verify_raw(&collection(record(platform), record(realm)), &e, &options()).unwrap();
}

#[test]
fn es256_with_a_p256_realm_key_verifies() {
    let key = p256::ecdsa::SigningKey::from_slice(&sha2::Sha256::digest(b"arca cca p-256 realm key")).unwrap();
    let encoded = key.verifying_key().to_encoded_point(false).as_bytes().to_vec();
    assert_eq!(encoded.len(), 65);
    let mut claims = Claims::example();
    set(&mut claims.realm, 44237, Value::Bytes(encoded.clone()));
    bind(&mut claims, &encoded);
    let platform = sign1(iana::Algorithm::ES384, encode(&Value::Map(claims.platform.clone())), es384(&cpak()));
    let realm = sign1(iana::Algorithm::ES256, encode(&Value::Map(claims.realm.clone())), |tbs| {
        let sig: p256::ecdsa::Signature = key.sign(tbs);
        sig.to_bytes().to_vec()
    });
    let t = collection(Value::Bytes(platform), Value::Bytes(realm));
    let verified = verify_raw(&t, &endorsements(Some(tastore()), None), &options()).unwrap();
    assert_eq!(verified.realm.signature_algorithm, CoseAlgorithm::Es256);
}

#[test]
fn algorithm_and_key_must_agree_and_unsupported_algorithms_are_named() {
    let claims = Claims::example();
    let platform = sign1(iana::Algorithm::ES384, encode(&Value::Map(claims.platform.clone())), es384(&cpak()));
    let realm_payload = encode(&Value::Map(claims.realm.clone()));
    // ES256 in the header, but the RAK is a P-384 key.
    let realm = sign1(iana::Algorithm::ES256, realm_payload.clone(), es384(&rak()));
    let t = collection(Value::Bytes(platform.clone()), Value::Bytes(realm));
    let err = verify_raw(&t, &endorsements(Some(tastore()), None), &options()).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "CCA realm token key type"), "{err}");

    let realm = sign1(iana::Algorithm::ES512, realm_payload.clone(), es384(&rak()));
    let err = parse_token(&collection(Value::Bytes(platform.clone()), Value::Bytes(realm))).unwrap_err();
    assert!(matches!(err, Error::Unsupported { what: "COSE signature algorithm", .. }), "{err}");

    // A critical header this verifier does not understand.
    let realm = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new().algorithm(iana::Algorithm::ES384).add_critical(iana::HeaderParameter::Kid).build(),
        )
        .payload(realm_payload.clone())
        .create_signature(&[], es384(&rak()))
        .build()
        .to_tagged_vec()
        .unwrap();
    let err = parse_token(&collection(Value::Bytes(platform.clone()), Value::Bytes(realm))).unwrap_err();
    assert!(matches!(err, Error::Unsupported { what: "COSE critical header", .. }), "{err}");

    // A detached payload.
    let realm = CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(iana::Algorithm::ES384).build())
        .signature(vec![0; 96])
        .build()
        .to_tagged_vec()
        .unwrap();
    let err = parse_token(&collection(Value::Bytes(platform), Value::Bytes(realm))).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
}

#[test]
fn malformed_claims_are_rejected() {
    type Edit = fn(&mut Claims);
    let cases: [(&str, Edit); 9] = [
        ("missing lifecycle", |c| remove(&mut c.platform, 2395)),
        ("missing realm challenge", |c| remove(&mut c.realm, 10)),
        ("duplicate config", |c| c.platform.push((Value::from(2401u64), Value::Bytes(vec![1])))),
        ("challenge as text", |c| set(&mut c.realm, 10, Value::Text("x".into()))),
        ("short personalization value", |c| set(&mut c.realm, 44235, Value::Bytes(vec![0; 32]))),
        ("three REMs", |c| set(&mut c.realm, 44239, Value::Array(vec![Value::Bytes(vec![0; 64]); 3]))),
        ("instance id not a RAND UEID", |c| set(&mut c.platform, 256, Value::Bytes(vec![2; 33]))),
        ("no software components", |c| set(&mut c.platform, 2399, Value::Array(vec![]))),
        ("component without measurement", |c| {
            set(&mut c.platform, 2399, Value::Array(vec![Value::Map(vec![(Value::from(5u64), Value::Bytes(vec![1]))])]))
        }),
    ];
    for (name, edit) in cases {
        let mut claims = Claims::example();
        edit(&mut claims);
        let err = parse_token(&build(&claims, &rak())).unwrap_err();
        assert!(matches!(err, Error::MalformedField { .. }), "{name}: {err}");
    }
}
