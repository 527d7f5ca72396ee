//! Connections: which database a URI names, and the pools that talk to it.
//!
//! Both engines go through sqlx's `Any` driver so that every query is written once, with `$n`
//! placeholders that SQLite and PostgreSQL both accept. [`Backend`] records the engine for the
//! few statements whose SQL differs.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, ConnectOptions, Executor};
use tokio::sync::OwnedMutexGuard;

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A parsed `--backend-store-uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUri {
    /// `sqlite:///relative.db` or `sqlite:////absolute.db` (SQLAlchemy's spelling).
    Sqlite(PathBuf),
    /// `postgresql://...`, with any `+driver` suffix removed.
    Postgres(String),
}

/// Why a backend URI cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URI names no supported database.
    #[error(
        "unsupported backend store URI '{0}': Trackway serves sqlite:///<path> and \
         postgresql://<user>@<host>/<db>"
    )]
    UnsupportedUri(String),
    /// The database holds a schema Trackway will not touch.
    #[error("{0}")]
    Schema(String),
    /// The database could not be reached or queried.
    #[error("cannot open {uri}: {source}")]
    Connect {
        /// The URI, with any password removed.
        uri: String,
        /// What the driver said.
        source: sqlx::Error,
    },
}

impl DatabaseUri {
    /// Parses a backend store URI as MLflow (SQLAlchemy) spells it.
    pub fn parse(uri: &str) -> Result<Self, OpenError> {
        let unsupported = || OpenError::UnsupportedUri(redact(uri));
        let (scheme, rest) = uri.split_once("://").ok_or_else(unsupported)?;
        let engine = scheme.split('+').next().unwrap_or(scheme);
        match engine {
            "sqlite" => {
                // SQLAlchemy: `sqlite:///a.db` is relative, `sqlite:////a.db` is absolute.
                let path = rest.strip_prefix('/').ok_or_else(unsupported)?;
                let path = path.split('?').next().unwrap_or(path);
                if path.is_empty() || path == ":memory:" {
                    return Err(unsupported());
                }
                Ok(DatabaseUri::Sqlite(PathBuf::from(path)))
            }
            "postgresql" | "postgres" => Ok(DatabaseUri::Postgres(format!("postgresql://{rest}"))),
            _ => Err(unsupported()),
        }
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUri::Sqlite(_) => Backend::Sqlite,
            DatabaseUri::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Removes a password from a URI before it is printed.
pub fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let userinfo = &uri[start + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &uri[..start + 3], user, &uri[at..]),
                None => uri.to_string(),
            }
        }
        _ => uri.to_string(),
    }
}

/// When SQLite's planner statistics were last refreshed (see `side::refresh_statistics`).
///
/// SQLite reads `sqlite_stat1` when a connection loads the schema, and a connection that was
/// open during another's `ANALYZE` keeps planning with what it read before, cached statements
/// included: a search that took 13 ms on a fresh connection took 60 ms on one opened before
/// the statistics existed. Pooled connections older than the last refresh are therefore
/// retired when next acquired, and their replacements read the new statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatsClock(Arc<Mutex<Option<Instant>>>);

impl StatsClock {
    /// Records a refresh now.
    pub(crate) fn refreshed(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Whether a connection opened `age` ago predates the last refresh.
    pub(crate) fn is_stale(&self, age: Duration) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() < age)
    }
}

