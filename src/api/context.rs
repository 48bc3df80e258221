//! What every resolver shares: the database, the configured networks, the clock and the change
//! feed, with the checks of the arguments that name a token (address, network, "is it in the
//! mirror"). Resolvers record what they read in the request's [`Deps`] (present when the
//! answer may be cached), before reading it.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use crate::db::Db;
use crate::domain::{parse_address, Clock, TokenKey};
use crate::error::ApiError;
use crate::feed::{DepKey, Deps, Feed};

/// What resolvers share.
#[derive(Clone)]
pub struct ApiContext {
    pub db: Db,
    /// Configured networks in `UPSTREAMS` order; the first is the default.
    networks: Arc<Vec<String>>,
    /// Tokens known to be in the mirror (a cache: a miss asks the database; a token never
    /// leaves the mirror, so an entry never goes stale).
    known: Arc<RwLock<HashSet<TokenKey>>>,
    /// Where "now" comes from.
    pub clock: Clock,
    /// The change feed (subscriptions listen to it; answers are checked against it).
    pub feed: Feed,
    /// The sync's `OVERLAP`: hours older than now minus it are never fetched again (what HTTP
    /// caches may keep for long).
    pub overlap: std::time::Duration,
}

impl ApiContext {
    /// `networks` are the configured ones, the default first.
    pub fn new(db: Db, networks: Vec<String>, feed: Feed, clock: Clock) -> ApiContext {
        ApiContext {
            db,
            networks: Arc::new(networks),
            known: Arc::default(),
            clock,
            feed,
            overlap: std::time::Duration::from_secs(3 * 3600),
        }
    }

    /// The same, with the sync's `OVERLAP`.
    pub fn with_overlap(mut self, overlap: std::time::Duration) -> ApiContext {
        self.overlap = overlap;
        self
    }

    /// The configured networks, the default first.
    pub fn networks(&self) -> &[String] {
        &self.networks
    }

    /// Checks `network` (or picks the default).
    pub(crate) async fn network(
        &self,
        network: Option<String>,
        deps: Option<&Deps>,
    ) -> Result<String, ApiError> {
        match network {
            None => self.networks.first().cloned().ok_or_else(|| {
                ApiError::bad_input(
                    "network: no default network is configured (UPSTREAMS is empty); pass one",
                )
            }),
            Some(n) if self.networks.contains(&n) => Ok(n),
            Some(n) => {
                // A network no longer configured still has its data served.
                record(deps, DepKey::TokenList);
                let stored = crate::db::tokens::networks(&self.db.read()?).await?;
                if stored.contains(&n) {
                    Ok(n)
                } else {
                    let mut known: Vec<String> = self.networks.to_vec();
                    for s in stored {
                        if !known.contains(&s) {
                            known.push(s);
                        }
                    }
                    Err(ApiError::bad_input(format!(
                        "network: {n:?} is not a network of this mirror; known networks: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )))
                }
            }
        }
    }

    /// Checks and lowercases an address argument.
    pub(crate) fn address(address: &str) -> Result<String, ApiError> {
        parse_address(address).map_err(|e| ApiError::bad_input(format!("address: {e}")))
    }

    /// True when the token is tracked or has metadata in the mirror.
    pub(crate) async fn in_mirror(
        &self,
        key: &TokenKey,
        deps: Option<&Deps>,
    ) -> Result<bool, ApiError> {
        if self.known.read().map(|k| k.contains(key)).unwrap_or(false) {
            return Ok(true);
        }
        // Not yet known: the answer ("not in the mirror") holds until its metadata arrives.
        if let Some(d) = deps {
            d.read(&DepKey::Metadata(key.clone()));
        }
        let found =
            crate::db::tokens::is_known(&self.db.read()?, &key.network, &key.address).await?;
        if found {
            // For good: a token never leaves the mirror.
            if let Ok(mut k) = self.known.write() {
                k.insert(key.clone());
            }
        } else if let Some(d) = deps {
            d.http_max_age(LIVE_MAX_AGE);
        }
        Ok(found)
    }
}

/// The [`ApiContext`] of a resolver (an internal error if the schema was built without it).
pub fn api<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a ApiContext, ApiError> {
    ctx.data::<ApiContext>().map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "the schema has no ApiContext: {}",
            e.message
        ))
    })
}

/// The request's dependency record, when its answer may be cached.
pub fn deps<'a>(ctx: &async_graphql::Context<'a>) -> Option<&'a Deps> {
    ctx.data_opt::<Deps>()
}

/// How long HTTP caches may keep an answer that reads something live (metadata, the token
/// list, sync status, hours the sync may still rewrite): a few seconds.
pub const LIVE_MAX_AGE: u64 = 5;
/// How long HTTP caches may keep an answer that reads only settled hours: a day.
pub const SETTLED_MAX_AGE: u64 = 86_400;

/// Records that the answer reads `key` (when it is being recorded). Only candles of settled
/// hours may stay in HTTP caches long (see [`crate::api::candle_args`]); anything else read
/// keeps an answer there for [`LIVE_MAX_AGE`].
pub fn record(deps: Option<&Deps>, key: DepKey) {
    if let Some(d) = deps {
        d.read(&key);
        if !matches!(key, DepKey::Hours(_)) {
            d.http_max_age(LIVE_MAX_AGE);
        }
    }
}
