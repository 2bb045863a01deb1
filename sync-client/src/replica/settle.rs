//! Settling a batch's answers: ACKs remove entries and record what the server stored,
//! `superseded` and `duplicate` bring the state that holds, NACKs retry or fail.
//!
//! # The rule
//!
//! Once the last pending change of an entity is settled (an ACK of any outcome, or a
//! permanent failure that the app discards), the replica holds the server's current state
//! of that entity. Holding incoming changes back while a local change waits
//! ([`apply`](super::apply), rule 1) is allowed only because of this rule:
//!
//! - a held-back state is not dropped: it is remembered as the waiting entries' *base*
//!   (the newest by server sequence number), in the transaction that moves the cursor
//!   past it;
//! - when an ACK settles the entity's last waiting entry, the replica takes what the ACK
//!   reports (the entry's own state for `applied`, the winner for `superseded`, the
//!   current state for a `duplicate` that carries one) and then the base by the apply
//!   rules, so the newer of the two by sequence number is what remains. A server that
//!   sends no state in a `duplicate` is covered too: the state that replaced the change
//!   reached the client through the feed, and is the base;
//! - when another local edit still waits, the row keeps that edit, and what the server
//!   holds (the answer's state and the base, the newer one) becomes that edit's base;
//! - a permanent failure keeps the local edit and the base until the app decides:
//!   [`discard_failed`](super::local::discard_failed) restores the newest base of the
//!   failed entries, unless a newer server state has replaced the edits since (a failed
//!   entry holds nothing back). If the app retries instead and the server applies the
//!   edit, the ACK brings the edit's state back over a server state that replaced it.

use std::collections::HashMap;

use serde_json::Value as Json;
use sqlx::{Connection, SqliteConnection};
use sync_core::change::Operation;
use sync_core::entity::Handler;
use sync_core::protocol::{Ack, AckOutcome, Nack, OutcomeKind, State};
use sync_core::store::sqlite::Tables;
use sync_core::version::Version;

use super::apply::apply_state;
use super::{handler, meta, set_seq, streams, version_in, write_state};
use crate::backoff::Backoff;
use crate::error::Result;
use crate::event::{Changed, Dropped, Source};
use crate::outbox::{self, Base, PresenceIndex};

/// The server's answer to one sent entry, as the protocol types it: the replica reads the
/// ACK's outcome through [`Ack::outcome`] and a NACK's retryability through
/// [`Nack::retryable`], and guesses neither.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// `sync_ack`.
    Ack(Ack),
    /// `sync_nack`.
    Nack(Nack),
}

impl Answer {
    pub(crate) fn id(&self) -> &str {
        match self {
            Answer::Ack(ack) => &ack.id,
            Answer::Nack(nack) => &nack.id,
        }
    }
}

/// How refused entries are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    /// Seeds the jitter of this batch's retries.
    pub(crate) jitter_seed: u64,
}

