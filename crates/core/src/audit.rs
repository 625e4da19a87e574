//! The audit log's events, their canonical encoding and SHA-256 chain, queries and
//! cursors.
//!
//! Every org has one append-only stream. The store assigns each event the next `seq`
//! (1, 2, 3, … with no gap) and chains it to its predecessor:
//! `hash = SHA-256(canonical(event with prev_hash))`, where `prev_hash` is the previous
//! event's `hash`, or [`GENESIS`] for the first. Changing, removing or reordering any
//! stored event breaks the chain at that event, which [`ChainVerifier`] reports.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use crate::approval::ApprovalId;
use crate::ids::{GrantId, OrgId, SupportUserId};
use crate::time::{format_micros, to_micros};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// An admin granted access.
    #[serde(rename = "grant.created")]
    GrantCreated,
    /// An admin changed the end date.
    #[serde(rename = "grant.changed")]
    GrantChanged,
    /// An admin revoked access.
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    /// The end date passed and the grant was closed.
    #[serde(rename = "grant.expired")]
    GrantExpired,
    /// A staff member exchanged a staff token for a support token.
    #[serde(rename = "token.issued")]
    TokenIssued,
    /// The seat holder released the support seat.
    #[serde(rename = "seat.released")]
    SeatReleased,
    /// A support request passed the policy and is being forwarded.
    #[serde(rename = "request.allowed")]
    RequestAllowed,
    /// A support request was refused.
    #[serde(rename = "request.blocked")]
    RequestBlocked,
    /// A forwarded support request finished (status, latency).
    #[serde(rename = "request.completed")]
    RequestCompleted,
    /// The records a support write changed were recorded (SPEC §11).
    #[serde(rename = "change.recorded")]
    ChangeRecorded,
    /// An admin put a support change back (SPEC §11).
    #[serde(rename = "change.reverted")]
    ChangeReverted,
    /// A support request refused by an approvable rule is waiting for the admin.
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// An admin approved one request.
    #[serde(rename = "approval.approved")]
    ApprovalApproved,
    /// An admin denied one request.
    #[serde(rename = "approval.denied")]
    ApprovalDenied,
    /// An approved request was forwarded, once.
    #[serde(rename = "approval.used")]
    ApprovalUsed,
}

impl AuditKind {
    /// Every kind, in catalogue order.
    pub const ALL: [AuditKind; 15] = [
        Self::GrantCreated,
        Self::GrantChanged,
        Self::GrantRevoked,
        Self::GrantExpired,
        Self::TokenIssued,
        Self::SeatReleased,
        Self::RequestAllowed,
        Self::RequestBlocked,
        Self::RequestCompleted,
        Self::ChangeRecorded,
        Self::ChangeReverted,
        Self::ApprovalRequested,
        Self::ApprovalApproved,
        Self::ApprovalDenied,
        Self::ApprovalUsed,
    ];

    /// The kind as the API and the store spell it, e.g. `grant.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GrantCreated => "grant.created",
            Self::GrantChanged => "grant.changed",
            Self::GrantRevoked => "grant.revoked",
            Self::GrantExpired => "grant.expired",
            Self::TokenIssued => "token.issued",
            Self::SeatReleased => "seat.released",
            Self::RequestAllowed => "request.allowed",
            Self::RequestBlocked => "request.blocked",
            Self::RequestCompleted => "request.completed",
            Self::ChangeRecorded => "change.recorded",
            Self::ChangeReverted => "change.reverted",
            Self::ApprovalRequested => "approval.requested",
            Self::ApprovalApproved => "approval.approved",
            Self::ApprovalDenied => "approval.denied",
            Self::ApprovalUsed => "approval.used",
        }
    }

    /// The policy decision this kind records, if it records one.
    pub fn decision(self) -> Option<Decision> {
        match self {
            Self::RequestAllowed => Some(Decision::Allowed),
            Self::RequestBlocked => Some(Decision::Blocked),
            _ => None,
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown audit kind or decision name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown value `{0}`")]
pub struct UnknownName(pub String);

impl FromStr for AuditKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// The policy decision on a support request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded.
    Allowed,
    /// Refused.
    Blocked,
}

impl Decision {
    /// `allowed` or `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Blocked => "blocked",
        }
    }

    /// The kind that records this decision.
    pub fn kind(self) -> AuditKind {
        match self {
            Self::Allowed => AuditKind::RequestAllowed,
            Self::Blocked => AuditKind::RequestBlocked,
        }
    }
}

