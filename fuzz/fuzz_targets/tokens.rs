//! Token classification and verification over arbitrary bytes: `identify` with
//! arbitrary `Authorization`/cookie headers and query strings, `peek`, and every
//! verifier (customer JWKS, staff PEM, HS256 secret, the gateway's own support key).
//! Never panics, and nothing the fuzzer makes verifies as a support token.
//!
//! Input: a first line (the query string), then one `name: value` header per line up to
//! an empty line, then a form-encoded body; the whole input is also tried as a token,
//! and, split at NUL bytes, as the three base64url-encoded parts of a JWT (so that
//! header and claims JSON are reached).
//!
//! The attack shapes of issue 10 are generated too: a genuine support token hidden in
//! a query (split on `&` or `;`, the name percent-encoded, upper-cased, with `.` or `+`),
//! a form body, a quoted or `Basic` credential or another header, chosen by the input.
//! Discovery must find it every time: the answer is a support request or a refusal of
//! several tokens, never ordinary traffic.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use support_gateway::config::KeySource;
use support_gateway::identify::{Identity, identify};
use support_gateway::tokens::{SupportSigner, Verifier, load_keys, peek};

struct Setup {
    signer: SupportSigner,
    /// A genuine support token of `signer`.
    token: String,
    verifiers: Vec<Verifier>,
    cookies: Vec<String>,
}

fn config(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(path)
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let key = std::env::temp_dir()
        .join("support-access-fuzz")
        .join("support-signing.pem");
    let signer = SupportSigner::load_or_create(
        &key,
        "support-gateway",
        "crm",
        Duration::from_secs(3600),
        Duration::from_secs(60),
    )
    .expect("a support signing key");
    let leeway = Duration::from_secs(60);
    let verifier = |source: KeySource, iss: &str, aud: &str| {
        Verifier::new(load_keys(&source, "fuzz").expect("keys"), iss, aud, leeway)
    };
    let verifiers = vec![
        verifier(
            KeySource::JwksFile(config("keys/customer.jwks.json")),
            "https://accounts.crm.example",
            "crm",
        ),
        verifier(
            KeySource::PemFile(config("keys/staff.pub.pem")),
            "https://staff.vendor.example",
            "support-gateway",
        ),
        verifier(
            KeySource::Hs256Secret("a fuzzing secret of some length".into()),
            "https://hs.example",
            "crm",
        ),
    ];
    let grant = support_access_core::Grant::new(
        support_access_core::ids::OrgId::from("fuzz"),
        "admin",
        now(),
        now() + chrono::Duration::days(1),
        None,
        None,
    );
    let token = signer
        .issue(&grant, &support_access_core::ids::StaffId::from("staff"), now())
        .expect("a support token")
        .0;
    Setup {
        signer,
        token,
        verifiers,
        cookies: vec!["access_token".into(), "ZCRM_TOKEN".into()],
    }
});

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid instant")
}

fn tokens_of(setup: &Setup, token: &str) {
    let _ = peek(token);
    for verifier in &setup.verifiers {
        let _ = verifier.verify(token, now());
    }
    assert!(
        setup.signer.verify(token, now()).is_err(),
        "a fuzzed token verified as a support token: {token:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let setup = &*SETUP;

    // The whole input as a token, and as three encoded parts.
    let text = String::from_utf8_lossy(data);
    tokens_of(setup, &text);
    let parts: Vec<&[u8]> = data.splitn(3, |&b| b == 0).collect();
    if parts.len() == 3 {
        let jwt = parts
            .iter()
            .map(|part| URL_SAFE_NO_PAD.encode(part))
            .collect::<Vec<_>>()
            .join(".");
        tokens_of(setup, &jwt);
    }

    // A request: first line the query, then headers, then (after an empty line) a form.
    let (head, form) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], Some(&data[at + 2..])),
        None => (data, None),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let query = lines.next().map(String::from_utf8_lossy);
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let query = query.as_deref().filter(|q| !q.is_empty());
    if let Ok(Identity::Support(token)) =
        identify(&headers, query, form, &setup.cookies, &setup.signer)
    {
        assert!(!token.trim().is_empty(), "an empty support token");
        if token != setup.token {
            tokens_of(setup, &token);
        }
    }

    hidden_token(setup, data);
});

/// Hides the genuine support token as the input chooses, beside fuzzed noise, and
/// checks that discovery finds it.
fn hidden_token(setup: &Setup, data: &[u8]) {
    let Some((&choice, noise)) = data.split_first() else {
        return;
    };
    let noise: String = String::from_utf8_lossy(noise)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    let token = &setup.token;
    let separator = if choice & 1 == 0 { "&" } else { ";" };
    let name = match (choice >> 1) % 7 {
        0 => "access_token",
        1 => "access%5Ftoken",
        2 => "ACCESS_TOKEN",
        3 => "access.token",
        4 => "access+token",
        5 => "access%255ftoken",
        _ => "x_jwt",
    };
    let mut headers = HeaderMap::new();
    let mut query = None;
    let mut form = None;
    let pair = format!("n={noise}{separator}{name}={token}");
    match (choice >> 4) % 5 {
        0 => query = Some(pair.clone()),
        1 => {
            headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
            form = Some(pair.into_bytes());
        }
        2 => {
            let value = format!("Bearer \"{token}\"");
            headers.insert("authorization", HeaderValue::from_str(&value).expect("ascii"));
        }
        3 => {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{noise}:{token}"));
            let value = format!("Basic {basic}");
            headers.insert("authorization", HeaderValue::from_str(&value).expect("ascii"));
        }
        _ => {
            headers.insert("x-access-token", HeaderValue::from_str(token).expect("ascii"));
        }
    }
    match identify(&headers, query.as_deref(), form.as_deref(), &setup.cookies, &setup.signer) {
        Ok(Identity::Support(found)) => assert_eq!(&found, token),
        Ok(Identity::Ordinary) => panic!("a hidden support token was overlooked: {headers:?} {query:?} {form:?}"),
        Err(refusal) => assert_eq!(refusal.code, "several_tokens"),
    }
}
