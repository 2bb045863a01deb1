//! The embedded store: one SQLite database per tenant, `<data_dir>/<tenant>.db`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use sync_core::store::sqlite::{SqliteStore, Synchronous};
//! use sync_core::Registry;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Registry::default())
//!     .synchronous(Synchronous::Full)
//!     .max_open_tenants(256)
//!     .idle_timeout(Duration::from_secs(300))
//!     .open()
//!     .await
//!     .unwrap();
//! assert_eq!(store.open_tenants(), 0, "tenants open on first use");
//! # });
//! ```
//!
//! A tenant's database is created on first use with every registered table, in WAL mode,
//! and its schema is evolved to the registered entities (the rules are in
//! `docs/architecture.md`). Writes to one tenant go through one connection, so its
//! sequence numbers follow commit order; reads use a small pool of read-only connections.
//! Open databases are cached up to [`Builder::max_open_tenants`]; the least recently used
//! idle one is closed beyond that, and any one idle for [`Builder::idle_timeout`] is closed
//! by a background sweep.

mod apply;
mod bind;
mod buckets;
mod feed;
mod schema;
mod sql;
mod stream;
mod tables;
mod tenants;
mod writer;

pub use self::tables::Tables;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteSynchronous;

use self::sql::TableSql;
use self::tenants::{TenantDb, Tenants};
use super::{BucketFeed, ChangePage, MAX_PAGE, MoveRecord, Purge, Snapshot, SnapshotSink, Store};
pub use super::{DEFAULT_MAX_CLOCK_SKEW, DEFAULT_TOMBSTONE_RETENTION};
use crate::change::Change;
use crate::entity::stream::StreamSpec;
use crate::entity::{Arrival, Handler, Registry};
use crate::error::{Error, Result};
use crate::outcome::{BatchOutcome, Effect, Rejection};
use crate::tenant::TenantId;
use crate::version::Version;

/// SQLite's `synchronous` level: what an acknowledged commit survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// No fsync: fastest; a power loss may lose recent commits or corrupt the database.
    Off,
    /// fsync at checkpoints: a power loss may lose the latest commits, never corrupts.
    Normal,
    /// fsync on every commit: an acknowledged change survives a power loss. The default.
    #[default]
    Full,
    /// Like `Full`, and also syncs the directory after deleting the rollback journal.
    Extra,
}

impl From<Synchronous> for SqliteSynchronous {
    fn from(level: Synchronous) -> SqliteSynchronous {
        match level {
            Synchronous::Off => SqliteSynchronous::Off,
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Extra => SqliteSynchronous::Extra,
        }
    }
}

/// The default bound on open tenant databases.
pub const DEFAULT_MAX_OPEN_TENANTS: usize = 1024;
/// The default time after which an unused tenant database is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Configures a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct Builder {
    config: Config,
    registry: Registry,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    data_dir: PathBuf,
    synchronous: Synchronous,
    max_open_tenants: usize,
    idle_timeout: Duration,
    max_clock_skew: Duration,
    max_readers: u32,
    tombstone_retention: Option<Duration>,
}

impl Builder {
    /// The `synchronous` level of every tenant database. Default [`Synchronous::Full`].
    pub fn synchronous(mut self, level: Synchronous) -> Builder {
        self.config.synchronous = level;
        self
    }

    /// How many tenant databases stay open at once. Default 1024. The bound yields only
    /// while every open tenant is in use.
    pub fn max_open_tenants(mut self, count: usize) -> Builder {
        self.config.max_open_tenants = count.max(1);
        self
    }

    /// After how long unused a tenant database is closed. Default 5 minutes.
    pub fn idle_timeout(mut self, timeout: Duration) -> Builder {
        self.config.idle_timeout = timeout;
        self
    }

    /// How far in the future a version may lie before it is clamped to the server's time.
    /// Default 5 minutes.
    pub fn max_clock_skew(mut self, skew: Duration) -> Builder {
        self.config.max_clock_skew = skew;
        self
    }

    /// How long tombstones (and processed change ids) are kept: older ones are purged
    /// hourly from open tenants, and clients whose cursor predates a purged tombstone get
    /// `reset`. `None` keeps them forever. Default 30 days.
    pub fn tombstone_retention(mut self, retention: Option<Duration>) -> Builder {
        self.config.tombstone_retention = retention;
        self
    }

    /// How many read-only connections each tenant database may use. Default 4.
    pub fn max_readers(mut self, count: u32) -> Builder {
        self.config.max_readers = count.max(1);
        self
    }

    /// Creates the data directory if needed and starts the idle sweep. Tenant databases
    /// open on first use.
    pub async fn open(self) -> Result<SqliteStore> {
        let data_dir = &self.config.data_dir;
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|source| Error::Io {
                path: data_dir.clone(),
                source,
            })?;
        let inner = Arc::new(Inner {
            tenants: Tenants::new(self.config.max_open_tenants),
            config: self.config,
            tables: Tables::new(self.registry),
        });
        tenants::spawn_idle_sweep(Arc::downgrade(&inner));
        Ok(SqliteStore { inner })
    }
}

/// The embedded store. Cheap to clone; clones share the open databases.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: Config,
    tables: Tables,
    tenants: Tenants,
}

impl Inner {
    fn registry(&self) -> &Registry {
        self.tables.registry()
    }

    fn table_sql(&self, handler: &dyn Handler) -> &TableSql {
        self.tables.sql_of(handler)
    }
}

