//! Signed notes against the published keys and notes of Go's
//! `golang.org/x/mod/sumdb/note` tests and the C2SP `signed-note` example.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::tlog::note::{MAX_SIGNATURES, is_valid_key_name};
use crate::tlog::{
    NoteError, NoteSigner, NoteVerifier, SignerKeyError, VerifierKeyError, key_id, open_note,
    parse_note,
};

const PETER_SIGNER: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VERIFIER: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/// Go's signer key text `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`, read here only
/// to use Go's published test key.
fn go_signer(text: &str) -> NoteSigner {
    let parts: Vec<&str> = text.splitn(5, '+').collect();
    assert_eq!(parts[..2], ["PRIVATE", "KEY"]);
    let key = STANDARD.decode(parts[4]).unwrap();
    assert_eq!(key[0], 0x01);
    let signer = NoteSigner::from_seed(parts[2], &key[1..].try_into().unwrap()).unwrap();
    assert_eq!(format!("{:08x}", signer.key_id()), parts[3]);
    signer
}

fn peter() -> NoteVerifier {
    PETER_VERIFIER.parse().unwrap()
}

fn enoch() -> NoteVerifier {
    ENOCH_VERIFIER.parse().unwrap()
}

#[test]
fn gos_test_key_signs_gos_test_note_byte_for_byte() {
    let signer = go_signer(PETER_SIGNER);
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.sign(TEXT).unwrap(), format!("{TEXT}\n{PETER_SIG}"));
    assert_eq!(signer.verifier().to_string(), PETER_VERIFIER);
}

#[test]
fn verifier_keys_parse_and_print_back() {
    for text in [
        PETER_VERIFIER,
        ENOCH_VERIFIER,
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ] {
        let verifier: NoteVerifier = text.parse().unwrap();
        assert_eq!(verifier.to_string(), text);
        assert_eq!(
            key_id(verifier.name(), verifier.public_key()),
            verifier.key_id()
        );
    }
    assert_eq!(peter().label(), "PeterNeumann+c74f20a3");
}

#[test]
fn every_mangled_verifier_key_is_refused() {
    // Go's TestNewVerifier: every proper substring and every byte changed.
    let bytes = PETER_VERIFIER.as_bytes();
    for start in 0..=bytes.len() {
        for end in start + 1..=bytes.len() {
            if (start, end) != (0, bytes.len()) {
                let part = &PETER_VERIFIER[start..end];
                assert!(part.parse::<NoteVerifier>().is_err(), "{part:?}");
            }
        }
    }
    for at in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[at] += 1;
        let changed = String::from_utf8(changed).unwrap();
        assert!(changed.parse::<NoteVerifier>().is_err(), "{changed:?}");
    }
}

#[test]
fn a_refused_verifier_key_says_why() {
    let cases: [(&str, VerifierKeyError); 9] = [
        ("PeterNeumann", VerifierKeyError::Malformed),
        ("PeterNeumann+c74f20a3", VerifierKeyError::Malformed),
        ("Peter Neumann+c74f20a3+AAAA", VerifierKeyError::BadName),
        ("PeterNeumann+c74f20a+AAAA", VerifierKeyError::BadKeyId),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhM!",
            VerifierKeyError::BadBase64,
        ),
        // Go's "wrong length key, with adjusted key hash" (whose last base64 group has
        // non-zero trailing bits, which Go tolerates and this parser does not) and its
        // "unknown algorithm".
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            VerifierKeyError::BadBase64,
        ),
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEA==",
            VerifierKeyError::WrongKeyLength(36),
        ),
        (
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            VerifierKeyError::UnknownAlgorithm(0x65),
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            VerifierKeyError::KeyIdMismatch {
                stated: 0xc74f20a4,
                computed: 0xc74f20a3,
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<NoteVerifier>(), Err(want), "{text:?}");
    }
}

#[test]
fn the_c2sp_example_key_verifies_the_c2sp_example_note() {
    let verifier: NoteVerifier =
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            .parse()
            .unwrap();
    let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let opened = open_note(note, &[verifier]).unwrap();
    assert_eq!(opened.text, "This is an example message.\n");
    assert_eq!(opened.verified.len(), 1);
    assert_eq!(opened.verified[0].key_id, 0x530d903a);
}

#[test]
fn only_trusted_signatures_are_verified_and_others_are_kept_aside() {
    let message = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let opened = open_note(&message, &[peter()]).unwrap();
    assert_eq!(opened.text, TEXT);
    assert_eq!(labels(&opened.verified), ["PeterNeumann+c74f20a3"]);
    assert_eq!(labels(&opened.unverified), ["EnochRoot+af0cfe78"]);

    let opened = open_note(&message, &[enoch(), peter()]).unwrap();
    assert_eq!(
        labels(&opened.verified),
        ["PeterNeumann+c74f20a3", "EnochRoot+af0cfe78"]
    );
    assert!(opened.unverified.is_empty());

    // The same trusted key listed twice is not a conflict.
    open_note(
        &format!("{TEXT}\n{ENOCH_SIG}"),
        &[enoch(), peter(), enoch()],
    )
    .unwrap();
}

fn labels(signatures: &[crate::tlog::NoteSignature]) -> Vec<String> {
    signatures.iter().map(|s| s.label()).collect()
}

