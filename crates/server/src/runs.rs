//! Run endpoints (`/runs/*`): lifecycle, tags, params, metrics, batches, inputs, search.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Map, Value, json};
use trackway_core::entities::{Dataset, KeyValue, RunStatus};
use trackway_core::validation::SEARCH_MAX_RESULTS_THRESHOLD;
use trackway_core::{Error, ErrorCode};
use trackway_store::{DatasetInputSpec, MetricSpec, NewRun};

use crate::error::ApiResult;
use crate::experiments::{key_values, proto_enum, view_type};
use crate::request::{Fields, Plain, as_f64, as_i64, missing, type_error};
use crate::{AppState, reply};

/// `POST /runs/create`
pub async fn create(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let experiment_id = fields.string("experiment_id")?.unwrap_or_default();
    let start_time = fields.i64("start_time")?;
    let run_name = fields.string("run_name")?;
    let user_id = fields.string("user_id")?.unwrap_or_default();
    let tags = key_values(&fields, "tags")?;
    if experiment_id.is_empty() {
        // MLflow 3.17 stores such a run without an experiment and fails on the foreign key.
        return Err(Error::new(
            ErrorCode::BadRequest,
            "Missing value for required parameter 'experiment_id'.",
        )
        .into());
    }
    let run = state
        .store
        .create_run(NewRun {
            experiment_id: &experiment_id,
            user_id: &user_id,
            start_time,
            tags: &tags,
            run_name: run_name.as_deref(),
        })
        .await?;
    Ok(reply(json!({ "run": run })))
}

/// Reads a run status given by name or number.
fn status(fields: &Fields) -> trackway_core::Result<Option<RunStatus>> {
    proto_enum(fields, "status", RunStatus::from_proto)
}

/// `POST /runs/update`
pub async fn update(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let end_time = fields.i64("end_time")?;
    let status = status(&fields)?;
    let run_name = fields.string("run_name")?;
    let info = state
        .store
        .update_run(&run_id, status, end_time, run_name.as_deref())
        .await?;
    Ok(reply(json!({ "run_info": info })))
}

/// `GET /runs/get`
pub async fn get(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let run = state.store.get_run(&run_id).await?;
    Ok(reply(json!({ "run": run })))
}

/// `POST /runs/delete`
pub async fn delete(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    state.store.delete_run(&run_id).await?;
    Ok(reply(json!({})))
}

/// `POST /runs/restore`
pub async fn restore(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    state.store.restore_run(&run_id).await?;
    Ok(reply(json!({})))
}

/// `POST /runs/set-tag`
pub async fn set_tag(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let key = fields.required_string("key")?;
    let value = fields.string("value")?.unwrap_or_default();
    state.store.set_tag(&run_id, &key, &value).await?;
    Ok(reply(json!({})))
}

/// `POST /runs/delete-tag`
pub async fn delete_tag(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let key = fields.required_string("key")?;
    state.store.delete_tag(&run_id, &key).await?;
    Ok(reply(json!({})))
}

/// `POST /runs/log-parameter`
pub async fn log_param(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let key = fields.required_string("key")?;
    let value = fields.string("value")?.unwrap_or_default();
    state.store.log_param(&run_id, &key, &value).await?;
    Ok(reply(json!({})))
}

/// Checks a required scalar in MLflow's way: absent, null and `""` are all missing.
fn required(fields: &Fields, name: &str) -> trackway_core::Result<Value> {
    match fields.raw(name)? {
        None => Err(missing(name)),
        Some(Value::String(s)) if s.is_empty() => Err(missing(name)),
        Some(value) => Ok(value),
    }
}

/// `POST /runs/log-metric`
pub async fn log_metric(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let key = fields.required_string("key")?;
    let value = required(&fields, "value")?;
    let value = as_f64(&value).ok_or_else(|| type_error("value", &value))?;
    let timestamp = required(&fields, "timestamp")?;
    let timestamp = as_i64(&timestamp).ok_or_else(|| type_error("timestamp", &timestamp))?;
    let step = fields.i64("step")?.unwrap_or(0);
    let text = |name: &str| -> trackway_core::Result<Option<String>> {
        Ok(fields.string(name)?.filter(|s| !s.is_empty()))
    };
    let metric = MetricSpec {
        key,
        value,
        timestamp,
        step,
        model_id: text("model_id")?,
        dataset_name: text("dataset_name")?,
        dataset_digest: text("dataset_digest")?,
    };
    state.store.log_metric(&run_id, &metric).await?;
    Ok(reply(json!({})))
}

/// Reads one field of a batch entry, refusing absent, null and `""` as MLflow does.
fn entry_field<'a>(
    entry: &'a Map<String, Value>,
    path: &str,
    name: &str,
) -> trackway_core::Result<&'a Value> {
    match entry.get(name) {
        None | Some(Value::Null) => Err(missing(&format!("{path}.{name}"))),
        Some(Value::String(s)) if s.is_empty() => Err(missing(&format!("{path}.{name}"))),
        Some(value) => Ok(value),
    }
}

