//! Hourly rows: the idempotent page write the sync commits, and the range read the API serves.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, IdenStatic,
    PaginatorTrait, QueryFilter, QueryResult, Value,
};

use super::copy::CopyWriter;
use super::entity::token_hour_data::{self as thd, Column as C};
use super::sql::{execute, SqlBuilder};
use super::{state, WriteTx};
use crate::decimal::Decimal;

/// One upstream `TokenHourData` row, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourRow {
    /// The hour's start, unix seconds.
    pub period_start_unix: i64,
    /// Upstream id, `<address>-<hour index>`.
    pub id: String,
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
}

tokenmirror_subgraph::impl_period!(HourRow; hours = |_r| 1);

/// The decimal columns of `token_hour_data`, in the order of [`HourRow::decimals`].
pub const DECIMAL_COLUMNS: [C; 11] = [
    C::Open,
    C::High,
    C::Low,
    C::Close,
    C::PriceUsd,
    C::Volume,
    C::VolumeUsd,
    C::UntrackedVolumeUsd,
    C::FeesUsd,
    C::TotalValueLocked,
    C::TotalValueLockedUsd,
];

/// The table's name, for the hand-written statements.
fn table() -> &'static str {
    thd::Entity.table_name()
}

/// `a, b, c` of some columns.
fn column_list(columns: &[C]) -> String {
    columns
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl HourRow {
    /// The decimal fields, in the order of [`DECIMAL_COLUMNS`].
    pub fn decimals(&self) -> [&Decimal; 11] {
        [
            &self.open,
            &self.high,
            &self.low,
            &self.close,
            &self.price_usd,
            &self.volume,
            &self.volume_usd,
            &self.untracked_volume_usd,
            &self.fees_usd,
            &self.total_value_locked,
            &self.total_value_locked_usd,
        ]
    }
}

/// One page of upstream rows for one token, and the span of hours it answers for: after the
/// write, the stored rows with `first_hour <= period <= last_hour` are exactly `rows`.
#[derive(Debug)]
pub struct HourPage<'a> {
    pub network: &'a str,
    pub address: &'a str,
    /// First hour the page covers (inclusive).
    pub first_hour: i64,
    /// Last hour the page covers (inclusive); `None` for "and every later hour" (the last page).
    pub last_hour: Option<i64>,
    /// The rows, in ascending `period_start_unix`, all inside the span.
    pub rows: &'a [HourRow],
    /// What this write says about which hours have been fetched.
    pub coverage: Coverage,
    /// On the last page of a pass: the upstream head (unix seconds) up to which every hour of
    /// the token is now known.
    pub synced_head: Option<i64>,
}

/// What a page write says about the hours the mirror has fetched, kept as the token's
/// `covered_from`: the earliest hour from which every later hour (up to the newest stored) has
/// been fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Nothing new.
    Unchanged,
    /// Every hour from this one onwards has now been fetched: `covered_from` moves back to it
    /// (never forward).
    From(i64),
    /// The fetch restarts here after hours that were never fetched (the sync was off for longer
    /// than the backfill window): `covered_from` becomes this hour, so raising `BACKFILL` later
    /// fetches the hole too.
    RestartAt(i64),
}

/// What a page write changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageOutcome {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// Rows per `INSERT`: 14 parameters each stays far below SQLite's 32,766 and PostgreSQL's
/// 65,535 parameter limits.
const ROWS_PER_STATEMENT: usize = 1000;

/// Writes one page: deletes stored rows in the page's span that the upstream no longer returns,
/// upserts the page's rows (a row whose values are unchanged is left alone, so writing the same
/// page twice changes nothing), and advances the token's sync state. Run it inside a
/// transaction ([`super::Db::begin_write`]) so that the rows and the cursor move together.
///
/// A page into an empty span (a backfill) is a plain insert — on PostgreSQL a binary `COPY`,
/// which the server neither parses nor plans.
pub async fn write_page(conn: &WriteTx, page: &HourPage<'_>) -> Result<PageOutcome, DbErr> {
    let backend = conn.get_database_backend();
    let existing = count_in_span(conn, page).await?;
    // An empty span (a backfill) has nothing to delete and nothing to conflict with: a plain
    // insert, which skips the conflict check of every row. (Only this process writes the
    // token — the sync lock — so nothing can appear in the span before the insert; if it
    // did, the insert would fail and the transaction roll back, to be retried.)
    let fresh = existing == 0;
    let deleted = if fresh {
        0
    } else {
        delete_missing(conn, page).await?
    };
    let copied = match fresh && !page.rows.is_empty() {
        true => conn.copy_in(&copy_statement(), &copy_data(page)).await,
        false => None,
    };
    let changed = match copied {
        Some(rows) => rows?,
        None => {
            let mut changed = 0;
            for chunk in page.rows.chunks(ROWS_PER_STATEMENT) {
                changed += execute(conn, insert_sql(backend, page, chunk, !fresh)).await?;
            }
            changed
        }
    };
    // After the write the span holds exactly the page's rows.
    let inserted = (page.rows.len() as u64).saturating_sub(existing.saturating_sub(deleted));
    let outcome = PageOutcome {
        inserted,
        updated: changed.saturating_sub(inserted),
        deleted,
    };
    super::days::rewrite(conn, page).await?;
    state::advance(conn, page, outcome).await?;
    Ok(outcome)
}

