use std::time::Duration;

use chrono::{TimeZone, Utc};
use http::{HeaderValue, StatusCode};
use support_access_core::Grant;
use support_access_core::ids::{OrgId, StaffId};

use super::*;

fn signer(dir: &std::path::Path) -> SupportSigner {
    SupportSigner::load_or_create(
        &dir.join("k.pem"),
        "support-gateway",
        "crm",
        Duration::from_secs(900),
        Duration::from_secs(60),
    )
    .unwrap()
}

fn support_token(signer: &SupportSigner) -> String {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let grant = Grant::new(
        OrgId::from("o"),
        "a",
        now,
        now + chrono::Duration::days(1),
        None,
        None,
    );
    signer.issue(&grant, &StaffId::from("ana"), now).unwrap().0
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn a_request_without_a_token_or_with_an_opaque_one_is_ordinary() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    assert_eq!(
        identify(&HeaderMap::new(), None, None, &[], &signer),
        Ok(Identity::Ordinary)
    );
    let zoho = headers(&[("authorization", "Zoho-oauthtoken 1000.abc.def")]);
    assert_eq!(
        identify(&zoho, None, None, &[], &signer),
        Ok(Identity::Ordinary)
    );
}

#[test]
fn a_support_token_is_found_whatever_the_scheme_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let token = support_token(&signer);
    for scheme in [
        "Bearer",
        "bearer",
        "BEARER",
        "Zoho-oauthtoken",
        "zoho-OAUTHTOKEN",
        "Token",
        "Basic",
    ] {
        let map = headers(&[("authorization", &format!("{scheme}  {token} "))]);
        assert_eq!(
            identify(&map, None, None, &[], &signer),
            Ok(Identity::Support(token.clone())),
            "{scheme}"
        );
    }
    let bare = headers(&[("authorization", &token)]);
    assert_eq!(
        identify(&bare, None, None, &[], &signer),
        Ok(Identity::Support(token))
    );
}

#[test]
fn a_support_token_in_the_query_or_a_configured_cookie_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let token = support_token(&signer);
    let query = format!("page=1&ACCESS_TOKEN={token}");
    assert_eq!(
        identify(&HeaderMap::new(), Some(&query), None, &[], &signer),
        Ok(Identity::Support(token.clone()))
    );
    let cookies = headers(&[("cookie", &format!("theme=dark; crm_token={token}"))]);
    assert_eq!(
        identify(&cookies, None, None, &["crm_token".to_owned()], &signer),
        Ok(Identity::Support(token))
    );
}

#[test]
fn two_distinct_tokens_or_two_authorization_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let token = support_token(&signer);
    let beside = headers(&[("authorization", "Zoho-oauthtoken 1000.abc.def")]);
    let query = format!("access_token={token}");
    let refused = identify(&beside, Some(&query), None, &[], &signer).unwrap_err();
    assert_eq!(
        (refused.status(), refused.code()),
        (StatusCode::BAD_REQUEST, "several_tokens")
    );
    let twice = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
    let refused = identify(&twice, None, None, &[], &signer).unwrap_err();
    assert_eq!(refused.code(), "several_authorization_headers");
    let same = headers(&[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(
        identify(&same, Some(&query), None, &[], &signer),
        Ok(Identity::Support(token)),
        "the same token twice is one token"
    );
}

#[test]
fn a_support_token_folded_behind_another_in_one_authorization_line_is_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let other = support_token(&signer(a.path()));
    let ours = signer(b.path());
    let token = support_token(&ours);
    let folded = headers(&[("authorization", &format!("Bearer {other}, Bearer {token}"))]);
    let refused = identify(&folded, None, None, &[], &ours).unwrap_err();
    assert_eq!(refused.code(), "several_tokens");
    let digest = headers(&[("authorization", r#"Digest username="a", realm="b""#)]);
    assert_eq!(
        identify(&digest, None, None, &[], &ours),
        Ok(Identity::Ordinary)
    );
}

#[test]
fn a_token_claiming_the_support_issuer_is_support_even_when_signed_by_another_key() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let foreign = support_token(&signer(a.path()));
    let ours = signer(b.path());
    assert_eq!(
        identify(
            &headers(&[("authorization", &format!("Bearer {foreign}"))]),
            None,
            None,
            &[],
            &ours
        ),
        Ok(Identity::Support(foreign))
    );
}

fn one(
    headers: &HeaderMap,
    query: Option<&str>,
    form: Option<&[u8]>,
    signer: &SupportSigner,
) -> Result<Identity, Refusal> {
    identify(headers, query, form, &["crm_token".to_owned()], signer)
}

#[test]
fn a_support_token_in_the_query_is_found_under_every_separator_and_name_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let token = support_token(&signer);
    for query in [
        format!("x=1;access_token={token}"),
        format!("x=1&access%5Ftoken={token}"),
        format!("access%5ftoken={token}"),
        format!("x=1;ACCESS_TOKEN={token}"),
        format!("access.token={token}"),
        format!("access+token={token}"),
        format!("access_token%20={token}"),
        format!("access%255Ftoken={token}"),
        format!("access_token[]={token}"),
        format!("jwt={token}"),
        token.clone(),
    ] {
        assert_eq!(
            one(&HeaderMap::new(), Some(&query), None, &signer),
            Ok(Identity::Support(token.clone())),
            "{query}"
        );
    }
}

#[test]
fn a_support_token_in_a_form_body_quoted_or_in_basic_credentials_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let token = support_token(&signer);
    let form = format!("a=1&access_token={token}");
    assert_eq!(
        one(&HeaderMap::new(), None, Some(form.as_bytes()), &signer),
        Ok(Identity::Support(token.clone()))
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    for value in [
        format!("Bearer \"{token}\""),
        format!("Token token=\"{token}\""),
        format!("Basic {}", b64.encode(format!("apikey:{token}"))),
        format!("basic {}", b64.encode(format!("{token}:x"))),
        format!("BASIC {}", b64.encode(format!("{token}:"))),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("u:{token}"))
        ),
    ] {
        assert_eq!(
            one(&headers(&[("authorization", &value)]), None, None, &signer),
            Ok(Identity::Support(token.clone())),
            "{value}"
        );
    }
}

