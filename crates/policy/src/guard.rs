//! Body guards: pure functions over request bodies (JSON bytes, whatever the
//! `Content-Type`).
//!
//! - Support requests: [`Policy::apply_support_guards`] applies every [`Guard`] of an
//!   allowed [`Decision`]: owner rewrite on record creation, the assignment guard, the
//!   date guard (restriction 20), self-only checks, forbidden body keys and composite
//!   sub-requests. It returns the body to forward.
//! - Ordinary traffic: [`Policy::ordinary_needs_body`] tells whether the body must be
//!   read, [`Policy::check_ordinary_body`] refuses assignments to an active support user
//!   (restriction 17).
//!
//! Bodies are read by the one strict JSON reader ([`crate::json`]: duplicate and
//! case-variant keys refused as `ambiguous_body`), keys are looked up up to case
//! ([`key_is`]), and ids by the one lenient id reader ([`crate::lenient`]): a guard that
//! refuses asks whether some upstream *may* read the support user's id, a guard that
//! allows asks whether every upstream *surely* does. Side-effect rewrites
//! (`set_body_keys`, [`crate::rewrite`]) and bulk-write field mappings
//! ([`crate::bulk`]) run here too.

use std::sync::Arc;

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;
use support_access_core::SupportUserId;

use crate::json::{JsonError, key_is, parse_strict};
use crate::lenient::{may_name, surely_names, text_may_name, text_surely_names};
use crate::normalise::normalise_target;
use crate::policy::{Decision, Guard, GuardKind, Policy, PolicyMethod};

/// What a support request is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportContext {
    /// The hidden support user making the request.
    pub support_user: SupportUserId,
    /// Now, from the clock port.
    pub now: DateTime<Utc>,
}

/// Whether a body refusal is the client's malformed input or a policy refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// Malformed or unsupported body: `400`.
    BadRequest,
    /// The policy refuses what the body does: `403`.
    Forbidden,
}

/// A body the guards refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{message}")]
pub struct BodyRefusal {
    /// The stable code, the JSON `error` field.
    pub code: &'static str,
    /// A human sentence.
    pub message: String,
    /// The rule that refused, if any.
    pub rule: Option<Arc<str>>,
    /// Its restriction, if any.
    pub restriction: Option<u8>,
    /// `400` or `403`.
    pub kind: RefusalKind,
}

impl BodyRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            rule: None,
            restriction: None,
            kind: RefusalKind::BadRequest,
        }
    }

    fn forbidden(code: &'static str, message: impl Into<String>, guard: &Guard) -> Self {
        Self {
            code,
            message: message.into(),
            rule: Some(guard.rule.clone()),
            restriction: guard.restriction,
            kind: RefusalKind::Forbidden,
        }
    }

    fn shape(code: &'static str, message: impl Into<String>, guard: &Guard) -> Self {
        Self {
            kind: RefusalKind::BadRequest,
            ..Self::forbidden(code, message, guard)
        }
    }
}

impl From<JsonError> for BodyRefusal {
    fn from(error: JsonError) -> Self {
        match error {
            JsonError::Malformed(_) => Self::bad("malformed_json", error.to_string()),
            JsonError::DuplicateKey(_) | JsonError::CaseVariantKeys(_, _) => {
                Self::bad("ambiguous_body", error.to_string())
            }
        }
    }
}

/// The body to forward after the guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyOutcome {
    /// Forward the body as received.
    Unchanged,
    /// Forward these bytes instead (owner rewritten, composite URIs canonicalised,
    /// side-effect flags rewritten); the gateway must fix `Content-Length`.
    Rewritten(Vec<u8>),
}

/// What the guards made of a support request's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarded {
    /// The body to forward.
    pub outcome: BodyOutcome,
    /// The side-effect rewrites made (`set_body_keys`), for the audit event's
    /// `rewrites`: `trigger:-workflow`, `notify:false`, … (in a composite call prefixed
    /// with `sub_request[N]:`).
    pub rewrites: Vec<String>,
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

