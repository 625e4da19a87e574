//! Tamper detection with raw SQL in the test schema (`common/tamper.rs`).

use std::future::Future;

use super::adapter::exec;
use super::fixture::{in_schema, store};
use super::tamper::{self, Attack};

async fn attack<F, Fut>(case: F)
where
    F: FnOnce(Attack) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    in_schema(|schema| async move {
        let store = store(&schema).await;
        case(Attack::prepare(store.clone(), exec(schema.clone())).await).await;
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untouched_log_passes() {
    attack(tamper::an_untouched_log_passes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_newest_events_is_detected() {
    attack(tamper::deleting_the_newest_events_is_detected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_newest_events_and_their_tree_is_detected() {
    attack(tamper::deleting_the_newest_events_and_their_tree_is_detected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_an_event_is_detected() {
    attack(tamper::editing_an_event_is_detected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehashing_the_chain_is_detected() {
    attack(tamper::rehashing_the_chain_is_detected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehashing_the_chain_and_the_tree_is_detected() {
    attack(tamper::rehashing_the_chain_and_the_tree_is_detected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_node_is_refused_not_made_up() {
    attack(tamper::a_missing_node_is_refused_not_made_up).await;
}
