//! Putting the parts together: the API server, the change feed's watcher and the sync loop over
//! one database, as `serve`, `sync` and `demo` run them and as the integration tests start them.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::subscriptions::{Live, SubscriptionLimits};
use crate::api::{self, ApiContext, Limits};
use crate::config::{ApiArgs, DatabaseUrl, Sources};
use crate::db::Db;
use crate::domain::Clock;
use crate::feed::{self, Change, Feed};
use crate::http::cache::ResponseCache;
use crate::http::{self, AppState, HttpOptions};
use crate::metrics::Metrics;
use crate::sync::worker::{self, SyncLock};
use crate::sync::{SyncSettings, Syncer};

/// What every part of one process shares: the database, the metrics and the change feed.
#[derive(Clone)]
pub struct Shared {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub feed: Feed,
}

impl Shared {
    /// The shared parts over `db`, with a feed of their own.
    pub fn new(db: Db) -> Shared {
        let metrics = Arc::new(Metrics::default());
        let feed = Feed::new(metrics.clone());
        Shared { db, metrics, feed }
    }
}

/// How the API is served.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub listen_addr: SocketAddr,
    pub limits: Limits,
    pub http: HttpOptions,
    /// The response cache's size in bytes (0: no cache).
    pub cache_bytes: u64,
    /// Where the API reads "now" from.
    pub clock: Clock,
    /// How many subscriptions may be open.
    pub subscriptions: SubscriptionLimits,
    /// The sync's `OVERLAP` (hours older than now minus it are settled).
    pub overlap: std::time::Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            limits: Limits::default(),
            http: HttpOptions::default(),
            cache_bytes: crate::config::DEFAULT_CACHE_BYTES,
            clock: Clock::System,
            subscriptions: SubscriptionLimits::default(),
            overlap: std::time::Duration::from_secs(3 * 3600),
        }
    }
}

impl TryFrom<&ApiArgs> for ServerSettings {
    type Error = anyhow::Error;

    /// The settings of `serve`; fails when PERSISTED_QUERIES_FILE cannot be read.
    fn try_from(a: &ApiArgs) -> anyhow::Result<Self> {
        let persisted = match (&a.persisted_queries_file, a.persisted_only) {
            (Some(path), true) => {
                http::persisted::Persisted::only_from_file(path).map_err(anyhow::Error::msg)?
            }
            _ if a.persisted_queries == "off" => http::persisted::Persisted::off(),
            _ => http::persisted::Persisted::automatic(),
        };
        Ok(ServerSettings {
            listen_addr: a.listen_addr,
            limits: Limits {
                max_depth: a.max_depth,
                max_complexity: a.max_complexity,
            },
            http: HttpOptions {
                cors_origins: a.cors_origins.clone(),
                max_body_bytes: a.max_body_bytes,
                request_timeout: a.request_timeout,
                bench_fixed_body: a.bench_fixed_body,
                client: Default::default(),
                rate_limit: a.rate_limit.map(|rate| http::ratelimit::RateLimitConfig {
                    rate,
                    burst: a.rate_burst,
                    trusted_proxies: a.trusted_proxies.clone(),
                }),
                persisted,
            },
            cache_bytes: a.cache_bytes,
            clock: Clock::System,
            subscriptions: SubscriptionLimits {
                total: a.max_subscriptions,
                per_connection: a.max_subscriptions_per_connection,
            },
            overlap: ServerSettings::default().overlap,
        })
    }
}

/// A running API server.
pub struct RunningServer {
    /// Where it listens (the real port when the setting asked for port 0).
    pub addr: SocketAddr,
    /// Its response cache (tests settle it to measure it).
    pub cache: ResponseCache,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Waits until the server has stopped (after `shutdown` was cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }
}

/// Binds the listen address and serves the API until `shutdown` is cancelled; `networks` are
/// the configured ones, the default first.
pub async fn start_server(
    shared: &Shared,
    networks: Vec<String>,
    settings: &ServerSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningServer> {
    let ctx = ApiContext::new(
        shared.db.clone(),
        networks,
        shared.feed.clone(),
        settings.clock.clone(),
    )
    .with_overlap(settings.overlap);
    let schema = api::schema(
        ctx.clone(),
        settings.limits,
        Live::new(settings.subscriptions),
    );
    let cache = ResponseCache::new(
        settings.cache_bytes,
        shared.feed.clone(),
        settings.clock.clone(),
        shared.metrics.clone(),
    );
    let state = AppState {
        schema,
        db: shared.db.clone(),
        metrics: shared.metrics.clone(),
        cache: cache.clone(),
        feed: shared.feed.clone(),
        api: ctx,
        documents: Default::default(),
        limits: settings.limits,
        shutdown: shutdown.clone(),
        persisted: settings.http.persisted.clone(),
    };
    if !shared.db.url().is_sqlite() {
        tokio::spawn(crate::db::health::watch(
            shared.db.url().clone(),
            shared.db.health().clone(),
            shared.metrics.clone(),
            shutdown.clone(),
        ));
    }
    let router = http::router(state, &settings.http);
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(http::serve(
        listener,
        router,
        settings.http.client,
        shutdown,
    ));
    Ok(RunningServer { addr, cache, task })
}

/// Starts the feed at the log's newest position and watches the database for the writes of
/// other processes: `LISTEN` on PostgreSQL, polling the log on SQLite.
pub async fn start_feed(
    shared: &Shared,
    url: &DatabaseUrl,
    shutdown: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let newest = feed::log::newest(shared.db.conn())
        .await
        .context("cannot read the change log")?;
    shared.feed.start_at(newest);
    let (url, feed) = (url.clone(), shared.feed.clone());
    Ok(if url.is_sqlite() {
        tokio::spawn(feed::sqlite::run(url, feed, shutdown))
    } else {
        tokio::spawn(feed::postgres::run(url, feed, shutdown))
    })
}

/// Records the configured tokens as tracked and starts the sync loop on its own task (none when
/// no token is configured).
pub async fn start_sync(
    shared: &Shared,
    sources: &Sources,
    settings: SyncSettings,
    lock: SyncLock,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let syncer = prepare_sync(shared, sources, settings).await?;
    if sources.tokens.is_empty() {
        tracing::info!("no TOKENS configured: serving stored data without syncing");
        return Ok(None);
    }
    Ok(Some(tokio::spawn(worker::run(
        syncer, lock, interval, shutdown,
    ))))
}

/// Records the configured tokens as tracked and builds the syncer of every network.
pub async fn prepare_sync(
    shared: &Shared,
    sources: &Sources,
    settings: SyncSettings,
) -> anyhow::Result<Syncer> {
    let tokens: Vec<(String, String)> = sources
        .tokens
        .iter()
        .map(|t| (t.network.clone(), t.address.clone()))
        .collect();
    let tokens = &tokens;
    shared
        .feed
        .write(&shared.db, Change::Everything, |tx| async move {
            crate::db::tokens::mark_tracked(&tx, tokens, crate::db::now()).await?;
            Ok(tx)
        })
        .await
        .context("cannot record the tracked tokens")?;
    Ok(Syncer::new(
        shared.db.clone(),
        sources,
        settings,
        shared.metrics.clone(),
        shared.feed.clone(),
    )?)
}
