//! `bench-changes`: what change capture (SPEC §11) adds to a support request. In one
//! process: a stub CRM whose record changes with every write, the real gateway
//! (`support_gateway::build`) with the repository's Zoho policy — once as it is, once
//! with its `[changes]` section cut out (no capture) — and a client sending, one at a
//! time, support `GET /crm/v8/Leads/42` (a read) and `PUT /crm/v8/Leads/42` (a record
//! write: with capture, a read before, a read after and a `change.recorded` append).
//! Prints the latency percentiles of each and the difference.
//!
//! Usage: `bench-changes [--requests 2000] [--storage memory|sqlite]`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support_access_core::audit::AuditKind;
use support_access_core::ids::OrgId;
use support_gateway::Binds;
use support_gateway::config::Config;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
struct Args {
    /// Measured requests per kind and policy (after a tenth as many to warm up).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// `memory` or `sqlite` (a file in a temporary folder: the append is durable).
    #[arg(long, default_value = "sqlite")]
    storage: String,
}

/// The stub CRM: `GET` answers the record, whose `Last_Name` is the number of writes so
/// far; any other method is a write.
async fn stub() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let writes = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let writes = writes.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let writes = writes.clone();
                    async move {
                        let body = if request.method() == http::Method::GET {
                            let n = writes.load(Ordering::SeqCst);
                            format!(
                                r#"{{"data":[{{"id":"42","Last_Name":"v{n}","Company":"Example","Modified_Time":"t{n}"}}]}}"#
                            )
                        } else {
                            let _ = request.into_body().collect().await;
                            writes.fetch_add(1, Ordering::SeqCst);
                            r#"{"data":[{"code":"SUCCESS","status":"success","details":{"id":"42"}}]}"#.to_owned()
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// The Zoho policy, or the same without its `[changes]` section and write routes.
fn policy_file(dir: &Path, capture: bool) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(config_dir().join("policy/zoho-crm-v8.toml"))?;
    let text = if capture {
        text
    } else {
        let start = text
            .find("\n[changes]")
            .context("the policy has a [changes] section")?;
        let rest = &text[start + 1..];
        let end = rest
            .find("\n[restrictions.")
            .context("[restrictions] follow [changes]")?;
        format!("{}{}", &text[..start + 1], &rest[end + 1..])
    };
    let path = dir.join(if capture { "with.toml" } else { "without.toml" });
    std::fs::write(&path, text)?;
    Ok(path)
}

fn config(
    upstream: SocketAddr,
    dir: &Path,
    policy: &Path,
    storage: &str,
) -> anyhow::Result<Config> {
    let storage = match storage {
        "memory" => "memory".to_owned(),
        _ => {
            let name = policy.file_stem().and_then(|s| s.to_str()).unwrap_or("gw");
            format!("sqlite://{}/{name}.db?mode=rwc", dir.display())
        }
    };
    let text = format!(
        r#"
[upstream]
url = "http://{upstream}"
[storage]
url = "{storage}"
[policy]
file = "{policy}"
[auth.customer]
issuer = "https://accounts.crm.example"
audience = "crm"
key = {{ jwks_file = "keys/customer.jwks.json" }}
[auth.staff]
issuer = "https://staff.vendor.example"
audience = "support-gateway"
key = {{ pem_file = "keys/staff.pub.pem" }}
[auth.support]
signing_key = "{dir}/support-signing.pem"
[audit]
key_file = "{dir}/audit-signing.pem"
[log]
level = "error"
"#,
        policy = policy.display(),
        dir = dir.display(),
    );
    Config::from_toml(&text, &config_dir()).map_err(|e| anyhow::anyhow!("config: {e}"))
}

/// Latencies of `n` sequential requests, in microseconds, sorted.
async fn measure(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    proxy: SocketAddr,
    token: &str,
    method: &str,
    n: usize,
) -> anyhow::Result<Vec<u64>> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let body = match method {
            "PUT" => format!(r#"{{"data":[{{"Last_Name":"bench {i}"}}]}}"#),
            _ => String::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{proxy}/crm/v8/Leads/42"))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        let response = client.request(request).await?;
        let status = response.status();
        let _ = response.into_body().collect().await?;
        latencies.push(started.elapsed().as_micros() as u64);
        anyhow::ensure!(status.is_success(), "{method} answered {status}");
    }
    latencies.sort_unstable();
    Ok(latencies)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0)
}

fn line(name: &str, sorted: &[u64]) -> String {
    let mean = sorted.iter().sum::<u64>() / sorted.len().max(1) as u64;
    format!(
        "| {name} | {} | {} | {} | {mean} |",
        percentile(sorted, 0.5),
        percentile(sorted, 0.9),
        percentile(sorted, 0.99)
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = support_access_bench::runtime(0)?;
    runtime.block_on(async move {
        let upstream = stub().await?;
        let dir = std::env::temp_dir().join(format!("bench-changes-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut rows = Vec::new();
        let mut p50 = std::collections::BTreeMap::new();
        for capture in [false, true] {
            let policy = policy_file(&dir, capture)?;
            let config = config(upstream, &dir, &policy, &args.storage)?;
            let binds = Binds {
                proxy: "127.0.0.1:0".parse()?,
                ops: "127.0.0.1:0".parse()?,
            };
            let gateway = support_gateway::build(config, binds)
                .await
                .map_err(|e| anyhow::anyhow!("the gateway did not start: {e}"))?;
            let org = if capture { "org-with" } else { "org-without" };
            let token = support_access_bench::grant_and_token(&gateway, org, "bench-staff").await?;
            let label = if capture { "capture" } else { "no capture" };
            for method in ["GET", "PUT"] {
                measure(
                    &client,
                    gateway.proxy,
                    &token,
                    method,
                    args.requests / 10 + 1,
                )
                .await?;
                let sorted = measure(&client, gateway.proxy, &token, method, args.requests).await?;
                rows.push(line(&format!("{method}, {label}"), &sorted));
                p50.insert((method, capture), percentile(&sorted, 0.5));
            }
            let audit = gateway.app().access().audit().clone();
            let events = audit.scan(&OrgId::from(org), 0, u32::MAX).await?;
            let recorded = events
                .iter()
                .filter(|e| e.kind == AuditKind::ChangeRecorded)
                .count();
            rows.push(format!(
                "| ({label}: {recorded} change.recorded events) | | | | |"
            ));
            tokio::time::timeout(Duration::from_secs(10), gateway.shutdown()).await?;
        }
        println!(
            "storage: {}, {} sequential requests each",
            args.storage, args.requests
        );
        println!("| request | p50 µs | p90 µs | p99 µs | mean µs |");
        println!("|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
        for method in ["GET", "PUT"] {
            let with = p50.get(&(method, true)).copied().unwrap_or(0) as i64;
            let without = p50.get(&(method, false)).copied().unwrap_or(0) as i64;
            println!("{method}: capture adds {} µs at p50", with - without);
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })
}
