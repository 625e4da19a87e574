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

#[test]
fn keys_equal_but_for_letter_case_are_refused_at_any_depth() {
    for body in [
        &br#"{"users":[{"ID":"1","id":"2"}]}"#[..],
        br#"{"data":[{"owner":{"id":1},"Owner":{"id":2}}]}"#,
        br#"{"a":{"b":[{"x":1,"X":2}]}}"#,
        "{\"\u{0131}d\":1,\"id\":2}".as_bytes(),
        br#"{"\u0131d":1,"ID":2}"#,
        "{\"u\u{017F}ers\":[],\"users\":[]}".as_bytes(),
    ] {
        assert!(
            matches!(parse_strict(body), Err(JsonError::CaseVariantKeys(_, _))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let error = parse_strict(br#"{"id":1,"Id":2}"#).unwrap_err();
    assert_eq!(error, JsonError::CaseVariantKeys("id".into(), "Id".into()));
    assert!(parse_strict(br#"{"id":1,"idx":2,"ID_":3}"#).is_ok());
}

#[test]
fn escaped_keys_are_compared_after_decoding() {
    let error = parse_strict(br#"{"\u0069d":1,"id":2}"#).unwrap_err();
    assert_eq!(error, JsonError::DuplicateKey("id".to_owned()));
}

#[test]
fn key_is_matches_exactly_up_to_case() {
    assert!(key_is("Owner", "owner"));
    assert!(key_is("OWNER", "owner"));
    assert!(key_is("\u{0131}d", "id"));
    assert!(!key_is("owners", "owner"));
    assert!(!key_is("id ", "id"));
}
