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
    Postgres { admin_url: String, name: String },
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
