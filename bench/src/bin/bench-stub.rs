//! `bench-stub`: the upstream CRM of the benchmarks. Answers every request with the same
//! small JSON record (keep-alive, HTTP/1.1), as fast as hyper can, on one thread, so
//! that the proxies in front of it are what is measured.
//!
//! Usage: `bench-stub [--listen 127.0.0.1:18081]`

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// The record every request gets, shaped like a Zoho CRM `GET /crm/v8/Leads/{id}`.
const BODY: &[u8] = br#"{"data":[{"id":"4150868000000225013","Last_Name":"Bench","Company":"Example","Owner":{"id":"4150868000000190003"}}]}"#;

/// A fast fixed-answer upstream for benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:18081")]
    listen: SocketAddr,
}

fn answer(_request: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen).await?;
        println!("bench-stub listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("bench-stub: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service =
                    service_fn(|request| async move { Ok::<_, Infallible>(answer(request)) });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
