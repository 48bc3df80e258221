//! The numbers behind `/metrics` (Prometheus text format): HTTP requests and their latency, rows
//! synced, sync errors, and how far each upstream trails the clock.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    path: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NetworkLabels {
    network: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StandbyLabels {
    standby: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    network: String,
    kind: String,
}

type HistogramFamily = Family<PathLabels, Histogram, fn() -> Histogram>;

/// Every metric the process exports. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    rows_synced: Family<NetworkLabels, Counter>,
    sync_errors: Family<ErrorLabels, Counter>,
    upstream_block: Family<NetworkLabels, Gauge>,
    upstream_lag: Family<NetworkLabels, Gauge>,
    feed_events: Counter,
    feed_reconnects: Counter,
    feed_connected: Gauge,
    database_up: Gauge,
    rate_limited: Counter,
    replica_up: Family<StandbyLabels, Gauge>,
    replica_lag: Family<StandbyLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    replica_reads: Family<StandbyLabels, Counter>,
    replica_fallbacks: Counter,
    feed_delivery: Histogram,
    cache_lookups: Family<CacheLabels, Counter>,
    cache_evictions: Counter,
    cache_bytes: Gauge,
    cache_entries: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tokenmirror");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let rows_synced = Family::<NetworkLabels, Counter>::default();
        let sync_errors = Family::<ErrorLabels, Counter>::default();
        let upstream_block = Family::<NetworkLabels, Gauge>::default();
        let upstream_lag = Family::<NetworkLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "sync_rows",
            "Hourly rows inserted or changed by the sync",
            rows_synced.clone(),
        );
        registry.register(
            "sync_errors",
            "Sync failures, after retries, by network and kind (transient or permanent)",
            sync_errors.clone(),
        );
        registry.register(
            "upstream_block",
            "The upstream's head block at the last pass",
            upstream_block.clone(),
        );
        registry.register(
            "upstream_lag_seconds",
            "Seconds between the upstream head block's time and the last pass",
            upstream_lag.clone(),
        );
        let feed_events = Counter::default();
        let feed_reconnects = Counter::default();
        let feed_connected = Gauge::default();
        let replica_up = Family::<StandbyLabels, Gauge>::default();
        let replica_lag =
            Family::<StandbyLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let replica_reads = Family::<StandbyLabels, Counter>::default();
        let replica_fallbacks = Counter::default();
        registry.register(
            "replica_up",
            "1 while a standby of DATABASE_READ_URLS answers its replay-position checks",
            replica_up.clone(),
        );
        registry.register(
            "replica_lag_seconds",
            "Age of the oldest change-feed event a standby has not replayed (0: caught up)",
            replica_lag.clone(),
        );
        registry.register(
            "replica_reads",
            "API reads by where they ran (a standby, or primary)",
            replica_reads.clone(),
        );
        registry.register(
            "replica_fallbacks",
            "Reads a standby could not answer (recovery conflict, lost connection), run again on the primary",
            replica_fallbacks.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Requests refused by the per-client rate limit (RATE_LIMIT)",
            rate_limited.clone(),
        );
        let database_up = Gauge::default();
        database_up.set(1);
        registry.register(
            "database_up",
            "1 while the database answers the server's health checks (every 0.5 s on PostgreSQL), else 0",
            database_up.clone(),
        );
        // 100 µs … ~6.5 s.
        let feed_delivery = Histogram::new(exponential_buckets(0.0001, 2.0, 17));
        let cache_lookups = Family::<CacheLabels, Counter>::default();
        let cache_evictions = Counter::default();
        let cache_bytes = Gauge::default();
        let cache_entries = Gauge::default();
        registry.register(
            "feed_events_applied",
            "Change-feed events applied (each invalidates what it touched)",
            feed_events.clone(),
        );
        registry.register(
            "feed_reconnects",
            "Connections to the change feed's source lost (each treated as: everything changed)",
            feed_reconnects.clone(),
        );
        registry.register(
            "feed_connected",
            "1 while this process hears of other processes' writes (LISTEN connection, or the log poller), else 0",
            feed_connected.clone(),
        );
        registry.register(
            "feed_delivery_seconds",
            "From a write's COMMIT (writer's clock) to its event being applied here",
            feed_delivery.clone(),
        );
        registry.register(
            "cache_lookups",
            "Response-cache lookups by result (hit, miss)",
            cache_lookups.clone(),
        );
        registry.register(
            "cache_evictions",
            "Response-cache entries evicted for room",
            cache_evictions.clone(),
        );
        registry.register(
            "cache_bytes",
            "Weighed size of the response cache",
            cache_bytes.clone(),
        );
        registry.register(
            "cache_entries",
            "Answers in the response cache",
            cache_entries.clone(),
        );
        Metrics {
            feed_events,
            feed_reconnects,
            feed_connected,
            database_up,
            rate_limited,
            replica_up,
            replica_lag,
            replica_reads,
            replica_fallbacks,
            feed_delivery,
            cache_lookups,
            cache_evictions,
            cache_bytes,
            cache_entries,
            registry,
            requests,
            latency,
            rows_synced,
            sync_errors,
            upstream_block,
            upstream_lag,
        }
    }
}

