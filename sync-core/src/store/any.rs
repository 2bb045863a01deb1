//! [`AnyStore`]: the stores compiled in, behind one type, so an app chooses its store at
//! run time (by URL, by configuration) and the rest of its code names one type.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::store::{AnyStore, Store};
//! use sync_core::{Registry, TenantId};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store: AnyStore = SqliteStore::builder(dir.path(), Registry::default())
//!     .open()
//!     .await
//!     .unwrap()
//!     .into();
//! assert_eq!(store.cursor(&TenantId::new("t").unwrap()).await.unwrap(), 0);
//! # });
//! ```

use super::{BucketFeed, ChangePage, MoveRecord, Purge, Snapshot, SnapshotSink, Store};
use crate::change::Change;
use crate::entity::Registry;
use crate::entity::stream::StreamSpec;
use crate::error::Result;
use crate::outcome::{BatchOutcome, Effect, Rejection};
use crate::tenant::TenantId;
use crate::version::Version;

/// One of the stores compiled in; implements [`Store`] by delegating to it.
#[derive(Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// The embedded store (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    Sqlite(super::sqlite::SqliteStore),
    /// The shared PostgreSQL store (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(super::postgres::PostgresStore),
}

#[cfg(feature = "sqlite")]
impl From<super::sqlite::SqliteStore> for AnyStore {
    fn from(store: super::sqlite::SqliteStore) -> AnyStore {
        AnyStore::Sqlite(store)
    }
}

#[cfg(feature = "postgres")]
impl From<super::postgres::PostgresStore> for AnyStore {
    fn from(store: super::postgres::PostgresStore) -> AnyStore {
        AnyStore::Postgres(store)
    }
}

/// Calls the same method on whichever store `self` holds.
macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($store) => $call,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($store) => $call,
        }
    };
}

impl Store for AnyStore {
    fn registry(&self) -> &Registry {
        delegate!(self, store => store.registry())
    }

    async fn apply_screened(
        &self,
        tenant: &TenantId,
        changes: &[Change],
        refusals: &[Option<Rejection>],
    ) -> Result<BatchOutcome> {
        delegate!(self, store => store.apply_screened(tenant, changes, refusals).await)
    }

    async fn changes_since(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> Result<ChangePage> {
        delegate!(self, store => store.changes_since(tenant, cursor, limit).await)
    }

    async fn bucket_feed(
        &self,
        tenant: &TenantId,
        stream: &StreamSpec,
        key: &str,
        cursor: u64,
        limit: usize,
    ) -> Result<BucketFeed> {
        delegate!(self, store => store.bucket_feed(tenant, stream, key, cursor, limit).await)
    }

    async fn moves_between(
        &self,
        tenant: &TenantId,
        after: u64,
        through: u64,
    ) -> Result<Vec<MoveRecord>> {
        delegate!(self, store => store.moves_between(tenant, after, through).await)
    }

    async fn snapshot(&self, tenant: &TenantId) -> Result<Snapshot> {
        delegate!(self, store => store.snapshot(tenant).await)
    }

    async fn stream_snapshot<K: SnapshotSink>(
        &self,
        tenant: &TenantId,
        sink: &mut K,
    ) -> Result<()> {
        delegate!(self, store => store.stream_snapshot(tenant, sink).await)
    }

    async fn get_state(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<Option<Effect>> {
        delegate!(self, store => store.get_state(tenant, entity_type, entity_id).await)
    }

    async fn list_json(
        &self,
        tenant: &TenantId,
        entity_type: &str,
    ) -> Result<Vec<serde_json::Value>> {
        delegate!(self, store => store.list_json(tenant, entity_type).await)
    }

    async fn cursor(&self, tenant: &TenantId) -> Result<u64> {
        delegate!(self, store => store.cursor(tenant).await)
    }

    async fn purge_tombstones(&self, tenant: &TenantId, horizon: Version) -> Result<Purge> {
        delegate!(self, store => store.purge_tombstones(tenant, horizon).await)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<()> {
        delegate!(self, store => store.delete_tenant(tenant).await)
    }
}

impl AnyStore {
    /// Purges every tenant's tombstones older than the store's retention; see
    /// `SqliteStore::purge_expired` and `PostgresStore::purge_expired`.
    pub async fn purge_expired(&self) -> Result<u64> {
        delegate!(self, store => store.purge_expired().await)
    }
}
