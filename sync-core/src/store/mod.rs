//! Stores: where a tenant's entities, tombstones and change feed live.
//!
//! A [`Store`] applies batches of [`Change`]s under last-write-wins, keeps tombstones,
//! numbers every committed change in a per-tenant sequence, and serves that sequence as a
//! change feed. [`sqlite::SqliteStore`] is the embedded implementation,
//! `postgres::PostgresStore` (feature `postgres`) the one whose tenants share tables, and
//! [`AnyStore`] either, chosen at run time. The decisions are the same in every store: they
//! are made by one planner, and a store only reads and writes. The contract below
//! is what every implementation keeps and what the shared test-suite checks.
//!
//! Contract:
//! - `apply` commits every winning change of a batch in one transaction, or none of them,
//!   and returns one [`Outcome`](crate::outcome::Outcome) per change, in order. A rejected
//!   change writes nothing and does not abort the others.
//! - The ids of processed changes are recorded in the same transaction; a retry gets
//!   [`Outcome::Duplicate`](crate::outcome::Outcome::Duplicate) with the original result and
//!   the entity's current stored state.
//! - `apply_screened` takes the refusals of the app's [rules](crate::entity::rules), one per
//!   change: a refused change is [`Outcome::Rejected`](crate::outcome::Outcome::Rejected)
//!   with its refusal, unless its id was processed before (then it is a duplicate, as
//!   above), so a refusal never contradicts an outcome already answered.
//! - Every committed change, tombstones included, takes the tenant's next sequence number,
//!   in commit order, so a cursor never skips a committed change.
//! - Every query is bound to one tenant; no call returns another tenant's data.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod any;
pub mod catch_up;
pub mod ddl;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod page;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod plan;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod query;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod stream;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod row;
mod typed;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::change::Change;
use crate::entity::Registry;
use crate::entity::stream::StreamSpec;
use crate::error::Result;
use crate::outcome::{BatchOutcome, Effect, Rejection};
use crate::tenant::TenantId;
use crate::version::Version;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use any::AnyStore;
pub use stream::{Collect, SnapshotSink};
pub use typed::StoreExt;