/// What settling a batch's answers did.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) events: Vec<Changed>,
    /// The stored cursor, when the batch moved it.
    pub(crate) cursor: Option<u64>,
    /// The tenant's cursor after the batch, as the ACKs said.
    pub(crate) server_cursor: Option<u64>,
    /// Edits of rows the client no longer holds, refused as forbidden and dropped.
    pub(crate) dropped: Vec<Dropped>,
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
    let is_applied =
        |answer: &Answer| matches!(answer, Answer::Ack(ack) if ack.outcome == OutcomeKind::Applied);
    let server_cursor = answers
        .iter()
        .filter_map(|answer| match answer {
            Answer::Ack(ack) => ack.cursor,
            Answer::Nack(_) => None,
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

    let mut jitter = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(policy.jitter_seed);
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    // Every ACK settles its entry, except a duplicate an old server answered with another
    // version and nothing else (below).
    let acknowledged: Vec<&str> = answers
        .iter()
        .filter(|answer| {
            sent.get(answer.id())
                .is_some_and(|entry| settles(answer, entry))
        })
        .map(Answer::id)
        .collect();
    // What the entries sent and remembered, read before they go.
    let recorded = outbox::recorded(&mut tx, &acknowledged).await?;
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
        let ack = match answer {
            Answer::Nack(nack) => {
                let (reason, detail) = (nack.reason.as_str(), nack.detail.as_str());
                if !nack.retryable()
                    && reason == streams::FORBIDDEN
                    && streams::unheld(&mut tx, handler.entity(), &entry.entity_id).await?
                {
                    let (dropped, events) =
                        drop_unheld(&mut tx, tables, handler, &entry.entity_id, detail).await?;
                    settled.dropped.push(dropped);
                    settled.events.extend(events);
                } else if !nack.retryable() {
                    outbox::fail(&mut tx, &entry.id, reason, detail).await?;
                } else if entry.attempts >= policy.max_attempts {
                    let detail = format!("gave up after {} attempts: {detail}", entry.attempts);
                    outbox::fail(&mut tx, &entry.id, reason, &detail).await?;
                } else {
                    let delay = policy
                        .backoff
                        .delay_with(entry.attempts.saturating_sub(1), &mut jitter);
                    let next =
                        now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                    outbox::retry_later(&mut tx, &entry.id, next, reason, detail).await?;
                }
                continue;
            }
            Answer::Ack(ack) => ack,
        };
        if !settles(answer, entry) {
            // Processed before, and the client never learned the outcome, which was not
            // this version: ask again under a new id to learn the winner.
            outbox::reissue(&mut tx, &entry.id).await?;
            continue;
        }
        let reported = match ack.outcome() {
            AckOutcome::Own {
                kind: OutcomeKind::Applied,
                updated_at,
                seq,
            } => Reported::Own {
                stored: parse_version(updated_at),
                // The ACK's own sequence number when the server sends one; else it is
                // above `floor`: exactly `next_seq` when known, else at least `floor + 1`.
                seq: Some(seq.unwrap_or(if exact { next_seq } else { floor + 1 })),
            },
            // The entity still holds this change's state (a current server says so with
            // the state's `seq`; an old one with the entry's own version).
            AckOutcome::Own {
                updated_at, seq, ..
            } => Reported::Own {
                stored: parse_version(updated_at),
                seq,
            },
            // The winner over a `superseded` change, or what replaced a `duplicate`'s.
            AckOutcome::Other { state, .. } => Reported::Other(state),
            // A server without the winner in its ACK sends it as a data_update.
            AckOutcome::Pending => Reported::Unknown,
        };
        let Some(record) = recorded.get(&entry.id) else {
            continue;
        };
        let context = Context {
            tables,
            handler,
            entry,
            deletes: record.operation == Operation::Delete,
            floor,
        };
        let state = match reported {
            Reported::Own { stored, seq } => own_state(handler, entry, record, stored, seq),
            Reported::Other(winner) => winner_state(&mut tx, &context, winner).await?,
            Reported::Unknown => None,
        };
        if presence.unsettled {
            // A newer local edit waits, and its own answer settles the row. Until then,
            // what the server holds is remembered for it, as a skipped change would be.
            for state in [state.as_ref(), record.base.as_ref()].into_iter().flatten() {
                if state.seq > 0 {
                    outbox::rebase(&mut tx, handler.entity(), &entry.entity_id, state).await?;
                    // The server holds this state: the buckets that contain it hold the
                    // row (no page brings a writer its own put), so a refusal of the
                    // edit that waits finds the row within reach.
                    streams::hold_state(
                        &mut tx,
                        handler,
                        &entry.entity_id,
                        state.deleted,
                        &state.data,
                        state.seq,
                    )
                    .await?;
                }
            }
            continue;
        }
        // The entity's last pending change is settled: the replica takes what the answer
        // reports, then whatever newer state was held back while the change waited (its
        // base), so it ends with the server's current state whatever the outcome.
        let changed = match (reported, state) {
            (Reported::Own { stored, seq }, own) => {
                mark_synced(&mut tx, &context, stored, seq, own.as_ref()).await?
            }
            (Reported::Other(_), Some(state)) => adopt(&mut tx, &context, &state).await?,
            (Reported::Other(_) | Reported::Unknown, _) => None,
        };
        settled.events.extend(changed);
        if let Some(base) = &record.base {
            let caught_up =
                apply_state(&mut tx, tables, handler, &entry.entity_id, base, presence).await?;
            settled.events.extend(caught_up);
        }
    }
    // A streamed entity's rows are held by what the server settled, or leave.
    let answered = acknowledged.iter().filter_map(|id| {
        sent.get(id)
            .map(|entry| (entry.entity_type.clone(), entry.entity_id.clone()))
    });
    let answered: Vec<(String, String)> = answered.collect();
    let evicted = streams::settled(&mut tx, tables, answered).await?;
    settled.events.extend(evicted.changed);
    settled.dropped.extend(evicted.dropped);
    if let Some(cursor) = server_cursor.filter(|_| exact)
        && meta::cursor(&mut tx).await? == floor
    {
        meta::set_cursor(&mut tx, cursor).await?;
        settled.cursor = Some(cursor);
    }
    tx.commit().await?;
    Ok(settled)
}

