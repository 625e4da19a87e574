//! Which support requests write records, and how a record is read back (SPEC §11):
//! policy data, so that another CRM's policy describes its own record API.
//!
//! The policy file's `[changes]` section names the read route (`read`, e.g.
//! `/crm/v{N}/{module}/{id}`), where the record sits in the read's answer
//! (`record_array`: the first object of `data`), which answers mean "no such record",
//! the fields the CRM maintains itself, the path segments that are no module
//! (`not_modules`: `settings`, `users`, `coql`, …) and each write route
//! (`[[changes.write]]`: method, template, operation, and where the affected ids come
//! from: a path parameter, the body, the query, or — for a create — the answer).
//! [`RecordWrites::classify`] turns one request (or one composite sub-request) into a
//! [`RecordWrite`]; the gateway does the reads.

use serde::Deserialize;
use serde_json::Value;
use support_access_core::change::{Operation, Record, SystemFields};

use crate::policy::is_version_segment;
use crate::query;

mod compile;

pub use compile::compile;

/// `[changes]` of the policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesFile {
    /// The route that reads one record, `{module}` and `{id}` filled in and `v{N}` the
    /// write's own version segment, e.g. `/crm/v{N}/{module}/{id}`.
    pub read: String,
    /// The version segment of reads and reverts made outside a request (`v8`).
    pub version: String,
    /// How many records of one write are read at a time (the CRM's concurrency limit
    /// counts them); at least 1.
    #[serde(default = "one")]
    pub read_concurrency: usize,
    /// The array of the read's answer whose first object is the record (`data`).
    pub record_array: String,
    /// Statuses of a read that mean "no such record" (Zoho: `204`).
    #[serde(default)]
    pub absent_statuses: Vec<u16>,
    /// Error codes (the answer's `code`, or its record's) that mean "no such record".
    #[serde(default)]
    pub absent_codes: Vec<String>,
    /// Fields the CRM maintains itself, left out of diffs and reverts.
    #[serde(default)]
    pub system_fields: Vec<String>,
    /// Prefixes of such fields (`$`).
    #[serde(default)]
    pub system_prefixes: Vec<String>,
    /// Path segments in the `{module}` place that name no module (case-insensitive).
    #[serde(default)]
    pub not_modules: Vec<String>,
    /// Path segments in the `{id}` place that name no record (case-insensitive).
    #[serde(default)]
    pub not_records: Vec<String>,
    /// The composite tunnel: its sub-requests are classified one by one.
    #[serde(default)]
    pub composite: Option<CompositeFile>,
    /// The write routes.
    #[serde(default, rename = "write")]
    pub writes: Vec<WriteFile>,
}

fn one() -> usize {
    1
}

/// `[changes.composite]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeFile {
    /// The tunnel's route (`POST /crm/v{N}/__composite_requests`).
    pub path: String,
    /// The key of the sub-request array, in the request and in the answer.
    pub requests: String,
    /// The key of a sub-answer's HTTP status.
    pub status: String,
    /// The key of a sub-answer's body.
    pub body: String,
}

/// `[[changes.write]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The template, with `{module}` and, if the id is in the path, `{id}`.
    pub path: String,
    /// `create`, `update` or `delete`.
    pub operation: WriteOperation,
    /// Where the ids of the affected records are.
    pub ids: IdsFile,
}

/// The operation of a write route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOperation {
    /// Records are created: their ids come from the answer.
    Create,
    /// Records are changed.
    Update,
    /// Records are deleted.
    Delete,
}

impl WriteOperation {
    /// The change operation.
    pub fn operation(self) -> Operation {
        match self {
            Self::Create => Operation::Create,
            Self::Update => Operation::Update,
            Self::Delete => Operation::Delete,
        }
    }
}

/// Where the affected ids are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum IdsFile {
    /// The path parameter `{id}`.
    Path,
    /// Key `key` of every object of the body's top-level array `array`.
    Body {
        /// E.g. `data`.
        array: String,
        /// E.g. `id`.
        key: String,
    },
    /// The query parameter `param`, comma-separated.
    Query {
        /// E.g. `ids`.
        param: String,
    },
    /// The answer: the dotted `key` (`details.id`) of every object of `array`.
    Answer {
        /// E.g. `data`.
        array: String,
        /// E.g. `details.id`.
        key: String,
    },
}

/// A compiled `[changes]` section.
#[derive(Debug, Clone)]
pub struct RecordWrites {
    pub(crate) read: Vec<String>,
    pub(crate) version: String,
    pub(crate) read_concurrency: usize,
    pub(crate) record_array: String,
    pub(crate) absent_statuses: Vec<u16>,
    pub(crate) absent_codes: Vec<String>,
    pub(crate) system: SystemFields,
    pub(crate) not_modules: Vec<String>,
    pub(crate) not_records: Vec<String>,
    pub(crate) composite: Option<(Vec<String>, CompositeFile)>,
    pub(crate) writes: Vec<WriteRoute>,
}

#[derive(Debug, Clone)]
pub(crate) struct WriteRoute {
    pub(crate) method: String,
    pub(crate) segments: Vec<String>,
    pub(crate) operation: WriteOperation,
    pub(crate) ids: IdsFile,
}

