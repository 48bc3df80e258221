//! The offline Uniswap v3 subgraph (`tokenmirror simulate`): a real HTTP GraphQL server that
//! answers the part of the subgraph's query API the mirror uses — `tokens`, `token`,
//! `tokenHourDatas`, `tokenHourData`, `_meta` — the way graph-node does, over deterministic
//! synthetic data, with faults on demand. Tests, demos and benchmarks point the sync at it.
//!
//! # Layout
//!
//! - `schema`: the upstream SDL ([`tokenmirror_subgraph::SDL`]), the single source of truth for
//!   names, types and arguments; `value` coerces inputs to it.
//! - `plan`: parse, validate and plan a query; `error` holds graph-node's error texts.
//! - `exec`: resolve a plan at a block; `output` writes the JSON; `filter` (with
//!   `ops`) and `order` implement `where`, `orderBy`, `skip` and `first`; decimals compare
//!   exactly ([`tokenmirror_subgraph::decimal`]).
//! - `market`: tokens, the price walk, gaps and each hour's events; `rows` aggregates them
//!   into hourly rows and keeps the completed ones; `tokens` computes `Token` at a time.
//! - `clock`: the simulated clock, blocks and the deployment id; `noise`: deterministic
//!   randomness.
//! - `faults` and `http`: failures on demand and the server.
//!
//! # The data
//!
//! The data depends only on the seed, the token count, the history and the clock — never on the
//! fault flags. Each (token, hour) has a fixed list of events; the row of an hour at time `t`
//! aggregates the events up to `t`, so the current hour keeps changing and a new hour appears
//! when its first event happens. About a fifth of the hours, in runs, have no events and so no
//! row. Moving the clock forward only changes the current hour and adds new ones.

mod clock;
mod exec;
mod faults;
mod http;
mod market;
mod noise;
mod rows;
mod tokens;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use tokenmirror_subgraph::query;

use clock::Clock;
pub use clock::GENESIS_UNIX;
use market::TokenParams;
use rows::Store;

/// What the simulated upstream serves and how it misbehaves (the `tokenmirror simulate` flags).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The same seed, token count, history and clock give byte-identical answers.
    pub seed: u64,
    /// Number of simulated tokens.
    pub tokens: u32,
    /// Hourly rows exist for hours starting in `[now - history, now]`, gaps aside.
    pub history: Duration,
    /// A frozen clock (unix seconds); `None` runs it from the wall clock.
    pub now: Option<i64>,
    /// How many times faster than the wall clock the clock runs.
    pub speed: f64,
    /// Share of requests (0…1) that fail.
    pub fail_rate: f64,
    /// Delay before every answer.
    pub latency: Duration,
    /// How far `_meta` and the served data trail the clock (indexing lag).
    pub lag: Duration,
    /// Largest `skip` accepted (the hosted service allowed 5000).
    pub max_skip: u64,
    /// Serve malformed hourly rows for the token with this index.
    pub corrupt_token: Option<u32>,
}

impl Default for SimConfig {
    /// Seed 1, 5 tokens, 400 days, the wall clock, no faults.
    fn default() -> Self {
        SimConfig {
            seed: 1,
            tokens: 5,
            history: Duration::from_secs(400 * 86_400),
            now: None,
            speed: 1.0,
            fail_rate: 0.0,
            latency: Duration::ZERO,
            lag: Duration::ZERO,
            max_skip: 5000,
            corrupt_token: None,
        }
    }
}

/// The simulated subgraph: cheap to clone (every clone is the same simulator).
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    seed: u64,
    tokens: Vec<TokenParams>,
    deployment: String,
    /// The index of the token whose rows are served malformed, `u32::MAX` for none
    /// (changeable while serving).
    corrupt: AtomicU32,
    max_skip: u64,
    latency: Duration,
    clock: Clock,
    /// `--history` in seconds: rows exist for hours starting in `[now - history, now]`.
    history: i64,
    store: RwLock<Store>,
    hidden: RwLock<HashSet<(u32, i64)>>,
    /// The fail rate's `f64` bits (changeable while serving).
    fail_rate: AtomicU64,
    /// Requests received so far: faults are decided per request number.
    requests: AtomicU64,
    /// Requests numbered from this one on wait for [`Simulator::release`] (a test hook).
    stall_from: AtomicU64,
    /// Wakes stalled requests, and tells a test that one is waiting.
    stalled: tokio::sync::watch::Sender<StallState>,
}

/// Whether requests past the stall point are held, and how many are.
#[derive(Debug, Clone, Copy, Default)]
struct StallState {
    released: bool,
    waiting: u64,
}

