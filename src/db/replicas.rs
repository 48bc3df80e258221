//! Read replicas (`DATABASE_READ_URLS`): PostgreSQL standbys that answer the API's reads while
//! the sync writes and `LISTEN`s on the primary — without breaking the cache rule.
//!
//! The rule: a request that starts after an event was applied here must not get an answer from
//! before that write. A standby serves a read only once it has replayed the primary's WAL
//! position as read when the last event arrived: on every event, before the event is applied
//! (its answers marked stale), [`Replicas::note_event`] reads `pg_current_wal_lsn()` on the
//! primary — a notification arrives only after its commit was flushed (`synchronous_commit` on,
//! the default), so that position is at or past the commit. Each standby's
//! `pg_last_wal_replay_lsn()` is polled every [`POLL_EVERY`], never asked per request. A read
//! the chosen standby cannot serve (it lags, it is down, it cancels the query because of a
//! recovery conflict, SQLSTATE 40001, or its connection is lost or ended by a shutdown) goes to
//! the primary: the user never sees it. A lost standby leaves the rotation at the first read that
//! finds it gone, and a read waits at most 0.5 s (`STANDBY_ACQUIRE_TIMEOUT`) for one of its
//! connections, so that a standby going away holds no read up for long.
//!
//! A standby's lag is 0 when it has replayed the position of the last event, else the age of
//! the oldest event it has not replayed (time since its last replayed transaction grows while
//! the primary is idle, and is not lag). Past `MAX_REPLICA_LAG`, or down, it leaves the
//! rotation, and comes back by itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseUrl;
use crate::metrics::Metrics;

/// How often each standby's replay position is read.
pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// Events remembered to measure lag (older ones count as replayed).
const EVENTS_KEPT: usize = 4096;
/// How long a read waits for a standby connection before it goes to the primary instead. Short:
/// the primary is always there, and a standby that went away makes its pool retry connecting
/// until this runs out (for every read in flight).
const STANDBY_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// The standbys and what they have replayed; cheap to clone.
#[derive(Clone)]
pub struct Replicas {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.inner.standbys.iter().map(|s| &s.name))
            .finish()
    }
}

struct Inner {
    primary: DatabaseConnection,
    standbys: Vec<Standby>,
    /// The primary's WAL position (as a number) at the last event: a standby serves reads once
    /// it has replayed it. `u64::MAX` while this process does not hear of writes (reads go to
    /// the primary).
    target: AtomicU64,
    /// (position, when it was noted) of recent events, oldest first.
    events: Mutex<VecDeque<(u64, Instant)>>,
    next: AtomicUsize,
    max_lag: Duration,
    metrics: Arc<Metrics>,
}

/// One standby: its pool and what it has replayed.
pub struct Standby {
    /// The URL without its password (for logs, `/readyz` and `/metrics`).
    name: String,
    conn: DatabaseConnection,
    replayed: AtomicU64,
    up: AtomicBool,
    /// Times a read found it gone: a poll that began before the last of those does not bring it
    /// back (it may have answered just before the standby went away).
    lost: AtomicU64,
    /// In milliseconds.
    lag_ms: AtomicU64,
}

/// A standby's state, for `/readyz`.
#[derive(Debug, Clone, PartialEq)]
pub struct StandbyState {
    pub name: String,
    pub up: bool,
    pub lag: Duration,
    pub in_rotation: bool,
}

/// `X/Y` (hexadecimal halves) as one number.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (hi <= u64::from(u32::MAX) && lo <= u64::from(u32::MAX)).then_some((hi << 32) | lo)
}

async fn lsn_of(conn: &DatabaseConnection, sql: &str) -> Result<Option<u64>, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    let text: Option<String> = match row {
        Some(r) => r.try_get_by_index(0)?,
        None => None,
    };
    Ok(text.as_deref().and_then(parse_lsn))
}

