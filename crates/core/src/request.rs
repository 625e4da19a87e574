//! A support request as the audit log records it: the verified token's facts, the
//! request line as checked, and what the gateway learnt on the way (the grant's reason
//! and ticket, the rule that decided, the hash of the forwarded body, its rewrites).
//! [`SupportAccess::record_request`](crate::SupportAccess::record_request) turns it
//! into the `request.*` events.

use chrono::{DateTime, Utc};

use crate::audit::{AuditKind, NewAuditEvent};
use crate::grant::Grant;
use crate::service::SupportTokenFacts;

/// Where a support request came from and what it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The gateway's request id (also in logs and refusal bodies).
    pub request_id: String,
    /// The HTTP method.
    pub method: String,
    /// The path: as received until it is normalised, then as checked.
    pub path: String,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// Everything the request's events say, filled step by step as the request advances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// What the verified token says.
    pub facts: SupportTokenFacts,
    /// The request.
    pub line: RequestLine,
    /// The grant's reason, once the grant is known.
    pub reason: Option<String>,
    /// The grant's ticket, once the grant is known.
    pub ticket: Option<String>,
    /// The rule that allowed the request (for an allowed request, the first guard's).
    pub rule: Option<String>,
    /// That rule's restriction.
    pub restriction: Option<u8>,
    /// SHA-256 (hex) of the body forwarded, where the gateway read it.
    pub body_sha256: Option<String>,
    /// The side-effect rewrites made to the forwarded body, in order.
    pub rewrites: Vec<String>,
    /// The one-request approval the request used (`request.allowed`) or was offered
    /// (`request.blocked`), if any (SPEC §10).
    pub approval: Option<crate::approval::ApprovalId>,
}

/// What became of a support request, for its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Refused (`request.blocked`): the status and code the client got, the rule and
    /// restriction that refused (if any), and the time taken.
    Blocked {
        /// The status answered.
        status: u16,
        /// The refusal's stable code.
        error: String,
        /// The rule that refused.
        rule: Option<String>,
        /// Its restriction.
        restriction: Option<u8>,
        /// Time to refuse.
        latency_ms: u64,
    },
    /// Allowed, about to be forwarded (`request.allowed`).
    Allowed,
    /// Forwarded, and the CRM answered or failed (`request.completed`).
    Completed {
        /// The status the client got.
        status: u16,
        /// The gateway's code when the CRM gave no response.
        error: Option<String>,
        /// Time to the response head.
        latency_ms: u64,
    },
}

impl RequestRecord {
    /// The record of a request whose token verified.
    pub fn new(facts: SupportTokenFacts, line: RequestLine) -> Self {
        Self {
            facts,
            line,
            reason: None,
            ticket: None,
            rule: None,
            restriction: None,
            body_sha256: None,
            rewrites: Vec::new(),
            approval: None,
        }
    }

    /// Stamps the grant's reason and ticket, once `authorise` returned the grant.
    pub fn authorised(&mut self, grant: &Grant) {
        self.reason = grant.reason.clone();
        self.ticket = grant.ticket.clone();
    }

    /// The event of `outcome` at `at`, with a fresh id.
    pub fn event(&self, outcome: RequestOutcome, at: DateTime<Utc>) -> NewAuditEvent {
        let kind = match outcome {
            RequestOutcome::Blocked { .. } => AuditKind::RequestBlocked,
            RequestOutcome::Allowed => AuditKind::RequestAllowed,
            RequestOutcome::Completed { .. } => AuditKind::RequestCompleted,
        };
        let mut event = NewAuditEvent::new(self.facts.org.clone(), kind, at);
        event.grant = Some(self.facts.grant);
        event.support_user = Some(self.facts.support_user);
        event.actor = Some(self.facts.actor.to_string());
        event.method = Some(self.line.method.clone());
        event.path = Some(self.line.path.clone());
        event.request_id = Some(self.line.request_id.clone());
        event.client_ip = self.line.client_ip.clone();
        event.user_agent = self.line.user_agent.clone();
        event.reason = self.reason.clone();
        event.ticket = self.ticket.clone();
        event.rule = self.rule.clone();
        event.restriction = self.restriction;
        event.body_sha256 = self.body_sha256.clone();
        event.rewrites = self.rewrites.clone();
        event.approval = self.approval;
        match outcome {
            RequestOutcome::Blocked {
                status,
                error,
                rule,
                restriction,
                latency_ms,
            } => {
                event.status = Some(status);
                event.error = Some(error);
                event.rule = rule;
                event.restriction = restriction;
                event.latency_ms = Some(latency_ms);
            }
            RequestOutcome::Allowed => {}
            RequestOutcome::Completed {
                status,
                error,
                latency_ms,
            } => {
                event.status = Some(status);
                event.error = error;
                event.latency_ms = Some(latency_ms);
            }
        }
        event
    }
}

#[cfg(test)]
mod tests;