impl Simulator {
    /// A simulator as configured; the completed hours of the history are computed here.
    pub fn new(args: &SimConfig) -> Simulator {
        let tokens: Vec<TokenParams> = (0..args.tokens)
            .map(|i| TokenParams::generate(args.seed, i))
            .collect();
        let lag = i64::try_from(args.lag.as_secs()).unwrap_or(i64::MAX);
        let clock = Clock::new(args.now, args.speed, lag);
        let history = i64::try_from(args.history.as_secs()).unwrap_or(i64::MAX);
        let first_hour = window_start(clock.now(), history);
        let until = head_hour(&clock).max(first_hour);
        let store = Store::new(&tokens, first_hour, until);
        Simulator {
            inner: Arc::new(Inner {
                seed: args.seed,
                deployment: clock::deployment(args.seed),
                tokens,
                corrupt: AtomicU32::new(args.corrupt_token.unwrap_or(u32::MAX)),
                max_skip: args.max_skip,
                latency: args.latency,
                clock,
                history,
                store: RwLock::new(store),
                hidden: RwLock::new(HashSet::new()),
                fail_rate: AtomicU64::new(args.fail_rate.clamp(0.0, 1.0).to_bits()),
                requests: AtomicU64::new(0),
                stall_from: AtomicU64::new(u64::MAX),
                stalled: tokio::sync::watch::Sender::new(StallState::default()),
            }),
        }
    }

    /// The HTTP routes: GraphQL by POST (and GET `?query=`) at `/` and `/graphql`. Served with
    /// [`Simulator::spawn`] or [`run`], dropped-connection faults close the socket; served by
    /// another server, they fail the response body instead.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Binds `addr` (port 0 picks one) and serves in a tokio task until [`SimHandle::stop`].
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(addr).await?;
        let url = url_of(listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(http::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Ok(SimHandle {
            url,
            sim: self,
            stop,
            task,
        })
    }

    /// The tokens' addresses (lowercase `0x` + 40 hex), in index order.
    pub fn token_addresses(&self) -> Vec<String> {
        self.inner
            .tokens
            .iter()
            .map(|t| t.address.clone())
            .collect()
    }

    /// The simulator's clock, in unix seconds.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// Freezes the clock at `unix` (tests move it forward or back with this).
    pub fn set_now(&self, unix: i64) {
        self.inner.clock.set(unix);
    }

    /// Changes the share of requests that fail (clamped to 0…1).
    pub fn set_fail_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.inner
            .fail_rate
            .store(rate.to_bits(), Ordering::Relaxed);
    }

