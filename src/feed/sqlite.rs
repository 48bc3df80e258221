//! Noticing on SQLite the writes of another process on the same file (a `tokenmirror sync`
//! loop beside a `serve --no-sync`): the log is polled every 100 ms on a read-only connection of
//! its own. A gap in the positions (rows pruned before this reader saw them) means everything
//! changed.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tokio_util::sync::CancellationToken;

use super::{log, Event, Feed};
use crate::config::DatabaseUrl;

/// How often the log is read.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// Polls `url`'s log into `feed` until `shutdown`.
pub async fn run(url: DatabaseUrl, feed: Feed, shutdown: CancellationToken) {
    let mut conn: Option<DatabaseConnection> = None;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if conn.is_none() {
            conn = connect(&url).await;
            if conn.is_some() {
                feed.connected();
            }
        }
        let Some(c) = &conn else { continue };
        match poll(c, &feed).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log; reconnecting");
                feed.reconnecting();
                conn = None;
            }
        }
    }
}

async fn connect(url: &DatabaseUrl) -> Option<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.as_str().to_owned());
    opts.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.read_only(true));
    match Database::connect(opts).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open a connection to poll the change log");
            None
        }
    }
}

/// Applies the records after the feed's position.
async fn poll(conn: &DatabaseConnection, feed: &Feed) -> Result<(), sea_orm::DbErr> {
    loop {
        let seen = feed.position();
        let records = log::after(conn, seen, 1000).await?;
        let Some(first) = records.first() else {
            return Ok(());
        };
        if seen > 0 && first.seq > seen + 1 {
            feed.everything("the change log was pruned past this reader's position");
        }
        let full = records.len() == 1000;
        for r in records {
            feed.deliver(
                Event {
                    seq: r.seq,
                    change: r.change(),
                    committed_at: r.committed_at,
                },
                &r.origin,
            )
            .await;
        }
        if !full {
            return Ok(());
        }
    }
}
