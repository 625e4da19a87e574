//! Contract suites: one per port, written once, run by every adapter.
//!
//! An adapter crate proves itself by invoking the suite macros from one of its test
//! files, each with an expression that builds a fresh, isolated fixture:
//!
//! ```text
//! mod grant_store {
//!     support_access_contract::grant_store_suite!(crate::fixtures::grant_store());
//! }
//! mod audit_log {
//!     support_access_contract::audit_log_suite!(crate::fixtures::audit_log());
//! }
//! ```
//!
//! Each case becomes its own `#[tokio::test]` named after the behaviour it checks, so a
//! failure names the broken promise. The crate using the macros needs `tokio` (with the
//! `macros` and `rt-multi-thread` features) as a dev-dependency. A fixture's teardown
//! runs after its case, also when the case fails.
//!
//! Suites never skip: a fixture that cannot reach its backend must panic saying how to
//! start it.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use support_access_core::ids::OrgId;
use support_access_core::keys::SigningKeyStore;
use support_access_core::notify::WebhookOutbox;
use support_access_core::ports::ApprovalStore;
use support_access_core::{AuditLog, ChangeStore, GrantStore};

pub mod approval_store;
pub mod audit_log;
pub mod audit_tree;
pub mod change_store;
pub mod grant_store;
pub mod signing_key_store;
pub mod webhook_outbox;

pub use audit_tree::AuditTreeFixture;
mod support;

/// Cleans up after a case (drops a schema, removes a file).
pub type Teardown = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A teardown for adapters that leave nothing behind.
pub fn nothing_to_tear_down() -> Teardown {
    Arc::new(|| Box::pin(async {}))
}

/// Changes one stored audit event of an org in place without re-hashing it (its `path`
/// is set to the given text), as someone with write access to the store could.
pub type Tamper = Arc<dyn Fn(OrgId, u64, String) -> BoxFuture<'static, ()> + Send + Sync>;

/// Makes the store stop taking writes, as a database whose write lock another process
/// holds; resolves once writes are held, to a [`Release`] that lets them go on.
pub type Stall = Arc<dyn Fn() -> BoxFuture<'static, Release> + Send + Sync>;

/// Lets the writes held by a [`Stall`] go on.
pub type Release = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// What the grant-store suite needs from an adapter.
#[derive(Clone)]
pub struct GrantStoreFixture {
    /// A fresh, empty store.
    pub store: Arc<dyn GrantStore>,
    /// A second handle on the same data (another connection pool, another instance).
    pub second: Arc<dyn GrantStore>,
    /// The audit log of the same data, where the lifecycle events go.
    pub audit: Arc<dyn AuditLog>,
    /// Runs after the case.
    pub teardown: Teardown,
}

/// What the audit-log suite needs from an adapter.
#[derive(Clone)]
pub struct AuditLogFixture {
    /// A fresh, empty log.
    pub log: Arc<dyn AuditLog>,
    /// A second handle on the same data.
    pub second: Arc<dyn AuditLog>,
    /// Alters a stored event behind the log's back.
    pub tamper: Tamper,
    /// Holds the log's writes for a while.
    pub stall: Stall,
    /// Runs after the case.
    pub teardown: Teardown,
}

/// What the change-store suite needs from an adapter.
#[derive(Clone)]
pub struct ChangeStoreFixture {
    /// A fresh, empty store.
    pub store: Arc<dyn ChangeStore>,
    /// A second handle on the same data.
    pub second: Arc<dyn ChangeStore>,
    /// The audit log of the same data, where the `change.*` events go.
    pub audit: Arc<dyn AuditLog>,
    /// Runs after the case.
    pub teardown: Teardown,
}

impl std::fmt::Debug for ChangeStoreFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStoreFixture")
            .field("store", &self.store)
            .field("second", &self.second)
            .finish_non_exhaustive()
    }
}

impl Fixture for ChangeStoreFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

impl std::fmt::Debug for GrantStoreFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantStoreFixture")
            .field("store", &self.store)
            .field("second", &self.second)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AuditLogFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLogFixture")
            .field("log", &self.log)
            .field("second", &self.second)
            .finish_non_exhaustive()
    }
}

/// What the approval-store suite needs from an adapter.
#[derive(Clone)]
pub struct ApprovalStoreFixture {
    /// A fresh, empty store.
    pub store: Arc<dyn ApprovalStore>,
    /// A second handle on the same data (another connection pool, another instance).
    pub second: Arc<dyn ApprovalStore>,
    /// The grant store of the same data: grants and seats the approvals are made under.
    pub grants: Arc<dyn GrantStore>,
    /// The audit log of the same data, where the approval events go.
    pub audit: Arc<dyn AuditLog>,
    /// Runs after the case.
    pub teardown: Teardown,
}

impl std::fmt::Debug for ApprovalStoreFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalStoreFixture")
            .field("store", &self.store)
            .field("second", &self.second)
            .finish_non_exhaustive()
    }
}

impl Fixture for ApprovalStoreFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

