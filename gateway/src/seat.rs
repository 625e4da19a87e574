//! Releasing the support seat, shared by the management API (`DELETE /token` with a
//! staff token) and the support pipeline (the same call with the holder's own support
//! token): the release is recorded durably, then what the holder had in flight ends
//! and the approvals made under the claim are void.

use std::time::Duration;

use support_access_core::approval::service::Approvals;
use support_access_core::ids::{GrantId, OrgId, StaffId};
use support_access_core::{Grant, SupportAccess};

use crate::live::{Ended, LiveGrants};
use crate::metrics::{Metrics, StoreOp};
use crate::refusal::Refusal;
use crate::store_call::bounded;

/// Frees `staff`'s seat on `org`'s grant (bounded by `store_timeout`), ends their
/// support access in flight and voids the approvals made under the claim.
pub(crate) async fn release(
    (access, approvals): (&SupportAccess, &Approvals),
    live: &LiveGrants,
    metrics: &Metrics,
    store_timeout: Duration,
    org: &OrgId,
    staff: &StaffId,
) -> Result<Grant, Refusal> {
    let released = access.release_seat(org, staff);
    let grant = bounded(metrics, store_timeout, StoreOp::lifecycle, released).await?;
    live.end_actor(grant.id, staff, Ended::SeatReleased);
    void_approvals(approvals, metrics, store_timeout, grant.id).await;
    Ok(grant)
}

/// Voids every open approval of `grant` once its access ended (revoke, expiry, seat
/// release), so that listings say `void` at once. A failure is only logged: an
/// approval is refused at use anyway once its grant or seat claim ended.
pub(crate) async fn void_approvals(
    approvals: &Approvals,
    metrics: &Metrics,
    store_timeout: Duration,
    grant: GrantId,
) {
    let voided = approvals.void_grant(grant);
    match bounded(metrics, store_timeout, StoreOp::approval, voided).await {
        Ok(0) => {}
        Ok(voided) => tracing::info!(%grant, voided, "voided the approvals of an ended grant"),
        Err(e) => {
            tracing::warn!(%grant, error = %e, "could not void the approvals of an ended grant")
        }
    }
}
