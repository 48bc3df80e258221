//! Test harness: per-test databases on SQLite and PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database};
use tokenmirror::config::DatabaseUrl;
use tokenmirror::db::Db;

/// The environment variable holding an admin URL of the PostgreSQL server the tests use.
pub const PG_ENV: &str = "TOKENMIRROR_TEST_PG";

/// A fresh, migrated database that disappears when dropped.
pub struct TestDb {
    pub db: Db,
    #[allow(dead_code)]
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// The caller owns the file.
    Nothing,
}

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// A migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url: DatabaseUrl = format!("sqlite://{}/test.db?mode=rwc", dir.path().display())
            .parse()
            .expect("sqlite url");
        let db = Db::connect(&url).await.expect("open sqlite");
        db.migrate().await.expect("migrate sqlite");
        TestDb {
            db,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A SQLite database the caller made (and removes).
    #[allow(dead_code)]
    pub fn wrap_sqlite(db: Db, url: DatabaseUrl) -> TestDb {
        TestDb {
            db,
            url,
            cleanup: Cleanup::Nothing,
        }
    }

    /// A migrated PostgreSQL database of its own, on the server named by `TOKENMIRROR_TEST_PG`.
    pub async fn postgres() -> TestDb {
        let (url, admin_url, name) = create_pg_database().await;
        let db = Db::connect(&url).await.expect("open postgres");
        db.migrate().await.expect("migrate postgres");
        TestDb {
            db,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }
}

/// Creates an empty, uniquely named PostgreSQL database; returns its URL, the admin URL and its
/// name.
pub async fn create_pg_database() -> (DatabaseUrl, String, String) {
    let admin_url = std::env::var(PG_ENV).unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need {PG_ENV}=postgres://USER@HOST:PORT/DB (an admin URL); \
             run ./scripts/test, which starts PostgreSQL and sets it"
        )
    });
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "tm_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    );
    let admin = Database::connect(admin_url.as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_ENV}: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let url = replace_db_name(&admin_url, &name)
        .parse()
        .expect("test database url");
    (url, admin_url, name)
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// The same server URL with another database name.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Drops a PostgreSQL database (closing any connection still on it).
pub fn drop_pg_database(admin_url: &str, name: &str) {
    let admin_url = admin_url.to_owned();
    let name = name.to_owned();
    // Drop runs outside any runtime that could block here: use a thread with its own.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            }
        });
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            drop_pg_database(admin_url, name);
        }
    }
}

/// Declares a test module running `$body(TestDb)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident => $body:path;)+) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $body($crate::support::TestDb::new($crate::support::Backend::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $body($crate::support::TestDb::new($crate::support::Backend::Postgres).await).await
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;

/// The API server, started on a loopback port over a test database.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The server's process-wide parts (its metrics and change feed).
    #[allow(dead_code)]
    pub shared: tokenmirror::app::Shared,
    /// Its response cache.
    #[allow(dead_code)]
    pub cache: tokenmirror::http::cache::ResponseCache,
    /// The database under the server, kept alive (and dropped) with it.
    #[allow(dead_code)]
    pub db: TestDb,
}

impl TestApp {
    /// Starts the real server (router, middleware, schema) on `127.0.0.1:0` over `db`, with
    /// `networks` configured (the first is the default).
    pub async fn start(db: TestDb, networks: &[&str]) -> TestApp {
        TestApp::start_with(db, networks, tokenmirror::api::Limits::default()).await
    }

    pub async fn start_with(
        db: TestDb,
        networks: &[&str],
        limits: tokenmirror::api::Limits,
    ) -> TestApp {
        let settings = tokenmirror::app::ServerSettings {
            listen_addr: "127.0.0.1:0".parse().expect("addr"),
            limits,
            ..Default::default()
        };
        TestApp::start_as(db, networks, settings, false).await
    }

