//! The large server message, `initial_data_load`, encoded straight into its text frame:
//! each row's JSON is written into the one output buffer as it comes, never gathered into a
//! tree of every row first.
//!
//! The bytes are exactly those of [`ServerMessage::to_text`] for the same content (keys in
//! the same order; the same collections; the same `cursor`), so clients see no difference.
//! [`InitialLoad`] is a [`SnapshotSink`]: a store streams its rows into it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sync_core::protocol::{InitialLoad, initial_data_load};
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::store::Store;
//! use sync_core::{Registry, TenantId};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Registry::default()).open().await.unwrap();
//! let tenant = TenantId::new("t").unwrap();
//! let mut frame = InitialLoad::new(&tenant);
//! store.stream_snapshot(&tenant, &mut frame).await.unwrap();
//! let streamed = frame.finish();
//!
//! let snapshot = store.snapshot(&tenant).await.unwrap();
//! assert_eq!(&*streamed, initial_data_load(&tenant, snapshot).to_text());
//! # });
//! ```

use std::any::Any;
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value as Json;

use super::{InitialDataLoad, ServerMessage};
use crate::store::{Snapshot, SnapshotSink};
use crate::tenant::TenantId;

/// The `initial_data_load` of `snapshot`, built in memory; [`InitialLoad`] writes the same
/// bytes row by row.
pub fn initial_data_load(tenant: &TenantId, snapshot: Snapshot) -> ServerMessage {
    ServerMessage::InitialDataLoad(InitialDataLoad {
        tenant_id: tenant.to_string(),
        cursor: snapshot.cursor,
        payload: snapshot
            .collections
            .into_iter()
            .map(|(name, rows)| (name.to_owned(), rows))
            .collect(),
    })
}

/// An `initial_data_load` frame being written by a streamed snapshot.
///
/// Feed it with [`Store::stream_snapshot`](crate::store::Store::stream_snapshot), then take
/// the frame with [`InitialLoad::finish`]. Its memory is the frame's size plus one row.
#[derive(Debug)]
pub struct InitialLoad {
    out: Vec<u8>,
    tenant_id: String,
    started: bool,
    collections: usize,
    rows_in_collection: usize,
    /// Collections written empty: the session takes them through streams only.
    withheld: Vec<&'static str>,
    withholding: bool,
    /// Collections left out: no session receives their entity whole.
    omitted: Vec<&'static str>,
    omitting: bool,
}

impl InitialLoad {
    /// An empty frame for `tenant`.
    pub fn new(tenant: &TenantId) -> InitialLoad {
        InitialLoad {
            out: Vec::new(),
            tenant_id: tenant.to_string(),
            started: false,
            collections: 0,
            rows_in_collection: 0,
            withheld: Vec::new(),
            withholding: false,
            omitted: Vec::new(),
            omitting: false,
        }
    }

    /// The same frame with `collections` present but empty: a session that takes their
    /// entity through streams only must not receive it whole.
    pub fn withholding(mut self, collections: Vec<&'static str>) -> InitialLoad {
        self.withheld = collections;
        self
    }

    /// The same frame without `collections` at all: entities that reach clients only
    /// through streams, whatever their role, are no part of the tenant's whole, so an old
    /// client sees the collections it always saw.
    pub fn omitting(mut self, collections: Vec<&'static str>) -> InitialLoad {
        self.omitted = collections;
        self
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Closes the frame and returns its text, ready to send. A frame that never got a
    /// cursor (the store wrote nothing) is the load of an empty tenant at cursor 0.
    pub fn finish(mut self) -> Arc<str> {
        if !self.started {
            self.cursor(0);
        }
        if self.collections > 0 {
            self.out.push(b']');
        }
        self.out.extend_from_slice(b"}}");
        Arc::from(text(&self.out))
    }
}

impl SnapshotSink for InitialLoad {
    fn cursor(&mut self, cursor: u64) {
        self.started = true;
        // The order of `ServerMessage::InitialDataLoad`: the tag, then the fields as declared.
        self.out
            .extend_from_slice(b"{\"event_type\":\"initial_data_load\",\"tenant_id\":");
        write_json(&mut self.out, &self.tenant_id);
        let _ = write!(self.out, ",\"cursor\":{cursor},\"payload\":{{");
    }

    fn collection(&mut self, name: &'static str) {
        self.omitting = self.omitted.contains(&name);
        if self.omitting {
            return;
        }
        if self.collections > 0 {
            self.out.extend_from_slice(b"],");
        }
        write_json(&mut self.out, name);
        self.out.extend_from_slice(b":[");
        self.collections += 1;
        self.rows_in_collection = 0;
        self.withholding = self.withheld.contains(&name);
    }

    fn row(&mut self, row: &Json) {
        if self.withholding || self.omitting {
            return;
        }
        if self.rows_in_collection > 0 {
            self.out.push(b',');
        }
        write_json(&mut self.out, row);
        self.rows_in_collection += 1;
    }
}

/// Appends `value`'s compact JSON. Writing into a `Vec` cannot fail, and neither can
/// serialising a JSON value or a string.
fn write_json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    let written = serde_json::to_writer(out, value);
    debug_assert!(
        written.is_ok(),
        "serialising into memory failed: {written:?}"
    );
}

/// The buffer as text: `serde_json` and the literals above write only UTF-8.
fn text(out: &[u8]) -> &str {
    std::str::from_utf8(out).unwrap_or_else(|error| {
        unreachable!(
            "the encoder wrote invalid UTF-8 at byte {}",
            error.valid_up_to()
        )
    })
}

/// A message already encoded as its text frame, with whatever it keeps reserved (such as
/// one of the engine's snapshot slots) until the last clone of it is dropped.
///
/// A session keeps its replies until they are sent, so a slot held by a frame stays taken
/// until the transport has accepted the frame.
#[derive(Clone)]
pub struct Frame {
    text: Arc<str>,
    hold: Option<Arc<dyn Any + Send + Sync>>,
}

impl Frame {
    /// A frame of `text` that holds nothing.
    pub fn new(text: Arc<str>) -> Frame {
        Frame { text, hold: None }
    }

    /// A frame of `text` that keeps `hold` alive until the frame and all its clones drop.
    pub fn holding(text: Arc<str>, hold: impl Any + Send + Sync) -> Frame {
        Frame {
            text,
            hold: Some(Arc::new(hold)),
        }
    }

    /// The text.
    pub fn text(&self) -> &Arc<str> {
        &self.text
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.text == other.text
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("bytes", &self.text.len())
            .field("holds", &self.hold.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn omitted_collections_leave_no_trace_and_withheld_ones_stay_empty() {
        let tenant = TenantId::new("t").unwrap();
        let mut frame = InitialLoad::new(&tenant)
            .withholding(vec!["held"])
            .omitting(vec!["first", "middle", "last"]);
        frame.cursor(7);
        for name in ["first", "kept", "middle", "held", "last"] {
            frame.collection(name);
            frame.row(&json!({"id": name}));
        }
        let load: Json = serde_json::from_str(&frame.finish()).unwrap();
        assert_eq!(
            load["payload"],
            json!({"kept": [{"id": "kept"}], "held": []})
        );
        assert_eq!(load["cursor"], 7);
    }
}
