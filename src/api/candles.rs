//! Candles: hourly rows grouped into UTC-aligned buckets of 1h…1w.
//!
//! A bucket holds the upstream rows whose hour starts inside it. Aggregation happens here in
//! Rust, exactly ([`tokenmirror_subgraph::rollup`]): the first open, the last close/price/TVL,
//! the numerically largest high and smallest low (returned as that row's string), and exact
//! sums rounded once to 34 significant digits. The database only does what it is fastest at:
//! an index range scan of one token — of its hours, or, for widths of whole days, of its exact
//! daily rollups (a year of daily candles reads 365 rows, not 8,760).

use sea_orm::{ConnectionTrait, DbErr};

use tokenmirror_subgraph::rollup::{roll, Period, Sums};

use crate::db::days;
use crate::db::hours::{self, Direction, HourRow};
use crate::db::state;
use crate::decimal::Decimal;

use crate::domain::HOUR;
const WEEK_HOURS: i64 = 168;
/// Monday 1970-01-05 00:00 UTC: whole-week buckets start on Mondays.
const MONDAY_EPOCH: i64 = 4 * 86_400;

/// A bucket width in whole hours, 1…168.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    hours: i64,
}

impl Interval {
    /// Parses `^[1-9][0-9]*[hdw]$`, at most one week.
    pub fn parse(s: &str) -> Result<Interval, String> {
        let bad = || {
            format!(
                "{s:?} is not an interval: write a whole number of hours, days or weeks from 1h to \
                 1w, such as 1h, 4h, 12h, 1d, 7d or 1w"
            )
        };
        // The unit is the last character (which may be any character, of any width).
        let unit_len = s.chars().next_back().map_or(0, char::len_utf8);
        let (digits, unit) = s.split_at(s.len() - unit_len);
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let per_unit = match unit {
            "h" => 1,
            "d" => 24,
            "w" => WEEK_HOURS,
            _ => return Err(bad()),
        };
        let hours = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per_unit))
            .filter(|h| *h <= WEEK_HOURS)
            .ok_or_else(|| format!("{s:?} is longer than one week (1w, 7d, 168h)"))?;
        Ok(Interval { hours })
    }

    /// Hours per bucket.
    pub fn hours(&self) -> i64 {
        self.hours
    }

    /// Seconds per bucket.
    pub fn width(&self) -> i64 {
        self.hours * HOUR
    }

    fn origin(&self) -> i64 {
        if self.hours % WEEK_HOURS == 0 {
            MONDAY_EPOCH
        } else {
            0
        }
    }

    /// The number of the bucket holding `t` (unix seconds).
    pub fn index(&self, t: i64) -> i64 {
        (t - self.origin()).div_euclid(self.width())
    }

    /// The start of bucket number `index`.
    pub fn start(&self, index: i64) -> i64 {
        self.origin() + index * self.width()
    }
}

/// One bucket of hourly rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candle {
    pub period_start_unix: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub price_usd: Decimal,
    pub volume: Decimal,
    pub volume_usd: Decimal,
    pub untracked_volume_usd: Decimal,
    pub fees_usd: Decimal,
    pub total_value_locked: Decimal,
    pub total_value_locked_usd: Decimal,
    /// Upstream rows in the bucket; 0 for a filled gap.
    pub hours: u32,
}

impl Candle {
    /// An hourly candle: the row's strings, unchanged.
    fn from_row(row: HourRow) -> Candle {
        Candle {
            period_start_unix: row.period_start_unix,
            open: row.open,
            high: row.high,
            low: row.low,
            close: row.close,
            price_usd: row.price_usd,
            volume: row.volume,
            volume_usd: row.volume_usd,
            untracked_volume_usd: row.untracked_volume_usd,
            fees_usd: row.fees_usd,
            total_value_locked: row.total_value_locked,
            total_value_locked_usd: row.total_value_locked_usd,
            hours: 1,
        }
    }

    /// Aggregates one bucket's hours (or days), given oldest first (at least one).
    fn from_parts<P: Period>(start: i64, parts: &[P]) -> Option<Candle> {
        let r = roll(parts, Sums::Rounded)?;
        Some(Candle {
            period_start_unix: start,
            open: r.open,
            high: r.high,
            low: r.low,
            close: r.close,
            price_usd: r.price_usd,
            volume: r.volume,
            volume_usd: r.volume_usd,
            untracked_volume_usd: r.untracked_volume_usd,
            fees_usd: r.fees_usd,
            total_value_locked: r.total_value_locked,
            total_value_locked_usd: r.total_value_locked_usd,
            hours: r.hours,
        })
    }