impl Policy {
    /// Applies the guards of an allowed support-request decision to its body; the body
    /// to forward (see [`Policy::guard_support_body`], which also reports rewrites).
    ///
    /// ```
    /// # use support_access_policy::*;
    /// # let policy = Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap();
    /// # let now = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z").unwrap().to_utc();
    /// let support = support_access_core::SupportUserId::from_u64(4150868000000225013);
    /// let target = normalise_target("/crm/v8/Leads").unwrap();
    /// let decision = policy.decide("POST", &target);
    /// let ctx = SupportContext { support_user: support, now };
    /// let out = policy.apply_support_guards(&decision, br#"{"data":[{"Last_Name":"A"}]}"#, &ctx).unwrap();
    /// let BodyOutcome::Rewritten(bytes) = out else { panic!() };
    /// assert!(String::from_utf8(bytes).unwrap().contains(r#""Owner":{"id":"4150868000000225013"}"#));
    /// ```
    pub fn apply_support_guards(
        &self,
        decision: &Decision,
        body: &[u8],
        ctx: &SupportContext,
    ) -> Result<BodyOutcome, BodyRefusal> {
        self.guard_support_body(decision, body, ctx)
            .map(|guarded| guarded.outcome)
    }

    /// Applies the guards of an allowed support-request decision to its body: the body
    /// to forward and the side-effect rewrites made.
    ///
    /// ```
    /// # use support_access_policy::*;
    /// # let policy = Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap();
    /// # let now = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z").unwrap().to_utc();
    /// let ctx = SupportContext { support_user: support_access_core::SupportUserId::from_u64(7), now };
    /// let decision = policy.decide("PUT", &normalise_target("/crm/v8/Leads/1").unwrap());
    /// let body = br#"{"data":[{"Last_Name":"A"}],"trigger":["workflow","approval"]}"#;
    /// let guarded = policy.guard_support_body(&decision, body, &ctx).unwrap();
    /// assert_eq!(guarded.rewrites, ["trigger:-workflow", "wf_trigger:false"]);
    /// ```
    pub fn guard_support_body(
        &self,
        decision: &Decision,
        body: &[u8],
        ctx: &SupportContext,
    ) -> Result<Guarded, BodyRefusal> {
        let unchanged = Guarded {
            outcome: BodyOutcome::Unchanged,
            rewrites: Vec::new(),
        };
        if decision.guards.is_empty() {
            return Ok(unchanged);
        }
        check_path_user_for(&decision.guards, ctx)?;
        if is_blank(body) {
            if let Some(guard) = decision
                .guards
                .iter()
                .find(|g| matches!(g.kind, GuardKind::OwnerToSupportUser | GuardKind::Composite))
            {
                return Err(BodyRefusal::shape(
                    "body_required",
                    "This route needs a JSON body.",
                    guard,
                ));
            }
            return Ok(unchanged);
        }
        let mut value = parse_strict(body)?;
        let mut rewrites = Vec::new();
        let approved = decision.approved;
        if self.guard_value(
            &decision.guards,
            &mut value,
            ctx,
            (false, approved),
            &mut rewrites,
        )? {
            let bytes = serde_json::to_vec(&value)
                .map_err(|e| BodyRefusal::bad("malformed_json", e.to_string()))?;
            Ok(Guarded {
                outcome: BodyOutcome::Rewritten(bytes),
                rewrites,
            })
        } else {
            Ok(Guarded {
                rewrites,
                ..unchanged
            })
        }
    }

    /// Whether ordinary traffic with this method and raw target must have its body read
    /// for the assignment guard: writes to a route with `no_assign_to_support_user` or a
    /// tunnel, and writes to targets the normaliser refuses (their route is unknown).
    pub fn ordinary_needs_body(&self, method: &str, raw_target: &str) -> bool {
        if PolicyMethod::from_request(method) == Some(PolicyMethod::Get) {
            return false;
        }
        match normalise_target(raw_target) {
            Ok(target) => self
                .guards_for_any_verdict(method, &target)
                .iter()
                .any(|g| g.kind.guards_ordinary_traffic()),
            Err(_) => true,
        }
    }

