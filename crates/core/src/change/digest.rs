//! The digest that ties change entries to the audit chain: the `changes_sha256` of
//! their `change.recorded` (or `change.reverted`) event is SHA-256 over a canonical
//! encoding of the entries, so the hash chain and the signed checkpoints vouch for
//! every before and after stored beside the log. Someone who rewrites a stored value
//! must also rewrite the event, which breaks the chain.
//!
//! The encoding is a version line, the entry count, then per entry one `name=value`
//! line per field in a fixed order, each value `len:bytes` or `~` when absent (as the
//! audit log's canonical encoding). JSON values are written canonically: object keys
//! sorted, no whitespace, numbers and strings as `serde_json` writes them, so a value
//! that was stored as JSON text and read back digests alike.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{ChangeEntry, NewChangeEntry};
use crate::audit::NewAuditEvent;
use crate::canonical::field;
use crate::time::format_micros;

/// SHA-256 (lower-case hex) of `entries` in the order given.
pub fn digest<'a>(entries: impl IntoIterator<Item = &'a NewChangeEntry>) -> String {
    let entries: Vec<&NewChangeEntry> = entries.into_iter().collect();
    let mut out = Vec::with_capacity(256 * entries.len().max(1));
    out.extend_from_slice(b"support-access/changes/v1\n");
    field(&mut out, "count", Some(&entries.len().to_string()));
    for e in entries {
        field(&mut out, "id", Some(&e.id.to_string()));
        field(&mut out, "org", Some(e.org.as_str()));
        field(&mut out, "grant", Some(&e.grant.to_string()));
        field(&mut out, "actor", Some(&e.actor));
        field(&mut out, "request_id", Some(&e.request_id));
        field(&mut out, "at", Some(&format_micros(e.at)));
        field(&mut out, "module", Some(&e.module));
        field(&mut out, "record", Some(&e.record));
        field(&mut out, "operation", Some(e.operation.as_str()));
        field(
            &mut out,
            "reverts",
            e.reverts.map(|r| r.to_string()).as_deref(),
        );
        field(&mut out, "fields", Some(&e.fields.len().to_string()));
        for f in &e.fields {
            field(&mut out, "name", Some(&f.name));
            field(
                &mut out,
                "before",
                f.before.as_ref().map(canonical).as_deref(),
            );
            field(
                &mut out,
                "after",
                f.after.as_ref().map(canonical).as_deref(),
            );
        }
    }
    hex::encode(Sha256::digest(&out))
}

/// Whether `event` vouches for `entries`, the stored entries of that event: each one
/// points at it (`audit_seq`), they come in `ordinal` order 0, 1, 2, … and the
/// event's `changes_sha256` is their digest. What a verifier of the report checks
/// once the event itself has verified in its chain.
pub fn vouches(event: &crate::audit::AuditEvent, entries: &[ChangeEntry]) -> bool {
    let tied = (0..).zip(entries).all(|(ordinal, entry)| {
        entry.audit_seq == event.seq && entry.ordinal == ordinal && entry.org == event.org
    });
    tied && carries_digest(event, entries.iter().map(|e| &e.data))
}

/// Whether `event`'s `changes_sha256` is the digest of `entries`.
pub fn carries_digest<'a>(
    event: &NewAuditEvent,
    entries: impl IntoIterator<Item = &'a NewChangeEntry>,
) -> bool {
    event.changes_sha256.as_deref() == Some(digest(entries).as_str())
}

/// `value` as JSON text with object keys sorted at every depth.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(&map[key], out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
