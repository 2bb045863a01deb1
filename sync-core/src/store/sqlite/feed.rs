//! The read side: the change feed, snapshots, single states, and the tombstone purge.
//!
//! Reads that return a cursor run in one read transaction, so the cursor and the rows
//! describe the same moment.

use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, SqliteConnection};

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
const PURGED_KEY: &str = "purged_seq";

pub(super) async fn read_meta(connection: &mut SqliteConnection, key: &str) -> Result<u64> {
    let value: i64 = sqlx::query_scalar("SELECT \"value\" FROM \"_sync_meta\" WHERE \"key\" = ?")
        .bind(key)
        .fetch_one(&mut *connection)
        .await?;
    Ok(u64::try_from(value).unwrap_or_default())
}

pub(super) async fn write_meta(
    connection: &mut SqliteConnection,
    key: &str,
    value: u64,
) -> Result<()> {
    sqlx::query("UPDATE \"_sync_meta\" SET \"value\" = ? WHERE \"key\" = ?")
        .bind(as_i64(value))
        .bind(key)
        .execute(&mut *connection)
        .await?;
    Ok(())
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

pub(super) async fn purge(db: &TenantDb, inner: &Inner, horizon: Version) -> Result<Purge> {
    let mut writer = db.writer.lock().await;
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut horizon_seq = read_meta(&mut tx, PURGED_KEY).await?;
    let horizon_text = horizon.to_string();
    let mut removed = 0;
    for handler in inner.registry().iter() {
        let table = quoted(handler.table());
        let version = quoted(handler.columns()[handler.position(Role::UpdatedAt)].name);
        let condition = format!("\"{DELETED}\" = 1 AND {version} < ?");
        let newest: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MAX(\"{SEQ}\") FROM {table} WHERE {condition}"
        ))
        .bind(&horizon_text)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(newest) = newest.and_then(|seq| u64::try_from(seq).ok()) {
            horizon_seq = horizon_seq.max(newest);
        }
        removed += sqlx::query(&format!("DELETE FROM {table} WHERE {condition}"))
            .bind(&horizon_text)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // Retries older than the horizon are decided by last-write-wins alone from now on.
    sqlx::query("DELETE FROM \"_sync_changes\" WHERE \"processed_at\" < ?")
        .bind(&horizon_text)
        .execute(&mut *tx)
        .await?;
    write_meta(&mut tx, PURGED_KEY, horizon_seq).await?;
    tx.commit().await?;
    Ok(Purge {
        removed,
        horizon_seq,
    })
}