    /// Refuses ordinary traffic whose body assigns anything to one of the org's active
    /// support users (restriction 17): every owner/assignee key anywhere in the body,
    /// composite sub-requests included. A body that is not JSON passes unless its route
    /// is a known assignment route (then it is refused as malformed).
    pub fn check_ordinary_body(
        &self,
        method: &str,
        raw_target: &str,
        body: &[u8],
        active_support_users: &[SupportUserId],
    ) -> Result<(), BodyRefusal> {
        if active_support_users.is_empty() || is_blank(body) {
            return Ok(());
        }
        let value = match parse_strict(body) {
            Ok(value) => value,
            Err(error) => {
                let known_route = normalise_target(raw_target)
                    .map(|t| {
                        self.guards_for_any_verdict(method, &t)
                            .iter()
                            .any(|g| g.kind.guards_ordinary_traffic())
                    })
                    .unwrap_or(false);
                return if known_route {
                    Err(error.into())
                } else {
                    Ok(())
                };
            }
        };
        let ids: Vec<u64> = active_support_users.iter().map(|u| u.get()).collect();
        let found = find_assignment(&value, &self.assignment_keys, &ids)
            .or_else(|| crate::bulk::find_mapped_assignment(&value, &self.assignment_keys, &ids));
        if let Some(found) = found {
            let (rule, restriction) = self.assignment_rule();
            return Err(BodyRefusal {
                code: "assignment_to_support_user",
                message: format!(
                    "Records and rules may not be assigned to the support user ({found})."
                ),
                rule: Some(rule),
                restriction,
                kind: RefusalKind::Forbidden,
            });
        }
        Ok(())
    }

    fn assignment_rule(&self) -> (Arc<str>, Option<u8>) {
        self.rules()
            .find(|r| r.effect == crate::file::EffectName::NoAssignToSupportUser)
            .map_or_else(
                || ("no-assign-to-support-user".into(), Some(17)),
                |r| (r.id, r.restriction),
            )
    }

    /// Applies guards to a parsed body, noting side-effect rewrites in `rewrites`.
    /// Returns whether the body changed.
    pub(crate) fn guard_value(
        &self,
        guards: &[Guard],
        value: &mut Value,
        ctx: &SupportContext,
        (nested, approved): (bool, bool),
        rewrites: &mut Vec<String>,
    ) -> Result<bool, BodyRefusal> {
        let mut changed = false;
        let owner = guards
            .iter()
            .find(|g| g.kind == GuardKind::OwnerToSupportUser);
        if let Some(guard) = owner {
            strip_owner(value, guard)?;
        }
        for guard in guards {
            match &guard.kind {
                GuardKind::OwnerToSupportUser => {}
                GuardKind::NoAssignToSupportUser => {
                    let ids = [ctx.support_user.get()];
                    if let Some(found) = find_assignment(value, &self.assignment_keys, &ids) {
                        return Err(BodyRefusal::forbidden(
                            "assignment_to_support_user",
                            format!(
                                "Records and rules may not be assigned to the support user ({found})."
                            ),
                            guard,
                        ));
                    }
                }
                GuardKind::DateGuard { years } => {
                    if let Some(date) = find_far_date(value, ctx.now, *years) {
                        return Err(BodyRefusal::forbidden(
                            "date_too_far_ahead",
                            format!("The date '{date}' is more than {years} years from now."),
                            guard,
                        ));
                    }
                }
                GuardKind::SelfOnly {
                    path_user,
                    body_array,
                } => {
                    check_body_users(
                        value,
                        path_user.as_deref(),
                        body_array.as_deref(),
                        ctx,
                        guard,
                    )?;
                }
                GuardKind::ForbidBodyKeys { keys } => {
                    if let Some(key) = find_key(value, keys) {
                        return Err(BodyRefusal::forbidden(
                            "forbidden_body_key",
                            format!("The support user may not set '{key}' here."),
                            guard,
                        ));
                    }
                }
                GuardKind::Composite => {
                    if nested {
                        return Err(BodyRefusal::forbidden(
                            "nested_composite",
                            "A composite request may not contain another composite request.",
                            guard,
                        ));
                    }
                    changed |= self.check_composite(value, ctx, (guard, approved), rewrites)?;
                }
                GuardKind::SetBodyKeys { set } => {
                    let before = rewrites.len();
                    crate::rewrite::apply(value, set, rewrites);
                    changed |= rewrites.len() > before;
                }
                GuardKind::BulkWriteOwner => {
                    // The support user may import records it owns itself; anything else
                    // as the owner is refused.
                    if let Some(problem) = crate::bulk::support_owner_problem(
                        value,
                        &self.assignment_keys,
                        ctx.support_user.get(),
                    ) {
                        return Err(BodyRefusal::forbidden("bulk_owner_mapping", problem, guard));
                    }
                }
            }
        }
        if owner.is_some() {
            set_owner(value, ctx.support_user);
            changed = true;
        }
        Ok(changed)
    }