/// The pools of one store.
///
/// SQLite allows one writer at a time. The process queues its writers on one lock (taken by
/// [`Pools::write`], [`Pools::begin_write`] and the rusqlite writer of
/// [`crate::sqlite_direct`]) and opens every write transaction with `BEGIN IMMEDIATE`, so
/// that concurrent writers wait their turn instead of meeting `database is locked`, while
/// reads proceed in parallel under WAL. PostgreSQL uses one pool for both and no lock.
#[derive(Debug, Clone)]
pub struct Pools {
    /// Engine.
    pub backend: Backend,
    /// Connections for writes; taken through [`Pools::write`] or [`Pools::begin_write`], which
    /// hold the write lock on SQLite.
    pub(crate) write_pool: AnyPool,
    /// The write lock, taken on SQLite only. A `tokio` mutex, which queues its waiters in
    /// order, so that a write on sqlx's path is not starved by a stream of group commits. It
    /// used to be sqlx's single write connection itself, but sqlx pings a connection on its
    /// worker thread each time it returns to the pool: two thread switches per write of the
    /// rusqlite writer, which only held it.
    pub(crate) write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Connections for reads.
    pub read: AnyPool,
    /// SQLite: when the statistics changed, so that older connections are retired.
    pub(crate) stats: StatsClock,
}

/// How long a SQLite connection waits for another process's lock before giving up.
pub(crate) const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;

/// SQLite settings applied to every connection.
///
/// `synchronous = FULL` makes every acknowledged commit durable; `case_sensitive_like` makes
/// `LIKE` distinguish case as MLflow (which sets the same pragma) and PostgreSQL do.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
     PRAGMA case_sensitive_like = ON;";

/// Settings of the connections that write, on top of [`SQLITE_PRAGMAS`].
///
/// The WAL is checkpointed by a task of its own (`sqlite_direct::checkpoint`); a writer
/// checkpoints it only past 4,000 pages (16 MB) instead of SQLite's 1,000, which bounds the
/// WAL under sustained writes. Savepoints' page copies stay in memory, not in a temporary file.
pub(crate) const SQLITE_WRITER_PRAGMAS: &str =
    "PRAGMA wal_autocheckpoint = 4000; PRAGMA temp_store = MEMORY;";

/// Settings of the connections that only read, on top of [`SQLITE_PRAGMAS`] (sqlx's readers)
/// or alone (`sqlite_direct`'s).
///
/// Readers map the database file (up to 1 GiB of it) instead of copying each page they read
/// into a page cache of their own. Every reader then shares the operating system's cache, so
/// a connection opened later, or one whose cache a commit reset, does not read the database
/// again page by page. First searches on a just-started server (20,000 runs, five restarts)
/// took 20 to 31 ms instead of 25 to 36, and the later ones' 90th percentile 14.5 to 15
/// instead of 19 to 21; the median did not change. The cost is resident memory: the mapped
/// pages a reader touched count in its process's RSS (about 2 MiB more at idle on a new
/// database). Only the main file is mapped; WAL pages are still read into the cache, and
/// writes go through `write` as before. As SQLite documents, a disk error under a mapped page
/// reaches the process as a signal instead of an error code.
pub(crate) const SQLITE_READER_PRAGMAS: &str = "PRAGMA mmap_size = 1073741824;";

/// The statements that set up a SQLite connection of Trackway's (sqlx's or rusqlite's):
/// `pragmas`, the busy timeout, and a page cache of `cache_kib`.
pub(crate) fn sqlite_settings(pragmas: &str, cache_kib: u32) -> String {
    format!(
        "{pragmas} PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
         PRAGMA cache_size = -{cache_kib};"
    )
}

/// Page cache per connection, in KiB. Readers get 16 MB: searches revisit index pages. The
/// writer gets 8 MB: inserts touch the right-hand edges of the B-trees, and a larger cache
/// only held pages it had passed, which was most of the server's memory under 16 concurrent
/// writers.
const SQLITE_READ_CACHE_KIB: u32 = 16_000;
pub(crate) const SQLITE_WRITE_CACHE_KIB: u32 = 8_000;

/// PostgreSQL settings applied to every connection.
///
/// No parallel query: a tracking server answers many small requests at once, and on a small
/// machine a search that started two workers took 86 to 99 ms instead of 39 ms (20,000 runs,
/// two filters and a sort, on 2 cores), since the workers' start-up and the gathering cost more
/// than they saved and took cores from the other requests.
const POSTGRES_SESSION: &str = "SET max_parallel_workers_per_gather = 0";

