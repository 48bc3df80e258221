//! The change feed and the response cache, with real servers on one database: no answer
//! outlives a committed write (in the writing process at once, in any other `serve` from the
//! moment it applies the event), a lost LISTEN connection empties the cache, clock-dependent
//! answers expire at the boundary, and gap filling stops where the mirror's knowledge does.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokenmirror::app::{self, ServerSettings, Shared};
use tokenmirror::config::DatabaseUrl;
use tokenmirror::db::Db;
use tokenmirror::domain::Clock;
use tokenmirror::sync::Syncer;
use tokio_util::sync::CancellationToken;

use crate::support::{on_both_backends, TestDb};
use crate::sync::{settings, sim_args, simulator, sources, NET, NOW};

/// Enough for every answer of these tests.
const CACHE: u64 = 16 << 20;

/// A `serve` of its own on a test database: its own pool, feed and cache.
struct Serve {
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    shared: Shared,
    shutdown: CancellationToken,
}

impl Serve {
    /// `cache` bytes (0: none); with `watch`, it hears of other processes' writes.
    async fn start(url: &DatabaseUrl, cache: u64, watch: bool, clock: Clock) -> Serve {
        let db = Db::connect(url).await.expect("open the database");
        let shared = Shared::new(db);
        let shutdown = CancellationToken::new();
        if watch {
            app::start_feed(&shared, url, shutdown.clone())
                .await
                .expect("watch the feed");
        }
        let settings = ServerSettings {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            cache_bytes: cache,
            clock,
            ..Default::default()
        };
        let server = app::start_server(&shared, vec![NET.to_owned()], &settings, shutdown.clone())
            .await
            .expect("start a server");
        Serve {
            addr: server.addr,
            client: reqwest::Client::new(),
            shared,
            shutdown,
        }
    }

    /// The answer to `query`, and its `x-cache` header.
    async fn ask(&self, query: &str) -> (Value, String) {
        let r = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request");
        let hit = r.headers()["x-cache"].to_str().unwrap().to_owned();
        (r.json().await.expect("json"), hit)
    }

