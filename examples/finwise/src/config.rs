//! What the server is configured with; `main.rs` fills it from the command line.

use std::path::PathBuf;
use std::time::Duration;

/// The default lifetime of a login session (and of its token): 7 days.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The shortest JWT secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The default size of the PostgreSQL connection pool of one node.
pub const DEFAULT_DATABASE_CONNECTIONS: u32 = 10;

/// The server's configuration. Build it with [`Config::new`] and set the fields you need.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// With SQLite (no [`database_url`](Self::database_url)): where `auth.db`, `jwt-secret`
    /// and every tenant's `<tenant>.db` live. Unused with PostgreSQL.
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite databases under [`data_dir`](Self::data_dir), for one
    /// process. A `postgres://` or `postgresql://` URL: every tenant's data and the auth
    /// tables in that database, shared by every node started with the same URL. Any other
    /// scheme is refused at start.
    pub database_url: Option<String>,
    /// With PostgreSQL: the schema the tables live in, created if missing. `None`: the
    /// connection's default schema (the first of its `search_path`, usually `public`).
    pub database_schema: Option<String>,
    /// With PostgreSQL: the most connections this node opens to the database. Default
    /// [`DEFAULT_DATABASE_CONNECTIONS`].
    pub database_max_connections: u32,
    /// With PostgreSQL: how the nodes tell each other of their commits and of deleted
    /// tenants. `None`: LISTEN/NOTIFY in the database. A `nats://host:port` URL: NATS
    /// (the choice for many busy tenants). Refused with SQLite, whose data belongs to one
    /// process.
    pub bus_url: Option<String>,
    /// The HS256 secret for session tokens, at least [`MIN_SECRET_LEN`] bytes. When `None`
    /// a secret is generated on first start and kept: in `<data_dir>/jwt-secret` with
    /// SQLite, in the database (shared by every node) with PostgreSQL.
    pub jwt_secret: Option<Vec<u8>>,
    /// Origins allowed to call the API from a browser, with credentials, e.g.
    /// `http://localhost:5173`. Empty: no CORS headers (same-origin use only).
    pub cors_origins: Vec<String>,
    /// A built web frontend to serve at `/`, with unknown paths answered by its
    /// `index.html` (single-page app routing).
    pub static_dir: Option<PathBuf>,
    /// INSECURE, development only: trust the `user_id` a client sends instead of requiring
    /// a session, and let sync connections in without a token (for existing tenants).
    pub dev_open_access: bool,
    /// Mark the session cookie `Secure`: set it when clients reach the server over HTTPS.
    pub secure_cookie: bool,
    /// How long a login lasts.
    pub session_lifetime: Duration,
    /// The bcrypt cost of new password hashes. Default [`bcrypt::DEFAULT_COST`] (12);
    /// tests lower it.
    pub bcrypt_cost: u32,
    /// The limits every sync connection is held to (message size, batch size, outbound
    /// queue, connections, ping and idle timings). Default [`sync_axum::Limits::default`].
    pub limits: sync_axum::Limits,
    /// With SQLite: the most tenant databases kept open at once (least recently used closed
    /// first). `None`: derived from the file-descriptor budget,
    /// [`FdBudget::databases`](sync_axum::FdBudget) / [`FDS_PER_TENANT`].
    pub max_open_tenants: Option<usize>,
    /// Where the router serves the Prometheus metrics (see `docs/operations.md`); `None`
    /// leaves them out of it, e.g. to serve [`crate::metrics_router`] on an address of
    /// their own. Default `/metrics`.
    pub metrics_path: Option<String>,
}

impl Config {
    /// The defaults, with data under `data_dir`: a generated secret, no CORS, no static
    /// files, authentication required, 7-day sessions.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            database_schema: None,
            database_max_connections: DEFAULT_DATABASE_CONNECTIONS,
            bus_url: None,
            jwt_secret: None,
            cors_origins: Vec::new(),
            static_dir: None,
            dev_open_access: false,
            secure_cookie: false,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            bcrypt_cost: bcrypt::DEFAULT_COST,
            limits: sync_axum::Limits::default(),
            max_open_tenants: None,
            metrics_path: Some("/metrics".to_owned()),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(crate::backend::mask_password),
            )
            .field("database_schema", &self.database_schema)
            .field("database_max_connections", &self.database_max_connections)
            .field(
                "bus_url",
                &self.bus_url.as_deref().map(crate::backend::mask_password),
            )
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("cors_origins", &self.cors_origins)
            .field("static_dir", &self.static_dir)
            .field("dev_open_access", &self.dev_open_access)
            .field("secure_cookie", &self.secure_cookie)
            .field("session_lifetime", &self.session_lifetime)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("limits", &self.limits)
            .field("max_open_tenants", &self.max_open_tenants)
            .field("metrics_path", &self.metrics_path)
            .finish()
    }
}

/// File descriptors one open SQLite tenant holds: its writer's database, WAL and
/// shared-memory files (3), and the database and WAL files of each of its up to
/// [`TENANT_READERS`] read connections (2 each).
pub const FDS_PER_TENANT: usize = 3 + 2 * TENANT_READERS as usize;

/// Read connections per open SQLite tenant.
pub const TENANT_READERS: u32 = 2;

/// The open-tenant bound of `budget`: its database descriptors over [`FDS_PER_TENANT`].
pub fn max_open_tenants(budget: &sync_axum::FdBudget) -> usize {
    (budget.databases / FDS_PER_TENANT).max(1)
}
