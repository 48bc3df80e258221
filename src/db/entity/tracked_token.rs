//! A token named in `TOKENS` at some point; `active` while it is still configured.

use sea_orm::entity::prelude::*;

/// One tracked token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tracked_token")]
pub struct Model {
    /// Network name from `UPSTREAMS`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    /// Lowercase `0x` address.
    #[sea_orm(primary_key, auto_increment = false)]
    pub address: String,
    /// Still listed in `TOKENS` (the sync only fetches active tokens; data of others stays).
    pub active: bool,
    /// When the token was first tracked.
    pub added_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
