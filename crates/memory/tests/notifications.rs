//! The rules of `Notifications`, driven through the in-memory outbox with a
//! `ManualClock`, a fixed jitter and a resolver the test controls: registration and
//! its SSRF checks, test deliveries, the worker's claim / finish steps, retries with
//! the same `webhook-id`, leases, `410`, and the once-only notifications.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::ids::{GrantId, OrgId};
use support_access_core::notify::service::{
    FixedJitter, Notifications, NotifyConfig, Resolver, WebhookError,
};
use support_access_core::notify::{
    AttemptResult, DeliveryStatus, EndpointId, EventType, Secret, WebhookOutbox, verify,
};
use support_access_core::{AuditLog, Clock, Grant, GrantStore};
use support_access_memory::{InMemoryStore, ManualClock};

#[derive(Debug, Default)]
struct FakeDns(Mutex<HashMap<String, Vec<IpAddr>>>);

impl FakeDns {
    fn set(&self, host: &str, addresses: &[&str]) {
        let addresses = addresses.iter().map(|a| a.parse().unwrap()).collect();
        self.0.lock().unwrap().insert(host.to_owned(), addresses);
    }
}

#[async_trait]
impl Resolver for FakeDns {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
        self.0
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .ok_or_else(|| format!("{host}: no such host"))
    }
}

struct World {
    store: InMemoryStore,
    clock: ManualClock,
    dns: Arc<FakeDns>,
    service: Notifications,
    org: OrgId,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
}

fn world_with(config: NotifyConfig) -> World {
    let store = InMemoryStore::new();
    let clock = ManualClock::new(start());
    let dns = Arc::new(FakeDns::default());
    dns.set("hooks.example.com", &["93.184.216.34"]);
    let service = Notifications::new(
        Arc::new(store.clone()),
        dns.clone(),
        Arc::new(clock.clone()),
        Arc::new(FixedJitter(0.5)),
        config,
    );
    World {
        store,
        clock,
        dns,
        service,
        org: OrgId::new("org-1"),
    }
}

fn world() -> World {
    world_with(NotifyConfig::default())
}

fn all() -> Vec<String> {
    vec!["*".to_owned()]
}

async fn register(w: &World) -> (EndpointId, Secret) {
    let registered = w
        .service
        .register(&w.org, "https://hooks.example.com/in", &all(), None)
        .await
        .unwrap();
    (
        registered.endpoint.id,
        Secret::parse(&registered.secret).unwrap(),
    )
}

async fn refuse(w: &World, url: &str, events: &[&str]) -> &'static str {
    let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    let refused = w.service.register(&w.org, url, &events, None).await;
    refused.map(|_| ()).unwrap_err().code()
}

