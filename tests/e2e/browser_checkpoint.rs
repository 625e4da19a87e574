//! The admin page's latest checkpoint (SPEC §6.1, §8) in a real headless Chromium: its
//! size and signing time match the checkpoint the store keeps, the download link saves
//! the signed note byte for byte (it opens with the served verifier key), and Refresh
//! shows a newer one once the log grew.
//!
//! Needs Debian's `chromium` and `chromium-driver`: `scripts/install-browser.sh`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use support_access_core::ids::OrgId;
use support_access_core::tlog::{AuditTree, Checkpoint, NoteVerifier, audit_origin};
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

use super::browser::{Chromedriver, ORG, Page, screenshot_dir, support_traffic};

/// How long the browser may take to save a download.
const WAIT: Duration = Duration::from_secs(20);

/// The file Chromium saved into `dir`, once it is complete (bounded wait).
async fn downloaded(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let deadline = Instant::now() + WAIT;
    loop {
        // Chromium writes `<name>.crdownload` and renames it when done.
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not downloaded within {WAIT:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn latest(h: &Harness) -> support_access_core::tlog::StoredCheckpoint {
    h.audit
        .latest_checkpoint(&OrgId::from(ORG))
        .await
        .expect("the store answers")
        .expect("a checkpoint was made")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_shows_the_latest_checkpoint_and_downloads_it() {
    let h = Harness::start().await;
    h.grant_and_token(ORG, "staff-ana", 1).await;
    support_traffic(&h, "staff-ana", &[("GET", "/crm/v8/Leads", 200)], false).await;
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().expect("a browser profile folder");
    let page = Page::open(&driver, profile.path(), screenshot_dir()).await;
    let base = format!("http://{}/support-access/ui/", h.gateway.proxy);

    page.client.goto(&base).await.expect("open the page");
    page.shown("body[data-ready='true']").await;
    page.js("window.__problems = []; \
         addEventListener('error', e => __problems.push('error: ' + e.message)); \
         addEventListener('unhandledrejection', e => __problems.push('rejection: ' + e.reason)); \
         document.addEventListener('securitypolicyviolation', \
           e => __problems.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));")
        .await;
    page.click("#tab-audit").await;
    let state = page.text("#checkpoint-state").await;
    assert!(state.contains("Paste an administrator token"), "{state}");

    page.type_into("#token-input", &tokens::admin(ORG, "admin-ada", h.now()))
        .await;
    page.click("#token-use").await;
    page.click("#tab-audit").await;
    page.shown("#checkpoint-details").await;
    let stored = latest(&h).await;
    assert_eq!(stored.size, h.events(ORG).await.len() as u64);
    assert_eq!(page.text("#checkpoint-size").await, stored.size.to_string());
    assert_eq!(
        page.text("#checkpoint-time").await,
        stored.made_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "the time the checkpoint was signed"
    );
    assert_eq!(page.text("#checkpoint-root").await, stored.root.to_string());

    let name = format!("audit-checkpoint-{}.txt", stored.size);
    let link = page.shown("#checkpoint-link").await;
    assert_eq!(
        link.attr("download").await.expect("attr").as_deref(),
        Some(name.as_str())
    );
    link.click().await.expect("click the download link");
    let saved = downloaded(&profile.path().join("downloads"), &name).await;
    assert_eq!(saved, stored.note, "the signed note, byte for byte");
    let verifier = h
        .http
        .send("GET", "/support-access/v1/audit/verifier-key", &[], b"")
        .await;
    let verifier: NoteVerifier = String::from_utf8(verifier.body.to_vec())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let opened = Checkpoint::open(
        &saved,
        &audit_origin("support-gateway", &OrgId::from(ORG)),
        std::slice::from_ref(&verifier),
    )
    .expect("the download opens with the served verifier key");
    assert_eq!(opened.size(), stored.size);

    // The log grows; Refresh shows the newer checkpoint.
    support_traffic(&h, "staff-ana", &[("GET", "/crm/v8/Contacts", 200)], false).await;
    page.click("#checkpoint-refresh").await;
    let grown = h.events(ORG).await.len() as u64;
    assert!(grown > stored.size);
    let shown = page
        .until(
            "the refreshed checkpoint is shown",
            "return document.getElementById('checkpoint-size').textContent;",
            |v| v.as_str() == Some(grown.to_string().as_str()),
        )
        .await;
    assert_eq!(shown, json!(grown.to_string()));
    assert_eq!(latest(&h).await.size, grown);
    page.screenshot("audit-checkpoint.png", 1280).await;
    assert_eq!(
        page.js("return window.__problems;").await,
        json!([]),
        "no script error or CSP violation"
    );
}
