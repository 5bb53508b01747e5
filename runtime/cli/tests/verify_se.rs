//! `arca verify --tee se`: evidence is parsed before anything else is asked for.

mod common;

use common::{assert_one_line_error, vector, verify};

#[test]
fn exchange_response_needs_configuration() {
    let (code, out, err) = verify(&["--tee", "se", "--evidence", &vector("se/exchange/full_resp.bin")]);
    assert_eq!(code, 1, "{err}");
    assert_one_line_error(&out, &err);
    assert!(err.contains("missing endorsement: SE verification configuration"), "{err}");
}

#[test]
fn a_request_is_not_a_response() {
    // min_req has no CUID: it is a request, and reading it as evidence fails as malformed.
    let (code, out, err) = verify(&["--tee", "se", "--evidence", &vector("se/exchange/min_req.bin")]);
    assert_eq!(code, 2, "{err}");
    assert_one_line_error(&out, &err);
}
