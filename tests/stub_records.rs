//! A stateful stub CRM on a real socket: records you can write and read back, the way
//! Zoho's record API answers (SPEC §11's e2e tests).
//!
//! - `GET /crm/{v}/{module}/{id}`: `200 {"data": [record]}`, or `204` when there is none.
//! - `POST /crm/{v}/{module}` `{"data": [fields…]}`: creates each record under a new id,
//!   `201 {"data": [{"code": "SUCCESS", "status": "success", "details": {"id"}}]}`.
//! - `PUT /crm/{v}/{module}/{id}` and `PUT /crm/{v}/{module}` (each object with its
//!   `id`): sets the given fields (`null` clears one), bumps `Modified_Time`.
//! - `DELETE /crm/{v}/{module}/{id}` and `DELETE /crm/{v}/{module}?ids=a,b`.
//! - `POST /crm/{v}/__composite_requests`: runs each sub-request in turn, answering
//!   `{"__composite_requests": [{"code": status, "body": …}]}`.
//!
//! [`RecordStub::fail_reads`] makes every `GET` answer `500` (a before-read that fails).
//! Every request is recorded as [`Recorded`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::stub::Recorded;

/// A record: field name → value.
pub type Record = Map<String, Value>;

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<(String, String), Record>,
    seen: Vec<Recorded>,
}

/// The running stub.
#[derive(Debug, Clone)]
pub struct RecordStub {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    fail_reads: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
}

