//! The change feed: the one place that says "data changed". Every committed sync write becomes
//! an [`Event`]; the response cache, subscriptions and other `serve` processes listen here, and
//! nothing polls the database per reader.
//!
//! - In the writing process, [`Feed::commit`] records the change in `change_log` inside the
//!   write's transaction (with a `NOTIFY` on PostgreSQL), marks what it touches stale before
//!   `COMMIT` and again after it, then broadcasts the event.
//! - Other processes learn of it from [`postgres`] (`LISTEN`; a lost connection means
//!   "everything changed") or [`sqlite`] (polling `change_log` on a connection of its own).
//!
//! - [`change`]: what a write changed and which answers it makes stale;
//! - [`generations`]: telling a stale answer from a fresh one;
//! - [`log`]: the `change_log` table.

pub mod change;
pub mod generations;
pub mod log;
pub mod postgres;
pub mod sqlite;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sea_orm::DbErr;
use tokio::sync::broadcast;

pub use change::{Change, DepKey, Record};
pub use generations::{Deps, Generations, Snapshot};

use crate::db::WriteTx;
use crate::metrics::Metrics;

/// Events kept for a slow subscriber before it is told it lagged (and treats everything as
/// changed).
const BROADCAST_CAPACITY: usize = 4096;

/// One committed change, as readers receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its position in the feed (`change_log.seq`); 0 for "everything changed" raised locally.
    pub seq: i64,
    pub change: Change,
    /// Unix microseconds just before the writer's `COMMIT` (0 when raised locally).
    pub committed_at: i64,
}

/// The feed of one process; cheap to clone.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    /// This process, as written in `change_log.origin`.
    origin: String,
    gens: Arc<Generations>,
    /// The highest `seq` applied.
    position: AtomicI64,
    events: broadcast::Sender<Arc<Event>>,
    metrics: Arc<Metrics>,
    /// Standbys serving this process's reads: told the primary's position before each event
    /// is applied (see [`crate::db::replicas`]).
    replicas: std::sync::OnceLock<crate::db::replicas::Replicas>,
    /// Pass results this process's sync could not store (the database refused the write, as
    /// on a full disk): `syncStatus` shows them until a later result is stored.
    unrecorded: std::sync::Mutex<std::collections::BTreeMap<(String, String), Unrecorded>>,
}

