//! The model registry's RPCs (`/registered-models/*`, `/model-versions/*`), the UI's
//! `/model-versions/get-artifact`, and Trackway's own `/trackway/models/resolve`.
//!
//! The handlers are thin except for one piece of policy: a new version's `source` is checked
//! as MLflow's server checks it (MLflow's CVE-2023-6977 family), so a version can only point at
//! files of the run or logged model it names, or at storage the server never reads for
//! clients (`s3://...`).

use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use trackway_core::entities::{KeyValue, Stage};
use trackway_core::paths::{decode_fully, safe_relative_path};
use trackway_core::validation::{
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
};
use trackway_core::{Error, ErrorCode, Result};
use trackway_store::{IS_PROMPT_TAG, NewModelVersion, Store};

use crate::artifacts::{DirectoryAnswer, stream_file};
use crate::error::ApiResult;
use crate::experiments::key_values;
use crate::request::{Fields, type_error};
use crate::{AppState, reply, reply_page};

/// The only sources a prompt version may have (MLflow's placeholders).
const PROMPT_SOURCES: [&str; 2] = ["dummy-source", "prompt-template"];

/// `max_results` with its schema limit, refused with MLflow's schema message.
fn max_results(fields: &Fields, limit: i64, default: i64) -> Result<i64> {
    match fields.raw("max_results")? {
        None => Ok(default),
        Some(value) => match crate::request::as_i64(&value) {
            Some(n) if n <= limit => Ok(n),
            _ => Err(type_error("max_results", &value)),
        },
    }
}

fn version_field(fields: &Fields) -> Result<String> {
    fields.required_string("version")
}

// ---------------------------------------------------------------------------------------------
// Registered models

/// `POST /registered-models/create`
pub async fn create_registered_model(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let tags = key_values(&fields, "tags")?;
    let description = fields.string("description")?.unwrap_or_default();
    let model = state
        .store
        .create_registered_model(&name, &tags, &description)
        .await?;
    Ok(reply(json!({ "registered_model": model })))
}

/// `GET /registered-models/get`
pub async fn get_registered_model(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let model = state.store.get_registered_model(&name).await?;
    Ok(reply(json!({ "registered_model": model })))
}

/// `PATCH /registered-models/update`
pub async fn update_registered_model(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let description = fields.string("description")?.unwrap_or_default();
    let model = state
        .store
        .update_registered_model(&name, &description)
        .await?;
    Ok(reply(json!({ "registered_model": model })))
}

/// `POST /registered-models/rename`
pub async fn rename_registered_model(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let new_name = fields.required_string("new_name")?;
    let model = state
        .store
        .rename_registered_model(&name, &new_name)
        .await?;
    Ok(reply(json!({ "registered_model": model })))
}

/// `DELETE /registered-models/delete`
pub async fn delete_registered_model(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    state.store.delete_registered_model(&name).await?;
    Ok(reply(json!({})))
}

/// `GET /registered-models/search`
pub async fn search_registered_models(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let filter = fields.string("filter")?;
    let max_results = max_results(
        &fields,
        SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
        SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    )?;
    let order_by = fields.string_list("order_by")?;
    let page_token = fields.string("page_token")?;
    let page = state
        .store
        .search_registered_models(
            filter.as_deref(),
            max_results,
            &order_by,
            page_token.as_deref().filter(|t| !t.is_empty()),
        )
        .await?;
    Ok(reply_page(
        "registered_models",
        &page.items,
        page.next_page_token,
    ))
}

/// `POST|GET /registered-models/get-latest-versions`
pub async fn get_latest_versions(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let stages = fields.string_list("stages")?;
    let versions = state.store.get_latest_versions(&name, &stages).await?;
    Ok(reply_page("model_versions", &versions, None))
}

/// `POST /registered-models/set-tag`
pub async fn set_registered_model_tag(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let key = fields.required_string("key")?;
    let value = fields.string("value")?.unwrap_or_default();
    state
        .store
        .set_registered_model_tag(&name, &KeyValue { key, value })
        .await?;
    Ok(reply(json!({})))
}

/// `DELETE /registered-models/delete-tag`
pub async fn delete_registered_model_tag(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let key = fields.required_string("key")?;
    state.store.delete_registered_model_tag(&name, &key).await?;
    Ok(reply(json!({})))
}

