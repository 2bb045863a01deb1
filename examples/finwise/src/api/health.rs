//! Liveness and health: `GET /ping`, `GET /health`, `GET /api/v1/websocket/health`. No
//! session needed.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};
use sync_core::version::Version;

use sync_core::store::AnyStore;

use crate::state::{AppState, store_name};

/// `GET /ping`: the server is up.
pub(crate) async fn ping() -> Json<Value> {
    Json(json!({ "status": "online", "message": "FinWise sync server is running" }))
}

/// `GET /health`: 200 `{"status":"healthy",…}` when the database answers, else 503
/// `{"status":"unhealthy",…}`. With SQLite that is the auth database's file; with
/// PostgreSQL the shared database (the store and the auth tables use one pool), so a node
/// that lost its database reports it and a load balancer can take it out.
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.auth_db.ping().await;
    let open_tenants = open_tenants(&state.store);
    let (status, health) = if database {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    let body = json!({
        "status": health,
        "version": env!("CARGO_PKG_VERSION"),
        "server_time": Version::now(),
        "backend": store_name(&state.store),
        "database": if database { "ok" } else { "unavailable" },
        "auth_database": if database { "ok" } else { "unavailable" },
        "open_tenants": open_tenants,
    });
    (status, Json(body))
}

/// `GET /api/v1/websocket/health`: `{"overall_health":"healthy",…}`, as the FinWise
/// frontend polls it before connecting.
pub(crate) async fn websocket(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "overall_health": "healthy",
        "websocket": {
            "status": "healthy",
            "connections": state.sync.connections(),
            "open_tenants": open_tenants(&state.store),
        },
        "timestamp": Version::now(),
    }))
}

/// How many tenant databases SQLite holds open; `null` on PostgreSQL (no per-tenant files).
fn open_tenants(store: &AnyStore) -> Value {
    match store {
        AnyStore::Sqlite(store) => json!(store.open_tenants()),
        _ => Value::Null,
    }
}
