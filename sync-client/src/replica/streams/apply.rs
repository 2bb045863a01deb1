//! What the replica does with the messages of partial sync, and with the app's
//! subscribes and unsubscribes. Each function is one local transaction.

use std::collections::BTreeMap;

use sqlx::{Connection, SqliteConnection};
use sync_core::protocol::{
    BucketOp, BucketRemoved, BucketSnapshot, Checkpoint, RemovedReason, StreamPage, Subscribed,
};
use sync_core::store::sqlite::Tables;

use super::holds::{self, Stored};
use super::{evict_unheld, handler};
use crate::error::Result;
use crate::event::{self, Changed, Event};
use crate::replica::apply::{Lookup, Remote, apply_remote};
use crate::replica::id_in;
use crate::subscription::SubscriptionId;

/// What a session knows of one subscription it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The definition `subscribed` named, stored with the cursor at the checkpoint.
    pub(crate) definition: Option<String>,
    /// The catch-up reloads the subscription (mark-and-sweep at the checkpoint).
    pub(crate) loading: bool,
    /// The subscription's own checkpoint arrived (or the server refused it): live
    /// checkpoints move its cursor from now on.
    pub(crate) caught_up: bool,
    /// The server refused it: nothing to end when it is unsubscribed.
    pub(crate) refused: bool,
}

/// Records a new subscription; its entity is streamed from now on, for good.
pub(crate) async fn subscribe(conn: &mut SqliteConnection, subscription: &Stored) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    holds::set_streamed(&mut tx, &subscription.entity).await?;
    holds::insert(&mut tx, subscription).await?;
    tx.commit().await?;
    Ok(())
}

/// `subscribed`: `None` for a subscription the replica no longer syncs; else the progress
/// of its catch-up (a reload unmarks its holds).
pub(crate) async fn subscribed(
    conn: &mut SqliteConnection,
    message: &Subscribed,
) -> Result<Option<Progress>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let Some(stored) = holds::get(&mut tx, &message.id).await? else {
        return Ok(None);
    };
    if !stored.active() {
        return Ok(None);
    }
    holds::set_error(&mut tx, &message.id, None).await?;
    holds::set_buckets(&mut tx, &message.id, &message.buckets).await?;
    // A bucket the replica did not hold (granted since) comes as a `bucket_snapshot`.
    let loading = message.cursor == 0;
    if loading {
        holds::unmark(&mut tx, &message.id).await?;
    }
    tx.commit().await?;
    Ok(Some(Progress {
        definition: Some(message.definition.clone()),
        loading,
        caught_up: false,
        refused: false,
    }))
}

/// `subscription_error`: recorded for [`Client::subscriptions`](crate::Client::subscriptions);
/// the rows stay.
pub(crate) async fn refused(conn: &mut SqliteConnection, id: &str, message: &str) -> Result<()> {
    holds::set_error(conn, id, Some(message)).await
}

