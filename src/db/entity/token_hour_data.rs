//! The upstream `TokenHourData` rows: one per token and hour with events (hours without any
//! have no row, upstream and here).

use sea_orm::entity::prelude::*;

/// One hourly row; every decimal is the upstream's exact string.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_hour_data")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    /// The token (upstream `token`), lowercase.
    #[sea_orm(primary_key, auto_increment = false)]
    pub address: String,
    /// The hour's start, unix seconds (upstream `periodStartUnix`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start_unix: i64,
    /// Upstream `id`: `<address>-<periodStartUnix / 3600>`.
    pub id: String,
    #[sea_orm(select_as = "text")]
    pub open: String,
    #[sea_orm(select_as = "text")]
    pub high: String,
    #[sea_orm(select_as = "text")]
    pub low: String,
    #[sea_orm(select_as = "text")]
    pub close: String,
    #[sea_orm(select_as = "text")]
    pub price_usd: String,
    #[sea_orm(select_as = "text")]
    pub volume: String,
    #[sea_orm(select_as = "text")]
    pub volume_usd: String,
    #[sea_orm(select_as = "text")]
    pub untracked_volume_usd: String,
    #[sea_orm(select_as = "text")]
    pub fees_usd: String,
    #[sea_orm(select_as = "text")]
    pub total_value_locked: String,
    #[sea_orm(select_as = "text")]
    pub total_value_locked_usd: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
