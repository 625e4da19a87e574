//! `audit verify --checkpoint FILE` and `audit checkpoint --org ORG` (SPEC §6.1,
//! docs/tlog.md "Verifying"): a checkpoint a customer saved, checked against the log the
//! store holds now, with a message that says which check failed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use support_access_core::AuditLog;
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    Checkpoint, CheckpointError, CheckpointerError, Frontier, NoteError, NoteSignature,
    NoteVerifier, OpenedNote, TreeHash, audit_origin, event_leaf, open_note,
};
use support_access_memory::SystemClock;

use super::{EXIT_BROKEN_CHAIN, EXIT_CONFIG, EXIT_UNKNOWN_ORG, load, store_failure, verify_org};
use crate::wiring;

/// Exit code of `audit verify --checkpoint` for a checkpoint that does not open: not
/// signed by the audit key, changed after signing, of another log, or not a checkpoint.
pub const EXIT_BAD_CHECKPOINT: u8 = 3;
/// Exit code when the checkpoint file cannot be read (sysexits `EX_NOINPUT`).
pub const EXIT_NO_INPUT: u8 = 66;

/// Events read per page when replaying a log.
const PAGE: u32 = 1000;

/// The keys a checkpoint is checked against, and where they came from (for messages).
struct Trusted {
    keys: Vec<NoteVerifier>,
    source: &'static str,
}

/// `audit verify --checkpoint FILE [--org ORG] [--key VKEY]…`: the checkpoint's
/// signature (by one of the `--key` verifier keys the customer saved, else by the audit
/// key of `audit.key_file`; never by a key read from the database being checked), its
/// origin, then the log: at least its size (else truncated), its first `size` events
/// hash to its root (else rewritten), the chain and the store's tree head (as `audit
/// verify`), and the store's consistency proof from the checkpoint to the current head.
pub(super) async fn verify_checkpoint(
    config: &Path,
    org: Option<String>,
    file: &Path,
    keys: &[String],
) -> ExitCode {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("support-gateway: cannot read {}: {e}", file.display());
            return ExitCode::from(EXIT_NO_INPUT);
        }
    };
    let trusted = if keys.is_empty() {
        audit_verifier(&config).map(|key| Trusted {
            keys: vec![key],
            source: "audit.key_file",
        })
    } else {
        saved_keys(keys).map(|keys| Trusted {
            keys,
            source: "--key",
        })
    };
    let trusted = match trusted {
        Ok(trusted) => trusted,
        Err(code) => return code,
    };
    let issuer = &config.auth.support.issuer;
    let (org, checkpoint, note) = match open(&text, issuer, org.map(OrgId::new), &trusted) {
        Ok(opened) => opened,
        Err(message) => {
            println!("{}: {message}", file.display());
            return ExitCode::from(EXIT_BAD_CHECKPOINT);
        }
    };
    let stores = match wiring::connect(&config.storage).await {
        Ok(stores) => stores,
        Err(e) => return super::wiring_failure(&e),
    };
    if let Err(code) = check_events(&*stores.audit, &org, &checkpoint).await {
        return code;
    }
    let access = wiring::service(&config, &stores, Arc::new(SystemClock));
    if let Err(code) = verify_org(&access, &*stores.tree, &org).await {
        return code;
    }
    let head = match stores.tree.tree_head(&org).await {
        Ok(head) => head,
        Err(e) => return store_failure(&e),
    };
    if checkpoint.size() > 0 {
        let proof = stores
            .tree
            .consistency_proof(&org, checkpoint.size(), head.size)
            .await;
        if let Err(e) = proof.map(|proof| proof.verify(checkpoint.root(), &head.root)) {
            println!(
                "org {org}: REWRITTEN: the store's consistency proof from the checkpoint \
                 ({} events) to its head ({} events) does not verify: {e}",
                checkpoint.size(),
                head.size
            );
            return ExitCode::from(EXIT_BROKEN_CHAIN);
        }
    }
    println!(
        "org {org}: checkpoint verified: signed by {} (trusted from {}), {} events (root {}); \
         the log now has {} events and extends it",
        labels(&note.verified),
        trusted.source,
        checkpoint.size(),
        checkpoint.root(),
        head.size
    );
    if !note.unverified.is_empty() {
        println!(
            "org {org}: also signed by {}, a key you do not trust yet (an audit key \
             rotated in: GET /support-access/v1/audit/verifier-key lists the current keys)",
            labels(&note.unverified)
        );
    }
    ExitCode::SUCCESS
}