/// A token's failed pass whose result could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    pub error: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Feed {
    pub fn new(metrics: Arc<Metrics>) -> Feed {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Feed {
            inner: Arc::new(Inner {
                origin: format!("{:016x}", rand::random::<u64>()),
                gens: Arc::default(),
                position: AtomicI64::new(0),
                events,
                metrics,
                replicas: std::sync::OnceLock::new(),
                unrecorded: Default::default(),
            }),
        }
    }

    /// Keeps a token's failed pass that the database would not store (or forgets it: `None`,
    /// once a result is stored), and marks the status answers stale.
    pub fn unrecorded(&self, network: &str, address: &str, failure: Option<Unrecorded>) {
        if let Ok(mut m) = self.inner.unrecorded.lock() {
            let key = (network.to_owned(), address.to_owned());
            let changed = match failure {
                Some(f) => m.insert(key, f.clone()) != Some(f),
                None => m.remove(&key).is_some(),
            };
            if changed {
                self.inner.gens.bump(&DepKey::Status);
            }
        }
    }

    /// The failed passes kept by [`Feed::unrecorded`]: `((network, address), failure)`.
    pub fn unrecorded_failures(&self) -> Vec<((String, String), Unrecorded)> {
        self.inner
            .unrecorded
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Standbys whose reads must follow this feed (set once, at start).
    pub fn follow_with(&self, replicas: crate::db::replicas::Replicas) {
        let _ = self.inner.replicas.set(replicas);
    }

    /// Before an event is applied: standbys must replay the primary's current position before
    /// they serve reads again.
    async fn caught_up(&self) {
        if let Some(r) = self.inner.replicas.get() {
            r.note_event().await;
        }
    }

    /// This process hears of every write again (its `LISTEN` began): standbys serve reads once
    /// they reach the primary's position now.
    pub async fn listening(&self) {
        self.caught_up().await;
    }

    /// This process's id in `change_log.origin`.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The freshness counters the cache checks answers against.
    pub fn generations(&self) -> &Arc<Generations> {
        &self.inner.gens
    }

    /// The highest position applied so far.
    pub fn position(&self) -> i64 {
        self.inner.position.load(Ordering::SeqCst)
    }

    /// Starts a position at `seq` (the log's newest row when the process starts).
    pub fn start_at(&self, seq: i64) {
        self.inner.position.fetch_max(seq, Ordering::SeqCst);
    }

    /// Every event from now on. A receiver that falls behind gets `Lagged`: it must then treat
    /// everything as changed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.events.subscribe()
    }

    /// Marks what `change` touches stale.
    fn invalidate(&self, change: &Change) {
        match change.keys() {
            Some(keys) => keys.iter().for_each(|k| self.inner.gens.bump(k)),
            None => self.inner.gens.bump_all(),
        }
    }

    /// Commits `tx`, which wrote `change`: records it in the log (and notifies other processes)
    /// inside the transaction, marks it stale before and after `COMMIT`, then tells every local
    /// reader.
    pub async fn commit(&self, tx: WriteTx, change: Change) -> Result<(), DbErr> {
        let committed_at = now_micros();
        let record = Record::of(&change, self.origin(), committed_at);
        let seq = log::append(&tx, &record).await?;
        self.invalidate(&change);
        tx.commit().await?;
        self.caught_up().await;
        self.apply(Event {
            seq,
            change,
            committed_at,
        });
        Ok(())
    }

    /// Applies an event: marks what it touches stale, moves the position on, broadcasts it,
    /// and measures how long it took to get here from its writer's `COMMIT`.
    pub fn apply(&self, event: Event) {
        self.invalidate(&event.change);
        if event.seq > 0 {
            self.inner.position.fetch_max(event.seq, Ordering::SeqCst);
        }
        let metrics = &self.inner.metrics;
        metrics.feed_event_applied(event.change.network());
        let applied_at = now_micros();
        if event.committed_at > 0 {
            let delay = (applied_at - event.committed_at).max(0) as f64 / 1e6;
            metrics.feed_delivery(delay);
        }
        // One line per event (at debug level) lets a benchmark tell when each position became
        // visible here.
        let (token, first_hour, last_hour) = match &event.change {
            Change::Hours {
                token,
                first_hour,
                last_hour,
            } => (Some(token.address.as_str()), Some(*first_hour), *last_hour),
            _ => (None, None, None),
        };
        tracing::debug!(
            target: "tokenmirror::feed::events",
            seq = event.seq,
            committed_at = event.committed_at,
            applied_at,
            token,
            first_hour,
            last_hour,
            "change applied"
        );
        // No receiver is fine: nobody is listening.
        let _ = self.inner.events.send(Arc::new(event));
    }

    /// Applies an event read from the log or a notification; one this process wrote was
    /// applied at its commit, so only the position moves.
    pub async fn deliver(&self, event: Event, origin: &str) {
        if origin == self.origin() {
            self.inner.position.fetch_max(event.seq, Ordering::SeqCst);
        } else {
            self.caught_up().await;
            self.apply(event);
        }
    }

    /// Counts a lost connection to the feed's source (`/metrics`).
    pub fn reconnecting(&self) {
        self.inner.metrics.feed_reconnect();
    }

    /// Records that the feed's source is connected (again).
    pub fn connected(&self) {
        self.inner.metrics.feed_connected();
    }

    /// Everything may have changed (a reader lost track of the feed): `why` is logged.
    pub fn everything(&self, why: &str) {
        tracing::info!(reason = why, "treating everything as changed");
        // Until this process hears of writes again, standbys may be behind unnoticed.
        if let Some(r) = self.inner.replicas.get() {
            r.to_primary();
        }
        self.apply(Event {
            seq: 0,
            change: Change::Everything,
            committed_at: 0,
        });
    }

    /// Records a write outside a transaction of the caller's: begins one on `db`, runs `write`,
    /// commits it with [`Feed::commit`].
    pub async fn write<F, Fut>(
        &self,
        db: &crate::db::Db,
        change: Change,
        write: F,
    ) -> Result<(), DbErr>
    where
        F: FnOnce(WriteTx) -> Fut,
        Fut: std::future::Future<Output = Result<WriteTx, DbErr>>,
    {
        let tx = write(db.begin_write().await?).await?;
        self.commit(tx, change).await
    }
}

/// The wall clock in unix microseconds (writers and readers share one machine's clock, or
/// synchronized ones).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
