//! Several instances (separate stores, pools and audit writers) on one PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use support_access_core::audit::{AuditKind, AuditQuery, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::service::{GrantEnd, GrantError, GrantRequest};
use support_access_core::{AuditLog, GrantBounds, SupportAccess};
use support_access_memory::ManualClock;
use support_access_seaorm::SeaOrmStore;

use super::fixture::{in_schema, store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

fn service(store: &SeaOrmStore, clock: &ManualClock) -> SupportAccess {
    SupportAccess::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        GrantBounds::default(),
    )
}

fn request(days: u32) -> GrantRequest {
    GrantRequest {
        end: GrantEnd::Days(days),
        reason: Some("diagnose sync failures".into()),
        ticket: Some("T-4711".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_8_tasks_on_each_of_2_instances_stay_gap_free_and_chained() {
    in_schema(|schema| async move {
        const EACH: u64 = 25;
        let instances = [store(&schema).await, store(&schema).await];
        let org = OrgId::from("org-busy");
        let tasks = (0..16).map(|task| {
            let log = instances[task % 2].clone();
            let org = org.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let mut event =
                        NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, t0());
                    event.request_id = Some(format!("task-{task}-{i}"));
                    seqs.push(log.append(event).await.expect("append").seq);
                }
                seqs
            })
        });
        let seqs: Vec<u64> = join_all(tasks)
            .await
            .into_iter()
            .flat_map(|joined| joined.expect("task"))
            .collect();
        let total = 16 * EACH;
        assert_eq!(seqs.len() as u64, total);
        assert_eq!(
            seqs.iter().copied().collect::<BTreeSet<_>>(),
            (1..=total).collect::<BTreeSet<_>>(),
            "every seq once, no gap"
        );
        let clock = ManualClock::new(t0());
        let report = service(&instances[0], &clock)
            .verify_audit(&org)
            .await
            .expect("the chain verifies");
        assert_eq!(report.events, total);
        // Group commit: under this load some transactions carried several appends.
        let (batches, events) = instances.iter().fold((0, 0), |(b, e), store| {
            let stats = store.audit_append_stats();
            (b + stats.batches, e + stats.events)
        });
        assert_eq!(events, total);
        assert!(batches < events, "{batches} commits for {events} appends");
        for store in &instances {
            store.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_granting_one_org_at_once_let_exactly_one_win() {
    in_schema(|schema| async move {
        let clock = ManualClock::new(t0());
        let (a, b) = (store(&schema).await, store(&schema).await);
        let (service_a, service_b) = (service(&a, &clock), service(&b, &clock));
        for round in 0..10 {
            let org = OrgId::new(format!("org-race-{round}"));
            let (first, second) = tokio::join!(
                service_a.grant(&org, "admin-a", request(3)),
                service_b.grant(&org, "admin-b", request(5)),
            );
            let outcomes = [first, second];
            let won = outcomes.iter().filter(|r| r.is_ok()).count();
            let refused = outcomes
                .iter()
                .filter(|r| matches!(r, Err(GrantError::AlreadyActive)))
                .count();
            assert_eq!((won, refused), (1, 1), "round {round}: {outcomes:?}");
            let created = a
                .query(&AuditQuery {
                    kind: Some(AuditKind::GrantCreated),
                    ..AuditQuery::new(org.clone())
                })
                .await
                .expect("query");
            assert_eq!(created.events.len(), 1, "round {round}");
        }
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_grant_is_closed_and_recorded_once_by_two_sweeping_instances() {
    in_schema(|schema| async move {
        let clock = ManualClock::new(t0());
        let (a, b) = (store(&schema).await, store(&schema).await);
        let (service_a, service_b) = (service(&a, &clock), service(&b, &clock));
        let orgs: Vec<OrgId> = (0..5)
            .map(|i| OrgId::new(format!("org-sweep-{i}")))
            .collect();
        for org in &orgs {
            service_a
                .grant(org, "admin-a", request(1))
                .await
                .expect("grant");
        }
        clock.advance(Duration::days(2));
        let (closed_a, closed_b) =
            tokio::join!(service_a.expire_due(100), service_b.expire_due(100));
        let closed = closed_a.expect("sweep a") + closed_b.expect("sweep b");
        assert_eq!(closed, orgs.len(), "each grant closed by exactly one sweep");
        for org in &orgs {
            let expired = b
                .query(&AuditQuery {
                    kind: Some(AuditKind::GrantExpired),
                    ..AuditQuery::new(org.clone())
                })
                .await
                .expect("query");
            assert_eq!(expired.events.len(), 1, "{org}: one grant.expired");
            let status = service_b
                .status(org)
                .await
                .expect("status")
                .expect("a grant");
            assert_eq!(status.status, support_access_core::GrantStatus::Expired);
        }
        // A later sweep finds nothing left to do.
        assert_eq!(service_b.expire_due(100).await.expect("sweep"), 0);
        a.close().await;
        b.close().await;
    })
    .await;
}
