//! Messages from clients to the server.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::decode::{self, DecodeError, Tag, lenient};
use crate::entry::{Entry, entry_object, lenient_entries};

/// A message from a client, tagged by `type`.
///
/// ```
/// use sync_protocol::{ClientMessage, DecodeError};
///
/// let hello = ClientMessage::Hello { client_id: Some("c-1".into()), protocol: Some(1), cursor: Some(17) };
/// let text = hello.to_text();
/// assert_eq!(text, r#"{"type":"hello","client_id":"c-1","protocol":1,"cursor":17}"#);
/// assert_eq!(ClientMessage::decode(&text).unwrap(), hello);
///
/// let broken = ClientMessage::decode(r#"{"type":"request_changes","since":"x"}"#).unwrap_err();
/// assert!(matches!(broken, DecodeError::InvalidFields { .. }), "{broken}");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// `ping`: answered with `pong` echoing `timestamp`.
    Ping {
        /// Echoed as sent (an integer, or null).
        #[serde(default)]
        timestamp: Json,
    },
    /// `process_sync_entry`: one change.
    ProcessSyncEntry {
        /// The entry; it must be an object.
        #[serde(deserialize_with = "entry_object")]
        payload: Entry,
    },
    /// `process_sync_batch`: changes committed together. An element that is not an
    /// object is read as an empty entry (and NACKed).
    ProcessSyncBatch {
        /// The entries, in order.
        #[serde(deserialize_with = "lenient_entries")]
        entries: Vec<Entry>,
    },
    /// `request_initial_data`: every live row of the tenant.
    RequestInitialData {
        /// Must be the session's tenant.
        #[serde(
            default,
            deserialize_with = "lenient",
            skip_serializing_if = "Option::is_none"
        )]
        tenant_id: Option<String>,
    },
    /// `data_status_request`: per-row checksums.
    DataStatusRequest {
        /// Must be the session's tenant.
        #[serde(
            default,
            deserialize_with = "lenient",
            skip_serializing_if = "Option::is_none"
        )]
        tenant_id: Option<String>,
        /// Entity names to report; all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entity_types: Option<Vec<String>>,
    },
    /// `connection_status_request`.
    ConnectionStatusRequest,
    /// `tenant_disconnect`: acknowledged; the socket stays open.
    TenantDisconnect {
        /// The tenant named by the client.
        #[serde(
            default,
            deserialize_with = "lenient",
            skip_serializing_if = "Option::is_none"
        )]
        tenant_id: Option<String>,
        /// `user_logout`, `tenant_switch`, `tenant_deletion` or `manual_disconnect`.
        #[serde(
            default,
            deserialize_with = "lenient",
            skip_serializing_if = "Option::is_none"
        )]
        reason: Option<String>,
    },
    /// `hello`: the client's id, protocol version and cursor.
    Hello {
        /// The client's stable id.
        #[serde(
            default,
            deserialize_with = "lenient",
            skip_serializing_if = "Option::is_none"
        )]
        client_id: Option<String>,
        /// The protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
        /// The cursor the client has caught up to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<u64>,
    },
    /// `request_changes`: a page of the change feed.
    RequestChanges {
        /// The cursor to read after; 0 when absent.
        #[serde(default)]
        since: u64,
        /// The most changes wanted; the server's default page when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// `subscribe`: receive a declared stream's buckets instead of its entity whole.
    Subscribe {
        /// The client's id for the subscription, unique in the session.
        id: String,
        /// The stream's name.
        stream: String,
        /// The keys wanted (the stream's parameters); the server keeps those the
        /// principal may see.
        #[serde(default)]
        parameters: Vec<String>,
        /// The definition hash the client's rows were synced under; absent the first time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        definition: Option<String>,
        /// The subscription's cursor (its last checkpoint); absent to load its buckets whole.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<u64>,
        /// The buckets the client holds rows of, so the server can tell it which it lost.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buckets: Vec<String>,
    },
    /// `unsubscribe`: stop a subscription; its rows may stay warm for `ttl_secs`.
    Unsubscribe {
        /// The subscription's id.
        id: String,
        /// How long the client keeps the rows; 0 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_secs: Option<u64>,
    },
}

impl ClientMessage {
    /// Every `type` a client may send.
    pub const TYPES: [&'static str; 11] = [
        "ping",
        "process_sync_entry",
        "process_sync_batch",
        "request_initial_data",
        "data_status_request",
        "connection_status_request",
        "tenant_disconnect",
        "hello",
        "request_changes",
        "subscribe",
        "unsubscribe",
    ];

    /// Decodes one text frame. Never panics; unknown fields are ignored.
    pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
        let message_type = match decode::tag(text)? {
            Tag::Type(message_type) => message_type,
            Tag::Event(_) => return Err(DecodeError::MissingType),
        };
        if !ClientMessage::TYPES.contains(&message_type.as_str()) {
            return Err(decode::unknown(&message_type));
        }
        decode::body(text, &message_type)
    }

    /// The message as a text frame.
    pub fn to_text(&self) -> String {
        crate::server::text(self)
    }
}
