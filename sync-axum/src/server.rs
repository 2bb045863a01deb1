//! The server: a builder from a store to an axum `Router` serving the sync protocol.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use http::request::Parts;
use serde_json::json;
use sync_core::TenantId;
use sync_core::bus::Bus;
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::session::{self, Session};
use sync_core::store::Store;
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::limits::Limits;
use crate::revoke::Revocations;
use crate::socket;

/// Configures a [`SyncServer`].
pub struct Builder<S, A> {
    store: S,
    authenticator: A,
    path: String,
    health_path: Option<String>,
    limits: Limits,
    engine: engine::Config,
    bus: Option<Arc<dyn Bus>>,
}

impl<S: Store, A: Authenticator> Builder<S, A> {
    /// Where [`SyncServer::router`] serves its health report; `None` leaves it out, for an
    /// app with a health route of its own (it can report [`SyncServer::connections`]).
    /// Default `/health`.
    pub fn health_path(mut self, path: Option<&str>) -> Self {
        self.health_path = path.map(str::to_owned);
        self
    }

    /// The WebSocket path; its one parameter is the tenant. Default `/ws/{tenant_id}`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The connection limits. Default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The engine's limits. Default [`engine::Config::default`].
    pub fn engine(mut self, config: engine::Config) -> Self {
        self.engine = config;
        self
    }

    /// Makes this server one node of several on one database: `bus` tells it of the other
    /// nodes' commits and tenant deletions and tells them of its own, so every session sees
    /// every change whichever node it is connected to. Default none: a single node.
    pub fn bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Builds the server.
    ///
    /// # Panics
    ///
    /// With a [`bus`](Self::bus), outside a Tokio runtime.
    pub fn build(self) -> SyncServer<S, A> {
        let hub = Hub::bounded(self.limits.outbound_queue, self.limits.outbound_queue_bytes);
        let engine = match self.bus {
            Some(bus) => Engine::with_bus(self.store, hub, self.engine, bus),
            None => Engine::new(self.store, hub, self.engine),
        };
        SyncServer {
            shared: Arc::new(Shared {
                engine,
                authenticator: self.authenticator,
                limits: self.limits,
                shutdown: watch::channel(false).0,
                connections: AtomicUsize::new(0),
                revocations: Arc::default(),
            }),
            path: self.path,
            health_path: self.health_path,
        }
    }
}

/// Serves a store's entities over WebSocket. See the [crate docs](crate).
pub struct SyncServer<S, A> {
    shared: Arc<Shared<S, A>>,
    path: String,
    health_path: Option<String>,
}

struct Shared<S, A> {
    engine: Engine<S>,
    authenticator: A,
    limits: Limits,
    shutdown: watch::Sender<bool>,
    connections: AtomicUsize,
    revocations: Arc<Revocations>,
}

impl<S: Store> SyncServer<S, crate::auth::OpenAccess> {
    /// Starts a server of `store` that authenticates with `authenticator`.
    pub fn builder<A: Authenticator>(store: S, authenticator: A) -> Builder<S, A> {
        Builder {
            store,
            authenticator,
            path: "/ws/{tenant_id}".to_owned(),
            health_path: Some("/health".to_owned()),
            limits: Limits::default(),
            engine: engine::Config::default(),
            bus: None,
        }
    }
}

impl<S: Store, A: Authenticator> SyncServer<S, A> {
    /// The routes: the WebSocket path and, unless turned off, `GET /health`.
    pub fn router(&self) -> Router {
        let mut router = Router::new().route(&self.path, get(upgrade::<S, A>));
        if let Some(path) = &self.health_path {
            router = router.route(path, get(health::<S, A>));
        }
        router.with_state(self.shared.clone())
    }

    /// The engine, to submit changes from elsewhere in the app.
    pub fn engine(&self) -> &Engine<S> {
        &self.shared.engine
    }

    /// A handle that shuts every session down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        let engine = self.shared.engine.clone();
        ShutdownHandle {
            shutdown: self.shared.shutdown.clone(),
            close_tenant: Arc::new({
                let engine = engine.clone();
                move |tenant| engine.close_tenant(tenant)
            }),
            close_subject: Arc::new(move |tenant, subject| engine.close_subject(tenant, subject)),
            revocations: self.shared.revocations.clone(),
        }
    }

    /// How many WebSocket connections are open.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

