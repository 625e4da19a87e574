use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

fn grant_until(end: DateTime<Utc>) -> Grant {
    Grant::new(OrgId::from("org-1"), "admin-1", t0(), end, None, None)
}

#[test]
fn a_grant_is_active_one_microsecond_before_its_end() {
    let grant = grant_until(t0() + Duration::days(1));
    let just_before = grant.expires_at - Duration::microseconds(1);
    assert_eq!(grant.status_at(just_before), GrantStatus::Active);
}

#[test]
fn a_grant_is_expired_at_its_end_instant() {
    let grant = grant_until(t0() + Duration::days(1));
    assert_eq!(grant.status_at(grant.expires_at), GrantStatus::Expired);
    assert_eq!(
        grant.status_at(grant.expires_at + Duration::days(3)),
        GrantStatus::Expired
    );
}

#[test]
fn a_revoked_grant_stays_revoked_whatever_the_time() {
    let mut grant = grant_until(t0() + Duration::days(2));
    grant.closure = Some(Closure {
        reason: ClosedAs::Revoked,
        at: t0() + Duration::hours(1),
        by: Some("admin-2".into()),
    });
    assert_eq!(grant.status_at(t0()), GrantStatus::Revoked);
    assert_eq!(
        grant.status_at(t0() + Duration::days(5)),
        GrantStatus::Revoked
    );
    assert_eq!(grant.revoked_by(), Some("admin-2"));
    assert_eq!(grant.revoked_at(), Some(t0() + Duration::hours(1)));
    assert!(!grant.is_open());
}

#[test]
fn an_expiry_closure_is_not_a_revoke() {
    let mut grant = grant_until(t0() + Duration::days(1));
    grant.closure = Some(Closure {
        reason: ClosedAs::Expired,
        at: grant.expires_at,
        by: None,
    });
    assert_eq!(grant.status_at(t0()), GrantStatus::Expired);
    assert_eq!(grant.revoked_at(), None);
}

#[test]
fn a_grant_of_exactly_the_minimum_is_accepted() {
    let bounds = GrantBounds::default();
    assert_eq!(bounds.check_end(t0(), t0() + Duration::days(1)), Ok(()));
}

#[test]
fn a_grant_of_23h59m_is_refused_as_too_short() {
    let bounds = GrantBounds::default();
    let end = t0() + Duration::hours(23) + Duration::minutes(59);
    let refused = bounds.check_end(t0(), end).unwrap_err();
    assert_eq!(
        refused,
        EndDateError::TooShort {
            min_seconds: 86_400
        }
    );
    assert_eq!(refused.code(), "grant_too_short");
}

#[test]
fn a_grant_one_microsecond_short_of_the_minimum_is_refused() {
    let bounds = GrantBounds::default();
    let end = t0() + Duration::days(1) - Duration::microseconds(1);
    assert!(matches!(
        bounds.check_end(t0(), end),
        Err(EndDateError::TooShort { .. })
    ));
}

#[test]
fn a_grant_of_exactly_the_maximum_is_accepted_and_one_microsecond_more_is_refused() {
    let bounds = GrantBounds::default();
    assert_eq!(bounds.check_end(t0(), t0() + Duration::days(365)), Ok(()));
    let over = t0() + Duration::days(365) + Duration::microseconds(1);
    let refused = bounds.check_end(t0(), over).unwrap_err();
    assert_eq!(refused.code(), "grant_too_long");
}

#[test]
fn an_end_date_in_the_past_or_now_is_refused() {
    let bounds = GrantBounds::default();
    assert_eq!(bounds.check_end(t0(), t0()), Err(EndDateError::InPast));
    assert_eq!(
        bounds.check_end(t0(), t0() - Duration::days(2)),
        Err(EndDateError::InPast)
    );
}

#[test]
fn configured_bounds_are_honoured() {
    let bounds = GrantBounds {
        min: Duration::hours(2),
        max: Duration::days(7),
    };
    assert_eq!(bounds.check_end(t0(), t0() + Duration::hours(2)), Ok(()));
    assert!(bounds.check_end(t0(), t0() + Duration::hours(1)).is_err());
    assert!(bounds.check_end(t0(), t0() + Duration::days(8)).is_err());
}

#[test]
fn a_new_grant_keeps_microsecond_precision_and_derives_its_support_user() {
    let start = t0() + Duration::nanoseconds(1_234_567);
    let grant = Grant::new(
        OrgId::from("org-1"),
        "admin-1",
        start,
        start + Duration::days(1),
        Some("ticket work".into()),
        Some("T-1".into()),
    );
    assert_eq!(grant.created_at, t0() + Duration::microseconds(1_234));
    assert_eq!(grant.support_user, SupportUserId::for_grant(grant.id));
    assert!(grant.is_open());
    assert!(grant.seat.is_none());
}

#[test]
fn the_bounds_are_stated_in_the_unit_an_admin_configured() {
    let too_long = EndDateError::TooLong {
        max_seconds: 365 * 86_400,
    };
    assert_eq!(
        too_long.to_string(),
        "access may last at most 365 days from now"
    );
    let too_short = EndDateError::TooShort { min_seconds: 7_200 };
    assert_eq!(
        too_short.to_string(),
        "access must last at least 2 hours from now"
    );
    let odd = EndDateError::TooShort { min_seconds: 90 };
    assert_eq!(
        odd.to_string(),
        "access must last at least 90 seconds from now"
    );
}

#[test]
fn a_count_of_days_beyond_the_calendar_is_too_long_not_a_panic() {
    let bounds = GrantBounds::default();
    let refused = bounds.resolve(t0(), GrantEnd::Days(u32::MAX)).unwrap_err();
    assert_eq!(refused.code(), "grant_too_long");
    assert_eq!(
        bounds.resolve(t0(), GrantEnd::Days(3)),
        Ok(t0() + Duration::days(3))
    );
    assert_eq!(
        bounds.resolve(t0(), GrantEnd::Days(0)),
        Err(EndDateError::InPast)
    );
}
