//! SNP verification over the shared vectors (facts from the vectors README).

use proptest::prelude::*;
use time::macros::datetime;
use time::OffsetDateTime;

use super::*;
use crate::test_support::read_vector;
use crate::{Claims, Tee};

const NOW: OffsetDateTime = datetime!(2026-11-15 0:00 UTC);
/// Inside the VLEK's validity (2024-12-10 .. 2025-12-10).
const VLEK_TIME: OffsetDateTime = datetime!(2025-06-01 0:00 UTC);

fn snp(name: &str) -> Vec<u8> {
    read_vector(&format!("attestation/snp/{name}"))
}

fn raw(bytes: &[u8]) -> Evidence<'_> {
    Evidence { bytes, format: EvidenceFormat::Raw }
}

fn with_vcek(name: &str) -> Endorsements {
    Endorsements { vcek: Some(snp(name)), ..Default::default() }
}

fn zeros(n: usize) -> String {
    "0".repeat(2 * n)
}

fn tcb(bootloader: u8, tee: u8, snp: u8, microcode: u8) -> TcbVersion {
    TcbVersion { bootloader, tee, snp, microcode, fmc: None }
}

fn milan_chain() -> VerifiedChain {
    let key = KeyCertificate::parse(&snp("trustee-milan-vcek.der")).unwrap();
    VerifiedChain::build(&key, &[], None, NOW).unwrap()
}

#[test]
fn trustee_milan_vcek_v2_report_verifies() {
    let report = snp("trustee-milan-vcek-report-v2.bin");
    let claims = verify(&raw(&report), &with_vcek("trustee-milan-vcek.der"), &VerifyOptions::at(NOW)).unwrap();
    assert_eq!(claims.version, 2);
    assert_eq!(
        claims.measurement,
        "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c"
    );
    assert_eq!(
        claims.report_data,
        format!("ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2{}", zeros(32))
    );
    assert_eq!(claims.host_data, zeros(32));
    assert_eq!(claims.init_data, claims.host_data);
    assert_eq!(claims.policy.raw, 0x3001f);
    assert_eq!((claims.policy.abi_major, claims.policy.abi_minor), (0, 0x1f));
    assert!(claims.policy.smt_allowed && !claims.policy.debug_allowed && !claims.policy.migrate_ma);
    assert_eq!(claims.guest_svn, 4);
    assert_eq!(claims.vmpl, 0);
    assert_eq!(claims.family_id, format!("01{}", zeros(15)));
    assert_eq!(claims.image_id, format!("02{}", zeros(15)));
    assert_eq!(
        claims.id_key_digest,
        "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3"
    );
    assert_eq!(
        claims.chip_id,
        "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e"
    );
    assert_eq!(claims.reported_tcb, tcb(3, 0, 8, 115));
    assert_eq!(claims.current_tcb.microcode, 206);
    assert_eq!(claims.signing_key, SigningKey::Vcek);
    assert_eq!(claims.processor, Processor::Milan);
    assert_eq!(claims.cpuid_fam_id, None);
    assert_eq!(claims.signature_algo, 1);
    assert_eq!(parse_report(&report).unwrap().reported_tcb, 0x7308000000000003);
}

#[test]
fn dispatch_through_the_crate_entry_point_yields_snp_claims() {
    let report = snp("trustee-milan-vcek-report-v2.bin");
    let claims =
        crate::verify(Tee::Snp, &raw(&report), &with_vcek("trustee-milan-vcek.der"), &VerifyOptions::at(NOW)).unwrap();
    assert!(matches!(claims, Claims::Snp(_)));
    let json = claims.to_json();
    assert_eq!(json["tee"], "snp");
    assert_eq!(json["signing_key"], "vcek");
    assert_eq!(json["processor"], "milan");
    assert_eq!(json["reported_tcb"]["microcode"], 115);
    assert_eq!(json["policy"]["raw"], 0x3001f);
    assert!(json["init_data"].is_string() && json["report_data"].is_string());
}