impl Pools {
    /// Connects to the database a URI names.
    pub async fn connect(uri: &DatabaseUri) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        match uri {
            DatabaseUri::Sqlite(path) => Self::connect_sqlite(path).await,
            DatabaseUri::Postgres(url) => Self::connect_postgres(url).await,
        }
    }

    async fn connect_sqlite(path: &std::path::Path) -> Result<Self, OpenError> {
        let encoded: String = path
            .to_string_lossy()
            .chars()
            .map(|c| match c {
                '%' | '?' | '#' => format!("%{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect();
        let url = format!("sqlite://{encoded}?mode=rwc");
        let connect_err = |source| OpenError::Connect {
            uri: format!("sqlite:///{}", path.display()),
            source,
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(connect_err)?
            .disable_statement_logging();
        let stats = StatsClock::default();
        let write_pragmas = sqlite_settings(
            &format!("{SQLITE_PRAGMAS} {SQLITE_WRITER_PRAGMAS}"),
            SQLITE_WRITE_CACHE_KIB,
        );
        let write = sqlite_pool(pool_options(1, &write_pragmas), &stats)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        // WAL is a property of the file. The write pool's one connection sets it before the
        // read pool opens, so no reader races the switch (a connection of its own for this
        // was 1.3 ms of a 9 ms start).
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&write)
            .await
            .map_err(connect_err)?;
        let read = sqlite_pool(
            pool_options(
                4,
                &sqlite_settings(
                    &format!("{SQLITE_PRAGMAS} {SQLITE_READER_PRAGMAS}"),
                    SQLITE_READ_CACHE_KIB,
                ),
            ),
            &stats,
        )
        .connect_with(options)
        .await
        .map_err(connect_err)?;
        Ok(Pools {
            backend: Backend::Sqlite,
            write_pool: write,
            read,
            stats,
            write_lock: Arc::default(),
        })
    }

    async fn connect_postgres(url: &str) -> Result<Self, OpenError> {
        let connect_err = |source| OpenError::Connect {
            uri: redact(url),
            source,
        };
        let options = AnyConnectOptions::from_str(url)
            .map_err(connect_err)?
            .disable_statement_logging();
        let pool = postgres_pool(pool_options(16, POSTGRES_SESSION))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Pools {
            backend: Backend::Postgres,
            write_pool: pool.clone(),
            read: pool,
            stats: StatsClock::default(),
            write_lock: Arc::default(),
        })
    }

    /// Takes the process's write lock (SQLite), first in line behind the writers already
    /// waiting.
    async fn lock_writes(&self) -> Option<OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.write_lock).lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// A write connection, holding the write lock on SQLite until it is dropped; for writes of
    /// single statements.
    pub(crate) async fn write(&self) -> sqlx::Result<WriteConn> {
        let lock = self.lock_writes().await;
        Ok(WriteConn {
            conn: self.write_pool.acquire().await?,
            _lock: lock,
        })
    }

    /// Begins a write transaction. On SQLite it holds the write lock until the transaction
    /// ends and takes SQLite's at once, so that a transaction that reads before it writes
    /// cannot fail when another process wrote in between (SQLite does not wait on
    /// `busy_timeout` for that upgrade).
    pub async fn begin_write(&self) -> sqlx::Result<WriteTx> {
        let lock = self.lock_writes().await;
        let tx = match self.backend {
            Backend::Sqlite => self.write_pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write_pool.begin().await?,
        };
        Ok(WriteTx { tx, _lock: lock })
    }
}

/// A write connection and, on SQLite, the write lock (see [`Pools::write`]).
pub(crate) struct WriteConn {
    conn: PoolConnection<Any>,
    _lock: Option<OwnedMutexGuard<()>>,
}

impl Deref for WriteConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// A write transaction and, on SQLite, the write lock (see [`Pools::begin_write`]).
///
/// Dropped without [`WriteTx::commit`] (an error path), it rolls back as sqlx's transactions
/// do: on the connection's way back to its pool, in a task of sqlx's, after the lock is gone.
/// A writer that takes the lock in between waits for that rollback in SQLite's busy handler
/// (its first retry is after 1 ms), so the order of writes is still SQLite's to keep.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, Any>,
    _lock: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = sqlx::Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// The engine behind a pool, from its URL scheme.