impl FromStr for Decision {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allowed" => Ok(Self::Allowed),
            "blocked" => Ok(Self::Blocked),
            _ => Err(UnknownName(s.to_owned())),
        }
    }
}

/// An event as its producer writes it, before the store places it in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    /// Unique id, chosen by the producer.
    pub id: Uuid,
    /// The org whose stream the event belongs to.
    pub org: OrgId,
    /// When it happened, UTC, microsecond precision.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: AuditKind,
    /// The grant concerned.
    pub grant: Option<GrantId>,
    /// The hidden support user concerned.
    pub support_user: Option<SupportUserId>,
    /// The staff id on support events; the admin's `sub` on lifecycle events.
    pub actor: Option<String>,
    /// HTTP method of a support request.
    pub method: Option<String>,
    /// Normalised path of a support request.
    pub path: Option<String>,
    /// HTTP status answered.
    pub status: Option<u16>,
    /// The policy rule that decided.
    pub rule: Option<String>,
    /// The restriction (1–32) that refused.
    pub restriction: Option<u8>,
    /// Time to answer, in milliseconds.
    pub latency_ms: Option<u64>,
    /// The request id, also in logs and refusal bodies.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// SHA-256 (hex) of the request body, where one was read.
    pub body_sha256: Option<String>,
    /// The grant's reason, stamped on every event of the grant.
    pub reason: Option<String>,
    /// The grant's ticket, stamped on every event of the grant.
    pub ticket: Option<String>,
    /// On a refusal, its stable code (`restricted`, `support_access_revoked`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The side-effect rewrites the gateway made to a forwarded support request's body
    /// (`trigger:-workflow`, `notify:false`, …), in order; empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrites: Vec<String>,
    /// On `change.recorded` and `change.reverted`: SHA-256 (hex) of the change entries
    /// the event records ([`crate::change::digest`]), so that the audit chain vouches
    /// for every field's before and after stored beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_sha256: Option<String>,
    /// The one-request approval concerned (requested, decided, used, or the one a
    /// forwarded request was allowed by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalId>,
}

impl NewAuditEvent {
    /// An event of `kind` for `org` at `at` with a fresh id and every optional field empty.
    pub fn new(org: OrgId, kind: AuditKind, at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            org,
            at: to_micros(at),
            kind,
            grant: None,
            support_user: None,
            actor: None,
            method: None,
            path: None,
            status: None,
            rule: None,
            restriction: None,
            latency_ms: None,
            request_id: None,
            client_ip: None,
            user_agent: None,
            body_sha256: None,
            reason: None,
            ticket: None,
            error: None,
            rewrites: Vec::new(),
            changes_sha256: None,
            approval: None,
        }
    }

    /// Places the event in its org's chain: `seq`, `prev_hash`, and the `hash` over the
    /// canonical encoding. Stores call this while they hold the org's append order.
    pub fn seal(mut self, seq: u64, prev_hash: ChainHash) -> AuditEvent {
        self.at = to_micros(self.at);
        let hash = chain_hash(&self, seq, &prev_hash);
        AuditEvent {
            seq,
            prev_hash,
            hash,
            data: self,
        }
    }
}

/// A SHA-256 digest in the audit chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

/// The `prev_hash` of an org's first event: 32 zero bytes.
pub const GENESIS: ChainHash = ChainHash([0; 32]);

impl ChainHash {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An event in its org's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the org's stream: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// The previous event's `hash`, or [`GENESIS`].
    pub prev_hash: ChainHash,
    /// SHA-256 over the canonical encoding of this event and `prev_hash`.
    pub hash: ChainHash,
    /// What the producer wrote.
    #[serde(flatten)]
    pub data: NewAuditEvent,
}

impl Deref for AuditEvent {
    type Target = NewAuditEvent;

    fn deref(&self) -> &NewAuditEvent {
        &self.data
    }
}

impl AuditEvent {
    /// The decision recorded, from the kind.
    pub fn decision(&self) -> Option<Decision> {
        self.kind.decision()
    }

    /// The hash this event should carry given its content; differs from `hash` when
    /// the stored event was altered.
    pub fn expected_hash(&self) -> ChainHash {
        chain_hash(&self.data, self.seq, &self.prev_hash)
    }
}

