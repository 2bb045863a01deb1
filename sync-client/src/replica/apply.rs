//! The apply rules: what the replica does with what the server sends.
//!
//! An incoming state of an entity (from a `changes` page, a `data_update`, or the winner
//! in a `superseded` ACK) is applied unless
//!
//! 1. the entity has a pending or processing outbox entry: the local change is newer, and
//!    the server's answer to it settles the entity. The incoming state is not dropped: it
//!    is remembered as the waiting entries' base (the newest by sequence number), and
//!    once the entity's last pending change is settled the replica takes the newer of it
//!    and the answer's state (see [`settle`](super::settle), "The rule"), or restores it
//!    if the local change fails and is discarded;
//! 2. the row already reflects that change or a later one (its server sequence number is
//!    at least the incoming one); or
//! 3. the incoming version is older than the row's, and the row holds no failed local
//!    edit: the server's versions of an entity only grow, so this is a stale delivery.
//!
//! A change of a *streamed* entity (one with a subscription) from the feed or a
//! `data_update` is not applied: its rows come through its streams only, by the hold
//! rules of [`streams`](super::streams).
//!
//! The cursor is stored in the transaction that applies the rows it covers: a page's
//! cursor with the page, a `data_update`'s when it directly follows the stored cursor, a
//! batch's ACK cursor when the batch's changes are exactly the sequence numbers after it
//! (see [`settle`](super::settle)). A state held back by rule 1 counts as covered because
//! it is recorded as a base in that same transaction: the cursor never passes a change
//! that is neither applied nor remembered.

use serde_json::Value as Json;
use sqlx::{Connection, SqliteConnection};
use sync_core::entity::Handler;
use sync_core::store::sqlite::Tables;

use super::{handler, id_in, meta, set_seq, streams, version_in, write_state};
use crate::error::Result;
use crate::event::{Changed, Source};
use crate::outbox::{self, Base, Presence, PresenceIndex};

/// An entity's state as the server sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote<'a> {
    pub(crate) entity_type: &'a str,
    pub(crate) deleted: bool,
    pub(crate) data: &'a Json,
    pub(crate) seq: u64,
}

/// Where to find the outbox presence of an entity.
pub(crate) enum Lookup<'a> {
    Query,
    Index(&'a PresenceIndex),
}

/// Applies one incoming state by the rules of the module docs.
pub(crate) async fn apply_remote(
    conn: &mut SqliteConnection,
    tables: &Tables,
    remote: Remote<'_>,
    lookup: Lookup<'_>,
) -> Result<Option<Changed>> {
    let Some(handler) = handler(tables, remote.entity_type) else {
        tracing::debug!(
            entity = remote.entity_type,
            "skipped a change of an entity this client does not register"
        );
        return Ok(None);
    };
    let (Some(entity_id), Some(version)) = (id_in(remote.data), version_in(handler, remote.data))
    else {
        tracing::warn!(entity = remote.entity_type, data = %remote.data, "skipped a change without id or updated_at");
        return Ok(None);
    };
    let presence = match lookup {
        Lookup::Query => outbox::presence(conn, handler.entity(), &entity_id).await?,
        Lookup::Index(index) => index.get(handler.entity(), &entity_id),
    };
    let base = Base {
        deleted: remote.deleted,
        version,
        data: remote.data.clone(),
        seq: remote.seq,
    };
    if presence.unsettled {
        outbox::rebase(conn, handler.entity(), &entity_id, &base).await?;
        return Ok(None);
    }
    apply_state(conn, tables, handler, &entity_id, &base, presence).await
}

