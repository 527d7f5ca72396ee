//! Turning rows of MLflow's tables into entities, in bulk.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use trackway_core::Result;
use trackway_core::entities::{
    Dataset, DatasetInput, Experiment, KeyValue, LifecycleStage, Metric, ModelInput, ModelOutput,
    Run, RunData, RunInfo, RunInputs, RunOutputs, RunStatus,
};

use crate::db_error;
use crate::sql::SqlBuilder;

/// Largest `IN (...)` list sent in one statement; well below SQLite's and PostgreSQL's bind
/// limits.
pub(crate) const IN_CHUNK: usize = 500;

pub(crate) const EXPERIMENT_COLUMNS: &str = "e.experiment_id, e.name, e.artifact_location, \
     e.lifecycle_stage, e.creation_time, e.last_update_time, e.workspace";

pub(crate) const RUN_COLUMNS: &str = "r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, \
     r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage";

/// The run name tag, which MLflow keeps equal to the run's name.
pub(crate) const RUN_NAME_TAG: &str = "mlflow.runName";

pub(crate) fn experiment(row: &impl DbRow) -> Result<Experiment> {
    Ok(Experiment {
        experiment_id: row.int("experiment_id")?.unwrap_or_default().to_string(),
        name: row.text("name")?.unwrap_or_default(),
        artifact_location: row.text("artifact_location")?.unwrap_or_default(),
        lifecycle_stage: LifecycleStage::parse(&row.text("lifecycle_stage")?.unwrap_or_default()),
        last_update_time: row.int("last_update_time")?,
        creation_time: row.int("creation_time")?,
        tags: Vec::new(),
        workspace: row.text("workspace")?.unwrap_or_else(|| "default".into()),
    })
}

/// A row as either driver returns it: sqlx's, or rusqlite's on SQLite's direct paths (see
/// [`crate::sqlite_direct`]).
pub(crate) trait DbRow {
    fn text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<Option<i64>>;
}

impl DbRow for AnyRow {
    fn text(&self, column: &str) -> Result<Option<String>> {
        self.try_get(column).map_err(db_error)
    }
    fn int(&self, column: &str) -> Result<Option<i64>> {
        self.try_get(column).map_err(db_error)
    }
}

impl DbRow for rusqlite::Row<'_> {
    fn text(&self, column: &str) -> Result<Option<String>> {
        self.get(column).map_err(crate::sqlite_direct::direct_error)
    }
    fn int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column).map_err(crate::sqlite_direct::direct_error)
    }
}

pub(crate) fn run_info(row: &impl DbRow) -> Result<RunInfo> {
    let run_id = row.text("run_uuid")?.unwrap_or_default();
    Ok(RunInfo {
        run_uuid: run_id.clone(),
        experiment_id: row
            .int("experiment_id")?
            .map(|id| id.to_string())
            .unwrap_or_default(),
        run_name: row.text("name")?.unwrap_or_default(),
        user_id: row.text("user_id")?.unwrap_or_default(),
        status: row
            .text("status")?
            .as_deref()
            .and_then(RunStatus::from_proto)
            .unwrap_or(RunStatus::Running),
        start_time: row.int("start_time")?,
        end_time: row.int("end_time")?,
        artifact_uri: row.text("artifact_uri")?.unwrap_or_default(),
        lifecycle_stage: LifecycleStage::parse(&row.text("lifecycle_stage")?.unwrap_or_default()),
        run_id,
    })
}

/// A stored metric value: NaN is stored as 0 with `is_nan` set.
pub(crate) fn metric_value(value: f64, is_nan: i64) -> f64 {
    if is_nan != 0 { f64::NAN } else { value }
}

pub(crate) fn metric(row: &AnyRow) -> Result<Metric> {
    Ok(Metric {
        key: row.try_get("key").map_err(db_error)?,
        value: metric_value(
            row.try_get("value").map_err(db_error)?,
            row.try_get("is_nan").map_err(db_error)?,
        ),
        timestamp: row
            .try_get::<Option<i64>, _>("timestamp")
            .map_err(db_error)?
            .unwrap_or(0),
        step: row.try_get("step").map_err(db_error)?,
    })
}