    /// Serves malformed hourly rows for the token with index `token` from now on (`None`:
    /// for none), as `--corrupt-token` does from the start.
    pub fn set_corrupt_token(&self, token: Option<u32>) {
        self.inner
            .corrupt
            .store(token.unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// Simulates a chain reorganisation that removed the row of token `address` for the hour
    /// starting at `period_start_unix`: it is no longer served, until the process ends.
    pub fn hide_hour(&self, address: &str, period_start_unix: i64) {
        let address = address.to_ascii_lowercase();
        let Some(token) = self.inner.tokens.iter().position(|t| t.address == address) else {
            tracing::warn!(%address, "hide_hour: no such simulated token");
            return;
        };
        let mut hidden = self
            .inner
            .hidden
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        hidden.insert((token as u32, period_start_unix.div_euclid(3600)));
    }

    /// Holds every request after the next `n` (before its answer) until [`Simulator::release`]:
    /// a test stops an upstream mid-pass at a point it chooses, not at a moment it hopes for.
    pub fn stall_after(&self, n: u64) {
        self.inner.stalled.send_modify(|s| s.released = false);
        let next = self.inner.requests.load(Ordering::SeqCst);
        self.inner.stall_from.store(next + n, Ordering::SeqCst);
    }

    /// Lets stalled requests (and every later one) through.
    pub fn release(&self) {
        self.inner.stall_from.store(u64::MAX, Ordering::SeqCst);
        self.inner.stalled.send_modify(|s| s.released = true);
    }

    /// Waits until at least one request is held by [`Simulator::stall_after`].
    pub async fn stalled(&self) {
        let mut rx = self.inner.stalled.subscribe();
        let _ = rx.wait_for(|s| s.waiting > 0).await;
    }

    /// Holds request number `request` while a stall covers it.
    async fn wait_if_stalled(&self, request: u64) {
        if request < self.inner.stall_from.load(Ordering::SeqCst) {
            return;
        }
        let mut rx = self.inner.stalled.subscribe();
        self.inner.stalled.send_modify(|s| s.waiting += 1);
        let _ = rx.wait_for(|s| s.released).await;
        self.inner.stalled.send_modify(|s| s.waiting -= 1);
    }

    /// Answers one GraphQL request in-process, without latency or faults: the JSON body the
    /// server would send with status 200.
    pub fn answer(
        &self,
        query: &str,
        variables: Option<&serde_json::Map<String, serde_json::Value>>,
        operation_name: Option<&str>,
    ) -> String {
        let nodes = match query::plan(query::schema::schema(), query, variables, operation_name) {
            Ok(nodes) => nodes,
            Err(errors) => return query::errors_json(&errors),
        };
        let inner = &self.inner;
        let head = inner.clock.head();
        let store = self.current_store();
        let hidden = inner
            .hidden
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let world = exec::World {
            seed: inner.seed,
            tokens: &inner.tokens,
            deployment: &inner.deployment,
            corrupt: Some(inner.corrupt.load(Ordering::Relaxed)).filter(|c| *c != u32::MAX),
            max_skip: inner.max_skip,
            history: inner.history,
            store: &store,
            hidden: &hidden,
        };
        exec::execute(&world, &nodes, head).unwrap_or_else(|errors| query::errors_json(&errors))
    }

    /// The store as of the clock: its window starting `--history` before now, complete up to
    /// the indexed head's hour. Only a new hour (or a clock moved by a test) changes it. The
    /// window is worked out again under the write lock, from the clock of that moment, so a
    /// request that read the clock a little earlier never moves it back (the clock only goes
    /// back when a test sets it back).
    fn current_store(&self) -> RwLockReadGuard<'_, Store> {
        let inner = &self.inner;
        let lock = &inner.store;
        let read = || lock.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        for _ in 0..3 {
            let (first, until) = self.window();
            {
                let store = read();
                if store.first_hour == first && store.complete_until >= until {
                    return store;
                }
            }
            let mut store = lock
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let (first, until) = self.window();
            store.start_at(&inner.tokens, first);
            store.extend(&inner.tokens, until);
        }
        // The clock crossed an hour on every try (only a test moving it could): serve as is.
        read()
    }

    /// The first hour of the history window and the hour the store must be complete up to.
    fn window(&self) -> (i64, i64) {
        let clock = &self.inner.clock;
        let first = window_start(clock.now(), self.inner.history);
        (first, head_hour(clock).max(first))
    }

    fn seed(&self) -> u64 {
        self.inner.seed
    }

    fn fail_rate(&self) -> f64 {
        f64::from_bits(self.inner.fail_rate.load(Ordering::Relaxed))
    }

    fn latency(&self) -> Duration {
        self.inner.latency
    }

    fn next_request(&self) -> u64 {
        self.inner.requests.fetch_add(1, Ordering::Relaxed)
    }
}

/// The first hour of the history window: the first hour starting at or after `now - history`.
fn window_start(now: i64, history: i64) -> i64 {
    // No hour before the chain's first block.
    let start = now.saturating_sub(history).max(GENESIS_UNIX);
    start.div_euclid(3600) + i64::from(start.rem_euclid(3600) != 0)
}

/// The hour the indexed head's block falls in.
fn head_hour(clock: &Clock) -> i64 {
    clock::block_time(clock.head()).div_euclid(3600)
}

/// The URL the simulator answers at on `addr`, with a wildcard address replaced by loopback so
/// that the URL can be used.
fn url_of(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}/")
}

/// A simulator serving in the background.
pub struct SimHandle {
    /// Where it answers, e.g. `http://127.0.0.1:PORT/`.
    pub url: String,
    /// The simulator itself (for the test hooks).
    pub sim: Simulator,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// Stops serving: open connections finish their request, for at most five seconds.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// `tokenmirror simulate`: serves `config` at `listen` until `shutdown` resolves; requests in
/// flight then get five more seconds.
pub async fn run(
    listen: SocketAddr,
    config: &SimConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let sim = Simulator::new(config);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let url = url_of(listener.local_addr()?);
    tracing::info!(
        %url,
        seed = config.seed,
        tokens = config.tokens,
        now = sim.now(),
        "simulated Uniswap v3 subgraph listening (POST GraphQL to / or /graphql)"
    );
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let server = http::serve(listener, sim.router(), async move {
        shutdown.await;
        let _ = stopping.send(true);
    });
    tokio::select! {
        served = server => served?,
        // Requests in flight (say, sleeping out a long `--latency`) get five seconds.
        () = async {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => tracing::warn!("requests still in flight after 5 s: stopping anyway"),
    }
    tracing::info!("simulated subgraph stopped");
    Ok(())
}