impl SqliteStore {
    /// Starts configuring a store of `registry`'s entities under `data_dir`.
    pub fn builder(data_dir: impl AsRef<Path>, registry: Registry) -> Builder {
        Builder {
            config: Config {
                data_dir: data_dir.as_ref().to_path_buf(),
                synchronous: Synchronous::default(),
                max_open_tenants: DEFAULT_MAX_OPEN_TENANTS,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
                max_readers: 4,
                tombstone_retention: Some(DEFAULT_TOMBSTONE_RETENTION),
            },
            registry,
        }
    }

    /// The path of `tenant`'s database.
    pub fn database_path(&self, tenant: &TenantId) -> PathBuf {
        self.inner.config.data_dir.join(format!("{tenant}.db"))
    }

    /// How many tenant databases are open now.
    pub fn open_tenants(&self) -> usize {
        self.inner.tenants.len()
    }

    /// Purges, in every open tenant, the tombstones older than the retention (see
    /// [`Builder::tombstone_retention`]); returns how many were removed. The background
    /// sweep calls it hourly.
    pub async fn purge_expired(&self) -> Result<u64> {
        let Some(retention) = self.inner.config.tombstone_retention else {
            return Ok(0);
        };
        let millis = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let horizon = Version::now().add_millis(-millis);
        let mut removed = 0;
        for db in self.inner.tenants.open_databases() {
            removed += feed::purge(&db, &self.inner, horizon).await?.removed;
        }
        Ok(removed)
    }

    /// Closes every tenant database that has been unused for the idle timeout.
    pub fn close_idle(&self) {
        self.inner
            .tenants
            .close_idle(self.inner.config.idle_timeout);
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Arc<TenantDb>> {
        self.inner
            .tenants
            .get_or_open(tenant, || {
                TenantDb::open(
                    self.database_path(tenant),
                    &self.inner.config,
                    self.inner.registry(),
                )
            })
            .await
    }

    fn arrival(&self) -> Arrival {
        Arrival {
            now: Version::now(),
            max_clock_skew: self.inner.config.max_clock_skew,
        }
    }
}

impl Store for SqliteStore {
    fn registry(&self) -> &Registry {
        self.inner.registry()
    }

    async fn apply_screened(
        &self,
        tenant: &TenantId,
        changes: &[Change],
        refusals: &[Option<Rejection>],
    ) -> Result<BatchOutcome> {
        let db = self.tenant(tenant).await?;
        apply::apply(&db, &self.inner, changes, refusals, self.arrival()).await
    }

    async fn changes_since(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> Result<ChangePage> {
        let db = self.tenant(tenant).await?;
        feed::changes_since(&db, &self.inner, cursor, limit.clamp(1, MAX_PAGE)).await
    }

    async fn bucket_feed(
        &self,
        tenant: &TenantId,
        stream: &StreamSpec,
        key: &str,
        cursor: u64,
        limit: usize,
    ) -> Result<BucketFeed> {
        let db = self.tenant(tenant).await?;
        buckets::bucket_feed(
            &db,
            &self.inner,
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
        let db = self.tenant(tenant).await?;
        buckets::moves_between(&db, after, through).await
    }

    async fn snapshot(&self, tenant: &TenantId) -> Result<Snapshot> {
        let db = self.tenant(tenant).await?;
        feed::snapshot(&db, &self.inner).await
    }

    async fn stream_snapshot<K: SnapshotSink>(
        &self,
        tenant: &TenantId,
        sink: &mut K,
    ) -> Result<()> {
        let db = self.tenant(tenant).await?;
        stream::snapshot(&db, &self.inner, sink).await
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
        let db = self.tenant(tenant).await?;
        let mut reader = db.readers.acquire().await?;
        self.inner
            .table_sql(handler)
            .load(handler, &mut reader, entity_id)
            .await
    }

    async fn list_json(
        &self,
        tenant: &TenantId,
        entity_type: &str,
    ) -> Result<Vec<serde_json::Value>> {
        let Some(handler) = self.registry().get(entity_type) else {
            return Ok(Vec::new());
        };
        let db = self.tenant(tenant).await?;
        let mut reader = db.readers.acquire().await?;
        let rows = self
            .inner
            .table_sql(handler)
            .live(handler, &mut reader)
            .await?;
        Ok(rows.into_iter().map(|row| row.data).collect())
    }

    async fn cursor(&self, tenant: &TenantId) -> Result<u64> {
        let db = self.tenant(tenant).await?;
        let mut reader = db.readers.acquire().await?;
        feed::read_meta(&mut reader, feed::SEQ_KEY).await
    }

    async fn purge_tombstones(&self, tenant: &TenantId, horizon: Version) -> Result<Purge> {
        let db = self.tenant(tenant).await?;
        feed::purge(&db, &self.inner, horizon).await
    }

    /// Closes `tenant`'s database, after any write in progress, and deletes its files. The
    /// next use of the tenant starts an empty database.
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<()> {
        let path = self.database_path(tenant);
        let db = self.inner.tenants.remove(tenant);
        if let Some(db) = &db {
            db.readers.close().await;
            // Waits for a write in progress; a later one fails instead of recreating files.
            db.writer.close().await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            match tokio::fs::remove_file(&file).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: file.into(),
                        source,
                    });
                }
            }
        }
        tracing::info!(%tenant, "deleted tenant database");
        Ok(())
    }
}
