//! Helpers shared by the benchmark binaries of `bench/run.sh`: a support grant and token
//! made through the gateway's own service and signer, and a tokio runtime of a chosen
//! size.
//!
//! Nothing here is used by the gateway itself; see `bench/README.md` (via
//! `bench/run.sh --help`) for what is measured.

use std::path::Path;

use anyhow::Context;
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::service::{GrantEnd, GrantError, GrantRequest};
use support_gateway::Running;
use support_gateway::config::Config;

/// Loads a gateway config file (as `support-gateway serve --config` does).
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| format!("config {}", path.display()))
}

/// A multi-thread runtime with `threads` workers (0: one per available core, which
/// honours `taskset`).
pub fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    builder.enable_all().build().context("tokio runtime")
}

/// Opens a two-day grant for `org` through the gateway's service, lets `staff` claim
/// the support seat, and returns a support token signed by the gateway's key.
pub async fn grant_and_token(gateway: &Running, org: &str, staff: &str) -> anyhow::Result<String> {
    let app = gateway.app();
    let access = app.access();
    let org = OrgId::from(org);
    access
        .grant(
            &org,
            "bench-admin",
            GrantRequest {
                end: GrantEnd::Days(2),
                reason: Some("benchmark".into()),
                ticket: Some("BENCH-1".into()),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("grant: {e}"))?;
    let staff = StaffId::from(staff);
    let grant = access
        .claim_seat(&org, &staff)
        .await
        .map_err(|e| anyhow::anyhow!("claim the seat: {e}"))?;
    let now = access.now();
    let (token, _) = app
        .signer()
        .issue(&grant, &staff, now)
        .map_err(|e| anyhow::anyhow!("issue a token: {e}"))?;
    Ok(token)
}

/// Opens a two-day grant for each of `count` orgs (`bench-open-0` …) that has none yet,
/// 32 at a time (a database kept from an earlier run already has them).
pub async fn open_grants(gateway: &Running, count: usize) -> anyhow::Result<()> {
    let orgs: Vec<OrgId> = (0..count)
        .map(|n| OrgId::from(format!("bench-open-{n}").as_str()))
        .collect();
    for chunk in orgs.chunks(32) {
        let mut opening = tokio::task::JoinSet::new();
        for org in chunk {
            let org = org.clone();
            let access = gateway.app().access().clone();
            opening.spawn(async move {
                let request = GrantRequest {
                    end: GrantEnd::Days(2),
                    reason: Some("benchmark".into()),
                    ticket: Some("BENCH-OPEN".into()),
                };
                access.grant(&org, "bench-admin", request).await
            });
        }
        while let Some(done) = opening.join_next().await {
            match done? {
                Ok(_) | Err(GrantError::AlreadyActive) => {}
                Err(e) => anyhow::bail!("grant: {e}"),
            }
        }
    }
    Ok(())
}

/// Revokes the open grant of `org` through the gateway's service.
pub async fn revoke(gateway: &Running, org: &str) -> anyhow::Result<()> {
    gateway
        .app()
        .access()
        .revoke(&OrgId::from(org), "bench-admin")
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("revoke: {e}"))
}
