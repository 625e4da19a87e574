use std::time::Duration;

use chrono::{TimeZone, Utc};
use http::HeaderValue;
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
        identify(&HeaderMap::new(), None, &[], &signer),
        Ok(Identity::Ordinary)
    );
    let zoho = headers(&[("authorization", "Zoho-oauthtoken 1000.abc.def")]);
    assert_eq!(identify(&zoho, None, &[], &signer), Ok(Identity::Ordinary));
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
            identify(&map, None, &[], &signer),
            Ok(Identity::Support(token.clone())),
            "{scheme}"
        );
    }
    let bare = headers(&[("authorization", &token)]);
    assert_eq!(
        identify(&bare, None, &[], &signer),
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
        identify(&HeaderMap::new(), Some(&query), &[], &signer),
        Ok(Identity::Support(token.clone()))
    );
    let cookies = headers(&[("cookie", &format!("theme=dark; crm_token={token}"))]);
    assert_eq!(
        identify(&cookies, None, &["crm_token".to_owned()], &signer),
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
    let refused = identify(&beside, Some(&query), &[], &signer).unwrap_err();
    assert_eq!(
        (refused.status, refused.code),
        (StatusCode::BAD_REQUEST, "several_tokens")
    );
    let twice = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
    let refused = identify(&twice, None, &[], &signer).unwrap_err();
    assert_eq!(refused.code, "several_authorization_headers");
    let same = headers(&[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(
        identify(&same, Some(&query), &[], &signer),
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
    let refused = identify(&folded, None, &[], &ours).unwrap_err();
    assert_eq!(refused.code, "several_tokens");
    let digest = headers(&[("authorization", r#"Digest username="a", realm="b""#)]);
    assert_eq!(identify(&digest, None, &[], &ours), Ok(Identity::Ordinary));
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
            &[],
            &ours
        ),
        Ok(Identity::Support(foreign))
    );
}
