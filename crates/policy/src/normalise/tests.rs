use super::*;

fn code(raw: &str) -> &'static str {
    match normalise_target(raw) {
        Ok(target) => panic!("{raw} was accepted as {target}"),
        Err(error) => error.code(),
    }
}

#[test]
fn a_plain_path_is_its_own_canonical_form() {
    let target = normalise_target("/crm/v8/Leads/42").unwrap();
    assert_eq!(target.path(), "/crm/v8/Leads/42");
    assert_eq!(target.match_key(), "/crm/v8/leads/42");
    assert_eq!(target.query(), None);
    assert_eq!(target.forward_target(), "/crm/v8/Leads/42");
}

#[test]
fn repeated_and_trailing_slashes_collapse_and_the_query_is_kept_verbatim() {
    let target = normalise_target("//crm///v8/Leads//?fields=a%2Cb&x=a%2Fb").unwrap();
    assert_eq!(target.path(), "/crm/v8/Leads");
    assert_eq!(target.query(), Some("fields=a%2Cb&x=a%2Fb"));
    assert_eq!(
        target.forward_target(),
        "/crm/v8/Leads?fields=a%2Cb&x=a%2Fb"
    );
    assert_eq!(normalise_target("/").unwrap().path(), "/");
    assert_eq!(normalise_target("///").unwrap().path(), "/");
}

#[test]
fn unreserved_escapes_are_decoded_in_the_forwarded_path() {
    let target = normalise_target("/crm/v8/%4ceads/1/actions/send%5Fmail%7E%2d%2E1").unwrap();
    assert_eq!(target.path(), "/crm/v8/Leads/1/actions/send_mail~-.1");
}

#[test]
fn encoded_slash_backslash_and_double_encoding_are_refused() {
    assert_eq!(code("/crm/v8/settings%2Faudit_log_export"), "encoded_slash");
    assert_eq!(code("/crm/v8/settings%2faudit_log_export"), "encoded_slash");
    assert_eq!(
        code("/crm/v8/settings%5Caudit_log_export"),
        "backslash_in_path"
    );
    assert_eq!(
        code("/crm/v8/settings\\audit_log_export"),
        "backslash_in_path"
    );
    assert_eq!(code("/crm/v8/%252e%252e/x"), "double_encoding");
    assert_eq!(code("/crm/v8/%25"), "double_encoding");
}

#[test]
fn dot_segments_are_refused_plain_and_encoded() {
    assert_eq!(code("/crm/v8/./settings"), "dot_segment");
    assert_eq!(code("/crm/v8/x/../settings"), "dot_segment");
    assert_eq!(code("/crm/v8/x/%2e%2e/settings"), "dot_segment");
    assert_eq!(code("/crm/v8/x/.%2E/settings"), "dot_segment");
    assert_eq!(code("/crm/v8/x/.../settings"), "dot_segment");
    assert_eq!(code("/crm/v8/x/send_mail."), "trailing_dot_segment");
    assert_eq!(code("/crm/v8/x/.."), "dot_segment");
}

#[test]
fn path_parameters_control_characters_and_non_ascii_are_refused() {
    assert_eq!(code("/crm/v8/..;x/settings"), "path_parameter");
    assert_eq!(code("/crm/v8/Leads;jsessionid=1"), "path_parameter");
    assert_eq!(code("/crm/v8/Leads%3Bx"), "encoded_reserved_character");
    assert_eq!(code("/crm/v8/Leads%00"), "control_character");
    assert_eq!(code("/crm/v8/Leads\u{0}"), "control_character");
    assert_eq!(code("/crm/v8/Leads%0a"), "control_character");
    assert_eq!(code("/crm/v8/Leads\t"), "control_character");
    assert_eq!(code("/crm/v8/%c0%afsettings"), "non_ascii_path");
    assert_eq!(code("/crm/v8/Léads"), "non_ascii_path");
    assert_eq!(code("/crm/v8/Leads%zz"), "malformed_percent_encoding");
    assert_eq!(code("/crm/v8/Leads%4"), "malformed_percent_encoding");
    assert_eq!(code("/crm/v8/Le ads"), "invalid_path_character");
    assert_eq!(code("/crm/v8/Le%20ads"), "encoded_reserved_character");
    assert_eq!(code("/crm/v8/Leads%3Fx"), "encoded_reserved_character");
}

#[test]
fn odd_request_targets_are_refused() {
    assert_eq!(
        code("http://crm.example/crm/v8/Leads"),
        "absolute_form_target"
    );
    assert_eq!(code("*"), "odd_request_target");
    assert_eq!(code(""), "odd_request_target");
    assert_eq!(code("crm.example:443"), "odd_request_target");
    assert_eq!(code("/crm/v8/Leads#x"), "fragment_in_target");
    assert_eq!(
        code(&format!("/{}", "a".repeat(MAX_TARGET_LEN))),
        "target_too_long"
    );
}

#[test]
fn override_query_parameters_are_refused_in_any_spelling() {
    assert_eq!(code("/crm/v8/Leads?_method=DELETE"), "method_override");
    assert_eq!(code("/crm/v8/Leads?a=1&_METHOD=DELETE"), "method_override");
    assert_eq!(code("/crm/v8/Leads?a=1;_method=DELETE"), "method_override");
    assert_eq!(code("/crm/v8/Leads?%5Fmethod=DELETE"), "method_override");
    assert_eq!(code("/crm/v8/Leads?%255Fmethod=DELETE"), "method_override");
    assert_eq!(code("/crm/v8/Leads?_url=/crm/v8/settings"), "path_override");
    assert_eq!(code("/crm/v8/Leads?x=%00"), "control_character");
    assert!(normalise_target("/crm/v8/Leads?method_name=x&criteria=(a:equals:b)").is_ok());
}

#[test]
fn override_headers_are_refused_and_others_pass() {
    assert!(check_header_names(["Accept", "Content-Type", "X-Forwarded-For"]).is_ok());
    for name in METHOD_OVERRIDE_HEADERS {
        let upper = name.to_ascii_uppercase();
        assert_eq!(
            check_header_names([upper.as_str()]).unwrap_err().code(),
            "method_override"
        );
    }
    for name in PATH_OVERRIDE_HEADERS {
        assert_eq!(
            check_header_names([*name]).unwrap_err().code(),
            "path_override"
        );
    }
}

#[test]
fn a_path_hidden_in_the_query_is_refused() {
    for target in [
        "/crm/v8/Leads?/crm/v8/Leads/1/actions/send_mail",
        "/crm/v8/Leads?x=/crm/v8/Leads/1/actions/send_mail",
        "/crm/v8/Leads?next=%2Fcrm%2Fbulk%2Fv8%2Fread",
        "/crm/v8/Leads?next=%252Fcrm%252Fbulk%252Fv8%252Fread",
        "/crm/v8/Leads?a=1;u=http://crm.example/crm/v8/settings/audit_log_export",
        "/crm/v8/Leads?x=%5C%5Chost%5Cshare",
    ] {
        let refused = normalise_target(target).unwrap_err();
        assert_eq!(refused.code(), "path_override", "{target}");
    }
    assert!(normalise_target("/crm/v8/Leads?criteria=(Last_Name:equals:a/b)&page=2").is_ok());
}
