//! Tests against the shared TDX vectors (facts from the vectors README).

use time::macros::datetime;
use time::OffsetDateTime;

use super::collateral::{parse_qe_identity, parse_tcb_info, verify_raw_p256};
use super::pck::pck_extension;
use super::quote::{Body, TdReport};
use super::tcb::{check_module_identity, platform_verdict_tdx, qe_level, TcbStatus};
use super::*;
use crate::test_support::read_vector;
use crate::x509::Certificate;
use crate::{Endorsements, Error, Evidence, Tee};

pub(super) const DCAP_V4: &str = "attestation/tdx/dcapqvl-tdx-quote-v4-fmspcb0c06f";
pub(super) const DCAP_V5: &str = "attestation/tdx/dcapqvl-tdx-quote-v5-fmspc90c06f-notcblevel";
pub(super) const DCAP_SGX: &str = "attestation/tdx/dcapqvl-sgx-quote-v3";
pub(super) const TRUSTEE_V4: &str = "attestation/tdx/trustee-tdx-quote-v4-fmspc50806f.dat";
pub(super) const TRUSTEE_V5: &str = "attestation/tdx/trustee-tdx-quote-v5-fmspc90c06f.dat";
pub(super) const TRUSTEE_V4_00A06D08: &str = "attestation/tdx/trustee-tdx-quote-v4-fmspc00a06d08.dat";
/// Earliest nextUpdate of the b0c06f collateral minus one second.
pub(super) const DCAP_V4_AT: OffsetDateTime = datetime!(2025-07-19 10:00:34 UTC);

pub(super) fn quote_of(base: &str) -> Vec<u8> {
    read_vector(&format!("{base}.bin"))
}

pub(super) fn collateral_of(base: &str) -> Vec<u8> {
    read_vector(&format!("{base}.collateral.json"))
}

fn td(bytes: &[u8]) -> TdReport {
    parse_quote(bytes).unwrap().td_report().unwrap().clone()
}

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn zeros(n: usize) -> String {
    "00".repeat(n)
}

fn verify_at(quote: &[u8], collateral: &[u8], at: OffsetDateTime) -> crate::Result<TdxClaims> {
    let endorsements = Endorsements { collateral: Some(collateral.to_vec()), ..Default::default() };
    verify(&Evidence::detect(quote), &endorsements, &VerifyOptions::at(at))
}

fn pck_leaf(bytes: &[u8]) -> Certificate {
    let q = parse_quote(bytes).unwrap();
    Certificate::all_from_pem(&q.pck_chain_pem).unwrap().remove(0)
}

#[test]
fn embedded_root_is_the_vector_and_self_signed() {
    assert_eq!(roots::INTEL_SGX_ROOT_CA_DER, read_vector("attestation/tdx/intel-sgx-root-ca.der").as_slice());
    let root = roots::intel_sgx_root_ca().unwrap();
    root.verify_issued_by(&root).unwrap();
    assert_eq!(root.common_name().as_deref(), Some("Intel SGX Root CA"));
}

#[test]
fn every_quote_has_intel_qe_and_pck_chain_to_the_root() {
    let root = roots::intel_sgx_root_ca().unwrap();
    let auth: Vec<u8> = (0u8..32).collect();
    for bytes in [
        read_vector(TRUSTEE_V4),
        read_vector(TRUSTEE_V5),
        read_vector(TRUSTEE_V4_00A06D08),
        quote_of(DCAP_V4),
        quote_of(DCAP_V5),
        quote_of(DCAP_SGX),
    ] {
        let q = parse_quote(&bytes).unwrap();
        assert_eq!(q.header.qe_vendor_id, quote::INTEL_QE_VENDOR_ID);
        assert_eq!(q.header.attestation_key_type, 2);
        assert_eq!(q.qe_auth_data, auth);
        let certs = Certificate::all_from_pem(&q.pck_chain_pem).unwrap();
        assert_eq!(certs.len(), 3);
        assert_eq!(certs[2], root);
        certs[0].verify_issued_by(&certs[1]).unwrap();
        certs[1].verify_issued_by(&root).unwrap();
        verify_raw_p256(&certs[0], &q.qe_report_raw, &q.qe_report_signature, "QE report").unwrap();
    }
}

