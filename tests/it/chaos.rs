//! Short versions of `scripts/chaos` (which runs each scenario at full size and prints a
//! table): what the mirror survives. `kill -9` of a syncing process, PostgreSQL restarted under
//! load (on a cluster of the test's own), the upstream cut off mid-pass and faulty, SQLite on a
//! full disk (a small tmpfs), and a short soak. Each ends with the same check: every stored row
//! equals the upstream's, the daily rollups equal their hours, no cursor is ahead of its rows.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokenmirror::db::days;
use tokenmirror::db::hours::Direction;
use tokenmirror::db::state;
use tokenmirror_simulator::SimHandle;
use tokenmirror_subgraph::rollup::{roll, Sums};

use crate::cli::{command, listening_address, sigterm};
use crate::dataset::Lcg;
use crate::support::{on_both_backends, post_graphql, PgCluster, Proxy, TestDb};
use crate::sync::{assert_mirrors, converges, sim_args, simulator, stored, NET, NOW};

/// Every token's daily rollups equal its stored hours rolled up, and its sync cursor is not
/// ahead of its stored rows.
async fn assert_consistent(t: &TestDb, sim: &SimHandle) {
    for token in sim.sim.token_addresses() {
        let hours = stored(t, &token, 0).await;
        let want: Vec<_> = hours
            .chunk_by(|a, b| a.period_start_unix / 86_400 == b.period_start_unix / 86_400)
            .map(|g| {
                (
                    g[0].period_start_unix / 86_400 * 86_400,
                    roll(g, Sums::Exact).unwrap(),
                )
            })
            .collect();
        let got: Vec<_> = days::read(
            t.db.conn(),
            NET,
            &token,
            i64::MIN,
            i64::MAX,
            Direction::Asc,
            None,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.day_start, d.values))
        .collect();
        assert!(
            got == want,
            "{token}: the daily rollups differ from the hours"
        );
        let newest = state::sync_state(t.db.conn(), NET, &token)
            .await
            .unwrap()
            .and_then(|s| s.newest_hour);
        assert!(
            newest <= hours.last().map(|r| r.period_start_unix),
            "{token}: the cursor ({newest:?}) is ahead of the rows"
        );
    }
}

