//! One row per committed sync write: the change feed's log (see [`crate::feed`]).

use sea_orm::entity::prelude::*;

/// A committed write: what it touched, who wrote it and when.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    /// The feed position: increasing in commit order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The writing process (readers skip their own writes: they applied them at commit).
    pub origin: String,
    /// `hours`, `metadata`, `status` or `everything`.
    pub kind: String,
    pub network: Option<String>,
    /// One address, or (for `metadata`) several, comma-separated.
    pub address: Option<String>,
    pub first_hour: Option<i64>,
    /// `None` with `first_hour` set: every hour from `first_hour` on.
    pub last_hour: Option<i64>,
    /// Unix microseconds on the writer's clock just before its `COMMIT`.
    pub committed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
