//! Sync state per token and upstream freshness per network.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder};

use super::entity::{sync_state, upstream_meta};
use super::hours::{Coverage, HourPage, PageOutcome};
use super::{execute, SqlBuilder};

/// Advances a token's sync state in the transaction that wrote `page`: the cursor
/// (`newest_hour`) is read back from the rows themselves, so it can never run ahead of them.
pub(super) async fn advance(
    conn: &impl ConnectionTrait,
    page: &HourPage<'_>,
    outcome: PageOutcome,
) -> Result<(), DbErr> {
    let (covered, restart) = match page.coverage {
        Coverage::Unchanged => (None, false),
        Coverage::From(h) => (Some(h), false),
        Coverage::RestartAt(h) => (Some(h), true),
    };
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql("INSERT INTO sync_state (network, address, newest_hour, covered_from, rows_synced) VALUES (")
        .param(page.network)
        .sql(", ")
        .param(page.address)
        .sql(", (SELECT MAX(period_start_unix) FROM token_hour_data WHERE network = ")
        .param(page.network)
        .sql(" AND address = ")
        .param(page.address)
        .sql("), ")
        .param(covered)
        .sql(", ")
        .param((outcome.inserted + outcome.updated) as i64)
        .sql(
            ") ON CONFLICT (network, address) DO UPDATE SET \
             newest_hour = excluded.newest_hour, \
             covered_from = CASE \
               WHEN ",
        )
        .param(restart)
        .sql(
            " THEN excluded.covered_from \
               WHEN sync_state.covered_from IS NULL OR excluded.covered_from < sync_state.covered_from \
               THEN COALESCE(excluded.covered_from, sync_state.covered_from) \
               ELSE sync_state.covered_from END, \
             rows_synced = sync_state.rows_synced + excluded.rows_synced",
        );
    execute(conn, b).await.map(drop)
}

/// How a token's pass ended.
#[derive(Debug, Clone)]
pub enum PassResult<'a> {
    Success,
    Failure(&'a str),
}

/// Records the end of a token's pass: a success clears the last error, a failure keeps the
/// previous success time and stores the reason.
pub async fn record_pass(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
    at: DateTime<Utc>,
    result: PassResult<'_>,
) -> Result<(), DbErr> {
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql("INSERT INTO sync_state (network, address, last_attempt_at, last_success_at, last_error, last_error_at) VALUES (")
        .param(network)
        .sql(", ")
        .param(address)
        .sql(", ")
        .param(at);
    match result {
        PassResult::Success => {
            b.sql(", ").param(at).sql(", NULL, NULL)").sql(
                " ON CONFLICT (network, address) DO UPDATE SET \
                 last_attempt_at = excluded.last_attempt_at, \
                 last_success_at = excluded.last_success_at, \
                 last_error = NULL, last_error_at = NULL",
            );
        }
        PassResult::Failure(reason) => {
            b.sql(", NULL, ")
                .param(reason)
                .sql(", ")
                .param(at)
                .sql(")")
                .sql(
                    " ON CONFLICT (network, address) DO UPDATE SET \
                 last_attempt_at = excluded.last_attempt_at, \
                 last_error = excluded.last_error, \
                 last_error_at = excluded.last_error_at",
                );
        }
    }
    execute(conn, b).await.map(drop)
}

/// Every token's sync state, ordered by network and address.
pub async fn all_sync_states(conn: &impl ConnectionTrait) -> Result<Vec<sync_state::Model>, DbErr> {
    sync_state::Entity::find()
        .order_by_asc(sync_state::Column::Network)
        .order_by_asc(sync_state::Column::Address)
        .all(conn)
        .await
}

/// One token's sync state.
pub async fn sync_state(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
) -> Result<Option<sync_state::Model>, DbErr> {
    sync_state::Entity::find_by_id((network.to_owned(), address.to_owned()))
        .one(conn)
        .await
}

/// Stores a network's latest `_meta`.
pub async fn save_upstream_meta(
    conn: &impl ConnectionTrait,
    meta: &upstream_meta::Model,
) -> Result<(), DbErr> {
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql("INSERT INTO upstream_meta (network, block_number, block_hash, block_timestamp, deployment, has_indexing_errors, fetched_at) VALUES (")
        .param(meta.network.as_str()).sql(", ")
        .param(meta.block_number).sql(", ")
        .param(meta.block_hash.clone()).sql(", ")
        .param(meta.block_timestamp).sql(", ")
        .param(meta.deployment.as_str()).sql(", ")
        .param(meta.has_indexing_errors).sql(", ")
        .param(meta.fetched_at)
        .sql(") ON CONFLICT (network) DO UPDATE SET \
              block_number = excluded.block_number, block_hash = excluded.block_hash, \
              block_timestamp = excluded.block_timestamp, deployment = excluded.deployment, \
              has_indexing_errors = excluded.has_indexing_errors, fetched_at = excluded.fetched_at");
    execute(conn, b).await.map(drop)
}

/// One network's latest `_meta`.
pub async fn upstream_meta(
    conn: &impl ConnectionTrait,
    network: &str,
) -> Result<Option<upstream_meta::Model>, DbErr> {
    upstream_meta::Entity::find_by_id(network.to_owned())
        .one(conn)
        .await
}

/// Every network's latest `_meta`.
pub async fn all_upstream_meta(
    conn: &impl ConnectionTrait,
) -> Result<Vec<upstream_meta::Model>, DbErr> {
    upstream_meta::Entity::find()
        .order_by_asc(upstream_meta::Column::Network)
        .all(conn)
        .await
}