/// The canonical encoding: a version line, then one `name=value` line per field in a
/// fixed order, each value length-prefixed (`len:bytes`) or `~` when absent, so that no
/// two different events encode alike.
///
/// The fields added later (`error`, `rewrites`, `changes_sha256`, then `approval`) are
/// written only when present, in that order, just before `prev_hash`: an event without
/// them encodes exactly as before they existed, so events stored earlier still verify.
/// `rewrites` is `count;` followed by each rewrite length-prefixed (`17:trigger:-workflow`).
pub fn canonical_encoding(event: &NewAuditEvent, seq: u64, prev_hash: &ChainHash) -> Vec<u8> {
    use crate::canonical::field;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"support-access/audit/v1\n");
    let e = event;
    field(&mut out, "id", Some(&e.id.to_string()));
    field(&mut out, "org", Some(e.org.as_str()));
    field(&mut out, "seq", Some(&seq.to_string()));
    field(&mut out, "at", Some(&format_micros(e.at)));
    field(&mut out, "kind", Some(e.kind.as_str()));
    field(&mut out, "grant", e.grant.map(|g| g.to_string()).as_deref());
    field(
        &mut out,
        "support_user",
        e.support_user.map(|u| u.to_string()).as_deref(),
    );
    field(&mut out, "actor", e.actor.as_deref());
    field(&mut out, "method", e.method.as_deref());
    field(&mut out, "path", e.path.as_deref());
    field(
        &mut out,
        "status",
        e.status.map(|s| s.to_string()).as_deref(),
    );
    field(&mut out, "rule", e.rule.as_deref());
    field(
        &mut out,
        "restriction",
        e.restriction.map(|r| r.to_string()).as_deref(),
    );
    field(
        &mut out,
        "latency_ms",
        e.latency_ms.map(|l| l.to_string()).as_deref(),
    );
    field(&mut out, "request_id", e.request_id.as_deref());
    field(&mut out, "client_ip", e.client_ip.as_deref());
    field(&mut out, "user_agent", e.user_agent.as_deref());
    field(&mut out, "body_sha256", e.body_sha256.as_deref());
    field(&mut out, "reason", e.reason.as_deref());
    field(&mut out, "ticket", e.ticket.as_deref());
    if let Some(error) = &e.error {
        field(&mut out, "error", Some(error));
    }
    if !e.rewrites.is_empty() {
        let mut list = format!("{};", e.rewrites.len());
        for rewrite in &e.rewrites {
            list.push_str(&rewrite.len().to_string());
            list.push(':');
            list.push_str(rewrite);
        }
        field(&mut out, "rewrites", Some(&list));
    }
    if let Some(digest) = &e.changes_sha256 {
        field(&mut out, "changes_sha256", Some(digest));
    }
    if let Some(approval) = &e.approval {
        field(&mut out, "approval", Some(&approval.to_string()));
    }
    field(&mut out, "prev_hash", Some(&prev_hash.to_hex()));
    out
}

fn chain_hash(event: &NewAuditEvent, seq: u64, prev_hash: &ChainHash) -> ChainHash {
    ChainHash(Sha256::digest(canonical_encoding(event, seq, prev_hash)).into())
}

/// Where and why an org's chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("audit chain of org {org} broken at seq {seq} (event {id}): {problem}")]
pub struct ChainBreak {
    /// The org.
    pub org: OrgId,
    /// The seq of the first event that does not verify.
    pub seq: u64,
    /// Its id.
    pub id: Uuid,
    /// What is wrong with it.
    pub problem: ChainProblem,
}

/// What is wrong with the first broken event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainProblem {
    /// A seq is missing or repeated before this event.
    #[error("expected seq {expected}")]
    SeqGap {
        /// The seq that should have come.
        expected: u64,
    },
    /// `prev_hash` is not the previous event's hash.
    #[error("prev_hash does not match the previous event's hash")]
    PrevHashMismatch,
    /// The stored hash is not the hash of the stored content.
    #[error("hash does not match the event's content")]
    HashMismatch,
    /// The event belongs to another org.
    #[error("event belongs to another org")]
    WrongOrg,
}

/// Checks an org's events in ascending `seq` order, one at a time, so that a chain of
/// any length verifies in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    org: OrgId,
    next_seq: u64,
    prev_hash: ChainHash,
}

impl ChainVerifier {
    /// A verifier for `org`'s stream from its first event.
    pub fn new(org: OrgId) -> Self {
        Self {
            org,
            next_seq: 1,
            prev_hash: GENESIS,
        }
    }