/// One request that writes records, as the policy classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    /// The module, as the request spelt it.
    pub module: String,
    /// What it does.
    pub operation: Operation,
    /// The records it touches, known before it is sent (none for a create).
    pub ids: Vec<String>,
    /// The read path of each record, with `{id}` left to fill: the version and module
    /// of the write.
    read: Vec<String>,
    /// For a create: where the answer names the new records.
    answer_ids: Option<(String, String)>,
}

/// Why the records a write touches cannot be named: the gateway refuses the write
/// (`503 change_capture_failed`) rather than let a change go unrecorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownRecords(pub String);

/// What a read of one record found.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutcome {
    /// The record.
    Found(Record),
    /// The CRM has no such record.
    Absent,
    /// Anything else: the read failed.
    Failed(String),
}

impl RecordWrites {
    /// How many records of one write are read at a time.
    pub fn read_concurrency(&self) -> usize {
        self.read_concurrency
    }

    /// The fields the CRM maintains itself.
    pub fn system_fields(&self) -> &SystemFields {
        &self.system
    }

    /// The path of record `id` of `module` outside a request (an admin's revert): the
    /// read route in the policy's `version`. Zoho updates a record on the same path.
    pub fn record_path(&self, module: &str, id: &str) -> String {
        let write = RecordWrite {
            module: module.to_owned(),
            operation: Operation::Update,
            ids: vec![id.to_owned()],
            read: self.read_template(Some(&self.version), module),
            answer_ids: None,
        };
        write.read_path(id)
    }

    /// Whether `method path` is the composite tunnel.
    pub fn is_composite(&self, method: &str, path: &str) -> bool {
        let Some((segments, _)) = &self.composite else {
            return false;
        };
        method.eq_ignore_ascii_case("POST") && matches(segments, path).is_some()
    }

