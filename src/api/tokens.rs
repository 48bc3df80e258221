//! Token metadata and the candle resolvers: `tokenMetadata`, `tokens`, `tokenHourData` and
//! `TokenMetadata.hourData`.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object, SimpleObject};

use super::candles::{self, Candle, CandleRequest, Interval as Width};
use super::scalars::{BigDecimal, BigInt, DateTime, Interval, Order};
use super::ApiContext;
use crate::domain::TokenKey;
use crate::db::entity::token_metadata;
use crate::db::Db;
use crate::error::ApiError;

/// Largest `limit` of a candle query.
pub const MAX_LIMIT: i32 = 1000;
/// `limit` when not given.
pub const DEFAULT_LIMIT: i32 = 500;

/// `tokenMetadata`, `tokens` and `tokenHourData`.
#[derive(Default)]
pub struct TokenQuery;

#[Object]
impl TokenQuery {
    /// A tracked token's latest metadata, or null when the token is not in the mirror.
    async fn token_metadata(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Token address: 0x and 40 hex digits, any case.")] address: String,
        #[graphql(desc = "Network name from UPSTREAMS; the first configured one by default.")]
        network: Option<String>,
    ) -> async_graphql::Result<Option<TokenMetadata>> {
        let api = ctx.data::<ApiContext>()?;
        let address = ApiContext::address(&address)?;
        let network = api.network(network).await?;
        let loader = ctx.data::<DataLoader<MetadataLoader>>()?;
        let model = loader
            .load_one(TokenKey { network, address })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
        Ok(model.map(TokenMetadata))
    }

    /// Every token in the mirror, or one network's, ordered by network and address.
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this network's tokens; null for every network.")] network: Option<
            String,
        >,
    ) -> async_graphql::Result<Vec<TokenMetadata>> {
        let api = ctx.data::<ApiContext>()?;
        let network = match network {
            Some(n) => Some(api.network(Some(n)).await?),
            None => None,
        };
        let all = crate::db::tokens::list_metadata(api.db.conn(), network.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(all.into_iter().map(TokenMetadata).collect())
    }

    /// Candles of one token: the buckets starting in [from rounded down to its bucket, to), each
    /// over its whole width, aligned in UTC (weeks start on Monday). At `1h` every value is the
    /// upstream row's string unchanged.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "candle_cost(limit, child_complexity)")]
    async fn token_hour_data(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Token address: 0x and 40 hex digits, any case.")] address: String,
        #[graphql(desc = "Network name from UPSTREAMS; the first configured one by default.")]
        network: Option<String>,
        #[graphql(desc = "Start: the bucket holding this time is the first.")] from: DateTime,
        #[graphql(desc = "End, exclusive: buckets starting before it. Default: now.")] to: Option<
            DateTime,
        >,
        #[graphql(
            default_with = "Some(Interval::hour())",
            desc = "Bucket width, 1h to 1w."
        )]
        interval: Option<Interval>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Include empty buckets (up to now, from the token's first row on), carrying the previous close and TVL with zero volume."
        )]
        fill_gaps: Option<bool>,
        #[graphql(
            default_with = "Some(Order::Asc)",
            desc = "ASC: oldest first. DESC: newest first."
        )]
        order: Option<Order>,
        #[graphql(
            default_with = "Some(DEFAULT_LIMIT)",
            desc = "Most buckets to return, 1 to 1000 (filled ones count)."
        )]
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<TokenCandle>> {
        let api = ctx.data::<ApiContext>()?;
        let key = TokenKey {
            address: ApiContext::address(&address)?,
            network: api.network(network).await?,
        };
        let args = CandleArgs::check(from, to, interval, fill_gaps, order, limit)?;
        if !api.in_mirror(&key).await? {
            return Err(ApiError::bad_input(format!(
                "address: token {} on network {:?} is not in the mirror; query `tokens` for the ones that are",
                key.address, key.network
            ))
            .into());
        }
        Ok(args.run(api, &key).await?)
    }
}

/// What a candle field adds to a query's complexity (MAX_COMPLEXITY): its selected fields once
/// per 50 buckets it may return, so that `limit` counts — 1,000 aliases of a 1,000-bucket
/// request would otherwise pass as 2,000 fields and tie up the database for everyone.
pub(crate) fn candle_cost(limit: Option<i32>, child_complexity: usize) -> usize {
    let buckets = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000) as usize;
    1 + child_complexity.max(1) * buckets.div_ceil(50)
}

/// The candle arguments, checked.
pub(crate) struct CandleArgs {
    from: i64,
    to: i64,
    interval: Width,
    fill_gaps: bool,
    descending: bool,
    limit: i64,
    now: i64,
}

