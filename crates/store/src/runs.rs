//! Runs: create, read, update, delete, restore, tags.

use rand::seq::IndexedRandom;
use rusqlite::OptionalExtension;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};
use trackway_core::entities::{
    KeyValue, LifecycleStage, Run, RunData, RunInfo, RunInputs, RunStatus,
};
use trackway_core::validation::{MAX_TAG_VAL_LENGTH, validate_length_limit, validate_tag};
use trackway_core::{Error, Result};

use crate::rows::{self, RUN_COLUMNS, RUN_NAME_TAG};
use crate::sql::SqlBuilder;
use crate::uri::append_to_uri_path;
use crate::{Store, db_error, now_ms};

/// What `runs/create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewRun<'a> {
    /// Experiment; empty means the Default experiment.
    pub experiment_id: &'a str,
    /// Creator.
    pub user_id: &'a str,
    /// Start time in ms; absent is stored as 0, as MLflow does.
    pub start_time: Option<i64>,
    /// Initial tags.
    pub tags: &'a [KeyValue],
    /// Display name; defaults to the `mlflow.runName` tag or a generated name.
    pub run_name: Option<&'a str>,
}

// Word lists for generated run names ("clever-owl-123"), in the spirit of MLflow's.
const ADJECTIVES: &[&str] = &[
    "able",
    "agile",
    "amazing",
    "bold",
    "brave",
    "bright",
    "calm",
    "capable",
    "clever",
    "crisp",
    "curious",
    "daring",
    "eager",
    "fair",
    "fearless",
    "fun",
    "gentle",
    "glamorous",
    "good",
    "grand",
    "honest",
    "humble",
    "intrigued",
    "kind",
    "likeable",
    "lively",
    "loud",
    "lucky",
    "magnificent",
    "merciful",
    "mysterious",
    "nimble",
    "patient",
    "polite",
    "quiet",
    "rare",
    "resilient",
    "rogue",
    "rumbling",
    "sassy",
    "secretive",
    "serious",
    "shy",
    "silent",
    "smiling",
    "sneaky",
    "spiffy",
    "stately",
    "suave",
    "sunny",
    "swift",
    "thoughtful",
    "tidy",
    "trusting",
    "unique",
    "upset",
    "valuable",
    "vibrant",
    "welcoming",
    "wise",
    "witty",
    "youthful",
    "zealous",
];
const NOUNS: &[&str] = &[
    "ant", "ape", "asp", "auk", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf",
    "carp", "cat", "chimp", "cod", "colt", "conch", "cow", "crab", "crane", "croc", "crow", "cub",
    "deer", "doe", "dog", "dolphin", "donkey", "dove", "duck", "eel", "elk", "fawn", "finch",
    "fish", "flea", "fly", "foal", "fowl", "fox", "frog", "gnat", "gnu", "goat", "goose", "grouse",
    "grub", "gull", "hare", "hawk", "hen", "hog", "horse", "hound", "jay", "kit", "kite", "koi",
    "lamb", "lark", "loon", "lynx", "mare", "midge", "mink", "mole", "moose", "moth", "mouse",
    "mule", "newt", "owl", "ox", "panda", "penguin", "perch", "pig", "pug", "quail", "ram", "rat",
    "ray", "robin", "roo", "rook", "seal", "shad", "shark", "sheep", "shoat", "shrew", "shrike",
    "shrimp", "skink", "skunk", "sloth", "slug", "smelt", "snail", "snake", "snipe", "sow",
    "sponge", "squid", "stag", "steed", "stoat", "stork", "swan", "tern", "toad", "trout",
    "turtle", "vole", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
];

/// A random `adjective-animal-NNN` name of at most 20 characters, like MLflow's.
pub(crate) fn generate_run_name() -> String {
    let mut rng = rand::rng();
    for _ in 0..10 {
        let name = format!(
            "{}-{}-{}",
            ADJECTIVES.choose(&mut rng).copied().unwrap_or("able"),
            NOUNS.choose(&mut rng).copied().unwrap_or("owl"),
            rand::random_range(0..1000)
        );
        if name.len() <= 20 {
            return name;
        }
    }
    "able-owl-1".into()
}

