//! The web UI: MLflow's built React app, served from a directory, and the small endpoints only
//! the UI calls.
//!
//! The app is never part of this repository: `trackway ui install` extracts it from MLflow's
//! pinned wheel, or the server is pointed at a directory (`--ui-dir`), or at the `mlflow`
//! package of the active Python environment. The app asks for relative URLs
//! (`static-files/...`, `ajax-api/...`), so it works under `--static-prefix` unchanged.
//!
//! Caching: `index.html` is revalidated on every visit (`no-cache`) so an upgraded UI shows at
//! once; files under `static-files/static/` carry a content hash in their names and are
//! immutable; the few unhashed files (favicon, manifest) keep MLflow's 28 days.

use std::future::Future;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use serde_json::json;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

use trackway_core::{Error, ErrorCode};
use trackway_store::GenAiRecords;

use crate::error::ApiResult;
use crate::request::{Fields, missing};
use crate::{AppState, reply};

/// `Cache-Control` of files whose names carry a content hash.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of other static files: MLflow's 28 days.
const UNHASHED: &str = "public, max-age=2419200";

/// Where the built UI is. Finding it may mean asking `python3` (about 40 ms, more behind a
/// version-manager shim), which must not delay start-up, so the answer can arrive after the
/// server listens; requests wait for it, and every request after the first gets it at once.
#[derive(Clone)]
pub struct UiDir(Shared<BoxFuture<'static, Option<PathBuf>>>);

impl UiDir {
    /// A location known at start-up (or known to be absent).
    pub fn known(dir: Option<PathBuf>) -> Self {
        UiDir(futures::future::ready(dir).boxed().shared())
    }

    /// A location to be looked up when first asked for (by [`UiDir::get`]), once.
    ///
    /// Not at start-up: the lookup may run Python, whose start (through a version manager's
    /// shell shims, say) took 100 ms of CPU here, on cores the server was starting on; and a
    /// server used only through the API never needs it.
    pub fn lazy(lookup: impl Future<Output = Option<PathBuf>> + Send + 'static) -> Self {
        UiDir(lookup.boxed().shared())
    }

    /// The directory, once the lookup is done.
    pub async fn get(&self) -> Option<PathBuf> {
        self.0.clone().await
    }
}

impl Default for UiDir {
    fn default() -> Self {
        UiDir::known(None)
    }
}

impl std::fmt::Debug for UiDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.peek() {
            Some(dir) => f.debug_tuple("UiDir").field(dir).finish(),
            None => f.write_str("UiDir(pending)"),
        }
    }
}

/// The routes that serve the app (`/` and `/static-files/...`) and the endpoints only the UI
/// calls.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route(
            "/ajax-api/3.0/mlflow/ui-telemetry",
            get(telemetry_config).post(telemetry_records),
        )
        .route(
            "/ajax-api/2.0/mlflow/gateway-proxy",
            get(gateway_proxy).post(gateway_proxy),
        )
        .route(
            "/ajax-api/3.0/mlflow/assistant/config",
            get(assistant_config),
        )
        .route(
            "/ajax-api/3.0/mlflow/assistant/providers",
            get(assistant_providers),
        )
        .route("/ajax-api/3.0/mlflow/traces/metrics", post(trace_metrics))
        .route("/ajax-api/3.0/mlflow/traces/search", post(trace_search))
        .route(
            "/ajax-api/3.0/mlflow/datasets/search",
            post(evaluation_dataset_search),
        )
        .route("/ajax-api/3.0/mlflow/scorers/list", get(scorer_list))
        .nest(
            "/static-files",
            Router::new()
                .fallback(static_file)
                .layer(middleware::from_fn(cache_headers)),
        )
}

