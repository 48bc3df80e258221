//! `change_log`: one row per committed sync write, inserted in the writing transaction. Its
//! `seq` is the change feed's position; other processes on the same database read the rows they
//! have not seen (SQLite, by polling) or get them by `NOTIFY` (PostgreSQL). The writer keeps only
//! the most recent rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let seq = match manager.get_database_backend() {
            DbBackend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            _ => "BIGSERIAL PRIMARY KEY",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE TABLE change_log (
                    seq {seq},
                    origin TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    network TEXT,
                    address TEXT,
                    first_hour BIGINT,
                    last_hour BIGINT,
                    committed_at BIGINT NOT NULL
                )"
            ))
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS change_log")
            .await
            .map(drop)
    }
}
