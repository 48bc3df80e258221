//! The candle arguments shared by `tokenHourData` and `TokenMetadata.hourData`, checked into a
//! [`CandleArgs`] with messages that name the argument, and the `TokenCandle` object type.

use async_graphql::SimpleObject;

use super::candles::{self, Candle, CandleRequest, Interval as Width};
use super::context::{ApiContext, LIVE_MAX_AGE, SETTLED_MAX_AGE};
use super::scalars::{BigDecimal, DateTime, Interval, Order};
use crate::domain::TokenKey;
use crate::error::ApiError;
use crate::feed::{DepKey, Deps};

/// Largest `limit` of a candle query.
pub const MAX_LIMIT: i32 = 1000;
/// `limit` when not given.
pub const DEFAULT_LIMIT: i32 = 500;

/// What a candle field adds to a query's complexity (MAX_COMPLEXITY): its selected fields once
/// per 50 buckets it may return, so that `limit` counts — 1,000 aliases of a 1,000-bucket
/// request would otherwise pass as 2,000 fields and tie up the database for everyone.
pub fn candle_cost(limit: Option<i32>, child_complexity: usize) -> usize {
    let buckets = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000) as usize;
    1 + child_complexity.max(1) * buckets.div_ceil(50)
}

/// The candle arguments, checked.
pub struct CandleArgs {
    from: i64,
    to: i64,
    interval: Width,
    fill_gaps: bool,
    descending: bool,
    limit: i64,
    /// `to` was left out: it is `now`.
    open_ended: bool,
    now: i64,
}

impl CandleArgs {
    /// Checks the arguments at time `now` (`to` defaults to it); an explicit null means the
    /// argument's default.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        now: chrono::DateTime<chrono::Utc>,
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
        let (now_at, now) = (now, now.timestamp());
        let open_ended = to.is_none();
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
            open_ended,
            now,
        })
    }

    /// The candles of `key`; what they read is recorded in `deps` (when the answer may be
    /// cached), with the moment the clock alone would change them.
    pub async fn run(
        &self,
        api: &ApiContext,
        key: &TokenKey,
        deps: Option<&Deps>,
    ) -> Result<Vec<TokenCandle>, ApiError> {
        if let Some(d) = deps {
            d.read(&DepKey::Hours(key.clone()));
        }
        let req = CandleRequest {
            network: &key.network,
            address: &key.address,
            from: self.from,
            to: self.to,
            interval: self.interval,
            fill_gaps: self.fill_gaps,
            descending: self.descending,
            limit: self.limit,
            open_ended: self.open_ended,
        };
        let out = candles::candles(&api.db.read()?, &req).await?;
        if let Some(d) = deps.filter(|d| d.wants_http_max_age()) {
            d.http_max_age(self.http_max_age(api, key).await?);
        }
        if let (Some(d), true) = (deps, self.open_ended) {
            // `to` is now: when the clock reaches the next bucket, the answer takes it in — if
            // the mirror knows any of its hours.
            let next = self.interval.start(self.interval.index(self.now) + 1);
            if out.known_until.is_some_and(|known| next <= known) {
                d.expires_at(next);
            }
        }
        Ok(out.candles.into_iter().map(TokenCandle::from).collect())
    }
}

impl CandleArgs {
    /// How long HTTP caches may keep these candles: a day when every bucket asked for lies
    /// between the token's covered-from hour (older hours may still be backfilled) and now
    /// minus the sync's overlap (newer ones may still be rewritten), else a few seconds.
    async fn http_max_age(&self, api: &ApiContext, key: &TokenKey) -> Result<u64, ApiError> {
        if self.open_ended || self.to <= self.from {
            return Ok(LIVE_MAX_AGE);
        }
        let iv = self.interval;
        let first = iv.start(iv.index(self.from));
        let end = iv.start(iv.index(self.to - 1) + 1);
        let settled_until = self.now - i64::try_from(api.overlap.as_secs()).unwrap_or(i64::MAX);
        if end > settled_until {
            return Ok(LIVE_MAX_AGE);
        }
        let state =
            crate::db::state::sync_state(&api.db.read()?, &key.network, &key.address).await?;
        let covered = state.and_then(|s| s.covered_from);
        Ok(match covered {
            Some(c) if first >= c => SETTLED_MAX_AGE,
            _ => LIVE_MAX_AGE,
        })
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
