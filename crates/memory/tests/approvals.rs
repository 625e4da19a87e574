//! The rules of `Approvals`, driven through the in-memory adapters with a
//! `ManualClock`: request, approve, deny, use once, expiry, voiding, listing.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::approval::service::{
    ApprovalView, Approvals, DecideError, RefusedRequest, RequestError, UseError,
};
use support_access_core::approval::{
    Approval, ApprovalStatus, ApprovalTtl, RequestShape, Unusable,
};
use support_access_core::audit::{AuditEvent, AuditKind};
use support_access_core::grant::GrantBounds;
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::ports::ApprovalStore;
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::{AuditLog, Grant, GrantStore, StoreError, SupportAccess};
use support_access_memory::{InMemoryStore, ManualClock};

const BODY: &[u8] = br#"{"callback":{"url":"https://example.test"},"query":{"module":"Leads"}}"#;

struct World {
    store: InMemoryStore,
    clock: ManualClock,
    access: SupportAccess,
    approvals: Approvals,
    org: OrgId,
    staff: StaffId,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
}

fn world_with(ttl: ApprovalTtl) -> World {
    let store = InMemoryStore::new();
    let clock = ManualClock::new(start());
    let access = SupportAccess::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        GrantBounds::default(),
    );
    let approvals = Approvals::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        ttl,
    );
    World {
        store,
        clock,
        access,
        approvals,
        org: OrgId::from("org-acme"),
        staff: StaffId::from("staff-ann"),
    }
}

impl World {
    /// A grant of the org whose seat `staff` holds.
    async fn seated(&self) -> Grant {
        let request = GrantRequest {
            end: GrantEnd::Days(3),
            reason: Some("export bug".into()),
            ticket: Some("T-16".into()),
        };
        self.access
            .grant(&self.org, "admin-1", request)
            .await
            .unwrap();
        self.access
            .claim_seat(&self.org, &self.staff)
            .await
            .unwrap()
    }

    /// The grant as stored now.
    async fn current(&self, grant: &Grant) -> Grant {
        GrantStore::get(&self.store, grant.id).await.unwrap()
    }

    fn shape<'a>(&'a self, grant: &Grant) -> RequestShape<'a> {
        RequestShape {
            grant: grant.id,
            actor: &self.staff,
            method: "POST",
            path: "/crm/bulk/v8/read",
            query: Some("page=1"),
            body: BODY,
        }
    }

    async fn request(&self, grant: &Grant) -> Approval {
        self.approvals
            .request(
                grant,
                RefusedRequest {
                    shape: self.shape(grant),
                    restriction: Some(7),
                    rule: Some("export-bulk-read".into()),
                    request_id: Some("req-1".into()),
                },
            )
            .await
            .unwrap()
    }

    async fn approved(&self, grant: &Grant) -> Approval {
        let pending = self.request(grant).await;
        self.approvals
            .approve(&self.org, pending.id, "admin-1", Some("once".into()))
            .await
            .unwrap()
    }

    async fn use_it(&self, grant: &Grant, approval: &Approval) -> Result<Approval, UseError> {
        let grant = self.current(grant).await;
        self.approvals
            .use_approval(
                &grant,
                approval.id,
                &self.shape(&grant),
                Some("req-2".into()),
            )
            .await
    }

    async fn events(&self) -> Vec<AuditEvent> {
        self.store.scan(&self.org, 0, 1000).await.unwrap()
    }

    async fn listed(&self, status: Option<ApprovalStatus>) -> Vec<ApprovalView> {
        self.approvals.list(&self.org, status, 100).await.unwrap()
    }
}

fn world() -> World {
    world_with(ApprovalTtl::default())
}