/// Why a read on a standby is read again on the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// A recovery conflict cancelled the query (SQLSTATE 40001): the standby is fine.
    Conflict,
    /// The standby could not be reached, is shutting down or starting up (SQLSTATE classes 08
    /// and 57P, I/O, pool errors): it leaves the rotation until its next poll answers.
    Lost,
}

/// Whether `e` means "try the primary instead", and why; `None`: the error is the answer.
fn retry_on_primary(e: &DbErr) -> Option<Fallback> {
    use sea_orm::sqlx::Error as X;
    use sea_orm::RuntimeErr;
    let cause = match e {
        DbErr::ConnectionAcquire(_) => return Some(Fallback::Lost),
        DbErr::Conn(RuntimeErr::SqlxError(x))
        | DbErr::Exec(RuntimeErr::SqlxError(x))
        | DbErr::Query(RuntimeErr::SqlxError(x)) => &**x,
        DbErr::Conn(_) => return Some(Fallback::Lost),
        _ => return None,
    };
    match cause {
        X::Database(d) => match d.code().as_deref() {
            Some("40001") => Some(Fallback::Conflict),
            // 57P01 admin_shutdown (a fast stop ends every session), 57P02 crash_shutdown,
            // 57P03 cannot_connect_now (starting up), 08xxx connection exceptions.
            Some(code) if code.starts_with("57P") || code.starts_with("08") => Some(Fallback::Lost),
            _ => None,
        },
        X::Io(_) | X::Tls(_) | X::Protocol(_) | X::PoolTimedOut | X::PoolClosed => {
            Some(Fallback::Lost)
        }
        _ => None,
    }
}

