//! The `support-gateway` binary as a child process: `serve --config FILE`, its listen
//! addresses read from its own log line, killed with SIGKILL or stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support_access_e2e::harness::config_dir;

/// The binary: `gateway/src/main.rs`, built by this package (see `tests/Cargo.toml`).
const EXE: &str = env!("CARGO_BIN_EXE_e2e-support-gateway");

/// A config file for `serve`: listeners on port 0, JSON logs, the repository's
/// development keys and policy, storage at `storage`, upstream at `upstream`;
/// `limits` is the body of the `[limits]` table.
pub fn config(dir: &Path, storage: &str, upstream: SocketAddr, limits: &str) -> PathBuf {
    let keys = config_dir().join("keys");
    let text = format!(
        r#"
[listen]
proxy = "127.0.0.1:0"
ops = "127.0.0.1:0"
[upstream]
url = "http://{upstream}"
[storage]
url = "{storage}"
[auth.customer]
issuer = "https://accounts.crm.example"
audience = "crm"
key = {{ jwks_file = "{keys}/customer.jwks.json" }}
[auth.staff]
issuer = "https://staff.vendor.example"
audience = "support-gateway"
key = {{ pem_file = "{keys}/staff.pub.pem" }}
[auth.support]
signing_key = "{dir}/support-signing.pem"
[audit]
key_file = "{dir}/audit-signing.pem"
[policy]
file = "{policy}"
[limits]
{limits}
[log]
format = "json"
"#,
        keys = keys.display(),
        dir = dir.display(),
        policy = config_dir().join("policy/zoho-crm-v8.toml").display(),
    );
    let file = dir.join("gateway.toml");
    std::fs::write(&file, text).expect("write the config");
    file
}

/// Runs `support-gateway ARGS…` to completion: its exit code, stdout and stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(EXE)
        .args(args)
        .output()
        .expect("run support-gateway");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `support-gateway serve`.
#[derive(Debug)]
pub struct Gateway {
    child: Option<Child>,
    /// The proxy listener.
    pub proxy: SocketAddr,
    /// The ops listener.
    pub ops: SocketAddr,
    /// Its log lines; kept so that the thread draining the pipe goes on.
    _log: mpsc::Receiver<String>,
}

impl Gateway {
    /// Starts `serve --config FILE` and waits (at most 30 s) for it to listen.
    pub fn serve(config: &Path) -> Self {
        let mut child = Command::new(EXE)
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start support-gateway serve");
        let stderr = child.stderr.take().expect("stderr");
        let (lines, log) = mpsc::channel();
        // Drains the log for as long as the process lives (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log.recv_timeout(left).unwrap_or_else(|_| {
                let status = child.try_wait();
                panic!("support-gateway serve did not start listening within 30 s ({status:?})")
            });
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["message"] == "support gateway listening" {
                let addr = |key: &str| {
                    entry[key]
                        .as_str()
                        .and_then(|a| a.parse().ok())
                        .unwrap_or_else(|| panic!("no {key} address in {line}"))
                };
                return Self {
                    proxy: addr("proxy"),
                    ops: addr("ops"),
                    child: Some(child),
                    _log: log,
                };
            }
        }
    }

    /// The process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill_9(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to exit.
    pub fn terminate(mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status, started.elapsed());
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("support-gateway did not exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10)); // polling interval
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
