//! Messages from clients, decoded leniently: a malformed message becomes an error reply or
//! a NACK that echoes whatever identifying fields it had, never a closed connection.

use serde::Deserialize;
use serde_json::Value as Json;

use crate::change::{Change, Operation};
use crate::outcome::{Reason, Rejection};
use crate::tenant::TenantId;

/// A decoded client message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `ping`: answered with `pong` echoing `timestamp`.
    Ping {
        /// Echoed as sent (an integer, or null).
        timestamp: Json,
    },
    /// `process_sync_entry`: one change.
    ProcessSyncEntry(Entry),
    /// `process_sync_batch`: changes committed together.
    ProcessSyncBatch(Vec<Entry>),
    /// `request_initial_data`: every live row of the tenant.
    RequestInitialData {
        /// Must be the session's tenant.
        tenant_id: Option<String>,
    },
    /// `data_status_request`: per-row checksums.
    DataStatusRequest {
        /// Must be the session's tenant.
        tenant_id: Option<String>,
        /// Entity names to report; all when absent.
        entity_types: Option<Vec<String>>,
    },
    /// `connection_status_request`.
    ConnectionStatusRequest,
    /// `tenant_disconnect`: acknowledged; the socket stays open.
    TenantDisconnect {
        /// The tenant named by the client.
        tenant_id: Option<String>,
        /// `user_logout`, `tenant_switch`, `tenant_deletion` or `manual_disconnect`.
        reason: Option<String>,
    },
    /// `hello`: the client's id, protocol version and cursor.
    Hello {
        /// The client's stable id.
        client_id: Option<String>,
        /// The protocol version the client speaks.
        protocol: Option<u32>,
        /// The cursor the client has caught up to.
        cursor: Option<u64>,
    },
    /// `request_changes`: a page of the change feed.
    RequestChanges {
        /// The cursor to read after.
        since: u64,
        /// The most changes wanted.
        limit: Option<usize>,
    },
}

/// A sync queue entry as a FinWise client sends it. Every field is optional here so that a
/// broken entry can still be NACKed with the fields it does have.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The change id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The tenant the client believes it writes to.
    #[serde(default, deserialize_with = "lenient_string")]
    pub tenant_id: Option<String>,
    /// The entity's wire name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub entity_type: Option<String>,
    /// The entity's id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub entity_id: Option<String>,
    /// `create`, `update` or `delete`, any case.
    #[serde(default, deserialize_with = "lenient_string")]
    pub operation_type: Option<String>,
    /// The entity's JSON.
    #[serde(default)]
    pub payload: Option<Json>,
}

impl Entry {
    /// The change this entry asks for, on behalf of a session of `tenant`.
    ///
    /// An entry naming another tenant is [`Reason::Forbidden`]: the tenant of a change is
    /// the session's, never the message's.
    pub fn to_change(&self, tenant: &TenantId) -> Result<Change, Rejection> {
        let missing =
            |field: &str| Rejection::new(Reason::ValidationError, format!("{field}: missing"));
        let id = self
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| missing("id"))?;
        if let Some(named) = &self.tenant_id
            && named != tenant.as_str()
        {
            return Err(Rejection::new(
                Reason::Forbidden,
                "tenantId: the entry names another tenant than this connection's",
            ));
        }
        let entity_type = self
            .entity_type
            .clone()
            .ok_or_else(|| missing("entityType"))?;
        let entity_id = self.entity_id.clone().ok_or_else(|| missing("entityId"))?;
        let operation = self
            .operation_type
            .as_deref()
            .ok_or_else(|| missing("operationType"))?;
        let operation = Operation::parse(operation).ok_or_else(|| {
            Rejection::new(
                Reason::ValidationError,
                format!("operationType: {operation:?} is not create, update or delete"),
            )
        })?;
        Ok(Change {
            id,
            entity_type,
            entity_id,
            operation,
            payload: self.payload.clone(),
        })
    }
}

/// Accepts a string, and reads a number as its text; anything else is absent.
fn lenient_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Json::deserialize(deserializer)? {
        Json::String(text) => Some(text),
        Json::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

/// Why a frame could not be decoded; the reply is an `error` message and the connection
/// stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The frame is JSON but not an object with a string `type`.
    #[error("message has no type: expected an object with a string \"type\"")]
    MissingType,
    /// The `type` is not one this server knows.
    #[error("unknown message type: {0}")]
    UnknownType(String),
    /// A known type with fields of the wrong shape.
    #[error("invalid {message_type}: {detail}")]
    InvalidFields {
        /// The message type.
        message_type: String,
        /// What was wrong.
        detail: String,
    },
}

impl ClientMessage {
    /// Decodes one text frame.
    pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
        let json: Json = serde_json::from_str(text)
            .map_err(|error| DecodeError::InvalidJson(error.to_string()))?;
        let Some(message_type) = json.get("type").and_then(Json::as_str) else {
            return Err(DecodeError::MissingType);
        };
        let invalid = |detail: String| DecodeError::InvalidFields {
            message_type: message_type.to_owned(),
            detail,
        };
        let field = |name: &str| json.get(name).cloned().unwrap_or(Json::Null);
        let optional_string = |name: &str| json.get(name).and_then(Json::as_str).map(str::to_owned);
        Ok(match message_type {
            "ping" => ClientMessage::Ping {
                timestamp: field("timestamp"),
            },
            "process_sync_entry" => match json.get("payload") {
                Some(payload @ Json::Object(_)) => ClientMessage::ProcessSyncEntry(
                    Entry::deserialize(payload).map_err(|error| invalid(error.to_string()))?,
                ),
                _ => {
                    return Err(invalid(
                        "payload: expected a sync queue entry object".to_owned(),
                    ));
                }
            },
            "process_sync_batch" => match json.get("entries") {
                Some(Json::Array(entries)) => ClientMessage::ProcessSyncBatch(
                    entries
                        .iter()
                        .map(|entry| match entry {
                            Json::Object(_) => Entry::deserialize(entry).unwrap_or_default(),
                            _ => Entry::default(),
                        })
                        .collect(),
                ),
                _ => {
                    return Err(invalid(
                        "entries: expected a list of sync queue entries".to_owned(),
                    ));
                }
            },
            "request_initial_data" => ClientMessage::RequestInitialData {
                tenant_id: optional_string("tenant_id"),
            },
            "data_status_request" => ClientMessage::DataStatusRequest {
                tenant_id: optional_string("tenant_id"),
                entity_types: serde_json::from_value(field("entity_types"))
                    .map_err(|error| invalid(format!("entity_types: {error}")))?,
            },
            "connection_status_request" => ClientMessage::ConnectionStatusRequest,
            "tenant_disconnect" => ClientMessage::TenantDisconnect {
                tenant_id: optional_string("tenant_id"),
                reason: optional_string("reason"),
            },
            "hello" => ClientMessage::Hello {
                client_id: optional_string("client_id"),
                protocol: serde_json::from_value(field("protocol"))
                    .map_err(|error| invalid(format!("protocol: {error}")))?,
                cursor: serde_json::from_value(field("cursor"))
                    .map_err(|error| invalid(format!("cursor: {error}")))?,
            },
            "request_changes" => ClientMessage::RequestChanges {
                since: serde_json::from_value::<Option<u64>>(field("since"))
                    .map_err(|error| invalid(format!("since: {error}")))?
                    .unwrap_or(0),
                limit: serde_json::from_value(field("limit"))
                    .map_err(|error| invalid(format!("limit: {error}")))?,
            },
            other => return Err(DecodeError::UnknownType(other.chars().take(64).collect())),
        })
    }
}
