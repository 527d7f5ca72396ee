//! Fresh stores for the backend-agnostic suite: a temporary SQLite file, or a new database on
//! the PostgreSQL server named by `TRACKWAY_TEST_DATABASE_URL`.

use std::path::PathBuf;

use sqlx::{AssertSqlSafe, Connection};
use trackway_store::Store;

/// A store on a fresh database, and what to clean up after the test.
pub struct TestDb {
    /// The store.
    pub store: Store,
    /// The backend URI, to reopen the same database.
    pub uri: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    /// Closes the store and drops a PostgreSQL test database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(pg_drop) = self.pg_drop {
            drop_postgres(pg_drop).await;
        }
    }
}

pub const ARTIFACT_ROOT: &str = "mlflow-artifacts:/";

/// An empty SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("mlflow.db");
    let uri = format!("sqlite:///{}", path.display());
    let store = Store::open(&uri, ARTIFACT_ROOT)
        .await
        .expect("open sqlite store");
    TestDb {
        store,
        uri,
        _dir: Some(dir),
        pg_drop: None,
    }
}

/// The PostgreSQL server the suite uses. Set `TRACKWAY_TEST_DATABASE_URL` (the test command
/// does); set `TRACKWAY_SKIP_POSTGRES=1` to run without one on purpose.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("TRACKWAY_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("TRACKWAY_SKIP_POSTGRES").is_ok_and(|v| v == "1") => None,
        _ => panic!(
            "TRACKWAY_TEST_DATABASE_URL is not set: point it at a PostgreSQL server \
             (e.g. postgresql://postgres@127.0.0.1:5432/postgres) or set TRACKWAY_SKIP_POSTGRES=1"
        ),
    }
}

/// A new, empty database on the test PostgreSQL server; `None` when skipping on purpose.
pub async fn postgres() -> Option<TestDb> {
    let (uri, pg_drop) = empty_postgres().await?;
    let store = Store::open(&uri, ARTIFACT_ROOT)
        .await
        .expect("open postgres store");
    Some(TestDb {
        store,
        uri,
        _dir: None,
        pg_drop: Some(pg_drop),
    })
}

/// A new database on the test PostgreSQL server, not opened: its URI, and the admin URL and
/// name that [`drop_postgres`] takes.
pub async fn empty_postgres() -> Option<(String, (String, String))> {
    let admin_url = postgres_admin_url()?;
    let name = format!("trackway_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to postgres");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    Some((replace_database(&admin_url, &name), (admin_url, name)))
}

/// Drops a database that [`empty_postgres`] made.
pub async fn drop_postgres((admin_url, name): (String, String)) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// Swaps the database name at the end of a PostgreSQL URL.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
