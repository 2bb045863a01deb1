//! The PostgreSQL store: every tenant in shared tables keyed by `(_sync_tenant, id)`.
//!
//! ```no_run
//! # async fn run() -> sync_core::Result<()> {
//! use std::time::Duration;
//! use sync_core::store::postgres::PostgresStore;
//! use sync_core::store::Store;
//! use sync_core::{Registry, TenantId};
//!
//! let store = PostgresStore::builder("postgres://app:secret@127.0.0.1/app", Registry::default())
//!     .schema("sync")
//!     .max_connections(10)
//!     .acquire_timeout(Duration::from_secs(5))
//!     .connect()
//!     .await?;
//! assert_eq!(store.cursor(&TenantId::new("household-1")?).await?, 0);
//! # Ok(()) }
//! ```
//!
//! At [`Builder::connect`] the store creates (or evolves, with the same rules and refusals
//! as SQLite's, counting live rows across tenants since the tables are shared) one table per
//! entity plus its bookkeeping tables, in one transaction under an advisory lock, so that
//! several nodes may start at once: `_sync_tenants` (each tenant's sequence number and
//! tombstone horizon), `_sync_changes` (processed change ids per tenant) and `_sync_schema`
//! (the columns sync-core created). With [`Builder::schema`] they all live in that
//! PostgreSQL schema, created if missing, and the pool's connections put it first on their
//! `search_path`; the app may keep its own tables in the same database and use
//! [`PostgresStore::pool`].
//!
//! Several processes may write one tenant at once: each batch takes the tenant's row lock
//! before allocating sequence numbers and holds it until commit, so a tenant's commits are
//! serialised and a follower reading the feed never sees sequence `N` before `N - 1`.
//! Batches are written with set-based `UNNEST` statements, whatever their size. The pool's
//! connections plan every statement for its actual parameters (`plan_cache_mode =
//! force_custom_plan`): generic plans for a batch's arrays measured several times slower.
//!
//! If PostgreSQL is unreachable, `connect` fails with [`Error::Connect`] naming the URL
//! (password masked). If it goes away later, every operation fails within the acquire
//! timeout (the engine answers `storage_error`, retryable) and the pool reconnects by itself
//! once the database is back.

mod apply;
mod bind;
mod buckets;
mod feed;
mod schema;
mod sql;
mod tenants;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use self::sql::TableSql;
use super::{
    ChangePage, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_TOMBSTONE_RETENTION, MAX_PAGE, Purge, Snapshot,
    SnapshotSink, Store,
};
use crate::change::Change;
use crate::entity::stream::StreamSpec;
use crate::entity::{Arrival, Handler, Registry, Role};
use crate::error::{Error, Result};
use crate::outcome::{BatchOutcome, Effect, Rejection};
use crate::store::{BucketFeed, MoveRecord};
use crate::tenant::TenantId;
use crate::version::Version;

/// The default bound on the pool's connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// The default time an operation waits for a connection before it fails.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct Builder {
    url: String,
    registry: Registry,
    schema: Option<String>,
    max_connections: u32,
    acquire_timeout: Duration,
    max_clock_skew: Duration,
    tombstone_retention: Option<Duration>,
}

impl Builder {
    /// The PostgreSQL schema of every sync table, created if missing. Lowercase letters,
    /// digits and `_`, starting with a letter or `_`. Default: the connection's current
    /// schema (normally `public`).
    pub fn schema(mut self, name: impl Into<String>) -> Builder {
        self.schema = Some(name.into());
        self
    }

    /// How many connections the pool opens at most. Default 10.
    pub fn max_connections(mut self, count: u32) -> Builder {
        self.max_connections = count.max(1);
        self
    }

    /// How long an operation waits for a connection (including reconnecting) before it
    /// fails. Default 5 seconds.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Builder {
        self.acquire_timeout = timeout;
        self
    }

    /// How far in the future a version may lie before it is clamped to the server's time.
    /// Default 5 minutes.
    pub fn max_clock_skew(mut self, skew: Duration) -> Builder {
        self.max_clock_skew = skew;
        self
    }

    /// How long tombstones (and processed change ids) are kept: older ones are purged
    /// hourly, and clients whose cursor predates a purged tombstone get `reset`. `None`
    /// keeps them forever. Default 30 days.
    pub fn tombstone_retention(mut self, retention: Option<Duration>) -> Builder {
        self.tombstone_retention = retention;
        self
    }

    /// Connects, prepares the schema and starts the hourly purge.
    pub async fn connect(self) -> Result<PostgresStore> {
        if let Some(schema) = &self.schema {
            check_schema_name(schema)?;
        }
        let connect_error = |source: sqlx::Error| Error::Connect {
            url: mask_password(&self.url),
            source: source.into(),
        };
        let mut options: PgConnectOptions = self.url.parse().map_err(connect_error)?;
        if let Some(schema) = &self.schema {
            options = options.options([("search_path", format!("{schema},public"))]);
        }
        // A generic plan for a batch's array parameters can be several times slower than
        // one planned for the actual arrays (measured: batches of 100 at half the speed).
        options = options.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        let mut connection = pool.acquire().await.map_err(connect_error)?;
        schema::prepare(&mut connection, self.schema.as_deref(), &self.registry).await?;
        drop(connection);
        let tables = self
            .registry
            .iter()
            .map(|handler| (handler.table(), TableSql::new(handler)))
            .collect();
        let inner = Arc::new(Inner {
            pool,
            registry: self.registry,
            tables,
            max_clock_skew: self.max_clock_skew,
            tombstone_retention: self.tombstone_retention,
        });
        tenants::spawn_purge_sweep(Arc::downgrade(&inner));
        Ok(PostgresStore { inner })
    }
}

