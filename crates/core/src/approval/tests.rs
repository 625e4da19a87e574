use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::grant::{ClosedAs, Closure, Seat};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
}

fn staff() -> StaffId {
    StaffId::from("staff-7")
}

fn grant() -> Grant {
    let mut grant = Grant::new(
        OrgId::from("org-1"),
        "admin-1",
        t0() - Duration::days(1),
        t0() + Duration::days(2),
        None,
        None,
    );
    grant.seat = Some(Seat {
        holder: staff(),
        claimed_at: t0() - Duration::hours(1),
    });
    grant
}

const BODY: &[u8] = br#"{"query":"select Last_Name from Leads"}"#;

fn shape<'a>(grant: &Grant, actor: &'a StaffId) -> RequestShape<'a> {
    RequestShape {
        grant: grant.id,
        actor,
        method: "POST",
        path: "/crm/bulk/v8/read",
        query: Some("a=1&b=2"),
        body: BODY,
    }
}

fn pending(grant: &Grant) -> Approval {
    let actor = staff();
    Approval::pending(
        grant,
        &shape(grant, &actor),
        (Some(7), Some("export-bulk-read".into())),
        t0(),
        ApprovalTtl::default(),
    )
    .unwrap()
}

fn approved(grant: &Grant) -> Approval {
    pending(grant).decided(&Decision {
        verdict: Verdict::Approve {
            until: t0() + Duration::minutes(20),
        },
        by: "admin-1".into(),
        at: t0() + Duration::minutes(5),
        note: Some("once".into()),
    })
}

#[test]
fn the_same_request_always_fingerprints_alike() {
    let grant = grant();
    let actor = staff();
    assert_eq!(
        Fingerprint::of(&shape(&grant, &actor)),
        Fingerprint::of(&shape(&grant, &actor))
    );
    let owned_body = BODY.to_vec();
    let mut copy = shape(&grant, &actor);
    copy.body = &owned_body;
    assert_eq!(
        Fingerprint::of(&copy),
        Fingerprint::of(&shape(&grant, &actor))
    );
}

#[test]
fn any_change_of_the_request_changes_the_fingerprint() {
    let grant = grant();
    let actor = staff();
    let other_actor = StaffId::from("staff-8");
    let base = shape(&grant, &actor);
    let mut flipped = BODY.to_vec();
    flipped[3] ^= 1;
    let mut longer = BODY.to_vec();
    longer.push(b' ');
    let changes: Vec<RequestShape<'_>> = vec![
        RequestShape {
            grant: GrantId::random(),
            ..base.clone()
        },
        RequestShape {
            actor: &other_actor,
            ..base.clone()
        },
        RequestShape {
            method: "PUT",
            ..base.clone()
        },
        RequestShape {
            method: "post",
            ..base.clone()
        },
        RequestShape {
            path: "/crm/bulk/v8/read/",
            ..base.clone()
        },
        RequestShape {
            query: Some("a=1&b=3"),
            ..base.clone()
        },
        RequestShape {
            query: Some(""),
            ..base.clone()
        },
        RequestShape {
            query: None,
            ..base.clone()
        },
        RequestShape {
            body: &flipped,
            ..base.clone()
        },
        RequestShape {
            body: &longer,
            ..base.clone()
        },
        RequestShape {
            body: b"",
            ..base.clone()
        },
    ];
    let mut seen = vec![Fingerprint::of(&base)];
    for change in &changes {
        let fingerprint = Fingerprint::of(change);
        assert!(!seen.contains(&fingerprint), "{change:?}");
        seen.push(fingerprint);
    }
    // An absent query and an empty one differ from each other too (checked above);
    // moving bytes between parts changes it as well.
    let moved = RequestShape {
        path: "/crm/bulk/v8/rea",
        query: Some("da=1&b=2"),
        ..base.clone()
    };
    assert_ne!(Fingerprint::of(&moved), Fingerprint::of(&base));
}

