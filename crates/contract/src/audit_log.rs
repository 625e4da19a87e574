//! The [`AuditLog`](support_access_core::AuditLog) contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use futures::future::join_all;
use support_access_core::approval::ApprovalId;
use support_access_core::audit::{
    AuditEvent, AuditKind, AuditQuery, ChainProblem, ChainVerifier, Decision, GENESIS, MAX_PAGE,
    NewAuditEvent,
};
use support_access_core::ids::{GrantId, OrgId, SupportUserId};
use support_access_core::{AuditLog, StoreError};

use crate::AuditLogFixture;
use crate::support::{fresh_org, t0};

fn event(org: &OrgId, kind: AuditKind, minute: i64) -> NewAuditEvent {
    NewAuditEvent::new(org.clone(), kind, t0() + Duration::minutes(minute))
}

async fn append(log: &Arc<dyn AuditLog>, event: NewAuditEvent) -> AuditEvent {
    log.append(event).await.expect("append")
}

/// Appends `n` request events to `org`, one a minute, alternating allowed and blocked.
async fn fill(log: &Arc<dyn AuditLog>, org: &OrgId, n: i64) -> Vec<AuditEvent> {
    let mut stored = Vec::new();
    for minute in 0..n {
        let kind = if minute % 2 == 0 {
            AuditKind::RequestAllowed
        } else {
            AuditKind::RequestBlocked
        };
        stored.push(append(log, event(org, kind, minute)).await);
    }
    stored
}

async fn all_pages(log: &Arc<dyn AuditLog>, mut query: AuditQuery) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let page = log.query(&query).await.expect("query");
        assert!(page.events.len() <= query.page_size() as usize);
        seqs.extend(page.events.iter().map(|e| e.seq));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return seqs,
        }
    }
}

async fn seqs_matching(log: &Arc<dyn AuditLog>, query: AuditQuery) -> Vec<u64> {
    all_pages(log, query).await
}

async fn verify(
    log: &Arc<dyn AuditLog>,
    org: &OrgId,
) -> Result<u64, support_access_core::audit::ChainBreak> {
    let mut verifier = ChainVerifier::new(org.clone());
    loop {
        let events = log.scan(org, verifier.verified(), 50).await.expect("scan");
        for event in &events {
            verifier.check(event)?;
        }
        if events.len() < 50 {
            return Ok(verifier.verified());
        }
    }
}

/// The first event of an org gets seq 1 and the genesis `prev_hash`.
pub async fn first_event_starts_the_chain_at_seq_1(f: AuditLogFixture) {
    let stored = append(&f.log, event(&fresh_org(), AuditKind::GrantCreated, 0)).await;
    assert_eq!(stored.seq, 1);
    assert_eq!(stored.prev_hash, GENESIS);
    assert_eq!(stored.hash, stored.expected_hash());
}

/// Each append takes the next seq and chains to its predecessor's hash.
pub async fn appends_chain_seq_and_hashes_without_gaps(f: AuditLogFixture) {
    let stored = fill(&f.log, &fresh_org(), 5).await;
    for (i, event) in stored.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1);
        let expected_prev = if i == 0 { GENESIS } else { stored[i - 1].hash };
        assert_eq!(event.prev_hash, expected_prev);
        assert_eq!(event.hash, event.expected_hash());
    }
}

/// Every field of an event reads back exactly as appended.
pub async fn every_field_round_trips(f: AuditLogFixture) {
    let org = fresh_org();
    let mut full = event(&org, AuditKind::RequestBlocked, 3);
    full.at += Duration::microseconds(654_321);
    full.grant = Some(GrantId::random());
    full.support_user = Some(SupportUserId::from_u64(4_150_868_000_000_225_013));
    full.actor = Some("staff-ana".into());
    full.method = Some("POST".into());
    full.path = Some("/crm/v8/Leads/1/actions/send_mail".into());
    full.status = Some(403);
    full.rule = Some("send-mail".into());
    full.restriction = Some(5);
    full.latency_ms = Some(u64::from(u32::MAX) + 7);
    full.request_id = Some("req-1".into());
    full.client_ip = Some("2001:db8::1".into());
    full.user_agent = Some("ZohoCRM-SDK/7.0.0 \"quoted\" ünïcödé".into());
    full.body_sha256 = Some("ab".repeat(32));
    full.reason = Some("line one\nline two".into());
    full.ticket = Some("T-1".into());
    full.error = Some("restricted".into());
    full.rewrites = vec![
        "trigger:-workflow".into(),
        "sub_request[0]:notify:false".into(),
    ];
    full.changes_sha256 = Some("cd".repeat(32));
    let stored = append(&f.log, full.clone()).await;
    assert_eq!(stored.data, full);
    let read = f.log.scan(&org, 0, 10).await.expect("scan");
    assert_eq!(read, vec![stored]);
}

