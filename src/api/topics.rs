//! Live candles, computed once per change for every subscriber: a topic per (token, interval,
//! fillGaps) follows the change feed, recomputes the buckets from the newest one pushed on when
//! a write touches the token, and broadcasts each bucket that changed or appeared. A thousand
//! subscribers of one token cost one query per write, not a thousand; a topic ends with its last
//! subscriber.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;

use super::candles::{self, Candle, CandleRequest, Interval};
use crate::db::Db;
use crate::domain::TokenKey;
use crate::feed::{Change, Feed};

/// Candles a subscriber may fall behind by before it is dropped.
const BACKLOG: usize = 64;
/// The most buckets one recomputation pushes (after a long pause, the next write pushes on).
const MAX_NEW_BUCKETS: i64 = 1000;

/// What a topic follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicKey {
    pub token: TokenKey,
    pub interval: Interval,
    pub fill_gaps: bool,
}

/// The live candles of one key.
pub struct Topic {
    tx: broadcast::Sender<Arc<Candle>>,
    /// The newest bucket pushed so far.
    latest: Arc<Mutex<Option<Arc<Candle>>>>,
    task: JoinHandle<()>,
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Topic {
    /// The newest bucket so far (a new subscriber's first candle) and every later push.
    pub fn subscribe(&self) -> (Option<Arc<Candle>>, broadcast::Receiver<Arc<Candle>>) {
        // Subscribe first: a push between the two steps then arrives twice rather than never.
        let rx = self.tx.subscribe();
        let latest = self.latest.lock().ok().and_then(|l| l.clone());
        (latest, rx)
    }
}

/// Every live topic of a server.
#[derive(Clone, Default)]
pub struct Topics {
    live: Arc<Mutex<HashMap<TopicKey, Weak<Topic>>>>,
}

impl Topics {
    /// The topic of `key`, started if nobody follows it yet. Its first bucket is computed before
    /// this returns, so that a new subscriber starts with it.
    pub async fn topic(
        &self,
        key: TopicKey,
        db: &Db,
        feed: &Feed,
    ) -> Result<Arc<Topic>, sea_orm::DbErr> {
        if let Some(t) = self.find(&key) {
            return Ok(t);
        }
        // Listen before the first computation, so that no write falls in between.
        let events = feed.subscribe();
        let first = newest_from(db, &key, i64::MIN).await?;
        let latest = Arc::new(Mutex::new(first.last().cloned().map(Arc::new)));
        let (tx, _) = broadcast::channel(BACKLOG);
        let task = tokio::spawn(follow(
            key.clone(),
            db.clone(),
            events,
            tx.clone(),
            latest.clone(),
        ));
        let topic = Arc::new(Topic { tx, latest, task });
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // Another subscriber may have started one meanwhile: keep a single topic per key.
        if let Some(t) = live.get(&key).and_then(Weak::upgrade) {
            return Ok(t);
        }
        live.retain(|_, t| t.strong_count() > 0);
        live.insert(key, Arc::downgrade(&topic));
        Ok(topic)
    }

    fn find(&self, key: &TopicKey) -> Option<Arc<Topic>> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(key).and_then(Weak::upgrade)
    }

    /// Topics followed now.
    pub fn count(&self) -> usize {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.values().filter(|t| t.strong_count() > 0).count()
    }
}

/// The buckets of `key` starting at or after `from`, oldest first, with no bound in time (the
/// upstream's clock may run ahead of this machine's).
async fn newest_from(db: &Db, key: &TopicKey, from: i64) -> Result<Vec<Candle>, sea_orm::DbErr> {
    let descending = from == i64::MIN;
    let req = CandleRequest {
        network: &key.token.network,
        address: &key.token.address,
        from: if descending { 0 } else { from },
        to: i64::MAX / 2,
        interval: key.interval,
        fill_gaps: key.fill_gaps,
        // The first time: only the newest bucket.
        descending,
        limit: if descending { 1 } else { MAX_NEW_BUCKETS },
        open_ended: false,
    };
    let mut out = candles::candles(&db.read()?, &req).await?.candles;
    if descending {
        out.reverse();
    }
    Ok(out)
}

/// The topic's task: on every write to its token (or "everything changed"), recompute from the
/// newest bucket pushed and push what changed or appeared.
async fn follow(
    key: TopicKey,
    db: Db,
    mut events: broadcast::Receiver<Arc<crate::feed::Event>>,
    tx: broadcast::Sender<Arc<Candle>>,
    latest: Arc<Mutex<Option<Arc<Candle>>>>,
) {
    loop {
        match events.recv().await {
            Ok(e) => match &e.change {
                Change::Hours { token, .. } if *token == key.token => {}
                Change::Everything => {}
                _ => continue,
            },
            // Missed some events: recompute as if everything changed.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        // Several writes in a row (a pass's pages) need one recomputation.
        while let Ok(e) = events.try_recv() {
            let _ = e;
        }
        let current = latest.lock().ok().and_then(|l| l.clone());
        let from = current.as_ref().map_or(i64::MIN, |c| c.period_start_unix);
        let buckets = match newest_from(&db, &key, from).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, token = %key.token.address, "cannot recompute live candles");
                continue;
            }
        };
        let mut last = current;
        for c in buckets {
            let changed = match &last {
                Some(l) if l.period_start_unix == c.period_start_unix => **l != c,
                Some(l) => c.period_start_unix > l.period_start_unix,
                None => true,
            };
            if changed {
                let c = Arc::new(c);
                if let Ok(mut l) = latest.lock() {
                    *l = Some(c.clone());
                }
                // Nobody listening right now is fine.
                let _ = tx.send(c.clone());
                last = Some(c);
            }
        }
    }
}
