//! MLflow's SQL schema, pinned to one release, created without Python.
//!
//! Trackway reads and writes MLflow's own tables, so a database moves freely between MLflow
//! 3.17.2 and Trackway. The DDL in `schema/` is what MLflow 3.17.2 itself creates (read back
//! from real databases); on an empty database Trackway runs it and stamps the Alembic head, so
//! MLflow's server later sees a current database. A SQLite file that does not exist yet is
//! written out from an empty database the build made with the same script instead
//! ([`create_sqlite_from_template`]). Any other revision is refused: migrating is MLflow's job
//! (`mlflow db upgrade`), and guessing would risk users' data.

use std::borrow::Cow;
use std::io::{ErrorKind, Write};
use std::path::Path;

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::db::{Backend, OpenError, Pools};

/// MLflow's Alembic revision at the head of 3.17.2.
pub const SCHEMA_REVISION: &str = "dc11669786a5";
/// The MLflow release whose schema Trackway serves.
pub const MLFLOW_SCHEMA_VERSION: &str = "3.17.2";

const SQLITE_SCHEMA: &str = include_str!("../schema/sqlite.sql");
/// An empty database holding [`SQLITE_SCHEMA`] and the side indexes, made by the build script
/// (`build.rs`) with zlib; see [`create_sqlite_from_template`].
static SQLITE_TEMPLATE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/empty-mlflow.db.zlib"));
const POSTGRES_SCHEMA: &str = include_str!("../schema/postgres.sql");

/// Serialises schema creation across server processes starting at once on one PostgreSQL
/// database (an arbitrary constant: "trackway" in ASCII).
const SCHEMA_LOCK_KEY: i64 = 0x747261636b776179;

/// A table that exists on PostgreSQL only while Trackway creates MLflow's schema there (see
/// [`create_postgres`]); finding it means a creation was cut short.
const UNFINISHED_MARKER: &str = "trackway_unfinished_schema";

/// Connections that create PostgreSQL's tables at once (see [`create_postgres`]).
const POSTGRES_BUILDERS: usize = 4;

/// What an opened database held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// The database was empty and now holds MLflow's schema.
    Created,
    /// The database already held MLflow's schema at the supported revision.
    Current,
}

/// What [`inspect`] found.
enum Found {
    Current,
    Empty,
    /// Tables of a PostgreSQL schema creation that was cut short (see [`create_postgres`]).
    Unfinished,
}

fn schema_err(e: sqlx::Error) -> OpenError {
    OpenError::Schema(format!("cannot inspect the database: {e}"))
}

fn create_err(e: sqlx::Error) -> OpenError {
    OpenError::Schema(format!("cannot create MLflow's schema: {e}"))
}

/// Creates a new SQLite database at `path` from the build's template when no file is there,
/// and says whether it did; [`ensure_schema`] then finds it current.
///
/// The template is the schema script's own result (see `build.rs`); writing it out takes
/// about 1.5 ms where running the script took about 8, most of a fresh server's start. It is
/// written to a temporary file beside `path`, synced, and linked in only if `path` is still
/// free, so a server starting at the same moment on the same path finds either nothing or a
/// whole database, never a part of one. An existing file, even an empty one, is left to the
/// script, which checks what it holds.
pub fn create_sqlite_from_template(path: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Ok(_) => return Ok(false),
        Err(e) => return Err(e),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".trackway-new-");
    // SQLite's own mode for the files it creates (before the umask), not a temporary file's.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut file = builder.tempfile_in(dir)?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file.as_file_mut());
    std::io::copy(
        &mut flate2::read::ZlibDecoder::new(SQLITE_TEMPLATE),
        &mut out,
    )?;
    out.flush()?;
    drop(out);
    file.as_file().sync_data()?;
    match file.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e.error),
    }
    // The new name is durable only once its directory is.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(true)
}

/// Creates MLflow's schema on an empty database, accepts one already at the supported
/// revision, and refuses anything else with a message that says what to do.
pub async fn ensure_schema(pools: &Pools) -> Result<SchemaState, OpenError> {
    match pools.backend {
        Backend::Sqlite => {
            let mut tx = pools.begin_write().await.map_err(schema_err)?;
            if let Found::Current = inspect(&mut tx, Backend::Sqlite).await? {
                return Ok(SchemaState::Current);
            }
            sqlx::raw_sql(SQLITE_SCHEMA)
                .execute(&mut **tx)
                .await
                .map_err(create_err)?;
            crate::side::create_with_sqlite_schema(&mut tx)
                .await
                .map_err(|e| {
                    OpenError::Schema(format!("cannot create Trackway's side indexes: {e}"))
                })?;
            tx.commit().await.map_err(schema_err)?;
            Ok(SchemaState::Created)
        }
        Backend::Postgres => {
            let mut tx = pools.begin_write().await.map_err(schema_err)?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SCHEMA_LOCK_KEY)
                .execute(&mut **tx)
                .await
                .map_err(schema_err)?;
            let found = inspect(&mut tx, Backend::Postgres).await?;
            if let Found::Current = found {
                return Ok(SchemaState::Current);
            }
            create_postgres(pools, &mut tx, matches!(found, Found::Unfinished)).await?;
            tx.commit().await.map_err(create_err)?;
            Ok(SchemaState::Created)
        }
    }
}

