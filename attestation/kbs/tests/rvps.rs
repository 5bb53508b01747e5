//! Reference values: ingestion through both extractors, expiry, replacement.

use std::sync::Arc;

use arca_kbs::rvps::{ReferenceValue, ReferenceValues, RvpsMessage};
use arca_kbs::storage::{FsStore, MemoryStore, Store};
use arca_kbs::Error;
use base64::Engine as _;
use serde_json::json;
use time::macros::datetime;
use time::Duration;

const NOW: time::OffsetDateTime = datetime!(2026-11-29 12:00 UTC);

fn msg(kind: &str, payload: String) -> RvpsMessage {
    RvpsMessage { version: "0.1.0".into(), r#type: kind.into(), payload }
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

#[test]
fn sample_extractor_registers_lists_that_expire_after_a_year() {
    let rv = ReferenceValues::new(Arc::new(MemoryStore::new()));
    let names = rv.ingest_at(&msg("sample", b64(&json!({"svn": ["1", "2"], "launch_digest": ["abcd"]}))), NOW).unwrap();
    assert_eq!(names, vec!["launch_digest".to_string(), "svn".to_string()]);
    assert_eq!(rv.get_at("svn", NOW).unwrap(), vec![json!("1"), json!("2")]);
    assert_eq!(rv.get_at("missing", NOW).unwrap(), Vec::<serde_json::Value>::new());
    let raw = rv.get_raw("svn").unwrap().unwrap();
    assert_eq!(raw.expiration, NOW + Duration::days(365));
    assert_eq!(raw.version, "0.1.0");
    // Just before expiry it counts, from expiry on it does not.
    assert_eq!(rv.get_at("svn", raw.expiration - Duration::seconds(1)).unwrap().len(), 2);
    assert!(rv.get_at("svn", raw.expiration).unwrap().is_empty());
    assert!(rv.all_at(raw.expiration).unwrap().is_empty());
    assert_eq!(
        serde_json::Value::Object(rv.all_at(NOW).unwrap()),
        json!({"svn": ["1", "2"], "launch_digest": ["abcd"]})
    );
}

#[test]
fn arca_extractor_takes_scalars_lists_and_an_expiration() {
    let rv = ReferenceValues::new(Arc::new(MemoryStore::new()));
    let doc = json!({
        "snp_launch_measurement": "a1f3",
        "mr_td": ["x", "y"],
        "expiration": "2027-01-01T00:00:00Z",
    });
    rv.ingest_at(&msg("arca", doc.to_string()), NOW).unwrap();
    assert_eq!(rv.get_at("snp_launch_measurement", NOW).unwrap(), vec![json!("a1f3")]);
    assert_eq!(rv.get_at("mr_td", NOW).unwrap(), vec![json!("x"), json!("y")]);
    assert!(rv.get_at("expiration", NOW).unwrap().is_empty(), "expiration is not a value");
    assert!(rv.get_at("mr_td", datetime!(2027-01-01 0:00 UTC)).unwrap().is_empty());
    // The same document base64-encoded is accepted too; a new ingest replaces the old list.
    rv.ingest_at(&msg("arca", b64(&json!({"mr_td": "z"}))), NOW).unwrap();
    assert_eq!(rv.get_at("mr_td", NOW).unwrap(), vec![json!("z")]);
}

#[test]
fn real_clock_get_and_all_see_fresh_values_and_skip_expired_ones() {
    let rv = ReferenceValues::new(Arc::new(MemoryStore::new()));
    rv.ingest(&msg("arca", json!({"fresh": 1}).to_string())).unwrap();
    rv.register(&ReferenceValue {
        version: "0.1.0".into(),
        name: "stale".into(),
        expiration: datetime!(2020-01-01 0:00 UTC),
        value: json!(["old"]),
    })
    .unwrap();
    assert_eq!(rv.get("fresh").unwrap(), vec![json!(1)]);
    assert!(rv.get("stale").unwrap().is_empty());
    assert_eq!(serde_json::Value::Object(rv.all().unwrap()), json!({"fresh": [1]}));
    assert!(rv.delete("stale").unwrap());
    assert!(rv.get_raw("stale").unwrap().is_none());
}

#[test]
fn bad_messages_are_rejected_with_what_was_expected() {
    let rv = ReferenceValues::new(Arc::new(MemoryStore::new()));
    let cases = [
        (RvpsMessage { version: "0.2.0".into(), r#type: "sample".into(), payload: String::new() }, "expected 0.1.0"),
        (msg("swid", "x".into()), "extractor"),
        (msg("sample", "***".into()), "base64"),
        (msg("sample", b64(&json!({"svn": "1"}))), "expected an array"),
        (msg("sample", b64(&json!(["svn"]))), "expected a JSON object"),
        (msg("arca", "{not json".into()), "invalid JSON"),
        (msg("arca", json!({"a": 1, "expiration": "tomorrow"}).to_string()), "RFC 3339"),
        (msg("arca", json!({}).to_string()), "at least one"),
        (msg("arca", json!({"": 1}).to_string()), "name"),
        (msg("arca", json!({"a\u{7}": 1}).to_string()), "control"),
    ];
    for (m, needle) in cases {
        let e = rv.ingest_at(&m, NOW).unwrap_err();
        assert!(matches!(e, Error::Rvps { .. }), "{m:?}: {e}");
        assert_eq!(e.kbs_error_variant(), Some("RvpsError"));
        assert!(e.to_string().contains(needle), "{m:?}: {e}");
    }
    let huge = msg("arca", format!("{{\"a\": \"{}\"}}", "x".repeat(2 << 20)));
    assert!(matches!(rv.ingest_at(&huge, NOW), Err(Error::TooLarge { .. })));
    assert!(rv.all_at(NOW).unwrap().is_empty(), "nothing from a rejected message was stored");
}

#[test]
fn values_persist_in_the_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store: Arc<dyn Store> = Arc::new(FsStore::open(dir.path()).unwrap());
        ReferenceValues::new(store).ingest_at(&msg("arca", json!({"rtmr_1": "aa"}).to_string()), NOW).unwrap();
    }
    let rv = ReferenceValues::new(Arc::new(FsStore::open(dir.path()).unwrap()));
    assert_eq!(rv.get_at("rtmr_1", NOW).unwrap(), vec![json!("aa")]);
}
