//! Messages to clients, encoded to the exact shapes of PROTOCOL.md: most carry `type`; the
//! two data messages (`data_update`, `initial_data_load`) carry `event_type` instead.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::Frame;
use super::client::Entry;
use crate::outcome::{Effect, Outcome, OutcomeKind, Reason, Rejection};
use crate::store::{ChangePage, Snapshot};
use crate::version::Version;

/// A message to a client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// `status`: `online` right after the upgrade, `shutdown` before a graceful close.
    Status {
        /// `online`, `maintenance`, `shutdown` or `error`.
        status: &'static str,
        /// Why, for `error`.
        message: Option<String>,
    },
    /// `pong`, echoing the ping's timestamp.
    Pong {
        /// As the client sent it, or null.
        timestamp: Json,
    },
    /// The server's own keep-alive `ping`.
    Ping {
        /// Milliseconds since the epoch.
        timestamp: i64,
    },
    /// `sync_ack`.
    Ack(Ack),
    /// `sync_nack`.
    Nack(Nack),
    /// `data_update`: one entity's new state, to the tenant's other sessions.
    DataUpdate {
        /// The tenant.
        tenant_id: String,
        /// `create`, `update` or `delete`.
        operation: &'static str,
        /// The state.
        effect: Effect,
    },
    /// `initial_data_load`: every live row of every collection.
    InitialDataLoad {
        /// The tenant.
        tenant_id: String,
        /// The rows, with the cursor they reflect.
        snapshot: Snapshot,
    },
    /// `data_status_response`: per-row checksums by entity name.
    DataStatusResponse {
        /// The tenant.
        tenant_id: String,
        /// Entity name to its rows' checksums.
        entity_checksums: BTreeMap<String, Vec<RowChecksum>>,
        /// When this session last synced, seconds since the epoch.
        last_sync_time: Option<i64>,
        /// Now, seconds since the epoch.
        server_time: i64,
    },
    /// `connection_status_response`.
    ConnectionStatusResponse {
        /// The tenant.
        tenant_id: String,
        /// Counters of this session and server.
        stats: Json,
    },
    /// `tenant_disconnect_ack`.
    TenantDisconnectAck {
        /// The tenant the client named.
        tenant_id: String,
        /// A human message.
        message: String,
    },
    /// `error`: a frame that could not be handled; the connection stays open.
    Error {
        /// What went wrong.
        message: String,
        /// The unknown `type`, when that was the problem.
        original_type: Option<String>,
    },
    /// `welcome`: the answer to `hello`.
    Welcome {
        /// The server's time, milliseconds since the epoch.
        server_time: i64,
        /// The tenant's current sequence number.
        cursor: u64,
        /// The protocol version the server speaks.
        protocol: u32,
        /// The limits this connection is held to.
        limits: Json,
    },
    /// `changes`: one page of the change feed.
    Changes(ChangePage),
    /// A message already encoded as its text frame, such as a streamed `initial_data_load`
    /// (see [`InitialLoad`](super::InitialLoad)); sent as it is. Keep the message until the
    /// transport has taken the frame: it may hold a snapshot slot (see [`Frame`]).
    Encoded(Frame),
}

/// A `sync_ack`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// The entry's id.
    pub id: String,
    /// As the entry named it.
    pub entity_id: String,
    /// As the entry named it.
    pub entity_type: String,
    /// As the entry named it.
    pub operation_type: String,
    /// Applied, superseded or duplicate.
    pub outcome: OutcomeKind,
    /// The stored version: this change's for `applied`, the winner's for `superseded`,
    /// the entity's current one for `duplicate`.
    pub updated_at: Version,
    /// The tenant's sequence number after the commit.
    pub cursor: u64,
    /// The state the origin must adopt: the winner for `superseded`, and for `duplicate`
    /// the entity's current state when another change replaced the retried one since.
    pub data: Option<Json>,
    /// The sequence number of the stored state: this change's for `applied`, the winner's
    /// for `superseded`, the current state's for `duplicate`.
    pub seq: Option<u64>,
    /// Whether the state in `data` is a tombstone; present exactly when `data` is.
    pub deleted: Option<bool>,
}

