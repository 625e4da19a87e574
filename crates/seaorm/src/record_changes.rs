//! [`ChangeStore`] on the `change_entries` table.
//!
//! A batch and its `change.recorded` event share one transaction: the event goes in
//! through [`append_one_in`] (the audit log's one entry), which gives the `seq` the
//! entries are tied to, then the entries are inserted; a unique violation (an id
//! already stored, an event id already in the log) undoes both. A revert marks its
//! original with one conditional `UPDATE … WHERE reverted_by IS NULL RETURNING`, so
//! of racing reverts on any number of instances exactly one changes the row.

use async_trait::async_trait;
use sea_orm::sea_query::{Condition, Expr, Order};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use support_access_core::StoreError;
use support_access_core::audit::NewAuditEvent;
use support_access_core::change::{
    ChangeEntry, ChangeId, ChangePage, ChangeQuery, ChangeStore, FieldChange, NewChangeEntry,
    RecordedChanges, RecordedRevert, check_batch,
};
use support_access_core::ids::{GrantId, OrgId};

use crate::SeaOrmStore;
use crate::audit::append_one_in;
use crate::entity::change_entry::{self, Column, Entity};
use crate::error::{corrupt, from_db};
use crate::instant::stored;

fn to_row(
    entry: &NewChangeEntry,
    audit_seq: u64,
    ordinal: u32,
) -> Result<change_entry::ActiveModel, StoreError> {
    let fields = serde_json::to_string(&entry.fields)
        .map_err(|e| StoreError::Backend(format!("fields of change {}: {e}", entry.id)))?;
    let audit_seq = i64::try_from(audit_seq)
        .map_err(|_| StoreError::Backend(format!("audit seq {audit_seq} does not fit")))?;
    let ordinal = i32::try_from(ordinal)
        .map_err(|_| StoreError::Backend(format!("ordinal {ordinal} does not fit")))?;
    Ok(change_entry::ActiveModel {
        id: ActiveValue::Set(entry.id.as_uuid()),
        org: ActiveValue::Set(entry.org.as_str().to_owned()),
        grant_id: ActiveValue::Set(entry.grant.as_uuid()),
        actor: ActiveValue::Set(entry.actor.clone()),
        request_id: ActiveValue::Set(entry.request_id.clone()),
        at: ActiveValue::Set(stored(entry.at)?),
        module: ActiveValue::Set(entry.module.clone()),
        record: ActiveValue::Set(entry.record.clone()),
        operation: ActiveValue::Set(entry.operation.as_str().to_owned()),
        fields: ActiveValue::Set(fields),
        reverts: ActiveValue::Set(entry.reverts.map(|r| r.as_uuid())),
        reverted_by: ActiveValue::Set(None),
        audit_seq: ActiveValue::Set(audit_seq),
        ordinal: ActiveValue::Set(ordinal),
    })
}

fn to_domain(row: change_entry::Model) -> Result<ChangeEntry, StoreError> {
    let field = |what: &str| corrupt(format!("{what} of change {}", row.id));
    let fields: Vec<FieldChange> =
        serde_json::from_str(&row.fields).map_err(|_| field("fields"))?;
    Ok(ChangeEntry {
        audit_seq: u64::try_from(row.audit_seq).map_err(|_| field("audit_seq"))?,
        ordinal: u32::try_from(row.ordinal).map_err(|_| field("ordinal"))?,
        reverted_by: row.reverted_by.map(ChangeId::from_uuid),
        data: NewChangeEntry {
            id: ChangeId::from_uuid(row.id),
            org: OrgId::new(row.org),
            grant: GrantId::from_uuid(row.grant_id),
            actor: row.actor,
            request_id: row.request_id,
            at: row.at,
            module: row.module,
            record: row.record,
            operation: row.operation.parse().map_err(|_| field("operation"))?,
            fields,
            reverts: row.reverts.map(ChangeId::from_uuid),
        },
    })
}

fn refused(error: impl std::fmt::Display) -> StoreError {
    StoreError::Conflict(error.to_string())
}

async fn find<C: ConnectionTrait>(
    db: &C,
    org: &OrgId,
    id: ChangeId,
) -> Result<Option<ChangeEntry>, StoreError> {
    Entity::find_by_id(id.as_uuid())
        .filter(Column::Org.eq(org.as_str()))
        .one(db)
        .await
        .map_err(from_db)?
        .map(to_domain)
        .transpose()
}