/// A `stream_page`, in one transaction: each change applied to the holds it concerns when
/// it is newer than they are, the puts' rows by the apply rules, and the rows left unheld
/// removed.
pub(crate) async fn page(
    conn: &mut SqliteConnection,
    tables: &Tables,
    page: &StreamPage,
) -> Result<Vec<Event>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let subscriptions: Vec<Stored> = holds::list(&mut tx)
        .await?
        .into_iter()
        .filter(Stored::active)
        .collect();
    let mut changes: Vec<_> = page.changes.iter().collect();
    changes.sort_by_key(|change| change.seq);
    let mut events = Vec::new();
    let mut touched = Vec::new();
    for change in changes {
        let Some(handler) = handler(tables, &change.entity_type) else {
            continue;
        };
        let entity = handler.entity();
        // A catch-up page is its subscription's; a live one every subscription's that
        // holds the bucket.
        let mut targets: Vec<(String, String, String)> = subscriptions
            .iter()
            .filter(|subscription| {
                subscription.stream == change.stream
                    && match &page.subscription {
                        Some(id) => subscription.id == *id,
                        None => subscription.holds(&change.bucket),
                    }
            })
            .map(|subscription| {
                (
                    subscription.id.clone(),
                    change.stream.clone(),
                    change.bucket.clone(),
                )
            })
            .collect();
        if change.op == BucketOp::Tombstone {
            // A deleted row is in no bucket of any stream.
            for hold in holds::of_row(&mut tx, entity, &change.entity_id).await? {
                targets.push((hold.subscription, hold.stream, hold.bucket));
            }
        }
        let mut accepted = false;
        for (subscription, stream, bucket) in &targets {
            let hold = holds::Put {
                subscription,
                stream,
                bucket,
                entity,
                entity_id: &change.entity_id,
                seq: change.seq,
                held: change.op == BucketOp::Put && *bucket == change.bucket,
            };
            if holds::put(&mut tx, hold).await? {
                accepted = true;
            } else {
                holds::mark(
                    &mut tx,
                    &holds::Put {
                        subscription,
                        stream,
                        bucket,
                        entity,
                        entity_id: &change.entity_id,
                        seq: change.seq,
                        held: false,
                    },
                )
                .await?;
            }
        }
        if accepted
            && change.op == BucketOp::Put
            && let Some(data) = &change.data
        {
            let remote = Remote {
                entity_type: entity,
                deleted: false,
                data,
                seq: change.seq,
            };
            events.extend(apply_remote(&mut tx, tables, remote, Lookup::Query).await?);
        }
        touched.push((entity.to_owned(), change.entity_id.clone()));
    }
    let mut events: Vec<Event> = events.into_iter().map(Event::Changed).collect();
    events.extend(evict_unheld(&mut tx, tables, touched).await?.into_events());
    tx.commit().await?;
    Ok(events)
}

/// A `bucket_snapshot`, in one transaction: every row held by the bucket at the
/// snapshot's cursor, and applied by the apply rules.
pub(crate) async fn snapshot(
    conn: &mut SqliteConnection,
    tables: &Tables,
    snapshot: &BucketSnapshot,
) -> Result<Vec<Changed>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let Some(stored) = holds::get(&mut tx, &snapshot.subscription)
        .await?
        .filter(Stored::active)
    else {
        return Ok(Vec::new());
    };
    let Some(handler) = handler(tables, &snapshot.entity_type) else {
        return Ok(Vec::new());
    };
    if !stored.holds(&snapshot.bucket) {
        // A bucket granted since (a stream keyed by the principal gained it).
        let mut buckets = stored.buckets.clone().unwrap_or(stored.keys.clone());
        buckets.push(snapshot.bucket.clone());
        holds::set_buckets(&mut tx, &stored.id, &buckets).await?;
    }
    let mut events = Vec::new();
    for row in &snapshot.rows {
        let Some(entity_id) = id_in(row) else {
            continue;
        };
        let hold = holds::Put {
            subscription: &snapshot.subscription,
            stream: &snapshot.stream,
            bucket: &snapshot.bucket,
            entity: handler.entity(),
            entity_id: &entity_id,
            seq: snapshot.cursor,
            held: true,
        };
        if holds::put(&mut tx, hold).await? {
            let remote = Remote {
                entity_type: handler.entity(),
                deleted: false,
                data: row,
                seq: snapshot.cursor,
            };
            events.extend(apply_remote(&mut tx, tables, remote, Lookup::Query).await?);
        } else {
            // A newer change of the row in this bucket already arrived: it stands.
            holds::mark(&mut tx, &hold).await?;
        }
    }
    tx.commit().await?;
    Ok(events)
}

