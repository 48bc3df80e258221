//! How the sync fetches: the backfill start, the overlap, retries and concurrency.

use std::time::Duration;

use super::client::RetryPolicy;
use crate::domain::Backfill;

/// How the sync fetches.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub backfill: Backfill,
    /// Recent time every pass fetches again, floored to whole hours.
    pub overlap: Duration,
    pub retry: RetryPolicy,
    /// Tokens of one network synced at the same time.
    pub token_concurrency: usize,
}

impl From<&crate::config::SyncArgs> for SyncSettings {
    fn from(a: &crate::config::SyncArgs) -> Self {
        SyncSettings {
            backfill: a.backfill,
            overlap: a.overlap,
            token_concurrency: a.sync_concurrency.into(),
            ..Default::default()
        }
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            backfill: Backfill::Duration(Duration::from_secs(7 * 86_400)),
            overlap: Duration::from_secs(3 * 3600),
            retry: RetryPolicy::default(),
            token_concurrency: 8,
        }
    }
}