/// The stored rows inside the page's span.
fn span(page: &HourPage<'_>) -> Condition {
    let mut c = Condition::all()
        .add(C::Network.eq(page.network))
        .add(C::Address.eq(page.address))
        .add(C::PeriodStartUnix.gte(page.first_hour));
    if let Some(last) = page.last_hour {
        c = c.add(C::PeriodStartUnix.lte(last));
    }
    c
}

async fn count_in_span(conn: &impl ConnectionTrait, page: &HourPage<'_>) -> Result<u64, DbErr> {
    thd::Entity::find().filter(span(page)).count(conn).await
}

async fn delete_missing(conn: &impl ConnectionTrait, page: &HourPage<'_>) -> Result<u64, DbErr> {
    let kept: Vec<i64> = page.rows.iter().map(|r| r.period_start_unix).collect();
    let mut missing = span(page);
    if !kept.is_empty() {
        missing = missing.add(Expr::col(C::PeriodStartUnix).is_not_in(kept));
    }
    Ok(thd::Entity::delete_many()
        .filter(missing)
        .exec(conn)
        .await?
        .rows_affected)
}

/// `COPY token_hour_data (…) FROM STDIN` in binary, the columns in [`copy_data`]'s order.
fn copy_statement() -> String {
    let keys = column_list(&[C::Network, C::Address, C::PeriodStartUnix, C::Id]);
    let decimals = column_list(&DECIMAL_COLUMNS);
    format!(
        "COPY {} ({keys}, {decimals}) FROM STDIN (FORMAT binary)",
        table()
    )
}

/// The page's rows in binary `COPY` format.
fn copy_data(page: &HourPage<'_>) -> Vec<u8> {
    const FIELDS: i16 = 4 + DECIMAL_COLUMNS.len() as i16;
    // About 40 bytes of keys and 11 numerics of up to ~30 bytes per row.
    let mut w = CopyWriter::with_capacity(page.rows.len() * 400);
    for row in page.rows {
        w.row(FIELDS)
            .text(page.network)
            .text(page.address)
            .int8(row.period_start_unix)
            .text(&row.id);
        for d in row.decimals() {
            w.numeric(d.as_str());
        }
    }
    w.finish()
}

/// The insert of `rows`; with `upsert`, a stored row with the same hour is updated where it
/// differs.
fn insert_sql(
    backend: DbBackend,
    page: &HourPage<'_>,
    rows: &[HourRow],
    upsert: bool,
) -> SqlBuilder {
    let mut b = SqlBuilder::new(backend);
    let keys = column_list(&[C::Network, C::Address, C::PeriodStartUnix, C::Id]);
    b.sql(&format!("INSERT INTO {} ({keys}, ", table()))
        .sql(&column_list(&DECIMAL_COLUMNS))
        .sql(") ");
    if backend == DbBackend::Postgres {
        unnest_rows(&mut b, page, rows);
    } else {
        values_rows(&mut b, page, rows);
    }
    if !upsert {
        return b;
    }
    let key = column_list(&[C::Network, C::Address, C::PeriodStartUnix]);
    let id = C::Id.as_str();
    b.sql(&format!(
        " ON CONFLICT ({key}) DO UPDATE SET {id} = excluded.{id}"
    ));
    for c in DECIMAL_COLUMNS.map(|c| c.as_str()) {
        b.sql(&format!(", {c} = excluded.{c}"));
    }
    // Only touch rows that differ, so that rows_affected counts real changes. Canonical strings
    // make numeric equality (PostgreSQL) and text equality (SQLite) the same thing.
    let op = b.distinct_op();
    let table = table();
    let differs: Vec<String> = DECIMAL_COLUMNS
        .iter()
        .map(|c| c.as_str())
        .map(|c| format!("{table}.{c}{op}excluded.{c}"))
        .collect();
    b.sql(&format!(" WHERE {table}.{id}{op}excluded.{id} OR "))
        .sql(&differs.join(" OR "));
    b
}

