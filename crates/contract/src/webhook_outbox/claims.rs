//! The [`WebhookOutbox`](support_access_core::notify::WebhookOutbox) contract: claims
//! and their leases, attempts, listings and statistics.

use std::collections::HashSet;

use chrono::Duration;
use futures::future::join_all;
use support_access_core::StoreError;
use support_access_core::notify::{
    Attempt, AttemptResult, DeliveryFilter, DeliveryId, DeliveryStatus, Fanout, Outcome,
    RetryPolicy,
};

use super::{all_deliveries, at, blocked, is_conflict, registered, test_message};
use crate::WebhookOutboxFixture;
use crate::support::fresh_org;

fn lease() -> Duration {
    Duration::seconds(30)
}

/// `claim` hands out due deliveries of enabled endpoints, earliest due first, at most
/// `limit`, and leases them: nobody else gets them until the lease runs out.
pub async fn claims_lease_due_deliveries_earliest_first(f: WebhookOutboxFixture) {
    let org = fresh_org();
    registered(&f, &org, &["*"]).await;
    let late = blocked(&org, 20);
    let early = blocked(&org, 10);
    let future = blocked(&org, 1000);
    for message in [&late, &early, &future] {
        f.outbox
            .enqueue(message, Fanout::Subscribers)
            .await
            .expect("enqueue");
    }
    let none = f
        .outbox
        .claim("w1", at(5), lease(), 10)
        .await
        .expect("claim");
    assert!(none.is_empty(), "nothing is due yet: {none:?}");
    let first = f
        .outbox
        .claim("w1", at(30), lease(), 1)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].message, early);
    assert_eq!(first[0].lease_until, at(60));
    assert_eq!(first[0].endpoint.id, first[0].delivery.endpoint);
    let second = f
        .outbox
        .claim("w2", at(31), lease(), 10)
        .await
        .expect("claim");
    assert_eq!(second.len(), 1, "the early one is leased to w1");
    assert_eq!(second[0].message, late);
    let during = f
        .outbox
        .claim("w3", at(59), lease(), 10)
        .await
        .expect("claim");
    assert!(during.is_empty(), "both are leased: {during:?}");
    let after = f
        .outbox
        .claim("w3", at(60), lease(), 10)
        .await
        .expect("claim");
    assert_eq!(after.len(), 1, "w1's lease ran out at 60 s");
    assert_eq!(after[0].delivery.id, first[0].delivery.id);
}

/// Claims racing from two handles never hand one delivery out twice.
pub async fn racing_claims_from_two_handles_never_share_a_delivery(f: WebhookOutboxFixture) {
    let org = fresh_org();
    registered(&f, &org, &["*"]).await;
    for i in 0..24 {
        f.outbox
            .enqueue(&blocked(&org, i), Fanout::Subscribers)
            .await
            .expect("enqueue");
    }
    let claims = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            f.outbox.clone()
        } else {
            f.second.clone()
        };
        async move {
            store
                .claim(&format!("w{i}"), at(100), lease(), 5)
                .await
                .expect("claim")
        }
    });
    let claimed: Vec<DeliveryId> = join_all(claims)
        .await
        .into_iter()
        .flatten()
        .map(|c| c.delivery.id)
        .collect();
    let unique: HashSet<DeliveryId> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a delivery claimed twice");
    assert_eq!(unique.len(), 24, "8 claims of 5 cover all 24");
}