fn entry_string(
    entry: &Map<String, Value>,
    path: &str,
    name: &str,
) -> trackway_core::Result<String> {
    match entry.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error(&format!("{path}.{name}"), other)),
    }
}

/// A log-batch body as MLflow's clients send it, read without a JSON tree ([`Plain`]).
/// Unknown fields (`run_uuid`, camelCase names, a metric's `model_id` or dataset), nulls,
/// empty ids and keys, numbers given as strings or floats where an integer goes, and absent
/// values fail this parse, so that [`Fields`] answers them as MLflow does.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainBatch {
    run_id: Filled,
    #[serde(default)]
    metrics: Vec<PlainMetric>,
    #[serde(default)]
    params: Vec<PlainKeyValue>,
    #[serde(default)]
    tags: Vec<PlainKeyValue>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainMetric {
    key: Filled,
    value: f64,
    timestamp: i64,
    #[serde(default)]
    step: i64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainKeyValue {
    key: Filled,
    value: String,
}

/// A string that is not empty: `""` is MLflow's "missing value", which [`Fields`] words.
struct Filled(String);

impl<'de> serde::Deserialize<'de> for Filled {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom("empty"));
        }
        Ok(Filled(s))
    }
}

/// A batch ready for the store: run id, metrics, params, tags.
type BatchSpecs = (String, Vec<MetricSpec>, Vec<KeyValue>, Vec<KeyValue>);

impl PlainBatch {
    fn specs(self) -> BatchSpecs {
        let metrics = self
            .metrics
            .into_iter()
            .map(|m| MetricSpec::new(m.key.0, m.value, m.timestamp, m.step))
            .collect();
        let pairs = |list: Vec<PlainKeyValue>| {
            list.into_iter()
                .map(|p| KeyValue {
                    key: p.key.0,
                    value: p.value,
                })
                .collect()
        };
        (self.run_id.0, metrics, pairs(self.params), pairs(self.tags))
    }
}

/// `POST /runs/log-batch`
pub async fn log_batch(
    State(state): State<AppState>,
    body: Plain<PlainBatch>,
) -> ApiResult<Response> {
    let (run_id, metrics, params, tags) = match body {
        Plain::Parsed(batch) => batch.specs(),
        Plain::Fields(fields) => batch_from_fields(&fields)?,
    };
    state
        .store
        .log_batch(&run_id, &metrics, &params, &tags)
        .await?;
    Ok(reply(json!({})))
}

/// A log-batch from [`Fields`], with MLflow's error for each bad entry.
fn batch_from_fields(fields: &Fields) -> trackway_core::Result<BatchSpecs> {
    let run_id = fields.run_id()?;
    let raw_metrics = fields.objects("metrics")?;
    let mut metrics = Vec::with_capacity(raw_metrics.len());
    for (i, m) in raw_metrics.iter().enumerate() {
        let path = format!("metrics[{i}]");
        let key = entry_field(m, &path, "key")?;
        let value = entry_field(m, &path, "value")?;
        let timestamp = entry_field(m, &path, "timestamp")?;
        metrics.push(MetricSpec {
            key: key
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| type_error(&format!("{path}.key"), key))?,
            value: as_f64(value).ok_or_else(|| type_error(&format!("{path}.value"), value))?,
            timestamp: as_i64(timestamp)
                .ok_or_else(|| type_error(&format!("{path}.timestamp"), timestamp))?,
            step: match m.get("step") {
                None | Some(Value::Null) => 0,
                Some(step) => {
                    as_i64(step).ok_or_else(|| type_error(&format!("{path}.step"), step))?
                }
            },
            model_id: Some(entry_string(m, &path, "model_id")?).filter(|s| !s.is_empty()),
            dataset_name: Some(entry_string(m, &path, "dataset_name")?).filter(|s| !s.is_empty()),
            dataset_digest: Some(entry_string(m, &path, "dataset_digest")?)
                .filter(|s| !s.is_empty()),
        });
    }
    let entries = |name: &str| -> trackway_core::Result<Vec<KeyValue>> {
        fields
            .objects(name)?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let path = format!("{name}[{i}]");
                entry_field(p, &path, "key")?;
                Ok(KeyValue {
                    key: entry_string(p, &path, "key")?,
                    value: entry_string(p, &path, "value")?,
                })
            })
            .collect()
    };
    let params = entries("params")?;
    let tags = entries("tags")?;
    Ok((run_id, metrics, params, tags))
}

