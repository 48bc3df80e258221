//! `sync_state.synced_head`: the upstream head (unix seconds) of the last pass whose pages for
//! the token all committed, written in the same transaction as that pass's last page. Gap
//! filling stops at its hour: what lies after it is unknown, not empty.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE sync_state ADD COLUMN synced_head BIGINT")
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE sync_state DROP COLUMN synced_head")
            .await
            .map(drop)
    }
}
