//! `From` the domain errors to [`Refusal`]: one arm per domain answer, so that call
//! sites write `?` and no code string is ever matched.

use support_access_core::StoreError;
use support_access_core::change::SupportChangeError;
use support_access_core::notify::service::WebhookError;
use support_access_core::service::{
    ChangeError, ClaimError, GrantError, Refusal as AccessRefusal, ReleaseError, RevokeError,
};
use support_access_core::tlog::{CheckpointerError, TreeReadError};
use support_access_policy::Decision;

use super::Refusal;
use crate::live::Ended;
use crate::upstream::UpstreamFailure;

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<AccessRefusal> for Refusal {
    fn from(refused: AccessRefusal) -> Self {
        match refused {
            AccessRefusal::Store(e) => Self::Store(e),
            refused => Self::Access(refused),
        }
    }
}

impl From<Ended> for Refusal {
    fn from(why: Ended) -> Self {
        Self::Access(why.refusal())
    }
}

impl From<UpstreamFailure> for Refusal {
    fn from(failure: UpstreamFailure) -> Self {
        Self::Upstream(failure)
    }
}

impl From<&Decision> for Refusal {
    /// The refusal of a policy decision that denies (`403`).
    fn from(decision: &Decision) -> Self {
        Self::Denied {
            code: decision.code.unwrap_or("restricted"),
            message: decision.message.clone(),
            rule: decision.rule.clone(),
            restriction: decision.restriction,
        }
    }
}

impl From<GrantError> for Refusal {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::EndDate(e) => Self::EndDate(e),
            GrantError::AlreadyActive => Self::GrantAlreadyActive,
            GrantError::Store(e) => Self::Store(e),
        }
    }
}

impl From<ChangeError> for Refusal {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::EndDate(e) => Self::EndDate(e),
            ChangeError::NoActiveGrant => Self::NoActiveGrant,
            ChangeError::Store(e) => Self::Store(e),
        }
    }
}

impl From<RevokeError> for Refusal {
    fn from(error: RevokeError) -> Self {
        match error {
            RevokeError::NoActiveGrant => Self::NoActiveGrant,
            RevokeError::Store(e) => Self::Store(e),
        }
    }
}

impl From<ClaimError> for Refusal {
    fn from(error: ClaimError) -> Self {
        match error {
            ClaimError::NoActiveGrant => Self::NoActiveGrant,
            ClaimError::SeatTaken => Self::SeatTaken,
            ClaimError::Store(e) => Self::Store(e),
        }
    }
}

impl From<ReleaseError> for Refusal {
    fn from(error: ReleaseError) -> Self {
        match error {
            ReleaseError::NoActiveGrant => Self::NoActiveGrant,
            ReleaseError::NotSeatHolder => Self::NotSeatHolder,
            ReleaseError::Store(e) => Self::Store(e),
        }
    }
}

impl From<SupportChangeError> for Refusal {
    fn from(error: SupportChangeError) -> Self {
        match error {
            SupportChangeError::Store(e) => Self::Store(e),
            other => Self::Change(other),
        }
    }
}

impl From<TreeReadError> for Refusal {
    fn from(error: TreeReadError) -> Self {
        match error {
            TreeReadError::Store(e) => Self::Store(e),
            other => Self::AuditTree(other),
        }
    }
}

impl From<CheckpointerError> for Refusal {
    fn from(error: CheckpointerError) -> Self {
        match error {
            CheckpointerError::Store(e) => Self::Store(e),
            CheckpointerError::Tree(e) => e.into(),
            other => Self::Checkpoint(other),
        }
    }
}

impl From<WebhookError> for Refusal {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Store(e) => Self::Store(e),
            refused => Self::Webhook(refused),
        }
    }
}

/// The status of a webhook call's refusal.
pub(super) fn webhook_status(error: &WebhookError) -> http::StatusCode {
    match error {
        WebhookError::Url(_)
        | WebhookError::Target(_)
        | WebhookError::Unresolvable(_)
        | WebhookError::Events(_) => http::StatusCode::UNPROCESSABLE_ENTITY,
        WebhookError::NotFound => http::StatusCode::NOT_FOUND,
        WebhookError::Disabled => http::StatusCode::CONFLICT,
        WebhookError::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        WebhookError::Secret(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
    }
}
