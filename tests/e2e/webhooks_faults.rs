//! Webhook delivery when the receiver or the gateway misbehaves (SPEC §9): a receiver
//! answering `410 Gone` disables its endpoint and only its endpoint; a delivery still
//! failing after `notifications.max_age` is `failed` (the ManualClock moves time, the
//! test drives the worker's rounds); a gateway killed with SIGKILL while deliveries are
//! pending delivers every one of them after a restart, with the same `webhook-id`, on
//! SQLite and on PostgreSQL (the real `support-gateway serve` as a child process).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_access_core::Clock;
use support_access_e2e::client::HttpClient;
use support_access_e2e::harness::{Harness, Options};
use support_access_e2e::stub::Stub;
use support_access_memory::SystemClock;
use support_access_pgtest::{in_schema, server_addr, url_via};

use crate::child::{Gateway, config};
use crate::webhooks::{
    NOTIFY, Receiver, WEBHOOKS, admin, admin_on, deliver_all, deliveries, register, register_on,
    reqwest_metrics, start,
};

/// The org's endpoints as the API lists them, by id.
async fn endpoints(h: &Harness) -> Vec<Value> {
    let answer = admin(h, "GET", WEBHOOKS, Value::Null).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()["webhooks"].as_array().unwrap().clone()
}

fn by_id<'a>(endpoints: &'a [Value], id: &str) -> &'a Value {
    endpoints
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("endpoint {id} not listed: {endpoints:?}"))
}

