//! FailureResponse errors: one `ApiError` type that renders BT's gateway error body.
//!
//! Every failure the sandbox answers with goes through [`ApiError`], so the body is always
//! `{"code","reason","message"}` (plus `"errors"` on schema failures) and never carries internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// One field-level problem in a schema failure (code 29).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A gateway or business failure, rendered as BT's FailureResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    /// Short reason; an empty reason is left out of the body (BT's "No data found" has none).
    pub reason: String,
    pub message: String,
    pub errors: Vec<FieldError>,
    /// Seconds for a `Retry-After` header (429 only).
    pub retry_after: Option<u32>,
}

#[derive(Serialize)]
struct FailureBody<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            reason: reason.into(),
            message: message.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400/20: a path parameter that cannot be read.
    pub fn invalid_url_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "20",
            "Invalid URL parameter",
            message,
        )
    }

    /// 400/21: a POST that needs a body and has none.
    pub fn missing_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "21",
            "Missing body",
            "A request body is required",
        )
    }

    /// 400/22 with the generic reason: a body that does not parse.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "22", "Invalid body", message)
    }

    /// 400/22 with a business-rule reason such as `TooManyUsers`.
    pub fn business(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "22", reason, message)
    }

    /// 400/25.
    pub fn missing_header(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "25",
            "Missing header",
            format!("Missing header: {name}"),
        )
    }

    /// 400/26.
    pub fn invalid_header(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "26",
            "Invalid header",
            format!("Invalid header: {name}"),
        )
    }

    /// 400/27.
    pub fn missing_query(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "27",
            "Missing query parameter",
            format!("Missing query parameter: {name}"),
        )
    }

    /// 400/28.
    pub fn invalid_query(name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "28",
            "Invalid query parameter",
            format!("Invalid query parameter: {name}: {why}"),
        )
    }

    /// 400/29 with the field errors.
    pub fn schema(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "29",
            "Schema validation failed",
            "The request does not match the schema",
        );
        e.errors = errors;
        e
    }

    /// 401/40.
    pub fn missing_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "40",
            "Missing credentials",
            "Missing credentials",
        )
    }

    /// 401/41.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "41",
            "Invalid credentials",
            "Invalid credentials",
        )
    }

    /// 401/42.
    pub fn expired_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "42",
            "Expired credentials",
            "Access token expired",
        )
    }

    /// 403/50.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "50", "Access denied", message)
    }

    /// 403/50 for a CUG that is not this application's.
    pub fn unknown_cug() -> Self {
        Self::access_denied("CUG not associated with this application")
    }

    /// 404/60.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "60", "Not found", message)
    }

    /// BT's verify-data answer for a free name: `{"code":"404","message":"No data found"}`.
    pub fn no_data_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "404", "", "No data found")
    }

    /// 405/61.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "61",
            "Method not allowed",
            "Method not allowed",
        )
    }

    /// 415/68.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "68",
            "Unsupported media type",
            "Content-Type must be application/json",
        )
    }

    /// 429/80 with `Retry-After: 1`.
    pub fn too_many_requests() -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "80",
            "Too many requests",
            "Too many requests",
        );
        e.retry_after = Some(1);
        e
    }

    /// 500/01.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "01",
            "Internal error",
            "Internal error",
        )
    }

    /// 503/05.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "05",
            "Service unavailable",
            "Service unavailable",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = FailureBody {
            code: &self.code,
            reason: &self.reason,
            message: &self.message,
            errors: &self.errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Collects schema problems so that a 400/29 lists all of them at once.
#[derive(Debug, Default)]
pub struct SchemaErrors(pub Vec<FieldError>);

impl SchemaErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn missing(&mut self, field: impl Into<String>) {
        self.push(field, "is required");
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was collected, else the 400/29.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::schema(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_found_has_no_reason() {
        let e = ApiError::no_data_found();
        let body = FailureBody {
            code: &e.code,
            reason: &e.reason,
            message: &e.message,
            errors: &e.errors,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"404","message":"No data found"}"#
        );
    }

    #[test]
    fn schema_errors_collect() {
        let mut s = SchemaErrors::default();
        assert!(s.is_empty());
        s.missing("a");
        let e = s.into_result().unwrap_err();
        assert_eq!(e.code, "29");
        assert_eq!(e.errors.len(), 1);
    }
}
