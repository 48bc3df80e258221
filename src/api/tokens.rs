//! Token metadata and the candle resolvers: `tokenMetadata`, `tokens`, `tokenHourData` and
//! `TokenMetadata.hourData` (whose arguments are checked in [`super::candle_args`]).

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object};

use super::candle_args::{candle_cost, CandleArgs, TokenCandle, DEFAULT_LIMIT};
use super::context::{api, deps, record, ApiContext};
use super::scalars::{BigDecimal, BigInt, DateTime, Interval, Order};
use crate::db::entity::token_metadata;
use crate::db::Db;
use crate::domain::TokenKey;
use crate::error::ApiError;
use crate::feed::DepKey;

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
        let (api, deps) = (api(ctx)?, deps(ctx));
        let address = ApiContext::address(&address)?;
        let network = api.network(network, deps).await?;
        let key = TokenKey { network, address };
        record(deps, DepKey::Metadata(key.clone()));
        let loader = ctx.data::<DataLoader<MetadataLoader>>()?;
        let model = loader.load_one(key).await.map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("loading token metadata"))
        })?;
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
        let (api, deps) = (api(ctx)?, deps(ctx));
        let network = match network {
            Some(n) => Some(api.network(Some(n), deps).await?),
            None => None,
        };
        record(deps, DepKey::TokenList);
        let all = crate::db::tokens::list_metadata(&api.db.read()?, network.as_deref())
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
            desc = "Include empty buckets, from the token's first row on, carrying the previous close and TVL with zero volume. Buckets after the hour of the upstream head the mirror last synced for the token are absent: they are unknown, not empty."
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
        let (api, deps) = (api(ctx)?, deps(ctx));
        let key = TokenKey {
            address: ApiContext::address(&address)?,
            network: api.network(network, deps).await?,
        };
        let now = api.clock.now();
        let args = CandleArgs::check(now, from, to, interval, fill_gaps, order, limit)?;
        if !api.in_mirror(&key, deps).await? {
            return Err(ApiError::bad_input(format!(
                "address: token {} on network {:?} is not in the mirror; query `tokens` for the ones that are",
                key.address, key.network
            ))
            .into());
        }
        Ok(args.run(api, &key, deps).await?)
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
    // definitions between fields, and the SDL must show them as scalars, not as an input
    // object. Both resolvers hand them to the same `CandleArgs::check`.
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
            desc = "Include empty buckets, from the token's first row on, carrying the previous close and TVL with zero volume. Buckets after the hour of the upstream head the mirror last synced for the token are absent: they are unknown, not empty."
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
        let (api, deps) = (api(ctx)?, deps(ctx));
        let args = CandleArgs::check(api.clock.now(), from, to, interval, fill_gaps, order, limit)?;
        let key = TokenKey {
            network: self.0.network.clone(),
            address: self.0.address.clone(),
        };
        Ok(args.run(api, &key, deps).await?)
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
        let rows = crate::db::tokens::metadata_many(&self.0.read()?, &pairs)
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
