//! Initial loads, bounded: at most [`Config::max_snapshots`](super::Config::max_snapshots)
//! frames exist at once across the engine, because each one is the size of its tenant's
//! data. A slot is taken before the rows are read and given back when the frame is dropped,
//! which a session does once the transport has accepted it. A load beyond the bound waits for a slot up to
//! [`Config::snapshot_wait`](super::Config::snapshot_wait), then fails with
//! [`LoadError::Busy`], which the session answers with a retryable `error`.

use std::time::Duration;

use super::Engine;
use crate::protocol::{Frame, InitialLoad};
use crate::store::Store;
use crate::tenant::TenantId;

/// Why an initial load produced no frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Every snapshot slot stayed taken for `waited`; nothing was read. Retrying later
    /// may succeed.
    #[error("too many initial loads are in progress (waited {waited:?}); retry in a few seconds")]
    Busy {
        /// How long the load waited for a slot.
        waited: Duration,
    },
    /// The store failed; retrying may succeed.
    #[error(transparent)]
    Storage(#[from] crate::Error),
}

impl<S: Store> Engine<S> {
    /// `tenant`'s `initial_data_load` frame, streamed from the store into one text buffer
    /// (see [`InitialLoad`]), while holding one of the engine's snapshot slots.
    /// The frame keeps the slot until it (and every clone of it) is dropped, so a frame
    /// waiting for a slow client still counts against the bound.
    pub async fn initial_load(&self, tenant: &TenantId) -> Result<Frame, LoadError> {
        self.initial_load_withholding(tenant, Vec::new()).await
    }

    /// [`initial_load`](Self::initial_load) with the rows of `collections` left out (each
    /// still present, empty): for a session that takes those entities through streams.
    /// The collections of entities no role receives whole
    /// ([`Registry::stream_only_collections`](crate::entity::Registry::stream_only_collections))
    /// are left out of every load.
    pub async fn initial_load_withholding(
        &self,
        tenant: &TenantId,
        collections: Vec<&'static str>,
    ) -> Result<Frame, LoadError> {
        let waited = self.inner.config.snapshot_wait;
        let slots = self.inner.snapshots.clone();
        let slot = match tokio::time::timeout(waited, slots.acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; a closed one means no slot will come.
            Ok(Err(_)) | Err(_) => return Err(LoadError::Busy { waited }),
        };
        let registry = self.inner.store.registry();
        let mut frame = InitialLoad::new(tenant)
            .withholding(collections)
            .omitting(registry.stream_only_collections());
        self.inner.store.stream_snapshot(tenant, &mut frame).await?;
        Ok(Frame::holding(frame.finish(), slot))
    }

    /// How many initial loads could start now without waiting.
    pub fn free_snapshot_slots(&self) -> usize {
        self.inner.snapshots.available_permits()
    }
}
