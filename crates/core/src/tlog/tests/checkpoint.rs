use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ids::OrgId;
use crate::tlog::{
    Checkpoint, CheckpointError, NoteError, NoteSigner, NoteVerifier, TreeHash, audit_key_name,
    audit_origin, leaf_hash, sign_all,
};

const ORIGIN: &str = "support-gateway/audit/org-1";

fn signer() -> NoteSigner {
    NoteSigner::from_seed(&audit_key_name("support-gateway"), &[42; 32]).unwrap()
}

fn checkpoint() -> Checkpoint {
    Checkpoint::new(ORIGIN, 20852163, leaf_hash(b"root")).unwrap()
}

#[test]
fn the_origin_and_key_name_are_the_specs() {
    assert_eq!(
        audit_origin("support-gateway", &OrgId::from("org-1")),
        "support-gateway/audit/org-1"
    );
    assert_eq!(audit_key_name("support-gateway"), "support-gateway/audit");
}

#[test]
fn the_c2sp_example_checkpoint_body_parses_and_prints_back() {
    let body =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint = Checkpoint::from_body(body).unwrap();
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20852163);
    assert_eq!(
        checkpoint.root().to_base64(),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert!(checkpoint.extensions().is_empty());
    assert_eq!(checkpoint.body(), body);
}

#[test]
fn a_signed_checkpoint_is_a_c2sp_note_with_one_signature_line() {
    let signed = checkpoint().sign(&signer()).unwrap();
    let lines: Vec<&str> = signed.split('\n').collect();
    assert_eq!(lines[0], ORIGIN);
    assert_eq!(lines[1], "20852163");
    assert_eq!(lines[2], leaf_hash(b"root").to_base64());
    assert_eq!(lines[3], "");
    let signature = lines[4].strip_prefix("— support-gateway/audit ").unwrap();
    let raw = STANDARD.decode(signature).unwrap();
    assert_eq!(raw.len(), 4 + 64);
    assert_eq!(raw[..4], signer().key_id().to_be_bytes());
    assert_eq!(lines[5], "");
    assert_eq!(lines.len(), 6);
}

#[test]
fn a_signed_checkpoint_opens_with_the_published_verifier_key() {
    let signed = checkpoint().sign(&signer()).unwrap();
    // The customer holds only the verifier key text.
    let verifier: NoteVerifier = signer().verifier().to_string().parse().unwrap();
    assert_eq!(
        Checkpoint::open(&signed, ORIGIN, &[verifier]).unwrap(),
        checkpoint()
    );
}

#[test]
fn extension_lines_round_trip() {
    let with = checkpoint()
        .with_extensions(vec!["made 2026-11-26T10:00:00Z".into(), "x".into()])
        .unwrap();
    let signed = with.sign(&signer()).unwrap();
    let opened = Checkpoint::open(&signed, ORIGIN, &[signer().verifier()]).unwrap();
    assert_eq!(opened, with);
    assert_eq!(opened.extensions(), ["made 2026-11-26T10:00:00Z", "x"]);
}

#[test]
fn a_checkpoint_of_another_log_is_a_wrong_origin() {
    let signed = checkpoint().sign(&signer()).unwrap();
    let error = Checkpoint::open(
        &signed,
        "support-gateway/audit/org-2",
        &[signer().verifier()],
    )
    .unwrap_err();
    assert_eq!(
        error,
        CheckpointError::WrongOrigin {
            expected: "support-gateway/audit/org-2".into(),
            found: ORIGIN.into(),
        }
    );
    assert_eq!(error.code(), "wrong_origin");
}

