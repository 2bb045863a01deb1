//! What a session answers to each client message.
//!
//! [`handle`] decodes a message and answers at once what needs no store ([`Step::Reply`]),
//! or says what must wait: entries for the tenant's writer ([`Step::Entries`]) or a read of
//! the store ([`Step::Read`]). The pipeline runs those; [`finish`] turns their results into
//! the replies.

use std::collections::BTreeMap;

use serde_json::json;

use super::Session;
use super::checksum::row_checksum;
use crate::change::Operation;
use crate::engine::{LoadError, SubmitError};
use crate::hub::SessionId;
use crate::outcome::{BatchOutcome, Outcome, Reason, Rejection};
use crate::protocol::{
    self, ClientMessage, ConnectionStatusResponse, DataStatusResponse, Entry, Error, Limits,
    PROTOCOL_VERSION, Pong, Reply, RowChecksum, ServerMessage, TenantDisconnectAck, Welcome,
    origin_state,
};
use crate::store::{MAX_PAGE, Store};
use crate::version::Version;

/// What a session remembers between messages.
pub(super) struct State {
    pub(super) id: SessionId,
    client_id: Option<String>,
    connected_at: Version,
    pub(super) last_sync: Option<Version>,
    received: u64,
    processed: u64,
    /// The session's stream subscriptions, shared with their catch-ups.
    pub(super) subscriptions: std::sync::Arc<std::sync::Mutex<super::subscribe::Subscriptions>>,
    /// Entities this session may see only through streams (keyed by the principal).
    pub(super) restricted: Vec<&'static str>,
    /// Subscribe catch-ups (and re-resolutions) in flight. While there are any, the session
    /// holds back the hub's deliveries, so that a live page or checkpoint never reaches the
    /// client before the catch-up it follows.
    pub(super) catching_up: usize,
    /// Live changes queued while a catch-up was read that it already covered: per bucket,
    /// the catch-up's cursor. Dropped from the hub's deliveries, so a row granted while it
    /// was written arrives once.
    pub(super) covered: super::subscribe::Covered,
    /// Live `stream_page`s sent on this connection, told in each live `checkpoint` so the
    /// client can tell a page it did not receive.
    live_pages: u64,
}

