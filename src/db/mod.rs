//! The storage layer: connecting, migrating, and the exact reads and idempotent writes of every
//! table. Functions take `&impl ConnectionTrait` so they run alike on a pool or inside a
//! transaction; [`Db::begin_write`] opens the transaction the sync writes a page in.

pub mod entity;
pub mod hours;
pub mod state;
pub mod tokens;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

use crate::config::DatabaseUrl;

/// The current time as stored: to the microsecond, PostgreSQL's precision, so that both
/// backends give back the same value (SQLite would keep nanoseconds).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    let t = chrono::Utc::now();
    t.duration_trunc(chrono::TimeDelta::microseconds(1))
        .unwrap_or(t)
}

/// A cheap-to-clone handle on the database pool.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Opens a pool on `url`. SQLite runs in WAL mode with a busy timeout, so the API keeps
    /// reading while the sync writes.
    pub async fn connect(url: &DatabaseUrl) -> Result<Db, DbErr> {
        let mut opts = ConnectOptions::new(url.as_str().to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            // Under a burst, requests queue for a connection rather than fail; REQUEST_TIMEOUT
            // (30 s by default) bounds the wait of an API request.
            .acquire_timeout(Duration::from_secs(30));
        if url.is_sqlite() {
            opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
            });
        } else {
            opts.max_connections(16);
        }
        Ok(Db {
            conn: Database::connect(opts).await?,
        })
    }

    /// The pool, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Applies pending migrations; harmless when there are none.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await
    }

    /// True when the database answers and every migration is applied.
    pub async fn is_ready(&self) -> bool {
        matches!(Migrator::get_pending_migrations(&self.conn).await, Ok(p) if p.is_empty())
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock
    /// up front instead of failing with "database is locked" when a read turns into a write.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

/// Builds SQL with positional parameters in the backend's syntax, casting decimals to `NUMERIC`
/// on PostgreSQL (SQLite keeps them as text).
pub(crate) struct SqlBuilder {
    backend: DbBackend,
    sql: String,
    values: Vec<Value>,
}

impl SqlBuilder {
    pub(crate) fn new(backend: DbBackend) -> Self {
        SqlBuilder {
            backend,
            sql: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    /// Appends literal SQL.
    pub(crate) fn sql(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    /// Appends a parameter placeholder bound to `v`.
    pub(crate) fn param(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.values.len().to_string());
            }
            _ => self.sql.push('?'),
        }
        self
    }

    /// Appends a parameter holding an exact decimal.
    pub(crate) fn decimal(&mut self, v: &str) -> &mut Self {
        if self.backend == DbBackend::Postgres {
            self.sql.push_str("CAST(");
            self.param(v.to_owned());
            self.sql.push_str(" AS NUMERIC)");
        } else {
            self.param(v.to_owned());
        }
        self
    }

    /// The operator that is true when two values differ, NULLs included.
    pub(crate) fn distinct_op(&self) -> &'static str {
        match self.backend {
            DbBackend::Sqlite => " IS NOT ",
            _ => " IS DISTINCT FROM ",
        }
    }

    pub(crate) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }
}

/// Runs a statement built by [`SqlBuilder`] and returns the number of rows it changed.
pub(crate) async fn execute(conn: &impl ConnectionTrait, b: SqlBuilder) -> Result<u64, DbErr> {
    Ok(conn.execute_raw(b.build()).await?.rows_affected())
}
