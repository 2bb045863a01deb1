//! Settling a batch's answers: ACKs remove entries and record what the server stored,
//! `superseded` brings the winner, NACKs retry or fail.

use std::collections::HashMap;

use serde_json::Value as Json;
use sqlx::{Connection, SqliteConnection};
use sync_core::entity::Handler;
use sync_core::store::sqlite::Tables;
use sync_core::version::Version;

use super::{handler, meta, set_seq, version_in, write_state};
use crate::backoff::Backoff;
use crate::error::Result;
use crate::event::{Changed, Source};
use crate::outbox::{self, Base, Presence, PresenceIndex};

/// The server's answer to one sent entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// `sync_ack`.
    Ack {
        id: String,
        outcome: AckOutcome,
        version: Option<Version>,
        cursor: Option<u64>,
        data: Option<Json>,
        /// The stored state's sequence number, when the server says (this change's for
        /// `applied`, the winner's for `superseded`).
        seq: Option<u64>,
        /// Whether a `superseded` change's winner is a tombstone, when the server says.
        deleted: Option<bool>,
    },
    /// `sync_nack`.
    Nack {
        id: String,
        reason: String,
        detail: String,
        retryable: bool,
    },
}

impl Answer {
    pub(crate) fn id(&self) -> &str {
        match self {
            Answer::Ack { id, .. } | Answer::Nack { id, .. } => id,
        }
    }
}

/// The `outcome` of an ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    Applied,
    Superseded,
    Duplicate,
}

/// How refused entries are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
}

/// What settling a batch's answers did.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) events: Vec<Changed>,
    /// The stored cursor, when the batch moved it.
    pub(crate) cursor: Option<u64>,
    /// The tenant's cursor after the batch, as the ACKs said.
    pub(crate) server_cursor: Option<u64>,
}

/// Settles the answers to one batch (`entries`, as sent) in one transaction. `floor` is a
/// cursor the server had reached before it processed the batch (what the client knew when
/// it sent it).
#[allow(
    clippy::too_many_arguments,
    reason = "the batch, its answers and their context"
)]
pub(crate) async fn settle(
    conn: &mut SqliteConnection,
    tables: &Tables,
    entries: &[outbox::Sent],
    answers: &[Answer],
    floor: u64,
    policy: RetryPolicy,
    now_ms: i64,
) -> Result<Settled> {
    let is_applied = |answer: &Answer| {
        matches!(
            answer,
            Answer::Ack {
                outcome: AckOutcome::Applied,
                ..
            }
        )
    };
    let server_cursor = answers
        .iter()
        .filter_map(|answer| match answer {
            Answer::Ack { cursor, .. } => *cursor,
            Answer::Nack { .. } => None,
        })
        .max();
    let applied = answers.iter().filter(|answer| is_applied(answer)).count() as u64;
    // When the batch's changes are all the server committed after `floor`, their sequence
    // numbers are known exactly: floor + 1, floor + 2, … in entry order.
    let exact = server_cursor.is_some_and(|cursor| cursor.checked_sub(floor) == Some(applied));
    let sent: HashMap<&str, &outbox::Sent> = entries
        .iter()
        .map(|entry| (entry.id.as_str(), entry))
        .collect();
    let mut settled = Settled {
        server_cursor,
        ..Settled::default()
    };

    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    // Every ACK settles its entry, except a duplicate of another version (below).
    let acknowledged: Vec<&str> = answers
        .iter()
        .filter(|answer| match answer {
            Answer::Ack {
                outcome: AckOutcome::Duplicate,
                version,
                id,
                ..
            } => sent
                .get(id.as_str())
                .is_some_and(|entry| version.is_none_or(|version| version == entry.version)),
            Answer::Ack { id, .. } => sent.contains_key(id.as_str()),
            Answer::Nack { .. } => false,
        })
        .map(Answer::id)
        .collect();
    outbox::remove_all(&mut tx, &acknowledged).await?;
    let entity_ids: Vec<&str> = entries
        .iter()
        .map(|entry| entry.entity_id.as_str())
        .collect();
    let index = PresenceIndex::load_for(&mut tx, &entity_ids).await?;

    let mut next_seq = floor;
    for answer in answers {
        if is_applied(answer) {
            next_seq += 1;
        }
        let Some(entry) = sent.get(answer.id()) else {
            continue;
        };
        let Some(handler) = handler(tables, &entry.entity_type) else {
            continue;
        };
        let presence = index.get(handler.entity(), &entry.entity_id);
        let changed = match answer {
            Answer::Ack {
                outcome: AckOutcome::Applied,
                version,
                seq,
                ..
            } => {
                // The ACK's own sequence number when the server sends one; else it is above
                // `floor`: exactly `next_seq` when known, else at least `floor + 1`.
                let seq = seq.unwrap_or(if exact { next_seq } else { floor + 1 });
                mark_synced(
                    &mut tx,
                    tables,
                    handler,
                    entry,
                    *version,
                    Some(seq),
                    presence,
                )
                .await?
            }
            Answer::Ack {
                outcome: AckOutcome::Duplicate,
                version,
                ..
            } => {
                if version.is_some_and(|version| version != entry.version) {
                    // Processed before, and the client never learned the outcome, which
                    // was not this version: ask again under a new id to learn the winner.
                    outbox::reissue(&mut tx, &entry.id).await?;
                    None
                } else {
                    mark_synced(&mut tx, tables, handler, entry, *version, None, presence).await?
                }
            }
            Answer::Ack {
                outcome: AckOutcome::Superseded,
                version,
                data,
                seq,
                deleted,
                ..
            } => match data {
                Some(data) => {
                    let winner = Winner {
                        data,
                        stored: *version,
                        seq: *seq,
                        deleted: *deleted,
                    };
                    adopt_winner(
                        &mut tx,
                        tables,
                        handler,
                        &entry.entity_id,
                        winner,
                        floor,
                        presence,
                    )
                    .await?
                }
                // A server without the winner in its ACK sends it as a data_update.
                None => None,
            },
            Answer::Nack {
                reason,
                detail,
                retryable,
                ..
            } => {
                if !retryable {
                    outbox::fail(&mut tx, &entry.id, reason, detail).await?;
                } else if entry.attempts >= policy.max_attempts {
                    let detail = format!("gave up after {} attempts: {detail}", entry.attempts);
                    outbox::fail(&mut tx, &entry.id, reason, &detail).await?;
                } else {
                    let delay = policy.backoff.delay(entry.attempts.saturating_sub(1));
                    let next =
                        now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                    outbox::retry_later(&mut tx, &entry.id, next, reason, detail).await?;
                }
                None
            }
        };
        settled.events.extend(changed);
    }
    if let Some(cursor) = server_cursor.filter(|_| exact)
        && meta::cursor(&mut tx).await? == floor
    {
        meta::set_cursor(&mut tx, cursor).await?;
        settled.cursor = Some(cursor);
    }
    tx.commit().await?;
    Ok(settled)
}