/// Tells what the database holds: MLflow's schema at the supported revision, nothing, or the
/// remains of Trackway's own creation cut short; anything else is an error.
async fn inspect(conn: &mut AnyConnection, backend: Backend) -> Result<Found, OpenError> {
    let tables_sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
    };
    let tables: Vec<String> = sqlx::query(tables_sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(schema_err)?
        .iter()
        .map(|row| row.get::<String, _>("name"))
        .collect();

    if tables.iter().any(|t| t == "alembic_version") {
        let revision: Option<String> = sqlx::query("SELECT version_num FROM alembic_version")
            .fetch_optional(&mut *conn)
            .await
            .map_err(schema_err)?
            .map(|row| row.get(0));
        return match revision.as_deref() {
            Some(SCHEMA_REVISION) => Ok(Found::Current),
            Some(other) => Err(OpenError::Schema(format!(
                "the database's MLflow schema is at revision {other}, but Trackway serves \
                 MLflow {MLFLOW_SCHEMA_VERSION}'s schema (revision {SCHEMA_REVISION}). Upgrade it \
                 first with MLflow {MLFLOW_SCHEMA_VERSION}: `pip install \
                 mlflow=={MLFLOW_SCHEMA_VERSION} && mlflow db upgrade <backend-store-uri>` \
                 (back the database up before), then start Trackway again"
            ))),
            None => Err(OpenError::Schema(
                "the database has an empty alembic_version table; it was not made by MLflow \
                 or Trackway, so Trackway will not use it"
                    .into(),
            )),
        };
    }
    if backend == Backend::Postgres && tables.iter().any(|t| t == UNFINISHED_MARKER) {
        return Ok(Found::Unfinished);
    }
    if !tables.is_empty() {
        return Err(OpenError::Schema(format!(
            "the database already holds tables ({}) but no MLflow schema version; point \
             --backend-store-uri at an empty database or at one made by MLflow \
             {MLFLOW_SCHEMA_VERSION}",
            tables.join(", ")
        )));
    }
    Ok(Found::Empty)
}

/// Creates MLflow's schema on an empty PostgreSQL database, on several connections at once.
///
/// PostgreSQL syncs every B-tree it builds to disk before the statement ends, even on an
/// empty table, and MLflow's schema has about 200 (primary keys, indexes, the TOAST tables'
/// indexes): as one transaction the script took 0.28 to 0.29 s in `psql`, 0.12 to 0.19 s of
/// it without those syncs (`fsync = off`, measurement only), and was most of a fresh
/// server's start. The tables, each with its own indexes and constraints, are split among
/// [`POSTGRES_BUILDERS`] connections whose syncs overlap (in a prototype, 0.24 to 0.29 s on
/// one connection, 0.18 to 0.19 s on four, slower on six or eight), and what links tables
/// (foreign keys, the trigger) and the rows follow in `tx` once all tables exist; `tx` holds
/// the advisory lock that keeps other servers waiting until the schema is whole.
///
/// The tables are committed before `tx`, so a marker table is committed first, and dropped in
/// `tx`: a creation cut short leaves the marker, and the next start (`unfinished`) removes,
/// in the marker's own transaction, only what the script creates, and begins again. MLflow's
/// server cannot have written to those tables: without `alembic_version` it does not treat
/// the database as made.
async fn create_postgres(
    pools: &Pools,
    tx: &mut AnyConnection,
    unfinished: bool,
) -> Result<(), OpenError> {
    let plan = PostgresPlan::of(POSTGRES_SCHEMA);
    let mut first = String::new();
    if unfinished {
        first.push_str(&plan.drops().join("\n"));
        first.push_str(&format!("\nDROP TABLE {UNFINISHED_MARKER};\n"));
    }
    first.push_str(&format!(
        "CREATE TABLE {UNFINISHED_MARKER} (started BIGINT);\n{}",
        plan.first.join("\n")
    ));
    // Each of these scripts is one simple query, which PostgreSQL runs as one transaction.
    let run = |sql: String| async move {
        let mut conn = pools.write_pool.acquire().await?;
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await
    };
    run(first).await.map_err(create_err)?;
    futures::future::try_join_all(plan.shares(POSTGRES_BUILDERS).into_iter().map(run))
        .await
        .map_err(create_err)?;
    let last = format!("{}\nDROP TABLE {UNFINISHED_MARKER};", plan.last.join("\n"));
    sqlx::raw_sql(AssertSqlSafe(last))
        .execute(&mut *tx)
        .await
        .map_err(create_err)?;
    Ok(())
}