#[test]
fn a_note_no_trusted_key_signed_names_the_keys_that_did() {
    let message = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let error = open_note(&message, &[]).unwrap_err();
    assert_eq!(
        error,
        NoteError::UnknownKey {
            trusted: vec![],
            found: vec!["PeterNeumann+c74f20a3".into(), "EnochRoot+af0cfe78".into()],
        }
    );
    assert_eq!(error.code(), "unknown_key");
    // A key of the same name but another key (a rotated or a forged one) is not trusted.
    let other = NoteSigner::from_seed("PeterNeumann", &[9; 32]).unwrap();
    let error = open_note(&other.sign(TEXT).unwrap(), &[peter()]).unwrap_err();
    let NoteError::UnknownKey { trusted, found } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(trusted, &["PeterNeumann+c74f20a3"]);
    assert_eq!(found, &[other.verifier().label()]);
    assert!(
        error.to_string().contains("PeterNeumann+c74f20a3"),
        "{error}"
    );
}

#[test]
fn a_trusted_signature_that_does_not_verify_is_a_bad_signature() {
    // Go's "invalid signature" case: four characters inserted into the signature.
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let error = open_note(&bad, &[peter()]).unwrap_err();
    assert_eq!(
        error,
        NoteError::BadSignature {
            key: "PeterNeumann+c74f20a3".into()
        }
    );
    assert_eq!(error.code(), "bad_signature");
    // Any change to the text after signing.
    let changed = format!("{}\n{PETER_SIG}", TEXT.replace("answer", "answers"));
    assert!(matches!(
        open_note(&changed, &[peter()]),
        Err(NoteError::BadSignature { .. })
    ));
    // Untrusted bad signatures are only set aside (Go's duplicated case).
    let enoch_bad = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let message = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_bad}");
    let opened = open_note(&message, &[peter()]).unwrap();
    assert_eq!(labels(&opened.verified), ["PeterNeumann+c74f20a3"]);
    assert_eq!(opened.unverified.len(), 2);
}

#[test]
fn malformed_notes_are_refused_as_malformed() {
    let bad_messages = [
        // Go's TestOpen bad messages.
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1)),
        // And more.
        format!("{TEXT}\n- PeterNeumann AAAAAAAA\n"),
        format!("{TEXT}\n— PeterNeumann\n"),
        format!("{TEXT}\n— PeterNeumann \n"),
        format!("{TEXT}\n— PeterNeumann AAAA\n"),
        format!("{TEXT}\n— PeterNeumann not*base64\n"),
        format!("{TEXT}\r\n{PETER_SIG}"),
        format!("{TEXT}\n{PETER_SIG}\n"),
        "x".repeat(crate::tlog::note::MAX_NOTE_BYTES + 1),
    ];
    for message in &bad_messages {
        for trusted in [&[peter()][..], &[]] {
            let error = open_note(message, trusted).unwrap_err();
            assert!(
                matches!(error, NoteError::Malformed(_)),
                "{message:?}: {error:?}"
            );
            assert_eq!(error.code(), "malformed_note");
        }
    }
    // Up to the limit is fine.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
    assert_eq!(parse_note(&many).unwrap().signatures.len(), MAX_SIGNATURES);
}

#[test]
fn only_valid_texts_are_signed() {
    let signer = go_signer(PETER_SIGNER);
    for text in ["abc", "", "a\tb\n", "a\r\n"] {
        assert!(
            matches!(signer.sign(text), Err(NoteError::Malformed(_))),
            "{text:?}"
        );
    }
    // Blank lines inside the text are allowed: the last blank line separates.
    let text = "first\n\nsecond\n";
    let opened = open_note(&signer.sign(text).unwrap(), &[signer.verifier()]).unwrap();
    assert_eq!(opened.text, text);
}

#[test]
fn key_names_follow_the_signed_note_rules() {
    for name in [
        "example.com/foo",
        "support-gateway/audit",
        "https://x.example/audit",
    ] {
        assert!(is_valid_key_name(name), "{name}");
    }
    for name in ["", "a b", "a+b", "a\u{a0}b", "a\nb", "tab\t"] {
        assert!(!is_valid_key_name(name), "{name:?}");
        assert_eq!(
            NoteSigner::from_seed(name, &[1; 32]).unwrap_err(),
            SignerKeyError::BadName(name.to_owned())
        );
        assert_eq!(
            NoteVerifier::new(name, [1; 32]),
            Err(VerifierKeyError::BadName)
        );
    }
}

#[test]
fn a_pkcs8_key_like_the_gateways_signs_and_garbage_is_refused() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::Ed25519KeyPair;
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let signer = NoteSigner::from_pkcs8("support-gateway/audit", document.as_ref()).unwrap();
    let verifier: NoteVerifier = signer.verifier().to_string().parse().unwrap();
    open_note(&signer.sign("hello\n").unwrap(), &[verifier]).unwrap();
    assert_eq!(
        NoteSigner::from_pkcs8("support-gateway/audit", b"not a key").unwrap_err(),
        SignerKeyError::NotEd25519
    );
    assert!(format!("{signer:?}").contains(&signer.verifier().label()));
}
