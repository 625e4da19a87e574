use chrono::{Duration, TimeZone, Utc};

use super::*;

fn org() -> OrgId {
    OrgId::from("org-1")
}

fn chain(n: u64) -> Vec<AuditEvent> {
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let mut prev = GENESIS;
    (1..=n)
        .map(|seq| {
            let mut event = NewAuditEvent::new(
                org(),
                AuditKind::RequestAllowed,
                start + Duration::seconds(seq as i64),
            );
            event.path = Some(format!("/crm/v8/Leads/{seq}"));
            let sealed = event.seal(seq, prev);
            prev = sealed.hash;
            sealed
        })
        .collect()
}

fn verify(events: &[AuditEvent]) -> Result<u64, ChainBreak> {
    let mut verifier = ChainVerifier::new(org());
    for event in events {
        verifier.check(event)?;
    }
    Ok(verifier.verified())
}

#[test]
fn an_untouched_chain_verifies() {
    assert_eq!(verify(&chain(5)), Ok(5));
}

#[test]
fn an_altered_field_breaks_the_chain_at_that_event() {
    let mut events = chain(5);
    events[2].data.path = Some("/crm/v8/settings/audit_log_export".into());
    let broken = verify(&events).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert_eq!(broken.problem, ChainProblem::HashMismatch);
}

#[test]
fn a_rehashed_altered_event_breaks_the_chain_at_its_successor() {
    let mut events = chain(5);
    let altered = events[2].data.clone();
    let mut altered = altered;
    altered.actor = Some("someone-else".into());
    events[2] = altered.seal(3, events[1].hash);
    let broken = verify(&events).unwrap_err();
    assert_eq!(broken.seq, 4);
    assert_eq!(broken.problem, ChainProblem::PrevHashMismatch);
}

#[test]
fn a_removed_event_is_a_seq_gap() {
    let mut events = chain(5);
    events.remove(1);
    let broken = verify(&events).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert_eq!(broken.problem, ChainProblem::SeqGap { expected: 2 });
}

#[test]
fn an_event_of_another_org_is_refused() {
    let mut events = chain(2);
    events[1].data.org = OrgId::from("org-2");
    assert_eq!(verify(&events).unwrap_err().problem, ChainProblem::WrongOrg);
}

#[test]
fn absent_and_empty_fields_encode_differently() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut a = NewAuditEvent::new(org(), AuditKind::RequestBlocked, at);
    let mut b = a.clone();
    a.rule = None;
    b.rule = Some(String::new());
    assert_ne!(
        canonical_encoding(&a, 1, &GENESIS),
        canonical_encoding(&b, 1, &GENESIS)
    );
}

#[test]
fn moving_bytes_between_fields_changes_the_encoding() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut a = NewAuditEvent::new(org(), AuditKind::RequestBlocked, at);
    let mut b = a.clone();
    a.method = Some("GETx".into());
    a.path = Some("/y".into());
    b.method = Some("GET".into());
    b.path = Some("x/y".into());
    assert_ne!(
        canonical_encoding(&a, 1, &GENESIS),
        canonical_encoding(&b, 1, &GENESIS)
    );
}

#[test]
fn sealing_truncates_the_time_to_microseconds() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::nanoseconds(1_500);
    let mut event = NewAuditEvent::new(org(), AuditKind::GrantCreated, at);
    event.at = at;
    let sealed = event.seal(1, GENESIS);
    assert_eq!(sealed.at.timestamp_subsec_nanos(), 1_000);
    assert_eq!(sealed.expected_hash(), sealed.hash);
}

#[test]
fn chain_hash_round_trips_through_hex() {
    let event = &chain(1)[0];
    assert_eq!(ChainHash::from_hex(&event.hash.to_hex()), Ok(event.hash));
    assert!(ChainHash::from_hex("zz").is_err());
}

#[test]
fn a_cursor_round_trips_and_foreign_text_is_refused() {
    let cursor = AuditCursor { before_seq: 42 };
    assert_eq!(AuditCursor::decode(&cursor.encode()), Ok(cursor));
    for bad in [
        "",
        "42",
        "c2ExLg",
        "not base64!",
        &URL_SAFE_NO_PAD.encode("sa1.-1"),
    ] {
        assert_eq!(AuditCursor::decode(bad), Err(InvalidCursor), "{bad}");
    }
}

