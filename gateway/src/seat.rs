//! Releasing the support seat, shared by the management API (`DELETE /token` with a
//! staff token) and the support pipeline (the same call with the holder's own support
//! token): the release is recorded durably, then what the holder had in flight ends.

use std::time::Duration;

use support_access_core::ids::{OrgId, StaffId};
use support_access_core::{Grant, SupportAccess};

use crate::live::{Ended, LiveGrants};
use crate::metrics::{Metrics, StoreOp};
use crate::refusal::Refusal;
use crate::store_call::bounded;

/// Frees `staff`'s seat on `org`'s grant (bounded by `store_timeout`) and ends their
/// support access in flight.
pub(crate) async fn release(
    access: &SupportAccess,
    live: &LiveGrants,
    metrics: &Metrics,
    store_timeout: Duration,
    org: &OrgId,
    staff: &StaffId,
) -> Result<Grant, Refusal> {
    let released = access.release_seat(org, staff);
    let grant = bounded(metrics, store_timeout, StoreOp::lifecycle, released).await?;
    live.end_actor(grant.id, staff, Ended::SeatReleased);
    Ok(grant)
}