    /// Starts a server with `settings` (its listen address is always a free loopback port);
    /// with `watch`, it also watches the database for other processes' writes, as `serve` does.
    pub async fn start_as(
        db: TestDb,
        networks: &[&str],
        settings: tokenmirror::app::ServerSettings,
        watch: bool,
    ) -> TestApp {
        let shared = tokenmirror::app::Shared::new(db.db.clone());
        let shutdown = tokio_util::sync::CancellationToken::new();
        if watch {
            tokenmirror::app::start_feed(&shared, &db.url, shutdown.clone())
                .await
                .expect("watch the change feed");
        }
        let settings = tokenmirror::app::ServerSettings {
            listen_addr: "127.0.0.1:0".parse().expect("addr"),
            ..settings
        };
        let networks = networks.iter().map(|n| (*n).to_owned()).collect();
        let server = tokenmirror::app::start_server(&shared, networks, &settings, shutdown.clone())
            .await
            .expect("start server");
        TestApp {
            addr: server.addr,
            client: reqwest::Client::new(),
            shutdown,
            shared,
            cache: server.cache,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL request and returns the JSON answer (any status).
    pub async fn gql(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        self.client
            .post(self.url("/graphql"))
            .json(&serde_json::json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json answer")
    }
}

/// POSTs `query` to `base`/graphql; its JSON answer (within 10 s).
pub async fn post_graphql(client: &reqwest::Client, base: &str, query: &str) -> serde_json::Value {
    client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({ "query": query }))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON answer")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The `extensions.code` of every error in a GraphQL answer.
pub fn error_codes(answer: &serde_json::Value) -> Vec<String> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A TCP proxy in front of a server, which a test can cut (every connection dropped, new ones
/// refused) and restore: the database "goes away" without stopping the shared server.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Cancelled by [`Proxy::stall`].
    stalled: tokio_util::sync::CancellationToken,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> =
            Default::default();
        let stalled = tokio_util::sync::CancellationToken::new();
        let (c, l, st) = (cut.clone(), links.clone(), stalled.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let st = st.clone();
                let link = tokio::spawn(async move {
                    if st.is_cancelled() {
                        // Held open, never answered.
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = st.cancelled() => std::future::pending::<()>().await,
                        }
                    }
                });
                l.lock().expect("links").push(link);
            }
        });
        Proxy {
            addr,
            cut,
            links,
            stalled,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    /// Stops forwarding for good, holding every connection open: the server behind it "hangs"
    /// (a network partition rather than a refusal).
    pub fn stall(&self) {
        self.stalled.cancel();
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `host:port` of a postgres URL.
pub fn pg_host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority)
        .to_owned()
}

/// The same URL with another `host:port`.
pub fn with_host_port(url: &str, host_port: &str) -> String {
    url.replacen(&pg_host_port(url), host_port, 1)
}

/// A server on PostgreSQL whose every connection (pool and health checks) goes through a proxy
/// the test controls, with `settings`.
pub async fn behind_proxy(settings: tokenmirror::app::ServerSettings) -> (TestApp, Proxy) {
    let direct = TestDb::postgres().await;
    let admin = std::env::var(PG_ENV).unwrap();
    let target = std::net::ToSocketAddrs::to_socket_addrs(&pg_host_port(&admin))
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let proxied_url = with_host_port(direct.url.as_str(), &proxy.addr.to_string());
    let proxied = tokenmirror::db::Db::connect(&proxied_url.parse().unwrap())
        .await
        .unwrap();
    let mut t = direct;
    t.db = proxied;
    (TestApp::start_as(t, &["sim"], settings, false).await, proxy)
}

/// A PostgreSQL 15 cluster of the test's own, on a free loopback port, which the test may stop
/// and start (the shared server is never restarted). Made with `initdb` as the `postgres`
/// user (the tests run as root: `./scripts/test` installs or starts PostgreSQL as root).
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

/// The newest installed PostgreSQL's programs (Debian's layout).
fn pg_bin() -> String {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs in /usr/lib/postgresql (./scripts/test installs them)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let v = versions
        .last()
        .expect("a PostgreSQL version in /usr/lib/postgresql");
    format!("/usr/lib/postgresql/{v}/bin")
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser (the tests run as root, to make PostgreSQL clusters of their own)");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgCluster {
    /// A new cluster, started.
    pub fn start() -> PgCluster {
        let dir = Self::directory();
        let data = dir.path().join("data").display().to_string();
        as_postgres(&[
            &format!("{}/initdb", pg_bin()),
            "-D",
            &data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]);
        Self::configure_and_start(dir, "")
    }

    /// A streaming hot standby of `primary` (`pg_basebackup -R`; initdb's pg_hba.conf lets
    /// 127.0.0.1 replicate), started; it answers once it accepts read-only connections.
    pub fn standby_of(primary: &PgCluster) -> PgCluster {
        let dir = Self::directory();
        let data = dir.path().join("data").display().to_string();
        as_postgres(&[
            &format!("{}/pg_basebackup", pg_bin()),
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-D",
            &data,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ]);
        Self::configure_and_start(dir, "hot_standby = on\n")
    }

    /// A temporary directory the `postgres` user owns.
    fn directory() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("tm-pgcluster")
            .tempdir()
            .expect("temp dir");
        let status = std::process::Command::new("chown")
            .args(["postgres:postgres", &dir.path().display().to_string()])
            .status()
            .expect("chown");
        assert!(
            status.success(),
            "chown the cluster's directory to postgres"
        );
        dir
    }

    /// Gives the cluster in `dir`/data a free loopback port (settings appended last win over
    /// what a base backup copied) and starts it.
    fn configure_and_start(dir: tempfile::TempDir, extra: &str) -> PgCluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n{extra}",
            dir.path().display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("data/postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .expect("configure the cluster");
        let cluster = PgCluster { dir, port };
        cluster.pg_ctl("start");
        cluster
    }

    fn pg_ctl(&self, what: &str) {
        let data = self.dir.path().join("data").display().to_string();
        let log = self.dir.path().join("log").display().to_string();
        let mut args = vec![
            format!("{}/pg_ctl", pg_bin()),
            "-D".into(),
            data,
            "-w".into(),
        ];
        if what == "start" {
            args.extend(["-l".into(), log]);
        }
        if what == "stop" {
            args.extend(["-m".into(), "fast".into()]);
        }
        args.push(what.into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        as_postgres(&refs);
    }

    /// Stops the server (fast: connections are cut) and waits until it is down.
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    /// Starts it again and waits until it accepts connections.
    pub fn restart(&self) {
        self.pg_ctl("start");
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args([
                &format!("{}/pg_ctl", pg_bin()),
                "-D",
                &data,
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}