    /// An empty bucket after `previous`: its close everywhere, its TVL, no volume.
    fn filled(start: i64, previous: &Candle) -> Candle {
        let close = &previous.close;
        Candle {
            period_start_unix: start,
            open: close.clone(),
            high: close.clone(),
            low: close.clone(),
            close: close.clone(),
            price_usd: close.clone(),
            volume: Decimal::zero(),
            volume_usd: Decimal::zero(),
            untracked_volume_usd: Decimal::zero(),
            fees_usd: Decimal::zero(),
            total_value_locked: previous.total_value_locked.clone(),
            total_value_locked_usd: previous.total_value_locked_usd.clone(),
            hours: 0,
        }
    }
}

/// Groups rows (oldest first) into candles (oldest first), leaving empty buckets out.
pub fn aggregate(rows: Vec<HourRow>, interval: Interval) -> Vec<Candle> {
    if interval.hours() == 1 {
        return rows.into_iter().map(Candle::from_row).collect();
    }
    group(&rows, interval, |r| r.period_start_unix)
}

/// Groups periods (oldest first, each inside one bucket) into candles (oldest first).
fn group<P: Period>(parts: &[P], interval: Interval, start: fn(&P) -> i64) -> Vec<Candle> {
    parts
        .chunk_by(|a, b| interval.index(start(a)) == interval.index(start(b)))
        .filter_map(|bucket| {
            Candle::from_parts(interval.start(interval.index(start(&bucket[0]))), bucket)
        })
        .collect()
}

/// Whether buckets of `interval` are built from the daily rollups: widths of whole days (their
/// buckets start at 00:00 UTC, weeks on Mondays, so they hold whole days).
fn by_days(interval: Interval) -> bool {
    interval.hours() % 24 == 0
}

/// The candles of the buckets starting in `[from, to)` that have rows, oldest first: from the
/// hours, or the daily rollups for widths of whole days; with `max_buckets`, the scan stops
/// after that many buckets' worth of periods in `direction`.
async fn read_buckets(
    conn: &impl ConnectionTrait,
    req: &CandleRequest<'_>,
    from: i64,
    to: i64,
    direction: Direction,
    max_buckets: Option<i64>,
) -> Result<Vec<Candle>, DbErr> {
    let iv = req.interval;
    let (network, address) = (req.network, req.address);
    if by_days(iv) {
        let per_bucket = iv.hours() / 24;
        let limit = max_buckets.map(|n| (n * per_bucket) as u64);
        let mut rows = days::read(conn, network, address, from, to, direction, limit).await?;
        if direction == Direction::Desc {
            rows.reverse();
        }
        Ok(group(&rows, iv, |d| d.day_start))
    } else {
        let limit = max_buckets.map(|n| (n * iv.hours()) as u64);
        let mut rows =
            hours::read_range(conn, network, address, from, to, direction, limit).await?;
        if direction == Direction::Desc {
            rows.reverse();
        }
        Ok(aggregate(rows, iv))
    }
}

/// What a candle request asks for, already validated.
#[derive(Clone, Debug)]
pub struct CandleRequest<'a> {
    pub network: &'a str,
    pub address: &'a str,
    /// Unix seconds; the first bucket is the one holding `from`.
    pub from: i64,
    /// Unix seconds, exclusive: buckets starting before it.
    pub to: i64,
    pub interval: Interval,
    pub fill_gaps: bool,
    pub descending: bool,
    /// 1…1000 buckets, filled ones included.
    pub limit: i64,
    /// `to` was not given (it is now): the answer says how far the token's hours are known, so
    /// that a cached answer expires when the clock reaches a known hour it left out.
    pub open_ended: bool,
}

/// The candles, and how far the mirror knows the token's hours: the start of the last hour
/// known — the newest stored row's, or (with gap filling) the synced upstream head's hour when
/// later. Buckets after it are absent because they are unknown, not empty.
#[derive(Clone, Debug, Default)]
pub struct CandleAnswer {
    pub candles: Vec<Candle>,
    pub known_until: Option<i64>,
}