/// The lifecycle stage and experiment of a run, read inside a write transaction.
pub(crate) struct RunState {
    pub lifecycle_stage: LifecycleStage,
    pub experiment_id: i64,
}

impl RunState {
    /// From a [`RUN_STATE`] row of either driver.
    pub(crate) fn from_row(row: &impl rows::DbRow) -> Result<Self> {
        Ok(RunState {
            lifecycle_stage: LifecycleStage::parse(
                &row.text("lifecycle_stage")?.unwrap_or_default(),
            ),
            experiment_id: row.int("experiment_id")?.unwrap_or(0),
        })
    }
}

/// Reads a run's state inside a transaction; RESOURCE_DOES_NOT_EXIST if it is missing.
pub(crate) async fn run_state(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
) -> Result<RunState> {
    let row = sqlx::query(RUN_STATE)
        .bind(run_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| run_not_found(run_id))?;
    RunState::from_row(&row)
}

/// [`active_run`] on a rusqlite transaction (see [`crate::sqlite_direct`]).
pub(crate) fn direct_active_run(tx: &rusqlite::Transaction<'_>, run_id: &str) -> Result<RunState> {
    let e = crate::sqlite_direct::direct_error;
    let state = tx
        .prepare_cached(RUN_STATE)
        .map_err(e)?
        .query_row([run_id], |row| Ok(RunState::from_row(row)))
        .optional()
        .map_err(e)?
        .ok_or_else(|| run_not_found(run_id))??;
    require_active(run_id, state)
}

/// Like [`run_state`], but the run must also be active, as every write requires.
pub(crate) async fn active_run(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
) -> Result<RunState> {
    let state = run_state(tx, run_id).await?;
    require_active(run_id, state)
}

/// MLflow's refusal to write to a run that is not active.
pub(crate) fn require_active(run_id: &str, state: RunState) -> Result<RunState> {
    if state.lifecycle_stage != LifecycleStage::Active {
        return Err(Error::invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is {}.",
            state.lifecycle_stage.as_str()
        )));
    }
    Ok(state)
}

/// [`upsert_tag`] for each tag, on a rusqlite transaction (see [`crate::sqlite_direct`]).
pub(crate) fn direct_upsert_tags(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    tags: &[KeyValue],
) -> Result<()> {
    let e = crate::sqlite_direct::direct_error;
    for tag in tags {
        if tag.key == RUN_NAME_TAG {
            if tag.value.is_empty() {
                continue;
            }
            tx.prepare_cached(RENAME_RUN)
                .map_err(e)?
                .execute((&tag.value, run_id))
                .map_err(e)?;
        }
        tx.prepare_cached(&format!("{INSERT_TAG}{TAG_CONFLICT}"))
            .map_err(e)?
            .execute((&tag.key, &tag.value, run_id))
            .map_err(e)?;
    }
    Ok(())
}

pub(crate) fn run_not_found(run_id: &str) -> Error {
    Error::not_found(format!("Run with id={run_id} not found"))
}

