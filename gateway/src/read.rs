//! Reading a body the gateway must inspect: bounded in size
//! (`limits.max_inspected_body_bytes`, `413` beyond) and in time
//! (`limits.body_read_timeout`, `408`). Shared by identification (form bodies), the
//! ordinary assignment guard and the support pipeline.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderMap};
use http_body_util::{BodyExt, Limited};

use crate::body::Body;
use crate::config::Limits;
use crate::refusal::Refusal;

/// Reads `incoming` whole, or refuses it beyond the limits.
pub(crate) async fn read_body(
    limits: &Limits,
    headers: &HeaderMap,
    incoming: Body,
) -> Result<Bytes, Refusal> {
    let limit = limits.max_inspected_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Refusal::BodyTooLarge { limit });
    }
    let read = Limited::new(incoming, limit).collect();
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Err(_) => Err(Refusal::BodyReadTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Refusal::BodyTooLarge { limit })
        }
        Ok(Err(_)) => Err(Refusal::BodyUnreadable),
    }
}