/// The most changes one [`Store::changes_since`] page returns, whatever the caller asks.
pub const MAX_PAGE: usize = 10_000;
/// The default time tombstones (and processed change ids) are kept: 30 days.
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// The default tolerance for versions in the future, beyond which they are clamped.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A tenant-partitioned store of syncable entities. See the [module docs](self) for the
/// contract.
pub trait Store: Send + Sync + 'static {
    /// The entities this store holds.
    fn registry(&self) -> &Registry;

    /// Applies `changes` in one transaction; see the module docs.
    fn apply(
        &self,
        tenant: &TenantId,
        changes: &[Change],
    ) -> impl Future<Output = Result<BatchOutcome>> + Send {
        self.apply_screened(tenant, changes, &[])
    }

    /// Applies `changes` in one transaction, refusing those the app's rules refused:
    /// `refusals` is empty (none refused) or holds one entry per change. See the module
    /// docs.
    fn apply_screened(
        &self,
        tenant: &TenantId,
        changes: &[Change],
        refusals: &[Option<Rejection>],
    ) -> impl Future<Output = Result<BatchOutcome>> + Send;

    /// Up to `limit` committed changes with a sequence number above `cursor`, in sequence
    /// order: rows as they are now, and tombstones.
    fn changes_since(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<ChangePage>> + Send;

    /// One bucket of a stream, after `cursor`: up to `limit` rows whose partition column is
    /// `key` and up to `limit` moves out of it, each found by an index scan on (key, seq).
    /// Read in one transaction with the tenant's cursor. A store without streams support
    /// refuses.
    fn bucket_feed(
        &self,
        tenant: &TenantId,
        stream: &StreamSpec,
        key: &str,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<BucketFeed>> + Send {
        let _ = (tenant, key, cursor, limit);
        let name = stream.name;
        async move {
            Err(crate::Error::Unsupported(format!(
                "this store cannot serve the stream {name}"
            )))
        }
    }

    /// The moves feed's entries with a sequence number in `after + 1 ..= through`, in
    /// sequence order: as (stream, old key, seq, entity id). A node that learns of another
    /// node's commits routes them by bucket with these. A store without streams support
    /// refuses.
    fn moves_between(
        &self,
        tenant: &TenantId,
        after: u64,
        through: u64,
    ) -> impl Future<Output = Result<Vec<MoveRecord>>> + Send {
        let _ = (tenant, after, through);
        async move {
            Err(crate::Error::Unsupported(
                "this store has no moves feed".to_owned(),
            ))
        }
    }

    /// Every live row of every collection, never truncated, with the cursor it reflects.
    fn snapshot(&self, tenant: &TenantId) -> impl Future<Output = Result<Snapshot>> + Send;

    /// The same rows and cursor as [`Store::snapshot`], handed to `sink` as they are read,
    /// in the order of the [`stream`] module docs. The rows and the cursor describe one
    /// moment. On an error the sink holds a partial snapshot and must be discarded.
    ///
    /// The default materialises [`Store::snapshot`] and replays it: correct, but it holds
    /// every row at once. A store overrides it to read rows one at a time.
    fn stream_snapshot<K: SnapshotSink>(
        &self,
        tenant: &TenantId,
        sink: &mut K,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            let snapshot = self.snapshot(tenant).await?;
            stream::replay(&snapshot, sink);
            Ok(())
        }
    }

    /// The stored state of one entity, live or tombstone.
    fn get_state(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> impl Future<Output = Result<Option<Effect>>> + Send;

    /// Every live row of one entity, as JSON, ordered by id.
    fn list_json(
        &self,
        tenant: &TenantId,
        entity_type: &str,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>>> + Send;

    /// The tenant's current sequence number: the cursor of its latest change.
    fn cursor(&self, tenant: &TenantId) -> impl Future<Output = Result<u64>> + Send;

    /// Forgets tombstones whose version is older than `horizon`. Feed cursors below the
    /// newest forgotten tombstone then get [`ChangePage::reset`].
    fn purge_tombstones(
        &self,
        tenant: &TenantId,
        horizon: Version,
    ) -> impl Future<Output = Result<Purge>> + Send;

    /// Removes every row, tombstone, sequence number and processed change id of `tenant`,
    /// and nothing of any other tenant. The next use of the tenant starts empty, at cursor 0.
    fn delete_tenant(&self, tenant: &TenantId) -> impl Future<Output = Result<()>> + Send;
}

/// One page of a tenant's change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// The changes, in sequence order; each carries its own `seq`.
    pub changes: Vec<Effect>,
    /// The cursor to ask from next: the last change's `seq`, or the request's cursor.
    pub cursor: u64,
    /// Whether more changes follow this page.
    pub has_more: bool,
    /// The requested cursor is unusable (older than the tombstone horizon, or ahead of
    /// the tenant): discard the replica and reload from cursor 0.
    pub reset: bool,
}

/// Every live row of a tenant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Collection name to its rows' JSON, for every registered entity, even when empty.
    pub collections: BTreeMap<&'static str, Vec<serde_json::Value>>,
    /// The tenant sequence number this snapshot reflects.
    pub cursor: u64,
}

/// What a tombstone purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    /// How many tombstones were removed.
    pub removed: u64,
    /// Cursors below this sequence number now get a reset.
    pub horizon_seq: u64,
}

/// One bucket's part of a stream's catch-up: what [`Store::bucket_feed`] read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BucketFeed {
    /// Rows whose partition column holds the bucket's key, changed after the cursor, in
    /// sequence order: live rows and tombstones (which keep their key columns).
    pub rows: Vec<Effect>,
    /// Rows that left the bucket after the cursor, as (entity id, seq), in sequence order.
    pub moves: Vec<(String, u64)>,
    /// The tenant's sequence number when this was read.
    pub cursor: u64,
    /// The cursor is older than the tombstone horizon: the bucket must be reloaded.
    pub reset: bool,
}

/// A moves-feed row as both stores select it: (stream, old key, seq, entity id).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type MoveRow = (String, String, i64, String);

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<MoveRow> for MoveRecord {
    fn from((stream, old_key, seq, entity_id): MoveRow) -> MoveRecord {
        MoveRecord {
            stream,
            old_key,
            seq: u64::try_from(seq).unwrap_or_default(),
            entity_id,
        }
    }
}

/// One entry of the moves feed: at `seq`, the row `entity_id` left the bucket `old_key` of
/// `stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRecord {
    /// The stream.
    pub stream: String,
    /// The bucket's key.
    pub old_key: String,
    /// The change's sequence number.
    pub seq: u64,
    /// The row.
    pub entity_id: String,
}
