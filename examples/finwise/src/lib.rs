//! The FinWise example server: the backend of the FinWise 0.4 personal-finance frontend,
//! built on `sync-core` and `sync-axum`.
//!
//! [`app`] opens the server's data and returns the HTTP API of PROTOCOL.md part C as an
//! axum [`Router`], with the [`AppState`] the sync route is built from. The data is, by
//! default, in a data directory (the auth database `auth.db`, the JWT secret and one SQLite
//! database per tenant), for one process; with [`Config::database_url`] it is in one
//! PostgreSQL database shared by any number of nodes, which tell each other of their
//! commits over a bus (LISTEN/NOTIFY, or NATS with [`Config::bus_url`]) and behave as one
//! server behind any load balancer (see [`backend`] and the README's "Several nodes"). `main.rs` adds the
//! command line, the listener and graceful shutdown. [`cli`] is `finwise-cli`, an
//! offline-first command-line client of the server built on `sync-client`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sync_core::store::Store;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (router, state) = finwise::app(finwise::Config::new(dir.path())).await.unwrap();
//! assert_eq!(state.store.registry().len(), 10);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! tokio::spawn(async move { axum::serve(listener, router).await });
//! # });
//! ```
//!
//! Security: a login sets an HttpOnly, SameSite=Strict session cookie holding an HS256
//! token (also returned as `access_token` for bearer use); every other endpoint requires
//! it and refuses (403) a `user_id` or tenant the caller does not own. See `README.md`.

pub mod api;
pub mod authenticator;
pub mod backend;
pub mod cli;
pub mod config;
pub mod db;
pub mod entities;
mod error;
pub mod grants;
mod open;
pub mod password;
pub mod secret;
pub mod session;
pub mod state;

use std::sync::Arc;

use axum::Router;
use http::{HeaderName, HeaderValue, Method, header};
use sync_axum::SyncServer;
use sync_axum::jwt::JwtKeys;
use sync_core::store::Store as _;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use authenticator::FinwiseAuthenticator;
pub use config::Config;
pub use error::{Error, Result};
pub use state::AppState;

/// The WebSocket path of the FinWise frontend; its parameter is the tenant id.
pub const SYNC_PATH: &str = "/ws_finwise/ws/{tenant_id}";

/// Opens the server's data and builds its router: the HTTP API, the sync WebSocket at
/// [`SYNC_PATH`], the static frontend if configured, CORS for the configured origins, and
/// request tracing.
///
/// Fails if the data directory, the auth database or the secret cannot be used, a
/// configured service (PostgreSQL, NATS) cannot be reached ([`Error::Connect`], naming the
/// URL with its password masked), or the configuration cannot work (a short secret, a `*`
/// CORS origin, an unknown URL scheme, a bus with SQLite).
pub async fn app(config: Config) -> Result<(Router, AppState)> {
    let state = state(config).await?;
    let sync_routes = state.sync.router();
    let mut router = api::routes();
    router = match &state.config.static_dir {
        Some(dir) => router
            .fallback_service(ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))),
        None => router.fallback(api::not_found),
    };
    let mut router = router.layer(TraceLayer::new_for_http());
    if let Some(cors) = cors(&state.config.cors_origins)? {
        router = router.layer(cors);
    }
    let mut router = router.with_state(state.clone()).merge(sync_routes);
    if let Some(path) = &state.config.metrics_path {
        router = router.merge(metrics_router_at(&state, path)?);
    }
    Ok((router, state))
}

/// The Prometheus metrics of this server at `GET /metrics`, for serving on an address of
/// its own (with [`Config::metrics_path`] `None`). Every metric is listed in
/// `docs/operations.md`; besides those of `sync_core::metrics` and `sync_axum::metrics`,
/// `sync_tenants_open` counts the tenant databases open now (SQLite).
///
/// Fails if another metrics recorder was installed in this process.
pub fn metrics_router(state: &AppState) -> Result<Router> {
    metrics_router_at(state, "/metrics")
}

