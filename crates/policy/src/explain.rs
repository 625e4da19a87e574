//! `support-gateway policy explain METHOD PATH`: what the policy does with one request,
//! as a value the CLI prints ([`fmt::Display`]) or serialises.

use std::fmt;

use serde::Serialize;
use support_access_core::Restriction;

use crate::normalise::{NormaliseError, normalise_target};
use crate::policy::{Decision, GuardKind, Policy, Verdict};

/// The policy's account of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The method as given.
    pub method: String,
    /// The target as given.
    pub target: String,
    /// The canonical path that would be matched and forwarded, if the target is valid.
    pub path: Option<String>,
    /// The normaliser's refusal (`400`), if any.
    pub refusal: Option<Refused>,
    /// The decision, if the target is valid.
    pub decision: Option<Decision>,
}

/// A normaliser refusal, as explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// Stable code.
    pub code: &'static str,
    /// Human sentence.
    pub message: String,
}

impl From<&NormaliseError> for Refused {
    fn from(error: &NormaliseError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl Explanation {
    /// `allowed`, `denied` (403) or `refused` (400, by the normaliser).
    pub fn outcome(&self) -> &'static str {
        match (&self.refusal, &self.decision) {
            (Some(_), _) | (None, None) => "refused",
            (None, Some(d)) if d.verdict == Verdict::Allowed => "allowed",
            (None, Some(_)) => "denied",
        }
    }
}

impl Policy {
    /// Explains what the policy does with `method` and `raw_target` (a path with an
    /// optional query, as on the request line).
    ///
    /// ```
    /// # use support_access_policy::Policy;
    /// # let policy = Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap();
    /// let e = policy.explain("POST", "/crm/v8/Leads/1/actions/send_mail");
    /// assert_eq!(e.outcome(), "denied");
    /// assert_eq!(e.decision.unwrap().restriction, Some(5));
    /// ```
    pub fn explain(&self, method: &str, raw_target: &str) -> Explanation {
        match normalise_target(raw_target) {
            Ok(target) => Explanation {
                method: method.to_owned(),
                target: raw_target.to_owned(),
                path: Some(target.path().to_owned()),
                refusal: None,
                decision: Some(self.decide(method, &target)),
            },
            Err(error) => Explanation {
                method: method.to_owned(),
                target: raw_target.to_owned(),
                path: None,
                refusal: Some(Refused::from(&error)),
                decision: None,
            },
        }
    }
}

fn guard_name(kind: &GuardKind) -> String {
    match kind {
        GuardKind::OwnerToSupportUser => "owner_to_support_user".to_owned(),
        GuardKind::NoAssignToSupportUser => "no_assign_to_support_user".to_owned(),
        GuardKind::DateGuard { years } => format!("date_guard (max {years} years ahead)"),
        GuardKind::SelfOnly { path_user, .. } => match path_user {
            Some(user) => format!("self_only (user {user})"),
            None => "self_only".to_owned(),
        },
        GuardKind::ForbidBodyKeys { keys } => format!("forbid_body_keys ({})", keys.join(", ")),
        GuardKind::Composite => "composite (each sub-request checked)".to_owned(),
        GuardKind::SetBodyKeys { set } => format!(
            "set_body_keys ({})",
            set.iter()
                .map(|s| s.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        GuardKind::BulkWriteOwner => "bulk_write_owner (field mappings)".to_owned(),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "request:     {} {}",
            self.method.escape_default(),
            self.target.escape_default()
        )?;
        writeln!(f, "decision:    {}", self.outcome())?;
        if let Some(refusal) = &self.refusal {
            writeln!(f, "code:        {}", refusal.code)?;
            writeln!(f, "message:     {}", refusal.message)?;
            return Ok(());
        }
        let Some(decision) = &self.decision else {
            return Ok(());
        };
        if let Some(path) = &self.path {
            writeln!(f, "path:        {path}")?;
        }
        writeln!(
            f,
            "route:       {}",
            decision
                .route
                .as_deref()
                .unwrap_or("(no rule names this route)")
        )?;
        if let Some(code) = decision.code {
            writeln!(f, "code:        {code}")?;
        }
        writeln!(
            f,
            "rule:        {}",
            decision.rule.as_deref().unwrap_or("-")
        )?;
        match decision.restriction.and_then(Restriction::by_number) {
            Some(r) => writeln!(f, "restriction: {} ({})", r.number, r.title)?,
            None => writeln!(f, "restriction: -")?,
        }
        if !decision.is_allowed() {
            let approvable = if decision.approvable {
                "yes (the customer may approve this one request, exactly as sent, once)"
            } else {
                "no"
            };
            writeln!(f, "approvable:  {approvable}")?;
        }
        if decision.guards.is_empty() {
            writeln!(f, "effects:     -")?;
        } else {
            for (i, guard) in decision.guards.iter().enumerate() {
                let label = if i == 0 {
                    "effects:    "
                } else {
                    "            "
                };
                let restriction = guard
                    .restriction
                    .map(|n| format!(", restriction {n}"))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "{label} {} [rule {}{restriction}]",
                    guard_name(&guard.kind),
                    guard.rule
                )?;
            }
        }
        writeln!(f, "message:     {}", decision.message)
    }
}
