//! The port contracts on PostgreSQL; the second handle is a second store (its own pool
//! and audit writer) on the same schema.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use support_access_contract::{
    ApprovalStoreFixture, AuditLogFixture, AuditTreeFixture, ChangeStoreFixture, GrantStoreFixture,
    Release, Stall, Tamper, WebhookOutboxFixture,
};

use super::fixture::{database_url, two_stores};

async fn grant_store() -> GrantStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    GrantStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(second),
        audit: Arc::new(store),
        teardown,
    }
}

async fn change_store() -> ChangeStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    ChangeStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(second),
        audit: Arc::new(store),
        teardown,
    }
}

async fn webhook_outbox() -> WebhookOutboxFixture {
    let (store, second, _, teardown) = two_stores().await;
    WebhookOutboxFixture {
        outbox: Arc::new(store.clone()),
        second: Arc::new(second),
        grants: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown,
    }
}

async fn approval_store() -> ApprovalStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    ApprovalStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(second),
        grants: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown,
    }
}

async fn audit_log() -> AuditLogFixture {
    let (log, second, schema, teardown) = two_stores().await;
    let stall = head_lock_holder(schema.clone());
    let tamper: Tamper = Arc::new(move |org, seq, path| {
        let schema = schema.clone();
        Box::pin(async move {
            let mut db = PgConnection::connect(&database_url())
                .await
                .expect("tamper: connect");
            let changed = sqlx::query(AssertSqlSafe(format!(
                "UPDATE \"{schema}\".audit_events SET path = $1 WHERE org = $2 AND seq = $3"
            )))
            .bind(path)
            .bind(org.as_str())
            .bind(i64::try_from(seq).expect("seq"))
            .execute(&mut db)
            .await
            .expect("tamper: update");
            assert_eq!(changed.rows_affected(), 1, "tamper: one event changed");
            let _ = db.close().await;
        })
    });
    AuditLogFixture {
        log: Arc::new(log),
        second: Arc::new(second),
        tamper,
        stall,
        teardown,
    }
}

async fn audit_tree() -> AuditTreeFixture {
    let (store, second, _, teardown) = two_stores().await;
    AuditTreeFixture {
        log: Arc::new(store.clone()),
        tree: Arc::new(store.clone()),
        grants: Arc::new(store),
        second_log: Arc::new(second.clone()),
        second_tree: Arc::new(second),
        teardown,
    }
}

/// Another instance's transaction holding `audit_heads`: appends wait for it.
fn head_lock_holder(schema: String) -> Stall {
    Arc::new(move || {
        let schema = schema.clone();
        Box::pin(async move {
            let mut holder = PgConnection::connect(&database_url())
                .await
                .expect("stall: connect");
            holder
                .execute(AssertSqlSafe(format!(
                    "BEGIN; LOCK TABLE \"{schema}\".audit_heads IN EXCLUSIVE MODE"
                )))
                .await
                .expect("stall: lock the heads");
            let release: Release = Box::new(move || {
                Box::pin(async move {
                    holder.execute("ROLLBACK").await.expect("stall: release");
                    let _ = holder.close().await;
                })
            });
            release
        })
    })
}

mod grant_store {
    support_access_contract::grant_store_suite!(super::grant_store());
}

mod audit_log {
    support_access_contract::audit_log_suite!(super::audit_log());
}

mod change_store {
    support_access_contract::change_store_suite!(super::change_store());
}

mod audit_tree {
    support_access_contract::audit_tree_suite!(super::audit_tree());
}

mod approval_store {
    support_access_contract::approval_store_suite!(super::approval_store());
}

mod webhook_outbox {
    support_access_contract::webhook_outbox_suite!(super::webhook_outbox());
}
