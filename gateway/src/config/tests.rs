use std::path::Path;

use super::*;

const MINIMAL: &str = r#"
[auth.customer]
issuer = "https://accounts.crm.example"
audience = "crm"
key = { jwks_file = "keys/customer.jwks.json" }
[auth.staff]
issuer = "https://staff.vendor.example"
audience = "support-gateway"
key = { pem_file = "keys/staff.pub.pem" }
"#;

fn parse(extra: &str) -> Result<Config, ConfigError> {
    Config::from_toml(&format!("{MINIMAL}\n{extra}"), Path::new("/etc/sg"))
}

fn refused_key(extra: &str) -> String {
    parse(extra).expect_err("must be refused").key
}

#[test]
fn defaults_follow_the_spec() {
    let config = parse("").expect("valid");
    assert_eq!(config.listen.proxy.to_string(), "127.0.0.1:8080");
    assert_eq!(config.listen.ops.to_string(), "127.0.0.1:9090");
    assert_eq!(config.upstream.url.to_string(), "http://127.0.0.1:8081/");
    assert_eq!(config.upstream.connect_timeout, Duration::from_secs(2));
    assert_eq!(config.upstream.request_timeout, Duration::from_secs(30));
    assert_eq!(config.auth.header_schemes, ["Bearer", "Zoho-oauthtoken"]);
    assert_eq!(config.auth.support.token_ttl, Duration::from_secs(15 * 60));
    assert_eq!(config.grants.min_duration, Duration::from_secs(86_400));
    assert_eq!(
        config.grants.max_duration,
        Duration::from_secs(365 * 86_400)
    );
    assert_eq!(config.auth.customer.admin_roles, ["admin"]);
    assert_eq!(config.auth.staff.required_role, "support_agent");
    assert_eq!(config.limits.store_timeout, Duration::from_secs(10));
    assert_eq!(config.limits.body_read_timeout, Duration::from_secs(30));
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let config = parse("").expect("valid");
    assert_eq!(
        config.storage,
        Storage::Sqlite("sqlite:///etc/sg/support-access.db?mode=rwc".into())
    );
    assert_eq!(
        config.policy.file,
        Path::new("/etc/sg/policy/zoho-crm-v8.toml")
    );
    assert_eq!(
        config.auth.support.signing_key,
        Path::new("/etc/sg/keys/support-signing.pem")
    );
    assert_eq!(
        config.auth.customer.key,
        KeySource::JwksFile("/etc/sg/keys/customer.jwks.json".into())
    );
    let absolute = parse("[policy]\nfile = \"/opt/policy.toml\"").expect("valid");
    assert_eq!(absolute.policy.file, Path::new("/opt/policy.toml"));
}

#[test]
fn storage_urls_are_recognised() {
    let memory = parse("[storage]\nurl = \"memory\"").expect("valid");
    assert_eq!(memory.storage, Storage::Memory);
    let pg = parse("[storage]\nurl = \"postgres://postgres@127.0.0.1/test\"").expect("valid");
    assert_eq!(
        pg.storage,
        Storage::Postgres("postgres://postgres@127.0.0.1/test".into())
    );
    assert_eq!(refused_key("[storage]\nurl = \"mysql://x\""), "storage.url");
}

#[test]
fn bad_values_are_refused_naming_their_key() {
    assert_eq!(
        refused_key("[listen]\nproxy = \"not an address\""),
        "listen.proxy"
    );
    assert_eq!(
        refused_key("[upstream]\nurl = \"ftp://crm\""),
        "upstream.url"
    );
    assert_eq!(
        refused_key("[upstream]\nconnect_timeout = \"soon\""),
        "upstream.connect_timeout"
    );
    assert_eq!(
        refused_key("[upstream]\nrequest_timeout = \"0s\""),
        "upstream.request_timeout"
    );
    assert_eq!(
        refused_key("[grants]\nmax_duration = \"1h\""),
        "grants.max_duration"
    );
    assert_eq!(
        refused_key("[grants]\nmin_duration = \"2h\""),
        "grants.min_duration"
    );
    assert_eq!(
        refused_key("[grants]\nmin_duration = \"23h 59m 59s\""),
        "grants.min_duration"
    );
    assert_eq!(refused_key("[auth]\nleeway = \"5m\""), "auth.leeway");
    assert_eq!(refused_key("[log]\nformat = \"xml\""), "log.format");
    assert_eq!(
        refused_key("[limits]\nstore_timeout = \"0s\""),
        "limits.store_timeout"
    );
    assert_eq!(
        refused_key("[limits]\nbody_read_timeout = \"0s\""),
        "limits.body_read_timeout"
    );
}

#[test]
fn wrong_types_and_unknown_keys_are_refused_naming_their_key() {
    assert_eq!(
        refused_key("[upstream]\nmax_idle_connections = \"many\""),
        "upstream.max_idle_connections"
    );
    let unknown = parse("[upstream]\nurll = \"http://x\"").expect_err("unknown key");
    assert!(unknown.key.starts_with("upstream"), "{unknown}");
    assert!(unknown.message.contains("urll"), "{unknown}");
}

