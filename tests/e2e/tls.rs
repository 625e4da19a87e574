//! TLS both sides (SPEC §7), with certificates each test makes: an `https://` upstream
//! trusted through `upstream.ca_file`, HTTP/2 by ALPN where it is offered, `502
//! upstream_tls` on a certificate no root vouches for; `[listen.tls]` serving HTTP/1.1
//! and h2 by ALPN, its files re-read on `SIGHUP` while open connections keep working.

use std::path::Path;

use support_access_e2e::harness::{config_dir, config_text};
use support_access_e2e::tls::{TestCa, TlsClient, TlsStub};
use support_gateway::config::Config;
use support_gateway::{Binds, Running};

const H2_AND_1: &[&[u8]] = &[b"h2", b"http/1.1"];
const HTTP1: &[&[u8]] = &[b"http/1.1"];

fn binds() -> Binds {
    Binds {
        proxy: "127.0.0.1:0".parse().unwrap(),
        ops: "127.0.0.1:0".parse().unwrap(),
    }
}

/// The test configuration with `[upstream] url = url` and `upstream_keys` in that
/// table; `extra` as in [`config_text`].
fn config(dir: &Path, url: &str, upstream_keys: &str, extra: &str) -> Result<Config, String> {
    let text = config_text("127.0.0.1:9", dir, extra).replace(
        "url = \"http://127.0.0.1:9\"",
        &format!("url = \"{url}\"\n{upstream_keys}"),
    );
    Config::from_toml(&text, &config_dir()).map_err(|e| e.to_string())
}

async fn start(config: Config) -> Running {
    support_gateway::build(config, binds())
        .await
        .expect("the gateway starts")
}

async fn get(gateway: &Running, target: &str) -> (u16, http::HeaderMap, serde_json::Value) {
    let client = support_access_e2e::client::HttpClient::new(gateway.proxy);
    let answer = client.send("GET", target, &[], b"").await;
    let json = serde_json::from_slice(&answer.body).unwrap_or_default();
    (answer.status.as_u16(), answer.headers, json)
}

#[tokio::test]
async fn an_https_upstream_trusted_through_ca_file_is_reached_over_h2_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("e2e upstream CA");
    let stub = TlsStub::start(&ca.leaf("crm"), H2_AND_1).await;
    let ca_file = ca.write(dir.path(), "upstream-ca.pem");
    let url = format!("https://localhost:{}", stub.addr.port());
    let keys = format!("ca_file = \"{}\"", ca_file.display());
    let gateway = start(config(dir.path(), &url, &keys, "").unwrap()).await;

    let (status, headers, body) = get(&gateway, "/crm/v8/Leads?page=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "HTTP/2.0");
    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].version, "HTTP/2.0");
    assert_eq!(seen[0].target, "/crm/v8/Leads?page=1");
    assert_eq!(seen[0].headers["x-request-id"], headers["x-request-id"]);
    gateway.shutdown().await;
}

#[tokio::test]
async fn an_https_upstream_that_offers_only_http1_is_reached_over_http1() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("e2e upstream CA");
    let stub = TlsStub::start(&ca.leaf("crm"), HTTP1).await;
    let ca_file = ca.write(dir.path(), "upstream-ca.pem");
    let url = format!("https://127.0.0.1:{}", stub.addr.port());
    let keys = format!("ca_file = \"{}\"", ca_file.display());
    let gateway = start(config(dir.path(), &url, &keys, "").unwrap()).await;

    let (status, _, body) = get(&gateway, "/crm/v8/Leads").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "HTTP/1.1");
    assert_eq!(stub.seen()[0].version, "HTTP/1.1");
    gateway.shutdown().await;
}

#[tokio::test]
async fn an_upstream_certificate_no_trusted_root_vouches_for_is_a_502_upstream_tls() {
    let dir = tempfile::tempdir().unwrap();
    let stub = TlsStub::start(&TestCa::new("unknown CA").leaf("crm"), H2_AND_1).await;
    // Trusts another CA (and the platform's and webpki roots), not the stub's.
    let other = TestCa::new("some other CA").write(dir.path(), "other-ca.pem");
    let url = format!("https://localhost:{}", stub.addr.port());
    let keys = format!("ca_file = \"{}\"", other.display());
    let gateway = start(config(dir.path(), &url, &keys, "").unwrap()).await;

    let (status, headers, body) = get(&gateway, "/crm/v8/Leads").await;
    assert_eq!(status, 502);
    assert_eq!(body["details"]["error"], "upstream_tls", "{body}");
    assert_eq!(
        body["details"]["request_id"],
        headers["x-request-id"].to_str().unwrap()
    );
    assert!(stub.seen().is_empty(), "nothing reached the upstream");
    gateway.shutdown().await;
}