#[test]
fn the_canonical_bytes_are_pinned() {
    let grant = grant();
    let actor = staff();
    let text =
        String::from_utf8(canonical_bytes(&shape(&grant, &actor), &"ab".repeat(32))).unwrap();
    let expected = format!(
        "support-access/approval/v1\ngrant=36:{}\nactor=7:staff-7\nmethod=4:POST\n\
         path=17:/crm/bulk/v8/read\nquery=7:a=1&b=2\nbody_sha256=64:{}\n",
        grant.id,
        "ab".repeat(32)
    );
    assert_eq!(text, expected);
    let no_query = RequestShape {
        query: None,
        ..shape(&grant, &actor)
    };
    let text = String::from_utf8(canonical_bytes(&no_query, "x")).unwrap();
    assert!(text.contains("\nquery=~\n"), "{text}");
    let fingerprint = Fingerprint::of(&shape(&grant, &actor));
    assert_eq!(
        Fingerprint::from_hex(&fingerprint.to_hex()),
        Ok(fingerprint)
    );
}

#[test]
fn a_pending_approval_waits_the_pending_ttl_then_expires() {
    let grant = grant();
    let approval = pending(&grant);
    assert_eq!(approval.status, ApprovalStatus::Pending);
    assert_eq!(approval.expires_at, t0() + Duration::hours(1));
    assert_eq!(approval.body_sha256, body_sha256(BODY));
    assert_eq!(
        approval.seat_claimed_at,
        grant.seat.as_ref().unwrap().claimed_at
    );
    let end = approval.expires_at;
    assert_eq!(
        approval.status_at(end - Duration::microseconds(1)),
        ApprovalStatus::Pending
    );
    assert_eq!(approval.status_at(end), ApprovalStatus::Expired);
}

#[test]
fn an_approved_approval_is_usable_once_until_its_end_by_the_exact_request() {
    let grant = grant();
    let approval = approved(&grant);
    assert_eq!(approval.status, ApprovalStatus::Approved);
    assert_eq!(approval.expires_at, t0() + Duration::minutes(20));
    assert_eq!(approval.decided_by.as_deref(), Some("admin-1"));
    let actor = staff();
    let fingerprint = Fingerprint::of(&shape(&grant, &actor));
    let just_before = approval.expires_at - Duration::microseconds(1);
    assert_eq!(
        approval.check_use(&grant, &fingerprint, just_before),
        Ok(())
    );
    assert_eq!(
        approval.check_use(&grant, &fingerprint, approval.expires_at),
        Err(Unusable::Expired)
    );
    let other = RequestShape {
        query: Some("a=1"),
        ..shape(&grant, &actor)
    };
    assert_eq!(
        approval.check_use(&grant, &Fingerprint::of(&other), t0()),
        Err(Unusable::Mismatch)
    );
    let mut used = approval.clone();
    used.status = ApprovalStatus::Used;
    assert_eq!(
        used.check_use(&grant, &fingerprint, t0()),
        Err(Unusable::Used)
    );
}

#[test]
fn pending_and_denied_approvals_cannot_be_used() {
    let grant = grant();
    let actor = staff();
    let fingerprint = Fingerprint::of(&shape(&grant, &actor));
    assert_eq!(
        pending(&grant).check_use(&grant, &fingerprint, t0()),
        Err(Unusable::Pending)
    );
    let denied = pending(&grant).decided(&Decision {
        verdict: Verdict::Deny,
        by: "admin-1".into(),
        at: t0(),
        note: None,
    });
    assert_eq!(
        denied.expires_at,
        t0() + Duration::hours(1),
        "a denial keeps the end"
    );
    assert_eq!(
        denied.status_at(t0() + Duration::days(9)),
        ApprovalStatus::Denied
    );
    assert_eq!(
        denied.check_use(&grant, &fingerprint, t0()),
        Err(Unusable::Denied)
    );
}