    /// The write that `method path?query` with `body` makes, if it writes records; an
    /// error when it does but its records cannot be named.
    pub fn classify(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Option<RecordWrite>, UnknownRecords> {
        let path = path.trim_end_matches('/');
        for route in &self.writes {
            if !route.method.eq_ignore_ascii_case(method) {
                continue;
            }
            let Some(captured) = matches(&route.segments, path) else {
                continue;
            };
            let Some(module) = captured.module else {
                continue;
            };
            if self
                .not_modules
                .iter()
                .any(|m| m.eq_ignore_ascii_case(module))
                || module.starts_with("__")
            {
                continue;
            }
            if captured
                .id
                .is_some_and(|id| self.not_records.iter().any(|r| r.eq_ignore_ascii_case(id)))
            {
                continue;
            }
            let read = self.read_template(captured.version, module);
            let mut write = RecordWrite {
                module: module.to_owned(),
                operation: route.operation.operation(),
                ids: Vec::new(),
                read,
                answer_ids: None,
            };
            match &route.ids {
                IdsFile::Path => match captured.id {
                    Some(id) => write.ids.push(
                        id_text(&Value::String(id.to_owned()))
                            .ok_or_else(|| UnknownRecords(format!("'{id}' is no plain id")))?,
                    ),
                    None => continue,
                },
                IdsFile::Body { array, key } => write.ids = body_ids(body, array, key)?,
                IdsFile::Query { param } => write.ids = query_ids(query, param)?,
                IdsFile::Answer { array, key } => {
                    write.answer_ids = Some((array.clone(), key.clone()));
                }
            }
            return Ok(Some(write));
        }
        Ok(None)
    }

    /// The record writes of a composite body (already checked by the policy), by
    /// sub-request index.
    pub fn classify_composite(
        &self,
        body: &Value,
    ) -> Result<Vec<(usize, RecordWrite)>, UnknownRecords> {
        let Some((_, composite)) = &self.composite else {
            return Ok(Vec::new());
        };
        let Some(requests) = body.get(&composite.requests).and_then(Value::as_array) else {
            return Err(UnknownRecords("no sub-requests".into()));
        };
        let mut writes = Vec::new();
        for (index, sub) in requests.iter().enumerate() {
            let method = sub.get("method").and_then(Value::as_str).unwrap_or("GET");
            let uri = sub.get("uri").and_then(Value::as_str).unwrap_or("");
            let (path, inline_query) = match uri.split_once('?') {
                Some((path, query)) => (path, Some(query.to_owned())),
                None => (uri, None),
            };
            let query = inline_query.or_else(|| sub.get("params").map(params_query));
            let sub_body = sub.get("body");
            if let Some(write) = self.classify(method, path, query.as_deref(), sub_body)? {
                writes.push((index, write));
            }
        }
        Ok(writes)
    }

    /// The status and body of sub-answer `index` of a composite answer.
    pub fn composite_answer<'a>(
        &self,
        answer: &'a Value,
        index: usize,
    ) -> Option<(u16, &'a Value)> {
        let (_, composite) = self.composite.as_ref()?;
        let sub = answer.get(&composite.requests)?.as_array()?.get(index)?;
        let status = match sub.get(&composite.status)? {
            Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some((status, sub.get(&composite.body).unwrap_or(&Value::Null)))
    }

    /// What a read answered with `status` and `body` found.
    pub fn read_outcome(&self, status: u16, body: &[u8]) -> ReadOutcome {
        if self.absent_statuses.contains(&status) {
            return ReadOutcome::Absent;
        }
        let value: Option<Value> = serde_json::from_slice(body).ok();
        let record = value
            .as_ref()
            .and_then(|v| v.get(&self.record_array))
            .and_then(Value::as_array)
            .and_then(|a| a.first());
        let code_of = |v: Option<&Value>| {
            v.and_then(|v| v.get("code"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let codes = [code_of(value.as_ref()), code_of(record)];
        if codes
            .iter()
            .flatten()
            .any(|c| self.absent_codes.iter().any(|a| a == c))
        {
            return ReadOutcome::Absent;
        }
        if !(200..300).contains(&status) {
            return ReadOutcome::Failed(format!("the read answered {status}"));
        }
        match record {
            Some(Value::Object(record))
                if record.get("status").and_then(Value::as_str) != Some("error") =>
            {
                ReadOutcome::Found(record.clone())
            }
            _ => ReadOutcome::Failed(format!(
                "the read's answer holds no '{}' record",
                self.record_array
            )),
        }
    }

    fn read_template(&self, version: Option<&str>, module: &str) -> Vec<String> {
        self.read
            .iter()
            .map(|segment| match segment.as_str() {
                "v{N}" => version.unwrap_or("v{N}").to_owned(),
                "{module}" => module.to_owned(),
                other => other.to_owned(),
            })
            .collect()
    }
}

impl RecordWrite {
    /// The path that reads record `id`.
    pub fn read_path(&self, id: &str) -> String {
        let mut path = String::new();
        for segment in &self.read {
            path.push('/');
            path.push_str(if segment == "{id}" { id } else { segment });
        }
        path
    }

    /// Whether the ids come from the answer (a create).
    pub fn ids_from_answer(&self) -> bool {
        self.answer_ids.is_some()
    }

    /// The ids a create's answer names (empty for other writes, or none named).
    pub fn created_ids(&self, answer: &Value) -> Vec<String> {
        let Some((array, key)) = &self.answer_ids else {
            return Vec::new();
        };
        let Some(items) = answer.get(array).and_then(Value::as_array) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| key.split('.').try_fold(item, |v, k| v.get(k)))
            .filter_map(id_text)
            .collect()
    }
}

/// What a template match captured.
struct Captured<'a> {
    version: Option<&'a str>,
    module: Option<&'a str>,
    id: Option<&'a str>,
}

/// Matches `path` against template `segments` (literals case-insensitively).
fn matches<'a>(segments: &[String], path: &'a str) -> Option<Captured<'a>> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut captured = Captured {
        version: None,
        module: None,
        id: None,
    };
    for (template, part) in segments.iter().zip(parts) {
        match template.as_str() {
            "v{N}" if is_version_segment(&part.to_ascii_lowercase()) => {
                captured.version = Some(part)
            }
            "v{N}" => return None,
            "{module}" => captured.module = Some(part),
            "{id}" => captured.id = Some(part),
            literal if literal.eq_ignore_ascii_case(part) => {}
            _ => return None,
        }
    }
    Some(captured)
}

fn body_ids(body: Option<&Value>, array: &str, key: &str) -> Result<Vec<String>, UnknownRecords> {
    let items = body
        .and_then(|b| b.get(array))
        .and_then(Value::as_array)
        .ok_or_else(|| UnknownRecords(format!("the body has no '{array}' array")))?;
    items
        .iter()
        .map(|item| {
            item.get(key)
                .and_then(id_text)
                .ok_or_else(|| UnknownRecords(format!("an object of '{array}' has no '{key}'")))
        })
        .collect()
}

fn query_ids(query: Option<&str>, param: &str) -> Result<Vec<String>, UnknownRecords> {
    let mut ids = Vec::new();
    for (name, value) in query::pairs(query.unwrap_or("")) {
        if name.eq_ignore_ascii_case(param) {
            for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let id = id_text(&Value::String(id.to_owned()))
                    .ok_or_else(|| UnknownRecords(format!("'{param}' holds no plain id")))?;
                ids.push(id);
            }
        }
    }
    if ids.is_empty() {
        return Err(UnknownRecords(format!("no '{param}' in the query")));
    }
    Ok(ids)
}

/// A composite sub-request's `params` object as a query string.
fn params_query(params: &Value) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(params) = params.as_object() {
        for (name, value) in params {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(id_text)
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            query.append_pair(name, &text);
        }
    }
    query.finish()
}

/// An id as text: a string, or an integer written in decimal. It becomes a path
/// segment of a read the policy never checked, so it is one plain segment or nothing:
/// ASCII letters, digits, `_`, `-` and `.`, and never `.` or `..`.
fn id_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    match text.as_str() {
        "" | "." | ".." => None,
        t if t.chars().all(plain) => Some(text),
        _ => None,
    }
}
