//! Messages from the server to clients. Each is a struct; [`ServerMessage`] tags it with
//! `type`, or with `event_type` for `data_update` and `initial_data_load`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value as Json;

use crate::answer::{Ack, Nack};
use crate::decode::{self, DecodeError, Tag};
use crate::limits::Limits;
use crate::operation::Operation;
use crate::stream::{
    BucketRemoved, BucketSnapshot, Checkpoint, StreamPage, Subscribed, SubscriptionError,
};

/// A message from the server.
///
/// ```
/// use sync_protocol::{ServerMessage, Status, StatusKind};
///
/// let online = ServerMessage::Status(Status { status: StatusKind::Online, message: None });
/// assert_eq!(online.to_text(), r#"{"type":"status","status":"online"}"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// `status`: `online` right after the upgrade, `shutdown` before a graceful close.
    Status(Status),
    /// `pong`, echoing the ping's timestamp.
    Pong(Pong),
    /// The server's own keep-alive `ping`.
    Ping(Ping),
    /// `sync_ack`.
    Ack(Ack),
    /// `sync_nack`.
    Nack(Nack),
    /// `data_update` (tagged `event_type`): one entity's new state.
    DataUpdate(DataUpdate),
    /// `initial_data_load` (tagged `event_type`): every live row of every collection.
    InitialDataLoad(InitialDataLoad),
    /// `data_status_response`: per-row checksums by entity name.
    DataStatusResponse(DataStatusResponse),
    /// `connection_status_response`.
    ConnectionStatusResponse(ConnectionStatusResponse),
    /// `tenant_disconnect_ack`.
    TenantDisconnectAck(TenantDisconnectAck),
    /// `error`: a frame that could not be handled; the connection stays open.
    Error(Error),
    /// `welcome`: the answer to `hello`.
    Welcome(Welcome),
    /// `changes`: one page of the change feed.
    Changes(Changes),
    /// `subscribed`: a subscribe's resolved buckets.
    Subscribed(Subscribed),
    /// `subscription_error`: one subscribe refused.
    SubscriptionError(SubscriptionError),
    /// `stream_page`: changes of buckets.
    StreamPage(StreamPage),
    /// `bucket_snapshot`: one bucket's live rows.
    BucketSnapshot(BucketSnapshot),
    /// `bucket_removed`: a bucket left a subscription.
    BucketRemoved(BucketRemoved),
    /// `checkpoint`: every subscription is complete up to a cursor.
    Checkpoint(Checkpoint),
}

/// The states of a `status` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// The connection is ready.
    Online,
    /// The server is in maintenance.
    Maintenance,
    /// The server is shutting down; the connection closes next.
    Shutdown,
    /// Something failed; `message` says what.
    Error,
}

impl StatusKind {
    /// The wire form, e.g. `maintenance`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Online => "online",
            StatusKind::Maintenance => "maintenance",
            StatusKind::Shutdown => "shutdown",
            StatusKind::Error => "error",
        }
    }
}

impl fmt::Display for StatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Online, maintenance, shutdown or error.
    pub status: StatusKind,
    /// Why, for `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `pong`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    /// As the client sent it, or null.
    #[serde(default)]
    pub timestamp: Json,
}

/// The server's `ping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// `data_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataUpdate {
    /// The tenant.
    pub tenant_id: String,
    /// The entity's wire name.
    pub entity_type: String,
    /// `create`, `update` or `delete`.
    pub operation_type: Operation,
    /// The state.
    pub data: SingleEntity,
    /// The sequence number of the change that produced this state.
    pub cursor: u64,
}

/// The `data` of a `data_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleEntity {
    /// The entity's JSON; for a delete `{"id": …, "updated_at": …}`.
    pub single_entity: Json,
}

/// `initial_data_load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitialDataLoad {
    /// The tenant.
    pub tenant_id: String,
    /// The tenant sequence number the rows reflect.
    pub cursor: u64,
    /// Collection name to its rows, for every registered entity, even when empty.
    pub payload: BTreeMap<String, Vec<Json>>,
}

