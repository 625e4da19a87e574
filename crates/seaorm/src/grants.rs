//! [`GrantStore`] on the `grants` table.
//!
//! Every change is one conditional `UPDATE … RETURNING` whose `WHERE` states the
//! precondition (open, seat free or held by the caller), so that concurrent callers on
//! any number of instances cannot both succeed; the unique partial index
//! `grants_one_open_per_org` decides racing inserts. When no row changed, a read tells
//! `NotFound` from `Conflict`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use support_access_core::grant::{ClosedAs, Closure, Grant, Seat};
use support_access_core::ids::{GrantId, OrgId, StaffId, SupportUserId};
use support_access_core::{GrantStore, StoreError};

use crate::SeaOrmStore;
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

impl SeaOrmStore {
    async fn find(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
        Entity::find_by_id(id.as_uuid())
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(to_domain)
            .transpose()
    }

    /// The single row an `UPDATE … RETURNING` changed, if any.
    fn changed(rows: Vec<grant::Model>) -> Result<Option<Grant>, StoreError> {
        rows.into_iter().next().map(to_domain).transpose()
    }

    /// Why a conditional update of an open grant changed nothing.
    async fn not_open(&self, id: GrantId) -> StoreError {
        match self.find(id).await {
            Ok(None) => StoreError::NotFound,
            Ok(Some(_)) => StoreError::Conflict(format!("grant {id} is closed")),
            Err(e) => e,
        }
    }
}

#[async_trait]
impl GrantStore for SeaOrmStore {
    async fn insert(&self, grant: &Grant) -> Result<(), StoreError> {
        let row = to_row(grant)?;
        let _guard = self.write_guard().await;
        match Entity::insert(row)
            .exec_without_returning(&self.inner.db)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(match from_db(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "org {} already has an open grant, or grant {} exists",
                    grant.org, grant.id
                )),
                other => other,
            }),
        }
    }

    async fn get(&self, id: GrantId) -> Result<Grant, StoreError> {
        self.find(id).await?.ok_or(StoreError::NotFound)
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
    ) -> Result<Grant, StoreError> {
        let _guard = self.write_guard().await;
        let rows = Entity::update_many()
            .col_expr(Column::ExpiresAt, Expr::value(stored(expires_at)?))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::ClosedAt.is_null())
            .exec_with_returning(&self.inner.db)
            .await
            .map_err(from_db)?;
        match Self::changed(rows)? {
            Some(grant) => Ok(grant),
            None => Err(self.not_open(id).await),
        }
    }

    async fn close(&self, id: GrantId, closure: Closure) -> Result<Grant, StoreError> {
        let _guard = self.write_guard().await;
        let rows = Entity::update_many()
            .col_expr(Column::ClosedAs, Expr::value(closed_as(closure.reason)))
            .col_expr(Column::ClosedAt, Expr::value(stored(closure.at)?))
            .col_expr(Column::ClosedBy, Expr::value(closure.by))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::ClosedAt.is_null())
            .exec_with_returning(&self.inner.db)
            .await
            .map_err(from_db)?;
        match Self::changed(rows)? {
            Some(grant) => Ok(grant),
            None => Err(self.not_open(id).await),
        }
    }

    async fn claim_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        at: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let _guard = self.write_guard().await;
        let rows = Entity::update_many()
            .col_expr(Column::SeatHolder, Expr::value(staff.as_str()))
            .col_expr(Column::SeatClaimedAt, Expr::value(stored(at)?))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::ClosedAt.is_null())
            .filter(Column::SeatHolder.is_null())
            .exec_with_returning(&self.inner.db)
            .await
            .map_err(from_db)?;
        if let Some(grant) = Self::changed(rows)? {
            return Ok(grant);
        }
        match self.find(id).await? {
            None => Err(StoreError::NotFound),
            Some(grant) if !grant.is_open() => {
                Err(StoreError::Conflict(format!("grant {id} is closed")))
            }
            Some(grant) if grant.seat.as_ref().is_some_and(|s| &s.holder == staff) => Ok(grant),
            Some(_) => Err(StoreError::Conflict(format!(
                "the seat of grant {id} is held by another staff member"
            ))),
        }
    }

    async fn release_seat(&self, id: GrantId, staff: &StaffId) -> Result<Grant, StoreError> {
        let _guard = self.write_guard().await;
        let rows = Entity::update_many()
            .col_expr(Column::SeatHolder, Expr::value(Option::<String>::None))
            .col_expr(
                Column::SeatClaimedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::SeatHolder.eq(staff.as_str()))
            .exec_with_returning(&self.inner.db)
            .await
            .map_err(from_db)?;
        if let Some(grant) = Self::changed(rows)? {
            return Ok(grant);
        }
        match self.find(id).await? {
            None => Err(StoreError::NotFound),
            Some(_) => Err(StoreError::Conflict(format!(
                "{staff} does not hold the seat of grant {id}"
            ))),
        }
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
