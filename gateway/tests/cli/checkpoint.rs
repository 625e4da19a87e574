//! `audit checkpoint --org` and `audit verify --checkpoint FILE`: a checkpoint saved
//! from the demo's log verifies; truncating or rewriting the log, another key, an edited
//! note and another org's origin each fail with a message that says which.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use support_access_core::AuditLog;
use support_access_core::ids::OrgId;
use support_access_seaorm::SeaOrmStore;

use super::{demo_with_events, run};

/// `audit checkpoint --org demo-org`, saved to `checkpoint.txt` next to the config.
fn save_checkpoint(config: &str, dir: &Path) -> (String, String) {
    let (code, note, stderr) = run(
        &[
            "audit",
            "checkpoint",
            "--config",
            config,
            "--org",
            "demo-org",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let file = dir.join("checkpoint.txt");
    std::fs::write(&file, &note).unwrap();
    (file.to_str().unwrap().to_owned(), note)
}

fn verify(config: &str, file: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    run(
        &["audit", "verify", "--config", config, "--checkpoint", file],
        env,
    )
}

async fn sql(dir: &Path, statement: String) -> u64 {
    let url = format!("sqlite://{}/support-access.db", dir.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let done = sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    done.rows_affected()
}

#[tokio::test]
async fn a_saved_checkpoint_verifies_and_then_catches_the_newest_events_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_with_events(dir.path());
    let config = config.to_str().unwrap();
    let (file, note) = save_checkpoint(config, dir.path());
    let lines: Vec<&str> = note.lines().collect();
    assert!(lines[0].ends_with("/audit/demo-org"), "{note}");
    let size: u64 = lines[1].parse().unwrap();
    assert!(size >= 3, "{note}");
    assert!(lines[4].starts_with("— "), "{note}");
    let (code, again, _) = run(
        &[
            "audit",
            "checkpoint",
            "--config",
            config,
            "--org",
            "demo-org",
        ],
        &[],
    );
    assert_eq!((code, again.as_str()), (0, note.as_str()), "the stored one");

    let (code, stdout, stderr) = verify(config, &file, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("checkpoint verified"), "{stdout}");
    assert!(stdout.contains(&format!("{size} events")), "{stdout}");

    let (code, _, stderr) = run(
        &[
            "audit",
            "checkpoint",
            "--config",
            config,
            "--org",
            "no-such-org",
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no audit events"), "{stderr}");

    let deleted = sql(
        dir.path(),
        format!(
            "DELETE FROM audit_events WHERE org = 'demo-org' AND seq > {}",
            size - 2
        ),
    )
    .await;
    assert_eq!(deleted, 2);
    let (code, stdout, _) = verify(config, &file, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "TRUNCATED: the checkpoint holds {size} events but the log has only {}",
            size - 2
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("verified"), "{stdout}");
}

#[tokio::test]
async fn a_rewritten_and_rehashed_log_fails_against_the_saved_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_with_events(dir.path());
    let config = config.to_str().unwrap();
    let (file, _) = save_checkpoint(config, dir.path());

    // Edit the first event and re-hash the whole chain after it, head included: the
    // chain alone verifies again, the checkpoint does not.
    let url = format!("sqlite://{}/support-access.db", dir.path().display());
    let store = SeaOrmStore::connect(&url).await.unwrap();
    let mut events = store
        .scan(&OrgId::from("demo-org"), 0, 10_000)
        .await
        .unwrap();
    drop(store);
    let mut prev = events[0].prev_hash;
    for event in &mut events {
        let mut data = event.data.clone();
        data.reason = Some("nothing to see".into());
        *event = data.seal(event.seq, prev);
        prev = event.hash;
        sql(
            dir.path(),
            format!(
                "UPDATE audit_events SET reason = 'nothing to see', prev_hash = '{}', \
                 hash = '{}' WHERE org = 'demo-org' AND seq = {}",
                event.prev_hash.to_hex(),
                event.hash.to_hex(),
                event.seq
            ),
        )
        .await;
    }
    sql(
        dir.path(),
        format!(
            "UPDATE audit_heads SET hash = '{}' WHERE org = 'demo-org'",
            prev.to_hex()
        ),
    )
    .await;
    let (code, stdout, _) = run(
        &["audit", "verify", "--config", config, "--org", "demo-org"],
        &[],
    );
    assert_eq!(code, 1, "the tree head still catches it: {stdout}");
    assert!(stdout.contains("BROKEN"), "{stdout}");

    let (code, stdout, _) = verify(config, &file, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("REWRITTEN"), "{stdout}");
    assert!(!stdout.contains("verified"), "{stdout}");
}

/// A fresh Ed25519 PKCS#8 PEM at `path`, mode 0600.
fn other_key(path: &Path) {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec()));
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[tokio::test]
async fn another_key_an_edited_note_and_another_orgs_origin_are_refused_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_with_events(dir.path());
    let config = config.to_str().unwrap();
    let (file, note) = save_checkpoint(config, dir.path());

    let other = dir.path().join("other-audit.pem");
    other_key(&other);
    let env = [("SUPPORT_GATEWAY_AUDIT__KEY_FILE", other.to_str().unwrap())];
    let (code, stdout, stderr) = verify(config, &file, &env);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("WRONG KEY"), "{stdout}");

    let missing = dir.path().join("no-such-key.pem");
    let env = [("SUPPORT_GATEWAY_AUDIT__KEY_FILE", missing.to_str().unwrap())];
    let (code, _, stderr) = verify(config, &file, &env);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("audit.key_file"), "{stderr}");
    assert!(!missing.exists(), "verify never creates a key");

    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    let size: u64 = lines[1].parse().unwrap();
    lines[1] = (size + 1).to_string();
    let edited = dir.path().join("edited.txt");
    std::fs::write(&edited, lines.join("\n") + "\n").unwrap();
    let (code, stdout, _) = verify(config, edited.to_str().unwrap(), &[]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("BAD SIGNATURE"), "{stdout}");

    let (code, stdout, _) = run(
        &[
            "audit",
            "verify",
            "--config",
            config,
            "--checkpoint",
            &file,
            "--org",
            "other-org",
        ],
        &[],
    );
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("WRONG ORIGIN"), "{stdout}");
    assert!(stdout.contains("/audit/other-org"), "{stdout}");

    let (code, _, stderr) = verify(config, "/nonexistent/checkpoint.txt", &[]);
    assert_eq!(code, 66, "{stderr}");
}