/// `data_status_response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataStatusResponse {
    /// The tenant.
    pub tenant_id: String,
    /// Entity name to its rows' checksums.
    pub entity_checksums: BTreeMap<String, Vec<RowChecksum>>,
    /// When this session last synced, seconds since the epoch; null before the first sync.
    pub last_sync_time: Option<i64>,
    /// Now, seconds since the epoch.
    pub server_time: i64,
}

/// One row's checksum in a `data_status_response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowChecksum {
    /// The entity's id.
    pub entity_id: String,
    /// A stable hash of the row's canonical JSON.
    pub checksum: String,
    /// The row's version, seconds since the epoch.
    pub last_modified: i64,
}

/// `connection_status_response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatusResponse {
    /// The tenant.
    pub tenant_id: String,
    /// `online`.
    pub backend_status: String,
    /// `true`.
    pub connection_healthy: bool,
    /// Counters of this session and server.
    pub stats: Json,
}

/// `tenant_disconnect_ack`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantDisconnectAck {
    /// The tenant the client named.
    pub tenant_id: String,
    /// `success`.
    pub status: String,
    /// A human message.
    pub message: String,
}

/// `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    /// What went wrong.
    pub message: String,
    /// The unknown `type`, when that was the problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
}

/// `welcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's time, milliseconds since the epoch.
    pub server_time: i64,
    /// The tenant's current sequence number.
    #[serde(default)]
    pub cursor: u64,
    /// The protocol version the server speaks.
    #[serde(default)]
    pub protocol: u32,
    /// The limits this connection is held to.
    #[serde(default)]
    pub limits: Limits,
}

/// `changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// Each entity changed after the requested cursor, once, in its current state.
    pub changes: Vec<FeedChange>,
    /// The cursor to ask from next.
    pub cursor: u64,
    /// Whether more changes follow.
    #[serde(default)]
    pub has_more: bool,
    /// The requested cursor is unusable: discard the replica and reload from 0.
    #[serde(default)]
    pub reset: bool,
}

/// One change of a `changes` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedChange {
    /// The entity's wire name.
    pub entity_type: String,
    /// `update` for a live state, `delete` for a tombstone.
    pub operation_type: Operation,
    /// The entity's JSON.
    pub data: Json,
    /// The sequence number of the change that produced this state.
    pub cursor: u64,
}

/// A message body with its tag in front.
#[derive(Serialize)]
struct Typed<'a, T> {
    #[serde(rename = "type")]
    tag: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// A data message body with its `event_type` in front.
#[derive(Serialize)]
struct Event<'a, T> {
    event_type: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

impl ServerMessage {
    /// Every `type` a server sends.
    pub const TYPES: [&'static str; 17] = [
        "status",
        "pong",
        "ping",
        "sync_ack",
        "sync_nack",
        "data_status_response",
        "connection_status_response",
        "tenant_disconnect_ack",
        "error",
        "welcome",
        "changes",
        "subscribed",
        "subscription_error",
        "stream_page",
        "bucket_snapshot",
        "bucket_removed",
        "checkpoint",
    ];