#[test]
fn revoke_expiry_and_seat_release_void_every_open_approval() {
    let grant = grant();
    let approval = approved(&grant);
    let actor = staff();
    let fingerprint = Fingerprint::of(&shape(&grant, &actor));
    let now = t0() + Duration::minutes(6);

    let mut revoked = grant.clone();
    revoked.closure = Some(Closure {
        reason: ClosedAs::Revoked,
        at: now,
        by: Some("admin-1".into()),
    });
    let mut past_end = grant.clone();
    past_end.expires_at = now;
    let mut released = grant.clone();
    released.seat = None;
    let mut reclaimed = grant.clone();
    reclaimed.seat = Some(Seat {
        holder: staff(),
        claimed_at: now - Duration::seconds(1),
    });
    let mut other_holder = grant.clone();
    other_holder.seat = Some(Seat {
        holder: StaffId::from("staff-8"),
        claimed_at: grant.seat.as_ref().unwrap().claimed_at,
    });
    for ended in [&revoked, &past_end, &released, &reclaimed, &other_holder] {
        assert!(!approval.holds_under(ended, now));
        assert_eq!(
            approval.status_under(Some(ended), now),
            ApprovalStatus::Void
        );
        assert_eq!(
            approval.check_use(ended, &fingerprint, now),
            Err(Unusable::Void)
        );
    }
    assert_eq!(approval.status_under(None, now), ApprovalStatus::Void);
    assert_eq!(
        approval.status_under(Some(&grant), now),
        ApprovalStatus::Approved
    );
    let mut used = approval.clone();
    used.status = ApprovalStatus::Used;
    assert_eq!(
        used.status_under(Some(&revoked), now),
        ApprovalStatus::Used,
        "a final state stays what it was"
    );
}

#[test]
fn an_approval_of_another_org_is_unknown() {
    let grant = grant();
    let approval = approved(&grant);
    let mut foreign = grant.clone();
    foreign.org = OrgId::from("org-2");
    let actor = staff();
    assert_eq!(
        approval.check_use(&foreign, &Fingerprint::of(&shape(&grant, &actor)), t0()),
        Err(Unusable::Unknown)
    );
}

#[test]
fn no_seat_no_approval() {
    let mut grant = grant();
    grant.seat = None;
    let actor = staff();
    assert!(
        Approval::pending(
            &grant,
            &shape(&grant, &actor),
            (None, None),
            t0(),
            ApprovalTtl::default()
        )
        .is_none()
    );
}

#[test]
fn the_body_preview_is_the_first_4_kib_cut_at_a_character() {
    assert_eq!(body_preview(b""), None);
    assert_eq!(body_preview(b"{}").as_deref(), Some("{}"));
    let mut long = vec![b'a'; PREVIEW_BYTES - 1];
    long.extend_from_slice("é and more".as_bytes());
    let preview = body_preview(&long).unwrap();
    assert_eq!(preview.len(), PREVIEW_BYTES - 1, "the split é is dropped");
    assert!(preview.bytes().all(|b| b == b'a'));
    let binary = body_preview(&[0xff, b'x']).unwrap();
    assert_eq!(binary, "\u{fffd}x");
}

#[test]
fn statuses_parse_from_their_names() {
    for status in ApprovalStatus::ALL {
        assert_eq!(status.as_str().parse::<ApprovalStatus>(), Ok(status));
    }
    assert!("open".parse::<ApprovalStatus>().is_err());
    assert_eq!(
        ApprovalTtl::default(),
        ApprovalTtl {
            pending: Duration::hours(1),
            approved: Duration::minutes(15)
        }
    );
}

#[test]
fn an_approval_event_names_the_approval_and_the_request() {
    let grant = grant();
    let approval = pending(&grant);
    let event = approval.event(&grant, crate::audit::AuditKind::ApprovalRequested, t0());
    assert_eq!(event.approval, Some(approval.id));
    assert_eq!(event.grant, Some(grant.id));
    assert_eq!(event.method.as_deref(), Some("POST"));
    assert_eq!(event.path.as_deref(), Some("/crm/bulk/v8/read"));
    assert_eq!(event.restriction, Some(7));
    assert_eq!(event.rule.as_deref(), Some("export-bulk-read"));
    assert_eq!(
        event.body_sha256.as_deref(),
        Some(body_sha256(BODY).as_str())
    );
}