#[test]
fn trustee_v4_50806f_fields() {
    let bytes = read_vector(TRUSTEE_V4);
    assert_eq!(bytes.len(), 4936);
    let q = parse_quote(&bytes).unwrap();
    assert_eq!((q.header.version, q.header.tee_type, q.body_type), (4, 0x81, 2));
    let t = td(&bytes);
    assert_eq!(h(&t.tee_tcb_svn), "03000500000000000000000000000000");
    assert_eq!(
        h(&t.mr_seam),
        "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656"
    );
    assert_eq!(h(&t.td_attributes), "0100001000000000");
    let attrs = TdAttributes::decode(t.td_attributes);
    assert!(attrs.debug && attrs.sept_ve_disable && !attrs.pks && !attrs.kl && !attrs.perfmon);
    assert_eq!(h(&t.xfam), "e742060000000000");
    assert_eq!(
        h(&t.mr_td),
        "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031"
    );
    assert_eq!(
        h(&t.rtmr[0]),
        "e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b288"
    );
    assert_eq!(
        h(&t.rtmr[1]),
        "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596"
    );
    for zero in [&t.rtmr[2], &t.rtmr[3], &t.mr_config_id, &t.mr_owner, &t.mr_owner_config] {
        assert_eq!(h(zero), zeros(48));
    }
    assert_eq!(h(&t.report_data), "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429");
    let leaf = pck_leaf(&bytes);
    assert_eq!(leaf.issuer_common_name().as_deref(), Some("Intel SGX PCK Platform CA"));
    assert_eq!(
        (leaf.not_before().date(), leaf.not_after().date()),
        (time::macros::date!(2023 - 02 - 07), time::macros::date!(2030 - 02 - 07))
    );
    let pck = pck_extension(&leaf).unwrap();
    assert_eq!(h(&pck.fmspc), "50806f000000");
    assert_eq!(h(&pck.pce_id), "0000");
    // The certificate holds 021ac64d…5482; trustee shows the bytes reversed (82548d22…1a02).
    let mut pid = pck.platform_instance_id.clone().unwrap();
    assert_eq!(h(&pid), "021ac64d355ba904e2d5948d228d5482");
    pid.reverse();
    assert_eq!(h(&pid), "82548d228d94d5e204a95b354dc61a02");
    assert_eq!((pck.dynamic_platform, pck.cached_keys, pck.smt_enabled), (Some(true), Some(true), Some(true)));
}

#[test]
fn trustee_v5_90c06f_fields() {
    let bytes = read_vector(TRUSTEE_V5);
    let q = parse_quote(&bytes).unwrap();
    assert_eq!((q.header.version, q.body_type), (5, 3));
    let t = td(&bytes);
    assert_eq!(h(&t.tee_tcb_svn), "05010200000000000000000000000000");
    assert_eq!(t.tee_tcb_svn2.map(|s| h(&s)).as_deref(), Some("05010200000000000000000000000000"));
    assert_eq!(h(&t.td_attributes), "0000001000000000");
    let attrs = TdAttributes::decode(t.td_attributes);
    assert!(!attrs.debug && attrs.sept_ve_disable);
    assert_eq!(h(&t.xfam), "e742060000000000");
    assert_eq!(
        h(&t.mr_td),
        "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a"
    );
    assert_eq!(
        h(&t.rtmr[0]),
        "9b529f3689e2e8ebb899e9abbbc3dab394d6545e8cdb28a2abb9cc2f377b83a65c01ba56b824cd3ee885df20051f5128"
    );
    assert_eq!(
        h(&t.rtmr[1]),
        "ca5a979317ffe8a527a3b7aadab03976d7cb6eef1041fb9bd9d69e6fafa7252cdc10e4c2a55e7ecbd2ddb5cacc867430"
    );
    assert_eq!((h(&t.rtmr[2]), h(&t.rtmr[3])), (zeros(48), zeros(48)));
    assert_eq!(
        t.mr_servicetd.map(|s| h(&s)).as_deref(),
        Some("383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d")
    );
    assert_eq!(h(&t.report_data), "6d6ab13b046cff606ac0074be13981b07b6325dba10b5facc96febf551c0c3be2b75f92fe1f88f4bb996969ad0174b4b7a70261b7b85c844f4b33a4674fd049f");
    assert_eq!(h(&pck_extension(&pck_leaf(&bytes)).unwrap().fmspc), "90c06f000000");
}

