//! [`AuditLog`] on the `audit_events` and `audit_heads` tables.
//!
//! Appends go through the store's [`Appender`] (group commit) and write each org's
//! Merkle tree with the events (`tree`); reads are plain queries on the primary key
//! `(org, seq)` and the per-filter indexes.

use async_trait::async_trait;
use sea_orm::sea_query::Order;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use support_access_core::approval::ApprovalId;
use support_access_core::audit::{
    AuditEvent, AuditKind, AuditPage, AuditQuery, ChainHash, NewAuditEvent,
};
use support_access_core::ids::{GrantId, OrgId, SupportUserId};
use support_access_core::{AuditLog, StoreError};

use crate::SeaOrmStore;
use crate::entity::audit_event::{self, Column, Entity};
use crate::entity::audit_head;
use crate::error::{corrupt, from_db};
use crate::instant::{self, bound, ceil};

mod appender;
mod chain;
mod tree;

pub use appender::AppendStats;
pub(crate) use appender::Appender;
pub(crate) use chain::{append_one_about_in, append_one_in};
#[cfg(feature = "bench-internals")]
pub(crate) use tree::TREE_DISABLED;
pub(crate) use tree::{backfill, tree_hash};

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("{what} {value} does not fit a 64-bit column")))
}

/// The row of a sealed event.
fn to_row(event: &AuditEvent) -> Result<audit_event::ActiveModel, StoreError> {
    let e = &event.data;
    Ok(audit_event::ActiveModel {
        org: ActiveValue::Set(e.org.as_str().to_owned()),
        seq: ActiveValue::Set(to_i64(event.seq, "seq")?),
        id: ActiveValue::Set(e.id),
        at: ActiveValue::Set(instant::stored(e.at)?),
        kind: ActiveValue::Set(e.kind.as_str().to_owned()),
        grant_id: ActiveValue::Set(e.grant.map(|g| g.as_uuid())),
        support_user: ActiveValue::Set(
            e.support_user
                .map(|u| to_i64(u.get(), "support user"))
                .transpose()?,
        ),
        actor: ActiveValue::Set(e.actor.clone()),
        method: ActiveValue::Set(e.method.clone()),
        path: ActiveValue::Set(e.path.clone()),
        status: ActiveValue::Set(e.status.map(i32::from)),
        rule: ActiveValue::Set(e.rule.clone()),
        restriction: ActiveValue::Set(e.restriction.map(i16::from)),
        latency_ms: ActiveValue::Set(e.latency_ms.map(|l| to_i64(l, "latency_ms")).transpose()?),
        request_id: ActiveValue::Set(e.request_id.clone()),
        client_ip: ActiveValue::Set(e.client_ip.clone()),
        user_agent: ActiveValue::Set(e.user_agent.clone()),
        body_sha256: ActiveValue::Set(e.body_sha256.clone()),
        reason: ActiveValue::Set(e.reason.clone()),
        ticket: ActiveValue::Set(e.ticket.clone()),
        error: ActiveValue::Set(e.error.clone()),
        rewrites: ActiveValue::Set(if e.rewrites.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&e.rewrites)
                    .map_err(|err| StoreError::Backend(format!("rewrites: {err}")))?,
            )
        }),
        changes_sha256: ActiveValue::Set(e.changes_sha256.clone()),
        approval: ActiveValue::Set(e.approval.map(|a| a.as_uuid())),
        prev_hash: ActiveValue::Set(event.prev_hash.to_hex()),
        hash: ActiveValue::Set(event.hash.to_hex()),
    })
}

