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

    /// True when this process may sync now: it holds the lock (checking the connection is
    /// still alive), or just took it.
    pub async fn acquire(&mut self) -> bool {
        let SyncLock::Postgres { url, held } = self else {
            return true;
        };
        if let Some(conn) = held {
            if conn.ping().await.is_ok() {
                return true;
            }
            tracing::warn!("lost the connection holding the sync lock");
            *held = None;
        }
        match try_lock(url).await {
            Ok(Some(conn)) => {
                tracing::info!("took the sync lock: this process syncs");
                *held = Some(conn);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "could not try the sync lock");
                false
            }
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
    let mut waiting_logged = false;
    while !shutdown.is_cancelled() {
        // Trying the lock may wait on an unreachable database: never past the shutdown signal,
        // never longer than a few seconds.
        let may_sync = tokio::select! {
            got = tokio::time::timeout(Duration::from_secs(10), lock.acquire()) => got.unwrap_or(false),
            _ = shutdown.cancelled() => break,
        };
        if may_sync {
            waiting_logged = false;
            let report = syncer.sync_once(&shutdown).await;
            tracing::info!(
                rows = report.rows_changed(),
                ok = report.all_ok(),
                "sync pass done; next in {}s",
                interval.as_secs()
            );
        } else if !waiting_logged {
            tracing::info!(
                "another process holds the sync lock: serving reads, checking again every interval"
            );
            waiting_logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    lock.release().await;
    tracing::info!("sync loop stopped");
}
