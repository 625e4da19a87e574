//! `/audit/export`: an org's audit events as CSV (written by the `csv` crate) or JSON
//! Lines, streamed page by page from the store so memory stays flat whatever the size.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use support_access_core::audit::{AuditEvent, AuditQuery, MAX_PAGE};
use support_access_core::ids::OrgId;

use super::Mgmt;
use super::api::{ErrorBody, EventBody};
use super::audit::audit_query;
use super::extract::{Admin, RequestId};
use super::reply::{Reply, invalid};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

impl Format {
    fn parse(text: Option<&str>) -> Option<Self> {
        match text? {
            "csv" => Some(Self::Csv),
            "jsonl" => Some(Self::JsonLines),
            _ => None,
        }
    }

    /// The content type and the file extension.
    fn media(self) -> (&'static str, &'static str) {
        match self {
            Self::Csv => ("text/csv; charset=utf-8", "csv"),
            Self::JsonLines => ("application/x-ndjson", "jsonl"),
        }
    }

    /// The lines of some events.
    fn chunk(self, events: &[AuditEvent]) -> Bytes {
        let bodies = events.iter().map(EventBody::from);
        match self {
            Self::Csv => csv_rows(bodies),
            Self::JsonLines => {
                let mut chunk = String::with_capacity(events.len() * 400);
                for body in bodies {
                    chunk.push_str(&serde_json::to_string(&body).unwrap_or_default());
                    chunk.push('\n');
                }
                Bytes::from(chunk)
            }
        }
    }
}

/// The caller's org's audit events as CSV or JSON Lines, streamed page by page from the
/// store (memory stays flat whatever the size), newest first, with the same filters.
#[utoipa::path(get, path = "/support-access/v1/audit/export",
    params(("format" = String, Query, description = "csv | jsonl"), ("actor" = Option<String>, Query), ("kind" = Option<String>, Query),
           ("decision" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    security(("customer_admin" = [])),
    responses((status = 200, description = "text/csv or application/x-ndjson"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_audit_export(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let org = admin.org.clone();
    let (mut query, format) = audit_query(admin.org, raw.as_deref())?;
    let format = Format::parse(format.as_deref())
        .ok_or_else(|| invalid("invalid_format", "`format` must be `csv` or `jsonl`."))?;
    query.limit = MAX_PAGE;
    Ok(attachment(
        stream(&m, query, format, request_id),
        &org,
        format,
    ))
}

/// The body: the CSV header, then one chunk per page, until the last page or a store
/// failure (which ends the stream with an error, so the client sees a broken download,
/// never a short file that looks whole).
fn stream(m: &Mgmt, query: AuditQuery, format: Format, request_id: String) -> axum::body::Body {
    let access = m.access.clone();
    let header = (format == Format::Csv).then(csv_header);
    let pages = futures::stream::unfold(Some(query), move |state| {
        let (access, request_id) = (access.clone(), request_id.clone());
        async move {
            let query = state?;
            match access.audit_page(&query).await {
                Ok(page) => {
                    let next = page.next_cursor.map(|cursor| AuditQuery {
                        cursor: Some(cursor),
                        ..query
                    });
                    Some((Ok(format.chunk(&page.events)), next))
                }
                Err(e) => {
                    tracing::error!(request_id, error = %e, "audit export interrupted");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    axum::body::Body::from_stream(futures::stream::iter(header.map(Ok)).chain(pages))
}

/// The response around the body: its type, never cached, a download named after the org.
fn attachment(body: axum::body::Body, org: &OrgId, format: Format) -> Response {
    let mut response = Response::new(body);
    let (content_type, extension) = format.media();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let safe_org: String = org
        .as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{safe_org}.{extension}\""
    )) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    response
}

/// The export's columns; `error` and `rewrites` (a JSON array) came later and are last,
/// so that readers of the earlier columns by position are unaffected.
const CSV_COLUMNS: [&str; 25] = [
    "id",
    "org",
    "seq",
    "at",
    "kind",
    "decision",
    "grant",
    "support_user",
    "actor",
    "method",
    "path",
    "status",
    "rule",
    "restriction",
    "latency_ms",
    "request_id",
    "client_ip",
    "user_agent",
    "body_sha256",
    "reason",
    "ticket",
    "prev_hash",
    "hash",
    "error",
    "rewrites",
];

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn csv_finish(writer: csv::Writer<Vec<u8>>) -> Bytes {
    Bytes::from(writer.into_inner().unwrap_or_default())
}

fn csv_header() -> Bytes {
    let mut writer = csv_writer();
    let _ = writer.write_record(CSV_COLUMNS);
    csv_finish(writer)
}

/// One CSV row per event: the columns in order, missing and empty values blank,
/// quoted by the `csv` crate where needed.
fn csv_rows(events: impl Iterator<Item = EventBody>) -> Bytes {
    let mut writer = csv_writer();
    for event in events {
        let value = serde_json::to_value(&event).unwrap_or_default();
        let _ = writer.write_record(
            CSV_COLUMNS
                .iter()
                .map(|column| csv_cell(value.get(*column))),
        );
    }
    csv_finish(writer)
}

/// One cell's text, defused against spreadsheet formula injection (a leading `=`, `+`,
/// `-`, `@`, tab or CR gets a `'`, unless the value is a number).
fn csv_cell(value: Option<&Value>) -> String {
    let text = match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => return String::new(),
        Some(Value::Array(items)) if items.is_empty() => return String::new(),
        Some(other) => other.to_string(),
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_only_when_needed_and_formulas_are_defused() {
        let mut writer = csv_writer();
        let cells = [
            json_cell("plain"),
            json_cell("a,b"),
            json_cell("say \"hi\""),
            json_cell("two\nlines"),
            json_cell("=1+1"),
            json_cell("-5"),
            csv_cell(Some(&Value::from(42))),
            csv_cell(None),
        ];
        writer.write_record(&cells).unwrap();
        let text = String::from_utf8(csv_finish(writer).to_vec()).unwrap();
        assert_eq!(
            text,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",'=1+1,-5,42,\r\n"
        );
        assert_eq!(
            String::from_utf8(csv_header().to_vec()).unwrap(),
            format!("{}\r\n", CSV_COLUMNS.join(","))
        );
    }

    fn json_cell(text: &str) -> String {
        csv_cell(Some(&Value::from(text)))
    }
}
