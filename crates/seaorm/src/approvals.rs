//! [`ApprovalStore`] on the `approvals` table.
//!
//! As for grants, every change is one conditional `UPDATE … RETURNING` whose `WHERE`
//! states the precondition, so that of concurrent callers on any number of instances
//! exactly one changes the row: `decide` needs `status = 'pending'`, `consume` needs
//! `status = 'approved'`, the fingerprint, an unexpired end and — in the same statement
//! — the grant open, unexpired and its seat held under the approval's claim. PostgreSQL
//! re-checks the `WHERE` of a row another transaction changed meanwhile, so the loser
//! finds it `used`; SQLite has one writer at a time. The unique partial index
//! `approvals_one_open_per_request` decides racing creates. A change and its audit
//! event share one transaction (the event goes in through [`append_one_in`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use support_access_core::StoreError;
use support_access_core::approval::{
    Approval, ApprovalId, ApprovalStatus, Decision, Fingerprint, Verdict,
};
use support_access_core::audit::NewAuditEvent;
use support_access_core::ids::{GrantId, OrgId, StaffId};
use support_access_core::ports::{ApprovalFilter, ApprovalStore, RecordedApproval};

use crate::SeaOrmStore;
use crate::audit::append_one_in;
use crate::entity::approval::{self, Column, Entity};
use crate::entity::grant;
use crate::error::{corrupt, from_db};
use crate::instant::{bound, stored};

const OPEN: [&str; 2] = ["pending", "approved"];

fn to_row(a: &Approval) -> Result<approval::ActiveModel, StoreError> {
    Ok(approval::ActiveModel {
        id: ActiveValue::Set(a.id.as_uuid()),
        org: ActiveValue::Set(a.org.as_str().to_owned()),
        grant_id: ActiveValue::Set(a.grant.as_uuid()),
        actor: ActiveValue::Set(a.actor.as_str().to_owned()),
        seat_claimed_at: ActiveValue::Set(stored(a.seat_claimed_at)?),
        fingerprint: ActiveValue::Set(a.fingerprint.to_hex()),
        method: ActiveValue::Set(a.method.clone()),
        path: ActiveValue::Set(a.path.clone()),
        query: ActiveValue::Set(a.query.clone()),
        body_sha256: ActiveValue::Set(a.body_sha256.clone()),
        body_preview: ActiveValue::Set(a.body_preview.clone()),
        restriction: ActiveValue::Set(a.restriction.map(i16::from)),
        rule: ActiveValue::Set(a.rule.clone()),
        status: ActiveValue::Set(a.status.as_str().to_owned()),
        requested_at: ActiveValue::Set(stored(a.requested_at)?),
        expires_at: ActiveValue::Set(stored(a.expires_at)?),
        decided_at: ActiveValue::Set(a.decided_at.map(stored).transpose()?),
        decided_by: ActiveValue::Set(a.decided_by.clone()),
        note: ActiveValue::Set(a.note.clone()),
        closed_at: ActiveValue::Set(a.closed_at.map(stored).transpose()?),
    })
}

fn to_domain(row: approval::Model) -> Result<Approval, StoreError> {
    let field = |what: &str| corrupt(format!("{what} of approval {}", row.id));
    Ok(Approval {
        id: ApprovalId::from_uuid(row.id),
        org: OrgId::new(row.org),
        grant: GrantId::from_uuid(row.grant_id),
        actor: StaffId::new(row.actor),
        seat_claimed_at: row.seat_claimed_at,
        fingerprint: Fingerprint::from_hex(row.fingerprint.trim())
            .map_err(|_| field("fingerprint"))?,
        method: row.method,
        path: row.path,
        query: row.query,
        body_sha256: row.body_sha256.trim().to_owned(),
        body_preview: row.body_preview,
        restriction: row
            .restriction
            .map(u8::try_from)
            .transpose()
            .map_err(|_| field("restriction"))?,
        rule: row.rule,
        status: row.status.parse().map_err(|_| field("status"))?,
        requested_at: row.requested_at,
        expires_at: row.expires_at,
        decided_at: row.decided_at,
        decided_by: row.decided_by,
        note: row.note,
        closed_at: row.closed_at,
    })
}