/// What the webhook-outbox suite needs from an adapter.
#[derive(Clone)]
pub struct WebhookOutboxFixture {
    /// A fresh, empty outbox.
    pub outbox: Arc<dyn WebhookOutbox>,
    /// A second handle on the same data (another connection pool, another instance).
    pub second: Arc<dyn WebhookOutbox>,
    /// The grant store of the same data, whose events notify too.
    pub grants: Arc<dyn GrantStore>,
    /// The audit log of the same data, whose events queue their notifications.
    pub audit: Arc<dyn AuditLog>,
    /// Runs after the case.
    pub teardown: Teardown,
}

impl std::fmt::Debug for WebhookOutboxFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookOutboxFixture")
            .field("outbox", &self.outbox)
            .field("second", &self.second)
            .finish_non_exhaustive()
    }
}

impl Fixture for WebhookOutboxFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

/// What the signing-key-store suite needs from an adapter.
#[derive(Clone)]
pub struct SigningKeyStoreFixture {
    /// A store (keys of other cases may be in it: cases use fresh kids).
    pub store: Arc<dyn SigningKeyStore>,
    /// A second handle on the same data (another connection pool, another instance).
    pub second: Arc<dyn SigningKeyStore>,
    /// Runs after the case.
    pub teardown: Teardown,
}

impl std::fmt::Debug for SigningKeyStoreFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyStoreFixture")
            .field("store", &self.store)
            .field("second", &self.second)
            .finish_non_exhaustive()
    }
}

impl Fixture for SigningKeyStoreFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

/// One test per [`SigningKeyStore`] promise. Takes an expression (a future) that yields
/// a fresh [`SigningKeyStoreFixture`].
#[macro_export]
macro_rules! signing_key_store_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            signing_key_store,
            $fixture,
            [
                added_keys_read_back_exactly_on_every_handle,
                adding_a_kid_twice_conflicts_and_changes_nothing,
                keys_are_kept_apart_by_purpose,
            ]
        );
    };
}

/// A fixture's cleanup.
pub trait Fixture {
    /// The teardown to run after the case.
    fn teardown(&self) -> BoxFuture<'static, ()>;
}

impl Fixture for GrantStoreFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

impl Fixture for AuditLogFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

/// Runs one case on a fixture, then its teardown, then re-raises the case's panic.
pub async fn run<F, C, Fut>(fixture: F, case: C)
where
    F: Fixture + Clone,
    C: FnOnce(F) -> Fut,
    Fut: Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(case(fixture.clone())).catch_unwind().await;
    fixture.teardown().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __cases {
    ($module:ident, $fixture:expr, [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::run($fixture.await, $crate::$module::$case).await;
            }
        )*
    };
}

/// One test per [`GrantStore`] promise. Takes an expression (a future) that yields a
/// fresh [`GrantStoreFixture`].
#[macro_export]
macro_rules! grant_store_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            grant_store,
            $fixture,
            [
                inserted_grant_reads_back_exactly,
                times_are_kept_to_the_microsecond,
                unknown_grant_is_not_found,
                second_open_grant_for_an_org_conflicts,
                concurrent_grants_for_one_org_let_exactly_one_win,
                grants_of_different_orgs_do_not_conflict,
                open_grant_is_found_even_past_its_end,
                latest_prefers_the_open_grant_then_the_newest_closed,
                closing_a_grant_frees_the_org_for_a_new_one,
                set_expiry_changes_only_the_end_date,
                set_expiry_refuses_closed_and_unknown_grants,
                close_happens_exactly_once_under_concurrency,
                claim_takes_a_free_seat_and_keeps_the_holders_claim,
                claim_by_another_staff_member_conflicts,
                concurrent_claims_by_different_staff_let_exactly_one_win,
                claim_on_a_closed_grant_conflicts,
                release_frees_the_seat_only_for_its_holder,
                due_for_expiry_lists_open_grants_past_their_end_oldest_first,
                second_handle_sees_the_first_handles_writes,
                open_grants_lists_every_open_grant,
                every_change_stores_its_event_as_the_next_in_its_orgs_chain,
                a_refused_change_stores_no_event,
                a_change_whose_event_cannot_be_stored_leaves_the_grant_unchanged,
                changes_and_appends_racing_share_one_gap_free_chain,
            ]
        );
    };
}

/// One test per [`AuditLog`] promise. Takes an expression (a future) that yields a
/// fresh [`AuditLogFixture`].
#[macro_export]
macro_rules! audit_log_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            audit_log,
            $fixture,
            [
                first_event_starts_the_chain_at_seq_1,
                appends_chain_seq_and_hashes_without_gaps,
                every_field_round_trips,
                error_and_rewrites_round_trip_and_stay_hashed,
                approval_round_trips_and_stays_hashed,
                orgs_have_independent_streams,
                query_lists_newest_first,
                query_filters_by_actor,
                query_filters_by_support_user,
                query_filters_by_grant,
                query_filters_by_kind,
                query_filters_by_decision,
                query_filters_by_time_range_from_inclusive_to_exclusive,
                query_combines_filters,
                query_never_returns_another_orgs_events,
                cursor_paging_lists_every_event_once,
                cursor_paging_is_stable_under_concurrent_appends,
                page_size_is_bounded,
                scan_returns_events_after_a_seq_in_ascending_order,
                untouched_chain_verifies,
                tampered_event_is_detected,
                parallel_appends_from_many_tasks_stay_gap_free,
                second_handle_sees_the_first_handles_appends,
                orgs_lists_every_org_with_events,
                an_event_id_already_in_the_log_is_refused_and_stores_nothing,
                an_append_abandoned_while_the_store_is_stalled_is_never_written,
            ]
        );
    };
}