fn invalid(result: Result<Approval, UseError>) -> Unusable {
    match result {
        Err(UseError::Invalid(reason)) => reason,
        other => panic!("expected approval_invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_request_gets_a_pending_approval_and_sending_it_again_returns_the_same() {
    let w = world();
    let grant = w.seated().await;
    let approval = w.request(&grant).await;
    assert_eq!(approval.status, ApprovalStatus::Pending);
    assert_eq!(approval.expires_at, start() + Duration::hours(1));
    assert_eq!(
        (approval.restriction, approval.rule.as_deref()),
        (Some(7), Some("export-bulk-read"))
    );
    let requested = w.events().await.pop().unwrap();
    assert_eq!(requested.kind, AuditKind::ApprovalRequested);
    assert_eq!(requested.approval, Some(approval.id));
    assert_eq!(requested.actor.as_deref(), Some("staff-ann"));
    assert_eq!(requested.request_id.as_deref(), Some("req-1"));
    assert_eq!(requested.ticket.as_deref(), Some("T-16"));

    w.clock.advance(Duration::minutes(30));
    let again = w.request(&grant).await;
    assert_eq!(again, approval, "the same approval, not a second one");
    assert_eq!(w.events().await.len(), 3, "no second approval.requested");
}

#[tokio::test]
async fn an_approved_request_is_forwarded_once_and_reuse_is_refused() {
    let w = world();
    let grant = w.seated().await;
    w.clock.advance(Duration::minutes(10));
    let approved = w.approved(&grant).await;
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.expires_at, start() + Duration::minutes(25));
    assert_eq!(approved.decided_by.as_deref(), Some("admin-1"));
    assert_eq!(approved.note.as_deref(), Some("once"));
    let decided = w.events().await.pop().unwrap();
    assert_eq!(
        (decided.kind, decided.actor.as_deref()),
        (AuditKind::ApprovalApproved, Some("admin-1"))
    );

    let used = w.use_it(&grant, &approved).await.unwrap();
    assert_eq!(used.status, ApprovalStatus::Used);
    let event = w.events().await.pop().unwrap();
    assert_eq!(event.kind, AuditKind::ApprovalUsed);
    assert_eq!(event.approval, Some(approved.id));
    assert_eq!(event.request_id.as_deref(), Some("req-2"));
    assert_eq!(invalid(w.use_it(&grant, &approved).await), Unusable::Used);
    assert_eq!(w.events().await.len(), 5, "no second approval.used");
}

#[tokio::test]
async fn every_changed_part_of_the_request_is_refused() {
    let w = world();
    let grant = w.current(&w.seated().await).await;
    let approved = w.approved(&grant).await;
    let mut flipped = BODY.to_vec();
    flipped[10] ^= 0x20;
    let other_staff = StaffId::from("staff-bob");
    let base = w.shape(&grant);
    let changed = [
        RequestShape {
            body: &flipped,
            ..base.clone()
        },
        RequestShape {
            query: Some("page=2"),
            ..base.clone()
        },
        RequestShape {
            query: None,
            ..base.clone()
        },
        RequestShape {
            path: "/crm/bulk/v8/read/x",
            ..base.clone()
        },
        RequestShape {
            method: "PUT",
            ..base.clone()
        },
        RequestShape {
            actor: &other_staff,
            ..base.clone()
        },
    ];
    for request in &changed {
        let refused = w
            .approvals
            .use_approval(&grant, approved.id, request, None)
            .await;
        assert_eq!(invalid(refused), Unusable::Mismatch, "{request:?}");
    }
    assert_eq!(
        w.events().await.len(),
        4,
        "nothing recorded for the refusals"
    );
    w.use_it(&grant, &approved)
        .await
        .expect("the exact request still passes");
}

#[tokio::test]
async fn a_denied_approval_cannot_be_used_nor_decided_again() {
    let w = world();
    let grant = w.seated().await;
    let pending = w.request(&grant).await;
    let denied = w
        .approvals
        .deny(&w.org, pending.id, "admin-2", Some("no".into()))
        .await
        .unwrap();
    assert_eq!(denied.status, ApprovalStatus::Denied);
    assert_eq!(
        w.events().await.pop().unwrap().kind,
        AuditKind::ApprovalDenied
    );
    let again = w
        .approvals
        .approve(&w.org, pending.id, "admin-1", None)
        .await;
    assert!(
        matches!(again, Err(DecideError::NotPending(ApprovalStatus::Denied))),
        "{again:?}"
    );
    assert_eq!(again.unwrap_err().code(), "approval_not_pending");
    assert_eq!(invalid(w.use_it(&grant, &pending).await), Unusable::Denied);
}

#[tokio::test]
async fn a_pending_approval_expires_after_the_pending_ttl() {
    let w = world();
    let grant = w.seated().await;
    let pending = w.request(&grant).await;
    w.clock
        .advance(Duration::hours(1) - Duration::microseconds(1));
    assert_eq!(w.listed(Some(ApprovalStatus::Pending)).await.len(), 1);
    w.clock.advance(Duration::microseconds(1));
    let late = w
        .approvals
        .approve(&w.org, pending.id, "admin-1", None)
        .await;
    assert!(
        matches!(late, Err(DecideError::NotPending(ApprovalStatus::Expired))),
        "{late:?}"
    );
    let expired = w.listed(Some(ApprovalStatus::Expired)).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].approval.id, pending.id);
    let fresh = w.request(&grant).await;
    assert_ne!(
        fresh.id, pending.id,
        "an expired approval is not offered again"
    );
}

