//! The binary as a user runs it: help, migrate, schema, `sync --once` exit codes, and `serve`
//! stopping cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokenmirror_simulator::{SimConfig, Simulator};

use crate::support::{create_pg_database, drop_pg_database};

const BIN: &str = env!("CARGO_BIN_EXE_tokenmirror");

/// Configuration a developer's shell may have set; the tests pass everything as flags.
const ENV: [&str; 12] = [
    "DATABASE_URL",
    "SYNC",
    "CACHE_BYTES",
    "GRAPH_GATEWAY_URL",
    "UPSTREAMS",
    "TOKENS",
    "GRAPH_API_KEY",
    "BACKFILL",
    "OVERLAP",
    "SYNC_INTERVAL",
    "SYNC_CONCURRENCY",
    "LISTEN_ADDR",
];

pub fn command() -> Command {
    let mut c = Command::new(BIN);
    for var in ENV {
        c.env_remove(var);
    }
    c.env("LOG_LEVEL", "warn");
    c
}

/// Sends SIGTERM to process `pid`.
pub fn sigterm(pid: u32) {
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// Reads a server's log lines until the one saying where it listens; returns that address. The
/// rest of the log is drained in the background, so that the server never blocks on it.
pub fn listening_address(stderr: std::process::ChildStderr) -> Option<String> {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let found = lines.by_ref().map_while(Result::ok).find_map(|line| {
        let rest = line.split("serving on http://").nth(1)?;
        Some(rest.split('/').next()?.to_owned())
    });
    std::thread::spawn(move || lines.for_each(drop));
    found
}

fn tokenmirror(args: &[&str]) -> std::process::Output {
    command().args(args).output().expect("run tokenmirror")
}

#[test]
fn help_lists_every_option_with_its_environment_variable() {
    let top = tokenmirror(&["--help"]);
    let text = String::from_utf8_lossy(&top.stdout);
    for cmd in ["serve", "demo", "simulate", "sync", "migrate", "schema"] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
    let serve = String::from_utf8_lossy(&tokenmirror(&["serve", "--help"]).stdout).to_string();
    for env in [
        "DATABASE_URL",
        "LISTEN_ADDR",
        "UPSTREAMS",
        "GRAPH_API_KEY",
        "GRAPH_GATEWAY_URL",
        "TOKENS",
        "SYNC_INTERVAL",
        "BACKFILL",
        "OVERLAP",
        "CORS_ORIGINS",
        "MAX_DEPTH",
        "MAX_COMPLEXITY",
        "MAX_BODY_BYTES",
        "REQUEST_TIMEOUT",
        "CACHE_BYTES",
        "SYNC",
        "SYNC_CONCURRENCY",
        "DATABASE_READ_URLS",
        "MAX_REPLICA_LAG",
        "RATE_LIMIT",
        "RATE_BURST",
        "TRUSTED_PROXIES",
        "PERSISTED_QUERIES",
        "PERSISTED_ONLY",
        "PERSISTED_QUERIES_FILE",
        "LOG_FORMAT",
        "LOG_LEVEL",
    ] {
        assert!(
            serve.contains(&format!("[env: {env}")),
            "{env} missing from serve --help"
        );
    }
    let simulate =
        String::from_utf8_lossy(&tokenmirror(&["simulate", "--help"]).stdout).to_string();
    for flag in [
        "--seed",
        "--tokens",
        "--history",
        "--now",
        "--speed",
        "--fail-rate",
        "--latency",
        "--lag",
        "--max-skip",
    ] {
        assert!(
            simulate.contains(flag),
            "{flag} missing from simulate --help"
        );
    }
}

/// Protection settings that cannot work are refused at start, saying what to write.
#[test]
fn bad_protection_settings_are_refused_at_start() {
    let cases: [(&[&str], &str); 4] = [
        (&["serve", "--rate-limit", "5/day"], "e.g. 50/s"),
        (
            &["serve", "--rate-limit", "5/s", "--trusted-proxies", "proxy"],
            "--trusted-proxies",
        ),
        (
            &["serve", "--persisted-only", "true"],
            "--persisted-queries-file",
        ),
        (
            &[
                "serve",
                "--persisted-only",
                "true",
                "--persisted-queries-file",
                "/nonexistent/pq.json",
            ],
            "cannot read PERSISTED_QUERIES_FILE",
        ),
    ];
    for (args, says) in cases {
        let out = tokenmirror(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn schema_prints_the_checked_in_sdl() {
    let out = tokenmirror(&["schema"]);
    assert!(out.status.success());
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_harmless_to_repeat_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/m.db?mode=rwc", dir.path().display());
    let (pg, admin, name) = create_pg_database().await;
    for url in [sqlite.as_str(), pg.as_str()] {
        for _ in 0..2 {
            let out = tokenmirror(&["migrate", "--database-url", url]);
            assert!(
                out.status.success(),
                "{url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    drop_pg_database(&admin, &name);
    // Without configuration it creates ./tokenmirror.db.
    let out = command()
        .arg("migrate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("tokenmirror.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_once_exit_codes() {
    let args = SimConfig {
        seed: 21,
        tokens: 2,
        history: Duration::from_secs(3 * 86_400),
        now: Some(1_780_272_000),
        corrupt_token: Some(1),
        ..SimConfig::default()
    };
    let sim = Simulator::new(&args)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tokens = sim.sim.token_addresses();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
    let upstreams = format!("sim={}", sim.url);
    let run = |tokens: String| {
        let (db, upstreams) = (db.clone(), upstreams.clone());
        tokio::task::spawn_blocking(move || {
            tokenmirror(&[
                "sync",
                "--once",
                "--database-url",
                &db,
                "--upstreams",
                &upstreams,
                "--tokens",
                &tokens,
                "--backfill",
                "2d",
            ])
        })
    };
    let ok = run(tokens[0].clone()).await.unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains(": ok,"));
    let failed = run(tokens.join(",")).await.unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stdout).contains("FAILED"));
    // TOKENS set but empty (or a trailing comma) means what it looks like: nothing to sync.
    let none = run(String::new()).await.unwrap();
    assert_eq!(
        none.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let bad = run("mars:0x0000000000000000000000000000000000000001".into())
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("mars"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/serve.db?mode=rwc", dir.path().display());
    // Port 0: the server picks a free port and logs where it listens.
    let mut child = command()
        .env("LOG_LEVEL", "info")
        .args([
            "serve",
            "--database-url",
            &db,
            "--listen-addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || listening_address(stderr))
        .await
        .unwrap()
        .expect("serve logs the address it listens on");
    let url = format!("http://{addr}/healthz");
    let answer = reqwest::get(&url).await.expect("serve answers");
    assert!(answer.status().is_success());
    sigterm(child.id());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "serve exits 0 on SIGTERM");
    assert!(reqwest::get(&url).await.is_err(), "and no longer listens");
}

/// `serve --no-sync` (or `SYNC=false`) serves and writes nothing: tracked tokens, sync state,
/// `_meta` and the change log stay as they were, whatever `TOKENS` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_no_sync_writes_nothing() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/reader.db?mode=rwc", dir.path().display());
    for no_sync in [["--no-sync"].as_slice(), [].as_slice()] {
        let mut c = command();
        c.env("LOG_LEVEL", "info");
        if no_sync.is_empty() {
            c.env("SYNC", "false");
        }
        let mut child = c
            .args([
                "serve",
                "--database-url",
                &db,
                "--listen-addr",
                "127.0.0.1:0",
            ])
            .args(no_sync)
            .args(["--upstreams", "sim=http://127.0.0.1:9/"])
            .args(["--tokens", "0x0000000000000000000000000000000000000001"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let addr = tokio::task::spawn_blocking(move || listening_address(stderr))
            .await
            .unwrap()
            .expect("serve logs where it listens");
        let answer = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
        assert!(answer.status().is_success());
        sigterm(child.id());
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0));
    }
    let conn = sea_orm::Database::connect(db.as_str()).await.unwrap();
    for table in ["tracked_token", "sync_state", "upstream_meta", "change_log"] {
        let rows = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = rows.try_get("", "n").unwrap();
        assert_eq!(n, 0, "{table} was written");
    }
}

/// SIGTERM stops `sync --once` between pages with exit 0, and the next run finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_once_stops_cleanly_on_sigterm() {
    let args = SimConfig {
        seed: 5,
        tokens: 1,
        history: Duration::from_secs(200 * 86_400),
        now: Some(1_780_272_000),
        // Slow pages, so that the signal lands in the middle of the backfill.
        latency: Duration::from_millis(300),
        ..SimConfig::default()
    };
    let sim = Simulator::new(&args)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
    let upstreams = format!("sim={}", sim.url);
    let token = sim.sim.token_addresses()[0].clone();
    let sync = move || {
        let mut c = command();
        c.args([
            "sync",
            "--once",
            "--database-url",
            &db,
            "--upstreams",
            &upstreams,
            "--tokens",
            &token,
            "--backfill",
            "200d",
        ]);
        c
    };
    let mut child = sync()
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once the pass has begun (it logs the upstream head), not after a guessed delay.
    let stderr = child.stderr.take().unwrap();
    let (begun, wait_begun) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("upstream head") {
                let _ = begun.send(());
            }
        }
    });
    tokio::task::spawn_blocking(move || wait_begun.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the pass began");
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(child.id());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let rest = tokio::task::spawn_blocking(move || sync().output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&rest.stdout);
    assert_eq!(rest.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(": ok,"), "{stdout}");
    sim.stop().await;
}

/// DATABASE_READ_URLS lists standbys only: a server that answers but is not one (here, the
/// primary itself) stops the start with a message saying so, as does a SQLite primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_url_that_is_not_a_standby_is_refused() {
    let t = crate::support::TestDb::postgres().await;
    let out = command()
        .args(["serve", "--listen-addr", "127.0.0.1:0"])
        .args(["--database-url", t.url.as_str()])
        .args(["--database-read-urls", t.url.as_str()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a standby"), "{err}");
    assert!(!err.contains(":postgres@"), "no password in: {err}");

    let dir = tempfile::tempdir().unwrap();
    let lite = format!("sqlite://{}/r.db?mode=rwc", dir.path().display());
    let out = command()
        .args(["serve", "--listen-addr", "127.0.0.1:0"])
        .args(["--database-url", &lite])
        .args(["--database-read-urls", t.url.as_str()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("needs DATABASE_URL on PostgreSQL"), "{err}");
}
