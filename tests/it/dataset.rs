//! The API tests' data set: 45 days of seeded hourly rows of one token (with gaps, and decimals
//! of every shape) and the independent computation of the candles they should give, from the
//! raw rows with `bigdecimal`.

use std::num::NonZeroU64;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{json, Value};
use tokenmirror::db::hours::{self, Coverage, HourPage, HourRow};
use tokenmirror::db::tokens::{self, TokenMeta};
use tokenmirror::decimal::Decimal;

use crate::support::{TestApp, TestDb};

pub const NET: &str = "sim";
pub const TOKEN: &str = "0x00000000000000000000000000000000000000aa";
/// 2024-01-01T00:00:00Z, a Monday.
pub const T0: i64 = 1_704_067_200;
pub const HOURS: i64 = 24 * 45;

/// A small deterministic generator, so the data set is the same on every run.
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Decimal strings of many shapes: 34 significant digits, tiny, huge, zero.
pub fn decimal(rng: &mut Lcg) -> String {
    match rng.next() % 6 {
        0 => "0".to_owned(),
        1 => format!("0.{:0>20}{}", "", 1 + rng.next() % 999_999),
        2 => format!(
            "{}.{}",
            1 + rng.next() % 99_999,
            1 + rng.next() % 999_999_999
        ),
        3 => format!(
            "{}{:015}.{:015}1",
            1 + rng.next() % 9,
            rng.next() % 1_000_000_000_000_000,
            rng.next() % 1_000_000_000_000_000
        ),
        4 => format!("{}00000000000000000000", 1 + rng.next() % 9_999),
        _ => format!("{}", rng.next() % 1000),
    }
}

pub fn canonical(s: String) -> Decimal {
    // Generated fractions may end in 0: trim them to graph-node's canonical form.
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    Decimal::parse(&s).unwrap_or_else(|e| panic!("{e}"))
}

/// Rows for `HOURS` hours from `T0`, with gaps in runs, OHLC consistent.
pub fn dataset() -> Vec<HourRow> {
    let mut rng = Lcg(7);
    let mut rows = Vec::new();
    let mut gap_left = 0;
    for h in 0..HOURS {
        if gap_left > 0 {
            gap_left -= 1;
            continue;
        }
        if rng.next().is_multiple_of(10) {
            gap_left = 1 + rng.next() % 6;
            continue;
        }
        let mut p: Vec<BigDecimal> = (0..4)
            .map(|_| BigDecimal::from_str(&canonical(decimal(&mut rng)).to_string()).unwrap())
            .collect();
        p.sort();
        let (low, a, b, high) = (&p[0], &p[1], &p[2], &p[3]);
        let (open, close) = if rng.next().is_multiple_of(2) {
            (a, b)
        } else {
            (b, a)
        };
        let s = |v: &BigDecimal| canonical(v.normalized().to_plain_string());
        let period = T0 + h * 3600;
        rows.push(HourRow {
            period_start_unix: period,
            id: format!("{TOKEN}-{}", period / 3600),
            open: s(open),
            high: s(high),
            low: s(low),
            close: s(close),
            price_usd: s(close),
            volume: canonical(decimal(&mut rng)),
            volume_usd: canonical(decimal(&mut rng)),
            untracked_volume_usd: canonical(decimal(&mut rng)),
            fees_usd: canonical(decimal(&mut rng)),
            total_value_locked: canonical(decimal(&mut rng)),
            total_value_locked_usd: canonical(decimal(&mut rng)),
        });
    }
    rows
}

pub fn meta() -> TokenMeta {
    let d = |s: &str| Decimal::parse(s).unwrap();
    TokenMeta {
        address: TOKEN.to_owned(),
        symbol: "SIMAA".to_owned(),
        name: "Simulated Token AA".to_owned(),
        decimals: d("18"),
        total_supply: d("1000000000000000000000000"),
        tx_count: d("12"),
        pool_count: d("3"),
        volume: d("1.5"),
        volume_usd: d("2.25"),
        untracked_volume_usd: d("2.25"),
        fees_usd: d("0.000000005700524134942485348744488352915677"),
        total_value_locked: d("340256786836388081269117234195560700000"),
        total_value_locked_usd: d("58338.53440207575247331913887502708"),
        total_value_locked_usd_untracked: d("0"),
        derived_eth: d("0.0004"),
    }
}