fn labels(signatures: &[NoteSignature]) -> String {
    let labels: Vec<String> = signatures.iter().map(NoteSignature::label).collect();
    labels.join(", ")
}

/// The `--key` arguments: each a verifier key, or a file of them (one a line; blank
/// lines and `#` comments skipped). A bad one is a usage error naming it.
fn saved_keys(args: &[String]) -> Result<Vec<NoteVerifier>, ExitCode> {
    let mut keys = Vec::new();
    for arg in args {
        if let Ok(key) = arg.parse::<NoteVerifier>() {
            keys.push(key);
            continue;
        }
        let text = std::fs::read_to_string(arg).map_err(|e| {
            eprintln!(
                "support-gateway: --key {arg}: neither a verifier key \
                 (<name>+<hex key id>+<base64 key>) nor a readable file: {e}"
            );
            ExitCode::from(EXIT_CONFIG)
        })?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.parse::<NoteVerifier>().map_err(|e| {
                eprintln!("support-gateway: --key {arg}: line {}: {e}", number + 1);
                ExitCode::from(EXIT_CONFIG)
            })?;
            keys.push(key);
        }
    }
    if keys.is_empty() {
        eprintln!("support-gateway: --key: no verifier key given");
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok(keys)
}

/// `audit checkpoint --org ORG`: prints the org's signed checkpoint of its current
/// tree (the stored one, or one signed and stored now).
pub(super) async fn print_checkpoint(config: &Path, org: String) -> ExitCode {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let stores = match wiring::connect(&config.storage).await {
        Ok(stores) => stores,
        Err(e) => return super::wiring_failure(&e),
    };
    let keys = stores.keys.as_ref();
    let key = match wiring::audit_keys(&config, keys, Arc::new(SystemClock)).await {
        Ok((key, _)) => key,
        Err(e) => return super::wiring_failure(&e),
    };
    let checkpointer = wiring::checkpointer(&config, &stores, Arc::new(SystemClock), key);
    let org = OrgId::new(org);
    match checkpointer.current(&org).await {
        Ok(checkpoint) => {
            print!("{}", checkpoint.note);
            ExitCode::SUCCESS
        }
        Err(CheckpointerError::EmptyLog(_)) => {
            eprintln!("support-gateway: audit checkpoint: org {org} has no audit events");
            ExitCode::from(EXIT_UNKNOWN_ORG)
        }
        Err(e @ CheckpointerError::NotAnExtension { .. }) => {
            eprintln!("support-gateway: audit checkpoint: REFUSED, nothing signed: {e}");
            ExitCode::from(EXIT_BROKEN_CHAIN)
        }
        Err(CheckpointerError::Store(e)) => store_failure(&e),
        Err(e) => {
            eprintln!("support-gateway: audit checkpoint: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The verifier of the configured audit key; refuses to create a missing key (a new
/// key verifies nothing).
fn audit_verifier(config: &crate::config::Config) -> Result<NoteVerifier, ExitCode> {
    let path = &config.audit.key_file;
    if !path.exists() {
        eprintln!(
            "support-gateway: audit.key_file: {} does not exist: there is no audit key to \
             verify checkpoints with",
            path.display()
        );
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    wiring::audit_key(config)
        .map(|key| key.verifier())
        .map_err(|e| super::wiring_failure(&e))
}

/// Opens the checkpoint: signed by one of the `trusted` keys, a checkpoint body, of the
/// log of `org` (when given) or of some org of this issuer. The error is the message to
/// print.
fn open(
    text: &str,
    issuer: &str,
    org: Option<OrgId>,
    trusted: &Trusted,
) -> Result<(OrgId, Checkpoint, OpenedNote), String> {
    let describe = |e: &CheckpointError| describe(e, trusted.source);
    let org = match org {
        Some(org) => org,
        None => {
            // The org is the origin's last part; the signature is checked first.
            let note = open_note(text, &trusted.keys).map_err(|e| describe(&e.into()))?;
            let body = Checkpoint::from_body(&note.text).map_err(|e| describe(&e))?;
            let prefix = format!("{issuer}/audit/");
            match body.origin().strip_prefix(&prefix) {
                Some(org) if !org.is_empty() => OrgId::new(org),
                _ => {
                    return Err(describe(&CheckpointError::WrongOrigin {
                        expected: format!("{prefix}<org>"),
                        found: body.origin().to_owned(),
                    }));
                }
            }
        }
    };
    let (checkpoint, note) =
        Checkpoint::open_signed(text, &audit_origin(issuer, &org), &trusted.keys)
            .map_err(|e| describe(&e))?;
    Ok((org, checkpoint, note))
}

/// What failed, for a person: the check's name in capitals, then the details;
/// `source` says where the trusted keys came from.
fn describe(error: &CheckpointError, source: &str) -> String {
    match error {
        CheckpointError::Note(NoteError::UnknownKey { trusted, found }) => format!(
            "WRONG KEY: the checkpoint is signed by {} but the trusted keys (from {source}) \
             are {}: it was signed with another audit key, or one rotated since; verify it \
             with a verifier key you saved (--key VKEY)",
            or_none(found),
            or_none(trusted)
        ),
        CheckpointError::Note(NoteError::BadSignature { .. }) => {
            format!("BAD SIGNATURE: {error}")
        }
        CheckpointError::WrongOrigin { .. } => format!("WRONG ORIGIN: {error}"),
        CheckpointError::Note(NoteError::Malformed(_))
        | CheckpointError::Malformed(_)
        | CheckpointError::InvalidLine(_) => format!("MALFORMED: {error}"),
    }
}

fn or_none(labels: &[String]) -> String {
    if labels.is_empty() {
        "no key".to_owned()
    } else {
        labels.join(", ")
    }
}

/// Replays the org's events: it must have at least the checkpoint's size of them
/// (else truncated) and the first `size` must hash to its root (else rewritten).
async fn check_events(
    audit: &dyn AuditLog,
    org: &OrgId,
    checkpoint: &Checkpoint,
) -> Result<(), ExitCode> {
    let size = checkpoint.size();
    let (events, root) = root_of_first(audit, org, size)
        .await
        .map_err(|e| store_failure(&e))?;
    let Some(root) = root else {
        println!(
            "org {org}: TRUNCATED: the checkpoint holds {size} events but the log has only \
             {events}: the newest {} were deleted",
            size - events
        );
        return Err(ExitCode::from(EXIT_BROKEN_CHAIN));
    };
    if &root != checkpoint.root() {
        println!(
            "org {org}: REWRITTEN: the log's first {size} events hash to {root}, not to the \
             checkpoint's root {}: an event at or before seq {size} was changed (or the \
             chain re-hashed)",
            checkpoint.root()
        );
        return Err(ExitCode::from(EXIT_BROKEN_CHAIN));
    }
    Ok(())
}

/// The number of events read (at most `size`) and, when the log has `size` events,
/// the RFC 9162 root of the first `size` of them, from the events' stored hashes.
async fn root_of_first(
    audit: &dyn AuditLog,
    org: &OrgId,
    size: u64,
) -> Result<(u64, Option<TreeHash>), support_access_core::StoreError> {
    let mut frontier = Frontier::default();
    let mut nodes = Vec::new();
    let mut after = 0;
    while frontier.size() < size {
        let events = audit.scan(org, after, PAGE).await?;
        for event in &events {
            after = event.seq;
            if frontier.size() == size {
                break;
            }
            if frontier.push(event_leaf(&event.hash), &mut nodes).is_err() {
                break;
            }
            nodes.clear();
        }
        if events.len() < PAGE as usize {
            break;
        }
    }
    let root = (frontier.size() == size).then(|| frontier.root());
    Ok((frontier.size(), root))
}
