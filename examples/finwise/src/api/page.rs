//! The frontend's own pages at paths the API also uses: a browser reloading `/login` or
//! `/register` (routes of the single-page app) sends a `GET` asking for HTML, and gets the
//! frontend's `index.html` when one is served (`--static-dir`). Every other `GET` of those
//! paths is 405, as before: the API serves them only by `POST`.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::ApiError;
use crate::state::AppState;

/// `GET /login`, `GET /register`: the frontend's `index.html` for a request that accepts
/// `text/html` when a static directory is configured; 405 otherwise.
pub(crate) async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("text/html"));
    match &state.config.static_dir {
        Some(dir) if wants_html => {
            let path = dir.join("index.html");
            match tokio::fs::read_to_string(&path).await {
                Ok(page) => Html(page).into_response(),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot read the frontend's index.html");
                    ApiError::not_found("Not Found").into_response()
                }
            }
        }
        _ => {
            let mut refused =
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response();
            refused
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            refused
        }
    }
}