impl Metrics {
    /// Counts one HTTP request on `path` (the route, not the raw URL).
    pub fn observe_request(&self, path: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                path: path.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&PathLabels {
                path: path.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts rows the sync inserted or changed.
    pub fn add_rows_synced(&self, network: &str, rows: u64) {
        self.rows_synced
            .get_or_create(&NetworkLabels {
                network: network.to_owned(),
            })
            .inc_by(rows);
    }

    /// Counts one sync error of `kind` (`transient` or `permanent`).
    pub fn add_sync_error(&self, network: &str, kind: &str) {
        self.sync_errors
            .get_or_create(&ErrorLabels {
                network: network.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Records the upstream's head block and its lag behind `now`.
    pub fn set_upstream(&self, network: &str, block: i64, lag_seconds: i64) {
        let labels = NetworkLabels {
            network: network.to_owned(),
        };
        self.upstream_block.get_or_create(&labels).set(block);
        self.upstream_lag.get_or_create(&labels).set(lag_seconds);
    }

    /// Counts one change-feed event applied (`_network` kept for a future label).
    pub fn feed_event_applied(&self, _network: Option<&str>) {
        self.feed_events.inc();
    }

    /// Change-feed events applied so far.
    pub fn feed_events_applied(&self) -> u64 {
        self.feed_events.get()
    }

    /// Records how long an event took from its writer's commit to being applied here.
    pub fn feed_delivery(&self, seconds: f64) {
        self.feed_delivery.observe(seconds);
    }

    /// Counts a lost connection to the change feed's source.
    pub fn feed_reconnect(&self) {
        self.feed_reconnects.inc();
        self.feed_connected.set(0);
    }

    /// Lost connections to the change feed's source so far.
    pub fn feed_reconnects(&self) -> u64 {
        self.feed_reconnects.get()
    }

    /// Records that this process hears of other processes' writes (again).
    /// A standby's state after a check.
    pub fn set_replica(&self, standby: &str, up: bool, lag: std::time::Duration) {
        let labels = StandbyLabels {
            standby: standby.to_owned(),
        };
        self.replica_up.get_or_create(&labels).set(i64::from(up));
        self.replica_lag
            .get_or_create(&labels)
            .set(lag.as_secs_f64());
    }

    /// Counts a read run on `standby` (or "primary").
    pub fn replica_read(&self, standby: &str) {
        self.replica_reads
            .get_or_create(&StandbyLabels {
                standby: standby.to_owned(),
            })
            .inc();
    }

    /// Counts a read a standby could not answer.
    pub fn replica_fallback(&self) {
        self.replica_fallbacks.inc();
    }

    /// Counts a request refused by the rate limit.
    pub fn add_rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Whether the database answers the health checks.
    pub fn set_database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    pub fn feed_connected(&self) {
        self.feed_connected.set(1);
    }

    /// Whether this process hears of other processes' writes.
    pub fn is_feed_connected(&self) -> bool {
        self.feed_connected.get() == 1
    }

    /// Counts a response-cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache_lookups
            .get_or_create(&CacheLabels { result })
            .inc();
    }

    /// Counts an eviction for room.
    pub fn cache_eviction(&self) {
        self.cache_evictions.inc();
    }

    /// Records the cache's size.
    pub fn cache_size(&self, bytes: u64, entries: u64) {
        self.cache_bytes.set(bytes as i64);
        self.cache_entries.set(entries as i64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