#[test]
fn kinds_parse_from_their_names_and_decisions_follow_from_kinds() {
    for kind in AuditKind::ALL {
        assert_eq!(kind.as_str().parse::<AuditKind>(), Ok(kind));
    }
    assert!("grant.deleted".parse::<AuditKind>().is_err());
    assert_eq!(
        AuditKind::RequestAllowed.decision(),
        Some(Decision::Allowed)
    );
    assert_eq!(
        AuditKind::RequestBlocked.decision(),
        Some(Decision::Blocked)
    );
    assert_eq!(AuditKind::RequestCompleted.decision(), None);
    assert_eq!(Decision::Blocked.kind(), AuditKind::RequestBlocked);
}

#[test]
fn a_page_built_from_an_overfetch_has_a_cursor_only_when_more_exist() {
    let mut events = chain(5);
    events.reverse();
    let page = AuditPage::from_overfetch(events.clone(), 4);
    assert_eq!(page.events.len(), 4);
    assert_eq!(page.next_cursor, Some(AuditCursor { before_seq: 2 }));
    let last = AuditPage::from_overfetch(events, 5);
    assert_eq!(last.next_cursor, None);
}

#[test]
fn query_filters_select_matching_events() {
    let events = chain(4);
    let mut query = AuditQuery::new(org());
    query.cursor = Some(AuditCursor { before_seq: 3 });
    let seqs: Vec<u64> = events
        .iter()
        .filter(|e| query.matches(e))
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2]);
    query.cursor = None;
    query.decision = Some(Decision::Blocked);
    assert!(events.iter().all(|e| !query.matches(e)));
    query.decision = Some(Decision::Allowed);
    query.to = Some(events[1].at);
    assert_eq!(events.iter().filter(|e| query.matches(e)).count(), 1);
}

#[test]
fn an_event_serialises_flat_with_hex_hashes() {
    let event = &chain(1)[0];
    let json = serde_json::to_value(event).unwrap();
    assert_eq!(json["seq"], 1);
    assert_eq!(json["kind"], "request.allowed");
    assert_eq!(json["prev_hash"], "0".repeat(64));
    assert_eq!(json["hash"].as_str().unwrap().len(), 64);
}

#[test]
fn an_event_without_error_or_rewrites_encodes_exactly_as_before_they_existed() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut event = NewAuditEvent::new(org(), AuditKind::RequestAllowed, at);
    event.id = Uuid::nil();
    event.path = Some("/crm/v8/Leads".into());
    let encoding = String::from_utf8(canonical_encoding(&event, 7, &GENESIS)).unwrap();
    let expected = format!(
        "support-access/audit/v1\nid=36:{}\norg=5:org-1\nseq=1:7\nat=27:2026-01-01T00:00:00.000000Z\n\
         kind=15:request.allowed\ngrant=~\nsupport_user=~\nactor=~\nmethod=~\npath=13:/crm/v8/Leads\n\
         status=~\nrule=~\nrestriction=~\nlatency_ms=~\nrequest_id=~\nclient_ip=~\nuser_agent=~\n\
         body_sha256=~\nreason=~\nticket=~\nprev_hash=64:{}\n",
        Uuid::nil(),
        "0".repeat(64)
    );
    assert_eq!(
        encoding, expected,
        "the v1 encoding of events stored before"
    );
}

#[test]
fn error_and_rewrites_are_hashed_when_present() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let plain = NewAuditEvent::new(org(), AuditKind::RequestBlocked, at);
    let mut refused = plain.clone();
    refused.error = Some("restricted".into());
    let mut rewritten = plain.clone();
    rewritten.rewrites = vec!["trigger:-workflow".into(), "notify:false".into()];
    let mut split = plain.clone();
    split.rewrites = vec!["trigger:-workflow;".into(), "notify:false".into()];
    let mut joined = plain.clone();
    joined.rewrites = vec!["trigger:-workflow".into(), ";notify:false".into()];
    let encodings: Vec<Vec<u8>> = [&plain, &refused, &rewritten, &split, &joined]
        .iter()
        .map(|e| canonical_encoding(e, 1, &GENESIS))
        .collect();
    for (i, a) in encodings.iter().enumerate() {
        for b in &encodings[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let text = String::from_utf8(encodings[2].clone()).unwrap();
    assert!(
        text.contains("rewrites=37:2;17:trigger:-workflow12:notify:false\n"),
        "{text}"
    );
    let sealed = rewritten.clone().seal(1, GENESIS);
    assert_eq!(sealed.hash, sealed.expected_hash());
    let mut altered = sealed.clone();
    altered.data.rewrites.pop();
    assert_ne!(
        altered.expected_hash(),
        sealed.hash,
        "removing a rewrite breaks the chain"
    );
}

#[test]
fn error_and_rewrites_serialise_only_when_present() {
    let plain = serde_json::to_value(&chain(1)[0]).unwrap();
    assert!(plain.get("error").is_none() && plain.get("rewrites").is_none());
    let mut event = chain(1)[0].data.clone();
    event.error = Some("restricted".into());
    event.rewrites = vec!["notify:false".into()];
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["error"], "restricted");
    assert_eq!(json["rewrites"], serde_json::json!(["notify:false"]));
    let back: NewAuditEvent = serde_json::from_value(json).unwrap();
    assert_eq!(back, event);
}

