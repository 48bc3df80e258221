//! The reads of the drop-in subgraph endpoint ([`crate::dropin`]): a network's tokens, and the
//! hourly rows a `tokenHourDatas` list may hold, with as much of its `where`, `orderBy`,
//! `skip` and `first` said in SQL as SQL can say exactly.
//!
//! What goes to SQL: the tokens (`address IN …`), `periodStartUnix` (any operator), `id`
//! (compared bytewise: `COLLATE "C"` on PostgreSQL, SQLite's default), `and`/`or` of those, and
//! then the order (`id`, `periodStartUnix`, `token`; on PostgreSQL also any BigDecimal field,
//! as `NUMERIC` compares exactly) with `LIMIT`/`OFFSET`. Anything else (BigDecimal filters,
//! text operators, ordering by a token's other fields, BigDecimal order on SQLite, where the
//! values are text) reads the rows of the tokens and hours the filter allows and leaves the
//! rest to the query language's own filter, sort and page, the simulator's code.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use tokenmirror_subgraph::query::fields::{HourField, TokenField};
use tokenmirror_subgraph::query::filter::{HourCond, Pred};
use tokenmirror_subgraph::query::list::HourList;
use tokenmirror_subgraph::query::ops::{CmpOp, Test};
use tokenmirror_subgraph::query::order::HourKey;
use tokenmirror_subgraph::query::record::Tokens;

use super::hours::{decode_row, select_row, HourRow};
use super::sql::SqlBuilder;
use crate::decimal::Decimal;

/// A stored row and the index of its token in the query's token list.
#[derive(Debug, Clone)]
pub struct ListedRow {
    pub token: usize,
    pub row: HourRow,
}

/// The page of `list` among the tokens `addresses` (index order of `tokens`; `None` where the
/// list's filter leaves a token out) of `network`.
///
/// When SQL can say the whole filter and the order, it cuts the page itself. Otherwise a lean
/// scan reads the candidates (keys, and only the decimals the filter and the order look at),
/// [`HourList::page`] picks the page, and a second query reads its rows in full.
pub async fn list_page(
    conn: &impl ConnectionTrait,
    network: &str,
    addresses: &[Option<&str>],
    list: &HourList,
    tokens: &(dyn Tokens + Sync),
) -> Result<Vec<ListedRow>, DbErr> {
    let backend = conn.get_database_backend();
    let wanted: Vec<(usize, &str)> = addresses
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.map(|a| (i, a)))
        .collect();
    let (lo, hi) = list.hour_bounds();
    if wanted.is_empty() || lo >= hi || list.first == 0 {
        return Ok(Vec::new());
    }
    let exact = list.filter.as_ref().is_none_or(said_in_sql);
    let order = order_by(backend, list.key, list.desc).filter(|_| exact);
    // The decimals a lean scan reads: those the filter and the order compare.
    let mut lean = Vec::new();
    if order.is_none() {
        if let Some(f) = &list.filter {
            decimal_fields(f, &mut lean);
        }
        if let HourKey::Dec(field) = list.key {
            lean.push(field);
        }
        lean.sort_by_key(|f| decimal_column(*f));
        lean.dedup();
    }
    let mut b = SqlBuilder::new(backend);
    b.sql("SELECT address, ");
    match &order {
        Some(_) => select_row(&mut b),
        None => {
            b.sql("period_start_unix, id");
            for c in lean.iter().filter_map(|f| decimal_column(*f)) {
                b.sql(&format!(", CAST({c} AS TEXT)"));
            }
        }
    }
    b.sql(" FROM token_hour_data WHERE network = ")
        .param(network);
    // Always named: hourly rows of a token without stored metadata are not in the list (its
    // `token` would be null), and must not count towards `skip` and `first` either.
    b.sql(" AND address IN (");
    for (k, (_, a)) in wanted.iter().enumerate() {
        if k > 0 {
            b.sql(", ");
        }
        b.param(*a);
    }
    b.sql(")");
    if lo > i64::MIN / 3600 {
        b.sql(" AND period_start_unix >= ")
            .param(lo.saturating_mul(3600));
    }
    if hi < i64::MAX / 3600 {
        b.sql(" AND period_start_unix < ")
            .param(hi.saturating_mul(3600));
    }
    // The conditions SQL can say (all of them when it cuts the page; else those that must all
    // hold, the rest left to `HourList::page`).
    if let Some(f) = &list.filter {
        for c in f.required_preds() {
            if said_in_sql(c) {
                b.sql(" AND ");
                condition(&mut b, c, &wanted);
            }
        }
    }
    if let Some(order) = &order {
        b.sql(" ORDER BY ")
            .sql(order)
            .sql(" LIMIT ")
            .param(list.first as i64)
            .sql(" OFFSET ")
            .param(list.skip as i64);
    }
    let rows = conn.query_all_raw(b.build()).await?;
    let index_of = |address: &str| wanted.iter().find(|(_, a)| *a == address).map(|(i, _)| *i);
    let mut listed = Vec::with_capacity(rows.len());
    for r in &rows {
        let address: String = r.try_get_by_index(0)?;
        let Some(token) = index_of(&address) else {
            continue;
        };
        let row = match &order {
            Some(_) => decode_row(r, 1)?,
            None => decode_lean(r, &lean)?,
        };
        listed.push(ListedRow { token, row });
    }
    if order.is_some() {
        return Ok(listed);
    }
    let page = list.page(listed, tokens);
    full_rows(conn, network, page, &wanted).await
}

