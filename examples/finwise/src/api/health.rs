//! Liveness and health: `GET /ping`, `GET /health`, `GET /api/v1/websocket/health`. No
//! session needed.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};
use sync_core::version::Version;

use crate::state::AppState;

/// `GET /ping`: the server is up.
pub(crate) async fn ping() -> Json<Value> {
    Json(json!({ "status": "online", "message": "FinWise sync server is running" }))
}

/// `GET /health`: 200 `{"status":"healthy",…}` when the auth database answers, else 503
/// `{"status":"unhealthy",…}`.
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.auth_db.ping().await;
    let (status, health) = if database {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    let body = json!({
        "status": health,
        "version": env!("CARGO_PKG_VERSION"),
        "server_time": Version::now(),
        "auth_database": if database { "ok" } else { "unavailable" },
        "open_tenants": state.store.open_tenants(),
    });
    (status, Json(body))
}

/// `GET /api/v1/websocket/health`: `{"overall_health":"healthy",…}`, as the FinWise
/// frontend polls it before connecting.
pub(crate) async fn websocket(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "overall_health": "healthy",
        "websocket": { "status": "healthy", "open_tenants": state.store.open_tenants() },
        "timestamp": Version::now(),
    }))
}
