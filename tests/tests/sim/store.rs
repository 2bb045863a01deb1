//! The server's store, counted: the simulation waits until no store call is in flight
//! (SQLite runs on sqlx's worker threads, outside tokio's clock) before its next step. It
//! also records every change the store commits into the simulation's [`History`], the
//! checkpoint oracle's model of the server.
//!
//! [`History`]: crate::history::History

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sync_core::change::Change;
use sync_core::entity::stream::StreamSpec;
use sync_core::outcome::{BatchOutcome, Effect, Rejection};
use sync_core::store::sqlite::SqliteStore;
use sync_core::store::{BucketFeed, ChangePage, MoveRecord, Purge, Snapshot, SnapshotSink, Store};
use sync_core::version::Version;
use sync_core::{Registry, Result, TenantId};

use crate::history;

/// A [`SqliteStore`] that counts its calls in flight and records what it commits.
#[derive(Clone)]
pub(crate) struct Counting {
    pub(crate) inner: SqliteStore,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) history: history::Shared,
}

/// One call in flight, from the call until its future is done or dropped.
struct Call(Arc<AtomicUsize>);

impl Drop for Call {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counting {
    fn call(&self) -> Call {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Call(self.in_flight.clone())
    }
}

async fn counted<T>(call: Call, future: impl Future<Output = T>) -> T {
    let result = future.await;
    drop(call);
    result
}

impl Store for Counting {
    fn registry(&self) -> &Registry {
        self.inner.registry()
    }

    fn apply_screened(
        &self,
        tenant: &TenantId,
        changes: &[Change],
        refusals: &[Option<Rejection>],
    ) -> impl Future<Output = Result<BatchOutcome>> + Send {
        let history = self.history.clone();
        let call = self.call();
        let applied = self.inner.apply_screened(tenant, changes, refusals);
        async move {
            let outcome = applied.await;
            // Recorded before the call counts as done: the next step sees it.
            if let Ok(outcome) = &outcome {
                history.lock().record(outcome);
            }
            drop(call);
            outcome
        }
    }

    fn changes_since(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<ChangePage>> + Send {
        counted(self.call(), self.inner.changes_since(tenant, cursor, limit))
    }

    fn bucket_feed(
        &self,
        tenant: &TenantId,
        stream: &StreamSpec,
        key: &str,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<BucketFeed>> + Send {
        counted(
            self.call(),
            self.inner.bucket_feed(tenant, stream, key, cursor, limit),
        )
    }

    fn moves_between(
        &self,
        tenant: &TenantId,
        after: u64,
        through: u64,
    ) -> impl Future<Output = Result<Vec<MoveRecord>>> + Send {
        counted(
            self.call(),
            self.inner.moves_between(tenant, after, through),
        )
    }

    fn snapshot(&self, tenant: &TenantId) -> impl Future<Output = Result<Snapshot>> + Send {
        counted(self.call(), self.inner.snapshot(tenant))
    }

    fn stream_snapshot<K: SnapshotSink>(
        &self,
        tenant: &TenantId,
        sink: &mut K,
    ) -> impl Future<Output = Result<()>> + Send {
        counted(self.call(), self.inner.stream_snapshot(tenant, sink))
    }

    fn get_state(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> impl Future<Output = Result<Option<Effect>>> + Send {
        counted(
            self.call(),
            self.inner.get_state(tenant, entity_type, entity_id),
        )
    }

    fn list_json(
        &self,
        tenant: &TenantId,
        entity_type: &str,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>>> + Send {
        counted(self.call(), self.inner.list_json(tenant, entity_type))
    }

    fn cursor(&self, tenant: &TenantId) -> impl Future<Output = Result<u64>> + Send {
        counted(self.call(), self.inner.cursor(tenant))
    }

    fn purge_tombstones(
        &self,
        tenant: &TenantId,
        horizon: Version,
    ) -> impl Future<Output = Result<Purge>> + Send {
        counted(self.call(), self.inner.purge_tombstones(tenant, horizon))
    }

    fn delete_tenant(&self, tenant: &TenantId) -> impl Future<Output = Result<()>> + Send {
        counted(self.call(), self.inner.delete_tenant(tenant))
    }
}
