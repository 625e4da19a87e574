//! [`GrantStore`] on the `grants` table.
//!
//! Every change is one conditional `UPDATE … RETURNING` whose `WHERE` states the
//! precondition (open, seat free or held by the caller), so that concurrent callers on
//! any number of instances cannot both succeed; the unique partial index
//! `grants_one_open_per_org` decides racing inserts. When no row changed, a read tells
//! `NotFound` from `Conflict`. The change and its audit event share one transaction
//! (the event goes in through [`append_one_about_in`], the audit log's one entry, told
//! the grant so that the event's notification carries it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use support_access_core::audit::NewAuditEvent;
use support_access_core::grant::{ClosedAs, Closure, Grant, Seat};
use support_access_core::ids::{GrantId, OrgId, StaffId, SupportUserId};
use support_access_core::{GrantStore, Recorded, StoreError};

use crate::SeaOrmStore;
use crate::audit::append_one_about_in;
use crate::entity::grant::{self, Column, Entity};
use crate::error::{corrupt, from_db};
use crate::instant::{bound, stored};

const REVOKED: &str = "revoked";
const EXPIRED: &str = "expired";

fn to_domain(row: grant::Model) -> Result<Grant, StoreError> {
    let support_user = u64::try_from(row.support_user)
        .map(SupportUserId::from_u64)
        .map_err(|_| {
            corrupt(format!(
                "support user {} of grant {}",
                row.support_user, row.id
            ))
        })?;
    let closure = match (row.closed_as.as_deref(), row.closed_at) {
        (None, None) => None,
        (Some(reason), Some(at)) => Some(Closure {
            reason: match reason {
                REVOKED => ClosedAs::Revoked,
                EXPIRED => ClosedAs::Expired,
                other => return Err(corrupt(format!("closure `{other}` of grant {}", row.id))),
            },
            at,
            by: row.closed_by,
        }),
        _ => return Err(corrupt(format!("incomplete closure of grant {}", row.id))),
    };
    let seat = match (row.seat_holder, row.seat_claimed_at) {
        (None, None) => None,
        (Some(holder), Some(claimed_at)) => Some(Seat {
            holder: StaffId::new(holder),
            claimed_at,
        }),
        _ => return Err(corrupt(format!("incomplete seat of grant {}", row.id))),
    };
    Ok(Grant {
        id: GrantId::from_uuid(row.id),
        org: OrgId::new(row.org),
        support_user,
        created_at: row.created_at,
        created_by: row.created_by,
        expires_at: row.expires_at,
        closure,
        reason: row.reason,
        ticket: row.ticket,
        seat,
    })
}

fn closed_as(reason: ClosedAs) -> &'static str {
    match reason {
        ClosedAs::Revoked => REVOKED,
        ClosedAs::Expired => EXPIRED,
    }
}

fn to_row(grant: &Grant) -> Result<grant::ActiveModel, StoreError> {
    let support_user = i64::try_from(grant.support_user.get()).map_err(|_| {
        StoreError::Backend(format!(
            "support user id {} does not fit a signed 64-bit column",
            grant.support_user
        ))
    })?;
    let closure = grant.closure.as_ref();
    let seat = grant.seat.as_ref();
    Ok(grant::ActiveModel {
        id: ActiveValue::Set(grant.id.as_uuid()),
        org: ActiveValue::Set(grant.org.as_str().to_owned()),
        support_user: ActiveValue::Set(support_user),
        created_at: ActiveValue::Set(stored(grant.created_at)?),
        created_by: ActiveValue::Set(grant.created_by.clone()),
        expires_at: ActiveValue::Set(stored(grant.expires_at)?),
        closed_as: ActiveValue::Set(closure.map(|c| closed_as(c.reason).to_owned())),
        closed_at: ActiveValue::Set(closure.map(|c| stored(c.at)).transpose()?),
        closed_by: ActiveValue::Set(closure.and_then(|c| c.by.clone())),
        reason: ActiveValue::Set(grant.reason.clone()),
        ticket: ActiveValue::Set(grant.ticket.clone()),
        seat_holder: ActiveValue::Set(seat.map(|s| s.holder.as_str().to_owned())),
        seat_claimed_at: ActiveValue::Set(seat.map(|s| stored(s.claimed_at)).transpose()?),
    })
}