/// An event without `error` and `rewrites` reads back without them, and one with them
/// keeps both, in order, through the chain.
pub async fn error_and_rewrites_round_trip_and_stay_hashed(f: AuditLogFixture) {
    let org = fresh_org();
    let plain = append(&f.log, event(&org, AuditKind::RequestCompleted, 0)).await;
    let mut refused = event(&org, AuditKind::RequestBlocked, 1);
    refused.error = Some("support_access_revoked".into());
    let refused = append(&f.log, refused).await;
    let mut rewritten = event(&org, AuditKind::RequestAllowed, 2);
    rewritten.rewrites = vec!["trigger:default".into(), "wf_trigger:false".into()];
    let rewritten = append(&f.log, rewritten).await;
    let read = f.log.scan(&org, 0, 10).await.expect("scan");
    assert_eq!(read, vec![plain.clone(), refused, rewritten.clone()]);
    assert!(read[0].error.is_none() && read[0].rewrites.is_empty());
    assert!(read.iter().all(|e| e.changes_sha256.is_none()));
    assert_eq!(read[2].rewrites, ["trigger:default", "wf_trigger:false"]);
    assert_eq!(verify(&f.log, &org).await, Ok(3));
    let mut stripped = rewritten.data.clone();
    stripped.rewrites.clear();
    assert_ne!(
        stripped.seal(3, rewritten.prev_hash).hash,
        rewritten.hash,
        "the rewrites are part of the hash"
    );
}

/// The approval an event names reads back and is part of the hash; an event without
/// one reads back without one.
pub async fn approval_round_trips_and_stays_hashed(f: AuditLogFixture) {
    let org = fresh_org();
    let plain = append(&f.log, event(&org, AuditKind::RequestBlocked, 0)).await;
    let mut used = event(&org, AuditKind::ApprovalUsed, 1);
    let id = ApprovalId::random();
    used.approval = Some(id);
    used.error = Some("restricted".into());
    let used = append(&f.log, used).await;
    let read = f.log.scan(&org, 0, 10).await.expect("scan");
    assert_eq!(read, vec![plain, used.clone()]);
    assert_eq!(read[0].approval, None);
    assert_eq!(read[1].approval, Some(id));
    assert_eq!(verify(&f.log, &org).await, Ok(2));
    let mut stripped = used.data.clone();
    stripped.approval = None;
    assert_ne!(
        stripped.seal(2, used.prev_hash).hash,
        used.hash,
        "the approval is part of the hash"
    );
}

/// Each org has its own stream starting at seq 1.
pub async fn orgs_have_independent_streams(f: AuditLogFixture) {
    let (a, b) = (fresh_org(), fresh_org());
    fill(&f.log, &a, 3).await;
    let first_b = append(&f.log, event(&b, AuditKind::GrantCreated, 0)).await;
    assert_eq!(first_b.seq, 1);
    assert_eq!(first_b.prev_hash, GENESIS);
    assert_eq!(
        append(&f.log, event(&a, AuditKind::GrantRevoked, 9))
            .await
            .seq,
        4
    );
}

/// A query lists events newest (highest seq) first.
pub async fn query_lists_newest_first(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 4).await;
    assert_eq!(
        seqs_matching(&f.log, AuditQuery::new(org)).await,
        vec![4, 3, 2, 1]
    );
}

