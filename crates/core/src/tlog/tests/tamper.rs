//! What a checkpoint the customer saved detects, in the pure form of the issue's
//! acceptance: deleting the newest events, editing an event, and editing and
//! re-hashing the whole chain (the e2e tests repeat this against real stores).

use chrono::{Duration, TimeZone, Utc};

use crate::audit::{AuditEvent, AuditKind, ChainVerifier, GENESIS, NewAuditEvent};
use crate::ids::OrgId;
use crate::tlog::{
    Checkpoint, MemoryTree, NoteSigner, NoteVerifier, ProofError, TreeError, TreeHash,
    audit_key_name, audit_origin, consistency_proof, event_leaf, inclusion_proof,
};

fn org() -> OrgId {
    OrgId::from("org-1")
}

fn origin() -> String {
    audit_origin("support-gateway", &org())
}

fn key() -> NoteSigner {
    NoteSigner::from_seed(&audit_key_name("support-gateway"), &[3; 32]).unwrap()
}

/// A chain of events whose paths `path(seq)` gives, sealed as a store seals them.
fn chain(count: u64, path: impl Fn(u64) -> String) -> Vec<AuditEvent> {
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let mut prev = GENESIS;
    (1..=count)
        .map(|seq| {
            let mut event = NewAuditEvent::new(
                org(),
                AuditKind::RequestAllowed,
                start + Duration::seconds(seq as i64),
            );
            event.id = uuid::Uuid::from_u128(u128::from(seq));
            event.path = Some(path(seq));
            let sealed = event.seal(seq, prev);
            prev = sealed.hash;
            sealed
        })
        .collect()
}

fn original(count: u64) -> Vec<AuditEvent> {
    chain(count, |seq| format!("/crm/v8/Leads/{seq}"))
}

/// The tree of a log, leaf `seq - 1` = the event's chain hash.
fn tree(events: &[AuditEvent]) -> MemoryTree {
    let leaves: Vec<TreeHash> = events.iter().map(|event| event_leaf(&event.hash)).collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves).unwrap();
    tree
}

/// What `audit verify --checkpoint` does with a saved checkpoint and the log as it is
/// now: open the checkpoint with the published key, then check that the tree of the
/// log's events is a consistent extension of it.
fn check(saved: &str, verifier: &NoteVerifier, log: &[AuditEvent]) -> Result<(), String> {
    let checkpoint = Checkpoint::open(saved, &origin(), std::slice::from_ref(verifier))
        .map_err(|error| error.code().to_owned())?;
    let now = tree(log);
    let proof = consistency_proof(&now, checkpoint.size(), now.size())
        .map_err(|error: TreeError| error.code().to_owned())?;
    proof
        .verify(checkpoint.root(), &now.root())
        .map_err(|error: ProofError| error.code().to_owned())
}

fn saved_at(events: &[AuditEvent]) -> String {
    let tree = tree(events);
    Checkpoint::new(&origin(), tree.size(), tree.root())
        .unwrap()
        .sign(&key())
        .unwrap()
}

#[test]
fn the_grown_log_is_a_consistent_extension_of_every_saved_checkpoint() {
    let log = original(100);
    for size in 1..=100 {
        let saved = saved_at(&log[..size]);
        assert_eq!(
            check(&saved, &key().verifier(), &log),
            Ok(()),
            "checkpoint at {size}"
        );
    }
}

#[test]
fn deleting_the_newest_events_below_a_saved_checkpoint_is_detected() {
    let log = original(100);
    let saved = saved_at(&log[..60]);
    for kept in [0, 1, 30, 59] {
        assert_eq!(
            check(&saved, &key().verifier(), &log[..kept]),
            Err("sizes_out_of_order".to_owned()),
            "log cut to {kept}"
        );
    }
    // The chain alone cannot see it: what is left still verifies.
    let mut verifier = ChainVerifier::new(org());
    for event in &log[..59] {
        verifier.check(event).unwrap();
    }
}

#[test]
fn editing_any_event_and_rehashing_the_whole_chain_is_detected() {
    let log = original(100);
    let saved = saved_at(&log[..60]);
    for edited in 1..=100u64 {
        let forged = chain(100, |seq| {
            if seq == edited {
                "/crm/v8/Leads/forged".to_owned()
            } else {
                format!("/crm/v8/Leads/{seq}")
            }
        });
        // The rewritten chain is internally perfect…
        let mut verifier = ChainVerifier::new(org());
        for event in &forged {
            verifier.check(event).unwrap();
        }
        // …but not an extension of what the customer saved, when the edit is in it.
        let result = check(&saved, &key().verifier(), &forged);
        if edited <= 60 {
            assert_eq!(result, Err("inconsistent".to_owned()), "event {edited}");
        } else {
            // A later checkpoint covers later events.
            assert_eq!(result, Ok(()), "event {edited} is after the checkpoint");
            let later = saved_at(&log[..edited as usize]);
            assert_eq!(
                check(&later, &key().verifier(), &forged),
                Err("inconsistent".to_owned())
            );
        }
    }
}

#[test]
fn an_edited_event_has_no_inclusion_proof_in_the_saved_checkpoint() {
    let log = original(100);
    let saved = Checkpoint::open(&saved_at(&log[..60]), &origin(), &[key().verifier()]).unwrap();
    let stored = tree(&log);
    for seq in 1..=60u64 {
        let proof = inclusion_proof(&stored, seq - 1, saved.size()).unwrap();
        let event = &log[seq as usize - 1];
        proof
            .verify(&event_leaf(&event.hash), saved.root())
            .unwrap();
        let mut edited = event.data.clone();
        edited.path = Some("/crm/v8/Leads/forged".into());
        let edited = edited.seal(seq, event.prev_hash);
        assert_eq!(
            proof.verify(&event_leaf(&edited.hash), saved.root()),
            Err(ProofError::RootMismatch)
        );
        assert_ne!(edited.hash, event.hash);
    }
}

#[test]
fn a_checkpoint_signed_with_another_key_or_for_another_org_is_refused() {
    let log = original(10);
    let saved = saved_at(&log);
    let rotated = NoteSigner::from_seed(&audit_key_name("support-gateway"), &[4; 32]).unwrap();
    assert_eq!(
        check(&saved, &rotated.verifier(), &log),
        Err("unknown_key".to_owned())
    );
    let other_org = Checkpoint::new("support-gateway/audit/org-2", 10, tree(&log).root())
        .unwrap()
        .sign(&key())
        .unwrap();
    assert_eq!(
        check(&other_org, &key().verifier(), &log),
        Err("wrong_origin".to_owned())
    );
}
