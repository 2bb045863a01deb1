//! Streamed snapshots: a store hands a tenant's rows to a [`SnapshotSink`] as it reads them,
//! so a caller can encode a large initial load without holding every row at once.
//!
//! [`Store::stream_snapshot`](super::Store::stream_snapshot) drives a sink in this order:
//! [`SnapshotSink::cursor`] once, then for every registered collection, in ascending name
//! order and each exactly once (empty ones included), [`SnapshotSink::collection`] followed by
//! one [`SnapshotSink::row`] per live row in id order. That is the order and content of
//! [`Snapshot`], so a sink that collects reproduces [`Store::snapshot`](super::Store::snapshot)
//! exactly, as [`Collect`] does:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::store::{Collect, Store};
//! use sync_core::{Registry, TenantId};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Registry::default()).open().await.unwrap();
//! let tenant = TenantId::new("t").unwrap();
//! let mut collected = Collect::default();
//! store.stream_snapshot(&tenant, &mut collected).await.unwrap();
//! assert_eq!(collected.into_snapshot(), store.snapshot(&tenant).await.unwrap());
//! # });
//! ```
//!
//! The protocol's `initial_data_load` encoder is such a sink: it writes each row's JSON
//! straight into the outgoing frame.

use serde_json::Value as Json;

use super::Snapshot;

/// Receives a snapshot as a store reads it; see the [module docs](self) for the order of
/// calls a store guarantees.
pub trait SnapshotSink: Send {
    /// The tenant sequence number the snapshot reflects; called once, first.
    fn cursor(&mut self, cursor: u64);

    /// The next collection starts; its rows follow. Collections come in ascending name
    /// order, every registered one exactly once.
    fn collection(&mut self, name: &'static str);

    /// One live row of the current collection, as its entity's JSON; rows come in id order.
    fn row(&mut self, row: &Json);
}

/// A sink that collects into a [`Snapshot`]: what a streamed snapshot amounts to.
#[derive(Debug, Default)]
pub struct Collect {
    snapshot: Snapshot,
    current: Option<&'static str>,
}

impl Collect {
    /// The collected snapshot.
    pub fn into_snapshot(self) -> Snapshot {
        self.snapshot
    }
}

impl SnapshotSink for Collect {
    fn cursor(&mut self, cursor: u64) {
        self.snapshot.cursor = cursor;
    }

    fn collection(&mut self, name: &'static str) {
        self.snapshot.collections.entry(name).or_default();
        self.current = Some(name);
    }

    fn row(&mut self, row: &Json) {
        let name = self.current.unwrap_or_default();
        self.snapshot
            .collections
            .entry(name)
            .or_default()
            .push(row.clone());
    }
}

/// Drives `sink` from a materialised `snapshot`, in the order of the [module docs](self).
pub(crate) fn replay(snapshot: &Snapshot, sink: &mut impl SnapshotSink) {
    sink.cursor(snapshot.cursor);
    // A `BTreeMap` iterates in ascending name order, as the contract asks.
    for (name, rows) in &snapshot.collections {
        sink.collection(name);
        for row in rows {
            sink.row(row);
        }
    }
}
