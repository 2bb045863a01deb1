//! The read side: the change feed, snapshots, single states, and the tombstone purge.
//!
//! Reads that return a cursor run in one `REPEATABLE READ READ ONLY` transaction, so the
//! cursor and the rows describe the same moment.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{Acquire, PgConnection};

use super::Inner;
use super::apply::lock_tenant;
use super::bind::{as_i64, quoted};
use crate::entity::{Handler, Role};
use crate::error::Result;
use crate::store::ddl::{DELETED, SEQ, TENANT};
use crate::store::{ChangePage, Purge, Snapshot, SnapshotSink};
use crate::tenant::TenantId;
use crate::version::Version;

pub(super) const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The tenant's (seq, purged_seq); (0, 0) for a tenant that never wrote.
pub(super) async fn read_meta(connection: &mut PgConnection, tenant: &str) -> Result<(u64, u64)> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT \"seq\", \"purged_seq\" FROM \"_sync_tenants\" WHERE \"tenant\" = $1",
    )
    .bind(tenant)
    .fetch_optional(&mut *connection)
    .await?;
    let (seq, purged) = row.unwrap_or_default();
    Ok((
        u64::try_from(seq).unwrap_or_default(),
        u64::try_from(purged).unwrap_or_default(),
    ))
}

pub(super) async fn changes_since(
    inner: &Inner,
    tenant: &TenantId,
    cursor: u64,
    limit: usize,
) -> Result<ChangePage> {
    let tenant = tenant.as_str();
    let mut connection = inner.pool.acquire().await?;
    let mut tx = connection.begin().await?;
    sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
    let (current, purged) = read_meta(&mut tx, tenant).await?;
    if let Some(reset) = crate::store::page::reset_page(cursor, current, purged) {
        return Ok(reset);
    }

    // Each table's next `limit + 1` rows, merged by sequence number, decoded only if kept.
    let mut rows: Vec<(i64, &dyn Handler, PgRow)> = Vec::new();
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    for handler in inner.registry().iter() {
        let fetched = sqlx::query(&inner.table_sql(handler).feed)
            .bind(tenant)
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

pub(super) async fn snapshot(inner: &Inner, tenant: &TenantId) -> Result<Snapshot> {
    let tenant = tenant.as_str();
    let mut connection = inner.pool.acquire().await?;
    let mut tx = connection.begin().await?;
    sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
    let mut snapshot = Snapshot {
        cursor: read_meta(&mut tx, tenant).await?.0,
        ..Snapshot::default()
    };
    for handler in inner.registry().iter() {
        let rows = live(inner, handler, &mut tx, tenant).await?;
        let collection = rows.into_iter().map(|row| row.data).collect();
        snapshot
            .collections
            .insert(handler.collection(), collection);
    }
    tx.commit().await?;
    Ok(snapshot)
}

/// The rows of [`snapshot`], handed to `sink` as they arrive from the server (a streaming
/// `fetch` in the same `REPEATABLE READ` transaction), so no table is held in memory whole.
pub(super) async fn stream_snapshot<K: SnapshotSink>(
    inner: &Inner,
    tenant: &TenantId,
    sink: &mut K,
) -> Result<()> {
    let tenant = tenant.as_str();
    let mut connection = inner.pool.acquire().await?;
    let mut tx = connection.begin().await?;
    sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
    sink.cursor(read_meta(&mut tx, tenant).await?.0);
    let mut handlers: Vec<&dyn Handler> = inner.registry().iter().collect();
    handlers.sort_unstable_by_key(|handler| handler.collection());
    for handler in handlers {
        sink.collection(handler.collection());
        let sql = inner.table_sql(handler);
        let mut rows = sqlx::query(&sql.live).bind(tenant).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            sink.row(&sql.effect(handler, &row)?.data);
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Every live row of one entity, ordered by id.
pub(super) async fn live(
    inner: &Inner,
    handler: &dyn Handler,
    connection: &mut PgConnection,
    tenant: &str,
) -> Result<Vec<crate::outcome::Effect>> {
    let sql = inner.table_sql(handler);
    let rows = sqlx::query(&sql.live)
        .bind(tenant)
        .fetch_all(&mut *connection)
        .await?;
    rows.iter().map(|row| sql.effect(handler, row)).collect()
}

/// Forgets `tenant`'s tombstones older than `horizon` and its processed change ids that
/// arrived before it, under the tenant's row lock so no write interleaves.
pub(super) async fn purge(inner: &Inner, tenant: &str, horizon: Version) -> Result<Purge> {
    let mut connection = inner.pool.acquire().await?;
    let mut tx = connection.begin().await?;
    lock_tenant(&mut tx, tenant).await?;
    let mut horizon_seq = read_meta(&mut tx, tenant).await?.1;
    let horizon_at: DateTime<Utc> = horizon.to_datetime();
    let mut removed = 0;
    for handler in inner.registry().iter() {
        let table = quoted(handler.table());
        let version = quoted(handler.columns()[handler.position(Role::UpdatedAt)].name);
        let (count, newest): (i64, Option<i64>) = sqlx::query_as(&format!(
            "WITH gone AS (DELETE FROM {table} WHERE \"{TENANT}\" = $1 AND \"{DELETED}\" \
             AND {version} < $2 RETURNING \"{SEQ}\") \
             SELECT COUNT(*), MAX(\"{SEQ}\") FROM gone"
        ))
        .bind(tenant)
        .bind(horizon_at)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(newest) = newest.and_then(|seq| u64::try_from(seq).ok()) {
            horizon_seq = horizon_seq.max(newest);
        }
        removed += u64::try_from(count).unwrap_or_default();
    }
    // Retries older than the horizon are decided by last-write-wins alone from now on.
    sqlx::query("DELETE FROM \"_sync_changes\" WHERE \"tenant\" = $1 AND \"processed_at\" < $2")
        .bind(tenant)
        .bind(horizon_at)
        .execute(&mut *tx)
        .await?;
    // A cursor below the horizon is reset, so the moves before it are never read again.
    sqlx::query("DELETE FROM \"_sync_moves\" WHERE \"tenant\" = $1 AND \"seq\" <= $2")
        .bind(tenant)
        .bind(as_i64(horizon_seq))
        .execute(&mut *tx)
        .await?;
    // From now on a create or update older than the horizon, of an entity with no row, may
    // be one that a purged tombstone would have beaten: the planner refuses it.
    sqlx::query(
        "UPDATE \"_sync_tenants\" SET \"purged_seq\" = $2, \
         \"purged_at\" = CASE WHEN $4 THEN GREATEST(\"purged_at\", $3) ELSE \"purged_at\" END \
         WHERE \"tenant\" = $1",
    )
    .bind(tenant)
    .bind(as_i64(horizon_seq))
    .bind(horizon.as_millis())
    .bind(removed > 0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Purge {
        removed,
        horizon_seq,
    })
}