/// MLflow's PostgreSQL schema (and Trackway's side indexes) cut into what can be created at
/// once: `first` before any table, each table with what concerns it alone, then `last`.
///
/// The script is `pg_dump`'s, so its statements have a fixed form: each ends with `;` at the
/// end of a line (a function's body, between `$$`, may hold more), each table's `CREATE TABLE`
/// comes before its sequence, and the statements that name a table name it first.
/// Anything not known to concern one table alone goes to `last`, which runs once all tables
/// exist, in the script's order.
struct PostgresPlan<'a> {
    first: Vec<&'a str>,
    tables: Vec<(&'a str, Vec<Cow<'a, str>>)>,
    last: Vec<&'a str>,
}

impl<'a> PostgresPlan<'a> {
    fn of(script: &'a str) -> Self {
        let mut plan = PostgresPlan {
            first: Vec::new(),
            tables: Vec::new(),
            last: Vec::new(),
        };
        for statement in split_statements(script) {
            if let Some(rest) = statement.strip_prefix("CREATE TABLE ") {
                plan.tables
                    .push((first_word(rest), vec![Cow::Borrowed(statement)]));
                continue;
            }
            if statement.starts_with("CREATE FUNCTION ") {
                plan.first.push(statement);
                continue;
            }
            let table = if statement.contains(" FOREIGN KEY ") {
                None
            } else if let Some(rest) = statement
                .strip_prefix("ALTER TABLE ONLY ")
                .or_else(|| statement.strip_prefix("ALTER TABLE "))
            {
                Some(first_word(rest))
            } else if statement.starts_with("CREATE INDEX ")
                || statement.starts_with("CREATE UNIQUE INDEX ")
            {
                statement
                    .split_once(" ON ")
                    .map(|(_, rest)| first_word(rest))
            } else if let Some((_, rest)) = statement
                .strip_prefix("ALTER SEQUENCE ")
                .and_then(|s| s.split_once(" OWNED BY "))
            {
                rest.split_once('.').map(|(table, _)| table)
            } else if statement.starts_with("CREATE SEQUENCE ") {
                plan.tables.last().map(|(table, _)| *table)
            } else {
                None
            };
            match table.and_then(|t| plan.tables.iter_mut().find(|(name, _)| *name == t)) {
                Some((_, statements)) => statements.push(Cow::Borrowed(statement)),
                None => plan.last.push(statement),
            }
        }
        for (table, sql) in crate::side::statements(Backend::Postgres, false) {
            if let Some((_, statements)) = plan.tables.iter_mut().find(|(name, _)| *name == table) {
                statements.push(Cow::Owned(format!("{sql};")));
            }
        }
        plan
    }

    /// The tables split into `n` scripts of about as many statements each (most of them build
    /// an index, the slow part).
    fn shares(&self, n: usize) -> Vec<String> {
        let mut shares = vec![(0usize, String::new()); n.max(1)];
        let mut tables: Vec<_> = self.tables.iter().collect();
        tables.sort_by_key(|(_, statements)| std::cmp::Reverse(statements.len()));
        for (_, statements) in tables {
            let share = shares
                .iter_mut()
                .min_by_key(|(count, _)| *count)
                .expect("at least one share");
            share.0 += statements.len();
            for statement in statements {
                share.1.push_str(statement);
                share.1.push('\n');
            }
        }
        shares
            .into_iter()
            .filter(|(count, _)| *count > 0)
            .map(|(_, sql)| sql)
            .collect()
    }

    /// Statements that remove whatever the plan creates, where it exists.
    fn drops(&self) -> Vec<String> {
        let mut drops: Vec<String> = self
            .tables
            .iter()
            .map(|(table, _)| format!("DROP TABLE IF EXISTS {table} CASCADE;"))
            .collect();
        for statement in self.tables.iter().flat_map(|(_, s)| s).map(|s| &**s) {
            if let Some(rest) = statement.strip_prefix("CREATE SEQUENCE ") {
                drops.push(format!(
                    "DROP SEQUENCE IF EXISTS {} CASCADE;",
                    first_word(rest)
                ));
            }
        }
        for statement in &self.first {
            if let Some(rest) = statement.strip_prefix("CREATE FUNCTION ") {
                let name = rest.split('(').next().unwrap_or(rest);
                drops.push(format!("DROP FUNCTION IF EXISTS {name} CASCADE;"));
            }
        }
        drops
    }
}

