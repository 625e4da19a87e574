//! Checkpoints: signed tree heads in the C2SP `tlog-checkpoint` format.
//!
//! ```text
//! support-gateway/audit/org-1
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — support-gateway/audit Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//! ```
//!
//! The body is the origin, the tree size in decimal (no leading zero), the root in
//! standard base64, then optional non-empty extension lines; the note is signed as
//! [`note`](super::note) describes.

use thiserror::Error;

use super::TreeHash;
use super::note::{NoteError, NoteSigner, NoteVerifier, OpenedNote, open_note};
use crate::ids::OrgId;

/// The origin of an org's audit log: `<issuer>/audit/<org>` (SPEC §6.1), where
/// `issuer` is `[auth.support].issuer`.
pub fn audit_origin(issuer: &str, org: &OrgId) -> String {
    format!("{issuer}/audit/{org}")
}

/// The key name the gateway signs every org's checkpoints with: `<issuer>/audit`. One
/// audit key serves all orgs, so its name cannot be each origin (C2SP's SHOULD); it is
/// their common prefix instead.
pub fn audit_key_name(issuer: &str) -> String {
    format!("{issuer}/audit")
}

/// Why a checkpoint could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The note itself was refused: malformed, bad signature, or not signed by a trusted
    /// key.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The signed text is not a checkpoint body; the reason says which rule it breaks.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The checkpoint is of another log.
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin {
        /// The origin asked for.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// An origin or extension line that cannot be written in a checkpoint (empty, or
    /// with a newline or control character).
    #[error("{0:?} cannot be a checkpoint line")]
    InvalidLine(String),
}

impl CheckpointError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Note(error) => error.code(),
            Self::Malformed(_) => "malformed_checkpoint",
            Self::WrongOrigin { .. } => "wrong_origin",
            Self::InvalidLine(_) => "invalid_checkpoint_line",
        }
    }
}

/// A tree head to sign or that was signed: the log's origin, its size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: TreeHash,
    extensions: Vec<String>,
}

/// A line a checkpoint can hold: non-empty, no control character (so no newline).
fn check_line(line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() || line.chars().any(|c| c < ' ') {
        return Err(CheckpointError::InvalidLine(line.to_owned()));
    }
    Ok(())
}

impl Checkpoint {
    /// The checkpoint of the tree of `size` leaves with `root` in the log `origin`.
    pub fn new(origin: &str, size: u64, root: TreeHash) -> Result<Self, CheckpointError> {
        check_line(origin)?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The same checkpoint with extension lines after the root (C2SP: opaque, not
    /// recommended).
    pub fn with_extensions(mut self, lines: Vec<String>) -> Result<Self, CheckpointError> {
        for line in &lines {
            check_line(line)?;
        }
        self.extensions = lines;
        Ok(self)
    }

    /// The log's origin (first line).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size (second line).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash (third line).
    pub fn root(&self) -> &TreeHash {
        &self.root
    }

    /// The extension lines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: one line each for origin, size, root and extensions, each ending
    /// in a newline.
    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, self.root);
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (the text of a signed note).
    pub fn from_body(text: &str) -> Result<Self, CheckpointError> {
        let Some(text) = text.strip_suffix('\n') else {
            return Err(CheckpointError::Malformed(
                "the body does not end with a newline",
            ));
        };
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed(
                "fewer than three lines (origin, size, root)",
            ));
        };
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("the origin line is empty"));
        }
        let size = parse_size(size)?;
        let root = TreeHash::from_base64(root).map_err(|_| {
            CheckpointError::Malformed("the root is not the standard base64 of 32 bytes")
        })?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed("an extension line is empty"));
        }
        let checkpoint = Self::new(origin, size, root)
            .and_then(|checkpoint| checkpoint.with_extensions(extensions))
            .map_err(|_| CheckpointError::Malformed("a line has a control character"))?;
        Ok(checkpoint)
    }

    /// The signed checkpoint: the body and one signature by `signer`.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        Ok(signer.sign(&self.body())?)
    }

    /// Opens a signed checkpoint of the log `origin`: the note must be signed by one
    /// of `trusted` (checked first: an unsigned text is not read), its body must be a
    /// checkpoint, and its origin must be `origin`.
    pub fn open(
        signed: &str,
        origin: &str,
        trusted: &[NoteVerifier],
    ) -> Result<Self, CheckpointError> {
        Self::open_signed(signed, origin, trusted).map(|(checkpoint, _)| checkpoint)
    }

    /// [`open`](Self::open), also returning the note's signatures: those of `trusted`
    /// keys (verified) and the others (not checked: during a key changeover the note
    /// carries the new key's signature too, which a customer holding only the old key
    /// cannot check yet).
    pub fn open_signed(
        signed: &str,
        origin: &str,
        trusted: &[NoteVerifier],
    ) -> Result<(Self, OpenedNote), CheckpointError> {
        let note = open_note(signed, trusted)?;
        let checkpoint = Self::from_body(&note.text)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok((checkpoint, note))
    }
}

/// A tree size: ASCII decimal, no sign, no leading zero but for `0`.
fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let malformed =
        CheckpointError::Malformed("the size is not a decimal number without leading zeros");
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(malformed);
    }
    text.parse().map_err(|_| malformed)
}
