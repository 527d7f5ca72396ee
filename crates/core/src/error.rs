//! MLflow's error model: one code enum, one mapping to HTTP status.

use std::fmt;

/// The `error_code` values MLflow puts on the wire (`databricks.proto`'s `ErrorCode`).
///
/// Only the name travels; MLflow's numeric values are irrelevant to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A server fault.
    InternalError,
    /// The server is in a state that forbids the operation (MLflow answers 500 for it).
    InvalidState,
    /// A value in the request is not acceptable.
    InvalidParameterValue,
    /// The request as a whole is malformed.
    BadRequest,
    /// The entity already exists (MLflow answers 400, not 409).
    ResourceAlreadyExists,
    /// The entity does not exist.
    ResourceDoesNotExist,
    /// The route is not served.
    EndpointNotFound,
    /// The request is well formed but the server does not implement it for this configuration.
    NotImplemented,
    /// The caller may not do this.
    PermissionDenied,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The service cannot answer right now.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The name that goes into the `error_code` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
        }
    }

    /// The HTTP status MLflow's server answers with for this code
    /// (`mlflow.exceptions.get_http_status_code`).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameterValue
            | ErrorCode::BadRequest
            | ErrorCode::ResourceAlreadyExists => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::ResourceDoesNotExist | ErrorCode::EndpointNotFound => 404,
            ErrorCode::InternalError | ErrorCode::InvalidState => 500,
            ErrorCode::NotImplemented => 501,
            ErrorCode::TemporarilyUnavailable => 503,
        }
    }

    /// MLflow 3's `error_class` companion field (`ErrorClass.from_client_error_code`);
    /// codes MLflow does not classify carry none.
    pub fn error_class(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::BadRequest | ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::EndpointNotFound | ErrorCode::ResourceDoesNotExist => "RESOURCE_NOT_FOUND",
            ErrorCode::InternalError
            | ErrorCode::InvalidState
            | ErrorCode::TemporarilyUnavailable => "CLIENT_INTERNAL_ERROR",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::NotImplemented | ErrorCode::Unauthenticated => return None,
        })
    }

    /// MLflow 3's `sqlstate` companion field: `KAM00` for client faults, `XXM00` for server ones.
    pub fn sqlstate(self) -> Option<&'static str> {
        self.error_class().map(|class| {
            if class == "CLIENT_INTERNAL_ERROR" {
                "XXM00"
            } else {
                "KAM00"
            }
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as MLflow reports it: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// What kind of failure this is; decides the HTTP status.
    pub code: ErrorCode,
    /// The message shown to the user.
    pub message: String,
    /// A finer `error_class` than the code's own, where MLflow sets one.
    pub class: Option<&'static str>,
}

impl Error {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            class: None,
        }
    }

    /// The same error with MLflow's `ATTRIBUTE_NOT_FOUND` class (an unknown field name).
    pub fn attribute_not_found(mut self) -> Self {
        self.class = Some("ATTRIBUTE_NOT_FOUND");
        self
    }

    /// The `error_class` to report.
    pub fn error_class(&self) -> Option<&'static str> {
        self.class.or(self.code.error_class())
    }

    /// The `sqlstate` to report, derived from the class as MLflow does.
    pub fn sqlstate(&self) -> Option<&'static str> {
        match self.class {
            Some("ATTRIBUTE_NOT_FOUND") => Some("KAM04"),
            _ => self.code.sqlstate(),
        }
    }

    /// `INVALID_PARAMETER_VALUE`, the most common client error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidParameterValue, message)
    }

    /// `RESOURCE_DOES_NOT_EXIST`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ResourceDoesNotExist, message)
    }

    /// `RESOURCE_ALREADY_EXISTS`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ResourceAlreadyExists, message)
    }

    /// `INTERNAL_ERROR`.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InternalError, message)
    }
}

/// Result with MLflow's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
