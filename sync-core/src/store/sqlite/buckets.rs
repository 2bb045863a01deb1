//! A stream bucket's catch-up: rows by (key, seq) and moves by (stream, key, seq), read in
//! one transaction with the tenant's cursor.

use super::Inner;
use super::bind::{as_i64, quoted};
use super::feed::{PURGED_KEY, SEQ_KEY, read_meta};
use super::tenants::TenantDb;
use crate::entity::stream::StreamSpec;
use crate::error::Result;
use crate::store::ddl::{DELETED, SEQ};
use crate::store::{BucketFeed, MoveRecord, MoveRow};

pub(super) async fn bucket_feed(
    db: &TenantDb,
    inner: &Inner,
    stream: &StreamSpec,
    key: &str,
    cursor: u64,
    limit: usize,
) -> Result<BucketFeed> {
    let Some(handler) = inner.registry().get(stream.entity) else {
        return Ok(BucketFeed::default());
    };
    let mut tx = db.readers.begin().await?;
    let current = read_meta(&mut tx, SEQ_KEY).await?;
    let purged = read_meta(&mut tx, PURGED_KEY).await?;
    if cursor > 0 && cursor < purged {
        return Ok(BucketFeed {
            cursor: current,
            reset: true,
            ..BucketFeed::default()
        });
    }
    let names: Vec<String> = handler
        .columns()
        .iter()
        .map(|column| quoted(column.name))
        .collect();
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX);
    let text = format!(
        "SELECT {}, \"{DELETED}\", \"{SEQ}\" FROM {} WHERE {} = ? AND \"{SEQ}\" > ? \
         ORDER BY \"{SEQ}\" LIMIT ?",
        names.join(", "),
        quoted(handler.table()),
        quoted(stream.by)
    );
    let sql = inner.table_sql(handler);
    let rows = sqlx::query(&text)
        .bind(key)
        .bind(as_i64(cursor))
        .bind(fetch)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| sql.effect(handler, row))
        .collect::<Result<Vec<_>>>()?;
    let moves: Vec<(String, i64)> = sqlx::query_as(
        "SELECT \"entity_id\", \"seq\" FROM \"_sync_moves\" WHERE \"stream\" = ? AND \"old_key\" = ? \
         AND \"seq\" > ? ORDER BY \"seq\" LIMIT ?",
    )
    .bind(stream.name)
    .bind(key)
    .bind(as_i64(cursor))
    .bind(fetch)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(BucketFeed {
        rows,
        moves: moves
            .into_iter()
            .map(|(id, seq)| (id, u64::try_from(seq).unwrap_or_default()))
            .collect(),
        cursor: current,
        reset: false,
    })
}

pub(super) async fn moves_between(
    db: &TenantDb,
    after: u64,
    through: u64,
) -> Result<Vec<MoveRecord>> {
    let mut connection = db.readers.acquire().await?;
    let rows: Vec<MoveRow> = sqlx::query_as(
        "SELECT \"stream\", \"old_key\", \"seq\", \"entity_id\" FROM \"_sync_moves\" \
         WHERE \"seq\" > ? AND \"seq\" <= ? ORDER BY \"seq\"",
    )
    .bind(as_i64(after))
    .bind(as_i64(through))
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(MoveRecord::from).collect())
}