/// Runs `sql` (which ends in `IN (`) once per chunk of `ids`, binding them, and hands every
/// row to `each`.
pub(crate) async fn for_each_in_chunks<F>(
    pool: &AnyPool,
    sql: &str,
    suffix: &str,
    ids: &[String],
    mut each: F,
) -> Result<()>
where
    F: FnMut(&AnyRow) -> Result<()>,
{
    for row in &rows_in_chunks(pool, sql, suffix, ids).await? {
        each(row)?;
    }
    Ok(())
}

/// The rows of [`for_each_in_chunks`]'s statements, all read before any is looked at.
async fn rows_in_chunks(
    pool: &AnyPool,
    sql: &str,
    suffix: &str,
    ids: &[String],
) -> Result<Vec<AnyRow>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = SqlBuilder::for_backend(crate::db::backend_of(pool), sql);
        qb.push_bind_list(chunk.iter().cloned());
        qb.push(")");
        qb.push(suffix);
        rows.extend(qb.build().fetch_all(pool).await.map_err(db_error)?);
    }
    Ok(rows)
}

/// Adds tags to experiments.
pub(crate) async fn attach_experiment_tags(
    pool: &AnyPool,
    experiments: &mut [Experiment],
) -> Result<()> {
    if experiments.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = experiments
        .iter()
        .map(|e| e.experiment_id.clone())
        .collect();
    let index = slots(&ids);
    let mut tags: Vec<Vec<KeyValue>> = vec![Vec::new(); experiments.len()];
    // Experiment ids are integers in the table; compare their text so one bind type serves
    // both engines.
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = SqlBuilder::for_backend(
            crate::db::backend_of(pool),
            "SELECT experiment_id, \"key\", value FROM experiment_tags WHERE experiment_id IN (",
        );
        qb.push_bind_list(chunk.iter().map(|id| id.parse::<i64>().unwrap_or_default()));
        qb.push(") ORDER BY \"key\"");
        for row in qb.build().fetch_all(pool).await.map_err(db_error)? {
            let id: i64 = row.try_get("experiment_id").map_err(db_error)?;
            if let Some(&i) = index.get(id.to_string().as_str()) {
                tags[i].push(KeyValue {
                    key: row.try_get("key").map_err(db_error)?,
                    value: row
                        .try_get::<Option<String>, _>("value")
                        .map_err(db_error)?
                        .unwrap_or_default(),
                });
            }
        }
    }
    for (experiment, tags) in experiments.iter_mut().zip(tags) {
        experiment.tags = tags;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataKind {
    Metric,
    Param,
    Tag,
}

/// A run's latest metric, param or tag.
enum DataRow {
    Metric(Metric),
    Param(KeyValue),
    Tag(KeyValue),
}

/// The queries for runs' data on SQLite, each ending in `IN (` (PostgreSQL's are one
/// statement, in [`postgres_run_data`]). No ORDER BY: like MLflow's own query,
/// rows come in the database's natural order, which is insertion order on SQLite.
static RUN_DATA: [(DataKind, &str); 3] = [
    (
        DataKind::Metric,
        "SELECT run_uuid, \"key\", value, \"timestamp\", step, \
         CASE WHEN is_nan THEN 1 ELSE 0 END AS is_nan FROM latest_metrics WHERE run_uuid IN (",
    ),
    (
        DataKind::Param,
        "SELECT run_uuid, \"key\", value FROM params WHERE run_uuid IN (",
    ),
    (
        DataKind::Tag,
        "SELECT run_uuid, \"key\", value FROM tags WHERE run_uuid IN (",
    ),
];

/// Positions of entities in a page, by id.
fn slots(ids: &[String]) -> HashMap<&str, usize> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect()
}

