//! Artifact endpoints: the proxied `mlflow-artifacts` service, the tracking API's listing, and
//! the UI's download and upload routes. Bodies stream through in both directions.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use trackway_artifacts::{ArtifactError, ArtifactRepo, ByteStream, Download};
use trackway_core::paths::{join, safe_relative_path};
use trackway_core::{Error, ErrorCode};
use unicode_normalization::UnicodeNormalization;

use crate::error::{ApiError, ApiResult};
use crate::request::Fields;
use crate::{AppState, reply};

/// Largest body the UI's upload route takes, as in MLflow.
const MAX_UI_UPLOAD: usize = 10 * 1024 * 1024;

/// Maps storage failures to MLflow's errors.
pub(crate) fn artifact_error(e: ArtifactError) -> Error {
    match e {
        ArtifactError::NotFound(path) => Error::not_found(format!("No such artifact: '{path}'")),
        ArtifactError::OutsideRoot => trackway_core::paths::invalid_path(),
        ArtifactError::Unsupported(uri) => {
            Error::invalid(format!("Unsupported artifact location: {uri}"))
        }
        ArtifactError::Storage(message) => {
            Error::internal(format!("artifact storage error: {message}"))
        }
    }
}

/// A request body as a stream of chunks, never collected.
fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// `Content-Disposition: attachment; filename=...` as MLflow sends it: the name bare when it is
/// a plain token, quoted otherwise, with an ASCII fallback and `filename*` when it is not ASCII.
fn content_disposition(name: &str) -> HeaderValue {
    let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    // The ASCII fallback drops what NFKD cannot reduce to ASCII ("ünï cødé" is "uni cde").
    let ascii: String = name
        .nfkd()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    let mut value = if !ascii.is_empty() && ascii.chars().all(is_token) {
        format!("attachment; filename={ascii}")
    } else {
        format!(
            "attachment; filename=\"{}\"",
            ascii.replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    if !name.is_ascii() {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        value.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Extensions (and extension-less names) MLflow serves as `text/plain`.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "log",
    "err",
    "cfg",
    "conf",
    "cnf",
    "cf",
    "ini",
    "properties",
    "prop",
    "hocon",
    "toml",
    "yaml",
    "yml",
    "xml",
    "json",
    "js",
    "py",
    "py3",
    "csv",
    "tsv",
    "md",
    "rst",
    "ipynb",
    "MLmodel",
    "MLproject",
];

/// MLflow's content type for a file name: its text types, else the usual guess, else binary.
fn guess_mime_type(name: &str) -> String {
    let extension = match name.rfind('.') {
        Some(i) if i > 0 => &name[i + 1..],
        _ => name,
    };
    if TEXT_EXTENSIONS.contains(&extension) {
        return "text/plain".into();
    }
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

/// A streamed file download with a guessed content type.
fn file_response(path: &str, download: Download) -> Response {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mime = guess_mime_type(name);
    let mut response = Body::from_stream(download.body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(name));
    // Served files are data, not pages: no MIME sniffing into HTML.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(size) = download.size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    response
}

/// How a route reports a path that is a directory: MLflow's artifact service answers with a
/// FastAPI `detail` body, its other routes with a regular error.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectoryAnswer {
    /// `{"detail": ...}`
    Detail,
    /// `INVALID_PARAMETER_VALUE`
    Error,
}

/// Streams one file of a repository to the client.
pub(crate) async fn stream_file(
    repo: &ArtifactRepo,
    path: &str,
    on_directory: DirectoryAnswer,
) -> ApiResult<Response> {
    let download = match repo.get(path).await {
        Err(ArtifactError::NotFound(_))
            if path.is_empty() || repo.list(path).await.ok().flatten().is_some() =>
        {
            let message = format!("Artifact path refers to a directory, not a file: '{path}'");
            return match on_directory {
                DirectoryAnswer::Detail => Ok((
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({ "detail": message })),
                )
                    .into_response()),
                DirectoryAnswer::Error => Err(Error::invalid(message).into()),
            };
        }
        other => other.map_err(artifact_error)?,
    };
    Ok(file_response(path, download))
}

/// A listing as MLflow prints it: `path` relative to `dir`'s root, `file_size` only on
/// non-empty files.
pub(crate) fn file_listing(
    dir: &str,
    files: Vec<trackway_artifacts::FileInfo>,
) -> serde_json::Value {
    json!(
        files
            .into_iter()
            .map(|f| {
                let path = join(dir, &f.name);
                match f.file_size.filter(|size| *size > 0) {
                    Some(size) => json!({"path": path, "is_dir": f.is_dir, "file_size": size}),
                    None => json!({"path": path, "is_dir": f.is_dir}),
                }
            })
            .collect::<Vec<_>>()
    )
}

/// Query of the proxied listing.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    path: Option<String>,
}

/// `GET /api/2.0/mlflow-artifacts/artifacts?path=`: one directory of the destination.
pub async fn proxied_list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let repo = state.artifacts.proxy()?;
    let dir = safe_relative_path(query.path.as_deref().unwrap_or_default())?;
    let files = repo
        .list(&dir)
        .await
        .map_err(artifact_error)?
        .unwrap_or_default();
    if files.is_empty() {
        return Ok(reply(json!({})));
    }
    Ok(reply(json!({ "files": file_listing("", files) })))
}

