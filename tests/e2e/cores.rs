//! A runtime per core: on a multi-thread runtime the proxy is served by one thread per
//! worker (`proxy-<port>-<n>`), each with its own `SO_REUSEPORT` listener and upstream
//! pool; connections are spread over them, and they are gone once the gateway shut down.

use std::io::{Read, Write};

use support_access_e2e::harness::{Harness, Options};

/// The threads of this process serving the proxy on `port`.
fn proxy_threads(port: u16) -> usize {
    let prefix = format!("proxy-{port}-");
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(&prefix))
        })
        .count()
}

/// One request on a connection of its own; the status code.
fn get_on_a_new_connection(port: u16) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(
            b"GET /crm/v8/Leads/1 HTTP/1.1\r\nHost: crm.example\r\n\
              Authorization: Zoho-oauthtoken 1000.abc.def\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_thread_runtime_serves_the_proxy_on_a_thread_per_worker() {
    let h = Harness::start_opts(Options {
        extra: "[listen]\nruntime_per_core = true\n".into(),
        ..Options::default()
    })
    .await;
    let port = h.gateway.proxy.port();
    assert_eq!(proxy_threads(port), 2, "one serving thread per worker");
    let statuses = tokio::task::spawn_blocking(move || {
        (0..16)
            .map(|_| get_on_a_new_connection(port))
            .collect::<Vec<_>>()
    })
    .await
    .expect("client");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(h.stub.seen().len(), 16);
    assert!(
        h.stub
            .seen()
            .iter()
            .all(|seen| seen.headers["x-forwarded-for"] == "127.0.0.1")
    );
    h.gateway.shutdown().await;
    assert_eq!(
        proxy_threads(port),
        0,
        "the serving threads end with the gateway"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after the shutdown"
    );
}