// ---------------------------------------------------------------------------------------------
// Aliases

/// `POST /registered-models/alias`
pub async fn set_alias(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let alias = fields.required_string("alias")?;
    let version = version_field(&fields)?;
    state
        .store
        .set_registered_model_alias(&name, &alias, &version)
        .await?;
    Ok(reply(json!({})))
}

/// `DELETE /registered-models/alias`
pub async fn delete_alias(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let alias = fields.required_string("alias")?;
    state
        .store
        .delete_registered_model_alias(&name, &alias)
        .await?;
    Ok(reply(json!({})))
}

/// `GET /registered-models/alias`
pub async fn get_by_alias(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let alias = fields.required_string("alias")?;
    let version = state
        .store
        .get_model_version_by_alias(&name, &alias)
        .await?;
    Ok(reply(json!({ "model_version": version })))
}

// ---------------------------------------------------------------------------------------------
// Model versions

/// `POST /model-versions/create`
pub async fn create_model_version(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let source = fields.required_string("source")?;
    let has_run_id = fields.has("run_id")?;
    let has_model_id = fields.has("model_id")?;
    let run_id = fields.string("run_id")?.unwrap_or_default();
    let model_id = fields.string("model_id")?.unwrap_or_default();
    let tags = key_values(&fields, "tags")?;
    let run_link = fields.string("run_link")?.unwrap_or_default();
    let description = fields.string("description")?.unwrap_or_default();

    let is_prompt = tags
        .iter()
        .rev()
        .find(|t| t.key == IS_PROMPT_TAG)
        .is_some_and(|t| t.value.eq_ignore_ascii_case("true"));
    if is_prompt && !PROMPT_SOURCES.contains(&source.as_str()) {
        return Err(Error::invalid(format!(
            "Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder."
        ))
        .into());
    }
    reject_host_addressed(&source, "source")?;
    let (source, run_id, model_id) = if is_prompt {
        (source, Some(run_id), Some(model_id))
    } else {
        let (source, run_id, model_id) = resolve_lineage(
            &state.store,
            source,
            run_id,
            model_id,
            has_run_id,
            has_model_id,
        )
        .await?;
        match model_id.as_deref().filter(|m| !m.is_empty()) {
            Some(model_id) => validate_source_model(&state.store, &source, model_id).await?,
            None => {
                validate_source_run(&state.store, &source, run_id.as_deref().unwrap_or_default())
                    .await?
            }
        }
        (source, run_id, model_id)
    };
    let model_id = model_id.filter(|m| !m.is_empty());
    let mut run_id = run_id;
    let mut storage_location = None;
    if !is_prompt && let Some(reference) = source.strip_prefix("models:") {
        match parse_model_reference(reference) {
            Some(ModelReference::LoggedModel(id)) => {
                let model = state
                    .store
                    .get_logged_model(&id, false)
                    .await
                    .map_err(|e| {
                        Error::internal(format!(
                            "Unable to fetch model from model URI source artifact location \
                         '{source}'.Error: {}",
                            e.message
                        ))
                    })?;
                storage_location = Some(model.info.artifact_uri.clone());
                if run_id.as_deref().is_none_or(str::is_empty) {
                    run_id = model.info.source_run_id.clone();
                }
            }
            Some(ModelReference::Version { name, version }) => {
                storage_location = Some(
                    state
                        .store
                        .get_model_version_download_uri(&name, &version)
                        .await?,
                );
            }
            _ => {}
        }
    }
    if run_id.as_deref().is_none_or(str::is_empty)
        && let Some(model_id) = &model_id
    {
        run_id = state
            .store
            .get_logged_model(model_id, false)
            .await?
            .info
            .source_run_id;
    }
    let version = state
        .store
        .create_model_version(NewModelVersion {
            name: &name,
            source: &source,
            storage_location: storage_location.as_deref(),
            run_id: run_id.as_deref(),
            tags: &tags,
            run_link: &run_link,
            description: &description,
            model_id: if is_prompt { None } else { model_id.as_deref() },
        })
        .await?;
    Ok(reply(json!({ "model_version": version })))
}

/// `GET /model-versions/get`
pub async fn get_model_version(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let version = version_field(&fields)?;
    let found = state.store.get_model_version(&name, &version).await?;
    Ok(reply(json!({ "model_version": found })))
}