/// Answers a candle request from the stored rows and the token's sync state.
pub async fn candles(
    conn: &impl ConnectionTrait,
    req: &CandleRequest<'_>,
) -> Result<CandleAnswer, DbErr> {
    let iv = req.interval;
    let first_bucket = iv.index(req.from);
    let last_bucket = iv.index(req.to - 1);
    let newest_row = || async {
        Ok::<_, DbErr>(
            hours::last_before(conn, req.network, req.address, i64::MAX)
                .await?
                .map(|r| r.period_start_unix),
        )
    };
    if !req.fill_gaps {
        let known_until = if req.open_ended {
            newest_row().await?
        } else {
            None
        };
        let candles = if last_bucket < first_bucket {
            Vec::new()
        } else {
            sparse_candles(conn, req, first_bucket, last_bucket).await?
        };
        return Ok(CandleAnswer {
            candles,
            known_until,
        });
    }
    let newest = newest_row().await?;
    // Gaps are filled up to the hour of the upstream head the mirror last synced for the
    // token, and never before its newest row (its committed pages cover every hour up to it).
    let head = state::sync_state(conn, req.network, req.address)
        .await?
        .and_then(|s| s.synced_head)
        .map(|h| h.div_euclid(HOUR) * HOUR);
    let known_until = match (head, newest) {
        (Some(h), Some(n)) => Some(h.max(n)),
        (h, n) => h.or(n),
    };
    let Some(known) = known_until else {
        return Ok(CandleAnswer::default());
    };
    let last_bucket = last_bucket.min(iv.index(known));
    let candles = if last_bucket < first_bucket {
        Vec::new()
    } else {
        filled_candles(conn, req, first_bucket, last_bucket).await?
    };
    Ok(CandleAnswer {
        candles,
        known_until,
    })
}

/// Without gap filling: only buckets with rows. At most `limit` buckets of at most `hours` rows
/// each are needed, so the scan is bounded even for a wide range.
async fn sparse_candles(
    conn: &impl ConnectionTrait,
    req: &CandleRequest<'_>,
    first_bucket: i64,
    last_bucket: i64,
) -> Result<Vec<Candle>, DbErr> {
    let iv = req.interval;
    let direction = if req.descending {
        Direction::Desc
    } else {
        Direction::Asc
    };
    let mut candles = read_buckets(
        conn,
        req,
        iv.start(first_bucket),
        iv.start(last_bucket + 1),
        direction,
        Some(req.limit),
    )
    .await?;
    let limit = req.limit as usize;
    if req.descending {
        candles.reverse();
    }
    // The scan may end inside bucket limit+1 (only when fewer rows filled the first `limit`),
    // so the first `limit` buckets in the requested order are always whole.
    candles.truncate(limit);
    Ok(candles)
}

/// With gap filling: every bucket from the token's first row (or `from`) to `to`, empty ones
/// carrying the previous close.
async fn filled_candles(
    conn: &impl ConnectionTrait,
    req: &CandleRequest<'_>,
    first_bucket: i64,
    last_bucket: i64,
) -> Result<Vec<Candle>, DbErr> {
    let iv = req.interval;
    // Buckets before the token's first row are left out.
    let Some(oldest) = hours::read_range(
        conn,
        req.network,
        req.address,
        i64::MIN,
        i64::MAX,
        Direction::Asc,
        Some(1),
    )
    .await?
    .pop() else {
        return Ok(Vec::new());
    };
    let first_bucket = first_bucket.max(iv.index(oldest.period_start_unix));
    if last_bucket < first_bucket {
        return Ok(Vec::new());
    }
    let span = req.limit - 1;
    let (lo, hi) = if req.descending {
        ((last_bucket - span).max(first_bucket), last_bucket)
    } else {
        (first_bucket, (first_bucket + span).min(last_bucket))
    };
    let present = read_buckets(
        conn,
        req,
        iv.start(lo),
        iv.start(hi + 1),
        Direction::Asc,
        None,
    )
    .await?;
    // A filled bucket carries the close and TVL of the last row before it.
    let seed = match hours::last_before(conn, req.network, req.address, iv.start(lo)).await? {
        Some(row) => Candle::from_parts(iv.start(iv.index(row.period_start_unix)), &[row]),
        None => None,
    };
    let mut candles = fill(present, seed, lo, hi, iv);
    if req.descending {
        candles.reverse();
    }
    Ok(candles)
}