/// `actor` keeps only that actor's events.
pub async fn query_filters_by_actor(f: AuditLogFixture) {
    let org = fresh_org();
    for (minute, actor) in ["ana", "bob", "ana", "carl"].into_iter().enumerate() {
        let mut e = event(&org, AuditKind::RequestAllowed, minute as i64);
        e.actor = Some(actor.into());
        append(&f.log, e).await;
    }
    let mut query = AuditQuery::new(org);
    query.actor = Some("ana".into());
    assert_eq!(seqs_matching(&f.log, query).await, vec![3, 1]);
}

/// `support_user` keeps only that support user's events.
pub async fn query_filters_by_support_user(f: AuditLogFixture) {
    let org = fresh_org();
    let (one, two) = (SupportUserId::from_u64(11), SupportUserId::from_u64(22));
    for (minute, user) in [one, two, two].into_iter().enumerate() {
        let mut e = event(&org, AuditKind::RequestAllowed, minute as i64);
        e.support_user = Some(user);
        append(&f.log, e).await;
    }
    append(&f.log, event(&org, AuditKind::GrantCreated, 9)).await;
    let mut query = AuditQuery::new(org);
    query.support_user = Some(two);
    assert_eq!(seqs_matching(&f.log, query).await, vec![3, 2]);
}

/// `grant` keeps only that grant's events.
pub async fn query_filters_by_grant(f: AuditLogFixture) {
    let org = fresh_org();
    let (g1, g2) = (GrantId::random(), GrantId::random());
    for (minute, grant) in [g1, g2, g1].into_iter().enumerate() {
        let mut e = event(&org, AuditKind::GrantChanged, minute as i64);
        e.grant = Some(grant);
        append(&f.log, e).await;
    }
    let mut query = AuditQuery::new(org);
    query.grant = Some(g2);
    assert_eq!(seqs_matching(&f.log, query).await, vec![2]);
}

/// `kind` keeps only events of that kind.
pub async fn query_filters_by_kind(f: AuditLogFixture) {
    let org = fresh_org();
    for (minute, kind) in AuditKind::ALL.into_iter().enumerate() {
        append(&f.log, event(&org, kind, minute as i64)).await;
    }
    for (i, kind) in AuditKind::ALL.into_iter().enumerate() {
        let mut query = AuditQuery::new(org.clone());
        query.kind = Some(kind);
        assert_eq!(
            seqs_matching(&f.log, query).await,
            vec![i as u64 + 1],
            "{kind}"
        );
    }
}

/// `decision` keeps `request.allowed` (allowed) or `request.blocked` (blocked) events.
pub async fn query_filters_by_decision(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 5).await;
    append(&f.log, event(&org, AuditKind::RequestCompleted, 9)).await;
    let mut query = AuditQuery::new(org);
    query.decision = Some(Decision::Blocked);
    assert_eq!(seqs_matching(&f.log, query.clone()).await, vec![4, 2]);
    query.decision = Some(Decision::Allowed);
    assert_eq!(seqs_matching(&f.log, query).await, vec![5, 3, 1]);
}

/// `from` is inclusive and `to` exclusive, to the microsecond.
pub async fn query_filters_by_time_range_from_inclusive_to_exclusive(f: AuditLogFixture) {
    let org = fresh_org();
    let stored = fill(&f.log, &org, 5).await;
    let mut query = AuditQuery::new(org);
    query.from = Some(stored[1].at);
    query.to = Some(stored[3].at);
    assert_eq!(seqs_matching(&f.log, query.clone()).await, vec![3, 2]);
    query.from = Some(stored[1].at + Duration::microseconds(1));
    query.to = Some(stored[3].at + Duration::microseconds(1));
    assert_eq!(seqs_matching(&f.log, query).await, vec![4, 3]);
}

/// Several filters combine with AND.
pub async fn query_combines_filters(f: AuditLogFixture) {
    let org = fresh_org();
    for minute in 0..6 {
        let kind = if minute % 2 == 0 {
            AuditKind::RequestAllowed
        } else {
            AuditKind::RequestBlocked
        };
        let mut e = event(&org, kind, minute);
        e.actor = Some(if minute < 3 { "ana" } else { "bob" }.into());
        append(&f.log, e).await;
    }
    let mut query = AuditQuery::new(org);
    query.actor = Some("bob".into());
    query.decision = Some(Decision::Allowed);
    assert_eq!(seqs_matching(&f.log, query).await, vec![5]);
}

