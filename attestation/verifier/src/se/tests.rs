//! End-to-end tests of SE verification.
//!
//! No Secure Execution hardware output exists among the vectors, so the
//! responses here are made the way the Ultravisor makes them: the test
//! computes the HMAC itself, with the `hmac` crate directly over fields it
//! lays out by hand (header tags copied from their offsets in the header
//! bytes), keyed with the measurement key the real ARCB vector carries.

use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::{Digest, Sha256, Sha512};
use time::macros::datetime;

use super::exchange::ExchangeResponse;
use super::*;
use crate::binding::{runtime_data_digest, HashAlgorithm};
use crate::test_support::read_vector;
use crate::x509::Certificate;
use crate::{Claims, EvidenceFormat, Tee};

const HDR: &str = "attestation/se/s390tools-secure-guest-v1.hdr";
const ARCB: &str = "attestation/se/s390tools-arcb-hmacsha512.bin";
const CUID: [u8; 16] = [0x3c; 16];

fn b64e(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn options() -> VerifyOptions {
    VerifyOptions::at(datetime!(2026-11-29 12:00 UTC))
}

fn digest() -> Vec<u8> {
    let key = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB"});
    runtime_data_digest(HashAlgorithm::Sha512, "kbs-nonce", &key, "").unwrap()
}

fn user_data() -> Vec<u8> {
    let mut u = digest();
    u.extend_from_slice(&[0x5a; 16]);
    u
}

/// HMAC-SHA512 over the measured items, laid out by hand.
fn independent_measurement(key: &[u8], user: &[u8], nonce: Option<&[u8]>, additional: &[u8]) -> Vec<u8> {
    let hdr = read_vector(HDR);
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
    mac.update(&hdr[0xe0..0x1a0]); // PLD, ALD, TLD
    mac.update(&hdr[hdr.len() - 16..]); // header tag
    mac.update(&CUID);
    mac.update(&(user.len() as u16).to_be_bytes());
    mac.update(&[0, 0]);
    mac.update(&(additional.len() as u32).to_be_bytes());
    mac.update(user);
    if let Some(n) = nonce {
        mac.update(n);
    }
    mac.update(additional);
    mac.finalize().into_bytes().to_vec()
}

/// PHKH of a host-key certificate, from its SEC1 point bytes.
fn phkh_of(cert_file: &str) -> [u8; 32] {
    let cert = Certificate::from_pem_or_der(&read_vector(cert_file)).unwrap();
    let point = cert.inner().tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
    assert_eq!(point.len(), 133);
    let mut coords = vec![0u8; 14];
    coords.extend_from_slice(&point[1..67]);
    coords.extend_from_slice(&[0u8; 14]);
    coords.extend_from_slice(&point[67..]);
    Sha256::digest(&coords).into()
}

fn raw_response(additional: &[u8]) -> Vec<u8> {
    let user = user_data();
    ExchangeResponse {
        arcb: read_vector(ARCB),
        measurement: independent_measurement(&[0x77; 64], &user, Some(&[0xab; 16]), additional),
        additional: Some(additional.to_vec()),
        user_data: Some(user),
        config_uid: CUID,
    }
    .to_bytes()
}

fn endorse(config: serde_json::Value) -> Endorsements {
    Endorsements { collateral: Some(config.to_string().into_bytes()), ..Default::default() }
}

fn protection_key_config() -> serde_json::Value {
    serde_json::json!({"se_header": b64e(&read_vector(HDR)), "request_protection_key": b64e(&[0x17; 32])})
}

fn raw(bytes: &[u8]) -> Evidence<'_> {
    Evidence { bytes, format: EvidenceFormat::Raw }
}

/// Additional data for the ARCB's flags: image PHKH (the SE header's key
/// slot, read at its offset) and attestation PHKH.
fn additional() -> Vec<u8> {
    let mut a = read_vector(HDR)[0x1a0..0x1c0].to_vec();
    a.extend_from_slice(&[0x42; 32]);
    a
}