#[test]
fn trustee_milan_vlek_v3_report_verifies_while_the_vlek_is_valid() {
    let report = snp("trustee-milan-vlek-report-v3.bin");
    let claims = verify(&raw(&report), &with_vcek("trustee-milan-vlek.der"), &VerifyOptions::at(VLEK_TIME)).unwrap();
    assert_eq!(claims.version, 3);
    assert_eq!((claims.cpuid_fam_id, claims.cpuid_mod_id, claims.cpuid_step), (Some(0x19), Some(0x01), Some(0x01)));
    assert_eq!(claims.processor, Processor::Milan);
    assert_eq!(claims.vmpl, 1);
    assert_eq!(claims.signing_key, SigningKey::Vlek);
    assert_eq!(claims.chip_id, zeros(64));
    assert_eq!(claims.policy.raw, 0x30000);
    assert_eq!(claims.platform_info.raw, 0x27);
    let pi = claims.platform_info;
    assert!(pi.smt_enabled && pi.tsme_enabled && pi.ecc_enabled && !pi.rapl_disabled && pi.alias_check_complete);
    assert_eq!(
        claims.measurement,
        "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0"
    );
    assert_eq!(
        claims.report_data,
        "819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca"
    );
    assert_eq!(claims.reported_tcb, tcb(4, 0, 24, 217));
    assert_eq!(claims.current_tcb, tcb(4, 0, 24, 220));
    assert_eq!(claims.committed_tcb, tcb(4, 0, 24, 219));
    assert_eq!(claims.launch_tcb, tcb(4, 0, 24, 219));
    assert_eq!(parse_report(&report).unwrap().reported_tcb, 0xd918000000000004);
}

#[test]
fn trustee_genoa_json_evidence_verifies_with_its_embedded_vcek() {
    let json = snp("trustee-genoa-snp-evidence.json");
    let evidence = Evidence::detect(&json);
    assert_eq!(evidence.format, EvidenceFormat::Json);
    let claims = verify(&evidence, &Endorsements::default(), &VerifyOptions::at(NOW)).unwrap();
    assert_eq!(claims.version, 3);
    assert_eq!((claims.cpuid_fam_id, claims.cpuid_mod_id, claims.cpuid_step), (Some(0x19), Some(0xa0), Some(2)));
    assert_eq!(claims.processor, Processor::Genoa);
    assert_eq!(claims.vmpl, 0);
    assert_eq!(claims.policy.raw, 0x30000);
    assert_eq!(claims.host_data, zeros(32));
    assert_eq!(
        claims.measurement,
        "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e"
    );
    assert_eq!(
        claims.report_data,
        "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0"
    );
    assert_eq!(
        claims.chip_id,
        "371c55d6d15cb50f16dc31d39a24e300caaabff4431e841111429b73ec45ad67ea6e687ffae7bf84b54a5d0e6d79b3ef6ff0bd8b4cff94c2163af5c5de8718e8"
    );
    assert_eq!(claims.reported_tcb, tcb(10, 0, 23, 25));
    assert_eq!(claims.current_version, "1.55.40");
    assert_eq!(claims.signing_key, SigningKey::Vcek);

    // The re-encoded raw report verifies on its own with the embedded VCEK.
    let parsed = parse_trustee_evidence(&json).unwrap();
    assert_eq!(parsed.certificates.len(), 1);
    assert_eq!(parsed.certificates[0].cert_type, "VCEK");
    let bytes = parsed.report.as_bytes().to_vec();
    assert_eq!(parse_report(&bytes).unwrap(), parsed.report);
    let endorsements = Endorsements { vcek: Some(parsed.certificates[0].der.clone()), ..Default::default() };
    verify(&raw(&bytes), &endorsements, &VerifyOptions::at(NOW)).unwrap();
    let vcek = KeyCertificate::parse(&parsed.certificates[0].der).unwrap();
    assert_eq!(vcek.issuer_processor, Some(Processor::Genoa));
    assert_eq!(vcek.hwid.as_deref(), Some(&parsed.report.chip_id[..]));
}

