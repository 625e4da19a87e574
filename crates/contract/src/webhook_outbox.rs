//! The [`WebhookOutbox`](support_access_core::notify::WebhookOutbox) contract:
//! endpoints, queueing (directly and with audit events) here; claims, attempts,
//! listings and statistics in [`claims`].

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use support_access_core::StoreError;
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::grant::{ClosedAs, Closure};
use support_access_core::ids::OrgId;
use support_access_core::notify::{
    Delivery, DeliveryFilter, DeliveryStatus, Endpoint, EndpointId, EventType, Fanout, Message,
    MessageId, Secret, Subscription, check_url, grant_data,
};

use crate::WebhookOutboxFixture;
use crate::support::{ev, fresh_org, grant_for, t0};

mod claims;

pub use claims::*;

pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

static REGISTERED: AtomicI64 = AtomicI64::new(1);

/// An endpoint of `org` receiving `events`, registered a microsecond after the
/// previous one (so that registration order is time order).
pub(crate) fn endpoint(org: &OrgId, events: &[&str]) -> Endpoint {
    let target = check_url("https://hooks.example.com/in?org=1", false).expect("a valid URL");
    let mut endpoint = Endpoint::new(
        org.clone(),
        &target,
        Subscription::parse(events).expect("known event types"),
        Some("the SOC's receiver".into()),
        Secret::generate().expect("random bytes"),
        t0(),
    );
    endpoint.created_at += Duration::microseconds(REGISTERED.fetch_add(1, Ordering::Relaxed));
    endpoint
}

pub(crate) async fn registered(f: &WebhookOutboxFixture, org: &OrgId, events: &[&str]) -> Endpoint {
    let endpoint = endpoint(org, events);
    f.outbox
        .register(&endpoint)
        .await
        .expect("register the endpoint");
    endpoint
}

/// A `webhook.test` message of `org` at `seconds` after t0.
pub(crate) fn test_message(org: &OrgId, seconds: i64) -> Message {
    Message::test(org.clone(), at(seconds))
}

/// A `request.blocked` message of `org`, a fresh id, at `seconds` after t0.
pub(crate) fn blocked(org: &OrgId, seconds: i64) -> Message {
    Message::new(
        MessageId::random(),
        org.clone(),
        EventType::RequestBlocked,
        at(seconds),
        &serde_json::json!({"path": "/crm/v8/Leads/1"}),
    )
}

pub(crate) async fn all_deliveries(f: &WebhookOutboxFixture, org: &OrgId) -> Vec<Delivery> {
    f.outbox
        .deliveries(&DeliveryFilter {
            org: org.clone(),
            endpoint: None,
            limit: 1000,
        })
        .await
        .expect("list deliveries")
}

pub(crate) fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

/// `register` stores the endpoint exactly, secret included; an id twice conflicts.
pub async fn a_registered_endpoint_reads_back_exactly(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let endpoint = registered(&f, &org, &["grant.created", "request.blocked"]).await;
    let read = f.outbox.endpoint(&org, endpoint.id).await.expect("stored");
    assert_eq!(read, endpoint);
    assert_eq!(read.secret.expose(), endpoint.secret.expose());
    let all = registered(&f, &org, &["*"]).await;
    assert_eq!(
        f.outbox
            .endpoint(&org, all.id)
            .await
            .expect("stored")
            .events,
        Subscription::All
    );
    let mut bare = self::endpoint(&org, &["grant.created", "request.blocked"]);
    bare.description = None;
    f.outbox.register(&bare).await.expect("register");
    assert_eq!(
        f.outbox.endpoint(&org, bare.id).await.expect("stored"),
        bare
    );
    let again = f.outbox.register(&endpoint).await;
    assert!(is_conflict(&again), "{again:?}");
    assert_eq!(
        f.outbox.endpoints(&org).await.expect("list"),
        vec![endpoint, all, bare],
        "oldest first, the refused one not twice"
    );
}

