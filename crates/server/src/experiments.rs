//! Experiment endpoints (`/experiments/*`).

use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use trackway_core::entities::{KeyValue, ViewType};
use trackway_core::validation::validate_artifact_location;
use trackway_core::{Error, ErrorCode};

use crate::error::ApiResult;
use crate::request::Fields;
use crate::{AppState, reply};

/// Reads `[{key, value}]` pairs; a missing key or value is `""`, as proto parsing leaves it.
pub(crate) fn key_values(fields: &Fields, name: &str) -> trackway_core::Result<Vec<KeyValue>> {
    fields
        .objects(name)?
        .into_iter()
        .map(|item| {
            let text = |field: &str| match item.get(field) {
                None | Some(serde_json::Value::Null) => Ok(String::new()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(crate::request::type_error(name, other)),
            };
            Ok(KeyValue {
                key: text("key")?,
                value: text("value")?,
            })
        })
        .collect()
}

/// Reads a proto enum field given by name or number, as MLflow's JSON parsing does: an unknown
/// *name* is ignored as if absent, an unknown *number* is refused.
pub(crate) fn proto_enum<T>(
    fields: &Fields,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> trackway_core::Result<Option<T>> {
    match fields.raw(name)? {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(parse(&s)),
        Some(value @ serde_json::Value::Number(_)) => parse(&value.to_string())
            .map(Some)
            .ok_or_else(|| crate::request::type_error(name, &value)),
        Some(other) => Err(crate::request::type_error(name, &other)),
    }
}

/// Parses a view type; absent or unknown is ACTIVE_ONLY.
pub(crate) fn view_type(fields: &Fields, name: &str) -> trackway_core::Result<ViewType> {
    Ok(proto_enum(fields, name, ViewType::from_proto)?.unwrap_or_default())
}

/// Resolves an experiment's artifact location as MLflow does: a relative local path becomes
/// absolute against the server's working directory; URIs are checked and kept.
fn resolve_artifact_location(location: &str) -> trackway_core::Result<String> {
    if location.contains('#') {
        return Err(Error::invalid(
            "'artifact_location' URL can't include fragments or params.",
        ));
    }
    if let Some((_, query)) = location.split_once('?')
        && query.contains("..")
    {
        return Err(Error::invalid("Invalid query string"));
    }
    validate_artifact_location(location)?;
    let has_scheme = location.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_scheme || location.starts_with('/') {
        return Ok(location.to_string());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::internal(format!("cannot resolve the working directory: {e}")))?;
    Ok(cwd.join(location).to_string_lossy().into_owned())
}

/// `POST /experiments/create`
pub async fn create(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let location = fields
        .string("artifact_location")?
        .filter(|l| !l.is_empty());
    let tags = key_values(&fields, "tags")?;
    let location = location
        .map(|l| resolve_artifact_location(&l))
        .transpose()?;
    let id = state
        .store
        .create_experiment(&name, location.as_deref(), &tags)
        .await?;
    Ok(reply(json!({ "experiment_id": id })))
}

/// `GET /experiments/get`
pub async fn get(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let id = fields.required_string("experiment_id")?;
    let experiment = state.store.get_experiment(&id).await?;
    Ok(reply(json!({ "experiment": experiment })))
}

/// `GET /experiments/get-by-name`
pub async fn get_by_name(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let name = fields.required_string("experiment_name")?;
    match state.store.get_experiment_by_name(&name).await? {
        Some(experiment) => Ok(reply(json!({ "experiment": experiment }))),
        None => {
            Err(Error::not_found(format!("Could not find experiment with name '{name}'")).into())
        }
    }
}

/// `POST|GET /experiments/search`
pub async fn search(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let view = view_type(&fields, "view_type")?;
    // Unset, proto's default of 0 applies, which the store refuses as MLflow does.
    let max_results = fields.i64("max_results")?.unwrap_or(0);
    let order_by = fields.string_list("order_by")?;
    let filter = fields.string("filter")?.unwrap_or_default();
    let token = fields.string("page_token")?;
    let page = state
        .store
        .search_experiments(view, max_results, &filter, &order_by, token.as_deref())
        .await?;
    let mut body = json!({});
    if !page.items.is_empty() {
        body["experiments"] = json!(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    Ok(reply(body))
}

/// `POST /experiments/delete`
pub async fn delete(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let id = fields.required_string("experiment_id")?;
    state.store.delete_experiment(&id).await?;
    Ok(reply(json!({})))
}

/// `POST /experiments/restore`
pub async fn restore(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let id = fields.required_string("experiment_id")?;
    state.store.restore_experiment(&id).await?;
    Ok(reply(json!({})))
}

/// `POST /experiments/update` (rename)
pub async fn update(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let id = fields.required_string("experiment_id")?;
    let new_name = fields.required_string("new_name")?;
    state
        .store
        .rename_experiment(&id, &new_name)
        .await
        .map_err(|e| {
            // MLflow reports a name clash on rename as the database's integrity error: BAD_REQUEST.
            if e.code == ErrorCode::ResourceAlreadyExists {
                Error::new(ErrorCode::BadRequest, e.message)
            } else {
                e
            }
        })?;
    Ok(reply(json!({})))
}

/// `POST /experiments/set-experiment-tag`
pub async fn set_tag(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let id = fields.required_string("experiment_id")?;
    let key = fields.required_string("key")?;
    let value = fields.string("value")?.unwrap_or_default();
    state.store.set_experiment_tag(&id, &key, &value).await?;
    Ok(reply(json!({})))
}

/// `POST /experiments/delete-experiment-tag`
pub async fn delete_tag(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let id = fields.required_string("experiment_id")?;
    let key = fields.required_string("key")?;
    state.store.delete_experiment_tag(&id, &key).await?;
    Ok(reply(json!({})))
}

/// `POST /ajax-api/2.0/mlflow/experiments/search-datasets` (UI only)
pub async fn search_datasets(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let ids = fields.string_list("experiment_ids")?;
    if ids.is_empty() {
        return Err(Error::invalid(
            "SearchDatasets request must specify at least one experiment_id.",
        )
        .into());
    }
    if ids.len() > 20 {
        return Err(Error::invalid(format!(
            "SearchDatasets request cannot specify more than 20 experiment_ids. Received {} \
             experiment_ids.",
            ids.len()
        ))
        .into());
    }
    let summaries = state.store.search_datasets(&ids).await?;
    let mut body = json!({});
    if !summaries.is_empty() {
        body["dataset_summaries"] = json!(summaries);
    }
    Ok(reply(body))
}