    /// Every `event_type` a server sends.
    pub const EVENT_TYPES: [&'static str; 2] = ["data_update", "initial_data_load"];

    /// Decodes one text frame. Never panics; unknown fields are ignored.
    pub fn decode(text: &str) -> Result<ServerMessage, DecodeError> {
        let tag = decode::tag(text)?;
        Ok(match &tag {
            Tag::Type(tag) => match tag.as_str() {
                "status" => ServerMessage::Status(decode::body(text, tag)?),
                "pong" => ServerMessage::Pong(decode::body(text, tag)?),
                "ping" => ServerMessage::Ping(decode::body(text, tag)?),
                "sync_ack" => ServerMessage::Ack(decode::body(text, tag)?),
                "sync_nack" => ServerMessage::Nack(decode::body(text, tag)?),
                "data_status_response" => {
                    ServerMessage::DataStatusResponse(decode::body(text, tag)?)
                }
                "connection_status_response" => {
                    ServerMessage::ConnectionStatusResponse(decode::body(text, tag)?)
                }
                "tenant_disconnect_ack" => {
                    ServerMessage::TenantDisconnectAck(decode::body(text, tag)?)
                }
                "error" => ServerMessage::Error(decode::body(text, tag)?),
                "welcome" => ServerMessage::Welcome(decode::body(text, tag)?),
                "changes" => ServerMessage::Changes(decode::body(text, tag)?),
                "subscribed" => ServerMessage::Subscribed(decode::body(text, tag)?),
                "subscription_error" => ServerMessage::SubscriptionError(decode::body(text, tag)?),
                "stream_page" => ServerMessage::StreamPage(decode::body(text, tag)?),
                "bucket_snapshot" => ServerMessage::BucketSnapshot(decode::body(text, tag)?),
                "bucket_removed" => ServerMessage::BucketRemoved(decode::body(text, tag)?),
                "checkpoint" => ServerMessage::Checkpoint(decode::body(text, tag)?),
                other => return Err(decode::unknown(other)),
            },
            Tag::Event(tag) => match tag.as_str() {
                "data_update" => ServerMessage::DataUpdate(decode::body(text, tag)?),
                "initial_data_load" => ServerMessage::InitialDataLoad(decode::body(text, tag)?),
                other => return Err(decode::unknown(other)),
            },
        })
    }

    /// The message as a text frame.
    pub fn to_text(&self) -> String {
        text(self)
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn typed<S: Serializer, T: Serialize>(
            serializer: S,
            tag: &'static str,
            body: &T,
        ) -> Result<S::Ok, S::Error> {
            Typed { tag, body }.serialize(serializer)
        }
        fn event<S: Serializer, T: Serialize>(
            serializer: S,
            event_type: &'static str,
            body: &T,
        ) -> Result<S::Ok, S::Error> {
            Event { event_type, body }.serialize(serializer)
        }
        match self {
            ServerMessage::Status(body) => typed(serializer, "status", body),
            ServerMessage::Pong(body) => typed(serializer, "pong", body),
            ServerMessage::Ping(body) => typed(serializer, "ping", body),
            ServerMessage::Ack(body) => typed(serializer, "sync_ack", body),
            ServerMessage::Nack(body) => typed(serializer, "sync_nack", body),
            ServerMessage::DataStatusResponse(body) => {
                typed(serializer, "data_status_response", body)
            }
            ServerMessage::ConnectionStatusResponse(body) => {
                typed(serializer, "connection_status_response", body)
            }
            ServerMessage::TenantDisconnectAck(body) => {
                typed(serializer, "tenant_disconnect_ack", body)
            }
            ServerMessage::Error(body) => typed(serializer, "error", body),
            ServerMessage::Welcome(body) => typed(serializer, "welcome", body),
            ServerMessage::Changes(body) => typed(serializer, "changes", body),
            ServerMessage::Subscribed(body) => typed(serializer, "subscribed", body),
            ServerMessage::SubscriptionError(body) => typed(serializer, "subscription_error", body),
            ServerMessage::StreamPage(body) => typed(serializer, "stream_page", body),
            ServerMessage::BucketSnapshot(body) => typed(serializer, "bucket_snapshot", body),
            ServerMessage::BucketRemoved(body) => typed(serializer, "bucket_removed", body),
            ServerMessage::Checkpoint(body) => typed(serializer, "checkpoint", body),
            ServerMessage::DataUpdate(body) => event(serializer, "data_update", body),
            ServerMessage::InitialDataLoad(body) => event(serializer, "initial_data_load", body),
        }
    }
}

/// `message` as compact JSON. Serialising these types into memory cannot fail: every map
/// key is a string and every value is plain data.
pub(crate) fn text(message: &impl Serialize) -> String {
    serde_json::to_string(message)
        .unwrap_or_else(|error| unreachable!("a protocol message did not serialise: {error}"))
}