#[test]
fn virtee_milan_hex_report_verifies_with_and_without_the_pem_chain() {
    let hex_text = snp("virtee-milan-report-v2.hex");
    let report = hex::decode(hex_text.trim_ascii()).unwrap();
    assert_eq!(report.len(), REPORT_SIZE);
    let mut endorsements = with_vcek("virtee-milan-vcek.der");
    let options = VerifyOptions::at(NOW);
    let plain = verify(&raw(&report), &endorsements, &options).unwrap();
    endorsements.chain = Some(snp("virtee-milan-ask-ark.pem"));
    let claims = verify(&raw(&report), &endorsements, &options).unwrap();
    // Hex text given as raw evidence is decoded too.
    let from_text = verify(&raw(&hex_text), &endorsements, &options).unwrap();
    for c in [&plain, &claims, &from_text] {
        assert_eq!(c.version, 2);
        assert_eq!(c.vmpl, 0);
        assert_eq!(c.policy.raw, 0x30000);
        assert_eq!(
            c.measurement,
            "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
        );
        assert_eq!(
            c.report_data,
            "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd"
        );
        assert_eq!(
            c.chip_id,
            "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6"
        );
        assert_eq!(c.reported_tcb, tcb(3, 0, 8, 115));
        assert_eq!(c.processor, Processor::Milan);
    }
}

#[test]
fn turin_vcek_chains_to_builtin_turin_roots_with_8_byte_hwid_and_fmc() {
    let key = KeyCertificate::parse(&snp("virtee-turin-vcek.der")).unwrap();
    assert_eq!(key.kind, SigningKey::Vcek);
    assert_eq!(key.issuer_processor, Some(Processor::Turin));
    assert_eq!(key.hwid.as_deref().map(hex::encode).as_deref(), Some("1e550a8ee5cf9f4d"));
    assert_eq!(key.tcb, TcbVersion { fmc: Some(0), bootloader: 0, tee: 0, snp: 0, microcode: 9 });
    let chain = VerifiedChain::build(&key, &[], None, NOW).unwrap();
    assert_eq!(chain.processor, Processor::Turin);
    // With virtee's ASK+ARK stack as the given chain (its ARK is the built-in one).
    let given = intermediates_from(Certificate::all_from_pem(&snp("virtee-turin-ask-ark.pem")).unwrap()).unwrap();
    assert_eq!(given.len(), 1);
    VerifiedChain::build(&key, &given, Some(Processor::Turin), NOW).unwrap();
    // The Turin VCEK is not valid before its notBefore.
    let err = VerifiedChain::build(&key, &[], None, datetime!(2024-01-01 0:00 UTC)).unwrap_err();
    assert!(matches!(&err, Error::CertificateExpired { subject, .. } if subject == "SEV-VCEK"), "{err}");
    // A report CPUID naming another generation is refused.
    let err = VerifiedChain::build(&key, &[], Some(Processor::Genoa), NOW).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what.contains("processor generation")), "{err}");
}

#[test]
fn hwid_fixtures_parse_in_both_encodings_with_their_tcb() {
    let pattern: Vec<u8> = (0u8..64).collect();
    let raw_form = KeyCertificate::parse(&snp("trustee-vcek-fake-hwid-raw.der")).unwrap();
    assert_eq!(raw_form.hwid.as_deref(), Some(&pattern[..]));
    assert_eq!(raw_form.tcb, tcb(3, 0, 10, 0xa9));
    let wrapped = KeyCertificate::parse(&snp("trustee-vcek-fake-hwid-octetstring.der")).unwrap();
    assert_eq!(wrapped.hwid.as_deref(), Some(&pattern[..]));
    assert_eq!(wrapped.tcb, tcb(0, 0, 0, 30));
    // Neither chains to the Milan roots.
    for key in [raw_form, wrapped] {
        let err = VerifiedChain::build(&key, &[], None, NOW).unwrap_err();
        assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
    }
    assert!(parse_hwid(&[0u8; 10]).is_err());
    assert!(parse_hwid(&[0x04, 0x03, 1, 2, 3]).is_err());
}