impl RecordStub {
    /// Starts one on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let stub = Self {
            addr,
            state: Arc::default(),
            fail_reads: Arc::default(),
            next_id: Arc::new(AtomicU64::new(9_000_000_000_000_000_001)),
        };
        let server = stub.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let stub = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let stub = stub.clone();
                        async move { Ok::<_, Infallible>(stub.answer(request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        stub
    }

    /// Stores a record as if someone had written it.
    pub fn put(&self, module: &str, id: &str, record: Value) {
        let Value::Object(mut record) = record else {
            panic!("a record is an object");
        };
        record.insert("id".into(), json!(id));
        self.lock()
            .records
            .insert((module.to_owned(), id.to_owned()), record);
    }

    /// The record as stored now.
    pub fn get(&self, module: &str, id: &str) -> Option<Record> {
        self.lock()
            .records
            .get(&(module.to_owned(), id.to_owned()))
            .cloned()
    }

    /// From now on every `GET` answers `500` (or again normally).
    pub fn fail_reads(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::SeqCst);
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Recorded> {
        self.lock().seen.clone()
    }

    /// `METHOD target` of every request received so far.
    pub fn lines(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
    }

    /// Forgets what was received (not the records).
    pub fn clear(&self) {
        self.lock().seen.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        self.lock().seen.push(Recorded {
            method: parts.method.to_string(),
            target: target.clone(),
            headers: parts.headers,
            body: body.clone(),
            complete: true,
        });
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (status, answer) = self.run(parts.method.as_str(), path, query, &json_body);
        let bytes = match answer {
            Value::Null => Bytes::new(),
            answer => Bytes::from(answer.to_string()),
        };
        let mut response = Response::new(Full::new(bytes));
        *response.status_mut() = status;
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        response
    }

    fn run(&self, method: &str, path: &str, query: &str, body: &Value) -> (StatusCode, Value) {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match (method, segments.as_slice()) {
            ("POST", ["crm", _, "__composite_requests"]) => self.composite(body),
            ("GET", ["crm", _, module, id]) => self.read(module, id),
            ("POST", ["crm", _, module]) => self.create(module, body),
            ("PUT", ["crm", _, module, id]) => {
                let fields = body["data"][0].as_object().cloned().unwrap_or_default();
                self.update(module, &[(id.to_string(), fields)])
            }
            ("PUT", ["crm", _, module]) => {
                let items = body["data"].as_array().cloned().unwrap_or_default();
                let updates: Vec<(String, Record)> = items
                    .into_iter()
                    .filter_map(|item| {
                        let fields = item.as_object()?.clone();
                        let id = match fields.get("id")? {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        Some((id, fields))
                    })
                    .collect();
                self.update(module, &updates)
            }
            ("DELETE", ["crm", _, module, id]) => self.delete(module, &[id.to_string()]),
            ("DELETE", ["crm", _, module]) => {
                let ids = query
                    .split('&')
                    .filter_map(|pair| pair.strip_prefix("ids="))
                    .flat_map(|ids| ids.split("%2C").flat_map(|s| s.split(',')))
                    .map(str::to_owned)
                    .collect::<Vec<_>>();
                self.delete(module, &ids)
            }
            _ => (StatusCode::OK, json!({"data": []})),
        }
    }

    fn read(&self, module: &str, id: &str) -> (StatusCode, Value) {
        if self.fail_reads.load(Ordering::SeqCst) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"code": "INTERNAL_ERROR"}),
            );
        }
        match self.get(module, id) {
            Some(record) => (StatusCode::OK, json!({"data": [record]})),
            None => (StatusCode::NO_CONTENT, Value::Null),
        }
    }

    fn create(&self, module: &str, body: &Value) -> (StatusCode, Value) {
        let mut answers = Vec::new();
        for item in body["data"].as_array().cloned().unwrap_or_default() {
            let id = self.next_id.fetch_add(1, Ordering::SeqCst).to_string();
            let mut record = item.as_object().cloned().unwrap_or_default();
            record.insert("Created_Time".into(), json!(format!("t-{id}")));
            record.insert("Modified_Time".into(), json!(format!("t-{id}")));
            self.put(module, &id, Value::Object(record));
            answers.push(json!({"code": "SUCCESS", "status": "success", "details": {"id": id}}));
        }
        (StatusCode::CREATED, json!({"data": answers}))
    }

    fn update(&self, module: &str, updates: &[(String, Record)]) -> (StatusCode, Value) {
        let mut state = self.lock();
        let mut answers = Vec::new();
        for (id, fields) in updates {
            let Some(record) = state.records.get_mut(&(module.to_owned(), id.clone())) else {
                answers.push(
                    json!({"code": "INVALID_DATA", "status": "error", "details": {"id": id}}),
                );
                continue;
            };
            for (name, value) in fields {
                match value {
                    Value::Null => {
                        record.remove(name);
                    }
                    value => {
                        record.insert(name.clone(), value.clone());
                    }
                }
            }
            let bumped = format!("m-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
            record.insert("Modified_Time".into(), json!(bumped));
            answers.push(json!({"code": "SUCCESS", "status": "success", "details": {"id": id}}));
        }
        (StatusCode::OK, json!({"data": answers}))
    }

    fn delete(&self, module: &str, ids: &[String]) -> (StatusCode, Value) {
        let mut state = self.lock();
        let answers: Vec<Value> = ids
            .iter()
            .map(
                |id| match state.records.remove(&(module.to_owned(), id.clone())) {
                    Some(_) => {
                        json!({"code": "SUCCESS", "status": "success", "details": {"id": id}})
                    }
                    None => {
                        json!({"code": "INVALID_DATA", "status": "error", "details": {"id": id}})
                    }
                },
            )
            .collect();
        (StatusCode::OK, json!({"data": answers}))
    }

    fn composite(&self, body: &Value) -> (StatusCode, Value) {
        let mut answers = Vec::new();
        for sub in body["__composite_requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let method = sub["method"].as_str().unwrap_or("GET");
            let uri = sub["uri"].as_str().unwrap_or("/");
            let query = match sub.get("params").and_then(Value::as_object) {
                Some(params) => params
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("&"),
                None => String::new(),
            };
            let sub_body = sub.get("body").cloned().unwrap_or(Value::Null);
            let (status, answer) = self.run(method, uri, &query, &sub_body);
            answers.push(json!({"code": status.as_u16(), "body": answer}));
        }
        (StatusCode::OK, json!({"__composite_requests": answers}))
    }
}