/// [`RUN_DATA`] through rusqlite (see [`crate::sqlite_direct`]): each row with its run's
/// position in `ids`. The run is found by the id the row holds, borrowed: a copy of it per
/// row was about 5,000 allocations for a page of 100 searched runs.
fn sqlite_run_data(
    conn: &rusqlite::Connection,
    ids: &[String],
    queries: &[(DataKind, &str)],
) -> rusqlite::Result<Vec<(usize, DataRow)>> {
    let slots = slots(ids);
    let mut data = Vec::new();
    for &(kind, sql) in queries {
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!("{sql}{})", vec!["?"; chunk.len()].join(", "));
            // Cached: a page of 100 runs is the same three statements each time, and
            // preparing them was about 5% of a search's time (20,000 runs).
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
            while let Some(row) = rows.next()? {
                let run = row.get_ref(0)?;
                let Some(&slot) = run.as_str().ok().and_then(|run| slots.get(run)) else {
                    continue;
                };
                let key: String = row.get(1)?;
                let item = match kind {
                    DataKind::Metric => DataRow::Metric(Metric {
                        key,
                        value: metric_value(row.get(2)?, row.get(5)?),
                        timestamp: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
                        step: row.get(4)?,
                    }),
                    DataKind::Param | DataKind::Tag => {
                        let kv = KeyValue {
                            key,
                            value: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        };
                        if kind == DataKind::Param {
                            DataRow::Param(kv)
                        } else {
                            DataRow::Tag(kv)
                        }
                    }
                };
                data.push((slot, item));
            }
        }
    }
    Ok(data)
}

/// The rows [`RUN_DATA`] reads, on PostgreSQL, through sqlx's PostgreSQL driver (see
/// [`crate::RowReader`]): the three tables in one statement, the runs bound once as an
/// array, each row with its run's position from `slots`.
async fn postgres_run_data(
    pool: &sqlx::PgPool,
    ids: &[String],
    slots: &HashMap<&str, usize>,
) -> sqlx::Result<Vec<(usize, DataRow)>> {
    let rows = sqlx::query(
        "SELECT 0 AS kind, run_uuid, \"key\", NULL AS text, value, \"timestamp\", step, is_nan \
         FROM latest_metrics WHERE run_uuid = ANY($1) \
         UNION ALL SELECT 1, run_uuid, \"key\", value, NULL, NULL, NULL, NULL \
         FROM params WHERE run_uuid = ANY($1) \
         UNION ALL SELECT 2, run_uuid, \"key\", value, NULL, NULL, NULL, NULL \
         FROM tags WHERE run_uuid = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(&slot) = slots.get(row.try_get::<&str, _>(1)?) else {
            continue;
        };
        let key: String = row.try_get(2)?;
        let item = match row.try_get::<i32, _>(0)? {
            0 => DataRow::Metric(Metric {
                key,
                value: metric_value(row.try_get(4)?, row.try_get::<bool, _>(7)?.into()),
                timestamp: row.try_get::<Option<i64>, _>(5)?.unwrap_or(0),
                step: row.try_get(6)?,
            }),
            kind => {
                let kv = KeyValue {
                    key,
                    value: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                };
                if kind == 1 {
                    DataRow::Param(kv)
                } else {
                    DataRow::Tag(kv)
                }
            }
        };
        data.push((slot, item));
    }
    Ok(data)
}