/// Gauge: the tenant databases open now (SQLite; 0 with PostgreSQL, whose tenants share
/// one pool).
pub const TENANTS_OPEN: &str = "sync_tenants_open";

fn metrics_router_at(state: &AppState, path: &str) -> Result<Router> {
    let metrics =
        sync_axum::metrics::Metrics::install().map_err(|error| Error::Config(error.to_string()))?;
    let (sync, store) = (state.sync.clone(), state.store.clone());
    Ok(metrics.router(path, move || {
        sync_axum::metrics::observe(&sync);
        let open = match &store {
            sync_core::store::AnyStore::Sqlite(store) => store.open_tenants(),
            _ => 0,
        };
        metrics::gauge!(TENANTS_OPEN).set(open as f64);
    }))
}

/// Opens the backend the configuration selects (see [`backend`]): the store, the auth
/// database, the secret and, with PostgreSQL, the bus between nodes.
async fn state(config: Config) -> Result<AppState> {
    let backend = backend::Backend::of(&config)?;
    let (grants, grants_task) = grants::keeper();
    let open::Opened {
        store,
        auth_db,
        secret,
        bus,
    } = {
        let registry = entities::server_registry(&grants);
        open::open(&config, &backend, registry).await?
    };
    let keys = JwtKeys::from_secret(&secret);
    let authenticator = FinwiseAuthenticator::new(auth_db.clone(), keys.clone())
        .dev_open_access(config.dev_open_access)
        .allowed_origins(
            config
                .cors_origins
                .iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_owned()),
        );
    if config.dev_open_access {
        warn_open_access();
    }
    let mut sync = SyncServer::builder(store.clone(), authenticator.clone())
        .path(SYNC_PATH)
        .health_path(None)
        .limits(config.limits.clone());
    if let Some(bus) = bus {
        sync = sync.bus(bus);
    }
    let sync = Arc::new(sync.build());
    grants_task.start(sync.engine().clone());
    let tenant_deleted = state::TenantDeletedHooks::default();
    let sessions = sync.shutdown_handle();
    tenant_deleted.register(move |tenant| {
        // With a bus, the tenant's sessions on every node are closed.
        sessions.close_tenant(&tenant);
        async {}
    });
    tracing::info!(backend = ?backend, entities = store.registry().len(), "FinWise server ready");
    Ok(AppState {
        store,
        auth_db,
        keys,
        authenticator,
        dev_open_access: config.dev_open_access,
        config: Arc::new(config),
        tenant_deleted,
        sync,
        grants,
    })
}

/// CORS for `origins` with credentials, or none when the list is empty. `*` is refused:
/// browsers do not send credentials to a wildcard origin, and allowing every origin with
/// credentials would let any site act as a logged-in user.
fn cors(origins: &[String]) -> Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|origin| {
            let origin = origin.trim().trim_end_matches('/');
            if origin == "*" {
                return Err(Error::Config(
                    "--cors-origin '*' cannot be used with credentials; list each origin"
                        .to_owned(),
                ));
            }
            HeaderValue::from_str(origin).map_err(|_| {
                Error::Config(format!(
                    "invalid CORS origin {origin:?}; use e.g. http://localhost:5173"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            // The FinWise frontend sends X-User-Id and X-Tenant-Id with its requests.
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("x-user-id"),
                HeaderName::from_static("x-tenant-id"),
            ]),
    ))
}

fn warn_open_access() {
    tracing::warn!(
        "\n\
         ************************************************************************\n\
         *  WARNING: --dev-open-access IS ON. THIS SERVER IS INSECURE.          *\n\
         *                                                                      *\n\
         *  Requests need no login: the user_id a client sends is trusted, and  *\n\
         *  sync connections are admitted without a token for every existing    *\n\
         *  tenant. Anyone who can reach this server can read, change and       *\n\
         *  delete every user's data. Use it only on a development machine,     *\n\
         *  never on a network others can reach.                                *\n\
         ************************************************************************"
    );
}