/// A refused edit of a row no bucket holds: the row's entries leave the outbox and the row
/// the replica, and the app is told what was lost.
async fn drop_unheld(
    conn: &mut SqliteConnection,
    tables: &Tables,
    handler: &dyn Handler,
    entity_id: &str,
    detail: &str,
) -> Result<(Dropped, Vec<Changed>)> {
    let changes = outbox::entries_of(conn, handler.entity(), entity_id).await?;
    let data = tables
        .get(conn, handler.entity(), entity_id)
        .await?
        .filter(|state| !state.deleted)
        .map(|state| state.data);
    let ids: Vec<&str> = changes.iter().map(|entry| entry.id.as_str()).collect();
    outbox::remove_all(conn, &ids).await?;
    let events = streams::evict_unheld(
        conn,
        tables,
        [(handler.entity().to_owned(), entity_id.to_owned())],
    )
    .await?
    .changed;
    let dropped = Dropped {
        entity_type: handler.entity(),
        entity_id: entity_id.to_owned(),
        data,
        changes,
        detail: detail.to_owned(),
    };
    Ok((dropped, events))
}

/// Whether an ACK settles its entry. Every ACK does, except a `duplicate` that carries
/// neither a state nor a sequence number and names a version other than the entry's: an
/// old server's answer to a change whose original outcome was lost and was not this state.
fn settles(answer: &Answer, entry: &outbox::Sent) -> bool {
    let Answer::Ack(ack) = answer else {
        return false;
    };
    match ack.outcome() {
        AckOutcome::Own {
            kind: OutcomeKind::Duplicate,
            updated_at,
            seq: None,
        } => parse_version(updated_at).is_none_or(|version| version == entry.version),
        _ => true,
    }
}

/// A version as an ACK names it; one that does not parse is not named.
fn parse_version(text: Option<&str>) -> Option<Version> {
    text.and_then(|text| Version::parse(text).ok())
}

/// What an ACK says the server holds for the entity.
#[derive(Clone, Copy)]
enum Reported<'a> {
    /// The entry's own state, stored at `stored` (the server's version, when it clamped a
    /// future one), at sequence number `seq` when known.
    Own {
        stored: Option<Version>,
        seq: Option<u64>,
    },
    /// Another state: the winner over the entry, or the state that replaced it since.
    Other(State<'a>),
    /// Nothing yet: a `superseded` ACK without its winner, which follows as a `data_update`.
    Unknown,
}

/// The entry being settled and what its answer is read against.
struct Context<'a> {
    tables: &'a Tables,
    handler: &'a dyn Handler,
    entry: &'a outbox::Sent,
    /// Whether the entry is a delete.
    deletes: bool,
    floor: u64,
}

