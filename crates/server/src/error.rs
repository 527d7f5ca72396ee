//! MLflow's error response, produced in exactly one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use trackway_core::{Error, ErrorCode};

/// An error on its way to the client as `{"error_code": ..., "message": ...}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let sqlstate = self.0.sqlstate();
        let class = self.0.error_class();
        let Error { code, message, .. } = self.0;
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Server faults are logged in full; the client gets their message without database
        // internals, as MLflow's own message for such faults carries no more than that.
        let message = if code == ErrorCode::InternalError && message.starts_with("database error") {
            tracing::error!(%message, "request failed");
            "Internal server error: the metadata store failed; see the server log".to_string()
        } else {
            if status.is_server_error() {
                tracing::error!(%message, code = %code, "request failed");
            }
            message
        };
        let mut body = json!({"error_code": code.as_str(), "message": message});
        if let Some(sqlstate) = sqlstate {
            body["sqlstate"] = json!(sqlstate);
        }
        if let Some(class) = class {
            body["error_class"] = json!(class);
        }
        (status, axum::Json(body)).into_response()
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