/// The rows of `page` (read lean) in full, in the same order.
async fn full_rows(
    conn: &impl ConnectionTrait,
    network: &str,
    page: Vec<ListedRow>,
    wanted: &[(usize, &str)],
) -> Result<Vec<ListedRow>, DbErr> {
    if page.is_empty() {
        return Ok(page);
    }
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql("SELECT address, ");
    select_row(&mut b);
    // By primary key: each token's hours.
    b.sql(" FROM token_hour_data WHERE network = ")
        .param(network)
        .sql(" AND (");
    let mut first_token = true;
    for (i, address) in wanted {
        let hours: Vec<i64> = page
            .iter()
            .filter(|r| r.token == *i)
            .map(|r| r.row.period_start_unix)
            .collect();
        if hours.is_empty() {
            continue;
        }
        if !first_token {
            b.sql(" OR ");
        }
        first_token = false;
        b.sql("(address = ")
            .param(*address)
            .sql(" AND period_start_unix IN (");
        for (k, h) in hours.into_iter().enumerate() {
            if k > 0 {
                b.sql(", ");
            }
            b.param(h);
        }
        b.sql("))");
    }
    b.sql(")");
    let mut found = std::collections::HashMap::with_capacity(page.len());
    for r in conn.query_all_raw(b.build()).await? {
        let address: String = r.try_get_by_index(0)?;
        let row = decode_row(&r, 1)?;
        found.insert((address, row.period_start_unix), row);
    }
    Ok(page
        .into_iter()
        .filter_map(|listed| {
            let address = wanted.iter().find(|(i, _)| *i == listed.token)?.1;
            let row = found.remove(&(address.to_owned(), listed.row.period_start_unix))?;
            Some(ListedRow {
                token: listed.token,
                row,
            })
        })
        .collect())
}

/// The BigDecimal fields `pred` compares.
fn decimal_fields(pred: &Pred<HourCond>, out: &mut Vec<HourField>) {
    match pred {
        Pred::All(ps) | Pred::Any(ps) => ps.iter().for_each(|p| decimal_fields(p, out)),
        Pred::Cond(HourCond::Dec(field, _)) => out.push(*field),
        Pred::Cond(_) => {}
    }
}

