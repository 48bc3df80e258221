//! `syncStatus`: how fresh each token's mirror is.

use std::collections::BTreeMap;

use async_graphql::{Context, Object, SimpleObject};

use super::context::{api, deps, record, ApiContext};
use super::scalars::DateTime;
use crate::db::{state, tokens};
use crate::error::ApiError;
use crate::feed::{DepKey, Deps};

/// `syncStatus`.
#[derive(Default)]
pub struct StatusQuery;

#[Object]
impl StatusQuery {
    /// Per token: the newest hour stored, the last success and error, and how far the upstream
    /// was behind at the last pass. Lists every token ever tracked or synced.
    async fn sync_status(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SyncStatus>> {
        Ok(sync_status(api(ctx)?, deps(ctx)).await?)
    }
}

/// Every token's sync status (the query's answer, and the subscription's pushes).
pub async fn sync_status(
    api: &ApiContext,
    deps: Option<&Deps>,
) -> Result<Vec<SyncStatus>, ApiError> {
    record(deps, DepKey::Status);
    let conn = &api.db.read()?;
    let tracked = tokens::tracked(conn).await.map_err(ApiError::from)?;
    let states = state::all_sync_states(conn).await.map_err(ApiError::from)?;
    let metas = state::all_upstream_meta(conn)
        .await
        .map_err(ApiError::from)?;
    let now = api.clock.unix();
    if let Some(d) = deps {
        // lagSeconds counts up with the clock.
        if metas.iter().any(|m| m.block_timestamp.is_some()) {
            d.expires_at(now + 1);
        }
    }

    let mut rows: BTreeMap<(String, String), SyncStatus> = BTreeMap::new();
    for t in tracked {
        let entry = rows
            .entry((t.network.clone(), t.address.clone()))
            .or_insert_with(|| SyncStatus::empty(&t.network, &t.address));
        entry.tracked = t.active;
    }
    for s in states {
        let entry = rows
            .entry((s.network.clone(), s.address.clone()))
            .or_insert_with(|| SyncStatus::empty(&s.network, &s.address));
        entry.newest_hour = s.newest_hour.map(DateTime::from_unix);
        entry.rows_synced = s.rows_synced;
        entry.last_attempt_at = s.last_attempt_at.map(DateTime::from);
        entry.last_success_at = s.last_success_at.map(DateTime::from);
        entry.last_error = s.last_error;
        entry.last_error_at = s.last_error_at.map(DateTime::from);
    }
    // Failures this process's sync could not store (the database refused the write).
    for ((network, address), f) in api.feed.unrecorded_failures() {
        let entry = rows
            .entry((network.clone(), address.clone()))
            .or_insert_with(|| SyncStatus::empty(&network, &address));
        let at = DateTime::from(f.at);
        entry.last_attempt_at = Some(at.clone());
        entry.last_error = Some(f.error);
        entry.last_error_at = Some(at);
    }
    for status in rows.values_mut() {
        if let Some(m) = metas.iter().find(|m| m.network == status.network) {
            status.upstream_block = Some(m.block_number);
            status.upstream_block_timestamp = m.block_timestamp.map(DateTime::from_unix);
            status.lag_seconds = m.block_timestamp.map(|t| (now - t).max(0));
            status.upstream_has_indexing_errors = Some(m.has_indexing_errors);
        }
    }
    Ok(rows.into_values().collect())
}

/// Where one token's sync stands.
#[derive(SimpleObject)]
pub struct SyncStatus {
    /// Network name.
    network: String,
    /// Token address, lowercase.
    address: String,
    /// Listed in TOKENS now (an untracked token's data stays and is served, but no longer syncs).
    tracked: bool,
    /// Start of the newest hour stored.
    newest_hour: Option<DateTime>,
    /// Rows inserted or changed by the sync over the token's life.
    rows_synced: i64,
    /// When the last pass over this token ended, successful or not.
    last_attempt_at: Option<DateTime>,
    /// When a pass over this token last succeeded.
    last_success_at: Option<DateTime>,
    /// Why the last pass failed; null after a success.
    last_error: Option<String>,
    /// When the last pass failed.
    last_error_at: Option<DateTime>,
    /// The upstream's head block at the network's last pass.
    upstream_block: Option<i64>,
    /// The time of that block.
    upstream_block_timestamp: Option<DateTime>,
    /// Seconds between that block's time and now: how far the mirror trails the chain.
    lag_seconds: Option<i64>,
    /// The upstream subgraph reported indexing errors at its last pass.
    upstream_has_indexing_errors: Option<bool>,
}

impl SyncStatus {
    fn empty(network: &str, address: &str) -> SyncStatus {
        SyncStatus {
            network: network.to_owned(),
            address: address.to_owned(),
            tracked: false,
            newest_hour: None,
            rows_synced: 0,
            last_attempt_at: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            upstream_block: None,
            upstream_block_timestamp: None,
            lag_seconds: None,
            upstream_has_indexing_errors: None,
        }
    }
}
