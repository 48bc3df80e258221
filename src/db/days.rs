//! Daily rollups (`token_day_data`): rewritten for every day a page of hours touches, in the
//! page's transaction, so that they always equal the hours they come from (reorg deletes
//! included); read instead of the hours by candles whose width is a whole number of days.
//! Sums are exact and unrounded (see [`tokenmirror_subgraph::rollup`]).

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use tokenmirror_subgraph::rollup::{roll, Rolled, Sums};

use super::hours::{read_range, Direction, HourPage, HourRow};
use super::sql::{execute, SqlBuilder};
use crate::decimal::Decimal;

/// Seconds in a day; days start at 00:00 UTC.
pub const DAY: i64 = 86_400;

/// The rollup's decimal columns, in [`values`] order.
const DECIMAL_COLUMNS: [&str; 11] = [
    "open",
    "high",
    "low",
    "close",
    "price_usd",
    "volume",
    "volume_usd",
    "untracked_volume_usd",
    "fees_usd",
    "total_value_locked",
    "total_value_locked_usd",
];

const TABLE: &str = "token_day_data";

/// One stored day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRow {
    pub day_start: i64,
    pub values: Rolled,
}

fn values(r: &Rolled) -> [&Decimal; 11] {
    [
        &r.open,
        &r.high,
        &r.low,
        &r.close,
        &r.price_usd,
        &r.volume,
        &r.volume_usd,
        &r.untracked_volume_usd,
        &r.fees_usd,
        &r.total_value_locked,
        &r.total_value_locked_usd,
    ]
}

fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY) * DAY
}

/// Rewrites the rollups of every day `page` touched, after its hours were written (in the same
/// transaction). The page's rows are the truth inside its span; only the stored hours of the
/// span's first and last day that lie outside it are read back. The span's days are deleted
/// and written again (days of the span left with no hour — a reorg emptied them — stay
/// deleted, and with an open-ended page, so does every later day): two statements whose text
/// does not depend on the page, so each is prepared once per connection.
pub async fn rewrite(conn: &impl ConnectionTrait, page: &HourPage<'_>) -> Result<(), DbErr> {
    let first_day = day_of(page.first_hour);
    // The span's end: its last hour, or (open-ended) the page's last row.
    let end = match page.last_hour {
        Some(l) => Some(l),
        None => page.rows.last().map(|r| r.period_start_unix),
    };
    let last_day = end.map_or(first_day, day_of);
    let before = if page.first_hour > first_day {
        read_range(
            conn,
            page.network,
            page.address,
            first_day,
            page.first_hour,
            Direction::Asc,
            None,
        )
        .await?
    } else {
        Vec::new()
    };
    let after = match page.last_hour {
        Some(l) if l + 3600 < last_day + DAY => {
            read_range(
                conn,
                page.network,
                page.address,
                l + 3600,
                last_day + DAY,
                Direction::Asc,
                None,
            )
            .await?
        }
        _ => Vec::new(),
    };
    let hours: Vec<&HourRow> = before.iter().chain(page.rows).chain(&after).collect();
    let mut days: Vec<DayRow> = Vec::new();
    for group in hours.chunk_by(|a, b| day_of(a.period_start_unix) == day_of(b.period_start_unix)) {
        if let Some(values) = roll(group, Sums::Exact) {
            days.push(DayRow {
                day_start: day_of(group[0].period_start_unix),
                values,
            });
        }
    }
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql(&format!("DELETE FROM {TABLE} WHERE network = "))
        .param(page.network)
        .sql(" AND address = ")
        .param(page.address)
        .sql(" AND day_start >= ")
        .param(first_day);
    if page.last_hour.is_some() {
        b.sql(" AND day_start <= ").param(last_day);
    }
    execute(conn, b).await?;
    if !days.is_empty() {
        execute(conn, insert(conn.get_database_backend(), page, &days)).await?;
    }
    Ok(())
}

fn insert(backend: DbBackend, page: &HourPage<'_>, days: &[DayRow]) -> SqlBuilder {
    let mut b = SqlBuilder::new(backend);
    b.sql(&format!(
        "INSERT INTO {TABLE} (network, address, day_start, {}, hours) VALUES ",
        DECIMAL_COLUMNS.join(", ")
    ));
    for (i, d) in days.iter().enumerate() {
        if i > 0 {
            b.sql(", ");
        }
        b.sql("(")
            .param(page.network)
            .sql(", ")
            .param(page.address)
            .sql(", ")
            .param(d.day_start);
        for v in values(&d.values) {
            b.sql(", ").decimal(v.as_str());
        }
        b.sql(", ").param(i64::from(d.values.hours)).sql(")");
    }
    b
}

/// The stored days of one token with `from <= day_start < to`, in `direction`, at most `limit`.
pub async fn read(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
    from: i64,
    to: i64,
    direction: Direction,
    limit: Option<u64>,
) -> Result<Vec<DayRow>, DbErr> {
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql("SELECT day_start, hours");
    for c in DECIMAL_COLUMNS {
        b.sql(&format!(", CAST({c} AS TEXT)"));
    }
    b.sql(&format!(" FROM {TABLE} WHERE network = "))
        .param(network)
        .sql(" AND address = ")
        .param(address)
        .sql(" AND day_start >= ")
        .param(from)
        .sql(" AND day_start < ")
        .param(to)
        .sql(match direction {
            Direction::Asc => " ORDER BY day_start ASC",
            Direction::Desc => " ORDER BY day_start DESC",
        });
    if let Some(limit) = limit {
        b.sql(" LIMIT ")
            .param(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    conn.query_all_raw(b.build())
        .await?
        .iter()
        .map(|r| {
            let dec = |i: usize| -> Result<Decimal, DbErr> {
                Ok(Decimal::from_stored(r.try_get_by_index(i)?))
            };
            let hours: i64 = r.try_get_by_index(1)?;
            Ok(DayRow {
                day_start: r.try_get_by_index(0)?,
                values: Rolled {
                    open: dec(2)?,
                    high: dec(3)?,
                    low: dec(4)?,
                    close: dec(5)?,
                    price_usd: dec(6)?,
                    volume: dec(7)?,
                    volume_usd: dec(8)?,
                    untracked_volume_usd: dec(9)?,
                    fees_usd: dec(10)?,
                    total_value_locked: dec(11)?,
                    total_value_locked_usd: dec(12)?,
                    hours: u32::try_from(hours).unwrap_or(0),
                },
            })
        })
        .collect()
}

tokenmirror_subgraph::impl_period!(DayRow, values; hours = |d| d.values.hours);