/// A lean row: keys, and the decimals `fields` (the others left empty, never read).
fn decode_lean(r: &QueryResult, fields: &[HourField]) -> Result<HourRow, DbErr> {
    let empty = Decimal::zero;
    let mut row = HourRow {
        period_start_unix: r.try_get_by_index(1)?,
        id: r.try_get_by_index(2)?,
        open: empty(),
        high: empty(),
        low: empty(),
        close: empty(),
        price_usd: empty(),
        volume: empty(),
        volume_usd: empty(),
        untracked_volume_usd: empty(),
        fees_usd: empty(),
        total_value_locked: empty(),
        total_value_locked_usd: empty(),
    };
    for (k, field) in fields.iter().enumerate() {
        let value = Decimal::from_stored(r.try_get_by_index(3 + k)?);
        use HourField::*;
        match field {
            Volume => row.volume = value,
            VolumeUsd => row.volume_usd = value,
            UntrackedVolumeUsd => row.untracked_volume_usd = value,
            TotalValueLocked => row.total_value_locked = value,
            TotalValueLockedUsd => row.total_value_locked_usd = value,
            PriceUsd => row.price_usd = value,
            FeesUsd => row.fees_usd = value,
            Open => row.open = value,
            High => row.high = value,
            Low => row.low = value,
            Close => row.close = value,
            Id | PeriodStartUnix | Token => {}
        }
    }
    Ok(row)
}

/// The stored column a BigDecimal field of `TokenHourData` is read from.
pub fn decimal_column(field: HourField) -> Option<&'static str> {
    use HourField::*;
    Some(match field {
        Id | PeriodStartUnix | Token => return None,
        Volume => "volume",
        VolumeUsd => "volume_usd",
        UntrackedVolumeUsd => "untracked_volume_usd",
        TotalValueLocked => "total_value_locked",
        TotalValueLockedUsd => "total_value_locked_usd",
        PriceUsd => "price_usd",
        FeesUsd => "fees_usd",
        Open => "open",
        High => "high",
        Low => "low",
        Close => "close",
    })
}

/// `id` compared bytewise, as graph-node's C collation does.
fn id_column(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "token_hour_data.id COLLATE \"C\"",
        _ => "token_hour_data.id",
    }
}

/// The `ORDER BY` of a key, ties broken by id in the same direction; `None` when SQL cannot
/// order by it exactly.
fn order_by(backend: DbBackend, key: HourKey, desc: bool) -> Option<String> {
    let dir = if desc { "DESC" } else { "ASC" };
    let id = id_column(backend);
    let first = match key {
        HourKey::Id => return Some(format!("{id} {dir}")),
        HourKey::Period => "token_hour_data.period_start_unix".to_owned(),
        HourKey::Token(TokenField::Id) => match backend {
            DbBackend::Postgres => "token_hour_data.address COLLATE \"C\"".to_owned(),
            _ => "token_hour_data.address".to_owned(),
        },
        // Qualified: a bare name would be the selected `CAST(… AS TEXT)` of the same name.
        HourKey::Dec(field) if backend == DbBackend::Postgres => {
            format!("token_hour_data.{}", decimal_column(field)?)
        }
        _ => return None,
    };
    Some(format!("{first} {dir}, {id} {dir}"))
}

/// The most operands one condition sends as parameters (PostgreSQL takes 65,535 per statement);
/// a longer `_in` list is left to the shared filter.
const MAX_OPERANDS: usize = 1000;

/// Whether every condition of `pred` can be said in SQL exactly.
fn said_in_sql(pred: &Pred<HourCond>) -> bool {
    match pred {
        Pred::All(ps) | Pred::Any(ps) => ps.iter().all(said_in_sql),
        // PostgreSQL's text cannot hold a NUL byte: such an operand is compared in memory.
        Pred::Cond(HourCond::Id(t)) => fits(t, |x| !x.contains('\0')),
        Pred::Cond(HourCond::Period(t)) => fits(t, |_| true),
        Pred::Cond(HourCond::Tokens(_)) => true,
        // `x_gt: null` and the like hold for no row, `x_not: null` for every row.
        Pred::Cond(HourCond::Dec(_, Test::Never | Test::Always)) => true,
        Pred::Cond(HourCond::Dec(..) | HourCond::ChangedSince(_)) => false,
    }
}

