//! The sync against the simulated upstream, on both backends: exact backfill, the live hour,
//! faults, kills, permanent errors, reorgs, raising BACKFILL, a frozen clock in the past, and
//! the PostgreSQL sync lock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokenmirror::config::{Endpoint, Sources, Upstream};
use tokenmirror::db::hours::{self, Direction, HourRow};
use tokenmirror::db::state;
use tokenmirror::domain::{Backfill, TokenKey};
use tokenmirror::sync::worker::{SyncLock, Turn};
use tokenmirror::sync::{PassReport, RetryPolicy, SyncSettings, Syncer};
use tokenmirror_simulator::{SimConfig, SimHandle, Simulator};
use tokio_util::sync::CancellationToken;

use crate::support::{on_both_backends, TestDb};

pub const NET: &str = "sim";
/// 2026-06-01T00:00:00Z plus 25 minutes: the current hour is a quarter through.
pub const NOW: i64 = 1_780_272_000 + 25 * 60;

pub fn sim_args(seed: u64, tokens: u32, history_days: u64, now: i64) -> SimConfig {
    SimConfig {
        seed,
        tokens,
        history: Duration::from_secs(history_days * 86_400),
        now: Some(now),
        ..SimConfig::default()
    }
}

pub async fn simulator(args: SimConfig) -> SimHandle {
    Simulator::new(&args)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

pub fn sources(sim: &SimHandle) -> Sources {
    Sources {
        upstreams: vec![Upstream {
            network: NET.to_owned(),
            endpoint: Endpoint::Url(sim.url.clone()),
        }],
        tokens: sim
            .sim
            .token_addresses()
            .into_iter()
            .map(|address| TokenKey::new(NET, address))
            .collect(),
    }
}

pub fn settings(backfill_days: u64) -> SyncSettings {
    SyncSettings {
        backfill: Backfill::Duration(Duration::from_secs(backfill_days * 86_400)),
        overlap: Duration::from_secs(3 * 3600),
        retry: RetryPolicy {
            max_tries: 5,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(200),
            request_timeout: Duration::from_secs(20),
        },
        token_concurrency: 4,
    }
}

pub fn syncer(t: &TestDb, sim: &SimHandle, backfill_days: u64) -> Syncer {
    Syncer::new(
        t.db.clone(),
        &sources(sim),
        settings(backfill_days),
        Arc::new(Default::default()),
        tokenmirror::feed::Feed::new(Arc::new(Default::default())),
    )
    .expect("the HTTP client builds")
}

async fn pass(s: &Syncer) -> PassReport {
    s.sync_once(&CancellationToken::new()).await
}

/// The upstream's rows of one token from `from` on, read with plain HTTP requests (not the
/// sync's client), as `(period, id, the eleven decimals in storage order)`.
pub async fn upstream_rows(
    sim: &SimHandle,
    token: &str,
    from: i64,
) -> Vec<(i64, String, Vec<String>)> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut cursor = from - 1;
    loop {
        let q = format!(
            "{{ tokenHourDatas(first: 1000, orderBy: periodStartUnix, orderDirection: asc, \
             where: {{token: \"{token}\", periodStartUnix_gt: {cursor}}}) \
             {{ id periodStartUnix open high low close priceUSD volume volumeUSD \
             untrackedVolumeUSD feesUSD totalValueLocked totalValueLockedUSD }} }}"
        );
        let answer: Value = client
            .post(&sim.url)
            .json(&json!({ "query": q }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = answer["data"]["tokenHourDatas"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .clone();
        for r in &rows {
            let period = r["periodStartUnix"].as_i64().unwrap();
            let decimals = [
                "open",
                "high",
                "low",
                "close",
                "priceUSD",
                "volume",
                "volumeUSD",
                "untrackedVolumeUSD",
                "feesUSD",
                "totalValueLocked",
                "totalValueLockedUSD",
            ]
            .iter()
            .map(|f| r[*f].as_str().unwrap().to_owned())
            .collect();
            out.push((period, r["id"].as_str().unwrap().to_owned(), decimals));
            cursor = period;
        }
        if rows.len() < 1000 {
            return out;
        }
    }
}

pub fn as_tuples(rows: &[HourRow]) -> Vec<(i64, String, Vec<String>)> {
    rows.iter()
        .map(|r| {
            (
                r.period_start_unix,
                r.id.clone(),
                r.decimals().iter().map(|d| d.as_str().to_owned()).collect(),
            )
        })
        .collect()
}

pub async fn stored(t: &TestDb, token: &str, from: i64) -> Vec<HourRow> {
    hours::read_range(
        t.db.conn(),
        NET,
        token,
        from,
        i64::MAX,
        Direction::Asc,
        None,
    )
    .await
    .unwrap()
}

/// Whether one of at most `passes` passes of `s` succeeds for every token.
pub async fn converges(s: &Syncer, passes: usize) -> bool {
    for _ in 0..passes {
        if s.sync_once(&CancellationToken::new()).await.all_ok() {
            return true;
        }
    }
    false
}

pub fn backfill_start(days: u64) -> i64 {
    (NOW - days as i64 * 86_400).div_euclid(3600) * 3600
}

/// Every token's stored rows equal the upstream's, string for string, from the backfill start.
pub async fn assert_mirrors(t: &TestDb, sim: &SimHandle, backfill_days: u64) {
    let from = backfill_start(backfill_days);
    for token in sim.sim.token_addresses() {
        let want = upstream_rows(sim, &token, from).await;
        let got = as_tuples(&stored(t, &token, from).await);
        assert_eq!(got.len(), want.len(), "{token}: row count");
        assert!(
            got == want,
            "{token}: stored rows differ from the upstream's"
        );
    }
}

on_both_backends! {
    backfill_is_exact_and_idempotent => backfill_is_exact_and_idempotent;
    live_hour_and_new_hours_follow_the_clock => live_hour_and_new_hours_follow_the_clock;
    faults_converge_and_kills_leave_whole_pages => faults_converge_and_kills_leave_whole_pages;
    permanent_error_stays_with_its_token => permanent_error_stays_with_its_token;
    reorgs_delete_and_backfill_can_grow => reorgs_delete_and_backfill_can_grow;
    frozen_clock_in_the_past_still_backfills => frozen_clock_in_the_past_still_backfills;
    a_long_pause_leaves_no_hole => a_long_pause_leaves_no_hole;
    a_lagging_indexer_cannot_roll_back => a_lagging_indexer_cannot_roll_back;
}

async fn backfill_is_exact_and_idempotent(t: TestDb) {
    // 520 days: more than 12,000 hours, about 10,000 rows after the gaps.
    let sim = simulator(sim_args(11, 2, 530, NOW)).await;
    let s = syncer(&t, &sim, 520);
    let first = pass(&s).await;
    assert!(first.all_ok(), "{first:?}");
    let token = &sim.sim.token_addresses()[0];
    let rows = stored(&t, token, 0).await;
    assert!(rows.len() > 9_000, "only {} rows", rows.len());
    let span_hours = (rows.last().unwrap().period_start_unix - rows[0].period_start_unix) / 3600;
    assert!(span_hours > 10_000, "{span_hours} hours");
    assert!(
        span_hours as usize > rows.len(),
        "the upstream has gaps and so does the mirror"
    );
    assert_mirrors(&t, &sim, 520).await;

    let second = pass(&s).await;
    assert!(second.all_ok());
    for tr in second.networks.iter().flat_map(|n| &n.tokens) {
        assert_eq!(
            (tr.outcome.inserted, tr.outcome.updated, tr.outcome.deleted),
            (0, 0, 0),
            "a second pass over a frozen upstream changes nothing"
        );
    }
    let st = state::sync_state(t.db.conn(), NET, token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.newest_hour, Some(rows.last().unwrap().period_start_unix));
    assert!(st.last_success_at.is_some() && st.last_error.is_none());
    // Metadata came along.
    let meta = tokenmirror::db::tokens::metadata(t.db.conn(), NET, token)
        .await
        .unwrap()
        .unwrap();
    assert!(!meta.symbol.is_empty());
}

async fn live_hour_and_new_hours_follow_the_clock(t: TestDb) {
    let sim = simulator(sim_args(12, 3, 10, NOW)).await;
    let s = syncer(&t, &sim, 7);
    assert!(pass(&s).await.all_ok());
    assert_mirrors(&t, &sim, 7).await;

    // Later in the same hour: the open hour's row changes.
    sim.sim.set_now(NOW + 30 * 60);
    let report = pass(&s).await;
    assert!(report.all_ok());
    let updated: u64 = report.networks[0]
        .tokens
        .iter()
        .map(|t| t.outcome.updated + t.outcome.inserted)
        .sum();
    assert!(
        updated >= 1,
        "the current hour changed upstream: {report:?}"
    );
    assert_mirrors(&t, &sim, 7).await;

    // Five hours later: new hours appear.
    sim.sim.set_now(NOW + 5 * 3600);
    let report = pass(&s).await;
    let inserted: u64 = report.networks[0]
        .tokens
        .iter()
        .map(|t| t.outcome.inserted)
        .sum();
    assert!(inserted >= 1, "{report:?}");
    assert_mirrors(&t, &sim, 7).await;
}

async fn faults_converge_and_kills_leave_whole_pages(t: TestDb) {
    let mut faulty = sim_args(13, 4, 200, NOW);
    faulty.latency = Duration::from_millis(5);
    let sim = simulator(faulty).await;
    // The same seed and clock without faults serve the same rows: the reference.
    let clean = simulator(sim_args(13, 4, 200, NOW)).await;
    let s = Arc::new(syncer(&t, &sim, 180));
    let tokens = sim.sim.token_addresses();

    // Kill a pass part-way. The upstream answers six requests — `_meta`, the metadata and the
    // first page of each of the 4 tokens — and holds the next: when one is held, its token has
    // committed its first page and asked for the second. Then the pass is aborted.
    sim.sim.stall_after(6);
    let task = {
        let s = s.clone();
        tokio::spawn(async move { s.sync_once(&CancellationToken::new()).await })
    };
    sim.sim.stalled().await;
    task.abort();
    let _ = task.await;
    sim.sim.release();
    sim.sim.set_fail_rate(0.35);
    let from = backfill_start(180);
    let (mut cut_short, mut some_stored) = (false, false);
    for token in &tokens {
        let got = as_tuples(&stored(&t, token, 0).await);
        let want = upstream_rows(&clean, token, from).await;
        cut_short |= got.len() < want.len();
        some_stored |= !got.is_empty();
        // Whole pages only, each equal to the upstream's rows.
        assert!(
            got.len().is_multiple_of(1000) || got.len() == want.len(),
            "{token}: {} rows is not a whole number of pages",
            got.len()
        );
        assert!(
            got == want[..got.len()],
            "{token}: a stored page differs from the upstream"
        );
        let st = state::sync_state(t.db.conn(), NET, token).await.unwrap();
        let newest = st.and_then(|s| s.newest_hour);
        assert_eq!(
            newest,
            got.last().map(|r| r.0),
            "{token}: the cursor matches the rows"
        );
    }
    assert!(cut_short, "the pass was killed before it finished");
    assert!(some_stored, "and after it had stored a page");

    // Passes under a high fault rate converge to exactly the upstream's data.
    assert!(
        converges(&s, 12).await,
        "passes did not converge under faults"
    );
    assert_mirrors(&t, &clean, 180).await;
}

async fn permanent_error_stays_with_its_token(t: TestDb) {
    let mut args = sim_args(14, 3, 10, NOW);
    args.corrupt_token = Some(1);
    let sim = simulator(args).await;
    let s = syncer(&t, &sim, 7);
    let report = pass(&s).await;
    assert!(!report.all_ok());
    let tokens = sim.sim.token_addresses();
    let bad = report.token(NET, &tokens[1]).unwrap();
    let reason = bad.error.as_deref().unwrap();
    assert!(
        reason.contains("invalid upstream TokenHourData"),
        "{reason}"
    );
    let st = state::sync_state(t.db.conn(), NET, &tokens[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.last_error.as_deref(), Some(reason));
    assert!(
        stored(&t, &tokens[1], 0).await.is_empty(),
        "nothing of the bad page is stored"
    );
    for good in [&tokens[0], &tokens[2]] {
        assert!(report.token(NET, good).unwrap().error.is_none());
        let from = backfill_start(7);
        assert_eq!(
            as_tuples(&stored(&t, good, 0).await),
            upstream_rows(&sim, good, from).await
        );
    }
}

async fn reorgs_delete_and_backfill_can_grow(t: TestDb) {
    let sim = simulator(sim_args(15, 2, 60, NOW)).await;
    assert!(pass(&syncer(&t, &sim, 7)).await.all_ok());
    let token = sim.sim.token_addresses()[0].clone();
    let rows = stored(&t, &token, 0).await;
    // A reorg removes the newest complete hour (inside the overlap window).
    let victim = rows[rows.len() - 2].period_start_unix;
    sim.sim.hide_hour(&token, victim);
    let report = pass(&syncer(&t, &sim, 7)).await;
    assert!(report.all_ok());
    assert_eq!(report.token(NET, &token).unwrap().outcome.deleted, 1);
    assert!(!stored(&t, &token, 0)
        .await
        .iter()
        .any(|r| r.period_start_unix == victim));
    assert_mirrors(&t, &sim, 7).await;

    // Raising BACKFILL fetches the older hours.
    let before = stored(&t, &token, 0).await.len();
    assert!(pass(&syncer(&t, &sim, 30)).await.all_ok());
    let after = stored(&t, &token, 0).await;
    assert!(after.len() > before + 300, "{before} -> {}", after.len());
    assert!(after[0].period_start_unix < backfill_start(7));
    let st = state::sync_state(t.db.conn(), NET, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.covered_from, Some(backfill_start(30)));
    assert_mirrors(&t, &sim, 30).await;
}

async fn frozen_clock_in_the_past_still_backfills(t: TestDb) {
    // 2021-06-01: the window counts back from the upstream's head, not the local clock.
    let past = 1_622_505_600;
    let sim = simulator(sim_args(16, 1, 30, past)).await;
    assert!(pass(&syncer(&t, &sim, 7)).await.all_ok());
    let token = &sim.sim.token_addresses()[0];
    let rows = stored(&t, token, 0).await;
    assert!(rows.len() > 100, "{}", rows.len());
    assert!(rows
        .iter()
        .all(|r| r.period_start_unix >= past - 7 * 86_400 - 3600));
    assert!(rows.last().unwrap().period_start_unix <= past);
}

/// After the sync was off for longer than the backfill window, the hours in between were never
/// fetched; raising `BACKFILL` later fetches them (no silent hole).
async fn a_long_pause_leaves_no_hole(t: TestDb) {
    let sim = simulator(sim_args(17, 2, 90, NOW)).await;
    assert!(pass(&syncer(&t, &sim, 7)).await.all_ok());
    let later = NOW + 30 * 86_400;
    sim.sim.set_now(later);
    assert!(pass(&syncer(&t, &sim, 7)).await.all_ok());
    assert!(pass(&syncer(&t, &sim, 60)).await.all_ok());
    let from = (later - 60 * 86_400).div_euclid(3600) * 3600;
    for token in sim.sim.token_addresses() {
        let want = upstream_rows(&sim, &token, from).await;
        let got = as_tuples(&stored(&t, &token, from).await);
        assert_eq!(got.len(), want.len(), "{token}: rows in the last 60 days");
        assert!(
            got == want,
            "{token}: stored rows differ from the upstream's"
        );
    }
}

/// An indexer behind the one that answered the previous pass cannot roll the mirror back: its
/// `_meta` is refused as not yet available, and nothing stored changes.
async fn a_lagging_indexer_cannot_roll_back(t: TestDb) {
    let sim = simulator(sim_args(18, 2, 10, NOW + 5 * 3600)).await;
    assert!(pass(&syncer(&t, &sim, 7)).await.all_ok());
    let token = sim.sim.token_addresses()[0].clone();
    let before = stored(&t, &token, 0).await;
    sim.sim.set_now(NOW);
    let report = pass(&syncer(&t, &sim, 7)).await;
    assert!(!report.all_ok());
    let error = report.token(NET, &token).unwrap().error.clone().unwrap();
    assert!(error.contains("not yet available"), "{error}");
    assert_eq!(
        stored(&t, &token, 0).await,
        before,
        "nothing was rolled back"
    );
}

/// Only one process syncs a PostgreSQL database; another takes over when it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_process_syncs_a_postgres_database() {
    let t = TestDb::postgres().await;
    let mut first = SyncLock::for_database(&t.url);
    let mut second = SyncLock::for_database(&t.url);
    assert_eq!(first.acquire().await, Turn::Mine);
    assert_eq!(first.acquire().await, Turn::Mine, "the holder keeps it");
    assert_eq!(
        second.acquire().await,
        Turn::Theirs,
        "a second process does not sync"
    );
    first.release().await;
    assert_eq!(
        second.acquire().await,
        Turn::Mine,
        "and takes over when the first stops"
    );
    assert_eq!(first.acquire().await, Turn::Theirs);
    second.release().await;
    // SQLite needs no lock.
    let lite = TestDb::sqlite().await;
    assert_eq!(
        SyncLock::for_database(&lite.url).acquire().await,
        Turn::Mine
    );
}

/// A database that does not answer is said to be unreachable, not held by another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_not_a_held_lock() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url: tokenmirror::config::DatabaseUrl = format!("postgres://postgres@127.0.0.1:{port}/x")
        .parse()
        .unwrap();
    let turn = SyncLock::for_database(&url).acquire().await;
    assert!(matches!(turn, Turn::Unreachable(_)), "{turn:?}");
    let why = turn.obstacle().unwrap();
    assert!(why.starts_with("the database is unreachable"), "{why}");
    assert!(!why.contains("another process"), "{why}");
}
