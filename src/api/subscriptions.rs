//! Subscriptions (over WebSocket, see `crate::http::ws`): `tokenCandles` pushes the newest
//! bucket of a token and then every change of it and every newer bucket, `syncStatus` the status
//! after each sync pass. Both are driven by the change feed, never by polling per subscriber.
//!
//! Limits: `MAX_SUBSCRIPTIONS` at once in the server and `MAX_SUBSCRIPTIONS_PER_CONNECTION` per
//! connection; a subscriber that falls [`BACKLOG`](super::topics) candles behind (it does not read
//! its socket) is dropped with an error, and the others keep receiving.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::{Context, Subscription};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::candle_args::TokenCandle;
use super::candles::Interval as Width;
use super::context::{api, ApiContext};
use super::scalars::Interval;
use super::status::{sync_status, SyncStatus};
use super::topics::{TopicKey, Topics};
use crate::domain::TokenKey;
use crate::error::ApiError;
use crate::feed::Change;

/// How many subscriptions may be open.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    /// In the whole server.
    pub total: usize,
    /// On one connection.
    pub per_connection: usize,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        SubscriptionLimits {
            total: 10_000,
            per_connection: 100,
        }
    }
}

/// The server's live subscriptions: the count against the limit, and the shared topics.
#[derive(Clone, Default)]
pub struct Live {
    pub limits: SubscriptionLimits,
    open: Arc<AtomicUsize>,
    pub topics: Topics,
}

impl Live {
    pub fn new(limits: SubscriptionLimits) -> Live {
        Live {
            limits,
            ..Default::default()
        }
    }

    /// Subscriptions open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// The subscriptions of one WebSocket connection (its connection data).
#[derive(Clone, Default)]
pub struct ConnectionSubscriptions(pub Arc<AtomicUsize>);

/// One open subscription, counted against both limits until it is dropped.
struct Slot {
    total: Arc<AtomicUsize>,
    connection: Option<Arc<AtomicUsize>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::SeqCst);
        if let Some(c) = &self.connection {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Takes a slot, or says which limit is reached.
fn take_slot(ctx: &Context<'_>, live: &Live) -> Result<Slot, ApiError> {
    let connection = ctx
        .data_opt::<ConnectionSubscriptions>()
        .map(|c| c.0.clone());
    if let Some(c) = &connection {
        if c.fetch_add(1, Ordering::SeqCst) >= live.limits.per_connection {
            c.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::bad_input(format!(
                "too many subscriptions on this connection: at most {} \
                 (MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one first, or open another connection",
                live.limits.per_connection
            )));
        }
    }
    if live.open.fetch_add(1, Ordering::SeqCst) >= live.limits.total {
        live.open.fetch_sub(1, Ordering::SeqCst);
        if let Some(c) = &connection {
            c.fetch_sub(1, Ordering::SeqCst);
        }
        return Err(ApiError::bad_input(format!(
            "this server has the most subscriptions it takes ({}, MAX_SUBSCRIPTIONS); try again later",
            live.limits.total
        )));
    }
    Ok(Slot {
        total: live.open.clone(),
        connection,
    })
}

/// The root subscription type.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The newest bucket `tokenHourData` has for the token, then that bucket again every time a
    /// committed sync write changes it, and each newer bucket as soon as `tokenHourData` has it
    /// (its first row is stored or, with `fillGaps`, the synced upstream head enters it). Every
    /// candle equals `tokenHourData`'s answer for its bucket at that moment.
    async fn token_candles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Token address: 0x and 40 hex digits, any case.")] address: String,
        #[graphql(desc = "Network name from UPSTREAMS; the first configured one by default.")]
        network: Option<String>,
        #[graphql(
            default_with = "Some(Interval::hour())",
            desc = "Bucket width, 1h to 1w."
        )]
        interval: Option<Interval>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Include empty buckets, as tokenHourData does."
        )]
        fill_gaps: Option<bool>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TokenCandle>>> {
        let api = api(ctx)?;
        let live = live(ctx)?;
        let token = TokenKey {
            address: ApiContext::address(&address)?,
            network: api.network(network, None).await?,
        };
        let interval = interval.unwrap_or_else(Interval::hour);
        let interval =
            Width::parse(&interval.0).map_err(|e| ApiError::bad_input(format!("interval: {e}")))?;
        if !api.in_mirror(&token, None).await? {
            return Err(ApiError::bad_input(format!(
                "address: token {} on network {:?} is not in the mirror; query `tokens` for the ones that are",
                token.address, token.network
            ))
            .into());
        }
        let slot = take_slot(ctx, live)?;
        let key = TopicKey {
            token,
            interval,
            fill_gaps: fill_gaps.unwrap_or(false),
        };
        let topic = live
            .topics
            .topic(key, &api.db, &api.feed)
            .await
            .map_err(ApiError::from)?;
        let (first, rx) = topic.subscribe();
        let mut last = first.clone();
        let first = stream::iter(first.map(|c| Ok(TokenCandle::from((*c).clone()))));
        let updates = stream::unfold(
            (rx, topic, slot, false),
            move |(mut rx, topic, slot, done)| async move {
                if done {
                    return None;
                }
                match rx.recv().await {
                    Ok(c) => Some((Ok(Some(c)), (rx, topic, slot, false))),
                    Err(RecvError::Lagged(n)) => Some((
                        Err(ApiError::bad_input(format!(
                            "this subscription fell {n} candles behind (the client did not read \
                             them) and was ended; subscribe again"
                        ))
                        .into()),
                        (rx, topic, slot, true),
                    )),
                    Err(RecvError::Closed) => None,
                }
            },
        )
        // A candle already pushed first (the newest bucket when the subscription began) is not
        // pushed again unchanged.
        .filter_map(move |c: async_graphql::Result<Option<Arc<_>>>| {
            let out = match c {
                Ok(Some(c)) => {
                    let dup = last.as_ref().is_some_and(|l: &Arc<_>| **l == *c);
                    last = Some(c.clone());
                    (!dup).then(|| Ok(TokenCandle::from((*c).clone())))
                }
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            };
            async move { out }
        });
        Ok(first.chain(updates))
    }

    /// The sync status of every token (as the `syncStatus` query answers it), now and after each
    /// sync pass.
    async fn sync_status(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Vec<SyncStatus>>>> {
        let api = api(ctx)?.clone();
        let live = live(ctx)?;
        let slot = take_slot(ctx, live)?;
        let rx = api.feed.subscribe();
        Ok(stream::unfold(
            (api, rx, slot, true),
            |(api, mut rx, slot, first)| async move {
                if !first {
                    loop {
                        match rx.recv().await {
                            Ok(e)
                                if matches!(
                                    e.change,
                                    Change::PassDone { .. } | Change::Everything
                                ) =>
                            {
                                break
                            }
                            Ok(_) => continue,
                            Err(RecvError::Lagged(_)) => break,
                            Err(RecvError::Closed) => return None,
                        }
                    }
                }
                let status = sync_status(&api, None).await.map_err(Into::into);
                Some((status, (api, rx, slot, false)))
            },
        ))
    }
}

fn live<'a>(ctx: &Context<'a>) -> Result<&'a Live, ApiError> {
    ctx.data::<Live>()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the schema has no Live: {}", e.message)))
}
