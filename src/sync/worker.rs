//! The sync loop: one pass every `SYNC_INTERVAL` until the shutdown signal, and on PostgreSQL
//! only while this process holds the sync lock.
//!
//! The lock is a session advisory lock, held on a connection of its own (a pooled connection
//! would be closed or recycled by the pool, silently dropping the lock). A process that does not
//! get it keeps serving reads and tries again every interval, so it takes over the sync when the
//! holder stops (its session ends and PostgreSQL releases the lock).

use std::time::Duration;

use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;

use super::pass::Syncer;
use crate::config::DatabaseUrl;

/// The advisory lock key: "tokenmir" in ASCII.
pub const SYNC_LOCK_KEY: i64 = 0x746f_6b65_6e6d_6972;

/// The answer of [`SyncLock::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// This process syncs.
    Mine,
    /// Another process holds the lock.
    Theirs,
    /// The lock could not be tried: the database did not answer (the reason).
    Unreachable(String),
}

impl Turn {
    /// What stops this process from syncing, for a log line or an error (`None`: nothing).
    pub fn obstacle(&self) -> Option<String> {
        match self {
            Turn::Mine => None,
            Turn::Theirs => Some("another process holds the sync lock on this database".to_owned()),
            Turn::Unreachable(e) => Some(format!(
                "the database is unreachable, so the sync lock cannot be taken: {e}"
            )),
        }
    }
}

/// Who may sync: everyone on SQLite (its own file lock serializes writers), the lock holder on
/// PostgreSQL.
pub enum SyncLock {
    /// No lock needed.
    Free,
    /// PostgreSQL: `held` is the connection holding the lock, if this process has it.
    Postgres {
        url: String,
        held: Option<PgConnection>,
    },
}

impl SyncLock {
    /// The lock for a database.
    pub fn for_database(url: &DatabaseUrl) -> SyncLock {
        if url.is_sqlite() {
            SyncLock::Free
        } else {
            SyncLock::Postgres {
                url: url.as_str().to_owned(),
                held: None,
            }
        }
    }

    /// Whether this process may sync now: it holds the lock (checking the connection is still
    /// alive), or just took it; else who has it, or why it could not be tried.
    pub async fn acquire(&mut self) -> Turn {
        let SyncLock::Postgres { url, held } = self else {
            return Turn::Mine;
        };
        if let Some(conn) = held {
            if conn.ping().await.is_ok() {
                return Turn::Mine;
            }
            tracing::warn!("lost the connection holding the sync lock");
            *held = None;
        }
        match try_lock(url).await {
            Ok(Some(conn)) => {
                tracing::info!("took the sync lock: this process syncs");
                *held = Some(conn);
                Turn::Mine
            }
            Ok(None) => Turn::Theirs,
            Err(e) => Turn::Unreachable(e.to_string()),
        }
    }

    /// Releases the lock (it is released anyway when the process ends).
    pub async fn release(&mut self) {
        if let SyncLock::Postgres { held, .. } = self {
            if let Some(conn) = held.take() {
                let _ = conn.close().await;
            }
        }
    }
}

async fn try_lock(url: &str) -> Result<Option<PgConnection>, sea_orm::sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let row = sea_orm::sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind(SYNC_LOCK_KEY)
        .fetch_one(&mut conn)
        .await?;
    if row.try_get::<bool, _>("locked")? {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

/// Runs passes every `interval` until `shutdown` (checked between pages and while waiting).
pub async fn run(
    syncer: Syncer,
    mut lock: SyncLock,
    interval: Duration,
    shutdown: CancellationToken,
) {
    // What kept this process from syncing last time (logged when it changes).
    let mut last: Option<std::mem::Discriminant<Turn>> = None;
    while !shutdown.is_cancelled() {
        // Trying the lock may wait on an unreachable database: never past the shutdown signal,
        // never longer than a few seconds.
        let turn = tokio::select! {
            got = tokio::time::timeout(Duration::from_secs(10), lock.acquire()) => got.unwrap_or_else(
                |_| Turn::Unreachable("no answer within 10 s".to_owned()),
            ),
            _ = shutdown.cancelled() => break,
        };
        if turn == Turn::Mine {
            last = None;
            let report = syncer.sync_once(&shutdown).await;
            tracing::info!(
                rows = report.rows_changed(),
                ok = report.all_ok(),
                "sync pass done; next in {}s",
                interval.as_secs()
            );
        } else {
            let kind = std::mem::discriminant(&turn);
            if last != Some(kind) {
                let why = turn.obstacle().unwrap_or_default();
                match &turn {
                    Turn::Unreachable(_) => {
                        tracing::warn!("{why}; serving what is stored, trying again every interval")
                    }
                    _ => tracing::info!("{why}: serving reads, checking again every interval"),
                }
            }
            last = Some(kind);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    lock.release().await;
    tracing::info!("sync loop stopped");
}
