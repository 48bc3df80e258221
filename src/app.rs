//! Putting the parts together: the API server (and, when upstreams are configured, the sync
//! loop) over one database, as `serve` and `demo` run it and as the integration tests start it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiContext, Limits};
use crate::config::{ApiArgs, Sources};
use crate::db::Db;
use crate::http::{self, AppState, HttpOptions};
use crate::metrics::Metrics;
use crate::sync::worker::{self, SyncLock};
use crate::sync::{SyncSettings, Syncer};

/// How the API is served.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub listen_addr: SocketAddr,
    pub limits: Limits,
    pub http: HttpOptions,
}

impl From<&ApiArgs> for ServerSettings {
    fn from(a: &ApiArgs) -> Self {
        ServerSettings {
            listen_addr: a.listen_addr,
            limits: Limits {
                max_depth: a.max_depth,
                max_complexity: a.max_complexity,
            },
            http: HttpOptions {
                cors_origins: a.cors_origins.clone(),
                max_body_bytes: a.max_body_bytes,
                request_timeout: a.request_timeout,
            },
        }
    }
}

/// A running API server.
pub struct RunningServer {
    /// Where it listens (the real port when the setting asked for port 0).
    pub addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Waits until the server has stopped (after `shutdown` was cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }
}

/// Binds the listen address and serves the API until `shutdown` is cancelled.
pub async fn start_server(
    db: Db,
    sources: &Sources,
    settings: &ServerSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningServer> {
    let ctx = ApiContext::new(db.clone(), sources.networks());
    let schema = api::schema(ctx, settings.limits);
    let state = AppState {
        schema,
        db,
        metrics,
    };
    let router = http::router(state, &settings.http);
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(http::serve(listener, router, shutdown));
    Ok(RunningServer { addr, task })
}

/// `(network, address)` of every configured token.
fn token_pairs(sources: &Sources) -> Vec<(String, String)> {
    sources
        .tokens
        .iter()
        .map(|t| (t.network.clone(), t.address.clone()))
        .collect()
}

/// Records the configured tokens as tracked and starts the sync loop on its own task (none when
/// no token is configured).
pub async fn start_sync(
    db: Db,
    sources: &Sources,
    settings: SyncSettings,
    lock: SyncLock,
    interval: std::time::Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let syncer = prepare_sync(db, sources, settings, metrics).await?;
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
    db: Db,
    sources: &Sources,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Syncer> {
    crate::db::tokens::set_tracked(db.conn(), &token_pairs(sources), crate::db::now())
        .await
        .context("cannot record the tracked tokens")?;
    Ok(Syncer::new(db, sources, settings, metrics)?)
}
