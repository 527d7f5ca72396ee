//! MLflow 3's logged-model endpoints (`/logged-models/*`) and MLflow 2's `runs/log-model`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use trackway_core::entities::{KeyValue, LoggedModelStatus};
use trackway_core::paths::safe_relative_path;
use trackway_core::validation::MAX_TAG_VAL_LENGTH;
use trackway_core::{Error, Result};
use trackway_store::{DatasetFilter, LoggedModelOrder, NewLoggedModel};

use crate::artifacts::{DirectoryAnswer, artifact_error, file_listing, stream_file};
use crate::error::ApiResult;
use crate::experiments::key_values;
use crate::request::{Fields, missing, type_error};
use crate::{AppState, reply};

/// The run tag where MLflow 2 clients' `log_model` calls are recorded.
const LOG_MODEL_HISTORY_TAG: &str = "mlflow.log-model.history";

/// `POST /logged-models`
pub async fn create(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let experiment_id = fields.required_string("experiment_id")?;
    let name = fields.string("name")?.filter(|n| !n.is_empty());
    // Absent strings are stored as "", as MLflow's proto parsing leaves them.
    let model_type = fields.string("model_type")?.unwrap_or_default();
    let source_run_id = fields.string("source_run_id")?.unwrap_or_default();
    let params = key_values(&fields, "params")?;
    let tags = key_values(&fields, "tags")?;
    let model = state
        .store
        .create_logged_model(NewLoggedModel {
            experiment_id: &experiment_id,
            name: name.as_deref(),
            model_type: Some(&model_type),
            source_run_id: Some(&source_run_id),
            params: &params,
            tags: &tags,
        })
        .await?;
    Ok(reply(json!({ "model": model })))
}

/// `GET /logged-models/{model_id}`
pub async fn get(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    let allow_deleted = fields.bool("allow_deleted")?.unwrap_or(false);
    let model = state
        .store
        .get_logged_model(&model_id, allow_deleted)
        .await?;
    Ok(reply(json!({ "model": model })))
}

/// `PATCH /logged-models/{model_id}`: sets the final status. An unknown status name is
/// recorded as unspecified, as MLflow does.
pub async fn finalize(
    State(state): State<AppState>,
    Path(_in_path): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    // MLflow reads the id from the body, not from the URL.
    let model_id = fields.required_string("model_id")?;
    let status = match fields.raw("status")? {
        None => return Err(missing("status").into()),
        Some(Value::String(s)) => {
            LoggedModelStatus::from_proto(&s).unwrap_or(LoggedModelStatus::Unspecified)
        }
        Some(value @ Value::Number(_)) => LoggedModelStatus::from_proto(&value.to_string())
            .ok_or_else(|| type_error("status", &value))?,
        Some(other) => return Err(type_error("status", &other).into()),
    };
    let model = state.store.finalize_logged_model(&model_id, status).await?;
    Ok(reply(json!({ "model": model })))
}

/// `DELETE /logged-models/{model_id}` (soft delete)
pub async fn delete(
    State(state): State<AppState>,
    Path(path_id): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    let model_id = fields
        .string("model_id")?
        .filter(|m| !m.is_empty())
        .unwrap_or(path_id);
    state.store.delete_logged_model(&model_id).await?;
    Ok(reply(json!({})))
}

/// `PATCH /logged-models/{model_id}/tags`
pub async fn set_tags(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    let tags = key_values(&fields, "tags")?;
    state.store.set_logged_model_tags(&model_id, &tags).await?;
    Ok(reply(json!({})))
}

