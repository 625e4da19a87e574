//! "Changes by support" on the admin page (SPEC §11), in a real headless Chromium: the
//! grant's change shows each field's before → after, who and the audit event; a revert
//! is cancelled, then confirmed, and the CRM's record is put back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_access_e2e::harness::Harness;
use support_access_e2e::stub_records::RecordStub;
use support_access_e2e::tokens;

use crate::browser::{Chromedriver, Page, screenshot_dir};

const ORG: &str = "org-acme";
/// How long the downloaded report may take to appear.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_shows_what_support_changed_and_reverts_it_after_a_confirmation() {
    let crm = RecordStub::start().await;
    let h = Harness::start_with_upstream(crm.addr, "2s").await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    crm.put("Leads", "100", json!({"Last_Name": "Old", "City": "Oslo"}));
    let body = json!({"data": [{"Last_Name": "New"}]}).to_string();
    let auth = format!("Zoho-oauthtoken {token}");
    let answer = h
        .http
        .send(
            "PUT",
            "/crm/v8/Leads/100",
            &[("authorization", &auth)],
            body.as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

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
    page.type_into("#token-input", &tokens::admin(ORG, "admin-ada", h.now()))
        .await;
    page.click("#token-use").await;

    // The change: record, operation, the field's before → after, who, the audit event.
    let row = "#changes-list li.change[data-operation='update']";
    page.shown(row).await;
    assert_eq!(
        page.text(&format!("{row} strong")).await,
        "Changed Leads 100"
    );
    let cells = page
        .js("const r = document.querySelector(\"#changes-list tr[data-field='Last_Name']\"); \
             return [r.querySelector('.change__before').textContent, r.querySelector('.change__after').textContent];")
        .await;
    assert_eq!(cells, json!(["Old", "New"]));
    let who = page.text(&format!("{row} .help")).await;
    assert!(who.starts_with("By staff-ana on "), "{who}");
    let audit_link = page
        .js("return document.querySelector('#changes-list .change__audit').getAttribute('href');")
        .await;
    assert_eq!(audit_link, json!("#audit"));
    page.screenshot("changes-by-support.png", 1280).await;

    // The grant's report, as a file.
    page.click("#changes-report-csv").await;
    let link = page.shown("#changes-report-link").await;
    let name = link
        .attr("download")
        .await
        .expect("download attribute")
        .expect("a file name");
    assert_eq!(name, format!("changes-{}.csv", grant.id));
    let file = profile.path().join("downloads").join(&name);
    let deadline = Instant::now() + WAIT;
    let csv = loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && text.lines().count() >= 2
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not downloaded",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        csv.lines().count(),
        2,
        "a header and the one field change: {csv}"
    );
    assert!(
        csv.contains("Last_Name") && csv.contains("Old") && csv.contains("New"),
        "{csv}"
    );

    // Cancel first: nothing is sent.
    page.click(&format!("{row} .change__revert")).await;
    page.shown("#revert-dialog[open]").await;
    page.click("#revert-cancel").await;
    page.until(
        "the dialog closes",
        "return document.getElementById('revert-dialog').open;",
        |v| v == &json!(false),
    )
    .await;
    assert_eq!(crm.get("Leads", "100").unwrap()["Last_Name"], "New");

    // Then confirm: the record is put back and the revert is listed.
    page.click(&format!("{row} .change__revert")).await;
    page.shown("#revert-dialog[open]").await;
    page.click("#revert-confirm").await;
    page.shown("#changes-list li.change[data-operation='revert']")
        .await;
    assert_eq!(crm.get("Leads", "100").unwrap()["Last_Name"], "Old");

    // The change links to its audit event.
    let seq = page
        .js("return document.querySelector(\"#changes-list li.change[data-operation='update'] .change__audit\").textContent;")
        .await;
    let seq = seq
        .as_str()
        .unwrap()
        .trim_start_matches("audit event #")
        .to_owned();
    page.click("#changes-list li.change[data-operation='update'] .change__audit")
        .await;
    page.shown(&format!(
        "#audit-rows tr[data-kind='change.recorded'][data-seq='{seq}']"
    ))
    .await;
    let rows = page
        .js("return [...document.querySelectorAll('#audit-rows tr.audit__row')].map(r => r.dataset.kind);")
        .await;
    assert_eq!(rows, json!(["change.recorded"]), "only the change's event");
    let problems: Value = page.js("return window.__problems;").await;
    assert_eq!(
        problems,
        json!([]),
        "no script error, rejection or CSP violation"
    );
}