    fn guards_for_any_verdict(
        &self,
        method: &str,
        target: &crate::normalise::Target,
    ) -> Vec<Guard> {
        self.route_guards(method, target)
    }
}

pub(crate) fn check_path_user_for(
    guards: &[Guard],
    ctx: &SupportContext,
) -> Result<(), BodyRefusal> {
    for guard in guards {
        if let GuardKind::SelfOnly {
            path_user: Some(user),
            ..
        } = &guard.kind
            && !text_surely_names(user, ctx.support_user.get())
        {
            return Err(BodyRefusal::forbidden(
                "self_only",
                "The support user may change only its own user.",
                guard,
            ));
        }
    }
    Ok(())
}

fn check_body_users(
    value: &Value,
    path_user: Option<&str>,
    body_array: Option<&str>,
    ctx: &SupportContext,
    guard: &Guard,
) -> Result<(), BodyRefusal> {
    let refuse = || {
        BodyRefusal::forbidden(
            "self_only",
            "The support user may change only its own user.",
            guard,
        )
    };
    let Some(array_key) = body_array else {
        return Ok(());
    };
    let Some(object) = value.as_object() else {
        return Err(BodyRefusal::shape(
            "body_shape_unsupported",
            "The body must be a JSON object.",
            guard,
        ));
    };
    let Some(items) = object
        .iter()
        .find(|(k, _)| key_is(k, &array_key.to_ascii_lowercase()))
        .map(|(_, v)| v)
    else {
        return if path_user.is_some() {
            Ok(())
        } else {
            Err(refuse())
        };
    };
    let Some(items) = items.as_array() else {
        return Err(BodyRefusal::shape(
            "body_shape_unsupported",
            format!("'{array_key}' must be an array."),
            guard,
        ));
    };
    for item in items {
        let Some(item) = item.as_object() else {
            return Err(refuse());
        };
        // One key folds to `id` at most (the strict reader refused case variants), so
        // this is the key every upstream reads; it must surely be the support user.
        let id = item.iter().find(|(k, _)| key_is(k, "id")).map(|(_, v)| v);
        match id {
            Some(id) if surely_names(id, ctx.support_user.get()) => {}
            None if path_user.is_some() => {}
            _ => return Err(refuse()),
        }
    }
    Ok(())
}

/// Whether some lenient upstream could read the JSON value as the id `id`
/// ([`crate::lenient::may_name`]): an integer equal to it, a string spelling it in any
/// script or form, or a float within rounding distance.
pub fn id_matches(value: &Value, id: u64) -> bool {
    may_name(value, id)
}

/// Whether some lenient upstream could read the text as the id `id`
/// ([`crate::lenient::text_may_name`]).
pub fn id_text_matches(text: &str, id: u64) -> bool {
    text_may_name(text, id)
}

/// Finds an owner/assignee key (`keys`, lower-case) anywhere in `value` whose value
/// names one of `ids` (directly, as `{"id": …}`, or in an array), or is a composite
/// reference (`@{…}`) that could resolve to one. Returns the key.
pub fn find_assignment(value: &Value, keys: &[String], ids: &[u64]) -> Option<String> {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if keys.iter().any(|k| key_is(key, k)) && names_assignee(inner, ids) {
                    return Some(key.clone());
                }
                if let Some(found) = find_assignment(inner, keys, ids) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(|v| find_assignment(v, keys, ids)),
        _ => None,
    }
}

/// Whether an owner/assignee value names one of `ids` (a bare id, `{"id": …}`, or an
/// array of them), or is a composite reference (`@{…}`) that could resolve to one.
pub(crate) fn names_assignee(value: &Value, ids: &[u64]) -> bool {
    match value {
        Value::String(s) if s.contains("@{") => true,
        Value::Number(_) | Value::String(_) => ids.iter().any(|&id| may_name(value, id)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| key_is(k, "id") && names_assignee(v, ids)),
        Value::Array(items) => items.iter().any(|v| names_assignee(v, ids)),
        _ => false,
    }
}

/// Finds a key of `keys` (lower-case) anywhere in `value`.
pub fn find_key(value: &Value, keys: &[String]) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, inner)| {
            if keys.iter().any(|k| key_is(key, k)) {
                Some(key.clone())
            } else {
                find_key(inner, keys)
            }
        }),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, keys)),
        _ => None,
    }
}

