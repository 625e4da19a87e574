//! The webhook outbox's claim on PostgreSQL: `FOR UPDATE SKIP LOCKED` lets a claim
//! pass over deliveries another transaction holds instead of queueing behind it.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use chrono::{Duration, TimeZone, Utc};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use support_access_core::ids::OrgId;
use support_access_core::notify::{
    Endpoint, EventType, Fanout, Message, MessageId, Secret, Subscription, WebhookOutbox, check_url,
};

use super::fixture::{self, database_url, in_schema};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_skips_deliveries_another_transaction_holds_instead_of_waiting() {
    in_schema(claim_skips_held_rows).await;
}

async fn claim_skips_held_rows(schema: String) {
    let (store, second) = (fixture::store(&schema).await, fixture::store(&schema).await);
    let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
    let org = OrgId::new("org-skip-locked");
    let target = check_url("https://hooks.example.com/in", false).unwrap();
    let endpoint = Endpoint::new(
        org.clone(),
        &target,
        Subscription::All,
        None,
        Secret::generate().unwrap(),
        t0,
    );
    store.register(&endpoint).await.unwrap();
    let mut messages = Vec::new();
    for i in 0..3 {
        let message = Message::new(
            MessageId::random(),
            org.clone(),
            EventType::RequestBlocked,
            t0 + Duration::seconds(i),
            &serde_json::json!({"n": i}),
        );
        store.enqueue(&message, Fanout::Subscribers).await.unwrap();
        messages.push(message);
    }

    // Another session holds the earliest delivery's row, as a claim in progress would.
    let mut holder = PgConnection::connect(&database_url()).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute(AssertSqlSafe(format!(
            "SELECT id FROM \"{schema}\".webhook_deliveries \
             ORDER BY next_attempt_at LIMIT 1 FOR UPDATE"
        )))
        .await
        .unwrap();

    // A claim that waited for the lock would not finish before the holder ends; the
    // timeout only turns such a wait into a failure instead of a hang.
    let claimed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        second.claim("w2", t0 + Duration::minutes(1), Duration::seconds(30), 10),
    )
    .await
    .expect("the claim did not wait for the held row")
    .unwrap();
    let got: Vec<_> = claimed.iter().map(|c| c.message.id.clone()).collect();
    assert_eq!(got, vec![messages[1].id.clone(), messages[2].id.clone()]);

    holder.execute("ROLLBACK").await.unwrap();
    let rest = store
        .claim("w1", t0 + Duration::minutes(1), Duration::seconds(30), 10)
        .await
        .unwrap();
    let got: Vec<_> = rest.iter().map(|c| c.message.id.clone()).collect();
    assert_eq!(got, vec![messages[0].id.clone()], "released, then claimed");
    holder.close().await.unwrap();
    store.close().await;
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_the_database_refuses_takes_its_event_with_it() {
    in_schema(|schema| async move {
        let (a, b) = (fixture::store(&schema).await, fixture::store(&schema).await);
        super::webhook_cases::a_delivery_the_database_refuses_takes_its_event_with_it(
            a.clone(),
            b.clone(),
            super::adapter::exec(schema.clone()),
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON webhook_deliveries \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
            "DROP TRIGGER refuse ON webhook_deliveries",
        )
        .await;
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_outlives_the_instance_that_claimed_it() {
    in_schema(|schema| async move {
        let (a, b) = (fixture::store(&schema).await, fixture::store(&schema).await);
        super::webhook_cases::a_delivery_outlives_the_instance_that_claimed_it(a, b.clone()).await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_appends_queue_each_notification_once_per_receiver() {
    in_schema(|schema| async move {
        let (a, b) = (fixture::store(&schema).await, fixture::store(&schema).await);
        super::webhook_cases::racing_appends_queue_each_notification_once_per_receiver(
            a.clone(),
            b.clone(),
        )
        .await;
        a.close().await;
        b.close().await;
    })
    .await;
}