#[test]
fn a_checkpoint_changed_after_signing_is_a_bad_signature() {
    let signed = checkpoint().sign(&signer()).unwrap();
    let other_root = leaf_hash(b"other").to_base64();
    let edits = [
        signed.replace("20852163", "20852162"),
        signed.replace("20852163", "208521630"),
        signed.replace(&leaf_hash(b"root").to_base64(), &other_root),
        signed.replace("org-1", "org-2"),
        signed.replacen('\n', "\nextension\n", 3),
    ];
    for edited in edits {
        assert_ne!(edited, signed);
        let error = Checkpoint::open(&edited, ORIGIN, &[signer().verifier()]).unwrap_err();
        assert!(
            matches!(error, CheckpointError::Note(NoteError::BadSignature { .. })),
            "{edited:?}: {error:?}"
        );
        assert_eq!(error.code(), "bad_signature");
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_is_an_unknown_key() {
    let forged = checkpoint()
        .sign(&NoteSigner::from_seed(&audit_key_name("support-gateway"), &[7; 32]).unwrap())
        .unwrap();
    let error = Checkpoint::open(&forged, ORIGIN, &[signer().verifier()]).unwrap_err();
    assert!(
        matches!(error, CheckpointError::Note(NoteError::UnknownKey { .. })),
        "{error:?}"
    );
    assert_eq!(error.code(), "unknown_key");
}

#[test]
fn malformed_checkpoint_bodies_say_which_rule_they_break() {
    let root = leaf_hash(b"root").to_base64();
    let short_root = STANDARD.encode([0u8; 31]);
    let bodies = [
        format!("{ORIGIN}\n1\n{root}"),
        format!("{ORIGIN}\n1\n"),
        format!("{ORIGIN}\n"),
        String::new(),
        format!("\n1\n{root}\n"),
        format!("{ORIGIN}\n\n{root}\n"),
        format!("{ORIGIN}\n01\n{root}\n"),
        format!("{ORIGIN}\n-1\n{root}\n"),
        format!("{ORIGIN}\n+1\n{root}\n"),
        format!("{ORIGIN}\n 1\n{root}\n"),
        format!("{ORIGIN}\n1.0\n{root}\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
        format!("{ORIGIN}\n1\n{short_root}\n"),
        format!("{ORIGIN}\n1\n{}\n", root.trim_end_matches('=')),
        format!(
            "{ORIGIN}\n1\n{}\n",
            root.replace('+', "-").replace('/', "_")
        ),
        format!("{ORIGIN}\n1\n{}\n", hex::encode([0u8; 32])),
        format!("{ORIGIN}\n1\n{root}\n\n"),
        format!("{ORIGIN}\n1\n{root}\next\n\n"),
        format!("{ORIGIN}\n1\n{root}\nta\tb\n"),
    ];
    for body in bodies {
        // Signed by the trusted key, so only the body is wrong.
        let signed = signer().sign(&body);
        let error = match signed {
            Ok(signed) => Checkpoint::open(&signed, ORIGIN, &[signer().verifier()]).unwrap_err(),
            Err(note) => CheckpointError::from(note),
        };
        let parsed = Checkpoint::from_body(&body).unwrap_err();
        assert!(
            matches!(parsed, CheckpointError::Malformed(_)),
            "{body:?}: {parsed:?}"
        );
        assert!(
            matches!(
                error,
                CheckpointError::Malformed(_) | CheckpointError::Note(NoteError::Malformed(_))
            ),
            "{body:?}: {error:?}"
        );
    }
    // The largest size and size zero are sizes.
    let largest = format!("{ORIGIN}\n18446744073709551615\n{root}\n");
    assert_eq!(Checkpoint::from_body(&largest).unwrap().size(), u64::MAX);
    let empty = format!("{ORIGIN}\n0\n{}\n", crate::tlog::EMPTY_ROOT);
    assert_eq!(Checkpoint::from_body(&empty).unwrap().size(), 0);
}

#[test]
fn origins_and_extensions_that_break_the_format_cannot_be_made() {
    let root = TreeHash([0; 32]);
    for origin in ["", "a\nb", "a\tb", "a\rb"] {
        assert_eq!(
            Checkpoint::new(origin, 1, root),
            Err(CheckpointError::InvalidLine(origin.into()))
        );
    }
    for line in ["", "a\nb", "\u{7}"] {
        assert_eq!(
            checkpoint().with_extensions(vec![line.into()]),
            Err(CheckpointError::InvalidLine(line.into()))
        );
    }
    // An org id may hold anything a token claim does; its origin must still be valid.
    let odd = OrgId::from("org\nsize");
    assert!(Checkpoint::new(&audit_origin("support-gateway", &odd), 1, root).is_err());
}

#[test]
fn a_checkpoint_signed_by_two_keys_opens_with_either_and_names_the_other() {
    let old = signer();
    let new = NoteSigner::from_seed(&audit_key_name("support-gateway"), &[9; 32]).unwrap();
    let body = checkpoint().body();
    let signed = sign_all(&body, &[&new, &old]).unwrap();
    assert_eq!(
        signed.matches("\n\u{2014} support-gateway/audit ").count(),
        2
    );
    for (trusted, other) in [(&old, &new), (&new, &old)] {
        let (opened, note) =
            Checkpoint::open_signed(&signed, ORIGIN, &[trusted.verifier()]).unwrap();
        assert_eq!(opened, checkpoint());
        assert_eq!(note.verified.len(), 1);
        assert_eq!(note.verified[0].key_id, trusted.key_id());
        assert_eq!(note.unverified.len(), 1);
        assert_eq!(note.unverified[0].label(), other.verifier().label());
    }
    let both = Checkpoint::open_signed(&signed, ORIGIN, &[old.verifier(), new.verifier()]);
    assert_eq!(both.unwrap().1.verified.len(), 2);
    // The one signature of `sign` is exactly `sign_all` with one key.
    assert_eq!(
        sign_all(&body, &[&old]).unwrap(),
        checkpoint().sign(&old).unwrap()
    );
    assert!(matches!(
        sign_all(&body, &[]),
        Err(NoteError::Malformed("no signature"))
    ));
    let unrelated = NoteSigner::from_seed(&audit_key_name("support-gateway"), &[3; 32]).unwrap();
    assert!(matches!(
        Checkpoint::open(&signed, ORIGIN, &[unrelated.verifier()]),
        Err(CheckpointError::Note(NoteError::UnknownKey { found, .. })) if found.len() == 2
    ));
}
