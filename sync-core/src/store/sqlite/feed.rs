//! The read side: the change feed, snapshots, single states, and the tombstone purge.
//!
//! Reads that return a cursor run in one read transaction, so the cursor and the rows
//! describe the same moment.

use std::sync::Arc;

use rusqlite::OptionalExtension;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::Inner;
use super::bind::as_i64;
use super::bind::quoted;
use super::tenants::TenantDb;
use crate::entity::{Handler, Role};
use crate::error::Result;
use crate::store::ddl::{DELETED, SEQ};
use crate::store::{ChangePage, Purge, Snapshot};
use crate::version::Version;

/// The meta key of the tenant's latest sequence number.
pub(super) const SEQ_KEY: &str = "seq";
/// The meta key of the newest purged tombstone's sequence number.
pub(super) const PURGED_KEY: &str = "purged_seq";

pub(super) async fn read_meta(connection: &mut SqliteConnection, key: &str) -> Result<u64> {
    let value: i64 = sqlx::query_scalar("SELECT \"value\" FROM \"_sync_meta\" WHERE \"key\" = ?")
        .bind(key)
        .fetch_one(&mut *connection)
        .await?;
    Ok(u64::try_from(value).unwrap_or_default())
}

pub(super) async fn changes_since(
    db: &TenantDb,
    inner: &Inner,
    cursor: u64,
    limit: usize,
) -> Result<ChangePage> {
    let mut tx = db.readers.begin().await?;
    let current = read_meta(&mut tx, SEQ_KEY).await?;
    let purged = read_meta(&mut tx, PURGED_KEY).await?;
    if let Some(reset) = crate::store::page::reset_page(cursor, current, purged) {
        return Ok(reset);
    }

    // Each table's next `limit + 1` rows, merged by sequence number, decoded only if kept.
    let mut rows: Vec<(i64, &dyn Handler, SqliteRow)> = Vec::new();
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    for handler in inner.registry().iter() {
        let sql = inner.table_sql(handler);
        let fetched = sqlx::query(&sql.feed)
            .bind(as_i64(cursor))
            .bind(fetch)
            .fetch_all(&mut *tx)
            .await?;
        let seq_index = handler.columns().len() + 1;
        for row in fetched {
            let seq: i64 = sqlx::Row::try_get(&row, seq_index)?;
            rows.push((seq, handler, row));
        }
    }
    let page = crate::store::page::merge_page(rows, cursor, limit, |handler, row| {
        inner.table_sql(handler).effect(handler, row)
    })?;
    tx.commit().await?;
    Ok(page)
}

pub(super) async fn snapshot(db: &TenantDb, inner: &Inner) -> Result<Snapshot> {
    let mut tx = db.readers.begin().await?;
    let mut snapshot = Snapshot {
        cursor: read_meta(&mut tx, SEQ_KEY).await?,
        ..Snapshot::default()
    };
    for handler in inner.registry().iter() {
        let rows = inner.table_sql(handler).live(handler, &mut tx).await?;
        let collection = rows.into_iter().map(|row| row.data).collect();
        snapshot
            .collections
            .insert(handler.collection(), collection);
    }
    tx.commit().await?;
    Ok(snapshot)
}

/// Forgets the tombstones older than `horizon` and the change ids processed before it, on
/// the write connection, so no batch interleaves.
pub(super) async fn purge(db: &TenantDb, inner: &Arc<Inner>, horizon: Version) -> Result<Purge> {
    let inner = inner.clone();
    db.writer
        .run(move |connection| purge_now(connection, &inner, horizon))
        .await
}

fn purge_now(
    connection: &mut rusqlite::Connection,
    inner: &Inner,
    horizon: Version,
) -> Result<Purge> {
    let tx = super::writer::begin(connection)?;
    let mut horizon_seq = super::apply::read_meta(&tx, PURGED_KEY)?;
    let horizon_text = horizon.to_string();
    let mut removed = 0;
    for handler in inner.registry().iter() {
        let table = quoted(handler.table());
        let version = quoted(handler.columns()[handler.position(Role::UpdatedAt)].name);
        let condition = format!("\"{DELETED}\" = 1 AND {version} < ?");
        let newest: Option<i64> = tx.query_row(
            &format!("SELECT MAX(\"{SEQ}\") FROM {table} WHERE {condition}"),
            [&horizon_text],
            |row| row.get(0),
        )?;
        if let Some(newest) = newest.and_then(|seq| u64::try_from(seq).ok()) {
            horizon_seq = horizon_seq.max(newest);
        }
        let deleted = tx.execute(
            &format!("DELETE FROM {table} WHERE {condition}"),
            [&horizon_text],
        )?;
        removed += u64::try_from(deleted).unwrap_or_default();
    }
    // Retries older than the horizon are decided by last-write-wins alone from now on.
    let kept = first_kept_change(&tx, &horizon_text)?;
    tx.execute("DELETE FROM \"_sync_changes\" WHERE rowid < ?", [kept])?;
    // A cursor below the horizon is reset, so the moves before it are never read again.
    tx.execute(
        "DELETE FROM \"_sync_moves\" WHERE \"seq\" <= ?",
        [as_i64(horizon_seq)],
    )?;
    super::apply::write_meta(&tx, PURGED_KEY, horizon_seq)?;
    // From now on a create or update older than the horizon, of an entity with no row, may
    // be one that a purged tombstone would have beaten: the planner refuses it.
    if removed > 0 {
        super::apply::raise_horizon(&tx, horizon)?;
    }
    tx.commit()?;
    Ok(Purge {
        removed,
        horizon_seq,
    })
}

/// The rowid of the first processed change id recorded at or after `horizon` (one past the
/// last rowid if none was): every earlier row is older. A record takes the next rowid when
/// it is written, so `processed_at` grows with the rowid and a bisection over rowids finds
/// the cut-off in about 2 × log2(rows) look-ups, without an index on `processed_at`. (A wall
/// clock stepped back can only make a few records expire a little late.)
fn first_kept_change(connection: &rusqlite::Connection, horizon: &str) -> Result<i64> {
    let (first, last): (Option<i64>, Option<i64>) = connection.query_row(
        "SELECT MIN(rowid), MAX(rowid) FROM \"_sync_changes\"",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (Some(mut low), Some(last)) = (first, last) else {
        return Ok(0);
    };
    // Every row below `low` is older than the horizon; every row from `high` on is not.
    let mut high = last.saturating_add(1);
    let mut next_row = connection.prepare(
        "SELECT rowid, \"processed_at\" < ? FROM \"_sync_changes\" WHERE rowid >= ? \
         ORDER BY rowid LIMIT 1",
    )?;
    while low < high {
        let middle = low + (high - low) / 2;
        let found: Option<(i64, bool)> = next_row
            .query_row(rusqlite::params![horizon, middle], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        match found {
            Some((rowid, true)) if rowid < high => low = rowid + 1,
            // A newer row, or none before `high`: no older row from `middle` on.
            _ => high = middle,
        }
    }
    Ok(low)
}