/// The state the origin of a change must adopt, which differs from what it sent: the
/// winner of a `superseded` change, or the current state of a `duplicate` when that is not
/// the state the retried change stored (it lost, or another change replaced it since).
/// The session sends it to the origin as a `data_update` too, so a client that ignores
/// the ACK's extra fields converges as well.
pub(crate) fn origin_state(outcome: &Outcome) -> Option<&Effect> {
    match outcome {
        Outcome::Superseded { winner, .. } => Some(winner),
        Outcome::Duplicate {
            original,
            current: Some(current),
        } => {
            let own = original.kind == OutcomeKind::Applied
                && current.seq == original.seq
                && current.version == original.version;
            (!own).then_some(current)
        }
        Outcome::Applied { .. }
        | Outcome::Duplicate { current: None, .. }
        | Outcome::Rejected(_) => None,
    }
}

/// A `sync_nack`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    /// The entry's id, or empty when it had none.
    pub id: String,
    /// As the entry named it, or empty.
    pub entity_id: String,
    /// As the entry named it, or empty.
    pub entity_type: String,
    /// As the entry named it, or empty.
    pub operation_type: String,
    /// Why.
    pub rejection: Rejection,
}

impl Ack {
    /// The ACK of `entry` for `outcome`, committed at tenant `cursor`; `None` for a
    /// rejection, which is a [`Nack`].
    pub fn of(entry: &Entry, outcome: &Outcome, cursor: u64) -> Option<Ack> {
        let (kind, updated_at, data, seq, deleted) = match outcome {
            Outcome::Applied { effect, .. } => (
                OutcomeKind::Applied,
                effect.version,
                None,
                Some(effect.seq),
                None,
            ),
            Outcome::Superseded { winner, .. } => (
                OutcomeKind::Superseded,
                winner.version,
                Some(winner.data.clone()),
                Some(winner.seq),
                Some(winner.deleted),
            ),
            Outcome::Duplicate { original, current } => match current {
                // The entity's state now: the answer to the first attempt may have been
                // lost while another change replaced it.
                Some(current) => {
                    let replaced = origin_state(outcome).is_some();
                    (
                        OutcomeKind::Duplicate,
                        current.version,
                        replaced.then(|| current.data.clone()),
                        Some(current.seq),
                        replaced.then_some(current.deleted),
                    )
                }
                None => (OutcomeKind::Duplicate, original.version, None, None, None),
            },
            Outcome::Rejected(_) => return None,
        };
        let [id, entity_id, entity_type, operation_type] = echoed(entry);
        Some(Ack {
            id,
            entity_id,
            entity_type,
            operation_type,
            outcome: kind,
            updated_at,
            cursor,
            data,
            seq,
            deleted,
        })
    }
}

/// The identifying fields of `entry` as an answer echoes them: empty when missing.
fn echoed(entry: &Entry) -> [String; 4] {
    [
        &entry.id,
        &entry.entity_id,
        &entry.entity_type,
        &entry.operation_type,
    ]
    .map(|field| field.clone().unwrap_or_default())
}

impl Nack {
    /// A NACK of `entry`, echoing the fields it has.
    pub fn of(entry: &Entry, rejection: Rejection) -> Nack {
        let [id, entity_id, entity_type, operation_type] = echoed(entry);
        Nack {
            id,
            entity_id,
            entity_type,
            operation_type,
            rejection,
        }
    }

    /// A NACK of `entry` for `reason`.
    pub fn because(entry: &Entry, reason: Reason, detail: impl Into<String>) -> Nack {
        Nack::of(entry, Rejection::new(reason, detail))
    }
}

/// One row's checksum in a `data_status_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChecksum {
    /// The entity's id.
    pub entity_id: String,
    /// A stable hash of the row's canonical JSON.
    pub checksum: String,
    /// The row's version, seconds since the epoch.
    pub last_modified: i64,
}

