//! The admin web page (`/support-access/ui/`) in a real headless Chromium, driven over
//! WebDriver (chromedriver) with fantoccini: grant access through the page, see the
//! status, cancel and then confirm a revoke, see the audit rows appear (the blocked one
//! marked with its restriction) and filter them by support user.
//!
//! Needs Debian's `chromium` and `chromium-driver`: `scripts/install-browser.sh`.
//! Screenshots go to `target/tmp/screenshots/`; with `UPDATE_SCREENSHOTS=1` they go to
//! `docs/screenshots/` (the ones the README shows).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use support_access_core::ids::OrgId;
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

pub(crate) const ORG: &str = "org-acme";
const ADMIN: &str = "admin-ada";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Audit events per page, as the page asks for them.
const PAGE: usize = 25;
/// How long any one page state may take to appear.
const WAIT: Duration = Duration::from_secs(20);
const INSTALL: &str =
    "run scripts/install-browser.sh (installs Debian's chromium and chromium-driver)";

/// chromedriver on a free port, shut down (and its browsers with it) when dropped,
/// also when the test panics.
pub(crate) struct Chromedriver {
    child: Child,
    port: u16,
}

impl std::fmt::Debug for Chromedriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chromedriver")
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .finish()
    }
}

impl Chromedriver {
    pub(crate) fn start() -> Self {
        for (path, what) in [(CHROMIUM, "Chromium"), (CHROMEDRIVER, "ChromeDriver")] {
            assert!(
                Path::new(path).exists(),
                "{what} is missing ({path} not found): {INSTALL}"
            );
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // The browser's days are UTC days, as the gateway's are, whatever the host's zone.
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER} ({e}): {INSTALL}"));
        let mut driver = Self { child, port };
        driver.wait_ready();
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `GET /status` until chromedriver says it is ready (bounded).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromedriver exited at start ({status}): {INSTALL}");
            }
            match self.get("/status") {
                Ok(body) if body.contains("\"ready\":true") || body.contains("\"ready\": true") => {
                    return;
                }
                Ok(body) => last = body,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "chromedriver did not become ready on port {} within 15 s: {last}",
            self.port
        );
    }

    /// A plain HTTP/1.1 GET to chromedriver (blocking, short timeouts); returns the
    /// body. chromedriver ignores HTTP/1.0 and keeps the connection open whatever the
    /// request says, so the answer is read up to its `Content-Length`.
    fn get(&self, path: &str) -> std::io::Result<String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                });
                if length.is_some_and(|length| body.len() >= length) {
                    return Ok(body.to_owned());
                }
            }
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // `/shutdown` quits every session and its browser; then make sure it is gone.
        let _ = self.get("/shutdown");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser session, with the helpers the scenario needs.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) client: Client,
    shots: PathBuf,
}

