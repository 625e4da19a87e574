//! The `support-gateway` binary: start-up validation, `policy explain`, `audit verify`,
//! and the demo whose printed commands are run as a newcomer would paste them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[path = "cli/checkpoint.rs"]
mod checkpoint;

const EXE: &str = env!("CARGO_BIN_EXE_support-gateway");

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.toml")
}

/// Kills the child when dropped, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(EXE)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_value_is_refused_at_start_naming_the_key_with_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_config())
        .unwrap()
        .replace("url = \"http://127.0.0.1:8081\"", "url = \"ftp://crm\"");
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, text).unwrap();
    let (code, _, stderr) = run(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("upstream.url"), "{stderr}");

    let config = repo_config();
    let (code, _, stderr) = run(
        &["serve", "--config", config.to_str().unwrap()],
        &[("SUPPORT_GATEWAY_LISTEN__PROXY", "not-an-address")],
    );
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("listen.proxy"), "{stderr}");

    let (code, _, stderr) = run(&["serve", "--config", "/nonexistent/gateway.toml"], &[]);
    assert_eq!(code, 64, "{stderr}");
}

#[test]
fn policy_explain_prints_the_decision_rule_and_restriction() {
    let config = repo_config();
    let (code, stdout, stderr) = run(
        &[
            "policy",
            "explain",
            "POST",
            "/crm/v8/Leads/1/actions/send_mail",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "a denied request exits 1: {stderr}");
    let text = stdout.to_ascii_lowercase();
    assert!(text.contains("denied"), "{stdout}");
    assert!(text.contains("r5-send-mail"), "{stdout}");
    assert!(text.contains('5'), "{stdout}");
    let (code, stdout, _) = run(
        &[
            "policy",
            "explain",
            "GET",
            "/crm/v8/Leads",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "an allowed request exits 0");
    assert!(stdout.to_ascii_lowercase().contains("allowed"), "{stdout}");
    for (method, path, expected) in [
        ("POST", "/crm/v8/settings/data_sharing/rules/search", 0),
        ("POST", "/crm/v8/settings/data_sharing/rules", 1),
        ("GET", "/crm/v8/Leads%2F..", 1),
    ] {
        let (code, stdout, _) = run(
            &[
                "policy",
                "explain",
                method,
                path,
                "--config",
                config.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, expected, "{method} {path}: {stdout}");
    }
}

#[test]
fn policy_explain_says_whether_a_refusal_is_approvable_and_keeps_its_exit_codes() {
    let config = repo_config();
    let explain = |method: &str, path: &str, json: bool| {
        let mut args = vec![
            "policy",
            "explain",
            method,
            path,
            "--config",
            config.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        run(&args, &[])
    };
    let (code, stdout, stderr) = explain("POST", "/crm/bulk/v8/read", false);
    assert_eq!(code, 1, "an approvable refusal is still a denial: {stderr}");
    assert!(stdout.contains("rule:        r7-bulk-read"), "{stdout}");
    assert!(stdout.contains("approvable:  yes"), "{stdout}");
    let (code, stdout, _) = explain("GET", "/support-access/v1/grants", false);
    assert_eq!(code, 1);
    assert!(stdout.contains("approvable:  no"), "{stdout}");
    let (code, stdout, _) = explain("GET", "/crm/v8/Leads", false);
    assert_eq!(code, 0);
    assert!(!stdout.contains("approvable:"), "{stdout}");
    let (code, stdout, _) = explain("POST", "/crm/v8/Leads/1/actions/send_mail", true);
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        value["decision"]["approvable"],
        serde_json::json!(true),
        "{stdout}"
    );
}

fn start_demo(dir: &Path) -> (Killed, String) {
    let mut child = Command::new(EXE)
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let killed = Killed(child);
    let mut script = String::new();
    let mut in_script = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("# ready") {
            return (killed, script);
        }
        if line.starts_with("# Paste") {
            in_script = true;
        }
        if in_script {
            script.push_str(&line);
            script.push('\n');
        }
    }
    panic!("the demo ended before printing its commands");
}

#[test]
fn the_demo_steps_pasted_in_order_tell_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, script) = start_demo(dir.path());
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 8, "{stdout}");
    assert!(
        lines[0].contains(r#""status":"active""#),
        "grant: {}",
        lines[0]
    );
    assert!(lines[1].starts_with("eyJ"), "token exchange: {}", lines[1]);
    assert!(lines[2].contains("Lovelace"), "allowed call: {}", lines[2]);
    assert!(
        lines[3].contains("NO_PERMISSION") && lines[3].contains(r#""restriction":5"#),
        "blocked call: {}",
        lines[3]
    );
    assert_eq!(lines[4], "204", "revoke");
    assert!(
        lines[5].contains("support_access_revoked"),
        "refused next call: {}",
        lines[5]
    );
    assert!(
        lines[6].contains(r#""kind":"request.blocked""#)
            && lines[6].contains(r#""kind":"grant.revoked""#),
        "audit: {}",
        lines[6]
    );
    assert!(lines[7].contains("chain intact"), "verify: {}", lines[7]);
}

#[tokio::test]
async fn audit_verify_names_the_first_broken_event_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (demo, script) = start_demo(dir.path());
    let steps: String = script
        .lines()
        .take_while(|l| !l.starts_with("# 8."))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        Command::new("bash")
            .arg("-c")
            .arg(&steps)
            .output()
            .unwrap()
            .status
            .success()
    );
    drop(demo);
    let config = dir.path().join("gateway.toml");
    let (code, stdout, _) = run(
        &["audit", "verify", "--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("chain intact"), "{stdout}");

    let url = format!("sqlite://{}/support-access.db", dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let changed = sqlx::query("UPDATE audit_events SET path = '/crm/v8/Contacts' WHERE seq = 4")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    pool.close().await;
    let (code, stdout, _) = run(
        &[
            "audit",
            "verify",
            "--config",
            config.to_str().unwrap(),
            "--org",
            "demo-org",
        ],
        &[],
    );
    assert_ne!(code, 0, "{stdout}");
    assert!(stdout.contains("BROKEN at seq 4"), "{stdout}");
}

/// The demo's story, up to (not including) step 8, run against a fresh demo; answers
/// the config path once the demo is stopped.
fn demo_with_events(dir: &Path) -> PathBuf {
    let (demo, script) = start_demo(dir);
    let steps: String = script
        .lines()
        .take_while(|l| !l.starts_with("# 8."))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        Command::new("bash")
            .arg("-c")
            .arg(&steps)
            .output()
            .unwrap()
            .status
            .success()
    );
    drop(demo);
    dir.join("gateway.toml")
}

#[tokio::test]
async fn audit_verify_catches_deleted_newest_events_and_refuses_an_unknown_org() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_with_events(dir.path());
    let config = config.to_str().unwrap();
    let (code, _, stderr) = run(
        &[
            "audit",
            "verify",
            "--config",
            config,
            "--org",
            "no-such-org",
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("org no-such-org has no audit log"),
        "{stderr}"
    );
    let (code, stdout, _) = run(&["audit", "verify", "--config", config], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("tree head matches"), "{stdout}");

    let url = format!("sqlite://{}/support-access.db", dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let deleted = sqlx::query(
        "DELETE FROM audit_events WHERE org = 'demo-org' AND seq > \
         (SELECT MAX(seq) - 2 FROM audit_events WHERE org = 'demo-org')",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(deleted.rows_affected(), 2);
    pool.close().await;
    let (code, stdout, _) = run(
        &["audit", "verify", "--config", config, "--org", "demo-org"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("BROKEN"), "{stdout}");
    assert!(!stdout.contains("intact"), "{stdout}");
}

#[test]
fn version_names_the_release_and_the_commit() {
    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    let expected = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_owned(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        });
    assert_eq!(
        stdout.trim(),
        format!(
            "support-gateway {} (commit {expected})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    let config = repo_config();
    let child = Command::new(EXE)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .envs([
            ("SUPPORT_GATEWAY_LISTEN__PROXY", "127.0.0.1:0"),
            ("SUPPORT_GATEWAY_LISTEN__OPS", "127.0.0.1:0"),
            ("SUPPORT_GATEWAY_STORAGE__URL", "memory"),
            ("SUPPORT_GATEWAY_LOG__FORMAT", "text"),
            ("SUPPORT_GATEWAY_LOG__LEVEL", "info"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stderr = child.0.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let listening = line.contains("support gateway listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let last = seen.last().cloned().unwrap_or_default();
    assert!(last.contains("INFO"), "a text log line: {seen:?}");
    assert!(
        seen.iter().all(|line| !line.contains('\u{1b}')),
        "no ANSI escapes: {seen:?}"
    );
}

#[test]
fn completions_and_the_man_page_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, stderr) = run(&["completions", shell], &[]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(stdout.contains("serve"), "{shell}: {stdout}");
    }
    let (code, _, _) = run(&["completions", "no-such-shell"], &[]);
    assert_eq!(code, 2, "clap refuses an unknown shell");
    let (code, stdout, stderr) = run(&["man"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH"),
        "{stdout}"
    );
    assert!(stdout.contains("serve"), "{stdout}");
}

/// Environment overrides that keep a run's database and own keys in `dir`.
fn scratch_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "SUPPORT_GATEWAY_STORAGE__URL".into(),
            format!("sqlite://{}?mode=rwc", dir.join("gw.db").display()),
        ),
        (
            "SUPPORT_GATEWAY_AUTH__SUPPORT__SIGNING_KEY".into(),
            dir.join("support.pem").display().to_string(),
        ),
        (
            "SUPPORT_GATEWAY_AUDIT__KEY_FILE".into(),
            dir.join("audit.pem").display().to_string(),
        ),
    ]
}

fn run_in(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> (i32, String, String) {
    let env = scratch_env(dir);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    run(args, &all)
}

#[test]
fn config_check_accepts_the_repo_config_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let (code, stdout, stderr) = run_in(
        dir.path(),
        &["config", "check", "--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(
        stdout.contains("auth.support.signing_key"),
        "names the key serve would create: {stdout}"
    );
    assert!(
        !dir.path().join("support.pem").exists(),
        "check created a key"
    );
    assert!(
        !dir.path().join("audit.pem").exists(),
        "check created a key"
    );
}

#[test]
fn config_check_refuses_with_exit_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let config = config.to_str().unwrap();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("SUPPORT_GATEWAY_GRANTS__MIN_DURATION", "2h")],
            "grants.min_duration",
        ),
        (
            &[("SUPPORT_GATEWAY_POLICY__FILE", "/nonexistent/policy.toml")],
            "policy.file",
        ),
        (
            &[(
                "SUPPORT_GATEWAY_AUTH__STAFF__KEY__PEM_FILE",
                "/nonexistent/staff.pem",
            )],
            "auth.staff.key",
        ),
        (
            &[(
                "SUPPORT_GATEWAY_STORAGE__URL",
                "postgres://postgres@127.0.0.1:1/test",
            )],
            "storage.url",
        ),
        (
            &[("SUPPORT_GATEWAY_UPSTREAM__URL", "ftp://crm")],
            "upstream.url",
        ),
    ];
    for (env, key) in cases {
        let (code, stdout, stderr) =
            run_in(dir.path(), &["config", "check", "--config", config], env);
        assert_eq!(code, 64, "{key}: {stdout}{stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(!stdout.contains("OK"), "{key}: {stdout}");
    }
    // A key file others can read is refused by check as by serve.
    let key = dir.path().join("support.pem");
    let (code, _, stderr) = run_in(dir.path(), &["migrate", "--config", config], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run_in(
        dir.path(),
        &["serve", "--config", config],
        &[("SUPPORT_GATEWAY_GRANTS__MIN_DURATION", "2h")],
    );
    assert_eq!(code, 64, "serve refuses a minimum under a day: {stderr}");
    assert!(stderr.contains("grants.min_duration"), "{stderr}");
    std::fs::write(&key, "not a key").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["config", "check", "--config", config], &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("auth.support.signing_key"), "{stderr}");
}

#[test]
fn a_listen_address_in_use_exits_64_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for key in ["listen.proxy", "listen.ops"] {
        let variable = format!("SUPPORT_GATEWAY_{}", key.to_uppercase().replace('.', "__"));
        let (other, other_value) = if key == "listen.proxy" {
            ("SUPPORT_GATEWAY_LISTEN__OPS", "127.0.0.1:0")
        } else {
            ("SUPPORT_GATEWAY_LISTEN__PROXY", "127.0.0.1:0")
        };
        let (code, _, stderr) = run_in(
            dir.path(),
            &["serve", "--config", config.to_str().unwrap()],
            &[
                (variable.as_str(), taken.as_str()),
                (other, other_value),
                ("SUPPORT_GATEWAY_STORAGE__URL", "memory"),
            ],
        );
        assert_eq!(code, 64, "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(stderr.contains(&taken), "{key}: {stderr}");
    }
}

#[test]
fn a_store_serve_cannot_reach_exits_64_naming_storage_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let (code, _, stderr) = run_in(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        &[
            ("SUPPORT_GATEWAY_LISTEN__PROXY", "127.0.0.1:0"),
            ("SUPPORT_GATEWAY_LISTEN__OPS", "127.0.0.1:0"),
            (
                "SUPPORT_GATEWAY_STORAGE__URL",
                "postgres://postgres@127.0.0.1:1/none",
            ),
        ],
    );
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("storage.url"), "{stderr}");
}

/// `serve` with the repo config on free ports; returns the child and the proxy address.
fn start_serve(dir: &Path) -> (Killed, String) {
    let config = repo_config();
    let mut child = Command::new(EXE)
        .args(["serve", "--config", config.to_str().unwrap()])
        .envs(scratch_env(dir))
        .env("SUPPORT_GATEWAY_LISTEN__PROXY", "127.0.0.1:0")
        .env("SUPPORT_GATEWAY_LISTEN__OPS", "127.0.0.1:0")
        .env("SUPPORT_GATEWAY_LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let killed = Killed(child);
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
            && event["message"] == "support gateway listening"
        {
            return (killed, event["proxy"].as_str().unwrap().to_owned());
        }
    }
    panic!("serve ended before listening");
}

fn curl(args: &[&str]) -> (String, String) {
    let output = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

#[test]
fn dev_tokens_lead_from_the_readme_run_command_to_a_grant_and_a_support_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let config = config.to_str().unwrap();
    let (code, admin, stderr) = run(
        &[
            "dev-token",
            "admin",
            "--org",
            "acme",
            "--sub",
            "alice",
            "--config",
            config,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let admin = admin.trim().to_owned();
    let (code, staff, stderr) = run(
        &["dev-token", "staff", "--sub", "ana", "--config", config],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let staff = staff.trim().to_owned();

    let (_serve, proxy) = start_serve(dir.path());
    let base = format!("http://{proxy}/support-access/v1");
    let (status, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/grant"),
        "-H",
        &format!("Authorization: Bearer {admin}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"days": 2, "reason": "trial"}"#,
    ]);
    assert_eq!(status, "201", "{body}");
    let grant: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(grant["org"], "acme");
    assert_eq!(grant["created_by"], "alice");
    let (status, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/token"),
        "-H",
        &format!("Authorization: Bearer {staff}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"org": "acme"}"#,
    ]);
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("access_token"), "{body}");
    // The admin token is an admin's, not a staff member's: the wrong kind is a 403.
    let (status, _) = curl(&[
        "-X",
        "POST",
        &format!("{base}/token"),
        "-H",
        &format!("Authorization: Bearer {admin}"),
        "-d",
        r#"{"org": "acme"}"#,
    ]);
    assert_eq!(status, "403");
}

#[test]
fn dev_token_refuses_a_config_that_does_not_trust_the_development_keys() {
    let dir = tempfile::tempdir().unwrap();
    // A config whose customer IdP key is someone else's (the staff public key stands in).
    let config_dir = repo_config().parent().unwrap().to_path_buf();
    let absolute = format!("\"{}/", config_dir.display());
    let text = std::fs::read_to_string(repo_config())
        .unwrap()
        .replace(
            "key = { jwks_file = \"keys/customer.jwks.json\" }",
            "key = { pem_file = \"keys/staff.pub.pem\" }",
        )
        .replace("\"keys/", &format!("{absolute}keys/"))
        .replace("\"policy/", &format!("{absolute}policy/"));
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, text).unwrap();
    let keys = config_dir.join("keys/dev-only");
    let (code, stdout, stderr) = run(
        &[
            "dev-token",
            "admin",
            "--org",
            "acme",
            "--sub",
            "alice",
            "--config",
            file.to_str().unwrap(),
            "--keys",
            keys.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "no token is printed: {stdout}");
    assert!(stderr.contains("auth.customer.key"), "{stderr}");
    // Without the development keys there is nothing to sign with.
    let (code, stdout, stderr) = run(
        &[
            "dev-token",
            "staff",
            "--sub",
            "ana",
            "--config",
            repo_config().to_str().unwrap(),
            "--keys",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(stderr.contains("staff-idp.key.pem"), "{stderr}");
}

#[test]
fn keys_rotate_adds_a_next_key_and_keys_list_shows_each_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_config();
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) = run_in(dir.path(), &["keys", "list", "--config", config], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("no support keys"), "{stdout}");
    let (code, stdout, stderr) = run_in(dir.path(), &["keys", "rotate", "--config", config], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("publish_ahead 5m"), "{stdout}");
    let (code, stdout, stderr) = run_in(dir.path(), &["keys", "list", "--config", config], &[]);
    assert_eq!(code, 0, "{stderr}");
    let states: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().nth(1).unwrap())
        .collect();
    // The key file's key was stored first (active), the new one waits (next).
    assert_eq!(states, ["next", "active"], "{stdout}");
    assert!(
        dir.path().join("support.pem").exists(),
        "the key file's key is the first"
    );
    // A rotation that takes effect at once leaves the previous key retiring.
    let (code, _, stderr) = run_in(
        dir.path(),
        &["keys", "rotate", "--config", config],
        &[("SUPPORT_GATEWAY_AUTH__SUPPORT__PUBLISH_AHEAD", "0s")],
    );
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = run_in(dir.path(), &["keys", "list", "--config", config], &[]);
    let states: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(states, ["next", "active", "retiring"], "{stdout}");

    // The audit key rotates apart from the support keys; the list shows verifier keys.
    let (code, stdout, stderr) = run_in(
        dir.path(),
        &["keys", "rotate", "--audit", "--config", config],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("added audit key audit-"), "{stdout}");
    let (_, stdout, _) = run_in(
        dir.path(),
        &["keys", "list", "--audit", "--config", config],
        &[],
    );
    let audit: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(audit.len(), 2, "{stdout}");
    assert!(
        audit[0].contains(" next ") && audit[1].contains(" active "),
        "{stdout}"
    );
    assert!(
        audit
            .iter()
            .all(|line| line.contains("vkey support-gateway/audit+")),
        "{stdout}"
    );
    let (_, stdout, _) = run_in(dir.path(), &["keys", "list", "--config", config], &[]);
    assert_eq!(
        stdout.lines().count(),
        4,
        "support keys unchanged: {stdout}"
    );

    let (code, _, stderr) = run_in(
        dir.path(),
        &["keys", "rotate", "--config", config],
        &[("SUPPORT_GATEWAY_STORAGE__URL", "memory")],
    );
    assert_eq!(code, 64, "memory storage has no shared keys: {stderr}");
    assert!(stderr.contains("storage.url"), "{stderr}");
}
