//! The HTTP API of PROTOCOL.md part C, as an axum router over [`AppState`].
//!
//! Every route except `/ping`, `/health`, `/register`, `/login`, `/logout` and
//! `/api/v1/websocket/health` requires the session cookie or a bearer token; errors are
//! `{"detail": "..."}`.

mod account_groups;
mod caller;
mod error;
mod extract;
mod health;
mod members;
mod page;
mod settings;
mod tenants;
mod users;

use axum::Router;
use axum::routing::{delete, get, patch, post, put};

use crate::state::AppState;

/// Every HTTP route of the FinWise API, still needing its state. The sync route is mounted
/// beside these.
pub fn routes() -> Router<AppState> {
    let tenants = get(tenants::list).post(tenants::create);
    Router::new()
        .route("/ping", get(health::ping))
        .route("/health", get(health::health))
        .route("/api/v1/websocket/health", get(health::websocket))
        .route("/register", post(users::register).get(page::index))
        .route("/login", post(users::login).get(page::index))
        .route("/logout", post(users::logout))
        .route("/tenants", tenants.clone())
        .route("/tenants/", tenants)
        .route("/tenants/{id}", put(tenants::rename))
        .route("/tenants/{id}/complete", delete(tenants::delete))
        .route(
            "/tenants/{id}/members",
            get(members::list).post(members::add),
        )
        .route(
            "/tenants/{id}/members/{user_id}",
            patch(members::change_role).delete(members::remove),
        )
        .route(
            "/tenants/{id}/members/{user_id}/account-groups",
            get(account_groups::get).put(account_groups::put),
        )
        .route(
            "/api/v1/user/settings/{user_id}",
            get(settings::get).put(settings::put),
        )
}

/// The answer for a path no route serves: 404 `{"detail":"Not Found"}`.
pub(crate) async fn not_found() -> error::ApiError {
    error::ApiError::not_found("Not Found")
}
