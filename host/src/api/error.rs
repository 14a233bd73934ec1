//! The API's one error type. [`ApiError`] is the only place the error
//! envelope (`{"success": false, "status", "error": {…}}`) and the 422 body
//! (`{"detail": [{"loc", "msg", "type"}]}`) are built.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::store::StoreError;

/// The stable `type` of an error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    AlreadyExists,
    Conflict,
    MethodNotAllowed,
    PayloadTooLarge,
    TooManyRequests,
    Internal,
    ServiceUnavailable,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Conflict => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequestError",
            Self::Unauthorized => "UnauthorizedError",
            Self::Forbidden => "ForbiddenError",
            Self::NotFound => "NotFoundError",
            Self::AlreadyExists => "AlreadyExistsError",
            Self::Conflict => "ConflictError",
            Self::MethodNotAllowed => "MethodNotAllowedError",
            Self::PayloadTooLarge => "PayloadTooLargeError",
            Self::TooManyRequests => "TooManyRequestsError",
            Self::Internal => "InternalServerError",
            Self::ServiceUnavailable => "ServiceUnavailableError",
        }
    }
}

/// One element of a `loc`: a field name or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Field(String),
    Index(usize),
}

impl From<&str> for LocPart {
    fn from(value: &str) -> Self {
        Self::Field(value.to_string())
    }
}

impl From<String> for LocPart {
    fn from(value: String) -> Self {
        Self::Field(value)
    }
}

impl From<usize> for LocPart {
    fn from(value: usize) -> Self {
        Self::Index(value)
    }
}

/// One problem with a request's input, located precisely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ValidationError {
    /// Where: `["body", "file_filters", "min_size_bytes"]`, `["query", "limit"]`.
    pub loc: Vec<LocPart>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl ValidationError {
    pub fn new(loc: Vec<LocPart>, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

/// The 422 body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError {
    pub detail: Vec<ValidationError>,
}

/// The `error` member of the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Human-readable message.
    pub message: String,
    /// Stable error type, e.g. `NotFoundError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Fine-grained code for clients that branch on it, e.g. `sync_paused`.
    pub code: Option<String>,
    /// Structured details (ids, fields).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// The error envelope of every 4xx/5xx except 422.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Always false.
    pub success: bool,
    pub status: u16,
    pub error: ErrorDetail,
}

/// What a handler or extractor returns when a request fails.
#[derive(Debug)]
pub enum ApiError {
    /// An error answered with the envelope.
    Envelope {
        kind: ErrorKind,
        message: String,
        code: Option<String>,
        details: Option<Value>,
    },
    /// Bad input: answered with 422.
    Validation(Vec<ValidationError>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Envelope {
            kind,
            message: message.into(),
            code: None,
            details: None,
        }
    }

    pub fn with_code(mut self, new_code: impl Into<String>) -> Self {
        if let Self::Envelope { code, .. } = &mut self {
            *code = Some(new_code.into());
        }
        self
    }

    pub fn with_details(mut self, new_details: Value) -> Self {
        if let Self::Envelope { details, .. } = &mut self {
            *details = Some(new_details);
        }
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message).with_code(code)
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message).with_code(code)
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message).with_code(code)
    }

    /// `resource` is a snake_case name (`sync_config`); the message and code
    /// are derived from it: "Sync config not found", `sync_config_not_found`.
    pub fn not_found(resource: &str, id: &str) -> Self {
        let label = resource.replace('_', " ");
        let mut chars = label.chars();
        let label = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
            None => String::new(),
        };
        Self::new(ErrorKind::NotFound, format!("{label} not found"))
            .with_code(format!("{resource}_not_found"))
            .with_details(json!({ "id": id, "resource": resource }))
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message).with_code(code)
    }

    pub fn already_exists(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message).with_code(code)
    }

    pub fn payload_too_large(limit: Option<usize>) -> Self {
        let message = match limit {
            Some(bytes) => format!("Request body exceeds the limit of {bytes} bytes"),
            None => "Request body is too large".to_string(),
        };
        Self::new(ErrorKind::PayloadTooLarge, message).with_code("payload_too_large")
    }

    /// A failure the client cannot act on. `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(ErrorKind::Internal, "Internal server error").with_code("internal_error")
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, message).with_code("service_unavailable")
    }

    /// One validation problem.
    pub fn invalid(loc: Vec<LocPart>, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::Validation(vec![ValidationError::new(loc, msg, kind)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Envelope { kind, .. } => kind.status(),
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Envelope { kind, message, .. } => write!(f, "{}: {message}", kind.type_name()),
            Self::Validation(errors) => write!(f, "{} validation error(s)", errors.len()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AlreadyExists { what, value } => {
                let code = format!("{}_taken", what.replace(' ', "_"));
                Self::already_exists(&code, format!("A {what} {value:?} already exists"))
                    .with_details(json!({ "field": what, "value": value }))
            }
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Validation(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(HttpValidationError { detail }),
            )
                .into_response(),
            Self::Envelope {
                kind,
                message,
                code,
                details,
            } => {
                let status = kind.status();
                let body = ErrorResponse {
                    success: false,
                    status: status.as_u16(),
                    error: ErrorDetail {
                        message,
                        kind: kind.type_name().to_string(),
                        code,
                        details,
                    },
                };
                (status, Json(body)).into_response()
            }
        }
    }
}