#[test]
fn incremented_byte_42_breaks_the_signature() {
    for (report, vcek, at) in [
        ("trustee-milan-vcek-report-v2.bin", "trustee-milan-vcek.der", NOW),
        ("trustee-milan-vlek-report-v3.bin", "trustee-milan-vlek.der", VLEK_TIME),
    ] {
        let mut bytes = snp(report);
        bytes[42] = bytes[42].wrapping_add(1);
        let err = verify(&raw(&bytes), &with_vcek(vcek), &VerifyOptions::at(at)).unwrap_err();
        assert!(matches!(&err, Error::BadSignature { key, .. } if key.starts_with("SEV-V")), "{report}: {err}");
    }
}

#[test]
fn incremented_byte_384_is_a_tcb_mismatch() {
    for (report, vcek, at) in [
        ("trustee-milan-vcek-report-v2.bin", "trustee-milan-vcek.der", NOW),
        ("trustee-milan-vlek-report-v3.bin", "trustee-milan-vlek.der", VLEK_TIME),
    ] {
        let mut bytes = snp(report);
        bytes[384] = bytes[384].wrapping_add(1);
        let err = verify(&raw(&bytes), &with_vcek(vcek), &VerifyOptions::at(at)).unwrap_err();
        assert!(
            matches!(&err, Error::Mismatch { what, .. } if what.contains("reported TCB bootloader")),
            "{report}: {err}"
        );
    }
}

#[test]
fn corrupted_vcek_der_is_rejected() {
    let report = snp("trustee-milan-vcek-report-v2.bin");
    let mut vcek = snp("trustee-milan-vcek.der");
    vcek[42] = vcek[42].wrapping_add(1);
    let endorsements = Endorsements { vcek: Some(vcek), ..Default::default() };
    let err = verify(&raw(&report), &endorsements, &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(err, Error::UntrustedRoot { .. } | Error::MalformedField { .. }), "{err}");

    let report = hex::decode(snp("virtee-milan-report-v2.hex").trim_ascii()).unwrap();
    let mut vcek = snp("virtee-milan-vcek.der");
    vcek[40] ^= 0xff;
    let endorsements = Endorsements { vcek: Some(vcek), ..Default::default() };
    let err = verify(&raw(&report), &endorsements, &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(err, Error::UntrustedRoot { .. } | Error::MalformedField { .. }), "{err}");
}

#[test]
fn chip_id_must_equal_the_vcek_hwid() {
    let mut bytes = snp("trustee-milan-vcek-report-v2.bin");
    bytes[0x1A0 + 63] ^= 1;
    let err = verify(&raw(&bytes), &with_vcek("trustee-milan-vcek.der"), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what.contains("chip id")), "{err}");
}

#[test]
fn expired_vlek_is_rejected_by_name() {
    let report = snp("trustee-milan-vlek-report-v3.bin");
    let err = verify(&raw(&report), &with_vcek("trustee-milan-vlek.der"), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(&err, Error::CertificateExpired { subject, .. } if subject == "SEV-VLEK"), "{err}");
}

#[test]
fn vcek_does_not_chain_through_asvk_nor_vlek_through_ask() {
    let mut vcek = KeyCertificate::parse(&snp("trustee-milan-vcek.der")).unwrap();
    vcek.kind = SigningKey::Vlek;
    let err = VerifiedChain::build(&vcek, &[], None, NOW).unwrap_err();
    assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
    let mut vlek = KeyCertificate::parse(&snp("trustee-milan-vlek.der")).unwrap();
    vlek.kind = SigningKey::Vcek;
    let err = VerifiedChain::build(&vlek, &[], None, VLEK_TIME).unwrap_err();
    assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
    // Offering the wrong intermediate explicitly does not help either.
    let milan = builtin_roots(Processor::Milan).unwrap();
    let err =
        crate::x509::verify_chain(&vcek.cert, std::slice::from_ref(&milan.asvk), std::slice::from_ref(&milan.ark), NOW)
            .unwrap_err();
    assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
}