/// `PATCH /model-versions/update`: a request without `description` clears it.
pub async fn update_model_version(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let version = version_field(&fields)?;
    let description = fields.string("description")?;
    let updated = state
        .store
        .update_model_version(&name, &version, description.as_deref())
        .await?;
    Ok(reply(json!({ "model_version": updated })))
}

/// `POST /model-versions/transition-stage`
pub async fn transition_stage(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let version = version_field(&fields)?;
    let stage = fields.required_string("stage")?;
    let archive = fields.bool("archive_existing_versions")?.unwrap_or(false);
    let moved = state
        .store
        .transition_model_version_stage(&name, &version, &stage, archive)
        .await?;
    Ok(reply(json!({ "model_version": moved })))
}

/// `DELETE /model-versions/delete`
pub async fn delete_model_version(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let version = version_field(&fields)?;
    state.store.delete_model_version(&name, &version).await?;
    Ok(reply(json!({})))
}

/// `GET /model-versions/get-download-uri` (no schema: a missing version is "not an integer").
pub async fn get_download_uri(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.string("name")?.unwrap_or_default();
    let version = fields.string("version")?.unwrap_or_default();
    let uri = state
        .store
        .get_model_version_download_uri(&name, &version)
        .await?;
    Ok(reply(json!({ "artifact_uri": uri })))
}

/// `GET /model-versions/search`
pub async fn search_model_versions(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let filter = fields.string("filter")?;
    let max_results = max_results(
        &fields,
        SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
        SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    )?;
    let order_by = fields.string_list("order_by")?;
    let page_token = fields.string("page_token")?;
    let page = state
        .store
        .search_model_versions(
            filter.as_deref(),
            max_results,
            &order_by,
            page_token.as_deref().filter(|t| !t.is_empty()),
        )
        .await?;
    Ok(reply_page(
        "model_versions",
        &page.items,
        page.next_page_token,
    ))
}

/// `POST /model-versions/set-tag`
pub async fn set_model_version_tag(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let version = version_field(&fields)?;
    let key = fields.required_string("key")?;
    let value = fields.string("value")?.unwrap_or_default();
    state
        .store
        .set_model_version_tag(&name, &version, &KeyValue { key, value })
        .await?;
    Ok(reply(json!({})))
}

/// `DELETE /model-versions/delete-tag`
pub async fn delete_model_version_tag(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let name = fields.required_string("name")?;
    let version = version_field(&fields)?;
    let key = fields.required_string("key")?;
    state
        .store
        .delete_model_version_tag(&name, &version, &key)
        .await?;
    Ok(reply(json!({})))
}

/// The storage URI of a version's files: `runs:/` sources are resolved through the run's
/// artifact root (MLflow's server cannot do this and answers 500).
async fn version_files_uri(store: &Store, name: &str, version: &str) -> Result<String> {
    let uri = store.get_model_version_download_uri(name, version).await?;
    match uri.strip_prefix("runs:") {
        Some(rest) => {
            let rest = rest.trim_start_matches('/');
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            let root = store.get_run(run_id).await?.info.artifact_uri;
            Ok(if path.is_empty() {
                root
            } else {
                format!("{}/{}", root.trim_end_matches('/'), path)
            })
        }
        None => Ok(uri),
    }
}

/// `GET /model-versions/get-artifact?name=&version=&path=` (the UI's file view).
pub async fn get_artifact(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let name = fields.string("name")?.unwrap_or_default();
    let version = fields.string("version")?.unwrap_or_default();
    let path = safe_relative_path(&fields.required_string("path")?)?;
    let uri = version_files_uri(&state.store, &name, &version).await?;
    if !uri.contains(':') && !uri.starts_with('/') {
        // A placeholder such as a prompt's `dummy-source` names no storage at all.
        return Err(Error::not_found(format!("No such artifact: '{path}'")).into());
    }
    let (repo, file) = state.artifacts.resolve(&uri, &path)?;
    stream_file(repo, &file, DirectoryAnswer::Error).await
}

