//! Errors as HTTP answers: a status and `{"detail": "..."}`, translated here and only here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::error::Error;

/// A refused request: its status and the human-readable `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) detail: String,
    /// Seconds for `Retry-After`, on a 503.
    pub(crate) retry_after: Option<u32>,
}

/// What a 503 asks the client to wait, in seconds.
const RETRY_AFTER_SECS: u32 = 5;

impl ApiError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After`: the server lacks a resource (file descriptors, a database
    /// connection) for now; the same request may succeed later.
    pub(crate) fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(RETRY_AFTER_SECS),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail)
        }
    }

    /// 400: the request conflicts with what exists.
    pub(crate) fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no valid session.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: a valid session acting for someone else.
    pub(crate) fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub(crate) fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 422: a well-formed request with an invalid value.
    pub(crate) fn invalid(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
}

impl From<Error> for ApiError {
    /// An internal failure: logged in full, answered without details; 503 with
    /// `Retry-After` when retrying may succeed (see [`Error::is_retryable`]), else 500.
    fn from(error: Error) -> ApiError {
        if error.is_retryable() {
            tracing::warn!(%error, "request refused for now");
            return ApiError::unavailable("Service temporarily unavailable, retry later");
        }
        tracing::error!(%error, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "detail": self.detail }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}