/// An approval change, applied inside the transaction of its event.
enum Change<'a> {
    Create(&'a Approval),
    Decide(ApprovalId, &'a Decision),
    Consume(ApprovalId, &'a Fingerprint, DateTime<Utc>),
}

impl Change<'_> {
    async fn apply<C: ConnectionTrait>(self, txn: &C) -> Result<Approval, StoreError> {
        let (id, rows) = match self {
            Self::Create(approval) => return create(txn, approval).await,
            Self::Decide(id, decision) => {
                let mut update = Entity::update_many()
                    .col_expr(
                        Column::Status,
                        Expr::value(decision.verdict.status().as_str()),
                    )
                    .col_expr(Column::DecidedAt, Expr::value(stored(decision.at)?))
                    .col_expr(Column::DecidedBy, Expr::value(decision.by.as_str()))
                    .col_expr(Column::Note, Expr::value(decision.note.clone()));
                if let Verdict::Approve { until } = decision.verdict {
                    update = update.col_expr(Column::ExpiresAt, Expr::value(stored(until)?));
                }
                let rows = update
                    .filter(Column::Id.eq(id.as_uuid()))
                    .filter(Column::Status.eq(ApprovalStatus::Pending.as_str()))
                    .filter(Column::ExpiresAt.gt(bound(decision.at)))
                    .exec_with_returning(txn)
                    .await;
                (id, rows)
            }
            Self::Consume(id, fingerprint, now) => {
                let rows = Entity::update_many()
                    .col_expr(Column::Status, Expr::value(ApprovalStatus::Used.as_str()))
                    .col_expr(Column::ClosedAt, Expr::value(stored(now)?))
                    .filter(Column::Id.eq(id.as_uuid()))
                    .filter(Column::Status.eq(ApprovalStatus::Approved.as_str()))
                    .filter(Column::Fingerprint.eq(fingerprint.to_hex()))
                    .filter(Column::ExpiresAt.gt(bound(now)))
                    .filter(Column::GrantId.in_subquery(grants_holding_their_seat(now)))
                    .exec_with_returning(txn)
                    .await;
                (id, rows)
            }
        };
        match rows.map_err(from_db)?.into_iter().next() {
            Some(row) => to_domain(row),
            None => Err(match find(txn, id).await? {
                None => StoreError::NotFound,
                Some(current) => StoreError::Conflict(format!(
                    "approval {id} is {} and cannot change so",
                    current.status
                )),
            }),
        }
    }
}

/// The ids of grants open and unexpired at `now` whose seat is held by the outer
/// approval's actor under the claim it was requested under (a correlated subquery).
fn grants_holding_their_seat(now: DateTime<Utc>) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((grant::Entity, grant::Column::Id))
        .from(grant::Entity)
        .and_where(Expr::col((grant::Entity, grant::Column::ClosedAt)).is_null())
        .and_where(Expr::col((grant::Entity, grant::Column::ExpiresAt)).gt(bound(now)))
        .and_where(
            Expr::col((grant::Entity, grant::Column::SeatHolder)).equals((Entity, Column::Actor)),
        )
        .and_where(
            Expr::col((grant::Entity, grant::Column::SeatClaimedAt))
                .equals((Entity, Column::SeatClaimedAt)),
        )
        .to_owned()
}

/// Marks the request's open approvals past their end `expired`, then inserts the new
/// one: the unique index refuses it while another is open.
async fn create<C: ConnectionTrait>(txn: &C, approval: &Approval) -> Result<Approval, StoreError> {
    let at = stored(approval.requested_at)?;
    Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(ApprovalStatus::Expired.as_str()),
        )
        .col_expr(Column::ClosedAt, Expr::value(at))
        .filter(Column::Fingerprint.eq(approval.fingerprint.to_hex()))
        .filter(Column::Status.is_in(OPEN))
        .filter(Column::ExpiresAt.lte(at))
        .exec(txn)
        .await
        .map_err(from_db)?;
    match Entity::insert(to_row(approval)?)
        .exec_without_returning(txn)
        .await
    {
        Ok(_) => find(txn, approval.id).await?.ok_or(StoreError::NotFound),
        Err(e) => Err(match from_db(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "an open approval of this request exists, or approval {} does",
                approval.id
            )),
            other => other,
        }),
    }
}