#[test]
fn keys_need_exactly_one_source() {
    let text = MINIMAL.replace(
        "key = { pem_file = \"keys/staff.pub.pem\" }",
        "key = { pem_file = \"a.pem\", hs256_secret = \"0123456789abcdef0123456789abcdef\" }",
    );
    let refused = Config::from_toml(&text, Path::new(".")).expect_err("two sources");
    assert_eq!(refused.key, "auth.staff.key");
    let short = MINIMAL.replace(
        "key = { pem_file = \"keys/staff.pub.pem\" }",
        "key = { hs256_secret = \"short\" }",
    );
    let refused = Config::from_toml(&short, Path::new(".")).expect_err("short secret");
    assert_eq!(refused.key, "auth.staff.key.hs256_secret");
    let missing = Config::from_toml("", Path::new(".")).expect_err("missing");
    assert_eq!(missing.key, "auth.customer.issuer");
}

#[test]
fn the_audit_section_defaults_to_a_minute_and_a_key_next_to_the_support_key() {
    let config = parse("").expect("valid");
    assert_eq!(config.audit.checkpoint_interval, Duration::from_secs(60));
    assert_eq!(
        config.audit.key_file,
        Path::new("/etc/sg/keys/audit-signing.pem")
    );
    let custom =
        parse("[audit]\ncheckpoint_interval = \"5s\"\nkey_file = \"/k/a.pem\"").expect("valid");
    assert_eq!(custom.audit.checkpoint_interval, Duration::from_secs(5));
    assert_eq!(custom.audit.key_file, Path::new("/k/a.pem"));
    assert_eq!(
        refused_key("[audit]\ncheckpoint_interval = \"0s\""),
        "audit.checkpoint_interval"
    );
    assert_eq!(refused_key("[audit]\nkey_file = \"\""), "audit.key_file");
    // After `keys rotate --audit` the old key co-signs a week by default.
    assert_eq!(config.audit.key_overlap, Duration::from_secs(7 * 86_400));
    let overlap = parse("[audit]\nkey_overlap = \"0s\"").expect("valid: no overlap");
    assert_eq!(overlap.audit.key_overlap, Duration::ZERO);
    assert_eq!(
        refused_key("[audit]\nkey_overlap = \"a week\""),
        "audit.key_overlap"
    );
}

#[test]
fn the_approvals_section_defaults_to_an_hour_pending_and_a_quarter_hour_approved() {
    let config = parse("").expect("valid");
    assert_eq!(config.approvals.pending_ttl, Duration::from_secs(3600));
    assert_eq!(config.approvals.ttl, Duration::from_secs(900));
    let custom = parse("[approvals]\npending_ttl = \"10m\"\nttl = \"30s\"").expect("valid");
    assert_eq!(custom.approvals.pending_ttl, Duration::from_secs(600));
    assert_eq!(custom.approvals.ttl, Duration::from_secs(30));
    assert_eq!(refused_key("[approvals]\nttl = \"0s\""), "approvals.ttl");
    assert_eq!(
        refused_key("[approvals]\npending_ttl = \"soon\""),
        "approvals.pending_ttl"
    );
    assert_eq!(refused_key("[approvals]\nttls = \"1m\""), "approvals.ttls");
}

#[test]
fn the_shipped_file_parses_and_its_notifications_section_says_the_code_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let text = std::fs::read_to_string(dir.join("gateway.toml")).expect("read config/gateway.toml");
    assert!(text.contains("\n[notifications]"), "the section is shipped");
    let shipped = Config::from_toml(&text, &dir).expect("the shipped file is valid");
    let defaults = parse("").expect("valid").notifications;
    let shown = shipped.notifications;
    assert_eq!(shown.max_age, defaults.max_age);
    assert_eq!(shown.timeout, defaults.timeout);
    assert_eq!(shown.expiry_warning, defaults.expiry_warning);
    assert_eq!(shown.poll_interval, defaults.poll_interval);
    assert_eq!(
        shown.allow_insecure_targets,
        defaults.allow_insecure_targets
    );
    // The defaults are SPEC §9's.
    assert_eq!(defaults.max_age, Duration::from_secs(3 * 86_400));
    assert_eq!(defaults.timeout, Duration::from_secs(10));
    assert_eq!(defaults.expiry_warning, Duration::from_secs(86_400));
    assert_eq!(defaults.poll_interval, Duration::from_secs(1));
    assert!(!defaults.allow_insecure_targets);
    assert_eq!(
        refused_key("[notifications]\nmax_age = \"0s\""),
        "notifications.max_age"
    );
    assert_eq!(
        refused_key("[notifications]\nretries = 3"),
        "notifications.retries"
    );
}