pub(crate) fn backend_of(pool: &AnyPool) -> Backend {
    if pool
        .connect_options()
        .database_url
        .scheme()
        .starts_with("sqlite")
    {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// The engine of a transaction's connection.
pub(crate) fn backend_of_transaction(tx: &sqlx::Transaction<'static, sqlx::Any>) -> Backend {
    if tx.backend_name().eq_ignore_ascii_case("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// SQLite pool settings: a connection older than the last statistics refresh is closed
/// instead of handed out, and no connection is pinged before it is handed out. sqlx pings by
/// default on every acquire, which on SQLite is one more round trip to the connection's
/// worker thread for a file that cannot hang up; those round trips (two thread switches each)
/// are what a small write mostly costs.
fn sqlite_pool(options: AnyPoolOptions, stats: &StatsClock) -> AnyPoolOptions {
    let stats = stats.clone();
    options
        .test_before_acquire(false)
        .before_acquire(move |_conn, meta| {
            let fresh = !stats.is_stale(meta.age);
            Box::pin(async move { Ok(fresh) })
        })
}

/// A pool of PostgreSQL's own driver beside [`Pools`], for the reads that return many rows
/// (see `RowReader`). It connects when first used, with the same session settings.
pub(crate) fn postgres_reader(url: &str) -> Result<sqlx::PgPool, OpenError> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|source| OpenError::Connect {
            uri: redact(url),
            source,
        })?
        .disable_statement_logging();
    Ok(postgres_pool(pool_options(8, POSTGRES_SESSION))
        .min_connections(0)
        .connect_lazy_with(options))
}

/// PostgreSQL pool settings, for both of a store's pools: see [`ping_when_idle`].
fn postgres_pool<DB: sqlx::Database>(options: PoolOptions<DB>) -> PoolOptions<DB> {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(ping_when_idle(conn, meta)))
}

/// How long a PostgreSQL connection may sit idle in a pool and still be handed out unchecked.
const UNCHECKED_IDLE: Duration = Duration::from_secs(1);

/// Hands out a PostgreSQL connection that was idle less than [`UNCHECKED_IDLE`] as it is, and
/// pings one idle longer first, dropping it if the ping fails. sqlx pings on every acquire by
/// default: one more round trip for every statement group, four per run lifecycle (create,
/// log-batch, end). A connection in steady use has just answered; one the server or the network
/// dropped while it sat idle is still caught before a request gets it.
async fn ping_when_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> sqlx::Result<bool> {
    Ok(meta.idle_for < UNCHECKED_IDLE || conn.ping().await.is_ok())
}

fn pool_options<DB: sqlx::Database>(max_connections: u32, init_sql: &str) -> PoolOptions<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let init_sql = init_sql.to_string();
    PoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(move |conn: &mut DB::Connection, _meta| {
            let init_sql = init_sql.clone();
            Box::pin(async move {
                if !init_sql.is_empty() {
                    conn.execute(AssertSqlSafe(init_sql)).await?;
                }
                Ok(())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlalchemy_uris() {
        assert_eq!(
            DatabaseUri::parse("sqlite:///mlflow.db").unwrap(),
            DatabaseUri::Sqlite("mlflow.db".into())
        );
        assert_eq!(
            DatabaseUri::parse("sqlite:////tmp/x.db").unwrap(),
            DatabaseUri::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseUri::parse("postgresql+psycopg2://u:p@h:5432/db").unwrap(),
            DatabaseUri::Postgres("postgresql://u:p@h:5432/db".into())
        );
        assert!(DatabaseUri::parse("mysql://h/db").is_err());
        assert!(DatabaseUri::parse("./mlruns").is_err());
        assert!(DatabaseUri::parse("sqlite://").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgresql://u:secret@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(redact("postgresql://u@h/db"), "postgresql://u@h/db");
    }
}
