//! Hourly rows: aggregating an hour's events into a `TokenHourData` row, the decimal strings the
//! rows carry, and the store of completed hours.
//!
//! A completed hour never changes, so its row is computed once and kept; the hour the clock is
//! in (the live hour) is aggregated from the events up to the clock on every request. Rows are
//! computed for every hour from the window's first hour on; the store grows when the clock
//! reaches a new hour and drops the hours that leave the history window.

use super::market::{Event, TokenParams, WalkState};
use tokenmirror_subgraph::query::fields::HourField;
use tokenmirror_subgraph::Decimal;

use super::noise::hash;

/// A decimal as served: its exact canonical value, and the nearest `f64`, from which the
/// synthetic market derives other values (never used to compare or serve).
#[derive(Debug, Clone, PartialEq)]
pub struct Dec {
    /// The served value.
    pub value: Decimal,
    /// `value` rounded to the nearest `f64`.
    pub approx: f64,
}

impl Dec {
    /// Zero, written `"0"`.
    pub fn zero() -> Dec {
        Dec {
            value: Decimal::zero(),
            approx: 0.0,
        }
    }

    /// `v` with 34 significant digits: the 17 digits of `v` followed by 17 digits drawn from
    /// `salt` and `v`. The extra digits depend on `v` itself, so equal values get equal strings
    /// and a larger `f64` always gets a larger decimal: `high` of an hour is the string of its
    /// highest event, and the live hour's volume strings grow with its volume.
    pub fn from_f64(v: f64, salt: u64) -> Dec {
        if v == 0.0 || !v.is_finite() {
            return Dec::zero();
        }
        let sci = format!("{:.16e}", v.abs());
        let Some((mantissa, exponent)) = sci.split_once('e') else {
            return Dec::zero();
        };
        let exponent: i64 = exponent.parse().unwrap_or(0);
        let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        digits.push_str(&format!(
            "{:017}",
            hash(&[salt, v.to_bits()]) % 100_000_000_000_000_000
        ));
        Dec::of_text(plain(&digits, exponent, v < 0.0), v)
    }

    /// A non-negative integer given as decimal digits (a BigInt).
    pub fn integer(digits: String) -> Dec {
        let approx = digits.parse().unwrap_or(0.0);
        Dec::of_text(digits, approx)
    }

    /// `text` (canonical by construction; zero otherwise) and its nearest `f64`.
    fn of_text(text: String, fallback: f64) -> Dec {
        let approx = text.parse().unwrap_or(fallback);
        match Decimal::parse(&text) {
            Ok(value) => Dec { value, approx },
            Err(_) => Dec::zero(),
        }
    }

    /// The served text.
    pub fn as_str(&self) -> &str {
        self.value.as_str()
    }

    /// The same value in exponent notation (`5.83e4`): what a malformed upstream row carries.
    pub fn scientific(&self) -> String {
        format!("{:e}", self.approx)
    }
}

