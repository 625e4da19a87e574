//! What the audit tree costs an append, and what a proof costs at scale, on the real
//! databases (SQLite file, PostgreSQL schema).
//!
//! ```text
//! cargo bench -p support-access-seaorm --bench append --features bench-internals \
//!     [-- --events 3000 --rounds 5 --tasks 1,64 --proof-events 1000000 --sqlite-only
//!      --postgres-only]
//! ```
//!
//! Append throughput: `events` appends per round from `tasks` concurrent callers (one
//! caller: one transaction per event; many: group commit), rounds alternating tree on
//! and off (`support_access_seaorm::bench::set_audit_tree`), the median of each
//! reported. Proofs: an org filled with `proof-events` events (tree on), then the
//! store's tree head, root at an older size, inclusion and consistency proofs, each
//! timed over many calls. PostgreSQL is `DATABASE_URL` (default the local test
//! server); it must be reachable unless `--sqlite-only`. On PostgreSQL each round's WAL
//! bytes per event are reported too (`pg_current_wal_insert_lsn()` before and after: the
//! server's, so other sessions' writes count as well; medians).

#![allow(clippy::unwrap_used)] // a benchmark: a failure is a panic with its message

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use support_access_core::AuditLog;
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::tlog::AuditTree;
use support_access_seaorm::{SeaOrmStore, StoreOptions};

struct Args {
    events: u64,
    rounds: usize,
    tasks: Vec<u64>,
    proof_events: u64,
    sqlite_only: bool,
    postgres_only: bool,
}

