//! How fresh each network's upstream was at its last pass (`_meta`).

use sea_orm::entity::prelude::*;

/// The upstream `_meta` answer of a network's latest pass.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_meta")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    pub block_number: i64,
    pub block_hash: Option<String>,
    /// Unix seconds of the upstream's head block.
    pub block_timestamp: Option<i64>,
    pub deployment: String,
    pub has_indexing_errors: bool,
    pub fetched_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