#[test]
fn trustee_v4_00a06d08_fields() {
    let bytes = read_vector(TRUSTEE_V4_00A06D08);
    let q = parse_quote(&bytes).unwrap();
    assert_eq!(q.header.version, 4);
    assert_eq!(q.qe_report.isv_svn, 7);
    let t = td(&bytes);
    assert_eq!(h(&t.tee_tcb_svn), "05030200000000000000000000000000");
    assert_eq!(h(&t.td_attributes), "0000001000000000");
    assert_eq!(h(&t.xfam), "e702060000000000");
    assert_eq!(
        h(&t.mr_td),
        "21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88"
    );
    assert_eq!(
        h(&t.mr_config_id),
        "889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca93152bf847bd2440328e90adb18b150ed67"
    );
    assert_eq!(
        h(&t.rtmr[0]),
        "395aefe7bac15b24c40f1cd7ba6f8fa48732be5c56c61485ed3cd9c8b16cce8ece64c331b99ce36d96605135c753aaa2"
    );
    assert_eq!(
        h(&t.rtmr[1]),
        "fc4b0f849d8d76fdf1da563a8c29d0d456b484a65e01797baf52ea1d8c002040527a1f0278925077219656dba039429f"
    );
    assert_eq!(
        h(&t.rtmr[2]),
        "193edd321148e81fd4d6ce00ac8331e737febdb428f18ae66f697c1d2a7f2cd97c535c8df9f045f62b16a41facad84a1"
    );
    assert_eq!(h(&t.rtmr[3]), zeros(48));
    assert_eq!(
        h(&t.report_data),
        format!(
            "{}{}",
            "26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd",
            zeros(16)
        )
    );
    let leaf = pck_leaf(&bytes);
    assert_eq!(
        (leaf.not_before().date(), leaf.not_after().date()),
        (time::macros::date!(2025 - 04 - 08), time::macros::date!(2032 - 04 - 08))
    );
    let pck = pck_extension(&leaf).unwrap();
    assert_eq!(h(&pck.fmspc), "00a06d080000");
    assert_eq!(pck.pce_svn, 11);
    assert_eq!(pck.tcb_components, [2, 2, 7, 7, 4, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(pck.cpu_svn, pck.tcb_components);
}

#[test]
fn dcap_v4_and_v5_fields() {
    let bytes = quote_of(DCAP_V4);
    let t = td(&bytes);
    assert_eq!(h(&t.tee_tcb_svn[..4]), "06010300");
    assert_eq!((h(&t.td_attributes), h(&t.xfam)), ("0000001000000000".into(), "e702060000000000".into()));
    assert_eq!(
        h(&t.mr_td),
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert_eq!(
        h(&t.rtmr[0]),
        "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0"
    );
    assert_eq!(
        h(&t.rtmr[1]),
        "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378"
    );
    assert_eq!(
        h(&t.rtmr[2]),
        "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132"
    );
    assert_eq!(h(&t.report_data), "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20");
    let pck = pck_extension(&pck_leaf(&bytes)).unwrap();
    assert_eq!((h(&pck.fmspc), h(&pck.ppid)), ("b0c06f000000".into(), "811dca2a26b952e85bb6448b097ba4fd".into()));

    let bytes = quote_of(DCAP_V5);
    let q = parse_quote(&bytes).unwrap();
    assert_eq!((q.header.version, q.body_type), (5, 3));
    let t = td(&bytes);
    assert_eq!(h(&t.tee_tcb_svn[..4]), "07010300");
    assert_eq!(t.tee_tcb_svn2.map(|s| h(&s[..4])).as_deref(), Some("0d010300"));
    assert_eq!(
        h(&t.mr_td),
        "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd"
    );
    assert!(t.rtmr.iter().all(|r| r == &[0u8; 48]));
    assert_eq!(
        h(&t.report_data),
        format!("d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728{}", zeros(32))
    );
    assert_eq!(h(&pck_extension(&pck_leaf(&bytes)).unwrap().fmspc), "90c06f000000");
}

#[test]
fn trustee_expected_claims_match_parsed_body() {
    let expected: serde_json::Value =
        serde_json::from_slice(&read_vector("attestation/tdx/trustee-tdx-quote-v4-plus-ccel-expected-claims.json"))
            .unwrap();
    let bytes = read_vector(TRUSTEE_V4);
    let q = parse_quote(&bytes).unwrap();
    let t = td(&bytes);
    let body = &expected["quote"]["body"];
    let header = &expected["quote"]["header"];
    let pairs: Vec<(&serde_json::Value, String)> = vec![
        (&body["mr_config_id"], h(&t.mr_config_id)),
        (&body["mr_owner"], h(&t.mr_owner)),
        (&body["mr_owner_config"], h(&t.mr_owner_config)),
        (&body["mr_seam"], h(&t.mr_seam)),
        (&body["mr_td"], h(&t.mr_td)),
        (&body["mrsigner_seam"], h(&t.mrsigner_seam)),
        (&body["report_data"], h(&t.report_data)),
        (&body["rtmr_0"], h(&t.rtmr[0])),
        (&body["rtmr_1"], h(&t.rtmr[1])),
        (&body["rtmr_2"], h(&t.rtmr[2])),
        (&body["rtmr_3"], h(&t.rtmr[3])),
        (&body["seam_attributes"], h(&t.seam_attributes)),
        (&body["tcb_svn"], h(&t.tee_tcb_svn)),
        (&body["td_attributes"], h(&t.td_attributes)),
        (&body["xfam"], h(&t.xfam)),
        (&header["version"], h(&q.header.version.to_le_bytes())),
        (&header["att_key_type"], h(&q.header.attestation_key_type.to_le_bytes())),
        (&header["tee_type"], h(&q.header.tee_type.to_le_bytes())),
        (&header["vendor_id"], h(&q.header.qe_vendor_id)),
        (&header["user_data"], h(&q.header.user_data)),
        (&expected["report_data"], h(&t.report_data)),
        (&expected["init_data"], h(&t.mr_config_id)),
    ];
    for (want, got) in pairs {
        assert_eq!(want.as_str(), Some(got.as_str()));
    }
    let attrs = TdAttributes::decode(t.td_attributes);
    let ta = &expected["td_attributes"];
    assert_eq!(ta["debug"], attrs.debug);
    assert_eq!(ta["septve_disable"], attrs.sept_ve_disable);
    assert_eq!(ta["protection_keys"], attrs.pks);
    assert_eq!(ta["key_locker"], attrs.kl);
    assert_eq!(ta["perfmon"], attrs.perfmon);
    let pck = pck_extension(&pck_leaf(&bytes)).unwrap();
    // trustee prints the platform instance id byte-reversed; the claims keep certificate order.
    let mut pid = pck.platform_instance_id.unwrap();
    pid.reverse();
    assert_eq!(expected["platform_instance_id"].as_str(), Some(h(&pid).as_str()));
}

/// The raw inner object of a PCS response `{"<key>":{...},"signature":"<hex>"}`.
fn pcs_split<'a>(text: &'a str, key: &str) -> (&'a str, Vec<u8>) {
    let start = text.find(&format!("{{\"{key}\":")).unwrap() + key.len() + 4;
    let end = text.rfind(",\"signature\":\"").unwrap();
    let sig = text[end + 14..].trim_end().trim_end_matches("\"}");
    (&text[start..end], hex::decode(sig).unwrap())
}

#[test]
fn trustee_pcs_tcb_info_and_qe_identity_verify_and_land_out_of_date() {
    let tcb_text =
        String::from_utf8(read_vector("attestation/tdx/trustee-pcs-tcbinfo-tdx-fmspc00a06d08.json")).unwrap();
    let qe_text = String::from_utf8(read_vector("attestation/tdx/trustee-pcs-qe-identity-td-qe.json")).unwrap();
    let (tcb_raw, tcb_sig) = pcs_split(&tcb_text, "tcbInfo");
    let (qe_raw, qe_sig) = pcs_split(&qe_text, "enclaveIdentity");
    let signer = parse_collateral(&collateral_of(DCAP_V4)).unwrap().tcb_info_issuer_chain.remove(0);
    assert_eq!(signer.common_name().as_deref(), Some("Intel SGX TCB Signing"));
    verify_raw_p256(&signer, tcb_raw.as_bytes(), &tcb_sig, "TCB info").unwrap();
    verify_raw_p256(&signer, qe_raw.as_bytes(), &qe_sig, "QE identity").unwrap();
    let mut tampered = tcb_raw.to_string().into_bytes();
    tampered[10] ^= 1;
    assert!(matches!(verify_raw_p256(&signer, &tampered, &tcb_sig, "x"), Err(Error::BadSignature { .. })));

    let dcap = parse_collateral(&collateral_of(DCAP_V4)).unwrap();
    assert_eq!(dcap.pck_crl.revoked_count(), 44);
    assert_eq!(dcap.pck_crl.issuer_name(), "Intel SGX PCK Platform CA");
    let info = parse_tcb_info(tcb_raw).unwrap();
    assert_eq!((info.id.as_str(), info.version, info.fmspc_hex().as_str()), ("TDX", 3, "00A06D080000"));
    assert_eq!((info.pce_id, info.tcb_evaluation_data_number, info.tcb_levels.len()), ([0, 0], 17, 2));
    assert_eq!(info.tdx_module.as_ref().unwrap().attributes_mask, [0xff; 8]);
    assert_eq!(info.next_update, datetime!(2025-11-26 13:07:17 UTC));
    let ids: Vec<&str> = info.tdx_module_identities.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["TDX_03", "TDX_01"]);
    let qe_id = parse_qe_identity(qe_raw).unwrap();
    assert_eq!((qe_id.id.as_str(), qe_id.version, qe_id.miscselect, qe_id.miscselect_mask), ("TD_QE", 2, 0, u32::MAX));
    assert_eq!(qe_id.isvprodid, 2);

    let bytes = read_vector(TRUSTEE_V4_00A06D08);
    let q = parse_quote(&bytes).unwrap();
    let t = td(&bytes);
    let pck = pck_extension(&pck_leaf(&bytes)).unwrap();
    check_module_identity(&info, &t).unwrap();
    let (platform, current) = platform_verdict_tdx(&info, &pck, &t).unwrap();
    assert_eq!((platform.status, current), (TcbStatus::OutOfDate, None));
    assert_eq!(qe_level(&q.qe_report, &qe_id).unwrap().tcb_status, TcbStatus::UpToDate);
    // With PCE SVN 13 the same platform would be up to date.
    let mut newer = pck.clone();
    newer.pce_svn = 13;
    assert_eq!(platform_verdict_tdx(&info, &newer, &t).unwrap().0.status, TcbStatus::UpToDate);
    // Below the OutOfDate level (PCE SVN 5) nothing matches.
    newer.pce_svn = 4;
    assert!(matches!(platform_verdict_tdx(&info, &newer, &t), Err(Error::NoMatchingTcbLevel(_))));
}

#[test]
fn dcap_v4_verifies_up_to_date_inside_the_window() {
    let claims = verify_at(&quote_of(DCAP_V4), &collateral_of(DCAP_V4), DCAP_V4_AT).unwrap();
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    let (q, p) = (&claims.quote, &claims.platform);
    assert!(p.advisory_ids.is_empty());
    assert_eq!((q.quote_version, q.tee_type, q.body_type), (4, 0x81, 2));
    assert_eq!(p.fmspc, "b0c06f000000");
    assert_eq!(p.pce_id, "0000");
    assert_eq!(p.tcb_evaluation_data_number, 17);
    assert_eq!(p.tcb_info_issue_date, "2025-06-19T10:16:03Z");
    assert_eq!(p.tcb_info_next_update, "2025-07-19T10:16:03Z");
    assert_eq!(claims.init_data, q.mrconfigid);
    assert!(q.td_attributes.sept_ve_disable && !q.td_attributes.debug);
    assert!(claims.event_log.is_none() && q.tee_tcb_svn2.is_none() && q.mr_servicetd.is_none());
    let json = crate::Claims::Tdx(claims).to_json();
    assert_eq!(json["tee"], "tdx");
    assert_eq!(json["tcb_status"], "UpToDate");
    assert_eq!(
        json["mrtd"],
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert_eq!(json["td_attributes"]["raw"], "0000001000000000");
    assert_eq!(json["advisory_ids"], serde_json::json!([]));
    assert_eq!(json["quote_version"], 4);
    assert!(json.get("event_log").is_none() && json.get("mr_servicetd").is_none());
    assert_eq!(json["report_data"], "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20");
    // Also at the start of the window, and through the crate's dispatch with trustee's JSON evidence.
    verify_at(&quote_of(DCAP_V4), &collateral_of(DCAP_V4), datetime!(2025-06-20 0:00 UTC)).unwrap();
    let evidence = serde_json::json!({
        "quote": base64::engine::general_purpose::STANDARD.encode(quote_of(DCAP_V4)),
        "cc_eventlog": null,
        "aa_eventlog": null,
    });
    let evidence = serde_json::to_vec(&evidence).unwrap();
    let endorsements = Endorsements { collateral: Some(collateral_of(DCAP_V4)), ..Default::default() };
    let claims = crate::verify(Tee::Tdx, &Evidence::detect(&evidence), &endorsements, &VerifyOptions::at(DCAP_V4_AT));
    assert!(matches!(claims.unwrap(), crate::Claims::Tdx(c) if c.tcb_status == TcbStatus::UpToDate));
}

fn expired_what(result: crate::Result<TdxClaims>) -> String {
    match result {
        Err(Error::CollateralExpired { what, .. }) => what,
        other => panic!("expected CollateralExpired, got {other:?}"),
    }
}

#[test]
fn dcap_v4_expired_collateral_is_named() {
    let (q, c) = (quote_of(DCAP_V4), collateral_of(DCAP_V4));
    assert_eq!(expired_what(verify_at(&q, &c, datetime!(2025-07-20 0:00 UTC))), "TCB info");
    // Between the PCK CRL's and the TCB info's next update.
    assert!(expired_what(verify_at(&q, &c, datetime!(2025-07-19 10:05 UTC))).starts_with("PCK CRL"));
    assert!(expired_what(verify_at(&q, &c, datetime!(2026-11-15 0:00 UTC))).starts_with("root CA CRL"));
    assert_eq!(expired_what(verify_at(&q, &c, datetime!(2025-06-01 0:00 UTC))), "TCB info");
}

#[test]
fn dcap_v5_has_no_matching_tcb_level() {
    let (q, c) = (quote_of(DCAP_V5), collateral_of(DCAP_V5));
    for at in [datetime!(2026-02-19 0:00 UTC), datetime!(2026-03-20 0:00 UTC)] {
        assert!(matches!(verify_at(&q, &c, at), Err(Error::NoMatchingTcbLevel(_))));
    }
    assert!(expired_what(verify_at(&q, &c, datetime!(2026-11-15 0:00 UTC))).contains("CRL"));
    // trustee's v5 quote of the same FMSPC also matches no level.
    let trustee = read_vector(TRUSTEE_V5);
    assert!(matches!(verify_at(&trustee, &c, datetime!(2026-02-19 0:00 UTC)), Err(Error::NoMatchingTcbLevel(_))));
}

#[test]
fn sgx_v3_quote_verifies_with_advisories_but_is_not_tdx_evidence() {
    let collateral = parse_collateral(&collateral_of(DCAP_SGX)).unwrap();
    let roots = roots::trusted_roots(None).unwrap();
    let verified = VerifiedCollateral::new(&collateral, &roots, DCAP_V4_AT).unwrap();
    let result = verify_quote(&quote_of(DCAP_SGX), &verified, DCAP_V4_AT).unwrap();
    assert!(matches!(result.quote.body, Body::Sgx(_)));
    assert_eq!(result.pck_leaf.issuer_common_name().as_deref(), Some("Intel SGX PCK Processor CA"));
    assert_eq!((result.pck.platform_instance_id.as_ref(), result.pck.dynamic_platform), (None, None));
    assert_eq!(h(&result.pck.fmspc), "00a067110000");
    assert_eq!(result.tcb.status, TcbStatus::ConfigurationAndSWHardeningNeeded);
    assert_eq!(result.tcb.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    assert!(matches!(
        verify_at(&quote_of(DCAP_SGX), &collateral_of(DCAP_SGX), DCAP_V4_AT),
        Err(Error::Unsupported { .. })
    ));
    // The SGX collateral does not fit a TDX quote.
    assert!(matches!(verify_quote(&quote_of(DCAP_V4), &verified, DCAP_V4_AT), Err(Error::Mismatch { .. })));
}

#[test]
fn report_data_and_init_data_are_checked() {
    let quote = quote_of(DCAP_V4);
    let endorsements = Endorsements { collateral: Some(collateral_of(DCAP_V4)), ..Default::default() };
    let t = td(&quote);
    let mut options = VerifyOptions::at(DCAP_V4_AT);
    options.report_data = Some(t.report_data.to_vec());
    options.init_data_digest = Some(vec![0u8; 48]);
    verify(&Evidence::detect(&quote), &endorsements, &options).unwrap();
    options.report_data = Some(vec![0x9a, 0x9d]);
    let err = verify(&Evidence::detect(&quote), &endorsements, &options).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "report data"), "{err}");
    options.report_data = None;
    options.init_data_digest = Some(vec![1u8; 32]);
    let err = verify(&Evidence::detect(&quote), &endorsements, &options).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "init data"), "{err}");
}

