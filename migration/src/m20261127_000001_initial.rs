//! The first schema: tracked tokens, token metadata, hourly token data, sync state and upstream
//! freshness, keyed by `(network, address)` and `(network, address, period_start_unix)`.
//!
//! The primary keys are the natural keys, so "one token, a time range, in order" is a range scan
//! of the primary key on both backends (on SQLite the big tables are `WITHOUT ROWID`, so the rows
//! live in that index itself).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Column types that differ between the backends.
struct Types {
    /// An exact decimal or big integer.
    decimal: &'static str,
    /// A point in time.
    timestamp: &'static str,
    /// Table options after the closing parenthesis.
    clustered: &'static str,
}

fn types(backend: DbBackend) -> Types {
    match backend {
        DbBackend::Sqlite => Types {
            decimal: "TEXT",
            timestamp: "TEXT",
            clustered: " WITHOUT ROWID",
        },
        _ => Types {
            decimal: "NUMERIC",
            timestamp: "TIMESTAMPTZ",
            clustered: "",
        },
    }
}

fn create_statements(t: &Types) -> Vec<String> {
    let Types {
        decimal: d,
        timestamp: ts,
        clustered,
    } = t;
    vec![
        format!(
            "CREATE TABLE tracked_token (
                network TEXT NOT NULL,
                address TEXT NOT NULL,
                active BOOLEAN NOT NULL,
                added_at {ts} NOT NULL,
                PRIMARY KEY (network, address)
            )"
        ),
        format!(
            "CREATE TABLE token_metadata (
                network TEXT NOT NULL,
                address TEXT NOT NULL,
                symbol TEXT NOT NULL,
                name TEXT NOT NULL,
                decimals {d} NOT NULL,
                total_supply {d} NOT NULL,
                tx_count {d} NOT NULL,
                pool_count {d} NOT NULL,
                volume {d} NOT NULL,
                volume_usd {d} NOT NULL,
                untracked_volume_usd {d} NOT NULL,
                fees_usd {d} NOT NULL,
                total_value_locked {d} NOT NULL,
                total_value_locked_usd {d} NOT NULL,
                total_value_locked_usd_untracked {d} NOT NULL,
                derived_eth {d} NOT NULL,
                updated_at {ts} NOT NULL,
                PRIMARY KEY (network, address)
            ){clustered}"
        ),
        format!(
            "CREATE TABLE token_hour_data (
                network TEXT NOT NULL,
                address TEXT NOT NULL,
                period_start_unix BIGINT NOT NULL,
                id TEXT NOT NULL,
                open {d} NOT NULL,
                high {d} NOT NULL,
                low {d} NOT NULL,
                close {d} NOT NULL,
                price_usd {d} NOT NULL,
                volume {d} NOT NULL,
                volume_usd {d} NOT NULL,
                untracked_volume_usd {d} NOT NULL,
                fees_usd {d} NOT NULL,
                total_value_locked {d} NOT NULL,
                total_value_locked_usd {d} NOT NULL,
                PRIMARY KEY (network, address, period_start_unix)
            ){clustered}"
        ),
        format!(
            "CREATE TABLE sync_state (
                network TEXT NOT NULL,
                address TEXT NOT NULL,
                newest_hour BIGINT,
                covered_from BIGINT,
                rows_synced BIGINT NOT NULL DEFAULT 0,
                last_attempt_at {ts},
                last_success_at {ts},
                last_error TEXT,
                last_error_at {ts},
                PRIMARY KEY (network, address)
            )"
        ),
        format!(
            "CREATE TABLE upstream_meta (
                network TEXT NOT NULL PRIMARY KEY,
                block_number BIGINT NOT NULL,
                block_hash TEXT,
                block_timestamp BIGINT,
                deployment TEXT NOT NULL,
                has_indexing_errors BOOLEAN NOT NULL,
                fetched_at {ts} NOT NULL
            )"
        ),
    ]
}

const TABLES: [&str; 5] = [
    "upstream_meta",
    "sync_state",
    "token_hour_data",
    "token_metadata",
    "tracked_token",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in create_statements(&types(manager.get_database_backend())) {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
