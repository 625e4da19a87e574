//! Zoho's composite API (`POST /crm/v{N}/__composite_requests`): a tunnel of up to five
//! sub-requests, opened rather than trusted (SPEC §3 step 3).
//!
//! The body is `{"__composite_requests": [{"sub_request_id", "method", "uri", "params",
//! "body", "headers"}], "rollback_on_fail", "parallel_execution"}` (Zoho's v8 docs;
//! `concurrent_execution` is the v3 spelling). Any other key or shape is refused. Each
//! sub-request's `uri` goes through the same normaliser and policy as a request line;
//! its `params` and `headers` through the same override checks; its `body` through the
//! guards of its own route. One refused sub-request refuses the whole call. References
//! to earlier responses (`@{id:$.path}`) are refused in a `uri` (a response value could
//! carry a path) and in owner/assignee values (it could name the support user). The
//! forwarded `uri` is the canonical one that was checked.

use serde_json::Value;

use crate::guard::{BodyOutcome, BodyRefusal, SupportContext};
use crate::normalise::{check_header_names, check_query_parameter_name, normalise_target};
use crate::policy::{Decision, Guard, GuardKind, Policy};

/// The most sub-requests Zoho accepts in one composite call.
pub const MAX_SUB_REQUESTS: usize = 5;

const TOP_LEVEL_KEYS: &[&str] = &[
    "__composite_requests",
    "rollback_on_fail",
    "parallel_execution",
    "concurrent_execution",
];
const SUB_REQUEST_KEYS: &[&str] = &[
    "sub_request_id",
    "method",
    "uri",
    "params",
    "body",
    "headers",
];
const SUB_REQUEST_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Headers Zoho refuses in sub-requests; refused here too, before the upstream sees them.
const REFUSED_SUB_HEADERS: &[&str] = &["authorization", "x-crm-org"];

impl Policy {
    /// Checks a composite body for a support request (see the module docs); returns the
    /// body to forward. Equivalent to [`Policy::apply_support_guards`] with the decision
    /// of the composite route.
    pub fn check_composite_body(
        &self,
        decision: &Decision,
        body: &[u8],
        ctx: &SupportContext,
    ) -> Result<BodyOutcome, BodyRefusal> {
        self.apply_support_guards(decision, body, ctx)
    }

    /// Checks a parsed composite body in place, noting the sub-requests' side-effect
    /// rewrites (prefixed `sub_request[N]:`). Returns whether it changed.
    pub(crate) fn check_composite(
        &self,
        value: &mut Value,
        ctx: &SupportContext,
        (guard, approved): (&Guard, bool),
        rewrites: &mut Vec<String>,
    ) -> Result<bool, BodyRefusal> {
        let shape = |message: String| BodyRefusal {
            code: "composite_shape",
            message,
            rule: Some(guard.rule.clone()),
            restriction: guard.restriction,
            kind: crate::guard::RefusalKind::BadRequest,
        };
        let Some(top) = value.as_object_mut() else {
            return Err(shape("A composite body must be a JSON object.".to_owned()));
        };
        if let Some(key) = top.keys().find(|k| !TOP_LEVEL_KEYS.contains(&k.as_str())) {
            return Err(shape(format!("Unknown composite key '{key}'.")));
        }
        let Some(requests) = top
            .get_mut("__composite_requests")
            .and_then(Value::as_array_mut)
        else {
            return Err(shape("'__composite_requests' must be an array.".to_owned()));
        };
        if requests.is_empty() || requests.len() > MAX_SUB_REQUESTS {
            return Err(shape(format!(
                "A composite call holds 1 to {MAX_SUB_REQUESTS} sub-requests."
            )));
        }
        let mut changed = false;
        for (index, sub) in requests.iter_mut().enumerate() {
            let mut sub_rewrites = Vec::new();
            changed |= self.check_sub_request(
                index,
                sub,
                ctx,
                (guard, approved),
                &shape,
                &mut sub_rewrites,
            )?;
            rewrites.extend(
                sub_rewrites
                    .into_iter()
                    .map(|r| format!("sub_request[{index}]:{r}")),
            );
        }
        Ok(changed)
    }