#[tokio::test]
async fn an_approved_approval_must_be_used_within_the_ttl() {
    let w = world_with(ApprovalTtl {
        pending: Duration::minutes(5),
        approved: Duration::minutes(2),
    });
    let grant = w.seated().await;
    let pending = w.request(&grant).await;
    assert_eq!(pending.expires_at, start() + Duration::minutes(5));
    let approved = w
        .approvals
        .approve(&w.org, pending.id, "admin-1", None)
        .await
        .unwrap();
    assert_eq!(approved.expires_at, start() + Duration::minutes(2));
    w.clock.advance(Duration::minutes(2));
    assert_eq!(
        invalid(w.use_it(&grant, &approved).await),
        Unusable::Expired
    );
    let view = w.approvals.get(&w.org, approved.id).await.unwrap();
    assert_eq!(view.status, ApprovalStatus::Expired);
}

#[tokio::test]
async fn a_revoke_voids_every_open_approval_of_the_grant() {
    let w = world();
    let grant = w.seated().await;
    let approved = w.approved(&grant).await;
    let pending = w
        .approvals
        .request(
            &grant,
            RefusedRequest {
                shape: RequestShape {
                    path: "/crm/v8/Leads/actions/mass_email",
                    ..w.shape(&grant)
                },
                restriction: Some(5),
                rule: Some("send-mail".into()),
                request_id: None,
            },
        )
        .await
        .unwrap();
    w.access.revoke(&w.org, "admin-1").await.unwrap();
    assert_eq!(invalid(w.use_it(&grant, &approved).await), Unusable::Void);
    let late = w
        .approvals
        .approve(&w.org, pending.id, "admin-1", None)
        .await;
    assert!(
        matches!(late, Err(DecideError::NotPending(ApprovalStatus::Void))),
        "{late:?}"
    );
    let void: Vec<_> = w
        .listed(Some(ApprovalStatus::Void))
        .await
        .into_iter()
        .map(|v| v.approval.id)
        .collect();
    assert_eq!(void.len(), 2, "{void:?}");
    assert!(w.listed(Some(ApprovalStatus::Approved)).await.is_empty());
}

