//! The admin page's Notifications section (SPEC §8, §9) in a real headless Chromium:
//! API refusals are shown (a refused URL; a test for an endpoint another admin removed
//! meanwhile); an endpoint pointing at a local receiver is added and its secret shown
//! once (gone after a reload, never in the list); the test event reaches the receiver
//! signed with exactly that secret and appears delivered in the page's deliveries; a
//! receiver's `410 Gone` shows the endpoint disabled; the endpoint is removed only
//! after the confirmation, from the page and from the API. The delivery worker's round
//! is run by the test (poll interval 1 h).

use serde_json::{Value, json};
use support_access_e2e::harness::{Harness, Options};
use support_access_e2e::tokens;

use crate::browser::{Chromedriver, Page, screenshot_dir};
use crate::webhooks::Receiver;

const ORG: &str = "org-acme";
const ADMIN: &str = "admin-ada";
const WEBHOOKS: &str = "/support-access/v1/webhooks";
/// A receiver on 127.0.0.1, and the worker driven by the test.
const NOTIFY: &str = "[notifications]\nallow_insecure_targets = true\npoll_interval = \"1h\"\n";

/// An admin's management call; the answer's status must be `expect`.
async fn admin(h: &Harness, method: &str, target: &str, body: &str, expect: u16) -> Value {
    let auth = format!("Bearer {}", tokens::admin(ORG, ADMIN, h.now()));
    let answer = h
        .http
        .send(method, target, &[("authorization", &auth)], body.as_bytes())
        .await;
    assert_eq!(
        answer.status, expect,
        "{method} {target}: {:?}",
        answer.body
    );
    if answer.body.is_empty() {
        Value::Null
    } else {
        answer.json()
    }
}

async fn listed(h: &Harness) -> Vec<Value> {
    let answer = admin(h, "GET", WEBHOOKS, "", 200).await;
    answer["webhooks"].as_array().unwrap().clone()
}

async fn deliveries(h: &Harness, id: &str) -> Vec<Value> {
    let target = format!("{WEBHOOKS}/{id}/deliveries");
    let answer = admin(h, "GET", &target, "", 200).await;
    answer["deliveries"].as_array().unwrap().clone()
}

/// The section's status line and whether it is marked as an error.
const STATUS: &str = "const s = document.getElementById('webhooks-status'); \
                      return [s.textContent, s.classList.contains('status-line--error')];";