/// `GET /api/2.0/trackway/models/resolve?uri=models:/NAME@ALIAS` (also `/VERSION`, `/STAGE`,
/// `/latest`): the version a model URI names and the physical location of its files, for
/// deployment systems that need a storage URI (KServe's `storageUri`).
pub async fn resolve(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let uri = fields.required_string("uri")?;
    let invalid = || {
        Error::invalid(format!(
            "Invalid model URI '{uri}': expected models:/NAME/VERSION, models:/NAME/STAGE, \
             models:/NAME/latest or models:/NAME@ALIAS"
        ))
    };
    let reference = uri.strip_prefix("models:").ok_or_else(invalid)?;
    let version = match parse_model_reference(reference).ok_or_else(invalid)? {
        ModelReference::LoggedModel(_) => return Err(invalid().into()),
        ModelReference::Alias { name, alias } => {
            state
                .store
                .get_model_version_by_alias(&name, &alias)
                .await?
        }
        ModelReference::Version { name, version } => {
            state.store.get_model_version(&name, &version).await?
        }
        ModelReference::Stage { name, stage } => state
            .store
            .highest_latest_version(&name, stage.as_deref())
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "No versions of model '{name}' are in stage '{}'",
                    stage.as_deref().unwrap_or("any")
                ))
            })?,
    };
    let files = version_files_uri(&state.store, &version.name, &version.version).await?;
    let location = state.artifacts.physical_location(&files)?;
    Ok(reply(json!({
        "name": version.name,
        "version": version.version,
        "run_id": version.run_id.unwrap_or_default(),
        "source": version.source.unwrap_or_default(),
        "artifact_uri": files,
        "location": location,
    })))
}

// ---------------------------------------------------------------------------------------------
// Source checks (MLflow's `_validate_source_run`, `_validate_source_model` and
// `_resolve_registered_model_source_lineage`)

/// What a `models:` URI names.
enum ModelReference {
    /// `models:/m-<id>`.
    LoggedModel(String),
    /// `models:/NAME/3`.
    Version { name: String, version: String },
    /// `models:/NAME/Production`, or `models:/NAME/latest` (stage `None`).
    Stage { name: String, stage: Option<String> },
    /// `models:/NAME@ALIAS`.
    Alias { name: String, alias: String },
}

/// Parses the part after `models:` as MLflow's `_parse_model_uri` does; `None` when invalid.
fn parse_model_reference(reference: &str) -> Option<ModelReference> {
    if reference.starts_with("//") {
        return None;
    }
    let path = reference.trim_start_matches('/').trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [single] if single.starts_with("m-") && !single.contains('@') => {
            Some(ModelReference::LoggedModel(single.to_string()))
        }
        [single] => {
            let (name, alias) = single.split_once('@')?;
            (!name.is_empty() && !alias.is_empty()).then(|| ModelReference::Alias {
                name: name.to_string(),
                alias: alias.to_string(),
            })
        }
        [name, suffix] if !name.is_empty() && !suffix.is_empty() => {
            if suffix.chars().all(|c| c.is_ascii_digit()) {
                Some(ModelReference::Version {
                    name: name.to_string(),
                    version: suffix.to_string(),
                })
            } else if suffix.eq_ignore_ascii_case("latest") {
                Some(ModelReference::Stage {
                    name: name.to_string(),
                    stage: None,
                })
            } else {
                Stage::parse(suffix)
                    .ok()
                    .map(|stage| ModelReference::Stage {
                        name: name.to_string(),
                        stage: Some(stage.as_str().to_string()),
                    })
            }
        }
        _ => None,
    }
}

fn invalid_source(source: &str, id_name: &str) -> Error {
    Error::invalid(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify \
         the resource that contains the source."
    ))
}

/// Refuses URIs that would make the server connect to a host a client chose (MLflow's host
/// policy, with `MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES` as its escape hatch).
fn reject_host_addressed(uri: &str, field: &str) -> Result<()> {
    const SCHEMES: [&str; 10] = [
        "ftp",
        "sftp",
        "hdfs",
        "viewfs",
        "http",
        "https",
        "mlflow-artifacts",
        "r2",
        "b2",
        "abfss",
    ];
    let scheme = scheme_of(uri).to_ascii_lowercase();
    if !SCHEMES.contains(&scheme.as_str()) {
        return Ok(());
    }
    if scheme == "mlflow-artifacts" && authority_and_path(uri).0.is_empty() {
        return Ok(());
    }
    let allowed =
        std::env::var("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES").unwrap_or_default();
    if allowed
        .split(',')
        .any(|s| s.trim().eq_ignore_ascii_case(&scheme))
    {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "'{field}' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host other \
         than the tracking server's configured artifact storage, so the server would connect to \
         the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES \
         environment variable on the server to allow it."
    )))
}