impl State {
    /// A hub delivery as it goes to the client: `None` for a live page a catch-up already
    /// covered; a live checkpoint with the count of live pages sent before it.
    pub(super) fn live(&mut self, message: std::sync::Arc<str>) -> Option<std::sync::Arc<str>> {
        if self.covered.stale(&message) {
            return None;
        }
        if message.starts_with(r#"{"type":"stream_page""#) {
            self.live_pages += 1;
        } else if message.starts_with(r#"{"type":"checkpoint""#)
            && let Ok(ServerMessage::Checkpoint(mut checkpoint)) = ServerMessage::decode(&message)
        {
            checkpoint.pages = Some(self.live_pages);
            return Some(std::sync::Arc::from(
                ServerMessage::Checkpoint(checkpoint).to_text(),
            ));
        }
        Some(message)
    }

    pub(super) fn new(id: SessionId) -> State {
        State {
            id,
            client_id: None,
            connected_at: Version::now(),
            last_sync: None,
            received: 0,
            processed: 0,
            subscriptions: Default::default(),
            restricted: Vec::new(),
            catching_up: 0,
            covered: super::subscribe::Covered::default(),
            live_pages: 0,
        }
    }
}

/// What one text frame asks for.
pub(super) enum Step {
    /// The replies, known without the store.
    Reply(Vec<Reply>),
    /// Entries to commit through the tenant's writer.
    Entries(Vec<Entry>),
    /// A read of the store.
    Read(Read),
}

/// A message answered from the store.
pub(super) enum Read {
    /// With the collections left out (empty).
    Initial(Vec<&'static str>),
    Changes {
        since: u64,
        limit: usize,
        /// Entities the session takes through streams only, left out of the page.
        partial: Vec<&'static str>,
    },
    Subscribe(Box<super::subscribe::CatchUp>),
    /// The subject's memberships changed: resolve the principal-keyed subscriptions again.
    Resolve(super::subscribe::Context),
    Welcome,
    DataStatus {
        entity_types: Option<Vec<String>>,
        /// Entities this session takes through streams only: answered with no rows.
        withheld: Vec<&'static str>,
    },
}

/// What a finished step of the pipeline produced.
pub(super) enum Done {
    /// Replies ready to send.
    Replies(Vec<Reply>),
    /// Entries and the writer's answer: `None` when no entry was valid.
    Entries {
        entries: Vec<Entry>,
        verdicts: Vec<Result<usize, Rejection>>,
        result: Result<Option<BatchOutcome>, SubmitError>,
    },
    /// A read's replies; `synced` when it brought the client up to date; `catch_up` for a
    /// subscribe's catch-up or a re-resolution.
    Read {
        replies: Vec<Reply>,
        synced: bool,
        catch_up: bool,
    },
}

/// Decodes one text frame and answers what needs no store.
pub(super) fn handle<S: Store>(
    session: &Session<S>,
    state: &mut State,
    hub: &crate::hub::Holder,
    text: &str,
) -> Step {
    state.received += 1;
    let message = match ClientMessage::decode(text) {
        Ok(message) => message,
        Err(error) => return Step::Reply(vec![protocol::error_reply(&error).into()]),
    };
    let reply = |reply: ServerMessage| Step::Reply(vec![reply.into()]);
    match message {
        ClientMessage::Ping { timestamp } => reply(ServerMessage::Pong(Pong { timestamp })),
        ClientMessage::ProcessSyncEntry { payload } => Step::Entries(vec![payload]),
        // Refused whole with one answer: a NACK per entry would let one 1 MiB message of
        // tiny entries make the server queue hundreds of thousands of frames.
        ClientMessage::ProcessSyncBatch { entries }
            if entries.len() > session.config.wire.max_batch =>
        {
            reply(ServerMessage::Error(protocol::Error {
                message: format!(
                    "too_large: a batch holds at most {} entries; this one has {}; nothing of it was applied",
                    session.config.wire.max_batch,
                    entries.len()
                ),
                original_type: Some("process_sync_batch".to_owned()),
            }))
        }
        ClientMessage::ProcessSyncBatch { entries } => Step::Entries(entries),
        ClientMessage::RequestInitialData { tenant_id } => {
            match other_tenant(session, tenant_id.as_deref()) {
                Some(refusal) => reply(refusal),
                None => Step::Read(Read::Initial(collections_of(session, &withheld(state)))),
            }
        }
        ClientMessage::RequestChanges { since, limit } => {
            let limit = limit
                .unwrap_or(session.config.default_page)
                .clamp(1, session.config.wire.max_page.min(MAX_PAGE));
            let partial = withheld(state);
            Step::Read(Read::Changes {
                since,
                limit,
                partial,
            })
        }
        ClientMessage::Subscribe {
            id,
            stream,
            parameters,
            definition,
            cursor,
            buckets,
        } => {
            let held = buckets.clone();
            let request = super::subscribe::Request {
                id,
                stream,
                parameters,
                definition,
                cursor,
                buckets,
            };
            let context = stream_context(session, state, hub);
            match super::subscribe::accept(
                session.engine.store().registry(),
                session.actor.role(),
                context,
                request,
            ) {
                Ok(plan) => {
                    state.catching_up += 1;
                    Step::Read(Read::Subscribe(Box::new(plan)))
                }
                Err(refusal) => Step::Reply(super::subscribe::refused(refusal, held)),
            }
        }
        ClientMessage::Unsubscribe { id, ttl_secs } => Step::Reply(super::subscribe::unsubscribe(
            &state.subscriptions,
            hub,
            &id,
            ttl_secs,
        )),
        ClientMessage::Hello { client_id, .. } => {
            state.client_id = client_id.map(|id| id.chars().take(128).collect());
            if let Some(client_id) = &state.client_id {
                tracing::Span::current().record("client_id", client_id.as_str());
            }
            tracing::info!("hello");
            Step::Read(Read::Welcome)
        }
        ClientMessage::DataStatusRequest {
            tenant_id,
            entity_types,
        } => match other_tenant(session, tenant_id.as_deref()) {
            Some(refusal) => reply(refusal),
            None => Step::Read(Read::DataStatus {
                entity_types,
                withheld: withheld(state),
            }),
        },
        ClientMessage::ConnectionStatusRequest => reply(ServerMessage::ConnectionStatusResponse(
            ConnectionStatusResponse {
                tenant_id: session.tenant.to_string(),
                backend_status: "online".to_owned(),
                connection_healthy: true,
                stats: json!({
                    "session_id": state.id,
                    "client_id": state.client_id,
                    "connected_at": state.connected_at.to_string(),
                    "messages_received": state.received,
                    "changes_processed": state.processed,
                    "tenant_sessions": session.engine.hub().sessions(&session.tenant),
                }),
            },
        )),
        ClientMessage::TenantDisconnect { tenant_id, reason } => {
            reply(ServerMessage::TenantDisconnectAck(TenantDisconnectAck {
                tenant_id: tenant_id.unwrap_or_else(|| session.tenant.to_string()),
                status: "success".to_owned(),
                message: format!(
                    "disconnect acknowledged ({})",
                    reason.as_deref().unwrap_or("no reason given")
                ),
            }))
        }
        // A message type this server version does not handle.
        other => reply(ServerMessage::Error(Error {
            message: format!("unsupported message: {other:?}"),
            original_type: None,
        })),
    }
}

/// Answers a read; `last_sync` is the session's, as the read starts.
pub(super) async fn read<S: Store>(
    session: &Session<S>,
    read: Read,
    last_sync: Option<Version>,
) -> Done {
    let store = session.engine.store();
    let catch_up = matches!(read, Read::Subscribe(_) | Read::Resolve(_));
    let (replies, synced) = match read {
        // Streamed into one frame, under the engine's bound on concurrent initial loads.
        Read::Initial(withheld) => match session
            .engine
            .initial_load_withholding(&session.tenant, withheld)
            .await
        {
            Ok(frame) => (vec![Reply::Encoded(frame)], true),
            Err(LoadError::Storage(error)) => (vec![storage_error(&error).into()], false),
            Err(busy) => (
                vec![
                    ServerMessage::Error(Error {
                        message: format!("overloaded: {busy}"),
                        original_type: None,
                    })
                    .into(),
                ],
                false,
            ),
        },
        Read::Changes {
            since,
            limit,
            partial,
        } => match store.changes_since(&session.tenant, since, limit).await {
            Ok(mut page) => {
                page.changes
                    .retain(|effect| !partial.contains(&effect.entity_type));
                (vec![ServerMessage::Changes(page.into()).into()], true)
            }
            Err(error) => (vec![storage_error(&error).into()], false),
        },
        Read::Resolve(context) => {
            match super::subscribe::resolve_again(store, &session.tenant, context).await {
                Ok(replies) => (replies, false),
                Err(error) => (vec![storage_error(&error).into()], false),
            }
        }
        Read::Subscribe(plan) => {
            match super::subscribe::catch_up(store, &session.tenant, *plan).await {
                Ok(replies) => (replies, false),
                Err(error) => (vec![storage_error(&error).into()], false),
            }
        }
        Read::Welcome => match store.cursor(&session.tenant).await {
            Ok(cursor) => (
                vec![
                    ServerMessage::Welcome(Welcome {
                        server_time: Version::now().as_millis(),
                        cursor,
                        protocol: PROTOCOL_VERSION,
                        limits: Limits {
                            max_page: session.config.wire.max_page.min(MAX_PAGE),
                            ..session.config.wire
                        },
                    })
                    .into(),
                ],
                false,
            ),
            Err(error) => (vec![storage_error(&error).into()], false),
        },
        Read::DataStatus {
            entity_types,
            withheld,
        } => (
            vec![
                data_status(session, last_sync, entity_types, &withheld)
                    .await
                    .into(),
            ],
            false,
        ),
    };
    Done::Read {
        replies,
        synced,
        catch_up,
    }
}

/// The replies of a finished step, with the session's state brought up to date.
pub(super) fn finish<S: Store>(session: &Session<S>, state: &mut State, done: Done) -> Vec<Reply> {
    match done {
        Done::Replies(replies) => replies,
        Done::Read {
            replies,
            synced,
            catch_up,
        } => {
            if catch_up {
                state.catching_up -= 1;
                state.covered.add(&replies);
            }
            if synced {
                state.last_sync = Some(Version::now());
            }
            replies
        }
        Done::Entries {
            entries,
            verdicts,
            result,
        } => answer(session, state, &entries, verdicts, result),
    }
}

/// What a subscription's catch-up needs of this session.
pub(super) fn stream_context<S: Store>(
    session: &Session<S>,
    state: &State,
    hub: &crate::hub::Holder,
) -> super::subscribe::Context {
    super::subscribe::Context {
        subscriptions: state.subscriptions.clone(),
        holder: hub.clone(),
        subject: session.actor.subject().to_owned(),
        limits: session.config.streams,
    }
}

/// The collections of `entities`.
fn collections_of<S: Store>(session: &Session<S>, entities: &[&'static str]) -> Vec<&'static str> {
    let registry = session.engine.store().registry();
    entities
        .iter()
        .filter_map(|entity| registry.get(entity).map(|handler| handler.collection()))
        .collect()
}

/// The entities this session must not receive whole: those it subscribed to streams of,
/// and those it may see only through streams.
fn withheld(state: &State) -> Vec<&'static str> {
    let mut entities = super::subscribe::lock(&state.subscriptions).entities();
    entities.extend(&state.restricted);
    entities
}

/// An `error` reply when a message names a tenant other than the session's.
fn other_tenant<S>(session: &Session<S>, named: Option<&str>) -> Option<ServerMessage> {
    named
        .filter(|named| *named != session.tenant.as_str())
        .map(|_| {
            ServerMessage::Error(Error {
                message: "forbidden: this connection is authorised for another tenant".to_owned(),
                original_type: None,
            })
        })
}

fn storage_error(error: &crate::Error) -> ServerMessage {
    tracing::error!(%error, "store read failed");
    ServerMessage::Error(Error {
        message: "storage error: try again later".to_owned(),
        original_type: None,
    })
}

/// Validates entries: the changes to submit, and per entry its change's index or its
/// rejection.
pub(super) fn validate<S>(
    session: &Session<S>,
    entries: &[Entry],
) -> (Vec<crate::change::Change>, Vec<Result<usize, Rejection>>) {
    let mut changes = Vec::with_capacity(entries.len());
    let mut verdicts: Vec<Result<usize, Rejection>> = Vec::with_capacity(entries.len());
    for entry in entries {
        verdicts.push(protocol::to_change(entry, &session.tenant).map(|change| {
            changes.push(change);
            changes.len() - 1
        }));
    }
    (changes, verdicts)
}

/// Answers each entry in order, from the writer's outcomes.
fn answer<S>(
    session: &Session<S>,
    state: &mut State,
    entries: &[Entry],
    verdicts: Vec<Result<usize, Rejection>>,
    submitted: Result<Option<BatchOutcome>, SubmitError>,
) -> Vec<Reply> {
    let batch = match submitted {
        Ok(batch) => batch,
        Err(error) => {
            let rejection = match &error {
                SubmitError::Overloaded => Rejection::new(Reason::Overloaded, error.to_string()),
                SubmitError::Invalid(detail) => {
                    Rejection::new(Reason::ValidationError, detail.clone())
                }
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
                    let rejection = verdict.err().unwrap_or_else(|| rejection.clone());
                    crate::metrics::nack(rejection.reason);
                    protocol::nack(entry, rejection).into()
                })
                .collect();
        }
    };

    let mut replies = Vec::with_capacity(entries.len());
    for (entry, verdict) in entries.iter().zip(verdicts) {
        let index = match verdict {
            Ok(index) => index,
            Err(rejection) => {
                crate::metrics::nack(rejection.reason);
                replies.push(protocol::nack(entry, rejection).into());
                continue;
            }
        };
        let Some(batch) = &batch else { continue };
        let outcome = &batch.outcomes[index];
        crate::metrics::outcome(outcome);
        match outcome {
            Outcome::Rejected(rejection) => {
                replies.push(protocol::nack(entry, rejection.clone()).into());
            }
            _ => replies.extend(protocol::ack(entry, outcome, batch.cursor).map(Reply::from)),
        }
        if let Outcome::Applied {
            effect,
            clamped: true,
            ..
        } = outcome
        {
            tracing::info!(entity_id = %effect.entity_id, "clamped a future updated_at to the server time");
        }
        // The winner over the change, or the state that replaced a retried one: a client
        // that ignores the ACK's extra fields still converges.
        if let Some(adopted) = origin_state(outcome) {
            replies.push(
                protocol::data_update(&session.tenant, Operation::Update, adopted.clone()).into(),
            );
        }
        state.processed += 1;
    }
    state.last_sync = Some(Version::now());
    replies
}

async fn data_status<S: Store>(
    session: &Session<S>,
    last_sync: Option<Version>,
    entity_types: Option<Vec<String>>,
    withheld: &[&'static str],
) -> ServerMessage {
    let store = session.engine.store();
    let registry = store.registry();
    let stream_only = registry.stream_only_collections();
    let mut entity_checksums = BTreeMap::new();
    for handler in registry.iter() {
        let wanted = entity_types.as_ref().is_none_or(|types| {
            types
                .iter()
                .any(|name| name.eq_ignore_ascii_case(handler.entity()))
        });
        // As in an initial load: no trace of an entity no role receives whole, and no rows
        // (not even their ids and checksums) of one this session takes through streams.
        if !wanted || stream_only.contains(&handler.collection()) {
            continue;
        }
        if withheld.contains(&handler.entity()) {
            entity_checksums.insert(handler.entity().to_owned(), Vec::new());
            continue;
        }
        // Only the requested entities' tables are read.
        let rows = match store.list_json(&session.tenant, handler.entity()).await {
            Ok(rows) => rows,
            Err(error) => return storage_error(&error),
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
    ServerMessage::DataStatusResponse(DataStatusResponse {
        tenant_id: session.tenant.to_string(),
        entity_checksums,
        last_sync_time: last_sync.map(|at| at.as_millis().div_euclid(1000)),
        server_time: Version::now().as_millis().div_euclid(1000),
    })
}