/// Puts a candle in every bucket `lo..=hi`: the aggregated ones where there were rows, a filled
/// one after any earlier candle (or `seed`, the last candle before `lo`) elsewhere.
fn fill(present: Vec<Candle>, seed: Option<Candle>, lo: i64, hi: i64, iv: Interval) -> Vec<Candle> {
    let mut out: Vec<Candle> = Vec::with_capacity((hi - lo + 1) as usize);
    let mut present = present.into_iter().peekable();
    for index in lo..=hi {
        let start = iv.start(index);
        let candle = match present.peek() {
            Some(c) if c.period_start_unix == start => present.next(),
            _ => out
                .last()
                .or(seed.as_ref())
                .map(|previous| Candle::filled(start, previous)),
        };
        out.extend(candle);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    fn row(hour: i64, open: &str, high: &str, low: &str, close: &str, vol: &str) -> HourRow {
        HourRow {
            period_start_unix: hour * 3600,
            id: format!("0x-{hour}"),
            open: d(open),
            high: d(high),
            low: d(low),
            close: d(close),
            price_usd: d(close),
            volume: d(vol),
            volume_usd: d(vol),
            untracked_volume_usd: d(vol),
            fees_usd: d("0"),
            total_value_locked: d(&format!("{hour}")),
            total_value_locked_usd: d("1"),
        }
    }

    #[test]
    fn intervals() {
        for (s, h) in [
            ("1h", 1),
            ("4h", 4),
            ("12h", 12),
            ("1d", 24),
            ("7d", 168),
            ("1w", 168),
            ("168h", 168),
        ] {
            assert_eq!(Interval::parse(s).unwrap().hours(), h, "{s}");
        }
        for s in [
            "",
            "h",
            "0h",
            "01h",
            "169h",
            "8d",
            "2w",
            "1m",
            "1.5h",
            "-1h",
            "1H",
            " 1h",
            "1é",
            "é",
            "4h\u{1F600}",
        ] {
            assert!(Interval::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn alignment_is_utc_and_weeks_start_on_monday() {
        let day = Interval::parse("1d").unwrap();
        // 2024-01-03T15:00:00Z is in the bucket starting 2024-01-03T00:00:00Z.
        assert_eq!(day.start(day.index(1_704_294_000)), 1_704_240_000);
        let week = Interval::parse("1w").unwrap();
        // 2024-01-03 (a Wednesday) is in the week starting Monday 2024-01-01.
        assert_eq!(week.start(week.index(1_704_294_000)), 1_704_067_200);
        let four = Interval::parse("4h").unwrap();
        assert_eq!(four.start(four.index(1_704_294_000)), 1_704_283_200);
        // Before the epoch too.
        assert_eq!(day.start(day.index(-1)), -86_400);
    }

    #[test]
    fn aggregation_compares_numbers_and_sums_exactly() {
        let rows = [
            row(24, "9", "9.5", "8", "9", "0.1"),
            row(25, "9", "10", "0.5", "9.9", "0.2"),
            row(27, "9.9", "9.99", "7", "10.01", "0"),
        ];
        let c = aggregate(rows.to_vec(), Interval::parse("1d").unwrap());
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert_eq!(c.period_start_unix, 86_400);
        assert_eq!((c.open.as_str(), c.close.as_str()), ("9", "10.01"));
        assert_eq!((c.high.as_str(), c.low.as_str()), ("10", "0.5"));
        assert_eq!(c.volume.as_str(), "0.3");
        assert_eq!(c.total_value_locked.as_str(), "27");
        assert_eq!(c.hours, 3);
    }

    #[test]
    fn hourly_candles_are_the_rows_unchanged() {
        let rows = [row(1, "1.1", "2", "1", "1.5", "3")];
        let c = aggregate(rows.to_vec(), Interval::parse("1h").unwrap());
        assert_eq!(c[0].open, rows[0].open);
        assert_eq!(c[0].volume, rows[0].volume);
        assert_eq!(c[0].hours, 1);
    }

    #[test]
    fn filling_carries_the_previous_close() {
        let iv = Interval::parse("1h").unwrap();
        let rows = [
            row(10, "1", "2", "1", "1.5", "3"),
            row(13, "2", "2", "2", "2", "1"),
        ];
        let out = fill(aggregate(rows.to_vec(), iv), None, 8, 14, iv);
        let hours: Vec<(i64, u32, &str)> = out
            .iter()
            .map(|c| (c.period_start_unix / 3600, c.hours, c.close.as_str()))
            .collect();
        assert_eq!(
            hours,
            vec![
                (10, 1, "1.5"),
                (11, 0, "1.5"),
                (12, 0, "1.5"),
                (13, 1, "2"),
                (14, 0, "2")
            ]
        );
        assert_eq!(out[1].volume.as_str(), "0");
        assert_eq!(out[1].open.as_str(), "1.5");
        assert_eq!(out[1].total_value_locked.as_str(), "10");
    }
}
