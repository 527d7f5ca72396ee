//! Experiments: create, read, rename, delete, restore, tags.

use sqlx::{AssertSqlSafe, Row};
use trackway_core::entities::{Experiment, KeyValue, LifecycleStage, ViewType};
use trackway_core::validation::{
    parse_experiment_id, parse_experiment_ids, validate_experiment_name, validate_experiment_tag,
};
use trackway_core::{Error, ErrorCode, Result};

use crate::rows::{self, EXPERIMENT_COLUMNS};
use crate::uri::append_to_uri_path;
use crate::{Store, db_error, is_unique_violation, now_ms};

fn already_exists(name: &str) -> Error {
    Error::already_exists(format!("Experiment(name={name}) already exists."))
}

/// An experiment id from a request as a number; empty means the Default experiment.
fn experiment_number(id: &str) -> Result<i64> {
    parse_experiment_id(if id.is_empty() { "0" } else { id })
}

/// The statement that reads one experiment by number, on either driver.
fn experiment_by_id_sql() -> String {
    format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE e.experiment_id = $1")
}

/// MLflow's answer for an experiment id that names no experiment.
fn experiment_not_found(id: &str) -> Error {
    let shown = experiment_number(id)
        .map(|n| n.to_string())
        .unwrap_or_else(|_| id.to_string());
    Error::not_found(format!("No Experiment with id={shown} exists"))
}

/// MLflow's refusal to change an experiment that is not active.
fn require_active(experiment: Experiment) -> Result<Experiment> {
    if experiment.lifecycle_stage != LifecycleStage::Active {
        return Err(Error::invalid(format!(
            "The experiment {} must be in the 'active' state. Current state is {}.",
            experiment.experiment_id,
            experiment.lifecycle_stage.as_str()
        )));
    }
    Ok(experiment)
}

/// [`Store::experiment_for_new_run`] inside a rusqlite write transaction on SQLite (see
/// [`crate::sqlite_direct`]): the run's insert then needs no read of its own beforehand, and
/// no other write can delete the experiment between the check and the insert.
pub(crate) fn direct_experiment_for_new_run(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
) -> Result<Experiment> {
    use rusqlite::OptionalExtension;
    let e = crate::sqlite_direct::direct_error;
    let number = experiment_number(id)?;
    let experiment = tx
        .prepare_cached(&experiment_by_id_sql())
        .map_err(e)?
        .query_row([number], |row| Ok(rows::experiment(row)))
        .optional()
        .map_err(e)?
        .ok_or_else(|| experiment_not_found(id))??;
    require_active(experiment)
}

impl Store {
    pub(crate) async fn create_default_experiment(&self) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, \
             creation_time, last_update_time, workspace) \
             VALUES (0, 'Default', $1, 'active', $2, $2, 'default') ON CONFLICT DO NOTHING",
        )
        .bind(append_to_uri_path(&self.default_artifact_root, &["0"]))
        .bind(now)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Creates an experiment and returns its id. Without an artifact location it gets
    /// `<default artifact root>/<id>`.
    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[KeyValue],
    ) -> Result<String> {
        validate_experiment_name(name)?;
        for tag in tags {
            validate_experiment_tag(&tag.key, &tag.value)?;
        }
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        // Checking first keeps a refused name from using up an id of PostgreSQL's sequence,
        // so ids stay dense as on SQLite; the unique constraint still decides races.
        let taken = sqlx::query("SELECT 1 FROM experiments WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        if taken.is_some() {
            return Err(already_exists(name));
        }
        let inserted = sqlx::query(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, \
             last_update_time, workspace) VALUES ($1, $2, 'active', $3, $3, 'default') \
             RETURNING experiment_id",
        )
        .bind(name)
        .bind(artifact_location.filter(|l| !l.is_empty()))
        .bind(now)
        .fetch_one(&mut **tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0).map_err(db_error)?,
            Err(e) if is_unique_violation(&e) => return Err(already_exists(name)),
            Err(e) => return Err(db_error(e)),
        };
        if artifact_location.is_none_or(str::is_empty) {
            sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2")
                .bind(append_to_uri_path(
                    &self.default_artifact_root,
                    &[&id.to_string()],
                ))
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        for tag in tags {
            sqlx::query(
                "INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (\"key\", experiment_id) DO UPDATE SET value = excluded.value",
            )
            .bind(&tag.key)
            .bind(&tag.value)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(id.to_string())
    }

    async fn find_experiment(&self, id: &str, view: ViewType) -> Result<Option<Experiment>> {
        let row = sqlx::query(AssertSqlSafe(experiment_by_id_sql()))
            .bind(experiment_number(id)?)
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let experiment = rows::experiment(&row)?;
        if !view.stages().contains(&experiment.lifecycle_stage.as_str()) {
            return Ok(None);
        }
        Ok(Some(experiment))
    }

    async fn require_experiment(&self, id: &str, view: ViewType) -> Result<Experiment> {
        self.find_experiment(id, view)
            .await?
            .ok_or_else(|| experiment_not_found(id))
    }

    /// Gets an experiment by id, deleted or not.
    pub async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        let mut experiment = self.require_experiment(id, ViewType::All).await?;
        rows::attach_experiment_tags(&self.pools.read, std::slice::from_mut(&mut experiment))
            .await?;
        Ok(experiment)
    }

    /// Gets an experiment by name, deleted or not; `None` when there is none.
    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE e.name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pools.read)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let mut experiment = rows::experiment(&row)?;
        rows::attach_experiment_tags(&self.pools.read, std::slice::from_mut(&mut experiment))
            .await?;
        Ok(Some(experiment))
    }

    /// Soft-deletes an active experiment and all its runs.
    pub async fn delete_experiment(&self, id: &str) -> Result<()> {
        self.set_experiment_stage(id, ViewType::ActiveOnly, LifecycleStage::Deleted)
            .await
    }

    /// Restores a deleted experiment and all its runs.
    pub async fn restore_experiment(&self, id: &str) -> Result<()> {
        self.set_experiment_stage(id, ViewType::DeletedOnly, LifecycleStage::Active)
            .await
    }

    async fn set_experiment_stage(
        &self,
        id: &str,
        from: ViewType,
        to: LifecycleStage,
    ) -> Result<()> {
        let experiment = self.require_experiment(id, from).await?;
        let id: i64 = experiment.experiment_id.parse().unwrap_or_default();
        let now = now_ms();
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        sqlx::query(
            "UPDATE experiments SET lifecycle_stage = $1, last_update_time = $2 \
             WHERE experiment_id = $3",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        let deleted_time = (to == LifecycleStage::Deleted).then_some(now);
        sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE experiment_id = $3",
        )
        .bind(to.as_str())
        .bind(deleted_time)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    /// Renames an active experiment.
    pub async fn rename_experiment(&self, id: &str, new_name: &str) -> Result<()> {
        validate_experiment_name(new_name)?;
        let experiment = self.require_experiment(id, ViewType::All).await?;
        if experiment.lifecycle_stage != LifecycleStage::Active {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "Cannot rename a non-active experiment.",
            ));
        }
        let result = sqlx::query(
            "UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(new_name)
        .bind(now_ms())
        .bind(experiment.experiment_id.parse::<i64>().unwrap_or_default())
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::already_exists(format!(
                "Experiment(name={new_name}) already exists."
            ))),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn require_active_experiment(&self, id: &str) -> Result<Experiment> {
        require_active(self.require_experiment(id, ViewType::All).await?)
    }

    /// Sets (or overwrites) an experiment tag.
    pub async fn set_experiment_tag(&self, id: &str, key: &str, value: &str) -> Result<()> {
        validate_experiment_tag(key, value)?;
        let experiment = self.require_active_experiment(id).await?;
        sqlx::query(
            "INSERT INTO experiment_tags (\"key\", value, experiment_id) VALUES ($1, $2, $3) \
             ON CONFLICT (\"key\", experiment_id) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .bind(experiment.experiment_id.parse::<i64>().unwrap_or_default())
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Deletes an experiment tag.
    pub async fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()> {
        let experiment = self.require_active_experiment(id).await?;
        let deleted =
            sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND \"key\" = $2")
                .bind(experiment.experiment_id.parse::<i64>().unwrap_or_default())
                .bind(key)
                .execute(&mut *self.pools.write().await.map_err(db_error)?)
                .await
                .map_err(db_error)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in experiment with id {id}"
            )));
        }
        Ok(())
    }

    /// Resolves an experiment that new runs may be created in.
    pub(crate) async fn experiment_for_new_run(&self, id: &str) -> Result<Experiment> {
        self.require_active_experiment(id).await
    }
}

