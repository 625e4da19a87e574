//! The `Checkpointer` over the in-memory store, driven by a `ManualClock`: when a
//! checkpoint is due, what it signs, and what it refuses to sign.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::AuditLog;
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    AuditSigner, AuditTree, Checkpoint, Checkpointer, CheckpointerError, NoteSigner,
    StoredCheckpoint, TreeHead, audit_key_name, audit_origin, checkpoint_due, leaf_hash,
};
use support_access_memory::{InMemoryStore, ManualClock};

const ISSUER: &str = "support-gateway";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
}

fn interval() -> Duration {
    Duration::seconds(60)
}

struct World {
    store: InMemoryStore,
    clock: ManualClock,
    signer: Arc<NoteSigner>,
    checkpointer: Checkpointer,
}

fn world() -> World {
    let store = InMemoryStore::new();
    let clock = ManualClock::new(start());
    let signer = Arc::new(NoteSigner::from_seed(&audit_key_name(ISSUER), &[7; 32]).unwrap());
    let checkpointer = Checkpointer::new(
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        signer.clone(),
        ISSUER,
        interval(),
    );
    World {
        store,
        clock,
        signer,
        checkpointer,
    }
}

async fn append(store: &InMemoryStore, org: &OrgId, n: usize) {
    for _ in 0..n {
        let event = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, start());
        store.append(event).await.unwrap();
    }
}

#[tokio::test]
async fn a_grown_log_gets_a_checkpoint_that_opens_with_the_verifier_key() {
    let w = world();
    let org = OrgId::from("org-1");
    append(&w.store, &org, 3).await;
    let run = w.checkpointer.run().await.unwrap();
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    assert_eq!(run.made.len(), 1);
    let made = &run.made[0];
    let head = w.store.tree_head(&org).await.unwrap();
    assert_eq!(
        (made.org.clone(), made.size, made.root),
        (org.clone(), 3, head.root)
    );
    assert_eq!(made.made_at, start());
    let opened = Checkpoint::open(
        &made.note,
        &audit_origin(ISSUER, &org),
        &[AuditSigner::verifier(w.signer.as_ref())],
    )
    .unwrap();
    assert_eq!((opened.size(), *opened.root()), (3, head.root));
    assert_eq!(
        w.store.latest_checkpoint(&org).await.unwrap().as_ref(),
        Some(made)
    );
}

#[tokio::test]
async fn a_log_is_checkpointed_at_most_once_per_interval_and_only_when_it_grew() {
    let w = world();
    let org = OrgId::from("org-1");
    append(&w.store, &org, 1).await;
    assert_eq!(w.checkpointer.run().await.unwrap().made.len(), 1);
    append(&w.store, &org, 1).await;
    assert!(w.checkpointer.due().await.unwrap().is_empty(), "too soon");
    w.clock.advance(interval() - Duration::seconds(1));
    assert!(
        w.checkpointer.run().await.unwrap().made.is_empty(),
        "too soon"
    );
    w.clock.advance(Duration::seconds(1));
    let run = w.checkpointer.run().await.unwrap();
    assert_eq!(run.made.iter().map(|c| c.size).collect::<Vec<_>>(), [2]);
    w.clock.advance(interval() * 5);
    assert!(
        w.checkpointer.run().await.unwrap().made.is_empty(),
        "no growth"
    );
}

#[tokio::test]
async fn every_grown_org_gets_its_own_checkpoint_and_empty_logs_none() {
    let w = world();
    let (a, b) = (OrgId::from("org-a"), OrgId::from("org-b"));
    assert!(w.checkpointer.run().await.unwrap().made.is_empty());
    append(&w.store, &a, 2).await;
    append(&w.store, &b, 5).await;
    let made = w.checkpointer.run().await.unwrap().made;
    let sizes: Vec<(OrgId, u64)> = made.iter().map(|c| (c.org.clone(), c.size)).collect();
    assert_eq!(sizes, [(a, 2), (b, 5)]);
    assert!(made[1].note.starts_with("support-gateway/audit/org-b\n5\n"));
    let empty = OrgId::from("org-none");
    assert_eq!(
        w.checkpointer.current(&empty).await,
        Err(CheckpointerError::EmptyLog(empty))
    );
}

#[tokio::test]
async fn current_is_the_stored_checkpoint_until_the_log_grows() {
    let w = world();
    let org = OrgId::from("org-1");
    append(&w.store, &org, 2).await;
    let first = w.checkpointer.current(&org).await.unwrap();
    w.clock.advance(Duration::seconds(1));
    assert_eq!(w.checkpointer.current(&org).await.unwrap(), first);
    append(&w.store, &org, 1).await;
    // Whatever the interval: the operator asked for the current one.
    let second = w.checkpointer.current(&org).await.unwrap();
    assert_eq!(second.size, 3);
    assert_eq!(second.made_at, start() + Duration::seconds(1));
    assert_eq!(w.store.latest_checkpoint(&org).await.unwrap(), Some(second));
}

#[tokio::test]
async fn a_log_that_does_not_extend_its_last_checkpoint_is_not_signed() {
    let w = world();
    let org = OrgId::from("org-1");
    append(&w.store, &org, 2).await;
    // A checkpoint of another history of the first two events (as if the log had
    // been rewritten since it was made).
    let forged = StoredCheckpoint {
        org: org.clone(),
        size: 2,
        root: leaf_hash(b"another history"),
        made_at: start(),
        note: "made elsewhere".into(),
    };
    w.store.save_checkpoint(&forged).await.unwrap();
    append(&w.store, &org, 1).await;
    w.clock.advance(interval());
    let run = w.checkpointer.run().await.unwrap();
    assert!(run.made.is_empty());
    assert_eq!(
        run.failed,
        [(
            org.clone(),
            CheckpointerError::NotAnExtension {
                org: org.clone(),
                size: 2
            }
        )]
    );
    assert_eq!(run.failed[0].1.code(), "log_not_an_extension");
    assert_eq!(w.store.latest_checkpoint(&org).await.unwrap(), Some(forged));
}

#[test]
fn checkpoint_due_needs_growth_and_a_full_interval() {
    let head = |size| TreeHead {
        size,
        root: leaf_hash(b"x"),
    };
    let now = start();
    assert!(!checkpoint_due(&head(0), None, now, interval()));
    assert!(checkpoint_due(&head(1), None, now, interval()));
    let last = Some((4, now - interval()));
    assert!(checkpoint_due(&head(5), last, now, interval()));
    assert!(!checkpoint_due(&head(4), last, now, interval()));
    let recent = Some((4, now - interval() + Duration::microseconds(1)));
    assert!(!checkpoint_due(&head(5), recent, now, interval()));
}