fn args() -> Args {
    let mut args = Args {
        events: 3000,
        rounds: 5,
        tasks: vec![1, 64],
        proof_events: 1_000_000,
        sqlite_only: false,
        postgres_only: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().unwrap_or_default();
        match flag.as_str() {
            "--events" => args.events = value().parse().unwrap(),
            "--rounds" => args.rounds = value().parse().unwrap(),
            "--tasks" => args.tasks = value().split(',').map(|t| t.parse().unwrap()).collect(),
            "--proof-events" => args.proof_events = value().parse().unwrap(),
            "--sqlite-only" => args.sqlite_only = true,
            "--postgres-only" => args.postgres_only = true,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    args
}

static NEXT_ORG: AtomicU64 = AtomicU64::new(1);

fn fresh_org() -> OrgId {
    OrgId::new(format!(
        "org-bench-{}",
        NEXT_ORG.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Appends `events` to `org` from `tasks` concurrent callers; returns events/s.
async fn append_rate(store: &SeaOrmStore, org: &OrgId, events: u64, tasks: u64) -> f64 {
    let at = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
    let started = Instant::now();
    let callers = (0..tasks).map(|t| {
        let (store, org) = (store.clone(), org.clone());
        let count = events / tasks + u64::from(t < events % tasks);
        tokio::spawn(async move {
            for n in 0..count {
                let mut event = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, at);
                event.path = Some(format!("/crm/v8/Leads/{t}/{n}"));
                event.user_agent = Some("ZohoCRM-SDK/7.0.0 (Python 3.11)".into());
                store.append(event).await.unwrap();
            }
        })
    });
    for caller in futures::future::join_all(callers).await {
        caller.unwrap();
    }
    events as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The server's WAL insert position, in bytes.
async fn wal_position(admin: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
        .fetch_one(admin)
        .await
        .unwrap()
}

async fn throughput(
    name: &str,
    store: &SeaOrmStore,
    args: &Args,
    mut wal: Option<&mut PgConnection>,
) {
    for &tasks in &args.tasks {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        let (mut wal_on, mut wal_off) = (Vec::new(), Vec::new());
        let mut batches = [0u64; 2];
        for round in 0..args.rounds {
            // Alternate which goes first, so drift (WAL growth, other load) hits both.
            for tree in [round % 2 == 0, round % 2 == 1] {
                support_access_seaorm::bench::set_audit_tree(tree);
                let before = store.audit_append_stats().batches;
                let wal_before = match wal.as_deref_mut() {
                    Some(admin) => Some(wal_position(admin).await),
                    None => None,
                };
                let rate = append_rate(store, &fresh_org(), args.events, tasks).await;
                batches[usize::from(tree)] += store.audit_append_stats().batches - before;
                if tree {
                    on.push(rate)
                } else {
                    off.push(rate)
                }
                if let (Some(admin), Some(start)) = (wal.as_deref_mut(), wal_before) {
                    let bytes = (wal_position(admin).await - start) as f64 / args.events as f64;
                    if tree {
                        wal_on.push(bytes)
                    } else {
                        wal_off.push(bytes)
                    }
                }
            }
        }
        let per_batch = |b: u64| (args.events * args.rounds as u64) as f64 / b as f64;
        support_access_seaorm::bench::set_audit_tree(true);
        let (on, off) = (median(on), median(off));
        println!(
            "{name:<10} {tasks:>3} callers  tree on {on:>9.0} ev/s  off {off:>9.0} ev/s  \
             on/off {:.3}  (events per transaction: on {:.1}, off {:.1})",
            on / off,
            per_batch(batches[1]),
            per_batch(batches[0]),
        );
        if !wal_on.is_empty() {
            let (on, off) = (median(wal_on), median(wal_off));
            println!(
                "{name:<10} {tasks:>3} callers  WAL bytes/event: tree on {on:.0}  off {off:.0}  \
                 on/off {:.3}",
                on / off
            );
        }
    }
}

async fn proofs(name: &str, store: &SeaOrmStore, events: u64) {
    if events == 0 {
        return;
    }
    let org = fresh_org();
    let rate = append_rate(store, &org, events, 512).await;
    let n = store.tree_head(&org).await.unwrap().size;
    assert_eq!(n, events);
    println!("{name:<10} filled {n} events at {rate:.0} ev/s (512 callers, tree on)");
    let calls = 200;
    // Spread over the tree with a multiplicative step (no RNG needed).
    let seq = |i: u64| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n) + 1;
    let (org, calls) = (&org, calls as u32);
    let started = Instant::now();
    for _ in 0..calls {
        store.tree_head(org).await.unwrap();
    }
    let head = started.elapsed() / calls;
    let started = Instant::now();
    for i in 0..calls {
        store.root_at(org, seq(i.into())).await.unwrap();
    }
    let root = started.elapsed() / calls;
    let started = Instant::now();
    for i in 0..calls {
        let proof = store.inclusion_proof(org, seq(i.into()), n).await.unwrap();
        assert!(!proof.hashes.is_empty());
    }
    let inclusion = started.elapsed() / calls;
    let started = Instant::now();
    for i in 0..calls {
        store
            .consistency_proof(org, seq(i.into()), n)
            .await
            .unwrap();
    }
    let consistency = started.elapsed() / calls;
    println!(
        "{name:<10} at {n} events: tree head {head:?}, root at a size {root:?}, \
         inclusion proof {inclusion:?}, consistency proof {consistency:?} (mean of {calls})"
    );
}

async fn sqlite(args: &Args) {
    let path = std::env::temp_dir().join(format!("sa-bench-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SeaOrmStore::connect_with(StoreOptions::new(url))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    throughput("sqlite", &store, args, None).await;
    proofs("sqlite", &store, args.proof_events).await;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

async fn postgres(args: &Args) {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("sa_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e} (or pass --sqlite-only)"));
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .await
        .unwrap();
    let store = SeaOrmStore::connect_with(StoreOptions::new(&url).schema(&schema))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    throughput("postgres", &store, args, Some(&mut admin)).await;
    proofs("postgres", &store, args.proof_events).await;
    store.close().await;
    admin
        .execute(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .await
        .unwrap();
}

fn main() {
    let args = Arc::new(args());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if !args.postgres_only {
            sqlite(&args).await;
        }
        if !args.sqlite_only {
            postgres(&args).await;
        }
    });
}
