//! The report of what support changed under a grant: JSON (entries with their field
//! changes, SPEC §11's shape) and CSV (a row per field change). Pure functions over
//! entries the caller has read.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::{ChangeEntry, FieldChange};
use crate::ids::GrantId;

/// An instant as the management API writes it: RFC 3339 UTC, fractional seconds only
/// when there are any (`2026-12-02T10:00:00Z`, `…T10:00:00.123456Z`).
pub fn api_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// One entry as the API shows it: `id`, `at`, `grant`, `actor`, `request_id`,
/// `audit_seq`, `module`, `record`, `operation`, `fields` (`name`, and `before` /
/// `after` only where present), and `reverts` / `reverted_by` where set.
pub fn entry_json(entry: &ChangeEntry) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(entry.id.to_string()));
    out.insert("at".into(), json!(api_time(entry.at)));
    out.insert("grant".into(), json!(entry.grant.to_string()));
    out.insert("actor".into(), json!(entry.actor));
    out.insert("request_id".into(), json!(entry.request_id));
    out.insert("audit_seq".into(), json!(entry.audit_seq));
    out.insert("module".into(), json!(entry.module));
    out.insert("record".into(), json!(entry.record));
    out.insert("operation".into(), json!(entry.operation.as_str()));
    let fields: Vec<Value> = entry.fields.iter().map(field_json).collect();
    out.insert("fields".into(), Value::Array(fields));
    if let Some(reverts) = entry.reverts {
        out.insert("reverts".into(), json!(reverts.to_string()));
    }
    if let Some(by) = entry.reverted_by {
        out.insert("reverted_by".into(), json!(by.to_string()));
    }
    Value::Object(out)
}

fn field_json(field: &FieldChange) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(field.name));
    if let Some(before) = &field.before {
        out.insert("before".into(), before.clone());
    }
    if let Some(after) = &field.after {
        out.insert("after".into(), after.clone());
    }
    Value::Object(out)
}

/// The whole report of `grant` as JSON: `grant`, `generated_at`, `checkpoint` (the
/// signed audit checkpoint current when it was made, SPEC §6.1; `null` when the caller
/// has none) and `changes`, in the order given (the service gives them oldest first).
pub fn report_json(
    grant: GrantId,
    entries: &[ChangeEntry],
    checkpoint: Option<&str>,
    generated_at: DateTime<Utc>,
) -> Value {
    json!({
        "grant": grant.to_string(),
        "generated_at": api_time(generated_at),
        "checkpoint": checkpoint,
        "changes": entries.iter().map(entry_json).collect::<Vec<_>>(),
    })
}

/// The columns of the CSV report, in order.
pub const CSV_HEADER: [&str; 12] = [
    "change",
    "at",
    "grant",
    "actor",
    "request_id",
    "audit_seq",
    "module",
    "record",
    "operation",
    "field",
    "before",
    "after",
];

/// The report as CSV (RFC 4180, `\r\n` line ends via the `csv` crate): a header, then a
/// row per field change, in the order given. `before` and `after` hold the value as
/// JSON text (`"Acme"`, `42`, `null`, `{"id":"7"}`), empty when absent, so absent,
/// `null` and the empty string stay distinct. An entry without field changes (a revert
/// that found nothing to change) still has one row, with `field` empty.
///
/// Text cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
/// `@`, tab or carriage return) are prefixed with `'` (OWASP's CSV-injection advice);
/// the JSON value cells never start so, except a negative number, which is a number.
pub fn report_csv(entries: &[ChangeEntry]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    for entry in entries {
        let head = [
            entry.id.to_string(),
            api_time(entry.at),
            entry.grant.to_string(),
            inert(&entry.actor),
            inert(&entry.request_id),
            entry.audit_seq.to_string(),
            inert(&entry.module),
            inert(&entry.record),
            entry.operation.as_str().to_owned(),
        ];
        if entry.fields.is_empty() {
            let row = head
                .iter()
                .cloned()
                .chain(["".into(), "".into(), "".into()]);
            writer.write_record(row.collect::<Vec<String>>())?;
        }
        for field in &entry.fields {
            let tail = [
                inert(&field.name),
                json_cell(field.before.as_ref()),
                json_cell(field.after.as_ref()),
            ];
            writer.write_record(head.iter().chain(tail.iter()))?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    String::from_utf8(bytes).map_err(|e| csv::Error::from(std::io::Error::other(e)))
}

fn json_cell(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_default()
}

/// `text`, with `'` in front when a spreadsheet would read it as a formula.
fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}