#[test]
fn missing_or_tampered_endorsements_are_rejected() {
    let quote = quote_of(DCAP_V4);
    let err = verify(&Evidence::detect(&quote), &Endorsements::default(), &VerifyOptions::at(DCAP_V4_AT)).unwrap_err();
    assert!(matches!(err, Error::MissingEndorsement(_)));

    let mut doc: serde_json::Value = serde_json::from_slice(&collateral_of(DCAP_V4)).unwrap();
    let text = doc["tcb_info"].as_str().unwrap().replace("\"UpToDate\"", "\"UpToDate\" ");
    doc["tcb_info"] = text.into();
    let err = verify_at(&quote, &serde_json::to_vec(&doc).unwrap(), DCAP_V4_AT).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "TCB info"), "{err}");

    let mut doc: serde_json::Value = serde_json::from_slice(&collateral_of(DCAP_V4)).unwrap();
    doc["qe_identity_signature"] = "00".repeat(64).into();
    let err = verify_at(&quote, &serde_json::to_vec(&doc).unwrap(), DCAP_V4_AT).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "QE identity"), "{err}");

    // Collateral of another platform: FMSPC differs.
    let err = verify_at(&quote, &collateral_of(DCAP_V5), datetime!(2026-02-19 0:00 UTC)).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what.starts_with("FMSPC")), "{err}");
    assert!(parse_collateral(b"{}").unwrap_err().is_malformed());
}

