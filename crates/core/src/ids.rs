//! Identifiers of the domain. Each is a newtype so that an org id can never be passed
//! where a staff id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier taken from a verified token or the store.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A customer account (tenant) of the CRM, as named by the customer token's org claim.
    OrgId
);
string_id!(
    /// A support engineer of the vendor: the `sub` of the staff token, `act.sub` of a
    /// support token.
    StaffId
);

/// One grant of support access. Random (UUID v4), never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantId(Uuid);

impl GrantId {
    /// A fresh random grant id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps a stored id.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for GrantId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The hidden support user of one grant.
///
/// CRM owner fields hold 64-bit integers (Zoho: `4150868000000225013`), so the id is a
/// positive `i64`-sized number, written as a decimal string everywhere it leaves the
/// process. It is derived from the grant id, so it is stable for the grant's lifetime
/// and different for every grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SupportUserId(u64);

impl SupportUserId {
    /// The support user of `grant`: the first 63 bits of SHA-256 over the grant id,
    /// never zero.
    pub fn for_grant(grant: GrantId) -> Self {
        let digest = Sha256::new()
            .chain_update(b"support-access/support-user/v1\0")
            .chain_update(grant.as_uuid().as_bytes())
            .finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        let value = u64::from_be_bytes(bytes) & (i64::MAX as u64);
        Self(value.max(1))
    }

    /// Wraps a stored id.
    pub fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SupportUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SupportUserId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl Serialize for SupportUserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SupportUserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_user_id_is_stable_per_grant_and_fits_a_signed_64_bit_owner_field() {
        let grant = GrantId::random();
        let first = SupportUserId::for_grant(grant);
        assert_eq!(first, SupportUserId::for_grant(grant));
        assert!(first.get() >= 1 && first.get() <= i64::MAX as u64);
        let text = first.to_string();
        assert!(text.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(text.parse::<SupportUserId>().unwrap(), first);
    }

    #[test]
    fn different_grants_get_different_support_users() {
        let a = SupportUserId::for_grant(GrantId::random());
        let b = SupportUserId::for_grant(GrantId::random());
        assert_ne!(a, b);
    }

    #[test]
    fn support_user_id_serialises_as_a_decimal_string() {
        let id = SupportUserId::from_u64(4_150_868_000_000_225_013);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"4150868000000225013\"");
        assert_eq!(serde_json::from_str::<SupportUserId>(&json).unwrap(), id);
    }
}