/// Loads data, inputs and outputs for runs, keeping their order; `reader` reads the data
/// rows.
///
/// The data, the dataset inputs and the logged-model links are read at once, on three
/// connections: each read is a round trip (on SQLite a hand-over to another thread), and the
/// two small ones, usually empty, then wait behind the large one instead of after it. They
/// were never one snapshot: each was a statement of its own before too.
pub(crate) async fn load_runs(
    pool: &AnyPool,
    reader: &crate::RowReader,
    infos: Vec<RunInfo>,
) -> Result<Vec<Run>> {
    let ids: Vec<String> = infos.iter().map(|i| i.run_id.clone()).collect();
    let index = slots(&ids);
    let mut runs: Vec<Run> = infos
        .into_iter()
        .map(|info| Run {
            info,
            data: RunData::default(),
            inputs: RunInputs::default(),
            outputs: Some(RunOutputs::default()),
        })
        .collect();
    if runs.is_empty() {
        return Ok(runs);
    }

    let data = async {
        match reader {
            crate::RowReader::Sqlite(reader) => {
                // Metrics on one connection, params and tags on another, at once: a search
                // of 20,000 runs returning 100 (5,000 rows of data) took 11.5 to 11.7 ms at the
                // median instead of 12.4 to 12.9, on 2 cores.
                let (metrics, rest) = RUN_DATA.split_at(1);
                let other_ids = ids.clone();
                let ids = ids.clone();
                let (mut data, rest) = tokio::try_join!(
                    reader.read(move |conn| sqlite_run_data(conn, &ids, metrics)),
                    reader.read(move |conn| sqlite_run_data(conn, &other_ids, rest)),
                )?;
                data.extend(rest);
                Ok(data)
            }
            crate::RowReader::Postgres(pool) => postgres_run_data(pool, &ids, &index)
                .await
                .map_err(db_error),
        }
    };
    // Dataset inputs, in the order they were linked.
    let inputs = rows_in_chunks(
        pool,
        "SELECT i.input_uuid, i.destination_id, d.name, d.digest, d.dataset_source_type, \
         d.dataset_source, d.dataset_schema, d.dataset_profile FROM inputs i \
         JOIN datasets d ON d.dataset_uuid = i.source_id \
         WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id IN (",
        " ORDER BY i.destination_id, d.name, d.digest",
        &ids,
    );
    // Logged-model links (MLflow 3) live in the same `inputs` table.
    let links = rows_in_chunks(
        pool,
        "SELECT source_id, source_type, destination_id, step FROM inputs \
         WHERE ((source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT') \
         OR (source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT')) AND source_id IN (",
        " ORDER BY step, destination_id",
        &ids,
    );
    let (data, inputs, links) = tokio::try_join!(data, inputs, links)?;

    for (slot, item) in data {
        let target = &mut runs[slot].data;
        match item {
            DataRow::Metric(m) => target.metrics.push(m),
            DataRow::Param(kv) => target.params.push(kv),
            DataRow::Tag(kv) => target.tags.push(kv),
        }
    }
    for run in &mut runs {
        if run.info.run_name.is_empty()
            && let Some(tag) = run.data.tags.iter().find(|t| t.key == RUN_NAME_TAG)
        {
            run.info.run_name = tag.value.clone();
        }
    }

    let mut input_slots: HashMap<String, (usize, usize)> = HashMap::new();
    for row in &inputs {
        let run: &str = row.try_get("destination_id").map_err(db_error)?;
        if let Some(&i) = index.get(run) {
            let input_uuid: String = row.try_get("input_uuid").map_err(db_error)?;
            let slot = runs[i].inputs.dataset_inputs.len();
            input_slots.insert(input_uuid, (i, slot));
            runs[i].inputs.dataset_inputs.push(DatasetInput {
                tags: Vec::new(),
                dataset: Dataset {
                    name: row.try_get("name").map_err(db_error)?,
                    digest: row.try_get("digest").map_err(db_error)?,
                    source_type: row.try_get("dataset_source_type").map_err(db_error)?,
                    source: row.try_get("dataset_source").map_err(db_error)?,
                    schema: row.try_get("dataset_schema").map_err(db_error)?,
                    profile: row.try_get("dataset_profile").map_err(db_error)?,
                },
            });
        }
    }
    if !input_slots.is_empty() {
        let input_ids: Vec<String> = input_slots.keys().cloned().collect();
        for_each_in_chunks(
            pool,
            "SELECT input_uuid, name, value FROM input_tags WHERE input_uuid IN (",
            " ORDER BY name",
            &input_ids,
            |row| {
                let input: String = row.try_get("input_uuid").map_err(db_error)?;
                if let Some(&(run, slot)) = input_slots.get(&input) {
                    runs[run].inputs.dataset_inputs[slot].tags.push(KeyValue {
                        key: row.try_get("name").map_err(db_error)?,
                        value: row.try_get("value").map_err(db_error)?,
                    });
                }
                Ok(())
            },
        )
        .await?;
    }

    for row in &links {
        let run: &str = row.try_get("source_id").map_err(db_error)?;
        if let Some(&i) = index.get(run) {
            let model_id: String = row.try_get("destination_id").map_err(db_error)?;
            let source_type: String = row.try_get("source_type").map_err(db_error)?;
            if source_type == "RUN_OUTPUT" {
                let step: i64 = row.try_get("step").map_err(db_error)?;
                let outputs = runs[i].outputs.get_or_insert_default();
                outputs.model_outputs.push(ModelOutput { model_id, step });
            } else {
                runs[i].inputs.model_inputs.push(ModelInput { model_id });
            }
        }
    }
    Ok(runs)
}
