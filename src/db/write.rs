//! The transaction every write runs in ([`super::Db::begin_write`]): a sea-orm connection like
//! any other (every storage function takes `&impl ConnectionTrait`), run on a pooled sqlx
//! connection held here, with three things sea-orm's own transaction cannot give.
//!
//! - **A connection that goes back to the pool only once committed.** Otherwise it is closed,
//!   which also rolls the transaction back: a statement or a `COPY` abandoned half-way (a
//!   cancelled future) can leave answers unread on a PostgreSQL connection, and a SQLite
//!   `COMMIT` that fails (a full disk) leaves its transaction open, holding the write lock —
//!   returned to the pool, either would break every later write.
//! - **PostgreSQL: `COPY`.** The transaction runs on a sqlx connection of the pool held here, so
//!   a page of new hours can be streamed in with binary `COPY` ([`WriteTx::copy_in`]) between
//!   ordinary statements.
//! - **SQLite: one writer at a time, in turn.** SQLite has one write lock; writers that find it
//!   taken sleep in its busy handler (1, 2, 5, 10… ms steps) and wake late. Writers of this
//!   process instead queue on an async mutex held from `BEGIN IMMEDIATE` to the end of the
//!   transaction, and the next one starts the moment the previous commits (other processes
//!   still meet the busy timeout). And SQLite's automatic checkpoint is off: it ran inside the
//!   commit that crossed 1,000 WAL pages, with the next writer waiting (a 12 ms commit every
//!   ~7 pages of a backfill); [`Checkpoints`] runs a passive one beside the writers instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres, Sqlite};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A write transaction; rolled back when dropped without [`WriteTx::commit`].
pub struct WriteTx {
    conn: Conn,
    /// SQLite: this process's turn to write, until the transaction ends.
    turn: Option<OwnedMutexGuard<()>>,
    /// SQLite: told after the commit.
    checkpoints: Option<Checkpoints>,
}

/// SQLite's WAL checkpoints, run in the background after commits: `PRAGMA
/// wal_checkpoint(PASSIVE)` on a pooled connection, which neither waits for nor blocks readers
/// and writers, at most one at a time and one per [`CHECKPOINT_EVERY`].
#[derive(Clone, Debug)]
pub struct Checkpoints {
    conn: Option<DatabaseConnection>,
    state: Arc<std::sync::Mutex<CheckpointState>>,
}

#[derive(Debug, Default)]
struct CheckpointState {
    running: bool,
    last: Option<Instant>,
}

/// The least time between two background checkpoints (a backfill commits a page every few
/// milliseconds; the WAL grows by at most what is written meanwhile).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

impl Checkpoints {
    /// Checkpoints for `conn`'s database (nothing to do on PostgreSQL).
    pub(super) fn new(conn: &DatabaseConnection) -> Checkpoints {
        let sqlite = conn.get_database_backend() == DbBackend::Sqlite;
        Checkpoints {
            conn: sqlite.then(|| conn.clone()),
            state: Arc::default(),
        }
    }

    /// Checkpoints now and waits for it (after a migration).
    pub(super) async fn run_now(&self) -> Result<(), DbErr> {
        if let Some(conn) = &self.conn {
            conn.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await?;
        }
        Ok(())
    }

    /// After a commit: starts a checkpoint unless one runs or ran recently.
    fn after_commit(&self) {
        let Some(conn) = self.conn.clone() else {
            return;
        };
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.running || s.last.is_some_and(|t| t.elapsed() < CHECKPOINT_EVERY) {
                return;
            }
            s.running = true;
            s.last = Some(Instant::now());
        }
        let state = self.state.clone();
        tokio::spawn(async move {
            if let Err(e) = conn
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(error = %e, "SQLite checkpoint failed; the next write retries");
            }
            state.lock().unwrap_or_else(|e| e.into_inner()).running = false;
        });
    }
}

enum Conn {
    /// Locked per statement: `ConnectionTrait` takes `&self`.
    Postgres(Mutex<Held<Postgres>>),
    Sqlite(Mutex<Held<Sqlite>>),
}

/// A pooled connection inside `BEGIN`, back to the pool only once its transaction committed.
struct Held<DB: sqlx::Database> {
    conn: PoolConnection<DB>,
    committed: bool,
}

