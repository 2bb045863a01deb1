//! What a session answers to each client message.

use std::collections::BTreeMap;

use serde_json::json;

use super::Session;
use super::checksum::row_checksum;
use crate::engine::{LoadError, SubmitError};
use crate::hub::SessionId;
use crate::outcome::{Outcome, Reason, Rejection};
use crate::protocol::{
    Ack, ClientMessage, Entry, Nack, PROTOCOL_VERSION, RowChecksum, ServerMessage,
};
use crate::store::{MAX_PAGE, Store};
use crate::version::Version;

/// What a session remembers between messages.
pub(super) struct State {
    id: SessionId,
    client_id: Option<String>,
    connected_at: Version,
    last_sync: Option<Version>,
    received: u64,
    processed: u64,
}

impl State {
    pub(super) fn new(id: SessionId) -> State {
        State {
            id,
            client_id: None,
            connected_at: Version::now(),
            last_sync: None,
            received: 0,
            processed: 0,
        }
    }
}

/// The replies to one text frame, in order.
pub(super) async fn handle<S: Store>(
    session: &Session<S>,
    state: &mut State,
    text: &str,
) -> Vec<ServerMessage> {
    state.received += 1;
    let message = match ClientMessage::decode(text) {
        Ok(message) => message,
        Err(error) => return vec![error.reply()],
    };
    match message {
        ClientMessage::Ping { timestamp } => vec![ServerMessage::Pong { timestamp }],
        ClientMessage::ProcessSyncEntry(entry) => process(session, state, vec![entry]).await,
        ClientMessage::ProcessSyncBatch(entries) if entries.len() > session.config.max_batch => {
            let detail = format!(
                "a batch holds at most {} entries; this one has {}",
                session.config.max_batch,
                entries.len()
            );
            entries
                .iter()
                .map(|entry| ServerMessage::Nack(Nack::because(entry, Reason::TooLarge, &detail)))
                .collect()
        }
        ClientMessage::ProcessSyncBatch(entries) => process(session, state, entries).await,
        ClientMessage::RequestInitialData { tenant_id } => {
            if let Some(refusal) = other_tenant(session, tenant_id.as_deref()) {
                return vec![refusal];
            }
            match session.engine.initial_load(&session.tenant).await {
                Ok(frame) => {
                    state.last_sync = Some(Version::now());
                    vec![ServerMessage::Encoded(frame)]
                }
                Err(LoadError::Storage(error)) => vec![storage_error(&error)],
                Err(busy) => vec![ServerMessage::Error {
                    message: format!("overloaded: {busy}"),
                    original_type: None,
                }],
            }
        }
        ClientMessage::RequestChanges { since, limit } => {
            let limit = limit
                .unwrap_or(session.config.default_page)
                .clamp(1, MAX_PAGE);
            match session
                .engine
                .store()
                .changes_since(&session.tenant, since, limit)
                .await
            {
                Ok(page) => {
                    state.last_sync = Some(Version::now());
                    vec![ServerMessage::Changes(page)]
                }
                Err(error) => vec![storage_error(&error)],
            }
        }
        ClientMessage::Hello { client_id, .. } => {
            state.client_id = client_id.map(|id| id.chars().take(128).collect());
            if let Some(client_id) = &state.client_id {
                tracing::Span::current().record("client_id", client_id.as_str());
            }
            tracing::info!("hello");
            match session.engine.store().cursor(&session.tenant).await {
                Ok(cursor) => vec![ServerMessage::Welcome {
                    server_time: Version::now().as_millis(),
                    cursor,
                    protocol: PROTOCOL_VERSION,
                    limits: json!({
                        "max_message_bytes": session.config.max_message_bytes,
                        "max_batch": session.config.max_batch,
                        "max_page": MAX_PAGE,
                    }),
                }],
                Err(error) => vec![storage_error(&error)],
            }
        }
        ClientMessage::DataStatusRequest {
            tenant_id,
            entity_types,
        } => {
            if let Some(refusal) = other_tenant(session, tenant_id.as_deref()) {
                return vec![refusal];
            }
            data_status(session, state, entity_types).await
        }
        ClientMessage::ConnectionStatusRequest => vec![ServerMessage::ConnectionStatusResponse {
            tenant_id: session.tenant.to_string(),
            stats: json!({
                "session_id": state.id,
                "client_id": state.client_id,
                "connected_at": state.connected_at.to_string(),
                "messages_received": state.received,
                "changes_processed": state.processed,
                "tenant_sessions": session.engine.hub().sessions(&session.tenant),
            }),
        }],
        ClientMessage::TenantDisconnect { tenant_id, reason } => {
            vec![ServerMessage::TenantDisconnectAck {
                tenant_id: tenant_id.unwrap_or_else(|| session.tenant.to_string()),
                message: format!(
                    "disconnect acknowledged ({})",
                    reason.as_deref().unwrap_or("no reason given")
                ),
            }]
        } // `ClientMessage` is non-exhaustive for other crates only.
    }
}

