//! [`SigningKeyStore`] on the `signing_keys` table: every instance sharing the database
//! reads the same keys. A key is inserted once (its `kid` is the primary key, so a
//! second insert of the same key is a `Conflict`) and never changed; its state follows
//! from its times (`support_access_core::keys::key_states`).

use async_trait::async_trait;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use support_access_core::StoreError;
use support_access_core::keys::{KeyPurpose, SigningKeyStore, StoredKey};

use crate::SeaOrmStore;
use crate::entity::signing_key::{self, Column, Entity};
use crate::error::{corrupt, from_db};
use crate::instant::stored;

fn purpose(text: &str) -> Result<KeyPurpose, StoreError> {
    match text {
        "support" => Ok(KeyPurpose::Support),
        "audit" => Ok(KeyPurpose::Audit),
        other => Err(corrupt(format!("key purpose {other:?}"))),
    }
}

#[async_trait]
impl SigningKeyStore for SeaOrmStore {
    async fn keys(&self, of: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        let rows = Entity::find()
            .filter(Column::Purpose.eq(of.as_str()))
            .order_by_asc(Column::ActivatesAt)
            .all(&self.inner.db)
            .await
            .map_err(from_db)?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredKey {
                    purpose: purpose(&row.purpose)?,
                    kid: row.kid,
                    algorithm: row.algorithm,
                    private_pem: row.private_key_pem,
                    public_jwk: row.public_jwk,
                    created_at: row.created_at,
                    activates_at: row.activates_at,
                })
            })
            .collect()
    }

    async fn add(&self, key: &StoredKey) -> Result<(), StoreError> {
        let row = signing_key::ActiveModel {
            kid: ActiveValue::Set(key.kid.clone()),
            purpose: ActiveValue::Set(key.purpose.as_str().to_owned()),
            algorithm: ActiveValue::Set(key.algorithm.clone()),
            private_key_pem: ActiveValue::Set(key.private_pem.clone()),
            public_jwk: ActiveValue::Set(key.public_jwk.clone()),
            created_at: ActiveValue::Set(stored(key.created_at)?),
            activates_at: ActiveValue::Set(stored(key.activates_at)?),
        };
        let _guard = self.write_guard().await;
        Entity::insert(row)
            .exec_without_returning(&self.inner.writer)
            .await
            .map_err(from_db)?;
        Ok(())
    }
}
