use super::*;

#[test]
fn big_integers_stay_integers() {
    let value = parse_strict(br#"{"id": 4150868000000225013, "n": -5}"#).unwrap();
    assert_eq!(value["id"].as_u64(), Some(4_150_868_000_000_225_013));
    assert_eq!(value["n"].as_i64(), Some(-5));
    assert!(value["id"].is_u64());
}

#[test]
fn duplicate_keys_are_refused_at_any_depth() {
    let error = parse_strict(br#"{"data": [{"Owner": 1, "Owner": 2}]}"#).unwrap_err();
    assert_eq!(error, JsonError::DuplicateKey("Owner".to_owned()));
}

#[test]
fn malformed_json_and_trailing_bytes_are_errors_not_panics() {
    for body in [&b"{"[..], b"", b"{} x", b"\xff", b"[1,]", b"{\"a\":01}"] {
        assert!(
            matches!(parse_strict(body), Err(JsonError::Malformed(_))),
            "{body:?}"
        );
    }
    let deep = "[".repeat(10_000);
    assert!(parse_strict(deep.as_bytes()).is_err());
}