/// `GET /api/2.0/mlflow-artifacts/artifacts/<path>`
pub async fn proxied_download(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let repo = state.artifacts.proxy()?;
    let path = safe_relative_path(&path)?;
    stream_file(repo, &path, DirectoryAnswer::Detail).await
}

/// `PUT /api/2.0/mlflow-artifacts/artifacts/<path>`: streams the body into the destination.
pub async fn proxied_upload(
    State(state): State<AppState>,
    Path(path): Path<String>,
    uri: axum::http::Uri,
    body: Body,
) -> ApiResult<Response> {
    let repo = state.artifacts.proxy()?;
    if uri.path().ends_with('/') {
        let detail = "Artifact path must include a filename (cannot end with '/').";
        return Ok((
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "detail": detail })),
        )
            .into_response());
    }
    let path = safe_relative_path(&path)?;
    if path.is_empty() {
        return Err(trackway_core::paths::invalid_path().into());
    }
    repo.put(&path, body_stream(body))
        .await
        .map_err(artifact_error)?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/2.0/mlflow-artifacts/artifacts/<path>`: a file or a whole directory.
pub async fn proxied_delete(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let repo = state.artifacts.proxy()?;
    let path = safe_relative_path(&path)?;
    if path.is_empty() {
        return Err(trackway_core::paths::invalid_path().into());
    }
    repo.delete(&path).await.map_err(artifact_error)?;
    Ok(reply(json!({})))
}

/// `POST /api/2.0/mlflow-artifacts/mpu/{create,complete,abort}/<path>`. Clients only use
/// multipart when the server announces it in `server-info`, which Trackway does not: large
/// single PUTs already stream into multipart uploads on S3. The answer is MLflow's for a
/// storage without presigned multipart.
pub async fn proxied_multipart(
    State(state): State<AppState>,
    Path((action, path)): Path<(String, String)>,
    fields: Fields,
) -> ApiResult<Response> {
    state.artifacts.proxy()?;
    safe_relative_path(&path)?;
    let required: &[&str] = match action.as_str() {
        "create" => &["path"],
        "complete" => &["path", "upload_id", "parts"],
        _ => &["path", "upload_id"],
    };
    for field in required {
        if !fields.has(field)? {
            return Err(crate::request::missing(field).into());
        }
    }
    Err(Error::new(
        ErrorCode::NotImplemented,
        "Multipart upload is not supported for the current artifact repository",
    )
    .into())
}

/// `GET /api/2.0/mlflow-artifacts/presigned/<path>`: presigned downloads need a storage that
/// signs URLs; the answer is MLflow's for one that does not.
pub async fn proxied_presigned(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    state.artifacts.proxy()?;
    safe_relative_path(&path)?;
    Err(Error::new(
        ErrorCode::NotImplemented,
        "Multipart download is not supported for the current artifact repository",
    )
    .into())
}

/// `POST /artifacts/presigned-upload-url` and `presigned-download-url`: Trackway proxies
/// artifacts instead of handing out storage URLs.
pub async fn presigned_url(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    fields: Fields,
) -> ApiResult<Response> {
    let location = match fields.string("model_id")?.filter(|m| !m.is_empty()) {
        Some(model_id) => {
            state
                .store
                .get_logged_model(&model_id, false)
                .await?
                .info
                .artifact_uri
        }
        None => run_root(&state, &fields.run_id()?).await?,
    };
    let scheme = location.split(':').next().unwrap_or_default();
    let message = if uri.path().ends_with("presigned-download-url") {
        format!(
            "Presigned download is not supported for runs with proxied artifact storage \
             (artifact URI scheme: {scheme}). This endpoint requires a run with a direct cloud \
             storage artifact URI."
        )
    } else {
        format!(
            "Presigned upload is not supported for proxied artifact storage (artifact URI \
             scheme: {scheme}). This endpoint requires a direct cloud storage artifact URI."
        )
    };
    Err(Error::invalid(message).into())
}

/// The run's artifact root and the repository that holds it.
async fn run_root(state: &AppState, run_id: &str) -> trackway_core::Result<String> {
    Ok(state.store.get_run(run_id).await?.info.artifact_uri)
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id=&path=`
pub async fn list_run_artifacts(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let run_id = fields.run_id()?;
    let path = match fields.string("path")? {
        Some(path) => safe_relative_path(&path)?,
        None => String::new(),
    };
    let root_uri = run_root(&state, &run_id).await?;
    let (repo, dir) = state.artifacts.resolve(&root_uri, &path)?;
    let listing = repo
        .list(&dir)
        .await
        .map_err(artifact_error)?
        .unwrap_or_default();
    let mut body = json!({ "root_uri": root_uri });
    if !listing.is_empty() {
        body["files"] = file_listing(&path, listing);
    }
    Ok(reply(body))
}

