//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 keys.
//!
//! A signed note is a text ending in a newline, a blank line, then one or more lines
//! `— <key name> <base64(4-byte key id ‖ signature)>`. The key id is the first four
//! bytes of `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)`, big-endian; a
//! verifier key is the text `<key name>+<hex key id>+<base64(0x01 ‖ public key)>`.
//! Compatible with Go's `golang.org/x/mod/sumdb/note` (its test keys are in the tests).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The signature type byte of Ed25519 in key ids and verifier keys.
const ED25519_TYPE: u8 = 0x01;

/// The em dash and space that start a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// At most this many signature lines are read (C2SP asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Notes longer than this are refused unread.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The key id of an Ed25519 key: the first four bytes, big-endian, of
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519_TYPE])
        .chain_update(public_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Whether `name` may name a key: non-empty, no Unicode space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// `name+1a2b3c4d`: how a key is named in messages.
fn key_label(name: &str, key_id: u32) -> String {
    format!("{name}+{key_id:08x}")
}

/// Why a signing key could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignerKeyError {
    /// The key name is empty or has a space or a `+`.
    #[error("key name {0:?} is empty or contains a space or '+'")]
    BadName(String),
    /// The key material is not an Ed25519 private key.
    #[error("not an Ed25519 private key")]
    NotEd25519,
}

impl SignerKeyError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadName(_) => "bad_key_name",
            Self::NotEd25519 => "not_ed25519",
        }
    }
}

/// An Ed25519 key that signs notes under a key name.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    public_key: [u8; 32],
    pair: Ed25519KeyPair,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("key", &key_label(&self.name, self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// The signer for the 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, SignerKeyError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| SignerKeyError::NotEd25519)?;
        Self::with_pair(name, pair)
    }

    /// The signer for an Ed25519 PKCS#8 document (DER, v1 or v2), as the gateway keeps
    /// its keys.
    pub fn from_pkcs8(name: &str, document: &[u8]) -> Result<Self, SignerKeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(document)
            .map_err(|_| SignerKeyError::NotEd25519)?;
        Self::with_pair(name, pair)
    }

    fn with_pair(name: &str, pair: Ed25519KeyPair) -> Result<Self, SignerKeyError> {
        if !is_valid_key_name(name) {
            return Err(SignerKeyError::BadName(name.to_owned()));
        }
        let public_key: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| SignerKeyError::NotEd25519)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            public_key,
            pair,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The verifier of this key (its text form is the verifier key).
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key: self.public_key,
        }
    }

    /// The signed note of `text` with this key's one signature. `text` must be a valid
    /// note text: ending in a newline, no control character but newlines.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        sign_all(text, &[self])
    }

    /// This key's signature line of `text` (`— <name> <base64(key id ‖ sig)>\n`).
    fn signature_line(&self, text: &str) -> String {
        let signature = self.pair.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + 64);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(signature.as_ref());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// The signed note of `text` with one signature line per signer, in the order given
/// (C2SP allows several: a verifier trusting any one of the keys opens it). Used during
/// a key changeover, when the old and the new key both sign. `text` must be a valid
/// note text; at least one signer, at most [`MAX_SIGNATURES`].
pub fn sign_all(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    check_text(text)?;
    if signers.is_empty() {
        return Err(NoteError::Malformed("no signature"));
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::Malformed("more than 100 signatures"));
    }
    let mut note = format!("{text}\n");
    for signer in signers {
        note.push_str(&signer.signature_line(text));
    }
    Ok(note)
}

/// Why a verifier key (`<name>+<hex key id>+<base64 key>`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifierKeyError {
    /// Not three parts separated by `+`.
    #[error("a verifier key is <name>+<8 hex digits key id>+<base64 key>")]
    Malformed,
    /// The key name is empty or has a space.
    #[error("the verifier key's name is empty or contains a space")]
    BadName,
    /// The key id is not eight hex digits.
    #[error("the verifier key's id is not 8 hex digits")]
    BadKeyId,
    /// The key is not standard base64.
    #[error("the verifier key's key is not standard base64")]
    BadBase64,
    /// The key's signature type is not Ed25519 (`0x01`).
    #[error("the verifier key's signature type {0:#04x} is not Ed25519 (0x01)")]
    UnknownAlgorithm(u8),
    /// The Ed25519 key is not 32 bytes.
    #[error("the verifier key's Ed25519 key has {0} bytes, not 32")]
    WrongKeyLength(usize),
    /// The stated key id is not the one the name and key give.
    #[error("the verifier key's id {stated:08x} does not match its name and key ({computed:08x})")]
    KeyIdMismatch {
        /// The id in the text.
        stated: u32,
        /// The id of the name and key.
        computed: u32,
    },
}

impl VerifierKeyError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed_verifier_key",
            Self::BadName => "bad_key_name",
            Self::BadKeyId => "bad_key_id",
            Self::BadBase64 => "bad_base64",
            Self::UnknownAlgorithm(_) => "unknown_algorithm",
            Self::WrongKeyLength(_) => "wrong_key_length",
            Self::KeyIdMismatch { .. } => "key_id_mismatch",
        }
    }
}

/// An Ed25519 public key that verifies notes signed under its name.
///
/// Its [`Display`](fmt::Display) is the verifier key text and [`FromStr`] parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    public_key: [u8; 32],
}

impl NoteVerifier {
    /// The verifier of `public_key` under `name`.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, VerifierKeyError> {
        if !is_valid_key_name(name) {
            return Err(VerifierKeyError::BadName);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            public_key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// `name+1a2b3c4d`, as messages name the key.
    pub fn label(&self) -> String {
        key_label(&self.name, self.key_id)
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == 64
            && UnparsedPublicKey::new(&ED25519, &self.public_key)
                .verify(message, signature)
                .is_ok()
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ED25519_TYPE);
        key.extend_from_slice(&self.public_key);
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(key)
        )
    }
}

