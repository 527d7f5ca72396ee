//! Trackway's metadata store: MLflow's SQL schema on SQLite and PostgreSQL, through one code
//! path.
//!
//! # Design
//!
//! - **MLflow's tables, unchanged.** Trackway reads and writes the schema of MLflow 3.17.2
//!   ([`schema`]), so an existing `mlflow.db` or MLflow PostgreSQL database is served as it is
//!   and MLflow can open what Trackway wrote. Trackway may add indexes and side tables, never
//!   alter MLflow's.
//! - **One implementation, two engines.** Statements are written once with `$n`
//!   placeholders and run through sqlx's `Any` driver; [`db::Backend`] marks the few places
//!   where SQLite and PostgreSQL differ (`ILIKE`, transaction start, catalog queries). There is
//!   no store trait: a second implementation would be a second copy of MLflow's semantics, and
//!   the test suite runs this one against both engines instead.
//! - **Except where sqlx's SQLite driver is the cost.** It hands every statement and row to a
//!   worker thread and back, so on SQLite the reads that return many rows (histories, runs'
//!   data) and the frequent small write transactions (logging, creating and ending runs) go
//!   through rusqlite on threads of their own instead (`sqlite_direct`). On PostgreSQL, the
//!   `Any` driver's copy of every row is the cost, and runs' data is read through sqlx's own
//!   PostgreSQL driver (`RowReader`). The same suite covers every path.
//! - **Side indexes.** Trackway adds indexes of its own beside MLflow's tables for histories
//!   and searches (`side`), and keeps SQLite's planner statistics fresh
//!   ([`Store::maintain`]).
//! - **Writers queue, readers don't.** SQLite's writers take one lock in the process and
//!   readers use a pool in WAL mode, so concurrent clients never see "database is locked";
//!   PostgreSQL gets one pool.
//! - **No state in the process.** Everything lives in the database, so several server
//!   processes on one PostgreSQL database behave as one service.
//!
//! Errors are MLflow's ([`trackway_core::Error`]); database failures become `INTERNAL_ERROR`
//! with the driver's text, which the HTTP layer logs and does not show to clients.

pub mod db;
mod experiments;
mod history;
mod logged_models;
mod logging;
mod registry;
mod rows;
mod runs;
pub mod schema;
mod search;
mod side;
mod sql;
mod sqlite_direct;
pub mod uri;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use trackway_core::{Error, ErrorCode};

pub use db::{Backend, DatabaseUri, OpenError};
pub use experiments::GenAiRecords;
pub use history::{HistoryPoint, MetricPage};
pub use logged_models::{DatasetFilter, LoggedModelOrder, NewLoggedModel};
pub use logging::{DatasetInputSpec, MetricSpec};
pub use registry::{IS_PROMPT_TAG, NewModelVersion};
pub use runs::{DeletedRun, NewRun};
pub use schema::{MLFLOW_SCHEMA_VERSION, SCHEMA_REVISION, SchemaState};

/// The tracking store: experiments, runs and everything logged to them.
#[derive(Debug, Clone)]
pub struct Store {
    pools: db::Pools,
    /// The reads that return many rows.
    reader: RowReader,
    /// SQLite only: the frequent small write transactions (see [`sqlite_direct`]).
    writer: Option<Arc<sqlite_direct::SqliteWriter>>,
    default_artifact_root: String,
    schema_state: SchemaState,
}

/// Where the reads that return many rows (runs' data, histories) go instead of sqlx's `Any`
/// driver, which copies every row into values of its own: on SQLite, rusqlite
/// ([`sqlite_direct`]); on PostgreSQL, sqlx's own PostgreSQL driver, whose rows are read in
/// place. On PostgreSQL that copy was most of Trackway's time in a search for 100 runs (5,000
/// rows of data: `AnyRow` conversion, its column copies and their allocations led the profile).
#[derive(Debug, Clone)]
enum RowReader {
    Sqlite(Arc<sqlite_direct::SqliteReader>),
    Postgres(sqlx::PgPool),
}

/// A page of search results and the token for the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The results.
    pub items: Vec<T>,
    /// Opaque token for the next page, absent on the last page.
    pub next_page_token: Option<String>,
}

