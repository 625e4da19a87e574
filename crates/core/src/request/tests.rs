use chrono::{TimeZone, Utc};

use super::*;
use crate::audit::AuditKind;
use crate::ids::{GrantId, OrgId, StaffId, SupportUserId};

fn record() -> RequestRecord {
    let facts = SupportTokenFacts {
        org: OrgId::new("org-1"),
        grant: GrantId::random(),
        support_user: SupportUserId::for_grant(GrantId::random()),
        actor: StaffId::new("alice"),
        issued_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    };
    let line = RequestLine {
        request_id: "req-1".into(),
        method: "GET".into(),
        path: "/crm/v8/Leads".into(),
        client_ip: Some("127.0.0.1".into()),
        user_agent: None,
    };
    RequestRecord::new(facts, line)
}

#[test]
fn a_blocked_event_names_the_refusal_not_the_rule_that_allowed_so_far() {
    let mut record = record();
    record.rule = Some("read-leads".into());
    record.restriction = Some(3);
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let event = record.event(
        RequestOutcome::Blocked {
            status: 403,
            error: "restricted".into(),
            rule: None,
            restriction: None,
            latency_ms: 4,
        },
        at,
    );
    assert_eq!(event.kind, AuditKind::RequestBlocked);
    assert_eq!(event.org, record.facts.org);
    assert_eq!(event.grant, Some(record.facts.grant));
    assert_eq!(event.actor.as_deref(), Some("alice"));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        (event.status, event.error.as_deref()),
        (Some(403), Some("restricted"))
    );
    assert_eq!((event.rule, event.restriction), (None, None));
    assert_eq!(event.latency_ms, Some(4));
    assert_eq!(event.at, at);
}

#[test]
fn allowed_and_completed_events_carry_the_grant_the_rule_and_the_body() {
    let mut record = record();
    record.reason = Some("case".into());
    record.rule = Some("read-leads".into());
    record.body_sha256 = Some("ab".into());
    record.rewrites = vec!["notify:false".into()];
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let allowed = record.event(RequestOutcome::Allowed, at);
    assert_eq!(allowed.kind, AuditKind::RequestAllowed);
    assert_eq!((allowed.status, allowed.latency_ms), (None, None));
    assert_eq!(allowed.rule.as_deref(), Some("read-leads"));
    assert_eq!(allowed.rewrites, ["notify:false"]);
    let completed = record.event(
        RequestOutcome::Completed {
            status: 502,
            error: Some("upstream_unreachable".into()),
            latency_ms: 9,
        },
        at,
    );
    assert_eq!(completed.kind, AuditKind::RequestCompleted);
    assert_eq!(completed.status, Some(502));
    assert_eq!(completed.reason.as_deref(), Some("case"));
    assert_eq!(completed.body_sha256.as_deref(), Some("ab"));
    assert_ne!(allowed.id, completed.id, "each event has its own id");
}