impl Page {
    pub(crate) async fn open(driver: &Chromedriver, profile: &Path, shots: PathBuf) -> Self {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--lang=en-US",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                // Exports land in the profile folder, never in the user's Downloads.
                "prefs": {
                    "download.default_directory": profile.join("downloads"),
                    "download.prompt_for_download": false,
                },
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium ({e}): {INSTALL}"));
        Self { client, shots }
    }

    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    /// Waits (bounded) until an element matching `css` is in the page and displayed.
    pub(crate) async fn shown(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && element.is_displayed().await.unwrap_or(false)
            {
                return element;
            }
            if Instant::now() > deadline {
                panic!(
                    "`{css}` was not shown within {WAIT:?}; page says: {}",
                    self.messages().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until `script` returns a value that `ok` accepts; returns it.
    pub(crate) async fn until(
        &self,
        what: &str,
        script: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.js(script).await;
            if ok(&value) {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "{what}: not within {WAIT:?}; last seen {value}; page says: {}",
                    self.messages().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's notice and error lines, for failure messages.
    pub(crate) async fn messages(&self) -> String {
        self.client
            .execute(
                "return 'notice: ' + document.getElementById('notice').textContent + \
                 ' | alert: ' + document.getElementById('alert').textContent + \
                 ' | status: ' + document.getElementById('status-text').textContent;",
                vec![],
            )
            .await
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("(page unreadable: {e})"))
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.shown(css).await.text().await.expect("element text")
    }

    pub(crate) async fn click(&self, css: &str) {
        self.shown(css).await.click().await.expect("click");
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let input = self.shown(css).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// The `data-actor` of every audit row on screen, in order.
    async fn audit_actors(&self) -> Vec<String> {
        let value = self
            .js("return [...document.querySelectorAll('#audit-rows tr.audit__row')].map(r => r.dataset.actor);")
            .await;
        serde_json::from_value(value).expect("a list of actors")
    }

    /// Saves a screenshot of the whole page, from the top, at `width` px.
    pub(crate) async fn screenshot(&self, name: &str, width: u32) {
        let measure = "document.activeElement && document.activeElement.blur(); \
                       window.scrollTo(0, 0); \
                       return [window.innerHeight, Math.ceil(document.documentElement.scrollHeight)];";
        let mut height = 900;
        // The window is a little taller than its viewport: grow it until the page fits.
        for _ in 0..3 {
            self.client
                .set_window_size(width, height)
                .await
                .expect("resize");
            let sizes: (u32, u32) =
                serde_json::from_value(self.js(measure).await).expect("two heights");
            if sizes.0 >= sizes.1 || height >= 6000 {
                break;
            }
            height = (height + sizes.1 - sizes.0).min(6000);
        }
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&self.shots).expect("screenshot folder");
        std::fs::write(self.shots.join(name), png).expect("write screenshot");
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
    }
}

pub(crate) fn screenshot_dir() -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

/// Support traffic by `staff` on the current grant, through the management API: the
/// token exchange (which takes the seat), `calls` (method, target, expected status),
/// and the seat's release when `release`. Returns the support token.
pub(crate) async fn support_traffic(
    h: &Harness,
    staff: &str,
    calls: &[(&str, &str, u16)],
    release: bool,
) -> String {
    let exchange = h
        .http
        .send(
            "POST",
            "/support-access/v1/token",
            &[
                (
                    "authorization",
                    &format!("Bearer {}", tokens::staff(staff, h.now())),
                ),
                ("content-type", "application/json"),
            ],
            json!({ "org": ORG }).to_string().as_bytes(),
        )
        .await;
    assert_eq!(exchange.status, 200, "token exchange: {:?}", exchange.body);
    let token = exchange.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let auth = format!("Bearer {token}");
    for (method, target, expected) in calls {
        let body: &[u8] = if *method == "POST" {
            br#"{"data":[{}]}"#
        } else {
            b""
        };
        let answer = h
            .http
            .send(method, target, &[("authorization", &auth)], body)
            .await;
        assert_eq!(
            answer.status.as_u16(),
            *expected,
            "{method} {target}: {:?}",
            answer.body
        );
    }
    if release {
        let released = h
            .http
            .send(
                "DELETE",
                "/support-access/v1/token",
                &[("authorization", &auth)],
                b"",
            )
            .await;
        assert_eq!(released.status, 204, "seat release: {:?}", released.body);
    }
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_grants_revokes_and_shows_the_filtered_audit_log() {
    let started = Instant::now();
    let h = Harness::start().await;
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().expect("a browser profile folder");
    let page = Page::open(&driver, profile.path(), screenshot_dir()).await;
    let base = format!("http://{}/support-access/ui/", h.gateway.proxy);

    // Sign in with a pasted admin token.
    page.client.goto(&base).await.expect("open the page");
    page.shown("body[data-ready='true']").await;
    // Script errors, failed promises and CSP violations from here on fail the test.
    page.js("window.__problems = []; \
         addEventListener('error', e => __problems.push('error: ' + e.message)); \
         addEventListener('unhandledrejection', e => __problems.push('rejection: ' + e.reason)); \
         document.addEventListener('securitypolicyviolation', \
           e => __problems.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));")
        .await;
    assert_eq!(page.text("h1").await, "Support Access");
    // A token the gateway refuses gets a sentence, is not kept, and the field stays.
    page.type_into("#token-input", "not-a-token").await;
    page.click("#token-use").await;
    page.until(
        "the refused token is explained",
        "return document.getElementById('alert').textContent;",
        |v| v.as_str().is_some_and(|t| t.contains("not a valid token")),
    )
    .await;
    assert_eq!(page.js("return sessionStorage.length;").await, json!(0));
    page.type_into("#token-input", &tokens::admin(ORG, ADMIN, h.now()))
        .await;
    page.click("#token-use").await;
    page.shown("#status[data-status='none']").await;
    assert!(page.text("#status-text").await.starts_with("Not granted"));
    let stored = page
        .js("return [sessionStorage.length, localStorage.length, document.cookie];")
        .await;
    assert_eq!(
        stored,
        json!([1, 0, ""]),
        "the token lives in sessionStorage only"
    );

    // Grant: pick a day in the date picker (earliest tomorrow, latest the maximum).
    let end = page.shown("#grant-end").await;
    let min = end.attr("min").await.expect("min").expect("a min date");
    let max = end.attr("max").await.expect("max").expect("a max date");
    let today = page
        .js("return new Date().toISOString().slice(0, 10);")
        .await;
    let today = NaiveDate::parse_from_str(today.as_str().expect("a date"), "%Y-%m-%d")
        .expect("the browser's date");
    let first = NaiveDate::parse_from_str(&min, "%Y-%m-%d").expect("min is a date");
    let last = NaiveDate::parse_from_str(&max, "%Y-%m-%d").expect("max is a date");
    assert_eq!(
        first,
        today.succ_opt().expect("tomorrow"),
        "earliest choice is tomorrow"
    );
    assert_eq!(
        (last - today).num_days(),
        365,
        "latest choice is the configured maximum"
    );
    let pick = first + chrono::Duration::days(13);
    end.clear().await.expect("clear the date");
    end.send_keys(&pick.format("%m%d%Y").to_string())
        .await
        .expect("type the date");
    let wanted = pick.format("%Y-%m-%d").to_string();
    page.until(
        "the date picker holds the typed day",
        "return document.getElementById('grant-end').value;",
        |v| v.as_str() == Some(wanted.as_str()),
    )
    .await;
    page.type_into("#grant-reason", "Layouts on the Leads page are broken")
        .await;
    page.type_into("#grant-ticket", "CASE-4711").await;
    page.click("#grant-submit").await;
    page.shown("#status[data-status='active']").await;
    let status = page.text("#status-text").await;
    assert!(status.starts_with("Active until "), "{status}");
    assert!(status.contains(&pick.format("%Y").to_string()), "{status}");
    let grant = h
        .gateway
        .app()
        .access()
        .grants()
        .open_for_org(&OrgId::from(ORG))
        .await
        .expect("the store answers")
        .expect("the page created a grant");
    assert_eq!(
        grant.expires_at.date_naive(),
        pick,
        "access ends on the picked day"
    );
    assert_eq!(grant.ticket.as_deref(), Some("CASE-4711"));
    assert_eq!(
        page.text("#d-support-user").await,
        grant.support_user.to_string()
    );

    // Change the end date: a week later.
    let later = pick + chrono::Duration::days(7);
    let change = page.shown("#change-end").await;
    change.clear().await.expect("clear the date");
    change
        .send_keys(&later.format("%m%d%Y").to_string())
        .await
        .expect("type the date");
    page.click("#change-submit").await;
    page.until(
        "the change is confirmed",
        "return document.getElementById('notice').textContent;",
        |v| {
            v.as_str()
                .is_some_and(|t| t.starts_with("The end date is now"))
        },
    )
    .await;
    let changed = h
        .gateway
        .app()
        .access()
        .grants()
        .open_for_org(&OrgId::from(ORG))
        .await
        .expect("the store answers")
        .expect("still granted");
    assert_eq!(
        changed.expires_at.date_naive(),
        later,
        "the end moved to the new day"
    );
    let status = page.text("#status-text").await;
    assert!(
        status.contains(&later.format("%-d, %Y").to_string()),
        "{status}"
    );

    // Support activity: two engineers, one blocked request (restriction 5: send email).
    support_traffic(
        &h,
        "staff-ana",
        &[
            ("GET", "/crm/v8/Leads?fields=Last_Name", 200),
            ("GET", "/crm/v8/Leads/4150868000000225013", 200),
            ("POST", "/crm/v8/Leads/1/actions/send_mail", 403),
        ],
        true,
    )
    .await;
    // Enough traffic for a second page of the audit log (25 events a page).
    let bob_calls: Vec<(&str, String, u16)> = (1..=7)
        .map(|i| ("GET", format!("/crm/v8/Contacts/{i}"), 200))
        .collect();
    let bob_calls: Vec<(&str, &str, u16)> = bob_calls
        .iter()
        .map(|(m, t, s)| (*m, t.as_str(), *s))
        .collect();
    let bob = support_traffic(&h, "staff-bob", &bob_calls, false).await;

    // The status shows who holds the seat.
    page.click("#status-refresh").await;
    page.until(
        "the seat holder is shown",
        "return document.getElementById('d-seat').textContent;",
        |v| {
            v.as_str()
                .is_some_and(|s| s.starts_with("Held by staff-bob since "))
        },
    )
    .await;
    page.screenshot("settings.png", 1280).await;
    page.screenshot("settings-mobile.png", 390).await;

    // Revoke: the dialog says what happens; Cancel changes nothing.
    page.click("#revoke-open").await;
    let dialog = page.text("#revoke-dialog").await;
    assert!(
        dialog.contains("Support access ends immediately"),
        "{dialog}"
    );
    assert!(dialog.contains("staff-bob is signed in"), "{dialog}");
    page.click("#revoke-cancel").await;
    page.until(
        "the dialog closes",
        "return document.getElementById('revoke-dialog').open;",
        |v| v == &json!(false),
    )
    .await;
    page.shown("#status[data-status='active']").await;
    assert_eq!(
        h.http.get("/crm/v8/Contacts", &bob).await.status,
        200,
        "still granted"
    );

    // Confirm: revoked, and the next support request is refused.
    page.click("#revoke-open").await;
    page.click("#revoke-confirm").await;
    page.shown("#status[data-status='revoked']").await;
    let status = page.text("#status-text").await;
    assert!(status.starts_with("Revoked "), "{status}");
    assert!(status.contains(ADMIN), "{status}");
    let refused = h.http.get("/crm/v8/Contacts", &bob).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    page.shown("#grant-card").await;

    // The audit log, reached by keyboard: arrow keys move between the tabs.
    page.shown("#tab-settings")
        .await
        .send_keys(&Key::Right.to_string())
        .await
        .expect("press the right arrow");
    page.shown("#panel-audit").await;
    assert_eq!(
        page.js("return document.activeElement.id;").await,
        json!("tab-audit"),
        "focus follows the selected tab"
    );
    assert_eq!(page.text("#crumb-current").await, "Audit Log");
    let events = h.events(ORG).await;
    let actors: Vec<String> = events
        .iter()
        .rev()
        .map(|e| e.actor.clone().unwrap_or_default())
        .collect();
    let kinds: Vec<&str> = events.iter().rev().map(|e| e.kind.as_str()).collect();
    assert!(
        (26..=50).contains(&events.len()),
        "two pages of events: {}",
        events.len()
    );
    let rows = |n: usize| move |v: &Value| v.as_u64() == Some(n as u64);
    const COUNT: &str = "return document.querySelectorAll('#audit-rows tr.audit__row').length;";
    const KINDS: &str = "return [...document.querySelectorAll('#audit-rows tr.audit__row')].map(r => r.dataset.kind);";
    page.until("the first page is listed", COUNT, rows(PAGE))
        .await;
    assert_eq!(
        page.audit_actors().await,
        actors[..PAGE],
        "newest first, as stored"
    );
    assert_eq!(
        page.js(KINDS).await,
        json!(kinds[..PAGE]),
        "newest first, as stored"
    );
    assert!(
        page.text("#audit-summary")
            .await
            .contains("more on the next page")
    );
    for actor in [ADMIN, "staff-ana", "staff-bob"] {
        assert!(actors.iter().any(|a| a == actor), "{actor} in {actors:?}");
    }
    let blocked = page
        .text("#audit-rows tr.audit__row--blocked[data-actor='staff-ana'] .restriction[data-restriction='5']")
        .await;
    assert_eq!(blocked, "Restriction 5: Send email");
    let blocked_row = page
        .text("#audit-rows tr.audit__row--blocked[data-actor='staff-ana']")
        .await;
    assert!(
        blocked_row.contains("/crm/v8/Leads/1/actions/send_mail"),
        "{blocked_row}"
    );
    assert!(blocked_row.contains("Blocked"), "{blocked_row}");

    // Paging: the next page (by cursor) holds the older rest, down to the grant.
    page.click("#page-next").await;
    page.until(
        "the second page is listed",
        COUNT,
        rows(events.len() - PAGE),
    )
    .await;
    assert_eq!(
        page.audit_actors().await,
        actors[PAGE..],
        "the older events"
    );
    assert_eq!(
        page.js(KINDS)
            .await
            .as_array()
            .and_then(|k| k.last().cloned()),
        Some(json!("grant.created"))
    );
    assert_eq!(
        page.js("return document.getElementById('page-next').disabled;")
            .await,
        json!(true)
    );
    page.click("#page-prev").await;
    page.until("the first page is back", COUNT, rows(PAGE))
        .await;
    assert_eq!(page.audit_actors().await, actors[..PAGE]);

    // Filter by support user: only that engineer's rows remain.
    let ana = events
        .iter()
        .filter(|e| e.actor.as_deref() == Some("staff-ana"))
        .count();
    assert!(ana >= 3 && ana < events.len(), "{ana} of {}", events.len());
    page.type_into("#f-actor", "staff-ana").await;
    page.click("#filters-apply").await;
    page.until(
        "only staff-ana's rows are listed",
        "return [...document.querySelectorAll('#audit-rows tr.audit__row')].map(r => r.dataset.actor);",
        |v| {
            v.as_array()
                .is_some_and(|rows| rows.len() == ana && rows.iter().all(|a| a == "staff-ana"))
        },
    )
    .await;
    // The README's picture of the audit log: one engineer's session, blocked row included.
    page.screenshot("audit.png", 1280).await;
    page.type_into("#f-actor", "staff-bob").await;
    page.click("#filters-apply").await;
    page.until(
        "only staff-bob's rows are listed",
        "return [...document.querySelectorAll('#audit-rows tr.audit__row')].map(r => r.dataset.actor);",
        |v| {
            v.as_array()
                .is_some_and(|rows| !rows.is_empty() && rows.iter().all(|a| a == "staff-bob"))
        },
    )
    .await;
    // One engineer's blocked requests: the one refused email.
    page.type_into("#f-actor", "staff-ana").await;
    page.click("#f-decision").await;
    page.shown("#f-decision option[value='blocked']")
        .await
        .click()
        .await
        .expect("choose blocked");
    page.click("#filters-apply").await;
    page.until(
        "only staff-ana's blocked row is listed",
        "return [...document.querySelectorAll('#audit-rows tr.audit__row')].map(r => r.dataset.kind + ' ' + r.dataset.actor);",
        |v| v == &json!(["request.blocked staff-ana"]),
    )
    .await;
    // Clearing the filters brings the first page back.
    page.click("#filters-clear").await;
    page.until("the first page is back", COUNT, rows(PAGE))
        .await;

    // Export: the page fetches the file with the token and hands it over as a download.
    page.click("#export-csv").await;
    let link = page.shown("#export-link").await;
    let name = link
        .attr("download")
        .await
        .expect("download attribute")
        .expect("a file name");
    assert!(name.ends_with(".csv"), "{name}");
    let file = profile.path().join("downloads").join(&name);
    let deadline = Instant::now() + WAIT;
    let csv = loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && text.lines().count() > events.len()
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not downloaded within {WAIT:?}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(csv.starts_with("id,org,seq,at,kind"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        events.len() + 1,
        "a header and every event"
    );
    assert!(csv.contains("/crm/v8/Leads/1/actions/send_mail"), "{csv}");

    assert_eq!(
        page.js("return window.__problems;").await,
        json!([]),
        "no script errors or CSP violations"
    );
    page.client
        .clone()
        .close()
        .await
        .expect("close the browser");
    drop(driver);
    eprintln!("browser test took {:.1} s", started.elapsed().as_secs_f64());
}