/// The entry's own state as the server stored it; `None` when its sequence number is not
/// known (it then cannot be ordered against other states).
fn own_state(
    handler: &dyn Handler,
    entry: &outbox::Sent,
    record: &outbox::Recorded,
    stored: Option<Version>,
    seq: Option<u64>,
) -> Option<Base> {
    let version = stored.unwrap_or(entry.version);
    let mut data = record.payload.clone();
    if let Some(object) = data.as_object_mut() {
        object.insert(
            handler.updated_at_key().to_owned(),
            Json::String(version.to_string()),
        );
    }
    Some(Base {
        deleted: record.operation == Operation::Delete,
        version,
        data,
        seq: seq?,
    })
}

/// After an ACK that stored the entry's own state: records the row's sequence number and
/// takes the stored version if the server changed it (a clamped future timestamp). A row
/// that no longer holds the entry's state (a server state replaced the edit while it had
/// failed, and the app retried it) takes the entry's state `own` when that is newer by
/// sequence number.
async fn mark_synced(
    conn: &mut SqliteConnection,
    context: &Context<'_>,
    stored: Option<Version>,
    seq: Option<u64>,
    own: Option<&Base>,
) -> Result<Option<Changed>> {
    let Context {
        tables,
        handler,
        entry,
        deletes,
        ..
    } = *context;
    let local = tables.get(conn, handler.entity(), &entry.entity_id).await?;
    // The version alone does not say it: another client's state may carry the same one.
    let holds_own = local.as_ref().is_some_and(|local| {
        local.deleted == deletes
            && (local.version == entry.version || Some(local.version) == stored)
    });
    if !holds_own {
        let local_seq = local.as_ref().map_or(0, |local| local.seq);
        let Some(own) = own.filter(|own| own.seq > local_seq) else {
            return Ok(None);
        };
        return write_state(
            conn,
            tables,
            handler,
            &entry.entity_id,
            own.deleted,
            own.version,
            &own.data,
            own.seq,
            Source::Remote,
        )
        .await;
    }
    let Some(local) = local else {
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

/// The winner as a state to apply, or `None` when it has no version.
async fn winner_state(
    conn: &mut SqliteConnection,
    context: &Context<'_>,
    winner: State<'_>,
) -> Result<Option<Base>> {
    let Context {
        tables,
        handler,
        entry,
        floor,
        ..
    } = *context;
    let data = winner.data;
    let Some(version) = version_in(handler, data).or(parse_version(winner.updated_at)) else {
        return Ok(None);
    };
    let local_seq = tables
        .get(conn, handler.entity(), &entry.entity_id)
        .await?
        .map_or(0, |local| local.seq);
    // The winner's own sequence number when the server says; else every change newer than
    // the winner was committed after the batch was sent, so its number is above `floor`.
    Ok(Some(Base {
        deleted: winner.deleted,
        version,
        data: data.clone(),
        seq: winner.seq.unwrap_or(floor).max(local_seq),
    }))
}

/// The replica takes `state`, the winner over the entry's local edit, whatever the
/// sequence numbers say.
async fn adopt(
    conn: &mut SqliteConnection,
    context: &Context<'_>,
    state: &Base,
) -> Result<Option<Changed>> {
    let Context {
        tables,
        handler,
        entry,
        ..
    } = *context;
    let entity_id = entry.entity_id.as_str();
    if let Some(local) = tables.get(conn, handler.entity(), entity_id).await?
        && local.deleted == state.deleted
        && local.version == state.version
        && (state.deleted || local.data == state.data)
    {
        if state.seq > local.seq {
            set_seq(conn, handler, entity_id, state.seq).await?;
        }
        return Ok(None);
    }
    write_state(
        conn,
        tables,
        handler,
        entity_id,
        state.deleted,
        state.version,
        &state.data,
        state.seq,
        Source::Remote,
    )
    .await
}