/// `endpoint` and `endpoints` never show another org's endpoints.
pub async fn endpoints_are_the_orgs_own(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let other = fresh_org();
    let mine = registered(&f, &org, &["*"]).await;
    let theirs = registered(&f, &other, &["*"]).await;
    assert_eq!(
        f.outbox.endpoints(&org).await.expect("list"),
        vec![mine.clone()]
    );
    assert_eq!(
        f.outbox.endpoint(&org, theirs.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.outbox.endpoint(&org, EndpointId::random()).await,
        Err(StoreError::NotFound)
    );
    assert!(
        f.outbox
            .endpoints(&fresh_org())
            .await
            .expect("list")
            .is_empty()
    );
}

/// `delete_endpoint` removes the endpoint and its deliveries; another org's or an
/// unknown id is `NotFound` and changes nothing.
pub async fn delete_removes_the_endpoint_and_its_deliveries(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let gone = registered(&f, &org, &["*"]).await;
    let kept = registered(&f, &org, &["*"]).await;
    f.outbox
        .enqueue(&blocked(&org, 0), Fanout::Subscribers)
        .await
        .expect("enqueue");
    assert_eq!(all_deliveries(&f, &org).await.len(), 2);
    let foreign = f.outbox.delete_endpoint(&fresh_org(), gone.id).await;
    assert_eq!(foreign, Err(StoreError::NotFound));
    assert_eq!(
        f.outbox.delete_endpoint(&org, EndpointId::random()).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(all_deliveries(&f, &org).await.len(), 2, "nothing changed");
    f.outbox
        .delete_endpoint(&org, gone.id)
        .await
        .expect("delete");
    assert_eq!(
        f.outbox.endpoint(&org, gone.id).await,
        Err(StoreError::NotFound)
    );
    let left = all_deliveries(&f, &org).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].endpoint, kept.id);
    let claimed = f
        .outbox
        .claim("w1", at(1), Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert!(claimed.iter().all(|c| c.endpoint.id != gone.id));
    assert_eq!(
        f.outbox.delete_endpoint(&org, gone.id).await,
        Err(StoreError::NotFound)
    );
}

/// `enqueue` with `Subscribers` queues one pending delivery, due at the message's
/// time, per enabled endpoint of the org subscribed to the type.
pub async fn enqueue_fans_out_to_the_orgs_subscribed_endpoints(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let all = registered(&f, &org, &["*"]).await;
    let blocked_only = registered(&f, &org, &["request.blocked"]).await;
    let _grants_only = registered(&f, &org, &["grant.created"]).await;
    let _other_org = registered(&f, &fresh_org(), &["*"]).await;
    let message = blocked(&org, 7);
    let queued = f
        .outbox
        .enqueue(&message, Fanout::Subscribers)
        .await
        .expect("enqueue");
    let mut targets: Vec<EndpointId> = queued.iter().map(|d| d.endpoint).collect();
    targets.sort();
    let mut expected = vec![all.id, blocked_only.id];
    expected.sort();
    assert_eq!(targets, expected);
    for d in &queued {
        assert_eq!(d.org, org);
        assert_eq!(d.message, message.id);
        assert_eq!(d.event_type, EventType::RequestBlocked);
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.last_status_code, None);
        assert_eq!(d.next_attempt_at, Some(at(7)));
        assert_eq!(d.created_at, at(7));
    }
    let mut listed = all_deliveries(&f, &org).await;
    listed.sort_by_key(|d| d.id);
    let mut queued = queued;
    queued.sort_by_key(|d| d.id);
    assert_eq!(listed, queued, "as returned");
    let test = f
        .outbox
        .enqueue(&test_message(&org, 8), Fanout::Subscribers)
        .await
        .expect("enqueue");
    assert!(test.is_empty(), "webhook.test only on request: {test:?}");
}

/// `enqueue` to one endpoint ignores its subscription; another org's is `NotFound`.
pub async fn enqueue_to_one_endpoint_reaches_only_that_endpoint(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let target = registered(&f, &org, &["grant.created"]).await;
    let _bystander = registered(&f, &org, &["*"]).await;
    let queued = f
        .outbox
        .enqueue(&test_message(&org, 0), Fanout::Endpoint(target.id))
        .await
        .expect("enqueue");
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].endpoint, target.id);
    assert_eq!(queued[0].event_type, EventType::WebhookTest);
    let foreign = registered(&f, &fresh_org(), &["*"]).await;
    let refused = f
        .outbox
        .enqueue(&test_message(&org, 1), Fanout::Endpoint(foreign.id))
        .await;
    assert_eq!(refused, Err(StoreError::NotFound));
    assert_eq!(all_deliveries(&f, &org).await.len(), 1);
}