/// Upserts one run tag; the run name tag also renames the run (and is ignored when empty, as
/// MLflow does).
pub(crate) async fn upsert_tag(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    tag: &KeyValue,
) -> Result<()> {
    if tag.key == RUN_NAME_TAG {
        if tag.value.is_empty() {
            return Ok(());
        }
        sqlx::query(RENAME_RUN)
            .bind(&tag.value)
            .bind(run_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    sqlx::query(AssertSqlSafe(format!("{INSERT_TAG}{TAG_CONFLICT}")))
        .bind(&tag.key)
        .bind(&tag.value)
        .bind(run_id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Upserts a batch of run tags in one statement, as [`upsert_tag`] one after another would:
/// a key given twice keeps its first place and its last value. A batch that sets the run name
/// goes tag by tag, since that tag also renames the run.
pub(crate) async fn upsert_tags(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    tags: &[KeyValue],
) -> Result<()> {
    if tags.iter().any(|t| t.key == RUN_NAME_TAG) {
        for tag in tags {
            upsert_tag(tx, run_id, tag).await?;
        }
        return Ok(());
    }
    let merged = last_per_key(tags);
    if merged.is_empty() {
        return Ok(());
    }
    let mut qb = key_value_rows(
        crate::db::backend_of_transaction(tx),
        INSERT_TAG_COLUMNS,
        merged,
        run_id,
    );
    qb.push(TAG_CONFLICT);
    qb.build().execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

/// Each key's last tag, in the order keys first appear: one upsert may not change a row twice.
pub(crate) fn last_per_key(tags: &[KeyValue]) -> Vec<&KeyValue> {
    let mut merged: Vec<&KeyValue> = Vec::with_capacity(tags.len());
    for tag in tags {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(slot) => *slot = tag,
            None => merged.push(tag),
        }
    }
    merged
}

/// `<insert_columns>VALUES (key, value, run), ...` for a run's params or tags, one statement
/// for all of them.
pub(crate) fn key_value_rows<'a>(
    backend: crate::Backend,
    insert_columns: &str,
    items: impl IntoIterator<Item = &'a KeyValue>,
    run_id: &str,
) -> SqlBuilder {
    let mut qb = SqlBuilder::for_backend(backend, insert_columns);
    push_key_value_rows(&mut qb, items, run_id);
    qb
}

/// Appends `VALUES (key, value, run), ...` for a run's params or tags.
fn push_key_value_rows<'a>(
    qb: &mut SqlBuilder,
    items: impl IntoIterator<Item = &'a KeyValue>,
    run_id: &str,
) {
    qb.push_values(items, |row, item| {
        row.push_bind(item.key.clone())
            .sep()
            .push_bind(item.value.clone())
            .sep()
            .push_bind(run_id.to_string());
    });
}

const INSERT_RUN: &str = "INSERT INTO runs (run_uuid, name, source_type, source_name, \
     entry_point_name, user_id, status, start_time, end_time, source_version, lifecycle_stage, \
     artifact_uri, experiment_id, deleted_time) \
     VALUES ($1, $2, 'UNKNOWN', '', '', $3, 'RUNNING', $4, NULL, '', 'active', $5, $6, NULL)";
pub(crate) const INSERT_TAG_COLUMNS: &str = "INSERT INTO tags (\"key\", value, run_uuid) ";
const INSERT_TAG: &str = "INSERT INTO tags (\"key\", value, run_uuid) VALUES ($1, $2, $3)";
/// Turns [`INSERT_TAG`] into an upsert.
pub(crate) const TAG_CONFLICT: &str =
    " ON CONFLICT (\"key\", run_uuid) DO UPDATE SET value = excluded.value";
const RENAME_RUN: &str = "UPDATE runs SET name = $1 WHERE run_uuid = $2";
/// A run's lifecycle stage and experiment (sqlx and rusqlite both bind `$1`).
const RUN_STATE: &str = "SELECT lifecycle_stage, experiment_id FROM runs WHERE run_uuid = $1";

/// Sets an active run's status and end time where given, and returns the run's columns; no
/// row when the run is missing or not active.
fn update_run_sql() -> String {
    format!(
        "UPDATE runs SET status = COALESCE($1, status), end_time = COALESCE($2, end_time) \
         WHERE run_uuid = $3 AND lifecycle_stage = 'active' RETURNING {}",
        RUN_COLUMNS.replace("r.", "")
    )
}

/// A run just created, as `runs/create` answers it.
fn new_run(
    run_id: String,
    experiment: trackway_core::entities::Experiment,
    run_name: String,
    user_id: &str,
    start_time: i64,
    artifact_uri: String,
    tags: Vec<KeyValue>,
) -> Run {
    Run {
        info: RunInfo {
            run_uuid: run_id.clone(),
            experiment_id: experiment.experiment_id,
            run_name,
            user_id: user_id.to_string(),
            status: RunStatus::Running,
            start_time: Some(start_time),
            end_time: None,
            artifact_uri,
            lifecycle_stage: LifecycleStage::Active,
            run_id,
        },
        data: RunData {
            metrics: Vec::new(),
            params: Vec::new(),
            tags,
        },
        inputs: RunInputs::default(),
        outputs: None,
    }
}

/// What a new run gets from its request alone, checked before anything is written.
struct RunFields {
    run_id: String,
    run_name: String,
    start_time: i64,
    tags: Vec<KeyValue>,
}

/// The id, name, start time and tags of a new run, with MLflow's checks of its request.
fn run_fields(new: &NewRun<'_>) -> Result<RunFields> {
    let mut tags: Vec<KeyValue> = Vec::with_capacity(new.tags.len() + 1);
    for tag in new.tags {
        // MLflow stores creation tags unchecked; only keep them within the column size.
        let value = validate_length_limit("value", MAX_TAG_VAL_LENGTH, &tag.value, true)?;
        match tags.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = value,
            None => tags.push(KeyValue {
                key: tag.key.clone(),
                value,
            }),
        }
    }
    let tag_name = tags
        .iter()
        .find(|t| t.key == RUN_NAME_TAG)
        .map(|t| t.value.clone());
    let run_name = new.run_name.filter(|n| !n.is_empty());
    if let (Some(name), Some(tag_name)) = (run_name, tag_name.as_deref().filter(|t| !t.is_empty()))
        && name != tag_name
    {
        return Err(Error::invalid(format!(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                 different values (run_name='{name}', mlflow.runName='{tag_name}')."
        )));
    }
    let run_name = run_name
        .map(str::to_string)
        .or(tag_name.clone().filter(|t| !t.is_empty()))
        .unwrap_or_else(generate_run_name);
    if tag_name.is_none() {
        tags.push(KeyValue::new(RUN_NAME_TAG, run_name.clone()));
    }
    Ok(RunFields {
        run_id: uuid::Uuid::new_v4().simple().to_string(),
        run_name,
        start_time: new.start_time.unwrap_or(0),
        tags,
    })
}

/// Where a new run's artifacts go: `<experiment's location>/<run id>/artifacts`.
fn run_artifact_uri(experiment: &trackway_core::entities::Experiment, run_id: &str) -> String {
    append_to_uri_path(&experiment.artifact_location, &[run_id, "artifacts"])
}

impl Store {
    /// Creates a run in an active experiment.
    pub async fn create_run(&self, new: NewRun<'_>) -> Result<Run> {
        let fields = match run_fields(&new) {
            Ok(fields) => fields,
            // MLflow checks the experiment first: a request that is wrong on both counts
            // hears about the experiment.
            Err(invalid) => {
                self.experiment_for_new_run(new.experiment_id).await?;
                return Err(invalid);
            }
        };
        let RunFields {
            run_id,
            run_name,
            start_time,
            tags,
        } = fields;

        let (experiment, artifact_uri) = if let Some(writer) = &self.writer {
            // SQLite: the experiment is read in the run's own write transaction, so a run
            // costs one hand-over to the writer's thread and no read before it.
            let experiment_id = new.experiment_id.to_string();
            let row = (
                run_id.clone(),
                run_name.clone(),
                new.user_id.to_string(),
                start_time,
            );
            let run_tags = tags.clone();
            writer
                .write(move |tx| {
                    let e = crate::sqlite_direct::direct_error;
                    let experiment =
                        crate::experiments::direct_experiment_for_new_run(tx, &experiment_id)?;
                    let artifact_uri = run_artifact_uri(&experiment, &row.0);
                    let number: i64 = experiment.experiment_id.parse().unwrap_or_default();
                    // `$n` placeholders are numbered in order, so rusqlite binds them by
                    // position as sqlx does.
                    tx.prepare_cached(INSERT_RUN)
                        .map_err(e)?
                        .execute((&row.0, &row.1, &row.2, row.3, &artifact_uri, number))
                        .map_err(e)?;
                    let mut insert = tx.prepare_cached(INSERT_TAG).map_err(e)?;
                    for tag in &run_tags {
                        insert.execute((&tag.key, &tag.value, &row.0)).map_err(e)?;
                    }
                    Ok((experiment, artifact_uri))
                })
                .await?
        } else {
            let experiment = self.experiment_for_new_run(new.experiment_id).await?;
            let artifact_uri = run_artifact_uri(&experiment, &run_id);
            let experiment_id: i64 = experiment.experiment_id.parse().unwrap_or_default();
            // PostgreSQL: one statement for the run and its tags (there is always the name
            // tag), which commits by itself. Each statement is a round trip to the database,
            // and a transaction around two of them was two more. The run's values are bound
            // first, as `INSERT_RUN`'s `$1` to `$6`; the tags' foreign key is checked at the
            // end of the statement, when the run is there.
            let mut qb = SqlBuilder::for_backend(
                self.pools.backend,
                format!("WITH run AS ({INSERT_RUN}) {INSERT_TAG_COLUMNS}"),
            );
            qb.bind(run_id.clone())
                .bind(run_name.clone())
                .bind(new.user_id.to_string())
                .bind(start_time)
                .bind(artifact_uri.clone())
                .bind(experiment_id);
            push_key_value_rows(&mut qb, &tags, &run_id);
            qb.build()
                .execute(&mut *self.pools.write().await.map_err(db_error)?)
                .await
                .map_err(db_error)?;
            (experiment, artifact_uri)
        };
        Ok(new_run(
            run_id,
            experiment,
            run_name,
            new.user_id,
            start_time,
            artifact_uri,
            tags,
        ))
    }

    async fn run_info(&self, run_id: &str) -> Result<RunInfo> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_uuid = $1"
        )))
        .bind(run_id)
        .fetch_optional(&self.pools.read)
        .await
        .map_err(db_error)?
        .ok_or_else(|| run_not_found(run_id))?;
        rows::run_info(&row)
    }

    /// Gets a run, deleted or not, with its latest metrics, params, tags, inputs and outputs.
    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        let info = self.run_info(run_id).await?;
        let mut runs = rows::load_runs(&self.pools.read, &self.reader, vec![info]).await?;
        runs.pop().ok_or_else(|| run_not_found(run_id))
    }

    /// Updates an active run's status, end time and name; only given fields change.
    pub async fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        if let Some(writer) = &self.writer {
            let run_id = run_id.to_string();
            let name = run_name.filter(|n| !n.is_empty()).map(str::to_string);
            let status = status.map(|s| s.as_str());
            return writer
                .write(move |tx| {
                    let e = crate::sqlite_direct::direct_error;
                    if let Some(name) = name {
                        direct_active_run(tx, &run_id)?;
                        direct_upsert_tags(tx, &run_id, &[KeyValue::new(RUN_NAME_TAG, name)])?;
                    }
                    let info = tx
                        .prepare_cached(&update_run_sql())
                        .map_err(e)?
                        .query_row((status, end_time, &run_id), |row| Ok(rows::run_info(row)))
                        .optional()
                        .map_err(e)?;
                    match info {
                        Some(info) => info,
                        None => {
                            direct_active_run(tx, &run_id)?;
                            Err(Error::internal(format!(
                                "run {run_id} changed while updating it"
                            )))
                        }
                    }
                })
                .await;
        }
        // PostgreSQL (SQLite always has the writer above). One statement checks, updates and
        // reads the run: each statement is a round trip to the database. Only when it finds no
        // active run is the run looked at again, for MLflow's error. Without a new name the
        // statement is alone and commits by itself: a transaction around it was two more round
        // trips (`BEGIN`, `COMMIT`).
        let update = sqlx::query(AssertSqlSafe(update_run_sql()))
            .bind(status.map(|s| s.as_str()))
            .bind(end_time)
            .bind(run_id);
        let (row, tx) = match run_name.filter(|n| !n.is_empty()) {
            Some(name) => {
                let mut tx = self.pools.begin_write().await.map_err(db_error)?;
                active_run(&mut tx, run_id).await?;
                upsert_tag(&mut tx, run_id, &KeyValue::new(RUN_NAME_TAG, name)).await?;
                let row = update.fetch_optional(&mut **tx).await;
                (row, Some(tx))
            }
            None => (
                update
                    .fetch_optional(&mut *self.pools.write().await.map_err(db_error)?)
                    .await,
                None,
            ),
        };
        let Some(row) = row.map_err(db_error)? else {
            let mut tx = match tx {
                Some(tx) => tx,
                None => self.pools.begin_write().await.map_err(db_error)?,
            };
            active_run(&mut tx, run_id).await?;
            return Err(Error::internal(format!(
                "run {run_id} changed while updating it"
            )));
        };
        let info = rows::run_info(&row)?;
        if let Some(tx) = tx {
            tx.commit().await.map_err(db_error)?;
        }
        Ok(info)
    }

    /// Soft-deletes a run.
    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.set_run_stage(run_id, LifecycleStage::Deleted).await
    }

    /// Restores a soft-deleted run.
    pub async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.set_run_stage(run_id, LifecycleStage::Active).await
    }

    async fn set_run_stage(&self, run_id: &str, stage: LifecycleStage) -> Result<()> {
        let deleted_time = (stage == LifecycleStage::Deleted).then(now_ms);
        let updated = sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_uuid = $3",
        )
        .bind(stage.as_str())
        .bind(deleted_time)
        .bind(run_id)
        .execute(&mut *self.pools.write().await.map_err(db_error)?)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(run_not_found(run_id));
        }
        Ok(())
    }

    /// Sets a run tag (values over MLflow's limit are truncated).
    pub async fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        let tag = validate_tag(key, value, "")?;
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        active_run(&mut tx, run_id).await?;
        upsert_tag(&mut tx, run_id, &tag).await?;
        tx.commit().await.map_err(db_error)
    }

    /// Deletes a run tag.
    pub async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        active_run(&mut tx, run_id).await?;
        let deleted = sqlx::query("DELETE FROM tags WHERE run_uuid = $1 AND \"key\" = $2")
            .bind(run_id)
            .bind(key)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in run with id {run_id}"
            )));
        }
        tx.commit().await.map_err(db_error)
    }
}