impl ServerMessage {
    /// The message as JSON.
    pub fn to_json(&self) -> Json {
        match self {
            ServerMessage::Status { status, message } => {
                let mut json = json!({ "type": "status", "status": status });
                if let Some(message) = message {
                    json["message"] = json!(message);
                }
                json
            }
            ServerMessage::Pong { timestamp } => json!({ "type": "pong", "timestamp": timestamp }),
            ServerMessage::Ping { timestamp } => json!({ "type": "ping", "timestamp": timestamp }),
            ServerMessage::Ack(ack) => {
                let mut json = json!({
                    "type": "sync_ack",
                    "id": ack.id,
                    "status": "processed",
                    "entityId": ack.entity_id,
                    "entityType": ack.entity_type,
                    "operationType": ack.operation_type,
                    "outcome": ack.outcome.as_str(),
                    "updated_at": ack.updated_at.to_string(),
                    "cursor": ack.cursor,
                });
                if let Some(data) = &ack.data {
                    json["data"] = data.clone();
                }
                if let Some(seq) = ack.seq {
                    json["seq"] = json!(seq);
                }
                if let Some(deleted) = ack.deleted {
                    json["deleted"] = json!(deleted);
                }
                json
            }
            ServerMessage::Nack(nack) => json!({
                "type": "sync_nack",
                "id": nack.id,
                "status": "failed",
                "entityId": nack.entity_id,
                "entityType": nack.entity_type,
                "operationType": nack.operation_type,
                "reason": nack.rejection.reason.as_str(),
                "detail": nack.rejection.detail,
                "retryable": nack.rejection.reason.retryable(),
            }),
            ServerMessage::DataUpdate {
                tenant_id,
                operation,
                effect,
            } => json!({
                "event_type": "data_update",
                "tenant_id": tenant_id,
                "entity_type": effect.entity_type,
                "operation_type": operation,
                "data": { "single_entity": effect.data },
                "cursor": effect.seq,
            }),
            ServerMessage::InitialDataLoad {
                tenant_id,
                snapshot,
            } => json!({
                "event_type": "initial_data_load",
                "tenant_id": tenant_id,
                "payload": snapshot.collections,
                "cursor": snapshot.cursor,
            }),
            ServerMessage::DataStatusResponse {
                tenant_id,
                entity_checksums,
                last_sync_time,
                server_time,
            } => {
                let checksums: BTreeMap<&String, Vec<Json>> = entity_checksums
                    .iter()
                    .map(|(entity, rows)| {
                        let rows = rows
                            .iter()
                            .map(|row| {
                                json!({
                                    "entity_id": row.entity_id,
                                    "checksum": row.checksum,
                                    "last_modified": row.last_modified,
                                })
                            })
                            .collect();
                        (entity, rows)
                    })
                    .collect();
                json!({
                    "type": "data_status_response",
                    "tenant_id": tenant_id,
                    "entity_checksums": checksums,
                    "last_sync_time": last_sync_time,
                    "server_time": server_time,
                })
            }
            ServerMessage::ConnectionStatusResponse { tenant_id, stats } => json!({
                "type": "connection_status_response",
                "tenant_id": tenant_id,
                "backend_status": "online",
                "connection_healthy": true,
                "stats": stats,
            }),
            ServerMessage::TenantDisconnectAck { tenant_id, message } => json!({
                "type": "tenant_disconnect_ack",
                "tenant_id": tenant_id,
                "status": "success",
                "message": message,
            }),
            ServerMessage::Error {
                message,
                original_type,
            } => {
                let mut json = json!({ "type": "error", "message": message });
                if let Some(original_type) = original_type {
                    json["original_type"] = json!(original_type);
                }
                json
            }
            ServerMessage::Welcome {
                server_time,
                cursor,
                protocol,
                limits,
            } => json!({
                "type": "welcome",
                "server_time": server_time,
                "cursor": cursor,
                "protocol": protocol,
                "limits": limits,
            }),
            ServerMessage::Changes(page) => json!({
                "type": "changes",
                "changes": page.changes.iter().map(|change| json!({
                    "entity_type": change.entity_type,
                    "operation_type": if change.deleted { "delete" } else { "update" },
                    "data": change.data,
                    "cursor": change.seq,
                })).collect::<Vec<_>>(),
                "cursor": page.cursor,
                "has_more": page.has_more,
                "reset": page.reset,
            }),
            ServerMessage::Encoded(frame) => {
                serde_json::from_str(frame.text()).unwrap_or_else(|_| json!(&**frame.text()))
            }
        }
    }

    /// The message as a text frame.
    pub fn to_text(&self) -> String {
        match self {
            ServerMessage::Changes(page) => super::snapshot::changes_text(page),
            ServerMessage::Encoded(frame) => frame.text().to_string(),
            other => other.to_json().to_string(),
        }
    }
}
