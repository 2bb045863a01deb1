//! Configures and starts a [`Client`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use sync_core::store::sqlite::Synchronous;
use sync_core::{Registry, Syncable, TenantId};
use tokio::sync::{Notify, broadcast, mpsc, watch};

use super::shared::{Config, Shared};
use super::{Client, Inner};
use crate::backoff::Backoff;
use crate::clock::{Clock, SystemClock, WallClock};
use crate::connection;
#[cfg(feature = "websocket")]
use crate::connection::socket::{Tls, WebSocket};
use crate::connection::transport::Connector;
use crate::credentials::{Constant, TokenProvider};
use crate::error::{Error, Result};
use crate::replica::Replica;
use crate::status::Status;

/// Configures a [`Client`]; see [`Client::builder`].
#[must_use = "a builder does nothing until .build().await"]
pub struct Builder {
    url: String,
    tenant: Option<String>,
    database: Option<PathBuf>,
    registry: sync_core::entity::RegistryBuilder,
    synchronous: Synchronous,
    event_capacity: usize,
    credentials: Option<Arc<dyn TokenProvider>>,
    #[cfg(feature = "websocket")]
    tls: Tls,
    connector: Option<Arc<dyn Connector>>,
    wall: Arc<dyn WallClock>,
    jitter_seed: Option<u64>,
    config: Config,
}

impl Builder {
    pub(super) fn new(url: impl Into<String>) -> Builder {
        Builder {
            url: url.into(),
            tenant: None,
            database: None,
            registry: Registry::builder(),
            synchronous: Synchronous::Full,
            event_capacity: 1024,
            credentials: None,
            #[cfg(feature = "websocket")]
            tls: Tls::default(),
            connector: None,
            wall: Arc::new(SystemClock),
            jitter_seed: None,
            config: Config {
                url: String::new(),
                connect_timeout: Duration::from_secs(10),
                answer_timeout: Duration::from_secs(30),
                ping_interval: Duration::from_secs(20),
                reconnect: Backoff::new(Duration::from_millis(250), Duration::from_secs(30)),
                retry: Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
                max_attempts: 10,
                batch_size: 500,
                max_in_flight: 4,
                page_size: 1000,
                gap_delay: Duration::from_millis(500),
                check_interval: Duration::from_secs(60),
            },
        }
    }

    /// The bearer token sent as `Authorization: Bearer <token>` with every connection: a
    /// [`token_provider`](Self::token_provider) that always gives `token`.
    pub fn token(mut self, token: impl Into<String>) -> Builder {
        self.credentials = Some(Arc::new(Constant(token.into())));
        self
    }

    /// Asks `provider` for the bearer token before every connection attempt, and for a
    /// new one after the server refused the last (see [`credentials`](crate::credentials)):
    /// for tokens that expire and are renewed.
    pub fn token_provider(mut self, provider: impl TokenProvider) -> Builder {
        self.credentials = Some(Arc::new(provider));
        self
    }

