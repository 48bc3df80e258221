//! Hearing on PostgreSQL the writes of every process on the same database: a `LISTEN`
//! connection of its own, with every change in its notification. When the connection drops,
//! notifications sent meanwhile are lost: everything is treated as changed (the loss is logged
//! and counted in `/metrics`), the connection is made again with backoff, and everything is
//! treated as changed once more when it listens again (for what was committed in between).

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use super::{log::CHANNEL, Event, Feed, Record};
use crate::config::DatabaseUrl;

/// The `application_name` of the listening connection (so an operator can find it).
pub const APPLICATION_NAME: &str = "tokenmirror-listen";

/// Listens on `url` into `feed` until `shutdown`.
pub async fn run(url: DatabaseUrl, feed: Feed, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        let listener = tokio::select! {
            l = listen(&url) => l,
            _ = shutdown.cancelled() => return,
        };
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, wait_ms = backoff.as_millis() as u64, "cannot LISTEN for changes; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // What was committed before this LISTEN began was never notified here: answers
        // computed until now may have missed it.
        if first {
            feed.everything("listening for changes");
        } else {
            feed.everything("listening for changes again after a lost connection");
        }
        first = false;
        // Standbys serve reads again once they reach the primary's position now.
        feed.listening().await;
        feed.connected();
        loop {
            let next = tokio::select! {
                n = listener.try_recv() => n,
                _ = shutdown.cancelled() => return,
            };
            match next {
                Ok(Some(n)) => match serde_json::from_str::<Record>(n.payload()) {
                    Ok(r) => {
                        feed.deliver(
                            Event {
                                seq: r.seq,
                                change: r.change(),
                                committed_at: r.committed_at,
                            },
                            &r.origin,
                        )
                        .await
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a change notification does not parse");
                        feed.everything("a change notification did not parse");
                    }
                },
                Ok(None) | Err(_) => {
                    feed.reconnecting();
                    feed.everything("the LISTEN connection was lost");
                    break;
                }
            }
        }
    }
}

async fn listen(url: &DatabaseUrl) -> Result<PgListener, sea_orm::sqlx::Error> {
    let opts = PgConnectOptions::from_str(url.as_str())?.application_name(APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
