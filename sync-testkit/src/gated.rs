//! A store whose applies and snapshots a test holds and releases, to catch the engine in the
//! middle of a commit or a load: how many are waiting, how they were batched, how many ran
//! at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sync_core::change::Change;
use sync_core::entity::stream::StreamSpec;
use sync_core::outcome::{BatchOutcome, Effect, Rejection};
use sync_core::store::{BucketFeed, ChangePage, MoveRecord, Purge, Snapshot, Store};
use sync_core::{Registry, TenantId, Version};
use tokio::sync::{Semaphore, watch};

/// `inner` behind two gates. Clones share the gates and the counts.
#[derive(Clone)]
pub struct Gated<S> {
    inner: S,
    applies_open: Arc<watch::Sender<bool>>,
    batches: Arc<Mutex<Vec<usize>>>,
    applies_started: Arc<watch::Sender<usize>>,
    snapshot_permits: Arc<Semaphore>,
    snapshots_active: Arc<AtomicUsize>,
    snapshots_peak: Arc<AtomicUsize>,
}

impl<S: Store + Clone> Gated<S> {
    /// Both gates open: the store only counts.
    pub fn new(inner: S) -> Gated<S> {
        Gated {
            inner,
            applies_open: Arc::new(watch::channel(true).0),
            batches: Arc::default(),
            applies_started: Arc::new(watch::channel(0).0),
            snapshot_permits: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            snapshots_active: Arc::default(),
            snapshots_peak: Arc::default(),
        }
    }

    /// Every apply waits until [`release_applies`](Gated::release_applies).
    pub fn applies_held(inner: S) -> Gated<S> {
        let gated = Gated::new(inner);
        gated.applies_open.send_replace(false);
        gated
    }

    /// Every snapshot waits for a permit of [`release_snapshots`](Gated::release_snapshots).
    pub fn snapshots_held(inner: S) -> Gated<S> {
        Gated {
            snapshot_permits: Arc::new(Semaphore::new(0)),
            ..Gated::new(inner)
        }
    }

    /// Lets every apply through, waiting and future.
    pub fn release_applies(&self) {
        self.applies_open.send_replace(true);
    }

    /// Waits until `count` applies have started (within 5 s).
    pub async fn applies_started(&self, count: usize) {
        let mut started = self.applies_started.subscribe();
        tokio::time::timeout(Duration::from_secs(5), started.wait_for(|n| *n >= count))
            .await
            .expect("the writer applies within 5 s")
            .unwrap();
    }

    /// The size of every batch applied so far, in order.
    pub fn batches(&self) -> Vec<usize> {
        self.batches.lock().unwrap().clone()
    }

    /// Lets `count` more snapshots through.
    pub fn release_snapshots(&self, count: usize) {
        self.snapshot_permits.add_permits(count);
    }

    /// Snapshots started and not finished.
    pub fn snapshots_active(&self) -> usize {
        self.snapshots_active.load(Ordering::SeqCst)
    }

    /// The most snapshots that were active at once.
    pub fn snapshots_peak(&self) -> usize {
        self.snapshots_peak.load(Ordering::SeqCst)
    }
}

// `stream_snapshot` keeps the trait's default, which goes through the gated `snapshot`.
impl<S: Store + Clone> Store for Gated<S> {
    fn registry(&self) -> &Registry {
        self.inner.registry()
    }

    async fn apply_screened(
        &self,
        tenant: &TenantId,
        changes: &[Change],
        refusals: &[Option<Rejection>],
    ) -> sync_core::Result<BatchOutcome> {
        self.batches.lock().unwrap().push(changes.len());
        self.applies_started.send_modify(|n| *n += 1);
        let _ = self.applies_open.subscribe().wait_for(|open| *open).await;
        self.inner.apply_screened(tenant, changes, refusals).await
    }

    async fn changes_since(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> sync_core::Result<ChangePage> {
        self.inner.changes_since(tenant, cursor, limit).await
    }

    async fn bucket_feed(
        &self,
        tenant: &TenantId,
        stream: &StreamSpec,
        key: &str,
        cursor: u64,
        limit: usize,
    ) -> sync_core::Result<BucketFeed> {
        self.inner
            .bucket_feed(tenant, stream, key, cursor, limit)
            .await
    }

    async fn moves_between(
        &self,
        tenant: &TenantId,
        after: u64,
        through: u64,
    ) -> sync_core::Result<Vec<MoveRecord>> {
        self.inner.moves_between(tenant, after, through).await
    }

    async fn snapshot(&self, tenant: &TenantId) -> sync_core::Result<Snapshot> {
        let now = self.snapshots_active.fetch_add(1, Ordering::SeqCst) + 1;
        self.snapshots_peak.fetch_max(now, Ordering::SeqCst);
        self.snapshot_permits.acquire().await.unwrap().forget();
        let snapshot = self.inner.snapshot(tenant).await;
        self.snapshots_active.fetch_sub(1, Ordering::SeqCst);
        snapshot
    }

    async fn get_state(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> sync_core::Result<Option<Effect>> {
        self.inner.get_state(tenant, entity_type, entity_id).await
    }

    async fn list_json(
        &self,
        tenant: &TenantId,
        entity_type: &str,
    ) -> sync_core::Result<Vec<serde_json::Value>> {
        self.inner.list_json(tenant, entity_type).await
    }

    async fn cursor(&self, tenant: &TenantId) -> sync_core::Result<u64> {
        self.inner.cursor(tenant).await
    }

    async fn purge_tombstones(
        &self,
        tenant: &TenantId,
        horizon: Version,
    ) -> sync_core::Result<Purge> {
        self.inner.purge_tombstones(tenant, horizon).await
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> sync_core::Result<()> {
        self.inner.delete_tenant(tenant).await
    }
}