pub async fn seeded(t: TestDb) -> (TestApp, Vec<HourRow>) {
    let rows = dataset();
    let tx = t.db.begin_write().await.unwrap();
    hours::write_page(
        &tx,
        &HourPage {
            network: NET,
            address: TOKEN,
            first_hour: T0,
            last_hour: None,
            rows: &rows,
            coverage: Coverage::From(T0),
            synced_head: None,
        },
    )
    .await
    .unwrap();
    tokens::upsert_metadata(&tx, NET, &[meta()], Utc.timestamp_opt(T0, 0).unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (TestApp::start(t, &[NET, "other"]).await, rows)
}

pub fn iso(unix: i64) -> String {
    Utc.timestamp_opt(unix, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Bucket start computed independently of the server: weeks via the calendar's weekday.
pub fn bucket_start(t: i64, hours: i64) -> i64 {
    if hours == 168 {
        let day = Utc.timestamp_opt(t, 0).unwrap().date_naive();
        let monday = day - chrono::Duration::days(day.weekday().num_days_from_monday() as i64);
        monday.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
    } else {
        t.div_euclid(hours * 3600) * hours * 3600
    }
}

pub fn big(s: &str) -> BigDecimal {
    BigDecimal::from_str(s).unwrap()
}

pub fn sum(values: &[&Decimal]) -> String {
    let total: BigDecimal = values.iter().map(|v| big(v.as_str())).sum();
    let rounded = if total.digits() > 34 {
        total.with_precision_round(NonZeroU64::new(34).unwrap(), RoundingMode::HalfEven)
    } else {
        total
    };
    let s = rounded.normalized().to_plain_string();
    if big(&s) == 0 {
        "0".to_owned()
    } else {
        s
    }
}

/// The expected candles of `rows` in `[from's bucket, to)`, oldest first, as JSON objects.
pub fn expected(rows: &[HourRow], from: i64, to: i64, hours: i64) -> Vec<Value> {
    let first = bucket_start(from, hours);
    let mut out: Vec<(i64, Vec<&HourRow>)> = Vec::new();
    for r in rows {
        let b = bucket_start(r.period_start_unix, hours);
        if b < first || b >= to {
            continue;
        }
        match out.last_mut() {
            Some((start, group)) if *start == b => group.push(r),
            _ => out.push((b, vec![r])),
        }
    }
    out.into_iter()
        .map(|(start, g)| {
            let hi = g.iter().max_by(|a, b| big(a.high.as_str()).cmp(&big(b.high.as_str()))).unwrap();
            let lo = g.iter().min_by(|a, b| big(a.low.as_str()).cmp(&big(b.low.as_str()))).unwrap();
            let last = g.last().unwrap();
            json!({
                "periodStartUnix": start,
                "periodStart": iso(start),
                "open": g[0].open.as_str(),
                "high": hi.high.as_str(),
                "low": lo.low.as_str(),
                "close": last.close.as_str(),
                "priceUSD": last.price_usd.as_str(),
                "volume": sum(&g.iter().map(|r| &r.volume).collect::<Vec<_>>()),
                "volumeUSD": sum(&g.iter().map(|r| &r.volume_usd).collect::<Vec<_>>()),
                "untrackedVolumeUSD": sum(&g.iter().map(|r| &r.untracked_volume_usd).collect::<Vec<_>>()),
                "feesUSD": sum(&g.iter().map(|r| &r.fees_usd).collect::<Vec<_>>()),
                "totalValueLocked": last.total_value_locked.as_str(),
                "totalValueLockedUSD": last.total_value_locked_usd.as_str(),
                "hours": g.len(),
            })
        })
        .collect()
}

pub const CANDLE_FIELDS: &str = "periodStartUnix periodStart open high low close priceUSD volume \
    volumeUSD untrackedVolumeUSD feesUSD totalValueLocked totalValueLockedUSD hours";

pub async fn candles(app: &TestApp, args: &str) -> Value {
    let q = format!("{{ tokenHourData({args}) {{ {CANDLE_FIELDS} }} }}");
    let answer = app.gql(&q, json!({})).await;
    assert!(answer.get("errors").is_none(), "{q}: {answer}");
    answer["data"]["tokenHourData"].clone()
}
