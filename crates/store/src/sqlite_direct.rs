//! SQLite without sqlx, where sqlx's way costs most: bulk reads and the frequent small writes.
//!
//! sqlx's SQLite driver runs each connection on a worker thread and hands every statement and
//! every row across a channel, then the `Any` driver copies each row into an `AnyRow`. A row
//! costs about 3 µs that way: nothing for a run, but a 100,000-point history cost 300 ms and a
//! page of 100 searched runs (5,500 param, metric and tag rows) 16 ms. And each statement is a
//! round trip to the worker thread, two thread switches: `perf` put 29% of the server's CPU
//! in the scheduler during run lifecycles, whose writes are a handful of statements each.
//!
//! So on SQLite:
//! - [`SqliteReader`] runs the reads that return many rows through rusqlite on tokio's
//!   blocking threads, at about 0.1 µs a row;
//! - [`SqliteWriter`] runs a whole write transaction of the hot paths (logging metrics, params
//!   and tags; creating and updating runs) on one blocking thread, one hand-over per request.
//!   It takes sqlx's single write connection first and holds it, unused, as the write lock,
//!   so writers of both kinds still queue in the process instead of meeting SQLite's
//!   `database is locked`.
//!
//! rusqlite links the same SQLite library as sqlx (one `libsqlite3-sys`) and the connections
//! open the same file with the same settings. The semantics are the store's, checked by the
//! same test suite; PostgreSQL runs the sqlx versions. Everything else stays on sqlx.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sqlx::AnyPool;
use trackway_core::{Error, ErrorCode, Result};

use crate::db::{SQLITE_BUSY_TIMEOUT_MS, SQLITE_PRAGMAS, SQLITE_WRITE_CACHE_KIB, StatsClock};

/// Page cache per reader connection, in KiB.
const READER_CACHE_KIB: u32 = 8_000;

/// Idle connections kept for reuse; more may be open at once under load.
const MAX_IDLE: usize = 4;

/// Opens a connection used by one thread at a time, with sqlx's busy timeout (a checkpoint
/// may hold a lock briefly), `pragmas`, and a page cache of `cache_kib`.
fn open(
    path: &Path,
    mode: OpenFlags,
    pragmas: &str,
    cache_kib: u32,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(&format!(
        "{pragmas} PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
         PRAGMA cache_size = -{cache_kib};"
    ))?;
    Ok(conn)
}

/// Read-only rusqlite connections to one database file, opened on demand.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    /// Idle connections and when each was opened.
    idle: Mutex<Vec<(Instant, Connection)>>,
    /// Connections older than the last statistics refresh are closed, as in sqlx's pools.
    stats: StatsClock,
}

/// A rusqlite or blocking-thread failure: `INTERNAL_ERROR`, like sqlx's through `db_error`.
pub(crate) fn direct_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::InternalError, format!("database error: {e}"))
}

impl SqliteReader {
    pub(crate) fn new(path: PathBuf, stats: StatsClock) -> Arc<Self> {
        Arc::new(SqliteReader {
            path,
            idle: Mutex::new(Vec::new()),
            stats,
        })
    }

    /// An idle connection that knows the current statistics, or a new one.
    fn take(&self) -> Result<(Instant, Connection)> {
        let mut idle = self.idle.lock().map_err(direct_error)?;
        while let Some((opened, conn)) = idle.pop() {
            if !self.stats.is_stale(opened.elapsed()) {
                return Ok((opened, conn));
            }
        }
        drop(idle);
        Ok((Instant::now(), self.open().map_err(direct_error)?))
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // A smaller page cache than sqlx's readers, since these connections come on top.
        open(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY,
            "",
            READER_CACHE_KIB,
        )
    }

    /// Runs `read` on a pooled connection on a blocking thread.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let (opened, conn) = this.take()?;
            let out = read(&conn).map_err(direct_error);
            let mut idle = this.idle.lock().map_err(direct_error)?;
            if idle.len() < MAX_IDLE {
                idle.push((opened, conn));
            }
            out
        })
        .await
        .map_err(direct_error)?
    }
}

/// One rusqlite connection for the hot write transactions (see the module documentation).
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    path: PathBuf,
    /// The connection and when it was opened; `None` until first used.
    conn: Mutex<Option<(Instant, Connection)>>,
    stats: StatsClock,
}

impl SqliteWriter {
    pub(crate) fn new(path: PathBuf, stats: StatsClock) -> Arc<Self> {
        Arc::new(SqliteWriter {
            path,
            conn: Mutex::new(None),
            stats,
        })
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // sqlx's writer's settings: durable commits, enforced foreign keys.
        open(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            SQLITE_PRAGMAS,
            SQLITE_WRITE_CACHE_KIB,
        )
    }

    /// Runs `write` in one `BEGIN IMMEDIATE` transaction, committed when it returns `Ok` and
    /// rolled back otherwise, while holding sqlx's write connection.
    pub(crate) async fn write<T, F>(self: &Arc<Self>, sqlx_writer: &AnyPool, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let write_lock = sqlx_writer.acquire().await.map_err(direct_error)?;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // Held until the transaction ends, even when the request that waits for it is
            // dropped (a client that hung up).
            let _write_lock = write_lock;
            let mut slot = this.conn.lock().map_err(direct_error)?;
            if slot
                .as_ref()
                .is_none_or(|(opened, _)| this.stats.is_stale(opened.elapsed()))
            {
                *slot = Some((Instant::now(), this.open().map_err(direct_error)?));
            }
            let Some((_, conn)) = slot.as_mut() else {
                return Err(direct_error("the SQLite writer connection is missing"));
            };
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(direct_error)?;
            let out = write(&tx)?;
            tx.commit().map_err(direct_error)?;
            Ok(out)
        })
        .await
        .map_err(direct_error)?
    }
}
