//! Tests against the upstream example token and stores (read in place).

use base64::Engine;
use proptest::prelude::*;
use time::macros::datetime;

use super::*;
use crate::test_support::read_vector;
use crate::{Claims, Evidence, Tee};

pub(super) fn token() -> Vec<u8> {
    read_vector("attestation/cca/trustee-cca-example-token.cbor")
}

pub(super) fn tastore() -> Vec<u8> {
    read_vector("attestation/cca/trustee-tastore.json")
}

pub(super) fn rvstore() -> Vec<u8> {
    read_vector("attestation/cca/trustee-rvstore.json")
}

pub(super) fn options() -> VerifyOptions {
    VerifyOptions::at(datetime!(2026-11-29 12:00 UTC))
}

pub(super) fn endorsements(chain: Option<Vec<u8>>, collateral: Option<Vec<u8>>) -> Endorsements {
    Endorsements { vcek: None, chain, collateral }
}

pub(super) fn verify_raw(token: &[u8], e: &Endorsements, o: &VerifyOptions) -> Result<CcaClaims> {
    verify(&Evidence { bytes: token, format: EvidenceFormat::Raw }, e, o)
}

/// Position of `needle` in `haystack`; it must occur exactly once.
pub(super) fn find_once(haystack: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> =
        haystack.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "expected one occurrence of {}", hex::encode(needle));
    hits[0]
}

const PLATFORM_CHALLENGE: &str = "b5973cb68baa9fc55558786b7ec67f69e40df5ba5aa921cd0c27f40587a011ea";
const IMPLEMENTATION_ID: &str = "7f454c4602010100000000000000000003003e00010000005058000000000000";
const INSTANCE_ID: &str = "0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918";
const REALM_CHALLENGE: &str = "57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96";
const RIM: &str = "ae87fbf7f105e71a7827cb6f0896889c73d2beaf4830d4f9cb05e3e96c3fc7b4faa04caf36a26bd094cf9c7b738617e4c189aaee184dedda5d7a03c39dbdac7c";
const COMPONENTS: [&str; 13] = [
    "RSE_BL1_2",
    "RSE_BL2",
    "RSE_S",
    "AP_BL1",
    "AP_BL2",
    "SCP_BL1",
    "SCP_BL2",
    "AP_BL31",
    "RMM",
    "HW_CONFIG",
    "FW_CONFIG",
    "TB_FW_CONFIG",
    "SOC_FW_CONFIG",
];

#[test]
fn parses_every_documented_fact_of_the_example_token() {
    let t = parse_token(&token()).unwrap();
    assert_eq!(t.platform.alg, CoseAlgorithm::Es384);
    assert_eq!(t.realm.alg, CoseAlgorithm::Es384);
    let p = &t.platform.claims;
    assert_eq!(p.profile, "http://arm.com/CCA-SSD/1.0.0");
    assert_eq!(hex::encode(&p.challenge), PLATFORM_CHALLENGE);
    assert_eq!(hex::encode(&p.implementation_id), IMPLEMENTATION_ID);
    assert_eq!(hex::encode(&p.instance_id), INSTANCE_ID);
    assert_eq!(hex::encode(&p.config), "cfcfcfcf");
    assert_eq!(p.lifecycle, 0x3003);
    assert_eq!(lifecycle_name(p.lifecycle), "secured");
    assert_eq!(p.hash_algo, "sha-256");
    assert_eq!(p.verification_service.as_deref(), Some("https://veraison.example/.well-known/veraison/verification"));
    let names: Vec<&str> = p.sw_components.iter().map(|c| c.component_type.as_deref().unwrap()).collect();
    assert_eq!(names, COMPONENTS);
    for c in &p.sw_components {
        assert_eq!(c.measurement.len(), 32);
        assert_eq!(c.signer_id.len(), 32);
        assert_eq!(c.hash_algo.as_deref(), Some("sha-256"));
        assert_eq!(c.version, None);
    }
    let r = &t.realm.claims;
    assert_eq!(hex::encode(&r.challenge), REALM_CHALLENGE);
    assert_eq!(r.personalization_value, vec![0u8; 64]);
    assert_eq!(hex::encode(&r.rim), RIM);
    for rem in &r.rems {
        assert_eq!(rem, &vec![0u8; 64]);
    }
    assert_eq!(r.hash_algo, "sha-512");
    assert_eq!(r.public_key_hash_algo, "sha-256");
    assert_eq!(r.public_key.len(), 97);
    assert!(hex::encode(&r.public_key).starts_with("0476f98809"));
    assert_eq!(r.profile, None);
}