impl Replicas {
    /// Connects to every standby of `urls`; refuses a URL that answers but is not a standby.
    pub async fn connect(
        primary: DatabaseConnection,
        urls: &[DatabaseUrl],
        max_lag: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Replicas, String> {
        let mut standbys = Vec::new();
        for url in urls {
            let name = url.to_string();
            if url.is_sqlite() {
                return Err(format!(
                    "DATABASE_READ_URLS: {name} is not PostgreSQL (standbys are PostgreSQL)"
                ));
            }
            let mut opts = ConnectOptions::new(url.as_str().to_owned());
            opts.sqlx_logging(false)
                .max_connections(16)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(STANDBY_ACQUIRE_TIMEOUT)
                .map_sqlx_postgres_opts(|o| {
                    o.options([("plan_cache_mode", "force_generic_plan")])
                        .application_name("tokenmirror-read")
                });
            let conn = Database::connect(opts)
                .await
                .map_err(|e| format!("DATABASE_READ_URLS: cannot connect to {name}: {e}"))?;
            let row = conn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_is_in_recovery()",
                ))
                .await
                .map_err(|e| format!("DATABASE_READ_URLS: {name}: {e}"))?;
            let standby: bool = row
                .and_then(|r| r.try_get_by_index(0).ok())
                .unwrap_or(false);
            if !standby {
                return Err(format!(
                    "DATABASE_READ_URLS: {name} is not a standby (pg_is_in_recovery() is false): \
                     list only PostgreSQL standbys of DATABASE_URL there"
                ));
            }
            standbys.push(Standby {
                name,
                conn,
                replayed: AtomicU64::new(0),
                up: AtomicBool::new(false),
                lost: AtomicU64::new(0),
                lag_ms: AtomicU64::new(0),
            });
        }
        Ok(Replicas {
            inner: Arc::new(Inner {
                primary,
                standbys,
                target: AtomicU64::new(u64::MAX),
                events: Mutex::new(VecDeque::new()),
                next: AtomicUsize::new(0),
                max_lag,
                metrics,
            }),
        })
    }

    /// Reads the primary's position and makes it the one standbys must reach (call before
    /// applying an event). When the primary cannot say, reads go to the primary until it can.
    pub async fn note_event(&self) {
        match lsn_of(&self.inner.primary, "SELECT pg_current_wal_lsn()::text").await {
            Ok(Some(lsn)) => {
                let i = &self.inner;
                let before = i.target.load(Ordering::SeqCst);
                let target = if before == u64::MAX {
                    lsn
                } else {
                    before.max(lsn)
                };
                i.target.store(target, Ordering::SeqCst);
                if let Ok(mut ev) = i.events.lock() {
                    ev.push_back((lsn, Instant::now()));
                    while ev.len() > EVENTS_KEPT {
                        ev.pop_front();
                    }
                }
            }
            _ => self.to_primary(),
        }
    }

    /// Reads go to the primary until the next [`Replicas::note_event`] (this process lost track
    /// of the writes).
    pub fn to_primary(&self) {
        self.inner.target.store(u64::MAX, Ordering::SeqCst);
    }

    /// A standby that may serve a read that starts now, round robin; `None`: the primary.
    fn pick(&self) -> Option<&Standby> {
        let i = &self.inner;
        let target = i.target.load(Ordering::SeqCst);
        let n = i.standbys.len();
        if n == 0 || target == u64::MAX {
            return None;
        }
        let start = i.next.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|k| &i.standbys[(start + k) % n]).find(|s| {
            s.up.load(Ordering::SeqCst)
                && s.replayed.load(Ordering::SeqCst) >= target
                && Duration::from_millis(s.lag_ms.load(Ordering::SeqCst)) <= i.max_lag
        })
    }

    /// The connection a read that starts now uses.
    pub fn reader<'a>(&'a self, primary: &'a DatabaseConnection) -> ReadConn<'a> {
        match self.pick() {
            Some(s) => {
                self.inner.metrics.replica_read(&s.name);
                ReadConn::Standby {
                    standby: s,
                    primary,
                    metrics: &self.inner.metrics,
                }
            }
            None => {
                self.inner.metrics.replica_read("primary");
                ReadConn::Primary(primary)
            }
        }
    }

    /// Each standby's state.
    pub fn states(&self) -> Vec<StandbyState> {
        let i = &self.inner;
        i.standbys
            .iter()
            .map(|s| {
                let up = s.up.load(Ordering::SeqCst);
                let lag = Duration::from_millis(s.lag_ms.load(Ordering::SeqCst));
                StandbyState {
                    name: s.name.clone(),
                    up,
                    lag,
                    in_rotation: up && lag <= i.max_lag,
                }
            })
            .collect()
    }

    /// Polls every standby's replay position until `shutdown`.
    pub async fn watch(self, shutdown: CancellationToken) {
        loop {
            for s in &self.inner.standbys {
                let lost_before = s.lost.load(Ordering::SeqCst);
                let polled = tokio::time::timeout(
                    Duration::from_secs(1),
                    lsn_of(&s.conn, "SELECT pg_last_wal_replay_lsn()::text"),
                )
                .await;
                let was_up = s.up.load(Ordering::SeqCst);
                match polled {
                    Ok(Ok(Some(lsn))) if s.lost.load(Ordering::SeqCst) == lost_before => {
                        s.replayed.fetch_max(lsn, Ordering::SeqCst);
                        s.up.store(true, Ordering::SeqCst);
                        if !was_up {
                            tracing::info!(standby = %s.name, "standby in rotation");
                        }
                    }
                    other => {
                        s.up.store(false, Ordering::SeqCst);
                        if was_up {
                            let why = match other {
                                Ok(Err(e)) => e.to_string(),
                                Ok(Ok(None)) => "it is not replaying (not a standby?)".to_owned(),
                                Ok(Ok(Some(_))) => "a read found it gone".to_owned(),
                                _ => "no answer within 1 s".to_owned(),
                            };
                            tracing::warn!(standby = %s.name, reason = %why, "standby out of rotation; reads go elsewhere");
                        }
                    }
                }
                let lag = self.lag_of(s.replayed.load(Ordering::SeqCst));
                s.lag_ms.store(lag.as_millis() as u64, Ordering::SeqCst);
                self.inner
                    .metrics
                    .set_replica(&s.name, s.up.load(Ordering::SeqCst), lag);
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// The age of the oldest event past `replayed` (0 when there is none).
    fn lag_of(&self, replayed: u64) -> Duration {
        let Ok(ev) = self.inner.events.lock() else {
            return Duration::ZERO;
        };
        ev.iter()
            .find(|(lsn, _)| *lsn > replayed)
            .map_or(Duration::ZERO, |(_, at)| at.elapsed())
    }
}

/// The connection of one read: a standby (falling back on the primary) or the primary.
pub enum ReadConn<'a> {
    Primary(&'a DatabaseConnection),
    Standby {
        standby: &'a Standby,
        primary: &'a DatabaseConnection,
        metrics: &'a Arc<Metrics>,
    },
}

impl ReadConn<'_> {
    /// Whether a failed standby read is read again on the primary; a standby that was lost
    /// leaves the rotation at once (not only at its next poll), so that the reads starting
    /// after this one do not wait on it too.
    fn fall_back(standby: &Standby, metrics: &Metrics, e: &DbErr) -> bool {
        let Some(why) = retry_on_primary(e) else {
            return false;
        };
        if why == Fallback::Lost {
            standby.lost.fetch_add(1, Ordering::SeqCst);
        }
        if why == Fallback::Lost && standby.up.swap(false, Ordering::SeqCst) {
            tracing::warn!(standby = %standby.name, error = %e, "standby out of rotation; reads go elsewhere");
        }
        tracing::debug!(error = %e, "a standby could not answer; read again on the primary");
        metrics.replica_fallback();
        true
    }
}

/// `$call` (an expression using `$conn`) on the standby, read again on the primary when the
/// standby cannot answer; straight on the primary once the standby left the rotation (a read
/// may run several statements: only the first waits on a standby that went away).
macro_rules! on_standby_or_primary {
    ($self:ident, $conn:ident, $arg:ident => $call:expr) => {
        match $self {
            ReadConn::Primary($conn) => $call.await,
            ReadConn::Standby {
                standby,
                primary: $conn,
                metrics,
            } => {
                let first = if standby.up.load(Ordering::SeqCst) {
                    let $conn = &standby.conn;
                    let $arg = $arg.clone();
                    Some($call.await)
                } else {
                    None
                };
                match first {
                    Some(Err(e)) if Self::fall_back(standby, metrics, &e) => $call.await,
                    Some(answer) => answer,
                    None => $call.await,
                }
            }
        }
    };
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadConn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            ReadConn::Primary(p) => p.get_database_backend(),
            ReadConn::Standby { standby, .. } => standby.conn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        on_standby_or_primary!(self, c, stmt => c.execute_raw(stmt))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        on_standby_or_primary!(self, c, sql => c.execute_unprepared(sql))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        on_standby_or_primary!(self, c, stmt => c.query_one_raw(stmt))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        on_standby_or_primary!(self, c, stmt => c.query_all_raw(stmt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_as_numbers() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B3748));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert!(parse_lsn("16/B374D848").unwrap() > parse_lsn("16/B374D847").unwrap());
        assert!(parse_lsn("17/0").unwrap() > parse_lsn("16/FFFFFFFF").unwrap());
        for bad in ["", "0", "x/1", "1/2/3"] {
            assert_eq!(parse_lsn(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_conflicts_and_lost_connections_go_to_the_primary() {
        use sea_orm::RuntimeErr;
        let io = sea_orm::sqlx::Error::Io(std::io::Error::other("connection reset"));
        assert_eq!(
            retry_on_primary(&DbErr::Query(RuntimeErr::SqlxError(Arc::new(io)))),
            Some(Fallback::Lost)
        );
        assert_eq!(
            retry_on_primary(&DbErr::Conn(RuntimeErr::Internal("refused".into()))),
            Some(Fallback::Lost)
        );
        let not_found = sea_orm::sqlx::Error::RowNotFound;
        assert_eq!(
            retry_on_primary(&DbErr::Query(RuntimeErr::SqlxError(Arc::new(not_found)))),
            None
        );
        assert_eq!(retry_on_primary(&DbErr::Custom("a bug".into())), None);
    }
}
