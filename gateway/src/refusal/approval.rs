//! The refusals of one-request approvals (SPEC §10): the approval offered with a
//! refusal, and `From` the approvals service's errors.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use support_access_core::approval::service::{DecideError, RequestError, UseError};
use support_access_core::approval::{Approval, ApprovalId, ApprovalStatus};

use super::Refusal;

/// The approval a refusal offers: `{"id", "status", "expires_at"}` in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Support sends it back in `Support-Approval`.
    pub id: ApprovalId,
    /// `pending`, or `approved` when the same request was approved already.
    pub status: ApprovalStatus,
    /// The end of its current state.
    pub expires_at: DateTime<Utc>,
}

impl Offer {
    /// The offer of `approval` as it is stored (the service returns only open ones).
    pub fn of(approval: &Approval) -> Self {
        Self {
            id: approval.id,
            status: approval.status,
            expires_at: approval.expires_at,
        }
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "status": self.status.as_str(),
            "expires_at": self.expires_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        })
    }
}

impl From<UseError> for Refusal {
    fn from(error: UseError) -> Self {
        match error {
            UseError::Invalid(why) => Self::ApprovalInvalid(why),
            UseError::Store(e) => Self::Store(e),
        }
    }
}

impl From<DecideError> for Refusal {
    fn from(error: DecideError) -> Self {
        match error {
            DecideError::NotFound => Self::ApprovalNotFound,
            DecideError::NotPending(status) => Self::ApprovalNotPending(status),
            DecideError::Store(e) => Self::Store(e),
        }
    }
}

impl From<RequestError> for Refusal {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::NotSeatHolder => {
                Self::Access(support_access_core::service::Refusal::SeatReleased)
            }
            RequestError::Store(e) => Self::Store(e),
        }
    }
}
