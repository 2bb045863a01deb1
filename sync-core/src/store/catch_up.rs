//! A stream bucket's catch-up, from the store: what a client that held a bucket up to a
//! cursor must apply to hold it as it is now, or the bucket's rows whole. The session
//! answers `subscribe` with these; they are public so that a test (or a server's own
//! tooling) can check them against a model.
//!
//! [`bucket_changes`] reads the rows whose partition column is the key and the moves out of
//! the bucket, both after the cursor, each by an index scan on (key, seq), and keeps per
//! row only its latest event: a `put` with its state, a `leave` (moved to another key, or
//! the filter refuses it now) or a `tombstone`. Applied to the bucket as it was at the
//! cursor, they give the bucket as it is, as long as the cursor is at or after the purge
//! horizon; an older cursor gets `reset`.

use std::collections::{BTreeMap, HashMap};

use crate::entity::Handler;
use crate::entity::stream::StreamSpec;
use crate::outcome::Effect;
use crate::protocol::{BucketOp, StreamChange};
use crate::store::Store;
use crate::tenant::TenantId;

/// The rows read per bucket and round.
const ROUND: usize = 1_000;

/// What [`bucket_changes`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketChanges {
    /// Per row, its latest event after the cursor, in sequence order.
    pub changes: Vec<StreamChange>,
    /// The tenant cursor the reads reflect (the lowest of their rounds).
    pub cursor: u64,
    /// The cursor is older than the purge horizon: reload the bucket whole instead.
    pub reset: bool,
}

/// A stream found by name, with its entity's handler.
struct Stream<'a> {
    spec: StreamSpec,
    index: usize,
    handler: &'a dyn Handler,
}

impl<'a> Stream<'a> {
    fn find<S: Store>(store: &'a S, name: &str) -> crate::Result<Stream<'a>> {
        let (handler, index) = store.registry().stream(name).ok_or_else(|| {
            crate::Error::Unsupported(format!("no stream named {name:?} is declared"))
        })?;
        Ok(Stream {
            spec: handler.streams()[index].clone(),
            index,
            handler,
        })
    }
}

/// One bucket's changes after `cursor`: per row, its latest event (put, leave or
/// tombstone); with the cursor the reads reflect and whether the cursor was purged past.
pub async fn bucket_changes<S: Store>(
    store: &S,
    tenant: &TenantId,
    stream: &str,
    key: &str,
    cursor: u64,
) -> crate::Result<BucketChanges> {
    let plan = &Stream::find(store, stream)?;
    let handler = plan.handler;
    let mut latest: HashMap<String, StreamChange> = HashMap::new();
    // Rows and moves advance from their own positions; each read takes both from one
    // position, in one read transaction whose cursor bounds what it saw.
    let (mut rows_after, mut moves_after) = (Some(cursor), Some(cursor));
    let mut read_at = u64::MAX;
    while let Some(after) = match (rows_after, moves_after) {
        (Some(rows), Some(moves)) => Some(rows.min(moves)),
        (rows, moves) => rows.or(moves),
    } {
        let feed = store
            .bucket_feed(tenant, &plan.spec, key, after, ROUND)
            .await?;
        if feed.reset {
            return Ok(BucketChanges {
                changes: Vec::new(),
                cursor: feed.cursor,
                reset: true,
            });
        }
        read_at = read_at.min(feed.cursor);
        if rows_after == Some(after) {
            rows_after =
                (feed.rows.len() == ROUND).then(|| feed.rows.last().map_or(after, |row| row.seq));
            for effect in &feed.rows {
                keep_latest(&mut latest, row_change(plan, handler, key, effect));
            }
        }
        if moves_after == Some(after) {
            moves_after = (feed.moves.len() == ROUND)
                .then(|| feed.moves.last().map_or(after, |(_, seq)| *seq));
            for (entity_id, seq) in &feed.moves {
                keep_latest(
                    &mut latest,
                    StreamChange {
                        op: BucketOp::Leave,
                        stream: plan.spec.name.to_owned(),
                        bucket: key.to_owned(),
                        entity_type: plan.spec.entity.to_owned(),
                        entity_id: entity_id.clone(),
                        seq: *seq,
                        data: None,
                    },
                );
            }
        }
    }
    let mut changes: Vec<StreamChange> = latest.into_values().collect();
    changes.sort_by_key(|change| change.seq);
    Ok(BucketChanges {
        changes,
        cursor: read_at,
        reset: false,
    })
}

/// A row read by its key column as a bucket change: a tombstone, a put, or a leave when the
/// stream's filter refuses it now.
fn row_change(
    plan: &Stream<'_>,
    handler: &dyn Handler,
    key: &str,
    effect: &Effect,
) -> StreamChange {
    let op = if effect.deleted {
        BucketOp::Tombstone
    } else if handler.bucket(plan.index, &effect.data).as_deref() == Some(key) {
        BucketOp::Put
    } else {
        BucketOp::Leave
    };
    StreamChange {
        op,
        stream: plan.spec.name.to_owned(),
        bucket: key.to_owned(),
        entity_type: plan.spec.entity.to_owned(),
        entity_id: effect.entity_id.clone(),
        seq: effect.seq,
        data: (op == BucketOp::Put).then(|| effect.data.clone()),
    }
}

/// Keeps, per row, the change with the highest sequence number; at equal numbers the row's
/// own state (read from its table) wins over the move.
fn keep_latest(latest: &mut HashMap<String, StreamChange>, change: StreamChange) {
    match latest.get(&change.entity_id) {
        Some(kept)
            if kept.seq > change.seq
                || (kept.seq == change.seq && change.op == BucketOp::Leave) => {}
        _ => {
            latest.insert(change.entity_id.clone(), change);
        }
    }
}

/// Every live row of one bucket of `stream`, ordered by id, with the cursor the first read
/// reflects.
pub async fn bucket_rows<S: Store>(
    store: &S,
    tenant: &TenantId,
    stream: &str,
    key: &str,
) -> crate::Result<(Vec<serde_json::Value>, u64)> {
    let plan = &Stream::find(store, stream)?;
    let handler = plan.handler;
    let mut rows: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut after = 0;
    let mut read_at = u64::MAX;
    loop {
        let feed = store
            .bucket_feed(tenant, &plan.spec, key, after, ROUND)
            .await?;
        read_at = read_at.min(feed.cursor);
        let done = feed.rows.len() < ROUND;
        for effect in feed.rows {
            after = after.max(effect.seq);
            if !effect.deleted && handler.bucket(plan.index, &effect.data).as_deref() == Some(key) {
                rows.insert(effect.entity_id, effect.data);
            } else {
                rows.remove(&effect.entity_id);
            }
        }
        if done {
            return Ok((rows.into_values().collect(), read_at));
        }
    }
}