/// One test per [`ChangeStore`] promise. Takes an expression (a future) that yields a
/// fresh [`ChangeStoreFixture`].
#[macro_export]
macro_rules! change_store_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            change_store,
            $fixture,
            [
                recorded_entries_read_back_exactly_with_their_event,
                the_stored_event_vouches_for_the_stored_entries,
                times_are_kept_to_the_microsecond,
                entries_and_their_event_share_one_gap_free_chain,
                records_and_appends_racing_share_one_gap_free_chain,
                a_refused_batch_stores_nothing,
                list_is_newest_first_in_recording_order_within_a_request,
                list_filters_by_grant_module_and_record,
                cursor_paging_is_stable_while_entries_are_recorded,
                page_size_is_bounded,
                list_and_get_never_return_another_orgs_entries,
                revert_marks_the_original_and_stores_its_entry_and_event,
                a_second_revert_conflicts_and_stores_nothing,
                concurrent_reverts_let_exactly_one_win,
                revert_of_an_unknown_or_foreign_change_is_not_found,
                second_handle_sees_the_first_handles_writes,
            ]
        );
    };
}

/// One test per [`AuditTree`](support_access_core::tlog::AuditTree) promise. Takes an
/// expression (a future) that yields a fresh [`AuditTreeFixture`].
#[macro_export]
macro_rules! audit_tree_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            audit_tree,
            $fixture,
            [
                an_org_without_events_has_the_empty_tree,
                the_head_is_the_rfc_root_of_the_event_hashes,
                grant_change_events_enter_the_tree,
                stored_nodes_are_the_complete_subtrees,
                inclusion_proofs_verify_for_every_event_and_size,
                consistency_proofs_verify_between_every_pair_of_sizes,
                proofs_beyond_the_log_or_of_no_tree_are_refused,
                orgs_have_independent_trees,
                concurrent_appends_from_two_handles_keep_the_tree_consistent,
                a_refused_append_leaves_the_tree_unchanged,
                a_checkpoint_reads_back_exactly,
                the_latest_checkpoint_is_the_largest,
                a_second_checkpoint_of_one_size_conflicts,
                grown_logs_lists_orgs_beyond_their_latest_checkpoint,
            ]
        );
    };
}

/// One test per [`ApprovalStore`] promise. Takes an expression (a future) that yields a
/// fresh [`ApprovalStoreFixture`].
#[macro_export]
macro_rules! approval_store_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            approval_store,
            $fixture,
            [
                created_approval_reads_back_exactly,
                unknown_approval_is_not_found,
                racing_creates_of_one_request_let_exactly_one_win,
                an_expired_approval_does_not_block_a_new_one,
                find_open_returns_the_open_unexpired_approval_of_the_request,
                decide_moves_only_a_pending_approval,
                racing_decisions_let_exactly_one_win,
                consume_uses_an_approved_approval_exactly_once,
                racing_consumes_from_two_handles_let_exactly_one_win,
                consume_is_refused_once_the_grant_or_the_seat_claim_ended,
                void_closes_only_open_approvals_of_the_grant,
                list_filters_by_status_at_now_newest_first,
                refused_or_unrecordable_changes_store_nothing,
                changes_share_the_orgs_chain_and_the_second_handle_sees_them,
            ]
        );
    };
}

/// One test per [`WebhookOutbox`] promise. Takes an expression (a future) that yields a
/// fresh [`WebhookOutboxFixture`].
#[macro_export]
macro_rules! webhook_outbox_suite {
    ($fixture:expr) => {
        $crate::__cases!(
            webhook_outbox,
            $fixture,
            [
                a_registered_endpoint_reads_back_exactly,
                endpoints_are_the_orgs_own,
                delete_removes_the_endpoint_and_its_deliveries,
                enqueue_fans_out_to_the_orgs_subscribed_endpoints,
                enqueue_to_one_endpoint_reaches_only_that_endpoint,
                a_message_queued_twice_is_refused,
                audit_events_queue_their_notifications_with_them,
                grant_changes_notify_with_the_grant_as_changed,
                events_of_an_org_without_listeners_queue_nothing,
                claims_lease_due_deliveries_earliest_first,
                racing_claims_from_two_handles_never_share_a_delivery,
                attempts_move_the_delivery_and_release_the_lease,
                only_the_lease_holder_records_an_attempt,
                a_gone_endpoint_is_disabled_and_gets_nothing_more,
                deliveries_list_newest_first_by_org_and_endpoint,
                stats_count_the_pending_queue_and_the_second_handle_sees_it,
            ]
        );
    };
}
