//! Read replicas on a real streaming standby (the short version of `scripts/replica-check`): a
//! primary and a standby of the test's own (`initdb`, `pg_basebackup -R`), a syncing `serve`
//! with `--database-read-urls`. Reads go to the standby and answer what the primary holds; the
//! standby stopped, every read still answers (on the primary, no error), `/readyz` and
//! `/metrics` say it is down; started again, it comes back into the rotation by itself.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli::{command, listening_address};
use crate::support::{post_graphql, PgCluster};
use crate::sync::{sim_args, simulator, NET, NOW};

/// Polls `check` every 100 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < end, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A metric's value (`name{labels}` exactly as /metrics writes it), 0 when absent.
fn metric(text: &str, key: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .next_back()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_a_standby_and_survive_its_restart() {
    let primary = PgCluster::start();
    let standby = PgCluster::standby_of(&primary);
    let sim = simulator(sim_args(31, 2, 10, NOW)).await;
    let tokens = sim.sim.token_addresses();
    let mut child = command()
        .args(["serve", "--listen-addr", "127.0.0.1:0"])
        .args(["--database-url", &primary.url()])
        .args(["--database-read-urls", &standby.url()])
        .args(["--upstreams", &format!("{NET}={}", sim.url)])
        .args(["--tokens", &tokens.join(",")])
        .args(["--backfill", "10d", "--sync-interval", "1s"])
        // Every answer read from a database (the cache would answer repeated reads itself).
        .args(["--cache-bytes", "0"])
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_address(child.stderr.take().unwrap()).expect("serve starts");
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let r = client
                .get(format!("{base}{path}"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .expect("the server answers");
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let query = format!(
        "{{ tokenHourData(address: \"{}\", from: \"2026-05-25T00:00:00Z\", to: \"2026-05-31T00:00:00Z\", interval: \"4h\") {{ periodStartUnix open close volumeUSD }} }}",
        tokens[0]
    );
    let ask = {
        let (client, base, query) = (client.clone(), base.clone(), query.clone());
        move || {
            let (client, base, query) = (client.clone(), base.clone(), query.clone());
            async move { post_graphql(&client, &base, &query).await }
        }
    };
    let synced = || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let r = post_graphql(&client, &base, "{ syncStatus { lastSuccessAt } }").await;
            r["data"]["syncStatus"]
                .as_array()
                .is_some_and(|s| s.len() == 2 && s.iter().all(|t| !t["lastSuccessAt"].is_null()))
        }
    };
    eventually(Duration::from_secs(60), "every token synced", synced).await;
    let listed = |state: &'static str| async move {
        let (status, body) = get("/readyz").await;
        status == 200 && body.contains(&format!(": {state},"))
    };
    eventually(Duration::from_secs(30), "the standby in rotation", || {
        listed("in rotation")
    })
    .await;

    // The simulator's clock is frozen: once synced, the answer no longer changes. Read from the
    // standby, it must be the primary's (asked again below while the standby is down).
    let standby_key = format!(
        "tokenmirror_replica_reads_total{{standby=\"{}\"}}",
        standby.url()
    );
    let primary_key = "tokenmirror_replica_reads_total{standby=\"primary\"}";
    let before = get("/metrics").await.1;
    let mut from_standby = Vec::new();
    // Right after each pass's write, reads go to the primary until the standby's next poll
    // shows it replayed: ask until some went to the standby.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        from_standby.push(ask().await);
        if metric(&get("/metrics").await.1, &standby_key) > metric(&before, &standby_key) {
            break;
        }
        assert!(
            Instant::now() < end,
            "no read went to the standby within 20 s"
        );
    }
    let first = &from_standby[0];
    assert!(
        first["errors"].is_null() && first["data"]["tokenHourData"].as_array().unwrap().len() > 20,
        "{first}"
    );
    assert!(from_standby.iter().all(|a| a == first));

    // The standby stops (fast: its sessions are ended): every read still answers, from the
    // primary, without an error, and /readyz and /metrics say so.
    // Readers keep asking while it stops, so that reads are in flight on it when its sessions end.
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (ask, stopping) = (ask.clone(), stopping.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    answers.push(ask().await);
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await; // reads under way (a run length)
    standby.stop();
    tokio::time::sleep(Duration::from_millis(300)).await; // and after (a run length)
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut during = 0;
    for r in readers {
        for a in r.await.unwrap() {
            assert_eq!(&a, first, "a read while the standby stops");
            during += 1;
        }
    }
    assert!(during >= 8, "{during} reads while the standby stopped");
    eventually(Duration::from_secs(10), "the standby listed down", || {
        listed("down, out of rotation")
    })
    .await;
    let up_key = format!("tokenmirror_replica_up{{standby=\"{}\"}}", standby.url());
    eventually(Duration::from_secs(10), "tokenmirror_replica_up 0", || {
        let up_key = up_key.clone();
        async move { metric(&get("/metrics").await.1, &up_key) == 0.0 }
    })
    .await;
    let down = get("/metrics").await.1;
    for _ in 0..5 {
        assert_eq!(&ask().await, first, "a read while the standby is down");
    }
    let down_after = get("/metrics").await.1;
    assert!(metric(&down_after, primary_key) >= metric(&down, primary_key) + 5.0);
    assert_eq!(
        metric(&down_after, &standby_key),
        metric(&down, &standby_key)
    );

    // Started again, it comes back into the rotation by itself and serves reads.
    standby.restart();
    eventually(
        Duration::from_secs(30),
        "the standby back in rotation",
        || listed("in rotation"),
    )
    .await;
    let back = get("/metrics").await.1;
    for _ in 0..10 {
        assert_eq!(&ask().await, first, "a read after the standby's return");
    }
    let back_after = get("/metrics").await.1;
    assert!(metric(&back_after, &standby_key) > metric(&back, &standby_key));

    crate::cli::sigterm(child.id());
    assert!(child.wait().unwrap().success(), "serve exits 0 on SIGTERM");
    sim.stop().await;
}