async fn find<C: ConnectionTrait>(db: &C, id: ApprovalId) -> Result<Option<Approval>, StoreError> {
    Entity::find_by_id(id.as_uuid())
        .one(db)
        .await
        .map_err(from_db)?
        .map(to_domain)
        .transpose()
}

/// The `WHERE` of a status judged at `now`.
fn status_at(status: ApprovalStatus, now: DateTime<Utc>) -> Condition {
    let now = bound(now);
    match status {
        ApprovalStatus::Pending | ApprovalStatus::Approved => Condition::all()
            .add(Column::Status.eq(status.as_str()))
            .add(Column::ExpiresAt.gt(now)),
        ApprovalStatus::Expired => Condition::any()
            .add(Column::Status.eq(status.as_str()))
            .add(
                Condition::all()
                    .add(Column::Status.is_in(OPEN))
                    .add(Column::ExpiresAt.lte(now)),
            ),
        other => Condition::all().add(Column::Status.eq(other.as_str())),
    }
}

impl SeaOrmStore {
    /// Applies `change` and appends `event` in one transaction: both commit or neither.
    async fn record_approval(
        &self,
        change: Change<'_>,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        let approval = change.apply(&txn).await?;
        let event = append_one_in(&txn, &event).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(RecordedApproval { approval, event })
    }

    /// Moves open approvals matching `condition` to `void`; returns them.
    async fn void_where(
        &self,
        condition: Condition,
        at: DateTime<Utc>,
    ) -> Result<Vec<approval::Model>, StoreError> {
        let _guard = self.write_guard().await;
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(ApprovalStatus::Void.as_str()))
            .col_expr(Column::ClosedAt, Expr::value(stored(at)?))
            .filter(condition)
            .filter(Column::Status.is_in(OPEN))
            .exec_with_returning(&self.inner.writer)
            .await
            .map_err(from_db)
    }
}

#[async_trait]
impl ApprovalStore for SeaOrmStore {
    async fn create(
        &self,
        approval: &Approval,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        self.record_approval(Change::Create(approval), event).await
    }

    async fn get(&self, id: ApprovalId) -> Result<Approval, StoreError> {
        find(&self.inner.db, id).await?.ok_or(StoreError::NotFound)
    }

    async fn find_open(
        &self,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> Result<Option<Approval>, StoreError> {
        Entity::find()
            .filter(Column::Fingerprint.eq(fingerprint.to_hex()))
            .filter(Column::Status.is_in(OPEN))
            .filter(Column::ExpiresAt.gt(bound(now)))
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(to_domain)
            .transpose()
    }

    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        self.record_approval(Change::Decide(id, decision), event)
            .await
    }

    async fn consume(
        &self,
        id: ApprovalId,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        self.record_approval(Change::Consume(id, fingerprint, now), event)
            .await
    }

    async fn void(&self, id: ApprovalId, at: DateTime<Utc>) -> Result<Approval, StoreError> {
        let condition = Condition::all().add(Column::Id.eq(id.as_uuid()));
        match self.void_where(condition, at).await?.into_iter().next() {
            Some(row) => to_domain(row),
            None => Err(match self.get(id).await {
                Ok(current) => StoreError::Conflict(format!(
                    "approval {id} is {} and cannot be voided",
                    current.status
                )),
                Err(e) => e,
            }),
        }
    }

    async fn void_for_grant(&self, grant: GrantId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let condition = Condition::all().add(Column::GrantId.eq(grant.as_uuid()));
        Ok(self.void_where(condition, at).await?.len() as u64)
    }

    async fn list(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        let mut select = Entity::find().filter(Column::Org.eq(filter.org.as_str()));
        if let Some(status) = filter.status {
            select = select.filter(status_at(status, filter.now));
        }
        select
            .order_by(Column::RequestedAt, Order::Desc)
            .order_by(Column::Id, Order::Desc)
            .limit(u64::from(filter.limit))
            .all(&self.inner.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