/// Ends sessions: all of them at shutdown, or one tenant's when it is deleted.
#[derive(Clone)]
pub struct ShutdownHandle {
    shutdown: watch::Sender<bool>,
    close_tenant: Arc<dyn Fn(&TenantId) + Send + Sync>,
    close_subject: CloseSubject,
    revocations: Arc<Revocations>,
}

/// Closes a subject's sessions of a tenant; how many this node closed.
type CloseSubject = Arc<dyn Fn(&TenantId, &str) -> usize + Send + Sync>;

impl ShutdownHandle {
    /// Sends `status: shutdown` to every session and closes them with 1001.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Closes every session of `tenant` with 1008, e.g. when the tenant is deleted; with a
    /// bus, on every node.
    pub fn close_tenant(&self, tenant: &TenantId) {
        (self.close_tenant)(tenant);
    }

    /// Closes every session of `subject` in `tenant` with 1008, on every node with a bus,
    /// e.g. when the subject is removed from the tenant or its role changes; how many this
    /// node closed. The app must also refuse (or re-role) the subject's next connection:
    /// its clients reconnect.
    pub fn close_subject(&self, tenant: &TenantId, subject: &str) -> usize {
        (self.close_subject)(tenant, subject)
    }

    /// Closes, with 1008 `logged out`, every connection of this node admitted under the
    /// login session `session` (see [`Principal::session`](crate::auth::Principal::session)),
    /// e.g. when the user logs out; how many there were. The app must also refuse the
    /// session's credential from now on, or its clients reconnect.
    pub fn close_login_session(&self, session: &str) -> usize {
        self.revocations.revoke(session)
    }
}

fn refuse(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": detail.into() }))).into_response()
}

async fn upgrade<S: Store, A: Authenticator>(
    State(shared): State<Arc<Shared<S, A>>>,
    Path(tenant): Path<String>,
    parts: Parts,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let tenant = match TenantId::new(tenant) {
        Ok(tenant) => tenant,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let principal = match shared.authenticator.authenticate(&parts, &tenant).await {
        Ok(principal) => principal,
        Err(refusal) => {
            tracing::info!(%tenant, %refusal, "refused a connection");
            let mut response = refuse(refusal.status(), refusal.to_string());
            if let Some(wait) = refusal.retry_after() {
                response.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            return response;
        }
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if *shared.shutdown.borrow() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    let slot = ConnectionSlot::take(shared.clone());
    let Some(slot) = slot else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections; retry later",
        );
    };
    // Watched from before the upgrade, so a logout during the handshake still reaches it.
    let revocation = principal
        .session
        .as_deref()
        .map(|id| shared.revocations.watch(id));
    let limits = &shared.limits;
    upgrade
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(limits.write_buffer_bytes)
        .max_message_size(limits.session.wire.max_message_bytes)
        .max_frame_size(limits.session.wire.max_message_bytes)
        .on_upgrade(move |websocket| async move {
            let shared = slot.shared.clone();
            let config = session::Config {
                send_timeout: shared.limits.send_timeout,
                ..shared.limits.session.clone()
            };
            let session = Session::new(
                shared.engine.clone(),
                principal.tenant.clone(),
                principal.actor(),
                config,
                shared.shutdown.subscribe(),
            );
            let (inbound, outbound) = socket::split(websocket);
            let inbound = socket::first_within(inbound, shared.limits.first_message_timeout);
            match revocation {
                Some(watch) => {
                    let (inbound, outbound) = (
                        watch.until_revoked(inbound),
                        watch.close_when_revoked(outbound),
                    );
                    session.run(inbound, outbound).await;
                }
                None => session.run(inbound, outbound).await,
            }
            drop(slot);
        })
}

/// A counted connection; dropping it frees the slot.
struct ConnectionSlot<S, A> {
    shared: Arc<Shared<S, A>>,
}

impl<S, A> ConnectionSlot<S, A> {
    fn take(shared: Arc<Shared<S, A>>) -> Option<ConnectionSlot<S, A>> {
        let taken = shared
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < shared.limits.max_connections).then_some(open + 1)
            });
        taken.ok().map(|_| ConnectionSlot { shared })
    }
}

impl<S, A> Drop for ConnectionSlot<S, A> {
    fn drop(&mut self) {
        self.shared.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn health<S: Store, A: Authenticator>(
    State(shared): State<Arc<Shared<S, A>>>,
) -> Json<serde_json::Value> {
    Json(json!({
        "status": if *shared.shutdown.borrow() { "shutting_down" } else { "healthy" },
        "connections": shared.connections.load(Ordering::Relaxed),
        "writers": shared.engine.active_writers(),
    }))
}