impl CandleArgs {
    /// Checks the arguments; an explicit null means the argument's default.
    pub(crate) fn check(
        from: DateTime,
        to: Option<DateTime>,
        interval: Option<Interval>,
        fill_gaps: Option<bool>,
        order: Option<Order>,
        limit: Option<i32>,
    ) -> Result<CandleArgs, ApiError> {
        let interval = interval.unwrap_or_else(Interval::hour);
        let fill_gaps = fill_gaps.unwrap_or(false);
        let order = order.unwrap_or_default();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let now_at = chrono::Utc::now();
        let now = now_at.timestamp();
        let from_at = from.instant("from")?;
        let to_at = match &to {
            Some(t) => t.instant("to")?,
            None => now_at,
        };
        if from_at >= to_at {
            return Err(ApiError::bad_input(format!(
                "from: {} is not before to ({}); from must be earlier than to",
                from.as_str(),
                to.as_ref().map_or("now", DateTime::as_str)
            )));
        }
        // Buckets start on whole seconds: the first is the one holding `from`, the last starts
        // before `to`, so a `to` between two seconds counts as the later one.
        let from = from_at.timestamp();
        let to = to_at.timestamp() + i64::from(to_at.timestamp_subsec_nanos() > 0);
        let interval =
            Width::parse(&interval.0).map_err(|e| ApiError::bad_input(format!("interval: {e}")))?;
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_input(format!(
                "limit: {limit} is out of range; allowed: 1 to {MAX_LIMIT}"
            )));
        }
        Ok(CandleArgs {
            from,
            to,
            interval,
            fill_gaps,
            descending: order == Order::Desc,
            limit: limit.into(),
            now,
        })
    }

    pub(crate) async fn run(
        &self,
        api: &ApiContext,
        key: &TokenKey,
    ) -> Result<Vec<TokenCandle>, ApiError> {
        let req = CandleRequest {
            network: &key.network,
            address: &key.address,
            from: self.from,
            to: self.to,
            interval: self.interval,
            fill_gaps: self.fill_gaps,
            descending: self.descending,
            limit: self.limit,
            now: self.now,
        };
        let out = candles::candles(api.db.conn(), &req).await?;
        Ok(out.into_iter().map(TokenCandle::from).collect())
    }
}

/// One bucket of hourly rows.
#[derive(SimpleObject)]
pub struct TokenCandle {
    /// Bucket start, unix seconds (as upstream).
    period_start_unix: i64,
    /// Bucket start.
    period_start: DateTime,
    /// The first row's open.
    open: BigDecimal,
    /// The largest high, compared as a number.
    high: BigDecimal,
    /// The smallest low, compared as a number.
    low: BigDecimal,
    /// The last row's close.
    close: BigDecimal,
    /// The last row's priceUSD.
    #[graphql(name = "priceUSD")]
    price_usd: BigDecimal,
    /// Sum of the rows' volume (in token units).
    volume: BigDecimal,
    /// Sum of the rows' volumeUSD.
    #[graphql(name = "volumeUSD")]
    volume_usd: BigDecimal,
    /// Sum of the rows' untrackedVolumeUSD.
    #[graphql(name = "untrackedVolumeUSD")]
    untracked_volume_usd: BigDecimal,
    /// Sum of the rows' feesUSD.
    #[graphql(name = "feesUSD")]
    fees_usd: BigDecimal,
    /// The last row's totalValueLocked.
    total_value_locked: BigDecimal,
    /// The last row's totalValueLockedUSD.
    #[graphql(name = "totalValueLockedUSD")]
    total_value_locked_usd: BigDecimal,
    /// Upstream rows in the bucket; 0 for a filled gap.
    hours: u32,
}

impl From<Candle> for TokenCandle {
    fn from(c: Candle) -> Self {
        TokenCandle {
            period_start_unix: c.period_start_unix,
            period_start: DateTime::from_unix(c.period_start_unix),
            open: c.open.into(),
            high: c.high.into(),
            low: c.low.into(),
            close: c.close.into(),
            price_usd: c.price_usd.into(),
            volume: c.volume.into(),
            volume_usd: c.volume_usd.into(),
            untracked_volume_usd: c.untracked_volume_usd.into(),
            fees_usd: c.fees_usd.into(),
            total_value_locked: c.total_value_locked.into(),
            total_value_locked_usd: c.total_value_locked_usd.into(),
            hours: c.hours,
        }
    }
}

/// A tracked token's latest metadata: the upstream Token's scalar fields, by the same names.
pub struct TokenMetadata(token_metadata::Model);