/// `GET /get-artifact?run_uuid=&path=` (the UI's download link).
pub async fn get_run_artifact(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let run_id = fields
        .run_id()
        .map_err(|_| Error::not_found("Run with id=None not found"))?;
    let path = safe_relative_path(&fields.required_string("path")?)?;
    let root_uri = run_root(&state, &run_id).await?;
    let (repo, file) = state.artifacts.resolve(&root_uri, &path)?;
    stream_file(repo, &file, DirectoryAnswer::Error).await
}

/// Query of the UI's upload route.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    run_uuid: Option<String>,
    run_id: Option<String>,
    path: Option<String>,
}

/// `POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=` (the UI's upload, ≤ 10 MB).
pub async fn ui_upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    body: Body,
) -> ApiResult<Response> {
    let run_id = query
        .run_uuid
        .or(query.run_id)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::invalid("Request must specify run_uuid."))?;
    let path = safe_relative_path(query.path.as_deref().unwrap_or_default())?;
    if path.is_empty() {
        return Err(Error::invalid("Request must specify path.").into());
    }
    let bytes = axum::body::to_bytes(body, MAX_UI_UPLOAD)
        .await
        .map_err(|_| {
            ApiError(Error::invalid(format!(
                "Artifact size is too large. Max size is {MAX_UI_UPLOAD} bytes."
            )))
        })?;
    if bytes.is_empty() {
        return Err(Error::invalid("Request must specify data.").into());
    }
    let root_uri = run_root(&state, &run_id).await?;
    let (repo, file) = state.artifacts.resolve(&root_uri, &path)?;
    let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(bytes) }));
    repo.put(&file, stream).await.map_err(artifact_error)?;
    // MLflow answers with an empty body labelled as JSON.
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// `GET /api/2.0/mlflow-artifacts/artifacts/` (the collection itself, not a file).
pub async fn proxied_download_root(State(state): State<AppState>) -> ApiResult<Response> {
    let repo = state.artifacts.proxy()?;
    stream_file(repo, "", DirectoryAnswer::Detail).await
}