/// `bucket_removed`: the subscription's holds in the bucket go, and the rows nothing else
/// holds. A bucket removed for a changed definition is reloaded: the subscription's
/// checkpoint sweeps what the reload does not hold again. An unsubscribed bucket was
/// dealt with when the app unsubscribed.
pub(crate) async fn removed(
    conn: &mut SqliteConnection,
    tables: &Tables,
    removed: &BucketRemoved,
) -> Result<Vec<Event>> {
    if removed.reason == RemovedReason::Definition {
        return Ok(Vec::new());
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let Some(stored) = holds::get(&mut tx, &removed.subscription)
        .await?
        .filter(Stored::active)
    else {
        return Ok(Vec::new());
    };
    if let Some(buckets) = &stored.buckets {
        let kept: Vec<String> = buckets
            .iter()
            .filter(|bucket| **bucket != removed.bucket)
            .cloned()
            .collect();
        holds::set_buckets(&mut tx, &stored.id, &kept).await?;
    }
    let released = holds::drop_bucket(&mut tx, &removed.subscription, &removed.bucket).await?;
    let events = evict_unheld(&mut tx, tables, released).await?;
    tx.commit().await?;
    Ok(events.into_events())
}

/// A `checkpoint`: the named subscription's cursor (and a reload's sweep), or without a
/// name every caught-up subscription's cursor. The events end with an
/// [`Event::Checkpoint`] naming the subscriptions now at its cursor, when there are any.
pub(crate) async fn checkpoint(
    conn: &mut SqliteConnection,
    tables: &Tables,
    checkpoint: &Checkpoint,
    progress: &BTreeMap<String, Progress>,
) -> Result<Vec<Event>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let Some(id) = &checkpoint.subscription else {
        let ids: Vec<&str> = progress
            .iter()
            .filter(|(_, progress)| progress.caught_up)
            .map(|(id, _)| id.as_str())
            .collect();
        let moved = holds::advance(&mut tx, &ids, checkpoint.cursor).await?;
        tx.commit().await?;
        return Ok(reached(checkpoint.cursor, moved).into_iter().collect());
    };
    let Some(stored) = holds::get(&mut tx, id).await?.filter(Stored::active) else {
        return Ok(Vec::new());
    };
    let progress = progress.get(id).cloned().unwrap_or_default();
    holds::set_cursor(
        &mut tx,
        id,
        checkpoint.cursor,
        progress.definition.as_deref(),
    )
    .await?;
    let mut released = Vec::new();
    if progress.loading {
        released = holds::sweep(&mut tx, id).await?;
        // Rows of the entity that no bucket ever held (synced whole before it was
        // streamed) go too.
        let known = holds::known(&mut tx, &stored.entity).await?;
        for state in tables.list(&mut tx, &stored.entity).await? {
            if !known.contains(&state.entity_id) {
                released.push((state.entity_type.to_owned(), state.entity_id));
            }
        }
    }
    holds::prune(&mut tx, id, checkpoint.cursor).await?;
    let mut events = evict_unheld(&mut tx, tables, released).await?.into_events();
    tx.commit().await?;
    events.extend(reached(checkpoint.cursor, vec![id.clone()]));
    Ok(events)
}

/// The [`Event::Checkpoint`] of subscriptions at `cursor`; none when there are none.
fn reached(cursor: u64, moved: Vec<String>) -> Option<Event> {
    (!moved.is_empty()).then(|| {
        Event::Checkpoint(event::Checkpoint {
            cursor,
            subscriptions: moved.into_iter().map(SubscriptionId::from).collect(),
        })
    })
}

/// Ends a subscription: its holds go now (`ttl_ms` 0) or when the TTL passes. `None` for
/// an unknown subscription.
pub(crate) async fn unsubscribe(
    conn: &mut SqliteConnection,
    tables: &Tables,
    id: &str,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<Option<Vec<Event>>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    if holds::get(&mut tx, id).await?.is_none() {
        return Ok(None);
    }
    let events = if ttl_ms <= 0 {
        let released = holds::delete(&mut tx, id).await?;
        evict_unheld(&mut tx, tables, released).await?.into_events()
    } else {
        holds::set_expiry(&mut tx, id, now_ms.saturating_add(ttl_ms)).await?;
        Vec::new()
    };
    tx.commit().await?;
    Ok(Some(events))
}

/// Sweeps the warm subscriptions whose TTL has passed; returns the events and the next
/// expiry.
pub(crate) async fn expire(
    conn: &mut SqliteConnection,
    tables: &Tables,
    now_ms: i64,
) -> Result<(Vec<Event>, Option<i64>)> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut released = Vec::new();
    for id in holds::expired(&mut tx, now_ms).await? {
        released.extend(holds::delete(&mut tx, &id).await?);
    }
    let events = evict_unheld(&mut tx, tables, released).await?.into_events();
    let next = holds::next_expiry(&mut tx).await?;
    tx.commit().await?;
    Ok((events, next))
}