#[test]
fn report_signing_key_must_match_the_certificate_kind() {
    let report = snp("trustee-milan-vlek-report-v3.bin");
    let err = verify(&raw(&report), &with_vcek("trustee-milan-vcek.der"), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, expected, found } if what.contains("signing key") && expected == "VCEK" && found == "VLEK"),
        "{err}"
    );
}

#[test]
fn report_cpuid_must_match_the_issuer_generation() {
    let json = snp("trustee-genoa-snp-evidence.json");
    let err =
        verify(&Evidence::detect(&json), &with_vcek("trustee-milan-vcek.der"), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(
        matches!(&err, Error::Mismatch { what, expected, .. } if what.contains("processor generation") && expected == "Genoa"),
        "{err}"
    );
}

#[test]
fn virtee_report_with_byte_21_flipped_fails() {
    let mut report = hex::decode(snp("virtee-milan-report-v2.hex").trim_ascii()).unwrap();
    report[21] ^= 0x80;
    let err = verify(&raw(&report), &with_vcek("virtee-milan-vcek.der"), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
}

#[test]
fn expected_report_data_and_init_data_are_compared() {
    let report = snp("trustee-milan-vcek-report-v2.bin");
    let endorsements = with_vcek("trustee-milan-vcek.der");
    let digest = hex::decode("ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2").unwrap();
    let mut options = VerifyOptions::at(NOW);
    options.report_data = Some(digest.clone());
    verify(&raw(&report), &endorsements, &options).unwrap();
    let mut wrong = digest.clone();
    wrong[0] ^= 1;
    options.report_data = Some(wrong);
    let err = verify(&raw(&report), &endorsements, &options).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "report data"), "{err}");

    options.report_data = Some(digest);
    options.init_data_digest = Some(vec![0u8; 32]);
    let claims = verify(&raw(&report), &endorsements, &options).unwrap();
    assert_eq!(claims.init_data, zeros(32));
    options.init_data_digest = Some(vec![0x11; 32]);
    let err = verify(&raw(&report), &endorsements, &options).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "init data"), "{err}");
}

#[test]
fn given_roots_must_be_builtin_arks() {
    let report = snp("trustee-milan-vcek-report-v2.bin");
    let mut endorsements = with_vcek("trustee-milan-vcek.der");
    // Another generation's ARK is a built-in one: accepted, and ignored.
    endorsements.chain = Some(snp("amd-genoa-ask-ark-asvk.pem"));
    verify(&raw(&report), &endorsements, &VerifyOptions::at(NOW)).unwrap();
    // A self-signed certificate that is not an AMD ARK is refused.
    endorsements.chain = Some(read_vector("attestation/tdx/intel-sgx-root-ca.der"));
    let err = verify(&raw(&report), &endorsements, &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(&err, Error::UntrustedRoot { subject, .. } if subject == "Intel SGX Root CA"), "{err}");
}

