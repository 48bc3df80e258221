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
        Metrics {
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

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