/// The statements of a `pg_dump` script, without its comment lines.
fn split_statements(script: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut in_body = false;
    let mut offset = 0;
    for line in script.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let text = line.trim_end();
        if start.is_none() && (text.is_empty() || text.starts_with("--")) {
            continue;
        }
        let start_at = *start.get_or_insert(line_start);
        if text.matches("$$").count() % 2 == 1 {
            in_body = !in_body;
        }
        if !in_body && text.ends_with(';') {
            statements.push(script[start_at..line_start + text.len()].trim_start());
            start = None;
        }
    }
    statements
}

fn first_word(text: &str) -> &str {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .next()
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Servers starting at once on one new path: one writes the database, the others find
    /// it whole, and no temporary file is left.
    #[test]
    fn one_of_many_starts_at_once_writes_the_template() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlflow.db");
        let made: Vec<bool> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| create_sqlite_from_template(&path).unwrap()))
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert_eq!(made.iter().filter(|made| **made).count(), 1, "{made:?}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["mlflow.db"]);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let revision: String = conn
            .query_row("SELECT version_num FROM alembic_version", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(revision, SCHEMA_REVISION);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn postgres_plan_keeps_every_statement_once_and_in_a_safe_place() {
        let plan = PostgresPlan::of(POSTGRES_SCHEMA);
        let all = split_statements(POSTGRES_SCHEMA);
        let side = crate::side::statements(Backend::Postgres, false).count();
        let planned = plan.first.len()
            + plan.last.len()
            + plan.tables.iter().map(|(_, s)| s.len()).sum::<usize>();
        assert_eq!(planned, all.len() + side);
        assert_eq!(
            plan.tables.len(),
            POSTGRES_SCHEMA.matches("\nCREATE TABLE ").count()
        );
        assert!(all.iter().all(|s| s.ends_with(';')));

        // What links tables, or needs them all, comes after every table.
        let foreign_keys = all.iter().filter(|s| s.contains(" FOREIGN KEY ")).count();
        assert!(foreign_keys > 40);
        assert_eq!(
            plan.last
                .iter()
                .filter(|s| s.contains(" FOREIGN KEY "))
                .count(),
            foreign_keys
        );
        assert!(plan.last.iter().any(|s| s.starts_with("CREATE TRIGGER ")));
        assert!(
            plan.last
                .last()
                .is_some_and(|s| s.starts_with("INSERT INTO alembic_version "))
        );

        // Each table's indexes, constraints and sequence are built with it, after it.
        let (_, experiments) = plan
            .tables
            .iter()
            .find(|(t, _)| *t == "experiments")
            .unwrap();
        assert!(experiments[0].starts_with("CREATE TABLE experiments "));
        for expected in [
            "CREATE SEQUENCE experiments_experiment_id_seq",
            "ALTER SEQUENCE experiments_experiment_id_seq OWNED BY",
            "ALTER TABLE ONLY experiments ALTER COLUMN experiment_id SET DEFAULT",
            "ADD CONSTRAINT experiment_pk PRIMARY KEY",
        ] {
            assert!(
                experiments.iter().any(|s| s.contains(expected)),
                "{expected}"
            );
        }
        for (table, statements) in &plan.tables {
            for statement in &statements[1..] {
                if statement.starts_with("CREATE INDEX ") || statement.contains(" UNIQUE INDEX ") {
                    assert!(statement.contains(&format!(" ON {table} ")), "{statement}");
                }
            }
        }
        let (_, runs) = plan.tables.iter().find(|(t, _)| *t == "runs").unwrap();
        assert!(
            runs.iter()
                .any(|s| s.contains("trackway_runs_experiment_start"))
        );

        // The shares hold every table once, and the drops name every table and the function.
        let shares = plan.shares(POSTGRES_BUILDERS);
        assert_eq!(shares.len(), POSTGRES_BUILDERS);
        let creates: usize = shares
            .iter()
            .map(|s| s.matches("CREATE TABLE ").count())
            .sum();
        assert_eq!(creates, plan.tables.len());
        let drops = plan.drops();
        assert!(drops.contains(&"DROP TABLE IF EXISTS runs CASCADE;".to_string()));
        assert!(
            drops
                .iter()
                .any(|d| d.contains("prevent_secrets_aad_mutation"))
        );
        assert!(
            drops
                .iter()
                .any(|d| d.contains("experiments_experiment_id_seq"))
        );
    }
}
