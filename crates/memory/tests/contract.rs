//! The port contracts, run against the in-memory adapters.

use std::sync::Arc;

use support_access_contract::{AuditLogFixture, GrantStoreFixture, Tamper, nothing_to_tear_down};
use support_access_memory::InMemoryStore;

async fn grant_store() -> GrantStoreFixture {
    let store = InMemoryStore::new();
    GrantStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(store),
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
    AuditLogFixture {
        log: Arc::new(store.clone()),
        second: Arc::new(store),
        tamper,
        teardown: nothing_to_tear_down(),
    }
}

mod grant_store {
    support_access_contract::grant_store_suite!(super::grant_store());
}

mod audit_log {
    support_access_contract::audit_log_suite!(super::audit_log());
}
