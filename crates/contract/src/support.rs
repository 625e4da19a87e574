//! Shared helpers of the suites.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::grant::Grant;
use support_access_core::ids::OrgId;

static NEXT_ORG: AtomicU64 = AtomicU64::new(1);

/// An org id no other case uses, so that suites sharing one database cannot collide.
pub fn fresh_org() -> OrgId {
    let n = NEXT_ORG.fetch_add(1, Ordering::Relaxed);
    OrgId::new(format!("org-{}-{n}", std::process::id()))
}

/// A fixed instant the suites count from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

/// An open grant for `org` created at [`t0`] and ending `days` later.
pub fn grant_for(org: &OrgId, days: i64) -> Grant {
    Grant::new(
        org.clone(),
        "admin-1",
        t0(),
        t0() + Duration::days(days),
        Some("diagnose sync failures".into()),
        Some("T-4711".into()),
    )
}

/// The event of a lifecycle change of `grant`, at [`t0`].
pub fn ev(grant: &Grant, kind: AuditKind) -> NewAuditEvent {
    let mut event = grant.event(kind, t0());
    event.actor = Some("admin-1".into());
    event
}

/// An event for a change of a grant that does not exist (of an org no case uses).
pub fn stray(kind: AuditKind) -> NewAuditEvent {
    NewAuditEvent::new(fresh_org(), kind, t0())
}