/// Marks `original` (of `org`) as reverted by `revert`, if it is not yet: the row as
/// changed, or `NotFound` / `Conflict`.
async fn mark_reverted(
    txn: &DatabaseTransaction,
    org: &OrgId,
    original: ChangeId,
    revert: ChangeId,
) -> Result<ChangeEntry, StoreError> {
    let rows = Entity::update_many()
        .col_expr(Column::RevertedBy, Expr::value(revert.as_uuid()))
        .filter(Column::Id.eq(original.as_uuid()))
        .filter(Column::Org.eq(org.as_str()))
        .filter(Column::RevertedBy.is_null())
        .exec_with_returning(txn)
        .await
        .map_err(from_db)?;
    match rows.into_iter().next() {
        Some(row) => to_domain(row),
        None => match find(txn, org, original).await? {
            None => Err(StoreError::NotFound),
            Some(entry) => Err(StoreError::Conflict(format!(
                "change {original} was already reverted by {}",
                entry.reverted_by.map(|r| r.to_string()).unwrap_or_default()
            ))),
        },
    }
}

#[async_trait]
impl ChangeStore for SeaOrmStore {
    async fn record(
        &self,
        entries: Vec<NewChangeEntry>,
        event: NewAuditEvent,
    ) -> Result<RecordedChanges, StoreError> {
        check_batch(&event, &entries).map_err(refused)?;
        let (_guard, txn) = self.begin_write().await?;
        let event = append_one_in(&txn, &event).await?;
        let rows = (0..)
            .zip(&entries)
            .map(|(ordinal, entry)| to_row(entry, event.seq, ordinal))
            .collect::<Result<Vec<_>, _>>()?;
        Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        txn.commit().await.map_err(from_db)?;
        let entries = (0..)
            .zip(entries)
            .map(|(ordinal, mut data)| {
                data.at = support_access_core::time::to_micros(data.at);
                ChangeEntry {
                    audit_seq: event.seq,
                    ordinal,
                    reverted_by: None,
                    data,
                }
            })
            .collect();
        Ok(RecordedChanges { entries, event })
    }

    async fn list(&self, query: &ChangeQuery) -> Result<ChangePage, StoreError> {
        let page_size = query.page_size();
        let mut select = Entity::find().filter(Column::Org.eq(query.org.as_str()));
        if let Some(grant) = query.grant {
            select = select.filter(Column::GrantId.eq(grant.as_uuid()));
        }
        if let Some(module) = &query.module {
            select = select.filter(Column::Module.eq(module.as_str()));
        }
        if let Some(record) = &query.record {
            select = select.filter(Column::Record.eq(record.as_str()));
        }
        if let Some(cursor) = query.cursor {
            let seq = i64::try_from(cursor.audit_seq).unwrap_or(i64::MAX);
            let ordinal = i32::try_from(cursor.ordinal).unwrap_or(i32::MAX);
            select = select.filter(
                Condition::any().add(Column::AuditSeq.lt(seq)).add(
                    Condition::all()
                        .add(Column::AuditSeq.eq(seq))
                        .add(Column::Ordinal.gt(ordinal)),
                ),
            );
        }
        let rows = select
            .order_by(Column::AuditSeq, Order::Desc)
            .order_by(Column::Ordinal, Order::Asc)
            .limit(u64::from(page_size) + 1)
            .all(&self.inner.db)
            .await
            .map_err(from_db)?;
        let entries = rows
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChangePage::from_overfetch(entries, page_size))
    }

    async fn get(&self, org: &OrgId, id: ChangeId) -> Result<ChangeEntry, StoreError> {
        find(&self.inner.db, org, id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn record_revert(
        &self,
        original: ChangeId,
        mut revert: NewChangeEntry,
        event: NewAuditEvent,
    ) -> Result<RecordedRevert, StoreError> {
        revert.reverts = Some(original);
        check_batch(&event, std::slice::from_ref(&revert)).map_err(refused)?;
        let (_guard, txn) = self.begin_write().await?;
        let original = mark_reverted(&txn, &event.org, original, revert.id).await?;
        let event = append_one_in(&txn, &event).await?;
        Entity::insert(to_row(&revert, event.seq, 0)?)
            .exec_without_returning(&txn)
            .await
            .map_err(from_db)?;
        txn.commit().await.map_err(from_db)?;
        revert.at = support_access_core::time::to_micros(revert.at);
        Ok(RecordedRevert {
            revert: ChangeEntry {
                audit_seq: event.seq,
                ordinal: 0,
                reverted_by: None,
                data: revert,
            },
            original,
            event,
        })
    }
}