#[test]
fn example_token_verifies_with_both_stores() {
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let claims = verify_raw(&token(), &e, &options()).unwrap();
    assert_eq!(claims.report_data, REALM_CHALLENGE);
    assert_eq!(claims.init_data, "00".repeat(64));
    assert_eq!(claims.platform.lifecycle.raw, 0x3003);
    assert_eq!(claims.platform.lifecycle.name, "secured");
    assert_eq!(claims.platform.config, "cfcfcfcf");
    assert_eq!(claims.platform.sw_components.len(), 13);
    assert_eq!(claims.realm.rim, RIM);
    assert_eq!(claims.realm.rems, vec!["00".repeat(64); 4]);
    let rv = claims.reference_values.as_ref().unwrap();
    assert!(rv.matched);
    assert!(rv.mismatches.is_empty());
    assert_eq!((rv.platform_entry, rv.realm_entry), (Some(0), Some(0)));
    // implementation id + config + 13 × (measurement, signer id) + RIM + 4 REMs + PV + RAK hash algorithm.
    assert_eq!(rv.checked.len(), 2 + 26 + 1 + 4 + 1 + 1);
    assert!(rv.checked.contains(&"platform sw component RMM signer id".to_string()));

    let json = Claims::Cca(claims).to_json();
    assert_eq!(json["tee"], "cca");
    assert_eq!(json["report_data"], REALM_CHALLENGE);
    assert_eq!(json["platform"]["instance_id"], INSTANCE_ID);
    assert_eq!(json["platform"]["sw_components"][8]["type"], "RMM");
    assert_eq!(json["platform"]["lifecycle"]["name"], "secured");
    assert_eq!(json["realm"]["signature_algorithm"], "ES384");
    assert_eq!(json["reference_values"]["matched"], true);
}

#[test]
fn verifies_without_reference_values_and_through_the_dispatcher() {
    let e = endorsements(Some(tastore()), None);
    let token = token();
    let claims = crate::verify(Tee::Cca, &Evidence::detect(&token), &e, &options()).unwrap();
    let Claims::Cca(claims) = claims else { panic!("expected CCA claims") };
    assert!(claims.reference_values.is_none());
    assert_eq!(claims.platform.challenge, PLATFORM_CHALLENGE);
}

#[test]
fn json_evidence_as_byte_array_and_base64() {
    let token = token();
    let array = serde_json::to_vec(&serde_json::json!({ "token": token })).unwrap();
    assert_eq!(parse_json_evidence(&array).unwrap(), token);
    let text = base64::engine::general_purpose::STANDARD.encode(&token);
    let b64 = serde_json::to_vec(&serde_json::json!({ "token": text })).unwrap();
    assert_eq!(parse_json_evidence(&b64).unwrap(), token);
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let claims = verify(&Evidence::detect(&array), &e, &options()).unwrap();
    assert_eq!(claims.report_data, REALM_CHALLENGE);

    let err = parse_json_evidence(br#"{"token": [1, 256]}"#).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
    let err = parse_json_evidence(br#"{"evidence": []}"#).unwrap_err();
    assert!(matches!(err, Error::MalformedField { .. }), "{err}");
}

#[test]
fn flipped_byte_in_platform_payload_is_a_bad_signature() {
    let mut t = token();
    let at = find_once(&t, &hex::decode("44cfcfcfcf").unwrap()) + 2;
    t[at] ^= 0x01;
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let err = verify_raw(&t, &e, &options()).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "CCA platform token"), "{err}");
}

#[test]
fn flipped_byte_in_realm_payload_is_a_bad_signature() {
    let mut t = token();
    let at = find_once(&t, &hex::decode(RIM).unwrap()) + 10;
    t[at] ^= 0x80;
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let err = verify_raw(&t, &e, &options()).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "CCA realm token"), "{err}");
}

#[test]
fn flipped_byte_in_a_signature_is_a_bad_signature() {
    let t = token();
    let parsed = parse_token(&t).unwrap();
    // The realm signature is the last 96 bytes of the token.
    let mut realm_sig = t.clone();
    let last = realm_sig.len() - 1;
    realm_sig[last] ^= 0x01;
    let e = endorsements(Some(tastore()), None);
    let err = verify_raw(&realm_sig, &e, &options()).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "CCA realm token"), "{err}");
    // The platform signature directly follows the platform payload.
    let payload_at = find_once(&t, parsed.platform.payload());
    let mut platform_sig = t.clone();
    platform_sig[payload_at + parsed.platform.payload().len() + 2 + 5] ^= 0x01;
    let err = verify_raw(&platform_sig, &e, &options()).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "CCA platform token"), "{err}");
}

