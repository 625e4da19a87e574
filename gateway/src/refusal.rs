//! The one refusal type and its one rescue, shared by the proxy and the management API.
//!
//! Every way the gateway says no is a [`Refusal`] variant, and each variant knows its
//! HTTP status and its stable code (the JSON `error` field) here and nowhere else. The
//! domain errors convert with `From` (`refusal/convert.rs`), so call sites write `?`.
//! [`Refusal::render`] is the rescue: it turns any refusal into a JSON response with
//! `Content-Type: application/json`, in the generic shape of SPEC §3 or, where the
//! policy asks for it, in the upstream CRM's own error shape. A refusal is never a
//! forward; what a caller cannot classify becomes [`Refusal::Internal`], a `500`.

use std::borrow::Cow;
use std::sync::Arc;

use http::StatusCode;
use support_access_core::approval::{ApprovalStatus, Unusable};
use support_access_core::change::{RevertError, SupportChangeError};
use support_access_core::notify::service::WebhookError;
use support_access_core::service::Refusal as AccessRefusal;
use support_access_core::tlog::{CheckpointerError, TreeReadError};
use support_access_core::{EndDateError, StoreError};
use support_access_policy::{BodyRefusal, NormaliseError, RefusalKind};

use crate::tokens::TokenError;
use crate::upstream::UpstreamFailure;

mod approval;
mod convert;
mod render;

pub use approval::Offer;

/// The JSON shape of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"error", "message", "restriction", "rule", "request_id"}`.
    Generic,
    /// Zoho CRM's `{"code", "status", "message", "details"}`, which the official SDKs
    /// turn into an exception with that code.
    Zoho,
}

