//! Trackway's HTTP API: MLflow's REST protocol on axum.
//!
//! # Design
//!
//! Handlers are thin: read the request with [`request::Fields`] (which reproduces MLflow's
//! lenient parsing and its error messages), call one [`trackway_store::Store`] method, and
//! serialise the entities, which already print as MLflow's JSON. Every failure is a
//! [`trackway_core::Error`] and becomes a response in one place ([`error::ApiError`]).
//!
//! Each RPC is mounted under both `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`, as MLflow does;
//! an unknown route is a 404 *without* a JSON body, which MLflow's client needs to fall back to
//! older endpoints. The state ([`AppState`]) holds only the store and settings: nothing lives
//! only in one process, so replicas behind a load balancer behave as one service.

pub mod artifact_roots;
mod artifacts;
pub mod error;
mod experiments;
mod graphql;
mod logged_models;
mod metrics;
mod registry;
pub mod request;
mod runs;
pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde_json::json;
use trackway_store::Store;

/// The MLflow release whose API Trackway speaks; `/version` reports it so that clients enable
/// the features of that release.
pub const MLFLOW_VERSION: &str = "3.17.2";

/// Settings the handlers need.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// A path prefix in front of every route (`--static-prefix`), empty for none.
    pub static_prefix: String,
    /// Whether the server proxies artifacts (`--serve-artifacts`).
    pub serve_artifacts: bool,
    /// Where the built web UI is, once known.
    pub ui: ui::UiDir,
}

/// What every handler gets: the store, the artifact roots and the settings.
#[derive(Clone)]
pub struct AppState {
    /// The metadata store.
    pub store: Store,
    /// Where artifacts may be read and written.
    pub artifacts: Arc<artifact_roots::ArtifactRoots>,
    /// Settings.
    pub config: Arc<ServerConfig>,
}

/// A 200 response with a JSON body.
pub(crate) fn reply(body: serde_json::Value) -> Response {
    axum::Json(body).into_response()
}

/// A page of results under `field`, with its next-page token; both are left out when empty, as
/// MLflow prints them. Serialised straight from the entities: building a `serde_json::Value`
/// tree first cost more than the query for a 100,000-point history.
pub(crate) fn reply_page<T: serde::Serialize>(
    field: &'static str,
    items: &[T],
    next_page_token: Option<String>,
) -> Response {
    struct Page<'a, T> {
        field: &'static str,
        items: &'a [T],
        next_page_token: Option<String>,
    }
    impl<T: serde::Serialize> serde::Serialize for Page<'_, T> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap as _;
            let mut map = s.serialize_map(None)?;
            if !self.items.is_empty() {
                map.serialize_entry(self.field, self.items)?;
            }
            if let Some(token) = &self.next_page_token {
                map.serialize_entry("next_page_token", token)?;
            }
            map.end()
        }
    }
    axum::Json(Page {
        field,
        items,
        next_page_token,
    })
    .into_response()
}

/// The RPCs served under both `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`.
fn mlflow_v2_routes() -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            post(experiments::search).get(experiments::search),
        )
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route("/experiments/update", post(experiments::update))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/update", post(runs::update))
        .route("/runs/get", get(runs::get))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/runs/search", post(runs::search))
        .route("/metrics/get-history", get(metrics::get_history))
        .route(
            "/metrics/get-history-bulk-interval",
            get(metrics::get_history_bulk_interval),
        )
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        .route(
            "/artifacts/presigned-upload-url",
            post(artifacts::presigned_url),
        )
        .route(
            "/artifacts/presigned-download-url",
            post(artifacts::presigned_url),
        )
        .route("/runs/log-model", post(logged_models::log_model))
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(logged_models::set_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{tag_key}",
            delete(logged_models::delete_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(logged_models::log_params),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(logged_models::list_artifacts),
        )
        .merge(registry_routes())
}

/// The model registry's RPCs.
fn registry_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/registered-models/create",
            post(registry::create_registered_model),
        )
        .route(
            "/registered-models/get",
            get(registry::get_registered_model),
        )
        .route(
            "/registered-models/update",
            patch(registry::update_registered_model),
        )
        .route(
            "/registered-models/rename",
            post(registry::rename_registered_model),
        )
        .route(
            "/registered-models/delete",
            delete(registry::delete_registered_model),
        )
        .route(
            "/registered-models/search",
            get(registry::search_registered_models),
        )
        .route(
            "/registered-models/get-latest-versions",
            post(registry::get_latest_versions).get(registry::get_latest_versions),
        )
        .route(
            "/registered-models/set-tag",
            post(registry::set_registered_model_tag),
        )
        .route(
            "/registered-models/delete-tag",
            delete(registry::delete_registered_model_tag),
        )
        .route(
            "/registered-models/alias",
            post(registry::set_alias)
                .delete(registry::delete_alias)
                .get(registry::get_by_alias),
        )
        .route(
            "/model-versions/create",
            post(registry::create_model_version),
        )
        .route("/model-versions/get", get(registry::get_model_version))
        .route(
            "/model-versions/update",
            patch(registry::update_model_version),
        )
        .route(
            "/model-versions/transition-stage",
            post(registry::transition_stage),
        )
        .route(
            "/model-versions/delete",
            delete(registry::delete_model_version),
        )
        .route(
            "/model-versions/get-download-uri",
            get(registry::get_download_uri),
        )
        .route(
            "/model-versions/search",
            get(registry::search_model_versions),
        )
        .route(
            "/model-versions/set-tag",
            post(registry::set_model_version_tag),
        )
        .route(
            "/model-versions/delete-tag",
            delete(registry::delete_model_version_tag),
        )
}