    fn position(&self) -> i64 {
        self.shared.feed.position()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits until `done` holds (the condition, not the time, is what the test relies on; the
/// limit only turns a hang into a failure).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The queries whose cached answers must never be stale: candles with and without gap
/// filling, `to` given and not, metadata, the token list and the sync status.
fn queries(tokens: &[String]) -> Vec<String> {
    let from = "2026-05-20T00:00:00Z";
    let mut q = vec![
        "{ tokens { network address symbol totalValueLockedUSD updatedAt } }".to_owned(),
        "{ syncStatus { network address newestHour rowsSynced lastSuccessAt lastError \
         upstreamBlock } }"
            .to_owned(),
    ];
    for t in tokens {
        q.push(format!(
            "{{ tokenHourData(address: \"{t}\", from: \"{from}\", order: DESC, limit: 30) \
             {{ periodStartUnix open high low close volumeUSD hours }} }}"
        ));
        q.push(format!(
            "{{ tokenHourData(address: \"{t}\", from: \"{from}\", to: \"2026-06-03T00:00:00Z\", \
             interval: \"1d\", fillGaps: true) {{ periodStart close volume hours }} }}"
        ));
        q.push(format!(
            "{{ tokenMetadata(address: \"{t}\") {{ symbol txCount volumeUSD \
             hourData(from: \"{from}\", interval: \"4h\", fillGaps: true, order: DESC, limit: 4) \
             {{ periodStartUnix close hours }} }} }}"
        ));
    }
    q
}

/// What a write step does to the upstream before the next pass.
fn step(sim: &tokenmirror_simulator::SimHandle, n: i64, tokens: &[String]) {
    match n {
        // The clock moves on: the live hour changes and new hours appear.
        1 | 3 => sim.sim.set_now(NOW + n * 1800),
        // A reorg: an hour inside the overlap disappears upstream.
        2 => sim.sim.hide_hour(&tokens[0], (NOW / 3600 - 1) * 3600),
        _ => {}
    }
}

/// Warms `serve`'s cache with every query (twice); returns how many answers were hits.
async fn warm(serve: &Serve, queries: &[String]) -> usize {
    let mut hits = 0;
    for q in queries {
        for _ in 0..2 {
            hits += usize::from(serve.ask(q).await.1 == "hit");
        }
    }
    hits
}

/// Every query answers the same on `serve` as on the reference (cache off).
async fn assert_fresh(serve: &Serve, reference: &Serve, queries: &[String], who: &str) {
    for q in queries {
        let (got, _) = serve.ask(q).await;
        let (want, _) = reference.ask(q).await;
        assert_eq!(got, want, "{who}: a stale answer to {q}");
    }
}

/// PostgreSQL: a syncing `serve` (cache on), a `--no-sync` one (cache on, hearing of writes by
/// LISTEN) and a reference (cache off), on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_outlives_a_write_across_serves_on_postgres() {
    let t = TestDb::postgres().await;
    let sim = simulator(sim_args(21, 3, 10, NOW)).await;
    let writer = Serve::start(&t.url, CACHE, false, Clock::System).await;
    let syncer = app::prepare_sync(&writer.shared, &sources(&sim), settings(10))
        .await
        .unwrap();
    let reader = Serve::start(&t.url, CACHE, true, Clock::System).await;
    let reference = Serve::start(&t.url, 0, false, Clock::System).await;
    let tokens = sim.sim.token_addresses();
    let queries = queries(&tokens);
    let mut hits = 0;
    for n in 0..4 {
        hits += warm(&reader, &queries).await + warm(&writer, &queries).await;
        step(&sim, n, &tokens);
        let report = syncer.sync_once(&CancellationToken::new()).await;
        assert!(report.all_ok(), "{report:?}");
        // The writing process: at once, for any request after the commit.
        assert_fresh(&writer, &reference, &queries, "the syncing serve").await;
        // Another process: once it has applied the writes.
        let committed = writer.position();
        until("the reader applies the writes", || {
            reader.position() >= committed
        })
        .await;
        assert_fresh(&reader, &reference, &queries, "the reading serve").await;
    }
    assert!(hits > 0, "the caches served no hit at all");
}

/// SQLite: a `--no-sync` `serve` (cache on, polling the log) beside separate
/// `tokenmirror sync --once` processes on the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_outlives_a_write_of_another_process_on_sqlite() {
    let t = TestDb::sqlite().await;
    let sim = simulator(sim_args(22, 2, 10, NOW)).await;
    let reader = Serve::start(&t.url, CACHE, true, Clock::System).await;
    let reference = Serve::start(&t.url, 0, false, Clock::System).await;
    let tokens = sim.sim.token_addresses();
    let queries = queries(&tokens);
    let token_list: Vec<String> = tokens.iter().map(|a| format!("{NET}:{a}")).collect();
    let mut hits = 0;
    for n in 0..4 {
        hits += warm(&reader, &queries).await;
        step(&sim, n, &tokens);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmirror"))
            .env("LOG_LEVEL", "warn")
            .args(["sync", "--once", "--backfill", "10d", "--database-url"])
            .arg(t.url.as_str())
            .arg("--upstreams")
            .arg(format!("{NET}={}", sim.url))
            .arg("--tokens")
            .arg(token_list.join(","))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = tokenmirror::feed::log::newest(t.db.conn()).await.unwrap();
        until("the reader polls the writes", || {
            reader.position() >= committed
        })
        .await;
        assert_fresh(&reader, &reference, &queries, "the reading serve").await;
    }
    assert!(hits > 0, "the cache served no hit at all");
}

/// The LISTEN connection killed: the cache empties, the reader listens again, and answers stay
/// right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listen_connection_means_everything_changed() {
    let t = TestDb::postgres().await;
    let sim = simulator(sim_args(23, 2, 5, NOW)).await;
    let writer = Shared::new(Db::connect(&t.url).await.unwrap());
    let syncer: Syncer = app::prepare_sync(&writer, &sources(&sim), settings(5))
        .await
        .unwrap();
    let reader = Serve::start(&t.url, CACHE, true, Clock::System).await;
    let reference = Serve::start(&t.url, 0, false, Clock::System).await;
    let tokens = sim.sim.token_addresses();
    let queries = queries(&tokens);
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    let metrics = reader.shared.metrics.clone();
    until("the reader listens", || metrics.is_feed_connected()).await;
    until("the reader applies the pass", || {
        reader.position() >= writer.feed.position()
    })
    .await;
    assert!(warm(&reader, &queries).await > 0, "answers are cached");