#[test]
fn a_support_token_in_any_other_header_or_cookie_makes_a_support_request() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let token = support_token(&signer);
    for (name, value) in [
        ("x-access-token", token.clone()),
        ("x-auth", format!("jwt {token}")),
        ("cookie", format!("other={token}")),
        ("cookie", format!("crm%5Ftoken={token}")),
    ] {
        assert_eq!(
            one(&headers(&[(name, &value)]), None, None, &signer),
            Ok(Identity::Support(token.clone())),
            "{name}: {value}"
        );
    }
    let beside = headers(&[
        ("authorization", "Zoho-oauthtoken 1000.abc.def"),
        ("x-access-token", &token),
    ]);
    assert_eq!(
        one(&beside, None, None, &signer).unwrap_err().code(),
        "several_tokens"
    );
}

#[test]
fn another_jwt_outside_the_token_places_is_not_a_second_token() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ours = signer(b.path());
    // A JWT of another issuer in some header (an OIDC id token a proxy adds) is data.
    let other = SupportSigner::load_or_create(
        &a.path().join("k.pem"),
        "https://accounts.crm.example",
        "crm",
        Duration::from_secs(900),
        Duration::from_secs(60),
    )
    .unwrap();
    let foreign = support_token(&other);
    let map = headers(&[
        ("authorization", "Zoho-oauthtoken 1000.abc.def"),
        ("x-id-token", &foreign),
    ]);
    assert_eq!(one(&map, None, None, &ours), Ok(Identity::Ordinary));
}

#[test]
fn form_bodies_are_read_for_every_spelling_of_the_form_media_type() {
    for value in [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        " application/x-www-form-urlencoded ;",
    ] {
        assert!(reads_form(&headers(&[("content-type", value)])), "{value}");
    }
    for value in [
        "application/json",
        "multipart/form-data; boundary=x",
        "text/plain",
    ] {
        assert!(!reads_form(&headers(&[("content-type", value)])), "{value}");
    }
}

/// `access_token` spelt as `spell` says per character: plain, upper case, or
/// percent-encoded (once or twice), as a client hiding it from a narrow check would.
fn spelt_name(spell: &[u8]) -> String {
    "access_token"
        .chars()
        .enumerate()
        .map(|(i, c)| match spell[i % spell.len()] % 5 {
            0 | 1 => c.to_string(),
            2 => c.to_ascii_uppercase().to_string(),
            3 => format!("%{:02X}", c as u32),
            _ => format!("%25{:02x}", c as u32),
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    #[test]
    fn a_support_token_in_any_query_or_form_shape_is_never_overlooked(
        spell in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..12),
        separators in proptest::collection::vec(proptest::prelude::any::<bool>(), 1..4),
        noise in proptest::collection::vec("[a-z]{1,6}=[a-zA-Z0-9%+.]{0,8}", 0..4),
        position in 0usize..4,
        in_form in proptest::prelude::any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer(dir.path());
        let token = support_token(&signer);
        let mut pairs = noise.clone();
        pairs.insert(position.min(pairs.len()), format!("{}={token}", spelt_name(&spell)));
        let mut text = String::new();
        for (i, pair) in pairs.iter().enumerate() {
            if i > 0 {
                text.push(if separators[i % separators.len()] { ';' } else { '&' });
            }
            text.push_str(pair);
        }
        let found = if in_form {
            identify(&HeaderMap::new(), None, Some(text.as_bytes()), &[], &signer)
        } else {
            identify(&HeaderMap::new(), Some(&text), None, &[], &signer)
        };
        proptest::prop_assert_eq!(found, Ok(Identity::Support(token)), "{}", text);
    }
}
