//! Which audit keys sign when: the current one first, a rotated-in key from the
//! rotation on, the superseded one until `audit.key_overlap` after its successor
//! activated.

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::keys::StoredKey;

use super::{signing_kids, stored_audit_key};
use crate::tokens::keyring;

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn key(created: i64, activates: i64) -> StoredKey {
    let document = keyring::generate().unwrap();
    stored_audit_key(&document, "support-gateway", at(created), at(activates)).unwrap()
}

#[test]
fn a_changeover_is_signed_by_both_keys_until_the_overlap_ends() {
    let overlap = Duration::minutes(60);
    let old = key(0, 0);
    // Rotated at minute 10, signing from minute 15 (publish_ahead 5 minutes).
    let new = key(10, 15);
    let kids = |now: i64| signing_kids(vec![old.clone(), new.clone()], at(now), overlap);
    assert_eq!(
        signing_kids(vec![old.clone()], at(5), overlap),
        vec![old.kid.clone()],
        "before the rotation"
    );
    assert_eq!(
        kids(12),
        vec![old.kid.clone(), new.kid.clone()],
        "published ahead: the new key co-signs, the old one still signs first"
    );
    assert_eq!(
        kids(15),
        vec![new.kid.clone(), old.kid.clone()],
        "the new key took over"
    );
    assert_eq!(
        kids(74),
        vec![new.kid.clone(), old.kid.clone()],
        "within the overlap"
    );
    assert_eq!(kids(75), vec![new.kid.clone()], "the overlap ended");
}

#[test]
fn one_key_signs_alone_and_a_zero_overlap_drops_the_old_key_at_the_switch() {
    let old = key(0, 0);
    assert_eq!(
        signing_kids(vec![old.clone()], at(100), Duration::minutes(60)),
        vec![old.kid.clone()]
    );
    let new = key(10, 15);
    let kids = signing_kids(vec![new.clone(), old.clone()], at(15), Duration::zero());
    assert_eq!(kids, vec![new.kid.clone()]);
    // Three keys: only the last superseded one is within its overlap.
    let newest = key(20, 30);
    let kids = signing_kids(
        vec![old, new.clone(), newest.clone()],
        at(40),
        Duration::minutes(20),
    );
    assert_eq!(kids, vec![newest.kid, new.kid]);
}

#[test]
fn before_any_key_activated_the_oldest_signs_first() {
    let first = key(0, 10);
    let second = key(1, 20);
    let kids = signing_kids(
        vec![second.clone(), first.clone()],
        at(5),
        Duration::minutes(60),
    );
    assert_eq!(kids, vec![first.kid, second.kid]);
}
