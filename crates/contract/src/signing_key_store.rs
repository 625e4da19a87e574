//! The [`SigningKeyStore`](support_access_core::keys::SigningKeyStore) contract: the
//! keys every instance sharing the store signs and verifies with.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Duration;
use support_access_core::StoreError;
use support_access_core::keys::{KeyPurpose, StoredKey};

use crate::SigningKeyStoreFixture;
use crate::support::t0;

static NEXT_KID: AtomicU64 = AtomicU64::new(1);

/// A key with a kid no other case uses, activating `minutes` after [`t0`].
fn key(purpose: KeyPurpose, minutes: i64) -> StoredKey {
    let n = NEXT_KID.fetch_add(1, Ordering::Relaxed);
    StoredKey {
        kid: format!("kid-{}-{n}", std::process::id()),
        purpose,
        algorithm: "EdDSA".into(),
        private_pem: format!("-----BEGIN PRIVATE KEY-----\nkey {n}\n-----END PRIVATE KEY-----\n"),
        public_jwk: format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"x{n}"}}"#),
        created_at: t0() + Duration::microseconds(123_457),
        activates_at: t0() + Duration::minutes(minutes) + Duration::microseconds(7),
    }
}

/// Every key the store holds of `purpose` among `kids`, in the store's order.
async fn of(
    store: &dyn support_access_core::keys::SigningKeyStore,
    purpose: KeyPurpose,
    kids: &[&str],
) -> Vec<StoredKey> {
    store
        .keys(purpose)
        .await
        .expect("keys")
        .into_iter()
        .filter(|key| kids.contains(&key.kid.as_str()))
        .collect()
}

/// `add` MUST make the key visible to every later `keys` call of every instance, with
/// every field as stored (times to the microsecond).
pub async fn added_keys_read_back_exactly_on_every_handle(f: SigningKeyStoreFixture) {
    let first = key(KeyPurpose::Support, 0);
    let second = key(KeyPurpose::Support, 5);
    f.store.add(&first).await.expect("add");
    f.store.add(&second).await.expect("add");
    let kids = [first.kid.as_str(), second.kid.as_str()];
    for handle in [&f.store, &f.second] {
        let mut read = of(handle.as_ref(), KeyPurpose::Support, &kids).await;
        read.sort_by_key(|key| key.activates_at);
        assert_eq!(read, vec![first.clone(), second.clone()]);
    }
}

/// `add` of a kid already stored MUST answer `Conflict` and change nothing.
pub async fn adding_a_kid_twice_conflicts_and_changes_nothing(f: SigningKeyStoreFixture) {
    let original = key(KeyPurpose::Support, 0);
    f.store.add(&original).await.expect("add");
    let mut again = original.clone();
    again.private_pem = "another key".into();
    again.activates_at = original.activates_at + Duration::hours(1);
    let refused = f.second.add(&again).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let read = of(f.store.as_ref(), KeyPurpose::Support, &[&original.kid]).await;
    assert_eq!(read, vec![original]);
}

/// `keys` MUST return every key of the purpose asked for, and only those.
pub async fn keys_are_kept_apart_by_purpose(f: SigningKeyStoreFixture) {
    let support = key(KeyPurpose::Support, 0);
    let audit = key(KeyPurpose::Audit, 0);
    f.store.add(&support).await.expect("add");
    f.store.add(&audit).await.expect("add");
    let kids = [support.kid.as_str(), audit.kid.as_str()];
    assert_eq!(
        of(f.second.as_ref(), KeyPurpose::Support, &kids).await,
        vec![support.clone()]
    );
    assert_eq!(
        of(f.second.as_ref(), KeyPurpose::Audit, &kids).await,
        vec![audit.clone()]
    );
}
