//! Trackway's own indexes beside MLflow's tables, and the planner statistics that let the
//! databases use them.
//!
//! MLflow's schema indexes what MLflow's queries need, not what a fast server needs. The
//! indexes here are additions only (the schema rule of this crate): MLflow's code never names
//! them (its database's planner may still use them), and a database keeps working in MLflow
//! with them in place.
//!
//! - `trackway_metrics_history` holds a run's points of one key in the order
//!   `get-history` returns them, with every column it reads, so a page is one ordered index
//!   scan instead of a sort of the whole history.
//! - `trackway_*_key_value` let a search filter such as `params.p1 = 'v1'` or
//!   `metrics.m1 > 0.5` find its runs directly instead of probing every run of the experiment.
//!   Param and tag values get one on SQLite only: a PostgreSQL B-tree entry cannot exceed about
//!   2.7 kB, and MLflow allows values of 6,000 and 8,000 characters, so such an index could
//!   refuse a value MLflow accepts. PostgreSQL's planner joins those tables by hash instead.
//! - `trackway_latest_metrics_key_run` answers "this run's latest value of this metric" (a
//!   filter checked run by run, or a sort key) from the index alone; MLflow's primary key has
//!   the same two columns but sends every such lookup on to the table. With it, a search of
//!   20,000 runs filtered on a param and a metric and sorted by another metric went from 10 ms
//!   to 6 ms in SQLite. `latest_metrics` changes once per key and request, not once per
//!   point, so its extra indexes cost logging little; the history index is paid once per
//!   point (about 15% of a 1,000-metric batch on SQLite).
//! - `trackway_runs_experiment_start` keeps an experiment's runs in the order MLflow's web UI
//!   lists them (`attributes.start_time DESC`, missing last, then run id), so its first page is
//!   read in order instead of sorting every run: over 20,000 runs, 37 ms became 6.3 on SQLite
//!   and 46 to 55 ms became 14 to 17 on PostgreSQL. On SQLite it also serves searches without
//!   an order (newest first); PostgreSQL sorts those as before, MLflow putting missing start
//!   times first there. A run's start time is written once, so the index costs one entry per
//!   run (on SQLite about one more WAL page per `runs/create`: 9.3 instead of 8).
//!
//! A schema Trackway creates gets them at once. An existing database gets them from
//! [`crate::Store::maintain`] after the server is up; on PostgreSQL with `CONCURRENTLY`, so
//! writers are not blocked while a large table is indexed.

use sqlx::{Any, AssertSqlSafe, Executor, Row, Transaction};

use crate::db::Backend;

include!("side_indexes.rs");

/// The `CREATE INDEX` statements for an engine, each with its table; `concurrently` only on
/// PostgreSQL.
pub(crate) fn statements(
    backend: Backend,
    concurrently: bool,
) -> impl Iterator<Item = (&'static str, String)> {
    SIDE_INDEXES.iter().filter_map(move |i| {
        let columns = match (backend, &i.postgres) {
            (Backend::Sqlite, _) | (Backend::Postgres, OnPostgres::Same) => i.columns,
            (Backend::Postgres, OnPostgres::Columns(columns)) => columns,
            (Backend::Postgres, OnPostgres::Skip) => return None,
        };
        Some((i.table, create_index_sql(i, columns, concurrently)))
    })
}

/// Index entries `ANALYZE` reads per index (see [`refresh_statistics`]).
const ANALYSIS_LIMIT: u32 = 500_000;

/// Creates the side indexes inside the transaction that created MLflow's schema on SQLite
/// (PostgreSQL builds each with its table, see `schema::create_postgres`).
pub(crate) async fn create_with_sqlite_schema(
    tx: &mut Transaction<'static, Any>,
) -> sqlx::Result<()> {
    for (_, sql) in statements(Backend::Sqlite, false) {
        tx.execute(AssertSqlSafe(sql)).await?;
    }
    Ok(())
}

/// Creates the side indexes an existing database lacks. On SQLite the build holds the write
/// lock, so writers queue behind it; PostgreSQL builds them
/// `CONCURRENTLY`, which must run outside a transaction.
pub(crate) async fn create_missing(pools: &crate::db::Pools) -> sqlx::Result<()> {
    let concurrently = pools.backend == Backend::Postgres;
    for (_, sql) in statements(pools.backend, concurrently) {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *pools.write().await?)
            .await?;
    }
    Ok(())
}