/// A message id already stored is refused with `Conflict`, storing nothing.
pub async fn a_message_queued_twice_is_refused(f: WebhookOutboxFixture) {
    let org = fresh_org();
    registered(&f, &org, &["*"]).await;
    let message = blocked(&org, 0);
    f.outbox
        .enqueue(&message, Fanout::Subscribers)
        .await
        .expect("enqueue");
    registered(&f, &org, &["*"]).await;
    let again = f.outbox.enqueue(&message, Fanout::Subscribers).await;
    assert!(is_conflict(&again), "{again:?}");
    assert_eq!(all_deliveries(&f, &org).await.len(), 1);
}

/// Every audit event the store appends queues its notification with it; kinds that do
/// not notify and refused appends queue nothing.
pub async fn audit_events_queue_their_notifications_with_them(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let endpoint = registered(&f, &org, &["*"]).await;
    let grant = grant_for(&org, 3);
    let created = f
        .grants
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let mut refusal = NewAuditEvent::new(org.clone(), AuditKind::RequestBlocked, at(5));
    refusal.grant = Some(grant.id);
    refusal.method = Some("DELETE".into());
    refusal.path = Some("/crm/v8/Leads/1".into());
    refusal.restriction = Some(4);
    let blocked = f.audit.append(refusal.clone()).await.expect("append");
    let allowed = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, at(6));
    f.audit.append(allowed).await.expect("append");
    let twice = f.audit.append(refusal).await;
    assert!(is_conflict(&twice), "{twice:?}");

    let mut listed = all_deliveries(&f, &org).await;
    listed.sort_by_key(|d| d.created_at);
    let types: Vec<EventType> = listed.iter().map(|d| d.event_type).collect();
    assert_eq!(
        types,
        vec![EventType::GrantCreated, EventType::RequestBlocked]
    );
    assert_eq!(
        listed[0].message,
        MessageId::for_audit_event(created.event.id)
    );
    assert_eq!(listed[1].message, MessageId::for_audit_event(blocked.id));
    assert!(listed.iter().all(|d| d.endpoint == endpoint.id));

    let claimed = f
        .outbox
        .claim("w1", at(10), Duration::seconds(30), 10)
        .await
        .expect("claim");
    let sent = claimed
        .iter()
        .find(|c| c.delivery.message == MessageId::for_audit_event(blocked.id))
        .expect("the blocked request's delivery");
    assert_eq!(
        sent.message,
        Message::for_audit_event(&blocked).expect("notifies"),
        "the body is the event's message, byte for byte"
    );
}

/// Nobody listening: an event queues nothing, and an org's endpoint does not hear
/// another org's events.
pub async fn events_of_an_org_without_listeners_queue_nothing(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let other = fresh_org();
    let theirs = registered(&f, &other, &["*"]).await;
    let _grants_only = registered(&f, &org, &["grant.revoked"]).await;
    let event = NewAuditEvent::new(org.clone(), AuditKind::RequestBlocked, at(0));
    f.audit.append(event).await.expect("append");
    assert!(all_deliveries(&f, &org).await.is_empty());
    assert!(all_deliveries(&f, &other).await.is_empty());
    assert_eq!(
        f.outbox.endpoints(&other).await.expect("list"),
        vec![theirs]
    );
}

/// The notification of a grant change carries the grant as the change left it, as
/// the management API shows it, with the event's `seq`.
pub async fn grant_changes_notify_with_the_grant_as_changed(f: WebhookOutboxFixture) {
    let org = fresh_org();
    registered(
        &f,
        &org,
        &["grant.created", "grant.changed", "grant.revoked"],
    )
    .await;
    let grant = grant_for(&org, 3);
    let created = f
        .grants
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let changed = f
        .grants
        .set_expiry(
            grant.id,
            at(86_400 * 5),
            ev(&grant, AuditKind::GrantChanged),
        )
        .await
        .expect("set expiry");
    let closure = Closure {
        reason: ClosedAs::Revoked,
        at: at(60),
        by: Some("admin-2".into()),
    };
    let revoked = f
        .grants
        .close(grant.id, closure, ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("revoke");
    let claimed = f
        .outbox
        .claim("w1", at(86_400), Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    for recorded in [created, changed, revoked] {
        let id = MessageId::for_audit_event(recorded.event.id);
        let sent = claimed
            .iter()
            .find(|c| c.message.id == id)
            .expect("the change's delivery");
        let body: serde_json::Value =
            serde_json::from_str(&sent.message.body).expect("a JSON body");
        let mut expected = grant_data(&recorded.grant, recorded.event.at);
        expected["audit_seq"] = serde_json::json!(recorded.event.seq);
        assert_eq!(body["data"], expected, "{:?}", recorded.event.kind);
    }
}
