use std::net::IpAddr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::*;
use crate::audit::{AuditKind, GENESIS, NewAuditEvent};
use crate::ids::{GrantId, OrgId, SupportUserId};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0)
        .single()
        .expect("valid time")
}

// ---- the wire format ----

/// The test vector every Standard Webhooks library checks (the spec's reference
/// implementations, e.g. `libraries/javascript/src/index.test.ts`).
#[test]
fn signing_reproduces_the_standard_webhooks_test_vector() {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid secret");
    let signed = sign(
        &secret,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(
        signed.signature,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    assert_eq!(
        signed.headers(),
        [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()),
            ("webhook-timestamp", "1614265330".to_owned()),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
            ),
        ]
    );
}

#[test]
fn verify_accepts_the_vector_among_other_signatures_and_refuses_any_change() {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid secret");
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let body = br#"{"test": 2432232314}"#;
    let header = "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let now = 1_614_265_330;
    assert_eq!(verify(&secret, id, now, body, header, now, 300), Ok(()));
    assert_eq!(
        verify(
            &secret,
            id,
            now,
            br#"{"test": 2432232315}"#,
            header,
            now,
            300
        ),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(&secret, "msg_other", now, body, header, now, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(&secret, id, now + 1, body, header, now, 300),
        Err(SignatureError::Mismatch)
    );
    let other = Secret::from_key([7u8; 32]).expect("valid key");
    assert_eq!(
        verify(&other, id, now, body, header, now, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(&secret, id, now, body, header, now + 301, 300),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify(
            &secret,
            id,
            now,
            body,
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            now,
            300
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_generated_secret_is_whsec_and_32_random_bytes_and_round_trips() {
    let secret = Secret::generate().expect("random bytes");
    let text = secret.expose();
    assert!(text.starts_with("whsec_"), "{text}");
    assert_eq!(secret.key().len(), 32);
    assert_eq!(Secret::parse(&text), Ok(secret.clone()));
    assert_ne!(Secret::generate().expect("random bytes"), secret);
    assert_eq!(format!("{secret:?}"), "Secret(whsec_…)");
}

#[test]
fn malformed_secrets_are_refused() {
    for text in [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_",
        "whsec_not base64!",
        "whsec_AAAA",
        "wh_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert_eq!(Secret::parse(text), Err(SecretError), "{text:?}");
    }
}

// ---- event types and subscriptions ----

#[test]
fn event_types_read_back_from_their_names() {
    for t in EventType::ALL {
        assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        assert_eq!(
            serde_json::to_value(t).expect("serialise"),
            Value::String(t.as_str().to_owned())
        );
    }
    assert!("grant.created ".parse::<EventType>().is_err());
    assert!("request.allowed".parse::<EventType>().is_err());
}

#[test]
fn audit_kinds_map_to_the_notifications_of_spec_9() {
    use AuditKind as K;
    use EventType as E;
    let cases = [
        (K::GrantCreated, Some(E::GrantCreated)),
        (K::GrantChanged, Some(E::GrantChanged)),
        (K::GrantRevoked, Some(E::GrantRevoked)),
        (K::GrantExpired, Some(E::GrantExpired)),
        (K::TokenIssued, Some(E::SupportSignedIn)),
        (K::RequestBlocked, Some(E::RequestBlocked)),
        (K::ApprovalRequested, Some(E::ApprovalRequested)),
        (K::RequestAllowed, None),
        (K::RequestCompleted, None),
        (K::SeatReleased, None),
        (K::ChangeRecorded, None),
        (K::ApprovalApproved, None),
    ];
    for (kind, expected) in cases {
        assert_eq!(EventType::of_audit(kind), expected, "{kind:?}");
    }
}

#[test]
fn subscriptions_take_a_wildcard_alone_or_known_types() {
    assert_eq!(Subscription::parse(&["*"]), Ok(Subscription::All));
    assert_eq!(
        Subscription::parse::<&str>(&[]),
        Err(SubscriptionError::Empty)
    );
    assert_eq!(
        Subscription::parse(&["*", "grant.created"]),
        Err(SubscriptionError::WildcardMixed)
    );
    assert!(matches!(
        Subscription::parse(&["grant.created", "grant.nope"]),
        Err(SubscriptionError::Unknown(_))
    ));
    let only = Subscription::parse(&["grant.revoked", "grant.created", "grant.created"])
        .expect("known types");
    assert!(only.wants(EventType::GrantCreated));
    assert!(!only.wants(EventType::RequestBlocked));
    assert_eq!(only.names(), vec!["grant.created", "grant.revoked"]);
    assert_eq!(Subscription::All.names(), vec!["*"]);
}

fn endpoint(events: Subscription) -> Endpoint {
    let target = check_url("https://hooks.example.com/in", false).expect("valid url");
    Endpoint::new(
        OrgId::new("org-1"),
        &target,
        events,
        None,
        Secret::from_key([1u8; 32]).expect("key"),
        t0(),
    )
}

#[test]
fn an_endpoint_receives_what_it_subscribed_to_until_disabled_and_tests_only_on_request() {
    let mut all = endpoint(Subscription::All);
    assert!(all.receives(EventType::GrantCreated));
    assert!(all.receives(EventType::AuditCheckpoint));
    assert!(!all.receives(EventType::WebhookTest));
    all.disabled_at = Some(t0());
    assert!(!all.receives(EventType::GrantCreated));
    let only = endpoint(Subscription::parse(&["request.blocked"]).expect("known"));
    assert!(only.receives(EventType::RequestBlocked));
    assert!(!only.receives(EventType::GrantCreated));
}

// ---- messages ----

fn event(kind: AuditKind) -> crate::audit::AuditEvent {
    let grant = GrantId::from_uuid(Uuid::from_u128(7));
    let mut e = NewAuditEvent::new(OrgId::new("org-1"), kind, t0() + Duration::microseconds(5));
    e.grant = Some(grant);
    e.support_user = Some(SupportUserId::for_grant(grant));
    e.actor = Some("staff-1".into());
    e.method = Some("DELETE".into());
    e.path = Some("/crm/v8/Leads/1".into());
    e.restriction = Some(4);
    e.rule = Some("no-delete".into());
    e.request_id = Some("req-1".into());
    e.error = Some("restricted".into());
    e.reason = Some("bug 42".into());
    e.seal(3, GENESIS)
}

#[test]
fn a_message_body_is_type_timestamp_org_data_in_that_order() {
    let message = Message::for_audit_event(&event(AuditKind::RequestBlocked)).expect("notifies");
    assert_eq!(message.event_type, EventType::RequestBlocked);
    assert!(
        message.body.starts_with(
            r#"{"type":"request.blocked","timestamp":"2026-12-02T10:00:00.000005Z","org":"org-1","data":{"#
        ),
        "{}",
        message.body
    );
    let body: Value = serde_json::from_str(&message.body).expect("JSON");
    let data = &body["data"];
    assert_eq!(data["method"], "DELETE");
    assert_eq!(data["path"], "/crm/v8/Leads/1");
    assert_eq!(data["restriction"], 4);
    assert_eq!(data["rule"], "no-delete");
    assert_eq!(data["actor"], "staff-1");
    assert_eq!(data["request_id"], "req-1");
    assert_eq!(data["error"], "restricted");
    assert_eq!(data["audit_seq"], 3);
}

#[test]
fn grant_and_sign_in_messages_carry_the_grant_and_the_actor() {
    let created = Message::for_audit_event(&event(AuditKind::GrantCreated)).expect("notifies");
    let body: Value = serde_json::from_str(&created.body).expect("JSON");
    assert_eq!(body["type"], "grant.created");
    assert_eq!(
        body["data"]["id"],
        GrantId::from_uuid(Uuid::from_u128(7)).to_string()
    );
    assert_eq!(body["data"]["reason"], "bug 42");
    assert!(
        body["data"].get("ticket").is_none(),
        "absent fields are left out"
    );
    let signed_in = Message::for_audit_event(&event(AuditKind::TokenIssued)).expect("notifies");
    let body: Value = serde_json::from_str(&signed_in.body).expect("JSON");
    assert_eq!(body["type"], "support.signed_in");
    assert_eq!(body["data"]["actor"], "staff-1");
    assert!(Message::for_audit_event(&event(AuditKind::RequestAllowed)).is_none());
}

#[test]
fn message_ids_are_derived_from_what_they_report() {
    let e = event(AuditKind::GrantRevoked);
    let a = Message::for_audit_event(&e).expect("notifies");
    let b = Message::for_audit_event(&e).expect("notifies");
    assert_eq!(a.id, b.id);
    assert_eq!(a.id.as_str(), format!("msg_{}", e.id.simple()));
    let grant = GrantId::from_uuid(Uuid::from_u128(7));
    assert_eq!(
        MessageId::for_expiry_warning(grant),
        MessageId::for_expiry_warning(grant)
    );
    assert_ne!(
        MessageId::for_expiry_warning(grant),
        MessageId::for_expiry_warning(GrantId::from_uuid(Uuid::from_u128(8)))
    );
    let org = OrgId::new("org-1");
    assert_ne!(
        MessageId::for_checkpoint(&org, 1),
        MessageId::for_checkpoint(&org, 2)
    );
    assert_ne!(MessageId::random(), MessageId::random());
    let checkpoint = Message::checkpoint(org, 9, "origin\n9\nroot\n", t0());
    let body: Value = serde_json::from_str(&checkpoint.body).expect("JSON");
    assert_eq!(body["data"]["checkpoint"], "origin\n9\nroot\n");
    assert_eq!(checkpoint.id.as_str().len(), "msg_".len() + 32);
}

// ---- retries ----

#[test]
fn the_backoff_is_5s_30s_2m_10m_1h_then_every_6h() {
    let policy = RetryPolicy::default();
    let expected = [5, 30, 120, 600, 3600, 21_600, 21_600, 21_600];
    for (failed, seconds) in (1..).zip(expected) {
        assert_eq!(
            policy.base_delay(failed),
            Duration::seconds(seconds),
            "{failed}"
        );
        assert_eq!(
            policy.delay(failed, 0.5),
            Duration::seconds(seconds),
            "{failed}"
        );
    }
}

#[test]
fn jitter_stays_within_its_fraction_and_follows_the_randomness() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.delay(1, 0.0), Duration::seconds(4));
    assert_eq!(policy.delay(1, 0.75), Duration::milliseconds(5_500));
    assert!(policy.delay(1, 0.999_999) < Duration::seconds(6));
    assert_eq!(policy.delay(1, -3.0), Duration::seconds(4), "clamped");
    assert_eq!(policy.delay(1, f64::NAN), Duration::seconds(5));
    let none = RetryPolicy {
        jitter: 0.0,
        ..RetryPolicy::default()
    };
    assert_eq!(none.delay(2, 0.0), none.delay(2, 0.99));
}

fn queued() -> Delivery {
    let message = Message::test(OrgId::new("org-1"), t0());
    Delivery::queued(&message, EndpointId::random())
}

#[test]
fn a_2xx_delivers_and_a_410_fails_and_disables() {
    let policy = RetryPolicy::default();
    let d = queued();
    for status in [200, 202, 204, 299] {
        let attempt = Attempt::decide(&d, AttemptResult::Answered(status), t0(), &policy, 0.5);
        assert_eq!(attempt.outcome, Outcome::Delivered, "{status}");
        let after = d.after(&attempt);
        assert_eq!(after.status, DeliveryStatus::Delivered);
        assert_eq!(after.attempts, 1);
        assert_eq!(after.last_status_code, Some(status));
        assert_eq!(after.next_attempt_at, None);
    }
    let gone = Attempt::decide(&d, AttemptResult::Answered(410), t0(), &policy, 0.5);
    assert_eq!(gone.outcome, Outcome::EndpointGone);
    assert_eq!(d.after(&gone).status, DeliveryStatus::Failed);
}

#[test]
fn other_answers_timeouts_and_refusals_are_retried_after_the_backoff() {
    let policy = RetryPolicy::default();
    let d = queued();
    for result in [
        AttemptResult::Answered(500),
        AttemptResult::Answered(404),
        AttemptResult::Answered(301),
        AttemptResult::Answered(199),
        AttemptResult::TimedOut,
        AttemptResult::Unreachable("connection refused".into()),
    ] {
        let attempt = Attempt::decide(&d, result.clone(), t0(), &policy, 0.5);
        assert_eq!(
            attempt.outcome,
            Outcome::Retry {
                at: t0() + Duration::seconds(5)
            },
            "{result:?}"
        );
        let after = d.after(&attempt);
        assert_eq!(after.status, DeliveryStatus::Pending);
        assert_eq!(after.next_attempt_at, Some(t0() + Duration::seconds(5)));
        assert_eq!(after.last_status_code, result.status_code());
        assert_eq!(after.last_error, result.error());
    }
}

#[test]
fn a_delivery_is_retried_until_max_age_then_failed() {
    let policy = RetryPolicy::default().with_max_age(Duration::days(3));
    let mut d = queued();
    let mut now = t0();
    let mut waits = Vec::new();
    loop {
        let attempt = Attempt::decide(&d, AttemptResult::Answered(503), now, &policy, 0.5);
        d = d.after(&attempt);
        match attempt.outcome {
            Outcome::Retry { at } => {
                assert!(at - d.created_at <= Duration::days(3));
                waits.push((at - now).num_seconds());
                now = at;
            }
            Outcome::Failed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.next_attempt_at, None);
    assert_eq!(&waits[..6], &[5, 30, 120, 600, 3600, 21_600]);
    // 4,355 s for the first five, then 6 h steps while within 3 days: 11 of them.
    assert_eq!(waits.len(), 5 + 11);
    assert_eq!(d.attempts as usize, waits.len() + 1);
    assert!(now + Duration::hours(6) - d.created_at > Duration::days(3));
}

#[test]
fn a_delivery_claimed_after_its_max_age_fails_on_its_first_failed_attempt() {
    let policy = RetryPolicy::default();
    let d = queued();
    let late = t0() + Duration::days(4);
    let attempt = Attempt::decide(&d, AttemptResult::TimedOut, late, &policy, 0.5);
    assert_eq!(attempt.outcome, Outcome::Failed);
    let ok = Attempt::decide(&d, AttemptResult::Answered(200), late, &policy, 0.5);
    assert_eq!(ok.outcome, Outcome::Delivered, "an answer still counts");
}

// ---- SSRF ----

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[test]
fn only_https_urls_with_a_host_and_without_credentials_are_targets() {
    let t = check_url("https://hooks.example.com/in?x=1", false).expect("valid");
    assert_eq!(t.host, "hooks.example.com");
    assert_eq!(t.port, 443);
    assert_eq!(t.literal, None);
    assert_eq!(t.url, "https://hooks.example.com/in?x=1");
    assert_eq!(
        check_url("https://hooks.example.com:8443", false)
            .expect("valid")
            .port,
        8443
    );
    for (url, error) in [
        ("http://hooks.example.com/in", TargetError::NotHttps),
        ("ftp://hooks.example.com/in", TargetError::NotHttps),
        ("file:///etc/passwd", TargetError::NotHttps),
        ("HTTPS://", TargetError::Malformed),
        ("hooks.example.com/in", TargetError::Malformed),
        ("not a url", TargetError::Malformed),
        (
            "https://user:pw@hooks.example.com/",
            TargetError::Credentials,
        ),
        ("https://user@hooks.example.com/", TargetError::Credentials),
        ("https://hooks.example.com/#frag", TargetError::Fragment),
    ] {
        assert_eq!(check_url(url, false), Err(error), "{url}");
    }
}

#[test]
fn ip_literal_urls_are_checked_in_every_spelling() {
    for url in [
        "https://127.0.0.1/",
        "https://127.1/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/",
        "https://10.1.2.3:8443/",
        "https://0.0.0.0/",
        "https://[::]/",
    ] {
        let result = check_url(url, false);
        assert!(
            matches!(result, Err(TargetError::Forbidden { .. })),
            "{url}: {result:?}"
        );
        assert!(
            check_url(url, true).is_ok(),
            "insecure targets allowed: {url}"
        );
    }
    let public = check_url("https://[2606:4700::1111]/", false).expect("public");
    assert_eq!(public.literal, Some(ip("2606:4700::1111")));
    assert_eq!(
        check_url("https://8.8.8.8/", false)
            .expect("public")
            .literal,
        Some(ip("8.8.8.8"))
    );
}

#[test]
fn non_public_ipv4_addresses_are_refused_with_their_kind() {
    for (address, why) in [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.255", "shared (CGNAT)"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "IETF protocol"),
        ("192.0.2.1", "documentation"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
    ] {
        assert_eq!(forbidden_reason(ip(address)), Some(why), "{address}");
    }
}

#[test]
fn public_ipv4_addresses_next_to_the_forbidden_ranges_pass() {
    for address in [
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
    ] {
        assert_eq!(forbidden_reason(ip(address)), None, "{address}");
    }
}

#[test]
fn non_public_ipv6_addresses_and_ipv6_forms_of_forbidden_ipv4_are_refused() {
    for (address, why) in [
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "unique-local"),
        ("fd12:3456:789a::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("febf:ffff::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff05::2", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "Teredo"),
        ("2001:2::1", "benchmarking"),
        ("100::1", "discard"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("::127.0.0.1", "loopback"),
        ("::192.168.0.1", "private"),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b:1::8.8.8.8", "NAT64 (local use)"),
        ("2002:7f00:1::1", "6to4 of a non-public"),
        ("2002:c0a8:101::1", "6to4 of a non-public"),
    ] {
        assert_eq!(forbidden_reason(ip(address)), Some(why), "{address}");
    }
}

#[test]
fn public_ipv6_addresses_and_ipv6_forms_of_public_ipv4_pass() {
    for address in [
        "2606:4700:4700::1111",
        "2a00:1450:4001:82b::200e",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "fbff:ffff::1",
        "fe00::1",
    ] {
        assert_eq!(forbidden_reason(ip(address)), None, "{address}");
    }
}

#[test]
fn every_resolved_address_must_be_public_unless_insecure_targets_are_allowed() {
    let public = [
        ip("93.184.216.34"),
        ip("2606:2800:220:1:248:1893:25c8:1946"),
    ];
    assert_eq!(check_addresses(&public, false), Ok(()));
    let mixed = [ip("93.184.216.34"), ip("127.0.0.1")];
    assert_eq!(
        check_addresses(&mixed, false),
        Err(TargetError::Forbidden {
            address: ip("127.0.0.1"),
            why: "loopback"
        })
    );
    assert_eq!(check_addresses(&[], false), Err(TargetError::NoAddress));
    assert_eq!(check_addresses(&[], true), Err(TargetError::NoAddress));
    assert_eq!(check_addresses(&mixed, true), Ok(()));
    assert_eq!(
        check_url("http://127.0.0.1:9000/hook", true)
            .expect("allowed")
            .port,
        9000
    );
    assert_eq!(
        check_url("ftp://127.0.0.1/", true),
        Err(TargetError::NotHttps)
    );
    assert_eq!(TargetError::NotHttps.code(), "webhook_url_invalid");
    assert_eq!(TargetError::NoAddress.code(), "webhook_target_forbidden");
}

#[test]
fn a_grant_event_told_its_grant_carries_the_grant_as_the_api_shows_it() {
    use crate::grant::{Grant, Seat};
    use crate::ids::StaffId;
    let mut grant = Grant::new(
        OrgId::new("org-1"),
        "admin-1",
        t0(),
        t0() + Duration::days(3),
        Some("bug 42".into()),
        Some("T-1".into()),
    );
    grant.seat = Some(Seat {
        holder: StaffId::new("staff-1"),
        claimed_at: t0() + Duration::minutes(5),
    });
    let mut e = grant.event(AuditKind::GrantChanged, t0() + Duration::hours(1));
    e.actor = Some("admin-1".into());
    let event = e.seal(4, GENESIS);
    let message = Message::for_audit_event_about(&event, Some(&grant)).expect("notifies");
    let body: Value = serde_json::from_str(&message.body).expect("JSON");
    let data = &body["data"];
    assert_eq!(data["id"], grant.id.to_string());
    assert_eq!(data["org"], "org-1");
    assert_eq!(data["support_user"], grant.support_user.to_string());
    assert_eq!(data["status"], "active");
    assert_eq!(data["created_at"], "2026-12-02T10:00:00Z");
    assert_eq!(data["created_by"], "admin-1");
    assert_eq!(data["expires_at"], "2026-12-05T10:00:00Z");
    assert_eq!(data["revoked_at"], Value::Null);
    assert_eq!(data["reason"], "bug 42");
    assert_eq!(data["ticket"], "T-1");
    assert_eq!(data["seat"]["holder"], "staff-1");
    assert_eq!(data["seat"]["claimed_at"], "2026-12-02T10:05:00Z");
    assert_eq!(data["audit_seq"], 4);
    let other = Grant::new(OrgId::new("org-1"), "a", t0(), t0(), None, None);
    let unrelated = Message::for_audit_event_about(&event, Some(&other)).expect("notifies");
    assert_eq!(
        unrelated,
        Message::for_audit_event(&event).expect("notifies"),
        "another grant is ignored"
    );
    assert_ne!(unrelated.body, message.body);
}