/// A failed attempt makes the delivery pending again, due at the retry time, and
/// releases the lease; a success finishes it.
pub async fn attempts_move_the_delivery_and_release_the_lease(f: WebhookOutboxFixture) {
    let org = fresh_org();
    registered(&f, &org, &["*"]).await;
    f.outbox
        .enqueue(&blocked(&org, 0), Fanout::Subscribers)
        .await
        .expect("enqueue");
    let policy = RetryPolicy::default();
    let claimed = f
        .outbox
        .claim("w1", at(1), lease(), 1)
        .await
        .expect("claim");
    let delivery = &claimed[0].delivery;
    let failed = Attempt::decide(delivery, AttemptResult::Answered(503), at(2), &policy, 0.5);
    assert_eq!(failed.outcome, Outcome::Retry { at: at(7) });
    let after = f
        .outbox
        .record_attempt(delivery.id, "w1", &failed)
        .await
        .expect("record");
    assert_eq!(after.status, DeliveryStatus::Pending);
    assert_eq!(after.attempts, 1);
    assert_eq!(after.last_status_code, Some(503));
    assert_eq!(after.next_attempt_at, Some(at(7)));
    assert_eq!(all_deliveries(&f, &org).await, vec![after.clone()]);
    let early = f
        .outbox
        .claim("w2", at(6), lease(), 1)
        .await
        .expect("claim");
    assert!(early.is_empty(), "not due before the retry time");
    let retry = f
        .outbox
        .claim("w2", at(7), lease(), 1)
        .await
        .expect("claim");
    assert_eq!(retry.len(), 1, "due at the retry time, lease released");
    assert_eq!(retry[0].delivery, after);
    let timeout = Attempt::decide(&after, AttemptResult::TimedOut, at(9), &policy, 0.5);
    let after = f
        .outbox
        .record_attempt(after.id, "w2", &timeout)
        .await
        .expect("record");
    assert_eq!(after.attempts, 2);
    assert_eq!(after.last_status_code, None);
    assert_eq!(after.last_error.as_deref(), Some("timeout"));
    let third = f
        .outbox
        .claim("w3", at(40), lease(), 1)
        .await
        .expect("claim");
    let ok = Attempt::decide(
        &third[0].delivery,
        AttemptResult::Answered(204),
        at(41),
        &policy,
        0.5,
    );
    let done = f
        .outbox
        .record_attempt(after.id, "w3", &ok)
        .await
        .expect("record");
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert_eq!(done.attempts, 3);
    assert_eq!(done.last_status_code, Some(204));
    assert_eq!(done.next_attempt_at, None);
    let later = f
        .outbox
        .claim("w4", at(10_000), lease(), 10)
        .await
        .expect("claim");
    assert!(
        later.is_empty(),
        "a delivered delivery is never claimed again"
    );
    let again = f.outbox.record_attempt(done.id, "w3", &ok).await;
    assert!(is_conflict(&again), "finished: {again:?}");
}

/// Only the worker holding the lease records; a lease that ran out and was claimed by
/// another is lost; an unknown delivery is `NotFound`.
pub async fn only_the_lease_holder_records_an_attempt(f: WebhookOutboxFixture) {
    let org = fresh_org();
    registered(&f, &org, &["*"]).await;
    f.outbox
        .enqueue(&blocked(&org, 0), Fanout::Subscribers)
        .await
        .expect("enqueue");
    let policy = RetryPolicy::default();
    let slow = f
        .outbox
        .claim("slow", at(1), lease(), 1)
        .await
        .expect("claim");
    let delivery = slow[0].delivery.clone();
    let ok = Attempt::decide(&delivery, AttemptResult::Answered(200), at(2), &policy, 0.5);
    let stranger = f.outbox.record_attempt(delivery.id, "stranger", &ok).await;
    assert!(is_conflict(&stranger), "{stranger:?}");
    let taken = f
        .second
        .claim("fast", at(31), lease(), 1)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1, "the slow worker's lease ran out");
    let lost = f.outbox.record_attempt(delivery.id, "slow", &ok).await;
    assert!(is_conflict(&lost), "{lost:?}");
    assert_eq!(all_deliveries(&f, &org).await, vec![delivery.clone()]);
    f.second
        .record_attempt(delivery.id, "fast", &ok)
        .await
        .expect("the holder records");
    let unknown = f
        .outbox
        .record_attempt(DeliveryId::random(), "fast", &ok)
        .await;
    assert_eq!(unknown, Err(StoreError::NotFound));
}

/// `410 Gone` fails the delivery and disables the endpoint: its other deliveries are
/// not claimed, nothing new is queued for it, and the queue statistics leave it out.
pub async fn a_gone_endpoint_is_disabled_and_gets_nothing_more(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let gone = registered(&f, &org, &["*"]).await;
    for i in 0..2 {
        f.outbox
            .enqueue(&blocked(&org, i), Fanout::Subscribers)
            .await
            .expect("enqueue");
    }
    let policy = RetryPolicy::default();
    let claimed = f
        .outbox
        .claim("w1", at(5), lease(), 1)
        .await
        .expect("claim");
    let attempt = Attempt::decide(
        &claimed[0].delivery,
        AttemptResult::Answered(410),
        at(6),
        &policy,
        0.5,
    );
    let failed = f
        .outbox
        .record_attempt(claimed[0].delivery.id, "w1", &attempt)
        .await
        .expect("record");
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.last_status_code, Some(410));
    let endpoint = f
        .outbox
        .endpoint(&org, gone.id)
        .await
        .expect("still listed");
    assert_eq!(endpoint.disabled_at, Some(at(6)));
    let rest = f
        .outbox
        .claim("w1", at(100), lease(), 10)
        .await
        .expect("claim");
    assert!(rest.is_empty(), "{rest:?}");
    let queued = f
        .outbox
        .enqueue(&blocked(&org, 50), Fanout::Subscribers)
        .await
        .expect("enqueue");
    assert!(queued.is_empty());
    assert_eq!(all_deliveries(&f, &org).await.len(), 2);
    let stats = f.outbox.stats().await.expect("stats");
    assert_eq!(
        stats.pending, 0,
        "the disabled endpoint's delivery is not counted"
    );
    assert_eq!(stats.oldest_pending_at, None);
}