impl FromStr for NoteVerifier {
    type Err = VerifierKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // The name has no '+', the key id none either; base64 may have some.
        let (name, rest) = text.split_once('+').ok_or(VerifierKeyError::Malformed)?;
        let (id, key) = rest.split_once('+').ok_or(VerifierKeyError::Malformed)?;
        if !is_valid_key_name(name) {
            return Err(VerifierKeyError::BadName);
        }
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VerifierKeyError::BadKeyId);
        }
        let stated = u32::from_str_radix(id, 16).map_err(|_| VerifierKeyError::BadKeyId)?;
        let key = STANDARD
            .decode(key)
            .map_err(|_| VerifierKeyError::BadBase64)?;
        let (&kind, public_key) = key.split_first().ok_or(VerifierKeyError::Malformed)?;
        if kind != ED25519_TYPE {
            return Err(VerifierKeyError::UnknownAlgorithm(kind));
        }
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| VerifierKeyError::WrongKeyLength(public_key.len()))?;
        let verifier = Self::new(name, public_key)?;
        if verifier.key_id != stated {
            return Err(VerifierKeyError::KeyIdMismatch {
                stated,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }
}

/// Why a signed note was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The text is not a signed note; the reason says which rule it breaks.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A trusted key's signature does not verify: the text was changed after signing,
    /// or the signature was.
    #[error("the signature of {key} does not verify: the note was changed after signing")]
    BadSignature {
        /// `name+keyid` of the key.
        key: String,
    },
    /// No signature is by a trusted key (a different key, or the key was rotated).
    #[error(
        "the note is signed by {} but by none of the trusted keys ({})",
        list(.found),
        list(.trusted)
    )]
    UnknownKey {
        /// `name+keyid` of the keys trusted.
        trusted: Vec<String>,
        /// `name+keyid` of the keys that signed the note.
        found: Vec<String>,
    },
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() {
        "no key".to_owned()
    } else {
        keys.join(", ")
    }
}

impl NoteError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_note",
            Self::BadSignature { .. } => "bad_signature",
            Self::UnknownKey { .. } => "unknown_key",
        }
    }
}

/// One signature line of a note, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature bytes (after the key id).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// `name+1a2b3c4d`.
    pub fn label(&self) -> String {
        key_label(&self.name, self.key_id)
    }
}

/// A note split into its text and signatures, none verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The text, with its final newline, without the blank line.
    pub text: String,
    /// The signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// A note whose text a trusted key signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text.
    pub text: String,
    /// The signatures of trusted keys, all verified.
    pub verified: Vec<NoteSignature>,
    /// Signatures of keys not trusted (ignored, as C2SP requires).
    pub unverified: Vec<NoteSignature>,
}

/// The text rules of a note: a newline at the end, no control character but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("longer than 1 MiB"));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text does not end with a newline"));
    }
    check_characters(text)
}

fn check_characters(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed(
            "contains a control character other than newline",
        ));
    }
    Ok(())
}

/// Splits a signed note into text and signatures, checking the syntax only.
pub fn parse_note(message: &str) -> Result<SignedNote, NoteError> {
    if message.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("longer than 1 MiB"));
    }
    check_characters(message)?;
    let split = message
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, lines) = (&message[..=split], &message[split + 2..]);
    if lines.is_empty() {
        return Err(NoteError::Malformed("no signature"));
    }
    let Some(lines) = lines.strip_suffix('\n') else {
        return Err(NoteError::Malformed(
            "the last signature line does not end with a newline",
        ));
    };
    let mut signatures = Vec::new();
    for line in lines.split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 100 signatures"));
        }
        let line = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::Malformed(
                "a signature line does not start with an em dash and a space",
            ))?;
        let (name, encoded) = line
            .split_once(' ')
            .ok_or(NoteError::Malformed("a signature line has no signature"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed("a signature's key name is not valid"));
        }
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| NoteError::Malformed("a signature is not standard base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("a signature is too short"));
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        });
    }
    Ok(SignedNote {
        text: text.to_owned(),
        signatures,
    })
}

/// Parses a signed note and verifies it against the `trusted` keys (C2SP): signatures
/// of other keys are ignored, every signature of a trusted key must verify, and at
/// least one must be there.
pub fn open_note(message: &str, trusted: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    let note = parse_note(message)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for signature in note.signatures {
        let mut matching = trusted
            .iter()
            .filter(|key| key.name == signature.name && key.key_id == signature.key_id)
            .peekable();
        if matching.peek().is_none() {
            if !unverified.contains(&signature) {
                unverified.push(signature);
            }
            continue;
        }
        if verified
            .iter()
            .any(|seen| seen.name == signature.name && seen.key_id == signature.key_id)
        {
            continue;
        }
        // Two trusted keys can share a name and a 32-bit id only by accident; either
        // one's signature is a trusted signature.
        if !matching.any(|key| key.verify(note.text.as_bytes(), &signature.signature)) {
            return Err(NoteError::BadSignature {
                key: signature.label(),
            });
        }
        verified.push(signature);
    }
    if verified.is_empty() {
        return Err(NoteError::UnknownKey {
            trusted: trusted.iter().map(NoteVerifier::label).collect(),
            found: unverified.iter().map(NoteSignature::label).collect(),
        });
    }
    Ok(OpenedNote {
        text: note.text,
        verified,
        unverified,
    })
}
