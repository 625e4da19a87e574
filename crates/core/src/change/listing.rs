//! Listing change entries: the query, its opaque cursor and pages, newest first.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ChangeEntry;
use crate::audit::InvalidCursor;
use crate::ids::{GrantId, OrgId};

/// The largest page a change listing returns.
pub const MAX_PAGE: u32 = 1000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;

/// An opaque position in an org's listing of changes: newest event first (highest
/// `audit_seq`), and within one event in the order the entries were recorded. The next
/// page holds the entries after this one; new entries never shift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChangeCursor {
    /// The `audit_seq` of the last entry listed.
    pub audit_seq: u64,
    /// Its `ordinal`.
    pub ordinal: u32,
}

impl ChangeCursor {
    /// The text clients pass back.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("sc1.{}.{}", self.audit_seq, self.ordinal))
    }

    /// Parses a cursor produced by [`ChangeCursor::encode`].
    pub fn decode(text: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| InvalidCursor)?;
        let rest = text.strip_prefix("sc1.").ok_or(InvalidCursor)?;
        let (seq, ordinal) = rest.split_once('.').ok_or(InvalidCursor)?;
        Ok(Self {
            audit_seq: digits(seq)?,
            ordinal: digits(ordinal)?,
        })
    }

    /// Whether `entry` comes after this position in the listing.
    pub fn precedes(&self, entry: &ChangeEntry) -> bool {
        entry.audit_seq < self.audit_seq
            || (entry.audit_seq == self.audit_seq && entry.ordinal > self.ordinal)
    }
}

fn digits<T: FromStr>(text: &str) -> Result<T, InvalidCursor> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidCursor);
    }
    text.parse().map_err(|_| InvalidCursor)
}

/// A filtered listing of one org's change entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeQuery {
    /// The org; always from the caller's token.
    pub org: OrgId,
    /// Only entries of this grant.
    pub grant: Option<GrantId>,
    /// Only entries of this module.
    pub module: Option<String>,
    /// Only entries of this record id.
    pub record: Option<String>,
    /// Continue after a previous page.
    pub cursor: Option<ChangeCursor>,
    /// Page size, 1..=[`MAX_PAGE`].
    pub limit: u32,
}

impl ChangeQuery {
    /// Every entry of `org`, [`DEFAULT_PAGE`] at a time.
    pub fn new(org: OrgId) -> Self {
        Self {
            org,
            grant: None,
            module: None,
            record: None,
            cursor: None,
            limit: DEFAULT_PAGE,
        }
    }

    /// The page size clamped to 1..=[`MAX_PAGE`].
    pub fn page_size(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE)
    }

    /// Whether `entry` passes every filter and lies after the cursor. Adapters that
    /// filter in memory use this; database adapters express the same in SQL.
    pub fn matches(&self, entry: &ChangeEntry) -> bool {
        entry.org == self.org
            && self.grant.is_none_or(|g| entry.grant == g)
            && self.module.as_deref().is_none_or(|m| entry.module == m)
            && self.record.as_deref().is_none_or(|r| entry.record == r)
            && self.cursor.is_none_or(|c| c.precedes(entry))
    }
}

/// One page of a change listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    /// Newest first.
    pub entries: Vec<ChangeEntry>,
    /// Where the next page starts; `None` when no further entry matches.
    pub next_cursor: Option<ChangeCursor>,
}

impl ChangePage {
    /// Builds a page from up to `page_size + 1` matching entries in listing order: the
    /// extra one only tells that another page exists.
    pub fn from_overfetch(mut entries: Vec<ChangeEntry>, page_size: u32) -> Self {
        let page_size = page_size as usize;
        let more = entries.len() > page_size;
        entries.truncate(page_size);
        let next_cursor = if more {
            entries.last().map(ChangeEntry::position)
        } else {
            None
        };
        Self {
            entries,
            next_cursor,
        }
    }
}

/// Sorts entries into listing order: newest event first, recording order within one.
pub fn listing_order(entries: &mut [ChangeEntry]) {
    entries.sort_by_key(|e| (std::cmp::Reverse(e.audit_seq), e.ordinal));
}