/// The scheme of a URI as Python's `urlparse` reads it (`""` for a plain path).
fn scheme_of(uri: &str) -> &str {
    match uri.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            scheme
        }
        _ => "",
    }
}

/// `(authority, path)` of a URI after its scheme.
fn authority_and_path(uri: &str) -> (&str, &str) {
    let scheme = scheme_of(uri);
    let rest = if scheme.is_empty() {
        uri
    } else {
        &uri[scheme.len() + 1..]
    };
    match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        },
        None => ("", rest),
    }
}

/// Whether MLflow treats a URI as a path on the server's disk.
fn is_local(uri: &str) -> bool {
    match scheme_of(uri) {
        "" => true,
        "file" => {
            let (host, _) = authority_and_path(uri);
            host.is_empty()
                || host == "."
                || host.starts_with("localhost")
                || host.starts_with("127.0.0.1")
        }
        _ => false,
    }
}

/// A local source as an absolute, normalised path (symlinks resolved when it exists).
fn local_path(uri: &str) -> std::path::PathBuf {
    let path = if scheme_of(uri) == "file" {
        authority_and_path(uri).1.to_string()
    } else {
        uri.to_string()
    };
    let path = std::path::Path::new(&path);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    std::fs::canonicalize(&absolute).unwrap_or_else(|_| {
        let mut out = std::path::PathBuf::new();
        for component in absolute.components() {
            match component {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    })
}

/// Refuses sources whose path climbs (`..`, encoded or not), holds NUL, or is not absolute.
fn check_no_relative_paths(source: &str) -> Result<()> {
    let error = || {
        Error::invalid(format!(
            "Invalid model version source: '{source}'. If supplying a source as an http, https, \
             local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must \
             be provided without relative path references present. Please provide an absolute \
             path."
        ))
    };
    let decoded = decode_fully(source);
    let (_, path) = authority_and_path(&decoded);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut collapsed = String::new();
    for c in path.trim_end_matches('/').chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    if collapsed.contains('\0') || decoded.split('/').any(|p| p == "..") {
        return Err(error());
    }
    if !collapsed.starts_with('/') || collapsed.split('/').any(|p| p == "." || p == "..") {
        return Err(error());
    }
    Ok(())
}

/// Path segments of a URI, each fully decoded, with scheme and authority lower-cased.
fn uri_parts(uri: &str) -> (String, String, Vec<String>) {
    let (authority, path) = authority_and_path(uri);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    (
        scheme_of(uri).to_ascii_lowercase(),
        authority.to_ascii_lowercase(),
        path.split('/')
            .filter(|p| !p.is_empty())
            .map(decode_fully)
            .collect(),
    )
}

fn within_root(source: &str, root: &str) -> bool {
    let (s_scheme, s_auth, s_parts) = uri_parts(source);
    let (r_scheme, r_auth, r_parts) = uri_parts(root);
    s_scheme == r_scheme
        && s_auth == r_auth
        && !r_parts.is_empty()
        && s_parts.len() >= r_parts.len()
        && s_parts[..r_parts.len()] == r_parts[..]
}

fn is_artifact_service_source(source: &str) -> bool {
    let (scheme, _, parts) = uri_parts(source);
    if scheme == "mlflow-artifacts" {
        return true;
    }
    (scheme == "http" || scheme == "https")
        && parts
            .windows(4)
            .any(|w| w == ["api", "2.0", "mlflow-artifacts", "artifacts"])
}

async fn source_run_root(store: &Store, run_id: &str, source: &str) -> Result<String> {
    match store.get_run(run_id).await {
        Ok(run) => Ok(run.info.artifact_uri),
        Err(e) if e.code == ErrorCode::ResourceDoesNotExist => {
            Err(invalid_source(source, "run_id"))
        }
        Err(e) => Err(e),
    }
}

async fn source_model_root(store: &Store, model_id: &str, source: &str) -> Result<String> {
    match store.get_logged_model(model_id, false).await {
        Ok(model) => Ok(model.info.artifact_uri),
        Err(e) if e.code == ErrorCode::ResourceDoesNotExist => {
            Err(invalid_source(source, "model_id"))
        }
        Err(e) => Err(e),
    }
}

fn local_source_error(shown: &str, id_name: &str, owner: &str) -> Error {
    Error::invalid(format!(
        "Invalid model version source: '{shown}'. To use a local path as a model version source, \
         the {id_name} request parameter has to be specified and the local path has to be \
         contained within the artifact directory of the {owner} specified by the {id_name}."
    ))
}

/// Whether a local source lies inside a local artifact root.
fn local_within(source: &str, root: &str) -> (bool, String) {
    let source_path = local_path(source);
    let shown = source_path.display().to_string();
    if !is_local(root) {
        return (false, shown);
    }
    (source_path.starts_with(local_path(root)), shown)
}

/// A source registered with only a run id must lie in that run's artifacts.
async fn validate_source_run(store: &Store, source: &str, run_id: &str) -> Result<()> {
    if is_local(source) {
        let mut shown = source.to_string();
        if !run_id.is_empty() {
            let root = source_run_root(store, run_id, source).await?;
            let (inside, resolved) = local_within(source, &root);
            if inside {
                return Ok(());
            }
            shown = resolved;
        }
        return Err(local_source_error(&shown, "run_id", "run"));
    }
    check_no_relative_paths(source)?;
    let scheme = scheme_of(source);
    if scheme == "runs" {
        let (authority, path) = authority_and_path(source);
        if !authority.is_empty() {
            return Err(invalid_source(source, "run_id"));
        }
        let source_run = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        if !run_id.is_empty() && source_run == run_id {
            return Ok(());
        }
        return Err(invalid_source(source, "run_id"));
    }
    if scheme == "models" {
        let (authority, path) = authority_and_path(source);
        if !authority.is_empty() {
            return Err(invalid_source(source, "model_id"));
        }
        match parse_model_reference(path) {
            None | Some(ModelReference::LoggedModel(_)) => {
                return Err(invalid_source(source, "model_id"));
            }
            Some(_) => {}
        }
    }
    if is_artifact_service_source(source) {
        if !run_id.is_empty() {
            let root = source_run_root(store, run_id, source).await?;
            if within_root(source, &root) {
                return Ok(());
            }
        }
        return Err(invalid_source(source, "run_id"));
    }
    Ok(())
}

/// A source registered with a logged model id must lie in that model's artifacts.
async fn validate_source_model(store: &Store, source: &str, model_id: &str) -> Result<()> {
    if is_local(source) {
        let root = source_model_root(store, model_id, source).await?;
        let (inside, resolved) = local_within(source, &root);
        if inside {
            return Ok(());
        }
        return Err(local_source_error(&resolved, "model_id", "run"));
    }
    check_no_relative_paths(source)?;
    let scheme = scheme_of(source);
    if scheme == "models" {
        let (authority, path) = authority_and_path(source);
        if !authority.is_empty() {
            return Err(invalid_source(source, "model_id"));
        }
        match parse_model_reference(path) {
            None => return Err(invalid_source(source, "model_id")),
            Some(ModelReference::LoggedModel(id)) if id == model_id => return Ok(()),
            Some(ModelReference::LoggedModel(_)) => return Err(invalid_source(source, "model_id")),
            Some(_) => {}
        }
    }
    if scheme == "runs" {
        return Err(invalid_source(source, "model_id"));
    }
    if is_artifact_service_source(source) {
        let root = source_model_root(store, model_id, source).await?;
        if within_root(source, &root) {
            return Ok(());
        }
        return Err(invalid_source(source, "model_id"));
    }
    Ok(())
}

/// A `models:/NAME/...` source names another version: it becomes `models:/NAME/<n>`, and the
/// run (and logged model) come from that version unless the request gave them, in which case
/// they must match.
async fn resolve_lineage(
    store: &Store,
    source: String,
    run_id: String,
    model_id: String,
    has_run_id: bool,
    has_model_id: bool,
) -> Result<(String, Option<String>, Option<String>)> {
    if scheme_of(&source) != "models" {
        return Ok((source, Some(run_id), Some(model_id)));
    }
    let (authority, path) = authority_and_path(&source);
    if !authority.is_empty() {
        return Err(Error::invalid(format!(
            "Invalid model version source: '{source}'. Registered model sources must use the \
             active model registry."
        )));
    }
    let reference =
        parse_model_reference(path).ok_or_else(|| invalid_source(&source, "model_id"))?;
    let name = match &reference {
        ModelReference::LoggedModel(_) => return Ok((source, Some(run_id), Some(model_id))),
        ModelReference::Version { name, .. }
        | ModelReference::Stage { name, .. }
        | ModelReference::Alias { name, .. } => name.clone(),
    };
    let model = store.get_registered_model(&name).await?;
    if model
        .tags
        .iter()
        .any(|t| t.key == IS_PROMPT_TAG && t.value.eq_ignore_ascii_case("true"))
    {
        return Err(Error::invalid(format!(
            "Invalid model version source: '{source}'. Prompt versions cannot be used as model \
             version sources."
        )));
    }
    let referenced = match reference {
        ModelReference::Version { name, version } => {
            store.get_model_version(&name, &version).await?
        }
        ModelReference::Alias { name, alias } => {
            store.get_model_version_by_alias(&name, &alias).await?
        }
        ModelReference::Stage { name, stage } => store
            .highest_latest_version(&name, stage.as_deref())
            .await?
            .ok_or_else(|| Error::not_found(format!("No versions of model '{name}' found")))?,
        ModelReference::LoggedModel(_) => return Ok((source, Some(run_id), Some(model_id))),
    };
    let referenced_run = referenced.run_id.clone().unwrap_or_default();
    // MLflow's registry does not keep a version's logged model id, so it is always empty here.
    if (has_run_id && run_id != referenced_run) || (has_model_id && !model_id.is_empty()) {
        return Err(Error::invalid(format!(
            "Invalid model version source: '{source}'. The run_id and model_id request \
             parameters must match the referenced model version."
        )));
    }
    Ok((
        format!("models:/{}/{}", referenced.name, referenced.version),
        Some(if has_run_id { run_id } else { referenced_run }),
        Some(model_id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_references() {
        assert!(matches!(
            parse_model_reference("/m-0123"),
            Some(ModelReference::LoggedModel(id)) if id == "m-0123"
        ));
        assert!(matches!(
            parse_model_reference("/reg/3"),
            Some(ModelReference::Version { name, version }) if name == "reg" && version == "3"
        ));
        assert!(matches!(
            parse_model_reference("/reg/production"),
            Some(ModelReference::Stage { stage: Some(s), .. }) if s == "Production"
        ));
        assert!(matches!(
            parse_model_reference("/reg/latest"),
            Some(ModelReference::Stage { stage: None, .. })
        ));
        assert!(matches!(
            parse_model_reference("/reg@champion"),
            Some(ModelReference::Alias { name, alias }) if name == "reg" && alias == "champion"
        ));
        for bad in ["/", "/reg/bogus", "//host/reg/1", "/a/b/c", "/reg@"] {
            assert!(parse_model_reference(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn relative_paths_in_sources_are_refused() {
        for bad in [
            "mlflow-artifacts:/1/r/artifacts/../../x",
            "mlflow-artifacts:/1/r/artifacts/%2e%2e/%2e%2e/x",
            "mlflow-artifacts:/1/r/artifacts/%252e%252e/x",
            "s3://bucket/a/./b",
            "s3://bucket",
            "runs:/abc/model%00",
        ] {
            assert!(check_no_relative_paths(bad).is_err(), "{bad}");
        }
        for good in [
            "mlflow-artifacts:/1/r/artifacts/model",
            "s3://bucket/key",
            "runs:/abc/model",
            "models:/m-1",
        ] {
            assert!(check_no_relative_paths(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn sources_within_roots() {
        assert!(within_root(
            "mlflow-artifacts:/1/r/artifacts/model",
            "mlflow-artifacts:/1/r/artifacts"
        ));
        assert!(!within_root(
            "mlflow-artifacts:/1/other/artifacts/model",
            "mlflow-artifacts:/1/r/artifacts"
        ));
        assert!(!within_root(
            "s3://b/1/r/artifacts/m",
            "mlflow-artifacts:/1/r/artifacts"
        ));
        assert!(is_local("/tmp/x") && is_local("file:///tmp/x") && is_local("model"));
        assert!(!is_local("s3://b/k") && !is_local("file://remote-host/x"));
    }
}