impl<DB: sqlx::Database> Drop for Held<DB> {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

impl<DB: sqlx::Database> Held<DB> {
    async fn begin(pool: &sqlx::Pool<DB>, begin: &'static str) -> Result<Self, DbErr>
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        let conn_err = |e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)));
        let mut held = Held {
            conn: pool.acquire().await.map_err(conn_err)?,
            committed: false,
        };
        sqlx::raw_sql(begin)
            .execute(&mut *held.conn)
            .await
            .map_err(conn_err)?;
        Ok(held)
    }

    async fn commit(mut self) -> Result<(), DbErr>
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        sqlx::raw_sql("COMMIT")
            .execute(&mut *self.conn)
            .await
            .map_err(exec_err)?;
        self.committed = true;
        Ok(())
    }
}

/// Runs `$body` with `$c`, the transaction's connection (`&mut` of the backend's connection).
macro_rules! with_conn {
    ($self:expr, |$c:ident| $body:expr) => {
        match &$self.conn {
            Conn::Postgres(m) => {
                let mut held = m.lock().await;
                let $c = &mut *held.conn;
                $body
            }
            Conn::Sqlite(m) => {
                let mut held = m.lock().await;
                let $c = &mut *held.conn;
                $body
            }
        }
    };
}

impl WriteTx {
    pub(super) async fn sqlite(
        pool: &sqlx::SqlitePool,
        turn: OwnedMutexGuard<()>,
        checkpoints: Checkpoints,
    ) -> Result<WriteTx, DbErr> {
        // IMMEDIATE takes the write lock up front instead of failing with "database is locked"
        // when a read turns into a write.
        let held = Held::begin(pool, "BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            conn: Conn::Sqlite(Mutex::new(held)),
            turn: Some(turn),
            checkpoints: Some(checkpoints),
        })
    }

    pub(super) async fn postgres(pool: &sqlx::PgPool) -> Result<WriteTx, DbErr> {
        let held = Held::begin(pool, "BEGIN").await?;
        Ok(WriteTx {
            conn: Conn::Postgres(Mutex::new(held)),
            turn: None,
            checkpoints: None,
        })
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self.conn {
            Conn::Postgres(m) => m.into_inner().commit().await?,
            Conn::Sqlite(m) => m.into_inner().commit().await?,
        }
        // The next writer's turn, then the checkpoint beside it.
        drop(self.turn);
        if let Some(c) = self.checkpoints {
            c.after_commit();
        }
        Ok(())
    }

    /// PostgreSQL only: runs `statement` (a `COPY … FROM STDIN`) with `data` as its input and
    /// returns the rows copied; `None` on SQLite.
    pub async fn copy_in(&self, statement: &str, data: &[u8]) -> Option<Result<u64, DbErr>> {
        let Conn::Postgres(held) = &self.conn else {
            return None;
        };
        let mut held = held.lock().await;
        let copied = async {
            let mut copy = held.conn.copy_in_raw(statement).await?;
            copy.send(data).await?;
            copy.finish().await
        }
        .await;
        Some(copied.map_err(exec_err))
    }
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

/// The statement's SQL and its values, moved (sea-orm clones the values of every statement:
/// for a page of hours, 13 arrays of 1,000).
fn parts(stmt: Statement) -> (String, SqlxValues) {
    let values = stmt.values.unwrap_or(sea_orm::Values(Vec::new()));
    (stmt.sql, SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DbBackend {
        match &self.conn {
            Conn::Postgres(_) => DbBackend::Postgres,
            Conn::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let (sql, values) = parts(stmt);
        with_conn!(self, |c| sqlx::query_with(AssertSqlSafe(sql), values)
            .execute(c)
            .await
            .map(Into::into)
            .map_err(exec_err))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let sql = sql.to_owned();
        with_conn!(self, |c| sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(c)
            .await
            .map(Into::into)
            .map_err(exec_err))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let (sql, values) = parts(stmt);
        with_conn!(self, |c| sqlx::query_with(AssertSqlSafe(sql), values)
            .fetch_optional(c)
            .await
            .map(|row| row.map(Into::into))
            .map_err(query_err))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (sql, values) = parts(stmt);
        with_conn!(self, |c| sqlx::query_with(AssertSqlSafe(sql), values)
            .fetch_all(c)
            .await
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(query_err))
    }
}
