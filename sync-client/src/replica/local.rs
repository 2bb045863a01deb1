//! Local writes: each row and its outbox entry in one transaction, stamped by the clock.

use serde_json::{Map, Value as Json};
use sqlx::{Connection, SqliteConnection};
use sync_core::Syncable;
use sync_core::change::Operation;
use sync_core::entity::Handler;
use sync_core::store::sqlite::Tables;
use sync_core::version::Version;

use super::{base_of, forget, write_state};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::event::{Changed, Source};
use crate::outbox::{self, Base, NewChange, Queued};

/// Stores `entity` as its new state, stamped with a version newer than the one it
/// replaces, and queues it. The typed path: the row is encoded from the value and its
/// JSON serialised once, for the outbox and the event; returns the entity as stored.
pub(crate) async fn put<T: Syncable>(
    conn: &mut SqliteConnection,
    tables: &Tables,
    clock: &Clock,
    handler: &dyn Handler,
    entity: &T,
    now_ms: i64,
) -> Result<(T, Changed)> {
    let entity_id = entity.id();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let current = tables.get(&mut tx, handler.entity(), &entity_id).await?;
    let version = clock.next(current.as_ref().map(|state| state.version));
    let seq = current.as_ref().map_or(0, |state| state.seq);
    let (stored, effect) = match tables.put(&mut tx, entity, version, seq).await? {
        Ok(written) => written,
        Err(rejection) => return Err(invalid(handler, &entity_id, rejection.to_string())),
    };
    let operation = match &current {
        Some(state) if !state.deleted => Operation::Update,
        _ => Operation::Create,
    };
    let change = NewChange {
        entity_type: handler.entity(),
        entity_id: &entity_id,
        operation,
        payload: &effect.data,
        version,
        base: current.as_ref().map(base_of),
    };
    outbox::enqueue(&mut tx, change, now_ms).await?;
    tx.commit().await?;
    let changed = Changed {
        entity_type: handler.entity(),
        entity_id,
        deleted: false,
        version,
        data: effect.data,
        source: Source::Local,
    };
    Ok((stored, changed))
}

/// Deletes the entity, leaving a tombstone, and queues the delete. Deleting what the
/// replica already holds as deleted does nothing (`None`).
pub(crate) async fn delete(
    conn: &mut SqliteConnection,
    tables: &Tables,
    clock: &Clock,
    handler: &dyn Handler,
    entity_id: &str,
    now_ms: i64,
) -> Result<Option<Changed>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let current = tables.get(&mut tx, handler.entity(), entity_id).await?;
    if current.as_ref().is_some_and(|state| state.deleted) {
        return Ok(None);
    }
    let version = clock.next(current.as_ref().map(|state| state.version));
    let payload = handler.tombstone_json(entity_id, version);
    let change = NewChange {
        entity_type: handler.entity(),
        entity_id,
        operation: Operation::Delete,
        payload: &payload,
        version,
        base: current.as_ref().map(base_of),
    };
    let changed = match outbox::enqueue(&mut tx, change, now_ms).await? {
        Queued::Entry => {
            let seq = current.as_ref().map_or(0, |state| state.seq);
            write_state(
                &mut tx,
                tables,
                handler,
                entity_id,
                true,
                version,
                &payload,
                seq,
                Source::Local,
            )
            .await?
        }
        // A create that was never sent: the replica goes back to what it held before it.
        Queued::Cancelled { base } => restore(&mut tx, tables, handler, entity_id, base).await?,
    };
    tx.commit().await?;
    Ok(changed)
}

/// Puts a row back to `base` (or forgets it when there was none), as the state the
/// server holds when a local change is withdrawn.
pub(crate) async fn restore(
    conn: &mut SqliteConnection,
    tables: &Tables,
    handler: &dyn Handler,
    entity_id: &str,
    base: Option<Base>,
) -> Result<Option<Changed>> {
    match base {
        Some(base) => {
            write_state(
                conn,
                tables,
                handler,
                entity_id,
                base.deleted,
                base.version,
                &base.data,
                base.seq,
                Source::Local,
            )
            .await
        }
        None => {
            let version = tables
                .get(conn, handler.entity(), entity_id)
                .await?
                .map_or(Version::MIN, |state| state.version);
            forget(conn, handler, entity_id).await?;
            Ok(Some(Changed {
                entity_type: handler.entity(),
                entity_id: entity_id.to_owned(),
                deleted: true,
                version,
                data: Json::Object(Map::from_iter([(
                    "id".to_owned(),
                    Json::String(entity_id.to_owned()),
                )])),
                source: Source::Local,
            }))
        }
    }
}

/// Removes every failed entry and puts each of their entities back to the state the
/// server holds, as far as the replica knows it: the newest server state the failed
/// entries recorded (the state before the first failed edit, or one held back or received
/// between them), unless the server has sent a newer one since, or another local edit is
/// queued.
pub(crate) async fn discard_failed(
    conn: &mut SqliteConnection,
    tables: &Tables,
) -> Result<(usize, Vec<Changed>)> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let (count, discarded) = outbox::take_failed(&mut tx).await?;
    let mut events = Vec::new();
    for entity in &discarded {
        let Some(handler) = super::handler(tables, &entity.entity_type) else {
            continue;
        };
        if outbox::has_entries(&mut tx, handler.entity(), &entity.entity_id).await? {
            continue;
        }
        let current = tables
            .get(&mut tx, handler.entity(), &entity.entity_id)
            .await?;
        // A newer server state already replaced the failed edit: keep it.
        let base_seq = entity.base.as_ref().map_or(0, |base| base.seq);
        if current.as_ref().is_some_and(|state| state.seq > base_seq) {
            continue;
        }
        if let Some(changed) = restore(
            &mut tx,
            tables,
            handler,
            &entity.entity_id,
            entity.base.clone(),
        )
        .await?
        {
            events.push(changed);
        }
    }
    // A streamed row that no bucket holds was kept only for its edits.
    let rows = discarded
        .iter()
        .map(|entity| (entity.entity_type.clone(), entity.entity_id.clone()));
    events.extend(
        super::streams::evict_unheld(&mut tx, tables, rows)
            .await?
            .changed,
    );
    tx.commit().await?;
    Ok((count, events))
}

fn invalid(handler: &dyn Handler, entity_id: &str, detail: String) -> Error {
    Error::Invalid {
        entity: handler.entity(),
        id: entity_id.to_owned(),
        detail,
    }
}