#[tokio::test]
async fn a_seat_release_voids_and_the_next_claim_gets_a_new_approval() {
    let w = world();
    let grant = w.seated().await;
    let approved = w.approved(&grant).await;
    w.access.release_seat(&w.org, &w.staff).await.unwrap();
    w.clock.advance(Duration::seconds(5));
    let reclaimed = w.access.claim_seat(&w.org, &w.staff).await.unwrap();
    assert_eq!(
        invalid(w.use_it(&reclaimed, &approved).await),
        Unusable::Void
    );
    let fresh = w.request(&reclaimed).await;
    assert_ne!(fresh.id, approved.id);
    assert_eq!(fresh.status, ApprovalStatus::Pending);
    let old = ApprovalStore::get(&w.store, approved.id).await;
    assert_eq!(
        old.map(|a| a.status),
        Ok(ApprovalStatus::Void),
        "voided in the store"
    );
}

#[tokio::test]
async fn void_grant_marks_open_approvals_void_in_the_store() {
    let w = world();
    let grant = w.seated().await;
    let pending = w.request(&grant).await;
    assert_eq!(w.approvals.void_grant(grant.id).await, Ok(1));
    let stored = ApprovalStore::get(&w.store, pending.id).await;
    assert_eq!(stored.map(|a| a.status), Ok(ApprovalStatus::Void));
    assert_eq!(w.approvals.void_grant(grant.id).await, Ok(0));
}

#[tokio::test]
async fn another_orgs_admin_neither_sees_nor_decides_an_approval() {
    let w = world();
    let grant = w.seated().await;
    let pending = w.request(&grant).await;
    let stranger = OrgId::from("org-other");
    let decided = w
        .approvals
        .approve(&stranger, pending.id, "admin-x", None)
        .await;
    assert!(matches!(decided, Err(DecideError::NotFound)), "{decided:?}");
    assert!(matches!(
        w.approvals.get(&stranger, pending.id).await,
        Err(DecideError::NotFound)
    ));
    assert!(
        w.approvals
            .list(&stranger, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.listed(None).await.len(), 1);
}

#[tokio::test]
async fn a_store_failure_is_an_error_never_an_approval_or_a_use() {
    let w = world();
    let grant = w.seated().await;
    let approved = w.approved(&grant).await;
    let grant = w.current(&grant).await;
    w.store.set_unavailable(true);
    let used = w
        .approvals
        .use_approval(&grant, approved.id, &w.shape(&grant), None)
        .await;
    assert!(
        matches!(used, Err(UseError::Store(StoreError::Unavailable(_)))),
        "{used:?}"
    );
    let refused = RefusedRequest {
        shape: w.shape(&grant),
        restriction: None,
        rule: None,
        request_id: None,
    };
    let requested = w.approvals.request(&grant, refused).await;
    assert!(
        matches!(
            requested,
            Err(RequestError::Store(StoreError::Unavailable(_)))
        ),
        "{requested:?}"
    );
    w.store.set_unavailable(false);
    w.use_it(&grant, &approved)
        .await
        .expect("usable once the store is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_racing_to_use_one_approval_forward_once() {
    let w = world();
    let grant = w.seated().await;
    let approved = w.approved(&grant).await;
    let grant = w.current(&grant).await;
    let staff = w.staff.clone();
    let instances: Vec<Approvals> = (0..2)
        .map(|_| {
            Approvals::new(
                Arc::new(w.store.clone()),
                Arc::new(w.store.clone()),
                Arc::new(w.clock.clone()),
                ApprovalTtl::default(),
            )
        })
        .collect();
    let attempts = (0..8).map(|i| {
        let (approvals, grant, staff) = (instances[i % 2].clone(), grant.clone(), staff.clone());
        tokio::spawn(async move {
            let shape = RequestShape {
                grant: grant.id,
                actor: &staff,
                method: "POST",
                path: "/crm/bulk/v8/read",
                query: Some("page=1"),
                body: BODY,
            };
            approvals
                .use_approval(&grant, approved.id, &shape, None)
                .await
        })
    });
    let results: Vec<_> = futures_join(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, UseError::Invalid(Unusable::Used)))
    );
    let used = w
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::ApprovalUsed);
    assert_eq!(used.count(), 1);
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}
