//! `token_day_data`: exact daily rollups of `token_hour_data`, kept by the sync in the same
//! transaction as the hours they come from (so the two never disagree), and filled here from
//! the hours already stored. A day's volumes and fees are exact, unrounded sums, so that a week
//! built from days is still rounded once. Candles whose width is a whole number of days are
//! built from them: a year of daily candles reads 365 rows, not 8,760.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use tokenmirror_subgraph::rollup::{roll, Period, Rolled, Sums};
use tokenmirror_subgraph::Decimal;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rollup's value columns, in [`values`] order.
pub const DECIMALS: [&str; 11] = [
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

const DAY: i64 = 86_400;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let (d, clustered) = match backend {
            DbBackend::Sqlite => ("TEXT", " WITHOUT ROWID"),
            _ => ("NUMERIC", ""),
        };
        let columns: Vec<String> = DECIMALS
            .iter()
            .map(|c| format!("{c} {d} NOT NULL"))
            .collect();
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE TABLE token_day_data (
                network TEXT NOT NULL,
                address TEXT NOT NULL,
                day_start BIGINT NOT NULL,
                {},
                hours BIGINT NOT NULL,
                PRIMARY KEY (network, address, day_start)
            ){clustered}",
            columns.join(",\n                ")
        ))
        .await?;
        fill(db, backend).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS token_day_data")
            .await
            .map(drop)
    }
}

/// One stored hour, as the rollup reads it.
struct Hour(Rolled);

impl Period for Hour {
    fn open(&self) -> &Decimal {
        &self.0.open
    }
    fn high(&self) -> &Decimal {
        &self.0.high
    }
    fn low(&self) -> &Decimal {
        &self.0.low
    }
    fn close(&self) -> &Decimal {
        &self.0.close
    }
    fn price_usd(&self) -> &Decimal {
        &self.0.price_usd
    }
    fn volume(&self) -> &Decimal {
        &self.0.volume
    }
    fn volume_usd(&self) -> &Decimal {
        &self.0.volume_usd
    }
    fn untracked_volume_usd(&self) -> &Decimal {
        &self.0.untracked_volume_usd
    }
    fn fees_usd(&self) -> &Decimal {
        &self.0.fees_usd
    }
    fn total_value_locked(&self) -> &Decimal {
        &self.0.total_value_locked
    }
    fn total_value_locked_usd(&self) -> &Decimal {
        &self.0.total_value_locked_usd
    }
    fn hours(&self) -> u32 {
        1
    }
}

/// The rollup's decimals, in [`DECIMALS`] order.
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

/// Rolls up every stored hour, one token at a time.
async fn fill(db: &SchemaManagerConnection<'_>, backend: DbBackend) -> Result<(), DbErr> {
    let tokens = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT DISTINCT network, address FROM token_hour_data",
        ))
        .await?;
    let text: Vec<String> = DECIMALS
        .iter()
        .map(|c| format!("CAST({c} AS TEXT)"))
        .collect();
    for t in tokens {
        let network: String = t.try_get_by_index(0)?;
        let address: String = t.try_get_by_index(1)?;
        let p = |i: usize| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        };
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT period_start_unix, {} FROM token_hour_data WHERE network = {} AND address = {} ORDER BY period_start_unix",
                    text.join(", "),
                    p(1),
                    p(2)
                ),
                [network.clone().into(), address.clone().into()],
            ))
            .await?;
        let mut day: Option<i64> = None;
        let mut hours: Vec<Hour> = Vec::new();
        for r in rows {
            let start: i64 = r.try_get_by_index(0)?;
            let dec = |i: usize| -> Result<Decimal, DbErr> {
                let s: String = r.try_get_by_index(i)?;
                Decimal::parse(&s).map_err(|e| DbErr::Custom(e.to_string()))
            };
            let hour = Hour(Rolled {
                open: dec(1)?,
                high: dec(2)?,
                low: dec(3)?,
                close: dec(4)?,
                price_usd: dec(5)?,
                volume: dec(6)?,
                volume_usd: dec(7)?,
                untracked_volume_usd: dec(8)?,
                fees_usd: dec(9)?,
                total_value_locked: dec(10)?,
                total_value_locked_usd: dec(11)?,
                hours: 1,
            });
            let this_day = start.div_euclid(DAY) * DAY;
            if day.is_some_and(|d| d != this_day) {
                insert(db, backend, &network, &address, day.unwrap_or(0), &hours).await?;
                hours.clear();
            }
            day = Some(this_day);
            hours.push(hour);
        }
        if let Some(d) = day {
            insert(db, backend, &network, &address, d, &hours).await?;
        }
    }
    Ok(())
}

async fn insert(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
    network: &str,
    address: &str,
    day: i64,
    hours: &[Hour],
) -> Result<(), DbErr> {
    let Some(r) = roll(hours, Sums::Exact) else {
        return Ok(());
    };
    let mut params: Vec<Value> = vec![network.into(), address.into(), day.into()];
    let mut placeholders = Vec::new();
    for (i, v) in values(&r).iter().enumerate() {
        params.push(v.as_str().to_owned().into());
        placeholders.push(match backend {
            DbBackend::Postgres => format!("CAST(${} AS NUMERIC)", i + 4),
            _ => "?".to_owned(),
        });
    }
    params.push(i64::from(r.hours).into());
    let head = match backend {
        DbBackend::Postgres => "$1, $2, $3".to_owned(),
        _ => "?, ?, ?".to_owned(),
    };
    let hours_param = match backend {
        DbBackend::Postgres => "$15".to_owned(),
        _ => "?".to_owned(),
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO token_day_data (network, address, day_start, {}, hours) VALUES ({head}, {}, {hours_param})",
            DECIMALS.join(", "),
            placeholders.join(", ")
        ),
        params,
    ))
    .await
    .map(drop)
}