/// `GET /static-files/...`: a file of the app, with a gzip copy for browsers that take it.
/// `ServeDir` keeps paths inside the directory and answers conditional requests.
async fn static_file(State(state): State<AppState>, request: Request) -> Response {
    let Some(dir) = state.config.ui.get().await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match ServeDir::new(dir)
        .precompressed_gzip()
        .oneshot(request)
        .await
    {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// Sets `Cache-Control` on successful static answers (see the module docs).
async fn cache_headers(request: Request, next: Next) -> Response {
    let hashed = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let value = if hashed { IMMUTABLE } else { UNHASHED };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

/// `GET /`: the app's `index.html`, or a page that says how to install the UI.
///
/// Under `--static-prefix /p`, a visit to `/p` is redirected to `/p/`: the app's URLs are
/// relative, and from `/p` they would resolve outside the prefix.
pub(crate) async fn index(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    if !uri.path().ends_with('/') {
        let target = match uri.query() {
            Some(query) => format!("{}/?{query}", uri.path()),
            None => format!("{}/", uri.path()),
        };
        return Redirect::permanent(&target).into_response();
    }
    let Some(dir) = state.config.ui.get().await else {
        return html(StatusCode::OK, NOT_INSTALLED.to_string());
    };
    match tokio::fs::read_to_string(dir.join("index.html")).await {
        Ok(page) => html(StatusCode::OK, page),
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot read the UI's index.html");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "<!doctype html><title>Trackway</title><p>The web UI in {} cannot be read: \
                     {e}. Reinstall it with <code>trackway ui install</code>.",
                    escape(&dir.display().to_string())
                ),
            )
        }
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const NOT_INSTALLED: &str = "<!doctype html>
<html lang=en><head><meta charset=utf-8><title>Trackway</title></head>
<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">
<h1>Trackway is running</h1>
<p>The tracking API is up (point MLflow clients at this address). The web UI is not installed.</p>
<p>Install MLflow's web UI once, then restart the server:</p>
<pre>trackway ui install</pre>
<p>or serve a UI you already have with <code>--ui-dir DIR</code> (or <code>TRACKWAY_UI_DIR</code>).</p>
</body></html>
";

/// `GET /ajax-api/3.0/mlflow/ui-telemetry`: Trackway sends no telemetry, so the UI is told
/// what MLflow tells it when telemetry is off.
async fn telemetry_config() -> Response {
    reply(json!({
        "disable_ui_telemetry": true,
        "disable_ui_events": [],
        "ui_rollout_percentage": 0,
    }))
}

/// `POST /ajax-api/3.0/mlflow/ui-telemetry`: records are accepted and dropped.
async fn telemetry_records() -> Response {
    reply(json!({"status": "disabled"}))
}

/// `/ajax-api/2.0/mlflow/gateway-proxy`: Trackway has no AI gateway, so the UI gets what MLflow
/// answers when no deployments target is set: a gateway with no endpoints.
async fn gateway_proxy() -> Response {
    reply(json!({"endpoints": []}))
}

/// `GET /ajax-api/3.0/mlflow/assistant/config`: the MLflow Assistant (which runs coding-agent
/// programs on the server host) is not part of Trackway; the UI is told nothing is configured.
async fn assistant_config() -> Response {
    reply(json!({"providers": {}, "projects": {}, "remote_access_allowed": false}))
}

/// `GET /ajax-api/3.0/mlflow/assistant/providers`: no assistant provider is available.
async fn assistant_providers() -> Response {
    reply(json!({"providers": [], "resolved": null, "gateway_vendor_options": {}}))
}

// Trackway does not record MLflow 3's GenAI records (traces, judges, evaluation datasets), so
// the UI's pages for them get MLflow's answer for a store that holds none. A database MLflow
// wrote may hold some: then these answer NOT_IMPLEMENTED rather than show an empty list.

/// MLflow's answer when there is nothing to list, once `kind` is known to be absent.
async fn empty_unless_present(
    state: &AppState,
    kind: GenAiRecords,
    experiment_ids: &[String],
) -> ApiResult<Response> {
    if state
        .store
        .genai_records_exist(kind, experiment_ids)
        .await?
    {
        let what = match kind {
            GenAiRecords::Traces => "traces",
            GenAiRecords::Scorers => "judges (scorers)",
            GenAiRecords::EvaluationDatasets => "evaluation datasets",
        };
        return Err(Error::new(
            ErrorCode::NotImplemented,
            format!("This database holds {what}, and Trackway does not serve them yet."),
        )
        .into());
    }
    Ok(reply(json!({})))
}

/// `POST /ajax-api/3.0/mlflow/traces/metrics`: the experiment overview's charts.
async fn trace_metrics(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let experiment_ids = fields.string_list("experiment_ids")?;
    if experiment_ids.is_empty() {
        return Err(missing("experiment_ids").into());
    }
    fields.required_string("metric_name")?;
    empty_unless_present(&state, GenAiRecords::Traces, &experiment_ids).await
}

/// `POST /ajax-api/3.0/mlflow/traces/search`: the traces and sessions pages. Experiments come
/// as `locations` (`{"mlflow_experiment": {"experiment_id": ...}}`); none means all.
async fn trace_search(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let mut experiment_ids = fields.string_list("experiment_ids")?;
    for location in fields.objects("locations")? {
        if let Some(id) = location
            .get("mlflow_experiment")
            .and_then(|e| e.get("experiment_id"))
            .and_then(|id| id.as_str())
        {
            experiment_ids.push(id.to_string());
        }
    }
    empty_unless_present(&state, GenAiRecords::Traces, &experiment_ids).await
}

/// `POST /ajax-api/3.0/mlflow/datasets/search`: the evaluation datasets page.
async fn evaluation_dataset_search(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Response> {
    let experiment_ids = fields.string_list("experiment_ids")?;
    empty_unless_present(&state, GenAiRecords::EvaluationDatasets, &experiment_ids).await
}

/// `GET /ajax-api/3.0/mlflow/scorers/list`: the judges page.
async fn scorer_list(State(state): State<AppState>, fields: Fields) -> ApiResult<Response> {
    let experiment_id = fields.required_string("experiment_id")?;
    empty_unless_present(&state, GenAiRecords::Scorers, &[experiment_id]).await
}

/// Whether `dir` holds a built UI (its `index.html`).
pub fn is_ui_dir(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// The directory of the built UI inside an installed `mlflow` package.
pub fn build_dir_of_package(package: &Path) -> PathBuf {
    package.join("server").join("js").join("build")
}
