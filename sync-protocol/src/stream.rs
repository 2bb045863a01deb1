//! The messages of partial sync (`docs/partial-sync.md`): a client subscribes to declared
//! streams instead of the whole tenant, and receives its buckets' changes in pages, each
//! change labelled with its bucket, and checkpoints that bound every subscription.
//!
//! ```
//! use sync_protocol::{BucketOp, Checkpoint, ServerMessage, StreamChange, StreamPage};
//!
//! let page = ServerMessage::StreamPage(StreamPage {
//!     subscription: Some("s1".into()),
//!     changes: vec![StreamChange {
//!         op: BucketOp::Leave,
//!         stream: "by_account".into(),
//!         bucket: "A".into(),
//!         entity_type: "Transaction".into(),
//!         entity_id: "t1".into(),
//!         seq: 9,
//!         data: None,
//!     }],
//!     has_more: false,
//! });
//! assert_eq!(ServerMessage::decode(&page.to_text()).unwrap(), page);
//! let checkpoint = ServerMessage::Checkpoint(Checkpoint { cursor: 9, subscription: None, pages: Some(1) });
//! assert_eq!(checkpoint.to_text(), r#"{"type":"checkpoint","cursor":9,"pages":1}"#);
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// `subscribed`: the buckets a subscribe resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The client's subscription id.
    pub id: String,
    /// The stream.
    pub stream: String,
    /// The stream's definition hash now; a client keeps it for its next subscribe.
    pub definition: String,
    /// The keys of the buckets the subscription holds: the requested ones the principal may
    /// see.
    pub buckets: Vec<String>,
    /// The cursor catch-up starts from: the client's, or 0 when its buckets are reloaded.
    pub cursor: u64,
}

/// Why a subscribe was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubscriptionErrorCode {
    /// No stream of that name is declared.
    UnknownStream,
    /// The subscription would hold more buckets than the server allows.
    TooManyBuckets,
    /// The principal's role is below the stream's least role.
    Forbidden,
    /// A key does not fit the stream's partition column, or the id is taken or invalid.
    InvalidParameters,
    /// The session holds as many subscriptions as the server allows.
    TooManySubscriptions,
}

/// `subscription_error`: one subscribe refused; every other subscription keeps syncing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionError {
    /// The client's subscription id.
    pub id: String,
    /// The stream it named.
    pub stream: String,
    /// The typed reason.
    pub code: SubscriptionErrorCode,
    /// A human explanation.
    pub message: String,
}

/// What a [`StreamChange`] does to the row in its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketOp {
    /// The row is in the bucket, in this state.
    Put,
    /// The row left the bucket (moved to another key, or the filter now refuses it); it
    /// still exists.
    Leave,
    /// The row was deleted.
    Tombstone,
}

/// One change of a [`StreamPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamChange {
    /// Put, leave or tombstone.
    pub op: BucketOp,
    /// The stream.
    pub stream: String,
    /// The bucket's key.
    pub bucket: String,
    /// The entity's wire name.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// The sequence number of the change.
    pub seq: u64,
    /// The row's JSON for a put; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Json>,
}

/// `stream_page`: changes of buckets, in sequence order. A catch-up page names its
/// subscription; a live page (one committed change, shared by every session holding the
/// bucket) names none. Apply a page in one local transaction; move cursors only at a
/// [`Checkpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamPage {
    /// The subscription being caught up, for a catch-up page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The changes.
    pub changes: Vec<StreamChange>,
    /// Whether more pages of this catch-up follow.
    #[serde(default)]
    pub has_more: bool,
}

/// `bucket_snapshot`: every live row of one bucket, for a subscription that loads it whole
/// (no cursor, a reset, or a changed definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketSnapshot {
    /// The subscription.
    pub subscription: String,
    /// The stream.
    pub stream: String,
    /// The bucket's key.
    pub bucket: String,
    /// The entity's wire name.
    pub entity_type: String,
    /// The sequence number the rows reflect.
    pub cursor: u64,
    /// The rows' JSON.
    pub rows: Vec<Json>,
}

/// Why a bucket left a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemovedReason {
    /// The principal may no longer see the key.
    Revoked,
    /// The principal's role fell below the stream's least role.
    Role,
    /// The client unsubscribed.
    Unsubscribed,
    /// The stream's definition changed: the bucket is reloaded under the new one.
    Definition,
}

/// `bucket_removed`: the subscription no longer holds this bucket. Rows held by nothing
/// else leave the replica (after `ttl_secs`, for an unsubscribe with a TTL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRemoved {
    /// The subscription.
    pub subscription: String,
    /// The stream.
    pub stream: String,
    /// The bucket's key.
    pub bucket: String,
    /// Why.
    pub reason: RemovedReason,
    /// How long the client may keep the rows warm, for an unsubscribe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

/// `checkpoint`: every subscription of the session is complete up to `cursor`; the
/// client moves its subscriptions' cursors here, and only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The tenant sequence number.
    pub cursor: u64,
    /// Set at the end of one subscription's catch-up: only that subscription is complete
    /// up to `cursor`. Absent (live delivery): every subscription of the session is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// On a live checkpoint: how many live `stream_page`s this connection has carried so
    /// far. On a checkpoint naming a subscription: how many frames of that subscription
    /// (`bucket_removed`, `bucket_snapshot`, `stream_page`) the connection has carried since
    /// its `subscribed`, re-resolutions included. A client that received another count lost
    /// one: it must not move its cursors, and catches the subscriptions up again instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
}