#[tokio::test]
async fn a_receiver_answering_410_disables_its_endpoint_and_no_other() {
    let h = start().await;
    let gone = Receiver::start().await;
    let kept = Receiver::start().await;
    let events = ["grant.created", "grant.revoked"];
    let gone_id = register(&h, &gone, &events).await;
    let kept_id = register(&h, &kept, &events).await;
    gone.answer_next(&[410]);

    let created = admin(&h, "POST", "/support-access/v1/grant", json!({"days": 3})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(deliver_all(&h.gateway).await, 2);
    assert_eq!(gone.next().await.answered, 410);
    assert_eq!(kept.next().await.answered, 200);

    // The API shows the one endpoint disabled, the other not.
    let endpoints = endpoints(&h).await;
    assert!(
        by_id(&endpoints, &gone_id)["disabled_at"].is_string(),
        "{endpoints:?}"
    );
    assert!(
        by_id(&endpoints, &kept_id)["disabled_at"].is_null(),
        "{endpoints:?}"
    );
    let failed = deliveries(&h, &gone_id).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["status"], "failed", "{failed:?}");
    assert_eq!(failed[0]["last_status_code"], 410);
    assert_eq!(failed[0]["attempts"], 1);
    assert!(failed[0]["next_attempt_at"].is_null(), "{failed:?}");
    assert_eq!(deliveries(&h, &kept_id).await[0]["status"], "delivered");

    // A test event for the disabled endpoint is refused: it would never be sent.
    let test = format!("{WEBHOOKS}/{gone_id}/test");
    let refused = admin(&h, "POST", &test, Value::Null).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(
        refused.json()["error"],
        "webhook_disabled",
        "{:?}",
        refused.body
    );

    // Later events reach the other endpoint only; nothing more is tried at the gone one.
    let revoked = admin(&h, "DELETE", "/support-access/v1/grant", Value::Null).await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    h.clock.advance(chrono::Duration::hours(7));
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let later = kept.next().await;
    assert_eq!(later.event_type(), "grant.revoked");
    assert!(later.verified);
    assert!(gone.drain().await.is_empty(), "no attempt after the 410");
    assert_eq!(
        deliveries(&h, &gone_id).await.len(),
        1,
        "nothing is queued for a disabled endpoint"
    );
    let metrics = reqwest_metrics(&h).await;
    assert!(
        metrics.contains("support_gateway_webhook_deliveries_total{kind=\"endpoint_gone\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_delivery_still_failing_after_max_age_is_marked_failed() {
    let h = Harness::start_opts(Options {
        extra: format!("{NOTIFY}max_age = \"1m\"\n"),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let endpoint = register(&h, &receiver, &["webhook.test"]).await;
    receiver.answer_next(&[500; 8]);
    let test = format!("{WEBHOOKS}/{endpoint}/test");
    let queued = admin(&h, "POST", &test, Value::Null).await;
    assert_eq!(queued.status, 202, "{:?}", queued.body);

    // 0 s: fails, next in 5 s ± 20 %; 7 s: fails, next in 30 s ± 20 % (before 1 min).
    assert_eq!(deliver_all(&h.gateway).await, 1);
    h.clock.advance(chrono::Duration::seconds(7));
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed[0]["status"], "pending", "{listed:?}");
    assert_eq!(listed[0]["attempts"], 2);
    // 47 s: fails, and the next attempt (2 min ± 20 % later) would be past max_age.
    h.clock.advance(chrono::Duration::seconds(40));
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed[0]["status"], "failed", "{listed:?}");
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["last_status_code"], 500);
    assert!(listed[0]["next_attempt_at"].is_null(), "{listed:?}");

    h.clock.advance(chrono::Duration::hours(24));
    assert_eq!(
        deliver_all(&h.gateway).await,
        0,
        "a failed delivery is done"
    );
    let received = receiver.drain().await;
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(received.iter().all(|r| r.answered == 500 && r.verified));
    // The endpoint stays enabled: only 410 disables it.
    let endpoints = endpoints(&h).await;
    assert!(endpoints[0]["disabled_at"].is_null(), "{endpoints:?}");
    let metrics = reqwest_metrics(&h).await;
    assert!(
        metrics.contains("support_gateway_webhook_deliveries_total{kind=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("support_gateway_webhook_queue_depth 0"),
        "{metrics}"
    );
}

/// The deliveries of `endpoint` once `done` holds for all `count` of them (the worker
/// records an attempt just after the receiver answered it); fails after 30 s.
async fn deliveries_when(
    http: &HttpClient,
    endpoint: &str,
    count: usize,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let target = format!("{WEBHOOKS}/{endpoint}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = admin_on(http, SystemClock.now(), "GET", &target, Value::Null).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let listed = answer.json()["deliveries"].as_array().unwrap().clone();
        if listed.len() == count && listed.iter().all(&done) {
            return listed;
        }
        assert!(Instant::now() < deadline, "never so: {listed:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
    }
}

/// Three messages, each attempted once (answered `503`) and recorded pending; SIGKILL;
/// a restart on the same database delivers all three with the ids first posted.
async fn killed_with_deliveries_pending_delivers_them_after_restart(dir: &Path, storage: &str) {
    let stub = Stub::start().await;
    let receiver = Receiver::start().await;
    // A round every 200 ms: the retries (5 s ± 20 % after the failed attempts) are
    // made by the restarted instance's own worker, as in production.
    let notify = "[notifications]\nallow_insecure_targets = true\npoll_interval = \"200ms\"";
    let file = config(dir, storage, stub.addr, notify);
    let gateway = Gateway::serve(&file);
    let http = HttpClient::new(gateway.proxy);
    let now = SystemClock.now();
    let endpoint = register_on(
        &http,
        now,
        &receiver,
        &["grant.created", "grant.changed", "webhook.test"],
    )
    .await;
    receiver.answer_next(&[503, 503, 503]);
    let grant = "/support-access/v1/grant";
    let created = admin_on(&http, now, "POST", grant, json!({"days": 3})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let changed = admin_on(&http, now, "PATCH", grant, json!({"days": 2})).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let test = format!("{WEBHOOKS}/{endpoint}/test");
    let queued = admin_on(&http, now, "POST", &test, Value::Null).await;
    assert_eq!(queued.status, 202, "{:?}", queued.body);

    let mut first = BTreeSet::new();
    for _ in 0..3 {
        let got = receiver.next_within(Duration::from_secs(30)).await;
        assert_eq!(got.answered, 503);
        assert!(got.verified, "{got:?}");
        first.insert(got.id);
    }
    assert_eq!(first.len(), 3, "three messages: {first:?}");
    let pending = deliveries_when(&http, &endpoint, 3, |d| {
        d["status"] == "pending" && d["attempts"] == 1
    })
    .await;
    let queued_ids: BTreeSet<String> = pending
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(queued_ids, first, "the ids the API shows were posted");
    gateway.kill_9();

    let gateway = Gateway::serve(&file);
    let http = HttpClient::new(gateway.proxy);
    let mut again = BTreeSet::new();
    for _ in 0..3 {
        let got = receiver.next_within(Duration::from_secs(30)).await;
        assert_eq!(got.answered, 200);
        assert!(got.verified, "{got:?}");
        again.insert(got.id);
    }
    assert_eq!(again, first, "the same webhook-ids after the restart");
    let delivered = deliveries_when(&http, &endpoint, 3, |d| {
        d["status"] == "delivered" && d["attempts"] == 2
    })
    .await;
    assert_eq!(delivered.len(), 3);
    assert!(
        receiver.drain().await.is_empty(),
        "each posted once after the restart"
    );
    gateway.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_with_deliveries_pending_delivers_them_after_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/gateway.db?mode=rwc", dir.path().display());
    killed_with_deliveries_pending_delivers_them_after_restart(dir.path(), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_with_deliveries_pending_delivers_them_after_restart_on_postgresql() {
    in_schema(|schema| async move {
        let dir = tempfile::tempdir().unwrap();
        let url = url_via(server_addr().await, &schema);
        killed_with_deliveries_pending_delivers_them_after_restart(dir.path(), &url).await;
    })
    .await;
}