/// Finds a string in `value` that is a date (`YYYY-MM-DD`) or date-time (RFC 3339, or
/// `YYYY-MM-DDTHH:MM:SS` read as UTC) more than `years` years after `now`. Exactly
/// `years` years is allowed. A string that starts with a date beyond the limit and goes
/// on with a time or text counts too (stricter than Zoho's own parser).
pub fn find_far_date(value: &Value, now: DateTime<Utc>, years: u32) -> Option<String> {
    let limit = now.checked_add_months(Months::new(years.saturating_mul(12)))?;
    find_far_date_until(value, limit)
}

fn find_far_date_until(value: &Value, limit: DateTime<Utc>) -> Option<String> {
    match value {
        Value::String(s) => exceeds(s, limit).then(|| s.clone()),
        Value::Object(map) => map.values().find_map(|v| find_far_date_until(v, limit)),
        Value::Array(items) => items.iter().find_map(|v| find_far_date_until(v, limit)),
        _ => None,
    }
}

fn exceeds(text: &str, limit: DateTime<Utc>) -> bool {
    let bytes = text.as_bytes();
    let shape = bytes.len() >= 10
        && bytes.iter().take(10).enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return false;
    }
    let (date_part, rest) = text.split_at(10);
    let Ok(date) = NaiveDate::parse_from_str(date_part, "%Y-%m-%d") else {
        return false;
    };
    let limit_date = limit.date_naive();
    if !rest.is_empty() && !rest.starts_with(['T', 't', ' ']) {
        return false;
    }
    if date != limit_date || rest.is_empty() {
        return date > limit_date;
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return instant.to_utc() > limit;
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return naive.and_utc() > limit;
        }
    }
    false
}

fn record_items<'v>(
    value: &'v mut Value,
    guard: &Guard,
) -> Result<&'v mut Vec<Value>, BodyRefusal> {
    let shape = || {
        BodyRefusal::shape(
            "body_shape_unsupported",
            "A record body must be an object with a 'data' array of records.",
            guard,
        )
    };
    let items = value
        .as_object_mut()
        .and_then(|o| get_mut(o, "data"))
        .and_then(Value::as_array_mut)
        .ok_or_else(shape)?;
    if items.iter().any(|item| !item.is_object()) {
        return Err(shape());
    }
    Ok(items)
}

/// The value of the one key of `object` that is `name` up to case ([`key_is`]).
pub(crate) fn get_mut<'v>(
    object: &'v mut serde_json::Map<String, Value>,
    name: &str,
) -> Option<&'v mut Value> {
    object
        .iter_mut()
        .find(|(key, _)| key_is(key, name))
        .map(|(_, value)| value)
}

/// Removes every `Owner` key (any letter case) from the records, so that the
/// assignment guard does not refuse what the rewrite replaces anyway.
fn strip_owner(value: &mut Value, guard: &Guard) -> Result<(), BodyRefusal> {
    for item in record_items(value, guard)? {
        if let Some(object) = item.as_object_mut() {
            object.retain(|key, _| !key_is(key, "owner"));
        }
    }
    Ok(())
}

/// Sets `data[].Owner = {"id": "<support user>"}` (the shape was checked by
/// [`strip_owner`]).
fn set_owner(value: &mut Value, support_user: SupportUserId) {
    let items = value
        .as_object_mut()
        .and_then(|o| get_mut(o, "data"))
        .and_then(Value::as_array_mut);
    for item in items.into_iter().flatten() {
        if let Some(object) = item.as_object_mut() {
            object.insert(
                "Owner".to_owned(),
                serde_json::json!({ "id": support_user.to_string() }),
            );
        }
    }
}

/// Rewrites the owner of every record of a creation body: the pure function behind the
/// `owner_to_support_user` guard, for callers that hold a parsed body.
pub fn rewrite_owner(body: &[u8], support_user: SupportUserId) -> Result<Vec<u8>, BodyRefusal> {
    let mut value = parse_strict(body)?;
    let guard = Guard {
        kind: GuardKind::OwnerToSupportUser,
        rule: "owner-to-support-user".into(),
        restriction: None,
    };
    strip_owner(&mut value, &guard)?;
    set_owner(&mut value, support_user);
    serde_json::to_vec(&value).map_err(|e| BodyRefusal::bad("malformed_json", e.to_string()))
}

#[cfg(test)]
mod tests;
