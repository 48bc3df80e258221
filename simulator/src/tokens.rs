//! The `Token` entity as of a point in time: static metadata plus cumulative volumes, trades and
//! current liquidity, consistent with the hourly rows served at the same time.

use super::market::{self, TokenParams};
use super::noise::hash;
use super::rows::{Dec, HourRow, Store};
use tokenmirror_subgraph::query::fields::TokenField;

/// Hour index of 2021-05-05 00:00 UTC, when Uniswap v3 launched: the simulated tokens' cumulative
/// totals count from then on, at the mean rate, or from 90 days before the history window when
/// that is earlier, so that a token's totals always exceed what its served rows add up to.
const LAUNCH_HOUR: i64 = 450_048;
/// How long a token traded before its history window, at the earliest.
const BEFORE_WINDOW: i64 = 90 * 86_400;

/// A token's fields as served at one time.
#[derive(Debug, Clone)]
pub struct TokenMeta {
    pub decimals: Dec,
    pub total_supply: Dec,
    pub volume: Dec,
    pub volume_usd: Dec,
    pub untracked_volume_usd: Dec,
    pub fees_usd: Dec,
    pub tx_count: Dec,
    pub pool_count: Dec,
    pub total_value_locked: Dec,
    pub total_value_locked_usd: Dec,
    pub total_value_locked_usd_untracked: Dec,
    pub derived_eth: Dec,
    /// Unix time of the token's last event at or before the time asked for.
    pub last_change: i64,
}

impl TokenMeta {
    /// Computes `p`'s fields at unix time `t`, given the live hour's row at `t` (if any) and the
    /// simulator's `--history` in seconds.
    pub fn at(
        seed: u64,
        p: &TokenParams,
        store: &Store,
        t: i64,
        live: Option<&HourRow>,
        history: i64,
    ) -> TokenMeta {
        let hour = t.div_euclid(3600);
        let token = p.index as usize;
        let last_stored = store.last_before(token, hour.min(store.complete_until));
        let last = live.or(last_stored);

        // Running totals change only when the token has an event (as in the subgraph, where only
        // events write the entity): they are taken at the time of its last event at or before
        // `t`. They never go down as the clock moves (neither that time nor `at - since` does),
        // and a lagging head reports the totals of its own time.
        let at = last.map_or(t, |row| row.last_event.min(t));
        let since = (LAUNCH_HOUR * 3600)
            .min(at.saturating_sub(history).saturating_sub(BEFORE_WINDOW))
            .max(super::clock::GENESIS_UNIX);
        let hours_live = ((at - since).max(0) as f64) / 3600.0;
        let volume_usd = hours_live * p.mean_volume_usd_per_hour();
        let events = (hours_live * p.mean_events_per_hour()) as u64;

        let price = match last {
            Some(row) => row.close.approx,
            None => store
                .state(token, hour)
                .map_or_else(|| p.base_price(), |s| super::noise::exp(s.log_price)),
        };
        let salt = |k: u64| hash(&[p.salt, 200 + k]);
        // Liquidity as the last row copied it (the subgraph writes the same value to both).
        let (tvl, tvl_usd) = match last {
            Some(row) => (
                row.total_value_locked.clone(),
                row.total_value_locked_usd.clone(),
            ),
            None => {
                let tvl = p.base_tvl_tokens();
                (
                    Dec::from_f64(tvl, salt(5)),
                    Dec::from_f64(tvl * price, salt(6)),
                )
            }
        };
        TokenMeta {
            decimals: Dec::integer(p.decimals.to_string()),
            total_supply: Dec::integer(p.total_supply.clone()),
            volume: Dec::from_f64(volume_usd / p.base_price(), salt(1)),
            volume_usd: Dec::from_f64(volume_usd, salt(2)),
            untracked_volume_usd: Dec::from_f64(volume_usd * 1.0125, salt(3)),
            fees_usd: Dec::from_f64(volume_usd * 0.003, salt(4)),
            tx_count: Dec::integer(events.to_string()),
            pool_count: Dec::integer(p.pool_count.to_string()),
            total_value_locked_usd_untracked: Dec::from_f64(tvl_usd.approx * 1.004, salt(7)),
            total_value_locked: tvl,
            total_value_locked_usd: tvl_usd,
            derived_eth: Dec::from_f64(price / market::eth_usd(seed, t), salt(8)),
            last_change: last.map_or(0, |row| row.last_event),
        }
    }

    /// The decimal (BigDecimal or BigInt) a field serves; `None` for id, symbol and name.
    pub fn dec(&self, field: TokenField) -> Option<&Dec> {
        use TokenField::*;
        Some(match field {
            Id | Symbol | Name => return None,
            Decimals => &self.decimals,
            TotalSupply => &self.total_supply,
            Volume => &self.volume,
            VolumeUsd => &self.volume_usd,
            UntrackedVolumeUsd => &self.untracked_volume_usd,
            FeesUsd => &self.fees_usd,
            TxCount => &self.tx_count,
            PoolCount => &self.pool_count,
            TotalValueLocked => &self.total_value_locked,
            TotalValueLockedUsd => &self.total_value_locked_usd,
            TotalValueLockedUsdUntracked => &self.total_value_locked_usd_untracked,
            DerivedEth => &self.derived_eth,
        })
    }
}

/// The text of a String or Bytes field of a token (`id`, `symbol`, `name`).
pub fn text(p: &TokenParams, field: TokenField) -> Option<&str> {
    match field {
        TokenField::Id => Some(&p.address),
        TokenField::Symbol => Some(&p.symbol),
        TokenField::Name => Some(&p.name),
        _ => None,
    }
}
