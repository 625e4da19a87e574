//! `bench-webhook-queue`: what queueing a webhook delivery adds to an audit append
//! (SPEC §9: the delivery is written in the append's transaction). On a fresh database
//! (a new PostgreSQL schema, or a SQLite file in a temporary folder) with one endpoint
//! subscribed to every type, it appends, one at a time and alternating,
//! `request.allowed` events (they notify nobody: no queueing) and `request.blocked`
//! events (each queues a message and a delivery), and prints the latency percentiles of each and the difference.
//!
//! Usage: `bench-webhook-queue [--appends 2000] [--storage sqlite|postgres://…]`

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::notify::{Endpoint, Secret, Subscription, WebhookOutbox, check_url};
use support_access_core::{AuditLog, Clock};
use support_access_memory::SystemClock;
use support_access_seaorm::SeaOrmStore;

#[derive(Debug, Parser)]
struct Args {
    /// Measured appends per kind (after a tenth as many to warm up).
    #[arg(long, default_value_t = 2000)]
    appends: usize,
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh schema is made in it
    /// and dropped after).
    #[arg(long, default_value = "sqlite")]
    storage: String,
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(0, Duration::as_micros)
}

/// `count` appends of each kind, alternating (so that the machine's load drifts over
/// both alike); the sorted latencies of each.
async fn run(store: &SeaOrmStore, count: usize) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let org = OrgId::from("org-bench");
    let (mut quiet, mut queued) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for _ in 0..count {
        for (kind, times) in [
            (AuditKind::RequestAllowed, &mut quiet),
            (AuditKind::RequestBlocked, &mut queued),
        ] {
            let event = NewAuditEvent::new(org.clone(), kind, SystemClock.now());
            let started = Instant::now();
            store.append(event).await.context("append")?;
            times.push(started.elapsed());
        }
    }
    quiet.sort();
    queued.sort();
    Ok((quiet, queued))
}

fn report(name: &str, times: &[Duration]) -> u128 {
    let mean = times.iter().map(Duration::as_micros).sum::<u128>() / times.len().max(1) as u128;
    println!(
        "| {name} | {} | {} | {} | {mean} |",
        percentile(times, 0.5),
        percentile(times, 0.9),
        percentile(times, 0.99)
    );
    percentile(times, 0.5)
}

async fn bench(url: &str, appends: usize) -> anyhow::Result<()> {
    let store = SeaOrmStore::connect(url).await.context("connect")?;
    store.migrate().await.context("migrate")?;
    let target = check_url("https://hooks.example.com/in", true).context("URL")?;
    let endpoint = Endpoint::new(
        OrgId::from("org-bench"),
        &target,
        Subscription::All,
        None,
        Secret::generate().context("secret")?,
        SystemClock.now(),
    );
    store.register(&endpoint).await.context("register")?;
    let warm = (appends / 10).max(1);
    run(&store, warm).await?;
    let (quiet, queued) = run(&store, appends).await?;
    println!("| append ({appends} each) | p50 µs | p90 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|");
    let a = report("request.allowed (queues nothing)", &quiet);
    let b = report("request.blocked (queues one delivery)", &queued);
    println!("queueing adds {} µs at p50", b as i128 - a as i128);
    store.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.storage == "sqlite" {
        let dir = tempfile::tempdir().context("temp dir")?;
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        return bench(&url, args.appends).await;
    }
    // The schema name is made here from the process id: nothing of the caller in it.
    let schema = format!("bench_queue_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&args.storage)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await?;
    let separator = if args.storage.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}options%5Bsearch_path%5D={schema}",
        args.storage
    );
    let outcome = bench(&url, args.appends).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await?;
    outcome
}