/// An `error` reply when a message names a tenant other than the session's.
fn other_tenant<S>(session: &Session<S>, named: Option<&str>) -> Option<ServerMessage> {
    named
        .filter(|named| *named != session.tenant.as_str())
        .map(|_| ServerMessage::Error {
            message: "forbidden: this connection is authorised for another tenant".to_owned(),
            original_type: None,
        })
}

fn storage_error(error: &crate::Error) -> ServerMessage {
    tracing::error!(%error, "store read failed");
    ServerMessage::Error {
        message: "storage error: try again later".to_owned(),
        original_type: None,
    }
}

/// Validates the entries, commits the valid ones together, and answers each in order.
async fn process<S: Store>(
    session: &Session<S>,
    state: &mut State,
    entries: Vec<Entry>,
) -> Vec<ServerMessage> {
    let mut changes = Vec::with_capacity(entries.len());
    let mut verdicts: Vec<Result<usize, Rejection>> = Vec::with_capacity(entries.len());
    for entry in &entries {
        verdicts.push(entry.to_change(&session.tenant).map(|change| {
            changes.push(change);
            changes.len() - 1
        }));
    }
    let submitted = if changes.is_empty() {
        Ok(None)
    } else {
        session
            .engine
            .submit(&session.tenant, Some(state.id), changes)
            .await
            .map(Some)
    };
    let batch = match submitted {
        Ok(batch) => batch,
        Err(error) => {
            let rejection = match &error {
                SubmitError::Overloaded => Rejection::new(Reason::Overloaded, error.to_string()),
                SubmitError::Storage(detail) => {
                    tracing::error!(detail, "commit failed");
                    Rejection::new(
                        Reason::StorageError,
                        "the change could not be stored; retry",
                    )
                }
            };
            return entries
                .iter()
                .zip(verdicts)
                .map(|(entry, verdict)| {
                    ServerMessage::Nack(Nack::of(
                        entry,
                        verdict.err().unwrap_or_else(|| rejection.clone()),
                    ))
                })
                .collect();
        }
    };

    let mut replies = Vec::with_capacity(entries.len());
    for (entry, verdict) in entries.iter().zip(verdicts) {
        let index = match verdict {
            Ok(index) => index,
            Err(rejection) => {
                replies.push(ServerMessage::Nack(Nack::of(entry, rejection)));
                continue;
            }
        };
        let Some(batch) = &batch else { continue };
        let outcome = &batch.outcomes[index];
        match outcome {
            Outcome::Rejected(rejection) => {
                replies.push(ServerMessage::Nack(Nack::of(entry, rejection.clone())));
            }
            _ => replies.extend(Ack::of(entry, outcome, batch.cursor).map(ServerMessage::Ack)),
        }
        match outcome {
            Outcome::Applied {
                effect,
                clamped: true,
            } => {
                tracing::info!(entity_id = %effect.entity_id, "clamped a future updated_at to the server time");
            }
            // A client that ignores the ACK's extra fields still converges.
            Outcome::Superseded { winner, .. } => replies.push(ServerMessage::DataUpdate {
                tenant_id: session.tenant.to_string(),
                operation: if winner.deleted { "delete" } else { "update" },
                effect: winner.clone(),
            }),
            _ => {}
        }
        state.processed += 1;
    }
    state.last_sync = Some(Version::now());
    replies
}

async fn data_status<S: Store>(
    session: &Session<S>,
    state: &State,
    entity_types: Option<Vec<String>>,
) -> Vec<ServerMessage> {
    let store = session.engine.store();
    let registry = store.registry();
    let mut entity_checksums = BTreeMap::new();
    for handler in registry.iter() {
        let wanted = entity_types.as_ref().is_none_or(|types| {
            types
                .iter()
                .any(|name| name.eq_ignore_ascii_case(handler.entity()))
        });
        if !wanted {
            continue;
        }
        // Only the requested entities' tables are read.
        let rows = match store.list_json(&session.tenant, handler.entity()).await {
            Ok(rows) => rows,
            Err(error) => return vec![storage_error(&error)],
        };
        let checksums = rows
            .iter()
            .map(|row| RowChecksum {
                entity_id: row
                    .get(handler.id_key())
                    .and_then(|id| id.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                checksum: row_checksum(row),
                last_modified: row
                    .get(handler.updated_at_key())
                    .and_then(|at| at.as_str())
                    .and_then(|at| Version::parse(at).ok())
                    .map_or(0, |version| version.as_millis().div_euclid(1000)),
            })
            .collect();
        entity_checksums.insert(handler.entity().to_owned(), checksums);
    }
    vec![ServerMessage::DataStatusResponse {
        tenant_id: session.tenant.to_string(),
        entity_checksums,
        last_sync_time: state.last_sync.map(|at| at.as_millis().div_euclid(1000)),
        server_time: Version::now().as_millis().div_euclid(1000),
    }]
}
