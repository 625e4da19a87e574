//! `support-gateway`: the thin binary edge.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support_gateway::cli::run(support_gateway::cli::Cli::parse()).await
}
