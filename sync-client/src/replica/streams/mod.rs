//! Partial sync in the replica: rows held by buckets (see [`crate::subscription`]).
//!
//! A row of a *streamed* entity (one subscribed on this replica, now or before) stays in
//! the replica while a bucket holds it: `_sync_holds` keeps one row per (subscription, bucket,
//! row) with the sequence number of the last change it applied, so overlapping
//! subscriptions store a row once and count it twice. A change is applied to a hold only
//! when it is newer than the hold (catch-up and live delivery overlap); a leave is
//! recorded as a hold that no longer holds, so an older put cannot bring the row back.
//!
//! A row no hold keeps leaves the replica, unless it has an outbox entry: it is pinned
//! until the entry is answered, and then its holds are computed again from the state the
//! server settled (the server does not send a writer its own puts), and it leaves if none
//! holds it. An ACK of an entry while a newer edit of the row still waits records the holds
//! of the state the server stored, so a refusal of the newer edit finds the row in reach.
//! An edit of a row out of reach that the server refused as `forbidden` does not pin it:
//! the edit is dropped with the row, and reported ([`Dropped`]).
//!
//! A reload of one subscription (its catch-up starts at 0) is a mark-and-sweep: its holds
//! are unmarked at `subscribed`, every change and snapshot row of the reload marks the
//! hold it touches, and at the subscription's checkpoint the unmarked holds go. Rows held
//! before and after stay in the replica throughout.

pub(crate) mod apply;
pub(crate) mod holds;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use sqlx::SqliteConnection;
use sync_core::store::sqlite::Tables;

use super::{forget, handler};
use crate::error::Result;
use crate::event::{Changed, Dropped, Event, Source};
use crate::outbox;

/// What removing unheld rows did.
#[derive(Debug, Default)]
pub(crate) struct Evicted {
    /// The rows that left, as deletes ([`Source::Remote`]).
    pub(crate) changed: Vec<Changed>,
    /// Edits refused as `forbidden` that kept a row no bucket holds any more: dropped with
    /// it.
    pub(crate) dropped: Vec<Dropped>,
}

impl Evicted {
    /// As events, the deletes first.
    pub(crate) fn into_events(self) -> Vec<Event> {
        self.changed
            .into_iter()
            .map(Event::Changed)
            .chain(self.dropped.into_iter().map(Event::Dropped))
            .collect()
    }
}

/// Removes the rows of `rows` that are of a streamed entity, held by no bucket and pinned
/// by no outbox entry (an entry that failed as `forbidden` does not pin: it is dropped).
pub(crate) async fn evict_unheld(
    conn: &mut SqliteConnection,
    tables: &Tables,
    rows: impl IntoIterator<Item = (String, String)>,
) -> Result<Evicted> {
    let streamed = holds::streamed(conn).await?;
    let mut seen = BTreeSet::new();
    let mut evicted = Evicted::default();
    for (entity, entity_id) in rows {
        if !streamed.contains(&entity) || !seen.insert((entity.clone(), entity_id.clone())) {
            continue;
        }
        let Some(handler) = handler(tables, &entity) else {
            continue;
        };
        if holds::held_count(conn, &entity, &entity_id).await? > 0 {
            continue;
        }
        let Some(state) = tables.get(conn, handler.entity(), &entity_id).await? else {
            continue;
        };
        if outbox::has_entries(conn, &entity, &entity_id).await? {
            let entries = outbox::entries_of(conn, &entity, &entity_id).await?;
            let refused = entries.iter().all(|entry| {
                entry.status == outbox::Status::Failed && entry.reason.as_deref() == Some(FORBIDDEN)
            });
            if !refused {
                continue;
            }
            let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
            outbox::remove_all(conn, &ids).await?;
            evicted.dropped.push(Dropped {
                entity_type: handler.entity(),
                entity_id: entity_id.clone(),
                data: (!state.deleted).then(|| state.data.clone()),
                detail: entries
                    .last()
                    .and_then(|entry| entry.detail.clone())
                    .unwrap_or_default(),
                changes: entries,
            });
        }
        forget(conn, handler, &entity_id).await?;
        if !state.deleted {
            evicted.changed.push(Changed {
                entity_type: handler.entity(),
                entity_id: entity_id.clone(),
                deleted: true,
                version: state.version,
                data: handler.tombstone_json(&entity_id, state.version),
                source: Source::Remote,
            });
        }
    }
    Ok(evicted)
}

/// The NACK reason of a write outside what the principal may see.
pub(crate) const FORBIDDEN: &str = "forbidden";

/// After the server answered a row's last outbox entry: its holds from the state the
/// replica now has (the server sends a writer none of its own puts), then it leaves if
/// nothing holds it.
pub(crate) async fn settled(
    conn: &mut SqliteConnection,
    tables: &Tables,
    rows: impl IntoIterator<Item = (String, String)>,
) -> Result<Evicted> {
    let streamed = holds::streamed(conn).await?;
    let mut candidates = Vec::new();
    for (entity, entity_id) in rows {
        if !streamed.contains(&entity) || outbox::has_entries(conn, &entity, &entity_id).await? {
            continue;
        }
        let Some(handler) = handler(tables, &entity) else {
            continue;
        };
        if let Some(state) = tables.get(conn, handler.entity(), &entity_id).await? {
            hold_state(
                conn,
                handler,
                &entity_id,
                state.deleted,
                &state.data,
                state.seq,
            )
            .await?;
        }
        candidates.push((entity, entity_id));
    }
    evict_unheld(conn, tables, candidates).await
}

/// A row's holds from a state the server holds at `seq`: its own change's, settled while a
/// newer local edit still waits, or the replica's once nothing waits. The buckets of the
/// active subscriptions that contain the state hold it; those that held it before and do
/// not contain it now hold it no more.
pub(crate) async fn hold_state(
    conn: &mut SqliteConnection,
    handler: &dyn sync_core::entity::Handler,
    entity_id: &str,
    deleted: bool,
    data: &serde_json::Value,
    seq: u64,
) -> Result<()> {
    if seq == 0 || !holds::streamed(conn).await?.contains(handler.entity()) {
        return Ok(());
    }
    let subscriptions = holds::list(conn).await?;
    for (index, spec) in handler.streams().iter().enumerate() {
        let bucket = if deleted {
            None
        } else {
            handler.bucket(index, data)
        };
        let known = holds::of_row(conn, handler.entity(), entity_id).await?;
        for subscription in subscriptions
            .iter()
            .filter(|subscription| subscription.active() && subscription.stream == spec.name)
        {
            let mut buckets: BTreeSet<&str> = known
                .iter()
                .filter(|hold| hold.subscription == subscription.id && hold.held)
                .map(|hold| hold.bucket.as_str())
                .collect();
            if let Some(bucket) = bucket.as_deref()
                && subscription.holds(bucket)
            {
                buckets.insert(bucket);
            }
            for held in buckets {
                holds::put(
                    conn,
                    holds::Put {
                        subscription: &subscription.id,
                        stream: spec.name,
                        bucket: held,
                        entity: handler.entity(),
                        entity_id,
                        seq,
                        held: Some(held) == bucket.as_deref(),
                    },
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Whether `entity_id` is of a streamed entity and no bucket holds it: a refused edit of
/// it is for a row the client may no longer see.
pub(crate) async fn unheld(
    conn: &mut SqliteConnection,
    entity: &str,
    entity_id: &str,
) -> Result<bool> {
    Ok(holds::streamed(conn).await?.contains(entity)
        && holds::held_count(conn, entity, entity_id).await? == 0)
}