/// `deliveries` lists newest first, by endpoint when asked, at most `limit`, never
/// another org's.
pub async fn deliveries_list_newest_first_by_org_and_endpoint(f: WebhookOutboxFixture) {
    let org = fresh_org();
    let a = registered(&f, &org, &["*"]).await;
    let b = registered(&f, &org, &["grant.created"]).await;
    let other = fresh_org();
    registered(&f, &other, &["*"]).await;
    for i in 0..3 {
        f.outbox
            .enqueue(&blocked(&org, i), Fanout::Subscribers)
            .await
            .expect("enqueue");
    }
    f.outbox
        .enqueue(&test_message(&org, 10), Fanout::Endpoint(b.id))
        .await
        .expect("enqueue");
    f.outbox
        .enqueue(&blocked(&other, 20), Fanout::Subscribers)
        .await
        .expect("enqueue");
    let all = all_deliveries(&f, &org).await;
    let times: Vec<_> = all.iter().map(|d| d.created_at).collect();
    assert_eq!(times, vec![at(10), at(2), at(1), at(0)]);
    let of_a = f
        .outbox
        .deliveries(&DeliveryFilter {
            org: org.clone(),
            endpoint: Some(a.id),
            limit: 2,
        })
        .await
        .expect("list");
    let times: Vec<_> = of_a.iter().map(|d| d.created_at).collect();
    assert_eq!(times, vec![at(2), at(1)]);
    assert!(of_a.iter().all(|d| d.endpoint == a.id));
    let foreign = f
        .outbox
        .deliveries(&DeliveryFilter {
            org: other.clone(),
            endpoint: Some(a.id),
            limit: 10,
        })
        .await
        .expect("list");
    assert!(foreign.is_empty(), "{foreign:?}");
}

/// `stats` counts pending deliveries of enabled endpoints and the oldest one's time;
/// a second handle sees the first's writes.
pub async fn stats_count_the_pending_queue_and_the_second_handle_sees_it(f: WebhookOutboxFixture) {
    let before = f.second.stats().await.expect("stats");
    let org = fresh_org();
    let endpoint = registered(&f, &org, &["*"]).await;
    assert_eq!(
        f.second.endpoint(&org, endpoint.id).await.expect("seen"),
        endpoint
    );
    f.outbox
        .enqueue(&blocked(&org, -86_400 * 400), Fanout::Subscribers)
        .await
        .expect("enqueue");
    f.outbox
        .enqueue(&blocked(&org, 3), Fanout::Subscribers)
        .await
        .expect("enqueue");
    let stats = f.second.stats().await.expect("stats");
    assert_eq!(stats.pending, before.pending + 2);
    assert_eq!(stats.oldest_pending_at, Some(at(-86_400 * 400)));
    assert_eq!(all_deliveries(&f, &org).await.len(), 2);
    let claimed = f
        .second
        .claim("w", at(4), lease(), 100)
        .await
        .expect("claim");
    let mine: Vec<_> = claimed
        .into_iter()
        .filter(|c| c.delivery.org == org)
        .collect();
    assert_eq!(mine.len(), 2);
    let policy = RetryPolicy::default();
    for c in &mine {
        let ok = Attempt::decide(
            &c.delivery,
            AttemptResult::Answered(200),
            at(5),
            &policy,
            0.5,
        );
        f.outbox
            .record_attempt(c.delivery.id, "w", &ok)
            .await
            .expect("record");
    }
    let after = f.second.stats().await.expect("stats");
    assert_eq!(after.pending, before.pending);
}