/// Refreshes SQLite's planner statistics (`sqlite_stat1`) for tables that have none or that
/// grew or shrank tenfold since they were counted. Without them SQLite cannot tell that
/// `params.p1 = 'v1'` narrows a search more than `metrics.m1 > 0.5`.
///
/// `ANALYZE` holds the write lock while it reads, so it reads at most [`ANALYSIS_LIMIT`]
/// entries per index, which bounds the wait on a large database (about 17 indexes are big in
/// MLflow's schema with Trackway's). Smaller samples misled the planner: with
/// `PRAGMA optimize`'s own limit (2,000; its bit 0x10, left out of the mask) a param matching
/// 4,000 runs looked 1,000 times more selective, and with 50,000 the search of the benchmark
/// (400,000 rows per table) looked up sort keys through the table instead of the covering
/// index: 15 ms instead of 3.5 ms.
///
/// PostgreSQL's autovacuum keeps statistics, but only a while after tables change: a
/// database just filled (an import, a copy, the benchmark's seeding) was searched with plans
/// made without any, 103 ms instead of 39 ms. So tables of at least 1 MB that were never
/// analyzed are analyzed here (a sample of rows; it blocks no reader or writer). Small and
/// empty tables are left alone: statistics saying "empty" were trusted while the tables
/// filled, and a fresh database then logged at a quarter of its speed.
///
/// Nothing is analyzed, and no connection retired (see `db::StatsClock`), when SQLite's
/// `optimize` finds nothing to do: every start runs this, and on a database whose statistics
/// were current, retiring the pooled readers made the first searches after it open new
/// connections, each with MLflow's schema to parse and an empty page cache.
pub(crate) async fn refresh_statistics(pools: &crate::db::Pools) -> sqlx::Result<()> {
    let sql = match pools.backend {
        Backend::Sqlite => {
            // Bit 0x01 of the mask asks `optimize` to list the `ANALYZE` statements it would
            // run instead of running them.
            let planned = sqlx::query("PRAGMA optimize(0x10003)")
                .fetch_all(&pools.read)
                .await?;
            if planned.is_empty() {
                return Ok(());
            }
            format!("PRAGMA analysis_limit = {ANALYSIS_LIMIT}; PRAGMA optimize(0x10002)")
        }
        Backend::Postgres => {
            let tables: Vec<String> = sqlx::query(
                "SELECT CAST(quote_ident(c.relname) AS TEXT) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                 AND c.reltuples < 0 AND pg_relation_size(c.oid) >= 1048576",
            )
            .fetch_all(&pools.read)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<sqlx::Result<_>>()?;
            if tables.is_empty() {
                return Ok(());
            }
            format!("ANALYZE {}", tables.join(", "))
        }
    };
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *pools.write().await?)
        .await?;
    pools.stats.refreshed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use trackway_core::entities::KeyValue;

    use crate::{NewRun, Store};

    /// A new run in the Default experiment with `count` params, logged 100 to a batch.
    async fn log_params(store: &Store, count: usize) {
        let run = store
            .create_run(NewRun {
                experiment_id: "0",
                user_id: "u",
                ..Default::default()
            })
            .await
            .unwrap()
            .info
            .run_id;
        let params: Vec<KeyValue> = (0..count)
            .map(|i| KeyValue {
                key: format!("p{i}"),
                value: "v".into(),
            })
            .collect();
        for chunk in params.chunks(100) {
            store.log_batch(&run, &[], chunk, &[]).await.unwrap();
        }
    }

    /// A database filled and closed has statistics for its next start to plan with.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_leaves_statistics_of_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.db");
        let store = Store::open(&format!("sqlite:///{}", path.display()), "/artifacts")
            .await
            .unwrap();
        log_params(&store, 100).await;
        store.close().await;

        // No `sqlite_stat1` table at all (never analyzed) counts as none.
        let analyzed: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'params'",
                [],
                |row| row.get(0),
            )
            .unwrap_or(0);
        assert!(analyzed > 0, "no statistics for params after closing");
    }

    /// The next start's refresh finds the statistics current and retires no pooled
    /// connection; once a table has grown tenfold, it refreshes them and retires them all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_with_nothing_to_analyze_retires_no_connection() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("sqlite:///{}", dir.path().join("stats.db").display());
        let store = Store::open(&uri, "/artifacts").await.unwrap();
        log_params(&store, 100).await;
        store.close().await;

        let store = Store::open(&uri, "/artifacts").await.unwrap();
        let an_hour = std::time::Duration::from_secs(3600);
        store.maintain().await.unwrap();
        assert!(
            !store.pools.stats.is_stale(an_hour),
            "connections retired although no statistics changed"
        );
        log_params(&store, 2000).await;
        store.maintain().await.unwrap();
        assert!(
            store.pools.stats.is_stale(an_hour),
            "statistics of a table grown twentyfold were not refreshed"
        );
    }
}
