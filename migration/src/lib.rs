//! The database schema of tokenmirror, as sea-orm migrations (one migration per file).
//!
//! Decimals are `NUMERIC` on PostgreSQL (exact, and SQL users can compute on them) and `TEXT`
//! on SQLite (whose numeric types are floating point); the application writes and reads them as
//! canonical strings either way, so each migration writes its DDL once per backend.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261201_000001_synced_head;
mod m20261201_000002_change_log;
mod m20261201_000003_token_day_data;

/// Applies tokenmirror's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261201_000001_synced_head::Migration),
            Box::new(m20261201_000002_change_log::Migration),
            Box::new(m20261201_000003_token_day_data::Migration),
        ]
    }
}