#[test]
fn exchange_response_verifies_with_the_protection_key() {
    let evidence = raw_response(&additional());
    let mut opts = options();
    opts.report_data = Some(digest());
    let claims = verify(&raw(&evidence), &endorse(protection_key_config()), &opts).unwrap();
    assert_eq!(claims.cuid, hex::encode(CUID));
    assert_eq!(claims.tag, "92309d4589b9a85b427f8753171d1520");
    assert!(claims.pld.starts_with("be94b5ea"));
    assert_eq!(claims.image_phkh.as_deref(), Some(&hex::encode(&read_vector(HDR)[0x1a0..0x1c0])[..]));
    assert_eq!(claims.attestation_phkh.as_deref(), Some(&hex::encode([0x42; 32])[..]));
    assert_eq!(claims.nonce.as_deref(), Some(&hex::encode([0xab; 16])[..]));
    assert_eq!(claims.report_data, hex::encode(digest()));
    assert_eq!(claims.user_data, hex::encode(user_data()));
    assert_eq!(claims.init_data, "");
    assert!(claims.measurement_verified);
    assert!(!claims.host_key_verified);

    // Through the crate entry point, as one claims document.
    let claims =
        crate::verify(Tee::Se, &Evidence::detect(&evidence), &endorse(protection_key_config()), &opts).unwrap();
    assert!(matches!(claims, Claims::Se(_)));
    let json = claims.to_json();
    assert_eq!(json["tee"], "se");
    assert_eq!(json["report_data"], hex::encode(digest()));
    assert_eq!(json["init_data"], "");
}

#[test]
fn exchange_response_verifies_with_customer_key_and_host_key() {
    let evidence = raw_response(&additional());
    let config = serde_json::json!({
        "se_header": b64e(&read_vector(HDR)),
        "customer_private_key": b64e(&read_vector("attestation/se/s390tools-keys-private_cust.bin")),
        "host_key_documents": [b64e(&read_vector("attestation/se/s390tools-keys-host.pem.crt"))],
    });
    let claims = verify(&raw(&evidence), &endorse(config), &options()).unwrap();
    assert_eq!(claims.cuid, hex::encode(CUID));
    // Without roots the host key only unwraps; the wrong one cannot.
    let config = serde_json::json!({
        "se_header": b64e(&read_vector(HDR)),
        "customer_private_key": b64e(&read_vector("attestation/se/s390tools-keys-private_cust.bin")),
        "host_key_documents": [b64e(&read_vector("attestation/se/pki/host.crt"))],
    });
    let err = verify(&raw(&evidence), &endorse(config), &options()).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
}

#[test]
fn tampered_responses_fail_the_measurement() {
    let good = raw_response(&additional());
    let parsed = exchange::parse_exchange_response(&good).unwrap();
    let mut variants = Vec::new();
    let mut m = parsed.clone();
    m.measurement[0] ^= 1;
    variants.push(("measurement", m));
    let mut u = parsed.clone();
    if let Some(u) = u.user_data.as_mut() {
        u[70] ^= 1;
    }
    variants.push(("user data", u));
    let mut c = parsed.clone();
    c.config_uid[15] ^= 1;
    variants.push(("cuid", c));
    let mut a = parsed.clone();
    if let Some(a) = a.additional.as_mut() {
        a[0] ^= 1;
    }
    variants.push(("additional data", a));
    for (name, v) in variants {
        let bytes = v.to_bytes();
        let err = verify(&raw(&bytes), &endorse(protection_key_config()), &options()).unwrap_err();
        match err {
            Error::Mismatch { what, .. } => assert!(what.contains("measurement"), "{name}: {what}"),
            other => panic!("{name}: unexpected {other}"),
        }
    }
    // A different image (header tag changed) gives a different measurement.
    let mut hdr = read_vector(HDR);
    hdr[639] ^= 1;
    let config = serde_json::json!({"se_header": b64e(&hdr), "request_protection_key": b64e(&[0x17; 32])});
    let err = verify(&raw(&good), &endorse(config), &options()).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    // A wrong protection key does not open the ARCB.
    let config = serde_json::json!({"se_header": b64e(&read_vector(HDR)), "request_protection_key": b64e(&[0x18; 32])});
    let err = verify(&raw(&good), &endorse(config), &options()).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
}