/// The PostgreSQL store. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pool: PgPool,
    registry: Registry,
    tables: HashMap<&'static str, TableSql>,
    max_clock_skew: Duration,
    tombstone_retention: Option<Duration>,
}

impl Inner {
    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn table_sql(&self, handler: &dyn Handler) -> &TableSql {
        &self.tables[handler.table()]
    }
}

impl PostgresStore {
    /// Starts configuring a store of `registry`'s entities in the database at `url`.
    pub fn builder(url: &str, registry: Registry) -> Builder {
        Builder {
            url: url.to_owned(),
            registry,
            schema: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            tombstone_retention: Some(DEFAULT_TOMBSTONE_RETENTION),
        }
    }

    /// The store's connection pool, for the app's own tables in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Purges, in every tenant, the tombstones older than the retention (see
    /// [`Builder::tombstone_retention`]); returns how many were removed. The background
    /// sweep calls it hourly.
    pub async fn purge_expired(&self) -> Result<u64> {
        let Some(retention) = self.inner.tombstone_retention else {
            return Ok(0);
        };
        let millis = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        tenants::purge_all(&self.inner, Version::now().add_millis(-millis)).await
    }

    fn arrival(&self) -> Arrival {
        Arrival {
            now: Version::now(),
            max_clock_skew: self.inner.max_clock_skew,
        }
    }
}

impl Store for PostgresStore {
    fn registry(&self) -> &Registry {
        self.inner.registry()
    }

    async fn apply_screened(
        &self,
        tenant: &TenantId,
        changes: &[Change],
        refusals: &[Option<Rejection>],
    ) -> Result<BatchOutcome> {
        apply::apply(&self.inner, tenant, changes, refusals, self.arrival()).await
    }

    async fn changes_since(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> Result<ChangePage> {
        feed::changes_since(&self.inner, tenant, cursor, limit.clamp(1, MAX_PAGE)).await
    }

    async fn bucket_feed(
        &self,
        tenant: &TenantId,
        stream: &StreamSpec,
        key: &str,
        cursor: u64,
        limit: usize,
    ) -> Result<BucketFeed> {
        buckets::bucket_feed(
            &self.inner,
            tenant,
            stream,
            key,
            cursor,
            limit.clamp(1, MAX_PAGE),
        )
        .await
    }

    async fn moves_between(
        &self,
        tenant: &TenantId,
        after: u64,
        through: u64,
    ) -> Result<Vec<MoveRecord>> {
        buckets::moves_between(&self.inner, tenant, after, through).await
    }

    async fn snapshot(&self, tenant: &TenantId) -> Result<Snapshot> {
        feed::snapshot(&self.inner, tenant).await
    }

    async fn stream_snapshot<K: SnapshotSink>(
        &self,
        tenant: &TenantId,
        sink: &mut K,
    ) -> Result<()> {
        feed::stream_snapshot(&self.inner, tenant, sink).await
    }

    async fn get_state(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<Option<Effect>> {
        let Some(handler) = self.registry().get(entity_type) else {
            return Ok(None);
        };
        let id_type = handler.columns()[handler.position(Role::Id)].sql_type;
        if !bind::id_fits(id_type, entity_id) {
            return Ok(None);
        }
        let sql = self.inner.table_sql(handler);
        let row = sqlx::query(&sql.row)
            .bind(tenant.as_str())
            .bind(entity_id)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|row| sql.effect(handler, &row)).transpose()
    }

    async fn list_json(
        &self,
        tenant: &TenantId,
        entity_type: &str,
    ) -> Result<Vec<serde_json::Value>> {
        let Some(handler) = self.registry().get(entity_type) else {
            return Ok(Vec::new());
        };
        let mut connection = self.inner.pool.acquire().await?;
        let rows = feed::live(&self.inner, handler, &mut connection, tenant.as_str()).await?;
        Ok(rows.into_iter().map(|row| row.data).collect())
    }

    async fn cursor(&self, tenant: &TenantId) -> Result<u64> {
        let mut connection = self.inner.pool.acquire().await?;
        Ok(feed::read_meta(&mut connection, tenant.as_str()).await?.0)
    }

    async fn purge_tombstones(&self, tenant: &TenantId, horizon: Version) -> Result<Purge> {
        feed::purge(&self.inner, tenant.as_str(), horizon).await
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<()> {
        tenants::delete(&self.inner, tenant).await
    }
}

fn check_schema_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
        && !name.starts_with("pg_");
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidIdentifier {
            what: "PostgreSQL schema name (lowercase letters, digits and '_', at most 63 bytes, not starting with \"pg_\")".to_owned(),
            name: name.to_owned(),
        })
    }
}

/// `url` with its password replaced by `***`, for messages and logs:
/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`, and a
/// `password=` query parameter is masked too.
///
/// ```
/// use sync_core::store::postgres::mask_password;
///
/// assert_eq!(mask_password("postgres://app:s3cr@t@db:5432/app"), "postgres://app:***@db:5432/app");
/// assert_eq!(mask_password("postgres://db/app?user=app&password=x"), "postgres://db/app?user=app&password=***");
/// assert_eq!(mask_password("postgres://app@db/app"), "postgres://app@db/app");
/// ```
pub fn mask_password(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(index) => url.split_at(index + 3),
        None => ("", url),
    };
    let (head, tail) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    // The user info ends at the last '@' before the query: a password may hold '@' or '/'.
    let head = match head.rfind('@') {
        Some(at) => {
            let (user_info, host) = head.split_at(at);
            match user_info.find(':') {
                Some(colon) => format!("{}:***{host}", &user_info[..colon]),
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    format!("{scheme}{head}{}", mask_query_password(tail))
}

fn mask_query_password(tail: &str) -> String {
    let Some(query_start) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(query_start + 1);
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}{}", masked.join("&"))
}
