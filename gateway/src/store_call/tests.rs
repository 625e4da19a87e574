use std::time::Duration;

use support_access_core::StoreError;
use support_access_core::service::RevokeError;

use super::bounded;
use crate::metrics::{Metrics, StoreOp};

#[tokio::test]
async fn a_store_call_that_does_not_answer_in_time_is_unavailable_never_a_success() {
    let metrics = Metrics::default();
    let never = std::future::pending::<Result<(), StoreError>>();
    let outcome = bounded(
        &metrics,
        Duration::from_millis(10),
        StoreOp::audit_append,
        never,
    )
    .await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(metrics.audit_health().failing());
    assert!(
        metrics
            .render()
            .contains(r#"support_gateway_store_errors_total{op="audit_append",kind="timeout"} 1"#)
    );
}

#[tokio::test]
async fn a_domain_refusal_is_passed_on_and_not_counted_as_a_store_failure() {
    let metrics = Metrics::default();
    let refused = async { Err::<(), _>(RevokeError::NoActiveGrant) };
    let outcome = bounded(
        &metrics,
        Duration::from_secs(1),
        StoreOp::lifecycle,
        refused,
    )
    .await;
    assert!(matches!(outcome, Err(RevokeError::NoActiveGrant)));
    let failed = async { Err::<(), _>(RevokeError::Store(StoreError::Backend("disk".into()))) };
    let outcome = bounded(&metrics, Duration::from_secs(1), StoreOp::lifecycle, failed).await;
    assert!(matches!(outcome, Err(RevokeError::Store(_))));
    let text = metrics.render();
    assert!(
        text.contains(r#"support_gateway_store_errors_total{op="lifecycle",kind="backend"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains("not_found") && !text.contains("conflict"),
        "{text}"
    );
}