    fn check_sub_request(
        &self,
        index: usize,
        sub: &mut Value,
        ctx: &SupportContext,
        (guard, approved): (&Guard, bool),
        shape: &dyn Fn(String) -> BodyRefusal,
        rewrites: &mut Vec<String>,
    ) -> Result<bool, BodyRefusal> {
        let Some(object) = sub.as_object_mut() else {
            return Err(shape(format!("Sub-request {index} must be an object.")));
        };
        if let Some(key) = object
            .keys()
            .find(|k| !SUB_REQUEST_KEYS.contains(&k.as_str()))
        {
            return Err(shape(format!("Sub-request {index}: unknown key '{key}'.")));
        }
        let method = match object.get("method").and_then(Value::as_str) {
            Some(m) if SUB_REQUEST_METHODS.contains(&m) => m.to_owned(),
            _ => {
                return Err(shape(format!(
                    "Sub-request {index}: 'method' must be GET, POST, PUT, PATCH or DELETE."
                )));
            }
        };
        let Some(uri) = object.get("uri").and_then(Value::as_str) else {
            return Err(shape(format!(
                "Sub-request {index}: 'uri' must be a string."
            )));
        };
        let refused = |code: &'static str, message: String| BodyRefusal {
            code,
            message,
            rule: Some(guard.rule.clone()),
            restriction: guard.restriction,
            kind: crate::guard::RefusalKind::BadRequest,
        };
        if uri.contains("@{") {
            return Err(refused(
                "composite_reference_in_uri",
                format!("Sub-request {index}: references are refused in 'uri'."),
            ));
        }
        let target = normalise_target(uri)
            .map_err(|e| refused(e.code(), format!("Sub-request {index}: {e}.")))?;
        match object.get("params") {
            None | Some(Value::Null) => {}
            Some(Value::Object(params)) => {
                for name in params.keys() {
                    check_query_parameter_name(name)
                        .map_err(|e| refused(e.code(), format!("Sub-request {index}: {e}.")))?;
                }
            }
            Some(_) => {
                return Err(shape(format!(
                    "Sub-request {index}: 'params' must be an object."
                )));
            }
        }
        match object.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(headers)) => {
                check_header_names(headers.keys().map(String::as_str))
                    .map_err(|e| refused(e.code(), format!("Sub-request {index}: {e}.")))?;
                if let Some(name) = headers.keys().find(|k| {
                    REFUSED_SUB_HEADERS
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(k))
                }) {
                    return Err(refused(
                        "composite_header_refused",
                        format!("Sub-request {index}: header '{name}' is refused."),
                    ));
                }
            }
            Some(_) => {
                return Err(shape(format!(
                    "Sub-request {index}: 'headers' must be an object."
                )));
            }
        }

        // Under an approval of the whole call, an approvable denial is lifted.
        let decision = match self.decide(&method, &target) {
            denied if approved && denied.approvable => {
                self.decide_approved(&method, &target).unwrap_or(denied)
            }
            decision => decision,
        };
        if !decision.is_allowed() {
            return Err(BodyRefusal {
                code: "composite_sub_request_denied",
                message: format!(
                    "Sub-request {index} ({method} {}) is refused: {}",
                    target.path(),
                    decision.message
                ),
                rule: decision.rule.clone(),
                restriction: decision.restriction,
                kind: crate::guard::RefusalKind::Forbidden,
            });
        }
        if decision.has_guard(|k| *k == GuardKind::Composite) {
            return Err(BodyRefusal {
                code: "nested_composite",
                message: format!("Sub-request {index} is itself a composite request."),
                rule: Some(guard.rule.clone()),
                restriction: guard.restriction,
                kind: crate::guard::RefusalKind::Forbidden,
            });
        }
        let mut changed = false;
        let canonical = target.forward_target();
        if canonical != uri {
            object.insert("uri".to_owned(), Value::String(canonical));
            changed = true;
        }
        if !decision.guards.is_empty() {
            crate::guard::check_path_user_for(&decision.guards, ctx)?;
            match object.get_mut("body") {
                Some(body) if body.is_object() || body.is_array() => {
                    changed |=
                        self.guard_value(&decision.guards, body, ctx, (true, false), rewrites)?;
                }
                Some(body) if !body.is_null() => {
                    // A string (or number) body on a guarded route: an upstream that
                    // parses it as JSON would see keys no guard read.
                    return Err(shape(format!(
                        "Sub-request {index}: 'body' must be a JSON object on this route."
                    )));
                }
                _ => {
                    if let Some(g) = decision
                        .guards
                        .iter()
                        .find(|g| g.kind == GuardKind::OwnerToSupportUser)
                    {
                        return Err(BodyRefusal {
                            code: "body_required",
                            message: format!("Sub-request {index} needs a 'body'."),
                            rule: Some(g.rule.clone()),
                            restriction: g.restriction,
                            kind: crate::guard::RefusalKind::BadRequest,
                        });
                    }
                }
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests;