/// A query for one org never sees another org's events.
pub async fn query_never_returns_another_orgs_events(f: AuditLogFixture) {
    let (a, b) = (fresh_org(), fresh_org());
    fill(&f.log, &a, 3).await;
    fill(&f.log, &b, 2).await;
    let page = f
        .log
        .query(&AuditQuery::new(b.clone()))
        .await
        .expect("query");
    assert_eq!(page.events.len(), 2);
    assert!(page.events.iter().all(|e| e.org == b));
    let empty = f
        .log
        .query(&AuditQuery::new(fresh_org()))
        .await
        .expect("query");
    assert!(empty.events.is_empty() && empty.next_cursor.is_none());
}

/// Following cursors lists every matching event exactly once, in order, for page sizes
/// that do and do not divide the total, with and without a filter.
pub async fn cursor_paging_lists_every_event_once(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 23).await;
    for limit in [1, 4, 5, 23, 100] {
        let mut query = AuditQuery::new(org.clone());
        query.limit = limit;
        let seqs = all_pages(&f.log, query.clone()).await;
        assert_eq!(seqs, (1..=23).rev().collect::<Vec<_>>(), "limit {limit}");
        query.decision = Some(Decision::Blocked);
        let blocked = all_pages(&f.log, query).await;
        let expected: Vec<u64> = (1..=23).rev().filter(|s| s % 2 == 0).collect();
        assert_eq!(blocked, expected, "limit {limit}, blocked");
    }
}

/// Events appended between pages do not shift the pages already being followed.
pub async fn cursor_paging_is_stable_under_concurrent_appends(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 10).await;
    let mut query = AuditQuery::new(org.clone());
    query.limit = 3;
    let mut seen = Vec::new();
    let mut minute = 100;
    loop {
        let page = f.log.query(&query).await.expect("query");
        seen.extend(page.events.iter().map(|e| e.seq));
        // Another writer appends while the reader pages.
        append(&f.second, event(&org, AuditKind::RequestAllowed, minute)).await;
        minute += 1;
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, (1..=10).rev().collect::<Vec<_>>());
}

/// A page never holds more than the query's bounded page size.
pub async fn page_size_is_bounded(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 3).await;
    let mut query = AuditQuery::new(org);
    query.limit = 0;
    let page = f.log.query(&query).await.expect("query");
    assert_eq!(page.events.len(), 1);
    assert!(page.next_cursor.is_some());
    query.limit = u32::MAX;
    assert_eq!(query.page_size(), MAX_PAGE);
    assert_eq!(f.log.query(&query).await.expect("query").events.len(), 3);
}

/// `scan` returns the events after a seq, oldest first, bounded.
pub async fn scan_returns_events_after_a_seq_in_ascending_order(f: AuditLogFixture) {
    let org = fresh_org();
    let stored = fill(&f.log, &org, 6).await;
    assert_eq!(
        f.log.scan(&org, 2, 3).await.expect("scan"),
        stored[2..5].to_vec()
    );
    assert_eq!(f.log.scan(&org, 6, 3).await.expect("scan"), Vec::new());
    assert_eq!(
        f.log.scan(&fresh_org(), 0, 3).await.expect("scan"),
        Vec::new()
    );
}

/// An untouched log verifies from the first event to the head.
pub async fn untouched_chain_verifies(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 120).await;
    assert_eq!(verify(&f.log, &org).await, Ok(120));
}

/// An event changed behind the log's back is found, and named, by verification.
pub async fn tampered_event_is_detected(f: AuditLogFixture) {
    let org = fresh_org();
    fill(&f.log, &org, 8).await;
    (f.tamper)(org.clone(), 5, "/crm/v8/settings/audit_log_export".into()).await;
    let broken = verify(&f.log, &org)
        .await
        .expect_err("tampering must be detected");
    assert_eq!(broken.seq, 5);
    assert_eq!(broken.problem, ChainProblem::HashMismatch);
}