/// The proxied artifact service, under `/api/2.0/mlflow-artifacts`. Bodies stream, so no
/// size limit applies.
fn artifact_service_routes() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(artifacts::proxied_list))
        .route("/artifacts/", get(artifacts::proxied_download_root))
        .route(
            "/artifacts/{*path}",
            get(artifacts::proxied_download)
                .put(artifacts::proxied_upload)
                .delete(artifacts::proxied_delete),
        )
        .route("/mpu/{action}/{*path}", post(artifacts::proxied_multipart))
        .route("/presigned/{*path}", get(artifacts::proxied_presigned))
        .layer(DefaultBodyLimit::disable())
}

/// Routes only MLflow's web UI calls, served under `/ajax-api/2.0/mlflow` alone.
fn ui_only_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/experiments/search-datasets",
            post(experiments::search_datasets),
        )
        .route("/metrics/get-history-bulk", get(metrics::get_history_bulk))
        .route("/upload-artifact", post(artifacts::ui_upload))
        .route(
            "/logged-models/{model_id}/artifacts/files",
            get(logged_models::get_artifact),
        )
}

/// `/health`: OK when the metadata store answers, so load balancers skip a replica that
/// lost its database.
async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => text_response(StatusCode::OK, "OK", "text/plain; charset=utf-8"),
        Err(e) => {
            tracing::error!(error = %e.message, "health check failed");
            text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
                "text/plain; charset=utf-8",
            )
        }
    }
}

async fn version() -> Response {
    text_response(StatusCode::OK, MLFLOW_VERSION, "text/plain; charset=utf-8")
}

/// `/api/3.0/mlflow/server-info`: what 3.x clients probe before uploads.
async fn server_info() -> Response {
    reply(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": true,
        "presigned_upload_model_id_supported": true,
        // The AI gateway is not part of Trackway, so the UI must not offer it.
        "features_enabled": {"gateway": false},
    }))
}

fn text_response(status: StatusCode, body: &'static str, content_type: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Unknown routes: a 404 whose body is not JSON, as MLflow's client expects.
async fn not_found() -> Response {
    text_response(
        StatusCode::NOT_FOUND,
        "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n\
         <p>The requested URL was not found on the server.</p>\n",
        "text/html; charset=utf-8",
    )
}

/// One log line per request at info level: method, path, status, time. Also sets the headers
/// every response carries.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let mut response = next.run(request).await;
    // As MLflow's security middleware does: browsers must not sniff served files into pages.
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let elapsed = started.elapsed();
    tracing::info!(
        target: "trackway::http",
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        elapsed.as_secs_f64() * 1000.0
    );
    response
}

/// Builds the whole application.
pub fn app(state: AppState) -> Router {
    let prefix = state.config.static_prefix.trim_end_matches('/').to_string();
    let routes = Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/ajax-api/3.0/mlflow/server-info", get(server_info))
        .route("/graphql", get(graphql::graphql).post(graphql::graphql))
        .nest("/api/2.0/mlflow", mlflow_v2_routes())
        .nest(
            "/ajax-api/2.0/mlflow",
            mlflow_v2_routes().merge(ui_only_routes()),
        )
        .route("/get-artifact", get(artifacts::get_run_artifact))
        .route("/model-versions/get-artifact", get(registry::get_artifact))
        .route("/api/2.0/trackway/models/resolve", get(registry::resolve))
        .merge(ui::routes())
        .layer(DefaultBodyLimit::max(request::MAX_JSON_BODY))
        .nest("/api/2.0/mlflow-artifacts", artifact_service_routes())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifact_service_routes())
        .fallback(not_found)
        .with_state(state.clone());
    let routes = if prefix.is_empty() {
        routes
    } else {
        // A nested "/" answers only the bare prefix; the UI lives at "PREFIX/".
        Router::new()
            .route(&format!("{prefix}/"), get(ui::index).with_state(state))
            .nest(&prefix, routes)
            .fallback(not_found)
    };
    routes
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error::ApiError(trackway_core::Error::internal(
                "the request handler panicked",
            ))
            .into_response()
        }))
        .layer(middleware::from_fn(log_request))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