#[test]
fn trust_anchor_store_without_the_instance_is_rejected() {
    let other = String::from_utf8(tastore()).unwrap().replace(INSTANCE_ID, &format!("01{}", "ab".repeat(32)));
    let e = endorsements(Some(other.into_bytes()), None);
    let err = verify_raw(&token(), &e, &options()).unwrap_err();
    assert!(matches!(&err, Error::MissingEndorsement(m) if m.contains(INSTANCE_ID)), "{err}");

    let other = String::from_utf8(tastore()).unwrap().replace(IMPLEMENTATION_ID, &"ab".repeat(32));
    let err = verify_raw(&token(), &endorsements(Some(other.into_bytes()), None), &options()).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");

    let err = verify_raw(&token(), &endorsements(None, Some(rvstore())), &options()).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
}

#[test]
fn trust_anchor_with_another_key_is_a_bad_signature() {
    // The RAK's public half in place of the CPAK.
    let rak: serde_json::Value = serde_json::from_slice(&read_vector("attestation/cca/trustee-rak-priv.json")).unwrap();
    let mut store: serde_json::Value = serde_json::from_slice(&tastore()).unwrap();
    store[0]["pkey"]["x"] = rak["x"].clone();
    store[0]["pkey"]["y"] = rak["y"].clone();
    let e = endorsements(Some(serde_json::to_vec(&store).unwrap()), None);
    let err = verify_raw(&token(), &e, &options()).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "CCA platform token"), "{err}");
}