/// After an ACK that stored the entry's own state: records the row's sequence number and
/// takes the stored version if the server changed it (a clamped future timestamp).
#[allow(clippy::too_many_arguments, reason = "the entry and its answer")]
async fn mark_synced(
    conn: &mut SqliteConnection,
    tables: &Tables,
    handler: &dyn Handler,
    entry: &outbox::Sent,
    stored: Option<Version>,
    seq: Option<u64>,
    presence: Presence,
) -> Result<Option<Changed>> {
    if presence.unsettled {
        // A newer local edit waits; its own answer settles the row.
        return Ok(None);
    }
    let Some(local) = tables.get(conn, handler.entity(), &entry.entity_id).await? else {
        return Ok(None);
    };
    let seq = seq.unwrap_or(local.seq).max(local.seq);
    match stored {
        Some(stored) if stored != local.version && local.version == entry.version => {
            let mut data = local.data.clone();
            if let Some(object) = data.as_object_mut() {
                object.insert(
                    handler.updated_at_key().to_owned(),
                    Json::String(stored.to_string()),
                );
            }
            write_state(
                conn,
                tables,
                handler,
                &entry.entity_id,
                local.deleted,
                stored,
                &data,
                seq,
                Source::Remote,
            )
            .await
        }
        _ => {
            if seq > local.seq {
                set_seq(conn, handler, &entry.entity_id, seq).await?;
            }
            Ok(None)
        }
    }
}

/// After a `superseded` ACK: the replica takes the state that won, unless a newer local
/// edit waits for its own answer.
#[allow(clippy::too_many_arguments, reason = "the winner and its context")]
/// The winner a `superseded` ACK carries.
struct Winner<'a> {
    data: &'a Json,
    stored: Option<Version>,
    seq: Option<u64>,
    deleted: Option<bool>,
}

async fn adopt_winner(
    conn: &mut SqliteConnection,
    tables: &Tables,
    handler: &dyn Handler,
    entity_id: &str,
    winner: Winner<'_>,
    floor: u64,
    presence: Presence,
) -> Result<Option<Changed>> {
    let data = winner.data;
    let Some(version) = version_in(handler, data).or(winner.stored) else {
        return Ok(None);
    };
    // A server that does not say whether the winner is a tombstone: a tombstone's JSON
    // holds only the id and the version.
    let deleted = winner.deleted.unwrap_or_else(|| {
        data.as_object().is_some_and(|object| {
            object
                .keys()
                .all(|key| key == handler.id_key() || key == handler.updated_at_key())
        })
    });
    let local_seq = tables
        .get(conn, handler.entity(), entity_id)
        .await?
        .map_or(0, |local| local.seq);
    // The winner's own sequence number when the server says; else every change newer than
    // the winner was committed after the batch was sent, so its number is above `floor`.
    let state = Base {
        deleted,
        version,
        data: data.clone(),
        seq: winner.seq.unwrap_or(floor).max(local_seq),
    };
    if presence.unsettled {
        outbox::rebase(conn, handler.entity(), entity_id, &state).await?;
        return Ok(None);
    }
    if let Some(local) = tables.get(conn, handler.entity(), entity_id).await?
        && local.deleted == deleted
        && local.version == version
        && (deleted || local.data == *data)
    {
        if state.seq > local.seq {
            set_seq(conn, handler, entity_id, state.seq).await?;
        }
        return Ok(None);
    }
    // The winner replaces the local edit whatever the sequence numbers say.
    write_state(
        conn,
        tables,
        handler,
        entity_id,
        deleted,
        version,
        data,
        state.seq,
        Source::Remote,
    )
    .await
}