impl Store {
    /// Summaries of the datasets used in some experiments (`search-datasets`, for the UI), at
    /// most 1000 as in MLflow.
    pub async fn search_datasets(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<trackway_core::entities::DatasetSummary>> {
        let ids = parse_experiment_ids(experiment_ids)?;
        let mut qb = crate::sql::SqlBuilder::for_backend(
            self.pools.backend,
            "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value AS context \
             FROM datasets d JOIN inputs i ON i.source_id = d.dataset_uuid \
             LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = 'mlflow.data.context' \
             WHERE d.experiment_id IN (",
        );
        qb.push_bind_list(ids);
        qb.push(") ORDER BY d.experiment_id, d.name, d.digest LIMIT 1000");
        qb.build()
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                Ok(trackway_core::entities::DatasetSummary {
                    experiment_id: row
                        .try_get::<i64, _>("experiment_id")
                        .map_err(db_error)?
                        .to_string(),
                    name: row.try_get("name").map_err(db_error)?,
                    digest: row.try_get("digest").map_err(db_error)?,
                    context: row.try_get("context").map_err(db_error)?,
                })
            })
            .collect()
    }
}

/// The kinds of MLflow 3 GenAI records that Trackway keeps in MLflow's schema but does not
/// serve yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenAiRecords {
    /// Traces (`trace_info`).
    Traces,
    /// Registered scorers, the UI's judges (`scorers`).
    Scorers,
    /// Evaluation datasets (`evaluation_datasets`; not tied to one experiment column).
    EvaluationDatasets,
}

impl Store {
    /// Whether the database holds records of `kind`: in these experiments, or anywhere when
    /// `experiment_ids` is empty (and always anywhere for evaluation datasets). A database
    /// MLflow wrote may hold them; the UI endpoints that would list them refuse instead of
    /// answering as if there were none.
    pub async fn genai_records_exist(
        &self,
        kind: GenAiRecords,
        experiment_ids: &[String],
    ) -> Result<bool> {
        let ids = parse_experiment_ids(experiment_ids)?;
        let table = match kind {
            GenAiRecords::Traces => "trace_info",
            GenAiRecords::Scorers => "scorers",
            GenAiRecords::EvaluationDatasets => "evaluation_datasets",
        };
        let mut qb = crate::sql::SqlBuilder::for_backend(
            self.pools.backend,
            format!("SELECT 1 FROM {table}"),
        );
        if !ids.is_empty() && kind != GenAiRecords::EvaluationDatasets {
            qb.push(" WHERE experiment_id IN (");
            qb.push_bind_list(ids);
            qb.push(")");
        }
        qb.push(" LIMIT 1");
        Ok(qb
            .build()
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?
            .is_some())
    }
}