#[test]
fn trust_anchor_store_parsing() {
    let store = parse_trust_anchors(&tastore()).unwrap();
    assert_eq!(store.anchors.len(), 1);
    assert!(matches!(store.anchors[0].key, crate::x509::PublicKey::P384(_)));
    let cpak = parse_trust_anchors(
        format!(
            r#"[{{"pkey": {}, "implementation-id": "{IMPLEMENTATION_ID}", "instance-id": "{INSTANCE_ID}"}}]"#,
            String::from_utf8(read_vector("attestation/cca/trustee-cpak-pub.json")).unwrap()
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(cpak.find(&hex::decode(IMPLEMENTATION_ID).unwrap(), &hex::decode(INSTANCE_ID).unwrap()).is_some());

    for bad in [
        r#"{}"#,
        r#"[{"pkey": {"kty": "RSA", "crv": "P-384", "x": "", "y": ""}, "implementation-id": "00", "instance-id": "00"}]"#,
        r#"[{"pkey": {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, "implementation-id": "00", "instance-id": "00"}]"#,
    ] {
        let err = parse_trust_anchors(bad.as_bytes()).unwrap_err();
        assert!(err.is_malformed(), "{bad}: {err}");
    }
    let err = parse_trust_anchors(
        br#"[{"pkey": {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}, "implementation-id": "00", "instance-id": "00"}]"#,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn altered_reference_measurement_is_a_mismatch_naming_it() {
    let rmm = "a1fb50e6c86fae1679ef3351296fd6713411a08cf8dd1790a4fd05fae8688164";
    let altered = String::from_utf8(rvstore()).unwrap().replace(rmm, &rmm.replace("a1fb", "a1fc"));
    let e = endorsements(Some(tastore()), Some(altered.clone().into_bytes()));
    let err = verify_raw(&token(), &e, &options()).unwrap_err();
    match &err {
        Error::Mismatch { what, expected, found } => {
            assert_eq!(what, "CCA reference value platform sw component RMM measurement");
            assert!(expected.starts_with("a1fc"));
            assert_eq!(found, rmm);
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    let store = parse_reference_values(altered.as_bytes()).unwrap();
    let t = parse_token(&token()).unwrap();
    let report = compare_reference_values(&store, &t.platform.claims, &t.realm.claims);
    assert!(!report.matched);
    assert_eq!(report.mismatches.len(), 1);
}

#[test]
fn altered_realm_and_platform_references_are_mismatches() {
    let cases = [
        (RIM.to_string(), RIM.replace("ae87", "ae88"), "realm initial measurement"),
        ("\"cfcfcfcf\"".into(), "\"cfcfcfce\"".into(), "platform config"),
        (IMPLEMENTATION_ID.into(), "ab".repeat(32), "platform implementation id"),
        ("\"rak-hash-algorithm\": \"sha-256\"".into(), "\"rak-hash-algorithm\": \"sha-384\"".into(), "realm public key hash algorithm"),
        (
            "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3\",\n          \"component-type\": \"RSE_BL1_2\"".into(),
            "0000796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3\",\n          \"component-type\": \"RSE_BL1_2\"".into(),
            "platform sw component RSE_BL1_2 signer id",
        ),
        ("\"component-type\": \"SOC_FW_CONFIG\"".into(), "\"component-type\": \"SOC_FW_CONFIG2\"".into(), "platform sw component SOC_FW_CONFIG"),
    ];
    let original = String::from_utf8(rvstore()).unwrap();
    for (from, to, item) in cases {
        assert!(original.contains(&from), "{from}");
        let altered = original.replacen(&from, &to, 1);
        let e = endorsements(Some(tastore()), Some(altered.into_bytes()));
        let err = verify_raw(&token(), &e, &options()).unwrap_err();
        assert!(
            matches!(&err, Error::Mismatch { what, .. } if what.starts_with(&format!("CCA reference value {item}"))),
            "{item}: {err}"
        );
    }
}

#[test]
fn reference_values_with_an_extra_or_altered_rem_or_pv() {
    let mut store: serde_json::Value = serde_json::from_slice(&rvstore()).unwrap();
    store["realm"][0]["extensible-measurements"][2] = serde_json::Value::String("11".repeat(64));
    let e = endorsements(Some(tastore()), Some(serde_json::to_vec(&store).unwrap()));
    let err = verify_raw(&token(), &e, &options()).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, .. } if what == "CCA reference value realm extensible measurement 2"),
        "{err}"
    );

    let mut store: serde_json::Value = serde_json::from_slice(&rvstore()).unwrap();
    store["realm"][0]["personalization-value"] = serde_json::Value::String("22".repeat(64));
    let e = endorsements(Some(tastore()), Some(serde_json::to_vec(&store).unwrap()));
    let err = verify_raw(&token(), &e, &options()).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, .. } if what == "CCA reference value realm personalization value"),
        "{err}"
    );

    // A second realm entry that matches makes the altered first one irrelevant.
    let mut store: serde_json::Value = serde_json::from_slice(&rvstore()).unwrap();
    let good = store["realm"][0].clone();
    store["realm"][0]["initial-measurement"] = serde_json::Value::String("33".repeat(64));
    store["realm"].as_array_mut().unwrap().push(good);
    let e = endorsements(Some(tastore()), Some(serde_json::to_vec(&store).unwrap()));
    let claims = verify_raw(&token(), &e, &options()).unwrap();
    assert_eq!(claims.reference_values.unwrap().realm_entry, Some(1));

    // A store entry whose component is missing from the token.
    let mut store: serde_json::Value = serde_json::from_slice(&rvstore()).unwrap();
    let extra = serde_json::json!({"measurement-value": "44", "component-type": "EXTRA"});
    store["platform"][0]["sw-components"].as_array_mut().unwrap().push(extra);
    let e = endorsements(Some(tastore()), Some(serde_json::to_vec(&store).unwrap()));
    let err = verify_raw(&token(), &e, &options()).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, expected, found } if what == "CCA reference value platform sw component EXTRA" && expected == "present" && found == "absent"),
        "{err}"
    );
}

#[test]
fn reference_value_store_parsing_rejects_unknown_and_malformed_members() {
    let store = parse_reference_values(&rvstore()).unwrap();
    assert_eq!(store.platform.len(), 1);
    assert_eq!(store.platform[0].sw_components.len(), 13);
    assert_eq!(store.realm.len(), 1);
    for bad in [
        r#"{"platform": [{"implementation-id": "00", "sw-components": [], "platform-configuraton": "00"}]}"#,
        r#"{"realm": [{"initial-measurement": "zz"}]}"#,
        r#"{"realm": [{"initial-measurement": "00", "extensible-measurements": ["00"]}]}"#,
        r#"[]"#,
    ] {
        let err = parse_reference_values(bad.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::MalformedField { .. }), "{bad}: {err}");
    }
    // An empty store constrains nothing.
    let e = endorsements(Some(tastore()), Some(b"{}".to_vec()));
    let claims = verify_raw(&token(), &e, &options()).unwrap();
    assert!(claims.reference_values.unwrap().checked.is_empty());
}