/// Rules 2 and 3, then the write.
pub(super) async fn apply_state(
    conn: &mut SqliteConnection,
    tables: &Tables,
    handler: &dyn Handler,
    entity_id: &str,
    state: &Base,
    presence: Presence,
) -> Result<Option<Changed>> {
    if let Some(local) = tables.get(conn, handler.entity(), entity_id).await? {
        if state.seq <= local.seq {
            return Ok(None);
        }
        if !presence.failed && state.version < local.version {
            tracing::debug!(
                entity = handler.entity(),
                entity_id,
                "skipped a stale change"
            );
            return Ok(None);
        }
        let same = local.deleted == state.deleted
            && local.version == state.version
            && (local.deleted || local.data == state.data);
        if same {
            set_seq(conn, handler, entity_id, state.seq).await?;
            return Ok(None);
        }
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

/// Applies a `data_update`, and moves the cursor to it when it directly follows.
pub(crate) async fn data_update(
    conn: &mut SqliteConnection,
    tables: &Tables,
    remote: Remote<'_>,
) -> Result<(Option<Changed>, Option<u64>)> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    // A streamed entity's rows come through its streams only.
    let changed = if streams::holds::streamed(&mut tx)
        .await?
        .contains(remote.entity_type)
    {
        None
    } else {
        apply_remote(&mut tx, tables, remote, Lookup::Query).await?
    };
    let cursor = meta::cursor(&mut tx).await?;
    let advanced = if remote.seq == cursor + 1 {
        meta::set_cursor(&mut tx, remote.seq).await?;
        Some(remote.seq)
    } else {
        None
    };
    tx.commit().await?;
    Ok((changed, advanced))
}

/// Applies a page of the change feed and stores its cursor, in one transaction. Returns
/// the events and the stored cursor.
pub(crate) async fn page(
    conn: &mut SqliteConnection,
    tables: &Tables,
    changes: &[Remote<'_>],
    page_cursor: u64,
) -> Result<(Vec<Changed>, u64)> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let ids: Vec<String> = changes
        .iter()
        .filter_map(|remote| id_in(remote.data))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let index = PresenceIndex::load_for(&mut tx, &ids).await?;
    let streamed = streams::holds::streamed(&mut tx).await?;
    let mut events = Vec::new();
    for remote in changes
        .iter()
        .filter(|remote| !streamed.contains(remote.entity_type))
    {
        if let Some(changed) = apply_remote(&mut tx, tables, *remote, Lookup::Index(&index)).await?
        {
            events.push(changed);
        }
    }
    let cursor = meta::cursor(&mut tx).await?.max(page_cursor);
    meta::set_cursor(&mut tx, cursor).await?;
    tx.commit().await?;
    Ok((events, cursor))
}

/// Empties the replica for a full reload, keeping the rows of entities that have outbox
/// entries, and sets the cursor to 0, in one transaction.
pub(crate) async fn reload(conn: &mut SqliteConnection, tables: &Tables) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let index = PresenceIndex::load(&mut tx).await?;
    let mut kept = Vec::new();
    for (entity_type, entity_id) in index.keys() {
        if let Some(state) = tables.get(&mut tx, entity_type, entity_id).await? {
            kept.push((state, 0));
        }
    }
    // A streamed entity's rows are its buckets', which the feed does not carry: they
    // stay, with their sequence numbers.
    for entity in streams::holds::streamed(&mut tx).await? {
        for state in tables.list(&mut tx, &entity).await? {
            if !index.contains(state.entity_type, &state.entity_id) {
                let seq = state.seq;
                kept.push((state, seq));
            }
        }
    }
    tables.clear(&mut tx).await?;
    for (state, seq) in kept {
        if let Some(handler) = handler(tables, state.entity_type) {
            // The feed's old sequence numbers belong to a feed that no longer applies.
            write_state(
                &mut tx,
                tables,
                handler,
                &state.entity_id,
                state.deleted,
                state.version,
                &state.data,
                seq,
                Source::Local,
            )
            .await?;
        }
    }
    outbox::forget_base_seqs(&mut tx).await?;
    meta::set_cursor(&mut tx, 0).await?;
    tx.commit().await?;
    Ok(())
}
