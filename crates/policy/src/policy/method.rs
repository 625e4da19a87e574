//! The policy's view of a request method.

use std::fmt;

use serde::Serialize;

/// A method as the policy sees it: `HEAD` is `GET`; anything else is not a policy
/// method (see [`Policy::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PolicyMethod {
    /// `GET` and `HEAD`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl PolicyMethod {
    /// Every policy method.
    pub const ALL: [PolicyMethod; 5] = [
        PolicyMethod::Get,
        PolicyMethod::Post,
        PolicyMethod::Put,
        PolicyMethod::Patch,
        PolicyMethod::Delete,
    ];

    /// The policy method of a request method, compared exactly (methods are
    /// case-sensitive: `get` is not `GET`). `HEAD` is `GET`.
    pub fn from_request(method: &str) -> Option<Self> {
        match method {
            "GET" | "HEAD" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "PATCH" => Some(Self::Patch),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    pub(super) fn bit(self) -> u8 {
        match self {
            Self::Get => 1,
            Self::Post => 2,
            Self::Put => 4,
            Self::Patch => 8,
            Self::Delete => 16,
        }
    }
}

impl fmt::Display for PolicyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