/// `DELETE /logged-models/{model_id}/tags/{tag_key}`
pub async fn delete_tag(
    State(state): State<AppState>,
    Path((model_id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    state.store.delete_logged_model_tag(&model_id, &key).await?;
    Ok(reply(json!({})))
}

/// `POST /logged-models/{model_id}/params`
pub async fn log_params(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    let params = key_values(&fields, "params")?;
    state
        .store
        .log_logged_model_params(&model_id, &params)
        .await?;
    Ok(reply(json!({})))
}

fn text(entry: &Map<String, Value>, name: &str) -> Option<String> {
    entry
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `POST /logged-models/search`
pub async fn search(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    if !fields.has("experiment_ids")? {
        return Err(missing("experiment_ids").into());
    }
    let experiment_ids = fields.string_list("experiment_ids")?;
    let filter = fields.string("filter")?.filter(|f| !f.is_empty());
    let max_results = fields.i64("max_results")?;
    let token = fields.string("page_token")?;
    let datasets = fields
        .objects("datasets")?
        .iter()
        .map(|d| {
            Ok(DatasetFilter {
                dataset_name: text(d, "dataset_name").ok_or_else(|| {
                    Error::invalid("`dataset_name` in the `datasets` clause must be specified.")
                })?,
                dataset_digest: text(d, "dataset_digest"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let raw_order = fields.objects("order_by")?;
    let order_by = raw_order
        .iter()
        .map(|o| {
            let field_name = text(o, "field_name").ok_or_else(|| {
                Error::invalid("`field_name` in the `order_by` clause must be specified.")
            })?;
            if let Some((entity, _)) = field_name.split_once('.')
                && entity != "metrics" {
                    return Err(Error::invalid(format!(
                        "Invalid order by field name: {entity}, only `metrics.<name>` is allowed."
                    )));
                }
            let ascending = match o.get("ascending") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "Value of `ascending` in the `order_by` clause must be a boolean, got {other}"
                    )));
                }
            };
            Ok(LoggedModelOrder {
                field_name,
                ascending,
                dataset_name: text(o, "dataset_name"),
                dataset_digest: text(o, "dataset_digest"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let page = state
        .store
        .search_logged_models(
            &experiment_ids,
            filter.as_deref(),
            &datasets,
            max_results,
            &order_by,
            &Value::Array(raw_order.into_iter().cloned().map(Value::Object).collect()),
            token.as_deref(),
        )
        .await?;
    Ok(crate::reply_page(
        "models",
        &page.items,
        page.next_page_token,
    ))
}

/// `GET /logged-models/{model_id}/artifacts/directories?artifact_directory_path=`
pub async fn list_artifacts(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    let model = state.store.get_logged_model(&model_id, false).await?;
    let dir = safe_relative_path(
        &fields
            .string("artifact_directory_path")?
            .unwrap_or_default(),
    )?;
    let (repo, full) = state.artifacts.resolve(&model.info.artifact_uri, &dir)?;
    let listing = repo
        .list(&full)
        .await
        .map_err(artifact_error)?
        .unwrap_or_default();
    let mut body = json!({ "root_uri": model.info.artifact_uri });
    if !listing.is_empty() {
        body["files"] = file_listing(&dir, listing);
    }
    Ok(reply(body))
}

/// `GET /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path=`
pub async fn get_artifact(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    fields: Fields,
) -> ApiResult<Response> {
    let model = state.store.get_logged_model(&model_id, false).await?;
    let path = fields.string("artifact_file_path")?.ok_or_else(|| {
        Error::new(
            trackway_core::ErrorCode::BadRequest,
            "Request must include the \"artifact_file_path\" query parameter.",
        )
    })?;
    let path = safe_relative_path(&path)?;
    let (repo, full) = state.artifacts.resolve(&model.info.artifact_uri, &path)?;
    stream_file(repo, &full, DirectoryAnswer::Error).await
}

/// Appends a model to the history JSON, dropping the oldest entries if the whole no longer
/// fits in a run tag (MLflow truncates the text instead, which corrupts the JSON).
fn append_history(existing: Option<&str>, entry: Value) -> String {
    let mut history: Vec<Value> = existing
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    history.push(entry);
    loop {
        let text = Value::Array(history.clone()).to_string();
        if text.chars().count() <= MAX_TAG_VAL_LENGTH || history.len() <= 1 {
            return text;
        }
        history.remove(0);
    }
}

/// `POST /runs/log-model` (MLflow 2 clients): records the model in the run's
/// `mlflow.log-model.history` tag.
pub async fn log_model(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let model_json = fields.required_string("model_json")?;
    let model: Map<String, Value> = serde_json::from_str(&model_json).map_err(|_| {
        Error::invalid(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON."
        ))
    })?;
    let mut missing_fields: Vec<&str> = ["artifact_path", "flavors", "utc_time_created", "run_id"]
        .into_iter()
        .filter(|f| !model.contains_key(*f))
        .collect();
    if !missing_fields.is_empty() {
        missing_fields.sort_unstable();
        let listed: Vec<String> = missing_fields.iter().map(|f| format!("'{f}'")).collect();
        return Err(Error::invalid(format!(
            "Model json is missing mandatory fields: {{{}}}",
            listed.join(", ")
        ))
        .into());
    }
    let mut entry = Map::new();
    for key in ["run_id", "artifact_path", "utc_time_created"] {
        entry.insert(key.into(), model[key].clone());
    }
    entry.insert(
        "model_uuid".into(),
        model
            .get("model_uuid")
            .cloned()
            .unwrap_or_else(|| json!(uuid::Uuid::new_v4().simple().to_string())),
    );
    let flavors: Map<String, Value> = model["flavors"]
        .as_object()
        .map(|flavors| {
            flavors
                .iter()
                .map(|(name, config)| {
                    let config = match config {
                        Value::Object(c) => Value::Object(
                            c.iter()
                                .filter(|(k, _)| *k != "config")
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        ),
                        other => other.clone(),
                    };
                    (name.clone(), config)
                })
                .collect()
        })
        .unwrap_or_default();
    entry.insert("flavors".into(), Value::Object(flavors));
    let run = state.store.get_run(&run_id).await?;
    let existing = run
        .data
        .tags
        .iter()
        .find(|t| t.key == LOG_MODEL_HISTORY_TAG)
        .map(|t| t.value.as_str());
    let history = append_history(existing, Value::Object(entry));
    state
        .store
        .log_batch(
            &run_id,
            &[],
            &[],
            &[KeyValue::new(LOG_MODEL_HISTORY_TAG, history)],
        )
        .await?;
    Ok(reply(json!({})))
}