#[test]
fn report_data_is_the_realm_challenge() {
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let mut o = options();
    o.report_data = Some(hex::decode(REALM_CHALLENGE).unwrap());
    verify_raw(&token(), &e, &o).unwrap();
    let mut wrong = hex::decode(REALM_CHALLENGE).unwrap();
    wrong[0] ^= 1;
    o.report_data = Some(wrong);
    let err = verify_raw(&token(), &e, &o).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, found, .. } if what == "report data" && found == REALM_CHALLENGE),
        "{err}"
    );
    // A 48-byte digest is compared zero-padded, which this challenge is not.
    o.report_data = Some(hex::decode(&REALM_CHALLENGE[..96]).unwrap());
    assert!(matches!(verify_raw(&token(), &e, &o).unwrap_err(), Error::Mismatch { .. }));
}

#[test]
fn init_data_is_the_personalization_value() {
    let e = endorsements(Some(tastore()), Some(rvstore()));
    let mut o = options();
    o.init_data_digest = Some(vec![0; 32]);
    verify_raw(&token(), &e, &o).unwrap();
    o.init_data_digest = Some(vec![1; 32]);
    let err = verify_raw(&token(), &e, &o).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, found, .. } if what == "init data" && *found == "00".repeat(64)),
        "{err}"
    );
}

#[test]
fn malformed_tokens_are_rejected_as_malformed() {
    let t = token();
    let e = endorsements(Some(tastore()), None);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated", t[..t.len() - 1].to_vec()),
        ("trailing byte", [t.as_slice(), &[0]].concat()),
        ("other tag", [&[0xd9, 0x01, 0x90][..], &t[3..]].concat()),
        ("untagged", t[3..].to_vec()),
        ("no realm token", hex::decode("d9018fa119acca4100").unwrap()),
        ("platform entry not a COSE_Sign1", hex::decode("d9018fa219acca410019acd14100").unwrap()),
    ];
    for (name, bytes) in cases {
        let err = verify_raw(&bytes, &e, &options()).unwrap_err();
        assert!(err.is_malformed(), "{name}: {err}");
    }
    let err = parse_token(&vec![0; MAX_TOKEN_SIZE + 1]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

#[test]
fn lifecycle_ranges() {
    assert_eq!(lifecycle_name(0x0000), "unknown");
    assert_eq!(lifecycle_name(0x10ff), "assembly-and-test");
    assert_eq!(lifecycle_name(0x2001), "cca-platform-rot-provisioning");
    assert_eq!(lifecycle_name(0x3000), "secured");
    assert_eq!(lifecycle_name(0x30ff), "secured");
    assert_eq!(lifecycle_name(0x4003), "non-cca-platform-debug");
    assert_eq!(lifecycle_name(0x5000), "recoverable-cca-platform-debug");
    assert_eq!(lifecycle_name(0x6000), "decommissioned");
    assert_eq!(lifecycle_name(0x7000), "invalid");
    assert!(lifecycle_is_secured(0x3003));
    assert!(!lifecycle_is_secured(0x2fff));
    assert!(!lifecycle_is_secured(0x3100));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_token(&bytes);
        let _ = parse_json_evidence(&bytes);
        let _ = parse_trust_anchors(&bytes);
        let _ = parse_reference_values(&bytes);
        let tagged = [&[0xd9, 0x01, 0x8f][..], &bytes].concat();
        let _ = parse_token(&tagged);
    }

    #[test]
    fn mutated_example_token_never_panics(index in 0usize..2234, value in any::<u8>()) {
        let mut t = token();
        if let Some(b) = t.get_mut(index) {
            *b = value;
        }
        let _ = parse_token(&t);
    }

}

proptest! {
    // Each case verifies two P-384 signatures, slow in debug builds.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_change_in_a_signed_payload_is_rejected(
        realm in any::<bool>(),
        offset in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let t = token();
        let parsed = parse_token(&t).unwrap();
        let payload = if realm { parsed.realm.payload() } else { parsed.platform.payload() };
        let at = find_once(&t, payload) + offset.index(payload.len());
        let mut changed = t.clone();
        changed[at] ^= xor;
        let e = endorsements(Some(tastore()), None);
        prop_assert!(verify_raw(&changed, &e, &options()).is_err());
    }
}