/// Concurrent appends from many tasks on both handles give every event a distinct seq,
/// 1..=n with no gap, and a chain that verifies.
pub async fn parallel_appends_from_many_tasks_stay_gap_free(f: AuditLogFixture) {
    const TASKS: usize = 16;
    const EACH: i64 = 20;
    let org = fresh_org();
    let tasks = (0..TASKS).map(|task| {
        let log = if task % 2 == 0 {
            f.log.clone()
        } else {
            f.second.clone()
        };
        let org = org.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for minute in 0..EACH {
                seqs.push(
                    append(&log, event(&org, AuditKind::RequestAllowed, minute))
                        .await
                        .seq,
                );
            }
            seqs
        })
    });
    let seqs: Vec<u64> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|joined| joined.expect("task"))
        .collect();
    let total = TASKS as u64 * EACH as u64;
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(seqs.len() as u64, total);
    assert_eq!(distinct, (1..=total).collect::<BTreeSet<_>>());
    assert_eq!(verify(&f.log, &org).await, Ok(total));
}

/// A second handle sees the first's appends and continues the same chain.
pub async fn second_handle_sees_the_first_handles_appends(f: AuditLogFixture) {
    let org = fresh_org();
    let first = append(&f.log, event(&org, AuditKind::GrantCreated, 0)).await;
    let page = f
        .second
        .query(&AuditQuery::new(org.clone()))
        .await
        .expect("query");
    assert_eq!(page.events, vec![first.clone()]);
    let second = append(&f.second, event(&org, AuditKind::GrantRevoked, 1)).await;
    assert_eq!((second.seq, second.prev_hash), (2, first.hash));
}

/// `orgs` lists every org that has events.
pub async fn orgs_lists_every_org_with_events(f: AuditLogFixture) {
    let (a, b) = (fresh_org(), fresh_org());
    append(&f.log, event(&a, AuditKind::GrantCreated, 0)).await;
    append(&f.log, event(&b, AuditKind::GrantCreated, 0)).await;
    let orgs = f.log.orgs().await.expect("orgs");
    assert!(orgs.contains(&a) && orgs.contains(&b), "{orgs:?}");
    assert!(!orgs.contains(&fresh_org()));
}

/// An event whose id is already in the log (of any org) is refused with `Conflict`;
/// nothing of it is stored and the chain goes on.
pub async fn an_event_id_already_in_the_log_is_refused_and_stores_nothing(f: AuditLogFixture) {
    let org = fresh_org();
    let first = append(&f.log, event(&org, AuditKind::GrantCreated, 0)).await;
    let mut again = event(&org, AuditKind::RequestAllowed, 1);
    again.id = first.id;
    let refused = f.second.append(again).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let elsewhere = fresh_org();
    let mut other = event(&elsewhere, AuditKind::RequestAllowed, 1);
    other.id = first.id;
    let refused = f.log.append(other).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        f.second.scan(&elsewhere, 0, 10).await.expect("scan"),
        Vec::new()
    );
    let next = append(&f.log, event(&org, AuditKind::RequestAllowed, 2)).await;
    assert_eq!((next.seq, next.prev_hash), (2, first.hash));
    assert_eq!(verify(&f.second, &org).await, Ok(2));
}

/// An append whose caller gave up while the store was stalled (a timeout) is not
/// written when the store goes on: the caller got no answer, and no record is left.
pub async fn an_append_abandoned_while_the_store_is_stalled_is_never_written(f: AuditLogFixture) {
    let org = fresh_org();
    let before = append(&f.log, event(&org, AuditKind::GrantCreated, 0)).await;
    let release = (f.stall)().await;
    let abandoned = event(&org, AuditKind::RequestAllowed, 1);
    let abandoned_id = abandoned.id;
    // The caller's patience is what is under test: it runs out, the store is stalled.
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        f.log.append(abandoned),
    )
    .await;
    assert!(gave_up.is_err(), "a stalled store answered: {gave_up:?}");
    release().await;
    let after = append(&f.log, event(&org, AuditKind::RequestAllowed, 2)).await;
    assert_eq!((after.seq, after.prev_hash), (2, before.hash));
    let stored = f.second.scan(&org, 0, 10).await.expect("scan");
    assert!(
        stored.iter().all(|e| e.id != abandoned_id),
        "the abandoned append was written: {stored:?}"
    );
    assert_eq!(stored.len(), 2);
}