    let killed = sea_orm::ConnectionTrait::execute_unprepared(
        t.db.conn(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'tokenmirror-listen' AND datname = current_database()",
    )
    .await;
    assert!(killed.is_ok());
    until("the reader notices", || metrics.feed_reconnects() >= 1).await;
    for q in &queries {
        assert_eq!(reader.ask(q).await.1, "miss", "the cache was emptied: {q}");
    }
    until("the reader listens again", || metrics.is_feed_connected()).await;
    sim.sim.set_now(NOW + 3600);
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    until("the reader applies the new pass", || {
        reader.position() >= writer.feed.position()
    })
    .await;
    assert_fresh(&reader, &reference, &queries, "after reconnecting").await;
}

on_both_backends! {
    clock_dependent_answers_expire_at_the_boundary => clock_dependent_answers_expire_at_the_boundary;
    unknown_hours_are_not_filled => unknown_hours_are_not_filled;
}

/// With `to` left out, a candle answer takes in the next stored hour when the API's clock
/// crosses into it, with no write; `lagSeconds` counts with the clock.
async fn clock_dependent_answers_expire_at_the_boundary(t: TestDb) {
    let sim = simulator(sim_args(24, 1, 3, NOW)).await;
    let shared = Shared::new(t.db.clone());
    let syncer = app::prepare_sync(&shared, &sources(&sim), settings(3))
        .await
        .unwrap();
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    let token = &sim.sim.token_addresses()[0];
    // An hour a few hours before the synced head that has a row, and the one before it.
    let rows = crate::sync::stored(&t, token, NOW - 10 * 3600).await;
    let hour = rows
        .iter()
        .rev()
        .map(|r| r.period_start_unix)
        .find(|h| *h <= NOW - 3 * 3600)
        .expect("a row a few hours back");
    let (clock, hand) = Clock::manual(hour - 1800);
    let serve = Serve::start(&t.url, CACHE, false, clock).await;
    let q = format!(
        "{{ tokenHourData(address: \"{token}\", from: \"2026-05-30T00:00:00Z\", order: DESC, \
         limit: 2) {{ periodStartUnix }} }}"
    );
    let newest = |v: &Value| v["data"]["tokenHourData"][0]["periodStartUnix"].as_i64();
    let (before, _) = serve.ask(&q).await;
    assert!(newest(&before) < Some(hour), "{before}");
    assert_eq!(serve.ask(&q).await.1, "hit");
    hand.store(hour + 1, std::sync::atomic::Ordering::SeqCst);
    let (after, cached) = serve.ask(&q).await;
    assert_eq!(cached, "miss", "the cached answer expired at the boundary");
    assert_eq!(newest(&after), Some(hour), "{after}");

    // With the clock past the synced head, the lag counts up with it.
    hand.store(NOW + 100, std::sync::atomic::Ordering::SeqCst);
    let lag = "{ syncStatus { lagSeconds } }";
    let seconds = |v: &Value| v["data"]["syncStatus"][0]["lagSeconds"].as_i64().unwrap();
    let (a, _) = serve.ask(lag).await;
    assert!(seconds(&a) > 0, "{a}");
    hand.fetch_add(5, std::sync::atomic::Ordering::SeqCst);
    let (b, _) = serve.ask(lag).await;
    assert_eq!(seconds(&b) - seconds(&a), 5, "{a} {b}");
}

/// A simulator frozen in the past: gap filling with `to` left out ends at the synced head's
/// hour, not at this machine's clock; a token whose pass failed ends at its own synced head.
async fn unknown_hours_are_not_filled(t: TestDb) {
    // 2024-06-01T10:20:00Z.
    let past = 1_717_237_200;
    let sim = simulator(sim_args(25, 2, 5, past)).await;
    let shared = Shared::new(t.db.clone());
    let syncer = app::prepare_sync(&shared, &sources(&sim), settings(5))
        .await
        .unwrap();
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    let serve = Serve::start(&t.url, 0, false, Clock::System).await;
    let tokens = sim.sim.token_addresses();
    let last_bucket = |interval: &'static str, token: String| {
        let serve = &serve;
        async move {
            let q = format!(
                "{{ tokenHourData(address: \"{token}\", from: \"2024-05-28T00:00:00Z\", \
                 interval: \"{interval}\", fillGaps: true, order: DESC, limit: 2) \
                 {{ periodStartUnix }} }}"
            );
            let (v, _) = serve.ask(&q).await;
            v["data"]["tokenHourData"][0]["periodStartUnix"]
                .as_i64()
                .unwrap_or_else(|| panic!("{v}"))
        }
    };
    let hour = |t: i64| t / 3600 * 3600;
    for token in &tokens {
        assert_eq!(last_bucket("1h", token.clone()).await, hour(past));
        assert_eq!(
            last_bucket("1d", token.clone()).await,
            past / 86_400 * 86_400
        );
    }
    // Five hours on, the second token's pass fails: it stays at its own synced head.
    sim.sim.set_now(past + 5 * 3600);
    sim.sim.set_corrupt_token(Some(1));
    let report = syncer.sync_once(&CancellationToken::new()).await;
    assert!(report.token(NET, &tokens[1]).unwrap().error.is_some());
    assert_eq!(
        last_bucket("1h", tokens[0].clone()).await,
        hour(past + 5 * 3600)
    );
    assert_eq!(last_bucket("1h", tokens[1].clone()).await, hour(past));
}