#[test]
fn missing_or_malformed_inputs_are_typed_errors() {
    let report = snp("trustee-milan-vcek-report-v2.bin");
    let err = verify(&raw(&report), &Endorsements::default(), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)), "{err}");
    let err = parse_report(&report[..REPORT_SIZE - 1]).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    let mut v1 = report.clone();
    v1[0] = 1;
    assert!(matches!(parse_report(&v1).unwrap_err(), Error::Unsupported { .. }));
    let mut masked = report.clone();
    masked[0x48] |= 2;
    let err = verify_report(&parse_report(&masked).unwrap(), &milan_chain(), &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    let mut v3 = report.clone();
    v3[0] = 3;
    v3[0x188] = 0x1b;
    let err = parse_report(&v3).unwrap().processor_from_cpuid().unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");

    let json = String::from_utf8(snp("trustee-genoa-snp-evidence.json")).unwrap();
    let short = json.replacen("\"host_data\":[", "\"host_data\":[1,", 1);
    assert_ne!(short, json);
    let err = parse_trustee_evidence(short.as_bytes()).unwrap_err();
    assert!(matches!(&err, Error::MalformedField { field, .. } if field.contains("host_data")), "{err}");
    assert!(matches!(parse_trustee_evidence(b"{}").unwrap_err(), Error::MalformedField { .. }));
}

#[test]
fn tcb_layouts_round_trip() {
    assert_eq!(TcbVersion::from_raw(0x541700000000000a, Processor::Genoa), tcb(10, 0, 23, 84));
    let turin = TcbVersion::from_raw(0x0900000000030201, Processor::Turin);
    assert_eq!(turin, TcbVersion { fmc: Some(1), bootloader: 2, tee: 3, snp: 0, microcode: 9 });
    for p in Processor::ALL {
        let t = TcbVersion { fmc: p.has_fmc().then_some(5), bootloader: 1, tee: 2, snp: 3, microcode: 4 };
        assert_eq!(TcbVersion::from_raw(t.to_raw(p), p), t);
    }
    assert_eq!(Processor::from_cpuid(0x19, 0x01), Some(Processor::Milan));
    assert_eq!(Processor::from_cpuid(0x19, 0x11), Some(Processor::Genoa));
    assert_eq!(Processor::from_cpuid(0x19, 0xa0), Some(Processor::Genoa));
    assert_eq!(Processor::from_cpuid(0x1a, 0x02), Some(Processor::Turin));
    assert_eq!(Processor::from_cpuid(0x1a, 0x90), None);
}

#[test]
fn cached_chains_are_reused_and_dates_still_checked() {
    let verifier = SnpVerifier::new();
    let report = snp("trustee-milan-vlek-report-v3.bin");
    let endorsements = with_vcek("trustee-milan-vlek.der");
    verifier.verify(&raw(&report), &endorsements, &VerifyOptions::at(VLEK_TIME)).unwrap();
    verifier.verify(&raw(&report), &endorsements, &VerifyOptions::at(VLEK_TIME)).unwrap();
    assert_eq!(verifier.cached(), 1);
    let err = verifier.verify(&raw(&report), &endorsements, &VerifyOptions::at(NOW)).unwrap_err();
    assert!(matches!(&err, Error::CertificateExpired { subject, .. } if subject == "SEV-VLEK"), "{err}");
    let mut bad = report.clone();
    bad[42] ^= 1;
    let err = verifier.verify(&raw(&bad), &endorsements, &VerifyOptions::at(VLEK_TIME)).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_change_in_the_signed_region_is_rejected(at in 0usize..SIGNED_LEN, delta in 1u8..=255) {
        let mut bytes = snp("trustee-milan-vcek-report-v2.bin");
        bytes[at] = bytes[at].wrapping_add(delta);
        let chain = milan_chain();
        let result = parse_report(&bytes).and_then(|r| verify_report(&r, &chain, &VerifyOptions::at(NOW)));
        prop_assert!(result.is_err(), "byte {at} + {delta} accepted");
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = parse_report(&data);
        let _ = parse_trustee_evidence(&data);
        let _ = parse_evidence(&Evidence::detect(&data));
        let mut sized = data.clone();
        sized.resize(REPORT_SIZE, 0);
        if let Ok(r) = parse_report(&sized) {
            let _ = verify_report(&r, &milan_chain(), &VerifyOptions::at(NOW));
            let _ = r.signature_be();
        }
        let _ = KeyCertificate::parse(&data);
        let _ = parse_hwid(&data);
    }
}