/// A grant change, applied inside a lifecycle transaction.
enum Change<'a> {
    Insert(&'a Grant),
    SetExpiry(GrantId, DateTime<Utc>),
    Close(GrantId, Closure),
    ClaimSeat(GrantId, &'a StaffId, DateTime<Utc>),
    ReleaseSeat(GrantId, &'a StaffId),
}

impl Change<'_> {
    fn grant_id(&self) -> GrantId {
        match self {
            Self::Insert(grant) => grant.id,
            Self::SetExpiry(id, _)
            | Self::Close(id, _)
            | Self::ClaimSeat(id, _, _)
            | Self::ReleaseSeat(id, _) => *id,
        }
    }

    /// One conditional statement whose `WHERE` states the precondition; when no row
    /// changed, a read in the same transaction tells `NotFound` from `Conflict`.
    async fn apply<C: ConnectionTrait>(self, txn: &C) -> Result<Grant, StoreError> {
        let id = self.grant_id();
        let rows = match self {
            Self::Insert(grant) => {
                return match Entity::insert(to_row(grant)?)
                    .exec_without_returning(txn)
                    .await
                {
                    Ok(_) => Ok(grant.clone()),
                    Err(e) => Err(match from_db(e) {
                        StoreError::Conflict(_) => StoreError::Conflict(format!(
                            "org {} already has an open grant, or grant {} exists",
                            grant.org, grant.id
                        )),
                        other => other,
                    }),
                };
            }
            Self::SetExpiry(_, expires_at) => {
                Entity::update_many()
                    .col_expr(Column::ExpiresAt, Expr::value(stored(expires_at)?))
                    .filter(Column::Id.eq(id.as_uuid()))
                    .filter(Column::ClosedAt.is_null())
                    .exec_with_returning(txn)
                    .await
            }
            Self::Close(_, closure) => {
                Entity::update_many()
                    .col_expr(Column::ClosedAs, Expr::value(closed_as(closure.reason)))
                    .col_expr(Column::ClosedAt, Expr::value(stored(closure.at)?))
                    .col_expr(Column::ClosedBy, Expr::value(closure.by))
                    .filter(Column::Id.eq(id.as_uuid()))
                    .filter(Column::ClosedAt.is_null())
                    .exec_with_returning(txn)
                    .await
            }
            Self::ClaimSeat(_, staff, at) => {
                let rows = Entity::update_many()
                    .col_expr(Column::SeatHolder, Expr::value(staff.as_str()))
                    .col_expr(Column::SeatClaimedAt, Expr::value(stored(at)?))
                    .filter(Column::Id.eq(id.as_uuid()))
                    .filter(Column::ClosedAt.is_null())
                    .filter(Column::SeatHolder.is_null())
                    .exec_with_returning(txn)
                    .await
                    .map_err(from_db)?;
                if let Some(grant) = changed(rows)? {
                    return Ok(grant);
                }
                return match find(txn, id).await? {
                    None => Err(StoreError::NotFound),
                    Some(grant) if !grant.is_open() => {
                        Err(StoreError::Conflict(format!("grant {id} is closed")))
                    }
                    Some(grant) if grant.seat.as_ref().is_some_and(|s| &s.holder == staff) => {
                        Ok(grant)
                    }
                    Some(_) => Err(StoreError::Conflict(format!(
                        "the seat of grant {id} is held by another staff member"
                    ))),
                };
            }
            Self::ReleaseSeat(_, staff) => {
                let rows = Entity::update_many()
                    .col_expr(Column::SeatHolder, Expr::value(Option::<String>::None))
                    .col_expr(
                        Column::SeatClaimedAt,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter(Column::Id.eq(id.as_uuid()))
                    .filter(Column::SeatHolder.eq(staff.as_str()))
                    .exec_with_returning(txn)
                    .await
                    .map_err(from_db)?;
                if let Some(grant) = changed(rows)? {
                    return Ok(grant);
                }
                return match find(txn, id).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::Conflict(format!(
                        "{staff} does not hold the seat of grant {id}"
                    ))),
                };
            }
        };
        match changed(rows.map_err(from_db)?)? {
            Some(grant) => Ok(grant),
            None => Err(match find(txn, id).await? {
                None => StoreError::NotFound,
                Some(_) => StoreError::Conflict(format!("grant {id} is closed")),
            }),
        }
    }
}

async fn find<C: ConnectionTrait>(db: &C, id: GrantId) -> Result<Option<Grant>, StoreError> {
    Entity::find_by_id(id.as_uuid())
        .one(db)
        .await
        .map_err(from_db)?
        .map(to_domain)
        .transpose()
}

/// The single row an `UPDATE … RETURNING` changed, if any.
fn changed(rows: Vec<grant::Model>) -> Result<Option<Grant>, StoreError> {
    rows.into_iter().next().map(to_domain).transpose()
}

impl SeaOrmStore {
    /// Applies `change` and appends `event` in one transaction: both commit or neither
    /// does. The change goes first, so that an event that cannot be stored undoes it.
    async fn record(
        &self,
        change: Change<'_>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        let grant = change.apply(&txn).await?;
        let event = append_one_about_in(&txn, &event, Some(&grant)).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(Recorded { grant, event })
    }
}

#[async_trait]
impl GrantStore for SeaOrmStore {
    async fn insert(&self, grant: &Grant, event: NewAuditEvent) -> Result<Recorded, StoreError> {
        self.record(Change::Insert(grant), event).await
    }

    async fn get(&self, id: GrantId) -> Result<Grant, StoreError> {
        find(&self.inner.db, id).await?.ok_or(StoreError::NotFound)
    }

    async fn open_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        Entity::find()
            .filter(Column::Org.eq(org.as_str()))
            .filter(Column::ClosedAt.is_null())
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(to_domain)
            .transpose()
    }

    async fn latest_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        Entity::find()
            .filter(Column::Org.eq(org.as_str()))
            .order_by(Expr::col(Column::ClosedAt).is_null(), Order::Desc)
            .order_by(Column::CreatedAt, Order::Desc)
            .order_by(Column::ClosedAt, Order::Desc)
            .limit(1)
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(to_domain)
            .transpose()
    }

    async fn set_expiry(
        &self,
        id: GrantId,
        expires_at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.record(Change::SetExpiry(id, expires_at), event).await
    }

    async fn close(
        &self,
        id: GrantId,
        closure: Closure,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.record(Change::Close(id, closure), event).await
    }

    async fn claim_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.record(Change::ClaimSeat(id, staff, at), event).await
    }

    async fn release_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.record(Change::ReleaseSeat(id, staff), event).await
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Grant>, StoreError> {
        Entity::find()
            .filter(Column::ClosedAt.is_null())
            .filter(Column::ExpiresAt.lte(bound(now)))
            .order_by(Column::ExpiresAt, Order::Asc)
            .order_by(Column::Id, Order::Asc)
            .limit(u64::from(limit))
            .all(&self.inner.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