async fn open_page(page: &Page, base: &str) {
    page.client.goto(base).await.expect("open the page");
    page.shown("body[data-ready='true'][data-webhooks-ready='true']")
        .await;
    page.js("window.__problems = []; \
         addEventListener('error', e => __problems.push('error: ' + e.message)); \
         addEventListener('unhandledrejection', e => __problems.push('rejection: ' + e.reason)); \
         document.addEventListener('securitypolicyviolation', \
           e => __problems.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_adds_tests_and_removes_a_webhook_endpoint_showing_its_secret_once() {
    let h = Harness::start_opts(Options {
        extra: NOTIFY.to_owned(),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;

    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().expect("a browser profile folder");
    let page = Page::open(&driver, profile.path(), screenshot_dir()).await;
    let base = format!("http://{}/support-access/ui/", h.gateway.proxy);
    open_page(&page, &base).await;
    page.type_into("#token-input", &tokens::admin(ORG, ADMIN, h.now()))
        .await;
    page.click("#token-use").await;
    page.until(
        "the empty list is shown",
        "return document.getElementById('webhooks-empty').textContent;",
        |v| {
            v.as_str()
                .is_some_and(|t| t.starts_with("No endpoints yet"))
        },
    )
    .await;

    // The API's refusal reaches the admin, and nothing is registered.
    page.type_into("#webhook-url", "ftp://hooks.example.com/x")
        .await;
    page.click("#webhook-add").await;
    let refused = page
        .until("the refusal is shown", STATUS, |v| v[1] == json!(true))
        .await;
    let text = refused[0].as_str().unwrap();
    assert!(text.starts_with("The endpoint was not added:"), "{text}");
    assert!(text.contains("https://"), "the gateway's reason: {text}");
    assert!(listed(&h).await.is_empty());

    // Added for two event types: the secret is shown once, with a copy button.
    page.type_into("#webhook-url", &receiver.url()).await;
    page.click("#webhook-all").await;
    page.click("#webhook-events input[value='webhook.test']")
        .await;
    page.click("#webhook-events input[value='grant.created']")
        .await;
    page.type_into("#webhook-description", "ops pager").await;
    page.click("#webhook-add").await;
    page.shown("#webhook-secret").await;
    let secret = page
        .js("return document.getElementById('webhook-secret-value').value;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let note = page.text("#webhook-secret-note").await;
    assert!(note.contains("will not be shown again"), "{note}");
    assert_eq!(page.text("#webhook-secret-url").await, receiver.url());
    page.click("#webhook-secret-copy").await;
    page.until(
        "the copy is answered",
        "return document.getElementById('webhook-secret-copied').textContent;",
        |v| v.as_str().is_some_and(|t| !t.is_empty()),
    )
    .await;
    receiver.set_secret(&secret);

    let endpoints = listed(&h).await;
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    let endpoint = &endpoints[0];
    assert_eq!(endpoint["url"], receiver.url().as_str());
    assert_eq!(endpoint["events"], json!(["grant.created", "webhook.test"]));
    assert_eq!(endpoint["description"], "ops pager");
    assert!(endpoint.get("secret").is_none(), "{endpoint}");
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let item = format!("#webhooks-list li.webhook[data-id='{id}']");
    assert_eq!(
        page.text(&format!("{item} .webhook__url")).await,
        receiver.url()
    );
    assert_eq!(
        page.text(&format!("{item} .webhook__state")).await,
        "Enabled"
    );
    let events = page.text(&format!("{item} .webhook__events")).await;
    assert!(
        events.contains("Access granted") && events.contains("Test event"),
        "{events}"
    );

    // Another admin's endpoint, listed after the reload below.
    let body = json!({"url": format!("{}/other", receiver.url()), "events": ["*"]});
    let other = admin(&h, "POST", WEBHOOKS, &body.to_string(), 201).await;
    let other = other["id"].as_str().unwrap().to_owned();

    // Once: after "saved" and a reload, the secret is nowhere on the page.
    page.click("#webhook-secret-done").await;
    page.client.refresh().await.expect("reload");
    open_page(&page, &base).await;
    page.shown(&item).await;
    let anywhere = page
        .js_with(
            "return document.documentElement.outerHTML.includes(arguments[0]) || \
                    [...document.querySelectorAll('input')].some(i => i.value === arguments[0]);",
            &secret,
        )
        .await;
    assert_eq!(anywhere, json!(false));

    // That admin removes theirs while the page shows it: the API's refusal is shown.
    let other_item = format!("#webhooks-list li.webhook[data-id='{other}']");
    page.shown(&other_item).await;
    admin(&h, "DELETE", &format!("{WEBHOOKS}/{other}"), "", 204).await;
    page.click(&format!("{other_item} .webhook__test")).await;
    let gone = page
        .until("the refusal is shown", STATUS, |v| v[1] == json!(true))
        .await;
    let text = gone[0].as_str().unwrap();
    assert!(text.starts_with("The test event was not queued:"), "{text}");
    assert!(
        text.contains("No such webhook endpoint"),
        "the gateway's reason: {text}"
    );
    page.click("#webhooks-refresh").await;
    page.until(
        "only the first endpoint is listed",
        "return [...document.querySelectorAll('#webhooks-list li')].map(li => li.dataset.id);",
        |v| v == &json!([id]),
    )
    .await;

    // The test event: queued (pending on the page), delivered signed, then delivered.
    page.click(&format!("{item} .webhook__test")).await;
    let row = format!("{item} tr.delivery[data-event='webhook.test']");
    page.shown(&format!("{row}[data-status='pending']")).await;
    let queued = page
        .until("the test is queued", STATUS, |v| v[1] == json!(false))
        .await;
    assert!(
        queued[0]
            .as_str()
            .unwrap()
            .starts_with("A test event was queued"),
        "{queued}"
    );
    let made = h.gateway.app().webhooks().deliver_due().await;
    assert_eq!(made, 1);
    let received = receiver.next().await;
    assert!(
        received.verified,
        "signed with the shown secret: {received:?}"
    );
    assert_eq!(received.event_type(), "webhook.test");
    assert_eq!(received.body["org"], ORG);
    let sent = deliveries(&h, &id).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["message_id"], received.id.as_str());
    page.click("#webhooks-refresh").await;
    let delivered = format!("{row}[data-status='delivered']");
    page.shown(&delivered).await;
    assert_eq!(
        page.text(&format!("{delivered} .delivery__attempts")).await,
        "1"
    );
    assert_eq!(
        page.text(&format!("{delivered} .delivery__last")).await,
        "HTTP 200"
    );
    page.screenshot("notifications.png", 1280).await;
    page.screenshot("notifications-mobile.png", 390).await;

    // A receiver that answers 410 Gone disables the endpoint: shown, and no more tests.
    receiver.answer_next(&[410]);
    page.click(&format!("{item} .webhook__test")).await;
    page.shown(&format!("{item} tr.delivery[data-status='pending']"))
        .await;
    assert_eq!(h.gateway.app().webhooks().deliver_due().await, 1);
    assert_eq!(receiver.next().await.answered, 410);
    page.click("#webhooks-refresh").await;
    let disabled = format!("#webhooks-list li.webhook[data-id='{id}'][data-enabled='false']");
    page.shown(&disabled).await;
    assert_eq!(
        page.text(&format!("{disabled} .webhook__state")).await,
        "Disabled"
    );
    let meta = page.text(&format!("{disabled} .webhook__meta")).await;
    assert!(meta.contains("410 Gone"), "{meta}");
    let failed = format!("{disabled} tr.delivery[data-status='failed']");
    assert_eq!(
        page.text(&format!("{failed} .delivery__last")).await,
        "HTTP 410"
    );
    let test_enabled = page
        .js_with(
            "return !document.querySelector(arguments[0]).disabled;",
            &format!("{disabled} .webhook__test"),
        )
        .await;
    assert_eq!(test_enabled, json!(false));
    assert_eq!(
        page.js(&format!(
            "return document.querySelectorAll(\"{item} tr.delivery\").length;"
        ))
        .await,
        json!(2)
    );
    assert!(listed(&h).await[0]["disabled_at"].is_string());

    // Remove asks first; cancelling keeps the endpoint.
    page.click(&format!("{item} .webhook__remove")).await;
    page.shown("#webhook-dialog[open]").await;
    let what = page.text("#webhook-dialog-what").await;
    assert!(what.contains(&receiver.url()), "{what}");
    page.click("#webhook-cancel").await;
    page.until(
        "the dialog closes",
        "return document.getElementById('webhook-dialog').open;",
        |v| v == &json!(false),
    )
    .await;
    assert_eq!(listed(&h).await.len(), 1);
    page.click(&format!("{item} .webhook__remove")).await;
    page.shown("#webhook-dialog[open]").await;
    page.click("#webhook-confirm").await;
    page.until(
        "the endpoint is gone from the page",
        "return [document.querySelectorAll('#webhooks-list li').length, \
                 document.getElementById('webhooks-status').textContent];",
        |v| v[0] == json!(0) && v[1].as_str().is_some_and(|t| t.contains("was removed")),
    )
    .await;
    assert!(listed(&h).await.is_empty(), "gone from the API too");
    assert_eq!(page.js("return window.__problems;").await, json!([]));
}
