//! PostgreSQL only: announce every committed change of a grant on
//! [`crate::GRANT_CHANGES_CHANNEL`], so that grant caches of other instances drop it.
//! `NOTIFY` is transactional: the notification is delivered when, and only if, the
//! writing transaction commits. SQLite has no notifications; the migration does
//! nothing there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE FUNCTION support_access_grant_changed() RETURNS trigger \
             LANGUAGE plpgsql AS $$ \
             BEGIN \
               PERFORM pg_notify('{channel}', \
                 TG_TABLE_SCHEMA || ' ' || NEW.id::text || ' ' || NEW.org); \
               RETURN NULL; \
             END $$",
            channel = crate::GRANT_CHANGES_CHANNEL,
        ))
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER grants_changed AFTER INSERT OR UPDATE ON grants \
             FOR EACH ROW EXECUTE FUNCTION support_access_grant_changed()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS grants_changed ON grants")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS support_access_grant_changed()")
            .await?;
        Ok(())
    }
}