/// Why the gateway refuses a request.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    // Finding and checking the caller's token.
    /// More than one `Authorization` header (`400`).
    #[error("send one Authorization header")]
    SeveralAuthorizationHeaders,
    /// More than one distinct token in the request (`400`).
    #[error("the request carries more than one distinct token")]
    SeveralTokens,
    /// A management call without a bearer token (`401`).
    #[error("this call needs a bearer token")]
    TokenMissing,
    /// An `Authorization` header that is not `<scheme> <token>` text (`401`).
    #[error("{0}")]
    TokenMalformed(&'static str),
    /// An authorization scheme the config does not accept (`401`).
    #[error("the scheme `{0}` is not accepted")]
    TokenSchemeRefused(String),
    /// The token did not verify (`401`, its own code).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A verified management token without a claim the gateway needs (`401`).
    #[error("the token has no `{0}` claim")]
    ClaimMissing(String),
    /// A customer token without an admin role (`403`).
    #[error("only the org's administrators may do this")]
    NotAnAdmin,
    /// A staff token without the required role (`403`).
    #[error("the role `{0}` is required")]
    NotSupportStaff(String),
    /// A valid token of the other kind (staff for customer, or the reverse) (`403`).
    #[error("{0}")]
    WrongTokenKind(&'static str),

    // Support access: the grant and the seat.
    /// The grant or seat does not allow the support token (`401`); a store that could
    /// not say is [`Refusal::Store`].
    #[error("{}", access_message(.0))]
    Access(AccessRefusal),
    /// The store did not answer or failed (`503`); the detail is logged, never sent.
    #[error("{}", STORE_MESSAGE)]
    Store(StoreError),
    /// The audit log could not take the request's event, so nothing was forwarded (`503`).
    #[error("the audit log cannot record this request, so it is not forwarded")]
    AuditUnavailable,

    // The request's shape, the policy and the body guards.
    /// An HTTP/1.1 absolute-form target on a support request (`400`).
    #[error("support requests must use an origin-form request target")]
    AbsoluteForm,
    /// The target or a header cannot be checked as the upstream would read it (`400`).
    #[error(transparent)]
    Normalise(#[from] NormaliseError),
    /// A support token on the Support Access settings (`403`, restriction 1).
    #[error("the support user may not open or use the Support Access settings")]
    Settings,
    /// The route policy denies the method and path (`403`).
    #[error("{message}")]
    Denied {
        /// The policy's code (`route_denied`, `read_only_route`, …).
        code: &'static str,
        /// The rule's sentence.
        message: Arc<str>,
        /// The rule that denied.
        rule: Option<Arc<str>>,
        /// Its restriction.
        restriction: Option<u8>,
    },
    /// A body guard refuses the body (`400` or `403`, as the guard says).
    #[error(transparent)]
    Body(#[from] BodyRefusal),
    /// A body the gateway must read is larger than it may hold (`413`).
    #[error("this request's body must be read by the gateway and may be at most {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body broke off while the gateway read it (`400`).
    #[error("the request body could not be read")]
    BodyUnreadable,
    /// The body did not arrive within `limits.body_read_timeout` (`408`).
    #[error("the request body did not arrive in time")]
    BodyReadTimeout,
    /// A refusal that comes with a pending approval of this very request (SPEC §10):
    /// the refusal's own status and code, and `approval` in the body.
    #[error("{refusal}")]
    Offered {
        /// What refused the request.
        refusal: Box<Refusal>,
        /// The approval the customer may grant.
        approval: Offer,
    },
    /// A `Support-Approval` that cannot be used for this request (`403`); the reason
    /// is for logs, the client learns only that it is invalid.
    #[error("the approval in Support-Approval cannot be used for this request")]
    ApprovalInvalid(Unusable),
    /// No such approval in the admin's org (`404`).
    #[error("no such approval")]
    ApprovalNotFound,
    /// The approval is no longer pending (`409`).
    #[error("the approval is no longer pending (it is {0})")]
    ApprovalNotPending(ApprovalStatus),
    /// The records a support write touches could not be read just before it, so it is
    /// not forwarded: nothing support changes goes unrecorded (`503`, SPEC §11).
    #[error("the records this write touches could not be read first, so it is not forwarded")]
    ChangeCaptureFailed,
    /// A change entry call refused: no such change (`404`), not revertible (`422`),
    /// already reverted or changed since (`409`). Store failures are [`Refusal::Store`].
    #[error(transparent)]
    Change(SupportChangeError),
    /// The CRM did not take a revert's `PUT` (`502`).
    #[error("the CRM refused the revert (status {0})")]
    RevertRejected(u16),
    /// A webhook endpoint call refused: a URL, address or event list refused (`422`),
    /// no such endpoint (`404`). Store failures are [`Refusal::Store`].
    #[error(transparent)]
    Webhook(WebhookError),
    /// The CRM gave no response (`502`/`504`).
    #[error("{}", upstream_message(.0))]
    Upstream(UpstreamFailure),

    // The management API.
    /// A management body that is not JSON (`400`).
    #[error("the body is not valid: {0}")]
    MalformedJson(String),
    /// A management request that does not validate (`400`); `code` names what.
    #[error("{message}")]
    Invalid {
        /// `invalid_body`, `invalid_date`, `invalid_query`, `invalid_limit`, …
        code: &'static str,
        /// What is wrong, for the caller.
        message: String,
    },
    /// A grant end date out of the configured bounds (`422`).
    #[error(transparent)]
    EndDate(#[from] EndDateError),
    /// The org already has an active grant (`409`).
    #[error("support access is already granted for this org")]
    GrantAlreadyActive,
    /// At token exchange: another staff member holds the seat (`409`).
    #[error("another support engineer holds the support seat")]
    SeatTaken,
    /// At seat release: the caller does not hold the seat (`409`).
    #[error("the caller does not hold the support seat")]
    NotSeatHolder,
    /// There is no active grant to act on (`404`).
    #[error("there is no active grant")]
    NoActiveGrant,
    /// Support access was never granted for this org (`404`).
    #[error("support access was never granted for this org")]
    NoGrant,
    /// No such route or page (`404`).
    #[error("{0}")]
    NotFound(&'static str),
    /// The route does not take the method (`405`).
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// A proof or checkpoint of the audit log that cannot be served: a request naming
    /// no proof (`400`), a size beyond the log (`422`), an inconsistent stored tree
    /// (`500`); a store failure is [`Refusal::Store`].
    #[error(transparent)]
    AuditTree(TreeReadError),
    /// No checkpoint could be made: an org without events (`404`), a log that is not an
    /// extension of its last checkpoint or a signing failure (`500`).
    #[error(transparent)]
    Checkpoint(CheckpointerError),
    /// The support token could not be signed (`500`).
    #[error("the support token could not be signed")]
    TokenIssueFailed,
    /// Anything the gateway cannot classify (`500`): a refusal, never a forward.
    #[error("the gateway could not handle this request")]
    Internal,
}

const STORE_MESSAGE: &str = "the store cannot be reached, so the gateway refuses; try again";

fn access_message(refused: &AccessRefusal) -> String {
    match refused {
        AccessRefusal::Store(_) => STORE_MESSAGE.to_owned(),
        refused => refused.to_string(),
    }
}

fn upstream_message(failure: &UpstreamFailure) -> &'static str {
    match failure {
        UpstreamFailure::Unreachable => "the CRM could not be reached",
        UpstreamFailure::Broken => "the connection to the CRM failed",
        UpstreamFailure::Timeout => "the CRM did not answer in time",
        UpstreamFailure::Tls => "the CRM's TLS certificate was refused",
    }
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::SeveralAuthorizationHeaders
            | Self::SeveralTokens
            | Self::AbsoluteForm
            | Self::Normalise(_)
            | Self::BodyUnreadable
            | Self::MalformedJson(_)
            | Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Access(AccessRefusal::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TokenMissing
            | Self::TokenMalformed(_)
            | Self::TokenSchemeRefused(_)
            | Self::Token(_)
            | Self::ClaimMissing(_)
            | Self::Access(_) => StatusCode::UNAUTHORIZED,
            Self::NotAnAdmin
            | Self::NotSupportStaff(_)
            | Self::WrongTokenKind(_)
            | Self::Settings
            | Self::ApprovalInvalid(_)
            | Self::Denied { .. } => StatusCode::FORBIDDEN,
            Self::Offered { refusal, .. } => refusal.status(),
            Self::Body(refused) => match refused.kind {
                RefusalKind::BadRequest => StatusCode::BAD_REQUEST,
                RefusalKind::Forbidden => StatusCode::FORBIDDEN,
            },
            Self::NoActiveGrant | Self::NoGrant | Self::NotFound(_) | Self::ApprovalNotFound => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyReadTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::GrantAlreadyActive
            | Self::SeatTaken
            | Self::NotSeatHolder
            | Self::ApprovalNotPending(_) => StatusCode::CONFLICT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::EndDate(_) | Self::AuditTree(TreeReadError::BeyondLog { .. }) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::AuditTree(TreeReadError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::Checkpoint(CheckpointerError::EmptyLog(_)) => StatusCode::NOT_FOUND,
            Self::AuditTree(TreeReadError::Store(_))
            | Self::Checkpoint(CheckpointerError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::AuditTree(_) | Self::Checkpoint(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TokenIssueFailed | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Upstream(UpstreamFailure::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Store(_) | Self::AuditUnavailable | Self::ChangeCaptureFailed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Change(e) => change_status(e),
            Self::Webhook(e) => convert::webhook_status(e),
            Self::RevertRejected(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The stable code: the JSON `error` field and the audit event's `error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SeveralAuthorizationHeaders => "several_authorization_headers",
            Self::SeveralTokens => "several_tokens",
            Self::TokenMissing => "token_missing",
            Self::TokenMalformed(_) => "token_malformed",
            Self::TokenSchemeRefused(_) => "token_scheme_refused",
            Self::Token(e) => e.code(),
            Self::ClaimMissing(_) => "token_claim_missing",
            Self::NotAnAdmin => "not_an_admin",
            Self::NotSupportStaff(_) => "not_support_staff",
            Self::WrongTokenKind(_) => "wrong_token_kind",
            Self::Access(AccessRefusal::Store(_)) | Self::Store(_) => "store_unavailable",
            Self::Access(refused) => refused.code(),
            Self::AuditUnavailable => "audit_unavailable",
            Self::AbsoluteForm => "absolute_form_target",
            Self::Normalise(e) => e.code(),
            Self::Settings => "restricted",
            Self::Denied { code, .. } => code,
            Self::Body(refused) => refused.code,
            Self::Offered { refusal, .. } => refusal.code(),
            Self::ApprovalInvalid(_) => "approval_invalid",
            Self::ApprovalNotFound => "approval_not_found",
            Self::ApprovalNotPending(_) => "approval_not_pending",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::BodyReadTimeout => "body_read_timeout",
            Self::Upstream(UpstreamFailure::Unreachable) => "upstream_unreachable",
            Self::Upstream(UpstreamFailure::Broken) => "upstream_error",
            Self::Upstream(UpstreamFailure::Timeout) => "upstream_timeout",
            Self::Upstream(UpstreamFailure::Tls) => "upstream_tls",
            Self::MalformedJson(_) => "malformed_json",
            Self::Invalid { code, .. } => code,
            Self::EndDate(e) => e.code(),
            Self::GrantAlreadyActive => "grant_already_active",
            Self::SeatTaken => "support_seat_taken",
            Self::NotSeatHolder => "not_seat_holder",
            Self::NoActiveGrant => "no_active_grant",
            Self::NoGrant => "no_grant",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::AuditTree(e) => e.code(),
            Self::Checkpoint(e) => e.code(),
            Self::TokenIssueFailed => "token_issue_failed",
            Self::Internal => "internal_error",
            Self::ChangeCaptureFailed => "change_capture_failed",
            Self::Change(e) => e.code(),
            Self::Webhook(e) => e.code(),
            Self::RevertRejected(_) => "revert_rejected",
        }
    }

    /// The rule that refused, where one did.
    pub fn rule(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Settings => Some(Cow::Borrowed("support-access-settings")),
            Self::Denied { rule, .. } => rule.as_deref().map(Cow::Borrowed),
            Self::Body(refused) => refused.rule.as_deref().map(Cow::Borrowed),
            Self::Offered { refusal, .. } => refusal.rule(),
            _ => None,
        }
    }

    /// The restriction (1–32) that refused, where a rule did.
    pub fn restriction(&self) -> Option<u8> {
        match self {
            Self::Settings => Some(1),
            Self::Denied {
                rule: Some(_),
                restriction,
                ..
            } => *restriction,
            Self::Body(refused) if refused.rule.is_some() => refused.restriction,
            Self::Offered { refusal, .. } => refusal.restriction(),
            _ => None,
        }
    }

    /// A human sentence for the client: never internal detail.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let mut chars = text.chars();
        let mut sentence: String = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        if !sentence.ends_with(['.', '!', '?']) {
            sentence.push('.');
        }
        sentence
    }
}

/// Two refusals are equal when the client would see the same status, code and message.
impl PartialEq for Refusal {
    fn eq(&self, other: &Self) -> bool {
        self.status() == other.status()
            && self.code() == other.code()
            && self.to_string() == other.to_string()
    }
}

fn change_status(error: &SupportChangeError) -> StatusCode {
    match error {
        SupportChangeError::NotFound => StatusCode::NOT_FOUND,
        SupportChangeError::Revert(RevertError::NotRevertible(_)) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        SupportChangeError::Revert(_) | SupportChangeError::RevertedMeanwhile => {
            StatusCode::CONFLICT
        }
        SupportChangeError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests;