/// The event exactly as stored: nothing is recomputed, so that verification sees any
/// change made behind the log's back.
fn to_domain(row: audit_event::Model) -> Result<AuditEvent, StoreError> {
    let where_ = format!("audit event {} seq {}", row.org, row.seq);
    let field = |what: &str| corrupt(format!("{what} of {where_}"));
    let kind: AuditKind = row.kind.parse().map_err(|_| field("kind"))?;
    let seq = u64::try_from(row.seq).map_err(|_| field("seq"))?;
    let support_user = row
        .support_user
        .map(|u| u64::try_from(u).map(SupportUserId::from_u64))
        .transpose()
        .map_err(|_| field("support_user"))?;
    let status = row
        .status
        .map(u16::try_from)
        .transpose()
        .map_err(|_| field("status"))?;
    let restriction = row
        .restriction
        .map(u8::try_from)
        .transpose()
        .map_err(|_| field("restriction"))?;
    let latency_ms = row
        .latency_ms
        .map(u64::try_from)
        .transpose()
        .map_err(|_| field("latency_ms"))?;
    let rewrites: Vec<String> = match row.rewrites.as_deref() {
        None => Vec::new(),
        Some(text) => serde_json::from_str(text).map_err(|_| field("rewrites"))?,
    };
    let prev_hash = ChainHash::from_hex(row.prev_hash.trim()).map_err(|_| field("prev_hash"))?;
    let hash = ChainHash::from_hex(row.hash.trim()).map_err(|_| field("hash"))?;
    Ok(AuditEvent {
        seq,
        prev_hash,
        hash,
        data: NewAuditEvent {
            id: row.id,
            org: OrgId::new(row.org),
            at: row.at,
            kind,
            grant: row.grant_id.map(GrantId::from_uuid),
            support_user,
            actor: row.actor,
            method: row.method,
            path: row.path,
            status,
            rule: row.rule,
            restriction,
            latency_ms,
            request_id: row.request_id,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
            body_sha256: row.body_sha256,
            reason: row.reason,
            ticket: row.ticket,
            error: row.error,
            rewrites,
            changes_sha256: row.changes_sha256,
            approval: row.approval.map(ApprovalId::from_uuid),
        },
    })
}

impl SeaOrmStore {
    /// What this store's audit writer has committed so far (for metrics and tests).
    pub fn audit_append_stats(&self) -> AppendStats {
        self.inner.appender.stats()
    }
}

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn append(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        self.inner.appender.append(event).await
    }

    async fn query(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let page_size = query.page_size();
        let empty = AuditPage {
            events: Vec::new(),
            next_cursor: None,
        };
        let mut select = Entity::find().filter(Column::Org.eq(query.org.as_str()));
        if let Some(actor) = &query.actor {
            select = select.filter(Column::Actor.eq(actor.as_str()));
        }
        if let Some(user) = query.support_user {
            // No stored support user exceeds i64::MAX.
            let Ok(user) = i64::try_from(user.get()) else {
                return Ok(empty);
            };
            select = select.filter(Column::SupportUser.eq(user));
        }
        if let Some(grant) = query.grant {
            select = select.filter(Column::GrantId.eq(grant.as_uuid()));
        }
        if let Some(kind) = query.kind {
            select = select.filter(Column::Kind.eq(kind.as_str()));
        }
        if let Some(decision) = query.decision {
            select = select.filter(Column::Kind.eq(decision.kind().as_str()));
        }
        // Stored instants are whole microseconds: `at >= from` is `at >= ceil(from)`
        // and `at < to` is `at < ceil(to)`, bounds the database can hold exactly.
        if let Some(from) = query.from.map(ceil) {
            if from > instant::last() {
                return Ok(empty);
            }
            select = select.filter(Column::At.gte(bound(from)));
        }
        if let Some(to) = query.to.map(ceil)
            && to <= instant::last()
        {
            select = select.filter(Column::At.lt(bound(to)));
        }
        if let Some(cursor) = query.cursor {
            let before = i64::try_from(cursor.before_seq).unwrap_or(i64::MAX);
            select = select.filter(Column::Seq.lt(before));
        }
        let rows = select
            .order_by(Column::Seq, Order::Desc)
            .limit(u64::from(page_size) + 1)
            .all(&self.inner.db)
            .await
            .map_err(from_db)?;
        let events = rows
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AuditPage::from_overfetch(events, page_size))
    }

    async fn scan(
        &self,
        org: &OrgId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let Ok(after) = i64::try_from(after_seq) else {
            return Ok(Vec::new());
        };
        Entity::find()
            .filter(Column::Org.eq(org.as_str()))
            .filter(Column::Seq.gt(after))
            .order_by(Column::Seq, Order::Asc)
            .limit(u64::from(limit))
            .all(&self.inner.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn orgs(&self) -> Result<Vec<OrgId>, StoreError> {
        // Every org with an event has a head, written in the event's transaction.
        Ok(audit_head::Entity::find()
            .filter(audit_head::Column::Seq.gt(0))
            .order_by(audit_head::Column::Org, Order::Asc)
            .all(&self.inner.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(|head| OrgId::new(head.org))
            .collect())
    }
}
