//! `bench-revoke`: how long a revoke made on one gateway instance takes to refuse
//! requests on another instance sharing the same PostgreSQL database.
//!
//! Instance A is started in this process (`support_gateway::build`, so with the
//! configured PostgreSQL store, its grant cache and the `LISTEN/NOTIFY` change feed).
//! Instance B is another process (`bench-gateway`) on the same database and signing
//! key, reached over HTTP at `--target`. Each trial: open a grant and a token on A; poll
//! B with the token until it answers 200; keep polling for a random 50–550 ms (so the
//! age of B's cache entry at the revoke is random); revoke on A; poll B back to back
//! until it answers 401. Prints one line per trial and a summary, in milliseconds.
//!
//! Usage: `bench-revoke --config A.toml --target http://127.0.0.1:18090 [--trials 50]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support_gateway::Binds;

/// Revoke propagation between two gateway instances.
#[derive(Debug, Parser)]
struct Args {
    /// Config of instance A (its `[storage] url` must be the PostgreSQL of instance B).
    #[arg(long)]
    config: PathBuf,
    /// Base URL of instance B's proxy listener.
    #[arg(long)]
    target: Uri,
    /// How many revokes to time.
    #[arg(long, default_value_t = 50)]
    trials: usize,
    /// The org the grants are for.
    #[arg(long, default_value = "bench-revoke-org")]
    org: String,
    /// The path requested on B (an allowed record read).
    #[arg(long, default_value = "/crm/v8/Leads/4150868000000225013")]
    path: String,
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

struct Probe {
    client: HttpClient,
    uri: Uri,
}

impl Probe {
    async fn status(&self, token: &str) -> anyhow::Result<StatusCode> {
        let request = Request::get(self.uri.clone())
            .header("authorization", format!("Bearer {token}"))
            .body(Empty::new())?;
        let response = self.client.request(request).await?;
        let status = response.status();
        // Drain the body so the connection is reused.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
}

/// A pseudo-random number of milliseconds in `0..bound`.
fn jitter_ms(bound: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(bound.max(1))) as u64
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Trial {
    /// How long A's revoke call took (it returns once committed).
    revoke: Duration,
    /// From the start of the revoke to B's first 401.
    refused_after: Duration,
    /// Requests to B sent after the revoke had returned that still got 200.
    stale: usize,
}

async fn trial(a: &support_gateway::Running, probe: &Probe, org: &str) -> anyhow::Result<Trial> {
    let token = support_access_bench::grant_and_token(a, org, "bench-staff").await?;
    // B must have seen the grant as active.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = probe.status(&token).await?;
        if status == StatusCode::OK {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "instance B never accepted the new token (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let busy_until = Instant::now() + Duration::from_millis(50 + jitter_ms(500));
    while Instant::now() < busy_until {
        let status = probe.status(&token).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "B answered {status} before revoke"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = Instant::now();
    support_access_bench::revoke(a, org).await?;
    let revoke = started.elapsed();
    let mut stale = 0;
    loop {
        let status = probe.status(&token).await?;
        match status {
            StatusCode::UNAUTHORIZED => break,
            StatusCode::OK => stale += 1,
            other => anyhow::bail!("B answered {other} after the revoke"),
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "B still accepts a revoked token after 10 s"
        );
    }
    Ok(Trial {
        revoke,
        refused_after: started.elapsed(),
        stale,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = support_access_bench::load_config(&args.config)?;
    let runtime = support_access_bench::runtime(0)?;
    runtime.block_on(async move {
        let binds = Binds {
            proxy: "127.0.0.1:0".parse()?,
            ops: "127.0.0.1:0".parse()?,
        };
        let a = support_gateway::build(config, binds)
            .await
            .map_err(|e| anyhow::anyhow!("instance A did not start: {e}"))?;
        let uri: Uri = format!(
            "{}{}",
            args.target.to_string().trim_end_matches('/'),
            args.path
        )
        .parse()?;
        let probe = Probe {
            client: Client::builder(TokioExecutor::new()).build_http(),
            uri,
        };
        let mut refused = Vec::with_capacity(args.trials);
        let mut revokes = Vec::with_capacity(args.trials);
        let mut stale_total = 0;
        println!("trial revoke_ms refused_after_ms stale_requests");
        for n in 1..=args.trials {
            let t = trial(&a, &probe, &args.org).await?;
            println!(
                "{n} {:.2} {:.2} {}",
                millis(t.revoke),
                millis(t.refused_after),
                t.stale
            );
            revokes.push(millis(t.revoke));
            refused.push(millis(t.refused_after));
            stale_total += t.stale;
        }
        refused.sort_by(f64::total_cmp);
        revokes.sort_by(f64::total_cmp);
        println!(
            "SUMMARY trials={} refused_after_ms: min={:.2} p50={:.2} p90={:.2} p99={:.2} max={:.2} \
             revoke_call_ms: p50={:.2} p99={:.2} stale_requests_total={stale_total}",
            refused.len(),
            percentile(&refused, 0.0),
            percentile(&refused, 50.0),
            percentile(&refused, 90.0),
            percentile(&refused, 99.0),
            percentile(&refused, 100.0),
            percentile(&revokes, 50.0),
            percentile(&revokes, 99.0),
        );
        a.shutdown().await;
        Ok(())
    })
}
