//! Whether the database answers, as last seen — so that, while it does not, a request fails at
//! once with a clear error instead of waiting for a pool connection that cannot come.
//!
//! On PostgreSQL a watcher ([`watch()`]) pings the server every [`PROBE_EVERY`] on a connection of
//! its own (a pooled one would queue behind the requests it is meant to judge), each ping
//! bounded by [`PROBE_TIMEOUT`]. A file database (SQLite) is always "up": its failures are
//! per statement (a full disk, a lock) and are reported by the statement.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{ConnectOptions, Connection};
use sea_orm::{DbErr, RuntimeErr};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseUrl;
use crate::metrics::Metrics;

/// How often the watcher checks.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one check (connecting included) may take before the database counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The database's state as last seen; cheap to clone.
#[derive(Clone, Debug)]
pub struct Health {
    up: Arc<watch::Sender<bool>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            up: Arc::new(watch::Sender::new(true)),
        }
    }
}

impl Health {
    /// True unless the last check failed.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// The error a request gets at once while the database is down (its message is logged;
    /// the client sees the generic internal error with its request id).
    pub fn check(&self) -> Result<(), DbErr> {
        if self.is_up() {
            Ok(())
        } else {
            Err(Self::unreachable())
        }
    }

    fn unreachable() -> DbErr {
        DbErr::Conn(RuntimeErr::Internal(
            "the database is unreachable (the last health check failed)".to_owned(),
        ))
    }

    /// `statement`, unless a check finds the database down first: then the error of
    /// [`Health::check`] at once. A statement in flight when the database goes away would
    /// otherwise wait for a pooled connection that cannot come, or for an answer from a
    /// server that hangs, until its request times out.
    pub async fn unless_down<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let mut up = self.up.subscribe();
        tokio::select! {
            biased;
            answer = statement => answer,
            _ = up.wait_for(|up| !*up) => Err(Self::unreachable()),
        }
    }

    /// Records a check's result; logs and counts changes.
    fn set(&self, up: bool, why: &str, metrics: &Metrics) {
        let was = self.up.send_replace(up);
        metrics.set_database_up(up);
        match (was, up) {
            (true, false) => tracing::error!(
                reason = why,
                "the database is unreachable: requests that need it fail at once until it answers again"
            ),
            (false, true) => tracing::info!("the database answers again"),
            _ => {}
        }
    }
}

/// Checks the PostgreSQL server of `url` every [`PROBE_EVERY`] until `shutdown`, recording the
/// result in `health`.
pub async fn watch(
    url: DatabaseUrl,
    health: Health,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let opts = match PgConnectOptions::from_str(url.as_str()) {
        Ok(o) => o
            .application_name("tokenmirror-health")
            .disable_statement_logging(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the database's health");
            return;
        }
    };
    let mut conn: Option<PgConnection> = None;
    loop {
        let result = tokio::time::timeout(PROBE_TIMEOUT, probe(&opts, &mut conn)).await;
        match result {
            Ok(Ok(())) => health.set(true, "", &metrics),
            Ok(Err(e)) => {
                conn = None;
                health.set(false, &e.to_string(), &metrics);
            }
            Err(_) => {
                conn = None;
                health.set(
                    false,
                    "no answer within the health check's timeout",
                    &metrics,
                );
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// One check: (re)connect when needed, then a round trip.
async fn probe(
    opts: &PgConnectOptions,
    conn: &mut Option<PgConnection>,
) -> Result<(), sea_orm::sqlx::Error> {
    if conn.is_none() {
        *conn = Some(PgConnection::connect_with(opts).await?);
    }
    match conn {
        Some(c) => c.ping().await,
        None => Ok(()),
    }
}