#[tokio::test]
async fn tls_settings_that_cannot_work_stop_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.pem");
    let keys = format!("ca_file = \"{}\"", missing.display());
    let config_ = config(dir.path(), "https://crm.example", &keys, "").unwrap();
    let refused = support_gateway::build(config_, binds()).await.unwrap_err();
    assert!(
        refused.to_string().contains("upstream.ca_file"),
        "{refused}"
    );

    let plain = config(dir.path(), "http://crm.example", &keys, "").unwrap_err();
    assert!(plain.contains("upstream.ca_file"), "{plain}");

    let no_key = config(
        dir.path(),
        "http://crm.example",
        "",
        "[listen.tls]\ncert_file = \"cert.pem\"",
    )
    .unwrap_err();
    assert!(no_key.contains("listen.tls.key_file"), "{no_key}");

    let listen = format!(
        "[listen.tls]\ncert_file = \"{0}\"\nkey_file = \"{0}\"",
        missing.display()
    );
    let config_ = config(dir.path(), "http://crm.example", "", &listen).unwrap();
    let refused = support_gateway::build(config_, binds()).await.unwrap_err();
    assert!(
        refused.to_string().contains("listen.tls.cert_file"),
        "{refused}"
    );
}

/// A gateway whose proxy listener serves `leaf` files written under `dir`.
async fn tls_gateway(
    dir: &Path,
    leaf: &support_access_e2e::tls::Leaf,
) -> (Running, support_access_e2e::stub::Stub) {
    let stub = support_access_e2e::stub::Stub::start().await;
    let (cert, key) = leaf.write(dir, "listen-");
    let listen = format!(
        "[listen.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"",
        cert.display(),
        key.display()
    );
    let url = format!("http://{}", stub.addr);
    let gateway = start(config(dir, &url, "", &listen).unwrap()).await;
    (gateway, stub)
}

#[tokio::test]
async fn the_proxy_listener_serves_tls_over_http1_and_h2_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("e2e listener CA");
    let (gateway, stub) = tls_gateway(dir.path(), &ca.leaf("gateway")).await;

    let mut h1 = TlsClient::connect(gateway.proxy, &ca.pem(), HTTP1).await;
    assert_eq!(h1.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let answer = h1.get("/crm/v8/Leads").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.version, http::Version::HTTP_11);

    let mut h2 = TlsClient::connect(gateway.proxy, &ca.pem(), H2_AND_1).await;
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]));
    let answer = h2.get("/crm/v8/Deals").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.version, http::Version::HTTP_2);
    assert!(answer.headers.contains_key("x-request-id"));

    let seen = stub.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.headers["x-forwarded-proto"], "https");
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn after_sighup_new_connections_get_the_new_certificate_and_an_old_one_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("e2e listener CA");
    let first = ca.leaf("gateway-1");
    let (gateway, _stub) = tls_gateway(dir.path(), &first).await;
    let mut old = TlsClient::connect(gateway.proxy, &ca.pem(), H2_AND_1).await;
    assert_eq!(old.server_cert, first.der());
    assert_eq!(old.get("/crm/v8/Leads").await.status, 200);

    let second = ca.leaf("gateway-2");
    second.write(dir.path(), "listen-");
    let mut reloads = gateway.tls().expect("listen.tls").reloads();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The signal is handled on the gateway's own task: wait until it reloaded.
    let reloaded = reloads.wait_for(|n| *n >= 1);
    tokio::time::timeout(std::time::Duration::from_secs(5), reloaded)
        .await
        .expect("a reload after SIGHUP")
        .unwrap();

    let mut new = TlsClient::connect(gateway.proxy, &ca.pem(), H2_AND_1).await;
    assert_eq!(new.server_cert, second.der());
    assert_eq!(new.get("/crm/v8/Leads").await.status, 200);
    // The connection opened before the reload was not dropped.
    assert_eq!(old.get("/crm/v8/Deals").await.status, 200);
    assert_eq!(old.server_cert, first.der());
    gateway.shutdown().await;
}
