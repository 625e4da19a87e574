//! `bench-gateway`: the real gateway (`support_gateway::build`, the configured storage
//! with its grant cache) for benchmarks. With `--token-file`, it first opens a grant,
//! claims the support seat and writes a support token to that file; then it serves
//! until SIGINT/SIGTERM.
//!
//! Usage: `bench-gateway --config FILE [--token-file PATH] [--org ORG] [--staff ID]
//! [--worker-threads N] [--open-grants N]`

use std::path::PathBuf;

use clap::Parser;
use support_gateway::Binds;

/// The gateway, plus a support token for the load generator.
#[derive(Debug, Parser)]
struct Args {
    /// The gateway config file (`[listen]` and `[storage]` are used as configured).
    #[arg(long)]
    config: PathBuf,
    /// Write a support token for `--org` to this file once the gateway listens.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The org the grant is for.
    #[arg(long, default_value = "bench-org")]
    org: String,
    /// The support engineer who claims the seat.
    #[arg(long, default_value = "bench-staff")]
    staff: String,
    /// Before serving, open this many more grants (orgs `bench-open-0` …), to measure
    /// that the ordinary path does not get dearer with the number of active grants.
    #[arg(long, default_value_t = 0)]
    open_grants: usize,
    /// Tokio worker threads (0: one per core the process may use, as `serve` does).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = support_access_bench::load_config(&args.config)?;
    let runtime = support_access_bench::runtime(args.worker_threads)?;
    runtime.block_on(async move {
        let binds = Binds::from_config(&config);
        let gateway = support_gateway::build(config, binds)
            .await
            .map_err(|e| anyhow::anyhow!("the gateway did not start: {e}"))?;
        if args.open_grants > 0 {
            support_access_bench::open_grants(&gateway, args.open_grants).await?;
        }
        if let Some(path) = &args.token_file {
            let token =
                support_access_bench::grant_and_token(&gateway, &args.org, &args.staff).await?;
            let partial = path.with_extension("partial");
            std::fs::write(&partial, format!("{token}\n"))?;
            std::fs::rename(&partial, path)?;
        }
        println!("bench-gateway listening on {}", gateway.proxy);
        gateway.run_until(shutdown_signal()).await;
        Ok(())
    })
}