#[test]
fn image_host_key_must_be_one_the_image_was_built_for() {
    // Correctly measured, but the image host-key hash names no key slot of the header.
    let evidence = raw_response(&[0x42; 64]);
    let err = verify(&raw(&evidence), &endorse(protection_key_config()), &options()).unwrap_err();
    match err {
        Error::Mismatch { what, .. } => assert!(what.starts_with("SE image public host-key hash"), "{what}"),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn report_data_is_bound_and_init_data_refused() {
    let evidence = raw_response(&additional());
    let mut opts = options();
    opts.report_data = Some(vec![0x11; 64]);
    let err = verify(&raw(&evidence), &endorse(protection_key_config()), &opts).unwrap_err();
    match err {
        Error::Mismatch { what, .. } => assert_eq!(what, "report data"),
        other => panic!("unexpected {other}"),
    }
    let mut opts = options();
    opts.init_data_digest = Some(vec![0; 32]);
    let err = verify(&raw(&evidence), &endorse(protection_key_config()), &opts).unwrap_err();
    assert!(matches!(err, Error::Unsupported { what: "init-data binding", .. }), "{err}");
}

#[test]
fn missing_or_wrong_configuration_is_reported() {
    let evidence = raw_response(&additional());
    let err = verify(&raw(&evidence), &Endorsements::default(), &options()).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
    let no_key = serde_json::json!({"se_header": b64e(&read_vector(HDR))});
    let err = verify(&raw(&evidence), &endorse(no_key), &options()).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
    let no_header = serde_json::json!({"request_protection_key": b64e(&[0x17; 32])});
    let err = verify(&raw(&evidence), &endorse(no_header), &options()).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
    let unknown = serde_json::json!({"se_header_path": "/run/hdr.bin"});
    let err = verify(&raw(&evidence), &endorse(unknown), &options()).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
    let bad_b64 = serde_json::json!({"se_header": "%%%", "request_protection_key": b64e(&[0x17; 32])});
    let err = verify(&raw(&evidence), &endorse(bad_b64), &options()).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
    // The response answers another ARCB than the one configured.
    let mut other_arcb = read_vector(ARCB);
    other_arcb[0x1f] ^= 1;
    let mut config = protection_key_config();
    config["arcb"] = serde_json::Value::String(b64e(&other_arcb));
    let err = verify(&raw(&evidence), &endorse(config), &options()).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    let mut config = protection_key_config();
    config["arcb"] = serde_json::Value::String(b64e(&read_vector(ARCB)));
    verify(&raw(&evidence), &endorse(config), &options()).unwrap();
    // A request is not evidence.
    let request = read_vector("attestation/se/exchange/min_req.bin");
    let err = verify(&raw(&request), &endorse(protection_key_config()), &options()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
}

fn json_evidence(additional: &[u8], tags: Option<Vec<u8>>) -> Vec<u8> {
    let user = user_data();
    let mut doc = serde_json::json!({
        "measurement": b64e(&independent_measurement(&[0x77; 64], &user, Some(&[0xab; 16]), additional)),
        "additional_data": b64e(additional),
        "user_data": b64e(&user),
        "cuid": b64e(&CUID),
        "encr_measurement_key": b64e(&[1; 256]),
        "encr_request_nonce": b64e(&[2; 256]),
    });
    if let Some(t) = tags {
        doc["image_hdr_tags"] = serde_json::Value::String(b64e(&t));
    }
    doc.to_string().into_bytes()
}

fn key_config() -> serde_json::Value {
    serde_json::json!({"measurement_key": b64e(&[0x77; 64]), "nonce": b64e(&[0xab; 16])})
}

fn header_tags_bytes() -> Vec<u8> {
    let hdr = read_vector(HDR);
    let mut t = hdr[0xe0..0x1a0].to_vec();
    t.extend_from_slice(&hdr[hdr.len() - 16..]);
    t
}

#[test]
fn trustee_json_response_verifies() {
    let mut config = key_config();
    config["se_header"] = serde_json::Value::String(b64e(&read_vector(HDR)));
    // Header from the configuration.
    let e = json_evidence(&additional(), None);
    let claims = verify(&Evidence::detect(&e), &endorse(config.clone()), &options()).unwrap();
    assert_eq!(claims.tag, "92309d4589b9a85b427f8753171d1520");
    // Tags in the evidence equal to the configured header.
    let e = json_evidence(&additional(), Some(header_tags_bytes()));
    verify(&Evidence::detect(&e), &endorse(config.clone()), &options()).unwrap();
    // Tags only in the evidence.
    let claims = verify(&Evidence::detect(&e), &endorse(key_config()), &options()).unwrap();
    assert_eq!(claims.tag, "92309d4589b9a85b427f8753171d1520");
    // Tags in the evidence that differ from the configured image.
    let mut other = header_tags_bytes();
    other[0] ^= 1;
    let e = json_evidence(&additional(), Some(other.clone()));
    let err = verify(&Evidence::detect(&e), &endorse(config), &options()).unwrap_err();
    match err {
        Error::Mismatch { what, .. } => assert!(what.contains("header tags"), "{what}"),
        other => panic!("unexpected {other}"),
    }
    // The measurement binds the tags the evidence names.
    let err = verify(&Evidence::detect(&e), &endorse(key_config()), &options()).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    // No tags anywhere.
    let e = json_evidence(&additional(), None);
    assert!(matches!(
        verify(&Evidence::detect(&e), &endorse(key_config()), &options()),
        Err(Error::MissingEndorsement(_))
    ));
    // Not the trustee shape.
    let err = verify(&Evidence::detect(b"{\"measurement\": 1}"), &endorse(key_config()), &options()).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
}

#[test]
fn trustee_json_response_verifies_with_a_configured_arcb() {
    let config = serde_json::json!({
        "se_header": b64e(&read_vector(HDR)),
        "arcb": b64e(&read_vector(ARCB)),
        "request_protection_key": b64e(&[0x17; 32]),
    });
    let e = json_evidence(&additional(), None);
    let claims = verify(&Evidence::detect(&e), &endorse(config), &options()).unwrap();
    assert_eq!(claims.nonce.as_deref(), Some(&hex::encode([0xab; 16])[..]));
    // The ARCB asks for both host-key hashes: 63 bytes of additional data cannot hold them.
    let config = serde_json::json!({
        "se_header": b64e(&read_vector(HDR)),
        "arcb": b64e(&read_vector(ARCB)),
        "request_protection_key": b64e(&[0x17; 32]),
    });
    let e = json_evidence(&additional()[..63], None);
    let err = verify(&Evidence::detect(&e), &endorse(config), &options()).unwrap_err();
    assert!(matches!(err, Error::Malformed { what: "SE additional data", .. }), "{err}");
}

#[test]
fn trustee_json_fields_are_decoded_and_checked() {
    let e = json_evidence(&additional(), Some(header_tags_bytes()));
    let parsed = parse_evidence_json(&e).unwrap();
    assert_eq!(parsed.config_uid, CUID);
    assert_eq!(parsed.user_data, user_data());
    assert_eq!(parsed.additional, additional());
    assert_eq!(parsed.measurement.len(), 64);
    assert!(parsed.arcb.is_none());
    assert_eq!(parsed.header_tags.unwrap().to_bytes(), header_tags_bytes());
    assert_eq!(parse_evidence(&Evidence::detect(&e)).unwrap(), parsed);
    let doc: serde_json::Value = serde_json::from_slice(&e).unwrap();
    let mut short_cuid = doc.clone();
    short_cuid["cuid"] = b64e(&[0; 15]).into();
    match parse_evidence_json(short_cuid.to_string().as_bytes()) {
        Err(Error::MalformedField { field, .. }) => assert_eq!(field, "cuid"),
        other => panic!("unexpected {other:?}"),
    }
    let mut short_tags = doc.clone();
    short_tags["image_hdr_tags"] = b64e(&header_tags_bytes()[1..]).into();
    assert!(matches!(parse_evidence_json(short_tags.to_string().as_bytes()), Err(Error::Malformed { .. })));
    let mut no_measurement = doc.clone();
    no_measurement.as_object_mut().unwrap().remove("measurement");
    assert!(matches!(parse_evidence_json(no_measurement.to_string().as_bytes()), Err(Error::MalformedField { .. })));
    let mut bad_b64 = doc;
    bad_b64["user_data"] = "not base64!".into();
    match parse_evidence_json(bad_b64.to_string().as_bytes()) {
        Err(Error::MalformedField { field, .. }) => assert_eq!(field, "user_data"),
        other => panic!("unexpected {other:?}"),
    }
}

fn pki(name: &str) -> String {
    b64e(&read_vector(&format!("attestation/se/pki/{name}")))
}

fn hkd_config(hkds: &[&str]) -> serde_json::Value {
    let mut c = key_config();
    c["root_certificates"] = serde_json::json!([pki("root_ca.chained.crt")]);
    c["certificates"] = serde_json::json!([pki("inter_ca.crt"), pki("ibm.crt")]);
    c["crls"] = serde_json::json!([pki("ibm.crl"), pki("inter_ca.crl")]);
    c["host_key_documents"] = serde_json::Value::Array(hkds.iter().map(|h| pki(h).into()).collect());
    c
}

#[test]
fn host_key_hashes_are_bound_to_verified_host_key_documents() {
    let mut additional = phkh_of("attestation/se/pki/host2.crt").to_vec();
    additional.extend_from_slice(&phkh_of("attestation/se/pki/host.crt"));
    let e = json_evidence(&additional, Some(header_tags_bytes()));
    let claims = verify(&Evidence::detect(&e), &endorse(hkd_config(&["host.crt", "host2.crt"])), &options()).unwrap();
    assert!(claims.host_key_verified);
    assert_eq!(claims.attestation_phkh, Some(hex::encode(phkh_of("attestation/se/pki/host.crt"))));
    // The attestation was answered by a host that is not configured.
    let err = verify(&Evidence::detect(&e), &endorse(hkd_config(&["host2.crt"])), &options()).unwrap_err();
    match err {
        Error::Mismatch { what, .. } => assert_eq!(what, "SE attestation public host-key hash"),
        other => panic!("unexpected {other}"),
    }
    // Host-key documents that do not verify are refused.
    let err =
        verify(&Evidence::detect(&e), &endorse(hkd_config(&["host.crt", "host_rev.crt"])), &options()).unwrap_err();
    assert!(matches!(err, Error::Revoked { .. }), "{err}");
    let err = verify(&Evidence::detect(&e), &endorse(hkd_config(&["host_crt_expired.crt"])), &options()).unwrap_err();
    assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    let mut no_hkd = hkd_config(&[]);
    no_hkd["host_key_documents"] = serde_json::json!([]);
    let err = verify(&Evidence::detect(&e), &endorse(no_hkd), &options()).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse_header(&bytes);
        let _ = find_header(&bytes);
        let _ = parse_arcb(&bytes);
        let _ = parse_exchange(&bytes);
        let _ = parse_exchange_response(&bytes);
        let _ = header::HeaderTags::from_bytes(&bytes);
        let _ = response::parse_additional_data(&bytes, arcb::AttestationFlags(u64::MAX));
        let _ = parse_evidence_json(&bytes);
        let _ = parse_config(&bytes);
    }

    #[test]
    fn json_parsers_never_panic(text in "\\PC{0,200}", field in 0usize..4) {
        let _ = parse_config(text.as_bytes());
        let _ = parse_evidence_json(text.as_bytes());
        let names = ["measurement", "additional_data", "user_data", "cuid"];
        let mut doc = serde_json::json!({"measurement": "", "additional_data": "", "user_data": "", "cuid": ""});
        doc[names[field]] = serde_json::Value::String(text.clone());
        let _ = parse_evidence_json(doc.to_string().as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_mutated_vectors(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let name = ["s390tools-secure-guest-v1.hdr", "s390tools-arcb-hmacsha512.bin", "exchange/full_resp.bin", "exchange/full_req.bin"][which];
        let mut bytes = read_vector(&format!("attestation/se/{name}"));
        for (at, value) in edits {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = parse_header(&bytes);
        let _ = find_header(&bytes);
        if let Ok(a) = parse_arcb(&bytes) {
            let _ = a.decrypt(&[0x17; 32]);
        }
        let _ = parse_exchange(&bytes);
        let _ = verify(&Evidence { bytes: &bytes, format: EvidenceFormat::Raw }, &endorse(protection_key_config()), &options());
    }
}