#[test]
fn a_changes_digest_is_hashed_and_serialised_only_when_present() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let plain = NewAuditEvent::new(org(), AuditKind::ChangeRecorded, at);
    let mut with = plain.clone();
    with.rewrites = vec!["notify:false".into()];
    with.changes_sha256 = Some("ab".repeat(32));
    let text = String::from_utf8(canonical_encoding(&with, 1, &GENESIS)).unwrap();
    assert!(
        text.ends_with(&format!(
            "rewrites=17:1;12:notify:false\nchanges_sha256=64:{}\nprev_hash=64:{}\n",
            "ab".repeat(32),
            "0".repeat(64)
        )),
        "{text}"
    );
    let mut without = with.clone();
    without.changes_sha256 = None;
    assert!(
        !String::from_utf8(canonical_encoding(&without, 1, &GENESIS))
            .unwrap()
            .contains("changes_sha256")
    );
    let sealed = with.clone().seal(1, GENESIS);
    let mut altered = sealed.clone();
    altered.data.changes_sha256 = Some("cd".repeat(32));
    assert_ne!(altered.expected_hash(), sealed.hash);
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("changes_sha256")
            .is_none()
    );
    let json = serde_json::to_value(&with).unwrap();
    assert_eq!(json["changes_sha256"], "ab".repeat(32));
    assert_eq!(serde_json::from_value::<NewAuditEvent>(json).unwrap(), with);
}

#[test]
fn an_approval_is_hashed_after_the_older_optional_fields_only_when_present() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut plain = NewAuditEvent::new(org(), AuditKind::ApprovalUsed, at);
    plain.id = Uuid::nil();
    plain.error = Some("restricted".into());
    let before = String::from_utf8(canonical_encoding(&plain, 3, &GENESIS)).unwrap();
    assert!(!before.contains("approval="), "{before}");
    let mut with = plain.clone();
    with.approval = Some(ApprovalId::from_uuid(Uuid::nil()));
    let text = String::from_utf8(canonical_encoding(&with, 3, &GENESIS)).unwrap();
    let expected_tail = format!(
        "error=10:restricted\napproval=36:{}\nprev_hash=64:{}\n",
        Uuid::nil(),
        "0".repeat(64)
    );
    assert!(text.ends_with(&expected_tail), "{text}");
    assert_eq!(
        text.replace(&format!("approval=36:{}\n", Uuid::nil()), ""),
        before,
        "the approval line is the only difference"
    );
    let sealed = with.clone().seal(3, GENESIS);
    let mut stripped = sealed.clone();
    stripped.data.approval = None;
    assert_ne!(
        stripped.expected_hash(),
        sealed.hash,
        "dropping it breaks the chain"
    );
    let json = serde_json::to_value(&with).unwrap();
    assert_eq!(json["approval"], Uuid::nil().to_string());
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("approval")
            .is_none()
    );
    assert_eq!(serde_json::from_value::<NewAuditEvent>(json).unwrap(), with);
}

#[test]
fn approval_kinds_record_no_decision() {
    for kind in [
        AuditKind::ApprovalRequested,
        AuditKind::ApprovalApproved,
        AuditKind::ApprovalDenied,
        AuditKind::ApprovalUsed,
    ] {
        assert_eq!(kind.decision(), None);
        assert!(kind.as_str().starts_with("approval."));
    }
}