    /// The tenant to sync (required). It is put where the URL says `{tenant}`, or appended
    /// to the URL's path, and named in every change sent.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Builder {
        self.tenant = Some(tenant.into());
        self
    }

    /// The replica's SQLite file, created if missing. Without it the replica lives in
    /// memory, and changes not yet acknowledged are lost when the process ends. Use one
    /// file per tenant and one client per file at a time.
    pub fn database(mut self, path: impl Into<PathBuf>) -> Builder {
        self.database = Some(path.into());
        self
    }

    /// Registers every entity of `registry`: the same list the server registers.
    pub fn entities(mut self, registry: &Registry) -> Builder {
        self.registry = self.registry.entities_of(registry);
        self
    }

    /// Registers an entity type, exactly as on the server.
    pub fn entity<T: Syncable>(mut self) -> Builder {
        self.registry = self.registry.entity::<T>();
        self
    }

    /// The replica's `synchronous` level: what a local write survives. Default
    /// [`Synchronous::Full`] (a power loss loses no acknowledged local write).
    pub fn synchronous(mut self, level: Synchronous) -> Builder {
        self.synchronous = level;
        self
    }

    /// How many events a slow [`events`](Client::events) receiver may fall behind before
    /// it lags. Default 1024.
    pub fn event_capacity(mut self, capacity: usize) -> Builder {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The most entries per `process_sync_batch` (never more than the server's
    /// `max_batch`). Default 500.
    pub fn batch_size(mut self, entries: usize) -> Builder {
        self.config.batch_size = entries.max(1);
        self
    }

    /// How many batches may wait for their answers at once. Default 4.
    pub fn max_in_flight(mut self, batches: usize) -> Builder {
        self.config.max_in_flight = batches.max(1);
        self
    }

    /// The most changes per `request_changes` page (never more than the server's
    /// `max_page`). Default 1000.
    pub fn page_size(mut self, changes: usize) -> Builder {
        self.config.page_size = changes.max(1);
        self
    }

    /// How many times an entry is sent before it fails (retryable refusals and lost
    /// answers count). Default 10.
    pub fn max_attempts(mut self, attempts: u32) -> Builder {
        self.config.max_attempts = attempts.max(1);
        self
    }

    /// How long a connection attempt, and the server's greeting, may take. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Builder {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a sent batch or page request may wait for its answer before the
    /// connection is considered broken and re-established. Default 30 s.
    pub fn answer_timeout(mut self, timeout: Duration) -> Builder {
        self.config.answer_timeout = timeout;
        self
    }

    /// How often the client pings the server. Default 20 s. A server silent for three
    /// intervals (and at least the answer timeout) is considered gone.
    pub fn ping_interval(mut self, interval: Duration) -> Builder {
        self.config.ping_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long an idle, caught-up connection goes without a catch-up round before it runs
    /// one to check its cursor. Default 60 s. The server's `data_update`s normally keep a
    /// replica current; the check bounds how long one lost on the way (a proxy, a bug)
    /// can leave it behind without anyone noticing. It is one empty page for the server.
    pub fn check_interval(mut self, interval: Duration) -> Builder {
        self.config.check_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The reconnect backoff: `initial` doubling up to `max`, with jitter. Default 250 ms
    /// to 30 s.
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Builder {
        self.config.reconnect = Backoff::new(initial, max);
        self
    }

    /// The backoff of entries refused with a retryable reason. Default 1 s to 5 min.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Builder {
        self.config.retry = Backoff::new(initial, max);
        self
    }

    /// The TLS configuration for `wss://` URLs, e.g. to trust a private certificate
    /// authority. Default: the Mozilla root certificates.
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Builder {
        self.tls.config = Some(config);
        self
    }

    /// Opens connections through `connector` instead of the WebSocket adapter: another
    /// transport, a test double, a simulated network. The URL, token and TLS settings are
    /// then the connector's business (the URL still names the client in logs).
    pub fn connector(mut self, connector: impl Connector) -> Builder {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// Reads local time from `wall` instead of the system clock (a skewed or simulated
    /// clock in tests).
    pub fn wall_clock(mut self, wall: impl WallClock) -> Builder {
        self.wall = Arc::new(wall);
        self
    }

    /// Seeds the jitter of the reconnect and retry backoffs, so a run can be replayed.
    /// Default: seeded from the operating system.
    pub fn jitter_seed(mut self, seed: u64) -> Builder {
        self.jitter_seed = Some(seed);
        self
    }

    /// Opens the replica and starts the connection task; succeeds without a server.
    /// Must be called within a tokio runtime.
    pub async fn build(self) -> Result<Client> {
        let tenant_text = self
            .tenant
            .ok_or_else(|| Error::Config("a tenant is required: call .tenant(..)".to_owned()))?;
        let tenant =
            TenantId::new(tenant_text).map_err(|error| Error::Config(error.to_string()))?;
        let mut config = self.config;
        let connector: Arc<dyn Connector> = match self.connector {
            Some(connector) => {
                config.url = self.url;
                connector
            }
            None => {
                config.url = resolve_url(&self.url, &tenant)?;
                #[cfg(feature = "websocket")]
                {
                    Arc::new(WebSocket {
                        url: config.url.clone(),
                        credentials: self.credentials,
                        tls: self.tls,
                        refused: Arc::default(),
                    })
                }
                #[cfg(not(feature = "websocket"))]
                {
                    let _ = self.credentials;
                    return Err(Error::Config(
                        "no transport: enable the `websocket` feature or pass .connector(..)"
                            .to_owned(),
                    ));
                }
            }
        };
        let registry = self.registry.build()?;
        let (replica, meta) = Replica::open(
            self.database.as_deref(),
            registry,
            self.synchronous,
            &tenant,
        )
        .await?;
        let status = Status {
            cursor: meta.cursor,
            ..Status::default()
        };
        let shared = Arc::new(Shared {
            replica,
            clock: Clock::with_wall(meta.offset_ms, self.wall),
            config,
            connector,
            tenant,
            client_id: meta.client_id,
            status: watch::channel(status).0,
            events: broadcast::channel(self.event_capacity).0,
            wake: Notify::new(),
            expiry: Notify::new(),
            jitter: std::sync::Mutex::new(match self.jitter_seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_os_rng(),
            }),
        });
        shared
            .refresh_counts(&mut *shared.replica.lock().await?)
            .await?;
        let (commands, receiver) = mpsc::channel(64);
        let task = tokio::spawn(connection::run(shared.clone(), receiver));
        let expiry = tokio::spawn(super::expiry::run(shared.clone()));
        Ok(Client {
            inner: Arc::new(Inner {
                shared,
                commands,
                task: std::sync::Mutex::new(Some(task)),
                expiry: std::sync::Mutex::new(Some(expiry)),
            }),
        })
    }
}

/// The WebSocket URL of `tenant`: `{tenant}` (or `{tenant_id}`) replaced, or the tenant
/// appended as the last path segment.
fn resolve_url(url: &str, tenant: &TenantId) -> Result<String> {
    let scheme_ok = ["ws://", "wss://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if !scheme_ok {
        return Err(Error::Config(format!(
            "the server URL {url:?} must start with ws:// or wss://"
        )));
    }
    if url.contains("{tenant}") || url.contains("{tenant_id}") {
        return Ok(url
            .replace("{tenant}", tenant.as_str())
            .replace("{tenant_id}", tenant.as_str()));
    }
    let (path, query) = url
        .split_once('?')
        .map_or((url, None), |(path, query)| (path, Some(query)));
    let mut resolved = format!("{}/{tenant}", path.trim_end_matches('/'));
    if let Some(query) = query {
        resolved.push('?');
        resolved.push_str(query);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_goes_where_the_url_says_or_at_the_end() {
        let tenant = TenantId::new("household").unwrap();
        assert_eq!(
            resolve_url("ws://h:1/ws", &tenant).unwrap(),
            "ws://h:1/ws/household"
        );
        assert_eq!(
            resolve_url("ws://h:1/ws/", &tenant).unwrap(),
            "ws://h:1/ws/household"
        );
        assert_eq!(
            resolve_url("wss://h/ws?v=1", &tenant).unwrap(),
            "wss://h/ws/household?v=1"
        );
        assert_eq!(
            resolve_url("ws://h/t/{tenant}/socket", &tenant).unwrap(),
            "ws://h/t/household/socket"
        );
        assert_eq!(
            resolve_url("ws://h/ws_finwise/ws/{tenant_id}", &tenant).unwrap(),
            "ws://h/ws_finwise/ws/household"
        );
        assert!(matches!(
            resolve_url("http://h/ws", &tenant),
            Err(Error::Config(_))
        ));
    }
}