/// `tokenmirror sync` against `sim`, as its own process.
fn sync_command(t: &TestDb, sim: &SimHandle, backfill_days: u64) -> std::process::Command {
    let mut c = command();
    c.args(["sync", "--database-url", t.url.as_str()])
        .args(["--upstreams", &format!("sim={}", sim.url)])
        .args(["--tokens", &sim.sim.token_addresses().join(",")])
        .args(["--backfill", &format!("{backfill_days}d")])
        .args(["--sync-interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

on_both_backends! {
    kill_9_of_a_syncing_process => kill_9_of_a_syncing_process;
}

/// `kill -9` of a syncing process at (seeded) random moments, then one pass to the end: whole
/// pages only, then exactly the upstream.
async fn kill_9_of_a_syncing_process(t: TestDb) {
    let sim = simulator(sim_args(21, 3, 40, NOW)).await;
    let mut rng = Lcg(7);
    for _ in 0..6 {
        let mut child = sync_command(&t, &sim, 30).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(30 + rng.next() % 300)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_consistent(&t, &sim).await;
    }
    let done = sync_command(&t, &sim, 30).arg("--once").status().unwrap();
    assert!(done.success(), "the last pass failed");
    assert_mirrors(&t, &sim, 30).await;
    assert_consistent(&t, &sim).await;
}

/// PostgreSQL (a cluster of the test's own) stopped and started again while clients read and
/// the sync writes: the server never stops, /readyz says 503 meanwhile, every failure is the
/// documented INTERNAL_SERVER_ERROR with no SQL in it, and within 5 s of the database's return
/// answers are right again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load() {
    let cluster = PgCluster::start();
    let url: tokenmirror::config::DatabaseUrl = cluster.url().parse().unwrap();
    let db = tokenmirror::db::Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let sim = simulator(sim_args(22, 2, 10, NOW)).await;
    let shared = tokenmirror::app::Shared::new(db.clone());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokenmirror::app::start_feed(&shared, &url, shutdown.clone())
        .await
        .unwrap();
    let settings = tokenmirror::app::ServerSettings {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let server =
        tokenmirror::app::start_server(&shared, vec![NET.into()], &settings, shutdown.clone())
            .await
            .unwrap();
    let sync = tokenmirror::app::start_sync(
        &shared,
        &crate::sync::sources(&sim),
        crate::sync::settings(7),
        tokenmirror::sync::worker::SyncLock::for_database(&url),
        Duration::from_secs(1),
        shutdown.clone(),
    )
    .await
    .unwrap()
    .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let token = sim.sim.token_addresses()[0].clone();
    let query = format!(
        "{{ tokenHourData(address: \"{token}\", from: \"2026-05-28T00:00:00Z\", to: \"2026-05-31T00:00:00Z\", interval: \"4h\") {{ periodStartUnix close volumeUSD }} }}"
    );
    let ask = {
        let (client, base, query) = (client.clone(), base.clone(), query.clone());
        move || {
            let (client, base, query) = (client.clone(), base.clone(), query.clone());
            async move { post_graphql(&client, &base, &query).await }
        }
    };
    let ready = || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .expect("/readyz answers within 1 s")
                .status()
                .as_u16()
        }
    };
    // The backfill is done once every token's pass succeeded.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = client
            .post(format!("{base}/graphql"))
            .json(&json!({"query": "{ syncStatus { lastSuccessAt } }"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let all = status["data"]["syncStatus"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if all.len() == 2 && all.iter().all(|s| !s["lastSuccessAt"].is_null()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backfill did not finish: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = ask().await;
    assert!(before["errors"].is_null(), "{before}");

    // Readers throughout.
    let stop = tokio_util::sync::CancellationToken::new();
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (ask, stop) = (ask.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.is_cancelled() {
                    answers.push(ask().await);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready().await != 503 {
        assert!(Instant::now() < deadline, "/readyz never said 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ready().await, 503);
    cluster.restart();
    let back = Instant::now();
    while ready().await != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "/readyz never said 200 again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Right again within 5 s of the return (the upstream's clock is frozen: the same answer).
    loop {
        let a = ask().await;
        if a == before {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "still wrong 5 s after the return: {a}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let mut failures = 0;
    for r in readers {
        for a in r.await.unwrap() {
            if a == before {
                continue;
            }
            failures += 1;
            let codes = crate::support::error_codes(&a);
            assert_eq!(codes, vec!["INTERNAL_SERVER_ERROR"], "a wrong answer: {a}");
            let msg = a["errors"][0]["message"].as_str().unwrap_or_default();
            for sql in ["SELECT", "INSERT", "relation", "postgres", "sqlx"] {
                assert!(!msg.contains(sql), "the error shows internals: {msg}");
            }
        }
    }
    assert!(
        failures > 0,
        "no request failed during the outage (was it one?)"
    );
    assert!(!sync.is_finished(), "the sync loop stopped");
    shutdown.cancel();
    server.wait().await.unwrap();
}

/// The upstream cut off in the middle of a pass (a proxy drops every connection), then back
/// with 30% of its answers faulty: the passes converge to exactly the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_cut_off_and_faulty_converges() {
    let t = TestDb::sqlite().await;
    let mut args = sim_args(23, 3, 60, NOW);
    args.latency = Duration::from_millis(2);
    let sim = simulator(args).await;
    let proxy = Proxy::start(
        sim.url
            .trim_end_matches('/')
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
    )
    .await;
    let mut sources = crate::sync::sources(&sim);
    sources.upstreams[0].endpoint =
        tokenmirror::config::Endpoint::Url(format!("http://{}/", proxy.addr));
    let s = Arc::new(
        tokenmirror::sync::Syncer::new(
            t.db.clone(),
            &sources,
            crate::sync::settings(50),
            Arc::new(Default::default()),
            tokenmirror::feed::Feed::new(Arc::new(Default::default())),
        )
        .unwrap(),
    );
    // Cut the upstream off once the pass has stored something.
    sim.sim.stall_after(5);
    let pass = {
        let s = s.clone();
        tokio::spawn(async move {
            s.sync_once(&tokio_util::sync::CancellationToken::new())
                .await
        })
    };
    sim.sim.stalled().await;
    proxy.cut();
    sim.sim.release();
    let cut_short = pass.await.unwrap();
    assert!(!cut_short.all_ok(), "the cut pass failed");
    assert_consistent(&t, &sim).await;

    proxy.restore();
    sim.sim.set_fail_rate(0.3);
    assert!(converges(&s, 15).await, "no pass succeeded at 30% faults");
    sim.sim.set_fail_rate(0.0);
    assert_mirrors(&t, &sim, 50).await;
    assert_consistent(&t, &sim).await;
}

/// SQLite on a full disk (a 1 MiB tmpfs): the writes fail with a clear error in the token's
/// sync status, reads go on, nothing is corrupted, and the sync converges once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mount = |opts: &str| {
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                opts,
                "tmpfs",
                &dir.path().display().to_string(),
            ])
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a small tmpfs (the tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    mount("size=1m");
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.path().display().to_string());
    let url: tokenmirror::config::DatabaseUrl =
        format!("sqlite://{}/full.db?mode=rwc", dir.path().display())
            .parse()
            .unwrap();
    let db = tokenmirror::db::Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let sim = simulator(sim_args(24, 3, 100, NOW)).await;
    let t = TestDb::wrap_sqlite(db, url.clone());
    // One process: its sync and its API share the feed (what the sync could not store shows).
    let shared = tokenmirror::app::Shared::new(t.db.clone());
    let s = tokenmirror::app::prepare_sync(
        &shared,
        &crate::sync::sources(&sim),
        crate::sync::settings(90),
    )
    .await
    .unwrap();
    let full = s
        .sync_once(&tokio_util::sync::CancellationToken::new())
        .await;
    assert!(!full.all_ok(), "90 days of 3 tokens cannot fit in 1 MiB");
    let errors: Vec<String> = full
        .networks
        .iter()
        .flat_map(|n| &n.tokens)
        .filter_map(|t| t.error.clone())
        .collect();
    assert!(errors.iter().any(|e| e.contains("full")), "{errors:?}");
    assert_consistent(&t, &sim).await;

    // Reads go on, from the same file.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let settings = tokenmirror::app::ServerSettings {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let server =
        tokenmirror::app::start_server(&shared, vec![NET.into()], &settings, shutdown.clone())
            .await
            .unwrap();
    let gql = |q: &'static str| {
        let url = format!("http://{}/graphql", server.addr);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({ "query": q }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let status = gql("{ syncStatus { address lastError } }").await;
    let failed = status["data"]["syncStatus"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["lastError"].as_str().is_some_and(|e| e.contains("full")))
        .count();
    assert!(
        failed >= 1,
        "syncStatus does not say the disk is full: {status}"
    );
    let tokens = gql("{ tokens { address } }").await;
    assert!(tokens["errors"].is_null(), "{tokens}");
    let check = sea_orm::ConnectionTrait::query_one_raw(
        t.db.conn(),
        sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, "PRAGMA integrity_check"),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<String>(0)
    .unwrap();
    assert_eq!(check, "ok");

    // Space again: the next passes converge, and the status says so.
    mount("remount,size=64m");
    assert!(
        converges(&s, 3).await,
        "the sync did not resume once space returned"
    );
    assert_mirrors(&t, &sim, 90).await;
    assert_consistent(&t, &sim).await;
    let status = gql("{ syncStatus { lastError } }").await;
    assert!(!status.to_string().contains("full"), "{status}");
    shutdown.cancel();
    server.wait().await.unwrap();
}

/// A short soak of `serve` (its own process): a sync write every second, 8 clients reading and
/// 5 WebSocket subscribers for 20 s: no error, and no answer older than one the same client got
/// before (`x-feed-position` never goes back), and resident memory flat within 25% after the
/// warm-up. `scripts/chaos` runs it for 30 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak() {
    let t = TestDb::sqlite().await;
    let mut args = sim_args(25, 4, 3, NOW);
    args.now = None;
    args.speed = 1800.0;
    let sim = simulator(args).await;
    let mut child = command()
        .env("LOG_LEVEL", "info")
        .args([
            "serve",
            "--database-url",
            t.url.as_str(),
            "--listen-addr",
            "127.0.0.1:0",
        ])
        .args(["--upstreams", &format!("sim={}", sim.url)])
        .args(["--tokens", &sim.sim.token_addresses().join(",")])
        .args(["--backfill", "2d", "--sync-interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || listening_address(stderr))
        .await
        .unwrap()
        .expect("serve says where it listens");
    let base = format!("http://{addr}");
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let tokens = sim.sim.token_addresses();
    // The first pass has put every token in the mirror.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a: Value = reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .json(&json!({"query": "{ tokens { address } }"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if a["data"]["tokens"]
            .as_array()
            .is_some_and(|t| t.len() == tokens.len())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first pass did not finish: {a}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Subscribers (graphql-transport-ws), kept open for the run.
    let mut subscribers = Vec::new();
    for (i, token) in tokens.iter().cycle().take(5).enumerate() {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message;
        let mut req = format!("ws://{addr}/graphql")
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        ws.send(Message::text(
            json!({"type": "connection_init"}).to_string(),
        ))
        .await
        .unwrap();
        ws.send(Message::text(
            json!({"id": i.to_string(), "type": "subscribe", "payload": {"query":
                format!("subscription {{ tokenCandles(address: \"{token}\") {{ periodStartUnix close }} }}")}})
            .to_string(),
        ))
        .await
        .unwrap();
        subscribers.push(tokio::spawn(async move {
            let mut pushes = 0u32;
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_ne!(v["type"], "error", "{v}");
                    if v["type"] == "next" {
                        assert!(v["payload"]["errors"].is_null(), "{v}");
                        pushes += 1;
                    }
                }
            }
            pushes
        }));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let readers: Vec<_> = (0..8)
        .map(|i| {
            let (base, stop, token) = (base.clone(), stop.clone(), tokens[i % tokens.len()].clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let q = format!("{{ tokenHourData(address: \"{token}\", from: \"2020-01-01T00:00:00Z\", interval: \"1h\", order: DESC, limit: 24) {{ periodStartUnix close }} }}");
                let (mut n, mut last) = (0u32, 0i64);
                while !stop.is_cancelled() {
                    let r = client
                        .post(format!("{base}/graphql"))
                        .json(&json!({ "query": q }))
                        .send()
                        .await
                        .unwrap();
                    let position: i64 = r.headers()["x-feed-position"].to_str().unwrap().parse().unwrap();
                    assert!(position >= last, "an answer older than the one before it");
                    last = position;
                    let a: Value = r.json().await.unwrap();
                    assert!(a["errors"].is_null(), "{a}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let warm = rss(child.id());
    let mut highest = warm;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        highest = highest.max(rss(child.id()));
    }
    stop.cancel();
    let mut answers = 0;
    for r in readers {
        answers += r.await.unwrap();
    }
    assert!(answers > 100, "only {answers} answers");
    assert!(
        highest * 100 <= warm * 125,
        "resident memory grew from {warm} kB to {highest} kB"
    );
    sigterm(child.id());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let mut pushes = 0;
    for s in subscribers {
        pushes += s.await.unwrap();
    }
    assert!(pushes >= 5, "only {pushes} pushes to 5 subscribers");
}
