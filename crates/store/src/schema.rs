//! MLflow's SQL schema, pinned to one release, created without Python.
//!
//! Trackway reads and writes MLflow's own tables, so a database moves freely between MLflow
//! 3.17.2 and Trackway. The DDL in `schema/` is what MLflow 3.17.2 itself creates (read back
//! from real databases); on an empty database Trackway runs it and stamps the Alembic head, so
//! MLflow's server later sees a current database. Any other revision is refused: migrating is
//! MLflow's job (`mlflow db upgrade`), and guessing would risk users' data.

use sqlx::Row;

use crate::db::{Backend, OpenError, Pools};

/// MLflow's Alembic revision at the head of 3.17.2.
pub const SCHEMA_REVISION: &str = "dc11669786a5";
/// The MLflow release whose schema Trackway serves.
pub const MLFLOW_SCHEMA_VERSION: &str = "3.17.2";

const SQLITE_SCHEMA: &str = include_str!("../schema/sqlite.sql");
const POSTGRES_SCHEMA: &str = include_str!("../schema/postgres.sql");

/// Serialises schema creation across server processes starting at once on one PostgreSQL
/// database (an arbitrary constant: "trackway" in ASCII).
const SCHEMA_LOCK_KEY: i64 = 0x747261636b776179;

/// What an opened database held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// The database was empty and now holds MLflow's schema.
    Created,
    /// The database already held MLflow's schema at the supported revision.
    Current,
}

/// Creates MLflow's schema on an empty database, accepts one already at the supported
/// revision, and refuses anything else with a message that says what to do.
pub async fn ensure_schema(pools: &Pools) -> Result<SchemaState, OpenError> {
    let schema_err =
        |e: sqlx::Error| OpenError::Schema(format!("cannot inspect the database: {e}"));
    let mut tx = pools.begin_write().await.map_err(schema_err)?;
    if pools.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK_KEY)
            .execute(&mut **tx)
            .await
            .map_err(schema_err)?;
    }
    let tables_sql = match pools.backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
    };
    let tables: Vec<String> = sqlx::query(tables_sql)
        .fetch_all(&mut **tx)
        .await
        .map_err(schema_err)?
        .iter()
        .map(|row| row.get::<String, _>("name"))
        .collect();

    if tables.iter().any(|t| t == "alembic_version") {
        let revision: Option<String> = sqlx::query("SELECT version_num FROM alembic_version")
            .fetch_optional(&mut **tx)
            .await
            .map_err(schema_err)?
            .map(|row| row.get(0));
        return match revision.as_deref() {
            Some(SCHEMA_REVISION) => Ok(SchemaState::Current),
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
    if !tables.is_empty() {
        return Err(OpenError::Schema(format!(
            "the database already holds tables ({}) but no MLflow schema version; point \
             --backend-store-uri at an empty database or at one made by MLflow \
             {MLFLOW_SCHEMA_VERSION}",
            tables.join(", ")
        )));
    }
    let script = match pools.backend {
        Backend::Sqlite => SQLITE_SCHEMA,
        Backend::Postgres => POSTGRES_SCHEMA,
    };
    sqlx::raw_sql(script)
        .execute(&mut **tx)
        .await
        .map_err(|e| OpenError::Schema(format!("cannot create MLflow's schema: {e}")))?;
    crate::side::create_with_schema(&mut tx, pools.backend)
        .await
        .map_err(|e| OpenError::Schema(format!("cannot create Trackway's side indexes: {e}")))?;
    tx.commit().await.map_err(schema_err)?;
    Ok(SchemaState::Created)
}
