//! The upstream `Token` entity's scalar fields, as last fetched.

use sea_orm::entity::prelude::*;

/// One token's metadata; every number is the upstream's exact string.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_metadata")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub address: String,
    pub symbol: String,
    pub name: String,
    #[sea_orm(select_as = "text")]
    pub decimals: String,
    #[sea_orm(select_as = "text")]
    pub total_supply: String,
    #[sea_orm(select_as = "text")]
    pub tx_count: String,
    #[sea_orm(select_as = "text")]
    pub pool_count: String,
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
    #[sea_orm(select_as = "text")]
    pub total_value_locked_usd_untracked: String,
    #[sea_orm(select_as = "text")]
    pub derived_eth: String,
    /// When this metadata was fetched from the upstream.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