/// `POST /runs/log-inputs`
pub async fn log_inputs(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let mut datasets = Vec::new();
    for (i, input) in fields.objects("datasets")?.iter().enumerate() {
        let path = format!("datasets[{i}]");
        let dataset = match input.get("dataset") {
            Some(Value::Object(d)) => d.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(other) => return Err(type_error(&format!("{path}.dataset"), other).into()),
        };
        let text = |name: &str| entry_string(&dataset, &format!("{path}.dataset"), name);
        let optional = |name: &str| -> trackway_core::Result<Option<String>> {
            Ok(Some(text(name)?).filter(|_| dataset.get(name).is_some_and(|v| !v.is_null())))
        };
        let tags = match input.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| match t {
                    Value::Object(t) => Ok(KeyValue {
                        key: entry_string(t, &path, "key")?,
                        value: entry_string(t, &path, "value")?,
                    }),
                    other => Err(type_error(&format!("{path}.tags"), other)),
                })
                .collect::<trackway_core::Result<_>>()?,
            Some(other) => return Err(type_error(&format!("{path}.tags"), other).into()),
        };
        datasets.push(DatasetInputSpec {
            dataset: Dataset {
                name: text("name")?,
                digest: text("digest")?,
                source_type: text("source_type")?,
                source: text("source")?,
                schema: optional("schema")?,
                profile: optional("profile")?,
            },
            tags,
        });
    }
    let models = fields
        .objects("models")?
        .iter()
        .map(|m| entry_string(m, "models", "model_id"))
        .collect::<trackway_core::Result<Vec<_>>>()?;
    state.store.log_inputs(&run_id, &datasets, &models).await?;
    Ok(reply(json!({})))
}

/// `POST /runs/outputs` (MLflow 3: models a run produced)
pub async fn log_outputs(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    if !fields.has("models")? {
        return Err(missing("models").into());
    }
    let models = fields
        .objects("models")?
        .iter()
        .map(|m| {
            let step = match m.get("step") {
                None | Some(Value::Null) => 0,
                Some(step) => as_i64(step).ok_or_else(|| type_error("models.step", step))?,
            };
            Ok((entry_string(m, "models", "model_id")?, step))
        })
        .collect::<trackway_core::Result<Vec<_>>>()?;
    state.store.log_outputs(&run_id, &models).await?;
    Ok(reply(json!({})))
}

/// `POST /runs/search`
pub async fn search(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let experiment_ids = fields.string_list("experiment_ids")?;
    let filter = fields.string("filter")?.unwrap_or_default();
    let max_results = fields.i64("max_results")?;
    if let Some(max) = max_results.filter(|m| *m > SEARCH_MAX_RESULTS_THRESHOLD) {
        return Err(type_error("max_results", &json!(max)).into());
    }
    let order_by = fields.string_list("order_by")?;
    let view = view_type(&fields, "run_view_type")?;
    let token = fields.string("page_token")?;
    let page = state
        .store
        .search_runs(
            &experiment_ids,
            &filter,
            view,
            max_results.unwrap_or(trackway_core::validation::SEARCH_MAX_RESULTS_DEFAULT),
            &order_by,
            token.as_deref(),
        )
        .await?;
    Ok(crate::reply_page("runs", &page.items, page.next_page_token))
}

#[cfg(test)]
mod tests {
    use super::PlainBatch;

    /// The plain parse takes a client's ordinary batch and leaves every other shape to
    /// `Fields`, whose answers are MLflow's.
    #[test]
    fn plain_batches_and_what_falls_back() {
        let plain = |body: &str| serde_json::from_str::<PlainBatch>(body).is_ok();
        assert!(plain(
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": 2, "step": 3},
                {"key": "n", "value": 0.5, "timestamp": 2}],
                "params": [{"key": "p", "value": ""}], "tags": [{"key": "t", "value": "v"}]}"#
        ));
        assert!(plain(r#"{"run_id": "r"}"#));
        for other in [
            r#"{"run_id": ""}"#,
            r#"{"run_uuid": "r"}"#,
            r#"{"runId": "r"}"#,
            r#"{"run_id": "r", "metrics": null}"#,
            r#"{"run_id": "r", "metrics": [{"key": "", "value": 1, "timestamp": 2}]}"#,
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": "NaN", "timestamp": 2}]}"#,
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": "2"}]}"#,
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": 2.0}]}"#,
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": 2, "step": null}]}"#,
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": 2, "model_id": "x"}]}"#,
            r#"{"run_id": "r", "metrics": [{"key": "m", "value": 1}]}"#,
            r#"{"run_id": "r", "params": [{"key": "p"}]}"#,
            r#"{"run_id": "r", "params": [{"key": "p", "value": 1}]}"#,
            r#"{"run_id": "r", "tags": [{"key": "", "value": "v"}]}"#,
            r#""{\"run_id\": \"r\"}""#,
        ] {
            assert!(!plain(other), "{other}");
        }
    }
}