/// Whether a test has a form SQL says, with at most [`MAX_OPERANDS`] operands that `ok`.
fn fits<X>(t: &Test<X>, ok: impl Fn(&X) -> bool) -> bool {
    match t {
        Test::Always | Test::Never => true,
        Test::Cmp(_, x) => ok(x),
        Test::In(xs, _) => xs.len() <= MAX_OPERANDS && xs.iter().all(ok),
        Test::Text { .. } => false,
    }
}

/// Writes `pred` (which [`said_in_sql`]) as a condition; `wanted` are the query's tokens the
/// list may hold, with their indexes.
fn condition(b: &mut SqlBuilder, pred: &Pred<HourCond>, wanted: &[(usize, &str)]) {
    let id = id_column(b.backend());
    match pred {
        Pred::All(ps) | Pred::Any(ps) if ps.is_empty() => {
            b.sql(if matches!(pred, Pred::All(_)) {
                "1=1"
            } else {
                "1=0"
            });
        }
        Pred::All(ps) | Pred::Any(ps) => {
            let join = if matches!(pred, Pred::All(_)) {
                " AND "
            } else {
                " OR "
            };
            b.sql("(");
            for (k, p) in ps.iter().enumerate() {
                if k > 0 {
                    b.sql(join);
                }
                condition(b, p, wanted);
            }
            b.sql(")");
        }
        Pred::Cond(HourCond::Id(t)) => test(b, id, t, |b, x: &String| {
            b.param(x.clone());
        }),
        Pred::Cond(HourCond::Period(t)) => test(b, "period_start_unix", t, |b, x: &i64| {
            b.param(*x);
        }),
        Pred::Cond(HourCond::Tokens(mask)) => {
            let chosen: Vec<&str> = wanted
                .iter()
                .filter(|(i, _)| mask.get(*i).copied().unwrap_or(false))
                .map(|(_, a)| *a)
                .collect();
            if chosen.is_empty() {
                b.sql("1=0");
            } else {
                b.sql("address IN (");
                for (k, a) in chosen.iter().enumerate() {
                    if k > 0 {
                        b.sql(", ");
                    }
                    b.param(*a);
                }
                b.sql(")");
            }
        }
        Pred::Cond(HourCond::Dec(_, Test::Never)) => {
            b.sql("1=0");
        }
        // Always true, or not said in SQL (see `said_in_sql`).
        Pred::Cond(_) => {
            b.sql("1=1");
        }
    }
}

/// One comparison of `column` (never null) with operands written by `operand`.
fn test<X>(b: &mut SqlBuilder, column: &str, t: &Test<X>, operand: impl Fn(&mut SqlBuilder, &X)) {
    match t {
        Test::Always => {
            b.sql("1=1");
        }
        Test::Never => {
            b.sql("1=0");
        }
        Test::Cmp(op, x) => {
            let op = match op {
                CmpOp::Eq => " = ",
                CmpOp::Not => " <> ",
                CmpOp::Gt => " > ",
                CmpOp::Lt => " < ",
                CmpOp::Gte => " >= ",
                CmpOp::Lte => " <= ",
            };
            b.sql(column).sql(op);
            operand(b, x);
        }
        Test::In(xs, negated) if xs.is_empty() => {
            b.sql(if *negated { "1=1" } else { "1=0" });
        }
        Test::In(xs, negated) => {
            b.sql(column)
                .sql(if *negated { " NOT IN (" } else { " IN (" });
            for (k, x) in xs.iter().enumerate() {
                if k > 0 {
                    b.sql(", ");
                }
                operand(b, x);
            }
            b.sql(")");
        }
        // Not said in SQL (see `said_in_sql`).
        Test::Text { .. } => {
            b.sql("1=1");
        }
    }
}