#[tokio::test]
async fn registration_returns_the_secret_once_and_stores_the_endpoint() {
    let w = world();
    let events = vec!["grant.created".to_owned(), "request.blocked".to_owned()];
    let registered = w
        .service
        .register(
            &w.org,
            "https://hooks.example.com/in",
            &events,
            Some("SOC".into()),
        )
        .await
        .unwrap();
    assert!(registered.secret.starts_with("whsec_"));
    let stored = w.service.list(&w.org).await.unwrap();
    assert_eq!(stored, vec![registered.endpoint.clone()]);
    assert_eq!(stored[0].secret.expose(), registered.secret);
    assert_eq!(stored[0].created_at, start());
    assert_eq!(stored[0].events.names(), events);
    assert!(
        w.service
            .list(&OrgId::new("org-2"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn registration_refuses_what_is_not_https_or_reaches_inside() {
    let w = world();
    w.dns
        .set("internal.example.com", &["93.184.216.34", "10.0.0.7"]);
    w.dns.set("metadata.example.com", &["169.254.169.254"]);
    w.dns.set("v6.example.com", &["::ffff:127.0.0.1"]);
    let cases = [
        ("http://hooks.example.com/in", "webhook_url_invalid"),
        (
            "https://user:pw@hooks.example.com/in",
            "webhook_url_invalid",
        ),
        (
            "https://internal.example.com/in",
            "webhook_target_forbidden",
        ),
        ("https://metadata.example.com/", "webhook_target_forbidden"),
        ("https://v6.example.com/", "webhook_target_forbidden"),
        ("https://127.0.0.1/", "webhook_target_forbidden"),
        ("https://[::1]:8443/", "webhook_target_forbidden"),
        ("https://nowhere.example.com/", "webhook_target_forbidden"),
    ];
    for (url, code) in cases {
        assert_eq!(refuse(&w, url, &["*"]).await, code, "{url}");
    }
    assert_eq!(
        refuse(&w, "https://hooks.example.com/in", &[]).await,
        "webhook_events_invalid"
    );
    assert_eq!(
        refuse(&w, "https://hooks.example.com/in", &["grant.nope"]).await,
        "webhook_events_invalid"
    );
    assert!(w.service.list(&w.org).await.unwrap().is_empty());
}

#[tokio::test]
async fn insecure_targets_allow_a_local_http_receiver() {
    let w = world_with(NotifyConfig {
        allow_insecure_targets: true,
        ..NotifyConfig::default()
    });
    let registered = w
        .service
        .register(&w.org, "http://127.0.0.1:9000/hook", &all(), None)
        .await
        .unwrap();
    assert_eq!(registered.endpoint.url, "http://127.0.0.1:9000/hook");
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_webhook_id_until_it_answers_2xx() {
    let w = world();
    let (endpoint, secret) = register(&w).await;
    w.service.test(&w.org, endpoint).await.unwrap();
    let mut ids = Vec::new();
    for (answer, wait) in [(500, 5), (503, 30), (200, 0)] {
        let outgoing = w.service.claim("w1", 10).await.unwrap();
        assert_eq!(outgoing.len(), 1, "one due delivery");
        let out = &outgoing[0];
        assert_eq!(out.url, "https://hooks.example.com/in");
        assert_eq!(
            out.addresses,
            vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(out.signed.timestamp, w.clock.now().timestamp());
        let now = w.clock.now().timestamp();
        let header = out.signed.signature.as_str();
        verify(
            &secret,
            &out.signed.id,
            now,
            out.body.as_bytes(),
            header,
            now,
            300,
        )
        .unwrap();
        ids.push(out.signed.id.clone());
        let after = w
            .service
            .finish(&out.claimed, "w1", AttemptResult::Answered(answer))
            .await
            .unwrap();
        if answer == 200 {
            assert_eq!(after.status, DeliveryStatus::Delivered);
            assert_eq!(after.attempts, 3);
        } else {
            assert_eq!(after.status, DeliveryStatus::Pending);
            assert_eq!(
                after.next_attempt_at,
                Some(w.clock.now() + Duration::seconds(wait))
            );
            w.clock
                .advance(Duration::seconds(wait) - Duration::microseconds(1));
            assert!(
                w.service.claim("w1", 10).await.unwrap().is_empty(),
                "not yet due"
            );
            w.clock.advance(Duration::microseconds(1));
        }
    }
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert!(w.service.claim("w1", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_worker_that_dies_loses_its_lease_to_another() {
    let w = world();
    let (endpoint, _) = register(&w).await;
    w.service.test(&w.org, endpoint).await.unwrap();
    let dead = w.service.claim("dead", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    w.clock.advance(Duration::seconds(59));
    assert!(w.service.claim("alive", 10).await.unwrap().is_empty());
    w.clock.advance(Duration::seconds(1));
    let alive = w.service.claim("alive", 10).await.unwrap();
    assert_eq!(alive.len(), 1);
    assert_eq!(alive[0].signed.id, dead[0].signed.id);
    let late = w
        .service
        .finish(&dead[0].claimed, "dead", AttemptResult::Answered(200))
        .await;
    assert!(late.is_err(), "the dead worker's lease is gone: {late:?}");
}

#[tokio::test]
async fn a_target_that_now_resolves_inside_is_not_posted_to() {
    let w = world();
    let (endpoint, _) = register(&w).await;
    w.service.test(&w.org, endpoint).await.unwrap();
    w.dns.set("hooks.example.com", &["127.0.0.1"]);
    assert!(w.service.claim("w1", 10).await.unwrap().is_empty());
    let deliveries = w.service.deliveries(&w.org, endpoint, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Pending);
    let error = deliveries[0].last_error.as_deref().unwrap();
    assert!(error.contains("127.0.0.1"), "{error}");
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let w = world();
    let (endpoint, _) = register(&w).await;
    w.service.test(&w.org, endpoint).await.unwrap();
    let out = w.service.claim("w1", 10).await.unwrap();
    w.service
        .finish(&out[0].claimed, "w1", AttemptResult::Answered(410))
        .await
        .unwrap();
    let listed = w.service.list(&w.org).await.unwrap();
    assert_eq!(listed[0].disabled_at, Some(start()));
    let event = NewAuditEvent::new(w.org.clone(), AuditKind::RequestBlocked, start());
    w.store.append(event).await.unwrap();
    assert_eq!(
        w.service
            .deliveries(&w.org, endpoint, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn tests_and_deliveries_are_refused_for_another_orgs_endpoint() {
    let w = world();
    let (endpoint, _) = register(&w).await;
    let other = OrgId::new("org-2");
    let test = w.service.test(&other, endpoint).await;
    assert!(matches!(test, Err(WebhookError::NotFound)), "{test:?}");
    let listed = w.service.deliveries(&other, endpoint, 10).await;
    assert!(matches!(listed, Err(WebhookError::NotFound)), "{listed:?}");
    let deleted = w.service.delete(&other, endpoint).await;
    assert_eq!(deleted.map_err(|e| e.code()), Err("webhook_not_found"));
    w.service.delete(&w.org, endpoint).await.unwrap();
    assert!(w.service.list(&w.org).await.unwrap().is_empty());
}

#[tokio::test]
async fn expiry_warnings_and_checkpoints_are_queued_once() {
    let w = world();
    let (endpoint, _) = register(&w).await;
    let grant = GrantId::random();
    let data = json!({"id": grant.to_string(), "status": "active"});
    assert!(w.service.warn_expiry(&w.org, grant, &data).await.unwrap());
    w.clock.advance(Duration::minutes(1));
    assert!(!w.service.warn_expiry(&w.org, grant, &data).await.unwrap());
    assert!(
        w.service
            .publish_checkpoint(&w.org, 5, "note 5")
            .await
            .unwrap()
    );
    assert!(
        !w.service
            .publish_checkpoint(&w.org, 5, "note 5")
            .await
            .unwrap()
    );
    assert!(
        w.service
            .publish_checkpoint(&w.org, 6, "note 6")
            .await
            .unwrap()
    );
    let types: Vec<EventType> = w
        .service
        .deliveries(&w.org, endpoint, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.event_type)
        .collect();
    assert_eq!(
        types,
        vec![
            EventType::AuditCheckpoint,
            EventType::AuditCheckpoint,
            EventType::GrantExpiring
        ]
    );
    let stats = w.service.stats().await.unwrap();
    assert_eq!(stats.pending, 3);
    assert_eq!(stats.oldest_pending_at, Some(start()));
    assert_eq!(w.store.endpoints(&w.org).await.unwrap().len(), 1);
}

#[tokio::test]
async fn grants_ending_within_the_warning_window_are_warned_of_once() {
    let w = world();
    let (endpoint, _) = register(&w).await;
    let soon = Grant::new(
        w.org.clone(),
        "admin-1",
        start(),
        start() + Duration::hours(30),
        None,
        None,
    );
    let other_org = OrgId::new("org-2");
    let later = Grant::new(
        other_org.clone(),
        "admin-1",
        start(),
        start() + Duration::days(3),
        None,
        None,
    );
    for grant in [&soon, &later] {
        w.store
            .insert(grant, grant.event(AuditKind::GrantCreated, start()))
            .await
            .unwrap();
    }
    let window = Duration::hours(24);
    let grants: &dyn GrantStore = &w.store;
    assert_eq!(
        w.service.warn_expiring(grants, window, 100).await.unwrap(),
        0
    );
    w.clock.advance(Duration::hours(6));
    assert_eq!(
        w.service.warn_expiring(grants, window, 100).await.unwrap(),
        1
    );
    w.clock.advance(Duration::hours(1));
    assert_eq!(
        w.service.warn_expiring(grants, window, 100).await.unwrap(),
        0
    );
    let warned: Vec<_> = w
        .service
        .deliveries(&w.org, endpoint, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.event_type == EventType::GrantExpiring)
        .collect();
    assert_eq!(warned.len(), 1);
    let claimed = w.service.claim("w1", 10).await.unwrap();
    let expiring = claimed
        .iter()
        .find(|o| o.claimed.delivery.event_type == EventType::GrantExpiring)
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&expiring.body).unwrap();
    assert_eq!(body["data"]["id"], soon.id.to_string());
    assert_eq!(body["data"]["status"], "active");
    assert_eq!(body["data"]["expires_at"], "2026-12-03T15:00:00Z");
    w.clock.advance(Duration::days(3));
    assert_eq!(
        w.service.warn_expiring(grants, window, 100).await.unwrap(),
        0,
        "past their end: expired, not expiring"
    );
}
