//! The port contracts, run against the in-memory adapters.

use std::sync::Arc;

use support_access_contract::{
    ApprovalStoreFixture, AuditLogFixture, AuditTreeFixture, ChangeStoreFixture, GrantStoreFixture,
    Release, Stall, Tamper, WebhookOutboxFixture, nothing_to_tear_down,
};
use support_access_memory::InMemoryStore;

async fn grant_store() -> GrantStoreFixture {
    let store = InMemoryStore::new();
    GrantStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown: nothing_to_tear_down(),
    }
}

async fn change_store() -> ChangeStoreFixture {
    let store = InMemoryStore::new();
    ChangeStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown: nothing_to_tear_down(),
    }
}

async fn approval_store() -> ApprovalStoreFixture {
    let store = InMemoryStore::new();
    ApprovalStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(store.clone()),
        grants: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown: nothing_to_tear_down(),
    }
}

async fn webhook_outbox() -> WebhookOutboxFixture {
    let store = InMemoryStore::new();
    WebhookOutboxFixture {
        outbox: Arc::new(store.clone()),
        second: Arc::new(store.clone()),
        grants: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown: nothing_to_tear_down(),
    }
}

async fn audit_log() -> AuditLogFixture {
    let store = InMemoryStore::new();
    let handle = store.clone();
    let tamper: Tamper = Arc::new(move |org, seq, path| {
        handle.tamper_with_event(&org, seq, |event| event.data.path = Some(path));
        Box::pin(async {})
    });
    let stalled = store.clone();
    let stall: Stall = Arc::new(move || {
        let store = stalled.clone();
        Box::pin(async move {
            let held = store.stall_writes().await;
            let release: Release = Box::new(move || {
                drop(held);
                Box::pin(async {})
            });
            release
        })
    });
    AuditLogFixture {
        log: Arc::new(store.clone()),
        second: Arc::new(store),
        tamper,
        stall,
        teardown: nothing_to_tear_down(),
    }
}

async fn audit_tree() -> AuditTreeFixture {
    let store = InMemoryStore::new();
    AuditTreeFixture {
        log: Arc::new(store.clone()),
        tree: Arc::new(store.clone()),
        grants: Arc::new(store.clone()),
        second_log: Arc::new(store.clone()),
        second_tree: Arc::new(store),
        teardown: nothing_to_tear_down(),
    }
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
