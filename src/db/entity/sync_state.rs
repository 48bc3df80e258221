//! Per-token sync progress, written in the same transaction as the rows it describes.

use sea_orm::entity::prelude::*;

/// Where one token's sync stands.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub address: String,
    /// Start of the newest stored hour (the sync's cursor; never ahead of the stored rows).
    pub newest_hour: Option<i64>,
    /// The earliest hour from which every later hour has been fetched: older hours are fetched
    /// only when `BACKFILL` reaches further back than this.
    pub covered_from: Option<i64>,
    /// The upstream head (unix seconds) of the last pass whose pages for this token all
    /// committed: hours after it are unknown, so gap filling stops there.
    pub synced_head: Option<i64>,
    /// Rows inserted or changed by the sync, over the token's life.
    pub rows_synced: i64,
    /// When the last pass over this token ended, successful or not.
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    /// Why the last failed pass failed; cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