/// A run that garbage collection may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRun {
    /// The run.
    pub run_id: String,
    /// Where its artifacts are.
    pub artifact_uri: String,
}

impl Store {
    /// Runs deleted at least `older_than_ms` ago (all deleted runs when `run_ids` is empty,
    /// else only those, which must be deleted).
    pub async fn deleted_runs(
        &self,
        older_than_ms: i64,
        run_ids: &[String],
    ) -> Result<Vec<DeletedRun>> {
        let cutoff = now_ms() - older_than_ms;
        let rows = sqlx::query(
            "SELECT run_uuid, artifact_uri, deleted_time FROM runs WHERE lifecycle_stage = 'deleted' \
             ORDER BY run_uuid",
        )
        .fetch_all(&self.pools.read)
        .await
        .map_err(db_error)?;
        let mut out = Vec::new();
        for row in rows {
            let run_id: String = row.try_get("run_uuid").map_err(db_error)?;
            let deleted_time: Option<i64> = row.try_get("deleted_time").map_err(db_error)?;
            if !run_ids.is_empty() && !run_ids.contains(&run_id) {
                continue;
            }
            // Runs deleted before MLflow recorded deletion times count as old.
            if deleted_time.is_some_and(|t| t > cutoff) {
                continue;
            }
            out.push(DeletedRun {
                artifact_uri: row
                    .try_get::<Option<String>, _>("artifact_uri")
                    .map_err(db_error)?
                    .unwrap_or_default(),
                run_id,
            });
        }
        for id in run_ids {
            if !out.iter().any(|r| &r.run_id == id) {
                return Err(Error::invalid(format!(
                    "Run {id} is not in the deleted lifecycle stage (or was deleted too recently). \
                     Only deleted runs can be permanently deleted."
                )));
            }
        }
        Ok(out)
    }

    /// Removes a deleted run and everything logged to it, for good.
    pub async fn purge_run(&self, run_id: &str) -> Result<()> {
        let mut tx = self.pools.begin_write().await.map_err(db_error)?;
        let state = run_state(&mut tx, run_id).await?;
        if state.lifecycle_stage != LifecycleStage::Deleted {
            return Err(Error::invalid(format!(
                "Run {run_id} is not deleted; only deleted runs can be purged."
            )));
        }
        for statement in [
            "DELETE FROM metrics WHERE run_uuid = $1",
            "DELETE FROM latest_metrics WHERE run_uuid = $1",
            "DELETE FROM params WHERE run_uuid = $1",
            "DELETE FROM tags WHERE run_uuid = $1",
            "DELETE FROM input_tags WHERE input_uuid IN (SELECT input_uuid FROM inputs WHERE destination_type = 'RUN' AND destination_id = $1)",
            "DELETE FROM inputs WHERE (destination_type = 'RUN' AND destination_id = $1) OR source_id = $1",
            "DELETE FROM logged_model_metrics WHERE run_id = $1",
            "DELETE FROM runs WHERE run_uuid = $1",
        ] {
            sqlx::query(statement)
                .bind(run_id)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }
}
