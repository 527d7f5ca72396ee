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
//! - [`SqliteWriter`] runs the writes of the hot paths (logging metrics, params and tags;
//!   creating and updating runs) on a thread of its own, and commits the writes that arrive
//!   together as one transaction (group commit, each write in its own savepoint). It takes
//!   the process's write lock for each group, as sqlx's writes do, so writers of both kinds
//!   queue in the process instead of meeting SQLite's `database is locked`.
//! - [`checkpoint`] copies the WAL into the database file on a task of its own, instead of
//!   inside the commit that happens to fill it.
//!
//! rusqlite links the same SQLite library as sqlx (one `libsqlite3-sys`) and the connections
//! open the same file with the same settings. The semantics are the store's, checked by the
//! same test suite; PostgreSQL runs the sqlx versions. Everything else stays on sqlx.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use trackway_core::{Error, ErrorCode, Result};

use tokio::sync::mpsc;

use crate::db::{
    SQLITE_PRAGMAS, SQLITE_WRITE_CACHE_KIB, SQLITE_WRITER_PRAGMAS, StatsClock, sqlite_settings,
};

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
    conn.execute_batch(&sqlite_settings(pragmas, cache_kib))?;
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
            crate::db::SQLITE_READER_PRAGMAS,
            READER_CACHE_KIB,
        )
    }

    /// Opens a connection if none is idle, so that the first read after a start does not
    /// wait for one: opening reads and parses MLflow's schema, about 4 ms of a 20 ms first
    /// search (20,000 runs).
    pub(crate) async fn keep_one_open(self: &Arc<Self>) -> Result<()> {
        self.read(|_| Ok(())).await
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

/// The most writes committed together. A group is one transaction: bounding it bounds how
/// long the first write in it waits for the last.
const MAX_GROUP: usize = 64;

/// One rusqlite connection for the hot write transactions, on a thread of its own, committed
/// in groups.
///
/// Group commit: writes that arrive while a transaction is being written and synced wait in
/// a queue, then all of them run in the next transaction, each inside its own savepoint, and
/// one durable commit answers them all. A write that fails rolls back to its savepoint and
/// leaves the others in the group alone; no write is answered before its commit is on disk.
/// A single client sees one write per group, as before; sixteen concurrent writers share a
/// commit (its WAL sync and its thread hand-overs) instead of queueing for one each.
///
/// The thread is the writer's own rather than tokio's blocking pool, so that a write costs two
/// thread wake-ups: the caller wakes the writer, the writer wakes the caller. Before, a task
/// took sqlx's write connection as the lock (whose return to the pool pings its worker
/// thread) and ran each group with `spawn_blocking`: a run lifecycle's three writes made 36
/// `futex` calls in the server (`strace -c`), now 25. A small write that finds the thread idle
/// commits on its caller's thread and costs no wake-up at all ([`SqliteWriter::write`]).
pub(crate) struct SqliteWriter {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the writer's thread and its callers share.
struct Shared {
    path: PathBuf,
    /// The connection and when it was opened; `None` until first used.
    conn: Mutex<Option<(Instant, Connection)>>,
    stats: StatsClock,
    queue: Mutex<Queue>,
    /// Signalled when a write is queued while the thread waits for one.
    queued: Condvar,
    /// The process's write lock (see [`crate::db::Pools`]), taken per group, so that writes
    /// on sqlx's path queue between groups instead of behind all of them.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Wakes the task that checkpoints the WAL (see [`checkpoint`]).
    checkpoints: mpsc::Sender<()>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

/// Writes waiting for the next group, and the thread's state.
#[derive(Default)]
struct Queue {
    jobs: Vec<Box<dyn Job>>,
    /// The thread is waiting on [`Shared::queued`]; a write must wake it.
    idle: bool,
    /// The writer was closed or dropped: the thread ends once the queue is empty.
    closed: bool,
}

/// A queued write, type-erased so that writes returning different things share a group.
trait Job: Send {
    /// Runs the write inside the group's transaction, in a savepoint of its own when it
    /// shares the transaction, and tells whether it succeeded. An error means the
    /// transaction itself failed (its savepoint could not be ended).
    fn run(&mut self, tx: &rusqlite::Transaction<'_>, shared: bool) -> Result<bool>;
    /// Answers the caller: the write's own result if its group committed, else `failure`.
    fn finish(self: Box<Self>, failure: Option<&Error>);
}

struct Pending<T, F> {
    write: Option<F>,
    out: Option<Result<T>>,
    done: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
{
    fn run(&mut self, tx: &rusqlite::Transaction<'_>, shared: bool) -> Result<bool> {
        if let Some(write) = self.write.take() {
            self.out = Some(if shared {
                in_savepoint(tx, write)?
            } else {
                write(tx)
            });
        }
        Ok(matches!(self.out, Some(Ok(_))))
    }

    fn finish(self: Box<Self>, failure: Option<&Error>) {
        let result = match (failure, self.out) {
            (Some(failure), _) => Err(failure.clone()),
            (None, Some(out)) => out,
            (None, None) => Err(direct_error("the write was not run")),
        };
        // The caller may have gone (a client that hung up); the write stands all the same.
        let _ = self.done.send(result);
    }
}

/// Runs `write` between `SAVEPOINT` and `RELEASE`, or rolls back to the savepoint when it
/// fails, so that the group's other writes are kept. The outer error is the transaction's:
/// a savepoint that cannot be ended leaves the write's changes in doubt, so the group fails.
fn in_savepoint<T>(
    tx: &rusqlite::Transaction<'_>,
    write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<Result<T>> {
    tx.execute_batch("SAVEPOINT write").map_err(direct_error)?;
    let out = write(tx);
    let end = if out.is_ok() {
        "RELEASE write"
    } else {
        "ROLLBACK TO write; RELEASE write"
    };
    tx.execute_batch(end).map_err(direct_error)?;
    Ok(out)
}

impl SqliteWriter {
    /// A writer taking `write_lock` for each group, its thread, and the task that checkpoints
    /// its WAL; both end when the writer is closed or dropped.
    pub(crate) fn new(
        path: PathBuf,
        stats: StatsClock,
        write_lock: Arc<tokio::sync::Mutex<()>>,
    ) -> std::io::Result<Self> {
        let (checkpoints, wake) = mpsc::channel(1);
        tokio::spawn(checkpoint(path.clone(), wake));
        let shared = Arc::new(Shared {
            path,
            conn: Mutex::new(None),
            stats,
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            write_lock,
            checkpoints,
        });
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || shared.serve()
            })?;
        Ok(SqliteWriter {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `write` in a savepoint of the next group's transaction (`BEGIN IMMEDIATE`, under
    /// the write lock) and answers once that transaction has committed. The write's changes
    /// are rolled back when it returns an error.
    ///
    /// When the writer's thread is idle with nothing queued and the write lock is free, the
    /// write is committed right here instead, on the calling runtime thread: a lone client's
    /// write then costs no thread hand-over (its caller waking the writer's thread, which
    /// wakes it back), which on this project's 2-core machines was about an eighth of a run
    /// lifecycle's time (634 and 696 lifecycles/s before, 727 and 790 after, in the benchmark). It
    /// holds that runtime thread for one commit (or, while another process holds the
    /// database's write lock, up to SQLite's busy timeout), so this is for small writes; a
    /// large one goes through [`SqliteWriter::write_queued`]. At most one runtime thread is
    /// held so, as the write lock is taken only if free.
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.submit(write, true).await
    }

    /// [`SqliteWriter::write`] always on the writer's thread, for writes that keep SQLite busy
    /// for milliseconds.
    pub(crate) async fn write_queued<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.submit(write, false).await
    }

    async fn submit<T, F>(&self, write: F, here_if_idle: bool) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let (done, mut outcome) = tokio::sync::oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending {
            write: Some(write),
            out: None,
            done,
        });
        let wake = {
            let mut queue = self.shared.queue();
            if queue.closed {
                return Err(direct_error("the SQLite writer is closed"));
            }
            let write_lock = (here_if_idle && queue.idle && queue.jobs.is_empty())
                .then(|| self.shared.write_lock.try_lock().ok())
                .flatten();
            if let Some(write_lock) = write_lock {
                drop(queue);
                self.shared.commit_and_answer(vec![job], write_lock);
                return outcome
                    .try_recv()
                    .map_err(|_| direct_error("the SQLite writer stopped before committing"))?;
            }
            queue.jobs.push(job);
            std::mem::take(&mut queue.idle)
        };
        if wake {
            self.shared.queued.notify_one();
        }
        outcome
            .await
            .map_err(|_| direct_error("the SQLite writer stopped before committing"))?
    }

    /// Tells the thread to end once the queue is empty; its handle, the first time.
    fn stop(&self) -> Option<std::thread::JoinHandle<()>> {
        self.shared.queue().closed = true;
        self.shared.queued.notify_one();
        self.thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Copies the whole WAL into the database file and empties it (a `TRUNCATE` checkpoint),
    /// then closes the writer's connection; for when the server stops, after the pools are
    /// closed. SQLite does this itself only when the last connection to the file closes, and
    /// the readers' and the checkpoint task's connections are still open when the process
    /// exits: the last writes then stayed in the `-wal` file, so a copy of the database file
    /// alone, taken after the server stopped, missed them (the benchmark's seeded copy lost
    /// its last 10,000 points that way).
    pub(crate) async fn close(&self) -> Result<()> {
        let (thread, shared) = (self.stop(), Arc::clone(&self.shared));
        tokio::task::spawn_blocking(move || {
            if let Some(thread) = thread {
                thread
                    .join()
                    .map_err(|_| direct_error("the SQLite writer's thread panicked"))?;
            }
            let held = shared
                .conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let conn = match held {
                Some((_, conn)) => conn,
                None => shared.open().map_err(direct_error)?,
            };
            let busy: i64 = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
                .map_err(direct_error)?;
            if busy != 0 {
                return Err(direct_error(
                    "the WAL was not emptied: another connection is still reading or writing",
                ));
            }
            Ok(())
        })
        .await
        .map_err(direct_error)?
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        // The thread finishes what is queued and ends; nothing waits for it here.
        self.stop();
    }
}

impl Shared {
    fn open(&self) -> rusqlite::Result<Connection> {
        // sqlx's writer's settings: durable commits, enforced foreign keys.
        open(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            &format!("{SQLITE_PRAGMAS} {SQLITE_WRITER_PRAGMAS}"),
            SQLITE_WRITE_CACHE_KIB,
        )
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Nothing panics while holding the queue; if something did, the queue is still whole.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writer's thread: commits groups of queued writes until the writer is closed. The
    /// group is taken once the lock is held, so that writes queued while it waited join it.
    fn serve(&self) {
        while self.wait_for_writes() {
            let write_lock = self.write_lock.blocking_lock();
            let jobs = {
                let mut queue = self.queue();
                let n = queue.jobs.len().min(MAX_GROUP);
                queue.jobs.drain(..n).collect::<Vec<_>>()
            };
            self.commit_and_answer(jobs, write_lock);
        }
    }

    /// Commits `jobs` as one group, releases the write lock, then answers them.
    fn commit_and_answer(
        &self,
        mut jobs: Vec<Box<dyn Job>>,
        write_lock: tokio::sync::MutexGuard<'_, ()>,
    ) {
        // A panic in a write loses only its group's answers: dropped unanswered, their
        // callers see the writer stop. The connection's mutex is then poisoned, and
        // `commit_group` starts over on a new connection.
        let committed = std::panic::catch_unwind(AssertUnwindSafe(|| self.commit_group(&mut jobs)));
        drop(write_lock);
        if let Ok(committed) = committed {
            let failure = committed.err();
            for job in jobs {
                job.finish(failure.as_ref());
            }
        }
    }

    /// Waits until a write is queued (`true`), or the writer is closed with none (`false`).
    fn wait_for_writes(&self) -> bool {
        let mut queue = self.queue();
        while queue.jobs.is_empty() {
            if queue.closed {
                return false;
            }
            queue.idle = true;
            queue = self
                .queued
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        queue.idle = false;
        true
    }

    /// Runs a group's writes in one transaction and commits it.
    fn commit_group(&self, jobs: &mut [Box<dyn Job>]) -> Result<()> {
        let mut slot = self.conn.lock().unwrap_or_else(|poisoned| {
            // A write panicked mid-transaction (its group's callers were told the writer
            // stopped); start again on a new connection rather than fail every later write.
            self.conn.clear_poison();
            let mut slot = poisoned.into_inner();
            *slot = None;
            slot
        });
        if slot
            .as_ref()
            .is_none_or(|(opened, _)| self.stats.is_stale(opened.elapsed()))
        {
            *slot = Some((Instant::now(), self.open().map_err(direct_error)?));
        }
        let Some((_, conn)) = slot.as_mut() else {
            return Err(direct_error("the SQLite writer connection is missing"));
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(direct_error)?;
        // A write alone in its group needs no savepoint (whose page copies cost): when it
        // fails, the whole transaction is rolled back instead.
        let shared = jobs.len() > 1;
        for job in jobs.iter_mut() {
            if !job.run(&tx, shared)? && !shared {
                return Ok(());
            }
            // SQLite rolls a whole transaction back on some errors (a full disk, an I/O
            // error); the writes before it in the group are then gone too.
            if tx.is_autocommit() {
                return Err(direct_error("the transaction was rolled back by SQLite"));
            }
        }
        tx.commit().map_err(direct_error)?;
        // Nothing waits on the checkpointer; a full channel means it will run anyway.
        let _ = self.checkpoints.try_send(());
        Ok(())
    }
}

/// How long the checkpointer lets commits gather after being woken: a page that several
/// commits changed (an index's right edge, its parents) is then copied into the database once.
const CHECKPOINT_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies committed WAL pages into the database file, off the write path.
///
/// SQLite's default is to checkpoint inside the commit that takes the WAL past 1,000 pages, so
/// one write in a few answered late: a 1,000-metric batch writes about 200 pages, and those
/// commits took 20 to 25 ms instead of 6 (the checkpoint writes and syncs the database file).
/// This task runs a `PASSIVE` checkpoint, which waits for no one, on its own connection after
/// the writer commits, while the writer goes on with the next group.
///
/// The WAL starts over only when a write begins after a checkpoint that copied all of it,
/// which under sustained writes this task, running beside the writer, may never see. So the
/// writers keep SQLite's own checkpoint for a larger WAL (`SQLITE_WRITER_PRAGMAS`): it runs
/// between writes and lets the next one start the WAL over, and as this task has already
/// copied nearly every page, it has little left to do.
async fn checkpoint(path: PathBuf, mut wake: mpsc::Receiver<()>) {
    let mut conn: Option<Connection> = None;
    while wake.recv().await.is_some() {
        tokio::time::sleep(CHECKPOINT_DELAY).await;
        let _ = wake.try_recv();
        let (path, idle) = (path.clone(), conn.take());
        let done = tokio::task::spawn_blocking(move || {
            let conn = match idle {
                Some(conn) => conn,
                None => open(&path, OpenFlags::SQLITE_OPEN_READ_WRITE, "", 1_000)?,
            };
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok::<_, rusqlite::Error>(conn)
        })
        .await;
        match done {
            Ok(Ok(idle)) => conn = Some(idle),
            Ok(Err(e)) => tracing::warn!("WAL checkpoint failed: {e}"),
            Err(e) => tracing::warn!("WAL checkpoint stopped: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{DatabaseUri, Pools};

    /// A writer on a new SQLite file, with the pools whose write lock it shares; the file
    /// lives as long as the returned directory.
    async fn new_database() -> (tempfile::TempDir, Pools, Arc<SqliteWriter>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.db");
        let pools = Pools::connect(&DatabaseUri::Sqlite(path.clone()))
            .await
            .unwrap();
        let writer = SqliteWriter::new(path, pools.stats.clone(), Arc::clone(&pools.write_lock));
        (dir, pools, Arc::new(writer.unwrap()))
    }

    /// Runs `sql` as a write of its own.
    async fn execute(writer: &SqliteWriter, sql: &'static str) {
        writer
            .write(move |tx| tx.execute_batch(sql).map_err(direct_error))
            .await
            .unwrap();
    }

    /// After `close`, the database file alone holds every write, even with other connections
    /// open (the server's readers) and writes the checkpoint task has not copied yet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_leaves_every_write_in_the_database_file() {
        let (dir, pools, writer) = new_database().await;
        let path = dir.path().join("writer.db");
        execute(&writer, "CREATE TABLE t (v INTEGER)").await;
        // A reader whose snapshot predates the rows keeps the checkpoint task from copying
        // them; it then stays open, idle, like the server's pooled readers.
        let reader = open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY, "", 1_000).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        writer
            .write(|tx| {
                let mut insert = tx
                    .prepare_cached("INSERT INTO t VALUES (?1)")
                    .map_err(direct_error)?;
                for v in 0..1000 {
                    insert.execute([v]).map_err(direct_error)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        tokio::time::sleep(CHECKPOINT_DELAY * 3).await;
        reader.execute_batch("COMMIT").unwrap();

        pools.write_pool.close().await;
        pools.read.close().await;
        writer.close().await.unwrap();
        let refused = writer.write(|_| Ok(())).await.unwrap_err();
        assert!(refused.message.contains("closed"), "{}", refused.message);
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let rows: i64 = open(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE, "", 1_000)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1000);
        drop(reader);
    }

    /// The SQLite that rusqlite and sqlx link is built with the options in
    /// `.cargo/config.toml`: without them, every page a query reads takes a process-wide lock
    /// and every allocation another.
    #[test]
    fn sqlite_is_built_without_process_wide_locks() {
        let conn = Connection::open_in_memory().unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        for wanted in ["DEFAULT_MEMSTATUS=0", "OMIT_SHARED_CACHE"] {
            assert!(options.iter().any(|o| o == wanted), "{wanted}: {options:?}");
        }
    }

    /// A write that panics fails its caller, and later writes still go through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_does_not_stop_the_writer() {
        let (_dir, pools, writer) = new_database().await;
        let create = |tx: &rusqlite::Transaction<'_>| {
            tx.execute_batch("CREATE TABLE t (v INTEGER)")
                .map_err(direct_error)
        };
        let failed = writer
            .write(move |tx| -> Result<()> {
                create(tx)?;
                panic!("a bug in a write")
            })
            .await
            .unwrap_err();
        assert!(failed.message.contains("stopped"), "{}", failed.message);
        writer.write(create).await.unwrap();
        pools.write_pool.close().await;
        pools.read.close().await;
    }

    /// A small write that finds the writer idle commits on the caller's thread; a queued one,
    /// and any write while another holds the write lock, on the writer's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_writer_lets_a_small_write_commit_on_its_callers_thread() {
        let (_dir, pools, writer) = new_database().await;
        let thread = |_: &rusqlite::Transaction<'_>| -> Result<String> {
            Ok(std::thread::current()
                .name()
                .unwrap_or_default()
                .to_string())
        };
        while !writer.shared.queue().idle {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_ne!(writer.write(thread).await.unwrap(), "sqlite-writer");
        assert_eq!(writer.write_queued(thread).await.unwrap(), "sqlite-writer");
        let lock = pools.write().await.unwrap();
        let queued = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move { writer.write(thread).await }
        });
        while writer.shared.queue().jobs.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        drop(lock);
        assert_eq!(queued.await.unwrap().unwrap(), "sqlite-writer");
        pools.write_pool.close().await;
        pools.read.close().await;
    }

    /// Writes queued while another holds the write lock commit as one group; the one that
    /// fails is undone alone, including what it wrote before failing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_a_group_is_undone_alone() {
        let (_dir, pools, writer) = new_database().await;
        execute(&writer, "CREATE TABLE t (v INTEGER PRIMARY KEY)").await;

        let lock = pools.write().await.unwrap();
        let mut tasks = Vec::new();
        for (first, second) in [(10, 1), (20, 2), (30, 1), (40, 3)] {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |tx| {
                        let mut insert = tx
                            .prepare_cached("INSERT INTO t VALUES (?1)")
                            .map_err(direct_error)?;
                        insert.execute([first]).map_err(direct_error)?;
                        insert.execute([second]).map_err(direct_error)?;
                        Ok(())
                    })
                    .await
            }));
        }
        // All four are queued behind the held lock before it is released.
        while writer.shared.queue().jobs.len() < 4 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(lock);
        let mut failed = 0;
        for task in tasks {
            if let Err(e) = task.await.unwrap() {
                assert!(e.message.contains("UNIQUE"), "{}", e.message);
                failed += 1;
            }
        }
        assert_eq!(failed, 1);

        let rows: Vec<i64> = writer
            .write(|tx| {
                let mut select = tx
                    .prepare("SELECT v FROM t ORDER BY v")
                    .map_err(direct_error)?;
                let rows: rusqlite::Result<Vec<i64>> = select
                    .query_map([], |row| row.get(0))
                    .and_then(Iterator::collect);
                rows.map_err(direct_error)
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 6, "{rows:?}");
        assert!(rows.starts_with(&[1, 2, 3]), "{rows:?}");
        assert_eq!(
            rows.iter().filter(|v| [10, 30].contains(v)).count(),
            1,
            "{rows:?}"
        );
        pools.write_pool.close().await;
        pools.read.close().await;
    }

    /// Both kinds of reader map the database file (the pragma reports 0 where the SQLite
    /// that was linked cannot), and the writer does not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_map_the_database_file() {
        let (dir, pools, writer) = new_database().await;
        let mapped = |conn: &Connection| {
            conn.query_row("PRAGMA mmap_size", [], |row| row.get::<_, i64>(0))
                .map_err(direct_error)
        };
        let reader = SqliteReader::new(dir.path().join("writer.db"), pools.stats.clone());
        assert_eq!(
            reader
                .read(move |conn| Ok(mapped(conn)))
                .await
                .unwrap()
                .unwrap(),
            1 << 30
        );
        let pooled: i64 = sqlx::query_scalar("PRAGMA mmap_size")
            .fetch_one(&pools.read)
            .await
            .unwrap();
        assert_eq!(pooled, 1 << 30);
        assert_eq!(writer.write(move |tx| mapped(tx)).await.unwrap(), 0);
        pools.write_pool.close().await;
        pools.read.close().await;
    }
}