/// `VALUES (…), (…)`: one parameter per value.
fn values_rows(b: &mut SqlBuilder, page: &HourPage<'_>, rows: &[HourRow]) {
    b.sql("VALUES ");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            b.sql(", ");
        }
        b.sql("(")
            .param(page.network)
            .sql(", ")
            .param(page.address)
            .sql(", ")
            .param(row.period_start_unix)
            .sql(", ")
            .param(row.id.as_str());
        for d in row.decimals() {
            b.sql(", ").decimal(d.as_str());
        }
        b.sql(")");
    }
}

/// PostgreSQL: one array parameter per column, unnested into rows. A fixed, short statement
/// (prepared once per connection) instead of 14,000 parameters to bind and parse per page.
fn unnest_rows(b: &mut SqlBuilder, page: &HourPage<'_>, rows: &[HourRow]) {
    let column = |f: &dyn Fn(&HourRow) -> String| -> Value {
        Value::from(rows.iter().map(f).collect::<Vec<String>>())
    };
    b.sql("SELECT ")
        .param(page.network)
        .sql(", ")
        .param(page.address)
        .sql(", t.p, t.id");
    for i in 0..DECIMAL_COLUMNS.len() {
        b.sql(&format!(", CAST(t.d{i} AS NUMERIC)"));
    }
    b.sql(" FROM UNNEST(")
        .param(Value::from(
            rows.iter()
                .map(|r| r.period_start_unix)
                .collect::<Vec<i64>>(),
        ))
        .sql(", ")
        .param(column(&|r| r.id.clone()));
    for i in 0..DECIMAL_COLUMNS.len() {
        b.sql(", ")
            .param(column(&|r| r.decimals()[i].as_str().to_owned()));
    }
    b.sql(") AS t(p, id");
    for i in 0..DECIMAL_COLUMNS.len() {
        b.sql(&format!(", d{i}"));
    }
    b.sql(")");
}

/// Row order of a range read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// The stored rows of one token with `from <= period_start_unix < to`, in `direction`, at most
/// `limit` of them. An index range scan on both backends.
///
/// Written as plain SQL decoded by column position: this is the API's hot path, and going
/// through entity models (a lookup by column name for each of 15 columns of every row) cost
/// more than the query itself.
pub async fn read_range(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
    from: i64,
    to: i64,
    direction: Direction,
    limit: Option<u64>,
) -> Result<Vec<HourRow>, DbErr> {
    let (period, mut b) = (
        C::PeriodStartUnix.as_str(),
        SqlBuilder::new(conn.get_database_backend()),
    );
    b.sql("SELECT ");
    select_row(&mut b);
    b.sql(&format!(
        " FROM {} WHERE {} = ",
        table(),
        C::Network.as_str()
    ))
    .param(network)
    .sql(&format!(" AND {} = ", C::Address.as_str()))
    .param(address)
    .sql(&format!(" AND {period} >= "))
    .param(from)
    .sql(&format!(" AND {period} < "))
    .param(to)
    .sql(&format!(
        " ORDER BY {period} {}",
        match direction {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    ));
    if let Some(limit) = limit {
        b.sql(" LIMIT ")
            .param(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    conn.query_all_raw(b.build())
        .await?
        .iter()
        .map(|r| decode_row(r, 0))
        .collect()
}

/// Writes the columns [`decode_row`] reads: the period, the id, then [`DECIMAL_COLUMNS`] as
/// text (exact on both backends).
pub(super) fn select_row(b: &mut SqlBuilder) {
    b.sql(&format!(
        "{}, {}",
        C::PeriodStartUnix.as_str(),
        C::Id.as_str()
    ));
    for c in DECIMAL_COLUMNS {
        b.sql(&format!(", CAST({} AS TEXT)", c.as_str()));
    }
}

/// A row selected by [`select_row`], from column `at` on.
pub(super) fn decode_row(r: &QueryResult, at: usize) -> Result<HourRow, DbErr> {
    // Stored values are canonical (checked when the sync wrote them).
    let dec = |i: usize| -> Result<Decimal, DbErr> {
        Ok(Decimal::from_stored(r.try_get_by_index(at + i)?))
    };
    Ok(HourRow {
        period_start_unix: r.try_get_by_index(at)?,
        id: r.try_get_by_index(at + 1)?,
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
    })
}

/// The newest stored row of one token before `before`, if any (the close a filled gap carries).
pub async fn last_before(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
    before: i64,
) -> Result<Option<HourRow>, DbErr> {
    let mut rows = read_range(
        conn,
        network,
        address,
        i64::MIN,
        before,
        Direction::Desc,
        Some(1),
    )
    .await?;
    Ok(rows.pop())
}
