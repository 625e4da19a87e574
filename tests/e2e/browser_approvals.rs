//! The admin page's approval requests (SPEC §10) in a real headless Chromium: a
//! pending request shows its method, path, body preview and restriction; approving
//! takes a confirmation (cancel changes nothing) and a note; the approved request then
//! passes once; a denial goes through the same confirmation.

use serde_json::{Value, json};
use support_access_e2e::client::Answer;
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

use crate::browser::{Chromedriver, Page, screenshot_dir};

const ORG: &str = "org-acme";
const ADMIN: &str = "admin-ada";
const SEND_MAIL: &str = "/crm/v8/Leads/4150868000000225013/actions/send_mail";

fn mail(subject: &str) -> String {
    json!({"data": [{"from": {"email": "ana@vendor.example"}, "to": [{"email": "qa@acme.example"}],
                     "subject": subject, "content": "Reproducing T-1"}]})
    .to_string()
}

async fn support_send(h: &Harness, token: &str, body: &str, approval: Option<&str>) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(id) = approval {
        headers.push(("support-approval", id));
    }
    h.http
        .send("POST", SEND_MAIL, &headers, body.as_bytes())
        .await
}

/// Support asks; returns the offered approval's id.
async fn ask(h: &Harness, token: &str, body: &str) -> String {
    let answer = support_send(h, token, body, None).await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    answer.json()["details"]["approval"]["id"]
        .as_str()
        .expect("an approval id")
        .to_owned()
}

async fn approval(h: &Harness, id: &str) -> Value {
    let admin = format!("Bearer {}", tokens::admin(ORG, ADMIN, h.now()));
    let target = format!("/support-access/v1/approvals/{id}");
    let answer = h
        .http
        .send("GET", &target, &[("authorization", &admin)], b"")
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_approves_and_denies_a_single_request_behind_a_confirmation() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let first = mail("Test one");
    let id = ask(&h, &token, &first).await;

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().expect("a browser profile folder");
    let page = Page::open(&driver, profile.path(), screenshot_dir()).await;
    let base = format!("http://{}/support-access/ui/", h.gateway.proxy);
    page.client.goto(&base).await.expect("open the page");
    page.shown("body[data-ready='true'][data-approvals-ready='true']")
        .await;
    page.js("window.__problems = []; \
         addEventListener('error', e => __problems.push('error: ' + e.message)); \
         addEventListener('unhandledrejection', e => __problems.push('rejection: ' + e.reason)); \
         document.addEventListener('securitypolicyviolation', \
           e => __problems.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));")
        .await;
    page.type_into("#token-input", &tokens::admin(ORG, ADMIN, h.now()))
        .await;
    page.click("#token-use").await;

    // The pending request, as support sent it.
    let item = format!("#approvals-list li.approval[data-id='{id}']");
    page.shown(&item).await;
    let request = page.text(&format!("{item} .approval__request")).await;
    assert_eq!(request, format!("POST {SEND_MAIL}"));
    let reason = page.text(&format!("{item} .approval__reason")).await;
    assert!(reason.contains("Restriction 5: Send email"), "{reason}");
    assert!(reason.contains("r5-send-mail"), "{reason}");
    let preview = page.text(&format!("{item} .approval__body")).await;
    assert_eq!(preview, first);
    let meta = page.text(&format!("{item} .approval__meta")).await;
    assert!(meta.contains("staff-ana"), "{meta}");
    page.screenshot("approvals-pending.png", 1280).await;

    // Approve… asks first; cancelling changes nothing.
    page.click(&format!("{item} .approval__approve")).await;
    page.shown("#approval-dialog[open]").await;
    let what = page.text("#approval-dialog-what").await;
    assert!(what.contains("once"), "{what}");
    page.click("#approval-cancel").await;
    page.until(
        "the dialog closes",
        "return document.getElementById('approval-dialog').open;",
        |v| v == &json!(false),
    )
    .await;
    assert_eq!(approval(&h, &id).await["status"], "pending");
    let refused = support_send(&h, &token, &first, Some(&id)).await;
    assert_eq!(refused.status, 403, "still pending: {:?}", refused.body);

    // Approved with a note.
    page.click(&format!("{item} .approval__approve")).await;
    page.shown("#approval-dialog[open]").await;
    page.type_into("#approval-note", "one test mail for T-1")
        .await;
    page.click("#approval-confirm").await;
    page.until(
        "the approval is confirmed and the list emptied",
        "return [document.getElementById('approvals-status').textContent, \
                 document.querySelectorAll('#approvals-list li').length];",
        |v| v[0].as_str().is_some_and(|t| t.starts_with("Approved")) && v[1] == json!(0),
    )
    .await;
    let approved = approval(&h, &id).await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], ADMIN);
    assert_eq!(approved["note"], "one test mail for T-1");
    let used = support_send(&h, &token, &first, Some(&id)).await;
    assert_eq!(used.status, 200, "{:?}", used.body);
    // Support requests only (the browser's own favicon request is ordinary traffic).
    let support: Vec<_> = h
        .stub
        .seen()
        .into_iter()
        .filter(|r| r.headers.contains_key("x-support-access-grant"))
        .collect();
    assert_eq!(support.len(), 1, "{support:?}");
    assert_eq!(support[0].target, SEND_MAIL);

    // Another request, denied through the same confirmation.
    let second = ask(&h, &token, &mail("Test two")).await;
    page.click("#approvals-refresh").await;
    let item = format!("#approvals-list li.approval[data-id='{second}']");
    page.click(&format!("{item} .approval__deny")).await;
    page.shown("#approval-dialog[open]").await;
    assert_eq!(page.text("#approval-confirm").await, "Deny");
    page.click("#approval-confirm").await;
    page.until(
        "the denial is confirmed",
        "return document.getElementById('approvals-status').textContent;",
        |v| v.as_str().is_some_and(|t| t.starts_with("Denied")),
    )
    .await;
    assert_eq!(approval(&h, &second).await["status"], "denied");
    assert_eq!(page.js("return window.__problems;").await, json!([]));
}