    /// Checks the next event.
    pub fn check(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let problem = if event.org != self.org {
            Some(ChainProblem::WrongOrg)
        } else if event.seq != self.next_seq {
            Some(ChainProblem::SeqGap {
                expected: self.next_seq,
            })
        } else if event.prev_hash != self.prev_hash {
            Some(ChainProblem::PrevHashMismatch)
        } else if event.expected_hash() != event.hash {
            Some(ChainProblem::HashMismatch)
        } else {
            None
        };
        match problem {
            Some(problem) => Err(ChainBreak {
                org: self.org.clone(),
                seq: event.seq,
                id: event.id,
                problem,
            }),
            None => {
                self.next_seq += 1;
                self.prev_hash = event.hash;
                Ok(())
            }
        }
    }

    /// How many events verified so far.
    pub fn verified(&self) -> u64 {
        self.next_seq - 1
    }

    /// The hash of the last verified event ([`GENESIS`] before the first).
    pub fn head(&self) -> ChainHash {
        self.prev_hash
    }
}

/// The largest page an audit query returns.
pub const MAX_PAGE: u32 = 1000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;

/// An opaque position in an org's newest-first listing: the next page holds the events
/// with a smaller `seq`. New appends never shift it, so paging is stable under
/// concurrent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// Events with `seq` strictly below this come next.
    pub before_seq: u64,
}

/// A cursor that was not produced by this service.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the cursor is not valid")]
pub struct InvalidCursor;

impl AuditCursor {
    /// The text clients pass back.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("sa1.{}", self.before_seq))
    }

    /// Parses a cursor produced by [`AuditCursor::encode`].
    pub fn decode(text: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| InvalidCursor)?;
        let seq = text.strip_prefix("sa1.").ok_or(InvalidCursor)?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidCursor);
        }
        let before_seq = seq.parse().map_err(|_| InvalidCursor)?;
        Ok(Self { before_seq })
    }
}

/// A filtered, newest-first listing of one org's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The org; always from the caller's token.
    pub org: OrgId,
    /// Only events of this actor (staff id or admin `sub`).
    pub actor: Option<String>,
    /// Only events of this hidden support user.
    pub support_user: Option<SupportUserId>,
    /// Only events of this grant.
    pub grant: Option<GrantId>,
    /// Only events of this kind.
    pub kind: Option<AuditKind>,
    /// Only request events with this decision.
    pub decision: Option<Decision>,
    /// Only events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only events strictly before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Continue after a previous page.
    pub cursor: Option<AuditCursor>,
    /// Page size, 1..=[`MAX_PAGE`].
    pub limit: u32,
}

impl AuditQuery {
    /// Every event of `org`, [`DEFAULT_PAGE`] at a time.
    pub fn new(org: OrgId) -> Self {
        Self {
            org,
            actor: None,
            support_user: None,
            grant: None,
            kind: None,
            decision: None,
            from: None,
            to: None,
            cursor: None,
            limit: DEFAULT_PAGE,
        }
    }

    /// The page size clamped to 1..=[`MAX_PAGE`].
    pub fn page_size(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE)
    }

    /// Whether `event` passes every filter and lies after the cursor. Adapters that
    /// filter in memory use this; database adapters express the same in SQL.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        event.org == self.org
            && self
                .actor
                .as_deref()
                .is_none_or(|a| event.actor.as_deref() == Some(a))
            && self
                .support_user
                .is_none_or(|u| event.support_user == Some(u))
            && self.grant.is_none_or(|g| event.grant == Some(g))
            && self.kind.is_none_or(|k| event.kind == k)
            && self.decision.is_none_or(|d| event.decision() == Some(d))
            && self.from.is_none_or(|from| event.at >= from)
            && self.to.is_none_or(|to| event.at < to)
            && self.cursor.is_none_or(|c| event.seq < c.before_seq)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Where the next page starts; `None` when no further event matches.
    pub next_cursor: Option<AuditCursor>,
}

impl AuditPage {
    /// Builds a page from up to `page_size + 1` matching events, newest first: the extra
    /// one only tells that another page exists.
    pub fn from_overfetch(mut events: Vec<AuditEvent>, page_size: u32) -> Self {
        let page_size = page_size as usize;
        let more = events.len() > page_size;
        events.truncate(page_size);
        let next_cursor = if more {
            events.last().map(|e| AuditCursor { before_seq: e.seq })
        } else {
            None
        };
        Self {
            events,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests;