/// Writes `d1.d2d3… × 10^exponent` in plain notation without trailing zeros.
fn plain(digits: &str, exponent: i64, negative: bool) -> String {
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return "0".to_owned();
    }
    let sign = if negative { "-" } else { "" };
    let int_len = exponent + 1;
    if int_len <= 0 {
        let zeros = "0".repeat((-int_len) as usize);
        format!("{sign}0.{zeros}{digits}")
    } else if int_len as usize >= digits.len() {
        let zeros = "0".repeat(int_len as usize - digits.len());
        format!("{sign}{digits}{zeros}")
    } else {
        let (int, frac) = digits.split_at(int_len as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// One `TokenHourData` row.
#[derive(Debug, Clone)]
pub struct HourRow {
    /// Index of the token in the simulator.
    pub token: u32,
    /// Hour index: `periodStartUnix / 3600`.
    pub hour: i64,
    /// `0x<address>-<hour>`.
    pub id: Box<str>,
    /// Unix time of the last event in the row (for `_change_block` filters).
    pub last_event: i64,
    pub volume: Dec,
    /// Also served as `untrackedVolumeUSD` (equal upstream too).
    pub volume_usd: Dec,
    pub total_value_locked: Dec,
    pub total_value_locked_usd: Dec,
    pub fees_usd: Dec,
    pub open: Dec,
    pub high: Dec,
    pub low: Dec,
    /// Also served as `priceUSD`.
    pub close: Dec,
}

impl HourRow {
    /// `periodStartUnix`.
    pub fn period_start(&self) -> i64 {
        self.hour * 3600
    }

    /// The decimal `field` serves (`None` for id, periodStartUnix and token).
    pub fn dec(&self, field: HourField) -> Option<&Dec> {
        use HourField::*;
        Some(match field {
            Id | PeriodStartUnix | Token => return None,
            Volume => &self.volume,
            VolumeUsd | UntrackedVolumeUsd => &self.volume_usd,
            TotalValueLocked => &self.total_value_locked,
            TotalValueLockedUsd => &self.total_value_locked_usd,
            PriceUsd | Close => &self.close,
            FeesUsd => &self.fees_usd,
            Open => &self.open,
            High => &self.high,
            Low => &self.low,
        })
    }
}

/// Aggregates `events` (an hour's events up to some time, in order) into a row, as the subgraph's
/// mapping does: open = first price, high/low = extremes, close = last, volumes and fees summed,
/// TVL from the last event.
pub fn aggregate(p: &TokenParams, hour: i64, events: &[Event]) -> Option<HourRow> {
    let first = events.first()?;
    let last = events.last()?;
    let (mut high, mut low) = (first.price, first.price);
    let (mut volume, mut volume_usd, mut fees) = (0.0, 0.0, 0.0);
    for e in events {
        high = high.max(e.price);
        low = low.min(e.price);
        volume += e.volume_usd / e.price;
        volume_usd += e.volume_usd;
        fees += e.volume_usd * e.fee_rate;
    }
    let salt = |k: u64| hash(&[p.salt, k]);
    // One salt for all prices: equal prices must be equal strings.
    let price = |v: f64| Dec::from_f64(v, salt(100));
    Some(HourRow {
        token: p.index,
        hour,
        id: format!("{}-{hour}", p.address).into(),
        last_event: last.at,
        volume: Dec::from_f64(volume, salt(101)),
        volume_usd: Dec::from_f64(volume_usd, salt(102)),
        total_value_locked: Dec::from_f64(last.tvl_tokens, salt(103)),
        total_value_locked_usd: Dec::from_f64(last.tvl_tokens * last.price, salt(104)),
        fees_usd: Dec::from_f64(fees, salt(105)),
        open: price(first.price),
        high: price(high),
        low: price(low),
        close: price(last.price),
    })
}

/// One token's completed hours.
#[derive(Debug, Default)]
pub struct Series {
    /// Rows of completed hours, ascending by hour (gap hours have none).
    pub rows: Vec<HourRow>,
    /// Walk states for hours `first_hour ..= complete_until + 1`.
    states: Vec<WalkState>,
}

/// The completed hours of every token, from the window's first hour to `complete_until`.
#[derive(Debug)]
pub struct Store {
    /// The first hour index with data.
    pub first_hour: i64,
    /// Hours before this one (and from `first_hour`) are complete and stored.
    pub complete_until: i64,
    /// One per token, in index order.
    pub series: Vec<Series>,
}

impl Store {
    /// A store for `tokens` whose window starts at hour `first_hour`, complete up to `until`.
    pub fn new(tokens: &[TokenParams], first_hour: i64, until: i64) -> Store {
        let series = tokens
            .iter()
            .map(|p| {
                let s0 = p.state_at(first_hour);
                Series {
                    rows: Vec::new(),
                    states: vec![s0, p.step(first_hour, s0)],
                }
            })
            .collect();
        let mut store = Store {
            first_hour,
            complete_until: first_hour,
            series,
        };
        store.extend(tokens, until);
        store
    }

    /// Moves the window's first hour to `first`: older rows are dropped (the history window
    /// follows the clock), and a window that starts earlier than the stored one (a clock moved
    /// back) or after everything stored is computed afresh. Rows depend only on the token and
    /// the hour, never on where the window starts.
    pub fn start_at(&mut self, tokens: &[TokenParams], first: i64) {
        if first == self.first_hour {
            return;
        }
        if first < self.first_hour || first > self.complete_until {
            *self = Store::new(tokens, first, first);
            return;
        }
        let drop_states = (first - self.first_hour) as usize;
        for series in &mut self.series {
            let drop_rows = series.rows.partition_point(|r| r.hour < first);
            series.rows.drain(..drop_rows);
            series.states.drain(..drop_states);
        }
        self.first_hour = first;
    }

    /// Computes the rows of the hours before `until` that are not stored yet.
    pub fn extend(&mut self, tokens: &[TokenParams], until: i64) {
        if until <= self.complete_until {
            return;
        }
        for (p, series) in tokens.iter().zip(&mut self.series) {
            for hour in self.complete_until..until {
                let i = (hour - self.first_hour) as usize;
                let (start, end) = (series.states[i], series.states[i + 1]);
                if let Some(row) = aggregate(p, hour, &p.events(hour, start, end)) {
                    series.rows.push(row);
                }
                series.states.push(p.step(hour + 1, end));
            }
        }
        self.complete_until = until;
    }

    /// The stored rows of `token` for hours in `[from, to)`.
    pub fn rows_between(&self, token: usize, from: i64, to: i64) -> &[HourRow] {
        let Some(series) = self.series.get(token) else {
            return &[];
        };
        let lo = series.rows.partition_point(|r| r.hour < from);
        let hi = series.rows.partition_point(|r| r.hour < to);
        series.rows.get(lo..hi.max(lo)).unwrap_or(&[])
    }

    /// The last of `token`'s stored rows before hour `to`.
    pub fn last_before(&self, token: usize, to: i64) -> Option<&HourRow> {
        let series = self.series.get(token)?;
        let n = series.rows.partition_point(|r| r.hour < to);
        series.rows.get(n.checked_sub(1)?)
    }

    /// The row of `hour` (which must not be after `complete_until`) as it stands at unix time
    /// `t`, for the live hour: only the events up to `t` count, and an hour whose first event is
    /// still ahead has no row yet.
    pub fn live_row(&self, p: &TokenParams, hour: i64, t: i64) -> Option<HourRow> {
        if hour < self.first_hour || hour > self.complete_until {
            return None;
        }
        let series = self.series.get(p.index as usize)?;
        let i = (hour - self.first_hour) as usize;
        let (start, end) = (*series.states.get(i)?, *series.states.get(i + 1)?);
        let events = p.events(hour, start, end);
        let upto = events.partition_point(|e| e.at <= t);
        aggregate(p, hour, &events[..upto])
    }

    /// The walk state at the start of `hour`, when it is in the stored range.
    pub fn state(&self, token: usize, hour: i64) -> Option<WalkState> {
        let i = usize::try_from(hour - self.first_hour).ok()?;
        self.series.get(token)?.states.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_canonical_with_34_digits() {
        for v in [
            1.0, 0.1, 3000.123, 1.5e-28, 2.5e34, 123456.789, 7e30, 0.000123,
        ] {
            let d = Dec::from_f64(v, 9);
            let text = d.as_str();
            assert_ne!(text, "0", "{v} is not canonical");
            let sig = text.trim_start_matches(['0', '.']).replace('.', "");
            assert!(sig.trim_end_matches('0').len() <= 34, "{text}");
            assert!(((d.approx - v) / v).abs() < 1e-15, "{text} vs {v}");
        }
        assert_eq!(Dec::from_f64(0.0, 1).as_str(), "0");
        assert_eq!(plain("1200", 5, false), "120000");
        assert_eq!(plain("12", -3, false), "0.0012");
        assert_eq!(plain("125", 0, true), "-1.25");
    }

    #[test]
    fn larger_values_get_larger_strings() {
        let mut v = 0.987654321;
        let mut prev = Dec::from_f64(v, 5);
        for _ in 0..2000 {
            v = f64::from_bits(v.to_bits() + 1);
            let d = Dec::from_f64(v, 5);
            let (a, b) = (prev.value.clone(), d.value.clone());
            assert_eq!(a.cmp_numeric(&b), std::cmp::Ordering::Less, "{a} !< {b}");
            prev = d;
        }
        assert_eq!(Dec::from_f64(v, 5), Dec::from_f64(v, 5));
    }
}
