//! Webhook outbox cases beyond the contract, run on SQLite and on PostgreSQL: a
//! notification and its event are one write (the database refusing the delivery
//! refuses the event), and a delivery outlives the instance that claimed it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::grant::Grant;
use support_access_core::ids::OrgId;
use support_access_core::notify::retry::Attempt;
use support_access_core::notify::{
    AttemptResult, Endpoint, Fanout, Message, RetryPolicy, Secret, Subscription, WebhookOutbox,
    check_url,
};
use support_access_core::{AuditLog, GrantStore, StoreError};
use support_access_seaorm::SeaOrmStore;

use super::cases::Exec;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

async fn listening(store: &SeaOrmStore, org: &OrgId) -> Endpoint {
    let target = check_url("https://hooks.example.com/in", false).expect("a valid URL");
    let endpoint = Endpoint::new(
        org.clone(),
        &target,
        Subscription::All,
        None,
        Secret::generate().expect("random bytes"),
        t0(),
    );
    store.register(&endpoint).await.expect("register");
    endpoint
}

/// While the database refuses deliveries, an event that would queue one is refused
/// whole (the append and the grant change fail, nothing of them is stored), and an
/// event nobody is notified of is stored as usual.
pub async fn a_delivery_the_database_refuses_takes_its_event_with_it(
    a: SeaOrmStore,
    b: SeaOrmStore,
    exec: Exec,
    refuse: &str,
    allow: &str,
) {
    let org = OrgId::from("org-refused-delivery");
    listening(&a, &org).await;
    exec(refuse.to_owned()).await;
    let blocked = NewAuditEvent::new(org.clone(), AuditKind::RequestBlocked, t0());
    let refused = a.append(blocked.clone()).await;
    assert!(refused.is_err(), "{refused:?}");
    let grant = Grant::new(
        org.clone(),
        "admin",
        t0(),
        t0() + Duration::days(2),
        None,
        None,
    );
    let insert = a
        .insert(&grant, grant.event(AuditKind::GrantCreated, t0()))
        .await;
    assert!(insert.is_err(), "{insert:?}");
    assert_eq!(b.get(grant.id).await, Err(StoreError::NotFound));
    assert_eq!(b.scan(&org, 0, 100).await.expect("scan"), Vec::new());
    let allowed = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, t0());
    let stored = a
        .append(allowed)
        .await
        .expect("an event that notifies nobody");
    assert_eq!(stored.seq, 1);
    exec(allow.to_owned()).await;
    let blocked = b.append(blocked).await.expect("append once allowed");
    assert_eq!(blocked.seq, 2);
    let queued = b
        .claim("w", t0() + Duration::minutes(1), Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].message,
        Message::for_audit_event(&blocked).expect("notifies")
    );
}

/// A delivery claimed by an instance that then went away is claimed by another once
/// the lease ran out, with the same message; the first cannot record it any more.
pub async fn a_delivery_outlives_the_instance_that_claimed_it(a: SeaOrmStore, b: SeaOrmStore) {
    let org = OrgId::from("org-restart");
    let endpoint = listening(&a, &org).await;
    let message = Message::test(org.clone(), t0());
    a.enqueue(&message, Fanout::Endpoint(endpoint.id))
        .await
        .expect("enqueue");
    let first = a
        .claim("a", t0(), Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    a.close().await;
    let early = b
        .claim("b", t0() + Duration::seconds(59), Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert!(early.is_empty(), "{early:?}");
    let taken = b
        .claim("b", t0() + Duration::seconds(60), Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].message, message);
    assert_eq!(taken[0].delivery.id, first[0].delivery.id);
    let attempt = Attempt::decide(
        &taken[0].delivery,
        AttemptResult::Answered(200),
        t0() + Duration::seconds(61),
        &RetryPolicy::default(),
        0.5,
    );
    let late = b.record_attempt(first[0].delivery.id, "a", &attempt).await;
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    b.record_attempt(taken[0].delivery.id, "b", &attempt)
        .await
        .expect("the holder records");
}

/// Appends racing each other (so that the group commit writes several in one
/// transaction, one queueing statement for them all) queue each notification once for
/// every endpoint that receives it and for no other: per org, by subscription, nothing
/// for an org without endpoints or a kind that does not notify; every delivery has its
/// own version 4 UUID.
pub async fn racing_appends_queue_each_notification_once_per_receiver(
    a: SeaOrmStore,
    b: SeaOrmStore,
) {
    let (busy, quiet, silent) = (
        OrgId::from("org-batch-busy"),
        OrgId::from("org-batch-quiet"),
        OrgId::from("org-batch-silent"),
    );
    let all = listening(&a, &busy).await;
    let target = check_url("https://hooks.example.com/blocked", false).expect("a valid URL");
    let blocked_only = Endpoint::new(
        busy.clone(),
        &target,
        Subscription::parse(&["request.blocked"]).expect("known type"),
        None,
        Secret::generate().expect("random bytes"),
        t0(),
    );
    a.register(&blocked_only).await.expect("register");
    let quiet_one = listening(&a, &quiet).await;
    let mut appends = Vec::new();
    for i in 0..40i64 {
        let at = t0() + Duration::milliseconds(i);
        let (org, kind) = match i % 4 {
            0 => (&busy, AuditKind::RequestBlocked),
            1 => (&busy, AuditKind::RequestAllowed),
            2 => (&quiet, AuditKind::RequestBlocked),
            _ => (&silent, AuditKind::RequestBlocked),
        };
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let event = NewAuditEvent::new(org.clone(), kind, at);
        appends.push(async move { store.append(event).await.expect("append") });
    }
    let stored = futures::future::join_all(appends).await;
    let claimed = b
        .claim(
            "w",
            t0() + Duration::minutes(1),
            Duration::seconds(60),
            1000,
        )
        .await
        .expect("claim");
    let blocked_busy: Vec<_> = stored
        .iter()
        .filter(|e| e.org == busy && e.kind == AuditKind::RequestBlocked)
        .collect();
    assert_eq!(blocked_busy.len(), 10);
    // 10 blocked events of the busy org to its two endpoints, 10 of the quiet org to
    // its one; nothing for allowed requests or the org without endpoints.
    assert_eq!(claimed.len(), 30, "{claimed:#?}");
    let count = |endpoint: &Endpoint| {
        claimed
            .iter()
            .filter(|c| c.delivery.endpoint == endpoint.id)
            .count()
    };
    assert_eq!(
        (count(&all), count(&blocked_only), count(&quiet_one)),
        (10, 10, 10)
    );
    for event in &blocked_busy {
        let message = Message::for_audit_event(event).expect("notifies");
        let to: Vec<_> = claimed
            .iter()
            .filter(|c| c.message.id == message.id)
            .collect();
        assert_eq!(to.len(), 2, "{to:#?}");
        assert!(
            to.iter()
                .all(|c| c.message == message && c.delivery.org == busy)
        );
    }
    let ids: std::collections::BTreeSet<_> = claimed.iter().map(|c| c.delivery.id).collect();
    assert_eq!(ids.len(), claimed.len(), "every delivery its own id");
    for c in &claimed {
        let uuid = c.delivery.id.as_uuid();
        assert_eq!(uuid.get_version_num(), 4, "{uuid}");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{uuid}");
        assert_eq!(c.delivery.attempts, 0);
        assert_eq!(c.delivery.created_at, c.message.created_at);
    }
}
