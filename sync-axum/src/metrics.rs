//! Prometheus metrics: installs a recorder for everything `sync_core::metrics` lists and
//! serves it in the Prometheus text format.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sync_axum::metrics::Metrics;
//!
//! let metrics = Metrics::install().unwrap();
//! sync_core::metrics::session(true);
//! let router = metrics.router("/metrics", || {});
//! # let _ = router;
//! assert!(metrics.render().contains("sync_sessions_open"));
//! # });
//! ```
//!
//! Besides the metrics of `sync_core::metrics` (sessions, changes by outcome and NACK reason,
//! ACK latency, group commits, store commit latency, hub cut-offs, the bus), [`observe`]
//! sets the gauges that are read off a running [`SyncServer`]:
//!
//! | name | kind | what |
//! |---|---|---|
//! | `sync_connections_open` | gauge | WebSocket connections open on this node |
//! | `sync_tenant_writers` | gauge | tenants with a running writer (tenants written to lately) |
//! | `sync_bus_tracked_tenants` | gauge | tenants this node receives other nodes' changes for |
//!
//! [`serve`](crate::serve) keeps two more:
//!
//! | name | kind | what |
//! |---|---|---|
//! | `sync_tcp_connections_open` | gauge | TCP connections open, counted against the connection budget |
//! | `sync_tcp_connections_refused_total` | counter | connections refused with 503 because the budget was full |
//!
//! Histograms are rendered as Prometheus histograms with the buckets below: latencies in
//! seconds from 0.5 ms to 10 s, group-commit sizes from 1 to 5,000 changes.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sync_core::metrics as names;
use sync_core::store::Store;

use crate::SyncServer;
use crate::auth::Authenticator;

/// Gauge: WebSocket connections open on this node.
pub const CONNECTIONS_OPEN: &str = "sync_connections_open";
/// Gauge: tenants with a running writer.
pub const TENANT_WRITERS: &str = "sync_tenant_writers";
/// Gauge: tenants whose changes from other nodes this node receives.
pub const BUS_TRACKED_TENANTS: &str = "sync_bus_tracked_tenants";
/// Gauge: TCP connections open under [`serve`](crate::serve).
pub const TCP_CONNECTIONS_OPEN: &str = "sync_tcp_connections_open";
/// Counter: connections [`serve`](crate::serve) refused because its budget was full.
pub const TCP_CONNECTIONS_REFUSED: &str = "sync_tcp_connections_refused_total";

pub(crate) fn open_connections(change: i8) {
    metrics::gauge!(TCP_CONNECTIONS_OPEN).increment(f64::from(change));
}

pub(crate) fn refused_connection() {
    metrics::counter!(TCP_CONNECTIONS_REFUSED).increment(1);
}

/// The buckets of the latency histograms, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The buckets of the group-commit size histogram, in changes.
pub const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Prometheus recorder: {0}")]
pub struct InstallError(String);

/// The process's Prometheus recorder. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

static INSTALLED: OnceLock<Metrics> = OnceLock::new();

impl Metrics {
    /// Installs the recorder for this process, or returns the one installed before: there
    /// is one per process. Within a Tokio runtime it also starts the upkeep that keeps the
    /// histograms' memory bounded between scrapes.
    ///
    /// Fails when another `metrics` recorder was installed in this process.
    pub fn install() -> Result<Metrics, InstallError> {
        // One install at a time: a second caller waits and takes the first one's recorder,
        // instead of finding the global recorder set before `INSTALLED` is.
        static INSTALLING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(metrics) = INSTALLED.get() {
            return Ok(metrics.clone());
        }
        let failed =
            |error: metrics_exporter_prometheus::BuildError| InstallError(error.to_string());
        let mut builder = PrometheusBuilder::new();
        for latency in [names::ACK_LATENCY, names::STORE_COMMIT, names::BUS_DELIVERY] {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(latency.to_owned()), LATENCY_BUCKETS)
                .map_err(failed)?;
        }
        builder = builder
            .set_buckets_for_metric(Matcher::Full(names::GROUP_COMMIT.to_owned()), SIZE_BUCKETS)
            .map_err(failed)?;
        let handle = builder.install_recorder().map_err(failed)?;
        let metrics = INSTALLED.get_or_init(|| Metrics { handle }).clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = metrics.handle.clone();
            runtime.spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(5));
                loop {
                    ticks.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        Ok(metrics)
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// A router serving [`render`](Self::render) at `GET path`, after calling `refresh`
    /// (which sets the gauges read off the running server, e.g. with [`observe`]).
    pub fn router(&self, path: &str, refresh: impl Fn() + Clone + Send + Sync + 'static) -> Router {
        let metrics = self.clone();
        Router::new().route(
            path,
            get(move || {
                let (metrics, refresh) = (metrics.clone(), refresh.clone());
                async move {
                    refresh();
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                        .into_response()
                }
            }),
        )
    }
}

/// Sets the gauges read off `server`: open connections, tenant writers, tracked tenants.
pub fn observe<S: Store, A: Authenticator>(server: &SyncServer<S, A>) {
    let gauge = |count: usize| count as f64;
    metrics::gauge!(CONNECTIONS_OPEN).set(gauge(server.connections()));
    metrics::gauge!(TENANT_WRITERS).set(gauge(server.engine().active_writers()));
    metrics::gauge!(BUS_TRACKED_TENANTS).set(gauge(server.engine().tracked_tenants()));
}
