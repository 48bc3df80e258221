//! The storage layer: connecting, migrating, and the exact reads and idempotent writes of every
//! table. Functions take `&impl ConnectionTrait` so they run alike on a pool or inside a
//! transaction; [`Db::begin_write`] opens the transaction the sync writes a page in.
//!
//! - [`entity`]: one sea-orm entity per table;
//! - [`hours`]: hourly rows — the page write and the range read (hand-tuned SQL: the measured
//!   hot paths, built with `sql`, column names from the entity); [`days`]: their exact daily
//!   rollups, rewritten in the page's transaction; `copy`: PostgreSQL's binary `COPY` format;
//! - [`tokens`]: tracked tokens and metadata; [`state`]: sync state and upstream freshness
//!   (written with sea-query/sea-orm).

mod copy;
pub mod days;
pub mod entity;
pub mod health;
pub mod hours;
pub mod replicas;
mod sql;
pub mod state;
pub mod subgraph;
pub mod tokens;
mod write;

pub use write::WriteTx;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};

use crate::config::DatabaseUrl;
use crate::decimal::Decimal;

/// The current time as stored: to the microsecond, PostgreSQL's precision, so that both
/// backends give back the same value (SQLite would keep nanoseconds).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    let t = chrono::Utc::now();
    t.duration_trunc(chrono::TimeDelta::microseconds(1))
        .unwrap_or(t)
}

/// How long a statement waits for a pooled connection before it fails.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A cheap-to-clone handle on the database pool.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    url: DatabaseUrl,
    /// Whether the database answers (see [`health`]).
    health: health::Health,
    /// Standbys for the API's reads, if any.
    replicas: Option<replicas::Replicas>,
    /// SQLite: whose turn it is to write (see [`WriteTx`]).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: the WAL checkpoints after writes.
    checkpoints: write::Checkpoints,
}

/// The connection of one read ([`Db::read`]): where it runs, and the health checks that end it
/// when the database goes away.
pub struct Read<'a> {
    health: &'a health::Health,
    conn: replicas::ReadConn<'a>,
}

#[async_trait::async_trait]
impl ConnectionTrait for Read<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.health.unless_down(self.conn.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.health
            .unless_down(self.conn.execute_unprepared(sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.health.unless_down(self.conn.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.health.unless_down(self.conn.query_all_raw(stmt)).await
    }
}

impl Db {
    /// Opens a pool on `url`. SQLite runs in WAL mode with a busy timeout, so the API keeps
    /// reading while the sync writes.
    pub async fn connect(url: &DatabaseUrl) -> Result<Db, DbErr> {
        let mut opts = ConnectOptions::new(url.as_str().to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            // Under a burst, requests queue for a connection rather than fail, for a while: past
            // it (or when the server went away meanwhile) they fail with a clear error instead
            // of holding their client until REQUEST_TIMEOUT. While the database is known to be
            // down, they fail at once ([`Db::read`]).
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if url.is_sqlite() {
            opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    // Checkpoints run beside the writers (see `write::Checkpoints`), not inside
                    // the commit that crosses 1,000 WAL pages while the next writer waits.
                    .pragma("wal_autocheckpoint", "0")
            });
        } else {
            opts.max_connections(16).map_sqlx_postgres_opts(|o| {
                // Every statement here is prepared once per connection and its plan does not
                // depend on the values: plan it once too. PostgreSQL's default re-plans a
                // statement with its values for 5 runs and keeps doing so while that looks
                // cheaper, which for the sync's page insert meant folding 13 arrays of 1,000
                // values into constants on every page (≈9% of the server's time in
                // `scripts/bench-sync`).
                o.options([("plan_cache_mode", "force_generic_plan")])
                    .application_name("tokenmirror")
            });
        }
        let conn = Database::connect(opts).await?;
        Ok(Db {
            checkpoints: write::Checkpoints::new(&conn),
            conn,
            url: url.clone(),
            health: health::Health::default(),
            replicas: None,
            writer: Arc::default(),
        })
    }

    /// The pool.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Where a read of a request that starts now runs: a standby that has replayed every
    /// write the change feed reported, or the primary ([`replicas`]); an error at once while
    /// the database is known to be down ([`health`]).
    /// A statement of it still running when the health checks find the database down ends
    /// then, with the same error.
    pub fn read(&self) -> Result<Read<'_>, DbErr> {
        self.health.check()?;
        let conn = match &self.replicas {
            Some(r) => r.reader(&self.conn),
            None => replicas::ReadConn::Primary(&self.conn),
        };
        Ok(Read {
            health: &self.health,
            conn,
        })
    }

    /// The same database, with standbys for the API's reads.
    pub fn with_replicas(mut self, replicas: replicas::Replicas) -> Db {
        self.replicas = Some(replicas);
        self
    }

    /// The standbys, if any.
    pub fn replicas(&self) -> Option<&replicas::Replicas> {
        self.replicas.as_ref()
    }

    /// Whether the database answers, as last seen.
    pub fn health(&self) -> &health::Health {
        &self.health
    }

    /// The database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Applies pending migrations; harmless when there are none.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await?;
        // A migration can write much (the daily rollups' fill): fold it into the database now.
        self.checkpoints.run_now().await
    }

    /// True when the database answers and every migration is applied.
    pub async fn is_ready(&self) -> bool {
        matches!(Migrator::get_pending_migrations(&self.conn).await, Ok(p) if p.is_empty())
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock
    /// up front instead of failing with "database is locked" when a read turns into a write,
    /// after this process's earlier writers are done; on PostgreSQL, one that can `COPY`.
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        if self.conn.get_database_backend() == DbBackend::Postgres {
            return WriteTx::postgres(self.conn.get_postgres_connection_pool()).await;
        }
        let turn = self.writer.clone().lock_owned().await;
        WriteTx::sqlite(
            self.conn.get_sqlite_connection_pool(),
            turn,
            self.checkpoints.clone(),
        )
        .await
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

/// An exact decimal as a value to write: `CAST(? AS NUMERIC)` on PostgreSQL, so that the
/// column gets exactly the canonical string's value, and the string itself on SQLite, whose
/// decimal columns are `TEXT` (casting there would turn it into a float).
pub fn decimal_value(backend: DbBackend, d: &Decimal) -> Expr {
    let v = Expr::val(d.as_str());
    match backend {
        DbBackend::Postgres => v.cast_as("NUMERIC"),
        _ => v,
    }
}

/// A statement that could not be built (a row with the wrong number of values: a bug).
pub(crate) fn query_error(e: sea_orm::sea_query::error::Error) -> DbErr {
    DbErr::Custom(format!("cannot build the statement: {e}"))
}
