//! Bulk reads on SQLite without sqlx.
//!
//! sqlx's SQLite driver runs each connection on a worker thread and hands every row across a
//! channel, then the `Any` driver copies it into an `AnyRow`: about 3 µs a row here. That is
//! nothing for a run, but a 100,000-point history cost 300 ms that way and a page of 100
//! searched runs (5,500 param, metric and tag rows) 16 ms. The few reads that return that
//! many rows go through rusqlite instead, on tokio's blocking threads, at about 0.1 µs a
//! row. rusqlite links the same SQLite library as sqlx (one `libsqlite3-sys`), and the
//! connections only read, so WAL gives them the same committed snapshot sqlx's readers see.
//! Everything else, and every write, stays on sqlx.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};
use trackway_core::{Error, ErrorCode, Result};

use crate::db::StatsClock;

/// Idle connections kept for reuse; more may be open at once under load.
const MAX_IDLE: usize = 4;

/// Read-only rusqlite connections to one database file, opened on demand.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    /// Idle connections and when each was opened.
    idle: Mutex<Vec<(Instant, Connection)>>,
    /// Connections older than the last statistics refresh are closed, as in sqlx's pools.
    stats: StatsClock,
}

fn read_error(e: impl std::fmt::Display) -> Error {
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
        let mut idle = self.idle.lock().map_err(read_error)?;
        while let Some((opened, conn)) = idle.pop() {
            if !self.stats.is_stale(opened.elapsed()) {
                return Ok((opened, conn));
            }
        }
        drop(idle);
        Ok((Instant::now(), self.open().map_err(read_error)?))
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The same wait as sqlx's connections (a checkpoint may hold a lock briefly); a smaller
        // page cache, since these connections come on top of sqlx's read pool.
        conn.execute_batch("PRAGMA busy_timeout = 30000; PRAGMA cache_size = -8000;")?;
        Ok(conn)
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
            let out = read(&conn).map_err(read_error);
            let mut idle = this.idle.lock().map_err(read_error)?;
            if idle.len() < MAX_IDLE {
                idle.push((opened, conn));
            }
            out
        })
        .await
        .map_err(read_error)?
    }
}