impl Store {
    /// Opens the database a backend store URI names, creating MLflow's schema in an empty
    /// database and the Default experiment (id 0) if missing.
    ///
    /// `default_artifact_root` is the root under which new experiments get their artifact
    /// location (`mlflow-artifacts:/` when the server proxies artifacts).
    pub async fn open(uri: &str, default_artifact_root: &str) -> Result<Store, OpenError> {
        let uri = DatabaseUri::parse(uri)?;
        let from_template = match &uri {
            DatabaseUri::Sqlite(path) => {
                let path = path.clone();
                match tokio::task::spawn_blocking(move || {
                    schema::create_sqlite_from_template(&path)
                })
                .await
                .unwrap_or(Ok(false))
                {
                    Ok(created) => created,
                    // A missing directory, say: the connection below reports it as MLflow's
                    // server would, and on a path it can open, the script makes the schema.
                    Err(e) => {
                        tracing::debug!("the database was not made from the template: {e}");
                        false
                    }
                }
            }
            DatabaseUri::Postgres(_) => false,
        };
        let pools = db::Pools::connect(&uri).await?;
        let schema_state = match schema::ensure_schema(&pools).await? {
            SchemaState::Current if from_template => SchemaState::Created,
            state => state,
        };
        let (reader, writer) = match &uri {
            DatabaseUri::Sqlite(path) => (
                RowReader::Sqlite(sqlite_direct::SqliteReader::new(
                    path.clone(),
                    pools.stats.clone(),
                )),
                Some(Arc::new(
                    sqlite_direct::SqliteWriter::new(
                        path.clone(),
                        pools.stats.clone(),
                        Arc::clone(&pools.write_lock),
                    )
                    .map_err(|e| {
                        OpenError::Schema(format!("cannot start the SQLite writer: {e}"))
                    })?,
                )),
            ),
            DatabaseUri::Postgres(url) => (RowReader::Postgres(db::postgres_reader(url)?), None),
        };
        let store = Store {
            pools,
            reader,
            writer,
            default_artifact_root: default_artifact_root.to_string(),
            schema_state,
        };
        store
            .create_default_experiment()
            .await
            .map_err(|e| OpenError::Schema(format!("cannot create the Default experiment: {e}")))?;
        Ok(store)
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        self.pools.backend
    }

    /// Whether [`Store::open`] created the schema or found it in place.
    pub fn schema_state(&self) -> SchemaState {
        self.schema_state
    }

    /// Checks that the database answers (for health checks).
    pub async fn ping(&self) -> trackway_core::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pools.read)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Keeps the database fast: creates the side indexes an existing database lacks (the
    /// `side` module), refreshes SQLite's planner statistics where tables grew, and keeps a
    /// SQLite reader connection open. The server runs it after it starts listening, and
    /// again every hour; it may take a while on a large database the first time, and it holds
    /// SQLite's write lock while it builds an index.
    pub async fn maintain(&self) -> trackway_core::Result<()> {
        side::create_missing(&self.pools).await.map_err(db_error)?;
        side::refresh_statistics(&self.pools)
            .await
            .map_err(db_error)?;
        match &self.reader {
            RowReader::Sqlite(reader) => reader.keep_one_open().await,
            RowReader::Postgres(_) => Ok(()),
        }
    }

    /// Closes all connections, waiting for queries in flight. On SQLite the database file then
    /// holds every write, with nothing left in its WAL.
    ///
    /// Statistics are refreshed first, as SQLite advises before a connection closes: tables
    /// this process filled are then planned well from the next start's first query. Without
    /// it, a server stopped after filling a database (an import, the benchmark's seeding)
    /// left none, and the next one searched without them until its own refresh, which runs
    /// after it starts listening: the benchmark's search p99 (5,000 runs) was 132 ms instead
    /// of 39 on SQLite, 189 instead of 92 on PostgreSQL.
    pub async fn close(&self) {
        if let Err(e) = side::refresh_statistics(&self.pools).await {
            tracing::warn!("planner statistics were not refreshed before closing: {e}");
        }
        self.pools.write_pool.close().await;
        self.pools.read.close().await;
        if let Some(writer) = &self.writer
            && let Err(e) = writer.close().await
        {
            tracing::warn!("SQLite's WAL was left for the next start to replay: {e}");
        }
    }
}

/// Milliseconds since the Unix epoch, MLflow's unit for every timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Turns a database failure into MLflow's error: a value longer than its column (PostgreSQL
/// enforces MLflow's `VARCHAR(n)` sizes, SQLite does not) is the client's fault; anything
/// else is `INTERNAL_ERROR`.
fn db_error(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.code().as_deref() == Some("22001")
    {
        return Error::invalid(format!(
            "A value is longer than the database column allows: {}",
            db.message()
        ));
    }
    Error::new(ErrorCode::InternalError, format!("database error: {e}"))
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.kind() == sqlx::error::ErrorKind::UniqueViolation
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}