#[Object]
impl TokenMetadata {
    /// Network name from UPSTREAMS.
    async fn network(&self) -> &str {
        &self.0.network
    }
    /// Token address, lowercase.
    async fn address(&self) -> &str {
        &self.0.address
    }
    /// Token symbol.
    async fn symbol(&self) -> &str {
        &self.0.symbol
    }
    /// Token name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Decimals of the token's smallest unit.
    async fn decimals(&self) -> BigInt {
        BigInt(self.0.decimals.clone())
    }
    /// Total supply, in the smallest unit.
    async fn total_supply(&self) -> BigInt {
        BigInt(self.0.total_supply.clone())
    }
    /// Number of transactions touching the token.
    async fn tx_count(&self) -> BigInt {
        BigInt(self.0.tx_count.clone())
    }
    /// Number of pools containing the token.
    async fn pool_count(&self) -> BigInt {
        BigInt(self.0.pool_count.clone())
    }
    /// All-time volume in token units.
    async fn volume(&self) -> BigDecimal {
        BigDecimal(self.0.volume.clone())
    }
    /// All-time volume in USD.
    #[graphql(name = "volumeUSD")]
    async fn volume_usd(&self) -> BigDecimal {
        BigDecimal(self.0.volume_usd.clone())
    }
    /// All-time volume in USD, including untracked pools.
    #[graphql(name = "untrackedVolumeUSD")]
    async fn untracked_volume_usd(&self) -> BigDecimal {
        BigDecimal(self.0.untracked_volume_usd.clone())
    }
    /// All-time fees in USD.
    #[graphql(name = "feesUSD")]
    async fn fees_usd(&self) -> BigDecimal {
        BigDecimal(self.0.fees_usd.clone())
    }
    /// Liquidity across all pools, in token units.
    async fn total_value_locked(&self) -> BigDecimal {
        BigDecimal(self.0.total_value_locked.clone())
    }
    /// Liquidity across all pools, in USD.
    #[graphql(name = "totalValueLockedUSD")]
    async fn total_value_locked_usd(&self) -> BigDecimal {
        BigDecimal(self.0.total_value_locked_usd.clone())
    }
    /// Liquidity in USD, including untracked pools.
    #[graphql(name = "totalValueLockedUSDUntracked")]
    async fn total_value_locked_usd_untracked(&self) -> BigDecimal {
        BigDecimal(self.0.total_value_locked_usd_untracked.clone())
    }
    /// Price in ETH.
    #[graphql(name = "derivedETH")]
    async fn derived_eth(&self) -> BigDecimal {
        BigDecimal(self.0.derived_eth.clone())
    }
    /// When this metadata was fetched from the upstream.
    async fn updated_at(&self) -> DateTime {
        DateTime::from(self.0.updated_at)
    }

    /// Candles of this token: the arguments and answer of tokenHourData, minus address and
    /// network.
    // The argument list repeats tokenHourData's on purpose: async-graphql cannot share argument
    // definitions between fields, and the SDL must show them as scalars (SPEC §4), not as an
    // input object. Both resolvers hand them to the same `CandleArgs::check`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "candle_cost(limit, child_complexity)")]
    async fn hour_data(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start: the bucket holding this time is the first.")] from: DateTime,
        #[graphql(desc = "End, exclusive: buckets starting before it. Default: now.")] to: Option<
            DateTime,
        >,
        #[graphql(
            default_with = "Some(Interval::hour())",
            desc = "Bucket width, 1h to 1w."
        )]
        interval: Option<Interval>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Include empty buckets (up to now, from the token's first row on), carrying the previous close and TVL with zero volume."
        )]
        fill_gaps: Option<bool>,
        #[graphql(
            default_with = "Some(Order::Asc)",
            desc = "ASC: oldest first. DESC: newest first."
        )]
        order: Option<Order>,
        #[graphql(
            default_with = "Some(DEFAULT_LIMIT)",
            desc = "Most buckets to return, 1 to 1000 (filled ones count)."
        )]
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<TokenCandle>> {
        let api = ctx.data::<ApiContext>()?;
        let args = CandleArgs::check(from, to, interval, fill_gaps, order, limit)?;
        let key = TokenKey {
            network: self.0.network.clone(),
            address: self.0.address.clone(),
        };
        Ok(args.run(api, &key).await?)
    }
}

/// Batches `tokenMetadata` lookups of one request into one query.
pub struct MetadataLoader(pub Db);

impl Loader<TokenKey> for MetadataLoader {
    type Value = token_metadata::Model;
    type Error = std::sync::Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[TokenKey]) -> Result<HashMap<TokenKey, Self::Value>, Self::Error> {
        let pairs: Vec<(String, String)> = keys
            .iter()
            .map(|k| (k.network.clone(), k.address.clone()))
            .collect();
        let rows = crate::db::tokens::metadata_many(self.0.conn(), &pairs)
            .await
            .map_err(std::sync::Arc::new)?;
        Ok(rows
            .into_iter()
            .map(|m| {
                (
                    TokenKey {
                        network: m.network.clone(),
                        address: m.address.clone(),
                    },
                    m,
                )
            })
            .collect())
    }
}