#[test]
fn tampered_quotes_are_rejected() {
    let collateral = parse_collateral(&collateral_of(DCAP_V4)).unwrap();
    let roots = roots::trusted_roots(None).unwrap();
    let verified = VerifiedCollateral::new(&collateral, &roots, DCAP_V4_AT).unwrap();
    let quote = quote_of(DCAP_V4);
    verify_quote(&quote, &verified, DCAP_V4_AT).unwrap();
    let signed_len = quote::HEADER_SIZE + quote::TD_REPORT10_SIZE;
    // Body byte (MRTD): quote signature fails.
    let mut q = quote.clone();
    q[quote::HEADER_SIZE + 150] ^= 1;
    let err = verify_quote(&q, &verified, DCAP_V4_AT).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "DCAP quote"), "{err}");
    // QE report byte (inside the signature data): PCK signature fails.
    let mut q = quote.clone();
    q[signed_len + 4 + 128 + 6 + 100] ^= 1;
    let err = verify_quote(&q, &verified, DCAP_V4_AT).unwrap_err();
    assert!(matches!(&err, Error::BadSignature { what, .. } if what == "QE report"), "{err}");
    // Attestation key byte: the QE report no longer binds it.
    let mut q = quote.clone();
    q[signed_len + 4 + 64 + 5] ^= 1;
    let err = verify_quote(&q, &verified, DCAP_V4_AT).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what.starts_with("QE report data")), "{err}");
    // Truncated quotes are malformed, not panics.
    for len in [0, 10, signed_len, quote.len() - 100] {
        assert!(parse_quote(&quote[..len]).unwrap_err().is_malformed());
    }
    // A root that is not Intel's does not anchor the collateral.
    let other = Certificate::all_from_pem(&read_vector("attestation/snp/amd-milan-ask-ark-asvk.pem")).unwrap();
    let err = VerifiedCollateral::new(&collateral, &other[1..2], DCAP_V4_AT).unwrap_err();
    assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
    // An extra root given through endorsements.chain is accepted beside the built-in one.
    let extra = roots::trusted_roots(Some(&read_vector("attestation/snp/amd-milan-ask-ark-asvk.pem"))).unwrap();
    assert_eq!(extra.len(), 4);
    VerifiedCollateral::new(&collateral, &extra, DCAP_V4_AT).unwrap();
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn verified() -> &'static (Vec<u8>, VerifiedCollateral) {
        static CELL: std::sync::OnceLock<(Vec<u8>, VerifiedCollateral)> = std::sync::OnceLock::new();
        CELL.get_or_init(|| {
            let collateral = parse_collateral(&collateral_of(DCAP_V4)).unwrap();
            let v = VerifiedCollateral::new(&collateral, &roots::trusted_roots(None).unwrap(), DCAP_V4_AT).unwrap();
            (quote_of(DCAP_V4), v)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_change_in_the_signed_region_is_rejected(
            pos in 0usize..(quote::HEADER_SIZE + quote::TD_REPORT10_SIZE),
            xor in 1u8..=255,
        ) {
            let (quote, collateral) = verified();
            let mut q = quote.clone();
            q[pos] ^= xor;
            prop_assert!(verify_quote(&q, collateral, DCAP_V4_AT).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let _ = parse_quote(&bytes);
            let _ = parse_event_log(&bytes);
            let _ = parse_collateral(&bytes);
            let _ = pck::parse_pck_extension(&bytes);
        }

        #[test]
        fn mutated_quotes_never_panic(pos in 0usize..5006, value in any::<u8>(), cut in 0usize..5006) {
            let (quote, collateral) = verified();
            let mut q = quote.clone();
            let n = q.len();
            q[pos % n] = value;
            q.truncate(cut.max(1));
            let _ = verify_quote(&q, collateral, DCAP_V4_AT);
        }
    }
}

mod events {
    use super::*;

    const LOGS: [(&str, usize, [&str; 3]); 5] = [
        (
            "CCEL_data",
            5,
            [
                "2dc712306a963eadb894ad47dbaa17df44814151555aee11cbb843becca88950ffd079664902e6f22c66f7c8213543f4",
                "0fa3be56af61208bbd179dc7b124988eb929319154663c539d6f46445ecac2fec287075047ff7bd1922829fec28cd3cf",
                "",
            ],
        ),
        (
            "CCEL_data_ovmf",
            20,
            [
                "8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb484404f2ab9cc90abe193",
                "775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c1c16305f1fc210c13c6",
                "94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d9e8b49c503bbf25f34a",
            ],
        ),
        (
            "CCEL_data_grub",
            37,
            [
                "cec0a104f691f60da2387fea3c2de00c4ac035e2bb479ff02edcce69039d9e9907f0b3e55031da3dc7038f423adebd79",
                "6c289e0c62182d41ebe97bdbc9872d10998a08eaa86adcdc684001a363207ee72942c7522cdf00a4bbc3d784bed7b670",
                "08919d017ba0e52cd6d966351c7de16fe76c1d3d3d3da4554239e4c7d16cb8b82a94e7eaea3a0e6e18eb690b999fd31e",
            ],
        ),
        (
            "CCEL_data_gcp",
            21,
            [
                "3300980705adf09d28b707b79699d9874892164280832be2c386a715b6e204e0897fb564a064f810659207ba862b304f",
                "204d49f78d29918fe7b2f694e76653861a0c2a018987d2c3a54266eff737232524cf0af68c4d180e2f8c2c0937f21967",
                "",
            ],
        ),
        (
            "CCEL_data_grub_gke",
            35,
            [
                "bc9945139042cf2cc75caf920aa57f14884ecfd7e893bccc51250c8ce90eb53ce72741e6adaa18183eb1331a87d4544a",
                "c17cb288a4dee302bb9ed8d27257a168f3264ad68cab53757f37eeaa7039657fa887cad65cf910e0fdc435ff110f8a7b",
                "334aeba2c985f8886cea97d1ecffbd512769d528b9a94009583db667ad7d2faa7d37fa145d75b192ceee2d2f10b2eb6d",
            ],
        ),
    ];

    fn log(name: &str) -> EventLog {
        parse_event_log(&read_vector(&format!("attestation/tdx/eventlog/{name}.bin"))).unwrap()
    }

    fn expected(rtmrs: [&str; 3]) -> [[u8; 48]; 4] {
        let mut out = [[0u8; 48]; 4];
        for (slot, text) in out.iter_mut().zip(rtmrs) {
            if !text.is_empty() {
                slot.copy_from_slice(&hex::decode(text).unwrap());
            }
        }
        out
    }

    #[test]
    fn all_five_logs_replay_to_the_known_rtmrs() {
        for (name, count, rtmrs) in LOGS {
            let log = log(name);
            assert_eq!(log.events.len(), count, "{name}");
            let want = expected(rtmrs);
            assert_eq!(log.replay().unwrap(), want, "{name}");
            let replay = log.check_against(&want).unwrap();
            assert_eq!(replay.event_count, count);
            assert_eq!(replay.rtmr[3], zeros(48));
            // None of these logs extends RTMR3, so a runtime-extended RTMR3 in the quote is left to policy.
            let mut runtime = want;
            runtime[3] = [0x5a; 48];
            log.check_against(&runtime).unwrap();
        }
    }

    #[test]
    fn a_changed_rtmr_is_named() {
        let (_, _, rtmrs) = LOGS[3];
        let mut want = expected(rtmrs);
        want[0][47] ^= 0x03; // ...304f -> ...304c
        let err = log("CCEL_data_gcp").check_against(&want).unwrap_err();
        assert!(matches!(&err, Error::Mismatch { what, .. } if what.starts_with("RTMR0")), "{err}");
        let mut want = expected(LOGS[0].2);
        want[1][0] ^= 0x20; // 0fa3... -> 2fa3...
        let err = log("CCEL_data").check_against(&want).unwrap_err();
        assert!(matches!(&err, Error::Mismatch { what, .. } if what.starts_with("RTMR1")), "{err}");
    }

    #[test]
    fn evidence_with_a_log_that_does_not_match_the_quote_is_rejected() {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let evidence = serde_json::json!({
            "quote": b64(&quote_of(DCAP_V4)),
            "cc_eventlog": b64(&read_vector("attestation/tdx/eventlog/CCEL_data.bin")),
        });
        let evidence = serde_json::to_vec(&evidence).unwrap();
        let (q, log) = parse_evidence(&Evidence::detect(&evidence)).unwrap();
        assert_eq!(q, quote_of(DCAP_V4));
        assert!(log.is_some());
        let err = verify_at(&evidence, &collateral_of(DCAP_V4), DCAP_V4_AT).unwrap_err();
        assert!(matches!(&err, Error::Mismatch { what, .. } if what.starts_with("RTMR0")), "{err}");
    }

    #[test]
    fn truncated_logs_are_errors() {
        let bytes = read_vector("attestation/tdx/eventlog/CCEL_data_ovmf.bin");
        assert!(parse_event_log(&bytes[..10]).unwrap_err().is_malformed());
        assert!(parse_event_log(&[0xff; 64]).is_err());
        // Cutting inside the Spec ID event fails.
        assert!(parse_event_log(&bytes[..40]).unwrap_err().is_malformed());
    }
}
